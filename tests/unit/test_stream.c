/*
 * test_stream.c — TCP reassembly.  Cases are tables of segments (offset
 * from the initial sequence number, bytes) and the stream expected out of
 * the sink, in the manner of Suricata's stream-tcp-list tests.  The sink
 * renders a gap as "<N>" so expected streams read as text.  Every table
 * runs at several initial sequence numbers, including ones that wrap.
 *
 * The module's source is included to check its private invariants (the
 * early-segment list, the ring contents) after every step.
 */
#include <stdlib.h>

#include "../../filters/stream.c"
#include "test.h"

#define OUT_MAX		(256 * 1024)

struct out {
	uint8_t buf[OUT_MAX];
	size_t len;
	size_t calls;
	size_t delivered;	/* sum of data lengths handed over */
};

static struct out out;

static const uint32_t isns[] = {
	0, 1000, 0x7ffffff0u, 0xfffffff0u, 0xfffffffcu, 0xffffffffu,
};
#define NISNS (sizeof(isns) / sizeof(isns[0]))

static void
sink(void *ctx, const uint8_t *d, size_t n, uint32_t gap)
{
	struct out *o = ctx;
	int w;

	o->calls++;
	if (gap > 0 && o->len < OUT_MAX) {
		w = snprintf((char *)o->buf + o->len, OUT_MAX - o->len, "<%u>",
		    gap);
		if (w > 0)
			o->len += (size_t)w;
	}
	if (n > 0 && n <= OUT_MAX - o->len) {
		memcpy(o->buf + o->len, d, n);
		o->len += n;
	}
	o->delivered += n;
}

static void
out_reset(void)
{
	memset(&out, 0, sizeof(out));
}

/* The output so far as a C string (tests with text only). */
static const char *
out_str(void)
{
	static char s[OUT_MAX + 1];

	memcpy(s, out.buf, out.len);
	s[out.len] = '\0';
	return s;
}

static struct rg_mem
mem_new(size_t cap)
{
	struct rg_mem m;

	memset(&m, 0, sizeof(m));
	m.cap = cap;
	return m;
}

/* The module's private invariants; returns false (and says why) if broken. */
static bool
check_invariants(const struct stream *st, const struct rg_mem *m)
{
	const struct stream_seg *s;
	uint32_t segs = 0, bytes = 0;
	bool ok = true;

	for (s = st->ooo; s != NULL; s = s->next) {
		segs++;
		bytes += s->len;
		if (s->len == 0 || !SEQ_GT(s->seq, st->next)) {
			fprintf(stderr, "seg %u+%u not beyond next %u\n",
			    s->seq, s->len, st->next);
			ok = false;
		}
		if (s->next != NULL && SEQ_LT(s->next->seq, s->seq + s->len)) {
			fprintf(stderr, "segs overlap or unsorted\n");
			ok = false;
		}
	}
	if (segs != st->ooo_segs || bytes != st->ooo_bytes) {
		fprintf(stderr, "ooo counts %u/%u, list %u/%u\n", st->ooo_segs,
		    st->ooo_bytes, segs, bytes);
		ok = false;
	}
	if (st->ret_len > st->ret_cap || st->ret_cap > STREAM_RETAIN_MAX ||
	    (st->ret_cap & (st->ret_cap - 1)) != 0 ||
	    (st->ret_cap == 0) != (st->ret == NULL)) {
		fprintf(stderr, "ring len %u cap %u\n", st->ret_len,
		    st->ret_cap);
		ok = false;
	}
	if (st->bytes > SIZE_MAX || m->used != stream_buffered(st)) {
		fprintf(stderr, "mem used %zu, buffered %zu\n", m->used,
		    stream_buffered(st));
		ok = false;
	}
	return ok;
}

/* The ring holds exactly orig's bytes for [next - ret_len, next). */
static bool
check_ring(const struct stream *st, uint32_t isn, const uint8_t *orig)
{
	uint32_t i, s;

	for (i = 0; i < st->ret_len; i++) {
		s = st->next - st->ret_len + i;
		if (st->ret[s & (st->ret_cap - 1)] != orig[s - isn])
			return false;
	}
	return true;
}

struct seg {
	uint32_t off;
	const char *data;
};

#define SEGS_MAX 8

struct table {
	const char *name;
	struct seg segs[SEGS_MAX];	/* ends at data == NULL */
	const char *expect;		/* after all segments */
	uint64_t retrans, mismatches;
	bool flush;			/* flush before comparing */
};

/*
 * Feed segments at isn + off in order; the stream starts at isn.  Each
 * segment is copied into a writable buffer (kept in bufs if given, so a
 * test can look at what rewriting did).
 */
static void
feed(struct stream *st, struct rg_mem *m, uint32_t isn, const struct seg *segs,
    size_t n, bool rewrite, char bufs[][64])
{
	char tmp[64];
	char *b;
	size_t i, len;

	for (i = 0; i < n && segs[i].data != NULL; i++) {
		b = bufs != NULL ? bufs[i] : tmp;
		len = strlen(segs[i].data);
		TEST_CHECK(len < 64);
		memcpy(b, segs[i].data, len + 1);
		stream_segment(st, m, isn + segs[i].off, (uint8_t *)b,
		    (uint32_t)len, rewrite, sink, &out, NULL);
		TEST_CHECK(check_invariants(st, m));
	}
}

