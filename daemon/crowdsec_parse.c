/*
 * crowdsec_parse.c — the pure half of crowdsec.c: Go durations both ways
 * and the Local API's /v1/decisions/stream reply.  No system calls; the
 * unit tests and tests/fuzz/fuzz_crowdsec.c include it.
 *
 * The reply is read whole by jansson (the caller caps its size at
 * CROWDSEC_BODY_MAX), after crowdsec_scan_stream has counted its keys,
 * values and nesting on the raw bytes: a reply beyond the limits in
 * crowdsec.h never becomes a tree (a 32 MiB {"x":[{},{},...]} made 2.5 GB
 * of jansson objects).  Every field is checked for type and length before
 * it is copied: a LAPI (or whatever answers at its address) cannot make
 * relayguard read past a buffer or keep more than CROWDSEC_MAX_DECISIONS.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crowdsec.h"

/* Nanoseconds per unit, as Go's time.ParseDuration knows them. */
static int64_t
crowdsec_unit(const char *u, size_t n)
{
	if (n == 1 && u[0] == 'h')
		return 3600LL * 1000000000LL;
	if (n == 1 && u[0] == 'm')
		return 60LL * 1000000000LL;
	if (n == 1 && u[0] == 's')
		return 1000000000LL;
	if (n == 2 && u[0] == 'm' && u[1] == 's')
		return 1000000LL;
	if ((n == 2 && u[0] == 'u' && u[1] == 's') ||
	    (n == 3 && memcmp(u, "\xc2\xb5s", 3) == 0) ||	/* µs, U+00B5 */
	    (n == 3 && memcmp(u, "\xce\xbcs", 3) == 0))		/* μs, U+03BC */
		return 1000LL;
	if (n == 2 && u[0] == 'n' && u[1] == 's')
		return 1LL;
	return 0;
}

bool
crowdsec_duration(const char *s, size_t len, int64_t *ms)
{
	const char *p = s, *end = s + len, *u;
	uint64_t total = 0, whole, frac, scale, unit, part;
	bool neg = false, any;

	if (len == 0)
		return false;
	if (*p == '-' || *p == '+') {
		neg = *p == '-';
		p++;
	}
	if (end - p == 1 && *p == '0') {
		*ms = 0;
		return true;
	}
	if (p == end)
		return false;
	while (p < end) {
		whole = frac = 0;
		scale = 1;
		any = false;
		while (p < end && *p >= '0' && *p <= '9') {
			if (whole > (UINT64_MAX - 9) / 10)
				return false;
			whole = whole * 10 + (uint64_t)(*p++ - '0');
			any = true;
		}
		if (p < end && *p == '.') {
			p++;
			while (p < end && *p >= '0' && *p <= '9') {
				/* Digits past nanoseconds change nothing. */
				if (scale < 1000000000000000000ULL) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					scale *= 10;
				}
				p++;
				any = true;
			}
		}
		if (!any)
			return false;
		u = p;
		while (p < end && !(*p >= '0' && *p <= '9') && *p != '.')
			p++;
		if ((unit = (uint64_t)crowdsec_unit(u, (size_t)(p - u))) == 0)
			return false;
		if (whole > (uint64_t)INT64_MAX / unit)
			return false;
		part = whole * unit;
		/* frac < scale <= 1e18 and unit <= 3.6e12: long double keeps
		 * the nanoseconds that matter. */
		part += (uint64_t)((long double)frac / (long double)scale *
		    (long double)unit);
		if (part > (uint64_t)INT64_MAX - total)
			return false;
		total += part;
	}
	*ms = (int64_t)(total / 1000000ULL) * (neg ? -1 : 1);
	return true;
}

void
crowdsec_go_duration(uint64_t secs, char *buf, size_t len)
{
	unsigned long long h = secs / 3600, m = secs / 60 % 60, s = secs % 60;

	if (h > 0)
		snprintf(buf, len, "%lluh%llum%llus", h, m, s);
	else if (m > 0)
		snprintf(buf, len, "%llum%llus", m, s);
	else
		snprintf(buf, len, "%llus", s);
}

/* Copy a string member of at most max-1 bytes (no NUL inside); false if
 * it is missing, not a string or too long. */
static bool
crowdsec_member(json_t *o, const char *key, char *dst, size_t max)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (!json_is_string(v))
		return false;
	n = json_string_length(v);
	if (n >= max || memchr(json_string_value(v), '\0', n) != NULL)
		return false;
	memcpy(dst, json_string_value(v), n);
	dst[n] = '\0';
	return true;
}

static bool
crowdsec_entry(json_t *o, struct crowdsec_decision *d)
{
	char scope[16], type[16], dur[64];

	memset(d, 0, sizeof(*d));
	if (!json_is_object(o) ||
	    !crowdsec_member(o, "value", d->value, sizeof(d->value)) ||
	    !crowdsec_member(o, "origin", d->origin, sizeof(d->origin)) ||
	    !crowdsec_member(o, "scope", scope, sizeof(scope)) ||
	    !crowdsec_member(o, "type", type, sizeof(type)) ||
	    !crowdsec_member(o, "duration", dur, sizeof(dur)) ||
	    !crowdsec_duration(dur, strlen(dur), &d->ms) ||
	    d->origin[0] == '\0' || d->value[0] == '\0')
		return false;
	/* Exactly as the LAPI's stream filter writes them: a lower-case
	 * "ip" never reaches a bouncer there, so it is nothing here. */
	d->scope = strcmp(scope, "Ip") == 0 ? CROWDSEC_SCOPE_IP :
	    strcmp(scope, "Range") == 0 ? CROWDSEC_SCOPE_RANGE :
	    CROWDSEC_SCOPE_OTHER;
	d->ban = strcmp(type, "ban") == 0;
	return true;
}

