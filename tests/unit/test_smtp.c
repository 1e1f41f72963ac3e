/*
 * test_smtp.c — the SMTP dialogue parser, driven by scripted dialogues.
 *
 * Each dialogue is a list of (direction, bytes) steps.  The runner feeds
 * it, drains held client bytes after every reply as engine code does, and
 * renders the items as text lines:
 *
 *	C RCPT TO:<a@b.test>	a command (C! smuggled, C~ truncated); the
 *				verb follows in parentheses when it is not
 *				the first word of the line
 *	R 250 RCPT		a reply: code and the command it answers
 *	S LF.LF			an ambiguous end-of-data
 *	A name			an anomaly
 *	T			STARTTLS accepted
 *
 * Every dialogue is checked fed whole, one byte per call, in random-sized
 * chunks (fixed seeds), and split in two at every offset of every step:
 * the rendered items must be identical each time.
 */
#include <stdlib.h>

#include "../../filters/smtp.c"
#include "test.h"

#define STEP_GAP 2	/* dir value: smtp_gap() on dir of .len */

struct step {
	int dir;
	const char *data;
	size_t len;
};

#define C(x)	{ SMTP_CLIENT, (x), sizeof(x) - 1 }
#define S(x)	{ SMTP_SERVER, (x), sizeof(x) - 1 }
#define GAP(d)	{ STEP_GAP, NULL, (d) }
#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

#define BANNER	S("220 mx.example.test ESMTP\r\n")
/* A greeting that offers CHUNKING: BDAT is read as chunks only then. */
#define EHLO_CHUNKING C("EHLO c\r\n"), S("250-mx\r\n250 CHUNKING\r\n")
#define EHLO_CHUNKING_ITEMS "C EHLO c\nR 250 EHLO\n"

/* The server software run() reads as (smtp_set_software()). */
static enum smtp_software test_software = SMTP_SOFTWARE_ANY;

struct out {
	char *p;
	size_t len, cap;
};

struct summary {
	bool authenticated, tls, in_body, waiting;
	uint64_t body_bytes, opaque_bytes, commands, replies, anomalies;
};

static void
out_add(struct out *o, const void *p, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2;
		o->p = realloc(o->p, o->cap);
		if (o->p == NULL)
			abort();
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void
out_str(struct out *o, const char *s)
{
	out_add(o, s, strlen(s));
}

/* Printable rendering of item bytes; long ones abbreviated with length. */
static void
out_bytes(struct out *o, const uint8_t *p, size_t n)
{
	char tmp[32];
	size_t i, show = n > 48 ? 24 : n;

	for (i = 0; i < show; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			out_add(o, &p[i], 1);
		else {
			snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
			out_str(o, tmp);
		}
	}
	if (show < n) {
		snprintf(tmp, sizeof(tmp), "...[%zu]", n);
		out_str(o, tmp);
	}
}

static int
toupper_ascii(int c)
{
	return (c >= 'a' && c <= 'z') ? c - 32 : c;
}

static void
render(struct out *o, const struct smtp_item *it)
{
	char tmp[64], word[32];
	size_t i = 0, w = 0;

	switch (it->kind) {
	case SMTP_ITEM_COMMAND:
		TEST_CHECK(it->dir == SMTP_CLIENT);
		TEST_CHECK(it->line != NULL && it->arg != NULL);
		TEST_CHECK(it->arg >= it->line &&
		    it->arg + it->arg_len <= it->line + it->line_len);
		TEST_CHECK(it->line_len <= SMTP_LINE_MAX);
		snprintf(tmp, sizeof(tmp), "C%s%s%s%s ",
		    it->smuggled ? "!" : "", it->truncated ? "~" : "",
		    it->ambiguity != NULL ? "?" : "",
		    it->ambiguity != NULL ? it->ambiguity : "");
		out_str(o, tmp);
		out_bytes(o, it->line, it->line_len);
		while (i < it->line_len && (it->line[i] == ' ' ||
		    it->line[i] == '\t'))
			i++;
		while (i < it->line_len && it->line[i] != ' ' &&
		    it->line[i] != '\t' && w < sizeof(word) - 1)
			word[w++] = (char)toupper_ascii(it->line[i++]);
		word[w] = '\0';
		if (strcmp(word, smtp_verb_name(it->verb)) != 0) {
			snprintf(tmp, sizeof(tmp), " (%s)",
			    smtp_verb_name(it->verb));
			out_str(o, tmp);
		}
		break;
	case SMTP_ITEM_REPLY:
		TEST_CHECK(it->dir == SMTP_SERVER);
		TEST_CHECK(it->line_len <= SMTP_REPLY_LINE_MAX);
		snprintf(tmp, sizeof(tmp), "R%s %d %s", it->truncated ? "~" : "",
		    it->code, smtp_verb_name(it->verb));
		out_str(o, tmp);
		break;
	case SMTP_ITEM_SMUGGLING:
		TEST_CHECK(it->what != NULL);
		snprintf(tmp, sizeof(tmp), "S %s", it->what ? it->what : "?");
		out_str(o, tmp);
		break;
	case SMTP_ITEM_ANOMALY:
		TEST_CHECK(it->what != NULL);
		snprintf(tmp, sizeof(tmp), "A %s", it->what ? it->what : "?");
		out_str(o, tmp);
		break;
	case SMTP_ITEM_TLS:
		out_str(o, "T");
		break;
	default:
		out_str(o, "?");
		break;
	}
	out_str(o, "\n");
}

/* Feed one chunk of one direction until the parser wants more. */
static void
feed(struct smtp_session *s, struct rg_mem *m, enum smtp_dir dir,
    const uint8_t *p, size_t n, struct out *o)
{
	struct smtp_item it;
	size_t used, guard = 0;
	enum smtp_status st;

	for (;;) {
		st = smtp_feed(s, m, dir, p, n, &used, &it);
		TEST_CHECK(used <= n);
		if (used > n)
			return;
		if (st == SMTP_AGAIN) {
			/* The parser takes everything it does not return. */
			ASSERT_INT_EQ(used, n);
			return;
		}
		render(o, &it);
		if (used > 0) {	/* p may be NULL for a drain */
			p += used;
			n -= used;
		}
		if (it.kind == SMTP_ITEM_REPLY)
			feed(s, m, SMTP_CLIENT, NULL, 0, o);
		if (++guard > 10000000) {
			TEST_CHECK(!"runaway");
			return;
		}
	}
}

static uint32_t rng_state;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

enum { MODE_WHOLE, MODE_BYTES, MODE_RANDOM, MODE_SPLIT };

/*
 * Run a dialogue.  MODE_SPLIT cuts step split_step at split_at; the
 * others apply to every step.  Checks that the budget returns to zero.
 */
static void
run(const struct step *st, size_t n, int mode, uint32_t seed,
    size_t split_step, size_t split_at, struct out *o, struct summary *sum)
{
	struct smtp_session s;
	struct rg_mem m = { .cap = 1 << 24 };
	size_t i, off, k;
	const uint8_t *p;

	rng_state = seed ? seed : 1;
	smtp_init(&s);
	smtp_set_software(&s, test_software);
	for (i = 0; i < n; i++) {
		if (st[i].dir == STEP_GAP) {
			smtp_gap(&s, &m, (enum smtp_dir)st[i].len);
			continue;
		}
		p = (const uint8_t *)st[i].data;
		for (off = 0; off < st[i].len; off += k) {
			k = st[i].len - off;
			if (mode == MODE_BYTES)
				k = 1;
			else if (mode == MODE_RANDOM)
				k = 1 + rng() % 23;
			else if (mode == MODE_SPLIT && i == split_step &&
			    off < split_at)
				k = split_at - off;
			if (k > st[i].len - off)
				k = st[i].len - off;
			feed(&s, &m, (enum smtp_dir)st[i].dir, p + off, k, o);
		}
		/* Owed items surface at the next call of any direction. */
		feed(&s, &m, (enum smtp_dir)st[i].dir, NULL, 0, o);
		TEST_CHECK(smtp_buffered(&s) <= m.used ||
		    smtp_buffered(&s) == 0);
	}
	if (sum != NULL) {
		memset(sum, 0, sizeof(*sum));	/* padding too: memcmp'd */
		sum->authenticated = s.authenticated;
		sum->tls = s.tls;
		sum->in_body = s.in_body;
		sum->waiting = smtp_client_waiting(&s);
		sum->body_bytes = s.body_bytes;
		sum->opaque_bytes = s.opaque_bytes;
		sum->commands = s.commands;
		sum->replies = s.replies;
		sum->anomalies = s.anomalies;
	}
	smtp_free(&s, &m);
	ASSERT_INT_EQ(m.used, 0);
}

static int dialogue_failures;

/*
 * Check a dialogue: expected items (NULL: only compare the feeding modes
 * with each other) and, when sum is given, return the final state.
 */
static void
dialogue(const char *name, const struct step *st, size_t n,
    const char *expect, struct summary *sum)
{
	struct out ref = { 0 }, o;
	struct summary s0, s1;
	size_t k, step;
	uint32_t seed;
	int before = test_failed_checks;

	run(st, n, MODE_WHOLE, 0, 0, 0, &ref, &s0);
	if (expect != NULL && strcmp(ref.p ? ref.p : "", expect) != 0) {
		fprintf(stderr, "%s: items differ\n--- expected\n%s--- got\n%s",
		    name, expect, ref.p ? ref.p : "");
		test_failed_checks++;
	}
	if (sum != NULL)
		*sum = s0;

#define SAME(label) do { \
	if (strcmp(o.p ? o.p : "", ref.p ? ref.p : "") != 0 || \
	    memcmp(&s0, &s1, sizeof(s0)) != 0) { \
		fprintf(stderr, "%s: %s differs from whole\n--- whole\n%s" \
		    "--- %s\n%s", name, label, ref.p ? ref.p : "", label, \
		    o.p ? o.p : ""); \
		test_failed_checks++; \
		free(o.p); \
		goto out; \
	} \
	free(o.p); } while (0)

	memset(&s1, 0, sizeof(s1));
	o = (struct out){ 0 };
	run(st, n, MODE_BYTES, 0, 0, 0, &o, &s1);
	SAME("bytewise");
	for (seed = 1; seed <= 8; seed++) {
		o = (struct out){ 0 };
		run(st, n, MODE_RANDOM, seed * 2654435761u, 0, 0, &o, &s1);
		SAME("random");
	}
	for (step = 0; step < n; step++) {
		if (st[step].dir == STEP_GAP)
			continue;
		for (k = 1; k < st[step].len; k++) {
			/* Long steps: the ends and a sample between. */
			if (st[step].len > 600 && k > 300 &&
			    k < st[step].len - 300 && k % 61 != 0)
				continue;
			o = (struct out){ 0 };
			run(st, n, MODE_SPLIT, 0, step, k, &o, &s1);
			SAME("split");
		}
	}
#undef SAME
out:
	free(ref.p);
	if (test_failed_checks != before)
		dialogue_failures++;
}

