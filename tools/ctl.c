/*
 * ctl.c — the daemon-control subcommands of `relayguard`: status, blocks,
 * block, unblock, forget, why, reopen, reload, import.  Each sends JSON
 * request lines (one per connection) to the control socket named by the
 * configuration and prints the replies.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cidr.h"
#include "conffile.h"
#include "config.h"
#include "tools.h"

#define CTL_REPLY_MAX (16u << 20)
#define CTL_TIMEOUT_MS 10000

static char ctl_socket[CONFIG_PATH_MAX];	/* from the configuration */

/*
 * The control socket of a configuration that does not load: the value of
 * its control-socket line if that line alone parses, else the default.
 * An operator who broke the file must still reach the daemon (status,
 * and reload, whose refusal then names the bad line).
 */
static void
ctl_socket_fallback(const char *path, char *sock, size_t len)
{
	struct config c;
	char line[CONFIG_PATH_MAX + 64], err[256];
	const char *p;
	FILE *f;

	config_defaults(&c);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			p = line + strspn(line, " \t");
			if (strncmp(p, "control-socket", 14) != 0 ||
			    (p[14] != ' ' && p[14] != '\t'))
				continue;
			config_free(&c);
			config_defaults(&c);
			if (!config_parse(path, p, strlen(p), &c, err,
			    sizeof(err))) {
				config_free(&c);
				config_defaults(&c);
			}
		}
		fclose(f);
	}
	snprintf(sock, len, "%s", c.control_socket);
	config_free(&c);
}

/* Send req, return the parsed reply (ok or not) or NULL after printing
 * why. */
