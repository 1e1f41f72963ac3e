/*
 * test_address.c — RCPT path parsing and routing-trick unwrapping.
 *
 * The main test is a table: each row is an RCPT argument and the exact
 * kind, first trick, final domain, raw path and locality expected with
 * local-domains "example.test .example.test" and the server at
 * 198.51.100.25 (or 2001:db8:2::25 for rows marked V6).
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "address.h"

#define D	ADDR_DOMAIN
#define L	ADDR_LITERAL
#define PM	ADDR_POSTMASTER
#define ND	ADDR_NO_DOMAIN
#define NUL	ADDR_NULL
#define BAD	ADDR_MALFORMED
#define NONE	ADDR_TRICK_NONE
#define SR	ADDR_TRICK_SOURCE_ROUTE
#define PCT	ADDR_TRICK_PERCENT
#define BANG	ADDR_TRICK_BANG
#define QT	ADDR_TRICK_QUOTED

struct row {
	const char *arg;
	size_t len;		/* 0: strlen(arg) */
	int ret;		/* addr_parse_rcpt() result */
	enum addr_kind kind;
	enum addr_trick trick;
	const char *domain;
	const char *raw;
	size_t raw_len;		/* 0: strlen(raw) */
	int local;
	int v6;			/* server is 2001:db8:2::25 */
};

#define ROW(a, k, t, d, r, loc)	{ a, 0, 1, k, t, d, r, 0, loc, 0 }
#define ROW6(a, k, t, d, r, loc) { a, 0, 1, k, t, d, r, 0, loc, 1 }
#define NOTTO(a)		{ a, 0, 0, BAD, NONE, "", "", 0, 0, 0 }

