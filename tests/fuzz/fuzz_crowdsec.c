/*
 * fuzz_crowdsec.c — libFuzzer harness for the CrowdSec Local API's
 * decision stream and Go durations (daemon/crowdsec_parse.c): whatever a
 * LAPI (or whatever answers at its address) sends, the parser must not
 * crash or read out of bounds, and what it keeps must be well-formed.
 *
 * Each input is parsed whole as a stream reply, from an allocation of
 * exactly its size; every kept decision must have NUL-terminated value
 * and origin of bounded length.  The input is also read as a duration,
 * and a duration that parses must print back (crowdsec_go_duration) into
 * one that parses to the same whole seconds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/crowdsec_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check(const struct crowdsec_decision *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (memchr(v[i].value, '\0', sizeof(v[i].value)) == NULL ||
		    memchr(v[i].origin, '\0', sizeof(v[i].origin)) == NULL ||
		    v[i].value[0] == '\0' || v[i].origin[0] == '\0')
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct crowdsec_stream st;
	char err[256], buf[64];
	char *copy;
	int64_t ms, back;

	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	memset(&st, 0, sizeof(st));
	if (crowdsec_parse_stream(copy, size, &st, err, sizeof(err))) {
		fuzz_check(st.add, st.nadd);
		fuzz_check(st.del, st.ndel);
		crowdsec_stream_free(&st);
	} else if (memchr(err, '\0', sizeof(err)) == NULL || st.add != NULL ||
	    st.del != NULL)
		abort();
	if (crowdsec_duration(copy, size, &ms) && ms >= 0) {
		crowdsec_go_duration((uint64_t)ms / 1000, buf, sizeof(buf));
		if (!crowdsec_duration(buf, strlen(buf), &back) ||
		    back != ms / 1000 * 1000)
			abort();
	}
	free(copy);
	return 0;
}
