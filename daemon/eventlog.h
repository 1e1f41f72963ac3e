/*
 * eventlog.h — the daemon's event channel.
 *
 * Every event leaves whole, whatever its size (the clients choose the
 * HELO, the paths and the lines it quotes), as one JSON object on one line:
 *
 *  - to the event file when `event-log` is set: opened O_APPEND, one
 *    write(2) per event, so readers never see half an event and a rotation
 *    (rename, then `relayguard reopen` or SIGHUP) loses none;
 *  - to the log at a priority by kind: block LOG_WARNING; relay attempt,
 *    smuggling and ambiguity LOG_NOTICE; anomaly LOG_INFO.  The log is
 *    stderr in the foreground; otherwise journald's native protocol when
 *    journald listens (eventlog_journal_start: the JSON is MESSAGE, with
 *    RELAYGUARD_EVENT, _ACTION, _CLIENT, _SERVER, _REASON and _RCPT as
 *    fields of their own, and no size limit), syslog where it does not.
 *
 * Threads: workers emit, each under its own worker lock; the main thread
 * swaps the file only while it holds every worker's lock (relayguardd.c),
 * so no write ever meets a closed descriptor.
 */
#ifndef RG_EVENTLOG_H
#define RG_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"

struct eventlog {
	int		 fd;			/* -1: no event file */
	char		 path[CONFIG_PATH_MAX];	/* "" when fd is -1 */
	uint64_t	 written;		/* atomic: events in the file */
	uint64_t	 errors;		/* atomic: failed or short writes,
					 * entries the journal refused */
};

/* Bytes eventlog_emit() may overwrite just before the JSON it is given
 * (the journal wants "MESSAGE=" in front of it, in one piece). */
#define EVENTLOG_ROOM 8

/* No file yet: fd -1, counters 0. */
void	 eventlog_init(struct eventlog *);
/*
 * Open path for appending (created 0640 if missing; its directory must
 * exist) into *fd; "" gives -1.  Returns 0, or -1 with "event-log PATH:
 * strerror" in err.  Nothing is changed in any eventlog: the caller swaps
 * the descriptor in under the workers' locks (eventlog_swap).
 */
int	 eventlog_open_fd(const char *path, int *fd, char *err, size_t errlen);
/* Put fd/path in place; returns the descriptor it replaced (-1: none),
 * which the caller closes after releasing the locks. */
int	 eventlog_swap(struct eventlog *, int fd, const char *path);
void	 eventlog_close(struct eventlog *);
/* The syslog priority of an event kind. */
int	 eventlog_priority(enum event_kind);
/*
 * Outside the foreground: if journald listens, send every log message and
 * event through its native protocol from now on (structured fields, no
 * line limit, priorities kept).  Returns whether it does.
 */
bool	 eventlog_journal_start(const char *ident);
/* One event ev, json its event_json() form (len bytes, ending in its
 * newline), with EVENTLOG_ROOM writable bytes before it. */
void	 eventlog_emit(struct eventlog *, const struct event *ev, char *json,
	    size_t len);

#endif
