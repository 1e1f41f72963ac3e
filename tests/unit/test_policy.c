/*
 * test_policy.c — the relay decision matrix and the offender tracker.
 * Includes policy.c to check the tracker's internal lists.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "../../filters/policy.c"

#define SEC	RG_USEC_PER_SEC
#define MIN	(60 * SEC)
#define HOUR	(60 * MIN)
#define DAY	(24 * HOUR)
#define T0	(1700000000ULL * SEC)	/* a plausible capture time */

static struct addr_domains local_domains;
static struct cidr_set relay_networks;

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

static struct policy_params
params(uint32_t block_after, uint32_t max_clients)
{
	struct policy_params pp;

	memset(&pp, 0, sizeof(pp));
	pp.local_domains = &local_domains;
	pp.relay_networks = &relay_networks;
	pp.block_after = block_after;
	pp.attempt_window = 10 * MIN;
	pp.block_for = HOUR;
	pp.block_for_max = 7 * DAY;
	pp.max_clients = max_clients;
	return pp;
}

static struct policy *
mk(uint32_t block_after, uint32_t max_clients)
{
	struct policy_params pp = params(block_after, max_clients);
	struct policy *p = policy_new(&pp);

	TEST_CHECK(p != NULL);
	return p;
}

/* Is a client tracked?  Walks the hash chain without touching the LRU. */
static const struct policy_client *
tracked(const struct policy *p, const char *s)
{
	struct rg_addr a = addr(s), k;
	uint32_t i;

	policy_canon(&a, &k);
	for (i = p->bucket[policy_hash(p, &k) & (p->nbucket - 1)] - 1;
	    i != POLICY_NONE; i = p->c[i].hnext)
		if (rg_addr_eq(&p->c[i].addr, &k))
			return &p->c[i];
	return NULL;
}

/* The LRU list is consistent and as long as nlive. */
static void
check_lru(const struct policy *p)
{
	uint32_t i, prev = POLICY_NONE, n = 0;

	for (i = p->head; i != POLICY_NONE; i = p->c[i].next) {
		ASSERT_INT_EQ(p->c[i].prev, prev);
		prev = i;
		if (++n > p->nlive)
			break;
	}
	ASSERT_INT_EQ(p->tail, prev);
	ASSERT_INT_EQ(n, p->nlive);
	TEST_CHECK(p->nlive <= p->max);
}

static bool
attempt(struct policy *p, const char *client, rg_time_t t,
    struct policy_block *b)
{
	struct rg_addr a = addr(client);

	memset(b, 0, sizeof(*b));
	return policy_offence(p, &a, t, b);
}

static void
setup(void)
{
	struct cidr c;
	const char *why;

	TEST_CHECK(addr_domains_add(&local_domains, "example.test", 12, &why));
	TEST_CHECK(addr_domains_add(&local_domains, ".example.test", 13, &why));
	TEST_CHECK(cidr_parse("192.0.2.0/24", 12, &c, &why));
	TEST_CHECK(cidr_set_add(&relay_networks, &c));
	TEST_CHECK(cidr_parse("2001:db8:1::/48", 15, &c, &why));
	TEST_CHECK(cidr_set_add(&relay_networks, &c));
}

static void
path(const char *arg, const struct rg_addr *server, struct addr_path *out)
{
	TEST_CHECK(addr_parse_rcpt(arg, strlen(arg), &local_domains, server,
	    out));
}

