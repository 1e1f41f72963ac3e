/*
 * smtp.c — the resumable SMTP dialogue parser (contract in smtp.h).
 *
 * One session carries both directions of a connection.  Client bytes are
 * cut into command lines, DATA bodies or BDAT chunks; server bytes into
 * replies, each of which pops the oldest unanswered command from a FIFO.
 * Replies drive the client side: after DATA, AUTH, an AUTH_DATA line or
 * STARTTLS the client's bytes cannot be interpreted until the reply says
 * what they are, so they are held in s->pending and parsed afterwards.
 *
 * Every call returns at most one item.  When one event produces two items
 * (a BDAT command that is also invalid, a 220 to STARTTLS that is also an
 * injection), the second is recorded in s->defer and handed out first thing
 * in the next call, whichever direction that call is for.
 *
 * The parser must give the same items however the bytes are split, so all
 * state that spans bytes (partial lines, the CR/LF/dot history in bodies,
 * BDAT octets left) lives in struct smtp_half, never in locals.
 */
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#endif

#include "smtp.h"

/* Client half modes, kept in half[SMTP_CLIENT].state. */
enum {
	CM_CMD = 0,	/* command lines */
	CM_AUTH,	/* the next line answers a 334: an AUTH_DATA line */
	CM_BODY,	/* DATA body: looking for the end-of-data line */
	CM_CHUNK,	/* BDAT chunk: bdat_left octets that are not commands */
	CM_INJECT,	/* pending bytes that followed an accepted STARTTLS */
	CM_OPAQUE,	/* after TLS: counted, never parsed */
};

/*
 * Body end-of-data tracking, kept in half.eol_state.  P_* say which line
 * ending came before a dot (and, for the suffix, after it).  B_DOT + p means
 * "a dot right after ending p"; B_DOTCR + p means "a dot and a CR after
 * ending p": only the next byte tells CRLF from a bare CR, and it may come
 * in the next call.
 */
enum { P_CRLF = 0, P_LF = 1, P_CR = 2 };
enum {
	B_MID = 0,	/* inside a line */
	B_CR,		/* last byte a CR */
	B_CRLF,		/* at a line start after CRLF */
	B_LF,		/* at a line start after a bare LF */
	B_DOT = 4,	/* 4..6 */
	B_DOTCR = 7,	/* 7..9 */
};

/* The names of the ambiguous end-of-data sequences, [prefix][suffix];
 * NULL is the strict CRLF.CRLF. */
static const char *const smtp_smuggle_names[3][3] = {
	[P_CRLF] = { NULL, "CRLF.LF", "CRLF.CR" },
	[P_LF] = { "LF.CRLF", "LF.LF", "LF.CR" },
	[P_CR] = { "CR.CRLF", "CR.LF", "CR.CR" },
};

/* s->flags */
#define F_SMUGGLED	0x01	/* commands follow an ambiguous end-of-data */
#define F_PEND_LOST	0x02	/* bytes after pending were lost: resync there */
#define F_OUT_C		0x04	/* client line buffer handed out in an item */
#define F_OUT_S		0x08	/* server line buffer handed out in an item */
#define F_CHUNKING	0x10	/* the last EHLO reply offered CHUNKING */
#define F_EHLO_CHUNK	0x20	/* CHUNKING seen in the EHLO reply so far */

/* s->defer: items owed, handed out in this order. */
#define D_REALIGN	0x01
#define D_TLS		0x02
#define D_INJECT	0x04
#define D_BDAT		0x08
#define D_FIFO		0x10

/* A multi-line reply longer than this is reported once. */
#define SMTP_REPLY_LINES_MAX 1000
/* Line buffers up to this size are kept for the next split line; larger
 * ones are freed so that idle sessions hold little memory. */
#define SMTP_LINEBUF_KEEP 256

/* A complete line found by smtp_take_line(). */
struct smtp_line {
	const uint8_t *p;
	size_t len;		/* without the line ending, cut at the cap */
	size_t total;		/* without the line ending, uncut (saturating) */
	bool trunc;
	bool buffered;		/* p points into the half's line buffer */
};

static const struct {
	const char *name;
	uint8_t len;
	uint8_t verb;
} smtp_verbs[] = {
	{ "MAIL", 4, SMTP_V_MAIL }, { "RCPT", 4, SMTP_V_RCPT },
	{ "DATA", 4, SMTP_V_DATA }, { "EHLO", 4, SMTP_V_EHLO },
	{ "HELO", 4, SMTP_V_HELO }, { "RSET", 4, SMTP_V_RSET },
	{ "QUIT", 4, SMTP_V_QUIT }, { "NOOP", 4, SMTP_V_NOOP },
	{ "BDAT", 4, SMTP_V_BDAT }, { "AUTH", 4, SMTP_V_AUTH },
	{ "LHLO", 4, SMTP_V_LHLO }, { "VRFY", 4, SMTP_V_VRFY },
	{ "EXPN", 4, SMTP_V_EXPN }, { "HELP", 4, SMTP_V_HELP },
	{ "ETRN", 4, SMTP_V_ETRN }, { "TURN", 4, SMTP_V_TURN },
	{ "STARTTLS", 8, SMTP_V_STARTTLS }, { "XCLIENT", 7, SMTP_V_XCLIENT },
	{ "XFORWARD", 8, SMTP_V_XFORWARD },
};

/* Words that start a line again after a gap (see smtp_gap()). */
static const char *const smtp_resync_words[] = {
	"RCPT", "MAIL", "DATA", "QUIT", "RSET", "EHLO", "HELO", "BDAT",
	"AUTH", "STARTTLS", "NOOP", "VRFY", "EXPN",
};

static const char *const smtp_verb_names[SMTP_V__COUNT] = {
	[SMTP_V_NONE] = "NONE", [SMTP_V_CONNECT] = "CONNECT",
	[SMTP_V_HELO] = "HELO", [SMTP_V_EHLO] = "EHLO",
	[SMTP_V_LHLO] = "LHLO", [SMTP_V_MAIL] = "MAIL",
	[SMTP_V_RCPT] = "RCPT", [SMTP_V_DATA] = "DATA",
	[SMTP_V_BDAT] = "BDAT", [SMTP_V_RSET] = "RSET",
	[SMTP_V_QUIT] = "QUIT", [SMTP_V_NOOP] = "NOOP",
	[SMTP_V_VRFY] = "VRFY", [SMTP_V_EXPN] = "EXPN",
	[SMTP_V_HELP] = "HELP", [SMTP_V_AUTH] = "AUTH",
	[SMTP_V_STARTTLS] = "STARTTLS", [SMTP_V_ETRN] = "ETRN",
	[SMTP_V_TURN] = "TURN", [SMTP_V_XCLIENT] = "XCLIENT",
	[SMTP_V_XFORWARD] = "XFORWARD", [SMTP_V_UNKNOWN] = "UNKNOWN",
	[SMTP_V_AUTH_DATA] = "AUTH_DATA", [SMTP_V_DATA_END] = "DATA_END",
};

