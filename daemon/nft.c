/*
 * nft.c — table inet relayguard over netlink (libnftnl + libmnl).
 *
 * Changes are built into one growing buffer as a netlink batch
 * (BATCH_BEGIN, messages, BATCH_END) and sent with a single sendmsg: the
 * kernel runs the whole batch as one transaction, so 100,000 set elements
 * cost a few hundred messages and one system call, and a failure anywhere
 * leaves the ruleset as it was.  The kernel processes the batch inside
 * sendmsg(), so every acknowledgement is already queued on the socket when
 * it returns; replies carry the sequence number of the message they answer,
 * which maps an error back to the operation that caused it.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "nft.h"

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

/* Our chains by name, in the order a replacement deletes them. */
static const struct {
	unsigned int	 bit;
	const char	*name;
} nft_chains_ours[] = {
	{ NFT_CH_BLOCK,		NFT_CHAIN_BLOCK },
	{ NFT_CH_QUEUE,		NFT_CHAIN_QUEUE },
	{ NFT_CH_QUEUE_OUT,	NFT_CHAIN_QUEUE_OUT },
};
#define NFT_NCHAINS \
	(sizeof(nft_chains_ours) / sizeof(nft_chains_ours[0]))

typedef unsigned __int128 nft_u128;

struct nft_label {
	uint32_t	 seq;
	char		 what[96];
};

struct nft_batch {
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
};

/* One kernel set element as read back or about to be written. */
struct nft_kelem {
	nft_u128	 key;
	uint64_t	 timeout_ms;
	uint64_t	 expires_ms;
	int		 end;		/* NFT_SET_ELEM_INTERVAL_END */
	int		 open;		/* start of an interval with no end */
};

static void	 nft_err(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static struct nftnl_set_elem *nft_elem_new(int, const struct nft_kelem *,
		    int);

static void
nft_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* --- addresses ------------------------------------------------------- */

static unsigned int
nft_width(int family)
{
	return family == AF_INET ? 32 : 128;
}

static nft_u128
nft_key_get(int family, const uint8_t *addr)
{
	nft_u128 k = 0;
	unsigned int i, n = nft_width(family) / 8;

	for (i = 0; i < n; i++)
		k = (k << 8) | addr[i];
	return k;
}

static void
nft_key_put(int family, nft_u128 k, uint8_t *addr)
{
	unsigned int i, n = nft_width(family) / 8;

	for (i = n; i > 0; i--) {
		addr[i - 1] = (uint8_t)(k & 0xff);
		k >>= 8;
	}
}

/* Largest key of the family: 2^width - 1. */
static nft_u128
nft_key_max(int family)
{
	if (family == AF_INET)
		return (nft_u128)UINT32_MAX;
	return ~(nft_u128)0;
}

/* Mask of the host bits of a prefix of length p. */
static nft_u128
nft_host_mask(int family, unsigned int p)
{
	unsigned int host = nft_width(family) - p;

	if (host == 0)
		return 0;
	if (host >= 128)
		return ~(nft_u128)0;
	return ((nft_u128)1 << host) - 1;
}

static int
nft_block_valid(const struct nft_block *b)
{
	if (b->family != AF_INET && b->family != AF_INET6)
		return 0;
	if (b->prefix > nft_width(b->family))
		return 0;
	if (nft_key_get(b->family, b->addr) & nft_host_mask(b->family,
	    b->prefix))
		return 0;
	return 1;
}

int
nft_block_parse(const char *s, struct nft_block *b)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long p;

	memset(b, 0, sizeof(*b));
	if (strlen(s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, strlen(s) + 1);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, b->addr) == 1)
		b->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, b->addr) == 1)
		b->family = AF_INET6;
	else
		return -1;
	b->prefix = (uint8_t)nft_width(b->family);
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9')
			return -1;
		errno = 0;
		p = strtoul(slash, &end, 10);
		if (errno != 0 || *end != '\0' || p > nft_width(b->family))
			return -1;
		b->prefix = (uint8_t)p;
	}
	return nft_block_valid(b) ? 0 : -1;
}

const char *
nft_block_format(const struct nft_block *b, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	if ((b->family != AF_INET && b->family != AF_INET6) ||
	    inet_ntop(b->family, b->addr, a, sizeof(a)) == NULL)
		goto bad;
	n = snprintf(buf, len, "%s/%u", a, b->prefix);
	if (n < 0 || (size_t)n >= len)
		goto bad;
	return buf;
bad:
	if (len >= 2)
		memcpy(buf, "?", 2);
	return buf;
}

