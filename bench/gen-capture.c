/*
 * gen-capture.c — write a large, deterministic synthetic SMTP capture for
 * the replay benchmark.
 *
 *	gen-capture [-c CONCURRENT] [-s SEED] [-p PIPELINED%] [-6 IPV6%]
 *	    [-m BODY_MEDIAN] [-w SPREAD] [-r MAX_RCPT] [-f BAD_PERMILLE] [-a]
 *	    [-F BAD_CLIENTS] MB FILE
 *
 * The mix is set by parameters (defaults in brackets): -p the sessions
 * that pipeline MAIL, RCPT and DATA in one segment [85], -6 the sessions
 * over IPv6 [30], -m the median body size in bytes [about 23 KB] and -w
 * the width in 1/1024ths of a doubling of each of the four uniforms whose
 * sum is its logarithm [2816], -r recipients uniform in 1..MAX instead of
 * the default 40/25/15/10/10% for 1..5, -f the sessions per thousand from
 * an untrusted client [45], -a every recipient of such a session foreign
 * (otherwise one), -F how many untrusted clients [6].  bench/replay's
 * heavy mix: -p 30 -6 10 -m 4096 -w 4200 -r 5 -f 200 -a -F 300.
 *
 * The output is classic pcap (LINKTYPE_ETHERNET, microsecond timestamps)
 * of at least MB megabytes (10^6 bytes) of complete SMTP sessions: TCP
 * handshake, banner, EHLO with a multi-line reply, MAIL/RCPT/DATA (mostly
 * pipelined in one segment), a dot-stuffed body of 500 bytes to 1 MB cut
 * into 1448-byte segments with an ACK from the receiver every second
 * segment, QUIT and a FIN teardown.  CONCURRENT sessions are open at once
 * and take turns packet by packet, so the replay sees many interleaved
 * flows.  Checksums (IPv4 header, TCP over IPv4 and IPv6) are correct.
 *
 * About 2% of the recipients are foreign (not example.test), each in a
 * session of its own from one of a few fixed "untrusted" clients, so a
 * replay reports relay attempts and blocks.  The exact counts go to stderr
 * as key=value lines, which the benchmark compares with the replay's.
 *
 * No libpcap: the file format is simple and writing it directly is faster.
 * The same seed gives the same file byte for byte.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define GEN_MSS		1448
#define GEN_MAX_FRAME	(14 + 40 + 24 + GEN_MSS)
#define GEN_MAX_CONC	100000
#define GEN_POOL_SIZE	(1 << 20)
#define GEN_BODY_MIN	500
#define GEN_BODY_MAX	(1 << 20)
#define GEN_MAX_RCPT	5
#define GEN_START_SEC	1704067200u	/* 2024-01-01T00:00:00Z */

/* One direction's message inside the session script. */
enum gen_step_kind {
	GEN_STEP_SYN,		/* client SYN */
	GEN_STEP_SYNACK,	/* server SYN|ACK */
	GEN_STEP_ACK,		/* client pure ACK finishing the handshake */
	GEN_STEP_CDATA,		/* client -> server bytes */
	GEN_STEP_SDATA,		/* server -> client bytes */
	GEN_STEP_CFIN,		/* client FIN|ACK */
	GEN_STEP_SFIN,		/* server FIN|ACK */
	GEN_STEP_CLAST,		/* client ACK of the server's FIN */
};

struct gen_step {
	enum gen_step_kind kind;
	size_t len;		/* data bytes for CDATA/SDATA */
};

#define GEN_MAX_STEPS	(20 + 2 * GEN_MAX_RCPT)

/* A growable byte buffer for one direction of a session. */
struct gen_buf {
	uint8_t *data;
	size_t len, cap;
};

struct gen_session {
	bool active;
	bool v6;
	uint8_t caddr[16], saddr[16];
	uint16_t cport;
	uint32_t cseq, sseq;	/* next sequence number each side sends */
	uint16_t cipid, sipid;
	struct gen_buf cbuf, sbuf;	/* whole client / server streams */
	size_t coff, soff;	/* bytes of each stream already sent */
	struct gen_step steps[GEN_MAX_STEPS];
	int nsteps, step;
	size_t step_off;	/* bytes of the current data step sent */
	int unacked;		/* full segments not yet acknowledged */
	bool ack_due;		/* receiver owes a pure ACK before more data */
};

