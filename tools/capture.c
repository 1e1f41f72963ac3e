/*
 * capture.c — see capture.h.  A regular file is read with pread() into
 * one buffer of CAPTURE_BUF bytes that is reused: records are parsed in
 * place there, and only the piece of a record cut by the buffer's end is
 * moved before the next read.  (The file used to be memory-mapped: on a
 * virtual machine every page fault of a 300 MB mapping cost more than
 * libpcap's whole read loop, and the buffer stays in the CPU's cache.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dlfcn.h>
#include <pcap/pcap.h>

#include "capture.h"

#define CAPTURE_BUF (1u << 20)	/* read buffer; holds any whole block */

struct capture {
	const char *path;
	int fd;
	uint64_t off;			/* next record's file offset */
	uint8_t *buf;			/* file bytes [buf_off, buf_off + buf_len) */
	uint64_t buf_off;
	size_t buf_len;
	bool eof;			/* pread() found the end */
	int rerrno;			/* pread() failed with this */
	bool swapped, nsec;
	int linktype;
	uint32_t snaplen;
	bool ng;			/* pcapng (else classic pcap) */
	uint32_t nifs;			/* pcapng: interfaces of the section */
	struct capture_if {
		int linktype;
		uint32_t snaplen;
		uint8_t tsresol;	/* if_tsresol (default 6: usec) */
		int64_t tsoffset;	/* if_tsoffset, seconds */
	} ifs[CAPTURE_MAX_IFACES];
	pcap_t *pc;			/* the libpcap reader, if used */
	FILE *fp;
	char *iobuf;
	uint64_t records;
	bool dup;			/* capture_dup(): the fd is not ours */
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

/* --- the read buffer -------------------------------------------------- */

/* The bytes at c->off; *n of them are in the buffer. */
static const uint8_t *
capture_at(const struct capture *c, size_t *n)
{
	*n = c->buf_len - (size_t)(c->off - c->buf_off);
	return c->buf + (c->off - c->buf_off);
}

/*
 * More bytes after c->off: the unread rest moves to the buffer's start
 * and the buffer is filled.  False at the end of the file or on a read
 * error (c->rerrno).
 */
static bool
capture_more(struct capture *c)
{
	const uint8_t *p;
	size_t keep, before;
	ssize_t k;

	if (c->eof || c->rerrno != 0)
		return false;
	p = capture_at(c, &keep);
	if (p != c->buf)
		memmove(c->buf, p, keep);
	c->buf_off = c->off;
	c->buf_len = keep;
	before = keep;
	while (c->buf_len < CAPTURE_BUF) {
		k = pread(c->fd, c->buf + c->buf_len, CAPTURE_BUF - c->buf_len,
		    (off_t)(c->buf_off + c->buf_len));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			c->rerrno = errno;
			break;
		}
		if (k == 0) {
			c->eof = true;
			break;
		}
		c->buf_len += (size_t)k;
	}
	return c->buf_len > before;
}

/* --- pcapng ----------------------------------------------------------- */

#define CAPTURE_NG_SHB 0x0A0D0D0Au	/* Section Header Block */
#define CAPTURE_NG_IDB 1u		/* Interface Description Block */
#define CAPTURE_NG_PB 2u		/* Packet Block (obsolete) */
#define CAPTURE_NG_SPB 3u		/* Simple Packet Block */
#define CAPTURE_NG_EPB 6u		/* Enhanced Packet Block */
#define CAPTURE_NG_BOM 0x1A2B3C4Du
/* A block holds at most a whole record and its options. */
#define CAPTURE_NG_MAX_BLOCK (CAPTURE_MAX_RECORD + 65536)

static uint16_t
capture_u16(const uint8_t *p, bool swapped)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return swapped ? __builtin_bswap16(v) : v;
}

