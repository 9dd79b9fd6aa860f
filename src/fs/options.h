/* vchunkfs options: the fuse_opt table for the command line, the inih config files, and
 * the rule that the command line overrides the files (docs/vchunkfs.1 lists every option). */
#ifndef VC_FS_OPTIONS_H
#define VC_FS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#define FUSE_USE_VERSION 312
#include <fuse_opt.h>

#include "vchunk/error.h"
#include "vchunk/session.h"

#define VC_FS_SYSTEM_CONFIG "/etc/vchunkfs.conf"
#define VC_FS_DEFAULT_CACHE_MB 150u
#define VC_FS_DEFAULT_TIMEOUT_MS 30000L
#define VC_FS_DEFAULT_RETRIES 4
#define VC_FS_DEFAULT_MANIFEST_TTL 30u
#define VC_FS_DEFAULT_MAX_THREADS 10u
/* A chunk reply of max_read bytes plus libfuse's header must fit a pipe no larger than
 * /proc/sys/fs/pipe-max-size (1 MiB by default) to be spliced without a copy (read_pipe.h). */
#define VC_FS_DEFAULT_MAX_READ (512u * 1024u)
#define VC_FS_PASSPHRASE_MAX 4096u

/* Bits of vc_fs_options.set: which settings the command line gave (files may not override). */
enum {
	VC_FS_SET_KEY_FILE = 1u << 0,
	VC_FS_SET_CACHE_MB = 1u << 1,
	VC_FS_SET_ALLOW_OTHER = 1u << 2,
	VC_FS_SET_READ_ONLY = 1u << 3,
	VC_FS_SET_TIMEOUT = 1u << 4,
	VC_FS_SET_RETRIES = 1u << 5,
	VC_FS_SET_MANIFEST_TTL = 1u << 6,
	VC_FS_SET_DEBUG = 1u << 7,
	VC_FS_SET_MAX_THREADS = 1u << 8,
	VC_FS_SET_MAX_READ = 1u << 9,
	VC_FS_SET_DIRECT_IO = 1u << 10,
};

/**
 * Everything the daemon was asked to do. Strings are heap copies owned by
 * the struct (vc_fs_options_free); the passphrase lives in sodium_malloc
 * memory and is wiped when freed. Not thread-safe; filled before the FUSE
 * loop starts and read-only afterwards.
 */
typedef struct vc_fs_options {
	char *session;	       /**< SESSION argument (path, dir:PATH, s5+http://...) */
	char *mountpoint;      /**< MOUNTPOINT argument */
	char *key_file;	       /**< key_file= */
	char *config_file;     /**< config=: read this file instead of the default ones */
	char *passphrase;      /**< from VCHUNK_PASSPHRASE or passphrase_fd= (sodium_malloc) */
	int passphrase_fd;     /**< passphrase_fd=, -1 if not given */
	unsigned cache_mb;     /**< cache_mb=, default 150 */
	long timeout_ms;       /**< timeout= (seconds, decimals allowed) per backend request */
	int retries;	       /**< retries= after the first try, 0 for none */
	unsigned manifest_ttl; /**< manifest_ttl= seconds between epoch checks, 0: never */
	unsigned max_threads;  /**< max_threads= FUSE worker threads */
	unsigned max_read;     /**< max_read= largest read request, bytes */
	bool allow_other;
	bool direct_io;	    /**< direct_io: chunk reads bypass the kernel page cache */
	bool writable;	    /**< rw: ingest, delete and ctl change the session (write.h) */
	bool debug;	    /**< -d / -o debug: FUSE request trace and debug log lines */
	bool foreground;    /**< -f (implied by -d) */
	bool single_thread; /**< -s */
	bool show_help;	    /**< -h / --help */
	bool show_version;  /**< -V / --version */
	unsigned set;	    /**< VC_FS_SET_* bits given on the command line */
} vc_fs_options;

/** Defaults for every field (no strings allocated). */
void vc_fs_options_init(vc_fs_options *options);

/** Free the strings and wipe the passphrase. The struct may be re-initialised after. */
void vc_fs_options_free(vc_fs_options *options);

/**
 * Parse the command line with the fuse_opt table. Our options are taken
 * out of @p args; options we do not know stay in it for FUSE (fuse_new
 * rejects the ones it does not know either). VC_ERR_INVALID with a message
 * naming the option on a bad value or a third positional argument.
 */
vc_err vc_fs_options_parse_args(vc_fs_options *options, struct fuse_args *args);

/**
 * Apply one setting by name ("cache_mb", "150"). @p from_command_line marks
 * it as given there; a setting from a file does not replace one given on the
 * command line. Flags (allow_other, ro, rw, debug) take no value on the
 * command line and yes/no/true/false/1/0 in a file.
 */
vc_err vc_fs_option_set(vc_fs_options *options, const char *name, const char *value,
			bool from_command_line);

/**
 * Read one inih file: keys at the top or in a [vchunkfs] section. A missing
 * file is VC_ERR_NOT_FOUND when @p required, else ignored. Unknown keys,
 * other sections and bad values are VC_ERR_INVALID naming file and line.
 */
vc_err vc_fs_options_load_file(vc_fs_options *options, const char *path, bool required);

/**
 * Read the config files: config= alone if it was given, otherwise
 * @p system_path (normally VC_FS_SYSTEM_CONFIG) and then the user's
 * $XDG_CONFIG_HOME/vchunkfs/config.ini (default ~/.config/...), the later
 * overriding the earlier, the command line overriding both.
 */
vc_err vc_fs_options_load_configs(vc_fs_options *options, const char *system_path);

/**
 * Get the passphrase: from passphrase_fd= (read to EOF or the first newline,
 * then closed), else from VCHUNK_PASSPHRASE unless a key file is set (the
 * variable is wiped from the environment once read). Checks that the session
 * and mount point were given and that key file and passphrase_fd are not
 * both set.
 */
vc_err vc_fs_options_finish(vc_fs_options *options);

/**
 * Add the mount options the daemon always wants to @p args: fsname (the
 * session), subtype=vchunkfs, ro unless rw, default_permissions, max_read,
 * allow_other when asked, debug when asked.
 */
vc_err vc_fs_options_fuse_args(const vc_fs_options *options, struct fuse_args *args);

/** The library's open options for these settings (pointers borrow from @p options). */
void vc_fs_options_open(const vc_fs_options *options, vc_open_options *out);

/** Print the usage text (options of vchunkfs itself) to stdout. */
void vc_fs_options_usage(const char *program);

#endif
