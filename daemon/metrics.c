/*
 * metrics.c — see metrics.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "rgd.h"
#include "worker.h"

static const struct rg_stat rgd_stat_table[] = {
#define RGD_STATS_ROW(f, n, k, g, u, h) \
	{ n, offsetof(struct rgd_counters, f), k, g, u, h },
	RGD_STATS(RGD_STATS_ROW)
#undef RGD_STATS_ROW
};
#define RGD_NSTATS (sizeof(rgd_stat_table) / sizeof(rgd_stat_table[0]))

/* The two tables, in the order status shows them. */
static const struct {
	const struct rg_stat	*v;
	size_t			 n;
	size_t			 base;	/* of the struct, in the snapshot */
} metrics_tables[] = {
	{ rgd_stat_table, RGD_NSTATS, offsetof(struct metrics_snapshot, own) },
	{ engine_stat_table, 0, offsetof(struct metrics_snapshot, engine) },
};

static size_t
metrics_table_len(size_t t)
{
	return t == 0 ? RGD_NSTATS : engine_stat_count;
}

static uint64_t
metrics_value(const struct metrics_snapshot *m, size_t t,
    const struct rg_stat *s)
{
	uint64_t v;

	memcpy(&v, (const char *)m + metrics_tables[t].base + s->offset,
	    sizeof(v));
	return v;
}

/* Replay's simulation counters are always 0 in the daemon. */
static int
metrics_shown(const struct rg_stat *s)
{
	return s->group != RG_STAT_REPLAY;
}

void
metrics_snapshot(struct rgd *d, struct metrics_snapshot *m)
{
	struct worker_stats ws;

	memset(m, 0, sizeof(*m));
	worker_stats_all(d->workers, d->nworkers, &ws);
	m->engine = ws.engine;
	m->own.packets = ws.packets;
	m->own.queue_receives = ws.queue_receives;
	m->own.enobufs = ws.enobufs;
	m->own.queue_errors = ws.queue_errors;
	m->own.capture_drops = ws.capture_drops;
	m->own.resets_sent = ws.resets_sent;
	m->own.reset_errors = ws.reset_errors;
	m->own.blocks_added = d->blocks_added;
	m->own.block_errors = d->block_errors;
	m->own.events_written = __atomic_load_n(&d->events.written,
	    __ATOMIC_RELAXED);
	m->own.event_write_errors = __atomic_load_n(&d->events.errors,
	    __ATOMIC_RELAXED);
	m->own.metrics_write_errors = d->metrics_errors;
	m->started = d->started;
	m->now = time(NULL);
}

void
metrics_json(const struct metrics_snapshot *m, json_t *o)
{
	json_t *groups, *g[RG_STAT__GROUPS] = { NULL }, *c;
	const struct rg_stat *s;
	size_t t, i;
	int k;

	json_object_set_new(o, "uptime", json_integer((json_int_t)
	    (m->now > m->started ? m->now - m->started : 0)));
	for (t = 0; t < 2; t++)
		for (i = 0; i < metrics_table_len(t); i++) {
			s = &metrics_tables[t].v[i];
			if (!metrics_shown(s))
				continue;
			json_object_set_new(o, s->name, json_integer(
			    (json_int_t)metrics_value(m, t, s)));
			if (g[s->group] == NULL)
				g[s->group] = json_array();
			c = json_pack("{s:s,s:I,s:s,s:s}", "name", s->name,
			    "value", (json_int_t)metrics_value(m, t, s),
			    "unit", s->unit, "kind",
			    s->kind == RG_STAT_COUNTER ? "counter" : "gauge");
			json_array_append_new(g[s->group], c);
		}
	groups = json_array();
	for (k = 0; k < RG_STAT__GROUPS; k++)
		if (g[k] != NULL)
			json_array_append_new(groups, json_pack("{s:s,s:o}",
			    "group", rg_stat_group_name((enum rg_stat_group)k),
			    "counters", g[k]));
	json_object_set_new(o, "groups", groups);
}

