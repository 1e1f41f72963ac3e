/*
 * fuzz_control.c — libFuzzer harness for the control socket protocol
 * (daemon/control.c): whatever bytes a client sends, the daemon must not
 * crash and must answer with one JSON object carrying a boolean "ok".
 *
 * Each input is
 *   1. handed whole to control_handle() (the request parser and
 *      dispatcher) from an allocation of exactly its size, so that ASan
 *      sees any read past the end;
 *   2. written into a socket pair and read back with control_read_line(),
 *      with the daemon's buffer size and with one smaller than the input
 *      (the "too long" path): the result must be exactly the first line,
 *      the whole input at EOF without a newline, -2 when it does not fit,
 *      -1 when there is nothing;
 *   3. as control_serve() does, the line read is handed to
 *      control_handle(), and the reply written with control_write() must
 *      come out of the socket as one line of JSON, an object with "ok".
 *
 * The daemon around it is minimal: one worker whose statistics come from
 * a stand-in fuzz_stats(), and stand-ins for the blocks_* and offences_*
 * functions (the real ones need the nftables set and the SQLite store).  The stand-ins check
 * their arguments as the real ones do, with the daemon's one prefix parser
 * (cidr_parse() from filters/), and fail with the real ones' error
 * messages, which quote the client's text.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../daemon/control.c"

#define FUZZ_MAX_INPUT 60000	/* fits a socket pair's buffer at once */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rgd fuzz_d;

/* --- stand-ins for what control.c calls outside itself --- */

void
log_warnx(const char *fmt, ...)
{
	(void)fmt;
}

/* The workers' statistics (worker.c): a fixed, recognisable set. */
static void
fuzz_stats(struct worker_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->packets = 7;
}

/* worker.c: the harness has no workers (nworkers 0); these only link. */
void
worker_stats(struct worker *w, struct worker_stats *s)
{
	(void)w;
	memset(s, 0, sizeof(*s));
}

uint16_t
worker_queue(const struct worker *w)
{
	(void)w;
	return 0;
}

/* metrics.c: the snapshot from the stand-in statistics; the text as
 * the real one starts it. */
void
metrics_snapshot(struct rgd *d, struct metrics_snapshot *m)
{
	struct worker_stats ws;

	(void)d;
	memset(m, 0, sizeof(*m));
	fuzz_stats(&ws);
	m->engine = ws.engine;
	m->own.packets = ws.packets;
}

void
metrics_json(const struct metrics_snapshot *m, json_t *o)
{
	json_object_set_new(o, "packets", json_integer(
	    (json_int_t)m->own.packets));
}

char *
metrics_prometheus(struct rgd *d, const struct metrics_snapshot *m)
{
	(void)d;
	(void)m;
	return strdup("# TYPE relayguard_packets_total counter\n");
}

/* crowdsec.c: no crowdsec-url here, nothing to add to status. */
void
crowdsec_status_json(struct rgd *d, json_t *o)
{
	(void)d;
	(void)o;
}

/* setup.c: a reload that always succeeds. */
int
setup_reload(struct rgd *d, char *msg, size_t msglen)
{
	(void)d;
	snprintf(msg, msglen, "configuration reloaded");
	return 0;
}

/* The event log (setup.c): none to reopen here. */
int
setup_reopen(struct rgd *d, char *err, size_t errlen)
{
	(void)d;
	(void)err;
	(void)errlen;
	return 0;
}

/* As blocks.c parses: an address, or a prefix without host bits. */
static bool
fuzz_prefix(const char *s, struct cidr *c)
{
	const char *why = NULL;
	size_t n = strlen(s);

	return n <= 64 && cidr_parse(s, n, c, &why);
}

int
blocks_manual(struct rgd *d, const char *prefix, uint64_t dur_secs,
    const char *reason, bool force, bool check, char *err, size_t errlen)
{
	struct cidr c;
	uint32_t i;

	(void)dur_secs;
	(void)check;
	if (reason != NULL)
		(void)strlen(reason);
	if (!fuzz_prefix(prefix, &c)) {
		snprintf(err, errlen, "'%s' is not an address or prefix "
		    "(host bits must be zero)", prefix);
		return -1;
	}
	for (i = 0; !force && i < d->conf.relay_networks.count; i++)
		if (cidr_contains(&d->conf.relay_networks.v[i], &c.net) ||
		    cidr_contains(&c, &d->conf.relay_networks.v[i].net)) {
			snprintf(err, errlen, "%s is inside relay-networks; "
			    "use --force to block it anyway", prefix);
			return -1;
		}
	return 0;
}

int
blocks_del(struct rgd *d, const char *prefix, char *err, size_t errlen)
{
	struct cidr c;

	(void)d;
	if (!fuzz_prefix(prefix, &c)) {
		snprintf(err, errlen, "'%s' is not an address or prefix",
		    prefix);
		return -1;
	}
	if (c.net.family == 6) {
		snprintf(err, errlen, "%s is not blocked", prefix);
		return -1;
	}
	return 0;
}

json_t *
blocks_list_json(struct rgd *d, char *err, size_t errlen)
{
	(void)d;
	(void)err;
	(void)errlen;
	return json_pack("{s:b,s:[{s:s,s:I}]}", "ok", 1, "blocks", "prefix",
	    "203.0.113.7/32", "expires", (json_int_t)3600);
}

