/*
 * nft_ruleset.c — the table, its sets and chains and their rules: setup
 * (create or adopt the table, replace the chains in one transaction, fall
 * back from the native queue expression to the compat NFQUEUE target) and
 * the clean stop that removes the queue chains.
 */
#include <sys/socket.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/xt_NFQUEUE.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "nft.h"
#include "nft_int.h"

/* Our chains by name, in the order a replacement deletes them. */
static const struct {
	unsigned int	 bit;
	const char	*name;
} nft_chains_ours[] = {
	{ NFT_CH_BLOCK,		NFT_CHAIN_BLOCK },
	{ NFT_CH_QUEUE,		NFT_CHAIN_QUEUE },
	{ NFT_CH_QUEUE_OUT,	NFT_CHAIN_QUEUE_OUT },
	{ NFT_CH_OFFLOAD,	NFT_CHAIN_OFFLOAD },
	{ NFT_CH_OFFLOAD_OUT,	NFT_CHAIN_OFFLOAD_OUT },
};
#define NFT_NCHAINS \
	(sizeof(nft_chains_ours) / sizeof(nft_chains_ours[0]))

/* --- ruleset objects ------------------------------------------------- */

static int
nft_add_table(struct nft_ctx *ctx, struct nft_batch *b)
{
	struct nftnl_table *t;
	struct nlmsghdr *nlh;

	if ((t = nftnl_table_alloc()) == NULL)
		return -1;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE) < 0 ||
	    (nlh = nft_batch_msg(ctx, b, NFT_MSG_NEWTABLE, NLM_F_CREATE,
	    "add table inet " NFT_TABLE)) == NULL) {
		nftnl_table_free(t);
		return -1;
	}
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	nft_batch_push(b, nlh);
	return 0;
}

static int
nft_add_set(struct nft_ctx *ctx, struct nft_batch *b, const char *name,
    uint32_t type, uint32_t keylen, uint32_t id, uint32_t flags)
{
	struct nftnl_set *s;
	struct nlmsghdr *nlh;
	char what[64];

	if ((s = nftnl_set_alloc()) == NULL)
		return -1;
	snprintf(what, sizeof(what), "add set %s", name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, keylen);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	/* NLM_F_CREATE without NLM_F_EXCL: an existing set of the same
	 * definition is adopted with its elements. */
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, name) < 0 ||
	    (nlh = nft_batch_msg(ctx, b, NFT_MSG_NEWSET, NLM_F_CREATE,
	    what)) == NULL) {
		nftnl_set_free(s);
		return -1;
	}
	nftnl_set_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	nft_batch_push(b, nlh);
	return 0;
}

static int
nft_chain_msg(struct nft_ctx *ctx, struct nft_batch *b, uint16_t type,
    const char *name, int hooknum, int prio)
{
	struct nftnl_chain *c;
	struct nlmsghdr *nlh;
	char what[64];

	if ((c = nftnl_chain_alloc()) == NULL)
		return -1;
	snprintf(what, sizeof(what), "%s chain %s",
	    type == NFT_MSG_DELCHAIN ? "delete" : "add", name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0)
		goto fail;
	if (type == NFT_MSG_NEWCHAIN) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hooknum);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
		if (nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter") < 0)
			goto fail;
	}
	if ((nlh = nft_batch_msg(ctx, b, type,
	    type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE : 0, what)) == NULL)
		goto fail;
	nftnl_chain_nlmsg_build_payload(nlh, c);
	nftnl_chain_free(c);
	nft_batch_push(b, nlh);
	return 0;
fail:
	nftnl_chain_free(c);
	return -1;
}

/* Delete those of our chains whose bits are in mask. */
static int
nft_del_chains(struct nft_ctx *ctx, struct nft_batch *b, unsigned int mask)
{
	size_t i;

	for (i = 0; i < NFT_NCHAINS; i++)
		if ((mask & nft_chains_ours[i].bit) && nft_chain_msg(ctx, b,
		    NFT_MSG_DELCHAIN, nft_chains_ours[i].name, 0, 0) == -1)
			return -1;
	return 0;
}

/* Append e to r; a NULL e (failed allocation) poisons the rule. */
static int
nft_expr(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (e == NULL)
		return -1;
	nftnl_rule_add_expr(r, e);
	return 0;
}

static struct nftnl_expr *
nft_expr_meta(uint32_t key)
{
	struct nftnl_expr *e;

	if ((e = nftnl_expr_alloc("meta")) == NULL)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return e;
}