static void
run_table(const struct table *t, size_t nt)
{
	struct stream st;
	struct rg_mem m;
	size_t i, k, n;

	for (i = 0; i < nt; i++) {
		for (k = 0; k < NISNS; k++) {
			int before = test_failed_checks;

			out_reset();
			m = mem_new(1 << 20);
			stream_init(&st);
			stream_start(&st, isns[k]);
			for (n = 0; n < SEGS_MAX && t[i].segs[n].data; n++)
				;
			feed(&st, &m, isns[k], t[i].segs, n, false, NULL);
			if (t[i].flush)
				stream_flush(&st, &m, sink, &out);
			TEST_CHECK(check_invariants(&st, &m));
			ASSERT_STR_EQ(out_str(), t[i].expect);
			ASSERT_INT_EQ(st.retrans, t[i].retrans);
			ASSERT_INT_EQ(st.mismatches, t[i].mismatches);
			ASSERT_INT_EQ(out.delivered, st.bytes);
			stream_free(&st, &m);
			ASSERT_INT_EQ(m.used, 0);
			if (test_failed_checks != before)
				fprintf(stderr, "  in case \"%s\", isn %#x\n",
				    t[i].name, isns[k]);
		}
	}
}

/*
 * Early copies are lower case where they should win, upper case where a
 * later copy should lose.
 */
static void
test_tables(void)
{
	static const struct table t[] = {
	{ "in order", { {0, "abc"}, {3, "def"}, {6, "ghi"} },
	    "abcdefghi", 0, 0, false },
	{ "reversed", { {6, "ghi"}, {3, "def"}, {0, "abc"} },
	    "abcdefghi", 0, 0, false },
	{ "middle first", { {3, "def"}, {0, "abc"}, {6, "ghi"} },
	    "abcdefghi", 0, 0, false },
	{ "duplicate early", { {3, "def"}, {3, "def"}, {0, "abc"} },
	    "abcdef", 1, 0, false },
	{ "duplicate delivered", { {0, "abc"}, {0, "abc"}, {3, "def"} },
	    "abcdef", 1, 0, false },
	{ "exact retransmission", { {0, "abc"}, {3, "def"}, {0, "abcdef"} },
	    "abcdef", 1, 0, false },
	{ "retransmission differs", { {0, "abcdef"}, {2, "CD"} },
	    "abcdef", 1, 1, false },
	{ "retransmission then new", { {0, "abc"}, {1, "bcdef"} },
	    "abcdef", 1, 0, false },
	{ "retransmission differs then new", { {0, "abc"}, {1, "BCdef"} },
	    "abcdef", 1, 1, false },
	{ "old covers new", { {2, "cdef"}, {3, "DE"}, {0, "ab"} },
	    "abcdef", 1, 1, false },
	{ "new covers old", { {3, "de"}, {2, "CDEF"}, {0, "ab"} },
	    "abCdeF", 1, 1, false },
	{ "partial left", { {4, "efg"}, {2, "CDEF"}, {0, "ab"} },
	    "abCDefg", 1, 1, false },
	{ "partial right", { {2, "cde"}, {4, "EFG"}, {0, "ab"} },
	    "abcdeFG", 1, 1, false },
	{ "same start longer", { {2, "cd"}, {2, "CDEF"}, {0, "ab"} },
	    "abcdEF", 1, 1, false },
	{ "same start shorter", { {2, "cdef"}, {2, "CD"}, {0, "ab"} },
	    "abcdef", 1, 1, false },
	{ "same start longer, same bytes", { {2, "cd"}, {2, "cdef"},
	    {0, "ab"} }, "abcdef", 1, 0, false },
	{ "new spans two old", { {2, "c"}, {5, "f"}, {1, "BCDEFG"},
	    {0, "a"} }, "aBcDEfG", 1, 1, false },
	{ "in order over early", { {3, "def"}, {0, "abcDEFg"} },
	    "abcdefg", 1, 1, false },
	{ "in order over two early", { {2, "c"}, {4, "ef"},
	    {0, "abCdEFgh"} }, "abcdefgh", 1, 1, false },
	{ "in order ends inside early", { {3, "defg"}, {0, "abcD"} },
	    "abcdefg", 1, 1, false },
	{ "in order ends at early", { {3, "def"}, {0, "abc"} },
	    "abcdef", 0, 0, false },
	{ "adjacent early", { {6, "gh"}, {4, "ef"}, {2, "cd"}, {0, "ab"} },
	    "abcdefgh", 0, 0, false },
	{ "old and early in one", { {0, "ab"}, {4, "ef"}, {1, "BCDEF"} },
	    "abCDef", 1, 1, false },
	{ "hole left", { {0, "ab"}, {4, "ef"} }, "ab", 0, 0, false },
	{ "flush with holes", { {0, "abc"}, {5, "fg"}, {10, "k"} },
	    "abc<2>fg<3>k", 0, 0, true },
	{ "flush, no start data", { {5, "fg"}, {3, "d"} },
	    "<3>d<1>fg", 0, 0, true },
	{ "flush, nothing queued", { {0, "abc"} }, "abc", 0, 0, true },
	};

	run_table(t, sizeof(t) / sizeof(t[0]));
}

