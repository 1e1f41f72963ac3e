/*
 * store.h — relayguard's persistent state: blocks, in SQLite.
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
 * it holds is not lost.  Times are unix seconds supplied by the caller.
 * Errors: -1 (or NULL) and a message in err naming the operation.
 */
#ifndef RG_STORE_H
#define RG_STORE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION	1
#define STORE_REASON_MAX	255	/* bytes, without the NUL */
#define STORE_EVIDENCE_MAX	8191	/* bytes: the dialogue lines */

struct store;

enum store_source {
	STORE_AUTO,		/* "auto": the policy blocked an offender */
	STORE_MANUAL		/* "manual": an operator's block command */
};

struct store_block {
	char		 addr[INET6_ADDRSTRLEN];	/* network address */
	int		 prefix;		/* 0..32 or 0..128 */
	int		 family;		/* AF_INET/AF_INET6 (set by put) */
	int64_t		 created;		/* unix seconds */
	int64_t		 expires;		/* unix seconds; 0: never */
	int		 offences;		/* relay attempts/blocks so far */
	enum store_source source;
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

/*
 * Remove blocks that expired at or before `now`; their offence counts
 * move to the offender history (so the next block can be longer).
 * Returns how many were removed, or -1.
 */
long		 store_expire(struct store *, int64_t now, char *err,
		    size_t errlen);

/*
 * Offences recorded for (addr, prefix): the active block's count or, if
 * it has expired, the history's.  0 if never seen; -1 on error.
 */
int		 store_offences(struct store *, const char *addr, int prefix,
		    int *offences, char *err, size_t errlen);
/* Forget offender history last seen before `before`; count or -1. */
long		 store_history_prune(struct store *, int64_t before, char *err,
		    size_t errlen);

const char	*store_source_name(enum store_source);

#endif /* RG_STORE_H */
