/*
 * fuzz_decode.c — libFuzzer harness for decode_packet() and the checksum
 * functions.  The first input byte picks the link type, the rest is the
 * frame, copied to a buffer of exactly its size so any over-read is caught.
 * On DECODE_OK every offset and the payload must lie inside the frame and
 * agree with each other; fixing the checksum must make it verify.
 */
#include <stdlib.h>
#include <string.h>

#include "../../filters/decode.c"

static const int fuzz_links[] = {
	DECODE_LINK_NULL, DECODE_LINK_ETHERNET, DECODE_LINK_RAW,
	DECODE_LINK_LOOP, DECODE_LINK_LINUX_SLL, DECODE_LINK_IPV4,
	DECODE_LINK_IPV6, DECODE_LINK_LINUX_SLL2, 12, 14, 999,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decode_packet p;
	enum decode_result r;
	uint8_t *frame;
	size_t len, hdr_end;
	int link;

	if (size == 0)
		return 0;
	link = fuzz_links[data[0] % (sizeof(fuzz_links) /
	    sizeof(fuzz_links[0]))];
	len = size - 1;
	frame = malloc(len ? len : 1);
	if (frame == NULL)
		return 0;
	memcpy(frame, data + 1, len);

	r = decode_packet(link, frame, len, len, &p);
	if (link == 999 && r != DECODE_UNSUPPORTED)
		abort();
	if ((unsigned)r > DECODE_UNSUPPORTED ||
	    strcmp(decode_result_str(r), "unknown") == 0)
		abort();
	if (r == DECODE_OK) {
		if (p.src.family != p.dst.family ||
		    (p.src.family != 4 && p.src.family != 6))
			abort();
		if (p.l3_off > p.l4_off || p.l4_off + 20 > len)
			abort();
		if (p.payload < frame || p.payload > frame + len ||
		    p.payload_len > (size_t)(frame + len - p.payload))
			abort();
		hdr_end = (size_t)(p.payload - frame);
		if (hdr_end < p.l4_off + 20 || hdr_end > p.l4_off + 60)
			abort();
		if (p.payload_len > p.payload_wire_len)
			abort();
		/* The IP length accounts for headers and payload. */
		if ((size_t)p.l3_len != hdr_end - p.l3_off +
		    p.payload_wire_len)
			abort();
		if (p.wscale > 14 || p.wscale < -1)
			abort();
		if (p.payload_len > 0 && p.payload[p.payload_len - 1] !=
		    frame[hdr_end + p.payload_len - 1])
			abort();
		(void)decode_ip_checksum_ok(frame, len, &p);
		if (decode_tcp_checksum_ok(frame, len, &p) &&
		    p.payload_len != p.payload_wire_len)
			abort();
		decode_tcp_checksum_fix(frame, len, &p);
		/* Fully captured: a fixed checksum verifies; otherwise the
		 * frame is left as it was. */
		if (p.payload_len == p.payload_wire_len) {
			if (!decode_tcp_checksum_ok(frame, len, &p))
				abort();
		} else if (memcmp(frame, data + 1, len) != 0)
			abort();
	}
	free(frame);
	return 0;
}