/* ------------------------------------------------------------------------ */

static void
test_verbs_and_names(void)
{
	ASSERT_STR_EQ(smtp_verb_name(SMTP_V_RCPT), "RCPT");
	ASSERT_STR_EQ(smtp_verb_name(SMTP_V_STARTTLS), "STARTTLS");
	ASSERT_STR_EQ(smtp_verb_name(SMTP_V_DATA_END), "DATA_END");
	ASSERT_STR_EQ(smtp_verb_name(SMTP_V_NONE), "NONE");
	ASSERT_STR_EQ(smtp_verb_name((enum smtp_verb)200), "?");
	ASSERT_INT_EQ(smtp_verb_lookup((const uint8_t *)"rCpT", 4), SMTP_V_RCPT);
	ASSERT_INT_EQ(smtp_verb_lookup((const uint8_t *)"RCPTX", 5),
	    SMTP_V_UNKNOWN);
	ASSERT_INT_EQ(smtp_verb_lookup((const uint8_t *)"", 0), SMTP_V_UNKNOWN);
	ASSERT_INT_EQ(smtp_verb_lookup((const uint8_t *)"xforward", 8),
	    SMTP_V_XFORWARD);
}

static void
test_bdat_parse(void)
{
	uint64_t n = 7;
	bool last = true;

#define BP(str) smtp_bdat_parse((const uint8_t *)(str), sizeof(str) - 1, &n, &last)
	TEST_CHECK(BP("0 LAST") && n == 0 && last);
	TEST_CHECK(BP("1234") && n == 1234 && !last);
	TEST_CHECK(BP("12 last  ") && n == 12 && last);
	TEST_CHECK(BP("12\tLaSt") && n == 12 && last);
	TEST_CHECK(BP("9223372036854775807") && n == 9223372036854775807ULL);
	TEST_CHECK(!BP("9223372036854775808"));
	TEST_CHECK(!BP("15555555557777777777 LAST"));
	TEST_CHECK(!BP("18446744073709551616"));
	TEST_CHECK(!BP("99999999999999999999999"));
	TEST_CHECK(!BP(""));
	TEST_CHECK(!BP("-1 LAST"));
	TEST_CHECK(!BP("+1"));
	TEST_CHECK(!BP("SCRAMBLE"));
	TEST_CHECK(!BP("1234 SCRAMBLE"));
	TEST_CHECK(!BP("12LAST"));
	TEST_CHECK(!BP("12 LAST x"));
	TEST_CHECK(!BP("12 LASTX"));
	TEST_CHECK(!BP("12 LAS"));
	TEST_CHECK(!BP("12x"));
#undef BP
}

static void
test_banner_ehlo(void)
{
	static const struct step st[] = {
		BANNER,
		C("EHLO client.example.test\r\n"),
		S("250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
		  "250-CHUNKING\r\n250 8BITMIME\r\n"),
		C("NOOP\r\n"),
		S("250 2.0.0 Ok\r\n"),
		C("RSET\r\n"),
		S("250 2.0.0 Ok\r\n"),
		C("QUIT\r\n"),
		S("221 2.0.0 Bye\r\n"),
	};
	struct summary sum;

	dialogue("banner", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C EHLO client.example.test\n"
	    "R 250 EHLO\n"
	    "C NOOP\n"
	    "R 250 NOOP\n"
	    "C RSET\n"
	    "R 250 RSET\n"
	    "C QUIT\n"
	    "R 221 QUIT\n", &sum);
	ASSERT_INT_EQ(sum.commands, 4);
	ASSERT_INT_EQ(sum.replies, 5);
	ASSERT_INT_EQ(sum.anomalies, 0);
	TEST_CHECK(!sum.authenticated && !sum.tls && !sum.waiting);
}

static const char data_body[] =
    "Subject: test\r\n"
    "\r\n"
    "RCPT TO:<x@evil.test>\r\n"
    "MAIL FROM:<y@evil.test>\r\n"
    "..leading dot, stuffed\r\n"
    ". not the end\r\n"
    ".x\r\n"
    "\r\n"
    ".\r\n";

static void
test_pipelining_data(void)
{
	static const struct step st[] = {
		BANNER,
		C("EHLO client.example.test\r\n"),
		S("250-mx.example.test\r\n250 PIPELINING\r\n"),
		C("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
		  "RCPT TO:<c@example.test>\r\nDATA\r\n"),
		S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
		  "354 End data with <CR><LF>.<CR><LF>\r\n"),
		{ SMTP_CLIENT, data_body, sizeof(data_body) - 1 },
		S("250 2.0.0 Ok: queued as 1234\r\n"),
		C("QUIT\r\n"),
		S("221 2.0.0 Bye\r\n"),
	};
	struct summary sum;

	dialogue("pipelining", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C EHLO client.example.test\n"
	    "R 250 EHLO\n"
	    "C MAIL FROM:<a@example.test>\n"
	    "C RCPT TO:<b@example.test>\n"
	    "C RCPT TO:<c@example.test>\n"
	    "C DATA\n"
	    "R 250 MAIL\n"
	    "R 250 RCPT\n"
	    "R 250 RCPT\n"
	    "R 354 DATA\n"
	    "C . (DATA_END)\n"
	    "R 250 DATA_END\n"
	    "C QUIT\n"
	    "R 221 QUIT\n", &sum);
	ASSERT_INT_EQ(sum.body_bytes, sizeof(data_body) - 1);
	ASSERT_INT_EQ(sum.commands, 7);
	ASSERT_INT_EQ(sum.anomalies, 0);
	TEST_CHECK(!sum.in_body);
}

