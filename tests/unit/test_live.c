/*
 * test_live.c — daemon/live.c's BPF filter: every configured port is in
 * it (capture mode inspects only what the filter lets through), or the
 * filter is refused; never a silently shortened list.  And the filter
 * compiled by libpcap as the daemon compiles it, run with bpf_filter() on
 * crafted Ethernet frames: TCP to the ports, and what the port test cannot
 * see but the server reads (IPv4 fragments, IPv6 TCP behind extension
 * headers), tagged or not.
 */
#include <stdlib.h>
#include <unistd.h>

#include <linux/filter.h>
#include <pcap/pcap.h>

#include "test.h"

#include "../../daemon/live.c"

/* The most ports, each five digits long: every one in the filter, twice
 * (untagged and VLAN). */
static void
test_filter_all_ports(void)
{
	static struct config c;
	char buf[LIVE_FILTER_MAX], want[32];
	const char *f, *at;
	uint32_t i;
	int seen;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < CONFIG_MAX_PORTS; i++)
		c.ports[i] = (uint16_t)(65535 - i);
	c.nports = CONFIG_MAX_PORTS;
	f = live_filter(&c, buf, sizeof(buf));
	TEST_CHECK(f[0] != '\0');
	for (i = 0; i < CONFIG_MAX_PORTS; i++) {
		snprintf(want, sizeof(want), "port %u)", 65535 - i);
		if (i + 1 < CONFIG_MAX_PORTS)
			snprintf(want, sizeof(want), "port %u ", 65535 - i);
		for (seen = 0, at = f; (at = strstr(at, want)) != NULL; at++)
			seen++;
		ASSERT_INT_EQ(seen, 2);
	}
}

/* A buffer too small: "", not a filter missing ports. */
static void
test_filter_too_small(void)
{
	static struct config c;
	char buf[64], big[LIVE_FILTER_MAX];

	memset(&c, 0, sizeof(c));
	c.ports[0] = 25;
	c.ports[1] = 587;
	c.ports[2] = 2525;
	c.nports = 3;
	ASSERT_STR_EQ(live_filter(&c, buf, sizeof(buf)), "");
	c.nports = 1;
	ASSERT_STR_EQ(live_filter(&c, big, sizeof(big)),
	    "(tcp and (port 25)) or " LIVE_UNPORTED " or "
	    "(vlan and ((tcp and (port 25)) or " LIVE_UNPORTED "))");
}

/* Ethernet (with a 802.1Q tag if vlan) + IPv4, proto, fragment field,
 * then a TCP or UDP header to dport: the frame's length. */
static size_t
frame4(uint8_t *b, bool vlan, uint8_t proto, uint16_t frag, uint16_t dport)
{
	size_t l2 = vlan ? 18 : 14, n = l2 + 20 + 20;

	memset(b, 0, n);
	b[12] = vlan ? 0x81 : 0x08;
	if (vlan) {
		b[15] = 7;		/* VLAN 7 */
		b[16] = 0x08;
	}
	b += l2;
	b[0] = 0x45;
	b[2] = 0;
	b[3] = 40;
	b[6] = (uint8_t)(frag >> 8);
	b[7] = (uint8_t)frag;
	b[8] = 64;
	b[9] = proto;
	b[12] = 203; b[13] = 0; b[14] = 113; b[15] = 10;
	b[16] = 198; b[17] = 51; b[18] = 100; b[19] = 25;
	b[20] = 0x9c; b[21] = 0x40;
	b[22] = (uint8_t)(dport >> 8); b[23] = (uint8_t)dport;
	b[32] = 0x50;
	return n;
}

/* Ethernet + IPv6 whose next headers are nh[0..nnh-1] (each extension
 * header 8 bytes; a fragment header's offset/M field is frag), the last
 * one's header to dport. */
