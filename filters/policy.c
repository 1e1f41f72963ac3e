/*
 * policy.c — the relay decision and the offender tracker.
 *
 * The tracker is a hash table of clients (chained through 32-bit indices
 * into one array, so the array may grow by realloc) threaded on an LRU
 * list: a lookup, an insert and an eviction are O(1).  Entries are never
 * freed one by one; evicted ones are reused at once, or go to a free list
 * when a reload shrinks the capacity.
 *
 * Attempts are kept in POLICY_SLOTS slots per client, not one timestamp per
 * attempt: block-after may be 1000 and there may be 100k clients, and 800 MB
 * of timestamps is not an option.  With block-after <= POLICY_SLOTS every
 * slot holds one attempt and the window is exact.  Above that, a slot holds
 * up to ceil(block-after / POLICY_SLOTS) consecutive attempts and carries
 * the time of its oldest one; a slot leaves the window with its oldest
 * attempt.  The count can then be low by less than one slot, never high: a
 * client spreading attempts over more than the window is never blocked.
 */
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define POLICY_SLOTS		8
#define POLICY_NONE		UINT32_MAX
#define POLICY_MAX_CLIENTS	(1u << 24)	/* cap on max_clients */
#define POLICY_MIN_BUCKETS	16u

struct policy_client {
	rg_time_t ts[POLICY_SLOTS];	/* oldest attempt in each slot */
	uint16_t n[POLICY_SLOTS];	/* attempts in each slot */
	struct rg_addr addr;		/* canonical: unused bytes zero */
	uint8_t first;			/* ring index of the oldest slot */
	uint8_t used;			/* live slots */
	uint32_t count;			/* attempts in live slots */
	uint32_t offences;
	uint32_t last_offence;		/* seconds: keeps this 128 bytes */
	uint32_t hnext;			/* hash chain, or free list */
	uint32_t prev, next;		/* LRU: prev is more recent */
};

struct policy {
	struct policy_params params;
	uint32_t group;			/* attempts per slot */
	uint32_t max;			/* clients remembered at most */
	uint32_t *bucket;
	uint32_t nbucket;		/* power of two */
	struct policy_client *c;
	uint32_t nused;			/* indices ever handed out */
	uint32_t ncap;			/* allocated entries */
	uint32_t nlive;
	uint32_t freelist;
	uint32_t head, tail;		/* most and least recently seen */
	uint64_t k0, k1;		/* hash key */
};

/*
 * SipHash-1-3 over the 24-byte key (address, family): clients choose
 * their addresses (an IPv6 /64 offers plenty), so the hash must not let
 * them build long chains.
 */
#define POLICY_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define POLICY_SIPROUND do {						\
	v0 += v1; v1 = POLICY_ROTL(v1, 13); v1 ^= v0;			\
	v0 = POLICY_ROTL(v0, 32);					\
	v2 += v3; v3 = POLICY_ROTL(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = POLICY_ROTL(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = POLICY_ROTL(v1, 17); v1 ^= v2;			\
	v2 = POLICY_ROTL(v2, 32);					\
} while (0)

static uint32_t
policy_hash(const struct policy *p, const struct rg_addr *a)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ p->k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ p->k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ p->k0;
	uint64_t v3 = 0x7465646279746573ULL ^ p->k1;
	uint64_t m[3];
	int i;

	memcpy(&m[0], a->bytes, 8);
	memcpy(&m[1], a->bytes + 8, 8);
	m[2] = (24ULL << 56) | a->family;
	for (i = 0; i < 3; i++) {
		v3 ^= m[i];
		POLICY_SIPROUND;
		v0 ^= m[i];
	}
	v2 ^= 0xff;
	POLICY_SIPROUND;
	POLICY_SIPROUND;
	POLICY_SIPROUND;
	return (uint32_t)(v0 ^ v1 ^ v2 ^ v3);
}

static void
policy_canon(const struct rg_addr *a, struct rg_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = a->family;
	memcpy(out->bytes, a->bytes, a->family == 4 ? 4 : 16);
}