static void
test_data_before_354(void)
{
	static const struct step st[] = {
		BANNER,
		C("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
		  "DATA\r\nSubject: t\r\n\r\nRCPT TO:<x@evil.test>\r\n.\r\n"
		  "QUIT\r\n"),
		S("250 ok\r\n250 ok\r\n"),
		S("354 go ahead\r\n"),
		S("250 queued\r\n221 bye\r\n"),
	};
	dialogue("data-before-354", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C MAIL FROM:<a@example.test>\n"
	    "C RCPT TO:<b@example.test>\n"
	    "C DATA\n"
	    "R 250 MAIL\n"
	    "R 250 RCPT\n"
	    "R 354 DATA\n"
	    "C . (DATA_END)\n"
	    "C QUIT\n"
	    "R 250 DATA_END\n"
	    "R 221 QUIT\n", NULL);
}

static void
test_waiting_and_pending(void)
{
	struct smtp_session s;
	struct rg_mem m = { .cap = 1 << 20 };
	struct smtp_item it;
	size_t used;
	static const uint8_t c1[] = "DATA\r\nhello\r\n";
	static const uint8_t s1[] = "354 go\r\n";

	smtp_init(&s);
	TEST_CHECK(!smtp_client_waiting(&s));
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT, c1, sizeof(c1) - 1, &used,
	    &it), SMTP_ITEM);
	ASSERT_INT_EQ(used, 6);
	ASSERT_INT_EQ(it.verb, SMTP_V_DATA);
	ASSERT_INT_EQ(it.arg_len, 0);
	TEST_CHECK(smtp_client_waiting(&s));
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT, c1 + 6, sizeof(c1) - 7,
	    &used, &it), SMTP_AGAIN);
	ASSERT_INT_EQ(used, sizeof(c1) - 7);
	ASSERT_INT_EQ(smtp_buffered(&s), 7);
	/* The banner answers CONNECT, the 354 answers DATA. */
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_SERVER,
	    (const uint8_t *)"220 hi\r\n", 8, &used, &it), SMTP_ITEM);
	ASSERT_INT_EQ(it.verb, SMTP_V_CONNECT);
	TEST_CHECK(smtp_client_waiting(&s));
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_SERVER, s1, sizeof(s1) - 1, &used,
	    &it), SMTP_ITEM);
	ASSERT_INT_EQ(it.code, 354);
	ASSERT_INT_EQ(it.line_len, 6);
	ASSERT_MEM_EQ(it.line, "354 go", 6);
	TEST_CHECK(!smtp_client_waiting(&s));
	TEST_CHECK(s.in_body);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT, NULL, 0, &used, &it),
	    SMTP_AGAIN);
	ASSERT_INT_EQ(s.body_bytes, 7);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT, NULL, 0, &used, &it),
	    SMTP_AGAIN);
	ASSERT_INT_EQ(smtp_buffered(&s), 0);
	smtp_free(&s, &m);
	ASSERT_INT_EQ(m.used, 0);
}

static void
test_data_refused(void)
{
	static const struct step st[] = {
		BANNER,
		C("MAIL FROM:<a@example.test>\r\n"),
		S("250 ok\r\n"),
		C("DATA\r\nRCPT TO:<x@evil.test>\r\n"),
		S("554 5.5.1 Error: no valid recipients\r\n"),
		S("250 ok\r\n"),
	};
	dialogue("data-refused", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C MAIL FROM:<a@example.test>\n"
	    "R 250 MAIL\n"
	    "C DATA\n"
	    "R 554 DATA\n"
	    "C RCPT TO:<x@evil.test>\n"
	    "R 250 RCPT\n", NULL);
}

static void
test_bdat(void)
{
	/* Chunk data holds command lines and does not end in CRLF. */
	static const struct step st[] = {
		BANNER,
		EHLO_CHUNKING,
		C("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
		  "BDAT 30\r\nRCPT TO:<x@evil.test>\r\nDATA\r\nzBDAT 23\r\n"
		  "\r\nRCPT TO:<y@evil.test>BDAT 0 LAST\r\nQUIT\r\n"),
		S("250 ok\r\n250 ok\r\n250 2.0.0 30 octets\r\n"
		  "250 2.0.0 23 octets\r\n250 2.0.0 queued\r\n221 bye\r\n"),
	};
	static const struct step st2[] = {
		BANNER,
		EHLO_CHUNKING,
		C("BDAT 6 LAST\r\nRCPT\r\nRSET\r\n"),
		S("250 ok\r\n250 ok\r\n"),
		C("bdat 3\r\nab"),
		C("cNOOP\r\n"),
		S("250 ok\r\n250 ok\r\n"),
	};
	struct summary sum;

	dialogue("bdat", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    EHLO_CHUNKING_ITEMS
	    "C MAIL FROM:<a@example.test>\n"
	    "C RCPT TO:<b@example.test>\n"
	    "C BDAT 30\n"
	    "C BDAT 23\n"
	    "C BDAT 0 LAST\n"
	    "C QUIT\n"
	    "R 250 MAIL\n"
	    "R 250 RCPT\n"
	    "R 250 BDAT\n"
	    "R 250 BDAT\n"
	    "R 250 BDAT\n"
	    "R 221 QUIT\n", &sum);
	ASSERT_INT_EQ(sum.body_bytes, 53);
	ASSERT_INT_EQ(sum.anomalies, 0);
	TEST_CHECK(!sum.in_body);
	dialogue("bdat2", st2, NSTEPS(st2),
	    "R 220 CONNECT\n"
	    EHLO_CHUNKING_ITEMS
	    "C BDAT 6 LAST\n"
	    "C RSET\n"
	    "R 250 BDAT\n"
	    "R 250 RSET\n"
	    "C bdat 3\n"
	    "C NOOP\n"
	    "R 250 BDAT\n"
	    "R 250 NOOP\n", &sum);
	ASSERT_INT_EQ(sum.body_bytes, 9);
}

static void
test_bdat_invalid(void)
{
	static const struct step st[] = {
		BANNER,
		EHLO_CHUNKING,
		C("BDAT\r\nRCPT TO:<w@evil.test>\r\n"),
		C("BDAT -1 LAST\r\nRCPT TO:<x@evil.test>\r\n"),
		C("BDAT 15555555557777777777 LAST\r\nRCPT TO:<y@evil.test>\r\n"),
		C("BDAT 1234 SCRAMBLE\r\nRCPT TO:<z@evil.test>\r\n"),
		S("501 5.5.4 Syntax\r\n550 no\r\n501 5.5.4 Syntax\r\n"
		  "550 no\r\n501 5.5.4 Syntax\r\n550 no\r\n"
		  "501 5.5.4 Syntax\r\n550 no\r\n"),
	};
	struct summary sum;

	dialogue("bdat-invalid", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    EHLO_CHUNKING_ITEMS
	    "C BDAT\n"
	    "A bdat-invalid\n"
	    "C RCPT TO:<w@evil.test>\n"
	    "C BDAT -1 LAST\n"
	    "A bdat-invalid\n"
	    "C RCPT TO:<x@evil.test>\n"
	    "C BDAT 15555555557777777777 LAST\n"
	    "A bdat-invalid\n"
	    "C RCPT TO:<y@evil.test>\n"
	    "C BDAT 1234 SCRAMBLE\n"
	    "A bdat-invalid\n"
	    "C RCPT TO:<z@evil.test>\n"
	    "R 501 BDAT\n"
	    "R 550 RCPT\n"
	    "R 501 BDAT\n"
	    "R 550 RCPT\n"
	    "R 501 BDAT\n"
	    "R 550 RCPT\n"
	    "R 501 BDAT\n"
	    "R 550 RCPT\n", &sum);
	ASSERT_INT_EQ(sum.anomalies, 4);
	ASSERT_INT_EQ(sum.body_bytes, 0);
}

