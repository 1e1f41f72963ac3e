/*
 * send.c — put the frames of a classic pcap (Ethernet, as tests/flood/gen
 * writes them) on an interface, for bench/flood's inline figures.
 *
 *	send [-r PPS] IFNAME DSTMAC FILE
 *
 * Each frame goes out through a packet socket with its destination MAC
 * replaced by DSTMAC (the peer of a veth pair in a namespace the caller
 * made).  -r paces the sending to PPS packets per second (default: as fast
 * as the socket takes them).  Prints "sent=N seconds=S" on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint32_t
send_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static double
send_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct sockaddr_ll sll;
	struct stat st;
	unsigned mac[6];
	uint8_t dst[6], frame[65536];
	const uint8_t *map, *p, *end;
	uint64_t sent = 0;
	double pps = 0, t0;
	uint32_t len;
	int ch, fd, s, i;

	while ((ch = getopt(argc, argv, "r:")) != -1) {
		if (ch != 'r')
			goto usage;
		pps = atof(optarg);
	}
	if (argc - optind != 3)
		goto usage;
	if (sscanf(argv[optind + 1], "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1],
	    &mac[2], &mac[3], &mac[4], &mac[5]) != 6)
		goto usage;
	for (i = 0; i < 6; i++)
		dst[i] = (uint8_t)mac[i];
	if ((fd = open(argv[optind + 2], O_RDONLY)) < 0 || fstat(fd, &st) < 0 ||
	    st.st_size < 24) {
		perror(argv[optind + 2]);
		return 1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED || send_le32(map) != 0xa1b2c3d4 ||
	    send_le32(map + 20) != 1) {
		fprintf(stderr, "send: not a little-endian Ethernet pcap\n");
		return 1;
	}
	if ((s = socket(AF_PACKET, SOCK_RAW, 0)) < 0) {
		perror("socket");
		return 1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(argv[optind]);
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, dst, 6);
	if (sll.sll_ifindex == 0) {
		perror(argv[optind]);
		return 1;
	}
	end = map + st.st_size;
	t0 = send_now();
	for (p = map + 24; end - p >= 16; p += 16 + len) {
		len = send_le32(p + 8);
		if (len > sizeof(frame) || (size_t)(end - p - 16) < len ||
		    len < 14)
			break;
		memcpy(frame, p + 16, len);
		memcpy(frame, dst, 6);
		while (sendto(s, frame, len, 0, (struct sockaddr *)&sll,
		    sizeof(sll)) < 0) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				perror("sendto");
				return 1;
			}
			usleep(100);
		}
		sent++;
		/* Pace in steps of 256 packets. */
		if (pps > 0 && sent % 256 == 0)
			while (send_now() - t0 < (double)sent / pps)
				usleep(50);
	}
	printf("sent=%llu seconds=%.3f\n", (unsigned long long)sent,
	    send_now() - t0);
	return 0;
usage:
	fprintf(stderr, "usage: send [-r PPS] IFNAME DSTMAC FILE\n");
	return 2;
}
