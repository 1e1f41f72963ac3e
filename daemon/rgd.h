/*
 * rgd.h — the daemon's state, shared by its files (relayguardd.c: start-up
 * and the main loop; worker.c: one thread per queue; blocks.c: blocks in
 * the store and the kernel; control.c: the control socket).
 *
 * Threads: the main thread owns the configuration, nftables, the store and
 * the control socket; workers own their queue and engine.  Workers send
 * the main thread block requests and evidence through the mailbox
 * (mailbox.h) and call nothing of the main thread's; the configuration
 * changes only while every worker's lock is held.
 *
 * Calls go one way: relayguardd.c -> control.c -> setup.c -> worker.c ->
 * mailbox.c, and relayguardd.c takes what the mailbox holds.
 */
#ifndef RG_RGD_H
#define RG_RGD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "engine.h"
#include "eventlog.h"
#include "nft.h"
#include "offtable.h"
#include "store.h"

#define RGD_MAX_QUEUES 64
#define RGD_TODO_MAX 256	/* enforcement actions per receive batch */

struct mailbox;
struct nft_ctx;
struct store;

/* Milliseconds on CLOCK_MONOTONIC (a date change leaves it alone), for
 * measuring and for schedules. */
static inline int64_t
rgd_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
struct store_block;
struct crowdsec;
struct reset;
struct worker;
struct worker_stats;

struct rgd {
	const char *conf_path;
	bool conf_given;
	bool foreground;
	struct config conf;		/* in force (see the lock rule) */
	struct nft_ctx *nft;
	struct store *store;
	struct reset *reset;		/* raw sockets: shared, sendto is safe */
	struct eventlog events;		/* swapped under every worker lock */
	struct worker *workers[RGD_MAX_QUEUES];
	unsigned nworkers;
	/* the workers' one offence table (filters/offtable.h): attempts
	 * and blocks in force per client, whichever queue saw them; its
	 * stripes have their own locks, no worker lock needed */
	struct offtable *offences;
	struct crowdsec *crowdsec;	/* crowdsec.c; NULL: no crowdsec-url */
	/* Told of every block this daemon makes or lifts (crowdsec.c's
	 * push sets them at start; NULL: nobody listens).  blocks.c calls
	 * through them, so it never calls up into a module that itself
	 * applies blocks. */
	void (*on_block)(struct rgd *, const struct store_block *,
	    uint64_t secs);
	void (*on_unblock)(struct rgd *, const char *addr, int prefix);
	int sigfd, timerfd, ctlfd;
	struct mailbox *mail;		/* from the workers (mailbox.h) */
	time_t started;
	const char *mechanism;		/* "native" / "compat" */
	uint64_t blocks_added, block_errors;	/* main thread only */
	/* metrics-file (metrics.c), main thread only */
	time_t metrics_last, metrics_err_logged;
	uint64_t metrics_errors;
};

/* blocks.c */
/* Put addr/prefix into the store and the kernel set for dur seconds.  src
 * is "auto" or "manual".  An "auto" block is an offence: it is recorded in
 * the offence history and lasts block-for doubled per offence of the key
 * within offence-memory (dur_secs, the worker's estimate, is not used).
 * Returns 0, or -1 with a message in err (also when the prefix overlaps
 * never-block). */
int blocks_add(struct rgd *d, const char *prefix, uint64_t dur_secs,
    const char *reason, const char *src, const char *evidence, char *err,
    size_t errlen);
/* blocks_add() in two steps, for blocks whose evidence is still being
 * written: the kernel set (after the store's offence history is read),
 * then the store's records, the hooks and on_block.  bn carries the block
 * from one to the other; blocks_add_record() only after a 0 from
 * blocks_add_kernel(). */
struct blocks_new {
	struct nft_block nb;
	struct store_block sb;
	uint64_t dur_secs;
	char prefix[INET6_ADDRSTRLEN + 8];
};
int blocks_add_kernel(struct rgd *d, struct blocks_new *bn,
    const char *prefix, uint64_t dur_secs, const char *reason,
    const char *src, char *err, size_t errlen);
int blocks_add_record(struct rgd *d, struct blocks_new *bn,
    const char *evidence, char *err, size_t errlen);
/* Lift a block (store and kernel); the offence history stays. */
int blocks_del(struct rgd *d, const char *prefix, char *err, size_t errlen);
/* An operator's block: refused inside relay-networks unless force, and
 * always when it overlaps never-block.  dur_secs 0 is block-for.  check:
 * only say whether it would be taken, change nothing (import). */
