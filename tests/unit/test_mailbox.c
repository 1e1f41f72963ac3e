/*
 * test_mailbox.c — daemon/mailbox.c: the bounded queue between the packet
 * workers and the main thread (full: dropped and counted, never waited
 * for; order; the ring's wrap; one wake-up per burst), posting from many
 * threads at once, the evidence ring, and the tickets that tell the main
 * thread a request's evidence is out.
 */
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <jansson.h>

#include "test.h"

#include "../../daemon/mailbox.c"

static char err[256];

static struct rg_addr
v4(uint32_t n)
{
	struct rg_addr a;

	memset(&a, 0, sizeof(a));
	a.family = 4;
	a.bytes[0] = 192;
	a.bytes[1] = 0;
	a.bytes[2] = (uint8_t)(2 + (n >> 8) % 2);	/* 192.0.2-3.x */
	a.bytes[3] = (uint8_t)n;
	return a;
}

/* Is the mailbox's descriptor readable right now? */
static bool
readable(const struct mailbox *mb)
{
	struct pollfd p = { mailbox_fd(mb), POLLIN, 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
test_capacity(void)
{
	TEST_CHECK(mailbox_new(0, err, sizeof(err)) == NULL);
	TEST_CHECK(strstr(err, "capacity 0") != NULL);
	TEST_CHECK(mailbox_new(65537, err, sizeof(err)) == NULL);
	mailbox_free(NULL);
}

/* Full: the request is dropped and counted; what waits is kept in order. */
static void
test_full_drops(void)
{
	struct mailbox *mb = mailbox_new(4, err, sizeof(err));
	struct mailbox_block v[8];
	struct rg_addr a;
	size_t n;
	uint32_t i;

	TEST_CHECK(mb != NULL);
	if (mb == NULL)
		return;
	TEST_CHECK(!readable(mb));
	for (i = 0; i < 4; i++) {
		a = v4(i);
		TEST_CHECK(mailbox_post_block(mb, &a, 1000 + i));
	}
	a = v4(99);
	TEST_CHECK(!mailbox_post_block(mb, &a, 1));
	TEST_CHECK(!mailbox_post_block(mb, &a, 1));
	ASSERT_INT_EQ(mailbox_dropped(mb), 2);
	TEST_CHECK(readable(mb));
	n = mailbox_take_blocks(mb, v, 8);
	ASSERT_INT_EQ(n, 4);
	for (i = 0; i < n; i++) {
		a = v4(i);
		TEST_CHECK(rg_addr_eq(&v[i].client, &a));
		ASSERT_INT_EQ(v[i].dur, 1000 + i);
	}
	/* Taken: the descriptor is quiet and there is room again. */
	TEST_CHECK(!readable(mb));
	ASSERT_INT_EQ(mailbox_take_blocks(mb, v, 8), 0);
	a = v4(5);
	TEST_CHECK(mailbox_post_block(mb, &a, 5));
	TEST_CHECK(readable(mb));
	ASSERT_INT_EQ(mailbox_dropped(mb), 2);	/* drops only add up */
	mailbox_free(mb);
}

/* Taken in parts, across the end of the ring, oldest first. */
static void
test_wrap_and_parts(void)
{
	struct mailbox *mb = mailbox_new(3, err, sizeof(err));
	struct mailbox_block v[3];
	struct rg_addr a;
	uint32_t i, next = 0, want = 0;
	int round;

	TEST_CHECK(mb != NULL);
	if (mb == NULL)
		return;
	for (round = 0; round < 10; round++) {
		while (mb->count < 3) {
			a = v4(next);
			TEST_CHECK(mailbox_post_block(mb, &a, next));
			next++;
		}
		/* Two, then the rest: the head moves round the ring. */
		ASSERT_INT_EQ(mailbox_take_blocks(mb, v, 2), 2);
		for (i = 0; i < 2; i++)
			ASSERT_INT_EQ(v[i].dur, want++);
		TEST_CHECK(readable(mb) == false);	/* drained by take */
		ASSERT_INT_EQ(mailbox_take_blocks(mb, v, 1), 1);
		ASSERT_INT_EQ(v[0].dur, want++);
	}
	ASSERT_INT_EQ(mailbox_dropped(mb), 0);
	mailbox_free(mb);
}

#define POSTERS 4
#define POSTS 50000

static void *
poster(void *arg)
{
	struct mailbox *mb = arg;
	struct rg_addr a;
	uint32_t i;

	for (i = 0; i < POSTS; i++) {
		a = v4(i);
		(void)mailbox_post_block(mb, &a, i);
	}
	return NULL;
}

/*
 * Nobody takes: a worker posting into a full mailbox goes on at once
 * (200,000 posts well inside a second, all but the capacity dropped).
 */
static void
test_never_waits(void)
{
	struct mailbox *mb = mailbox_new(16, err, sizeof(err));
	double t0;

	TEST_CHECK(mb != NULL);
	if (mb == NULL)
		return;
	t0 = now_s();
	poster(mb);
	poster(mb);
	poster(mb);
	poster(mb);
	TEST_CHECK(now_s() - t0 < 2.0);
	ASSERT_INT_EQ(mailbox_dropped(mb), 4 * POSTS - 16);
	mailbox_free(mb);
}

/* Four workers post while the main thread takes: every request is either
 * taken or counted as dropped, none lost and none twice. */
static void
test_threads(void)
{
	struct mailbox *mb = mailbox_new(64, err, sizeof(err));
	struct mailbox_block v[32];
	pthread_t t[POSTERS];
	uint64_t taken = 0;
	double t0;
	size_t n;
	int i, done;

	TEST_CHECK(mb != NULL);
	if (mb == NULL)
		return;
	for (i = 0; i < POSTERS; i++)
		TEST_CHECK(pthread_create(&t[i], NULL, poster, mb) == 0);
	t0 = now_s();
	for (done = 0; !done && now_s() - t0 < 20;) {
		struct pollfd p = { mailbox_fd(mb), POLLIN, 0 };

		(void)poll(&p, 1, 10);
		while ((n = mailbox_take_blocks(mb, v, 32)) > 0)
			taken += n;
		done = taken + mailbox_dropped(mb) == (uint64_t)POSTERS * POSTS;
	}
	for (i = 0; i < POSTERS; i++)
		pthread_join(t[i], NULL);
	while ((n = mailbox_take_blocks(mb, v, 32)) > 0)
		taken += n;
	ASSERT_INT_EQ(taken + mailbox_dropped(mb), (uint64_t)POSTERS * POSTS);
	TEST_CHECK(taken >= 64);
	printf("# %d threads x %d posts: %llu taken, %llu dropped\n", POSTERS,
	    POSTS, (unsigned long long)taken,
	    (unsigned long long)mailbox_dropped(mb));
	mailbox_free(mb);
}

static void
test_evidence(void)
{
	struct mailbox *mb = mailbox_new(4, err, sizeof(err));
	char buf[4096], line[64], big[MAILBOX_EVIDENCE_LINE + 100];
	struct rg_addr a = v4(1), b = v4(2), c = v4(3);
	int i;

	TEST_CHECK(mb != NULL);
	if (mb == NULL)
		return;
	mailbox_evidence_for(mb, &a, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "");
	mailbox_post_evidence(mb, &a, "a1");
	mailbox_post_evidence(mb, &b, "b1");
	mailbox_post_evidence(mb, &a, "a2");
	mailbox_evidence_for(mb, &a, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "a1\na2\n");
	mailbox_evidence_for(mb, &b, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "b1\n");
	/* Whole lines only: "a1\n" fits in 5 bytes, "a1\na2\n" does not. */
	mailbox_evidence_for(mb, &a, buf, 5);
	ASSERT_STR_EQ(buf, "a1\n");
	mailbox_evidence_for(mb, &a, buf, 1);
	ASSERT_STR_EQ(buf, "");
	/* The ring keeps the last MAILBOX_EVIDENCE lines of anyone. */
	for (i = 0; i < MAILBOX_EVIDENCE; i++) {
		snprintf(line, sizeof(line), "c%d", i);
		mailbox_post_evidence(mb, &c, line);
	}
	mailbox_evidence_for(mb, &a, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "");
	mailbox_evidence_for(mb, &c, buf, sizeof(buf));
	TEST_CHECK(strncmp(buf, "c0\nc1\n", 6) == 0);
	/* A long line is cut to the slot. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mailbox_post_evidence(mb, &a, big);
	mailbox_evidence_for(mb, &a, buf, sizeof(buf));
	ASSERT_INT_EQ(strlen(buf), MAILBOX_EVIDENCE_LINE - 1 + 1);
	mailbox_free(mb);
}

/* An event line is UTF-8 (jansson writes it so); cut to the slot, it
 * stays UTF-8, or the block's evidence is dropped from every JSON reply
 * and CrowdSec alert that carries it. */
static void
test_evidence_utf8_cut(void)
{
	struct mailbox *mb = mailbox_new(4, err, sizeof(err));
	char buf[4096], big[MAILBOX_EVIDENCE_LINE * 2 + 8];
	struct rg_addr a = v4(1);
	json_t *j;
	size_t i, skew;

	TEST_CHECK(mb != NULL);
	if (mb == NULL)
		return;
	/* Two-, three- and four-byte characters, at every offset of the
	 * cut. */
	for (skew = 0; skew < 12; skew++) {
		memset(big, 'x', skew);
		for (i = skew; i + 9 < sizeof(big); i += 9)
			memcpy(big + i, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7", 9);
		big[i] = '\0';
		mailbox_post_evidence(mb, &a, big);
		mailbox_evidence_for(mb, &a, buf, sizeof(buf));
		TEST_CHECK(strlen(buf) >= MAILBOX_EVIDENCE_LINE - 4);
		TEST_CHECK((j = json_string(buf)) != NULL);
		json_decref(j);
		mailbox_free(mb);
		mb = mailbox_new(4, err, sizeof(err));
	}
	mailbox_free(mb);
}

/* A worker that marks a request's evidence done later than it posts. */
struct late {
	struct mailbox *mb;
	uint64_t ticket;
	unsigned ms;
};

static void *
late_done(void *arg)
{
	struct late *l = arg;
	struct timespec ts = { 0, (long)l->ms * 1000000 };

	nanosleep(&ts, NULL);
	mailbox_post_evidence(l->mb, &(struct rg_addr){ .family = 4 }, "late");
	mailbox_evidence_done(l->mb, l->ticket);
	return NULL;
}

/*
 * Tickets: one per request, never 0 (0 is a dropped request).  The main
 * thread's wait returns as soon as the worker marks the ticket done, and
 * gives up after its timeout when the worker never does.
 */
static void
test_tickets(void)
{
	struct mailbox *mb = mailbox_new(2, err, sizeof(err));
	struct mailbox_block v[4];
	struct rg_addr a = v4(1);
	struct late l;
	struct timespec until;
	pthread_t t;
	uint64_t t1, t2, t3;
	double t0;
	char buf[64];

	TEST_CHECK(mb != NULL);
	if (mb == NULL)
		return;
	t1 = mailbox_post_block(mb, &a, 1);
	t2 = mailbox_post_block(mb, &a, 2);
	TEST_CHECK(t1 != 0 && t2 == t1 + 1);
	ASSERT_INT_EQ(mailbox_post_block(mb, &a, 3), 0);	/* full */
	ASSERT_INT_EQ(mailbox_take_blocks(mb, v, 4), 2);
	ASSERT_INT_EQ(v[0].ticket, t1);
	ASSERT_INT_EQ(v[1].ticket, t2);
	/* Not done: the wait ends at its timeout, false. */
	t0 = now_s();
	mailbox_deadline(50, &until);
	TEST_CHECK(!mailbox_evidence_wait(mb, t1, &until));
	TEST_CHECK(now_s() - t0 >= 0.045 && now_s() - t0 < 5);
	/* The deadline has passed: a second wait ends at once. */
	t0 = now_s();
	TEST_CHECK(!mailbox_evidence_wait(mb, t2, &until));
	TEST_CHECK(now_s() - t0 < 0.04);
	/* Done already: true at once; another ticket stays not done. */
	mailbox_evidence_done(mb, t1);
	TEST_CHECK(mailbox_evidence_wait(mb, t1, &until));
	TEST_CHECK(!mailbox_evidence_wait(mb, t2, &until));
	mailbox_evidence_done(mb, 0);		/* a dropped request: nothing */
	/* Done while the main thread waits: it wakes with the evidence. */
	t3 = mailbox_post_block(mb, &a, 3);
	TEST_CHECK(t3 == t2 + 1);
	l.mb = mb;
	l.ticket = t3;
	l.ms = 30;
	TEST_CHECK(pthread_create(&t, NULL, late_done, &l) == 0);
	t0 = now_s();
	mailbox_deadline(10000, &until);
	TEST_CHECK(mailbox_evidence_wait(mb, t3, &until));
	TEST_CHECK(now_s() - t0 < 5);
	mailbox_evidence_for(mb, &(struct rg_addr){ .family = 4 }, buf,
	    sizeof(buf));
	ASSERT_STR_EQ(buf, "late\n");
	pthread_join(t, NULL);
	/* t3 shares t1's slot (capacity 2): t1 still counts as done. */
	TEST_CHECK(mailbox_evidence_wait(mb, t1, &until));
	mailbox_free(mb);
}

int
main(void)
{
	TEST_RUN(test_capacity);
	TEST_RUN(test_full_drops);
	TEST_RUN(test_wrap_and_parts);
	TEST_RUN(test_never_waits);
	TEST_RUN(test_threads);
	TEST_RUN(test_evidence);
	TEST_RUN(test_evidence_utf8_cut);
	TEST_RUN(test_tickets);
	return TEST_END("mailbox");
}
