/*
 * test_store.c — daemon/store.c: put/get/del, active and expiry, the
 * offence history (decay by time, forget, prune), the upgrade of a version 1
 * database, reopen, SIGKILL in the middle of writes, refusal of damaged or
 * foreign files (left untouched).  Needs -lsqlite3.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

#include "../../daemon/store.c"

static char dir[] = "/tmp/test_store.XXXXXX";
static char err[512];

static void
path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static struct store_block
mk(const char *addr, int prefix, int64_t created, int64_t expires,
    int offences, enum store_source src, const char *reason,
    const char *evidence)
{
	struct store_block b;

	memset(&b, 0, sizeof(b));
	snprintf(b.addr, sizeof(b.addr), "%s", addr);
	b.prefix = prefix;
	b.created = created;
	b.expires = expires;
	b.offences = offences;
	b.source = src;
	snprintf(b.reason, sizeof(b.reason), "%s", reason);
	snprintf(b.evidence, sizeof(b.evidence), "%s", evidence);
	return b;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void
test_put_get_del(void)
{
	char path[256];
	struct store *s;
	struct store_block b, got;
	struct stat sb;

	path_of(path, sizeof(path), "a.db");
	s = store_open(path, err, sizeof(err));
	TEST_CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	TEST_CHECK(stat(path, &sb) == 0);
	ASSERT_INT_EQ(sb.st_mode & 0777, 0600);

	b = mk("203.0.113.10", 32, 1000, 4600, 3, STORE_AUTO,
	    "relay attempts", "RCPT TO:<victim@example.net>\r\n"
	    "RCPT TO:<@relay.example:x@example.org>\r\n");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_block_get(s, "203.0.113.10", 32, &got, err,
	    sizeof(err)), 1);
	ASSERT_STR_EQ(got.addr, "203.0.113.10");
	ASSERT_INT_EQ(got.prefix, 32);
	ASSERT_INT_EQ(got.family, 4);
	ASSERT_INT_EQ(got.created, 1000);
	ASSERT_INT_EQ(got.expires, 4600);
	ASSERT_INT_EQ(got.offences, 3);
	ASSERT_INT_EQ(got.source, STORE_AUTO);
	ASSERT_STR_EQ(got.reason, "relay attempts");
	ASSERT_STR_EQ(got.evidence, b.evidence);
	/* Another prefix of the same address is another key. */
	ASSERT_INT_EQ(store_block_get(s, "203.0.113.10", 30, &got, err,
	    sizeof(err)), -1);	/* host bit set for /30 */
	ASSERT_INT_EQ(store_block_get(s, "203.0.113.0", 24, &got, err,
	    sizeof(err)), 0);

	/* Replace: same key, new values. */
	b.expires = 9000;
	b.offences = 4;
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_block_get(s, "203.0.113.10", 32, &got, err,
	    sizeof(err)), 1);
	ASSERT_INT_EQ(got.expires, 9000);
	ASSERT_INT_EQ(got.offences, 4);

	/* IPv6 is stored canonically, looked up by any spelling. */
	b = mk("2001:DB8:0:0::", 48, 1, 0, 0, STORE_MANUAL, "operator", "");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_block_get(s, "2001:db8::", 48, &got, err,
	    sizeof(err)), 1);
	ASSERT_STR_EQ(got.addr, "2001:db8::");
	ASSERT_INT_EQ(got.family, 6);
	ASSERT_INT_EQ(got.source, STORE_MANUAL);
	ASSERT_INT_EQ(got.expires, 0);

	/* Refusals: host bits, bad address, bad prefix, unterminated. */
	b = mk("192.0.2.1", 24, 1, 2, 1, STORE_AUTO, "", "");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), -1);
	ASSERT_INT_EQ(errno, EINVAL);
	b = mk("192.0.2.300", 32, 1, 2, 1, STORE_AUTO, "", "");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), -1);
	b = mk("192.0.2.0", 33, 1, 2, 1, STORE_AUTO, "", "");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), -1);
	b = mk("192.0.2.0", 24, 1, 2, 1, STORE_AUTO, "", "");
	memset(b.reason, 'x', sizeof(b.reason));
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), -1);
	b = mk("192.0.2.0", 24, 1, 2, 1, (enum store_source)7, "", "");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), -1);
	ASSERT_INT_EQ(store_block_get(s, "192.0.2.0", 24, &got, err,
	    sizeof(err)), 0);

	/* Evidence at its maximum fits exactly. */
	b = mk("198.51.100.0", 24, 1, 2, 1, STORE_AUTO, "", "");
	memset(b.evidence, 'e', STORE_EVIDENCE_MAX);
	b.evidence[STORE_EVIDENCE_MAX] = '\0';
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_block_get(s, "198.51.100.0", 24, &got, err,
	    sizeof(err)), 1);
	ASSERT_INT_EQ(strlen(got.evidence), STORE_EVIDENCE_MAX);

	ASSERT_INT_EQ(store_block_del(s, "203.0.113.10", 32, err,
	    sizeof(err)), 1);
	ASSERT_INT_EQ(store_block_del(s, "203.0.113.10", 32, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(store_block_get(s, "203.0.113.10", 32, &got, err,
	    sizeof(err)), 0);
	store_close(s);
}

struct seen {
	char	 addrs[8][INET6_ADDRSTRLEN + 8];
	int	 n;
};

static int
seen_cb(const struct store_block *b, void *arg)
{
	struct seen *sn = arg;

	if (sn->n < 8)
		snprintf(sn->addrs[sn->n], sizeof(sn->addrs[0]), "%s/%d",
		    b->addr, b->prefix);
	sn->n++;
	return 0;
}

static int
stop_cb(const struct store_block *b, void *arg)
{
	(void)b;
	(void)arg;
	return 42;
}

/* A CrowdSec decision's source round-trips; a batch commits all or none;
 * the outbox keeps pushes in order until done, across a reopen. */
static void
test_crowdsec(void)
{
	char path[256], src[48];
	struct store *s;
	struct store_block b, got;
	struct store_outbox o, v[4];
	char big[2048];

	path_of(path, sizeof(path), "cs.db");
	if ((s = store_open(path, err, sizeof(err))) == NULL) {
		TEST_CHECK(s != NULL);
		return;
	}
	b = mk("198.51.100.0", 28, 1000, 5000, 0, STORE_CROWDSEC, "cscli",
	    "");
	snprintf(b.origin, sizeof(b.origin), "cscli");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_block_get(s, "198.51.100.0", 28, &got, err,
	    sizeof(err)), 1);
	ASSERT_INT_EQ(got.source, STORE_CROWDSEC);
	ASSERT_STR_EQ(store_block_source(&got, src, sizeof(src)),
	    "crowdsec:cscli");
	snprintf(b.origin, sizeof(b.origin), "bad origin");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), -1);

	/* A batch with one bad write commits nothing. */
	ASSERT_INT_EQ(store_batch_begin(s, err, sizeof(err)), 0);
	b = mk("203.0.113.1", 32, 1000, 5000, 0, STORE_MANUAL, "", "");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_batch_end(s, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_block_get(s, "203.0.113.1", 32, &got, err,
	    sizeof(err)), 1);

	memset(&o, 0, sizeof(o));
	snprintf(o.addr, sizeof(o.addr), "203.0.113.9");
	o.prefix = 32;
	o.at = 1000;
	o.duration = 3600;
	snprintf(o.message, sizeof(o.message), "relay attempt");
	ASSERT_INT_EQ(store_outbox_add(s, &o, err, sizeof(err)), 0);
	o.kind = STORE_OUTBOX_DEL;
	ASSERT_INT_EQ(store_outbox_add(s, &o, err, sizeof(err)), 0);
	snprintf(o.addr, sizeof(o.addr), "203.0.113.300");
	ASSERT_INT_EQ(store_outbox_add(s, &o, err, sizeof(err)), -1);
	store_close(s);
	if ((s = store_open(path, err, sizeof(err))) == NULL) {
		TEST_CHECK(s != NULL);
		return;
	}
	ASSERT_INT_EQ(store_outbox_count(s, err, sizeof(err)), 2);
	ASSERT_INT_EQ(store_outbox_next(s, v, 4, err, sizeof(err)), 2);
	ASSERT_INT_EQ(v[0].kind, STORE_OUTBOX_ADD);
	ASSERT_INT_EQ(v[1].kind, STORE_OUTBOX_DEL);
	ASSERT_INT_EQ(v[0].duration, 3600);
	ASSERT_STR_EQ(v[0].message, "relay attempt");
	ASSERT_INT_EQ(store_outbox_done(s, v[0].id, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_outbox_next(s, v, 4, err, sizeof(err)), 1);
	ASSERT_INT_EQ(v[0].kind, STORE_OUTBOX_DEL);
	ASSERT_INT_EQ(store_outbox_done(s, v[0].id, err, sizeof(err)), 0);

	/* A malformed row (written by hand, an old or damaged database)
	 * between two good ones: the row before it goes out, it is taken
	 * out once with its content in err, the row behind it goes out. */
	snprintf(o.addr, sizeof(o.addr), "203.0.113.10");
	ASSERT_INT_EQ(store_outbox_add(s, &o, err, sizeof(err)), 0);
	ASSERT_INT_EQ(sqlite3_exec(s->db, "PRAGMA ignore_check_constraints = ON; "
	    "INSERT INTO outbox (kind, addr, "
	    "prefix, at, duration, message) VALUES ('add', 'not-an-addr', 32, "
	    "7, 60, 'hand\nmade'), ('bogus', '203.0.113.12', 32, 8, 60, 'x'); "
	    "PRAGMA ignore_check_constraints = OFF",
	    NULL, NULL, NULL), SQLITE_OK);
	snprintf(o.addr, sizeof(o.addr), "203.0.113.11");
	ASSERT_INT_EQ(store_outbox_add(s, &o, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_outbox_next(s, v, 4, err, sizeof(err)), 1);
	ASSERT_STR_EQ(v[0].addr, "203.0.113.10");
	ASSERT_INT_EQ(store_outbox_done(s, v[0].id, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_outbox_next(s, v, 4, big, sizeof(big)),
	    STORE_OUTBOX_DROPPED);
	TEST_CHECK(strstr(big, "kind 'add' addr 'not-an-addr' prefix '32' "
	    "at '7' duration '60' message 'hand?made'") != NULL);
	ASSERT_INT_EQ(store_outbox_next(s, v, 4, big, sizeof(big)),
	    STORE_OUTBOX_DROPPED);
	TEST_CHECK(strstr(big, "kind 'bogus' addr '203.0.113.12'") != NULL);
	ASSERT_INT_EQ(store_outbox_next(s, v, 4, err, sizeof(err)), 1);
	ASSERT_STR_EQ(v[0].addr, "203.0.113.11");
	ASSERT_INT_EQ(store_outbox_count(s, err, sizeof(err)), 1);
	store_close(s);
}

static void
test_active_expire(void)
{
	char path[256];
	struct store *s;
	struct store_block b, got;
	struct seen sn;
	int off = -1;

	path_of(path, sizeof(path), "b.db");
	if ((s = store_open(path, err, sizeof(err))) == NULL) {
		TEST_CHECK(s != NULL);
		return;
	}
	b = mk("192.0.2.1", 32, 10, 100, 3, STORE_AUTO, "r1", "");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	b = mk("192.0.2.2", 32, 20, 200, 1, STORE_AUTO, "r2", "");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	b = mk("2001:db8::7", 128, 30, 0, 1, STORE_MANUAL, "forever", "");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);

	memset(&sn, 0, sizeof(sn));
	ASSERT_INT_EQ(store_blocks_active(s, 150, seen_cb, &sn, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(sn.n, 2);
	ASSERT_STR_EQ(sn.addrs[0], "192.0.2.2/32");
	ASSERT_STR_EQ(sn.addrs[1], "2001:db8::7/128");
	/* At exactly its expiry a block is no longer active. */
	memset(&sn, 0, sizeof(sn));
	ASSERT_INT_EQ(store_blocks_active(s, 100, seen_cb, &sn, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(sn.n, 2);
	ASSERT_INT_EQ(store_blocks_active(s, 0, stop_cb, NULL, err,
	    sizeof(err)), 42);

	ASSERT_INT_EQ(store_expire(s, 150, err, sizeof(err)), 1);
	ASSERT_INT_EQ(store_block_get(s, "192.0.2.1", 32, &got, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(store_expire(s, 150, err, sizeof(err)), 0);
	/* The history is its own: blocks alone record no offence. */
	ASSERT_INT_EQ(store_offences(s, "192.0.2.1", 32, 0, &off, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(off, 0);
	ASSERT_INT_EQ(store_expire(s, 1000, err, sizeof(err)), 1);
	memset(&sn, 0, sizeof(sn));
	ASSERT_INT_EQ(store_blocks_active(s, 1000, seen_cb, &sn, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(sn.n, 1);
	ASSERT_STR_EQ(sn.addrs[0], "2001:db8::7/128");
	store_close(s);

	/* Reopen: everything still there, in WAL mode. */
	if ((s = store_open(path, err, sizeof(err))) == NULL) {
		TEST_CHECK(s != NULL);
		fprintf(stderr, "%s\n", err);
		return;
	}
	ASSERT_INT_EQ(store_migrated_from(s), 0);
	ASSERT_INT_EQ(store_block_get(s, "2001:db8::7", 128, &got, err,
	    sizeof(err)), 1);
	ASSERT_STR_EQ(got.reason, "forever");
	{
		char mode[16], sync[16];

		ASSERT_INT_EQ(store_pragma(s, "PRAGMA journal_mode", mode,
		    sizeof(mode)), 0);
		ASSERT_STR_EQ(mode, "wal");
		ASSERT_INT_EQ(store_pragma(s, "PRAGMA synchronous", sync,
		    sizeof(sync)), 0);
		ASSERT_STR_EQ(sync, "2");	/* FULL */
	}
	store_close(s);
}

struct hist {
	char	 keys[16][INET6_ADDRSTRLEN + 8];
	int64_t	 at[16];
	int	 n;
};

static int
hist_cb(const struct store_offence *o, void *arg)
{
	struct hist *h = arg;

	if (h->n < 16) {
		snprintf(h->keys[h->n], sizeof(h->keys[0]), "%s/%d", o->addr,
		    o->prefix);
		h->at[h->n] = o->at;
	}
	h->n++;
	return 0;
}

/* How many offences of addr/prefix at or after since. */
static int
count_since(struct store *s, const char *addr, int prefix, int64_t since)
{
	int off = -1;

	ASSERT_INT_EQ(store_offences(s, addr, prefix, since, &off, err,
	    sizeof(err)), 0);
	return off;
}

/* Rows of the offences table, read with SQL, not through the API. */
static int
count_rows(struct store *s)
{
	char res[32];

	ASSERT_INT_EQ(store_pragma(s, "SELECT count(*) FROM offences", res,
	    sizeof(res)), 0);
	return atoi(res);
}

/*
 * The offence history: every offence with its time; counting from a time
 * leaves older ones out (offence-memory), deleting a block (unblock) or
 * its expiry leaves the history, forget clears a key or a prefix, pruning
 * deletes what is older than a time.
 */
static void
test_offences(void)
{
	char path[256];
	struct store *s;
	struct store_block b;
	struct hist h;

	path_of(path, sizeof(path), "off.db");
	if ((s = store_open(path, err, sizeof(err))) == NULL) {
		TEST_CHECK(s != NULL);
		return;
	}
	/* 203.0.113.10: offences at 100, 200 and 1000. */
	ASSERT_INT_EQ(store_offence_add(s, "203.0.113.10", 32, 100, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(store_offence_add(s, "203.0.113.10", 32, 200, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(store_offence_add(s, "203.0.113.10", 32, 1000, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(store_offence_add(s, "203.0.113.11", 32, 1000, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(store_offence_add(s, "2001:DB8::1", 128, 900, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(store_offence_add(s, "203.0.113.300", 32, 1, err,
	    sizeof(err)), -1);
	ASSERT_INT_EQ(store_offence_add(s, "203.0.113.10", 32, -1, err,
	    sizeof(err)), -1);
	ASSERT_INT_EQ(count_since(s, "203.0.113.10", 32, 0), 3);
	/* Only those at or after `since` count: the old ones decayed. */
	ASSERT_INT_EQ(count_since(s, "203.0.113.10", 32, 150), 2);
	ASSERT_INT_EQ(count_since(s, "203.0.113.10", 32, 200), 2);
	ASSERT_INT_EQ(count_since(s, "203.0.113.10", 32, 201), 1);
	ASSERT_INT_EQ(count_since(s, "203.0.113.10", 32, 1001), 0);
	/* Another key, another count; v6 found by any spelling. */
	ASSERT_INT_EQ(count_since(s, "203.0.113.0", 24, 0), 0);
	ASSERT_INT_EQ(count_since(s, "2001:db8:0::1", 128, 0), 1);

	/* A block that expires or is deleted leaves the history. */
	b = mk("203.0.113.10", 32, 1000, 1100, 3, STORE_AUTO, "r", "");
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_block_del(s, "203.0.113.10", 32, err,
	    sizeof(err)), 1);
	ASSERT_INT_EQ(count_since(s, "203.0.113.10", 32, 0), 3);
	ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	ASSERT_INT_EQ(store_expire(s, 2000, err, sizeof(err)), 1);
	ASSERT_INT_EQ(count_since(s, "203.0.113.10", 32, 0), 3);

	/* The list: keys inside the prefix asked for, oldest first. */
	memset(&h, 0, sizeof(h));
	ASSERT_INT_EQ(store_offences_list(s, "203.0.113.10", 32, hist_cb, &h,
	    err, sizeof(err)), 0);
	ASSERT_INT_EQ(h.n, 3);
	ASSERT_STR_EQ(h.keys[0], "203.0.113.10/32");
	ASSERT_INT_EQ(h.at[0], 100);
	ASSERT_INT_EQ(h.at[2], 1000);
	memset(&h, 0, sizeof(h));
	ASSERT_INT_EQ(store_offences_list(s, "203.0.113.0", 24, hist_cb, &h,
	    err, sizeof(err)), 0);
	ASSERT_INT_EQ(h.n, 4);
	memset(&h, 0, sizeof(h));
	ASSERT_INT_EQ(store_offences_list(s, "203.0.113.8", 30, hist_cb, &h,
	    err, sizeof(err)), 0);
	ASSERT_INT_EQ(h.n, 4);	/* .10 and .11 */
	memset(&h, 0, sizeof(h));
	ASSERT_INT_EQ(store_offences_list(s, "2001:db8::", 32, hist_cb, &h,
	    err, sizeof(err)), 0);
	ASSERT_INT_EQ(h.n, 1);
	ASSERT_STR_EQ(h.keys[0], "2001:db8::1/128");
	/* ::/0 is not 0.0.0.0/0: families never mix. */
	memset(&h, 0, sizeof(h));
	ASSERT_INT_EQ(store_offences_list(s, "::", 0, hist_cb, &h, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(h.n, 1);
	ASSERT_INT_EQ(store_offences_list(s, "203.0.113.10", 24, hist_cb, &h,
	    err, sizeof(err)), -1);	/* host bits */

	/* forget: one key, then a prefix; others stay. */
	ASSERT_INT_EQ(store_offences_forget(s, "203.0.113.10", 32, err,
	    sizeof(err)), 3);
	ASSERT_INT_EQ(count_since(s, "203.0.113.10", 32, 0), 0);
	ASSERT_INT_EQ(count_since(s, "203.0.113.11", 32, 0), 1);
	ASSERT_INT_EQ(store_offences_forget(s, "203.0.113.10", 32, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(store_offence_add(s, "203.0.113.10", 32, 3000, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(store_offences_forget(s, "203.0.113.0", 24, err,
	    sizeof(err)), 2);
	ASSERT_INT_EQ(count_rows(s), 1);	/* 2001:db8::1 */

	/* Prune: strictly older than the time goes. */
	ASSERT_INT_EQ(store_offence_add(s, "198.51.100.7", 32, 5000, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(store_offence_add(s, "198.51.100.7", 32, 6000, err,
	    sizeof(err)), 0);
	ASSERT_INT_EQ(count_rows(s), 3);
	ASSERT_INT_EQ(store_history_prune(s, 5000, err, sizeof(err)), 1);
	ASSERT_INT_EQ(count_rows(s), 2);
	ASSERT_INT_EQ(count_since(s, "198.51.100.7", 32, 0), 2);
	ASSERT_INT_EQ(store_history_prune(s, 6001, err, sizeof(err)), 2);
	ASSERT_INT_EQ(count_rows(s), 0);
	store_close(s);
}

static void	expect_refused(const char *, const char *);

/* The schema of relayguard 0.x (version 1), exactly as it created it. */
static const char old_schema_1[] =
	"CREATE TABLE schema_version (version INTEGER NOT NULL);"
	"INSERT INTO schema_version VALUES (1);"
	"CREATE TABLE blocks ("
	"  addr TEXT NOT NULL,"
	"  prefix INTEGER NOT NULL CHECK (prefix BETWEEN 0 AND 128),"
	"  family INTEGER NOT NULL CHECK (family IN (4, 6)),"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  offences INTEGER NOT NULL DEFAULT 1,"
	"  source TEXT NOT NULL CHECK (source IN ('auto', 'manual')),"
	"  evidence TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (addr, prefix));"
	"CREATE INDEX blocks_expires ON blocks (expires);"
	"CREATE TABLE offenders ("
	"  addr TEXT NOT NULL,"
	"  prefix INTEGER NOT NULL,"
	"  offences INTEGER NOT NULL,"
	"  last INTEGER NOT NULL,"
	"  PRIMARY KEY (addr, prefix));";

/*
 * A version 1 database is upgraded in place at open: its blocks are all
 * there, its counts become offences with the latest times known, and the
 * version is 2 (a second open upgrades nothing).
 */
static void
test_migrate(void)
{
	char path[256], res[32];
	struct store *s;
	struct store_block got;
	struct hist h;
	sqlite3 *db;

	path_of(path, sizeof(path), "v1.db");
	TEST_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	TEST_CHECK(sqlite3_exec(db, old_schema_1, NULL, NULL, NULL) ==
	    SQLITE_OK);
	/* An active auto block, 3rd offence (2 earlier, last ended at 500);
	 * a manual block with no history; an expired offender (4 offences,
	 * last block ended at 700); a WAL-mode file, as v1 left it. */
	TEST_CHECK(sqlite3_exec(db, "PRAGMA journal_mode = WAL;"
	    "INSERT INTO blocks VALUES ('203.0.113.10', 32, 4, 'relay "
	    "attempts', 1000, 99999, 3, 'auto', 'RCPT TO:<x@example.net>');"
	    "INSERT INTO offenders VALUES ('203.0.113.10', 32, 2, 500);"
	    "INSERT INTO blocks VALUES ('2001:db8::', 48, 6, 'operator', 1100,"
	    " 0, 0, 'manual', '');"
	    "INSERT INTO offenders VALUES ('198.51.100.7', 32, 4, 700);",
	    NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);

	if ((s = store_open(path, err, sizeof(err))) == NULL) {
		TEST_CHECK(s != NULL);
		fprintf(stderr, "%s\n", err);
		return;
	}
	ASSERT_INT_EQ(store_migrated_from(s), 1);
	ASSERT_INT_EQ(store_pragma(s, "SELECT version FROM schema_version",
	    res, sizeof(res)), 0);
	ASSERT_STR_EQ(res, "3");
	ASSERT_INT_EQ(store_pragma(s, "SELECT count(*) FROM sqlite_schema "
	    "WHERE name = 'offenders'", res, sizeof(res)), 0);
	ASSERT_STR_EQ(res, "0");
	/* The blocks, every field. */
	ASSERT_INT_EQ(store_block_get(s, "203.0.113.10", 32, &got, err,
	    sizeof(err)), 1);
	ASSERT_INT_EQ(got.created, 1000);
	ASSERT_INT_EQ(got.expires, 99999);
	ASSERT_INT_EQ(got.offences, 3);
	ASSERT_STR_EQ(got.reason, "relay attempts");
	ASSERT_STR_EQ(got.evidence, "RCPT TO:<x@example.net>");
	ASSERT_INT_EQ(store_block_get(s, "2001:db8::", 48, &got, err,
	    sizeof(err)), 1);
	ASSERT_INT_EQ(got.source, STORE_MANUAL);
	ASSERT_INT_EQ(got.expires, 0);
	/* The history: 2 at 500 and the block's own at 1000; 4 at 700. */
	memset(&h, 0, sizeof(h));
	ASSERT_INT_EQ(store_offences_list(s, "203.0.113.10", 32, hist_cb, &h,
	    err, sizeof(err)), 0);
	ASSERT_INT_EQ(h.n, 3);
	ASSERT_INT_EQ(h.at[0], 500);
	ASSERT_INT_EQ(h.at[1], 500);
	ASSERT_INT_EQ(h.at[2], 1000);
	ASSERT_INT_EQ(count_since(s, "198.51.100.7", 32, 0), 4);
	ASSERT_INT_EQ(count_since(s, "198.51.100.7", 32, 701), 0);
	ASSERT_INT_EQ(count_since(s, "2001:db8::", 48, 0), 0);
	ASSERT_INT_EQ(count_rows(s), 7);
	store_close(s);

	/* Reopened: already version 3, nothing changes. */
	if ((s = store_open(path, err, sizeof(err))) == NULL) {
		TEST_CHECK(s != NULL);
		return;
	}
	ASSERT_INT_EQ(store_migrated_from(s), 0);
	ASSERT_INT_EQ(count_rows(s), 7);
	store_close(s);

	/* A newer schema than this code knows is refused, untouched. */
	TEST_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	TEST_CHECK(sqlite3_exec(db, "UPDATE schema_version SET version = 4",
	    NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	expect_refused(path, "schema version 4, this relayguard knows 1 to 3");
}

static void
crash_addr(char *buf, size_t len, int i)
{
	/* 2001:db8:c::/64 has room for every row we write. */
	snprintf(buf, len, "2001:db8:c::%x", i + 1);
}

/* Child: commit blocks one by one, reporting each committed index. */
static void
crash_writer(const char *path, int fd)
{
	struct store *s;
	struct store_block b;
	int i;

	if ((s = store_open(path, err, sizeof(err))) == NULL)
		_exit(3);
	for (i = 0; i < 1000000; i++) {
		char a[INET6_ADDRSTRLEN];

		crash_addr(a, sizeof(a), i);
		b = mk(a, 128, i, 1000000 + i, 1, STORE_AUTO, "crash test",
		    "RCPT TO:<x@example.net>");
		if (store_block_put(s, &b, err, sizeof(err)) != 0)
			_exit(4);
		if (write(fd, &i, sizeof(i)) != sizeof(i))
			_exit(5);
	}
	_exit(0);
}

/* Child: a big transaction that never commits. */
static void
crash_open_txn(const char *path, int fd)
{
	struct store *s;
	char c = 'r';
	int i;

	if ((s = store_open(path, err, sizeof(err))) == NULL)
		_exit(3);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		_exit(4);
	for (i = 0; i < 20000; i++) {
		char sql[256];

		snprintf(sql, sizeof(sql), "INSERT INTO blocks VALUES ("
		    "'2001:db8:d::%x', 128, 6, 'uncommitted', 1, 2, 1, 'auto', "
		    "'')", i + 1);
		if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
			_exit(5);
	}
	/* Force pages out to the log mid-transaction, then wait to die. */
	(void)sqlite3_db_cacheflush(s->db);
	if (write(fd, &c, 1) != 1)
		_exit(6);
	for (;;)
		pause();
}

static int
count_cb(const struct store_block *b, void *arg)
{
	(void)b;
	(*(int *)arg)++;
	return 0;
}

static void
test_crash(void)
{
	char path[256], a[INET6_ADDRSTRLEN];
	struct store *s;
	struct store_block got;
	int p[2], idx = -1, last = -1, i, n, status;
	pid_t pid;
	char c;

	path_of(path, sizeof(path), "crash.db");
	/* Create it first so both children open an existing database. */
	s = store_open(path, err, sizeof(err));
	TEST_CHECK(s != NULL);
	store_close(s);

	/* 1. SIGKILL at an arbitrary point of a stream of commits. */
	TEST_CHECK(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		crash_writer(path, p[1]);
	}
	close(p[1]);
	while (last < 300 && read(p[0], &idx, sizeof(idx)) == sizeof(idx))
		last = idx;
	kill(pid, SIGKILL);
	/* Commits reported before the kill are all we can count on. */
	while (read(p[0], &idx, sizeof(idx)) == sizeof(idx))
		last = idx;
	close(p[0]);
	waitpid(pid, &status, 0);
	TEST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	TEST_CHECK(last >= 300);

	/* 2. SIGKILL while a big transaction is open and partly written. */
	TEST_CHECK(pipe(p) == 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		crash_open_txn(path, p[1]);
	}
	close(p[1]);
	ASSERT_INT_EQ(read(p[0], &c, 1), 1);
	kill(pid, SIGKILL);
	close(p[0]);
	waitpid(pid, &status, 0);
	TEST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* Reopen: consistent (quick_check passed), every reported commit
	 * present, at most one more (committed, killed before reporting),
	 * nothing of the uncommitted transaction. */
	s = store_open(path, err, sizeof(err));
	TEST_CHECK(s != NULL);
	if (s == NULL) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	for (i = 0; i <= last; i++) {
		crash_addr(a, sizeof(a), i);
		if (store_block_get(s, a, 128, &got, err, sizeof(err)) != 1 ||
		    got.created != i) {
			fprintf(stderr, "committed row %d missing\n", i);
			TEST_CHECK(0);
			break;
		}
	}
	n = 0;
	ASSERT_INT_EQ(store_blocks_active(s, 0, count_cb, &n, err,
	    sizeof(err)), 0);
	TEST_CHECK(n == last + 1 || n == last + 2);
	ASSERT_INT_EQ(store_block_get(s, "2001:db8:d::1", 128, &got, err,
	    sizeof(err)), 0);
	store_close(s);
}

/* Write len bytes of data to a new file at path. */
static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	TEST_CHECK(fp != NULL);
	if (fp == NULL)
		return;
	TEST_CHECK(fwrite(data, 1, len, fp) == len);
	fclose(fp);
}

/* store_open must fail naming the file and leave it byte-identical. */
static void
expect_refused(const char *path, const char *why)
{
	char *before, *after;
	size_t lb = 0, la = 0;
	struct store *s;

	before = slurp(path, &lb);
	TEST_CHECK(before != NULL);
	err[0] = '\0';
	s = store_open(path, err, sizeof(err));
	TEST_CHECK(s == NULL);
	store_close(s);
	TEST_CHECK(strstr(err, path) != NULL);
	if (strstr(err, why) == NULL) {
		fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, why);
		TEST_CHECK(0);
	}
	after = slurp(path, &la);
	TEST_CHECK(after != NULL);
	ASSERT_INT_EQ(la, lb);
	if (before != NULL && after != NULL && la == lb)
		ASSERT_MEM_EQ(before, after, lb);
	free(before);
	free(after);
}

static void
test_corrupt(void)
{
	char path[256], lnk[256], buf[8192];
	struct store *s;
	struct store_block b;
	sqlite3 *db;
	size_t i;
	int fd;

	/* Not a database at all. */
	path_of(path, sizeof(path), "garbage.db");
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 131 + 7);
	write_file(path, buf, sizeof(buf));
	expect_refused(path, "refusing to start");

	/* Text someone put there by mistake. */
	path_of(path, sizeof(path), "text.db");
	write_file(path, "local-domains example.test\n", 27);
	expect_refused(path, "refusing to start");

	/* A real state database whose pages were damaged. */
	path_of(path, sizeof(path), "damaged.db");
	s = store_open(path, err, sizeof(err));
	TEST_CHECK(s != NULL);
	for (i = 0; s != NULL && i < 200; i++) {
		char a[INET6_ADDRSTRLEN];

		snprintf(a, sizeof(a), "2001:db8:e::%zx", i + 1);
		b = mk(a, 128, 1, 0, 1, STORE_AUTO, "damage test",
		    "RCPT TO:<someone@example.org>");
		ASSERT_INT_EQ(store_block_put(s, &b, err, sizeof(err)), 0);
	}
	store_close(s);
	if ((fd = open(path, O_WRONLY)) != -1) {
		/* Pages 3 and 4 (4096 bytes each): the blocks table's root
		 * and its primary key index. */
		memset(buf, 0x5a, sizeof(buf));
		TEST_CHECK(pwrite(fd, buf, sizeof(buf), 4096 * 2) ==
		    (ssize_t)sizeof(buf));
		close(fd);
	}
	expect_refused(path, "refusing to start");

	/* Somebody else's SQLite database. */
	path_of(path, sizeof(path), "foreign.db");
	TEST_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	TEST_CHECK(sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t "
	    "VALUES (1)", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	/* The error is SQLite's, not the previous query's leftovers. */
	expect_refused(path, "not a relayguard state database (no such "
	    "table: schema_version)");

	/* A version table with no row in it. */
	path_of(path, sizeof(path), "noversion.db");
	TEST_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	TEST_CHECK(sqlite3_exec(db, "CREATE TABLE schema_version (version "
	    "INTEGER NOT NULL)", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	expect_refused(path, "not a relayguard state database (no version)");

	/* A symbolic link is not followed. */
	path_of(path, sizeof(path), "b.db");
	path_of(lnk, sizeof(lnk), "link.db");
	TEST_CHECK(symlink(path, lnk) == 0);
	s = store_open(lnk, err, sizeof(err));
	TEST_CHECK(s == NULL);
	TEST_CHECK(strstr(err, lnk) != NULL);
	store_close(s);

	/* A missing directory is the daemon's business: a clear error. */
	s = store_open("/nonexistent-dir.test/state.db", err, sizeof(err));
	TEST_CHECK(s == NULL);
	TEST_CHECK(strstr(err, "/nonexistent-dir.test/state.db") != NULL);
	store_close(s);
}

int
main(void)
{
	char cmd[300];
	int ret;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	TEST_RUN(test_put_get_del);
	TEST_RUN(test_active_expire);
	TEST_RUN(test_offences);
	TEST_RUN(test_crash);
	TEST_RUN(test_corrupt);
	TEST_RUN(test_migrate);
	TEST_RUN(test_crowdsec);
	ret = TEST_END("store");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return ret;
}