struct gen_stats {
	uint64_t sessions, sessions_v4, sessions_v6;
	uint64_t pipelined;
	uint64_t rcpt, rcpt_v4, rcpt_v6;
	uint64_t foreign, foreign_v4, foreign_v6;
	uint64_t foreign_sessions;
	uint64_t commands, replies;	/* the end-of-data dot is a command */
	uint64_t body_bytes, dot_stuffed;
	uint64_t packets, packets_v4, packets_v6;
	uint64_t frame_bytes, file_bytes;
	uint64_t c2s_payload_v4, c2s_payload_v6;
};

struct gen {
	uint64_t rng[4];
	FILE *out;
	uint64_t target;
	uint64_t ts_usec;	/* offset from GEN_START_SEC */
	uint64_t next_id;	/* sessions started */
	/* the mix (main()'s options) */
	uint32_t pipelined_pct, v6_pct, bad_permille, nbad, rcpt_max;
	uint32_t body_base, body_width;	/* 1/1024ths of a doubling */
	bool all_foreign;
	char pool[GEN_POOL_SIZE];
	uint8_t frame[GEN_MAX_FRAME];
	struct gen_stats st;
};

/* Clients that send the foreign recipients (one relay attempt each). */
static const uint8_t gen_bad_v4[][4] = {
	{ 192, 0, 2, 250 }, { 203, 0, 113, 250 },
	{ 203, 0, 113, 251 }, { 203, 0, 113, 252 },
};
static const uint8_t gen_bad_v6[][16] = {
	{ 0x20, 0x01, 0x0d, 0xb8, 0, 3, 0x0b, 0xad, 0, 0, 0, 0, 0, 0, 0, 1 },
	{ 0x20, 0x01, 0x0d, 0xb8, 0, 3, 0x0b, 0xad, 0, 0, 0, 0, 0, 0, 0, 2 },
};
static const uint8_t gen_srv_v4[4] = { 198, 51, 100, 25 };
static const uint8_t gen_srv_v6[16] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25 };
static const char *const gen_foreign_domains[] = {
	"relay-target.test", "far-away.test", "spam-sink.test",
};

static void gen_fatal(const char *) __attribute__((noreturn));

