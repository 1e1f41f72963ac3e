/*
 * crowdsec.c — pushes to and pulls from CrowdSec's Local API (crowdsec.h).
 *
 * Threads: all network I/O runs on one thread of its own, with libcurl's
 * easy interface and hard timeouts; the main thread never waits on it.
 * They meet under cs->lock in three places: a push job (outbox rows the
 * main thread read from the store) and its result (how many went out, in
 * order), and the list of pulled stream replies.  The main thread alone
 * touches the store and the kernel sets: it deletes pushed rows from the
 * outbox, and applies pulled decisions in batches (blocks.c).
 *
 * A push that fails leaves its rows in the outbox; the next try waits
 * 1 s, doubling to CROWDSEC_BACKOFF_MAX.  Rows go out in id order, so a
 * block and its unblock reach the LAPI in the order they happened.  The
 * machine logs in at the first push and again on any 401 (an expired
 * token, or a LAPI restarted without CS_LAPI_SECRET).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cidr.h"
#include "crowdsec.h"
#include "event.h"
#include "log.h"
#include "nft.h"
#include "rgd.h"
#include "store.h"

#define CROWDSEC_SECRET_MAX	512	/* login, password, API key */
#define CROWDSEC_FILE_MAX	4096	/* a credential file */
#define CROWDSEC_SMALL_MAX	(64UL << 10)	/* any other reply */
#define CROWDSEC_PUSH_BATCH	64	/* outbox rows per job */
#define CROWDSEC_BACKOFF_MAX	10	/* seconds between failed pushes */
#define CROWDSEC_CONNECT_MS	5000
#define CROWDSEC_TIMEOUT_MS	60000
#define CROWDSEC_SCENARIO	"relayguard/relay-attempt"
#define CROWDSEC_ORIGIN		"relayguard"
#define CROWDSEC_APPLY_BATCH	4096	/* kernel elements per transaction */

struct crowdsec_pulled {
	struct crowdsec_stream st;
	struct crowdsec_pulled *next;
};

struct crowdsec {
	/* fixed at start */
	char url[CONFIG_CROWDSEC_URL_MAX];	/* without a trailing '/' */
	char ca[CONFIG_PATH_MAX];
	char login[CROWDSEC_SECRET_MAX], password[CROWDSEC_SECRET_MAX];
	char apikey[CROWDSEC_SECRET_MAX];
	bool push, pull;
	int64_t interval;			/* seconds */
	char origins[CONFIG_CROWDSEC_ORIGINS][CONFIG_CROWDSEC_ORIGIN_MAX];
	uint32_t norigins;
	struct curl_slist *resolve;		/* the host, resolved at start */
	pthread_t thread;
	/* thread only */
	CURL *curl;
	char *token;				/* JWT, NULL: log in first */
	bool pulled_once;			/* startup=true done */
	bool pull_failing;
	/* under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, running;
	struct store_outbox job[CROWDSEC_PUSH_BATCH];
	int njob;
	bool job_pending, job_done;
	int job_sent;				/* rows that went out, in order */
	char job_err[256];
	struct crowdsec_pulled *pulled, **pulled_tail;
	/* main thread only */
	bool in_flight;
	time_t next_push;
	unsigned failures;
	unsigned outbox_errors;		/* reading the outbox failed */
	uint64_t pushed, applied, lifted;
};

/* --- credential files --- */

/* Read a secret file: a regular file without group or other bits. */
static int
crowdsec_read_file(const char *key, const char *path, char *buf, size_t len,
    char *err, size_t errlen)
{
	struct stat sb;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", key, path);
		close(fd);
		return -1;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s %s: mode %04o, must be 0600 (it "
		    "holds a secret; chmod 600 %s)", key, path,
		    (unsigned)(sb.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
		return -1;
	}
	if ((size_t)n == len - 1) {
		snprintf(err, errlen, "%s %s: longer than %zu bytes", key,
		    path, len - 2);
		return -1;
	}
	buf[n] = '\0';
	if (strlen(buf) != (size_t)n) {
		snprintf(err, errlen, "%s %s: holds a NUL byte", key, path);
		return -1;
	}
	return 0;
}

/* A value: printable ASCII without blanks (it travels in JSON or in a
 * header), optionally in quotes. */
static int
crowdsec_value(const char *p, size_t n, char *dst, size_t len)
{
	size_t i;

	if (n >= 2 && (p[0] == '"' || p[0] == '\'') && p[n - 1] == p[0]) {
		p++;
		n -= 2;
	}
	if (n == 0 || n >= len)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return -1;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/*
 * The machine file, as `cscli machines add NAME --password P -f FILE`
 * writes it: "login: NAME" and "password: P" lines (an "url:" line and
 * comments are ignored).
 */
static int
crowdsec_machine(const char *path, char *login, char *password, size_t len,
    char *err, size_t errlen)
{
	char buf[CROWDSEC_FILE_MAX], *line, *save = NULL, *colon, *v;
	int lineno = 0;

	login[0] = password[0] = '\0';
	if (crowdsec_read_file("crowdsec-machine-file", path, buf, sizeof(buf),
	    err, errlen) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		size_t n;

		lineno++;
		n = strlen(line);
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' ||
		    line[n - 1] == '\t'))
			line[--n] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strcmp(line, "login") == 0 ||
		    strcmp(line, "machine_id") == 0) {
			if (crowdsec_value(v, strlen(v), login, len) < 0)
				goto bad;
		} else if (strcmp(line, "password") == 0) {
			if (crowdsec_value(v, strlen(v), password, len) < 0)
				goto bad;
		}
	}
	if (login[0] == '\0' || password[0] == '\0') {
		snprintf(err, errlen, "crowdsec-machine-file %s: needs a "
		    "\"login:\" and a \"password:\" line (as cscli machines "
		    "add -f writes it)", path);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "crowdsec-machine-file %s:%d: bad value for "
	    "'%s' (printable, no blanks)", path, lineno, line);
	return -1;
}

