/*
 * test_config.c — the relayguard.conf parser: defaults, every key, the
 * exact error messages, durations and sizes, and the config_format()
 * round trip.
 */
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "../../filters/config.c"
#include "conffile.h"

#define ERRLEN 512

/* Parse NUL-terminated text from defaults; the config is freed unless the
 * caller wants it (out != NULL). */
static bool
parse(const char *text, char *err, struct config *out)
{
	struct config c;
	bool ok;

	config_defaults(&c);
	ok = config_parse("t.conf", text, strlen(text), &c, err, ERRLEN);
	if (out != NULL)
		*out = c;
	else
		config_free(&c);
	return ok;
}

/* The text must be refused with exactly this message. */
static void
expect_err(const char *text, const char *want, int line)
{
	char err[ERRLEN] = "";

	if (parse(text, err, NULL)) {
		fprintf(stderr, "%s:%d: parse of \"%s\" succeeded\n", __FILE__,
		    line, text);
		test_failed_checks++;
		return;
	}
	if (strcmp(err, want) != 0) {
		fprintf(stderr, "%s:%d: error \"%s\" != \"%s\"\n", __FILE__,
		    line, err, want);
		test_failed_checks++;
	}
}
#define EXPECT_ERR(text, want) expect_err((text), (want), __LINE__)

/* The message comes partly from another module (address.c, cidr.c): check
 * where it starts and which token it quotes. */
static void
expect_err_around(const char *text, const char *prefix, const char *suffix,
    int line)
{
	char err[ERRLEN] = "";
	size_t el, sl;

	if (parse(text, err, NULL)) {
		fprintf(stderr, "%s:%d: parse of \"%s\" succeeded\n", __FILE__,
		    line, text);
		test_failed_checks++;
		return;
	}
	el = strlen(err);
	sl = strlen(suffix);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || el < sl ||
	    strcmp(err + el - sl, suffix) != 0) {
		fprintf(stderr, "%s:%d: error \"%s\" not \"%s...%s\"\n",
		    __FILE__, line, err, prefix, suffix);
		test_failed_checks++;
	}
}
#define EXPECT_ERR_AROUND(text, p, s) expect_err_around((text), (p), (s), \
	__LINE__)

static void
expect_ok(const char *text, struct config *out, int line)
{
	char err[ERRLEN] = "";

	if (!parse(text, err, out)) {
		fprintf(stderr, "%s:%d: parse of \"%s\" failed: %s\n", __FILE__,
		    line, text, err);
		test_failed_checks++;
	}
}
#define EXPECT_OK(text, out) expect_ok((text), (out), __LINE__)

static void
test_defaults(void)
{
	struct config c;

	config_defaults(&c);
	ASSERT_INT_EQ(c.local_domains.count, 0);
	ASSERT_INT_EQ(c.relay_networks.count, 0);
	ASSERT_INT_EQ(c.nports, 1);
	ASSERT_INT_EQ(c.ports[0], 25);
	ASSERT_INT_EQ(c.mode, CONFIG_MODE_ENFORCE);
	ASSERT_INT_EQ(c.block_after, 3);
	ASSERT_INT_EQ(c.attempt_window, 600 * RG_USEC_PER_SEC);
	ASSERT_INT_EQ(c.block_for, 3600 * RG_USEC_PER_SEC);
	ASSERT_INT_EQ(c.block_for_max, 7 * 86400 * RG_USEC_PER_SEC);
	ASSERT_INT_EQ(c.hook, CONFIG_HOOK_FORWARD);
	ASSERT_INT_EQ(c.queue_first, 0);
	ASSERT_INT_EQ(c.queue_last, 0);
	ASSERT_INT_EQ(c.starttls, CONFIG_STARTTLS_ALLOW);
	ASSERT_INT_EQ(c.never_block.count, 0);
	ASSERT_INT_EQ(c.block_scope, CONFIG_BLOCK_SCOPE_SMTP);
	ASSERT_INT_EQ(c.min_ttl, 0);
	ASSERT_INT_EQ(c.max_flows, 100000);
	ASSERT_INT_EQ(c.flow_memory, 64 * 1024 * 1024);
	ASSERT_STR_EQ(c.state_db, "/var/lib/relayguard/state.db");
	ASSERT_STR_EQ(c.control_socket, "/run/relayguard/control.sock");
	config_free(&c);
	config_free(&c);	/* twice is harmless */
}

static void
test_empty_and_comments(void)
{
	struct config c, d;

	config_defaults(&d);
	/* The file name is kept for later messages (config_warnings). */
	snprintf(d.file, sizeof(d.file), "t.conf");
	EXPECT_OK("", &c);
	ASSERT_MEM_EQ(&c, &d, sizeof(c));
	config_free(&c);
	EXPECT_OK("\n\n   \n\t\n# comment\n   # indented comment\n", &c);
	ASSERT_MEM_EQ(&c, &d, sizeof(c));
	config_free(&c);

	EXPECT_OK("ports 25 587 # submission too\nmode monitor #x\n", &c);
	ASSERT_INT_EQ(c.nports, 2);
	ASSERT_INT_EQ(c.ports[1], 587);
	config_free(&c);
	/* '#' only starts a comment where a token could start. */
	EXPECT_ERR("mode monitor#x\n", "t.conf:1: invalid mode (enforce or "
	    "monitor) 'monitor#x'");
	EXPECT_ERR("ports 25#x\n", "t.conf:1: invalid port (1-65535) '25#x'");
	EXPECT_ERR("ports # none\n", "t.conf:1: missing value for 'ports'");
	EXPECT_ERR("\n\n#x\nmode\n", "t.conf:4: missing value for 'mode'");
	EXPECT_ERR("mode\t \n", "t.conf:1: missing value for 'mode'");
	/* No final newline. */
	EXPECT_OK("mode monitor", &c);
	ASSERT_INT_EQ(c.mode, CONFIG_MODE_MONITOR);
	config_free(&c);
	/* Tabs and spaces both separate. */
	EXPECT_OK("\tports\t\t25 \t 465\t", &c);
	ASSERT_INT_EQ(c.nports, 2);
	ASSERT_INT_EQ(c.ports[0], 25);
	ASSERT_INT_EQ(c.ports[1], 465);
	config_free(&c);
}

static void
test_every_key(void)
{
	struct config c;
	char buf[64];

	EXPECT_OK(
	    "local-domains   example.test .Example.TEST.\n"
	    "relay-networks  192.0.2.0/24 2001:db8:1::/48\n"
	    "ports           25 587 2525\n"
	    "mode            monitor\n"
	    "block-after     5\n"
	    "attempt-window  15m\n"
	    "block-for       2h\n"
	    "block-for-max   2w\n"
	    "hook            input\n"
	    "queue           2-5\n"
	    "starttls        strip\n"
	    "min-ttl         3\n"
	    "max-flows       5000\n"
	    "flow-memory     512M\n"
	    "state-db        /tmp/rg/state.db\n"
	    "control-socket  /tmp/rg/control.sock\n", &c);
	ASSERT_INT_EQ(c.local_domains.count, 2);
	if (c.local_domains.count == 2) {
		ASSERT_STR_EQ(c.local_domains.names[0], "example.test");
		ASSERT_STR_EQ(c.local_domains.names[1], ".example.test");
	}
	ASSERT_INT_EQ(c.relay_networks.count, 2);
	ASSERT_STR_EQ(cidr_str(&c.relay_networks.v[0], buf, sizeof(buf)),
	    "192.0.2.0/24");
	ASSERT_STR_EQ(cidr_str(&c.relay_networks.v[1], buf, sizeof(buf)),
	    "2001:db8:1::/48");
	ASSERT_INT_EQ(c.nports, 3);
	ASSERT_INT_EQ(c.ports[0], 25);
	ASSERT_INT_EQ(c.ports[1], 587);
	ASSERT_INT_EQ(c.ports[2], 2525);
	ASSERT_INT_EQ(c.mode, CONFIG_MODE_MONITOR);
	ASSERT_INT_EQ(c.block_after, 5);
	ASSERT_INT_EQ(c.attempt_window, 900 * RG_USEC_PER_SEC);
	ASSERT_INT_EQ(c.block_for, 7200 * RG_USEC_PER_SEC);
	ASSERT_INT_EQ(c.block_for_max, 14 * 86400 * RG_USEC_PER_SEC);
	ASSERT_INT_EQ(c.hook, CONFIG_HOOK_INPUT);
	ASSERT_INT_EQ(c.queue_first, 2);
	ASSERT_INT_EQ(c.queue_last, 5);
	ASSERT_INT_EQ(c.starttls, CONFIG_STARTTLS_STRIP);
	ASSERT_INT_EQ(c.min_ttl, 3);
	ASSERT_INT_EQ(c.max_flows, 5000);
	ASSERT_INT_EQ(c.flow_memory, 512ULL << 20);
	ASSERT_STR_EQ(c.state_db, "/tmp/rg/state.db");
	ASSERT_STR_EQ(c.control_socket, "/tmp/rg/control.sock");
	config_free(&c);

	EXPECT_OK("mode enforce\nhook forward\nstarttls deny\n", &c);
	ASSERT_INT_EQ(c.mode, CONFIG_MODE_ENFORCE);
	ASSERT_INT_EQ(c.hook, CONFIG_HOOK_FORWARD);
	ASSERT_INT_EQ(c.starttls, CONFIG_STARTTLS_DENY);
	config_free(&c);
	EXPECT_OK("starttls allow\n", &c);
	ASSERT_INT_EQ(c.starttls, CONFIG_STARTTLS_ALLOW);
	ASSERT_INT_EQ(c.offload, true);
	ASSERT_INT_EQ(c.offload_mark, 0x20000000u);
	ASSERT_INT_EQ(c.offload_mask, 0x20000000u);
	config_free(&c);
	EXPECT_OK("offload no\noffload-mark 0x100/0xff00\n", &c);
	ASSERT_INT_EQ(c.offload, false);
	ASSERT_INT_EQ(c.offload_mark, 0x100u);
	ASSERT_INT_EQ(c.offload_mask, 0xff00u);
	config_free(&c);
	EXPECT_OK("offload yes\noffload-mark 4096\n", &c);
	ASSERT_INT_EQ(c.offload, true);
	ASSERT_INT_EQ(c.offload_mark, 4096u);
	ASSERT_INT_EQ(c.offload_mask, 4096u);
	ASSERT_INT_EQ(c.server_software, SMTP_SOFTWARE_ANY);
	config_free(&c);
	EXPECT_OK("server-software exim\n", &c);
	ASSERT_INT_EQ(c.server_software, SMTP_SOFTWARE_EXIM);
	config_free(&c);
	EXPECT_OK("server-software sendmail\n", &c);
	ASSERT_INT_EQ(c.server_software, SMTP_SOFTWARE_SENDMAIL);
	config_free(&c);
}