static const uint8_t smtp_dot[] = ".";

/*
 * How each server software reads command lines, where the four real
 * servers of the differential lab (tests/mta, tests/differential) were
 * seen to differ.  Lengths are bytes without the line ending; a line
 * longer than the limit may be read as something else than we read, so
 * it is an ambiguity.  0: the server never reads such a line differently
 * from us (it refuses it, or cuts only what we do not read either).
 *
 * - cmd_limit: Postfix cuts a command at line_length_limit (2048) and
 *   runs the head; older Sendmail builds split at their 2 KiB buffer
 *   (8.17 refuses with 421); Exim runs byte 16,385 onwards as the next
 *   command, and we read only SMTP_LINE_MAX, so for Exim anything we cut
 *   is ambiguous; OpenSMTPD refuses lines over 2 KiB and disconnects.
 *   2000 stays below every one of them, with room for the line ending.
 * - auth_limit: the same for AUTH lines and the lines that answer a 334
 *   (SASL tokens can be long).  Postfix and OpenSMTPD discard the excess
 *   of an over-long response (the authentication then fails); Exim reads
 *   up to 16 KiB; a Sendmail 2 KiB buffer would split.
 * - eightbit_verb: Sendmail with SevenBitInput strips the top bit of
 *   every byte, so 0xD2 "CPT" is RCPT there.
 * Other blanks (VT, FF), a CR not before the LF and NUL are ambiguous for
 * every software: Postfix and Sendmail split on them like a space (and a
 * NUL ends a Sendmail line), Exim and OpenSMTPD refuse them, and no
 * legitimate client sends them, so refusing costs nothing.
 */
static const struct smtp_profile {
	const char *name;
	uint16_t cmd_limit, auth_limit;
	bool eightbit_verb;
} smtp_profiles[SMTP_SOFTWARE__COUNT] = {
	[SMTP_SOFTWARE_ANY] =		{ "any", 2000, 2000, true },
	[SMTP_SOFTWARE_POSTFIX] =	{ "postfix", 2000, 0, false },
	[SMTP_SOFTWARE_EXIM] =		{ "exim", SMTP_LINE_MAX, 16383, false },
	[SMTP_SOFTWARE_SENDMAIL] =	{ "sendmail", 2000, 2000, true },
	[SMTP_SOFTWARE_OPENSMTPD] =	{ "opensmtpd", 0, 0, false },
};

static inline bool
smtp_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static inline bool
smtp_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

const char *
smtp_verb_name(enum smtp_verb v)
{
	if ((unsigned)v >= SMTP_V__COUNT || smtp_verb_names[v] == NULL)
		return "?";
	return smtp_verb_names[v];
}

/* --- the FIFO of unanswered commands ------------------------------------ */

static void
smtp_fifo_push(struct smtp_session *s, enum smtp_verb v)
{
	unsigned tail, next;

	if (s->fifo_len > 0) {
		tail = (s->fifo_head + s->fifo_len - 1u) % SMTP_FIFO_RUNS;
		if (s->fifo[tail].verb == v && s->fifo[tail].count < UINT16_MAX) {
			s->fifo[tail].count++;
			return;
		}
	}
	if (s->fifo_len == SMTP_FIFO_RUNS) {
		/*
		 * Full: merge the two oldest runs into one of unknown verb.
		 * Counts stay exact, so the newest commands (the only ones
		 * that can wait for a reply) still pair with their replies;
		 * only old replies lose the name of their command.
		 */
		next = (s->fifo_head + 1u) % SMTP_FIFO_RUNS;
		if ((unsigned)s->fifo[s->fifo_head].count + s->fifo[next].count >
		    UINT16_MAX)
			s->fifo[next].count = UINT16_MAX;
		else
			s->fifo[next].count += s->fifo[s->fifo_head].count;
		s->fifo[next].verb = SMTP_V_UNKNOWN;
		s->fifo_head = (uint8_t)next;
		s->fifo_len--;
		s->defer |= D_FIFO;
	}
	tail = (s->fifo_head + s->fifo_len) % SMTP_FIFO_RUNS;
	s->fifo[tail].verb = (uint8_t)v;
	s->fifo[tail].count = 1;
	s->fifo_len++;
}

static enum smtp_verb
smtp_fifo_pop(struct smtp_session *s)
{
	enum smtp_verb v;

	if (s->fifo_len == 0)
		return SMTP_V_NONE;
	v = (enum smtp_verb)s->fifo[s->fifo_head].verb;
	if (s->fifo[s->fifo_head].count <= 1) {
		s->fifo[s->fifo_head].count = 0;
		s->fifo_head = (uint8_t)((s->fifo_head + 1u) % SMTP_FIFO_RUNS);
		s->fifo_len--;
	} else
		s->fifo[s->fifo_head].count--;
	return v;
}

static bool
smtp_fifo_has(const struct smtp_session *s, enum smtp_verb v)
{
	unsigned i;

	for (i = 0; i < s->fifo_len; i++)
		if (s->fifo[(s->fifo_head + i) % SMTP_FIFO_RUNS].verb == v)
			return true;
	return false;
}

/* --- line buffers -------------------------------------------------------- */

/* Forget the half's partial line.  The client's may hold credentials
 * (AUTH lines), so it is wiped first. */
static void
smtp_line_reset(struct smtp_half *h, struct rg_mem *m, bool wipe)
{
	if (wipe && h->line.len > 0)
		explicit_bzero(h->line.data, h->line.len);
	if (h->line.cap > SMTP_LINEBUF_KEEP)
		rg_buf_free(&h->line, m);
	else
		h->line.len = 0;
	h->skipping = false;
	h->skipped = 0;
}

/*
 * Keep n bytes of a line that does not end here.  The buffer holds at
 * most max + 1 bytes: one more than the cap, so that a CR right at the cap
 * can still be recognised as the line ending once the LF arrives.  Past
 * that (or when the budget refuses) the rest of the line is skipped.
 */
static void
smtp_line_keep(struct smtp_half *h, struct rg_mem *m, const uint8_t *p,
    size_t n, size_t max)
{
	size_t room, take;

	if (n == 0)
		return;
	if (h->skipping) {
		h->skipped = n > UINT32_MAX - h->skipped ? UINT32_MAX :
		    h->skipped + (uint32_t)n;
		return;
	}
	room = max + 1 - h->line.len;
	take = n < room ? n : room;
	if (!rg_buf_append(&h->line, m, p, take, max + 1))
		take = 0;
	if (take < n) {
		h->skipping = true;
		h->skipped = n - take > UINT32_MAX ? UINT32_MAX :
		    (uint32_t)(n - take);
	}
}

