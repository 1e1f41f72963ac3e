/*
 * check.c — `relayguard check HOST[:PORT]`: probe a mail server for open
 * relaying.
 *
 * The sixteen MAIL FROM/RCPT TO combinations are those of nmap's
 * smtp-open-relay script: a foreign recipient from a null, foreign, local
 * and address-literal sender, then the routing tricks a legacy server may
 * honour (%-hack, quoted local part, double @, source route, bang path),
 * each aimed at the server's address literal and at its own name.  Each
 * test is RSET, MAIL FROM, RCPT TO; the RCPT reply decides.  DATA is never
 * sent, so nothing is ever queued, let alone delivered.
 *
 * The server is untrusted: every reply line is bounded in length, every
 * reply in lines, every wait in time, and the number of connections is at
 * most one per test.  Text from the server is printed with non-printable
 * bytes escaped, and the server's name goes into our commands only when it
 * looks like a host name.
 *
 * A firewall such as relayguard resets the connection when it sees a relay
 * RCPT; that test is reported "reset" and the next one runs on a fresh
 * connection.  After CHECK_FAILS_MAX consecutive connections that could not
 * be made or timed out (the firewall may have blocked us), the remaining
 * tests are not tried and count as reset too.
 *
 * Exit status: 0 not an open relay, 1 open relay, 2 error.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "tools.h"

#define CHECK_EXIT_CLOSED	0
#define CHECK_EXIT_OPEN		1
#define CHECK_EXIT_ERROR	2

#define CHECK_NTESTS		16
#define CHECK_DEFAULT_PORT	"25"
#define CHECK_DEFAULT_TO	"relaytest@relayguard-check.test"
#define CHECK_DEFAULT_FROM	"relaycheck"
#define CHECK_DEFAULT_TIMEOUT_MS 10000
#define CHECK_MAX_TIMEOUT_MS	3600000

/* RFC 5321 4.5.3.1.5 allows 512 bytes per reply line; be lenient. */
#define CHECK_LINE_MAX		1000
/* EHLO replies are the longest: a line per extension. */
#define CHECK_REPLY_LINES_MAX	64
#define CHECK_BUF_SIZE		4096
/* Bytes of a reply's first line kept for the report. */
#define CHECK_KEEP_MAX		200
/* A kept line escaped (4 bytes per byte at worst), "...", NUL. */
#define CHECK_SHOW_MAX		(CHECK_KEEP_MAX * 4 + 64)
#define CHECK_LOCAL_MAX		64	/* RFC 5321 4.5.3.1.1 */
#define CHECK_DOMAIN_MAX	253
#define CHECK_PATH_MAX		1024
#define CHECK_CMD_MAX		(CHECK_PATH_MAX + 32)
/* getaddrinfo may return many addresses; try only the first few. */
#define CHECK_ADDRS_MAX		8
/* Consecutive failed or timed-out connections before giving up. */
#define CHECK_FAILS_MAX		3

enum check_io {
	CHECK_IO_OK,
	CHECK_IO_CLOSED,	/* EOF, RST or EPIPE: the peer ended it */
	CHECK_IO_TIMEOUT,
	CHECK_IO_BAD,		/* a malformed or oversized reply */
	CHECK_IO_ERROR,		/* any other socket error */
};

enum check_verdict {
	CHECK_NOT_RUN,
	CHECK_ACCEPTED,
	CHECK_REFUSED,
	CHECK_RESET,
};

static const char *const check_verdict_names[] = {
	[CHECK_NOT_RUN] = "not-run",
	[CHECK_ACCEPTED] = "accepted",
	[CHECK_REFUSED] = "refused",
	[CHECK_RESET] = "reset",
};

struct check_opts {
	char host[CHECK_DOMAIN_MAX + 1];
	char port[6];
	char to_local[CHECK_LOCAL_MAX + 1];
	char to_domain[CHECK_DOMAIN_MAX + 1];
	char from_local[CHECK_LOCAL_MAX + 1];
	char from_domain[CHECK_DOMAIN_MAX + 1];
	char helo[CHECK_DOMAIN_MAX + 1];
	int timeout_ms;
	bool json;
};

struct check_conn {
	int fd;
	int timeout_ms;
	int err;		/* errno behind the last CLOSED or ERROR */
	const char *bad;	/* what was wrong with the last BAD reply */
	size_t len;		/* bytes waiting in buf */
	char buf[CHECK_BUF_SIZE];
};

struct check_reply {
	int code;
	int lines;
	size_t first_len;	/* bytes kept of the first line */
	bool first_cut;		/* the first line was longer */
	char first[CHECK_KEEP_MAX];
};

struct check_test {
	char from[CHECK_PATH_MAX];
	char to[CHECK_PATH_MAX];
};

struct check_result {
	enum check_verdict verdict;
	const char *stage;	/* the command whose reply (or lack) decided */
	int code;		/* 0: no reply */
	char detail[CHECK_SHOW_MAX];	/* escaped reply line, or what failed */
};