static const struct row rows[] = {
	/* plain, case, trailing dot */
	ROW("TO:<user@example.test>", D, NONE, "example.test", "user@example.test", 1),
	ROW("TO:<USER@Example.TEST.>", D, NONE, "example.test", "USER@Example.TEST.", 1),
	ROW("TO:<u@EXAMPLE.TEST>", D, NONE, "example.test", "u@EXAMPLE.TEST", 1),
	ROW("To:<u@Example.Test>", D, NONE, "example.test", "u@Example.Test", 1),
	ROW("TO:<user@example.test..>", BAD, NONE, "", "user@example.test..", 0),
	ROW("TO:<u@sub.example.test>", D, NONE, "sub.example.test", "u@sub.example.test", 1),
	ROW("TO:<u@a.b.sub.example.test.>", D, NONE, "a.b.sub.example.test", "u@a.b.sub.example.test.", 1),
	ROW("TO:<u@evil.test>", D, NONE, "evil.test", "u@evil.test", 0),
	ROW("TO:<u@evil.test.>", D, NONE, "evil.test", "u@evil.test.", 0),
	ROW("TO:<u@badexample.test>", D, NONE, "badexample.test", "u@badexample.test", 0),
	ROW("TO:<u@example.test.evil.test>", D, NONE, "example.test.evil.test", "u@example.test.evil.test", 0),
	ROW("TO:<u@example>", D, NONE, "example", "u@example", 0),
	ROW("to:<U@EVIL.TEST>", D, NONE, "evil.test", "U@EVIL.TEST", 0),
	ROW("TO:<postmaster@example.test>", D, NONE, "example.test", "postmaster@example.test", 1),
	ROW("TO:<postmaster@evil.test>", D, NONE, "evil.test", "postmaster@evil.test", 0),
	/* domain syntax */
	ROW("TO:<u@exa_mple.test>", D, NONE, "exa_mple.test", "u@exa_mple.test", 0),
	/* Internationalised domains compare as A-labels: the list has
	 * "ex\xc3\xa4mple.test" and ".ex\xc3\xa4mple.test" (U-labels) and
	 * "xn--bcher-kva.test" (an A-label), see setup(). */
	ROW("TO:<u@B\xc3\x9c" "cher.test>", D, NONE, "xn--bcher-kva.test", "u@B\xc3\x9c" "cher.test", 1),
	ROW("TO:<u@b\xc3\xbc" "cher.test.>", D, NONE, "xn--bcher-kva.test", "u@b\xc3\xbc" "cher.test.", 1),
	ROW("TO:<u@xn--exmple-cua.test>", D, NONE, "xn--exmple-cua.test", "u@xn--exmple-cua.test", 1),
	ROW("TO:<u@XN--EXMPLE-CUA.TEST.>", D, NONE, "xn--exmple-cua.test", "u@XN--EXMPLE-CUA.TEST.", 1),
	ROW("TO:<u@EX\xc3\x84MPLE.test>", D, NONE, "xn--exmple-cua.test", "u@EX\xc3\x84MPLE.test", 1),
	ROW("TO:<u@a.ex\xc3\xa4mple.test>", D, NONE, "a.xn--exmple-cua.test", "u@a.ex\xc3\xa4mple.test", 1),
	ROW("TO:<u@xn--exmple-cua.test.evil.test>", D, NONE, "xn--exmple-cua.test.evil.test", "u@xn--exmple-cua.test.evil.test", 0),
	ROW("TO:<u@\xc3\xa4.evil.test>", D, NONE, "xn--4ca.evil.test", "u@\xc3\xa4.evil.test", 0),
	ROW("TO:<u%evil.test@ex\xc3\xa4mple.test>", D, PCT, "evil.test", "u%evil.test@ex\xc3\xa4mple.test", 0),
	ROW("TO:<u%xn--bcher-kva.test@ex\xc3\xa4mple.test>", D, PCT, "xn--bcher-kva.test", "u%xn--bcher-kva.test@ex\xc3\xa4mple.test", 1),
	/* Fail-closed: UTF-8 that is not valid IDNA is foreign, even under
	 * a local suffix (the raw bytes stay in domain): invalid UTF-8, a
	 * disallowed code point, a mapping to '/', an A-label too long. */
	ROW("TO:<u@ex\xffmple.test>", D, NONE, "ex\xffmple.test", "u@ex\xffmple.test", 0),
	ROW("TO:<u@\xe2\x98\x83.example.test>", D, NONE, "\xe2\x98\x83.example.test", "u@\xe2\x98\x83.example.test", 0),
	ROW("TO:<u@a\xef\xbc\x8f" "b.example.test>", D, NONE, "a\xef\xbc\x8f" "b.example.test", "u@a\xef\xbc\x8f" "b.example.test", 0),
	ROW("TO:<u@ab--\xc3\xa4.example.test>", D, NONE, "ab--\xc3\xa4.example.test", "u@ab--\xc3\xa4.example.test", 0),
	ROW("TO:<u@xn--zz.example.test>", D, NONE, "xn--zz.example.test", "u@xn--zz.example.test", 1),
	ROW("TO:<u@ex ample.test>", BAD, NONE, "", "u@ex ample.test", 0),
	ROW("TO:<u@.example.test>", BAD, NONE, "", "u@.example.test", 0),
	ROW("TO:<u@example..test>", BAD, NONE, "", "u@example..test", 0),
	ROW("TO:<u@>", BAD, NONE, "", "u@", 0),
	ROW("TO:<u@.>", BAD, NONE, "", "u@.", 0),
	ROW("TO:<@>", BAD, NONE, "", "@", 0),
	ROW("TO:<u@exa(c)mple.test>", BAD, NONE, "", "u@exa(c)mple.test", 0),
	ROW("TO:<u@example.test(c)>", BAD, NONE, "", "u@example.test(c)", 0),
	/* source routes */
	ROW("TO:<@example.test:u@evil.test>", D, SR, "evil.test", "@example.test:u@evil.test", 0),
	ROW("TO:<@evil.test:u@example.test>", D, SR, "example.test", "@evil.test:u@example.test", 1),
	ROW("TO:<@a.test,@b.test:u@evil.test>", D, SR, "evil.test", "@a.test,@b.test:u@evil.test", 0),
	ROW("TO:<@a.test,@b.test:u@example.test>", D, SR, "example.test", "@a.test,@b.test:u@example.test", 1),
	ROW("TO:<@a.test:@b.test:u@evil.test>", D, SR, "evil.test", "@a.test:@b.test:u@evil.test", 0),
	ROW("TO:<@example.test:postmaster>", PM, SR, "", "@example.test:postmaster", 1),
	ROW("TO:<@evil.test>", BAD, NONE, "", "@evil.test", 0),
	ROW("TO:<@evil.test:>", BAD, SR, "", "@evil.test:", 0),
	/* %-hack */
	ROW("TO:<u%evil.test@example.test>", D, PCT, "evil.test", "u%evil.test@example.test", 0),
	ROW("TO:<u%example.test@example.test>", D, PCT, "example.test", "u%example.test@example.test", 1),
	ROW("TO:<u%evil.test%example.test@example.test>", D, PCT, "evil.test", "u%evil.test%example.test@example.test", 0),
	ROW("TO:<u%example.test%evil.test@example.test>", D, PCT, "evil.test", "u%example.test%evil.test@example.test", 0),
	ROW("TO:<u%evil.test@sub.example.test>", D, PCT, "evil.test", "u%evil.test@sub.example.test", 0),
	ROW("TO:<u%evil.test@evil2.test>", D, NONE, "evil2.test", "u%evil.test@evil2.test", 0),
	ROW("TO:<u%evil.test>", D, PCT, "evil.test", "u%evil.test", 0),
	ROW("TO:<u%@example.test>", BAD, PCT, "", "u%@example.test", 0),
	ROW("TO:<%evil.test@example.test>", BAD, PCT, "", "%evil.test@example.test", 0),
	ROW("TO:<u%evil.test@[198.51.100.25]>", D, PCT, "evil.test", "u%evil.test@[198.51.100.25]", 0),
	ROW("TO:<u%[203.0.113.5]@example.test>", L, PCT, "[203.0.113.5]", "u%[203.0.113.5]@example.test", 0),
	ROW("TO:<u%[198.51.100.25]@example.test>", L, PCT, "[198.51.100.25]", "u%[198.51.100.25]@example.test", 1),
	/* bang paths */
	ROW("TO:<evil.test!u@example.test>", D, BANG, "evil.test", "evil.test!u@example.test", 0),
	ROW("TO:<evil.test!u>", D, BANG, "evil.test", "evil.test!u", 0),
	ROW("TO:<example.test!u@example.test>", D, BANG, "example.test", "example.test!u@example.test", 1),
	ROW("TO:<sub.example.test!evil.test!u@example.test>", D, BANG, "evil.test", "sub.example.test!evil.test!u@example.test", 0),
	ROW("TO:<evil.test!u%example.test@example.test>", D, PCT, "evil.test", "evil.test!u%example.test@example.test", 0),
	ROW("TO:<!u@example.test>", BAD, BANG, "", "!u@example.test", 0),
	ROW("TO:<u!@example.test>", BAD, BANG, "", "u!@example.test", 0),
	/* u@b@local */
	ROW("TO:<u@evil.test@example.test>", D, NONE, "evil.test", "u@evil.test@example.test", 0),
	ROW("TO:<u@example.test@evil.test>", D, NONE, "evil.test", "u@example.test@evil.test", 0),
	ROW("TO:<u@sub.example.test@example.test>", D, NONE, "sub.example.test", "u@sub.example.test@example.test", 1),
	ROW("TO:<u\\@evil.test@example.test>", D, NONE, "evil.test", "u\\@evil.test@example.test", 0),
	/* quoted local parts */
	ROW("TO:<\"u@evil.test\"@example.test>", D, QT, "evil.test", "\"u@evil.test\"@example.test", 0),
	ROW("TO:<\"u%evil.test\"@example.test>", D, QT, "evil.test", "\"u%evil.test\"@example.test", 0),
	ROW("TO:<\"evil.test!u\"@example.test>", D, QT, "evil.test", "\"evil.test!u\"@example.test", 0),
	ROW("TO:<\"u@example.test\"@example.test>", D, QT, "example.test", "\"u@example.test\"@example.test", 1),
	ROW("TO:<\"u%evil.test\"%example.test@example.test>", D, QT, "evil.test", "\"u%evil.test\"%example.test@example.test", 0),
	ROW("TO:<u\"@\"evil.test@example.test>", D, QT, "evil.test", "u\"@\"evil.test@example.test", 0),
	ROW("TO:<\"u\\@evil.test\"@example.test>", D, QT, "evil.test", "\"u\\@evil.test\"@example.test", 0),
	ROW("TO:<\"u\\\"x@evil.test\"@example.test>", BAD, QT, "", "\"u\\\"x@evil.test\"@example.test", 0),
	ROW("TO:<\"@evil.test:u\"@example.test>", ND, QT, "", "\"@evil.test:u\"@example.test", 0),
	ROW("TO:<\"a b\"@example.test>", D, NONE, "example.test", "\"a b\"@example.test", 1),
	ROW("TO:<\"a\\\\b\"@example.test>", D, NONE, "example.test", "\"a\\\\b\"@example.test", 1),
	ROW("TO:<\"a>b\"@example.test>", D, NONE, "example.test", "\"a>b\"@example.test", 1),
	ROW("TO:<\"a>b\"@evil.test>", D, NONE, "evil.test", "\"a>b\"@evil.test", 0),
	ROW("TO:<\"u@evil.test\"@evil2.test>", D, NONE, "evil2.test", "\"u@evil.test\"@evil2.test", 0),
	ROW("TO:<\"u@evil.test>", BAD, NONE, "", "\"u@evil.test>", 0),
	ROW("TO:<\"u@evil.test\\\"@example.test>", BAD, NONE, "", "\"u@evil.test\\\"@example.test>", 0),
	ROW("TO:<\"u@evil.test\">", D, QT, "evil.test", "\"u@evil.test\"", 0),
	ROW("TO:<\"\">", ND, NONE, "", "\"\"", 0),
	/* domain-less */
	ROW("TO:<postmaster>", PM, NONE, "", "postmaster", 1),
	ROW("TO:<PostMaster>", PM, NONE, "", "PostMaster", 1),
	ROW("TO:<\"postmaster\">", PM, NONE, "", "\"postmaster\"", 1),
	ROW("TO:<postmasters>", ND, NONE, "", "postmasters", 0),
	ROW("TO:<user>", ND, NONE, "", "user", 0),
	ROW("TO:postmaster", PM, NONE, "", "postmaster", 1),
	/* address literals */
	ROW("TO:<u@[198.51.100.25]>", L, NONE, "[198.51.100.25]", "u@[198.51.100.25]", 1),
	ROW("TO:<u@[203.0.113.5]>", L, NONE, "[203.0.113.5]", "u@[203.0.113.5]", 0),
	ROW6("TO:<u@[IPv6:2001:db8:2::25]>", L, NONE, "[ipv6:2001:db8:2::25]", "u@[IPv6:2001:db8:2::25]", 1),
	ROW6("TO:<u@[ipv6:2001:DB8:2:0::25]>", L, NONE, "[ipv6:2001:db8:2:0::25]", "u@[ipv6:2001:DB8:2:0::25]", 1),
	ROW6("TO:<u@[IPv6:2001:db8:2::26]>", L, NONE, "[ipv6:2001:db8:2::26]", "u@[IPv6:2001:db8:2::26]", 0),
	ROW6("TO:<u@[198.51.100.25]>", L, NONE, "[198.51.100.25]", "u@[198.51.100.25]", 0),
	ROW("TO:<u@[IPv6:2001:db8:2::25]>", L, NONE, "[ipv6:2001:db8:2::25]", "u@[IPv6:2001:db8:2::25]", 0),
	ROW6("TO:<u@[2001:db8:2::25]>", BAD, NONE, "", "u@[2001:db8:2::25]", 0),
	ROW("TO:<u@[IPv6:198.51.100.25]>", BAD, NONE, "", "u@[IPv6:198.51.100.25]", 0),
	ROW("TO:<u@[198.51.100.256]>", BAD, NONE, "", "u@[198.51.100.256]", 0),
	ROW("TO:<u@[198.51.100.025]>", BAD, NONE, "", "u@[198.51.100.025]", 0),
	ROW("TO:<u@[198.51.100]>", BAD, NONE, "", "u@[198.51.100]", 0),
	ROW("TO:<u@[]>", BAD, NONE, "", "u@[]", 0),
	ROW("TO:<u@[198.51.100.25>", BAD, NONE, "", "u@[198.51.100.25", 0),
	ROW("TO:<u@[198.51.100.25].>", BAD, NONE, "", "u@[198.51.100.25].", 0),
	ROW("TO:<u@[tag:198.51.100.25]>", BAD, NONE, "", "u@[tag:198.51.100.25]", 0),
	/* blanks, parameters, bare paths */
	ROW("TO: <u@evil.test> NOTIFY=NEVER", D, NONE, "evil.test", "u@evil.test", 0),
	ROW("TO:\t<u@evil.test>\tNOTIFY=NEVER\t", D, NONE, "evil.test", "u@evil.test", 0),
	ROW("TO:<u@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@example.test", D, NONE, "example.test", "u@example.test", 1),
	ROW("TO:<u@example.test> X-FLAG", D, NONE, "example.test", "u@example.test", 1),
	ROW("TO:u@evil.test", D, NONE, "evil.test", "u@evil.test", 0),
	ROW("TO:u@example.test NOTIFY=NEVER", D, NONE, "example.test", "u@example.test", 1),
	ROW("TO:< u@example.test >", D, NONE, "example.test", " u@example.test ", 1),
	ROW("TO :<u@evil.test>", D, NONE, "evil.test", "u@evil.test", 0),
	ROW(" TO : <u@evil.test>", D, NONE, "evil.test", "u@evil.test", 0),
	ROW("TO:<>", NUL, NONE, "", "", 0),
	ROW("TO:< >", NUL, NONE, "", " ", 0),
	ROW("TO:<> NOTIFY=NEVER", NUL, NONE, "", "", 0),
	ROW("TO:", BAD, NONE, "", "", 0),
	ROW("TO:   ", BAD, NONE, "", "", 0),
	ROW("TO:<u@evil.test", BAD, NONE, "", "u@evil.test", 0),
	ROW("TO:<u@example.test NOTIFY=NEVER", BAD, NONE, "", "u@example.test", 0),
	/* whatever follows the path must be parameters */
	ROW("TO:<u@example.test> <u@evil.test>", BAD, NONE, "", "u@example.test", 0),
	ROW("TO:u@example.test <u@evil.test>", BAD, NONE, "", "u@example.test", 0),
	ROW("TO:u@example.test u@evil.test", BAD, NONE, "", "u@example.test", 0),
	ROW("TO:<u@example.test>x", BAD, NONE, "", "u@example.test", 0),
	ROW("TO:<u@example.test> (comment)", BAD, NONE, "", "u@example.test", 0),
	ROW("TO:<u@example.test>\r", BAD, NONE, "", "u@example.test", 0),
	ROW("TO:<<u@example.test>>", BAD, NONE, "", "<u@example.test", 0),
	ROW("TO:<<u@evil.test>", D, NONE, "evil.test", "<u@evil.test", 0),
	/* not RCPT TO: */
	NOTTO(""),
	NOTTO("T"),
	NOTTO("TO"),
	NOTTO("TO<u@evil.test>"),
	NOTTO("FROM:<u@evil.test>"),
	NOTTO("TOO:<u@evil.test>"),
	NOTTO("\x01\xff\x7f"),
	/* embedded NUL bytes: explicit lengths */
	{ "TO:<u\0@example.test>", 20, 1, D, NONE, "example.test", "u\0@example.test", 15, 1, 0 },
	{ "TO:<u@example.test\0.evil.test>", 30, 1, BAD, NONE, "", "u@example.test\0.evil.test", 25, 0, 0 },
	{ "TO:<u@[198.51.100.25\0]>", 23, 1, BAD, NONE, "", "u@[198.51.100.25\0]", 18, 0, 0 },
	{ "TO:<u@evil.test>\0", 17, 1, BAD, NONE, "", "u@evil.test", 0, 0, 0 },
};

