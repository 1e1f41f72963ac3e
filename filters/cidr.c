/*
 * cidr.c — IPv4/IPv6 networks and sets of them (relay-networks,
 * never-block, servers).
 *
 * A set keeps its networks in the order added and indexes them in an
 * open-addressing hash table keyed by (family, prefix, masked network),
 * with a bitmap of the prefix lengths present.  A lookup masks the address
 * to each length present and probes once per length: a list read from a
 * file of tens of thousands of networks costs a handful of probes (one
 * per distinct prefix length), not a scan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

unsigned
cidr_width(unsigned family)
{
	return family == 4 ? 32 : family == 6 ? 128 : 0;
}

static uint8_t
cidr_maxlen(const struct rg_addr *a)
{
	return (uint8_t)cidr_width(a->family);
}

/* Do a and b agree on their first prefix bits?  Same family assumed. */
static bool
cidr_prefix_eq(const uint8_t *a, const uint8_t *b, uint8_t prefix)
{
	size_t whole = prefix / 8;
	unsigned rest = prefix % 8;
	uint8_t mask;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return ((a[whole] ^ b[whole]) & mask) == 0;
}

bool
cidr_make(const struct rg_addr *a, unsigned prefix, struct cidr *out,
    const char **why)
{
	const char *dummy;
	unsigned i;

	if (why == NULL)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	if (a->family != 4 && a->family != 6) {
		*why = "bad address";
		return false;
	}
	if (prefix > cidr_maxlen(a)) {
		*why = "bad prefix length";
		return false;
	}
	/* Host bits below the prefix must be zero: "192.0.2.1/24" is more
	 * likely a typo than a network. */
	for (i = prefix; i < cidr_maxlen(a); i++)
		if (a->bytes[i / 8] & (0x80 >> (i % 8))) {
			*why = "host bits set";
			return false;
		}
	out->net = *a;
	out->prefix = (uint8_t)prefix;
	return true;
}

bool
cidr_valid(const struct cidr *c)
{
	struct cidr tmp;

	return cidr_make(&c->net, c->prefix, &tmp, NULL);
}

bool
cidr_parse(const char *s, size_t len, struct cidr *out, const char **why)
{
	const char *slash, *dummy;
	struct rg_addr a;
	size_t alen, i;
	unsigned plen = 0;

	if (why == NULL)
		why = &dummy;
	memset(out, 0, sizeof(*out));
	if (s == NULL || len == 0) {
		*why = "empty network";
		return false;
	}
	slash = memchr(s, '/', len);
	alen = slash != NULL ? (size_t)(slash - s) : len;
	/* rg_addr_parse() hands the text to inet_pton() as a C string: a
	 * NUL inside would silently cut it short. */
	if (memchr(s, '\0', alen) != NULL || !rg_addr_parse(s, alen, &a)) {
		*why = "bad address";
		return false;
	}
	if (slash == NULL)
		plen = cidr_maxlen(&a);
	else {
		i = alen + 1;
		if (i == len || len - i > 3) {
			*why = "bad prefix length";
			return false;
		}
		for (; i < len; i++) {
			if (s[i] < '0' || s[i] > '9') {
				*why = "bad prefix length";
				return false;
			}
			plen = plen * 10 + (unsigned)(s[i] - '0');
		}
	}
	return cidr_make(&a, plen, out, why);
}

/* The key of a network: its address with every bit past prefix zero. */
static void
cidr_key(const struct rg_addr *a, uint8_t prefix, struct rg_addr *k)
{
	size_t whole = prefix / 8;
	unsigned rest = prefix % 8;

	memset(k, 0, sizeof(*k));
	k->family = a->family;
	memcpy(k->bytes, a->bytes, whole);
	if (rest != 0)
		k->bytes[whole] = (uint8_t)(a->bytes[whole] &
		    (0xff << (8 - rest)));
}

/* FNV-1a over family, prefix and the key's bytes. */
static uint32_t
cidr_hash(const struct rg_addr *k, uint8_t prefix)
{
	uint32_t h = 2166136261U;
	size_t i, n = k->family == 4 ? 4 : 16;

	h = (h ^ k->family) * 16777619U;
	h = (h ^ prefix) * 16777619U;
	for (i = 0; i < n; i++)
		h = (h ^ k->bytes[i]) * 16777619U;
	return h;
}

/* The index of the network (key k, prefix) in set, or -1. */
static int64_t
cidr_set_find(const struct cidr_set *set, const struct rg_addr *k,
    uint8_t prefix)
{
	uint32_t mask, i, idx;
	struct rg_addr vk;
	const struct cidr *c;

	if (set->nslots == 0)
		return -1;
	mask = set->nslots - 1;
	/* At most half the slots are used: an empty one ends the probe. */
	for (i = cidr_hash(k, prefix) & mask;; i = (i + 1) & mask) {
		if ((idx = set->slots[i]) == 0)
			return -1;
		c = &set->v[idx - 1];
		if (c->prefix != prefix || c->net.family != k->family)
			continue;
		cidr_key(&c->net, c->prefix, &vk);
		if (memcmp(vk.bytes, k->bytes, sizeof(vk.bytes)) == 0)
			return (int64_t)idx - 1;
	}
}

