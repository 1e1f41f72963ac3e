/*
 * hooks.c — the on-block and on-unblock commands.
 *
 * The daemon cannot start a program itself: its seccomp filter kills it on
 * fork and execve (sandbox.c), and it keeps only CAP_NET_ADMIN and
 * CAP_NET_RAW.  So, as OpenBSD's daemons separate their privileges, a
 * small process, the hook runner, is forked at start-up before any of
 * that, while the daemon has no thread and no open state yet.  It gives up
 * every capability and takes no-new-privs, so an exec as root gains none
 * (the bounding set is emptied too where it may be: not under the systemd
 * unit, which gives no CAP_SETPCAP and keeps NET_ADMIN and NET_RAW in it),
 * then
 * waits on its end of a socketpair.  The main thread (never a worker: it
 * alone adds and lifts blocks) sends it one datagram per hook: the
 * program, its fixed arguments and the RELAYGUARD_* environment.  The
 * runner starts the program with posix_spawn (no shell) in a clean
 * environment and its own process group, standard input /dev/null, its
 * output read and logged a line at a time; it kills the whole group after
 * hook-timeout and logs every failure (cannot start, exit status, signal,
 * killed on time-out).
 *
 * The hook runs as root (uid 0) but with no capability at all: it can
 * read and write what root owns through ordinary file permissions, send
 * network traffic, run unprivileged programs; it cannot change the
 * firewall, load modules, trace or signal other users' processes, or gain
 * a privilege back through a setuid program.
 *
 * The main thread never waits on the runner: a request that does not fit
 * the socket buffer (the runner is busy with HOOKS_RUNNING programs) is
 * dropped and logged.  The runner ends when the daemon closes the socket
 * (after the programs still running finish or time out), or when the
 * daemon exits or dies (PR_SET_PDEATHSIG: it then kills what still runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hooks.h"
#include "log.h"

#define HOOKS_MSG_MAX 65536	/* one request, arguments and environment */
#define HOOKS_RUNNING 16	/* programs at once; more wait in the socket */
#define HOOKS_OUTPUT_MAX 4096	/* output logged per program */
#define HOOKS_STRINGS 32	/* arguments + environment entries */

static char hooks_path_env[] = "PATH=/usr/local/sbin:/usr/local/bin:"
    "/usr/sbin:/usr/bin:/sbin:/bin";

struct hooks_child {
	pid_t pid;
	int out;		/* its stdout and stderr, or -1 */
	char name[96];		/* "on-block 192.0.2.1/32", for the log */
	struct timespec deadline;
	bool killed;
	char line[256];		/* output not yet logged */
	size_t used, logged;
};

static int hooks_fd = -1;		/* the daemon's end */
static pid_t hooks_pid = -1;
static bool hooks_warned;
static uint64_t hooks_dropped;		/* requests the runner never got */
static time_t hooks_dropped_logged;

/* ---- the runner (its own process) ---- */

static void
hooks_drop_everything(void)
{
	cap_t caps;
	int c;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fatal("hook runner: prctl(PR_SET_NO_NEW_PRIVS)");
	for (c = 0; c <= CAP_LAST_CAP; c++)
		(void)prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if ((caps = cap_init()) == NULL || cap_set_proc(caps) < 0)
		fatal("hook runner: cap_set_proc");
	cap_free(caps);
}

static int
hooks_ms_until(const struct timespec *t)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(t->tv_sec - now.tv_sec) * 1000 +
	    (t->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms;
}

/* Log the complete lines of a child's output, at most HOOKS_OUTPUT_MAX
 * bytes of it; flush: the rest too. */
static void
hooks_output(struct hooks_child *ch, bool flush)
{
	char *nl;
	size_t n;

	while (ch->used > 0) {
		nl = memchr(ch->line, '\n', ch->used);
		if (nl == NULL && !flush && ch->used < sizeof(ch->line) - 1)
			return;
		n = nl != NULL ? (size_t)(nl - ch->line) : ch->used;
		if (ch->logged < HOOKS_OUTPUT_MAX)
			log_info("hook %s: %.*s", ch->name, (int)n, ch->line);
		ch->logged += n;
		if (nl != NULL)
			n++;
		memmove(ch->line, ch->line + n, ch->used - n);
		ch->used -= n;
	}
}

