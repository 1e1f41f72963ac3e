/*
 * store.c — blocks in SQLite (see store.h for the guarantees).
 *
 * Why these settings:
 * - WAL: a writer never blocks readers (the control socket can list blocks
 *   while the daemon writes), and a crash mid-write leaves the main file
 *   untouched; the uncommitted tail of the log is ignored on the next open.
 * - synchronous=FULL: the log is fsync'd at every commit, so a committed
 *   block survives power loss too, not only process death (NORMAL would
 *   already survive SIGKILL, but could lose the last blocks on power loss).
 * - busy_timeout: another process (the relayguard tool, sqlite3 by hand)
 *   holding the lock briefly makes us wait, not fail.
 * - quick_check at open: a damaged file is refused with its name before
 *   anything is written to it.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cidr.h"
#include "store.h"

#define STORE_BUSY_MS	5000

enum store_stmt {
	ST_PUT,
	ST_GET,
	ST_DEL,
	ST_ACTIVE,
	ST_EXPIRE,
	ST_EXPIRED,
	ST_OFFENCES,
	ST_OFFENCE_ADD,
	ST_OFFENCE_LIST,
	ST_FORGET,
	ST_PRUNE,
	ST_OUTBOX_ADD,
	ST_OUTBOX_NEXT,
	ST_OUTBOX_DONE,
	ST_OUTBOX_COUNT,
	ST_COUNT
};

static const char *const store_sql[ST_COUNT] = {
	[ST_PUT] = "INSERT OR REPLACE INTO blocks (addr, prefix, family, "
	    "reason, created, expires, offences, source, evidence) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_GET] = "SELECT addr, prefix, family, reason, created, expires, "
	    "offences, source, evidence FROM blocks "
	    "WHERE addr = ?1 AND prefix = ?2",
	[ST_DEL] = "DELETE FROM blocks WHERE addr = ?1 AND prefix = ?2",
	[ST_ACTIVE] = "SELECT addr, prefix, family, reason, created, expires, "
	    "offences, source, evidence FROM blocks "
	    "WHERE expires = 0 OR expires > ?1 ORDER BY created, addr, prefix",
	[ST_EXPIRE] = "DELETE FROM blocks WHERE expires <> 0 AND expires <= ?1",
	[ST_EXPIRED] = "SELECT addr, prefix, family, reason, created, expires, "
	    "offences, source, evidence FROM blocks "
	    "WHERE expires <> 0 AND expires <= ?1 ORDER BY created, addr, prefix",
	[ST_OFFENCES] = "SELECT count(*) FROM offences "
	    "WHERE addr = ?1 AND prefix = ?2 AND at >= ?3",
	[ST_OFFENCE_ADD] = "INSERT INTO offences (addr, prefix, at) "
	    "VALUES (?1, ?2, ?3)",
	/* rg_inside() is store_inside_fn(), registered at open. */
	[ST_OFFENCE_LIST] = "SELECT addr, prefix, at FROM offences "
	    "WHERE rg_inside(addr, prefix, ?1, ?2) ORDER BY at, addr, prefix",
	[ST_FORGET] = "DELETE FROM offences WHERE rg_inside(addr, prefix, ?1, ?2)",
	[ST_PRUNE] = "DELETE FROM offences WHERE at < ?1",
	[ST_OUTBOX_ADD] = "INSERT INTO outbox (kind, addr, prefix, at, "
	    "duration, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_OUTBOX_NEXT] = "SELECT id, kind, addr, prefix, at, duration, "
	    "message FROM outbox ORDER BY id LIMIT ?1",
	[ST_OUTBOX_DONE] = "DELETE FROM outbox WHERE id <= ?1",
	[ST_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",
};

/* One row per offence (an automatic block), with its time: a block
 * doubles for each offence younger than offence-memory, so the time of
 * every one matters, not only a count. */
#define STORE_OFFENCES_TABLE \
	"CREATE TABLE offences (" \
	"  addr TEXT NOT NULL," \
	"  prefix INTEGER NOT NULL," \
	"  at INTEGER NOT NULL);"	/* unix seconds */ \
	"CREATE INDEX offences_key ON offences (addr, prefix, at);" \
	"CREATE INDEX offences_at ON offences (at);"