static json_t *
ctl_call(const char *config_path, bool config_given, json_t *req)
{
	struct config conf;
	struct sockaddr_un sun;
	struct pollfd p;
	char err[1024], *out, *buf = NULL;
	size_t len = 0, cap = 0, n;
	ssize_t r;
	json_error_t jerr;
	json_t *reply = NULL;
	int fd = -1;

	/* jansson refuses text that is not UTF-8 (a --reason in Latin-1). */
	if (req == NULL) {
		fprintf(stderr, "relayguard: the request cannot be written as "
		    "JSON: is its text (--reason) valid UTF-8?\n");
		return NULL;
	}

	/* The configuration is read once: import sends a request a line. */
	if (ctl_socket[0] == '\0') {
		json_t *ctl_reload_str = json_string("reload");

		if (conffile_load(config_path, config_given, &conf, err,
		    sizeof(err)))
			memcpy(ctl_socket, conf.control_socket,
			    sizeof(ctl_socket));
		else {
			/* reload: the daemon's answer names the same line. */
			if (!json_equal(json_object_get(req, "cmd"),
			    ctl_reload_str))
				fprintf(stderr, "relayguard: warning: %s\n",
				    err);
			ctl_socket_fallback(config_path, ctl_socket,
			    sizeof(ctl_socket));
		}
		json_decref(ctl_reload_str);
		config_free(&conf);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(ctl_socket) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "relayguard: control socket path too long: "
		    "%s\n", ctl_socket);
		goto out;
	}
	memcpy(sun.sun_path, ctl_socket, strlen(ctl_socket) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			fprintf(stderr, "relayguard: relayguardd is not "
			    "running (no daemon on %s)\n", ctl_socket);
		else if (errno == EACCES || errno == EPERM)
			fprintf(stderr, "relayguard: %s: permission denied "
			    "(the control socket is root's)\n",
			    ctl_socket);
		else
			fprintf(stderr, "relayguard: %s: %s\n",
			    ctl_socket, strerror(errno));
		goto out;
	}
	if ((out = json_dumps(req, JSON_COMPACT)) == NULL)
		goto out;
	n = strlen(out);
	out[n] = '\n';
	if (write(fd, out, n + 1) != (ssize_t)(n + 1)) {
		fprintf(stderr, "relayguard: %s: write: %s\n",
		    ctl_socket, strerror(errno));
		free(out);
		goto out;
	}
	free(out);
	p.fd = fd;
	p.events = POLLIN;
	for (;;) {
		if (poll(&p, 1, CTL_TIMEOUT_MS) <= 0) {
			fprintf(stderr, "relayguard: no answer from "
			    "relayguardd within %d s\n", CTL_TIMEOUT_MS / 1000);
			goto out;
		}
		if (len + 4096 > cap) {
			if (cap >= CTL_REPLY_MAX) {
				fprintf(stderr, "relayguard: reply too long\n");
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			if ((buf = realloc(buf, cap)) == NULL)
				goto out;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (memchr(buf + len - (size_t)r, '\n', (size_t)r) != NULL)
			break;
	}
	if ((reply = json_loadb(buf ? buf : "", len, 0, &jerr)) == NULL ||
	    !json_is_object(reply)) {
		fprintf(stderr, "relayguard: bad reply from relayguardd: %s\n",
		    jerr.text);
		json_decref(reply);
		reply = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return reply;
}

/* NULL and the daemon's error printed, or the ok reply. */
static json_t *
ctl_ok(const char *config_path, bool config_given, json_t *req)
{
	json_t *reply = ctl_call(config_path, config_given, req);
	const char *e = NULL;

	json_decref(req);
	if (reply == NULL)
		return NULL;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		e = json_string_value(json_object_get(reply, "error"));
		fprintf(stderr, "relayguard: %s\n", e ? e : "request failed");
		json_decref(reply);
		return NULL;
	}
	return reply;
}

/*
 * Options.  Every subcommand here parses its arguments with getopt_long
 * (--opt=value and --opt value, "--" ends the options, options and
 * operands in any order) and knows -h/--help; the listing commands take
 * -o/--output FORMAT, with --json kept as the alias of -o json.
 */
enum ctl_output { CTL_PLAIN, CTL_JSON, CTL_CSV, CTL_NFT, CTL_PROMETHEUS };
static const char *const ctl_output_names[] = { "plain", "json", "csv",
    "nft", "prometheus" };

struct ctl_cmd {
	const char *name;
	const char *usage;	/* after "usage: relayguard NAME" */
	const char *help;	/* what the options mean, for --help */
	unsigned formats;	/* bit per enum ctl_output allowed by -o */
};

#define CTL_FMT(f) (1u << (f))
#define CTL_NEXT (-1)

enum { CTL_OPT_JSON = 0x100, CTL_OPT_FOR, CTL_OPT_REASON, CTL_OPT_FORCE,
    CTL_OPT_PARTIAL };

static void
ctl_usage(const struct ctl_cmd *c, FILE *f, bool full)
{
	fprintf(f, "usage: relayguard %s%s%s\n", c->name, c->usage[0] ? " " :
	    "", c->usage);
	if (full && c->help[0] != '\0')
		fprintf(f, "\n%s", c->help);
}

/* The options every command shares: help, -o/--json and getopt's
 * errors.  CTL_NEXT to go on, else the exit status. */
static int
ctl_opt_common(const struct ctl_cmd *c, int ch, char **argv, int *out)
{
	unsigned i;

	switch (ch) {
	case 'h':
		ctl_usage(c, stdout, true);
		return 0;
	case 'o':
		for (i = 0; i < sizeof(ctl_output_names) /
		    sizeof(ctl_output_names[0]); i++)
			if ((c->formats & CTL_FMT(i)) &&
			    strcmp(optarg, ctl_output_names[i]) == 0) {
				*out = (int)i;
				return CTL_NEXT;
			}
		fprintf(stderr, "relayguard: %s: unknown output format '%s'\n",
		    c->name, optarg);
		break;
	case CTL_OPT_JSON:
		*out = CTL_JSON;
		return CTL_NEXT;
	case ':':
		fprintf(stderr, "relayguard: %s: option '%s' needs a value\n",
		    c->name, argv[optind - 1]);
		break;
	default:
		if (optopt != 0 && optopt < 0x100)
			fprintf(stderr, "relayguard: %s: unknown option "
			    "'-%c'\n", c->name, optopt);
		else
			fprintf(stderr, "relayguard: %s: unknown option "
			    "'%s'\n", c->name, argv[optind - 1]);
		break;
	}
	ctl_usage(c, stderr, false);
	return 2;
}

#define CTL_LONGOPTS_COMMON \
	{ "help", no_argument, NULL, 'h' }, \
	{ "output", required_argument, NULL, 'o' }, \
	{ "json", no_argument, NULL, CTL_OPT_JSON }

/* Options of a command that has none of its own; *operands is set to the
 * first operand.  CTL_NEXT, or the exit status. */
static int
ctl_parse(const struct ctl_cmd *c, int argc, char **argv, int *out,
    int nargs, int *first)
{
	static const struct option lo[] = { CTL_LONGOPTS_COMMON,
	    { NULL, 0, NULL, 0 } };
	int ch, rc;

	optind = 0;
	opterr = 0;
	*out = CTL_PLAIN;
	while ((ch = getopt_long(argc, argv, c->formats ? ":ho:" : ":h", lo,
	    NULL)) != -1) {
		if (!c->formats && (ch == 'o' || ch == CTL_OPT_JSON)) {
			optopt = 0;	/* not an option of this command */
			ch = '?';
		}
		if ((rc = ctl_opt_common(c, ch, argv, out)) != CTL_NEXT)
			return rc;
	}
	if (argc - optind != nargs) {
		if (argc - optind > nargs)
			fprintf(stderr, "relayguard: %s: unexpected argument "
			    "'%s'\n", c->name, argv[optind + nargs]);
		ctl_usage(c, stderr, false);
		return 2;
	}
	*first = optind;
	return CTL_NEXT;
}

/* 2026-12-03T02:30:00Z: UTC, as the events write their times. */
static const char *
ctl_iso(long long t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", t);
	return buf;
}

/* A duration in words, its two largest units: "2 days 3 hours". */
static const char *
ctl_words(long long secs, char *buf, size_t len)
{
	static const struct { const char *name; long long secs; } u[] = {
		{ "day", 86400 }, { "hour", 3600 }, { "minute", 60 },
		{ "second", 1 } };
	size_t i, used = 0;
	int parts = 0;
	long long n;

	buf[0] = '\0';
	if (secs <= 0) {
		snprintf(buf, len, "none");
		return buf;
	}
	for (i = 0; i < sizeof(u) / sizeof(u[0]) && parts < 2; i++) {
		if ((n = secs / u[i].secs) == 0) {
			if (parts > 0)
				break;
			continue;
		}
		secs %= u[i].secs;
		used += (size_t)snprintf(buf + used, used < len ? len - used :
		    0, "%s%lld %s%s", parts ? " " : "", n, u[i].name,
		    n == 1 ? "" : "s");
		parts++;
	}
	return buf;
}

static void
ctl_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		printf("%s\n", s);
		free(s);
	}
}