/* Every order of the same segments gives the same stream. */
static void
permute(size_t *idx, size_t k, size_t n, const struct seg *segs,
    const char *expect, uint32_t isn, int *runs)
{
	struct seg ordered[SEGS_MAX];
	struct stream st;
	struct rg_mem m;
	size_t i, t;

	if (k == n) {
		for (i = 0; i < n; i++)
			ordered[i] = segs[idx[i]];
		out_reset();
		m = mem_new(1 << 20);
		stream_init(&st);
		stream_start(&st, isn);
		feed(&st, &m, isn, ordered, n, false, NULL);
		ASSERT_STR_EQ(out_str(), expect);
		ASSERT_INT_EQ(st.mismatches, 0);
		ASSERT_INT_EQ(st.ooo_segs, 0);
		stream_free(&st, &m);
		ASSERT_INT_EQ(m.used, 0);
		(*runs)++;
		return;
	}
	for (i = k; i < n; i++) {
		t = idx[k]; idx[k] = idx[i]; idx[i] = t;
		permute(idx, k + 1, n, segs, expect, isn, runs);
		t = idx[k]; idx[k] = idx[i]; idx[i] = t;
	}
}

static void
test_permutations(void)
{
	static const struct seg plain[] = {
		{0, "Hel"}, {3, "lo, "}, {7, "wor"}, {10, "ld"},
	};
	/* Overlapping copies, all with the same bytes. */
	static const struct seg overlap[] = {
		{0, "Hel"}, {2, "llo, w"}, {7, "wor"}, {5, ", world"},
	};
	static const struct seg three[] = {
		{0, "a"}, {1, "bc"}, {3, "def"},
	};
	size_t idx[SEGS_MAX];
	size_t i, k;
	int runs = 0;

	for (k = 0; k < NISNS; k++) {
		for (i = 0; i < 4; i++)
			idx[i] = i;
		permute(idx, 0, 4, plain, "Hello, world", isns[k], &runs);
		permute(idx, 0, 4, overlap, "Hello, world", isns[k], &runs);
		permute(idx, 0, 3, three, "abcdef", isns[k], &runs);
	}
	ASSERT_INT_EQ(runs, (int)NISNS * (24 + 24 + 6));
}

/* A differing retransmission is rewritten to the first copy. */
static void
test_rewrite(void)
{
	static const struct seg s1[] = {
		{0, "abcdef"}, {2, "CDEFgh"}, {10, "kl"}, {9, "jKLm"},
		{8, "i"},
	};
	char bufs[SEGS_MAX][64];
	struct stream_result res;
	struct stream st;
	struct rg_mem m;
	uint8_t b[8];
	size_t k;

	for (k = 0; k < NISNS; k++) {
		out_reset();
		m = mem_new(1 << 20);
		stream_init(&st);
		stream_start(&st, isns[k]);
		feed(&st, &m, isns[k], s1, 5, true, bufs);
		ASSERT_STR_EQ(out_str(), "abcdefghijklm");
		ASSERT_STR_EQ(bufs[1], "cdefgh");	/* old part rewritten */
		ASSERT_STR_EQ(bufs[3], "jklm");	/* early part rewritten */
		ASSERT_STR_EQ(bufs[4], "i");
		ASSERT_INT_EQ(st.mismatches, 2);
		ASSERT_INT_EQ(st.retrans, 2);

		/* Without rewrite, the buffer stays; the result says so. */
		memcpy(b, "EFG", 3);
		stream_segment(&st, &m, isns[k] + 4, b, 3, false, sink, &out,
		    &res);
		TEST_CHECK(res.retrans && res.mismatch && !res.rewritten);
		ASSERT_MEM_EQ(b, "EFG", 3);
		memcpy(b, "EFG", 3);
		stream_segment(&st, &m, isns[k] + 4, b, 3, true, sink, &out,
		    &res);
		TEST_CHECK(res.retrans && res.mismatch && res.rewritten);
		ASSERT_MEM_EQ(b, "efg", 3);
		ASSERT_INT_EQ(res.delivered, 0);
		/* The same bytes again: retransmission, nothing else. */
		stream_segment(&st, &m, isns[k] + 4, b, 3, true, sink, &out,
		    &res);
		TEST_CHECK(res.retrans && !res.mismatch && !res.rewritten);
		/* In order over an early copy: the early copy is written
		 * into the new segment and delivered. */
		memcpy(b, "op", 2);
		stream_segment(&st, &m, isns[k] + 14, b, 2, true, sink, &out,
		    &res);
		TEST_CHECK(res.stored && !res.retrans);
		memcpy(b, "nOPq", 4);
		stream_segment(&st, &m, isns[k] + 13, b, 4, true, sink, &out,
		    &res);
		TEST_CHECK(res.retrans && res.mismatch && res.rewritten);
		ASSERT_MEM_EQ(b, "nopq", 4);
		ASSERT_INT_EQ(res.delivered, 4);
		ASSERT_STR_EQ(out_str(), "abcdefghijklmnopq");
		ASSERT_INT_EQ(st.retrans, 6);
		ASSERT_INT_EQ(st.mismatches, 5);
		stream_free(&st, &m);
		ASSERT_INT_EQ(m.used, 0);
	}
}

