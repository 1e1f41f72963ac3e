/*
 * crowdsec.h — relayguardd and CrowdSec's Local API (LAPI).
 *
 * Push (relayguard is a CrowdSec "machine"): every automatic or manual
 * block becomes an alert with its ban decision, every unblock deletes the
 * decisions of that address.  They wait in the store's outbox and go out
 * from the crowdsec thread, oldest first, retried with backoff: a LAPI
 * that is down or slow never delays a verdict or a block.
 *
 * Pull (relayguard is a CrowdSec "bouncer"): the thread reads
 * /v1/decisions/stream (startup=true, then deltas every
 * crowdsec-pull-interval); the main thread puts the `ban` decisions for
 * scope Ip and Range into the blocked sets with their remaining time and
 * source crowdsec:ORIGIN, and lifts the deleted ones.
 *
 * crowdsec_parse.c holds the pure part (the stream and Go durations), for
 * the unit tests and the fuzz target.
 */
#ifndef RG_CROWDSEC_H
#define RG_CROWDSEC_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CROWDSEC_VALUE_MAX	(INET6_ADDRSTRLEN + 4)	/* addr[/len] + NUL */
/*
 * Limits of one stream reply, checked by a scan of the raw bytes before
 * jansson builds its tree, so that what a LAPI (or whatever answers at
 * its address) sends costs at most about what a legitimate reply of
 * CROWDSEC_MAX_DECISIONS decisions costs (about 1.5 KB each):
 *  - at most CROWDSEC_MAX_DECISIONS entries in "new" and "deleted"
 *    together (a decision is about 145 bytes of JSON: 100,000 are
 *    14.5 MB; bench/crowdsec pulls 100,000);
 *  - at most CROWDSEC_ENTRY_ITEMS keys and values inside one entry (a
 *    CrowdSec 1.4 decision has 7 members: 15 with its own value);
 *  - at most CROWDSEC_ROOT_ITEMS keys and values in the reply's object;
 *  - nesting at most CROWDSEC_MAX_DEPTH containers deep (the reply's
 *    object, a list, a decision, one more for a future member);
 *  - at most CROWDSEC_BODY_MAX bytes, CROWDSEC_DECISION_JSON_MAX per
 *    decision (the body cap in crowdsec.c, applied while reading).
 */
#define CROWDSEC_MAX_DECISIONS	500000	/* per stream reply, both lists */
#define CROWDSEC_ENTRY_ITEMS	32
#define CROWDSEC_ROOT_ITEMS	16
#define CROWDSEC_MAX_DEPTH	4
#define CROWDSEC_DECISION_JSON_MAX	512
#define CROWDSEC_BODY_MAX	((size_t)CROWDSEC_MAX_DECISIONS * \
	CROWDSEC_DECISION_JSON_MAX)	/* 256,000,000 bytes */

enum crowdsec_scope { CROWDSEC_SCOPE_OTHER, CROWDSEC_SCOPE_IP,
	CROWDSEC_SCOPE_RANGE };

/* One decision of the stream, as far as relayguard needs it. */
struct crowdsec_decision {
	char value[CROWDSEC_VALUE_MAX];
	char origin[CONFIG_CROWDSEC_ORIGIN_MAX];
	enum crowdsec_scope scope;	/* exactly "Ip" / "Range" */
	bool ban;			/* type "ban" */
	int64_t ms;			/* time left; <= 0: expired */
};

/* One reply of /v1/decisions/stream. */
struct crowdsec_stream {
	struct crowdsec_decision *add, *del;	/* "new", "deleted" */
	size_t nadd, ndel;
	size_t skipped;		/* entries that were not well-formed */
	bool startup;		/* the reply to startup=true */
};

/*
 * A Go duration ("3h59m59.26954063s", "-37.417113ms", "4h", "0") in
 * milliseconds, truncated toward zero.  Units h m s ms us µs ns; false on
 * anything else, or beyond Go's own range (about 292 years).
 */
bool crowdsec_duration(const char *s, size_t len, int64_t *ms);

/*
 * Parse a stream reply (len bytes, need not be NUL-terminated) into st
 * (zeroed by the caller; free with crowdsec_stream_free).  Entries that
 * are not objects with string fields of sane length are skipped and
 * counted; null lists are empty.  false and err on a reply that is not
 * the stream's object, has a member other than "new" and "deleted", or
 * is beyond the limits above (refused by crowdsec_scan_stream before it
 * is parsed).
 */
bool crowdsec_parse_stream(const char *buf, size_t len,
    struct crowdsec_stream *st, char *err, size_t errlen);
void crowdsec_stream_free(struct crowdsec_stream *st);

/* Format seconds as a Go duration ("3h59m58s"). */
void crowdsec_go_duration(uint64_t secs, char *buf, size_t len);

struct rgd;
struct store_block;

/* -t and start-up: the credential files exist, are mode 0600 (no group
 * or other bits) and hold what they must.  0, or -1 and err naming the
 * file. */
int crowdsec_check_files(const struct config *c, char *err, size_t errlen);
/* Start the thread when crowdsec-url is set (before the sandbox). */
int crowdsec_start(struct rgd *d, char *err, size_t errlen);
/* Stop the thread (an exchange in progress is cut short). */
void crowdsec_stop(struct rgd *d);
/* Main thread, every second: results of pushes, pulled decisions
 * applied, the next pushes handed over. */
void crowdsec_tick(struct rgd *d);
/* Main thread: a block (auto or manual) to push; an unblock to push.
 * crowdsec_start() makes them d->on_block and d->on_unblock, which
 * blocks.c calls. */
void crowdsec_pushed_block(struct rgd *d, const struct store_block *sb,
    uint64_t secs);
void crowdsec_pushed_unblock(struct rgd *d, const char *addr, int prefix);
/* status: add "crowdsec": {url, push, pull, pushed, outbox,
 * push_failures, applied, lifted} to o when crowdsec-url is set. */
struct json_t;
void crowdsec_status_json(struct rgd *d, struct json_t *o);
/* Is pushing on (url, machine file, crowdsec-push yes)? */
bool crowdsec_pushing(const struct rgd *d);

#endif
