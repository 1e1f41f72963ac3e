/*
 * decode.c — link, IP and TCP header decoding with explicit bounds checks.
 *
 * Every read is preceded by a check against two limits: what was captured
 * (caplen) and what the enclosing header says it holds (IP total length,
 * IPv6 payload length, TCP data offset).  The smaller one wins, so Ethernet
 * trailer padding never becomes payload and a lying length never lets a read
 * run past the capture.
 *
 * This runs once per packet at line rate: no allocation, no calls per byte,
 * one pass over the headers.  TCP options are only walked on SYN segments,
 * the only ones whose MSS and window scale a receiver honours.
 */
#include <string.h>

#include "decode.h"

#define DECODE_ETH_HLEN		14
#define DECODE_SLL_HLEN		16
#define DECODE_SLL2_HLEN	20
#define DECODE_NULL_HLEN	4
#define DECODE_IP4_HLEN		20
#define DECODE_IP6_HLEN		40
#define DECODE_TCP_HLEN		20

#define DECODE_ETHERTYPE_IP4	0x0800
#define DECODE_ETHERTYPE_IP6	0x86DD
#define DECODE_ETHERTYPE_8021Q	0x8100
#define DECODE_ETHERTYPE_8021AD	0x88A8
#define DECODE_ETHERTYPE_QINQ	0x9100	/* pre-802.1ad vendor QinQ */

/* More stacked tags than any real network uses; bounds the loop. */
#define DECODE_MAX_VLAN_TAGS	8

/* Legacy DLT_RAW values some pcap writers put in the file header. */
#define DECODE_LINK_RAW_LEGACY12	12
#define DECODE_LINK_RAW_LEGACY14	14

#define DECODE_IPPROTO_HOPOPTS	0
#define DECODE_IPPROTO_TCP	6
#define DECODE_IPPROTO_ROUTING	43
#define DECODE_IPPROTO_FRAGMENT	44
#define DECODE_IPPROTO_ESP	50
#define DECODE_IPPROTO_AH	51
#define DECODE_IPPROTO_NONE	59
#define DECODE_IPPROTO_DSTOPTS	60

#define DECODE_TCPOPT_EOL	0
#define DECODE_TCPOPT_NOP	1
#define DECODE_TCPOPT_MSS	2
#define DECODE_TCPOPT_WSCALE	3
#define DECODE_TCP_MAX_WSCALE	14	/* RFC 7323 2.3; Linux clamps too */

/* What the link layer says follows it. */
enum decode_l3 {
	DECODE_L3_NONE,		/* ARP, LLC, unknown AF: not IP */
	DECODE_L3_IP4,
	DECODE_L3_IP6,
	DECODE_L3_ANY,		/* raw: the IP version nibble decides */
};

static inline uint16_t
decode_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t
decode_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static enum decode_l3
decode_ethertype_l3(uint16_t type)
{
	if (type == DECODE_ETHERTYPE_IP4)
		return DECODE_L3_IP4;
	if (type == DECODE_ETHERTYPE_IP6)
		return DECODE_L3_IP6;
	return DECODE_L3_NONE;
}

/*
 * Follow an EtherType at type_off, skipping stacked VLAN tags; the network
 * header starts at *l3_off (initially just after the EtherType field).  Used
 * for Ethernet and both cooked Linux headers, since libpcap reinserts VLAN
 * tags into cooked captures too.
 */
static enum decode_result
decode_ethertype(const uint8_t *data, size_t caplen, size_t type_off,
    size_t *l3_off, enum decode_l3 *l3)
{
	size_t off = *l3_off;
	uint16_t type;
	int tags;

	if (caplen < off)
		return DECODE_MALFORMED;
	type = decode_be16(data + type_off);
	for (tags = 0; type == DECODE_ETHERTYPE_8021Q ||
	    type == DECODE_ETHERTYPE_8021AD ||
	    type == DECODE_ETHERTYPE_QINQ; tags++) {
		/* A tag is 2 bytes of TCI then the next EtherType. */
		if (tags == DECODE_MAX_VLAN_TAGS || caplen - off < 4)
			return DECODE_MALFORMED;
		type = decode_be16(data + off + 2);
		off += 4;
	}
	*l3_off = off;
	*l3 = decode_ethertype_l3(type);
	return DECODE_OK;
}

