/*
 * conffile.c — read the configuration file, bounded, and hand it to
 * config_parse().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"

/* Read at most max bytes of fd into a new buffer; one more byte than max
 * is asked for so that a file that is too large is noticed, not cut. */
static bool
conffile_read(int fd, char **out, size_t *outlen, size_t max, bool *toobig)
{
	size_t len = 0, cap = 8192;
	char *buf, *nb;
	ssize_t r;

	*toobig = false;
	if ((buf = malloc(cap)) == NULL)
		return false;
	for (;;) {
		if (len == cap) {
			if (cap > max) {
				*toobig = true;
				free(buf);
				return false;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				return false;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return false;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max) {
			*toobig = true;
			free(buf);
			return false;
		}
	}
	*out = buf;
	*outlen = len;
	return true;
}

bool
conffile_load(const char *path, bool path_given, struct config *c,
    char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	bool toobig, ok;
	int fd, saved;

	config_defaults(c);
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL)
		path = CONFIG_DEFAULT_PATH;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		if (errno == ENOENT && !path_given)
			return true;	/* no file: the defaults apply */
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	ok = conffile_read(fd, &text, &len, CONFFILE_MAX_SIZE, &toobig);
	saved = errno;
	close(fd);
	if (!ok) {
		if (toobig)
			snprintf(err, errlen, "%s: larger than %d bytes", path,
			    CONFFILE_MAX_SIZE);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(saved));
		return false;
	}
	ok = config_parse(path, text, len, c, err, errlen);
	free(text);
	if (!ok) {
		config_free(c);
		config_defaults(c);
	}
	return ok;
}
