/*
 * stream.c — TCP reassembly of one direction of a connection.
 *
 * In-order data is handed to the sink straight from the caller's buffer;
 * only early data (a hole before it) is copied, into a sorted list of
 * non-overlapping segments.  Where two copies of a byte exist, the first one
 * seen wins: it is the one that was (or will be) inspected, so a later copy
 * that differs is counted and, inline, rewritten back to it.  This follows
 * Suricata's inline normalisation rather than any one host's overlap policy:
 * whatever the receiver would have picked, the inspected bytes are the
 * forwarded bytes.
 *
 * Delivered bytes are retained in a ring until acknowledged.  The ring is
 * indexed by sequence number (byte seq lives at seq & (ret_cap - 1)), so it
 * needs no head pointer: [next - ret_len, next) is always where the
 * sequence numbers say.  It is allocated on first use, grows by doubling up
 * to STREAM_RETAIN_MAX, and is freed once everything is acknowledged, so an
 * idle flow holds no memory.
 */
#include <stdlib.h>
#include <string.h>

#include "stream.h"

#define STREAM_RING_KEEP	8192u	/* kept while the flow lives */
#define STREAM_RING_MIN	1024u

struct stream_seg {
	struct stream_seg *next;
	uint32_t seq;
	uint32_t len;
	uint8_t data[];
};

/* Bytes charged to the budget for a segment holding len bytes. */
#define STREAM_SEG_COST(len)	(sizeof(struct stream_seg) + (size_t)(len))

void
stream_init(struct stream *st)
{
	memset(st, 0, sizeof(*st));
}

void
stream_syn(struct stream *st, uint32_t seq)
{
	/* Moving next under queued or retained data would break both. */
	if (st->started)
		return;
	st->next = seq + 1;
	st->started = true;
}

void
stream_start(struct stream *st, uint32_t seq)
{
	if (st->started)
		return;
	st->next = seq;
	st->started = true;
}

void
stream_fin(struct stream *st, uint32_t seq)
{
	st->fin_seen = true;
	st->fin_seq = seq;
}

void
stream_no_gap_skip(struct stream *st)
{
	st->no_gap_skip = true;
}

size_t
stream_buffered(const struct stream *st)
{
	return (size_t)st->ret_cap + (size_t)st->ooo_bytes +
	    (size_t)st->ooo_segs * sizeof(struct stream_seg);
}

static void
stream_ring_free(struct stream *st, struct rg_mem *m)
{
	if (st->ret != NULL) {
		rg_block_free(m, st->ret, st->ret_cap);
		rg_mem_release(m, st->ret_cap);
	}
	st->ret = NULL;
	st->ret_cap = 0;
	st->ret_len = 0;
}

/* Copy n bytes for sequence seq into a ring of size cap (n <= cap). */
static void
stream_ring_put(uint8_t *ring, uint32_t cap, uint32_t seq, const uint8_t *p,
    uint32_t n)
{
	uint32_t off = seq & (cap - 1);
	uint32_t first = cap - off < n ? cap - off : n;

	memcpy(ring + off, p, first);
	if (first < n)
		memcpy(ring, p + first, n - first);
}

/*
 * Make room for want retained bytes (want <= STREAM_RETAIN_MAX).  On a
 * refusal the ring keeps its size and retains less: retention is best
 * effort and must never stop delivery.
 */
static void
stream_ring_grow(struct stream *st, struct rg_mem *m, uint32_t want)
{
	uint32_t ncap, start, off, first;
	uint8_t *nr;

	ncap = st->ret_cap != 0 ? st->ret_cap : STREAM_RING_MIN;
	while (ncap < want && ncap < STREAM_RETAIN_MAX)
		ncap *= 2;
	if (ncap <= st->ret_cap)
		return;
	if (!rg_mem_charge(m, ncap - st->ret_cap))
		return;
	if ((nr = rg_block_alloc(m, ncap)) == NULL) {
		rg_mem_release(m, ncap - st->ret_cap);
		return;
	}
	if (st->ret_len > 0) {
		/* The old ring holds the retained bytes in at most two
		 * pieces; each goes to its sequence's place in the new one. */
		start = st->next - st->ret_len;
		off = start & (st->ret_cap - 1);
		first = st->ret_cap - off < st->ret_len ?
		    st->ret_cap - off : st->ret_len;
		stream_ring_put(nr, ncap, start, st->ret + off, first);
		if (first < st->ret_len)
			stream_ring_put(nr, ncap, start + first, st->ret,
			    st->ret_len - first);
	}
	rg_block_free(m, st->ret, st->ret_cap);
	st->ret = nr;
	st->ret_cap = ncap;
}

