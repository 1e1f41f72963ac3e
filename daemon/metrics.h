/*
 * metrics.h — the daemon's counters, from one table each.
 *
 * A snapshot adds every worker's engine counters (engine.h ENGINE_STATS)
 * and the daemon's own (RGD_STATS below).  From it come the status reply
 * (flat fields for scripts, and the same counters grouped with units for
 * people) and the Prometheus text format, which `relayguard status -o
 * prometheus` prints and which the daemon writes to `metrics-file` (for
 * node_exporter's textfile collector: no network listener in a root
 * daemon), to a temporary file renamed over it.
 *
 * Main thread only.
 */
#ifndef RG_METRICS_H
#define RG_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "engine.h"

struct rgd;

/* The daemon's own counters: X(field, name, kind, group, unit, help). */
#define RGD_STATS(X) \
	X(packets, "packets", RG_STAT_COUNTER, RG_STAT_QUEUE, "packets", \
	    "Packets received from the kernel's queue (capture: captured)") \
	X(queue_receives, "queue_receives", RG_STAT_COUNTER, RG_STAT_QUEUE, \
	    "receives", "Receives from the kernel's queue: each takes every packet waiting, up to 16") \
	X(enobufs, "enobufs", RG_STAT_COUNTER, RG_STAT_QUEUE, "messages", \
	    "Queue messages the kernel dropped (ENOBUFS): those packets passed uninspected") \
	X(queue_errors, "queue_errors", RG_STAT_COUNTER, RG_STAT_QUEUE, \
	    "errors", "Errors receiving from or answering the queue (capture: reading)") \
	X(capture_drops, "capture_drops", RG_STAT_COUNTER, RG_STAT_QUEUE, \
	    "packets", "Captured packets the kernel dropped (ring full): never inspected") \
	X(resets_sent, "resets", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, \
	    "sessions", "Sessions reset (RSTs sent to both ends)") \
	X(reset_errors, "reset_errors", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, \
	    "errors", "Resets that could not be sent") \
	X(blocks_added, "blocks", RG_STAT_COUNTER, RG_STAT_BLOCKS, "blocks", \
	    "Blocks added (automatic, manual, imported)") \
	X(block_errors, "block_errors", RG_STAT_COUNTER, RG_STAT_BLOCKS, \
	    "errors", "Blocks that could not be added") \
	X(events_written, "events_written", RG_STAT_COUNTER, RG_STAT_EVENTS, \
	    "events", "Events appended to the event-log file") \
	X(event_write_errors, "event_write_errors", RG_STAT_COUNTER, \
	    RG_STAT_EVENTS, "events", \
	    "Events that could not be written whole to the event-log file") \
	X(metrics_write_errors, "metrics_write_errors", RG_STAT_COUNTER, \
	    RG_STAT_EVENTS, "writes", "Failed writes of the metrics-file")

struct rgd_counters {
#define RGD_STATS_FIELD(f, n, k, g, u, h) uint64_t f;
	RGD_STATS(RGD_STATS_FIELD)
#undef RGD_STATS_FIELD
};

struct metrics_snapshot {
	struct engine_stats	 engine;
	struct rgd_counters	 own;
	time_t			 started, now;
};

void	 metrics_snapshot(struct rgd *, struct metrics_snapshot *);
/* Add the counters to o: flat ("relay_attempts": 3, ...) and as
 * "groups": [{"group":"traffic","counters":[{"name","value","unit",
 * "kind"}...]}...], plus "uptime" in seconds. */
void	 metrics_json(const struct metrics_snapshot *, json_t *o);
/* The Prometheus text exposition (version 0.0.4), NUL-terminated, in a
 * malloc'd buffer; NULL when out of memory. */
char	*metrics_prometheus(struct rgd *, const struct metrics_snapshot *);
/* Rewrite metrics-file if it is set and due (every metrics-interval);
 * force: now.  Failures are counted and logged once a minute. */
void	 metrics_tick(struct rgd *, int force);

#endif