static struct addr_domains local_domains;
static struct rg_addr server4, server6;

static void
setup(void)
{
	const char *why = NULL;

	TEST_CHECK(addr_domains_add(&local_domains, "example.test", 12, &why));
	TEST_CHECK(addr_domains_add(&local_domains, ".example.test", 13, &why));
	TEST_CHECK(addr_domains_add(&local_domains, "ex\xc3\xa4mple.test", 13,
	    &why));
	TEST_CHECK(addr_domains_add(&local_domains, ".ex\xc3\xa4mple.test", 14,
	    &why));
	TEST_CHECK(addr_domains_add(&local_domains, "xn--bcher-kva.test", 18,
	    &why));
	TEST_CHECK(rg_addr_parse("198.51.100.25", 13, &server4));
	TEST_CHECK(rg_addr_parse("2001:db8:2::25", 14, &server6));
}

static void
test_table(void)
{
	struct addr_path p;
	const struct row *r;
	const struct rg_addr *srv;
	size_t i, len, rawlen;
	int ret;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		r = &rows[i];
		len = r->len ? r->len : strlen(r->arg);
		rawlen = r->raw_len ? r->raw_len : strlen(r->raw);
		srv = r->v6 ? &server6 : &server4;
		ret = addr_parse_rcpt(r->arg, len, &local_domains, srv, &p);
		if (ret != r->ret || p.kind != r->kind ||
		    p.trick != r->trick || strcmp(p.domain, r->domain) != 0 ||
		    p.raw_len != rawlen ||
		    memcmp(p.raw, r->raw, rawlen) != 0 ||
		    (p.raw < r->arg || p.raw + p.raw_len > r->arg + len) ||
		    addr_is_local(&p, &local_domains, srv) != (r->local != 0)) {
			fprintf(stderr, "row %zu: %s\n  got ret=%d kind=%s "
			    "trick=%s domain=\"%s\" raw=\"%.*s\" local=%d\n",
			    i, r->arg, ret, addr_kind_str(p.kind),
			    addr_trick_str(p.trick), p.domain,
			    (int)p.raw_len, p.raw,
			    addr_is_local(&p, &local_domains, srv));
			fprintf(stderr, "  want ret=%d kind=%s trick=%s "
			    "domain=\"%s\" raw=\"%s\" local=%d\n", r->ret,
			    addr_kind_str(r->kind), addr_trick_str(r->trick),
			    r->domain, r->raw, r->local);
			test_failed_checks++;
		}
	}
}

