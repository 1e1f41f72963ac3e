/*
 * dnsbl.c — the active blocks as a DNSBL zone for rbldnsd (dnsbl-zone).
 *
 * Two dataset files, because rbldnsd's datasets are typed: PATH.ip4set
 * (IPv4) and PATH.ip6trie (IPv6), served as
 *   rbldnsd ... ZONE:ip4set:PATH.ip4set ZONE:ip6trie:PATH.ip6trie
 * Each carries $SOA (serial 0: rbldnsd takes the file's time), $NS and
 * $TTL, the RFC 5782 test entry (127.0.0.2, ::FFFF:7F00:2) and an exclusion
 * of the address RFC 5782 says must never be listed (127.0.0.1,
 * ::FFFF:7F00:1), so no block, however wide, lists it.  Every block is
 * listed as its prefix with A 127.0.0.2 and a TXT record with its reason
 * and when the listing ends.
 *
 * The zone is rewritten whole from the store's active blocks, so whatever
 * puts a block into the store (workers, the control socket, and later
 * other sources) is listed the same way.  blocks.c marks a change
 * (dnsbl_changed()); the daemon's one-second timer writes (dnsbl_flush()),
 * so several changes within a tick make one rewrite.  rbldnsd notices a
 * change by the file's modification time in whole seconds: two rewrites in
 * one second could look like one, so a rewrite waits for the next second.
 * Each file is written to PATH.TYPE.tmp, flushed to disk and renamed over
 * the old one: rbldnsd sees the old file or the new, never half of one.
 *
 * Main thread only (blocks, the store and the timer are there): the state
 * below needs no lock.  Cost: a walk of the store and two files written,
 * about a line per block; once a second at most.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rgd.h"
#include "store.h"

#define DNSBL_REASON_MAX 100	/* bytes of the reason in the TXT text (the
				 * whole text stays under 255, one string) */

enum { DNSBL_V4, DNSBL_V6, DNSBL_NFILES };

static const char *const dnsbl_suffix[DNSBL_NFILES] = { ".ip4set",
    ".ip6trie" };
/* The RFC 5782 test entries: one listed, one never listed. */
static const char *const dnsbl_test_listed[DNSBL_NFILES] = { "127.0.0.2/32",
    "::ffff:7f00:2/128" };
static const char *const dnsbl_test_never[DNSBL_NFILES] = { "127.0.0.1",
    "::ffff:7f00:1" };

static bool dnsbl_dirty;
static time_t dnsbl_last;	/* second of the last rewrite */
static char dnsbl_lasterr[256];	/* the last failure logged ("": none) */

struct dnsbl_out {
	FILE *f[DNSBL_NFILES];
	unsigned n[DNSBL_NFILES];
	bool failed;
};

void
dnsbl_changed(struct rgd *d)
{
	(void)d;
	dnsbl_dirty = true;
}

/* "2026-12-03T03:10:00Z". */
static void
dnsbl_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/*
 * The reason as TXT text: printable ASCII, cut at DNSBL_REASON_MAX.  rbldnsd
 * puts the queried address in place of '$', so it becomes 'S'; anything
 * else outside ' '..'~' becomes '?'.
 */
static void
dnsbl_txt(const char *src, char *dst, size_t len)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < len; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[i] = ch == '$' ? 'S' : (ch < 0x20 || ch > 0x7e) ? '?' :
		    (char)ch;
	}
	dst[i] = '\0';
}

static int
dnsbl_entry_cb(const struct store_block *sb, void *arg)
{
	struct dnsbl_out *o = arg;
	char reason[DNSBL_REASON_MAX + 1], until[40];
	int k = sb->family == 6 ? DNSBL_V6 : DNSBL_V4;

	dnsbl_txt(sb->reason[0] != '\0' ? sb->reason : "blocked", reason,
	    sizeof(reason));
	if (sb->expires == 0)
		snprintf(until, sizeof(until), "unblocked");
	else
		dnsbl_time(sb->expires, until, sizeof(until));
	if (fprintf(o->f[k], "%s/%d :127.0.0.2:relayguard: %s; listed until "
	    "%s\n", sb->addr, sb->prefix, reason, until) < 0)
		o->failed = true;
	o->n[k]++;
	return 0;
}

/* The header of one dataset file. */
static void
dnsbl_header(const struct config *c, FILE *f, int k, time_t now)
{
	unsigned ttl = (unsigned)(c->dnsbl_ttl / RG_USEC_PER_SEC);
	char when[40];
	uint32_t i;

	dnsbl_time(now, when, sizeof(when));
	fprintf(f, "# relayguard DNSBL, rbldnsd %s dataset, written by "
	    "relayguardd at %s.\n# Rewritten whole on every change: do not "
	    "edit.\n", dnsbl_suffix[k] + 1, when);
	/* serial 0: rbldnsd uses the file's time; refresh, retry, expire
	 * only matter to secondaries; the minimum (negative answers) is the
	 * TTL, so a new listing is seen as soon as a delisting is. */
	fprintf(f, "$SOA %u %s %s 0 3600 600 604800 %u\n", ttl, c->dnsbl_ns[0],
	    c->dnsbl_contact, ttl);
	fprintf(f, "$NS %u", ttl);
	for (i = 0; i < c->dnsbl_nns && i < CONFIG_DNSBL_MAX_NS; i++)
		fprintf(f, " %s", c->dnsbl_ns[i]);
	fprintf(f, "\n$TTL %u\n", ttl);
	fprintf(f, "# RFC 5782 test entries\n%s :127.0.0.2:relayguard DNSBL "
	    "test entry (RFC 5782)\n!%s\n", dnsbl_test_listed[k],
	    dnsbl_test_never[k]);
}

