/*
 * sandbox.c — the seccomp filter of relayguardd.
 *
 * After set-up the daemon is a poll loop over netlink sockets (NFQUEUE
 * intake and verdicts, nftables batches) or, in capture mode, AF_PACKET
 * sockets with their rings (live.c: opened before the filter; read with
 * poll and the mapped ring, drops read with getsockopt), two raw sockets
 * (resets), a
 * unix control socket, a signalfd, a timerfd and one SQLite file.  The
 * list below is what that loop was seen to call under strace -f through
 * a session of mail, relay attempts, automatic and manual blocks,
 * unblocks, why, status, malformed and oversized control requests, a
 * SIGHUP reload and a SIGTERM stop (tests/sandbox/run replays it), plus
 * the rarer paths read from the code: SQLite's busy wait, its journal
 * files and randomness, syslog reconnecting, abort().
 *
 * Default action: kill the whole process (SCMP_ACT_KILL_PROCESS).  A
 * daemon that suddenly makes a call it never makes is running someone
 * else's code, and the queue rule's bypass flag lets mail through while
 * it is down (the failure policy of relayguardd.c).  Logging and carrying
 * on (SCMP_ACT_LOG) would leave the attacker every call.  Two calls get an
 * error instead, because a library makes them on paths that are fine and
 * copes with the error: fchown and fchmod, which SQLite makes on a journal
 * file it creates while the process's uid is 0 (they would fail anyway
 * without CAP_CHOWN/CAP_FOWNER for foreign files, and SQLite ignores the
 * result); and socket() for any family but AF_UNIX (syslog reconnecting
 * uses AF_UNIX; every other socket is opened before the filter).
 *
 * What stays open and why: openat, because SIGHUP re-reads the
 * configuration file, the DNSBL zone is rewritten on every change,
 * SQLite opens its -wal/-shm/-journal files and /dev/urandom lazily and
 * glibc re-reads /etc/localtime; the daemon's capabilities
 * (CAP_NET_ADMIN, CAP_NET_RAW only: no CAP_DAC_OVERRIDE)
 * limit what it can open to what root-owned files' modes allow.  mmap and
 * mprotect never with PROT_EXEC: nothing is loaded after set-up.  No
 * execve, fork, clone, ptrace, bind, listen, mount, setuid or capset:
 * neither code nor privilege can be added once the filter is in.
 *
 * Sanitizer builds (ASan/LSan) add what their run-time needs at exit: the
 * leak checker stops the world with clone and ptrace.  Release builds
 * never get those.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <seccomp.h>

#include "log.h"
#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER 0
#endif

/* Allowed with any arguments.  Grouped by who makes them. */
static const int sandbox_allow[] = {
	/* the poll loop, signals (signalfd), the timer (timerfd) */
	SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(read), SCMP_SYS(write),
	SCMP_SYS(close), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall),
	/* NFQUEUE and nftables over netlink (libmnl), resets on raw sockets,
	 * syslog (sendto on a datagram unix socket), the control socket */
	SCMP_SYS(recvfrom), SCMP_SYS(recvmsg), SCMP_SYS(recvmmsg),
	SCMP_SYS(sendto),
	SCMP_SYS(sendmsg), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(accept4), SCMP_SYS(connect),
	SCMP_SYS(shutdown),
	/* SQLite: files, locks, durability; the config file on SIGHUP */
	SCMP_SYS(openat), SCMP_SYS(open), SCMP_SYS(pread64),
	SCMP_SYS(pwrite64), SCMP_SYS(lseek), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(stat), SCMP_SYS(lstat),
	SCMP_SYS(statx), SCMP_SYS(access), SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2), SCMP_SYS(fsync), SCMP_SYS(fdatasync),
	SCMP_SYS(ftruncate), SCMP_SYS(unlink), SCMP_SYS(unlinkat),
	SCMP_SYS(readlink), SCMP_SYS(getcwd), SCMP_SYS(geteuid),
	/* the DNSBL zone (dnsbl.c): a file written beside the served one is
	 * renamed over it, so rbldnsd never reads half a zone (rename, or
	 * renameat/renameat2 where the architecture has no rename) */
	SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2),
	SCMP_SYS(getuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	/* SQLite's busy wait (another process holds the lock) */
	SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
	/* memory (glibc malloc, SQLite's shared-memory index); sysinfo:
	 * glibc's qsort asks for the machine's memory (sysconf
	 * _SC_PHYS_PAGES) the first time it sorts 1 KiB or more, as
	 * nft_block_list does with some 30 elements in a block set */
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(sysinfo),
	/* time (normally the vDSO; the system call when the clock source
	 * has none), randomness, the process's own identity */
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(time),
	SCMP_SYS(getrandom), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(futex),
	/* journald's native protocol: an entry too big for one datagram
	 * goes as a sealed memfd (sd_journal_sendv); sd_notify */
	SCMP_SYS(memfd_create), SCMP_SYS(writev),
	/* abort() on a broken invariant: block signals, raise SIGABRT */
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction),
	/* the way out */
	SCMP_SYS(exit_group), SCMP_SYS(exit),
};