static void
test_judge_matrix(void)
{
	static const struct {
		const char *rcpt;
		int local;
	} paths[] = {
		{ "TO:<u@example.test>", 1 },
		{ "TO:<u@sub.example.test>", 1 },
		{ "TO:<postmaster>", 1 },
		{ "TO:<u@[198.51.100.25]>", 1 },
		{ "TO:<u%example.test@example.test>", 1 },
		{ "TO:<u@evil.test>", 0 },
		{ "TO:<u%evil.test@example.test>", 0 },
		{ "TO:<u@[203.0.113.5]>", 0 },
		{ "TO:<user>", 0 },
		{ "TO:<>", 0 },
		{ "TO:<u@example.test..>", 0 },
	};
	static const char *clients[] = { "192.0.2.10", "2001:db8:1::5",
	    "203.0.113.9", "2001:db8:2::5" };
	struct policy *p = mk(3, 100);
	struct rg_addr server = addr("198.51.100.25"), client;
	struct addr_path ap;
	enum policy_verdict v, want;
	size_t i, j;
	int auth, trusted;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		path(paths[i].rcpt, &server, &ap);
		for (j = 0; j < 4; j++) {
			client = addr(clients[j]);
			trusted = j < 2;
			for (auth = 0; auth < 2; auth++) {
				v = policy_judge(p, &client, &server, auth, &ap);
				if (paths[i].local)
					want = POLICY_LOCAL;
				else if (trusted)
					want = POLICY_ALLOWED_NETWORK;
				else if (auth)
					want = POLICY_ALLOWED_AUTH;
				else
					want = POLICY_RELAY_ATTEMPT;
				if (v != want) {
					fprintf(stderr, "%s from %s auth=%d: "
					    "%s, want %s\n", paths[i].rcpt,
					    clients[j], auth,
					    policy_verdict_str(v),
					    policy_verdict_str(want));
					test_failed_checks++;
				}
			}
		}
	}
	client = addr("192.0.2.10");
	TEST_CHECK(policy_trusted(p, &client));
	client = addr("192.0.3.10");
	TEST_CHECK(!policy_trusted(p, &client));
	policy_free(p);
}

/* Without lists nothing is local but postmaster, nobody is trusted. */
static void
test_judge_no_lists(void)
{
	struct policy_params pp = params(3, 10);
	struct policy *p;
	struct rg_addr server = addr("198.51.100.25");
	struct rg_addr client = addr("192.0.2.10");
	struct addr_path ap;

	pp.local_domains = NULL;
	pp.relay_networks = NULL;
	p = policy_new(&pp);
	TEST_CHECK(p != NULL);
	path("TO:<u@example.test>", &server, &ap);
	ASSERT_INT_EQ(policy_judge(p, &client, &server, false, &ap),
	    POLICY_RELAY_ATTEMPT);
	ASSERT_INT_EQ(policy_judge(p, &client, &server, true, &ap),
	    POLICY_ALLOWED_AUTH);
	path("TO:<postmaster>", &server, &ap);
	ASSERT_INT_EQ(policy_judge(p, &client, &server, false, &ap),
	    POLICY_LOCAL);
	TEST_CHECK(!policy_trusted(p, &client));
	policy_free(p);
}