/* --- context --------------------------------------------------------- */

struct nft_ctx *
nft_open(char *err, size_t errlen)
{
	struct nft_ctx *ctx;
	struct timeval tv = { NFT_REPLY_WAIT_MS / 1000, 0 };
	int one = 1;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL ||
	    (ctx->rbuf = malloc(NFT_RBUF_SIZE)) == NULL) {
		nft_err(err, errlen, "nft_open: %s", strerror(errno));
		goto fail;
	}
	if ((ctx->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC))
	    == NULL) {
		nft_err(err, errlen, "nft_open: netlink socket: %s",
		    strerror(errno));
		goto fail;
	}
	if (mnl_socket_bind(ctx->nl, 0, MNL_SOCKET_AUTOPID) == -1) {
		nft_err(err, errlen, "nft_open: netlink bind: %s",
		    strerror(errno));
		goto fail;
	}
	/*
	 * Errors then carry only the header of the failed message, not a
	 * copy of its (up to 64 KiB) payload; extended acks add the kernel's
	 * own explanation where it has one.  Both are optional.
	 */
	(void)mnl_socket_setsockopt(ctx->nl, NETLINK_CAP_ACK, &one,
	    sizeof(one));
	(void)mnl_socket_setsockopt(ctx->nl, NETLINK_EXT_ACK, &one,
	    sizeof(one));
	/* A dump that never ends must not hang the daemon. */
	(void)setsockopt(mnl_socket_get_fd(ctx->nl), SOL_SOCKET, SO_RCVTIMEO,
	    &tv, sizeof(tv));
	ctx->portid = mnl_socket_get_portid(ctx->nl);
	ctx->seq = (uint32_t)time(NULL);
	ctx->mech = NFT_QUEUE_NONE;
	return ctx;
fail:
	nft_close(ctx);
	return NULL;
}

void
nft_close(struct nft_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->nl != NULL)
		mnl_socket_close(ctx->nl);
	free(ctx->rbuf);
	free(ctx);
}

enum nft_queue_mech
nft_queue_mechanism(const struct nft_ctx *ctx)
{
	return ctx->mech;
}

const char *
nft_queue_mechanism_name(enum nft_queue_mech m)
{
	switch (m) {
	case NFT_QUEUE_NATIVE:
		return "native";
	case NFT_QUEUE_COMPAT:
		return "compat";
	case NFT_QUEUE_NONE:
		break;
	}
	return "none";
}

const char *
nft_queue_note(const struct nft_ctx *ctx)
{
	return ctx->note;
}

/*
 * Discard whatever is queued on the socket: replies to an earlier failed
 * send, or the rest of a dump abandoned half-way (each read makes the
 * kernel queue the next part, so this runs the dump to its end).  A
 * pending overrun (ENOBUFS) is old news too, not a reason to stop.
 */
static void
nft_drain(struct nft_ctx *ctx)
{
	ssize_t n;

	do
		n = recv(mnl_socket_get_fd(ctx->nl), ctx->rbuf,
		    NFT_RBUF_SIZE, MSG_DONTWAIT);
	while (n > 0 || (n == -1 && (errno == EINTR || errno == ENOBUFS)));
}

/* --- batches --------------------------------------------------------- */

static void
nft_batch_free(struct nft_batch *b)
{
	free(b->buf);
	free(b->labels);
	memset(b, 0, sizeof(*b));
}

/* Make sure the next message, whatever it is, fits. */
static int
nft_batch_room(struct nft_batch *b)
{
	size_t ncap;
	char *nbuf;

	if (b->cap - b->len >= NFT_MSG_ROOM)
		return 0;
	if (b->len > NFT_BATCH_MAX) {
		errno = E2BIG;
		return -1;
	}
	ncap = b->cap == 0 ? 4 * NFT_MSG_ROOM : b->cap * 2;
	if ((nbuf = realloc(b->buf, ncap)) == NULL)
		return -1;
	/* Netlink attributes are padded to 4 bytes and libnftnl does not
	 * write the padding: zero it, never send stale heap bytes. */
	memset(nbuf + b->cap, 0, ncap - b->cap);
	b->buf = nbuf;
	b->cap = ncap;
	return 0;
}

static int
nft_batch_label(struct nft_batch *b, uint32_t seq, const char *what)
{
	struct nft_label *nl;
	size_t ncap;

	if (b->nlabels == b->caplabels) {
		ncap = b->caplabels == 0 ? 64 : b->caplabels * 2;
		if ((nl = reallocarray(b->labels, ncap, sizeof(*nl))) == NULL)
			return -1;
		b->labels = nl;
		b->caplabels = ncap;
	}
	b->labels[b->nlabels].seq = seq;
	snprintf(b->labels[b->nlabels].what,
	    sizeof(b->labels[b->nlabels].what), "%s", what);
	b->nlabels++;
	return 0;
}

