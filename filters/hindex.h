/*
 * hindex.h — the hash index of the sets that keep their entries in an
 * array in the order added (cidr_set: networks, addr_domains: local
 * domains).  The index's slots hold an entry's index + 1 (0: empty); the
 * table is a power of two kept at most half full, so linear probing always
 * ends at an empty slot.  The entries' array grows with the same implicit
 * capacity (8, then each power of two), so no set stores a capacity.
 *
 * Header-only, static inline: the lookups run per packet (relay-networks)
 * and per recipient (local domains), and each set's hash and equality are
 * inlined into its probe loop rather than called through a pointer.
 * All zero is an empty index.
 */
#ifndef HINDEX_H
#define HINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

struct hindex {
	uint32_t *slots;	/* index + 1 into the set's array, 0: empty */
	uint32_t nslots;	/* a power of two above 2 * count, or 0 */
};

/* FNV-1a: short keys, and no adversary who can choose the lists. */
#define HINDEX_FNV_INIT 2166136261U

static inline uint32_t
hindex_fnv(uint32_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ s[i]) * 16777619U;
	return h;
}

/*
 * The index of the entry whose hash is hash and for which eq(arg, index)
 * holds, or -1.
 */
static inline int64_t
hindex_find(const struct hindex *ix, uint32_t hash,
    bool (*eq)(const void *arg, uint32_t idx), const void *arg)
{
	uint32_t mask, i, idx;

	if (ix->nslots == 0)
		return -1;
	mask = ix->nslots - 1;
	for (i = hash & mask;; i = (i + 1) & mask) {
		if ((idx = ix->slots[i]) == 0)
			return -1;
		if (eq(arg, idx - 1))
			return (int64_t)idx - 1;
	}
}

/* Put entry idx (hash given) into its slot; hindex_room() made room. */
static inline void
hindex_put(struct hindex *ix, uint32_t hash, uint32_t idx)
{
	uint32_t mask = ix->nslots - 1, i;

	for (i = hash & mask; ix->slots[i] != 0; i = (i + 1) & mask)
		;
	ix->slots[i] = idx + 1;
}

/*
 * Make room for one more entry than count: the table doubles when it
 * would be more than half full, and entries 0..count-1 are put back with
 * hash(arg, index).  False when out of memory (the index is unchanged).
 */
static inline bool
hindex_room(struct hindex *ix, uint32_t count,
    uint32_t (*hash)(const void *arg, uint32_t idx), const void *arg)
{
	uint32_t n, i, *ns;

	if (ix->nslots != 0 && (count + 1) * 2 <= ix->nslots)
		return true;
	n = ix->nslots == 0 ? 16 : ix->nslots * 2;
	if ((ns = calloc(n, sizeof(*ns))) == NULL)
		return false;
	free(ix->slots);
	ix->slots = ns;
	ix->nslots = n;
	for (i = 0; i < count; i++)
		hindex_put(ix, hash(arg, i), i);
	return true;
}

/*
 * Room in v (entries of size bytes, count in use) for one more, with the
 * implicit capacity: 8, then the next power of two.  Returns v, moved or
 * not, or NULL when out of memory (v is then unchanged and still owned by
 * the caller).
 */
static inline void *
hindex_array_room(void *v, uint32_t count, size_t size)
{
	if (count != 0 && (count < 8 || (count & (count - 1)) != 0))
		return v;
	return realloc(v, (size_t)(count == 0 ? 8 : count * 2) * size);
}

static inline void
hindex_free(struct hindex *ix)
{
	free(ix->slots);
	ix->slots = NULL;
	ix->nslots = 0;
}

#endif /* HINDEX_H */
