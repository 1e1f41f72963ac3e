/*
 * gen.c — flood captures for tests/flood/run and bench/flood.
 *
 *	gen [-s SEED] [-r RELAYS] [-a AUTHS] [-g GAP] [-G SLOWGAP]
 *	    KIND N FILE
 *
 * Writes classic pcap (LINKTYPE_ETHERNET, microsecond timestamps, one
 * packet every 10 us) holding one flood of KIND, size N:
 *
 *   syn    N SYNs from many sources (203.0.113.0/24 and 2001:db8:5::/48,
 *          random ports) to 198.51.100.25:25, each answered by the
 *          server's SYN|ACK and never completed
 *   flows  N short connections: handshake, "EHLO x", FIN both ways, a
 *          thousand open at a time
 *   ooo    N connections, all open at once, each a banner and then
 *          4000 client segments of 10 bytes with a hole before every one,
 *          sent last to first (holes everywhere, every segment out of
 *          order, 40 KB of sequence space: inside the window); the holes
 *          are filled at the end
 *   line   one connection whose client sends one line of N bytes without
 *          LF, in 1448-byte segments, acknowledged
 *   reply  one connection whose server answers EHLO with "250-x" lines,
 *          N bytes of them, never a last line
 *
 * Interleaved with the flood, one packet at a time every GAP flood
 * packets, run RELAYS relay sessions (client 203.0.113.x or
 * 2001:db8:bad::x outside relay-networks, RCPT TO:<relayK@foreign.example>
 * accepted by an open server) and AUTHS authenticated sessions (AUTH
 * PLAIN answered 235, then RCPT TO:<authK@foreign.example>: not a relay
 * attempt).  The authenticated sessions pause SLOWGAP flood packets
 * between AUTH and RCPT (0: no pause), so a flood that pushes idle
 * flows out of the table takes their authentication with them.  Every
 * session is completed after the flood if it did not finish inside it.
 *
 * The counts go to stdout as key=value lines: packets, relays, auths,
 * flood_packets.  The same seed gives the same file.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GEN_MSS		1448
#define GEN_FRAME_MAX	(14 + 40 + 20 + GEN_MSS)
#define GEN_T0		1704067200u	/* 2024-01-01T00:00:00Z */
#define GEN_STEP_USEC	10
#define GEN_OOO_SEGS	4000
#define GEN_OOO_LEN	10
#define GEN_FLOWS_OPEN	1000

#define TH_FIN	0x01
#define TH_SYN	0x02
#define TH_RST	0x04
#define TH_PSH	0x08
#define TH_ACK	0x10

struct conn {
	bool v6;
	uint8_t caddr[16], saddr[16];
	uint16_t cport, sport;
	uint32_t cseq, sseq;	/* next sequence number of each side */
};

struct gen {
	FILE *out;
	uint64_t rng[4];
	uint64_t usec;		/* since GEN_T0 */
	uint64_t packets;
	uint64_t flood_packets;
	uint64_t nconn;		/* flood connections made */
	uint8_t frame[GEN_FRAME_MAX];
};

/* A scripted session (relay or authenticated), sent a packet at a time. */
enum lane_kind { LANE_RELAY, LANE_AUTH };

#define LANE_STEPS 24
struct lane_step {
	bool client;
	uint8_t flags;
	char text[96];
	bool pause;		/* wait SLOWGAP flood packets before this */
};

struct lane {
	enum lane_kind kind;
	uint32_t total, started;
	uint32_t gap, slowgap;
	uint32_t tick;		/* flood packets since the last step */
	bool active;
	struct conn c;
	struct lane_step steps[LANE_STEPS];
	unsigned nsteps, next;
};

static void gen_fatal(const char *) __attribute__((noreturn));