static const char *
nft_batch_what(const struct nft_batch *b, uint32_t seq)
{
	size_t i;

	for (i = 0; i < b->nlabels; i++)
		if (b->labels[i].seq == seq)
			return b->labels[i].what;
	return "batch";
}

static int
nft_batch_begin(struct nft_ctx *ctx, struct nft_batch *b)
{
	struct nlmsghdr *nlh;
	uint32_t seq = ctx->seq++;

	memset(b, 0, sizeof(*b));
	if (nft_batch_room(b) == -1 ||
	    nft_batch_label(b, seq, "begin batch") == -1)
		return -1;
	nlh = nftnl_batch_begin(b->buf, seq);
	b->len = NLMSG_ALIGN(nlh->nlmsg_len);
	return 0;
}

/* Start a message; the caller fills it and calls nft_batch_push(). */
static struct nlmsghdr *
nft_batch_msg(struct nft_ctx *ctx, struct nft_batch *b, uint16_t type,
    uint16_t flags, const char *what)
{
	uint32_t seq = ctx->seq++;

	if (nft_batch_room(b) == -1 || nft_batch_label(b, seq, what) == -1)
		return NULL;
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET,
	    flags, seq);
}

static void
nft_batch_push(struct nft_batch *b, struct nlmsghdr *nlh)
{
	b->last_off = b->len;
	b->last_seq = nlh->nlmsg_seq;
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->nmsgs++;
}

/*
 * Raise the send buffer so the whole batch goes in one sendmsg (the
 * kernel refuses a message larger than the buffer).  SO_SNDBUFFORCE
 * needs CAP_NET_ADMIN, which we have whenever nftables accepts us at all.
 */
static void
nft_sndbuf(struct nft_ctx *ctx, size_t len)
{
	int fd = mnl_socket_get_fd(ctx->nl), cur = 0, want;
	socklen_t sl = sizeof(cur);

	if (len > INT_MAX / 2 - 65536)
		return;
	want = (int)len + 65536;
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &sl) == 0 &&
	    cur / 2 >= want)	/* the kernel reports twice the value */
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want,
	    sizeof(want)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want,
		    sizeof(want));
}

/*
 * Read the batch's replies.  Only the last message asks for an ACK;
 * failures are reported for every failing message regardless.  The
 * batch succeeded if no error arrived and the last message was acked.
 */
static int
nft_batch_replies(struct nft_ctx *ctx, const struct nft_batch *b,
    int *first_errno, uint32_t *first_seq, int *acked)
{
	int fd = mnl_socket_get_fd(ctx->nl), waited = 0;
	struct pollfd pfd;
	ssize_t n;

	for (;;) {
		n = recv(fd, ctx->rbuf, NFT_RBUF_SIZE, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* Replies were dropped: only errors can be
				 * that many, and the first is kept. */
				if (*first_errno == 0) {
					*first_errno = ENOBUFS;
					*first_seq = b->last_seq;
				}
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			if (*acked || *first_errno != 0 || waited)
				return 0;
			/* Not expected (replies precede sendmsg's return),
			 * but wait a bounded time rather than guess. */
			pfd.fd = fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, NFT_REPLY_WAIT_MS) == -1 &&
			    errno != EINTR)
				return -1;
			waited = 1;
			continue;
		}
		{
			const struct nlmsghdr *nlh = (const void *)ctx->rbuf;
			int len = (int)n;

			for (; mnl_nlmsg_ok(nlh, len);
			    nlh = mnl_nlmsg_next(nlh, &len)) {
				const struct nlmsgerr *e;

				if (nlh->nlmsg_pid != ctx->portid ||
				    nlh->nlmsg_type != NLMSG_ERROR)
					continue;
				if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
					continue;
				e = mnl_nlmsg_get_payload(nlh);
				if (e->error == 0) {
					if (nlh->nlmsg_seq == b->last_seq)
						*acked = 1;
				} else if (*first_errno == 0 ||
				    *first_errno == ENOBUFS) {
					*first_errno = e->error < 0 ?
					    -e->error : e->error;
					*first_seq = nlh->nlmsg_seq;
				}
			}
		}
	}
}

