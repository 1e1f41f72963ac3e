/*
 * report.c — the replay report: one HTML page, self-contained (inline CSS,
 * SVG charts drawn here, no script, no reference to anything outside the
 * file), of what the policy did on a capture.
 *
 * Everything is gathered while replay runs, in bounded memory: the charts
 * keep REPORT_BINS bins whose width doubles (neighbours merged) whenever
 * the capture outgrows them, so counts stay exact however long it is; at
 * most REPORT_CLIENTS clients are itemised (the rest are counted), each
 * with its first REPORT_EVIDENCE relay attempts as evidence, and evidence
 * text stops being kept past REPORT_EVIDENCE_BYTES (said on the page).
 *
 * Every string from the capture (HELO, paths, the file names too) is
 * HTML-escaped; bytes that are not UTF-8 become U+FFFD and control bytes
 * are shown as \xNN, so nothing a client sent can become markup.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"

#define REPORT_BINS 120			/* bars per chart */
#define REPORT_CLIENTS 32768		/* clients itemised */
#define REPORT_SLOTS 65536		/* hash slots, a power of two */
#define REPORT_EVIDENCE 5		/* relay attempts kept per client */
#define REPORT_EVIDENCE_BYTES (32u << 20)
#define REPORT_TOP 20			/* offenders shown */
#define REPORT_NAMES 64			/* distinct reasons, tricks, ... */

enum report_series {
	REPORT_S_ATTEMPTS,
	REPORT_S_BLOCKS,
	REPORT_S_DROPPED,
	REPORT_S_COUNT
};

struct report_evidence {
	rg_time_t time;
	enum event_action action;
	char *rcpt, *helo, *mail_from, *server;
	const char *reason, *trick;
};

struct report_client {
	struct rg_addr addr;
	uint64_t attempts, resets, blocks, dropped;
	uint32_t offences;
	rg_time_t block_for;		/* the longest block */
	rg_time_t first, last;
	/* The session last reset (a session's events come together). */
	struct rg_addr reset_server;
	uint16_t reset_port, reset_server_port;
	unsigned nevidence;
	struct report_evidence ev[REPORT_EVIDENCE];
};

/* Names are the pipeline's static strings (kind may be NULL): compared
 * by content. */
struct report_name {
	const char *kind, *name;
	uint64_t count;
};

struct report_names {
	struct report_name n[REPORT_NAMES];
	unsigned count;
	uint64_t other;
};

struct report {
	bool have_time;
	rg_time_t t0, tmax, width;	/* width: usec per bin */
	uint64_t bins[REPORT_BINS][REPORT_S_COUNT];
	struct report_client *clients;
	size_t nclients, cap;
	uint32_t *slots;		/* index + 1 into clients; 0 free */
	uint64_t untracked;		/* events of clients not itemised */
	size_t evidence_bytes;
	uint64_t evidence_unkept;
	uint64_t exempt;		/* blocks not applied (never-block) */
	struct report_names reasons, tricks, others;
};

struct report *
report_new(void)
{
	struct report *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->slots = calloc(REPORT_SLOTS, sizeof(*r->slots))) == NULL) {
		free(r);
		return NULL;
	}
	r->width = RG_USEC_PER_SEC;
	return r;
}

void
report_free(struct report *r)
{
	size_t i;
	unsigned j;

	if (r == NULL)
		return;
	for (i = 0; i < r->nclients; i++)
		for (j = 0; j < r->clients[i].nevidence; j++) {
			free(r->clients[i].ev[j].rcpt);
			free(r->clients[i].ev[j].helo);
			free(r->clients[i].ev[j].mail_from);
			free(r->clients[i].ev[j].server);
		}
	free(r->clients);
	free(r->slots);
	free(r);
}

/* Twice as wide bins: neighbours merged. */
static void
report_merge(struct report *r)
{
	unsigned i, s;

	for (i = 0; i < REPORT_BINS / 2; i++)
		for (s = 0; s < REPORT_S_COUNT; s++)
			r->bins[i][s] = r->bins[2 * i][s] +
			    r->bins[2 * i + 1][s];
	memset(r->bins[REPORT_BINS / 2], 0,
	    sizeof(r->bins[0]) * (REPORT_BINS / 2));
	r->width *= 2;
}