static const struct ctl_cmd ctl_status_cmd = { "status",
    "[-o plain|json|prometheus]",
    "  -o, --output FORMAT  plain (default: grouped, with units), json, or\n"
    "                       prometheus (the text format node_exporter and\n"
    "                       Prometheus read); --json is -o json\n",
    CTL_FMT(CTL_PLAIN) | CTL_FMT(CTL_JSON) | CTL_FMT(CTL_PROMETHEUS) };

/* status for people: who and how long, then the counters by group. */
static void
ctl_status_plain(json_t *r)
{
	json_t *g, *c, *capture;
	size_t i, j;
	char words[64];
	const char *unit;

	capture = json_object_get(r, "capture");
	if (json_array_size(capture) > 0) {
		printf("relayguardd %s: mode %s, hook %s, capture on",
		    json_string_value(json_object_get(r, "version")) ?: "?",
		    json_string_value(json_object_get(r, "mode")) ?: "?",
		    json_string_value(json_object_get(r, "hook")) ?: "?");
		json_array_foreach(capture, i, g)
			printf(" %s", json_string_value(g) ?: "?");
		printf(", ");
	} else
		printf("relayguardd %s: mode %s, hook %s, queue %lld-%lld "
		    "(%s), ",
		    json_string_value(json_object_get(r, "version")) ?: "?",
		    json_string_value(json_object_get(r, "mode")) ?: "?",
		    json_string_value(json_object_get(r, "hook")) ?: "?",
		    (long long)json_integer_value(json_object_get(r,
		    "queue_first")),
		    (long long)json_integer_value(json_object_get(r,
		    "queue_last")),
		    json_string_value(json_object_get(r, "queue_mechanism")) ?:
		    "?");
	printf("%lld worker(s), up %s\n",
	    (long long)json_integer_value(json_object_get(r, "workers")),
	    ctl_words(json_integer_value(json_object_get(r, "uptime")), words,
	    sizeof(words)));
	json_array_foreach(json_object_get(r, "queues"), i, g)
		printf("  %s %lld: %lld packets, %lld relay attempts, "
		    "%lld blocks\n", json_array_size(capture) > 0 ? "worker" :
		    "queue",
		    (long long)json_integer_value(json_object_get(g, "queue")),
		    (long long)json_integer_value(json_object_get(g, "packets")),
		    (long long)json_integer_value(json_object_get(g,
		    "relay_attempts")),
		    (long long)json_integer_value(json_object_get(g, "blocks")));
	if ((g = json_object_get(r, "crowdsec")) != NULL)
		printf("  crowdsec %s: push %s, %lld pushed, %lld waiting in the "
		    "outbox (%lld failed tries); pull %s, %lld decisions "
		    "applied, %lld lifted\n",
		    json_string_value(json_object_get(g, "url")) ?: "?",
		    json_is_true(json_object_get(g, "push")) ? "on" : "off",
		    (long long)json_integer_value(json_object_get(g, "pushed")),
		    (long long)json_integer_value(json_object_get(g, "outbox")),
		    (long long)json_integer_value(json_object_get(g,
		    "push_failures")),
		    json_is_true(json_object_get(g, "pull")) ? "on" : "off",
		    (long long)json_integer_value(json_object_get(g,
		    "applied")),
		    (long long)json_integer_value(json_object_get(g, "lifted")));
	json_array_foreach(json_object_get(r, "groups"), i, g) {
		printf("%s\n", json_string_value(json_object_get(g, "group")));
		json_array_foreach(json_object_get(g, "counters"), j, c) {
			unit = json_string_value(json_object_get(c, "unit"));
			printf("  %-24s %14lld %s\n",
			    json_string_value(json_object_get(c, "name")),
			    (long long)json_integer_value(json_object_get(c,
			    "value")), unit != NULL ? unit : "");
		}
	}
}

int
cmd_status(int argc, char **argv, const char *config_path, bool config_given)
{
	json_t *reply;
	const char *text;
	int out, first, rc;

	if ((rc = ctl_parse(&ctl_status_cmd, argc, argv, &out, 0, &first)) !=
	    CTL_NEXT)
		return rc;
	reply = ctl_ok(config_path, config_given,
	    json_pack("{s:s}", "cmd", out == CTL_PROMETHEUS ? "metrics" :
	    "status"));
	if (reply == NULL)
		return 1;
	json_object_del(reply, "ok");
	if (out == CTL_PROMETHEUS) {
		if ((text = json_string_value(json_object_get(reply, "text")))
		    != NULL)
			fputs(text, stdout);
	} else if (out == CTL_JSON)
		ctl_print_json(reply);
	else
		ctl_status_plain(reply);
	json_decref(reply);
	return 0;
}

struct ctl_block_row {
	const char *addr, *reason, *src;
	json_int_t expires, left, off;
	int in_kernel;		/* 1, 0, or -1: unknown */
};

