/*
 * capture.h — reading capture files for replay.
 *
 * Classic pcap and pcapng files are read with pread() into one reused
 * buffer and their records parsed in place there, valid until the next
 * capture_next(): libpcap's offline reader copies every packet twice
 * (kernel to stdio buffer to its own buffer) and does not say on which
 * interface a pcapng record was taken, and a memory mapping's page faults
 * cost more than the copy.  Any file the fast readers do not accept (a
 * pipe, another format) goes through libpcap, loaded then.  Both give the
 * same records; tests/unit/test_capture.c checks them against each other.
 */
#ifndef CAPTURE_H
#define CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAPTURE_MAX_RECORD (256u * 1024)	/* larger records: corrupt */

struct capture;

struct capture_record {
	uint64_t ts_usec;	/* microseconds since the epoch */
	uint32_t caplen;	/* bytes at data */
	uint32_t wirelen;	/* length on the wire (>= caplen) */
	const uint8_t *data;	/* valid until the next capture_next() */
	int linktype;		/* this record's (pcapng: its interface's) */
	/* pcapng: the interface the record was taken on (its Interface
	 * Description Block's index in the section); has_ifid false for
	 * classic pcap, which does not say. */
	bool has_ifid;
	uint32_t ifid;
};

#define CAPTURE_MAX_IFACES 256	/* pcapng interfaces per section */

/* Open a capture ("-": standard input, which may be a pipe, as may any
 * path: then it is read as a stream); NULL and a message naming the file
 * on failure. */
struct capture *capture_open(const char *path, char *err, size_t errlen);
/* LINKTYPE_ value (or a DLT_ alias that decode.h accepts); for pcapng,
 * the first interface's (records carry their own). */
int capture_linktype(const struct capture *c);
/* 1: a record; 0: clean end; -1: error (message in err, records before
 * it were all returned). */
int capture_next(struct capture *c, struct capture_record *r, char *err,
    size_t errlen);
void capture_close(struct capture *c);
/*
 * Another reader of a "pread" capture, at the place c is now, with its
 * own buffer over the same file descriptor (replay's workers each read
 * the file); close it before c.  NULL if c is read by libpcap or out of
 * memory.
 */
struct capture *capture_dup(const struct capture *c);
/* "pread" or "libpcap": which reader is in use. */
const char *capture_reader(const struct capture *c);

/*
 * The classic-pcap record parser over bytes in memory (the core of the
 * fast reader, exposed for the fuzzer and tests).  hdr is the 24-byte file
 * header; returns 0 and fills *swapped, *nsec, *linktype, *snaplen if it
 * is a classic pcap header.
 */
int capture_pcap_header(const uint8_t *hdr, size_t len, bool *swapped,
    bool *nsec, int *linktype, uint32_t *snaplen);
/* Parse the record at p (n bytes available): 1 and *r, *used if whole;
 * 0 if more bytes are needed (n too short); -1 if corrupt. */
int capture_pcap_record(const uint8_t *p, size_t n, bool swapped, bool nsec,
    struct capture_record *r, size_t *used);

/*
 * The pcapng block parser (the fast reader's, exposed for the fuzzer and
 * tests): the block at p (n bytes available) in a section of the given
 * byte order.  1: a whole block of *used bytes, its type in *type; 0: more
 * bytes are needed; -1: corrupt.  A Section Header Block sets *swapped.
 */
int capture_pcapng_block(const uint8_t *p, size_t n, bool *swapped,
    uint32_t *type, size_t *used);

#endif