static uint32_t
policy_group(uint32_t block_after)
{
	return (block_after + POLICY_SLOTS - 1) / POLICY_SLOTS;
}

/* Clamp parameters that would break the tracker's arithmetic. */
static void
policy_clamp(struct policy *p)
{
	if (p->params.block_after < 1)
		p->params.block_after = 1;
	if (p->params.block_after > POLICY_MAX_BLOCK_AFTER)
		p->params.block_after = POLICY_MAX_BLOCK_AFTER;
	p->max = p->params.max_clients;
	if (p->max < 1)
		p->max = 1;
	if (p->max > POLICY_MAX_CLIENTS)
		p->max = POLICY_MAX_CLIENTS;
}

static uint32_t
policy_nbucket(uint32_t max)
{
	uint32_t n = POLICY_MIN_BUCKETS;

	while (n < max)
		n <<= 1;
	return n;
}

static void
policy_lru_unlink(struct policy *p, uint32_t i)
{
	struct policy_client *e = &p->c[i];

	if (e->prev != POLICY_NONE)
		p->c[e->prev].next = e->next;
	else
		p->head = e->next;
	if (e->next != POLICY_NONE)
		p->c[e->next].prev = e->prev;
	else
		p->tail = e->prev;
	e->prev = e->next = POLICY_NONE;
}

static void
policy_lru_push(struct policy *p, uint32_t i)
{
	struct policy_client *e = &p->c[i];

	e->prev = POLICY_NONE;
	e->next = p->head;
	if (p->head != POLICY_NONE)
		p->c[p->head].prev = i;
	else
		p->tail = i;
	p->head = i;
}

/*
 * A bucket holds its first client's index plus one, 0 when empty (so a
 * new table is calloc()'s zeroes: its pages are not touched, nor faulted
 * in, before clients come); the chain goes on through hnext, which ends
 * in POLICY_NONE (0xffffffff, which plus one wraps to 0).
 */
static void
policy_hash_unlink(struct policy *p, uint32_t i)
{
	uint32_t *b = &p->bucket[policy_hash(p, &p->c[i].addr) &
	    (p->nbucket - 1)], j;

	if (*b - 1 == i) {
		*b = p->c[i].hnext + 1;
		return;
	}
	for (j = *b - 1; j != POLICY_NONE; j = p->c[j].hnext)
		if (p->c[j].hnext == i) {
			p->c[j].hnext = p->c[i].hnext;
			return;
		}
}

static void
policy_hash_link(struct policy *p, uint32_t i)
{
	uint32_t h = policy_hash(p, &p->c[i].addr) & (p->nbucket - 1);

	p->c[i].hnext = p->bucket[h] - 1;
	p->bucket[h] = i + 1;
}

/* Forget the least recently seen client; its index is returned. */
static uint32_t
policy_evict(struct policy *p)
{
	uint32_t i = p->tail;

	policy_hash_unlink(p, i);
	policy_lru_unlink(p, i);
	p->nlive--;
	return i;
}

/* A fresh entry index, or POLICY_NONE if memory ran out with nothing to
 * evict. */
static uint32_t
policy_take(struct policy *p)
{
	struct policy_client *nc;
	uint32_t i, ncap;

	if (p->nlive >= p->max)
		return policy_evict(p);
	if (p->freelist != POLICY_NONE) {
		i = p->freelist;
		p->freelist = p->c[i].hnext;
		return i;
	}
	if (p->nused == p->ncap) {
		ncap = p->ncap < 64 ? 64 : p->ncap * 2;
		if (ncap > p->max || ncap < p->ncap)
			ncap = p->max > p->ncap ? p->max : p->ncap + 1;
		nc = realloc(p->c, (size_t)ncap * sizeof(*nc));
		if (nc == NULL)
			return p->nlive > 0 ? policy_evict(p) : POLICY_NONE;
		p->c = nc;
		p->ncap = ncap;
	}
	return p->nused++;
}

