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

#include <systemd/sd-daemon.h>

#include "conffile.h"
#include "log.h"
#include "metrics.h"
#include "nft.h"
#include "queue.h"
#include "reset.h"
#include "rgd.h"
#include "crowdsec.h"
#include "sandbox.h"
#include "hooks.h"
#include "mailbox.h"
#include "store.h"
#include "worker.h"

static void
usage(void)
{
	fprintf(stderr, "usage: relayguardd [-f] [-v] [-c FILE]\n"
	    "       relayguardd -t [-c FILE]\n");
	exit(2);
}

#define RGD_BLOCKS_TAKE 32	/* block requests carried out together */
#define RGD_EVIDENCE_WAIT_MS 100	/* for the workers' events, at most,
					 * a burst of requests in all */

/*
 * Main thread: carry out the block requests of the workers: every one
 * taken goes into the kernel set first, then each is stored with its
 * evidence, which its worker may still be writing (mailbox.h): waited for,
 * a bounded time for the whole burst (a worker stuck on a log write past
 * it leaves the line out of the stored evidence, not the block out of the
 * kernel, and 32 requests of that worker do not stall the main thread 32
 * times).
 */
static void
rgd_blocks_requested(struct rgd *d)
{
	static struct blocks_new bn[RGD_BLOCKS_TAKE];
	struct mailbox_block req[RGD_BLOCKS_TAKE];
	char err[256], addr[RG_ADDRSTRLEN + 8], ev[MAILBOX_EVIDENCE * 64];
	bool in[RGD_BLOCKS_TAKE];
	struct timespec until;
	size_t i, n;

	while ((n = mailbox_take_blocks(d->mail, req, RGD_BLOCKS_TAKE)) > 0) {
		for (i = 0; i < n; i++) {
			in[i] = false;
			rg_addr_str(&req[i].client, addr, sizeof(addr));
			/* Asked for before a reload put it in never-block. */
			if (cidr_set_contains(&d->conf.never_block,
			    &req[i].client)) {
				log_info("not blocking %s: in never-block",
				    addr);
				continue;
			}
			if (blocks_add_kernel(d, &bn[i], addr,
			    req[i].dur / RG_USEC_PER_SEC, "relay attempts",
			    "auto", err, sizeof(err)) < 0) {
				d->block_errors++;
				log_warnx("block %s: %s", addr, err);
			} else
				in[i] = true;
		}
		mailbox_deadline(RGD_EVIDENCE_WAIT_MS, &until);
		for (i = 0; i < n; i++) {
			if (!in[i])
				continue;
			if (!mailbox_evidence_wait(d->mail, req[i].ticket,
			    &until))
				log_warnx("block %s: its worker has not written "
				    "the events for %d ms: stored without the "
				    "latest", bn[i].prefix,
				    RGD_EVIDENCE_WAIT_MS);
			mailbox_evidence_for(d->mail, &req[i].client, ev,
			    sizeof(ev));
			if (blocks_add_record(d, &bn[i], ev, err,
			    sizeof(err)) < 0) {
				d->block_errors++;
				log_warnx("block %s: %s", bn[i].prefix, err);
			} else
				d->blocks_added++;	/* blocks_add logs */
		}
	}
}

static void
rgd_open_workers(struct rgd *d)
{
	struct policy_params pp;
	char err[256];
	unsigned q;

	/* One offence table for every worker: the kernel's queue-balance
	 * hash spreads one client's connections to two servers over two
	 * queues, and its attempts must add up all the same. */
	engine_policy_params(&d->conf, &pp);
	if ((d->offences = offtable_new(&pp)) == NULL)
		fatalx("offence table: out of memory");
	/* Capture: workers 0..capture-workers-1 instead of queues. */
	for (q = d->conf.ncapture > 0 ? 0 : d->conf.queue_first;
	    (d->conf.ncapture > 0 ? q < d->conf.capture_workers :
	    q <= d->conf.queue_last) && d->nworkers < RGD_MAX_QUEUES; q++) {
		d->workers[d->nworkers] = worker_new(d, (uint16_t)q, err,
		    sizeof(err));
		if (d->workers[d->nworkers] == NULL)
			fatalx("%s", err);
		engine_share(worker_engine(d->workers[d->nworkers]),
		    d->offences);
		d->nworkers++;
	}
}