/*
 * A time before the first one (a later file that starts earlier): the
 * bins move right, merged as often as needed to make room in front.
 */
static void
report_extend_back(struct report *r, rg_time_t t)
{
	rg_time_t shift, used;

	for (;;) {
		shift = (r->t0 - t + r->width - 1) / r->width;
		if (shift > r->t0 / r->width)	/* near the epoch */
			shift = r->t0 / r->width + 1;
		used = (r->tmax - r->t0) / r->width + 1;
		if (shift + used <= REPORT_BINS)
			break;
		report_merge(r);
	}
	memmove(r->bins[shift], r->bins[0], used * sizeof(r->bins[0]));
	memset(r->bins[0], 0, shift * sizeof(r->bins[0]));
	r->t0 = r->t0 > shift * r->width ? r->t0 - shift * r->width : 0;
}

/* The bin of t, merging neighbours until the capture fits. */
static uint64_t *
report_bin(struct report *r, rg_time_t t)
{
	rg_time_t idx;

	if (!r->have_time) {
		r->have_time = true;
		r->t0 = r->tmax = t;
	}
	if (t > r->tmax)
		r->tmax = t;
	if (t < r->t0)
		report_extend_back(r, t);
	while ((idx = (t - r->t0) / r->width) >= REPORT_BINS)
		report_merge(r);
	return r->bins[idx];
}

void
report_time(struct report *r, rg_time_t t)
{
	(void)report_bin(r, t);
}

static int
report_strcmp0(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

static void
report_name_count(struct report_names *n, const char *kind,
    const char *name)
{
	unsigned i;

	if (name == NULL)
		return;
	for (i = 0; i < n->count; i++)
		if (strcmp(n->n[i].name, name) == 0 &&
		    report_strcmp0(n->n[i].kind, kind) == 0) {
			n->n[i].count++;
			return;
		}
	if (n->count == REPORT_NAMES) {
		n->other++;
		return;
	}
	n->n[n->count].kind = kind;
	n->n[n->count].name = name;
	n->n[n->count].count = 1;
	n->count++;
}

static uint32_t
report_hash(const struct rg_addr *a)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	unsigned i;

	h = (h ^ a->family) * 16777619u;
	for (i = 0; i < sizeof(a->bytes); i++)
		h = (h ^ a->bytes[i]) * 16777619u;
	return h;
}

/* The client's entry, made if there is room; NULL if not itemised. */
static struct report_client *
report_client(struct report *r, const struct rg_addr *a, rg_time_t t)
{
	uint32_t h = report_hash(a) & (REPORT_SLOTS - 1);
	struct report_client *c, *n;

	while (r->slots[h] != 0) {
		c = &r->clients[r->slots[h] - 1];
		if (rg_addr_eq(&c->addr, a)) {
			if (t < c->first)
				c->first = t;
			if (t > c->last)
				c->last = t;
			return c;
		}
		h = (h + 1) & (REPORT_SLOTS - 1);
	}
	if (r->nclients == REPORT_CLIENTS)
		return NULL;
	if (r->nclients == r->cap) {
		size_t cap = r->cap == 0 ? 64 : r->cap * 2;

		if ((n = realloc(r->clients, cap * sizeof(*n))) == NULL)
			return NULL;
		r->clients = n;
		r->cap = cap;
	}
	c = &r->clients[r->nclients++];
	memset(c, 0, sizeof(*c));
	c->addr = *a;
	c->first = c->last = t;
	r->slots[h] = (uint32_t)r->nclients;
	return c;
}

/* A copy of s, or NULL once the evidence budget is spent. */
static char *
report_keep(struct report *r, const char *s, bool *ok)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (!*ok || r->evidence_bytes + n > REPORT_EVIDENCE_BYTES ||
	    (p = malloc(n)) == NULL) {
		*ok = false;
		return NULL;
	}
	memcpy(p, s, n);
	r->evidence_bytes += n;
	return p;
}

