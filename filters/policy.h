/*
 * policy.h — the relay decision and offender tracking.
 *
 * policy_judge() says whether one RCPT is a relay attempt; policy_offence()
 * counts attempts per client in a sliding window of packet time and says
 * when a client reaches block-after.  The tracker is bounded: at most
 * max_clients addresses are remembered, the least recently seen forgotten
 * first.
 */
#ifndef POLICY_H
#define POLICY_H

#include "rg.h"
#include "address.h"
#include "cidr.h"

#define POLICY_MAX_BLOCK_AFTER 1000

enum policy_verdict {
	POLICY_LOCAL,		/* destination is local: never a relay */
	POLICY_ALLOWED_NETWORK,	/* foreign, but client in relay-networks */
	POLICY_ALLOWED_AUTH,	/* foreign, but session authenticated */
	POLICY_RELAY_ATTEMPT,	/* foreign from an unauthorised client */
};

struct policy_params {
	const struct addr_domains *local_domains;
	const struct cidr_set *relay_networks;
	const struct cidr_set *never_block;	/* never blocked; may be NULL */
	uint32_t block_after;		/* attempts; >= 1 */
	rg_time_t attempt_window;	/* usec */
	rg_time_t block_for;		/* usec, first offence */
	rg_time_t block_for_max;	/* usec */
	rg_time_t offence_memory;	/* usec; 0: offences never forgotten */
	uint32_t max_clients;		/* tracker capacity */
};

struct policy;

struct policy *policy_new(const struct policy_params *p);
void policy_free(struct policy *p);
/* Swap parameters (configuration reload); tracked clients are kept. */
void policy_set_params(struct policy *p, const struct policy_params *params);

enum policy_verdict policy_judge(const struct policy *p,
    const struct rg_addr *client, const struct rg_addr *server,
    bool authenticated, const struct addr_path *path);

struct policy_block {
	uint32_t attempts;	/* attempts inside the window */
	uint32_t offences;	/* blocks of this client, this one included,
				 * since it last went offence-memory without
				 * one */
	rg_time_t duration;	/* block-for doubled per earlier offence */
	bool never_block;	/* client in never-block: not to be applied */
};

/* Record one relay attempt by client at time now.  Returns true exactly
 * when this attempt makes block-after attempts inside attempt-window; then
 * *b says for how long, and the attempt count starts again.  For a client
 * in never-block it still returns true (the threshold was reached and is
 * worth reporting) but sets b->never_block, counts no offence and gives
 * duration 0: the block is not to be applied. */
bool policy_offence(struct policy *p, const struct rg_addr *client,
    rg_time_t now, struct policy_block *b);

/* Forget the attempts and offences of every client inside net (the
 * operator's `forget`): their next attempts count from zero.  Returns how
 * many tracked clients were forgotten. */
uint32_t policy_forget(struct policy *p, const struct cidr *net);

/* Is the client inside relay-networks (may relay, never judged)? */
bool policy_trusted(const struct policy *p, const struct rg_addr *client);
/* Is the client inside never-block (judged and reset, never blocked)? */
bool policy_never_block(const struct policy *p, const struct rg_addr *client);

const char *policy_verdict_str(enum policy_verdict v);

#endif
