/*
 * live.c — see live.h.
 *
 * libpcap sets up the ring: TPACKET_V3 (the default: variable-size frames
 * packed into blocks the kernel hands over when full or after the 1 ms
 * timeout, which the kernel rounds up to a jiffy), or, in immediate mode
 * (capture-immediate yes), TPACKET_V2, whose frames are handed over one by
 * one: less delay before our RSTs, but every frame is as large as the
 * largest packet, and on an interface with segmentation or receive
 * offloads that is 64 KiB (a 16M ring holds 250 frames: bench/capture
 * loses packets above 24 Mbit/s that way, none with V3).
 *
 * The kernel's drop count is read with getsockopt(PACKET_STATISTICS)
 * directly rather than pcap_stats(): in promiscuous mode pcap_stats() also
 * opens files under /sys, which the seccomp filter does not allow.  The
 * kernel zeroes its counters on every read; nothing else reads them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_packet.h>
#include <pcap/pcap.h>

#include "live.h"

#define LIVE_SNAPLEN 65535	/* an IP packet whole (GRO may merge
				 * segments up to that) */
#define LIVE_BATCH 256		/* packets per live_receive() */
#define LIVE_TIMEOUT_MS 1	/* TPACKET_V3 block timeout */
/* " or port 65535" is 14 bytes; the filter names the list twice. */
#define LIVE_PORTS_MAX (CONFIG_MAX_PORTS * 14 + 1)
/* Packets whose ports the filter cannot test (live_filter()): IPv4
 * fragments, IPv6 that starts with a hop-by-hop, routing, fragment, AH or
 * destination-options header (those decode.c walks). */
#define LIVE_UNPORTED "(ip[6:2] & 0x3fff != 0) or (ip6 and (ip6[6] == 0 or " \
	"ip6[6] == 43 or ip6[6] == 44 or ip6[6] == 51 or ip6[6] == 60))"
#define LIVE_FILTER_MAX (2 * LIVE_PORTS_MAX + 64 + 2 * sizeof(LIVE_UNPORTED))

#ifndef PACKET_FANOUT_FLAG_UNIQUEID
#define PACKET_FANOUT_FLAG_UNIQUEID 0x2000
#endif

struct live_handle {
	pcap_t *p;
	int fd;
	int linktype;
	uint16_t fanout_id;
};

struct live {
	struct live_handle h[CONFIG_MAX_CAPTURE];
	unsigned n;
	struct live_stats st;
	live_handler_fn fn;
	void *ctx;
	int linktype;		/* of the handle being read */
};

