/*
 * nft.h — relayguard's nftables layer, spoken directly over netlink with
 * libnftnl and libmnl (never by running nft(8)).
 *
 * It owns one table, `table inet relayguard`:
 *
 *	set blocked4	ipv4_addr, flags interval,timeout
 *	set blocked6	ipv6_addr, flags interval,timeout
 *	set servers4	ipv4_addr, flags interval: the protected servers
 *	set servers6	ipv6_addr, flags interval (refilled at each setup)
 *	chain block	filter hook HOOK priority -10: counted drop of
 *			`ip saddr @blocked4` and `ip6 saddr @blocked6`:
 *			every packet (NFT_BLOCK_ALL), or only `tcp dport P`
 *			for each configured port (NFT_BLOCK_PORTS)
 *	chain inspect	filter hook HOOK priority 0: `tcp dport P` and
 *			`tcp sport P` for each configured port, queued with
 *			bypass (traffic passes while no daemon listens).
 *			With servers given: `ip daddr @servers4 tcp dport P`
 *			and `ip saddr @servers4 tcp sport P` (and ip6 with
 *			servers6), so only connections to a protected server
 *			are queued, at one set lookup however many servers;
 *			every other packet stays in the kernel
 *	set trusted4	ipv4_addr, flags interval: relay-networks
 *	set trusted6	ipv6_addr, flags interval (refilled at each setup)
 *	chain inspect, first (before any queue rule):
 *			`ct mark and M == V counter accept` (offload: the
 *			daemon marked the connection), then per port and
 *			family `[ip daddr @servers4] tcp dport P ip saddr
 *			@trusted4 counter accept` and `[ip saddr @servers4]
 *			tcp sport P ip daddr @trusted4 counter accept`:
 *			clients in relay-networks never reach the queue
 *	chain offload	filter hook HOOK priority 1 (and offload_out on
 *			output for the input hook), with offload only:
 *			`meta mark and M == V ct mark set ct mark and ~M or
 *			V meta mark set meta mark and ~M`: the mark bits a
 *			verdict put on a packet go to its connection
 *	chain inspect_out
 *		only for the input hook (daemon on the mail server
 *			itself): the server's replies leave through the
 *			output hook, so `tcp sport P` (with servers: `ip
 *			saddr @servers4 tcp sport P`...) is queued there
 *
 * The queue verdict uses the native `queue` expression when the kernel has
 * it and otherwise the xtables NFQUEUE target (revision 3) through nft's
 * compat layer; nft_queue_mechanism() says which was installed.
 *
 * Every change is one netlink batch, i.e. one kernel transaction: it is
 * applied whole or not at all.  Errors are reported through `err` (a
 * message naming the operation and the kernel's strerror) and a -1 return
 * with errno set; nothing here exits or logs.
 *
 * An nft_ctx is not thread-safe: one per thread.
 */
#ifndef RG_NFT_H
#define RG_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

#define NFT_TABLE		"relayguard"
#define NFT_SET4		"blocked4"
#define NFT_SET6		"blocked6"
#define NFT_SERVERS4		"servers4"
#define NFT_SERVERS6		"servers6"
#define NFT_CHAIN_BLOCK		"block"
#define NFT_CHAIN_QUEUE		"inspect"
#define NFT_CHAIN_QUEUE_OUT	"inspect_out"
#define NFT_TRUSTED4		"trusted4"
#define NFT_TRUSTED6		"trusted6"
#define NFT_CHAIN_OFFLOAD	"offload"
#define NFT_CHAIN_OFFLOAD_OUT	"offload_out"
#define NFT_PRIO_OFFLOAD	1	/* after the queue's verdict */
#define NFT_PRIO_BLOCK		(-10)
#define NFT_PRIO_QUEUE		0
#define NFT_PORTS_MAX		64	/* = CONFIG_MAX_PORTS: every port gets its rules */
#define NFT_SERVERS_MAX		65536	/* prefixes in nft_setup_params */

struct nft_ctx;
struct nft_block;

enum nft_hook {
	NFT_HOOK_FORWARD,	/* gateway in front of the mail servers */
	NFT_HOOK_INPUT		/* on the mail server itself (+ output) */
};

enum nft_queue_mech {
	NFT_QUEUE_NONE,		/* nft_setup() has not installed a rule */
	NFT_QUEUE_NATIVE,	/* nft `queue` expression */
	NFT_QUEUE_COMPAT	/* xtables NFQUEUE target via nft_compat */
};

/* What the block chain drops from a blocked source. */
enum nft_block_scope {
	NFT_BLOCK_ALL,		/* every packet, any protocol */
	NFT_BLOCK_PORTS		/* TCP to the configured ports only */
};