static size_t
frame6(uint8_t *b, bool vlan, const uint8_t *nh, size_t nnh, uint16_t frag,
    uint16_t dport)
{
	size_t l2 = vlan ? 18 : 14, plen = (nnh - 1) * 8 + 20, i;
	uint8_t *ip, *h;

	memset(b, 0, l2 + 40 + plen);
	b[12] = vlan ? 0x81 : 0x86;
	b[13] = vlan ? 0x00 : 0xdd;
	if (vlan) {
		b[15] = 7;
		b[16] = 0x86;
		b[17] = 0xdd;
	}
	ip = b + l2;
	ip[0] = 0x60;
	ip[4] = (uint8_t)(plen >> 8);
	ip[5] = (uint8_t)plen;
	ip[6] = nh[0];
	ip[7] = 64;
	ip[8] = 0x20; ip[9] = 0x01; ip[10] = 0x0d; ip[11] = 0xb8; ip[23] = 1;
	ip[24] = 0x20; ip[25] = 0x01; ip[26] = 0x0d; ip[27] = 0xb8; ip[39] = 2;
	h = ip + 40;
	for (i = 1; i < nnh; i++, h += 8) {
		h[0] = nh[i];		/* length 0: 8 bytes */
		if (nh[i - 1] == 44) {
			h[2] = (uint8_t)(frag >> 8);
			h[3] = (uint8_t)frag;
		}
	}
	h[0] = 0x9c; h[1] = 0x40;
	h[2] = (uint8_t)(dport >> 8); h[3] = (uint8_t)dport;
	h[12] = 0x50;
	return l2 + 40 + plen;
}

struct filter {
	pcap_t *p;
	struct bpf_program prog;
};

