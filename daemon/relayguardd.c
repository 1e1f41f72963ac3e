/*
 * relayguardd.c — the daemon: start-up, the poll loop, verdicts and
 * enforcement.  Everything that inspects lives in filters/; this file only
 * moves packets between NFQUEUE and the engine and carries out what the
 * engine asks for (drop, reset, block).
 *
 * Failure policy: problems at start-up are fatal (a firewall that half
 * starts is worse than one that refuses); once running, a failed operation
 * is logged and counted and the daemon carries on.  If the daemon dies the
 * queue rule's bypass flag lets traffic through, so mail never stops.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <sys/capability.h>

#include "conffile.h"
#include "log.h"
#include "nft.h"
#include "queue.h"
#include "reset.h"
#include "rgd.h"
#include "sandbox.h"
#include "store.h"

static void
usage(void)
{
	fprintf(stderr, "usage: relayguardd [-f] [-v] [-c FILE]\n");
	exit(2);
}

static rg_time_t
rgd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (rg_time_t)ts.tv_sec * RG_USEC_PER_SEC +
	    (rg_time_t)ts.tv_nsec / 1000;
}

void
rgd_evidence_for(struct rgd *d, const struct rg_addr *client, char *buf,
    size_t len)
{
	size_t used = 0, n;
	unsigned i, k;

	buf[0] = '\0';
	for (i = 0; i < RGD_EVIDENCE_RING; i++) {
		k = (d->evidence_next + i) % RGD_EVIDENCE_RING;
		if (!rg_addr_eq(&d->evidence[k].client, client))
			continue;
		n = strlen(d->evidence[k].line);
		if (used + n + 2 > len)
			break;
		memcpy(buf + used, d->evidence[k].line, n);
		used += n;
		buf[used++] = '\n';
		buf[used] = '\0';
	}
}

static void
rgd_keep_evidence(struct rgd *d, const struct event *ev, const char *json)
{
	struct rgd_evidence *e = &d->evidence[d->evidence_next];

	d->evidence_next = (d->evidence_next + 1) % RGD_EVIDENCE_RING;
	e->client = ev->client;
	/* Long lines are cut: evidence is for people, the log has it all. */
	(void)event_copy_text(e->line, sizeof(e->line), (const uint8_t *)json,
	    strlen(json));
}

/* Log every queued event; keep relay attempts as evidence. */
static void
rgd_events(struct rgd *d)
{
	struct event ev;
	char buf[4096];
	size_t n;

	while (engine_next_event(d->engine, &ev)) {
		if ((n = event_json(&ev, buf, sizeof(buf))) == 0)
			continue;
		buf[n - 1] = '\0';	/* the newline */
		log_info("%s", buf);
		if (ev.kind == EVENT_RELAY_ATTEMPT ||
		    ev.kind == EVENT_SMUGGLING)
			rgd_keep_evidence(d, &ev, buf);
	}
}

static void
rgd_enforce(struct rgd *d, const struct engine_result *r)
{
	char err[256], addr[RG_ADDRSTRLEN + 8], ev[RGD_EVIDENCE_RING * 64];
	uint64_t secs;

	if (r->reset) {
		/* To the server as if from the client, and back. */
		if (reset_send(d->reset, &r->client, r->client_port,
		    &r->server, r->server_port, r->seq_to_server,
		    r->seq_to_client) < 0 ||
		    reset_send(d->reset, &r->server, r->server_port,
		    &r->client, r->client_port, r->seq_to_client,
		    r->seq_to_server) < 0) {
			d->reset_errors++;
			log_warn("sending reset");
		} else
			d->resets_sent++;
	}
	if (r->block) {
		rg_addr_str(&r->client, addr, sizeof(addr));
		secs = r->block_for / RG_USEC_PER_SEC;
		rgd_evidence_for(d, &r->client, ev, sizeof(ev));
		if (blocks_add(d, addr, secs, "relay attempts", "auto", 0, ev,
		    err, sizeof(err)) < 0) {
			d->block_errors++;
			log_warnx("block %s: %s", addr, err);
		} else {
			d->blocks_added++;
			log_info("blocked %s for %llus", addr,
			    (unsigned long long)secs);
		}
	}
}

static void
rgd_packet(void *ctx, uint8_t *pkt, size_t len, bool csum_unverifiable,
    uint32_t indev, struct queue_verdict *v)
{
	struct rgd *d = ctx;
	struct engine_result r;

	d->verdicts++;
	engine_packet(d->engine, DECODE_LINK_RAW, rgd_now(), pkt, len, len,
	    csum_unverifiable ? ENGINE_F_CSUM_UNVERIFIABLE : 0, indev, &r);
	v->accept = r.verdict == ENGINE_ACCEPT;
	v->modified = r.rewritten;
	/* Resets and blocks are carried out once the verdicts of this batch
	 * are sent (rgd_flush), so no packet waits on a netlink round trip
	 * or a disk commit. */
	if ((r.reset || r.block) && d->ntodo < RGD_TODO_MAX)
		d->todo[d->ntodo++] = r;
}

