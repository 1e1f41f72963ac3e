/*
 * engine.h — the whole inspection pipeline behind one call per packet:
 * decode -> flow table -> TCP reassembly -> SMTP dialogue -> address and
 * policy -> events and a verdict.
 *
 * The engine never calls out: the caller (replay tool, daemon, tests) hands
 * it a packet, reads the verdict it returns, and drains the events it
 * queued.  Time is the packet's timestamp only.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include "rg.h"
#include "config.h"
#include "decode.h"
#include "event.h"

#define ENGINE_EVENT_QUEUE 1024

enum engine_verdict {
	ENGINE_ACCEPT,		/* pass the packet */
	ENGINE_DROP,		/* drop it (enforce mode only) */
};

/* What the caller must do besides the verdict (inline daemon). */
struct engine_result {
	enum engine_verdict verdict;
	/* Reset both ends of the connection: a RST to the server at its
	 * expected sequence and one to the client at its expected sequence. */
	bool reset;
	struct rg_addr client, server;
	uint16_t client_port, server_port;
	uint32_t seq_to_server;	/* seq for a RST client->server */
	uint32_t seq_to_client;	/* seq for a RST server->client */
	/* Put this client into the block set for block_for. */
	bool block;
	rg_time_t block_for;
	bool rewritten;		/* the packet was modified in place */
	bool decoded;		/* packet was a TCP segment on our ports */
};

/* Every field is a 64-bit counter (size_t is 64 bits where the daemon
 * runs): the daemon adds several engines' statistics field by field. */
struct engine_stats {
	uint64_t packets, bytes;	/* all packets handed in */
	uint64_t tcp_packets;		/* on the configured ports */
	uint64_t not_tcp, fragments, malformed, unsupported;
	uint64_t flows_created, flows_active, flows_evicted, flows_expired;
	uint64_t sessions;		/* flows that carried SMTP */
	uint64_t commands, replies;
	uint64_t relay_attempts, blocks, smuggling, anomalies;
	uint64_t never_blocked;		/* block-after reached in never-block:
					 * not blocked */
	uint64_t ambiguities;		/* lines some server reads otherwise */
	uint64_t drops, resets;
	uint64_t resets_relay;		/* resets for relay attempts */
	uint64_t after_reset;		/* packets of reset sessions, after
					 * the reset: never inspected */
	uint64_t mail_accepted;		/* end of DATA / BDAT LAST answered
					 * 2xx: messages that passed */
	uint64_t mail_sessions;		/* sessions with one or more */
	/* Replay's simulated blocks (engine_set_simulate): */
	uint64_t sim_clients_blocked;	/* distinct clients */
	uint64_t sim_block_packets;	/* packets of blocked clients */
	uint64_t sim_block_sessions;	/* sessions they opened: dropped */
	uint64_t blocks_unremembered;	/* blocks the engine had no room to
					 * remember (blockset.h) */
	uint64_t payload_bytes;		/* TCP payload inspected or skipped */
	uint64_t body_bytes, opaque_bytes;
	uint64_t gaps, gap_bytes, retrans, mismatches;
	uint64_t events_lost;		/* queue overflow */
	/* normalisation: segments not inspected (and dropped inline) */
	uint64_t norm_bad_checksum, norm_low_ttl, norm_syn_data;
	uint64_t norm_urgent, norm_out_of_window;
	uint64_t norm_rst_ignored;	/* RSTs a server would not accept */
	uint64_t norm_rewritten;	/* overlaps rewritten to inspected */
	uint64_t norm_held;		/* client data held for a reply */
	uint64_t norm_refused;		/* early data with no room: dropped */
	uint64_t norm_truncated;	/* packets not copied whole: dropped */
	uint64_t norm_partial_held;	/* unfinished RCPT lines held back */
	uint64_t midstream;		/* flows picked up without handshake */
	uint64_t unverified_attempts;	/* attempts that earn no block: no
					 * handshake or banner seen */
	uint64_t starttls_stripped, starttls_denied;
	uint64_t flows_evicted_mem;	/* evicted to get under flow-memory */
	uint64_t spoofed;		/* wrong-interface packets dropped */
	uint64_t acked_unseen;		/* ACKs for bytes never forwarded */
	uint64_t pipelined_after_wait;	/* bytes sent past DATA/AUTH/STARTTLS */
	uint64_t unreadable_lines;	/* midstream lines seen only in part */
	uint64_t mem_used, mem_peak;	/* bytes */
	uint64_t mem_refused;
};
_Static_assert(sizeof(struct engine_stats) % sizeof(uint64_t) == 0,
    "engine_stats holds 64-bit counters only");