/*
 * Compare n bytes of p (sequence seq, inside the retained range) with the
 * ring; if they differ and rewrite is set, overwrite p with the ring's copy.
 */
static bool
stream_ring_check(const struct stream *st, uint32_t seq, uint8_t *p,
    uint32_t n, bool rewrite)
{
	uint32_t off, first;
	bool differ;

	off = seq & (st->ret_cap - 1);
	first = st->ret_cap - off < n ? st->ret_cap - off : n;
	differ = memcmp(p, st->ret + off, first) != 0 ||
	    (first < n && memcmp(p + first, st->ret, n - first) != 0);
	if (differ && rewrite) {
		memcpy(p, st->ret + off, first);
		if (first < n)
			memcpy(p + first, st->ret, n - first);
	}
	return differ;
}

/* Keep the n bytes just delivered at st->next (before next moves). */
static void
stream_retain(struct stream *st, struct rg_mem *m, const uint8_t *p,
    uint32_t n)
{
	uint32_t want, seq = st->next;

	want = n >= STREAM_RETAIN_MAX || st->ret_len >= STREAM_RETAIN_MAX - n ?
	    STREAM_RETAIN_MAX : st->ret_len + n;
	if (want > st->ret_cap)
		stream_ring_grow(st, m, want);
	if (st->ret_cap == 0)
		return;
	if (n > st->ret_cap) {
		/* Only the newest ret_cap bytes fit. */
		p += n - st->ret_cap;
		seq += n - st->ret_cap;
		n = st->ret_cap;
	}
	stream_ring_put(st->ret, st->ret_cap, seq, p, n);
	st->ret_len = want > st->ret_cap ? st->ret_cap : want;
}

/* Hand n in-order bytes at st->next to the sink, retain them, advance. */
static void
stream_deliver(struct stream *st, struct rg_mem *m, const uint8_t *p,
    uint32_t n, uint32_t gap, stream_sink_fn sink, void *ctx)
{
	if (gap > 0) {
		/* The retained bytes are no longer adjacent to next. */
		st->gaps++;
		st->gap_bytes += gap;
		st->next += gap;
		st->ret_len = 0;
	}
	if (n > 0)
		stream_retain(st, m, p, n);
	st->next += n;
	st->bytes += n;
	if (sink != NULL && (n > 0 || gap > 0))
		sink(ctx, p, n, gap);
}

/* Unlink the first early segment, deliver it after gap bytes, free it. */
static uint32_t
stream_deliver_head(struct stream *st, struct rg_mem *m, uint32_t gap,
    stream_sink_fn sink, void *ctx)
{
	struct stream_seg *s = st->ooo;
	uint32_t n = s->len;

	st->ooo = s->next;
	st->ooo_segs--;
	st->ooo_bytes -= s->len;
	stream_deliver(st, m, s->data, s->len, gap, sink, ctx);
	rg_mem_release(m, STREAM_SEG_COST(s->len));
	free(s);
	return n;
}

/* Deliver the early segments that start exactly at next. */
static uint32_t
stream_drain(struct stream *st, struct rg_mem *m, stream_sink_fn sink,
    void *ctx)
{
	uint32_t n = 0;

	while (st->ooo != NULL && st->ooo->seq == st->next)
		n += stream_deliver_head(st, m, 0, sink, ctx);
	return n;
}

