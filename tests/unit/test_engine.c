/*
 * test_engine.c — the whole pipeline through engine_packet(): verdicts,
 * resets and blocks inline, events in replay, and the differential check
 * that one dialogue gives the same events whole, one byte per segment and
 * with its segments reordered.
 */
#include <stdlib.h>

#include <jansson.h>

#include "engine.h"
#include "smtp.h"
#include "test.h"

#define CLIENT_PORT 40000
#define ISN_C 1000u
#define ISN_S 5000u

struct lab {
	bool real_csum;			/* compute checksums, verify them */
	uint16_t urg;			/* urgent pointer for the next packet */
	uint32_t if_client, if_server;	/* indev of each side's packets */
	struct config conf;
	struct engine *e;
	rg_time_t now;
	uint32_t cseq, sseq;		/* next seq of client / server */
	uint8_t src[4], dst[4];
	uint16_t cport;
};

static const uint8_t addr_attacker[4] = { 203, 0, 113, 10 };
static const uint8_t addr_trusted[4] = { 192, 0, 2, 10 };
static const uint8_t addr_server[4] = { 198, 51, 100, 25 };

/* A raw IPv4/TCP packet (checksums are not checked by the pipeline). */
static size_t
mkpkt(uint8_t *b, const uint8_t *src, const uint8_t *dst, uint16_t sp,
    uint16_t dp, uint32_t seq, uint32_t ack, uint8_t flags, const char *pl,
    size_t n)
{
	size_t len = 20 + 20 + n;

	memset(b, 0, 40);
	b[0] = 0x45;
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	b[8] = 64;
	b[9] = 6;
	memcpy(b + 12, src, 4);
	memcpy(b + 16, dst, 4);
	b[20] = (uint8_t)(sp >> 8); b[21] = (uint8_t)sp;
	b[22] = (uint8_t)(dp >> 8); b[23] = (uint8_t)dp;
	b[24] = (uint8_t)(seq >> 24); b[25] = (uint8_t)(seq >> 16);
	b[26] = (uint8_t)(seq >> 8); b[27] = (uint8_t)seq;
	b[28] = (uint8_t)(ack >> 24); b[29] = (uint8_t)(ack >> 16);
	b[30] = (uint8_t)(ack >> 8); b[31] = (uint8_t)ack;
	b[32] = 0x50;
	b[33] = flags;
	b[34] = 0xff; b[35] = 0xff;
	if (n > 0)
		memcpy(b + 40, pl, n);
	return len;
}

static void
fix_checksums(uint8_t *b, size_t len)
{
	struct decode_packet p;
	uint32_t sum = 0;
	int i;

	b[10] = b[11] = 0;
	for (i = 0; i < 20; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	b[10] = (uint8_t)(~sum >> 8);
	b[11] = (uint8_t)~sum;
	if (decode_packet(DECODE_LINK_RAW, b, len, len, &p) == DECODE_OK)
		decode_tcp_checksum_fix(b, len, &p);
}

static enum engine_verdict
lab_send(struct lab *l, int from_client, uint32_t seq, uint8_t flags,
    const char *pl, size_t n, struct engine_result *res)
{
	uint8_t b[2048];
	size_t len;

	if (from_client)
		len = mkpkt(b, l->src, l->dst, l->cport, 25, seq, l->sseq,
		    flags, pl, n);
	else
		len = mkpkt(b, l->dst, l->src, 25, l->cport, seq, l->cseq,
		    flags, pl, n);
	l->now += 1000;
	if (l->urg != 0) {
		b[38] = (uint8_t)(l->urg >> 8);
		b[39] = (uint8_t)l->urg;
		l->urg = 0;
	}
	if (l->real_csum)
		fix_checksums(b, len);
	return engine_packet(l->e, DECODE_LINK_RAW, l->now, b, len, len,
	    l->real_csum ? 0 : ENGINE_F_CSUM_UNVERIFIABLE,
	    from_client ? l->if_client : l->if_server, res);
}

/* Send the next in-order bytes of one side as one segment. */
static enum engine_verdict
lab_say(struct lab *l, int from_client, const char *text,
    struct engine_result *res)
{
	size_t n = strlen(text);
	enum engine_verdict v;

	if (from_client) {
		v = lab_send(l, 1, l->cseq, 0x18, text, n, res);
		l->cseq += (uint32_t)n;
	} else {
		v = lab_send(l, 0, l->sseq, 0x18, text, n, res);
		l->sseq += (uint32_t)n;
	}
	return v;
}

static void
lab_init(struct lab *l, bool inline_mode, enum config_mode mode,
    const uint8_t *client)
{
	const char *why = NULL;
	struct cidr c;

	memset(l, 0, sizeof(*l));
	config_defaults(&l->conf);
	l->conf.mode = mode;
	TEST_CHECK(addr_domains_add(&l->conf.local_domains, "example.test",
	    12, &why));
	TEST_CHECK(cidr_parse("192.0.2.0/24", 12, &c, &why));
	TEST_CHECK(cidr_set_add(&l->conf.relay_networks, &c));
	l->e = engine_new(&l->conf, inline_mode);
	TEST_CHECK(l->e != NULL);
	l->now = 1767225600ULL * RG_USEC_PER_SEC;	/* 2026-01-01 */
	memcpy(l->src, client, 4);
	memcpy(l->dst, addr_server, 4);
	l->if_client = inline_mode ? 2 : ENGINE_INDEV_UNKNOWN;
	l->if_server = inline_mode ? 3 : ENGINE_INDEV_UNKNOWN;
	l->cport = CLIENT_PORT;
}

static void
lab_free(struct lab *l)
{
	engine_free(l->e);
	config_free(&l->conf);
}

/* Handshake from these ISNs and the banner. */
static void
lab_connect(struct lab *l, uint32_t cisn, uint32_t sisn)
{
	l->cseq = cisn;
	l->sseq = sisn;
	lab_send(l, 1, l->cseq, 0x02, NULL, 0, NULL);
	l->cseq++;
	lab_send(l, 0, l->sseq, 0x12, NULL, 0, NULL);
	l->sseq++;
	lab_send(l, 1, l->cseq, 0x10, NULL, 0, NULL);
	lab_say(l, 0, "220 mx.example.test ESMTP\r\n", NULL);
}

/* Handshake from these ISNs, banner, EHLO and MAIL. */
static void
lab_open(struct lab *l, uint32_t cisn, uint32_t sisn)
{
	lab_connect(l, cisn, sisn);
	lab_say(l, 1, "EHLO attacker.test\r\n", NULL);
	lab_say(l, 0, "250-mx.example.test\r\n250 PIPELINING\r\n", NULL);
	lab_say(l, 1, "MAIL FROM:<spam@attacker.test>\r\n", NULL);
	lab_say(l, 0, "250 2.1.0 Ok\r\n", NULL);
}

static void
lab_handshake(struct lab *l)
{
	lab_open(l, ISN_C, ISN_S);
}

/* All queued events as compact JSON lines without "time". */
static void
lab_events(struct lab *l, char *out, size_t len)
{
	static char buf[EVENT_JSON_MAX];
	struct event ev;
	size_t n, used = 0;

	out[0] = '\0';
	while (engine_next_event(l->e, &ev)) {
		ev.time = 0;
		n = event_json(&ev, buf, sizeof(buf));
		if (n > 0 && used + n < len) {
			memcpy(out + used, buf, n);
			used += n;
			out[used] = '\0';
		}
	}
}

static void
test_replay_relay_event(void)
{
	struct lab l;
	char ev[8192];

	lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	lab_say(&l, 1, "RCPT TO:<user@example.test>\r\n", NULL);
	lab_say(&l, 0, "250 2.1.5 Ok\r\n", NULL);
	lab_events(&l, ev, sizeof(ev));
	ASSERT_STR_EQ(ev, "");
	lab_say(&l, 1, "RCPT TO:<victim@Elsewhere.TEST.> NOTIFY=NEVER\r\n", NULL);
	lab_events(&l, ev, sizeof(ev));
	ASSERT_STR_EQ(ev, "{\"event\":\"relay-attempt\",\"time\":"
	    "\"1970-01-01T00:00:00.000000Z\",\"client\":\"203.0.113.10\","
	    "\"client_port\":40000,\"server\":\"198.51.100.25\","
	    "\"server_port\":25,\"helo\":\"attacker.test\","
	    "\"mail_from\":\"spam@attacker.test\","
	    "\"rcpt\":\"victim@Elsewhere.TEST.\",\"domain\":\"elsewhere.test\","
	    "\"reason\":\"foreign-domain\",\"action\":\"reset\"}\n");
	lab_free(&l);
}

static void
test_inline_drop_and_reset(void)
{
	struct engine_result r;
	struct lab l;
	uint32_t seg;
	char ev[8192];

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@example.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	lab_say(&l, 0, "250 ok\r\n", NULL);
	seg = l.cseq;
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(r.reset);
	ASSERT_INT_EQ(r.seq_to_server, seg);
	ASSERT_INT_EQ(r.seq_to_client, l.sseq);
	ASSERT_INT_EQ(r.client_port, CLIENT_PORT);
	ASSERT_INT_EQ(r.server_port, 25);
	TEST_CHECK(!r.block);
	/* The rest of the session never passes, either way. */
	TEST_CHECK(lab_say(&l, 1, "DATA\r\n", &r) == ENGINE_DROP);
	TEST_CHECK(lab_say(&l, 0, "250 ok\r\n", &r) == ENGINE_DROP);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "\"rcpt\":\"a@evil.test\"") != NULL);
	lab_free(&l);
}

