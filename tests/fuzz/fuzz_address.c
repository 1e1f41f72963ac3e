/*
 * fuzz_address.c — libFuzzer harness for addr_parse_rcpt(), the domain
 * list and cidr_parse().
 *
 * Input: one selector byte (server: IPv4, IPv6 or none), then a line of
 * blank-separated local domains, '\n', then the RCPT argument.  Checks:
 * raw lies inside the argument, the domain is terminated and lower case,
 * kind and domain agree, parsing is deterministic, locality agrees with
 * the list, listed names are ASCII (A-labels), a domain left in UTF-8 is
 * never local, and a parsed network formats and parses back to itself.
 */
#include <stdlib.h>
#include <string.h>

#include "../../filters/address.c"
#include "../../filters/cidr.c"

#define FUZZ_MAX_DOMAINS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_path(const struct addr_path *p, const char *arg, size_t len,
    const struct addr_domains *d, const struct rg_addr *server)
{
	size_t i, dl;
	const char *nul;

	if (p->raw < arg || p->raw_len > len ||
	    (size_t)(p->raw - arg) > len - p->raw_len)
		abort();
	if ((nul = memchr(p->domain, '\0', sizeof(p->domain))) == NULL)
		abort();
	dl = (size_t)(nul - p->domain);
	for (i = 0; i < dl; i++)
		if (p->domain[i] >= 'A' && p->domain[i] <= 'Z')
			abort();
	if ((unsigned)p->kind > ADDR_MALFORMED ||
	    (unsigned)p->trick > ADDR_TRICK_QUOTED)
		abort();
	switch (p->kind) {
	case ADDR_DOMAIN:
		if (dl == 0 || p->domain[dl - 1] == '.' ||
		    p->domain[0] == '.' || p->domain[0] == '[')
			abort();
		/* UTF-8 left in the domain did not convert: never local. */
		for (i = 0; i < dl; i++)
			if ((unsigned char)p->domain[i] >= 0x80 &&
			    addr_is_local(p, d, server))
				abort();
		if (addr_is_local(p, d, server) !=
		    addr_domain_local(d, p->domain, dl))
			abort();
		break;
	case ADDR_LITERAL:
		if (dl < 3 || p->domain[0] != '[' || p->domain[dl - 1] != ']')
			abort();
		if (p->literal.family != 4 && p->literal.family != 6)
			abort();
		if (addr_is_local(p, d, server) !=
		    (server != NULL && rg_addr_eq(&p->literal, server)))
			abort();
		break;
	case ADDR_POSTMASTER:
		if (dl != 0 || !addr_is_local(p, d, server))
			abort();
		break;
	default:
		if (dl != 0 || addr_is_local(p, d, server))
			abort();
		break;
	}
}

static void
fuzz_cidr(const char *s, size_t len)
{
	struct cidr c, c2;
	const char *why = NULL;
	char buf[64];

	if (!cidr_parse(s, len, &c, &why)) {
		if (why == NULL)
			abort();
		return;
	}
	if (!cidr_contains(&c, &c.net))
		abort();
	cidr_str(&c, buf, sizeof(buf));
	if (!cidr_parse(buf, strlen(buf), &c2, &why) ||
	    c2.prefix != c.prefix || !rg_addr_eq(&c2.net, &c.net))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_domains d = { 0 };
	struct addr_path p, q;
	struct rg_addr s4, s6;
	const struct rg_addr *server;
	const char *in, *nl, *arg, *why, *tok, *end;
	size_t len, tl, nl_len;
	bool r1, r2;
	uint32_t before;

	if (size < 1)
		return 0;
	rg_addr_parse("198.51.100.25", 13, &s4);
	rg_addr_parse("2001:db8:2::25", 14, &s6);
	server = data[0] % 3 == 0 ? &s4 : data[0] % 3 == 1 ? &s6 : NULL;
	in = (const char *)data + 1;
	size--;
	if ((nl = memchr(in, '\n', size)) == NULL) {
		arg = in;
		len = size;
		nl_len = 0;
	} else {
		arg = nl + 1;
		len = size - (size_t)(arg - in);
		nl_len = (size_t)(nl - in);
	}

	/* The domain list, as the config would add it. */
	for (tok = in, end = in + nl_len; tok < end; tok += tl) {
		while (tok < end && (*tok == ' ' || *tok == '\t'))
			tok++;
		for (tl = 0; tok + tl < end && tok[tl] != ' ' &&
		    tok[tl] != '\t'; tl++)
			;
		if (tl == 0 || d.count >= FUZZ_MAX_DOMAINS)
			break;
		before = d.count;
		why = NULL;
		if (addr_domains_add(&d, tok, tl, &why)) {
			const char *n = d.names[d.count - 1];
			size_t k, nlen = strlen(n);
			char x[ADDR_DOMAIN_MAX + 3];

			if (d.count == before)
				continue;	/* a duplicate */
			/* Lower case and ASCII: UTF-8 became A-labels. */
			for (k = 0; k < nlen; k++)
				if ((n[k] >= 'A' && n[k] <= 'Z') ||
				    (unsigned char)n[k] >= 0x80)
					abort();
			if (nlen == 0 || n[nlen - 1] == '.')
				abort();
			if (n[0] == '.') {
				x[0] = 'x';
				memcpy(x + 1, n, nlen);
				if (!addr_domain_local(&d, x, nlen + 1))
					abort();
			} else if (!addr_domain_local(&d, n, nlen))
				abort();
		} else if (why == NULL || d.count != before)
			abort();
	}

	r1 = addr_parse_rcpt(arg, len, &d, server, &p);
	if (!r1 && p.kind != ADDR_MALFORMED)
		abort();
	fuzz_check_path(&p, arg, len, &d, server);
	r2 = addr_parse_rcpt(arg, len, &d, server, &q);
	if (r1 != r2 || p.kind != q.kind || p.trick != q.trick ||
	    p.raw != q.raw || p.raw_len != q.raw_len ||
	    strcmp(p.domain, q.domain) != 0)
		abort();
	/* Without any local domain, only postmaster and the server's own
	 * literal can be local. */
	addr_parse_rcpt(arg, len, NULL, server, &q);
	fuzz_check_path(&q, arg, len, NULL, server);

	fuzz_cidr(arg, len);
	addr_domains_free(&d);
	return 0;
}
