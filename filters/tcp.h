/*
 * tcp.h — TCP connection tracking from headers alone: who opened the
 * connection (the sender of the SYN is the client), the handshake, each
 * receiver's window, which segments a receiver would discard, which RSTs
 * it accepts, the close, and when a SYN on a known 4-tuple starts a new
 * connection.  Reassembly is stream.c's; no payload byte is read here.
 *
 * Direction 0 is client to server, 1 server to client.  The rules are
 * those of the receiving Linux stack, cited where they are applied.
 */
#ifndef TCP_H
#define TCP_H

#include "rg.h"
#include "decode.h"

enum tcp_state {
	TCP_NEW,		/* nothing yet, or data without a handshake */
	TCP_SYN,		/* client SYN seen */
	TCP_ESTABLISHED,	/* SYN-ACK seen (or a pickup with data) */
	TCP_CLOSING,		/* FIN seen */
	TCP_CLOSED,		/* RST, FIN both ways, or reset by us */
};

struct tcp_conn {
	uint8_t state;			/* enum tcp_state */
	bool midstream;			/* picked up without a handshake */
	bool syn_seen, synack_seen;	/* handshake, as seen */
	bool handshake_done;		/* client acked the server's SYN */
	bool wscale_ok;			/* both SYNs offered window scaling */
	int8_t wscale[2];		/* per sender, -1 if none */
	bool fin[2];			/* FIN sent in direction d */
	bool win_known[2];		/* win_edge[d] valid for d's data */
	uint32_t win_edge[2];		/* right edge of the receiver's window
					 * for data sent in direction d */
	uint32_t isn[2];		/* SYN sequence number of each sender */
	/* A client SYN with a new ISN on a live connection.  A server that
	 * still has the connection answers it with a challenge ACK and
	 * drops it (RFC 5961 4.2, Linux tcp_validate_incoming); one that
	 * has lost it answers with a SYN-ACK for this ISN. */
	bool reopen;
	int8_t reopen_wscale;
	uint32_t reopen_isn;
};

/* How a packet without a connection may start one. */
enum tcp_opener {
	TCP_OPENER_NONE,	/* bare ACK, FIN, RST: passed, never tracked */
	TCP_OPENER_SYN,		/* its sender is the client */
	TCP_OPENER_SYNACK,	/* its sender is the server */
	TCP_OPENER_DATA,	/* data without a handshake: a pickup */
};

/* What a packet means for the connection already on its 4-tuple. */
enum tcp_reuse {
	TCP_REUSE_KEEP,		/* it belongs to this connection */
	TCP_REUSE_NEW,		/* a new connection: finish the old one and
				 * treat the packet as if there were none */
	TCP_REUSE_REOPENED,	/* the server accepted the pending SYN: start
				 * afresh from it (tcp_init_reopened) */
};

/* Why a receiver discards a segment's data (TCP_KEEP: it does not). */
enum tcp_discard {
	TCP_KEEP,
	TCP_DISCARD_SYN_DATA,		/* data on a SYN */
	TCP_DISCARD_URGENT,		/* urgent data (taken out of band) */
	TCP_DISCARD_OUT_OF_WINDOW,	/* beyond the advertised window */
};

/* A fresh connection: from a SYN or SYN-ACK, or picked up midstream. */
void tcp_init(struct tcp_conn *c, bool midstream);
/* A fresh connection that begins with old's pending SYN (TCP_REUSE_
 * REOPENED); the SYN-ACK is then tracked as usual. */
void tcp_init_reopened(struct tcp_conn *c, const struct tcp_conn *old);

enum tcp_opener tcp_opener(const struct decode_packet *p);

/*
 * A SYN or SYN-ACK on a 4-tuple that has a connection, seen from dir.  A
 * SYN on a closed, closing or reset connection, or on a half-open one with
 * another ISN, is a new connection whatever its sequence number: nothing
 * of the old session may carry over.  On a live connection the server
 * keeps the old one (challenge ACK): the SYN is remembered, and only the
 * server's SYN-ACK for it starts afresh.  A SYN or SYN-ACK that says the
 * roles are the other way round (a forged opening) starts afresh unless
 * the connection is established.  May record the pending SYN in c.
 */
enum tcp_reuse tcp_reuse(struct tcp_conn *c, const struct decode_packet *p,
    int dir);

/* Would the receiver discard this segment's data before reading it? */
enum tcp_discard tcp_discarded(const struct tcp_conn *c,
    const struct decode_packet *p, int dir);
/* "syn-data", "urgent-data", "out-of-window" (NULL for TCP_KEEP). */
const char *tcp_discard_str(enum tcp_discard d);

/* Track the handshake, the window scales and the receive windows. */
void tcp_track(struct tcp_conn *c, const struct decode_packet *p, int dir);

/*
 * Would the receiver accept this RST from dir?  Synchronized: only at
 * exactly the next expected sequence number, next_seq of dir's stream when
 * next_known (RFC 5961 3.2; a RST in the window but not exact draws a
 * challenge ACK).  Answering the SYN: only with an ACK of it (RFC 793,
 * SYN-SENT).
 */
bool tcp_rst_acceptable(const struct tcp_conn *c,
    const struct decode_packet *p, int dir, bool next_known,
    uint32_t next_seq);

/* A FIN from dir; true once both directions have sent theirs. */
bool tcp_fin(struct tcp_conn *c, int dir);

/* The connection is over (accepted RST, FIN both ways, our reset). */
void tcp_close(struct tcp_conn *c);

#endif
