/*
 * reset.h — crafted TCP resets.  When a relay attempt is stopped, both
 * ends get a RST at exactly the sequence number they expect (RFC 5961
 * makes Linux and modern stacks ignore any other), so the legacy server
 * frees its session at once and the client learns it is over.
 *
 * The packets carry a firewall mark so that the queue rule lets them pass
 * instead of queueing them back to us (they leave through the output
 * hook; with hook input they come back in through lo).
 */
#ifndef RG_RESET_H
#define RG_RESET_H

#include "rg.h"

#define RESET_MARK 0x52470001u	/* "RG" 0001 */

struct reset;

struct reset *reset_open(char *err, size_t errlen);
void reset_close(struct reset *r);

/* Send one RST|ACK from src:sport to dst:dport with the given seq/ack.
 * Returns 0, or -1 with errno set. */
int reset_send(struct reset *r, const struct rg_addr *src, uint16_t sport,
    const struct rg_addr *dst, uint16_t dport, uint32_t seq, uint32_t ack);

/* Build the packet only (tests): returns its length, 0 if buf too small. */
size_t reset_build(uint8_t *buf, size_t len, const struct rg_addr *src,
    uint16_t sport, const struct rg_addr *dst, uint16_t dport, uint32_t seq,
    uint32_t ack);

#endif
