/*
 * test_decode.c — frames assembled by hand for every link type, IPv4 with
 * options, IPv6 with extension headers and TCP with options; every field
 * checked, every truncation tried, checksums against a byte-by-byte
 * reference; then real captures decoded packet by packet with totals
 * cross-checked against tshark.
 */
#include <errno.h>
#include <stdlib.h>

#include "test.h"
#include "../../filters/decode.c"
#include "decode_corpus.h"

#define T_SPORT		40000
#define T_DPORT		25
#define T_SEQ		0x11223344u
#define T_ACK		0x55667788u
#define T_WIN		29200
#define T_URG		7
#define T_TTL4		64
#define T_HLIM6		57

static const uint8_t t_src4[4] = { 192, 0, 2, 1 };
static const uint8_t t_dst4[4] = { 198, 51, 100, 25 };
static const uint8_t t_src6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0x10 };
static const uint8_t t_dst6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0x25 };

/* What an IP packet carrying a TCP segment is made of. */
struct ip_spec {
	int v6;
	const uint8_t *ip4opt;		/* IPv4 options, multiple of 4 */
	size_t ip4optlen;
	uint16_t frag;			/* IPv4 flags + fragment offset */
	const uint8_t *ext;		/* IPv6 extension header chain */
	size_t extlen;
	uint8_t ext_nh;			/* first next header if ext */
	uint8_t proto;			/* 0: TCP */
	const uint8_t *tcpopt;		/* multiple of 4 */
	size_t tcpoptlen;
	const uint8_t *payload;
	size_t plen;
	uint8_t flags;
	int iplen_adj;			/* added to the IP length field */
	int doff_override;		/* TCP data offset if non-zero */
};

/* The reference: RFC 1071 a byte pair at a time, big-endian words. */
static uint32_t
ref_sum(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t
ref_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t
ref_tcp_csum(int v6, const uint8_t *src, const uint8_t *dst,
    const uint8_t *seg, size_t len)
{
	uint8_t ph[40];
	size_t phlen;

	memset(ph, 0, sizeof(ph));
	if (v6) {
		memcpy(ph, src, 16);
		memcpy(ph + 16, dst, 16);
		ph[34] = (uint8_t)(len >> 8);
		ph[35] = (uint8_t)len;
		ph[39] = 6;
		phlen = 40;
	} else {
		memcpy(ph, src, 4);
		memcpy(ph + 4, dst, 4);
		ph[9] = 6;
		ph[10] = (uint8_t)(len >> 8);
		ph[11] = (uint8_t)len;
		phlen = 12;
	}
	return (uint16_t)~ref_fold(ref_sum(ref_sum(0, ph, phlen), seg, len));
}

static void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

/* Assemble IP + TCP at b with correct checksums; returns the length. */
static size_t
build_ip(uint8_t *b, const struct ip_spec *s)
{
	size_t iph, thl, seglen, tot;
	uint8_t *th;
	uint16_t ck;

	iph = s->v6 ? 40 + s->extlen : 20 + s->ip4optlen;
	th = b + iph;
	thl = 20 + s->tcpoptlen;
	seglen = thl + s->plen;
	tot = iph + seglen;

	memset(th, 0, 20);
	put16(th, T_SPORT);
	put16(th + 2, T_DPORT);
	put32(th + 4, T_SEQ);
	put32(th + 8, T_ACK);
	th[12] = (uint8_t)((s->doff_override ? s->doff_override :
	    (int)(thl / 4)) << 4);
	th[13] = s->flags;
	put16(th + 14, T_WIN);
	put16(th + 18, T_URG);
	if (s->tcpoptlen)
		memcpy(th + 20, s->tcpopt, s->tcpoptlen);
	if (s->plen)
		memcpy(th + thl, s->payload, s->plen);

	if (s->v6) {
		memset(b, 0, 40);
		b[0] = 0x60;
		put16(b + 4, (uint32_t)((int)(tot - 40) + s->iplen_adj));
		b[6] = s->extlen ? s->ext_nh : (s->proto ? s->proto : 6);
		b[7] = T_HLIM6;
		memcpy(b + 8, t_src6, 16);
		memcpy(b + 24, t_dst6, 16);
		if (s->extlen)
			memcpy(b + 40, s->ext, s->extlen);
		ck = ref_tcp_csum(1, t_src6, t_dst6, th, seglen);
	} else {
		memset(b, 0, 20);
		b[0] = (uint8_t)(0x40 | (iph / 4));
		put16(b + 2, (uint32_t)((int)tot + s->iplen_adj));
		put16(b + 4, 0x1234);
		put16(b + 6, s->frag);
		b[8] = T_TTL4;
		b[9] = s->proto ? s->proto : 6;
		memcpy(b + 12, t_src4, 4);
		memcpy(b + 16, t_dst4, 4);
		if (s->ip4optlen)
			memcpy(b + 20, s->ip4opt, s->ip4optlen);
		put16(b + 10, (uint16_t)~ref_fold(ref_sum(0, b, iph)));
		ck = ref_tcp_csum(0, t_src4, t_dst4, th, seglen);
	}
	put16(th + 16, ck);
	return tot;
}

/* How to wrap an IP packet in a link header. */
struct link_spec {
	int link;
	const uint16_t *tags;		/* VLAN TPIDs, outermost first */
	int ntags;
	uint32_t af;			/* NULL/LOOP: AF, 0 = natural */
	int af_swapped;			/* NULL: big-endian AF */
	size_t pad_to;			/* Ethernet minimum frame padding */
};

/* Returns the frame length; *l3 gets the offset of the IP header. */
static size_t
wrap(uint8_t *f, const struct link_spec *l, int v6, const uint8_t *ip,
    size_t iplen, size_t *l3)
{
	static const uint8_t mac[12] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2 };
	uint16_t type = v6 ? 0x86dd : 0x0800;
	uint32_t af = l->af ? l->af : (v6 ? 10 : 2);
	size_t off = 0, len;
	int i;

	switch (l->link) {
	case DECODE_LINK_ETHERNET:
		memcpy(f, mac, 12);
		off = 12;
		for (i = 0; i < l->ntags; i++) {
			put16(f + off, l->tags[i]);
			put16(f + off + 2, (uint32_t)(100 + i));	/* TCI */
			off += 4;
		}
		put16(f + off, type);
		off += 2;
		break;
	case DECODE_LINK_LINUX_SLL:
		memset(f, 0, 16);
		put16(f + 2, 1);		/* ARPHRD_ETHER */
		put16(f + 4, 6);
		memcpy(f + 6, mac, 6);
		off = 14;
		for (i = 0; i < l->ntags; i++) {
			put16(f + off, l->tags[i]);
			put16(f + off + 2, (uint32_t)(100 + i));
			off += 4;
		}
		put16(f + off, type);
		off += 2;
		break;
	case DECODE_LINK_LINUX_SLL2:
		memset(f, 0, 20);
		put16(f, type);
		put32(f + 4, 3);		/* ifindex */
		put16(f + 8, 1);
		f[11] = 6;
		memcpy(f + 12, mac, 6);
		off = 20;
		break;
	case DECODE_LINK_NULL:
		if (l->af_swapped)
			put32(f, af);
		else {
			f[0] = (uint8_t)af;
			f[1] = (uint8_t)(af >> 8);
			f[2] = (uint8_t)(af >> 16);
			f[3] = (uint8_t)(af >> 24);
		}
		off = 4;
		break;
	case DECODE_LINK_LOOP:
		put32(f, af);
		off = 4;
		break;
	default:
		off = 0;
		break;
	}
	memcpy(f + off, ip, iplen);
	len = off + iplen;
	if (l->pad_to > len) {
		memset(f + len, 0xee, l->pad_to - len);
		len = l->pad_to;
	}
	*l3 = off;
	return len;
}