/*
 * Find the end of the current line in p[0..n), n > 0.  True with the line
 * in *ln when its LF is here (*used counts through the LF); false when all
 * n bytes were taken into the partial line.
 */
static bool
smtp_take_line(struct smtp_half *h, struct rg_mem *m, const uint8_t *p,
    size_t n, size_t max, size_t *used, struct smtp_line *ln)
{
	const uint8_t *nl;
	size_t k, raw;

	nl = memchr(p, '\n', n);
	if (nl == NULL) {
		smtp_line_keep(h, m, p, n, max);
		*used = n;
		return false;
	}
	k = (size_t)(nl - p);
	*used = k + 1;
	if (h->line.len == 0 && !h->skipping) {
		ln->p = p;		/* zero-copy: the whole line is here */
		raw = k;
		ln->buffered = false;
	} else {
		smtp_line_keep(h, m, p, k, max);
		ln->p = h->line.data;
		raw = h->line.len;
		ln->buffered = true;
	}
	ln->trunc = h->skipping;
	ln->total = raw + (h->skipping ? h->skipped : 0);
	h->skipping = false;
	h->skipped = 0;
	if (!ln->trunc && raw > 0 && ln->p[raw - 1] == '\r') {
		raw--;
		ln->total--;
	}
	if (raw > max) {
		raw = max;
		ln->trunc = true;
	}
	if (ln->p == NULL)		/* budget refused the first byte */
		ln->p = smtp_dot + 1;
	ln->len = raw;
	return true;
}

/* Drop the pending bytes already parsed, wiping what they leave behind. */
static void
smtp_pending_compact(struct smtp_session *s)
{
	size_t old = s->pending.len;

	if (s->pending_off == 0)
		return;
	rg_buf_consume(&s->pending, s->pending_off);
	explicit_bzero(s->pending.data + s->pending.len, old - s->pending.len);
	s->pending_off = 0;
}

/* Items of the previous call are no longer valid: recycle their memory. */
static void
smtp_release(struct smtp_session *s, struct rg_mem *m)
{
	if (s->flags & F_OUT_C)
		smtp_line_reset(&s->half[SMTP_CLIENT], m, true);
	if (s->flags & F_OUT_S)
		smtp_line_reset(&s->half[SMTP_SERVER], m, false);
	s->flags &= (uint8_t)~(F_OUT_C | F_OUT_S);
	if (s->pending.len > 0 && s->pending_off >= s->pending.len) {
		explicit_bzero(s->pending.data, s->pending.len);
		rg_buf_free(&s->pending, m);
		s->pending_off = 0;
	}
}

/* --- small parsers ------------------------------------------------------- */

static enum smtp_verb
smtp_verb_lookup(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++)
		if (smtp_verbs[i].len == n &&
		    rg_strncaseeq((const char *)p, smtp_verbs[i].name, n))
			return (enum smtp_verb)smtp_verbs[i].verb;
	return SMTP_V_UNKNOWN;
}

/*
 * After a gap, a line counts only if it starts (after blanks) with a
 * command word followed by a blank, ':' or the end of the line, so that a
 * command right after a hole is not lost.  "RCPT" and "MAIL" alone are
 * enough: a superset of "RCPT TO" and "MAIL FROM".
 */
static bool
smtp_resync_ok(const uint8_t *p, size_t n)
{
	size_t i = 0, w, k;

	while (i < n && smtp_blank(p[i]))
		i++;
	for (k = 0; k < sizeof(smtp_resync_words) / sizeof(smtp_resync_words[0]);
	    k++) {
		w = strlen(smtp_resync_words[k]);
		if (n - i < w ||
		    !rg_strncaseeq((const char *)p + i, smtp_resync_words[k], w))
			continue;
		if (n - i == w || smtp_blank(p[i + w]) || p[i + w] == ':')
			return true;
	}
	return false;
}

/*
 * The argument of BDAT: decimal digits that fit in an int64, optionally
 * followed by blanks and the word LAST, optionally followed by blanks.
 */