/* Store a copy of p[0..n) at seq in front of *pp; false if a cap refuses. */
static bool
stream_store(struct stream *st, struct rg_mem *m, struct stream_seg **pp,
    uint32_t seq, const uint8_t *p, uint32_t n)
{
	struct stream_seg *s;

	if (st->ooo_segs >= STREAM_OOO_SEGS_MAX ||
	    n > STREAM_OOO_MAX - st->ooo_bytes)
		return false;
	if (!rg_mem_charge(m, STREAM_SEG_COST(n)))
		return false;
	if ((s = malloc(STREAM_SEG_COST(n))) == NULL) {
		rg_mem_release(m, STREAM_SEG_COST(n));
		return false;
	}
	s->seq = seq;
	s->len = n;
	memcpy(s->data, p, n);
	s->next = *pp;
	*pp = s;
	st->ooo_segs++;
	st->ooo_bytes += n;
	return true;
}

/*
 * Compare p[0..n) with a stored early copy at offset off; the stored copy
 * wins.
 */
static bool
stream_seg_check(const struct stream_seg *s, uint32_t off, uint8_t *p,
    uint32_t n, bool rewrite)
{
	if (memcmp(p, s->data + off, n) == 0)
		return false;
	if (rewrite)
		memcpy(p, s->data + off, n);
	return true;
}

/*
 * The part of a segment below next: compare what is still retained.
 */
static void
stream_old(struct stream *st, uint32_t seq, uint8_t *data, uint32_t len,
    bool rewrite, struct stream_result *res)
{
	uint32_t rstart, from;

	res->retrans = true;
	if (st->ret_len == 0)
		return;
	rstart = st->next - st->ret_len;
	from = SEQ_LT(seq, rstart) ? rstart : seq;
	if (!SEQ_LT(from, seq + len))
		return;
	if (stream_ring_check(st, from, data + (from - seq),
	    seq + len - from, rewrite)) {
		res->mismatch = true;
		if (rewrite)
			res->rewritten = true;
	}
}

/*
 * Data starting at next: deliver it, except where early segments already
 * hold a first copy — those are delivered instead, and the new bytes they
 * cover are compared with them.
 */
static void
stream_inorder(struct stream *st, struct rg_mem *m, uint8_t *data,
    uint32_t len, bool rewrite, stream_sink_fn sink, void *ctx,
    struct stream_result *res)
{
	struct stream_seg *h;
	uint32_t end = st->next + len, n, ov;

	while (SEQ_LT(st->next, end)) {
		h = st->ooo;
		if (h == NULL || SEQ_GEQ(h->seq, end)) {
			n = end - st->next;
			stream_deliver(st, m, data, n, 0, sink, ctx);
			res->delivered += n;
			break;
		}
		if (SEQ_GT(h->seq, st->next)) {
			n = h->seq - st->next;
			stream_deliver(st, m, data, n, 0, sink, ctx);
			res->delivered += n;
			data += n;
		}
		/* h starts at next and overlaps what is left of data. */
		ov = end - h->seq < h->len ? end - h->seq : h->len;
		res->retrans = true;
		if (stream_seg_check(h, 0, data, ov, rewrite)) {
			res->mismatch = true;
			if (rewrite)
				res->rewritten = true;
		}
		data += ov;
		res->delivered += stream_deliver_head(st, m, 0, sink, ctx);
	}
	res->delivered += stream_drain(st, m, sink, ctx);
}

/*
 * Data beyond next: store the ranges no early segment covers yet, compare
 * the ones that are covered.
 */
static void
stream_early(struct stream *st, struct rg_mem *m, uint32_t seq,
    uint8_t *data, uint32_t len, bool rewrite, struct stream_result *res)
{
	struct stream_seg **pp = &st->ooo, *h;
	uint32_t cur = seq, end = seq + len, hend, stop;

	while (SEQ_LT(cur, end)) {
		h = *pp;
		if (h != NULL) {
			hend = h->seq + h->len;
			if (SEQ_LEQ(hend, cur)) {
				pp = &h->next;
				continue;
			}
			if (SEQ_LEQ(h->seq, cur)) {
				stop = SEQ_LT(hend, end) ? hend : end;
				res->retrans = true;
				if (stream_seg_check(h, cur - h->seq,
				    data + (cur - seq), stop - cur, rewrite)) {
					res->mismatch = true;
					if (rewrite)
						res->rewritten = true;
				}
				cur = stop;
				pp = &h->next;
				continue;
			}
		}
		/* [cur, stop) is covered by nothing stored. */
		stop = h != NULL && SEQ_LT(h->seq, end) ? h->seq : end;
		if (stream_store(st, m, pp, cur, data + (cur - seq),
		    stop - cur)) {
			res->stored = true;
			pp = &(*pp)->next;
		} else
			res->refused = true;
		cur = stop;
	}
}

