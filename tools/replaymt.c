/*
 * replaymt.c — `relayguard replay --threads N`: the captures inspected on
 * N threads, with the output of one.
 *
 * Every worker reads the captures itself (its own buffer, capture_dup())
 * and deals each packet by its client's address (deal.h, the same answer
 * in every worker): the packets it is dealt go through its own engine,
 * the others only move its clock (engine_pass()), so its idle flows
 * expire at the very packet where one engine's would.  One client's
 * sessions and offences are all in one worker.  Nothing is handed from
 * thread to thread on the way in: reading a record and dealing it cost
 * less than passing it to another core would.  The main thread only
 * merges.  Events leave each worker in order of
 * (packet index, phase, flow seq) (engine.h), through a ring per worker,
 * and the main thread merges the rings by that order: the events, the
 * summary and the report are those of one thread.  The buffer bytes' peak
 * is rebuilt from the workers' marks (a ring of their own).
 *
 * The workers split max-flows and flow-memory between them (rounded up),
 * so the whole stays within them.  When a worker had to evict or shed,
 * one engine might have done so elsewhere or not at all: replay says so
 * on stderr (then rerun with --threads 1 for the one-engine answer).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "deal.h"
#include "engine.h"
#include "replaymt.h"

#ifndef MT_RING			/* tests/unit/test_replaymt.c sets it */
#define MT_RING (1u << 18)	/* bytes of records per worker */
#endif
#define MT_PUBLISH 512		/* packets between progress reports */

/*
 * The buffer marks (engine_next_mark) go in a ring of their own, of
 * fixed-size entries, and the merge takes them in a loop of its own:
 * they only need ordering among themselves, and there are ~100,000 in a
 * busy capture against a few thousand events.
 */
struct mt_mark {
	struct event_order ord;
	int64_t delta;		/* used_after - used_before */
	uint64_t excess;	/* peak - used_before */
};

#ifndef MT_MARKS			/* and this */
#define MT_MARKS 8192		/* entries a worker's mark ring holds */
#endif

/* An event in a worker's ring: its place, then event_pack()'s bytes. */
struct mt_rec {
	struct event_order ord;
	uint32_t len;		/* of the payload after this header */
};

#define MT_REC_MAX (sizeof(struct mt_rec) + EVENT_PACK_MAX)

struct mt;

struct mt_worker {
	struct mt *mt;
	unsigned id;
	pthread_t tid;
	bool started;
	struct engine *e;
	uint8_t *ring;
	_Atomic uint64_t wpos;	/* bytes written (worker) */
	_Atomic uint64_t rpos;	/* bytes read (main) */
	_Atomic uint64_t done;	/* packets whose records are all written */
	_Atomic bool finished;	/* and engine_finish()'s */
	uint64_t used_seen;	/* ring bytes in use at the last publish */
	uint64_t marks_seen;	/* marks in its ring then */
	struct mt_mark *marks;	/* MT_MARKS entries */
	_Atomic uint64_t mw, mr;	/* marks written (worker), read (main) */
	struct deal *deal;
	struct capture **files;	/* its own readers (capture_dup) */
	uint8_t rec[MT_REC_MAX];
	/* main's view of the head record */
	bool have_head;
	struct mt_rec head;
	uint8_t *payload;
};

struct mt {
	unsigned n;
	int nfiles;
	struct config wconf;
	struct mt_worker *w;
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	uint64_t gen;		/* bumped on every publish */
	_Atomic unsigned waiting;	/* workers waiting for room */
	char *errors;		/* read errors, in order (worker 0's) */
	size_t errlen;
	bool read_error;
	_Atomic bool stop;	/* a thread could not start: give up */
	/* the merge's running sums (mt_merge) */
	uint64_t global_used, global_peak;
};

static void
mt_signal(struct mt *mt)
{
	pthread_mutex_lock(&mt->lock);
	mt->gen++;
	pthread_cond_signal(&mt->more);
	pthread_mutex_unlock(&mt->lock);
}

/* No room for n more bytes in w's ring (marks: n more marks in its mark
 * ring)?  The worker's own positions, the merge's read ones. */
static bool
mt_full(struct mt_worker *w, bool marks, size_t n)
{
	if (marks)
		return atomic_load_explicit(&w->mw, memory_order_relaxed) + n -
		    atomic_load_explicit(&w->mr, memory_order_acquire) >
		    MT_MARKS;
	return atomic_load_explicit(&w->wpos, memory_order_relaxed) + n -
	    atomic_load_explicit(&w->rpos, memory_order_acquire) > MT_RING;
}

