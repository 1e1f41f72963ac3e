/*
 * smtp-mix.c — the load of bench/inline's mixed run: an SMTP sink that
 * answers AUTH with 235 and STARTTLS with 220 (smtp-sink does neither),
 * and a source that runs sessions of one kind against it.
 *
 *	smtp-mix sink ADDR PORT
 *	smtp-mix source KIND SESSIONS PARALLEL SIZE SRC DST PORT [RELAY]
 *
 * KIND is plain (EHLO, MAIL, RCPT, DATA, a body of SIZE bytes, QUIT),
 * auth (the same after AUTH PLAIN and its 235) or tls (EHLO, STARTTLS,
 * its 220, then SIZE opaque bytes and the end of the client's side; the
 * sink reads to the end and closes).  Recipients are at example.test, a
 * local domain, except that with RELAY (plain only) every RELAY-th
 * session asks for relay-target@elsewhere.test instead: a relay attempt,
 * which relayguardd resets (counted "stopped": the connection dies before
 * the RCPT's reply) and a server without it accepts (counted "relayed").
 * The source binds to SRC, keeps PARALLEL sessions open until SESSIONS
 * are done (bounded: a session that gets no answer for 10 s fails the
 * run) and prints "sessions N seconds S rate R attempts A stopped S
 * relayed R" on stdout.  The sink runs until killed.
 * IPv4 only; every loop is bounded by its sessions or by the timeout.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIX_BUF		8192
#define MIX_MAXPAR	512
#define MIX_TIMEOUT_MS	10000

static double
mix_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
mix_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int
mix_addr(const char *a, const char *port, struct sockaddr_in *sin)
{
	char *end;
	unsigned long p = port != NULL ? strtoul(port, &end, 10) : 0;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, a, &sin->sin_addr) != 1 ||
	    (port != NULL && (*end != '\0' || p == 0 || p > 65535))) {
		fprintf(stderr, "smtp-mix: bad address %s %s\n", a,
		    port != NULL ? port : "");
		return -1;
	}
	sin->sin_port = htons((uint16_t)p);
	return 0;
}

/* --- sink ----------------------------------------------------------- */

enum sink_state { SK_CMD, SK_DATA, SK_OPAQUE };

struct sink_conn {
	int fd;
	enum sink_state st;
	char line[1024];
	size_t llen;
	int dots;		/* end-of-data matcher: bytes of "\r\n.\r\n" */
};

static void
sink_say(struct sink_conn *c, const char *s)
{
	/* Replies are short and the socket buffer is empty between them. */
	if (write(c->fd, s, strlen(s)) < 0)
		c->st = SK_OPAQUE;
}