/* Blocks and unblocks waiting for CrowdSec's Local API (crowdsec.c). */
#define STORE_OUTBOX_TABLE \
	"CREATE TABLE outbox (" \
	"  id INTEGER PRIMARY KEY AUTOINCREMENT," \
	"  kind TEXT NOT NULL CHECK (kind IN ('add', 'del'))," \
	"  addr TEXT NOT NULL," \
	"  prefix INTEGER NOT NULL CHECK (prefix BETWEEN 0 AND 128)," \
	"  at INTEGER NOT NULL," \
	"  duration INTEGER NOT NULL," \
	"  message TEXT NOT NULL DEFAULT '');"

/* The blocks table; its source is auto, manual or crowdsec:ORIGIN. */
#define STORE_BLOCKS_TABLE(name) \
	"CREATE TABLE " name " (" \
	"  addr TEXT NOT NULL," \
	"  prefix INTEGER NOT NULL CHECK (prefix BETWEEN 0 AND 128)," \
	"  family INTEGER NOT NULL CHECK (family IN (4, 6))," \
	"  reason TEXT NOT NULL DEFAULT ''," \
	"  created INTEGER NOT NULL," \
	"  expires INTEGER NOT NULL," \
	"  offences INTEGER NOT NULL DEFAULT 1," \
	"  source TEXT NOT NULL CHECK (source IN ('auto', 'manual') OR " \
	"    (source GLOB 'crowdsec:?*' AND length(source) <= 40))," \
	"  evidence TEXT NOT NULL DEFAULT ''," \
	"  PRIMARY KEY (addr, prefix));"

static const char store_schema[] =
	"CREATE TABLE schema_version (version INTEGER NOT NULL);"
	"INSERT INTO schema_version VALUES (3);"
	STORE_BLOCKS_TABLE("blocks")
	"CREATE INDEX blocks_expires ON blocks (expires);"
	STORE_OFFENCES_TABLE
	STORE_OUTBOX_TABLE;

/* Version 2 had no outbox and only auto/manual blocks: the blocks table
 * is copied into one whose source may also name a CrowdSec origin. */
static const char store_migrate_2[] =
	STORE_BLOCKS_TABLE("blocks3")
	"INSERT INTO blocks3 SELECT addr, prefix, family, reason, created, "
	"expires, offences, source, evidence FROM blocks;"
	"DROP TABLE blocks;"
	"ALTER TABLE blocks3 RENAME TO blocks;"
	"CREATE INDEX blocks_expires ON blocks (expires);"
	STORE_OUTBOX_TABLE
	"UPDATE schema_version SET version = 3;";

/*
 * Version 1 kept one row per offender in `offenders` (a count and the
 * expiry of its last block), and an active block's count in the block.
 * Each count becomes that many rows of `offences` (at most
 * STORE_MIGRATE_MAX: more would not lengthen any block): the history's at
 * its `last`, the rest of an active block's count at the block's creation.
 * The times of older offences were never kept; these are the latest ones
 * known, so a migrated offender is remembered a little longer, not less.
 */
#define STORE_MIGRATE_MAX "64"
static const char store_migrate_1[] =
	STORE_OFFENCES_TABLE
	"WITH RECURSIVE seq(addr, prefix, n, at) AS ("
	"  SELECT addr, prefix, min(offences, " STORE_MIGRATE_MAX "), last "
	"  FROM offenders WHERE offences > 0"
	"  UNION ALL SELECT addr, prefix, n - 1, at FROM seq WHERE n > 1) "
	"INSERT INTO offences (addr, prefix, at) "
	"SELECT addr, prefix, at FROM seq;"
	"WITH RECURSIVE seq(addr, prefix, n, at) AS ("
	"  SELECT b.addr, b.prefix, min(b.offences - coalesce(o.offences, 0), "
	"  " STORE_MIGRATE_MAX "), b.created "
	"  FROM blocks b LEFT JOIN offenders o "
	"  ON o.addr = b.addr AND o.prefix = b.prefix "
	"  WHERE b.offences > coalesce(o.offences, 0)"
	"  UNION ALL SELECT addr, prefix, n - 1, at FROM seq WHERE n > 1) "
	"INSERT INTO offences (addr, prefix, at) "
	"SELECT addr, prefix, at FROM seq;"
	"DROP TABLE offenders;"
	"UPDATE schema_version SET version = 2;";

