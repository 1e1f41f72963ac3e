/*
 * capture.c — see capture.h.  The whole file is mapped once, so records
 * are read in place and stay valid until capture_close() (the engine may
 * keep references to them: engine_set_borrow()).  Pages are released
 * (MADV_DONTNEED) two windows behind the reader, so the resident memory of a replay does not grow with the
 * file; a released page that is read again simply comes back from the
 * page cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "capture.h"

#define CAPTURE_WINDOW (4u << 20)	/* release granule */

struct capture {
	const char *path;
	int fd;
	uint64_t size, off;		/* file size; next record's offset */
	uint8_t *map;			/* the whole file */
	size_t map_len;
	uint64_t released;		/* pages given back below here */
	bool swapped, nsec;
	int linktype;
	uint32_t snaplen;
	pcap_t *pc;			/* the libpcap reader, if used */
	FILE *fp;
	char *iobuf;
	uint64_t records;
};

static uint32_t
capture_u32(const uint8_t *p, bool swapped)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swapped ? __builtin_bswap32(v) : v;
}

int
capture_pcap_header(const uint8_t *hdr, size_t len, bool *swapped, bool *nsec,
    int *linktype, uint32_t *snaplen)
{
	uint32_t magic;

	if (len < 24)
		return -1;
	memcpy(&magic, hdr, 4);
	switch (magic) {
	case 0xa1b2c3d4: *swapped = false; *nsec = false; break;
	case 0xd4c3b2a1: *swapped = true; *nsec = false; break;
	case 0xa1b23c4d: *swapped = false; *nsec = true; break;
	case 0x4d3cb2a1: *swapped = true; *nsec = true; break;
	default:
		return -1;
	}
	/* Major version 2 only (what libpcap writes and reads). */
	if ((capture_u32(hdr + 4, *swapped) & 0xffff) != 2)
		return -1;
	*snaplen = capture_u32(hdr + 16, *swapped);
	/* The low 16 bits are the link type; higher bits carry FCS
	 * information that does not matter here. */
	*linktype = (int)(capture_u32(hdr + 20, *swapped) & 0xffff);
	return 0;
}

int
capture_pcap_record(const uint8_t *p, size_t n, bool swapped, bool nsec,
    struct capture_record *r, size_t *used)
{
	uint32_t sec, frac, incl, orig;

	if (n < 16)
		return 0;
	sec = capture_u32(p, swapped);
	frac = capture_u32(p + 4, swapped);
	incl = capture_u32(p + 8, swapped);
	orig = capture_u32(p + 12, swapped);
	if (incl > CAPTURE_MAX_RECORD)
		return -1;
	if (n - 16 < incl)
		return 0;
	if (nsec)
		frac /= 1000;
	if (frac >= 1000000)
		frac = 999999;
	r->ts_usec = (uint64_t)sec * 1000000 + frac;
	r->caplen = incl;
	r->wirelen = orig < incl ? incl : orig;
	r->data = p + 16;
	*used = 16 + (size_t)incl;
	return 1;
}

static void
capture_unmap(struct capture *c)
{
	if (c->map != NULL)
		munmap(c->map, c->map_len);
	c->map = NULL;
	c->map_len = 0;
}

/* Release what is two windows behind off.  (Populating ahead with
 * MADV_POPULATE_READ measured no faster than the kernel's fault-around.) */
static void
capture_advise(struct capture *c, uint64_t off)
{
	if (off > c->released + 2 * CAPTURE_WINDOW) {
		(void)madvise(c->map + c->released, CAPTURE_WINDOW,
		    MADV_DONTNEED);
		c->released += CAPTURE_WINDOW;
	}
}