/* fcntl: descriptor flags, POSIX/OFD record locks, and the seals of a
 * journal memfd. */
static const int sandbox_fcntl_cmds[] = {
	F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK, F_SETLK, F_SETLKW,
	F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW, F_ADD_SEALS, F_GET_SEALS,
};

/* What a sanitizer's run-time needs (LSan's StopTheWorld at exit, ASan's
 * reports).  Compiled in only for sanitizer builds. */
static const int sandbox_allow_sanitizer[] = {
	SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(ptrace), SCMP_SYS(wait4),
	SCMP_SYS(waitid), SCMP_SYS(sched_yield), SCMP_SYS(getdents),
	SCMP_SYS(getdents64),
	SCMP_SYS(prctl), SCMP_SYS(sigaltstack), SCMP_SYS(getppid),
	SCMP_SYS(tgkill), SCMP_SYS(kill), SCMP_SYS(mprotect), SCMP_SYS(mmap),
	SCMP_SYS(pipe2), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3),
	SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(getrlimit), SCMP_SYS(prlimit64), SCMP_SYS(uname),
	SCMP_SYS(arch_prctl), SCMP_SYS(fork), SCMP_SYS(vfork),
};

static bool sandbox_inet;

void
sandbox_allow_inet(bool on)
{
	sandbox_inet = on;
}

bool
sandbox_sanitizer_build(void)
{
	return SANDBOX_SANITIZER != 0;
}

/* Add one rule; a call this architecture lacks (a negative pseudo
 * number, e.g. open on arm64) is skipped, not an error. */
static int
sandbox_rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned argc,
    const struct scmp_arg_cmp *args, char *err, size_t errlen)
{
	int rc;

	if (nr < 0)
		return 0;
	if ((rc = seccomp_rule_add_array(ctx, action, nr, argc, args)) < 0) {
		char *name = seccomp_syscall_resolve_num_arch(
		    SCMP_ARCH_NATIVE, nr);

		snprintf(err, errlen, "seccomp rule for %s: %s",
		    name != NULL ? name : "?", strerror(-rc));
		free(name);
		return -1;
	}
	return 0;
}

/* One argument comparison; spelled out rather than with SCMP_A0() and
 * friends, whose compound literals leave datum_b to the compiler and trip
 * clang's -Wmissing-field-initializers. */
static struct scmp_arg_cmp
sandbox_cmp(unsigned arg, enum scmp_compare op, scmp_datum_t a,
    scmp_datum_t b)
{
	struct scmp_arg_cmp c;

	memset(&c, 0, sizeof(c));
	c.arg = arg;
	c.op = op;
	c.datum_a = a;
	c.datum_b = b;
	return c;
}

