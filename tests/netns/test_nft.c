/*
 * test_nft.c — daemon/nft_*.c against the real kernel.  Run it as root in
 * a network namespace of its own (tests/netns/run does that): it creates
 * table inet relayguard through nft.h and reads everything back both
 * through nft_block_list() and, independently, through `nft -j list`
 * (running nft(8) here only to read; the daemon never runs it).
 *
 *	test_nft			the whole suite
 *	test_nft setup forward|input [smtp|all]
 *					set up (for the functional checks;
 *					block scope all unless smtp)
 *	test_nft block PREFIX [MS]	add one block (timeout MS, 0: none)
 *	test_nft unblock PREFIX		delete one block
 *	test_nft unqueue		remove the queue chains
 *
 * Output: one "PASS name" / "FAIL name: why" line per check.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../../daemon/nft.h"

static int passed, failed;
static char err[512];

static void	 check(int, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
		passed++;
		return;
	}
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed++;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Run a command and return its standard output (NULL on failure). */
static char *
run(const char *cmd)
{
	FILE *fp;
	char *out = NULL;
	size_t len = 0, n;
	char buf[65536];
	char *nout;

	if ((fp = popen(cmd, "r")) == NULL)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		if ((nout = realloc(out, len + n + 1)) == NULL) {
			free(out);
			pclose(fp);
			return NULL;
		}
		out = nout;
		memcpy(out + len, buf, n);
		len += n;
		out[len] = '\0';
	}
	if (pclose(fp) != 0) {
		free(out);
		return NULL;
	}
	if (out == NULL)
		out = strdup("");
	return out;
}

/* `nft -j list table inet relayguard` parsed; NULL if it fails. */
static json_t *
nft_json(void)
{
	json_error_t jerr;
	json_t *j;
	char *out;

	if ((out = run("nft -j list table inet relayguard 2>/dev/null")) ==
	    NULL)
		return NULL;
	j = json_loads(out, 0, &jerr);
	free(out);
	return j;
}

/* The array entry {"KIND": {... "name": NAME ...}}, or NULL. */
static json_t *
json_find(json_t *root, const char *kind, const char *name)
{
	json_t *arr = json_object_get(root, "nftables"), *it, *o;
	size_t i;

	json_array_foreach(arr, i, it) {
		o = json_object_get(it, kind);
		if (o != NULL && json_is_string(json_object_get(o, "name")) &&
		    strcmp(json_string_value(json_object_get(o, "name")),
		    name) == 0)
			return o;
	}
	return NULL;
}

/* The rules of a chain, each as compact JSON text, into out[]. */
static size_t
json_rules(json_t *root, const char *chain, char out[][512], size_t max)
{
	json_t *arr = json_object_get(root, "nftables"), *it, *r;
	size_t i, n = 0;
	char *s;

	json_array_foreach(arr, i, it) {
		r = json_object_get(it, "rule");
		if (r == NULL || strcmp(json_string_value(json_object_get(r,
		    "chain")), chain) != 0)
			continue;
		if (n == max)
			break;
		s = json_dumps(json_object_get(r, "expr"), JSON_COMPACT);
		snprintf(out[n++], 512, "%s", s ? s : "");
		free(s);
	}
	return n;
}

static const char *
jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static int
chain_ok(json_t *root, const char *name, const char *hook, int prio)
{
	json_t *c = json_find(root, "chain", name);

	return c != NULL && strcmp(jstr(c, "hook"), hook) == 0 &&
	    json_integer_value(json_object_get(c, "prio")) == prio &&
	    strcmp(jstr(c, "type"), "filter") == 0 &&
	    strcmp(jstr(c, "policy"), "accept") == 0;
}

static int
set_flags_ok(json_t *root, const char *name, const char *type,
    const char *want)
{
	json_t *s = json_find(root, "set", name), *f;
	char *flags;
	int ok;

	if (s == NULL || strcmp(jstr(s, "type"), type) != 0)
		return 0;
	f = json_object_get(s, "flags");
	flags = json_dumps(f, JSON_COMPACT);
	ok = flags != NULL && strcmp(flags, want) == 0;
	free(flags);
	return ok;
}

static int
set_ok(json_t *root, const char *name, const char *type)
{
	return set_flags_ok(root, name, type, "[\"interval\",\"timeout\"]");
}

/*
 * Find element TEXT ("192.0.2.0/24" or "198.51.100.7") in a set of the
 * parsed ruleset; fill its timeout and expires (seconds).  1 if found.
 */
static int
json_elem(json_t *root, const char *set, const char *text, long *timeout,
    long *expires)
{
	json_t *s = json_find(root, "set", set), *el, *e, *val;
	char buf[80];
	size_t i;

	if (s == NULL)
		return 0;
	json_array_foreach(json_object_get(s, "elem"), i, el) {
		e = json_object_get(el, "elem");
		val = e != NULL ? json_object_get(e, "val") : el;
		if (json_is_string(val))
			snprintf(buf, sizeof(buf), "%s", json_string_value(val));
		else if (json_object_get(val, "prefix") != NULL) {
			json_t *p = json_object_get(val, "prefix");

			snprintf(buf, sizeof(buf), "%s/%lld", jstr(p, "addr"),
			    (long long)json_integer_value(json_object_get(p,
			    "len")));
		} else
			continue;
		if (strcmp(buf, text) != 0)
			continue;
		*timeout = e ? (long)json_integer_value(json_object_get(e,
		    "timeout")) : 0;
		*expires = e ? (long)json_integer_value(json_object_get(e,
		    "expires")) : 0;
		return 1;
	}
	return 0;
}