static bool
capture_try_mmap(struct capture *c)
{
	uint8_t hdr[24];
	struct stat sb;
	void *m;

	if (fstat(c->fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size < 24)
		return false;
	if (pread(c->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return false;
	if (capture_pcap_header(hdr, sizeof(hdr), &c->swapped, &c->nsec,
	    &c->linktype, &c->snaplen) < 0)
		return false;
	c->size = (uint64_t)sb.st_size;
	c->off = 24;
	if ((uint64_t)(size_t)c->size != c->size)
		return false;
	m = mmap(NULL, (size_t)c->size, PROT_READ, MAP_PRIVATE, c->fd, 0);
	if (m == MAP_FAILED)
		return false;
	c->map = m;
	c->map_len = (size_t)c->size;
	(void)madvise(c->map, c->map_len, MADV_SEQUENTIAL);
	return true;
}

static bool
capture_open_pcap(struct capture *c, char *err, size_t errlen)
{
	char errbuf[PCAP_ERRBUF_SIZE];

	if ((c->fp = fdopen(c->fd, "rb")) == NULL) {
		snprintf(err, errlen, "%s: %s", c->path, strerror(errno));
		return false;
	}
	c->fd = -1;	/* the FILE owns it now */
	/* libpcap reads 4 KiB at a time otherwise. */
	if ((c->iobuf = malloc(1u << 20)) != NULL)
		(void)setvbuf(c->fp, c->iobuf, _IOFBF, 1u << 20);
	errbuf[0] = '\0';
	c->pc = pcap_fopen_offline_with_tstamp_precision(c->fp,
	    PCAP_TSTAMP_PRECISION_MICRO, errbuf);
	if (c->pc == NULL) {
		snprintf(err, errlen, "%s: not a pcap or pcapng capture (%s)",
		    c->path, errbuf);
		return false;
	}
	c->fp = NULL;	/* pcap_close() closes it */
	c->linktype = pcap_datalink(c->pc);
	return true;
}

struct capture *
capture_open(const char *path, char *err, size_t errlen)
{
	struct capture *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	c->path = path;
	if ((c->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(c);
		return NULL;
	}
	if (capture_try_mmap(c))
		return c;
	capture_unmap(c);
	if (lseek(c->fd, 0, SEEK_SET) < 0 || !capture_open_pcap(c, err,
	    errlen)) {
		capture_close(c);
		return NULL;
	}
	return c;
}

int
capture_linktype(const struct capture *c)
{
	return c->linktype;
}

const char *
capture_reader(const struct capture *c)
{
	return c->pc != NULL ? "libpcap" : "mmap";
}

static int
capture_next_pcap(struct capture *c, struct capture_record *r, char *err,
    size_t errlen)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc;

	rc = pcap_next_ex(c->pc, &h, &data);
	if (rc == 1) {
		r->ts_usec = h->ts.tv_sec < 0 ? 0 :
		    (uint64_t)h->ts.tv_sec * 1000000 +
		    (uint64_t)(h->ts.tv_usec % 1000000);
		r->caplen = h->caplen;
		r->wirelen = h->len < h->caplen ? h->caplen : h->len;
		r->data = data;
		c->records++;
		return 1;
	}
	if (rc == PCAP_ERROR_BREAK)
		return 0;
	snprintf(err, errlen, "%s: read error after packet %llu: %s", c->path,
	    (unsigned long long)c->records, pcap_geterr(c->pc));
	return -1;
}

int
capture_next(struct capture *c, struct capture_record *r, char *err,
    size_t errlen)
{
	size_t used;
	int rc;

	if (c->pc != NULL)
		return capture_next_pcap(c, r, err, errlen);
	if (c->off >= c->size)
		return 0;
	capture_advise(c, c->off);
	rc = capture_pcap_record(c->map + c->off, (size_t)(c->size - c->off),
	    c->swapped, c->nsec, r, &used);
	if (rc == 1) {
		c->off += used;
		c->records++;
		return 1;
	}
	snprintf(err, errlen, "%s: read error after packet %llu: %s", c->path,
	    (unsigned long long)c->records, rc == 0 ?
	    "truncated dump file (the capture ends inside a packet)" :
	    "invalid packet capture length (corrupt record)");
	c->off = c->size;
	return -1;
}

void
capture_close(struct capture *c)
{
	if (c == NULL)
		return;
	capture_unmap(c);
	if (c->pc != NULL)
		pcap_close(c->pc);
	if (c->fp != NULL)
		fclose(c->fp);
	if (c->fd >= 0)
		close(c->fd);
	free(c->iobuf);
	free(c);
}
