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

/*
 * Fill c with the defaults and the settings of the file at path.  A path
 * that was not given explicitly (the default) may be missing: the defaults
 * are then used and true returned.  On failure returns false with
 * "PATH: problem" or "PATH:LINE: problem 'TOKEN'" in err, and c freed and
 * back at the defaults (config_free() on it is harmless).
 */
bool conffile_load(const char *path, bool path_given, struct config *c,
    char *err, size_t errlen);

#endif
