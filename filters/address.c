/*
 * address.c — RCPT path extraction, routing-trick unwrapping and the
 * local-domain test.
 *
 * The guiding rule is legacy-server pessimism: a path is local only when
 * every route it could take ends at a local domain, the server's own
 * address literal or a domain-less postmaster.  Whatever cannot be parsed
 * is MALFORMED, and MALFORMED is never local, so the parser may be strict
 * wherever strictness only turns "local" into "foreign".
 *
 * Parsing allocates nothing for ASCII paths: the path is copied into two
 * stack buffers as large as the longest command line the SMTP parser
 * keeps.  A domain holding UTF-8 costs one conversion by libidn2.
 */
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "address.h"

#define ADDR_WORK_MAX	4096	/* SMTP_LINE_MAX: longer paths are MALFORMED */
#define ADDR_MAX_ROUNDS	32	/* unwrapping rounds before giving up */
#define ADDR_LABEL_MAX	63

static bool
addr_blank(int c)
{
	return c == ' ' || c == '\t';
}

static bool
addr_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/*
 * Validate a domain name (no literal, no leading dot), lower-case it into
 * out (ADDR_DOMAIN_MAX + 1 bytes, NUL-terminated) and drop one trailing
 * dot.  Letters, digits, '-', '_' and non-ASCII bytes (UTF-8 labels) are
 * allowed; *high says whether a non-ASCII byte was seen (the domain then
 * needs addr_domain_idna()).  A label holding non-ASCII bytes may be
 * longer than 63 bytes here: its A-label is what must fit.  Returns NULL
 * on success, else a static reason.
 */
static const char *
addr_domain_norm(const char *d, size_t n, char *out, size_t *outlen,
    bool *high)
{
	size_t i, label = 0;
	bool lhigh = false;
	unsigned char c;

	*high = false;
	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0)
		return "empty domain";
	if (n > ADDR_DOMAIN_MAX)
		return "domain longer than 255 characters";
	for (i = 0; i < n; i++) {
		c = (unsigned char)d[i];
		if (c == '.') {
			if (label == 0)
				return "empty label in domain";
			label = 0;
			lhigh = false;
		} else if (addr_alnum(c) || c == '-' || c == '_' || c >= 0x80) {
			if (c >= 0x80)
				*high = lhigh = true;
			if (++label > ADDR_LABEL_MAX && !lhigh)
				return "domain label longer than 63 characters";
			c = (unsigned char)rg_lower(c);
		} else
			return "bad character in domain";
		out[i] = (char)c;
	}
	if (label == 0)
		return "empty label in domain";
	out[n] = '\0';
	*outlen = n;
	return NULL;
}

/*
 * Convert a domain from addr_domain_norm() that holds UTF-8 to lower-case
 * A-labels, in place (dom holds ADDR_DOMAIN_MAX + 1 bytes).  UTS #46
 * non-transitional processing with NFC, as Postfix's SMTPUTF8 support
 * does, so "EXÄMPLE.test", "exämple.test" and "xn--exmple-cua.test" are
 * one domain.  The result is checked again as an ASCII name: the mapping
 * can produce characters (a fullwidth solidus becomes '/') or lengths a
 * domain must not have.  Returns NULL on success, else a static reason;
 * dom is unchanged then.  libidn2 allocates the result: one malloc and
 * free per non-ASCII domain.
 */
