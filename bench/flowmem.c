/*
 * flowmem.c — memory per tracked idle flow: open N SMTP sessions through
 * one engine (handshake, banner, EHLO and its reply, then nothing: each
 * waits for MAIL FROM), and print the growth of the resident set divided
 * by N.  The flow table's buckets are in it (the table is sized for
 * max-flows, which is set to N here) and so is everything a session keeps
 * (its HELO, stream state).  No packet times out: they all fall within a
 * few seconds.
 *
 *	make && cc -O2 -D_GNU_SOURCE -Ifilters -Icommon -o build/flowmem \
 *	    bench/flowmem.c build/libcommon.a build/libfilters.a -lidn2
 *	build/flowmem 1000000
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"
#include "engine.h"

#define SYN 0x02
#define ACK 0x10
#define PSH 0x08

static long
rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = 0;
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Ethernet, IPv4 and TCP headers (checksums are not checked by replay)
 * and a payload. */
static size_t
packet(uint8_t *b, const uint8_t src[4], const uint8_t dst[4], uint16_t sp,
    uint16_t dp, uint32_t seq, uint32_t ack, uint8_t flags, const char *data)
{
	size_t n = data != NULL ? strlen(data) : 0, ip = 20 + 20 + n;

	memset(b, 0, 54);
	b[12] = 0x08;
	b[14] = 0x45;
	b[16] = (uint8_t)(ip >> 8);
	b[17] = (uint8_t)ip;
	b[22] = 64;
	b[23] = 6;
	memcpy(b + 26, src, 4);
	memcpy(b + 30, dst, 4);
	b[34] = (uint8_t)(sp >> 8); b[35] = (uint8_t)sp;
	b[36] = (uint8_t)(dp >> 8); b[37] = (uint8_t)dp;
	b[38] = (uint8_t)(seq >> 24); b[39] = (uint8_t)(seq >> 16);
	b[40] = (uint8_t)(seq >> 8); b[41] = (uint8_t)seq;
	b[42] = (uint8_t)(ack >> 24); b[43] = (uint8_t)(ack >> 16);
	b[44] = (uint8_t)(ack >> 8); b[45] = (uint8_t)ack;
	b[46] = 0x50;
	b[47] = flags;
	b[48] = 0xff; b[49] = 0xff;
	if (n > 0)
		memcpy(b + 54, data, n);
	return 54 + n;
}

int
main(int argc, char **argv)
{
	static const char banner[] = "220 mx.example.test ESMTP\r\n";
	static const char ehlo[] = "EHLO client.example.test\r\n";
	static const char reply[] = "250-mx.example.test\r\n250 PIPELINING\r\n";
	const uint8_t srv[4] = { 198, 51, 100, 25 };
	char path[] = "/tmp/flowmem.XXXXXX", err[512];
	struct config conf;
	struct engine *e;
	struct engine_stats st;
	uint8_t pkt[256], cli[4];
	unsigned long n, i;
	uint32_t cs, ss;
	uint16_t cp;
	long before, after;
	rg_time_t t = 1700000000ULL * 1000000;
	FILE *f;
	int fd;

	n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	if (n == 0 || n > 15000000) {
		fprintf(stderr, "usage: flowmem [FLOWS]\n");
		return 2;
	}
	if ((fd = mkstemp(path)) < 0 || (f = fdopen(fd, "w")) == NULL)
		return 1;
	fprintf(f, "local-domains example.test\nmax-flows %lu\n"
	    "flow-memory 4G\n", n + 1000);
	fclose(f);
	if (!conffile_load(path, true, &conf, err, sizeof(err))) {
		fprintf(stderr, "flowmem: %s\n", err);
		return 1;
	}
	unlink(path);
	if ((e = engine_new(&conf, false)) == NULL)
		return 1;
	before = rss_kib();
	for (i = 0; i < n; i++) {
		/* 192.0.2.1-250 and 203.0.113.1-250, a port each time */
		cli[0] = i & 1 ? 203 : 192;
		cli[1] = 0;
		cli[2] = i & 1 ? 113 : 2;
		cli[3] = (uint8_t)(1 + (i / 2) % 250);
		cp = (uint16_t)(1024 + i / 500);
		cs = (uint32_t)i * 7919u;
		ss = (uint32_t)i * 104729u;
		t += 1;
#define FEED(len) engine_packet(e, 1, t, pkt, (len), (len), 0, \
	ENGINE_INDEV_UNKNOWN, NULL)
		FEED(packet(pkt, cli, srv, cp, 25, cs, 0, SYN, NULL));
		FEED(packet(pkt, srv, cli, 25, cp, ss, cs + 1, SYN | ACK, NULL));
		FEED(packet(pkt, cli, srv, cp, 25, cs + 1, ss + 1, ACK, NULL));
		FEED(packet(pkt, srv, cli, 25, cp, ss + 1, cs + 1, PSH | ACK,
		    banner));
		FEED(packet(pkt, cli, srv, cp, 25, cs + 1, ss + 1 +
		    sizeof(banner) - 1, PSH | ACK, ehlo));
		FEED(packet(pkt, srv, cli, 25, cp, ss + sizeof(banner),
		    cs + sizeof(ehlo), PSH | ACK, reply));
		FEED(packet(pkt, cli, srv, cp, 25, cs + sizeof(ehlo),
		    ss + sizeof(banner) + sizeof(reply) - 1, ACK, NULL));
#undef FEED
	}
	after = rss_kib();
	engine_get_stats(e, &st);
	printf("flows %llu (sessions %llu, evicted %llu), buffer bytes %llu\n",
	    (unsigned long long)st.flows_active,
	    (unsigned long long)st.sessions,
	    (unsigned long long)st.flows_evicted,
	    (unsigned long long)st.mem_used);
	printf("resident set grew %ld KiB: %.0f bytes per idle flow\n",
	    after - before, (double)(after - before) * 1024 / (double)n);
	engine_free(e);
	config_free(&conf);
	return 0;
}
