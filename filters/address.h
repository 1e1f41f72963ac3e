/*
 * address.h — RCPT path extraction and normalisation, and the local-domain
 * test, as DESIGN.md defines them.
 *
 * A legacy server may honour every routing trick, so a path is followed to
 * where it would lead: source routes (<@a,@b:u@c> -> c), the %-hack
 * (u%b@local -> b, rightmost % first), bang paths (b!u@local -> b) and quoted
 * local parts holding any of these ("u@b"@local -> b).  Unwrapping only goes
 * on while the current domain is local (or absent): a foreign domain is
 * already where the mail would leave.  Case and one trailing dot in a domain
 * do not matter.  Anything that cannot be shown to end locally is foreign.
 *
 * Internationalised domains are compared as lower-case A-labels ("xn--"):
 * a domain holding a byte >= 0x80 (UTF-8, as SMTPUTF8 clients send it and
 * as operators write it in the configuration) is converted with libidn2
 * (UTS #46 non-transitional mapping, NFC), the way Postfix does; ASCII
 * domains never reach libidn2.  A RCPT domain that cannot be converted is
 * foreign (fail-closed); in the configuration it is an error.
 */
#ifndef ADDRESS_H
#define ADDRESS_H

#include "hindex.h"
#include "rg.h"

#define ADDR_DOMAIN_MAX 255
#define ADDR_MAX_DOMAINS (1U << 20)	/* entries in a domain list */

enum addr_kind {
	ADDR_DOMAIN,		/* ends at .domain (lower case, no dot) */
	ADDR_LITERAL,		/* ends at an address literal: .literal */
	ADDR_POSTMASTER,	/* domain-less "postmaster" (any case) */
	ADDR_NO_DOMAIN,		/* domain-less, not postmaster */
	ADDR_NULL,		/* the null path <> */
	ADDR_MALFORMED,		/* cannot be parsed */
};

/* Which routing trick led to the final destination, if any. */
enum addr_trick {
	ADDR_TRICK_NONE = 0,
	ADDR_TRICK_SOURCE_ROUTE,
	ADDR_TRICK_PERCENT,
	ADDR_TRICK_BANG,
	ADDR_TRICK_QUOTED,
};

struct addr_path {
	/* The path exactly as written between < and > (or the bare argument
	 * up to the first blank when there are no brackets); points into the
	 * caller's buffer. */
	const char *raw;
	size_t raw_len;
	enum addr_kind kind;
	enum addr_trick trick;		/* first trick used, NONE if none */
	/* NUL-terminated; an A-label when the path held UTF-8 that
	 * converts, else the bytes as written (lower-cased ASCII). */
	char domain[ADDR_DOMAIN_MAX + 1];
	struct rg_addr literal;			/* ADDR_LITERAL */
};

/* A set of local domains: "example.test" matches itself only, a leading
 * dot (".example.test") matches every subdomain but not the domain.
 * Names are kept in the order added (for config_format()) and indexed by
 * an open-addressing hash table, so a lookup costs one probe per label of
 * the domain however long the list is.  All zero is an empty set. */
struct addr_domains {
	uint32_t count;
	char **names;		/* lower-case A-labels, no trailing dot; "."
				 * prefix kept */
	struct hindex ix;	/* by name */
	uint32_t nsuffix;	/* names with a leading dot */
};

/*
 * Parse the argument of RCPT ("TO:<path> ESMTP-params"; "TO:" in any case,
 * blanks allowed before "TO" and around the colon, as Sendmail takes them)
 * and follow the path.  local says which domains are local, so unwrapping
 * can stop at a foreign one; server is the address the session is connected
 * to (for [literal] paths).  Returns false only if arg does not start with
 * "TO:" so read; out is filled either way (kind ADDR_MALFORMED when the
 * path is bad).
 */
bool addr_parse_rcpt(const char *arg, size_t len,
    const struct addr_domains *local, const struct rg_addr *server,
    struct addr_path *out);

/* Is this final destination local? (postmaster, a local domain, or a
 * literal naming server). */
bool addr_is_local(const struct addr_path *p, const struct addr_domains *local,
    const struct rg_addr *server);

/* Does the (lower-case, dot-stripped, A-label) domain match the list? */
bool addr_domain_local(const struct addr_domains *local, const char *domain,
    size_t len);

/* Add a domain (as written in the config: case and one trailing dot are
 * normalised, UTF-8 is converted to A-labels and an "xn--" label must
 * decode).  A duplicate is accepted and kept once.  False with a static
 * reason in *why on a bad name (or when out of memory). */
bool addr_domains_add(struct addr_domains *d, const char *name, size_t len,
    const char **why);
void addr_domains_free(struct addr_domains *d);

const char *addr_kind_str(enum addr_kind k);
/* The names events use: "source-route", "percent-hack", "bang-path",
 * "quoted-route" ("none" for none). */
const char *addr_trick_str(enum addr_trick t);

/*
 * Find the '>' closing a path that starts at arg[start] (just after its
 * '<'); quoted strings, with backslash escapes, may hold a '>'.  false when
 * there is none.  RCPT and MAIL paths are both read this way.
 */
bool addr_find_close(const char *arg, size_t len, size_t start, size_t *end);

#endif