char *
metrics_prometheus(struct rgd *d, const struct metrics_snapshot *m)
{
	const struct rg_stat *s;
	char *buf = NULL;
	size_t len = 0, t, i;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fprintf(f, "# HELP relayguard_info relayguardd's version and "
	    "settings.\n# TYPE relayguard_info gauge\n"
	    "relayguard_info{version=\"%s\",mode=\"%s\",hook=\"%s\","
	    "queue_mechanism=\"%s\"} 1\n", RELAYGUARD_VERSION,
	    d->conf.mode == CONFIG_MODE_ENFORCE ? "enforce" : "monitor",
	    d->conf.hook == CONFIG_HOOK_INPUT ? "input" : "forward",
	    d->mechanism != NULL ? d->mechanism : "none");
	fprintf(f, "# HELP relayguard_start_time_seconds When relayguardd "
	    "started, in seconds since the epoch.\n"
	    "# TYPE relayguard_start_time_seconds gauge\n"
	    "relayguard_start_time_seconds %lld\n", (long long)m->started);
	fprintf(f, "# HELP relayguard_workers Queue workers (one per "
	    "queue).\n# TYPE relayguard_workers gauge\n"
	    "relayguard_workers %u\n", d->nworkers);
	for (t = 0; t < 2; t++)
		for (i = 0; i < metrics_table_len(t); i++) {
			s = &metrics_tables[t].v[i];
			if (!metrics_shown(s))
				continue;
			if (s->kind == RG_STAT_COUNTER)
				fprintf(f, "# HELP relayguard_%s_total %s.\n"
				    "# TYPE relayguard_%s_total counter\n"
				    "relayguard_%s_total %llu\n", s->name,
				    s->help, s->name, s->name,
				    (unsigned long long)metrics_value(m, t, s));
			else
				fprintf(f, "# HELP relayguard_%s %s.\n"
				    "# TYPE relayguard_%s gauge\n"
				    "relayguard_%s %llu\n", s->name, s->help,
				    s->name, s->name,
				    (unsigned long long)metrics_value(m, t, s));
		}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Write the text to PATH.tmp and rename it over PATH: node_exporter
 * reads a whole file or the previous one, never half. */
static int
metrics_write(const char *path, const char *text, char *err, size_t errlen)
{
	char tmp[CONFIG_PATH_MAX + 8];
	size_t len = strlen(text), off = 0;
	ssize_t w;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "metrics-file %s: path too long", path);
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0644)) < 0) {
		snprintf(err, errlen, "metrics-file %s: %s", tmp,
		    strerror(errno));
		return -1;
	}
	while (off < len) {
		if ((w = write(fd, text + off, len - off)) <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			if (w == 0)
				errno = EIO;
			break;
		}
		off += (size_t)w;
	}
	if (off < len || close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "metrics-file %s: %s", path,
		    strerror(errno != 0 ? errno : EIO));
		if (off < len)
			(void)close(fd);
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

void
metrics_tick(struct rgd *d, int force)
{
	struct metrics_snapshot m;
	char err[CONFIG_PATH_MAX + 128], *text;
	time_t now = time(NULL);

	if (d->conf.metrics_file[0] == '\0')
		return;
	if (!force && d->metrics_last != 0 && now - d->metrics_last <
	    (time_t)(d->conf.metrics_interval / RG_USEC_PER_SEC))
		return;
	d->metrics_last = now;
	metrics_snapshot(d, &m);
	if ((text = metrics_prometheus(d, &m)) == NULL) {
		snprintf(err, sizeof(err), "metrics: out of memory");
	} else if (metrics_write(d->conf.metrics_file, text, err,
	    sizeof(err)) == 0) {
		free(text);
		return;
	}
	free(text);
	d->metrics_errors++;
	if (now - d->metrics_err_logged >= 60) {
		log_warnx("%s (%llu failed writes in all)", err,
		    (unsigned long long)d->metrics_errors);
		d->metrics_err_logged = now;
	}
}