static void
filter_open(struct filter *f, const struct config *c)
{
	char buf[LIVE_FILTER_MAX];

	f->p = pcap_open_dead(DLT_EN10MB, LIVE_SNAPLEN);
	TEST_CHECK(f->p != NULL);
	TEST_CHECK(live_filter(c, buf, sizeof(buf))[0] != '\0');
	if (pcap_compile(f->p, &f->prog, buf, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		fprintf(stderr, "filter '%s': %s\n", buf, pcap_geterr(f->p));
		TEST_CHECK(!"compiles");
		exit(1);
	}
}

static void
filter_close(struct filter *f)
{
	pcap_freecode(&f->prog);
	pcap_close(f->p);
}

static bool
filter_match(struct filter *f, const uint8_t *b, size_t n)
{
	return bpf_filter(f->prog.bf_insns, b, (u_int)n, (u_int)n) != 0;
}

static void
test_ports_and_unported(void)
{
	static const uint8_t tcp[] = { 6 };
	static const uint8_t dst_tcp[] = { 60, 6 };
	static const uint8_t hop_tcp[] = { 0, 6 };
	static const uint8_t hop_dst_tcp[] = { 0, 60, 6 };
	static const uint8_t frag_tcp[] = { 44, 6 };
	static const uint8_t frag_dst_tcp[] = { 44, 60, 6 };
	static const uint8_t dst_udp[] = { 60, 17 };
	static const uint8_t udp[] = { 17 };
	struct config c;
	struct filter f;
	uint8_t b[256];
	int v;

	config_defaults(&c);
	c.nports = 2;
	c.ports[0] = 25;
	c.ports[1] = 587;
	filter_open(&f, &c);
	for (v = 0; v < 2; v++) {
		/* The port test, as before. */
		TEST_CHECK(filter_match(&f, b, frame4(b, v, 6, 0, 25)));
		TEST_CHECK(filter_match(&f, b, frame4(b, v, 6, 0x4000, 587)));
		TEST_CHECK(!filter_match(&f, b, frame4(b, v, 6, 0, 80)));
		TEST_CHECK(!filter_match(&f, b, frame4(b, v, 17, 0, 25)));
		TEST_CHECK(filter_match(&f, b, frame6(b, v, tcp, 1, 0, 25)));
		TEST_CHECK(!filter_match(&f, b, frame6(b, v, tcp, 1, 0, 80)));
		/* IPv4 fragments, first (MF) or not (an offset), any
		 * protocol: the ports of a later one are not there. */
		TEST_CHECK(filter_match(&f, b, frame4(b, v, 6, 0x2000, 80)));
		TEST_CHECK(filter_match(&f, b, frame4(b, v, 6, 0x0003, 80)));
		TEST_CHECK(filter_match(&f, b, frame4(b, v, 17, 0x0003, 0)));
		/* IPv6 TCP behind extension headers, to any port. */
		TEST_CHECK(filter_match(&f, b, frame6(b, v, dst_tcp, 2, 0,
		    25)));
		TEST_CHECK(filter_match(&f, b, frame6(b, v, hop_tcp, 2, 0,
		    80)));
		TEST_CHECK(filter_match(&f, b, frame6(b, v, hop_dst_tcp, 3, 0,
		    25)));
		TEST_CHECK(filter_match(&f, b, frame6(b, v, frag_tcp, 2,
		    0x0001, 25)));
		TEST_CHECK(filter_match(&f, b, frame6(b, v, frag_dst_tcp, 3,
		    0x0001, 25)));
		/* Whatever follows them (the filter cannot walk them). */
		TEST_CHECK(filter_match(&f, b, frame6(b, v, dst_udp, 2, 0,
		    25)));
		TEST_CHECK(!filter_match(&f, b, frame6(b, v, udp, 1, 0, 25)));
	}
	filter_close(&f);
	config_free(&c);
}

/* The most ports there can be still fit live_open()'s buffer and
 * compile. */
static void
test_filter_all_ports_compile(void)
{
	struct config c;
	struct filter f;
	uint8_t b[256];
	uint32_t i;

	config_defaults(&c);
	c.nports = CONFIG_MAX_PORTS;
	for (i = 0; i < CONFIG_MAX_PORTS; i++)
		c.ports[i] = (uint16_t)(60000 + i);
	filter_open(&f, &c);
	TEST_CHECK(filter_match(&f, b, frame4(b, true, 6, 0,
	    60000 + CONFIG_MAX_PORTS - 1)));
	TEST_CHECK(!filter_match(&f, b, frame4(b, true, 6, 0, 25)));
	filter_close(&f);
	config_free(&c);
}

/*
 * As the daemon compiles it, on a live handle (libpcap's Linux VLAN code:
 * "protochain" fails there), and the kernel takes the program (else
 * libpcap filters in user space and every packet crosses the ring).
 * Needs CAP_NET_RAW: said when it cannot run.
 */
static void
test_filter_live_kernel(void)
{
	char ebuf[PCAP_ERRBUF_SIZE], buf[LIVE_FILTER_MAX];
	struct sock_fprog fp;
	struct bpf_program prog;
	struct config c;
	pcap_t *p;
	int fd;

	if (geteuid() != 0) {
		printf("  SKIP test_filter_live_kernel: not root\n");
		return;
	}
	config_defaults(&c);
	TEST_CHECK(live_filter(&c, buf, sizeof(buf))[0] != '\0');
	TEST_CHECK((p = pcap_create("lo", ebuf)) != NULL);
	if (p == NULL)
		return;
	TEST_CHECK(pcap_activate(p) >= 0);
	if (pcap_compile(p, &prog, buf, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		fprintf(stderr, "filter '%s': %s\n", buf, pcap_geterr(p));
		TEST_CHECK(!"compiles on a live handle");
	} else {
		fd = socket(AF_PACKET, SOCK_RAW, 0);
		TEST_CHECK(fd >= 0);
		fp.len = (unsigned short)prog.bf_len;
		fp.filter = (struct sock_filter *)prog.bf_insns;
		TEST_CHECK(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp,
		    sizeof(fp)) == 0);
		close(fd);
		pcap_freecode(&prog);
	}
	pcap_close(p);
	config_free(&c);
}

int
main(void)
{
	TEST_RUN(test_filter_all_ports);
	TEST_RUN(test_filter_too_small);
	TEST_RUN(test_ports_and_unported);
	TEST_RUN(test_filter_all_ports_compile);
	TEST_RUN(test_filter_live_kernel);
	return TEST_END("live");
}