static const char *
addr_domain_idna(char *dom, size_t *len)
{
	char tmp[ADDR_DOMAIN_MAX + 1];
	const char *why;
	uint8_t *a = NULL;
	size_t n;
	bool high;
	int r;

	r = idn2_lookup_u8((const uint8_t *)dom, &a,
	    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (r != IDN2_OK) {
		idn2_free(a);
		return idn2_strerror(r);
	}
	why = addr_domain_norm((const char *)a, strlen((const char *)a), tmp,
	    &n, &high);
	idn2_free(a);
	if (why == NULL && high)
		why = "IDNA result is not ASCII";
	if (why != NULL)
		return why;
	memcpy(dom, tmp, n + 1);
	*len = n;
	return NULL;
}

/*
 * Every "xn--" label of an ASCII domain must be a valid A-label (one that
 * decodes to a permitted U-label): in the configuration, one that does
 * not is a typo that would never match.  Returns NULL or a static reason.
 */
static const char *
addr_domain_alabels_ok(const char *dom, size_t len)
{
	char label[ADDR_LABEL_MAX + 1];
	uint8_t *a;
	size_t i = 0, j;
	int r;

	while (i < len) {
		for (j = i; j < len && dom[j] != '.'; j++)
			;
		if (j - i > 4 && j - i <= ADDR_LABEL_MAX &&
		    memcmp(dom + i, "xn--", 4) == 0) {
			memcpy(label, dom + i, j - i);
			label[j - i] = '\0';
			a = NULL;
			r = idn2_lookup_u8((const uint8_t *)label, &a,
			    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
			idn2_free(a);
			if (r != IDN2_OK)
				return idn2_strerror(r);
		}
		i = j + 1;
	}
	return NULL;
}

/*
 * An address literal "[192.0.2.1]" or "[IPv6:2001:db8::1]" (tag in any
 * case).  An untagged IPv6 literal, another tag, a NUL byte (inet_pton
 * would stop at it) or anything inet_pton refuses is bad.  The text goes
 * lower-cased into out->domain for reporting.
 */
static bool
addr_literal_norm(const char *d, size_t n, struct addr_path *out)
{
	const char *in;
	size_t il, i;

	if (n < 3 || n > ADDR_DOMAIN_MAX || d[0] != '[' || d[n - 1] != ']')
		return false;
	in = d + 1;
	il = n - 2;
	if (memchr(in, '\0', il) != NULL)
		return false;
	if (il > 5 && rg_strncaseeq(in, "ipv6:", 5)) {
		if (!rg_addr_parse(in + 5, il - 5, &out->literal) ||
		    out->literal.family != 6)
			return false;
	} else {
		if (!rg_addr_parse(in, il, &out->literal) ||
		    out->literal.family != 4)
			return false;
	}
	for (i = 0; i < n; i++)
		out->domain[i] = (char)rg_lower((unsigned char)d[i]);
	out->domain[n] = '\0';
	return true;
}

/*
 * Find the '>' closing a path that starts at arg[start]; quoted strings
 * (with backslash escapes) may hold a '>'.
 */
bool
addr_find_close(const char *arg, size_t len, size_t start, size_t *end)
{
	size_t j;
	bool inq = false;

	for (j = start; j < len; j++) {
		if (inq) {
			if (arg[j] == '\\')
				j++;
			else if (arg[j] == '"')
				inq = false;
		} else if (arg[j] == '"')
			inq = true;
		else if (arg[j] == '>') {
			*end = j;
			return true;
		}
	}
	return false;
}

/*
 * What follows the path must be nothing or blank-separated ESMTP
 * parameters, keyword[=value].  Anything else ("u@example.test
 * <u@evil.test>", a comment, a second path) is something a lenient
 * RFC 822 parser might read as the real destination, so the whole path
 * is then MALFORMED.
 */
static bool
addr_params_ok(const char *p, size_t n)
{
	size_t i = 0;
	unsigned char c;

	while (i < n) {
		if (!addr_blank(p[i]))
			return false;
		while (i < n && addr_blank(p[i]))
			i++;
		if (i == n)
			break;
		if (!addr_alnum((unsigned char)p[i]))
			return false;
		while (i < n && (addr_alnum((unsigned char)p[i]) || p[i] == '-'))
			i++;
		if (i < n && p[i] == '=') {
			/* RFC 5321 esmtp-value, plus '=' and UTF-8 as
			 * lenient clients write them in ORCPT. */
			for (i++; i < n; i++) {
				c = (unsigned char)p[i];
				if (c <= ' ' || c == 0x7f)
					break;
			}
		}
	}
	return true;
}

static void
addr_set_trick(struct addr_path *out, enum addr_trick t)
{
	if (out->trick == ADDR_TRICK_NONE)
		out->trick = t;
}

/*
 * Copy a local part into dst without its quoting: quote characters go,
 * a backslash inside quotes keeps the next byte.  *exposed says whether
 * a routing character ('@', '%', '!') came from inside quotes.  False on
 * an unterminated quote.
 */
static bool
addr_dequote(const char *s, size_t n, char *dst, size_t *dlen, bool *exposed)
{
	size_t i, o = 0;
	bool inq = false;
	char c;

	*exposed = false;
	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '"') {
			inq = !inq;
			continue;
		}
		if (inq && c == '\\') {
			if (++i == n)
				return false;
			c = s[i];
		}
		if (inq && (c == '@' || c == '%' || c == '!'))
			*exposed = true;
		dst[o++] = c;
	}
	if (inq)
		return false;
	*dlen = o;
	return true;
}