static struct policy_client *
policy_lookup(struct policy *p, const struct rg_addr *key)
{
	uint32_t i, h = policy_hash(p, key) & (p->nbucket - 1);

	for (i = p->bucket[h] - 1; i != POLICY_NONE; i = p->c[i].hnext)
		if (rg_addr_eq(&p->c[i].addr, key)) {
			if (p->head != i) {
				policy_lru_unlink(p, i);
				policy_lru_push(p, i);
			}
			return &p->c[i];
		}
	if ((i = policy_take(p)) == POLICY_NONE)
		return NULL;
	memset(&p->c[i], 0, sizeof(p->c[i]));
	p->c[i].addr = *key;
	policy_hash_link(p, i);
	policy_lru_push(p, i);
	p->nlive++;
	return &p->c[i];
}

/* Resize the bucket array for the current max; on failure the old one
 * stays (longer chains, still correct). */
static void
policy_rehash(struct policy *p)
{
	uint32_t nb = policy_nbucket(p->max), *b, i;

	if (nb == p->nbucket)
		return;
	if ((b = calloc(nb, sizeof(*b))) == NULL)
		return;
	free(p->bucket);
	p->bucket = b;
	p->nbucket = nb;
	for (i = p->head; i != POLICY_NONE; i = p->c[i].next)
		policy_hash_link(p, i);
}

