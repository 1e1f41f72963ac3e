/*
 * engine.c — the pipeline behind engine_packet(): decode, flow lookup,
 * reassembly, SMTP dialogue, policy, events and verdict.
 *
 * Data flows one way.  Reassembled bytes reach the SMTP parser through the
 * stream sink (engine_sink), items from the parser are judged in
 * engine_item(), and what must happen to the packet is collected in a
 * per-packet context that engine_packet() turns into its verdict.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "blockset.h"
#include "engine.h"
#include "flow.h"
#include "offtable.h"
#include "policy.h"
#include "tcp.h"

/* An event holds a whole kept command line (event.h). */
_Static_assert(EVENT_TEXT_MAX > SMTP_LINE_MAX, "EVENT_TEXT_MAX too small");

#define ENGINE_ANOMALY_EVENTS_PER_FLOW 8
#define ENGINE_UNDECODABLE_EVENTS 64	/* anomaly events for packets
					 * that fit no flow: per engine */
#define ENGINE_MAX_CLIENTS 65536	/* offender tracker capacity */
#define ENGINE_TEXT_LIMIT SMTP_LINE_MAX	/* helo / mail_from kept per flow:
					 * whole, as events carry them */
#define ENGINE_SERVER_KEEP 512		/* server bytes kept once acked */
#define ENGINE_AUTH_RCPTS_MAX 2048	/* auth-only RCPTs kept per flow */
#define ENGINE_PASSIVE_RESETS 3		/* passive: packets after a reset
					 * order that order it again */

struct engine {
	const struct config *conf;
	bool inline_mode;
	bool simulate;		/* replay carries out enforcement */
	bool passive;		/* capture: packets passed already */
	bool passive_resets;	/* capture-reset: the daemon sends RSTs */
	bool passive_blocks;	/* capture-block: the daemon blocks */
	struct blockset blocks;	/* the blocks decided, packet time */
	struct flow_table *flows;
	struct policy *policy;	/* judges; counts offences unless shared */
	struct offtable *shared; /* the daemon's offence table, or NULL */
	struct rg_mem mem;
	struct engine_stats st;
	uint32_t undecodable_events;	/* emitted, capped */
	rg_time_t now;
	uint8_t port_map[65536 / 8];
	/* event ring */
	struct event *events;
	uint32_t ev_head, ev_len;
	/* Order of the work (engine_pass()): packets counted, the step now,
	 * the flow the current packet touched. */
	uint64_t pktno;
	struct event_order ord;
	struct flow *cur;
	/* marks (engine_set_marks()): a queue drained by the caller */
	bool marking;
	struct engine_mark *marks;
	uint32_t marks_len, marks_cap, marks_head;
	size_t step_used, step_peak;
};

/* What happened while one packet went through the pipeline. */
struct engine_pkt {
	struct engine *e;
	struct flow *f;
	enum smtp_dir dir;
	bool relay;		/* a relay RCPT completed in this packet */
	bool smuggling;		/* an ambiguous end-of-data in this packet */
	bool ambiguous;		/* a line some server reads otherwise */
	bool starttls_denied;	/* an untrusted STARTTLS, starttls deny */
	bool unreadable;	/* a line that cannot be judged (inline) */
	bool forged_auth;	/* judging RCPTs again without the 235 */
	bool block;
	rg_time_t block_for;
	struct blockset_entry *block_entry;	/* NULL if not remembered */
};

static void
engine_set_ports(struct engine *e, const struct config *c)
{
	uint32_t i;

	memset(e->port_map, 0, sizeof(e->port_map));
	for (i = 0; i < c->nports; i++)
		e->port_map[c->ports[i] >> 3] |= (uint8_t)(1u << (c->ports[i] & 7));
}

static inline bool
engine_port(const struct engine *e, uint16_t p)
{
	return (e->port_map[p >> 3] >> (p & 7)) & 1;
}

/*
 * Is addr:port a protected server: a configured port, and an address in
 * `servers` (any address when that key is empty).  The port first: it is
 * one bit, and the address costs a hash probe per prefix length (cidr.h).
 */
static bool
engine_server(const struct engine *e, const struct rg_addr *addr,
    uint16_t port)
{
	return engine_port(e, port) && config_server(e->conf, addr);
}

void
engine_policy_params(const struct config *c, struct policy_params *pp)
{
	memset(pp, 0, sizeof(*pp));
	pp->local_domains = &c->local_domains;
	pp->relay_networks = &c->relay_networks;
	pp->never_block = &c->never_block;
	pp->block_after = c->block_after;
	pp->attempt_window = c->attempt_window;
	pp->block_for = c->block_for;
	pp->block_for_max = c->block_for_max;
	pp->offence_memory = c->offence_memory;
	pp->max_clients = ENGINE_MAX_CLIENTS;
}

struct engine *
engine_new(const struct config *conf, bool inline_mode)
{
	struct policy_params pp;
	struct engine *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->conf = conf;
	e->inline_mode = inline_mode;
	e->mem.cap = conf->flow_memory;
	rg_mem_pool(&e->mem);	/* buffers of ended sessions are reused */
	engine_set_ports(e, conf);
	engine_policy_params(conf, &pp);
	e->flows = flow_table_new(conf->max_flows, 0x5eed5eed5eedULL);
	e->policy = policy_new(&pp);
	e->events = calloc(ENGINE_EVENT_QUEUE, sizeof(*e->events));
	blockset_init(&e->blocks);
	if (e->flows == NULL || e->policy == NULL || e->events == NULL) {
		engine_free(e);
		return NULL;
	}
	return e;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	flow_table_free(e->flows, &e->mem);
	rg_mem_pool_drain(&e->mem);
	policy_free(e->policy);
	blockset_free(&e->blocks);
	free(e->events);
	free(e->marks);
	free(e);
}

void
engine_set_marks(struct engine *e, bool on)
{
	e->marking = on;
}

bool
engine_next_mark(struct engine *e, struct engine_mark *m)
{
	if (e->marks_head == e->marks_len) {
		e->marks_head = e->marks_len = 0;
		return false;
	}
	*m = e->marks[e->marks_head++];
	return true;
}

/* A step of the work begins: events are stamped with it, and with marks
 * on the buffer bytes' peak is taken within the step. */
static void
engine_step(struct engine *e, uint64_t pkt, uint32_t phase, uint64_t sub)
{
	e->ord.pkt = pkt;
	e->ord.phase = phase;
	e->ord.sub = sub;
	if (e->marking) {
		e->step_used = e->mem.used;
		e->step_peak = e->mem.peak;
		e->mem.peak = e->mem.used;
	}
}

static void
engine_step_end(struct engine *e)
{
	struct engine_mark *m;
	size_t peak;
	uint32_t cap;

	if (!e->marking)
		return;
	peak = e->mem.peak;
	if (e->step_peak > e->mem.peak)
		e->mem.peak = e->step_peak;
	if (peak == e->step_used && e->mem.used == e->step_used)
		return;
	if (e->marks_len == e->marks_cap) {
		/* Grows to the most steps one packet ever took, once. */
		cap = e->marks_cap == 0 ? 64 : e->marks_cap * 2;
		if ((m = realloc(e->marks, cap * sizeof(*m))) == NULL) {
			e->marking = false;	/* the peak is then a bound */
			return;
		}
		e->marks = m;
		e->marks_cap = cap;
	}
	m = &e->marks[e->marks_len++];
	m->order = e->ord;
	m->used_before = e->step_used;
	m->used_after = e->mem.used;
	m->peak = peak;
}

bool
engine_set_seed(struct engine *e, uint64_t seed)
{
	return flow_table_reseed(e->flows, seed);
}

void
engine_set_arena(struct engine *e)
{
	rg_mem_arena(&e->mem);
}

void
engine_set_simulate(struct engine *e, bool simulate)
{
	e->simulate = simulate && !e->inline_mode;
}

void
engine_set_passive(struct engine *e, bool resets, bool blocks)
{
	e->passive = !e->inline_mode;
	e->passive_resets = resets && e->passive;
	e->passive_blocks = blocks && e->passive;
}

