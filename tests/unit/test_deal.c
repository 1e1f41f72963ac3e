/*
 * test_deal.c — filters/deal.c: where both ends of a connection are
 * protected servers (port 25 to port 25, no servers key), both directions
 * of every connection go to one worker, however many such connections
 * are open at once: more than the table's first 4,096 slots (it grows),
 * and more than its largest (DEAL_PAIRS_MAX, made small here: the rest
 * go by their unordered address pair).  Before the fix, a later
 * connection overwrote an earlier one's slot and the earlier one's
 * replies went to the worker of the wrong end.
 */
#include <stdlib.h>

#include "test.h"

#define DEAL_PAIRS_MAX	(1u << 14)	/* 8,192 connections */
#include "../../filters/deal.c"

#define NCONN	12000
#define NWORK	4

/* A raw IPv6 TCP packet from 2001:db8:a::A port 25 to 2001:db8:b::B port
 * 25 (or the other way round), flags, with len payload bytes. */
static size_t
mk(uint8_t *b, uint32_t client, uint32_t server, bool reply, uint8_t flags,
    size_t len)
{
	uint8_t *ip = b, *th = b + 40, *src = ip + 8, *dst = ip + 24;
	uint32_t c = client, s = server;

	memset(b, 0, 40 + 20 + len);
	ip[0] = 0x60;
	ip[4] = (uint8_t)((20 + len) >> 8);
	ip[5] = (uint8_t)(20 + len);
	ip[6] = 6;
	ip[7] = 64;
	if (reply) {
		src = ip + 24;
		dst = ip + 8;
	}
	src[0] = 0x20, src[1] = 0x01, src[2] = 0x0d, src[3] = 0xb8;
	src[5] = 0x0a;
	memcpy(src + 12, &c, 4);
	dst[0] = 0x20, dst[1] = 0x01, dst[2] = 0x0d, dst[3] = 0xb8;
	dst[5] = 0x0b;
	memcpy(dst + 12, &s, 4);
	th[1] = 25;		/* source port 25 */
	th[3] = 25;		/* destination port 25 */
	th[7] = 1;		/* seq */
	th[11] = 1;		/* ack */
	th[12] = 5 << 4;
	th[13] = flags;
	th[14] = 0xff;
	memset(th + 20, 'x', len);
	return 40 + 20 + len;
}

static unsigned
dealt(struct deal *d, uint32_t c, uint32_t s, bool reply, uint8_t flags,
    size_t len)
{
	struct decode_packet p;
	uint8_t b[128];
	size_t n = mk(b, c, s, reply, flags, len);

	return deal_decoded(d, decode_packet(DECODE_LINK_RAW, b, n, n, &p),
	    &p);
}

static void
test_many_server_pairs(void)
{
	static struct config conf;
	static unsigned w[NCONN];
	struct deal *d;
	uint32_t i;
	unsigned apart = 0, other = 0, by_pair = 0;

	config_defaults(&conf);
	if ((d = deal_new(&conf, NWORK)) == NULL) {
		TEST_CHECK(d != NULL);
		return;
	}
	/* Every connection opened (SYN, SYN-ACK) before any carries data:
	 * all NCONN are open at once.  Client i talks to server i. */
	for (i = 0; i < NCONN; i++)
		w[i] = dealt(d, i + 1, i + 1, false, 0x02, 0);
	for (i = 0; i < NCONN; i++)
		if (dealt(d, i + 1, i + 1, true, 0x12, 0) != w[i])
			apart++;
	/* Then every client sends, then every server replies. */
	for (i = 0; i < NCONN; i++)
		if (dealt(d, i + 1, i + 1, false, 0x18, 30) != w[i])
			apart++;
	for (i = 0; i < NCONN; i++)
		if (dealt(d, i + 1, i + 1, true, 0x18, 40) != w[i] ||
		    dealt(d, i + 1, i + 1, true, 0x10, 0) != w[i])
			apart++;
	for (i = 0; i < NCONN; i++) {
		if (dealt(d, i + 1, i + 1, false, 0x11, 0) != w[i])
			apart++;
		/* The remembered ones go with their client's other
		 * connections (its address, to a server not on port 25). */
		if (i < DEAL_PAIRS_MAX / 2 - 1) {
			if (w[i] != deal_worker(d, &(struct rg_addr){ .family =
			    6, .bytes = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x0a, 0, 0,
			    0, 0, 0, 0, (uint8_t)((i + 1) & 0xff),
			    (uint8_t)((i + 1) >> 8), 0, 0 } }))
				other++;
		} else
			by_pair++;
	}
	ASSERT_INT_EQ(apart, 0);
	ASSERT_INT_EQ(other, 0);
	TEST_CHECK(by_pair > 0);
	ASSERT_INT_EQ(d->npairs, DEAL_PAIRS_MAX);
	deal_free(d);
}

int
main(void)
{
	TEST_RUN(test_many_server_pairs);
	return TEST_END("deal");
}
