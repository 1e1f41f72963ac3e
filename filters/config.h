/*
 * config.h — the relayguard.conf parser, shared by the daemon and the tools.
 *
 * One "key value..." per line, '#' starts a comment.  Every key has a
 * default (config_defaults()); an unknown key, a bad value, a bad network or
 * a repeated key is an error naming the file, line and token.  Parsing works
 * on a buffer and makes no system calls; conffile_load() in
 * common/conffile.c reads the file (at most CONFFILE_MAX_SIZE bytes).
 *
 * A list key X may have a twin "X-file PATH" (one entry in the key table
 * of config.c): config_parse() only records the path, conffile_load()
 * reads the file and hands it to config_parse_list(), which adds its
 * entries to the inline ones.  A list file holds one entry a line; '#'
 * starts a comment, blank lines and surrounding blanks are ignored.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include "rg.h"
#include "address.h"
#include "cidr.h"

#define CONFIG_MAX_PORTS 64
#define CONFIG_MAX_LINE 65536
#define CONFIG_PATH_MAX 4096
#define CONFIG_DEFAULT_PATH "/etc/relayguard/relayguard.conf"
#define CONFIG_MAX_KEYS 64
#define CONFIG_OFFLOAD_MARK 0x20000000u	/* offload-mark's default: one bit */		/* room for every key's line */
#define CONFIG_MAX_LIST_FILES 8		/* X-file keys in one configuration */
#define CONFIG_LIST_MAX_LINE 4096	/* a line of a list file */
#define CONFIG_DNSBL_MAX_NS 8		/* dnsbl-ns names */
#define CONFIG_DNS_NAME_MAX 254		/* a domain name and its NUL */
#define CONFIG_MAX_CAPTURE 8		/* capture interfaces */
#define CONFIG_IFNAME_MAX 16		/* IFNAMSIZ: a name and its NUL */
#define CONFIG_MAX_CAPTURE_WORKERS 64	/* = the most queues */
/* dnsbl-zone: room for the longest suffix the daemon adds (".ip6trie.tmp"). */
#define CONFIG_DNSBL_SUFFIX_MAX 16
#define CONFIG_CROWDSEC_URL_MAX 512	/* crowdsec-url, with its NUL */
#define CONFIG_CROWDSEC_ORIGINS 16	/* crowdsec-origins names */
#define CONFIG_CROWDSEC_ORIGIN_MAX 32	/* an origin name and its NUL */

enum config_mode { CONFIG_MODE_ENFORCE, CONFIG_MODE_MONITOR };
enum config_hook { CONFIG_HOOK_FORWARD, CONFIG_HOOK_INPUT };
enum config_starttls { CONFIG_STARTTLS_ALLOW, CONFIG_STARTTLS_STRIP,
	CONFIG_STARTTLS_DENY };
/* What a block drops: TCP to the protected ports, or everything. */
enum config_block_scope { CONFIG_BLOCK_SCOPE_SMTP, CONFIG_BLOCK_SCOPE_ALL };
/* How the DNSBL zone is written (dnsbl-format). */
enum config_dnsbl_format { CONFIG_DNSBL_RBLDNSD };

/* An "X-file PATH" key: where list X gets more entries. */
struct config_list_file {
	const char *key;		/* the list key, "local-domains" (static) */
	char path[CONFIG_PATH_MAX];	/* absolute */
	size_t line;			/* of the X-file key in the configuration */
	bool loaded;			/* config_parse_list() ran */
	uint32_t inline_count;		/* entries of X before the file's */
	uint32_t file_count;		/* entries the file added (new ones) */
};

/* on-block / on-unblock: an absolute program path and fixed arguments,
 * each NUL-terminated one after the other in buf (argc of them; 0: none). */
#define CONFIG_COMMAND_MAX 2048
#define CONFIG_COMMAND_ARGS 16
struct config_command {
	char buf[CONFIG_COMMAND_MAX];
	uint32_t len, argc;
};

