/*
 * setup.c — putting a configuration in force: the nftables table for it,
 * the event file, and a reload that swaps the whole configuration under
 * every worker's lock.  The main thread runs all of it, at start-up
 * (relayguardd.c), on SIGHUP and for the control socket's reload and
 * reopen (control.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"
#include "log.h"
#include "metrics.h"
#include "nft.h"
#include "reset.h"
#include "rgd.h"
#include "worker.h"

/* A port the kernel rules left out would be neither inspected nor, under
 * block-scope smtp, dropped for blocked clients. */
_Static_assert(NFT_PORTS_MAX >= CONFIG_MAX_PORTS,
    "every configured port must fit the nftables rules");

/* The nftables parameters of c (the servers and relay networks are c's
 * own prefixes). */
static void
setup_nft_params(const struct config *c, struct nft_setup_params *p)
{
	uint32_t i;

	memset(p, 0, sizeof(*p));
	p->hook = c->hook == CONFIG_HOOK_INPUT ? NFT_HOOK_INPUT :
	    NFT_HOOK_FORWARD;
	p->block_scope = c->block_scope == CONFIG_BLOCK_SCOPE_ALL ?
	    NFT_BLOCK_ALL : NFT_BLOCK_PORTS;
	for (i = 0; i < c->nports && i < NFT_PORTS_MAX; i++)
		p->ports[i] = c->ports[i];
	p->nports = i;
	p->queue_first = c->queue_first;
	p->queue_last = c->queue_last;
	p->bypass = true;
	p->skip_mark = RESET_MARK;
	p->servers = c->servers.v;
	p->nservers = c->servers.count;
	p->trusted = c->relay_networks.v;
	p->ntrusted = c->relay_networks.count;
	if (c->offload) {
		p->offload_mark = c->offload_mark;
		p->offload_mask = c->offload_mask;
	}
}

bool
setup_nft(struct rgd *d, const struct config *c, uint16_t queue_first,
    uint16_t queue_last, char *err, size_t errlen)
{
	struct nft_setup_params np;

	setup_nft_params(c, &np);
	np.queue_first = queue_first;
	np.queue_last = queue_last;
	if (nft_setup(d->nft, &np, err, errlen) < 0)
		return false;
	/* Capture mode keeps the sets and the block chain, and no queue
	 * chain: nothing answers a queue (the rule's bypass flag let the
	 * packets pass in the moment between the two transactions). */
	if (c->ncapture > 0)
		return nft_unqueue(d->nft, err, errlen) == 0;
	return true;
}

/* Put an opened event file (or -1) in place while no worker runs. */
static void
setup_events_swap(struct rgd *d, int fd, const char *path)
{
	unsigned i;
	int old;

	for (i = 0; i < d->nworkers; i++)
		worker_lock(d->workers[i]);
	old = eventlog_swap(&d->events, fd, path);
	for (i = 0; i < d->nworkers; i++)
		worker_unlock(d->workers[i]);
	if (old >= 0)
		(void)close(old);
}

int
setup_reopen(struct rgd *d, char *err, size_t errlen)
{
	int fd;

	if (eventlog_open_fd(d->conf.event_log, &fd, err, errlen) < 0)
		return -1;
	setup_events_swap(d, fd, d->conf.event_log);
	if (fd >= 0)
		log_info("event log reopened: %s", d->conf.event_log);
	return 0;
}

void
setup_warning(const char *msg, void *arg)
{
	(void)arg;
	log_warnx("warning: %s", msg);
}

/*
 * The keys a reload cannot change: the workers' queues or capture handles
 * and engines, the store, the control socket and the CrowdSec thread were
 * made for them at start.  One list, for telling and for keeping.
 */
#define SETUP_START_ONLY(X)						\
	X(queue_first) X(queue_last)					\
	X(capture) X(ncapture) X(capture_workers) X(capture_block)	\
	X(capture_reset) X(capture_immediate) X(capture_buffer)	\
	X(state_db) X(control_socket)					\
	X(crowdsec_url) X(crowdsec_ca) X(crowdsec_machine_file)	\
	X(crowdsec_bouncer_key_file) X(crowdsec_push)			\
	X(crowdsec_pull_interval) X(crowdsec_origins) X(crowdsec_norigins)

/* Keep the running values of the start-only keys in a reloaded
 * configuration (both come from zeroed structures, so their bytes past a
 * string's end compare too); true if the file changed any of them. */
static bool
setup_keep_start_only(struct config *nc, const struct config *run)
{
	bool changed = false;

#define SETUP_KEEP(f)							\
	if (memcmp(&nc->f, &run->f, sizeof(nc->f)) != 0) {		\
		changed = true;						\
		memcpy(&nc->f, &run->f, sizeof(nc->f));			\
	}
	SETUP_START_ONLY(SETUP_KEEP)
#undef SETUP_KEEP
	return changed;
}

/*
 * Read the configuration file again and put it in force: 0, or -1 with
 * why in err (the running configuration stays).  SIGHUP and the control
 * socket's reload both come here; the result is logged either way, and
 * the control socket also returns it to the operator.
 */
int
setup_reload(struct rgd *d, char *err, size_t errlen)
{
	struct policy_params pp;
	struct config nc;
	char why[1024];
	unsigned i;
	int evfd, oldfd;

	if (!conffile_load(d->conf_path, d->conf_given, &nc, why,
	    sizeof(why)) || !config_check_daemon(&nc, why, sizeof(why)) ||
	    !conffile_check_commands(&nc, why, sizeof(why))) {
		config_free(&nc);
		goto refused;
	}
	(void)config_warnings(&nc, setup_warning, NULL);
	if (setup_keep_start_only(&nc, &d->conf))
		log_warnx("reload: queue, capture, state-db, control-socket and "
		    "crowdsec-* changes take effect at the next start");
	/* The event file is reopened on every reload (a rotation's
	 * postrotate may send SIGHUP); a path that cannot be opened refuses
	 * the reload before anything changed. */
	if (eventlog_open_fd(nc.event_log, &evfd, why, sizeof(why)) < 0) {
		config_free(&nc);
		goto refused;
	}
	if (!setup_nft(d, &nc, d->conf.queue_first, d->conf.queue_last,
	    why, sizeof(why))) {
		if (evfd >= 0)
			(void)close(evfd);
		config_free(&nc);
		goto refused;
	}
	/* The engines keep a pointer to d->conf, whose address stays; no
	 * worker runs while it changes. */
	for (i = 0; i < d->nworkers; i++)
		worker_lock(d->workers[i]);
	config_free(&d->conf);
	d->conf = nc;
	oldfd = eventlog_swap(&d->events, evfd, d->conf.event_log);
	engine_policy_params(&d->conf, &pp);
	offtable_set_params(d->offences, &pp);
	for (i = 0; i < d->nworkers; i++) {
		engine_reload(worker_engine(d->workers[i]), &d->conf);
		worker_unlock(d->workers[i]);
	}
	if (oldfd >= 0)
		(void)close(oldfd);
	log_info("configuration reloaded from %s", d->conf_path);
	metrics_tick(d, 1);
	blocks_lift_never_block(d);
	dnsbl_changed(d);	/* the dnsbl keys may have changed */
	snprintf(err, errlen, "configuration reloaded from %s", d->conf_path);
	return 0;
refused:
	log_warnx("reload refused, keeping the running configuration: %s",
	    why);
	snprintf(err, errlen, "reload refused, keeping the running "
	    "configuration: %s", why);
	return -1;
}
