/*
 * stream.h — TCP reassembly of one direction of a connection.
 *
 * Bytes are handed to a sink strictly in sequence order, each byte once.
 * Segments that arrive early wait in a sorted list; where copies of the
 * same sequence range differ, the first copy seen wins (it is the one that
 * was, or will be, inspected), and the difference is counted.  Delivered
 * bytes stay retained until the peer acknowledges them, so that a
 * retransmission can be compared with what was inspected (and, inline,
 * rewritten back to it).
 *
 * Sequence numbers compare modulo 2^32 (RFC 793, section 3.3; the macros
 * below are the ones every TCP stack uses).
 */
#ifndef STREAM_H
#define STREAM_H

#include "rg.h"

#define SEQ_LT(a, b)	((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b)	((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)	((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b)	((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)

#define STREAM_OOO_MAX		(256u * 1024)	/* early bytes per direction */
#define STREAM_RETAIN_MAX	(64u * 1024)	/* delivered, unacked bytes */
#define STREAM_OOO_SEGS_MAX	1024u		/* early segments per direction */
/* A segment ending more than this beyond next, or an ack this far ahead,
 * is outside any plausible window and ignored. */
#define STREAM_WINDOW		(1u << 30)

/*
 * The sink receives in-order bytes.  gap_before > 0 says that many bytes
 * were lost just before data (capture loss, or a cap forced a skip); the
 * sink may then be called with len 0 to report only the gap.
 */
typedef void (*stream_sink_fn)(void *ctx, const uint8_t *data, size_t len,
    uint32_t gap_before);

struct stream_seg;

struct stream {
	bool started;		/* next is meaningful */
	bool fin_seen;
	uint32_t next;		/* next sequence number to deliver */
	uint32_t fin_seq;	/* sequence number of the FIN */
	struct stream_seg *ooo;	/* early segments, sorted, not overlapping */
	uint32_t ooo_bytes;	/* payload bytes in ooo */
	uint32_t ooo_segs;	/* number of segments in ooo */
	/* Retained delivered bytes: a ring holding [next - ret_len, next). */
	uint8_t *ret;
	uint32_t ret_len;
	uint32_t ret_cap;	/* ring size: 0 or a power of two */
	/* Inline: every byte the peer has went through us, so an ACK beyond
	 * what we saw is forged (or came through a bypass): never skip a
	 * hole for it, count it in acked_unseen for the caller to act on. */
	bool no_gap_skip;
	/* Delivered bytes kept after the peer acknowledged them, up to this
	 * many (stream_keep): a late copy of them can still be compared, so a
	 * faithful retransmission is told from a conflicting one. */
	uint16_t keep;
	/* counters */
	uint64_t bytes;		/* delivered */
	uint64_t gaps, gap_bytes;
	uint64_t retrans;	/* segments wholly or partly seen before */
	uint64_t mismatches;	/* overlapping copies that differed */
	uint64_t refused;	/* early segments not stored: caps */
	uint64_t acked_unseen;	/* no_gap_skip: ACKs beyond what we saw */
};

/* Outcome of one stream_segment() call. */
struct stream_result {
	uint32_t delivered;	/* bytes delivered by this call */
	bool retrans;		/* some bytes were already seen */
	bool mismatch;		/* ...and some of them differed */
	bool rewritten;		/* differing bytes rewritten in place */
	bool stored;		/* early data kept for later */
	bool refused;		/* early data dropped: a cap was hit */
};

void stream_init(struct stream *st);
/* Never skip holes on the peer's ACKs (inline; see struct stream). */
void stream_no_gap_skip(struct stream *st);
/* Keep the last n delivered bytes even once acknowledged (struct stream);
 * at most STREAM_RETAIN_MAX. */
void stream_keep(struct stream *st, uint16_t n);
/* The SYN (or SYN-ACK) carried seq: data starts at seq + 1.  No effect
 * once the stream has started (free and re-init it for a new connection). */
void stream_syn(struct stream *st, uint32_t seq);
/* Pick up a stream in the middle: data starts at seq.  No effect once
 * started. */
void stream_start(struct stream *st, uint32_t seq);

/*
 * Insert a segment's payload.  Delivers whatever becomes contiguous through
 * sink.  If rewrite is true, bytes of data that differ from a copy seen
 * first are overwritten in place with that copy (data must then be
 * writable; the caller fixes the checksum).
 */
void stream_segment(struct stream *st, struct rg_mem *m, uint32_t seq,
    uint8_t *data, uint32_t len, bool rewrite, stream_sink_fn sink,
    void *ctx, struct stream_result *res);

/* The FIN of this direction was at seq (after any payload). */
void stream_fin(struct stream *st, uint32_t seq);

/*
 * The peer acknowledged everything before ack: retained bytes below it are
 * released, and if the peer has bytes we never saw (ack beyond next while
 * early segments wait at or below ack), the hole is skipped as a gap.
 */
void stream_ack(struct stream *st, struct rg_mem *m, uint32_t ack,
    stream_sink_fn sink, void *ctx);

/* End of the connection (or of the capture): deliver every early segment,
 * skipping holes as gaps. */
void stream_flush(struct stream *st, struct rg_mem *m, stream_sink_fn sink,
    void *ctx);

/* Bytes this stream holds charged to the budget. */
size_t stream_buffered(const struct stream *st);

void stream_free(struct stream *st, struct rg_mem *m);

#endif