static void
test_bdat_replies(void)
{
	/* The answer to an earlier chunk may arrive while a later one is
	 * still being read; the answer to the current one means loss. */
	static const struct step st[] = {
		BANNER,
		EHLO_CHUNKING,
		C("BDAT 3\r\nabcBDAT 6 LAST\r\nde"),
		S("250 ok\r\n"),
		C("fghi"),
		C("RSET\r\n"),
		S("250 ok\r\n250 ok\r\n"),
		C("BDAT 100\r\nshort"),
		S("250 2.0.0 hmm\r\n"),
		C("RCPT TO:<x@evil.test>\r\n"),
	};
	dialogue("bdat-replies", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    EHLO_CHUNKING_ITEMS
	    "C BDAT 3\n"
	    "C BDAT 6 LAST\n"
	    "R 250 BDAT\n"
	    "C RSET\n"
	    "R 250 BDAT\n"
	    "R 250 RSET\n"
	    "C BDAT 100\n"
	    "R 250 BDAT\n"
	    "C RCPT TO:<x@evil.test>\n", NULL);
}

static void
test_auth(void)
{
	static const struct step plain[] = {
		BANNER,
		C("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
		S("235 2.7.0 Authentication successful\r\n"),
	};
	static const struct step login[] = {
		BANNER,
		C("AUTH LOGIN\r\n"),
		S("334 VXNlcm5hbWU6\r\n"),
		C("YWxpY2U=\r\n"),
		S("334 UGFzc3dvcmQ6\r\n"),
		C("c2VjcmV0\r\n"),
		S("235 2.7.0 Authentication successful\r\n"),
		C("RCPT TO:<far@away.test>\r\n"),
	};
	/* Credentials sent ahead of the 334s are held, then read as
	 * AUTH_DATA lines one answer at a time. */
	static const struct step ahead[] = {
		BANNER,
		C("AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nRCPT TO:<a@b.test>\r\n"),
		S("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n"),
	};
	static const struct step failed[] = {
		BANNER,
		C("AUTH PLAIN AGFsaWNlAHdyb25n\r\n"),
		S("535 5.7.8 Error: authentication failed\r\n"),
		C("RCPT TO:<far@away.test>\r\n"),
	};
	static const struct step cancel[] = {
		BANNER,
		C("AUTH LOGIN\r\n"),
		S("334 VXNlcm5hbWU6\r\n"),
		C("*\r\n"),
		S("501 5.7.0 Authentication aborted\r\n"),
		C("RCPT TO:<x@evil.test>\r\n"),
	};
	struct summary sum;

	dialogue("auth-plain", plain, NSTEPS(plain),
	    "R 220 CONNECT\n"
	    "C AUTH PLAIN AGFsaWNlAHNlY3JldA==\n"
	    "R 235 AUTH\n", &sum);
	TEST_CHECK(sum.authenticated && !sum.waiting);
	dialogue("auth-login", login, NSTEPS(login),
	    "R 220 CONNECT\n"
	    "C AUTH LOGIN\n"
	    "R 334 AUTH\n"
	    "C YWxpY2U= (AUTH_DATA)\n"
	    "R 334 AUTH_DATA\n"
	    "C c2VjcmV0 (AUTH_DATA)\n"
	    "R 235 AUTH_DATA\n"
	    "C RCPT TO:<far@away.test>\n", &sum);
	TEST_CHECK(sum.authenticated);
	dialogue("auth-ahead", ahead, NSTEPS(ahead),
	    "R 220 CONNECT\n"
	    "C AUTH LOGIN\n"
	    "R 334 AUTH\n"
	    "C YWxpY2U= (AUTH_DATA)\n"
	    "R 334 AUTH_DATA\n"
	    "C c2VjcmV0 (AUTH_DATA)\n"
	    "R 235 AUTH_DATA\n"
	    "C RCPT TO:<a@b.test>\n", &sum);
	TEST_CHECK(sum.authenticated);
	dialogue("auth-failed", failed, NSTEPS(failed),
	    "R 220 CONNECT\n"
	    "C AUTH PLAIN AGFsaWNlAHdyb25n\n"
	    "R 535 AUTH\n"
	    "C RCPT TO:<far@away.test>\n", &sum);
	TEST_CHECK(!sum.authenticated && !sum.waiting);
	dialogue("auth-cancel", cancel, NSTEPS(cancel),
	    "R 220 CONNECT\n"
	    "C AUTH LOGIN\n"
	    "R 334 AUTH\n"
	    "C * (AUTH_DATA)\n"
	    "R 501 AUTH_DATA\n"
	    "C RCPT TO:<x@evil.test>\n", &sum);
	TEST_CHECK(!sum.authenticated);
}

static void
test_auth_wiped(void)
{
	struct smtp_session s;
	struct rg_mem m = { .cap = 1 << 20 };
	struct smtp_item it;
	size_t used;
	uint8_t *buf;

	smtp_init(&s);
	smtp_feed(&s, &m, SMTP_CLIENT, (const uint8_t *)"AUTH LOGIN\r\n", 12,
	    &used, &it);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_SERVER,
	    (const uint8_t *)"220 x\r\n334 VXNlcm5hbWU6\r\n", 25, &used, &it),
	    SMTP_ITEM);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_SERVER,
	    (const uint8_t *)"334 VXNlcm5hbWU6\r\n", 18, &used, &it), SMTP_ITEM);
	ASSERT_INT_EQ(it.verb, SMTP_V_AUTH);
	/* A credential line split across calls goes through the buffer. */
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT,
	    (const uint8_t *)"c2VjcmV0c2Vj", 12, &used, &it), SMTP_AGAIN);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT,
	    (const uint8_t *)"cmV0\r\n", 6, &used, &it), SMTP_ITEM);
	ASSERT_INT_EQ(it.verb, SMTP_V_AUTH_DATA);
	ASSERT_INT_EQ(it.line_len, 16);
	ASSERT_MEM_EQ(it.line, "c2VjcmV0c2VjcmV0", 16);
	buf = s.half[SMTP_CLIENT].line.data;
	TEST_CHECK(buf != NULL && it.line == buf);
	/* The next call releases and wipes it. */
	smtp_feed(&s, &m, SMTP_SERVER, NULL, 0, &used, &it);
	ASSERT_INT_EQ(s.half[SMTP_CLIENT].line.len, 0);
	if (buf != NULL && s.half[SMTP_CLIENT].line.data == buf)
		TEST_CHECK(memcmp(buf, "c2Vj", 4) != 0);
	smtp_free(&s, &m);
	ASSERT_INT_EQ(m.used, 0);
}

static void
test_starttls(void)
{
	static const struct step ok[] = {
		BANNER,
		C("EHLO c.example.test\r\n"),
		S("250-mx.example.test\r\n250 STARTTLS\r\n"),
		C("STARTTLS\r\n"),
		S("220 2.0.0 Ready to start TLS\r\n\x16\x03\x03\x00\x10"),
		C("\x16\x03\x01\x02\x00RCPT TO:<x@evil.test>\r\n"),
		S("250 fake\r\n"),
	};
	static const struct step inject[] = {
		BANNER,
		C("STARTTLS\r\nRCPT TO:<x@evil.test>\r\nMAIL FROM:<y@"),
		S("220 2.0.0 Ready to start TLS\r\n"),
		C("\x16\x03\x01\r\n\x00\x01"),
	};
	static const struct step refused[] = {
		BANNER,
		C("STARTTLS\r\nRCPT TO:<x@evil.test>\r\n"),
		S("454 4.7.0 TLS not available\r\n"),
		S("250 ok\r\n"),
	};
	struct summary sum;

	dialogue("starttls", ok, NSTEPS(ok),
	    "R 220 CONNECT\n"
	    "C EHLO c.example.test\n"
	    "R 250 EHLO\n"
	    "C STARTTLS\n"
	    "R 220 STARTTLS\n"
	    "T\n", &sum);
	TEST_CHECK(sum.tls && !sum.waiting);
	ASSERT_INT_EQ(sum.opaque_bytes, 5 + 5 + 23 + 10);
	ASSERT_INT_EQ(sum.anomalies, 0);
	dialogue("starttls-injection", inject, NSTEPS(inject),
	    "R 220 CONNECT\n"
	    "C STARTTLS\n"
	    "R 220 STARTTLS\n"
	    "T\n"
	    "A starttls-injection\n"
	    "C! RCPT TO:<x@evil.test>\n"
	    "C! MAIL FROM:<y@\n", &sum);
	TEST_CHECK(sum.tls);
	ASSERT_INT_EQ(sum.opaque_bytes, 7);
	dialogue("starttls-refused", refused, NSTEPS(refused),
	    "R 220 CONNECT\n"
	    "C STARTTLS\n"
	    "R 454 STARTTLS\n"
	    "C RCPT TO:<x@evil.test>\n"
	    "R 250 RCPT\n", &sum);
	TEST_CHECK(!sum.tls);
}

