/*
 * offtable.h — the offence tracker the engine consults on a relay attempt:
 * the attempt counts (policy.h) and the memory of blocks in force
 * (blockset.h), one step under one lock.
 *
 * An engine alone (replay, the unit tests) keeps its own policy and
 * blockset and calls offence_step() on them without locking.  The daemon
 * runs one engine per queue worker, and the kernel's queue-balance hash
 * spreads one client's connections to two servers over two workers: so it
 * makes one struct offtable, shared by every engine (engine_share()), and
 * a client is blocked after block-after attempts whichever queues saw
 * them.
 *
 * Why here and not in the daemon: the table is plain data structures and
 * pthread mutexes (no system call of its own; a contended mutex waits in
 * the futex the worker's seccomp filter already allows), and keeping it
 * next to policy.c lets the unit tests hammer it from threads without a
 * daemon.  The table is striped: NSTRIPES independent (mutex, policy,
 * blockset) triples, the stripe chosen by a keyed hash of the client
 * address.  Only relay attempts (and the operator's forget, unblock and
 * reload, which visit every stripe in turn) take a stripe's lock; no
 * packet takes it, and two workers contend only for the same stripe.
 */
#ifndef OFFTABLE_H
#define OFFTABLE_H

#include "rg.h"
#include "cidr.h"
#include "blockset.h"
#include "policy.h"

#define OFFTABLE_STRIPES 16	/* a power of two */

enum offence_result {
	OFFENCE_IN_FORCE,	/* blocked already: no new offence counted */
	OFFENCE_COUNTED,	/* counted, below block-after */
	OFFENCE_THRESHOLD,	/* block-after reached: *b says what to do */
};

/*
 * One relay attempt by client at now, on policy p and the blocks in force
 * s: nothing if a block is in force, else policy_offence(); on reaching
 * the threshold (and not never-block) the block is remembered in s.  Only
 * then is *entry (entry may be NULL) set: to the block's blockset entry,
 * NULL if it could not be remembered or is never-block.  *b is filled
 * whenever OFFENCE_THRESHOLD is returned.
 */
enum offence_result offence_step(struct policy *p, struct blockset *s,
    const struct rg_addr *client, rg_time_t now, struct policy_block *b,
    struct blockset_entry **entry);

struct offtable;

/* A table whose stripes each remember up to params->max_clients clients. */
struct offtable *offtable_new(const struct policy_params *params);
void offtable_free(struct offtable *t);

/* offence_step() under the client's stripe lock; *unremembered says the
 * block could not be remembered (the stripe's blockset is full). */
enum offence_result offtable_step(struct offtable *t,
    const struct rg_addr *client, rg_time_t now, struct policy_block *b,
    bool *unremembered);

/* As policy_set_params(), policy_forget() and blockset_lift(), on every
 * stripe. */
void offtable_set_params(struct offtable *t, const struct policy_params *p);
uint32_t offtable_forget(struct offtable *t, const struct cidr *net);
void offtable_unblock(struct offtable *t, const struct cidr *net);

/* Is a block of client in force at now? */
bool offtable_blocked(struct offtable *t, const struct rg_addr *client,
    rg_time_t now);

#endif