static bool
smtp_bdat_parse(const uint8_t *p, size_t n, uint64_t *size, bool *last)
{
	uint64_t v = 0, d;
	size_t i = 0, j;

	if (n == 0 || !smtp_digit(p[0]))
		return false;
	for (; i < n && smtp_digit(p[i]); i++) {
		d = (uint64_t)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (v > (uint64_t)INT64_MAX)
		return false;
	for (j = i; j < n && smtp_blank(p[j]); j++)
		;
	*size = v;
	*last = false;
	if (j == n)
		return true;
	if (j == i || n - j < 4 || !rg_strncaseeq((const char *)p + j, "LAST", 4))
		return false;
	for (j += 4; j < n && smtp_blank(p[j]); j++)
		;
	if (j != n)
		return false;
	*last = true;
	return true;
}

/* "DDD", "DDD text" or "DDD-text" with the first digit 2 to 5. */
static bool
smtp_reply_line_ok(const uint8_t *p, size_t n)
{
	if (n < 3 || p[0] < '2' || p[0] > '5' || !smtp_digit(p[1]) ||
	    !smtp_digit(p[2]))
		return false;
	return n == 3 || p[3] == ' ' || p[3] == '-';
}

/* The profile of the session's server software. */
static const struct smtp_profile *
smtp_profile(const struct smtp_session *s)
{
	return &smtp_profiles[s->software < SMTP_SOFTWARE__COUNT ?
	    s->software : SMTP_SOFTWARE_ANY];
}

/* A byte that some server splits words on: C's isspace() without LF
 * (Postfix's ISSPACE, Sendmail's isspace()). */
static inline bool
smtp_any_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * Split a command line into verb and argument: blanks, the verb up to the
 * next blank, blanks, the argument.  Blanks are every byte a real server
 * splits on, so the verb is the widest reading (as Postfix and Sendmail
 * tokenise); a line that needs it is flagged by smtp_ambiguity().
 */
static void
smtp_split(struct smtp_item *it)
{
	size_t i = 0, vs;

	while (i < it->line_len && smtp_any_blank(it->line[i]))
		i++;
	vs = i;
	while (i < it->line_len && !smtp_any_blank(it->line[i]))
		i++;
	it->verb = smtp_verb_lookup(it->line + vs, i - vs);
	while (i < it->line_len && smtp_any_blank(it->line[i]))
		i++;
	it->arg = it->line + i;
	it->arg_len = it->line_len - i;
}

/*
 * Does some server of this software read the client line ln (a command,
 * or auth true: an AUTH line or the answer to a 334) otherwise than the
 * plain grammar does?  The name of the ambiguity, or NULL.
 */
static const char *
smtp_ambiguity(const struct smtp_session *s, const struct smtp_line *ln,
    bool auth)
{
	const struct smtp_profile *pf = smtp_profile(s);
	uint16_t limit = auth ? pf->auth_limit : pf->cmd_limit;
	size_t i;
	bool verb = true;

	if (limit != 0 && (ln->total > limit || (ln->trunc &&
	    limit >= SMTP_LINE_MAX)))
		return SMTP_AMB_LONG_LINE;
	for (i = 0; i < ln->len; i++) {
		switch (ln->p[i]) {
		case '\v':
		case '\f':
			return SMTP_AMB_BLANK;
		case '\r':
			return SMTP_AMB_BARE_CR;
		case '\0':
			return SMTP_AMB_NUL;
		case ' ':
		case '\t':
			/* The verb ends at the first blank after it. */
			if (i > 0 && !smtp_blank(ln->p[i - 1]))
				verb = false;
			break;
		default:
			if (ln->p[i] >= 0x80 && verb && !auth &&
			    pf->eightbit_verb)
				return SMTP_AMB_8BIT_VERB;
			break;
		}
	}
	return NULL;
}

/* --- the client side ------------------------------------------------------ */

/*
 * The length limit of the client line now being read (0: none): the AUTH
 * one for lines that answer a 334 and for AUTH commands (whose first
 * bytes are in the line buffer or at p), else the command one.
 */
static uint16_t
smtp_line_limit(const struct smtp_session *s, const uint8_t *p, size_t n)
{
	const struct smtp_half *h = &s->half[SMTP_CLIENT];
	const struct smtp_profile *pf = smtp_profile(s);
	uint8_t head[5];
	size_t k = 0, i;

	if (h->state == CM_AUTH)
		return pf->auth_limit;
	for (i = 0; i < h->line.len && k < sizeof(head); i++)
		head[k++] = h->line.data[i];
	for (i = 0; i < n && k < sizeof(head); i++)
		head[k++] = p[i];
	if (k == sizeof(head) && rg_strncaseeq((const char *)head, "AUTH", 4)
	    && smtp_blank(head[4]))
		return pf->auth_limit;
	return pf->cmd_limit;
}

/*
 * A line that grows past its limit is reported as soon as it does, not
 * at its LF: Exim runs the first 16 KiB of a line that has no LF yet, so
 * the bytes that cross the limit must not pass (inline drops the segment
 * that carries them).  The item holds the first limit + 2 bytes (the +1
 * leaves room for a CR before the LF), whatever the segmentation; the
 * rest of the line is skipped.  True with the line in *ln and *used bytes
 * of p taken when the limit is crossed here.
 */
static bool
smtp_line_over(struct smtp_session *s, struct rg_mem *m, const uint8_t *p,
    size_t n, size_t *used, struct smtp_line *ln)
{
	struct smtp_half *h = &s->half[SMTP_CLIENT];
	const uint8_t *nl;
	uint16_t limit = smtp_line_limit(s, p, n);
	size_t so_far, upto, take;

	if (limit == 0)
		return false;
	so_far = (size_t)h->line.len + (h->skipping ? h->skipped : 0);
	nl = memchr(p, '\n', n);
	upto = nl != NULL ? (size_t)(nl - p) : n;
	if (so_far + upto < (size_t)limit + 2)
		return false;
	take = (size_t)limit + 2 - so_far;
	smtp_line_keep(h, m, p, take, SMTP_LINE_MAX);
	*used = take;
	ln->p = h->line.data != NULL ? h->line.data : smtp_dot + 1;
	ln->len = h->line.len > SMTP_LINE_MAX ? SMTP_LINE_MAX : h->line.len;
	ln->total = (size_t)limit + 2;
	ln->trunc = true;
	ln->buffered = true;
	h->skipping = false;
	h->skipped = 0;
	h->drop_line = true;
	return true;
}

/* Bytes of the client were lost here: drop the partial line and resync. */
static void
smtp_client_hole(struct smtp_session *s, struct rg_mem *m)
{
	struct smtp_half *h = &s->half[SMTP_CLIENT];

	smtp_line_reset(h, m, true);
	h->drop_line = false;
	s->flags &= (uint8_t)~F_OUT_C;
	switch (h->state) {
	case CM_BODY:
		/* Stay in the body; a dot right after the hole does not
		 * follow a line ending we saw. */
		h->eol_state = B_MID;
		break;
	case CM_CMD:
	case CM_AUTH:
		h->resync = true;
		break;
	default:
		break;
	}
}

static void
smtp_anomaly(struct smtp_session *s, struct smtp_item *it, enum smtp_dir dir,
    const char *what)
{
	it->kind = SMTP_ITEM_ANOMALY;
	it->dir = dir;
	it->what = what;
	s->anomalies++;
}

/*
 * A complete client line in command, AUTH or injection mode.  True when it
 * became an item.
 */
static bool
smtp_client_line(struct smtp_session *s, const struct smtp_line *ln,
    struct smtp_item *it)
{
	struct smtp_half *h = &s->half[SMTP_CLIENT];
	enum smtp_verb v;
	uint64_t size;
	bool last;

	if (h->resync) {
		h->resync = false;
		if (!smtp_resync_ok(ln->p, ln->len)) {
			/* A line whose start we never saw: it cannot be
			 * judged, so say so (inline, the engine resets). */
			if (ln->buffered)
				s->flags |= F_OUT_C;
			smtp_anomaly(s, it, SMTP_CLIENT, "resync-skipped");
			return true;
		}
	}
	if (ln->trunc)
		s->anomalies++;
	if (ln->buffered)
		s->flags |= F_OUT_C;
	s->commands++;
	it->kind = SMTP_ITEM_COMMAND;
	it->dir = SMTP_CLIENT;
	it->line = ln->p;
	it->line_len = ln->len;
	it->truncated = ln->trunc;

	if (h->state == CM_AUTH) {
		/* Credentials: handed out, never kept (the client line
		 * buffer is wiped when released). */
		it->verb = SMTP_V_AUTH_DATA;
		it->arg = ln->p;
		it->arg_len = ln->len;
		it->ambiguity = smtp_ambiguity(s, ln, true);
		it->smuggled = (s->flags & F_SMUGGLED) != 0;
		h->state = CM_CMD;
		smtp_fifo_push(s, SMTP_V_AUTH_DATA);
		s->client_wait = SMTP_V_AUTH_DATA;
		return true;
	}

	smtp_split(it);
	v = it->verb;
	it->ambiguity = smtp_ambiguity(s, ln, v == SMTP_V_AUTH);
	it->smuggled = (s->flags & F_SMUGGLED) != 0 || h->state == CM_INJECT;
	if (h->state == CM_INJECT)
		return true;	/* after TLS: reported, no further effect */

	smtp_fifo_push(s, v);
	switch (v) {
	case SMTP_V_DATA:
		s->client_wait = SMTP_V_DATA;
		s->flags &= (uint8_t)~F_SMUGGLED;
		break;
	case SMTP_V_AUTH:
	case SMTP_V_STARTTLS:
		s->client_wait = (uint8_t)v;
		break;
	case SMTP_V_BDAT:
		s->flags &= (uint8_t)~F_SMUGGLED;
		if (!(s->flags & F_CHUNKING)) {
			/* A server that did not offer CHUNKING answers 500
			 * and reads the chunk as commands (Sendmail): so do
			 * we, and the line is an ambiguity (a server that
			 * offered it in a reply we missed reads a chunk). */
			if (it->ambiguity == NULL)
				it->ambiguity = SMTP_AMB_BDAT;
			break;
		}
		/* A cut line may hide a LAST or junk: the server would not
		 * read a chunk we assumed, so the safe reading is none. */
		if (ln->trunc || !smtp_bdat_parse(it->arg, it->arg_len, &size,
		    &last)) {
			s->defer |= D_BDAT;
			break;
		}
		s->bdat_last = last;
		if (size > 0) {
			h->bdat_left = size;
			h->state = CM_CHUNK;
			s->in_body = true;
		}
		break;
	default:
		break;
	}
	return true;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The AVX2 part of smtp_scan_dotline(): whole 33-byte windows only; the
 * rest is left to the caller's narrower loops.  Returns where it stopped
 * (a match, or fewer than 33 bytes left). */
__attribute__((target("avx2"))) static size_t
smtp_scan_dotline_avx2(const uint8_t *p, size_t i, size_t n)
{
	const __m256i cr = _mm256_set1_epi8('\r'), lf = _mm256_set1_epi8('\n');
	const __m256i dot = _mm256_set1_epi8('.');
	__m256i a, b, m;
	unsigned mask;

	while (n - i >= 33) {
		a = _mm256_loadu_si256((const __m256i *)(const void *)(p + i));
		b = _mm256_loadu_si256((const __m256i *)(const void *)
		    (p + i + 1));
		m = _mm256_and_si256(_mm256_or_si256(_mm256_cmpeq_epi8(a, cr),
		    _mm256_cmpeq_epi8(a, lf)), _mm256_cmpeq_epi8(b, dot));
		mask = (unsigned)_mm256_movemask_epi8(m);
		if (mask != 0)
			return i + (size_t)__builtin_ctz(mask);
		i += 32;
	}
	return i;
}
#endif

/*
 * The first k in [i, n) where p[k] is CR or LF and p[k+1] is a dot, or
 * n - 1 if the last byte is CR or LF (its meaning depends on the next
 * chunk), else n.  This is the hot loop of DATA bodies: 16 bytes at a time
 * with SSE2 where the compiler has it.
 */
static size_t
smtp_scan_dotline(const uint8_t *p, size_t i, size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
	/* 32 bytes a step where the CPU has AVX2 (bodies are most of what
	 * replay reads); libgcc reads the CPU's features once at start. */
	if (__builtin_cpu_supports("avx2"))
		i = smtp_scan_dotline_avx2(p, i, n);
#endif
#if defined(__SSE2__)
	const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	const __m128i dot = _mm_set1_epi8('.');
	__m128i a, b, m;
	unsigned mask;

	while (n - i >= 17) {
		a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 1));
		m = _mm_and_si128(_mm_or_si128(_mm_cmpeq_epi8(a, cr),
		    _mm_cmpeq_epi8(a, lf)), _mm_cmpeq_epi8(b, dot));
		mask = (unsigned)_mm_movemask_epi8(m);
		if (mask != 0)
			return i + (size_t)__builtin_ctz(mask);
		i += 16;
	}
#endif
	for (; i + 1 < n; i++)
		if ((p[i] == '\r' || p[i] == '\n') && p[i + 1] == '.')
			return i;
	if (i < n && (p[i] == '\r' || p[i] == '\n'))
		return i;
	return n;
}