static void
ctl_block_row(json_t *b, struct ctl_block_row *r)
{
	json_t *k;

	r->addr = r->reason = r->src = "";
	r->expires = r->left = r->off = 0;
	(void)json_unpack(b, "{s?s,s?s,s?s,s?I,s?I,s?I}", "addr", &r->addr,
	    "reason", &r->reason, "source", &r->src, "expires", &r->expires,
	    "remaining", &r->left, "offences", &r->off);
	k = json_object_get(b, "in_kernel");
	r->in_kernel = json_is_boolean(k) ? json_is_true(k) : -1;
}

/* A CSV field (RFC 4180): always quoted, quotes doubled, control
 * characters as spaces so one block stays one line. */
static void
ctl_csv_field(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"')
			putchar('"');
		putchar((unsigned char)*s < 0x20 ? ' ' : *s);
	}
	putchar('"');
}

static void
ctl_blocks_print(json_t *arr, int out)
{
	struct ctl_block_row r;
	char ebuf[32], lbuf[64];
	const char *kern;
	size_t i, w = 7;
	json_t *b;
	int n;

	if (out == CTL_CSV)
		printf("address,expires,remaining,offences,source,in_kernel,"
		    "reason\n");
	else if (out == CTL_NFT)
		printf("#!/usr/sbin/nft -f\n"
		    "# relayguard blocks: load with 'nft -f FILE' into the "
		    "table relayguardd made\n");
	else {
		json_array_foreach(arr, i, b) {
			ctl_block_row(b, &r);
			if (strlen(r.addr) > w)
				w = strlen(r.addr);
		}
		n = (int)w;
		printf("%-*s %-20s %-22s %-8s %-6s %-6s %s\n", n, "ADDRESS",
		    "EXPIRES", "REMAINING", "OFFENCES", "SOURCE", "KERNEL",
		    "REASON");
	}
	json_array_foreach(arr, i, b) {
		ctl_block_row(b, &r);
		kern = r.in_kernel < 0 ? "?" : r.in_kernel ? "yes" : "no";
		ctl_iso(r.expires, ebuf, sizeof(ebuf));
		switch (out) {
		case CTL_CSV:
			printf("%s,%s,%lld,%lld,%s,%s,", r.addr, ebuf,
			    (long long)r.left, (long long)r.off, r.src, kern);
			ctl_csv_field(r.reason);
			putchar('\n');
			break;
		case CTL_NFT:
			if (r.left <= 0)
				break;
			printf("add element inet relayguard blocked%c { %s "
			    "timeout %llds }\n", strchr(r.addr, ':') ? '6' :
			    '4', r.addr, (long long)r.left);
			break;
		default:
			printf("%-*s %-20s %-22s %-8lld %-6s %-6s %s\n",
			    (int)w, r.addr, ebuf, ctl_words(r.left, lbuf,
			    sizeof(lbuf)), (long long)r.off, r.src, kern,
			    r.reason);
		}
	}
}

static const struct ctl_cmd ctl_blocks_cmd = { "blocks",
    "[-o plain|json|csv|nft]",
    "  -o, --output FORMAT  plain (default): a table with the expiry time\n"
    "                       (UTC), the time left and whether the kernel set\n"
    "                       holds the block; json; csv (a header line, one\n"
    "                       block a line, 'relayguard import' reads it back);\n"
    "                       nft: an 'nft -f' script of add element commands\n"
    "                       with the time left; --json is -o json\n",
    CTL_FMT(CTL_PLAIN) | CTL_FMT(CTL_JSON) | CTL_FMT(CTL_CSV) |
    CTL_FMT(CTL_NFT) };

int
cmd_blocks(int argc, char **argv, const char *config_path, bool config_given)
{
	json_t *reply, *arr;
	int out, first, rc;

	if ((rc = ctl_parse(&ctl_blocks_cmd, argc, argv, &out, 0, &first)) !=
	    CTL_NEXT)
		return rc;
	reply = ctl_ok(config_path, config_given,
	    json_pack("{s:s}", "cmd", "blocks"));
	if (reply == NULL)
		return 1;
	arr = json_object_get(reply, "blocks");
	if (out == CTL_JSON)
		ctl_print_json(arr ? arr : json_array());
	else
		ctl_blocks_print(arr, out);
	json_decref(reply);
	return 0;
}

/* Check an address or prefix here, so a typo gets a clear message even
 * when the daemon is not running. */
static bool
ctl_valid_prefix(const char *s, char *err, size_t errlen)
{
	struct cidr c;
	const char *why = NULL;

	if (cidr_parse(s, strlen(s), &c, &why))
		return true;
	snprintf(err, errlen, "'%s' is not an address or prefix%s%s", s,
	    why ? ": " : "", why ? why : "");
	return false;
}

static bool
ctl_parse_for(const char *s, rg_time_t *dur)
{
	return config_parse_duration(s, strlen(s), dur) &&
	    *dur >= RG_USEC_PER_SEC;
}

/* The options block and import share. */
static const struct option ctl_block_longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "for", required_argument, NULL, CTL_OPT_FOR },
	{ "reason", required_argument, NULL, CTL_OPT_REASON },
	{ "force", no_argument, NULL, CTL_OPT_FORCE },
	{ "partial", no_argument, NULL, CTL_OPT_PARTIAL },
	{ NULL, 0, NULL, 0 }
};