static size_t
json_nelems(json_t *root, const char *set)
{
	json_t *s = json_find(root, "set", set);

	return s ? json_array_size(json_object_get(s, "elem")) : 0;
}

/* --- helpers over nft.h -------------------------------------------------- */

struct collected {
	struct nft_block *v;
	size_t		 n, cap;
};

static int
collect_cb(const struct nft_block *b, void *arg)
{
	struct collected *c = arg;
	struct nft_block *nv;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		if ((nv = realloc(c->v, c->cap * sizeof(*nv))) == NULL)
			return -1;
		c->v = nv;
	}
	c->v[c->n++] = *b;
	return 0;
}

static const struct nft_block *
find_block(const struct collected *c, const char *text)
{
	char buf[80];
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(cidr_str(&c->v[i].pfx, buf, sizeof(buf)),
		    text) == 0)
			return &c->v[i];
	return NULL;
}

static struct nft_block
blk(const char *text, uint64_t timeout_ms)
{
	struct nft_block b;

	memset(&b, 0, sizeof(b));
	if (!cidr_parse(text, strlen(text), &b.pfx, NULL)) {
		fprintf(stderr, "bad test prefix %s\n", text);
		exit(2);
	}
	b.timeout_ms = timeout_ms;
	return b;
}

static struct nft_setup_params
params(enum nft_hook hook)
{
	struct nft_setup_params p;

	memset(&p, 0, sizeof(p));
	p.hook = hook;
	p.ports[0] = 25;
	p.ports[1] = 587;
	p.nports = 2;
	p.queue_first = p.queue_last = 0;
	p.bypass = true;
	return p;
}

static int
list_all(struct nft_ctx *ctx, struct collected *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
	return nft_block_list(ctx, AF_UNSPEC, collect_cb, c, err, sizeof(err));
}

/* --- the suite ----------------------------------------------------------- */

static void
test_setup(struct nft_ctx *ctx)
{
	struct nft_setup_params p = params(NFT_HOOK_FORWARD);
	const char *expect = getenv("RG_EXPECT_QUEUE");
	char rules[16][512], *txt;
	json_t *root;
	size_t n;
	int r;

	r = nft_setup(ctx, &p, err, sizeof(err));
	check(r == 0, "setup forward", "%s", err);
	printf("# queue mechanism: %s\n# %s\n",
	    nft_queue_mechanism_name(nft_queue_mechanism(ctx)),
	    nft_queue_note(ctx));
	if (expect != NULL && *expect != '\0')
		check(strcmp(nft_queue_mechanism_name(nft_queue_mechanism(ctx)),
		    expect) == 0, "queue mechanism as probed",
		    "got %s, kernel probe says %s",
		    nft_queue_mechanism_name(nft_queue_mechanism(ctx)), expect);
	if (nft_queue_mechanism(ctx) == NFT_QUEUE_COMPAT)
		check(strstr(nft_queue_note(ctx), "native queue expression "
		    "refused (add rule inspect: tcp dport 25 queue (native queue "
		    "expression): No such file or directory)") != NULL,
		    "native queue attempted first", "note: %s",
		    nft_queue_note(ctx));

	root = nft_json();
	check(root != NULL, "nft -j list table", "nft could not list it");
	if (root == NULL)
		return;
	check(set_ok(root, "blocked4", "ipv4_addr"), "set blocked4",
	    "missing or wrong type/flags");
	check(set_ok(root, "blocked6", "ipv6_addr"), "set blocked6",
	    "missing or wrong type/flags");
	check(chain_ok(root, "block", "forward", -10), "chain block",
	    "missing or wrong hook/prio");
	check(chain_ok(root, "inspect", "forward", 0), "chain inspect",
	    "missing or wrong hook/prio");
	check(json_find(root, "chain", "inspect_out") == NULL,
	    "no inspect_out on forward", "present");
	n = json_rules(root, "block", rules, 16);
	check(n == 2 && strstr(rules[0], "{\"payload\":{\"protocol\":\"ip\","
	    "\"field\":\"saddr\"}},\"right\":\"@blocked4\"") != NULL &&
	    strstr(rules[0], "{\"drop\":null}") != NULL &&
	    strstr(rules[1], "{\"payload\":{\"protocol\":\"ip6\","
	    "\"field\":\"saddr\"}},\"right\":\"@blocked6\"") != NULL &&
	    strstr(rules[1], "{\"drop\":null}") != NULL,
	    "drop rules", "%zu rules: %s | %s", n, n > 0 ? rules[0] : "",
	    n > 1 ? rules[1] : "");
	n = json_rules(root, "inspect", rules, 16);
	check(n == 4 && strstr(rules[0], "\"field\":\"dport\"}},\"right\":25")
	    && strstr(rules[1], "\"field\":\"sport\"}},\"right\":25") &&
	    strstr(rules[2], "\"field\":\"dport\"}},\"right\":587") &&
	    strstr(rules[3], "\"field\":\"sport\"}},\"right\":587"),
	    "queue rules match tcp ports both ways", "%zu rules: %s", n,
	    n > 0 ? rules[0] : "");
	if (nft_queue_mechanism(ctx) == NFT_QUEUE_COMPAT)
		check(n == 4 && strstr(rules[3],
		    "{\"xt\":{\"type\":\"target\",\"name\":\"NFQUEUE\"}}"),
		    "queue rules use xt NFQUEUE", "%s", n ? rules[n - 1] : "");
	json_decref(root);
	/* The text form decodes the target's info: number and bypass. */
	txt = run("nft list chain inet relayguard inspect 2>/dev/null");
	check(txt != NULL && strstr(txt, "tcp dport 25 counter packets 0 "
	    "bytes 0 queue num 0 bypass\n") != NULL && strstr(txt,
	    "tcp sport 587 counter packets 0 bytes 0 queue num 0 bypass\n")
	    != NULL, "queue num 0 bypass", "%s", txt ? txt : "(nft failed)");
	free(txt);
}

