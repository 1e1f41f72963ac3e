/*
 * test_capture.c — the memory-mapped pcap and pcapng readers against
 * libpcap: every record of every capture in the corpus must come out
 * identical, and truncated or corrupt files must end with an error after
 * the last whole record.  pcapng records carry their interface id.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "../../tools/capture.c"
#include "test.h"

static const char *
corpus_dir(void)
{
	const char *d = getenv("RG_CORPUS_DIR");

	/* tests/run.sh runs every suite from the top directory. */
	return d != NULL ? d : "tests/corpus/pcap";
}

/* Compare one file read both ways; returns records compared, -1 if the
 * pread reader did not take it. */
static long
compare_file(const char *path)
{
	char err[512], errbuf[PCAP_ERRBUF_SIZE];
	struct capture *c;
	struct capture_record r;
	struct pcap_pkthdr *h;
	const u_char *d;
	pcap_t *p;
	long n = 0;
	int a, b;

	if ((c = capture_open(path, err, sizeof(err))) == NULL)
		return -2;
	if (strcmp(capture_reader(c), "pread") != 0) {
		capture_close(c);
		return -1;
	}
	p = pcap_open_offline_with_tstamp_precision(path,
	    PCAP_TSTAMP_PRECISION_MICRO, errbuf);
	TEST_CHECK(p != NULL);
	if (p == NULL) {
		capture_close(c);
		return -2;
	}
	/* libpcap gives DLT_ values, the file holds LINKTYPE_ ones; they
	 * differ only for raw IP (101 vs 12 or 14), which decode.h takes
	 * either way. */
	if (pcap_datalink(p) != DLT_RAW)
		ASSERT_INT_EQ(capture_linktype(c), pcap_datalink(p));
	for (;;) {
		a = capture_next(c, &r, err, sizeof(err));
		b = pcap_next_ex(p, &h, &d);
		if (a != 1 || b != 1)
			break;
		n++;
		ASSERT_INT_EQ(r.caplen, h->caplen);
		ASSERT_INT_EQ(r.wirelen, h->len);
		ASSERT_INT_EQ(r.ts_usec, (uint64_t)h->ts.tv_sec * 1000000 +
		    (uint64_t)h->ts.tv_usec);
		ASSERT_MEM_EQ(r.data, d, r.caplen);
	}
	/* Both end the same way: cleanly, or with an error. */
	ASSERT_INT_EQ(a == 0, b == PCAP_ERROR_BREAK);
	pcap_close(p);
	capture_close(c);
	return n;
}

static void
test_corpus_same_as_libpcap(void)
{
	char path[1024];
	struct dirent *de;
	DIR *dir;
	long n, files = 0, records = 0;

	/* The corpus travels with the project: missing is a failure. */
	if ((dir = opendir(corpus_dir())) == NULL) {
		fprintf(stderr, "corpus: %s: %s (run from the top directory "
		    "or set RG_CORPUS_DIR)\n", corpus_dir(), strerror(errno));
		TEST_CHECK(0);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strstr(de->d_name, ".pcap") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", corpus_dir(), de->d_name);
		n = compare_file(path);
		if (n == -1)
			continue;
		TEST_CHECK(n >= 0);
		files++;
		records += n;
	}
	closedir(dir);
	TEST_CHECK(files > 50);
	TEST_CHECK(records > 5000);
}

/* A small classic capture: header plus nrec records of 60 bytes. */
static size_t
make_capture(uint8_t *buf, int nrec, bool swapped)
{
	uint32_t hdr[6] = { 0xa1b2c3d4, 2 | (4u << 16), 0, 0, 65535, 1 };
	uint32_t rec[4];
	size_t off = 0;
	int i, k;

	if (swapped)
		for (k = 0; k < 6; k++)
			hdr[k] = __builtin_bswap32(hdr[k]);
	memcpy(buf, hdr, 24);
	off = 24;
	for (i = 0; i < nrec; i++) {
		rec[0] = 1767225600u + (uint32_t)i;
		rec[1] = (uint32_t)i * 1000;
		rec[2] = 60;
		rec[3] = 60;
		if (swapped)
			for (k = 0; k < 4; k++)
				rec[k] = __builtin_bswap32(rec[k]);
		memcpy(buf + off, rec, 16);
		memset(buf + off + 16, i, 60);
		off += 76;
	}
	return off;
}

static void
write_file(const char *path, const uint8_t *b, size_t n)
{
	FILE *f = fopen(path, "wb");

	TEST_CHECK(f != NULL && fwrite(b, 1, n, f) == n);
	if (f != NULL)
		fclose(f);
}