static void
test_inline_monitor_accepts(void)
{
	struct engine_result r;
	struct lab l;
	char ev[8192];

	lab_init(&l, true, CONFIG_MODE_MONITOR, addr_attacker);
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	TEST_CHECK(!r.reset);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "\"action\":\"report\"") != NULL);
	lab_free(&l);
}

static void
test_block_after_three(void)
{
	struct engine_result r;
	struct lab l;
	int i;
	char ev[16384];

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	for (i = 0; i < 3; i++) {
		l.cport = (uint16_t)(CLIENT_PORT + i);
		lab_handshake(&l);
		lab_say(&l, 1, "RCPT TO:<x@evil.test>\r\n", &r);
		TEST_CHECK(r.reset);
		TEST_CHECK(r.block == (i == 2));
	}
	ASSERT_INT_EQ(r.block_for, 3600 * RG_USEC_PER_SEC);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "{\"event\":\"block\",\"time\":"
	    "\"1970-01-01T00:00:00.000000Z\",\"client\":\"203.0.113.10\","
	    "\"attempts\":3,\"offences\":1,\"duration\":3600,"
	    "\"action\":\"block\"}") != NULL);
	lab_free(&l);
}

/* never-block: every attempt reset, the threshold reported with
 * "action":"none" and "exempt":"never-block", never a block verdict; in
 * monitor mode the same event. */
static void
test_never_block_not_blocked(void)
{
	static const enum config_mode modes[] = { CONFIG_MODE_ENFORCE,
	    CONFIG_MODE_MONITOR };
	struct engine_result r;
	struct engine_stats st;
	struct lab l;
	struct cidr c;
	const char *why;
	char ev[16384];
	size_t m;
	int i;

	for (m = 0; m < 2; m++) {
		lab_init(&l, true, modes[m], addr_attacker);
		TEST_CHECK(cidr_parse("203.0.113.0/28", 14, &c, &why));
		TEST_CHECK(cidr_set_add(&l.conf.never_block, &c));
		for (i = 0; i < 6; i++) {
			l.cport = (uint16_t)(CLIENT_PORT + i);
			lab_handshake(&l);
			lab_say(&l, 1, "RCPT TO:<x@evil.test>\r\n", &r);
			TEST_CHECK(r.reset == (modes[m] == CONFIG_MODE_ENFORCE));
			TEST_CHECK(!r.block);
		}
		lab_events(&l, ev, sizeof(ev));
		TEST_CHECK(strstr(ev, "{\"event\":\"block\",\"time\":"
		    "\"1970-01-01T00:00:00.000000Z\",\"client\":"
		    "\"203.0.113.10\",\"attempts\":3,\"offences\":0,"
		    "\"exempt\":\"never-block\",\"action\":\"none\"}") != NULL);
		TEST_CHECK(strstr(ev, "\"duration\"") == NULL);
		engine_get_stats(l.e, &st);
		ASSERT_INT_EQ(st.relay_attempts, 6);
		ASSERT_INT_EQ(st.blocks, 0);
		ASSERT_INT_EQ(st.never_blocked, 2);
		lab_free(&l);
	}
}

static void
test_trusted_client_relays(void)
{
	struct engine_result r;
	struct lab l;
	char ev[8192];

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_trusted);
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	lab_events(&l, ev, sizeof(ev));
	ASSERT_STR_EQ(ev, "");
	lab_free(&l);
}

static void
test_authenticated_relays(void)
{
	struct engine_result r;
	struct lab l;
	char ev[8192];

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	lab_say(&l, 1, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n", NULL);
	lab_say(&l, 0, "235 2.7.0 Authentication successful\r\n", NULL);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	lab_events(&l, ev, sizeof(ev));
	ASSERT_STR_EQ(ev, "");
	lab_free(&l);
}

/*
 * Offload (issue 11): inline, a session that authenticated (235) or went
 * TLS (220 to STARTTLS under starttls allow) is handed to the kernel on
 * the verdict of the reply's packet, and what still reaches the engine of
 * it passes uninspected.  Never before the reply, never in replay, never
 * with offload no, never where both directions come in on one interface
 * (a forged 235 could not be told from the server's there).
 */
static bool
offload_after(bool inline_mode, bool offload, bool one_armed,
    const char *cmd, const char *reply, struct engine_stats *st)
{
	struct engine_result r;
	struct lab l;
	bool before, at;

	lab_init(&l, inline_mode, CONFIG_MODE_ENFORCE, addr_attacker);
	l.conf.offload = offload;
	if (one_armed)
		l.if_server = l.if_client;
	lab_handshake(&l);
	lab_say(&l, 1, cmd, &r);
	before = r.offload;
	lab_say(&l, 0, reply, &r);
	at = r.offload;
	TEST_CHECK(!before);
	engine_get_stats(l.e, st);
	lab_free(&l);
	return at;
}

static void
test_offload(void)
{
	static const char *auth = "AUTH PLAIN AHVzZXIAcGFzcw==\r\n";
	static const char *ok235 = "235 2.7.0 Authentication successful\r\n";
	struct engine_result r;
	struct engine_stats st;
	struct lab l;
	char ev[8192];

	TEST_CHECK(offload_after(true, true, false, auth, ok235, &st));
	TEST_CHECK(st.offloaded == 1);
	TEST_CHECK(offload_after(true, true, false, "STARTTLS\r\n",
	    "220 2.0.0 Ready to start TLS\r\n", &st));
	TEST_CHECK(st.offloaded == 1);
	/* A refused AUTH, replay, offload no, one interface: never. */
	TEST_CHECK(!offload_after(true, true, false, auth,
	    "535 5.7.8 Error: authentication failed\r\n", &st));
	TEST_CHECK(st.offloaded == 0);
	TEST_CHECK(!offload_after(false, true, false, auth, ok235, &st));
	TEST_CHECK(st.offloaded == 0);
	TEST_CHECK(!offload_after(true, false, false, auth, ok235, &st));
	TEST_CHECK(!offload_after(true, true, true, auth, ok235, &st));
	TEST_CHECK(st.offloaded == 0);

	/* After the offload the rest passes uninspected and is counted. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	lab_say(&l, 1, auth, NULL);
	lab_say(&l, 0, ok235, &r);
	TEST_CHECK(r.offload);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	TEST_CHECK(!r.offload && !r.reset);
	engine_get_stats(l.e, &st);
	TEST_CHECK(st.offloaded == 1);
	TEST_CHECK(st.offloaded_packets == 1);
	TEST_CHECK(st.commands == 3);	/* EHLO, MAIL, AUTH: not the RCPT */
	lab_events(&l, ev, sizeof(ev));
	ASSERT_STR_EQ(ev, "");
	lab_free(&l);
}

static void
test_inline_waiting_drops_body(void)
{
	struct engine_result r;
	struct lab l;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	lab_say(&l, 1, "RCPT TO:<a@example.test>\r\n", NULL);
	lab_say(&l, 0, "250 ok\r\n", NULL);
	lab_say(&l, 1, "DATA\r\n", NULL);
	/* Bytes before the 354 cannot be read yet: dropped, not inspected. */
	TEST_CHECK(lab_send(&l, 1, l.cseq, 0x18, "RCPT TO:<b@evil.test>\r\n",
	    23, &r) == ENGINE_DROP);
	TEST_CHECK(!r.reset);
	lab_say(&l, 0, "354 go ahead\r\n", NULL);
	/* Retransmitted after the 354: body, passes. */
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<b@evil.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	TEST_CHECK(lab_say(&l, 1, "\r\n.\r\n", &r) == ENGINE_ACCEPT);
	lab_free(&l);
}

/* One dialogue, its client bytes sent in the given segment sizes and
 * order; returns its events. */
static const char *dialogue_client[] = {
	"EHLO a.test\r\nMAIL FROM:<s@a.test>\r\n",
	"RCPT TO:<u@example.test>\r\nRCPT TO:<u%evil.test@example.test>\r\n"
	"RCPT TO:<@example.test:u@evil2.test>\r\nDATA\r\n",
	"Subject: RCPT TO:<x@evil3.test>\r\n\r\nRCPT TO:<y@evil3.test>\r\n"
	"..RCPT\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<\"z@evil4.test\"@example.test>\r\n"
	"QUIT\r\n",
};
static const char *dialogue_server[] = {
	"250-hi\r\n250 PIPELINING\r\n250 ok\r\n",
	"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n",
	"250 queued\r\n250 ok\r\n250 ok\r\n221 bye\r\n",
};

static void
run_dialogue(int mode, char *out, size_t len)
{
	struct lab l;
	size_t i, n, k, pos;
	uint32_t base;
	const char *s;

	lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
	l.cseq = ISN_C;
	l.sseq = ISN_S;
	lab_send(&l, 1, l.cseq++, 0x02, NULL, 0, NULL);
	lab_send(&l, 0, l.sseq++, 0x12, NULL, 0, NULL);
	lab_say(&l, 0, "220 hi\r\n", NULL);
	for (i = 0; i < 3; i++) {
		s = dialogue_client[i];
		n = strlen(s);
		base = l.cseq;
		if (mode == 0) {
			lab_say(&l, 1, s, NULL);
		} else if (mode == 1) {
			for (k = 0; k < n; k++)
				lab_send(&l, 1, base + (uint32_t)k, 0x18, s + k,
				    1, NULL);
			l.cseq += (uint32_t)n;
		} else {
			/* 7-byte segments, last first, then the rest. */
			for (pos = ((n - 1) / 7) * 7;; pos -= 7) {
				k = n - pos < 7 ? n - pos : 7;
				lab_send(&l, 1, base + (uint32_t)pos, 0x18,
				    s + pos, k, NULL);
				if (pos == 0)
					break;
			}
			l.cseq += (uint32_t)n;
		}
		lab_say(&l, 0, dialogue_server[i], NULL);
	}
	lab_events(&l, out, len);
	lab_free(&l);
}

static void
test_differential(void)
{
	static char whole[16384], bytes[16384], shuffled[16384];

	run_dialogue(0, whole, sizeof(whole));
	run_dialogue(1, bytes, sizeof(bytes));
	run_dialogue(2, shuffled, sizeof(shuffled));
	/* percent hack, source route, quoted route: three attempts; none
	 * from the body. */
	TEST_CHECK(strstr(whole, "evil.test") != NULL);
	TEST_CHECK(strstr(whole, "evil2.test") != NULL);
	TEST_CHECK(strstr(whole, "evil3.test") == NULL);
	TEST_CHECK(strstr(whole, "evil4.test") != NULL);
	ASSERT_STR_EQ(bytes, whole);
	ASSERT_STR_EQ(shuffled, whole);
}


static void
test_bad_checksum_dropped_uninspected(void)
{
	struct engine_result r;
	struct lab l;
	uint8_t b[256];
	size_t len;
	char ev[8192];

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	l.real_csum = true;
	lab_handshake(&l);
	/* A segment the server would discard: same bytes, bad checksum. */
	len = mkpkt(b, l.src, l.dst, l.cport, 25, l.cseq, l.sseq, 0x18,
	    "RCPT TO:<a@evil.test>\r\n", 23);
	fix_checksums(b, len);
	b[36] ^= 0x55;
	TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len, len, 0,
	    l.if_client, &r) == ENGINE_DROP);
	TEST_CHECK(!r.reset);
	lab_events(&l, ev, sizeof(ev));
	ASSERT_STR_EQ(ev, "");
	/* The good copy is inspected and stopped. */
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(r.reset);
	lab_free(&l);
}

