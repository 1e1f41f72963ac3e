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
 */
#ifndef ADDRESS_H
#define ADDRESS_H

#include "rg.h"

#define ADDR_DOMAIN_MAX 255
#define ADDR_MAX_DOMAINS 4096	/* entries in a domain list */

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
	char domain[ADDR_DOMAIN_MAX + 1];	/* NUL-terminated */
	struct rg_addr literal;			/* ADDR_LITERAL */
};

/* A set of local domains: "example.test" matches itself only, a leading
 * dot (".example.test") matches every subdomain but not the domain. */
struct addr_domains {
	uint32_t count;
	char **names;		/* lower case, no trailing dot; "." prefix kept */
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

/* Does the (lower-case, dot-stripped) domain match the list? */
bool addr_domain_local(const struct addr_domains *local, const char *domain,
    size_t len);

/* Add a domain (as written in the config: case and one trailing dot are
 * normalised).  False with errno-free reason in *why on a bad name. */
bool addr_domains_add(struct addr_domains *d, const char *name, size_t len,
    const char **why);
void addr_domains_free(struct addr_domains *d);

const char *addr_kind_str(enum addr_kind k);
/* The names events use: "source-route", "percent-hack", "bang-path",
 * "quoted-route" ("none" for none). */
const char *addr_trick_str(enum addr_trick t);

#endif