/* The action of what mode enforce stops: a reset, unless nothing can be
 * done (mode monitor, or a passive engine whose daemon sends no RSTs). */
static enum event_action
engine_stop_action(const struct engine *e)
{
	if (e->conf->mode != CONFIG_MODE_ENFORCE ||
	    (e->passive && !e->passive_resets))
		return EVENT_ACTION_REPORT;
	return EVENT_ACTION_RESET;
}

void
engine_share(struct engine *e, struct offtable *t)
{
	e->shared = t;
}

void
engine_unblock(struct engine *e, const struct cidr *net)
{
	blockset_lift(&e->blocks, net);
}

void
engine_reload(struct engine *e, const struct config *conf)
{
	struct policy_params pp;

	e->conf = conf;
	e->mem.cap = conf->flow_memory;
	engine_set_ports(e, conf);
	engine_policy_params(conf, &pp);
	policy_set_params(e->policy, &pp);
}

uint32_t
engine_forget(struct engine *e, const struct cidr *net)
{
	return policy_forget(e->policy, net);
}

/* A slot for a new event; when the queue is full the event is lost and
 * counted (the caller drains after every packet, so this means a flood). */
static struct event *
engine_event(struct engine *e, enum event_kind kind, const struct flow *f)
{
	struct event *ev;

	if (e->ev_len >= ENGINE_EVENT_QUEUE) {
		e->st.events_lost++;
		return NULL;
	}
	ev = &e->events[(e->ev_head + e->ev_len) % ENGINE_EVENT_QUEUE];
	e->ev_len++;
	event_clear(ev);
	ev->kind = kind;
	ev->time = e->now;
	ev->order = e->ord;
	if (f != NULL) {
		ev->client = f->client;
		ev->server = f->server;
		ev->client_port = f->client_port;
		ev->server_port = f->server_port;
	}
	return ev;
}

bool
engine_next_event(struct engine *e, struct event *ev)
{
	if (e->ev_len == 0)
		return false;
	event_copy(ev, &e->events[e->ev_head]);
	e->ev_head = (e->ev_head + 1) % ENGINE_EVENT_QUEUE;
	/* Drained: start again at the first slot, so only as many slots
	 * as one packet's events are ever touched (an event is ~16 KiB). */
	if (--e->ev_len == 0)
		e->ev_head = 0;
	return true;
}

static void
engine_anomaly(struct engine *e, struct flow *f, const char *what)
{
	struct event *ev;

	e->st.anomalies++;
	if (f->anomaly_events >= ENGINE_ANOMALY_EVENTS_PER_FLOW)
		return;
	f->anomaly_events++;
	if ((ev = engine_event(e, EVENT_ANOMALY, f)) != NULL)
		ev->what = what;
}

/* Keep a short copy of a dialogue string (helo, mail from) in the flow. */
static void
engine_keep(struct engine *e, struct rg_buf *b, const uint8_t *p, size_t n)
{
	b->len = 0;
	if (n > ENGINE_TEXT_LIMIT)
		n = ENGINE_TEXT_LIMIT;
	(void)rg_buf_append(b, &e->mem, p, n, ENGINE_TEXT_LIMIT);
}

/* The first blank-delimited token of s. */
static size_t
engine_token(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == ' ' || s[i] == '\t')
			break;
	return i;
}

/* MAIL FROM:<path> params -> the path as written (without brackets). */
static void
engine_mail_from(struct engine *e, struct flow *f, const uint8_t *a, size_t n)
{
	size_t i = 0, start, end;

	if (n < 5 || !rg_strncaseeq((const char *)a, "FROM:", 5)) {
		f->mail_from.len = 0;
		return;
	}
	i = 5;
	while (i < n && (a[i] == ' ' || a[i] == '\t'))
		i++;
	if (i < n && a[i] == '<') {
		start = ++i;
		/* As RCPT paths are read: a quoted local part may hold '>'. */
		if (!addr_find_close((const char *)a, n, start, &end))
			end = n;
	} else {
		start = i;
		end = i + engine_token(a + i, n - i);
	}
	engine_keep(e, &f->mail_from, a + start, end - start);
}

static const char *
engine_reason(const struct addr_path *p)
{
	switch (p->kind) {
	case ADDR_DOMAIN:	return "foreign-domain";
	case ADDR_LITERAL:	return "address-literal";
	case ADDR_NO_DOMAIN:	return "no-domain";
	case ADDR_NULL:		return "null-path";
	case ADDR_POSTMASTER:	return "postmaster";
	case ADDR_MALFORMED:	return "malformed";
	}
	return "malformed";
}

static void
engine_buf_text(char *dst, size_t dstlen, const struct rg_buf *b, bool *trunc)
{
	if (!event_copy_text(dst, dstlen, b->data, b->len))
		*trunc = true;
}

/* Keep an RCPT that only the session's authentication let through, in
 * case that authentication turns out forged (engine_reply_conflict). */
static void
engine_keep_auth_rcpt(struct engine *e, struct flow *f,
    const struct smtp_item *it)
{
	size_t n = it->arg_len < ENGINE_TEXT_LIMIT ? it->arg_len :
	    ENGINE_TEXT_LIMIT;
	uint32_t old = f->auth_rcpts.len;

	/* One a line: an argument never holds a LF (lines end there). */
	if (memchr(it->arg, '\n', n) != NULL ||
	    old + n + 1 > ENGINE_AUTH_RCPTS_MAX ||
	    !rg_buf_append(&f->auth_rcpts, &e->mem, it->arg, n,
	    ENGINE_AUTH_RCPTS_MAX) ||
	    !rg_buf_append(&f->auth_rcpts, &e->mem, "\n", 1,
	    ENGINE_AUTH_RCPTS_MAX)) {
		f->auth_rcpts.len = old;
		f->auth_rcpts_lost++;
	}
}

static void
engine_rcpt(struct engine_pkt *pk, const struct smtp_item *it)
{
	struct engine *e = pk->e;
	struct flow *f = pk->f;
	const struct config *c = e->conf;
	struct addr_path path;
	struct policy_block blk;
	struct event *ev;
	enum policy_verdict v;
	char lit[RG_ADDRSTRLEN];
	bool unremembered;

	(void)addr_parse_rcpt((const char *)it->arg, it->arg_len,
	    &c->local_domains, &f->server, &path);
	v = policy_judge(e->policy, &f->client, &f->server,
	    f->smtp.authenticated && !pk->forged_auth, &path);
	if (v == POLICY_ALLOWED_AUTH)
		engine_keep_auth_rcpt(e, f, it);
	if (v != POLICY_RELAY_ATTEMPT)
		return;

	e->st.relay_attempts++;
	pk->relay = true;
	if ((ev = engine_event(e, EVENT_RELAY_ATTEMPT, f)) != NULL) {
		ev->action = engine_stop_action(e);
		engine_buf_text(ev->helo, sizeof(ev->helo), &f->helo,
		    &ev->truncated);
		engine_buf_text(ev->mail_from, sizeof(ev->mail_from),
		    &f->mail_from, &ev->truncated);
		if (path.raw != NULL && !event_copy_text(ev->rcpt,
		    sizeof(ev->rcpt), (const uint8_t *)path.raw, path.raw_len))
			ev->truncated = true;
		if (it->truncated)
			ev->truncated = true;
		if (path.kind == ADDR_DOMAIN)
			(void)event_copy_text(ev->domain, sizeof(ev->domain),
			    (const uint8_t *)path.domain, strlen(path.domain));
		else if (path.kind == ADDR_LITERAL) {
			rg_addr_str(&path.literal, lit, sizeof(lit));
			snprintf(ev->domain, sizeof(ev->domain), "[%s]", lit);
		}
		ev->reason = pk->forged_auth ? "forged-auth" :
		    engine_reason(&path);
		ev->trick = path.trick == ADDR_TRICK_NONE ? NULL :
		    addr_trick_str(path.trick);
	}

	/* Only a client that completed the handshake and was greeted can
	 * earn a block: forged packets never get an address blocked. */
	if (!f->tcp.handshake_done || !f->banner_seen) {
		e->st.unverified_attempts++;
		return;
	}
	/*
	 * A blocked client earns no new offence while its block lasts (in
	 * mode monitor: while it would last).  What it sends meanwhile is
	 * reported, not counted again: the RCPTs pipelined behind the one
	 * that earned the block (the segment is dropped and the session
	 * reset, the server never reads them), packets in flight before the
	 * kernel's set drops them, monitor's later attempts.  So a block is
	 * never escalated by the traffic it stops, and how the client cut
	 * its bytes into segments does not matter.
	 */
	if (e->shared != NULL) {
		if (offtable_step(e->shared, &f->client, e->now, &blk,
		    &unremembered) != OFFENCE_THRESHOLD)
			return;
	} else {
		if (offence_step(e->policy, &e->blocks, &f->client, e->now,
		    &blk, &pk->block_entry) != OFFENCE_THRESHOLD)
			return;
		unremembered = !blk.never_block && pk->block_entry == NULL;
	}
	if (blk.never_block)
		e->st.never_blocked++;
	else
		e->st.blocks++;
	if ((ev = engine_event(e, EVENT_BLOCK, f)) != NULL) {
		/* A never-block client: the event says the threshold was
		 * reached, that nothing was done and why. */
		ev->action = blk.never_block ? EVENT_ACTION_NONE :
		    c->mode == CONFIG_MODE_ENFORCE && (!e->passive ||
		    e->passive_blocks) ? EVENT_ACTION_BLOCK :
		    EVENT_ACTION_REPORT;
		ev->exempt = blk.never_block ? "never-block" : NULL;
		ev->attempts = blk.attempts;
		ev->offences = blk.offences;
		ev->duration = blk.duration;
	}
	if (blk.never_block)
		return;
	pk->block = true;
	pk->block_for = blk.duration;
	if (unremembered)
		e->st.blocks_unremembered++;
}