static void
test_urgent_syn_window_dropped(void)
{
	struct engine_result r;
	struct lab l;
	char ev[8192];

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	l.urg = 22;
	TEST_CHECK(lab_send(&l, 1, l.cseq, 0x38, "RCPT TO:<a@example.test>"
	    "\r\n", 26, &r) == ENGINE_DROP);
	/* Far beyond the window the server advertised (65535). */
	TEST_CHECK(lab_send(&l, 1, l.cseq + 70000, 0x18, "RCPT TO:<a@x.test>"
	    "\r\n", 20, &r) == ENGINE_DROP);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "\"what\":\"urgent-data\"") != NULL);
	TEST_CHECK(strstr(ev, "\"what\":\"out-of-window\"") != NULL);
	TEST_CHECK(strstr(ev, "relay-attempt") == NULL);
	/* Nothing was consumed: the in-window copy is still judged. */
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@x.test>\r\n", &r) == ENGINE_DROP);
	TEST_CHECK(r.reset);
	lab_free(&l);

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	TEST_CHECK(lab_send(&l, 1, ISN_C, 0x02, "RCPT TO:<a@x.test>\r\n", 20,
	    &r) == ENGINE_DROP);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "\"what\":\"syn-data\"") != NULL);
	lab_free(&l);
}

static void
test_forged_rst_ignored(void)
{
	struct engine_result r;
	struct lab l;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	/* Inside the window but not exact: the server would not close. */
	lab_send(&l, 1, l.cseq + 10, 0x04, NULL, 0, NULL);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(r.reset);
	lab_free(&l);
}

static void
test_spoofed_sessions_never_block(void)
{
	struct engine_result r;
	struct lab l;
	int i;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	for (i = 0; i < 5; i++) {
		/* No handshake, no banner: picked up in the middle. */
		l.cport = (uint16_t)(CLIENT_PORT + i);
		l.cseq = ISN_C;
		l.sseq = ISN_S;
		TEST_CHECK(lab_say(&l, 1, "RCPT TO:<x@evil.test>\r\n", &r) ==
		    ENGINE_DROP);
		TEST_CHECK(r.reset);
		TEST_CHECK(!r.block);
	}
	lab_free(&l);
}

static void
test_starttls_policies(void)
{
	struct engine_result r;
	struct lab l;
	uint8_t b[512];
	const char *reply = "250-mx.example.test\r\n250-STARTTLS\r\n"
	    "250 PIPELINING\r\n";
	size_t len;

	/* strip: the keyword is overwritten in place, checksum fixed. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	l.conf.starttls = CONFIG_STARTTLS_STRIP;
	l.real_csum = true;
	l.cseq = ISN_C;
	l.sseq = ISN_S;
	lab_send(&l, 1, l.cseq++, 0x02, NULL, 0, NULL);
	lab_send(&l, 0, l.sseq++, 0x12, NULL, 0, NULL);
	lab_send(&l, 1, l.cseq, 0x10, NULL, 0, NULL);
	lab_say(&l, 0, "220 hi\r\n", NULL);
	lab_say(&l, 1, "EHLO a.test\r\n", NULL);
	len = mkpkt(b, l.dst, l.src, 25, l.cport, l.sseq, l.cseq, 0x18, reply,
	    strlen(reply));
	fix_checksums(b, len);
	TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len, len, 0,
	    l.if_server, &r) == ENGINE_ACCEPT);
	TEST_CHECK(r.rewritten);
	TEST_CHECK(memcmp(b + 40 + 25, "XXXXXXXX", 8) == 0);
	{
		struct decode_packet p;

		TEST_CHECK(decode_packet(DECODE_LINK_RAW, b, len, len, &p) ==
		    DECODE_OK && decode_tcp_checksum_ok(b, len, &p));
	}
	l.sseq += (uint32_t)strlen(reply);
	/* Sent anyway: reset. */
	TEST_CHECK(lab_say(&l, 1, "STARTTLS\r\n", &r) == ENGINE_DROP);
	TEST_CHECK(r.reset);
	lab_free(&l);

	/* allow: a trusted or untrusted client may start TLS. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "STARTTLS\r\n", &r) == ENGINE_ACCEPT);
	lab_free(&l);

	/* deny, but the client is in relay-networks: allowed. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_trusted);
	l.conf.starttls = CONFIG_STARTTLS_DENY;
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "STARTTLS\r\n", &r) == ENGINE_ACCEPT);
	lab_free(&l);
}

static void
test_overlap_rewritten_to_inspected(void)
{
	struct engine_result r;
	struct lab l;
	uint32_t seq;
	char ev[8192];
	uint8_t b[256];
	size_t len;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	seq = l.cseq;
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@example.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	/* Same range, other bytes: rewritten back to what was inspected. */
	len = mkpkt(b, l.src, l.dst, l.cport, 25, seq, l.sseq, 0x18,
	    "RCPT TO:<a@evilxxx.test>\r\n", 26);
	TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len, len,
	    ENGINE_F_CSUM_UNVERIFIABLE, l.if_client, &r) == ENGINE_ACCEPT);
	TEST_CHECK(r.rewritten);
	ASSERT_MEM_EQ(b + 40, "RCPT TO:<a@example.test>\r\n", 26);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "relay-attempt") == NULL);
	TEST_CHECK(strstr(ev, "overlap-mismatch") != NULL);
	lab_free(&l);
}


static void
test_forged_server_packet_dropped(void)
{
	struct engine_result r;
	struct lab l;
	uint32_t saved;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	lab_say(&l, 1, "DATA\r\n", NULL);
	/* A "354" claiming to be the server, arriving where the client's
	 * packets come in: dropped, never read. */
	saved = l.if_server;
	l.if_server = l.if_client;
	TEST_CHECK(lab_send(&l, 0, l.sseq, 0x18, "354 go\r\n", 8, &r) ==
	    ENGINE_DROP);
	l.if_server = saved;
	/* The real answer still counts: 503, so the next line is a command. */
	lab_say(&l, 0, "503 5.5.1 Error: need RCPT command\r\n", NULL);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<x@evil.test>\r\n", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(r.reset);
	lab_free(&l);
}

static void
test_forged_ack_over_hole_resets(void)
{
	struct engine_result r;
	struct lab l;
	const char *tail = "x@evil.test>\r\n";

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	/* The line's tail first, then an "ACK" from the server side for
	 * bytes that never passed: inline that cannot be genuine. */
	TEST_CHECK(lab_send(&l, 1, l.cseq + 9, 0x18, tail, strlen(tail), &r) ==
	    ENGINE_ACCEPT);
	TEST_CHECK(lab_send(&l, 0, l.sseq, 0x10, NULL, 0, &r) ==
	    ENGINE_ACCEPT);
	l.cseq += 9 + (uint32_t)strlen(tail);
	{
		uint8_t b[128];
		size_t len = mkpkt(b, l.dst, l.src, 25, l.cport, l.sseq, l.cseq,
		    0x10, NULL, 0);

		TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len,
		    len, ENGINE_F_CSUM_UNVERIFIABLE, l.if_server, &r) ==
		    ENGINE_DROP);
		TEST_CHECK(r.reset);
	}
	lab_free(&l);
}

static void
test_pipelined_after_data_resets(void)
{
	struct engine_result r;
	struct lab l;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "DATA\r\nRCPT TO:<x@evil.test>\r\n", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(r.reset);
	lab_free(&l);

	/* Replay only reports: the held bytes are judged on the reply. */
	lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "STARTTLS\r\nRCPT TO:<x@evil.test>\r\n",
	    &r) == ENGINE_ACCEPT);
	lab_free(&l);
}

/*
 * Inline, an unfinished line that may be a RCPT never reaches the server
 * before it is judged: Sendmail runs a last line without its LF when the
 * connection ends (our reset, or the client's FIN).  The packets that
 * carry it are dropped until the line is complete; then the client's
 * retransmissions pass.
 */