static void
test_line_forms(void)
{
	static const struct step st[] = {
		BANNER,
		C("MAIL FROM:<a@example.test>\nRCPT TO:<b@example.test>\n"),
		C(" RCPT TO:<c@example.test>\r\n\trcpt\t to:<d@example.test>\r\n"),
		C("\r\n\n   \r\nfoo bar\r\nRCPT TO:<e@example.test>\r\r\n"),
		C("STARTTLSX\r\nDATA\n"),
		S("250 a\n250 b\n250 c\n250 d\n500 e\n500 f\n500 g\n"
		  "500 h\n250 i\n500 j\n354 k\n"),
		C("body\n.\n"),
	};
	dialogue("line-forms", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C MAIL FROM:<a@example.test>\n"
	    "C RCPT TO:<b@example.test>\n"
	    "C  RCPT TO:<c@example.test>\n"
	    "C \\x09rcpt\\x09 to:<d@example.test>\n"
	    "C  (UNKNOWN)\n"
	    "C  (UNKNOWN)\n"
	    "C     (UNKNOWN)\n"
	    "C foo bar (UNKNOWN)\n"
	    "C?bare-cr RCPT TO:<e@example.test>\\x0d\n"
	    "C STARTTLSX (UNKNOWN)\n"
	    "C DATA\n"
	    "R 250 MAIL\n"
	    "R 250 RCPT\n"
	    "R 250 RCPT\n"
	    "R 250 RCPT\n"
	    "R 500 UNKNOWN\n"
	    "R 500 UNKNOWN\n"
	    "R 500 UNKNOWN\n"
	    "R 500 UNKNOWN\n"
	    "R 250 RCPT\n"
	    "R 500 UNKNOWN\n"
	    "R 354 DATA\n"
	    "S LF.LF\n", NULL);
}

static void
test_arg(void)
{
	struct smtp_session s;
	struct rg_mem m = { .cap = 1 << 20 };
	struct smtp_item it;
	size_t used;
	static const uint8_t l[] = "  rcpt \t TO:<a@b.test> NOTIFY=NEVER \r\n";

	smtp_init(&s);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT, l, sizeof(l) - 1, &used,
	    &it), SMTP_ITEM);
	ASSERT_INT_EQ(used, sizeof(l) - 1);
	ASSERT_INT_EQ(it.verb, SMTP_V_RCPT);
	ASSERT_INT_EQ(it.line_len, sizeof(l) - 3);
	TEST_CHECK(it.line == l);	/* zero-copy */
	ASSERT_INT_EQ(it.arg_len, 27);
	ASSERT_MEM_EQ(it.arg, "TO:<a@b.test> NOTIFY=NEVER ", 27);
	TEST_CHECK(!it.truncated && !it.smuggled);
	smtp_free(&s, &m);
}

static void
test_overlong(void)
{
	static char big[10240 + 64];
	static char exact[SMTP_LINE_MAX + 8];
	static char over[SMTP_LINE_MAX + 8];
	struct step st[] = {
		BANNER,
		{ SMTP_CLIENT, big, 0 },
		{ SMTP_CLIENT, exact, 0 },
		{ SMTP_CLIENT, over, 0 },
		S("500 too long\r\n500 x\r\n500 y\r\n250 ok\r\n"),
	};
	struct summary sum;
	size_t n;

	n = (size_t)snprintf(big, sizeof(big), "RCPT TO:<");
	memset(big + n, 'a', 10240);
	n += 10240;
	n += (size_t)snprintf(big + n, sizeof(big) - n,
	    ">\r\nRCPT TO:<b@example.test>\r\n");
	st[1].len = n;
	/* Exactly SMTP_LINE_MAX bytes before CRLF: not truncated; one more
	 * and it is (the CR sits at the buffer's edge when split). */
	memset(exact, 'x', SMTP_LINE_MAX);
	memcpy(exact + SMTP_LINE_MAX, "\r\n", 2);
	st[2].len = SMTP_LINE_MAX + 2;
	memset(over, 'y', SMTP_LINE_MAX + 1);
	memcpy(over + SMTP_LINE_MAX + 1, "\r\n", 2);
	st[3].len = SMTP_LINE_MAX + 3;
	dialogue("overlong", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C~?long-line RCPT TO:<aaaaaaaaaaaaaaa...[2002]\n"
	    "C RCPT TO:<b@example.test>\n"
	    "C~?long-line xxxxxxxxxxxxxxxxxxxxxxxx...[2002] (UNKNOWN)\n"
	    "C~?long-line yyyyyyyyyyyyyyyyyyyyyyyy...[2002] (UNKNOWN)\n"
	    "R 500 RCPT\n"
	    "R 500 RCPT\n"
	    "R 500 UNKNOWN\n"
	    "R 250 UNKNOWN\n", &sum);
	ASSERT_INT_EQ(sum.anomalies, 3);
}

/*
 * Lines that some real server reads as another command than the plain
 * grammar: other blanks, a bare CR, NUL, an 8-bit verb, over-long lines
 * and BDAT without CHUNKING carry the ambiguity's name, however the bytes
 * are split.  The verb is the widest reading (other blanks split).
 */
