/*
 * live.h — passive intake (the `capture` key): libpcap live capture on
 * AF_PACKET rings, one handle per configured interface for each worker.
 *
 * Every handle is opened before the privileges drop and the seccomp
 * filter (its socket, ring and BPF filter need CAP_NET_RAW and calls the
 * filter forbids); afterwards only poll, recvfrom and getsockopt are used.
 * With several workers the handles of one interface form one PACKET_FANOUT
 * group in hash mode: the kernel's flow hash is symmetric, so both
 * directions of a connection reach the same worker; and since every worker
 * joins the groups of all interfaces in the same order, a connection whose
 * two directions are seen on two interfaces reaches the same worker too.
 */
#ifndef RG_LIVE_H
#define RG_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "rg.h"

struct live;

/* One captured packet: its link type (a DLT that decode.h reads), its
 * kernel time stamp, and caplen of its wirelen bytes. */
typedef void (*live_handler_fn)(void *ctx, int linktype, rg_time_t ts,
    const uint8_t *pkt, size_t caplen, size_t wirelen);

struct live_stats {
	uint64_t packets;	/* handed to the handler */
	uint64_t drops;		/* the ring was full: never seen */
	uint64_t errors;	/* pcap read errors */
};

/*
 * Worker `worker` of `nworkers` (0-based, opened in order: the fanout
 * groups are created by worker 0 and joined by the others) captures on
 * every interface of c->capture, in promiscuous mode, TCP to and from the
 * configured ports, IPv4 fragments and IPv6 TCP behind extension headers
 * (live_filter()).  NULL and a message naming the interface on
 * failure.
 */
struct live *live_open(const struct config *c, unsigned worker,
    unsigned nworkers, struct live *first, char *err, size_t errlen);
void live_close(struct live *l);
/* How many handles (interfaces) and the pollable fd of handle i. */
unsigned live_count(const struct live *l);
int live_fd(const struct live *l, unsigned i);
/* Hand what waits in handle i's ring to fn (at most a batch; never
 * blocks): how many packets, or -1 on an error (counted). */
int live_receive(struct live *l, unsigned i, live_handler_fn fn, void *ctx);
/* Counters; reads the kernel's drop counts (getsockopt). */
void live_get_stats(struct live *l, struct live_stats *s);
/* The BPF filter for c's ports, for messages and tests ("" if it does
 * not fit len). */
const char *live_filter(const struct config *c, char *buf, size_t len);

#endif
