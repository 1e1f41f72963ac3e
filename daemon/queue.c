/*
 * queue.c — NFQUEUE through libnetfilter_queue's libmnl interface.
 *
 * Each of QUEUE_RECV_BATCH receive buffers holds a full packet plus
 * netlink headers, and one recvmmsg() fills as many as the kernel has
 * messages waiting: under load several packets cost one receive and one
 * verdict.  Every attribute is checked before use.  ENOBUFS means the kernel dropped queue
 * messages because we were slow: with the fail-open flag those packets were
 * accepted, so it is counted and logged by the caller, never fatal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "queue.h"

#define QUEUE_COPY_RANGE 0xffff		/* the kernel clamps to 65531 */
#define QUEUE_MAXLEN 4096		/* packets waiting in the kernel */
#define QUEUE_RCVBUF (8 * 1024 * 1024)
#define QUEUE_RECV_BATCH 16		/* messages one receive may take */

struct queue {
	struct mnl_socket *nl;
	uint32_t portid;
	uint16_t num;
	char *buf;			/* QUEUE_RECV_BATCH buffers */
	size_t buflen;			/* of each */
	struct mmsghdr msgs[QUEUE_RECV_BATCH];
	struct iovec iov[QUEUE_RECV_BATCH];
	unsigned held;			/* messages received, in msgs */
	char *vbuf;			/* verdict message buffer */
	size_t vbuflen;
	struct queue_stats st;
	bool ct_verdicts;		/* NFQA_CT is honoured */
	bool batch;			/* plain accepts waiting, up to batch_id */
	uint32_t batch_id;
	queue_handler_fn fn;
	void *ctx;
};

static int
queue_send_cfg(struct queue *q, uint8_t cmd, bool params, char *err,
    size_t errlen)
{
	char buf[8192];
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);
	if (!params)
		nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, cmd);
	else {
		nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET,
		    QUEUE_COPY_RANGE);
		nfq_nlmsg_cfg_put_qmaxlen(nlh, QUEUE_MAXLEN);
		mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_FAIL_OPEN));
		mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN));
	}
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0) {
		snprintf(err, errlen, "queue %u: config: %s", q->num,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Can a verdict set the connection's mark?  The kernel honours NFQA_CT
 * only with its conntrack glue, and refuses the NFQA_CFG_F_CONNTRACK flag
 * without it (EOPNOTSUPP) before it looks for the queue: asked before the
 * bind, any other answer (ENODEV: no such queue yet) means it is there.
 * The flag itself is never left set (it would copy conntrack data into
 * every queued packet).
 */
static bool
queue_probe_ct(struct queue *q)
{
	char buf[8192];
	struct nlmsghdr *nlh;
	const struct nlmsgerr *e;
	ssize_t n;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);
	nlh->nlmsg_flags |= NLM_F_ACK;
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_CONNTRACK));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_CONNTRACK));
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return false;
	/* The answer is written while the request is handled. */
	n = recv(mnl_socket_get_fd(q->nl), buf, sizeof(buf), MSG_DONTWAIT);
	if (n < (ssize_t)(sizeof(*nlh) + sizeof(*e)))
		return false;
	nlh = (struct nlmsghdr *)buf;
	if (nlh->nlmsg_type != NLMSG_ERROR)
		return false;
	e = mnl_nlmsg_get_payload(nlh);
	return e->error != -EOPNOTSUPP && e->error != -EINVAL;
}

