/*
 * replay.c — `relayguard replay [-c FILE] [--raw] CAPTURE...`: run
 * pcap/pcapng captures through the filters/ pipeline, events on stdout
 * (JSON lines), a summary on stderr.  Files are read in the order given, as
 * one timeline.
 *
 * With mode enforce, replay carries out what the daemon would have done
 * (engine_set_simulate): a reset session is over, a blocked client's
 * packets are dropped until its block expires in packet time, and the
 * summary says what was stopped, blocked, dropped and what mail passed.
 * --raw judges every byte instead, as mode monitor does: one event per
 * relay RCPT, for analysis.
 *
 * Every file is opened (and its header checked) before any is read, so a
 * missing or non-capture file fails at once.  Classic pcap and pcapng
 * files are read through a memory map (capture.c), others through
 * libpcap.  A read error in the middle (a capture cut mid-packet, a
 * corrupt record) still leaves every event before it on stdout; it is
 * reported and the exit status is 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "conffile.h"
#include "blockset.h"
#include "engine.h"
#include "replaymt.h"
#include "report.h"
#include "tools.h"

#define REPLAY_DURATIONS 16	/* distinct block durations in the summary */

/* What the summary says about blocks: how many of each length. */
struct replay_blocks {
	struct { rg_time_t duration; uint64_t count; } d[REPLAY_DURATIONS];
	unsigned n;
	uint64_t other;		/* blocks of yet more distinct lengths */
};

static void
replay_usage(FILE *f)
{
	fprintf(f, "usage: relayguard replay [-c FILE] [--raw] [--report "
	    "FILE.html] CAPTURE...\n"
	    "  CAPTURE  a pcap or pcapng file; - (or /dev/stdin) reads "
	    "standard input,\n"
	    "           a pipe too\n"
	    "  --raw    in mode enforce too, only report: blocked clients "
	    "are not\n"
	    "           stopped in the rest of the capture\n"
	    "  --threads N  inspect on N threads (default: every online "
	    "CPU; 1: one);\n"
	    "           the output is the same\n"
	    "  --report FILE.html  also write a self-contained HTML page of "
	    "what the\n"
	    "           policy did: charts, top offenders with evidence, "
	    "verdicts\n");
}

static void
replay_count_block(struct replay_blocks *rb, rg_time_t duration)
{
	unsigned i;

	for (i = 0; i < rb->n; i++)
		if (rb->d[i].duration == duration) {
			rb->d[i].count++;
			return;
		}
	if (rb->n == REPLAY_DURATIONS) {
		rb->other++;
		return;
	}
	rb->d[rb->n].duration = duration;
	rb->d[rb->n].count = 1;
	rb->n++;
}

static void
replay_event(const struct event *ev, char *buf, size_t len,
    struct replay_blocks *rb, struct report *rep)
{
	size_t n;

	if (ev->kind == EVENT_BLOCK && ev->action == EVENT_ACTION_BLOCK)
		replay_count_block(rb, ev->duration);
	if (rep != NULL)
		report_event(rep, ev);
	if ((n = event_json(ev, buf, len)) > 0)
		fwrite(buf, 1, n, stdout);
}

static void
replay_events(struct engine *e, char *buf, size_t len,
    struct replay_blocks *rb, struct report *rep)
{
	static struct event ev;

	while (engine_next_event(e, &ev))
		replay_event(&ev, buf, len, rb, rep);
}

/* What the threads' merge (replaymt.c) hands back to this file. */
struct replay_ctx {
	char *evbuf;
	size_t evlen;
	struct replay_blocks *rb;
	struct report *rep;
	/* the report's packet times, read from the main thread's own
	 * handles as far as the merge has come */
	struct capture **files;
	int nfiles, file;
	uint64_t walked;
};

static void
replay_ctx_event(void *ctx, const struct event *ev)
{
	struct replay_ctx *c = ctx;

	replay_event(ev, c->evbuf, c->evlen, c->rb, c->rep);
}

/* report_time() for every packet up to and including index pkt, as one
 * engine's replay calls it before that packet's events. */
