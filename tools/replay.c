/*
 * replay.c — `relayguard replay [-c FILE] CAPTURE...`: run pcap/pcapng
 * captures through the filters/ pipeline, events on stdout (JSON lines), a
 * summary on stderr.  Files are read in the order given, as one timeline.
 *
 * Every file is opened (and its header checked) before any is read, so a
 * missing or non-capture file fails at once.  A read error in the middle
 * (a capture cut mid-packet, a corrupt record) still leaves every event
 * before it on stdout; it is reported and the exit status is 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcap/pcap.h>

#include "conffile.h"
#include "engine.h"
#include "tools.h"

#define REPLAY_STDIO_BUF (1u << 20)	/* libpcap reads 4 KiB at a time */

struct replay_file {
	const char *name;
	FILE *fp;
	pcap_t *pc;
	char *iobuf;
};

static void
replay_usage(void)
{
	fprintf(stderr, "usage: relayguard replay [-c FILE] CAPTURE...\n");
}

static void
replay_close(struct replay_file *rf)
{
	if (rf->pc != NULL)
		pcap_close(rf->pc);	/* closes rf->fp too */
	else if (rf->fp != NULL)
		fclose(rf->fp);
	free(rf->iobuf);
	rf->pc = NULL;
	rf->fp = NULL;
	rf->iobuf = NULL;
}

static bool
replay_open(struct replay_file *rf)
{
	char errbuf[PCAP_ERRBUF_SIZE];

	if ((rf->fp = fopen(rf->name, "rb")) == NULL) {
		fprintf(stderr, "relayguard: replay: %s: %s\n", rf->name,
		    strerror(errno));
		return false;
	}
	if ((rf->iobuf = malloc(REPLAY_STDIO_BUF)) != NULL)
		(void)setvbuf(rf->fp, rf->iobuf, _IOFBF, REPLAY_STDIO_BUF);
	errbuf[0] = '\0';
	rf->pc = pcap_fopen_offline_with_tstamp_precision(rf->fp,
	    PCAP_TSTAMP_PRECISION_MICRO, errbuf);
	if (rf->pc == NULL) {
		fprintf(stderr, "relayguard: replay: %s: not a pcap or pcapng "
		    "capture (%s)\n", rf->name, errbuf);
		return false;
	}
	return true;
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
replay_run(struct engine *e, struct replay_file *rf, char *evbuf,
    size_t evlen)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int linktype = pcap_datalink(rf->pc), rc;
	uint64_t n = 0;
	rg_time_t ts;

	while ((rc = pcap_next_ex(rf->pc, &h, &data)) == 1) {
		n++;
		if (h->ts.tv_sec < 0)
			ts = 0;
		else
			ts = (rg_time_t)h->ts.tv_sec * RG_USEC_PER_SEC +
			    (rg_time_t)(h->ts.tv_usec % 1000000);
		/* Replay never rewrites (only the inline daemon does), so
		 * libpcap's read-only buffer can be handed over as is. */
		engine_packet(e, linktype, ts, (uint8_t *)(uintptr_t)data,
		    h->caplen, h->len < h->caplen ? h->caplen : h->len, 0, NULL);
		replay_events(e, evbuf, evlen);
	}
	if (rc == PCAP_ERROR) {
		fprintf(stderr, "relayguard: replay: %s: read error after "
		    "packet %llu: %s\n", rf->name, (unsigned long long)n,
		    pcap_geterr(rf->pc));
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
	    "%llu blocks, %llu smuggling, %llu anomalies\n"
	    "replay: %llu payload bytes, %llu body bytes, %llu uninspected "
	    "(TLS), %llu gaps (%llu bytes), %llu retransmissions, "
	    "%llu mismatches\n"
	    "replay: %llu not tcp, %llu fragments, %llu malformed, "
	    "%llu unsupported link, %llu flows evicted, %llu events lost, "
	    "%zu buffer bytes peak\n"
	    "replay: %.3f s, %.1f MB/s, %.0f packets/s\n",
	    (unsigned long long)s->packets, (unsigned long long)s->bytes,
	    (unsigned long long)s->tcp_packets,
	    (unsigned long long)s->flows_created,
	    (unsigned long long)s->sessions,
	    (unsigned long long)s->commands, (unsigned long long)s->replies,
	    (unsigned long long)s->relay_attempts,
	    (unsigned long long)s->blocks, (unsigned long long)s->smuggling,
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
	    (unsigned long long)s->events_lost, s->mem_peak,
	    secs, secs > 0 ? mb / secs : 0.0,
	    secs > 0 ? (double)s->packets / secs : 0.0);
}

int
cmd_replay(int argc, char **argv, const char *config_path, bool config_given)
{
	struct config conf;
	struct engine *e;
	struct engine_stats st;
	struct replay_file *files;
	char err[1024], evbuf[8192];
	static char outbuf[1 << 16];
	int i, nfiles, rc = 0;
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
		files[i].name = argv[i + 1];
		if (!replay_open(&files[i]))
			rc = 1;
	}
	if (rc != 0)
		goto out;
	if ((e = engine_new(&conf, false)) == NULL) {
		fprintf(stderr, "relayguard: replay: out of memory\n");
		rc = 1;
		goto out;
	}
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	t0 = replay_clock();
	for (i = 0; i < nfiles; i++) {
		if (!replay_run(e, &files[i], evbuf, sizeof(evbuf)))
			rc = 1;
		replay_close(&files[i]);
	}
	engine_finish(e);
	replay_events(e, evbuf, sizeof(evbuf));
	fflush(stdout);
	engine_get_stats(e, &st);
	replay_summary(&st, replay_clock() - t0);
	engine_free(e);
out:
	for (i = 0; i < nfiles; i++)
		replay_close(&files[i]);
	free(files);
	config_free(&conf);
	return rc;
}
