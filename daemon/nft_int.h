/*
 * nft_int.h — what the nftables layer's files share and nobody else sees.
 *
 * daemon/nft.h is the contract; behind it the layer is three files along
 * its own sections:
 *
 *	nft_netlink.c	the context (one netlink socket), batches (one
 *			transaction, errors mapped back to the operation by
 *			sequence number) and dumps
 *	nft_ruleset.c	the table, its sets, chains and rules: setup and
 *			unqueue
 *	nft_elems.c	prefixes as set keys, the blocked sets' elements
 *			(add, delete) and the listing that reads them back
 *
 * Ruleset and element code build messages into a batch with
 * nft_batch_begin / nft_batch_msg / nft_batch_push and send it with
 * nft_batch_send_free; neither touches the socket itself.
 */
#ifndef RG_NFT_INT_H
#define RG_NFT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

#include <libmnl/libmnl.h>

#include "nft.h"

struct nftnl_set;
struct nftnl_set_elem;

/*
 * The element list of one message is a netlink nest whose length is 16
 * bits.  A kernel element here costs at most 64 bytes (list nest, key nest
 * with 16 bytes, flags, timeout, userdata), so 512 per message stays far
 * below 64 KiB.
 */
#define NFT_ELEMS_PER_MSG	512
/* Headroom reserved before building any one message. */
#define NFT_MSG_ROOM		(128 * 1024)
/* Receive buffer: large enough for any dump message. */
#define NFT_RBUF_SIZE		(64 * 1024)
/* A dump request: a header and a few names. */
#define NFT_REQ_SIZE		4096
/* Bound on what a listing will hold in memory (kernel elements). */
#define NFT_LIST_MAX		(8u * 1024 * 1024)
/* A batch buffer up to this size is kept, zeroed, for the next batch. */
#define NFT_BATCH_KEEP		((size_t)1024 * 1024)
/* Bound on one batch; beyond it the caller should split the work. */
#define NFT_BATCH_MAX		((size_t)256 * 1024 * 1024)
/* How long to wait for a reply the kernel should already have sent. */
#define NFT_REPLY_WAIT_MS	5000
/* nft(8)'s datatype numbers, so `nft list` prints the sets readably. */
#define NFT_TYPE_IPADDR		7
#define NFT_TYPE_IP6ADDR	8
/* nft(8)'s element userdata marking an interval open to the top. */
#define NFT_UDATA_ELEM_FLAGS	1
#define NFT_UDATA_INTERVAL_OPEN	0x1

#define NFT_CH_BLOCK		0x1
#define NFT_CH_QUEUE		0x2
#define NFT_CH_QUEUE_OUT	0x4
#define NFT_CH_OFFLOAD		0x8
#define NFT_CH_OFFLOAD_OUT	0x10

typedef unsigned __int128 nft_u128;

struct nft_label {
	uint32_t	 seq;
	char		 what[96];
};

struct nft_batch {
	struct nft_ctx	*ctx;		/* its buffer goes back there */
	char		*buf;
	size_t		 len;
	size_t		 cap;
	size_t		 last_off;	/* offset of the last data message */
	uint32_t	 last_seq;
	size_t		 nmsgs;
	struct nft_label *labels;
	size_t		 nlabels;
	size_t		 caplabels;
};

struct nft_ctx {
	struct mnl_socket *nl;
	uint32_t	 portid;
	uint32_t	 seq;
	enum nft_queue_mech mech;
	char		 note[512];
	char		*rbuf;
	/* The last batch's buffer, all zero (nft_batch_free): a block is a
	 * batch of one element, which then neither allocates nor zeroes
	 * NFT_MSG_ROOM * 4 bytes of fresh memory. */
	char		*spare;
	size_t		 spare_cap;
};

/* One kernel set element as read back or about to be written. */
struct nft_kelem {
	nft_u128	 key;
	uint64_t	 timeout_ms;
	uint64_t	 expires_ms;
	int		 end;		/* NFT_SET_ELEM_INTERVAL_END */
	int		 open;		/* start of an interval with no end */
};

struct nft_dump_state {
	int		 cb_errno;	/* set by a callback that failed */
};

/* --- nft_netlink.c: context, batches, dumps ----------------------------- */

/* Format into err (if any); the message names the operation. */
void		 nft_err(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
/* Start a batch in b (BATCH_BEGIN); free it with nft_batch_free. */
int		 nft_batch_begin(struct nft_ctx *, struct nft_batch *);
/* Start a message labelled `what` for errors; the caller fills it and
 * calls nft_batch_push().  NULL (errno set) if it cannot grow. */
struct nlmsghdr	*nft_batch_msg(struct nft_ctx *, struct nft_batch *,
		    uint16_t type, uint16_t flags, const char *what);
void		 nft_batch_push(struct nft_batch *, struct nlmsghdr *);
void		 nft_batch_free(struct nft_batch *);
/* Send the batch as one transaction, free it, and keep the send's errno. */
int		 nft_batch_send_free(struct nft_ctx *, struct nft_batch *,
		    char *err, size_t errlen);
/*
 * Run a dump built by build() into req, cb over each reply message,
 * retrying (after reset()) when the ruleset changed under it.
 */
int		 nft_dump_retry(struct nft_ctx *, char *req,
		    struct nlmsghdr *(*build)(struct nft_ctx *, char *, void *),
		    mnl_cb_t cb, void *arg, struct nft_dump_state *,
		    void (*reset)(void *));

/* --- nft_elems.c: keys, elements, set references ------------------------ */

/* The address (network order) as a number, and back; family 4 or 6. */
nft_u128	 nft_key_get(int family, const uint8_t *addr);
void		 nft_key_put(int family, nft_u128 k, uint8_t *addr);
/* Largest key of the family: 2^width - 1. */
nft_u128	 nft_key_max(int family);
/* Mask of the host bits of a prefix of length p. */
nft_u128	 nft_host_mask(int family, unsigned int p);
/* One kernel element (with its timeout and open-interval userdata when
 * with_timeout); NULL on allocation failure. */
struct nftnl_set_elem *nft_elem_new(int family, const struct nft_kelem *,
		    int with_timeout);
/* A set named by table and name only, as element messages carry it. */
struct nftnl_set *nft_set_ref(const char *setname);
/* Put *s's elements (none: a flush, for a delete) into one message of
 * the batch; *s is freed either way. */
int		 nft_elems_msg(struct nft_ctx *, struct nft_batch *,
		    uint16_t type, struct nftnl_set **s, const char *what);

#endif /* RG_NFT_INT_H */