static void
rgd_start_workers(struct rgd *d)
{
	char err[256];
	unsigned i;

	for (i = 0; i < d->nworkers; i++)
		if (worker_start(d->workers[i], err, sizeof(err)) < 0)
			fatalx("%s", err);
}

static void
rgd_close_workers(struct rgd *d)
{
	unsigned i;

	for (i = 0; i < d->nworkers; i++)
		worker_stop(d->workers[i]);
	for (i = 0; i < d->nworkers; i++)
		worker_free(d->workers[i]);
	d->nworkers = 0;
	offtable_free(d->offences);
	d->offences = NULL;
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
	char msg[1200];

	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			(void)sd_notify(0, "RELOADING=1");
			(void)setup_reload(d, msg, sizeof(msg));
			(void)sd_notify(0, "READY=1");
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
	static uint64_t last_enobufs, last_lost, last_everr, last_cdrops;
	struct worker_stats ws;
	uint64_t n, lost, everr;
	unsigned i;

	while (read(d->timerfd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		;
	for (i = 0; i < d->nworkers; i++)
		worker_tick(d->workers[i]);
	blocks_expire(d);
	crowdsec_tick(d);
	metrics_tick(d, 0);
	dnsbl_flush(d);
	offences_prune(d, time(NULL));
	worker_stats_all(d->workers, d->nworkers, &ws);
	if (ws.enobufs != last_enobufs) {
		log_warnx("kernel dropped %llu queue messages (ENOBUFS, %llu "
		    "in all): those packets passed uninspected",
		    (unsigned long long)(ws.enobufs - last_enobufs),
		    (unsigned long long)ws.enobufs);
		last_enobufs = ws.enobufs;
	}
	if (ws.capture_drops != last_cdrops) {
		log_warnx("kernel dropped %llu captured packets (ring full, "
		    "%llu in all): not inspected; raise capture-buffer or "
		    "capture-workers",
		    (unsigned long long)(ws.capture_drops - last_cdrops),
		    (unsigned long long)ws.capture_drops);
		last_cdrops = ws.capture_drops;
	}
	everr = __atomic_load_n(&d->events.errors, __ATOMIC_RELAXED);
	if (everr != last_everr) {
		log_warnx("%llu events could not be written whole to the "
		    "event log %s (%llu in all)",
		    (unsigned long long)(everr - last_everr),
		    d->events.path[0] != '\0' ? d->events.path : "(none)",
		    (unsigned long long)everr);
		last_everr = everr;
	}
	lost = mailbox_dropped(d->mail);
	if (lost != last_lost) {
		log_warnx("%llu block requests lost (queue full)",
		    (unsigned long long)(lost - last_lost));
		last_lost = lost;
	}
}

static void
rgd_loop(struct rgd *d)
{
	struct pollfd pfd[4];

	pfd[0].fd = d->sigfd;
	pfd[1].fd = d->timerfd;
	pfd[2].fd = d->ctlfd;
	pfd[3].fd = mailbox_fd(d->mail);
	pfd[0].events = pfd[1].events = pfd[2].events = pfd[3].events = POLLIN;
	for (;;) {
		if (poll(pfd, 4, -1) < 0) {
			if (errno != EINTR)
				log_warn("poll");
			continue;
		}
		if (pfd[3].revents & POLLIN)
			rgd_blocks_requested(d);
		if ((pfd[0].revents & POLLIN) && !rgd_handle_signal(d))
			return;
		if (pfd[1].revents & POLLIN)
			rgd_tick(d);
		if (pfd[2].revents & POLLIN)
			control_serve(d);
	}
}

int
main(int argc, char **argv)
{
	struct rgd d;
	char err[1024];
	int ch, evfd, verbose = 0;
	bool test = false;

	memset(&d, 0, sizeof(d));
	d.conf_path = CONFIG_DEFAULT_PATH;
	d.sigfd = d.timerfd = d.ctlfd = -1;
	while ((ch = getopt(argc, argv, "c:fvht")) != -1) {
		switch (ch) {
		case 't':
			test = true;
			break;
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
	/* -t: the configuration as the daemon would take it, and nothing
	 * else (no root, no files created, no netlink). */
	if (test) {
		if (!conffile_load(d.conf_path, d.conf_given, &d.conf, err,
		    sizeof(err)) ||
		    !config_check_daemon(&d.conf, err, sizeof(err)) ||
		    !conffile_check_commands(&d.conf, err, sizeof(err)) ||
		    crowdsec_check_files(&d.conf, err, sizeof(err)) < 0) {
			fprintf(stderr, "relayguardd: %s\n", err);
			config_free(&d.conf);
			return 1;
		}
		printf("relayguardd: configuration %s OK\n", d.conf_path);
		config_free(&d.conf);
		return 0;
	}

	log_init("relayguardd", d.foreground);
	/* Under systemd (or wherever journald listens) the journal's own
	 * protocol: priorities and event fields kept, no line limit. */
	if (!d.foreground)
		(void)eventlog_journal_start("relayguardd");
	log_setverbose(verbose);
	if (!conffile_load(d.conf_path, d.conf_given, &d.conf, err,
	    sizeof(err)))
		fatalx("%s", err);
	if (!config_check_daemon(&d.conf, err, sizeof(err)) ||
	    !conffile_check_commands(&d.conf, err, sizeof(err)))
		fatalx("%s", err);
	(void)config_warnings(&d.conf, setup_warning, NULL);
	if (geteuid() != 0)
		fatalx("must run as root (needs CAP_NET_ADMIN and "
		    "CAP_NET_RAW)");
	/* The hook runner first: no thread, no state open yet, every
	 * privilege still there for it to drop (hooks.c). */
	if (hooks_start(err, sizeof(err)) < 0)
		fatalx("%s", err);

	eventlog_init(&d.events);
	if (eventlog_open_fd(d.conf.event_log, &evfd, err, sizeof(err)) < 0)
		fatalx("%s", err);
	(void)eventlog_swap(&d.events, evfd, d.conf.event_log);
	rgd_mkdir_for(d.conf.state_db);
	if ((d.store = store_open(d.conf.state_db, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (store_migrated_from(d.store) != 0)
		log_info("%s: upgraded from schema version %d to %d, blocks and "
		    "offence history kept", d.conf.state_db,
		    store_migrated_from(d.store), STORE_SCHEMA_VERSION);
	if ((d.nft = nft_open(err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((d.reset = reset_open(err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((d.mail = mailbox_new(MAILBOX_BLOCKS, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	d.sigfd = rgd_signals();
	d.timerfd = rgd_timer();
	rgd_mkdir_for(d.conf.control_socket);
	if (control_open(&d, err, sizeof(err)) < 0)
		fatalx("%s", err);
	/* Bind the queues before the rule exists so no packet waits on an
	 * empty queue; then install the rule and re-install blocks. */
	rgd_open_workers(&d);
	if (!setup_nft(&d, &d.conf, d.conf.queue_first, d.conf.queue_last,
	    err, sizeof(err)))
		fatalx("%s", err);
	if (d.conf.ncapture > 0) {
		d.mechanism = "capture";
		log_info("nftables: table inet relayguard on hook %s, blocks "
		    "drop %s; capture on %s%s, %u worker(s), %s blocks, %s "
		    "resets", d.conf.hook == CONFIG_HOOK_INPUT ? "input" :
		    "forward", d.conf.block_scope == CONFIG_BLOCK_SCOPE_ALL ?
		    "everything" : "the protected ports", d.conf.capture[0],
		    d.conf.ncapture > 1 ? " and more" : "", d.nworkers,
		    d.conf.capture_block ? "automatic" : "no automatic",
		    d.conf.capture_reset ? "with" : "no");
	} else {
		d.mechanism = nft_queue_mechanism_name(
		    nft_queue_mechanism(d.nft));
		log_info("nftables: table inet relayguard on hook %s, blocks "
		    "drop %s, queue %u-%u through the %s NFQUEUE "
		    "mechanism%s%s",
		    d.conf.hook == CONFIG_HOOK_INPUT ? "input" : "forward",
		    d.conf.block_scope == CONFIG_BLOCK_SCOPE_ALL ?
		    "everything" : "the protected ports",
		    d.conf.queue_first, d.conf.queue_last, d.mechanism,
		    nft_queue_note(d.nft)[0] ? ": " : "",
		    nft_queue_note(d.nft));
	}
	if (d.conf.ncapture == 0 && !d.conf.offload)
		log_info("offload: no (every packet of an inspected session is "
		    "queued)");
	else if (d.conf.ncapture == 0)
		log_info("offload: sessions with nothing left to inspect pass "
		    "by ct mark 0x%08x/0x%08x, %s", d.conf.offload_mark,
		    d.conf.offload_mask, d.nworkers > 0 &&
		    worker_ct_verdicts(d.workers[0]) ? "set by the verdict "
		    "(NFQA_CT)" : "copied from the packet mark the verdict "
		    "sets (no conntrack glue for NFQA_CT in this kernel)");
	if (blocks_restore(&d, err, sizeof(err)) < 0)
		log_warnx("restoring blocks: %s", err);
	blocks_lift_never_block(&d);
	offences_prune(&d, time(NULL));
	if (d.conf.dnsbl_zone[0] != '\0')
		log_info("DNSBL zone: %s.ip4set and %s.ip6trie (rbldnsd)",
		    d.conf.dnsbl_zone, d.conf.dnsbl_zone);
	/* The zone is written now, so a directory that cannot take it is
	 * in the log from the start. */
	dnsbl_changed(&d);
	dnsbl_flush(&d);
	/* Capabilities are per thread: the workers start after the drop and
	 * inherit the reduced set; the seccomp filter then covers them all. */
	rgd_drop_privileges();
	rgd_start_workers(&d);
	/* Its thread too starts before the filter, which then lets it make
	 * TCP sockets (and only when it runs). */
	if (crowdsec_start(&d, err, sizeof(err)) < 0)
		fatalx("%s", err);
	sandbox_allow_inet(d.crowdsec != NULL);
	if (sandbox_enter(err, sizeof(err)) < 0)
		fatalx("%s", err);
	d.started = time(NULL);
	log_info("ready: mode %s, %u port(s), %u %s",
	    d.conf.mode == CONFIG_MODE_ENFORCE ? "enforce" : "monitor",
	    d.conf.nports, d.nworkers, d.conf.ncapture > 0 ?
	    "capture worker(s)" : "queue(s), one worker each");
	/* Type=notify: systemd starts what comes after us only now. */
	metrics_tick(&d, 1);
	(void)sd_notifyf(0, "READY=1\nSTATUS=mode %s, %u queue(s)",
	    d.conf.mode == CONFIG_MODE_ENFORCE ? "enforce" : "monitor",
	    d.nworkers);

	rgd_loop(&d);
	(void)sd_notify(0, "STOPPING=1");

	/* Clean stop: the queue rule goes, the table and the blocks stay. */
	if (nft_unqueue(d.nft, err, sizeof(err)) < 0)
		log_warnx("%s", err);
	rgd_close_workers(&d);
	rgd_blocks_requested(&d);
	crowdsec_stop(&d);
	mailbox_free(d.mail);
	control_close(&d);
	hooks_stop();
	reset_close(d.reset);
	nft_close(d.nft);
	store_close(d.store);
	eventlog_close(&d.events);
	config_free(&d.conf);
	log_info("stopped");
	return 0;
}