static void
gen_fatal(const char *what)
{
	fprintf(stderr, "gen-capture: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* xoshiro256** (Blackman and Vigna): fast and the same everywhere. */
static uint64_t
gen_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
gen_rand(struct gen *g)
{
	uint64_t *s = g->rng;
	uint64_t r = gen_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = gen_rotl(s[3], 45);
	return r;
}

/* Uniform in [0, n); the modulo bias is irrelevant for n this small. */
static uint32_t
gen_below(struct gen *g, uint32_t n)
{
	return (uint32_t)((gen_rand(g) >> 32) % n);
}

static void
gen_seed(struct gen *g, uint64_t seed)
{
	int i;

	/* splitmix64 spreads the seed over the whole state. */
	for (i = 0; i < 4; i++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		g->rng[i] = z ^ (z >> 31);
	}
}

static void
gen_buf_reserve(struct gen_buf *b, size_t extra)
{
	size_t ncap;
	uint8_t *p;

	if (b->len + extra <= b->cap)
		return;
	ncap = b->cap ? b->cap : 4096;
	while (ncap < b->len + extra)
		ncap *= 2;
	if ((p = realloc(b->data, ncap)) == NULL)
		gen_fatal("realloc");
	b->data = p;
	b->cap = ncap;
}

static void
gen_buf_add(struct gen_buf *b, const void *p, size_t n)
{
	gen_buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Append formatted text, growing the buffer to fit whatever it is. */
static void gen_buf_vprintf(struct gen_buf *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static void
gen_buf_vprintf(struct gen_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		gen_fatal("vsnprintf");
	gen_buf_reserve(b, (size_t)n + 1);
	(void)vsnprintf((char *)b->data + b->len, b->cap - b->len, fmt, ap);
	b->len += (size_t)n;
}

static void gen_buf_printf(struct gen_buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
gen_buf_printf(struct gen_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	gen_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

/*
 * Body size: 2^x bytes with x = 9 + the sum of four uniforms on [0, 2.75),
 * roughly normal, so the size is roughly log-normal: median near 23 KB,
 * mean near 42 KB, from 512 bytes to 1 MiB.  Integer arithmetic keeps the
 * file identical on every machine.
 */
static size_t
gen_body_size(struct gen *g)
{
	uint32_t x = g->body_base, ip, frac;
	size_t sz;
	int i;

	for (i = 0; i < 4; i++)
		x += gen_below(g, g->body_width);	/* default 2.75 */
	if (x / 1024 > 20)
		x = 20 * 1024;
	ip = x / 1024;
	frac = x % 1024;
	/* 2^frac approximated linearly between powers of two */
	sz = ((size_t)1 << ip) + (((size_t)1 << ip) * frac) / 1024;
	if (sz < GEN_BODY_MIN)
		sz = GEN_BODY_MIN;
	if (sz > GEN_BODY_MAX)
		sz = GEN_BODY_MAX;
	return sz;
}

/* Printable text without CR, LF or a leading-dot problem: bodies are cut
 * from here. */
static void
gen_pool_init(struct gen *g)
{
	static const char alpha[] =
	    "abcdefghijklmnopqrstuvwxyz  ABCDEFGHIJKLMNOPQRSTUVWXYZ  "
	    "0123456789 .,;:-!?()  eeeeaaaattttoooo";
	size_t i;

	for (i = 0; i < GEN_POOL_SIZE; i++)
		g->pool[i] = alpha[gen_below(g, sizeof(alpha) - 1)];
	/* No "RCPT" anywhere, so no body line starts with it: a counter
	 * that looks at line starts only (bench/nidscount.c) stays exact. */
	for (i = 0; i + 4 <= GEN_POOL_SIZE; i++)
		if (strncasecmp(g->pool + i, "rcpt", 4) == 0)
			g->pool[i + 2] = 'x';
}

/* Headers and a body of about want bytes, dot-stuffed, then "\r\n.\r\n". */
static void
gen_body(struct gen *g, struct gen_buf *b, uint64_t id, const char *from,
    const char *to)
{
	size_t want = gen_body_size(g), start = b->len;

	gen_buf_printf(b,
	    "Received: from client-%llu.sender.test by mx.example.test\r\n"
	    "From: <%s>\r\nTo: <%s>\r\nSubject: benchmark message %llu\r\n"
	    "Message-ID: <%llu@sender.test>\r\n"
	    "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n",
	    (unsigned long long)id, from, to, (unsigned long long)id,
	    (unsigned long long)id);
	while (b->len - start < want) {
		uint32_t r = gen_below(g, 1000), n = gen_below(g, 79);
		size_t off = gen_below(g, GEN_POOL_SIZE - 80);

		if (r < 5) {
			/* A line starting with '.': stuffed on the wire. */
			gen_buf_add(b, "..", 2);
			g->st.dot_stuffed++;
		} else if (r < 40)
			n = 0;	/* paragraph break */
		gen_buf_reserve(b, n + 3);
		memcpy(b->data + b->len, g->pool + off, n);
		b->len += n;
		/* A pool line may itself begin with '.': stuff that too. */
		if (n > 0 && r >= 5 && b->data[b->len - n] == '.') {
			memmove(b->data + b->len - n + 1,
			    b->data + b->len - n, n);
			b->data[b->len - n] = '.';
			b->len++;
			g->st.dot_stuffed++;
		}
		gen_buf_add(b, "\r\n", 2);
	}
	g->st.body_bytes += b->len - start;
	gen_buf_add(b, ".\r\n", 3);
}

static void
gen_step_add(struct gen_session *s, enum gen_step_kind kind, size_t len)
{
	if (s->nsteps >= GEN_MAX_STEPS) {
		errno = EOVERFLOW;
		gen_fatal("session script");
	}
	s->steps[s->nsteps].kind = kind;
	s->steps[s->nsteps].len = len;
	s->nsteps++;
}

/* Append client or server text and make it one data step. */
static void gen_say(struct gen_session *, bool, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
gen_say(struct gen_session *s, bool client, const char *fmt, ...)
{
	struct gen_buf *b = client ? &s->cbuf : &s->sbuf;
	size_t before = b->len;
	va_list ap;

	va_start(ap, fmt);
	gen_buf_vprintf(b, fmt, ap);
	va_end(ap);
	gen_step_add(s, client ? GEN_STEP_CDATA : GEN_STEP_SDATA,
	    b->len - before);
}

/*
 * An untrusted client: the six fixed ones (4 IPv4, 2 IPv6), and with -F
 * more, 198.51.100.100-249 and 2001:db8:3:bad::3 on.  An IPv4 session
 * takes one of the IPv4 ones, an IPv6 session one of the IPv6 ones.
 */
static void
gen_bad_client(struct gen *g, struct gen_session *s, bool v6)
{
	uint32_t nv4 = 4, nv6 = 2, k;

	if (g->nbad > 6) {
		nv4 += (g->nbad - 6) / 2 + (g->nbad - 6) % 2;
		nv6 += (g->nbad - 6) / 2;
		if (nv4 > 4 + 150)
			nv4 = 4 + 150;
	}
	if (v6) {
		k = gen_below(g, nv6);
		if (k < 2)
			memcpy(s->caddr, gen_bad_v6[k], 16);
		else {
			memcpy(s->caddr, gen_bad_v6[0], 16);
			s->caddr[14] = (uint8_t)((k + 1) >> 8);
			s->caddr[15] = (uint8_t)(k + 1);
		}
	} else {
		k = gen_below(g, nv4);
		if (k < 4)
			memcpy(s->caddr, gen_bad_v4[k], 4);
		else {
			s->caddr[0] = 198; s->caddr[1] = 51;
			s->caddr[2] = 100;
			s->caddr[3] = (uint8_t)(100 + k - 4);
		}
	}
}

/* Make the whole script of a new session in slot s. */
static void
gen_session_new(struct gen *g, struct gen_session *s)
{
	char rcpts[GEN_MAX_RCPT][96], from[96];
	uint64_t id = g->next_id++;
	uint32_t nrcpt, r, i, foreign_at = GEN_MAX_RCPT;
	bool foreign, pipelining, advertise;
	size_t start;

	memset(s->steps, 0, sizeof(s->steps));
	s->active = true;
	s->nsteps = s->step = 0;
	s->step_off = 0;
	s->unacked = 0;
	s->ack_due = false;
	s->cbuf.len = s->sbuf.len = 0;
	s->coff = s->soff = 0;
	s->v6 = gen_below(g, 100) < g->v6_pct;
	/* 1-5 recipients: 40% one, 25% two, 15% three, 10% four, 10% five,
	 * or -r: uniform */
	r = gen_below(g, 100);
	if (g->rcpt_max > 0)
		nrcpt = 1 + gen_below(g, g->rcpt_max);
	else
		nrcpt = r < 40 ? 1 : r < 65 ? 2 : r < 80 ? 3 : r < 90 ? 4 : 5;
	/* 4.5% of sessions carry one foreign recipient: with 2.25 recipients
	 * per session on average that makes about 2% of all recipients. */
	foreign = gen_below(g, 1000) < g->bad_permille;
	if (foreign)
		foreign_at = gen_below(g, nrcpt);
	r = gen_below(g, 100);
	pipelining = r < g->pipelined_pct;
	advertise = pipelining || r < g->pipelined_pct + 8;

	memset(s->caddr, 0, sizeof(s->caddr));
	if (s->v6) {
		memcpy(s->saddr, gen_srv_v6, 16);
		if (foreign)
			gen_bad_client(g, s, true);
		else {
			static const uint8_t pfx[6] =
			    { 0x20, 0x01, 0x0d, 0xb8, 0, 3 };
			uint64_t h = gen_rand(g);

			memcpy(s->caddr, pfx, 6);
			s->caddr[6] = 0;
			s->caddr[7] = (uint8_t)(1 + gen_below(g, 200));
			for (i = 0; i < 8; i++)
				s->caddr[8 + i] = (uint8_t)(h >> (8 * i));
			s->caddr[8] &= 0x7f;	/* never the :bad:: hosts */
		}
	} else {
		memcpy(s->saddr, gen_srv_v4, 4);
		if (foreign)
			gen_bad_client(g, s, false);
		else {
			if (gen_below(g, 2)) {
				s->caddr[0] = 192; s->caddr[1] = 0;
				s->caddr[2] = 2;
			} else {
				s->caddr[0] = 203; s->caddr[1] = 0;
				s->caddr[2] = 113;
			}
			s->caddr[3] = (uint8_t)(1 + gen_below(g, 240));
		}
	}
	/* Sequential ports: no 4-tuple is reused until 55000 sessions. */
	s->cport = (uint16_t)(10000 + id % 55000);
	s->cseq = (uint32_t)gen_rand(g);
	s->sseq = (uint32_t)gen_rand(g);
	s->cipid = (uint16_t)gen_rand(g);
	s->sipid = (uint16_t)gen_rand(g);

	g->st.sessions++;
	if (s->v6)
		g->st.sessions_v6++;
	else
		g->st.sessions_v4++;
	if (pipelining)
		g->st.pipelined++;
	if (foreign)
		g->st.foreign_sessions++;

	snprintf(from, sizeof(from), "user%u@sender%llu.test",
	    gen_below(g, 1000), (unsigned long long)(id % 977));
	for (i = 0; i < nrcpt; i++) {
		if (i == foreign_at || (foreign && g->all_foreign)) {
			snprintf(rcpts[i], sizeof(rcpts[i]), "victim%u@%s",
			    gen_below(g, 100000), gen_foreign_domains[
			    gen_below(g, 3)]);
			g->st.foreign++;
			if (s->v6)
				g->st.foreign_v6++;
			else
				g->st.foreign_v4++;
		} else
			snprintf(rcpts[i], sizeof(rcpts[i]), "%s%u@%s",
			    gen_below(g, 4) ? "user" : "list",
			    gen_below(g, 5000),
			    gen_below(g, 50) ? "example.test" :
			    "Example.TEST");
	}
	g->st.rcpt += nrcpt;
	/* EHLO, MAIL, the RCPTs, DATA, the final dot, QUIT; each answered,
	 * and the banner besides. */
	g->st.commands += 5 + nrcpt;
	g->st.replies += 6 + nrcpt;
	if (s->v6)
		g->st.rcpt_v6 += nrcpt;
	else
		g->st.rcpt_v4 += nrcpt;

	gen_step_add(s, GEN_STEP_SYN, 0);
	gen_step_add(s, GEN_STEP_SYNACK, 0);
	gen_step_add(s, GEN_STEP_ACK, 0);
	gen_say(s, false, "220 mx.example.test ESMTP relayguard-bench\r\n");
	gen_say(s, true, "EHLO client-%llu.sender.test\r\n",
	    (unsigned long long)id);
	gen_say(s, false, "250-mx.example.test\r\n%s250-SIZE 10485760\r\n"
	    "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n",
	    advertise ? "250-PIPELINING\r\n" : "");
	if (pipelining) {
		/* All commands in one client step, all replies in one. */
		start = s->cbuf.len;
		gen_buf_printf(&s->cbuf, "MAIL FROM:<%s> BODY=8BITMIME\r\n",
		    from);
		for (i = 0; i < nrcpt; i++)
			gen_buf_printf(&s->cbuf, "RCPT TO:<%s>\r\n", rcpts[i]);
		gen_buf_printf(&s->cbuf, "DATA\r\n");
		gen_step_add(s, GEN_STEP_CDATA, s->cbuf.len - start);
		start = s->sbuf.len;
		gen_buf_printf(&s->sbuf, "250 2.1.0 Ok\r\n");
		for (i = 0; i < nrcpt; i++)
			gen_buf_printf(&s->sbuf, "250 2.1.5 Ok\r\n");
		gen_buf_printf(&s->sbuf,
		    "354 End data with <CR><LF>.<CR><LF>\r\n");
		gen_step_add(s, GEN_STEP_SDATA, s->sbuf.len - start);
	} else {
		gen_say(s, true, "MAIL FROM:<%s>\r\n", from);
		gen_say(s, false, "250 2.1.0 Ok\r\n");
		for (i = 0; i < nrcpt; i++) {
			gen_say(s, true, "RCPT TO:<%s>\r\n", rcpts[i]);
			gen_say(s, false, "250 2.1.5 Ok\r\n");
		}
		gen_say(s, true, "DATA\r\n");
		gen_say(s, false, "354 End data with <CR><LF>.<CR><LF>\r\n");
	}
	start = s->cbuf.len;
	gen_body(g, &s->cbuf, id, from, rcpts[0]);
	gen_step_add(s, GEN_STEP_CDATA, s->cbuf.len - start);
	gen_say(s, false, "250 2.0.0 Ok: queued as %08llX\r\n",
	    (unsigned long long)id);
	gen_say(s, true, "QUIT\r\n");
	gen_say(s, false, "221 2.0.0 Bye\r\n");
	gen_step_add(s, GEN_STEP_CFIN, 0);
	gen_step_add(s, GEN_STEP_SFIN, 0);
	gen_step_add(s, GEN_STEP_CLAST, 0);
	if (s->v6)
		g->st.c2s_payload_v6 += s->cbuf.len;
	else
		g->st.c2s_payload_v4 += s->cbuf.len;
}

/* RFC 1071 sum of big-endian 16-bit words, not yet folded. */
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

/*
 * Write one TCP segment of session s.  from_client chooses the direction;
 * the sequence number is the sender's next, the ack the other side's next.
 */
static void
gen_emit(struct gen *g, struct gen_session *s, bool from_client,
    uint8_t flags, const uint8_t *data, size_t len)
{
	uint8_t *f = g->frame, *ip = f + 14, *tcp, rec[16];
	const uint8_t *src = from_client ? s->caddr : s->saddr;
	const uint8_t *dst = from_client ? s->saddr : s->caddr;
	size_t iplen, thl = (flags & 0x02) ? 24 : 20, flen;
	uint32_t sum;

	/* Ethernet: locally administered MACs, client side 02:00:00:00:00:01 */
	memcpy(f, from_client ? "\x02\0\0\0\0\x02" : "\x02\0\0\0\0\x01", 6);
	memcpy(f + 6, from_client ? "\x02\0\0\0\0\x01" : "\x02\0\0\0\0\x02", 6);
	if (s->v6) {
		gen_put16(f + 12, 0x86dd);
		ip[0] = 0x60; ip[1] = ip[2] = ip[3] = 0;
		gen_put16(ip + 4, (uint16_t)(thl + len));
		ip[6] = 6;	/* next header TCP */
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		iplen = 40 + thl + len;
		tcp = ip + 40;
	} else {
		uint16_t *id = from_client ? &s->cipid : &s->sipid;

		gen_put16(f + 12, 0x0800);
		ip[0] = 0x45; ip[1] = 0;
		iplen = 20 + thl + len;
		gen_put16(ip + 2, (uint16_t)iplen);
		gen_put16(ip + 4, (*id)++);
		gen_put16(ip + 6, 0x4000);	/* DF */
		ip[8] = 64; ip[9] = 6;
		ip[10] = ip[11] = 0;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		gen_put16(ip + 10, gen_fold(gen_sum(0, ip, 20)));
		tcp = ip + 20;
	}
	gen_put16(tcp, from_client ? s->cport : 25);
	gen_put16(tcp + 2, from_client ? 25 : s->cport);
	gen_put32(tcp + 4, from_client ? s->cseq : s->sseq);
	gen_put32(tcp + 8, (flags & 0x10) ? (from_client ? s->sseq : s->cseq) :
	    0);
	tcp[12] = (uint8_t)((thl / 4) << 4);
	tcp[13] = flags;
	gen_put16(tcp + 14, 65535);
	tcp[16] = tcp[17] = 0;
	tcp[18] = tcp[19] = 0;
	if (thl == 24) {
		tcp[20] = 2; tcp[21] = 4;	/* MSS option */
		gen_put16(tcp + 22, GEN_MSS);
	}
	if (len > 0)
		memcpy(tcp + thl, data, len);
	/* Pseudo-header: addresses, protocol and TCP length. */
	if (s->v6)
		sum = gen_sum(0, ip + 8, 32);
	else
		sum = gen_sum(0, ip + 12, 8);
	sum += 6 + (uint32_t)(thl + len);
	sum = gen_sum(sum, tcp, thl + len);
	gen_put16(tcp + 16, gen_fold(sum));

	flen = 14 + iplen;
	gen_put_le32(rec, (uint32_t)(GEN_START_SEC + g->ts_usec / 1000000));
	gen_put_le32(rec + 4, (uint32_t)(g->ts_usec % 1000000));
	gen_put_le32(rec + 8, (uint32_t)flen);
	gen_put_le32(rec + 12, (uint32_t)flen);
	if (fwrite(rec, 16, 1, g->out) != 1 || fwrite(f, flen, 1, g->out) != 1)
		gen_fatal("write");
	/* 10-90 us between packets: about 20 s of traffic per 300 MB */
	g->ts_usec += 10 + gen_below(g, 81);

	if (from_client)
		s->cseq += (uint32_t)len + ((flags & 0x03) ? 1 : 0);
	else
		s->sseq += (uint32_t)len + ((flags & 0x03) ? 1 : 0);
	g->st.packets++;
	if (s->v6)
		g->st.packets_v6++;
	else
		g->st.packets_v4++;
	g->st.frame_bytes += flen;
	g->st.file_bytes += 16 + flen;
}

/* Emit the next packet of session s; false when the session is over. */
static bool
gen_session_step(struct gen *g, struct gen_session *s)
{
	struct gen_step *st;
	struct gen_buf *b;
	bool client;
	size_t left, n, *off;

	if (s->step >= s->nsteps)
		return false;
	st = &s->steps[s->step];
	client = st->kind == GEN_STEP_CDATA;
	if (s->ack_due) {
		/* The receiver acknowledges two full segments. */
		gen_emit(g, s, !client, 0x10, NULL, 0);
		s->ack_due = false;
		return true;
	}
	switch (st->kind) {
	case GEN_STEP_SYN:
		gen_emit(g, s, true, 0x02, NULL, 0);
		break;
	case GEN_STEP_SYNACK:
		gen_emit(g, s, false, 0x12, NULL, 0);
		break;
	case GEN_STEP_ACK:
		gen_emit(g, s, true, 0x10, NULL, 0);
		break;
	case GEN_STEP_CDATA:
	case GEN_STEP_SDATA:
		b = client ? &s->cbuf : &s->sbuf;
		off = client ? &s->coff : &s->soff;
		left = st->len - s->step_off;
		n = left < GEN_MSS ? left : GEN_MSS;
		gen_emit(g, s, client, n == left ? 0x18 : 0x10, b->data + *off,
		    n);
		*off += n;
		s->step_off += n;
		if (s->step_off < st->len) {
			if (++s->unacked == 2) {
				s->unacked = 0;
				s->ack_due = true;
			}
			return true;
		}
		/* The other side's next data or FIN carries the ack. */
		s->unacked = 0;
		s->step_off = 0;
		break;
	case GEN_STEP_CFIN:
		gen_emit(g, s, true, 0x11, NULL, 0);
		break;
	case GEN_STEP_SFIN:
		gen_emit(g, s, false, 0x11, NULL, 0);
		break;
	case GEN_STEP_CLAST:
		gen_emit(g, s, true, 0x10, NULL, 0);
		break;
	}
	s->step++;
	return true;
}

static void
gen_usage(void)
{
	fprintf(stderr,
	    "usage: gen-capture [-c concurrent] [-s seed] [-p pipelined%%] "
	    "[-6 ipv6%%]\n"
	    "           [-m body_median] [-w spread] [-r max_rcpt] "
	    "[-f bad_permille] [-a]\n"
	    "           [-F bad_clients] MB FILE\n");
	exit(2);
}

static uint32_t
gen_num(const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		gen_usage();
	return (uint32_t)v;
}

int
main(int argc, char *argv[])
{
	static struct gen g;
	struct gen_session *slots;
	unsigned long long seed = 20240101, mb;
	unsigned long conc = 200, i, active;
	size_t median = 0;
	uint8_t hdr[24];
	char *end;
	int ch;

	g.pipelined_pct = 85;
	g.v6_pct = 30;
	g.bad_permille = 45;
	g.nbad = 6;
	g.body_base = 9 * 1024;
	g.body_width = 2816;
	while ((ch = getopt(argc, argv, "c:s:p:6:m:w:r:f:aF:")) != -1) {
		switch (ch) {
		case 'p':
			g.pipelined_pct = gen_num(optarg, 0, 100);
			break;
		case '6':
			g.v6_pct = gen_num(optarg, 0, 100);
			break;
		case 'm':
			median = gen_num(optarg, GEN_BODY_MIN, GEN_BODY_MAX);
			break;
		case 'w':
			g.body_width = gen_num(optarg, 1, 8 * 1024);
			break;
		case 'r':
			g.rcpt_max = gen_num(optarg, 1, GEN_MAX_RCPT);
			break;
		case 'f':
			g.bad_permille = gen_num(optarg, 0, 1000);
			break;
		case 'a':
			g.all_foreign = true;
			break;
		case 'F':
			g.nbad = gen_num(optarg, 6, 6 + 2 * 150);
			break;
		case 'c':
			conc = strtoul(optarg, &end, 10);
			if (*end != '\0' || conc == 0 || conc > GEN_MAX_CONC)
				gen_usage();
			break;
		case 's':
			seed = strtoull(optarg, &end, 10);
			if (*end != '\0')
				gen_usage();
			break;
		default:
			gen_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		gen_usage();
	if (median != 0) {
		/* log2(median) in 1/1024ths, as gen_body_size() reads it
		 * back (linear between powers of two), less the mean of the
		 * four uniforms */
		uint32_t ip = 0, l2;

		while (((size_t)2 << ip) <= median)
			ip++;
		l2 = ip * 1024 + (uint32_t)(((median - ((size_t)1 << ip)) *
		    1024) >> ip);
		g.body_base = l2 > 2 * g.body_width ? l2 - 2 * g.body_width : 0;
	}
	mb = strtoull(argv[0], &end, 10);
	if (*end != '\0' || mb == 0 || mb > 1000000)
		gen_usage();

	gen_seed(&g, seed);
	gen_pool_init(&g);
	g.target = mb * 1000000ULL;
	if ((g.out = fopen(argv[1], "wb")) == NULL)
		gen_fatal(argv[1]);
	setvbuf(g.out, NULL, _IOFBF, 1 << 20);
	if ((slots = calloc(conc, sizeof(*slots))) == NULL)
		gen_fatal("calloc");

	gen_put_le32(hdr, 0xa1b2c3d4);	/* microsecond pcap, our byte order */
	hdr[4] = 2; hdr[5] = 0; hdr[6] = 4; hdr[7] = 0;
	gen_put_le32(hdr + 8, 0);
	gen_put_le32(hdr + 12, 0);
	gen_put_le32(hdr + 16, 65535);
	gen_put_le32(hdr + 20, 1);	/* LINKTYPE_ETHERNET */
	if (fwrite(hdr, sizeof(hdr), 1, g.out) != 1)
		gen_fatal("write");
	g.st.file_bytes = sizeof(hdr);

	/*
	 * Round robin over the slots, one packet per slot per turn.  A slot
	 * whose session ended starts a new one while the file is short of the
	 * target; the last sessions always run to their FIN, so the file is a
	 * little larger than asked.
	 */
	for (i = 0; i < conc; i++)
		gen_session_new(&g, &slots[i]);
	do {
		active = 0;
		for (i = 0; i < conc; i++) {
			struct gen_session *s = &slots[i];

			if (!s->active)
				continue;
			if (!gen_session_step(&g, s)) {
				s->active = false;
				if (g.st.file_bytes >= g.target)
					continue;
				gen_session_new(&g, s);
				gen_session_step(&g, s);
			}
			active++;
		}
	} while (active > 0);

	if (fclose(g.out) != 0)
		gen_fatal("close");
	for (i = 0; i < conc; i++) {
		free(slots[i].cbuf.data);
		free(slots[i].sbuf.data);
	}
	free(slots);

#define GEN_PR(k) fprintf(stderr, #k "=%llu\n", (unsigned long long)g.st.k)
	GEN_PR(sessions); GEN_PR(sessions_v4); GEN_PR(sessions_v6);
	GEN_PR(pipelined);
	GEN_PR(rcpt); GEN_PR(rcpt_v4); GEN_PR(rcpt_v6);
	GEN_PR(foreign); GEN_PR(foreign_v4); GEN_PR(foreign_v6);
	GEN_PR(foreign_sessions);
	GEN_PR(commands); GEN_PR(replies);
	GEN_PR(body_bytes); GEN_PR(dot_stuffed);
	GEN_PR(packets); GEN_PR(packets_v4); GEN_PR(packets_v6);
	GEN_PR(frame_bytes); GEN_PR(file_bytes);
	GEN_PR(c2s_payload_v4); GEN_PR(c2s_payload_v6);
#undef GEN_PR
	fprintf(stderr, "foreign_clients=%u\n", g.nbad);
	fprintf(stderr, "seed=%llu\nconcurrent=%lu\n", seed, conc);
	return 0;
}