struct ctl_block_opts {
	rg_time_t dur;
	const char *reason;
	bool force, partial;
	int first;		/* index of the first operand */
};

static int
ctl_block_parse(const struct ctl_cmd *c, int argc, char **argv,
    struct ctl_block_opts *o, bool import)
{
	int ch, rc, out;

	memset(o, 0, sizeof(*o));
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", ctl_block_longopts,
	    NULL)) != -1) {
		switch (ch) {
		case CTL_OPT_FOR:
			if (!ctl_parse_for(optarg, &o->dur)) {
				fprintf(stderr, "relayguard: %s: bad duration "
				    "'%s' (use 90s, 10m, 1h, 7d)\n", c->name,
				    optarg);
				return 2;
			}
			break;
		case CTL_OPT_REASON:
			o->reason = optarg;
			break;
		case CTL_OPT_FORCE:
			o->force = true;
			break;
		case CTL_OPT_PARTIAL:
			if (import) {
				o->partial = true;
				break;
			}
			/* FALLTHROUGH */
		default:
			if (ch == CTL_OPT_PARTIAL) {
				optopt = 0;
				ch = '?';
			}
			if ((rc = ctl_opt_common(c, ch, argv, &out)) !=
			    CTL_NEXT)
				return rc;
		}
	}
	if (argc - optind != 1) {
		if (argc - optind > 1)
			fprintf(stderr, "relayguard: %s: unexpected argument "
			    "'%s'\n", c->name, argv[optind + 1]);
		ctl_usage(c, stderr, false);
		return 2;
	}
	o->first = optind;
	return CTL_NEXT;
}

/* The block request for one address; check: only ask whether the daemon
 * would take it (never-block, relay-networks), nothing changes. */
static json_t *
ctl_block_req(const char *addr, rg_time_t dur, const char *reason,
    bool force, bool check)
{
	json_t *req;

	req = json_pack("{s:s,s:s,s:s,s:b}", "cmd", "block", "addr", addr,
	    "reason", reason, "force", force);
	if (req != NULL && dur > 0)
		json_object_set_new(req, "for",
		    json_integer((json_int_t)(dur / RG_USEC_PER_SEC)));
	if (req != NULL && check)
		json_object_set_new(req, "check", json_true());
	return req;
}

/* Print the message of an ok reply (what changed), or dflt. */
static void
ctl_print_message(json_t *reply, const char *dflt, const char *arg)
{
	const char *msg = json_string_value(json_object_get(reply,
	    "message"));

	if (msg != NULL)
		printf("%s\n", msg);
	else
		printf("%s %s\n", dflt, arg);
}

static const struct ctl_cmd ctl_block_cmd = { "block",
    "[--for DURATION] [--reason TEXT] [--force] ADDR|PREFIX",
    "  --for DURATION   how long (90s, 10m, 1h, 7d; default block-for)\n"
    "  --reason TEXT    kept with the block (default \"manual block\")\n"
    "  --force          block inside relay-networks too (never-block still\n"
    "                   refuses)\n", 0 };

int
cmd_block(int argc, char **argv, const char *config_path, bool config_given)
{
	struct ctl_block_opts o;
	char err[512];
	json_t *reply;
	const char *addr;
	int rc;

	if ((rc = ctl_block_parse(&ctl_block_cmd, argc, argv, &o, false)) !=
	    CTL_NEXT)
		return rc;
	addr = argv[o.first];
	if (!ctl_valid_prefix(addr, err, sizeof(err))) {
		fprintf(stderr, "relayguard: %s\n", err);
		return 2;
	}
	if ((reply = ctl_ok(config_path, config_given, ctl_block_req(addr,
	    o.dur, o.reason ? o.reason : "manual block", o.force, false))) ==
	    NULL)
		return 1;
	ctl_print_message(reply, "blocked", addr);
	json_decref(reply);
	return 0;
}

static const struct ctl_cmd ctl_unblock_cmd = { "unblock", "ADDR|PREFIX",
    "Lifts the block on ADDR|PREFIX; its offences still count (see forget).\n",
    0 };
static const struct ctl_cmd ctl_forget_cmd = { "forget", "ADDR|PREFIX",
    "Clears the offence history of ADDR|PREFIX and every key inside it:\n"
    "the next automatic block lasts block-for again.\n", 0 };

/* `unblock ADDR` and `forget ADDR`: one address or prefix; prints what
 * the daemon changed. */
static int
ctl_addr_cmd(const struct ctl_cmd *c, int argc, char **argv,
    const char *config_path, bool config_given)
{
	json_t *reply;
	char err[512];
	int out, first, rc;

	if ((rc = ctl_parse(c, argc, argv, &out, 1, &first)) != CTL_NEXT)
		return rc;
	if (!ctl_valid_prefix(argv[first], err, sizeof(err))) {
		fprintf(stderr, "relayguard: %s\n", err);
		return 2;
	}
	reply = ctl_ok(config_path, config_given, json_pack("{s:s,s:s}",
	    "cmd", c->name, "addr", argv[first]));
	if (reply == NULL)
		return 1;
	ctl_print_message(reply, c->name, argv[first]);
	json_decref(reply);
	return 0;
}