static const uint8_t t_payload[] = "MAIL FROM:<a@example.test>\r\n";
#define T_PLEN (sizeof(t_payload) - 1)

/* MSS 1460, NOP, wscale 7, SACK permitted, timestamps, NOP NOP */
static const uint8_t t_synopt[] = {
	2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0,
	1, 1, 1, 1 };

/* Decode frame f (exactly len bytes, copied to the heap so ASan sees any
 * over-read) and check every field against spec s. */
static void
check_frame(int link, const uint8_t *f, size_t len, size_t l3,
    const struct ip_spec *s, size_t hdrs)
{
	struct decode_packet p;
	uint8_t *copy = malloc(len ? len : 1);
	size_t iph = s->v6 ? 40 + s->extlen : 20 + s->ip4optlen;
	size_t thl = 20 + s->tcpoptlen;

	memcpy(copy, f, len);
	memset(&p, 0xa5, sizeof(p));
	ASSERT_INT_EQ(decode_packet(link, copy, len, len, &p), DECODE_OK);
	if (p.payload_len > len) {	/* not decoded: nothing to look at */
		free(copy);
		return;
	}
	ASSERT_INT_EQ(p.src.family, s->v6 ? 6 : 4);
	ASSERT_INT_EQ(p.dst.family, s->v6 ? 6 : 4);
	if (s->v6) {
		ASSERT_MEM_EQ(p.src.bytes, t_src6, 16);
		ASSERT_MEM_EQ(p.dst.bytes, t_dst6, 16);
		ASSERT_INT_EQ(p.ttl, T_HLIM6);
	} else {
		static const uint8_t zero[12];

		ASSERT_MEM_EQ(p.src.bytes, t_src4, 4);
		ASSERT_MEM_EQ(p.dst.bytes, t_dst4, 4);
		ASSERT_MEM_EQ(p.src.bytes + 4, zero, 12);
		ASSERT_MEM_EQ(p.dst.bytes + 4, zero, 12);
		ASSERT_INT_EQ(p.ttl, T_TTL4);
	}
	ASSERT_INT_EQ(p.sport, T_SPORT);
	ASSERT_INT_EQ(p.dport, T_DPORT);
	ASSERT_INT_EQ(p.seq, T_SEQ);
	ASSERT_INT_EQ(p.ack, T_ACK);
	ASSERT_INT_EQ(p.flags, s->flags & 0x3f);
	ASSERT_INT_EQ(p.window, T_WIN);
	ASSERT_INT_EQ(p.urg_ptr, T_URG);
	if ((s->flags & DECODE_TH_SYN) && s->tcpopt == t_synopt) {
		ASSERT_INT_EQ(p.mss, 1460);
		ASSERT_INT_EQ(p.wscale, 7);
	} else {
		ASSERT_INT_EQ(p.mss, 0);
		ASSERT_INT_EQ(p.wscale, -1);
	}
	ASSERT_INT_EQ(p.l3_off, l3);
	ASSERT_INT_EQ(p.l4_off, l3 + iph);
	ASSERT_INT_EQ(p.l3_len, iph + thl + s->plen);
	ASSERT_INT_EQ(hdrs, l3 + iph + thl);
	TEST_CHECK(p.payload == copy + hdrs);
	ASSERT_INT_EQ(p.payload_len, s->plen);
	ASSERT_INT_EQ(p.payload_wire_len, s->plen);
	if (s->plen)
		ASSERT_MEM_EQ(p.payload, s->payload, s->plen);
	TEST_CHECK(decode_tcp_checksum_ok(copy, len, &p));
	TEST_CHECK(decode_ip_checksum_ok(copy, len, &p));
	free(copy);
}

/*
 * Every prefix of the frame: a cut before the end of the TCP header is
 * MALFORMED, a cut in the payload is OK with a short payload_len.
 */
static void
check_truncations(int link, const uint8_t *f, size_t len, size_t hdrs,
    size_t plen)
{
	struct decode_packet p;
	enum decode_result r;
	size_t cut;
	uint8_t *copy;

	for (cut = 0; cut < len; cut++) {
		copy = malloc(cut ? cut : 1);
		memcpy(copy, f, cut);
		r = decode_packet(link, copy, cut, len, &p);
		if (cut < hdrs) {
			if (r != DECODE_MALFORMED)
				fprintf(stderr, "link %d cut %zu of %zu\n",
				    link, cut, len);
			ASSERT_INT_EQ(r, DECODE_MALFORMED);
		} else {
			ASSERT_INT_EQ(r, DECODE_OK);
			ASSERT_INT_EQ(p.payload_len, cut - hdrs);
			ASSERT_INT_EQ(p.payload_wire_len, plen);
			TEST_CHECK(p.payload == copy + hdrs);
			/* Not all there: never "ok", fix leaves it alone. */
			TEST_CHECK(!decode_tcp_checksum_ok(copy, cut, &p));
			decode_tcp_checksum_fix(copy, cut, &p);
			ASSERT_MEM_EQ(copy, f, cut);
		}
		free(copy);
	}
}

static const uint16_t tags_1q[] = { 0x8100 };
static const uint16_t tags_qinq[] = { 0x88a8, 0x8100 };
static const uint16_t tags_old[] = { 0x9100, 0x8100 };
static const uint16_t tags_8[] = { 0x88a8, 0x9100, 0x8100, 0x8100, 0x8100,
    0x8100, 0x8100, 0x8100, 0x8100 };

static const struct link_spec t_links[] = {
	{ .link = DECODE_LINK_ETHERNET },
	{ .link = DECODE_LINK_ETHERNET, .tags = tags_1q, .ntags = 1 },
	{ .link = DECODE_LINK_ETHERNET, .tags = tags_qinq, .ntags = 2 },
	{ .link = DECODE_LINK_ETHERNET, .tags = tags_old, .ntags = 2 },
	{ .link = DECODE_LINK_ETHERNET, .tags = tags_8, .ntags = 8 },
	{ .link = DECODE_LINK_LINUX_SLL },
	{ .link = DECODE_LINK_LINUX_SLL, .tags = tags_1q, .ntags = 1 },
	{ .link = DECODE_LINK_LINUX_SLL2 },
	{ .link = DECODE_LINK_NULL },
	{ .link = DECODE_LINK_NULL, .af_swapped = 1 },
	{ .link = DECODE_LINK_LOOP },
	{ .link = DECODE_LINK_RAW },
	{ .link = 12 },
	{ .link = 14 },
};

