/*
 * config.c — the relayguard.conf parser.
 *
 * The file is parsed from a buffer: the caller (common/conffile.c) reads it,
 * so this module makes no system calls and the fuzzer can drive it directly.
 * Every problem is reported as "NAME:LINE: problem 'TOKEN'" with the token
 * made printable and cut short, because the token may be anything an
 * attacker or a broken editor put in the file and it ends up in a terminal
 * or a log.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "policy.h"	/* POLICY_MAX_BLOCK_AFTER: the tracker's own limit */
#include "smtp.h"	/* the server-software names */

#define CONFIG_TOKEN_SHOW 64	/* bytes of a bad token quoted in errors */
#define CONFIG_MAX_QUEUES 64	/* one worker per queue: keep it sane */
#define CONFIG_SUN_PATH 108	/* sizeof(((struct sockaddr_un *)0)->sun_path) */
#define CONFIG_MIN_FLOW_MEMORY (1ULL << 20)
#define CONFIG_MAX_FLOW_MEMORY (64ULL << 30)
#define CONFIG_MAX_FLOWS 10000000U

/* A token: a run of non-blank bytes inside the text being parsed. */
struct config_tok {
	const char *p;
	size_t len;
};

/* Parser state shared by the key handlers. */
struct config_ctx {
	const char *name;
	size_t line;
	struct config *c;
	char *err;
	size_t errlen;
	/* Remembered for the check between block-for and block-for-max,
	 * which can only run once both are known. */
	size_t block_for_line, block_for_max_line;
	char block_for_tok[CONFIG_TOKEN_SHOW * 4 + 4];
	char block_for_max_tok[CONFIG_TOKEN_SHOW * 4 + 4];
	const struct config_key *key;	/* of the line being parsed */
};

/* Called once per value; idx counts the values of the line from 0. */
typedef bool (*config_key_fn)(struct config_ctx *, const struct config_tok *,
    size_t);

struct config_key {
	const char *name;
	config_key_fn fn;
	bool list;		/* takes one or more values */
};

static const struct config_key *config_key_find(const char *name,
    size_t len);

/*
 * Render a token for an error message: printable ASCII as is, anything else
 * as \xNN, at most CONFIG_TOKEN_SHOW input bytes and "..." when cut.  out
 * must hold CONFIG_TOKEN_SHOW * 4 + 4 bytes.
 */
static void
config_printable(const char *p, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, n, o = 0;
	bool cut = false;

	if (outlen < CONFIG_TOKEN_SHOW * 4 + 4) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	n = len;
	if (n > CONFIG_TOKEN_SHOW) {
		n = CONFIG_TOKEN_SHOW;
		cut = true;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch >= 0x20 && ch < 0x7f)
			out[o++] = (char)ch;
		else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 0xf];
		}
	}
	if (cut) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* Write "NAME:LINE: problem 'TOKEN'" into the caller's buffer. */
static bool
config_error(struct config_ctx *x, size_t line, const char *problem,
    const char *tok, size_t toklen)
{
	char show[CONFIG_TOKEN_SHOW * 4 + 4];

	if (x->err == NULL || x->errlen == 0)
		return false;
	config_printable(tok, toklen, show, sizeof(show));
	snprintf(x->err, x->errlen, "%s:%zu: %s '%s'", x->name, line, problem,
	    show);
	return false;
}

static bool
config_tok_error(struct config_ctx *x, const char *problem,
    const struct config_tok *t)
{
	return config_error(x, x->line, problem, t->p, t->len);
}

static bool
config_tok_is(const struct config_tok *t, const char *word)
{
	size_t n = strlen(word);

	return t->len == n && memcmp(t->p, word, n) == 0;
}

/*
 * Unsigned decimal, digits only (no sign, no blanks), at most max.  Leading
 * zeros are harmless and accepted.
 */
static bool
config_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Digits followed by an optional one-letter unit; the multiplier comes
 * from unit_fn.  Overflow of the product is refused. */
static bool
config_parse_scaled(const char *s, size_t len, uint64_t (*unit_fn)(char),
    uint64_t *out)
{
	uint64_t v, mult = 1;

	if (len == 0)
		return false;
	if (s[len - 1] < '0' || s[len - 1] > '9') {
		mult = unit_fn(s[len - 1]);
		if (mult == 0)
			return false;
		len--;
	}
	if (!config_parse_uint(s, len, UINT64_MAX, &v))
		return false;
	if (v > UINT64_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

static uint64_t
config_duration_unit(char u)
{
	switch (u) {
	case 's':
		return RG_USEC_PER_SEC;
	case 'm':
		return 60 * RG_USEC_PER_SEC;
	case 'h':
		return 3600 * RG_USEC_PER_SEC;
	case 'd':
		return 86400 * RG_USEC_PER_SEC;
	case 'w':
		return 7 * 86400 * RG_USEC_PER_SEC;
	default:
		return 0;
	}
}

static uint64_t
config_size_unit(char u)
{
	switch (u) {
	case 'K':
	case 'k':
		return 1ULL << 10;
	case 'M':
	case 'm':
		return 1ULL << 20;
	case 'G':
	case 'g':
		return 1ULL << 30;
	default:
		return 0;
	}
}

bool
config_parse_duration(const char *s, size_t len, rg_time_t *out)
{
	uint64_t v;

	/* A plain number is seconds, the unit everyone assumes. */
	if (len > 0 && s[len - 1] >= '0' && s[len - 1] <= '9') {
		if (!config_parse_uint(s, len, UINT64_MAX / RG_USEC_PER_SEC,
		    &v))
			return false;
		*out = v * RG_USEC_PER_SEC;
		return true;
	}
	if (!config_parse_scaled(s, len, config_duration_unit, &v))
		return false;
	*out = v;
	return true;
}

bool
config_parse_size(const char *s, size_t len, uint64_t *out)
{
	return config_parse_scaled(s, len, config_size_unit, out);
}

const char *
config_duration_str(rg_time_t usec, char *buf, size_t len)
{
	static const struct {
		char unit;
		uint64_t secs;
	} units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
		{ 'w', 7 * 86400 },
	};
	char best[32], cand[32];
	uint64_t secs;
	size_t i;

	if (len == 0)
		return buf;
	if (usec % RG_USEC_PER_SEC != 0) {
		/* Not produced by the parser (whole seconds only), but any
		 * value must print sensibly: fractional seconds. */
		uint64_t frac = usec % RG_USEC_PER_SEC;
		int digits = 6;

		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		snprintf(buf, len, "%" PRIu64 ".%0*" PRIu64 "s",
		    (uint64_t)(usec / RG_USEC_PER_SEC), digits, frac);
		return buf;
	}
	secs = (uint64_t)(usec / RG_USEC_PER_SEC);
	snprintf(best, sizeof(best), "%" PRIu64 "s", secs);
	/* The shortest exact form; on a tie the smaller unit wins, so a
	 * week reads "7d" as the configuration examples write it. */
	for (i = 1; i < sizeof(units) / sizeof(units[0]); i++) {
		if (secs == 0 || secs % units[i].secs != 0)
			break;
		snprintf(cand, sizeof(cand), "%" PRIu64 "%c",
		    secs / units[i].secs, units[i].unit);
		if (strlen(cand) < strlen(best))
			memcpy(best, cand, sizeof(best));
	}
	snprintf(buf, len, "%s", best);
	return buf;
}

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->ports[0] = 25;
	c->nports = 1;
	c->mode = CONFIG_MODE_ENFORCE;
	c->block_after = 3;
	c->attempt_window = 10 * 60 * RG_USEC_PER_SEC;
	c->block_for = 3600 * RG_USEC_PER_SEC;
	c->block_for_max = 7 * 86400 * RG_USEC_PER_SEC;
	c->offence_memory = 30 * 86400 * RG_USEC_PER_SEC;
	c->hook = CONFIG_HOOK_FORWARD;
	c->queue_first = c->queue_last = 0;
	c->capture_workers = 1;
	c->capture_block = true;
	c->capture_buffer = 16ULL << 20;
	c->starttls = CONFIG_STARTTLS_ALLOW;
	c->offload = true;
	c->offload_mark = c->offload_mask = CONFIG_OFFLOAD_MARK;
	c->block_scope = CONFIG_BLOCK_SCOPE_SMTP;
	c->min_ttl = 0;
	c->max_flows = 100000;
	c->flow_memory = 64ULL << 20;
	c->metrics_interval = 15 * RG_USEC_PER_SEC;
	c->dnsbl_format = CONFIG_DNSBL_RBLDNSD;
	c->dnsbl_ttl = 60 * RG_USEC_PER_SEC;
	c->crowdsec_push = true;
	c->crowdsec_pull_interval = 10 * RG_USEC_PER_SEC;
	/* Both fit: the literals are far shorter than CONFIG_PATH_MAX. */
	memcpy(c->state_db, "/var/lib/relayguard/state.db",
	    sizeof("/var/lib/relayguard/state.db"));
	memcpy(c->control_socket, "/run/relayguard/control.sock",
	    sizeof("/run/relayguard/control.sock"));
	c->hook_timeout = 5 * RG_USEC_PER_SEC;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	addr_domains_free(&c->local_domains);
	cidr_set_free(&c->relay_networks);
	cidr_set_free(&c->never_block);
	cidr_set_free(&c->servers);
	/* Make a second config_free() (or a stray lookup) harmless. */
	memset(&c->local_domains, 0, sizeof(c->local_domains));
	memset(&c->relay_networks, 0, sizeof(c->relay_networks));
	memset(&c->never_block, 0, sizeof(c->never_block));
	memset(&c->servers, 0, sizeof(c->servers));
}