static void
test_partial_rcpt_held(void)
{
	struct engine_result r;
	struct lab l;
	uint32_t at;
	char ev[8192];

	/* Completed foreign: the server never had its start. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<x@evil.te", &r) == ENGINE_DROP);
	TEST_CHECK(!r.reset);
	TEST_CHECK(lab_say(&l, 1, "st>\r\n", &r) == ENGINE_DROP);
	TEST_CHECK(r.reset);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "\"rcpt\":\"x@evil.test\"") != NULL);
	lab_free(&l);

	/* Completed local: its end passes, and so does the resent start. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	at = l.cseq;
	TEST_CHECK(lab_say(&l, 1, "NOOP\r\nrc", &r) == ENGINE_DROP);
	TEST_CHECK(lab_say(&l, 1, "pt TO:<u@exam", &r) == ENGINE_DROP);
	TEST_CHECK(lab_say(&l, 1, "ple.test>\r\n", &r) == ENGINE_ACCEPT);
	TEST_CHECK(lab_send(&l, 1, at, 0x18, "NOOP\r\nrcpt TO:<u@exam", 21,
	    &r) == ENGINE_ACCEPT);
	TEST_CHECK(!r.reset);
	/* A line that cannot be RCPT is not held. */
	TEST_CHECK(lab_say(&l, 1, "MAIL FROM:<a@b.te", &r) == ENGINE_ACCEPT);
	TEST_CHECK(lab_say(&l, 1, "st>\r\n", &r) == ENGINE_ACCEPT);
	lab_free(&l);

	/* The client's FIN behind an unfinished RCPT waits too. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<y@evil.test>", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(lab_send(&l, 1, l.cseq, 0x11, NULL, 0, &r) == ENGINE_DROP);
	lab_free(&l);

	/* Trusted clients may relay: nothing is held. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_trusted);
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<z@evil.te", &r) ==
	    ENGINE_ACCEPT);
	lab_free(&l);

	/* Replay only reports. */
	lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<x@evil.te", &r) ==
	    ENGINE_ACCEPT);
	lab_free(&l);
}

static void
test_midstream_mid_line_resets(void)
{
	struct engine_result r;
	struct lab l;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	l.cseq = ISN_C + 100;
	l.sseq = ISN_S + 100;
	/* Picked up after "RCPT TO:<x" went by: the line cannot be read. */
	TEST_CHECK(lab_say(&l, 1, "@evil.test>\r\n", &r) == ENGINE_DROP);
	TEST_CHECK(r.reset);
	ASSERT_INT_EQ(r.seq_to_server, ISN_C + 100);
	ASSERT_INT_EQ(r.seq_to_client, ISN_S + 100);
	lab_free(&l);

	/* Picked up at a line start: read and judged as usual. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	l.cseq = ISN_C + 100;
	l.sseq = ISN_S + 100;
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@example.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	lab_free(&l);
}


static void
test_fragments_dropped_inline(void)
{
	struct engine_result r;
	struct lab l;
	uint8_t b[256];
	size_t len;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	/* A first fragment (MF set) of a segment carrying a relay RCPT: it
	 * cannot be read whole, and the server would reassemble it. */
	len = mkpkt(b, l.src, l.dst, l.cport, 25, l.cseq, l.sseq, 0x18,
	    "RCPT TO:<a@evil.test>\r\n", 23);
	b[6] = 0x20;
	TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len, len,
	    ENGINE_F_CSUM_UNVERIFIABLE, l.if_client, &r) == ENGINE_DROP);
	lab_free(&l);

	/* Replay only counts it. */
	lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
	TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len, len, 0,
	    ENGINE_INDEV_UNKNOWN, &r) == ENGINE_ACCEPT);
	lab_free(&l);
}


static void
test_refused_early_data_dropped(void)
{
	struct engine_result r;
	struct lab l;
	static char big[1400];

	memset(big, 'x', sizeof(big));
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	l.conf.flow_memory = 1024;	/* no room for any early segment */
	engine_reload(l.e, &l.conf);
	lab_handshake(&l);
	/* Beyond a hole, and no room to keep it: it would reach the server
	 * unread, so it is dropped (the client sends it again later). */
	TEST_CHECK(lab_send(&l, 1, l.cseq + 10, 0x18, big, sizeof(big), &r) ==
	    ENGINE_DROP);
	TEST_CHECK(!r.reset);
	/* In order it passes: nothing needs keeping. */
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@example.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	lab_free(&l);
}


static void
test_truncated_packet_dropped_inline(void)
{
	struct engine_result r;
	struct lab l;
	uint8_t b[256];
	size_t len;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	/* NFQUEUE copied only part of it: the tail would pass unread. */
	len = mkpkt(b, l.src, l.dst, l.cport, 25, l.cseq, l.sseq, 0x18,
	    "RCPT TO:<a@example.test>\r\n", 26);
	b[2] = (uint8_t)((len + 100) >> 8);
	b[3] = (uint8_t)(len + 100);
	TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len,
	    len + 100, ENGINE_F_CSUM_UNVERIFIABLE, l.if_client, &r) ==
	    ENGINE_DROP);
	lab_free(&l);
}

/* Both FINs of a session, client first. */
static void
lab_close(struct lab *l)
{
	lab_send(l, 1, l->cseq++, 0x11, NULL, 0, NULL);
	lab_send(l, 0, l->sseq++, 0x11, NULL, 0, NULL);
	lab_send(l, 1, l->cseq, 0x10, NULL, 0, NULL);
}

/*
 * A new connection on a 4-tuple whose session is over (FIN both ways,
 * one FIN, an accepted RST, our reset) is a fresh session whatever its
 * ISN: here the one right next to the old sequence numbers, which once
 * kept the old session (authenticated, inside DATA).
 */
static void
test_reuse_starts_fresh(void)
{
	struct engine_result r;
	struct lab l;
	uint32_t next;
	int how;

	for (how = 0; how < 4; how++) {
		lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
		lab_handshake(&l);
		if (how == 3) {
			/* Reset by us: the new session must not be
			 * dropped as the old one's leftovers either. */
			lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r);
			TEST_CHECK(r.reset);
		} else {
			lab_say(&l, 1, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n",
			    NULL);
			lab_say(&l, 0, "235 2.7.0 Authentication successful"
			    "\r\n", NULL);
			lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r);
			TEST_CHECK(!r.reset);
			lab_say(&l, 0, "250 ok\r\n", NULL);
			lab_say(&l, 1, "DATA\r\n", NULL);
			lab_say(&l, 0, "354 go ahead\r\n", NULL);
		}
		next = l.cseq;		/* the old data ended here */
		if (how == 0)
			lab_close(&l);
		else if (how == 1)
			lab_send(&l, 1, l.cseq++, 0x11, NULL, 0, NULL);
		else if (how == 2)
			lab_send(&l, 1, l.cseq, 0x04, NULL, 0, NULL);
		lab_open(&l, next - 1, l.sseq + 1000);
		TEST_CHECK(lab_say(&l, 1, "RCPT TO:<b@evil.test>\r\n", &r) ==
		    ENGINE_DROP);
		TEST_CHECK(r.reset);
		lab_free(&l);
	}
}

/*
 * A SYN with a new ISN on a live session: the server keeps its session
 * and answers with a challenge ACK (RFC 5961 4.2), so the session goes
 * on as it was; only the server's SYN-ACK for the new ISN (it had lost
 * the old one) starts a fresh session.
 */
static void
test_syn_on_live_session(void)
{
	struct engine_result r;
	struct lab l;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_handshake(&l);
	lab_say(&l, 1, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n", NULL);
	lab_say(&l, 0, "235 2.7.0 Authentication successful\r\n", NULL);
	TEST_CHECK(lab_send(&l, 1, 900000, 0x02, NULL, 0, &r) ==
	    ENGINE_ACCEPT);
	lab_send(&l, 0, l.sseq, 0x10, NULL, 0, NULL);	/* challenge ACK */
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	TEST_CHECK(!r.reset);
	lab_say(&l, 0, "250 ok\r\n", NULL);

	/* Now the server has lost it and accepts the new SYN. */
	lab_send(&l, 1, 900000, 0x02, NULL, 0, NULL);
	l.cseq = 900001;
	l.sseq = 700000;
	lab_send(&l, 0, l.sseq++, 0x12, NULL, 0, NULL);
	lab_send(&l, 1, l.cseq, 0x10, NULL, 0, NULL);
	lab_say(&l, 0, "220 hi\r\n", NULL);
	lab_say(&l, 1, "MAIL FROM:<a@b.test>\r\n", NULL);
	lab_say(&l, 0, "250 ok\r\n", NULL);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<b@evil.test>\r\n", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(r.reset);
	lab_free(&l);
}

/*
 * A client whose source port is 25, talking to a server on port 25: the
 * SYN says who is who.  (Its server's replies were once taken for a
 * second client: never a banner, so no block, and nothing after DATA
 * read.)
 */
static void
test_client_on_port_25(void)
{
	struct engine_result r;
	struct lab l;
	int i;

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	l.cport = 25;
	lab_handshake(&l);
	lab_say(&l, 1, "RCPT TO:<a@example.test>\r\n", NULL);
	lab_say(&l, 0, "250 ok\r\n", NULL);
	lab_say(&l, 1, "DATA\r\n", NULL);
	lab_say(&l, 0, "354 go ahead\r\n", NULL);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<body@evil.test>\r\n.\r\n",
	    &r) == ENGINE_ACCEPT);
	lab_say(&l, 0, "250 queued\r\n", NULL);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<b@evil.test>\r\n", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(r.reset && !r.block);
	/* Twice more on the same 4-tuple: the third attempt blocks. */
	for (i = 0; i < 2; i++) {
		lab_handshake(&l);
		TEST_CHECK(lab_say(&l, 1, "RCPT TO:<c@evil.test>\r\n", &r) ==
		    ENGINE_DROP);
		TEST_CHECK(r.reset);
		TEST_CHECK(r.block == (i == 1));
	}
	lab_free(&l);
}

