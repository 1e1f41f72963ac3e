/*
 * test_offtable.c — the offence table the daemon's queue workers share
 * (filters/offtable.h): attempts made from two threads add up with none
 * lost, a client is blocked once however the threads interleave, and
 * forget, unblock and a reload reach every stripe.  Run it under
 * `make SANITIZER=address,undefined` too (the sanitizer build has its own
 * copy in build-address-undefined/tests).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "offtable.h"

#define SEC	RG_USEC_PER_SEC
#define HOUR	(3600 * SEC)
#define T0	(1700000000ULL * SEC)

#define CLIENTS		64	/* spread over every stripe */
#define ROUNDS		20000	/* attempts per client per thread */
#define BLOCK_AFTER	7

static struct addr_domains local_domains;
static struct cidr_set relay_networks, everyone;

static struct rg_addr
client(unsigned i)
{
	struct rg_addr a;
	char s[64];

	/* both families, documentation prefixes */
	if (i % 2)
		snprintf(s, sizeof(s), "203.0.113.%u", i);
	else
		snprintf(s, sizeof(s), "2001:db8:77::%x", i);
	memset(&a, 0, sizeof(a));
	if (!rg_addr_parse(s, strlen(s), &a))
		test_failed_checks++;
	return a;
}

static struct policy_params
params(uint32_t block_after, const struct cidr_set *never_block)
{
	struct policy_params pp;

	memset(&pp, 0, sizeof(pp));
	pp.local_domains = &local_domains;
	pp.relay_networks = &relay_networks;
	pp.never_block = never_block;
	pp.block_after = block_after;
	pp.attempt_window = 24 * HOUR;
	pp.block_for = HOUR;
	pp.block_for_max = 24 * HOUR;
	pp.max_clients = 1024;
	return pp;
}

static pthread_barrier_t start;

struct worker_arg {
	struct offtable *t;
	unsigned long res[3][CLIENTS];	/* per enum offence_result */
};

static void *
hammer(void *arg)
{
	struct worker_arg *w = arg;
	struct policy_block b;
	struct rg_addr a[CLIENTS];
	enum offence_result r;
	unsigned i, k, c;

	for (c = 0; c < CLIENTS; c++)
		a[c] = client(c);
	/* Both threads at once, on the same client at the same time: the
	 * worst case for a lost update. */
	(void)pthread_barrier_wait(&start);
	for (k = 0; k < CLIENTS; k++)
		for (i = 0; i < ROUNDS; i++) {
			/* one packet time for all: only the count decides */
			r = offtable_step(w->t, &a[k], T0, &b, NULL);
			w->res[r][k]++;
		}
	return NULL;
}

static void
run_two(struct offtable *t, struct worker_arg w[2])
{
	pthread_t tid[2];
	int i;

	memset(w, 0, 2 * sizeof(*w));
	TEST_CHECK(pthread_barrier_init(&start, NULL, 2) == 0);
	for (i = 0; i < 2; i++) {
		w[i].t = t;
		TEST_CHECK(pthread_create(&tid[i], NULL, hammer, &w[i]) == 0);
	}
	for (i = 0; i < 2; i++)
		TEST_CHECK(pthread_join(tid[i], NULL) == 0);
	(void)pthread_barrier_destroy(&start);
}

/* never-block clients are never remembered as blocked, so every attempt
 * counts: 2 * ROUNDS attempts make exactly 2 * ROUNDS / BLOCK_AFTER
 * thresholds per client, and the rest is still in the count. */
static void
test_counts_add_up(void)
{
	struct policy_params pp = params(BLOCK_AFTER, &everyone);
	struct offtable *t = offtable_new(&pp);
	struct worker_arg w[2];
	struct policy_block b;
	struct rg_addr a;
	unsigned c, rest, n;

	TEST_CHECK(t != NULL);
	run_two(t, w);
	for (c = 0; c < CLIENTS; c++) {
		ASSERT_INT_EQ(w[0].res[OFFENCE_IN_FORCE][c] +
		    w[1].res[OFFENCE_IN_FORCE][c], 0);
		ASSERT_INT_EQ(w[0].res[OFFENCE_THRESHOLD][c] +
		    w[1].res[OFFENCE_THRESHOLD][c],
		    2 * ROUNDS / BLOCK_AFTER);
		/* the remainder: BLOCK_AFTER - rest more attempts make the
		 * next threshold, not one fewer */
		rest = (2 * ROUNDS) % BLOCK_AFTER;
		a = client(c);
		for (n = 1; n < BLOCK_AFTER - rest; n++)
			TEST_CHECK(offtable_step(t, &a, T0, &b, NULL) ==
			    OFFENCE_COUNTED);
		TEST_CHECK(offtable_step(t, &a, T0, &b, NULL) ==
		    OFFENCE_THRESHOLD);
		TEST_CHECK(b.never_block && b.duration == 0);
		ASSERT_INT_EQ(b.attempts, BLOCK_AFTER);
	}
	offtable_free(t);
}

