/*
 * cidr.h — sets of IPv4/IPv6 networks (relay-networks) and membership
 * tests.  A set is an unsorted array in insertion order and a lookup is a
 * linear scan that stops at the first match: the lists are short (tens of
 * entries, CIDR_MAX at most) and this is cache-friendly.
 */
#ifndef CIDR_H
#define CIDR_H

#include "rg.h"

#define CIDR_MAX 4096

struct cidr {
	struct rg_addr net;	/* host bits zero */
	uint8_t prefix;		/* 0..32 or 0..128 */
};

struct cidr_set {
	uint32_t count;
	struct cidr *v;
};

/* Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (a host route).
 * Host bits set below the prefix are an error (as Postfix warns), reported
 * through *why. */
bool cidr_parse(const char *s, size_t len, struct cidr *out, const char **why);
bool cidr_set_add(struct cidr_set *set, const struct cidr *c);
bool cidr_contains(const struct cidr *c, const struct rg_addr *a);
bool cidr_set_contains(const struct cidr_set *set, const struct rg_addr *a);
void cidr_set_free(struct cidr_set *set);
/* "192.0.2.0/24" */
const char *cidr_str(const struct cidr *c, char *buf, size_t len);

#endif
