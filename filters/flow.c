/*
 * flow.c — the connection table: a chained hash table keyed by a seeded
 * hash (so that an attacker cannot aim every flow at one bucket without
 * knowing the seed), with intrusive LRU lists for eviction and expiry.
 * Flows are allocated once per connection, never per packet.
 *
 * Two LRU lists: "cheap" flows — half-open (no completed handshake, no
 * SMTP yet), closed, or already reset — and live sessions.  A full table
 * evicts the oldest cheap flow first and a live session only when there is
 * no cheap one, so a SYN flood (each SYN a new half-open flow) or a flood
 * of short connections (closed as soon as they end) churns through its own
 * flows and leaves idle sessions alone: their authentication, MAIL FROM
 * and reset state survive.  A flood of completed, open connections still
 * pushes out the least recently active sessions, as it must.
 */
#include <stdlib.h>
#include <string.h>

#include "flow.h"

struct flow_lru {
	struct flow *oldest, *newest;
};

/* Timeout lists, one per idle timeout (flow_tclass()): each is in the
 * order its flows were last settled, so each is ordered by expiry. */
enum { FLOW_T_SYN, FLOW_T_CLOSED, FLOW_T_ACTIVE, FLOW_T_LISTS };

struct flow_table {
	struct flow **buckets;
	uint32_t mask;
	uint32_t count, max;
	uint64_t seed;
	struct flow_lru live;		/* sessions: LRU, oldest first */
	struct flow_lru cheap;		/* half-open, closed, reset: first to go */
	struct flow_lru tl[FLOW_T_LISTS];	/* by idle timeout */
	struct flow *spare;		/* free flows for the next ones */
	struct rg_regions slabs;	/* where every flow lives */
};

/*
 * Flows are carved out of regions (rg_region_carve(): huge pages, one
 * allocation per ~3,000 flows) and never handed back before
 * flow_table_free(): a connection that ends leaves its flow to the next
 * one.  A calloc per connection was a tenth of a replay's time, in a heap
 * fragmented by the streams' buffers, and each page of it a fault.  What
 * is held is the peak of flows in use, which max-flows bounds.
 */

/*
 * Cheap to lose: nothing but a handshake that may never complete, or a
 * connection that is over (closed, or reset by us: its late packets are
 * dropped anyway, and a pickup of them is judged afresh).
 */
static bool
flow_is_cheap(const struct flow *f)
{
	return f->killed || f->offloaded || f->tcp.state == TCP_CLOSED ||
	    (!f->tcp.handshake_done && !f->smtp_seen && !f->tcp.midstream);
}

static inline uint64_t
flow_mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

/* One end of a connection, keyed. */
static uint64_t
flow_end_hash(const struct flow_table *t, const struct rg_addr *a,
    uint16_t port)
{
	uint64_t h = t->seed, w[2];

	memcpy(w, a->bytes, 16);
	h = flow_mix(h, w[0]);
	h = flow_mix(h, w[1]);
	return flow_mix(h, ((uint64_t)port << 8) | a->family);
}

/* The same whichever end is the client: one probe finds a packet's flow
 * in either direction. */
static uint32_t
flow_hash(const struct flow_table *t, const struct rg_addr *c, uint16_t cp,
    const struct rg_addr *s, uint16_t sp)
{
	uint64_t a = flow_end_hash(t, c, cp), b = flow_end_hash(t, s, sp), h;

	h = flow_mix(a < b ? a : b, a < b ? b : a);
	h ^= h >> 32;
	return (uint32_t)h;
}

struct flow_table *
flow_table_new(uint32_t max_flows, uint64_t seed)
{
	struct flow_table *t;
	uint32_t n = 1024;

	if (max_flows == 0)
		max_flows = 1;
	/* About one bucket per flow, a power of two, capped at 2^24. */
	while (n < max_flows && n < (1u << 24))
		n <<= 1;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->buckets = calloc(n, sizeof(*t->buckets))) == NULL) {
		free(t);
		return NULL;
	}
	t->mask = n - 1;
	t->max = max_flows;
	(void)flow_table_reseed(t, seed);
	return t;
}

bool
flow_table_reseed(struct flow_table *t, uint64_t seed)
{
	if (t->count != 0)
		return false;
	t->seed = seed ^ 0x243f6a8885a308d3ULL;
	return true;
}

/* Which list holds f: the ends say it when f is at one; otherwise its
 * neighbours carry the links and the list pointers are not touched. */
static void
flow_lru_unlink(struct flow_table *t, struct flow *f)
{
	struct flow_lru *l;

	if (f->prev != NULL)
		f->prev->next = f->next;
	else {
		l = t->cheap.oldest == f ? &t->cheap : &t->live;
		l->oldest = f->next;
	}
	if (f->next != NULL)
		f->next->prev = f->prev;
	else {
		l = t->cheap.newest == f ? &t->cheap : &t->live;
		l->newest = f->prev;
	}
	f->prev = f->next = NULL;
}