/* Events, resets and blocks from the packets just answered. */
static void
rgd_flush(struct rgd *d)
{
	unsigned i;

	rgd_events(d);
	for (i = 0; i < d->ntodo; i++)
		rgd_enforce(d, &d->todo[i]);
	d->ntodo = 0;
}

static void
rgd_nft_params(const struct config *c, struct nft_setup_params *p)
{
	uint32_t i;

	memset(p, 0, sizeof(*p));
	p->hook = c->hook == CONFIG_HOOK_INPUT ? NFT_HOOK_INPUT :
	    NFT_HOOK_FORWARD;
	for (i = 0; i < c->nports && i < NFT_PORTS_MAX; i++)
		p->ports[i] = c->ports[i];
	p->nports = i;
	p->queue_first = c->queue_first;
	p->queue_last = c->queue_last;
	p->bypass = true;
	p->skip_mark = RESET_MARK;
}

static void
rgd_open_queues(struct rgd *d)
{
	char err[256];
	unsigned q;

	for (q = d->conf.queue_first; q <= d->conf.queue_last &&
	    d->nqueues < RGD_MAX_QUEUES; q++) {
		d->queues[d->nqueues] = queue_open((uint16_t)q, err,
		    sizeof(err));
		if (d->queues[d->nqueues] == NULL)
			fatalx("%s", err);
		d->nqueues++;
	}
}

static void
rgd_close_queues(struct rgd *d)
{
	unsigned i;

	for (i = 0; i < d->nqueues; i++)
		queue_close(d->queues[i]);
	d->nqueues = 0;
}

/* Make a directory (and its parent) for a state file, mode 0700. */
static void
rgd_mkdir_for(const char *path)
{
	char dir[CONFIG_PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return;
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0700) < 0 && errno == ENOENT) {
		rgd_mkdir_for(dir);
		(void)mkdir(dir, 0700);
	}
}

/* Keep only CAP_NET_ADMIN (nftables, NFQUEUE) and CAP_NET_RAW (resets);
 * no-new-privs so nothing exec'd could ever regain more. */
static void
rgd_drop_privileges(void)
{
	cap_value_t keep[] = { CAP_NET_ADMIN, CAP_NET_RAW };
	cap_t caps;
	int c;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fatal("prctl(PR_SET_NO_NEW_PRIVS)");
	/* Drop every other capability from the bounding set too. */
	for (c = 0; c <= CAP_LAST_CAP; c++)
		if (c != CAP_NET_ADMIN && c != CAP_NET_RAW)
			(void)prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	if ((caps = cap_init()) == NULL)
		fatal("cap_init");
	if (cap_set_flag(caps, CAP_PERMITTED, 2, keep, CAP_SET) < 0 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, 2, keep, CAP_SET) < 0 ||
	    cap_set_proc(caps) < 0)
		fatal("cap_set_proc");
	cap_free(caps);
}

static void
rgd_reload(struct rgd *d)
{
	struct nft_setup_params np;
	struct config nc;
	char err[1024];

	if (!conffile_load(d->conf_path, d->conf_given, &nc, err,
	    sizeof(err))) {
		log_warnx("reload refused, keeping the running "
		    "configuration: %s", err);
		config_free(&nc);
		return;
	}
	if (nc.queue_first != d->conf.queue_first ||
	    nc.queue_last != d->conf.queue_last ||
	    strcmp(nc.state_db, d->conf.state_db) != 0 ||
	    strcmp(nc.control_socket, d->conf.control_socket) != 0)
		log_warnx("reload: queue, state-db and control-socket "
		    "changes take effect at the next start");
	rgd_nft_params(&nc, &np);
	np.queue_first = d->conf.queue_first;
	np.queue_last = d->conf.queue_last;
	if (nft_setup(d->nft, &np, err, sizeof(err)) < 0) {
		log_warnx("reload refused, keeping the running "
		    "configuration: %s", err);
		config_free(&nc);
		return;
	}
	/* Keep paths and queues of the running instance. */
	nc.queue_first = d->conf.queue_first;
	nc.queue_last = d->conf.queue_last;
	memcpy(nc.state_db, d->conf.state_db, sizeof(nc.state_db));
	memcpy(nc.control_socket, d->conf.control_socket,
	    sizeof(nc.control_socket));
	/* The engine keeps a pointer to d->conf, whose address stays. */
	config_free(&d->conf);
	d->conf = nc;
	engine_reload(d->engine, &d->conf);
	log_info("configuration reloaded from %s", d->conf_path);
}

static int
rgd_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		fatal("signalfd");
	signal(SIGPIPE, SIG_IGN);
	return fd;
}

static int
rgd_timer(void)
{
	struct itimerspec its = { { 1, 0 }, { 1, 0 } };
	int fd;

	if ((fd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC)) < 0)
		fatal("timerfd_create");
	if (timerfd_settime(fd, 0, &its, NULL) < 0)
		fatal("timerfd_settime");
	return fd;
}

/* Returns false when the daemon should stop. */
static bool
rgd_handle_signal(struct rgd *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			rgd_reload(d);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("stopping on signal %u", si.ssi_signo);
			return false;
		}
	}
	return true;
}

