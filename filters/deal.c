/*
 * deal.c — which replay worker a packet goes to (deal.h).
 */
#include <stdlib.h>
#include <string.h>

#include "deal.h"
#include "decode.h"
#include "tcp.h"

#define DEAL_PAIRS 4096		/* connections with servers on both ends */

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
	struct deal_pair pairs[DEAL_PAIRS];
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
	for (i = 0; i < conf->nports; i++)
		d->port_map[conf->ports[i] >> 3] |=
		    (uint8_t)(1u << (conf->ports[i] & 7));
	return d;
}

void
deal_free(struct deal *d)
{
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

static unsigned
deal_worker(const struct deal *d, const struct rg_addr *client)
{
	uint64_t w[2], h = client->family;

	memcpy(w, client->bytes, sizeof(w));
	h = deal_mix(h, w[0]);
	h = deal_mix(h, w[1]);
	return (unsigned)((h >> 32) % d->n);
}

/* The slot of the connection between a and b, whichever way round. */
static struct deal_pair *
deal_slot(struct deal *d, const struct decode_packet *p)
{
	uint64_t w[4], h = (uint64_t)p->sport ^ p->dport;

	memcpy(w, p->src.bytes, 16);
	memcpy(w + 2, p->dst.bytes, 16);
	h = deal_mix(h, w[0] ^ w[2]);
	h = deal_mix(h, w[1] ^ w[3]);
	return &d->pairs[h % DEAL_PAIRS];
}

static bool
deal_pair_is(const struct deal_pair *s, const struct rg_addr *c,
    uint16_t cp, const struct rg_addr *sv, uint16_t sp)
{
	return s->used && s->cport == cp && s->sport == sp &&
	    rg_addr_eq(&s->client, c) && rg_addr_eq(&s->server, sv);
}

static void
deal_remember(struct deal_pair *s, const struct rg_addr *c, uint16_t cp,
    const struct rg_addr *sv, uint16_t sp)
{
	s->client = *c;
	s->server = *sv;
	s->cport = cp;
	s->sport = sp;
	s->used = true;
}

/* Both ends are protected servers: the client as the engine takes it. */
static const struct rg_addr *
deal_both(struct deal *d, const struct decode_packet *p)
{
	struct deal_pair *s = deal_slot(d, p);

	switch (tcp_opener(p)) {
	case TCP_OPENER_SYN:
		deal_remember(s, &p->src, p->sport, &p->dst, p->dport);
		return &p->src;
	case TCP_OPENER_SYNACK:
		deal_remember(s, &p->dst, p->dport, &p->src, p->sport);
		return &p->dst;
	default:
		break;
	}
	if (deal_pair_is(s, &p->src, p->sport, &p->dst, p->dport))
		return &p->src;
	if (deal_pair_is(s, &p->dst, p->dport, &p->src, p->sport))
		return &p->dst;
	/* A pickup: the destination is taken as the server (engine.c). */
	if (tcp_opener(p) == TCP_OPENER_DATA)
		deal_remember(s, &p->src, p->sport, &p->dst, p->dport);
	return &p->src;
}

unsigned
deal_packet(struct deal *d, int linktype, const uint8_t *data, size_t caplen,
    size_t wirelen)
{
	struct decode_packet p;
	bool to, from;

	if (d->n == 1 || decode_packet(linktype, data, caplen, wirelen, &p) !=
	    DECODE_OK)
		return 0;
	to = deal_server(d, &p.dst, p.dport);
	from = deal_server(d, &p.src, p.sport);
	if (to && from)
		return deal_worker(d, deal_both(d, &p));
	if (to)
		return deal_worker(d, &p.src);
	if (from)
		return deal_worker(d, &p.dst);
	return 0;
}