/* Is the client exempt from the STARTTLS policy (relay-networks)? */
static bool
engine_tls_exempt(const struct engine *e, const struct flow *f)
{
	return e->conf->starttls == CONFIG_STARTTLS_ALLOW ||
	    policy_trusted(e->policy, &f->client);
}

/*
 * A client line that some real server could execute as another command
 * than we read (smtp.h, SMTP_AMB_*).  Only a client that could relay
 * matters: trusted and authenticated ones may relay anyway.
 */
static struct event *
engine_ambiguity_event(struct engine_pkt *pk, const char *what,
    enum smtp_verb verb)
{
	struct engine *e = pk->e;
	struct flow *f = pk->f;
	struct event *ev;

	if (f->smtp.authenticated || policy_trusted(e->policy, &f->client))
		return NULL;
	e->st.ambiguities++;
	pk->ambiguous = true;
	if (f->anomaly_events >= ENGINE_ANOMALY_EVENTS_PER_FLOW)
		return NULL;
	f->anomaly_events++;
	if ((ev = engine_event(e, EVENT_AMBIGUITY, f)) == NULL)
		return NULL;
	ev->what = what;
	ev->command = verb == SMTP_V_UNKNOWN || verb == SMTP_V_NONE ? NULL :
	    smtp_verb_name(verb);
	ev->action = engine_stop_action(e);
	return ev;
}

static void
engine_ambiguity(struct engine_pkt *pk, const struct smtp_item *it)
{
	struct event *ev;
	size_t i;

	if ((ev = engine_ambiguity_event(pk, it->ambiguity, it->verb)) == NULL)
		return;
	if (it->line_len >= sizeof(ev->line) || it->truncated)
		ev->truncated = true;
	/* A NUL would end the text: show it as an invalid byte (U+FFFD). */
	for (i = 0; i < sizeof(ev->line) - 1 && i < it->line_len; i++)
		ev->line[i] = it->line[i] == '\0' ? (char)0xff :
		    (char)it->line[i];
	ev->line[i] = '\0';
}

/*
 * Client bytes after DATA, AUTH or STARTTLS, before the reply (RFC 2920
 * forbids it): the server reads them as a body, credentials, commands or,
 * after TLS starts, unseen by us, depending on a reply that has not come.
 * Inline they would have to pass before that reply is known, so the
 * session is refused; replay reports the same (the verdict the daemon
 * gives).  The command is the one whose reply was awaited.
 */
static void
engine_held(struct engine_pkt *pk, bool already)
{
	struct engine *e = pk->e;
	struct flow *f = pk->f;

	if (already) {
		/* Reported with the first held bytes; still refused.  Held
		 * quietly (a later segment, which inline is dropped and sent
		 * again after the reply), they are not refused now either:
		 * replay carrying out enforce would otherwise reset a session
		 * the daemon lets go on. */
		if (f->held_reported && !f->smtp.authenticated &&
		    !policy_trusted(e->policy, &f->client))
			pk->ambiguous = true;
		return;
	}
	f->held_reported = true;
	e->st.pipelined_after_wait++;
	(void)engine_ambiguity_event(pk, "pipelined-after-wait",
	    (enum smtp_verb)f->smtp.client_wait);
}

static void
engine_item(struct engine_pkt *pk, const struct smtp_item *it)
{
	struct engine *e = pk->e;
	struct flow *f = pk->f;
	struct event *ev;

	if (!f->smtp_seen) {
		f->smtp_seen = true;
		e->st.sessions++;
	}
	switch (it->kind) {
	case SMTP_ITEM_COMMAND:
		e->st.commands++;
		if (it->ambiguity != NULL)
			engine_ambiguity(pk, it);
		switch (it->verb) {
		case SMTP_V_HELO:
		case SMTP_V_EHLO:
		case SMTP_V_LHLO:
			engine_keep(e, &f->helo, it->arg,
			    engine_token(it->arg, it->arg_len));
			f->mail_from.len = 0;
			break;
		case SMTP_V_MAIL:
			engine_mail_from(e, f, it->arg, it->arg_len);
			break;
		case SMTP_V_RSET:
			f->mail_from.len = 0;
			break;
		case SMTP_V_RCPT:
			engine_rcpt(pk, it);
			break;
		case SMTP_V_STARTTLS:
			/* strip and deny both keep untrusted sessions
			 * readable: a STARTTLS sent anyway ends it. */
			if (!engine_tls_exempt(e, f)) {
				e->st.starttls_denied++;
				pk->starttls_denied = true;
				engine_anomaly(e, f, "starttls-denied");
			}
			break;
		default:
			break;
		}
		break;
	case SMTP_ITEM_REPLY:
		e->st.replies++;
		if (it->verb == SMTP_V_CONNECT && it->code == 220)
			f->banner_seen = true;
		if (smtp_message_accepted(&f->smtp, it)) {
			e->st.mail_accepted++;
			if (!f->mail_passed)
				e->st.mail_sessions++;
			f->mail_passed = true;
		}
		break;
	case SMTP_ITEM_SMUGGLING:
		e->st.smuggling++;
		pk->smuggling = true;
		if ((ev = engine_event(e, EVENT_SMUGGLING, f)) != NULL) {
			ev->what = it->what;
			ev->action = engine_stop_action(e);
		}
		break;
	case SMTP_ITEM_ANOMALY:
		engine_anomaly(e, f, it->what);
		/* Picked up in the middle of a line: the server already has
		 * its start, we never saw it.  Inline it cannot be judged,
		 * so the session ends (SMTP clients retry). */
		if (f->tcp.midstream && it->dir == SMTP_CLIENT &&
		    strcmp(it->what, "resync-skipped") == 0) {
			e->st.unreadable_lines++;
			pk->unreadable = true;
		}
		break;
	case SMTP_ITEM_TLS:
		break;
	}
}

static void
engine_drain_client(struct engine_pkt *pk)
{
	struct smtp_item it;
	size_t used;
	unsigned guard = 0;

	/* Bounded: each round consumes pending bytes or ends. */
	while (smtp_feed(&pk->f->smtp, &pk->e->mem, SMTP_CLIENT, NULL, 0,
	    &used, &it) == SMTP_ITEM && guard++ < 1000000)
		engine_item(pk, &it);
}