static void
test_bounds(void)
{
	struct config c;

	EXPECT_OK("ports 1 65535\nblock-after 1\nmin-ttl 255\n"
	    "max-flows 10000000\nflow-memory 1M\nqueue 65535\n", &c);
	ASSERT_INT_EQ(c.ports[0], 1);
	ASSERT_INT_EQ(c.ports[1], 65535);
	ASSERT_INT_EQ(c.block_after, 1);
	ASSERT_INT_EQ(c.min_ttl, 255);
	ASSERT_INT_EQ(c.max_flows, 10000000);
	ASSERT_INT_EQ(c.flow_memory, 1048576);
	ASSERT_INT_EQ(c.queue_first, 65535);
	ASSERT_INT_EQ(c.queue_last, 65535);
	config_free(&c);
	EXPECT_OK("queue 0-63\n", &c);
	ASSERT_INT_EQ(c.queue_first, 0);
	ASSERT_INT_EQ(c.queue_last, 63);
	config_free(&c);
	EXPECT_OK("block-after 1000\nflow-memory 64G\nqueue 100-163\n"
	    "max-flows 1\nmin-ttl 000\n", &c);
	ASSERT_INT_EQ(c.block_after, 1000);
	ASSERT_INT_EQ(c.flow_memory, 64ULL << 30);
	ASSERT_INT_EQ(c.queue_first, 100);
	ASSERT_INT_EQ(c.queue_last, 163);
	ASSERT_INT_EQ(c.max_flows, 1);
	config_free(&c);
	EXPECT_OK("flow-memory 1048576\n", &c);
	ASSERT_INT_EQ(c.flow_memory, 1048576);
	config_free(&c);
	EXPECT_OK("flow-memory 1024k\n", &c);
	ASSERT_INT_EQ(c.flow_memory, 1048576);
	config_free(&c);
}

static void
test_bad_values(void)
{
	EXPECT_ERR("colour blue\n", "t.conf:1: unknown key 'colour'");
	EXPECT_ERR("Ports 25\n", "t.conf:1: unknown key 'Ports'");
	EXPECT_ERR("ports 0\n", "t.conf:1: invalid port (1-65535) '0'");
	EXPECT_ERR("ports 65536\n", "t.conf:1: invalid port (1-65535) "
	    "'65536'");
	EXPECT_ERR("ports 25 smtp\n", "t.conf:1: invalid port (1-65535) "
	    "'smtp'");
	EXPECT_ERR("ports -25\n", "t.conf:1: invalid port (1-65535) '-25'");
	EXPECT_ERR("ports +25\n", "t.conf:1: invalid port (1-65535) '+25'");
	EXPECT_ERR("ports 99999999999999999999999\n", "t.conf:1: invalid "
	    "port (1-65535) '99999999999999999999999'");
	EXPECT_ERR("ports 25 587 25\n", "t.conf:1: duplicate port '25'");
	EXPECT_ERR("mode Enforce\n", "t.conf:1: invalid mode (enforce or "
	    "monitor) 'Enforce'");
	EXPECT_ERR("mode enforce monitor\n", "t.conf:1: unexpected extra "
	    "value 'monitor'");
	EXPECT_ERR("block-after 0\n", "t.conf:1: invalid block-after (1-1000) "
	    "'0'");
	EXPECT_ERR("block-after 1001\n", "t.conf:1: invalid block-after "
	    "(1-1000) '1001'");
	EXPECT_ERR("block-after 3x\n", "t.conf:1: invalid block-after "
	    "(1-1000) '3x'");
	EXPECT_ERR("attempt-window 0\n", "t.conf:1: attempt-window must not "
	    "be zero '0'");
	EXPECT_ERR("attempt-window 0m\n", "t.conf:1: attempt-window must not "
	    "be zero '0m'");
	EXPECT_ERR("attempt-window 10y\n", "t.conf:1: invalid duration "
	    "'10y'");
	EXPECT_ERR("block-for 0s\n", "t.conf:1: block-for must not be zero "
	    "'0s'");
	EXPECT_ERR("block-for 1.5h\n", "t.conf:1: invalid duration '1.5h'");
	EXPECT_ERR("block-for-max soon\n", "t.conf:1: invalid duration "
	    "'soon'");
	EXPECT_ERR("block-for-max 99999999999999w\n", "t.conf:1: invalid "
	    "duration '99999999999999w'");
	EXPECT_ERR("hook output\n", "t.conf:1: invalid hook (forward or "
	    "input) 'output'");
	EXPECT_ERR("queue 65536\n", "t.conf:1: invalid queue (0-65535 or N-M) "
	    "'65536'");
	EXPECT_ERR("queue 1-\n", "t.conf:1: invalid queue (0-65535 or N-M) "
	    "'1-'");
	EXPECT_ERR("queue -1\n", "t.conf:1: invalid queue (0-65535 or N-M) "
	    "'-1'");
	EXPECT_ERR("queue 1-2-3\n", "t.conf:1: invalid queue (0-65535 or N-M) "
	    "'1-2-3'");
	EXPECT_ERR("queue 5-3\n", "t.conf:1: invalid queue range (first above "
	    "last) '5-3'");
	EXPECT_ERR("queue 0-64\n", "t.conf:1: too many queues (at most 64) "
	    "'0-64'");
	EXPECT_ERR("queue 0-65535\n", "t.conf:1: too many queues (at most 64) "
	    "'0-65535'");
	EXPECT_ERR("starttls require\n", "t.conf:1: invalid starttls (allow, "
	    "strip or deny) 'require'");
	EXPECT_ERR("server-software exchange\n", "t.conf:1: invalid "
	    "server-software (any, postfix, exim, sendmail or opensmtpd) "
	    "'exchange'");
	EXPECT_ERR("server-software Postfix\n", "t.conf:1: invalid "
	    "server-software (any, postfix, exim, sendmail or opensmtpd) "
	    "'Postfix'");
	EXPECT_ERR("offload maybe\n", "t.conf:1: invalid offload (yes or no) "
	    "'maybe'");
	EXPECT_ERR("offload-mark 0\n", "t.conf:1: invalid offload-mark (MARK "
	    "must be non-zero and inside MASK) '0'");
	EXPECT_ERR("offload-mark 0x300/0x100\n", "t.conf:1: invalid "
	    "offload-mark (MARK must be non-zero and inside MASK) "
	    "'0x300/0x100'");
	EXPECT_ERR("offload-mark 0x100000000\n", "t.conf:1: invalid "
	    "offload-mark (MARK or MARK/MASK, 0x hex or decimal 32-bit) "
	    "'0x100000000'");
	EXPECT_ERR("offload-mark 0xg\n", "t.conf:1: invalid offload-mark "
	    "(MARK or MARK/MASK, 0x hex or decimal 32-bit) '0xg'");
	EXPECT_ERR("min-ttl 256\n", "t.conf:1: invalid min-ttl (0-255) '256'");
	EXPECT_ERR("min-ttl -1\n", "t.conf:1: invalid min-ttl (0-255) '-1'");
	EXPECT_ERR("max-flows 0\n", "t.conf:1: invalid max-flows (1-10000000) "
	    "'0'");
	EXPECT_ERR("max-flows 10000001\n", "t.conf:1: invalid max-flows "
	    "(1-10000000) '10000001'");
	EXPECT_ERR("flow-memory 1023K\n", "t.conf:1: invalid flow-memory "
	    "(1M-64G) '1023K'");
	EXPECT_ERR("flow-memory 65G\n", "t.conf:1: invalid flow-memory "
	    "(1M-64G) '65G'");
	EXPECT_ERR("flow-memory 64T\n", "t.conf:1: invalid size '64T'");
	EXPECT_ERR("flow-memory 64MB\n", "t.conf:1: invalid size '64MB'");
	EXPECT_ERR("flow-memory 9999999999G\n", "t.conf:1: invalid flow-memory "
	    "(1M-64G) '9999999999G'");
	EXPECT_ERR("flow-memory 999999999999999999999G\n", "t.conf:1: invalid "
	    "size '999999999999999999999G'");
	EXPECT_ERR("state-db state.db\n", "t.conf:1: path must be absolute "
	    "'state.db'");
	EXPECT_ERR("control-socket ./c.sock\n", "t.conf:1: path must be "
	    "absolute './c.sock'");
	EXPECT_ERR_AROUND("local-domains example.test bad_domain!\n",
	    "t.conf:1: invalid domain", " 'bad_domain!'");
	EXPECT_ERR_AROUND("\nrelay-networks 192.0.2.0/24 192.0.2.0/33\n",
	    "t.conf:2: invalid network", " '192.0.2.0/33'");
	EXPECT_ERR_AROUND("relay-networks 192.0.2.300\n",
	    "t.conf:1: invalid network", " '192.0.2.300'");
	EXPECT_ERR_AROUND("relay-networks 2001:db8::/129\n",
	    "t.conf:1: invalid network", " '2001:db8::/129'");
	EXPECT_ERR_AROUND("relay-networks example.test\n",
	    "t.conf:1: invalid network", " 'example.test'");
	/* Other whitespace is not a separator: it is part of a bad token. */
	EXPECT_ERR("mode\vmonitor\n", "t.conf:1: unknown key 'mode\\x0bmonitor'");
	EXPECT_ERR("mode monitor\f\n", "t.conf:1: invalid mode (enforce or "
	    "monitor) 'monitor\\x0c'");
	EXPECT_ERR("mode \xc3\xa9t\xc3\xa9\n", "t.conf:1: invalid mode (enforce "
	    "or monitor) '\\xc3\\xa9t\\xc3\\xa9'");
	/* A bare CR in the middle of a line is not a line ending. */
	EXPECT_ERR("mode monitor\r\r\n", "t.conf:1: invalid mode "
	    "(enforce or monitor) 'monitor\\x0d'");
}

