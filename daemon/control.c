/*
 * control.c — the control socket: a unix stream socket (mode 0600 in a
 * 0700 directory) speaking one JSON object per line each way.  Only root
 * may talk to it: the peer's credentials are checked on every connection.
 *
 * The main thread serves one client at a time, with a hard deadline
 * (CONTROL_DEADLINE_MS) for its request: the relayguard tool writes its
 * request right after connecting, and a client that stalls is cut off
 * rather than holding up block requests, reloads and the timer (packets
 * are the workers' and never wait on it).  Requests over CONTROL_MAX bytes
 * or that are not valid JSON get an error reply; the daemon keeps serving.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "crowdsec.h"
#include "log.h"
#include "cidr.h"
#include "metrics.h"
#include "rgd.h"
#include "worker.h"

#define CONTROL_MAX 65536
#define CONTROL_DEADLINE_MS 500

int
control_open(struct rgd *d, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	const char *path = d->conf.control_socket;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -1;
	}
	/* A stale socket from a crash: nobody listens on it any more. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(fd);
		snprintf(err, errlen, "%s: another relayguardd is running",
		    path);
		return -1;
	}
	(void)unlink(path);
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		umask(old);
		snprintf(err, errlen, "%s: bind: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (listen(fd, 16) < 0) {
		snprintf(err, errlen, "%s: listen: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	d->ctlfd = fd;
	return 0;
}

void
control_close(struct rgd *d)
{
	if (d->ctlfd >= 0) {
		close(d->ctlfd);
		(void)unlink(d->conf.control_socket);
	}
	d->ctlfd = -1;
}

static int
control_ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* Read one line (without its newline) before the deadline. */
static ssize_t
control_read_line(int fd, char *buf, size_t len)
{
	struct timespec deadline;
	struct pollfd p = { fd, POLLIN, 0 };
	size_t used = 0;
	ssize_t n;
	char *nl;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += (long)CONTROL_DEADLINE_MS * 1000000;
	deadline.tv_sec += deadline.tv_nsec / 1000000000;
	deadline.tv_nsec %= 1000000000;
	while (used < len) {
		if (poll(&p, 1, control_ms_left(&deadline)) <= 0)
			return -1;
		n = read(fd, buf + used, len - used);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		if ((nl = memchr(buf + used, '\n', (size_t)n)) != NULL) {
			*nl = '\0';
			return nl - buf;
		}
		used += (size_t)n;
	}
	if (used >= len)
		return -2;		/* too long */
	if (used == 0)
		return -1;
	buf[used] = '\0';		/* EOF without newline: accept */
	return (ssize_t)used;
}

static void
control_write(int fd, json_t *reply)
{
	char *s;
	size_t n, off = 0;
	ssize_t w;
	struct pollfd p = { fd, POLLOUT, 0 };
	int rounds = 0;

	if ((s = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL)
		return;
	n = strlen(s);
	s[n] = '\n';	/* json_dumps leaves room for the NUL we replace */
	n++;
	while (off < n && rounds++ < 100) {
		w = write(fd, s + off, n - off);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (poll(&p, 1, CONTROL_DEADLINE_MS) <= 0)
			break;
	}
	free(s);
}

static json_t *
control_error(const char *msg)
{
	char clean[512];
	json_t *r;
	size_t i;

	if ((r = json_pack("{s:b,s:s}", "ok", 0, "error", msg)) != NULL)
		return r;
	/* Not UTF-8 (jansson refuses it): the message quotes the client's
	 * bytes, cut inside a character by jansson's error text or by our
	 * own truncation.  Answer anyway, with the non-ASCII bytes as '?'. */
	for (i = 0; msg[i] != '\0' && i < sizeof(clean) - 1; i++)
		clean[i] = (unsigned char)msg[i] < 0x80 ? msg[i] : '?';
	clean[i] = '\0';
	return json_pack("{s:b,s:s}", "ok", 0, "error", clean);
}

static json_t *
control_error2(const char *what, const char *arg)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s%s", what, arg);
	return control_error(msg);
}