static void
flow_lru_append(struct flow_lru *l, struct flow *f)
{
	f->prev = l->newest;
	f->next = NULL;
	if (l->newest != NULL)
		l->newest->next = f;
	else
		l->oldest = f;
	l->newest = f;
}

/* The flow to evict from a full table: the oldest cheap one, else the
 * least recently active session.  A flow listed as cheap whose handshake
 * completed after its last packet was filed moves to the sessions first
 * (each such move is paid for by that earlier touch). */
static struct flow *
flow_victim(struct flow_table *t)
{
	struct flow *f;

	while ((f = t->cheap.oldest) != NULL && !flow_is_cheap(f)) {
		flow_lru_unlink(t, f);
		flow_lru_append(&t->live, f);
	}
	return f != NULL ? f : t->live.oldest;
}

static uint8_t
flow_tclass(const struct flow *f)
{
	/* A reset session is remembered as long as a live one, so that its
	 * late packets keep being dropped instead of starting a new pickup. */
	if (f->killed)
		return FLOW_T_ACTIVE;
	/* Handed to the kernel: only packets queued before its mark took
	 * effect still come, within moments. */
	if (f->offloaded)
		return FLOW_T_CLOSED;
	switch (f->tcp.state) {
	case TCP_SYN:
		return FLOW_T_SYN;
	case TCP_CLOSED:
		return FLOW_T_CLOSED;
	default:
		return FLOW_T_ACTIVE;
	}
}

static const rg_time_t flow_tclass_timeout[FLOW_T_LISTS] = {
	FLOW_TIMEOUT_SYN, FLOW_TIMEOUT_CLOSED, FLOW_TIMEOUT_ACTIVE
};

static void
flow_tl_unlink(struct flow_table *t, struct flow *f)
{
	struct flow_lru *l = &t->tl[f->tclass];

	if (f->tprev != NULL)
		f->tprev->tnext = f->tnext;
	else
		l->oldest = f->tnext;
	if (f->tnext != NULL)
		f->tnext->tprev = f->tprev;
	else
		l->newest = f->tprev;
	f->tprev = f->tnext = NULL;
}

static void
flow_tl_append(struct flow_table *t, struct flow *f)
{
	struct flow_lru *l = &t->tl[f->tclass];

	f->tprev = l->newest;
	f->tnext = NULL;
	if (l->newest != NULL)
		l->newest->tnext = f;
	else
		l->oldest = f;
	l->newest = f;
}

void
flow_settle(struct flow_table *t, struct flow *f)
{
	uint8_t c = flow_tclass(f);

	if (!f->in_list || (c == f->tclass && t->tl[c].newest == f))
		return;
	flow_tl_unlink(t, f);
	f->tclass = c;
	flow_tl_append(t, f);
}

static void
flow_unlink(struct flow_table *t, struct flow *f)
{
	struct flow **pp;

	if (!f->in_list)
		return;
	for (pp = &t->buckets[f->hash & t->mask]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == f) {
			*pp = f->hnext;
			break;
		}
	}
	f->hnext = NULL;
	flow_lru_unlink(t, f);
	flow_tl_unlink(t, f);
	f->in_list = false;
	t->count--;
}

struct flow *
flow_find(struct flow_table *t, const struct rg_addr *a, uint16_t ap,
    const struct rg_addr *b, uint16_t bp, int *dir)
{
	uint32_t h = flow_hash(t, a, ap, b, bp);
	struct flow *f;

	for (f = t->buckets[h & t->mask]; f != NULL; f = f->hnext) {
		if (f->hash != h)
			continue;
		if (f->client_port == ap && f->server_port == bp &&
		    rg_addr_eq(&f->client, a) && rg_addr_eq(&f->server, b)) {
			*dir = 0;
			return f;
		}
		if (f->client_port == bp && f->server_port == ap &&
		    rg_addr_eq(&f->client, b) && rg_addr_eq(&f->server, a)) {
			*dir = 1;
			return f;
		}
	}
	return NULL;
}

struct flow *
flow_lookup(struct flow_table *t, const struct rg_addr *client, uint16_t cport,
    const struct rg_addr *server, uint16_t sport)
{
	struct flow *f;
	int dir;

	f = flow_find(t, client, cport, server, sport, &dir);
	return f != NULL && dir == 0 ? f : NULL;
}

/* A free flow: a freed one, else a new one carved where the last was
 * (one at a time: carving a region's worth at once would touch all its
 * memory for flows that may never be needed); NULL when out of memory. */
static struct flow *
flow_alloc(struct flow_table *t)
{
	struct flow *f;

	if ((f = t->spare) != NULL) {
		t->spare = f->hnext;
		return f;
	}
	return rg_region_carve(&t->slabs, sizeof(*f));
}

