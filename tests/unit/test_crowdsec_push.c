/*
 * test_crowdsec_push.c — daemon/crowdsec.c's alerts: a block's message
 * carries the SMTP dialogue (UTF-8, cut to the outbox's message size), and
 * an alert must be built from it whatever the bytes: an alert that cannot
 * be built was left out of the push while its outbox row was deleted as
 * pushed.  crowdsec_kick: a malformed outbox row (taken out by the store)
 * is logged and the rows behind it go out; an outbox that cannot be read
 * is retried with backoff, not every tick.  The store and the blocks
 * module are stubs here.
 */
#include "test.h"

#include "../../daemon/crowdsec_parse.c"
#include "../../daemon/crowdsec.c"

static struct store_outbox queued;
static int nqueued;

int
store_outbox_add(struct store *s, const struct store_outbox *o, char *err,
    size_t errlen)
{
	(void)s, (void)err, (void)errlen;
	queued = *o;
	nqueued++;
	return 0;
}

/* What store_outbox_next answers, one result a call (a row each for a
 * positive one), then 0. */
static int next_script[8], next_left, next_calls;

int
store_outbox_next(struct store *s, struct store_outbox *v, int max,
    char *err, size_t errlen)
{
	int r, i;

	(void)s;
	next_calls++;
	if (next_left == 0)
		return 0;
	r = next_script[0];
	memmove(next_script, next_script + 1, sizeof(next_script) -
	    sizeof(next_script[0]));
	next_left--;
	snprintf(err, errlen, "outbox result %d", r);
	for (i = 0; i < r && i < max; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].id = 100 + i;
	}
	return r;
}

int
store_outbox_done(struct store *s, int64_t upto_id, char *err, size_t errlen)
{
	(void)s, (void)upto_id, (void)err, (void)errlen;
	return 0;
}

int
store_block_get(struct store *s, const char *addr, int prefix,
    struct store_block *out, char *err, size_t errlen)
{
	(void)s, (void)addr, (void)prefix, (void)out, (void)err, (void)errlen;
	return 0;
}

int
store_batch_begin(struct store *s, char *err, size_t errlen)
{
	(void)s, (void)err, (void)errlen;
	return 0;
}

int
store_batch_end(struct store *s, char *err, size_t errlen)
{
	(void)s, (void)err, (void)errlen;
	return 0;
}

int
store_blocks_active(struct store *s, int64_t now, store_block_cb cb,
    void *arg, char *err, size_t errlen)
{
	(void)s, (void)now, (void)cb, (void)arg, (void)err, (void)errlen;
	return 0;
}

long
store_outbox_count(struct store *s, char *err, size_t errlen)
{
	(void)s, (void)err, (void)errlen;
	return 0;
}

const char *
store_source_name(enum store_source src)
{
	(void)src;
	return "auto";
}

size_t
blocks_put_many(struct rgd *d, const struct blocks_pulled *v, size_t n)
{
	(void)d, (void)v;
	return n;
}

size_t
blocks_lift_many(struct rgd *d, const struct blocks_pulled *v, size_t n)
{
	(void)d, (void)v;
	return n;
}

/* The alert's message, or NULL when no alert was built. */
static char *
alert_message(const struct store_outbox *o)
{
	json_t *a = crowdsec_alert(o);
	const char *m;
	char *s;

	if (a == NULL)
		return NULL;
	m = json_string_value(json_object_get(a, "message"));
	s = m != NULL ? strdup(m) : NULL;
	json_decref(a);
	return s;
}

/* A row whose message is not UTF-8 (a row queued before, a stored
 * evidence cut inside a character): the alert is still built. */
static void
test_alert_any_bytes(void)
{
	struct store_outbox o;
	char *m;

	memset(&o, 0, sizeof(o));
	o.kind = STORE_OUTBOX_ADD;
	snprintf(o.addr, sizeof(o.addr), "192.0.2.7");
	o.prefix = 32;
	o.at = 1700000000;
	o.duration = 3600;
	snprintf(o.message, sizeof(o.message), "relayguard auto block: "
	    "RCPT TO:<r\xc3\xa9sum\xc3");
	m = alert_message(&o);
	TEST_CHECK(m != NULL);
	if (m != NULL)
		TEST_CHECK(strncmp(m, "relayguard auto block: RCPT TO:<r\xc3\xa9"
		    "sum", 35) == 0);
	free(m);
	/* Bytes that are no UTF-8 at all. */
	snprintf(o.message, sizeof(o.message), "\xff\xfe bad \x80");
	m = alert_message(&o);
	TEST_CHECK(m != NULL);
	free(m);
}

