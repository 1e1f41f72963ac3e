/*
 * replay.c — `relayguard replay [-c FILE] CAPTURE...`: run pcap/pcapng
 * captures through the filters/ pipeline, events on stdout (JSON lines), a
 * summary on stderr.  Files are read in the order given, as one timeline.
 *
 * Every file is opened (and its header checked) before any is read, so a
 * missing or non-capture file fails at once.  Classic pcap and pcapng
 * files are read through a memory map (capture.c), others through
 * libpcap.  A read error in the middle (a capture cut mid-packet, a
 * corrupt record) still leaves every event before it on stdout; it is
 * reported and the exit status is 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "conffile.h"
#include "engine.h"
#include "tools.h"

static void
replay_usage(void)
{
	fprintf(stderr, "usage: relayguard replay [-c FILE] CAPTURE...\n");
}

static void
replay_events(struct engine *e, char *buf, size_t len)
{
	struct event ev;
	size_t n;

	while (engine_next_event(e, &ev))
		if ((n = event_json(&ev, buf, len)) > 0)
			fwrite(buf, 1, n, stdout);
}

/* Returns false on a read error after some packets (reported). */
static bool
replay_run(struct engine *e, struct capture *c, char *evbuf, size_t evlen)
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
		replay_events(e, evbuf, evlen);
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

static void
replay_summary(const struct engine_stats *s, double secs)
{
	double mb = (double)s->bytes / 1e6;

	fprintf(stderr,
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
replay_servers_note(const struct config *c)
{
	if (c->servers.count == 0)
		fprintf(stderr, "replay: servers: none configured, every "
		    "address on the protected ports counts as a protected "
		    "server\n");
	else
		fprintf(stderr, "replay: servers: %u network(s) configured, "
		    "connections to other servers are not judged\n",
		    (unsigned)c->servers.count);
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
	int i, nfiles, rc = 0;
	bool borrow;
	double t0;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		replay_usage();
		return 0;
	}
	if (argc < 2) {
		replay_usage();
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "relayguard: replay: unknown option "
			    "'%s'\n", argv[i]);
			replay_usage();
			return 2;
		}
	}
	if (!conffile_load(config_path, config_given, &conf, err,
	    sizeof(err))) {
		fprintf(stderr, "relayguard: %s\n", err);
		config_free(&conf);
		return 1;
	}
	nfiles = argc - 1;
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
	/* Mapped files stay mapped until the end: the reassembler can then
	 * keep references instead of copies. */
	borrow = true;
	for (i = 0; i < nfiles; i++)
		if (strcmp(capture_reader(files[i]), "mmap") != 0)
			borrow = false;
	engine_set_borrow(e, borrow);
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	t0 = replay_clock();
	for (i = 0; i < nfiles; i++)
		if (!replay_run(e, files[i], evbuf, sizeof(evbuf)))
			rc = 1;
	engine_finish(e);
	replay_events(e, evbuf, sizeof(evbuf));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		/* Events that did not get out are a failure, not a summary. */
		fprintf(stderr, "relayguard: replay: writing events: %s\n",
		    strerror(errno));
		rc = 1;
	}
	engine_get_stats(e, &st);
	replay_summary(&st, replay_clock() - t0);
	replay_servers_note(&conf);
	engine_free(e);
out:
	for (i = 0; i < nfiles; i++)
		capture_close(files[i]);
	free(files);
	config_free(&conf);
	return rc;
}