/* `ct mark` into register 1 (ct mark set: sreg, from register 1). */
static struct nftnl_expr *
nft_expr_ct_mark(int set)
{
	struct nftnl_expr *e;

	if ((e = nftnl_expr_alloc("ct")) == NULL)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
	nftnl_expr_set_u32(e, set ? NFTNL_EXPR_CT_SREG : NFTNL_EXPR_CT_DREG,
	    NFT_REG_1);
	return e;
}

/* `meta mark set` from register 1. */
static struct nftnl_expr *
nft_expr_meta_set_mark(void)
{
	struct nftnl_expr *e;

	if ((e = nftnl_expr_alloc("meta")) == NULL)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
	return e;
}

/* Register 1 (32 bits) = (register 1 & mask) ^ xor. */
static struct nftnl_expr *
nft_expr_bitwise(uint32_t mask, uint32_t xor)
{
	struct nftnl_expr *e;

	if ((e = nftnl_expr_alloc("bitwise")) == NULL)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, sizeof(xor));
	return e;
}

static struct nftnl_expr *
nft_expr_cmp_eq(const void *data, uint32_t len)
{
	struct nftnl_expr *e;

	if ((e = nftnl_expr_alloc("cmp")) == NULL)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	return e;
}

static struct nftnl_expr *
nft_expr_cmp_neq(const void *data, uint32_t len)
{
	struct nftnl_expr *e = nft_expr_cmp_eq(data, len);

	if (e != NULL)
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_NEQ);
	return e;
}

static struct nftnl_expr *
nft_expr_payload(uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e;

	if ((e = nftnl_expr_alloc("payload")) == NULL)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	return e;
}

static struct nftnl_expr *
nft_expr_lookup(const char *set)
{
	struct nftnl_expr *e;

	if ((e = nftnl_expr_alloc("lookup")) == NULL)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0) {
		nftnl_expr_free(e);
		return NULL;
	}
	return e;
}

static struct nftnl_expr *
nft_expr_verdict(int verdict)
{
	struct nftnl_expr *e;

	if ((e = nftnl_expr_alloc("immediate")) == NULL)
		return NULL;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	return e;
}

static struct nftnl_expr *
nft_expr_queue(const struct nft_setup_params *p, int native)
{
	struct nftnl_expr *e;
	uint16_t total = (uint16_t)(p->queue_last - p->queue_first + 1);
	uint16_t flags = 0;

	if (p->bypass)
		flags |= NFT_QUEUE_FLAG_BYPASS;
	if (p->cpu_fanout && total > 1)
		flags |= NFT_QUEUE_FLAG_CPU_FANOUT;
	if (native) {
		if ((e = nftnl_expr_alloc("queue")) == NULL)
			return NULL;
		nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_NUM, p->queue_first);
		nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_TOTAL, total);
		nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_FLAGS, flags);
	} else {
		/*
		 * The xtables target through nft_compat, as iptables-nft
		 * installs it: the kernel wants the target's info padded
		 * to XT_ALIGN (8 bytes for the 6-byte xt_NFQ_info_v3).
		 * libnftnl takes ownership of the info buffer and frees it
		 * with the expression, so it must come from the heap.
		 */
		struct xt_NFQ_info_v3 *info;
		const size_t infolen = 8;

		if ((e = nftnl_expr_alloc("target")) == NULL)
			return NULL;
		if ((info = calloc(1, infolen)) == NULL ||
		    nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, "NFQUEUE") < 0) {
			free(info);
			nftnl_expr_free(e);
			return NULL;
		}
		info->queuenum = p->queue_first;
		info->queues_total = total;
		info->flags = flags;
		nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, 3);
		nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, info, infolen);
	}
	return e;
}

static struct nftnl_rule *
nft_rule_new(const char *chain)
{
	struct nftnl_rule *r;

	if ((r = nftnl_rule_alloc()) == NULL)
		return NULL;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0) {
		nftnl_rule_free(r);
		return NULL;
	}
	return r;
}

/* Put r into the batch and free it (also when ok is false). */
static int
nft_rule_push(struct nft_ctx *ctx, struct nft_batch *b, struct nftnl_rule *r,
    int ok, const char *what)
{
	struct nlmsghdr *nlh;

	if (r == NULL)
		return -1;
	if (!ok || (nlh = nft_batch_msg(ctx, b, NFT_MSG_NEWRULE,
	    NLM_F_CREATE | NLM_F_APPEND, what)) == NULL) {
		nftnl_rule_free(r);
		errno = errno == 0 ? ENOMEM : errno;
		return -1;
	}
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	nft_batch_push(b, nlh);
	return 0;
}