static int
nft_batch_send(struct nft_ctx *ctx, struct nft_batch *b, char *err,
    size_t errlen)
{
	struct nlmsghdr *nlh;
	uint32_t first_seq = 0;
	int first_errno = 0, acked = 0;
	ssize_t n;

	if (b->nmsgs == 0)
		return 0;
	if (nft_batch_room(b) == -1) {
		nft_err(err, errlen, "nft batch: %s", strerror(errno));
		return -1;
	}
	nlh = (struct nlmsghdr *)(void *)(b->buf + b->last_off);
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh = nftnl_batch_end(b->buf + b->len, ctx->seq++);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);

	nft_sndbuf(ctx, b->len);
	nft_drain(ctx);
	n = mnl_socket_sendto(ctx->nl, b->buf, b->len);
	if (n == -1) {
		int e = errno;

		nft_err(err, errlen, "nft batch of %zu messages (%zu bytes): "
		    "send: %s", b->nmsgs, b->len, strerror(e));
		errno = e;
		return -1;
	}
	if (nft_batch_replies(ctx, b, &first_errno, &first_seq, &acked)
	    == -1) {
		int e = errno;

		nft_err(err, errlen, "nft batch: receive: %s", strerror(e));
		errno = e;
		return -1;
	}
	if (first_errno != 0) {
		nft_err(err, errlen, "%s: %s", nft_batch_what(b, first_seq),
		    strerror(first_errno));
		errno = first_errno;
		return -1;
	}
	if (!acked) {
		nft_err(err, errlen, "nft batch: no acknowledgement from the "
		    "kernel");
		errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

/* --- ruleset objects ------------------------------------------------- */

/* Send the batch, free it, and keep the send's errno. */
static int
nft_batch_send_free(struct nft_ctx *ctx, struct nft_batch *b, char *err,
    size_t errlen)
{
	int ret = nft_batch_send(ctx, b, err, errlen), e = errno;

	nft_batch_free(b);
	errno = e;
	return ret;
}

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

/* A set named by table and name only, as element messages carry it. */
static struct nftnl_set *
nft_set_ref(const char *setname)
{
	struct nftnl_set *s;

	if ((s = nftnl_set_alloc()) == NULL)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, setname) < 0) {
		nftnl_set_free(s);
		return NULL;
	}
	return s;
}

/* Put *s's elements (none: a flush, for a delete) into one message of
 * the batch; *s is freed either way. */
static int
nft_elems_msg(struct nft_ctx *ctx, struct nft_batch *b, uint16_t type,
    struct nftnl_set **s, const char *what)
{
	struct nlmsghdr *nlh;

	nlh = nft_batch_msg(ctx, b, type, type == NFT_MSG_NEWSETELEM ?
	    NLM_F_CREATE : 0, what);
	if (nlh != NULL) {
		nftnl_set_elems_nlmsg_build_payload(nlh, *s);
		nft_batch_push(b, nlh);
	}
	nftnl_set_free(*s);
	*s = NULL;
	return nlh != NULL ? 0 : -1;
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
 * `tcp dport P queue ...` (sport when dir_src).  With family AF_INET or
 * AF_INET6 the rule first looks the server's address up in the servers
 * set: `ip daddr @servers4 tcp dport P`, `ip saddr @servers4 tcp sport P`
 * (the server is the destination of dport packets, the source of sport
 * ones); family 0 queues every address.
 */
static int
nft_add_queue_rule(struct nft_ctx *ctx, struct nft_batch *b,
    const char *chain, uint16_t port, int dir_src, int family,
    const struct nft_setup_params *p, int native)
{
	struct nftnl_rule *r = nft_rule_new(chain);
	uint8_t tcp = IPPROTO_TCP;
	uint8_t proto = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	uint16_t nport = htons(port);
	/* IPv4 source at offset 12, destination at 16 (4 bytes); IPv6 at
	 * 8 and 24 (16 bytes). */
	uint32_t off = family == AF_INET ? (dir_src ? 12 : 16) :
	    (dir_src ? 8 : 24);
	char what[128];
	int ok;

	if (r == NULL)
		return -1;
	snprintf(what, sizeof(what), "add rule %s: %s%s%stcp %s %u queue "
	    "(%s)", chain, family == 0 ? "" : family == AF_INET ? "ip " :
	    "ip6 ", family == 0 ? "" : dir_src ? "saddr " : "daddr ",
	    family == 0 ? "" : family == AF_INET ? "@" NFT_SERVERS4 " " :
	    "@" NFT_SERVERS6 " ", dir_src ? "sport" : "dport", port,
	    native ? "native queue expression" : "compat NFQUEUE target");
	ok = (family == 0 ||
	    (nft_expr(r, nft_expr_meta(NFT_META_NFPROTO)) == 0 &&
	    nft_expr(r, nft_expr_cmp_eq(&proto, sizeof(proto))) == 0 &&
	    nft_expr(r, nft_expr_payload(NFT_PAYLOAD_NETWORK_HEADER, off,
	    family == AF_INET ? 4 : 16)) == 0 &&
	    nft_expr(r, nft_expr_lookup(family == AF_INET ? NFT_SERVERS4 :
	    NFT_SERVERS6)) == 0)) &&
	    nft_expr(r, nft_expr_meta(NFT_META_L4PROTO)) == 0 &&
	    nft_expr(r, nft_expr_cmp_eq(&tcp, sizeof(tcp))) == 0 &&
	    nft_expr(r, nft_expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER,
	    dir_src ? 0 : 2, 2)) == 0 &&
	    nft_expr(r, nft_expr_cmp_eq(&nport, sizeof(nport))) == 0 &&
	    /* `meta mark != M`: the daemon's own resets are not queued. */
	    (p->skip_mark == 0 ||
	    (nft_expr(r, nft_expr_meta(NFT_META_MARK)) == 0 &&
	    nft_expr(r, nft_expr_cmp_neq(&p->skip_mark,
	    sizeof(p->skip_mark))) == 0)) &&
	    nft_expr(r, nftnl_expr_alloc("counter")) == 0 &&
	    nft_expr(r, nft_expr_queue(p, native)) == 0;
	return nft_rule_push(ctx, b, r, ok, what);
}