json_t *
blocks_why_json(struct rgd *d, const char *addr, char *err, size_t errlen)
{
	struct cidr c;

	(void)d;
	if (!fuzz_prefix(addr, &c)) {
		snprintf(err, errlen, "'%s' is not an address or prefix",
		    addr);
		return NULL;
	}
	if (c.net.family == 6) {
		snprintf(err, errlen, "%s is not blocked", addr);
		return NULL;
	}
	return json_pack("{s:b,s:{s:s,s:s}}", "ok", 1, "block", "prefix",
	    addr, "evidence", "RCPT TO:<x@evil.test>");
}

/* offences.c: forget and the history, checked as offences_key() does;
 * IPv6 has no history here. */
json_t *
offences_forget_json(struct rgd *d, const char *addr, char *err,
    size_t errlen)
{
	struct cidr c;

	(void)d;
	if (!fuzz_prefix(addr, &c)) {
		snprintf(err, errlen, "'%s' is not an address or prefix", addr);
		return NULL;
	}
	return json_pack("{s:b,s:s,s:I,s:I}", "ok", 1, "message",
	    "forgot 0 offences", "offences", (json_int_t)0, "clients",
	    (json_int_t)0);
}

int
offences_history_json(struct rgd *d, const char *addr, json_t *reply,
    char *err, size_t errlen)
{
	struct cidr c;

	(void)d;
	if (!fuzz_prefix(addr, &c)) {
		snprintf(err, errlen, "'%s' is not an address or prefix", addr);
		return -1;
	}
	if (c.net.family == 6)
		return 0;
	json_object_set_new(reply, "offences", json_pack("[{s:s,s:I,s:b}]",
	    "addr", addr, "at", (json_int_t)1700000000, "counted", 1));
	return 1;
}

/* --- the harness --- */

static void
fuzz_init(void)
{
	static bool done;
	const char *why = NULL;
	struct cidr net;

	if (done)
		return;
	done = true;
	memset(&fuzz_d, 0, sizeof(fuzz_d));
	config_defaults(&fuzz_d.conf);
	fuzz_d.conf.max_flows = 16;
	if (!cidr_parse("192.0.2.0/24", 12, &net, &why) ||
	    !cidr_set_add(&fuzz_d.conf.relay_networks, &net))
		abort();
	fuzz_d.mechanism = "native";
	fuzz_d.started = time(NULL);
	fuzz_d.nworkers = 1;
	fuzz_d.sigfd = fuzz_d.timerfd = fuzz_d.ctlfd = -1;
}

/* A reply must be an object with a boolean "ok"; an error has a string. */
static void
fuzz_check_reply(const json_t *reply)
{
	const json_t *ok;

	if (reply == NULL || !json_is_object(reply))
		abort();
	ok = json_object_get(reply, "ok");
	if (ok == NULL || !json_is_boolean(ok))
		abort();
	if (json_is_false(ok) &&
	    !json_is_string(json_object_get(reply, "error")))
		abort();
}

/* control_write() to one end, the reply read back from the other. */
static void
fuzz_check_written(int wfd, int rfd, json_t *reply)
{
	static char back[1 << 20];
	json_error_t jerr;
	json_t *again;
	char *s;
	size_t used = 0, n;
	ssize_t r;

	control_write(wfd, reply);
	while (used < sizeof(back) &&
	    (r = read(rfd, back + used, sizeof(back) - used)) > 0)
		used += (size_t)r;
	if ((s = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL)
		abort();
	n = strlen(s);
	if (used != n + 1 || back[n] != '\n' || memcmp(back, s, n) != 0)
		abort();
	free(s);
	if ((again = json_loadb(back, n, 0, &jerr)) == NULL)
		abort();
	fuzz_check_reply(again);
	json_decref(again);
}

/* control_read_line() over a socket pair holding data; cap is its buffer
 * size.  Checks the result against what the input says it must be, then
 * serves the line as control_serve() would. */
static void
fuzz_line(const uint8_t *data, size_t size, size_t cap)
{
	int sv[2];
	char *buf;
	const uint8_t *nl;
	ssize_t n, want;
	json_t *reply;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
		abort();
	if (shutdown(sv[1], SHUT_WR) < 0)
		abort();
	if ((buf = malloc(cap)) == NULL)
		abort();
	n = control_read_line(sv[0], buf, cap);

	nl = size > 0 ? memchr(data, '\n', size < cap ? size : cap) : NULL;
	if (nl != NULL)
		want = nl - data;
	else if (size >= cap)
		want = -2;
	else if (size == 0)
		want = -1;
	else
		want = (ssize_t)size;
	if (n != want)
		abort();
	if (n >= 0 && (buf[n] != '\0' || memcmp(buf, data, (size_t)n) != 0))
		abort();

	if (n == -2)
		reply = control_error("request longer than 65536 bytes");
	else if (n < 0)
		reply = NULL;
	else
		reply = control_handle(&fuzz_d, buf, (size_t)n);
	free(buf);
	if (n != -1) {
		fuzz_check_reply(reply);
		/* the server's end writes, the client's end reads */
		fuzz_check_written(sv[0], sv[1], reply);
	}
	json_decref(reply);
	close(sv[0]);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;
	json_t *reply;

	if (size > FUZZ_MAX_INPUT)
		size = FUZZ_MAX_INPUT;
	fuzz_init();

	if ((copy = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	if (size > 0)
		memcpy(copy, data, size);
	reply = control_handle(&fuzz_d, copy, size);
	fuzz_check_reply(reply);
	json_decref(reply);
	free(copy);

	fuzz_line(data, size, CONTROL_MAX);
	if (size > 1)
		fuzz_line(data, size, size / 2);
	return 0;
}