static void
test_too_many_ports(void)
{
	char text[1024], want[128];
	size_t o;
	int i;
	struct config c;

	o = (size_t)snprintf(text, sizeof(text), "ports");
	for (i = 1; i <= CONFIG_MAX_PORTS; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, " %d", i);
	snprintf(text + o, sizeof(text) - o, "\n");
	EXPECT_OK(text, &c);
	ASSERT_INT_EQ(c.nports, CONFIG_MAX_PORTS);
	ASSERT_INT_EQ(c.ports[CONFIG_MAX_PORTS - 1], CONFIG_MAX_PORTS);
	config_free(&c);
	snprintf(text + o, sizeof(text) - o, " 1000\n");
	snprintf(want, sizeof(want), "t.conf:1: too many ports (at most 64) "
	    "'1000'");
	EXPECT_ERR(text, want);
}

static void
test_paths(void)
{
	char text[CONFIG_PATH_MAX + 64], want[512];
	struct config c;
	size_t n;

	/* sun_path holds 108 bytes with the NUL: 107 characters fit. */
	n = (size_t)snprintf(text, sizeof(text), "control-socket /");
	memset(text + n, 'a', 106);
	text[n + 106] = '\0';
	EXPECT_OK(text, &c);
	ASSERT_INT_EQ(strlen(c.control_socket), 107);
	config_free(&c);
	text[n + 106] = 'a';
	text[n + 107] = '\0';
	snprintf(want, sizeof(want), "t.conf:1: path too long (at most 107 "
	    "bytes) '/%.63s...'", text + n);
	EXPECT_ERR(text, want);

	n = (size_t)snprintf(text, sizeof(text), "state-db /");
	memset(text + n, 'b', CONFIG_PATH_MAX - 2);
	text[n + CONFIG_PATH_MAX - 2] = '\0';
	EXPECT_OK(text, &c);
	ASSERT_INT_EQ(strlen(c.state_db), CONFIG_PATH_MAX - 1);
	config_free(&c);
	text[n + CONFIG_PATH_MAX - 2] = 'b';
	text[n + CONFIG_PATH_MAX - 1] = '\0';
	snprintf(want, sizeof(want), "t.conf:1: path too long (at most 4095 "
	    "bytes) '/%.63s...'", text + n);
	EXPECT_ERR(text, want);
}

static void
test_given_twice(void)
{
	EXPECT_ERR("mode monitor\nhook input\n\nmode enforce\n",
	    "t.conf:4: key given twice (first on line 1) 'mode'");
	EXPECT_ERR("ports 25\nports 587\n",
	    "t.conf:2: key given twice (first on line 1) 'ports'");
	EXPECT_ERR("local-domains example.test\n# more\n"
	    "local-domains other.test\n",
	    "t.conf:3: key given twice (first on line 1) 'local-domains'");
	/* Given twice even if the first had no valid value. */
	EXPECT_ERR("block-for\nblock-for 1h\n", "t.conf:1: missing value for "
	    "'block-for'");
}

static void
test_crlf(void)
{
	struct config c;

	EXPECT_OK("ports 25 587\r\nmode monitor\r\n# comment\r\n\r\n"
	    "hook input\r\n", &c);
	ASSERT_INT_EQ(c.nports, 2);
	ASSERT_INT_EQ(c.ports[1], 587);
	ASSERT_INT_EQ(c.mode, CONFIG_MODE_MONITOR);
	ASSERT_INT_EQ(c.hook, CONFIG_HOOK_INPUT);
	config_free(&c);
	EXPECT_ERR("mode monitor\r\nhook sideways\r\n", "t.conf:2: invalid "
	    "hook (forward or input) 'sideways'");
}

static void
test_durations(void)
{
	static const struct {
		const char *s;
		bool ok;
		uint64_t secs;
	} cases[] = {
		{ "90", true, 90 }, { "90s", true, 90 }, { "10m", true, 600 },
		{ "1h", true, 3600 }, { "7d", true, 604800 },
		{ "2w", true, 1209600 }, { "0", true, 0 }, { "007m", true, 420 },
		{ "18446744073709", true, 18446744073709ULL },
		{ "18446744073709s", true, 18446744073709ULL },
		{ "18446744073710", false, 0 },
		{ "18446744073710s", false, 0 },
		{ "30500568w", true, 30500568ULL * 604800 },
		{ "30500569w", false, 0 },
		{ "99999999999999999999", false, 0 },
		{ "", false, 0 }, { "s", false, 0 }, { "m", false, 0 },
		{ "1x", false, 0 }, { "-1", false, 0 }, { "+1", false, 0 },
		{ "1.5h", false, 0 }, { " 1", false, 0 }, { "1 ", false, 0 },
		{ "1hh", false, 0 }, { "1h30m", false, 0 }, { "1H", false, 0 },
		{ "1M", false, 0 }, { "0x10", false, 0 },
	};
	size_t i;
	rg_time_t t;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok;

		t = 12345;
		ok = config_parse_duration(cases[i].s, strlen(cases[i].s), &t);
		if (ok != cases[i].ok || (ok && t != cases[i].secs *
		    RG_USEC_PER_SEC)) {
			fprintf(stderr, "%s:%d: duration \"%s\": ok %d t %llu\n",
			    __FILE__, __LINE__, cases[i].s, ok,
			    (unsigned long long)t);
			test_failed_checks++;
		}
	}
	/* The length is honoured: no reading past it. */
	TEST_CHECK(config_parse_duration("10mXX", 3, &t));
	ASSERT_INT_EQ(t, 600 * RG_USEC_PER_SEC);
}

static void
test_sizes(void)
{
	static const struct {
		const char *s;
		bool ok;
		uint64_t v;
	} cases[] = {
		{ "4096", true, 4096 }, { "512K", true, 512 << 10 },
		{ "512k", true, 512 << 10 }, { "64M", true, 64 << 20 },
		{ "1G", true, 1ULL << 30 }, { "0", true, 0 },
		{ "18446744073709551615", true, UINT64_MAX },
		{ "18446744073709551616", false, 0 },
		{ "17179869183G", true, 17179869183ULL << 30 },
		{ "17179869184G", false, 0 },
		{ "", false, 0 }, { "K", false, 0 }, { "1T", false, 0 },
		{ "1KB", false, 0 }, { "-1", false, 0 }, { "1.5M", false, 0 },
		{ " 1M", false, 0 },
	};
	size_t i;
	uint64_t v;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok;

		v = 12345;
		ok = config_parse_size(cases[i].s, strlen(cases[i].s), &v);
		if (ok != cases[i].ok || (ok && v != cases[i].v)) {
			fprintf(stderr, "%s:%d: size \"%s\": ok %d v %llu\n",
			    __FILE__, __LINE__, cases[i].s, ok,
			    (unsigned long long)v);
			test_failed_checks++;
		}
	}
}

static void
test_duration_str(void)
{
	char buf[32];

	ASSERT_STR_EQ(config_duration_str(0, buf, sizeof(buf)), "0s");
	ASSERT_STR_EQ(config_duration_str(90 * RG_USEC_PER_SEC, buf,
	    sizeof(buf)), "90s");
	ASSERT_STR_EQ(config_duration_str(60 * RG_USEC_PER_SEC, buf,
	    sizeof(buf)), "1m");
	ASSERT_STR_EQ(config_duration_str(600 * RG_USEC_PER_SEC, buf,
	    sizeof(buf)), "10m");
	ASSERT_STR_EQ(config_duration_str(3600 * RG_USEC_PER_SEC, buf,
	    sizeof(buf)), "1h");
	ASSERT_STR_EQ(config_duration_str(3660 * RG_USEC_PER_SEC, buf,
	    sizeof(buf)), "61m");
	ASSERT_STR_EQ(config_duration_str(86400 * RG_USEC_PER_SEC, buf,
	    sizeof(buf)), "1d");
	ASSERT_STR_EQ(config_duration_str(7 * 86400 * RG_USEC_PER_SEC, buf,
	    sizeof(buf)), "7d");
	ASSERT_STR_EQ(config_duration_str(14 * 86400 * RG_USEC_PER_SEC, buf,
	    sizeof(buf)), "2w");
	ASSERT_STR_EQ(config_duration_str(365 * 86400 * RG_USEC_PER_SEC, buf,
	    sizeof(buf)), "365d");
	ASSERT_STR_EQ(config_duration_str(604801 * RG_USEC_PER_SEC, buf,
	    sizeof(buf)), "604801s");
	ASSERT_STR_EQ(config_duration_str(1500000, buf, sizeof(buf)), "1.5s");
	ASSERT_STR_EQ(config_duration_str(1, buf, sizeof(buf)), "0.000001s");
	ASSERT_STR_EQ(config_duration_str(UINT64_MAX, buf, sizeof(buf)),
	    "18446744073709.551615s");
	/* Truncated, still terminated. */
	ASSERT_STR_EQ(config_duration_str(3600 * RG_USEC_PER_SEC, buf, 2), "1");
}

static void
test_block_for_max(void)
{
	struct config c;

	EXPECT_ERR("block-for 2h\n# x\nblock-for-max 1h\n",
	    "t.conf:3: block-for-max shorter than block-for '1h'");
	EXPECT_ERR("block-for-max 1h\nblock-for 2h\n",
	    "t.conf:1: block-for-max shorter than block-for '1h'");
	EXPECT_ERR("mode monitor\nblock-for 8d\n",
	    "t.conf:2: block-for longer than the default block-for-max (7d) "
	    "'8d'");
	EXPECT_ERR("block-for-max 0\n",
	    "t.conf:1: block-for-max shorter than block-for '0'");
	EXPECT_OK("block-for 2h\nblock-for-max 2h\n", &c);
	ASSERT_INT_EQ(c.block_for, c.block_for_max);
	config_free(&c);
	EXPECT_OK("block-for 1w\n", &c);
	config_free(&c);
}