static void
test_queue_range(struct nft_ctx *ctx)
{
	struct nft_setup_params p = params(NFT_HOOK_FORWARD);
	char *txt;

	p.queue_first = 2;
	p.queue_last = 5;
	p.nports = 1;
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0, "setup queue 2-5",
	    "%s", err);
	txt = run("nft list chain inet relayguard inspect 2>/dev/null");
	check(txt != NULL && strstr(txt, "tcp dport 25 counter packets 0 "
	    "bytes 0 queue num 2-5 bypass\n") != NULL &&
	    strstr(txt, "fanout") == NULL, "queue range hashes by flow",
	    "%s", txt ? txt : "(nft failed)");
	free(txt);
	p.cpu_fanout = true;
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0,
	    "setup queue 2-5 fanout", "%s", err);
	txt = run("nft list chain inet relayguard inspect 2>/dev/null");
	check(txt != NULL && strstr(txt, "queue num 2-5 bypass,fanout\n") !=
	    NULL, "queue range with cpu fanout", "%s", txt ? txt : "");
	free(txt);
	/* Back to the standard setup for what follows. */
	p = params(NFT_HOOK_FORWARD);
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0, "setup again", "%s",
	    err);
}

/* block-scope smtp: one drop rule per family and port, the port tested
 * before the set; back to every protocol, both in one transaction each. */
static void
test_block_scope(struct nft_ctx *ctx)
{
	struct nft_setup_params p = params(NFT_HOOK_FORWARD);
	char *txt;
	size_t i;

	p.block_scope = NFT_BLOCK_PORTS;
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0,
	    "setup block scope ports", "%s", err);
	txt = run("nft list chain inet relayguard block 2>/dev/null");
	check(txt != NULL &&
	    strstr(txt, "tcp dport 25 ip saddr @blocked4 counter") != NULL &&
	    strstr(txt, "tcp dport 587 ip saddr @blocked4 counter") != NULL &&
	    strstr(txt, "tcp dport 25 ip6 saddr @blocked6 counter") != NULL &&
	    strstr(txt, "tcp dport 587 ip6 saddr @blocked6 counter") != NULL &&
	    strstr(txt, "\t\tip saddr @blocked4") == NULL,
	    "block scope ports: tcp dport P saddr @set drop per port",
	    "%s", txt ? txt : "(nft failed)");
	free(txt);
	/* Every one of the most ports a configuration may list. */
	for (i = 0; i < NFT_PORTS_MAX; i++)
		p.ports[i] = (uint16_t)(2000 + i);
	p.nports = NFT_PORTS_MAX;
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0,
	    "setup block scope ports, 64 ports", "%s", err);
	txt = run("nft list chain inet relayguard block 2>/dev/null");
	check(txt != NULL &&
	    strstr(txt, "tcp dport 2000 ip saddr @blocked4") != NULL &&
	    strstr(txt, "tcp dport 2063 ip6 saddr @blocked6") != NULL,
	    "block scope ports: the 64th port has its rules", "%s",
	    txt ? txt : "(nft failed)");
	free(txt);
	p.block_scope = 7;
	check(nft_setup(ctx, &p, err, sizeof(err)) == -1 && errno == EINVAL,
	    "block scope: bad value refused", "%s", err);
	p = params(NFT_HOOK_FORWARD);
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0,
	    "setup block scope all", "%s", err);
	txt = run("nft list chain inet relayguard block 2>/dev/null");
	check(txt != NULL && strstr(txt, "dport") == NULL &&
	    strstr(txt, "ip saddr @blocked4 counter") != NULL &&
	    strstr(txt, "ip6 saddr @blocked6 counter") != NULL,
	    "block scope all: every protocol dropped again", "%s",
	    txt ? txt : "(nft failed)");
	free(txt);
}