static void
addr_finish(struct addr_path *out, enum addr_kind k)
{
	out->kind = k;
	if (k != ADDR_DOMAIN && k != ADDR_LITERAL)
		out->domain[0] = '\0';
	if (k != ADDR_LITERAL)
		memset(&out->literal, 0, sizeof(out->literal));
}

/*
 * Follow a mailbox (the path without brackets) to where a legacy server
 * could deliver it.  Unwrapping goes on only while the current domain is
 * local or absent: once a foreign domain is reached, the mail leaves.
 */
static void
addr_follow(struct addr_path *out, const char *mbox, size_t mlen,
    const struct addr_domains *local, const struct rg_addr *server)
{
	char mb[ADDR_WORK_MAX], lp[ADDR_WORK_MAX];
	const char *m, *colon, *dom;
	char *p;
	size_t round, i, at, llen, dlen, blen, rlen, n;
	bool inq, has_at, islit = false, dlocal, exposed, high;

	if (mlen >= sizeof(mb)) {
		addr_finish(out, ADDR_MALFORMED);
		return;
	}
	memcpy(mb, mbox, mlen);
	m = mb;
	for (round = 0; round < ADDR_MAX_ROUNDS; round++) {
		/* Source route "@a,@b:mailbox": the mailbox is where it
		 * leads.  Lenient servers also take "@a:@b:mailbox". */
		while (mlen > 0 && m[0] == '@') {
			if ((colon = memchr(m, ':', mlen)) == NULL) {
				addr_finish(out, ADDR_MALFORMED);
				return;
			}
			addr_set_trick(out, ADDR_TRICK_SOURCE_ROUTE);
			mlen -= (size_t)(colon + 1 - m);
			m = colon + 1;
		}
		if (mlen == 0) {
			addr_finish(out, ADDR_MALFORMED);
			return;
		}

		/* The domain follows the last '@' outside quotes. */
		inq = has_at = false;
		at = 0;
		for (i = 0; i < mlen; i++) {
			if (inq) {
				if (m[i] == '\\')
					i++;
				else if (m[i] == '"')
					inq = false;
			} else if (m[i] == '"')
				inq = true;
			else if (m[i] == '@') {
				has_at = true;
				at = i;
			}
		}
		if (inq || (has_at && at == 0)) {
			addr_finish(out, ADDR_MALFORMED);
			return;
		}

		if (has_at) {
			dom = m + at + 1;
			dlen = mlen - at - 1;
			if (dlen > 0 && dom[0] == '[') {
				if (!addr_literal_norm(dom, dlen, out)) {
					addr_finish(out, ADDR_MALFORMED);
					return;
				}
				islit = true;
				dlocal = server != NULL &&
				    rg_addr_eq(&out->literal, server);
			} else {
				if (addr_domain_norm(dom, dlen, out->domain,
				    &n, &high) != NULL) {
					addr_finish(out, ADDR_MALFORMED);
					return;
				}
				islit = false;
				/* UTF-8 that is not valid IDNA is foreign
				 * (fail-closed): the raw bytes stay in
				 * domain, which addr_domain_local() never
				 * takes for local. */
				if (high && addr_domain_idna(out->domain, &n)
				    != NULL)
					dlocal = false;
				else
					dlocal = addr_domain_local(local,
					    out->domain, n);
			}
			if (!dlocal) {
				addr_finish(out, islit ? ADDR_LITERAL :
				    ADDR_DOMAIN);
				return;
			}
			llen = at;
		} else
			llen = mlen;

		/* The destination so far is local (or absent): look inside
		 * the local part for a further hop. */
		if (!addr_dequote(m, llen, lp, &llen, &exposed)) {
			addr_finish(out, ADDR_MALFORMED);
			return;
		}
		if (exposed)
			addr_set_trick(out, ADDR_TRICK_QUOTED);
		if (memchr(lp, '@', llen) != NULL) {
			/* "u@b"@local, or u@b@local: b is the next hop. */
			memcpy(mb, lp, llen);
		} else if ((p = memrchr(lp, '%', llen)) != NULL) {
			*p = '@';
			addr_set_trick(out, ADDR_TRICK_PERCENT);
			memcpy(mb, lp, llen);
		} else if ((p = memchr(lp, '!', llen)) != NULL) {
			/* "b!rest" -> "rest@b": same length, '!' becomes '@'. */
			blen = (size_t)(p - lp);
			rlen = llen - blen - 1;
			memcpy(mb, p + 1, rlen);
			mb[rlen] = '@';
			memcpy(mb + rlen + 1, lp, blen);
			addr_set_trick(out, ADDR_TRICK_BANG);
		} else if (has_at) {
			addr_finish(out, islit ? ADDR_LITERAL : ADDR_DOMAIN);
			return;
		} else if (llen == 10 && rg_strncaseeq(lp, "postmaster", 10)) {
			addr_finish(out, ADDR_POSTMASTER);
			return;
		} else {
			addr_finish(out, ADDR_NO_DOMAIN);
			return;
		}
		m = mb;
		mlen = llen;
	}
	addr_finish(out, ADDR_MALFORMED);
}