struct config {
	struct addr_domains local_domains;	/* default: none */
	struct cidr_set relay_networks;		/* default: none */
	struct cidr_set never_block;		/* default: none */
	struct cidr_set servers;		/* protected servers; default:
						 * none (every address: with hook
						 * input, the host's own) */
	uint16_t ports[CONFIG_MAX_PORTS];	/* default: 25 */
	uint32_t nports;
	enum config_mode mode;			/* default: enforce */
	uint32_t block_after;			/* default: 3 */
	rg_time_t attempt_window;		/* usec; default 10m */
	rg_time_t block_for;			/* usec; default 1h */
	rg_time_t block_for_max;		/* usec; default 7d */
	rg_time_t offence_memory;		/* usec; default 30d; 0: forever */
	enum config_hook hook;			/* default: forward */
	uint16_t queue_first, queue_last;	/* default: 0-0 */
	/* Passive mode (capture instead of queue): the interfaces, how
	 * many workers share them (PACKET_FANOUT), whether a block goes
	 * into the kernel sets, whether relay attempts get RSTs, and the
	 * kernel ring's size per worker and interface. */
	char capture[CONFIG_MAX_CAPTURE][CONFIG_IFNAME_MAX];
	uint32_t ncapture;			/* default: 0 (queue mode) */
	uint32_t capture_workers;		/* default: 1 */
	bool capture_block;			/* default: yes */
	bool capture_reset;			/* default: no */
	bool capture_immediate;			/* default: no */
	uint64_t capture_buffer;		/* bytes; default 16M */
	enum config_starttls starttls;		/* default: allow */
	/* Sessions with nothing left to inspect (authenticated, or TLS
	 * under starttls allow) leave the queue: the daemon marks their
	 * connection (ct mark & offload_mask == offload_mark) and a rule
	 * before the queue accepts it.  default: yes, 0x20000000/same. */
	bool offload;
	uint32_t offload_mark, offload_mask;
	enum config_block_scope block_scope;	/* default: smtp */
	int server_software;			/* enum smtp_software; any */
	uint8_t min_ttl;			/* default: 0 (off) */
	uint32_t max_flows;			/* default: 100000 */
	uint64_t flow_memory;			/* bytes; default 64M */
	char state_db[CONFIG_PATH_MAX];	/* /var/lib/relayguard/state.db */
	char control_socket[CONFIG_PATH_MAX];	/* /run/relayguard/control.sock */
	char event_log[CONFIG_PATH_MAX];	/* JSON lines file; "": none */
	char metrics_file[CONFIG_PATH_MAX];	/* Prometheus text; "": none */
	rg_time_t metrics_interval;		/* usec; default 15s */
	/* The DNSBL zone (daemon/dnsbl.c): the path the dataset files are
	 * named from ("": no zone), its format, TTL, name servers and the
	 * SOA's contact mailbox as a domain name. */
	char dnsbl_zone[CONFIG_PATH_MAX];
	enum config_dnsbl_format dnsbl_format;	/* default: rbldnsd */
	rg_time_t dnsbl_ttl;			/* usec; default 1m */
	char dnsbl_ns[CONFIG_DNSBL_MAX_NS][CONFIG_DNS_NAME_MAX];
	uint32_t dnsbl_nns;
	char dnsbl_contact[CONFIG_DNS_NAME_MAX];	/* "": not given */
	/* CrowdSec's Local API (daemon/crowdsec.c): "" url: off.  Push
	 * needs the machine file, pull the bouncer key file; no origins:
	 * every origin's decisions are applied. */
	char crowdsec_url[CONFIG_CROWDSEC_URL_MAX];
	char crowdsec_ca[CONFIG_PATH_MAX];		/* "": system CAs */
	char crowdsec_machine_file[CONFIG_PATH_MAX];	/* "": no push */
	char crowdsec_bouncer_key_file[CONFIG_PATH_MAX]; /* "": no pull */
	bool crowdsec_push;				/* default: yes */
	rg_time_t crowdsec_pull_interval;		/* usec; default 10s */
	char crowdsec_origins[CONFIG_CROWDSEC_ORIGINS][CONFIG_CROWDSEC_ORIGIN_MAX];
	uint32_t crowdsec_norigins;
	/* Where the values came from, for later checks and warnings:
	 * the name given to config_parse() (cut short if need be) and the
	 * line of each key given (0: its default), see config_key_line(). */
	char file[CONFIG_PATH_MAX];
	uint32_t key_line[CONFIG_MAX_KEYS];
	struct config_list_file list_files[CONFIG_MAX_LIST_FILES];
	uint32_t nlist_files;			/* in configuration order */
	struct config_command on_block;		/* default: none */
	struct config_command on_unblock;	/* default: none */
	rg_time_t hook_timeout;			/* usec; default 5s */
};