static void
replay_ctx_progress(void *ctx, const struct event_order *o)
{
	struct replay_ctx *c = ctx;
	struct capture_record r;
	char err[512];

	if (c->rep == NULL)
		return;
	while (c->file < c->nfiles && (o->pkt == ENGINE_ORDER_END ||
	    c->walked <= o->pkt)) {
		if (capture_next(c->files[c->file], &r, err, sizeof(err)) != 1) {
			c->file++;
			continue;
		}
		report_time(c->rep, r.ts_usec);
		c->walked++;
	}
}

/* Returns false on a read error after some packets (reported). */
static bool
replay_run(struct engine *e, struct capture *c, char *evbuf, size_t evlen,
    struct replay_blocks *rb, struct report *rep)
{
	struct capture_record r;
	int rc;
	char err[512];

	while ((rc = capture_next(c, &r, err, sizeof(err))) == 1) {
		/* Replay never rewrites (only the inline daemon does), so the
		 * read-only record can be handed over as is.  A pcapng
		 * record's interface is where it came in, as NFQUEUE's indev
		 * is inline: a client's forgery of the server's packets shows
		 * on the client's interface. */
		engine_packet(e, r.linktype, r.ts_usec,
		    (uint8_t *)(uintptr_t)r.data, r.caplen, r.wirelen, 0,
		    r.has_ifid ? r.ifid : ENGINE_INDEV_UNKNOWN, NULL);
		if (rep != NULL)
			report_time(rep, r.ts_usec);
		replay_events(e, evbuf, evlen, rb, rep);
	}
	if (rc < 0) {
		fprintf(stderr, "relayguard: replay: %s\n", err);
		return false;
	}
	return true;
}

static double
replay_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "1h", "2d", "90m", "45s": the largest unit that divides it. */
static const char *
replay_duration_str(rg_time_t usec, char *buf, size_t len)
{
	unsigned long long secs = usec / RG_USEC_PER_SEC;

	if (secs > 0 && secs % 86400 == 0)
		snprintf(buf, len, "%llud", secs / 86400);
	else if (secs > 0 && secs % 3600 == 0)
		snprintf(buf, len, "%lluh", secs / 3600);
	else if (secs > 0 && secs % 60 == 0)
		snprintf(buf, len, "%llum", secs / 60);
	else
		snprintf(buf, len, "%llus", secs);
	return buf;
}

static int
replay_duration_cmp(const void *a, const void *b)
{
	const rg_time_t *x = a, *y = b;	/* first member of each entry */

	return *x < *y ? -1 : *x > *y;
}

static void
replay_plural(FILE *f, unsigned long long n, const char *one, const char *many)
{
	fprintf(f, "%llu %s", n, n == 1 ? one : many);
}

/* What would have happened: the lines only this mode of replay has. */
static void
replay_outcome(FILE *f, const struct engine_stats *s, const struct config *c,
    bool raw, struct replay_blocks *rb)
{
	char d[32];
	unsigned i;

	if (raw || c->mode != CONFIG_MODE_ENFORCE) {
		fprintf(f, "replay: %s: ", raw ? "--raw, every relay "
		    "RCPT judged" : "mode monitor");
		replay_plural(f, s->relay_attempts, "relay attempt",
		    "relay attempts");
		fprintf(f, " reported, nothing stopped (no reset or "
		    "block carried out)\n");
	} else {
		fprintf(f, "replay: mode enforce, carried out: ");
		replay_plural(f, s->relay_attempts, "relay attempt stopped",
		    "relay attempts stopped");
		fprintf(f, ", ");
		replay_plural(f, s->resets, "session reset", "sessions reset");
		fprintf(f, " (%llu for relay attempts), ",
		    (unsigned long long)s->resets_relay);
		replay_plural(f, s->after_reset, "packet", "packets");
		fprintf(f, " after a reset not inspected\n");
		fprintf(f, "replay: blocks: ");
		replay_plural(f, s->sim_clients_blocked, "client blocked",
		    "clients blocked");
		fprintf(f, ", ");
		replay_plural(f, s->blocks, "block", "blocks");
		qsort(rb->d, rb->n, sizeof(rb->d[0]), replay_duration_cmp);
		for (i = 0; i < rb->n; i++)
			fprintf(f, "%s%llu of %s", i == 0 ? " (" : ", ",
			    (unsigned long long)rb->d[i].count,
			    replay_duration_str(rb->d[i].duration, d,
			    sizeof(d)));
		if (rb->other > 0)
			fprintf(f, ", %llu of other lengths",
			    (unsigned long long)rb->other);
		fprintf(f, "%s; dropped by blocks: ", rb->n > 0 ? ")" : "");
		replay_plural(f, s->sim_block_sessions, "session", "sessions");
		fprintf(f, ", ");
		replay_plural(f, s->sim_block_packets, "packet", "packets");
		if (s->blocks_unremembered > 0)
			fprintf(f, "; %llu blocks not simulated (more "
			    "than %u clients)", (unsigned long long)
			    s->blocks_unremembered, BLOCKSET_MAX);
		fprintf(f, "\n");
	}
	fprintf(f, "replay: mail that %s: ", raw ||
	    c->mode != CONFIG_MODE_ENFORCE ? "passed" : "would have passed");
	replay_plural(f, s->mail_accepted, "message", "messages");
	fprintf(f, " accepted in ");
	replay_plural(f, s->mail_sessions, "session", "sessions");
	fprintf(f, "\n");
}

