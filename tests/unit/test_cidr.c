/*
 * test_cidr.c — network parsing, membership and formatting.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "cidr.h"

static struct cidr
net(const char *s)
{
	struct cidr c;
	const char *why = NULL;

	if (!cidr_parse(s, strlen(s), &c, &why)) {
		fprintf(stderr, "cannot parse %s: %s\n", s, why);
		test_failed_checks++;
	}
	return c;
}

static struct rg_addr
addr(const char *s)
{
	struct rg_addr a;

	if (!rg_addr_parse(s, strlen(s), &a)) {
		fprintf(stderr, "cannot parse %s\n", s);
		test_failed_checks++;
	}
	return a;
}

static void
check_str(const char *in, const char *want)
{
	struct cidr c = net(in);
	char buf[64];

	ASSERT_STR_EQ(cidr_str(&c, buf, sizeof(buf)), want);
}

static void
test_parse_ok(void)
{
	struct cidr c;

	c = net("192.0.2.0/24");
	ASSERT_INT_EQ(c.net.family, 4);
	ASSERT_INT_EQ(c.prefix, 24);
	ASSERT_INT_EQ(c.net.bytes[0], 192);
	ASSERT_INT_EQ(c.net.bytes[2], 2);
	c = net("2001:db8::/32");
	ASSERT_INT_EQ(c.net.family, 6);
	ASSERT_INT_EQ(c.prefix, 32);
	c = net("198.51.100.7");
	ASSERT_INT_EQ(c.prefix, 32);
	c = net("2001:db8::7");
	ASSERT_INT_EQ(c.prefix, 128);
	c = net("0.0.0.0/0");
	ASSERT_INT_EQ(c.prefix, 0);
	c = net("::/0");
	ASSERT_INT_EQ(c.net.family, 6);
	ASSERT_INT_EQ(c.prefix, 0);
	c = net("203.0.113.255/32");
	ASSERT_INT_EQ(c.prefix, 32);
	c = net("2001:db8::1/128");
	ASSERT_INT_EQ(c.prefix, 128);
	c = net("192.0.2.128/25");
	ASSERT_INT_EQ(c.prefix, 25);
	c = net("2001:db8:1::/48");
	ASSERT_INT_EQ(c.prefix, 48);

	check_str("192.0.2.0/24", "192.0.2.0/24");
	check_str("198.51.100.7", "198.51.100.7/32");
	check_str("2001:DB8:0:0::/64", "2001:db8::/64");
	check_str("::/0", "::/0");
	check_str("0.0.0.0/0", "0.0.0.0/0");
	check_str("2001:db8::1", "2001:db8::1/128");
}

static void
bad(const char *s, size_t len, const char *want_why)
{
	struct cidr c;
	const char *why = NULL;

	if (cidr_parse(s, len, &c, &why)) {
		fprintf(stderr, "accepted bad network \"%.*s\"\n", (int)len, s);
		test_failed_checks++;
		return;
	}
	ASSERT_STR_EQ(why, want_why);
}

#define BAD(s, w) bad((s), strlen(s), (w))

static void
test_parse_bad(void)
{
	BAD("", "empty network");
	BAD("192.0.2.1/24", "host bits set");
	BAD("192.0.2.128/24", "host bits set");
	BAD("192.0.2.1/31", "host bits set");
	BAD("0.0.0.1/0", "host bits set");
	BAD("2001:db8::1/64", "host bits set");
	BAD("2001:db8:8000::/32", "host bits set");
	BAD("::1/127", "host bits set");
	BAD("192.0.2.0/33", "bad prefix length");
	BAD("2001:db8::/129", "bad prefix length");
	BAD("192.0.2.0/", "bad prefix length");
	BAD("192.0.2.0/-1", "bad prefix length");
	BAD("192.0.2.0/2x", "bad prefix length");
	BAD("192.0.2.0/ 24", "bad prefix length");
	BAD("192.0.2.0/24 ", "bad prefix length");
	BAD("192.0.2.0/0024", "bad prefix length");
	BAD("192.0.2.0/24/24", "bad prefix length");
	BAD("192.0.2/24", "bad address");
	BAD("192.0.2.256/32", "bad address");
	BAD("/24", "bad address");
	BAD("example.test", "bad address");
	BAD(" 192.0.2.0/24", "bad address");
	BAD("2001:db8:::/48", "bad address");
	BAD("2001:db8::/4x", "bad prefix length");
	bad("192.0.2.0\0/24", 13, "bad address");
	bad("192.0.2.0/2\0", 12, "bad prefix length");
	/* A NUL must not let "192.0.2.0" pass for longer text. */
	bad("192.0.2.0\0junk", 14, "bad address");
	/* why may be NULL */
	{
		struct cidr c;

		TEST_CHECK(!cidr_parse("junk", 4, &c, NULL));
		TEST_CHECK(!cidr_parse(NULL, 0, &c, NULL));
	}
}