/* Key handlers: v is one value, n its index on the line (0 for non-list
 * keys). */

static bool
config_key_local_domains(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	char problem[160];
	const char *why = NULL;

	(void)n;
	if (!addr_domains_add(&x->c->local_domains, v->p, v->len, &why)) {
		snprintf(problem, sizeof(problem), "invalid domain%s%s%s",
		    why ? " (" : "", why ? why : "", why ? ")" : "");
		return config_tok_error(x, problem, v);
	}
	return true;
}

/* One network of a list key (relay-networks, never-block) into set. */
static bool
config_network_value(struct config_ctx *x, const struct config_tok *v,
    struct cidr_set *set)
{
	char problem[160];
	const char *why = NULL;
	struct cidr net;

	if (!cidr_parse(v->p, v->len, &net, &why)) {
		snprintf(problem, sizeof(problem), "invalid network%s%s%s",
		    why ? " (" : "", why ? why : "", why ? ")" : "");
		return config_tok_error(x, problem, v);
	}
	if (set->count >= CIDR_MAX)
		return config_tok_error(x, "too many networks (at most 65536)",
		    v);
	if (!cidr_set_add(set, &net))
		return config_tok_error(x, "cannot add network", v);
	return true;
}

static bool
config_key_relay_networks(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	return config_network_value(x, v, &x->c->relay_networks);
}

static bool
config_key_never_block(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	return config_network_value(x, v, &x->c->never_block);
}

static bool
config_key_servers(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	return config_network_value(x, v, &x->c->servers);
}

static bool
config_key_ports(struct config_ctx *x, const struct config_tok *v, size_t n)
{
	struct config *c = x->c;
	uint64_t port;
	uint32_t j;

	/* The list replaces the default rather than adding to it. */
	if (n == 0)
		c->nports = 0;
	if (!config_parse_uint(v->p, v->len, 65535, &port) || port == 0)
		return config_tok_error(x, "invalid port (1-65535)", v);
	for (j = 0; j < c->nports; j++)
		if (c->ports[j] == port)
			return config_tok_error(x, "duplicate port", v);
	if (c->nports >= CONFIG_MAX_PORTS)
		return config_tok_error(x, "too many ports (at most 64)", v);
	c->ports[c->nports++] = (uint16_t)port;
	return true;
}

static bool
config_key_mode(struct config_ctx *x, const struct config_tok *v, size_t n)
{
	(void)n;
	if (config_tok_is(v, "enforce"))
		x->c->mode = CONFIG_MODE_ENFORCE;
	else if (config_tok_is(v, "monitor"))
		x->c->mode = CONFIG_MODE_MONITOR;
	else
		return config_tok_error(x, "invalid mode (enforce or monitor)",
		    v);
	return true;
}

static bool
config_key_block_after(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	uint64_t val;

	(void)n;
	if (!config_parse_uint(v->p, v->len, POLICY_MAX_BLOCK_AFTER, &val) ||
	    val == 0)
		return config_tok_error(x, "invalid block-after (1-1000)", v);
	x->c->block_after = (uint32_t)val;
	return true;
}

static bool
config_duration_value(struct config_ctx *x, const struct config_tok *v,
    rg_time_t *out)
{
	rg_time_t d;

	if (!config_parse_duration(v->p, v->len, &d))
		return config_tok_error(x, "invalid duration", v);
	*out = d;
	return true;
}

static bool
config_key_attempt_window(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (!config_duration_value(x, v, &x->c->attempt_window))
		return false;
	if (x->c->attempt_window == 0)
		return config_tok_error(x, "attempt-window must not be zero", v);
	return true;
}

static bool
config_key_block_for(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (!config_duration_value(x, v, &x->c->block_for))
		return false;
	if (x->c->block_for == 0)
		return config_tok_error(x, "block-for must not be zero", v);
	x->block_for_line = x->line;
	config_printable(v->p, v->len, x->block_for_tok,
	    sizeof(x->block_for_tok));
	return true;
}

static bool
config_key_block_for_max(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (!config_duration_value(x, v, &x->c->block_for_max))
		return false;
	x->block_for_max_line = x->line;
	config_printable(v->p, v->len, x->block_for_max_tok,
	    sizeof(x->block_for_max_tok));
	return true;
}

/* "forever" keeps every offence; 0 is refused, since it could as well be
 * read as "remember nothing". */
static bool
config_key_offence_memory(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (config_tok_is(v, "forever")) {
		x->c->offence_memory = 0;
		return true;
	}
	if (!config_duration_value(x, v, &x->c->offence_memory))
		return false;
	if (x->c->offence_memory < RG_USEC_PER_SEC)
		return config_tok_error(x, "offence-memory must be at least 1s "
		    "('forever' never forgets)", v);
	return true;
}

static bool
config_key_hook(struct config_ctx *x, const struct config_tok *v, size_t n)
{
	(void)n;
	if (config_tok_is(v, "forward"))
		x->c->hook = CONFIG_HOOK_FORWARD;
	else if (config_tok_is(v, "input"))
		x->c->hook = CONFIG_HOOK_INPUT;
	else
		return config_tok_error(x, "invalid hook (forward or input)", v);
	return true;
}

static bool
config_key_queue(struct config_ctx *x, const struct config_tok *v, size_t n)
{
	const char *dash;
	uint64_t first, last;

	(void)n;
	dash = memchr(v->p, '-', v->len);
	if (dash == NULL) {
		if (!config_parse_uint(v->p, v->len, 65535, &first))
			return config_tok_error(x, "invalid queue (0-65535 or "
			    "N-M)", v);
		last = first;
	} else {
		size_t l1 = (size_t)(dash - v->p);

		if (!config_parse_uint(v->p, l1, 65535, &first) ||
		    !config_parse_uint(dash + 1, v->len - l1 - 1, 65535, &last))
			return config_tok_error(x, "invalid queue (0-65535 or "
			    "N-M)", v);
		if (first > last)
			return config_tok_error(x, "invalid queue range (first "
			    "above last)", v);
		if (last - first + 1 > CONFIG_MAX_QUEUES)
			return config_tok_error(x, "too many queues (at most "
			    "64)", v);
	}
	x->c->queue_first = (uint16_t)first;
	x->c->queue_last = (uint16_t)last;
	return true;
}

