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
#include "live.h"
#include "log.h"
#include "mailbox.h"
#include "queue.h"
#include "reset.h"
#include "rgd.h"
#include "worker.h"

#define WORKER_BATCH 256	/* receives before looking at the stop fd */
#define WORKER_PKT_MAX 65536	/* capture: bytes of a packet copied */
#define WORKER_POLL (1 + CONFIG_MAX_CAPTURE)

struct worker {
	struct rgd *d;
	struct queue *q;		/* queue mode, or */
	struct live *live;		/* capture mode (live.h) */
	uint16_t num;			/* queue number, or worker index */
	uint8_t *pkt;			/* capture: a writable copy */
	struct engine *engine;
	pthread_t tid;
	bool started;
	bool stop;			/* atomic: queue mode, leave the loop */
	int stopfd;			/* capture mode: readable to stop */
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
	if (r.offload && v->accept) {
		v->offload = true;
		v->mark = w->d->conf.offload_mark;
		v->mask = w->d->conf.offload_mask;
	}
	/* Resets and blocks are carried out once the verdicts of this batch
	 * are sent, so no packet waits on them. */
	if ((r.reset || r.block) && w->ntodo < RGD_TODO_MAX)
		w->todo[w->ntodo++] = r;
}

/* Capture: the packet has passed already; the engine only watches (its
 * verdict means nothing) and says whom to reset and block. */
static void
worker_captured(void *ctx, int linktype, rg_time_t ts, const uint8_t *pkt,
    size_t caplen, size_t wirelen)
{
	struct worker *w = ctx;
	struct engine_result r;

	if (caplen > WORKER_PKT_MAX)
		caplen = WORKER_PKT_MAX;
	/* The engine takes writable bytes (inline it rewrites); the ring's
	 * are not ours to write. */
	memcpy(w->pkt, pkt, caplen);
	engine_packet(w->engine, linktype, ts, w->pkt, caplen, wirelen, 0,
	    ENGINE_INDEV_UNKNOWN, &r);
	if ((r.reset || r.block) && w->ntodo < RGD_TODO_MAX)
		w->todo[w->ntodo++] = r;
}

/*
 * Block requests, events and resets from the packets just answered, in
 * that order: the block goes into the kernel set while this thread writes
 * the events (a log write may wait on the disk or on journald) and sends
 * the resets (each one runs the receiving stack, a local one included);
 * the main thread stores the block's evidence once it is told it is out.
 */
static void
worker_flush(struct worker *w)
{
	const struct engine_result *r;
	uint64_t tickets[RGD_TODO_MAX];
	unsigned i, nt = 0;

	for (i = 0; i < w->ntodo; i++)
		if (w->todo[i].block && (tickets[nt] = mailbox_post_block(
		    w->d->mail, &w->todo[i].client, w->todo[i].block_for)) != 0)
			nt++;
	worker_events(w);
	for (i = 0; i < nt; i++)
		mailbox_evidence_done(w->d->mail, tickets[i]);
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
	}
	w->ntodo = 0;
}

/* Capture: read what the ready intake sockets hold, a bounded batch. */
static void
worker_intake(struct worker *w, const struct pollfd *p, unsigned np)
{
	unsigned k;
	int i, n;

	for (k = 0; k < np; k++) {
		if (!(p[k].revents & (POLLIN | POLLERR)))
			continue;
		for (i = 0; i < WORKER_BATCH; i++) {
			n = live_receive(w->live, k, worker_captured, w);
			worker_flush(w);
			if (n <= 0)
				break;
		}
	}
}

/*
 * Queue mode: a blocking receive that gives up every QUEUE_WAIT_MS so
 * that a stop request (the flag) is seen.  A wake-up takes every packet
 * message waiting (up to QUEUE_RECV_BATCH, one recvmmsg: queue.c) and
 * answers the plain accepts among them with one verdict: a receive and a
 * verdict per packet when packets come one at a time, as the bare reader
 * does, fewer under load.  (A poll before the receive would cost a third
 * system call.)
 */
