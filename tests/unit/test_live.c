/*
 * test_live.c — daemon/live.c's BPF filter: every configured port is in
 * it (capture mode inspects only what the filter lets through), or the
 * filter is refused; never a silently shortened list.
 */
#include "test.h"

#include "../../daemon/live.c"

/* The most ports, each five digits long: every one in the filter, twice
 * (untagged and VLAN). */
static void
test_filter_all_ports(void)
{
	static struct config c;
	char buf[LIVE_FILTER_MAX], want[32];
	const char *f, *at;
	uint32_t i;
	int seen;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < CONFIG_MAX_PORTS; i++)
		c.ports[i] = (uint16_t)(65535 - i);
	c.nports = CONFIG_MAX_PORTS;
	f = live_filter(&c, buf, sizeof(buf));
	TEST_CHECK(f[0] != '\0');
	for (i = 0; i < CONFIG_MAX_PORTS; i++) {
		snprintf(want, sizeof(want), "port %u)", 65535 - i);
		if (i + 1 < CONFIG_MAX_PORTS)
			snprintf(want, sizeof(want), "port %u ", 65535 - i);
		for (seen = 0, at = f; (at = strstr(at, want)) != NULL; at++)
			seen++;
		ASSERT_INT_EQ(seen, 2);
	}
}

/* A buffer too small: "", not a filter missing ports. */
static void
test_filter_too_small(void)
{
	static struct config c;
	char buf[64];

	memset(&c, 0, sizeof(c));
	c.ports[0] = 25;
	c.ports[1] = 587;
	c.ports[2] = 2525;
	c.nports = 3;
	ASSERT_STR_EQ(live_filter(&c, buf, sizeof(buf)), "");
	c.nports = 1;
	ASSERT_STR_EQ(live_filter(&c, buf, sizeof(buf)),
	    "(tcp and (port 25)) or (vlan and tcp and (port 25))");
}

int
main(void)
{
	TEST_RUN(test_filter_all_ports);
	TEST_RUN(test_filter_too_small);
	return TEST_END("live");
}
