/*
 * worker.h — one thread per NFQUEUE queue ("queue 0-3": four workers),
 * each with its own engine, so flows never cross threads (the kernel's
 * queue-balance hash is symmetric: both directions of a connection reach
 * the same queue).  A worker answers its packets, logs events, sends the
 * resets itself and hands block requests to the main thread, which owns
 * nftables and the store.
 *
 * Locking: a worker holds its own lock while it handles a batch; the main
 * thread takes it to read statistics, to advance the clock and to switch
 * configurations, so the engine is never used by two threads at once.
 */
#ifndef RG_WORKER_H
#define RG_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

struct rgd;
struct worker;
struct queue_stats;

struct worker_stats {
	struct engine_stats engine;
	uint64_t packets, enobufs, queue_errors;
	uint64_t queue_receives;	/* queue: receive calls (packets/call) */
	uint64_t capture_drops;		/* capture: the kernel's ring was full */
	uint64_t resets_sent, reset_errors;
};

/* Bind queue num and build an engine on d->conf; NULL and err on failure.
 * In capture mode (d->conf.ncapture > 0) num is the worker's index
 * instead: open its capture handles (live.h), after worker num-1's and
 * before d->nworkers counts it. */
struct worker *worker_new(struct rgd *d, uint16_t num, char *err,
    size_t errlen);
/* Start the thread; returns once it runs its loop (a seccomp filter
 * installed next must not meet the calls of thread start-up). */
int worker_start(struct worker *w, char *err, size_t errlen);
/* Ask the thread to stop (it leaves within QUEUE_WAIT_MS); worker_free()
 * then joins it.  Asking every worker first makes a stop of many quick. */
void worker_stop(struct worker *w);
/* Stop and join the thread, unbind the queue, free everything. */
void worker_free(struct worker *w);

/* Statistics, taken under the worker's lock. */
void worker_stats(struct worker *w, struct worker_stats *s);
/* The n workers' statistics added up (each under its lock). */
void worker_stats_all(struct worker *const *workers, unsigned n,
    struct worker_stats *s);
/* Advance the clock (idle expiry) and log what that reports. */
void worker_tick(struct worker *w);
/* Point the engine at a new configuration (the caller frees the old one
 * afterwards: no worker uses it once this returns). */
void worker_lock(struct worker *w);
void worker_unlock(struct worker *w);
struct engine *worker_engine(struct worker *w);	/* under the lock */
uint16_t worker_queue(const struct worker *w);	/* its queue number
							 * (capture: index) */
/* Does its queue's verdict set the ct mark itself (queue.h)? */
bool worker_ct_verdicts(const struct worker *w);

/* The wall clock as packet time (usec since the epoch). */
rg_time_t worker_now(void);

#endif