/* One command line; false when the session ends. */
static int
sink_command(struct sink_conn *c)
{
	const char *l = c->line;

	if (strncasecmp(l, "EHLO", 4) == 0)
		sink_say(c, "250-sink.example.test\r\n250-PIPELINING\r\n"
		    "250-AUTH PLAIN\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
	else if (strncasecmp(l, "AUTH", 4) == 0)
		sink_say(c, "235 2.7.0 Authentication successful\r\n");
	else if (strncasecmp(l, "STARTTLS", 8) == 0) {
		sink_say(c, "220 2.0.0 Ready to start TLS\r\n");
		c->st = SK_OPAQUE;
	} else if (strncasecmp(l, "DATA", 4) == 0) {
		sink_say(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
		c->st = SK_DATA;
		c->dots = 2;	/* the DATA line's CRLF counts */
	} else if (strncasecmp(l, "QUIT", 4) == 0) {
		sink_say(c, "221 2.0.0 Bye\r\n");
		return 0;
	} else
		sink_say(c, "250 2.0.0 Ok\r\n");
	return 1;
}

/* Bytes from the client; false when the connection should close. */
static int
sink_input(struct sink_conn *c, const char *b, size_t n)
{
	static const char eod[] = "\r\n.\r\n";
	size_t i;

	for (i = 0; i < n; i++) {
		if (c->st == SK_OPAQUE)
			return 1;	/* read on to the end */
		if (c->st == SK_DATA) {
			if (b[i] == eod[c->dots])
				c->dots++;
			else
				c->dots = b[i] == '\r' ? 1 : 0;
			if (c->dots == 5) {
				c->st = SK_CMD;
				sink_say(c, "250 2.0.0 Ok: queued\r\n");
			}
			continue;
		}
		if (b[i] == '\n') {
			c->line[c->llen] = '\0';
			c->llen = 0;
			if (!sink_command(c))
				return 0;
			continue;
		}
		if (c->llen < sizeof(c->line) - 1)
			c->line[c->llen++] = b[i];
	}
	return 1;
}

static int
sink_main(const char *addr, const char *port)
{
	struct sockaddr_in sin;
	struct epoll_event ev, evs[64];
	struct sink_conn *c;
	char buf[MIX_BUF];
	int lfd, ep, n, i, fd, one = 1;
	ssize_t r;

	if (mix_addr(addr, port, &sin) < 0)
		return 2;
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 1024) < 0 || mix_nonblock(lfd) < 0 ||
	    (ep = epoll_create1(0)) < 0) {
		perror("smtp-mix sink");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	fprintf(stderr, "ready: sink %s:%s\n", addr, port);
	for (;;) {
		if ((n = epoll_wait(ep, evs, 64, -1)) < 0) {
			if (errno == EINTR)
				continue;
			perror("smtp-mix sink: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			if ((c = evs[i].data.ptr) == NULL) {
				while ((fd = accept(lfd, NULL, NULL)) >= 0) {
					if (mix_nonblock(fd) < 0 ||
					    (c = calloc(1, sizeof(*c))) == NULL) {
						close(fd);
						continue;
					}
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
					sink_say(c, "220 sink.example.test ESMTP "
					    "smtp-mix\r\n");
				}
				continue;
			}
			r = read(c->fd, buf, sizeof(buf));
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0 || !sink_input(c, buf, (size_t)r)) {
				close(c->fd);	/* leaves the epoll set */
				free(c);
			}
		}
	}
}

/* --- source --------------------------------------------------------- */

enum mix_kind { MIX_PLAIN, MIX_AUTH, MIX_TLS };

struct src_conn {
	int fd;
	int step;		/* index into the kind's script */
	double since;		/* last progress */
	char in[1024];
	size_t inlen;
	int relay;		/* a relay attempt (plain, RELAY) */
};

struct src {
	enum mix_kind kind;
	size_t size;
	const char *body;	/* SIZE bytes of body, dot-stuffing free */
	struct sockaddr_in src, dst;
	int ep;
	unsigned long done, started, total;
	unsigned long relay_every, attempts, stopped, relayed;
};

/* The client's lines, each sent once the previous reply is complete;
 * NULL: the body (plain, auth) or the opaque part (tls). */
static const char *const script_plain[] = {
	"EHLO bench.sender.test\r\n", "MAIL FROM:<bench@sender.test>\r\n",
	"RCPT TO:<user@example.test>\r\n", "DATA\r\n", NULL, "QUIT\r\n",
};
static const char *const script_auth[] = {
	"EHLO bench.sender.test\r\n", "AUTH PLAIN AGJlbmNoAHNlY3JldA==\r\n",
	"MAIL FROM:<bench@sender.test>\r\n",
	"RCPT TO:<user@example.test>\r\n", "DATA\r\n", NULL, "QUIT\r\n",
};
#define MIX_RCPT_STEP	2	/* script_plain[2]: the RCPT */
static const char mix_relay_rcpt[] = "RCPT TO:<relay-target@elsewhere.test>\r\n";
static const char *const script_tls[] = {
	"EHLO bench.sender.test\r\n", "STARTTLS\r\n", NULL,
};