void
stream_segment(struct stream *st, struct rg_mem *m, uint32_t seq,
    uint8_t *data, uint32_t len, bool rewrite, stream_sink_fn sink,
    void *ctx, struct stream_result *res)
{
	struct stream_result dummy;
	uint32_t old, off;

	if (res == NULL)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if (!st->started) {
		st->next = seq;
		st->started = true;
	}
	if (len == 0)
		return;
	/*
	 * Refuse what no window allows: keeping every end within
	 * STREAM_WINDOW of next keeps all modular comparisons meaningful.
	 * The start decides the direction (an end near next + 2^31 would
	 * wrap to "before" next); off < 2^31 and len <= 2^30 cannot
	 * overflow.
	 */
	off = seq - st->next;
	if (len > STREAM_WINDOW ||
	    ((int32_t)off >= 0 && off + len > STREAM_WINDOW)) {
		st->refused++;
		res->refused = true;
		return;
	}
	if (SEQ_LT(seq, st->next)) {
		old = st->next - seq;
		if (old > len)
			old = len;
		stream_old(st, seq, data, old, rewrite, res);
		seq += old;
		data += old;
		len -= old;
	}
	if (len > 0) {
		if (seq == st->next)
			stream_inorder(st, m, data, len, rewrite, sink, ctx,
			    res);
		else
			stream_early(st, m, seq, data, len, rewrite, res);
	}
	if (res->retrans)
		st->retrans++;
	if (res->mismatch)
		st->mismatches++;
	if (res->refused)
		st->refused++;
}

void
stream_keep(struct stream *st, uint16_t n)
{
	st->keep = n;
}

void
stream_ack(struct stream *st, struct rg_mem *m, uint32_t ack,
    stream_sink_fn sink, void *ctx)
{
	uint32_t rstart, rel;

	if (!st->started || SEQ_GT(ack, st->next + STREAM_WINDOW))
		return;
	/*
	 * The peer has bytes we never saw.  Skip the hole only if we hold
	 * data at or below ack: an ack far ahead with nothing queued may
	 * just mean the capture delivers the data later.
	 */
	/* A FIN takes one sequence number of its own. */
	if (st->no_gap_skip && SEQ_GT(ack, st->next +
	    (st->fin_seen && st->fin_seq == st->next ? 1u : 0u))) {
		st->acked_unseen++;
		goto release;
	}
	while (SEQ_GT(ack, st->next) && st->ooo != NULL &&
	    SEQ_LEQ(st->ooo->seq, ack)) {
		stream_deliver_head(st, m, st->ooo->seq - st->next, sink, ctx);
		stream_drain(st, m, sink, ctx);
	}
release:
	if (st->ret_len == 0)
		return;
	rstart = st->next - st->ret_len;
	if (!SEQ_GT(ack, rstart))
		return;
	rel = SEQ_LT(ack, st->next) ? ack - rstart : st->ret_len;
	if (st->ret_len - rel < st->keep)
		rel = st->ret_len > st->keep ? st->ret_len - st->keep : 0;
	st->ret_len -= rel;
	/* Everything acknowledged: a large ring goes back (an idle flow
	 * should hold little), a small one stays, so a busy flow does not
	 * allocate and free one on every ACK. */
	if (st->ret_len == 0 && st->ret_cap > STREAM_RING_KEEP)
		stream_ring_free(st, m);
}

void
stream_flush(struct stream *st, struct rg_mem *m, stream_sink_fn sink,
    void *ctx)
{
	while (st->ooo != NULL)
		stream_deliver_head(st, m, st->ooo->seq - st->next, sink, ctx);
}

void
stream_free(struct stream *st, struct rg_mem *m)
{
	struct stream_seg *s;

	while ((s = st->ooo) != NULL) {
		st->ooo = s->next;
		rg_mem_release(m, STREAM_SEG_COST(s->len));
		free(s);
	}
	st->ooo_segs = 0;
	st->ooo_bytes = 0;
	stream_ring_free(st, m);
}