/* An interface name as the kernel takes it: 1-15 bytes, no '/', ':',
 * blanks or control bytes, not "." or "..". */
static bool
config_key_capture(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	struct config *c = x->c;
	uint32_t j;
	size_t i;

	(void)n;
	if (v->len == 0 || v->len >= CONFIG_IFNAME_MAX ||
	    config_tok_is(v, ".") || config_tok_is(v, ".."))
		return config_tok_error(x, "invalid interface name (1-15 "
		    "bytes)", v);
	for (i = 0; i < v->len; i++)
		if (v->p[i] == '/' || v->p[i] == ':' ||
		    (unsigned char)v->p[i] <= ' ' ||
		    (unsigned char)v->p[i] >= 0x7f)
			return config_tok_error(x, "invalid interface name "
			    "(no '/', ':' or control bytes)", v);
	for (j = 0; j < c->ncapture; j++)
		if (strlen(c->capture[j]) == v->len &&
		    memcmp(c->capture[j], v->p, v->len) == 0)
			return config_tok_error(x, "duplicate interface", v);
	if (c->ncapture >= CONFIG_MAX_CAPTURE)
		return config_tok_error(x, "too many capture interfaces (at "
		    "most 8)", v);
	memcpy(c->capture[c->ncapture], v->p, v->len);
	c->capture[c->ncapture][v->len] = '\0';
	c->ncapture++;
	return true;
}

static bool
config_key_capture_workers(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	uint64_t val;

	(void)n;
	if (!config_parse_uint(v->p, v->len, CONFIG_MAX_CAPTURE_WORKERS,
	    &val) || val == 0)
		return config_tok_error(x, "invalid capture-workers (1-64)", v);
	x->c->capture_workers = (uint32_t)val;
	return true;
}

static bool
config_yes_no(struct config_ctx *x, const struct config_tok *v, bool *dst)
{
	if (config_tok_is(v, "yes"))
		*dst = true;
	else if (config_tok_is(v, "no"))
		*dst = false;
	else
		return config_tok_error(x, "invalid value (yes or no)", v);
	return true;
}

static bool
config_key_capture_block(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	return config_yes_no(x, v, &x->c->capture_block);
}

static bool
config_key_capture_reset(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	return config_yes_no(x, v, &x->c->capture_reset);
}

static bool
config_key_capture_immediate(struct config_ctx *x,
    const struct config_tok *v, size_t n)
{
	(void)n;
	return config_yes_no(x, v, &x->c->capture_immediate);
}

static bool
config_key_capture_buffer(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	uint64_t val;

	(void)n;
	if (!config_parse_size(v->p, v->len, &val))
		return config_tok_error(x, "invalid size", v);
	if (val < (1ULL << 20) || val > (1ULL << 30))
		return config_tok_error(x, "invalid capture-buffer (1M-1G)", v);
	x->c->capture_buffer = val;
	return true;
}

static bool
config_key_starttls(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (config_tok_is(v, "allow"))
		x->c->starttls = CONFIG_STARTTLS_ALLOW;
	else if (config_tok_is(v, "strip"))
		x->c->starttls = CONFIG_STARTTLS_STRIP;
	else if (config_tok_is(v, "deny"))
		x->c->starttls = CONFIG_STARTTLS_DENY;
	else
		return config_tok_error(x, "invalid starttls (allow, strip or "
		    "deny)", v);
	return true;
}

static bool
config_key_offload(struct config_ctx *x, const struct config_tok *v, size_t n)
{
	(void)n;
	if (config_tok_is(v, "yes"))
		x->c->offload = true;
	else if (config_tok_is(v, "no"))
		x->c->offload = false;
	else
		return config_tok_error(x, "invalid offload (yes or no)", v);
	return true;
}

