/*
 * rgd.h — the daemon's state, shared by its files (relayguardd.c: start-up
 * and the loop; blocks.c: blocks in the store and the kernel; control.c:
 * the control socket).  Single-threaded: every queue, the control socket,
 * signals and the timer are served by one poll loop, so nothing here needs
 * locking.
 */
#ifndef RG_RGD_H
#define RG_RGD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "engine.h"

#define RGD_MAX_QUEUES 64
#define RGD_EVIDENCE_RING 256	/* recent relay attempts kept for blocks */
#define RGD_EVIDENCE_LINE 600
#define RGD_TODO_MAX 256	/* enforcement actions per receive batch */

struct nft_ctx;
struct store;
struct reset;
struct queue;

struct rgd_evidence {
	struct rg_addr client;
	char line[RGD_EVIDENCE_LINE];
};

struct rgd {
	const char *conf_path;
	bool conf_given;
	bool foreground;
	struct config conf;		/* in force */
	struct engine *engine;
	struct nft_ctx *nft;
	struct store *store;
	struct reset *reset;
	struct queue *queues[RGD_MAX_QUEUES];
	unsigned nqueues;
	int sigfd, timerfd, ctlfd;
	time_t started;
	const char *mechanism;		/* "native" / "compat" */
	/* counters beyond the engine's */
	uint64_t resets_sent, reset_errors;
	uint64_t blocks_added, block_errors;
	uint64_t verdicts;
	struct engine_result todo[RGD_TODO_MAX];	/* resets, blocks */
	unsigned ntodo;
	struct rgd_evidence evidence[RGD_EVIDENCE_RING];
	unsigned evidence_next;
};

/* blocks.c */
/* Put addr/prefix into the store and the kernel set for dur seconds.  src
 * is "auto" or "manual".  Returns 0, or -1 with a message in err. */
int blocks_add(struct rgd *d, const char *prefix, uint64_t dur_secs,
    const char *reason, const char *src, uint32_t offences,
    const char *evidence, char *err, size_t errlen);
int blocks_del(struct rgd *d, const char *prefix, char *err, size_t errlen);
/* An operator's block: refused inside relay-networks unless force. */
int blocks_manual(struct rgd *d, const char *prefix, uint64_t dur_secs,
    const char *reason, bool force, char *err, size_t errlen);
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
/* Remove expired blocks from the store (the kernel expires its own). */
void blocks_expire(struct rgd *d);

/* control.c */
int control_open(struct rgd *d, char *err, size_t errlen);
void control_close(struct rgd *d);
/* The listening socket is readable: serve one client (bounded). */
void control_serve(struct rgd *d);
/* The reply to one request line (without its newline). */
struct json_t *control_handle(struct rgd *d, const char *buf, size_t len);

/* relayguardd.c */
/* The evidence lines kept for client, newline-separated, into buf. */
void rgd_evidence_for(struct rgd *d, const struct rg_addr *client,
    char *buf, size_t len);

#endif