static void
report_evidence(struct report *r, struct report_client *c,
    const struct event *ev)
{
	struct report_evidence *e;
	char srv[RG_ADDRSTRLEN + 8], a[RG_ADDRSTRLEN];
	bool ok = true;

	if (c->nevidence == REPORT_EVIDENCE)
		return;
	e = &c->ev[c->nevidence];
	memset(e, 0, sizeof(*e));
	e->time = ev->time;
	e->action = ev->action;
	e->reason = ev->reason;
	e->trick = ev->trick;
	snprintf(srv, sizeof(srv), ev->server.family == 6 ? "[%s]:%u" :
	    "%s:%u", rg_addr_str(&ev->server, a, sizeof(a)),
	    (unsigned)ev->server_port);
	e->rcpt = report_keep(r, ev->rcpt, &ok);
	e->helo = report_keep(r, ev->helo, &ok);
	e->mail_from = report_keep(r, ev->mail_from, &ok);
	e->server = report_keep(r, srv, &ok);
	if (!ok) {
		free(e->rcpt);
		free(e->helo);
		free(e->mail_from);
		free(e->server);
		r->evidence_unkept++;
		return;
	}
	c->nevidence++;
}

void
report_event(struct report *r, const struct event *ev)
{
	struct report_client *c;
	uint64_t *bin = report_bin(r, ev->time);

	switch (ev->kind) {
	case EVENT_RELAY_ATTEMPT:
		bin[REPORT_S_ATTEMPTS]++;
		report_name_count(&r->reasons, NULL, ev->reason);
		report_name_count(&r->tricks, NULL, ev->trick);
		break;
	case EVENT_BLOCK:
		if (ev->exempt != NULL) {
			r->exempt++;
			return;
		}
		bin[REPORT_S_BLOCKS]++;
		break;
	case EVENT_DROPPED:
		bin[REPORT_S_DROPPED]++;
		break;
	case EVENT_SMUGGLING:
	case EVENT_ANOMALY:
	case EVENT_AMBIGUITY:
		report_name_count(&r->others, event_kind_str(ev->kind),
		    ev->what != NULL ? ev->what : "");
		return;
	}
	if ((c = report_client(r, &ev->client, ev->time)) == NULL) {
		r->untracked++;
		return;
	}
	switch (ev->kind) {
	case EVENT_RELAY_ATTEMPT:
		c->attempts++;
		if (ev->action == EVENT_ACTION_RESET &&
		    (c->resets == 0 || c->reset_port != ev->client_port ||
		    c->reset_server_port != ev->server_port ||
		    !rg_addr_eq(&c->reset_server, &ev->server))) {
			c->resets++;
			c->reset_port = ev->client_port;
			c->reset_server_port = ev->server_port;
			c->reset_server = ev->server;
		}
		report_evidence(r, c, ev);
		break;
	case EVENT_BLOCK:
		c->blocks++;
		c->offences = ev->offences;
		if (ev->duration > c->block_for)
			c->block_for = ev->duration;
		break;
	case EVENT_DROPPED:
		c->dropped++;
		break;
	default:
		break;
	}
}

/* --- writing ------------------------------------------------------------ */

/* s as HTML text: markup characters as entities, control bytes as \xNN,
 * bytes that are not UTF-8 as U+FFFD. */
static void
report_esc(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k;

	while (i < n) {
		switch (p[i]) {
		case '&': fputs("&amp;", f); i++; continue;
		case '<': fputs("&lt;", f); i++; continue;
		case '>': fputs("&gt;", f); i++; continue;
		case '"': fputs("&quot;", f); i++; continue;
		case '\'': fputs("&#39;", f); i++; continue;
		default: break;
		}
		if (p[i] < 0x20 || p[i] == 0x7f) {
			fprintf(f, "\\x%02x", p[i]);
			i++;
		} else if ((k = event_utf8_len(p + i, n - i)) == 0) {
			fputs("&#xfffd;", f);
			i++;
		} else {
			fwrite(p + i, 1, k, f);
			i += k;
		}
	}
}

