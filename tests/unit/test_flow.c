/*
 * test_flow.c — the connection table's eviction order: cheap flows
 * (half-open, closed, reset) go before live sessions, sessions in LRU
 * order; expiry and draining see both lists.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "flow.h"

#define USEC RG_USEC_PER_SEC

static struct rg_mem mem = { .cap = 1 << 20 };

static struct rg_addr
ip(unsigned last)
{
	struct rg_addr a;
	char s[32];

	snprintf(s, sizeof(s), "203.0.113.%u", last);
	if (!rg_addr_parse(s, strlen(s), &a))
		test_failed_checks++;
	return a;
}

/* A flow from 203.0.113.k:1000+k to 198.51.100.25:25 at time t. */
static struct flow *
mk(struct flow_table *t, unsigned k, rg_time_t when, struct flow **ev)
{
	struct rg_addr c = ip(k), s = ip(250);
	struct flow *f;

	f = flow_create(t, &c, (uint16_t)(1000 + k), &s, 25, when, ev);
	TEST_CHECK(f != NULL);
	return f;
}

/* Make f a live session, as the engine would after the handshake. */
static void
live(struct flow_table *t, struct flow *f, rg_time_t when)
{
	f->tcp.state = TCP_ESTABLISHED;
	f->tcp.handshake_done = true;
	flow_touch(t, f, when);	/* filed by the state before this packet */
	flow_touch(t, f, when);
	flow_settle(t, f);
}

static void
test_syn_flood_spares_sessions(void)
{
	struct flow_table *t = flow_table_new(4, 1);
	struct flow *a, *b, *ev, *f;
	unsigned k;

	a = mk(t, 1, 1 * USEC, &ev);
	TEST_CHECK(ev == NULL);
	live(t, a, 1 * USEC);
	b = mk(t, 2, 2 * USEC, &ev);
	live(t, b, 2 * USEC);
	/* A hundred SYNs through a table of 4: they evict each other. */
	for (k = 10; k < 110; k++) {
		f = mk(t, k, (rg_time_t)(3 + k) * USEC, &ev);
		f->tcp.state = TCP_SYN;
		if (ev != NULL) {
			TEST_CHECK(ev != a && ev != b);
			flow_destroy(t, ev, &mem);
		}
	}
	ASSERT_INT_EQ(flow_count(t), 4);
	{
		struct rg_addr c1 = ip(1), c2 = ip(2), s = ip(250);

		TEST_CHECK(flow_lookup(t, &c1, 1001, &s, 25) == a);
		TEST_CHECK(flow_lookup(t, &c2, 1002, &s, 25) == b);
	}
	flow_table_free(t, &mem);
}

static void
test_sessions_lru_when_no_cheap(void)
{
	struct flow_table *t = flow_table_new(3, 1);
	struct flow *f[3], *ev, *n;
	unsigned k;

	for (k = 0; k < 3; k++) {
		f[k] = mk(t, k + 1, (rg_time_t)(k + 1) * USEC, &ev);
		live(t, f[k], (rg_time_t)(k + 1) * USEC);
	}
	/* The oldest session is touched again: the second is now oldest. */
	flow_touch(t, f[0], 10 * USEC);
	n = mk(t, 9, 11 * USEC, &ev);
	TEST_CHECK(ev == f[1]);
	flow_destroy(t, ev, &mem);
	/* A closed session is cheap: it goes before the live ones, and
	 * before the newcomer n (still only a SYN) since it is older. */
	f[2]->tcp.state = TCP_CLOSED;
	flow_touch(t, f[2], 12 * USEC);
	(void)mk(t, 8, 13 * USEC, &ev);
	TEST_CHECK(ev == n);
	flow_destroy(t, ev, &mem);
	(void)mk(t, 7, 14 * USEC, &ev);
	TEST_CHECK(ev == f[2]);
	flow_destroy(t, ev, &mem);
	flow_table_free(t, &mem);
}