/*
 * A command's handler gets the request and, for a CONTROL_ADDR command,
 * its "addr" (checked present by the dispatcher); it returns the reply.
 */
typedef json_t	*(*control_fn)(struct rgd *, json_t *req, const char *addr);

/* What each worker saw: the kernel's queue-balance hash decides which
 * queue a connection goes to, and this shows it. */
static void
control_queues(struct rgd *d, json_t *o)
{
	struct worker_stats ws;
	json_t *a = json_array();
	unsigned i;

	for (i = 0; i < d->nworkers; i++) {
		worker_stats(d->workers[i], &ws);
		json_array_append_new(a, json_pack("{s:i,s:I,s:I,s:I,s:I}",
		    "queue", (int)worker_queue(d->workers[i]),
		    "packets", (json_int_t)ws.packets,
		    "relay_attempts", (json_int_t)ws.engine.relay_attempts,
		    "blocks", (json_int_t)ws.engine.blocks,
		    "capture_drops", (json_int_t)ws.capture_drops));
	}
	json_object_set_new(o, "queues", a);
}

static json_t *
control_cmd_status(struct rgd *d, json_t *req, const char *addr)
{
	struct metrics_snapshot m;
	json_t *o;

	(void)req;
	(void)addr;
	metrics_snapshot(d, &m);
	o = json_object();
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "version", json_string(RELAYGUARD_VERSION));
	json_object_set_new(o, "mode", json_string(
	    d->conf.mode == CONFIG_MODE_ENFORCE ? "enforce" : "monitor"));
	json_object_set_new(o, "hook", json_string(
	    d->conf.hook == CONFIG_HOOK_INPUT ? "input" : "forward"));
	json_object_set_new(o, "queue_mechanism", json_string(d->mechanism));
	json_object_set_new(o, "queue_first", json_integer(d->conf.queue_first));
	json_object_set_new(o, "queue_last", json_integer(d->conf.queue_last));
	json_object_set_new(o, "workers", json_integer(d->nworkers));
	if (d->conf.ncapture > 0) {
		/* Passive mode: "queues" are the capture workers. */
		json_t *ifs = json_array();
		uint32_t k;

		for (k = 0; k < d->conf.ncapture; k++)
			json_array_append_new(ifs,
			    json_string(d->conf.capture[k]));
		json_object_set_new(o, "capture", ifs);
	}
	metrics_json(&m, o);
	control_queues(d, o);
	crowdsec_status_json(d, o);
	return o;
}

/* The counters in the Prometheus text format. */
static json_t *
control_cmd_metrics(struct rgd *d, json_t *req, const char *addr)
{
	struct metrics_snapshot m;
	json_t *o;
	char *text;

	(void)req;
	(void)addr;
	metrics_snapshot(d, &m);
	if ((text = metrics_prometheus(d, &m)) == NULL)
		return control_error("metrics: out of memory");
	o = json_pack("{s:b,s:s}", "ok", 1, "text", text);
	free(text);
	return o;
}

/* The block covering addr, if any, and the offence history it counts. */
static json_t *
control_cmd_why(struct rgd *d, json_t *req, const char *addr)
{
	char err[512], herr[512];
	json_t *r;
	int n;

	(void)req;
	if ((r = blocks_why_json(d, addr, err, sizeof(err))) == NULL &&
	    (r = json_pack("{s:b}", "ok", 1)) == NULL)
		return control_error("out of memory");
	if ((n = offences_history_json(d, addr, r, herr, sizeof(herr))) < 0) {
		json_decref(r);
		return control_error(herr);
	}
	if (json_object_get(r, "block") == NULL && n == 0) {
		json_decref(r);
		snprintf(herr, sizeof(herr), "%.400s and has no offence "
		    "history", err);
		return control_error(herr);
	}
	return r;
}