/* The same segment over every link type, IPv4 and IPv6, data and SYN. */
static void
test_links(void)
{
	uint8_t ip[2048], f[2048];
	struct ip_spec s;
	size_t iplen, len, l3, i;
	int v6, syn;

	for (v6 = 0; v6 <= 1; v6++) {
		for (syn = 0; syn <= 1; syn++) {
			memset(&s, 0, sizeof(s));
			s.v6 = v6;
			if (syn) {
				s.flags = DECODE_TH_SYN;
				s.tcpopt = t_synopt;
				s.tcpoptlen = sizeof(t_synopt);
			} else {
				/* ECE and CWR are not reported. */
				s.flags = DECODE_TH_ACK | DECODE_TH_PSH | 0xc0;
				s.payload = t_payload;
				s.plen = T_PLEN;
			}
			iplen = build_ip(ip, &s);
			for (i = 0; i < sizeof(t_links) / sizeof(t_links[0]);
			    i++) {
				len = wrap(f, &t_links[i], v6, ip, iplen, &l3);
				check_frame(t_links[i].link, f, len, l3, &s,
				    len - s.plen);
				check_truncations(t_links[i].link, f, len,
				    len - s.plen, s.plen);
			}
			/* The per-version link types. */
			check_frame(v6 ? DECODE_LINK_IPV6 : DECODE_LINK_IPV4,
			    ip, iplen, 0, &s, iplen - s.plen);
			check_truncations(v6 ? DECODE_LINK_IPV6 :
			    DECODE_LINK_IPV4, ip, iplen, iplen - s.plen,
			    s.plen);
		}
	}
}

static enum decode_result
decode_buf_wire(int link, const uint8_t *f, size_t len, size_t wirelen,
    struct decode_packet *p)
{
	enum decode_result r;
	uint8_t *copy = malloc(len ? len : 1);

	memcpy(copy, f, len);
	r = decode_packet(link, copy, len, wirelen, p);
	/* Pointers into the copy must not escape. */
	p->payload = NULL;
	free(copy);
	return r;
}

static enum decode_result
decode_buf(int link, const uint8_t *f, size_t len, struct decode_packet *p)
{
	return decode_buf_wire(link, f, len, len, p);
}

static void
test_link_edges(void)
{
	static const uint16_t tags_9[] = { 0x8100, 0x8100, 0x8100, 0x8100,
	    0x8100, 0x8100, 0x8100, 0x8100, 0x8100 };
	static const uint32_t af6[] = { 10, 24, 28, 30 };
	struct link_spec l;
	struct decode_packet p;
	uint8_t ip[256], ip6[256], f[512];
	struct ip_spec s;
	size_t iplen, ip6len, len, l3, i;

	memset(&s, 0, sizeof(s));
	s.flags = DECODE_TH_ACK;
	iplen = build_ip(ip, &s);
	s.v6 = 1;
	ip6len = build_ip(ip6, &s);

	/* Nine tags: past the bound. */
	memset(&l, 0, sizeof(l));
	l.link = DECODE_LINK_ETHERNET;
	l.tags = tags_9;
	l.ntags = 9;
	len = wrap(f, &l, 0, ip, iplen, &l3);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_ETHERNET, f, len, &p),
	    DECODE_MALFORMED);

	/* ARP, an 802.3 length field, and IPv4 EtherType with IPv6 inside. */
	memset(&l, 0, sizeof(l));
	l.link = DECODE_LINK_ETHERNET;
	len = wrap(f, &l, 0, ip, iplen, &l3);
	put16(f + 12, 0x0806);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_ETHERNET, f, len, &p),
	    DECODE_NOT_TCP);
	put16(f + 12, 46);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_ETHERNET, f, len, &p),
	    DECODE_NOT_TCP);
	len = wrap(f, &l, 1, ip6, ip6len, &l3);
	put16(f + 12, 0x0800);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_ETHERNET, f, len, &p),
	    DECODE_MALFORMED);
	/* A VLAN tag leading to ARP. */
	l.tags = tags_1q;
	l.ntags = 1;
	len = wrap(f, &l, 0, ip, iplen, &l3);
	put16(f + 16, 0x0806);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_ETHERNET, f, len, &p),
	    DECODE_NOT_TCP);

	/* Every IPv6 AF, both byte orders on NULL, network order on LOOP. */
	for (i = 0; i < sizeof(af6) / sizeof(af6[0]); i++) {
		memset(&l, 0, sizeof(l));
		l.link = DECODE_LINK_NULL;
		l.af = af6[i];
		len = wrap(f, &l, 1, ip6, ip6len, &l3);
		ASSERT_INT_EQ(decode_buf(DECODE_LINK_NULL, f, len, &p),
		    DECODE_OK);
		ASSERT_INT_EQ(p.src.family, 6);
		l.af_swapped = 1;
		len = wrap(f, &l, 1, ip6, ip6len, &l3);
		ASSERT_INT_EQ(decode_buf(DECODE_LINK_NULL, f, len, &p),
		    DECODE_OK);
		ASSERT_INT_EQ(p.src.family, 6);
		l.link = DECODE_LINK_LOOP;
		len = wrap(f, &l, 1, ip6, ip6len, &l3);
		ASSERT_INT_EQ(decode_buf(DECODE_LINK_LOOP, f, len, &p),
		    DECODE_OK);
		ASSERT_INT_EQ(p.l3_off, 4);
	}
	/* Unknown AFs; LOOP in host (little-endian) order is unknown. */
	memset(&l, 0, sizeof(l));
	l.link = DECODE_LINK_NULL;
	l.af = 17;
	len = wrap(f, &l, 0, ip, iplen, &l3);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_NULL, f, len, &p),
	    DECODE_NOT_TCP);
	l.af = 0x0201;		/* two non-zero bytes: no order fits */
	len = wrap(f, &l, 0, ip, iplen, &l3);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_NULL, f, len, &p),
	    DECODE_NOT_TCP);
	memcpy(f, "\x02\x00\x00\x00", 4);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_LOOP, f, len, &p),
	    DECODE_NOT_TCP);

	/* The per-version link types insist on their version; RAW picks. */
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV4, ip6, ip6len, &p),
	    DECODE_MALFORMED);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen, &p),
	    DECODE_MALFORMED);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_RAW, ip6, ip6len, &p), DECODE_OK);
	ASSERT_INT_EQ(p.src.family, 6);
	memcpy(f, ip, iplen);
	f[0] = 0x55;		/* version 5 */
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_RAW, f, iplen, &p),
	    DECODE_MALFORMED);

	/* Unknown link types, whatever the bytes. */
	ASSERT_INT_EQ(decode_buf(999, ip, iplen, &p), DECODE_UNSUPPORTED);
	ASSERT_INT_EQ(decode_buf(-1, ip, iplen, &p), DECODE_UNSUPPORTED);
	ASSERT_INT_EQ(decode_buf(105, ip, 0, &p), DECODE_UNSUPPORTED);
}