/* offence-memory: a duration of at least 1s or "forever" (0); 30d unset. */
static void
test_offence_memory(void)
{
	struct config c;

	EXPECT_OK("", &c);
	ASSERT_INT_EQ(c.offence_memory, 30 * 86400 * RG_USEC_PER_SEC);
	config_free(&c);
	EXPECT_OK("offence-memory 3s\n", &c);
	ASSERT_INT_EQ(c.offence_memory, 3 * RG_USEC_PER_SEC);
	config_free(&c);
	EXPECT_OK("offence-memory forever\n", &c);
	ASSERT_INT_EQ(c.offence_memory, 0);
	config_free(&c);
	EXPECT_ERR("mode monitor\noffence-memory 0\n",
	    "t.conf:2: offence-memory must be at least 1s ('forever' never "
	    "forgets) '0'");
	EXPECT_ERR("offence-memory never\n",
	    "t.conf:1: invalid duration 'never'");
	EXPECT_ERR("offence-memory 1d 2d\n", "t.conf:1: unexpected extra "
	    "value '2d'");
}

static void
test_long_lines(void)
{
	char *text, want[512];
	size_t n = CONFIG_MAX_LINE + 16;
	struct config c;

	text = malloc(n + 1);
	if (text == NULL) {
		TEST_CHECK(text != NULL);
		return;
	}
	/* Exactly CONFIG_MAX_LINE bytes (plus CR LF) is fine. */
	memset(text, '#', CONFIG_MAX_LINE);
	memcpy(text + CONFIG_MAX_LINE, "\r\nmode monitor\n", 16);
	EXPECT_OK(text, &c);
	ASSERT_INT_EQ(c.mode, CONFIG_MODE_MONITOR);
	config_free(&c);
	/* One more is not, even as a comment. */
	memset(text, '#', CONFIG_MAX_LINE + 1);
	memcpy(text + CONFIG_MAX_LINE + 1, "\nmode x\n", 9);
	snprintf(want, sizeof(want), "t.conf:1: line longer than 65536 bytes "
	    "'%.64s...'", text);
	EXPECT_ERR(text, want);
	/* A long list that fits the line is fine. */
	memcpy(text, "ports", 5);
	memset(text + 5, ' ', CONFIG_MAX_LINE - 5);
	memcpy(text + CONFIG_MAX_LINE - 6, "25 587\nmode monitor", 20);
	EXPECT_OK(text, &c);
	ASSERT_INT_EQ(c.nports, 2);
	config_free(&c);
	/* And a long one on the second line is found there. */
	memcpy(text, "mode monitor\n", 13);
	memset(text + 13, 'x', n - 13);
	text[n] = '\0';
	snprintf(want, sizeof(want), "t.conf:2: line longer than 65536 bytes "
	    "'%.64s...'", text + 13);
	EXPECT_ERR(text, want);
	free(text);
}

static void
test_nul(void)
{
	static const char t1[] = "mode monitor\nports 25\0 587\n";
	static const char t2[] = "mode\0";
	struct config c;
	char err[ERRLEN];

	config_defaults(&c);
	TEST_CHECK(!config_parse("t.conf", t1, sizeof(t1) - 1, &c, err,
	    sizeof(err)));
	ASSERT_STR_EQ(err, "t.conf:2: NUL byte in line 'ports 25\\x00 587'");
	config_free(&c);
	config_defaults(&c);
	TEST_CHECK(!config_parse("t.conf", t2, sizeof(t2) - 1, &c, err,
	    sizeof(err)));
	ASSERT_STR_EQ(err, "t.conf:1: NUL byte in line 'mode\\x00'");
	config_free(&c);
}

static void
test_err_buffer(void)
{
	struct config c;
	char err[8];

	/* A short buffer is truncated, never overrun; NULL is allowed. */
	memset(err, 'z', sizeof(err));
	config_defaults(&c);
	TEST_CHECK(!config_parse("t.conf", "mode x\n", 7, &c, err, 6));
	ASSERT_STR_EQ(err, "t.con");
	ASSERT_INT_EQ(err[6], 'z');
	config_free(&c);
	config_defaults(&c);
	TEST_CHECK(!config_parse("t.conf", "mode x\n", 7, &c, NULL, 0));
	config_free(&c);
	config_defaults(&c);
	TEST_CHECK(!config_parse("t.conf", "block-for 8d\n", 13, &c, NULL, 0));
	config_free(&c);
	/* Success clears the buffer. */
	config_defaults(&c);
	memset(err, 'z', sizeof(err));
	TEST_CHECK(config_parse("t.conf", "mode monitor", 12, &c, err,
	    sizeof(err)));
	ASSERT_STR_EQ(err, "");
	config_free(&c);
}

static void
test_printable(void)
{
	char out[CONFIG_TOKEN_SHOW * 4 + 4];
	char in[200];

	config_printable("a\x01\x7f\xff'z", 6, out, sizeof(out));
	ASSERT_STR_EQ(out, "a\\x01\\x7f\\xff'z");
	memset(in, '\xff', sizeof(in));
	config_printable(in, sizeof(in), out, sizeof(out));
	ASSERT_INT_EQ(strlen(out), CONFIG_TOKEN_SHOW * 4 + 3);
	ASSERT_STR_EQ(out + CONFIG_TOKEN_SHOW * 4, "...");
	config_printable(in, 64, out, sizeof(out));
	ASSERT_INT_EQ(strlen(out), CONFIG_TOKEN_SHOW * 4);
	/* Too small an output buffer gives an empty string, not overrun. */
	config_printable("abc", 3, out, 10);
	ASSERT_STR_EQ(out, "");
}

/* Two configurations hold the same values. */
static void
same_config(const struct config *a, const struct config *b)
{
	uint32_t i;
	char x[64], y[64];

	ASSERT_INT_EQ(a->local_domains.count, b->local_domains.count);
	for (i = 0; i < a->local_domains.count &&
	    i < b->local_domains.count; i++)
		ASSERT_STR_EQ(a->local_domains.names[i],
		    b->local_domains.names[i]);
	ASSERT_INT_EQ(a->relay_networks.count, b->relay_networks.count);
	for (i = 0; i < a->relay_networks.count &&
	    i < b->relay_networks.count; i++)
		ASSERT_STR_EQ(cidr_str(&a->relay_networks.v[i], x, sizeof(x)),
		    cidr_str(&b->relay_networks.v[i], y, sizeof(y)));
	ASSERT_INT_EQ(a->never_block.count, b->never_block.count);
	for (i = 0; i < a->never_block.count && i < b->never_block.count; i++)
		ASSERT_STR_EQ(cidr_str(&a->never_block.v[i], x, sizeof(x)),
		    cidr_str(&b->never_block.v[i], y, sizeof(y)));
	ASSERT_INT_EQ(a->block_scope, b->block_scope);
	ASSERT_INT_EQ(a->servers.count, b->servers.count);
	for (i = 0; i < a->servers.count && i < b->servers.count; i++)
		ASSERT_STR_EQ(cidr_str(&a->servers.v[i], x, sizeof(x)),
		    cidr_str(&b->servers.v[i], y, sizeof(y)));
	ASSERT_INT_EQ(a->nports, b->nports);
	ASSERT_MEM_EQ(a->ports, b->ports, sizeof(a->ports));
	ASSERT_INT_EQ(a->mode, b->mode);
	ASSERT_INT_EQ(a->block_after, b->block_after);
	ASSERT_INT_EQ(a->attempt_window, b->attempt_window);
	ASSERT_INT_EQ(a->block_for, b->block_for);
	ASSERT_INT_EQ(a->block_for_max, b->block_for_max);
	ASSERT_INT_EQ(a->on_block.argc, b->on_block.argc);
	ASSERT_MEM_EQ(a->on_block.buf, b->on_block.buf, a->on_block.len);
	ASSERT_INT_EQ(a->on_unblock.argc, b->on_unblock.argc);
	ASSERT_INT_EQ(a->hook_timeout, b->hook_timeout);
	ASSERT_INT_EQ(a->offence_memory, b->offence_memory);
	ASSERT_INT_EQ(a->hook, b->hook);
	ASSERT_INT_EQ(a->queue_first, b->queue_first);
	ASSERT_INT_EQ(a->queue_last, b->queue_last);
	ASSERT_INT_EQ(a->starttls, b->starttls);
	ASSERT_INT_EQ(a->offload, b->offload);
	ASSERT_INT_EQ(a->offload_mark, b->offload_mark);
	ASSERT_INT_EQ(a->offload_mask, b->offload_mask);
	ASSERT_INT_EQ(a->min_ttl, b->min_ttl);
	ASSERT_INT_EQ(a->max_flows, b->max_flows);
	ASSERT_INT_EQ(a->flow_memory, b->flow_memory);
	ASSERT_STR_EQ(a->state_db, b->state_db);
	ASSERT_STR_EQ(a->control_socket, b->control_socket);
}

static void
round_trip(const char *text)
{
	struct config a, b;
	char buf[8192], err[ERRLEN];
	size_t n, n2;

	config_defaults(&a);
	if (!config_parse("a.conf", text, strlen(text), &a, err, sizeof(err))) {
		fprintf(stderr, "round trip source: %s\n", err);
		test_failed_checks++;
		config_free(&a);
		return;
	}
	n = config_format(&a, buf, sizeof(buf));
	TEST_CHECK(n < sizeof(buf));
	ASSERT_INT_EQ(strlen(buf), n);
	/* The size alone can be asked for. */
	ASSERT_INT_EQ(config_format(&a, NULL, 0), n);
	config_defaults(&b);
	if (!config_parse("b.conf", buf, n, &b, err, sizeof(err))) {
		fprintf(stderr, "round trip: %s\n%s", err, buf);
		test_failed_checks++;
	} else
		same_config(&a, &b);
	/* Formatting the reparsed configuration gives the same text. */
	n2 = config_format(&b, buf + n + 1, sizeof(buf) - n - 1);
	ASSERT_INT_EQ(n2, n);
	ASSERT_MEM_EQ(buf, buf + n + 1, n);
	config_free(&a);
	config_free(&b);
}

