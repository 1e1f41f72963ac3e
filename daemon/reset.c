/*
 * reset.c — raw sockets that send crafted RSTs.  IPPROTO_RAW sockets take
 * the whole IP header from us (IPv4: IP_HDRINCL is implied; IPv6: Linux
 * implies IPV6_HDRINCL for IPPROTO_RAW as RFC 3542 suggests).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "decode.h"
#include "reset.h"

struct reset {
	int fd4, fd6;
};

static int
reset_socket(int family, char *err, size_t errlen)
{
	uint32_t mark = RESET_MARK;
	int fd;

	if ((fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)) < 0) {
		snprintf(err, errlen, "raw socket (%s): %s",
		    family == AF_INET ? "IPv4" : "IPv6", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
		snprintf(err, errlen, "raw socket: SO_MARK: %s",
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct reset *
reset_open(char *err, size_t errlen)
{
	struct reset *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "reset: out of memory");
		return NULL;
	}
	r->fd4 = r->fd6 = -1;
	if ((r->fd4 = reset_socket(AF_INET, err, errlen)) < 0 ||
	    (r->fd6 = reset_socket(AF_INET6, err, errlen)) < 0) {
		reset_close(r);
		return NULL;
	}
	return r;
}

void
reset_close(struct reset *r)
{
	if (r == NULL)
		return;
	if (r->fd4 >= 0)
		close(r->fd4);
	if (r->fd6 >= 0)
		close(r->fd6);
	free(r);
}

static void
reset_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
reset_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

size_t
reset_build(uint8_t *buf, size_t len, const struct rg_addr *src,
    uint16_t sport, const struct rg_addr *dst, uint16_t dport, uint32_t seq,
    uint32_t ack)
{
	struct decode_packet p;
	size_t ipl, total;
	uint8_t *th;

	if (src->family != dst->family || (src->family != 4 &&
	    src->family != 6))
		return 0;
	ipl = src->family == 4 ? 20 : 40;
	total = ipl + 20;
	if (len < total)
		return 0;
	memset(buf, 0, total);
	if (src->family == 4) {
		buf[0] = 0x45;
		reset_put16(buf + 2, (uint16_t)total);
		buf[6] = 0x40;			/* DF */
		buf[8] = 64;
		buf[9] = IPPROTO_TCP;
		memcpy(buf + 12, src->bytes, 4);
		memcpy(buf + 16, dst->bytes, 4);
		/* The kernel fills the IPv4 header checksum for HDRINCL. */
	} else {
		buf[0] = 0x60;
		reset_put16(buf + 4, 20);
		buf[6] = IPPROTO_TCP;
		buf[7] = 64;
		memcpy(buf + 8, src->bytes, 16);
		memcpy(buf + 24, dst->bytes, 16);
	}
	th = buf + ipl;
	reset_put16(th, sport);
	reset_put16(th + 2, dport);
	reset_put32(th + 4, seq);
	reset_put32(th + 8, ack);
	th[12] = 5 << 4;
	th[13] = DECODE_TH_RST | DECODE_TH_ACK;
	if (decode_packet(DECODE_LINK_RAW, buf, total, total, &p) != DECODE_OK)
		return 0;
	decode_tcp_checksum_fix(buf, total, &p);
	return total;
}

int
reset_send(struct reset *r, const struct rg_addr *src, uint16_t sport,
    const struct rg_addr *dst, uint16_t dport, uint32_t seq, uint32_t ack)
{
	uint8_t pkt[80];
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	size_t n;
	ssize_t w;

	if ((n = reset_build(pkt, sizeof(pkt), src, sport, dst, dport, seq,
	    ack)) == 0) {
		errno = EINVAL;
		return -1;
	}
	if (dst->family == 4) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, dst->bytes, 4);
		w = sendto(r->fd4, pkt, n, 0, (struct sockaddr *)&sin,
		    sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, dst->bytes, 16);
		w = sendto(r->fd6, pkt, n, 0, (struct sockaddr *)&sin6,
		    sizeof(sin6));
	}
	return w == (ssize_t)n ? 0 : -1;
}
