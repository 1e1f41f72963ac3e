/*
 * conffile.h — read relayguard.conf from disk and parse it (filters/config.c
 * does the parsing and makes no system calls; this is the part that does).
 */
#ifndef CONFFILE_H
#define CONFFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define CONFFILE_MAX_SIZE (1024 * 1024)	/* larger files are refused */
#define CONFFILE_LIST_MAX_SIZE (64 * 1024 * 1024)	/* the same for a list file */

/*
 * Fill c with the defaults and the settings of the file at path, then the
 * entries of every list file it names (local-domains-file, ...).  A path
 * that was not given explicitly (the default) may be missing: the defaults
 * are then used and true returned.  A list file must exist and be a
 * regular file.  On failure returns false with "PATH: problem" or
 * "PATH:LINE: problem 'TOKEN'" in err (PATH the configuration or the list
 * file), and c freed and back at the defaults (config_free() on it is
 * harmless).  Nothing is kept from a failed load: a caller that reloads
 * keeps its running configuration.
 */
bool conffile_load(const char *path, bool path_given, struct config *c,
    char *err, size_t errlen);

/* The on-block and on-unblock programs exist and are executable: true,
 * or false and "FILE:LINE: on-block: problem 'PROGRAM'" in err. */
bool conffile_check_commands(const struct config *c, char *err,
    size_t errlen);

#endif