/* The stream sink: in-order bytes of direction pk->dir. */
static void
engine_sink(void *ctx, const uint8_t *data, size_t len, uint32_t gap)
{
	struct engine_pkt *pk = ctx;
	struct smtp_session *s = &pk->f->smtp;
	struct smtp_item it;
	size_t used;

	if (gap > 0) {
		pk->e->st.gaps++;
		pk->e->st.gap_bytes += gap;
		smtp_gap(s, &pk->e->mem, (enum smtp_dir)pk->dir);
	}
	pk->e->st.payload_bytes += len;
	smtp_set_software(s, (enum smtp_software)pk->e->conf->server_software);
	/* Until the parser says AGAIN: an item may consume no bytes (a
	 * smuggling report precedes the commands it exposes). */
	for (unsigned guard = 0; guard < 10000000; guard++) {
		if (smtp_feed(s, &pk->e->mem, (enum smtp_dir)pk->dir, data, len,
		    &used, &it) != SMTP_ITEM)
			break;
		if (used > len)
			used = len;
		data += used;
		len -= used;
		engine_item(pk, &it);
		if (it.kind == SMTP_ITEM_REPLY)
			engine_drain_client(pk);
	}
}

/*
 * Two different copies of the server's bytes at one sequence number: one
 * was forged (a client cannot be told from the server in a capture
 * without interfaces, nor inline on a one-armed path), and the first,
 * the one inspected, may be it.  What the server really said cannot be
 * known, so nothing it said may count any more: an authentication, a
 * TLS start, a 354 are dropped, and the RCPTs that the authentication
 * alone let through are judged again, now as relay attempts
 * ("forged-auth").  The session is refused (enforce mode resets it).
 */
static void
engine_reply_conflict(struct engine_pkt *pk)
{
	struct engine *e = pk->e;
	struct flow *f = pk->f;
	struct smtp_session *s = &f->smtp;
	struct smtp_item it;
	struct event *ev;
	uint64_t body, opaque, cmds, replies, anomalies;
	uint32_t i, start;

	e->st.anomalies++;
	pk->unreadable = true;
	if (f->anomaly_events < ENGINE_ANOMALY_EVENTS_PER_FLOW &&
	    (ev = engine_event(e, EVENT_ANOMALY, f)) != NULL) {
		f->anomaly_events++;
		ev->what = "server-reply-conflict";
		ev->action = engine_stop_action(e);
	}
	if (s->tls || s->in_body) {
		/* Everything since is unread: read on as from a pickup. */
		body = s->body_bytes;
		opaque = s->opaque_bytes;
		cmds = s->commands;
		replies = s->replies;
		anomalies = s->anomalies;
		smtp_free(s, &e->mem);
		smtp_init_midstream(s);
		s->body_bytes = body;
		s->opaque_bytes = opaque;
		s->commands = cmds;
		s->replies = replies;
		s->anomalies = anomalies;
	}
	s->authenticated = false;
	memset(&it, 0, sizeof(it));
	it.kind = SMTP_ITEM_COMMAND;
	it.verb = SMTP_V_RCPT;
	pk->forged_auth = true;
	for (i = start = 0; i < f->auth_rcpts.len; i++) {
		if (f->auth_rcpts.data[i] != '\n')
			continue;
		it.arg = f->auth_rcpts.data + start;
		it.arg_len = i - start;
		engine_rcpt(pk, &it);
		start = i + 1;
	}
	pk->forged_auth = false;
	f->auth_rcpts.len = 0;
	if (f->auth_rcpts_lost > 0) {
		/* Some were not kept: the session relayed on the forgery. */
		f->auth_rcpts_lost = 0;
		engine_anomaly(e, f, "forged-auth-unkept");
		pk->relay = true;
	}
}

/* Deliver what waits behind holes in both directions. */
static void
engine_flush_flow(struct engine *e, struct flow *f)
{
	struct engine_pkt pk;
	int d;

	memset(&pk, 0, sizeof(pk));
	pk.e = e;
	pk.f = f;
	for (d = 0; d < 2; d++) {
		pk.dir = (enum smtp_dir)d;
		stream_flush(&f->dir[d], &e->mem, engine_sink, &pk);
	}
}

/*
 * The connection is over (FIN both ways, an accepted RST, or our reset):
 * what it buffered goes now.  The flow itself stays until its short
 * timeout so that late packets are recognised (and, once reset, dropped).
 */
static void
engine_close_flow(struct engine *e, struct flow *f)
{
	tcp_close(&f->tcp);
	engine_flush_flow(e, f);
	stream_free(&f->dir[0], &e->mem);
	stream_free(&f->dir[1], &e->mem);
}

/*
 * Enforcement ended the session (our reset, or replay's simulated block):
 * nothing of it is judged any more.  Unlike engine_close_flow(), bytes
 * waiting behind a hole are not delivered: the server's TCP never hands
 * them to the application once the connection is reset.  The flow stays,
 * killed, for its late packets.
 */
static void
engine_kill_flow(struct engine *e, struct flow *f)
{
	f->killed = true;
	tcp_close(&f->tcp);
	stream_free(&f->dir[0], &e->mem);
	stream_free(&f->dir[1], &e->mem);
}

/* End of a flow: deliver what is left, then count its stats. */
static void
engine_finish_flow(struct engine *e, struct flow *f)
{
	engine_flush_flow(e, f);
	e->st.body_bytes += f->smtp.body_bytes;
	e->st.opaque_bytes += f->smtp.opaque_bytes;
	e->st.retrans += f->dir[0].retrans + f->dir[1].retrans;
	e->st.mismatches += f->dir[0].mismatches + f->dir[1].mismatches;
}

static void
engine_expire(struct engine *e)
{
	struct flow *f;

	while ((f = flow_expired(e->flows, e->now)) != NULL) {
		engine_step(e, e->pktno, ENGINE_PHASE_EXPIRE, f->seq);
		engine_finish_flow(e, f);
		e->st.flows_expired++;
		flow_destroy(e->flows, f, &e->mem);
		engine_step_end(e);
	}
}

void
engine_tick(struct engine *e, rg_time_t now)
{
	if (now > e->now)
		e->now = now;
	engine_expire(e);
}

void
engine_pass(struct engine *e, rg_time_t ts)
{
	if (ts > e->now)
		e->now = ts;
	engine_expire(e);
	e->pktno++;
}

void
engine_finish(struct engine *e)
{
	struct flow *f;
	bool live;

	while ((f = flow_pop_which(e->flows, &live)) != NULL) {
		engine_step(e, ENGINE_ORDER_END, live ? 0 : 1, f->seq);
		engine_finish_flow(e, f);
		flow_destroy(e->flows, f, &e->mem);
		engine_step_end(e);
	}
}

/* A new connection (SYN or SYN-ACK) or a pickup in the middle (data
 * without one); dir says which side of p is the client. */
static struct flow *
engine_flow_create(struct engine *e, const struct decode_packet *p, int dir)
{
	struct flow *f, *old;
	const struct rg_addr *c = dir == 0 ? &p->src : &p->dst;
	const struct rg_addr *s = dir == 0 ? &p->dst : &p->src;
	uint16_t cp = dir == 0 ? p->sport : p->dport;
	uint16_t sp = dir == 0 ? p->dport : p->sport;

	f = flow_create(e->flows, c, cp, s, sp, e->now, &old);
	if (old != NULL) {
		e->st.flows_evicted++;
		engine_finish_flow(e, old);
		flow_destroy(e->flows, old, &e->mem);
	}
	if (f != NULL) {
		f->seq = e->pktno;
		e->cur = f;
	}
	return f;
}

static struct flow *
engine_new_flow(struct engine *e, const struct decode_packet *p, int dir)
{
	struct flow *f;

	if ((f = engine_flow_create(e, p, dir)) == NULL)
		return NULL;
	if (e->inline_mode) {
		stream_no_gap_skip(&f->dir[0]);
		stream_no_gap_skip(&f->dir[1]);
	}
	/* The server's last replies stay comparable once acknowledged: a
	 * spurious retransmission of one is then told from a forged copy
	 * (engine_reply_conflict) instead of counting as a conflict. */
	stream_keep(&f->dir[1], ENGINE_SERVER_KEEP);
	e->st.flows_created++;
	tcp_init(&f->tcp, tcp_opener(p) == TCP_OPENER_DATA);
	if (f->tcp.midstream) {
		e->st.midstream++;
		smtp_init_midstream(&f->smtp);
	} else
		smtp_init(&f->smtp);
	return f;
}

