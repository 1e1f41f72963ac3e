/*
 * blockset.c — see blockset.h.  Open addressing with linear probing and no
 * deletion (an expired block keeps its entry), so a probe ends at the first
 * free slot; the table doubles at half full, up to BLOCKSET_MAX entries.
 */
#include <stdlib.h>
#include <string.h>

#include "blockset.h"

/* FNV-1a over the family and the 16 address bytes: replay is offline and
 * reproducible, so no secret key (a crafted capture can at worst make its
 * own replay slower, never wrong). */
static uint32_t
blockset_hash(const struct rg_addr *a)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	h = (h ^ a->family) * 0x100000001b3ULL;
	for (i = 0; i < sizeof(a->bytes); i++)
		h = (h ^ a->bytes[i]) * 0x100000001b3ULL;
	return (uint32_t)(h ^ (h >> 32));
}

void
blockset_init(struct blockset *s)
{
	memset(s, 0, sizeof(*s));
}

void
blockset_free(struct blockset *s)
{
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/* The slot of addr, or the free slot where it would go (cap > 0). */
static struct blockset_entry *
blockset_slot(struct blockset_entry *slot, uint32_t cap,
    const struct rg_addr *addr)
{
	uint32_t i = blockset_hash(addr) & (cap - 1);

	/* Bounded: the table is never more than half full. */
	while (slot[i].addr.family != 0 && !rg_addr_eq(&slot[i].addr, addr))
		i = (i + 1) & (cap - 1);
	return &slot[i];
}

static bool
blockset_grow(struct blockset *s)
{
	struct blockset_entry *nv;
	uint32_t ncap = s->cap == 0 ? 64 : s->cap * 2, i;

	if ((nv = calloc(ncap, sizeof(*nv))) == NULL)
		return false;
	for (i = 0; i < s->cap; i++)
		if (s->slot[i].addr.family != 0)
			*blockset_slot(nv, ncap, &s->slot[i].addr) = s->slot[i];
	free(s->slot);
	s->slot = nv;
	s->cap = ncap;
	return true;
}

struct blockset_entry *
blockset_add(struct blockset *s, const struct rg_addr *addr, rg_time_t now,
    rg_time_t duration, uint32_t offences)
{
	struct blockset_entry *e;

	if (addr->family != 4 && addr->family != 6)
		return NULL;
	if (s->cap == 0 && !blockset_grow(s))
		return NULL;
	e = blockset_slot(s->slot, s->cap, addr);
	if (e->addr.family == 0) {
		if (s->len >= BLOCKSET_MAX)
			return NULL;
		if ((s->len + 1) * 2 > s->cap) {
			if (!blockset_grow(s))
				return NULL;
			e = blockset_slot(s->slot, s->cap, addr);
		}
		e->addr = *addr;
		s->len++;
	}
	e->from = now;
	e->until = now + duration < now ? UINT64_MAX : now + duration;
	e->offences = offences;
	e->blocks++;
	e->enforced = false;
	return e;
}

void
blockset_lift(struct blockset *s, const struct cidr *net)
{
	uint32_t i;

	for (i = 0; i < s->cap; i++)
		if (s->slot[i].addr.family != 0 &&
		    cidr_contains(net, &s->slot[i].addr))
			s->slot[i].until = 0;
}

const struct blockset_entry *
blockset_find(const struct blockset *s, const struct rg_addr *addr,
    rg_time_t now)
{
	const struct blockset_entry *e;

	if (s->len == 0)
		return NULL;
	e = blockset_slot(s->slot, s->cap, addr);
	if (e->addr.family == 0 || now >= e->until)
		return NULL;
	return e;
}

uint32_t
blockset_clients(const struct blockset *s)
{
	return s->len;
}
