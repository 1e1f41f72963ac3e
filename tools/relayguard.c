/*
 * relayguard.c — the operator's command: a table of subcommands, the
 * global -c option, usage generated from the table.
 *
 * -c FILE (or --config FILE, --config=FILE) may come before or
 * after the subcommand, as operators type it either way; it is taken out of
 * argv before dispatch, so subcommands never see it.  Scanning stops at
 * "--", which is passed on to the subcommand.  "-cFILE" is not taken:
 * a subcommand option that happens to start with "-c" must not vanish.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"
#include "tools.h"

struct subcommand {
	const char *name;
	cmd_fn fn;
	const char *help;
};

static const struct subcommand subcommands[] = {
	{ "replay", cmd_replay,
	    "[--raw] CAPTURE...: what the policy would have done to them" },
	{ "config-test", cmd_config_test,
	    "check the configuration file (-v: print the effective settings)" },
	{ "status", cmd_status,
	    "the daemon's mode, queue mechanism and counters [-o json]" },
	{ "blocks", cmd_blocks,
	    "list or export the blocks [-o plain|json|csv|nft]" },
	{ "block", cmd_block,
	    "block ADDR|PREFIX [--for DUR] [--reason TEXT] [--force]" },
	{ "import", cmd_import,
	    "block every address of FILE|- (nothing if a line is bad)" },
	{ "unblock", cmd_unblock,
	    "lift the block on ADDR|PREFIX (its offences still count)" },
	{ "forget", cmd_forget,
	    "clear the offence history of ADDR|PREFIX (next block: block-for)" },
	{ "why", cmd_why,
	    "why ADDR is blocked: reason, evidence, offences [-o json]" },
	{ "reload", cmd_reload,
	    "make relayguardd reload its configuration; prints the result" },
	{ "reopen", cmd_reopen,
	    "reopen the event log (after logrotate moved it)" },
	{ "check", cmd_check,
	    "probe HOST[:PORT] for open relaying (nmap's 16 tests)" },
};
#define NSUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: relayguard [-c FILE] SUBCOMMAND [ARGS...]\n"
	    "       relayguard --help | --version\n\n"
	    "Subcommands:\n");
	for (i = 0; i < NSUBCOMMANDS; i++)
		fprintf(f, "  %-13s %s\n", subcommands[i].name,
		    subcommands[i].help);
	fprintf(f, "\nOptions:\n"
	    "  -c FILE, --config FILE   configuration file, before or after "
	    "the subcommand\n"
	    "                           (default %s)\n\n"
	    "'relayguard help SUBCOMMAND' shows a subcommand's options.\n",
	    CONFIG_DEFAULT_PATH);
}

static const struct subcommand *
subcommand_find(const char *name)
{
	size_t i;

	for (i = 0; i < NSUBCOMMANDS; i++)
		if (strcmp(subcommands[i].name, name) == 0)
			return &subcommands[i];
	return NULL;
}

static void
config_test_warning(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "warning: %s\n", msg);
}

int
cmd_config_test(int argc, char **argv, const char *config_path,
    bool config_given)
{
	struct config c;
	char err[1024], *text;
	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	bool verbose = false;
	size_t n;
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":hv", lo, NULL)) != -1) {
		switch (ch) {
		case 'v':
			verbose = true;
			break;
		case 'h':
			printf("usage: relayguard config-test [-c FILE] [-v]\n"
			    "  -v, --verbose  print the effective settings\n");
			return 0;
		default:
			if (optopt != 0)
				fprintf(stderr, "relayguard: config-test: "
				    "unknown option '-%c'\n", optopt);
			else
				fprintf(stderr, "relayguard: config-test: "
				    "unknown option '%s'\n", argv[optind - 1]);
			fprintf(stderr, "usage: relayguard config-test "
			    "[-c FILE] [-v]\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "relayguard: config-test: unexpected argument "
		    "'%s'\n" "usage: relayguard config-test [-c FILE] [-v]\n",
		    argv[optind]);
		return 2;
	}
	if (!conffile_load(config_path, config_given, &c, err, sizeof(err))) {
		fprintf(stderr, "relayguard: %s\n", err);
		config_free(&c);
		return 1;
	}
	/* What parses but the daemon would refuse is an error here too. */
	if (!config_check_daemon(&c, err, sizeof(err)) ||
	    !conffile_check_commands(&c, err, sizeof(err))) {
		fprintf(stderr, "relayguard: %s\n", err);
		config_free(&c);
		return 1;
	}
	/* Warnings do not change the exit status: only errors do. */
	(void)config_warnings(&c, config_test_warning, NULL);
	if (!config_given && access(config_path, F_OK) != 0)
		fprintf(stderr, "relayguard: configuration OK: %s (absent, "
		    "defaults used)\n", config_path);
	else
		fprintf(stderr, "relayguard: configuration OK: %s\n",
		    config_path);
	if (verbose) {
		/* Size first: a long domain list does not fit a fixed
		 * buffer. */
		n = config_format(&c, NULL, 0);
		if ((text = malloc(n + 1)) == NULL) {
			fprintf(stderr, "relayguard: out of memory\n");
			config_free(&c);
			return 1;
		}
		config_format(&c, text, n + 1);
		fwrite(text, 1, n, stdout);
		free(text);
	}
	config_free(&c);
	if (fflush(stdout) != 0) {
		perror("relayguard: stdout");
		return 1;
	}
	return 0;
}

