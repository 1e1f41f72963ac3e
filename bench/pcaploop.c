/*
 * pcaploop.c — the bare libpcap read loop, the floor any pcap replay stands
 * on.
 *
 *	pcaploop default FILE	pcap_open_offline() and pcap_next_ex()
 *	pcaploop buffered FILE	the same loop over fopen() with a 1 MiB
 *				stdio buffer handed to pcap_fopen_offline()
 *
 * Each packet is touched (its caplen summed and one byte of it read) so the
 * loop cannot be optimised away.  Prints packets, bytes and seconds.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCAPLOOP_BUFSIZE	(1 << 20)

static double
pcaploop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char *argv[])
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t packets = 0, bytes = 0, touch = 0;
	double t0, t1;
	FILE *fp = NULL;
	char *iobuf = NULL;
	pcap_t *p;
	int rc;

	if (argc != 3 || (strcmp(argv[1], "default") != 0 &&
	    strcmp(argv[1], "buffered") != 0)) {
		fprintf(stderr, "usage: pcaploop default|buffered FILE\n");
		return 2;
	}
	t0 = pcaploop_now();
	if (strcmp(argv[1], "default") == 0)
		p = pcap_open_offline(argv[2], errbuf);
	else {
		if ((fp = fopen(argv[2], "rb")) == NULL) {
			perror(argv[2]);
			return 1;
		}
		/* The buffer must outlive the FILE: pcap_close() closes it. */
		if ((iobuf = malloc(PCAPLOOP_BUFSIZE)) == NULL ||
		    setvbuf(fp, iobuf, _IOFBF, PCAPLOOP_BUFSIZE) != 0) {
			perror("setvbuf");
			return 1;
		}
		p = pcap_fopen_offline(fp, errbuf);
	}
	if (p == NULL) {
		fprintf(stderr, "pcaploop: %s\n", errbuf);
		return 1;
	}
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		packets++;
		bytes += h->caplen;
		if (h->caplen > 0)
			touch += data[h->caplen / 2];
	}
	if (rc == PCAP_ERROR) {
		fprintf(stderr, "pcaploop: %s\n", pcap_geterr(p));
		pcap_close(p);
		return 1;
	}
	pcap_close(p);
	free(iobuf);
	t1 = pcaploop_now();
	printf("mode %s packets %llu bytes %llu seconds %.6f touch %llu\n",
	    argv[1], (unsigned long long)packets, (unsigned long long)bytes,
	    t1 - t0, (unsigned long long)touch);
	return 0;
}
