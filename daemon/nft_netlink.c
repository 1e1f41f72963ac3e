/*
 * nft_netlink.c — table inet relayguard over netlink (libnftnl + libmnl):
 * the context, batches and dumps.
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

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>

#include "nft.h"
#include "nft_int.h"

void
nft_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
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
	free(ctx->spare);
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

/*
 * A buffer of at most NFT_BATCH_KEEP bytes goes back to the context for
 * the next batch, zeroed where this one wrote: its messages, and a message
 * started but never pushed (its header says how far it got).
 */
void
nft_batch_free(struct nft_batch *b)
{
	const struct nlmsghdr *open;
	size_t used = b->len;

	if (b->ctx != NULL && b->buf != NULL && b->cap <= NFT_BATCH_KEEP &&
	    b->ctx->spare == NULL) {
		if (b->cap - used >= sizeof(*open)) {
			open = (const struct nlmsghdr *)(void *)(b->buf + used);
			if (open->nlmsg_len <= b->cap - used)
				used += open->nlmsg_len;
			else
				used = b->cap;
		} else
			used = b->cap;
		memset(b->buf, 0, used);
		b->ctx->spare = b->buf;
		b->ctx->spare_cap = b->cap;
	} else
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

int
nft_batch_begin(struct nft_ctx *ctx, struct nft_batch *b)
{
	struct nlmsghdr *nlh;
	uint32_t seq = ctx->seq++;

	memset(b, 0, sizeof(*b));
	b->ctx = ctx;
	if (ctx->spare != NULL) {
		b->buf = ctx->spare;
		b->cap = ctx->spare_cap;
		ctx->spare = NULL;
	}
	if (nft_batch_room(b) == -1 ||
	    nft_batch_label(b, seq, "begin batch") == -1)
		return -1;
	nlh = nftnl_batch_begin(b->buf, seq);
	b->len = NLMSG_ALIGN(nlh->nlmsg_len);
	return 0;
}

/* Start a message; the caller fills it and calls nft_batch_push(). */
struct nlmsghdr *
nft_batch_msg(struct nft_ctx *ctx, struct nft_batch *b, uint16_t type,
    uint16_t flags, const char *what)
{
	uint32_t seq = ctx->seq++;

	if (nft_batch_room(b) == -1 || nft_batch_label(b, seq, what) == -1)
		return NULL;
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET,
	    flags, seq);
}

void
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

/* Send the batch, free it, and keep the send's errno. */
int
nft_batch_send_free(struct nft_ctx *ctx, struct nft_batch *b, char *err,
    size_t errlen)
{
	int ret = nft_batch_send(ctx, b, err, errlen), e = errno;

	nft_batch_free(b);
	errno = e;
	return ret;
}

/* --- dumps ----------------------------------------------------------- */

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
int
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