static void
test_blocks(struct nft_ctx *ctx)
{
	struct nft_block v[6], extra[2];
	struct collected c = { 0 };
	const struct nft_block *b;
	long to = 0, ex = 0;
	json_t *root;
	int r;

	v[0] = blk("198.51.100.7", 3600 * 1000);
	v[1] = blk("192.0.2.0/24", 7200 * 1000);
	v[2] = blk("2001:db8::1", 1800 * 1000);
	v[3] = blk("2001:db8:1::/48", 0);
	v[4] = blk("255.255.255.255/32", 600 * 1000);
	v[5] = blk("ffff::/16", 900 * 1000);
	r = nft_block_add(ctx, v, 6, err, sizeof(err));
	check(r == 0, "add 6 blocks", "%s", err);

	root = nft_json();
	check(root != NULL && json_elem(root, "blocked4", "198.51.100.7", &to,
	    &ex) && to == 3600 && ex <= 3600 && ex >= 3590,
	    "kernel: 198.51.100.7 timeout 1h", "timeout %ld expires %ld", to,
	    ex);
	check(root != NULL && json_elem(root, "blocked4", "192.0.2.0/24", &to,
	    &ex) && to == 7200 && ex <= 7200 && ex >= 7190,
	    "kernel: 192.0.2.0/24 is an interval, timeout 2h",
	    "timeout %ld expires %ld", to, ex);
	check(root != NULL && json_elem(root, "blocked6", "2001:db8::1", &to,
	    &ex) && to == 1800, "kernel: 2001:db8::1 timeout 30m",
	    "timeout %ld", to);
	check(root != NULL && json_elem(root, "blocked6", "2001:db8:1::/48",
	    &to, &ex) && to == 0, "kernel: 2001:db8:1::/48 without timeout",
	    "timeout %ld", to);
	check(root != NULL && json_nelems(root, "blocked4") == 3 &&
	    json_nelems(root, "blocked6") == 3, "kernel: element counts",
	    "%zu %zu", root ? json_nelems(root, "blocked4") : 0,
	    root ? json_nelems(root, "blocked6") : 0);
	json_decref(root);

	r = list_all(ctx, &c);
	check(r == 0 && c.n == 6, "list returns 6", "r=%d n=%zu %s", r, c.n,
	    err);
	b = find_block(&c, "198.51.100.7/32");
	check(b && b->timeout_ms == 3600000 && b->expires_ms <= 3600000 &&
	    b->expires_ms > 3590000, "list: 198.51.100.7/32 timeout+expiry",
	    "%p", (const void *)b);
	b = find_block(&c, "192.0.2.0/24");
	check(b && b->timeout_ms == 7200000, "list: 192.0.2.0/24 merged",
	    "%p", (const void *)b);
	b = find_block(&c, "2001:db8:1::/48");
	check(b && b->timeout_ms == 0 && b->expires_ms == 0,
	    "list: 2001:db8:1::/48 permanent", "%p", (const void *)b);
	b = find_block(&c, "255.255.255.255/32");
	check(b && b->timeout_ms == 600000, "list: top of IPv4 space",
	    "%p", (const void *)b);
	b = find_block(&c, "ffff::/16");
	check(b && b->timeout_ms == 900000, "list: top of IPv6 space",
	    "%p", (const void *)b);
	check(find_block(&c, "2001:db8::1/128") != NULL, "list: /128", "-");

	/* Re-adding refreshes the timeout (kernel update semantics). */
	extra[0] = blk("198.51.100.7", 3 * 3600 * 1000);
	r = nft_block_add(ctx, extra, 1, err, sizeof(err));
	list_all(ctx, &c);
	b = find_block(&c, "198.51.100.7/32");
	check(r == 0 && b && b->timeout_ms == 3 * 3600 * 1000 &&
	    b->expires_ms > 3 * 3600 * 1000 - 10000,
	    "re-add updates the timeout", "r=%d %s timeout %llu", r, err,
	    b ? (unsigned long long)b->timeout_ms : 0ULL);

	/* An overlapping prefix fails the batch, and the whole batch. */
	extra[0] = blk("203.0.113.9", 60000);
	extra[1] = blk("192.0.2.5", 60000);
	r = nft_block_add(ctx, extra, 2, err, sizeof(err));
	check(r == -1 && errno == EEXIST && strstr(err, "blocked4") != NULL,
	    "overlap refused with EEXIST", "r=%d errno=%d %s", r, errno, err);
	list_all(ctx, &c);
	check(c.n == 6 && find_block(&c, "203.0.113.9/32") == NULL,
	    "failed batch applied nothing", "n=%zu", c.n);

	/* Host bits set: refused before the kernel sees it. */
	extra[0] = blk("192.0.2.0/24", 1000);
	extra[0].pfx.net.bytes[3] = 1;
	r = nft_block_add(ctx, extra, 1, err, sizeof(err));
	check(r == -1 && errno == EINVAL, "host bits refused", "r=%d %s", r,
	    err);

	/* Delete. */
	extra[0] = blk("192.0.2.0/24", 0);
	r = nft_block_del(ctx, extra, 1, err, sizeof(err));
	list_all(ctx, &c);
	check(r == 0 && c.n == 5 && find_block(&c, "192.0.2.0/24") == NULL,
	    "delete prefix", "r=%d n=%zu %s", r, c.n, err);
	r = nft_block_del(ctx, extra, 1, err, sizeof(err));
	check(r == -1 && errno == ENOENT && strstr(err, "delete elements") !=
	    NULL, "delete missing: ENOENT named", "r=%d %s", r, err);
	extra[0] = blk("2001:db8::1", 0);
	extra[1] = blk("ffff::/16", 0);
	r = nft_block_del(ctx, extra, 2, err, sizeof(err));
	list_all(ctx, &c);
	check(r == 0 && c.n == 3 && find_block(&c, "ffff::/16") == NULL,
	    "delete two /128 and top", "r=%d n=%zu %s", r, c.n, err);
	free(c.v);
}