static void
test_handshake_completed_since_last_touch(void)
{
	struct flow_table *t = flow_table_new(2, 1);
	struct flow *a, *b, *ev;

	a = mk(t, 1, 1 * USEC, &ev);
	b = mk(t, 2, 2 * USEC, &ev);
	/* a became a session after its last touch: still filed as cheap,
	 * but the victim search must see it for what it is. */
	a->tcp.handshake_done = true;
	a->smtp_seen = true;
	(void)mk(t, 3, 3 * USEC, &ev);
	TEST_CHECK(ev == b);
	flow_destroy(t, ev, &mem);
	/* A reset flow is cheap even with a session behind it: it goes
	 * once the older cheap flow (3) has gone. */
	a->killed = true;
	flow_touch(t, a, 4 * USEC);
	(void)mk(t, 4, 5 * USEC, &ev);
	TEST_CHECK(ev != NULL && ev != a);
	flow_destroy(t, ev, &mem);
	(void)mk(t, 5, 6 * USEC, &ev);
	TEST_CHECK(ev == a);
	flow_destroy(t, ev, &mem);
	flow_table_free(t, &mem);
}

static void
test_expire_and_pop(void)
{
	struct flow_table *t = flow_table_new(10, 1);
	struct flow *s1, *s2, *syn, *f;

	s1 = mk(t, 1, 1 * USEC, &f);
	live(t, s1, 1 * USEC);
	syn = mk(t, 2, 2 * USEC, &f);
	syn->tcp.state = TCP_SYN;
	flow_settle(t, syn);
	s2 = mk(t, 3, 3 * USEC, &f);
	live(t, s2, 3 * USEC);
	/* The SYN times out after 30 s, the sessions after 600 s. */
	TEST_CHECK(flow_expired(t, 20 * USEC) == NULL);
	TEST_CHECK(flow_expired(t, 40 * USEC) == syn);
	flow_destroy(t, syn, &mem);
	TEST_CHECK(flow_expired(t, 40 * USEC) == NULL);
	/* Draining: sessions first, oldest first. */
	syn = mk(t, 4, 50 * USEC, &f);
	TEST_CHECK(flow_pop(t) == s1);
	flow_destroy(t, s1, &mem);
	TEST_CHECK(flow_pop(t) == s2);
	flow_destroy(t, s2, &mem);
	TEST_CHECK(flow_pop(t) == syn);
	flow_destroy(t, syn, &mem);
	TEST_CHECK(flow_pop(t) == NULL);
	ASSERT_INT_EQ(flow_count(t), 0);
	flow_table_free(t, &mem);
}

/*
 * Expiry is exact: a flow whose short timeout has passed goes although a
 * session touched before it (a longer timeout) is still in time, and of
 * several expired flows the lowest seq goes first, whichever list holds
 * it.  (It used to wait behind the oldest flow of its list, so which
 * other flows shared the table decided when it went.)
 */
static void
test_expire_exact(void)
{
	struct flow_table *t = flow_table_new(10, 1);
	struct flow *s1, *c1, *c2, *f;

	s1 = mk(t, 1, 1 * USEC, &f);
	s1->seq = 1;
	live(t, s1, 1 * USEC);
	c1 = mk(t, 2, 2 * USEC, &f);
	c1->seq = 2;
	live(t, c1, 2 * USEC);
	c2 = mk(t, 3, 3 * USEC, &f);
	c2->seq = 3;
	c2->tcp.state = TCP_SYN;
	flow_settle(t, c2);
	/* c1 closes after s1 was filed as live: it waited behind s1. */
	c1->tcp.state = TCP_CLOSED;
	flow_settle(t, c1);
	TEST_CHECK(flow_expired(t, 20 * USEC) == NULL);
	TEST_CHECK(flow_expired(t, 40 * USEC) == c1);
	flow_destroy(t, c1, &mem);
	TEST_CHECK(flow_expired(t, 40 * USEC) == c2);
	flow_destroy(t, c2, &mem);
	TEST_CHECK(flow_expired(t, 40 * USEC) == NULL);
	TEST_CHECK(flow_expired(t, 5000 * USEC) == s1);
	flow_destroy(t, s1, &mem);
	ASSERT_INT_EQ(flow_count(t), 0);
	flow_table_free(t, &mem);
}

int
main(void)
{
	TEST_RUN(test_syn_flood_spares_sessions);
	TEST_RUN(test_sessions_lru_when_no_cheap);
	TEST_RUN(test_handshake_completed_since_last_touch);
	TEST_RUN(test_expire_and_pop);
	TEST_RUN(test_expire_exact);
	return TEST_END("flow");
}