/* The flow of p, either way round; *dir is 0 when p's sender is the
 * flow's client. */
static struct flow *
engine_lookup(struct engine *e, const struct decode_packet *p, int *dir)
{
	struct flow *f;

	f = flow_find(e->flows, &p->src, p->sport, &p->dst, p->dport, dir);
	return f;
}

enum engine_side {
	ENGINE_SIDE_NONE,	/* opens nothing, or no protected server */
	ENGINE_SIDE_KNOWN,
	ENGINE_SIDE_AMBIGUOUS,	/* a pickup with servers on both ends */
};

/*
 * Which side of a packet that opens a flow is the client (*dir 0: its
 * sender).  The SYN says it: its receiver is the server, and its sender
 * is the client whatever its source port (a client on port 25 talking to
 * a server on port 25 once had its replies taken for a second client).
 * The SYN-ACK's sender is the server.  Picked up without either, the
 * protected server is the side that is one; when both are, nothing in
 * TCP tells, and the destination is taken as the server (the caller
 * reports it, and inline resets the session rather than guess).
 */
static enum engine_side
engine_direction(const struct engine *e, const struct decode_packet *p,
    int *dir)
{
	bool to = engine_server(e, &p->dst, p->dport);
	bool from = engine_server(e, &p->src, p->sport);

	switch (tcp_opener(p)) {
	case TCP_OPENER_NONE:
		return ENGINE_SIDE_NONE;
	case TCP_OPENER_SYN:
		*dir = 0;
		return to ? ENGINE_SIDE_KNOWN : ENGINE_SIDE_NONE;
	case TCP_OPENER_SYNACK:
		*dir = 1;
		return from ? ENGINE_SIDE_KNOWN : ENGINE_SIDE_NONE;
	case TCP_OPENER_DATA:
		break;
	}
	*dir = to ? 0 : 1;
	if (to && from)
		return ENGINE_SIDE_AMBIGUOUS;
	return to || from ? ENGINE_SIDE_KNOWN : ENGINE_SIDE_NONE;
}

/* A packet on a key whose connection is over, or a SYN-ACK for a new one:
 * the old session goes, nothing of it carries over (authenticated, TLS,
 * DATA).  Returns the flow the packet belongs to now (NULL: none yet). */
static struct flow *
engine_reuse(struct engine *e, struct flow *f, const struct decode_packet *p,
    int dir)
{
	struct tcp_conn old;

	switch (tcp_reuse(&f->tcp, p, dir)) {
	case TCP_REUSE_KEEP:
		return f;
	case TCP_REUSE_NEW:
		engine_finish_flow(e, f);
		flow_destroy(e->flows, f, &e->mem);
		e->cur = NULL;
		return NULL;
	case TCP_REUSE_REOPENED:
		old = f->tcp;
		engine_finish_flow(e, f);
		flow_destroy(e->flows, f, &e->mem);
		e->cur = NULL;
		/* The SYN-ACK's receiver is the client (dir is 1). */
		if ((f = engine_new_flow(e, p, dir)) == NULL)
			return NULL;
		tcp_init_reopened(&f->tcp, &old);
		stream_syn(&f->dir[0], old.reopen_isn);
		return f;
	}
	return f;
}

static void
engine_result_reset(struct engine_result *r, const struct flow *f,
    uint32_t seq_to_server, uint32_t seq_to_client)
{
	r->reset = true;
	r->client = f->client;
	r->server = f->server;
	r->client_port = f->client_port;
	r->server_port = f->server_port;
	r->seq_to_server = seq_to_server;
	r->seq_to_client = seq_to_client;
}

/*
 * starttls strip: overwrite the STARTTLS keyword of an EHLO reply in
 * place, same length, so the client never sees it offered (what firewall
 * SMTP inspection has long done).  A keyword split across segments loses
 * only the bytes in this one, which is enough to break it; and a client
 * that sends STARTTLS unoffered is reset anyway.
 */
static bool
engine_strip_starttls(uint8_t *p, size_t n)
{
	static const char kw[] = "STARTTLS";
	bool changed = false, bol = true;
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (bol && n - i >= 4 && p[i] == '2' && p[i + 1] == '5' &&
		    p[i + 2] == '0' && (p[i + 3] == '-' || p[i + 3] == ' ')) {
			k = i + 4;
			if (n - k >= 8 && rg_strncaseeq((const char *)p + k, kw,
			    8) && (n - k == 8 || p[k + 8] == '\r' ||
			    p[k + 8] == '\n' || p[k + 8] == ' ')) {
				memset(p + k, 'X', 8);
				changed = true;
			}
		}
		bol = p[i] == '\n';
	}
	return changed;
}

/*
 * Has the session nothing left to inspect (offload yes, inline only)?
 * Authenticated (the server answered AUTH with 235: the client may relay)
 * or opaque (the server answered STARTTLS with 220: nothing more can be
 * read), after a complete handshake, with no client bytes held or waiting
 * for a reply.  And the reply that made it so must be the server's: only
 * where the two directions come in on different interfaces is a forged
 * server reply dropped before it is believed (the wrong-interface check);
 * on a one-armed path a forged 235 could be told from the real reply only
 * by reading on (engine_reply_conflict), so nothing is offloaded there.
 * Replay judges every byte: offload is the kernel's, not replay's.
 */
static bool
engine_offloadable(const struct engine *e, const struct flow *f)
{
	return e->inline_mode && e->conf->offload &&
	    (f->smtp.authenticated || f->smtp.tls) &&
	    f->tcp.handshake_done && !f->tcp.midstream && !f->holding &&
	    !smtp_client_waiting(&f->smtp) &&
	    !smtp_client_held(&f->smtp) &&
	    f->indev_known[0] && f->indev_known[1] &&
	    f->indev[0] != f->indev[1];
}

/*
 * A packet that cannot be decoded.  Inline only packets the queue rule
 * matched (TCP to or from a protected port, as the kernel parsed them)
 * get here, and the server's stack may read what we cannot (issue 7: a
 * segment behind more IPv6 extension headers than we walked relayed a
 * message): in enforce mode it is dropped, never passed uninspected.
 * Replay reports it, a bounded number of times.
 */
/* An anomaly of a packet that fits no flow, counted; events capped. */
static void
engine_flowless_anomaly(struct engine *e, const char *what)
{
	struct event *ev;

	e->st.anomalies++;
	if (e->undecodable_events < ENGINE_UNDECODABLE_EVENTS) {
		e->undecodable_events++;
		if ((ev = engine_event(e, EVENT_ANOMALY, NULL)) != NULL)
			ev->what = what;
	}
}

static enum engine_verdict
engine_undecodable(struct engine *e, struct engine_result *res,
    const char *what)
{
	engine_flowless_anomaly(e, what);
	if (e->inline_mode && e->conf->mode == CONFIG_MODE_ENFORCE) {
		e->st.drops++;
		res->verdict = ENGINE_DROP;
	}
	return res->verdict;
}

/* The normalisation counter of a segment the receiver discards. */
static void
engine_discard_count(struct engine *e, enum tcp_discard why)
{
	switch (why) {
	case TCP_KEEP:
		break;
	case TCP_DISCARD_SYN_DATA:
		e->st.norm_syn_data++;
		break;
	case TCP_DISCARD_URGENT:
		e->st.norm_urgent++;
		break;
	case TCP_DISCARD_OUT_OF_WINDOW:
		e->st.norm_out_of_window++;
		break;
	}
}

/*
 * Inline: must this client packet wait because the server would get an
 * unfinished line that may still be a RCPT?  A server reads such a line
 * when the connection ends (Sendmail runs a last line without its LF),
 * and the end may be our own reset of a relay attempt, or the client's
 * FIN.  So from the packet that first leaves such a line (old_next: where
 * its new bytes began), every client packet reaching past that point is
 * dropped until the line is complete and judged; the client sends them
 * again (a legitimate client's line ends in a later segment already in
 * flight, so this costs a retransmission).  Only for clients that could
 * relay.
 */
