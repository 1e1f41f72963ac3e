/*
 * deal.c — which replay worker a packet goes to (deal.h).
 */
#include <stdlib.h>
#include <string.h>

#include "deal.h"
#include "decode.h"
#include "tcp.h"

/*
 * Connections with protected servers on both ends: an open-addressing
 * table (linear probing) that starts at DEAL_PAIRS_MIN slots and doubles
 * while it is half full, up to DEAL_PAIRS_MAX slots (DEAL_PAIRS_MAX / 2
 * connections, 40 bytes a slot: 20 MB).  A connection is never forgotten (one
 * forgotten early would send its later packets elsewhere).  Past the
 * largest table, a connection that is not in it goes by its unordered
 * address and port pair: both directions together, on a worker of its
 * own rather than its client's.
 */
#define DEAL_PAIRS_MIN	4096
#ifndef DEAL_PAIRS_MAX			/* tests/unit/test_deal.c sets it */
#define DEAL_PAIRS_MAX	(1u << 19)
#endif

/* A connection between two protected servers: which end is the client. */
struct deal_pair {
	struct rg_addr client, server;
	uint16_t cport, sport;
	bool used;
};

struct deal {
	const struct config *conf;
	unsigned n;
	uint8_t port_map[65536 / 8];
	struct deal_pair *pairs;
	size_t npairs, used;		/* slots, slots used */
};

struct deal *
deal_new(const struct config *conf, unsigned nworkers)
{
	struct deal *d;
	uint32_t i;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->conf = conf;
	d->n = nworkers == 0 ? 1 : nworkers;
	d->npairs = DEAL_PAIRS_MIN;
	if ((d->pairs = calloc(d->npairs, sizeof(*d->pairs))) == NULL) {
		free(d);
		return NULL;
	}
	for (i = 0; i < conf->nports; i++)
		d->port_map[conf->ports[i] >> 3] |=
		    (uint8_t)(1u << (conf->ports[i] & 7));
	return d;
}

void
deal_free(struct deal *d)
{
	if (d == NULL)
		return;
	free(d->pairs);
	free(d);
}

static bool
deal_server(const struct deal *d, const struct rg_addr *a, uint16_t port)
{
	return ((d->port_map[port >> 3] >> (port & 7)) & 1) &&
	    config_server(d->conf, a);
}

static uint64_t
deal_mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 31);
}

/* A worker from a hash's high half: a multiply, not a division (one
 * of these per packet, on every worker). */
static unsigned
deal_pick(const struct deal *d, uint64_t h)
{
	return (unsigned)(((h >> 32) * d->n) >> 32);
}

/* The hash of one end. */
static uint64_t
deal_end_hash(const struct rg_addr *a, uint16_t port)
{
	uint64_t w[2], h = (uint64_t)a->family << 16 | port;

	memcpy(w, a->bytes, sizeof(w));
	h = deal_mix(h, w[0]);
	return deal_mix(h, w[1]);
}

/* A client's worker. */
static unsigned
deal_worker(const struct deal *d, const struct rg_addr *client)
{
	return deal_pick(d, deal_end_hash(client, 0));
}

/* The hash of the connection between a and b, whichever way round (a
 * sum of the two ends' hashes: an XOR of the addresses made every pair
 * of like addresses collide). */
static uint64_t
deal_pair_hash(const struct rg_addr *a, uint16_t ap, const struct rg_addr *b,
    uint16_t bp)
{
	return deal_mix(0, deal_end_hash(a, ap) + deal_end_hash(b, bp));
}

static bool
deal_pair_is(const struct deal_pair *s, const struct rg_addr *c,
    uint16_t cp, const struct rg_addr *sv, uint16_t sp)
{
	return s->used && s->cport == cp && s->sport == sp &&
	    rg_addr_eq(&s->client, c) && rg_addr_eq(&s->server, sv);
}

/* The slot of the connection a:ap - b:bp (either end the client), or the
 * empty slot where it would go. */
