/*
 * blockset.h — the blocks the engine decided, in packet time.  Inline the
 * kernel's sets carry them out (daemon/blocks.c); the engine keeps them so
 * that a client earns no new offence while its block lasts (nor, in mode
 * monitor, while it would last).  Replay carrying out mode enforce also
 * drops the packets of a client whose block is marked enforced, as the
 * kernel's set would.
 *
 * An entry stays after its block expires (a later block of the same client
 * reuses it), so the set also counts the distinct clients ever blocked.
 * The set is bounded: at most BLOCKSET_MAX clients; past that a block is
 * not simulated (blockset_add() says so and the caller counts it).
 */
#ifndef BLOCKSET_H
#define BLOCKSET_H

#include "rg.h"
#include "cidr.h"

#define BLOCKSET_MAX 65536

struct blockset_entry {
	struct rg_addr addr;
	rg_time_t from, until;	/* the current (or last) block, usec */
	uint32_t offences;	/* as the engine's policy counted them */
	uint32_t blocks;	/* blocks of this client so far */
	bool enforced;		/* replay: its packets are dropped */
};

struct blockset {
	struct blockset_entry *slot;	/* open addressing; family 0: free */
	uint32_t cap, len;		/* cap a power of two, len <= cap/2 */
};

void blockset_init(struct blockset *s);
void blockset_free(struct blockset *s);

/* Block addr from now for duration (a block in force is replaced, as the
 * kernel's element timeout is; enforced starts false).  Its entry, valid
 * until the next blockset_add(); NULL if the set is full or out of memory:
 * the block is then not remembered. */
struct blockset_entry *blockset_add(struct blockset *s,
    const struct rg_addr *addr, rg_time_t now, rg_time_t duration,
    uint32_t offences);

/* End at once the blocks of every address inside net (an operator's
 * unblock): those clients may earn offences again. */
void blockset_lift(struct blockset *s, const struct cidr *net);

/* The block of addr in force at now, or NULL (never blocked, or expired:
 * the kernel drops an element when its timeout passes). */
const struct blockset_entry *blockset_find(const struct blockset *s,
    const struct rg_addr *addr, rg_time_t now);

/* Distinct clients ever blocked. */
uint32_t blockset_clients(const struct blockset *s);

#endif
