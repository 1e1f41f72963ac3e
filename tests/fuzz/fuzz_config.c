/*
 * fuzz_config.c — libFuzzer harness for config_parse().  Any input must
 * parse or fail cleanly; on success the formatted configuration must parse
 * again to the same text, which checks config_format() against the parser.
 */
#include <stdlib.h>
#include <string.h>

#include "../../filters/config.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, d;
	char err[256];
	char *buf, *buf2;
	size_t n, n2;

	config_defaults(&c);
	if (!config_parse("fuzz.conf", (const char *)data, size, &c, err,
	    sizeof(err))) {
		/* Errors always name the file and are terminated. */
		if (strncmp(err, "fuzz.conf:", 10) != 0 ||
		    memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		config_free(&c);
		return 0;
	}
	n = config_format(&c, NULL, 0);
	buf = malloc(n + 1);
	buf2 = malloc(n + 1);
	if (buf == NULL || buf2 == NULL)
		abort();
	if (config_format(&c, buf, n + 1) != n)
		abort();
	config_defaults(&d);
	/* A formatted list line can outgrow CONFIG_MAX_LINE only with
	 * thousands of entries; skip the comparison then. */
	if (config_parse("formatted", buf, n, &d, err, sizeof(err))) {
		n2 = config_format(&d, buf2, n + 1);
		if (n2 != n || memcmp(buf, buf2, n) != 0)
			abort();
	} else if (strstr(err, "line longer than") == NULL)
		abort();
	free(buf);
	free(buf2);
	config_free(&c);
	config_free(&d);
	return 0;
}
