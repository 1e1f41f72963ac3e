/*
 * hooks.h — on-block and on-unblock, run by the hook runner (hooks.c).
 */
#ifndef RG_HOOKS_H
#define RG_HOOKS_H

#include <stddef.h>
#include <stdint.h>

struct config;

/* Fork the hook runner: before threads, capabilities dropped and the
 * seccomp filter.  0, or -1 and err. */
int hooks_start(char *err, size_t errlen);
/* Close the runner's socket; it ends once its programs have. */
void hooks_stop(void);
/* Main thread: run c's on-EVENT command ("block" or "unblock") for addr,
 * if one is configured, without waiting for it; failures are logged. */
void hooks_run(const struct config *c, const char *event, const char *addr,
    uint64_t secs, const char *reason, const char *evidence,
    const char *source);

#endif
