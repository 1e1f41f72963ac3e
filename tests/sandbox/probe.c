/*
 * probe.c — enters relayguardd's seccomp filter (daemon/sandbox.c) and
 * then makes one system call named on the command line, so that
 * tests/sandbox/run can check what the filter does with it: an allowed
 * call returns, a forbidden one kills the process with SIGSYS, and the
 * few refused with an error return that error.
 *
 *   probe CASE      exit 0 after the call returned as the case expects,
 *                   exit 1 when it returned otherwise; SIGSYS when killed
 *
 * Built without sanitizers by the suite (a sanitizer build's filter is
 * wider on purpose).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

static int
probe_expect(const char *what, long rc, int want_errno)
{
	if (want_errno == 0 && rc >= 0)
		return 0;
	if (want_errno != 0 && rc < 0 && errno == want_errno)
		return 0;
	fprintf(stderr, "probe %s: returned %ld errno %d (%s), wanted %s%s\n",
	    what, rc, errno, strerror(errno), want_errno ? "errno " : "success",
	    want_errno ? strerror(want_errno) : "");
	return 1;
}

static int
probe_int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int
main(int argc, char **argv)
{
	char err[256];
	const char *c;
	void *p;
	int fd, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: probe CASE\n");
		return 2;
	}
	c = argv[1];
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		perror("prctl");
		return 2;
	}
	if ((rc = sandbox_enter(err, sizeof(err))) < 0) {
		fprintf(stderr, "sandbox_enter: %s\n", err);
		return 2;
	}
	if (strcmp(c, "skipped") == 0)
		return rc == 0 ? 0 : 1;
	if (rc != 1) {
		fprintf(stderr, "sandbox_enter returned %d\n", rc);
		return 2;
	}
	/* allowed */
	if (strcmp(c, "write") == 0)
		return probe_expect(c, write(1, "", 0), 0);
	if (strcmp(c, "malloc") == 0) {
		/* Large enough for mmap, then a brk-sized one. */
		p = malloc(8 << 20);
		free(p);
		p = malloc(100);
		free(p);
		return 0;
	}
	if (strcmp(c, "qsort") == 0) {
		/* 4 KiB to sort: glibc's qsort asks sysinfo for the
		 * machine's memory the first time (nft_block_list). */
		static int v[1024];

		for (rc = 0; rc < 1024; rc++)
			v[rc] = 1024 - rc;
		qsort(v, 1024, sizeof(v[0]), probe_int_cmp);
		return v[0] == 1 ? 0 : 1;
	}
	if (strcmp(c, "open") == 0) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		rc = probe_expect(c, fd, 0);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (strcmp(c, "unix-socket") == 0)
		return probe_expect(c, socket(AF_UNIX, SOCK_DGRAM, 0), 0);
	if (strcmp(c, "fcntl-lock") == 0) {
		struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

		fd = open("/proc/self/status", O_RDONLY);
		return probe_expect(c, fcntl(fd, F_GETLK, &fl), 0);
	}
	/* the DNSBL zone: rename (ENOENT: the call ran), fchmod 0644 */
	if (strcmp(c, "rename") == 0)
		return probe_expect(c, rename("/nonexistent-rg-a",
		    "/nonexistent-rg-b"), ENOENT);
	if (strcmp(c, "fchmod-0644") == 0)
		return probe_expect(c, fchmod((int)syscall(SYS_memfd_create,
		    "probe", 0), 0644), 0);
	/* refused with an error, not fatal */
	if (strcmp(c, "fchmod-0600") == 0)
		return probe_expect(c, fchmod((int)syscall(SYS_memfd_create,
		    "probe", 0), 0600), EPERM);
	if (strcmp(c, "inet-socket") == 0)
		return probe_expect(c, socket(AF_INET, SOCK_STREAM, 0), EACCES);
	if (strcmp(c, "fchown") == 0)
		return probe_expect(c, fchown(1, 0, 0), EPERM);
	/* forbidden: each of these must end in SIGSYS */
	if (strcmp(c, "execve") == 0) {
		char *const av[] = { (char *)"true", NULL };

		execve("/bin/true", av, NULL);
		return 1;
	}
	if (strcmp(c, "fork") == 0)
		return probe_expect(c, (long)syscall(SYS_fork), 0) + 1;
	if (strcmp(c, "ptrace") == 0)
		return probe_expect(c, ptrace(PTRACE_TRACEME, 0, NULL, NULL),
		    0) + 1;
	if (strcmp(c, "mmap-exec") == 0) {
		p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return 1;
	}
	if (strcmp(c, "fcntl-dupfd") == 0)
		return probe_expect(c, fcntl(1, F_DUPFD, 10), 0) + 1;
	if (strcmp(c, "bind") == 0) {
		fd = socket(AF_UNIX, SOCK_DGRAM, 0);
		return probe_expect(c, bind(fd, NULL, 0), 0) + 1;
	}
	if (strcmp(c, "setuid") == 0)
		return probe_expect(c, setuid(0), 0) + 1;
	if (strcmp(c, "kill-other") == 0)
		return probe_expect(c, (long)syscall(SYS_tgkill, 1, 1, 0),
		    0) + 1;
	fprintf(stderr, "probe: unknown case %s\n", c);
	return 2;
}
