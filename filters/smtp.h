/*
 * smtp.h — a resumable SMTP dialogue parser (the shape of nginx's HTTP
 * parser): all state lives in struct smtp_session, input may be split at
 * any byte, and each call returns at most one item.  Both directions of one
 * connection go through one session so that replies drive the client side:
 * a 354 turns the client's bytes into a body, a 235 authenticates, a 220 to
 * STARTTLS makes the rest opaque.
 *
 * Usage, per chunk of in-order bytes of one direction:
 *
 *	while (smtp_feed(s, mem, dir, p, n, &used, &item) == SMTP_ITEM) {
 *		handle(&item); p += used; n -= used;
 *	}
 *
 * After every SMTP_ITEM_REPLY item, client bytes that were held back while
 * waiting for that reply may have become parseable: drain them with
 * smtp_feed(s, mem, SMTP_CLIENT, NULL, 0, ...) until it returns SMTP_AGAIN.
 *
 * Items point into the caller's data or into the session's own buffers (a
 * line buffer, or the held client bytes of s->pending); they are valid
 * until the next call on the same session.
 */
#ifndef SMTP_H
#define SMTP_H

#include "rg.h"

#define SMTP_LINE_MAX	4096	/* command bytes kept; the rest is cut */
#define SMTP_REPLY_LINE_MAX 1024
#define SMTP_PENDING_MAX 65536	/* client bytes held while awaiting a reply */
#define SMTP_FIFO_RUNS	16	/* run-length entries of unanswered commands */

/*
 * What the protected server's software reads differently from the plain
 * grammar (config key server-software).  Where real servers disagree, a
 * command line that any of them could execute as something else than we
 * read is an ambiguity: the item carries its name and the engine refuses
 * the session.  SMTP_SOFTWARE_ANY is the union of the four measured
 * servers; naming one narrows the union to what that one does.
 */
enum smtp_software {
	SMTP_SOFTWARE_ANY = 0,
	SMTP_SOFTWARE_POSTFIX,
	SMTP_SOFTWARE_EXIM,
	SMTP_SOFTWARE_SENDMAIL,
	SMTP_SOFTWARE_OPENSMTPD,
	SMTP_SOFTWARE__COUNT
};

/* Names of the ambiguities (smtp_item.ambiguity), static strings. */
#define SMTP_AMB_BLANK		"other-blank"	/* VT or FF in a command */
#define SMTP_AMB_BARE_CR	"bare-cr"	/* CR not before the LF */
#define SMTP_AMB_NUL		"nul"		/* NUL in a command */
#define SMTP_AMB_8BIT_VERB	"8bit-verb"	/* 8-bit byte in the verb */
#define SMTP_AMB_LONG_LINE	"long-line"	/* over the server's limit */
#define SMTP_AMB_BDAT	"bdat-not-offered"	/* BDAT without CHUNKING */

enum smtp_dir { SMTP_CLIENT = 0, SMTP_SERVER = 1 };

enum smtp_verb {
	SMTP_V_NONE = 0,
	SMTP_V_CONNECT,		/* pseudo: the banner answers the connection */
	SMTP_V_HELO, SMTP_V_EHLO, SMTP_V_LHLO,
	SMTP_V_MAIL, SMTP_V_RCPT, SMTP_V_DATA, SMTP_V_BDAT,
	SMTP_V_RSET, SMTP_V_QUIT, SMTP_V_NOOP, SMTP_V_VRFY, SMTP_V_EXPN,
	SMTP_V_HELP, SMTP_V_AUTH, SMTP_V_STARTTLS, SMTP_V_ETRN, SMTP_V_TURN,
	SMTP_V_XCLIENT, SMTP_V_XFORWARD,
	SMTP_V_UNKNOWN,
	SMTP_V_AUTH_DATA,	/* pseudo: a client line inside an AUTH exchange */
	SMTP_V_DATA_END,	/* pseudo: the end-of-data line of a DATA body */
	SMTP_V__COUNT
};

enum smtp_item_kind {
	SMTP_ITEM_COMMAND,	/* a complete client command line */
	SMTP_ITEM_REPLY,	/* a complete (possibly multi-line) reply */
	SMTP_ITEM_SMUGGLING,	/* an ambiguous end-of-data in a DATA body */
	SMTP_ITEM_ANOMALY,	/* a protocol anomaly, named by .what */
	SMTP_ITEM_TLS,		/* STARTTLS accepted: the rest is opaque */
};

struct smtp_item {
	enum smtp_item_kind kind;
	enum smtp_dir dir;
	/* COMMAND: the verb.  REPLY: the command this reply answers, or
	 * SMTP_V_NONE if no command was waiting for one. */
	enum smtp_verb verb;
	/* COMMAND: the whole line without its line ending (cut at
	 * SMTP_LINE_MAX).  REPLY: the last line of the reply. */
	const uint8_t *line;
	size_t line_len;
	/* COMMAND: the text after the verb and the blanks that follow it. */
	const uint8_t *arg;
	size_t arg_len;
	int code;		/* REPLY: the 3-digit code */
	bool truncated;		/* the line was longer than the cap */
	/* COMMAND: read from bytes that follow an ambiguous end-of-data or a
	 * pipelined STARTTLS, which a lenient server takes as commands. */
	bool smuggled;
	const char *what;	/* ANOMALY/SMUGGLING: a static name */
	/* COMMAND: non-NULL (one of SMTP_AMB_*) when some server of the
	 * configured software could execute this line as something other
	 * than the verb and argument given here, which are the widest
	 * reading (other blanks split like spaces).  NULL otherwise. */
	const char *ambiguity;
};

