/*
 * tools.h — the subcommands of the relayguard command.
 *
 * Each subcommand is a cmd_fn: argv[0] is the subcommand name, the global
 * -c/--config option has already been taken out of argv, and config_path
 * is the file to use (CONFIG_DEFAULT_PATH unless config_given).  It returns
 * the process exit status.
 */
#ifndef TOOLS_H
#define TOOLS_H

#include <stdbool.h>


typedef int (*cmd_fn)(int argc, char **argv, const char *config_path,
    bool config_given);

/* relayguard.c */
int cmd_config_test(int argc, char **argv, const char *config_path,
    bool config_given);

/* replay.c: pcap/pcapng files through filters/, events on stdout. */
int cmd_replay(int argc, char **argv, const char *config_path,
    bool config_given);

/* ctl.c: the daemon-control subcommands, through the control socket. */
int cmd_status(int argc, char **argv, const char *config_path,
    bool config_given);
int cmd_blocks(int argc, char **argv, const char *config_path,
    bool config_given);
int cmd_block(int argc, char **argv, const char *config_path,
    bool config_given);
int cmd_unblock(int argc, char **argv, const char *config_path,
    bool config_given);
int cmd_forget(int argc, char **argv, const char *config_path,
    bool config_given);
int cmd_reopen(int argc, char **argv, const char *config_path,
    bool config_given);
int cmd_why(int argc, char **argv, const char *config_path,
    bool config_given);
int cmd_reload(int argc, char **argv, const char *config_path,
    bool config_given);
int cmd_import(int argc, char **argv, const char *config_path,
    bool config_given);

/* check.c: probe a mail server for open relaying. */
int cmd_check(int argc, char **argv, const char *config_path,
    bool config_given);

#endif