/* Address families that mean IPv4 or IPv6 in a loopback header. */
static enum decode_l3
decode_af_l3(uint32_t af)
{
	switch (af) {
	case 2:			/* AF_INET everywhere */
		return DECODE_L3_IP4;
	case 10:		/* Linux AF_INET6 */
	case 24:		/* OpenBSD, NetBSD */
	case 28:		/* FreeBSD, DragonFly */
	case 30:		/* macOS */
		return DECODE_L3_IP6;
	default:
		return DECODE_L3_NONE;
	}
}

/*
 * Find the network header: its offset and which IP version the link layer
 * announces.  Only the link header is examined here.
 */
static enum decode_result
decode_link(int linktype, const uint8_t *data, size_t caplen,
    size_t *l3_off, enum decode_l3 *l3)
{
	uint32_t af;

	switch (linktype) {
	case DECODE_LINK_ETHERNET:
		*l3_off = DECODE_ETH_HLEN;
		return decode_ethertype(data, caplen, 12, l3_off, l3);
	case DECODE_LINK_LINUX_SLL:
		*l3_off = DECODE_SLL_HLEN;
		return decode_ethertype(data, caplen, 14, l3_off, l3);
	case DECODE_LINK_LINUX_SLL2:
		*l3_off = DECODE_SLL2_HLEN;
		return decode_ethertype(data, caplen, 0, l3_off, l3);
	case DECODE_LINK_NULL:
		if (caplen < DECODE_NULL_HLEN)
			return DECODE_MALFORMED;
		/*
		 * Host byte order of the capturing machine, which may not
		 * be ours: every AF we accept is below 256, so whichever
		 * end holds the non-zero byte tells the order.
		 */
		if (data[1] == 0 && data[2] == 0 && data[3] == 0)
			af = data[0];
		else if (data[0] == 0 && data[1] == 0 && data[2] == 0)
			af = data[3];
		else
			af = UINT32_MAX;
		*l3_off = DECODE_NULL_HLEN;
		*l3 = decode_af_l3(af);
		return DECODE_OK;
	case DECODE_LINK_LOOP:
		if (caplen < DECODE_NULL_HLEN)
			return DECODE_MALFORMED;
		*l3_off = DECODE_NULL_HLEN;
		*l3 = decode_af_l3(decode_be32(data));
		return DECODE_OK;
	case DECODE_LINK_RAW:
	case DECODE_LINK_RAW_LEGACY12:
	case DECODE_LINK_RAW_LEGACY14:
		*l3_off = 0;
		*l3 = DECODE_L3_ANY;
		return DECODE_OK;
	case DECODE_LINK_IPV4:
		*l3_off = 0;
		*l3 = DECODE_L3_IP4;
		return DECODE_OK;
	case DECODE_LINK_IPV6:
		*l3_off = 0;
		*l3 = DECODE_L3_IP6;
		return DECODE_OK;
	default:
		return DECODE_UNSUPPORTED;
	}
}

/* The ports of a first fragment of TCP, if captured (and its sequence
 * numbers and flags, or zeros): n bytes at th. */
static void
decode_frag_ports(const uint8_t *th, size_t n, struct decode_packet *out)
{
	if (n < 4)
		return;
	out->sport = decode_be16(th);
	out->dport = decode_be16(th + 2);
	out->seq = n >= 14 ? decode_be32(th + 4) : 0;
	out->ack = n >= 14 ? decode_be32(th + 8) : 0;
	out->flags = n >= 14 ? th[13] & 0x3f : 0;
	out->frag_first = true;
}

/* A walk that passed a first fragment's header ends as a fragment. */
static enum decode_result
decode_ip6_stop(bool first, enum decode_result r)
{
	return first ? DECODE_FRAGMENT : r;
}

/*
 * IPv4 header at ip, cap bytes captured from it on.  On success *hlen is
 * the header length and *iplen the total length claimed by the header.
 */
static enum decode_result
decode_ip4(const uint8_t *ip, size_t cap, struct decode_packet *out,
    size_t *hlen, size_t *iplen)
{
	size_t ihl, tot;
	uint16_t frag;

	if (cap < DECODE_IP4_HLEN || (ip[0] >> 4) != 4)
		return DECODE_MALFORMED;
	ihl = (size_t)(ip[0] & 0x0f) * 4;
	tot = decode_be16(ip + 2);
	if (ihl < DECODE_IP4_HLEN || ihl > cap || tot < ihl)
		return DECODE_MALFORMED;
	out->ttl = ip[8];
	out->src.family = 4;
	out->dst.family = 4;
	memset(out->src.bytes, 0, sizeof(out->src.bytes));
	memset(out->dst.bytes, 0, sizeof(out->dst.bytes));
	memcpy(out->src.bytes, ip + 12, 4);
	memcpy(out->dst.bytes, ip + 16, 4);
	/* A fragment of any protocol: the upper header is not all here.  A
	 * first one of TCP shows its ports (decode.h). */
	frag = decode_be16(ip + 6);
	if ((frag & 0x3fff) != 0) {	/* MF or a non-zero offset; DF is fine */
		if ((frag & 0x1fff) == 0 && ip[9] == DECODE_IPPROTO_TCP)
			decode_frag_ports(ip + ihl, (tot < cap ? tot : cap) -
			    ihl, out);
		return DECODE_FRAGMENT;
	}
	if (ip[9] != DECODE_IPPROTO_TCP)
		return DECODE_NOT_TCP;
	*hlen = ihl;
	*iplen = tot;
	return DECODE_OK;
}

