/*
 * test_tcp.c — TCP connection tracking (filters/tcp.c) from tables of
 * segments, Suricata style: each row is one segment (direction, flags,
 * sequence numbers, window, options) and the state it must leave.
 */
#include <stdlib.h>

#include "tcp.h"
#include "test.h"

#define S DECODE_TH_SYN
#define A DECODE_TH_ACK
#define F DECODE_TH_FIN
#define R DECODE_TH_RST
#define P DECODE_TH_PSH
#define U DECODE_TH_URG
#define NOWS (-1)

#define CISN 1000u
#define SISN 5000u

struct seg {
	int dir;		/* 0 client to server, 1 server to client */
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t win;
	int8_t ws;		/* window scale option, NOWS if none */
	uint32_t len;		/* payload bytes */
	uint16_t urg;
};

static struct decode_packet
pkt(const struct seg *s)
{
	struct decode_packet p;

	memset(&p, 0, sizeof(p));
	p.flags = s->flags;
	p.seq = s->seq;
	p.ack = s->ack;
	p.window = s->win;
	p.wscale = s->ws;
	p.payload_len = p.payload_wire_len = s->len;
	p.urg_ptr = s->urg;
	return p;
}

static void
feed(struct tcp_conn *c, const struct seg *s)
{
	struct decode_packet p = pkt(s);

	tcp_track(c, &p, s->dir);
	if (s->flags & F)
		(void)tcp_fin(c, s->dir);
}

/* The usual opening: SYN and SYN-ACK with window scale 7, then the ACK. */
static const struct seg open_ws7[] = {
	{ 0, S, CISN, 0, 64240, 7, 0, 0 },
	{ 1, S | A, SISN, CISN + 1, 65160, 7, 0, 0 },
	{ 0, A, CISN + 1, SISN + 1, 502, NOWS, 0, 0 },
};

static void
test_handshake(void)
{
	static const struct {
		struct seg s;
		uint8_t state;
		bool done;
	} rows[] = {
		{ { 0, S, CISN, 0, 64240, 7, 0, 0 }, TCP_SYN, false },
		{ { 0, S, CISN, 0, 64240, 7, 0, 0 }, TCP_SYN, false },
		{ { 1, S | A, SISN, CISN + 1, 65160, 7, 0, 0 },
		    TCP_ESTABLISHED, false },
		/* An ACK of something else does not complete it. */
		{ { 0, A, CISN + 1, SISN + 7, 502, NOWS, 0, 0 },
		    TCP_ESTABLISHED, false },
		{ { 0, A, CISN + 1, SISN + 1, 502, NOWS, 0, 0 },
		    TCP_ESTABLISHED, true },
		{ { 1, P | A, SISN + 1, CISN + 1, 509, NOWS, 20, 0 },
		    TCP_ESTABLISHED, true },
		{ { 1, F | A, SISN + 21, CISN + 1, 509, NOWS, 0, 0 },
		    TCP_CLOSING, true },
	};
	struct tcp_conn c;
	size_t i;

	tcp_init(&c, false);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		feed(&c, &rows[i].s);
		ASSERT_INT_EQ(c.state, rows[i].state);
		ASSERT_INT_EQ(c.handshake_done, rows[i].done);
	}
	ASSERT_INT_EQ(c.isn[0], CISN);
	ASSERT_INT_EQ(c.isn[1], SISN);
	TEST_CHECK(c.fin[1] && !c.fin[0]);
	TEST_CHECK(tcp_fin(&c, 0));
	tcp_close(&c);
	ASSERT_INT_EQ(c.state, TCP_CLOSED);
}

/* The receive windows: scaled by the receiver's own shift, both SYNs
 * offering it; SYN windows never scaled; an edge never moves left. */
static void
test_windows(void)
{
	static const struct {
		int8_t ws_syn, ws_synack;
		uint32_t edge_c2s;	/* after the server's ACK below */
	} rows[] = {
		{ 7, 7, CISN + 1 + (1000u << 7) },
		{ 2, 9, CISN + 1 + (1000u << 9) },
		/* One side without the option: no scaling either way
		 * (RFC 7323 2.2); the SYN-ACK's wider window stays. */
		{ NOWS, 7, CISN + 1 + 65160 },
		{ 7, NOWS, CISN + 1 + 65160 },
		{ 0, 0, CISN + 1 + 65160 },
	};
	struct tcp_conn c;
	struct seg s;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		tcp_init(&c, false);
		s = (struct seg){ 0, S, CISN, 0, 64240, rows[i].ws_syn, 0, 0 };
		feed(&c, &s);
		s = (struct seg){ 1, S | A, SISN, CISN + 1, 65160,
		    rows[i].ws_synack, 0, 0 };
		feed(&c, &s);
		/* The SYN-ACK's window is not scaled. */
		ASSERT_INT_EQ(c.win_edge[0], CISN + 1 + 65160);
		s = (struct seg){ 1, A, SISN + 1, CISN + 1, 1000, NOWS, 0,
		    0 };
		feed(&c, &s);
		ASSERT_INT_EQ(c.win_edge[0], rows[i].edge_c2s);
	}
}