/* "0x" and 1 to 8 hex digits, or decimal digits, at most 2^32 - 1. */
static bool
config_parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;
	unsigned d;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (len > 10)
			return false;
		for (i = 2; i < len; i++) {
			if (s[i] >= '0' && s[i] <= '9')
				d = (unsigned)(s[i] - '0');
			else if (s[i] >= 'a' && s[i] <= 'f')
				d = (unsigned)(s[i] - 'a') + 10;
			else if (s[i] >= 'A' && s[i] <= 'F')
				d = (unsigned)(s[i] - 'A') + 10;
			else
				return false;
			v = v << 4 | d;
		}
	} else if (!config_parse_uint(s, len, UINT32_MAX, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

/* offload-mark MARK[/MASK]: MASK defaults to MARK; MARK must be non-zero
 * and inside MASK (a connection is offloaded when ct mark & MASK ==
 * MARK, so the operator's own bits outside MASK are left alone). */
static bool
config_key_offload_mark(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	const char *slash = memchr(v->p, '/', v->len);
	size_t l1 = slash != NULL ? (size_t)(slash - v->p) : v->len;
	uint32_t mark, mask;

	(void)n;
	if (!config_parse_u32(v->p, l1, &mark) || (slash != NULL &&
	    !config_parse_u32(slash + 1, v->len - l1 - 1, &mask)))
		return config_tok_error(x, "invalid offload-mark (MARK or "
		    "MARK/MASK, 0x hex or decimal 32-bit)", v);
	if (slash == NULL)
		mask = mark;
	if (mark == 0 || (mark & ~mask) != 0)
		return config_tok_error(x, "invalid offload-mark (MARK must "
		    "be non-zero and inside MASK)", v);
	x->c->offload_mark = mark;
	x->c->offload_mask = mask;
	return true;
}

static bool
config_key_block_scope(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (config_tok_is(v, "smtp"))
		x->c->block_scope = CONFIG_BLOCK_SCOPE_SMTP;
	else if (config_tok_is(v, "all"))
		x->c->block_scope = CONFIG_BLOCK_SCOPE_ALL;
	else
		return config_tok_error(x, "invalid block-scope (smtp or all)",
		    v);
	return true;
}

static bool
config_key_server_software(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	enum smtp_software sw;

	(void)n;
	if (!smtp_software_lookup(v->p, v->len, &sw))
		return config_tok_error(x, "invalid server-software (any, "
		    "postfix, exim, sendmail or opensmtpd)", v);
	x->c->server_software = (int)sw;
	return true;
}

static bool
config_key_min_ttl(struct config_ctx *x, const struct config_tok *v, size_t n)
{
	uint64_t val;

	(void)n;
	if (!config_parse_uint(v->p, v->len, 255, &val))
		return config_tok_error(x, "invalid min-ttl (0-255)", v);
	x->c->min_ttl = (uint8_t)val;
	return true;
}

static bool
config_key_max_flows(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	uint64_t val;

	(void)n;
	if (!config_parse_uint(v->p, v->len, CONFIG_MAX_FLOWS, &val) ||
	    val == 0)
		return config_tok_error(x, "invalid max-flows (1-10000000)", v);
	x->c->max_flows = (uint32_t)val;
	return true;
}

static bool
config_key_flow_memory(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	uint64_t val;

	(void)n;
	if (!config_parse_size(v->p, v->len, &val))
		return config_tok_error(x, "invalid size", v);
	if (val < CONFIG_MIN_FLOW_MEMORY || val > CONFIG_MAX_FLOW_MEMORY)
		return config_tok_error(x, "invalid flow-memory (1M-64G)", v);
	x->c->flow_memory = val;
	return true;
}

/* An absolute path that fits in dst (and in max bytes with its NUL). */
static bool
config_path_value(struct config_ctx *x, const struct config_tok *v,
    char *dst, size_t max)
{
	char problem[64];

	if (v->len == 0 || v->p[0] != '/')
		return config_tok_error(x, "path must be absolute", v);
	if (v->len >= max) {
		snprintf(problem, sizeof(problem), "path too long (at most %zu "
		    "bytes)", max - 1);
		return config_tok_error(x, problem, v);
	}
	/* Tokens hold no NUL (lines with NUL are refused), so the copy is
	 * the whole path. */
	memcpy(dst, v->p, v->len);
	dst[v->len] = '\0';
	return true;
}

static bool
config_key_state_db(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	return config_path_value(x, v, x->c->state_db, CONFIG_PATH_MAX);
}

static bool
config_key_control_socket(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	/* bind() takes at most sun_path bytes, NUL included. */
	return config_path_value(x, v, x->c->control_socket, CONFIG_SUN_PATH);
}

static bool
config_key_event_log(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	return config_path_value(x, v, x->c->event_log, CONFIG_PATH_MAX);
}

static bool
config_key_metrics_file(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	return config_path_value(x, v, x->c->metrics_file, CONFIG_PATH_MAX);
}

static bool
config_key_metrics_interval(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (!config_duration_value(x, v, &x->c->metrics_interval))
		return false;
	if (x->c->metrics_interval < RG_USEC_PER_SEC ||
	    x->c->metrics_interval > 3600 * RG_USEC_PER_SEC)
		return config_tok_error(x, "metrics-interval must be 1s to "
		    "1h", v);
	return true;
}

/*
 * "X-file PATH": X's entries also come from PATH, read by conffile_load().
 * The handler serves every such key; X is the key's name without "-file"
 * and must be a list key.
 */
static bool
config_key_list_file(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	struct config_list_file *f;
	const struct config_key *twin;
	size_t nl = strlen(x->key->name);

	(void)n;
	twin = nl > 5 && strcmp(x->key->name + nl - 5, "-file") == 0 ?
	    config_key_find(x->key->name, nl - 5) : NULL;
	if (twin == NULL || !twin->list)
		return config_tok_error(x, "no list for this file key", v);
	if (x->c->nlist_files >= CONFIG_MAX_LIST_FILES)
		return config_tok_error(x, "too many list files", v);
	f = &x->c->list_files[x->c->nlist_files];
	memset(f, 0, sizeof(*f));
	if (!config_path_value(x, v, f->path, sizeof(f->path)))
		return false;
	f->key = twin->name;
	f->line = x->line;
	x->c->nlist_files++;
	return true;
}

/* on-block / on-unblock PROGRAM [ARG...]: run without a shell, so the
 * program is an absolute path and the arguments are taken as they are. */
static bool
config_command_value(struct config_ctx *x, const struct config_tok *v,
    size_t n, struct config_command *cmd)
{
	if (n == 0) {
		memset(cmd, 0, sizeof(*cmd));
		if (v->len == 0 || v->p[0] != '/')
			return config_tok_error(x, "the program must be an "
			    "absolute path (it runs without a shell)", v);
	}
	if (cmd->argc >= CONFIG_COMMAND_ARGS)
		return config_tok_error(x, "too many arguments (at most 15)",
		    v);
	if (cmd->len + v->len + 1 > sizeof(cmd->buf))
		return config_tok_error(x, "command too long (at most 2047 "
		    "bytes)", v);
	memcpy(cmd->buf + cmd->len, v->p, v->len);
	cmd->len += (uint32_t)v->len;
	cmd->buf[cmd->len++] = '\0';
	cmd->argc++;
	return true;
}

static bool
config_key_on_block(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	return config_command_value(x, v, n, &x->c->on_block);
}

static bool
config_key_on_unblock(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	return config_command_value(x, v, n, &x->c->on_unblock);
}

static bool
config_key_hook_timeout(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (!config_duration_value(x, v, &x->c->hook_timeout))
		return false;
	if (x->c->hook_timeout < RG_USEC_PER_SEC ||
	    x->c->hook_timeout > 3600 * RG_USEC_PER_SEC)
		return config_tok_error(x, "hook-timeout must be 1s to 1h", v);
	return true;
}

/*
 * The DNSBL keys (daemon/dnsbl.c writes the zone).  dnsbl-zone names the
 * dataset files: PATH.ip4set and PATH.ip6trie (rbldnsd's datasets are
 * typed, one type a file).
 */
static bool
config_key_dnsbl_zone(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (v->len > 0 && v->p[v->len - 1] == '/')
		return config_tok_error(x, "dnsbl-zone names files, not a "
		    "directory (the daemon adds .ip4set and .ip6trie)", v);
	return config_path_value(x, v, x->c->dnsbl_zone,
	    CONFIG_PATH_MAX - CONFIG_DNSBL_SUFFIX_MAX);
}

static bool
config_key_dnsbl_format(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (!config_tok_is(v, "rbldnsd"))
		return config_tok_error(x, "invalid dnsbl-format (rbldnsd)", v);
	x->c->dnsbl_format = CONFIG_DNSBL_RBLDNSD;
	return true;
}

static bool
config_key_dnsbl_ttl(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	rg_time_t t;

	(void)n;
	if (!config_parse_duration(v->p, v->len, &t) ||
	    t < RG_USEC_PER_SEC || t > 86400 * RG_USEC_PER_SEC ||
	    t % RG_USEC_PER_SEC != 0)
		return config_tok_error(x, "invalid dnsbl-ttl (1s-1d, whole "
		    "seconds)", v);
	x->c->dnsbl_ttl = t;
	return true;
}

/*
 * A host name as DNS writes it: labels of letters, digits and hyphens (not
 * first or last), 1-63 bytes each, at most 253 in all; one trailing dot is
 * dropped.  Copied into dst (CONFIG_DNS_NAME_MAX bytes).
 */
static bool
config_dns_name(const char *p, size_t len, char *dst)
{
	size_t i, label = 0;
	char ch;

	if (len > 0 && p[len - 1] == '.')
		len--;
	if (len == 0 || len > CONFIG_DNS_NAME_MAX - 1)
		return false;
	for (i = 0; i < len; i++) {
		ch = p[i];
		if (ch == '.') {
			if (label == 0 || p[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		if ((ch == '-' && label == 0) || ++label > 63)
			return false;
	}
	if (label == 0 || p[len - 1] == '-')
		return false;		/* "a.." or "a-" */
	memcpy(dst, p, len);
	dst[len] = '\0';
	return true;
}

static bool
config_key_dnsbl_ns(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	char problem[64];

	if (n >= CONFIG_DNSBL_MAX_NS) {
		snprintf(problem, sizeof(problem), "too many dnsbl-ns names "
		    "(at most %d)", CONFIG_DNSBL_MAX_NS);
		return config_tok_error(x, problem, v);
	}
	if (!config_dns_name(v->p, v->len, x->c->dnsbl_ns[n]))
		return config_tok_error(x, "invalid host name", v);
	x->c->dnsbl_nns = (uint32_t)n + 1;
	return true;
}

/* The SOA's mailbox: "hostmaster@example.test" or, as the SOA writes it,
 * "hostmaster.example.test" (a local part with a dot would need escaping:
 * refused). */
static bool
config_key_dnsbl_contact(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	char buf[CONFIG_DNS_NAME_MAX];
	const char *at = memchr(v->p, '@', v->len);
	size_t local;

	(void)n;
	if (v->len >= sizeof(buf))
		return config_tok_error(x, "invalid dnsbl-contact (a mailbox, "
		    "hostmaster@example.test)", v);
	memcpy(buf, v->p, v->len);
	buf[v->len] = '\0';
	if (at != NULL) {
		local = (size_t)(at - v->p);
		if (memchr(v->p, '.', local) != NULL ||
		    memchr(at + 1, '@', v->len - local - 1) != NULL)
			return config_tok_error(x, "invalid dnsbl-contact (a "
			    "local part without dots or '@')", v);
		buf[local] = '.';
	}
	if (!config_dns_name(buf, v->len, x->c->dnsbl_contact) ||
	    strchr(x->c->dnsbl_contact, '.') == NULL)
		return config_tok_error(x, "invalid dnsbl-contact (a mailbox, "
		    "hostmaster@example.test)", v);
	return true;
}

/*
 * The CrowdSec keys (daemon/crowdsec.c talks to the Local API).  The URL
 * is http or https with a host; the credential files are read (and their
 * mode checked) when the daemon starts.
 */
static bool
config_key_crowdsec_url(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	size_t i, skip;

	(void)n;
	if (v->len > 8 && memcmp(v->p, "https://", 8) == 0)
		skip = 8;
	else if (v->len > 7 && memcmp(v->p, "http://", 7) == 0)
		skip = 7;
	else
		return config_tok_error(x, "invalid crowdsec-url (http:// or "
		    "https:// and a host)", v);
	if (v->len >= CONFIG_CROWDSEC_URL_MAX || v->p[skip] == '/')
		return config_tok_error(x, "invalid crowdsec-url (a host, at "
		    "most 511 bytes)", v);
	for (i = 0; i < v->len; i++)
		if ((unsigned char)v->p[i] <= ' ' || v->p[i] == '"' ||
		    v->p[i] == '\\' || (unsigned char)v->p[i] >= 0x7f ||
		    v->p[i] == '?' || v->p[i] == '#')
			return config_tok_error(x, "invalid crowdsec-url (no "
			    "query, fragment, quotes or control bytes)", v);
	memcpy(x->c->crowdsec_url, v->p, v->len);
	x->c->crowdsec_url[v->len] = '\0';
	return true;
}

static bool
config_key_crowdsec_ca(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	return config_path_value(x, v, x->c->crowdsec_ca, CONFIG_PATH_MAX);
}

static bool
config_key_crowdsec_machine_file(struct config_ctx *x,
    const struct config_tok *v, size_t n)
{
	(void)n;
	return config_path_value(x, v, x->c->crowdsec_machine_file,
	    CONFIG_PATH_MAX);
}

static bool
config_key_crowdsec_bouncer_key_file(struct config_ctx *x,
    const struct config_tok *v, size_t n)
{
	(void)n;
	return config_path_value(x, v, x->c->crowdsec_bouncer_key_file,
	    CONFIG_PATH_MAX);
}

static bool
config_key_crowdsec_push(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	(void)n;
	if (config_tok_is(v, "yes"))
		x->c->crowdsec_push = true;
	else if (config_tok_is(v, "no"))
		x->c->crowdsec_push = false;
	else
		return config_tok_error(x, "invalid crowdsec-push (yes or no)",
		    v);
	return true;
}

static bool
config_key_crowdsec_pull_interval(struct config_ctx *x,
    const struct config_tok *v, size_t n)
{
	rg_time_t t;

	(void)n;
	if (!config_parse_duration(v->p, v->len, &t) ||
	    t < RG_USEC_PER_SEC || t > 3600 * RG_USEC_PER_SEC ||
	    t % RG_USEC_PER_SEC != 0)
		return config_tok_error(x, "invalid crowdsec-pull-interval "
		    "(1s-1h, whole seconds)", v);
	x->c->crowdsec_pull_interval = t;
	return true;
}

/* An origin as CrowdSec names them: crowdsec, cscli, cscli-import, CAPI,
 * lists, relayguard... letters, digits, '-', '_', '.', ':' and '/'. */
static bool
config_key_crowdsec_origins(struct config_ctx *x, const struct config_tok *v,
    size_t n)
{
	size_t i;
	char problem[64];

	if (n >= CONFIG_CROWDSEC_ORIGINS) {
		snprintf(problem, sizeof(problem), "too many crowdsec-origins "
		    "(at most %d)", CONFIG_CROWDSEC_ORIGINS);
		return config_tok_error(x, problem, v);
	}
	if (v->len == 0 || v->len >= CONFIG_CROWDSEC_ORIGIN_MAX)
		return config_tok_error(x, "invalid crowdsec origin (1-31 "
		    "bytes)", v);
	for (i = 0; i < v->len; i++) {
		char ch = v->p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == ':' || ch == '/'))
			return config_tok_error(x, "invalid crowdsec origin "
			    "(letters, digits, - _ . : /)", v);
	}
	memcpy(x->c->crowdsec_origins[n], v->p, v->len);
	x->c->crowdsec_origins[n][v->len] = '\0';
	x->c->crowdsec_norigins = (uint32_t)n + 1;
	return true;
}

static const struct config_key config_keys[] = {
	{ "local-domains",	config_key_local_domains,	true },
	{ "local-domains-file",	config_key_list_file,		false },
	{ "relay-networks",	config_key_relay_networks,	true },
	{ "relay-networks-file", config_key_list_file,		false },
	{ "never-block",	config_key_never_block,		true },
	{ "never-block-file",	config_key_list_file,		false },
	{ "servers",		config_key_servers,		true },
	{ "servers-file",	config_key_list_file,		false },
	{ "ports",		config_key_ports,		true },
	{ "mode",		config_key_mode,		false },
	{ "block-after",	config_key_block_after,		false },
	{ "attempt-window",	config_key_attempt_window,	false },
	{ "block-for",		config_key_block_for,		false },
	{ "block-for-max",	config_key_block_for_max,	false },
	{ "offence-memory",	config_key_offence_memory,	false },
	{ "hook",		config_key_hook,		false },
	{ "queue",		config_key_queue,		false },
	{ "capture",		config_key_capture,		true },
	{ "capture-workers",	config_key_capture_workers,	false },
	{ "capture-block",	config_key_capture_block,	false },
	{ "capture-reset",	config_key_capture_reset,	false },
	{ "capture-buffer",	config_key_capture_buffer,	false },
	{ "capture-immediate",	config_key_capture_immediate,	false },
	{ "starttls",		config_key_starttls,		false },
	{ "offload",		config_key_offload,		false },
	{ "offload-mark",	config_key_offload_mark,	false },
	{ "block-scope",	config_key_block_scope,		false },
	{ "server-software",	config_key_server_software,	false },
	{ "min-ttl",		config_key_min_ttl,		false },
	{ "max-flows",		config_key_max_flows,		false },
	{ "flow-memory",	config_key_flow_memory,		false },
	{ "state-db",		config_key_state_db,		false },
	{ "event-log",		config_key_event_log,		false },
	{ "metrics-file",	config_key_metrics_file,	false },
	{ "metrics-interval",	config_key_metrics_interval,	false },
	{ "control-socket",	config_key_control_socket,	false },
	{ "on-block",		config_key_on_block,		true },
	{ "on-unblock",		config_key_on_unblock,		true },
	{ "hook-timeout",	config_key_hook_timeout,	false },
	{ "dnsbl-zone",		config_key_dnsbl_zone,		false },
	{ "dnsbl-format",	config_key_dnsbl_format,	false },
	{ "dnsbl-ttl",		config_key_dnsbl_ttl,		false },
	{ "dnsbl-ns",		config_key_dnsbl_ns,		true },
	{ "dnsbl-contact",	config_key_dnsbl_contact,	false },
	{ "crowdsec-url",	config_key_crowdsec_url,	false },
	{ "crowdsec-ca",	config_key_crowdsec_ca,		false },
	{ "crowdsec-machine-file", config_key_crowdsec_machine_file, false },
	{ "crowdsec-bouncer-key-file", config_key_crowdsec_bouncer_key_file,
	    false },
	{ "crowdsec-push",	config_key_crowdsec_push,	false },
	{ "crowdsec-pull-interval", config_key_crowdsec_pull_interval, false },
	{ "crowdsec-origins",	config_key_crowdsec_origins,	true },
};
#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))
_Static_assert(CONFIG_NKEYS <= CONFIG_MAX_KEYS, "raise CONFIG_MAX_KEYS");

static const struct config_key *
config_key_find(const char *name, size_t len)
{
	size_t k;

	for (k = 0; k < CONFIG_NKEYS; k++)
		if (strlen(config_keys[k].name) == len &&
		    memcmp(config_keys[k].name, name, len) == 0)
			return &config_keys[k];
	return NULL;
}

static bool
config_is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* The next token at or after *i, skipping blanks; false at the end of
 * the line or at a comment. */
static bool
config_next_tok(const char *p, size_t len, size_t *i, struct config_tok *t)
{
	size_t start;

	while (*i < len && config_is_blank(p[*i]))
		(*i)++;
	if (*i == len || p[*i] == '#')
		return false;
	start = *i;
	while (*i < len && !config_is_blank(p[*i]))
		(*i)++;
	t->p = p + start;
	t->len = *i - start;
	return true;
}

/* Parse one line (without its line ending), one value at a time, so
 * nothing is allocated however many values the line holds.  arg is the
 * line where each key was seen (0: not yet). */
static bool
config_parse_line(struct config_ctx *x, const char *p, size_t len,
    void *arg)
{
	const struct config_key *key = NULL;
	struct config_tok name, v, extra;
	size_t *seen = arg, i = 0, k, n;
	char problem[96];

	if (!config_next_tok(p, len, &i, &name))
		return true;
	if ((key = config_key_find(name.p, name.len)) == NULL)
		return config_tok_error(x, "unknown key", &name);
	k = (size_t)(key - config_keys);
	x->key = key;
	if (seen[k] != 0) {
		snprintf(problem, sizeof(problem), "key given twice (first on "
		    "line %zu)", seen[k]);
		return config_tok_error(x, problem, &name);
	}
	seen[k] = x->line;
	x->c->key_line[k] = x->line > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)x->line;
	if (!config_next_tok(p, len, &i, &v))
		return config_tok_error(x, "missing value for", &name);
	if (!key->list) {
		if (config_next_tok(p, len, &i, &extra))
			return config_tok_error(x, "unexpected extra value",
			    &extra);
		return key->fn(x, &v, 0);
	}
	n = 0;
	do {
		if (!key->fn(x, &v, n++))
			return false;
	} while (config_next_tok(p, len, &i, &v));
	return true;
}

/*
 * Call fn on each line of text (without its line ending; one CR before LF
 * is dropped, for files written on Windows), counting lines in x->line.
 * A line longer than maxline or holding a NUL byte is an error.
 */
static bool
config_lines(struct config_ctx *x, const char *text, size_t len,
    size_t maxline, bool (*fn)(struct config_ctx *, const char *, size_t,
    void *), void *arg)
{
	char problem[64];
	size_t off = 0;

	while (off < len) {
		const char *line = text + off;
		const char *nl = memchr(line, '\n', len - off);
		size_t llen = nl ? (size_t)(nl - line) : len - off;

		off += llen + (nl ? 1 : 0);
		x->line++;
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (llen > maxline) {
			snprintf(problem, sizeof(problem), "line longer than %zu "
			    "bytes", maxline);
			return config_error(x, x->line, problem, line, llen);
		}
		if (memchr(line, '\0', llen) != NULL)
			return config_error(x, x->line, "NUL byte in line", line,
			    llen);
		if (!fn(x, line, llen, arg))
			return false;
	}
	return true;
}

/*
 * The DNSBL keys go together: a zone needs its name servers and contact
 * (the $NS and $SOA lines that make it a zone resolvers can cache
 * answers of), and the other keys mean nothing without a zone.
 */
static bool
config_dnsbl_check(struct config_ctx *x)
{
	static const char *const others[] = { "dnsbl-format", "dnsbl-ttl",
	    "dnsbl-ns", "dnsbl-contact" };
	const struct config *c = x->c;
	size_t i, line;
	char problem[96];

	if (c->dnsbl_zone[0] == '\0') {
		for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
			if ((line = config_key_line(c, others[i])) != 0) {
				snprintf(problem, sizeof(problem), "%s without "
				    "dnsbl-zone", others[i]);
				return config_error(x, line, problem,
				    others[i], strlen(others[i]));
			}
		return true;
	}
	line = config_key_line(c, "dnsbl-zone");
	if (c->dnsbl_nns == 0)
		return config_error(x, line, "dnsbl-zone needs dnsbl-ns (the "
		    "zone's name servers, for its $NS and $SOA lines)",
		    c->dnsbl_zone, strlen(c->dnsbl_zone));
	if (c->dnsbl_contact[0] == '\0')
		return config_error(x, line, "dnsbl-zone needs dnsbl-contact "
		    "(the mailbox of the zone's $SOA line)",
		    c->dnsbl_zone, strlen(c->dnsbl_zone));
	return true;
}

/*
 * capture replaces queue (one or the other: a daemon either answers a
 * queue or watches a copy of the traffic), and the other capture keys
 * mean nothing without it.
 */
static bool
config_capture_check(struct config_ctx *x)
{
	static const char *const others[] = { "capture-workers",
	    "capture-block", "capture-reset", "capture-buffer",
	    "capture-immediate" };
	const struct config *c = x->c;
	size_t i, line, qline;

	if (c->ncapture == 0) {
		for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
			if ((line = config_key_line(c, others[i])) != 0) {
				char problem[64];

				snprintf(problem, sizeof(problem), "%s without "
				    "capture", others[i]);
				return config_error(x, line, problem,
				    others[i], strlen(others[i]));
			}
		return true;
	}
	if ((qline = config_key_line(c, "queue")) != 0) {
		line = config_key_line(c, "capture");
		return config_error(x, qline > line ? qline : line,
		    "queue and capture exclude each other (capture is the "
		    "passive mode, queue the inline one)", qline > line ?
		    "queue" : "capture", qline > line ? 5 : 7);
	}
	return true;
}

/*
 * The CrowdSec keys need crowdsec-url, and the URL needs something to do:
 * a machine file (push) or a bouncer key file (pull).
 */
static bool
config_crowdsec_check(struct config_ctx *x)
{
	static const char *const others[] = { "crowdsec-ca",
	    "crowdsec-machine-file", "crowdsec-bouncer-key-file",
	    "crowdsec-push", "crowdsec-pull-interval", "crowdsec-origins" };
	const struct config *c = x->c;
	size_t i, line;
	char problem[96];

	if (c->crowdsec_url[0] == '\0') {
		for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
			if ((line = config_key_line(c, others[i])) != 0) {
				snprintf(problem, sizeof(problem), "%s without "
				    "crowdsec-url", others[i]);
				return config_error(x, line, problem,
				    others[i], strlen(others[i]));
			}
		return true;
	}
	if (c->crowdsec_machine_file[0] == '\0' &&
	    c->crowdsec_bouncer_key_file[0] == '\0')
		return config_error(x, config_key_line(c, "crowdsec-url"),
		    "crowdsec-url needs crowdsec-machine-file (to push blocks) "
		    "or crowdsec-bouncer-key-file (to pull decisions)",
		    c->crowdsec_url, strlen(c->crowdsec_url));
	if (c->crowdsec_ca[0] != '\0' &&
	    strncmp(c->crowdsec_url, "https://", 8) != 0)
		return config_error(x, config_key_line(c, "crowdsec-ca"),
		    "crowdsec-ca with a plain http crowdsec-url", "crowdsec-ca",
		    strlen("crowdsec-ca"));
	return true;
}

bool
config_parse(const char *name, const char *text, size_t len,
    struct config *c, char *err, size_t errlen)
{
	struct config_ctx x;
	size_t seen[CONFIG_NKEYS];

	memset(&x, 0, sizeof(x));
	memset(seen, 0, sizeof(seen));
	x.name = name != NULL ? name : "(config)";
	x.c = c;
	/* Only for messages: a name too long is cut, never refused. */
	snprintf(c->file, sizeof(c->file), "%s", x.name);
	x.err = err;
	x.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	if (!config_lines(&x, text, len, CONFIG_MAX_LINE, config_parse_line,
	    seen))
		return false;

	if (c->block_for_max < c->block_for) {
		/* Name the line that set block-for-max, or block-for's when
		 * block-for-max was left at its default. */
		if (err == NULL || errlen == 0)
			return false;
		if (x.block_for_max_line != 0)
			snprintf(err, errlen, "%s:%zu: block-for-max shorter "
			    "than block-for '%s'", x.name,
			    x.block_for_max_line, x.block_for_max_tok);
		else
			snprintf(err, errlen, "%s:%zu: block-for longer than "
			    "the default block-for-max (7d) '%s'", x.name,
			    x.block_for_line, x.block_for_tok);
		return false;
	}
	return config_dnsbl_check(&x) && config_capture_check(&x) &&
	    config_crowdsec_check(&x);
}

size_t
config_key_line(const struct config *c, const char *key)
{
	size_t k;

	for (k = 0; k < CONFIG_NKEYS; k++)
		if (strcmp(config_keys[k].name, key) == 0)
			return c->key_line[k];
	return 0;
}

bool
config_server(const struct config *c, const struct rg_addr *addr)
{
	return c->servers.count == 0 || cidr_set_contains(&c->servers, addr);
}

/* "FILE:LINE: " for key, or "FILE: " when it holds its default. */
static void
config_where(const struct config *c, const char *key, char *buf, size_t len)
{
	size_t line = config_key_line(c, key);

	if (line != 0)
		snprintf(buf, len, "%s:%zu: ", c->file[0] ? c->file :
		    "(config)", line);
	else
		snprintf(buf, len, "%s: ", c->file[0] ? c->file : "(config)");
}

bool
config_check_daemon(const struct config *c, char *err, size_t errlen)
{
	char where[CONFIG_PATH_MAX + 32];

	if (c->mode != CONFIG_MODE_ENFORCE)
		return true;
	config_where(c, "mode", where, sizeof(where));
	if (c->local_domains.count == 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%smode enforce needs "
			    "'local-domains': list the domains the protected "
			    "servers accept mail for (without it every recipient "
			    "is foreign, so every inbound message would be reset "
			    "and its sender blocked), or use mode monitor", where);
		return false;
	}
	if (c->hook == CONFIG_HOOK_FORWARD && c->servers.count == 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%smode enforce with hook forward "
			    "needs 'servers': list the protected mail servers "
			    "(without it every SMTP connection crossing the "
			    "gateway, the mail the network sends out too, would "
			    "be judged), or use mode monitor", where);
		return false;
	}
	return true;
}