static void
test_adopt(struct nft_ctx **ctxp)
{
	struct nft_setup_params p;
	struct collected c = { 0 };
	char rules[16][512];
	json_t *root;
	size_t n;

	/* A restarted daemon: a new socket, the same table. */
	nft_close(*ctxp);
	*ctxp = nft_open(err, sizeof(err));
	check(*ctxp != NULL, "reopen", "%s", err);
	if (*ctxp == NULL)
		exit(1);
	p = params(NFT_HOOK_FORWARD);
	check(nft_setup(*ctxp, &p, err, sizeof(err)) == 0, "adopt: setup",
	    "%s", err);
	check(list_all(*ctxp, &c) == 0 && c.n == 3 &&
	    find_block(&c, "198.51.100.7/32") != NULL,
	    "adopt: elements kept", "n=%zu", c.n);
	root = nft_json();
	n = root ? json_rules(root, "block", rules, 16) : 0;
	check(n == 2, "adopt: drop rules not duplicated", "%zu", n);
	n = root ? json_rules(root, "inspect", rules, 16) : 0;
	check(n == 4, "adopt: queue rules not duplicated", "%zu", n);
	json_decref(root);

	/* The configuration changes to the input hook. */
	p = params(NFT_HOOK_INPUT);
	check(nft_setup(*ctxp, &p, err, sizeof(err)) == 0, "setup input",
	    "%s", err);
	root = nft_json();
	check(root && chain_ok(root, "block", "input", -10) &&
	    chain_ok(root, "inspect", "input", 0) &&
	    chain_ok(root, "inspect_out", "output", 0), "input hook chains",
	    "wrong");
	n = root ? json_rules(root, "inspect", rules, 16) : 0;
	check(n == 2 && strstr(rules[0], "\"dport\"}},\"right\":25") &&
	    strstr(rules[1], "\"dport\"}},\"right\":587"),
	    "input: queue dport", "%zu", n);
	n = root ? json_rules(root, "inspect_out", rules, 16) : 0;
	check(n == 2 && strstr(rules[0], "\"sport\"}},\"right\":25") &&
	    strstr(rules[1], "\"sport\"}},\"right\":587"),
	    "output: queue sport", "%zu", n);
	json_decref(root);
	check(list_all(*ctxp, &c) == 0 && c.n == 3, "input: elements kept",
	    "n=%zu", c.n);

	/* Back to forward: inspect_out goes. */
	p = params(NFT_HOOK_FORWARD);
	check(nft_setup(*ctxp, &p, err, sizeof(err)) == 0, "setup forward "
	    "again", "%s", err);
	root = nft_json();
	check(root && json_find(root, "chain", "inspect_out") == NULL &&
	    chain_ok(root, "block", "forward", -10), "forward: inspect_out gone",
	    "-");
	json_decref(root);
	free(c.v);
}

static void
test_unqueue(struct nft_ctx *ctx)
{
	struct collected c = { 0 };
	char rules[16][512];
	json_t *root;

	check(nft_unqueue(ctx, err, sizeof(err)) == 0, "unqueue", "%s", err);
	root = nft_json();
	check(root && json_find(root, "chain", "inspect") == NULL &&
	    chain_ok(root, "block", "forward", -10) &&
	    json_rules(root, "block", rules, 16) == 2 &&
	    set_ok(root, "blocked4", "ipv4_addr") &&
	    set_ok(root, "blocked6", "ipv6_addr"),
	    "unqueue keeps table, sets, drop chain", "-");
	json_decref(root);
	check(list_all(ctx, &c) == 0 && c.n == 3, "unqueue keeps elements",
	    "n=%zu", c.n);
	check(nft_unqueue(ctx, err, sizeof(err)) == 0, "unqueue twice", "%s",
	    err);
	check(nft_queue_mechanism(ctx) == NFT_QUEUE_NONE, "mechanism none",
	    "-");
	free(c.v);
}

static int
count_cb(const struct nft_block *b, void *arg)
{
	(void)b;
	(*(size_t *)arg)++;
	return 0;
}