static void
test_contains(void)
{
	struct cidr c;
	struct rg_addr a;

	c = net("192.0.2.0/24");
	a = addr("192.0.2.0");
	TEST_CHECK(cidr_contains(&c, &a));
	a = addr("192.0.2.255");
	TEST_CHECK(cidr_contains(&c, &a));
	a = addr("192.0.3.0");
	TEST_CHECK(!cidr_contains(&c, &a));
	a = addr("192.0.1.255");
	TEST_CHECK(!cidr_contains(&c, &a));
	a = addr("::ffff:192.0.2.1");	/* a v6 address: other family */
	TEST_CHECK(!cidr_contains(&c, &a));

	c = net("192.0.2.128/25");
	a = addr("192.0.2.127");
	TEST_CHECK(!cidr_contains(&c, &a));
	a = addr("192.0.2.128");
	TEST_CHECK(cidr_contains(&c, &a));

	c = net("198.51.100.7");
	a = addr("198.51.100.7");
	TEST_CHECK(cidr_contains(&c, &a));
	a = addr("198.51.100.6");
	TEST_CHECK(!cidr_contains(&c, &a));

	c = net("0.0.0.0/0");
	a = addr("203.0.113.9");
	TEST_CHECK(cidr_contains(&c, &a));
	a = addr("2001:db8::1");
	TEST_CHECK(!cidr_contains(&c, &a));

	c = net("::/0");
	a = addr("2001:db8::1");
	TEST_CHECK(cidr_contains(&c, &a));
	a = addr("203.0.113.9");
	TEST_CHECK(!cidr_contains(&c, &a));

	c = net("2001:db8:1::/48");
	a = addr("2001:db8:1:ffff::1");
	TEST_CHECK(cidr_contains(&c, &a));
	a = addr("2001:db8:2::1");
	TEST_CHECK(!cidr_contains(&c, &a));

	c = net("2001:db8::/33");
	a = addr("2001:db8:7fff::1");
	TEST_CHECK(cidr_contains(&c, &a));
	a = addr("2001:db8:8000::1");
	TEST_CHECK(!cidr_contains(&c, &a));

	c = net("2001:db8::25/128");
	a = addr("2001:db8::25");
	TEST_CHECK(cidr_contains(&c, &a));
	a = addr("2001:db8::24");
	TEST_CHECK(!cidr_contains(&c, &a));

	/* An unset address is in nothing. */
	memset(&a, 0, sizeof(a));
	c = net("0.0.0.0/0");
	TEST_CHECK(!cidr_contains(&c, &a));
	TEST_CHECK(!cidr_contains(&c, NULL));
}

/*
 * The hash index answers as a scan of the list would: random networks of
 * every prefix length against random addresses (many inside them).
 */