static const char *const *
src_script(enum mix_kind k, int *n)
{
	switch (k) {
	case MIX_AUTH:
		*n = (int)(sizeof(script_auth) / sizeof(script_auth[0]));
		return script_auth;
	case MIX_TLS:
		*n = (int)(sizeof(script_tls) / sizeof(script_tls[0]));
		return script_tls;
	default:
		*n = (int)(sizeof(script_plain) / sizeof(script_plain[0]));
		return script_plain;
	}
}

static int
src_open(struct src *s)
{
	struct epoll_event ev;
	struct src_conn *c;
	int one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) < 0 ||
	    bind(c->fd, (struct sockaddr *)&s->src, sizeof(s->src)) < 0 ||
	    mix_nonblock(c->fd) < 0 ||
	    (connect(c->fd, (struct sockaddr *)&s->dst, sizeof(s->dst)) < 0 &&
	    errno != EINPROGRESS)) {
		perror("smtp-mix source: connect");
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->step = -1;		/* the banner comes first */
	if (s->kind == MIX_PLAIN && s->relay_every > 0 &&
	    s->started % s->relay_every == 0) {
		c->relay = 1;
		s->attempts++;
	}
	c->since = mix_now();
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	epoll_ctl(s->ep, EPOLL_CTL_ADD, c->fd, &ev);
	s->started++;
	return 0;
}

/* Write all of b (the socket buffer takes a session's few KB). */
static int
src_write(int fd, const char *b, size_t n)
{
	ssize_t w;
	unsigned guard = 0;

	while (n > 0 && guard++ < 100000) {
		if ((w = write(fd, b, n)) < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				struct timespec ts = { 0, 100000 };

				nanosleep(&ts, NULL);
				continue;
			}
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return n == 0 ? 0 : -1;
}

/* The next step after a complete reply; 1 when the session is over. */
static int
src_step(struct src *s, struct src_conn *c)
{
	const char *const *sc;
	int n;

	sc = src_script(s->kind, &n);
	c->step++;
	if (c->step >= n)
		return 1;
	if (c->relay && c->step == MIX_RCPT_STEP)
		return src_write(c->fd, mix_relay_rcpt,
		    sizeof(mix_relay_rcpt) - 1) < 0 ? -1 : 0;
	if (sc[c->step] != NULL)
		return src_write(c->fd, sc[c->step], strlen(sc[c->step])) < 0 ?
		    -1 : 0;
	if (s->kind == MIX_TLS) {
		/* Opaque bytes, then the end of our side. */
		if (src_write(c->fd, s->body, s->size) < 0)
			return -1;
		shutdown(c->fd, SHUT_WR);
		return 0;
	}
	if (src_write(c->fd, s->body, s->size) < 0 ||
	    src_write(c->fd, "\r\n.\r\n", 5) < 0)
		return -1;
	return 0;
}

/* Replies read: 1 session over, 0 go on, -1 failed. */
static int
src_input(struct src *s, struct src_conn *c)
{
	char buf[MIX_BUF];
	ssize_t r;
	size_t i;
	int rc;

	r = read(c->fd, buf, sizeof(buf));
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0 && c->relay && c->step == MIX_RCPT_STEP) {
		s->stopped++;	/* reset before the RCPT's reply */
		return 1;
	}
	if (r < 0)
		return -1;
	if (r == 0) {
		/* The sink closes after QUIT's 221 and after the opaque
		 * part: the end of a session either way. */
		return s->kind == MIX_TLS && c->step == 2 ? 1 : -1;
	}
	c->since = mix_now();
	for (i = 0; i < (size_t)r; i++) {
		if (c->inlen < sizeof(c->in) - 1)
			c->in[c->inlen++] = buf[i];
		if (buf[i] != '\n')
			continue;
		/* The last line of a reply: "NNN " */
		if (c->inlen >= 4 && c->in[3] == ' ') {
			if (c->in[0] != '2' && c->in[0] != '3') {
				c->in[c->inlen] = '\0';
				fprintf(stderr, "smtp-mix source: reply %s",
				    c->in);
				return -1;
			}
			if (c->relay && c->step == MIX_RCPT_STEP)
				s->relayed++;
			if ((rc = src_step(s, c)) != 0)
				return rc;
		}
		c->inlen = 0;
	}
	return 0;
}