/*
 * Count keys and values of the raw reply by the depth they sit at (the
 * reply's object is depth 1, its lists' entries depth 2, a decision's
 * members depth 3) and refuse what the limits in crowdsec.h do not allow.
 * Not a validator (jansson is): strings are skipped to their closing
 * quote, scalars to the next structural byte.  max_decisions is a
 * parameter for the unit tests.
 */
static bool
crowdsec_scan(const char *buf, size_t len, size_t max_decisions, char *err,
    size_t errlen)
{
	size_t i = 0, depth = 0, top = 0, root = 0, entries = 0, entry = 0;
	char c;

	while (i < len) {
		c = buf[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		    c == ':' || c == ',') {
			i++;
			continue;
		}
		if (c == ']' || c == '}') {
			if (depth > 0)
				depth--;
			i++;
			continue;
		}
		/* A key or a value starts here. */
		if (depth == 0 && ++top > 1) {
			snprintf(err, errlen, "more than one JSON value (byte "
			    "%zu); refused unparsed", i);
			return false;
		}
		if (depth == 1 && ++root > CROWDSEC_ROOT_ITEMS) {
			snprintf(err, errlen, "more than %d keys and values in "
			    "the reply's object (byte %zu); refused unparsed",
			    CROWDSEC_ROOT_ITEMS, i);
			return false;
		}
		if (depth == 2) {
			if (++entries > max_decisions) {
				snprintf(err, errlen, "more than %zu decisions "
				    "in one reply (byte %zu; the limit is "
				    "CROWDSEC_MAX_DECISIONS); refused unparsed",
				    max_decisions, i);
				return false;
			}
			entry = 0;
		}
		if (depth >= 3 && ++entry > CROWDSEC_ENTRY_ITEMS) {
			snprintf(err, errlen, "a decision with more than %d keys "
			    "and values (byte %zu); refused unparsed",
			    CROWDSEC_ENTRY_ITEMS, i);
			return false;
		}
		if (c == '{' || c == '[') {
			if (depth == CROWDSEC_MAX_DEPTH) {
				snprintf(err, errlen, "nested deeper than %d "
				    "(byte %zu); refused unparsed",
				    CROWDSEC_MAX_DEPTH, i);
				return false;
			}
			depth++;
			i++;
		} else if (c == '"') {
			for (i++; i < len && buf[i] != '"'; i++)
				if (buf[i] == '\\')
					i++;
			i++;
		} else {
			/* At least one byte: a NUL is a scalar's here. */
			for (i++; i < len && memchr(" \t\n\r:,[]{}\"", buf[i],
			    11) == NULL; i++)
				;
		}
	}
	return true;
}

/* One list: null (or absent) is empty; an array of entries. */
static bool
crowdsec_list(json_t *a, struct crowdsec_decision **out, size_t *n,
    size_t *skipped, const char *name, char *err, size_t errlen)
{
	size_t i, len;

	*out = NULL;
	*n = 0;
	if (a == NULL || json_is_null(a))
		return true;
	if (!json_is_array(a)) {
		snprintf(err, errlen, "\"%s\" is neither a list nor null", name);
		return false;
	}
	len = json_array_size(a);
	if (len > CROWDSEC_MAX_DECISIONS) {	/* crowdsec_scan did */
		snprintf(err, errlen, "\"%s\" holds %zu decisions (at most %d)",
		    name, len, CROWDSEC_MAX_DECISIONS);
		return false;
	}
	if (len == 0)
		return true;
	if ((*out = calloc(len, sizeof(**out))) == NULL) {
		snprintf(err, errlen, "out of memory for %zu decisions", len);
		return false;
	}
	for (i = 0; i < len; i++) {
		if (crowdsec_entry(json_array_get(a, i), &(*out)[*n]))
			(*n)++;
		else
			(*skipped)++;
	}
	return true;
}

bool
crowdsec_parse_stream(const char *buf, size_t len, struct crowdsec_stream *st,
    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	bool ok;

	if (!crowdsec_scan(buf, len, CROWDSEC_MAX_DECISIONS, err, errlen))
		return false;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "not JSON: %s (line %d column %d)",
		    jerr.text, jerr.line, jerr.column);
		return false;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		json_decref(root);
		return false;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "new") != 0 && strcmp(key, "deleted") != 0) {
			snprintf(err, errlen, "unknown member \"%.40s\" (only "
			    "\"new\" and \"deleted\")", key);
			json_decref(root);
			return false;
		}
	}
	ok = crowdsec_list(json_object_get(root, "new"), &st->add, &st->nadd,
	    &st->skipped, "new", err, errlen) &&
	    crowdsec_list(json_object_get(root, "deleted"), &st->del,
	    &st->ndel, &st->skipped, "deleted", err, errlen);
	json_decref(root);
	if (!ok)
		crowdsec_stream_free(st);
	return ok;
}

void
crowdsec_stream_free(struct crowdsec_stream *st)
{
	if (st == NULL)
		return;
	free(st->add);
	free(st->del);
	st->add = st->del = NULL;
	st->nadd = st->ndel = 0;
}
