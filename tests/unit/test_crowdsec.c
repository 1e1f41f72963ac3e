/*
 * test_crowdsec.c — daemon/crowdsec_parse.c: Go durations (units h m s ms
 * us µs ns, fractions, signs, overflow), their printing, and the decision
 * stream (null lists, negative durations, scopes exactly Ip/Range, bad
 * entries skipped and counted, bad replies refused), and the scan that
 * refuses an amplifying reply before jansson builds a tree of it (peak
 * bytes of jansson's allocations measured through json_set_alloc_funcs).
 */
#include "test.h"

#include "../../daemon/crowdsec_parse.c"

static int64_t
dur(const char *s)
{
	int64_t ms = -999999;

	if (!crowdsec_duration(s, strlen(s), &ms))
		return -999999;
	return ms;
}

static void
test_duration(void)
{
	char buf[64];

	ASSERT_INT_EQ(dur("4h"), 4 * 3600 * 1000);
	ASSERT_INT_EQ(dur("3h59m59.26954063s"), (3 * 3600 + 59 * 60 + 59) *
	    1000LL + 269);
	ASSERT_INT_EQ(dur("59m59.16s"), (59 * 60 + 59) * 1000LL + 160);
	ASSERT_INT_EQ(dur("-37.417113ms"), -37);
	ASSERT_INT_EQ(dur("-1h"), -3600000);
	ASSERT_INT_EQ(dur("1500us"), 1);
	ASSERT_INT_EQ(dur("2500\xc2\xb5s"), 2);
	ASSERT_INT_EQ(dur("999999ns"), 0);
	ASSERT_INT_EQ(dur("1.5h"), 5400000);
	ASSERT_INT_EQ(dur("0"), 0);
	ASSERT_INT_EQ(dur("3600s"), 3600000);
	ASSERT_INT_EQ(dur("1d"), -999999);
	ASSERT_INT_EQ(dur(""), -999999);
	ASSERT_INT_EQ(dur("h"), -999999);
	ASSERT_INT_EQ(dur("5"), -999999);
	ASSERT_INT_EQ(dur("."), -999999);
	ASSERT_INT_EQ(dur("1h 2m"), -999999);
	ASSERT_INT_EQ(dur("9999999999999999999h"), -999999);
	ASSERT_INT_EQ(dur("2562048h"), -999999);	/* past Go's range */
	crowdsec_go_duration(14398, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "3h59m58s");
	crowdsec_go_duration(90, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "1m30s");
	crowdsec_go_duration(7, buf, sizeof(buf));
	ASSERT_STR_EQ(buf, "7s");
}

static bool
parse(const char *s, struct crowdsec_stream *st, char *err, size_t len)
{
	memset(st, 0, sizeof(*st));
	return crowdsec_parse_stream(s, strlen(s), st, err, len);
}