/*
 * The queue rules of one port in chain: every address when no servers
 * are given, else one rule per family looking the server up.
 */
static int
nft_add_queue_rules(struct nft_ctx *ctx, struct nft_batch *b,
    const char *chain, uint16_t port, int dir_src,
    const struct nft_setup_params *p, int native)
{
	if (p->nservers == 0)
		return nft_add_queue_rule(ctx, b, chain, port, dir_src, 0, p,
		    native);
	if (nft_add_queue_rule(ctx, b, chain, port, dir_src, AF_INET, p,
	    native) == -1 ||
	    nft_add_queue_rule(ctx, b, chain, port, dir_src, AF_INET6, p,
	    native) == -1)
		return -1;
	return 0;
}

/* --- dumps ----------------------------------------------------------- */

struct nft_dump_state {
	int		 cb_errno;	/* set by a callback that failed */
};

/* Send one request and run cb over the multipart reply. */
static int
nft_dump(struct nft_ctx *ctx, struct nlmsghdr *nlh, mnl_cb_t cb, void *arg,
    struct nft_dump_state *st)
{
	ssize_t n;
	int ret;

	/*
	 * A dump a failed callback gave up on is still running: the kernel
	 * would refuse a new one (EBUSY) behind its stale parts.
	 */
	nft_drain(ctx);
	if (mnl_socket_sendto(ctx->nl, nlh, nlh->nlmsg_len) == -1)
		return -1;
	for (;;) {
		n = mnl_socket_recvfrom(ctx->nl, ctx->rbuf, NFT_RBUF_SIZE);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				errno = ETIMEDOUT;
			return -1;
		}
		ret = mnl_cb_run(ctx->rbuf, (size_t)n, nlh->nlmsg_seq,
		    ctx->portid, cb, arg);
		if (ret == MNL_CB_ERROR) {
			if (st->cb_errno != 0)
				errno = st->cb_errno;
			return -1;
		}
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

/*
 * Run a dump, retrying when the kernel says the ruleset changed under it
 * (NLM_F_DUMP_INTR, reported as EINTR); nft_dump() drains the abandoned
 * one before asking again.
 */
static int
nft_dump_retry(struct nft_ctx *ctx, char *req, struct nlmsghdr *(*build)(
    struct nft_ctx *, char *, void *), mnl_cb_t cb, void *arg,
    struct nft_dump_state *st, void (*reset)(void *))
{
	int tries;