struct queue *
queue_open(uint16_t num, char *err, size_t errlen)
{
	struct queue *q;
	int rcv = QUEUE_RCVBUF;
	unsigned i;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		snprintf(err, errlen, "queue %u: out of memory", num);
		return NULL;
	}
	q->num = num;
	q->buflen = QUEUE_COPY_RANGE + MNL_SOCKET_BUFFER_SIZE;
	q->vbuflen = QUEUE_COPY_RANGE + MNL_SOCKET_BUFFER_SIZE;
	q->buf = calloc(QUEUE_RECV_BATCH, q->buflen);
	q->vbuf = malloc(q->vbuflen);
	if (q->buf == NULL || q->vbuf == NULL) {
		snprintf(err, errlen, "queue %u: out of memory", num);
		goto fail;
	}
	for (i = 0; i < QUEUE_RECV_BATCH; i++) {
		q->iov[i].iov_base = q->buf + i * q->buflen;
		q->iov[i].iov_len = q->buflen;
		q->msgs[i].msg_hdr.msg_iov = &q->iov[i];
		q->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	if ((q->nl = mnl_socket_open(NETLINK_NETFILTER)) == NULL) {
		snprintf(err, errlen, "queue %u: netlink socket: %s", num,
		    strerror(errno));
		goto fail;
	}
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "queue %u: netlink bind: %s", num,
		    strerror(errno));
		goto fail;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	/* A large receive buffer absorbs bursts; FORCE needs CAP_NET_ADMIN
	 * and goes past rmem_max.  Failing both is survivable. */
	if (setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUFFORCE,
	    &rcv, sizeof(rcv)) < 0)
		(void)setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET,
		    SO_RCVBUF, &rcv, sizeof(rcv));
	/* A blocking receive that gives up now and then (queue_wait). */
	if (setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVTIMEO,
	    &(struct timeval){ 0, QUEUE_WAIT_MS * 1000 },
	    sizeof(struct timeval)) < 0) {
		snprintf(err, errlen, "queue %u: SO_RCVTIMEO: %s", num,
		    strerror(errno));
		goto fail;
	}
	/* Report ENOBUFS (the default) so it can be counted; and do not let
	 * the kernel send ACKs we would have to read. */
	(void)mnl_socket_setsockopt(q->nl, NETLINK_NO_ENOBUFS, &(int){0},
	    sizeof(int));
	q->ct_verdicts = queue_probe_ct(q);
	if (queue_send_cfg(q, NFQNL_CFG_CMD_BIND, false, err, errlen) < 0)
		goto fail;
	if (queue_send_cfg(q, 0, true, err, errlen) < 0)
		goto fail;
	return q;
fail:
	queue_close(q);
	return NULL;
}

void
queue_close(struct queue *q)
{
	char err[128];

	if (q == NULL)
		return;
	if (q->nl != NULL) {
		(void)queue_send_cfg(q, NFQNL_CFG_CMD_UNBIND, false, err,
		    sizeof(err));
		mnl_socket_close(q->nl);
	}
	free(q->buf);
	free(q->vbuf);
	free(q);
}

int
queue_fd(const struct queue *q)
{
	return mnl_socket_get_fd(q->nl);
}

bool
queue_ct_verdicts(const struct queue *q)
{
	return q->ct_verdicts;
}

uint16_t
queue_num(const struct queue *q)
{
	return q->num;
}

/*
 * Plain accepts are answered together: one NFQNL_MSG_VERDICT_BATCH
 * accepts every packet still waiting with an id up to batch_id (ids grow
 * per queue), which saves a system call per packet.  A drop or a rewritten
 * packet first sends the accepts before it, then its own verdict.
 */
static void
queue_flush_batch(struct queue *q)
{
	struct nlmsghdr *nlh;

	if (!q->batch)
		return;
	nlh = nfq_nlmsg_put(q->vbuf, NFQNL_MSG_VERDICT_BATCH, q->num);
	nfq_nlmsg_verdict_put(nlh, (int)q->batch_id, NF_ACCEPT);
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		q->st.errors++;
	q->batch = false;
}

static void
queue_verdict(struct queue *q, uint32_t id, const struct queue_verdict *v,
    const uint8_t *pkt, size_t len, uint32_t pktmark)
{
	struct nlmsghdr *nlh;
	struct nlattr *nest;

	if (v->accept && !v->modified && !v->offload) {
		q->batch = true;
		q->batch_id = id;
		return;
	}
	queue_flush_batch(q);
	nlh = nfq_nlmsg_put(q->vbuf, NFQNL_MSG_VERDICT, q->num);
	nfq_nlmsg_verdict_put(nlh, (int)id, v->accept ? NF_ACCEPT : NF_DROP);
	if (v->accept && v->modified && len <= QUEUE_COPY_RANGE)
		nfq_nlmsg_verdict_put_pkt(nlh, pkt, (uint32_t)len);
	if (v->accept && v->offload) {
		/* The packet's mark is replaced whole: keep its other bits. */
		nfq_nlmsg_verdict_put_mark(nlh, (pktmark & ~v->mask) | v->mark);
		if (q->ct_verdicts) {
			nest = mnl_attr_nest_start(nlh, NFQA_CT);
			mnl_attr_put_u32(nlh, CTA_MARK, htonl(v->mark));
			mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(v->mask));
			mnl_attr_nest_end(nlh, nest);
		}
	}
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		q->st.errors++;
}

