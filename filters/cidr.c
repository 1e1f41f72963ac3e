/*
 * cidr.c — IPv4/IPv6 networks and small sets of them (relay-networks).
 *
 * A set is an unsorted array scanned linearly: relay-networks lists hold
 * tens of entries, so a scan of a few cache lines beats any tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

static uint8_t
cidr_maxlen(const struct rg_addr *a)
{
	return a->family == 4 ? 32 : 128;
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
cidr_parse(const char *s, size_t len, struct cidr *out, const char **why)
{
	const char *slash, *dummy;
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
	if (memchr(s, '\0', alen) != NULL ||
	    !rg_addr_parse(s, alen, &out->net)) {
		*why = "bad address";
		return false;
	}
	if (slash == NULL)
		out->prefix = cidr_maxlen(&out->net);
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
		if (plen > cidr_maxlen(&out->net)) {
			*why = "bad prefix length";
			return false;
		}
		out->prefix = (uint8_t)plen;
	}
	/* Host bits below the prefix must be zero: "192.0.2.1/24" is more
	 * likely a typo than a network. */
	for (i = out->prefix; i < cidr_maxlen(&out->net); i++)
		if (out->net.bytes[i / 8] & (0x80 >> (i % 8))) {
			*why = "host bits set";
			return false;
		}
	return true;
}

bool
cidr_set_add(struct cidr_set *set, const struct cidr *c)
{
	struct cidr *nv;
	uint32_t i, ncap;

	if (c->net.family != 4 && c->net.family != 6)
		return false;
	if (c->prefix > cidr_maxlen(&c->net))
		return false;
	for (i = 0; i < set->count; i++)
		if (set->v[i].prefix == c->prefix &&
		    rg_addr_eq(&set->v[i].net, &c->net))
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
	set->v[set->count++] = *c;
	return true;
}

bool
cidr_contains(const struct cidr *c, const struct rg_addr *a)
{
	if (a == NULL || c->net.family != a->family ||
	    (a->family != 4 && a->family != 6))
		return false;
	if (c->prefix > cidr_maxlen(a))
		return false;
	return cidr_prefix_eq(c->net.bytes, a->bytes, c->prefix);
}

bool
cidr_set_contains(const struct cidr_set *set, const struct rg_addr *a)
{
	uint32_t i;

	if (set == NULL || a == NULL)
		return false;
	for (i = 0; i < set->count; i++)
		if (cidr_contains(&set->v[i], a))
			return true;
	return false;
}

void
cidr_set_free(struct cidr_set *set)
{
	if (set == NULL)
		return;
	free(set->v);
	set->v = NULL;
	set->count = 0;
}

const char *
cidr_str(const struct cidr *c, char *buf, size_t len)
{
	char a[RG_ADDRSTRLEN];
	int r;

	if (len == 0)
		return buf;
	rg_addr_str(&c->net, a, sizeof(a));
	r = snprintf(buf, len, "%s/%u", a, (unsigned)c->prefix);
	if (r < 0)
		buf[0] = '\0';
	return buf;
}