/*
 * Scan a DATA body for its end.  Returns SMTP_ITEM at the end-of-data
 * line (strict or ambiguous) with *used counting through it, else takes
 * all n bytes.  The common case, bytes inside a line, is skipped by
 * smtp_scan_dotline() straight to the next line end that a dot follows;
 * the state machine below steps byte by byte only from there until it is
 * back inside a line.
 */
static enum smtp_status
smtp_body(struct smtp_session *s, const uint8_t *p, size_t n, size_t *used,
    struct smtp_item *it)
{
	struct smtp_half *h = &s->half[SMTP_CLIENT];
	size_t i = 0, from;
	uint8_t st = h->eol_state, c;
	unsigned pre;
	const char *what;

	while (i < n) {
		if (st == B_MID) {
			/* Only a line end before a dot can end a body (or
			 * smuggle); skip straight to the next one. */
			from = i;
			i = smtp_scan_dotline(p, i, n);
			if (i >= n)
				break;
			/* Classify CRLF vs bare LF: take the CR along. */
			if (p[i] == '\n' && i > from && p[i - 1] == '\r')
				i--;
		}
		c = p[i];
		switch (st) {
		case B_MID:
			st = c == '\r' ? B_CR : B_LF;
			break;
		case B_CR:
			if (c == '\n')
				st = B_CRLF;
			else if (c == '.')
				st = B_DOT + P_CR;
			else if (c != '\r')
				st = B_MID;
			break;
		case B_CRLF:
		case B_LF:
			if (c == '.')
				st = B_DOT + (st == B_CRLF ? P_CRLF : P_LF);
			else if (c == '\r')
				st = B_CR;
			else if (c == '\n')
				st = B_LF;
			else
				st = B_MID;
			break;
		case B_DOT + P_CRLF:
		case B_DOT + P_LF:
		case B_DOT + P_CR:
			pre = (unsigned)(st - B_DOT);
			if (c == '\r')
				st = (uint8_t)(B_DOTCR + pre);
			else if (c == '\n') {
				i++;
				what = smtp_smuggle_names[pre][P_LF];
				goto end;
			} else
				st = B_MID;	/* "..": dot-stuffed text */
			break;
		default:			/* B_DOTCR + prefix */
			pre = (unsigned)(st - B_DOTCR) % 3u;
			if (c == '\n') {
				i++;
				what = smtp_smuggle_names[pre][P_CRLF];
			} else	/* a bare CR ended it; c is not ours */
				what = smtp_smuggle_names[pre][P_CR];
			goto end;
		}
		i++;
	}
	h->eol_state = st;
	s->body_bytes += n;
	*used = n;
	return SMTP_AGAIN;

end:
	s->body_bytes += i;
	*used = i;
	h->eol_state = B_MID;
	h->state = CM_CMD;
	s->in_body = false;
	smtp_fifo_push(s, SMTP_V_DATA_END);
	it->dir = SMTP_CLIENT;
	it->line = smtp_dot;
	it->line_len = 1;
	it->arg = smtp_dot + 1;
	if (what == NULL) {
		it->kind = SMTP_ITEM_COMMAND;
		it->verb = SMTP_V_DATA_END;
		it->smuggled = (s->flags & F_SMUGGLED) != 0;
		s->commands++;
	} else {
		/* A lenient server ends the message here and reads what
		 * follows as commands: so do we, and mark them. */
		it->kind = SMTP_ITEM_SMUGGLING;
		it->what = what;
		s->anomalies++;
		s->flags |= F_SMUGGLED;
	}
	return SMTP_ITEM;
}