struct check_session {
	const struct check_opts *o;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char addr[INET6_ADDRSTRLEN];
	char iplit[INET6_ADDRSTRLEN + 8];	/* [192.0.2.1] or [IPv6:...] */
	char srvname[CHECK_DOMAIN_MAX + 1];
	const char *srvname_src;	/* "banner", "EHLO" or NULL */
	char banner[CHECK_SHOW_MAX];
	const char *greeting;		/* "EHLO" or "HELO" */
	struct check_conn conn;	/* connected while conn.fd >= 0 */
	bool closing;		/* the server said 421: it will close */
	int connections;
	int fails;		/* consecutive failed or timed-out connections */
	char fatal[CHECK_SHOW_MAX * 3];	/* set: stop, exit 2 */
	struct check_test tests[CHECK_NTESTS];
	struct check_result results[CHECK_NTESTS];
};

static void
check_usage(FILE *f)
{
	fprintf(f, "usage: relayguard check [--from ADDR] [--to ADDR] "
	    "[--helo NAME] [--timeout SECS]\n"
	    "                        [--json] HOST[:PORT]\n"
	    "  HOST is a name, an IPv4 address, an IPv6 address or "
	    "[IPv6]:PORT; PORT defaults to 25.\n"
	    "  --to ADDR       foreign recipient (default %s)\n"
	    "  --from ADDR     sender: its local part is used with the "
	    "server's name and\n"
	    "                  address, its domain for the foreign-sender "
	    "test (default\n"
	    "                  %s@<domain of --to>)\n"
	    "  --helo NAME     name given in EHLO/HELO (default: domain of "
	    "--to)\n"
	    "  --timeout SECS  connect and per-reply timeout (default %d)\n"
	    "  --json          one JSON object with the results on stdout\n"
	    "Exit status: 0 not an open relay, 1 open relay, 2 error.\n",
	    CHECK_DEFAULT_TO, CHECK_DEFAULT_FROM,
	    CHECK_DEFAULT_TIMEOUT_MS / 1000);
}

static void __attribute__((format(printf, 1, 2)))
check_warnx(const char *fmt, ...)
{
	va_list ap;

	fputs("relayguard: check: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int64_t
check_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Escape src for a terminal or a JSON string: printable ASCII stays,
 * backslash and every other byte become \\ and \xNN.  cut appends "...".
 * dst always ends up NUL-terminated; what does not fit is dropped whole.
 */
static void
check_escape(char *dst, size_t dstsz, const char *src, size_t n, bool cut)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char c;

	if (dstsz == 0)
		return;
	for (i = 0; i < n; i++) {
		c = (unsigned char)src[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= dstsz)
				break;
			dst[o++] = (char)c;
		} else if (c == '\\') {
			if (o + 2 >= dstsz)
				break;
			dst[o++] = '\\';
			dst[o++] = '\\';
		} else {
			if (o + 4 >= dstsz)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
	}
	if ((cut || i < n) && o + 3 < dstsz) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/*
 * Bytes allowed in our own command arguments: printable ASCII without
 * space and angle brackets, which would end the path early.
 */
static bool
check_path_chars_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '<' || *s == '>')
			return false;
	return true;
}

/* Split LOCAL@DOMAIN at its last '@'; false when either part is bad. */
static bool
check_split_addr(const char *arg, char *local, size_t localsz, char *domain,
    size_t domainsz, bool domain_needed)
{
	const char *at;
	size_t n;

	if (!check_path_chars_ok(arg))
		return false;
	if ((at = strrchr(arg, '@')) == NULL) {
		if (domain_needed)
			return false;
		at = arg + strlen(arg);
		domain[0] = '\0';
	} else {
		n = strlen(at + 1);
		if (n == 0 || n >= domainsz)
			return false;
		memcpy(domain, at + 1, n + 1);
	}
	n = (size_t)(at - arg);
	if (n == 0 || n >= localsz)
		return false;
	memcpy(local, arg, n);
	local[n] = '\0';
	return true;
}

/* Seconds, decimals allowed, into milliseconds in [1, 1 hour]. */
static bool
check_parse_timeout(const char *arg, int *ms)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' || !(d > 0) ||
	    d * 1000 > CHECK_MAX_TIMEOUT_MS)
		return false;
	*ms = (int)(d * 1000 + 0.5);
	if (*ms < 1)
		*ms = 1;
	return true;
}

/*
 * HOST, HOST:PORT, [V6], [V6]:PORT or a bare IPv6 address (more than one
 * colon and no brackets: no port).
 */