/* Wait until there is room (what is written goes out first); false when
 * the run is given up (mt->stop). */
static bool
mt_wait_room(struct mt_worker *w, bool marks, size_t n)
{
	struct mt *mt = w->mt;

	if (!mt_full(w, marks, n))
		return true;
	mt_signal(mt);
	pthread_mutex_lock(&mt->lock);
	mt->waiting++;
	while (mt_full(w, marks, n) &&
	    !atomic_load_explicit(&mt->stop, memory_order_relaxed))
		pthread_cond_wait(&mt->room, &mt->lock);
	mt->waiting--;
	pthread_mutex_unlock(&mt->lock);
	return !atomic_load_explicit(&mt->stop, memory_order_relaxed);
}

/* Copy n bytes into the ring at wpos, waiting for room; false when the
 * run is given up (mt->stop). */
static bool
mt_put(struct mt_worker *w, const void *p, size_t n)
{
	uint64_t wp = atomic_load_explicit(&w->wpos, memory_order_relaxed);
	size_t off = wp % MT_RING, first;

	if (!mt_wait_room(w, false, n))
		return false;
	first = MT_RING - off < n ? MT_RING - off : n;
	memcpy(w->ring + off, p, first);
	memcpy(w->ring, (const uint8_t *)p + first, n - first);
	return true;
}

/* An event into w's ring, header and packed event in one piece,
 * published together. */
static void
mt_event_out(struct mt_worker *w, const struct event *ev)
{
	struct mt_rec h;
	uint64_t wp;

	memset(&h, 0, sizeof(h));
	h.ord = ev->order;
	h.len = (uint32_t)event_pack(ev, w->rec + sizeof(h));
	memcpy(w->rec, &h, sizeof(h));
	if (!mt_put(w, w->rec, sizeof(h) + h.len))
		return;
	wp = atomic_load_explicit(&w->wpos, memory_order_relaxed);
	atomic_store_explicit(&w->wpos, wp + sizeof(h) + h.len,
	    memory_order_release);
}

/* One mark into w's mark ring, waiting for room as mt_put() does. */
static void
mt_mark_put(struct mt_worker *w, const struct engine_mark *m)
{
	uint64_t wp = atomic_load_explicit(&w->mw, memory_order_relaxed);
	struct mt_mark *k;

	if (!mt_wait_room(w, true, 1))
		return;
	k = &w->marks[wp % MT_MARKS];
	k->ord = m->order;
	k->delta = (int64_t)(m->used_after - m->used_before);
	k->excess = m->peak - m->used_before;
	atomic_store_explicit(&w->mw, wp + 1, memory_order_release);
}

static void
mt_drain(struct mt_worker *w, struct event *ev)
{
	struct engine_mark m;

	while (engine_next_event(w->e, ev))
		mt_event_out(w, ev);
	while (engine_next_mark(w->e, &m))
		mt_mark_put(w, &m);
}

/*
 * Progress is published to the merge without waking it, except when it
 * is needed: a worker waits for room in its ring (the others' progress
 * may be what lets its records out), or this ring gets half full.  (Waking
 * the main thread at every step took a core from a worker each time.)
 * A wake-up missed by the racy reads is made up at the next publish or
 * the worker's end, which always wakes.
 */
static void
mt_publish(struct mt_worker *w, uint64_t done)
{
	uint64_t used = atomic_load_explicit(&w->wpos, memory_order_relaxed) -
	    atomic_load_explicit(&w->rpos, memory_order_relaxed);
	uint64_t marks = atomic_load_explicit(&w->mw, memory_order_relaxed) -
	    atomic_load_explicit(&w->mr, memory_order_relaxed);
	bool crossed = (used > MT_RING / 2 && w->used_seen <= MT_RING / 2) ||
	    (marks > MT_MARKS / 2 && w->marks_seen <= MT_MARKS / 2);

	atomic_store_explicit(&w->done, done, memory_order_release);
	w->used_seen = used;
	w->marks_seen = marks;
	/* Half full: once as it gets there, not at every packet after. */
	if (crossed || atomic_load_explicit(&w->mt->waiting,
	    memory_order_relaxed) > 0)
		mt_signal(w->mt);
}

static void
mt_error(struct mt *mt, const char *prefix, const char *err)
{
	size_t k = strlen(prefix), n = strlen(err);
	char *p;

	mt->read_error = true;
	if ((p = realloc(mt->errors, mt->errlen + k + n + 2)) == NULL)
		return;
	mt->errors = p;
	memcpy(p + mt->errlen, prefix, k);
	memcpy(p + mt->errlen + k, err, n);
	p[mt->errlen + k + n] = '\n';
	p[mt->errlen + k + n + 1] = '\0';
	mt->errlen += k + n + 1;
}