/* The bouncer key file: the key alone (a newline may follow). */
static int
crowdsec_apikey(const char *path, char *key, size_t len, char *err,
    size_t errlen)
{
	char buf[CROWDSEC_FILE_MAX];
	size_t n, i;

	if (crowdsec_read_file("crowdsec-bouncer-key-file", path, buf,
	    sizeof(buf), err, errlen) < 0)
		return -1;
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' '))
		n--;
	for (i = 0; i < n; i++)
		if (!((buf[i] >= 'a' && buf[i] <= 'z') ||
		    (buf[i] >= 'A' && buf[i] <= 'Z') ||
		    (buf[i] >= '0' && buf[i] <= '9') || strchr("-_+/=.",
		    buf[i])))
			break;
	if (n == 0 || i < n || n >= len) {
		snprintf(err, errlen, "crowdsec-bouncer-key-file %s: must hold "
		    "the key alone (letters, digits, - _ + / = .), as cscli "
		    "bouncers add prints it", path);
		return -1;
	}
	memcpy(key, buf, n);
	key[n] = '\0';
	return 0;
}

int
crowdsec_check_files(const struct config *c, char *err, size_t errlen)
{
	char a[CROWDSEC_SECRET_MAX], b[CROWDSEC_SECRET_MAX];
	struct stat sb;
	int rc = 0;

	if (c->crowdsec_url[0] == '\0')
		return 0;
	if (c->crowdsec_machine_file[0] != '\0' && crowdsec_machine(
	    c->crowdsec_machine_file, a, b, sizeof(a), err, errlen) < 0)
		rc = -1;
	if (rc == 0 && c->crowdsec_bouncer_key_file[0] != '\0' &&
	    crowdsec_apikey(c->crowdsec_bouncer_key_file, a, sizeof(a), err,
	    errlen) < 0)
		rc = -1;
	if (rc == 0 && c->crowdsec_ca[0] != '\0' &&
	    (stat(c->crowdsec_ca, &sb) < 0 || !S_ISREG(sb.st_mode))) {
		snprintf(err, errlen, "crowdsec-ca %s: %s", c->crowdsec_ca,
		    errno != 0 ? strerror(errno) : "not a regular file");
		rc = -1;
	}
	explicit_bzero(b, sizeof(b));
	return rc;
}

/* --- HTTP (the thread) --- */

struct crowdsec_buf {
	char *p;
	size_t len, cap, max;
	bool over;
};

static size_t
crowdsec_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct crowdsec_buf *b = ud;
	size_t n = size * nmemb, cap;
	char *np;

	if (b->len + n + 1 > b->max) {
		b->over = true;
		return 0;	/* curl stops: CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 65536;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		if ((np = realloc(b->p, cap)) == NULL)
			return 0;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static int
crowdsec_progress_cb(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct crowdsec *cs = ud;
	bool stop;

	(void)dt, (void)dn, (void)ut, (void)un;
	pthread_mutex_lock(&cs->lock);
	stop = cs->stop;
	pthread_mutex_unlock(&cs->lock);
	return stop ? 1 : 0;
}

/*
 * One request.  auth is a whole header line ("Authorization: Bearer ..."
 * or "X-Api-Key: ...") or NULL.  The HTTP status, or -1 and err.
 */
static long
crowdsec_http(struct crowdsec *cs, const char *method, const char *path,
    const char *body, const char *auth, struct crowdsec_buf *out,
    char *err, size_t errlen)
{
	char url[CONFIG_CROWDSEC_URL_MAX + 256], cerr[CURL_ERROR_SIZE];
	struct curl_slist *h = NULL;
	CURL *c = cs->curl;
	CURLcode rc;
	long status = 0;

	snprintf(url, sizeof(url), "%s%s", cs->url, path);
	curl_easy_reset(c);
	cerr[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)CROWDSEC_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)CROWDSEC_TIMEOUT_MS);
	/* The LAPI wants NAME/VERSION (it logs and refuses others). */
	curl_easy_setopt(c, CURLOPT_USERAGENT, "relayguard/" RELAYGUARD_VERSION);
	if (cs->ca[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, cs->ca);
	if (cs->resolve != NULL)
		curl_easy_setopt(c, CURLOPT_RESOLVE, cs->resolve);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, crowdsec_progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, cs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, crowdsec_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		h = curl_slist_append(h, "Content-Type: application/json");
	}
	if (auth != NULL)
		h = curl_slist_append(h, auth);
	/* No "Expect: 100-continue" round trip for a larger push. */
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s %.300s: %.200s", method, url,
		    out->over && out->max == CROWDSEC_BODY_MAX ? "reply longer "
		    "than CROWDSEC_BODY_MAX (512 bytes for each of at most "
		    "500,000 decisions)" : out->over ? "reply too long" :
		    cerr[0] ? cerr : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* The first line of a reply's "message", or its start, for the log. */
static void
crowdsec_reply_text(const struct crowdsec_buf *b, char *dst, size_t len)
{
	json_t *j = b->p ? json_loadb(b->p, b->len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(j, "message"));
	size_t i;

	snprintf(dst, len, "%.*s", 200, m ? m : b->p ? b->p : "");
	for (i = 0; dst[i] != '\0'; i++)
		if ((unsigned char)dst[i] < ' ')
			dst[i] = ' ';
	json_decref(j);
}

