/*
 * rg.h — basic types shared by every module of the filters/ pipeline.
 *
 * The pipeline is pure: bytes and packet timestamps in, events and verdicts
 * out.  Nothing in filters/ makes a system call; memory use is bounded by an
 * explicit budget (struct rg_mem) that every buffer allocation is charged to.
 */
#ifndef RG_H
#define RG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Packet time: microseconds since the Unix epoch, taken from the capture. */
typedef uint64_t rg_time_t;
#define RG_USEC_PER_SEC 1000000ULL

/* An IPv4 or IPv6 address; IPv4 lives in bytes[0..3], the rest zero. */
#define RELAYGUARD_VERSION "0.1.0"

struct rg_addr {
	uint8_t family;		/* 4 or 6; 0 = unset */
	uint8_t bytes[16];
};

#define RG_ADDRSTRLEN 46	/* INET6_ADDRSTRLEN */

/* Format as inet_ntop() would ("192.0.2.1", "2001:db8::1"); returns buf. */
const char *rg_addr_str(const struct rg_addr *a, char *buf, size_t len);
/* Parse a textual IPv4/IPv6 address (no prefix); false if invalid. */
bool rg_addr_parse(const char *s, size_t len, struct rg_addr *out);
bool rg_addr_eq(const struct rg_addr *a, const struct rg_addr *b);

/*
 * Memory carved, never handed back one piece at a time, out of regions of
 * RG_REGION bytes, each one huge page where the kernel has them
 * (MADV_HUGEPAGE): one page fault a region instead of one every 4 KiB,
 * which on a virtual machine cost microseconds each.  For what lives
 * until its owner goes (flows, replay's buffers).  Zeroed: empty.
 */
#define RG_REGION (2u << 20)

struct rg_region;
struct rg_regions {
	struct rg_region *newest;
	size_t used;			/* bytes carved from the newest */
};

/* n bytes (at most RG_REGION - 64), 8-aligned if n is a multiple of 8;
 * NULL when out of memory. */
void *rg_region_carve(struct rg_regions *r, size_t n);
/* Every region goes. */
void rg_regions_free(struct rg_regions *r);

/*
 * Memory budget.  Every byte buffered by the flow table, the reassembler or
 * the SMTP parser is charged here; a charge that would exceed cap fails and
 * the caller degrades (drops the buffered data, counts it) instead of growing.
 */
/* Block pool classes: 64 bytes to 64 KiB, powers of two. */
#define RG_POOL_CLASSES 11
#define RG_POOL_MAX (2u << 20)	/* bytes of free blocks kept at most */

struct rg_mem {
	size_t used;
	size_t cap;
	size_t peak;
	uint64_t refused;	/* charges refused because of cap */
	/* With pooling on (rg_mem_pool()), blocks of a power-of-two size
	 * freed through rg_block_free() wait here for the next
	 * rg_block_alloc() of their size: sessions that end hand their
	 * buffers to the sessions that begin, and steady traffic calls
	 * malloc() no more.  Only the owner's thread may use it. */
	bool pooling;
	size_t pool_bytes;
	void *pool[RG_POOL_CLASSES];
	uint64_t pool_hits, pool_misses;
	/* Arena mode (rg_mem_arena()): blocks of the pool's sizes are carved
	 * out of regions (rg_region_carve) instead of malloc()ed, and freed ones
	 * all wait in the pool until rg_mem_pool_drain() frees the regions. */
	bool arena;
	struct rg_regions arenas;
};

bool rg_mem_charge(struct rg_mem *m, size_t n);
void rg_mem_release(struct rg_mem *m, size_t n);
/* Turn pooling on; rg_mem_pool_drain() frees what it holds (before m
 * goes). */
void rg_mem_pool(struct rg_mem *m);
void rg_mem_pool_drain(struct rg_mem *m);
/*
 * Turn arena mode on (pooling too), before anything is allocated from m:
 * for a short-lived process (replay), where giving memory back does not
 * matter and the page faults and malloc() calls it saves do.  A region is
 * one huge page where the kernel has them.  What m holds is then the sum
 * of each block size's peak use, never less until the drain.  Builds with
 * AddressSanitizer keep malloc(), so it still sees every block's bounds.
 */
void rg_mem_arena(struct rg_mem *m);
/* malloc()/free() of n bytes through m's pool (n must be the same at
 * both ends).  The budget is not charged: callers charge what they keep. */
void *rg_block_alloc(struct rg_mem *m, size_t n);
void rg_block_free(struct rg_mem *m, void *p, size_t n);

/*
 * A growable byte buffer charged to an rg_mem.  len never exceeds the limit
 * given to rg_buf_append().  rg_buf_free() accepts a zeroed buffer.
 */
struct rg_buf {
	uint8_t *data;
	uint32_t len;
	uint32_t cap;
};

/* Append n bytes; false (buffer unchanged) if len+n > limit or the budget
 * refuses.  */
bool rg_buf_append(struct rg_buf *b, struct rg_mem *m, const void *p,
    size_t n, size_t limit);
/* Remove the first n bytes (n <= len). */
void rg_buf_consume(struct rg_buf *b, size_t n);
void rg_buf_free(struct rg_buf *b, struct rg_mem *m);

/* ASCII helpers that never depend on the locale. */
static inline int rg_lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
bool rg_strncaseeq(const char *a, const char *b, size_t n);

/*
 * A counter's description, for the tables that drive status and metrics
 * (engine.h ENGINE_STATS, the daemon's own): where it lives in its struct
 * (offset of a uint64_t), what it is called, and how it is shown.
 */
enum rg_stat_kind { RG_STAT_COUNTER, RG_STAT_GAUGE };
enum rg_stat_group {
	RG_STAT_TRAFFIC, RG_STAT_INSPECTION, RG_STAT_NORMALISATION,
	RG_STAT_ENFORCEMENT, RG_STAT_BLOCKS, RG_STAT_QUEUE, RG_STAT_EVENTS,
	RG_STAT_MEMORY, RG_STAT_REPLAY, RG_STAT__GROUPS
};
struct rg_stat {
	const char		*name;	/* status name; metric relayguard_NAME */
	size_t			 offset;
	enum rg_stat_kind	 kind;
	enum rg_stat_group	 group;
	const char		*unit;	/* "bytes", "packets", ... */
	const char		*help;
};
/* "traffic", "inspection", ... */
const char *rg_stat_group_name(enum rg_stat_group g);

#endif