static bool
check_parse_target(const char *arg, struct check_opts *o)
{
	const char *host = arg, *port = NULL, *colon, *end;
	size_t hostlen, i;
	unsigned long p;
	char *pend;

	if (arg[0] == '[') {
		if ((end = strchr(arg, ']')) == NULL)
			return false;
		host = arg + 1;
		hostlen = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return false;
	} else if ((colon = strchr(arg, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		hostlen = (size_t)(colon - arg);
		port = colon + 1;
	} else
		hostlen = strlen(arg);
	if (hostlen == 0 || hostlen >= sizeof(o->host))
		return false;
	for (i = 0; i < hostlen; i++)
		if ((unsigned char)host[i] <= 0x20 ||
		    (unsigned char)host[i] >= 0x7f)
			return false;
	memcpy(o->host, host, hostlen);
	o->host[hostlen] = '\0';
	if (port == NULL) {
		memcpy(o->port, CHECK_DEFAULT_PORT, sizeof(CHECK_DEFAULT_PORT));
		return true;
	}
	if (port[0] < '0' || port[0] > '9' || strlen(port) > 5)
		return false;
	errno = 0;
	p = strtoul(port, &pend, 10);
	if (errno != 0 || *pend != '\0' || p < 1 || p > 65535)
		return false;
	(void)snprintf(o->port, sizeof(o->port), "%lu", p);
	return true;
}

/* Returns -1 to go on, else the exit status (help or a bad argument). */
static int
check_parse_args(int argc, char **argv, struct check_opts *o)
{
	const char *to = CHECK_DEFAULT_TO, *from = NULL, *helo = NULL;
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "to", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'f' },
		{ "helo", required_argument, NULL, 'H' },
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	const char *target = NULL;
	int ch;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = CHECK_DEFAULT_TIMEOUT_MS;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			check_usage(stdout);
			return 0;
		case 'j':
			o->json = true;
			break;
		case 't':
			to = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 'H':
			helo = optarg;
			break;
		case 'T':
			if (!check_parse_timeout(optarg, &o->timeout_ms)) {
				check_warnx("bad --timeout '%s': seconds, "
				    "more than 0 and at most 3600", optarg);
				goto usage;
			}
			break;
		case ':':
			check_warnx("option %s needs a value", argv[optind - 1]);
			goto usage;
		default:
			if (optopt != 0)
				check_warnx("unknown option '-%c'", optopt);
			else
				check_warnx("unknown option '%s'",
				    argv[optind - 1]);
			goto usage;
		}
	}
	if (argc - optind > 1) {
		check_warnx("unexpected argument '%s' (one HOST[:PORT] only)",
		    argv[optind + 1]);
		goto usage;
	}
	if (optind < argc)
		target = argv[optind];
	if (target == NULL) {
		check_warnx("missing HOST[:PORT]");
		goto usage;
	}
	if (!check_parse_target(target, o)) {
		check_warnx("bad target '%s': want HOST, HOST:PORT, "
		    "[IPV6]:PORT or IPV6 (port 1-65535)", target);
		goto usage;
	}
	if (!check_split_addr(to, o->to_local, sizeof(o->to_local),
	    o->to_domain, sizeof(o->to_domain), true)) {
		check_warnx("bad --to '%s': want LOCAL@DOMAIN, printable, no "
		    "spaces or angle brackets", to);
		goto usage;
	}
	if (from == NULL) {
		memcpy(o->from_local, CHECK_DEFAULT_FROM,
		    sizeof(CHECK_DEFAULT_FROM));
		o->from_domain[0] = '\0';
	} else if (!check_split_addr(from, o->from_local,
	    sizeof(o->from_local), o->from_domain, sizeof(o->from_domain),
	    false)) {
		check_warnx("bad --from '%s': want LOCAL or LOCAL@DOMAIN, "
		    "printable, no spaces or angle brackets", from);
		goto usage;
	}
	if (o->from_domain[0] == '\0')
		memcpy(o->from_domain, o->to_domain, sizeof(o->from_domain));
	if (helo == NULL)
		memcpy(o->helo, o->to_domain, sizeof(o->helo));
	else if (helo[0] == '\0' || strlen(helo) >= sizeof(o->helo) ||
	    !check_path_chars_ok(helo)) {
		check_warnx("bad --helo '%s': want a name of printable "
		    "characters, no spaces", helo);
		goto usage;
	} else
		memcpy(o->helo, helo, strlen(helo) + 1);
	return -1;
usage:
	check_usage(stderr);
	return CHECK_EXIT_ERROR;
}

/* 1: ready, 0: deadline passed, -1: poll failed (errno set). */
static int
check_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int rc;

	for (;;) {
		if ((left = deadline - check_now_ms()) <= 0)
			return 0;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc > 0)
			return 1;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

static void
check_conn_close(struct check_conn *c)
{
	if (c->fd >= 0)
		(void)close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Connect within the timeout; 0 on success, else an errno value. */
static int
check_conn_open(struct check_conn *c, const struct sockaddr *sa,
    socklen_t salen, int timeout_ms)
{
	socklen_t len = sizeof(int);
	int fd, err = 0, w;

	c->fd = -1;
	c->len = 0;
	c->timeout_ms = timeout_ms;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return errno;
	if (connect(fd, sa, salen) != 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			(void)close(fd);
			return err;
		}
		w = check_wait(fd, POLLOUT, check_now_ms() + timeout_ms);
		if (w <= 0) {
			err = w == 0 ? ETIMEDOUT : errno;
			(void)close(fd);
			return err;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			(void)close(fd);
			return err;
		}
	}
	c->fd = fd;
	return 0;
}