/*
 * `ip saddr @blocked4 counter drop` or its IPv6 twin; with port != 0
 * `tcp dport PORT ip saddr @blocked4 counter drop`.  The port is compared
 * before the set lookup: the block chain sees every packet on the hook,
 * and most of them are then turned away by two cheap comparisons, so even
 * with one rule per port a packet costs at most one lookup.
 */
static int
nft_add_drop_rule(struct nft_ctx *ctx, struct nft_batch *b, int family,
    uint16_t port)
{
	struct nftnl_rule *r = nft_rule_new(NFT_CHAIN_BLOCK);
	uint8_t proto = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	uint8_t tcp = IPPROTO_TCP;
	uint16_t nport = htons(port);
	char what[96];
	int ok;

	if (r == NULL)
		return -1;
	ok = nft_expr(r, nft_expr_meta(NFT_META_NFPROTO)) == 0 &&
	    nft_expr(r, nft_expr_cmp_eq(&proto, sizeof(proto))) == 0;
	if (ok && port != 0)
		ok = nft_expr(r, nft_expr_meta(NFT_META_L4PROTO)) == 0 &&
		    nft_expr(r, nft_expr_cmp_eq(&tcp, sizeof(tcp))) == 0 &&
		    nft_expr(r, nft_expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER,
		    2, 2)) == 0 &&
		    nft_expr(r, nft_expr_cmp_eq(&nport, sizeof(nport))) == 0;
	/* IPv4 source at offset 12 (4 bytes), IPv6 at 8 (16 bytes). */
	ok = ok && nft_expr(r, nft_expr_payload(NFT_PAYLOAD_NETWORK_HEADER,
	    family == AF_INET ? 12 : 8, family == AF_INET ? 4 : 16)) == 0 &&
	    nft_expr(r, nft_expr_lookup(family == AF_INET ? NFT_SET4 :
	    NFT_SET6)) == 0 &&
	    nft_expr(r, nftnl_expr_alloc("counter")) == 0 &&
	    nft_expr(r, nft_expr_verdict(NF_DROP)) == 0;
	if (port == 0)
		snprintf(what, sizeof(what), "add rule block: %s saddr @%s "
		    "drop", family == AF_INET ? "ip" : "ip6",
		    family == AF_INET ? NFT_SET4 : NFT_SET6);
	else
		snprintf(what, sizeof(what), "add rule block: tcp dport %u "
		    "%s saddr @%s drop", port, family == AF_INET ? "ip" : "ip6",
		    family == AF_INET ? NFT_SET4 : NFT_SET6);
	return nft_rule_push(ctx, b, r, ok, what);
}

/* The block chain's rules: per family, one for everything or one per
 * protected port. */
static int
nft_add_drop_rules(struct nft_ctx *ctx, struct nft_batch *b,
    const struct nft_setup_params *p)
{
	static const int families[] = { AF_INET, AF_INET6 };
	size_t f, i;

	for (f = 0; f < 2; f++) {
		if (p->block_scope == NFT_BLOCK_ALL) {
			if (nft_add_drop_rule(ctx, b, families[f], 0) == -1)
				return -1;
			continue;
		}
		for (i = 0; i < p->nports; i++)
			if (nft_add_drop_rule(ctx, b, families[f],
			    p->ports[i]) == -1)
				return -1;
	}
	return 0;
}

/*
 * `tcp dport P queue ...` (sport when dir_src).  With servers the rule
 * first looks the server's address up in the servers set of family:
 * `ip daddr @servers4 tcp dport P`, `ip saddr @servers4 tcp sport P` (the
 * server is the destination of dport packets, the source of sport ones);
 * without, every address (family 0: both families).  With trusted the
 * rule accepts instead when the client's address (the other one) is in
 * the trusted set of family: a client in relay-networks is never queued.
 */
