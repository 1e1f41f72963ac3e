/*
 * deal.h — dealing packets to several engines by client address (replay
 * on every core, tools/replay.c): both directions of a connection, and
 * every connection of one client, go to the same engine, so that one
 * client's sessions and offences are judged in one place.
 *
 * The client is the side that is not a protected server (a configured
 * port at an address in `servers`), as the engine decides it.  Where both
 * ends are protected servers (a client on port 25 talking to a server on
 * port 25, with no `servers` key), the SYN's sender is the client (tcp.c),
 * the SYN-ACK's receiver, or for a pickup the sender of the first packet
 * with data; a table remembers such connections for their other packets
 * (it grows to 262,144 of them; past that, a connection not in it goes by
 * its unordered address and port pair, both directions together).  Packets that are not TCP between a client and a protected
 * server (or cannot be decoded) go to engine 0, which then counts them
 * and reports the undecodable ones, as one engine would.
 *
 * Pure and deterministic: every worker can deal every packet itself and
 * all reach the same answer.
 */
#ifndef DEAL_H
#define DEAL_H

#include "config.h"
#include "decode.h"

struct deal;

/* NULL if out of memory.  conf must outlive the dealer. */
struct deal *deal_new(const struct config *conf, unsigned nworkers);
void deal_free(struct deal *d);
/* The worker (0 .. nworkers-1) of a packet, decoded (rc and *p from
 * decode_packet(); the engine takes the same, engine_packet_decoded()). */
unsigned deal_decoded(struct deal *d, enum decode_result rc,
    const struct decode_packet *p);

#endif
