/*
 * worker.c — see worker.h.  The thread's loop polls its queue socket and
 * an eventfd that asks it to stop; everything else arrives through the
 * main thread taking the worker's lock.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "eventlog.h"
#include "log.h"
#include "mailbox.h"
#include "queue.h"
#include "reset.h"
#include "rgd.h"
#include "worker.h"

#define WORKER_BATCH 256	/* receives before looking at the stop fd */

struct worker {
	struct rgd *d;
	struct queue *q;
	struct engine *engine;
	pthread_t tid;
	bool started;
	int stopfd;
	pthread_mutex_t lock;
	pthread_cond_t running_cv;	/* the thread reached its loop */
	bool running;
	uint64_t resets_sent, reset_errors;
	/* the event being sent out (an event is ~16 KiB, its JSON up to
	 * EVENT_JSON_MAX: neither belongs on the stack) */
	struct event ev;
	char *evbuf;
	/* enforcement of the batch being answered */
	struct engine_result todo[RGD_TODO_MAX];
	unsigned ntodo;
};

rg_time_t
worker_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (rg_time_t)ts.tv_sec * RG_USEC_PER_SEC +
	    (rg_time_t)ts.tv_nsec / 1000;
}

/* Send every queued event out whole; keep relay attempts as evidence. */
static void
worker_events(struct worker *w)
{
	char *json;
	size_t n;

	while (engine_next_event(w->engine, &w->ev)) {
		if ((n = event_json(&w->ev, w->evbuf + EVENTLOG_ROOM,
		    EVENT_JSON_MAX)) == 0) {
			/* Cannot happen (EVENT_JSON_MAX is the bound) short
			 * of jansson running out of memory: counted. */
			__atomic_fetch_add(&w->d->events.errors, 1,
			    __ATOMIC_RELAXED);
			continue;
		}
		json = w->evbuf + EVENTLOG_ROOM;
		eventlog_emit(&w->d->events, &w->ev, json, n);
		json[n - 1] = '\0';	/* the newline */
		if (w->ev.kind == EVENT_RELAY_ATTEMPT ||
		    w->ev.kind == EVENT_SMUGGLING ||
		    w->ev.kind == EVENT_AMBIGUITY)
			mailbox_post_evidence(w->d->mail, &w->ev.client, json);
	}
}

static void
worker_packet(void *ctx, uint8_t *pkt, size_t len, size_t wirelen,
    bool csum_unverifiable, uint32_t indev, struct queue_verdict *v)
{
	struct worker *w = ctx;
	struct engine_result r;

	engine_packet(w->engine, DECODE_LINK_RAW, worker_now(), pkt, len,
	    wirelen,
	    csum_unverifiable ? ENGINE_F_CSUM_UNVERIFIABLE : 0, indev, &r);
	v->accept = r.verdict == ENGINE_ACCEPT;
	v->modified = r.rewritten;
	/* Resets and blocks are carried out once the verdicts of this batch
	 * are sent, so no packet waits on them. */
	if ((r.reset || r.block) && w->ntodo < RGD_TODO_MAX)
		w->todo[w->ntodo++] = r;
}

/* Events, resets and block requests from the packets just answered. */
static void
worker_flush(struct worker *w)
{
	const struct engine_result *r;
	unsigned i;

	worker_events(w);
	for (i = 0; i < w->ntodo; i++) {
		r = &w->todo[i];
		if (r->reset) {
			/* To the server as if from the client, and back. */
			if (reset_send(w->d->reset, &r->client, r->client_port,
			    &r->server, r->server_port, r->seq_to_server,
			    r->seq_to_client) < 0 ||
			    reset_send(w->d->reset, &r->server, r->server_port,
			    &r->client, r->client_port, r->seq_to_client,
			    r->seq_to_server) < 0) {
				w->reset_errors++;
				log_warn("sending reset");
			} else
				w->resets_sent++;
		}
		if (r->block)
			(void)mailbox_post_block(w->d->mail, &r->client,
			    r->block_for);
	}
	w->ntodo = 0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct pollfd p[2];
	int i, n;

	p[0].fd = queue_fd(w->q);
	p[0].events = POLLIN;
	p[1].fd = w->stopfd;
	p[1].events = POLLIN;
	/* Thread start-up (rseq, robust lists, ...) is over: the seccomp
	 * filter, which allows only what the loop needs, may come now. */
	pthread_mutex_lock(&w->lock);
	w->running = true;
	pthread_cond_signal(&w->running_cv);
	pthread_mutex_unlock(&w->lock);
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno != EINTR)
				log_warn("queue %u: poll", queue_num(w->q));
			continue;
		}
		if (p[1].revents & POLLIN)
			break;
		if (!(p[0].revents & (POLLIN | POLLERR)))
			continue;
		pthread_mutex_lock(&w->lock);
		for (i = 0; i < WORKER_BATCH; i++) {
			n = queue_receive(w->q, worker_packet, w);
			worker_flush(w);
			if (n <= 0)
				break;
		}
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