static void
replay_summary(FILE *f, const struct engine_stats *s, double secs)
{
	double mb = (double)s->bytes / 1e6;

	fprintf(f,
	    "replay: %llu packets, %llu bytes, %llu tcp on smtp ports, "
	    "%llu flows, %llu sessions\n"
	    "replay: %llu commands, %llu replies, %llu relay attempts, "
	    "%llu blocks, %llu smuggling, %llu ambiguities, %llu anomalies\n"
	    "replay: %llu payload bytes, %llu body bytes, %llu uninspected "
	    "(TLS), %llu gaps (%llu bytes), %llu retransmissions, "
	    "%llu mismatches\n"
	    "replay: %llu not tcp, %llu fragments, %llu malformed, "
	    "%llu unsupported link, %llu flows evicted, %llu events lost, "
	    "%llu buffer bytes peak\n"
	    "replay: %.3f s, %.1f MB/s, %.0f packets/s\n",
	    (unsigned long long)s->packets, (unsigned long long)s->bytes,
	    (unsigned long long)s->tcp_packets,
	    (unsigned long long)s->flows_created,
	    (unsigned long long)s->sessions,
	    (unsigned long long)s->commands, (unsigned long long)s->replies,
	    (unsigned long long)s->relay_attempts,
	    (unsigned long long)s->blocks, (unsigned long long)s->smuggling,
	    (unsigned long long)s->ambiguities,
	    (unsigned long long)s->anomalies,
	    (unsigned long long)s->payload_bytes,
	    (unsigned long long)s->body_bytes,
	    (unsigned long long)s->opaque_bytes,
	    (unsigned long long)s->gaps, (unsigned long long)s->gap_bytes,
	    (unsigned long long)s->retrans,
	    (unsigned long long)s->mismatches,
	    (unsigned long long)s->not_tcp,
	    (unsigned long long)s->fragments,
	    (unsigned long long)s->malformed,
	    (unsigned long long)s->unsupported,
	    (unsigned long long)s->flows_evicted,
	    (unsigned long long)s->events_lost,
	    (unsigned long long)s->mem_peak,
	    secs, secs > 0 ? mb / secs : 0.0,
	    secs > 0 ? (double)s->packets / secs : 0.0);
}

/* One summary line on which servers were judged (the servers key). */
static void
replay_servers_note(FILE *f, const struct config *c)
{
	if (c->servers.count == 0)
		fprintf(f, "replay: servers: none configured, every "
		    "address on the protected ports counts as a protected "
		    "server\n");
	else
		fprintf(f, "replay: servers: %u network(s) configured, "
		    "connections to other servers are not judged\n",
		    (unsigned)c->servers.count);
}

