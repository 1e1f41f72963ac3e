/*
 * test_crowdsec.c — daemon/crowdsec_parse.c: Go durations (units h m s ms
 * us µs ns, fractions, signs, overflow), their printing, and the decision
 * stream (null lists, negative durations, scopes exactly Ip/Range, bad
 * entries skipped and counted, bad replies refused).
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

int
main(void)
{
	TEST_RUN(test_duration);
	TEST_RUN(test_stream);
	return TEST_END("crowdsec");
}