/*
 * Picked up midstream with port 25 on both ends: nothing tells which end
 * is the server.  Inline the session is reset; replay guesses (the
 * destination is the server) and says so.
 */
static void
test_midstream_ambiguous(void)
{
	struct engine_result r;
	struct lab l;
	char ev[8192];

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	l.cport = 25;
	l.cseq = ISN_C + 100;
	l.sseq = ISN_S + 100;
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@example.test>\r\n", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(r.reset);
	ASSERT_INT_EQ(r.seq_to_server, ISN_C + 100);
	ASSERT_INT_EQ(r.seq_to_client, ISN_S + 100);
	TEST_CHECK(lab_say(&l, 0, "250 ok\r\n", &r) == ENGINE_DROP);
	lab_free(&l);

	lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
	l.cport = 25;
	l.cseq = ISN_C + 100;
	l.sseq = ISN_S + 100;
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@evil.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "\"what\":\"ambiguous-direction\"") != NULL);
	TEST_CHECK(strstr(ev, "\"rcpt\":\"a@evil.test\"") != NULL);
	lab_free(&l);

	/* One end on a protected port only: no doubt, judged as usual. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	l.cseq = ISN_C + 100;
	l.sseq = ISN_S + 100;
	TEST_CHECK(lab_say(&l, 0, "250 ok\r\n", &r) == ENGINE_ACCEPT);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<a@example.test>\r\n", &r) ==
	    ENGINE_ACCEPT);
	lab_free(&l);
}

/*
 * An established session idle for 59 minutes (Sendmail waits an hour for
 * the next command): still the same flow, so its attempts are verified
 * and earn a block.  It once expired after 10 minutes and came back as a
 * pickup that could never be blocked.
 */
static void
test_idle_session_still_tracked(void)
{
	struct engine_result r;
	struct lab l;
	uint32_t cseq = 0, sseq = 0;
	int i;
	char ev[8192];

	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	for (i = 0; i < 3; i++) {
		l.cport = (uint16_t)(CLIENT_PORT + i);
		lab_handshake(&l);
		cseq = l.cseq;
		sseq = l.sseq;
	}
	l.now += 59 * 60 * RG_USEC_PER_SEC;
	engine_tick(l.e, l.now);
	for (i = 0; i < 3; i++) {
		l.cport = (uint16_t)(CLIENT_PORT + i);
		l.cseq = cseq;		/* the same dialogue on each */
		l.sseq = sseq;
		TEST_CHECK(lab_say(&l, 1, "RCPT TO:<x@evil.test>\r\n", &r) ==
		    ENGINE_DROP);
		TEST_CHECK(r.reset);
		TEST_CHECK(r.block == (i == 2));
	}
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "\"helo\":\"attacker.test\"") != NULL);
	TEST_CHECK(strstr(ev, "anomaly") == NULL);
	lab_free(&l);
}

/*
 * A packet that cannot be decoded (here a TCP data offset past the end of
 * the segment) may still be read by the server's stack: inline in enforce
 * mode it is dropped, never passed uninspected; replay names it.
 */
static void
test_malformed_dropped_inline(void)
{
	struct engine_result r;
	struct lab l;
	uint8_t b[256];
	size_t len;
	char ev[8192];
	int mode;

	for (mode = 0; mode < 3; mode++) {
		lab_init(&l, mode != 2, mode == 1 ? CONFIG_MODE_MONITOR :
		    CONFIG_MODE_ENFORCE, addr_attacker);
		lab_handshake(&l);
		len = mkpkt(b, l.src, l.dst, l.cport, 25, l.cseq, l.sseq, 0x18,
		    "RCPT TO:<a@evil.test>\r\n", 23);
		b[32] = 0xf0;
		ASSERT_INT_EQ(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len,
		    len, ENGINE_F_CSUM_UNVERIFIABLE, l.if_client, &r),
		    mode == 0 ? ENGINE_DROP : ENGINE_ACCEPT);
		TEST_CHECK(!r.reset);
		lab_events(&l, ev, sizeof(ev));
		TEST_CHECK(strstr(ev, "\"what\":\"malformed-packet\"") !=
		    NULL);
		lab_free(&l);
	}
}

/* Send text in segments of at most 1,000 bytes (lab_send's buffer). */
static void
lab_say_long(struct lab *l, int from_client, const char *text)
{
	char seg[1001];
	size_t n = strlen(text), off, k;

	for (off = 0; off < n; off += k) {
		k = n - off < 1000 ? n - off : 1000;
		memcpy(seg, text + off, k);
		seg[k] = '\0';
		lab_say(l, from_client, seg, NULL);
	}
}

/* A relay attempt with a 4 KiB HELO and a 4 KiB path comes out whole:
 * every text as sent, valid JSON, no "truncated" (issue 9). */
static void
test_whole_event_4k(void)
{
	static char helo[4100], from[4100], rcpt[4100], cmd[4200];
	static char ev[EVENT_JSON_MAX * 2];
	struct lab l;
	json_error_t jerr;
	json_t *o;

	memset(helo, 'h', 4000);
	memcpy(helo + 3980, ".attacker.test", 15);
	memset(from, 'f', 4000);
	memcpy(from + 3980, "@sender.example", 16);
	memset(rcpt, 'r', 4000);
	memcpy(rcpt + 3980, "@foreign.example", 17);
	lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
	/* Exim reads 4 KiB command lines; the default profile refuses
	 * lines over 2,000 bytes as an ambiguity. */
	l.conf.server_software = SMTP_SOFTWARE_EXIM;
	engine_reload(l.e, &l.conf);
	lab_connect(&l, ISN_C, ISN_S);
	snprintf(cmd, sizeof(cmd), "EHLO %s\r\n", helo);
	lab_say_long(&l, 1, cmd);
	lab_say(&l, 0, "250 mx.example.test\r\n", NULL);
	snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", from);
	lab_say_long(&l, 1, cmd);
	lab_say(&l, 0, "250 2.1.0 Ok\r\n", NULL);
	snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", rcpt);
	lab_say_long(&l, 1, cmd);
	lab_events(&l, ev, sizeof(ev));
	o = json_loads(ev, 0, &jerr);
	TEST_CHECK(o != NULL);
	if (o != NULL) {
		ASSERT_STR_EQ(json_string_value(json_object_get(o, "event")),
		    "relay-attempt");
		ASSERT_STR_EQ(json_string_value(json_object_get(o, "helo")),
		    helo);
		ASSERT_STR_EQ(json_string_value(json_object_get(o,
		    "mail_from")), from);
		ASSERT_STR_EQ(json_string_value(json_object_get(o, "rcpt")),
		    rcpt);
		ASSERT_STR_EQ(json_string_value(json_object_get(o, "action")),
		    "reset");
		TEST_CHECK(json_object_get(o, "truncated") == NULL);
	}
	json_decref(o);
	lab_free(&l);
}

/* The worst event (every text byte a control character, escaped as six
 * bytes) fits EVENT_JSON_MAX. */
static void
test_event_json_bound(void)
{
	static struct event ev;
	static char buf[EVENT_JSON_MAX];
	size_t n;

	memset(&ev, 0, sizeof(ev));
	ev.kind = EVENT_RELAY_ATTEMPT;
	ev.action = EVENT_ACTION_RESET;
	memset(ev.helo, 1, sizeof(ev.helo) - 1);
	memset(ev.mail_from, 1, sizeof(ev.mail_from) - 1);
	memset(ev.rcpt, 1, sizeof(ev.rcpt) - 1);
	memset(ev.domain, 1, sizeof(ev.domain) - 1);
	ev.reason = "foreign-domain";
	ev.trick = "source-route";
	n = event_json(&ev, buf, sizeof(buf));
	TEST_CHECK(n > 6 * 3 * (EVENT_TEXT_MAX - 1));
	ev.kind = EVENT_AMBIGUITY;
	memset(ev.line, 1, sizeof(ev.line) - 1);
	ev.what = "long-line";
	ev.command = "RCPT";
	TEST_CHECK(event_json(&ev, buf, sizeof(buf)) > 0);
}

/* Ten relay RCPTs in one segment (the pipelined form). */
static const char pipelined_ten[] =
    "RCPT TO:<p1@evil.test>\r\nRCPT TO:<p2@evil.test>\r\n"
    "RCPT TO:<p3@evil.test>\r\nRCPT TO:<p4@evil.test>\r\n"
    "RCPT TO:<p5@evil.test>\r\nRCPT TO:<p6@evil.test>\r\n"
    "RCPT TO:<p7@evil.test>\r\nRCPT TO:<p8@evil.test>\r\n"
    "RCPT TO:<p9@evil.test>\r\nRCPT TO:<p10@evil.test>\r\n";

