/*
 * blocks.c — blocks kept in two places that must agree: the SQLite store
 * (what survives restarts, with reason and evidence) and the kernel sets
 * (what actually drops packets).  The kernel set is written first, so a
 * block is in force as fast as possible; the store follows.  Stored blocks
 * missing from the kernel (a wider block covered them, the set was
 * flushed) are put back by blocks_sync().  The kernel expires elements on its own; the store is
 * swept once a second.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cidr.h"
#include "hooks.h"
#include "log.h"
#include "nft.h"
#include "rgd.h"
#include "store.h"
#include "worker.h"

#define BLOCKS_RESTORE_BATCH 4096

/* "192.0.2.0/24" or a bare address into nb (timeout 0); false if bad. */
static bool
blocks_parse(const char *text, struct nft_block *nb)
{
	memset(nb, 0, sizeof(*nb));
	return cidr_parse(text, strlen(text), &nb->pfx, NULL);
}

static void
blocks_to_store(const struct nft_block *b, struct store_block *sb)
{
	memset(sb, 0, sizeof(*sb));
	rg_addr_str(&b->pfx.net, sb->addr, sizeof(sb->addr));
	sb->prefix = b->pfx.prefix;
	sb->family = b->pfx.net.family;
}

/* Cut text at a line boundary so it fits the store's limit. */
static void
blocks_clip(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);
	const char *nl;

	if (n >= len) {
		n = len - 1;
		nl = memrchr(src, '\n', n);
		if (nl != NULL)
			n = (size_t)(nl - src) + 1;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

struct blocks_kernel {
	struct nft_block *v;
	size_t n, cap;
};

static int
blocks_kernel_cb(const struct nft_block *b, void *arg)
{
	struct blocks_kernel *k = arg;
	struct nft_block *nv;

	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 256;
		if ((nv = realloc(k->v, k->cap * sizeof(*nv))) == NULL)
			return -1;
		k->v = nv;
	}
	k->v[k->n++] = *b;
	return 0;
}

static int
blocks_kernel_read(struct rgd *d, struct blocks_kernel *k, char *err,
    size_t errlen)
{
	memset(k, 0, sizeof(*k));
	return nft_block_list(d->nft, 0, blocks_kernel_cb, k, err,
	    errlen);
}

/* Is b, or a prefix covering it, in the kernel set? */
static bool
blocks_kernel_covered(const struct blocks_kernel *k, const struct nft_block *b)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (cidr_covers(&k->v[i].pfx, &b->pfx))
			return true;
	return false;
}

/*
 * Put one prefix into the kernel set.  The kernel refuses intervals that
 * overlap (EEXIST): if a wider block already covers this one there is
 * nothing to do (the sweep installs this one when the wider one ends); if
 * narrower blocks sit inside it, they leave the set (they stay in the
 * store) and the wider one goes in, in one transaction each.
 */
