/*
 * cidr.h — relayguard's one prefix type, and sets of them (relay-networks,
 * never-block, servers) with membership tests.
 *
 * struct cidr is the prefix everywhere: the configuration's networks, the
 * kernel's set elements (daemon/nft.h), the store's keys and the blocks.
 * One parse (cidr_parse, cidr_make), one format (cidr_str), one
 * containment test (cidr_covers, cidr_contains for an address), one
 * family representation (rg_addr's 4 or 6) and one length (0..32,
 * 0..128).
 *
 * A set keeps its networks in the order added (v, for printing and for
 * the kernel's sets) and a hash index: a lookup costs one probe per
 * distinct prefix length in the set, however many networks it holds
 * (CIDR_MAX at most, the servers the kernel rules take).
 */
#ifndef CIDR_H
#define CIDR_H

#include "hindex.h"
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
	struct hindex ix;	/* by (family, prefix, network) */
	uint64_t len4;		/* bit L: an IPv4 network of prefix L */
	uint64_t len6[3];	/* bit L: an IPv6 network of prefix L */
};

/*
 * Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (a host route:
 * /32, /128).  The length is one to three decimal digits within the
 * family's width (leading zeros allowed: "/024").  Host bits set below the
 * prefix are an error (as Postfix warns).  A v4-mapped address
 * (::ffff:192.0.2.1) is IPv6, as the kernel sees it.  Errors are reported
 * through *why ("bad address", "bad prefix length", "host bits set").
 */
bool cidr_parse(const char *s, size_t len, struct cidr *out, const char **why);
/* The prefix a/prefix, with cidr_parse's rules on length and host bits. */
bool cidr_make(const struct rg_addr *a, unsigned prefix, struct cidr *out,
    const char **why);
/* The width of a family in bits: 32 for 4, 128 for 6, 0 for anything else. */
unsigned cidr_width(unsigned family);
/* Known family, length within its width, no host bits set. */
bool cidr_valid(const struct cidr *c);
/* Does outer cover inner: same family, outer no longer, the same leading
 * bits?  A prefix covers itself. */
bool cidr_covers(const struct cidr *outer, const struct cidr *inner);
/* Is the address a inside c? */
bool cidr_contains(const struct cidr *c, const struct rg_addr *a);
bool cidr_set_add(struct cidr_set *set, const struct cidr *c);
bool cidr_set_contains(const struct cidr_set *set, const struct rg_addr *a);
void cidr_set_free(struct cidr_set *set);
/* "192.0.2.0/24", "2001:db8::1/128" (always with the length); "?" when
 * buf is too small or c's family is unknown, never a clipped prefix. */
const char *cidr_str(const struct cidr *c, char *buf, size_t len);
/* Room cidr_str needs: an IPv6 address, '/', three digits, NUL. */
#define CIDR_STRLEN (RG_ADDRSTRLEN + 4)

#endif