static int
nft_add_port_rule(struct nft_ctx *ctx, struct nft_batch *b,
    const char *chain, uint16_t port, int dir_src, int family, int servers,
    int trusted, const struct nft_setup_params *p, int native)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	uint8_t tcp = IPPROTO_TCP;
	uint8_t proto = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	uint16_t nport = htons(port);
	/* IPv4 source at offset 12, destination at 16 (4 bytes); IPv6 at
	 * 8 and 24 (16 bytes).  The server is the destination of dport
	 * packets; the client the other end. */
	uint32_t alen = family == AF_INET ? 4 : 16;
	uint32_t soff = family == AF_INET ? (dir_src ? 12 : 16) :
	    (dir_src ? 8 : 24);
	uint32_t coff = family == AF_INET ? (dir_src ? 16 : 12) :
	    (dir_src ? 24 : 8);
	const char *ip = family == AF_INET ? "ip" : "ip6";
	char what[160];
	int ok;

	if (r == NULL)
		return -1;
	snprintf(what, sizeof(what), "add rule %s: %s%s%s%stcp %s %u %s%s%s%s",
	    chain, family == 0 ? "" : ip, family == 0 ? "" : " ",
	    servers ? (dir_src ? "saddr @" : "daddr @") : "",
	    servers ? (family == AF_INET ? NFT_SERVERS4 " " :
	    NFT_SERVERS6 " ") : "", dir_src ? "sport" : "dport", port,
	    trusted ? (dir_src ? "daddr @" : "saddr @") : "",
	    trusted ? (family == AF_INET ? NFT_TRUSTED4 : NFT_TRUSTED6) : "",
	    trusted ? " accept" : "queue (",
	    trusted ? "" : native ? "native queue expression)" :
	    "compat NFQUEUE target)");
	ok = (family == 0 ||
	    (nft_expr(r, nft_expr_meta(NFT_META_NFPROTO)) == 0 &&
	    nft_expr(r, nft_expr_cmp_eq(&proto, sizeof(proto))) == 0)) &&
	    (!servers ||
	    (nft_expr(r, nft_expr_payload(NFT_PAYLOAD_NETWORK_HEADER, soff,
	    alen)) == 0 &&
	    nft_expr(r, nft_expr_lookup(family == AF_INET ? NFT_SERVERS4 :
	    NFT_SERVERS6)) == 0)) &&
	    nft_expr(r, nft_expr_meta(NFT_META_L4PROTO)) == 0 &&
	    nft_expr(r, nft_expr_cmp_eq(&tcp, sizeof(tcp))) == 0 &&
	    nft_expr(r, nft_expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER,
	    dir_src ? 0 : 2, 2)) == 0 &&
	    nft_expr(r, nft_expr_cmp_eq(&nport, sizeof(nport))) == 0;
	if (trusted)
		ok = ok && nft_expr(r, nft_expr_payload(
		    NFT_PAYLOAD_NETWORK_HEADER, coff, alen)) == 0 &&
		    nft_expr(r, nft_expr_lookup(family == AF_INET ?
		    NFT_TRUSTED4 : NFT_TRUSTED6)) == 0 &&
		    nft_expr(r, nftnl_expr_alloc("counter")) == 0 &&
		    nft_expr(r, nft_expr_verdict(NF_ACCEPT)) == 0;
	else
		ok = ok &&
		    /* `meta mark != M`: the daemon's own resets are not
		     * queued. */
		    (p->skip_mark == 0 ||
		    (nft_expr(r, nft_expr_meta(NFT_META_MARK)) == 0 &&
		    nft_expr(r, nft_expr_cmp_neq(&p->skip_mark,
		    sizeof(p->skip_mark))) == 0)) &&
		    nft_expr(r, nftnl_expr_alloc("counter")) == 0 &&
		    nft_expr(r, nft_expr_queue(p, native)) == 0;
	return nft_rule_push(ctx, b, r, ok, what);
}

/*
 * The rules of one port in chain: first the trusted clients' accept per
 * family that has relay networks, then the queue rule: for every address when no servers are
 * given, else one per family looking the server up.
 */
static int
nft_add_queue_rules(struct nft_ctx *ctx, struct nft_batch *b,
    const char *chain, uint16_t port, int dir_src,
    const struct nft_setup_params *p, int native)
{
	static const int families[] = { AF_INET, AF_INET6 };
	int servers = p->nservers > 0;
	size_t f, i;

	for (f = 0; f < 2; f++) {
		/* Only for a family that has trusted networks. */
		for (i = 0; i < p->ntrusted; i++)
			if (p->trusted[i].net.family == (families[f] == AF_INET ? 4 : 6))
				break;
		if (i < p->ntrusted && nft_add_port_rule(ctx, b, chain, port,
		    dir_src, families[f], servers, 1, p, native) == -1)
			return -1;
	}
	if (!servers)
		return nft_add_port_rule(ctx, b, chain, port, dir_src, 0, 0, 0,
		    p, native);
	if (nft_add_port_rule(ctx, b, chain, port, dir_src, AF_INET, 1, 0, p,
	    native) == -1 ||
	    nft_add_port_rule(ctx, b, chain, port, dir_src, AF_INET6, 1, 0, p,
	    native) == -1)
		return -1;
	return 0;
}