static int
blocks_install(struct rgd *d, struct nft_block *nb, uint64_t secs, char *err,
    size_t errlen)
{
	struct blocks_kernel k;
	struct nft_block *inner;
	size_t i, n = 0;
	int rc;

	nb->timeout_ms = secs * 1000;
	if (nft_block_add(d->nft, nb, 1, err, errlen) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (blocks_kernel_read(d, &k, err, errlen) < 0)
		return -1;
	if (blocks_kernel_covered(&k, nb)) {
		free(k.v);
		return 0;
	}
	if ((inner = calloc(k.n ? k.n : 1, sizeof(*inner))) == NULL) {
		free(k.v);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < k.n; i++)
		if (cidr_covers(&nb->pfx, &k.v[i].pfx))
			inner[n++] = k.v[i];
	rc = n > 0 ? nft_block_del(d->nft, inner, n, err, errlen) : 0;
	if (rc == 0)
		rc = nft_block_add(d->nft, nb, 1, err, errlen);
	free(inner);
	free(k.v);
	return rc;
}

/*
 * The first network of set that overlaps nb (one inside the other), or
 * NULL.  A prefix overlapping a never-block or relay-networks entry would
 * drop some of its addresses.
 */
static const struct cidr *
blocks_overlap(const struct cidr_set *set, const struct nft_block *nb)
{
	uint32_t i;

	for (i = 0; i < set->count; i++)
		if (cidr_covers(&set->v[i], &nb->pfx) ||
		    cidr_covers(&nb->pfx, &set->v[i]))
			return &set->v[i];
	return NULL;
}

/* Say in err why never-block refuses nb; false when it does not. */
static bool
blocks_never_block_refuses(const struct rgd *d, const struct nft_block *nb,
    char *err, size_t errlen)
{
	const struct cidr *nbk = blocks_overlap(&d->conf.never_block, nb);
	char text[INET6_ADDRSTRLEN + 8], net[RG_ADDRSTRLEN + 8];

	if (nbk == NULL)
		return false;
	cidr_str(&nb->pfx, text, sizeof(text));
	cidr_str(nbk, net, sizeof(net));
	snprintf(err, errlen, "%s %s never-block %s, whose addresses are "
	    "never blocked: take it out of never-block and reload first",
	    text, nbk->prefix <= nb->pfx.prefix ? "is covered by" : "contains",
	    net);
	return true;
}

/* on-block / on-unblock for a stored block (hooks.c runs it). */
static void
blocks_hook(struct rgd *d, const char *event, const struct store_block *sb,
    uint64_t secs)
{
	char text[INET6_ADDRSTRLEN + 8], src[48];

	snprintf(text, sizeof(text), "%s/%d", sb->addr, sb->prefix);
	hooks_run(&d->conf, event, text, secs, sb->reason, sb->evidence,
	    store_block_source(sb, src, sizeof(src)));
}

int
blocks_add_kernel(struct rgd *d, struct blocks_new *bn, const char *prefix,
    uint64_t dur_secs, const char *reason, const char *src, char *err,
    size_t errlen)
{
	struct store_block *sb = &bn->sb;
	int prev = 0;
	time_t now = time(NULL);

	memset(bn, 0, sizeof(*bn));
	if (!blocks_parse(prefix, &bn->nb)) {
		snprintf(err, errlen, "'%s' is not an address or prefix",
		    prefix);
		return -1;
	}
	if (blocks_never_block_refuses(d, &bn->nb, err, errlen))
		return -1;
	snprintf(bn->prefix, sizeof(bn->prefix), "%s", prefix);
	blocks_to_store(&bn->nb, sb);
	/* A read, no write: the offence history decides the duration. */
	if (store_offences(d->store, sb->addr, sb->prefix,
	    offences_since(&d->conf, now), &prev, err, errlen) < 0)
		return -1;
	if (strcmp(src, "auto") == 0) {
		/* The store's history decides, not the worker's count: it
		 * outlives restarts and unblock, and leaves out offences
		 * older than offence-memory one by one. */
		sb->offences = prev + 1;
		dur_secs = offences_duration(&d->conf, sb->offences);
		sb->source = STORE_AUTO;
	} else {
		sb->offences = prev;
		sb->source = STORE_MANUAL;
	}
	sb->created = now;
	sb->expires = now + (int64_t)dur_secs;
	bn->dur_secs = dur_secs;
	blocks_clip(sb->reason, sizeof(sb->reason), reason ? reason : "");
	/* The kernel first: the block takes effect in well under a
	 * millisecond, while the store's commit waits for the disk.  A crash
	 * in between leaves the element in the kernel set (the table outlives
	 * the daemon) with its timeout, so nothing is lost that matters. */
	return blocks_install(d, &bn->nb, dur_secs, err, errlen);
}

int
blocks_add_record(struct rgd *d, struct blocks_new *bn, const char *evidence,
    char *err, size_t errlen)
{
	struct store_block *sb = &bn->sb;

	blocks_clip(sb->evidence, sizeof(sb->evidence),
	    evidence ? evidence : "");
	if (sb->source == STORE_AUTO) {
		if (store_offence_add(d->store, sb->addr, sb->prefix,
		    sb->created, err, errlen) < 0)
			return -1;
		log_info("blocked %s for %llus (offence %d within "
		    "offence-memory)", bn->prefix,
		    (unsigned long long)bn->dur_secs, sb->offences);
	}
	dnsbl_changed(d);
	if (store_block_put(d->store, sb, err, errlen) < 0)
		return -1;
	blocks_hook(d, "block", sb, bn->dur_secs);
	if (d->on_block != NULL)
		d->on_block(d, sb, bn->dur_secs);
	return 0;
}

int
blocks_add(struct rgd *d, const char *prefix, uint64_t dur_secs,
    const char *reason, const char *src, const char *evidence, char *err,
    size_t errlen)
{
	struct blocks_new bn;

	if (blocks_add_kernel(d, &bn, prefix, dur_secs, reason, src, err,
	    errlen) < 0)
		return -1;
	return blocks_add_record(d, &bn, evidence, err, errlen);
}

int
blocks_manual(struct rgd *d, const char *prefix, uint64_t dur_secs,
    const char *reason, bool force, bool check, char *err, size_t errlen)
{
	struct nft_block nb;

	if (!blocks_parse(prefix, &nb)) {
		snprintf(err, errlen, "'%s' is not an address or prefix "
		    "(host bits must be zero)", prefix);
		return -1;
	}
	/* never-block is the operator's promise: --force does not break
	 * it (the next reload would take the block away again anyway). */
	if (blocks_never_block_refuses(d, &nb, err, errlen))
		return -1;
	if (!force && blocks_overlap(&d->conf.relay_networks, &nb) != NULL) {
		snprintf(err, errlen, "%s is inside relay-networks; "
		    "use --force to block it anyway", prefix);
		return -1;
	}
	if (check)
		return 0;
	if (dur_secs == 0)
		dur_secs = d->conf.block_for / RG_USEC_PER_SEC;
	if (blocks_add(d, prefix, dur_secs, reason ? reason : "manual",
	    "manual", "", err, errlen) < 0)
		return -1;
	log_info("manual block of %s for %llus: %s", prefix,
	    (unsigned long long)dur_secs, reason ? reason : "");
	return 0;
}

static void
blocks_engines_unblock(struct rgd *d, const struct nft_block *nb)
{
	/* Once: the workers share the table (their engines' own blocksets
	 * are unused). */
	offtable_unblock(d->offences, &nb->pfx);
}

int
blocks_del(struct rgd *d, const char *prefix, char *err, size_t errlen)
{
	struct nft_block nb;
	struct store_block sb;
	int in_store, rc;

	if (!blocks_parse(prefix, &nb)) {
		snprintf(err, errlen, "'%s' is not an address or prefix",
		    prefix);
		return -1;
	}
	blocks_to_store(&nb, &sb);
	/* What the block was, for on-unblock. */
	if (d->conf.on_unblock.argc > 0) {
		char a[sizeof(sb.addr)];

		memcpy(a, sb.addr, sizeof(a));
		if (store_block_get(d->store, a, sb.prefix, &sb, err,
		    errlen) < 0)
			return -1;
	}
	if ((in_store = store_block_del(d->store, sb.addr, sb.prefix, err,
	    errlen)) < 0)
		return -1;
	rc = nft_block_del(d->nft, &nb, 1, err, errlen);
	if (rc < 0 && errno != ENOENT)
		return -1;
	if (rc < 0 && in_store == 0) {
		snprintf(err, errlen, "%s is not blocked", prefix);
		return -1;
	}
	log_info("unblocked %s", prefix);
	/* The engines stop counting the lifted block: its clients earn
	 * offences (and blocks) again at once. */
	blocks_engines_unblock(d, &nb);
	blocks_hook(d, "unblock", &sb, 0);
	if (d->on_unblock != NULL)
		d->on_unblock(d, sb.addr, sb.prefix);
	dnsbl_changed(d);
	/* Narrower blocks that the lifted one covered go back in. */
	blocks_sync(d);
	return 0;
}

struct blocks_restore_ctx {
	struct rgd *d;
	struct nft_block *v;
	size_t n;
	int64_t now;
	int failed;
	size_t restored;
	char *err;
	size_t errlen;
};

static int
blocks_restore_flush(struct blocks_restore_ctx *c)
{
	size_t i;
	uint64_t secs;

	if (c->n == 0)
		return 0;
	if (nft_block_add(c->d->nft, c->v, c->n, c->err, c->errlen) == 0) {
		c->restored += c->n;
		c->n = 0;
		return 0;
	}
	/* One overlapping pair fails a whole batch (EEXIST): go one by one,
	 * letting blocks_install() sort out what covers what. */
	for (i = 0; i < c->n; i++) {
		secs = c->v[i].timeout_ms / 1000;
		if (blocks_install(c->d, &c->v[i], secs, c->err, c->errlen) < 0)
			c->failed = 1;
		else
			c->restored++;
	}
	c->n = 0;
	return 0;
}

static int
blocks_restore_cb(const struct store_block *sb, void *arg)
{
	struct blocks_restore_ctx *c = arg;
	char text[INET6_ADDRSTRLEN + 8];
	struct nft_block *nb = &c->v[c->n];

	snprintf(text, sizeof(text), "%s/%d", sb->addr, sb->prefix);
	if (!blocks_parse(text, nb))
		return 0;
	nb->timeout_ms = sb->expires == 0 ? 0 :
	    (uint64_t)(sb->expires - c->now) * 1000;
	if (++c->n == BLOCKS_RESTORE_BATCH)
		blocks_restore_flush(c);
	return 0;
}

int
blocks_restore(struct rgd *d, char *err, size_t errlen)
{
	struct blocks_restore_ctx c;
	long expired;

	memset(&c, 0, sizeof(c));
	c.d = d;
	c.now = time(NULL);
	c.err = err;
	c.errlen = errlen;
	if ((expired = store_expire(d->store, c.now, err, errlen)) < 0)
		return -1;
	if ((c.v = calloc(BLOCKS_RESTORE_BATCH, sizeof(*c.v))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (store_blocks_active(d->store, c.now, blocks_restore_cb, &c, err,
	    errlen) < 0) {
		free(c.v);
		return -1;
	}
	blocks_restore_flush(&c);
	free(c.v);
	if (expired > 0)
		log_info("%ld expired block(s) removed from the store",
		    expired);
	log_info("%zu stored block(s) re-installed with their remaining time",
	    c.restored);
	return c.failed ? -1 : 0;
}

_Static_assert(sizeof(((struct blocks_pulled *)0)->addr) == INET6_ADDRSTRLEN,
    "blocks_pulled.addr");
_Static_assert(sizeof(((struct blocks_pulled *)0)->origin) ==
    STORE_ORIGIN_MAX + 1, "blocks_pulled.origin");

size_t
blocks_put_many(struct rgd *d, const struct blocks_pulled *v, size_t n)
{
	struct blocks_restore_ctx c;
	struct store_block sb;
	char err[256], text[INET6_ADDRSTRLEN + 8];
	size_t i, put = 0;
	int64_t t0 = rgd_ms(), t1;

	memset(&c, 0, sizeof(c));
	c.d = d;
	c.now = time(NULL);
	c.err = err;
	c.errlen = sizeof(err);
	if ((c.v = calloc(BLOCKS_RESTORE_BATCH, sizeof(*c.v))) == NULL) {
		log_warnx("out of memory for %zu blocks", n);
		return 0;
	}
	/* The kernel first, as blocks_add() does, in batches. */
	for (i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "%s/%d", v[i].addr, v[i].prefix);
		if (!blocks_parse(text, &c.v[c.n]))
			continue;
		if (blocks_overlap(&d->conf.never_block, &c.v[c.n]) != NULL)
			continue;
		c.v[c.n].timeout_ms = (uint64_t)(v[i].expires - c.now) * 1000;
		if (++c.n == BLOCKS_RESTORE_BATCH)
			blocks_restore_flush(&c);
	}
	blocks_restore_flush(&c);
	free(c.v);
	if (c.failed)
		log_warnx("crowdsec decisions into the kernel sets: %s", err);
	t1 = rgd_ms();
	if (store_batch_begin(d->store, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return c.restored;
	}
	for (i = 0; i < n; i++) {
		struct nft_block nb;

		snprintf(text, sizeof(text), "%s/%d", v[i].addr, v[i].prefix);
		if (!blocks_parse(text, &nb) ||
		    blocks_overlap(&d->conf.never_block, &nb) != NULL)
			continue;
		memset(&sb, 0, sizeof(sb));
		memcpy(sb.addr, v[i].addr, sizeof(sb.addr));
		sb.prefix = v[i].prefix;
		sb.created = c.now;
		sb.expires = v[i].expires;
		sb.source = STORE_CROWDSEC;
		memcpy(sb.origin, v[i].origin, sizeof(sb.origin));
		snprintf(sb.reason, sizeof(sb.reason), "crowdsec decision "
		    "(origin %s)", sb.origin);
		if (store_block_put(d->store, &sb, err, sizeof(err)) == 0)
			put++;
	}
	if (store_batch_end(d->store, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		put = 0;
	}
	if (put > 0)
		dnsbl_changed(d);
	if (n >= 1000)
		log_info("%zu pulled block(s): %lld ms into the kernel sets (%zu "
		    "in), %lld ms into the store", n, (long long)(t1 - t0),
		    c.restored, (long long)(rgd_ms() - t1));
	return put;
}

size_t
blocks_lift_many(struct rgd *d, const struct blocks_pulled *v, size_t n)
{
	struct nft_block *nb;
	char err[256], text[INET6_ADDRSTRLEN + 8];
	size_t i, k = 0, lifted = 0;

	if ((nb = calloc(n, sizeof(*nb))) == NULL) {
		log_warnx("%zu crowdsec block(s) not lifted: out of "
		    "memory", n);
		return 0;
	}
	if (store_batch_begin(d->store, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		free(nb);
		return 0;
	}
	for (i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "%s/%d", v[i].addr, v[i].prefix);
		if (!blocks_parse(text, &nb[k]))
			continue;
		if (store_block_del(d->store, v[i].addr, v[i].prefix, err,
		    sizeof(err)) == 1)
			lifted++;
		k++;
	}
	if (store_batch_end(d->store, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		free(nb);
		return 0;
	}
	/* One batch; an element already gone (expired) fails it, so then
	 * one by one. */
	if (nft_block_del(d->nft, nb, k, err, sizeof(err)) < 0)
		for (i = 0; i < k; i++)
			if (nft_block_del(d->nft, &nb[i], 1, err,
			    sizeof(err)) < 0 && errno != ENOENT)
				log_warnx("%s", err);
	for (i = 0; i < k; i++)
		blocks_engines_unblock(d, &nb[i]);
	free(nb);
	if (lifted > 0) {
		dnsbl_changed(d);
		blocks_sync(d);
	}
	return lifted;
}

struct blocks_sync_ctx {
	struct rgd *d;
	struct blocks_kernel *k;
	int64_t now;
	unsigned installed;
};

static int
blocks_sync_cb(const struct store_block *sb, void *arg)
{
	struct blocks_sync_ctx *c = arg;
	char text[INET6_ADDRSTRLEN + 8], err[256];
	struct nft_block nb;
	uint64_t left;

	snprintf(text, sizeof(text), "%s/%d", sb->addr, sb->prefix);
	if (!blocks_parse(text, &nb) || blocks_kernel_covered(c->k, &nb))
		return 0;
	left = sb->expires == 0 ? 0 : (uint64_t)(sb->expires - c->now);
	if (sb->expires != 0 && sb->expires <= c->now)
		return 0;
	if (blocks_install(c->d, &nb, left, err, sizeof(err)) < 0)
		log_warnx("re-installing %s: %s", text, err);
	else
		c->installed++;
	return 0;
}

void
blocks_sync(struct rgd *d)
{
	struct blocks_kernel k;
	struct blocks_sync_ctx c;
	char err[256];

	if (blocks_kernel_read(d, &k, err, sizeof(err)) < 0) {
		log_warnx("reading the block sets: %s", err);
		free(k.v);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.d = d;
	c.k = &k;
	c.now = time(NULL);
	if (store_blocks_active(d->store, c.now, blocks_sync_cb, &c, err,
	    sizeof(err)) < 0)
		log_warnx("%s", err);
	free(k.v);
	if (c.installed > 0)
		log_info("%u stored block(s) put back into the kernel set",
		    c.installed);
}

static int
blocks_expired_cb(const struct store_block *sb, void *arg)
{
	blocks_hook(arg, "expire", sb, 0);
	return 0;
}

void
blocks_expire(struct rgd *d)
{
	char err[256];
	long n;
	int64_t now = time(NULL);

	/* on-unblock for each block that ends now, before it is gone. */
	if (d->conf.on_unblock.argc > 0 && store_blocks_expired(d->store, now,
	    blocks_expired_cb, d, err, sizeof(err)) < 0)
		log_warnx("%s", err);
	if ((n = store_expire(d->store, now, err, sizeof(err))) < 0)
		log_warnx("%s", err);
	else if (n > 0) {
		log_info("%ld block(s) expired", n);
		dnsbl_changed(d);
		/* A wider block that ended may have covered narrower ones.
		 * Reading the sets back is slow with many elements, so this
		 * runs only when something expired. */
		blocks_sync(d);
	}
}

struct blocks_exempt_ctx {
	const struct cidr_set *nb;
	struct nft_block *v;
	size_t n, cap;
	bool oom;
};

static int
blocks_exempt_cb(const struct store_block *sb, void *arg)
{
	struct blocks_exempt_ctx *c = arg;
	char text[INET6_ADDRSTRLEN + 8];
	struct nft_block b, *nv;

	snprintf(text, sizeof(text), "%s/%d", sb->addr, sb->prefix);
	if (!blocks_parse(text, &b) || blocks_overlap(c->nb, &b) == NULL)
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		if ((nv = realloc(c->v, c->cap * sizeof(*nv))) == NULL) {
			c->oom = true;
			return -1;
		}
		c->v = nv;
	}
	c->v[c->n++] = b;
	return 0;
}

/*
 * Runs at every start and reload with a non-empty never-block, reading the
 * store and the kernel sets whole (about 0.3 s per 100,000 blocks): rare
 * enough, and the sets may have been changed behind the daemon's back.
 */
void
blocks_lift_never_block(struct rgd *d)
{
	const struct cidr_set *set = &d->conf.never_block;
	struct blocks_exempt_ctx c;
	struct blocks_kernel k;
	char err[256], text[INET6_ADDRSTRLEN + 8], net[RG_ADDRSTRLEN + 8];
	struct store_block sb;
	unsigned lifted = 0;
	size_t i;

	if (set->count == 0)
		return;
	/* The store: collected first, deleted after the walk. */
	memset(&c, 0, sizeof(c));
	c.nb = set;
	if (store_blocks_active(d->store, time(NULL), blocks_exempt_cb, &c,
	    err, sizeof(err)) < 0)
		log_warnx("never-block: reading the stored blocks: %s",
		    c.oom ? "out of memory" : err);
	for (i = 0; i < c.n; i++) {
		blocks_to_store(&c.v[i], &sb);
		cidr_str(&c.v[i].pfx, text, sizeof(text));
		cidr_str(blocks_overlap(set, &c.v[i]), net, sizeof(net));
		if (store_block_del(d->store, sb.addr, sb.prefix, err,
		    sizeof(err)) < 0)
			log_warnx("never-block: removing %s from the store: "
			    "%s", text, err);
		else {
			char why[RG_ADDRSTRLEN + 32];

			log_info("never-block: block of %s removed (it "
			    "overlaps never-block %s)", text, net);
			snprintf(why, sizeof(why), "overlaps never-block %s",
			    net);
			dnsbl_changed(d);
			hooks_run(&d->conf, "unblock", text, 0, why, "",
			    "never-block");
		}
	}
	free(c.v);
	/* The kernel: whatever the sets hold, stored or not. */
	if (blocks_kernel_read(d, &k, err, sizeof(err)) < 0) {
		log_warnx("never-block: reading the block sets: %s", err);
		free(k.v);
		return;
	}
	for (i = 0; i < k.n; i++) {
		if (blocks_overlap(set, &k.v[i]) == NULL)
			continue;
		cidr_str(&k.v[i].pfx, text, sizeof(text));
		if (nft_block_del(d->nft, &k.v[i], 1, err, sizeof(err)) < 0 &&
		    errno != ENOENT)
			log_warnx("never-block: removing %s from the kernel "
			    "set: %s", text, err);
		else
			lifted++;
	}
	free(k.v);
	if (lifted > 0) {
		log_info("never-block: %u prefix(es) removed from the kernel "
		    "sets", lifted);
		/* Narrower blocks a lifted prefix covered go back in. */
		blocks_sync(d);
	}
}

static json_t *
blocks_json(const struct store_block *sb, int64_t now, int in_kernel,
    bool evidence)
{
	char text[INET6_ADDRSTRLEN + 8], src[48];
	json_t *o;

	snprintf(text, sizeof(text), "%s/%d", sb->addr, sb->prefix);
	o = json_object();
	json_object_set_new(o, "addr", json_string(text));
	json_object_set_new(o, "reason", json_string(sb->reason));
	json_object_set_new(o, "source",
	    json_string(store_block_source(sb, src, sizeof(src))));
	json_object_set_new(o, "created", json_integer(sb->created));
	json_object_set_new(o, "expires", json_integer(sb->expires));
	json_object_set_new(o, "remaining", json_integer(sb->expires == 0 ?
	    0 : (sb->expires > now ? sb->expires - now : 0)));
	json_object_set_new(o, "offences", json_integer(sb->offences));
	if (in_kernel >= 0)
		json_object_set_new(o, "in_kernel", json_boolean(in_kernel));
	if (evidence)
		json_object_set_new(o, "evidence", json_string(sb->evidence));
	return o;
}

struct blocks_list_ctx {
	json_t *arr;
	const struct blocks_kernel *k;
	int64_t now;
	const struct nft_block *want;	/* why: the address asked about */
	json_t *found;
};

static int
blocks_list_cb(const struct store_block *sb, void *arg)
{
	struct blocks_list_ctx *c = arg;
	char text[INET6_ADDRSTRLEN + 8];
	struct nft_block nb;

	snprintf(text, sizeof(text), "%s/%d", sb->addr, sb->prefix);
	if (!blocks_parse(text, &nb))
		return 0;
	if (c->want == NULL) {
		json_array_append_new(c->arr, blocks_json(sb, c->now,
		    c->k ? blocks_kernel_covered(c->k, &nb) : -1, false));
		return 0;
	}
	/* why: the exact prefix, or a block that covers it. */
	if (cidr_covers(&nb.pfx, &c->want->pfx) && c->found == NULL)
		c->found = blocks_json(sb, c->now, -1, true);
	return 0;
}

json_t *
blocks_list_json(struct rgd *d, char *err, size_t errlen)
{
	struct blocks_kernel k;
	struct blocks_list_ctx c;
	json_t *reply;

	memset(&c, 0, sizeof(c));
	c.now = time(NULL);
	c.arr = json_array();
	if (blocks_kernel_read(d, &k, err, errlen) == 0)
		c.k = &k;
	if (store_blocks_active(d->store, c.now, blocks_list_cb, &c, err,
	    errlen) < 0) {
		json_decref(c.arr);
		free(k.v);
		return NULL;
	}
	free(k.v);
	reply = json_object();
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "blocks", c.arr);
	return reply;
}

json_t *
blocks_why_json(struct rgd *d, const char *addr, char *err, size_t errlen)
{
	struct blocks_list_ctx c;
	struct nft_block nb;
	json_t *reply;

	if (!blocks_parse(addr, &nb)) {
		snprintf(err, errlen, "'%s' is not an address or prefix", addr);
		return NULL;
	}
	memset(&c, 0, sizeof(c));
	c.now = time(NULL);
	c.want = &nb;
	if (store_blocks_active(d->store, c.now, blocks_list_cb, &c, err,
	    errlen) < 0)
		return NULL;
	if (c.found == NULL) {
		snprintf(err, errlen, "%s is not blocked", addr);
		return NULL;
	}
	reply = json_object();
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "block", c.found);
	return reply;
}