int
capture_pcapng_block(const uint8_t *p, size_t n, bool *swapped,
    uint32_t *type, size_t *used)
{
	uint32_t len, bom;

	if (n < 12)
		return 0;
	memcpy(type, p, 4);
	if (*type == CAPTURE_NG_SHB) {
		/* The byte-order magic comes before the length means anything. */
		memcpy(&bom, p + 8, 4);
		if (bom == CAPTURE_NG_BOM)
			*swapped = false;
		else if (bom == __builtin_bswap32(CAPTURE_NG_BOM))
			*swapped = true;
		else
			return -1;
		if (n < 28)
			return 0;
		if (capture_u16(p + 12, *swapped) != 1)	/* major version */
			return -1;
	} else
		*type = capture_u32(p, *swapped);
	len = capture_u32(p + 4, *swapped);
	if (len < 12 || len % 4 != 0 || len > CAPTURE_NG_MAX_BLOCK)
		return -1;
	if (n < len)
		return 0;
	if (capture_u32(p + len - 4, *swapped) != len)
		return -1;
	*used = len;
	return 1;
}

/* An Interface Description Block's body (b, blen bytes) into ifs. */
static int
capture_ng_idb(struct capture *c, const uint8_t *b, size_t blen)
{
	struct capture_if *in;
	size_t off;
	uint16_t code, olen;

	if (blen < 8 || c->nifs >= CAPTURE_MAX_IFACES)
		return -1;
	in = &c->ifs[c->nifs];
	in->linktype = capture_u16(b, c->swapped);
	in->snaplen = capture_u32(b + 4, c->swapped);
	in->tsresol = 6;
	in->tsoffset = 0;
	for (off = 8; off + 4 <= blen; off += 4 + (size_t)((olen + 3u) & ~3u)) {
		code = capture_u16(b + off, c->swapped);
		olen = capture_u16(b + off + 2, c->swapped);
		if (code == 0 || olen > blen - off - 4)
			break;
		if (code == 9 && olen >= 1)		/* if_tsresol */
			in->tsresol = b[off + 4];
		else if (code == 14 && olen >= 8) {	/* if_tsoffset */
			uint64_t v;

			memcpy(&v, b + off + 4, 8);
			in->tsoffset = (int64_t)(c->swapped ?
			    __builtin_bswap64(v) : v);
		}
	}
	/* 10^-v up to 10^-19 (what 64 bits can count), 2^-v up to 2^-63. */
	if ((in->tsresol & 0x80) ? (in->tsresol & 0x7f) > 63 :
	    in->tsresol > 19)
		return -1;
	c->nifs++;
	return 0;
}

/* A timestamp in the interface's units to microseconds since the epoch. */
static uint64_t
capture_ng_usec(const struct capture_if *in, uint64_t ts)
{
	unsigned __int128 t = (unsigned __int128)ts * 1000000u;
	int64_t off = in->tsoffset;
	uint64_t usec, div = 1;
	unsigned i;

	if (in->tsresol & 0x80)
		usec = (uint64_t)(t >> (in->tsresol & 0x7f));
	else {
		for (i = 0; i < in->tsresol; i++)
			div *= 10;
		usec = (uint64_t)(t / div);
	}
	/* An offset that would go below the epoch or wrap: the epoch. */
	if (off < 0)
		return (uint64_t)-off > usec / 1000000 ? 0 :
		    usec - (uint64_t)-off * 1000000;
	if ((uint64_t)off > (UINT64_MAX - usec) / 1000000)
		return UINT64_MAX;
	return usec + (uint64_t)off * 1000000;
}

/*
 * The next packet of a pcapng file: 1 and *r, 0 at the end, -1 corrupt
 * (*why says how).  Section and interface blocks are taken on the way;
 * other blocks (statistics, name resolution, custom) are skipped.
 */