/* IPv4 options of every length, and TCP options of every kind. */
static void
test_options(void)
{
	uint8_t opt[40], ip[256], f[512];
	struct link_spec l;
	struct ip_spec s;
	size_t olen, iplen, len, l3;

	memset(&l, 0, sizeof(l));
	l.link = DECODE_LINK_ETHERNET;
	for (olen = 4; olen <= 40; olen += 4) {
		memset(opt, 1, olen);		/* NOPs */
		opt[0] = 0x94;			/* router alert */
		opt[1] = 4;
		opt[2] = 0;
		opt[3] = 0;
		memset(&s, 0, sizeof(s));
		s.ip4opt = opt;
		s.ip4optlen = olen;
		s.flags = DECODE_TH_SYN | DECODE_TH_ACK;
		s.tcpopt = t_synopt;
		s.tcpoptlen = sizeof(t_synopt);
		iplen = build_ip(ip, &s);
		len = wrap(f, &l, 0, ip, iplen, &l3);
		check_frame(DECODE_LINK_ETHERNET, f, len, l3, &s, len);
		check_truncations(DECODE_LINK_ETHERNET, f, len, len, 0);
		/* With payload too. */
		s.payload = t_payload;
		s.plen = T_PLEN;
		iplen = build_ip(ip, &s);
		len = wrap(f, &l, 0, ip, iplen, &l3);
		check_frame(DECODE_LINK_ETHERNET, f, len, l3, &s, len - T_PLEN);
	}
}

/* Decode a SYN carrying the given TCP options; mss/wscale out. */
static enum decode_result
syn_with(const uint8_t *opt, size_t olen, uint8_t flags, uint16_t *mss,
    int *wscale, size_t *plen)
{
	uint8_t ip[256];
	struct ip_spec s;
	struct decode_packet p;
	enum decode_result r;
	size_t iplen;

	memset(&s, 0, sizeof(s));
	s.flags = flags;
	s.tcpopt = opt;
	s.tcpoptlen = olen;
	iplen = build_ip(ip, &s);
	r = decode_buf(DECODE_LINK_IPV4, ip, iplen, &p);
	*mss = p.mss;
	*wscale = p.wscale;
	*plen = p.payload_len;
	return r;
}

static void
test_tcp_options(void)
{
	/* EOL stops the walk: the MSS after it is not read. */
	static const uint8_t eol[] = { 3, 3, 2, 0, 2, 4, 1, 0 };
	/* Length 0 ends the walk; the segment is still fine. */
	static const uint8_t len0[] = { 2, 4, 0x02, 0x18, 8, 0, 3, 3, 5, 1,
	    1, 1 };
	/* Length running past the header. */
	static const uint8_t over[] = { 3, 3, 4, 1, 2, 9, 0x05, 0xb4 };
	/* Wrong-size MSS and wscale are ignored, the walk goes on. */
	static const uint8_t wrongsz[] = { 2, 3, 5, 3, 4, 9, 9, 2, 4, 0x01,
	    0x00, 1 };
	/* Shift 15 is clamped to 14. */
	static const uint8_t big[] = { 3, 3, 15, 1 };
	/* A lone kind byte at the end with no room for a length. */
	static const uint8_t lone[] = { 1, 1, 1, 2 };
	/* An MSS whose 4 bytes would run past the header by one. */
	static const uint8_t mss_over[] = { 1, 1, 1, 1, 1, 2, 4, 5 };
	/* Length 1 is impossible. */
	static const uint8_t len1[] = { 3, 1, 2, 4, 0x05, 0xb4, 1, 1 };
	uint16_t mss;
	int ws;
	size_t plen;

	ASSERT_INT_EQ(syn_with(eol, sizeof(eol), DECODE_TH_SYN, &mss, &ws,
	    &plen), DECODE_OK);
	ASSERT_INT_EQ(mss, 0);
	ASSERT_INT_EQ(ws, 2);
	ASSERT_INT_EQ(syn_with(len0, sizeof(len0), DECODE_TH_SYN, &mss, &ws,
	    &plen), DECODE_OK);
	ASSERT_INT_EQ(mss, 536);
	ASSERT_INT_EQ(ws, -1);
	ASSERT_INT_EQ(plen, 0);
	ASSERT_INT_EQ(syn_with(over, sizeof(over), DECODE_TH_SYN, &mss, &ws,
	    &plen), DECODE_OK);
	ASSERT_INT_EQ(mss, 0);
	ASSERT_INT_EQ(ws, 4);
	ASSERT_INT_EQ(syn_with(wrongsz, sizeof(wrongsz), DECODE_TH_SYN, &mss,
	    &ws, &plen), DECODE_OK);
	ASSERT_INT_EQ(mss, 256);
	ASSERT_INT_EQ(ws, -1);
	ASSERT_INT_EQ(syn_with(big, sizeof(big), DECODE_TH_SYN, &mss, &ws,
	    &plen), DECODE_OK);
	ASSERT_INT_EQ(ws, 14);
	ASSERT_INT_EQ(syn_with(lone, sizeof(lone), DECODE_TH_SYN, &mss, &ws,
	    &plen), DECODE_OK);
	ASSERT_INT_EQ(mss, 0);
	ASSERT_INT_EQ(ws, -1);
	ASSERT_INT_EQ(syn_with(mss_over, sizeof(mss_over), DECODE_TH_SYN,
	    &mss, &ws, &plen), DECODE_OK);
	ASSERT_INT_EQ(mss, 0);
	ASSERT_INT_EQ(syn_with(len1, sizeof(len1), DECODE_TH_SYN, &mss, &ws,
	    &plen), DECODE_OK);
	ASSERT_INT_EQ(mss, 0);
	ASSERT_INT_EQ(ws, -1);
	/* Options on a non-SYN segment are not SYN options. */
	ASSERT_INT_EQ(syn_with(t_synopt, sizeof(t_synopt), DECODE_TH_ACK,
	    &mss, &ws, &plen), DECODE_OK);
	ASSERT_INT_EQ(mss, 0);
	ASSERT_INT_EQ(ws, -1);
	/* ECE and CWR are not in flags. */
	ASSERT_INT_EQ(syn_with(t_synopt, sizeof(t_synopt), 0xc2, &mss, &ws,
	    &plen), DECODE_OK);
	ASSERT_INT_EQ(mss, 1460);
}

static void
test_tcp_header(void)
{
	uint8_t ip[256];
	struct ip_spec s;
	struct decode_packet p;
	size_t iplen;
	int doff;

	/* Data offsets below 5 are malformed. */
	for (doff = 0; doff < 5; doff++) {
		memset(&s, 0, sizeof(s));
		s.flags = DECODE_TH_ACK;
		s.payload = t_payload;
		s.plen = T_PLEN;
		iplen = build_ip(ip, &s);
		ip[20 + 12] = (uint8_t)(doff << 4);
		ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV4, ip, iplen, &p),
		    DECODE_MALFORMED);
	}
	/* A data offset covering the payload bytes: header within the
	 * capture and the IP length, so fine, all header. */
	memset(&s, 0, sizeof(s));
	s.flags = DECODE_TH_ACK;
	s.payload = t_payload;
	s.plen = 20;
	s.doff_override = 10;
	iplen = build_ip(ip, &s);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV4, ip, iplen, &p), DECODE_OK);
	ASSERT_INT_EQ(p.payload_len, 0);
	ASSERT_INT_EQ(p.payload_wire_len, 0);
	/* Beyond the IP length, though the bytes are captured (padding). */
	memset(ip + iplen, 0, 64);
	s.doff_override = 11;
	iplen = build_ip(ip, &s);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV4, ip, iplen + 64, &p),
	    DECODE_MALFORMED);
	/* Same for IPv6. */
	s.v6 = 1;
	iplen = build_ip(ip, &s);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen + 4, &p),
	    DECODE_MALFORMED);
	s.doff_override = 10;
	iplen = build_ip(ip, &s);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen, &p), DECODE_OK);
}