struct store {
	sqlite3		*db;
	sqlite3_stmt	*st[ST_COUNT];
	char		*path;
	int		 migrated_from;	/* schema version upgraded at open */
	int		 batch;		/* inside store_batch_begin() */
	int		 batch_failed;	/* a write of the batch failed */
};

static void	 store_err(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
store_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *
store_source_name(enum store_source s)
{
	return s == STORE_MANUAL ? "manual" : s == STORE_CROWDSEC ?
	    "crowdsec" : "auto";
}

const char *
store_block_source(const struct store_block *b, char *buf, size_t len)
{
	if (b->source == STORE_CROWDSEC)
		snprintf(buf, len, "crowdsec:%s", b->origin);
	else
		snprintf(buf, len, "%s", store_source_name(b->source));
	return buf;
}

/* A CrowdSec origin: 1-31 bytes of letters, digits, - _ . : / */
static int
store_origin_ok(const char *o)
{
	size_t i, n = strnlen(o, STORE_ORIGIN_MAX + 1);

	if (n == 0 || n > STORE_ORIGIN_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((o[i] >= 'a' && o[i] <= 'z') ||
		    (o[i] >= 'A' && o[i] <= 'Z') ||
		    (o[i] >= '0' && o[i] <= '9') || strchr("-_.:/", o[i])))
			return 0;
	return 1;
}

/*
 * The key addr/prefix as a prefix (filters/cidr.h): addr a textual
 * address, the length within its family's width, no host bits set.
 */
static int
store_prefix(const char *addr, int prefix, struct cidr *out)
{
	const char *end = memchr(addr, '\0', INET6_ADDRSTRLEN);
	struct rg_addr a;

	if (end == NULL || prefix < 0 ||
	    !rg_addr_parse(addr, (size_t)(end - addr), &a) ||
	    !cidr_make(&a, (unsigned)prefix, out, NULL))
		return -1;
	return 0;
}

/* The key's canonical address text and its family (4 or 6). */
static int
store_canon(const char *addr, int prefix, char out[INET6_ADDRSTRLEN],
    int *family)
{
	struct cidr c;

	if (store_prefix(addr, prefix, &c) == -1 ||
	    rg_addr_str(&c.net, out, INET6_ADDRSTRLEN)[0] == '\0')
		return -1;
	*family = c.net.family;
	return 0;
}

/*
 * SQL rg_inside(addr, prefix, net, netprefix): 1 if the key addr/prefix
 * lies inside net/netprefix (cidr_covers), else 0.  `forget` and `why`
 * take a prefix and act on every offender inside it.
 */
static void
store_inside_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *t1, *t2;
	struct cidr key, net;
	int in = 0;

	(void)argc;
	t1 = sqlite3_value_text(argv[0]);
	t2 = sqlite3_value_text(argv[2]);
	if (t1 != NULL && t2 != NULL &&
	    store_prefix((const char *)t1, sqlite3_value_int(argv[1]),
	    &key) == 0 &&
	    store_prefix((const char *)t2, sqlite3_value_int(argv[3]),
	    &net) == 0)
		in = cidr_covers(&net, &key);
	sqlite3_result_int(ctx, in);
}

/* The connection's last error message (callers read it before a rollback). */
static const char *
store_dberr(struct store *s)
{
	return sqlite3_errmsg(s->db);
}

