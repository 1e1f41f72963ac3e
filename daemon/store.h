/*
 * store.h — relayguard's persistent state: blocks and the offence history,
 * in SQLite.
 *
 * One file (state-db, default /var/lib/relayguard/state.db), mode 0600,
 * in WAL mode with synchronous=FULL: every write is one transaction that
 * is on disk when the call returns, so nothing committed is lost on
 * SIGTERM, SIGKILL, a crash in the middle of a write, or a power cut.
 * Blocks are written rarely (per offender, not per packet), so the fsync
 * per commit costs nothing that matters.
 *
 * A file that is not a relayguard database, is damaged, or cannot be read
 * is an error naming the file; it is never recreated or repaired, so what
 * it holds is not lost.  A database of an older schema is upgraded in place
 * at open, in one transaction, keeping its blocks and history.  Times are unix seconds supplied by the caller.
 * Errors: -1 (or NULL) and a message in err naming the operation.
 */
#ifndef RG_STORE_H
#define RG_STORE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION	3
#define STORE_REASON_MAX	255	/* bytes, without the NUL */
#define STORE_EVIDENCE_MAX	8191	/* bytes: the dialogue lines */
#define STORE_ORIGIN_MAX	31	/* a CrowdSec origin, without the NUL */
#define STORE_OUTBOX_MESSAGE_MAX 1023	/* an alert's message, without NUL */

struct store;

enum store_source {
	STORE_AUTO,		/* "auto": the policy blocked an offender */
	STORE_MANUAL,		/* "manual": an operator's block command */
	STORE_CROWDSEC		/* "crowdsec:ORIGIN": a CrowdSec decision */
};

struct store_block {
	char		 addr[INET6_ADDRSTRLEN];	/* network address */
	int		 prefix;		/* 0..32 or 0..128 */
	int		 family;		/* 4 or 6 (set when read) */
	int64_t		 created;		/* unix seconds */
	int64_t		 expires;		/* unix seconds; 0: never */
	int		 offences;		/* offences counted when made */
	enum store_source source;
	char		 origin[STORE_ORIGIN_MAX + 1];	/* STORE_CROWDSEC */
	char		 reason[STORE_REASON_MAX + 1];
	char		 evidence[STORE_EVIDENCE_MAX + 1];
};

/*
 * Open (creating it 0600 if missing; the directory must exist) and check
 * the database.  NULL and a message naming the file on any failure.
 */
struct store	*store_open(const char *path, char *err, size_t errlen);
/* Close; NULL is accepted. */
void		 store_close(struct store *);
/* The schema version store_open() upgraded from, or 0 if none. */
int		 store_migrated_from(const struct store *);

/*
 * Insert or replace the block keyed by (addr, prefix).  addr is parsed and
 * stored as inet_ntop writes it ("2001:DB8::1" becomes "2001:db8::1"); host
 * bits beyond the prefix must be zero; reason and evidence longer than
 * their maxima are refused, not clipped (the caller decides what to keep).
 */
int		 store_block_put(struct store *, const struct store_block *,
		    char *err, size_t errlen);
/* 1 and *out filled if (addr, prefix) is stored, 0 if not, -1 on error. */
int		 store_block_get(struct store *, const char *addr, int prefix,
		    struct store_block *out, char *err, size_t errlen);
/* 1 if it was deleted, 0 if it was not there, -1 on error. */
int		 store_block_del(struct store *, const char *addr, int prefix,
		    char *err, size_t errlen);

/*
 * Call cb for every block still active at `now` (expires == 0 or
 * expires > now), oldest first.  A non-zero return from cb stops the walk
 * and is returned; the block passed to cb lives until cb returns.  The
 * daemon re-installs these on start with timeout (expires - now).
 */
typedef int	 (*store_block_cb)(const struct store_block *, void *arg);
int		 store_blocks_active(struct store *, int64_t now,
		    store_block_cb cb, void *arg, char *err, size_t errlen);

/* The same for the blocks store_expire() would remove at `now`. */
int		 store_blocks_expired(struct store *, int64_t now,
		    store_block_cb cb, void *arg, char *err, size_t errlen);

