/*
 * fuzz_stream.c — libFuzzer harness for TCP reassembly.
 *
 * The input is a header and a list of operations on one stream with a
 * small memory budget:
 *
 *   header: flags (1 byte), isn (4 bytes, big-endian)
 *     flags bit 0: consistent mode — every payload byte is a function of
 *                  its sequence number, so any copy of a byte is the same
 *     flags bits 1-3: budget choice
 *     flags bits 4-5: start with stream_syn, stream_start, or neither
 *   op byte, then its arguments:
 *     0 segment at isn + u16, length u16
 *     1 segment at next + s16, length u8
 *     2 ack at next + s16
 *     3 ack or segment far away: next + u32
 *     4 fin at next
 *     5 flush
 *   A segment's bytes come from the input, or from the sequence function
 *   in consistent mode (which allows segments up to 8 KiB).  Bit 7 of the op byte
 *   asks for in-place rewriting.
 *
 * After every operation the harness checks what must always hold and
 * abort()s otherwise: the sink received exactly st->bytes bytes and
 * res->delivered per call, at the sequence numbers next says; the budget
 * holds exactly stream_buffered(); the early list is sorted, disjoint and
 * beyond next; the ring holds the bytes the sink was given; in consistent
 * mode every delivered byte is the right one and nothing mismatches.
 * After stream_free the budget is back to zero.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../filters/stream.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_OPS	512
#define FZ_SHADOW	65536u		/* >= STREAM_RETAIN_MAX, power of 2 */

struct fz {
	bool consistent;
	bool tracking;		/* cur is meaningful */
	uint32_t cur;		/* sequence number the sink expects next */
	uint32_t valid;		/* bytes in shadow before cur since a gap */
	uint64_t delivered;
	uint64_t call_delivered;
	uint8_t shadow[FZ_SHADOW];
};

static struct fz fz;
#define FZ_SEG_MAX	8192u		/* power of 2 */
static uint8_t segbuf[FZ_SEG_MAX];

/* The harness's own per-byte checks would only add noise (and most of
 * the run time) to the coverage feedback. */
#if defined(__clang__) && __clang_major__ >= 13
#define FZ_NOCOV __attribute__((no_sanitize("coverage")))
#else
#define FZ_NOCOV
#endif

#define FZ_CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "fuzz_stream: %s:%d: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

FZ_NOCOV static uint8_t
fz_pattern(uint32_t seq)
{
	return (uint8_t)((seq * 2654435761u) >> 24);
}

FZ_NOCOV static void
fz_sink(void *ctx, const uint8_t *d, size_t n, uint32_t gap)
{
	struct fz *f = ctx;
	size_t i;

	FZ_CHECK(f->tracking);
	FZ_CHECK(n > 0 || gap > 0);
	FZ_CHECK(n == 0 || d != NULL);
	if (gap > 0) {
		f->cur += gap;
		f->valid = 0;
	}
	for (i = 0; i < n; i++) {
		if (f->consistent)
			FZ_CHECK(d[i] == fz_pattern(f->cur + (uint32_t)i));
		f->shadow[(f->cur + i) & (FZ_SHADOW - 1)] = d[i];
	}
	f->cur += (uint32_t)n;
	f->valid = n >= FZ_SHADOW || f->valid >= FZ_SHADOW - n ? FZ_SHADOW :
	    f->valid + (uint32_t)n;
	f->delivered += n;
	f->call_delivered += n;
}

FZ_NOCOV static void
fz_check_ring_at(const struct stream *st, uint32_t seq)
{
	FZ_CHECK(st->ret[seq & (st->ret_cap - 1)] ==
	    fz.shadow[seq & (FZ_SHADOW - 1)]);
}

FZ_NOCOV static void
fz_invariants(const struct stream *st, const struct rg_mem *m, bool full)
{
	const struct stream_seg *s;
	uint32_t segs = 0, bytes = 0, i, n;

	FZ_CHECK(fz.delivered == st->bytes);
	FZ_CHECK(m->used == stream_buffered(st));
	FZ_CHECK(m->used <= m->cap);
	if (st->started && fz.tracking)
		FZ_CHECK(fz.cur == st->next);
	for (s = st->ooo; s != NULL; s = s->next) {
		segs++;
		bytes += s->len;
		FZ_CHECK(s->len > 0);
		FZ_CHECK(SEQ_GT(s->seq, st->next));
		FZ_CHECK(SEQ_LEQ(s->seq + s->len, st->next + STREAM_WINDOW));
		if (s->next != NULL)
			FZ_CHECK(SEQ_GEQ(s->next->seq, s->seq + s->len));
		if (!fz.consistent)
			continue;
		/* Every stored byte at the end; both ends per operation. */
		FZ_CHECK(s->data[0] == fz_pattern(s->seq));
		FZ_CHECK(s->data[s->len - 1] ==
		    fz_pattern(s->seq + s->len - 1));
		for (i = 0; full && i < s->len; i++)
			FZ_CHECK(s->data[i] == fz_pattern(s->seq + i));
	}
	FZ_CHECK(segs == st->ooo_segs && bytes == st->ooo_bytes);
	FZ_CHECK(segs <= STREAM_OOO_SEGS_MAX && bytes <= STREAM_OOO_MAX);
	FZ_CHECK(st->ret_cap <= STREAM_RETAIN_MAX);
	FZ_CHECK((st->ret_cap & (st->ret_cap - 1)) == 0);
	FZ_CHECK((st->ret_cap == 0) == (st->ret == NULL));
	FZ_CHECK(st->ret_len <= st->ret_cap);
	FZ_CHECK(st->ret_len <= fz.valid);
	/* The newest and the oldest retained bytes match what was given. */
	n = st->ret_len < 256 ? st->ret_len : 256;
	for (i = 0; i < n; i++) {
		fz_check_ring_at(st, st->next - 1 - i);
		fz_check_ring_at(st, st->next - st->ret_len + i);
	}
}