/* Text with its newlines kept (the summary, the configuration). */
static void
report_esc_lines(FILE *f, const char *s)
{
	const char *nl;
	char *line;

	while (*s != '\0') {
		nl = strchr(s, '\n');
		if (nl == NULL)
			nl = s + strlen(s);
		if ((line = strndup(s, (size_t)(nl - s))) != NULL) {
			report_esc(f, line);
			free(line);
		}
		if (*nl == '\0')
			break;
		fputc('\n', f);
		s = nl + 1;
	}
}

static const char *
report_addr(const struct rg_addr *a, char *buf, size_t len)
{
	return a->family == 0 ? "(unknown)" : rg_addr_str(a, buf, len);
}

/* "2026-11-28 00:43:30Z" from event_time_str()'s form. */
static const char *
report_when(rg_time_t t, char *buf, size_t len, bool usec)
{
	char *p;

	event_time_str(t, buf, len);
	if ((p = strchr(buf, 'T')) != NULL)
		*p = ' ';
	if (!usec && (p = strchr(buf, '.')) != NULL)
		memmove(p, "Z", 2);
	return buf;
}

/* "1 h 2 min", "45 s", "0.2 s". */
static const char *
report_span(rg_time_t usec, char *buf, size_t len)
{
	unsigned long long s = usec / RG_USEC_PER_SEC;

	if (s >= 86400)
		snprintf(buf, len, "%llu d %llu h", s / 86400,
		    s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%llu h %llu min", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, len, "%llu min %llu s", s / 60, s % 60);
	else if (s >= 1)
		snprintf(buf, len, "%llu s", s);
	else
		snprintf(buf, len, "%.3f s", (double)usec / 1e6);
	return buf;
}

static const char report_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;"
    "max-width:1200px;padding:0 1em;color:#222;background:#fff}"
    "h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;"
    "margin-top:1.6em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:.4em 0}"
    "td,th{padding:.2em .6em;text-align:left;vertical-align:top;"
    "border-bottom:1px solid #eee}th{background:#f4f4f4}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".cards{display:flex;flex-wrap:wrap;gap:.6em}"
    ".card{border:1px solid #ddd;border-radius:6px;padding:.5em .9em;"
    "min-width:9em}.card b{display:block;font-size:1.6em}"
    ".bar{display:inline-block;height:.8em;background:#c0392b}"
    ".bar.g{background:#27ae60}.bar.o{background:#7f8c8d}"
    ".bar.b{background:#2c3e7b}"
    "pre{background:#f7f7f7;padding:.6em;overflow-x:auto;"
    "white-space:pre-wrap;word-break:break-all}"
    "code,.m{font-family:ui-monospace,monospace;word-break:break-all}"
    ".key{display:inline-block;width:.8em;height:.8em;margin:0 .3em}"
    ".meta td{border:0;padding:.1em .6em .1em 0}"
    "svg{width:100%;height:auto;max-width:1000px}"
    ".note{color:#666}.evidence td:first-child{white-space:nowrap}";

static const char *report_colour[REPORT_S_COUNT] = {
	"#c0392b", "#2c3e7b", "#7f8c8d"
};
static const char *report_series_name[REPORT_S_COUNT] = {
	"relay attempts", "blocks", "sessions dropped by a block"
};
static const char *report_series_one[REPORT_S_COUNT] = {
	"relay attempt", "block", "session dropped by a block"
};

/* An SVG bar chart of some series over packet time. */
static void
report_chart(FILE *f, const struct report *r, const enum report_series *ser,
    unsigned nser)
{
	const double x0 = 60, w = 920, y0 = 10, h = 170;
	uint64_t max = 0;
	size_t nbins, i;
	unsigned s;
	double gw, bw;
	char t1[40], t2[40], sp[40];

	nbins = r->have_time ? (size_t)((r->tmax - r->t0) / r->width) + 1 : 1;
	for (i = 0; i < nbins; i++)
		for (s = 0; s < nser; s++)
			if (r->bins[i][ser[s]] > max)
				max = r->bins[i][ser[s]];
	gw = w / (double)nbins;
	bw = gw * 0.8 / nser;
	fprintf(f, "<svg viewBox=\"0 0 1000 215\" role=\"img\" "
	    ">\n"
	    "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#999\"/>\n"
	    "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#999\"/>\n",
	    x0, y0 + h, x0 + w, y0 + h, x0, y0, x0, y0 + h);
	fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\" "
	    "font-size=\"12\">%llu</text>\n<text x=\"%g\" y=\"%g\" "
	    "text-anchor=\"end\" font-size=\"12\">0</text>\n",
	    x0 - 5, y0 + 10, (unsigned long long)max, x0 - 5, y0 + h);
	if (max == 0)
		fprintf(f, "<text x=\"%g\" y=\"%g\" font-size=\"14\" "
		    "text-anchor=\"middle\" fill=\"#666\">none in the "
		    "capture</text>\n", x0 + w / 2, y0 + h / 2);
	if (max > 1)
		fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" "
		    "stroke=\"#eee\"/>\n", x0, y0, x0 + w, y0);
	for (i = 0; i < nbins && max > 0; i++)
		for (s = 0; s < nser; s++) {
			uint64_t v = r->bins[i][ser[s]];
			double bh = (double)v / (double)max * h;

			if (v == 0)
				continue;
			fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			    "height=\"%.2f\" fill=\"%s\"><title>%s: %llu "
			    "%s</title></rect>\n", x0 + gw * (double)i +
			    gw * 0.1 + bw * s, y0 + h - bh, bw, bh,
			    report_colour[ser[s]], report_when(r->t0 +
			    r->width * i, t1, sizeof(t1), false),
			    (unsigned long long)v, v == 1 ?
			    report_series_one[ser[s]] :
			    report_series_name[ser[s]]);
		}
	if (r->have_time) {
		report_when(r->t0, t1, sizeof(t1), false);
		report_when(r->t0 + r->width * nbins, t2, sizeof(t2), false);
		fprintf(f, "<text x=\"%g\" y=\"%g\" font-size=\"12\">%s</text>\n"
		    "<text x=\"%g\" y=\"%g\" font-size=\"12\" "
		    "text-anchor=\"end\">%s</text>\n", x0, y0 + h + 18, t1,
		    x0 + w, y0 + h + 18, t2);
		fprintf(f, "<text x=\"%g\" y=\"%g\" font-size=\"12\" "
		    "text-anchor=\"middle\">packet time (UTC), one bar: %s"
		    "</text>\n", x0 + w / 2, y0 + h + 34,
		    report_span(r->width, sp, sizeof(sp)));
	}
	fputs("</svg>\n<p>", f);
	for (s = 0; s < nser; s++)
		fprintf(f, "<span class=\"key\" style=\"background:%s\"></span>"
		    "%s ", report_colour[ser[s]], report_series_name[ser[s]]);
	fputs("</p>\n", f);
}