/*
 * A duplicate SYN without options after the handshake (issue 7): it once
 * set the client's shift to -1 with scaling still on, and the next ACK
 * shifted by a negative count (undefined; the UBSan build aborted).  The
 * options of the first SYN stay negotiated.
 */
static void
test_dup_syn_without_options(void)
{
	static const struct seg dup[] = {
		{ 0, S, CISN, 0, 64240, NOWS, 0, 0 },
		{ 0, A, CISN + 1, SISN + 1, 1000, NOWS, 0, 0 },
	};
	struct tcp_conn c;
	size_t i;

	tcp_init(&c, false);
	for (i = 0; i < 3; i++)
		feed(&c, &open_ws7[i]);
	for (i = 0; i < 2; i++)
		feed(&c, &dup[i]);
	TEST_CHECK(c.wscale_ok);
	ASSERT_INT_EQ(c.wscale[0], 7);
	ASSERT_INT_EQ(c.win_edge[1], SISN + 1 + (1000u << 7));

	/* The same SYN with another ISN on the established connection:
	 * dropped by the server (challenge ACK), options untouched. */
	tcp_init(&c, false);
	for (i = 0; i < 3; i++)
		feed(&c, &open_ws7[i]);
	{
		struct seg s = { 0, S, CISN + 99999, 0, 64240, NOWS, 0, 0 };

		feed(&c, &s);
		feed(&c, &dup[1]);
	}
	ASSERT_INT_EQ(c.wscale[0], 7);
	ASSERT_INT_EQ(c.win_edge[1], SISN + 1 + (1000u << 7));
}

/* Data the receiver would never read. */
static void
test_discarded(void)
{
	static const struct {
		struct seg s;
		enum tcp_discard want;
	} rows[] = {
		{ { 0, S, CISN, 0, 64240, 7, 10, 0 }, TCP_DISCARD_SYN_DATA },
		{ { 0, P | A | U, CISN + 1, SISN + 1, 502, NOWS, 10, 5 },
		    TCP_DISCARD_URGENT },
		/* URG with a zero pointer: nothing taken out. */
		{ { 0, P | A | U, CISN + 1, SISN + 1, 502, NOWS, 10, 0 },
		    TCP_KEEP },
		{ { 0, P | A, CISN + 1, SISN + 1, 502, NOWS, 10, 0 },
		    TCP_KEEP },
		/* The server's window: 1000 << 7 from CISN + 1 (its ACK). */
		{ { 0, P | A, CISN + 1 + (1000u << 7) - 1, SISN + 1, 502,
		    NOWS, 1, 0 }, TCP_KEEP },
		{ { 0, P | A, CISN + 1 + (1000u << 7), SISN + 1, 502, NOWS, 1,
		    0 }, TCP_DISCARD_OUT_OF_WINDOW },
		/* No payload: nothing to discard. */
		{ { 0, A, CISN + 1 + (2000u << 7), SISN + 1, 502, NOWS, 0, 0 },
		    TCP_KEEP },
	};
	static const struct seg server_ack =
	    { 1, A, SISN + 1, CISN + 1, 1000, NOWS, 0, 0 };
	struct decode_packet p;
	struct tcp_conn c;
	size_t i;

	tcp_init(&c, false);
	for (i = 0; i < 3; i++)
		feed(&c, &open_ws7[i]);
	feed(&c, &server_ack);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		p = pkt(&rows[i].s);
		ASSERT_INT_EQ(tcp_discarded(&c, &p, rows[i].s.dir),
		    rows[i].want);
	}
	ASSERT_STR_EQ(tcp_discard_str(TCP_DISCARD_OUT_OF_WINDOW),
	    "out-of-window");
	TEST_CHECK(tcp_discard_str(TCP_KEEP) == NULL);
}

