/*
 * tcp.c — TCP connection tracking from headers alone (see tcp.h).
 *
 * What matters here is agreeing with the receiving stack on what it
 * accepts: a segment it discards must not be inspected, a RST it ignores
 * must not end our session, and a new connection on an old 4-tuple must
 * not inherit the old session's state (authenticated, in TLS, in DATA).
 */
#include <string.h>

#include "stream.h"
#include "tcp.h"

#define TCP_FLAGS_OPEN	(DECODE_TH_SYN | DECODE_TH_ACK | DECODE_TH_RST)

void
tcp_init(struct tcp_conn *c, bool midstream)
{
	memset(c, 0, sizeof(*c));
	c->state = TCP_NEW;
	c->midstream = midstream;
	c->wscale[0] = c->wscale[1] = -1;
}

void
tcp_init_reopened(struct tcp_conn *c, const struct tcp_conn *old)
{
	tcp_init(c, false);
	c->state = TCP_SYN;
	c->syn_seen = true;
	c->isn[0] = old->reopen_isn;
	c->wscale[0] = old->reopen_wscale;
}

static bool
tcp_is_syn(const struct decode_packet *p)
{
	return (p->flags & TCP_FLAGS_OPEN) == DECODE_TH_SYN;
}

static bool
tcp_is_synack(const struct decode_packet *p)
{
	return (p->flags & TCP_FLAGS_OPEN) == (DECODE_TH_SYN | DECODE_TH_ACK);
}

enum tcp_opener
tcp_opener(const struct decode_packet *p)
{
	if (p->flags & DECODE_TH_RST)
		return TCP_OPENER_NONE;
	if (tcp_is_syn(p))
		return TCP_OPENER_SYN;
	if (tcp_is_synack(p))
		return TCP_OPENER_SYNACK;
	if (!(p->flags & DECODE_TH_SYN) && p->payload_wire_len > 0)
		return TCP_OPENER_DATA;
	return TCP_OPENER_NONE;
}

enum tcp_reuse
tcp_reuse(struct tcp_conn *c, const struct decode_packet *p, int dir)
{
	bool over = c->state >= TCP_CLOSING;
	bool half_open = c->state == TCP_SYN;

	if (tcp_is_syn(p) && dir == 0) {
		/* Closed, closing (the server is in TIME-WAIT or about to
		 * be), or reset by us: a new connection, whatever its ISN. */
		if (over)
			return TCP_REUSE_NEW;
		if (c->syn_seen && p->seq == c->isn[0])
			return TCP_REUSE_KEEP;		/* retransmitted */
		if (half_open)
			return TCP_REUSE_NEW;		/* nothing to keep */
		/* Live: the server keeps the old connection unless its
		 * SYN-ACK says otherwise. */
		c->reopen = true;
		c->reopen_isn = p->seq;
		c->reopen_wscale = p->wscale;
		return TCP_REUSE_KEEP;
	}
	if (tcp_is_synack(p) && dir == 1) {
		if (c->reopen && p->ack == c->reopen_isn + 1)
			return TCP_REUSE_REOPENED;
		return TCP_REUSE_KEEP;
	}
	/* The flow's server sends a SYN, or its client a SYN-ACK: the roles
	 * are not what the first packet said (a forged SYN in the server's
	 * name, a crossed opening), or the old connection is over.  Decide
	 * again from this packet, unless a connection is established, which
	 * the receiver keeps (challenge ACK) and so do we. */
	if ((tcp_is_syn(p) && dir == 1) || (tcp_is_synack(p) && dir == 0))
		return over || half_open ? TCP_REUSE_NEW : TCP_REUSE_KEEP;
	return TCP_REUSE_KEEP;
}