static void
test_set_index(void)
{
	struct cidr_set s = { 0 };
	struct cidr nets[600], c;
	struct rg_addr a;
	uint32_t seed = 12345, i, j, n = 0, hits = 0;
	bool want;

	for (i = 0; i < 600; i++) {
		memset(&c, 0, sizeof(c));
		c.net.family = (i % 2) ? 6 : 4;
		for (j = 0; j < 16; j++) {
			seed = seed * 1103515245U + 12345U;
			c.net.bytes[j] = (uint8_t)(seed >> 16);
		}
		if (c.net.family == 4)
			memset(c.net.bytes + 4, 0, 12);
		/* Few distinct high bytes, so addresses fall inside. */
		c.net.bytes[0] = (uint8_t)(c.net.bytes[0] & 3);
		c.prefix = (uint8_t)(seed % (c.net.family == 4 ? 33U : 129U));
		for (j = c.prefix; j < 128; j++)	/* host bits zero */
			c.net.bytes[j / 8] &= (uint8_t)~(0x80 >> (j % 8));
		if (cidr_set_add(&s, &c))
			nets[n++] = c;
	}
	TEST_CHECK(s.count <= n);
	for (i = 0; i < 20000; i++) {
		memset(&a, 0, sizeof(a));
		a.family = (i % 2) ? 6 : 4;
		for (j = 0; j < (a.family == 4 ? 4U : 16U); j++) {
			seed = seed * 1103515245U + 12345U;
			a.bytes[j] = (uint8_t)(seed >> 16);
		}
		a.bytes[0] &= 3;
		if (i % 3 == 0)	/* an address inside a listed network */
			memcpy(a.bytes, nets[i % n].net.bytes,
			    nets[i % n].prefix / 8);
		a.family = (i % 3 == 0) ? nets[i % n].net.family : a.family;
		want = false;
		for (j = 0; j < n && !want; j++)
			want = cidr_contains(&nets[j], &a);
		hits += want;
		if (cidr_set_contains(&s, &a) != want) {
			TEST_CHECK(!"index and scan disagree");
			break;
		}
	}
	TEST_CHECK(hits > 100);
	cidr_set_free(&s);
}

static void
test_set(void)
{
	struct cidr_set s = { 0 };
	struct cidr c;
	struct rg_addr a;
	uint32_t i;

	a = addr("192.0.2.1");
	TEST_CHECK(!cidr_set_contains(&s, &a));
	TEST_CHECK(!cidr_set_contains(NULL, &a));
	c = net("192.0.2.0/24");
	TEST_CHECK(cidr_set_add(&s, &c));
	c = net("2001:db8:1::/48");
	TEST_CHECK(cidr_set_add(&s, &c));
	TEST_CHECK(cidr_set_add(&s, &c));	/* duplicate: kept once */
	ASSERT_INT_EQ(s.count, 2);
	TEST_CHECK(cidr_set_contains(&s, &a));
	a = addr("2001:db8:1::9");
	TEST_CHECK(cidr_set_contains(&s, &a));
	a = addr("2001:db8:2::9");
	TEST_CHECK(!cidr_set_contains(&s, &a));
	a = addr("198.51.100.1");
	TEST_CHECK(!cidr_set_contains(&s, &a));
	cidr_set_free(&s);
	ASSERT_INT_EQ(s.count, 0);
	TEST_CHECK(s.v == NULL);

	/* Grows to CIDR_MAX and no further. */
	for (i = 0; i < CIDR_MAX; i++) {
		memset(&c, 0, sizeof(c));
		c.net.family = 6;
		c.net.bytes[0] = 0x20;
		c.net.bytes[1] = 0x01;
		c.net.bytes[2] = 0x0d;
		c.net.bytes[3] = 0xb8;
		c.net.bytes[14] = (uint8_t)(i >> 8);
		c.net.bytes[15] = (uint8_t)i;
		c.prefix = 128;
		if (!cidr_set_add(&s, &c)) {
			TEST_CHECK(0);
			break;
		}
	}
	ASSERT_INT_EQ(s.count, CIDR_MAX);
	c.net.bytes[13] = 1;
	TEST_CHECK(!cidr_set_add(&s, &c));
	a = addr("2001:db8::fff");
	TEST_CHECK(cidr_set_contains(&s, &a));
	a = addr("2001:db8::ffff");
	TEST_CHECK(cidr_set_contains(&s, &a));
	a = addr("2001:db8::1:0");
	TEST_CHECK(!cidr_set_contains(&s, &a));
	/* Bad entries are refused. */
	cidr_set_free(&s);
	memset(&c, 0, sizeof(c));
	TEST_CHECK(!cidr_set_add(&s, &c));
	c.net.family = 4;
	c.prefix = 33;
	TEST_CHECK(!cidr_set_add(&s, &c));
	cidr_set_free(&s);
	cidr_set_free(NULL);
}