/*
 * Hold client bytes that arrived while the client waits for a reply.
 * SMTP_ITEM (an anomaly) when they do not fit; they are taken either way.
 */
static enum smtp_status
smtp_hold(struct smtp_session *s, struct rg_mem *m, const uint8_t *p,
    size_t n, struct smtp_item *it)
{
	size_t room, take;

	if (s->flags & F_PEND_LOST)
		return SMTP_AGAIN;	/* they would follow a hole */
	smtp_pending_compact(s);
	room = SMTP_PENDING_MAX - s->pending.len;
	take = n < room ? n : room;
	if (take > 0 && !rg_buf_append(&s->pending, m, p, take,
	    SMTP_PENDING_MAX))
		take = 0;
	if (take == n)
		return SMTP_AGAIN;
	s->flags |= F_PEND_LOST;
	smtp_anomaly(s, it, SMTP_CLIENT, "pending-overflow");
	return SMTP_ITEM;
}

/*
 * Parse client bytes p[0..n) from the caller or from pending.  Stops at
 * the first item; *used counts the bytes taken.  Bytes from pending are
 * left there while the client waits.
 */
static enum smtp_status
smtp_client_step(struct smtp_session *s, struct rg_mem *m, const uint8_t *p,
    size_t n, bool from_pending, size_t *used, struct smtp_item *it)
{
	struct smtp_half *h = &s->half[SMTP_CLIENT];
	struct smtp_line ln;
	size_t off = 0, u, take;
	enum smtp_status st;

	while (off < n) {
		if (s->client_wait != 0) {
			if (from_pending)
				break;
			st = smtp_hold(s, m, p + off, n - off, it);
			off = n;
			if (st == SMTP_ITEM)
				goto item;
			break;
		}
		switch (h->state) {
		case CM_OPAQUE:
			s->opaque_bytes += n - off;
			off = n;
			break;
		case CM_CHUNK:
			take = n - off;
			if (take > h->bdat_left)
				take = (size_t)h->bdat_left;
			h->bdat_left -= take;
			s->body_bytes += take;
			off += take;
			if (h->bdat_left == 0) {
				h->state = CM_CMD;
				s->in_body = false;
			}
			break;
		case CM_BODY:
			st = smtp_body(s, p + off, n - off, &u, it);
			off += u;
			if (st == SMTP_ITEM)
				goto item;
			break;
		default:
			if (h->drop_line) {
				/* The rest of a line reported over-long. */
				const uint8_t *nl = memchr(p + off, '\n',
				    n - off);

				if (nl == NULL) {
					off = n;
					break;
				}
				off = (size_t)(nl - p) + 1;
				h->drop_line = false;
				break;
			}
			if (smtp_line_over(s, m, p + off, n - off, &u, &ln)) {
				off += u;
				if (smtp_client_line(s, &ln, it))
					goto item;
				smtp_line_reset(h, m, true);
				break;
			}
			if (!smtp_take_line(h, m, p + off, n - off, SMTP_LINE_MAX,
			    &u, &ln)) {
				off += u;
				break;
			}
			off += u;
			if (smtp_client_line(s, &ln, it))
				goto item;
			if (ln.buffered)
				smtp_line_reset(h, m, true);
			break;
		}
	}
	*used = off;
	return SMTP_AGAIN;
item:
	*used = off;
	return SMTP_ITEM;
}

/*
 * Parse held client bytes once the client no longer waits.  At their end,
 * apply a hole that followed them, and finish a STARTTLS injection.
 */
static enum smtp_status
smtp_client_drain(struct smtp_session *s, struct rg_mem *m,
    struct smtp_item *it)
{
	struct smtp_half *h = &s->half[SMTP_CLIENT];
	enum smtp_status st;
	size_t u;

	while (s->pending_off < s->pending.len) {
		if (s->client_wait != 0)
			return SMTP_AGAIN;
		st = smtp_client_step(s, m, s->pending.data + s->pending_off,
		    s->pending.len - s->pending_off, true, &u, it);
		s->pending_off += (uint32_t)u;
		if (st == SMTP_ITEM)
			return SMTP_ITEM;
		if (u == 0)
			return SMTP_AGAIN;
	}
	if (s->flags & F_PEND_LOST) {
		s->flags &= (uint8_t)~F_PEND_LOST;
		smtp_client_hole(s, m);
	}
	if (h->state == CM_INJECT) {
		h->state = CM_OPAQUE;
		if (h->line.len > 0 || h->skipping) {
			/* The injection ends in a partial line: the server
			 * completes it with the first TLS bytes.  Report it. */
			s->commands++;
			s->flags |= F_OUT_C;
			it->kind = SMTP_ITEM_COMMAND;
			it->dir = SMTP_CLIENT;
			it->line = h->line.data != NULL ? h->line.data :
			    smtp_dot + 1;
			it->line_len = h->line.len > SMTP_LINE_MAX ?
			    SMTP_LINE_MAX : h->line.len;
			it->truncated = h->skipping ||
			    h->line.len > SMTP_LINE_MAX;
			it->smuggled = true;
			smtp_split(it);		/* sets the verb */
			h->skipping = false;
			return SMTP_ITEM;
		}
	}
	return SMTP_AGAIN;
}

/* --- the server side ------------------------------------------------------ */

