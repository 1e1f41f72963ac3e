/*
 * queue.h — NFQUEUE intake: one netlink socket bound to one queue, in
 * copy-packet mode with the fail-open flag (when the queue overflows the
 * kernel accepts instead of dropping: a busy firewall must not stop mail).
 */
#ifndef RG_QUEUE_H
#define RG_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct queue;

/* What the handler decided for one packet. */
struct queue_verdict {
	bool accept;
	bool modified;		/* send the (rewritten) packet back */
	/* Mark the connection (offload): ct mark bits mask set to mark,
	 * through NFQA_CT where the kernel takes it, and always the same
	 * bits of the packet's mark, which a rule after the queue copies
	 * to the connection (nft.h). */
	bool offload;
	uint32_t mark, mask;
};

/*
 * Called once per queued packet with the IP packet (no link header),
 * writable: len bytes of it, wirelen its real length (larger when the
 * packet exceeded the copy range).  hw_csum_ok is false when the kernel said the checksum is not
 * computed yet (locally generated, or GRO/GSO offload): then the TCP
 * checksum cannot be verified.  indev is the interface it came in on, 0
 * for a locally generated packet.
 */
typedef void (*queue_handler_fn)(void *ctx, uint8_t *pkt, size_t len,
    size_t wirelen, bool csum_unverifiable, uint32_t indev,
    struct queue_verdict *v);

struct queue_stats {
	uint64_t packets;
	uint64_t receives;	/* system calls that took packets */
	uint64_t enobufs;	/* the kernel dropped messages for us */
	uint64_t errors;
};

struct queue *queue_open(uint16_t num, char *err, size_t errlen);
void queue_close(struct queue *q);
int queue_fd(const struct queue *q);
/* Does the kernel set a connection's mark from a verdict (NFQA_CT: it
 * needs CONFIG_NETFILTER_NETLINK_GLUE_CT)?  Asked once at queue_open(). */
bool queue_ct_verdicts(const struct queue *q);
uint16_t queue_num(const struct queue *q);

/*
 * Wait for the next message (at most QUEUE_WAIT_MS, so that a thread can
 * notice it is asked to stop) and keep it: 1, or 0 when nothing came
 * (timeout, EINTR, or ENOBUFS, which is counted and not an error), -1 on
 * another socket error.  The caller needs no lock for it.
 */
int queue_wait(struct queue *q);
#define QUEUE_WAIT_MS 100
/* Answer every packet of the message queue_wait() kept; the number of
 * packets handled. */
int queue_handle(struct queue *q, queue_handler_fn fn, void *ctx);

void queue_get_stats(const struct queue *q, struct queue_stats *s);

#endif