static void
test_format(void)
{
	struct config c;
	char buf[1024], small[20];
	size_t n;

	config_defaults(&c);
	n = config_format(&c, buf, sizeof(buf));
	ASSERT_STR_EQ(buf,
	    "# local-domains (none)\n"
	    "# relay-networks (none)\n"
	    "# never-block (none)\n"
	    "# servers (none)\n"
	    "ports 25\n"
	    "mode enforce\n"
	    "block-after 3\n"
	    "attempt-window 10m\n"
	    "block-for 1h\n"
	    "block-for-max 7d\n"
	    "offence-memory 30d\n"
	    "hook forward\n"
	    "queue 0\n"
	    "starttls allow\n"
	    "offload yes\n"
	    "offload-mark 0x20000000\n"
	    "block-scope smtp\n"
	    "server-software any\n"
	    "min-ttl 0\n"
	    "max-flows 100000\n"
	    "flow-memory 64M\n"
	    "state-db /var/lib/relayguard/state.db\n"
	    "metrics-interval 15s\n"
	    "control-socket /run/relayguard/control.sock\n"
	    "# on-block (none)\n"
	    "# on-unblock (none)\n"
	    "hook-timeout 5s\n");
	ASSERT_INT_EQ(n, strlen(buf));
	/* Truncation is reported by the returned length. */
	memset(small, 'z', sizeof(small));
	ASSERT_INT_EQ(config_format(&c, small, 10), n);
	ASSERT_STR_EQ(small, "# local-d");
	ASSERT_INT_EQ(small[10], 'z');
	config_free(&c);

	round_trip("");
	round_trip("local-domains   example.test .Example.TEST. other.example\n"
	    "relay-networks  192.0.2.0/24 2001:db8:1::/48 198.51.100.7\n"
	    "servers 198.51.100.25 198.51.100.0/28 2001:db8:2::25\n"
	    "ports 25 587 2525\nmode monitor\nblock-after 1000\n"
	    "attempt-window 90\nblock-for 1d\nblock-for-max 2w\nhook input\n"
	    "queue 4-67\nstarttls deny\nmin-ttl 255\nmax-flows 10000000\n"
	    "flow-memory 1048577\nstate-db /x\ncontrol-socket /y/z.sock\n");
	round_trip("flow-memory 3G\nqueue 9\nstarttls strip\n"
	    "attempt-window 3661\nblock-for 7d\nblock-for-max 7d\n");
	round_trip("flow-memory 1025K\n");
	round_trip("offload no\noffload-mark 0x5/0xff\n");
	round_trip("offence-memory forever\n");
	round_trip("offence-memory 90m\n");
	round_trip("never-block 198.51.100.0/28 2001:db8:5::7\n"
	    "block-scope all\n");
	round_trip("local-domains-file /etc/d\nrelay-networks 192.0.2.1\n"
	    "relay-networks-file /n\n");
	round_trip("on-block /usr/local/bin/notify --to ops block\n"
	    "on-unblock /bin/true\nhook-timeout 90s\n");
}

/* never-block: networks like relay-networks, kept apart from them;
 * block-scope: smtp or all. */
static void
test_never_block_scope(void)
{
	struct config c;
	struct rg_addr a;
	char buf[64];

	EXPECT_OK("relay-networks 192.0.2.0/24\n"
	    "never-block 198.51.100.0/28 2001:DB8:5::7 203.0.113.9\n"
	    "block-scope all\n", &c);
	ASSERT_INT_EQ(c.never_block.count, 3);
	ASSERT_INT_EQ(c.relay_networks.count, 1);
	if (c.never_block.count == 3) {
		ASSERT_STR_EQ(cidr_str(&c.never_block.v[0], buf, sizeof(buf)),
		    "198.51.100.0/28");
		ASSERT_STR_EQ(cidr_str(&c.never_block.v[1], buf, sizeof(buf)),
		    "2001:db8:5::7/128");
		ASSERT_STR_EQ(cidr_str(&c.never_block.v[2], buf, sizeof(buf)),
		    "203.0.113.9/32");
	}
	TEST_CHECK(rg_addr_parse("198.51.100.15", 13, &a));
	TEST_CHECK(cidr_set_contains(&c.never_block, &a));
	TEST_CHECK(!cidr_set_contains(&c.relay_networks, &a));
	TEST_CHECK(rg_addr_parse("198.51.100.16", 13, &a));
	TEST_CHECK(!cidr_set_contains(&c.never_block, &a));
	ASSERT_INT_EQ(c.block_scope, CONFIG_BLOCK_SCOPE_ALL);
	config_free(&c);
	EXPECT_OK("block-scope smtp\n", &c);
	ASSERT_INT_EQ(c.block_scope, CONFIG_BLOCK_SCOPE_SMTP);
	config_free(&c);

	EXPECT_ERR_AROUND("\nnever-block 198.51.100.0/28 198.51.100.1/24\n",
	    "t.conf:2: invalid network", " '198.51.100.1/24'");
	EXPECT_ERR_AROUND("never-block partner.example\n",
	    "t.conf:1: invalid network", " 'partner.example'");
	EXPECT_ERR("never-block\n", "t.conf:1: missing value for "
	    "'never-block'");
	EXPECT_ERR("never-block 192.0.2.1\nnever-block 192.0.2.2\n",
	    "t.conf:2: key given twice (first on line 1) 'never-block'");
	EXPECT_ERR("block-scope tcp\n", "t.conf:1: invalid block-scope (smtp "
	    "or all) 'tcp'");
	EXPECT_ERR("block-scope smtp all\n", "t.conf:1: unexpected extra "
	    "value 'all'");
	EXPECT_ERR("block-scope SMTP\n", "t.conf:1: invalid block-scope (smtp "
	    "or all) 'SMTP'");
}

/* Write text to a new temporary file; its name goes into path. */
static bool
write_temp(char *path, size_t pathlen, const char *text, size_t len)
{
	FILE *f;
	int fd;

	snprintf(path, pathlen, "/tmp/test_config.XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return false;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return false;
	}
	if (len > 0 && fwrite(text, 1, len, f) != len) {
		fclose(f);
		return false;
	}
	return fclose(f) == 0;
}

