/*
 * conffile.c — read the configuration file, bounded, and hand it to
 * config_parse().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/*
 * Read the list file f into c (config_parse_list() parses it).  The file
 * must exist, be regular (a FIFO would block a reload) and hold at most
 * CONFFILE_LIST_MAX_SIZE bytes.  Errors name the file and the key that
 * named it.
 */
static bool
conffile_list(const char *conf, struct config *c, struct config_list_file *f,
    char *err, size_t errlen)
{
	struct stat st;
	const char *problem = NULL;
	char *text = NULL;
	size_t len = 0;
	bool toobig, ok;
	int fd, saved;

	fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s (%s-file, %s:%zu)", f->path,
		    strerror(errno), f->key, conf, f->line);
		return false;
	}
	if (fstat(fd, &st) == -1)
		problem = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		problem = "not a regular file";
	if (problem != NULL) {
		snprintf(err, errlen, "%s: %s (%s-file, %s:%zu)", f->path,
		    problem, f->key, conf, f->line);
		close(fd);
		return false;
	}
	ok = conffile_read(fd, &text, &len, CONFFILE_LIST_MAX_SIZE, &toobig);
	saved = errno;
	close(fd);
	if (!ok) {
		if (toobig)
			snprintf(err, errlen, "%s: larger than %d bytes "
			    "(%s-file, %s:%zu)", f->path, CONFFILE_LIST_MAX_SIZE,
			    f->key, conf, f->line);
		else
			snprintf(err, errlen, "%s: %s (%s-file, %s:%zu)", f->path,
			    strerror(saved), f->key, conf, f->line);
		return false;
	}
	ok = config_parse_list(c, f, text, len, err, errlen);
	free(text);
	return ok;
}

bool
conffile_load(const char *path, bool path_given, struct config *c,
    char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	bool toobig, ok;
	int fd, saved;
	uint32_t i;

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
	/* The files after the whole configuration: its own errors come
	 * first, and the inline entries are the first of each list. */
	for (i = 0; ok && i < c->nlist_files; i++)
		ok = conffile_list(path, c, &c->list_files[i], err, errlen);
	if (!ok) {
		config_free(c);
		config_defaults(c);
	}
	return ok;
}

/* One hook program: an executable regular file. */
static bool
conffile_check_command(const struct config *c, const char *key,
    const struct config_command *cmd, char *err, size_t errlen)
{
	struct stat st;
	const char *prog = cmd->buf;

	if (cmd->argc == 0)
		return true;
	if (stat(prog, &st) < 0) {
		snprintf(err, errlen, "%s:%zu: %s: %s '%s'", c->file,
		    config_key_line(c, key), key, strerror(errno), prog);
		return false;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0 ||
	    access(prog, X_OK) < 0) {
		snprintf(err, errlen, "%s:%zu: %s: not an executable file "
		    "'%s'", c->file, config_key_line(c, key), key, prog);
		return false;
	}
	return true;
}

bool
conffile_check_commands(const struct config *c, char *err, size_t errlen)
{
	return conffile_check_command(c, "on-block", &c->on_block, err,
	    errlen) && conffile_check_command(c, "on-unblock",
	    &c->on_unblock, err, errlen);
}