enum smtp_status { SMTP_AGAIN = 0, SMTP_ITEM = 1 };

/* Per-direction parse state.  Opaque to callers. */
struct smtp_half {
	uint8_t state;		/* internal */
	uint8_t eol_state;	/* internal: CR/LF tracking in bodies */
	bool skipping;		/* discarding the rest of an overlong line */
	bool resync;		/* after a gap: skip to the next line start */
	uint32_t skipped;	/* bytes of the current line past the cap
				 * (saturating) */
	bool drop_line;		/* the rest of an over-long line, already
				 * reported, is skipped up to its LF */
	uint32_t lines;		/* lines of the current multi-line reply */
	uint64_t bdat_left;	/* octets of the current BDAT chunk */
	struct rg_buf line;	/* partial line carried between calls */
};

struct smtp_session {
	struct smtp_half half[2];
	struct rg_buf pending;	/* client bytes held while awaiting a reply */
	uint32_t pending_off;	/* internal: bytes of pending already parsed */
	/* Unanswered commands, oldest first, run-length coded so a pipeline
	 * of 600 RCPTs takes one entry. */
	struct { uint8_t verb; uint16_t count; } fifo[SMTP_FIFO_RUNS];
	uint8_t fifo_head, fifo_len;
	uint8_t client_wait;	/* verb whose reply the client side awaits */
	uint8_t flags;		/* internal */
	uint8_t defer;		/* internal: items owed to the caller */
	uint8_t software;	/* enum smtp_software */
	bool authenticated;	/* a 235 answered AUTH in this session */
	bool tls;		/* STARTTLS accepted: both directions opaque */
	bool in_body;		/* the client is sending a DATA/BDAT body */
	bool bdat_last;		/* the current BDAT chunk is the LAST one */
	uint64_t body_bytes;	/* DATA/BDAT payload octets skipped */
	uint64_t opaque_bytes;	/* bytes after STARTTLS, not inspected */
	uint64_t commands, replies, anomalies;
};

/* Start a session at the beginning of a connection (banner expected). */
void smtp_init(struct smtp_session *s);
/* Read as this server software does (default SMTP_SOFTWARE_ANY); after
 * smtp_init*(), before the first byte. */
void smtp_set_software(struct smtp_session *s, enum smtp_software sw);
/* "any", "postfix", ...; NULL for an out-of-range value. */
const char *smtp_software_name(enum smtp_software sw);
/* The software named by the n bytes at p; false if none is. */
bool smtp_software_lookup(const char *p, size_t n, enum smtp_software *sw);
/* Start a session picked up in the middle: both sides resynchronise at the
 * next line, and no banner is expected. */
void smtp_init_midstream(struct smtp_session *s);
/* Release buffers charged to m.  The session may be re-initialised. */
void smtp_free(struct smtp_session *s, struct rg_mem *m);

/* Parse bytes of one direction; see the usage note above.  *consumed is
 * always set; data may be NULL when len is 0. */
enum smtp_status smtp_feed(struct smtp_session *s, struct rg_mem *m,
    enum smtp_dir dir, const uint8_t *data, size_t len, size_t *consumed,
    struct smtp_item *item);

/* Bytes of one direction were lost (capture loss): drop any partial line
 * and resynchronise at the next line.  Inside a body, stay in the body: the
 * next server reply shows where it ended. */
void smtp_gap(struct smtp_session *s, struct rg_mem *m, enum smtp_dir dir);

/* True while client bytes cannot be interpreted until the server answers
 * (after DATA, AUTH or STARTTLS).  The inline daemon drops new client data
 * then, so that the client retransmits it once the reply is known. */
bool smtp_client_waiting(const struct smtp_session *s);

/* The command the next server reply will answer (SMTP_V_NONE if none). */
enum smtp_verb smtp_awaited(const struct smtp_session *s);

/* True when client bytes that followed such a command (before its reply)
 * are being held: a client pipelined past DATA, AUTH or STARTTLS, which
 * RFC 2920 forbids and which a server may read as commands. */
bool smtp_client_held(const struct smtp_session *s);

/*
 * True while the client's unfinished command line may still turn out to
 * be a RCPT: in command mode, its first bytes after any blanks are a
 * prefix of "RCPT" (any case).  A server that reads such a line at the
 * end of the connection (Sendmail runs a last line without its LF) must
 * not have it before it is judged.
 */
bool smtp_client_partial_rcpt(const struct smtp_session *s);

/* Is this reply item the server taking a message: 2xx to the end of a
 * DATA body or to the LAST BDAT chunk? */
bool smtp_message_accepted(const struct smtp_session *s,
    const struct smtp_item *it);

/* Bytes buffered by this session (partial lines and pending input). */
size_t smtp_buffered(const struct smtp_session *s);

const char *smtp_verb_name(enum smtp_verb v);

#endif