static int
src_main(enum mix_kind kind, unsigned long total, unsigned par, size_t size,
    const char *srca, const char *dsta, const char *port,
    unsigned long relay_every)
{
	struct src s;
	struct epoll_event evs[64];
	struct src_conn *c;
	char *body;
	double t0, now, t1;
	size_t i;
	int n, k, rc;

	memset(&s, 0, sizeof(s));
	s.kind = kind;
	s.size = size;
	s.total = total;
	s.relay_every = relay_every;
	if (mix_addr(srca, NULL, &s.src) < 0 ||
	    mix_addr(dsta, port, &s.dst) < 0)
		return 2;
	if ((body = malloc(size + 2)) == NULL)
		return 1;
	/* Lines of 78 letters: nothing a reader could take for commands. */
	for (i = 0; i < size; i++)
		body[i] = (i % 80) == 78 ? '\r' : (i % 80) == 79 ? '\n' :
		    (char)('a' + (i % 26));
	s.body = body;
	if ((s.ep = epoll_create1(0)) < 0)
		return 1;
	t0 = mix_now();
	while (s.started < total && s.started - s.done < par)
		if (src_open(&s) < 0)
			return 1;
	while (s.done < total) {
		if ((n = epoll_wait(s.ep, evs, 64, 1000)) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		now = mix_now();
		for (k = 0; k < n; k++) {
			c = evs[k].data.ptr;
			rc = src_input(&s, c);
			if (rc == 0 && now - c->since < MIX_TIMEOUT_MS / 1e3)
				continue;
			if (rc <= 0) {
				fprintf(stderr, "smtp-mix source: session "
				    "failed at step %d\n", c->step);
				return 1;
			}
			close(c->fd);
			free(c);
			s.done++;
			if (s.started < total && src_open(&s) < 0)
				return 1;
		}
		if (n == 0 && mix_now() - t0 > 600) {
			fprintf(stderr, "smtp-mix source: no progress\n");
			return 1;
		}
	}
	t1 = mix_now();
	printf("sessions %lu seconds %.3f rate %.1f attempts %lu stopped %lu "
	    "relayed %lu\n", s.done, t1 - t0, (double)s.done / (t1 - t0),
	    s.attempts, s.stopped, s.relayed);
	free(body);
	return 0;
}

int
main(int argc, char *argv[])
{
	enum mix_kind kind;
	unsigned long total, par, size, relay = 0;

	if (argc == 4 && strcmp(argv[1], "sink") == 0)
		return sink_main(argv[2], argv[3]);
	if ((argc != 9 && argc != 10) || strcmp(argv[1], "source") != 0)
		goto usage;
	if (argc == 10)
		relay = strtoul(argv[9], NULL, 10);
	if (strcmp(argv[2], "plain") == 0)
		kind = MIX_PLAIN;
	else if (strcmp(argv[2], "auth") == 0)
		kind = MIX_AUTH;
	else if (strcmp(argv[2], "tls") == 0)
		kind = MIX_TLS;
	else
		goto usage;
	total = strtoul(argv[3], NULL, 10);
	par = strtoul(argv[4], NULL, 10);
	size = strtoul(argv[5], NULL, 10);
	if (total == 0 || par == 0 || par > MIX_MAXPAR || size == 0 ||
	    size > 16 * 1024 * 1024)
		goto usage;
	return src_main(kind, total, (unsigned)par, size, argv[6], argv[7],
	    argv[8], relay);
usage:
	fprintf(stderr, "usage: smtp-mix sink ADDR PORT\n"
	    "       smtp-mix source plain|auth|tls SESSIONS PARALLEL SIZE "
	    "SRC DST PORT [RELAY]\n");
	return 2;
}