static void *
mt_worker_main(void *arg)
{
	struct mt_worker *w = arg;
	struct mt *mt = w->mt;
	static __thread struct event ev;
	struct capture_record r;
	struct decode_packet p;
	enum decode_result rc;
	char err[512];
	uint64_t i = 0;
	int f, crc = 0;

	for (f = 0; f < mt->nfiles; f++) {
		while (!atomic_load_explicit(&mt->stop, memory_order_relaxed) &&
		    (crc = capture_next(w->files[f], &r, err,
		    sizeof(err))) == 1) {
			/* Decoded once: to deal, and for the engine. */
			rc = decode_packet(r.linktype, r.data, r.caplen,
			    r.wirelen, &p);
			if (deal_decoded(w->deal, rc, &p) == w->id)
				engine_packet_decoded(w->e, rc, &p, r.ts_usec,
				    (uint8_t *)(uintptr_t)r.data, r.caplen,
				    r.wirelen, 0, r.has_ifid ? r.ifid :
				    ENGINE_INDEV_UNKNOWN, NULL);
			else
				engine_pass(w->e, r.ts_usec);
			mt_drain(w, &ev);
			if (++i % MT_PUBLISH == 0)
				mt_publish(w, i);
		}
		/* Every worker meets the same error; one tells it. */
		if (crc < 0 && w->id == 0)
			mt_error(mt, "relayguard: replay: ", err);
	}
	mt_publish(w, i);
	engine_finish(w->e);
	mt_drain(w, &ev);
	atomic_store_explicit(&w->finished, true, memory_order_release);
	mt_signal(w->mt);
	return NULL;
}

static int
mt_cmp(const struct event_order *a, const struct event_order *b)
{
	if (a->pkt != b->pkt)
		return a->pkt < b->pkt ? -1 : 1;
	if (a->phase != b->phase)
		return a->phase < b->phase ? -1 : 1;
	if (a->sub != b->sub)
		return a->sub < b->sub ? -1 : 1;
	return 0;
}

/* Copy n bytes out of w's ring from read offset pos. */
static void
mt_get(struct mt_worker *w, uint64_t pos, void *p, size_t n)
{
	size_t off = pos % MT_RING, first = MT_RING - off < n ?
	    MT_RING - off : n;

	memcpy(p, w->ring + off, first);
	memcpy((uint8_t *)p + first, w->ring, n - first);
}

/* Load w's head record if it has one written. */
static bool
mt_head(struct mt_worker *w)
{
	uint64_t rp, wp;

	if (w->have_head)
		return true;
	rp = atomic_load_explicit(&w->rpos, memory_order_relaxed);
	wp = atomic_load_explicit(&w->wpos, memory_order_acquire);
	if (wp == rp)
		return false;
	mt_get(w, rp, &w->head, sizeof(w->head));
	mt_get(w, rp + sizeof(w->head), w->payload, w->head.len);
	w->have_head = true;
	return true;
}

/* The merge took something out of a ring: wake workers waiting for room
 * (read racily: a miss is caught at the next publish or mt_wait()). */
static void
mt_room_made(struct mt *mt)
{
	if (mt->waiting > 0) {
		pthread_mutex_lock(&mt->lock);
		pthread_cond_broadcast(&mt->room);
		pthread_mutex_unlock(&mt->lock);
	}
}

static void
mt_pop(struct mt *mt, struct mt_worker *w)
{
	uint64_t rp = atomic_load_explicit(&w->rpos, memory_order_relaxed);

	w->have_head = false;
	atomic_store_explicit(&w->rpos, rp + sizeof(w->head) + w->head.len,
	    memory_order_release);
	mt_room_made(mt);
}

/* Can nothing a worker still writes come before o: its first unread
 * entry (head, NULL if none) is not before o, or it has finished, or it
 * is past o's packet (loaded before head: what was written before it
 * published done is in the ring). */
static bool
mt_settled(const struct event_order *o, const struct event_order *head,
    bool fin, uint64_t done)
{
	if (head != NULL)
		return mt_cmp(head, o) >= 0;
	return fin || (o->pkt != ENGINE_ORDER_END && o->pkt < done);
}

