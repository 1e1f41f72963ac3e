/*
 * log.c — stderr in the foreground, syslog otherwise.
 *
 * Each message is formatted into one buffer and written with one call, so
 * lines from several threads never interleave mid-line.  errno is kept as
 * the caller left it: a log call between a failure and its handling must
 * not change what the handler sees.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* the strerror_r that returns its string */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

#define LOG_LINE_MAX 1024

static bool log_foreground = true;
static log_sink_fn log_sink;
static int log_verbose;
static const char *log_ident = "relayguard";

void
log_init(const char *ident, bool foreground)
{
	log_ident = ident != NULL ? ident : "relayguard";
	log_foreground = foreground;
	if (!foreground) {
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		tzset();
	}
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

int
log_getverbose(void)
{
	return log_verbose;
}

/* Format and emit one message; errnum >= 0 appends its strerror. */
static void
log_vlog(int pri, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
log_vlog(int pri, int errnum, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], ebuf[128];
	const char *es;
	int saved = errno;
	int r;

	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (r < 0)
		snprintf(msg, sizeof(msg), "(unformattable message)");
	if (errnum >= 0) {
		/* The GNU strerror_r returns the string it chose. */
		es = strerror_r(errnum, ebuf, sizeof(ebuf));
		r = (int)strlen(msg);
		snprintf(msg + r, sizeof(msg) - (size_t)r, ": %s", es);
	}
	if (log_foreground)
		fprintf(stderr, "%s\n", msg);
	else if (log_sink != NULL)
		log_sink(pri, msg, strlen(msg));
	else
		syslog(pri, "%s", msg);
	errno = saved;
}

void
log_set_sink(log_sink_fn sink)
{
	log_sink = sink;
}

void
log_line(int pri, const char *line, size_t len)
{
	int saved = errno;

	if (len > INT_MAX)
		len = INT_MAX;
	if (log_foreground) {
		/* One call, so lines from several threads do not mix. */
		fprintf(stderr, "%.*s\n", (int)len, line);
	} else if (log_sink != NULL)
		log_sink(pri, line, len);
	else
		syslog(pri, "%.*s", (int)len, line);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, errnum, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, -1, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_INFO, -1, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	log_vlog(LOG_DEBUG, -1, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_CRIT, errnum, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_CRIT, -1, fmt, ap);
	va_end(ap);
	exit(1);
}