static void
test_zero_length_and_start(void)
{
	struct stream_result res;
	struct stream st;
	struct rg_mem m = mem_new(1 << 20);
	uint8_t b[4] = "abc";

	out_reset();
	stream_init(&st);
	/* A zero-length segment only starts the stream. */
	stream_segment(&st, &m, 500, b, 0, false, sink, &out, &res);
	TEST_CHECK(st.started);
	ASSERT_INT_EQ(st.next, 500);
	ASSERT_INT_EQ(out.calls, 0);
	stream_segment(&st, &m, 510, b, 0, false, sink, &out, &res);
	ASSERT_INT_EQ(st.next, 500);
	ASSERT_INT_EQ(m.used, 0);
	TEST_CHECK(!res.stored && !res.retrans && !res.refused);
	/* Once started, syn/start do not move next. */
	stream_syn(&st, 9000);
	stream_start(&st, 9000);
	ASSERT_INT_EQ(st.next, 500);
	stream_free(&st, &m);

	/* Data before any start starts the stream at its seq. */
	stream_init(&st);
	stream_segment(&st, &m, 0xfffffffe, b, 3, false, sink, &out, NULL);
	ASSERT_STR_EQ(out_str(), "abc");
	ASSERT_INT_EQ(st.next, 1);
	stream_free(&st, &m);

	/* The SYN takes one sequence number. */
	out_reset();
	stream_init(&st);
	stream_syn(&st, 0xffffffff);
	ASSERT_INT_EQ(st.next, 0);
	stream_segment(&st, &m, 0, b, 3, false, sink, &out, &res);
	ASSERT_INT_EQ(res.delivered, 3);
	stream_fin(&st, 3);
	TEST_CHECK(st.fin_seen);
	ASSERT_INT_EQ(st.fin_seq, 3);
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);

	/* A zeroed, never used stream frees cleanly, twice. */
	memset(&st, 0, sizeof(st));
	stream_free(&st, &m);
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);
}

static void
test_window(void)
{
	struct stream_result res;
	struct stream st;
	struct rg_mem m = mem_new(1 << 20);
	uint8_t b[4] = "abc";
	size_t k;

	for (k = 0; k < NISNS; k++) {
		out_reset();
		stream_init(&st);
		stream_start(&st, isns[k]);
		/* Ending just inside the window: stored. */
		stream_segment(&st, &m, isns[k] + STREAM_WINDOW - 3, b, 3,
		    false, sink, &out, &res);
		TEST_CHECK(res.stored && !res.refused);
		/* Ending beyond: refused, nothing kept. */
		stream_segment(&st, &m, isns[k] + STREAM_WINDOW - 2, b, 3,
		    false, sink, &out, &res);
		TEST_CHECK(!res.stored && res.refused);
		stream_segment(&st, &m, isns[k] + 0x7ffffff0u, b, 3, false,
		    sink, &out, &res);
		TEST_CHECK(!res.stored && res.refused);
		/* Starting far ahead, ending (modulo 2^32) "behind". */
		stream_segment(&st, &m, isns[k] + 0x7ffffffeu, b, 3, false,
		    sink, &out, &res);
		TEST_CHECK(!res.stored && res.refused && !res.retrans);
		ASSERT_INT_EQ(st.refused, 3);
		ASSERT_INT_EQ(st.ooo_segs, 1);
		/* Far behind: an old retransmission nobody can compare. */
		stream_segment(&st, &m, isns[k] - 0x7ffffff0u, b, 3, false,
		    sink, &out, &res);
		TEST_CHECK(res.retrans && !res.mismatch && !res.stored);
		/* Absurd lengths are refused. */
		stream_segment(&st, &m, isns[k], b, STREAM_WINDOW + 1, false,
		    sink, &out, &res);
		TEST_CHECK(res.refused && res.delivered == 0);
		ASSERT_INT_EQ(st.next, isns[k]);
		ASSERT_INT_EQ(out.calls, 0);
		TEST_CHECK(check_invariants(&st, &m));
		stream_free(&st, &m);
		ASSERT_INT_EQ(m.used, 0);
	}
}