/* raw points into the caller's buffer, not a copy. */
static void
test_raw_points_into_arg(void)
{
	static const char arg[] = "TO: <u@evil.test> NOTIFY=NEVER";
	struct addr_path p;

	TEST_CHECK(addr_parse_rcpt(arg, sizeof(arg) - 1, &local_domains,
	    &server4, &p));
	TEST_CHECK(p.raw == arg + 5);
	ASSERT_INT_EQ(p.raw_len, 11);
	/* The argument need not be NUL-terminated: a length cuts it. */
	TEST_CHECK(addr_parse_rcpt(arg, 12, &local_domains, &server4, &p));
	ASSERT_INT_EQ(p.kind, ADDR_MALFORMED);
	ASSERT_INT_EQ(p.raw_len, 7);
	TEST_CHECK(addr_parse_rcpt(arg, 17, &local_domains, &server4, &p));
	ASSERT_INT_EQ(p.kind, ADDR_DOMAIN);
	ASSERT_STR_EQ(p.domain, "evil.test");
}

static void
parse(const char *s, struct addr_path *p)
{
	TEST_CHECK(addr_parse_rcpt(s, strlen(s), &local_domains, &server4, p));
}

static void
test_literal_value(void)
{
	struct addr_path p;
	struct rg_addr want;

	parse("TO:<u@[203.0.113.5]>", &p);
	ASSERT_INT_EQ(p.kind, ADDR_LITERAL);
	TEST_CHECK(rg_addr_parse("203.0.113.5", 11, &want));
	TEST_CHECK(rg_addr_eq(&p.literal, &want));
	parse("TO:<u@[IPv6:2001:db8::1]>", &p);
	ASSERT_INT_EQ(p.kind, ADDR_LITERAL);
	TEST_CHECK(rg_addr_parse("2001:db8::1", 11, &want));
	TEST_CHECK(rg_addr_eq(&p.literal, &want));
	/* A literal seen on the way but not at the end is not reported. */
	parse("TO:<u%evil.test@[198.51.100.25]>", &p);
	ASSERT_INT_EQ(p.kind, ADDR_DOMAIN);
	ASSERT_INT_EQ(p.literal.family, 0);
}