static int
queue_cb(const struct nlmsghdr *nlh, void *data)
{
	struct queue *q = data;
	struct nlattr *attr[NFQA_MAX + 1];
	struct nfqnl_msg_packet_hdr *ph;
	struct queue_verdict v;
	uint8_t *pkt;
	size_t len, wirelen;
	uint32_t id, skbinfo = 0, caplen, indev = 0, pktmark = 0;
	bool unverifiable;

	memset(attr, 0, sizeof(attr));
	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL) {
		q->st.errors++;
		return MNL_CB_OK;
	}
	if (mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(*ph)) {
		q->st.errors++;
		return MNL_CB_OK;
	}
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);
	q->st.packets++;
	memset(&v, 0, sizeof(v));
	v.accept = true;
	if (attr[NFQA_PAYLOAD] == NULL) {
		queue_verdict(q, id, &v, NULL, 0, 0);
		return MNL_CB_OK;
	}
	pkt = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
	len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	/* A packet longer than the copy range comes cut, with its real
	 * length in NFQA_CAP_LEN: the engine must know (it drops it). */
	wirelen = len;
	if (attr[NFQA_CAP_LEN] != NULL &&
	    mnl_attr_get_payload_len(attr[NFQA_CAP_LEN]) >= 4) {
		caplen = ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN]));
		if (caplen > len)
			wirelen = caplen;
	}
	if (attr[NFQA_SKB_INFO] != NULL &&
	    mnl_attr_get_payload_len(attr[NFQA_SKB_INFO]) >= 4)
		skbinfo = ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO]));
	unverifiable = (skbinfo & (NFQA_SKB_CSUMNOTREADY | NFQA_SKB_GSO)) != 0;
	if (attr[NFQA_IFINDEX_INDEV] != NULL &&
	    mnl_attr_get_payload_len(attr[NFQA_IFINDEX_INDEV]) >= 4)
		indev = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
	if (attr[NFQA_MARK] != NULL &&
	    mnl_attr_get_payload_len(attr[NFQA_MARK]) >= 4)
		pktmark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
	q->fn(q->ctx, pkt, len, wirelen, unverifiable, indev, &v);
	queue_verdict(q, id, &v, pkt, len, pktmark);
	return MNL_CB_OK;
}

int
queue_wait(struct queue *q)
{
	int n;

	q->held = 0;
	/* Blocks (up to the socket's timeout) for the first message only,
	 * then takes what else is waiting without another system call. */
	n = recvmmsg(mnl_socket_get_fd(q->nl), q->msgs, QUEUE_RECV_BATCH,
	    MSG_WAITFORONE, NULL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		if (errno == ENOBUFS) {
			q->st.enobufs++;
			return 0;
		}
		q->st.errors++;
		return -1;
	}
	q->held = (unsigned)n;
	q->st.receives++;
	return n > 0 ? 1 : 0;
}

int
queue_handle(struct queue *q, queue_handler_fn fn, void *ctx)
{
	uint64_t before = q->st.packets;
	unsigned i;
	int rc;

	if (q->held == 0)
		return 0;
	q->fn = fn;
	q->ctx = ctx;
	/* The plain accepts of all the messages go in one batch verdict. */
	for (i = 0; i < q->held; i++) {
		/* Cannot happen (a buffer takes the copy range and more);
		 * its packet would wait for a verdict that never comes. */
		if (q->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
			q->st.errors++;
			continue;
		}
		rc = mnl_cb_run(q->iov[i].iov_base, q->msgs[i].msg_len, 0,
		    q->portid, queue_cb, q);
		if (rc < 0 && errno != ENOENT)
			q->st.errors++;
	}
	q->held = 0;
	queue_flush_batch(q);
	return (int)(q->st.packets - before);
}

void
queue_get_stats(const struct queue *q, struct queue_stats *s)
{
	*s = q->st;
}