static void
test_ack_gap(void)
{
	struct stream st;
	struct rg_mem m = mem_new(1 << 20);
	uint8_t b[16];
	uint32_t isn;
	size_t k;

	for (k = 0; k < NISNS; k++) {
		isn = isns[k];
		out_reset();
		stream_init(&st);
		stream_start(&st, isn);
		memcpy(b, "abc", 3);
		stream_segment(&st, &m, isn, b, 3, false, sink, &out, NULL);
		memcpy(b, "ghi", 3);
		stream_segment(&st, &m, isn + 6, b, 3, false, sink, &out, NULL);
		memcpy(b, "mn", 2);
		stream_segment(&st, &m, isn + 12, b, 2, false, sink, &out, NULL);
		ASSERT_STR_EQ(out_str(), "abc");
		/* Acks inside the hole, or absurd: nothing happens. */
		stream_ack(&st, &m, isn + 5, sink, &out);
		stream_ack(&st, &m, isn + 3 + STREAM_WINDOW + 1, sink, &out);
		stream_ack(&st, &m, isn + 0x80000000u, sink, &out);
		ASSERT_STR_EQ(out_str(), "abc");
		ASSERT_INT_EQ(st.gaps, 0);
		/* The ack released what it covers below next; a small ring
		 * stays allocated for the next bytes (no churn). */
		ASSERT_INT_EQ(st.ret_len, 0);
		TEST_CHECK(st.ret_cap <= 8192);
		/* The peer acknowledged the first early segment: skip. */
		stream_ack(&st, &m, isn + 7, sink, &out);
		ASSERT_STR_EQ(out_str(), "abc<3>ghi");
		ASSERT_INT_EQ(st.gaps, 1);
		ASSERT_INT_EQ(st.gap_bytes, 3);
		ASSERT_INT_EQ(st.next, isn + 9);
		/* The bytes after the gap are retained from the gap on. */
		ASSERT_INT_EQ(st.ret_len, 2);
		/* Later data arrives and is delivered normally. */
		memcpy(b, "jkl", 3);
		stream_segment(&st, &m, isn + 9, b, 3, false, sink, &out, NULL);
		ASSERT_STR_EQ(out_str(), "abc<3>ghijklmn");
		ASSERT_INT_EQ(st.gaps, 1);
		TEST_CHECK(check_invariants(&st, &m));

		/* An ack beyond next with nothing queued does nothing. */
		stream_ack(&st, &m, isn + 100, sink, &out);
		ASSERT_INT_EQ(st.next, isn + 14);
		ASSERT_INT_EQ(st.ret_len, 0);
		ASSERT_INT_EQ(m.used, stream_buffered(&st));

		/* An ack past several holes skips each of them. */
		memcpy(b, "p", 1);
		stream_segment(&st, &m, isn + 15, b, 1, false, sink, &out, NULL);
		memcpy(b, "rs", 2);
		stream_segment(&st, &m, isn + 17, b, 2, false, sink, &out, NULL);
		memcpy(b, "x", 1);
		stream_segment(&st, &m, isn + 30, b, 1, false, sink, &out, NULL);
		stream_ack(&st, &m, isn + 17, sink, &out);
		ASSERT_STR_EQ(out_str(), "abc<3>ghijklmn<1>p<1>rs");
		ASSERT_INT_EQ(st.gaps, 3);
		ASSERT_INT_EQ(st.gap_bytes, 5);
		ASSERT_INT_EQ(st.ooo_segs, 1);
		stream_flush(&st, &m, sink, &out);
		ASSERT_STR_EQ(out_str(), "abc<3>ghijklmn<1>p<1>rs<11>x");
		ASSERT_INT_EQ(st.gap_bytes, 16);
		ASSERT_INT_EQ(out.delivered, st.bytes);
		TEST_CHECK(check_invariants(&st, &m));
		stream_free(&st, &m);
		ASSERT_INT_EQ(m.used, 0);
	}
}

/* Bytes retained before a gap are not adjacent to next any more: a
 * retransmission into the skipped hole has nothing to be compared with. */
static void
test_gap_drops_retained(void)
{
	struct stream_result res;
	struct stream st;
	struct rg_mem m = mem_new(1 << 20);
	uint8_t b[8];
	size_t k;

	for (k = 0; k < NISNS; k++) {
		out_reset();
		stream_init(&st);
		stream_start(&st, isns[k]);
		memcpy(b, "abc", 3);
		stream_segment(&st, &m, isns[k], b, 3, false, sink, &out, NULL);
		memcpy(b, "fg", 2);
		stream_segment(&st, &m, isns[k] + 5, b, 2, false, sink, &out,
		    NULL);
		ASSERT_INT_EQ(st.ret_len, 3);
		stream_flush(&st, &m, sink, &out);
		ASSERT_STR_EQ(out_str(), "abc<2>fg");
		ASSERT_INT_EQ(st.ret_len, 2);
		memcpy(b, "XYZWV", 5);
		stream_segment(&st, &m, isns[k] + 1, b, 4, true, sink, &out,
		    &res);
		TEST_CHECK(res.retrans && !res.mismatch && !res.rewritten);
		ASSERT_MEM_EQ(b, "XYZWV", 5);
		memcpy(b, "XYZWV", 5);
		stream_segment(&st, &m, isns[k] + 2, b, 5, true, sink, &out,
		    &res);
		TEST_CHECK(res.retrans && res.mismatch && res.rewritten);
		ASSERT_MEM_EQ(b, "XYZfg", 5);
		stream_free(&st, &m);
		ASSERT_INT_EQ(m.used, 0);
	}
}

static void
test_ooo_caps(void)
{
	static uint8_t big[1000];
	struct stream_result res;
	struct stream st;
	struct rg_mem m = mem_new(64u << 20);
	uint32_t i, n = STREAM_OOO_MAX / sizeof(big);
	uint8_t b = 'x';

	/* Byte cap: adjacent 1000-byte segments behind a 1-byte hole. */
	memset(big, 'a', sizeof(big));
	out_reset();
	stream_init(&st);
	stream_start(&st, 0xffff0000u);
	for (i = 0; i < n; i++) {
		stream_segment(&st, &m, 0xffff0001u + i * 1000, big, 1000,
		    false, sink, &out, &res);
		TEST_CHECK(res.stored && !res.refused);
	}
	ASSERT_INT_EQ(st.ooo_bytes, n * 1000);
	stream_segment(&st, &m, 0xffff0001u + n * 1000, big, 1000, false,
	    sink, &out, &res);
	TEST_CHECK(!res.stored && res.refused);
	ASSERT_INT_EQ(st.refused, 1);
	ASSERT_INT_EQ(st.ooo_bytes, n * 1000);
	ASSERT_INT_EQ(m.used, stream_buffered(&st));
	/* Filling the hole delivers it all; the cap is free again. */
	stream_segment(&st, &m, 0xffff0000u, &b, 1, false, sink, &out, &res);
	ASSERT_INT_EQ(res.delivered, 1 + n * 1000);
	ASSERT_INT_EQ(st.ooo_segs, 0);
	/* Only the newest STREAM_RETAIN_MAX bytes are retained. */
	ASSERT_INT_EQ(st.ret_len, STREAM_RETAIN_MAX);
	ASSERT_INT_EQ(m.used, STREAM_RETAIN_MAX);
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);

	/* Segment cap: one-byte segments with holes between them. */
	stream_init(&st);
	stream_start(&st, 0);
	for (i = 0; i < STREAM_OOO_SEGS_MAX; i++) {
		stream_segment(&st, &m, 2 + 2 * i, &b, 1, false, sink, &out,
		    &res);
		TEST_CHECK(res.stored);
	}
	stream_segment(&st, &m, 2 + 2 * i, &b, 1, false, sink, &out, &res);
	TEST_CHECK(res.refused && !res.stored);
	ASSERT_INT_EQ(st.ooo_segs, STREAM_OOO_SEGS_MAX);
	ASSERT_INT_EQ(m.used, stream_buffered(&st));
	TEST_CHECK(check_invariants(&st, &m));
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);
}

