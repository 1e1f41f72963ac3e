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

/* The capture keys of a and b are the same. */
static bool
setup_same_capture(const struct config *a, const struct config *b)
{
	return a->ncapture == b->ncapture &&
	    memcmp(a->capture, b->capture, sizeof(a->capture)) == 0 &&
	    a->capture_workers == b->capture_workers &&
	    a->capture_block == b->capture_block &&
	    a->capture_reset == b->capture_reset &&
	    a->capture_immediate == b->capture_immediate &&
	    a->capture_buffer == b->capture_buffer;
}

/* The running capture keys into a reloaded configuration: the workers'
 * handles and engines were made for them. */
static void
setup_keep_capture(struct config *nc, const struct config *run)
{
	memcpy(nc->capture, run->capture, sizeof(nc->capture));
	nc->ncapture = run->ncapture;
	nc->capture_workers = run->capture_workers;
	nc->capture_block = run->capture_block;
	nc->capture_reset = run->capture_reset;
	nc->capture_immediate = run->capture_immediate;
	nc->capture_buffer = run->capture_buffer;
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
	if (nc.queue_first != d->conf.queue_first ||
	    nc.queue_last != d->conf.queue_last ||
	    !setup_same_capture(&nc, &d->conf) ||
	    strcmp(nc.state_db, d->conf.state_db) != 0 ||
	    strcmp(nc.control_socket, d->conf.control_socket) != 0)
		log_warnx("reload: queue, capture, state-db and "
		    "control-socket changes take effect at the next start");
	if (strcmp(nc.crowdsec_url, d->conf.crowdsec_url) != 0 ||
	    strcmp(nc.crowdsec_ca, d->conf.crowdsec_ca) != 0 ||
	    strcmp(nc.crowdsec_machine_file,
	    d->conf.crowdsec_machine_file) != 0 ||
	    strcmp(nc.crowdsec_bouncer_key_file,
	    d->conf.crowdsec_bouncer_key_file) != 0 ||
	    nc.crowdsec_push != d->conf.crowdsec_push ||
	    nc.crowdsec_pull_interval != d->conf.crowdsec_pull_interval ||
	    nc.crowdsec_norigins != d->conf.crowdsec_norigins ||
	    memcmp(nc.crowdsec_origins, d->conf.crowdsec_origins,
	    sizeof(nc.crowdsec_origins)) != 0)
		log_warnx("reload: crowdsec-* changes take effect at the next "
		    "start");
	setup_keep_capture(&nc, &d->conf);
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
	/* Keep paths and queues of the running instance. */
	nc.queue_first = d->conf.queue_first;
	nc.queue_last = d->conf.queue_last;
	memcpy(nc.state_db, d->conf.state_db, sizeof(nc.state_db));
	memcpy(nc.control_socket, d->conf.control_socket,
	    sizeof(nc.control_socket));
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