static void
test_str_small_buffer(void)
{
	struct cidr c = net("2001:db8:1::/48");
	char buf[8];

	/* "?" as nft_block_format() wrote, never "2001:db", a clipped text
	 * that reads as another prefix. */
	cidr_str(&c, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "?");
	c = net("203.0.113.0/24");
	cidr_str(&c, buf, 2);
	ASSERT_STR_EQ(buf, "?");
	c.net.family = 0;
	ASSERT_STR_EQ(cidr_str(&c, buf, sizeof(buf)), "?");
	{
		char big[CIDR_STRLEN];

		c = net("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120");
		ASSERT_STR_EQ(cidr_str(&c, big, sizeof(big)),
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120");
		c = net("::ffff:255.255.255.255");
		ASSERT_STR_EQ(cidr_str(&c, big, sizeof(big)),
		    "::ffff:255.255.255.255/128");
	}
}

/*
 * The one prefix parser now behind the daemon's nft, store and blocks code
 * (they had their own): the edges each of them knew.
 */
static void
test_prefix_edges(void)
{
	struct cidr c;

	/* /0 of each family, and each family's full length. */
	c = net("0.0.0.0/0");
	TEST_CHECK(cidr_valid(&c));
	c = net("::/0");
	TEST_CHECK(cidr_valid(&c));
	c = net("203.0.113.9/32");
	ASSERT_INT_EQ(c.prefix, 32);
	c = net("2001:db8::9/128");
	ASSERT_INT_EQ(c.prefix, 128);
	/* A v4-mapped address is IPv6, as the kernel's ip6 sets see it:
	 * /96 is its IPv4 part's /0, /128 the host. */
	c = net("::ffff:192.0.2.1");
	ASSERT_INT_EQ(c.net.family, 6);
	ASSERT_INT_EQ(c.prefix, 128);
	c = net("::ffff:192.0.2.0/120");
	ASSERT_INT_EQ(c.prefix, 120);
	BAD("::ffff:192.0.2.1/120", "host bits set");
	BAD("::ffff:192.0.2.0/24", "host bits set");
	/* Lengths: three digits at most, leading zeros within them. */
	c = net("192.0.2.0/024");
	ASSERT_INT_EQ(c.prefix, 24);
	c = net("2001:db8::/032");
	ASSERT_INT_EQ(c.prefix, 32);
	/* nft_block_parse() took any number of digits; the configuration
	 * never did, and now neither does `block`. */
	BAD("2001:db8::/0128", "bad prefix length");
	BAD("192.0.2.0/00024", "bad prefix length");
	BAD("192.0.2.0/+24", "bad prefix length");
	BAD("192.0.2.0/1000", "bad prefix length");
	BAD("192.0.2.0/4294967320", "bad prefix length"); /* 2^32 + 24 */
	BAD("::/", "bad prefix length");
	BAD("2001:db8::/200", "bad prefix length");
	/* Host bits right at the boundary. */
	BAD("192.0.2.3/31", "host bits set");
	c = net("192.0.2.2/31");
	ASSERT_INT_EQ(c.prefix, 31);
	BAD("2001:db8::1/127", "host bits set");
	BAD("255.255.255.255/31", "host bits set");
	/* Longer than any address: refused, never clipped. */
	BAD("2001:0db8:0000:0000:0000:0000:0000:0000:0000/64", "bad address");
}

/* cidr_make: the same rules for an address and a length given apart (the
 * store keeps them in two columns). */
static void
test_make(void)
{
	struct rg_addr a = addr("192.0.2.0");
	struct cidr c;
	const char *why = NULL;

	TEST_CHECK(cidr_make(&a, 24, &c, &why));
	ASSERT_INT_EQ(c.prefix, 24);
	TEST_CHECK(!cidr_make(&a, 0, &c, &why));
	TEST_CHECK(!cidr_make(&a, 33, &c, &why));
	ASSERT_STR_EQ(why, "bad prefix length");
	TEST_CHECK(!cidr_make(&a, 22, &c, &why));
	ASSERT_STR_EQ(why, "host bits set");
	a = addr("2001:db8::");
	TEST_CHECK(cidr_make(&a, 128, &c, &why));
	TEST_CHECK(cidr_make(&a, 32, &c, &why));
	TEST_CHECK(!cidr_make(&a, 129, &c, &why));
	TEST_CHECK(!cidr_make(&a, 28, &c, &why));
	ASSERT_STR_EQ(why, "host bits set");
	memset(&a, 0, sizeof(a));
	TEST_CHECK(!cidr_make(&a, 0, &c, &why));
	ASSERT_STR_EQ(why, "bad address");

	/* cidr_valid: what nft refuses before the kernel sees it. */
	c = net("192.0.2.0/24");
	TEST_CHECK(cidr_valid(&c));
	c.net.bytes[3] = 1;
	TEST_CHECK(!cidr_valid(&c));
	c = net("192.0.2.0/24");
	c.prefix = 33;
	TEST_CHECK(!cidr_valid(&c));
	c = net("2001:db8::/32");
	c.net.family = 5;
	TEST_CHECK(!cidr_valid(&c));
	ASSERT_INT_EQ(cidr_width(4), 32);
	ASSERT_INT_EQ(cidr_width(6), 128);
	ASSERT_INT_EQ(cidr_width(2), 0);	/* AF_INET is not a family here */
}

/* cidr_covers: the one containment test of prefix in prefix (blocks,
 * the store's rg_inside, never-block overlaps). */
static void
test_covers(void)
{
	struct cidr a, b;

	a = net("192.0.2.0/24");
	b = net("192.0.2.128/25");
	TEST_CHECK(cidr_covers(&a, &b));
	TEST_CHECK(!cidr_covers(&b, &a));
	TEST_CHECK(cidr_covers(&a, &a));
	b = net("192.0.2.77");
	TEST_CHECK(cidr_covers(&a, &b));
	b = net("192.0.3.0/24");
	TEST_CHECK(!cidr_covers(&a, &b));
	b = net("192.0.0.0/16");
	TEST_CHECK(!cidr_covers(&a, &b));
	TEST_CHECK(cidr_covers(&b, &a));
	/* /0 covers its own family only. */
	a = net("0.0.0.0/0");
	b = net("203.0.113.9");
	TEST_CHECK(cidr_covers(&a, &b));
	b = net("::ffff:203.0.113.9");
	TEST_CHECK(!cidr_covers(&a, &b));
	a = net("::/0");
	TEST_CHECK(cidr_covers(&a, &b));
	b = net("203.0.113.9");
	TEST_CHECK(!cidr_covers(&a, &b));
	/* A bit past a byte boundary. */
	a = net("2001:db8::/33");
	b = net("2001:db8:7fff::/48");
	TEST_CHECK(cidr_covers(&a, &b));
	b = net("2001:db8:8000::/48");
	TEST_CHECK(!cidr_covers(&a, &b));
	a = net("2001:db8::1");
	b = net("2001:db8::1");
	TEST_CHECK(cidr_covers(&a, &b));
	TEST_CHECK(!cidr_covers(NULL, &b));
	TEST_CHECK(!cidr_covers(&a, NULL));
	/* An inner prefix longer than its family allows is no prefix. */
	a = net("192.0.2.0/24");
	b = net("192.0.2.1");
	b.prefix = 40;
	TEST_CHECK(!cidr_covers(&a, &b));
}

/* rg_addr_parse() itself refuses a NUL inside the text. */
static void
test_addr_parse_nul(void)
{
	struct rg_addr a;

	TEST_CHECK(rg_addr_parse("192.0.2.1", 9, &a));
	TEST_CHECK(!rg_addr_parse("192.0.2.1\0junk", 14, &a));
	TEST_CHECK(!rg_addr_parse("2001:db8::1\0", 12, &a));
}

int
main(void)
{
	TEST_RUN(test_parse_ok);
	TEST_RUN(test_parse_bad);
	TEST_RUN(test_contains);
	TEST_RUN(test_set);
	TEST_RUN(test_set_index);
	TEST_RUN(test_str_small_buffer);
	TEST_RUN(test_addr_parse_nul);
	TEST_RUN(test_prefix_edges);
	TEST_RUN(test_make);
	TEST_RUN(test_covers);
	return TEST_END("cidr");
}
