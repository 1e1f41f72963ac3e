/*
 * test_capture.c — the memory-mapped pcap reader against libpcap: every
 * record of every classic capture in the corpus must come out identical,
 * and truncated or corrupt files must end with an error after the last
 * whole record.
 */
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "../../tools/capture.c"
#include "test.h"

static const char *
corpus_dir(void)
{
	const char *d = getenv("RG_CORPUS_DIR");

	return d != NULL ? d : "../shared/corpus/pcap";
}

/* Compare one file read both ways; returns records compared, -1 if the
 * mmap reader did not take it. */
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
	if (strcmp(capture_reader(c), "mmap") != 0) {
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

	if ((dir = opendir(corpus_dir())) == NULL) {
		printf("SKIP corpus: %s not found\n", corpus_dir());
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strstr(de->d_name, ".pcap") == NULL ||
		    strstr(de->d_name, ".pcapng") != NULL)
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

int
main(void)
{
	TEST_RUN(test_corpus_same_as_libpcap);
	TEST_RUN(test_truncated_and_corrupt);
	return TEST_END("capture");
}