	for (tries = 0; tries < 5; tries++) {
		struct nlmsghdr *nlh = build(ctx, req, arg);

		if (nlh == NULL)
			return -1;
		if (nft_dump(ctx, nlh, cb, arg, st) == 0)
			return 0;
		if (errno != EINTR)
			return -1;
		reset(arg);
	}
	errno = EINTR;
	return -1;
}

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
 * Replace the servers set of family with p's servers of that family: a
 * flush (a delete message naming no element), then the prefixes merged
 * into disjoint ranges (the kernel refuses overlapping intervals, and a
 * configuration may well list a network and a host inside it), at most
 * NFT_ELEMS_PER_MSG kernel elements per message.
 */
static int
nft_servers_fill(struct nft_ctx *ctx, struct nft_batch *b, int family,
    const struct nft_setup_params *p)
{
	const char *setname = family == AF_INET ? NFT_SERVERS4 : NFT_SERVERS6;
	struct nftnl_set *s = NULL;
	nft_u128 (*r)[2] = NULL;
	size_t i, n = 0, m = 0, inmsg = 0;
	char what[96];

	snprintf(what, sizeof(what), "flush set %s", setname);
	if ((s = nft_set_ref(setname)) == NULL ||
	    nft_elems_msg(ctx, b, NFT_MSG_DELSETELEM, &s, what) == -1)
		goto fail;

	if (p->nservers > 0 &&
	    (r = calloc(p->nservers, sizeof(*r))) == NULL)
		goto fail;
	for (i = 0; i < p->nservers; i++) {
		const struct nft_block *v = &p->servers[i];

		if (v->family != family)
			continue;
		if (!nft_block_valid(v)) {
			errno = EINVAL;
			goto fail;
		}
		r[n][0] = nft_key_get(family, v->addr);
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
			snprintf(what, sizeof(what), "add %zu server "
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
	    nft_servers_fill(ctx, b, AF_INET, p) == -1 ||
	    nft_servers_fill(ctx, b, AF_INET6, p) == -1)
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
	if (p->nservers > NFT_SERVERS_MAX ||
	    (p->nservers > 0 && p->servers == NULL)) {
		nft_err(err, errlen, "nft setup: %zu servers (at most %u)",
		    p->nservers, NFT_SERVERS_MAX);
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < p->nservers; i++) {
		if (!nft_block_valid(&p->servers[i])) {
			char a[64];

			nft_err(err, errlen, "nft setup: server %zu: bad prefix "
			    "%s", i, nft_block_format(&p->servers[i], a,
			    sizeof(a)));
			errno = EINVAL;
			return -1;
		}
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
	present &= NFT_CH_QUEUE | NFT_CH_QUEUE_OUT;
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

/* --- set elements ---------------------------------------------------- */

/*
 * An interval set holds a prefix as two elements: its first address, and
 * the first address after it flagged INTERVAL_END.  A prefix reaching the
 * top of the address space has no end element; nft(8) marks such a start
 * with userdata, which we add too so `nft list` prints it right.
 */
static size_t
nft_block_kelems(const struct nft_block *v, struct nft_kelem ke[2])
{
	nft_u128 start = nft_key_get(v->family, v->addr);
	nft_u128 last = start | nft_host_mask(v->family, v->prefix);

	memset(ke, 0, 2 * sizeof(*ke));
	ke[0].key = start;
	ke[0].timeout_ms = v->timeout_ms;
	if (last == nft_key_max(v->family)) {
		ke[0].open = 1;
		return 1;
	}
	ke[1].key = last + 1;
	ke[1].end = 1;
	return 2;
}

static struct nftnl_set_elem *
nft_elem_new(int family, const struct nft_kelem *k, int with_timeout)
{
	static const uint8_t open_udata[] = {
		NFT_UDATA_ELEM_FLAGS, 4, NFT_UDATA_INTERVAL_OPEN, 0, 0, 0
	};
	struct nftnl_set_elem *e;
	uint8_t addr[16];

	if ((e = nftnl_set_elem_alloc()) == NULL)
		return NULL;
	nft_key_put(family, k->key, addr);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, addr, nft_width(family) / 8);
	if (k->end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS,
		    NFT_SET_ELEM_INTERVAL_END);
	if (with_timeout && !k->end && k->timeout_ms != 0)
		nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, k->timeout_ms);
	if (with_timeout && k->open)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, open_udata,
		    sizeof(open_udata));
	return e;
}

/*
 * Build the element messages for one family: v[] filtered by family,
 * NFT_ELEMS_PER_MSG kernel elements per message (a prefix's two elements
 * always in the same message).
 */
static int
nft_build_elems(struct nft_ctx *ctx, struct nft_batch *b, uint16_t type,
    int family, const struct nft_block *v, size_t n)
{
	const char *setname = family == AF_INET ? NFT_SET4 : NFT_SET6;
	struct nftnl_set *s = NULL;
	struct nft_kelem ke[2];
	size_t i, j, k, first = 0, inmsg = 0;
	char what[96], a[64];

	for (i = 0; i <= n; i++) {
		if (i < n && v[i].family != family)
			continue;
		if (s != NULL && (i == n || inmsg + 2 > NFT_ELEMS_PER_MSG)) {
			snprintf(what, sizeof(what), "%s elements %zu..%zu "
			    "(first %s) %s %s",
			    type == NFT_MSG_NEWSETELEM ? "add" : "delete",
			    first, i - 1, nft_block_format(&v[first], a,
			    sizeof(a)), type == NFT_MSG_NEWSETELEM ? "to" :
			    "from", setname);
			if (nft_elems_msg(ctx, b, type, &s, what) == -1)
				goto fail;
			inmsg = 0;
		}
		if (i == n)
			break;
		if (s == NULL) {
			if ((s = nft_set_ref(setname)) == NULL)
				goto fail;
			first = i;
		}
		k = nft_block_kelems(&v[i], ke);
		for (j = 0; j < k; j++) {
			struct nftnl_set_elem *e = nft_elem_new(family, &ke[j],
			    type == NFT_MSG_NEWSETELEM);

			if (e == NULL)
				goto fail;
			nftnl_set_elem_add(s, e);
		}
		inmsg += k;
	}
	return 0;
fail:
	if (s != NULL)
		nftnl_set_free(s);
	errno = errno == 0 ? ENOMEM : errno;
	return -1;
}

static int
nft_elems(struct nft_ctx *ctx, uint16_t type, const struct nft_block *v,
    size_t n, char *err, size_t errlen)
{
	const char *op = type == NFT_MSG_NEWSETELEM ? "nft_block_add" :
	    "nft_block_del";
	struct nft_batch b;
	char a[64];
	size_t i;
	int e;

	for (i = 0; i < n; i++) {
		if (!nft_block_valid(&v[i])) {
			nft_err(err, errlen, "%s: element %zu: bad prefix %s "
			    "(family %d, host bits set or length out of range)",
			    op, i, nft_block_format(&v[i], a, sizeof(a)),
			    v[i].family);
			errno = EINVAL;
			return -1;
		}
	}
	if (n == 0)
		return 0;
	if (nft_batch_begin(ctx, &b) == -1 ||
	    nft_build_elems(ctx, &b, type, AF_INET, v, n) == -1 ||
	    nft_build_elems(ctx, &b, type, AF_INET6, v, n) == -1) {
		e = errno;
		nft_err(err, errlen, "%s: build batch of %zu: %s", op, n,
		    strerror(e));
		nft_batch_free(&b);
		errno = e;
		return -1;
	}
	return nft_batch_send_free(ctx, &b, err, errlen);
}

int
nft_block_add(struct nft_ctx *ctx, const struct nft_block *v, size_t n,
    char *err, size_t errlen)
{
	return nft_elems(ctx, NFT_MSG_NEWSETELEM, v, n, err, errlen);
}

int
nft_block_del(struct nft_ctx *ctx, const struct nft_block *v, size_t n,
    char *err, size_t errlen)
{
	return nft_elems(ctx, NFT_MSG_DELSETELEM, v, n, err, errlen);
}

/* --- listing --------------------------------------------------------- */

struct nft_list {
	struct nft_dump_state st;
	int		 family;
	const char	*setname;
	struct nft_kelem *v;
	size_t		 n;
	size_t		 cap;
};

static int
nft_list_elem(struct nftnl_set_elem *e, void *data)
{
	struct nft_list *l = data;
	struct nft_kelem *k, *nv;
	const void *key;
	uint32_t klen = 0;
	size_t ncap;

	key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	if (key == NULL || klen != nft_width(l->family) / 8)
		return 0;	/* not ours to interpret */
	if (l->n == l->cap) {
		if (l->cap >= NFT_LIST_MAX) {
			l->st.cb_errno = E2BIG;
			return -1;
		}
		ncap = l->cap == 0 ? 1024 : l->cap * 2;
		if ((nv = reallocarray(l->v, ncap, sizeof(*nv))) == NULL) {
			l->st.cb_errno = ENOMEM;
			return -1;
		}
		l->v = nv;
		l->cap = ncap;
	}
	k = &l->v[l->n++];
	memset(k, 0, sizeof(*k));
	k->key = nft_key_get(l->family, key);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
		k->end = (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) &
		    NFT_SET_ELEM_INTERVAL_END) != 0;
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT))
		k->timeout_ms = nftnl_set_elem_get_u64(e,
		    NFTNL_SET_ELEM_TIMEOUT);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION))
		k->expires_ms = nftnl_set_elem_get_u64(e,
		    NFTNL_SET_ELEM_EXPIRATION);
	return 0;
}