/* One row: [kind] name, count, a bar in proportion to total. */
static void
report_row(FILE *f, const char *kind, const char *name, uint64_t n,
    uint64_t total, const char *cls)
{
	fputs("<tr><td>", f);
	if (kind != NULL) {
		report_esc(f, kind);
		fputc(' ', f);
	}
	report_esc(f, name);
	fprintf(f, "</td><td class=\"n\">%llu</td><td><span class=\"bar%s%s\" "
	    "style=\"width:%.0fpx\"></span></td></tr>\n",
	    (unsigned long long)n, cls[0] != '\0' ? " " : "", cls,
	    total > 0 ? 300.0 * (double)n / (double)total : 0.0);
}

static int
report_name_cmp(const void *a, const void *b)
{
	const struct report_name *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (report_strcmp0(x->kind, y->kind) != 0)
		return report_strcmp0(x->kind, y->kind);
	return strcmp(x->name, y->name);
}

static void
report_names_table(FILE *f, struct report_names *n, const char *what,
    const char *none)
{
	uint64_t total = n->other;
	unsigned i;

	if (n->count == 0) {
		fprintf(f, "<p class=\"note\">%s</p>\n", none);
		return;
	}
	qsort(n->n, n->count, sizeof(n->n[0]), report_name_cmp);
	for (i = 0; i < n->count; i++)
		total += n->n[i].count;
	fprintf(f, "<table><tr><th>%s</th><th>count</th><th></th></tr>\n",
	    what);
	for (i = 0; i < n->count; i++)
		report_row(f, n->n[i].kind, n->n[i].name, n->n[i].count,
		    total, "");
	if (n->other > 0)
		report_row(f, NULL, "(others)", n->other, total, "o");
	fputs("</table>\n", f);
}