const char *
live_filter(const struct config *c, char *buf, size_t len)
{
	char ports[LIVE_PORTS_MAX];
	size_t used = 0;
	uint32_t i;
	int n;

	ports[0] = '\0';
	for (i = 0; i < c->nports && i < CONFIG_MAX_PORTS; i++) {
		n = snprintf(ports + used, sizeof(ports) - used, "%sport %u",
		    i == 0 ? "" : " or ", (unsigned)c->ports[i]);
		/* Never a filter without some of the ports: what it leaves
		 * out would pass uninspected. */
		if (n < 0 || (size_t)n >= sizeof(ports) - used)
			goto toolong;
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(ports, sizeof(ports), "port 25");
	/*
	 * Also what the port test cannot see and the server reads: IPv4
	 * fragments (MF or an offset; the engine refuses a first one to a
	 * server, engine.c) and IPv6 behind extension headers ("tcp" only
	 * looks at the fixed header's next header), all of them, whatever
	 * the protocol after them: "ip6 protochain 6" would walk them, but
	 * the kernel refuses its code (libpcap then filters in user space,
	 * every packet crossing the ring) and libpcap refuses it after
	 * "vlan".  IPv6 fragments are among those.  Tagged frames too: a
	 * SPAN port often carries the VLAN tags (the engine reads 802.1Q
	 * and 802.1ad); "vlan" moves the offsets of all that follows, so it
	 * comes last.
	 */
	n = snprintf(buf, len, "(tcp and (%s)) or " LIVE_UNPORTED " or "
	    "(vlan and ((tcp and (%s)) or " LIVE_UNPORTED "))", ports, ports);
	if (n < 0 || (size_t)n >= len) {
toolong:
		if (len > 0)
			buf[0] = '\0';
	}
	return buf;
}

/* Open one interface; 0, or -1 and err naming it. */
static int
live_open_one(struct live_handle *h, const struct config *c,
    const char *ifname, const char *filter, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE];
	struct bpf_program prog;
	int rc;

	ebuf[0] = '\0';
	if ((h->p = pcap_create(ifname, ebuf)) == NULL) {
		snprintf(err, errlen, "capture %s: %s", ifname, ebuf);
		return -1;
	}
	if (pcap_set_snaplen(h->p, LIVE_SNAPLEN) != 0 ||
	    pcap_set_promisc(h->p, 1) != 0 ||
	    pcap_set_timeout(h->p, LIVE_TIMEOUT_MS) != 0 ||
	    pcap_set_immediate_mode(h->p, c->capture_immediate) != 0 ||
	    pcap_set_buffer_size(h->p, (int)c->capture_buffer) != 0) {
		snprintf(err, errlen, "capture %s: cannot set options",
		    ifname);
		return -1;
	}
	if ((rc = pcap_activate(h->p)) < 0) {
		/* PCAP_ERROR_NO_SUCH_DEVICE, _PERM_DENIED, ... */
		snprintf(err, errlen, "capture %s: %s%s%s", ifname,
		    pcap_statustostr(rc), pcap_geterr(h->p)[0] ? ": " : "",
		    pcap_geterr(h->p));
		return -1;
	}
	h->linktype = pcap_datalink(h->p);
	if (pcap_compile(h->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		snprintf(err, errlen, "capture %s: filter '%s': %s", ifname,
		    filter, pcap_geterr(h->p));
		return -1;
	}
	rc = pcap_setfilter(h->p, &prog);
	pcap_freecode(&prog);
	if (rc < 0) {
		snprintf(err, errlen, "capture %s: filter: %s", ifname,
		    pcap_geterr(h->p));
		return -1;
	}
	if (pcap_setnonblock(h->p, 1, ebuf) < 0) {
		snprintf(err, errlen, "capture %s: non-blocking: %s", ifname,
		    ebuf);
		return -1;
	}
	if ((h->fd = pcap_get_selectable_fd(h->p)) < 0) {
		snprintf(err, errlen, "capture %s: no selectable descriptor",
		    ifname);
		return -1;
	}
	return 0;
}

/*
 * Join handle h to the fanout group of its interface: worker 0 asks the
 * kernel for a fresh group id (so that no other program's group on the
 * same interface is joined by mistake), the others join that id.
 */
static int
live_fanout(struct live_handle *h, const struct live_handle *first,
    const char *ifname, char *err, size_t errlen)
{
	uint32_t arg;
	socklen_t len = sizeof(arg);

	if (first == NULL)
		arg = (uint32_t)(PACKET_FANOUT_HASH |
		    PACKET_FANOUT_FLAG_UNIQUEID) << 16;
	else
		arg = (uint32_t)PACKET_FANOUT_HASH << 16 | first->fanout_id;
	if (setsockopt(h->fd, SOL_PACKET, PACKET_FANOUT, &arg,
	    sizeof(arg)) < 0) {
		snprintf(err, errlen, "capture %s: PACKET_FANOUT: %s", ifname,
		    strerror(errno));
		return -1;
	}
	if (first != NULL) {
		h->fanout_id = first->fanout_id;
		return 0;
	}
	if (getsockopt(h->fd, SOL_PACKET, PACKET_FANOUT, &arg, &len) < 0) {
		snprintf(err, errlen, "capture %s: PACKET_FANOUT id: %s",
		    ifname, strerror(errno));
		return -1;
	}
	h->fanout_id = (uint16_t)(arg & 0xffff);
	return 0;
}

struct live *
live_open(const struct config *c, unsigned worker, unsigned nworkers,
    struct live *first, char *err, size_t errlen)
{
	struct live *l;
	char filter[LIVE_FILTER_MAX];
	unsigned i;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "capture: out of memory");
		return NULL;
	}
	if (live_filter(c, filter, sizeof(filter))[0] == '\0') {
		snprintf(err, errlen, "capture: filter too long");
		goto fail;
	}
	for (i = 0; i < c->ncapture && i < CONFIG_MAX_CAPTURE; i++) {
		l->h[i].fd = -1;
		l->n = i + 1;
		if (live_open_one(&l->h[i], c, c->capture[i], filter, err,
		    errlen) < 0)
			goto fail;
		if (nworkers > 1 && live_fanout(&l->h[i], worker == 0 ||
		    first == NULL ? NULL : &first->h[i], c->capture[i], err,
		    errlen) < 0)
			goto fail;
	}
	return l;
fail:
	live_close(l);
	return NULL;
}

void
live_close(struct live *l)
{
	unsigned i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		if (l->h[i].p != NULL)
			pcap_close(l->h[i].p);
	free(l);
}

unsigned
live_count(const struct live *l)
{
	return l->n;
}

int
live_fd(const struct live *l, unsigned i)
{
	return l->h[i].fd;
}

static void
live_cb(u_char *arg, const struct pcap_pkthdr *ph, const u_char *bytes)
{
	struct live *l = (struct live *)(void *)arg;
	rg_time_t ts;

	ts = (rg_time_t)ph->ts.tv_sec * RG_USEC_PER_SEC +
	    (rg_time_t)ph->ts.tv_usec;
	l->st.packets++;
	l->fn(l->ctx, l->linktype, ts, bytes, ph->caplen,
	    ph->len > ph->caplen ? ph->len : ph->caplen);
}

int
live_receive(struct live *l, unsigned i, live_handler_fn fn, void *ctx)
{
	int n;

	l->fn = fn;
	l->ctx = ctx;
	l->linktype = l->h[i].linktype;
	n = pcap_dispatch(l->h[i].p, LIVE_BATCH, live_cb, (u_char *)l);
	if (n == PCAP_ERROR) {
		l->st.errors++;
		return -1;
	}
	return n < 0 ? 0 : n;
}

void
live_get_stats(struct live *l, struct live_stats *s)
{
	struct tpacket_stats_v3 ts;
	socklen_t len;
	unsigned i;

	for (i = 0; i < l->n; i++) {
		/* The V2 and V3 structures begin alike; the kernel copies
		 * its version's. */
		memset(&ts, 0, sizeof(ts));
		len = sizeof(ts);
		if (getsockopt(l->h[i].fd, SOL_PACKET, PACKET_STATISTICS,
		    &ts, &len) == 0)
			l->st.drops += ts.tp_drops;
	}
	*s = l->st;
}
