/*
 * event.c — events as JSON lines.  jansson does the escaping; strings from
 * the network are first made valid UTF-8 (each invalid byte becomes U+FFFD)
 * because jansson refuses invalid UTF-8 rather than escaping it.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "event.h"

const char *
event_kind_str(enum event_kind k)
{
	switch (k) {
	case EVENT_RELAY_ATTEMPT:	return "relay-attempt";
	case EVENT_BLOCK:		return "block";
	case EVENT_SMUGGLING:		return "smuggling";
	case EVENT_ANOMALY:		return "anomaly";
	case EVENT_AMBIGUITY:		return "ambiguity";
	case EVENT_DROPPED:		return "dropped";
	}
	return "unknown";
}

const char *
event_action_str(enum event_action a)
{
	switch (a) {
	case EVENT_ACTION_NONE:		return "none";
	case EVENT_ACTION_REPORT:	return "report";
	case EVENT_ACTION_RESET:	return "reset";
	case EVENT_ACTION_BLOCK:	return "block";
	case EVENT_ACTION_DROP:		return "drop";
	}
	return "unknown";
}

const char *
event_time_str(rg_time_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t secs = (time_t)(t / RG_USEC_PER_SEC);
	unsigned usec = (unsigned)(t % RG_USEC_PER_SEC);

	if (gmtime_r(&secs, &tm) == NULL) {
		snprintf(buf, len, "invalid");
		return buf;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, usec);
	return buf;
}

/*
 * The text arrays of struct event, one table for event_clear(),
 * event_copy() and the packed form: only the bytes up to each NUL count.
 * The static assertion below pins the layout those functions rely on:
 * the fixed head up to helo, the texts and the four static strings up to
 * attempts, the fixed tail after.
 */
#define EV_OFF(m) offsetof(struct event, m)
#define EV_NEXT(a, b) (EV_OFF(b) >= EV_OFF(a) + sizeof(((struct event *)0)->a) \
	&& EV_OFF(b) < EV_OFF(a) + sizeof(((struct event *)0)->a) + 8)
_Static_assert(EV_NEXT(helo, mail_from) && EV_NEXT(mail_from, rcpt) &&
    EV_NEXT(rcpt, domain) && EV_NEXT(domain, reason) &&
    EV_NEXT(reason, trick) && EV_NEXT(trick, what) &&
    EV_NEXT(what, command) && EV_NEXT(command, line) &&
    EV_NEXT(line, attempts), "struct event changed: see event_texts");

static const struct {
	size_t off, size;
} event_texts[] = {
#define EV_TEXT(m) { EV_OFF(m), sizeof(((struct event *)0)->m) }
	EV_TEXT(helo), EV_TEXT(mail_from), EV_TEXT(rcpt), EV_TEXT(domain),
	EV_TEXT(line),
#undef EV_TEXT
};
#define EVENT_NTEXTS (sizeof(event_texts) / sizeof(event_texts[0]))
#define EV_TEXT_AT(ev, i) ((char *)(ev) + event_texts[i].off)
#define EV_CTEXT_AT(ev, i) ((const char *)(ev) + event_texts[i].off)
#define EV_HEAD EV_OFF(helo)
#define EV_TAIL (sizeof(struct event) - EV_OFF(attempts))
/* the static strings reason, trick, what, command, in a row */
#define EV_STRS (EV_OFF(command) + sizeof(const char *) - EV_OFF(reason))

void
event_clear(struct event *ev)
{
	size_t i;

	memset(ev, 0, EV_HEAD);
	for (i = 0; i < EVENT_NTEXTS; i++)
		EV_TEXT_AT(ev, i)[0] = '\0';
	memset(&ev->reason, 0, EV_STRS);
	memset(&ev->attempts, 0, EV_TAIL);
}

void
event_copy(struct event *dst, const struct event *src)
{
	size_t i;

	memcpy(dst, src, EV_HEAD);
	for (i = 0; i < EVENT_NTEXTS; i++)
		(void)event_copy_text(EV_TEXT_AT(dst, i), event_texts[i].size,
		    (const uint8_t *)EV_CTEXT_AT(src, i),
		    strnlen(EV_CTEXT_AT(src, i), event_texts[i].size - 1));
	memcpy(&dst->reason, &src->reason, EV_STRS);
	memcpy(&dst->attempts, &src->attempts, EV_TAIL);
}