static bool
engine_hold(struct engine *e, struct flow *f, const struct decode_packet *p,
    uint32_t old_next)
{
	uint32_t end;

	if (!smtp_client_partial_rcpt(&f->smtp) || f->smtp.authenticated ||
	    policy_trusted(e->policy, &f->client)) {
		f->holding = false;
		return false;
	}
	if (!f->holding) {
		if (!SEQ_GT(f->dir[0].next, old_next))
			return false;	/* passed before: nothing to hold */
		f->holding = true;
		f->hold_from = old_next;
	}
	end = p->seq + (uint32_t)p->payload_wire_len +
	    ((p->flags & DECODE_TH_FIN) ? 1u : 0u);
	return SEQ_GT(end, f->hold_from);
}

/* Over the buffer budget: finish the least recently active flows. */
static void
engine_shed(struct engine *e)
{
	struct flow *f;
	unsigned n = 0;

	if (e->mem.used <= e->mem.cap / 16 * 15)
		return;
	/* Only flows that hold buffers: an idle session costs nothing here
	 * and losing it would make its next command look like a pickup. */
	while (e->mem.used > e->mem.cap / 4 * 3 && n++ < 1000 &&
	    (f = flow_pop_holding(e->flows, 4096)) != NULL) {
		engine_finish_flow(e, f);
		e->st.flows_evicted_mem++;
		flow_destroy(e->flows, f, &e->mem);
	}
}

/*
 * Replay's simulated blocks (engine_set_simulate): is p a packet of a
 * connection whose client is blocked now?  The client's packets are what
 * the kernel's block set drops before the queue; the server's are in the
 * capture only because nothing was dropped when it was taken.  Both are
 * counted, neither inspected.  A connection the client opens while blocked
 * is reported once, when first seen, and stays dropped to its end (past
 * the block's expiry: the server never saw it open); a session that was
 * open when the block began is cut by it.
 */
/* The block replay carries out for client now, or NULL. */
static const struct blockset_entry *
engine_sim_block(const struct engine *e, const struct rg_addr *client)
{
	const struct blockset_entry *b;

	b = blockset_find(&e->blocks, client, e->now);
	return b != NULL && b->enforced ? b : NULL;
}

static bool
engine_sim_blocked(struct engine *e, const struct decode_packet *p)
{
	const struct blockset_entry *b;
	const struct rg_addr *client;
	struct event *ev;
	struct flow *f;
	int dir = 0;

	if ((f = engine_lookup(e, p, &dir)) != NULL) {
		client = &f->client;
		b = engine_sim_block(e, client);
		if (f->blocked && b == NULL && dir == 0 &&
		    tcp_opener(p) == TCP_OPENER_SYN) {
			/* A new connection on the key of a dropped one, once
			 * the block is over: judged as any other. */
			engine_finish_flow(e, f);
			flow_destroy(e->flows, f, &e->mem);
			e->cur = NULL;
			return false;
		}
		if (b == NULL && !f->blocked)
			return false;
		flow_touch(e->flows, f, e->now);
		e->cur = f;
		e->st.sim_block_packets++;
		if (!f->blocked) {
			f->blocked = true;
			engine_kill_flow(e, f);
		}
		return true;
	}
	if (engine_direction(e, p, &dir) == ENGINE_SIDE_NONE) {
		/* Opens nothing (a bare ACK, FIN or RST): whose is it? */
		dir = engine_server(e, &p->dst, p->dport) ? 0 : 1;
		client = dir == 0 ? &p->src : &p->dst;
		if (engine_sim_block(e, client) == NULL)
			return false;
		e->st.sim_block_packets++;
		return true;
	}
	client = dir == 0 ? &p->src : &p->dst;
	if ((b = engine_sim_block(e, client)) == NULL)
		return false;
	e->st.sim_block_packets++;
	if ((f = engine_flow_create(e, p, dir)) == NULL)
		return true;
	f->blocked = true;
	engine_kill_flow(e, f);
	e->st.sim_block_sessions++;
	if ((ev = engine_event(e, EVENT_DROPPED, f)) != NULL) {
		ev->action = EVENT_ACTION_DROP;
		ev->reason = "relay-attempts";
		ev->offences = b->offences;
		ev->expires = b->until;
	}
	return true;
}

/*
 * Passive: the first fragment of a client segment to a protected server.
 * The server reassembles what we cannot read, so what it executes is
 * unknown: an ambiguity as a line some server reads otherwise is (no
 * offence, the session reset under capture-reset), for clients that could
 * relay.  Later fragments carry no ports and die without their first; the
 * server's own fragments hide nothing the client can use.
 */
static void
engine_passive_fragment(struct engine *e, const struct decode_packet *p,
    struct engine_result *res)
{
	struct engine_pkt pk;
	struct event *ev;
	struct flow *f;
	int dir = 0;

	if (!engine_server(e, &p->dst, p->dport))
		return;
	if ((f = engine_lookup(e, p, &dir)) != NULL && dir == 0) {
		flow_touch(e->flows, f, e->now);
		e->cur = f;
		memset(&pk, 0, sizeof(pk));
		pk.e = e;
		pk.f = f;
		(void)engine_ambiguity_event(&pk, "fragment", SMTP_V_NONE);
		if (!pk.ambiguous || e->conf->mode != CONFIG_MODE_ENFORCE ||
		    !e->passive_resets)
			return;
		/* The server's next acknowledgement moves the client's side
		 * past the bytes we missed: the orders repeat there. */
		engine_result_reset(res, f, f->dir[0].next, f->dir[1].next);
		f->resets_left = ENGINE_PASSIVE_RESETS;
		e->st.resets++;
		return;
	}
	/*
	 * A session this engine does not track: another capture worker's
	 * (the kernel's fanout hash of a fragment has no ports), or one that
	 * began before the daemon.  Only the fragment tells: the client
	 * expects the sequence number it acknowledges, and without the
	 * client the server's next reply is refused by the client's stack.
	 */
	if (policy_trusted(e->policy, &p->src))
		return;
	e->st.ambiguities++;
	if (e->undecodable_events < ENGINE_UNDECODABLE_EVENTS) {
		e->undecodable_events++;
		if ((ev = engine_event(e, EVENT_AMBIGUITY, NULL)) != NULL) {
			ev->client = p->src;
			ev->server = p->dst;
			ev->client_port = p->sport;
			ev->server_port = p->dport;
			ev->what = "fragment";
			ev->action = engine_stop_action(e);
		}
	}
	if (e->conf->mode != CONFIG_MODE_ENFORCE || !e->passive_resets ||
	    !(p->flags & DECODE_TH_ACK))
		return;
	res->reset = true;
	res->client = p->src;
	res->server = p->dst;
	res->client_port = p->sport;
	res->server_port = p->dport;
	res->seq_to_server = p->seq;
	res->seq_to_client = p->ack;
	e->st.resets++;
}