static void
test_ip4_lengths(void)
{
	uint8_t ip[512], f[512];
	struct ip_spec s;
	struct decode_packet p;
	size_t iplen;
	int ihl;

	memset(&s, 0, sizeof(s));
	s.flags = DECODE_TH_ACK | DECODE_TH_PSH;
	s.payload = t_payload;
	s.plen = T_PLEN;
	iplen = build_ip(ip, &s);

	/* IHL below 5, and IHL beyond the capture. */
	for (ihl = 0; ihl < 16; ihl++) {
		memcpy(f, ip, iplen);
		f[0] = (uint8_t)(0x40 | ihl);
		if (ihl < 5)
			ASSERT_INT_EQ(decode_buf(DECODE_LINK_RAW, f, iplen,
			    &p), DECODE_MALFORMED);
		else	/* the capture ends inside the options */
			ASSERT_INT_EQ(decode_buf(DECODE_LINK_RAW, f,
			    4u * (unsigned)ihl - 1, &p), DECODE_MALFORMED);
	}
	/* Total length smaller than the IP header. */
	memcpy(f, ip, iplen);
	put16(f + 2, 19);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_RAW, f, iplen, &p),
	    DECODE_MALFORMED);
	/* Total length that leaves no room for the TCP header. */
	put16(f + 2, 39);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_RAW, f, iplen, &p),
	    DECODE_MALFORMED);
	put16(f + 2, 0);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_RAW, f, iplen, &p),
	    DECODE_MALFORMED);
	/* Exactly the headers: OK, no payload, the bytes after are not it. */
	put16(f + 2, 40);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_RAW, f, iplen, &p), DECODE_OK);
	ASSERT_INT_EQ(p.payload_len, 0);
	ASSERT_INT_EQ(p.payload_wire_len, 0);
	ASSERT_INT_EQ(p.l3_len, 40);
	/* A shorter total length cuts the payload. */
	put16(f + 2, 45);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_RAW, f, iplen, &p), DECODE_OK);
	ASSERT_INT_EQ(p.payload_len, 5);
	ASSERT_INT_EQ(p.payload_wire_len, 5);
	/* Longer than the packet on the wire: a lie. */
	put16(f + 2, (uint32_t)iplen + 1000);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_RAW, f, iplen, &p),
	    DECODE_MALFORMED);
	/* Longer than the capture, which a snap length cut: the payload is
	 * what is there. */
	ASSERT_INT_EQ(decode_buf_wire(DECODE_LINK_RAW, f, iplen, iplen + 1000,
	    &p), DECODE_OK);
	ASSERT_INT_EQ(p.payload_len, T_PLEN);
	ASSERT_INT_EQ(p.payload_wire_len, T_PLEN + 1000);
	ASSERT_INT_EQ(p.l3_len, iplen + 1000);
	TEST_CHECK(!decode_tcp_checksum_ok(f, iplen, &p));
	put16(f + 2, 65535);
	ASSERT_INT_EQ(decode_buf_wire(DECODE_LINK_RAW, f, iplen, 65535, &p),
	    DECODE_OK);
	ASSERT_INT_EQ(p.payload_wire_len, 65535 - 40);
	/* A broken IPv4 header checksum: decoded, but reported. */
	memcpy(f, ip, iplen);
	f[10] ^= 1;
	ASSERT_INT_EQ(decode_packet(DECODE_LINK_RAW, f, iplen, iplen, &p),
	    DECODE_OK);
	TEST_CHECK(!decode_ip_checksum_ok(f, iplen, &p));
	TEST_CHECK(decode_tcp_checksum_ok(f, iplen, &p));
}

static void
test_ip4_fragments(void)
{
	static const struct {
		uint16_t frag;
		uint8_t proto;
		enum decode_result want;
	} cases[] = {
		{ 0x4000, 6, DECODE_OK },		/* DF */
		{ 0x2000, 6, DECODE_FRAGMENT },		/* MF */
		{ 0x0001, 6, DECODE_FRAGMENT },		/* offset 8 */
		{ 0x1fff, 6, DECODE_FRAGMENT },
		{ 0x6000, 6, DECODE_FRAGMENT },		/* DF+MF */
		{ 0x2000, 17, DECODE_FRAGMENT },	/* any protocol */
		{ 0x8000, 6, DECODE_OK },		/* evil bit only */
		{ 0x0000, 17, DECODE_NOT_TCP },		/* UDP */
		{ 0x0000, 1, DECODE_NOT_TCP },		/* ICMP */
	};
	uint8_t ip[256];
	struct ip_spec s;
	struct decode_packet p;
	size_t iplen, i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&s, 0, sizeof(s));
		s.flags = DECODE_TH_ACK;
		s.frag = cases[i].frag;
		s.proto = cases[i].proto;
		s.payload = t_payload;
		s.plen = T_PLEN;
		iplen = build_ip(ip, &s);
		ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV4, ip, iplen, &p),
		    cases[i].want);
		/* A first fragment of TCP (MF, offset 0) shows its ports
		 * and addresses (a passive sensor refuses it). */
		if (cases[i].want == DECODE_FRAGMENT) {
			ASSERT_INT_EQ(p.frag_first, cases[i].proto == 6 &&
			    (cases[i].frag & 0x1fff) == 0);
			ASSERT_INT_EQ(p.src.family, 4);
			if (p.frag_first)
				ASSERT_INT_EQ(p.dport, T_DPORT);
		}
	}
}

/* Ethernet's 60-byte minimum: padding past the IP length is not data. */
static void
test_ether_padding(void)
{
	uint8_t ip[256], f[512];
	struct link_spec l;
	struct ip_spec s;
	struct decode_packet p;
	size_t iplen, len, l3;

	memset(&l, 0, sizeof(l));
	l.link = DECODE_LINK_ETHERNET;
	l.pad_to = 60;
	memset(&s, 0, sizeof(s));
	s.flags = DECODE_TH_ACK;
	iplen = build_ip(ip, &s);		/* 40 bytes */
	len = wrap(f, &l, 0, ip, iplen, &l3);
	ASSERT_INT_EQ(len, 60);
	check_frame(DECODE_LINK_ETHERNET, f, len, l3, &s, 54);
	s.payload = t_payload;
	s.plen = 3;
	iplen = build_ip(ip, &s);
	len = wrap(f, &l, 0, ip, iplen, &l3);
	check_frame(DECODE_LINK_ETHERNET, f, len, l3, &s, 54);
	/* Padding behind a tag, and behind IPv6. */
	l.tags = tags_qinq;
	l.ntags = 2;
	l.pad_to = 200;
	len = wrap(f, &l, 0, ip, iplen, &l3);
	check_frame(DECODE_LINK_ETHERNET, f, len, l3, &s, 62);
	s.v6 = 1;
	iplen = build_ip(ip, &s);
	len = wrap(f, &l, 1, ip, iplen, &l3);
	check_frame(DECODE_LINK_ETHERNET, f, len, l3, &s, 82);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_ETHERNET, f, len, &p), DECODE_OK);
	ASSERT_INT_EQ(p.payload_len, 3);
	ASSERT_INT_EQ(p.l3_len, 63);
}

/* IPv6 packet with the given extension chain; returns the result. */
static enum decode_result
v6_with(const uint8_t *ext, size_t extlen, uint8_t first,
    struct decode_packet *p)
{
	uint8_t ip[1024];
	struct ip_spec s;
	size_t iplen;