/* RFC 5961 3.2 exact-sequence RSTs; RFC 793 SYN-SENT. */
static void
test_rst(void)
{
	static const struct {
		int opened;		/* rows of open_ws7 fed first */
		struct seg s;
		bool next_known;
		uint32_t next;
		bool want;
	} rows[] = {
		/* Established: exactly the next sequence number only. */
		{ 3, { 0, R, CISN + 1, 0, 0, NOWS, 0, 0 }, true, CISN + 1,
		    true },
		{ 3, { 0, R, CISN + 2, 0, 0, NOWS, 0, 0 }, true, CISN + 1,
		    false },
		{ 3, { 1, R | A, SISN, CISN + 1, 0, NOWS, 0, 0 }, true,
		    SISN + 1, false },
		/* Nothing of that direction seen: cannot tell, accept. */
		{ 0, { 0, R, 42, 0, 0, NOWS, 0, 0 }, false, 0, true },
		/* The server refusing the SYN: it must acknowledge it. */
		{ 1, { 1, R | A, 0, CISN + 1, 0, NOWS, 0, 0 }, false, 0, true },
		{ 1, { 1, R | A, 0, CISN + 2, 0, NOWS, 0, 0 }, false, 0,
		    false },
		{ 1, { 1, R, 0, 0, 0, NOWS, 0, 0 }, false, 0, false },
	};
	struct decode_packet p;
	struct tcp_conn c;
	size_t i;
	int k;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		tcp_init(&c, false);
		for (k = 0; k < rows[i].opened; k++)
			feed(&c, &open_ws7[k]);
		p = pkt(&rows[i].s);
		if (tcp_rst_acceptable(&c, &p, rows[i].s.dir,
		    rows[i].next_known, rows[i].next) != rows[i].want) {
			fprintf(stderr, "rst row %zu\n", i);
			test_failed_checks++;
		}
	}
}

static void
test_opener(void)
{
	static const struct {
		struct seg s;
		enum tcp_opener want;
	} rows[] = {
		{ { 0, S, CISN, 0, 0, NOWS, 0, 0 }, TCP_OPENER_SYN },
		{ { 1, S | A, SISN, CISN + 1, 0, NOWS, 0, 0 },
		    TCP_OPENER_SYNACK },
		{ { 0, A, CISN, 0, 0, NOWS, 0, 0 }, TCP_OPENER_NONE },
		{ { 0, F | A, CISN, 0, 0, NOWS, 0, 0 }, TCP_OPENER_NONE },
		{ { 0, R, CISN, 0, 0, NOWS, 0, 0 }, TCP_OPENER_NONE },
		{ { 0, S | R, CISN, 0, 0, NOWS, 0, 0 }, TCP_OPENER_NONE },
		{ { 0, R | A, CISN, 0, 0, NOWS, 5, 0 }, TCP_OPENER_NONE },
		{ { 0, P | A, CISN, 0, 0, NOWS, 5, 0 }, TCP_OPENER_DATA },
	};
	struct decode_packet p;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		p = pkt(&rows[i].s);
		ASSERT_INT_EQ(tcp_opener(&p), rows[i].want);
	}
}