/* Can a record at o go out: no worker may still write one before it. */
static bool
mt_ready(struct mt *mt, const struct event_order *o, unsigned except)
{
	struct mt_worker *v;
	uint64_t done;
	bool fin;
	unsigned i;

	for (i = 0; i < mt->n; i++) {
		if (i == except)
			continue;
		v = &mt->w[i];
		/* Progress first, then the ring: records of packets before
		 * done were written before done was published. */
		fin = atomic_load_explicit(&v->finished, memory_order_acquire);
		done = atomic_load_explicit(&v->done, memory_order_acquire);
		if (!mt_settled(o, mt_head(v) ? &v->head.ord : NULL, fin, done))
			return false;
	}
	return true;
}

static void
mt_free(struct mt *mt)
{
	unsigned i;
	int f;

	for (i = 0; mt->w != NULL && i < mt->n; i++) {
		struct mt_worker *w = &mt->w[i];

		engine_free(w->e);
		free(w->ring);
		free(w->marks);
		free(w->payload);
		deal_free(w->deal);
		if (w->files != NULL)
			for (f = 0; f < mt->nfiles; f++)
				capture_close(w->files[f]);
		free(w->files);
	}
	free(mt->w);
	free(mt->errors);
	pthread_mutex_destroy(&mt->lock);
	pthread_cond_destroy(&mt->more);
	pthread_cond_destroy(&mt->room);
}

static uint64_t
mt_div_up(uint64_t a, unsigned n)
{
	return (a + n - 1) / n;
}

/* Can the mark at o go: no other worker may still write one before it.
 * (Progress first, then the ring, as mt_ready().) */
static bool
mt_mark_ready(struct mt *mt, const struct event_order *o, unsigned except)
{
	struct mt_worker *v;
	uint64_t done, r;
	bool fin;
	unsigned i;

	for (i = 0; i < mt->n; i++) {
		if (i == except)
			continue;
		v = &mt->w[i];
		fin = atomic_load_explicit(&v->finished, memory_order_acquire);
		done = atomic_load_explicit(&v->done, memory_order_acquire);
		r = atomic_load_explicit(&v->mr, memory_order_relaxed);
		if (!mt_settled(o, r != atomic_load_explicit(&v->mw,
		    memory_order_acquire) ? &v->marks[r % MT_MARKS].ord : NULL,
		    fin, done))
			return false;
	}
	return true;
}

/* The buffer peak one engine would have had: the marks in one order,
 * others' bytes as they stand plus each step's own peak.  True when
 * every worker has finished and every mark is in. */
static bool
mt_merge_marks(struct mt *mt)
{
	struct mt_worker *w, *best;
	const struct mt_mark *k, *bk = NULL;
	uint64_t r, cand;
	unsigned i;
	bool all_done;

	for (;;) {
		best = NULL;
		all_done = true;
		for (i = 0; i < mt->n; i++) {
			w = &mt->w[i];
			if (!atomic_load_explicit(&w->finished,
			    memory_order_acquire))
				all_done = false;
			r = atomic_load_explicit(&w->mr, memory_order_relaxed);
			if (r == atomic_load_explicit(&w->mw,
			    memory_order_acquire))
				continue;
			all_done = false;
			k = &w->marks[r % MT_MARKS];
			if (best == NULL || mt_cmp(&k->ord, &bk->ord) < 0) {
				best = w;
				bk = k;
			}
		}
		if (best == NULL || !mt_mark_ready(mt, &bk->ord, best->id))
			return all_done;
		cand = mt->global_used + bk->excess;
		if (cand > mt->global_peak)
			mt->global_peak = cand;
		mt->global_used += (uint64_t)bk->delta;
		atomic_store_explicit(&best->mr, atomic_load_explicit(&best->mr,
		    memory_order_relaxed) + 1, memory_order_release);
		mt_room_made(mt);
	}
}

/* Put out every record no worker can still undercut; true when every
 * worker has finished and all is out. */
static bool
mt_merge(struct mt *mt, const struct replay_mt_args *a)
{
	static struct event ev;
	struct mt_worker *w, *best;
	unsigned i;
	bool all_done, marks_done = mt_merge_marks(mt);

	for (;;) {
		best = NULL;
		all_done = true;
		for (i = 0; i < mt->n; i++) {
			w = &mt->w[i];
			if (!atomic_load_explicit(&w->finished,
			    memory_order_acquire) || mt_head(w))
				all_done = false;
			if (mt_head(w) && (best == NULL ||
			    mt_cmp(&w->head.ord, &best->head.ord) < 0))
				best = w;
		}
		if (best == NULL || !mt_ready(mt, &best->head.ord, best->id))
			return all_done && marks_done;
		a->progress(a->ctx, &best->head.ord);
		event_unpack(&ev, best->payload);
		a->event(a->ctx, &ev);
		mt_pop(mt, best);
	}
}