static void
test_bulk(struct nft_ctx *ctx)
{
	const size_t N = 100000;
	struct nft_block *v;
	struct collected c = { 0 };
	double t0, t1;
	size_t i, n = 0;
	json_t *root;
	int r;

	if ((v = calloc(N, sizeof(*v))) == NULL)
		exit(2);
	/* 2001:db8:ab::/64 holds plenty of documentation addresses. */
	for (i = 0; i < N; i++) {
		v[i] = blk("2001:db8:ab::", 0);
		v[i].pfx.net.bytes[12] = (uint8_t)((i + 1) >> 24);
		v[i].pfx.net.bytes[13] = (uint8_t)((i + 1) >> 16);
		v[i].pfx.net.bytes[14] = (uint8_t)((i + 1) >> 8);
		v[i].pfx.net.bytes[15] = (uint8_t)(i + 1);
		v[i].timeout_ms = 3600 * 1000 + i;
	}
	t0 = now_ms();
	r = nft_block_add(ctx, v, N, err, sizeof(err));
	t1 = now_ms();
	check(r == 0, "bulk add 100000 in one batch", "%s", err);
	printf("# 100000 IPv6 blocks (200000 interval elements) loaded in "
	    "%.0f ms\n", t1 - t0);
	t0 = now_ms();
	r = nft_block_list(ctx, 6, count_cb, &n, err, sizeof(err));
	t1 = now_ms();
	check(r == 0 && n == N + 1, "bulk list", "r=%d n=%zu %s", r, n, err);
	printf("# listed %zu IPv6 blocks in %.0f ms\n", n, t1 - t0);
	root = nft_json();
	check(root != NULL && json_nelems(root, "blocked6") == N + 1,
	    "bulk: nft sees 100001 in blocked6", "%zu",
	    root ? json_nelems(root, "blocked6") : 0);
	json_decref(root);

	/* Survives adoption (restart). */
	{
		struct nft_setup_params p = params(NFT_HOOK_FORWARD);

		n = 0;
		check(nft_setup(ctx, &p, err, sizeof(err)) == 0 &&
		    nft_block_list(ctx, 6, count_cb, &n, err,
		    sizeof(err)) == 0 && n == N + 1, "bulk: kept on re-setup",
		    "n=%zu %s", n, err);
	}
	t0 = now_ms();
	r = nft_block_del(ctx, v, N, err, sizeof(err));
	t1 = now_ms();
	check(r == 0, "bulk delete 100000 in one batch", "%s", err);
	printf("# 100000 IPv6 blocks deleted in %.0f ms\n", t1 - t0);
	check(list_all(ctx, &c) == 0 && c.n == 3, "bulk: back to 3", "n=%zu",
	    c.n);
	free(c.v);
	free(v);
}

/* The servers sets: filled, merged, replaced, and the rules using them. */
static void
test_servers(struct nft_ctx *ctx)
{
	struct nft_setup_params p = params(NFT_HOOK_FORWARD);
	struct cidr sv[5];
	json_t *root;
	long to, ex;
	char *txt;

	sv[0] = blk("198.51.100.25", 0).pfx;
	sv[1] = blk("198.51.100.16/28", 0).pfx;	/* covers sv[0]: merged */
	sv[2] = blk("203.0.113.7", 0).pfx;
	sv[3] = blk("2001:db8:2::25", 0).pfx;
	sv[4] = blk("2001:db8:2::24", 0).pfx;	/* adjacent: one range */
	p.servers = sv;
	p.nservers = 5;
	p.nports = 1;
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0, "setup with servers",
	    "%s", err);
	root = nft_json();
	check(root != NULL && set_flags_ok(root, "servers4", "ipv4_addr",
	    "[\"interval\"]") && set_flags_ok(root, "servers6", "ipv6_addr",
	    "[\"interval\"]"), "sets servers4 servers6",
	    "missing or wrong type/flags");
	json_decref(root);
	txt = run("nft list set inet relayguard servers4 2>/dev/null");
	check(txt != NULL && strstr(txt, "elements = { 198.51.100.16/28, "
	    "203.0.113.7 }") != NULL, "servers4 holds the merged prefixes",
	    "%s", txt ? txt : "");
	free(txt);
	txt = run("nft list set inet relayguard servers6 2>/dev/null");
	check(txt != NULL && strstr(txt, "2001:db8:2::24/127") != NULL,
	    "servers6 merges adjacent hosts", "%s", txt ? txt : "");
	free(txt);
	txt = run("nft list chain inet relayguard inspect 2>/dev/null");
	check(txt != NULL &&
	    strstr(txt, "ip daddr @servers4 tcp dport 25 counter") != NULL &&
	    strstr(txt, "ip saddr @servers4 tcp sport 25 counter") != NULL &&
	    strstr(txt, "ip6 daddr @servers6 tcp dport 25 counter") != NULL &&
	    strstr(txt, "ip6 saddr @servers6 tcp sport 25 counter") != NULL,
	    "queue rules look the servers up", "%s", txt ? txt : "");
	free(txt);

	/* A reload replaces the servers: nothing of the old list stays. */
	sv[0] = blk("192.0.2.99", 0).pfx;
	p.nservers = 1;
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0, "setup new servers",
	    "%s", err);
	root = nft_json();
	check(root != NULL && json_nelems(root, "servers4") == 1 &&
	    json_elem(root, "servers4", "192.0.2.99", &to, &ex) &&
	    json_nelems(root, "servers6") == 0, "servers replaced on reload",
	    "%zu/%zu elements", root ? json_nelems(root, "servers4") : 0,
	    root ? json_nelems(root, "servers6") : 0);
	json_decref(root);

	/* Input hook: the host's servers on input, their replies on output. */
	p.hook = NFT_HOOK_INPUT;
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0,
	    "setup input with servers", "%s", err);
	txt = run("nft list table inet relayguard 2>/dev/null");
	check(txt != NULL &&
	    strstr(txt, "ip daddr @servers4 tcp dport 25 counter") != NULL &&
	    strstr(txt, "ip saddr @servers4 tcp sport 25 counter") != NULL &&
	    strstr(txt, "ip6 saddr @servers6 tcp sport 25 counter") != NULL &&
	    strstr(txt, "ip daddr @servers4 tcp sport") == NULL,
	    "input and output rules look the servers up", "%s",
	    txt ? txt : "");
	free(txt);

	/* No servers: every address again, and the sets are emptied. */
	p = params(NFT_HOOK_FORWARD);
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0,
	    "setup without servers", "%s", err);
	root = nft_json();
	check(root != NULL && json_nelems(root, "servers4") == 0,
	    "servers emptied", "%zu", root ? json_nelems(root, "servers4") :
	    0);
	json_decref(root);
	txt = run("nft list chain inet relayguard inspect 2>/dev/null");
	check(txt != NULL && strstr(txt, "@servers") == NULL &&
	    strstr(txt, "tcp dport 25 counter") != NULL,
	    "no servers: every address queued", "%s", txt ? txt : "");
	free(txt);

	/* Thousands of servers: one transaction, one set (the rules do one
	 * lookup whatever its size). */
	{
		struct cidr *many = calloc(10000, sizeof(*many));
		double t0, t1;
		size_t i;

		check(many != NULL, "alloc 10000 servers", "out of memory");
		if (many == NULL)
			return;
		for (i = 0; i < 10000; i++) {
			char a[64];

			/* Every other address: no two merge. */
			snprintf(a, sizeof(a), "2001:db8:2::%zx:%zx", i / 256 + 1,
			    (i % 256) * 2);
			many[i] = blk(a, 0).pfx;
		}
		p = params(NFT_HOOK_FORWARD);
		p.servers = many;
		p.nservers = 10000;
		t0 = now_ms();
		check(nft_setup(ctx, &p, err, sizeof(err)) == 0,
		    "setup with 10000 servers", "%s", err);
		t1 = now_ms();
		printf("# 10000 IPv6 servers loaded in %.0f ms\n", t1 - t0);
		root = nft_json();
		check(root != NULL && json_nelems(root, "servers6") == 10000,
		    "servers6 holds 10000", "%zu", root ?
		    json_nelems(root, "servers6") : 0);
		json_decref(root);
		free(many);
	}

	/* A bad prefix is refused before anything is sent. */
	sv[0] = blk("192.0.2.99", 0).pfx;
	sv[0].prefix = 8;
	p.servers = sv;
	p.nservers = 1;
	check(nft_setup(ctx, &p, err, sizeof(err)) == -1 &&
	    strstr(err, "server 0: bad prefix") != NULL,
	    "bad server prefix refused", "%s", err);
	p = params(NFT_HOOK_FORWARD);
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0, "setup again", "%s",
	    err);
}