static void
test_ambiguity(void)
{
	static char long_rcpt[3000 + 64];
	struct step st[] = {
		BANNER,
		C("EHLO c\r\n"),
		S("250-mx\r\n250 PIPELINING\r\n"),
		C("RCPT\vTO:<a@evil.test>\r\n"),
		C("RCPT\fTO:<b@evil.test>\r\n"),
		C("RCPT\rTO:<c@evil.test>\r\n"),
		C("\vRCPT TO:<d@evil.test>\r\n"),
		C("RCPT TO:<e@example.test>\0junk\r\n"),
		C("\xd2" "CPT TO:<f@evil.test>\r\n"),
		C("RCPT TO:<g@ex\xe5mple.test>\r\n"),
		C("BDAT 5\r\nRCPT TO:<h@evil.test>\r\n"),
		{ SMTP_CLIENT, long_rcpt, 0 },
		C("RCPT TO:<ok@example.test>\r\n"),
		C("DATA\v\r\n"),
	};
	static const char expect_any[] =
	    "R 220 CONNECT\n"
	    "C EHLO c\n"
	    "R 250 EHLO\n"
	    "C?other-blank RCPT\\x0bTO:<a@evil.test> (RCPT)\n"
	    "C?other-blank RCPT\\x0cTO:<b@evil.test> (RCPT)\n"
	    "C?bare-cr RCPT\\x0dTO:<c@evil.test> (RCPT)\n"
	    "C?other-blank \\x0bRCPT TO:<d@evil.test> (RCPT)\n"
	    "C?nul RCPT TO:<e@example.test>\\x00junk\n"
	    "C?8bit-verb \\xd2CPT TO:<f@evil.test> (UNKNOWN)\n"
	    "C RCPT TO:<g@ex\\xe5mple.test>\n"
	    "C?bdat-not-offered BDAT 5\n"
	    "C RCPT TO:<h@evil.test>\n"
	    "C~?long-line RCPT TO:<aaaaaaaaaaaaaaa...[2002]\n"
	    "C RCPT TO:<ok@example.test>\n"
	    "C?other-blank DATA\\x0b (DATA)\n";
	struct summary sum;
	size_t n;

	n = (size_t)snprintf(long_rcpt, sizeof(long_rcpt), "RCPT TO:<");
	memset(long_rcpt + n, 'a', 3000);
	n += 3000;
	n += (size_t)snprintf(long_rcpt + n, sizeof(long_rcpt) - n, ">\r\n");
	st[11].len = n;

	dialogue("ambiguity-any", st, NSTEPS(st), expect_any, &sum);
	ASSERT_INT_EQ(sum.body_bytes, 0);

	/* Sendmail: the same; Postfix and Exim do not strip the top bit;
	 * Exim reads 3,000 bytes whole; OpenSMTPD refuses long lines. */
	test_software = SMTP_SOFTWARE_EXIM;
	{
		struct out o = { 0 };

		run(st, NSTEPS(st), MODE_WHOLE, 0, 0, 0, &o, NULL);
		TEST_CHECK(strstr(o.p, "C \\xd2CPT TO:<f@evil.test> "
		    "(UNKNOWN)\n") != NULL);
		TEST_CHECK(strstr(o.p, "C RCPT TO:<aaaaaaaaaaaaaaa...[3010]\n")
		    != NULL);
		TEST_CHECK(strstr(o.p, "C?other-blank RCPT\\x0bTO:") != NULL);
		free(o.p);
	}
	test_software = SMTP_SOFTWARE_OPENSMTPD;
	{
		struct out o = { 0 };

		run(st, NSTEPS(st), MODE_WHOLE, 0, 0, 0, &o, NULL);
		TEST_CHECK(strstr(o.p, "C RCPT TO:<aaaaaaaaaaaaaaa...[3010]\n")
		    != NULL);
		TEST_CHECK(strstr(o.p, "C?bdat-not-offered BDAT 5\n") != NULL);
		free(o.p);
	}
	test_software = SMTP_SOFTWARE_ANY;
}

/*
 * A line is reported when it grows past the limit, before its LF (Exim
 * runs 16 KiB of a line without one); its rest is skipped up to the LF.
 */
static void
test_long_line_early(void)
{
	static char pad[2500];
	struct step st[] = {
		BANNER,
		C("NOOP "),
		{ SMTP_CLIENT, pad, sizeof(pad) },
		C("RCPT TO:<z@evil.test>\r\nRCPT TO:<ok@example.test>\r\n"),
		S("500 too long\r\n250 ok\r\n"),
		C("AUTH PLAIN "),
		{ SMTP_CLIENT, pad, sizeof(pad) },
		C("\r\n"),
	};
	struct out o = { 0 };

	memset(pad, 'x', sizeof(pad));
	dialogue("long-line-early", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C~?long-line NOOP xxxxxxxxxxxxxxxxxxx...[2002]\n"
	    "C RCPT TO:<ok@example.test>\n"
	    "R 500 NOOP\n"
	    "R 250 RCPT\n"
	    "C~?long-line AUTH PLAIN xxxxxxxxxxxxx...[2002]\n", NULL);
	/* Before the LF: the item is out as soon as the limit is passed. */
	run(st, 3, MODE_WHOLE, 0, 0, 0, &o, NULL);
	TEST_CHECK(strstr(o.p, "?long-line NOOP") != NULL);
	free(o.p);
	/* Postfix discards the excess of an AUTH line: no limit there. */
	test_software = SMTP_SOFTWARE_POSTFIX;
	o = (struct out){ 0 };
	run(st, NSTEPS(st), MODE_WHOLE, 0, 0, 0, &o, NULL);
	TEST_CHECK(strstr(o.p, "C AUTH PLAIN xxxxxxxxxxxxx...[2511]") != NULL);
	free(o.p);
	test_software = SMTP_SOFTWARE_ANY;
}

/* CHUNKING decides how BDAT is read: offered by the last greeting only. */
static void
test_bdat_offer(void)
{
	static const struct step st[] = {
		BANNER,
		C("BDAT 5\r\nRCPT TO:<a@evil.test>\r\n"),
		S("503 need EHLO\r\n550 no\r\n"),
		C("EHLO c\r\n"),
		S("250-mx\r\n250-chunking\r\n250 8BITMIME\r\n"),
		C("BDAT 4\r\nRCPT"),
		S("250 ok\r\n"),
		C("HELO c\r\n"),
		S("250 mx\r\n"),
		C("BDAT 5\r\nRCPT TO:<b@evil.test>\r\n"),
		S("500 unknown\r\n550 no\r\n"),
		C("EHLO c\r\n"),
		S("250-mx\r\n250-X-CHUNKING\r\n250 CHUNKINGS\r\n"),
		C("BDAT 5\r\nRCPT TO:<c@evil.test>\r\n"),
	};

	dialogue("bdat-offer", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C?bdat-not-offered BDAT 5\n"
	    "C RCPT TO:<a@evil.test>\n"
	    "R 503 BDAT\n"
	    "R 550 RCPT\n"
	    "C EHLO c\n"
	    "R 250 EHLO\n"
	    "C BDAT 4\n"
	    "R 250 BDAT\n"
	    "C HELO c\n"
	    "R 250 HELO\n"
	    "C?bdat-not-offered BDAT 5\n"
	    "C RCPT TO:<b@evil.test>\n"
	    "R 500 BDAT\n"
	    "R 550 RCPT\n"
	    "C EHLO c\n"
	    "R 250 EHLO\n"
	    "C?bdat-not-offered BDAT 5\n"
	    "C RCPT TO:<c@evil.test>\n", NULL);
}

/* Names and lookups of the server software profiles. */
static void
test_software_names(void)
{
	enum smtp_software sw = SMTP_SOFTWARE_ANY;

	TEST_CHECK(smtp_software_lookup("exim", 4, &sw));
	ASSERT_INT_EQ(sw, SMTP_SOFTWARE_EXIM);
	TEST_CHECK(smtp_software_lookup("opensmtpd", 9, &sw));
	ASSERT_INT_EQ(sw, SMTP_SOFTWARE_OPENSMTPD);
	TEST_CHECK(!smtp_software_lookup("Exim", 4, &sw));
	TEST_CHECK(!smtp_software_lookup("exi", 3, &sw));
	TEST_CHECK(!smtp_software_lookup("exchange", 8, &sw));
	ASSERT_STR_EQ(smtp_software_name(SMTP_SOFTWARE_ANY), "any");
	TEST_CHECK(smtp_software_name(SMTP_SOFTWARE__COUNT) == NULL);
}

static void
test_endless_reply(void)
{
	static char r[2500 * 8 + 64];
	struct step st[] = {
		C("EHLO c.example.test\r\n"),
		{ SMTP_SERVER, r, 0 },
		C("QUIT\r\n"),
		S("221 bye\r\n"),
	};
	struct summary sum;
	size_t n = 0, i;

	n += (size_t)snprintf(r, sizeof(r), "220 hi\r\n");
	for (i = 0; i < 2500; i++)
		n += (size_t)snprintf(r + n, sizeof(r) - n, "250-x\r\n");
	n += (size_t)snprintf(r + n, sizeof(r) - n, "250 end\r\n");
	st[1].len = n;
	dialogue("endless-reply", st, NSTEPS(st),
	    "C EHLO c.example.test\n"
	    "R 220 CONNECT\n"
	    "A reply-too-long\n"
	    "R 250 EHLO\n"
	    "C QUIT\n"
	    "R 221 QUIT\n", &sum);
	ASSERT_INT_EQ(sum.anomalies, 1);
}