	memset(&s, 0, sizeof(s));
	s.v6 = 1;
	s.ext = ext;
	s.extlen = extlen;
	s.ext_nh = first;
	s.proto = ext == NULL ? first : 0;
	s.flags = DECODE_TH_ACK | DECODE_TH_PSH;
	s.payload = t_payload;
	s.plen = T_PLEN;
	iplen = build_ip(ip, &s);
	return decode_buf(DECODE_LINK_IPV6, ip, iplen, p);
}

static void
test_ip6_ext(void)
{
	/* HBH(8) -> DST(16) -> ROUTING(8) -> AH(16) -> atomic FRAG -> TCP */
	static const uint8_t chain[] = {
		60, 0, 5, 2, 1, 0, 0, 0,			/* HBH */
		43, 1, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* DST */
		51, 0, 4, 0, 0, 0, 0, 0,			/* RH type 4 */
		44, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, /* AH */
		6, 0, 0, 0, 0, 0, 0, 9,				/* FRAG */
	};
	uint8_t ext[512], ip[1024], f[1024];
	struct decode_packet p;
	struct ip_spec s;
	struct link_spec l;
	size_t iplen, len, l3;
	int i;

	/* The whole chain, checked field by field and at every cut. */
	memset(&s, 0, sizeof(s));
	s.v6 = 1;
	s.ext = chain;
	s.extlen = sizeof(chain);
	s.ext_nh = 0;
	s.flags = DECODE_TH_ACK | DECODE_TH_PSH;
	s.payload = t_payload;
	s.plen = T_PLEN;
	iplen = build_ip(ip, &s);
	memset(&l, 0, sizeof(l));
	l.link = DECODE_LINK_ETHERNET;
	l.tags = tags_1q;
	l.ntags = 1;
	len = wrap(f, &l, 1, ip, iplen, &l3);
	check_frame(DECODE_LINK_ETHERNET, f, len, l3, &s, len - T_PLEN);
	check_truncations(DECODE_LINK_ETHERNET, f, len, len - T_PLEN, T_PLEN);

	/* Fragments: M set, offset set; atomic with reserved bits set. */
	memcpy(ext, "\x06\x00\x00\x01\x00\x00\x00\x01", 8);
	ASSERT_INT_EQ(v6_with(ext, 8, 44, &p), DECODE_FRAGMENT);
	TEST_CHECK(p.frag_first);
	ASSERT_INT_EQ(p.sport, T_SPORT);
	ASSERT_INT_EQ(p.dport, T_DPORT);
	ASSERT_INT_EQ(p.dst.family, 6);
	/* A first fragment with a destination-options header after it. */
	memcpy(ext, "\x3c\x00\x00\x01\x00\x00\x00\x01"
	    "\x06\x00\x01\x04\x00\x00\x00\x00", 16);
	ASSERT_INT_EQ(v6_with(ext, 16, 44, &p), DECODE_FRAGMENT);
	TEST_CHECK(p.frag_first);
	ASSERT_INT_EQ(p.dport, T_DPORT);
	memcpy(ext, "\x06\x00\x00\x08\x00\x00\x00\x01", 8);
	ASSERT_INT_EQ(v6_with(ext, 8, 44, &p), DECODE_FRAGMENT);
	TEST_CHECK(!p.frag_first);
	memcpy(ext, "\x06\x00\xff\xf8\x00\x00\x00\x01", 8);
	ASSERT_INT_EQ(v6_with(ext, 8, 44, &p), DECODE_FRAGMENT);
	memcpy(ext, "\x06\x00\x00\x06\x00\x00\x00\x01", 8);
	ASSERT_INT_EQ(v6_with(ext, 8, 44, &p), DECODE_OK);
	ASSERT_INT_EQ(p.payload_len, T_PLEN);
	ASSERT_INT_EQ(p.l4_off, 48);
	/* A fragment of UDP is still a fragment. */
	memcpy(ext, "\x11\x00\x00\x01\x00\x00\x00\x01", 8);
	ASSERT_INT_EQ(v6_with(ext, 8, 44, &p), DECODE_FRAGMENT);
	TEST_CHECK(!p.frag_first);

	/* ESP, no next header, UDP, ICMPv6: not TCP; also after an ext. */
	ASSERT_INT_EQ(v6_with(NULL, 0, 50, &p), DECODE_NOT_TCP);
	ASSERT_INT_EQ(v6_with(ext, 8, 50, &p), DECODE_NOT_TCP);
	ASSERT_INT_EQ(v6_with(NULL, 0, 59, &p), DECODE_NOT_TCP);
	ASSERT_INT_EQ(v6_with(NULL, 0, 17, &p), DECODE_NOT_TCP);
	ASSERT_INT_EQ(v6_with(NULL, 0, 58, &p), DECODE_NOT_TCP);
	memcpy(ext, "\x3b\x00\x00\x00\x00\x00\x00\x00", 8);
	ASSERT_INT_EQ(v6_with(ext, 8, 60, &p), DECODE_NOT_TCP);

	/* Hop-by-hop anywhere but first. */
	memcpy(ext, "\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x06\x00\x00\x00\x00\x00\x00\x00", 16);
	ASSERT_INT_EQ(v6_with(ext, 16, 60, &p), DECODE_MALFORMED);

	/* Linux delivers a segment behind any number of destination option
	 * headers (17 carried a relayed message past the old limit of 16,
	 * issue 7): so many are decoded, within the packet. */
	for (i = 0; i < 64; i++) {
		memset(ext + i * 8, 0, 8);
		ext[i * 8] = 60;
	}
	ext[16 * 8] = 6;
	ASSERT_INT_EQ(v6_with(ext, 17 * 8, 60, &p), DECODE_OK);
	ASSERT_INT_EQ(p.l4_off, 40 + 17 * 8);
	ext[16 * 8] = 60;
	ext[63 * 8] = 6;
	ASSERT_INT_EQ(v6_with(ext, 64 * 8, 60, &p), DECODE_OK);
	ASSERT_INT_EQ(p.l4_off, 40 + 64 * 8);
	/* One more header announced where the TCP header is: it does not
	 * fit what is left of the packet. */
	ext[63 * 8] = 60;
	ASSERT_INT_EQ(v6_with(ext, 64 * 8, 60, &p), DECODE_MALFORMED);

	/* An extension length beyond the packet. */
	memcpy(ext, "\x06\x40\x00\x00\x00\x00\x00\x00", 8);
	ASSERT_INT_EQ(v6_with(ext, 8, 43, &p), DECODE_MALFORMED);
	memcpy(ext, "\x06\xff\x00\x00\x00\x00\x00\x00", 8);
	ASSERT_INT_EQ(v6_with(ext, 8, 51, &p), DECODE_MALFORMED);

	/* The ext header fits the capture but not the payload length. */
	memset(&s, 0, sizeof(s));
	s.v6 = 1;
	s.ext = chain;
	s.extlen = 8;
	s.ext_nh = 0;
	s.flags = DECODE_TH_ACK;
	memcpy(ext, chain, 8);
	ext[0] = 6;
	s.ext = ext;
	iplen = build_ip(ip, &s);
	put16(ip + 4, 4);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen, &p),
	    DECODE_MALFORMED);
	/* A 16-byte header of which the payload length covers 12. */
	memset(ext, 0, 16);
	ext[0] = 6;
	ext[1] = 1;
	s.extlen = 16;
	iplen = build_ip(ip, &s);
	put16(ip + 4, 12);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen, &p),
	    DECODE_MALFORMED);
	put16(ip + 4, 36);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen, &p), DECODE_OK);
	ASSERT_INT_EQ(p.l4_off, 56);
	/* Jumbogram: zero payload length with a hop-by-hop header. */
	put16(ip + 4, 0);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen, &p),
	    DECODE_MALFORMED);
}

