/*
 * log.h — the tiny logging API of OpenBSD daemons.
 *
 * In the foreground messages go to stderr, otherwise to syslog.  log_warn
 * and fatal append strerror(errno); the x variants do not.  fatal and
 * fatalx log and exit(1): for broken invariants and startup failures, not
 * for operations a running daemon can live without.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* ident names the program in syslog; foreground sends to stderr. */
void log_init(const char *ident, bool foreground);
/* 0: info and above; 1 or more: also debug. */
void log_setverbose(int verbose);
int log_getverbose(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * One line of len bytes (no newline, no NUL needed) at syslog priority
 * pri, whole: not formatted, not cut (the other calls cut at 1 KiB).
 * For events, whose size the clients choose.
 */
void log_line(int pri, const char *line, size_t len);
/*
 * Outside the foreground, send every message to sink instead of syslog
 * (the daemon's journal writer, daemon/eventlog.c); NULL: syslog again.
 * Set before any thread logs.
 */
typedef void (*log_sink_fn)(int pri, const char *msg, size_t len);
void log_set_sink(log_sink_fn sink);
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