static void
test_budget(void)
{
	static uint8_t data[300];
	struct stream_result res;
	struct stream st;
	struct rg_mem m = mem_new(100);
	uint8_t b[8];
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)('a' + i % 26);
	out_reset();
	stream_init(&st);
	stream_start(&st, 7);
	/* Early data too big for the budget: refused, nothing leaks. */
	stream_segment(&st, &m, 107, data + 100, 200, false, sink, &out, &res);
	TEST_CHECK(res.refused && !res.stored);
	ASSERT_INT_EQ(m.used, 0);
	ASSERT_INT_EQ(m.refused, 1);
	/* A piece that fits is stored; the rest of a later one refused. */
	stream_segment(&st, &m, 57, data + 50, 10, false, sink, &out, &res);
	TEST_CHECK(res.stored);
	stream_segment(&st, &m, 37, data + 30, 100, false, sink, &out, &res);
	/* [37, 57) fits, [57, 67) is compared, [67, 137) is refused. */
	TEST_CHECK(res.refused && res.retrans && res.stored);
	ASSERT_INT_EQ(st.refused, 2);
	ASSERT_INT_EQ(m.used, 2 * sizeof(struct stream_seg) + 30);
	TEST_CHECK(check_invariants(&st, &m));
	/* In-order data is delivered even though nothing can be retained
	 * (the ring needs 1 KiB). */
	stream_segment(&st, &m, 7, data, 50, false, sink, &out, &res);
	ASSERT_INT_EQ(res.delivered, 60);
	ASSERT_INT_EQ(st.ret_len, 0);
	ASSERT_INT_EQ(st.ret_cap, 0);
	ASSERT_MEM_EQ(out.buf, data, 60);
	/* So a differing retransmission cannot be detected. */
	memcpy(b, "XXXX", 4);
	stream_segment(&st, &m, 10, b, 4, true, sink, &out, &res);
	TEST_CHECK(res.retrans && !res.mismatch && !res.rewritten);
	TEST_CHECK(check_invariants(&st, &m));
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);

	/* A budget that allows the smallest ring but not growth. */
	m = mem_new(1500);
	out_reset();
	stream_init(&st);
	stream_start(&st, 0);
	for (i = 0; i < 6; i++)
		stream_segment(&st, &m, (uint32_t)(i * 300), data, 300, false,
		    sink, &out, &res);
	ASSERT_INT_EQ(st.bytes, 1800);
	ASSERT_INT_EQ(st.ret_cap, 1024);
	ASSERT_INT_EQ(st.ret_len, 1024);
	ASSERT_INT_EQ(m.used, 1024);
	/* The newest 1024 bytes are retained and compared. */
	memcpy(b, "XXXX", 4);
	stream_segment(&st, &m, 1800 - 4, b, 4, true, sink, &out, &res);
	TEST_CHECK(res.mismatch && res.rewritten);
	ASSERT_MEM_EQ(b, data + 296, 4);
	memcpy(b, "XXXX", 4);
	stream_segment(&st, &m, 1800 - 1026, b, 4, true, sink, &out, &res);
	TEST_CHECK(res.mismatch && res.rewritten);
	ASSERT_MEM_EQ(b, "XX", 2);
	ASSERT_MEM_EQ(b + 2, data + 176, 2);
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);
}

