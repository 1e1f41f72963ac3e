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
 * Parsing allocates nothing: the path is copied into two stack buffers as
 * large as the longest command line the SMTP parser keeps.
 */
#include <stdlib.h>
#include <string.h>

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
 * allowed.  Returns NULL on success, else a static reason.
 */
static const char *
addr_domain_norm(const char *d, size_t n, char *out, size_t *outlen)
{
	size_t i, label = 0;
	unsigned char c;

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
		} else if (addr_alnum(c) || c == '-' || c == '_' || c >= 0x80) {
			if (++label > ADDR_LABEL_MAX)
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
static bool
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
	bool inq, has_at, islit = false, dlocal, exposed;

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
				    &n) != NULL) {
					addr_finish(out, ADDR_MALFORMED);
					return;
				}
				islit = false;
				dlocal = addr_domain_local(local, out->domain, n);
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

/*
 * A linear scan: domain lists are short, and each entry costs one
 * strlen and one memcmp of the suffix.
 */
bool
addr_domain_local(const struct addr_domains *local, const char *domain,
    size_t len)
{
	uint32_t i;
	size_t nl;
	const char *name;

	if (local == NULL || len == 0)
		return false;
	for (i = 0; i < local->count; i++) {
		name = local->names[i];
		nl = strlen(name);
		if (name[0] == '.') {
			/* ".example.test" covers x.example.test: the domain
			 * must be longer and end with the dotted name. */
			if (len > nl &&
			    memcmp(domain + len - nl, name, nl) == 0)
				return true;
		} else if (len == nl && memcmp(domain, name, nl) == 0)
			return true;
	}
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
	uint32_t i, ncap;

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
	if ((err = addr_domain_norm(name + off, len - off, buf + off, &n))
	    != NULL) {
		*why = err;
		return false;
	}
	n += off;
	for (i = 0; i < d->count; i++)
		if (strcmp(d->names[i], buf) == 0)
			return true;
	if (d->count >= ADDR_MAX_DOMAINS) {
		*why = "too many local domains";
		return false;
	}
	/* Capacity is implicit: 8, then the next power of two. */
	if (d->count == 0 || (d->count >= 8 &&
	    (d->count & (d->count - 1)) == 0)) {
		ncap = d->count == 0 ? 8 : d->count * 2;
		nv = realloc(d->names, ncap * sizeof(*nv));
		if (nv == NULL) {
			*why = "out of memory";
			return false;
		}
		d->names = nv;
	}
	if ((s = malloc(n + 1)) == NULL) {
		*why = "out of memory";
		return false;
	}
	memcpy(s, buf, n + 1);
	d->names[d->count++] = s;
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
	d->names = NULL;
	d->count = 0;
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