static enum check_io
check_send(struct check_conn *c, const char *line, size_t n)
{
	int64_t deadline = check_now_ms() + c->timeout_ms;
	size_t off = 0;
	ssize_t w;
	int rc;

	while (off < n) {
		if ((rc = check_wait(c->fd, POLLOUT, deadline)) == 0)
			return CHECK_IO_TIMEOUT;
		if (rc < 0) {
			c->err = errno;
			return CHECK_IO_ERROR;
		}
		w = send(c->fd, line + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			c->err = errno;
			return errno == EPIPE || errno == ECONNRESET ?
			    CHECK_IO_CLOSED : CHECK_IO_ERROR;
		}
		off += (size_t)w;
	}
	return CHECK_IO_OK;
}

/* Read more bytes into c->buf before deadline. */
static enum check_io
check_fill(struct check_conn *c, int64_t deadline)
{
	ssize_t r;
	int rc;

	for (;;) {
		if (c->len >= sizeof(c->buf)) {
			/* Unreachable while CHECK_LINE_MAX < the buffer. */
			c->bad = "reply does not fit the buffer";
			return CHECK_IO_BAD;
		}
		if ((rc = check_wait(c->fd, POLLIN, deadline)) == 0)
			return CHECK_IO_TIMEOUT;
		if (rc < 0) {
			c->err = errno;
			return CHECK_IO_ERROR;
		}
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r > 0) {
			c->len += (size_t)r;
			return CHECK_IO_OK;
		}
		if (r == 0) {
			c->err = 0;
			return CHECK_IO_CLOSED;
		}
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue;
		c->err = errno;
		return errno == ECONNRESET ? CHECK_IO_CLOSED : CHECK_IO_ERROR;
	}
}

/*
 * The first n bytes of a reply line (n may be short of the whole line)
 * could start "DDD", "DDD-" or "DDD ", the first digit 2 to 5.  Checked
 * as bytes arrive, so junk fails at once rather than at the timeout.
 */
static bool
check_line_head_ok(const char *p, size_t n)
{
	if (n > 0 && (p[0] < '2' || p[0] > '5'))
		return false;
	if (n > 1 && (p[1] < '0' || p[1] > '9'))
		return false;
	if (n > 2 && (p[2] < '0' || p[2] > '9'))
		return false;
	if (n > 3 && p[3] != ' ' && p[3] != '-' && p[3] != '\r' &&
	    p[3] != '\n')
		return false;
	return true;
}

/*
 * Read one whole reply: lines "DDD-text" up to the last "DDD text" (or a
 * bare "DDD").  The first line is kept, bounded, in r->first.
 */
static enum check_io
check_reply_read(struct check_conn *c, struct check_reply *r)
{
	int64_t deadline = check_now_ms() + c->timeout_ms;
	enum check_io io;
	const char *nl;
	size_t linelen, used;
	bool last;
	int code;

	memset(r, 0, sizeof(*r));
	for (;;) {
		nl = memchr(c->buf, '\n', c->len);
		if (nl == NULL) {
			if (!check_line_head_ok(c->buf, c->len)) {
				c->bad = "malformed reply line";
				return CHECK_IO_BAD;
			}
			if (c->len >= CHECK_LINE_MAX) {
				c->bad = "reply line too long";
				return CHECK_IO_BAD;
			}
			if ((io = check_fill(c, deadline)) != CHECK_IO_OK)
				return io;
			continue;
		}
		used = (size_t)(nl - c->buf) + 1;
		linelen = used - 1;
		if (linelen > 0 && c->buf[linelen - 1] == '\r')
			linelen--;
		if (linelen > CHECK_LINE_MAX) {
			c->bad = "reply line too long";
			return CHECK_IO_BAD;
		}
		if (linelen < 3 || !check_line_head_ok(c->buf, linelen)) {
			c->bad = "malformed reply line";
			return CHECK_IO_BAD;
		}
		code = (c->buf[0] - '0') * 100 + (c->buf[1] - '0') * 10 +
		    (c->buf[2] - '0');
		last = linelen == 3 || c->buf[3] == ' ';
		if (r->lines == 0) {
			r->code = code;
			r->first_len = linelen < sizeof(r->first) ?
			    linelen : sizeof(r->first);
			r->first_cut = linelen > sizeof(r->first);
			memcpy(r->first, c->buf, r->first_len);
		} else if (code != r->code) {
			c->bad = "reply lines with different codes";
			return CHECK_IO_BAD;
		}
		r->lines++;
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		if (last)
			return CHECK_IO_OK;
		if (r->lines >= CHECK_REPLY_LINES_MAX) {
			c->bad = "reply with too many lines";
			return CHECK_IO_BAD;
		}
	}
}