static int
store_exec(struct store *s, const char *sql, char *err, size_t errlen,
    const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		store_err(err, errlen, "%s: %s: %s", s->path, what,
		    msg ? msg : store_dberr(s));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
store_begin(struct store *s, char *err, size_t errlen, const char *what)
{
	if (s->batch)
		return 0;
	/* IMMEDIATE: take the write lock now, so the transaction cannot
	 * fail halfway on a lock another writer took in between. */
	return store_exec(s, "BEGIN IMMEDIATE", err, errlen, what);
}

static int
store_commit(struct store *s, char *err, size_t errlen, const char *what)
{
	if (s->batch)
		return 0;
	if (store_exec(s, "COMMIT", err, errlen, what) == -1) {
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

static void
store_rollback(struct store *s)
{
	if (s->batch) {
		s->batch_failed = 1;	/* store_batch_end() rolls back */
		return;
	}
	if (!sqlite3_get_autocommit(s->db))
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Run a one-row pragma and copy its text result. */
static int
store_pragma(struct store *s, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	const unsigned char *t;
	int rc;

	/* Empty on every path: a caller reporting a failure must never
	 * print what an earlier query left here, or stack garbage. */
	if (outlen > 0)
		out[0] = '\0';
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (t = sqlite3_column_text(st, 0)) != NULL)
		snprintf(out, outlen, "%s", (const char *)t);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Refuse a damaged file, a file that is not an SQLite database, or a
 * database that is not ours — before anything writes to it.
 */
static int
store_check(struct store *s, int *fresh, int *old, char *err, size_t errlen)
{
	char res[256];
	int version, rc;

	if (store_pragma(s, "PRAGMA quick_check", res, sizeof(res)) == -1) {
		store_err(err, errlen, "%s: cannot read the state database: "
		    "%s; refusing to start (the file was left as it is)",
		    s->path, store_dberr(s));
		return -1;
	}
	if (strcmp(res, "ok") != 0) {
		char *nl;

		/* One log line: the report lists problems one per line. */
		while ((nl = strchr(res, '\n')) != NULL)
			*nl = ' ';
		store_err(err, errlen, "%s: the state database is damaged "
		    "(quick_check: %s); refusing to start (the file was left "
		    "as it is)", s->path, res);
		return -1;
	}
	if (store_pragma(s, "SELECT count(*) FROM sqlite_schema", res,
	    sizeof(res)) == -1) {
		store_err(err, errlen, "%s: cannot read the schema: %s",
		    s->path, store_dberr(s));
		return -1;
	}
	if (strcmp(res, "0") == 0) {
		*fresh = 1;
		return 0;
	}
	*fresh = 0;
	if ((rc = store_pragma(s, "SELECT version FROM schema_version", res,
	    sizeof(res))) == -1 || res[0] == '\0') {
		store_err(err, errlen, "%s: not a relayguard state database "
		    "(%s); refusing to start (the file was left as it is)",
		    s->path, rc == -1 ? store_dberr(s) : "no version");
		return -1;
	}
	version = atoi(res);
	if (version < 1 || version > STORE_SCHEMA_VERSION) {
		store_err(err, errlen, "%s: schema version %d, this relayguard "
		    "knows 1 to %d; refusing to start (the file was left as it "
		    "is)", s->path, version, STORE_SCHEMA_VERSION);
		return -1;
	}
	*old = version;
	return 0;
}

/* Create the file 0600 unless it exists; refuse what is not a file. */
static int
store_create_file(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd != -1) {
		/* The umask may only have narrowed it; make it exact. */
		if (fchmod(fd, 0600) == -1) {
			store_err(err, errlen, "%s: chmod: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
		return 0;
	}
	if (errno != EEXIST) {
		store_err(err, errlen, "%s: create: %s", path, strerror(errno));
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		store_err(err, errlen, "%s: open: %s; refusing to start", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		store_err(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

struct store *
store_open(const char *path, char *err, size_t errlen)
{
	struct store *s;
	char res[32];
	int fresh = 0, version = STORE_SCHEMA_VERSION, i, rc;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->path = strdup(path)) == NULL) {
		store_err(err, errlen, "%s: %s", path, strerror(errno));
		if (s != NULL)
			free(s);
		return NULL;
	}
	if (store_create_file(path, err, errlen) == -1)
		goto fail;
	/* No SQLITE_OPEN_CREATE: the file exists now, and must stay ours. */
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		store_err(err, errlen, "%s: open: %s", path, s->db ?
		    sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	if (store_exec(s, "PRAGMA trusted_schema = OFF;"
	    "PRAGMA cell_size_check = ON", err, errlen, "pragmas") == -1 ||
	    store_check(s, &fresh, &version, err, errlen) == -1)
		goto fail;
	if ((rc = store_pragma(s, "PRAGMA journal_mode = WAL", res,
	    sizeof(res))) == -1 || strcmp(res, "wal") != 0) {
		store_err(err, errlen, "%s: cannot switch to WAL mode: %s",
		    path, rc == -1 ? store_dberr(s) : res);
		goto fail;
	}
	if (store_exec(s, "PRAGMA synchronous = FULL", err, errlen,
	    "synchronous") == -1)
		goto fail;
	if (fresh) {
		if (store_begin(s, err, errlen, "create schema") == -1 ||
		    store_exec(s, store_schema, err, errlen, "create schema")
		    == -1) {
			store_rollback(s);
			goto fail;
		}
		if (store_commit(s, err, errlen, "create schema") == -1)
			goto fail;
	} else if (version == 1) {
		/* In place, in one transaction: a failure leaves version 1
		 * with every block and count as it was. */
		if (store_begin(s, err, errlen, "upgrade schema 1 to 2") == -1 ||
		    store_exec(s, store_migrate_1, err, errlen,
		    "upgrade schema 1 to 2") == -1) {
			store_rollback(s);
			goto fail;
		}
		if (store_commit(s, err, errlen, "upgrade schema 1 to 2") == -1)
			goto fail;
		s->migrated_from = 1;
	}
	if (!fresh && version <= 2) {
		if (store_begin(s, err, errlen, "upgrade schema 2 to 3") == -1 ||
		    store_exec(s, store_migrate_2, err, errlen,
		    "upgrade schema 2 to 3") == -1) {
			store_rollback(s);
			goto fail;
		}
		if (store_commit(s, err, errlen, "upgrade schema 2 to 3") == -1)
			goto fail;
		if (s->migrated_from == 0)
			s->migrated_from = 2;
	}
	if (sqlite3_create_function_v2(s->db, "rg_inside", 4, SQLITE_UTF8 |
	    SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL, store_inside_fn,
	    NULL, NULL, NULL) != SQLITE_OK) {
		store_err(err, errlen, "%s: rg_inside: %s", path,
		    store_dberr(s));
		goto fail;
	}
	for (i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
			store_err(err, errlen, "%s: prepare: %s", path,
			    store_dberr(s));
			goto fail;
		}
	}
	return s;
fail:
	store_close(s);
	return NULL;
}

int
store_migrated_from(const struct store *s)
{
	return s->migrated_from;
}

void
store_close(struct store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	/* sqlite3_close_v2 checkpoints the log into the main file. */
	if (s->db != NULL)
		sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
}

/* Copy a text column into dst[dstlen]; -1 if it does not fit. */
static int
store_col_text(sqlite3_stmt *st, int col, char *dst, size_t dstlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (n < 0 || (size_t)n >= dstlen)
		return -1;
	if (n > 0 && t == NULL)
		return -1;
	if (n > 0)
		memcpy(dst, t, (size_t)n);
	dst[n] = '\0';
	/* An embedded NUL would make the C string shorter than the row. */
	return strlen(dst) == (size_t)n ? 0 : -1;
}

/* Fill b from the current row of a blocks SELECT; -1 if malformed. */
static int
store_row(sqlite3_stmt *st, struct store_block *b)
{
	char source[48], canon[INET6_ADDRSTRLEN];
	int64_t prefix, family, offences;
	int af;

	memset(b, 0, sizeof(*b));
	if (store_col_text(st, 0, b->addr, sizeof(b->addr)) == -1 ||
	    store_col_text(st, 3, b->reason, sizeof(b->reason)) == -1 ||
	    store_col_text(st, 7, source, sizeof(source)) == -1 ||
	    store_col_text(st, 8, b->evidence, sizeof(b->evidence)) == -1)
		return -1;
	prefix = sqlite3_column_int64(st, 1);
	family = sqlite3_column_int64(st, 2);
	offences = sqlite3_column_int64(st, 6);
	if (prefix < 0 || prefix > 128 || offences < 0 || offences > INT32_MAX)
		return -1;
	if (store_canon(b->addr, (int)prefix, canon, &af) == -1 ||
	    strcmp(canon, b->addr) != 0 ||
	    family != af)
		return -1;
	b->prefix = (int)prefix;
	b->family = af;
	b->created = sqlite3_column_int64(st, 4);
	b->expires = sqlite3_column_int64(st, 5);
	b->offences = (int)offences;
	if (strcmp(source, "manual") == 0)
		b->source = STORE_MANUAL;
	else if (strcmp(source, "auto") == 0)
		b->source = STORE_AUTO;
	else if (strncmp(source, "crowdsec:", 9) == 0 &&
	    store_origin_ok(source + 9)) {
		b->source = STORE_CROWDSEC;
		memcpy(b->origin, source + 9, strlen(source + 9) + 1);
	} else
		return -1;
	return 0;
}

static int
store_text_ok(const char *t, size_t max)
{
	return memchr(t, '\0', max + 1) != NULL;
}

int
store_block_put(struct store *s, const struct store_block *b, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_PUT];
	char canon[INET6_ADDRSTRLEN], source[48];
	int af, rc;

	if (store_canon(b->addr, b->prefix, canon, &af) == -1) {
		store_err(err, errlen, "store_block_put: bad prefix %.*s/%d",
		    INET6_ADDRSTRLEN, b->addr, b->prefix);
		errno = EINVAL;
		return -1;
	}
	if (!store_text_ok(b->reason, STORE_REASON_MAX) ||
	    !store_text_ok(b->evidence, STORE_EVIDENCE_MAX) ||
	    b->offences < 0 || b->created < 0 || b->expires < 0 ||
	    (b->source != STORE_AUTO && b->source != STORE_MANUAL &&
	    (b->source != STORE_CROWDSEC || !store_origin_ok(b->origin)))) {
		store_err(err, errlen, "store_block_put: %s/%d: bad field",
		    canon, b->prefix);
		errno = EINVAL;
		return -1;
	}
	if (store_begin(s, err, errlen, "store_block_put") == -1)
		return -1;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, canon, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, b->prefix);
	sqlite3_bind_int(st, 3, af);
	sqlite3_bind_text(st, 4, b->reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, b->created);
	sqlite3_bind_int64(st, 6, b->expires);
	sqlite3_bind_int(st, 7, b->offences);
	sqlite3_bind_text(st, 8, store_block_source(b, source,
	    sizeof(source)), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, b->evidence, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		store_err(err, errlen, "%s: store_block_put %s/%d: %s",
		    s->path, canon, b->prefix, store_dberr(s));
		store_rollback(s);
		return -1;
	}
	return store_commit(s, err, errlen, "store_block_put");
}

/* Run a one-statement write in its own transaction; rows changed or -1.
 * The statement's parameters are bound by the caller. */
static long
store_write(struct store *s, sqlite3_stmt *st, const char *op, char *err,
    size_t errlen)
{
	long n;

	if (store_begin(s, err, errlen, op) == -1) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return -1;
	}
	if (sqlite3_step(st) != SQLITE_DONE) {
		store_err(err, errlen, "%s: %s: %s", s->path, op,
		    store_dberr(s));
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		store_rollback(s);
		return -1;
	}
	n = (long)sqlite3_changes(s->db);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (store_commit(s, err, errlen, op) == -1)
		return -1;
	return n;
}

/* Bind the canonical (addr, prefix) to ?1, ?2 of st. */
static int
store_bind_key(sqlite3_stmt *st, const char *addr, int prefix,
    const char *op, char *err, size_t errlen)
{
	char canon[INET6_ADDRSTRLEN];
	int af;

	if (store_canon(addr, prefix, canon, &af) == -1) {
		store_err(err, errlen, "%s: bad prefix %.*s/%d", op,
		    INET6_ADDRSTRLEN, addr, prefix);
		errno = EINVAL;
		return -1;
	}
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, canon, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, prefix);
	return 0;
}

int
store_block_get(struct store *s, const char *addr, int prefix,
    struct store_block *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_GET];
	int rc, ret;

	if (store_bind_key(st, addr, prefix, "store_block_get", err, errlen)
	    == -1)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret = 1;
		if (store_row(st, out) == -1) {
			store_err(err, errlen, "%s: block %s/%d: malformed row",
			    s->path, addr, prefix);
			ret = -1;
		}
	} else if (rc == SQLITE_DONE)
		ret = 0;
	else {
		store_err(err, errlen, "%s: store_block_get: %s", s->path,
		    store_dberr(s));
		ret = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

int
store_block_del(struct store *s, const char *addr, int prefix, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_DEL];
	long n;

	if (store_bind_key(st, addr, prefix, "store_block_del", err, errlen)
	    == -1)
		return -1;
	if ((n = store_write(s, st, "store_block_del", err, errlen)) < 0)
		return -1;
	return n > 0;
}

/* Call cb for each row of a block query bound to now. */
static int
store_blocks_walk(struct store *s, enum store_stmt which, int64_t now,
    store_block_cb cb, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st[which];
	struct store_block *b;
	int rc, ret = 0;

	/* Heap, not stack: the evidence makes it 8 KiB. */
	if ((b = malloc(sizeof(*b))) == NULL) {
		store_err(err, errlen, "store_blocks_active: %s",
		    strerror(errno));
		return -1;
	}
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (store_row(st, b) == -1) {
			const unsigned char *a = sqlite3_column_text(st, 0);

			store_err(err, errlen, "%s: block %.64s: malformed row",
			    s->path, a != NULL ? (const char *)a : "?");
			ret = -1;
			break;
		}
		if ((ret = cb(b, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		store_err(err, errlen, "%s: store_blocks_active: %s", s->path,
		    store_dberr(s));
		ret = -1;
	}
	sqlite3_reset(st);
	free(b);
	return ret;
}

int
store_blocks_active(struct store *s, int64_t now, store_block_cb cb,
    void *arg, char *err, size_t errlen)
{
	return store_blocks_walk(s, ST_ACTIVE, now, cb, arg, err, errlen);
}

int
store_blocks_expired(struct store *s, int64_t now, store_block_cb cb,
    void *arg, char *err, size_t errlen)
{
	return store_blocks_walk(s, ST_EXPIRED, now, cb, arg, err, errlen);
}

long
store_expire(struct store *s, int64_t now, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_EXPIRE];

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, now);
	return store_write(s, st, "store_expire", err, errlen);
}

int
store_offences(struct store *s, const char *addr, int prefix, int64_t since,
    int *offences, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_OFFENCES];
	int64_t v;
	int rc;

	if (store_bind_key(st, addr, prefix, "store_offences", err, errlen)
	    == -1)
		return -1;
	sqlite3_bind_int64(st, 3, since);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		store_err(err, errlen, "%s: store_offences: %s", s->path,
		    store_dberr(s));
		sqlite3_reset(st);
		return -1;
	}
	v = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 :
	    sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	*offences = v < 0 ? 0 : v > INT32_MAX ? INT32_MAX : (int)v;
	return 0;
}