/* A SYN or SYN-ACK on a 4-tuple that has a connection. */
static void
test_reuse(void)
{
	enum { HALF = 1, EST = 3 };
	static const struct {
		int opened;		/* rows of open_ws7 fed first */
		uint8_t then;		/* 0, or fin from the client, or close */
		struct seg s;
		enum tcp_reuse want;
		bool reopen;		/* a SYN left pending */
	} rows[] = {
		/* Over: a new connection whatever its ISN, even the one
		 * next to the old sequence numbers. */
		{ EST, F, { 0, S, CISN + 500, 0, 0, NOWS, 0, 0 },
		    TCP_REUSE_NEW, false },
		{ EST, R, { 0, S, CISN + 1, 0, 0, NOWS, 0, 0 },
		    TCP_REUSE_NEW, false },
		{ EST, R, { 0, S, CISN, 0, 0, NOWS, 0, 0 }, TCP_REUSE_NEW,
		    false },
		/* Half-open: the same SYN again, or a new attempt. */
		{ HALF, 0, { 0, S, CISN, 0, 0, NOWS, 0, 0 }, TCP_REUSE_KEEP,
		    false },
		{ HALF, 0, { 0, S, CISN + 7, 0, 0, NOWS, 0, 0 },
		    TCP_REUSE_NEW, false },
		/* Live: the server keeps it (challenge ACK), we remember. */
		{ EST, 0, { 0, S, CISN, 0, 0, NOWS, 0, 0 }, TCP_REUSE_KEEP,
		    false },
		{ EST, 0, { 0, S, CISN + 7, 0, 0, 5, 0, 0 }, TCP_REUSE_KEEP,
		    true },
		/* The roles the other way round: forged or crossed. */
		{ HALF, 0, { 1, S, SISN, 0, 0, NOWS, 0, 0 }, TCP_REUSE_NEW,
		    false },
		{ HALF, 0, { 0, S | A, SISN, CISN + 1, 0, NOWS, 0, 0 },
		    TCP_REUSE_NEW, false },
		{ EST, 0, { 1, S, SISN, 0, 0, NOWS, 0, 0 }, TCP_REUSE_KEEP,
		    false },
		{ EST, F, { 1, S, SISN, 0, 0, NOWS, 0, 0 }, TCP_REUSE_NEW,
		    false },
		/* Not openings: always this connection's. */
		{ EST, F, { 0, P | A, CISN + 1, SISN + 1, 0, NOWS, 5, 0 },
		    TCP_REUSE_KEEP, false },
		{ 0, R, { 0, A, CISN + 1, SISN + 1, 0, NOWS, 0, 0 },
		    TCP_REUSE_KEEP, false },
	};
	struct decode_packet p;
	struct tcp_conn c;
	size_t i;
	int k;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		tcp_init(&c, false);
		for (k = 0; k < rows[i].opened; k++)
			feed(&c, &open_ws7[k]);
		if (rows[i].then == F)
			(void)tcp_fin(&c, 0);
		else if (rows[i].then == R)
			tcp_close(&c);
		p = pkt(&rows[i].s);
		if (tcp_reuse(&c, &p, rows[i].s.dir) != rows[i].want ||
		    c.reopen != rows[i].reopen) {
			fprintf(stderr, "reuse row %zu\n", i);
			test_failed_checks++;
		}
	}

	/* A pending SYN: only the server's SYN-ACK for it starts afresh,
	 * with the pending SYN's ISN and options. */
	tcp_init(&c, false);
	for (k = 0; k < EST; k++)
		feed(&c, &open_ws7[k]);
	{
		struct seg syn = { 0, S, 777777, 0, 0, 5, 0, 0 };
		struct seg challenge = { 1, A, SISN + 1, CISN + 1, 0, NOWS, 0,
		    0 };
		struct seg other = { 1, S | A, 9, 777777 + 2, 0, 3, 0, 0 };
		struct seg synack = { 1, S | A, 9, 777777 + 1, 0, 3, 0, 0 };
		struct tcp_conn n;

		p = pkt(&syn);
		ASSERT_INT_EQ(tcp_reuse(&c, &p, 0), TCP_REUSE_KEEP);
		p = pkt(&challenge);
		ASSERT_INT_EQ(tcp_reuse(&c, &p, 1), TCP_REUSE_KEEP);
		p = pkt(&other);
		ASSERT_INT_EQ(tcp_reuse(&c, &p, 1), TCP_REUSE_KEEP);
		p = pkt(&synack);
		ASSERT_INT_EQ(tcp_reuse(&c, &p, 1), TCP_REUSE_REOPENED);
		tcp_init_reopened(&n, &c);
		feed(&n, &synack);
		ASSERT_INT_EQ(n.state, TCP_ESTABLISHED);
		ASSERT_INT_EQ(n.isn[0], 777777);
		TEST_CHECK(n.wscale_ok && n.wscale[0] == 5 && n.wscale[1] == 3);
		TEST_CHECK(!n.handshake_done && !n.reopen);
	}

	/* Picked up midstream: a SYN may be the old connection's peer
	 * starting over, or not; the server's answer decides. */
	tcp_init(&c, true);
	{
		struct seg syn = { 0, S, 42, 0, 0, NOWS, 0, 0 };

		p = pkt(&syn);
		ASSERT_INT_EQ(tcp_reuse(&c, &p, 0), TCP_REUSE_KEEP);
		TEST_CHECK(c.reopen);
		feed(&c, &syn);
		TEST_CHECK(!c.syn_seen);
	}
}

int
main(void)
{
	TEST_RUN(test_handshake);
	TEST_RUN(test_windows);
	TEST_RUN(test_dup_syn_without_options);
	TEST_RUN(test_discarded);
	TEST_RUN(test_rst);
	TEST_RUN(test_opener);
	TEST_RUN(test_reuse);
	return TEST_END("tcp");
}