/* Is code what the awaited command gets when it goes ahead? */
static bool
smtp_positive(enum smtp_verb wait, int code)
{
	switch (wait) {
	case SMTP_V_DATA:
		return code == 354;
	case SMTP_V_AUTH:
	case SMTP_V_AUTH_DATA:
		return code == 334 || code == 235;
	case SMTP_V_STARTTLS:
		return code == 220;
	default:
		return false;
	}
}

/* A complete reply with this code: pair it and apply its effects. */
static enum smtp_verb
smtp_reply(struct smtp_session *s, int code)
{
	struct smtp_half *c = &s->half[SMTP_CLIENT];
	enum smtp_verb v, wait = (enum smtp_verb)s->client_wait;

	v = smtp_fifo_pop(s);
	if (wait != SMTP_V_NONE && v != wait && smtp_positive(wait, code) &&
	    smtp_fifo_has(s, wait)) {
		/*
		 * Only the awaited command gets this code, yet older entries
		 * are unanswered: commands we counted never reached the
		 * server as commands (smuggled lines a strict server kept as
		 * body).  Realign on the awaited one.
		 */
		while ((v = smtp_fifo_pop(s)) != wait)
			;
		s->defer |= D_REALIGN;
	}

	/*
	 * The server answers a body only after its end; a reply while we
	 * are still inside one means its end was lost.  For BDAT only the
	 * answer to the chunk being read counts (the FIFO then empties):
	 * replies to earlier pipelined chunks are normal.
	 */
	if (c->state == CM_BODY || (c->state == CM_CHUNK &&
	    v == SMTP_V_BDAT && s->fifo_len == 0)) {
		c->state = CM_CMD;
		c->bdat_left = 0;
		c->eol_state = B_MID;
		c->resync = true;
		s->in_body = false;
	}

	if (v != SMTP_V_NONE && v == wait)
		s->client_wait = SMTP_V_NONE;
	/* What the last greeting offered decides how BDAT is read. */
	if ((v == SMTP_V_EHLO || v == SMTP_V_HELO || v == SMTP_V_LHLO) &&
	    code / 100 == 2) {
		s->flags &= (uint8_t)~F_CHUNKING;
		if (v != SMTP_V_HELO && (s->flags & F_EHLO_CHUNK))
			s->flags |= F_CHUNKING;
	}
	s->flags &= (uint8_t)~F_EHLO_CHUNK;
	switch (v) {
	case SMTP_V_DATA:
		if (code == 354) {
			c->state = CM_BODY;
			c->eol_state = B_CRLF;	/* after the DATA line */
			c->bdat_left = 0;
			c->resync = false;
			s->in_body = true;
		}
		break;
	case SMTP_V_AUTH:
	case SMTP_V_AUTH_DATA:
		if (code == 334)
			c->state = CM_AUTH;
		else {
			if (code == 235)
				s->authenticated = true;
			if (c->state == CM_AUTH)
				c->state = CM_CMD;
		}
		break;
	case SMTP_V_STARTTLS:
		if (code != 220)
			break;
		s->tls = true;
		s->client_wait = SMTP_V_NONE;
		s->defer |= D_TLS;
		if (s->pending_off < s->pending.len) {
			/* Plaintext sent after STARTTLS before its answer:
			 * a vulnerable server runs it after the handshake. */
			s->defer |= D_INJECT;
			c->state = CM_INJECT;
		} else
			c->state = CM_OPAQUE;
		c->resync = false;
		break;
	default:
		break;
	}
	return v;
}

/* Is the reply line "250-CHUNKING" or "250 CHUNKING" (any case, maybe
 * followed by blanks)? */
static bool
smtp_offers_chunking(const uint8_t *p, size_t n)
{
	size_t i;

	if (n < 12 || p[0] != '2' || !rg_strncaseeq((const char *)p + 4,
	    "CHUNKING", 8))
		return false;
	for (i = 12; i < n; i++)
		if (!smtp_blank(p[i]))
			return false;
	return true;
}

/* A complete server line.  True when it became an item. */
static bool
smtp_server_line(struct smtp_session *s, const struct smtp_line *ln,
    struct smtp_item *it)
{
	struct smtp_half *h = &s->half[SMTP_SERVER];
	bool ok = smtp_reply_line_ok(ln->p, ln->len);

	if (h->resync) {
		if (!ok)
			return false;
		h->resync = false;
	}
	if (ok && smtp_awaited(s) == SMTP_V_EHLO &&
	    smtp_offers_chunking(ln->p, ln->len))
		s->flags |= F_EHLO_CHUNK;
	if (!ok) {
		if (ln->buffered)
			s->flags |= F_OUT_S;
		smtp_anomaly(s, it, SMTP_SERVER, "bad-reply-line");
		it->line = ln->p;
		it->line_len = ln->len;
		it->truncated = ln->trunc;
		return true;
	}
	if (ln->len > 3 && ln->p[3] == '-') {
		/* Continuation: counted, not kept. */
		if (h->lines <= SMTP_REPLY_LINES_MAX)
			h->lines++;
		if (h->lines == SMTP_REPLY_LINES_MAX) {
			if (ln->buffered)
				s->flags |= F_OUT_S;
			smtp_anomaly(s, it, SMTP_SERVER, "reply-too-long");
			return true;
		}
		return false;
	}
	h->lines = 0;
	if (ln->buffered)
		s->flags |= F_OUT_S;
	s->replies++;
	it->kind = SMTP_ITEM_REPLY;
	it->dir = SMTP_SERVER;
	it->code = (ln->p[0] - '0') * 100 + (ln->p[1] - '0') * 10 +
	    (ln->p[2] - '0');
	it->line = ln->p;
	it->line_len = ln->len;
	it->arg = ln->p + (ln->len > 3 ? 4 : 3);
	it->arg_len = ln->len > 3 ? ln->len - 4 : 0;
	it->truncated = ln->trunc;
	it->verb = smtp_reply(s, it->code);
	return true;
}

static enum smtp_status
smtp_server_step(struct smtp_session *s, struct rg_mem *m, const uint8_t *p,
    size_t n, size_t *used, struct smtp_item *it)
{
	struct smtp_half *h = &s->half[SMTP_SERVER];
	struct smtp_line ln;
	size_t off = 0, u;

	while (off < n) {
		if (s->tls) {
			s->opaque_bytes += n - off;
			off = n;
			break;
		}
		if (!smtp_take_line(h, m, p + off, n - off,
		    SMTP_REPLY_LINE_MAX, &u, &ln)) {
			off += u;
			break;
		}
		off += u;
		if (smtp_server_line(s, &ln, it)) {
			*used = off;
			return SMTP_ITEM;
		}
		if (ln.buffered)
			smtp_line_reset(h, m, false);
	}
	*used = off;
	return SMTP_AGAIN;
}