size_t
event_pack(const struct event *ev, uint8_t *buf)
{
	uint16_t len;
	size_t i, n = 0;

	memcpy(buf, ev, EV_HEAD);
	n += EV_HEAD;
	memcpy(buf + n, &ev->reason, EV_STRS);
	n += EV_STRS;
	memcpy(buf + n, &ev->attempts, EV_TAIL);
	n += EV_TAIL;
	for (i = 0; i < EVENT_NTEXTS; i++) {
		len = (uint16_t)strnlen(EV_CTEXT_AT(ev, i),
		    event_texts[i].size - 1);
		memcpy(buf + n, &len, sizeof(len));
		memcpy(buf + n + sizeof(len), EV_CTEXT_AT(ev, i), len);
		n += sizeof(len) + len;
	}
	return n;
}

void
event_unpack(struct event *ev, const uint8_t *buf)
{
	uint16_t len;
	size_t i, n = 0;

	memcpy(ev, buf, EV_HEAD);
	n += EV_HEAD;
	memcpy(&ev->reason, buf + n, EV_STRS);
	n += EV_STRS;
	memcpy(&ev->attempts, buf + n, EV_TAIL);
	n += EV_TAIL;
	for (i = 0; i < EVENT_NTEXTS; i++) {
		memcpy(&len, buf + n, sizeof(len));
		(void)event_copy_text(EV_TEXT_AT(ev, i), event_texts[i].size,
		    buf + n + sizeof(len), len);
		n += sizeof(len) + len;
	}
}

bool
event_copy_text(char *dst, size_t dstlen, const uint8_t *src, size_t len)
{
	bool fit = true;

	if (dstlen == 0)
		return false;
	if (len > dstlen - 1) {
		len = dstlen - 1;
		fit = false;
	}
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
	return fit;
}

size_t
event_utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t need, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF. */
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return need;
}

/*
 * The JSON writer of events.  Events are written often (a replay of a
 * busy capture writes tens of thousands), so they are written straight
 * into the caller's buffer rather than built as a jansson tree and dumped
 * (which took a fifth of such a replay).  The output is what jansson's
 * json_dumpb(JSON_COMPACT | JSON_PRESERVE_ORDER) writes for the same
 * object, byte for byte: tests/unit/test_event.c checks it against
 * jansson on random events.
 */
struct jw {
	char *p, *end;		/* room left: [p, end) */
	bool ok;		/* false once something did not fit */
	bool first;		/* no member written yet */
};

static void
jw_put(struct jw *w, const char *s, size_t n)
{
	if (!w->ok || (size_t)(w->end - w->p) < n) {
		w->ok = false;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

/*
 * A JSON string from bytes that may not be UTF-8: a byte that does not
 * begin a valid UTF-8 character becomes U+FFFD; '"', '\\' and control
 * characters are escaped as jansson does (short forms where JSON has
 * them, else \u00XX in upper case); everything else is copied.
 */
static void
jw_str(struct jw *w, const char *str)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i, k, run;
	char esc[6];
	unsigned char c;

	jw_put(w, "\"", 1);
	for (i = 0; s[i] != '\0';) {
		/* The plain run first: ASCII that needs no escape. */
		for (run = i; s[run] >= 0x20 && s[run] < 0x80 &&
		    s[run] != '"' && s[run] != '\\'; run++)
			;
		jw_put(w, (const char *)s + i, run - i);
		if (s[i = run] == '\0')
			break;
		c = s[i];
		if (c >= 0x80) {
			k = event_utf8_len(s + i, n - i);
			if (k == 0) {
				jw_put(w, "\xef\xbf\xbd", 3);
				i++;
			} else {
				jw_put(w, (const char *)s + i, k);
				i += k;
			}
			continue;
		}
		esc[0] = '\\';
		switch (c) {
		case '"': case '\\': esc[1] = (char)c; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			jw_put(w, esc, 6);
			i++;
			continue;
		}
		jw_put(w, esc, 2);
		i++;
	}
	jw_put(w, "\"", 1);
}

/* ,"key": (the keys are ours: plain ASCII) */
static void
jw_key(struct jw *w, const char *key)
{
	if (!w->first)
		jw_put(w, ",", 1);
	w->first = false;
	jw_put(w, "\"", 1);
	jw_put(w, key, strlen(key));
	jw_put(w, "\":", 2);
}

static void
event_set_str(struct jw *w, const char *key, const char *val)
{
	jw_key(w, key);
	jw_str(w, val);
}

static void
event_set_int(struct jw *w, const char *key, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);

	jw_key(w, key);
	jw_put(w, num, (size_t)n);
}