/* Deterministic PRNG (xorshift32) so failures reproduce. */
static uint32_t
rnd(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void
test_retain_ring(void)
{
	static uint8_t orig[100000];
	struct stream_result res;
	struct stream st;
	struct rg_mem m = mem_new(1 << 20);
	uint8_t b[20], want[20];
	uint32_t isn = 0xfffff000u, r = 12345, i, n, last;
	size_t k;

	for (i = 0; i < sizeof(orig); i++)
		orig[i] = (uint8_t)rnd(&r);
	out_reset();
	stream_init(&st);
	stream_start(&st, isn);
	/* Odd-sized pieces with acks in between, so the ring wraps before
	 * each growth. */
	for (i = 0; i < sizeof(orig); i += n) {
		n = 777;
		if (n > sizeof(orig) - i)
			n = sizeof(orig) - i;
		stream_segment(&st, &m, isn + i, orig + i, n, false, sink,
		    &out, &res);
		ASSERT_INT_EQ(res.delivered, n);
		if (i == 777 * 2)
			stream_ack(&st, &m, isn + 900, sink, &out);
		TEST_CHECK(check_ring(&st, isn, orig));
		TEST_CHECK(check_invariants(&st, &m));
	}
	ASSERT_INT_EQ(out.len, sizeof(orig));
	ASSERT_MEM_EQ(out.buf, orig, sizeof(orig));
	ASSERT_INT_EQ(st.ret_len, STREAM_RETAIN_MAX);
	ASSERT_INT_EQ(st.ret_cap, STREAM_RETAIN_MAX);
	last = st.next;

	/* The newest retained bytes, different: mismatch, rewritten. */
	memset(b, 0, sizeof(b));
	for (i = 0; i < 10; i++)
		b[i] = (uint8_t)~orig[sizeof(orig) - 10 + i];
	stream_segment(&st, &m, last - 10, b, 10, true, sink, &out, &res);
	TEST_CHECK(res.retrans && res.mismatch && res.rewritten);
	ASSERT_MEM_EQ(b, orig + sizeof(orig) - 10, 10);
	/* Older than retained: a retransmission that cannot be compared. */
	k = sizeof(orig) - STREAM_RETAIN_MAX - 10;
	for (i = 0; i < 10; i++)
		b[i] = (uint8_t)~orig[k + i];
	memcpy(want, b, 10);
	stream_segment(&st, &m, isn + (uint32_t)k, b, 10, true, sink, &out,
	    &res);
	TEST_CHECK(res.retrans && !res.mismatch && !res.rewritten);
	ASSERT_MEM_EQ(b, want, 10);
	/* Straddling the retained edge: only the retained half compared. */
	k = sizeof(orig) - STREAM_RETAIN_MAX - 5;
	for (i = 0; i < 10; i++)
		b[i] = (uint8_t)~orig[k + i];
	memcpy(want, b, 5);
	stream_segment(&st, &m, isn + (uint32_t)k, b, 10, true, sink, &out,
	    &res);
	TEST_CHECK(res.retrans && res.mismatch && res.rewritten);
	ASSERT_MEM_EQ(b, want, 5);
	ASSERT_MEM_EQ(b + 5, orig + k + 5, 5);
	ASSERT_INT_EQ(st.mismatches, 2);
	ASSERT_INT_EQ(st.retrans, 3);
	ASSERT_INT_EQ(st.next, last);

	/* Acks release retained bytes; all of them frees the ring. */
	ASSERT_INT_EQ(m.used, STREAM_RETAIN_MAX);
	stream_ack(&st, &m, last - 1000, sink, &out);
	ASSERT_INT_EQ(st.ret_len, 1000);
	TEST_CHECK(check_ring(&st, isn, orig));
	stream_ack(&st, &m, last - 2000, sink, &out);	/* old ack */
	ASSERT_INT_EQ(st.ret_len, 1000);
	stream_ack(&st, &m, last, sink, &out);
	ASSERT_INT_EQ(st.ret_len, 0);
	ASSERT_INT_EQ(st.ret_cap, 0);
	ASSERT_INT_EQ(m.used, 0);
	TEST_CHECK(st.ret == NULL);
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);
	ASSERT_INT_EQ(m.peak, STREAM_RETAIN_MAX);
}

/* One delivered chunk of a big segment retains only its newest bytes. */
static void
test_retain_big_segment(void)
{
	static uint8_t orig[STREAM_RETAIN_MAX * 2 + 3];
	struct stream st;
	struct rg_mem m = mem_new(1 << 20);
	uint32_t r = 99, i;

	for (i = 0; i < sizeof(orig); i++)
		orig[i] = (uint8_t)rnd(&r);
	out_reset();
	stream_init(&st);
	stream_start(&st, 0xfffffff0u);
	stream_segment(&st, &m, 0xfffffff0u, orig, 10, false, sink, &out,
	    NULL);
	stream_segment(&st, &m, 0xfffffffau, orig + 10, sizeof(orig) - 10,
	    false, sink, &out, NULL);
	ASSERT_INT_EQ(st.ret_len, STREAM_RETAIN_MAX);
	TEST_CHECK(check_ring(&st, 0xfffffff0u, orig));
	ASSERT_MEM_EQ(out.buf, orig, sizeof(orig));
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);
}

/*
 * Differential: a random string cut into random, overlapping, duplicated
 * segments fed in random order must come out exactly as it went in.  With
 * differing copies, each byte must come out as its first copy had it, and
 * with rewriting, every segment must leave holding the first copies.
 */
#define DIFF_LEN	2000
#define DIFF_SEGS	128

struct dseg {
	uint32_t off, len;
	uint8_t copy[DIFF_LEN];
};

