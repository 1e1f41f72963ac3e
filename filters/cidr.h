/*
 * cidr.h — sets of IPv4/IPv6 networks (relay-networks, never-block,
 * servers) and membership tests.  A set keeps its networks in the order
 * added (v, for printing and for the kernel's sets) and a hash index: a
 * lookup costs one probe per distinct prefix length in the set, however
 * many networks it holds (CIDR_MAX at most, the servers the kernel rules
 * take).
 */
#ifndef CIDR_H
#define CIDR_H

#include "rg.h"

#define CIDR_MAX 65536

struct cidr {
	struct rg_addr net;	/* host bits zero */
	uint8_t prefix;		/* 0..32 or 0..128 */
};

/* All zero is an empty set. */
struct cidr_set {
	uint32_t count;
	struct cidr *v;		/* in the order added, duplicates once */
	uint32_t *slots;	/* index + 1 into v, 0: empty */
	uint32_t nslots;	/* a power of two above 2 * count, or 0 */
	uint64_t len4;		/* bit L: an IPv4 network of prefix L */
	uint64_t len6[3];	/* bit L: an IPv6 network of prefix L */
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