/* Without a server address no literal is local. */
static void
test_no_server_no_list(void)
{
	struct addr_path p;
	static const char a1[] = "TO:<u@[198.51.100.25]>";
	static const char a2[] = "TO:<u@example.test>";
	static const char a3[] = "TO:<postmaster>";
	static const char a4[] = "TO:<u%evil.test@example.test>";

	TEST_CHECK(addr_parse_rcpt(a1, sizeof(a1) - 1, &local_domains, NULL,
	    &p));
	ASSERT_INT_EQ(p.kind, ADDR_LITERAL);
	TEST_CHECK(!addr_is_local(&p, &local_domains, NULL));
	/* No local domains at all: tricks are not unwrapped. */
	TEST_CHECK(addr_parse_rcpt(a2, sizeof(a2) - 1, NULL, &server4, &p));
	ASSERT_INT_EQ(p.kind, ADDR_DOMAIN);
	TEST_CHECK(!addr_is_local(&p, NULL, &server4));
	TEST_CHECK(addr_parse_rcpt(a3, sizeof(a3) - 1, NULL, &server4, &p));
	ASSERT_INT_EQ(p.kind, ADDR_POSTMASTER);
	TEST_CHECK(addr_is_local(&p, NULL, &server4));
	TEST_CHECK(addr_parse_rcpt(a4, sizeof(a4) - 1, NULL, &server4, &p));
	ASSERT_INT_EQ(p.kind, ADDR_DOMAIN);
	ASSERT_INT_EQ(p.trick, ADDR_TRICK_NONE);
	ASSERT_STR_EQ(p.domain, "example.test");
}