int
store_offence_add(struct store *s, const char *addr, int prefix, int64_t at,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_OFFENCE_ADD];

	if (at < 0) {
		store_err(err, errlen, "store_offence_add: negative time");
		errno = EINVAL;
		return -1;
	}
	if (store_bind_key(st, addr, prefix, "store_offence_add", err, errlen)
	    == -1)
		return -1;
	sqlite3_bind_int64(st, 3, at);
	return store_write(s, st, "store_offence_add", err, errlen) < 0 ?
	    -1 : 0;
}

int
store_offences_list(struct store *s, const char *addr, int prefix,
    store_offence_cb cb, void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_OFFENCE_LIST];
	struct store_offence o;
	struct cidr key;
	int64_t p;
	int rc, ret = 0;

	if (store_bind_key(st, addr, prefix, "store_offences_list", err,
	    errlen) == -1)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&o, 0, sizeof(o));
		p = sqlite3_column_int64(st, 1);
		if (store_col_text(st, 0, o.addr, sizeof(o.addr)) == -1 ||
		    p < 0 || p > 128 || store_prefix(o.addr, (int)p, &key)
		    == -1) {
			store_err(err, errlen, "%s: offence of %.64s: "
			    "malformed row", s->path, o.addr);
			ret = -1;
			break;
		}
		o.prefix = (int)p;
		o.at = sqlite3_column_int64(st, 2);
		if ((ret = cb(&o, arg)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		store_err(err, errlen, "%s: store_offences_list: %s", s->path,
		    store_dberr(s));
		ret = -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

long
store_offences_forget(struct store *s, const char *addr, int prefix,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_FORGET];

	if (store_bind_key(st, addr, prefix, "store_offences_forget", err,
	    errlen) == -1)
		return -1;
	return store_write(s, st, "store_offences_forget", err, errlen);
}

long
store_history_prune(struct store *s, int64_t before, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_PRUNE];

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, before);
	return store_write(s, st, "store_history_prune", err, errlen);
}