static int
nft_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_list *l = data;
	struct nftnl_set *s;
	int ret = MNL_CB_OK;

	if ((s = nftnl_set_alloc()) == NULL) {
		l->st.cb_errno = ENOMEM;
		return MNL_CB_ERROR;
	}
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0) {
		l->st.cb_errno = EPROTO;
		ret = MNL_CB_ERROR;
	} else if (nftnl_set_elem_foreach(s, nft_list_elem, l) < 0)
		ret = MNL_CB_ERROR;
	nftnl_set_free(s);
	return ret;
}

static struct nlmsghdr *
nft_list_req(struct nft_ctx *ctx, char *buf, void *arg)
{
	struct nft_list *l = arg;
	struct nftnl_set *s;
	struct nlmsghdr *nlh;

	if ((s = nftnl_set_alloc()) == NULL)
		return NULL;
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, l->setname) < 0) {
		nftnl_set_free(s);
		return NULL;
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET,
	    NLM_F_DUMP, ctx->seq++);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nlh;
}

static void
nft_list_reset(void *arg)
{
	((struct nft_list *)arg)->n = 0;
}

static int
nft_kelem_cmp(const void *a, const void *b)
{
	const struct nft_kelem *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	/* An end element sorts before a start at the same key: the
	 * previous interval ends where the next begins. */
	return y->end - x->end;
}

