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
	/* Nothing of this connection is left to inspect (offload yes:
	 * authenticated, or TLS under starttls allow): the daemon marks the
	 * connection so that the kernel passes the rest without queueing. */
	bool offload;
	bool decoded;		/* packet was a TCP segment on our ports */
};

/* Every field is a 64-bit counter (size_t is 64 bits where the daemon
 * runs): the daemon adds several engines' statistics field by field. */
/*
 * Every engine counter, once: X(field, name, kind, group, unit, help).
 * The struct below, engine_stats_add(), the daemon's status (plain and
 * JSON) and its Prometheus metrics all come from this list, so a counter
 * added here appears everywhere.  name is what status and the metrics call
 * it (relayguard_NAME_total for a counter); kind and group: rg.h.
 */
#define ENGINE_STATS(X) \
	X(packets, "inspected_packets", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "packets", \
	    "Packets handed to the inspection engine") \
	X(bytes, "inspected_bytes", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "bytes", \
	    "Bytes of the packets handed to the inspection engine") \
	X(tcp_packets, "tcp_packets", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "packets", \
	    "TCP packets on the protected ports") \
	X(not_tcp, "not_tcp", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "packets", \
	    "Packets that were not TCP (passed uninspected)") \
	X(fragments, "fragments", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "packets", \
	    "IP fragments (dropped inline)") \
	X(malformed, "malformed", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "packets", \
	    "Packets that could not be decoded (dropped inline)") \
	X(unsupported, "unsupported", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "packets", \
	    "Packets of a link or network type relayguard does not read") \
	X(flows_created, "flows_created", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "flows", \
	    "TCP flows followed") \
	X(flows_active, "flows", RG_STAT_GAUGE, RG_STAT_TRAFFIC, "flows", \
	    "TCP flows followed now") \
	X(flows_evicted, "flows_evicted", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "flows", \
	    "Flows evicted to make room (max-flows)") \
	X(flows_expired, "flows_expired", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "flows", \
	    "Flows ended by their idle timeout") \
	X(flows_evicted_mem, "flows_evicted_memory", RG_STAT_COUNTER, RG_STAT_TRAFFIC, "flows", \
	    "Flows evicted to get under flow-memory") \
	X(sessions, "sessions", RG_STAT_COUNTER, RG_STAT_INSPECTION, "sessions", \
	    "Flows that carried SMTP") \
	X(commands, "commands", RG_STAT_COUNTER, RG_STAT_INSPECTION, "commands", \
	    "SMTP commands read") \
	X(replies, "replies", RG_STAT_COUNTER, RG_STAT_INSPECTION, "replies", \
	    "SMTP replies read") \
	X(mail_accepted, "mail_accepted", RG_STAT_COUNTER, RG_STAT_INSPECTION, "messages", \
	    "Messages the server accepted (end of DATA or last BDAT answered 2xx)") \
	X(mail_sessions, "mail_sessions", RG_STAT_COUNTER, RG_STAT_INSPECTION, "sessions", \
	    "Sessions in which the server accepted a message") \
	X(smuggling, "smuggling", RG_STAT_COUNTER, RG_STAT_INSPECTION, "events", \
	    "SMTP smuggling sequences (a lenient end of data)") \
	X(ambiguities, "ambiguities", RG_STAT_COUNTER, RG_STAT_INSPECTION, "events", \
	    "Command lines some server could read otherwise than relayguard") \
	X(anomalies, "anomalies", RG_STAT_COUNTER, RG_STAT_INSPECTION, "events", \
	    "Anomalies reported") \
	X(payload_bytes, "payload_bytes", RG_STAT_COUNTER, RG_STAT_INSPECTION, "bytes", \
	    "TCP payload bytes inspected or skipped") \
	X(body_bytes, "body_bytes", RG_STAT_COUNTER, RG_STAT_INSPECTION, "bytes", \
	    "Message body bytes") \
	X(opaque_bytes, "uninspected_bytes", RG_STAT_COUNTER, RG_STAT_INSPECTION, "bytes", \
	    "Bytes that could not be inspected (TLS)") \
	X(gaps, "gaps", RG_STAT_COUNTER, RG_STAT_INSPECTION, "gaps", \
	    "Holes in a stream that were skipped") \
	X(gap_bytes, "gap_bytes", RG_STAT_COUNTER, RG_STAT_INSPECTION, "bytes", \
	    "Bytes in those holes") \
	X(retrans, "retransmissions", RG_STAT_COUNTER, RG_STAT_INSPECTION, "segments", \
	    "Retransmitted segments") \
	X(mismatches, "mismatches", RG_STAT_COUNTER, RG_STAT_INSPECTION, "segments", \
	    "Overlapping segments whose bytes differed") \
	X(midstream, "midstream_pickups", RG_STAT_COUNTER, RG_STAT_INSPECTION, "flows", \
	    "Flows picked up without their handshake") \
	X(unreadable_lines, "unreadable_lines", RG_STAT_COUNTER, RG_STAT_INSPECTION, "lines", \
	    "Lines of midstream flows seen only in part") \
	X(events_lost, "events_lost", RG_STAT_COUNTER, RG_STAT_INSPECTION, "events", \
	    "Events lost to a full event queue") \
	X(relay_attempts, "relay_attempts", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "attempts", \
	    "Relay attempts (RCPT to a foreign domain from a client neither trusted nor authenticated)") \
	X(unverified_attempts, "unverified_attempts", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "attempts", \
	    "Relay attempts that earn no block (no handshake or banner seen)") \
	X(blocks, "block_requests", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "blocks", \
	    "Blocks the engine asked for (block-after reached)") \
	X(never_blocked, "never_blocked", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "clients", \
	    "Times a client in never-block reached block-after (not blocked)") \
	X(blocks_unremembered, "blocks_unremembered", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "blocks", \
	    "Blocks the engine had no room to remember") \
	X(drops, "drops", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "packets", \
	    "Packets dropped (inline)") \
	X(resets, "resets_ordered", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "sessions", \
	    "Sessions the engine ordered reset") \
	X(resets_relay, "resets_relay", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "sessions", \
	    "Sessions reset for relay attempts") \
	X(after_reset, "after_reset", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "packets", \
	    "Packets of reset sessions after the reset (never inspected)") \
	X(offloaded, "offloaded_sessions", RG_STAT_COUNTER, RG_STAT_INSPECTION, "sessions", \
	    "Sessions with nothing left to inspect handed to the kernel (offload)") \
	X(offloaded_packets, "offloaded_packets", RG_STAT_COUNTER, RG_STAT_INSPECTION, "packets", \
	    "Packets of offloaded sessions queued before their mark took effect (passed)") \
	X(starttls_stripped, "starttls_stripped", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "replies", \
	    "STARTTLS stripped from EHLO replies (starttls strip)") \
	X(starttls_denied, "starttls_denied", RG_STAT_COUNTER, RG_STAT_ENFORCEMENT, "commands", \
	    "STARTTLS commands refused (starttls deny)") \
	X(sim_clients_blocked, "replay_clients_blocked", RG_STAT_COUNTER, RG_STAT_REPLAY, "clients", \
	    "Replay: distinct clients blocked") \
	X(sim_block_packets, "replay_block_packets", RG_STAT_COUNTER, RG_STAT_REPLAY, "packets", \
	    "Replay: packets of blocked clients") \
	X(sim_block_sessions, "replay_block_sessions", RG_STAT_COUNTER, RG_STAT_REPLAY, "sessions", \
	    "Replay: sessions opened by blocked clients (dropped)") \
	X(norm_bad_checksum, "norm_bad_checksum", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Segments with a bad checksum (not inspected, dropped inline)") \
	X(norm_low_ttl, "norm_low_ttl", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Segments whose TTL is below min-ttl") \
	X(norm_syn_data, "norm_syn_data", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "SYN segments carrying data") \
	X(norm_urgent, "norm_urgent", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Segments with urgent data") \
	X(norm_out_of_window, "norm_out_of_window", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Segments beyond the receiver's window") \
	X(norm_rst_ignored, "norm_rst_ignored", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "RSTs a server would not accept") \
	X(norm_rewritten, "norm_rewritten", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Overlaps rewritten to the inspected bytes") \
	X(norm_held, "norm_held", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Client segments held until a reply") \
	X(norm_refused, "norm_refused", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Early data with no room (dropped)") \
	X(norm_truncated, "norm_truncated", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Packets not copied whole (dropped)") \
	X(norm_partial_held, "norm_partial_held", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Unfinished RCPT lines held back") \
	X(spoofed, "spoofed", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Packets on the wrong interface for their direction (dropped)") \
	X(acked_unseen, "acked_unseen", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "ACKs for bytes that never passed") \
	X(pipelined_after_wait, "pipelined_after_wait", RG_STAT_COUNTER, RG_STAT_NORMALISATION, "packets", \
	    "Bytes sent past DATA, AUTH or STARTTLS before the reply") \
	X(mem_used, "buffer_bytes", RG_STAT_GAUGE, RG_STAT_MEMORY, "bytes", \
	    "Bytes buffered for reassembly now") \
	X(mem_peak, "buffer_bytes_peak", RG_STAT_GAUGE, RG_STAT_MEMORY, "bytes", \
	    "Most bytes buffered for reassembly at once") \
	X(mem_refused, "buffer_refused", RG_STAT_COUNTER, RG_STAT_MEMORY, "buffers", \
	    "Buffer requests refused by flow-memory")