static void
test_bad_replies(void)
{
	static const struct step st[] = {
		BANNER,
		C("NOOP\r\n"),
		S("hello\r\n2500 x\r\n600 x\r\n25 x\r\n250x\r\n150 x\r\n"
		  "\r\n25a ok\r\n250\r\n"),
		C("NOOP\r\n"),
		S("421 4.3.2 Shutting down\r\n250 unpaired\r\n"),
		S("250-a\r\nnonsense\r\n250 b\r\n"),
	};
	struct summary sum;

	dialogue("bad-replies", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C NOOP\n"
	    "A bad-reply-line\n"
	    "A bad-reply-line\n"
	    "A bad-reply-line\n"
	    "A bad-reply-line\n"
	    "A bad-reply-line\n"
	    "A bad-reply-line\n"
	    "A bad-reply-line\n"
	    "A bad-reply-line\n"
	    "R 250 NOOP\n"
	    "C NOOP\n"
	    "R 421 NOOP\n"
	    "R 250 NONE\n"
	    "A bad-reply-line\n"
	    "R 250 NONE\n", &sum);
	ASSERT_INT_EQ(sum.anomalies, 9);
	ASSERT_INT_EQ(sum.replies, 5);
}

/* Each ambiguous end-of-data, with what a lenient server reads after it. */
static void
test_smuggling(void)
{
	static const struct {
		const char *seq, *name;
	} v[] = {
		{ "\n.\n", "LF.LF" },
		{ "\n.\r\n", "LF.CRLF" },
		{ "\r\n.\n", "CRLF.LF" },
		{ "\r.\r", "CR.CR" },
		{ "\r\n.\r", "CRLF.CR" },
		{ "\n.\r", "LF.CR" },
		{ "\r.\n", "CR.LF" },
		{ "\r.\r\n", "CR.CRLF" },
		{ "\r\r.\r\n", "CR.CRLF" },	/* the second CR is bare */
		{ "\r\r\n.\r", "CRLF.CR" },
		{ "\n\n.\n", "LF.LF" },
		{ "\r\n.\r\n", NULL },
	};
	char body[256], expect[1024], name[64];
	size_t i, n;
	struct summary sum;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct step st[] = {
			BANNER,
			C("MAIL FROM:<a@example.test>\r\n"),
			S("250 ok\r\n"),
			C("DATA\r\n"),
			S("354 go\r\n"),
			{ SMTP_CLIENT, body, 0 },
			S("250 queued\r\n"),
			S("250 ok\r\n"),
		};

		n = (size_t)snprintf(body, sizeof(body),
		    "Subject: x\r\n\r\n.. \r\n\r\r\n\n\r\nhello%s"
		    "RCPT TO:<x@evil.test>\r\n", v[i].seq);
		st[5].len = n;
		snprintf(expect, sizeof(expect),
		    "R 220 CONNECT\n"
		    "C MAIL FROM:<a@example.test>\n"
		    "R 250 MAIL\n"
		    "C DATA\n"
		    "R 354 DATA\n"
		    "%s%s%s"
		    "C%s RCPT TO:<x@evil.test>\n"
		    "R 250 DATA_END\n"
		    "R 250 RCPT\n",
		    v[i].name ? "S " : "C . (DATA_END)",
		    v[i].name ? v[i].name : "", "\n",
		    v[i].name ? "!" : "");
		snprintf(name, sizeof(name), "smuggling %s",
		    v[i].name ? v[i].name : "strict");
		dialogue(name, st, NSTEPS(st), expect, &sum);
		ASSERT_INT_EQ(sum.anomalies, v[i].name ? 1 : 0);
	}
}

/* Near-misses that are body, and the smuggled flag lasting until DATA. */
static void
test_smuggling_more(void)
{
	static const struct step notend[] = {
		BANNER,
		C("DATA\r\n"),
		S("354 go\r\n"),
		C("a\r\n..\r\n.x\r\n .\r\n.\t\r\nx.\r\n\r\r\n\r\n..\n"
		  "RCPT TO:<x@evil.test>\r\n.\r\n"),
		S("250 ok\r\n"),
	};
	static const struct step until[] = {
		BANNER,
		C("DATA\r\n"),
		S("354 go\r\n"),
		C("hi\n.\nMAIL FROM:<a@evil.test>\r\nRCPT TO:<b@evil.test>\r\n"
		  "DATA\r\n"),
		S("250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
		C("x\r\n.\r\nRCPT TO:<c@example.test>\r\n"),
		S("250 queued\r\n250 ok\r\n"),
		/* A body that starts with the end (first line follows the
		 * DATA line's CRLF). */
		C("DATA\r\n"),
		S("354 go\r\n"),
		C(".\n"),
		S("250 queued\r\n"),
	};
	dialogue("not-the-end", notend, NSTEPS(notend),
	    "R 220 CONNECT\n"
	    "C DATA\n"
	    "R 354 DATA\n"
	    "C . (DATA_END)\n"
	    "R 250 DATA_END\n", NULL);
	dialogue("smuggled-until-data", until, NSTEPS(until),
	    "R 220 CONNECT\n"
	    "C DATA\n"
	    "R 354 DATA\n"
	    "S LF.LF\n"
	    "C! MAIL FROM:<a@evil.test>\n"
	    "C! RCPT TO:<b@evil.test>\n"
	    "C! DATA\n"
	    "R 250 DATA_END\n"
	    "R 250 MAIL\n"
	    "R 250 RCPT\n"
	    "R 354 DATA\n"
	    "C . (DATA_END)\n"
	    "C RCPT TO:<c@example.test>\n"
	    "R 250 DATA_END\n"
	    "R 250 RCPT\n"
	    "C DATA\n"
	    "R 354 DATA\n"
	    "S CRLF.LF\n"
	    "R 250 DATA_END\n", NULL);
}

/* A strict server keeps the smuggled lines as body: the FIFO then holds
 * commands never answered, and a 354 realigns it. */
static void
test_realign(void)
{
	static const struct step st[] = {
		BANNER,
		C("DATA\r\n"),
		S("354 go\r\n"),
		C("hi\n.\nNOOP\r\n.\r\n"),
		S("250 queued\r\n"),
		C("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n"
		  "DATA\r\n"),
		S("250 ok\r\n250 ok\r\n354 go\r\n"),
		C("RCPT TO:<x@evil.test>\r\n.\r\n"),
		S("250 queued\r\n"),
	};
	dialogue("realign", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C DATA\n"
	    "R 354 DATA\n"
	    "S LF.LF\n"
	    "C! NOOP\n"
	    "C! . (UNKNOWN)\n"
	    "R 250 DATA_END\n"
	    "C! MAIL FROM:<a@example.test>\n"
	    "C! RCPT TO:<b@example.test>\n"
	    "C! DATA\n"
	    "R 250 NOOP\n"
	    "R 250 UNKNOWN\n"
	    "R 354 DATA\n"
	    "A reply-mismatch\n"
	    "C . (DATA_END)\n"
	    "R 250 DATA_END\n", NULL);
}

static void
test_reply_in_body(void)
{
	static const struct step st[] = {
		BANNER,
		C("DATA\r\n"),
		S("354 go\r\n"),
		C("lost end\r\nmore"),
		S("250 2.0.0 queued\r\n"),
		C(" text\r\nRCPT TO:<b@example.test>\r\n"),
		S("250 ok\r\n"),
	};
	struct summary sum;

	dialogue("reply-in-body", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C DATA\n"
	    "R 354 DATA\n"
	    "R 250 NONE\n"
	    "A resync-skipped\n"
	    "C RCPT TO:<b@example.test>\n"
	    "R 250 RCPT\n", &sum);
	TEST_CHECK(!sum.in_body);
}

static void
test_gaps(void)
{
	static const struct step st[] = {
		BANNER,
		C("MAIL FROM:<a@exa"),
		GAP(SMTP_CLIENT),
		C("RCPT TO:<x@evil.test>\r\n"),
		C("RCPT TO:<y@ex"),
		GAP(SMTP_CLIENT),
		C("ample.test> RCPT TO:<z@evil.test>\r\nrcpt to:<w@example.test>\r\n"),
		GAP(SMTP_CLIENT),
		C("  data\r\n"),
		S("250 ok\r\n250 ok\r\n250-ab"),
		GAP(SMTP_SERVER),
		S("cd\r\nrubbish\r\n354 go\r\n"),
		C("body\r\nRCPT TO:<in@body.test>\r\n"),
		GAP(SMTP_CLIENT),
		C(".\r\nRCPT TO:<still@body.test>\r\n.\r\n"),
		S("250 queued\r\n"),
	};
	dialogue("gaps", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C RCPT TO:<x@evil.test>\n"
	    "A resync-skipped\n"
	    "C rcpt to:<w@example.test>\n"
	    "C   data\n"
	    "R 250 RCPT\n"
	    "R 250 RCPT\n"
	    "R 354 DATA\n"
	    "C . (DATA_END)\n"
	    "R 250 DATA_END\n", NULL);
}

static void
test_midstream(void)
{
	struct smtp_session s;
	struct rg_mem m = { .cap = 1 << 20 };
	struct smtp_item it;
	size_t used;
	static const uint8_t c[] = "le.test>\r\nRCPT TO:<a@b.test>\r\n";
	static const uint8_t r[] = "ok\r\n250 ok\r\n";

	smtp_init_midstream(&s);
	/* The partial first line is reported, not read; then the RCPT. */
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT, c, sizeof(c) - 1, &used,
	    &it), SMTP_ITEM);
	ASSERT_INT_EQ(it.kind, SMTP_ITEM_ANOMALY);
	ASSERT_STR_EQ(it.what, "resync-skipped");
	ASSERT_INT_EQ(used, 10);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT, c + used,
	    sizeof(c) - 1 - 10, &used, &it), SMTP_ITEM);
	ASSERT_INT_EQ(it.verb, SMTP_V_RCPT);
	ASSERT_INT_EQ(used, sizeof(c) - 1 - 10);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_SERVER, r, sizeof(r) - 1, &used,
	    &it), SMTP_ITEM);
	ASSERT_INT_EQ(it.kind, SMTP_ITEM_REPLY);
	ASSERT_INT_EQ(it.verb, SMTP_V_RCPT);
	ASSERT_INT_EQ(s.anomalies, 1);
	smtp_free(&s, &m);
	ASSERT_INT_EQ(m.used, 0);
}

