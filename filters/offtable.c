/*
 * offtable.c — see offtable.h.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "offtable.h"

struct offtable_stripe {
	pthread_mutex_t lock;
	struct policy *policy;
	struct blockset blocks;
	/* a stripe per cache line or two: no false sharing of locks */
} __attribute__((aligned(64)));

struct offtable {
	struct offtable_stripe s[OFFTABLE_STRIPES];
	uint64_t key;
};

enum offence_result
offence_step(struct policy *p, struct blockset *s,
    const struct rg_addr *client, rg_time_t now, struct policy_block *b,
    struct blockset_entry **entry)
{
	struct blockset_entry *be = NULL;

	if (blockset_find(s, client, now) != NULL)
		return OFFENCE_IN_FORCE;
	if (!policy_offence(p, client, now, b))
		return OFFENCE_COUNTED;
	if (!b->never_block)
		be = blockset_add(s, client, now, b->duration, b->offences);
	if (entry != NULL)
		*entry = be;
	return OFFENCE_THRESHOLD;
}

/*
 * The stripe of a client: a keyed mix of the address bytes.  The key only
 * spreads clients over the stripes; each stripe's policy keeps its own
 * SipHash key against chosen addresses.
 */
static struct offtable_stripe *
offtable_stripe(struct offtable *t, const struct rg_addr *a)
{
	uint64_t h = t->key ^ a->family, w;
	unsigned i, n = a->family == 4 ? 4 : 16;

	for (i = 0; i < n; i += 4) {
		w = (uint64_t)a->bytes[i] | (uint64_t)a->bytes[i + 1] << 8 |
		    (uint64_t)a->bytes[i + 2] << 16 |
		    (uint64_t)a->bytes[i + 3] << 24;
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return &t->s[h & (OFFTABLE_STRIPES - 1)];
}

struct offtable *
offtable_new(const struct policy_params *params)
{
	struct offtable *t;
	uint64_t seed;
	unsigned i;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	for (i = 0; i < OFFTABLE_STRIPES; i++) {
		pthread_mutex_init(&t->s[i].lock, NULL);
		blockset_init(&t->s[i].blocks);
		if ((t->s[i].policy = policy_new(params)) == NULL) {
			offtable_free(t);
			return NULL;
		}
	}
	/* No getrandom() in filters/: as policy_new(), from addresses. */
	seed = (uint64_t)(uintptr_t)t ^ ((uint64_t)(uintptr_t)&seed << 21);
	t->key = seed * 0xd6e8feb86659fd93ULL;
	return t;
}

void
offtable_free(struct offtable *t)
{
	unsigned i;

	if (t == NULL)
		return;
	for (i = 0; i < OFFTABLE_STRIPES; i++) {
		policy_free(t->s[i].policy);
		blockset_free(&t->s[i].blocks);
		pthread_mutex_destroy(&t->s[i].lock);
	}
	free(t);
}

enum offence_result
offtable_step(struct offtable *t, const struct rg_addr *client,
    rg_time_t now, struct policy_block *b, bool *unremembered)
{
	struct offtable_stripe *s = offtable_stripe(t, client);
	struct blockset_entry *be = NULL;
	enum offence_result r;

	pthread_mutex_lock(&s->lock);
	r = offence_step(s->policy, &s->blocks, client, now, b, &be);
	pthread_mutex_unlock(&s->lock);
	/* be is not to be touched outside the lock: only whether it is. */
	if (unremembered != NULL)
		*unremembered = r == OFFENCE_THRESHOLD && !b->never_block &&
		    be == NULL;
	return r;
}

void
offtable_set_params(struct offtable *t, const struct policy_params *p)
{
	unsigned i;

	for (i = 0; i < OFFTABLE_STRIPES; i++) {
		pthread_mutex_lock(&t->s[i].lock);
		policy_set_params(t->s[i].policy, p);
		pthread_mutex_unlock(&t->s[i].lock);
	}
}

uint32_t
offtable_forget(struct offtable *t, const struct cidr *net)
{
	uint32_t n = 0;
	unsigned i;

	for (i = 0; i < OFFTABLE_STRIPES; i++) {
		pthread_mutex_lock(&t->s[i].lock);
		n += policy_forget(t->s[i].policy, net);
		pthread_mutex_unlock(&t->s[i].lock);
	}
	return n;
}

void
offtable_unblock(struct offtable *t, const struct cidr *net)
{
	unsigned i;

	for (i = 0; i < OFFTABLE_STRIPES; i++) {
		pthread_mutex_lock(&t->s[i].lock);
		blockset_lift(&t->s[i].blocks, net);
		pthread_mutex_unlock(&t->s[i].lock);
	}
}

bool
offtable_blocked(struct offtable *t, const struct rg_addr *client,
    rg_time_t now)
{
	struct offtable_stripe *s = offtable_stripe(t, client);
	bool r;

	pthread_mutex_lock(&s->lock);
	r = blockset_find(&s->blocks, client, now) != NULL;
	pthread_mutex_unlock(&s->lock);
	return r;
}
