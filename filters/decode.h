/*
 * decode.h — link, IP and TCP header decoding with explicit bounds checks.
 *
 * decode_packet() never reads outside [data, data+caplen) and never trusts a
 * length field: every header length is checked against what was captured and
 * against the enclosing header's own length.
 */
#ifndef DECODE_H
#define DECODE_H

#include "rg.h"

/* Link types: the pcap LINKTYPE_ numbers (the pcap file header's value). */
enum decode_link {
	DECODE_LINK_NULL = 0,		/* BSD loopback: 4-byte host-order AF */
	DECODE_LINK_ETHERNET = 1,	/* with 802.1Q / 802.1ad / QinQ tags */
	DECODE_LINK_RAW = 101,		/* raw IPv4 or IPv6; DLT_RAW 12 and 14
					 * are accepted as aliases */
	DECODE_LINK_LOOP = 108,		/* OpenBSD loopback: network-order AF */
	DECODE_LINK_LINUX_SLL = 113,
	DECODE_LINK_IPV4 = 228,
	DECODE_LINK_IPV6 = 229,
	DECODE_LINK_LINUX_SLL2 = 276,
	/* NFQUEUE hands the daemon bare IP packets: same as RAW. */
};

enum decode_result {
	DECODE_OK = 0,		/* a TCP segment; *out filled */
	DECODE_NOT_TCP,		/* well-formed, but not TCP (ARP, UDP, ...) */
	DECODE_FRAGMENT,	/* an IPv4/IPv6 fragment: not reassembled */
	DECODE_MALFORMED,	/* a length or field does not add up */
	DECODE_UNSUPPORTED,	/* unknown link type */
};

#define DECODE_TH_FIN 0x01
#define DECODE_TH_SYN 0x02
#define DECODE_TH_RST 0x04
#define DECODE_TH_PSH 0x08
#define DECODE_TH_ACK 0x10
#define DECODE_TH_URG 0x20

struct decode_packet {
	struct rg_addr src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;		/* DECODE_TH_* */
	uint8_t ttl;		/* IPv4 TTL or IPv6 hop limit */
	uint16_t window;	/* raw, unscaled */
	uint16_t urg_ptr;
	int8_t wscale;		/* window scale option on SYN, -1 if absent;
				 * clamped to 14 as Linux does */
	uint16_t mss;		/* MSS option on SYN, 0 if absent */
	/* Options are read only on SYN segments (elsewhere a receiver
	 * ignores MSS and window scale).  An option with an impossible
	 * length ends the walk, Linux-style, without rejecting the segment;
	 * an MSS or window scale of the wrong size is ignored. */
	/* Payload as captured: payload_len may be less than payload_wire_len
	 * when the capture snap length cut the packet; the missing tail is a
	 * gap to the reassembler. */
	const uint8_t *payload;
	uint32_t payload_len;
	uint32_t payload_wire_len;
	/* Offsets from the start of the frame, for in-place rewriting. */
	uint32_t l3_off, l4_off;
	uint32_t l3_len;		/* IP header + payload as per IP length */
	/* After DECODE_FRAGMENT: src, dst and ttl are set, and frag_first
	 * says whether it is the first fragment (offset 0, more to come) of
	 * a TCP segment with its ports captured; then sport and dport are
	 * set too, and seq, ack and flags (zeros if not captured).  (A
	 * passive sensor refuses those: engine.c.) */
	bool frag_first;
};

/*
 * Decode one frame of the given link type.  caplen bytes are readable at
 * data; wirelen is the original length (>= caplen; pass caplen if unknown).
 * wirelen is informational: the IP length fields decide what the packet
 * holds, so Ethernet padding past them is never payload.
 *
 * Where the capture ends matters:
 *  - a cut inside the link, IP (options, IPv6 extension headers) or TCP
 *    header (options included) is DECODE_MALFORMED;
 *  - a cut inside the payload is DECODE_OK with payload_len <
 *    payload_wire_len (also when the IP length claims more than the frame
 *    holds: the reassembler sees a gap).
 * An IP length smaller than the headers it must hold is DECODE_MALFORMED.
 * A fragment (IPv4 MF or offset, IPv6 fragment header other than an atomic
 * one) is DECODE_FRAGMENT whatever its protocol; IPv6 ESP, "no next header"
 * and non-TCP protocols are DECODE_NOT_TCP, as are non-IP EtherTypes and
 * address families.  A hop-by-hop header after the first place, more than
 * 8 VLAN tags, and jumbograms are DECODE_MALFORMED; any number of IPv6
 * extension headers is walked (as Linux does), within the packet.
 * *out is only meaningful after DECODE_OK (it may be partly written
 * otherwise); every field is then set.  After DECODE_FRAGMENT, see
 * frag_first.
 */
enum decode_result decode_packet(int linktype, const uint8_t *data,
    size_t caplen, size_t wirelen, struct decode_packet *out);

/* Verify the TCP checksum of a fully captured segment (pseudo-header
 * included); false if it is wrong or the segment was not fully captured. */
bool decode_tcp_checksum_ok(const uint8_t *frame, size_t caplen,
    const struct decode_packet *p);

/* Recompute and store the TCP checksum in place (after a rewrite). */
void decode_tcp_checksum_fix(uint8_t *frame, size_t caplen,
    const struct decode_packet *p);

/* Verify the IPv4 header checksum (a receiver drops a packet failing it);
 * true for IPv6, which has none.  (Addition to the original contract.) */
bool decode_ip_checksum_ok(const uint8_t *frame, size_t caplen,
    const struct decode_packet *p);

/* "ok", "not-tcp", "fragment", "malformed", "unsupported". */
const char *decode_result_str(enum decode_result r);

#endif
