/*
 * ctl.c — the daemon-control subcommands of `relayguard`: status, blocks,
 * block, unblock, forget, why, reopen.  Each sends one JSON request line to the control
 * socket named by the configuration and prints the reply.
 */
#include <errno.h>
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

	if (!conffile_load(config_path, config_given, &conf, err,
	    sizeof(err))) {
		fprintf(stderr, "relayguard: %s\n", err);
		config_free(&conf);
		return NULL;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(conf.control_socket) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "relayguard: control socket path too long: "
		    "%s\n", conf.control_socket);
		goto out;
	}
	memcpy(sun.sun_path, conf.control_socket,
	    strlen(conf.control_socket) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			fprintf(stderr, "relayguard: relayguardd is not "
			    "running (no daemon on %s)\n", conf.control_socket);
		else if (errno == EACCES || errno == EPERM)
			fprintf(stderr, "relayguard: %s: permission denied "
			    "(the control socket is root's)\n",
			    conf.control_socket);
		else
			fprintf(stderr, "relayguard: %s: %s\n",
			    conf.control_socket, strerror(errno));
		goto out;
	}
	if ((out = json_dumps(req, JSON_COMPACT)) == NULL)
		goto out;
	n = strlen(out);
	out[n] = '\n';
	if (write(fd, out, n + 1) != (ssize_t)(n + 1)) {
		fprintf(stderr, "relayguard: %s: write: %s\n",
		    conf.control_socket, strerror(errno));
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
	config_free(&conf);
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

static bool
ctl_has_flag(int *argc, char **argv, const char *flag)
{
	int i, j;

	for (i = 1; i < *argc; i++) {
		if (strcmp(argv[i], flag) == 0) {
			for (j = i; j < *argc - 1; j++)
				argv[j] = argv[j + 1];
			(*argc)--;
			return true;
		}
	}
	return false;
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

int
cmd_status(int argc, char **argv, const char *config_path, bool config_given)
{
	bool js = ctl_has_flag(&argc, argv, "--json");
	json_t *reply, *v;
	const char *k;

	if (argc != 1) {
		fprintf(stderr, "usage: relayguard status [--json]\n");
		return 2;
	}
	reply = ctl_ok(config_path, config_given,
	    json_pack("{s:s}", "cmd", "status"));
	if (reply == NULL)
		return 1;
	json_object_del(reply, "ok");
	if (js)
		ctl_print_json(reply);
	else {
		json_object_foreach(reply, k, v) {
			if (json_is_string(v))
				printf("%-20s %s\n", k, json_string_value(v));
			else if (json_is_integer(v))
				printf("%-20s %lld\n", k,
				    (long long)json_integer_value(v));
		}
	}
	json_decref(reply);
	return 0;
}

static void
ctl_left(long long secs, char *buf, size_t len)
{
	if (secs <= 0)
		snprintf(buf, len, "-");
	else if (secs >= 86400)
		snprintf(buf, len, "%lldd%lldh", secs / 86400,
		    (secs % 86400) / 3600);
	else if (secs >= 3600)
		snprintf(buf, len, "%lldh%lldm", secs / 3600,
		    (secs % 3600) / 60);
	else if (secs >= 60)
		snprintf(buf, len, "%lldm%llds", secs / 60, secs % 60);
	else
		snprintf(buf, len, "%llds", secs);
}

int
cmd_blocks(int argc, char **argv, const char *config_path, bool config_given)
{
	bool js = ctl_has_flag(&argc, argv, "--json");
	json_t *reply, *arr, *b;
	const char *addr, *reason, *src;
	json_int_t left, off;
	char lbuf[32];
	size_t i;

	if (argc != 1) {
		fprintf(stderr, "usage: relayguard blocks [--json]\n");
		return 2;
	}
	reply = ctl_ok(config_path, config_given,
	    json_pack("{s:s}", "cmd", "blocks"));
	if (reply == NULL)
		return 1;
	arr = json_object_get(reply, "blocks");
	if (js)
		ctl_print_json(arr ? arr : json_array());
	else {
		printf("%-43s %-9s %-8s %-6s %s\n", "ADDRESS", "EXPIRES", "OFFENCES",
		    "SOURCE", "REASON");
		json_array_foreach(arr, i, b) {
			addr = reason = src = "";
			left = off = 0;
			(void)json_unpack(b, "{s?s,s?s,s?s,s?I,s?I}", "addr",
			    &addr, "reason", &reason, "source", &src,
			    "remaining", &left, "offences", &off);
			ctl_left(left, lbuf, sizeof(lbuf));
			printf("%-43s %-9s %-8lld %-6s %s\n", addr, lbuf,
			    (long long)off, src, reason);
		}
	}
	json_decref(reply);
	return 0;
}

/* Check an address or prefix here, so a typo gets a clear message even
 * when the daemon is not running. */
static bool
ctl_valid_prefix(const char *s)
{
	struct cidr c;
	const char *why = NULL;

	if (cidr_parse(s, strlen(s), &c, &why))
		return true;
	fprintf(stderr, "relayguard: '%s' is not an address or prefix%s%s\n",
	    s, why ? ": " : "", why ? why : "");
	return false;
}

int
cmd_block(int argc, char **argv, const char *config_path, bool config_given)
{
	const char *addr = NULL, *reason = "manual block";
	rg_time_t dur = 0;
	bool force = false;
	json_t *req, *reply;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--for") == 0 && i + 1 < argc) {
			i++;
			if (!config_parse_duration(argv[i], strlen(argv[i]),
			    &dur) || dur < RG_USEC_PER_SEC) {
				fprintf(stderr, "relayguard: bad duration '%s' "
				    "(use 90s, 10m, 1h, 7d)\n", argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
			reason = argv[++i];
		else if (strcmp(argv[i], "--force") == 0)
			force = true;
		else if (argv[i][0] == '-' || addr != NULL) {
			fprintf(stderr, "usage: relayguard block ADDR|PREFIX "
			    "[--for DUR] [--reason TEXT] [--force]\n");
			return 2;
		} else
			addr = argv[i];
	}
	if (addr == NULL) {
		fprintf(stderr, "usage: relayguard block ADDR|PREFIX "
		    "[--for DUR] [--reason TEXT] [--force]\n");
		return 2;
	}
	if (!ctl_valid_prefix(addr))
		return 2;
	req = json_pack("{s:s,s:s,s:s,s:b}", "cmd", "block", "addr", addr,
	    "reason", reason, "force", force);
	if (dur > 0)
		json_object_set_new(req, "for",
		    json_integer((json_int_t)(dur / RG_USEC_PER_SEC)));
	if ((reply = ctl_ok(config_path, config_given, req)) == NULL)
		return 1;
	json_decref(reply);
	return 0;
}

/* `unblock ADDR` and `forget ADDR`: one address or prefix; prints the
 * daemon's message, if any. */
static int
ctl_addr_cmd(int argc, char **argv, const char *config_path,
    bool config_given)
{
	json_t *reply;
	const char *msg;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		printf("usage: relayguard %s ADDR|PREFIX\n", argv[0]);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: relayguard %s ADDR|PREFIX\n", argv[0]);
		return 2;
	}
	if (!ctl_valid_prefix(argv[1]))
		return 2;
	reply = ctl_ok(config_path, config_given, json_pack("{s:s,s:s}",
	    "cmd", argv[0], "addr", argv[1]));
	if (reply == NULL)
		return 1;
	if ((msg = json_string_value(json_object_get(reply, "message"))) !=
	    NULL)
		printf("%s\n", msg);
	json_decref(reply);
	return 0;
}

int
cmd_unblock(int argc, char **argv, const char *config_path, bool config_given)
{
	return ctl_addr_cmd(argc, argv, config_path, config_given);
}

int
cmd_forget(int argc, char **argv, const char *config_path, bool config_given)
{
	return ctl_addr_cmd(argc, argv, config_path, config_given);
}

/* The offence history of a why reply, oldest first, with local times. */
static void
ctl_print_offences(json_t *reply)
{
	json_t *arr = json_object_get(reply, "offences"), *o;
	json_int_t mem, counted, next, at;
	const char *addr;
	char when[64], mbuf[32], nbuf[32];
	struct tm tm;
	time_t t;
	int counts;
	size_t i;

	mem = json_integer_value(json_object_get(reply, "offence_memory"));
	counted = json_integer_value(json_object_get(reply,
	    "offences_counted"));
	if (mem > 0)
		ctl_left(mem, mbuf, sizeof(mbuf));
	else
		snprintf(mbuf, sizeof(mbuf), "forever");
	printf("offences   %lld within offence-memory (%s)", (long long)counted,
	    mbuf);
	if (json_is_integer(json_object_get(reply, "next_block_for"))) {
		next = json_integer_value(json_object_get(reply,
		    "next_block_for"));
		ctl_left(next, nbuf, sizeof(nbuf));
		printf("; the next automatic block lasts %s", nbuf);
	}
	printf("\n");
	json_array_foreach(arr, i, o) {
		addr = "";
		at = 0;
		counts = 0;
		(void)json_unpack(o, "{s?s,s?I,s?b}", "addr", &addr, "at", &at,
		    "counted", &counts);
		t = (time_t)at;
		if (localtime_r(&t, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z",
		    &tm) == 0)
			snprintf(when, sizeof(when), "%lld", (long long)at);
		printf("  %s  %s%s\n", when, addr,
		    counts ? "" : "  (older than offence-memory: not counted)");
	}
}

int
cmd_why(int argc, char **argv, const char *config_path, bool config_given)
{
	bool js = ctl_has_flag(&argc, argv, "--json");
	json_t *reply, *b;
	const char *k, *ev;
	json_t *v;

	if (argc != 2) {
		fprintf(stderr, "usage: relayguard why ADDR|PREFIX [--json]\n");
		return 2;
	}
	if (!ctl_valid_prefix(argv[1]))
		return 2;
	reply = ctl_ok(config_path, config_given, json_pack("{s:s,s:s}",
	    "cmd", "why", "addr", argv[1]));
	if (reply == NULL)
		return 1;
	b = json_object_get(reply, "block");
	if (js) {
		json_object_del(reply, "ok");
		ctl_print_json(reply);
	} else if (b != NULL) {
		json_object_foreach(b, k, v) {
			if (strcmp(k, "evidence") == 0)
				continue;
			if (json_is_string(v))
				printf("%-10s %s\n", k, json_string_value(v));
			else if (json_is_integer(v))
				printf("%-10s %lld\n", k,
				    (long long)json_integer_value(v));
		}
		ev = json_string_value(json_object_get(b, "evidence"));
		if (ev != NULL && ev[0] != '\0')
			printf("evidence:\n%s", ev);
	} else
		printf("%s is not blocked\n", argv[1]);
	if (!js)
		ctl_print_offences(reply);
	json_decref(reply);
	return 0;
}

int
cmd_reopen(int argc, char **argv, const char *config_path, bool config_given)
{
	const char *path;
	json_t *reply;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: relayguard reopen\n");
		return 2;
	}
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
