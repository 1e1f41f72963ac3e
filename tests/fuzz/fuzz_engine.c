/*
 * fuzz_engine.c — differential libFuzzer harness for the whole pipeline:
 * one SMTP dialogue, cut into TCP segments three ways, must give the same
 * events.
 *
 * Input (at most FUZZ_MAX_INPUT bytes are used):
 *   byte 0, flags:
 *     0x01  no handshake: the flow is picked up in the middle
 *     0x02  both sides close with a FIN at the end
 *     0x04  the client is in relay-networks (192.0.2.10)
 *     0x08  initial sequence numbers just below 2^32 (wrap-around)
 *     0x70  shuffled pieces are 1 to 1 << ((flags >> 4) & 7) bytes
 *     0x80  IPv6 (2001:db8::10 -> 2001:db8::25)
 *   then steps, each starting with a header byte h; bit 7 is the
 *   direction (0 client, 1 server), v = h & 0x7f:
 *     0x7f  a hole: the next byte + 1 bytes of that side are never sent
 *     0x7e  a RST from that side at its exact sequence number; the
 *           dialogue ends there
 *     else  v + 1 bytes of data follow (fewer at the end of the input)
 *   After every step the other side acknowledges everything sent so far.
 *
 * Each dialogue goes through fresh replay engines three ways: (a) every
 * step one segment, (b) one byte per segment, (c) every step cut into
 * pieces of random size sent in random order (a generator seeded from the
 * input).  The three event streams must be identical, every field, or the
 * harness aborts.  All of it can be compared because the harness removes
 * what legitimately depends on segmentation: every packet of a step
 * carries the same timestamp (so "time" matches), the ports and addresses
 * are the same, and no segment overlaps another, leaves the advertised
 * window, or carries urgent data, so the anomalies that do depend on
 * segmentation (overlap-mismatch, out-of-window, urgent-data, syn-data)
 * cannot occur.  Holes are part of the dialogue and are cut the same way
 * in every run.  In a pickup without handshake the first piece of each
 * side still comes first: the reassembler starts a stream at the first
 * sequence number it sees, so sending a later piece first would
 * legitimately lose the bytes before it.
 *
 * A fourth run goes through an inline engine in monitor mode (whole
 * steps, checksums not verified) and must report the same events as (a)
 * except for the action (monitor reports, replay under mode enforce says
 * reset) — unless one of the inline-only protections fired, which see
 * what a capture cannot: an ACK for bytes that never passed the gateway
 * (a hole; inline the hole is never skipped, so what follows it is not
 * read either), bytes pipelined past DATA/AUTH/STARTTLS before the reply,
 * or a packet on the wrong interface.  Those are counted in the engine's
 * statistics, which decide whether the comparison applies.  A fifth,
 * replay carrying out mode enforce (engine_set_simulate) over the
 * shuffled cut, and a sixth, inline in enforce mode with starttls strip
 * and real checksums over the shuffled cut, only check robustness (they
 * kill sessions and drop, so their events legitimately differ) and that
 * every flow and buffer is released at the end.
 *
 * The ambiguity event for bytes past DATA/AUTH/STARTTLS depends on the
 * cut by design (only bytes in the awaited command's own segment are
 * refused) and is left out of every comparison.
 *
 * After engine_finish() every byte charged to the engine's memory budget
 * must have been given back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define FUZZ_MAX_INPUT 4096
#define FUZZ_PIECES_MAX 128	/* a step is at most 126 bytes */
#define FUZZ_CLIENT_PORT 40000
#define FUZZ_SERVER_PORT 25
#define FUZZ_TS0 (1767225600ULL * RG_USEC_PER_SEC)	/* 2026-01-01 */

#define F_MIDSTREAM	0x01
#define F_FIN		0x02
#define F_TRUSTED	0x04
#define F_WRAP		0x08
#define F_IPV6		0x80

enum fuzz_cut { CUT_WHOLE, CUT_BYTES, CUT_SHUFFLED };

/* Events of one run, as JSON lines. */
struct fuzz_out {
	char *buf;
	size_t len, cap;
};

struct fuzz_run {
	struct engine *e;
	enum fuzz_cut cut;
	bool real_csum;
	uint8_t flags;
	uint32_t next[2];	/* next seq of client (0) / server (1) */
	bool sent[2];		/* that side has sent data */
	rg_time_t ts;
	uint32_t rng;
	struct fuzz_out *out;
	struct fuzz_out *out_na;	/* the same without the action, or NULL */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t addr4_attacker[4] = { 203, 0, 113, 10 };
static const uint8_t addr4_trusted[4] = { 192, 0, 2, 10 };
static const uint8_t addr4_server[4] = { 198, 51, 100, 25 };
static const uint8_t addr6_client[16] = { 0x20, 0x01, 0x0d, 0xb8,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10 };
static const uint8_t addr6_server[16] = { 0x20, 0x01, 0x0d, 0xb8,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25 };

static struct config conf_enforce, conf_monitor, conf_strip;

static void
fuzz_conf(struct config *c, enum config_mode mode,
    enum config_starttls tls)
{
	const char *why = NULL;
	struct cidr net;

