/*
 * nidscount.c — the libnids baseline: reassemble every port-25 stream of a
 * capture with libnids and count the lines the client sends that start
 * with "RCPT" (any case).
 *
 *	nidscount FILE
 *
 * This is about the least a reassembling SMTP inspector can do, so it is
 * a fair floor for what relayguard replay costs.  libnids knows IPv4 only:
 * IPv6 sessions are not seen at all, which is part of the comparison.
 * Prints the RCPT count, the streams seen and the seconds taken.
 */
#include <nids.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Per stream: where the current client line stands. */
struct nidscount_line {
	size_t col;		/* bytes of the current line seen so far */
	char head[4];		/* its first four bytes */
};

static uint64_t nidscount_rcpt, nidscount_streams, nidscount_bytes;

/* libnids reports oddities through syslog(); the benchmark wants silence. */
static void
nidscount_syslog(int type, int errnum, struct ip *iph, void *data)
{
	(void)type;
	(void)errnum;
	(void)iph;
	(void)data;
}

/* Scan new client bytes; a line may be split over any number of calls. */
static void
nidscount_scan(struct nidscount_line *l, const char *p, size_t n)
{
	const char *end = p + n, *nl;

	while (p < end) {
		if (l->col < 4) {
			size_t take = 4 - l->col;

			if (take > (size_t)(end - p))
				take = (size_t)(end - p);
			/* A line shorter than four bytes ends inside here. */
			if ((nl = memchr(p, '\n', take)) != NULL) {
				l->col = 0;
				p = nl + 1;
				continue;
			}
			memcpy(l->head + l->col, p, take);
			l->col += take;
			p += take;
			if (l->col == 4 && strncasecmp(l->head, "RCPT", 4) == 0)
				nidscount_rcpt++;
			continue;
		}
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			return;
		l->col = 0;
		p = nl + 1;
	}
}

static void
nidscount_tcp(struct tcp_stream *ts, void **param)
{
	struct nidscount_line *l = *param;

	switch (ts->nids_state) {
	case NIDS_JUST_EST:
		if (ts->addr.dest != 25)
			return;
		if ((l = calloc(1, sizeof(*l))) == NULL) {
			perror("calloc");
			exit(1);
		}
		*param = l;
		ts->server.collect++;	/* data the client sends */
		nidscount_streams++;
		return;
	case NIDS_DATA:
		if (l != NULL && ts->server.count_new > 0) {
			nidscount_bytes += (uint64_t)ts->server.count_new;
			nidscount_scan(l, ts->server.data,
			    (size_t)ts->server.count_new);
		}
		return;
	default:
		/* close, reset, timeout, exiting */
		free(l);
		*param = NULL;
		return;
	}
}

int
main(int argc, char *argv[])
{
	static struct nids_chksum_ctl all = { 0, 0, NIDS_DONT_CHKSUM, 0 };
	struct timespec t0, t1;

	if (argc != 2) {
		fprintf(stderr, "usage: nidscount FILE\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	nids_params.filename = argv[1];
	nids_params.device = NULL;
	nids_params.scan_num_hosts = 0;	/* no port-scan detection */
	nids_params.syslog = nidscount_syslog;
	nids_params.n_tcp_streams = 1 << 16;
	if (!nids_init()) {
		fprintf(stderr, "nidscount: %s\n", nids_errbuf);
		return 1;
	}
	/* Checksums are the capture's business here, not the benchmark's;
	 * a mask of 0 matches every address. */
	nids_register_chksum_ctl(&all, 1);
	nids_register_tcp((void *)nidscount_tcp);
	nids_run();
	nids_exit();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("rcpt %llu streams %llu client_bytes %llu seconds %.6f\n",
	    (unsigned long long)nidscount_rcpt,
	    (unsigned long long)nidscount_streams,
	    (unsigned long long)nidscount_bytes,
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