/* Close the summary's stream, print it and write the report with it. */
static int
replay_report(struct report *rep, const char *path, FILE *sf, char **sum,
    const struct engine_stats *st, const struct config *conf,
    const char *config_path, char *const *captures, int ncaptures,
    bool simulated, int read_error)
{
	struct report_info info;
	char err[1024];

	if (fclose(sf) != 0 || *sum == NULL) {
		fprintf(stderr, "relayguard: replay: out of memory\n");
		return 1;
	}
	fputs(*sum, stderr);
	memset(&info, 0, sizeof(info));
	info.stats = st;
	info.conf = conf;
	info.config_path = config_path;
	info.summary = *sum;
	info.captures = captures;
	info.ncaptures = ncaptures;
	info.simulated = simulated;
	info.read_error = read_error != 0;
	if (!report_write(rep, path, &info, err, sizeof(err))) {
		fprintf(stderr, "relayguard: replay: report %s\n", err);
		return 1;
	}
	return 0;
}

#define REPLAY_THREADS_MAX 256

static unsigned
replay_online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > REPLAY_THREADS_MAX ? REPLAY_THREADS_MAX :
	    (unsigned)n;
}

static bool
replay_threads_arg(const char *s, unsigned *n)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		return false;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > REPLAY_THREADS_MAX)
		return false;
	*n = (unsigned)v;
	return true;
}

/* The captures on nthreads workers (replaymt.c); events come back here in
 * one engine's order.  Returns 1 after a read error. */
static int
replay_mt(const struct config *conf, int nfiles,
    unsigned nthreads, bool simulate, struct capture **files, char *evbuf,
    size_t evlen, struct replay_blocks *rb, struct report *rep,
    struct engine_stats *st, bool *caps)
{
	struct replay_mt_args a;
	struct replay_ctx c;
	struct event_order end = { ENGINE_ORDER_END, 0, 0 };
	int rc;

	memset(&c, 0, sizeof(c));
	c.evbuf = evbuf;
	c.evlen = evlen;
	c.rb = rb;
	c.rep = rep;
	c.files = files;
	c.nfiles = nfiles;
	memset(&a, 0, sizeof(a));
	a.conf = conf;
	a.files = files;
	a.nfiles = nfiles;
	a.nthreads = nthreads;
	a.simulate = simulate;
	a.progress = replay_ctx_progress;
	a.event = replay_ctx_event;
	a.ctx = &c;
	rc = replay_threads(&a, st, caps);
	replay_ctx_progress(&c, &end);
	return rc;
}

