/*
 * eventlog.c — see eventlog.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/uio.h>

#define SD_JOURNAL_SUPPRESS_LOCATION	/* events need no CODE_FILE */
#include <systemd/sd-journal.h>

#include "eventlog.h"
#include "log.h"

#define EVENTLOG_JOURNAL_SOCKET "/run/systemd/journal/socket"

static bool eventlog_journal;		/* set once, before the workers */
static const char *eventlog_ident = "relayguardd";

/* log.c's sink: one journal entry per message, its priority kept. */
static void
eventlog_journal_sink(int pri, const char *msg, size_t len)
{
	if (len > INT32_MAX)
		len = INT32_MAX;
	(void)sd_journal_send("MESSAGE=%.*s", (int)len, msg, "PRIORITY=%d",
	    pri, "SYSLOG_IDENTIFIER=%s", eventlog_ident, NULL);
}

bool
eventlog_journal_start(const char *ident)
{
	struct stat st;

	if (stat(EVENTLOG_JOURNAL_SOCKET, &st) < 0 || !S_ISSOCK(st.st_mode))
		return false;
	eventlog_ident = ident;
	eventlog_journal = true;
	log_set_sink(eventlog_journal_sink);
	return true;
}

/* "KEY=value" into buf as one iovec. */
static void
eventlog_field(struct iovec *iov, int *n, char *buf, size_t len,
    const char *key, const char *value)
{
	int k;

	if (value == NULL || value[0] == '\0')
		return;
	k = snprintf(buf, len, "%s=%s", key, value);
	if (k < 0 || (size_t)k >= len)
		return;
	iov[*n].iov_base = buf;
	iov[*n].iov_len = (size_t)k;
	(*n)++;
}

/* The event as one journal entry: the JSON as MESSAGE (in place, in the
 * EVENTLOG_ROOM bytes before it), the rest as fields for journalctl's
 * matches (journalctl RELAYGUARD_EVENT=block). */
static void
eventlog_journal_event(struct eventlog *el, const struct event *ev,
    char *json, size_t len)
{
	char pv[8], pri[24], ident[64], kind[48], action[48], client[64],
	    server[64], reason[64], rcpt[EVENT_TEXT_MAX + 16],
	    a[RG_ADDRSTRLEN];
	struct iovec iov[9];
	int n = 0;

	memcpy(json - EVENTLOG_ROOM, "MESSAGE=", EVENTLOG_ROOM);
	iov[n].iov_base = json - EVENTLOG_ROOM;
	iov[n++].iov_len = len - 1 + EVENTLOG_ROOM;	/* not the newline */
	snprintf(pv, sizeof(pv), "%d", eventlog_priority(ev->kind));
	eventlog_field(iov, &n, pri, sizeof(pri), "PRIORITY", pv);
	eventlog_field(iov, &n, ident, sizeof(ident), "SYSLOG_IDENTIFIER",
	    eventlog_ident);
	eventlog_field(iov, &n, kind, sizeof(kind), "RELAYGUARD_EVENT",
	    event_kind_str(ev->kind));
	eventlog_field(iov, &n, action, sizeof(action), "RELAYGUARD_ACTION",
	    event_action_str(ev->action));
	if (ev->client.family != 0)
		eventlog_field(iov, &n, client, sizeof(client),
		    "RELAYGUARD_CLIENT", rg_addr_str(&ev->client, a,
		    sizeof(a)));
	if (ev->server.family != 0)
		eventlog_field(iov, &n, server, sizeof(server),
		    "RELAYGUARD_SERVER", rg_addr_str(&ev->server, a,
		    sizeof(a)));
	if (ev->kind == EVENT_RELAY_ATTEMPT) {
		eventlog_field(iov, &n, reason, sizeof(reason),
		    "RELAYGUARD_REASON", ev->reason);
		eventlog_field(iov, &n, rcpt, sizeof(rcpt), "RELAYGUARD_RCPT",
		    ev->rcpt);
	}
	/* A refused entry is lost to the journal: counted like a failed
	 * write to the event file (the timer reports the count). */
	if (sd_journal_sendv(iov, n) < 0)
		__atomic_fetch_add(&el->errors, 1, __ATOMIC_RELAXED);
}

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
	case EVENT_DROPPED:	/* replay's simulated blocks only */
		break;
	}
	return LOG_INFO;
}

void
eventlog_emit(struct eventlog *el, const struct event *ev, char *json,
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
	if (eventlog_journal)
		eventlog_journal_event(el, ev, json, len);
	else	/* the log line goes without its newline */
		log_line(eventlog_priority(ev->kind), json,
		    json[len - 1] == '\n' ? len - 1 : len);
}