static void
hooks_read_output(struct hooks_child *ch)
{
	ssize_t r;

	if (ch->out < 0)
		return;
	r = read(ch->out, ch->line + ch->used, sizeof(ch->line) - 1 -
	    ch->used);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		hooks_output(ch, true);
		close(ch->out);
		ch->out = -1;
		return;
	}
	ch->used += (size_t)r;
	hooks_output(ch, false);
}

/* Unpack a request: argc, envc, then the strings, each NUL-terminated. */
static bool
hooks_unpack(char *msg, size_t len, char **argv, char **envp,
    struct timespec *timeout)
{
	uint32_t hdr[3], i, n;
	char *p, *end = msg + len;

	if (len < sizeof(hdr))
		return false;
	memcpy(hdr, msg, sizeof(hdr));
	if (hdr[0] == 0 || hdr[0] > HOOKS_STRINGS || hdr[1] > HOOKS_STRINGS ||
	    hdr[0] + hdr[1] > HOOKS_STRINGS)
		return false;
	timeout->tv_sec = hdr[2] / 1000;
	timeout->tv_nsec = (long)(hdr[2] % 1000) * 1000000;
	p = msg + sizeof(hdr);
	n = hdr[0] + hdr[1];
	for (i = 0; i < n; i++) {
		char *z = memchr(p, '\0', (size_t)(end - p));

		if (z == NULL)
			return false;
		if (i < hdr[0])
			argv[i] = p;
		else
			envp[i - hdr[0]] = p;
		p = z + 1;
	}
	argv[hdr[0]] = NULL;
	envp[hdr[1]] = hooks_path_env;
	envp[hdr[1] + 1] = NULL;
	return true;
}

static void
hooks_spawn(struct hooks_child *ch, char *msg, size_t len)
{
	char *argv[HOOKS_STRINGS + 1], *envp[HOOKS_STRINGS + 2];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	struct timespec timeout;
	const char *addr = "", *key = "on-unblock";
	sigset_t none, all;
	int pfd[2], rc, i;

	memset(ch, 0, sizeof(*ch));
	ch->pid = -1;
	ch->out = -1;
	if (!hooks_unpack(msg, len, argv, envp, &timeout)) {
		log_warnx("hook runner: malformed request ignored");
		return;
	}
	for (i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], "RELAYGUARD_ADDRESS=", 19) == 0)
			addr = envp[i] + 19;
		else if (strcmp(envp[i], "RELAYGUARD_EVENT=block") == 0)
			key = "on-block";
	snprintf(ch->name, sizeof(ch->name), "%s %s", key, addr);
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		log_warn("hook %s: pipe", ch->name);
		return;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	rc = posix_spawn(&ch->pid, argv[0], &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	if (rc != 0) {
		log_warnx("hook %s: cannot run %s: %s", ch->name, argv[0],
		    strerror(rc));
		close(pfd[0]);
		ch->pid = -1;
		return;
	}
	(void)fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	ch->out = pfd[0];
	clock_gettime(CLOCK_MONOTONIC, &ch->deadline);
	ch->deadline.tv_sec += timeout.tv_sec;
	ch->deadline.tv_nsec += timeout.tv_nsec;
	if (ch->deadline.tv_nsec >= 1000000000) {
		ch->deadline.tv_sec++;
		ch->deadline.tv_nsec -= 1000000000;
	}
	log_debug("hook %s: started, pid %d", ch->name, (int)ch->pid);
}