int
cmd_unblock(int argc, char **argv, const char *config_path, bool config_given)
{
	return ctl_addr_cmd(&ctl_unblock_cmd, argc, argv, config_path,
	    config_given);
}

int
cmd_forget(int argc, char **argv, const char *config_path, bool config_given)
{
	return ctl_addr_cmd(&ctl_forget_cmd, argc, argv, config_path,
	    config_given);
}

/* The offence history of a why reply, oldest first, times in UTC. */
static void
ctl_print_offences(json_t *reply)
{
	json_t *arr = json_object_get(reply, "offences"), *o;
	json_int_t mem, counted, next, at;
	const char *addr;
	char when[32], mbuf[64], nbuf[64];
	int counts;
	size_t i;

	mem = json_integer_value(json_object_get(reply, "offence_memory"));
	counted = json_integer_value(json_object_get(reply,
	    "offences_counted"));
	if (mem > 0)
		ctl_words(mem, mbuf, sizeof(mbuf));
	else
		snprintf(mbuf, sizeof(mbuf), "forever");
	printf("offences   %lld within offence-memory (%s)", (long long)counted,
	    mbuf);
	if (json_is_integer(json_object_get(reply, "next_block_for"))) {
		next = json_integer_value(json_object_get(reply,
		    "next_block_for"));
		ctl_words(next, nbuf, sizeof(nbuf));
		printf("; the next automatic block lasts %s", nbuf);
	}
	printf("\n");
	json_array_foreach(arr, i, o) {
		addr = "";
		at = 0;
		counts = 0;
		(void)json_unpack(o, "{s?s,s?I,s?b}", "addr", &addr, "at", &at,
		    "counted", &counts);
		printf("  %s  %s%s\n", ctl_iso(at, when, sizeof(when)), addr,
		    counts ? "" : "  (older than offence-memory: not counted)");
	}
}

static void
ctl_print_why_block(json_t *b)
{
	struct ctl_block_row r;
	json_int_t created = 0;
	const char *ev;
	char cbuf[32], ebuf[32], lbuf[64];

	ctl_block_row(b, &r);
	(void)json_unpack(b, "{s?I}", "created", &created);
	printf("address    %s\n", r.addr);
	printf("reason     %s\n", r.reason);
	printf("source     %s\n", r.src);
	printf("created    %s\n", ctl_iso(created, cbuf, sizeof(cbuf)));
	printf("expires    %s (%s left)\n", ctl_iso(r.expires, ebuf,
	    sizeof(ebuf)), ctl_words(r.left, lbuf, sizeof(lbuf)));
	ev = json_string_value(json_object_get(b, "evidence"));
	if (ev != NULL && ev[0] != '\0')
		printf("evidence:\n%s%s", ev, ev[strlen(ev) - 1] == '\n' ? "" :
		    "\n");
}

static const struct ctl_cmd ctl_why_cmd = { "why", "[-o plain|json] ADDR|PREFIX",
    "  -o, --output FORMAT  plain (default) or json; --json is -o json\n"
    "Times are UTC (ISO 8601), as in the events.\n",
    CTL_FMT(CTL_PLAIN) | CTL_FMT(CTL_JSON) };

int
cmd_why(int argc, char **argv, const char *config_path, bool config_given)
{
	json_t *reply, *b;
	char err[512];
	int out, first, rc;

	if ((rc = ctl_parse(&ctl_why_cmd, argc, argv, &out, 1, &first)) !=
	    CTL_NEXT)
		return rc;
	if (!ctl_valid_prefix(argv[first], err, sizeof(err))) {
		fprintf(stderr, "relayguard: %s\n", err);
		return 2;
	}
	reply = ctl_ok(config_path, config_given, json_pack("{s:s,s:s}",
	    "cmd", "why", "addr", argv[first]));
	if (reply == NULL)
		return 1;
	b = json_object_get(reply, "block");
	if (out == CTL_JSON) {
		json_object_del(reply, "ok");
		ctl_print_json(reply);
	} else {
		if (b != NULL)
			ctl_print_why_block(b);
		else
			printf("%s is not blocked\n", argv[first]);
		ctl_print_offences(reply);
	}
	json_decref(reply);
	return 0;
}

static const struct ctl_cmd ctl_reopen_cmd = { "reopen", "",
    "Reopens the event log (after logrotate moved it).\n", 0 };

int
cmd_reopen(int argc, char **argv, const char *config_path, bool config_given)
{
	const char *path;
	json_t *reply;
	int out, first, rc;

	if ((rc = ctl_parse(&ctl_reopen_cmd, argc, argv, &out, 0, &first)) !=
	    CTL_NEXT)
		return rc;
	reply = ctl_ok(config_path, config_given, json_pack("{s:s}", "cmd",
	    "reopen"));
	if (reply == NULL)
		return 1;
	path = json_string_value(json_object_get(reply, "event_log"));
	if (path != NULL && path[0] != '\0')
		printf("reopened %s\n", path);
	else
		printf("no event-log configured: nothing to reopen\n");
	json_decref(reply);
	return 0;
}

static const struct ctl_cmd ctl_reload_cmd = { "reload", "",
    "Makes relayguardd reload its configuration file and prints the result:\n"
    "the file reloaded, or why the reload was refused (file:line: ...), in\n"
    "which case the running configuration stays (exit status 1).\n", 0 };