static void
test_block_on_third(void)
{
	struct policy *p = mk(3, 100);
	struct policy_block b;

	TEST_CHECK(!attempt(p, "203.0.113.9", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.9", T0 + 1 * MIN, &b));
	TEST_CHECK(attempt(p, "203.0.113.9", T0 + 2 * MIN, &b));
	ASSERT_INT_EQ(b.attempts, 3);
	ASSERT_INT_EQ(b.offences, 1);
	ASSERT_INT_EQ(b.duration, HOUR);
	/* Exactly once: the count starts again. */
	TEST_CHECK(!attempt(p, "203.0.113.9", T0 + 3 * MIN, &b));
	TEST_CHECK(!attempt(p, "203.0.113.9", T0 + 4 * MIN, &b));
	TEST_CHECK(attempt(p, "203.0.113.9", T0 + 5 * MIN, &b));
	ASSERT_INT_EQ(b.attempts, 3);
	ASSERT_INT_EQ(b.offences, 2);
	ASSERT_INT_EQ(b.duration, 2 * HOUR);
	/* b may be NULL */
	{
		struct rg_addr a = addr("203.0.113.10");

		TEST_CHECK(!policy_offence(p, &a, T0, NULL));
		TEST_CHECK(!policy_offence(p, &a, T0, NULL));
		TEST_CHECK(policy_offence(p, &a, T0, NULL));
	}
	policy_free(p);
}

/* never-block: still judged a relay attempt (reset), the threshold still
 * reported, but marked not to apply, with no offence and no duration;
 * leaving never-block (a reload) gives a first block, not an escalated
 * one. */
static void
test_never_block(void)
{
	struct policy_params pp = params(2, 100);
	struct cidr_set nb;
	struct cidr c;
	struct policy *p;
	struct policy_block b;
	struct addr_path pa;
	struct rg_addr client = addr("198.51.100.5"), server = addr("198.51.100.25");
	const char *why;
	int i;

	memset(&nb, 0, sizeof(nb));
	TEST_CHECK(cidr_parse("198.51.100.0/28", 15, &c, &why));
	TEST_CHECK(cidr_set_add(&nb, &c));
	TEST_CHECK(cidr_parse("2001:db8:5::7", 13, &c, &why));
	TEST_CHECK(cidr_set_add(&nb, &c));
	pp.never_block = &nb;
	p = policy_new(&pp);
	TEST_CHECK(p != NULL);
	if (p == NULL)
		return;
	TEST_CHECK(policy_never_block(p, &client));
	TEST_CHECK(!policy_trusted(p, &client));
	path("TO:<v@foreign.example>", &server, &pa);
	ASSERT_INT_EQ(policy_judge(p, &client, &server, false, &pa),
	    POLICY_RELAY_ATTEMPT);
	for (i = 0; i < 3; i++) {
		memset(&b, 0xff, sizeof(b));
		TEST_CHECK(!attempt(p, "198.51.100.5", T0 + 2 * (rg_time_t)i,
		    &b));
		TEST_CHECK(attempt(p, "198.51.100.5", T0 + 2 * (rg_time_t)i + 1,
		    &b));
		ASSERT_INT_EQ(b.attempts, 2);
		ASSERT_INT_EQ(b.offences, 0);
		ASSERT_INT_EQ(b.duration, 0);
		TEST_CHECK(b.never_block);
	}
	TEST_CHECK(!attempt(p, "2001:db8:5::7", T0, &b));
	TEST_CHECK(attempt(p, "2001:db8:5::7", T0, &b) && b.never_block);
	/* Outside never-block: an ordinary block. */
	TEST_CHECK(!attempt(p, "198.51.100.16", T0, &b));
	TEST_CHECK(attempt(p, "198.51.100.16", T0, &b));
	TEST_CHECK(!b.never_block);
	ASSERT_INT_EQ(b.offences, 1);
	ASSERT_INT_EQ(b.duration, HOUR);
	/* Taken out of never-block: its first block is a first offence. */
	pp.never_block = NULL;
	policy_set_params(p, &pp);
	TEST_CHECK(!policy_never_block(p, &client));
	TEST_CHECK(!attempt(p, "198.51.100.5", T0 + MIN, &b));
	TEST_CHECK(attempt(p, "198.51.100.5", T0 + MIN, &b));
	TEST_CHECK(!b.never_block);
	ASSERT_INT_EQ(b.offences, 1);
	ASSERT_INT_EQ(b.duration, HOUR);
	policy_free(p);
	cidr_set_free(&nb);
}

/* offence-memory: a client without a block for longer starts again at its
 * first offence; 0 remembers forever. */
static void
test_offence_memory(void)
{
	struct policy_params pp = params(1, 100);
	struct policy *p;
	struct policy_block b;

	pp.offence_memory = 30 * DAY;
	p = policy_new(&pp);
	TEST_CHECK(attempt(p, "203.0.113.9", T0, &b));
	ASSERT_INT_EQ(b.offences, 1);
	TEST_CHECK(attempt(p, "203.0.113.9", T0 + 30 * DAY, &b));
	ASSERT_INT_EQ(b.offences, 2);	/* exactly 30d later: remembered */
	ASSERT_INT_EQ(b.duration, 2 * HOUR);
	TEST_CHECK(attempt(p, "203.0.113.9", T0 + 60 * DAY + SEC, &b));
	ASSERT_INT_EQ(b.offences, 1);	/* 30d and 1s: forgotten */
	ASSERT_INT_EQ(b.duration, HOUR);
	policy_free(p);

	pp.offence_memory = 0;
	p = policy_new(&pp);
	TEST_CHECK(attempt(p, "203.0.113.9", T0, &b));
	TEST_CHECK(attempt(p, "203.0.113.9", T0 + 365 * DAY, &b));
	ASSERT_INT_EQ(b.offences, 2);
	policy_free(p);
}

/* forget: attempts and offences of clients inside the prefix, only. */
static void
test_forget(void)
{
	struct policy *p = mk(3, 100);
	struct policy_block b;
	struct cidr net;
	const char *why;

	TEST_CHECK(!attempt(p, "203.0.113.9", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.9", T0, &b));
	TEST_CHECK(attempt(p, "203.0.113.9", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.9", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.9", T0, &b));	/* 2 attempts */
	TEST_CHECK(!attempt(p, "198.51.100.9", T0, &b));
	TEST_CHECK(!attempt(p, "198.51.100.9", T0, &b));
	TEST_CHECK(cidr_parse("203.0.113.0/24", 14, &net, &why));
	ASSERT_INT_EQ(policy_forget(p, &net), 1);
	ASSERT_INT_EQ(policy_forget(p, &net), 0);
	/* Counts from zero: two more attempts are not a block, the third
	 * is the first offence again. */
	TEST_CHECK(!attempt(p, "203.0.113.9", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.9", T0, &b));
	TEST_CHECK(attempt(p, "203.0.113.9", T0, &b));
	ASSERT_INT_EQ(b.offences, 1);
	ASSERT_INT_EQ(b.duration, HOUR);
	/* The client outside kept its two attempts. */
	TEST_CHECK(attempt(p, "198.51.100.9", T0, &b));
	check_lru(p);
	policy_free(p);
}

static void
test_window(void)
{
	struct policy *p = mk(3, 100);
	struct policy_block b;
	int i;

	/* Wider than the window: never. */
	for (i = 0; i < 100; i++)
		TEST_CHECK(!attempt(p, "203.0.113.9",
		    T0 + (rg_time_t)i * (10 * MIN + 1), &b));
	/* Two inside, then the oldest falls out just before the third. */
	TEST_CHECK(!attempt(p, "203.0.113.8", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.8", T0 + 5 * MIN, &b));
	TEST_CHECK(!attempt(p, "203.0.113.8", T0 + 10 * MIN + 1, &b));
	TEST_CHECK(attempt(p, "203.0.113.8", T0 + 11 * MIN, &b));
	ASSERT_INT_EQ(b.attempts, 3);
	/* The window includes its edge: exactly 10m apart still counts. */
	TEST_CHECK(!attempt(p, "203.0.113.7", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.7", T0 + 5 * MIN, &b));
	TEST_CHECK(attempt(p, "203.0.113.7", T0 + 10 * MIN, &b));
	policy_free(p);
}

static void
test_doubling(void)
{
	struct policy *p = mk(1, 100);
	struct policy_block b;
	rg_time_t want = HOUR;
	int i;

	for (i = 1; i <= 100; i++) {
		TEST_CHECK(attempt(p, "203.0.113.9", T0 + (rg_time_t)i, &b));
		ASSERT_INT_EQ(b.attempts, 1);
		ASSERT_INT_EQ(b.offences, i);
		ASSERT_INT_EQ(b.duration, want);
		want = want * 2 > 7 * DAY ? 7 * DAY : want * 2;
	}
	policy_free(p);

	/* 1h 2h 4h ... 128h, then 168h = 7d. */
	ASSERT_INT_EQ(policy_duration(&(struct policy_params){ .block_for = HOUR,
	    .block_for_max = 7 * DAY }, 8), 128 * HOUR);
	ASSERT_INT_EQ(policy_duration(&(struct policy_params){ .block_for = HOUR,
	    .block_for_max = 7 * DAY }, 9), 7 * DAY);
	/* No overflow with huge values or counts. */
	ASSERT_INT_EQ(policy_duration(&(struct policy_params){
	    .block_for = UINT64_MAX / 3, .block_for_max = UINT64_MAX }, 2),
	    (UINT64_MAX / 3) * 2);
	ASSERT_INT_EQ(policy_duration(&(struct policy_params){
	    .block_for = UINT64_MAX / 3, .block_for_max = UINT64_MAX }, 3),
	    UINT64_MAX);
	ASSERT_INT_EQ(policy_duration(&(struct policy_params){ .block_for = 1,
	    .block_for_max = UINT64_MAX }, 64), 1ULL << 63);
	ASSERT_INT_EQ(policy_duration(&(struct policy_params){ .block_for = 1,
	    .block_for_max = UINT64_MAX }, 65), UINT64_MAX);
	ASSERT_INT_EQ(policy_duration(&(struct policy_params){ .block_for = 1,
	    .block_for_max = UINT64_MAX }, UINT32_MAX), UINT64_MAX);
	/* A max below block-for is taken as block-for. */
	ASSERT_INT_EQ(policy_duration(&(struct policy_params){
	    .block_for = HOUR, .block_for_max = MIN }, 5), HOUR);
}

static void
test_lru(void)
{
	struct policy *p = mk(3, 2);
	struct policy_block b;

	TEST_CHECK(!attempt(p, "203.0.113.1", T0, &b));		/* A */
	TEST_CHECK(!attempt(p, "203.0.113.2", T0 + 1, &b));	/* B */
	TEST_CHECK(!attempt(p, "203.0.113.1", T0 + 2, &b));	/* A: 2 */
	TEST_CHECK(!attempt(p, "203.0.113.3", T0 + 3, &b));	/* C evicts B */
	check_lru(p);
	ASSERT_INT_EQ(p->nlive, 2);
	TEST_CHECK(tracked(p, "203.0.113.1") != NULL);
	TEST_CHECK(tracked(p, "203.0.113.2") == NULL);
	TEST_CHECK(tracked(p, "203.0.113.3") != NULL);
	/* A is still counting: its third attempt blocks. */
	TEST_CHECK(attempt(p, "203.0.113.1", T0 + 4, &b));
	/* B comes back (evicting C) and starts from one. */
	TEST_CHECK(!attempt(p, "203.0.113.2", T0 + 5, &b));
	TEST_CHECK(tracked(p, "203.0.113.3") == NULL);
	TEST_CHECK(!attempt(p, "203.0.113.2", T0 + 6, &b));
	TEST_CHECK(attempt(p, "203.0.113.2", T0 + 7, &b));
	ASSERT_INT_EQ(b.offences, 1);
	check_lru(p);
	policy_free(p);

	/* max_clients 0 is taken as 1. */
	p = mk(2, 0);
	TEST_CHECK(!attempt(p, "203.0.113.1", T0, &b));
	TEST_CHECK(attempt(p, "203.0.113.1", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.2", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.1", T0, &b));
	ASSERT_INT_EQ(p->nlive, 1);
	policy_free(p);
}

static void
test_time_backwards(void)
{
	struct policy *p = mk(3, 100);
	struct policy_block b;

	/* Merged captures: slightly out of order still counts. */
	TEST_CHECK(!attempt(p, "203.0.113.9", T0 + 1000 * SEC, &b));
	TEST_CHECK(!attempt(p, "203.0.113.9", T0 + 999 * SEC, &b));
	TEST_CHECK(attempt(p, "203.0.113.9", T0 + 998 * SEC, &b));
	ASSERT_INT_EQ(b.attempts, 3);
	/* A big step back: future-stamped attempts are kept, never
	 * underflow into "very old". */
	TEST_CHECK(!attempt(p, "203.0.113.8", T0 + 20 * MIN, &b));
	TEST_CHECK(!attempt(p, "203.0.113.8", T0, &b));
	TEST_CHECK(attempt(p, "203.0.113.8", T0 + 1, &b));
	/* Time zero and a window longer than the epoch offset. */
	TEST_CHECK(!attempt(p, "203.0.113.7", 5, &b));
	TEST_CHECK(!attempt(p, "203.0.113.7", 0, &b));
	TEST_CHECK(attempt(p, "203.0.113.7", 1, &b));
	/* Later time drops what went stale, whatever order it came in. */
	TEST_CHECK(!attempt(p, "203.0.113.6", T0 + 5 * MIN, &b));
	TEST_CHECK(!attempt(p, "203.0.113.6", T0 + 4 * MIN, &b));
	TEST_CHECK(!attempt(p, "203.0.113.6", T0 + 30 * MIN, &b));
	TEST_CHECK(!attempt(p, "203.0.113.6", T0 + 31 * MIN, &b));
	TEST_CHECK(attempt(p, "203.0.113.6", T0 + 32 * MIN, &b));
	ASSERT_INT_EQ(b.attempts, 3);
	policy_free(p);
}

static void
test_families_distinct(void)
{
	struct policy *p = mk(2, 100);
	struct policy_block b;
	struct rg_addr a;

	/* 32.1.13.184 has the bytes 20 01 0d b8, as 2001:db8:: starts. */
	TEST_CHECK(!attempt(p, "32.1.13.184", T0, &b));
	TEST_CHECK(!attempt(p, "2001:db8::", T0, &b));
	TEST_CHECK(!attempt(p, "::ffff:32.1.13.184", T0, &b));
	TEST_CHECK(!attempt(p, "::2001:db8", T0, &b));
	ASSERT_INT_EQ(p->nlive, 4);
	TEST_CHECK(attempt(p, "2001:db8::", T0, &b));
	/* Garbage past an IPv4 address's four bytes is ignored. */
	a = addr("32.1.13.184");
	a.bytes[9] = 0x55;
	TEST_CHECK(policy_offence(p, &a, T0, &b));
	ASSERT_INT_EQ(p->nlive, 4);
	/* An unset address is not tracked. */
	memset(&a, 0, sizeof(a));
	TEST_CHECK(!policy_offence(p, &a, T0, &b));
	TEST_CHECK(!policy_offence(p, &a, T0, &b));
	TEST_CHECK(!policy_offence(p, NULL, T0, &b));
	ASSERT_INT_EQ(p->nlive, 4);
	policy_free(p);
}

/* block-after above POLICY_SLOTS: slots hold several attempts. */
static void
test_large_block_after(void)
{
	struct policy *p;
	struct policy_block b;
	uint32_t i, ba[] = { 9, 20, 100, 1000 };
	size_t k;

	for (k = 0; k < sizeof(ba) / sizeof(ba[0]); k++) {
		p = mk(ba[k], 100);
		/* All inside half a window. */
		for (i = 1; i < ba[k]; i++)
			TEST_CHECK(!attempt(p, "203.0.113.9",
			    T0 + i * (5 * MIN / ba[k]), &b));
		TEST_CHECK(attempt(p, "203.0.113.9",
		    T0 + i * (5 * MIN / ba[k]), &b));
		ASSERT_INT_EQ(b.attempts, ba[k]);
		/* Spread wider than the window: never. */
		for (i = 0; i < 3 * ba[k]; i++)
			TEST_CHECK(!attempt(p, "203.0.113.8",
			    T0 + i * (10 * MIN / (ba[k] - 1) + SEC), &b));
		policy_free(p);
	}
	/* Above the maximum: clamped. */
	p = mk(5000, 10);
	ASSERT_INT_EQ(p->params.block_after, POLICY_MAX_BLOCK_AFTER);
	policy_free(p);
	p = mk(0, 10);
	TEST_CHECK(attempt(p, "203.0.113.9", T0, &b));
	policy_free(p);
}

static void
test_set_params(void)
{
	struct policy *p = mk(3, 100);
	struct policy_params pp;
	struct policy_block b;
	char name[32];
	int i;

	/* Clients survive a reload. */
	TEST_CHECK(!attempt(p, "203.0.113.9", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.9", T0 + 1, &b));
	pp = params(3, 200);
	policy_set_params(p, &pp);
	TEST_CHECK(attempt(p, "203.0.113.9", T0 + 2, &b));
	ASSERT_INT_EQ(b.offences, 1);

	/* A lower block-after takes effect on the next attempt. */
	TEST_CHECK(!attempt(p, "203.0.113.8", T0, &b));
	TEST_CHECK(!attempt(p, "203.0.113.8", T0, &b));
	pp = params(2, 200);
	policy_set_params(p, &pp);
	TEST_CHECK(attempt(p, "203.0.113.8", T0, &b));
	ASSERT_INT_EQ(b.attempts, 3);

	/* A change of slot size restarts windows, keeps offences. */
	TEST_CHECK(!attempt(p, "203.0.113.9", T0 + 3, &b));
	pp = params(20, 200);
	policy_set_params(p, &pp);
	for (i = 0; i < 19; i++)
		TEST_CHECK(!attempt(p, "203.0.113.9", T0 + 10, &b));
	TEST_CHECK(attempt(p, "203.0.113.9", T0 + 10, &b));
	ASSERT_INT_EQ(b.attempts, 20);
	ASSERT_INT_EQ(b.offences, 2);
	ASSERT_INT_EQ(b.duration, 2 * HOUR);
	check_lru(p);

	/* Shrinking keeps the most recent clients. */
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "2001:db8:5::%x", i);
		TEST_CHECK(!attempt(p, name, T0 + 100, &b));
	}
	pp = params(20, 10);
	policy_set_params(p, &pp);
	ASSERT_INT_EQ(p->nlive, 10);
	check_lru(p);
	TEST_CHECK(tracked(p, "2001:db8:5::31") != NULL);
	TEST_CHECK(tracked(p, "2001:db8:5::28") != NULL);
	TEST_CHECK(tracked(p, "2001:db8:5::27") == NULL);
	TEST_CHECK(tracked(p, "203.0.113.9") == NULL);
	/* Freed entries are reused, the array does not grow. */
	for (i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "2001:db8:6::%x", i);
		TEST_CHECK(!attempt(p, name, T0 + 200, &b));
	}
	ASSERT_INT_EQ(p->nlive, 10);
	TEST_CHECK(p->nused <= 64);
	check_lru(p);
	/* Growing again. */
	pp = params(20, 100000);
	policy_set_params(p, &pp);
	ASSERT_INT_EQ(p->nbucket, 131072);
	TEST_CHECK(tracked(p, "2001:db8:6::1d") != NULL);
	check_lru(p);
	policy_free(p);
	policy_free(NULL);
}

/* 100k clients fit; eviction keeps the count there. */
static void
test_many_clients(void)
{
	struct policy *p = mk(3, 100000);
	struct policy_block b;
	struct rg_addr a;
	uint32_t i;

	memset(&a, 0, sizeof(a));
	a.family = 6;
	a.bytes[0] = 0x20;
	a.bytes[1] = 0x01;
	a.bytes[2] = 0x0d;
	a.bytes[3] = 0xb8;
	for (i = 0; i < 250000; i++) {
		memcpy(a.bytes + 12, &i, 4);
		TEST_CHECK(!policy_offence(p, &a, T0 + i, &b));
	}
	ASSERT_INT_EQ(p->nlive, 100000);
	TEST_CHECK(p->ncap <= 100000);
	check_lru(p);
	/* The most recent are still counting. */
	i = 249999;
	memcpy(a.bytes + 12, &i, 4);
	TEST_CHECK(!policy_offence(p, &a, T0 + i, &b));
	TEST_CHECK(policy_offence(p, &a, T0 + i, &b));
	/* 100k clients in about 12 MB. */
	TEST_CHECK(sizeof(struct policy_client) <= 128);
	policy_free(p);
}

static void
test_strings(void)
{
	ASSERT_STR_EQ(policy_verdict_str(POLICY_LOCAL), "local");
	ASSERT_STR_EQ(policy_verdict_str(POLICY_ALLOWED_NETWORK),
	    "allowed-network");
	ASSERT_STR_EQ(policy_verdict_str(POLICY_ALLOWED_AUTH), "allowed-auth");
	ASSERT_STR_EQ(policy_verdict_str(POLICY_RELAY_ATTEMPT),
	    "relay-attempt");
}

int
main(void)
{
	setup();
	TEST_RUN(test_judge_matrix);
	TEST_RUN(test_judge_no_lists);
	TEST_RUN(test_block_on_third);
	TEST_RUN(test_never_block);
	TEST_RUN(test_window);
	TEST_RUN(test_offence_memory);
	TEST_RUN(test_forget);
	TEST_RUN(test_doubling);
	TEST_RUN(test_lru);
	TEST_RUN(test_time_backwards);
	TEST_RUN(test_families_distinct);
	TEST_RUN(test_large_block_after);
	TEST_RUN(test_set_params);
	TEST_RUN(test_many_clients);
	TEST_RUN(test_strings);
	addr_domains_free(&local_domains);
	cidr_set_free(&relay_networks);
	return TEST_END("policy");
}