/*
 * IPv6 header and extension headers; *hlen covers both.  Extension headers
 * must lie inside the payload length and inside the capture: a capture cut
 * within them is malformed rather than a short payload.
 */
static enum decode_result
decode_ip6(const uint8_t *ip, size_t cap, struct decode_packet *out,
    size_t *hlen, size_t *iplen)
{
	size_t tot, lim, off, len;
	uint8_t nh;
	uint16_t frag;
	bool first = false;	/* past a first fragment's header */
	int n;

	if (cap < DECODE_IP6_HLEN || (ip[0] >> 4) != 6)
		return DECODE_MALFORMED;
	tot = DECODE_IP6_HLEN + (size_t)decode_be16(ip + 4);
	lim = tot < cap ? tot : cap;
	out->ttl = ip[7];
	out->src.family = 6;
	out->dst.family = 6;
	memcpy(out->src.bytes, ip + 8, 16);
	memcpy(out->dst.bytes, ip + 24, 16);
	nh = ip[6];
	off = DECODE_IP6_HLEN;
	/*
	 * No count limit: Linux walks any number of extension headers (so
	 * does nft's `tcp dport`), and a packet it would deliver must not be
	 * taken for malformed (inline, that means dropped).  The walk is
	 * bounded by the length: each header moves off by 8 bytes or more
	 * and must end inside lim (at most 65,575), so at most 8,192 steps,
	 * the cost of reading the packet once.
	 */
	for (n = 0; nh != DECODE_IPPROTO_TCP; n++) {
		switch (nh) {
		case DECODE_IPPROTO_HOPOPTS:
			/* Only directly after the fixed header (RFC 8200
			 * 4.3); a jumbogram's zero payload length fails the
			 * bounds check below. */
			if (n != 0)
				return decode_ip6_stop(first,
				    DECODE_MALFORMED);
			/* FALLTHROUGH */
		case DECODE_IPPROTO_ROUTING:
		case DECODE_IPPROTO_DSTOPTS:
			if (lim - off < 8)
				return decode_ip6_stop(first,
				    DECODE_MALFORMED);
			len = ((size_t)ip[off + 1] + 1) * 8;
			break;
		case DECODE_IPPROTO_AH:
			/* RFC 4302: length in 4-byte units, minus 2. */
			if (lim - off < 8)
				return decode_ip6_stop(first,
				    DECODE_MALFORMED);
			len = ((size_t)ip[off + 1] + 2) * 4;
			break;
		case DECODE_IPPROTO_FRAGMENT:
			if (lim - off < 8)
				return decode_ip6_stop(first,
				    DECODE_MALFORMED);
			/* An atomic fragment (RFC 6946) is a whole packet;
			 * past a first one (offset 0, M set) the walk goes
			 * on to its ports (decode.h). */
			frag = decode_be16(ip + off + 2);
			if ((frag & 0xfff8) != 0 || first)
				return DECODE_FRAGMENT;
			if ((frag & 0x0001) != 0)	/* M set */
				first = true;
			len = 8;
			break;
		default:
			/* ESP, no next header, UDP, ICMPv6, ...: the TCP
			 * header, if any, is out of reach. */
			return decode_ip6_stop(first, DECODE_NOT_TCP);
		}
		if (lim - off < len)
			return decode_ip6_stop(first, DECODE_MALFORMED);
		nh = ip[off];
		off += len;
	}
	if (first) {
		decode_frag_ports(ip + off, lim - off, out);
		return DECODE_FRAGMENT;
	}
	*hlen = off;
	*iplen = tot;
	return DECODE_OK;
}

/*
 * MSS and window scale from a SYN's options.  Like Linux, an option with an
 * impossible length ends the walk without rejecting the segment, and an
 * option of the wrong size is ignored.
 */