static void
test_stream(void)
{
	struct crowdsec_stream st;
	char err[256];

	TEST_CHECK(parse("{\"deleted\":null,\"new\":null}", &st, err,
	    sizeof(err)));
	ASSERT_INT_EQ(st.nadd, 0);
	ASSERT_INT_EQ(st.ndel, 0);
	crowdsec_stream_free(&st);

	TEST_CHECK(parse("{\"deleted\":[{\"duration\":\"-37.4ms\",\"id\":1,"
	    "\"origin\":\"cscli\",\"scope\":\"Ip\",\"type\":\"ban\","
	    "\"value\":\"203.0.113.20\"}],\"new\":[{\"duration\":"
	    "\"3h59m59.2s\",\"origin\":\"relayguard\",\"scope\":\"Range\","
	    "\"type\":\"ban\",\"value\":\"198.51.100.0/28\"},{\"duration\":"
	    "\"1h\",\"origin\":\"x\",\"scope\":\"ip\",\"type\":\"captcha\","
	    "\"value\":\"203.0.113.9\"},{\"duration\":5},\"junk\",{\"duration\":"
	    "\"1h\",\"origin\":\"x\",\"scope\":\"Ip\",\"type\":\"ban\","
	    "\"value\":\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "\"}]}", &st, err, sizeof(err)));
	ASSERT_INT_EQ(st.ndel, 1);
	ASSERT_INT_EQ(st.del[0].ms, -37);
	ASSERT_INT_EQ(st.del[0].scope, CROWDSEC_SCOPE_IP);
	ASSERT_STR_EQ(st.del[0].origin, "cscli");
	ASSERT_INT_EQ(st.nadd, 2);
	ASSERT_INT_EQ(st.add[0].scope, CROWDSEC_SCOPE_RANGE);
	ASSERT_STR_EQ(st.add[0].value, "198.51.100.0/28");
	TEST_CHECK(st.add[0].ban);
	ASSERT_INT_EQ(st.add[1].scope, CROWDSEC_SCOPE_OTHER);	/* "ip" */
	TEST_CHECK(!st.add[1].ban);
	ASSERT_INT_EQ(st.skipped, 3);
	crowdsec_stream_free(&st);

	TEST_CHECK(!parse("[]", &st, err, sizeof(err)));
	TEST_CHECK(!parse("{\"new\":{}}", &st, err, sizeof(err)));
	TEST_CHECK(strstr(err, "\"new\"") != NULL);
	TEST_CHECK(!parse("{\"new\":[],\"new\":[]}", &st, err, sizeof(err)));
	TEST_CHECK(!parse("{\"new\":[", &st, err, sizeof(err)));
	TEST_CHECK(parse("{}", &st, err, sizeof(err)));
	crowdsec_stream_free(&st);
}

/* jansson's allocations, counted; past the ceiling they fail, so that a
 * parser without its scan fails this test instead of the machine. */
#define JA_CEILING	(768UL << 20)
static size_t ja_live, ja_peak;

static void *
ja_malloc(size_t n)
{
	size_t *p;

	if (ja_live + n > JA_CEILING || (p = malloc(n + 16)) == NULL)
		return NULL;
	*p = n;
	ja_live += n;
	if (ja_live > ja_peak)
		ja_peak = ja_live;
	return (char *)p + 16;
}

static void
ja_free(void *q)
{
	size_t *p;

	if (q == NULL)
		return;
	p = (size_t *)(void *)((char *)q - 16);
	ja_live -= *p;
	free(p);
}

/* prefix, then rep repeated until the whole is about size bytes (the last
 * repetition's trailing comma dropped), then suffix. */
static char *
shape(const char *prefix, const char *rep, const char *suffix, size_t size,
    size_t *len)
{
	size_t pl = strlen(prefix), rl = strlen(rep), sl = strlen(suffix);
	size_t n = (size - pl - sl) / rl, i;
	char *b = malloc(pl + n * rl + sl + 1), *p = b;

	TEST_CHECK(b != NULL && n > 0);
	memcpy(p, prefix, pl);
	p += pl;
	for (i = 0; i < n; i++, p += rl)
		memcpy(p, rep, rl);
	if (p[-1] == ',')
		p--;
	memcpy(p, suffix, sl);
	p += sl;
	*p = '\0';
	*len = (size_t)(p - b);
	return b;
}

static bool
refused(size_t size, const char *prefix, const char *rep,
    const char *suffix, const char *why)
{
	struct crowdsec_stream st;
	char err[256];
	size_t len;
	char *b = shape(prefix, rep, suffix, size, &len);
	bool ok;

	memset(&st, 0, sizeof(st));
	ja_peak = 0;
	ok = crowdsec_parse_stream(b, len, &st, err, sizeof(err));
	free(b);
	crowdsec_stream_free(&st);
	if (ok || strstr(err, why) == NULL || ja_peak > (1UL << 20)) {
		printf("  %s...: %s, \"%s\", jansson peak %zu bytes\n",
		    prefix, ok ? "accepted" : "refused", ok ? "" : err,
		    ja_peak);
		return false;
	}
	return true;
}

#define M4	(4UL << 20)