static int
report_client_cmp(const void *a, const void *b)
{
	const struct report_client *x = a, *y = b;

	if (x->attempts != y->attempts)
		return x->attempts < y->attempts ? 1 : -1;
	if (x->dropped != y->dropped)
		return x->dropped < y->dropped ? 1 : -1;
	return memcmp(&x->addr, &y->addr, sizeof(x->addr));
}

static void
report_card(FILE *f, uint64_t n, const char *what)
{
	fprintf(f, "<div class=\"card\"><b>%llu</b>%s</div>\n",
	    (unsigned long long)n, what);
}

static void
report_head(FILE *f, const struct report *r, const struct report_info *in)
{
	const struct engine_stats *s = in->stats;
	char t1[40], t2[40], sp[40];
	int i;

	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n<title>relayguard replay report"
	    "</title>\n<style>%s</style>\n</head>\n<body>\n"
	    "<h1>relayguard replay report</h1>\n<table class=\"meta\">\n"
	    "<tr><td>capture%s</td><td class=\"m\">", report_css,
	    in->ncaptures == 1 ? "" : "s");
	/* Many files: folded (details needs no script). */
	if (in->ncaptures > 4)
		fprintf(f, "<details><summary>%d files, in this order"
		    "</summary>", in->ncaptures);
	for (i = 0; i < in->ncaptures; i++) {
		if (i > 0)
			fputs("<br>", f);
		report_esc(f, in->captures[i]);
	}
	if (in->ncaptures > 4)
		fputs("</details>", f);
	fputs("</td></tr>\n", f);
	if (in->read_error)
		fputs("<tr><td>incomplete</td><td><b>a read error cut the "
		    "replay short (see the message replay printed): this page "
		    "covers the packets before it</b></td></tr>\n", f);
	fputs("<tr><td>configuration</td><td class=\"m\">", f);
	report_esc(f, in->config_path != NULL ? in->config_path :
	    "(built-in defaults)");
	fprintf(f, "</td></tr>\n<tr><td>mode</td><td>%s</td></tr>\n",
	    in->simulated ? "enforce, carried out (resets end sessions, "
	    "blocked clients are dropped until the block expires)" :
	    in->conf->mode == CONFIG_MODE_ENFORCE ? "enforce, --raw: every "
	    "relay RCPT judged, nothing carried out" : "monitor: reported, "
	    "nothing stopped");
	if (r->have_time)
		fprintf(f, "<tr><td>packet time</td><td>%s &ndash; %s "
		    "(%s)</td></tr>\n",
		    report_when(r->t0, t1, sizeof(t1), false),
		    report_when(r->tmax, t2, sizeof(t2), false),
		    report_span(r->tmax - r->t0, sp, sizeof(sp)));
	fprintf(f, "<tr><td>written by</td><td>relayguard %s</td></tr>\n"
	    "</table>\n<div class=\"cards\">\n", RELAYGUARD_VERSION);
	report_card(f, s->packets, "packets");
	report_card(f, s->sessions + s->sim_block_sessions, "SMTP sessions");
	report_card(f, s->relay_attempts, "relay attempts");
	report_card(f, s->resets, "sessions reset");
	report_card(f, s->blocks, "blocks");
	report_card(f, s->sim_clients_blocked, "clients blocked");
	report_card(f, s->sim_block_sessions, "sessions dropped by a block");
	report_card(f, s->mail_accepted, "messages accepted");
	fputs("</div>\n", f);
}

