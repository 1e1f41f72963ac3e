/*
 * test_replaymt.c — tools/replaymt.c with rings made tiny (a 32 KiB
 * record ring, a 4-entry mark ring), so that the workers fill them all
 * the time: every wait for room, every wake-up of the merge and every
 * readiness test runs thousands of times.  All the corpus and crafted
 * captures in one timeline (tests/replay/empty.conf, --raw), on one
 * worker and on three: the same events in the same order, the same buffer
 * peak and counters, and no run hangs (an alarm fails the test after
 * 120 s).  A merge that let a record out before the other workers' progress
 * allows fails it.
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

#define MT_RING (32u << 10)
#define MT_MARKS 4
#include "../../tools/replaymt.c"
#include "../../tools/capture.c"

#include "conffile.h"

#define MAX_FILES 256

struct sink {
	char *buf;
	size_t len, cap;
	uint64_t events, last_pkt;
	bool ordered;
};

static void
sink_event(void *ctx, const struct event *ev)
{
	static char line[EVENT_JSON_MAX];
	struct sink *s = ctx;
	size_t n = event_json(ev, line, sizeof(line));
	char *p;

	if (ev->order.pkt < s->last_pkt && ev->order.pkt != ENGINE_ORDER_END)
		s->ordered = false;
	if (ev->order.pkt != ENGINE_ORDER_END)
		s->last_pkt = ev->order.pkt;
	s->events++;
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		if ((p = realloc(s->buf, s->cap)) == NULL)
			abort();
		s->buf = p;
	}
	memcpy(s->buf + s->len, line, n);
	s->len += n;
}

static void
sink_progress(void *ctx, const struct event_order *o)
{
	(void)ctx;
	(void)o;
}

static int
names(const char *dir, char **out, int n)
{
	struct dirent **list;
	int k, i;

	if ((k = scandir(dir, &list, NULL, alphasort)) < 0)
		return n;
	for (i = 0; i < k; i++) {
		if (strstr(list[i]->d_name, ".pcap") != NULL && n < MAX_FILES &&
		    asprintf(&out[n], "%s/%s", dir, list[i]->d_name) > 0)
			n++;
		free(list[i]);
	}
	free(list);
	return n;
}

static void
run(const struct config *conf, char **paths, int npaths, unsigned threads,
    struct sink *s, struct engine_stats *st)
{
	struct capture *files[MAX_FILES];
	struct replay_mt_args a;
	char err[512];
	bool caps;
	int i, n = 0;

	for (i = 0; i < npaths; i++)
		if ((files[n] = capture_open(paths[i], err, sizeof(err))) != NULL &&
		    strcmp(capture_reader(files[n]), "pread") == 0)
			n++;
		else if (files[n] != NULL)
			capture_close(files[n]);
	memset(&a, 0, sizeof(a));
	a.conf = conf;
	a.files = files;
	a.nfiles = n;
	a.nthreads = threads;
	a.simulate = false;	/* --raw: every relay RCPT judged */
	a.progress = sink_progress;
	a.event = sink_event;
	a.ctx = s;
	memset(s, 0, sizeof(*s));
	s->ordered = true;
	(void)replay_threads(&a, st, &caps);
	for (i = 0; i < n; i++)
		capture_close(files[i]);
}

static void
test_tiny_rings(void)
{
	static char *paths[MAX_FILES];
	struct config conf;
	struct engine_stats one, three;
	struct sink s1, s3;
	char err[512];
	int n = 0, i;

	if (!conffile_load("tests/replay/empty.conf", true, &conf, err,
	    sizeof(err))) {
		fprintf(stderr, "%s (run from the top directory)\n", err);
		TEST_CHECK(0);
		return;
	}
	n = names("tests/corpus/pcap", paths, n);
	n = names("tests/crafted/pcap", paths, n);
	TEST_CHECK(n > 50);
	alarm(120);
	run(&conf, paths, n, 1, &s1, &one);
	run(&conf, paths, n, 3, &s3, &three);
	alarm(0);
	printf("  %d captures, %llu events, buffer peak %llu\n", n,
	    (unsigned long long)s1.events,
	    (unsigned long long)one.mem_peak);
	TEST_CHECK(s1.events > 500);
	TEST_CHECK(s1.ordered && s3.ordered);
	ASSERT_INT_EQ(s1.len, s3.len);
	TEST_CHECK(s1.len == s3.len && memcmp(s1.buf, s3.buf, s1.len) == 0);
	ASSERT_INT_EQ(one.mem_peak, three.mem_peak);
	TEST_CHECK(one.mem_peak > 0);
	ASSERT_INT_EQ(one.packets, three.packets);
	ASSERT_INT_EQ(one.relay_attempts, three.relay_attempts);
	free(s1.buf);
	free(s3.buf);
	for (i = 0; i < n; i++)
		free(paths[i]);
	config_free(&conf);
}

int
main(void)
{
	TEST_RUN(test_tiny_rings);
	return TEST_END("replaymt");
}