bool
addr_parse_rcpt(const char *arg, size_t len, const struct addr_domains *local,
    const struct rg_addr *server, struct addr_path *out)
{
	size_t i = 0, start, end, ms, me;
	bool bracket;

	memset(out, 0, sizeof(*out));
	out->raw = arg;
	out->kind = ADDR_MALFORMED;
	if (arg == NULL)
		return false;

	/* "TO:" in any case.  Sendmail also takes blanks around the colon,
	 * so they are accepted here: refusing them would let such a RCPT go
	 * uninspected. */
	while (i < len && addr_blank(arg[i]))
		i++;
	if (len - i < 2 || !rg_strncaseeq(arg + i, "to", 2))
		return false;
	i += 2;
	while (i < len && addr_blank(arg[i]))
		i++;
	if (i >= len || arg[i] != ':')
		return false;
	i++;
	while (i < len && addr_blank(arg[i]))
		i++;
	out->raw = arg + i;

	bracket = i < len && arg[i] == '<';
	if (bracket) {
		start = i + 1;
		if (!addr_find_close(arg, len, start, &end)) {
			for (end = start; end < len && !addr_blank(arg[end]);
			    end++)
				;
			out->raw = arg + start;
			out->raw_len = end - start;
			return true;
		}
		out->raw = arg + start;
		out->raw_len = end - start;
		i = end + 1;
	} else {
		start = i;
		for (end = start; end < len && !addr_blank(arg[end]); end++)
			;
		out->raw_len = end - start;
		i = end;
		if (out->raw_len == 0)
			return true;
	}
	if (!addr_params_ok(arg + i, len - i))
		return true;

	/* Blanks just inside the brackets mean nothing to a server. */
	ms = start;
	me = end;
	while (ms < me && addr_blank(arg[ms]))
		ms++;
	while (me > ms && addr_blank(arg[me - 1]))
		me--;
	if (ms == me) {
		if (bracket)
			out->kind = ADDR_NULL;
		return true;
	}
	addr_follow(out, arg + ms, me - ms, local, server);
	return true;
}

bool
addr_is_local(const struct addr_path *p, const struct addr_domains *local,
    const struct rg_addr *server)
{
	switch (p->kind) {
	case ADDR_POSTMASTER:
		return true;
	case ADDR_DOMAIN:
		return addr_domain_local(local, p->domain,
		    strnlen(p->domain, sizeof(p->domain)));
	case ADDR_LITERAL:
		return server != NULL && rg_addr_eq(&p->literal, server);
	default:
		return false;
	}
}

/* What a lookup looks for: exactly s (len bytes, no NUL inside). */
struct addr_probe {
	const struct addr_domains *d;
	const char *s;
	size_t len;
};

static bool
addr_probe_eq(const void *arg, uint32_t idx)
{
	const struct addr_probe *p = arg;
	const char *name = p->d->names[idx];

	return strncmp(name, p->s, p->len) == 0 && name[p->len] == '\0';
}