/* Send one command line (CRLF added) and read its reply. */
static enum check_io __attribute__((format(printf, 3, 4)))
check_command(struct check_conn *c, struct check_reply *r,
    const char *fmt, ...)
{
	char line[CHECK_CMD_MAX];
	enum check_io io;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	/* Paths are bounded when built; a cut command is a bug. */
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		c->bad = "command too long";
		return CHECK_IO_BAD;
	}
	memcpy(line + n, "\r\n", 2);
	if ((io = check_send(c, line, (size_t)n + 2)) != CHECK_IO_OK)
		return io;
	return check_reply_read(c, r);
}

/*
 * A host name as the server announces it: letters, digits, '.', '-',
 * starting with a letter or digit.  Only such a name goes into our
 * commands; anything else the server says stays out of them.
 */
static bool
check_take_name(const char *p, size_t n, char *dst, size_t dstsz)
{
	size_t i;

	if (n == 0 || n >= dstsz || n > CHECK_DOMAIN_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (i > 0 && (c == '.' || c == '-'))))
			return false;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
	return true;
}

/* The first word after "DDD " or "DDD-" of a kept first line. */
static bool
check_name_from_reply(const struct check_reply *r, char *dst, size_t dstsz)
{
	const char *p, *end;
	size_t n;

	if (r->first_len < 5)
		return false;
	p = r->first + 4;
	end = r->first + r->first_len;
	for (n = 0; p + n < end && p[n] != ' ' && p[n] != '\t'; n++)
		;
	/* A word cut at the end of the kept bytes may be longer. */
	if (p + n == end && r->first_cut)
		return false;
	return check_take_name(p, n, dst, dstsz);
}

static void
check_show_reply(char *dst, size_t dstsz, const struct check_reply *r)
{
	check_escape(dst, dstsz, r->first, r->first_len, r->first_cut);
}

/*
 * Describe a failed exchange in res (verdict reset) and close the
 * connection.  BAD replies are not a test result but a broken server:
 * they set s->fatal.
 */
static void
check_io_failed(struct check_session *s, struct check_result *res,
    const char *stage, enum check_io io)
{
	struct check_conn *c = &s->conn;
	char bad[CHECK_SHOW_MAX];

	res->verdict = CHECK_RESET;
	res->stage = stage;
	res->code = 0;
	switch (io) {
	case CHECK_IO_CLOSED:
		if (c->err != 0)
			(void)snprintf(res->detail, sizeof(res->detail),
			    "connection reset (%s) awaiting the %s reply",
			    strerror(c->err), stage);
		else
			(void)snprintf(res->detail, sizeof(res->detail),
			    "connection closed awaiting the %s reply", stage);
		break;
	case CHECK_IO_TIMEOUT:
		(void)snprintf(res->detail, sizeof(res->detail),
		    "no reply to %s within %d.%03d s", stage,
		    c->timeout_ms / 1000, c->timeout_ms % 1000);
		s->fails++;
		break;
	case CHECK_IO_BAD:
		res->verdict = CHECK_NOT_RUN;
		check_escape(bad, sizeof(bad), c->buf,
		    c->len < 64 ? c->len : 64, c->len > 64);
		(void)snprintf(res->detail, sizeof(res->detail),
		    "%s in the %s reply", c->bad, stage);
		if (c->len > 0)
			(void)snprintf(s->fatal, sizeof(s->fatal),
			    "%s in the %s reply (\"%s\")", c->bad, stage,
			    bad);
		else
			(void)snprintf(s->fatal, sizeof(s->fatal),
			    "%s in the %s reply", c->bad, stage);
		break;
	case CHECK_IO_ERROR:
	default:
		(void)snprintf(res->detail, sizeof(res->detail),
		    "%s awaiting the %s reply", strerror(c->err), stage);
		s->fails++;
		break;
	}
	check_conn_close(c);
}

static void
check_refused(struct check_session *s, struct check_result *res,
    const char *stage, const struct check_reply *r)
{
	res->verdict = CHECK_REFUSED;
	res->stage = stage;
	res->code = r->code;
	check_show_reply(res->detail, sizeof(res->detail), r);
	if (r->code == 421)
		s->closing = true;
	/* A test that ends in a reply counts failures anew. */
	s->fails = 0;
}

/*
 * Connect to the remembered address, read the banner and greet.  On
 * failure res says why (reset or refused) and false is returned.
 */