static int
capture_ng_next(struct capture *c, struct capture_record *r, const char **why)
{
	const uint8_t *p, *b;
	size_t used, blen, n;
	uint32_t type, ifid, caplen, orig;
	uint64_t ts;
	int rc;

	for (;;) {
		p = capture_at(c, &n);
		rc = capture_pcapng_block(p, n, &c->swapped, &type, &used);
		if (rc == 0 && capture_more(c))
			continue;
		if (rc == 0 && n == 0 && c->rerrno == 0)
			return 0;
		if (rc == 0 && c->rerrno != 0) {
			*why = strerror(c->rerrno);
			return -1;
		}
		if (rc == 0) {
			*why = "truncated dump file (the capture ends inside a "
			    "block)";
			return -1;
		}
		if (rc < 0) {
			*why = "invalid pcapng block (corrupt)";
			return -1;
		}
		c->off += used;
		b = p + 8;
		blen = used - 12;
		switch (type) {
		case CAPTURE_NG_SHB:
			c->nifs = 0;	/* interfaces are per section */
			continue;
		case CAPTURE_NG_IDB:
			if (capture_ng_idb(c, b, blen) < 0) {
				*why = "invalid interface description (corrupt)";
				return -1;
			}
			continue;
		case CAPTURE_NG_EPB:
		case CAPTURE_NG_PB:
			if (blen < 20)
				goto corrupt;
			ifid = type == CAPTURE_NG_EPB ?
			    capture_u32(b, c->swapped) :
			    capture_u16(b, c->swapped);
			ts = (uint64_t)capture_u32(b + 4, c->swapped) << 32 |
			    capture_u32(b + 8, c->swapped);
			caplen = capture_u32(b + 12, c->swapped);
			orig = capture_u32(b + 16, c->swapped);
			if (ifid >= c->nifs || caplen > blen - 20)
				goto corrupt;
			r->data = b + 20;
			break;
		case CAPTURE_NG_SPB:
			if (blen < 4 || c->nifs == 0)
				goto corrupt;
			ifid = 0;
			ts = 0;		/* a Simple Packet Block has none */
			orig = capture_u32(b, c->swapped);
			caplen = (uint32_t)(blen - 4);
			if (c->ifs[0].snaplen != 0 && caplen > c->ifs[0].snaplen)
				caplen = c->ifs[0].snaplen;
			if (caplen > orig)
				caplen = orig;
			r->data = b + 4;
			break;
		default:
			continue;
		}
		if (caplen > CAPTURE_MAX_RECORD)
			goto corrupt;
		r->ts_usec = type == CAPTURE_NG_SPB ? 0 :
		    capture_ng_usec(&c->ifs[ifid], ts);
		r->caplen = caplen;
		r->wirelen = orig < caplen ? caplen : orig;
		r->linktype = c->ifs[ifid].linktype;
		r->has_ifid = true;
		r->ifid = ifid;
		return 1;
	}
corrupt:
	*why = "invalid packet block (corrupt)";
	return -1;
}

/* Open a pcapng file: the first section's first interface gives the
 * capture's link type.  False if it is not one we can read. */
static bool
capture_ng_open(struct capture *c)
{
	const uint8_t *p;
	size_t used, n;
	uint32_t type;
	bool first = true;
	int rc;

	for (c->off = 0;;) {
		p = capture_at(c, &n);
		rc = capture_pcapng_block(p, n, &c->swapped, &type, &used);
		if (rc == 0 && capture_more(c))
			continue;
		if (rc != 1)
			return false;
		if (first && type != CAPTURE_NG_SHB)
			return false;
		first = false;
		if (type == CAPTURE_NG_IDB) {
			if (used < 20)
				return false;
			c->linktype = capture_u16(p + 8, c->swapped);
			c->ng = true;
			c->off = 0;	/* records are read from the start */
			if (c->buf_off != 0) {
				c->buf_off = 0;
				c->buf_len = 0;
				c->eof = false;
			}
			return true;
		}
		if (type == CAPTURE_NG_EPB || type == CAPTURE_NG_PB ||
		    type == CAPTURE_NG_SPB)
			return false;	/* a packet before any interface */
		c->off += used;
	}
}