static int
count_records(const char *path, char *err, size_t errlen, int *rc)
{
	struct capture *c = capture_open(path, err, errlen);
	struct capture_record r;
	int n = 0;

	if (c == NULL) {
		*rc = -2;
		return 0;
	}
	while ((*rc = capture_next(c, &r, err, errlen)) == 1) {
		ASSERT_INT_EQ(r.caplen, 60);
		ASSERT_INT_EQ(r.data[0], n);
		n++;
	}
	capture_close(c);
	return n;
}

static void
test_truncated_and_corrupt(void)
{
	static uint8_t buf[24 + 76 * 10];
	char path[] = "/tmp/rg-capture-XXXXXX", err[512];
	size_t n;
	int fd, rc;

	fd = mkstemp(path);
	TEST_CHECK(fd >= 0);
	close(fd);
	n = make_capture(buf, 10, false);
	write_file(path, buf, n);
	ASSERT_INT_EQ(count_records(path, err, sizeof(err), &rc), 10);
	ASSERT_INT_EQ(rc, 0);
	n = make_capture(buf, 10, true);	/* other byte order */
	write_file(path, buf, n);
	ASSERT_INT_EQ(count_records(path, err, sizeof(err), &rc), 10);
	ASSERT_INT_EQ(rc, 0);
	/* Cut inside the 8th record's data, then inside its header. */
	write_file(path, buf, 24 + 76 * 7 + 30);
	ASSERT_INT_EQ(count_records(path, err, sizeof(err), &rc), 7);
	ASSERT_INT_EQ(rc, -1);
	TEST_CHECK(strstr(err, "after packet 7: truncated") != NULL);
	write_file(path, buf, 24 + 76 * 7 + 5);
	ASSERT_INT_EQ(count_records(path, err, sizeof(err), &rc), 7);
	ASSERT_INT_EQ(rc, -1);
	/* A record length no capture has: corrupt. */
	n = make_capture(buf, 10, false);
	buf[24 + 76 * 3 + 8] = 0xff;
	buf[24 + 76 * 3 + 9] = 0xff;
	buf[24 + 76 * 3 + 10] = 0xff;
	write_file(path, buf, n);
	ASSERT_INT_EQ(count_records(path, err, sizeof(err), &rc), 3);
	ASSERT_INT_EQ(rc, -1);
	TEST_CHECK(strstr(err, "corrupt") != NULL);
	/* Not a capture at all: libpcap's refusal, naming the file. */
	write_file(path, (const uint8_t *)"hello, world\n", 13);
	TEST_CHECK(capture_open(path, err, sizeof(err)) == NULL);
	TEST_CHECK(strstr(err, path) != NULL);
	unlink(path);
	TEST_CHECK(capture_open(path, err, sizeof(err)) == NULL);
	TEST_CHECK(strstr(err, "No such file") != NULL);
}

/* pcapng writer for the tests: little-endian blocks into buf at *off. */
static void
ng_block(uint8_t *buf, size_t *off, uint32_t type, const void *body,
    size_t n)
{
	uint32_t len = (uint32_t)(12 + ((n + 3) & ~(size_t)3));

	memcpy(buf + *off, &type, 4);
	memcpy(buf + *off + 4, &len, 4);
	memset(buf + *off + 8, 0, len - 12);
	memcpy(buf + *off + 8, body, n);
	memcpy(buf + *off + len - 4, &len, 4);
	*off += len;
}

static void
ng_shb(uint8_t *buf, size_t *off)
{
	uint8_t b[16];
	uint32_t bom = 0x1A2B3C4D;
	uint16_t maj = 1, min = 0;
	int64_t slen = -1;

	memcpy(b, &bom, 4);
	memcpy(b + 4, &maj, 2);
	memcpy(b + 6, &min, 2);
	memcpy(b + 8, &slen, 8);
	ng_block(buf, off, 0x0A0D0D0A, b, sizeof(b));
}

/* An IDB; tsresol 0 means none given (microseconds). */
static void
ng_idb(uint8_t *buf, size_t *off, uint16_t linktype, uint8_t tsresol)
{
	uint8_t b[20];
	uint32_t snap = 65535;
	uint16_t code = 9, olen = 1;
	size_t n = 8;

	memset(b, 0, sizeof(b));
	memcpy(b, &linktype, 2);
	memcpy(b + 4, &snap, 4);
	if (tsresol != 0) {
		memcpy(b + 8, &code, 2);
		memcpy(b + 10, &olen, 2);
		b[12] = tsresol;
		n = 20;		/* option padded, then opt_endofopt */
	}
	ng_block(buf, off, 1, b, n);
}

