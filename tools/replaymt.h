/*
 * replaymt.h — replay on several threads (replaymt.c), for replay.c.
 */
#ifndef REPLAYMT_H
#define REPLAYMT_H

#include <stdbool.h>

#include "capture.h"
#include "config.h"
#include "engine.h"

struct replay_mt_args {
	const struct config *conf;
	struct capture **files;	/* pread captures, in order, unread;
				 * the workers read copies (capture_dup) */
	int nfiles;
	unsigned nthreads;
	bool simulate;		/* engine_set_simulate() */
	/* Called on the main thread, in one engine's order: before each
	 * record (its place: packets before it are over) and per event. */
	void (*progress)(void *ctx, const struct event_order *o);
	void (*event)(void *ctx, const struct event *ev);
	void *ctx;
};

/*
 * Run the captures; *st gets the engines' counters added up, with the
 * buffer peak of one engine.  *caps_reached: a worker evicted a flow,
 * shed memory or could not remember a block, so one engine's answer may
 * differ.  0, or 1 after a read error (reported) or a failure.
 */
int replay_threads(const struct replay_mt_args *a, struct engine_stats *st,
    bool *caps_reached);

#endif