static bool
check_session_open(struct check_session *s, struct check_result *res)
{
	struct check_reply r;
	enum check_io io;
	int err;

	s->connections++;
	s->closing = false;
	/* The first connection is made while resolving. */
	err = s->conn.fd >= 0 ? 0 : check_conn_open(&s->conn,
	    (struct sockaddr *)&s->ss, s->sslen, s->o->timeout_ms);
	if (err != 0) {
		res->verdict = CHECK_RESET;
		res->stage = "connect";
		res->code = 0;
		(void)snprintf(res->detail, sizeof(res->detail),
		    "cannot connect: %s", strerror(err));
		s->fails++;
		return false;
	}
	if ((io = check_reply_read(&s->conn, &r)) != CHECK_IO_OK) {
		check_io_failed(s, res, "banner", io);
		return false;
	}
	if (s->banner[0] == '\0')
		check_show_reply(s->banner, sizeof(s->banner), &r);
	if (s->srvname_src == NULL &&
	    check_name_from_reply(&r, s->srvname, sizeof(s->srvname)))
		s->srvname_src = "banner";
	if (r.code / 100 != 2) {
		check_refused(s, res, "banner", &r);
		check_conn_close(&s->conn);
		return false;
	}
	s->greeting = "EHLO";
	io = check_command(&s->conn, &r, "EHLO %s", s->o->helo);
	if (io == CHECK_IO_OK && r.code / 100 == 5) {
		/* RFC 5321 4.1.4: an old server answers EHLO with 5xx. */
		s->greeting = "HELO";
		io = check_command(&s->conn, &r, "HELO %s", s->o->helo);
	}
	if (io != CHECK_IO_OK) {
		check_io_failed(s, res, s->greeting, io);
		return false;
	}
	if (r.code / 100 != 2) {
		check_refused(s, res, s->greeting, &r);
		check_conn_close(&s->conn);
		return false;
	}
	if (s->srvname_src == NULL &&
	    check_name_from_reply(&r, s->srvname, sizeof(s->srvname)))
		s->srvname_src = s->greeting;
	return true;
}

/*
 * Resolve HOST and connect to the first address that answers; remember
 * it for reconnecting.  False after printing why.
 */
static bool
check_first_connect(struct check_session *s)
{
	const struct check_opts *o = s->o;
	struct addrinfo hints, *res0, *ai;
	int err = 0, rc, n;
	const void *a;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(o->host, o->port, &hints, &res0)) != 0) {
		(void)snprintf(s->fatal, sizeof(s->fatal),
		    "cannot resolve %s: %s", o->host, gai_strerror(rc));
		return false;
	}
	for (ai = res0, n = 0; ai != NULL && n < CHECK_ADDRS_MAX;
	    ai = ai->ai_next, n++) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(s->ss))
			continue;
		err = check_conn_open(&s->conn, ai->ai_addr, ai->ai_addrlen,
		    o->timeout_ms);
		if (err == 0)
			break;
	}
	if (ai == NULL || n >= CHECK_ADDRS_MAX) {
		(void)snprintf(s->fatal, sizeof(s->fatal),
		    "cannot connect to %s port %s: %s", o->host, o->port,
		    err != 0 ? strerror(err) : "no usable address");
		freeaddrinfo(res0);
		return false;
	}
	memcpy(&s->ss, ai->ai_addr, ai->ai_addrlen);
	s->sslen = ai->ai_addrlen;
	freeaddrinfo(res0);
	if (s->ss.ss_family == AF_INET)
		a = &((struct sockaddr_in *)&s->ss)->sin_addr;
	else
		a = &((struct sockaddr_in6 *)&s->ss)->sin6_addr;
	if (inet_ntop(s->ss.ss_family, a, s->addr, sizeof(s->addr)) == NULL)
		memcpy(s->addr, "?", 2);
	/* RFC 5321 4.1.3: IPv6 literals carry an "IPv6:" tag. */
	(void)snprintf(s->iplit, sizeof(s->iplit), "[%s%s]",
	    s->ss.ss_family == AF_INET6 ? "IPv6:" : "", s->addr);
	return true;
}

/* Build the sixteen tests; false if a path would not fit (a bug). */
static bool
check_build_tests(struct check_session *s)
{
	const struct check_opts *o = s->o;
	const char *user = o->to_local, *dom = o->to_domain;
	const char *srv = s->srvname, *ip = s->iplit, *fl = o->from_local;
	struct check_test *t = s->tests;
	size_t total = 0;
	int i;

#define FROM(i, ...) total |= (size_t)snprintf(t[i].from, \
	sizeof(t[i].from), __VA_ARGS__) >= sizeof(t[i].from)