static void
test_label_and_length_limits(void)
{
	char arg[600], lab[70];
	struct addr_path p;
	int n;

	memset(lab, 'a', 63);
	lab[63] = '\0';
	snprintf(arg, sizeof(arg), "TO:<u@%s.test>", lab);
	parse(arg, &p);
	ASSERT_INT_EQ(p.kind, ADDR_DOMAIN);
	ASSERT_INT_EQ(strlen(p.domain), 68);
	lab[63] = 'a';
	lab[64] = '\0';
	snprintf(arg, sizeof(arg), "TO:<u@%s.test>", lab);
	parse(arg, &p);
	ASSERT_INT_EQ(p.kind, ADDR_MALFORMED);

	/* 255 characters is the longest domain; with a trailing dot too. */
	n = snprintf(arg, sizeof(arg), "TO:<u@");
	while (n < 6 + 250)
		n += snprintf(arg + n, sizeof(arg) - (size_t)n, "abcd.");
	n += snprintf(arg + n, sizeof(arg) - (size_t)n, "test.>");
	parse(arg, &p);
	ASSERT_INT_EQ(p.kind, ADDR_DOMAIN);
	ASSERT_INT_EQ(strlen(p.domain), 254);
	arg[n - 2] = 'x';		/* "test.>" -> "testx>": 255 */
	parse(arg, &p);
	ASSERT_INT_EQ(p.kind, ADDR_DOMAIN);
	ASSERT_INT_EQ(strlen(p.domain), 255);
	arg[n - 1] = 'x';		/* 256 */
	arg[n] = '>';
	arg[n + 1] = '\0';
	parse(arg, &p);
	ASSERT_INT_EQ(p.kind, ADDR_MALFORMED);
}

/* Long paths are MALFORMED, not truncated; deep nesting is bounded. */
static void
test_long_and_deep(void)
{
	static char arg[10000];
	struct addr_path p;
	int i, n;

	n = snprintf(arg, sizeof(arg), "TO:<");
	for (i = 0; i < 5000; i++)
		arg[n++] = 'a';
	n += snprintf(arg + n, sizeof(arg) - (size_t)n, "@example.test>");
	parse(arg, &p);
	ASSERT_INT_EQ(p.kind, ADDR_MALFORMED);
	ASSERT_INT_EQ(p.raw_len, 5013);

	/* 20 nested %-hops back to the local domain: still local. */
	n = snprintf(arg, sizeof(arg), "TO:<u");
	for (i = 0; i < 20; i++)
		n += snprintf(arg + n, sizeof(arg) - (size_t)n, "%%example.test");
	n += snprintf(arg + n, sizeof(arg) - (size_t)n, "@example.test>");
	parse(arg, &p);
	ASSERT_INT_EQ(p.kind, ADDR_DOMAIN);
	ASSERT_INT_EQ(p.trick, ADDR_TRICK_PERCENT);
	TEST_CHECK(addr_is_local(&p, &local_domains, &server4));

	/* 40 hops: more than can be followed, so not local. */
	n = snprintf(arg, sizeof(arg), "TO:<u");
	for (i = 0; i < 40; i++)
		n += snprintf(arg + n, sizeof(arg) - (size_t)n, "%%example.test");
	n += snprintf(arg + n, sizeof(arg) - (size_t)n, "@example.test>");
	parse(arg, &p);
	ASSERT_INT_EQ(p.kind, ADDR_MALFORMED);
	TEST_CHECK(!addr_is_local(&p, &local_domains, &server4));
}

