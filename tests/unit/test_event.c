/*
 * test_event.c — filters/event.c writes events as JSON itself (not
 * through jansson, for speed).  jansson is the oracle here: on random
 * events whose texts hold every kind of hostile byte (quotes, backslashes,
 * control characters, DEL, valid and broken UTF-8), the output must parse
 * with jansson, re-dump byte for byte the same with
 * JSON_COMPACT | JSON_PRESERVE_ORDER (what event.c used to write), and
 * carry each text as sent with only invalid UTF-8 bytes replaced by
 * U+FFFD.  A buffer one byte short gives 0, never a cut line.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "test.h"
#include "event.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

/* Random text of up to max - 1 bytes, never NUL. */
static void
rnd_text(char *dst, size_t max)
{
	static const char *pieces[] = { "\"", "\\", "\x7f", "\x01", "\x1f",
	    "\b", "\f", "\n", "\r", "\t", "é", "€", "😀", "\xc3", "\xe2\x82",
	    "\xf0\x9f\x98", "\xed\xa0\x80", "\xc0\xaf", "\xff", "\x80", "/",
	    "<a@b.test>", "\xf4\x90\x80\x80", "\xe0\x80\xaf" };
	size_t n = 0, want = rnd() % 4 == 0 ? rnd() % (max - 1) :
	    rnd() % 40, k;
	const char *p;
	char c;

	while (n < want) {
		if (rnd() % 3 == 0) {
			p = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
			k = strlen(p);
			if (n + k > want)
				break;
			memcpy(dst + n, p, k);
			n += k;
		} else {
			do
				c = (char)(rnd() & 0xff);
			while (c == '\0');
			dst[n++] = c;
		}
	}
	dst[n] = '\0';
}

/* What a text must read as once parsed: invalid UTF-8 bytes as U+FFFD. */
static void
expect_text(const char *s, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0, k;

	while (i < n) {
		k = event_utf8_len(p + i, n - i);
		if (k == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		}
	}
	out[o] = '\0';
}

static void
check_field(json_t *o, const char *key, const char *sent)
{
	static char want[EVENT_TEXT_MAX * 3 + 1];
	json_t *v = json_object_get(o, key);

	expect_text(sent, want);
	TEST_CHECK(v != NULL && json_is_string(v));
	if (v != NULL && json_is_string(v)) {
		TEST_CHECK(json_string_length(v) == strlen(want));
		TEST_CHECK(strcmp(json_string_value(v), want) == 0);
	}
}

static void
random_addr(struct rg_addr *a, uint16_t *port)
{
	memset(a, 0, sizeof(*a));
	if (rnd() % 2) {
		a->family = 4;
		a->bytes[12] = 192, a->bytes[13] = 0, a->bytes[14] = 2;
		a->bytes[15] = (uint8_t)rnd();
	} else {
		a->family = 6;
		a->bytes[0] = 0x20, a->bytes[1] = 0x01, a->bytes[2] = 0x0d, a->bytes[3] = 0xb8;
		a->bytes[15] = (uint8_t)rnd();
	}
	*port = (uint16_t)rnd();
}

/* An event of a random kind with every field random, texts hostile. */
static void
random_event(struct event *ev)
{
	static const enum event_kind kinds[] = { EVENT_RELAY_ATTEMPT,
	    EVENT_BLOCK, EVENT_SMUGGLING, EVENT_ANOMALY, EVENT_AMBIGUITY,
	    EVENT_DROPPED };

	memset(ev, 0, sizeof(*ev));
	ev->kind = kinds[rnd() % 6];
	ev->action = (enum event_action)(rnd() % 5);
	ev->time = (rg_time_t)rnd() * 1000003u;
	ev->expires = ev->time + rnd();
	ev->duration = (rg_time_t)rnd() * 1000;
	random_addr(&ev->client, &ev->client_port);
	random_addr(&ev->server, &ev->server_port);
	rnd_text(ev->helo, sizeof(ev->helo));
	rnd_text(ev->mail_from, sizeof(ev->mail_from));
	rnd_text(ev->rcpt, sizeof(ev->rcpt));
	rnd_text(ev->domain, sizeof(ev->domain));
	rnd_text(ev->line, sizeof(ev->line));
	ev->reason = rnd() % 2 ? "foreign-domain" : NULL;
	ev->trick = rnd() % 2 ? "percent-hack" : NULL;
	ev->what = rnd() % 2 ? "bare-lf" : NULL;
	ev->command = rnd() % 2 ? "RCPT" : NULL;
	ev->exempt = rnd() % 2 ? "never-block" : NULL;
	ev->attempts = rnd();
	ev->offences = rnd();
	ev->truncated = rnd() % 2;
	ev->order.pkt = rnd();
	ev->order.sub = rnd();
}