/* Open PATH.TYPE.tmp for writing, mode 0644 whatever the umask: the zone
 * is public, and rbldnsd reads it as its own user. */
static FILE *
dnsbl_open_tmp(const char *path, char *err, size_t errlen)
{
	FILE *f;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0 || fchmod(fd, 0644) < 0 || (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		return NULL;
	}
	return f;
}

/* Write both files and rename them into place: 0, or -1 and err. */
static int
dnsbl_write(struct rgd *d, time_t now, char *err, size_t errlen)
{
	const struct config *c = &d->conf;
	char tmp[DNSBL_NFILES][CONFIG_PATH_MAX], dst[CONFIG_PATH_MAX];
	struct dnsbl_out o;
	int k, rc = 0;

	memset(&o, 0, sizeof(o));
	/* config.c keeps room for the suffixes. */
	for (k = 0; k < DNSBL_NFILES; k++)
		snprintf(tmp[k], sizeof(tmp[k]), "%.*s%s.tmp",
		    CONFIG_PATH_MAX - CONFIG_DNSBL_SUFFIX_MAX, c->dnsbl_zone,
		    dnsbl_suffix[k]);
	for (k = 0; k < DNSBL_NFILES; k++) {
		if ((o.f[k] = dnsbl_open_tmp(tmp[k], err, errlen)) == NULL) {
			rc = -1;
			break;
		}
		dnsbl_header(c, o.f[k], k, now);
	}
	if (rc == 0 && store_blocks_active(d->store, now, dnsbl_entry_cb, &o,
	    err, errlen) < 0)
		rc = -1;
	for (k = 0; k < DNSBL_NFILES; k++) {
		if (o.f[k] == NULL)
			continue;
		if (rc == 0 && (fflush(o.f[k]) != 0 || ferror(o.f[k]) ||
		    o.failed || fsync(fileno(o.f[k])) < 0)) {
			snprintf(err, errlen, "%s: %s", tmp[k],
			    strerror(errno ? errno : EIO));
			rc = -1;
		}
		if (fclose(o.f[k]) != 0 && rc == 0) {
			snprintf(err, errlen, "%s: %s", tmp[k], strerror(errno));
			rc = -1;
		}
	}
	for (k = 0; k < DNSBL_NFILES; k++) {
		snprintf(dst, sizeof(dst), "%.*s%s",
		    CONFIG_PATH_MAX - CONFIG_DNSBL_SUFFIX_MAX, c->dnsbl_zone,
		    dnsbl_suffix[k]);
		if (rc < 0) {
			(void)unlink(tmp[k]);
			continue;
		}
		if (rename(tmp[k], dst) < 0) {
			snprintf(err, errlen, "renaming %s.tmp into place: %s",
			    dst, strerror(errno));
			rc = -1;
			(void)unlink(tmp[k]);
		}
	}
	if (rc == 0)
		log_debug("DNSBL zone %s written: %u IPv4 and %u IPv6 "
		    "listing(s)", c->dnsbl_zone, o.n[DNSBL_V4], o.n[DNSBL_V6]);
	return rc;
}

void
dnsbl_flush(struct rgd *d)
{
	char err[CONFIG_PATH_MAX * 2 + 64];
	time_t now;

	if (!dnsbl_dirty || d->conf.dnsbl_zone[0] == '\0')
		return;
	now = time(NULL);
	if (now == dnsbl_last)
		return;		/* the next tick: a new modification time */
	dnsbl_last = now;
	if (dnsbl_write(d, now, err, sizeof(err)) < 0) {
		/* Retried every tick; logged once per distinct failure. */
		if (strncmp(err, dnsbl_lasterr, sizeof(dnsbl_lasterr) - 1)
		    != 0) {
			log_warnx("DNSBL zone not written (the old one stays "
			    "served; retrying every second): %s", err);
			snprintf(dnsbl_lasterr, sizeof(dnsbl_lasterr), "%.*s",
			    (int)sizeof(dnsbl_lasterr) - 1, err);
		}
		return;
	}
	if (dnsbl_lasterr[0] != '\0') {
		log_info("DNSBL zone %s written again", d->conf.dnsbl_zone);
		dnsbl_lasterr[0] = '\0';
	}
	dnsbl_dirty = false;
}