static void
worker_queue_loop(struct worker *w)
{
	int n;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		/* Waiting needs no lock: the main thread may take it. */
		if ((n = queue_wait(w->q)) <= 0) {
			if (n < 0)
				log_warn("queue %u: receive", w->num);
			continue;
		}
		pthread_mutex_lock(&w->lock);
		(void)queue_handle(w->q, worker_packet, w);
		worker_flush(w);
		pthread_mutex_unlock(&w->lock);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct pollfd p[WORKER_POLL];
	unsigned k, np;

	/* The intake sockets first, the stop fd last. */
	np = w->live != NULL ? live_count(w->live) : 1;
	for (k = 0; k < np; k++) {
		p[k].fd = w->live != NULL ? live_fd(w->live, k) :
		    queue_fd(w->q);
		p[k].events = POLLIN;
	}
	p[np].fd = w->stopfd;
	p[np].events = POLLIN;
	/* Thread start-up (rseq, robust lists, ...) is over: the seccomp
	 * filter, which allows only what the loop needs, may come now. */
	pthread_mutex_lock(&w->lock);
	w->running = true;
	pthread_cond_signal(&w->running_cv);
	pthread_mutex_unlock(&w->lock);
	if (w->q != NULL) {
		worker_queue_loop(w);
		return NULL;
	}
	for (;;) {
		if (poll(p, np + 1, -1) < 0) {
			if (errno != EINTR)
				log_warn("worker %u: poll", w->num);
			continue;
		}
		if (p[np].revents & POLLIN)
			break;
		pthread_mutex_lock(&w->lock);
		worker_intake(w, p, np);
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
	w->num = num;
	w->stopfd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->running_cv, NULL);
	if ((w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		snprintf(err, errlen, "queue %u: eventfd: %s", num,
		    strerror(errno));
		goto fail;
	}
	if ((w->evbuf = malloc(EVENTLOG_ROOM + EVENT_JSON_MAX)) == NULL ||
	    (w->engine = engine_new(&d->conf, d->conf.ncapture == 0)) ==
	    NULL) {
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
	if (d->conf.ncapture > 0) {
		/* Worker 0 creates the fanout groups, the others join. */
		engine_set_passive(w->engine, d->conf.capture_reset,
		    d->conf.capture_block);
		if ((w->pkt = malloc(WORKER_PKT_MAX)) == NULL) {
			snprintf(err, errlen, "worker %u: out of memory", num);
			goto fail;
		}
		if ((w->live = live_open(&d->conf, num,
		    d->conf.capture_workers, num > 0 && d->nworkers > 0 ?
		    d->workers[0]->live : NULL, err, errlen)) == NULL)
			goto fail;
	} else if ((w->q = queue_open(num, err, errlen)) == NULL)
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
		snprintf(err, errlen, "worker %u: thread: %s", w->num,
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
worker_stop(struct worker *w)
{
	uint64_t one = 1;

	if (w == NULL || !w->started ||
	    __atomic_exchange_n(&w->stop, true, __ATOMIC_ACQ_REL))
		return;
	if (w->live != NULL && write(w->stopfd, &one, sizeof(one)) < 0)
		log_warn("stopping a worker");
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	if (w->started) {
		worker_stop(w);
		pthread_join(w->tid, NULL);
	}
	queue_close(w->q);
	live_close(w->live);
	free(w->pkt);
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
	struct live_stats ls;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&w->lock);
	engine_get_stats(w->engine, &s->engine);
	if (w->live != NULL) {
		live_get_stats(w->live, &ls);
		s->packets = ls.packets;
		s->capture_drops = ls.drops;
		s->queue_errors = ls.errors;
	} else {
		queue_get_stats(w->q, &qs);
		s->packets = qs.packets;
		s->queue_receives = qs.receives;
		s->enobufs = qs.enobufs;
		s->queue_errors = qs.errors;
	}
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
		s->queue_receives += w.queue_receives;
		s->enobufs += w.enobufs;
		s->queue_errors += w.queue_errors;
		s->resets_sent += w.resets_sent;
		s->reset_errors += w.reset_errors;
		s->capture_drops += w.capture_drops;
	}
}

uint16_t
worker_queue(const struct worker *w)
{
	return w->num;
}

bool
worker_ct_verdicts(const struct worker *w)
{
	return queue_ct_verdicts(w->q);
}

void
worker_tick(struct worker *w)
{
	pthread_mutex_lock(&w->lock);
	engine_tick(w->engine, worker_now());
	worker_events(w);
	pthread_mutex_unlock(&w->lock);
}