static void
test_fifo_overflow(void)
{
	static char c[40 * 6 + 1], r[40 * 8 + 1], expect[4096];
	struct step st[] = {
		BANNER,
		{ SMTP_CLIENT, c, 0 },
		{ SMTP_SERVER, r, 0 },
		C("DATA\r\n"),
		S("354 go\r\n"),
	};
	size_t i, cn = 0, rn = 0, en = 0;

	en += (size_t)snprintf(expect, sizeof(expect), "R 220 CONNECT\n");
	for (i = 0; i < 40; i++) {
		cn += (size_t)snprintf(c + cn, sizeof(c) - cn, "%s\r\n",
		    i % 2 ? "RSET" : "NOOP");
		en += (size_t)snprintf(expect + en, sizeof(expect) - en,
		    "C %s\n", i % 2 ? "RSET" : "NOOP");
		if (i >= 16)
			en += (size_t)snprintf(expect + en, sizeof(expect) - en,
			    "A fifo-overflow\n");
	}
	for (i = 0; i < 40; i++) {
		rn += (size_t)snprintf(r + rn, sizeof(r) - rn, "250 ok\r\n");
		/* The oldest runs were merged: their names are lost, the
		 * count and the newest 15 are exact. */
		en += (size_t)snprintf(expect + en, sizeof(expect) - en,
		    "R 250 %s\n", i < 25 ? "UNKNOWN" :
		    (i % 2 ? "RSET" : "NOOP"));
	}
	en += (size_t)snprintf(expect + en, sizeof(expect) - en,
	    "C DATA\nR 354 DATA\n");
	st[1].len = cn;
	st[2].len = rn;
	dialogue("fifo-overflow", st, NSTEPS(st), expect, NULL);
}

static void
test_pending_overflow(void)
{
	static char c[SMTP_PENDING_MAX + 5000];
	struct step st[] = {
		BANNER,
		{ SMTP_CLIENT, c, 0 },
		S("354 go\r\n"),
		C("more body\r\n.\r\nRCPT TO:<x@evil.test>\r\n"),
		S("250 queued\r\n"),
	};
	size_t n;
	struct summary sum;

	n = (size_t)snprintf(c, sizeof(c), "DATA\r\n");
	memset(c + n, 'b', sizeof(c) - n);
	st[1].len = sizeof(c);
	dialogue("pending-overflow", st, NSTEPS(st),
	    "R 220 CONNECT\n"
	    "C DATA\n"
	    "A pending-overflow\n"
	    "R 354 DATA\n"
	    "C . (DATA_END)\n"
	    "C RCPT TO:<x@evil.test>\n"
	    "R 250 DATA_END\n", &sum);
	ASSERT_INT_EQ(sum.body_bytes, SMTP_PENDING_MAX + 14);
}

static void
test_budget_refused(void)
{
	struct smtp_session s;
	struct rg_mem m = { .cap = 16 };	/* nothing fits */
	struct smtp_item it;
	size_t used;

	smtp_init(&s);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT,
	    (const uint8_t *)"RCPT TO:<a@", 11, &used, &it), SMTP_AGAIN);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT,
	    (const uint8_t *)"b.test>\r\n", 9, &used, &it), SMTP_ITEM);
	TEST_CHECK(it.truncated);
	ASSERT_INT_EQ(it.line_len, 0);
	TEST_CHECK(m.refused > 0);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT,
	    (const uint8_t *)"DATA\r\nxyz", 9, &used, &it), SMTP_ITEM);
	ASSERT_INT_EQ(it.verb, SMTP_V_DATA);
	ASSERT_INT_EQ(smtp_feed(&s, &m, SMTP_CLIENT,
	    (const uint8_t *)"xyz", 3, &used, &it), SMTP_ITEM);
	ASSERT_STR_EQ(it.what, "pending-overflow");
	smtp_free(&s, &m);
	ASSERT_INT_EQ(m.used, 0);
}

static void
test_garbage(void)
{
	static uint8_t g[6][700];
	struct step st[6];
	size_t i, j;

	rng_state = 12345;
	for (i = 0; i < 6; i++) {
		for (j = 0; j < sizeof(g[i]); j++) {
			g[i][j] = (uint8_t)rng();
			/* Sprinkle line ends, dots and verbs' letters. */
			if (j % 7 == 0)
				g[i][j] = "\r\n.\r\n 2D"[rng() % 9];
		}
		if (i == 2)
			memcpy(g[i], "DATA\r\n", 6);
		if (i == 3)
			memcpy(g[i], "354 x\r\n", 7);
		st[i].dir = i % 2 == 0 ? SMTP_CLIENT : SMTP_SERVER;
		st[i].data = (const char *)g[i];
		st[i].len = sizeof(g[i]);
	}
	dialogue("garbage", st, 6, NULL, NULL);
}

int
main(void)
{
	TEST_RUN(test_verbs_and_names);
	TEST_RUN(test_bdat_parse);
	TEST_RUN(test_banner_ehlo);
	TEST_RUN(test_pipelining_data);
	TEST_RUN(test_data_before_354);
	TEST_RUN(test_waiting_and_pending);
	TEST_RUN(test_data_refused);
	TEST_RUN(test_bdat);
	TEST_RUN(test_bdat_invalid);
	TEST_RUN(test_bdat_replies);
	TEST_RUN(test_auth);
	TEST_RUN(test_auth_wiped);
	TEST_RUN(test_starttls);
	TEST_RUN(test_line_forms);
	TEST_RUN(test_arg);
	TEST_RUN(test_overlong);
	TEST_RUN(test_ambiguity);
	TEST_RUN(test_bdat_offer);
	TEST_RUN(test_long_line_early);
	TEST_RUN(test_software_names);
	TEST_RUN(test_endless_reply);
	TEST_RUN(test_bad_replies);
	TEST_RUN(test_smuggling);
	TEST_RUN(test_smuggling_more);
	TEST_RUN(test_realign);
	TEST_RUN(test_reply_in_body);
	TEST_RUN(test_gaps);
	TEST_RUN(test_midstream);
	TEST_RUN(test_fifo_overflow);
	TEST_RUN(test_pending_overflow);
	TEST_RUN(test_budget_refused);
	TEST_RUN(test_garbage);
	return TEST_END("smtp");
}