static void
ng_epb(uint8_t *buf, size_t *off, uint32_t ifid, uint64_t ts, uint8_t fill,
    uint32_t caplen)
{
	uint8_t b[20 + 64];
	uint32_t v[5] = { ifid, (uint32_t)(ts >> 32), (uint32_t)ts, caplen,
	    caplen };

	memcpy(b, v, 20);
	memset(b + 20, fill, caplen);
	ng_block(buf, off, 6, b, 20 + caplen);
}

static int
ng_read(const char *path, struct capture_record *rs, int max, char *err,
    size_t errlen, int *rc)
{
	struct capture *c = capture_open(path, err, errlen);
	int n = 0;

	if (c == NULL) {
		*rc = -2;
		return 0;
	}
	ASSERT_STR_EQ(capture_reader(c), "pread");
	ASSERT_INT_EQ(capture_linktype(c), 1);
	while (n < max && (*rc = capture_next(c, &rs[n], err, errlen)) == 1) {
		rs[n].data = NULL;	/* not valid after close */
		n++;
	}
	capture_close(c);
	return n;
}

static void
test_pcapng_interfaces(void)
{
	static uint8_t buf[4096];
	struct capture_record rs[8];
	char path[] = "/tmp/rg-capture-XXXXXX", err[512];
	uint32_t custom[2] = { 0x12345678, 0 };
	size_t off = 0, cut;
	int fd, rc;

	fd = mkstemp(path);
	TEST_CHECK(fd >= 0);
	close(fd);
	/* Section 1: Ethernet in usec, raw IP in nsec; a custom block. */
	ng_shb(buf, &off);
	ng_idb(buf, &off, 1, 0);
	ng_idb(buf, &off, 101, 9);
	ng_epb(buf, &off, 0, 1767225600000000ull, 0xa0, 60);
	ng_block(buf, &off, 0x00000BAD, custom, sizeof(custom));
	ng_epb(buf, &off, 1, 1767225600123456789ull, 0xa1, 40);
	/* Section 2: interfaces start again; 2^-10 s units. */
	ng_shb(buf, &off);
	ng_idb(buf, &off, 1, 0x80 | 10);
	ng_epb(buf, &off, 0, 1024ull * 5 + 512, 0xa2, 50);
	cut = off;
	write_file(path, buf, off);
	ASSERT_INT_EQ(ng_read(path, rs, 8, err, sizeof(err), &rc), 3);
	ASSERT_INT_EQ(rc, 0);
	TEST_CHECK(rs[0].has_ifid && rs[0].ifid == 0 && rs[0].linktype == 1);
	ASSERT_INT_EQ(rs[0].ts_usec, 1767225600000000ull);
	ASSERT_INT_EQ(rs[0].caplen, 60);
	TEST_CHECK(rs[1].has_ifid && rs[1].ifid == 1 && rs[1].linktype == 101);
	ASSERT_INT_EQ(rs[1].ts_usec, 1767225600123456ull);
	ASSERT_INT_EQ(rs[1].caplen, 40);
	TEST_CHECK(rs[2].has_ifid && rs[2].ifid == 0 && rs[2].linktype == 1);
	ASSERT_INT_EQ(rs[2].ts_usec, 5500000);
	/* An interface id that no IDB described: corrupt, after 3. */
	ng_epb(buf, &off, 1, 0, 0xa3, 10);
	write_file(path, buf, off);
	ASSERT_INT_EQ(ng_read(path, rs, 8, err, sizeof(err), &rc), 3);
	ASSERT_INT_EQ(rc, -1);
	TEST_CHECK(strstr(err, "after packet 3: invalid packet block") != NULL);
	/* Cut inside the last block: truncated, after 2. */
	write_file(path, buf, cut - 10);
	ASSERT_INT_EQ(ng_read(path, rs, 8, err, sizeof(err), &rc), 2);
	ASSERT_INT_EQ(rc, -1);
	TEST_CHECK(strstr(err, "after packet 2: truncated") != NULL);
	/* A block whose trailing length disagrees: corrupt. */
	write_file(path, buf, cut);
	buf[cut - 4] ^= 4;
	write_file(path, buf, cut);
	ASSERT_INT_EQ(ng_read(path, rs, 8, err, sizeof(err), &rc), 2);
	ASSERT_INT_EQ(rc, -1);
	TEST_CHECK(strstr(err, "corrupt") != NULL);
	unlink(path);
}

/*
 * Files larger than the reader's buffer (1 MiB): records of every size up
 * to CAPTURE_MAX_RECORD, so that many are cut by the buffer's end and
 * must be carried into the next read, in classic pcap and in pcapng; the
 * records must be libpcap's, and a second reader (capture_dup) started
 * half-way must read the rest the same.
 */