/* The network set of list key key, NULL if it is not a network list.
 * (A list with an X-file twin needs a line here or in
 * config_list_count(), and in config_format_entry().) */
static const struct cidr_set *
config_list_networks(const struct config *c, const char *key)
{
	if (strcmp(key, "relay-networks") == 0)
		return &c->relay_networks;
	if (strcmp(key, "never-block") == 0)
		return &c->never_block;
	if (strcmp(key, "servers") == 0)
		return &c->servers;
	return NULL;
}

/* The entries of list key key (for the counts config-test shows). */
static uint32_t
config_list_count(const struct config *c, const char *key)
{
	const struct cidr_set *set = config_list_networks(c, key);

	if (strcmp(key, "local-domains") == 0)
		return c->local_domains.count;
	return set != NULL ? set->count : 0;
}

/* One entry of a list file: the line's only token, if any. */
static bool
config_list_line(struct config_ctx *x, const char *p, size_t len, void *arg)
{
	struct config_tok v, extra;
	size_t i = 0, *n = arg;

	if (!config_next_tok(p, len, &i, &v))
		return true;
	if (config_next_tok(p, len, &i, &extra))
		return config_tok_error(x, "unexpected extra value (one entry "
		    "a line)", &extra);
	return x->key->fn(x, &v, (*n)++);
}