/* Fill with the defaults above. */
void config_defaults(struct config *c);

/*
 * Parse text (len bytes, need not be NUL-terminated) named name (for error
 * messages) into c, which must hold defaults.  On error returns false and
 * writes "NAME:LINE: problem 'TOKEN'" into err; c is then unspecified and
 * must be freed.
 */
bool config_parse(const char *name, const char *text, size_t len,
    struct config *c, char *err, size_t errlen);

void config_free(struct config *c);

/* The line that gave key its value, or 0 when it holds its default (or
 * is no key). */
size_t config_key_line(const struct config *c, const char *key);

/* Is addr one of the protected servers?  Every address is when the
 * servers key is empty. */
bool config_server(const struct config *c, const struct rg_addr *addr);

/*
 * What the daemon refuses to run with although the file parses (replay
 * and the other tools accept it): mode enforce without local-domains
 * (every recipient would be foreign: every inbound message reset and its
 * sender blocked), and mode enforce with hook forward and no servers
 * (every port-25 connection crossing the gateway, outgoing mail too,
 * would be judged).  false and "FILE:LINE: problem" in err, naming the
 * key.  relayguard config-test reports the same as an error.
 */
bool config_check_daemon(const struct config *c, char *err, size_t errlen);
/*
 * Add the entries of list file f (one of c->list_files, filled by
 * config_parse()) from text, its len bytes, to f->key's list.  Errors are
 * "PATH:LINE: problem 'TOKEN'" in err; c is then unspecified and must be
 * freed.  Lines longer than CONFIG_LIST_MAX_LINE and NUL bytes are errors.
 */
bool config_parse_list(struct config *c, struct config_list_file *f,
    const char *text, size_t len, char *err, size_t errlen);

/* Thresholds of the "very large network" warning: prefixes shorter than
 * these in relay-networks. */
#define CONFIG_WARN_PREFIX4 8
#define CONFIG_WARN_PREFIX6 32

/* One warning, "FILE:LINE: text" ("FILE: text" for a default value). */
typedef void (*config_warn_fn)(const char *msg, void *arg);

/*
 * Risky settings that are not errors, each reported once through fn;
 * returns how many.  relay-networks covering a /0 or a very large network
 * (shorter than /8 for IPv4, /32 for IPv6), never-block covering a /0,
 * and starttls allow (encrypted
 * sessions cannot be inspected; whether the servers offer STARTTLS is not
 * known here).  relayguard config-test prints them, the daemon logs them
 * at start and reload.  A new key's warnings belong here too.
 */
size_t config_warnings(const struct config *c, config_warn_fn fn, void *arg);

/* Durations "90", "90s", "10m", "1h", "7d", "2w" -> usec.  Sizes "64M",
 * "512K", "1G", "4096" -> bytes.  Both reject overflow and junk. */
bool config_parse_duration(const char *s, size_t len, rg_time_t *out);
bool config_parse_size(const char *s, size_t len, uint64_t *out);
/* "1h", "10m", "90s", "7d" — the shortest exact form. */
const char *config_duration_str(rg_time_t usec, char *buf, size_t len);

/* Write the effective configuration in config-file syntax (config-test). */
size_t config_format(const struct config *c, char *buf, size_t len);

#endif