/*
 * Take -c/--config out of argv into *path.  args receives the remaining
 * arguments (argv[0] included) and a NULL; returns their count, or -1
 * after printing an error.
 */
static int
strip_config(int argc, char **argv, char **args, const char **path,
    bool *given)
{
	int i, n = 0;
	const char *val;

	args[n++] = argv[0];
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			/* The rest belongs to the subcommand, verbatim. */
			while (i < argc)
				args[n++] = argv[i++];
			break;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "relayguard: option %s needs a "
				    "FILE argument\n", a);
				return -1;
			}
			val = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0)
			val = a + 9;
		else {
			args[n++] = argv[i];
			continue;
		}
		if (*given) {
			fprintf(stderr, "relayguard: -c given twice\n");
			return -1;
		}
		if (val[0] == '\0') {
			fprintf(stderr, "relayguard: empty configuration file "
			    "name\n");
			return -1;
		}
		*path = val;
		*given = true;
	}
	args[n] = NULL;
	return n;
}

int
main(int argc, char **argv)
{
	const struct subcommand *sc;
	const char *config_path = CONFIG_DEFAULT_PATH;
	bool config_given = false;
	char **args;
	char help_arg[] = "--help";
	char *help_argv[3];
	int n, rc;

	if (argc < 1)
		return 1;
	if ((args = calloc((size_t)argc + 1, sizeof(*args))) == NULL) {
		perror("relayguard");
		return 1;
	}
	/* Usage errors exit 2 (relayguard(8)), failures 1. */
	n = strip_config(argc, argv, args, &config_path, &config_given);
	if (n < 0) {
		free(args);
		return 2;
	}
	if (n < 2) {
		usage(stderr);
		free(args);
		return 2;
	}
	if (strcmp(args[1], "-h") == 0 || strcmp(args[1], "--help") == 0 ||
	    strcmp(args[1], "help") == 0) {
		/* "relayguard help SUBCOMMAND" is "SUBCOMMAND --help". */
		if (n >= 3 && (sc = subcommand_find(args[2])) != NULL) {
			help_argv[0] = args[2];
			help_argv[1] = help_arg;
			help_argv[2] = NULL;
			free(args);
			return sc->fn(2, help_argv, config_path, config_given);
		}
		if (n >= 3 && strcmp(args[2], "help") != 0) {
			/* A typo must not look like help given. */
			fprintf(stderr, "relayguard: unknown subcommand '%s'\n",
			    args[2]);
			usage(stderr);
			free(args);
			return 2;
		}
		usage(stdout);
		free(args);
		return 0;
	}
	if (strcmp(args[1], "--version") == 0) {
		printf("relayguard %s\n", RELAYGUARD_VERSION);
		free(args);
		return 0;
	}
	if (args[1][0] == '-') {
		fprintf(stderr, "relayguard: unknown option '%s'\n", args[1]);
		usage(stderr);
		free(args);
		return 2;
	}
	if ((sc = subcommand_find(args[1])) == NULL) {
		fprintf(stderr, "relayguard: unknown subcommand '%s'\n",
		    args[1]);
		usage(stderr);
		free(args);
		return 2;
	}
	rc = sc->fn(n - 1, args + 1, config_path, config_given);
	free(args);
	return rc;
}
