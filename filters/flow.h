/*
 * flow.h — the connection table: both directions of a TCP connection map
 * to one flow, keyed by (client, client port, server, server port) where
 * the server is the side the SYN went to (the engine decides; a lookup
 * tries both ways round).  The table is bounded:
 * at most max_flows entries.  Creating one more evicts the least recently
 * active "cheap" flow (half-open, closed or reset) and only when there is
 * none the least recently active live session, so a SYN flood cannot push
 * out sessions.  Idle flows expire by packet time.
 */
#ifndef FLOW_H
#define FLOW_H

#include "rg.h"
#include "smtp.h"
#include "stream.h"
#include "tcp.h"

/*
 * Idle timeouts, in packet time.  A session must be remembered at least as
 * long as any server waits for its client's next command, or the client
 * comes back to a pickup that can never be blocked: Postfix and Exim wait
 * 5 minutes (RFC 5321 4.5.3.2.7's minimum), Sendmail an hour by default
 * (Timeout.command).  An hour and ten minutes covers them.  The table is
 * bounded by max-flows whatever the timeouts; a full table evicts half-open,
 * closed and reset flows first (flow.c).
 */
#define FLOW_TIMEOUT_SYN	(30 * RG_USEC_PER_SEC)
#define FLOW_TIMEOUT_ACTIVE	(4200 * RG_USEC_PER_SEC)
#define FLOW_TIMEOUT_CLOSED	(30 * RG_USEC_PER_SEC)

struct flow {
	/* What a lookup reads, in the first cache line. */
	struct flow *hnext;		/* hash chain */
	uint32_t hash;
	uint16_t client_port, server_port;
	struct rg_addr client, server;
	struct flow *prev, *next;	/* LRU list: oldest first */
	struct flow *tprev, *tnext;	/* timeout list: oldest first */
	uint64_t seq;			/* the caller's order (engine: index of
					 * the packet that last touched it) */
	struct tcp_conn tcp;		/* handshake, windows, state */
	bool smtp_seen;			/* counted as an SMTP session */
	bool banner_seen;		/* the server greeted this client */
	bool killed;			/* reset by enforcement: drop the rest */
	bool blocked;			/* replay: opened by a blocked client
					 * (engine_set_simulate), or cut by
					 * its block: drop the rest */
	bool mail_passed;		/* a message was accepted */
	bool offloaded;			/* inline: handed to the kernel (offload
					 * yes), the rest passes uninspected;
					 * cheap, FLOW_TIMEOUT_CLOSED */
	bool held_reported;		/* the client bytes held now were
					 * reported (engine_held) */
	bool in_list;
	uint8_t tclass;			/* timeout list it is on (flow.c) */
	bool indev_known[2];		/* indev[d] learned */
	uint32_t indev[2];		/* where direction d comes in */
	uint8_t anomaly_events;		/* anomaly events emitted (capped) */
	uint8_t resets_left;		/* passive: resets still to repeat
					 * (engine_set_passive) */
	/* Inline: client bytes from hold_from on are dropped while an
	 * unfinished line may still be a RCPT (engine_hold()). */
	bool holding;
	uint32_t hold_from;
	rg_time_t first, last;
	struct stream dir[2];		/* 0: client->server, 1: server->client */
	struct smtp_session smtp;
	struct rg_buf helo;		/* last HELO/EHLO argument */
	struct rg_buf mail_from;	/* current MAIL FROM path */
	/* RCPT arguments let through only because a 235 authenticated the
	 * session, one a line, so that they can be judged again if that 235
	 * turns out forged (a conflicting copy of the server's bytes). */
	struct rg_buf auth_rcpts;
	uint32_t auth_rcpts_lost;	/* such RCPTs that did not fit */
};

struct flow_table;

struct flow_table *flow_table_new(uint32_t max_flows, uint64_t seed);
/* Free every flow (releasing its buffers from m) and the table. */
void flow_table_free(struct flow_table *t, struct rg_mem *m);

/* A new hash key; only while the table is empty (false otherwise). */
bool flow_table_reseed(struct flow_table *t, uint64_t seed);

/* The flow between a:ap and b:bp either way round, or NULL; *dir is 0
 * when a is its client.  One probe: the hash does not depend on the
 * order. */
struct flow *flow_find(struct flow_table *t, const struct rg_addr *a,
    uint16_t ap, const struct rg_addr *b, uint16_t bp, int *dir);
/* Find the flow for this key, or NULL. */
struct flow *flow_lookup(struct flow_table *t, const struct rg_addr *client,
    uint16_t cport, const struct rg_addr *server, uint16_t sport);

/*
 * Create a flow (the key must not exist).  If the table is full the least
 * recently active flow is evicted first and returned through *evicted for
 * the caller to finish (flush, report) and then pass to flow_destroy();
 * *evicted is NULL otherwise.  Never fails for lack of room; returns NULL
 * only if malloc fails.
 */
struct flow *flow_create(struct flow_table *t, const struct rg_addr *client,
    uint16_t cport, const struct rg_addr *server, uint16_t sport,
    rg_time_t now, struct flow **evicted);

/* Mark activity: the flow becomes the most recent. */
void flow_touch(struct flow_table *t, struct flow *f, rg_time_t now);

/*
 * After a packet of f (its state may have changed): file f on the timeout
 * list of its state, as the most recent.  Expiry is then exact: a flow
 * expires when its own timeout has passed, whatever other flows do (so
 * replay's workers, each with a share of the flows, expire them when one
 * table would).
 */
void flow_settle(struct flow_table *t, struct flow *f);

/* A flow whose idle timeout has passed at now (of those, the one with the
 * lowest seq), unlinked from the table, or NULL.  The caller finishes it
 * and calls flow_destroy(). */
struct flow *flow_expired(struct flow_table *t, rg_time_t now);

/* The oldest flow, unlinked, or NULL (used to drain the table at the end):
 * sessions first, then cheap flows.  *live (may be NULL) says which. */
struct flow *flow_pop_which(struct flow_table *t, bool *live);
#define flow_pop(t) flow_pop_which((t), NULL)

/* The least recently active flow (live sessions first) among the first
 * scan of each list that holds reclaimable bytes (early segments, held
 * SMTP input), unlinked; NULL if none: memory shedding takes these and
 * leaves idle sessions alone. */
struct flow *flow_pop_holding(struct flow_table *t, unsigned scan);

/* Unlink (if still linked) and free a flow, releasing its buffers. */
void flow_destroy(struct flow_table *t, struct flow *f, struct rg_mem *m);

uint32_t flow_count(const struct flow_table *t);

#endif
