/*
 * report.h — `relayguard replay --report FILE.html`: one self-contained
 * HTML page (inline CSS and SVG, no script, nothing fetched) of what the
 * policy did on a capture, built from the events replay produces and the
 * engine's counters.
 */
#ifndef REPORT_H
#define REPORT_H

#include <stdbool.h>

#include "config.h"
#include "engine.h"

struct report;

/* What the page says besides the events. */
struct report_info {
	const struct engine_stats *stats;
	const struct config *conf;
	const char *config_path;	/* NULL: built-in defaults */
	const char *summary;		/* the lines replay printed, or NULL */
	char *const *captures;		/* the files replayed, in order */
	int ncaptures;
	bool simulated;			/* mode enforce carried out */
	bool read_error;		/* a capture was not read to its end */
};

struct report *report_new(void);
void report_free(struct report *r);	/* NULL is fine */
/* A packet's time: the charts span the whole capture. */
void report_time(struct report *r, rg_time_t t);
void report_event(struct report *r, const struct event *ev);
/*
 * Write the page to path (through path.tmp and a rename, so a failure
 * leaves no half page).  false with a message in err.
 */
bool report_write(struct report *r, const char *path,
    const struct report_info *info, char *err, size_t errlen);

#endif