/* Put v[idx] into its slot (the table has room). */
static void
cidr_set_slot(struct cidr_set *set, uint32_t idx)
{
	uint32_t mask = set->nslots - 1, i;
	struct rg_addr k;

	cidr_key(&set->v[idx].net, set->v[idx].prefix, &k);
	for (i = cidr_hash(&k, set->v[idx].prefix) & mask; set->slots[i] != 0;
	    i = (i + 1) & mask)
		;
	set->slots[i] = idx + 1;
}

/* Grow the table so that one more network keeps it at most half full. */
static bool
cidr_set_grow(struct cidr_set *set)
{
	uint32_t n, i, *ns;

	if (set->nslots != 0 && (set->count + 1) * 2 <= set->nslots)
		return true;
	n = set->nslots == 0 ? 16 : set->nslots * 2;
	if ((ns = calloc(n, sizeof(*ns))) == NULL)
		return false;
	free(set->slots);
	set->slots = ns;
	set->nslots = n;
	for (i = 0; i < set->count; i++)
		cidr_set_slot(set, i);
	return true;
}

bool
cidr_set_add(struct cidr_set *set, const struct cidr *c)
{
	struct cidr *nv;
	struct rg_addr k;
	uint32_t ncap;

	if (c->net.family != 4 && c->net.family != 6)
		return false;
	if (c->prefix > cidr_maxlen(&c->net))
		return false;
	cidr_key(&c->net, c->prefix, &k);
	if (cidr_set_find(set, &k, c->prefix) >= 0)
		return true;
	if (set->count >= CIDR_MAX)
		return false;
	/* Capacity is implicit: 8, then the next power of two. */
	if (set->count == 0 || (set->count >= 8 &&
	    (set->count & (set->count - 1)) == 0)) {
		ncap = set->count == 0 ? 8 : set->count * 2;
		if ((nv = realloc(set->v, ncap * sizeof(*nv))) == NULL)
			return false;
		set->v = nv;
	}
	if (!cidr_set_grow(set))
		return false;
	set->v[set->count] = *c;
	cidr_set_slot(set, set->count);
	set->count++;
	if (c->net.family == 4)
		set->len4 |= 1ULL << c->prefix;
	else
		set->len6[c->prefix / 64] |= 1ULL << (c->prefix % 64);
	return true;
}

bool
cidr_covers(const struct cidr *outer, const struct cidr *inner)
{
	if (outer == NULL || inner == NULL ||
	    outer->net.family != inner->net.family ||
	    (outer->net.family != 4 && outer->net.family != 6))
		return false;
	if (outer->prefix > inner->prefix ||
	    inner->prefix > cidr_maxlen(&inner->net))
		return false;
	return cidr_prefix_eq(outer->net.bytes, inner->net.bytes,
	    outer->prefix);
}

bool
cidr_contains(const struct cidr *c, const struct rg_addr *a)
{
	struct cidr host;

	if (a == NULL)
		return false;
	host.net = *a;
	host.prefix = cidr_maxlen(a);
	return cidr_covers(c, &host);
}

/* One probe per prefix length present in the set for a's family. */
bool
cidr_set_contains(const struct cidr_set *set, const struct rg_addr *a)
{
	struct rg_addr k;
	unsigned len, max;

	if (set == NULL || a == NULL || set->count == 0 ||
	    (a->family != 4 && a->family != 6))
		return false;
	max = cidr_maxlen(a);
	for (len = 0; len <= max; len++) {
		if (a->family == 4 ? !(set->len4 & (1ULL << len)) :
		    !(set->len6[len / 64] & (1ULL << (len % 64))))
			continue;
		cidr_key(a, (uint8_t)len, &k);
		if (cidr_set_find(set, &k, (uint8_t)len) >= 0)
			return true;
	}
	return false;
}

void
cidr_set_free(struct cidr_set *set)
{
	if (set == NULL)
		return;
	free(set->v);
	free(set->slots);
	memset(set, 0, sizeof(*set));
}

const char *
cidr_str(const struct cidr *c, char *buf, size_t len)
{
	char a[RG_ADDRSTRLEN];
	int r;

	if (len == 0)
		return buf;
	if (c->net.family != 4 && c->net.family != 6)
		goto bad;
	rg_addr_str(&c->net, a, sizeof(a));
	r = snprintf(buf, len, "%s/%u", a, (unsigned)c->prefix);
	if (r < 0 || (size_t)r >= len)
		goto bad;
	return buf;
bad:
	/* Never a clipped prefix that reads as a different one. */
	snprintf(buf, len, "?");
	return buf;
}