static void
hooks_reaped(struct hooks_child *ch, int status)
{
	int i;

	/* The group too: what the program left running in the background
	 * must not outlive it (nor hold its output pipe open). */
	(void)kill(-ch->pid, SIGKILL);
	for (i = 0; i < 16 && ch->out >= 0; i++)
		hooks_read_output(ch);
	if (ch->out >= 0) {
		hooks_output(ch, true);
		close(ch->out);
		ch->out = -1;
	}
	if (ch->killed)
		log_warnx("hook %s: killed after hook-timeout", ch->name);
	else if (WIFSIGNALED(status))
		log_warnx("hook %s: ended by signal %d", ch->name,
		    WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_warnx("hook %s: exit status %d", ch->name,
		    WEXITSTATUS(status));
	else
		log_debug("hook %s: done", ch->name);
	ch->pid = -1;
}

static volatile sig_atomic_t hooks_stopping;

static void
hooks_on_signal(int sig)
{
	(void)sig;
	hooks_stopping = 1;
}

static void __attribute__((noreturn))
hooks_runner(int fd, pid_t daemon)
{
	struct sigaction sa;
	static char msg[HOOKS_MSG_MAX];
	struct hooks_child ch[HOOKS_RUNNING];
	struct pollfd p[HOOKS_RUNNING + 1];
	int nrun, np, i, status, timeout;
	bool eof = false;
	ssize_t n;
	pid_t pid;

	/* The daemon gone (stopped, or killed): SIGTERM, and the programs
	 * still running are killed rather than left without a time limit.
	 * SIGINT too: ^C in the foreground reaches the whole process group. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = hooks_on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	(void)prctl(PR_SET_NAME, "relayguard-hook", 0, 0, 0);
	if (getppid() != daemon)
		_exit(0);
	hooks_drop_everything();
	for (i = 0; i < HOOKS_RUNNING; i++) {
		ch[i].pid = -1;
		ch[i].out = -1;
	}
	for (;;) {
		nrun = np = 0;
		timeout = 1000;
		for (i = 0; i < HOOKS_RUNNING; i++) {
			if (ch[i].pid < 0)
				continue;
			nrun++;
			if (!ch[i].killed && hooks_ms_until(&ch[i].deadline) <
			    timeout)
				timeout = hooks_ms_until(&ch[i].deadline);
			if (ch[i].out >= 0) {
				p[np].fd = ch[i].out;
				p[np].events = POLLIN;
				np++;
			}
		}
		if (hooks_stopping) {
			for (i = 0; i < HOOKS_RUNNING; i++)
				if (ch[i].pid >= 0)
					(void)kill(-ch[i].pid, SIGKILL);
			_exit(0);
		}
		if (eof && nrun == 0)
			_exit(0);
		/* Reaping needs no SIGCHLD: with a program running, wake
		 * at least every 100 ms. */
		if (nrun > 0 && timeout > 100)
			timeout = 100;
		if (!eof && nrun < HOOKS_RUNNING) {
			p[np].fd = fd;
			p[np].events = POLLIN;
			np++;
		}
		if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR)
			_exit(1);
		for (i = 0; i < HOOKS_RUNNING; i++)
			if (ch[i].pid >= 0 && ch[i].out >= 0)
				hooks_read_output(&ch[i]);
		if (!eof && nrun < HOOKS_RUNNING && (p[np - 1].revents &
		    (POLLIN | POLLHUP))) {
			n = recv(fd, msg, sizeof(msg), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN &&
			    errno != EINTR))
				eof = true;
			else if (n > 0) {
				for (i = 0; ch[i].pid >= 0; i++)
					;
				hooks_spawn(&ch[i], msg, (size_t)n);
			}
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			for (i = 0; i < HOOKS_RUNNING; i++)
				if (ch[i].pid == pid)
					hooks_reaped(&ch[i], status);
		for (i = 0; i < HOOKS_RUNNING; i++)
			if (ch[i].pid >= 0 && !ch[i].killed &&
			    hooks_ms_until(&ch[i].deadline) == 0) {
				(void)kill(-ch[i].pid, SIGKILL);
				ch[i].killed = true;
			}
	}
}