struct flow *
flow_create(struct flow_table *t, const struct rg_addr *client, uint16_t cport,
    const struct rg_addr *server, uint16_t sport, rg_time_t now,
    struct flow **evicted)
{
	struct flow *f;
	uint32_t h;

	*evicted = NULL;
	if (t->count >= t->max && (*evicted = flow_victim(t)) != NULL)
		flow_unlink(t, *evicted);
	if ((f = flow_alloc(t)) == NULL)
		return NULL;
	memset(f, 0, sizeof(*f));
	h = flow_hash(t, client, cport, server, sport);
	f->hash = h;
	f->client = *client;
	f->server = *server;
	f->client_port = cport;
	f->server_port = sport;
	f->first = f->last = now;
	tcp_init(&f->tcp, false);
	stream_init(&f->dir[0]);
	stream_init(&f->dir[1]);
	f->hnext = t->buckets[h & t->mask];
	t->buckets[h & t->mask] = f;
	flow_lru_append(&t->cheap, f);	/* nothing but a SYN yet */
	f->tclass = flow_tclass(f);
	flow_tl_append(t, f);
	f->in_list = true;
	t->count++;
	return f;
}

void
flow_touch(struct flow_table *t, struct flow *f, rg_time_t now)
{
	struct flow_lru *l;

	/* Packet times from merged captures can step back; never go back. */
	if (now > f->last)
		f->last = now;
	/* Filed by what the flow was before this packet: a handshake that
	 * completes now moves at the next packet, or when a victim is
	 * sought (flow_victim). */
	if (f->in_list) {
		l = flow_is_cheap(f) ? &t->cheap : &t->live;
		if (l->newest == f)
			return;
		flow_lru_unlink(t, f);
		flow_lru_append(l, f);
	}
}

struct flow *
flow_expired(struct flow_table *t, rg_time_t now)
{
	struct flow *f, *best = NULL;
	unsigned i;

	/*
	 * Each list is ordered by last activity and holds one timeout, so
	 * its expired flows come first: the heads are all there is to check.
	 * Of the expired heads, the least recently settled goes first (seq),
	 * an order that does not depend on which other flows share the
	 * table.
	 */
	for (i = 0; i < FLOW_T_LISTS; i++) {
		f = t->tl[i].oldest;
		if (f == NULL || now < f->last ||
		    now - f->last <= flow_tclass_timeout[i])
			continue;
		if (best == NULL || f->seq < best->seq)
			best = f;
	}
	if (best != NULL)
		flow_unlink(t, best);
	return best;
}

/* Sessions first, oldest first, then the cheap flows: memory shedding
 * wants the flows that hold buffers (cheap ones hold none), and at the
 * end of a capture only sessions have anything left to report. */
struct flow *
flow_pop_which(struct flow_table *t, bool *live)
{
	struct flow *f = t->live.oldest != NULL ? t->live.oldest :
	    t->cheap.oldest;

	if (live != NULL)
		*live = t->live.oldest != NULL;
	if (f != NULL)
		flow_unlink(t, f);
	return f;
}

/* Bytes a flow holds that memory shedding can win back: early segments
 * and held or partial SMTP input (rings are small and go with ACKs). */
static size_t
flow_holding(const struct flow *f)
{
	return (size_t)f->dir[0].ooo_bytes + f->dir[1].ooo_bytes +
	    smtp_buffered(&f->smtp);
}

struct flow *
flow_pop_holding(struct flow_table *t, unsigned scan)
{
	struct flow *f;
	unsigned n = 0;

	for (f = t->live.oldest; f != NULL && n < scan; f = f->next, n++)
		if (flow_holding(f) > 0)
			goto found;
	for (f = t->cheap.oldest; f != NULL && n < scan; f = f->next, n++)
		if (flow_holding(f) > 0)
			goto found;
	return NULL;
found:
	flow_unlink(t, f);
	return f;
}

void
flow_destroy(struct flow_table *t, struct flow *f, struct rg_mem *m)
{
	if (f == NULL)
		return;
	flow_unlink(t, f);
	stream_free(&f->dir[0], m);
	stream_free(&f->dir[1], m);
	smtp_free(&f->smtp, m);
	rg_buf_free(&f->helo, m);
	rg_buf_free(&f->mail_from, m);
	rg_buf_free(&f->auth_rcpts, m);
	f->hnext = t->spare;
	t->spare = f;
}

void
flow_table_free(struct flow_table *t, struct rg_mem *m)
{
	struct flow *f;

	if (t == NULL)
		return;
	while ((f = flow_pop(t)) != NULL)
		flow_destroy(t, f, m);
	rg_regions_free(&t->slabs);
	free(t->buckets);
	free(t);
}

uint32_t
flow_count(const struct flow_table *t)
{
	return t->count;
}