int
store_batch_begin(struct store *s, char *err, size_t errlen)
{
	if (store_begin(s, err, errlen, "batch") == -1)
		return -1;
	s->batch = 1;
	s->batch_failed = 0;
	return 0;
}

int
store_batch_end(struct store *s, char *err, size_t errlen)
{
	int failed = s->batch_failed;

	s->batch = 0;
	s->batch_failed = 0;
	if (failed) {
		store_rollback(s);
		store_err(err, errlen, "%s: a batch of writes failed and was "
		    "rolled back", s->path);
		return -1;
	}
	return store_commit(s, err, errlen, "batch");
}

int
store_outbox_add(struct store *s, const struct store_outbox *o, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_ADD];
	char canon[INET6_ADDRSTRLEN];
	int af;

	if (store_canon(o->addr, o->prefix, canon, &af) == -1 ||
	    !store_text_ok(o->message, STORE_OUTBOX_MESSAGE_MAX)) {
		store_err(err, errlen, "store_outbox_add: bad entry %.*s/%d",
		    INET6_ADDRSTRLEN, o->addr, o->prefix);
		return -1;
	}
	sqlite3_bind_text(st, 1, o->kind == STORE_OUTBOX_DEL ? "del" : "add",
	    -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, canon, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, o->prefix);
	sqlite3_bind_int64(st, 4, o->at);
	sqlite3_bind_int64(st, 5, o->duration);
	sqlite3_bind_text(st, 6, o->message, -1, SQLITE_TRANSIENT);
	return store_write(s, st, "store_outbox_add", err, errlen) < 0 ? -1 : 0;
}

