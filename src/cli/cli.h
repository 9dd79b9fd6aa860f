/* What the vchunk commands share: option parsing helpers, key handling, errors and exit codes. */
#ifndef VC_CLI_H
#define VC_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "legacy/legacy.h"
#include "vchunk/vchunk.h"

/* Exit codes of every command. */
#define VC_EXIT_OK 0
#define VC_EXIT_ERROR 1
#define VC_EXIT_USAGE 2

/** A command: its name, one-line summary, usage text and entry point. */
typedef struct vc_command {
	const char *name;
	const char *summary;
	const char *usage; /**< "vchunk NAME [options] ARGS" */
	const char *help;  /**< option descriptions for --help */
	int (*run)(const struct vc_command *command, int argc, char **argv);
} vc_command;

/** How a command was told to find its key (options and environment). */
typedef struct vc_cli_keys {
	const char *key_file; /**< --key, else VCHUNK_KEY_FILE */
	bool ask_passphrase;  /**< --passphrase given */
	bool no_encryption;   /**< --no-encryption (import) */
	char *passphrase;     /**< resolved passphrase in sodium_malloc memory, or NULL */
} vc_cli_keys;

/* getopt values of the long options without a short form. */
#define VC_CLI_OPT_PASSPHRASE 1000
#define VC_CLI_OPT_NO_ENCRYPTION 1001

/*
 * Every command's option parser returns VC_CLI_CONTINUE when the command should run, or the
 * exit status to end with (after --help, or a usage error already reported).
 */
#define VC_CLI_CONTINUE (-1)

/**
 * Parse the options of a command that takes only --key, --passphrase and --help, followed by
 * exactly @p positional arguments (from argv[optind] on return). @p missing is the message
 * when there are fewer.
 */
int vc_cli_parse_keyed(const vc_command *command, int argc, char **argv, vc_cli_keys *keys,
		       int positional, const char *missing);

/**
 * Report a usage problem: "vchunk: MESSAGE", the command's usage line and a
 * pointer to --help on stderr. Returns VC_EXIT_USAGE.
 */
int vc_cli_usage_error(const vc_command *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** The getopt result for an unknown option or missing argument, as a usage error. */
int vc_cli_bad_option(const vc_command *command, int opt, char **argv);

/** Print the full help of @p command on stdout. Returns VC_EXIT_OK. */
int vc_cli_help(const vc_command *command);

/** Print "vchunk: " + vc_last_error() on stderr. Returns VC_EXIT_ERROR. */
int vc_cli_fail(void);

/** Print "vchunk: " + a formatted message on stderr. Returns VC_EXIT_ERROR. */
int vc_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * Fill in what the options left open from VCHUNK_KEY_FILE and
 * VCHUNK_PASSPHRASE, and prompt for the passphrase on the terminal (without
 * echo) when --passphrase was given and VCHUNK_PASSPHRASE is not set.
 * @p confirm asks twice (for a new session).
 */
vc_err vc_cli_keys_resolve(vc_cli_keys *keys, bool confirm);

/** Wipe and free the passphrase. */
void vc_cli_keys_free(vc_cli_keys *keys);

/**
 * Open a session with the resolved keys. On a wrong key the message names
 * the session's key id and the given key's id; on a missing key it says how
 * to give one.
 */
vc_err vc_cli_open(const char *uri, const vc_cli_keys *keys, size_t cache_bytes, vc_session **out);

/** --allow-rollback was given (main.c takes it out of argv for every command). */
extern bool vc_cli_allow_rollback;

/** Parse a non-negative integer option value in [min, max]. */
bool vc_cli_parse_uint(const char *text, unsigned long long min, unsigned long long max,
		       unsigned long long *out);

/** Lowercase hex of @p len bytes into @p out (2*len+1 bytes). */
void vc_cli_hex(const uint8_t *bytes, size_t len, char *out);

/** Write all of @p data to stdout; VC_ERR_IO with a message on failure. */
vc_err vc_cli_write_stdout(const void *data, size_t len);

int vc_cmd_keygen(const vc_command *command, int argc, char **argv);
int vc_cmd_import(const vc_command *command, int argc, char **argv);
int vc_cmd_inspect(const vc_command *command, int argc, char **argv);
int vc_cmd_verify(const vc_command *command, int argc, char **argv);
int vc_cmd_cat(const vc_command *command, int argc, char **argv);
int vc_cmd_export(const vc_command *command, int argc, char **argv);
int vc_cmd_query(const vc_command *command, int argc, char **argv);
int vc_cmd_convert(const vc_command *command, int argc, char **argv);
int vc_cmd_add(const vc_command *command, int argc, char **argv);
int vc_cmd_delete(const vc_command *command, int argc, char **argv);
int vc_cmd_update(const vc_command *command, int argc, char **argv);
int vc_cmd_compact(const vc_command *command, int argc, char **argv);
int vc_cmd_gc(const vc_command *command, int argc, char **argv);

/* ---- sessions of the original Rust system (cli_legacy.c) ---- */

/**
 * If the session at @p uri has a legacy manifest (vc_legacy_detect), open it read-only into
 * *out; otherwise leave *out NULL and return VC_OK (also when the manifest cannot be read:
 * the normal open then reports that). Errors are those of vc_legacy_open.
 */
vc_err vc_cli_legacy_probe(const char *uri, vc_legacy **out);

/** inspect, verify and cat of a legacy session; each returns the exit status. */
int vc_cli_legacy_inspect(const char *uri, const vc_legacy *legacy, bool as_json);
int vc_cli_legacy_verify(const char *uri, const vc_legacy *legacy);
int vc_cli_legacy_cat(const char *uri, const vc_legacy *legacy, const char *path);

#endif