/* What a block did, for the operator: address, duration, until when. */
static json_t *
control_blocked(struct rgd *d, const char *addr, uint64_t dur,
    const char *reason, bool check)
{
	char msg[800], until[32], text[CIDR_STRLEN];
	struct cidr pfx;
	struct tm tm;
	time_t t;
	json_t *r;

	if (check)
		return json_pack("{s:b}", "ok", 1);
	/* As the store and `blocks` write it: 192.0.2.1/32. */
	if (cidr_parse(addr, strlen(addr), &pfx, NULL)) {
		cidr_str(&pfx, text, sizeof(text));
		addr = text;
	}
	if (dur == 0)
		dur = d->conf.block_for / RG_USEC_PER_SEC;
	t = time(NULL) + (time_t)dur;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		until[0] = '\0';
	snprintf(msg, sizeof(msg), "blocked %s for %llus, until %s: %.500s",
	    addr, (unsigned long long)dur, until, reason ? reason : "manual");
	if ((r = json_pack("{s:b,s:s,s:s,s:I}", "ok", 1, "message", msg,
	    "addr", addr, "for", (json_int_t)dur)) != NULL)
		return r;
	/* The reason cut inside a UTF-8 character: say it without. */
	snprintf(msg, sizeof(msg), "blocked %s for %llus, until %s", addr,
	    (unsigned long long)dur, until);
	return json_pack("{s:b,s:s,s:s,s:I}", "ok", 1, "message", msg,
	    "addr", addr, "for", (json_int_t)dur);
}

/* --- the commands ------------------------------------------------------ */

static json_t *
control_cmd_blocks(struct rgd *d, json_t *req, const char *addr)
{
	char err[512];
	json_t *r;

	(void)req;
	(void)addr;
	if ((r = blocks_list_json(d, err, sizeof(err))) == NULL)
		return control_error(err);
	return r;
}

static json_t *
control_cmd_reload(struct rgd *d, json_t *req, const char *addr)
{
	char msg[1200];

	(void)req;
	(void)addr;
	if (setup_reload(d, msg, sizeof(msg)) < 0)
		return control_error(msg);
	return json_pack("{s:b,s:s}", "ok", 1, "message", msg);
}

static json_t *
control_cmd_reopen(struct rgd *d, json_t *req, const char *addr)
{
	char err[512];

	(void)req;
	(void)addr;
	if (setup_reopen(d, err, sizeof(err)) < 0)
		return control_error(err);
	return json_pack("{s:b,s:s}", "ok", 1, "event_log", d->events.path);
}

static json_t *
control_cmd_block(struct rgd *d, json_t *req, const char *addr)
{
	const char *reason = NULL;
	json_int_t dur = 0;
	int force = 0, check = 0;
	char err[512];

	if (json_unpack(req, "{s?I,s?s,s?b,s?b}", "for", &dur,
	    "reason", &reason, "force", &force, "check", &check) < 0 ||
	    dur < 0)
		return control_error2("bad arguments to ", "block");
	if (blocks_manual(d, addr, (uint64_t)dur, reason, force != 0,
	    check != 0, err, sizeof(err)) < 0)
		return control_error(err);
	return control_blocked(d, addr, (uint64_t)dur, reason, check != 0);
}

static json_t *
control_cmd_unblock(struct rgd *d, json_t *req, const char *addr)
{
	char err[512], text[CIDR_STRLEN];
	struct cidr pfx;

	(void)req;
	if (blocks_del(d, addr, err, sizeof(err)) < 0)
		return control_error(err);
	if (cidr_parse(addr, strlen(addr), &pfx, NULL)) {
		cidr_str(&pfx, text, sizeof(text));
		addr = text;
	}
	snprintf(err, sizeof(err), "unblocked %s (its offences still "
	    "count: 'relayguard forget' clears them)", addr);
	return json_pack("{s:b,s:s}", "ok", 1, "message", err);
}

