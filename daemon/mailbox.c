/*
 * mailbox.c — see mailbox.h.  The block requests are a ring (head and
 * count) under one mutex, so neither side ever moves more than the entry
 * it adds or takes; the eventfd is written only when a post finds the
 * ring empty, and drained by the taker, so the main thread wakes once per
 * burst, not once per request.  Tickets count posts from 1; done[t % cap]
 * holds the last ticket in that slot whose evidence is out.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "mailbox.h"

#define MAILBOX_CAP_MAX	65536

struct mailbox_evidence {
	struct rg_addr	 client;
	char		 line[MAILBOX_EVIDENCE_LINE];
};

struct mailbox {
	int		 fd;		/* eventfd: requests waiting */
	pthread_mutex_t	 lock;		/* everything below */
	pthread_cond_t	 done_cv;	/* a ticket was marked done */
	struct mailbox_block *ring;
	unsigned	 cap, head, count;
	uint64_t	 tickets;	/* the last one given */
	uint64_t	*done;		/* cap slots */
	uint64_t	 dropped;
	struct mailbox_evidence evidence[MAILBOX_EVIDENCE];
	unsigned	 evidence_next;
};

struct mailbox *
mailbox_new(unsigned cap, char *err, size_t errlen)
{
	struct mailbox *mb;
	pthread_condattr_t ca;

	if (cap == 0 || cap > MAILBOX_CAP_MAX) {
		snprintf(err, errlen, "mailbox: capacity %u (1..%u)", cap,
		    MAILBOX_CAP_MAX);
		return NULL;
	}
	if ((mb = calloc(1, sizeof(*mb))) == NULL ||
	    (mb->ring = calloc(cap, sizeof(*mb->ring))) == NULL ||
	    (mb->done = calloc(cap, sizeof(*mb->done))) == NULL) {
		snprintf(err, errlen, "mailbox: out of memory");
		if (mb != NULL)
			free(mb->ring);
		free(mb);
		return NULL;
	}
	if ((mb->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		snprintf(err, errlen, "mailbox: eventfd: %s", strerror(errno));
		free(mb->done);
		free(mb->ring);
		free(mb);
		return NULL;
	}
	pthread_mutex_init(&mb->lock, NULL);
	/* Waits are measured on the clock a date change leaves alone. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mb->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	mb->cap = cap;
	return mb;
}

void
mailbox_free(struct mailbox *mb)
{
	if (mb == NULL)
		return;
	(void)close(mb->fd);
	pthread_mutex_destroy(&mb->lock);
	pthread_cond_destroy(&mb->done_cv);
	free(mb->done);
	free(mb->ring);
	free(mb);
}

int
mailbox_fd(const struct mailbox *mb)
{
	return mb->fd;
}

uint64_t
mailbox_post_block(struct mailbox *mb, const struct rg_addr *client,
    rg_time_t dur)
{
	struct mailbox_block *b;
	uint64_t one = 1, taken = 0;
	bool wake = false;

	pthread_mutex_lock(&mb->lock);
	if (mb->count < mb->cap) {
		b = &mb->ring[(mb->head + mb->count) % mb->cap];
		b->client = *client;
		b->dur = dur;
		b->ticket = taken = ++mb->tickets;
		wake = mb->count++ == 0;
	} else
		mb->dropped++;
	pthread_mutex_unlock(&mb->lock);
	/* Non-blocking: at worst (a counter near 2^64) EAGAIN, and the
	 * main thread is awake anyway then. */
	if (wake && write(mb->fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("waking the main thread");
	return taken;
}

void
mailbox_evidence_done(struct mailbox *mb, uint64_t ticket)
{
	uint64_t *slot;

	if (ticket == 0)
		return;
	pthread_mutex_lock(&mb->lock);
	slot = &mb->done[ticket % mb->cap];
	if (*slot < ticket)
		*slot = ticket;
	pthread_cond_broadcast(&mb->done_cv);
	pthread_mutex_unlock(&mb->lock);
}

void
mailbox_deadline(unsigned ms, struct timespec *until)
{
	clock_gettime(CLOCK_MONOTONIC, until);
	until->tv_sec += ms / 1000;
	until->tv_nsec += (long)(ms % 1000) * 1000000;
	if (until->tv_nsec >= 1000000000) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000;
	}
}

bool
mailbox_evidence_wait(struct mailbox *mb, uint64_t ticket,
    const struct timespec *until)
{
	bool done;

	pthread_mutex_lock(&mb->lock);
	while (mb->done[ticket % mb->cap] < ticket &&
	    pthread_cond_timedwait(&mb->done_cv, &mb->lock, until) == 0)
		;
	done = mb->done[ticket % mb->cap] >= ticket;
	pthread_mutex_unlock(&mb->lock);
	return done;
}

/* Drop an incomplete UTF-8 sequence at the end of s. */
static void
mailbox_cut_utf8(char *s)
{
	size_t n = strlen(s), lead = n;

	while (lead > 0 && n - lead < 4 &&
	    ((unsigned char)s[lead - 1] & 0xc0) == 0x80)
		lead--;
	if (lead > 0 && (unsigned char)s[lead - 1] >= 0xc0)
		lead--;
	else if (lead == n || lead == 0 || n - lead >= 4)
		return;
	if (event_utf8_len((const unsigned char *)s + lead, n - lead) !=
	    n - lead)
		s[lead] = '\0';
}

void
mailbox_post_evidence(struct mailbox *mb, const struct rg_addr *client,
    const char *line)
{
	struct mailbox_evidence *e;

	pthread_mutex_lock(&mb->lock);
	e = &mb->evidence[mb->evidence_next];
	mb->evidence_next = (mb->evidence_next + 1) % MAILBOX_EVIDENCE;
	e->client = *client;
	/* Long lines are cut: evidence is for people, the log has it all.
	 * The line is UTF-8 (an event's JSON): a cut inside a character
	 * takes the character out, or no JSON could carry the evidence. */
	if (!event_copy_text(e->line, sizeof(e->line), (const uint8_t *)line,
	    strlen(line)))
		mailbox_cut_utf8(e->line);
	pthread_mutex_unlock(&mb->lock);
}

size_t
mailbox_take_blocks(struct mailbox *mb, struct mailbox_block *v, size_t max)
{
	uint64_t n64;
	size_t n = 0;

	while (read(mb->fd, &n64, sizeof(n64)) == (ssize_t)sizeof(n64))
		;
	pthread_mutex_lock(&mb->lock);
	while (n < max && mb->count > 0) {
		v[n++] = mb->ring[mb->head];
		mb->head = (mb->head + 1) % mb->cap;
		mb->count--;
	}
	pthread_mutex_unlock(&mb->lock);
	return n;
}

void
mailbox_evidence_for(struct mailbox *mb, const struct rg_addr *client,
    char *buf, size_t len)
{
	size_t used = 0, n;
	unsigned i, k;

	if (len == 0)
		return;
	buf[0] = '\0';
	pthread_mutex_lock(&mb->lock);
	for (i = 0; i < MAILBOX_EVIDENCE; i++) {
		k = (mb->evidence_next + i) % MAILBOX_EVIDENCE;
		if (!rg_addr_eq(&mb->evidence[k].client, client))
			continue;
		n = strlen(mb->evidence[k].line);
		if (used + n + 2 > len)
			break;
		memcpy(buf + used, mb->evidence[k].line, n);
		used += n;
		buf[used++] = '\n';
		buf[used] = '\0';
	}
	pthread_mutex_unlock(&mb->lock);
}

uint64_t
mailbox_dropped(struct mailbox *mb)
{
	uint64_t n;

	pthread_mutex_lock(&mb->lock);
	n = mb->dropped;
	pthread_mutex_unlock(&mb->lock);
	return n;
}