/* A block whose evidence is UTF-8 throughout: cut to the message size at
 * every offset within a character, the queued row still makes an
 * alert. */
static void
test_block_message_cut(void)
{
	static struct rgd d;
	static struct crowdsec cs;
	static struct store_block sb;
	size_t i, skew;
	char *m;

	memset(&cs, 0, sizeof(cs));
	cs.push = true;
	cs.next_push = time(NULL) + 3600;	/* no kick */
	d.crowdsec = &cs;
	for (skew = 0; skew < 9; skew++) {
		memset(&sb, 0, sizeof(sb));
		snprintf(sb.addr, sizeof(sb.addr), "192.0.2.7");
		sb.prefix = 32;
		sb.created = 1700000000;
		snprintf(sb.reason, sizeof(sb.reason), "relay attempts");
		memset(sb.evidence, 'x', skew);
		for (i = skew; i + 9 < sizeof(sb.evidence) &&
		    i < 2 * STORE_OUTBOX_MESSAGE_MAX; i += 9)
			memcpy(sb.evidence + i,
			    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7", 9);
		sb.evidence[i] = '\0';
		nqueued = 0;
		crowdsec_pushed_block(&d, &sb, 3600);
		ASSERT_INT_EQ(nqueued, 1);
		m = alert_message(&queued);
		TEST_CHECK(m != NULL);
		free(m);
	}
	d.crowdsec = NULL;
}

static void
script(const int *r, int n)
{
	memcpy(next_script, r, (size_t)n * sizeof(r[0]));
	next_left = n;
	next_calls = 0;
}

static void
test_kick(void)
{
	static struct rgd d;
	static struct crowdsec cs;
	static const int dropped[] = { STORE_OUTBOX_DROPPED,
	    STORE_OUTBOX_DROPPED, 2 };
	static const int failing[] = { -1, -1, -1, 1 };

	memset(&cs, 0, sizeof(cs));
	cs.push = true;
	d.crowdsec = &cs;

	/* Two malformed rows taken out: the two rows behind them go. */
	script(dropped, 3);
	crowdsec_kick(&d);
	ASSERT_INT_EQ(next_calls, 3);
	TEST_CHECK(cs.in_flight && cs.job_pending);
	ASSERT_INT_EQ(cs.njob, 2);
	ASSERT_INT_EQ(cs.job[0].id, 100);

	/* The outbox cannot be read: no retry before the backoff ends. */
	cs.in_flight = cs.job_pending = false;
	script(failing, 4);
	crowdsec_kick(&d);
	crowdsec_kick(&d);
	crowdsec_kick(&d);
	ASSERT_INT_EQ(next_calls, 1);
	ASSERT_INT_EQ(cs.outbox_errors, 1);
	TEST_CHECK(cs.next_push >= time(NULL) + 0 &&
	    cs.next_push <= time(NULL) + 1);
	cs.next_push = 0;		/* the backoff ran out */
	crowdsec_kick(&d);
	ASSERT_INT_EQ(next_calls, 2);
	TEST_CHECK(cs.next_push >= time(NULL) + 1);	/* 2 s now */
	cs.next_push = 0;
	crowdsec_kick(&d);
	TEST_CHECK(cs.next_push >= time(NULL) + 3);	/* 4 s */
	ASSERT_INT_EQ(cs.outbox_errors, 3);
	cs.next_push = 0;
	crowdsec_kick(&d);		/* it reads again */
	ASSERT_INT_EQ(cs.outbox_errors, 0);
	TEST_CHECK(cs.in_flight);
	ASSERT_INT_EQ(cs.njob, 1);
	d.crowdsec = NULL;
}

int
main(void)
{
	TEST_RUN(test_kick);
	TEST_RUN(test_alert_any_bytes);
	TEST_RUN(test_block_message_cut);
	return TEST_END("crowdsec_push");
}