static int
crowdsec_login(struct crowdsec *cs, char *err, size_t errlen)
{
	struct crowdsec_buf b = { .max = CROWDSEC_SMALL_MAX };
	json_t *req, *rep;
	char *body, text[256];
	const char *tok;
	long st;

	req = json_pack("{s:s, s:s, s:[s]}", "machine_id", cs->login,
	    "password", cs->password, "scenarios", CROWDSEC_SCENARIO);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (body == NULL) {
		snprintf(err, errlen, "login: out of memory");
		return -1;
	}
	st = crowdsec_http(cs, "POST", "/v1/watchers/login", body, NULL, &b,
	    err, errlen);
	explicit_bzero(body, strlen(body));
	free(body);
	if (st < 0) {
		free(b.p);
		return -1;
	}
	rep = st == 200 && b.p ? json_loadb(b.p, b.len, 0, NULL) : NULL;
	tok = json_string_value(json_object_get(rep, "token"));
	if (tok == NULL || strlen(tok) > 8192 || strpbrk(tok, "\r\n") != NULL) {
		crowdsec_reply_text(&b, text, sizeof(text));
		snprintf(err, errlen, "login as machine '%.64s': HTTP %ld %.200s",
		    cs->login, st, text);
		json_decref(rep);
		free(b.p);
		return -1;
	}
	free(cs->token);
	cs->token = strdup(tok);
	json_decref(rep);
	free(b.p);
	return cs->token != NULL ? 0 : -1;
}

/* A request with the machine's token: log in first, and again on 401. */
static long
crowdsec_machine_req(struct crowdsec *cs, const char *method,
    const char *path, const char *body, struct crowdsec_buf *b, char *err,
    size_t errlen)
{
	char auth[8300];
	long st = 401;
	int tries;

	for (tries = 0; tries < 2 && st == 401; tries++) {
		if (cs->token == NULL && crowdsec_login(cs, err, errlen) < 0)
			return -1;
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    cs->token);
		free(b->p);
		memset(b, 0, sizeof(*b));
		b->max = CROWDSEC_SMALL_MAX;
		if ((st = crowdsec_http(cs, method, path, body, auth, b, err,
		    errlen)) < 0)
			return -1;
		if (st == 401) {
			free(cs->token);
			cs->token = NULL;
		}
	}
	return st;
}

/* "Ip" and the address for a host, "Range" and the prefix otherwise. */
static void
crowdsec_scope_value(const struct store_outbox *o, const char **scope,
    char *value, size_t len)
{
	bool host = o->prefix == (strchr(o->addr, ':') ? 128 : 32);

	*scope = host ? "Ip" : "Range";
	if (host)
		snprintf(value, len, "%s", o->addr);
	else
		snprintf(value, len, "%s/%d", o->addr, o->prefix);
}

static void
crowdsec_rfc3339(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One alert with its ban decision.  stop_at is the block's time: the
 * LAPI ends the decision at stop_at + duration, so a push the outbox
 * held back ends when the block does. */
static json_t *
crowdsec_alert(const struct store_outbox *o)
{
	char value[CROWDSEC_VALUE_MAX], at[32], dur[32],
	    msg[sizeof(o->message)];
	const char *scope;
	size_t i, n, k;

	/* JSON strings are UTF-8 (json_pack() refuses anything else): the
	 * message holds client bytes and may be cut inside a character. */
	snprintf(msg, sizeof(msg), "%s", o->message);
	for (i = 0, n = strlen(msg); i < n; i += k)
		if ((k = event_utf8_len((const unsigned char *)msg + i,
		    n - i)) == 0) {
			msg[i] = '?';
			k = 1;
		}
	crowdsec_scope_value(o, &scope, value, sizeof(value));
	crowdsec_rfc3339(o->at, at, sizeof(at));
	crowdsec_go_duration((uint64_t)(o->duration > 0 ? o->duration : 1),
	    dur, sizeof(dur));
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, "
	    "s:b, s:b, s:[], s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s, s:s, s:s, "
	    "s:s}]}",
	    "scenario", CROWDSEC_SCENARIO, "scenario_hash", "",
	    "scenario_version", "", "message", msg,
	    "events_count", 1, "start_at", at, "stop_at", at, "capacity", 0,
	    "leakspeed", "0", "simulated", 0, "remediation", 1, "events",
	    "source", "scope", scope, "value", value, "ip", scope[0] == 'I' ?
	    value : "",
	    "decisions", "origin", CROWDSEC_ORIGIN, "type", "ban", "scope",
	    scope, "value", value, "duration", dur, "scenario",
	    CROWDSEC_SCENARIO);
}