static void
decode_tcp_options(const uint8_t *opt, size_t len, struct decode_packet *out)
{
	size_t i = 0, olen;

	while (i < len) {
		if (opt[i] == DECODE_TCPOPT_EOL)
			break;
		if (opt[i] == DECODE_TCPOPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			break;
		olen = opt[i + 1];
		if (olen < 2 || olen > len - i)
			break;
		if (opt[i] == DECODE_TCPOPT_MSS && olen == 4)
			out->mss = decode_be16(opt + i + 2);
		else if (opt[i] == DECODE_TCPOPT_WSCALE && olen == 3)
			out->wscale = (int8_t)(opt[i + 2] > DECODE_TCP_MAX_WSCALE ?
			    DECODE_TCP_MAX_WSCALE : opt[i + 2]);
		i += olen;
	}
}

enum decode_result
decode_packet(int linktype, const uint8_t *data, size_t caplen,
    size_t wirelen, struct decode_packet *out)
{
	enum decode_result r;
	enum decode_l3 l3;
	const uint8_t *ip, *th;
	size_t l3_off, cap, hlen, iplen, seglen, segcap, thlen;

	/* IP lengths, not the frame length, say what the packet holds; but
	 * an IP length past the end of the frame as it was on the wire is a
	 * lie (a snap length may cut the capture, never the packet). */
	if (wirelen < caplen)
		wirelen = caplen;
	out->frag_first = false;
	r = decode_link(linktype, data, caplen, &l3_off, &l3);
	if (r != DECODE_OK)
		return r;
	if (l3_off > caplen)
		return DECODE_MALFORMED;
	ip = data + l3_off;
	cap = caplen - l3_off;
	if (l3 == DECODE_L3_ANY) {
		if (cap == 0)
			return DECODE_MALFORMED;
		l3 = (ip[0] >> 4) == 6 ? DECODE_L3_IP6 : DECODE_L3_IP4;
	}
	if (l3 == DECODE_L3_IP4)
		r = decode_ip4(ip, cap, out, &hlen, &iplen);
	else if (l3 == DECODE_L3_IP6)
		r = decode_ip6(ip, cap, out, &hlen, &iplen);
	else
		r = DECODE_NOT_TCP;
	if (r != DECODE_OK)
		return r;
	if (iplen > wirelen - l3_off)
		return DECODE_MALFORMED;

	/* hlen <= min(iplen, cap) holds here. */
	seglen = iplen - hlen;
	segcap = (iplen < cap ? iplen : cap) - hlen;
	if (segcap < DECODE_TCP_HLEN)
		return DECODE_MALFORMED;
	th = ip + hlen;
	thlen = (size_t)(th[12] >> 4) * 4;
	if (thlen < DECODE_TCP_HLEN || thlen > segcap)
		return DECODE_MALFORMED;

	out->sport = decode_be16(th);
	out->dport = decode_be16(th + 2);
	out->seq = decode_be32(th + 4);
	out->ack = decode_be32(th + 8);
	out->flags = th[13] & 0x3f;
	out->window = decode_be16(th + 14);
	out->urg_ptr = decode_be16(th + 18);
	out->wscale = -1;
	out->mss = 0;
	if ((out->flags & DECODE_TH_SYN) && thlen > DECODE_TCP_HLEN)
		decode_tcp_options(th + DECODE_TCP_HLEN,
		    thlen - DECODE_TCP_HLEN, out);
	out->payload = th + thlen;
	out->payload_len = (uint32_t)(segcap - thlen);
	out->payload_wire_len = (uint32_t)(seglen - thlen);
	out->l3_off = (uint32_t)l3_off;
	out->l4_off = (uint32_t)(l3_off + hlen);
	out->l3_len = (uint32_t)iplen;
	return DECODE_OK;
}

/*
 * Ones' complement sum (RFC 1071) of n bytes, added to sum.  Words are
 * loaded in host order: the folded result is then the checksum as it lies
 * in memory, whatever the host's byte order.  32-bit loads into a 64-bit
 * accumulator cannot overflow for anything an IP packet can hold.
 */
static uint64_t
decode_csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
	uint32_t w[4];
	uint16_t h;
	uint8_t last[2];

	while (n >= sizeof(w)) {
		memcpy(w, p, sizeof(w));
		sum += (uint64_t)w[0] + w[1] + w[2] + w[3];
		p += sizeof(w);
		n -= sizeof(w);
	}
	while (n >= 4) {
		memcpy(w, p, 4);
		sum += w[0];
		p += 4;
		n -= 4;
	}
	if (n >= 2) {
		memcpy(&h, p, 2);
		sum += h;
		p += 2;
		n -= 2;
	}
	if (n == 1) {
		/* The odd byte is the high-order byte of a zero-padded
		 * word in network order. */
		last[0] = p[0];
		last[1] = 0;
		memcpy(&h, last, 2);
		sum += h;
	}
	return sum;
}