/* `ct mark and M == V counter accept`: an offloaded connection. */
static int
nft_add_offload_accept(struct nft_ctx *ctx, struct nft_batch *b,
    const char *chain, const struct nft_setup_params *p)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	char what[96];
	int ok;

	if (r == NULL)
		return -1;
	snprintf(what, sizeof(what), "add rule %s: ct mark and 0x%08x == "
	    "0x%08x accept", chain, p->offload_mask, p->offload_mark);
	ok = nft_expr(r, nft_expr_ct_mark(0)) == 0 &&
	    nft_expr(r, nft_expr_bitwise(p->offload_mask, 0)) == 0 &&
	    nft_expr(r, nft_expr_cmp_eq(&p->offload_mark,
	    sizeof(p->offload_mark))) == 0 &&
	    nft_expr(r, nftnl_expr_alloc("counter")) == 0 &&
	    nft_expr(r, nft_expr_verdict(NF_ACCEPT)) == 0;
	return nft_rule_push(ctx, b, r, ok, what);
}

/*
 * Chain name at hook, priority NFT_PRIO_OFFLOAD, with the rule that
 * moves the offload bits of a packet's mark (set by the queue's verdict)
 * to its connection and takes them off the packet.
 */
static int
nft_add_offload_chain(struct nft_ctx *ctx, struct nft_batch *b,
    const char *chain, int hook, const struct nft_setup_params *p)
{
	struct nftnl_rule *r;
	char what[160];
	int ok;

	if (nft_chain_msg(ctx, b, NFT_MSG_NEWCHAIN, chain, hook,
	    NFT_PRIO_OFFLOAD) == -1 || (r = nft_rule_new(chain)) == NULL)
		return -1;
	snprintf(what, sizeof(what), "add rule %s: meta mark and 0x%08x == "
	    "0x%08x ct mark set ct mark and 0x%08x or 0x%08x meta mark set "
	    "meta mark and 0x%08x", chain, p->offload_mask, p->offload_mark,
	    ~p->offload_mask, p->offload_mark, ~p->offload_mask);
	ok = nft_expr(r, nft_expr_meta(NFT_META_MARK)) == 0 &&
	    nft_expr(r, nft_expr_bitwise(p->offload_mask, 0)) == 0 &&
	    nft_expr(r, nft_expr_cmp_eq(&p->offload_mark,
	    sizeof(p->offload_mark))) == 0 &&
	    nft_expr(r, nft_expr_ct_mark(0)) == 0 &&
	    nft_expr(r, nft_expr_bitwise(~p->offload_mask,
	    p->offload_mark)) == 0 &&
	    nft_expr(r, nft_expr_ct_mark(1)) == 0 &&
	    nft_expr(r, nft_expr_meta(NFT_META_MARK)) == 0 &&
	    nft_expr(r, nft_expr_bitwise(~p->offload_mask, 0)) == 0 &&
	    nft_expr(r, nft_expr_meta_set_mark()) == 0 &&
	    nft_expr(r, nftnl_expr_alloc("counter")) == 0;
	return nft_rule_push(ctx, b, r, ok, what);
}

/* --- our chains, read back ------------------------------------------ */

struct nft_chains {
	struct nft_dump_state st;
	unsigned int	 mask;
};

static int
nft_chains_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_chains *ch = data;
	struct nftnl_chain *c;
	const char *table, *name;
	size_t i;

	if ((c = nftnl_chain_alloc()) == NULL) {
		ch->st.cb_errno = ENOMEM;
		return MNL_CB_ERROR;
	}
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0)
		goto out;
	table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
	name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
	if (nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY) != NFPROTO_INET ||
	    table == NULL || name == NULL || strcmp(table, NFT_TABLE) != 0)
		goto out;
	for (i = 0; i < NFT_NCHAINS; i++)
		if (strcmp(name, nft_chains_ours[i].name) == 0)
			ch->mask |= nft_chains_ours[i].bit;
out:
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

static struct nlmsghdr *
nft_chains_req(struct nft_ctx *ctx, char *buf, void *arg)
{
	(void)arg;
	return nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_INET,
	    NLM_F_DUMP, ctx->seq++);
}

static void
nft_chains_reset(void *arg)
{
	((struct nft_chains *)arg)->mask = 0;
}

/* Which of our chains exist now (a missing table means none). */
static int
nft_chains_present(struct nft_ctx *ctx, unsigned int *mask, char *err,
    size_t errlen)
{
	char req[NFT_REQ_SIZE] = { 0 };
	struct nft_chains ch;
	int e;

	memset(&ch, 0, sizeof(ch));
	if (nft_dump_retry(ctx, req, nft_chains_req, nft_chains_cb, &ch,
	    &ch.st, nft_chains_reset) == -1) {
		e = errno;
		nft_err(err, errlen, "list chains of table inet %s: %s",
		    NFT_TABLE, strerror(e));
		errno = e;
		return -1;
	}
	*mask = ch.mask;
	return 0;
}