/* Wait for news from the workers (a publish), merging meanwhile. */
static void
mt_wait(struct mt *mt, uint64_t gen)
{
	pthread_mutex_lock(&mt->lock);
	while (mt->gen == gen)
		pthread_cond_wait(&mt->more, &mt->lock);
	if (mt->waiting > 0)
		pthread_cond_broadcast(&mt->room);
	pthread_mutex_unlock(&mt->lock);
}

static uint64_t
mt_gen(struct mt *mt)
{
	uint64_t gen;

	pthread_mutex_lock(&mt->lock);
	gen = mt->gen;
	pthread_mutex_unlock(&mt->lock);
	return gen;
}

int
replay_threads(const struct replay_mt_args *a, struct engine_stats *st,
    bool *caps_reached)
{
	struct mt mt;
	struct mt_worker *w;
	struct engine_stats ws;
	uint64_t gen;
	unsigned i;
	int f, rc = 0;

	memset(&mt, 0, sizeof(mt));
	mt.n = a->nthreads;
	mt.nfiles = a->nfiles;
	pthread_mutex_init(&mt.lock, NULL);
	pthread_cond_init(&mt.more, NULL);
	pthread_cond_init(&mt.room, NULL);
	/* The caps are shared out: the workers together stay within them. */
	mt.wconf = *a->conf;
	mt.wconf.max_flows = (uint32_t)mt_div_up(a->conf->max_flows, mt.n);
	mt.wconf.flow_memory = mt_div_up(a->conf->flow_memory, mt.n);
	if ((mt.w = calloc(mt.n, sizeof(*mt.w))) == NULL)
		goto oom;
	for (i = 0; i < mt.n; i++) {
		w = &mt.w[i];
		w->mt = &mt;
		w->id = i;
		if ((w->deal = deal_new(a->conf, mt.n)) == NULL ||
		    (w->files = calloc((size_t)mt.nfiles,
		    sizeof(*w->files))) == NULL)
			goto oom;
		for (f = 0; f < mt.nfiles; f++)
			if ((w->files[f] = capture_dup(a->files[f])) == NULL)
				goto oom;
		if ((w->e = engine_new(&mt.wconf, false)) == NULL ||
		    (w->ring = malloc(MT_RING)) == NULL ||
		    (w->marks = calloc(MT_MARKS, sizeof(*w->marks))) == NULL ||
		    (w->payload = malloc(MT_REC_MAX)) == NULL)
			goto oom;
		engine_set_arena(w->e);
		engine_set_simulate(w->e, a->simulate);
		engine_set_marks(w->e, true);
	}
	for (i = 0; i < mt.n; i++) {
		if ((errno = pthread_create(&mt.w[i].tid, NULL, mt_worker_main,
		    &mt.w[i])) != 0) {
			fprintf(stderr, "relayguard: replay: threads: %s\n",
			    strerror(errno));
			rc = 1;
			pthread_mutex_lock(&mt.lock);
			atomic_store(&mt.stop, true);
			pthread_cond_broadcast(&mt.room);
			pthread_mutex_unlock(&mt.lock);
			goto join;
		}
		mt.w[i].started = true;
	}
	/* Merge as the workers go. */
	for (;;) {
		gen = mt_gen(&mt);
		if (mt_merge(&mt, a))
			break;
		mt_wait(&mt, gen);
	}
join:
	for (i = 0; i < mt.n; i++)
		if (mt.w[i].started)
			pthread_join(mt.w[i].tid, NULL);
	if (rc != 0)
		goto out;
	if (mt.errors != NULL)
		fputs(mt.errors, stderr);
	if (mt.read_error)
		rc = 1;
	memset(st, 0, sizeof(*st));
	*caps_reached = false;
	for (i = 0; i < mt.n; i++) {
		engine_get_stats(mt.w[i].e, &ws);
		if (ws.flows_evicted > 0 || ws.flows_evicted_mem > 0 ||
		    ws.mem_refused > 0 || ws.blocks_unremembered > 0)
			*caps_reached = true;
		engine_stats_add(st, &ws);
	}
	st->mem_peak = mt.global_peak;
	goto out;
oom:
	fprintf(stderr, "relayguard: replay: out of memory\n");
	rc = 1;
out:
	mt_free(&mt);
	return rc;
}