struct policy *
policy_new(const struct policy_params *params)
{
	struct policy *p;
	uint64_t seed;

	if (params == NULL || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->params = *params;
	policy_clamp(p);
	p->group = policy_group(p->params.block_after);
	p->nbucket = policy_nbucket(p->max);
	if ((p->bucket = calloc(p->nbucket, sizeof(*p->bucket))) == NULL) {
		free(p);
		return NULL;
	}
	p->freelist = p->head = p->tail = POLICY_NONE;
	/* No system calls here, so no getrandom(): the key comes from
	 * addresses that ASLR makes unpredictable to a remote client. */
	seed = (uint64_t)(uintptr_t)p ^ ((uint64_t)(uintptr_t)&seed << 17) ^
	    (uint64_t)(uintptr_t)policy_new;
	p->k0 = seed * 0x9e3779b97f4a7c15ULL;
	p->k1 = (seed ^ 0xc2b2ae3d27d4eb4fULL) * 0xff51afd7ed558ccdULL;
	return p;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	free(p->bucket);
	free(p->c);
	free(p);
}

void
policy_set_params(struct policy *p, const struct policy_params *params)
{
	uint32_t i, group;

	p->params = *params;
	policy_clamp(p);
	group = policy_group(p->params.block_after);
	if (group != p->group) {
		/* Slots filled with the old group size would be miscounted
		 * under the new one: start every window afresh and keep the
		 * offence counts. */
		for (i = p->head; i != POLICY_NONE; i = p->c[i].next) {
			p->c[i].used = p->c[i].first = 0;
			p->c[i].count = 0;
		}
		p->group = group;
	}
	while (p->nlive > p->max) {
		i = policy_evict(p);
		p->c[i].hnext = p->freelist;
		p->freelist = i;
	}
	policy_rehash(p);
}

enum policy_verdict
policy_judge(const struct policy *p, const struct rg_addr *client,
    const struct rg_addr *server, bool authenticated,
    const struct addr_path *path)
{
	if (addr_is_local(path, p->params.local_domains, server))
		return POLICY_LOCAL;
	if (policy_trusted(p, client))
		return POLICY_ALLOWED_NETWORK;
	if (authenticated)
		return POLICY_ALLOWED_AUTH;
	return POLICY_RELAY_ATTEMPT;
}

/* block-for << (offences - 1), capped at block-for-max without overflow.
 * A block-for-max below block-for is taken as block-for. */
static rg_time_t
policy_duration(const struct policy_params *pp, uint32_t offences)
{
	rg_time_t d = pp->block_for, max = pp->block_for_max;
	uint32_t shift = offences > 0 ? offences - 1 : 0;

	if (max < d)
		max = d;
	if (shift >= 64 || d > (max >> shift))
		return max;
	return d << shift;
}

bool
policy_offence(struct policy *p, const struct rg_addr *client, rg_time_t now,
    struct policy_block *b)
{
	struct policy_client *e;
	struct rg_addr key;
	rg_time_t window = p->params.attempt_window;
	uint32_t secs;
	unsigned last;
	bool nb;

	if (client == NULL || (client->family != 4 && client->family != 6))
		return false;
	policy_canon(client, &key);
	if ((e = policy_lookup(p, &key)) == NULL)
		return false;

	/* Drop slots whose oldest attempt left the window.  Packet times
	 * may step back across merged captures: a time ahead of now is
	 * simply not old. */
	while (e->used > 0 && now > e->ts[e->first] &&
	    now - e->ts[e->first] > window) {
		e->count -= e->n[e->first];
		e->first = (uint8_t)((e->first + 1) % POLICY_SLOTS);
		e->used--;
	}
	if (e->used == 0)
		e->first = 0;
	last = (e->first + e->used + POLICY_SLOTS - 1) % POLICY_SLOTS;
	if (e->used > 0 && (e->n[last] < p->group || e->used == POLICY_SLOTS))
		e->n[last]++;	/* a full ring only after a reload */
	else {
		last = (e->first + e->used) % POLICY_SLOTS;
		e->ts[last] = now;
		e->n[last] = 1;
		e->used++;
	}
	e->count++;
	if (e->count < p->params.block_after)
		return false;

	/* One timestamp, not one per offence: a client that went
	 * offence-memory without a block starts again from its first.  The
	 * daemon's state database keeps every offence's time and decides the
	 * block it applies; this count is replay's and the event's. */
	secs = now / RG_USEC_PER_SEC > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)(now / RG_USEC_PER_SEC);
	if (p->params.offence_memory != 0 && e->offences > 0 &&
	    secs > e->last_offence && (rg_time_t)(secs - e->last_offence) *
	    RG_USEC_PER_SEC > p->params.offence_memory)
		e->offences = 0;
	/* A never-block client earns no offence: it was not blocked, and
	 * should it leave never-block its first block is a first one. */
	nb = policy_never_block(p, client);
	if (!nb) {
		if (e->offences < UINT32_MAX)
			e->offences++;
		e->last_offence = secs;
	}
	if (b != NULL) {
		b->attempts = e->count;
		b->offences = e->offences;
		b->duration = nb ? 0 :
		    policy_duration(&p->params, e->offences);
		b->never_block = nb;
	}
	e->used = e->first = 0;
	e->count = 0;
	return true;
}

uint32_t
policy_forget(struct policy *p, const struct cidr *net)
{
	struct policy_client *e;
	uint32_t i, n = 0;

	/* O(clients): an operator's command, not a packet's. */
	for (i = p->head; i != POLICY_NONE; i = p->c[i].next) {
		e = &p->c[i];
		if (!cidr_contains(net, &e->addr) ||
		    (e->count == 0 && e->offences == 0))
			continue;
		e->used = e->first = 0;
		e->count = 0;
		e->offences = 0;
		e->last_offence = 0;
		n++;
	}
	return n;
}

bool
policy_trusted(const struct policy *p, const struct rg_addr *client)
{
	return cidr_set_contains(p->params.relay_networks, client);
}

bool
policy_never_block(const struct policy *p, const struct rg_addr *client)
{
	return cidr_set_contains(p->params.never_block, client);
}

const char *
policy_verdict_str(enum policy_verdict v)
{
	switch (v) {
	case POLICY_LOCAL:
		return "local";
	case POLICY_ALLOWED_NETWORK:
		return "allowed-network";
	case POLICY_ALLOWED_AUTH:
		return "allowed-auth";
	case POLICY_RELAY_ATTEMPT:
		return "relay-attempt";
	}
	return "unknown";
}