/* --- setup ----------------------------------------------------------- */

static int
nft_range_cmp(const void *a, const void *b)
{
	const nft_u128 *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return 0;
}

/*
 * Replace set setname of family with the prefixes v[0..nv) of that family: a
 * flush (a delete message naming no element), then the prefixes merged
 * into disjoint ranges (the kernel refuses overlapping intervals, and a
 * configuration may well list a network and a host inside it), at most
 * NFT_ELEMS_PER_MSG kernel elements per message.
 */
static int
nft_prefixes_fill(struct nft_ctx *ctx, struct nft_batch *b, int family,
    const char *setname, const struct cidr *pv, size_t nv)
{
	struct nftnl_set *s = NULL;
	nft_u128 (*r)[2] = NULL;
	size_t i, n = 0, m = 0, inmsg = 0;
	char what[96];

	snprintf(what, sizeof(what), "flush set %s", setname);
	if ((s = nft_set_ref(setname)) == NULL ||
	    nft_elems_msg(ctx, b, NFT_MSG_DELSETELEM, &s, what) == -1)
		goto fail;

	if (nv > 0 && (r = calloc(nv, sizeof(*r))) == NULL)
		goto fail;
	for (i = 0; i < nv; i++) {
		const struct cidr *v = &pv[i];

		if (v->net.family != family)
			continue;
		if (!cidr_valid(v)) {
			errno = EINVAL;
			goto fail;
		}
		r[n][0] = nft_key_get(family, v->net.bytes);
		r[n][1] = r[n][0] | nft_host_mask(family, v->prefix);
		n++;
	}
	if (n > 0)
		qsort(r, n, sizeof(*r), nft_range_cmp);
	/* Merge in place: r[0..m) are disjoint and not adjacent. */
	for (i = 0; i < n; i++) {
		if (m > 0 && (r[m - 1][1] == nft_key_max(family) ||
		    r[i][0] <= r[m - 1][1] + 1)) {
			if (r[i][1] > r[m - 1][1])
				r[m - 1][1] = r[i][1];
			continue;
		}
		r[m][0] = r[i][0];
		r[m][1] = r[i][1];
		m++;
	}
	for (i = 0; i <= m; i++) {
		struct nft_kelem ke[2];
		size_t j, k;

		if (s != NULL && (i == m || inmsg + 2 > NFT_ELEMS_PER_MSG)) {
			snprintf(what, sizeof(what), "add %zu "
			    "elements to %s", inmsg, setname);
			if (nft_elems_msg(ctx, b, NFT_MSG_NEWSETELEM, &s,
			    what) == -1)
				goto fail;
			inmsg = 0;
		}
		if (i == m)
			break;
		if (s == NULL && (s = nft_set_ref(setname)) == NULL)
			goto fail;
		memset(ke, 0, sizeof(ke));
		ke[0].key = r[i][0];
		k = 1;
		if (r[i][1] == nft_key_max(family))
			ke[0].open = 1;
		else {
			ke[1].key = r[i][1] + 1;
			ke[1].end = 1;
			k = 2;
		}
		for (j = 0; j < k; j++) {
			struct nftnl_set_elem *e = nft_elem_new(family, &ke[j],
			    1);

			if (e == NULL)
				goto fail;
			nftnl_set_elem_add(s, e);
		}
		inmsg += k;
	}
	free(r);
	return 0;
fail:
	if (s != NULL)
		nftnl_set_free(s);
	free(r);
	errno = errno == 0 ? ENOMEM : errno;
	return -1;
}