static enum engine_verdict
engine_inspect(struct engine *e, enum decode_result rc,
    const struct decode_packet *p, uint8_t *data, size_t caplen,
    unsigned flags, uint32_t indev, struct engine_result *res)
{
	struct engine_pkt pk;
	struct stream_result sr;
	struct flow *f;
	struct stream *st;
	enum tcp_discard why;
	uint32_t old_next, old_next_peer;
	uint64_t unseen;
	int dir = 0;
	bool ambiguous = false;
	bool enforce, stop, held, waiting, relearnt = false, unverifiable;

	switch (rc) {
	case DECODE_OK:
		break;
	case DECODE_NOT_TCP:
		e->st.not_tcp++;
		return ENGINE_ACCEPT;
	case DECODE_FRAGMENT:
		/* Only fragments that matched the queue rule's port test get
		 * here: first fragments of SMTP segments.  Unreassembled they
		 * cannot be read, and the server would reassemble them, so
		 * inline they go (TCP never needs fragmentation; path MTU
		 * discovery avoids it).  Later fragments never match the
		 * rule, and die without their first. */
		e->st.fragments++;
		if (e->inline_mode && e->conf->mode == CONFIG_MODE_ENFORCE) {
			e->st.drops++;
			res->verdict = ENGINE_DROP;
			return ENGINE_DROP;
		}
		if (e->passive && p->frag_first)
			engine_passive_fragment(e, p, res);
		return ENGINE_ACCEPT;
	case DECODE_MALFORMED:
		e->st.malformed++;
		return engine_undecodable(e, res, "malformed-packet");
	case DECODE_UNSUPPORTED:
		e->st.unsupported++;
		return engine_undecodable(e, res, "unsupported-packet");
	}
	if (!engine_server(e, &p->dst, p->dport) &&
	    !engine_server(e, &p->src, p->sport))
		return ENGINE_ACCEPT;
	e->st.tcp_packets++;
	res->decoded = true;
	enforce = e->inline_mode && e->conf->mode == CONFIG_MODE_ENFORCE;
	if (e->simulate && e->st.sim_clients_blocked > 0 &&
	    engine_sim_blocked(e, p)) {
		res->verdict = ENGINE_DROP;
		goto done;
	}

	/* Segments the receiver discards whole, before they touch a flow:
	 * forged ones must not create or move state. */
	if (e->inline_mode && !(flags & ENGINE_F_CSUM_UNVERIFIABLE) &&
	    (!decode_ip_checksum_ok(data, caplen, p) ||
	    !decode_tcp_checksum_ok(data, caplen, p))) {
		e->st.norm_bad_checksum++;
		goto discard;
	}
	if (e->conf->min_ttl != 0 && p->ttl < e->conf->min_ttl) {
		e->st.norm_low_ttl++;
		goto discard;
	}

	if ((f = engine_lookup(e, p, &dir)) != NULL)
		f = engine_reuse(e, f, p, dir);
	if (f == NULL) {
		/* Only a SYN, a SYN-ACK or a segment with data opens a flow:
		 * bare ACKs, FINs and RSTs of unknown connections pass, and
		 * so does a connection to a port that is not protected. */
		switch (engine_direction(e, p, &dir)) {
		case ENGINE_SIDE_NONE:
			goto done;
		case ENGINE_SIDE_KNOWN:
			break;
		case ENGINE_SIDE_AMBIGUOUS:
			ambiguous = true;
			break;
		}
		if ((f = engine_new_flow(e, p, dir)) == NULL)
			goto done;
		if (ambiguous)
			engine_anomaly(e, f, "ambiguous-direction");
	}
	/* The engine's clock, not ts: packet times from merged captures can
	 * step back, and the timeout lists stay in order (flow_settle). */
	flow_touch(e->flows, f, e->now);
	e->cur = f;

	if (f->killed) {
		/* The session was reset: nothing more of it may pass. */
		e->st.after_reset++;
		if (enforce) {
			res->verdict = ENGINE_DROP;
			e->st.drops++;
		}
		goto done;
	}

	if (f->offloaded) {
		/* The kernel passes the rest of the connection by its mark;
		 * what was queued before the mark took effect passes too.
		 * Only its end is followed, so that the key can be reused. */
		e->st.offloaded_packets++;
		if ((p->flags & DECODE_TH_RST) ||
		    ((p->flags & DECODE_TH_FIN) && tcp_fin(&f->tcp, dir)))
			tcp_close(&f->tcp);
		goto done;
	}

	/* Learn where each direction comes in; a packet that claims one
	 * direction but arrives where the other comes in is forged. */
	if (indev != ENGINE_INDEV_UNKNOWN) {
		if (!f->indev_known[dir]) {
			f->indev_known[dir] = true;
			f->indev[dir] = indev;
		} else if (indev != f->indev[dir] && f->indev_known[1 - dir] &&
		    indev == f->indev[1 - dir]) {
			e->st.spoofed++;
			engine_anomaly(e, f, "wrong-interface");
			goto discard;
		} else if (indev != f->indev[dir] && f->indev_known[1 - dir] &&
		    f->indev[dir] == f->indev[1 - dir]) {
			/* This direction was learnt where the other comes in
			 * and now comes from elsewhere: what taught it was
			 * forged (sent before the real first packet, to make
			 * the check above pass forgeries).  Learn it again;
			 * what was believed from the forgeries may be wrong,
			 * so the session is refused. */
			f->indev[dir] = indev;
			e->st.spoofed++;
			engine_anomaly(e, f, "wrong-interface");
			relearnt = true;
		}
	}
	st = &f->dir[dir];
	if (e->inline_mode && p->payload_len < p->payload_wire_len) {
		/* Cut short on the way to us: what we cannot read must not
		 * reach the server. */
		e->st.norm_truncated++;
		engine_anomaly(e, f, "truncated");
		goto discard;
	}
	if ((why = tcp_discarded(&f->tcp, p, dir)) != TCP_KEEP) {
		engine_discard_count(e, why);
		engine_anomaly(e, f, tcp_discard_str(why));
		goto discard;
	}
	tcp_track(&f->tcp, p, dir);
	if (p->flags & DECODE_TH_SYN)
		stream_syn(st, p->seq);
	if (p->flags & DECODE_TH_RST) {
		if (!tcp_rst_acceptable(&f->tcp, p, dir, st->started,
		    st->next)) {
			e->st.norm_rst_ignored++;
			goto done;
		}
		engine_close_flow(e, f);
		goto done;
	}

	memset(&pk, 0, sizeof(pk));
	pk.e = e;
	pk.f = f;
	pk.dir = (enum smtp_dir)dir;
	/* An ambiguous pickup: which end reads commands is a guess, so
	 * inline the session ends. */
	pk.unreadable = relearnt || ambiguous;
	if (!st->started && p->payload_wire_len > 0)
		stream_start(st, p->seq);
	old_next = st->next;
	old_next_peer = f->dir[1 - dir].next;
	unseen = f->dir[1 - dir].acked_unseen;
	/* The acknowledgement first: the sender had the peer's bytes it
	 * acknowledges before it wrote this payload (a reply that ends a
	 * body must come after the body bytes a hole was hiding). */
	if (p->flags & DECODE_TH_ACK) {
		pk.dir = (enum smtp_dir)(1 - dir);
		stream_ack(&f->dir[1 - dir], &e->mem, p->ack, engine_sink, &pk);
		pk.dir = (enum smtp_dir)dir;
		if (f->dir[1 - dir].acked_unseen != unseen) {
			/* Inline only: the peer cannot have bytes that did
			 * not pass here; forged, or slipped through a bypass. */
			e->st.acked_unseen++;
			engine_anomaly(e, f, "acked-unseen-data");
			pk.unreadable = true;
		}
	}
	if (p->payload_len > 0 || p->payload_wire_len > 0) {
		uint32_t seq = p->seq;

		if (enforce && dir == 0 && smtp_client_waiting(&f->smtp) &&
		    SEQ_GT(seq + p->payload_len, st->next)) {
			/* New client bytes that cannot be read until the
			 * server answers: drop them, the client resends. */
			res->verdict = ENGINE_DROP;
			e->st.drops++;
			e->st.norm_held++;
			goto done;
		}
		/* A resent copy of a stripped reply is stripped too: it must
		 * equal the first copy, or it would be a server conflict. */
		if (enforce && dir == 1 && !engine_tls_exempt(e, f) &&
		    e->conf->starttls == CONFIG_STARTTLS_STRIP &&
		    (smtp_awaited(&f->smtp) == SMTP_V_EHLO ||
		    SEQ_LT(seq, st->next)) && p->payload_len > 0 &&
		    engine_strip_starttls((uint8_t *)(uintptr_t)p->payload,
		    p->payload_len)) {
			e->st.starttls_stripped++;
			decode_tcp_checksum_fix(data, caplen, p);
			res->rewritten = true;
		}
		held = dir == 0 && smtp_client_held(&f->smtp);
		waiting = dir == 0 && smtp_client_waiting(&f->smtp);
		/* Server bytes at the place of others that the client has
		 * acknowledged (so they are released): they cannot be compared,
		 * and a client acknowledges its own forgery.  Only where the
		 * two directions come in on different interfaces can they be
		 * nothing but the server's (a spurious retransmission). */
		unverifiable = dir == 1 && p->payload_len > 0 && st->started &&
		    SEQ_LT(seq, st->next - st->ret_len) &&
		    !(f->indev_known[0] && f->indev_known[1] &&
		    f->indev[0] != f->indev[1]);
		stream_segment(st, &e->mem, seq, (uint8_t *)(uintptr_t)p->payload,
		    p->payload_len, enforce, engine_sink, &pk, &sr);
		/* Only bytes that came with the awaited command: a later
		 * segment the daemon drops and the client sends again once
		 * the reply is in (norm_held), so replay holds it quietly. */
		if (dir == 0 && smtp_client_held(&f->smtp)) {
			if (held || !waiting)
				engine_held(&pk, held);
			else
				f->held_reported = false;
		}
		if (sr.refused && enforce) {
			/* Early bytes we had no room to keep would reach the
			 * server unread, and the hole before them could never
			 * be closed here: drop them, the sender sends them
			 * again once the hole is filled. */
			e->st.norm_refused++;
			engine_anomaly(e, f, "early-data-refused");
			goto discard;
		}
		if ((sr.mismatch || unverifiable) && dir == 1)
			engine_reply_conflict(&pk);
		else if (sr.mismatch)
			engine_anomaly(e, f, "overlap-mismatch");
		if (sr.rewritten) {
			e->st.norm_rewritten++;
			decode_tcp_checksum_fix(data, caplen, p);
			res->rewritten = true;
		}
		/* Bytes cut by the capture's snap length are a hole. */
		if (p->payload_wire_len > p->payload_len)
			stream_ack(st, &e->mem, seq + p->payload_wire_len,
			    engine_sink, &pk);
	}
	if (enforce && dir == 0 && !(pk.relay || pk.smuggling || pk.ambiguous ||
	    pk.starttls_denied || pk.unreadable) && engine_hold(e, f, p,
	    old_next)) {
		e->st.norm_partial_held++;
		goto discard;
	}
	if (p->flags & DECODE_TH_FIN) {
		stream_fin(st, p->seq + p->payload_wire_len);
		if (tcp_fin(&f->tcp, dir))
			engine_close_flow(e, f);
	}

	stop = pk.relay || pk.smuggling || pk.ambiguous ||
	    pk.starttls_denied || (pk.unreadable && e->inline_mode);
	if (stop && e->conf->mode == CONFIG_MODE_ENFORCE && e->passive) {
		/* The packet has passed: each end expects the bytes after
		 * everything seen so far.  The server's reply races the
		 * RSTs; the next packets of the session order them again
		 * at the sequence numbers they move to. */
		if (e->passive_resets) {
			engine_result_reset(res, f, f->dir[0].next,
			    f->dir[1].next);
			f->resets_left = ENGINE_PASSIVE_RESETS;
			e->st.resets++;
			if (pk.relay)
				e->st.resets_relay++;
		}
	} else if (e->passive && f->resets_left > 0) {
		f->resets_left--;
		/* The server acknowledges where it expects the client's next
		 * byte, past any we missed (a fragment it reassembled). */
		engine_result_reset(res, f, dir == 1 &&
		    (p->flags & DECODE_TH_ACK) && SEQ_GT(p->ack,
		    f->dir[0].next) ? p->ack : f->dir[0].next, f->dir[1].next);
	} else if (stop && e->conf->mode == CONFIG_MODE_ENFORCE) {
		/* Each end gets a RST at the sequence number it expects: the
		 * bytes that passed before this dropped packet. */
		if (dir == 0)
			engine_result_reset(res, f, old_next,
			    (p->flags & DECODE_TH_ACK) ? p->ack : old_next_peer);
		else
			engine_result_reset(res, f, old_next_peer, old_next);
		/* Inline the daemon sends the resets; replay's simulation
		 * ends the session the same way (engine_set_simulate). */
		if (e->inline_mode || e->simulate) {
			res->verdict = ENGINE_DROP;
			e->st.drops++;
			e->st.resets++;
			if (pk.relay)
				e->st.resets_relay++;
			engine_kill_flow(e, f);
		}
	}
	if (!f->killed && engine_offloadable(e, f)) {
		f->offloaded = true;
		res->offload = true;
		e->st.offloaded++;
		stream_free(&f->dir[0], &e->mem);
		stream_free(&f->dir[1], &e->mem);
		/* Among the cheap flows now, with their short timeout. */
		flow_touch(e->flows, f, e->now);
	}
	if (pk.block && e->conf->mode == CONFIG_MODE_ENFORCE &&
	    (!e->passive || e->passive_blocks) &&
	    !policy_trusted(e->policy, &f->client)) {
		res->block = true;
		res->block_for = pk.block_for;
		res->client = f->client;
		/* Replay carrying out enforce: the kernel's set, simulated. */
		if (e->simulate && pk.block_entry != NULL) {
			if (pk.block_entry->blocks == 1)
				e->st.sim_clients_blocked++;
			pk.block_entry->enforced = true;
		}
	}
	goto done;
discard:
	if (enforce) {
		res->verdict = ENGINE_DROP;
		e->st.drops++;
	}
done:
	return res->verdict;
}

