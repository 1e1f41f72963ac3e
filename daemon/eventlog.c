/*
 * eventlog.c — see eventlog.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "eventlog.h"
#include "log.h"

void
eventlog_init(struct eventlog *el)
{
	memset(el, 0, sizeof(*el));
	el->fd = -1;
}

int
eventlog_open_fd(const char *path, int *fd, char *err, size_t errlen)
{
	*fd = -1;
	if (path[0] == '\0')
		return 0;
	if ((*fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY, 0640)) < 0) {
		snprintf(err, errlen, "event-log %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
eventlog_swap(struct eventlog *el, int fd, const char *path)
{
	int old = el->fd;

	el->fd = fd;
	if (fd < 0)
		el->path[0] = '\0';
	else
		snprintf(el->path, sizeof(el->path), "%s", path);
	return old;
}

void
eventlog_close(struct eventlog *el)
{
	int old = eventlog_swap(el, -1, "");

	if (old >= 0)
		(void)close(old);
}

int
eventlog_priority(enum event_kind k)
{
	switch (k) {
	case EVENT_BLOCK:
		return LOG_WARNING;
	case EVENT_RELAY_ATTEMPT:
	case EVENT_SMUGGLING:
	case EVENT_AMBIGUITY:
		return LOG_NOTICE;
	case EVENT_ANOMALY:
		break;
	}
	return LOG_INFO;
}

void
eventlog_emit(struct eventlog *el, enum event_kind kind, const char *json,
    size_t len)
{
	ssize_t w;

	if (len == 0)
		return;
	if (el->fd >= 0) {
		/* One write: O_APPEND places it whole after every other
		 * writer's; a short write (a full disk) is an error, not
		 * something to finish later behind another event. */
		w = write(el->fd, json, len);
		if (w == (ssize_t)len)
			__atomic_fetch_add(&el->written, 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&el->errors, 1, __ATOMIC_RELAXED);
	}
	/* The log line goes without its newline. */
	log_line(eventlog_priority(kind), json,
	    json[len - 1] == '\n' ? len - 1 : len);
}