static int
nft_build_setup(struct nft_ctx *ctx, struct nft_batch *b,
    const struct nft_setup_params *p, unsigned int present, int native)
{
	int hook = p->hook == NFT_HOOK_INPUT ? NF_INET_LOCAL_IN :
	    NF_INET_FORWARD;
	size_t i;

	if (nft_batch_begin(ctx, b) == -1 ||
	    nft_add_table(ctx, b) == -1 ||
	    nft_add_set(ctx, b, NFT_SET4, NFT_TYPE_IPADDR, 4, 1,
	    NFT_SET_INTERVAL | NFT_SET_TIMEOUT) == -1 ||
	    nft_add_set(ctx, b, NFT_SET6, NFT_TYPE_IP6ADDR, 16, 2,
	    NFT_SET_INTERVAL | NFT_SET_TIMEOUT) == -1 ||
	    nft_add_set(ctx, b, NFT_SERVERS4, NFT_TYPE_IPADDR, 4, 3,
	    NFT_SET_INTERVAL) == -1 ||
	    nft_add_set(ctx, b, NFT_SERVERS6, NFT_TYPE_IP6ADDR, 16, 4,
	    NFT_SET_INTERVAL) == -1 ||
	    nft_add_set(ctx, b, NFT_TRUSTED4, NFT_TYPE_IPADDR, 4, 5,
	    NFT_SET_INTERVAL) == -1 ||
	    nft_add_set(ctx, b, NFT_TRUSTED6, NFT_TYPE_IP6ADDR, 16, 6,
	    NFT_SET_INTERVAL) == -1 ||
	    nft_prefixes_fill(ctx, b, 4, NFT_SERVERS4, p->servers,
	    p->nservers) == -1 ||
	    nft_prefixes_fill(ctx, b, 6, NFT_SERVERS6, p->servers,
	    p->nservers) == -1 ||
	    nft_prefixes_fill(ctx, b, 4, NFT_TRUSTED4, p->trusted,
	    p->ntrusted) == -1 ||
	    nft_prefixes_fill(ctx, b, 6, NFT_TRUSTED6, p->trusted,
	    p->ntrusted) == -1)
		return -1;
	/*
	 * Replace our chains in this same transaction: deleting a chain
	 * deletes its rules, and a chain of the same name may be added back
	 * right after (possibly on another hook if the configuration
	 * changed).  Packets see either the old chains or the new ones.
	 */
	if (nft_del_chains(ctx, b, present) == -1 ||
	    nft_chain_msg(ctx, b, NFT_MSG_NEWCHAIN, NFT_CHAIN_BLOCK, hook,
	    NFT_PRIO_BLOCK) == -1 ||
	    nft_add_drop_rules(ctx, b, p) == -1 ||
	    nft_chain_msg(ctx, b, NFT_MSG_NEWCHAIN, NFT_CHAIN_QUEUE, hook,
	    NFT_PRIO_QUEUE) == -1)
		return -1;
	if (p->offload_mark != 0 &&
	    (nft_add_offload_accept(ctx, b, NFT_CHAIN_QUEUE, p) == -1 ||
	    nft_add_offload_chain(ctx, b, NFT_CHAIN_OFFLOAD, hook, p) == -1))
		return -1;
	for (i = 0; i < p->nports; i++) {
		if (nft_add_queue_rules(ctx, b, NFT_CHAIN_QUEUE, p->ports[i],
		    0, p, native) == -1)
			return -1;
		/* On a gateway both directions cross the forward hook. */
		if (p->hook == NFT_HOOK_FORWARD && nft_add_queue_rules(ctx, b,
		    NFT_CHAIN_QUEUE, p->ports[i], 1, p, native) == -1)
			return -1;
	}
	if (p->hook == NFT_HOOK_INPUT) {
		/* The server's own replies leave through the output hook. */
		if (nft_chain_msg(ctx, b, NFT_MSG_NEWCHAIN, NFT_CHAIN_QUEUE_OUT,
		    NF_INET_LOCAL_OUT, NFT_PRIO_QUEUE) == -1)
			return -1;
		if (p->offload_mark != 0 &&
		    (nft_add_offload_accept(ctx, b, NFT_CHAIN_QUEUE_OUT,
		    p) == -1 || nft_add_offload_chain(ctx, b,
		    NFT_CHAIN_OFFLOAD_OUT, NF_INET_LOCAL_OUT, p) == -1))
			return -1;
		for (i = 0; i < p->nports; i++)
			if (nft_add_queue_rules(ctx, b, NFT_CHAIN_QUEUE_OUT,
			    p->ports[i], 1, p, native) == -1)
				return -1;
	}
	return 0;
}

static int
nft_setup_try(struct nft_ctx *ctx, const struct nft_setup_params *p,
    int native, char *err, size_t errlen)
{
	struct nft_batch b;
	unsigned int present;
	int e;

	if (nft_chains_present(ctx, &present, err, errlen) == -1)
		return -1;
	if (nft_build_setup(ctx, &b, p, present, native) == -1) {
		e = errno;
		nft_err(err, errlen, "build nftables setup batch: %s",
		    strerror(e));
		nft_batch_free(&b);
		errno = e;
		return -1;
	}
	return nft_batch_send_free(ctx, &b, err, errlen);
}