bool
config_parse_list(struct config *c, struct config_list_file *f,
    const char *text, size_t len, char *err, size_t errlen)
{
	struct config_ctx x;
	size_t n;

	memset(&x, 0, sizeof(x));
	x.name = f->path;
	x.c = c;
	x.err = err;
	x.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	x.key = f->key != NULL ? config_key_find(f->key, strlen(f->key)) :
	    NULL;
	if (x.key == NULL || !x.key->list) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: not the file of a list key",
			    f->path);
		return false;
	}
	/* The values continue the list: a handler that starts a list
	 * afresh at index 0 (ports) must not drop the inline ones. */
	n = f->inline_count = config_list_count(c, f->key);
	if (!config_lines(&x, text, len, CONFIG_LIST_MAX_LINE,
	    config_list_line, &n))
		return false;
	f->file_count = config_list_count(c, f->key) - f->inline_count;
	f->loaded = true;
	return true;
}

/* Counts and hands out warnings for config_warnings(). */
struct config_warner {
	const struct config *c;
	config_warn_fn fn;
	void *arg;
	size_t n;
};

static void
config_warn(struct config_warner *w, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
config_warn(struct config_warner *w, const char *key, const char *fmt, ...)
{
	char where[CONFIG_PATH_MAX + 32], text[512], msg[sizeof(where) +
	    sizeof(text)];
	va_list ap;

	config_where(w->c, key, where, sizeof(where));
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s%s", where, text);
	w->n++;
	if (w->fn != NULL)
		w->fn(msg, w->arg);
}

size_t
config_warnings(const struct config *c, config_warn_fn fn, void *arg)
{
	struct config_warner w = { c, fn, arg, 0 };
	char net[RG_ADDRSTRLEN + 8];
	uint32_t i;

	for (i = 0; i < c->relay_networks.count; i++) {
		const struct cidr *r = &c->relay_networks.v[i];
		bool v4 = r->net.family == 4;

		cidr_str(r, net, sizeof(net));
		if (r->prefix == 0)
			config_warn(&w, "relay-networks", "relay-networks %s "
			    "covers every %s address: any such client may relay "
			    "through the protected servers", net, v4 ? "IPv4" :
			    "IPv6");
		else if (r->prefix < (v4 ? CONFIG_WARN_PREFIX4 :
		    CONFIG_WARN_PREFIX6))
			config_warn(&w, "relay-networks", "relay-networks %s is "
			    "very large (shorter than /%d): every client in it "
			    "may relay", net, v4 ? CONFIG_WARN_PREFIX4 :
			    CONFIG_WARN_PREFIX6);
	}
	for (i = 0; i < c->never_block.count; i++)
		if (c->never_block.v[i].prefix == 0)
			config_warn(&w, "never-block", "never-block %s covers "
			    "every IPv%d address: none of them is ever blocked",
			    cidr_str(&c->never_block.v[i], net, sizeof(net)),
			    c->never_block.v[i].net.family);
	if (c->starttls == CONFIG_STARTTLS_ALLOW)
		config_warn(&w, "starttls", "starttls allow%s: a client outside "
		    "relay-networks may start TLS wherever a protected server "
		    "offers STARTTLS, and encrypted sessions cannot be inspected "
		    "(their relay attempts pass unseen); this check cannot know "
		    "whether your servers offer it: if they do, consider "
		    "starttls strip or deny",
		    config_key_line(c, "starttls") == 0 ? " (the default)" : "");
	return w.n;
}

/* snprintf-style appending: o counts what would have been written. */
struct config_out {
	char *buf;
	size_t len;
	size_t o;
};

static void
config_out(struct config_out *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
config_out(struct config_out *w, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	if (w->o < w->len)
		r = vsnprintf(w->buf + w->o, w->len - w->o, fmt, ap);
	else
		r = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (r > 0)
		w->o += (size_t)r;
}

/* One entry of a list key, " NAME". */
static void
config_format_entry(struct config_out *w, const struct config *c,
    const char *key, uint32_t i)
{
	const struct cidr_set *set = config_list_networks(c, key);
	char net[RG_ADDRSTRLEN + 8];

	if (strcmp(key, "local-domains") == 0)
		config_out(w, " %s", c->local_domains.names[i]);
	else if (set != NULL)
		config_out(w, " %s", cidr_str(&set->v[i], net, sizeof(net)));
}

/*
 * A list key with its inline entries, then its X-file key; the entries a
 * loaded file added are counted in a comment, not written out (a list of
 * 20,000 domains would not fit one line).
 */
static void
config_format_list(struct config_out *w, const struct config *c,
    const char *key)
{
	const struct config_list_file *f = NULL;
	uint32_t i, n;

	for (i = 0; i < c->nlist_files; i++)
		if (c->list_files[i].key != NULL &&
		    strcmp(c->list_files[i].key, key) == 0)
			f = &c->list_files[i];
	n = config_list_count(c, key);
	if (f != NULL && f->loaded && f->inline_count <= n)
		n = f->inline_count;
	/* An empty list cannot be written as a key (a key needs a value),
	 * so it becomes a comment: parsing it back gives the same empty
	 * default. */
	if (n == 0)
		config_out(w, "# %s (none%s)\n", key, f != NULL ? " inline" :
		    "");
	else {
		config_out(w, "%s", key);
		for (i = 0; i < n; i++)
			config_format_entry(w, c, key, i);
		config_out(w, "\n");
	}
	if (f == NULL)
		return;
	config_out(w, "%s-file %.*s", key, CONFIG_PATH_MAX, f->path);
	if (f->loaded)
		config_out(w, "	# %" PRIu32 " entries added from the file",
		    f->file_count);
	config_out(w, "\n");
}

/* on-block / on-unblock as written, or a comment when not set. */
static void
config_format_command(struct config_out *w, const char *key,
    const struct config_command *cmd)
{
	const char *a = cmd->buf;
	uint32_t i;

	if (cmd->argc == 0) {
		config_out(w, "# %s (none)\n", key);
		return;
	}
	config_out(w, "%s", key);
	for (i = 0; i < cmd->argc; i++, a += strlen(a) + 1)
		config_out(w, " %s", a);
	config_out(w, "\n");
}

size_t
config_format(const struct config *c, char *buf, size_t len)
{
	static const char *modes[] = { "enforce", "monitor" };
	static const char *hooks[] = { "forward", "input" };
	static const char *starttls[] = { "allow", "strip", "deny" };
	static const char *scopes[] = { "smtp", "all" };
	struct config_out w = { buf, len, 0 };
	char d[32];
	uint32_t i;

	if (len > 0)
		buf[0] = '\0';
	config_format_list(&w, c, "local-domains");
	config_format_list(&w, c, "relay-networks");
	config_format_list(&w, c, "never-block");
	config_format_list(&w, c, "servers");
	config_out(&w, "ports");
	for (i = 0; i < c->nports && i < CONFIG_MAX_PORTS; i++)
		config_out(&w, " %u", (unsigned)c->ports[i]);
	if (c->nports == 0)
		config_out(&w, " 25");
	config_out(&w, "\n");
	config_out(&w, "mode %s\n",
	    (unsigned)c->mode < 2 ? modes[c->mode] : "enforce");
	config_out(&w, "block-after %" PRIu32 "\n", c->block_after);
	config_out(&w, "attempt-window %s\n",
	    config_duration_str(c->attempt_window, d, sizeof(d)));
	config_out(&w, "block-for %s\n",
	    config_duration_str(c->block_for, d, sizeof(d)));
	config_out(&w, "block-for-max %s\n",
	    config_duration_str(c->block_for_max, d, sizeof(d)));
	config_out(&w, "offence-memory %s\n", c->offence_memory == 0 ?
	    "forever" : config_duration_str(c->offence_memory, d, sizeof(d)));
	config_out(&w, "hook %s\n",
	    (unsigned)c->hook < 2 ? hooks[c->hook] : "forward");
	/* One or the other, so that the text parses again. */
	if (c->ncapture == 0 && c->queue_first == c->queue_last)
		config_out(&w, "queue %u\n", (unsigned)c->queue_first);
	else if (c->ncapture == 0)
		config_out(&w, "queue %u-%u\n", (unsigned)c->queue_first,
		    (unsigned)c->queue_last);
	if (c->ncapture > 0) {
		config_out(&w, "capture");
		for (i = 0; i < c->ncapture && i < CONFIG_MAX_CAPTURE; i++)
			config_out(&w, " %s", c->capture[i]);
		config_out(&w, "\ncapture-workers %" PRIu32 "\n",
		    c->capture_workers);
		config_out(&w, "capture-block %s\n", c->capture_block ?
		    "yes" : "no");
		config_out(&w, "capture-reset %s\n", c->capture_reset ?
		    "yes" : "no");
		config_out(&w, "capture-immediate %s\n",
		    c->capture_immediate ? "yes" : "no");
		if (c->capture_buffer % (1ULL << 20) == 0)
			config_out(&w, "capture-buffer %" PRIu64 "M\n",
			    c->capture_buffer >> 20);
		else
			config_out(&w, "capture-buffer %" PRIu64 "\n",
			    c->capture_buffer);
	}
	config_out(&w, "starttls %s\n",
	    (unsigned)c->starttls < 3 ? starttls[c->starttls] : "allow");
	config_out(&w, "offload %s\n", c->offload ? "yes" : "no");
	if (c->offload_mask == c->offload_mark)
		config_out(&w, "offload-mark 0x%08" PRIx32 "\n",
		    c->offload_mark);
	else
		config_out(&w, "offload-mark 0x%08" PRIx32 "/0x%08" PRIx32
		    "\n", c->offload_mark, c->offload_mask);
	config_out(&w, "block-scope %s\n",
	    (unsigned)c->block_scope < 2 ? scopes[c->block_scope] : "smtp");
	config_out(&w, "server-software %s\n",
	    smtp_software_name((enum smtp_software)c->server_software) != NULL ?
	    smtp_software_name((enum smtp_software)c->server_software) : "any");
	config_out(&w, "min-ttl %u\n", (unsigned)c->min_ttl);
	config_out(&w, "max-flows %" PRIu32 "\n", c->max_flows);
	/* The largest exact binary unit keeps the value readable. */
	if (c->flow_memory != 0 && c->flow_memory % (1ULL << 30) == 0)
		config_out(&w, "flow-memory %" PRIu64 "G\n",
		    c->flow_memory >> 30);
	else if (c->flow_memory != 0 && c->flow_memory % (1ULL << 20) == 0)
		config_out(&w, "flow-memory %" PRIu64 "M\n",
		    c->flow_memory >> 20);
	else if (c->flow_memory != 0 && c->flow_memory % (1ULL << 10) == 0)
		config_out(&w, "flow-memory %" PRIu64 "K\n",
		    c->flow_memory >> 10);
	else
		config_out(&w, "flow-memory %" PRIu64 "\n", c->flow_memory);
	config_out(&w, "state-db %.*s\n", CONFIG_PATH_MAX, c->state_db);
	if (c->event_log[0] != '\0')
		config_out(&w, "event-log %.*s\n", CONFIG_PATH_MAX,
		    c->event_log);
	if (c->metrics_file[0] != '\0')
		config_out(&w, "metrics-file %.*s\n", CONFIG_PATH_MAX,
		    c->metrics_file);
	config_out(&w, "metrics-interval %s\n", config_duration_str(
	    c->metrics_interval, d, sizeof(d)));
	config_out(&w, "control-socket %.*s\n", CONFIG_PATH_MAX,
	    c->control_socket);
	config_format_command(&w, "on-block", &c->on_block);
	config_format_command(&w, "on-unblock", &c->on_unblock);
	config_out(&w, "hook-timeout %s\n", config_duration_str(
	    c->hook_timeout, d, sizeof(d)));
	if (c->dnsbl_zone[0] != '\0') {
		config_out(&w, "dnsbl-zone %.*s\n", CONFIG_PATH_MAX,
		    c->dnsbl_zone);
		config_out(&w, "dnsbl-format rbldnsd\n");
		config_out(&w, "dnsbl-ttl %s\n",
		    config_duration_str(c->dnsbl_ttl, d, sizeof(d)));
		config_out(&w, "dnsbl-ns");
		for (i = 0; i < c->dnsbl_nns && i < CONFIG_DNSBL_MAX_NS; i++)
			config_out(&w, " %s", c->dnsbl_ns[i]);
		config_out(&w, "\ndnsbl-contact %s\n", c->dnsbl_contact);
	}
	return w.o;
}