#define TO(i, ...) total |= (size_t)snprintf(t[i].to, \
	sizeof(t[i].to), __VA_ARGS__) >= sizeof(t[i].to)
	/* Plain foreign recipient, from four kinds of sender. */
	FROM(0, "%s", "");
	FROM(1, "%s@%s", fl, o->from_domain);
	FROM(2, "%s@%s", fl, srv);
	for (i = 3; i < CHECK_NTESTS; i++)
		FROM(i, "%s@%s", fl, ip);
	for (i = 0; i < 4; i++)
		TO(i, "%s@%s", user, dom);
	/* %-hack through the server's literal and name. */
	TO(4, "%s%%%s@%s", user, dom, ip);
	TO(5, "%s%%%s@%s", user, dom, srv);
	/* Quoted local parts holding the route, bare. */
	TO(6, "\"%s@%s\"", user, dom);
	TO(7, "\"%s%%%s\"", user, dom);
	/* Double @, and a quoted route, at the server. */
	TO(8, "%s@%s@%s", user, dom, ip);
	TO(9, "\"%s@%s\"@%s", user, dom, ip);
	TO(10, "%s@%s@%s", user, dom, srv);
	/* Source routes through the server. */
	TO(11, "@%s:%s@%s", ip, user, dom);
	TO(12, "@%s:%s@%s", srv, user, dom);
	/* Bang paths: bare, at the literal, at the name. */
	TO(13, "%s!%s", dom, user);
	TO(14, "%s!%s@%s", dom, user, ip);
	TO(15, "%s!%s@%s", dom, user, srv);
#undef FROM
#undef TO
	return total == 0;
}

/* Run test i: reconnect if needed, RSET, MAIL FROM, RCPT TO. */
static void
check_run_test(struct check_session *s, int i)
{
	const struct check_test *t = &s->tests[i];
	struct check_result *res = &s->results[i];
	struct check_reply r;
	enum check_io io;

	if (s->closing)
		check_conn_close(&s->conn);
	if (s->conn.fd < 0) {
		if (s->fails >= CHECK_FAILS_MAX) {
			res->verdict = CHECK_RESET;
			res->stage = "connect";
			(void)snprintf(res->detail, sizeof(res->detail),
			    "not tried after %d failed or silent connections "
			    "in a row", s->fails);
			return;
		}
		if (!check_session_open(s, res))
			return;
	}
	if ((io = check_command(&s->conn, &r, "RSET")) != CHECK_IO_OK) {
		check_io_failed(s, res, "RSET", io);
		return;
	}
	if (r.code == 421) {
		check_refused(s, res, "RSET", &r);
		return;
	}
	io = check_command(&s->conn, &r, "MAIL FROM:<%s>", t->from);
	if (io != CHECK_IO_OK) {
		check_io_failed(s, res, "MAIL", io);
		return;
	}
	if (r.code / 100 != 2) {
		check_refused(s, res, "MAIL", &r);
		return;
	}
	io = check_command(&s->conn, &r, "RCPT TO:<%s>", t->to);
	if (io != CHECK_IO_OK) {
		check_io_failed(s, res, "RCPT", io);
		return;
	}
	if (r.code / 100 == 2) {
		res->verdict = CHECK_ACCEPTED;
		res->stage = "RCPT";
		s->fails = 0;
		res->code = r.code;
		check_show_reply(res->detail, sizeof(res->detail), &r);
	} else
		check_refused(s, res, "RCPT", &r);
}

static void
check_print_test(const struct check_session *s, int i)
{
	const struct check_result *res = &s->results[i];
	const char *stage = res->stage != NULL ? res->stage : "-";

	printf("%2d %-8s MAIL FROM:<%s> RCPT TO:<%s> -> ", i + 1,
	    check_verdict_names[res->verdict], s->tests[i].from,
	    s->tests[i].to);
	if (res->code != 0 && strcmp(stage, "RCPT") != 0)
		printf("%s: %s\n", stage, res->detail);
	else
		printf("%s\n", res->detail);
	(void)fflush(stdout);
}

static int
check_count(const struct check_session *s, enum check_verdict v)
{
	int i, n = 0;

	for (i = 0; i < CHECK_NTESTS; i++)
		if (s->results[i].verdict == v)
			n++;
	return n;
}