/* Junk never crashes and never comes out local by accident. */
static void
test_junk(void)
{
	char buf[300];
	struct addr_path p;
	uint32_t x = 12345;
	int i, j, n;

	for (i = 0; i < 20000; i++) {
		n = 3 + (int)(x % 200);
		memcpy(buf, "TO:", 3);
		for (j = 3; j < n; j++) {
			x = x * 1103515245u + 12345u;
			/* Mostly the interesting bytes. */
			buf[j] = "<>@%!\"\\:,. \tae[]"[(x >> 16) % 16];
			if ((x >> 8) % 11 == 0)
				buf[j] = (char)(x >> 24);
		}
		TEST_CHECK(addr_parse_rcpt(buf, (size_t)n, &local_domains,
		    &server4, &p));
		TEST_CHECK(p.raw >= buf && p.raw + p.raw_len <= buf + n);
		TEST_CHECK(memchr(p.domain, '\0', sizeof(p.domain)) != NULL);
		if (addr_is_local(&p, &local_domains, &server4))
			TEST_CHECK(p.kind == ADDR_DOMAIN ||
			    p.kind == ADDR_POSTMASTER ||
			    p.kind == ADDR_LITERAL);
	}
}

static void
test_domains_add(void)
{
	struct addr_domains d = { 0 };
	const char *why;
	char name[300];
	int i;

	why = NULL;
	TEST_CHECK(addr_domains_add(&d, "Example.TEST.", 13, &why));
	TEST_CHECK(addr_domains_add(&d, ".Sub.Example.Test", 17, &why));
	TEST_CHECK(addr_domains_add(&d, "example.test", 12, &why));	/* dup */
	ASSERT_INT_EQ(d.count, 2);
	ASSERT_STR_EQ(d.names[0], "example.test");
	ASSERT_STR_EQ(d.names[1], ".sub.example.test");

	TEST_CHECK(addr_domain_local(&d, "example.test", 12));
	TEST_CHECK(!addr_domain_local(&d, "x.example.test", 14));
	TEST_CHECK(!addr_domain_local(&d, "sub.example.test", 16));
	TEST_CHECK(addr_domain_local(&d, "a.sub.example.test", 18));
	TEST_CHECK(addr_domain_local(&d, "a.b.sub.example.test", 20));
	TEST_CHECK(!addr_domain_local(&d, "asub.example.test", 17));
	TEST_CHECK(!addr_domain_local(&d, "example.tes", 11));
	TEST_CHECK(!addr_domain_local(&d, "xexample.test", 13));
	TEST_CHECK(!addr_domain_local(&d, "", 0));
	/* len, not the NUL, ends the domain */
	TEST_CHECK(addr_domain_local(&d, "example.testing", 12));

	why = NULL;
	TEST_CHECK(!addr_domains_add(&d, "", 0, &why));
	TEST_CHECK(why != NULL);
	why = NULL;
	TEST_CHECK(!addr_domains_add(&d, ".", 1, &why));
	TEST_CHECK(why != NULL);
	TEST_CHECK(!addr_domains_add(&d, "..example.test", 14, &why));
	TEST_CHECK(!addr_domains_add(&d, "example..test", 13, &why));
	TEST_CHECK(!addr_domains_add(&d, "example.test..", 14, &why));
	TEST_CHECK(!addr_domains_add(&d, "exa mple.test", 13, &why));
	ASSERT_STR_EQ(why, "bad character in domain");
	TEST_CHECK(!addr_domains_add(&d, "ex@mple.test", 12, &why));
	TEST_CHECK(!addr_domains_add(&d, "[198.51.100.25]", 15, &why));
	TEST_CHECK(!addr_domains_add(&d, "a\0b.test", 8, &why));
	TEST_CHECK(addr_domains_add(&d, "un_der-score.test", 17, &why));
	memset(name, 'a', 64);
	memcpy(name + 64, ".test", 5);
	TEST_CHECK(!addr_domains_add(&d, name, 69, &why));
	ASSERT_STR_EQ(why, "domain label longer than 63 characters");
	TEST_CHECK(addr_domains_add(&d, name + 1, 68, &why));
	for (i = 0; i < 256; i++)
		name[i] = (i % 2) ? '.' : 'b';
	TEST_CHECK(addr_domains_add(&d, name, 255, &why));	/* b.b...b */
	name[255] = '.';
	TEST_CHECK(addr_domains_add(&d, name, 256, &why));	/* dup */
	name[255] = 'b';
	TEST_CHECK(!addr_domains_add(&d, name, 256, &why));
	ASSERT_STR_EQ(why, "domain longer than 255 characters");
	ASSERT_INT_EQ(d.count, 5);
	/* why may be NULL */
	TEST_CHECK(!addr_domains_add(&d, "", 0, NULL));

	/* UTF-8 becomes A-labels (case folded by UTS #46); an "xn--" label
	 * must decode; invalid IDNA is refused with libidn2's reason. */
	TEST_CHECK(addr_domains_add(&d, "Ex\xc3\xa4mple.TEST.", 14, &why));
	TEST_CHECK(addr_domains_add(&d, "EX\xc3\x84MPLE.test", 13, &why));
	TEST_CHECK(addr_domains_add(&d, "xn--exmple-cua.test", 19, &why));
	TEST_CHECK(addr_domains_add(&d, ".b\xc3\xbc" "cher.test", 13, &why));
	ASSERT_INT_EQ(d.count, 7);
	ASSERT_STR_EQ(d.names[5], "xn--exmple-cua.test");
	ASSERT_STR_EQ(d.names[6], ".xn--bcher-kva.test");
	TEST_CHECK(addr_domain_local(&d, "a.xn--bcher-kva.test", 20));
	TEST_CHECK(!addr_domain_local(&d, "xn--bcher-kva.test", 18));
	TEST_CHECK(!addr_domains_add(&d, "\xe2\x98\x83.test", 8, &why));
	ASSERT_STR_EQ(why, "string contains a disallowed character");
	TEST_CHECK(!addr_domains_add(&d, "ex\xffmple.test", 12, &why));
	ASSERT_STR_EQ(why, "string encoding error");
	TEST_CHECK(!addr_domains_add(&d, "xn--zz.test", 11, &why));
	ASSERT_STR_EQ(why, "string contains invalid punycode data");
	TEST_CHECK(!addr_domains_add(&d, "a\xef\xbc\x8f" "b.test", 10, &why));
	ASSERT_STR_EQ(why, "bad character in domain");
	/* ASCII never goes through libidn2: "ab--c" is a fine ASCII label. */
	TEST_CHECK(addr_domains_add(&d, "ab--c.test", 10, &why));
	/* A U-label longer than 63 bytes whose A-label fits is fine; one
	 * whose A-label does not is not. */
	for (i = 0; i < 40; i++)
		memcpy(name + 2 * i, "\xc3\xa4", 2);
	memcpy(name + 80, ".test", 5);
	TEST_CHECK(addr_domains_add(&d, name, 85, &why));
	for (i = 0; i < 60; i++)
		memcpy(name + 2 * i, "\xc3\xa4", 2);
	memcpy(name + 120, ".test", 5);
	TEST_CHECK(!addr_domains_add(&d, name, 125, &why));
	ASSERT_INT_EQ(d.count, 9);
	addr_domains_free(&d);
	ASSERT_INT_EQ(d.count, 0);
	TEST_CHECK(d.names == NULL);
	addr_domains_free(&d);
}