enum engine_verdict
engine_packet(struct engine *e, int linktype, rg_time_t ts, uint8_t *data,
    size_t caplen, size_t wirelen, unsigned flags, uint32_t indev,
    struct engine_result *res)
{
	struct decode_packet p;
	enum decode_result rc;

	rc = decode_packet(linktype, data, caplen, wirelen, &p);
	return engine_packet_decoded(e, rc, &p, ts, data, caplen, wirelen,
	    flags, indev, res);
}

enum engine_verdict
engine_packet_decoded(struct engine *e, enum decode_result rc,
    const struct decode_packet *p, rg_time_t ts, uint8_t *data,
    size_t caplen, size_t wirelen, unsigned flags, uint32_t indev,
    struct engine_result *res)
{
	struct engine_result dummy;

	if (res == NULL)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	res->verdict = ENGINE_ACCEPT;
	if (ts > e->now)
		e->now = ts;
	/* Idle flows go before this packet is looked up, as the daemon's
	 * tick would have sent them: replay must not keep a session alive
	 * only because no other packet came in between. */
	engine_expire(e);
	engine_step(e, e->pktno, ENGINE_PHASE_PACKET, 0);
	e->st.packets++;
	e->st.bytes += wirelen;
	e->cur = NULL;
	(void)engine_inspect(e, rc, p, data, caplen, flags, indev, res);
	if (e->cur != NULL) {
		/* Its state may have changed: its timeout too. */
		e->cur->seq = e->pktno;
		flow_settle(e->flows, e->cur);
		e->cur = NULL;
	}
	engine_shed(e);
	engine_step_end(e);
	e->pktno++;
	return res->verdict;
}

const struct rg_stat engine_stat_table[] = {
#define ENGINE_STATS_ROW(f, n, k, g, u, h) \
	{ n, offsetof(struct engine_stats, f), k, g, u, h },
	ENGINE_STATS(ENGINE_STATS_ROW)
#undef ENGINE_STATS_ROW
};
const size_t engine_stat_count =
    sizeof(engine_stat_table) / sizeof(engine_stat_table[0]);
/* Nothing in the struct but the list's counters. */
_Static_assert(sizeof(struct engine_stats) == sizeof(engine_stat_table) /
    sizeof(engine_stat_table[0]) * sizeof(uint64_t),
    "engine_stats holds only ENGINE_STATS counters");

void
engine_stats_add(struct engine_stats *dst, const struct engine_stats *src)
{
#define ENGINE_STATS_ADD(f, n, k, g, u, h) dst->f += src->f;
	ENGINE_STATS(ENGINE_STATS_ADD)
#undef ENGINE_STATS_ADD
}

void
engine_get_stats(const struct engine *e, struct engine_stats *s)
{
	*s = e->st;
	s->flows_active = flow_count(e->flows);
	s->mem_used = e->mem.used;
	s->mem_peak = e->mem.peak;
	s->mem_refused = e->mem.refused;
}

uint64_t
engine_pool_misses(const struct engine *e)
{
	return e->mem.pool_misses;
}