static void
rgd_tick(struct rgd *d)
{
	uint64_t n;
	static uint64_t last_enobufs;
	struct queue_stats qs;
	uint64_t enobufs = 0;
	unsigned i;

	while (read(d->timerfd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		;
	engine_tick(d->engine, rgd_now());
	rgd_events(d);
	blocks_expire(d);
	for (i = 0; i < d->nqueues; i++) {
		queue_get_stats(d->queues[i], &qs);
		enobufs += qs.enobufs;
	}
	if (enobufs != last_enobufs) {
		log_warnx("kernel dropped %llu queue messages (ENOBUFS, %llu "
		    "in all): those packets passed uninspected",
		    (unsigned long long)(enobufs - last_enobufs),
		    (unsigned long long)enobufs);
		last_enobufs = enobufs;
	}
}

static void
rgd_loop(struct rgd *d)
{
	struct pollfd pfd[RGD_MAX_QUEUES + 3];
	unsigned i, n;
	int budget, n_ok;

	for (;;) {
		n = 0;
		for (i = 0; i < d->nqueues; i++) {
			pfd[n].fd = queue_fd(d->queues[i]);
			pfd[n++].events = POLLIN;
		}
		pfd[n].fd = d->sigfd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = d->timerfd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = d->ctlfd;
		pfd[n++].events = POLLIN;
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			continue;
		}
		for (i = 0; i < d->nqueues; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLERR)))
				continue;
			/* Drain, but give the other sources a turn. */
			for (budget = 0; budget < 256; budget++) {
				n_ok = queue_receive(d->queues[i], rgd_packet,
				    d);
				rgd_flush(d);
				if (n_ok <= 0)
					break;
			}
		}
		if (pfd[d->nqueues].revents & POLLIN)
			if (!rgd_handle_signal(d))
				return;
		if (pfd[d->nqueues + 1].revents & POLLIN)
			rgd_tick(d);
		if (pfd[d->nqueues + 2].revents & POLLIN)
			control_serve(d);
	}
}

int
main(int argc, char **argv)
{
	struct rgd d;
	struct nft_setup_params np;
	char err[1024];
	int ch, verbose = 0;

	memset(&d, 0, sizeof(d));
	d.conf_path = CONFIG_DEFAULT_PATH;
	d.sigfd = d.timerfd = d.ctlfd = -1;
	while ((ch = getopt(argc, argv, "c:fvh")) != -1) {
		switch (ch) {
		case 'c':
			d.conf_path = optarg;
			d.conf_given = true;
			break;
		case 'f':
			d.foreground = true;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_init("relayguardd", d.foreground);
	log_setverbose(verbose);
	if (!conffile_load(d.conf_path, d.conf_given, &d.conf, err,
	    sizeof(err)))
		fatalx("%s", err);
	if (geteuid() != 0)
		fatalx("must run as root (needs CAP_NET_ADMIN and "
		    "CAP_NET_RAW)");

	rgd_mkdir_for(d.conf.state_db);
	if ((d.store = store_open(d.conf.state_db, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((d.nft = nft_open(err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((d.reset = reset_open(err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((d.engine = engine_new(&d.conf, true)) == NULL)
		fatalx("out of memory");
	d.sigfd = rgd_signals();
	d.timerfd = rgd_timer();
	rgd_mkdir_for(d.conf.control_socket);
	if (control_open(&d, err, sizeof(err)) < 0)
		fatalx("%s", err);
	/* Bind the queues before the rule exists so no packet waits on an
	 * empty queue; then install the rule and re-install blocks. */
	rgd_open_queues(&d);
	rgd_nft_params(&d.conf, &np);
	if (nft_setup(d.nft, &np, err, sizeof(err)) < 0)
		fatalx("%s", err);
	d.mechanism = nft_queue_mechanism_name(nft_queue_mechanism(d.nft));
	log_info("nftables: table inet relayguard on hook %s, queue %u-%u "
	    "through the %s NFQUEUE mechanism%s%s",
	    d.conf.hook == CONFIG_HOOK_INPUT ? "input" : "forward",
	    d.conf.queue_first, d.conf.queue_last, d.mechanism,
	    nft_queue_note(d.nft)[0] ? ": " : "", nft_queue_note(d.nft));
	if (blocks_restore(&d, err, sizeof(err)) < 0)
		log_warnx("restoring blocks: %s", err);
	rgd_drop_privileges();
	if (sandbox_enter(err, sizeof(err)) < 0)
		fatalx("%s", err);
	d.started = time(NULL);
	log_info("ready: mode %s, %u port(s), %u queue(s)",
	    d.conf.mode == CONFIG_MODE_ENFORCE ? "enforce" : "monitor",
	    d.conf.nports, d.nqueues);

	rgd_loop(&d);

	/* Clean stop: the queue rule goes, the table and the blocks stay. */
	if (nft_unqueue(d.nft, err, sizeof(err)) < 0)
		log_warnx("%s", err);
	rgd_close_queues(&d);
	control_close(&d);
	engine_free(d.engine);
	reset_close(d.reset);
	nft_close(d.nft);
	store_close(d.store);
	config_free(&d.conf);
	log_info("stopped");
	return 0;
}