int
cmd_replay(int argc, char **argv, const char *config_path, bool config_given)
{
	struct config conf;
	struct engine *e;
	struct engine_stats st;
	struct capture **files;
	char err[1024];
	static char evbuf[EVENT_JSON_MAX], outbuf[1 << 16];
	struct replay_blocks rb;
	int i, nfiles, rc = 0;
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "raw", no_argument, NULL, 'r' },
		{ "report", required_argument, NULL, 'R' },
		{ "threads", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	bool seekable, raw = false, caps = false;
	const char *report_path = NULL;
	struct report *rep = NULL;
	char *sum = NULL;
	size_t sumlen = 0;
	FILE *sf = NULL;
	int ch, nstdin = 0, read_error = 0;
	double t0;
	unsigned nthreads = replay_online_cpus();

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			replay_usage(stdout);
			return 0;
		case 'r':
			raw = true;
			break;
		case 'R':
			report_path = optarg;
			break;
		case 'T':
			if (!replay_threads_arg(optarg, &nthreads)) {
				fprintf(stderr, "relayguard: replay: --threads "
				    "'%s': a number from 1 to %u\n", optarg,
				    REPLAY_THREADS_MAX);
				return 2;
			}
			break;
		case ':':
			fprintf(stderr, "relayguard: replay: option '%s' needs "
			    "a value\n", argv[optind - 1]);
			replay_usage(stderr);
			return 2;
		default:
			if (optopt != 0)
				fprintf(stderr, "relayguard: replay: unknown "
				    "option '-%c'\n", optopt);
			else
				fprintf(stderr, "relayguard: replay: unknown "
				    "option '%s'\n", argv[optind - 1]);
			replay_usage(stderr);
			return 2;
		}
	}
	/* The captures, in order; "-" is standard input. */
	nfiles = argc - optind;
	for (i = 0; i < nfiles; i++)
		argv[1 + i] = argv[optind + i];
	if (nfiles == 0) {
		replay_usage(stderr);
		return 2;
	}
	for (i = 0; i < nfiles; i++)
		if (strcmp(argv[1 + i], "-") == 0)
			nstdin++;
	if (nstdin > 1) {
		fprintf(stderr, "relayguard: replay: standard input (-) "
		    "given %d times\n", nstdin);
		return 2;
	}
	if (!conffile_load(config_path, config_given, &conf, err,
	    sizeof(err))) {
		fprintf(stderr, "relayguard: %s\n", err);
		config_free(&conf);
		return 1;
	}
	if ((files = calloc((size_t)nfiles, sizeof(*files))) == NULL) {
		fprintf(stderr, "relayguard: replay: out of memory\n");
		config_free(&conf);
		return 1;
	}
	for (i = 0; i < nfiles; i++) {
		if ((files[i] = capture_open(argv[i + 1], err,
		    sizeof(err))) == NULL) {
			fprintf(stderr, "relayguard: replay: %s\n", err);
			rc = 1;
		}
	}
	if (rc != 0)
		goto out;
	if ((e = engine_new(&conf, false)) == NULL) {
		fprintf(stderr, "relayguard: replay: out of memory\n");
		rc = 1;
		goto out;
	}
	engine_set_arena(e);
	/* Threads need files every worker can read for itself. */
	seekable = true;
	for (i = 0; i < nfiles; i++)
		if (strcmp(capture_reader(files[i]), "pread") != 0)
			seekable = false;
	/* Mode enforce: what the daemon would have done is carried out. */
	engine_set_simulate(e, !raw && conf.mode == CONFIG_MODE_ENFORCE);
	if (report_path != NULL && ((rep = report_new()) == NULL ||
	    (sf = open_memstream(&sum, &sumlen)) == NULL)) {
		fprintf(stderr, "relayguard: replay: out of memory\n");
		engine_free(e);
		rc = 1;
		goto out;
	}
	memset(&rb, 0, sizeof(rb));
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	t0 = replay_clock();
	if (!seekable)
		nthreads = 1;
	if (nthreads > 1) {
		if (replay_mt(&conf, nfiles, nthreads, !raw &&
		    conf.mode == CONFIG_MODE_ENFORCE, files, evbuf,
		    sizeof(evbuf), &rb, rep, &st, &caps) != 0)
			rc = read_error = 1;
	} else {
		for (i = 0; i < nfiles; i++)
			if (!replay_run(e, files[i], evbuf, sizeof(evbuf),
			    &rb, rep))
				rc = read_error = 1;
		engine_finish(e);
		replay_events(e, evbuf, sizeof(evbuf), &rb, rep);
		engine_get_stats(e, &st);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		/* Events that did not get out are a failure, not a summary. */
		fprintf(stderr, "relayguard: replay: writing events: %s\n",
		    strerror(errno));
		rc = 1;
	}
	/* With a report, the summary goes into it as well as to stderr. */
	replay_summary(sf != NULL ? sf : stderr, &st, replay_clock() - t0);
	if (caps)
		fprintf(sf != NULL ? sf : stderr, "replay: --threads %u: a "
		    "worker reached its share of max-flows or flow-memory, or "
		    "of the blocks it remembers; one thread may differ "
		    "(--threads 1)\n", nthreads);
	replay_servers_note(sf != NULL ? sf : stderr, &conf);
	replay_outcome(sf != NULL ? sf : stderr, &st, &conf, raw, &rb);
	if (sf != NULL && replay_report(rep, report_path, sf, &sum, &st,
	    &conf, config_given || access(config_path, F_OK) == 0 ?
	    config_path : NULL, argv + 1, nfiles,
	    !raw && conf.mode == CONFIG_MODE_ENFORCE, read_error) != 0)
		rc = 1;
	engine_free(e);
out:
	for (i = 0; i < nfiles; i++)
		capture_close(files[i]);
	free(files);
	free(sum);
	report_free(rep);
	config_free(&conf);
	return rc;
}
