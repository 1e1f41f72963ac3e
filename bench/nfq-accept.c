/*
 * nfq-accept.c — the bare NFQUEUE reader: every packet of one queue is
 * copied to user space whole and accepted, nothing else.  It is the floor
 * under relayguardd's packet intake in bench/inline: whatever relayguardd
 * costs beyond this is inspection.
 *
 *	nfq-accept [QUEUE]
 *
 * Set up like relayguardd's queue (libnetfilter_queue's netlink message
 * helpers over libmnl, copy-packet mode, fail-open, a large receive
 * buffer), one verdict message per packet.  Prints "ready" on stderr once
 * bound, and on SIGINT or SIGTERM the packets and bytes seen.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NFQA_BUFSIZE	(0xffff + 4096)	/* one whole packet and its attributes */
#define NFQA_MSGSIZE	8192		/* a config or verdict message */
#define NFQA_RCVBUF	(8 * 1024 * 1024)
#define NFQA_QMAXLEN	4096	/* as relayguardd's queue */

struct nfqa {
	struct mnl_socket	*nl;
	unsigned int		 portid;
	uint16_t		 queue;
	uint64_t		 packets;
	uint64_t		 bytes;
	uint64_t		 enobufs;
	char			 vbuf[NFQA_MSGSIZE];
};

static volatile sig_atomic_t nfqa_stop;

static void
nfqa_onsignal(int sig)
{
	(void)sig;
	nfqa_stop = 1;
}

static int
nfqa_config(struct nfqa *q, uint8_t cmd, int params)
{
	char buf[NFQA_MSGSIZE];
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->queue);
	/* A command and the parameters go in separate messages. */
	if (!params)
		nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, cmd);
	else {
		nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
		nfq_nlmsg_cfg_put_qmaxlen(nlh, NFQA_QMAXLEN);
		mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS,
		    htonl(NFQA_CFG_F_FAIL_OPEN));
		mnl_attr_put_u32(nlh, NFQA_CFG_MASK,
		    htonl(NFQA_CFG_F_FAIL_OPEN));
	}
	return mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0 ? -1 : 0;
}

static int
nfqa_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct nfqa *q = arg;
	struct nlattr *attr[NFQA_MAX + 1] = { NULL };
	struct nfqnl_msg_packet_hdr *ph;
	struct nlmsghdr *v;

	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL)
		return MNL_CB_OK;
	if (mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(*ph))
		return MNL_CB_OK;
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	q->packets++;
	if (attr[NFQA_PAYLOAD] != NULL)
		q->bytes += mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	v = nfq_nlmsg_put(q->vbuf, NFQNL_MSG_VERDICT, q->queue);
	nfq_nlmsg_verdict_put(v, (int)ntohl(ph->packet_id), NF_ACCEPT);
	if (mnl_socket_sendto(q->nl, v, v->nlmsg_len) < 0)
		return MNL_CB_ERROR;
	return MNL_CB_OK;
}

int
main(int argc, char *argv[])
{
	static char buf[NFQA_BUFSIZE];
	static struct nfqa q;
	struct sigaction sa;
	unsigned long num = 0;
	char *end;
	ssize_t n;
	int rcv = NFQA_RCVBUF;

	if (argc > 2) {
		fprintf(stderr, "usage: nfq-accept [QUEUE]\n");
		return 2;
	}
	if (argc == 2) {
		errno = 0;
		num = strtoul(argv[1], &end, 10);
		if (errno != 0 || *end != '\0' || end == argv[1] ||
		    num > UINT16_MAX) {
			fprintf(stderr, "nfq-accept: bad queue '%s'\n",
			    argv[1]);
			return 2;
		}
	}
	q.queue = (uint16_t)num;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = nfqa_onsignal;
	/* No SA_RESTART: recv() must return EINTR so the loop can end. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if ((q.nl = mnl_socket_open(NETLINK_NETFILTER)) == NULL ||
	    mnl_socket_bind(q.nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("nfq-accept: netlink");
		return 1;
	}
	q.portid = mnl_socket_get_portid(q.nl);
	if (setsockopt(mnl_socket_get_fd(q.nl), SOL_SOCKET, SO_RCVBUFFORCE,
	    &rcv, sizeof(rcv)) < 0)
		(void)setsockopt(mnl_socket_get_fd(q.nl), SOL_SOCKET,
		    SO_RCVBUF, &rcv, sizeof(rcv));
	/* As relayguardd: overruns are reported (ENOBUFS) and counted. */
	(void)mnl_socket_setsockopt(q.nl, NETLINK_NO_ENOBUFS, &(int){0},
	    sizeof(int));
	if (nfqa_config(&q, NFQNL_CFG_CMD_BIND, 0) < 0 ||
	    nfqa_config(&q, NFQNL_CFG_CMD_NONE, 1) < 0) {
		perror("nfq-accept: bind queue");
		return 1;
	}
	fprintf(stderr, "ready: queue %u\n", q.queue);

	while (!nfqa_stop) {
		n = recv(mnl_socket_get_fd(q.nl), buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				q.enobufs++;
				continue;
			}
			perror("nfq-accept: recv");
			break;
		}
		if (mnl_cb_run(buf, (size_t)n, 0, q.portid, nfqa_cb, &q) < 0 &&
		    errno != EINTR) {
			perror("nfq-accept: mnl_cb_run");
			break;
		}
	}
	(void)nfqa_config(&q, NFQNL_CFG_CMD_UNBIND, 0);
	mnl_socket_close(q.nl);
	fprintf(stderr, "packets %llu bytes %llu enobufs %llu\n",
	    (unsigned long long)q.packets, (unsigned long long)q.bytes,
	    (unsigned long long)q.enobufs);
	return 0;
}