static bool
fz_take(const uint8_t **p, size_t *left, void *out, size_t n)
{
	if (*left < n)
		return false;
	memcpy(out, *p, n);
	*p += n;
	*left -= n;
	return true;
}

FZ_NOCOV static void
fz_segment(struct stream *st, struct rg_mem *m, uint32_t seq, uint32_t len,
    bool rewrite, const uint8_t **p, size_t *left)
{
	struct stream_result res;
	uint32_t i;
	uint64_t before_bytes = st->bytes;

	if (fz.consistent) {
		/* Long enough to cross every cap in a few segments, short
		 * enough to keep the fuzzer fast. */
		len &= FZ_SEG_MAX - 1;
		for (i = 0; i < len; i++)
			segbuf[i] = fz_pattern(seq + i);
	} else {
		if (len > *left)
			len = (uint32_t)*left;
		memcpy(segbuf, *p, len);
		*p += len;
		*left -= len;
	}
	if (!st->started && !fz.tracking) {
		/* The stream starts at this segment's seq. */
		fz.tracking = true;
		fz.cur = seq;
	}
	fz.call_delivered = 0;
	stream_segment(st, m, seq, segbuf, len, rewrite, fz_sink, &fz, &res);
	FZ_CHECK(fz.call_delivered == res.delivered);
	FZ_CHECK(st->bytes - before_bytes == res.delivered);
	FZ_CHECK(!res.rewritten || (rewrite && res.mismatch));
	FZ_CHECK(!res.mismatch || res.retrans);
	if (fz.consistent) {
		FZ_CHECK(!res.mismatch);
		for (i = 0; i < len; i++)
			FZ_CHECK(segbuf[i] == fz_pattern(seq + i));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[8] = {
		0, 100, 1100, 3000, 20000, 70000, 300000, 1u << 20,
	};
	struct stream st;
	struct rg_mem m;
	const uint8_t *p = data;
	size_t left = size;
	uint8_t flags, op, b[4];
	uint32_t isn, u32;
	uint16_t u16, len16;
	uint8_t len8;
	int ops;

	if (!fz_take(&p, &left, &flags, 1) || !fz_take(&p, &left, b, 4))
		return 0;
	isn = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | b[3];
	memset(&fz, 0, sizeof(fz) - sizeof(fz.shadow));
	fz.consistent = flags & 1;
	memset(&m, 0, sizeof(m));
	m.cap = caps[(flags >> 1) & 7];
	stream_init(&st);
	switch ((flags >> 4) & 3) {
	case 0:
		stream_syn(&st, isn);
		fz.tracking = true;
		fz.cur = isn + 1;
		break;
	case 1:
		stream_start(&st, isn);
		fz.tracking = true;
		fz.cur = isn;
		break;
	default:
		break;
	}

	for (ops = 0; ops < FZ_MAX_OPS && fz_take(&p, &left, &op, 1); ops++) {
		bool rewrite = (op & 0x80) != 0;

		switch ((op & 0x7f) % 6) {
		case 0:
			if (!fz_take(&p, &left, &u16, 2) ||
			    !fz_take(&p, &left, &len16, 2))
				goto done;
			fz_segment(&st, &m, isn + u16, len16, rewrite, &p,
			    &left);
			break;
		case 1:
			if (!fz_take(&p, &left, &u16, 2) ||
			    !fz_take(&p, &left, &len8, 1))
				goto done;
			fz_segment(&st, &m, st.next + (uint32_t)(int16_t)u16,
			    len8, rewrite, &p, &left);
			break;
		case 2:
			if (!fz_take(&p, &left, &u16, 2))
				goto done;
			stream_ack(&st, &m, st.next + (uint32_t)(int16_t)u16,
			    fz_sink, &fz);
			break;
		case 3:
			if (!fz_take(&p, &left, &u32, 4))
				goto done;
			if (rewrite)
				stream_ack(&st, &m, st.next + u32, fz_sink,
				    &fz);
			else
				fz_segment(&st, &m, st.next + u32, 16, false,
				    &p, &left);
			break;
		case 4:
			stream_fin(&st, st.next);
			FZ_CHECK(st.fin_seen && st.fin_seq == st.next);
			break;
		case 5:
			stream_flush(&st, &m, fz_sink, &fz);
			FZ_CHECK(st.ooo == NULL && st.ooo_bytes == 0);
			break;
		}
		fz_invariants(&st, &m, false);
	}
done:
	fz_invariants(&st, &m, true);
	stream_flush(&st, &m, fz_sink, &fz);
	fz_invariants(&st, &m, true);
	stream_free(&st, &m);
	FZ_CHECK(m.used == 0);
	FZ_CHECK(stream_buffered(&st) == 0);
	return 0;
}