struct engine;

/*
 * Build an engine for this configuration.  inline_mode means packets will
 * really be dropped or passed on the verdict (the daemon); replay is
 * passive and only reports.  The configuration is copied by reference:
 * conf must outlive the engine or be replaced with engine_reload().
 */
struct engine *engine_new(const struct config *conf, bool inline_mode);
void engine_free(struct engine *e);
/*
 * Key the flow table's hash with a secret (the daemon's getrandom()), so
 * that nobody can aim many connections at one bucket.  Before the first
 * packet; false if flows exist already.  Replay keeps the fixed default
 * and stays reproducible.
 */
bool engine_set_seed(struct engine *e, uint64_t seed);

/*
 * Promise that the packet bytes handed to engine_packet() stay valid and
 * unchanged until engine_free() (replay over a mapped file): the
 * reassembler then keeps references instead of copies of what it has
 * delivered.  Call before the first packet.
 */
void engine_set_borrow(struct engine *e, bool borrow);
/*
 * Replay only (ignored inline, where the daemon does it for real): carry
 * out what mode enforce does, in packet time.  A session the engine resets
 * is over: its later packets are counted (after_reset), never inspected.
 * A client the engine blocks is in a simulated block set (blockset.h) until
 * the block expires: its packets to and from the protected ports are
 * counted as dropped (sim_block_packets), never inspected, and each
 * session it opens meanwhile is reported once (EVENT_DROPPED).  Without
 * it (or in mode monitor) replay judges every byte, as monitor does.
 * Before the first packet.
 */
void engine_set_simulate(struct engine *e, bool simulate);
/*
 * The operator lifted the blocks of the addresses inside net (relayguard
 * unblock): they may earn offences again at once.  The engine otherwise
 * gives a client no new offence until its block has expired.
 */
void engine_unblock(struct engine *e, const struct cidr *net);
/* Switch to a new configuration; flows and offender history are kept. */
void engine_reload(struct engine *e, const struct config *conf);
/* Forget the relay attempts and offences counted for every client inside
 * net (`relayguard forget`); how many clients had any. */
uint32_t engine_forget(struct engine *e, const struct cidr *net);

/* engine_packet() indev: the interface the packet came in on (NFQUEUE's
 * NFQA_IFINDEX_INDEV; 0 for locally generated packets), or unknown. */
#define ENGINE_INDEV_UNKNOWN UINT32_MAX

/* engine_packet() flags */
#define ENGINE_F_CSUM_UNVERIFIABLE 0x01	/* checksum not computed yet (NFQUEUE
					 * said so): do not verify it */

/*
 * One packet of the given link type (decode.h), captured at ts.  data is
 * writable so that inline normalisation can rewrite it.  res may be NULL.
 *
 * Inline, what the receiving TCP would discard or alter is neither
 * inspected nor passed on (enforce mode drops it): a bad checksum, data
 * on a SYN, urgent data, data beyond the receiver's window, a TTL under
 * min-ttl.  Replay cannot trust captured checksums (offload), so it skips
 * that one check and reports the rest as anomalies.
 *
 * Inline, a packet of one direction that arrives on the interface the
 * other direction comes in on (while the two differ) is forged: a client
 * cannot speak for the server.  It is dropped, never inspected.
 */
enum engine_verdict engine_packet(struct engine *e, int linktype,
    rg_time_t ts, uint8_t *data, size_t caplen, size_t wirelen,
    unsigned flags, uint32_t indev, struct engine_result *res);

/* Advance the clock without a packet (idle expiry). */
void engine_tick(struct engine *e, rg_time_t now);

/* End of input: flush every flow (deliver early segments across holes,
 * report what is pending) and expire them. */
void engine_finish(struct engine *e);

/* Take the next queued event; false when none is left. */
bool engine_next_event(struct engine *e, struct event *ev);

void engine_get_stats(const struct engine *e, struct engine_stats *s);

#endif