static json_t *
control_cmd_forget(struct rgd *d, json_t *req, const char *addr)
{
	char err[512];
	json_t *r;

	(void)req;
	if ((r = offences_forget_json(d, addr, err, sizeof(err))) == NULL)
		return control_error(err);
	return r;
}

#define CONTROL_ADDR	0x1	/* needs "addr": an address or prefix */

/*
 * Every command, one row each: the dispatcher reads nothing else.  Every
 * client is root (control_serve() checks the peer before reading a
 * request), and the main thread serves one request at a time, so no
 * command needs a lock or a privilege of its own.  The CLI's table
 * (tools/relayguard.c) is the operator's side of the same commands.
 */
static const struct control_cmd {
	const char	*name;
	control_fn	 fn;
	unsigned	 flags;
	const char	*help;
} control_cmds[] = {
	{ "status", control_cmd_status, 0,
	    "mode, queue mechanism, counters and per-queue counts" },
	{ "metrics", control_cmd_metrics, 0,
	    "the counters in the Prometheus text format" },
	{ "blocks", control_cmd_blocks, 0,
	    "the stored blocks, each with whether the kernel holds it" },
	{ "reload", control_cmd_reload, 0,
	    "re-read the configuration; the reply is its result" },
	{ "reopen", control_cmd_reopen, 0,
	    "reopen the event log (after it was rotated)" },
	{ "block", control_cmd_block, CONTROL_ADDR,
	    "block addr [for SECONDS] [reason] [force] [check: dry run]" },
	{ "unblock", control_cmd_unblock, CONTROL_ADDR,
	    "lift the block of addr (its offences still count)" },
	{ "forget", control_cmd_forget, CONTROL_ADDR,
	    "drop the offence history inside addr" },
	{ "why", control_cmd_why, CONTROL_ADDR,
	    "the block covering addr and the offences it counts" },
};
#define CONTROL_NCMDS	(sizeof(control_cmds) / sizeof(control_cmds[0]))

static const struct control_cmd *
control_cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < CONTROL_NCMDS; i++)
		if (strcmp(control_cmds[i].name, name) == 0)
			return &control_cmds[i];
	return NULL;
}

static json_t *
control_dispatch(struct rgd *d, json_t *req)
{
	const struct control_cmd *c;
	const char *cmd = NULL, *addr = NULL;

	if (json_unpack(req, "{s:s}", "cmd", &cmd) < 0)
		return control_error("request has no \"cmd\"");
	if ((c = control_cmd_find(cmd)) == NULL)
		return control_error2("unknown command ", cmd);
	if ((c->flags & CONTROL_ADDR) &&
	    json_unpack(req, "{s:s}", "addr", &addr) < 0)
		return control_error2("this command needs \"addr\": ", cmd);
	return c->fn(d, req, addr);
}

/* The reply to one request line (len bytes, no newline): never NULL
 * unless jansson runs out of memory. */
json_t *
control_handle(struct rgd *d, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *req, *reply;

	if ((req = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL || !json_is_object(req)) {
		json_decref(req);
		return control_error2("malformed request: ", jerr.text);
	}
	reply = control_dispatch(d, req);
	json_decref(req);
	return reply;
}

void
control_serve(struct rgd *d)
{
	static char buf[CONTROL_MAX + 1];
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	json_t *reply;
	ssize_t n;
	int fd;

	if ((fd = accept4(d->ctlfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    cred.uid != 0) {
		reply = control_error("permission denied");
		control_write(fd, reply);
		json_decref(reply);
		log_warnx("control: refused a client with uid %d",
		    cl == sizeof(cred) ? (int)cred.uid : -1);
		close(fd);
		return;
	}
	n = control_read_line(fd, buf, CONTROL_MAX);
	if (n == -2)
		reply = control_error("request longer than 65536 bytes");
	else if (n < 0)
		reply = NULL;
	else
		reply = control_handle(d, buf, (size_t)n);
	if (reply != NULL) {
		control_write(fd, reply);
		json_decref(reply);
	}
	close(fd);
}