/* Report [lo, hi] as the fewest prefixes covering exactly that range. */
static int
nft_list_range(int family, nft_u128 lo, nft_u128 hi,
    const struct nft_kelem *start, nft_block_cb cb, void *arg)
{
	struct nft_block blk;
	unsigned int w = nft_width(family), host;
	int ret;

	for (;;) {
		/* Largest aligned block starting at lo that fits. */
		for (host = w; host > 0; host--) {
			nft_u128 mask = nft_host_mask(family, w - host);

			if ((lo & mask) == 0 && (lo | mask) <= hi)
				break;
		}
		memset(&blk, 0, sizeof(blk));
		blk.family = family;
		blk.prefix = (uint8_t)(w - host);
		blk.timeout_ms = start->timeout_ms;
		blk.expires_ms = start->expires_ms;
		nft_key_put(family, lo, blk.addr);
		if ((ret = cb(&blk, arg)) != 0)
			return ret;
		lo |= nft_host_mask(family, w - host);
		if (lo >= hi)
			return 0;
		lo++;
	}
}

static int
nft_list_family(struct nft_ctx *ctx, int family, nft_block_cb cb, void *arg,
    char *err, size_t errlen)
{
	char req[NFT_REQ_SIZE] = { 0 };
	struct nft_list l;
	size_t i;
	int ret = 0, e;

	memset(&l, 0, sizeof(l));
	l.family = family;
	l.setname = family == AF_INET ? NFT_SET4 : NFT_SET6;
	if (nft_dump_retry(ctx, req, nft_list_req, nft_list_cb, &l, &l.st,
	    nft_list_reset) == -1) {
		e = errno;
		nft_err(err, errlen, "nft_block_list: list set inet %s %s: %s",
		    NFT_TABLE, l.setname, strerror(e));
		free(l.v);
		errno = e;
		return -1;
	}
	/* The kernel dumps in tree order (descending); pair them up. */
	if (l.n > 0)
		qsort(l.v, l.n, sizeof(*l.v), nft_kelem_cmp);
	for (i = 0; i < l.n && ret == 0; i++) {
		nft_u128 hi;

		if (l.v[i].end)
			continue;	/* an end with no start: ignore */
		if (i + 1 < l.n && l.v[i + 1].end) {
			if (l.v[i + 1].key == l.v[i].key)
				continue;	/* empty interval */
			hi = l.v[i + 1].key - 1;
		} else
			hi = nft_key_max(family);
		ret = nft_list_range(family, l.v[i].key, hi, &l.v[i], cb, arg);
	}
	free(l.v);
	return ret;
}

int
nft_block_list(struct nft_ctx *ctx, int family, nft_block_cb cb, void *arg,
    char *err, size_t errlen)
{
	int ret;

	if (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC) {
		nft_err(err, errlen, "nft_block_list: family %d", family);
		errno = EINVAL;
		return -1;
	}
	if (family != AF_INET6 &&
	    (ret = nft_list_family(ctx, AF_INET, cb, arg, err, errlen)) != 0)
		return ret;
	if (family != AF_INET)
		return nft_list_family(ctx, AF_INET6, cb, arg, err, errlen);
	return 0;
}