static void
test_domains_many(void)
{
	struct addr_domains d = { 0 };
	const char *why = NULL;
	char name[64];
	uint32_t i;
	int n;

	for (i = 0; i < ADDR_MAX_DOMAINS; i++) {
		n = snprintf(name, sizeof(name), "d%u.test", (unsigned)i);
		if (!addr_domains_add(&d, name, (size_t)n, &why)) {
			TEST_CHECK(0);
			break;
		}
	}
	ASSERT_INT_EQ(d.count, ADDR_MAX_DOMAINS);
	TEST_CHECK(!addr_domains_add(&d, "one-more.test", 13, &why));
	ASSERT_STR_EQ(why, "too many local domains (at most 1048576)");
	TEST_CHECK(addr_domains_add(&d, "d7.test", 7, &why));	/* dup ok */
	TEST_CHECK(addr_domain_local(&d, "d1048575.test", 13));
	TEST_CHECK(addr_domain_local(&d, "d0.test", 7));
	TEST_CHECK(!addr_domain_local(&d, "d1048576.test", 13));
	TEST_CHECK(!addr_domain_local(&d, "x.d0.test", 9));
	addr_domains_free(&d);
}

static void
test_strings(void)
{
	ASSERT_STR_EQ(addr_kind_str(ADDR_DOMAIN), "domain");
	ASSERT_STR_EQ(addr_kind_str(ADDR_MALFORMED), "malformed");
	ASSERT_STR_EQ(addr_kind_str(ADDR_POSTMASTER), "postmaster");
	ASSERT_STR_EQ(addr_trick_str(ADDR_TRICK_NONE), "none");
	ASSERT_STR_EQ(addr_trick_str(ADDR_TRICK_SOURCE_ROUTE), "source-route");
	ASSERT_STR_EQ(addr_trick_str(ADDR_TRICK_PERCENT), "percent-hack");
	ASSERT_STR_EQ(addr_trick_str(ADDR_TRICK_BANG), "bang-path");
	ASSERT_STR_EQ(addr_trick_str(ADDR_TRICK_QUOTED), "quoted-route");
}

int
main(void)
{
	setup();
	TEST_RUN(test_table);
	TEST_RUN(test_raw_points_into_arg);
	TEST_RUN(test_literal_value);
	TEST_RUN(test_no_server_no_list);
	TEST_RUN(test_label_and_length_limits);
	TEST_RUN(test_long_and_deep);
	TEST_RUN(test_junk);
	TEST_RUN(test_domains_add);
	TEST_RUN(test_domains_many);
	TEST_RUN(test_strings);
	addr_domains_free(&local_domains);
	return TEST_END("address");
}