/* txt on one line (a failure's message). */
static char *
flat(char *txt)
{
	char *c;

	for (c = txt; *c != '\0'; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	return txt;
}

/*
 * relay-networks and offload (issue 11): the trusted sets hold the relay
 * networks, their clients are accepted before the queue rules (client
 * address: saddr of dport packets, daddr of sport ones), the ct mark rule
 * comes first, and chain offload moves the packet mark bits to the
 * connection; input adds offload_out; without them none of it is there.
 */
static void
test_trusted_offload(struct nft_ctx *ctx)
{
	struct nft_setup_params p = params(NFT_HOOK_FORWARD);
	struct cidr sv[1], tr[3];
	char rules[16][512], *txt;
	json_t *root;
	size_t n;

	sv[0] = blk("198.51.100.25", 0).pfx;
	tr[0] = blk("192.0.2.0/24", 0).pfx;
	tr[1] = blk("192.0.2.7", 0).pfx;	/* inside tr[0]: merged */
	tr[2] = blk("2001:db8:1::/48", 0).pfx;
	p.servers = sv;
	p.nservers = 1;
	p.trusted = tr;
	p.ntrusted = 3;
	p.nports = 1;
	p.offload_mark = p.offload_mask = 0x20000000;
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0,
	    "setup with trusted and offload", "%s", err);
	root = nft_json();
	check(root != NULL && set_flags_ok(root, "trusted4", "ipv4_addr",
	    "[\"interval\"]") && set_flags_ok(root, "trusted6", "ipv6_addr",
	    "[\"interval\"]") && json_nelems(root, "trusted4") == 1 &&
	    json_nelems(root, "trusted6") == 1, "sets trusted4 trusted6",
	    "missing, wrong type/flags or elements");
	check(root != NULL && chain_ok(root, "offload", "forward", 1),
	    "chain offload", "missing or wrong hook/prio");
	n = root ? json_rules(root, "inspect", rules, 16) : 0;
	check(n == 9 && strstr(rules[0], "\"ct\":{\"key\":\"mark\"}") &&
	    strstr(rules[0], "{\"accept\":null}"), "ct mark rule first",
	    "%zu rules: %s", n, n > 0 ? rules[0] : "");
	json_decref(root);
	txt = run("nft list table inet relayguard 2>/dev/null");
	check(txt != NULL &&
	    strstr(txt, "ct mark & 0x20000000 == 0x20000000 counter packets 0 "
	    "bytes 0 accept") != NULL &&
	    strstr(txt, "ip daddr @servers4 tcp dport 25 ip saddr @trusted4 "
	    "counter packets 0 bytes 0 accept") != NULL &&
	    strstr(txt, "ip saddr @servers4 tcp sport 25 ip daddr @trusted4 "
	    "counter packets 0 bytes 0 accept") != NULL &&
	    strstr(txt, "ip6 daddr @servers6 tcp dport 25 ip6 saddr @trusted6 "
	    "counter packets 0 bytes 0 accept") != NULL &&
	    strstr(txt, "ip6 saddr @servers6 tcp sport 25 ip6 daddr @trusted6 "
	    "counter packets 0 bytes 0 accept") != NULL &&
	    strstr(txt, "meta mark & 0x20000000 == 0x20000000 ct mark set ct "
	    "mark | 0x20000000 meta mark set meta mark & 0xdfffffff "
	    "counter") != NULL &&
	    strstr(txt, "elements = { 192.0.2.0/24 }") != NULL,
	    "trusted and offload rules", "%s", txt ? flat(txt) : "");
	free(txt);

	p.hook = NFT_HOOK_INPUT;
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0,
	    "setup input with trusted and offload", "%s", err);
	root = nft_json();
	check(root != NULL && chain_ok(root, "offload_out", "output", 1) &&
	    chain_ok(root, "offload", "input", 1), "input: offload chains",
	    "missing or wrong hook/prio");
	n = root ? json_rules(root, "inspect_out", rules, 16) : 0;
	check(n == 5 && strstr(rules[0], "\"ct\":{\"key\":\"mark\"}") &&
	    strstr(rules[1], "@trusted4"), "input: inspect_out accepts first",
	    "%zu rules: %s", n, n > 0 ? rules[0] : "");
	json_decref(root);

	/* Without offload or relay networks: none of it. */
	p = params(NFT_HOOK_FORWARD);
	check(nft_setup(ctx, &p, err, sizeof(err)) == 0,
	    "setup without trusted and offload", "%s", err);
	root = nft_json();
	check(root != NULL && json_find(root, "chain", "offload") == NULL &&
	    json_find(root, "chain", "offload_out") == NULL &&
	    json_nelems(root, "trusted4") == 0 &&
	    json_rules(root, "inspect", rules, 16) == 4,
	    "no offload chain, trusted sets emptied", "wrong");
	json_decref(root);
	p.offload_mark = 0x300;
	p.offload_mask = 0x100;
	check(nft_setup(ctx, &p, err, sizeof(err)) == -1 &&
	    strstr(err, "outside its mask") != NULL,
	    "offload mark outside its mask refused", "%s", err);
}