static void
test_ip6_lengths(void)
{
	uint8_t ip[512];
	struct ip_spec s;
	struct decode_packet p;
	size_t iplen;

	memset(&s, 0, sizeof(s));
	s.v6 = 1;
	s.flags = DECODE_TH_ACK;
	s.payload = t_payload;
	s.plen = T_PLEN;
	iplen = build_ip(ip, &s);
	/* Payload length below the TCP header. */
	put16(ip + 4, 19);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen, &p),
	    DECODE_MALFORMED);
	put16(ip + 4, 0);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen, &p),
	    DECODE_MALFORMED);
	/* Shorter: the trailing bytes are not payload. */
	put16(ip + 4, 22);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen, &p), DECODE_OK);
	ASSERT_INT_EQ(p.payload_len, 2);
	ASSERT_INT_EQ(p.payload_wire_len, 2);
	ASSERT_INT_EQ(p.l3_len, 62);
	/* Longer than the wire: malformed; than a cut capture: limited. */
	put16(ip + 4, 1000);
	ASSERT_INT_EQ(decode_buf(DECODE_LINK_IPV6, ip, iplen, &p),
	    DECODE_MALFORMED);
	ASSERT_INT_EQ(decode_buf_wire(DECODE_LINK_IPV6, ip, iplen, 1040, &p),
	    DECODE_OK);
	ASSERT_INT_EQ(p.payload_len, T_PLEN);
	ASSERT_INT_EQ(p.payload_wire_len, 980);
	ASSERT_INT_EQ(p.l3_len, 1040);
}

/* Checksums: ok, broken, fixed, for both families and odd lengths. */
static void
test_checksums(void)
{
	uint8_t ip[2048], f[2048], big[1500], seg[128];
	struct ip_spec s;
	struct link_spec l;
	struct decode_packet p;
	size_t iplen, len, l3, plen, i;
	int v6;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	memset(&l, 0, sizeof(l));
	l.link = DECODE_LINK_ETHERNET;
	for (v6 = 0; v6 <= 1; v6++) {
		for (plen = 0; plen < 70; plen++) {
			memset(&s, 0, sizeof(s));
			s.v6 = v6;
			s.flags = DECODE_TH_ACK;
			s.payload = big;
			s.plen = plen;
			iplen = build_ip(ip, &s);
			/* Odd alignment of the frame in memory too. */
			len = wrap(f + 1, &l, v6, ip, iplen, &l3);
			ASSERT_INT_EQ(decode_packet(DECODE_LINK_ETHERNET,
			    f + 1, len, len, &p), DECODE_OK);
			TEST_CHECK(decode_tcp_checksum_ok(f + 1, len, &p));
			/* Any flipped byte, header or payload, is caught. */
			f[1 + p.l4_off + 4] ^= 0x10;
			TEST_CHECK(!decode_tcp_checksum_ok(f + 1, len, &p));
			decode_tcp_checksum_fix(f + 1, len, &p);
			TEST_CHECK(decode_tcp_checksum_ok(f + 1, len, &p));
			if (plen) {
				f[1 + len - 1] ^= 0x01;
				TEST_CHECK(!decode_tcp_checksum_ok(f + 1, len,
				    &p));
				decode_tcp_checksum_fix(f + 1, len, &p);
				TEST_CHECK(decode_tcp_checksum_ok(f + 1, len,
				    &p));
				/* The fixed value is the reference's. */
				memcpy(seg, f + 1 + p.l4_off, 20 + plen);
				seg[16] = seg[17] = 0;
				ASSERT_INT_EQ(decode_be16(f + 1 + p.l4_off +
				    16), ref_tcp_csum(v6, v6 ? t_src6 : t_src4,
				    v6 ? t_dst6 : t_dst4, seg, 20 + plen));
			}
			/* Fixing a correct checksum changes nothing. */
			memcpy(ip, f + 1, len);
			decode_tcp_checksum_fix(f + 1, len, &p);
			ASSERT_MEM_EQ(ip, f + 1, len);
		}
	}
	/* A large segment: the fast sum agrees with the reference. */
	memset(&s, 0, sizeof(s));
	s.v6 = 1;
	s.flags = DECODE_TH_ACK;
	s.payload = big;
	s.plen = sizeof(big) - 1;
	iplen = build_ip(ip, &s);
	ASSERT_INT_EQ(decode_packet(DECODE_LINK_IPV6, ip, iplen, iplen, &p),
	    DECODE_OK);
	TEST_CHECK(decode_tcp_checksum_ok(ip, iplen, &p));
	/* A packet record from another frame must not be trusted. */
	p.l3_len = 60000;
	TEST_CHECK(!decode_tcp_checksum_ok(ip, iplen, &p));
	decode_tcp_checksum_fix(ip, iplen, &p);
	p.l4_off = 5000;
	TEST_CHECK(!decode_tcp_checksum_ok(ip, iplen, &p));
	decode_tcp_checksum_fix(ip, iplen, &p);
	p.src.family = 0;
	TEST_CHECK(!decode_tcp_checksum_ok(ip, iplen, &p));
}

static void
test_result_str(void)
{
	ASSERT_STR_EQ(decode_result_str(DECODE_OK), "ok");
	ASSERT_STR_EQ(decode_result_str(DECODE_NOT_TCP), "not-tcp");
	ASSERT_STR_EQ(decode_result_str(DECODE_FRAGMENT), "fragment");
	ASSERT_STR_EQ(decode_result_str(DECODE_MALFORMED), "malformed");
	ASSERT_STR_EQ(decode_result_str(DECODE_UNSUPPORTED), "unsupported");
	ASSERT_STR_EQ(decode_result_str((enum decode_result)42), "unknown");
}

/* Totals over one capture. */
struct corpus_stats {
	unsigned frames, ok, not_tcp, other, csum_ok, ipsum_ok, syns, mss_n;
	unsigned ws_n;
	uint64_t bytes, wire_bytes, mss_sum, ws_sum;
};