static void
report_sessions(FILE *f, const struct report_info *in)
{
	const struct engine_stats *s = in->stats;
	uint64_t total = s->sessions + s->sim_block_sessions;
	uint64_t passed = s->sessions > s->resets ? s->sessions - s->resets : 0;

	fputs("<h2 id=\"sessions\">Sessions per verdict</h2>\n"
	    "<table><tr><th>verdict</th><th>sessions</th><th></th></tr>\n", f);
	report_row(f, NULL, "reset", s->resets, total, "");
	report_row(f, NULL, "dropped by a block", s->sim_block_sessions,
	    total, "o");
	report_row(f, NULL, "passed", passed, total, "b");
	report_row(f, NULL, "mail accepted", s->mail_sessions, total, "g");
	fprintf(f, "</table>\n<p class=\"note\">%llu SMTP sessions in all "
	    "(a dropped session never reached SMTP). Sessions with mail "
	    "accepted are among those that passed, unless a later relay "
	    "attempt reset them.%s</p>\n", (unsigned long long)total,
	    in->simulated ? "" : " Nothing was carried out in this replay, "
	    "so none was reset or dropped.");
}

static void
report_offenders(FILE *f, struct report *r)
{
	char a[RG_ADDRSTRLEN], t1[40], t2[40], d[32], b[64];
	size_t i, top;
	unsigned j;

	fputs("<h2 id=\"offenders\">Top offenders</h2>\n", f);
	if (r->nclients == 0) {
		fputs("<p class=\"note\">No relay attempt, block or dropped "
		    "session.</p>\n", f);
		return;
	}
	qsort(r->clients, r->nclients, sizeof(r->clients[0]),
	    report_client_cmp);
	/* The hash slots point into the order before sorting. */
	memset(r->slots, 0, REPORT_SLOTS * sizeof(*r->slots));
	top = r->nclients < REPORT_TOP ? r->nclients : REPORT_TOP;
	fprintf(f, "<p class=\"note\">%zu of %zu client%s, most relay attempts "
	    "first.%s</p>\n<table><tr><th>#</th><th>client</th>"
	    "<th>relay attempts</th><th>sessions reset</th><th>blocks</th>"
	    "<th>sessions dropped</th><th>first seen</th><th>last seen</th>"
	    "</tr>\n", top, r->nclients, r->nclients == 1 ? "" : "s",
	    r->untracked > 0 ? " Some clients were not itemised (more than "
	    "32768)." : "");
	for (i = 0; i < top; i++) {
		const struct report_client *c = &r->clients[i];

		if (c->blocks > 0)
			snprintf(b, sizeof(b), "%llu (longest %s)",
			    (unsigned long long)c->blocks, config_duration_str(
			    c->block_for, d, sizeof(d)));
		else
			snprintf(b, sizeof(b), "0");
		fprintf(f, "<tr><td class=\"n\">%zu</td><td class=\"m\">"
		    "<a href=\"#c%zu\">%s</a></td><td class=\"n\">%llu</td>"
		    "<td class=\"n\">%llu</td><td class=\"n\">%s</td>"
		    "<td class=\"n\">%llu</td><td>%s</td><td>%s</td></tr>\n",
		    i + 1, i + 1, report_addr(&c->addr, a, sizeof(a)),
		    (unsigned long long)c->attempts,
		    (unsigned long long)c->resets, b,
		    (unsigned long long)c->dropped,
		    report_when(c->first, t1, sizeof(t1), false),
		    report_when(c->last, t2, sizeof(t2), false));
	}
	fputs("</table>\n<h2 id=\"evidence\">Evidence</h2>\n<p class=\"note\">"
	    "The first relay attempts of each top offender, as the events "
	    "report them.</p>\n", f);
	for (i = 0; i < top; i++) {
		const struct report_client *c = &r->clients[i];

		fprintf(f, "<h3 id=\"c%zu\" class=\"m\">%s</h3>\n", i + 1,
		    report_addr(&c->addr, a, sizeof(a)));
		if (c->nevidence == 0) {
			fprintf(f, "<p class=\"note\">%s</p>\n", c->attempts > 0 ?
			    "(evidence not kept: the report's memory for it "
			    "was spent)" : "No relay attempt in this capture "
			    "(blocked earlier, or sessions dropped only).");
			continue;
		}
		fputs("<table><tr><th>time</th><th>server</th><th>helo</th>"
		    "<th>mail from</th><th>rcpt</th><th>reason</th>"
		    "<th>trick</th><th>action</th></tr>\n", f);
		for (j = 0; j < c->nevidence; j++) {
			const struct report_evidence *e = &c->ev[j];

			fprintf(f, "<tr class=\"evidence\"><td>%s</td>"
			    "<td class=\"m\">", report_when(e->time, t1,
			    sizeof(t1), true));
			report_esc(f, e->server);
			fputs("</td><td class=\"m\">", f);
			report_esc(f, e->helo);
			fputs("</td><td class=\"m\">", f);
			report_esc(f, e->mail_from);
			fputs("</td><td class=\"m\">", f);
			report_esc(f, e->rcpt);
			fputs("</td><td>", f);
			report_esc(f, e->reason != NULL ? e->reason : "");
			fputs("</td><td>", f);
			report_esc(f, e->trick != NULL ? e->trick : "");
			fprintf(f, "</td><td>%s</td></tr>\n",
			    event_action_str(e->action));
		}
		fputs("</table>\n", f);
		if (c->attempts > c->nevidence)
			fprintf(f, "<p class=\"note\">and %llu more relay "
			    "attempt%s</p>\n", (unsigned long long)
			    (c->attempts - c->nevidence),
			    c->attempts - c->nevidence == 1 ? "" : "s");
	}
	if (r->evidence_unkept > 0)
		fprintf(f, "<p class=\"note\">%llu evidence lines were not kept "
		    "(more than %u MB of them).</p>\n", (unsigned long long)
		    r->evidence_unkept, REPORT_EVIDENCE_BYTES >> 20);
}