struct nft_setup_params {
	enum nft_hook	 hook;
	enum nft_block_scope block_scope;	/* 0: NFT_BLOCK_ALL */
	uint16_t	 ports[NFT_PORTS_MAX];	/* TCP ports, host order */
	size_t		 nports;		/* 1..NFT_PORTS_MAX */
	uint16_t	 queue_first;		/* queue number, or range */
	uint16_t	 queue_last;		/* == queue_first: one queue */
	bool		 bypass;		/* pass when nobody listens */
	/*
	 * Spread a queue range by CPU instead of by flow hash.  Leave it
	 * false for relayguard: the kernel's flow hash is symmetric, so
	 * both directions of a connection reach the same worker, which
	 * the reassembler needs; CPU fanout gives no such guarantee.
	 */
	bool		 cpu_fanout;
	bool		 force_compat;		/* skip the native attempt */
	/* Packets with this firewall mark are not queued (the daemon's own
	 * crafted resets); 0: queue everything. */
	uint32_t	 skip_mark;
	/*
	 * The protected servers (prefixes; overlaps are
	 * merged).  nservers 0: every address, which on the input hook is
	 * the host's own (only its packets reach that hook).  The sets are
	 * replaced with these in the setup's transaction.
	 */
	const struct cidr *servers;
	size_t		 nservers;
	/* relay-networks (prefixes): their clients' packets are accepted
	 * before the queue rules; the sets are replaced like servers. */
	const struct cidr *trusted;
	size_t		 ntrusted;
	/* Offload: connections whose ct mark & offload_mask equals
	 * offload_mark pass before the queue; 0: no offload rules. */
	uint32_t	 offload_mark;
	uint32_t	 offload_mask;
};

/*
 * One blocked prefix: the filters' prefix type (family 4 or 6, host bits
 * beyond the length zero: cidr_valid()), parsed with cidr_parse() and
 * printed with cidr_str(), and its time in the kernel.
 */
struct nft_block {
	struct cidr	 pfx;
	uint64_t	 timeout_ms;	/* 0: no timeout, stays until deleted */
	uint64_t	 expires_ms;	/* nft_block_list: time left (0: none) */
};

/* Open a netfilter netlink socket.  NULL and a message in err on failure. */
struct nft_ctx	*nft_open(char *err, size_t errlen);
/* Close the socket and free the context; NULL is accepted. */
void		 nft_close(struct nft_ctx *);

/*
 * Create or adopt table inet relayguard: the table and both sets are
 * created if missing and kept (with their elements) if present; the chains
 * are replaced in the same transaction, so a restart or a changed hook
 * never leaves a moment without the drop rule.  Tries the native queue
 * expression first and falls back to the compat NFQUEUE target.
 */
int		 nft_setup(struct nft_ctx *, const struct nft_setup_params *,
		    char *err, size_t errlen);

/* Which queue mechanism nft_setup() installed. */
enum nft_queue_mech nft_queue_mechanism(const struct nft_ctx *);
/* "native", "compat" or "none". */
const char	*nft_queue_mechanism_name(enum nft_queue_mech);
/*
 * One line for the log explaining the choice, e.g. why the native
 * expression was refused; "" before nft_setup().
 */
const char	*nft_queue_note(const struct nft_ctx *);

/*
 * Clean stop: delete the queue chain(s) only.  The table, the sets and
 * the block chain stay, so blocks keep working while the daemon is away.
 * Not having a queue chain is not an error.
 */
int		 nft_unqueue(struct nft_ctx *, char *err, size_t errlen);

/*
 * Add n blocks in one transaction (chunked into as many netlink messages
 * as needed inside one batch).  Re-adding an existing prefix refreshes its
 * timeout on kernels with element timeout updates (6.11 and later).  A
 * prefix that overlaps a different existing one is refused by the kernel:
 * -1 with errno EEXIST, and nothing of the batch is applied.
 */
int		 nft_block_add(struct nft_ctx *, const struct nft_block *,
		    size_t n, char *err, size_t errlen);

/*
 * Delete n blocks (timeouts ignored) in one transaction.  A prefix that
 * is not in the set fails the whole batch with errno ENOENT.
 */
int		 nft_block_del(struct nft_ctx *, const struct nft_block *,
		    size_t n, char *err, size_t errlen);

/*
 * Read the blocked prefixes back from the kernel (family 4, 6, or 0 for
 * both), calling cb once per prefix with its timeout and
 * the time left.  Interval start/end pairs are merged back into prefixes;
 * a range that is not one prefix (not made by relayguard) is reported as
 * the prefixes covering it.  A non-zero return from cb stops the walk and
 * is returned.
 */
typedef int	 (*nft_block_cb)(const struct nft_block *, void *arg);
int		 nft_block_list(struct nft_ctx *, int family, nft_block_cb,
		    void *arg, char *err, size_t errlen);

#endif /* RG_NFT_H */
