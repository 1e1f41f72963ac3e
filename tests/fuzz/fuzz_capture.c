/*
 * fuzz_capture.c — the classic-pcap parser of the mapped reader: any bytes
 * as a file header and records; parsed records must lie inside the input.
 */
#include <stdlib.h>

#include "../../tools/capture.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct capture_record r;
	bool swapped, nsec;
	int linktype, rc;
	uint32_t snaplen;
	size_t off = 24, used;

	if (capture_pcap_header(data, size, &swapped, &nsec, &linktype,
	    &snaplen) < 0)
		return 0;
	while (off < size) {
		rc = capture_pcap_record(data + off, size - off, swapped, nsec,
		    &r, &used);
		if (rc != 1)
			break;
		if (r.data < data || r.data + r.caplen > data + size ||
		    used != 16 + (size_t)r.caplen || r.wirelen < r.caplen ||
		    r.caplen > CAPTURE_MAX_RECORD)
			abort();
		off += used;
	}
	return 0;
}