int
cmd_reload(int argc, char **argv, const char *config_path, bool config_given)
{
	json_t *reply;
	int out, first, rc;

	if ((rc = ctl_parse(&ctl_reload_cmd, argc, argv, &out, 0, &first)) !=
	    CTL_NEXT)
		return rc;
	reply = ctl_ok(config_path, config_given, json_pack("{s:s}", "cmd",
	    "reload"));
	if (reply == NULL)
		return 1;
	ctl_print_message(reply, "reloaded", "");
	json_decref(reply);
	return 0;
}

/*
 * import FILE|-: one block a line, "ADDR|PREFIX [DURATION] [REASON...]"
 * ('#' comment lines and blank lines skipped; the second field is a
 * duration when it reads as one), or the CSV that `blocks -o csv` writes
 * (recognised by its header line; the time left becomes the duration).
 * Every line is checked first, here and then by the daemon (never-block,
 * relay-networks): a file with a bad line changes nothing unless
 * --partial, which imports the good lines.
 */
#define CTL_IMPORT_LINE 4096
#define CTL_IMPORT_MAX 1000000u

struct ctl_import_entry {
	char *addr, *reason;
	rg_time_t dur;
	unsigned line;
	bool bad;
};

struct ctl_import {
	const char *name;
	struct ctl_import_entry *v;
	size_t n, cap;
	unsigned bad;
};

static void
ctl_import_bad(struct ctl_import *im, unsigned line, const char *msg)
{
	fprintf(stderr, "relayguard: %s:%u: %s\n", im->name, line, msg);
	im->bad++;
}

/* Split a CSV line in place into at most max fields; -1 if a quote is
 * left open. */
static int
ctl_csv_split(char *s, char **f, int max)
{
	char *w;
	int n = 0;

	while (n < max) {
		f[n++] = w = s;
		if (*s == '"') {
			for (s++;; s++) {
				if (*s == '\0')
					return -1;
				if (*s == '"' && s[1] == '"')
					s++;
				else if (*s == '"') {
					s++;
					break;
				}
				*w++ = *s;
			}
		} else
			while (*s != '\0' && *s != ',')
				*w++ = *s++;
		if (*s == '\0') {
			*w = '\0';
			return n;
		}
		if (*s != ',')
			return -1;
		*w = '\0';
		s++;
	}
	return n;
}

static bool
ctl_import_add(struct ctl_import *im, const char *addr, rg_time_t dur,
    const char *reason, unsigned line)
{
	struct ctl_import_entry *nv, *e;

	if (im->n == im->cap) {
		im->cap = im->cap ? im->cap * 2 : 256;
		if ((nv = realloc(im->v, im->cap * sizeof(*nv))) == NULL)
			return false;
		im->v = nv;
	}
	e = &im->v[im->n];
	memset(e, 0, sizeof(*e));
	e->addr = strdup(addr);
	e->reason = strdup(reason);
	e->dur = dur;
	e->line = line;
	if (e->addr == NULL || e->reason == NULL) {
		free(e->addr);
		free(e->reason);
		return false;
	}
	im->n++;
	return true;
}

/* One line (no newline): an entry, an error, or nothing. */
static bool
ctl_import_line(struct ctl_import *im, char *s, unsigned line, bool *csv,
    bool *seen, const char *dflt_reason)
{
	char err[512], *f[8], *addr, *dur_s = NULL, *reason, *p;
	rg_time_t dur = 0;
	int nf;

	s += strspn(s, " \t");
	p = s + strlen(s);
	while (p > s && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\r'))
		*--p = '\0';
	if (*s == '\0' || *s == '#')
		return true;
	if (!*seen) {
		*seen = true;
		if (strncmp(s, "address,", 8) == 0) {
			*csv = true;
			return true;
		}
	}
	if (*csv) {
		if ((nf = ctl_csv_split(s, f, 8)) < 7) {
			ctl_import_bad(im, line, nf < 0 ? "unterminated "
			    "quote" : "want the 7 fields of 'relayguard "
			    "blocks -o csv'");
			return true;
		}
		addr = f[0];
		dur_s = f[2];
		reason = f[6];
		if (dur_s[0] == '0' && dur_s[1] == '\0')
			dur_s = NULL;	/* expired while exported */
	} else {
		addr = s;
		s += strcspn(s, " \t");
		if (*s != '\0')
			*s++ = '\0';
		s += strspn(s, " \t");
		reason = s;
		p = s + strcspn(s, " \t");
		if (p > s) {
			char c = *p;

			*p = '\0';
			if (config_parse_duration(s, strlen(s), &dur)) {
				dur_s = s;
				reason = p + (c != '\0');
				reason += strspn(reason, " \t");
			} else
				*p = c;
		}
	}
	if (!ctl_valid_prefix(addr, err, sizeof(err))) {
		ctl_import_bad(im, line, err);
		return true;
	}
	if (dur_s != NULL && !ctl_parse_for(dur_s, &dur)) {
		snprintf(err, sizeof(err), "bad duration '%.100s' (use 90s, "
		    "10m, 1h, 7d)", dur_s);
		ctl_import_bad(im, line, err);
		return true;
	}
	return ctl_import_add(im, addr, dur_s ? dur : 0, reason[0] ? reason :
	    dflt_reason, line);
}

static int
ctl_import_read(struct ctl_import *im, const char *path,
    const char *dflt_reason)
{
	char buf[CTL_IMPORT_LINE + 2];
	unsigned line = 0;
	bool csv = false, seen = false, longline = false;
	size_t len;
	FILE *f;

	if (strcmp(path, "-") == 0) {
		f = stdin;
		im->name = "stdin";
	} else if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "relayguard: import: %s: %s\n", path,
		    strerror(errno));
		return -1;
	} else
		im->name = path;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		len = strlen(buf);
		if (longline) {
			/* The rest of a line already refused. */
			longline = len > 0 && buf[len - 1] != '\n';
			continue;
		}
		line++;
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		else if (len > CTL_IMPORT_LINE) {
			ctl_import_bad(im, line, "line longer than 4096 "
			    "bytes");
			longline = true;
			continue;
		}
		if (im->n >= CTL_IMPORT_MAX) {
			ctl_import_bad(im, line, "more than 1000000 blocks");
			break;
		}
		if (!ctl_import_line(im, buf, line, &csv, &seen,
		    dflt_reason)) {
			fprintf(stderr, "relayguard: out of memory\n");
			break;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "relayguard: import: %s: read error\n",
		    im->name);
		im->bad++;
	}
	if (f != stdin)
		fclose(f);
	return 0;
}