/* ---- the daemon's side ---- */

int
hooks_start(char *err, size_t errlen)
{
	int sv[2];
	pid_t pid, daemon = getpid();

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "hook runner: socketpair: %s",
		    strerror(errno));
		return -1;
	}
	switch ((pid = fork())) {
	case -1:
		snprintf(err, errlen, "hook runner: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	case 0:
		close(sv[0]);
		hooks_runner(sv[1], daemon);
	}
	close(sv[1]);
	hooks_fd = sv[0];
	hooks_pid = pid;
	return 0;
}

void
hooks_stop(void)
{
	if (hooks_fd >= 0)
		close(hooks_fd);
	hooks_fd = -1;
	/* The runner finishes what runs (each bounded by hook-timeout) on
	 * its own; not waited for here. */
}

static bool
hooks_put(char *msg, size_t *len, const char *a, const char *b)
{
	size_t la = strlen(a), lb = b ? strlen(b) : 0;

	if (*len + la + lb + 1 > HOOKS_MSG_MAX)
		return false;
	memcpy(msg + *len, a, la);
	if (b != NULL)
		memcpy(msg + *len + la, b, lb);
	*len += la + lb;
	msg[(*len)++] = '\0';
	return true;
}

void
hooks_run(const struct config *c, const char *event, const char *addr,
    uint64_t secs, const char *reason, const char *evidence,
    const char *source)
{
	static char msg[HOOKS_MSG_MAX];
	bool block = strcmp(event, "block") == 0;
	const struct config_command *cmd = block ? &c->on_block :
	    &c->on_unblock;
	const char *key = block ? "on-block" : "on-unblock";
	char dur[32];
	uint32_t hdr[3], i, envc = 5;
	const char *a = cmd->buf;
	size_t len = sizeof(hdr);
	bool fits = true;
	time_t now;

	if (cmd->argc == 0)
		return;
	if (hooks_fd < 0) {
		if (!hooks_warned)
			log_warnx("%s: the hook runner is not running",
			    key);
		hooks_warned = true;
		return;
	}
	snprintf(dur, sizeof(dur), "%llu", (unsigned long long)secs);
	for (i = 0; i < cmd->argc; i++, a += strlen(a) + 1)
		fits = fits && hooks_put(msg, &len, a, NULL);
	fits = fits && hooks_put(msg, &len, "RELAYGUARD_EVENT=", event) &&
	    hooks_put(msg, &len, "RELAYGUARD_ADDRESS=", addr) &&
	    hooks_put(msg, &len, "RELAYGUARD_DURATION=", dur) &&
	    hooks_put(msg, &len, "RELAYGUARD_REASON=", reason ? reason : "") &&
	    hooks_put(msg, &len, "RELAYGUARD_SOURCE=", source ? source : "");
	if (!fits) {
		log_warnx("%s %s: request too long, hook not run", key,
		    addr);
		return;
	}
	/* Evidence last: when it does not fit, the hook runs without it. */
	if (hooks_put(msg, &len, "RELAYGUARD_EVIDENCE=", evidence ?
	    evidence : ""))
		envc++;
	else
		log_warnx("%s %s: evidence too long for the environment, "
		    "left out", key, addr);
	hdr[0] = cmd->argc;
	hdr[1] = envc;
	hdr[2] = (uint32_t)(c->hook_timeout / 1000);
	memcpy(msg, hdr, sizeof(hdr));
	if (send(hooks_fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		return;
	/* Many blocks at once (a restart after downtime expires them
	 * all): one warning a second, with the count. */
	hooks_dropped++;
	now = time(NULL);
	if (now != hooks_dropped_logged) {
		log_warnx("%s %s: hook not run: %s (%llu dropped so far)", key,
		    addr, errno == EAGAIN || errno == ENOBUFS ? "the hook "
		    "runner is busy" : strerror(errno),
		    (unsigned long long)hooks_dropped);
		hooks_dropped_logged = now;
	}
}