	config_defaults(c);
	c->mode = mode;
	c->starttls = tls;
	c->max_flows = 16;	/* one flow; keeps engine_new() cheap */
	if (!addr_domains_add(&c->local_domains, "example.test", 12, &why) ||
	    !cidr_parse("192.0.2.0/24", 12, &net, &why) ||
	    !cidr_set_add(&c->relay_networks, &net))
		abort();
}

static void
fuzz_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	fuzz_conf(&conf_enforce, CONFIG_MODE_ENFORCE, CONFIG_STARTTLS_ALLOW);
	fuzz_conf(&conf_monitor, CONFIG_MODE_MONITOR, CONFIG_STARTTLS_ALLOW);
	fuzz_conf(&conf_strip, CONFIG_MODE_ENFORCE, CONFIG_STARTTLS_STRIP);
}

static uint32_t
fuzz_rand(struct fuzz_run *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 17;
	r->rng ^= r->rng << 5;
	return r->rng;
}

static void
fuzz_put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* The IPv4 header checksum; the TCP one comes from decode. */
static void
fuzz_checksums(uint8_t *b, size_t len, bool v6)
{
	struct decode_packet p;
	uint32_t sum = 0;
	int i;

	if (!v6) {
		b[10] = b[11] = 0;
		for (i = 0; i < 20; i += 2)
			sum += (uint32_t)(b[i] << 8 | b[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		b[10] = (uint8_t)(~sum >> 8);
		b[11] = (uint8_t)~sum;
	}
	if (decode_packet(DECODE_LINK_RAW, b, len, len, &p) == DECODE_OK)
		decode_tcp_checksum_fix(b, len, &p);
}

/* One raw IPv4 or IPv6 TCP segment from side dir (0 client). */
static void
fuzz_send(struct fuzz_run *r, int dir, uint32_t seq, uint8_t tcpflags,
    const uint8_t *pl, size_t n)
{
	uint8_t b[60 + FUZZ_PIECES_MAX];
	bool v6 = (r->flags & F_IPV6) != 0;
	const uint8_t *c, *s;
	size_t ip = v6 ? 40 : 20, len = ip + 20 + n;
	uint8_t *t = b + ip;
	uint16_t sp, dp;

	if (n > FUZZ_PIECES_MAX)
		abort();
	memset(b, 0, ip + 20);
	if (v6) {
		c = addr6_client;
		s = addr6_server;
		b[0] = 0x60;
		b[4] = (uint8_t)((20 + n) >> 8);
		b[5] = (uint8_t)(20 + n);
		b[6] = 6;
		b[7] = 64;
		memcpy(b + 8, dir == 0 ? c : s, 16);
		memcpy(b + 24, dir == 0 ? s : c, 16);
	} else {
		c = (r->flags & F_TRUSTED) ? addr4_trusted : addr4_attacker;
		s = addr4_server;
		b[0] = 0x45;
		b[2] = (uint8_t)(len >> 8);
		b[3] = (uint8_t)len;
		b[8] = 64;
		b[9] = 6;
		memcpy(b + 12, dir == 0 ? c : s, 4);
		memcpy(b + 16, dir == 0 ? s : c, 4);
	}
	sp = dir == 0 ? FUZZ_CLIENT_PORT : FUZZ_SERVER_PORT;
	dp = dir == 0 ? FUZZ_SERVER_PORT : FUZZ_CLIENT_PORT;
	t[0] = (uint8_t)(sp >> 8);
	t[1] = (uint8_t)sp;
	t[2] = (uint8_t)(dp >> 8);
	t[3] = (uint8_t)dp;
	fuzz_put32(t + 4, seq);
	fuzz_put32(t + 8, r->next[1 - dir]);
	t[12] = 0x50;
	t[13] = tcpflags;
	t[14] = 0xff;
	t[15] = 0xff;
	if (n > 0)
		memcpy(t + 20, pl, n);
	if (r->real_csum)
		fuzz_checksums(b, len, v6);
	(void)engine_packet(r->e, DECODE_LINK_RAW, r->ts, b, len, len,
	    r->real_csum ? 0 : ENGINE_F_CSUM_UNVERIFIABLE,
	    ENGINE_INDEV_UNKNOWN, NULL);
}

static void
fuzz_out_add(struct fuzz_out *o, const char *s, size_t n)
{
	char *nb;
	size_t nc;

	if (o->cap - o->len <= n) {
		nc = o->cap == 0 ? 65536 : o->cap * 2;
		while (nc - o->len <= n)
			nc *= 2;
		if ((nb = realloc(o->buf, nc)) == NULL)
			abort();
		o->buf = nb;
		o->cap = nc;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

/* Move the queued events into the run's output. */
static void
fuzz_drain(struct fuzz_run *r)
{
	static char line[EVENT_JSON_MAX];
	struct event ev;
	size_t n;

	while (engine_next_event(r->e, &ev)) {
		if (ev.kind != EVENT_ANOMALY && ev.kind != EVENT_SMUGGLING &&
		    ev.kind != EVENT_AMBIGUITY &&
		    ev.what != NULL)
			abort();
		if ((n = event_json(&ev, line, sizeof(line))) == 0)
			abort();
		/* Bytes past DATA/AUTH/STARTTLS are refused only when they
		 * came in the awaited command's own segment (inline drops a
		 * later one and the client resends it): that one event
		 * depends on the cut by design, so it is not compared. */
		if (ev.kind == EVENT_AMBIGUITY &&
		    strcmp(ev.what, "pipelined-after-wait") == 0)
			continue;
		fuzz_out_add(r->out, line, n);
		if (r->out_na == NULL)
			continue;
		ev.action = EVENT_ACTION_NONE;
		if ((n = event_json(&ev, line, sizeof(line))) == 0)
			abort();
		fuzz_out_add(r->out_na, line, n);
	}
}

/* Data of one step, cut as the run says. */
static void
fuzz_data(struct fuzz_run *r, int dir, const uint8_t *p, size_t n)
{
	size_t off[FUZZ_PIECES_MAX], len[FUZZ_PIECES_MAX];
	size_t np = 0, i, j, k, pos, tmp, maxp;
	uint32_t base = r->next[dir];

	switch (r->cut) {
	case CUT_WHOLE:
		fuzz_send(r, dir, base, 0x18, p, n);
		break;
	case CUT_BYTES:
		for (i = 0; i < n; i++)
			fuzz_send(r, dir, base + (uint32_t)i, 0x18, p + i, 1);
		break;
	case CUT_SHUFFLED:
		maxp = (size_t)1 << ((r->flags >> 4) & 7);
		for (pos = 0; pos < n && np < FUZZ_PIECES_MAX; pos += k) {
			k = 1 + fuzz_rand(r) % maxp;
			if (k > n - pos)
				k = n - pos;
			off[np] = pos;
			len[np++] = k;
		}
		/* Fisher-Yates; a side not yet started keeps piece 0 first
		 * in a pickup (see the top of the file). */
		j = ((r->flags & F_MIDSTREAM) && !r->sent[dir]) ? 1 : 0;
		for (i = np; i > j + 1; i--) {
			k = j + fuzz_rand(r) % (i - j);
			tmp = off[i - 1]; off[i - 1] = off[k]; off[k] = tmp;
			tmp = len[i - 1]; len[i - 1] = len[k]; len[k] = tmp;
		}
		for (i = 0; i < np; i++)
			fuzz_send(r, dir, base + (uint32_t)off[i], 0x18,
			    p + off[i], len[i]);
		break;
	}
	r->next[dir] += (uint32_t)n;
	r->sent[dir] = true;
}

/* Run the whole dialogue through r->e. */
static void
fuzz_dialogue(struct fuzz_run *r, const uint8_t *data, size_t size)
{
	size_t i = 1, n;
	uint32_t isn_c, isn_s;
	int dir, v;

	r->flags = data[0];
	r->ts = FUZZ_TS0;
	isn_c = (r->flags & F_WRAP) ? 0xffffff80u : 1000u;
	isn_s = (r->flags & F_WRAP) ? 0xfffffff0u : 5000u;
	r->next[0] = isn_c;
	r->next[1] = isn_s;
	if (!(r->flags & F_MIDSTREAM)) {
		fuzz_send(r, 0, r->next[0]++, 0x02, NULL, 0);
		fuzz_send(r, 1, r->next[1]++, 0x12, NULL, 0);
		fuzz_send(r, 0, r->next[0], 0x10, NULL, 0);
	}
	while (i < size) {
		r->ts += 1000;
		dir = (data[i] & 0x80) ? 1 : 0;
		v = data[i] & 0x7f;
		i++;
		if (v == 0x7e) {
			fuzz_send(r, dir, r->next[dir], 0x04, NULL, 0);
			fuzz_drain(r);
			return;
		}
		if (v == 0x7f) {
			if (i >= size)
				break;
			r->next[dir] += (uint32_t)data[i++] + 1;
		} else {
			n = (size_t)v + 1;
			if (n > size - i)
				n = size - i;
			fuzz_data(r, dir, data + i, n);
			i += n;
		}
		/* The other side has everything so far. */
		fuzz_send(r, 1 - dir, r->next[1 - dir], 0x10, NULL, 0);
		fuzz_drain(r);
	}
	if (r->flags & F_FIN) {
		r->ts += 1000;
		fuzz_send(r, 0, r->next[0]++, 0x11, NULL, 0);
		fuzz_send(r, 1, r->next[1]++, 0x11, NULL, 0);
		fuzz_send(r, 0, r->next[0], 0x10, NULL, 0);
		fuzz_drain(r);
	}
}

static void
fuzz_out_reset(struct fuzz_out *o)
{
	o->len = 0;
	if (o->buf != NULL)
		o->buf[0] = '\0';
}

/* One run; its events go to out, and without the action to out_na; its
 * final statistics to st. */
static void
fuzz_one(const struct config *conf, bool inline_mode, bool simulate,
    enum fuzz_cut cut, bool real_csum, const uint8_t *data, size_t size,
    struct fuzz_out *out, struct fuzz_out *out_na, struct engine_stats *stp)
{
	struct fuzz_run r;
	struct engine_stats st;
	uint32_t h = 2166136261u;
	size_t i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	r.rng = h | 1;
	r.cut = cut;
	r.real_csum = real_csum;
	r.out = out;
	r.out_na = out_na;
	fuzz_out_reset(out);
	if (out_na != NULL)
		fuzz_out_reset(out_na);
	if ((r.e = engine_new(conf, inline_mode)) == NULL)
		abort();
	engine_set_simulate(r.e, simulate);
	fuzz_dialogue(&r, data, size);
	engine_finish(r.e);
	fuzz_drain(&r);
	engine_get_stats(r.e, &st);
	if (st.flows_active != 0 || st.mem_used != 0) {
		fprintf(stderr, "after engine_finish: %llu flows, %zu bytes "
		    "still charged\n", (unsigned long long)st.flows_active,
		    st.mem_used);
		abort();
	}
	if (stp != NULL)
		*stp = st;
	engine_free(r.e);
}

static void
fuzz_compare(const char *what, const struct fuzz_out *a,
    const struct fuzz_out *b)
{
	if (a->len == b->len && (a->len == 0 ||
	    memcmp(a->buf, b->buf, a->len) == 0))
		return;
	fprintf(stderr, "events differ (%s)\n--- whole:\n%s--- %s:\n%s", what,
	    a->len ? a->buf : "", what, b->len ? b->buf : "");
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_out whole, whole_na, bytes, shuffled, other, other_na;
	struct engine_stats st;

	if (size < 1)
		return 0;
	if (size > FUZZ_MAX_INPUT)
		size = FUZZ_MAX_INPUT;
	fuzz_init();

	fuzz_one(&conf_enforce, false, false, CUT_WHOLE, false, data, size,
	    &whole, &whole_na, NULL);
	fuzz_one(&conf_enforce, false, false, CUT_BYTES, false, data, size,
	    &bytes, NULL, NULL);
	fuzz_compare("one byte per segment", &whole, &bytes);
	fuzz_one(&conf_enforce, false, false, CUT_SHUFFLED, false, data, size,
	    &shuffled, NULL, NULL);
	fuzz_compare("shuffled", &whole, &shuffled);

	/* Inline, monitor: the same events, another action, unless an
	 * inline-only protection fired (see the top of the file). */
	fuzz_one(&conf_monitor, true, false, CUT_WHOLE, false, data, size,
	    &other, &other_na, &st);
	if (st.acked_unseen == 0 && st.pipelined_after_wait == 0 &&
	    st.spoofed == 0)
		fuzz_compare("inline monitor", &whole_na, &other_na);

	/* Replay carrying out enforce (resets end sessions, blocks drop
	 * the client): robustness, and every flow freed at the end. */
	fuzz_one(&conf_enforce, false, true, CUT_SHUFFLED, false, data, size,
	    &other, NULL, NULL);

	/* Inline, enforce, strip, real checksums: robustness only. */
	fuzz_one(&conf_strip, true, false, CUT_SHUFFLED, true, data, size,
	    &other, NULL, NULL);
	return 0;
}
