/*
 * fuzz_smtp.c — libFuzzer harness for the SMTP dialogue parser.
 *
 * Input: one flags byte, then steps.  Each step starts with a header byte
 * h: bit 7 picks the direction (0 client, 1 server); h & 0x7f == 0x7f is
 * a gap in that direction; otherwise (h & 0x7f) + 1 bytes of data follow
 * (fewer at the end of the input).
 *
 * Each input is run three times with a roomy memory budget — every step
 * fed whole, every step one byte per call, every step in chunks of 1 to
 * 13 bytes — and the three item streams (and final counters) must hash
 * the same, else abort(): the parser must not depend on where TCP split
 * the bytes.  A fourth run with a tiny budget only checks robustness.
 * Held client bytes are drained after every reply, as the engine does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../filters/smtp.c"

#define FUZZ_GAP 0x7f

struct fuzz_run {
	uint64_t h;		/* FNV-1a of the item stream */
	uint64_t calls;
};

static void
fuzz_hash(struct fuzz_run *r, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		r->h ^= b[i];
		r->h *= 0x100000001b3ULL;
	}
}

static void
fuzz_hash_u64(struct fuzz_run *r, uint64_t v)
{
	fuzz_hash(r, &v, sizeof(v));
}

static void
fuzz_item(struct fuzz_run *r, const struct smtp_item *it)
{
	/* Bounds: reading every byte lets ASan check the pointers. */
	if (it->line_len > 0 && it->line == NULL)
		abort();
	if (it->kind == SMTP_ITEM_COMMAND) {
		if (it->line_len > SMTP_LINE_MAX || it->arg == NULL ||
		    it->arg < it->line ||
		    it->arg + it->arg_len > it->line + it->line_len)
			abort();
		if (it->verb <= SMTP_V_NONE || it->verb >= SMTP_V__COUNT ||
		    it->verb == SMTP_V_CONNECT)
			abort();
	}
	if (it->kind == SMTP_ITEM_REPLY &&
	    (it->line_len > SMTP_REPLY_LINE_MAX || it->code < 200 ||
	    it->code > 599))
		abort();
	if ((it->kind == SMTP_ITEM_ANOMALY || it->kind == SMTP_ITEM_SMUGGLING) &&
	    it->what == NULL)
		abort();
	fuzz_hash_u64(r, (uint64_t)it->kind);
	fuzz_hash_u64(r, (uint64_t)it->dir);
	fuzz_hash_u64(r, (uint64_t)it->verb);
	fuzz_hash_u64(r, (uint64_t)it->code);
	fuzz_hash_u64(r, (uint64_t)it->truncated << 1 | it->smuggled);
	fuzz_hash_u64(r, it->line_len);
	if (it->line_len > 0)
		fuzz_hash(r, it->line, it->line_len);
	if (it->kind == SMTP_ITEM_COMMAND) {
		fuzz_hash_u64(r, (uint64_t)(it->arg - it->line));
		fuzz_hash_u64(r, it->arg_len);
	}
	if (it->what != NULL)
		fuzz_hash(r, it->what, strlen(it->what));
}

static void
fuzz_feed(struct smtp_session *s, struct rg_mem *m, enum smtp_dir dir,
    const uint8_t *p, size_t n, struct fuzz_run *r)
{
	struct smtp_item it;
	size_t used;
	enum smtp_status st;

	for (;;) {
		st = smtp_feed(s, m, dir, p, n, &used, &it);
		if (used > n || ++r->calls > 50000000)
			abort();
		if (st == SMTP_AGAIN) {
			if (used != n)
				abort();
			return;
		}
		fuzz_item(r, &it);
		if (used > 0) {	/* p may be NULL for a drain */
			p += used;
			n -= used;
		}
		if (it.kind == SMTP_ITEM_REPLY)
			fuzz_feed(s, m, SMTP_CLIENT, NULL, 0, r);
	}
}

/* mode 0: whole steps; 1: bytes; 2: chunks of 1..13 */
static uint64_t
fuzz_run(const uint8_t *data, size_t size, int mode, size_t cap)
{
	struct smtp_session s;
	struct rg_mem m = { .cap = cap };
	struct fuzz_run r = { 0xcbf29ce484222325ULL, 0 };
	size_t i = 1, len, off, k;
	uint32_t rs = 0x9e3779b9u;
	enum smtp_dir dir;

	if (data[0] & 1)
		smtp_init_midstream(&s);
	else
		smtp_init(&s);
	while (i < size) {
		dir = (data[i] & 0x80) ? SMTP_SERVER : SMTP_CLIENT;
		if ((data[i] & 0x7f) == FUZZ_GAP) {
			smtp_gap(&s, &m, dir);
			i++;
			continue;
		}
		len = (size_t)(data[i] & 0x7f) + 1;
		i++;
		if (len > size - i)
			len = size - i;
		for (off = 0; off < len; off += k) {
			k = len - off;
			if (mode == 1)
				k = 1;
			else if (mode == 2) {
				rs ^= rs << 13;
				rs ^= rs >> 17;
				rs ^= rs << 5;
				k = 1 + rs % 13;
				if (k > len - off)
					k = len - off;
			}
			fuzz_feed(&s, &m, dir, data + i + off, k, &r);
		}
		fuzz_feed(&s, &m, dir, NULL, 0, &r);
		if (smtp_buffered(&s) > m.used)
			abort();
		i += len;
	}
	fuzz_hash_u64(&r, s.commands);
	fuzz_hash_u64(&r, s.replies);
	fuzz_hash_u64(&r, s.anomalies);
	fuzz_hash_u64(&r, s.body_bytes);
	fuzz_hash_u64(&r, s.opaque_bytes);
	fuzz_hash_u64(&r, (uint64_t)s.authenticated << 3 | (uint64_t)s.tls << 2 |
	    (uint64_t)s.in_body << 1 | smtp_client_waiting(&s));
	smtp_free(&s, &m);
	if (m.used != 0)
		abort();
	return r.h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t whole, bytes, chunks;

	if (size < 1)
		return 0;
	whole = fuzz_run(data, size, 0, 1 << 24);
	bytes = fuzz_run(data, size, 1, 1 << 24);
	chunks = fuzz_run(data, size, 2, 1 << 24);
	if (whole != bytes || whole != chunks)
		abort();
	/* A budget that refuses most buffers: robustness only. */
	(void)fuzz_run(data, size, 2, (size_t)(data[0] >> 1) * 8);
	return 0;
}
