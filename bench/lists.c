/*
 * lists.c — what a long list costs: the load of a generated 20,000-domain
 * local-domains-file (and a 20,000-network relay-networks-file) through
 * conffile_load(), as the daemon and config-test read them, then the cost
 * of one lookup: a domain deep in the list, one not in it, a subdomain
 * under a ".suffix" entry, a whole RCPT parse (ASCII and UTF-8), and a
 * network lookup.
 *
 *     make && cc -O2 -D_GNU_SOURCE -Ifilters -Icommon -o build/lists \
 *         bench/lists.c build/libcommon.a build/libfilters.a -lidn2
 *     build/lists [N]        (N domains and networks, default 20000)
 *
 * Files go to a temporary directory that is removed at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conffile.h"

#define LOOKUPS 2000000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile int sink;

/* Nanoseconds per call of addr_domain_local() on d. */
static double
domain_ns(const struct config *c, const char *d)
{
	double t0 = now();
	size_t len = strlen(d);
	int i, hits = 0;

	for (i = 0; i < LOOKUPS; i++)
		hits += addr_domain_local(&c->local_domains, d, len);
	sink += hits;
	return (now() - t0) * 1e9 / LOOKUPS;
}

/* Nanoseconds per addr_parse_rcpt() of arg, and whether it was local. */
static double
rcpt_ns(const struct config *c, const char *arg, bool *local)
{
	struct addr_path p;
	double t0 = now();
	size_t len = strlen(arg);
	int i;

	for (i = 0; i < LOOKUPS / 4; i++)
		addr_parse_rcpt(arg, len, &c->local_domains, NULL, &p);
	*local = addr_is_local(&p, &c->local_domains, NULL);
	return (now() - t0) * 1e9 / (LOOKUPS / 4);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/rg-lists.XXXXXX", dom[64], nets[64], conf[64];
	char err[1024], deep[64], deepnet[32];
	struct config c;
	struct rg_addr a;
	double t0, load;
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	bool local;
	FILE *f;
	long i;
	int hits;

	if (n < 1 || n > 65536 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "usage: lists [N], 1 <= N <= 65536\n");
		return 2;
	}
	snprintf(dom, sizeof(dom), "%s/domains", dir);
	snprintf(nets, sizeof(nets), "%s/networks", dir);
	snprintf(conf, sizeof(conf), "%s/relayguard.conf", dir);
	if ((f = fopen(dom, "w")) == NULL)
		return 1;
	fprintf(f, "# %ld hosted domains\n", n);
	for (i = 0; i < n; i++)
		fprintf(f, "customer-%ld.hosted.test\n", i);
	fprintf(f, ".sub.hosted.test\nex\xc3\xa4mple.test\n");
	fclose(f);
	if ((f = fopen(nets, "w")) == NULL)
		return 1;
	for (i = 0; i < n; i++)
		fprintf(f, "10.%ld.%ld.0/24\n", i >> 8, i & 255);
	fclose(f);
	if ((f = fopen(conf, "w")) == NULL)
		return 1;
	fprintf(f, "local-domains-file %s\nrelay-networks-file %s\n", dom,
	    nets);
	fclose(f);

	t0 = now();
	if (!conffile_load(conf, true, &c, err, sizeof(err))) {
		fprintf(stderr, "lists: %s\n", err);
		return 1;
	}
	load = now() - t0;
	printf("load: %u domains and %u networks in %.1f ms\n",
	    c.local_domains.count, c.relay_networks.count, load * 1e3);

	snprintf(deep, sizeof(deep), "customer-%ld.hosted.test", n - 7);
	printf("domain deep in the list (%s): %.0f ns\n", deep,
	    domain_ns(&c, deep));
	printf("domain not in it: %.0f ns\n",
	    domain_ns(&c, "customer-x.hosted.test"));
	printf("subdomain under .sub.hosted.test: %.0f ns\n",
	    domain_ns(&c, "a.b.sub.hosted.test"));
	printf("RCPT parse, ASCII, local: %.0f ns",
	    rcpt_ns(&c, "TO:<user@customer-17.hosted.test>", &local));
	printf(" (%s)\n", local ? "local" : "foreign");
	printf("RCPT parse, UTF-8 (libidn2), local: %.0f ns",
	    rcpt_ns(&c, "TO:<user@EX\xc3\x84MPLE.test>", &local));
	printf(" (%s)\n", local ? "local" : "foreign");

	snprintf(deepnet, sizeof(deepnet), "10.%ld.%ld.9", (n - 3) >> 8,
	    (n - 3) & 255);
	rg_addr_parse(deepnet, strlen(deepnet), &a);
	t0 = now();
	for (i = 0, hits = 0; i < LOOKUPS; i++)
		hits += cidr_set_contains(&c.relay_networks, &a);
	printf("network lookup (%s, %s): %.0f ns\n", deepnet,
	    hits == LOOKUPS ? "listed" : "NOT LISTED",
	    (now() - t0) * 1e9 / LOOKUPS);
	config_free(&c);
	unlink(dom);
	unlink(nets);
	unlink(conf);
	rmdir(dir);
	return 0;
}