static void
event_set_peer(struct jw *w, const char *key, const char *pkey,
    const struct rg_addr *a, uint16_t port)
{
	char buf[RG_ADDRSTRLEN];

	if (a->family == 0)
		return;
	event_set_str(w, key, rg_addr_str(a, buf, sizeof(buf)));
	if (pkey != NULL && port != 0)
		event_set_int(w, pkey, port);
}

/* Both ends of the connection, with their ports. */
static void
event_set_ends(struct jw *w, const struct event *ev)
{
	event_set_peer(w, "client", "client_port", &ev->client,
	    ev->client_port);
	event_set_peer(w, "server", "server_port", &ev->server,
	    ev->server_port);
}

size_t
event_json(const struct event *ev, char *buf, size_t len)
{
	char tbuf[40];
	struct jw jw = { buf, buf + len, true, true }, *o = &jw;

	jw_put(o, "{", 1);
	event_set_str(o, "event", event_kind_str(ev->kind));
	event_set_str(o, "time", event_time_str(ev->time, tbuf, sizeof(tbuf)));
	switch (ev->kind) {
	case EVENT_RELAY_ATTEMPT:
		event_set_ends(o, ev);
		if (ev->helo[0] != '\0')
			event_set_str(o, "helo", ev->helo);
		if (ev->mail_from[0] != '\0')
			event_set_str(o, "mail_from", ev->mail_from);
		event_set_str(o, "rcpt", ev->rcpt);
		if (ev->domain[0] != '\0')
			event_set_str(o, "domain", ev->domain);
		if (ev->reason != NULL)
			event_set_str(o, "reason", ev->reason);
		if (ev->trick != NULL)
			event_set_str(o, "trick", ev->trick);
		break;
	case EVENT_BLOCK:
		event_set_peer(o, "client", NULL, &ev->client, 0);
		event_set_int(o, "attempts", ev->attempts);
		event_set_int(o, "offences", ev->offences);
		/* Not applied: no duration, and "exempt" says why. */
		if (ev->exempt != NULL)
			event_set_str(o, "exempt", ev->exempt);
		else
			event_set_int(o, "duration",
			    (long long)(ev->duration / RG_USEC_PER_SEC));
		break;
	case EVENT_SMUGGLING:
	case EVENT_ANOMALY:
		event_set_ends(o, ev);
		if (ev->what != NULL)
			event_set_str(o, ev->kind == EVENT_SMUGGLING ?
			    "variant" : "what", ev->what);
		break;
	case EVENT_AMBIGUITY:
		event_set_ends(o, ev);
		if (ev->what != NULL)
			event_set_str(o, "what", ev->what);
		if (ev->command != NULL)
			event_set_str(o, "command", ev->command);
		if (ev->line[0] != '\0')
			event_set_str(o, "line", ev->line);
		break;
	case EVENT_DROPPED:
		event_set_ends(o, ev);
		if (ev->reason != NULL)
			event_set_str(o, "reason", ev->reason);
		event_set_int(o, "offences", ev->offences);
		event_set_str(o, "expires", event_time_str(ev->expires, tbuf,
		    sizeof(tbuf)));
		break;
	}
	if (ev->truncated) {
		jw_key(o, "truncated");
		jw_put(o, "true", 4);
	}
	/* Anomalies only report; the few that end a session say so. */
	if (ev->kind != EVENT_ANOMALY || ev->action != EVENT_ACTION_NONE)
		event_set_str(o, "action", event_action_str(ev->action));
	/* The closing brace and the newline. */
	jw_put(o, "}\n", 2);
	if (!jw.ok)
		return 0;
	return (size_t)(jw.p - buf);
}
