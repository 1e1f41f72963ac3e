/*
 * event.h — what the pipeline reports, and its JSON form (one object per
 * line; attacker-controlled strings always come out escaped and valid
 * UTF-8, exactly as jansson would write them: tests/unit/test_event.c).
 */
#ifndef EVENT_H
#define EVENT_H

#include "rg.h"

/*
 * helo, mail_from, rcpt, line: room for a whole command line as the SMTP
 * parser keeps it (SMTP_LINE_MAX bytes, checked in engine.c), so an event
 * carries what the client sent, never a cut copy.  Only a line longer
 * than the parser keeps (an over-long-line ambiguity) is marked truncated.
 */
#define EVENT_TEXT_MAX 4097
/*
 * The longest JSON form of any event: four text fields whose every byte
 * may become a six-byte escape ("\u0001"), the domain likewise, and the
 * fixed fields.  event_json() never needs more.
 */
#define EVENT_JSON_MAX (5 * EVENT_TEXT_MAX * 6 + 4096)

enum event_kind {
	EVENT_RELAY_ATTEMPT,
	EVENT_BLOCK,
	EVENT_SMUGGLING,
	EVENT_ANOMALY,
	EVENT_AMBIGUITY,	/* a line some server reads otherwise */
	EVENT_DROPPED,		/* replay: a session a blocked client opened */
};

enum event_action {
	EVENT_ACTION_NONE,	/* nothing to do (anomaly, report only) */
	EVENT_ACTION_REPORT,	/* mode monitor: would have acted */
	EVENT_ACTION_RESET,	/* mode enforce: segment dropped, reset */
	EVENT_ACTION_BLOCK,	/* source put into the block set */
	EVENT_ACTION_DROP,	/* dropped by a block (replay's simulation) */
};

/*
 * Where an event stands in its engine's output (engine.h, engine_pass()):
 * the index of the packet it came with, then what part of that packet's
 * work (ENGINE_PHASE_*), then the flow's place in that part.  Replay's
 * workers merge their events by it into the order one engine gives.
 */
struct event_order {
	uint64_t pkt;
	uint64_t sub;
	uint32_t phase;
};

struct event {
	enum event_kind kind;
	enum event_action action;
	rg_time_t time;
	struct rg_addr client, server;
	uint16_t client_port, server_port;
	char helo[EVENT_TEXT_MAX];
	char mail_from[EVENT_TEXT_MAX];
	char rcpt[EVENT_TEXT_MAX];	/* path as written */
	char domain[256];		/* where the path leads ("" if none) */
	const char *reason;		/* static: why it is a relay attempt;
					 * dropped: why the client is blocked */
	const char *trick;		/* static: routing trick or NULL */
	const char *what;		/* static: anomaly/smuggling/ambiguity
					 * name */
	const char *command;		/* static: ambiguity: the verb read */
	char line[EVENT_TEXT_MAX];	/* ambiguity: the line as sent */
	uint32_t attempts;		/* block: attempts in the window */
	uint32_t offences;		/* block, dropped: this client's block
					 * count */
	rg_time_t duration;		/* block: usec */
	const char *exempt;		/* static: block: why it was not
					 * applied ("never-block"), or NULL */
	rg_time_t expires;		/* dropped: when the block ends */
	bool truncated;			/* a text field was cut */
	struct event_order order;
};

/* An empty event (every text "", pointers NULL, numbers 0) without
 * clearing the ~16 KiB of text arrays; events are ~16 KiB, mostly unused. */
void event_clear(struct event *ev);
/* *dst = *src, copying each text only up to its NUL. */
void event_copy(struct event *dst, const struct event *src);
/*
 * ev flat, for another thread (replay's workers): the fixed fields, then
 * each text's length and bytes; at most EVENT_PACK_MAX bytes.  The static
 * strings travel as pointers (they are the program's own).
 */
#define EVENT_PACK_MAX (sizeof(struct event) + 16)
size_t event_pack(const struct event *ev, uint8_t *buf);
/* Back from event_pack()'s bytes. */
void event_unpack(struct event *ev, const uint8_t *buf);

/*
 * Write ev as one JSON object and a newline into buf.  Returns the length
 * written, or 0 if buf is too small (EVENT_JSON_MAX bytes always suffice).
 */
size_t event_json(const struct event *ev, char *buf, size_t len);

/* "2026-11-28T00:43:30.123456Z" (gmtime_r, never the local zone). */
const char *event_time_str(rg_time_t t, char *buf, size_t len);

/* Copy at most dstlen-1 bytes, NUL-terminate; true if it all fit. */
bool event_copy_text(char *dst, size_t dstlen, const uint8_t *src,
    size_t len);

/* Length of the valid UTF-8 sequence at s (1..4, at most n), or 0 if it
 * is not one (overlong, surrogate, past U+10FFFF, cut). */
size_t event_utf8_len(const unsigned char *s, size_t n);

const char *event_kind_str(enum event_kind k);
const char *event_action_str(enum event_action a);

#endif