static struct deal_pair *
deal_find(struct deal_pair *t, size_t size, const struct rg_addr *a,
    uint16_t ap, const struct rg_addr *b, uint16_t bp)
{
	size_t i = (size_t)deal_pair_hash(a, ap, b, bp) & (size_t)(size - 1);

	for (;; i = (i + 1) & (size - 1)) {	/* never full: at most half */
		if (!t[i].used || deal_pair_is(&t[i], a, ap, b, bp) ||
		    deal_pair_is(&t[i], b, bp, a, ap))
			return &t[i];
	}
}

/* Double the table; false when it is at its largest or out of memory. */
static bool
deal_grow(struct deal *d)
{
	struct deal_pair *t, *s;
	size_t i, size = d->npairs * 2;

	if (size > DEAL_PAIRS_MAX || (t = calloc(size, sizeof(*t))) == NULL)
		return false;
	for (i = 0; i < d->npairs; i++) {
		s = &d->pairs[i];
		if (s->used)
			*deal_find(t, size, &s->client, s->cport, &s->server,
			    s->sport) = *s;
	}
	free(d->pairs);
	d->pairs = t;
	d->npairs = size;
	return true;
}

/* Remember (or turn round) the connection c:cp -> sv:sp; false when the
 * table cannot take another. */
static bool
deal_remember(struct deal *d, const struct rg_addr *c, uint16_t cp,
    const struct rg_addr *sv, uint16_t sp)
{
	struct deal_pair *s = deal_find(d->pairs, d->npairs, c, cp, sv, sp);

	if (!s->used) {
		if ((d->used + 1) * 2 > d->npairs) {
			if (!deal_grow(d))
				return false;
			s = deal_find(d->pairs, d->npairs, c, cp, sv, sp);
		}
		d->used++;
	}
	s->client = *c;
	s->server = *sv;
	s->cport = cp;
	s->sport = sp;
	s->used = true;
	return true;
}

/* Both ends are protected servers: the worker of the client as the
 * engine takes it, or of the unordered pair when the table is full. */
static unsigned
deal_both(struct deal *d, const struct decode_packet *p)
{
	const struct rg_addr *client = &p->src;
	enum tcp_opener opener = tcp_opener(p);
	struct deal_pair *s;
	bool known = true;

	switch (opener) {
	case TCP_OPENER_SYN:
		known = deal_remember(d, &p->src, p->sport, &p->dst, p->dport);
		break;
	case TCP_OPENER_SYNACK:
		known = deal_remember(d, &p->dst, p->dport, &p->src, p->sport);
		client = &p->dst;
		break;
	default:
		s = deal_find(d->pairs, d->npairs, &p->src, p->sport, &p->dst,
		    p->dport);
		if (s->used) {
			client = rg_addr_eq(&s->client, &p->src) &&
			    s->cport == p->sport ? &p->src : &p->dst;
			break;
		}
		/* A pickup: the destination is taken as the server
		 * (engine.c). */
		if (opener == TCP_OPENER_DATA)
			known = deal_remember(d, &p->src, p->sport, &p->dst,
			    p->dport);
		else
			known = d->used * 2 + 2 <= DEAL_PAIRS_MAX;
		break;
	}
	if (!known)
		return deal_pick(d, deal_pair_hash(&p->src, p->sport, &p->dst,
		    p->dport));
	return deal_worker(d, client);
}

unsigned
deal_decoded(struct deal *d, enum decode_result rc,
    const struct decode_packet *p)
{
	bool to, from;

	if (d->n == 1 || rc != DECODE_OK)
		return 0;
	to = deal_server(d, &p->dst, p->dport);
	from = deal_server(d, &p->src, p->sport);
	if (to && from)
		return deal_both(d, p);
	if (to)
		return deal_worker(d, &p->src);
	if (from)
		return deal_worker(d, &p->dst);
	return 0;
}