static uint32_t
rd32(const uint8_t *p, int swap)
{
	return swap ? decode_be32(p) : (uint32_t)p[3] << 24 |
	    (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/*
 * A pcap file in memory: 24-byte header, then 16-byte record headers, in
 * either byte order, micro- or nanosecond magic.  False if malformed.
 */
static bool
corpus_scan(const uint8_t *buf, size_t len, struct corpus_stats *st)
{
	struct decode_packet p;
	uint32_t magic, caplen, wirelen;
	size_t off;
	uint8_t *frame;
	int swap, link;

	memset(st, 0, sizeof(*st));
	if (len < 24)
		return false;
	magic = rd32(buf, 0);
	if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d)
		swap = 0;
	else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1)
		swap = 1;
	else
		return false;
	link = (int)(rd32(buf + 20, swap) & 0xffff);
	for (off = 24; off < len; ) {
		if (len - off < 16)
			return false;
		caplen = rd32(buf + off + 8, swap);
		wirelen = rd32(buf + off + 12, swap);
		off += 16;
		if (caplen > len - off || caplen > 262144)
			return false;
		frame = malloc(caplen ? caplen : 1);
		memcpy(frame, buf + off, caplen);
		off += caplen;
		st->frames++;
		switch (decode_packet(link, frame, caplen, wirelen, &p)) {
		case DECODE_OK:
			st->ok++;
			st->bytes += p.payload_len;
			st->wire_bytes += p.payload_wire_len;
			if (decode_tcp_checksum_ok(frame, caplen, &p))
				st->csum_ok++;
			if (decode_ip_checksum_ok(frame, caplen, &p))
				st->ipsum_ok++;
			if (p.flags & DECODE_TH_SYN)
				st->syns++;
			if (p.mss != 0) {
				st->mss_n++;
				st->mss_sum += p.mss;
			}
			if (p.wscale >= 0) {
				st->ws_n++;
				st->ws_sum += (uint64_t)p.wscale;
			}
			break;
		case DECODE_NOT_TCP:
			st->not_tcp++;
			break;
		default:
			st->other++;
			break;
		}
		free(frame);
	}
	return true;
}

/*
 * Expected totals come from tshark:
 *   tshark -r F -Y 'tcp && !icmp' -T fields -e tcp.len | paste -sd+ | bc
 *   tshark -o tcp.check_checksum:TRUE -r F -Y 'tcp.checksum.status==1'
 *   tshark -o ip.check_checksum:TRUE -r F -Y 'ip.checksum.status==1'
 *   tshark -r F -Y tcp.flags.syn==1 -T fields -e tcp.options.mss_val
 *       -e tcp.options.wscale.shift
 * (ICMP errors quoting a TCP header are not TCP to us.)
 */
struct corpus_want {
	const char *name;
	unsigned frames, ok, not_tcp, csum_ok, syns, mss_n, ws_n;
	uint64_t bytes, mss_sum, ws_sum;
	unsigned ipsum_ok;	/* IPv6 counts as good */
};

static void
corpus_check(const struct corpus_want *w, const uint8_t *buf, size_t len)
{
	struct corpus_stats st;

	TEST_CHECK(corpus_scan(buf, len, &st));
	if (st.ok != w->ok || st.bytes != w->bytes)
		fprintf(stderr, "corpus %s\n", w->name);
	ASSERT_INT_EQ(st.frames, w->frames);
	ASSERT_INT_EQ(st.ok, w->ok);
	ASSERT_INT_EQ(st.not_tcp, w->not_tcp);
	ASSERT_INT_EQ(st.other, 0);
	ASSERT_INT_EQ(st.bytes, w->bytes);
	ASSERT_INT_EQ(st.wire_bytes, w->bytes);	/* none cut by snaplen */
	ASSERT_INT_EQ(st.csum_ok, w->csum_ok);
	ASSERT_INT_EQ(st.syns, w->syns);
	ASSERT_INT_EQ(st.mss_n, w->mss_n);
	ASSERT_INT_EQ(st.mss_sum, w->mss_sum);
	ASSERT_INT_EQ(st.ws_n, w->ws_n);
	ASSERT_INT_EQ(st.ws_sum, w->ws_sum);
	ASSERT_INT_EQ(st.ipsum_ok, w->ipsum_ok);
}

static void
test_corpus_embedded(void)
{
	static const struct corpus_want v6 = { "zeek-smtp-attachment-msg",
	    17, 17, 0, 0, 1, 1, 1, 688, 65476, 7, 17 };
	static const struct corpus_want pad = { "arkime-smtp-data-250",
	    30, 30, 0, 0, 2, 2, 2, 1898, 1360 + 1460, 3 + 9, 0 };
	static const struct corpus_want mixed = { "arkime-smtp-nospaces",
	    19, 19, 0, 11, 2, 2, 2, 352, 65495 * 2, 7 + 7, 19 };
	static const struct corpus_want null = { "suricata-verify-smtp-rset",
	    42, 42, 0, 0, 2, 2, 2, 580, 16344 * 2, 5 + 5, 0 };

	corpus_check(&v6, corpus_zeek_smtp_attachment_msg,
	    sizeof(corpus_zeek_smtp_attachment_msg));
	corpus_check(&pad, corpus_arkime_smtp_data_250,
	    sizeof(corpus_arkime_smtp_data_250));
	corpus_check(&mixed, corpus_arkime_smtp_nospaces,
	    sizeof(corpus_arkime_smtp_nospaces));
	corpus_check(&null, corpus_suricata_verify_smtp_rset,
	    sizeof(corpus_suricata_verify_smtp_rset));
}

/*
 * Bigger captures from the public corpus (RG_CORPUS_DIR, default
 * tests/corpus/pcap: tests/run.sh runs every suite from the top
 * directory).  It travels with the project, so a missing file fails.
 */
static void
test_corpus_files(void)
{
	static const struct corpus_want files[] = {
		/* IPv4, padding, UDP and ICMP-quoting-TCP frames */
		{ "zeek-smtp.pcap", 125, 118, 7, 118, 6, 6, 4, 29126, 8740,
		    21, 118 },
		/* 802.1Q tags, IPv4 and IPv6 */
		{ "ndpi-smtp-starttls.pcap", 69, 69, 0, 33, 4, 4, 4, 9842,
		    5770, 22, 33 },
		/* 1 MB of DATA, every frame padded */
		{ "suricata-verify-issue-4220-1flowB.pcap", 1358, 1358, 0,
		    1358, 2, 2, 0, 964634, 2920, 0, 1358 },
	};
	const char *dir = getenv("RG_CORPUS_DIR");
	char path[4096];
	uint8_t *buf;
	size_t i, n;
	long sz;
	FILE *fp;

	if (dir == NULL)
		dir = "tests/corpus/pcap";
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		if ((fp = fopen(path, "rb")) == NULL) {
			fprintf(stderr, "decode: %s: %s\n", path,
			    strerror(errno));
			TEST_CHECK(0);
			continue;
		}
		fseek(fp, 0, SEEK_END);
		sz = ftell(fp);
		rewind(fp);
		buf = malloc(sz > 0 ? (size_t)sz : 1);
		n = fread(buf, 1, sz > 0 ? (size_t)sz : 0, fp);
		fclose(fp);
		ASSERT_INT_EQ(n, sz);
		corpus_check(&files[i], buf, n);
		free(buf);
	}
}

int
main(void)
{
	TEST_RUN(test_links);
	TEST_RUN(test_link_edges);
	TEST_RUN(test_options);
	TEST_RUN(test_tcp_options);
	TEST_RUN(test_tcp_header);
	TEST_RUN(test_ip4_lengths);
	TEST_RUN(test_ip4_fragments);
	TEST_RUN(test_ether_padding);
	TEST_RUN(test_ip6_ext);
	TEST_RUN(test_ip6_lengths);
	TEST_RUN(test_checksums);
	TEST_RUN(test_result_str);
	TEST_RUN(test_corpus_embedded);
	TEST_RUN(test_corpus_files);
	return TEST_END("decode");
}