static void
test_conffile(void)
{
	struct config c;
	char path[64], err[ERRLEN], want[ERRLEN];
	char *big;

	/* A missing default file means defaults; an explicit one is an
	 * error. */
	TEST_CHECK(conffile_load("/nonexistent/relayguard.conf", false, &c,
	    err, sizeof(err)));
	ASSERT_INT_EQ(c.block_after, 3);
	config_free(&c);
	TEST_CHECK(!conffile_load("/nonexistent/relayguard.conf", true, &c,
	    err, sizeof(err)));
	ASSERT_STR_EQ(err, "/nonexistent/relayguard.conf: No such file or "
	    "directory");
	config_free(&c);
	/* A directory is not a configuration file, default or not. */
	TEST_CHECK(!conffile_load("/tmp", false, &c, err, sizeof(err)));
	ASSERT_STR_EQ(err, "/tmp: Is a directory");
	config_free(&c);

	if (!write_temp(path, sizeof(path), "mode monitor\nports 25 587\n",
	    26)) {
		TEST_CHECK(!"cannot write a temporary file");
		return;
	}
	TEST_CHECK(conffile_load(path, true, &c, err, sizeof(err)));
	ASSERT_INT_EQ(c.mode, CONFIG_MODE_MONITOR);
	ASSERT_INT_EQ(c.nports, 2);
	config_free(&c);
	unlink(path);

	if (!write_temp(path, sizeof(path), "mode monitor\nhook up\n", 21)) {
		TEST_CHECK(!"cannot write a temporary file");
		return;
	}
	TEST_CHECK(!conffile_load(path, false, &c, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2: invalid hook (forward or input) "
	    "'up'", path);
	ASSERT_STR_EQ(err, want);
	/* Back at the defaults after a failure. */
	ASSERT_INT_EQ(c.mode, CONFIG_MODE_ENFORCE);
	config_free(&c);
	unlink(path);

	/* 1 MiB of comments is accepted, one byte more is not. */
	if ((big = malloc(CONFFILE_MAX_SIZE + 1)) == NULL) {
		TEST_CHECK(big != NULL);
		return;
	}
	memset(big, '\n', CONFFILE_MAX_SIZE + 1);
	memcpy(big, "mode monitor", 12);
	if (write_temp(path, sizeof(path), big, CONFFILE_MAX_SIZE)) {
		TEST_CHECK(conffile_load(path, true, &c, err, sizeof(err)));
		ASSERT_INT_EQ(c.mode, CONFIG_MODE_MONITOR);
		config_free(&c);
		unlink(path);
	} else
		TEST_CHECK(!"cannot write a temporary file");
	if (write_temp(path, sizeof(path), big, CONFFILE_MAX_SIZE + 1)) {
		TEST_CHECK(!conffile_load(path, true, &c, err, sizeof(err)));
		snprintf(want, sizeof(want), "%s: larger than 1048576 bytes",
		    path);
		ASSERT_STR_EQ(err, want);
		config_free(&c);
		unlink(path);
	} else
		TEST_CHECK(!"cannot write a temporary file");
	free(big);
}

/* The servers key: a list of networks like relay-networks, its checks,
 * config_server(), and the daemon's refusal of forward+enforce without it. */
static void
test_servers(void)
{
	struct config c;
	struct rg_addr a;
	char err[ERRLEN];
	int i;

	EXPECT_OK("# protected\nservers 198.51.100.25 198.51.100.0/28 "
	    "2001:db8:2::25 2001:db8:4::/48\nlocal-domains example.test\n", &c);
	ASSERT_INT_EQ(c.servers.count, 4);
	ASSERT_INT_EQ(c.relay_networks.count, 0);
	ASSERT_INT_EQ(config_key_line(&c, "servers"), 2);
	ASSERT_INT_EQ(config_key_line(&c, "mode"), 0);
	ASSERT_INT_EQ(config_key_line(&c, "no-such-key"), 0);
	memset(&a, 0, sizeof(a));
	a.family = 4;
	memcpy(a.bytes, "\xc6\x33\x64\x19", 4);		/* 198.51.100.25 */
	TEST_CHECK(config_server(&c, &a));
	a.bytes[3] = 7;					/* in the /28 */
	TEST_CHECK(config_server(&c, &a));
	a.bytes[3] = 99;
	TEST_CHECK(!config_server(&c, &a));
	memset(&a, 0, sizeof(a));
	a.family = 6;
	memcpy(a.bytes, "\x20\x01\x0d\xb8\x00\x04\x00\x09", 8);
	TEST_CHECK(config_server(&c, &a));		/* 2001:db8:4:9:: */
	a.bytes[5] = 5;
	TEST_CHECK(!config_server(&c, &a));
	/* forward + enforce with servers: the daemon accepts it. */
	TEST_CHECK(config_check_daemon(&c, err, sizeof(err)));
	config_free(&c);

	/* Empty: every address is a server. */
	EXPECT_OK("", &c);
	TEST_CHECK(config_server(&c, &a));
	config_free(&c);

	EXPECT_ERR("servers\n", "t.conf:1: missing value for 'servers'");
	EXPECT_ERR("servers 198.51.100.25\nservers 2001:db8::1\n",
	    "t.conf:2: key given twice (first on line 1) 'servers'");
	EXPECT_ERR_AROUND("mode monitor\nservers 198.51.100.25 mail.test\n",
	    "t.conf:2: invalid network", "'mail.test'");
	EXPECT_ERR_AROUND("servers 198.51.100.25/24\n",
	    "t.conf:1: invalid network", "'198.51.100.25/24'");
	EXPECT_ERR_AROUND("servers 2001:db8::/129\n",
	    "t.conf:1: invalid network", "'2001:db8::/129'");

	/* forward + enforce without servers is refused by the daemon,
	 * naming the key, and the mode line when there is one. */
	EXPECT_OK("local-domains example.test\n", &c);
	TEST_CHECK(!config_check_daemon(&c, err, sizeof(err)));
	TEST_CHECK(strncmp(err, "t.conf: mode enforce with hook forward "
	    "needs 'servers'", 54) == 0);
	config_free(&c);
	EXPECT_OK("local-domains example.test\n\nmode enforce\n", &c);
	TEST_CHECK(!config_check_daemon(&c, err, sizeof(err)));
	TEST_CHECK(strncmp(err, "t.conf:3: mode enforce with hook forward "
	    "needs 'servers'", 56) == 0);
	config_free(&c);
	/* Monitor, or the input hook (the host itself), need no servers. */
	EXPECT_OK("local-domains example.test\nmode monitor\n", &c);
	TEST_CHECK(config_check_daemon(&c, err, sizeof(err)));
	config_free(&c);
	EXPECT_OK("local-domains example.test\nhook input\n", &c);
	TEST_CHECK(config_check_daemon(&c, err, sizeof(err)));
	config_free(&c);

	/* At most CIDR_MAX networks, like relay-networks: more than a line
	 * holds, so from a servers-file. */
	{
		size_t len = (size_t)(CIDR_MAX + 1) * 16 + 16, o = 0;
		char *t = malloc(len);

		TEST_CHECK(t != NULL);
		if (t == NULL)
			return;
		for (i = 0; i <= CIDR_MAX; i++)
			o += (size_t)snprintf(t + o, len - o, "10.%d.%d.%d\n",
			    i >> 16, (i >> 8) & 255, i & 255);
		config_defaults(&c);
		TEST_CHECK(config_parse("t.conf", "servers-file /s\n", 16, &c,
		    err, sizeof(err)));
		TEST_CHECK(!config_parse_list(&c, &c.list_files[0], t, o, err,
		    sizeof(err)));
		ASSERT_STR_EQ(err, "/s:65537: too many networks (at most 65536) "
		    "'10.1.0.0'");
		config_free(&c);
		free(t);
	}
}

/* A configuration file naming list files; the list files are written
 * by the caller.  conf receives the configuration's path. */
static bool
list_conf(char *conf, size_t conflen, const char *text)
{
	return write_temp(conf, conflen, text, strlen(text));
}

/*
 * X-file keys: recorded by config_parse() (absolute path, once, only for
 * list keys), read by conffile_load(), merged with the inline key;
 * comments, blank lines and blanks ignored; errors name file:line:token.
 */
static void
test_list_files(void)
{
	struct config c;
	struct config_list_file f;
	char conf[64], dom[64], nets[64], text[512], err[ERRLEN];
	char want[ERRLEN], out[4096];
	static const char netlist[] = "# trusted\n192.0.2.0/24\n\n"
	    "  2001:db8:1::/48\n198.51.100.7\n";
	static const char domains[] =
	    "# hosted domains\n"
	    "\n"
	    "   \t\n"
	    "  one.test  \n"
	    "\tTWO.test.\t# a comment after the entry\n"
	    "ex\xc3\xa4mple.test\r\n"
	    ".sub.test\n"
	    "inline.test\n"			/* also inline: kept once */
	    "last.test";			/* no final newline */
	uint32_t i;

	expect_err("local-domains-file etc/d\n",
	    "t.conf:1: path must be absolute 'etc/d'", __LINE__);
	expect_err("local-domains-file /a /b\n",
	    "t.conf:1: unexpected extra value '/b'", __LINE__);
	expect_err("local-domains-file /a\nlocal-domains-file /b\n",
	    "t.conf:2: key given twice (first on line 1) 'local-domains-file'",
	    __LINE__);
	expect_err("ports-file /a\n", "t.conf:1: unknown key 'ports-file'",
	    __LINE__);
	TEST_CHECK(parse("relay-networks-file /n\nlocal-domains-file /d\n",
	    err, &c));
	ASSERT_INT_EQ(c.nlist_files, 2);
	ASSERT_STR_EQ(c.list_files[0].key, "relay-networks");
	ASSERT_STR_EQ(c.list_files[0].path, "/n");
	ASSERT_INT_EQ(c.list_files[0].line, 1);
	ASSERT_STR_EQ(c.list_files[1].key, "local-domains");
	TEST_CHECK(!c.list_files[1].loaded);
	config_free(&c);

	/* config_parse_list() on buffers. */
	config_defaults(&c);
	memset(&f, 0, sizeof(f));
	f.key = "local-domains";
	memcpy(f.path, "/l", 3);
	TEST_CHECK(config_parse("t.conf", "local-domains inline.test", 25, &c,
	    err, sizeof(err)));
	TEST_CHECK(config_parse_list(&c, &f, domains, sizeof(domains) - 1,
	    err, sizeof(err)));
	ASSERT_INT_EQ(c.local_domains.count, 6);
	ASSERT_INT_EQ(f.inline_count, 1);
	ASSERT_INT_EQ(f.file_count, 5);
	TEST_CHECK(f.loaded);
	if (c.local_domains.count == 6) {
		ASSERT_STR_EQ(c.local_domains.names[0], "inline.test");
		ASSERT_STR_EQ(c.local_domains.names[1], "one.test");
		ASSERT_STR_EQ(c.local_domains.names[2], "two.test");
		ASSERT_STR_EQ(c.local_domains.names[3], "xn--exmple-cua.test");
		ASSERT_STR_EQ(c.local_domains.names[4], ".sub.test");
		ASSERT_STR_EQ(c.local_domains.names[5], "last.test");
	}
	config_free(&c);

	/* never-block-file: the same mechanism, one table entry. */
	config_defaults(&c);
	TEST_CHECK(config_parse("t.conf", "never-block 192.0.2.1\n"
	    "never-block-file /nb\n", 43, &c, err, sizeof(err)));
	ASSERT_INT_EQ(c.nlist_files, 1);
	ASSERT_STR_EQ(c.list_files[0].key, "never-block");
	TEST_CHECK(config_parse_list(&c, &c.list_files[0],
	    "# partners\n198.51.100.0/28\n 2001:db8:5::/64 \n", 45, err,
	    sizeof(err)));
	ASSERT_INT_EQ(c.never_block.count, 3);
	ASSERT_INT_EQ(c.list_files[0].file_count, 2);
	config_free(&c);
	/* servers-file too; the daemon's check sees the file's servers. */
	config_defaults(&c);
	TEST_CHECK(config_parse("t.conf", "servers-file /s\n"
	    "local-domains example.test\n", 43, &c, err, sizeof(err)));
	TEST_CHECK(!config_check_daemon(&c, err, sizeof(err)));
	TEST_CHECK(config_parse_list(&c, &c.list_files[0],
	    "198.51.100.25\n2001:db8:2::25\n", 29, err, sizeof(err)));
	ASSERT_INT_EQ(c.servers.count, 2);
	TEST_CHECK(config_check_daemon(&c, err, sizeof(err)));
	config_free(&c);

	/* Each bad entry: file, line, token. */
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "a.test\n\nbad..test\n",
		    "/l:3: invalid domain (empty label in domain) 'bad..test'" },
		{ "# x\na.test b.test\n",
		    "/l:2: unexpected extra value (one entry a line) 'b.test'" },
		{ "\xe2\x98\x83.test\n", "/l:1: invalid domain (string "
		    "contains a disallowed character) '\\xe2\\x98\\x83.test'" },
		{ "xn--zz.test\n", "/l:1: invalid domain (string contains "
		    "invalid punycode data) 'xn--zz.test'" },
		{ "a.test\nb\0.test\n", "/l:2: NUL byte in line 'b\\x00.test'" },
		{ "a.test#c\n", "/l:1: invalid domain (bad character in "
		    "domain) 'a.test#c'" },
	};
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = strlen(bad[i].text);

		if (i == 4)
			n = 15;
		config_defaults(&c);
		memset(&f, 0, sizeof(f));
		f.key = "local-domains";
		memcpy(f.path, "/l", 3);
		TEST_CHECK(!config_parse_list(&c, &f, bad[i].text, n, err,
		    sizeof(err)));
		ASSERT_STR_EQ(err, bad[i].want);
		config_free(&c);
	}
	/* A line longer than CONFIG_LIST_MAX_LINE. */
	{
		char *longl = malloc(CONFIG_LIST_MAX_LINE + 2);

		TEST_CHECK(longl != NULL);
		if (longl != NULL) {
			memset(longl, ' ', CONFIG_LIST_MAX_LINE + 1);
			longl[CONFIG_LIST_MAX_LINE + 1] = '\n';
			config_defaults(&c);
			memset(&f, 0, sizeof(f));
			f.key = "local-domains";
			memcpy(f.path, "/l", 3);
			TEST_CHECK(!config_parse_list(&c, &f, longl,
			    CONFIG_LIST_MAX_LINE + 2, err, sizeof(err)));
			TEST_CHECK(strncmp(err, "/l:1: line longer than 4096 "
			    "bytes", 33) == 0);
			config_free(&c);
			free(longl);
		}
	}

	/* Through conffile_load(): both lists, merged with their keys. */
	if (!write_temp(dom, sizeof(dom), domains, sizeof(domains) - 1) ||
	    !write_temp(nets, sizeof(nets), netlist, sizeof(netlist) - 1)) {
		TEST_CHECK(!"cannot write a temporary file");
		return;
	}
	snprintf(text, sizeof(text), "local-domains inline.test\n"
	    "local-domains-file %s\nrelay-networks 198.51.100.7\n"
	    "relay-networks-file %s\nmode monitor\n", dom, nets);
	if (!list_conf(conf, sizeof(conf), text)) {
		TEST_CHECK(!"cannot write a temporary file");
		return;
	}
	if (!conffile_load(conf, true, &c, err, sizeof(err))) {
		fprintf(stderr, "conffile_load: %s\n", err);
		TEST_CHECK(0);
	}
	ASSERT_INT_EQ(c.local_domains.count, 6);
	ASSERT_INT_EQ(c.relay_networks.count, 3);
	TEST_CHECK(addr_domain_local(&c.local_domains, "last.test", 9));
	TEST_CHECK(addr_domain_local(&c.local_domains, "a.sub.test", 10));
	TEST_CHECK(!addr_domain_local(&c.local_domains, "sub.test", 8));
	/* config-test -v: inline entries, the file and how many it added. */
	config_format(&c, out, sizeof(out));
	snprintf(want, sizeof(want), "local-domains inline.test\n"
	    "local-domains-file %s\t# 5 entries added from the file\n"
	    "relay-networks 198.51.100.7/32\n"
	    "relay-networks-file %s\t# 2 entries added from the file\n",
	    dom, nets);
	TEST_CHECK(strncmp(out, want, strlen(want)) == 0);
	if (strncmp(out, want, strlen(want)) != 0)
		fprintf(stderr, "got:\n%.400s\nwant:\n%s\n", out, want);
	config_free(&c);

	/* A bad entry in the file: the load fails, nothing is kept. */
	unlink(nets);
	if (!write_temp(nets, sizeof(nets), "192.0.2.0/24\n192.0.2.1/24\n",
	    26)) {
		TEST_CHECK(!"cannot write a temporary file");
		return;
	}
	unlink(conf);
	snprintf(text, sizeof(text), "local-domains-file %s\n"
	    "relay-networks-file %s\n", dom, nets);
	TEST_CHECK(list_conf(conf, sizeof(conf), text));
	TEST_CHECK(!conffile_load(conf, true, &c, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2: invalid network (host bits set) "
	    "'192.0.2.1/24'", nets);
	ASSERT_STR_EQ(err, want);
	ASSERT_INT_EQ(c.local_domains.count, 0);
	ASSERT_INT_EQ(c.nlist_files, 0);
	config_free(&c);

	/* A missing file, a directory: clear errors naming the key. */
	unlink(dom);
	TEST_CHECK(!conffile_load(conf, true, &c, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: No such file or directory "
	    "(local-domains-file, %s:1)", dom, conf);
	ASSERT_STR_EQ(err, want);
	config_free(&c);
	unlink(conf);
	snprintf(text, sizeof(text), "local-domains-file /tmp\n");
	TEST_CHECK(list_conf(conf, sizeof(conf), text));
	TEST_CHECK(!conffile_load(conf, true, &c, err, sizeof(err)));
	snprintf(want, sizeof(want), "/tmp: not a regular file "
	    "(local-domains-file, %s:1)", conf);
	ASSERT_STR_EQ(err, want);
	config_free(&c);
	unlink(conf);
	unlink(nets);
}

/* config_warnings(): collects what it reports. */
struct warned {
	size_t n;
	char msg[8][512];
};

static void
warned_cb(const char *msg, void *arg)
{
	struct warned *w = arg;

	if (w->n < 8)
		snprintf(w->msg[w->n], sizeof(w->msg[0]), "%s", msg);
	w->n++;
}

static void
test_safe_defaults(void)
{
	struct config c;
	struct warned w;
	char err[ERRLEN];

	/* enforce (given or the default) without local-domains is refused
	 * by the daemon, naming the key; monitor is not. */
	EXPECT_OK("servers 198.51.100.25\n", &c);
	TEST_CHECK(!config_check_daemon(&c, err, sizeof(err)));
	TEST_CHECK(strncmp(err, "t.conf: mode enforce needs 'local-domains'",
	    42) == 0);
	config_free(&c);
	EXPECT_OK("hook input\nmode enforce\n", &c);
	TEST_CHECK(!config_check_daemon(&c, err, sizeof(err)));
	TEST_CHECK(strncmp(err, "t.conf:2: mode enforce needs "
	    "'local-domains'", 44) == 0);
	config_free(&c);
	EXPECT_OK("mode monitor\n", &c);
	TEST_CHECK(config_check_daemon(&c, err, sizeof(err)));
	config_free(&c);

	/* Warnings: a /0 either family, very large networks (thresholds
	 * /8 and /32), starttls allow; each names its line. */
	EXPECT_OK("mode monitor\n"
	    "relay-networks 192.0.2.0/24 0.0.0.0/0 ::/0 10.0.0.0/7 "
	    "10.0.0.0/8 2001:db8::/31 2001:db8::/32\n"
	    "starttls allow\n", &c);
	memset(&w, 0, sizeof(w));
	ASSERT_INT_EQ(config_warnings(&c, warned_cb, &w), 5);
	ASSERT_INT_EQ(w.n, 5);
	ASSERT_STR_EQ(w.msg[0], "t.conf:2: relay-networks 0.0.0.0/0 covers "
	    "every IPv4 address: any such client may relay through the "
	    "protected servers");
	ASSERT_STR_EQ(w.msg[1], "t.conf:2: relay-networks ::/0 covers every "
	    "IPv6 address: any such client may relay through the protected "
	    "servers");
	ASSERT_STR_EQ(w.msg[2], "t.conf:2: relay-networks 10.0.0.0/7 is very "
	    "large (shorter than /8): every client in it may relay");
	ASSERT_STR_EQ(w.msg[3], "t.conf:2: relay-networks 2001:db8::/31 is "
	    "very large (shorter than /32): every client in it may relay");
	TEST_CHECK(strncmp(w.msg[4], "t.conf:3: starttls allow: ", 26) == 0);
	TEST_CHECK(strstr(w.msg[4], "cannot know whether your servers "
	    "offer it") != NULL);
	/* No callback: only counted. */
	ASSERT_INT_EQ(config_warnings(&c, NULL, NULL), 5);
	config_free(&c);

	/* The default starttls warns too, naming the file only. */
	EXPECT_OK("", &c);
	memset(&w, 0, sizeof(w));
	ASSERT_INT_EQ(config_warnings(&c, warned_cb, &w), 1);
	TEST_CHECK(strncmp(w.msg[0], "t.conf: starttls allow (the default): ",
	    38) == 0);
	config_free(&c);

	/* never-block of a /0: nothing of that family is ever blocked. */
	EXPECT_OK("mode monitor\nstarttls deny\nnever-block 198.51.100.0/28 "
	    "::/0\n", &c);
	memset(&w, 0, sizeof(w));
	ASSERT_INT_EQ(config_warnings(&c, warned_cb, &w), 1);
	ASSERT_STR_EQ(w.msg[0], "t.conf:3: never-block ::/0 covers every IPv6 "
	    "address: none of them is ever blocked");
	config_free(&c);

	/* A safe configuration: no warning. */
	EXPECT_OK("relay-networks 192.0.2.0/24 10.0.0.0/8 2001:db8::/32\n"
	    "starttls strip\n", &c);
	ASSERT_INT_EQ(config_warnings(&c, warned_cb, NULL), 0);
	config_free(&c);
}

/* on-block / on-unblock: an absolute program and its arguments;
 * hook-timeout 1s to 1h. */
static void
test_hooks(void)
{
	struct config c;
	const char *a;

	EXPECT_OK("on-block /usr/bin/logger -t relayguard\n"
	    "on-unblock /bin/true\nhook-timeout 2s\n", &c);
	ASSERT_INT_EQ(c.on_block.argc, 3);
	a = c.on_block.buf;
	ASSERT_STR_EQ(a, "/usr/bin/logger");
	a += strlen(a) + 1;
	ASSERT_STR_EQ(a, "-t");
	a += strlen(a) + 1;
	ASSERT_STR_EQ(a, "relayguard");
	ASSERT_INT_EQ(c.on_unblock.argc, 1);
	ASSERT_INT_EQ(c.hook_timeout, 2 * RG_USEC_PER_SEC);
	config_free(&c);
	EXPECT_OK("mode monitor\n", &c);
	ASSERT_INT_EQ(c.on_block.argc, 0);
	ASSERT_INT_EQ(c.hook_timeout, 5 * RG_USEC_PER_SEC);
	config_free(&c);
	EXPECT_ERR("on-block logger -t x\n", "t.conf:1: the program must "
	    "be an absolute path (it runs without a shell) 'logger'");
	EXPECT_ERR("hook-timeout 0\n", "t.conf:1: hook-timeout must be "
	    "1s to 1h '0'");
	EXPECT_ERR("hook-timeout 2h\n", "t.conf:1: hook-timeout must be "
	    "1s to 1h '2h'");
	EXPECT_ERR("on-block /a 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
	    "t.conf:1: too many arguments (at most 15) '16'");
}

/* The DNSBL keys: values, what goes together, the errors. */
static void
test_dnsbl(void)
{
	struct config c;
	char text[CONFIG_PATH_MAX + 64], want[512];
	size_t n;
	const char *full = "dnsbl-zone /var/lib/rbldns/relayguard/zone\n"
	    "dnsbl-format rbldnsd\n"
	    "dnsbl-ttl 5m\n"
	    "dnsbl-ns ns1.example.test NS2.Example.Test.\n"
	    "dnsbl-contact hostmaster@example.test\n";

	config_defaults(&c);
	ASSERT_STR_EQ(c.dnsbl_zone, "");
	ASSERT_INT_EQ(c.dnsbl_ttl, 60 * RG_USEC_PER_SEC);
	ASSERT_INT_EQ(c.dnsbl_format, CONFIG_DNSBL_RBLDNSD);
	EXPECT_OK(full, &c);
	ASSERT_STR_EQ(c.dnsbl_zone, "/var/lib/rbldns/relayguard/zone");
	ASSERT_INT_EQ(c.dnsbl_ttl, 300 * RG_USEC_PER_SEC);
	ASSERT_INT_EQ(c.dnsbl_nns, 2);
	ASSERT_STR_EQ(c.dnsbl_ns[0], "ns1.example.test");
	ASSERT_STR_EQ(c.dnsbl_ns[1], "NS2.Example.Test");
	ASSERT_STR_EQ(c.dnsbl_contact, "hostmaster.example.test");
	config_free(&c);
	EXPECT_OK("dnsbl-zone /z\ndnsbl-ns a.test\n"
	    "dnsbl-contact dns-admin.a.test.\n", &c);
	ASSERT_STR_EQ(c.dnsbl_contact, "dns-admin.a.test");
	config_free(&c);
	round_trip(full);
	EXPECT_OK(full, &c);
	{
		char buf[8192];

		config_format(&c, buf, sizeof(buf));
		TEST_CHECK(strstr(buf, "dnsbl-zone /var/lib/rbldns/relayguard/"
		    "zone\ndnsbl-format rbldnsd\ndnsbl-ttl 5m\ndnsbl-ns "
		    "ns1.example.test NS2.Example.Test\ndnsbl-contact "
		    "hostmaster.example.test\n") != NULL);
	}
	config_free(&c);

	/* What goes together. */
	EXPECT_ERR("dnsbl-zone /z\ndnsbl-contact h@a.test\n",
	    "t.conf:1: dnsbl-zone needs dnsbl-ns (the zone's name servers, "
	    "for its $NS and $SOA lines) '/z'");
	EXPECT_ERR("dnsbl-ns a.test\ndnsbl-zone /z\n",
	    "t.conf:2: dnsbl-zone needs dnsbl-contact (the mailbox of the "
	    "zone's $SOA line) '/z'");
	EXPECT_ERR("# x\ndnsbl-ttl 1m\n",
	    "t.conf:2: dnsbl-ttl without dnsbl-zone 'dnsbl-ttl'");
	EXPECT_ERR("dnsbl-ns a.test\n",
	    "t.conf:1: dnsbl-ns without dnsbl-zone 'dnsbl-ns'");

	/* Bad values. */
	EXPECT_ERR("dnsbl-zone zone\n", "t.conf:1: path must be absolute "
	    "'zone'");
	EXPECT_ERR("dnsbl-zone /var/lib/rbldns/\n", "t.conf:1: dnsbl-zone "
	    "names files, not a directory (the daemon adds .ip4set and "
	    ".ip6trie) '/var/lib/rbldns/'");
	EXPECT_ERR("dnsbl-format bind\n",
	    "t.conf:1: invalid dnsbl-format (rbldnsd) 'bind'");
	EXPECT_ERR("dnsbl-ttl 0\n",
	    "t.conf:1: invalid dnsbl-ttl (1s-1d, whole seconds) '0'");
	EXPECT_ERR("dnsbl-ttl 2d\n",
	    "t.conf:1: invalid dnsbl-ttl (1s-1d, whole seconds) '2d'");
	EXPECT_ERR("dnsbl-ns a.test -b.test\n",
	    "t.conf:1: invalid host name '-b.test'");
	EXPECT_ERR("dnsbl-ns a..test\n", "t.conf:1: invalid host name "
	    "'a..test'");
	EXPECT_ERR("dnsbl-ns a-b..\n", "t.conf:1: invalid host name "
	    "'a-b..'");
	EXPECT_ERR("dnsbl-ns .\n", "t.conf:1: invalid host name '.'");
	EXPECT_ERR("dnsbl-ns a_b.test\n", "t.conf:1: invalid host name "
	    "'a_b.test'");
	EXPECT_ERR("dnsbl-ns a1 a2 a3 a4 a5 a6 a7 a8 a9\n",
	    "t.conf:1: too many dnsbl-ns names (at most 8) 'a9'");
	EXPECT_ERR("dnsbl-contact first.last@a.test\n",
	    "t.conf:1: invalid dnsbl-contact (a local part without dots or "
	    "'@') 'first.last@a.test'");
	EXPECT_ERR("dnsbl-contact hostmaster\n",
	    "t.conf:1: invalid dnsbl-contact (a mailbox, "
	    "hostmaster@example.test) 'hostmaster'");
	EXPECT_ERR("dnsbl-contact h@\n", "t.conf:1: invalid dnsbl-contact "
	    "(a mailbox, hostmaster@example.test) 'h@'");
	/* A 64-byte label is too long; 63 fits. */
	n = (size_t)snprintf(text, sizeof(text), "dnsbl-zone /z\n"
	    "dnsbl-contact h@a.test\ndnsbl-ns ");
	memset(text + n, 'x', 63);
	memcpy(text + n + 63, ".test\n", 7);
	EXPECT_OK(text, &c);
	config_free(&c);
	memset(text + n, 'x', 64);
	memcpy(text + n + 64, ".test\n", 7);
	snprintf(want, sizeof(want), "t.conf:3: invalid host name '%.64s'",
	    text + n);
	want[strlen(want) - 1] = '\0';
	strcat(want, "...'");
	EXPECT_ERR(text, want);
	/* The path leaves room for the daemon's suffixes. */
	n = (size_t)snprintf(text, sizeof(text), "dnsbl-zone /");
	memset(text + n, 'z', CONFIG_PATH_MAX - CONFIG_DNSBL_SUFFIX_MAX - 1);
	text[n + CONFIG_PATH_MAX - CONFIG_DNSBL_SUFFIX_MAX - 1] = '\0';
	snprintf(want, sizeof(want), "t.conf:1: path too long (at most %d "
	    "bytes) '/%.63s...'", CONFIG_PATH_MAX - CONFIG_DNSBL_SUFFIX_MAX - 1,
	    text + n);
	EXPECT_ERR(text, want);
}

/* capture: interfaces, its companions, and queue excluded by line. */
static void
test_capture(void)
{
	struct config c;
	char buf[8192];
	const char *full = "capture mirror0 eth1\n"
	    "capture-workers 2\n"
	    "capture-block no\n"
	    "capture-reset yes\n"
	    "capture-buffer 64M\n"
	    "capture-immediate yes\n";

	config_defaults(&c);
	ASSERT_INT_EQ(c.ncapture, 0);
	ASSERT_INT_EQ(c.capture_workers, 1);
	TEST_CHECK(c.capture_block);
	TEST_CHECK(!c.capture_reset);
	TEST_CHECK(!c.capture_immediate);
	EXPECT_OK(full, &c);
	ASSERT_INT_EQ(c.ncapture, 2);
	ASSERT_STR_EQ(c.capture[0], "mirror0");
	ASSERT_STR_EQ(c.capture[1], "eth1");
	ASSERT_INT_EQ(c.capture_workers, 2);
	TEST_CHECK(!c.capture_block);
	TEST_CHECK(c.capture_reset);
	ASSERT_INT_EQ(c.capture_buffer, 64ULL << 20);
	TEST_CHECK(c.capture_immediate);
	config_format(&c, buf, sizeof(buf));
	TEST_CHECK(strstr(buf, "capture mirror0 eth1\ncapture-workers 2\n"
	    "capture-block no\ncapture-reset yes\ncapture-immediate yes\n"
	    "capture-buffer 64M\n") !=
	    NULL);
	TEST_CHECK(strstr(buf, "\nqueue ") == NULL);
	config_free(&c);
	round_trip(full);

	EXPECT_ERR("queue 0\n# x\ncapture eth1\n", "t.conf:3: queue and "
	    "capture exclude each other (capture is the passive mode, queue "
	    "the inline one) 'capture'");
	EXPECT_ERR("capture eth1\nqueue 1-2\n", "t.conf:2: queue and "
	    "capture exclude each other (capture is the passive mode, queue "
	    "the inline one) 'queue'");
	EXPECT_ERR("capture-reset yes\n",
	    "t.conf:1: capture-reset without capture 'capture-reset'");
	EXPECT_ERR("capture eth1 eth1\n",
	    "t.conf:1: duplicate interface 'eth1'");
	EXPECT_ERR("capture a/b\n", "t.conf:1: invalid interface name (no "
	    "'/', ':' or control bytes) 'a/b'");
	EXPECT_ERR("capture abcdefghijklmnop\n", "t.conf:1: invalid "
	    "interface name (1-15 bytes) 'abcdefghijklmnop'");
	EXPECT_ERR("capture eth1\ncapture-workers 0\n",
	    "t.conf:2: invalid capture-workers (1-64) '0'");
	EXPECT_ERR("capture eth1\ncapture-block maybe\n",
	    "t.conf:2: invalid value (yes or no) 'maybe'");
	EXPECT_ERR("capture eth1\ncapture-buffer 512K\n",
	    "t.conf:2: invalid capture-buffer (1M-1G) '512K'");
}

int
main(void)
{
	TEST_RUN(test_defaults);
	TEST_RUN(test_empty_and_comments);
	TEST_RUN(test_every_key);
	TEST_RUN(test_bounds);
	TEST_RUN(test_bad_values);
	TEST_RUN(test_too_many_ports);
	TEST_RUN(test_paths);
	TEST_RUN(test_given_twice);
	TEST_RUN(test_crlf);
	TEST_RUN(test_durations);
	TEST_RUN(test_sizes);
	TEST_RUN(test_duration_str);
	TEST_RUN(test_block_for_max);
	TEST_RUN(test_offence_memory);
	TEST_RUN(test_long_lines);
	TEST_RUN(test_nul);
	TEST_RUN(test_err_buffer);
	TEST_RUN(test_printable);
	TEST_RUN(test_format);
	TEST_RUN(test_never_block_scope);
	TEST_RUN(test_conffile);
	TEST_RUN(test_servers);
	TEST_RUN(test_list_files);
	TEST_RUN(test_safe_defaults);
	TEST_RUN(test_hooks);
	TEST_RUN(test_dnsbl);
	TEST_RUN(test_capture);
	return TEST_END("config");
}