/* A regular file in a format we read ourselves: set up the buffer. */
static bool
capture_try_fast(struct capture *c)
{
	uint8_t hdr[24];
	struct stat sb;
	uint32_t magic;

	if (fstat(c->fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size < 24)
		return false;
	if (pread(c->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return false;
	memcpy(&magic, hdr, 4);
	if (magic != CAPTURE_NG_SHB && capture_pcap_header(hdr, sizeof(hdr),
	    &c->swapped, &c->nsec, &c->linktype, &c->snaplen) < 0)
		return false;
	if ((c->buf = malloc(CAPTURE_BUF)) == NULL)
		return false;
	c->off = c->buf_off = magic == CAPTURE_NG_SHB ? 0 : 24;
	return magic != CAPTURE_NG_SHB || capture_ng_open(c);
}

/*
 * libpcap, loaded when a capture first needs it (a pipe, or a format the
 * readers above do not take): with its dependencies (D-Bus, systemd,
 * libgcrypt, compressors on Debian) linking it costs every run of
 * relayguard about 7 ms of start-up, most of a short replay's own time.
 */
#ifndef RG_PCAP_SONAME
#define RG_PCAP_SONAME "libpcap.so.0.8"
#endif

static struct {
	bool tried, ok;
	pcap_t *(*fopen_offline)(FILE *, u_int, char *);
	int (*next_ex)(pcap_t *, struct pcap_pkthdr **, const u_char **);
	char *(*geterr)(pcap_t *);
	void (*close)(pcap_t *);
	int (*datalink)(pcap_t *);
} lp;

static bool
capture_libpcap(char *err, size_t errlen)
{
	static char why[160];
	const char *e;
	void *h;

	if (!lp.tried) {
		lp.tried = true;
		if ((h = dlopen(RG_PCAP_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
			e = dlerror();
			snprintf(why, sizeof(why), "%s", e != NULL ? e : "?");
		} else {
			*(void **)&lp.fopen_offline = dlsym(h,
			    "pcap_fopen_offline_with_tstamp_precision");
			*(void **)&lp.next_ex = dlsym(h, "pcap_next_ex");
			*(void **)&lp.geterr = dlsym(h, "pcap_geterr");
			*(void **)&lp.close = dlsym(h, "pcap_close");
			*(void **)&lp.datalink = dlsym(h, "pcap_datalink");
			lp.ok = lp.fopen_offline != NULL && lp.next_ex != NULL &&
			    lp.geterr != NULL && lp.close != NULL &&
			    lp.datalink != NULL;
			snprintf(why, sizeof(why), "a libpcap function is "
			    "missing");
		}
	}
	if (!lp.ok)
		snprintf(err, errlen, "cannot load libpcap (%s): %s",
		    RG_PCAP_SONAME, why);
	return lp.ok;
}

static bool
capture_open_pcap(struct capture *c, char *err, size_t errlen)
{
	char errbuf[PCAP_ERRBUF_SIZE], why[256];

	if (!capture_libpcap(why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", c->path, why);
		return false;
	}
	if ((c->fp = fdopen(c->fd, "rb")) == NULL) {
		snprintf(err, errlen, "%s: %s", c->path, strerror(errno));
		return false;
	}
	c->fd = -1;	/* the FILE owns it now */
	/* libpcap reads 4 KiB at a time otherwise. */
	if ((c->iobuf = malloc(1u << 20)) != NULL)
		(void)setvbuf(c->fp, c->iobuf, _IOFBF, 1u << 20);
	errbuf[0] = '\0';
	c->pc = lp.fopen_offline(c->fp, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
	if (c->pc == NULL) {
		snprintf(err, errlen, "%s: not a pcap or pcapng capture (%s)",
		    c->path, errbuf);
		return false;
	}
	c->fp = NULL;	/* pcap_close() closes it */
	c->linktype = lp.datalink(c->pc);
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
	/* "-" is standard input: a pipe, or a file redirected in. */
	if (strcmp(path, "-") == 0) {
		c->path = "stdin";
		c->fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	} else
		c->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0) {
		snprintf(err, errlen, "%s: %s", c->path, strerror(errno));
		free(c);
		return NULL;
	}
	if (capture_try_fast(c))
		return c;
	free(c->buf);
	c->buf = NULL;
	/* A pipe (replay -, /dev/stdin, <(...)) cannot seek, and needs
	 * not: capture_try_fast() reads nothing from what is not a regular
	 * file.  libpcap then reads the stream from its start. */
	if (lseek(c->fd, 0, SEEK_SET) < 0 && errno != ESPIPE) {
		snprintf(err, errlen, "%s: %s", c->path, strerror(errno));
		capture_close(c);
		return NULL;
	}
	if (!capture_open_pcap(c, err, errlen)) {
		capture_close(c);
		return NULL;
	}
	return c;
}

struct capture *
capture_dup(const struct capture *c)
{
	struct capture *d;

	if (c->pc != NULL || c->buf == NULL || (d = malloc(sizeof(*d))) == NULL)
		return NULL;
	*d = *c;
	if ((d->buf = malloc(CAPTURE_BUF)) == NULL) {
		free(d);
		return NULL;
	}
	d->dup = true;
	d->buf_off = d->off;
	d->buf_len = 0;
	d->eof = false;
	return d;
}

int
capture_linktype(const struct capture *c)
{
	return c->linktype;
}

const char *
capture_reader(const struct capture *c)
{
	return c->pc != NULL ? "libpcap" : "pread";
}

static int
capture_next_pcap(struct capture *c, struct capture_record *r, char *err,
    size_t errlen)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc;

	rc = lp.next_ex(c->pc, &h, &data);
	if (rc == 1) {
		r->ts_usec = h->ts.tv_sec < 0 ? 0 :
		    (uint64_t)h->ts.tv_sec * 1000000 +
		    (uint64_t)(h->ts.tv_usec % 1000000);
		r->caplen = h->caplen;
		r->wirelen = h->len < h->caplen ? h->caplen : h->len;
		r->data = data;
		r->linktype = c->linktype;
		r->has_ifid = false;
		r->ifid = 0;
		c->records++;
		return 1;
	}
	if (rc == PCAP_ERROR_BREAK)
		return 0;
	snprintf(err, errlen, "%s: read error after packet %llu: %s", c->path,
	    (unsigned long long)c->records, lp.geterr(c->pc));
	return -1;
}

int
capture_next(struct capture *c, struct capture_record *r, char *err,
    size_t errlen)
{
	const uint8_t *p;
	const char *why;
	size_t used, n;
	int rc;

	if (c->pc != NULL)
		return capture_next_pcap(c, r, err, errlen);
	if (c->ng) {
		if ((rc = capture_ng_next(c, r, &why)) >= 0) {
			c->records += (uint64_t)rc;
			return rc;
		}
	} else {
		do {
			p = capture_at(c, &n);
			rc = capture_pcap_record(p, n, c->swapped, c->nsec, r,
			    &used);
		} while (rc == 0 && capture_more(c));
		if (rc == 0 && n == 0 && c->rerrno == 0)
			return 0;
		if (rc == 1) {
			c->off += used;
			c->records++;
			r->linktype = c->linktype;
			r->has_ifid = false;
			r->ifid = 0;
			return 1;
		}
		why = c->rerrno != 0 ? strerror(c->rerrno) : rc == 0 ?
		    "truncated dump file (the capture ends inside a packet)" :
		    "invalid packet capture length (corrupt record)";
	}
	snprintf(err, errlen, "%s: read error after packet %llu: %s", c->path,
	    (unsigned long long)c->records, why);
	c->eof = true;		/* nothing more after an error */
	c->rerrno = 0;
	c->buf_len = 0;
	c->buf_off = c->off;
	return -1;
}

void
capture_close(struct capture *c)
{
	if (c == NULL)
		return;
	free(c->buf);
	if (c->dup) {
		free(c);
		return;
	}
	if (c->pc != NULL)
		lp.close(c->pc);
	if (c->fp != NULL)
		fclose(c->fp);
	if (c->fd >= 0)
		close(c->fd);
	free(c->iobuf);
	free(c);
}
