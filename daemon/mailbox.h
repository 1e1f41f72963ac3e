/*
 * mailbox.h — what the workers send the main thread: block requests and
 * evidence lines.  It is the only way up from a worker: worker.c calls
 * nothing in relayguardd.c or control.c, it posts here, and the main thread
 * takes the requests when mailbox_fd() turns readable.  Data flows one way,
 * packet in, verdict out, requests up.
 *
 * Bounded, and never in a packet worker's way: at most `cap` block
 * requests wait; a request that finds the mailbox full is dropped and
 * counted (mailbox_dropped()), never waited for.  Posting holds the
 * mailbox's mutex for one fixed-size copy and the main thread holds it for
 * no longer per entry, so a worker never waits on I/O, the store or
 * nftables.  The wake-up is a write to a non-blocking eventfd.
 *
 * The evidence is a ring of the last MAILBOX_EVIDENCE relay attempts (any
 * client), read by the main thread when it blocks a client; a line longer
 * than MAILBOX_EVIDENCE_LINE is cut (the event log has it whole).
 *
 * A worker posts a block request before it writes the events of the same
 * packets (a log write may wait on the disk or on journald, the kernel set
 * must not), so each request has a ticket: the worker calls
 * mailbox_evidence_done() with it once that batch's events (and their
 * evidence) are out, and the main thread, having put the block into the
 * kernel set, waits for it (bounded) before it reads the evidence for the
 * stored record.
 *
 * Threads: mailbox_post_* from any worker; mailbox_take_blocks,
 * mailbox_evidence_for and mailbox_dropped from the main thread (all
 * thread-safe); mailbox_new and mailbox_free while no worker runs.
 */
#ifndef RG_MAILBOX_H
#define RG_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rg.h"

#define MAILBOX_BLOCKS		1024	/* block requests that may wait */
#define MAILBOX_EVIDENCE	256	/* recent relay attempts kept */
#define MAILBOX_EVIDENCE_LINE	600

struct mailbox;

/* One request: block client for dur (the worker's estimate). */
struct mailbox_block {
	struct rg_addr	 client;
	rg_time_t	 dur;
	uint64_t	 ticket;	/* for mailbox_evidence_wait() */
};

/* A mailbox for cap (1..65536) block requests; NULL and err on failure. */
struct mailbox	*mailbox_new(unsigned cap, char *err, size_t errlen);
/* Free it and close its descriptor; NULL is accepted. */
void		 mailbox_free(struct mailbox *);
/* Readable (POLLIN) while block requests wait. */
int		 mailbox_fd(const struct mailbox *);

/* Workers: ask for client to be blocked; its ticket (never 0), or 0 (and
 * counted) when full. */
uint64_t	 mailbox_post_block(struct mailbox *,
		    const struct rg_addr *client, rg_time_t dur);
/* Workers: the evidence of the request with this ticket is posted. */
void		 mailbox_evidence_done(struct mailbox *, uint64_t ticket);
/* Workers: keep an event line as evidence against client. */
void		 mailbox_post_evidence(struct mailbox *,
		    const struct rg_addr *client, const char *line);

/*
 * Main thread: take up to max waiting requests, oldest first, into v; how
 * many.  Call it until it returns 0: the descriptor is reset by the first
 * call and set again only by a post into an empty mailbox.
 */
size_t		 mailbox_take_blocks(struct mailbox *,
		    struct mailbox_block *v, size_t max);
/* Main thread: the CLOCK_MONOTONIC time ms milliseconds from now, for
 * mailbox_evidence_wait(); one deadline bounds the waits of a burst. */
void		 mailbox_deadline(unsigned ms, struct timespec *until);
/* Main thread: wait until the request's evidence is posted, at most until
 * the deadline; false when it passed.  (A ticket whose slot a request
 * `cap` tickets later has marked done counts as done.) */
bool		 mailbox_evidence_wait(struct mailbox *, uint64_t ticket,
		    const struct timespec *until);
/* The evidence lines kept for client, oldest first, newline-separated
 * into buf (as many whole lines as fit; "" if none). */
void		 mailbox_evidence_for(struct mailbox *,
		    const struct rg_addr *client, char *buf, size_t len);
/* Block requests dropped because the mailbox was full, since it opened. */
uint64_t	 mailbox_dropped(struct mailbox *);

#endif /* RG_MAILBOX_H */