/* At most NFT_SERVERS_MAX valid prefixes in v[0..n). */
static int
nft_prefixes_valid(const char *what, const struct cidr *v, size_t n,
    char *err, size_t errlen)
{
	char a[64];
	size_t i;

	if (n > NFT_SERVERS_MAX || (n > 0 && v == NULL)) {
		nft_err(err, errlen, "nft setup: %zu %ss (at most %u)", n, what,
		    NFT_SERVERS_MAX);
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!cidr_valid(&v[i])) {
			nft_err(err, errlen, "nft setup: %s %zu: bad prefix "
			    "%s", what, i, cidr_str(&v[i], a, sizeof(a)));
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}

int
nft_setup(struct nft_ctx *ctx, const struct nft_setup_params *p, char *err,
    size_t errlen)
{
	char nerr[256];
	size_t i;
	int nerrno;

	if (p->nports == 0 || p->nports > NFT_PORTS_MAX ||
	    p->queue_last < p->queue_first ||
	    (p->hook != NFT_HOOK_FORWARD && p->hook != NFT_HOOK_INPUT) ||
	    (p->block_scope != NFT_BLOCK_ALL &&
	    p->block_scope != NFT_BLOCK_PORTS)) {
		nft_err(err, errlen, "nft setup: bad parameters (%zu ports, "
		    "queue %u-%u)", p->nports, p->queue_first, p->queue_last);
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < p->nports; i++) {
		if (p->ports[i] == 0) {
			nft_err(err, errlen, "nft setup: port 0");
			errno = EINVAL;
			return -1;
		}
	}
	if (nft_prefixes_valid("server", p->servers, p->nservers, err,
	    errlen) == -1 || nft_prefixes_valid("relay network", p->trusted,
	    p->ntrusted, err, errlen) == -1)
		return -1;
	if (p->offload_mark != 0 &&
	    (p->offload_mark & ~p->offload_mask) != 0) {
		nft_err(err, errlen, "nft setup: offload mark 0x%08x outside "
		    "its mask 0x%08x", p->offload_mark, p->offload_mask);
		errno = EINVAL;
		return -1;
	}
	ctx->mech = NFT_QUEUE_NONE;
	ctx->note[0] = '\0';
	if (!p->force_compat) {
		if (nft_setup_try(ctx, p, 1, nerr, sizeof(nerr)) == 0) {
			ctx->mech = NFT_QUEUE_NATIVE;
			snprintf(ctx->note, sizeof(ctx->note), "queue: native "
			    "nftables queue expression");
			return 0;
		}
		nerrno = errno;
		/*
		 * Only a kernel without the expression (ENOENT: no such
		 * expression type, or EOPNOTSUPP) is worth the fallback;
		 * anything else would fail the same way again.
		 */
		if (nerrno != ENOENT && nerrno != EOPNOTSUPP) {
			nft_err(err, errlen, "%s", nerr);
			errno = nerrno;
			return -1;
		}
	} else {
		snprintf(nerr, sizeof(nerr), "not attempted");
	}
	if (nft_setup_try(ctx, p, 0, err, errlen) == -1) {
		int e = errno;
		size_t l;

		/* nft_err() accepts no buffer; so must the appending. */
		if (err != NULL && errlen > 0 &&
		    (l = strnlen(err, errlen)) < errlen)
			snprintf(err + l, errlen - l, " (native attempt: %s)",
			    nerr);
		errno = e;
		return -1;
	}
	ctx->mech = NFT_QUEUE_COMPAT;
	snprintf(ctx->note, sizeof(ctx->note), "queue: xtables NFQUEUE target "
	    "through nft compat; native queue expression refused (%s)", nerr);
	return 0;
}

int
nft_unqueue(struct nft_ctx *ctx, char *err, size_t errlen)
{
	struct nft_batch b;
	unsigned int present;
	int e;

	if (nft_chains_present(ctx, &present, err, errlen) == -1)
		return -1;
	present &= NFT_CH_QUEUE | NFT_CH_QUEUE_OUT | NFT_CH_OFFLOAD |
	    NFT_CH_OFFLOAD_OUT;
	if (present == 0)
		return 0;
	if (nft_batch_begin(ctx, &b) == -1 ||
	    nft_del_chains(ctx, &b, present) == -1) {
		e = errno;
		nft_err(err, errlen, "build unqueue batch: %s", strerror(e));
		nft_batch_free(&b);
		errno = e;
		return -1;
	}
	if (nft_batch_send_free(ctx, &b, err, errlen) == -1)
		return -1;
	ctx->mech = NFT_QUEUE_NONE;
	return 0;
}