static int
suite(void)
{
	struct nft_ctx *ctx;

	ctx = nft_open(err, sizeof(err));
	check(ctx != NULL, "open", "%s", err);
	if (ctx == NULL)
		return 1;
	test_setup(ctx);
	test_queue_range(ctx);
	test_block_scope(ctx);
	test_blocks(ctx);
	test_adopt(&ctx);
	test_unqueue(ctx);
	test_servers(ctx);
	test_trusted_offload(ctx);
	test_bulk(ctx);
	nft_close(ctx);
	printf("nft: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}

/* Single operations for the functional checks in tests/netns/run. */
static int
command(int argc, char **argv)
{
	struct nft_setup_params p;
	struct nft_ctx *ctx;
	struct nft_block b;
	int r = -1;

	if ((ctx = nft_open(err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (strcmp(argv[1], "setup") == 0 && (argc == 3 || argc == 4)) {
		p = params(strcmp(argv[2], "input") == 0 ? NFT_HOOK_INPUT :
		    NFT_HOOK_FORWARD);
		if (argc == 4)
			p.block_scope = strcmp(argv[3], "smtp") == 0 ?
			    NFT_BLOCK_PORTS : NFT_BLOCK_ALL;
		r = nft_setup(ctx, &p, err, sizeof(err));
		if (r == 0)
			printf("%s\n", nft_queue_mechanism_name(
			    nft_queue_mechanism(ctx)));
	} else if ((strcmp(argv[1], "block") == 0 ||
	    strcmp(argv[1], "unblock") == 0) && argc >= 3) {
		memset(&b, 0, sizeof(b));
		if (!cidr_parse(argv[2], strlen(argv[2]), &b.pfx, NULL)) {
			fprintf(stderr, "bad prefix %s\n", argv[2]);
			nft_close(ctx);
			return 2;
		}
		if (argc >= 4)
			b.timeout_ms = strtoull(argv[3], NULL, 10);
		r = argv[1][0] == 'b' ? nft_block_add(ctx, &b, 1, err,
		    sizeof(err)) : nft_block_del(ctx, &b, 1, err, sizeof(err));
	} else if (strcmp(argv[1], "unqueue") == 0)
		r = nft_unqueue(ctx, err, sizeof(err));
	else {
		fprintf(stderr, "usage: test_nft [setup forward|input "
		    "[smtp|all] | "
		    "block PREFIX [MS] | unblock PREFIX | unqueue]\n");
		nft_close(ctx);
		return 2;
	}
	if (r != 0)
		fprintf(stderr, "%s\n", err);
	nft_close(ctx);
	return r != 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("SKIP nft: needs root\n");
		return 0;
	}
	if (argc > 1)
		return command(argc, argv);
	return suite();
}