/* --- the interface -------------------------------------------------------- */

/* Hand out an item owed from an earlier call. */
static bool
smtp_deferred(struct smtp_session *s, struct smtp_item *it)
{
	if (s->defer == 0)
		return false;
	if (s->defer & D_REALIGN) {
		s->defer &= (uint8_t)~D_REALIGN;
		smtp_anomaly(s, it, SMTP_SERVER, "reply-mismatch");
	} else if (s->defer & D_TLS) {
		s->defer &= (uint8_t)~D_TLS;
		it->kind = SMTP_ITEM_TLS;
		it->dir = SMTP_SERVER;
	} else if (s->defer & D_INJECT) {
		s->defer &= (uint8_t)~D_INJECT;
		smtp_anomaly(s, it, SMTP_CLIENT, "starttls-injection");
	} else if (s->defer & D_BDAT) {
		s->defer &= (uint8_t)~D_BDAT;
		smtp_anomaly(s, it, SMTP_CLIENT, "bdat-invalid");
	} else {
		s->defer = 0;
		smtp_anomaly(s, it, SMTP_CLIENT, "fifo-overflow");
	}
	return true;
}

void
smtp_init(struct smtp_session *s)
{
	memset(s, 0, sizeof(*s));
	smtp_fifo_push(s, SMTP_V_CONNECT);
}

void
smtp_set_software(struct smtp_session *s, enum smtp_software sw)
{
	s->software = (unsigned)sw < SMTP_SOFTWARE__COUNT ? (uint8_t)sw :
	    SMTP_SOFTWARE_ANY;
}

const char *
smtp_software_name(enum smtp_software sw)
{
	if ((unsigned)sw >= SMTP_SOFTWARE__COUNT)
		return NULL;
	return smtp_profiles[sw].name;
}

bool
smtp_software_lookup(const char *p, size_t n, enum smtp_software *sw)
{
	unsigned i;

	for (i = 0; i < SMTP_SOFTWARE__COUNT; i++)
		if (strlen(smtp_profiles[i].name) == n &&
		    memcmp(smtp_profiles[i].name, p, n) == 0) {
			*sw = (enum smtp_software)i;
			return true;
		}
	return false;
}

void
smtp_init_midstream(struct smtp_session *s)
{
	memset(s, 0, sizeof(*s));
	s->half[SMTP_CLIENT].resync = true;
	s->half[SMTP_SERVER].resync = true;
}

void
smtp_free(struct smtp_session *s, struct rg_mem *m)
{
	struct smtp_half *c = &s->half[SMTP_CLIENT];

	if (c->line.len > 0)
		explicit_bzero(c->line.data, c->line.len);
	if (s->pending.len > 0)
		explicit_bzero(s->pending.data, s->pending.len);
	rg_buf_free(&c->line, m);
	rg_buf_free(&s->half[SMTP_SERVER].line, m);
	rg_buf_free(&s->pending, m);
	memset(s, 0, sizeof(*s));
}

enum smtp_status
smtp_feed(struct smtp_session *s, struct rg_mem *m, enum smtp_dir dir,
    const uint8_t *data, size_t len, size_t *consumed, struct smtp_item *item)
{
	enum smtp_status st;
	size_t u = 0;

	*consumed = 0;
	memset(item, 0, sizeof(*item));
	smtp_release(s, m);
	if (smtp_deferred(s, item))
		return SMTP_ITEM;
	/* Held client bytes come before anything fed later, in either
	 * direction: a reply must not overtake the body it follows. */
	if (smtp_client_drain(s, m, item) == SMTP_ITEM)
		return SMTP_ITEM;
	if (data == NULL || len == 0)
		return SMTP_AGAIN;
	if (dir == SMTP_CLIENT)
		st = smtp_client_step(s, m, data, len, false, &u, item);
	else if (dir == SMTP_SERVER)
		st = smtp_server_step(s, m, data, len, &u, item);
	else
		return SMTP_AGAIN;
	*consumed = u;
	return st;
}

void
smtp_gap(struct smtp_session *s, struct rg_mem *m, enum smtp_dir dir)
{
	struct smtp_half *h;

	smtp_release(s, m);
	if (s->tls)
		return;
	if (dir == SMTP_CLIENT) {
		/* A hole after held bytes is applied when they are parsed;
		 * what comes later cannot be placed and is dropped. */
		if (s->pending_off < s->pending.len)
			s->flags |= F_PEND_LOST;
		else
			smtp_client_hole(s, m);
	} else if (dir == SMTP_SERVER) {
		h = &s->half[SMTP_SERVER];
		smtp_line_reset(h, m, false);
		h->resync = true;
	}
}

enum smtp_verb
smtp_awaited(const struct smtp_session *s)
{
	if (s->fifo_len == 0)
		return SMTP_V_NONE;
	return (enum smtp_verb)s->fifo[s->fifo_head % SMTP_FIFO_RUNS].verb;
}

bool
smtp_message_accepted(const struct smtp_session *s, const struct smtp_item *it)
{
	if (it->kind != SMTP_ITEM_REPLY || it->code / 100 != 2)
		return false;
	if (it->verb == SMTP_V_DATA_END)
		return true;
	/* The answer to the last chunk: a LAST chunk and no BDAT left
	 * unanswered behind it. */
	return it->verb == SMTP_V_BDAT && s->bdat_last &&
	    !smtp_fifo_has(s, SMTP_V_BDAT);
}

bool
smtp_client_partial_rcpt(const struct smtp_session *s)
{
	static const char rcpt[] = "RCPT";
	const struct smtp_half *h = &s->half[SMTP_CLIENT];
	size_t i = 0, k;

	if (s->tls || s->client_wait != SMTP_V_NONE || h->drop_line ||
	    (h->state != CM_CMD && h->state != CM_INJECT) ||
	    (h->line.len == 0 && !h->skipping))
		return false;
	while (i < h->line.len && smtp_any_blank(h->line.data[i]))
		i++;
	for (k = 0; k < 4 && i + k < h->line.len; k++)
		if ((h->line.data[i + k] & ~0x20) != rcpt[k])
			return false;
	return true;
}

bool
smtp_client_held(const struct smtp_session *s)
{
	return s->pending.len > s->pending_off;
}

bool
smtp_client_waiting(const struct smtp_session *s)
{
	return s->client_wait != SMTP_V_NONE && !s->tls;
}

size_t
smtp_buffered(const struct smtp_session *s)
{
	return (size_t)s->half[SMTP_CLIENT].line.len +
	    s->half[SMTP_SERVER].line.len +
	    (s->pending.len - (s->pending.len < s->pending_off ? s->pending.len :
	    s->pending_off));
}
