/*
 * offences.c — the offence history seen from the daemon: what `why`
 * shows of it, `forget`, and pruning what is older than offence-memory.
 *
 * The history lives in the store (one row per automatic block, with its
 * time); blocks_add() records each offence and counts those within
 * offence-memory to decide how long a block lasts.  `unblock` and expiry
 * leave it alone, so a repeat offender still escalates; `forget` clears it,
 * and the attempt counts the workers keep, so the address starts from zero.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cidr.h"
#include "log.h"
#include "rgd.h"
#include "store.h"
#include "worker.h"

/* block-for doubled per earlier offence, capped at block-for-max. */
uint64_t
offences_duration(const struct config *c, int offences)
{
	uint64_t d = c->block_for / RG_USEC_PER_SEC;
	uint64_t max = c->block_for_max / RG_USEC_PER_SEC;
	int i;

	for (i = 1; i < offences && d < max; i++)
		d *= 2;
	return d > max ? max : d;
}

int64_t
offences_since(const struct config *c, int64_t now)
{
	int64_t mem = (int64_t)(c->offence_memory / RG_USEC_PER_SEC);

	if (c->offence_memory == 0 || mem >= now)
		return 0;		/* forever: every offence counts */
	return now - mem;
}

void
offences_prune(struct rgd *d, int64_t now)
{
	char err[256];
	int64_t since = offences_since(&d->conf, now);
	long n;

	if (since == 0)
		return;
	if ((n = store_history_prune(d->store, since, err, sizeof(err))) < 0)
		log_warnx("%s", err);
	else if (n > 0)
		log_info("%ld offence(s) older than offence-memory forgotten",
		    n);
}

/* addr ("192.0.2.1", "2001:db8::/48") as the store's key text and prefix. */
static int
offences_key(const char *addr, char text[RG_ADDRSTRLEN], int *prefix,
    struct cidr *net, char *err, size_t errlen)
{
	const char *why = NULL;

	if (!cidr_parse(addr, strlen(addr), net, &why)) {
		snprintf(err, errlen, "'%s' is not an address or prefix%s%s",
		    addr, why ? ": " : "", why ? why : "");
		return -1;
	}
	rg_addr_str(&net->net, text, RG_ADDRSTRLEN);
	*prefix = net->prefix;
	return 0;
}

json_t *
offences_forget_json(struct rgd *d, const char *addr, char *err,
    size_t errlen)
{
	char text[RG_ADDRSTRLEN], msg[160];
	struct cidr net;
	uint32_t clients = 0;
	long n;
	int prefix;

	if (offences_key(addr, text, &prefix, &net, err, errlen) < 0)
		return NULL;
	if ((n = store_offences_forget(d->store, text, prefix, err,
	    errlen)) < 0)
		return NULL;
	/* The workers' counts too, or the next attempts would still add up
	 * to the old ones: once, in the table they share. */
	clients = offtable_forget(d->offences, &net);
	snprintf(msg, sizeof(msg), "forgot %ld offence%s of %s", n,
	    n == 1 ? "" : "s", addr);
	log_info("%s (and the attempts of %u tracked client%s)", msg,
	    clients, clients == 1 ? "" : "s");
	return json_pack("{s:b,s:s,s:I,s:I}", "ok", 1, "message", msg,
	    "offences", (json_int_t)n, "clients", (json_int_t)clients);
}

struct offences_list_ctx {
	json_t *arr;
	int64_t since;
	int counted;
};

static int
offences_list_cb(const struct store_offence *o, void *arg)
{
	struct offences_list_ctx *c = arg;
	char key[RG_ADDRSTRLEN + 8];
	bool counts = o->at >= c->since;

	snprintf(key, sizeof(key), "%s/%d", o->addr, o->prefix);
	json_array_append_new(c->arr, json_pack("{s:s,s:I,s:b}", "addr", key,
	    "at", (json_int_t)o->at, "counted", counts));
	c->counted += counts;
	return 0;
}

int
offences_history_json(struct rgd *d, const char *addr, json_t *reply,
    char *err, size_t errlen)
{
	struct offences_list_ctx c;
	char text[RG_ADDRSTRLEN];
	struct cidr net;
	int prefix;

	if (offences_key(addr, text, &prefix, &net, err, errlen) < 0)
		return -1;
	memset(&c, 0, sizeof(c));
	c.since = offences_since(&d->conf, time(NULL));
	c.arr = json_array();
	if (store_offences_list(d->store, text, prefix, offences_list_cb, &c,
	    err, errlen) < 0) {
		json_decref(c.arr);
		return -1;
	}
	json_object_set_new(reply, "offence_memory", json_integer(
	    (json_int_t)(d->conf.offence_memory / RG_USEC_PER_SEC)));
	json_object_set_new(reply, "offences_counted", json_integer(c.counted));
	/* What an automatic block of this very key would last now. */
	if ((net.net.family == 4 && prefix == 32) || prefix == 128)
		json_object_set_new(reply, "next_block_for", json_integer(
		    (json_int_t)offences_duration(&d->conf, c.counted + 1)));
	json_object_set_new(reply, "offences", c.arr);
	return (int)json_array_size(c.arr);
}