static void
report_body(FILE *f, struct report *r, const struct report_info *in)
{
	static const enum report_series s1[] = { REPORT_S_ATTEMPTS };
	static const enum report_series s2[] = { REPORT_S_BLOCKS,
	    REPORT_S_DROPPED };
	char *text;
	size_t n;

	report_head(f, r, in);
	fputs("<h2 id=\"attempts\">Relay attempts over time</h2>\n", f);
	report_chart(f, r, s1, 1);
	fputs("<h2 id=\"blocks\">Blocks and dropped sessions over time</h2>\n",
	    f);
	report_chart(f, r, s2, 2);
	if (r->exempt > 0)
		fprintf(f, "<p class=\"note\">%llu block%s not applied "
		    "(never-block).</p>\n", (unsigned long long)r->exempt,
		    r->exempt == 1 ? "" : "s");
	report_sessions(f, in);
	report_offenders(f, r);
	fputs("<h2 id=\"reasons\">Reasons</h2>\n", f);
	report_names_table(f, &r->reasons, "reason", "No relay attempt.");
	fputs("<h2 id=\"tricks\">Routing tricks</h2>\n", f);
	report_names_table(f, &r->tricks, "trick", "No relay attempt used "
	    "a routing trick (source route, % hack, ! path, quoting).");
	fputs("<h2 id=\"other\">Other events</h2>\n", f);
	report_names_table(f, &r->others, "event", "No smuggling, ambiguity "
	    "or anomaly.");
	fputs("<h2 id=\"summary\">Summary</h2>\n<p class=\"note\">As "
	    "<code>relayguard replay</code> printed it.</p>\n<pre>", f);
	report_esc_lines(f, in->summary != NULL ? in->summary : "");
	fputs("</pre>\n<h2 id=\"config\">Configuration used</h2>\n<pre>", f);
	n = config_format(in->conf, NULL, 0);
	if ((text = malloc(n + 1)) != NULL) {
		config_format(in->conf, text, n + 1);
		report_esc_lines(f, text);
		free(text);
	}
	fputs("</pre>\n</body>\n</html>\n", f);
}

bool
report_write(struct report *r, const char *path,
    const struct report_info *info, char *err, size_t errlen)
{
	char tmp[4096];
	FILE *f;
	int e;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >=
	    sizeof(tmp)) {
		snprintf(err, errlen, "%s: name too long", path);
		return false;
	}
	if ((f = fopen(tmp, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return false;
	}
	report_body(f, r, info);
	if (ferror(f)) {
		e = errno;
		fclose(f);
		goto fail;
	}
	if (fclose(f) != 0) {
		e = errno;
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		e = errno;
		unlink(tmp);
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return false;
	}
	return true;
fail:
	unlink(tmp);
	snprintf(err, errlen, "%s: %s", tmp, strerror(e != 0 ? e : EIO));
	return false;
}