enum tcp_discard
tcp_discarded(const struct tcp_conn *c, const struct decode_packet *p,
    int dir)
{
	if (p->payload_wire_len == 0)
		return TCP_KEEP;
	if (p->flags & DECODE_TH_SYN)
		return TCP_DISCARD_SYN_DATA;
	/* Linux (tcp_stdurg=0, no SO_OOBINLINE) takes the byte before the
	 * urgent pointer out of the stream. */
	if ((p->flags & DECODE_TH_URG) && p->urg_ptr != 0)
		return TCP_DISCARD_URGENT;
	if (c->win_known[dir] && SEQ_GEQ(p->seq, c->win_edge[dir]))
		return TCP_DISCARD_OUT_OF_WINDOW;
	return TCP_KEEP;
}

const char *
tcp_discard_str(enum tcp_discard d)
{
	switch (d) {
	case TCP_KEEP:
		break;
	case TCP_DISCARD_SYN_DATA:
		return "syn-data";
	case TCP_DISCARD_URGENT:
		return "urgent-data";
	case TCP_DISCARD_OUT_OF_WINDOW:
		return "out-of-window";
	}
	return NULL;
}

/* Scaling is on only if both SYNs offered it (RFC 7323 2.2): a missing
 * option on either side means no scaling in either direction. */
static void
tcp_scaling(struct tcp_conn *c)
{
	c->wscale_ok = c->syn_seen && c->synack_seen && c->wscale[0] >= 0 &&
	    c->wscale[1] >= 0;
}

void
tcp_track(struct tcp_conn *c, const struct decode_packet *p, int dir)
{
	uint32_t edge;
	int scale;

	/*
	 * The options of the first SYN and SYN-ACK are the ones negotiated:
	 * a retransmitted SYN is answered from the listener's stored request
	 * (Linux tcp_check_req), and a SYN on an established connection is
	 * dropped.  A later SYN without options must not unset them.
	 */
	if (tcp_is_syn(p) && dir == 0) {
		if (!c->syn_seen && !c->midstream && c->state == TCP_NEW) {
			c->syn_seen = true;
			c->isn[0] = p->seq;
			c->wscale[0] = p->wscale;
			c->state = TCP_SYN;
			tcp_scaling(c);
		}
	} else if (tcp_is_synack(p) && dir == 1) {
		if (!c->synack_seen) {
			c->synack_seen = true;
			c->isn[1] = p->seq;
			c->wscale[1] = p->wscale;
			tcp_scaling(c);
		}
		if (c->state < TCP_ESTABLISHED)
			c->state = TCP_ESTABLISHED;
	} else if (dir == 0 && (p->flags & DECODE_TH_ACK) && c->synack_seen &&
	    !c->handshake_done && p->ack == c->isn[1] + 1)
		c->handshake_done = true;

	/* The sender's ACK and window bound what the other side may send.
	 * Windows in SYNs are never scaled (RFC 7323 2.2). */
	if ((p->flags & DECODE_TH_ACK) && c->syn_seen && c->synack_seen) {
		scale = c->wscale_ok && !(p->flags & DECODE_TH_SYN) ?
		    c->wscale[dir] : 0;
		edge = p->ack + ((uint32_t)p->window << scale);
		if (!c->win_known[1 - dir] ||
		    SEQ_GT(edge, c->win_edge[1 - dir]))
			c->win_edge[1 - dir] = edge;
		c->win_known[1 - dir] = true;
	}
}

bool
tcp_rst_acceptable(const struct tcp_conn *c, const struct decode_packet *p,
    int dir, bool next_known, uint32_t next_seq)
{
	/* The server refusing the client's SYN (SYN-SENT, RFC 793 3.9):
	 * only a RST that acknowledges that SYN counts. */
	if (dir == 1 && c->state == TCP_SYN && !c->synack_seen)
		return (p->flags & DECODE_TH_ACK) && p->ack == c->isn[0] + 1;
	if (!next_known)
		return true;
	return p->seq == next_seq;
}

bool
tcp_fin(struct tcp_conn *c, int dir)
{
	c->fin[dir] = true;
	if (c->state < TCP_CLOSING)
		c->state = TCP_CLOSING;
	return c->fin[1 - dir];
}

void
tcp_close(struct tcp_conn *c)
{
	c->state = TCP_CLOSED;
	c->reopen = false;
}
