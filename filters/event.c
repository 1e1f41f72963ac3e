/*
 * event.c — events as JSON lines.  jansson does the escaping; strings from
 * the network are first made valid UTF-8 (each invalid byte becomes U+FFFD)
 * because jansson refuses invalid UTF-8 rather than escaping it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

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

/* A jansson string from a C string whose bytes may not be UTF-8. */
static json_t *
event_jstr(const char *s)
{
	char tmp[EVENT_TEXT_MAX * 3 + 1];
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0, k;

	for (i = 0; i < n; i++)
		if (p[i] >= 0x80)
			break;
	if (i == n)
		return json_stringn(s, n);
	i = 0;
	while (i < n && o + 4 < sizeof(tmp)) {
		k = event_utf8_len(p + i, n - i);
		if (k == 0) {
			memcpy(tmp + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(tmp + o, p + i, k);
			o += k;
			i += k;
		}
	}
	return json_stringn(tmp, o);
}

static void
event_set_str(json_t *o, const char *key, const char *val)
{
	json_t *v = event_jstr(val);

	if (v != NULL)
		json_object_set_new(o, key, v);
}

static void
event_set_peer(json_t *o, const char *key, const char *pkey,
    const struct rg_addr *a, uint16_t port)
{
	char buf[RG_ADDRSTRLEN];

	if (a->family == 0)
		return;
	event_set_str(o, key, rg_addr_str(a, buf, sizeof(buf)));
	if (pkey != NULL && port != 0)
		json_object_set_new(o, pkey, json_integer(port));
}

/* Both ends of the connection, with their ports. */
static void
event_set_ends(json_t *o, const struct event *ev)
{
	event_set_peer(o, "client", "client_port", &ev->client,
	    ev->client_port);
	event_set_peer(o, "server", "server_port", &ev->server,
	    ev->server_port);
}

size_t
event_json(const struct event *ev, char *buf, size_t len)
{
	char tbuf[40];
	json_t *o;
	size_t n;

	if ((o = json_object()) == NULL)
		return 0;
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
		json_object_set_new(o, "attempts", json_integer(ev->attempts));
		json_object_set_new(o, "offences", json_integer(ev->offences));
		/* Not applied: no duration, and "exempt" says why. */
		if (ev->exempt != NULL)
			event_set_str(o, "exempt", ev->exempt);
		else
			json_object_set_new(o, "duration", json_integer(
			    (json_int_t)(ev->duration / RG_USEC_PER_SEC)));
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
		json_object_set_new(o, "offences", json_integer(ev->offences));
		event_set_str(o, "expires", event_time_str(ev->expires, tbuf,
		    sizeof(tbuf)));
		break;
	}
	if (ev->truncated)
		json_object_set_new(o, "truncated", json_true());
	/* Anomalies only report; the few that end a session say so. */
	if (ev->kind != EVENT_ANOMALY || ev->action != EVENT_ACTION_NONE)
		event_set_str(o, "action", event_action_str(ev->action));
	n = json_dumpb(o, buf, len, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (n == 0 || n >= len)
		return 0;
	buf[n++] = '\n';
	return n;
}