static void
gen_fatal(const char *what)
{
	fprintf(stderr, "gen: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* xoshiro256** */
static uint64_t
gen_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
gen_rand(struct gen *g)
{
	uint64_t *s = g->rng, r = gen_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = gen_rotl(s[3], 45);
	return r;
}

static void
gen_seed(struct gen *g, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++) {
		/* splitmix64 */
		seed += 0x9e3779b97f4a7c15ULL;
		uint64_t z = seed;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		g->rng[i] = z ^ (z >> 31);
	}
}

static void
gen_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
gen_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
gen_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
gen_sum(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t
gen_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void
gen_write(struct gen *g, const void *p, size_t n)
{
	if (fwrite(p, 1, n, g->out) != n)
		gen_fatal("write");
}

/* One TCP segment of c at sequence seq, from the client or the server. */
static void
gen_emit_at(struct gen *g, const struct conn *c, bool from_client,
    uint8_t flags, uint32_t seq, const void *data, size_t len)
{
	uint8_t *f = g->frame, *ip = f + 14, *th, rec[16];
	const uint8_t *src = from_client ? c->caddr : c->saddr;
	const uint8_t *dst = from_client ? c->saddr : c->caddr;
	size_t iplen, thlen = 20, flen;
	uint32_t sum, ack = from_client ? c->sseq : c->cseq;
	uint8_t pseudo[40];

	/* Callers send at most a segment; cutting here would leave the
	 * sequence numbers of gen_emit() out of step with the bytes. */
	if (len > GEN_MSS) {
		errno = EMSGSIZE;
		gen_fatal("segment larger than the MSS");
	}
	memset(f, 0, 14);
	f[0] = 0x02;
	f[6] = 0x02;
	f[11] = from_client ? 1 : 2;
	if (c->v6) {
		f[12] = 0x86, f[13] = 0xdd;
		iplen = 40;
		th = ip + 40;
		memset(ip, 0, 40);
		ip[0] = 0x60;
		gen_put16(ip + 4, (uint16_t)(thlen + len));
		ip[6] = 6;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	} else {
		f[12] = 0x08, f[13] = 0x00;
		iplen = 20;
		th = ip + 20;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		gen_put16(ip + 2, (uint16_t)(20 + thlen + len));
		ip[6] = 0x40;	/* DF */
		ip[8] = 64;
		ip[9] = 6;
		memcpy(ip + 12, src + 12, 4);
		memcpy(ip + 16, dst + 12, 4);
		gen_put16(ip + 10, gen_fold(gen_sum(0, ip, 20)));
	}
	memset(th, 0, thlen);
	gen_put16(th, from_client ? c->cport : c->sport);
	gen_put16(th + 2, from_client ? c->sport : c->cport);
	gen_put32(th + 4, seq);
	gen_put32(th + 8, (flags & TH_ACK) ? ack : 0);
	th[12] = (uint8_t)((thlen / 4) << 4);
	th[13] = flags;
	gen_put16(th + 14, 65535);
	if (len > 0)
		memcpy(th + thlen, data, len);
	/* Checksum over the pseudo-header. */
	memset(pseudo, 0, sizeof(pseudo));
	if (c->v6) {
		memcpy(pseudo, src, 16);
		memcpy(pseudo + 16, dst, 16);
		gen_put32(pseudo + 32, (uint32_t)(thlen + len));
		pseudo[39] = 6;
		sum = gen_sum(0, pseudo, 40);
	} else {
		memcpy(pseudo, src + 12, 4);
		memcpy(pseudo + 4, dst + 12, 4);
		pseudo[9] = 6;
		gen_put16(pseudo + 10, (uint16_t)(thlen + len));
		sum = gen_sum(0, pseudo, 12);
	}
	gen_put16(th + 16, gen_fold(gen_sum(sum, th, thlen + len)));

	flen = 14 + iplen + thlen + len;
	gen_put_le32(rec, (uint32_t)(GEN_T0 + g->usec / 1000000));
	gen_put_le32(rec + 4, (uint32_t)(g->usec % 1000000));
	gen_put_le32(rec + 8, (uint32_t)flen);
	gen_put_le32(rec + 12, (uint32_t)flen);
	gen_write(g, rec, 16);
	gen_write(g, f, flen);
	g->usec += GEN_STEP_USEC;
	g->packets++;
}

/* In sequence: advances the sender's next sequence number. */
static void
gen_emit(struct gen *g, struct conn *c, bool from_client, uint8_t flags,
    const void *data, size_t len)
{
	uint32_t *seq = from_client ? &c->cseq : &c->sseq;

	gen_emit_at(g, c, from_client, flags, *seq, data, len);
	*seq += (uint32_t)len + ((flags & (TH_SYN | TH_FIN)) ? 1 : 0);
}

static void
gen_conn_init(struct gen *g, struct conn *c, bool v6, const uint8_t *caddr,
    uint16_t cport)
{
	static const uint8_t s6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0x25 };

	memset(c, 0, sizeof(*c));
	c->v6 = v6;
	memcpy(c->caddr, caddr, 16);
	if (v6)
		memcpy(c->saddr, s6, 16);
	else {
		c->saddr[12] = 198, c->saddr[13] = 51;
		c->saddr[14] = 100, c->saddr[15] = 25;
	}
	c->cport = cport;
	c->sport = 25;
	c->cseq = (uint32_t)gen_rand(g);
	c->sseq = (uint32_t)gen_rand(g);
}

/* A flood client: half 203.0.113.0/24, half 2001:db8:5::/48; the address
 * and port come from a counter, so no two flood connections share a key
 * (a reused key would restart a flow rather than add one, and the suite
 * counts flows). */
static void
gen_flood_conn(struct gen *g, struct conn *c)
{
	uint8_t a[16];
	uint64_t k = g->nconn++;
	bool v6 = gen_rand(g) & 1;

	memset(a, 0, 16);
	if (v6) {
		a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8;
		a[5] = 5;
		gen_put32(a + 8, (uint32_t)(k >> 16));
		gen_put32(a + 12, (uint32_t)gen_rand(g));
	} else {
		a[12] = 203, a[13] = 0, a[14] = 113;
		a[15] = (uint8_t)k;
	}
	/* 256 addresses x 64,000 ports: unique for 16 million flows. */
	gen_conn_init(g, c, v6, a, (uint16_t)(1024 + (k >> 8) % 64000));
}

/* --- the scripted sessions ----------------------------------------------- */

static void
lane_add(struct lane *l, bool client, uint8_t flags, const char *text,
    bool pause)
{
	struct lane_step *s;

	if (l->nsteps >= LANE_STEPS) {
		errno = EOVERFLOW;
		gen_fatal("session script");
	}
	s = &l->steps[l->nsteps++];
	s->client = client;
	s->flags = flags;
	s->pause = pause;
	snprintf(s->text, sizeof(s->text), "%s", text != NULL ? text : "");
}

static void
lane_start(struct gen *g, struct lane *l)
{
	uint32_t k = l->started++;
	uint8_t a[16];
	char t[96];
	bool v6 = k % 2 == 1;
	const char *who = l->kind == LANE_RELAY ? "relay" : "auth";

	/* Each session its own client, so no block ever hides one. */
	memset(a, 0, 16);
	if (v6) {
		a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8;
		a[4] = 0x0b, a[5] = 0xad;
		a[6] = l->kind == LANE_RELAY ? 0 : 1;
		gen_put32(a + 12, k + 1);
	} else {
		/* 203.0.113.0/24 minus the flood's random pick is too small:
		 * relay and auth sessions over IPv4 use 198.51.100.128/25,
		 * which the flood never uses. */
		a[12] = 198, a[13] = 51, a[14] = 100;
		a[15] = (uint8_t)(128 + (k / 2) % 127 + (l->kind == LANE_AUTH));
	}
	gen_conn_init(g, &l->c, v6, a, (uint16_t)(20000 + k % 40000));
	l->nsteps = l->next = 0;
	l->active = true;
	lane_add(l, true, TH_SYN, NULL, false);
	lane_add(l, false, TH_SYN | TH_ACK, NULL, false);
	lane_add(l, true, TH_ACK, NULL, false);
	lane_add(l, false, TH_ACK | TH_PSH, "220 mx.example.test ESMTP\r\n",
	    false);
	snprintf(t, sizeof(t), "EHLO %s%u.example\r\n", who, k);
	lane_add(l, true, TH_ACK | TH_PSH, t, false);
	lane_add(l, false, TH_ACK | TH_PSH, "250-mx.example.test\r\n"
	    "250-AUTH PLAIN LOGIN\r\n250 PIPELINING\r\n", false);
	if (l->kind == LANE_AUTH) {
		lane_add(l, true, TH_ACK | TH_PSH,
		    "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", false);
		lane_add(l, false, TH_ACK | TH_PSH,
		    "235 2.7.0 Authentication successful\r\n", false);
	}
	snprintf(t, sizeof(t), "MAIL FROM:<s%u@sender.example>\r\n", k);
	lane_add(l, true, TH_ACK | TH_PSH, t, l->kind == LANE_AUTH);
	lane_add(l, false, TH_ACK | TH_PSH, "250 2.1.0 Ok\r\n", false);
	snprintf(t, sizeof(t), "RCPT TO:<%s%u@foreign.example>\r\n", who, k);
	lane_add(l, true, TH_ACK | TH_PSH, t, false);
	lane_add(l, false, TH_ACK | TH_PSH, "250 2.1.5 Ok\r\n", false);
	lane_add(l, true, TH_ACK | TH_PSH, "QUIT\r\n", false);
	lane_add(l, false, TH_ACK | TH_PSH, "221 2.0.0 Bye\r\n", false);
	lane_add(l, true, TH_FIN | TH_ACK, NULL, false);
	lane_add(l, false, TH_FIN | TH_ACK, NULL, false);
	lane_add(l, true, TH_ACK, NULL, false);
}

static void
lane_step(struct gen *g, struct lane *l)
{
	const struct lane_step *s;

	if (!l->active) {
		if (l->started >= l->total)
			return;
		lane_start(g, l);
	}
	s = &l->steps[l->next++];
	gen_emit(g, &l->c, s->client, s->flags, s->text, strlen(s->text));
	if (l->next >= l->nsteps)
		l->active = false;
}

/* Called after every flood packet. */
static void
lanes_tick(struct gen *g, struct lane *lanes, unsigned n)
{
	struct lane *l;
	unsigned i;
	uint32_t wait;

	g->flood_packets++;
	for (i = 0; i < n; i++) {
		l = &lanes[i];
		wait = l->gap;
		if (l->active && l->steps[l->next].pause && l->slowgap > wait)
			wait = l->slowgap;
		if (++l->tick < wait)
			continue;
		l->tick = 0;
		lane_step(g, l);
	}
}

/* After the flood: run every session to its end. */
static void
lanes_finish(struct gen *g, struct lane *lanes, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		while (lanes[i].active || lanes[i].started < lanes[i].total)
			lane_step(g, &lanes[i]);
}

/* --- the floods ------------------------------------------------------------ */

static void
flood_syn(struct gen *g, uint64_t n, struct lane *ln, unsigned nl)
{
	struct conn c;
	uint64_t i;

	for (i = 0; i < n; i++) {
		gen_flood_conn(g, &c);
		gen_emit(g, &c, true, TH_SYN, NULL, 0);
		lanes_tick(g, ln, nl);
		gen_emit(g, &c, false, TH_SYN | TH_ACK, NULL, 0);
		lanes_tick(g, ln, nl);
	}
}

static void
flood_flows(struct gen *g, uint64_t n, struct lane *ln, unsigned nl)
{
	static const char ehlo[] = "EHLO x\r\n";
	struct conn *open;
	uint8_t *step;
	uint64_t started = 0, done = 0;
	unsigned i, nopen = GEN_FLOWS_OPEN;

	if ((open = calloc(nopen, sizeof(*open))) == NULL ||
	    (step = calloc(nopen, 1)) == NULL)
		gen_fatal("calloc");
	/* Round robin over the open slots: one packet per slot per turn. */
	while (done < n) {
		for (i = 0; i < nopen && done < n; i++) {
			struct conn *c = &open[i];

			if (step[i] == 0) {
				if (started >= n)
					continue;
				started++;
				gen_flood_conn(g, c);
			}
			switch (step[i]++) {
			case 0:
				gen_emit(g, c, true, TH_SYN, NULL, 0);
				break;
			case 1:
				gen_emit(g, c, false, TH_SYN | TH_ACK, NULL, 0);
				break;
			case 2:
				gen_emit(g, c, true, TH_ACK, NULL, 0);
				break;
			case 3:
				gen_emit(g, c, true, TH_ACK | TH_PSH, ehlo,
				    sizeof(ehlo) - 1);
				break;
			case 4:
				gen_emit(g, c, true, TH_FIN | TH_ACK, NULL, 0);
				break;
			case 5:
				gen_emit(g, c, false, TH_FIN | TH_ACK, NULL, 0);
				break;
			default:
				gen_emit(g, c, true, TH_ACK, NULL, 0);
				step[i] = 0;
				done++;
				break;
			}
			lanes_tick(g, ln, nl);
		}
	}
	free(open);
	free(step);
}

static void
flood_ooo(struct gen *g, uint64_t n, struct lane *ln, unsigned nl)
{
	static const char banner[] = "220 mx.example.test ESMTP\r\n";
	char data[GEN_OOO_LEN];
	struct conn *c;
	uint32_t *base;
	uint64_t i;
	int s;

	if ((c = calloc(n, sizeof(*c))) == NULL ||
	    (base = calloc(n, sizeof(*base))) == NULL)
		gen_fatal("calloc");
	/* NOOP lines cut anywhere by the segment boundaries. */
	for (s = 0; s < GEN_OOO_LEN; s++)
		data[s] = "NOOP\r\n"[s % 6];
	/* All connections open and greeted first... */
	for (i = 0; i < n; i++) {
		gen_flood_conn(g, &c[i]);
		gen_emit(g, &c[i], true, TH_SYN, NULL, 0);
		lanes_tick(g, ln, nl);
		gen_emit(g, &c[i], false, TH_SYN | TH_ACK, NULL, 0);
		lanes_tick(g, ln, nl);
		gen_emit(g, &c[i], true, TH_ACK, NULL, 0);
		lanes_tick(g, ln, nl);
		gen_emit(g, &c[i], false, TH_ACK | TH_PSH, banner,
		    sizeof(banner) - 1);
		lanes_tick(g, ln, nl);
		base[i] = c[i].cseq;
	}
	/* ...then, round robin over the connections, segment k covering
	 * [base + k*LEN, base + (k+1)*LEN): the odd ones first, last to
	 * first, so that every one lies beyond a hole and all connections
	 * hold theirs at once; all inside the 64 KB window. */
	for (s = GEN_OOO_SEGS - 1; s >= 1; s -= 2)
		for (i = 0; i < n; i++) {
			gen_emit_at(g, &c[i], true, TH_ACK | TH_PSH,
			    base[i] + (uint32_t)s * GEN_OOO_LEN, data,
			    GEN_OOO_LEN);
			lanes_tick(g, ln, nl);
		}
	/* Then the holes, first to last. */
	for (s = 0; s < GEN_OOO_SEGS; s += 2)
		for (i = 0; i < n; i++) {
			gen_emit_at(g, &c[i], true, TH_ACK | TH_PSH,
			    base[i] + (uint32_t)s * GEN_OOO_LEN, data,
			    GEN_OOO_LEN);
			lanes_tick(g, ln, nl);
		}
	for (i = 0; i < n; i++) {
		c[i].cseq = base[i] + GEN_OOO_SEGS * GEN_OOO_LEN;
		gen_emit(g, &c[i], true, TH_FIN | TH_ACK, NULL, 0);
		lanes_tick(g, ln, nl);
		gen_emit(g, &c[i], false, TH_FIN | TH_ACK, NULL, 0);
		lanes_tick(g, ln, nl);
	}
	free(c);
	free(base);
}

/* One connection; the client (line) or the server (reply) sends n bytes. */
static void
flood_stream(struct gen *g, uint64_t n, bool reply, struct lane *ln,
    unsigned nl)
{
	static const char banner[] = "220 mx.example.test ESMTP\r\n";
	static const char ehlo[] = "EHLO flood.example\r\n";
	char data[GEN_MSS];
	struct conn c;
	uint64_t sent = 0, segs = 0;
	size_t len;
	int i;

	if (reply)
		for (i = 0; i < GEN_MSS; i++)
			data[i] = "250-x\r\n"[i % 7];
	else
		memset(data, 'A', sizeof(data));
	gen_flood_conn(g, &c);
	gen_emit(g, &c, true, TH_SYN, NULL, 0);
	gen_emit(g, &c, false, TH_SYN | TH_ACK, NULL, 0);
	gen_emit(g, &c, true, TH_ACK, NULL, 0);
	gen_emit(g, &c, false, TH_ACK | TH_PSH, banner, sizeof(banner) - 1);
	if (reply)
		gen_emit(g, &c, true, TH_ACK | TH_PSH, ehlo, sizeof(ehlo) - 1);
	else
		gen_emit(g, &c, true, TH_ACK | TH_PSH, "MAIL FROM:<", 11);
	while (sent < n) {
		/* 7 divides 1448 - 6: keep the reply lines whole across
		 * segments by sending multiples of 7 bytes. */
		len = reply ? GEN_MSS / 7 * 7 : GEN_MSS;
		if (len > n - sent)
			len = (size_t)(n - sent);
		gen_emit(g, &c, !reply, TH_ACK, data, len);
		lanes_tick(g, ln, nl);
		sent += len;
		/* The receiver acknowledges every second segment. */
		if (++segs % 2 == 0) {
			gen_emit(g, &c, reply, TH_ACK, NULL, 0);
			lanes_tick(g, ln, nl);
		}
	}
	gen_emit(g, &c, true, TH_FIN | TH_ACK, NULL, 0);
	gen_emit(g, &c, false, TH_FIN | TH_ACK, NULL, 0);
}

static void
gen_usage(void)
{
	fprintf(stderr, "usage: gen [-s SEED] [-r RELAYS] [-a AUTHS] [-g GAP] "
	    "[-G SLOWGAP] syn|flows|ooo|line|reply N FILE\n");
	exit(2);
}

/* A decimal number in [0, max]; anything else is a usage error. */
static uint64_t
gen_number(const char *s, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		gen_usage();
	return v;
}

int
main(int argc, char *argv[])
{
	struct gen g;
	struct lane lanes[2];
	uint8_t hdr[24];
	uint64_t n, seed = 1;
	uint32_t relays = 50, auths = 0, gap = 0, slowgap = 0;
	const char *kind;
	int ch;
	static char obuf[1 << 20];

	while ((ch = getopt(argc, argv, "s:r:a:g:G:")) != -1) {
		switch (ch) {
		case 's':
			seed = gen_number(optarg, UINT64_MAX);
			break;
		case 'r':
			relays = (uint32_t)gen_number(optarg, UINT32_MAX);
			break;
		case 'a':
			auths = (uint32_t)gen_number(optarg, UINT32_MAX);
			break;
		case 'g':
			gap = (uint32_t)gen_number(optarg, UINT32_MAX);
			break;
		case 'G':
			slowgap = (uint32_t)gen_number(optarg, UINT32_MAX);
			break;
		default:
			gen_usage();
		}
	}
	if (argc - optind != 3)
		gen_usage();
	kind = argv[optind];
	n = gen_number(argv[optind + 1], UINT64_MAX);
	memset(&g, 0, sizeof(g));
	gen_seed(&g, seed);
	if ((g.out = fopen(argv[optind + 2], "wb")) == NULL)
		gen_fatal(argv[optind + 2]);
	setvbuf(g.out, obuf, _IOFBF, sizeof(obuf));

	/* Spread the sessions over the flood unless told the gap. */
	if (gap == 0) {
		uint64_t est;

		if (strcmp(kind, "syn") == 0)
			est = 2 * n;
		else if (strcmp(kind, "flows") == 0)
			est = 7 * n;
		else if (strcmp(kind, "ooo") == 0)
			est = n * (GEN_OOO_SEGS + 6);
		else
			est = n / GEN_MSS * 3 / 2;
		gap = (uint32_t)(est / (((uint64_t)relays + auths) * 18 + 1));
		if (gap == 0)
			gap = 1;
	}
	memset(lanes, 0, sizeof(lanes));
	lanes[0].kind = LANE_RELAY;
	lanes[0].total = relays;
	lanes[0].gap = gap;
	lanes[1].kind = LANE_AUTH;
	lanes[1].total = auths;
	lanes[1].gap = gap;
	lanes[1].slowgap = slowgap;

	memset(hdr, 0, sizeof(hdr));
	gen_put_le32(hdr, 0xa1b2c3d4);
	hdr[4] = 2;
	hdr[6] = 4;
	gen_put_le32(hdr + 16, 65535);
	gen_put_le32(hdr + 20, 1);	/* LINKTYPE_ETHERNET */
	gen_write(&g, hdr, sizeof(hdr));

	if (strcmp(kind, "syn") == 0)
		flood_syn(&g, n, lanes, 2);
	else if (strcmp(kind, "flows") == 0)
		flood_flows(&g, n, lanes, 2);
	else if (strcmp(kind, "ooo") == 0)
		flood_ooo(&g, n, lanes, 2);
	else if (strcmp(kind, "line") == 0)
		flood_stream(&g, n, false, lanes, 2);
	else if (strcmp(kind, "reply") == 0)
		flood_stream(&g, n, true, lanes, 2);
	else
		gen_usage();
	lanes_finish(&g, lanes, 2);
	if (fflush(g.out) != 0 || fclose(g.out) != 0)
		gen_fatal("close");
	printf("packets=%llu\nflood_packets=%llu\nrelays=%u\nauths=%u\n"
	    "gap=%u\n", (unsigned long long)g.packets,
	    (unsigned long long)g.flood_packets, relays, auths, gap);
	return 0;
}