/* Send one entry's block (or its check): 1 ok, 0 refused (printed with
 * the line), -1 no daemon. */
static int
ctl_import_send(struct ctl_import *im, struct ctl_import_entry *e,
    const char *config_path, bool config_given, bool force, bool check)
{
	json_t *req, *reply;
	const char *msg;
	char text[1024];
	int rc;

	if ((req = ctl_block_req(e->addr, e->dur, e->reason, force,
	    check)) == NULL) {
		ctl_import_bad(im, e->line, "the reason is not valid UTF-8");
		e->bad = true;
		return 0;
	}
	reply = ctl_call(config_path, config_given, req);
	json_decref(req);
	if (reply == NULL)
		return -1;
	if (json_is_true(json_object_get(reply, "ok"))) {
		if (!check) {
			msg = json_string_value(json_object_get(reply,
			    "message"));
			printf("%s:%u: %s\n", im->name, e->line, msg ? msg :
			    e->addr);
		}
		rc = 1;
	} else {
		msg = json_string_value(json_object_get(reply, "error"));
		snprintf(text, sizeof(text), "%s", msg ? msg : "refused");
		ctl_import_bad(im, e->line, text);
		e->bad = true;
		rc = 0;
	}
	json_decref(reply);
	return rc;
}

static const struct ctl_cmd ctl_import_cmd = { "import",
    "[--partial] [--for DURATION] [--reason TEXT] [--force] FILE|-",
    "Blocks every address or prefix of FILE (- : standard input), one a line:\n"
    "  ADDR|PREFIX [DURATION] [REASON...]\n"
    "or the CSV of 'relayguard blocks -o csv'.  '#' lines are comments.\n"
    "  --partial        import the good lines of a file with bad ones\n"
    "                   (without it, a bad line means nothing is imported)\n"
    "  --for DURATION   for lines without a duration (default block-for)\n"
    "  --reason TEXT    for lines without a reason (default \"imported\")\n"
    "  --force          block inside relay-networks too\n", 0 };

int
cmd_import(int argc, char **argv, const char *config_path, bool config_given)
{
	struct ctl_block_opts o;
	struct ctl_import im;
	size_t i, applied = 0;
	int rc;

	if ((rc = ctl_block_parse(&ctl_import_cmd, argc, argv, &o, true)) !=
	    CTL_NEXT)
		return rc;
	memset(&im, 0, sizeof(im));
	if (ctl_import_read(&im, argv[o.first], o.reason ? o.reason :
	    "imported") < 0)
		return 1;
	for (i = 0; i < im.n; i++)
		if (im.v[i].dur == 0)
			im.v[i].dur = o.dur;
	/* The daemon's own refusals first, so they too keep the whole file
	 * out. */
	rc = 0;
	for (i = 0; i < im.n && rc == 0; i++)
		if (ctl_import_send(&im, &im.v[i], config_path, config_given,
		    o.force, true) < 0)
			rc = 1;
	if (rc == 0 && im.bad > 0 && !o.partial) {
		fprintf(stderr, "relayguard: import: %s: %u bad line(s): "
		    "nothing imported (--partial imports the good lines)\n",
		    im.name, im.bad);
		rc = 1;
	}
	for (i = 0; i < im.n && rc == 0; i++) {
		if (im.v[i].bad)
			continue;
		switch (ctl_import_send(&im, &im.v[i], config_path,
		    config_given, o.force, false)) {
		case 1:
			applied++;
			break;
		case -1:
			rc = 1;
			break;
		}
	}
	if (rc == 0)
		printf("imported %zu block(s) from %s%s\n", applied, im.name,
		    im.bad ? " (bad lines left out)" : "");
	if (rc == 0 && im.bad > 0)
		rc = 1;
	for (i = 0; i < im.n; i++) {
		free(im.v[i].addr);
		free(im.v[i].reason);
	}
	free(im.v);
	return rc;
}