static int
count_str(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* A replay engine that carries out mode enforce (engine_set_simulate). */
static void
lab_init_sim(struct lab *l, enum config_mode mode)
{
	lab_init(l, false, mode, addr_attacker);
	engine_set_simulate(l->e, true);
}

/*
 * One segment with ten relay RCPTs: the daemon drops it and resets the
 * session once, and carries out one block (engine_result holds one), so
 * the engine must not escalate inside the packet (it used to count three
 * offences: 1 h, 2 h, 4 h).  Replay's simulation takes the same decisions
 * from the same code: the same events, word for word.
 */
static void
test_pipelined_one_block(void)
{
	struct engine_result r;
	struct engine_stats st;
	struct lab l;
	char ev[2][32768];
	int m;

	for (m = 0; m < 2; m++) {
		if (m == 0)
			lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
		else
			lab_init_sim(&l, CONFIG_MODE_ENFORCE);
		lab_handshake(&l);
		TEST_CHECK(lab_say(&l, 1, pipelined_ten, &r) == ENGINE_DROP);
		TEST_CHECK(r.reset);
		TEST_CHECK(r.block);
		ASSERT_INT_EQ(r.block_for, 3600 * RG_USEC_PER_SEC);
		lab_events(&l, ev[m], sizeof(ev[m]));
		ASSERT_INT_EQ(count_str(ev[m], "\"event\":\"relay-attempt\""),
		    10);
		ASSERT_INT_EQ(count_str(ev[m], "\"event\":\"block\""), 1);
		TEST_CHECK(strstr(ev[m], "\"offences\":1,\"duration\":3600")
		    != NULL);
		engine_get_stats(l.e, &st);
		ASSERT_INT_EQ(st.relay_attempts, 10);
		ASSERT_INT_EQ(st.blocks, 1);
		ASSERT_INT_EQ(st.resets, 1);
		ASSERT_INT_EQ(st.resets_relay, 1);
		lab_free(&l);
	}
	ASSERT_STR_EQ(ev[0], ev[1]);
}

/*
 * Replay carrying out enforce: after the reset, what the capture still
 * has of the session (a passive tap saw the client carry on) is counted,
 * never judged.  Mode monitor, and the raw view, judge it all.
 */
static void
test_sim_after_reset_not_judged(void)
{
	struct engine_stats st;
	struct lab l;
	char ev[8192];
	int m;

	for (m = 0; m < 3; m++) {
		if (m == 2) 	/* raw: no simulation */
			lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
		else
			lab_init_sim(&l, m == 0 ? CONFIG_MODE_ENFORCE :
			    CONFIG_MODE_MONITOR);
		lab_handshake(&l);
		lab_say(&l, 1, "RCPT TO:<a1@evil.test>\r\n", NULL);
		lab_say(&l, 0, "250 2.1.5 Ok\r\n", NULL);
		lab_say(&l, 1, "RCPT TO:<a2@evil.test>\r\n", NULL);
		lab_say(&l, 0, "250 2.1.5 Ok\r\n", NULL);
		lab_say(&l, 1, "DATA\r\n", NULL);
		lab_say(&l, 0, "354 go\r\n", NULL);
		lab_say(&l, 1, "hello\r\n.\r\n", NULL);
		lab_say(&l, 0, "250 2.0.0 queued\r\n", NULL);
		lab_events(&l, ev, sizeof(ev));
		engine_get_stats(l.e, &st);
		TEST_CHECK(strstr(ev, "a1@evil.test") != NULL);
		if (m == 0) {
			TEST_CHECK(strstr(ev, "a2@evil.test") == NULL);
			ASSERT_INT_EQ(st.after_reset, 7);
			ASSERT_INT_EQ(st.resets, 1);
			ASSERT_INT_EQ(st.mail_accepted, 0);
		} else {
			TEST_CHECK(strstr(ev, "a2@evil.test") != NULL);
			ASSERT_INT_EQ(st.after_reset, 0);
			ASSERT_INT_EQ(st.resets, 0);
			ASSERT_INT_EQ(st.mail_accepted, 1);
			ASSERT_INT_EQ(st.mail_sessions, 1);
		}
		lab_free(&l);
	}
}

/*
 * Replay carrying out a block: the client's next connection is dropped
 * (one "dropped" event, its RCPT never judged, its packets and the
 * server's counted), until the block expires in packet time; then a new
 * connection is judged again.  The daemon's kernel set does this inline.
 */
static void
test_sim_block_drops_until_expiry(void)
{
	struct engine_result r;
	struct engine_stats st;
	struct lab l;
	char ev[32768];

	lab_init_sim(&l, CONFIG_MODE_ENFORCE);
	lab_handshake(&l);
	lab_say(&l, 1, pipelined_ten, &r);
	TEST_CHECK(r.block);
	lab_events(&l, ev, sizeof(ev));

	l.cport = CLIENT_PORT + 1;
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<d@evil.test>\r\n", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(!r.reset && !r.block);
	lab_events(&l, ev, sizeof(ev));
	ASSERT_STR_EQ(ev, "{\"event\":\"dropped\",\"time\":"
	    "\"1970-01-01T00:00:00.000000Z\",\"client\":\"203.0.113.10\","
	    "\"client_port\":40001,\"server\":\"198.51.100.25\","
	    "\"server_port\":25,\"reason\":\"relay-attempts\","
	    "\"offences\":1,\"expires\":\"2026-01-01T01:00:00.009000Z\","
	    "\"action\":\"drop\"}\n");
	engine_get_stats(l.e, &st);
	ASSERT_INT_EQ(st.sim_block_sessions, 1);
	ASSERT_INT_EQ(st.sim_clients_blocked, 1);
	/* SYN, SYN-ACK, ACK, banner, EHLO and reply, MAIL and reply, RCPT */
	ASSERT_INT_EQ(st.sim_block_packets, 9);
	ASSERT_INT_EQ(st.relay_attempts, 10);

	/* An hour later (block-for 1h) the block is over. */
	l.now += 3600 * RG_USEC_PER_SEC;
	l.cport = CLIENT_PORT + 2;
	lab_handshake(&l);
	TEST_CHECK(lab_say(&l, 1, "RCPT TO:<e@evil.test>\r\n", &r) ==
	    ENGINE_DROP);
	TEST_CHECK(r.reset && !r.block);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "\"client_port\":40002") != NULL);
	TEST_CHECK(strstr(ev, "\"rcpt\":\"e@evil.test\"") != NULL);
	TEST_CHECK(strstr(ev, "dropped") == NULL);
	engine_get_stats(l.e, &st);
	ASSERT_INT_EQ(st.sim_block_sessions, 1);
	ASSERT_INT_EQ(st.relay_attempts, 11);
	lab_free(&l);

	/* Inline the kernel's set does it: the engine never simulates. */
	lab_init(&l, true, CONFIG_MODE_ENFORCE, addr_attacker);
	engine_set_simulate(l.e, true);
	lab_handshake(&l);
	lab_say(&l, 1, pipelined_ten, &r);
	l.cport = CLIENT_PORT + 1;
	lab_handshake(&l);
	lab_say(&l, 1, "RCPT TO:<d@evil.test>\r\n", &r);
	TEST_CHECK(r.reset);
	engine_get_stats(l.e, &st);
	ASSERT_INT_EQ(st.sim_block_sessions, 0);
	lab_free(&l);
}

/*
 * A client earns no new offence while its block lasts (monitor: while it
 * would last): three more attempts inside the hour give no block, three
 * after it the second (2 h).  An operator's unblock (engine_unblock) lets
 * it earn one again at once (then the third is 4 h).
 */
static void
test_no_offence_while_blocked(void)
{
	struct engine_result r;
	struct lab l;
	struct cidr net;
	const char *why = NULL;
	char ev[32768];
	int round, i, m;

	TEST_CHECK(cidr_parse("203.0.113.0/24", 14, &net, &why));
	for (m = 0; m < 3; m++) {
		lab_init(&l, true, m == 1 ? CONFIG_MODE_MONITOR :
		    CONFIG_MODE_ENFORCE, addr_attacker);
		for (round = 0; round < 3; round++) {
			if (round == 1 && m == 2)
				engine_unblock(l.e, &net);
			if (round == 2)	/* past any block so far */
				l.now += 2 * 3600 * RG_USEC_PER_SEC;
			for (i = 0; i < 3; i++) {
				l.cport = (uint16_t)(CLIENT_PORT + round * 3 + i);
				lab_handshake(&l);
				lab_say(&l, 1, "RCPT TO:<x@evil.test>\r\n", &r);
				TEST_CHECK(r.block == (m != 1 && i == 2 &&
				    (round != 1 || m == 2)));
			}
			lab_events(&l, ev, sizeof(ev));
			ASSERT_INT_EQ(count_str(ev, "\"event\":\"block\""),
			    round == 1 && m != 2 ? 0 : 1);
			if (round == 2)
				TEST_CHECK(strstr(ev, m == 2 ?
				    "\"offences\":3,\"duration\":14400" :
				    "\"offences\":2,\"duration\":7200") != NULL);
		}
		lab_free(&l);
	}
}

/* A MAIL path's quoted local part may hold '>' (as in RCPT paths): the
 * event names the whole path. */
static void
test_mail_from_quoted(void)
{
	struct lab l;
	static char ev[EVENT_JSON_MAX];

	lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
	lab_connect(&l, ISN_C, ISN_S);
	lab_say(&l, 1, "EHLO attacker.test\r\n", NULL);
	lab_say(&l, 0, "250 mx.example.test\r\n", NULL);
	lab_say(&l, 1, "MAIL FROM:<\"<b>x</b>\"@sender.test> SIZE=10\r\n",
	    NULL);
	lab_say(&l, 0, "250 2.1.0 Ok\r\n", NULL);
	lab_say(&l, 1, "RCPT TO:<v@elsewhere.test>\r\n", NULL);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "\"mail_from\":\"\\\"<b>x</b>\\\"@sender.test\""
	    ) != NULL);
	lab_free(&l);
}

/* Passive capture: nothing is dropped; with resets each end gets a RST at
 * the sequence number after what it has seen, ordered again when the
 * server's reply races it; without resets or blocks the events say
 * "report" and nothing is ordered. */