/* Remove blocks that expired at or before `now`; count or -1. */
long		 store_expire(struct store *, int64_t now, char *err,
		    size_t errlen);

/*
 * The offence history: one row per offence (an automatic block) of a key
 * (addr, prefix), with its time.  It outlives blocks (expiry and unblock
 * leave it), so a repeat offender's next block is longer; it is cleared by
 * store_offences_forget() and by pruning what is older than offence-memory.
 */
struct store_offence {
	char		 addr[INET6_ADDRSTRLEN];
	int		 prefix;
	int64_t		 at;			/* unix seconds */
};

/* Record one offence of (addr, prefix) at `at`.  0 or -1. */
int		 store_offence_add(struct store *, const char *addr, int prefix,
		    int64_t at, char *err, size_t errlen);
/* How many offences of exactly (addr, prefix) happened at or after
 * `since` (0: all of them).  0 and *offences set, or -1. */
int		 store_offences(struct store *, const char *addr, int prefix,
		    int64_t since, int *offences, char *err, size_t errlen);
/* Call cb for every offence of a key inside addr/prefix (the key itself,
 * or longer prefixes within it), oldest first; a non-zero return from cb
 * stops the walk and is returned. */
typedef int	 (*store_offence_cb)(const struct store_offence *, void *arg);
int		 store_offences_list(struct store *, const char *addr,
		    int prefix, store_offence_cb cb, void *arg, char *err,
		    size_t errlen);
/* Delete every offence of a key inside addr/prefix; count or -1. */
long		 store_offences_forget(struct store *, const char *addr,
		    int prefix, char *err, size_t errlen);
/* Delete offences that happened before `before`; count or -1. */
long		 store_history_prune(struct store *, int64_t before, char *err,
		    size_t errlen);

const char	*store_source_name(enum store_source);
/* The source as stored and shown: "auto", "manual", "crowdsec:ORIGIN"
 * (into buf, which it returns). */
const char	*store_block_source(const struct store_block *, char *buf,
		    size_t len);

/*
 * Many writes in one transaction (a pull of CrowdSec decisions): between
 * store_batch_begin() and store_batch_end() the writes above commit
 * nothing by themselves; end commits them all, or none if one failed
 * (then -1).
 */
int		 store_batch_begin(struct store *, char *err, size_t errlen);
int		 store_batch_end(struct store *, char *err, size_t errlen);

/*
 * The CrowdSec outbox: blocks and unblocks waiting to be pushed to the
 * Local API, oldest first, kept until the push succeeded (so a LAPI that
 * is down loses nothing, across restarts too).
 */
enum store_outbox_kind { STORE_OUTBOX_ADD, STORE_OUTBOX_DEL };
struct store_outbox {
	int64_t		 id;
	enum store_outbox_kind kind;
	char		 addr[INET6_ADDRSTRLEN];
	int		 prefix;
	int64_t		 at;			/* unix seconds of the block */
	int64_t		 duration;		/* seconds (add) */
	char		 message[STORE_OUTBOX_MESSAGE_MAX + 1];
};
/* Queue one push.  0 or -1. */
int		 store_outbox_add(struct store *, const struct store_outbox *,
		    char *err, size_t errlen);
/*
 * Up to max waiting pushes, oldest first, into v; how many, or -1 (err).
 * A malformed row (not written by store_outbox_add: kind, address, prefix
 * or message not what it allows) ends the rows returned before it; when it
 * is the oldest, it is deleted and STORE_OUTBOX_DROPPED returned with err
 * holding its whole content, which the caller must log (the row is gone
 * once, never returned again: the pushes behind it go on).
 */
#define STORE_OUTBOX_DROPPED	(-2)
int		 store_outbox_next(struct store *, struct store_outbox *v,
		    int max, char *err, size_t errlen);
/* Remove pushes done (ids up to and including id, the oldest first). */
int		 store_outbox_done(struct store *, int64_t upto_id, char *err,
		    size_t errlen);
/* How many pushes wait, or -1. */
long		 store_outbox_count(struct store *, char *err, size_t errlen);

#endif /* RG_STORE_H */
