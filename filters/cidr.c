/*
 * cidr.c — IPv4/IPv6 networks and sets of them (relay-networks,
 * never-block, servers).
 *
 * A set keeps its networks in the order added and indexes them in an
 * open-addressing hash table (hindex.h) keyed by (family, prefix, masked
 * network), with a bitmap of the prefix lengths present.  A lookup masks
 * the address to each length present and probes once per length: a list
 * read from a file of tens of thousands of networks costs a handful of
 * probes (one per distinct prefix length), not a scan.
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
	uint32_t h = HINDEX_FNV_INIT;

	h = hindex_fnv(h, &k->family, 1);
	h = hindex_fnv(h, &prefix, 1);
	return hindex_fnv(h, k->bytes, k->family == 4 ? 4 : 16);
}

/* What a lookup looks for: the network of key k and length prefix. */
struct cidr_probe {
	const struct cidr_set *set;
	const struct rg_addr *k;
	uint8_t prefix;
};

static bool
cidr_probe_eq(const void *arg, uint32_t idx)
{
	const struct cidr_probe *p = arg;
	const struct cidr *c = &p->set->v[idx];
	struct rg_addr vk;

	if (c->prefix != p->prefix || c->net.family != p->k->family)
		return false;
	cidr_key(&c->net, c->prefix, &vk);
	return memcmp(vk.bytes, p->k->bytes, sizeof(vk.bytes)) == 0;
}

/* The index of the network (key k, prefix) in set, or -1. */
static int64_t
cidr_set_find(const struct cidr_set *set, const struct rg_addr *k,
    uint8_t prefix)
{
	struct cidr_probe p = { set, k, prefix };

	return hindex_find(&set->ix, cidr_hash(k, prefix), cidr_probe_eq, &p);
}

/* The hash of v[idx], for the index to place it. */
static uint32_t
cidr_set_hash(const void *arg, uint32_t idx)
{
	const struct cidr *c = &((const struct cidr_set *)arg)->v[idx];
	struct rg_addr k;

	cidr_key(&c->net, c->prefix, &k);
	return cidr_hash(&k, c->prefix);
}

bool
cidr_set_add(struct cidr_set *set, const struct cidr *c)
{
	struct cidr *nv;
	struct rg_addr k;

	if (c->net.family != 4 && c->net.family != 6)
		return false;
	if (c->prefix > cidr_maxlen(&c->net))
		return false;
	cidr_key(&c->net, c->prefix, &k);
	if (cidr_set_find(set, &k, c->prefix) >= 0)
		return true;
	if (set->count >= CIDR_MAX)
		return false;
	if ((nv = hindex_array_room(set->v, set->count, sizeof(*nv))) == NULL)
		return false;
	set->v = nv;
	if (!hindex_room(&set->ix, set->count, cidr_set_hash, set))
		return false;
	set->v[set->count] = *c;
	hindex_put(&set->ix, cidr_hash(&k, c->prefix), set->count);
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
	hindex_free(&set->ix);
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