static void
test_passive_resets_and_blocks(void)
{
	struct engine_result r;
	struct lab l;
	int i, pass;
	char ev[16384];

	for (pass = 0; pass < 2; pass++) {
		lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
		engine_set_passive(l.e, pass == 0, pass == 0);
		for (i = 0; i < 3; i++) {
			l.cport = (uint16_t)(CLIENT_PORT + i);
			lab_handshake(&l);
			TEST_CHECK(lab_say(&l, 1, "RCPT TO:<x@evil.test>\r\n",
			    &r) == ENGINE_ACCEPT);
			TEST_CHECK(r.reset == (pass == 0));
			TEST_CHECK(r.block == (pass == 0 && i == 2));
			if (pass == 0) {
				/* After the RCPT: it reached the server. */
				ASSERT_INT_EQ(r.seq_to_server, l.cseq);
				ASSERT_INT_EQ(r.seq_to_client, l.sseq);
			}
			/* The reply won the race: again, past the reply. */
			TEST_CHECK(lab_say(&l, 0, "554 5.7.1 denied\r\n",
			    &r) == ENGINE_ACCEPT);
			TEST_CHECK(r.reset == (pass == 0));
			if (pass == 0)
				ASSERT_INT_EQ(r.seq_to_client, l.sseq);
		}
		/* A bounded number of times. */
		for (i = 0; i < 4; i++)
			lab_say(&l, 1, "NOOP\r\n", &r);
		TEST_CHECK(!r.reset);
		lab_events(&l, ev, sizeof(ev));
		TEST_CHECK(strstr(ev, pass == 0 ? "\"action\":\"reset\"" :
		    "\"action\":\"report\"") != NULL);
		TEST_CHECK(strstr(ev, pass == 0 ? "\"duration\":3600,"
		    "\"action\":\"block\"" : "\"duration\":3600,"
		    "\"action\":\"report\"") != NULL);
		lab_free(&l);
	}
}

/*
 * Steady state allocates nothing (issue 11): sessions that end hand their
 * flow and buffers to the sessions that begin (flow.c's spare flows,
 * rg.h's block pool).  N whole sessions (handshake, EHLO, MAIL, RCPT,
 * DATA, body, QUIT, FIN) run, their flows expire, and N more run: the
 * second round calls malloc(), calloc() and realloc() (counted by the
 * wrappers below) almost never, where the first called them several
 * times a session.  Inline (the daemon's engine) and replay alike.  An
 * ASan build has its own allocator, which the wrappers would replace: it
 * counts the pool's misses instead.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_COUNT_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_COUNT_MALLOC 0
#endif
#endif
#ifndef TEST_COUNT_MALLOC
#define TEST_COUNT_MALLOC 1
#endif

static bool alloc_counting;
static unsigned long alloc_calls;

#if TEST_COUNT_MALLOC
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
void *malloc(size_t n);
void *calloc(size_t k, size_t n);
void *realloc(void *p, size_t n);

void *
malloc(size_t n)
{
	if (alloc_counting)
		alloc_calls++;
	return __libc_malloc(n);
}

void *
calloc(size_t k, size_t n)
{
	if (alloc_counting)
		alloc_calls++;
	return __libc_calloc(k, n);
}

void *
realloc(void *p, size_t n)
{
	if (alloc_counting)
		alloc_calls++;
	return __libc_realloc(p, n);
}
#endif

static void
steady_session(struct lab *l, uint16_t port)
{
	struct event ev;

	l->cport = port;
	lab_open(l, ISN_C + port, ISN_S + port);
	lab_say(l, 1, "RCPT TO:<user@example.test>\r\n", NULL);
	lab_say(l, 0, "250 2.1.5 Ok\r\n", NULL);
	lab_say(l, 1, "DATA\r\n", NULL);
	lab_say(l, 0, "354 go on\r\n", NULL);
	lab_say(l, 1, "Subject: steady\r\n\r\nhello\r\n.\r\n", NULL);
	lab_say(l, 0, "250 2.0.0 Ok: queued\r\n", NULL);
	lab_say(l, 1, "QUIT\r\n", NULL);
	lab_say(l, 0, "221 2.0.0 Bye\r\n", NULL);
	lab_send(l, 1, l->cseq++, 0x11, NULL, 0, NULL);
	lab_send(l, 0, l->sseq++, 0x11, NULL, 0, NULL);
	lab_send(l, 1, l->cseq, 0x10, NULL, 0, NULL);
	while (engine_next_event(l->e, &ev))
		;
}

/* Allocations (or pool misses) in a round of n sessions. */
static unsigned long
steady_round(struct lab *l, unsigned n, uint16_t port0)
{
	struct engine_stats st;
	unsigned long before;
	uint64_t misses;
	unsigned i;

	/* every flow of the round before has expired */
	l->now += 2 * 3600 * RG_USEC_PER_SEC;
	engine_tick(l->e, l->now);
	engine_get_stats(l->e, &st);
	ASSERT_INT_EQ(st.flows_active, 0);
	misses = engine_pool_misses(l->e);
	before = alloc_calls;
	alloc_counting = true;
	for (i = 0; i < n; i++)
		steady_session(l, (uint16_t)(port0 + i));
	alloc_counting = false;
	return TEST_COUNT_MALLOC ? alloc_calls - before :
	    (unsigned long)(engine_pool_misses(l->e) - misses);
}

static void
test_steady_state_no_malloc(void)
{
	struct engine_stats st;
	struct lab l;
	unsigned long first, second;
	int inl;

	/* 0: replay, 1: inline, 2: replay with arenas (engine_set_arena:
	 * the buffers are carved from regions, not malloc()ed one by one,
	 * except in an ASan build, which keeps malloc()) */
	for (inl = 0; inl < 3; inl++) {
		lab_init(&l, inl == 1, CONFIG_MODE_ENFORCE, addr_attacker);
		if (inl == 2)
			engine_set_arena(l.e);
		first = steady_round(&l, 200, 20000);
		second = steady_round(&l, 200, 30000);
		engine_get_stats(l.e, &st);
		ASSERT_INT_EQ(st.mail_accepted, 400);
		printf("  %s: round 1 %lu, round 2 %lu %s for 200 sessions\n",
		    inl == 1 ? "inline" : inl == 2 ? "replay, arenas" :
		    "replay", first, second,
		    TEST_COUNT_MALLOC ? "allocations" :
		    "pool misses (ASan build: allocations not counted)");
		if (inl == 2 && TEST_COUNT_MALLOC)
			TEST_CHECK(first <= 20);
		else
			TEST_CHECK(first >= 200);
		TEST_CHECK(second <= 2);
		lab_free(&l);
	}
}

/*
 * Passive: a first fragment of a client segment (here carrying a relay
 * RCPT) is what the server reassembles and executes unseen: an ambiguity,
 * the session reset both ways under capture-reset, and again at the
 * sequence numbers the server's acknowledgement of the missed bytes moves
 * to.  No offence (as an ambiguous line inline).  Later fragments, a
 * trusted client's, and replay's are only counted.
 */
static void
test_passive_fragment_refused(void)
{
	static const char rcpt[] = "RCPT TO:<a@evil.test>\r\n";
	struct engine_result r;
	struct engine_stats st;
	struct lab l;
	uint8_t b[256];
	size_t len;
	int pass;
	char ev[8192];

	for (pass = 0; pass < 4; pass++) {
		/* 0: resets; 1: report only; 2: trusted; 3: replay */
		lab_init(&l, false, CONFIG_MODE_ENFORCE, pass == 2 ?
		    addr_trusted : addr_attacker);
		if (pass != 3)
			engine_set_passive(l.e, pass != 1, pass != 1);
		lab_handshake(&l);
		lab_events(&l, ev, sizeof(ev));
		/* A later fragment first: no ports, nothing to say. */
		len = mkpkt(b, l.src, l.dst, l.cport, 25, l.cseq, l.sseq,
		    0x18, rcpt, sizeof(rcpt) - 1);
		b[6] = 0x00;
		b[7] = 0x03;
		TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len,
		    len, 0, ENGINE_INDEV_UNKNOWN, &r) == ENGINE_ACCEPT);
		TEST_CHECK(!r.reset);
		b[6] = 0x20;	/* MF, offset 0: the first */
		b[7] = 0x00;
		TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len,
		    len, 0, ENGINE_INDEV_UNKNOWN, &r) == ENGINE_ACCEPT);
		TEST_CHECK(r.reset == (pass == 0));
		if (pass == 0) {
			ASSERT_INT_EQ(r.seq_to_server, l.cseq);
			ASSERT_INT_EQ(r.seq_to_client, l.sseq);
		}
		lab_events(&l, ev, sizeof(ev));
		if (pass < 2)
			ASSERT_STR_EQ(ev, pass == 0 ?
			    "{\"event\":\"ambiguity\",\"time\":"
			    "\"1970-01-01T00:00:00.000000Z\","
			    "\"client\":\"203.0.113.10\",\"client_port\":40000,"
			    "\"server\":\"198.51.100.25\",\"server_port\":25,"
			    "\"what\":\"fragment\",\"action\":\"reset\"}\n" :
			    "{\"event\":\"ambiguity\",\"time\":"
			    "\"1970-01-01T00:00:00.000000Z\","
			    "\"client\":\"203.0.113.10\",\"client_port\":40000,"
			    "\"server\":\"198.51.100.25\",\"server_port\":25,"
			    "\"what\":\"fragment\",\"action\":\"report\"}\n");
		else
			ASSERT_STR_EQ(ev, "");
		/* The server reassembled it and answers: its ack moves the
		 * client's side past the bytes we missed. */
		l.cseq += (uint32_t)(sizeof(rcpt) - 1);
		lab_say(&l, 0, "250 2.1.5 Ok\r\n", &r);
		TEST_CHECK(r.reset == (pass == 0));
		if (pass == 0) {
			ASSERT_INT_EQ(r.seq_to_server, l.cseq);
			ASSERT_INT_EQ(r.seq_to_client, l.sseq);
		}
		engine_get_stats(l.e, &st);
		ASSERT_INT_EQ(st.fragments, 2);
		ASSERT_INT_EQ(st.ambiguities, pass < 2 ? 1 : 0);
		ASSERT_INT_EQ(st.resets, pass == 0 ? 1 : 0);
		ASSERT_INT_EQ(st.relay_attempts, 0);
		lab_free(&l);
	}
}