/* Push rows [0, n) that are all additions, as one array of alerts. */
static int
crowdsec_push_adds(struct crowdsec *cs, const struct store_outbox *v, int n,
    char *err, size_t errlen)
{
	struct crowdsec_buf b = { .max = CROWDSEC_SMALL_MAX };
	json_t *arr = json_array(), *a;
	char *body, text[256];
	long st;
	int i;

	/* An alert left out would be deleted from the outbox as pushed. */
	for (i = 0; arr != NULL && i < n; i++)
		if ((a = crowdsec_alert(&v[i])) == NULL ||
		    json_array_append_new(arr, a) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	body = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	if (body == NULL) {
		snprintf(err, errlen, "push: out of memory");
		return -1;
	}
	st = crowdsec_machine_req(cs, "POST", "/v1/alerts", body, &b, err,
	    errlen);
	free(body);
	if (st >= 0 && st != 200 && st != 201) {
		crowdsec_reply_text(&b, text, sizeof(text));
		snprintf(err, errlen, "POST /v1/alerts: HTTP %ld %s", st, text);
		st = -1;
	}
	free(b.p);
	return st < 0 ? -1 : 0;
}

/* Delete the decisions of one address or prefix (every origin). */
static int
crowdsec_push_del(struct crowdsec *cs, const struct store_outbox *o,
    char *err, size_t errlen)
{
	struct crowdsec_buf b = { .max = CROWDSEC_SMALL_MAX };
	char value[CROWDSEC_VALUE_MAX], path[256], text[256], *esc;
	const char *scope;
	long st;

	crowdsec_scope_value(o, &scope, value, sizeof(value));
	if ((esc = curl_easy_escape(cs->curl, value, 0)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* 1.4.6 filters deletions by value (exact), not by scope. */
	(void)scope;
	snprintf(path, sizeof(path), "/v1/decisions?value=%s", esc);
	curl_free(esc);
	st = crowdsec_machine_req(cs, "DELETE", path, NULL, &b, err, errlen);
	if (st >= 0 && st != 200) {
		crowdsec_reply_text(&b, text, sizeof(text));
		snprintf(err, errlen, "DELETE %.100s: HTTP %ld %.200s", path,
		    st, text);
		st = -1;
	}
	free(b.p);
	return st < 0 ? -1 : 0;
}

/* A job: rows in order, adds batched; how many went out before a
 * failure (err says why). */
static int
crowdsec_push(struct crowdsec *cs, const struct store_outbox *v, int n,
    char *err, size_t errlen)
{
	int i = 0, j;

	while (i < n) {
		if (v[i].kind == STORE_OUTBOX_DEL) {
			if (crowdsec_push_del(cs, &v[i], err, errlen) < 0)
				return i;
			i++;
			continue;
		}
		for (j = i; j < n && v[j].kind == STORE_OUTBOX_ADD; j++)
			;
		if (crowdsec_push_adds(cs, &v[i], j - i, err, errlen) < 0)
			return i;
		i = j;
	}
	return n;
}

/* One pull: the stream reply parsed, or NULL (logged). */
static struct crowdsec_pulled *
crowdsec_pull(struct crowdsec *cs)
{
	struct crowdsec_buf b = { .max = CROWDSEC_BODY_MAX };
	struct crowdsec_pulled *p;
	char auth[CROWDSEC_SECRET_MAX + 16], err[512], text[256];
	const char *path = cs->pulled_once ? "/v1/decisions/stream" :
	    "/v1/decisions/stream?startup=true";
	long st;
	int64_t t0 = rgd_ms(), t1;

	snprintf(auth, sizeof(auth), "X-Api-Key: %s", cs->apikey);
	st = crowdsec_http(cs, "GET", path, NULL, auth, &b, err, sizeof(err));
	t1 = rgd_ms();
	if (st >= 0 && st != 200) {
		crowdsec_reply_text(&b, text, sizeof(text));
		snprintf(err, sizeof(err), "GET %s: HTTP %ld %s", path, st,
		    text);
		st = -1;
	}
	if (st < 0 || (p = calloc(1, sizeof(*p))) == NULL) {
		if (!cs->pull_failing)
			log_warnx("crowdsec: pulling decisions: %s (retried "
			    "every crowdsec-pull-interval)", st < 0 ? err :
			    "out of memory");
		cs->pull_failing = true;
		free(b.p);
		return NULL;
	}
	if (!crowdsec_parse_stream(b.p ? b.p : "", b.len, &p->st, err,
	    sizeof(err))) {
		log_warnx("crowdsec: the decision stream from %s: %s", cs->url,
		    err);
		cs->pull_failing = true;
		free(b.p);
		free(p);
		return NULL;
	}
	/* Big replies (a startup pull, a feed) are worth a line. */
	if (p->st.nadd + p->st.ndel >= 1000)
		log_info("crowdsec: pulled %zu new and %zu deleted decisions "
		    "(%zu bytes): %lld ms transfer, %lld ms parse", p->st.nadd,
		    p->st.ndel, b.len, (long long)(t1 - t0),
		    (long long)(rgd_ms() - t1));
	free(b.p);
	if (cs->pull_failing)
		log_info("crowdsec: pulling decisions from %s again", cs->url);
	cs->pull_failing = false;
	p->st.startup = !cs->pulled_once;
	cs->pulled_once = true;
	return p;
}

static void *
crowdsec_main(void *arg)
{
	struct crowdsec *cs = arg;
	struct crowdsec_pulled *p;
	struct timespec until;
	int64_t next_pull = 0;
	char err[512];
	int sent;

	pthread_mutex_lock(&cs->lock);
	/* Running: glibc's start-up of the thread (rseq) is behind us, the
	 * seccomp filter may come. */
	cs->running = true;
	pthread_cond_broadcast(&cs->cond);
	while (!cs->stop) {
		if (cs->job_pending) {
			cs->job_pending = false;
			pthread_mutex_unlock(&cs->lock);
			err[0] = '\0';
			sent = crowdsec_push(cs, cs->job, cs->njob, err,
			    sizeof(err));
			pthread_mutex_lock(&cs->lock);
			cs->job_sent = sent;
			snprintf(cs->job_err, sizeof(cs->job_err), "%s", err);
			cs->job_done = true;
			continue;
		}
		if (cs->pull && rgd_ms() / 1000 >= next_pull) {
			pthread_mutex_unlock(&cs->lock);
			p = crowdsec_pull(cs);
			pthread_mutex_lock(&cs->lock);
			if (p != NULL) {
				*cs->pulled_tail = p;
				cs->pulled_tail = &p->next;
			}
			next_pull = rgd_ms() / 1000 + cs->interval;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec = cs->pull ? next_pull : until.tv_sec + 3600;
		pthread_cond_timedwait(&cs->cond, &cs->lock, &until);
	}
	pthread_mutex_unlock(&cs->lock);
	return NULL;
}

/* --- the main thread --- */

/* Resolve the URL's host now: the sandbox allows no resolver thread. */
static int
crowdsec_resolve(struct crowdsec *cs, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char *host = NULL, *port = NULL, *scheme = NULL, entry[600],
	    addr[INET6_ADDRSTRLEN];
	unsigned char buf[16];
	CURLU *u;
	int rc = -1, e;

	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, cs->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		snprintf(err, errlen, "crowdsec-url %s: not a URL curl reads",
		    cs->url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	/* An address literal needs no resolving (curl skips it too). */
	if (host[0] == '[' || inet_pton(AF_INET, host, buf) == 1) {
		rc = 0;
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		snprintf(err, errlen, "crowdsec-url %s: %s: %s", cs->url, host,
		    gai_strerror(e));
		goto out;
	}
	if (res->ai_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)
		    res->ai_addr)->sin_addr, addr, sizeof(addr));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)
		    res->ai_addr)->sin6_addr, addr, sizeof(addr));
	snprintf(entry, sizeof(entry), "%s:%s:%s%s%s", host, port ? port :
	    strcmp(scheme, "https") == 0 ? "443" : "80",
	    res->ai_family == AF_INET6 ? "[" : "", addr,
	    res->ai_family == AF_INET6 ? "]" : "");
	cs->resolve = curl_slist_append(NULL, entry);
	log_info("crowdsec: %s is %s (resolved once, at start)", host, addr);
	rc = cs->resolve != NULL ? 0 : -1;
out:
	if (res != NULL)
		freeaddrinfo(res);
	curl_free(host);
	curl_free(port);
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

int
crowdsec_start(struct rgd *d, char *err, size_t errlen)
{
	const struct config *c = &d->conf;
	struct crowdsec *cs;
	size_t n;
	bool curl_up = false, sync_up = false;

	if (c->crowdsec_url[0] == '\0')
		return 0;
	if ((cs = calloc(1, sizeof(*cs))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(cs->url, sizeof(cs->url), "%s", c->crowdsec_url);
	n = strlen(cs->url);
	while (n > 0 && cs->url[n - 1] == '/')
		cs->url[--n] = '\0';
	snprintf(cs->ca, sizeof(cs->ca), "%s", c->crowdsec_ca);
	cs->push = c->crowdsec_push && c->crowdsec_machine_file[0] != '\0';
	cs->pull = c->crowdsec_bouncer_key_file[0] != '\0';
	cs->interval = c->crowdsec_pull_interval / RG_USEC_PER_SEC;
	memcpy(cs->origins, c->crowdsec_origins, sizeof(cs->origins));
	cs->norigins = c->crowdsec_norigins;
	cs->pulled_tail = &cs->pulled;
	if ((cs->push && crowdsec_machine(c->crowdsec_machine_file, cs->login,
	    cs->password, sizeof(cs->login), err, errlen) < 0) ||
	    (cs->pull && crowdsec_apikey(c->crowdsec_bouncer_key_file,
	    cs->apikey, sizeof(cs->apikey), err, errlen) < 0) ||
	    crowdsec_check_files(c, err, errlen) < 0)
		goto fail;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "crowdsec: libcurl does not start");
		goto fail;
	}
	curl_up = true;
	if ((cs->curl = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "crowdsec: libcurl does not start");
		goto fail;
	}
	if (crowdsec_resolve(cs, err, errlen) < 0)
		goto fail;
	pthread_mutex_init(&cs->lock, NULL);
	{
		pthread_condattr_t ca;

		/* The thread's waits are deadlines on the monotonic clock. */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&cs->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	sync_up = true;
	if ((errno = pthread_create(&cs->thread, NULL, crowdsec_main, cs)) !=
	    0) {
		snprintf(err, errlen, "crowdsec thread: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_lock(&cs->lock);
	while (!cs->running)
		pthread_cond_wait(&cs->cond, &cs->lock);
	pthread_mutex_unlock(&cs->lock);
	d->crowdsec = cs;
	if (cs->push) {
		d->on_block = crowdsec_pushed_block;
		d->on_unblock = crowdsec_pushed_unblock;
	}
	log_info("crowdsec: Local API %s: push %s, pull %s (every %llds)",
	    cs->url, cs->push ? "on" : "off", cs->pull ? "on" : "off",
	    (long long)cs->interval);
	return 0;
fail:
	if (sync_up) {
		pthread_cond_destroy(&cs->cond);
		pthread_mutex_destroy(&cs->lock);
	}
	if (cs->curl != NULL)
		curl_easy_cleanup(cs->curl);
	curl_slist_free_all(cs->resolve);
	if (curl_up)
		curl_global_cleanup();
	explicit_bzero(cs, sizeof(*cs));
	free(cs);
	return -1;
}

static void
crowdsec_pulled_free(struct crowdsec_pulled *p)
{
	struct crowdsec_pulled *next;

	for (; p != NULL; p = next) {
		next = p->next;
		crowdsec_stream_free(&p->st);
		free(p);
	}
}

void
crowdsec_stop(struct rgd *d)
{
	struct crowdsec *cs = d->crowdsec;

	if (cs == NULL)
		return;
	pthread_mutex_lock(&cs->lock);
	cs->stop = true;
	pthread_cond_signal(&cs->cond);
	pthread_mutex_unlock(&cs->lock);
	pthread_join(cs->thread, NULL);
	crowdsec_pulled_free(cs->pulled);
	curl_easy_cleanup(cs->curl);
	curl_slist_free_all(cs->resolve);
	free(cs->token);
	pthread_mutex_destroy(&cs->lock);
	pthread_cond_destroy(&cs->cond);
	explicit_bzero(cs, sizeof(*cs));
	free(cs);
	d->crowdsec = NULL;
	d->on_block = NULL;
	d->on_unblock = NULL;
	curl_global_cleanup();
}

bool
crowdsec_pushing(const struct rgd *d)
{
	return d->crowdsec != NULL && d->crowdsec->push;
}

/* Seconds to wait after the failures-th failure in a row: 1, 2, 4, 8,
 * then CROWDSEC_BACKOFF_MAX. */
static unsigned
crowdsec_backoff(unsigned failures)
{
	unsigned wait = failures < 4 ? 1U << failures : CROWDSEC_BACKOFF_MAX;

	return wait > CROWDSEC_BACKOFF_MAX ? CROWDSEC_BACKOFF_MAX : wait;
}

#define CROWDSEC_DROPS_PER_KICK	8	/* malformed outbox rows a tick */

/* Hand the next outbox rows to the thread, unless a job is out or the
 * backoff still runs.  A malformed row is taken out by the store and
 * logged here whole, once; the rows behind it go on.  Reading the outbox
 * that fails is logged once and retried with backoff. */
static void
crowdsec_kick(struct rgd *d)
{
	struct crowdsec *cs = d->crowdsec;
	struct store_outbox v[CROWDSEC_PUSH_BATCH];
	char err[STORE_OUTBOX_MESSAGE_MAX + 512];
	int n, drops = 0;

	if (!cs->push || cs->in_flight || time(NULL) < cs->next_push)
		return;
	while ((n = store_outbox_next(d->store, v, CROWDSEC_PUSH_BATCH, err,
	    sizeof(err))) == STORE_OUTBOX_DROPPED) {
		log_warnx("crowdsec: %s", err);
		if (++drops == CROWDSEC_DROPS_PER_KICK)
			return;		/* the next tick goes on */
	}
	if (n < 0) {
		if (cs->outbox_errors == 0)
			log_warnx("crowdsec: %s (retried, up to every %d s)",
			    err, CROWDSEC_BACKOFF_MAX);
		cs->next_push = time(NULL) +
		    crowdsec_backoff(cs->outbox_errors++);
		return;
	}
	if (cs->outbox_errors > 0) {
		log_info("crowdsec: reading the outbox again after %u failed "
		    "tries", cs->outbox_errors);
		cs->outbox_errors = 0;
		cs->next_push = 0;
	}
	if (n == 0)
		return;
	pthread_mutex_lock(&cs->lock);
	memcpy(cs->job, v, (size_t)n * sizeof(v[0]));
	cs->njob = n;
	cs->job_pending = true;
	cs->job_done = false;
	pthread_cond_signal(&cs->cond);
	pthread_mutex_unlock(&cs->lock);
	cs->in_flight = true;
}

static void
crowdsec_queue(struct rgd *d, struct store_outbox *o)
{
	char err[256];

	if (store_outbox_add(d->store, o, err, sizeof(err)) < 0) {
		log_warnx("crowdsec: %s (not pushed)", err);
		return;
	}
	crowdsec_kick(d);
}

void
crowdsec_pushed_block(struct rgd *d, const struct store_block *sb,
    uint64_t secs)
{
	struct store_outbox o;
	const char *ev = sb->evidence;
	size_t n;
	char *p;

	if (!crowdsec_pushing(d))
		return;
	memset(&o, 0, sizeof(o));
	o.kind = STORE_OUTBOX_ADD;
	memcpy(o.addr, sb->addr, sizeof(o.addr));
	o.prefix = sb->prefix;
	o.at = sb->created;
	o.duration = (int64_t)secs;
	/* The message: who, why, and the first dialogue lines of the
	 * evidence, one line, cut to fit. */
	n = (size_t)snprintf(o.message, sizeof(o.message), "relayguard %s "
	    "block of %s/%d for %llus: %s%s", store_source_name(sb->source),
	    sb->addr, sb->prefix, (unsigned long long)secs, sb->reason,
	    ev[0] != '\0' ? "; evidence: " : "");
	if (n < sizeof(o.message) - 1)
		snprintf(o.message + n, sizeof(o.message) - n, "%.*s",
		    (int)(sizeof(o.message) - 1 - n), ev);
	for (p = o.message; *p != '\0'; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
	crowdsec_queue(d, &o);
}

void
crowdsec_pushed_unblock(struct rgd *d, const char *addr, int prefix)
{
	struct store_outbox o;

	if (!crowdsec_pushing(d))
		return;
	memset(&o, 0, sizeof(o));
	o.kind = STORE_OUTBOX_DEL;
	snprintf(o.addr, sizeof(o.addr), "%s", addr);
	o.prefix = prefix;
	o.at = time(NULL);
	snprintf(o.message, sizeof(o.message), "relayguard unblock");
	crowdsec_queue(d, &o);
}

/* Is origin one of crowdsec-origins (every origin when none is set)? */
static bool
crowdsec_origin_wanted(const struct crowdsec *cs, const char *origin)
{
	uint32_t i;

	if (cs->norigins == 0)
		return true;
	for (i = 0; i < cs->norigins; i++)
		if (strcmp(cs->origins[i], origin) == 0)
			return true;
	return false;
}

/* A decision as a pulled block (addr canonical, host bits zero). */
static bool
crowdsec_to_block(const struct crowdsec_decision *dc,
    struct blocks_pulled *sb)
{
	struct cidr pfx;

	if (!dc->ban || dc->scope == CROWDSEC_SCOPE_OTHER)
		return false;
	if (dc->scope == CROWDSEC_SCOPE_IP && strchr(dc->value, '/') != NULL)
		return false;
	if (dc->scope == CROWDSEC_SCOPE_RANGE && strchr(dc->value, '/') ==
	    NULL)
		return false;
	if (!cidr_parse(dc->value, strlen(dc->value), &pfx, NULL))
		return false;
	memset(sb, 0, sizeof(*sb));
	rg_addr_str(&pfx.net, sb->addr, sizeof(sb->addr));
	sb->prefix = pfx.prefix;
	snprintf(sb->origin, sizeof(sb->origin), "%s", dc->origin);
	return true;
}

static int
crowdsec_key_cmp(const void *a, const void *b)
{
	const struct blocks_pulled *x = a, *y = b;
	int c = strcmp(x->addr, y->addr);

	return c != 0 ? c : (x->prefix > y->prefix) - (x->prefix < y->prefix);
}

struct crowdsec_stale {
	const struct blocks_pulled *keep;	/* sorted */
	size_t nkeep;
	struct blocks_pulled *v;
	size_t n, cap;
	bool oom;			/* v could not grow */
};

static int
crowdsec_stale_cb(const struct store_block *b, void *arg)
{
	struct crowdsec_stale *c = arg;
	struct blocks_pulled k, *nv;

	if (b->source != STORE_CROWDSEC)
		return 0;
	memset(&k, 0, sizeof(k));
	memcpy(k.addr, b->addr, sizeof(k.addr));
	k.prefix = b->prefix;
	if (bsearch(&k, c->keep, c->nkeep, sizeof(k), crowdsec_key_cmp) !=
	    NULL)
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		if ((nv = realloc(c->v, c->cap * sizeof(*nv))) == NULL) {
			c->oom = true;
			return -1;
		}
		c->v = nv;
	}
	c->v[c->n++] = k;
	return 0;
}

/*
 * The new decisions of a reply that apply here, as pulled blocks expiring
 * from now, into v (room for st->nadd): bans of an Ip or Range of at least
 * a second from a wanted origin; those of a wanted origin that are not
 * such a ban (or malformed) counted in *skipped.  How many.
 */
static size_t
crowdsec_wanted(const struct crowdsec *cs, const struct crowdsec_stream *st,
    time_t now, struct blocks_pulled *v, size_t *skipped)
{
	const struct crowdsec_decision *dc;
	size_t i, n = 0;

	for (i = 0; i < st->nadd; i++) {
		dc = &st->add[i];
		if (dc->ms < 1000 || !crowdsec_origin_wanted(cs, dc->origin))
			continue;
		if (!crowdsec_to_block(dc, &v[n])) {
			(*skipped)++;
			continue;
		}
		v[n++].expires = now + dc->ms / 1000;
	}
	return n;
}

/*
 * The startup list is everything the LAPI holds: a stored CrowdSec block
 * it does not list any more was deleted while the daemon was away, or
 * hard-deleted by the LAPI's flush (which no delta ever reports), or its
 * origin left crowdsec-origins.  Lift those.  How many were lifted.
 */
static size_t
crowdsec_reconcile(struct rgd *d, const struct blocks_pulled *wanted,
    size_t n)
{
	struct crowdsec_stale c;
	struct blocks_pulled *keep;
	char err[256];
	size_t lifted = 0;

	memset(&c, 0, sizeof(c));
	/* A sorted copy: the order of wanted stays the LAPI's. */
	if ((keep = calloc(n + 1, sizeof(*keep))) == NULL) {
		log_warnx("crowdsec: stored blocks not reconciled with the "
		    "startup list: out of memory for %zu decisions", n);
		return 0;
	}
	memcpy(keep, wanted, n * sizeof(*keep));
	c.nkeep = n;
	qsort(keep, c.nkeep, sizeof(*keep), crowdsec_key_cmp);
	c.keep = keep;
	/* The callback fails only when out of memory, without an err. */
	if (store_blocks_active(d->store, time(NULL), crowdsec_stale_cb, &c,
	    err, sizeof(err)) != 0)
		log_warnx("crowdsec: reading the stored blocks: %s", c.oom ?
		    "out of memory" : err);
	else if (c.n > 0) {
		lifted = blocks_lift_many(d, c.v, c.n);
		log_info("crowdsec: %zu stored block(s) from CrowdSec lifted: "
		    "the LAPI no longer lists them", lifted);
	}
	free(c.v);
	free(keep);
	return lifted;
}

/* Apply one pulled reply: lifts first (a delta may delete and re-add). */
static void
crowdsec_apply(struct rgd *d, struct crowdsec_stream *st)
{
	struct crowdsec *cs = d->crowdsec;
	struct blocks_pulled *v, sb;
	struct store_block old;
	time_t now = time(NULL);
	size_t i, n = 0, skipped = st->skipped, local = 0, lifted, gets = 0,
	    nwanted;
	int64_t t0 = rgd_ms();
	char err[256];
	int rc;
	bool batch;

	v = calloc(st->ndel > st->nadd ? st->ndel + 1 : st->nadd + 1,
	    sizeof(*v));
	if (v == NULL) {
		log_warnx("crowdsec: out of memory for %zu decisions",
		    st->nadd + st->ndel);
		return;
	}
	/* Deleted: only blocks that came from CrowdSec; relayguard's own
	 * blocks end by themselves or by unblock. */
	for (i = 0; i < st->ndel; i++) {
		if (!crowdsec_to_block(&st->del[i], &sb))
			continue;
		rc = store_block_get(d->store, sb.addr, sb.prefix, &old, err,
		    sizeof(err));
		if (rc == 1 && old.source == STORE_CROWDSEC)
			v[n++] = sb;
		else if (rc < 0 && gets++ == 0)
			log_warnx("crowdsec: deleted decision %s/%d not lifted: "
			    "%s", sb.addr, sb.prefix, err);
	}
	if (gets > 1)
		log_warnx("crowdsec: %zu deleted decisions not lifted (the "
		    "store could not be read)", gets);
	lifted = n > 0 ? blocks_lift_many(d, v, n) : 0;
	/* v now holds the wanted new decisions, converted once for both
	 * the reconciling and the applying. */
	nwanted = crowdsec_wanted(cs, st, now, v, &skipped);
	if (st->startup)
		lifted += crowdsec_reconcile(d, v, nwanted);
	n = 0;
	gets = 0;
	/* One read transaction for the look-ups (one each would take and
	 * drop the database's lock 100,000 times). */
	batch = store_batch_begin(d->store, err, sizeof(err)) == 0;
	if (!batch)
		log_warnx("crowdsec: %s", err);
	for (i = 0; i < nwanted; i++) {
		sb = v[i];
		rc = store_block_get(d->store, sb.addr, sb.prefix, &old, err,
		    sizeof(err));
		/* Blocked here already (relayguard's own decision coming
		 * back, or an operator's block): not applied twice. */
		if (rc == 1 && old.source != STORE_CROWDSEC) {
			local++;
			continue;
		}
		if (rc == 1 && old.expires >= sb.expires)
			continue;
		/* Unreadable: taken as not stored (the block goes in), and
		 * said. */
		if (rc < 0 && gets++ == 0)
			log_warnx("crowdsec: decision %s/%d: the stored block "
			    "could not be read (taken as none): %s", sb.addr,
			    sb.prefix, err);
		v[n++] = sb;
	}
	if (gets > 1)
		log_warnx("crowdsec: %zu new decisions whose stored block "
		    "could not be read (taken as none)", gets);
	/* Ended only if begun: a commit without a transaction would log a
	 * second, misleading error. */
	if (batch && store_batch_end(d->store, err, sizeof(err)) < 0)
		log_warnx("crowdsec: %s", err);
	if (n > 0)
		n = blocks_put_many(d, v, n);
	free(v);
	cs->applied += n;
	cs->lifted += lifted;
	if (n > 0 || lifted > 0 || skipped > 0 || st->startup)
		log_info("crowdsec: %s%zu decision(s) applied, %zu lifted, %zu "
		    "already blocked here, %zu skipped (not a ban of an Ip or "
		    "Range, or malformed), in %lld ms", st->startup ?
		    "startup: " : "", n, lifted, local, skipped,
		    (long long)(rgd_ms() - t0));
}

void
crowdsec_tick(struct rgd *d)
{
	struct crowdsec *cs = d->crowdsec;
	struct crowdsec_pulled *p, *next;
	char err[256];
	int sent = 0;
	bool done;

	if (cs == NULL)
		return;
	pthread_mutex_lock(&cs->lock);
	done = cs->job_done;
	if (done) {
		sent = cs->job_sent;
		cs->job_done = false;
	}
	p = cs->pulled;
	cs->pulled = NULL;
	cs->pulled_tail = &cs->pulled;
	pthread_mutex_unlock(&cs->lock);
	if (done) {
		cs->in_flight = false;
		if (sent > 0 && store_outbox_done(d->store,
		    cs->job[sent - 1].id, err, sizeof(err)) < 0)
			log_warnx("crowdsec: %s", err);
		cs->pushed += (uint64_t)sent;
		if (sent < cs->njob) {
			if (cs->failures == 0)
				log_warnx("crowdsec: push failed, the outbox "
				    "keeps it and retries: %s", cs->job_err);
			cs->next_push = time(NULL) +
			    crowdsec_backoff(cs->failures++);
		} else {
			if (cs->failures > 0)
				log_info("crowdsec: pushing again after %u "
				    "failed tries", cs->failures);
			cs->failures = 0;
			cs->next_push = 0;
		}
	}
	for (; p != NULL; p = next) {
		next = p->next;
		crowdsec_apply(d, &p->st);
		crowdsec_stream_free(&p->st);
		free(p);
	}
	crowdsec_kick(d);
}

void
crowdsec_status_json(struct rgd *d, json_t *o)
{
	struct crowdsec *cs = d->crowdsec;
	char err[256];
	long outbox;

	if (cs == NULL)
		return;
	outbox = store_outbox_count(d->store, err, sizeof(err));
	json_object_set_new(o, "crowdsec", json_pack("{s:s, s:b, s:b, s:I, "
	    "s:I, s:I, s:I, s:I}", "url", cs->url, "push", cs->push, "pull",
	    cs->pull, "pushed", (json_int_t)cs->pushed, "outbox",
	    (json_int_t)outbox, "push_failures", (json_int_t)cs->failures,
	    "applied", (json_int_t)cs->applied, "lifted",
	    (json_int_t)cs->lifted));
}