/* Shapes that cost jansson 20-80 times their size (the two measured at
 * 32 MiB, the rest at 4 MiB), refused before
 * jansson sees them; a legitimate 100,000-decision reply (bench/crowdsec)
 * parses within the body cap and a bounded tree. */
static void
test_amplification(void)
{
	struct crowdsec_stream st;
	char err[256], *b;
	const char *c;
	size_t len;
	const char *dec = "{\"duration\":\"3h59m59.26954063s\",\"id\":100000,"
	    "\"origin\":\"lists\",\"scenario\":\"crowdsecurity/ssh-bf\","
	    "\"scope\":\"Ip\",\"type\":\"ban\",\"value\":\"192.0.2.1\"},";

	json_set_alloc_funcs(ja_malloc, ja_free);
	/* The two shapes measured at 32 MiB; the others at 4 MiB. */
	TEST_CHECK(refused(32UL << 20, "{\"x\":[", "{},", "]}", "decisions"));
	TEST_CHECK(refused(32UL << 20, "[", "0,", "]", "keys and values"));
	TEST_CHECK(refused(M4, "{\"new\":[", "{},", "]}", "decisions"));
	TEST_CHECK(refused(M4, "{\"new\":[", "0,", "]}", "decisions"));
	TEST_CHECK(refused(M4, "{\"new\":[[", "0,", "]]}", "a decision with"));
	TEST_CHECK(refused(M4, "{\"new\":[{\"a\":[", "0,", "]}]}",
	    "a decision with"));
	TEST_CHECK(refused(M4, "{", "\"k\":0,", "}", "keys and values"));
	TEST_CHECK(refused(M4, "", "[", "", "nested deeper"));
	TEST_CHECK(refused(M4, "", "0 ", "", "more than one"));
	/* Brackets, quotes and commas inside strings are not counted. */
	c = "{\"new\":[{\"s\":\"[[[[{\\\"\\\\\",\"t\":1}]}";
	TEST_CHECK(crowdsec_scan(c, strlen(c), 1, err, sizeof(err)));
	c = "{\"new\":[{},{}]}";
	TEST_CHECK(!crowdsec_scan(c, strlen(c), 1, err, sizeof(err)));

	/* 100,000 decisions: accepted, under the body cap. */
	b = shape("{\"deleted\":null,\"new\":[", dec, "]}",
	    100000 * strlen(dec) + 40, &len);
	memset(&st, 0, sizeof(st));
	ja_peak = 0;
	TEST_CHECK(crowdsec_parse_stream(b, len, &st, err, sizeof(err)));
	ASSERT_INT_EQ(st.nadd, 100000);
	TEST_CHECK(len < CROWDSEC_BODY_MAX);
	TEST_CHECK(strlen(dec) * CROWDSEC_MAX_DECISIONS < CROWDSEC_BODY_MAX);
	printf("  100,000 decisions: %zu bytes, jansson peak %zu bytes\n",
	    len, ja_peak);
	crowdsec_stream_free(&st);
	free(b);

	/* The most the scan lets through, scaled to 10,000 decisions:
	 * entries of CROWDSEC_ENTRY_ITEMS small values cost jansson about
	 * what real decisions do. */
	b = shape("{\"new\":[", "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
	    "0,0,0,0,0,0,0,0,0],", "]}", 10000 * 66 + 20, &len);
	ja_peak = 0;
	TEST_CHECK(crowdsec_scan(b, len, 10000, err, sizeof(err)));
	json_decref(json_loadb(b, len, 0, NULL));
	printf("  10,000 entries of %d numbers: jansson peak %zu bytes\n",
	    CROWDSEC_ENTRY_ITEMS, ja_peak);
	TEST_CHECK(ja_peak < 10000 * 2048);
	free(b);
	json_set_alloc_funcs(malloc, free);
}

int
main(void)
{
	TEST_RUN(test_duration);
	TEST_RUN(test_stream);
	TEST_RUN(test_amplification);
	return TEST_END("crowdsec");
}