static void
check_print_json(const struct check_session *s, int port)
{
	const struct check_opts *o = s->o;
	json_t *root, *tests, *t;
	char *text;
	int i;

	root = json_object();
	tests = json_array();
	if (root == NULL || tests == NULL)
		goto oom;
	json_object_set_new(root, "host", json_string(o->host));
	json_object_set_new(root, "port", json_integer(port));
	if (s->addr[0] != '\0')
		json_object_set_new(root, "address", json_string(s->addr));
	if (s->banner[0] != '\0')
		json_object_set_new(root, "banner", json_string(s->banner));
	if (s->greeting != NULL)
		json_object_set_new(root, "greeting",
		    json_string(s->greeting));
	if (s->srvname_src != NULL)
		json_object_set_new(root, "server_name",
		    json_string(s->srvname));
	for (i = 0; i < CHECK_NTESTS && s->tests[i].to[0] != '\0'; i++) {
		const struct check_result *res = &s->results[i];

		t = json_pack("{s:i, s:s, s:s, s:s, s:s}",
		    "test", i + 1,
		    "mail_from", s->tests[i].from,
		    "rcpt_to", s->tests[i].to,
		    "verdict", check_verdict_names[res->verdict],
		    "reply", res->detail);
		if (t == NULL)
			goto oom;
		if (res->stage != NULL)
			json_object_set_new(t, "stage",
			    json_string(res->stage));
		if (res->code != 0)
			json_object_set_new(t, "code",
			    json_integer(res->code));
		json_array_append_new(tests, t);
	}
	json_object_set_new(root, "tests", tests);
	tests = NULL;
	json_object_set_new(root, "accepted",
	    json_integer(check_count(s, CHECK_ACCEPTED)));
	json_object_set_new(root, "refused",
	    json_integer(check_count(s, CHECK_REFUSED)));
	json_object_set_new(root, "reset",
	    json_integer(check_count(s, CHECK_RESET)));
	json_object_set_new(root, "total", json_integer(CHECK_NTESTS));
	json_object_set_new(root, "connections",
	    json_integer(s->connections));
	json_object_set_new(root, "open_relay",
	    json_boolean(check_count(s, CHECK_ACCEPTED) > 0));
	if (s->fatal[0] != '\0')
		json_object_set_new(root, "error", json_string(s->fatal));
	if ((text = json_dumps(root, JSON_COMPACT)) == NULL)
		goto oom;
	printf("%s\n", text);
	free(text);
	json_decref(root);
	return;
oom:
	json_decref(tests);
	json_decref(root);
	check_warnx("out of memory writing JSON");
}

int
cmd_check(int argc, char **argv, const char *config_path, bool config_given)
{
	struct check_opts o;
	struct check_session *s;
	struct check_result first;
	struct check_reply r;
	int rc, i, accepted, port;

	/* check talks to any server; it needs no configuration. */
	(void)config_path;
	(void)config_given;
	if ((rc = check_parse_args(argc, argv, &o)) >= 0)
		return rc;
	port = atoi(o.port);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		check_warnx("out of memory");
		return CHECK_EXIT_ERROR;
	}
	s->o = &o;
	s->conn.fd = -1;
	memset(&first, 0, sizeof(first));
	rc = CHECK_EXIT_ERROR;
	if (!check_first_connect(s))
		goto fatal;
	if (!check_session_open(s, &first)) {
		if (s->fatal[0] == '\0')
			(void)snprintf(s->fatal, sizeof(s->fatal),
			    "%s port %s: %s%s%s", o.host, o.port,
			    first.code != 0 ? first.stage : "",
			    first.code != 0 ? " refused: " : "",
			    first.detail);
		goto fatal;
	}
	if (s->srvname_src == NULL)
		memcpy(s->srvname, s->iplit, strlen(s->iplit) + 1);
	if (!check_build_tests(s)) {
		(void)snprintf(s->fatal, sizeof(s->fatal),
		    "a test address is too long");
		goto fatal;
	}
	if (!o.json) {
		printf("check %s port %s (%s): %s\n", o.host, o.port, s->addr,
		    s->banner);
		printf("server name %s (%s), address literal %s, %s\n",
		    s->srvname, s->srvname_src != NULL ? s->srvname_src :
		    "none announced", s->iplit, s->greeting);
	}
	for (i = 0; i < CHECK_NTESTS && s->fatal[0] == '\0'; i++) {
		check_run_test(s, i);
		if (!o.json)
			check_print_test(s, i);
	}
	if (s->conn.fd >= 0 && !s->closing) {
		/* The QUIT reply does not matter; its failure neither. */
		(void)check_command(&s->conn, &r, "QUIT");
		check_conn_close(&s->conn);
	}
	accepted = check_count(s, CHECK_ACCEPTED);
	if (accepted > 0)
		rc = CHECK_EXIT_OPEN;
	else if (s->fatal[0] == '\0')
		rc = CHECK_EXIT_CLOSED;
	if (o.json)
		check_print_json(s, port);
	else {
		printf("%d connection%s, %d accepted, %d refused, %d reset\n",
		    s->connections, s->connections == 1 ? "" : "s", accepted,
		    check_count(s, CHECK_REFUSED), check_count(s, CHECK_RESET));
		if (accepted > 0)
			printf("OPEN RELAY: %d of %d tests accepted\n",
			    accepted, CHECK_NTESTS);
		else if (s->fatal[0] == '\0')
			printf("not an open relay: 0 of %d tests accepted\n",
			    CHECK_NTESTS);
		else
			printf("check incomplete: 0 of %d tests accepted, %d "
			    "not run\n", CHECK_NTESTS,
			    check_count(s, CHECK_NOT_RUN));
	}
	if (s->fatal[0] != '\0')
		check_warnx("%s", s->fatal);
	goto done;
fatal:
	if (o.json)
		check_print_json(s, port);
	check_warnx("%s", s->fatal);
done:
	check_conn_close(&s->conn);
	free(s);
	if (fflush(stdout) != 0) {
		perror("relayguard: check: stdout");
		return CHECK_EXIT_ERROR;
	}
	return rc;
}