struct engine_stats {
#define ENGINE_STATS_FIELD(f, n, k, g, u, h) uint64_t f;
	ENGINE_STATS(ENGINE_STATS_FIELD)
#undef ENGINE_STATS_FIELD
};

/* The list above as a table (engine.c): offsets into engine_stats. */
extern const struct rg_stat engine_stat_table[];
extern const size_t engine_stat_count;
/* dst += src, field by field (gauges and peaks too: a bound for the
 * whole). */
void engine_stats_add(struct engine_stats *dst,
    const struct engine_stats *src);

_Static_assert(sizeof(struct engine_stats) % sizeof(uint64_t) == 0,
    "engine_stats holds 64-bit counters only");

struct engine;
struct offtable;
struct policy_params;

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

/* Replay: buffers from huge-page arenas, never given back before
 * engine_free() (rg_mem_arena()); right after engine_new(). */
void engine_set_arena(struct engine *e);
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
 * Passive capture (relayguardd's capture mode): every packet has reached
 * its receiver before the engine sees it, so nothing is dropped.  What
 * mode enforce stops is reported with the action the daemon can still
 * take: with resets, the result orders RSTs at the sequence numbers each
 * end expects after the packet (the RCPT has reached the server), and the
 * next few packets of the session order them again at the numbers they
 * move to (the server's reply races the first RSTs); without, the events
 * say "report".  A block reached is ordered (action block) with blocks,
 * only reported without.  Not for inline engines; before the first
 * packet.
 */
void engine_set_passive(struct engine *e, bool resets, bool blocks);
/*
 * Count offences and remember blocks in force in t, shared with other
 * engines (the daemon's queue workers: offtable.h), instead of in the
 * engine's own policy and blockset.  engine_unblock(), engine_forget() and
 * engine_reload() then leave t alone: its owner calls offtable_unblock(),
 * offtable_forget() and offtable_set_params() once.  Replay's simulated
 * enforcement needs the engine's own (no t).
 */
void engine_share(struct engine *e, struct offtable *t);
/* The offence tracker's parameters for a configuration (for a shared
 * table; the pointers point into c). */
void engine_policy_params(const struct config *c, struct policy_params *pp);
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
/* The same for a packet the caller has decoded already (rc and *p from
 * decode_packet() of these bytes: replay's workers decode to deal). */
enum engine_verdict engine_packet_decoded(struct engine *e,
    enum decode_result rc, const struct decode_packet *p, rg_time_t ts,
    uint8_t *data, size_t caplen, size_t wirelen, unsigned flags,
    uint32_t indev, struct engine_result *res);

/* Advance the clock without a packet (idle expiry). */
void engine_tick(struct engine *e, rg_time_t now);

/*
 * Replay on several threads (tools/replay.c): every engine sees every
 * packet; the ones another engine inspects it only passes (its clock and
 * idle expiry move as one engine's would, and it counts the packet's
 * index).  Events carry their place (struct event_order), so the workers'
 * events merge into one engine's order:
 *   pkt    index of the packet (engine_packet() and engine_pass() count
 *          from 0), ENGINE_ORDER_END for engine_finish();
 *   phase  ENGINE_PHASE_EXPIRE (idle flows going before the packet),
 *          ENGINE_PHASE_PACKET (the packet itself); at the end 0 for
 *          sessions, 1 for other flows;
 *   sub    the flow's seq (flow.h) for expiry and the end, 0 otherwise.
 */
#define ENGINE_ORDER_END UINT64_MAX
#define ENGINE_PHASE_EXPIRE 0
#define ENGINE_PHASE_PACKET 1
void engine_pass(struct engine *e, rg_time_t ts);

/*
 * With marks on, the engine also queues a mark wherever its buffer bytes
 * moved, per ordered step: what they were before and after it and their
 * peak within it.  The merged marks of several engines give the peak of
 * their sum as one engine would have had it (mem_peak).
 */
struct engine_mark {
	struct event_order order;
	uint64_t used_before, used_after, peak;
};
void engine_set_marks(struct engine *e, bool on);
bool engine_next_mark(struct engine *e, struct engine_mark *m);

/* End of input: flush every flow (deliver early segments across holes,
 * report what is pending) and expire them. */
void engine_finish(struct engine *e);

/* Take the next queued event; false when none is left. */
bool engine_next_event(struct engine *e, struct event *ev);

void engine_get_stats(const struct engine *e, struct engine_stats *s);
/* Buffer requests the engine's block pool could not serve (rg.h): in
 * steady traffic, none. */
uint64_t engine_pool_misses(const struct engine *e);

#endif