/* Blocks are remembered: each client is blocked exactly once, after
 * exactly BLOCK_AFTER - 1 counted attempts, whichever thread made them;
 * every later attempt finds the block in force. */
static void
test_one_block(void)
{
	struct policy_params pp = params(BLOCK_AFTER, NULL);
	struct offtable *t = offtable_new(&pp);
	struct worker_arg w[2];
	struct policy_block b;
	struct rg_addr a;
	bool unremembered = true;
	struct cidr net;
	const char *why;
	unsigned c;

	TEST_CHECK(t != NULL);
	run_two(t, w);
	for (c = 0; c < CLIENTS; c++) {
		ASSERT_INT_EQ(w[0].res[OFFENCE_THRESHOLD][c] +
		    w[1].res[OFFENCE_THRESHOLD][c], 1);
		ASSERT_INT_EQ(w[0].res[OFFENCE_COUNTED][c] +
		    w[1].res[OFFENCE_COUNTED][c], BLOCK_AFTER - 1);
		ASSERT_INT_EQ(w[0].res[OFFENCE_IN_FORCE][c] +
		    w[1].res[OFFENCE_IN_FORCE][c],
		    2 * ROUNDS - BLOCK_AFTER);
		a = client(c);
		TEST_CHECK(offtable_blocked(t, &a, T0));
		TEST_CHECK(!offtable_blocked(t, &a, T0 + HOUR));
	}

	/* unblock lifts the IPv4 blocks only, in every stripe: those count
	 * again, a second offence (a doubled block) */
	TEST_CHECK(cidr_parse("203.0.113.0/24", 14, &net, &why));
	offtable_unblock(t, &net);
	for (c = 0; c < CLIENTS; c++) {
		a = client(c);
		TEST_CHECK(offtable_blocked(t, &a, T0) == (c % 2 == 0));
	}
	a = client(1);
	for (c = 1; c < BLOCK_AFTER; c++)
		TEST_CHECK(offtable_step(t, &a, T0, &b, NULL) ==
		    OFFENCE_COUNTED);
	TEST_CHECK(offtable_step(t, &a, T0, &b, &unremembered) ==
	    OFFENCE_THRESHOLD);
	TEST_CHECK(!unremembered);
	ASSERT_INT_EQ(b.offences, 2);
	ASSERT_INT_EQ(b.duration, 2 * HOUR);

	/* forget clears the offences (and counts) of the IPv4 clients,
	 * once, whichever stripe holds them */
	ASSERT_INT_EQ(offtable_forget(t, &net), CLIENTS / 2);
	offtable_unblock(t, &net);
	for (c = 1; c < BLOCK_AFTER; c++)
		TEST_CHECK(offtable_step(t, &a, T0, &b, NULL) ==
		    OFFENCE_COUNTED);
	TEST_CHECK(offtable_step(t, &a, T0, &b, NULL) == OFFENCE_THRESHOLD);
	ASSERT_INT_EQ(b.offences, 1);
	offtable_free(t);
}

/* A reload reaches every stripe: block-after 2, then never-block. */
static void
test_set_params(void)
{
	struct policy_params pp = params(BLOCK_AFTER, NULL);
	struct offtable *t = offtable_new(&pp);
	struct policy_block b;
	struct rg_addr a;
	unsigned c;

	TEST_CHECK(t != NULL);
	pp.block_after = 2;
	offtable_set_params(t, &pp);
	for (c = 0; c < CLIENTS; c++) {
		a = client(c);
		TEST_CHECK(offtable_step(t, &a, T0, &b, NULL) ==
		    OFFENCE_COUNTED);
		TEST_CHECK(offtable_step(t, &a, T0, &b, NULL) ==
		    OFFENCE_THRESHOLD);
		TEST_CHECK(!b.never_block);
	}
	pp.never_block = &everyone;
	offtable_set_params(t, &pp);
	for (c = 0; c < CLIENTS; c++) {
		a = client(c);
		TEST_CHECK(offtable_step(t, &a, T0 + 2 * HOUR, &b, NULL) ==
		    OFFENCE_COUNTED);
		TEST_CHECK(offtable_step(t, &a, T0 + 2 * HOUR, &b, NULL) ==
		    OFFENCE_THRESHOLD);
		TEST_CHECK(b.never_block);
	}
	offtable_free(t);
}

int
main(void)
{
	struct cidr c;
	const char *why;

	TEST_CHECK(cidr_parse("0.0.0.0/0", 9, &c, &why));
	TEST_CHECK(cidr_set_add(&everyone, &c));
	TEST_CHECK(cidr_parse("::/0", 4, &c, &why));
	TEST_CHECK(cidr_set_add(&everyone, &c));
	TEST_RUN(test_counts_add_up);
	TEST_RUN(test_one_block);
	TEST_RUN(test_set_params);
	cidr_set_free(&everyone);
	return TEST_END("offtable");
}