/* Passive, a session this engine does not track (another capture
 * worker's: a fragment's fanout hash has no ports): the fragment alone
 * says where the client expects the server's next byte. */
static void
test_passive_fragment_untracked(void)
{
	static const char rcpt[] = "RCPT TO:<a@evil.test>\r\n";
	struct engine_result r;
	struct lab l;
	uint8_t b[256];
	size_t len;
	int pass;
	char ev[8192];

	for (pass = 0; pass < 2; pass++) {
		lab_init(&l, false, CONFIG_MODE_ENFORCE, pass == 0 ?
		    addr_attacker : addr_trusted);
		engine_set_passive(l.e, true, true);
		len = mkpkt(b, l.src, l.dst, l.cport, 25, 7000, 9000, 0x18,
		    rcpt, sizeof(rcpt) - 1);
		b[6] = 0x20;
		TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len,
		    len, 0, ENGINE_INDEV_UNKNOWN, &r) == ENGINE_ACCEPT);
		TEST_CHECK(r.reset == (pass == 0));
		lab_events(&l, ev, sizeof(ev));
		if (pass == 0) {
			ASSERT_INT_EQ(r.seq_to_client, 9000);
			ASSERT_INT_EQ(r.client_port, CLIENT_PORT);
			ASSERT_STR_EQ(ev, "{\"event\":\"ambiguity\",\"time\":"
			    "\"1970-01-01T00:00:00.000000Z\","
			    "\"client\":\"203.0.113.10\",\"client_port\":40000,"
			    "\"server\":\"198.51.100.25\",\"server_port\":25,"
			    "\"what\":\"fragment\",\"action\":\"reset\"}\n");
		} else
			ASSERT_STR_EQ(ev, "");
		lab_free(&l);
	}
}

/* IPv6 client -> server ([2001:db8::10]:40000 -> [2001:db8::25]:25), ext
 * destination-options headers (8 bytes each) before TCP. */
static size_t
mkpkt6(uint8_t *b, int from_client, uint32_t seq, uint32_t ack,
    uint8_t flags, const char *pl, int ext)
{
	size_t n = pl != NULL ? strlen(pl) : 0, plen, off = 40;
	uint8_t *th;
	int i;

	plen = (size_t)ext * 8 + 20 + n;
	memset(b, 0, 40 + plen);
	b[0] = 0x60;
	b[4] = (uint8_t)(plen >> 8);
	b[5] = (uint8_t)plen;
	b[6] = ext > 0 ? 60 : 6;
	b[7] = 64;
	b[8] = 0x20; b[9] = 0x01; b[10] = 0x0d; b[11] = 0xb8;
	b[24] = 0x20; b[25] = 0x01; b[26] = 0x0d; b[27] = 0xb8;
	b[23] = from_client ? 0x10 : 0x25;
	b[39] = from_client ? 0x25 : 0x10;
	for (i = 0; i < ext; i++, off += 8) {
		b[off] = i + 1 < ext ? 60 : 6;
		b[off + 2] = 1;		/* PadN filling the header */
		b[off + 3] = 4;
	}
	th = b + off;
	th[0] = from_client ? 0x9c : 0; th[1] = from_client ? 0x40 : 25;
	th[2] = from_client ? 0 : 0x9c; th[3] = from_client ? 25 : 0x40;
	th[4] = (uint8_t)(seq >> 24); th[5] = (uint8_t)(seq >> 16);
	th[6] = (uint8_t)(seq >> 8); th[7] = (uint8_t)seq;
	th[8] = (uint8_t)(ack >> 24); th[9] = (uint8_t)(ack >> 16);
	th[10] = (uint8_t)(ack >> 8); th[11] = (uint8_t)ack;
	th[12] = 0x50;
	th[13] = flags;
	th[14] = 0xff; th[15] = 0xff;
	if (n > 0)
		memcpy(th + 20, pl, n);
	return 40 + plen;
}

/* Passive: once captured (live_filter(), test_live), an IPv6 RCPT behind
 * destination-options headers is read as the server reads it. */
static void
test_passive_ipv6_extension_headers(void)
{
	static const char *const lines[][2] = {
		{ NULL, "220 mx.example.test ESMTP\r\n" },
		{ "EHLO attacker.test\r\n", "250 mx.example.test\r\n" },
		{ "MAIL FROM:<spam@attacker.test>\r\n", "250 2.1.0 Ok\r\n" },
		{ "RCPT TO:<victim@elsewhere.test>\r\n", NULL },
	};
	struct engine_result r;
	struct lab l;
	uint32_t cseq = ISN_C, sseq = ISN_S;
	uint8_t b[512];
	size_t len, i;
	char ev[8192];

	lab_init(&l, false, CONFIG_MODE_ENFORCE, addr_attacker);
	engine_set_passive(l.e, true, true);
	len = mkpkt6(b, 1, cseq++, 0, 0x02, NULL, 0);
	engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len, len, 0,
	    ENGINE_INDEV_UNKNOWN, &r);
	len = mkpkt6(b, 0, sseq++, cseq, 0x12, NULL, 0);
	engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len, len, 0,
	    ENGINE_INDEV_UNKNOWN, &r);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (lines[i][0] != NULL) {
			/* The client's commands behind 1 or 3 headers. */
			len = mkpkt6(b, 1, cseq, sseq, 0x18, lines[i][0],
			    i % 2 == 0 ? 3 : 1);
			cseq += (uint32_t)strlen(lines[i][0]);
			TEST_CHECK(engine_packet(l.e, DECODE_LINK_RAW, l.now,
			    b, len, len, 0, ENGINE_INDEV_UNKNOWN, &r) ==
			    ENGINE_ACCEPT);
		}
		if (lines[i][1] != NULL) {
			len = mkpkt6(b, 0, sseq, cseq, 0x18, lines[i][1], 0);
			sseq += (uint32_t)strlen(lines[i][1]);
			engine_packet(l.e, DECODE_LINK_RAW, l.now, b, len,
			    len, 0, ENGINE_INDEV_UNKNOWN, NULL);
		}
	}
	TEST_CHECK(r.reset);
	ASSERT_INT_EQ(r.seq_to_server, cseq);
	ASSERT_INT_EQ(r.seq_to_client, sseq);
	lab_events(&l, ev, sizeof(ev));
	TEST_CHECK(strstr(ev, "{\"event\":\"relay-attempt\"") != NULL);
	TEST_CHECK(strstr(ev, "\"client\":\"2001:db8::10\"") != NULL);
	TEST_CHECK(strstr(ev, "\"rcpt\":\"victim@elsewhere.test\"") != NULL);
	TEST_CHECK(strstr(ev, "\"action\":\"reset\"") != NULL);
	lab_free(&l);
}

int
main(void)
{
	TEST_RUN(test_replay_relay_event);
	TEST_RUN(test_inline_drop_and_reset);
	TEST_RUN(test_inline_monitor_accepts);
	TEST_RUN(test_block_after_three);
	TEST_RUN(test_never_block_not_blocked);
	TEST_RUN(test_trusted_client_relays);
	TEST_RUN(test_authenticated_relays);
	TEST_RUN(test_offload);
	TEST_RUN(test_inline_waiting_drops_body);
	TEST_RUN(test_differential);
	TEST_RUN(test_bad_checksum_dropped_uninspected);
	TEST_RUN(test_urgent_syn_window_dropped);
	TEST_RUN(test_forged_rst_ignored);
	TEST_RUN(test_spoofed_sessions_never_block);
	TEST_RUN(test_starttls_policies);
	TEST_RUN(test_overlap_rewritten_to_inspected);
	TEST_RUN(test_forged_server_packet_dropped);
	TEST_RUN(test_forged_ack_over_hole_resets);
	TEST_RUN(test_pipelined_after_data_resets);
	TEST_RUN(test_partial_rcpt_held);
	TEST_RUN(test_midstream_mid_line_resets);
	TEST_RUN(test_fragments_dropped_inline);
	TEST_RUN(test_refused_early_data_dropped);
	TEST_RUN(test_truncated_packet_dropped_inline);
	TEST_RUN(test_reuse_starts_fresh);
	TEST_RUN(test_syn_on_live_session);
	TEST_RUN(test_client_on_port_25);
	TEST_RUN(test_midstream_ambiguous);
	TEST_RUN(test_idle_session_still_tracked);
	TEST_RUN(test_malformed_dropped_inline);
	TEST_RUN(test_whole_event_4k);
	TEST_RUN(test_event_json_bound);
	TEST_RUN(test_mail_from_quoted);
	TEST_RUN(test_pipelined_one_block);
	TEST_RUN(test_sim_after_reset_not_judged);
	TEST_RUN(test_sim_block_drops_until_expiry);
	TEST_RUN(test_no_offence_while_blocked);
	TEST_RUN(test_passive_resets_and_blocks);
	TEST_RUN(test_steady_state_no_malloc);
	TEST_RUN(test_passive_fragment_refused);
	TEST_RUN(test_passive_fragment_untracked);
	TEST_RUN(test_passive_ipv6_extension_headers);
	return TEST_END("engine");
}