static void
diff_run(uint32_t seed, bool vary)
{
	static uint8_t orig[DIFF_LEN], first[DIFF_LEN];
	static struct dseg segs[DIFF_SEGS];
	static bool seen[DIFF_LEN];
	struct stream_result res;
	struct stream st;
	struct rg_mem m = mem_new(1 << 20);
	uint32_t r = seed, isn, i, j, n = 0, off, len;
	struct dseg tmp;
	bool rewrite;

	for (i = 0; i < DIFF_LEN; i++)
		orig[i] = (uint8_t)rnd(&r);
	isn = rnd(&r);
	if (rnd(&r) % 2)
		isn = (uint32_t)0 - rnd(&r) % 3000;	/* wraps inside */
	rewrite = rnd(&r) % 2;
	/* Cover the whole string once... */
	for (off = 0; off < DIFF_LEN; off += len) {
		len = 1 + rnd(&r) % 120;
		if (len > DIFF_LEN - off)
			len = DIFF_LEN - off;
		segs[n].off = off;
		segs[n++].len = len;
	}
	/* ...then add random overlapping copies. */
	while (n < DIFF_SEGS && rnd(&r) % 8 != 0) {
		off = rnd(&r) % DIFF_LEN;
		len = 1 + rnd(&r) % 200;
		if (len > DIFF_LEN - off)
			len = DIFF_LEN - off;
		segs[n].off = off;
		segs[n++].len = len;
	}
	for (i = 0; i < n; i++) {
		memcpy(segs[i].copy, orig + segs[i].off, segs[i].len);
		if (vary && rnd(&r) % 3 == 0)
			segs[i].copy[rnd(&r) % segs[i].len] ^= 0x55;
	}
	for (i = n - 1; i > 0; i--) {
		j = rnd(&r) % (i + 1);
		tmp = segs[i]; segs[i] = segs[j]; segs[j] = tmp;
	}
	/* The first copy of each byte, in feeding order. */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < n; i++)
		for (j = 0; j < segs[i].len; j++)
			if (!seen[segs[i].off + j]) {
				seen[segs[i].off + j] = true;
				first[segs[i].off + j] = segs[i].copy[j];
			}

	out_reset();
	stream_init(&st);
	stream_start(&st, isn);
	for (i = 0; i < n; i++) {
		stream_segment(&st, &m, isn + segs[i].off, segs[i].copy,
		    segs[i].len, rewrite, sink, &out, &res);
		if (!check_invariants(&st, &m) || res.refused) {
			TEST_CHECK(!"invariants");
			break;
		}
		if (rewrite)
			ASSERT_MEM_EQ(segs[i].copy, first + segs[i].off,
			    segs[i].len);
		if (!vary)
			TEST_CHECK(!res.mismatch);
		/* Acks at or below next only release retained bytes (not
		 * when rewriting: released bytes can no longer be fixed). */
		if (!rewrite && rnd(&r) % 4 == 0 && st.next != isn)
			stream_ack(&st, &m, st.next - rnd(&r) % (st.next - isn),
			    sink, &out);
		if (!check_ring(&st, isn, first)) {
			TEST_CHECK(!"ring");
			break;
		}
	}
	ASSERT_INT_EQ(out.len, DIFF_LEN);
	ASSERT_MEM_EQ(out.buf, first, DIFF_LEN);
	if (!vary) {
		ASSERT_MEM_EQ(out.buf, orig, DIFF_LEN);
		ASSERT_INT_EQ(st.mismatches, 0);
	}
	ASSERT_INT_EQ(st.gaps, 0);
	ASSERT_INT_EQ(st.ooo_segs, 0);
	ASSERT_INT_EQ(st.next, isn + DIFF_LEN);
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);
}

static void
test_differential(void)
{
	uint32_t seed;
	int before = test_failed_checks;

	for (seed = 1; seed <= 3000; seed++) {
		diff_run(seed, false);
		diff_run(seed, true);
		if (test_failed_checks != before) {
			fprintf(stderr, "  differential seed %u\n", seed);
			break;
		}
	}
}


/*
 * stream_keep: the last bytes stay comparable after the peer acknowledged
 * them, so a faithful late copy is a retransmission and a different one a
 * mismatch; without it the late copy is below what is kept.
 */
static void
test_keep_after_ack(void)
{
	struct rg_mem m = mem_new(1 << 20);
	struct stream_result r;
	struct stream st;
	uint8_t a[] = "250 ok\r\n235 2.7.0 ok\r\n";
	uint8_t same[] = "235 2.7.0 ok\r\n";
	uint8_t other[] = "535 5.7.8 no\r\n";
	uint32_t isn = 5000, n = sizeof(a) - 1, tail = sizeof(same) - 1;

	out_reset();
	stream_init(&st);
	stream_keep(&st, 16);
	stream_syn(&st, isn);
	stream_segment(&st, &m, isn + 1, a, n, false, sink, &out, &r);
	stream_ack(&st, &m, isn + 1 + n, sink, &out);
	ASSERT_INT_EQ(st.ret_len, 16);
	TEST_CHECK(check_invariants(&st, &m));
	stream_segment(&st, &m, isn + 1 + n - tail, same, tail, false, sink,
	    &out, &r);
	TEST_CHECK(r.retrans && !r.mismatch);
	stream_segment(&st, &m, isn + 1 + n - tail, other, tail, false, sink,
	    &out, &r);
	TEST_CHECK(r.retrans && r.mismatch);
	ASSERT_INT_EQ(out.delivered, n);
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);

	/* Without keep everything acknowledged is released. */
	stream_init(&st);
	stream_syn(&st, isn);
	stream_segment(&st, &m, isn + 1, a, n, false, sink, &out, &r);
	stream_ack(&st, &m, isn + 1 + n, sink, &out);
	ASSERT_INT_EQ(st.ret_len, 0);
	stream_free(&st, &m);
	ASSERT_INT_EQ(m.used, 0);
}

int
main(void)
{
	TEST_RUN(test_tables);
	TEST_RUN(test_permutations);
	TEST_RUN(test_rewrite);
	TEST_RUN(test_zero_length_and_start);
	TEST_RUN(test_window);
	TEST_RUN(test_ack_gap);
	TEST_RUN(test_gap_drops_retained);
	TEST_RUN(test_ooo_caps);
	TEST_RUN(test_budget);
	TEST_RUN(test_retain_ring);
	TEST_RUN(test_retain_big_segment);
	TEST_RUN(test_differential);
	TEST_RUN(test_keep_after_ack);
	return TEST_END("stream");
}
