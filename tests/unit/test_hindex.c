/*
 * test_hindex.c — filters/hindex.h, the index under cidr_set and
 * addr_domains: the implicit capacity of the entries' array, growth at
 * half full, lookups across a table that wrapped, and colliding hashes.
 */
#include <stdlib.h>

#include "test.h"
#include "hindex.h"

struct ints {
	uint32_t count;
	uint32_t *v;
	struct hindex ix;
	uint32_t (*hash)(uint32_t);
};

static uint32_t
hash_spread(uint32_t x)
{
	return hindex_fnv(HINDEX_FNV_INIT, &x, sizeof(x));
}

/* Every key in one bucket: the probe runs through them all. */
static uint32_t
hash_same(uint32_t x)
{
	(void)x;
	return 7;
}

struct probe {
	const struct ints *s;
	uint32_t key;
};

static bool
probe_eq(const void *arg, uint32_t idx)
{
	const struct probe *p = arg;

	return p->s->v[idx] == p->key;
}

static uint32_t
entry_hash(const void *arg, uint32_t idx)
{
	const struct ints *s = arg;

	return s->hash(s->v[idx]);
}

static int64_t
find(const struct ints *s, uint32_t key)
{
	struct probe p = { s, key };

	return hindex_find(&s->ix, s->hash(key), probe_eq, &p);
}

static bool
add(struct ints *s, uint32_t key)
{
	uint32_t *nv;

	if ((nv = hindex_array_room(s->v, s->count, sizeof(*nv))) == NULL)
		return false;
	s->v = nv;
	if (!hindex_room(&s->ix, s->count, entry_hash, s))
		return false;
	s->v[s->count] = key;
	hindex_put(&s->ix, s->hash(key), s->count);
	s->count++;
	return true;
}

static void
run(uint32_t (*hash)(uint32_t), uint32_t n)
{
	struct ints s = { 0, NULL, { NULL, 0 }, hash };
	uint32_t i;

	ASSERT_INT_EQ(find(&s, 1), -1);		/* empty: no table yet */
	for (i = 0; i < n; i++) {
		TEST_CHECK(add(&s, i * 3 + 1));
		/* At most half full, a power of two. */
		TEST_CHECK(s.ix.nslots >= 2 * s.count);
		TEST_CHECK((s.ix.nslots & (s.ix.nslots - 1)) == 0);
	}
	for (i = 0; i < n; i++)
		ASSERT_INT_EQ(find(&s, i * 3 + 1), i);
	ASSERT_INT_EQ(find(&s, 0), -1);
	ASSERT_INT_EQ(find(&s, 2), -1);
	ASSERT_INT_EQ(find(&s, n * 3 + 1), -1);
	free(s.v);
	hindex_free(&s.ix);
	TEST_CHECK(s.ix.slots == NULL && s.ix.nslots == 0);
}

static void
test_spread(void)
{
	run(hash_spread, 5000);
}

static void
test_collisions(void)
{
	run(hash_same, 300);
}

/* The array grows at 0, 8, 16, 32, ... and is left alone in between. */
static void
test_array_room(void)
{
	char *v = NULL, *nv;
	uint32_t n;

	for (n = 0; n < 1025; n++) {
		nv = hindex_array_room(v, n, 1);
		TEST_CHECK(nv != NULL);
		if (nv == NULL)
			break;
		if (n != 0 && (n < 8 || (n & (n - 1)) != 0))
			TEST_CHECK(nv == v);	/* no realloc in between */
		v = nv;
		v[n] = (char)n;		/* under ASan: the room is there */
	}
	ASSERT_INT_EQ((unsigned char)v[1000], 1000 & 0xff);
	free(v);
}

int
main(void)
{
	TEST_RUN(test_spread);
	TEST_RUN(test_collisions);
	TEST_RUN(test_array_room);
	return TEST_END("hindex");
}
