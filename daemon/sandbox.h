/*
 * sandbox.h — the seccomp filter relayguardd enters after set-up, once its
 * sockets, queues, store and control socket are open and its capabilities
 * are down to CAP_NET_ADMIN and CAP_NET_RAW.  From then on it may only make
 * the system calls its poll loop makes (see sandbox.c for the list and the
 * reason for each); any other kills the process.
 *
 * RELAYGUARD_NO_SECCOMP=1 in the environment skips the filter (for strace
 * and gdb sessions); the daemon logs that it did.
 */
#ifndef RG_SANDBOX_H
#define RG_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* Install the filter.  Requires no-new-privs already set (or
 * CAP_SYS_ADMIN).  Returns 1 when installed, 0 when skipped on request
 * (RELAYGUARD_NO_SECCOMP=1), or -1 with a message in err. */
int sandbox_enter(char *err, size_t errlen);
/* Before sandbox_enter(): allow TCP sockets (AF_INET, AF_INET6) for the
 * CrowdSec thread's libcurl.  Off by default. */
void sandbox_allow_inet(bool on);

/* true when built with a sanitizer whose run-time needs more calls (LSan
 * stops the world with clone and ptrace at exit); the filter then allows
 * them.  Reported so that tests can say which filter they checked. */
bool sandbox_sanitizer_build(void);

#endif