/* A column of a malformed row as printable text for the log: control
 * and non-ASCII bytes as '?', cut to max bytes. */
static void
store_col_show(sqlite3_stmt *st, int col, char *dst, size_t max)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col), i;
	size_t k = 0;

	for (i = 0; t != NULL && i < n && k + 1 < max; i++)
		dst[k++] = t[i] >= ' ' && t[i] < 0x7f ? (char)t[i] : '?';
	dst[k] = '\0';
}

int
store_outbox_next(struct store *s, struct store_outbox *v, int max,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_NEXT];
	char kind[8], show[5][72], msg[STORE_OUTBOX_MESSAGE_MAX + 1];
	char derr[256];
	int n = 0, rc = SQLITE_DONE, af, i;
	int64_t bad;

	sqlite3_reset(st);
	sqlite3_bind_int(st, 1, max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_outbox *o = &v[n];
		char canon[INET6_ADDRSTRLEN];

		memset(o, 0, sizeof(*o));
		o->id = sqlite3_column_int64(st, 0);
		o->prefix = sqlite3_column_int(st, 3);
		o->at = sqlite3_column_int64(st, 4);
		o->duration = sqlite3_column_int64(st, 5);
		if (store_col_text(st, 1, kind, sizeof(kind)) == 0 &&
		    (strcmp(kind, "add") == 0 || strcmp(kind, "del") == 0) &&
		    store_col_text(st, 2, o->addr, sizeof(o->addr)) == 0 &&
		    store_col_text(st, 6, o->message, sizeof(o->message)) ==
		    0 && store_canon(o->addr, o->prefix, canon, &af) == 0) {
			o->kind = strcmp(kind, "del") == 0 ? STORE_OUTBOX_DEL :
			    STORE_OUTBOX_ADD;
			n++;
			continue;
		}
		/* Malformed: the rows before it go first; alone, it is
		 * taken out and its content handed to the caller. */
		if (n > 0) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return n;
		}
		bad = o->id;
		for (i = 0; i < 5; i++)
			store_col_show(st, i + 1, show[i], sizeof(show[i]));
		store_col_show(st, 6, msg, sizeof(msg));
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (store_outbox_done(s, bad, derr, sizeof(derr)) < 0) {
			store_err(err, errlen, "outbox row %lld is malformed and "
			    "could not be taken out: %s", (long long)bad, derr);
			return -1;
		}
		store_err(err, errlen, "%s: outbox row %lld was malformed and is "
		    "taken out unpushed: kind '%s' addr '%s' prefix '%s' at "
		    "'%s' duration '%s' message '%s'", s->path, (long long)bad,
		    show[0], show[1], show[2], show[3], show[4], msg);
		return STORE_OUTBOX_DROPPED;
	}
	if (n < max && rc != SQLITE_DONE) {
		store_err(err, errlen, "%s: reading the outbox: %s", s->path,
		    store_dberr(s));
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

int
store_outbox_done(struct store *s, int64_t upto_id, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_DONE];

	sqlite3_bind_int64(st, 1, upto_id);
	return store_write(s, st, "store_outbox_done", err, errlen) < 0 ? -1 :
	    0;
}

long
store_outbox_count(struct store *s, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->st[ST_OUTBOX_COUNT];
	long n = -1;

	sqlite3_reset(st);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	else
		store_err(err, errlen, "%s: counting the outbox: %s", s->path,
		    store_dberr(s));
	sqlite3_reset(st);
	return n;
}