static uint16_t
decode_csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * The unfolded sum over pseudo-header and segment of a decoded, fully
 * captured packet; false when the segment is not all in the frame.  The
 * checks do not trust *p: it may come from a different frame than the one
 * passed.
 */
static bool
decode_tcp_sum(const uint8_t *frame, size_t caplen,
    const struct decode_packet *p, uint64_t *sum)
{
	uint8_t ph[40];
	size_t tcplen, phlen;

	if (p->payload_len != p->payload_wire_len || p->l4_off < p->l3_off ||
	    p->l4_off - p->l3_off > p->l3_len)
		return false;
	tcplen = p->l3_len - (p->l4_off - p->l3_off);
	if (tcplen < DECODE_TCP_HLEN || p->l4_off > caplen ||
	    caplen - p->l4_off < tcplen || tcplen > 0xffff)
		return false;
	if (p->src.family == 4 && p->dst.family == 4) {
		memcpy(ph, p->src.bytes, 4);
		memcpy(ph + 4, p->dst.bytes, 4);
		ph[8] = 0;
		ph[9] = DECODE_IPPROTO_TCP;
		ph[10] = (uint8_t)(tcplen >> 8);
		ph[11] = (uint8_t)tcplen;
		phlen = 12;
	} else if (p->src.family == 6 && p->dst.family == 6) {
		/* With a routing header the final destination belongs here;
		 * we use the header's, right wherever the packet is
		 * delivered (segments left 0). */
		memcpy(ph, p->src.bytes, 16);
		memcpy(ph + 16, p->dst.bytes, 16);
		ph[32] = 0;
		ph[33] = 0;
		ph[34] = (uint8_t)(tcplen >> 8);
		ph[35] = (uint8_t)tcplen;
		ph[36] = 0;
		ph[37] = 0;
		ph[38] = 0;
		ph[39] = DECODE_IPPROTO_TCP;
		phlen = 40;
	} else
		return false;
	*sum = decode_csum_add(decode_csum_add(0, ph, phlen),
	    frame + p->l4_off, tcplen);
	return true;
}

bool
decode_tcp_checksum_ok(const uint8_t *frame, size_t caplen,
    const struct decode_packet *p)
{
	uint64_t sum;

	if (!decode_tcp_sum(frame, caplen, p, &sum))
		return false;
	return decode_csum_fold(sum) == 0xffff;
}

void
decode_tcp_checksum_fix(uint8_t *frame, size_t caplen,
    const struct decode_packet *p)
{
	uint64_t sum;
	uint16_t ck;

	if (!decode_tcp_sum(frame, caplen, p, &sum))
		return;
	/* Take the old checksum back out of the sum (adding its ones'
	 * complement subtracts it) rather than zeroing the field first,
	 * so a frame we refuse is left untouched. */
	memcpy(&ck, frame + p->l4_off + 16, 2);
	sum += (uint16_t)~ck;
	/* Host-order sum of host-order words: store it as it is. */
	ck = (uint16_t)~decode_csum_fold(sum);
	memcpy(frame + p->l4_off + 16, &ck, 2);
}

bool
decode_ip_checksum_ok(const uint8_t *frame, size_t caplen,
    const struct decode_packet *p)
{
	size_t ihl;

	if (p->src.family != 4)
		return true;	/* IPv6 has no header checksum */
	if (p->l3_off > caplen || caplen - p->l3_off < DECODE_IP4_HLEN)
		return false;
	ihl = (size_t)(frame[p->l3_off] & 0x0f) * 4;
	if (ihl < DECODE_IP4_HLEN || caplen - p->l3_off < ihl)
		return false;
	return decode_csum_fold(decode_csum_add(0, frame + p->l3_off, ihl)) ==
	    0xffff;
}

const char *
decode_result_str(enum decode_result r)
{
	switch (r) {
	case DECODE_OK:
		return "ok";
	case DECODE_NOT_TCP:
		return "not-tcp";
	case DECODE_FRAGMENT:
		return "fragment";
	case DECODE_MALFORMED:
		return "malformed";
	case DECODE_UNSUPPORTED:
		return "unsupported";
	}
	return "unknown";
}