static size_t
big_sizes(uint32_t *sizes, size_t max)
{
	uint64_t x = 88172645463325252ULL;
	size_t i;

	for (i = 0; i < max; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		sizes[i] = i % 97 == 5 ? CAPTURE_MAX_RECORD - (uint32_t)(x % 7) :
		    i % 13 == 0 ? (uint32_t)(x % 70000) : (uint32_t)(x % 1600);
	}
	return max;
}

static void
big_check(const char *path, size_t nrec, const uint32_t *sizes)
{
	char err[512];
	struct capture *c, *d = NULL;
	struct capture_record r;
	size_t n = 0, m = 0;
	int rc;

	TEST_CHECK(compare_file(path) == (long)nrec);
	if ((c = capture_open(path, err, sizeof(err))) == NULL) {
		TEST_CHECK(0);
		return;
	}
	while ((rc = capture_next(c, &r, err, sizeof(err))) == 1) {
		ASSERT_INT_EQ(r.caplen, sizes[n]);
		TEST_CHECK(r.caplen == 0 || (r.data[0] == (uint8_t)n &&
		    r.data[r.caplen - 1] == (uint8_t)n));
		if (++n == nrec / 2)
			d = capture_dup(c);
	}
	ASSERT_INT_EQ(rc, 0);
	ASSERT_INT_EQ(n, nrec);
	TEST_CHECK(d != NULL);
	while (d != NULL && capture_next(d, &r, err, sizeof(err)) == 1) {
		ASSERT_INT_EQ(r.caplen, sizes[nrec / 2 + m]);
		m++;
	}
	ASSERT_INT_EQ(m, nrec - nrec / 2);
	capture_close(d);
	capture_close(c);
}

static void
test_bigger_than_buffer(void)
{
	enum { NREC = 700 };
	static uint32_t sizes[NREC];
	static uint8_t rec[CAPTURE_MAX_RECORD + 64];
	uint32_t hdr[6] = { 0xa1b2c3d4, 2 | (4u << 16), 0, 0,
	    CAPTURE_MAX_RECORD, 1 }, h[4], v[5], len, type;
	char path[] = "/tmp/test_capture_big_XXXXXX";
	size_t i;
	FILE *f;
	int fd;

	big_sizes(sizes, NREC);
	/* classic pcap */
	TEST_CHECK((fd = mkstemp(path)) >= 0);
	TEST_CHECK((f = fdopen(fd, "wb")) != NULL);
	if (f == NULL)
		return;
	fwrite(hdr, 4, 6, f);
	for (i = 0; i < NREC; i++) {
		h[0] = 1767225600u + (uint32_t)i;
		h[1] = (uint32_t)i;
		h[2] = h[3] = sizes[i];
		memset(rec, (int)(i & 0xff), sizes[i]);
		fwrite(h, 4, 4, f);
		fwrite(rec, 1, sizes[i], f);
	}
	TEST_CHECK(ftell(f) > 4 * 1024 * 1024);
	fclose(f);
	big_check(path, NREC, sizes);
	unlink(path);
	/* pcapng: a section header, an interface, enhanced packet blocks */
	strcpy(path, "/tmp/test_capture_big_XXXXXX");
	TEST_CHECK((fd = mkstemp(path)) >= 0);
	TEST_CHECK((f = fdopen(fd, "wb")) != NULL);
	if (f == NULL)
		return;
	{
		static uint8_t head[256];
		size_t off = 0;

		uint8_t idb[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };	/* snaplen 0 */

		ng_shb(head, &off);
		ng_block(head, &off, 1, idb, sizeof(idb));
		fwrite(head, 1, off, f);
	}
	for (i = 0; i < NREC; i++) {
		type = 6;
		len = 12 + 20 + ((sizes[i] + 3) & ~3u);
		v[0] = 0;
		v[1] = 0;
		v[2] = (uint32_t)i;
		v[3] = v[4] = sizes[i];
		memset(rec, (int)(i & 0xff), sizes[i]);
		memset(rec + sizes[i], 0, 4);
		fwrite(&type, 4, 1, f);
		fwrite(&len, 4, 1, f);
		fwrite(v, 4, 5, f);
		fwrite(rec, 1, (sizes[i] + 3) & ~3u, f);
		fwrite(&len, 4, 1, f);
	}
	fclose(f);
	big_check(path, NREC, sizes);
	unlink(path);
}

int
main(void)
{
	TEST_RUN(test_corpus_same_as_libpcap);
	TEST_RUN(test_truncated_and_corrupt);
	TEST_RUN(test_pcapng_interfaces);
	TEST_RUN(test_bigger_than_buffer);
	return TEST_END("capture");
}