int blocks_manual(struct rgd *d, const char *prefix, uint64_t dur_secs,
    const char *reason, bool force, bool check, char *err, size_t errlen);
/* {"ok":true,"blocks":[...]} or NULL and err. */
struct json_t *blocks_list_json(struct rgd *d, char *err, size_t errlen);
/* {"ok":true,"block":{... "evidence": ...}} or NULL and err. */
struct json_t *blocks_why_json(struct rgd *d, const char *addr, char *err,
    size_t errlen);
/* Re-install the remaining time of every stored block (start-up). */
int blocks_restore(struct rgd *d, char *err, size_t errlen);
/* Put stored blocks missing from the kernel sets back (a wider block that
 * covered them ended, or someone flushed the set). */
void blocks_sync(struct rgd *d);
/* Remove every block that overlaps never-block from the store and the
 * kernel sets, logging each (start-up and reload). */
void blocks_lift_never_block(struct rgd *d);
/* Remove expired blocks from the store (the kernel expires its own). */
void blocks_expire(struct rgd *d);
/* One pulled decision, small (a store_block carries 8 KiB of evidence,
 * too much times 100,000). */
struct blocks_pulled {
	char addr[46];		/* canonical, host bits zero */
	int prefix;
	int64_t expires;	/* unix seconds */
	char origin[32];	/* CrowdSec origin (STORE_ORIGIN_MAX + 1) */
};
/* CrowdSec decisions: into the kernel sets in transactions of thousands
 * of elements and the store in one transaction, with source
 * crowdsec:ORIGIN; never-block is honoured; no hooks, no push.  How many
 * were put in. */
size_t blocks_put_many(struct rgd *d, const struct blocks_pulled *v,
    size_t n);
/* Lift stored blocks (deleted CrowdSec decisions) from the store and the
 * kernel sets; no hooks, no push.  How many were lifted. */
size_t blocks_lift_many(struct rgd *d, const struct blocks_pulled *v,
    size_t n);

/* offences.c */
/* Seconds of an automatic block that is the key's offences-th offence:
 * block-for doubled per earlier offence, capped at block-for-max. */
uint64_t offences_duration(const struct config *c, int offences);
/* The oldest time an offence still counts at `now` (0: all count). */
int64_t offences_since(const struct config *c, int64_t now);
/* Delete offences older than offence-memory from the store (logged). */
void offences_prune(struct rgd *d, int64_t now);
/* forget: clear the history of every key inside addr (an address or
 * prefix) and the workers' counts; {"ok":true,"message":...} or NULL. */
struct json_t *offences_forget_json(struct rgd *d, const char *addr,
    char *err, size_t errlen);
/* Add the offence history of keys inside addr to reply ("offences":
 * [{"addr","at","counted"}], "offences_counted", "offence_memory",
 * "next_block_for"); how many offences, or -1 and err. */
int offences_history_json(struct rgd *d, const char *addr,
    struct json_t *reply, char *err, size_t errlen);

/* dnsbl.c */
/* The set of active blocks changed: rewrite the DNSBL zone (dnsbl-zone) at
 * the next dnsbl_flush(). */
void dnsbl_changed(struct rgd *d);
/* Timer: write the zone if it changed (at most once a second); a failure
 * is logged and retried at the next call. */
void dnsbl_flush(struct rgd *d);

/* control.c */
int control_open(struct rgd *d, char *err, size_t errlen);
void control_close(struct rgd *d);
/* The listening socket is readable: serve one client (bounded). */
void control_serve(struct rgd *d);
/* The reply to one request line (without its newline). */
struct json_t *control_handle(struct rgd *d, const char *buf, size_t len);

/* setup.c: putting a configuration in force */
/* Set up nftables for c with the queues given: false and err. */
bool setup_nft(struct rgd *d, const struct config *c, uint16_t queue_first,
    uint16_t queue_last, char *err, size_t errlen);
/* Reopen the event file (after a rotation): 0, or -1 and err; the old
 * file stays in use on failure. */
int setup_reopen(struct rgd *d, char *err, size_t errlen);
/* Reload the configuration file: 0 and what was done in msg, or -1 and
 * why not in msg (file:line: ...); the running configuration stays then.
 * Logged either way. */
int setup_reload(struct rgd *d, char *msg, size_t msglen);
/* config_warnings()'s callback: each warning into the log. */
void setup_warning(const char *msg, void *arg);

#endif