struct worker *
worker_new(struct rgd *d, uint16_t num, char *err, size_t errlen)
{
	struct worker *w;
	uint64_t seed;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "queue %u: out of memory", num);
		return NULL;
	}
	w->d = d;
	w->stopfd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->running_cv, NULL);
	if ((w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		snprintf(err, errlen, "queue %u: eventfd: %s", num,
		    strerror(errno));
		goto fail;
	}
	if ((w->evbuf = malloc(EVENTLOG_ROOM + EVENT_JSON_MAX)) == NULL ||
	    (w->engine = engine_new(&d->conf, true)) == NULL) {
		snprintf(err, errlen, "queue %u: out of memory", num);
		goto fail;
	}
	/* A secret hash key, so that no one can aim flows at one bucket. */
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		snprintf(err, errlen, "queue %u: getrandom: %s", num,
		    strerror(errno));
		goto fail;
	}
	(void)engine_set_seed(w->engine, seed);
	if ((w->q = queue_open(num, err, errlen)) == NULL)
		goto fail;
	return w;
fail:
	worker_free(w);
	return NULL;
}

int
worker_start(struct worker *w, char *err, size_t errlen)
{
	int rc;

	if ((rc = pthread_create(&w->tid, NULL, worker_main, w)) != 0) {
		snprintf(err, errlen, "queue %u: thread: %s", queue_num(w->q),
		    strerror(rc));
		return -1;
	}
	w->started = true;
	pthread_mutex_lock(&w->lock);
	while (!w->running)
		pthread_cond_wait(&w->running_cv, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

void
worker_free(struct worker *w)
{
	uint64_t one = 1;

	if (w == NULL)
		return;
	if (w->started) {
		if (write(w->stopfd, &one, sizeof(one)) < 0)
			log_warn("stopping a worker");
		pthread_join(w->tid, NULL);
	}
	queue_close(w->q);
	engine_free(w->engine);
	free(w->evbuf);
	if (w->stopfd >= 0)
		close(w->stopfd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->running_cv);
	free(w);
}

void
worker_lock(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
}

void
worker_unlock(struct worker *w)
{
	pthread_mutex_unlock(&w->lock);
}

struct engine *
worker_engine(struct worker *w)
{
	return w->engine;
}

void
worker_stats(struct worker *w, struct worker_stats *s)
{
	struct queue_stats qs;

	pthread_mutex_lock(&w->lock);
	engine_get_stats(w->engine, &s->engine);
	queue_get_stats(w->q, &qs);
	s->packets = qs.packets;
	s->enobufs = qs.enobufs;
	s->queue_errors = qs.errors;
	s->resets_sent = w->resets_sent;
	s->reset_errors = w->reset_errors;
	pthread_mutex_unlock(&w->lock);
}

void
worker_stats_all(struct worker *const *workers, unsigned n,
    struct worker_stats *s)
{
	struct worker_stats w;
	unsigned i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < n; i++) {
		worker_stats(workers[i], &w);
		engine_stats_add(&s->engine, &w.engine);
		s->packets += w.packets;
		s->enobufs += w.enobufs;
		s->queue_errors += w.queue_errors;
		s->resets_sent += w.resets_sent;
		s->reset_errors += w.reset_errors;
	}
}

uint16_t
worker_queue(const struct worker *w)
{
	return queue_num(w->q);
}

void
worker_tick(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	engine_tick(w->engine, worker_now());
	worker_events(w);
	pthread_mutex_unlock(&w->lock);
}