static int
sandbox_rules(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	struct scmp_arg_cmp a[1];
	size_t i;

	for (i = 0; i < sizeof(sandbox_allow) / sizeof(sandbox_allow[0]); i++)
		if (sandbox_rule(ctx, SCMP_ACT_ALLOW, sandbox_allow[i], 0, NULL,
		    err, errlen) < 0)
			return -1;
	for (i = 0; i < sizeof(sandbox_fcntl_cmds) /
	    sizeof(sandbox_fcntl_cmds[0]); i++) {
		a[0] = sandbox_cmp(1, SCMP_CMP_EQ,
		    (scmp_datum_t)sandbox_fcntl_cmds[i], 0);
		if (sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1, a,
		    err, errlen) < 0)
			return -1;
	}
	/* syslog may reopen /dev/log; nothing else makes sockets now,
	 * but the CrowdSec thread's libcurl when crowdsec-url is set: TCP
	 * over IPv4 or IPv6, and the socket pair its multi handle wakes
	 * itself with. */
	a[0] = sandbox_cmp(0, SCMP_CMP_EQ, AF_UNIX, 0);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, a,
	    err, errlen) < 0)
		return -1;
	if (sandbox_inet) {
		static const int fam[] = { AF_INET, AF_INET6 };

		for (i = 0; i < 2; i++) {
			a[0] = sandbox_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)fam[i],
			    0);
			if (sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket),
			    1, a, err, errlen) < 0)
				return -1;
		}
		a[0] = sandbox_cmp(0, SCMP_CMP_EQ, AF_UNIX, 0);
		if (sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
		    a, err, errlen) < 0 ||
		    sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getpeername), 0,
		    NULL, err, errlen) < 0)
			return -1;
	}
	a[0] = sandbox_cmp(0, SCMP_CMP_NE, AF_UNIX, 0);
	if (!sandbox_inet && sandbox_rule(ctx, SCMP_ACT_ERRNO(EACCES),
	    SCMP_SYS(socket), 1, a, err, errlen) < 0)
		return -1;
	/* SQLite's chown/chmod of a journal file it creates: harmless to
	 * refuse, and SQLite ignores the result.  fchmod to exactly 0644 is
	 * allowed: the DNSBL zone files (dnsbl.c) are public and read by
	 * rbldnsd's own user, whatever the service's UMask; SQLite's files
	 * take the database's mode, 0600. */
	a[0] = sandbox_cmp(1, SCMP_CMP_EQ, 0644, 0);
	if (sandbox_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fchown), 0, NULL,
	    err, errlen) < 0 ||
	    sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fchmod), 1, a,
	    err, errlen) < 0)
		return -1;
	a[0] = sandbox_cmp(1, SCMP_CMP_NE, 0644, 0);
	if (sandbox_rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fchmod), 1, a,
	    err, errlen) < 0)
		return -1;
	if (SANDBOX_SANITIZER) {
		for (i = 0; i < sizeof(sandbox_allow_sanitizer) /
		    sizeof(sandbox_allow_sanitizer[0]); i++)
			if (sandbox_rule(ctx, SCMP_ACT_ALLOW,
			    sandbox_allow_sanitizer[i], 0, NULL, err,
			    errlen) < 0)
				return -1;
		return 0;
	}
	/* Memory mappings, never executable: nothing is loaded any more. */
	a[0] = sandbox_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, a, err,
	    errlen) < 0 ||
	    sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, a, err,
	    errlen) < 0)
		return -1;
	/* raise(SIGABRT) from abort(): only to ourselves. */
	a[0] = sandbox_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0);
	if (sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, a, err,
	    errlen) < 0)
		return -1;
	return 0;
}

int
sandbox_enter(char *err, size_t errlen)
{
	const char *skip = getenv("RELAYGUARD_NO_SECCOMP");
	scmp_filter_ctx ctx;
	uint32_t kill;
	int rc;

	/* For debugging only: strace and gdb work either way, but a missing
	 * call is easier to find without the filter. */
	if (skip != NULL && strcmp(skip, "1") == 0) {
		log_warnx("RELAYGUARD_NO_SECCOMP=1: running without the "
		    "seccomp filter");
		return 0;
	}
	/* KILL_PROCESS (Linux 4.14) takes every thread.  Older kernels only
	 * know KILL, which takes the offending thread alone: a queue worker
	 * would die and its queue stall while the daemon runs on. */
	kill = seccomp_api_get() >= 3 ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_KILL;
	if ((ctx = seccomp_init(kill)) == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	/* The daemon sets no-new-privs itself (rgd_drop_privileges); keep
	 * libseccomp from needing CAP_SYS_ADMIN, which is gone. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1)) < 0) {
		snprintf(err, errlen, "seccomp no-new-privs: %s", strerror(-rc));
		goto fail;
	}
	/* The queue workers are already running: the filter goes to every
	 * thread at once, or to none. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0) {
		snprintf(err, errlen, "seccomp thread sync: %s", strerror(-rc));
		goto fail;
	}
	if (sandbox_rules(ctx, err, errlen) < 0)
		goto fail;
	if ((rc = seccomp_load(ctx)) < 0) {
		snprintf(err, errlen, "loading the seccomp filter: %s",
		    strerror(-rc));
		goto fail;
	}
	seccomp_release(ctx);
	return 1;
fail:
	seccomp_release(ctx);
	return -1;
}