/* Is exactly s (len bytes, no NUL inside) in the set? */
static bool
addr_domains_find(const struct addr_domains *d, const char *s, size_t len)
{
	struct addr_probe p = { d, s, len };

	return hindex_find(&d->ix, hindex_fnv(HINDEX_FNV_INIT, s, len),
	    addr_probe_eq, &p) >= 0;
}

/* The hash of names[idx], for the index to place it. */
static uint32_t
addr_domains_hash(const void *arg, uint32_t idx)
{
	const char *name = ((const struct addr_domains *)arg)->names[idx];

	return hindex_fnv(HINDEX_FNV_INIT, name, strlen(name));
}

/*
 * One probe for the domain itself, then, when the list has ".suffix"
 * names, one per proper parent (".b.test" and ".test" for a.b.test): the
 * cost grows with the labels of the domain, not with the list.  A domain
 * still holding a non-ASCII byte is UTF-8 that did not convert to
 * A-labels: never local, even under a local suffix (fail-closed).
 */
bool
addr_domain_local(const struct addr_domains *local, const char *domain,
    size_t len)
{
	size_t i;

	if (local == NULL || len == 0)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)domain[i] >= 0x80)
			return false;
	if (addr_domains_find(local, domain, len))
		return true;
	if (local->nsuffix == 0)
		return false;
	for (i = 1; i < len; i++)
		if (domain[i] == '.' &&
		    addr_domains_find(local, domain + i, len - i))
			return true;
	return false;
}

bool
addr_domains_add(struct addr_domains *d, const char *name, size_t len,
    const char **why)
{
	char buf[ADDR_DOMAIN_MAX + 2];
	const char *dummy, *err;
	char **nv, *s;
	size_t off = 0, n;
	bool high;

	if (why == NULL)
		why = &dummy;
	if (name == NULL) {
		*why = "empty domain";
		return false;
	}
	if (len > 0 && name[0] == '.') {
		buf[0] = '.';
		off = 1;
	}
	if ((err = addr_domain_norm(name + off, len - off, buf + off, &n,
	    &high)) != NULL) {
		*why = err;
		return false;
	}
	err = high ? addr_domain_idna(buf + off, &n) :
	    addr_domain_alabels_ok(buf + off, n);
	if (err != NULL) {
		*why = err;
		return false;
	}
	n += off;
	if (addr_domains_find(d, buf, n))
		return true;
	if (d->count >= ADDR_MAX_DOMAINS) {
		*why = "too many local domains (at most 1048576)";
		return false;
	}
	if ((nv = hindex_array_room(d->names, d->count, sizeof(*nv))) ==
	    NULL) {
		*why = "out of memory";
		return false;
	}
	d->names = nv;
	if (!hindex_room(&d->ix, d->count, addr_domains_hash, d) ||
	    (s = malloc(n + 1)) == NULL) {
		*why = "out of memory";
		return false;
	}
	memcpy(s, buf, n + 1);
	d->names[d->count] = s;
	hindex_put(&d->ix, hindex_fnv(HINDEX_FNV_INIT, s, n), d->count);
	d->count++;
	if (s[0] == '.')
		d->nsuffix++;
	return true;
}

void
addr_domains_free(struct addr_domains *d)
{
	uint32_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->count; i++)
		free(d->names[i]);
	free(d->names);
	hindex_free(&d->ix);
	memset(d, 0, sizeof(*d));
}

const char *
addr_kind_str(enum addr_kind k)
{
	switch (k) {
	case ADDR_DOMAIN:
		return "domain";
	case ADDR_LITERAL:
		return "literal";
	case ADDR_POSTMASTER:
		return "postmaster";
	case ADDR_NO_DOMAIN:
		return "no-domain";
	case ADDR_NULL:
		return "null";
	case ADDR_MALFORMED:
		return "malformed";
	}
	return "unknown";
}

const char *
addr_trick_str(enum addr_trick t)
{
	switch (t) {
	case ADDR_TRICK_NONE:
		return "none";
	case ADDR_TRICK_SOURCE_ROUTE:
		return "source-route";
	case ADDR_TRICK_PERCENT:
		return "percent-hack";
	case ADDR_TRICK_BANG:
		return "bang-path";
	case ADDR_TRICK_QUOTED:
		return "quoted-route";
	}
	return "unknown";
}