static void
test_against_jansson(void)
{
	static struct event ev;
	static char buf[EVENT_JSON_MAX], *re;
	json_error_t jerr;
	json_t *o;
	size_t n, i, bad = 0;

	for (i = 0; i < 3000; i++) {
		random_event(&ev);
		n = event_json(&ev, buf, sizeof(buf));
		TEST_CHECK(n > 2 && buf[n - 1] == '\n');
		if (n < 2)
			continue;
		o = json_loadb(buf, n - 1, 0, &jerr);
		TEST_CHECK(o != NULL);
		if (o == NULL) {
			if (bad++ == 0)
				fprintf(stderr, "not JSON (%s): %.*s\n",
				    jerr.text, (int)n, buf);
			continue;
		}
		re = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		TEST_CHECK(re != NULL && strlen(re) == n - 1 &&
		    memcmp(re, buf, n - 1) == 0);
		if ((re == NULL || strlen(re) != n - 1 ||
		    memcmp(re, buf, n - 1) != 0) && bad++ == 0)
			fprintf(stderr, "ours:    %.*sjansson: %s\n", (int)n,
			    buf, re != NULL ? re : "(null)");
		free(re);
		if (ev.kind == EVENT_RELAY_ATTEMPT) {
			check_field(o, "rcpt", ev.rcpt);
			if (ev.helo[0] != '\0')
				check_field(o, "helo", ev.helo);
			if (ev.mail_from[0] != '\0')
				check_field(o, "mail_from", ev.mail_from);
			if (ev.domain[0] != '\0')
				check_field(o, "domain", ev.domain);
		}
		if (ev.kind == EVENT_AMBIGUITY && ev.line[0] != '\0')
			check_field(o, "line", ev.line);
		if (ev.kind == EVENT_BLOCK) {
			TEST_CHECK(json_integer_value(json_object_get(o,
			    "attempts")) == (json_int_t)ev.attempts);
		}
		TEST_CHECK(json_is_true(json_object_get(o, "truncated")) ==
		    ev.truncated);
		json_decref(o);
	}
}

/* event_copy(), event_pack()/event_unpack() and event_clear(): the same
 * JSON as a whole-struct copy and a zeroed event, whatever junk the
 * destination held. */
static void
test_copy_clear(void)
{
	static struct event a, b, z;
	static char ja[EVENT_JSON_MAX], jb[EVENT_JSON_MAX];
	static uint8_t packed[EVENT_PACK_MAX];
	size_t na, nb, i, n;

	for (i = 0; i < 500; i++) {
		random_event(&a);
		memset(&b, 0xa5, sizeof(b));
		event_copy(&b, &a);
		na = event_json(&a, ja, sizeof(ja));
		nb = event_json(&b, jb, sizeof(jb));
		TEST_CHECK(na > 0 && na == nb && memcmp(ja, jb, na) == 0);
		TEST_CHECK(b.order.pkt == a.order.pkt && b.what == a.what);
		/* and through the packed form replay's threads use */
		memset(&b, 0x5a, sizeof(b));
		n = event_pack(&a, packed);
		TEST_CHECK(n <= EVENT_PACK_MAX);
		event_unpack(&b, packed);
		nb = event_json(&b, jb, sizeof(jb));
		TEST_CHECK(na == nb && memcmp(ja, jb, na) == 0);
		TEST_CHECK(b.order.pkt == a.order.pkt && b.what == a.what &&
		    b.reason == a.reason && b.truncated == a.truncated);
	}
	memset(&b, 0xa5, sizeof(b));
	event_clear(&b);
	memset(&z, 0, sizeof(z));
	na = event_json(&z, ja, sizeof(ja));
	nb = event_json(&b, jb, sizeof(jb));
	TEST_CHECK(na > 0 && na == nb && memcmp(ja, jb, na) == 0);
	TEST_CHECK(b.reason == NULL && b.exempt == NULL && b.attempts == 0 &&
	    !b.truncated && b.order.pkt == 0 && b.rcpt[0] == '\0');
}

/* Too small a buffer: 0, and nothing claimed written. */
static void
test_bounds(void)
{
	static struct event ev;
	static char buf[EVENT_JSON_MAX], small[EVENT_JSON_MAX];
	size_t n, k;

	memset(&ev, 0, sizeof(ev));
	ev.kind = EVENT_RELAY_ATTEMPT;
	ev.action = EVENT_ACTION_RESET;
	strcpy(ev.rcpt, "<x@far.test>\x01\"\\\xff");
	n = event_json(&ev, buf, sizeof(buf));
	TEST_CHECK(n > 0);
	TEST_CHECK(event_json(&ev, small, n) == n);
	TEST_CHECK(memcmp(small, buf, n) == 0);
	for (k = 0; k < n; k++)
		TEST_CHECK(event_json(&ev, small, k) == 0);
}

int
main(void)
{
	TEST_RUN(test_against_jansson);
	TEST_RUN(test_bounds);
	TEST_RUN(test_copy_clear);
	return TEST_END("test_event");
}
