/* vchunkfs options: the fuse_opt table for the command line, the inih config files, and
 * the rule that the command line overrides the files. */
#include "fs/options.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>
#include <sodium.h>

#include "util/error_i.h"

enum vc_fs_setting_kind {
	SETTING_PATH,	  /* a string, stored as a heap copy */
	SETTING_FLAG,	  /* a flag: no value on the command line, yes/no in files */
	SETTING_UNSIGNED, /* unsigned int within [min, max] */
	SETTING_INT,	  /* int within [min, max] */
	SETTING_SECONDS,  /* decimal seconds within [min, max] milliseconds, stored as long ms */
};

/* One setting, by the name used both after -o and as a config file key. */
struct vc_fs_setting {
	const char *name;
	unsigned set_bit; /* VC_FS_SET_* (0: command line only, never in a file) */
	enum vc_fs_setting_kind kind;
	size_t offset;
	long min, max;
	bool flag_value; /* what a bare flag stores (rw: true, ro: false, both into writable) */
};

#define FIELD(f) offsetof(vc_fs_options, f)

static const struct vc_fs_setting settings[] = {
    {"key_file", VC_FS_SET_KEY_FILE, SETTING_PATH, FIELD(key_file), 0, 0, false},
    {"cache_mb", VC_FS_SET_CACHE_MB, SETTING_UNSIGNED, FIELD(cache_mb), 1, 1048576, false},
    {"allow_other", VC_FS_SET_ALLOW_OTHER, SETTING_FLAG, FIELD(allow_other), 0, 0, true},
    /* rw adds the files that change the session (ingest, delete, ctl); ro, the default, leaves
     * them out. The later of the two wins. Neither reaches the kernel: its mount is never
     * read-only (the query files take writes) and the daemon refuses every other change with
     * EROFS (see docs/vchunkfs.1). */
    {"ro", VC_FS_SET_READ_ONLY, SETTING_FLAG, FIELD(writable), 0, 0, false},
    {"rw", VC_FS_SET_READ_ONLY, SETTING_FLAG, FIELD(writable), 0, 0, true},
    {"timeout", VC_FS_SET_TIMEOUT, SETTING_SECONDS, FIELD(timeout_ms), 1, 3600000, false},
    {"retries", VC_FS_SET_RETRIES, SETTING_INT, FIELD(retries), 0, 20, false},
    {"manifest_ttl", VC_FS_SET_MANIFEST_TTL, SETTING_UNSIGNED, FIELD(manifest_ttl), 0, 86400,
     false},
    {"max_threads", VC_FS_SET_MAX_THREADS, SETTING_UNSIGNED, FIELD(max_threads), 1, 256, false},
    {"max_read", VC_FS_SET_MAX_READ, SETTING_UNSIGNED, FIELD(max_read), 4096, 16777216, false},
    {"direct_io", VC_FS_SET_DIRECT_IO, SETTING_FLAG, FIELD(direct_io), 0, 0, true},
    {"debug", VC_FS_SET_DEBUG, SETTING_FLAG, FIELD(debug), 0, 0, true},
    {"config", 0, SETTING_PATH, FIELD(config_file), 0, 0, false},
    {"passphrase_fd", 0, SETTING_INT, FIELD(passphrase_fd), 0, INT_MAX, false},
};

enum {
	KEY_SETTING,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_SINGLE_THREAD,
	KEY_HELP,
	KEY_VERSION,
};

/* Every -o option of ours is routed through vc_fs_option_set, so the command line and the
 * config files share one validator. Anything not listed here is left for FUSE. */
static const struct fuse_opt fuse_option_table[] = {
    FUSE_OPT_KEY("key_file=", KEY_SETTING),
    FUSE_OPT_KEY("cache_mb=", KEY_SETTING),
    FUSE_OPT_KEY("allow_other", KEY_SETTING),
    FUSE_OPT_KEY("ro", KEY_SETTING),
    FUSE_OPT_KEY("rw", KEY_SETTING),
    FUSE_OPT_KEY("timeout=", KEY_SETTING),
    FUSE_OPT_KEY("retries=", KEY_SETTING),
    FUSE_OPT_KEY("manifest_ttl=", KEY_SETTING),
    FUSE_OPT_KEY("max_threads=", KEY_SETTING),
    FUSE_OPT_KEY("max_read=", KEY_SETTING),
    FUSE_OPT_KEY("direct_io", KEY_SETTING),
    FUSE_OPT_KEY("config=", KEY_SETTING),
    FUSE_OPT_KEY("passphrase_fd=", KEY_SETTING),
    FUSE_OPT_KEY("debug", KEY_DEBUG),
    FUSE_OPT_KEY("-d", KEY_DEBUG),
    FUSE_OPT_KEY("-f", KEY_FOREGROUND),
    FUSE_OPT_KEY("-s", KEY_SINGLE_THREAD),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_END,
};

void vc_fs_options_init(vc_fs_options *options)
{
	memset(options, 0, sizeof(*options));
	options->passphrase_fd = -1;
	options->cache_mb = VC_FS_DEFAULT_CACHE_MB;
	options->timeout_ms = VC_FS_DEFAULT_TIMEOUT_MS;
	options->retries = VC_FS_DEFAULT_RETRIES;
	options->manifest_ttl = VC_FS_DEFAULT_MANIFEST_TTL;
	options->max_threads = VC_FS_DEFAULT_MAX_THREADS;
	options->max_read = VC_FS_DEFAULT_MAX_READ;
}

void vc_fs_options_free(vc_fs_options *options)
{
	free(options->session);
	free(options->mountpoint);
	free(options->key_file);
	free(options->config_file);
	if (options->passphrase)
		sodium_free(options->passphrase); /* wipes before freeing */
	options->session = NULL;
	options->mountpoint = NULL;
	options->key_file = NULL;
	options->config_file = NULL;
	options->passphrase = NULL;
}

static const struct vc_fs_setting *setting_find(const char *name)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	}
	return NULL;
}

static bool parse_bool(const char *value, bool *out)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool parse_long(const char *value, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(value, &end, 10);
	return errno == 0 && end != value && *end == '\0';
}

static vc_err store_value(vc_fs_options *options, const struct vc_fs_setting *s, const char *value)
{
	char *field = (char *)options + s->offset;
	long number;
	double seconds;
	char *end;
	bool flag;

	switch (s->kind) {
	case SETTING_PATH: {
		char *copy;

		if (value == NULL || value[0] == '\0')
			return vc_fail(VC_ERR_INVALID, "option %s needs a file name", s->name);
		copy = strdup(value);
		if (copy == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory storing option %s", s->name);
		free(*(char **)field);
		*(char **)field = copy;
		return VC_OK;
	}
	case SETTING_FLAG:
		flag = true;
		if (value != NULL && !parse_bool(value, &flag))
			return vc_fail(VC_ERR_INVALID, "option %s takes yes or no, not '%s'",
				       s->name, value);
		*(bool *)field = flag ? s->flag_value : !s->flag_value;
		return VC_OK;
	case SETTING_UNSIGNED:
	case SETTING_INT:
		if (value == NULL || !parse_long(value, &number) || number < s->min ||
		    number > s->max)
			return vc_fail(VC_ERR_INVALID,
				       "option %s needs a whole number from %ld to %ld, not '%s'",
				       s->name, s->min, s->max, value ? value : "");
		if (s->kind == SETTING_UNSIGNED)
			*(unsigned *)field = (unsigned)number;
		else
			*(int *)field = (int)number;
		return VC_OK;
	case SETTING_SECONDS:
		errno = 0;
		seconds = value ? strtod(value, &end) : NAN;
		if (value == NULL || errno != 0 || end == value || *end != '\0' ||
		    !isfinite(seconds) || seconds * 1000.0 < (double)s->min ||
		    seconds * 1000.0 > (double)s->max)
			return vc_fail(
			    VC_ERR_INVALID, "option %s needs seconds from %.3f to %ld, not '%s'",
			    s->name, (double)s->min / 1000.0, s->max / 1000, value ? value : "");
		*(long *)field = lround(seconds * 1000.0);
		return VC_OK;
	}
	return vc_fail(VC_ERR_INVALID, "option %s has no type", s->name);
}

vc_err vc_fs_option_set(vc_fs_options *options, const char *name, const char *value,
			bool from_command_line)
{
	const struct vc_fs_setting *s = setting_find(name);
	vc_err err;

	if (s == NULL)
		return vc_fail(VC_ERR_INVALID, "unknown option '%s'", name);
	if (!from_command_line) {
		if (s->set_bit == 0)
			return vc_fail(VC_ERR_INVALID,
				       "option %s is only accepted on the command line", name);
		if (options->set & s->set_bit)
			return VC_OK; /* the command line wins */
	}
	err = store_value(options, s, value);
	if (err != VC_OK)
		return err;
	if (from_command_line)
		options->set |= s->set_bit;
	return VC_OK;
}

/* Split "name=value" and apply it as a command-line setting. */
static vc_err set_from_argument(vc_fs_options *options, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char name[64];
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);

	if (len >= sizeof(name))
		return vc_fail(VC_ERR_INVALID, "option name too long: %s", arg);
	memcpy(name, arg, len);
	name[len] = '\0';
	return vc_fs_option_set(options, name, eq ? eq + 1 : NULL, true);
}

static int take_positional(vc_fs_options *options, const char *arg)
{
	char **slot = options->session == NULL	    ? &options->session
		      : options->mountpoint == NULL ? &options->mountpoint
						    : NULL;

	if (slot == NULL) {
		vc_fail(VC_ERR_INVALID, "unexpected argument '%s' (usage: SESSION MOUNTPOINT)",
			arg);
		return -1;
	}
	*slot = strdup(arg);
	if (*slot == NULL) {
		vc_fail(VC_ERR_NOMEM, "out of memory");
		return -1;
	}
	return 0;
}

/* fuse_opt callback: 0 drops the argument, 1 keeps it for FUSE, -1 stops with an error. */
static int option_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	vc_fs_options *options = data;

	(void)outargs;
	switch (key) {
	case KEY_SETTING: return set_from_argument(options, arg) == VC_OK ? 0 : -1;
	case KEY_DEBUG:
		options->debug = true;
		options->foreground = true;
		options->set |= VC_FS_SET_DEBUG;
		return 0;
	case KEY_FOREGROUND: options->foreground = true; return 0;
	case KEY_SINGLE_THREAD: options->single_thread = true; return 0;
	case KEY_HELP: options->show_help = true; return 0;
	case KEY_VERSION: options->show_version = true; return 0;
	case FUSE_OPT_KEY_NONOPT: return take_positional(options, arg);
	default: return 1; /* not ours: FUSE decides */
	}
}

vc_err vc_fs_options_parse_args(vc_fs_options *options, struct fuse_args *args)
{
	vc_clear_error();
	if (fuse_opt_parse(args, options, fuse_option_table, option_proc) != 0) {
		if (vc_last_error()[0] == '\0')
			return vc_fail(VC_ERR_INVALID, "cannot parse the command line");
		return VC_ERR_INVALID;
	}
	return VC_OK;
}

struct ini_context {
	vc_fs_options *options;
	const char *path;
	char message[512]; /* first error, reported with the line inih returns */
};

static int config_entry(void *user, const char *section, const char *name, const char *value)
{
	struct ini_context *ctx = user;
	vc_err err;

	if (section[0] != '\0' && strcmp(section, "vchunkfs") != 0) {
		if (ctx->message[0] == '\0')
			snprintf(ctx->message, sizeof(ctx->message),
				 "unknown section [%s] (use [vchunkfs])", section);
		return 0;
	}
	err = vc_fs_option_set(ctx->options, name, value, false);
	if (err != VC_OK) {
		if (ctx->message[0] == '\0')
			snprintf(ctx->message, sizeof(ctx->message), "%s", vc_last_error());
		return 0;
	}
	return 1;
}

vc_err vc_fs_options_load_file(vc_fs_options *options, const char *path, bool required)
{
	struct ini_context ctx = {.options = options, .path = path};
	FILE *file = fopen(path, "r");
	int line;

	if (file == NULL) {
		if (errno == ENOENT && !required)
			return VC_OK;
		return vc_fail(errno == ENOENT ? VC_ERR_NOT_FOUND : VC_ERR_IO, "config file %s: %s",
			       path, strerror(errno));
	}
	line = ini_parse_file(file, config_entry, &ctx);
	fclose(file);
	if (line == -2)
		return vc_fail(VC_ERR_NOMEM, "config file %s: out of memory", path);
	if (line != 0)
		return vc_fail(VC_ERR_INVALID, "config file %s line %d: %s", path, line,
			       ctx.message[0] ? ctx.message : "syntax error");
	return VC_OK;
}

vc_err vc_fs_options_load_configs(vc_fs_options *options, const char *system_path)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char user_path[PATH_MAX];
	vc_err err;
	int n;

	if (options->config_file != NULL)
		return vc_fs_options_load_file(options, options->config_file, true);
	if (system_path != NULL) {
		err = vc_fs_options_load_file(options, system_path, false);
		if (err != VC_OK)
			return err;
	}
	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(user_path, sizeof(user_path), "%s/vchunkfs/config.ini", xdg);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(user_path, sizeof(user_path), "%s/.config/vchunkfs/config.ini", home);
	else
		return VC_OK;
	if (n < 0 || (size_t)n >= sizeof(user_path))
		return VC_OK;
	/* The user's file overrides the system one: it is applied as a file too, after it. */
	return vc_fs_options_load_file(options, user_path, false);
}

/* Read the passphrase from @p fd up to EOF or the first newline into sodium_malloc memory. */
static vc_err read_passphrase_fd(vc_fs_options *options, int fd)
{
	char *buf;
	size_t len = 0;

	if (sodium_init() < 0)
		return vc_fail(VC_ERR_NOMEM, "libsodium failed to initialise");
	buf = sodium_malloc(VC_FS_PASSPHRASE_MAX + 1);
	if (buf == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for the passphrase");
	while (len < VC_FS_PASSPHRASE_MAX) {
		ssize_t got = read(fd, buf + len, VC_FS_PASSPHRASE_MAX - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int saved = errno;

			sodium_free(buf);
			return vc_fail(VC_ERR_IO, "passphrase_fd=%d: %s", fd, strerror(saved));
		}
		if (got == 0 || memchr(buf + len, '\n', (size_t)got) != NULL) {
			len += (size_t)got;
			break;
		}
		len += (size_t)got;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	close(fd);
	if (buf[0] == '\0') {
		sodium_free(buf);
		return vc_fail(VC_ERR_INVALID, "passphrase_fd=%d gave an empty passphrase", fd);
	}
	options->passphrase = buf;
	return VC_OK;
}

static vc_err passphrase_from_environment(vc_fs_options *options)
{
	char *value = getenv("VCHUNK_PASSPHRASE");
	size_t len;

	if (value == NULL || value[0] == '\0')
		return VC_OK;
	len = strlen(value);
	if (len > VC_FS_PASSPHRASE_MAX)
		return vc_fail(VC_ERR_TOO_BIG, "VCHUNK_PASSPHRASE is longer than %u bytes",
			       VC_FS_PASSPHRASE_MAX);
	if (sodium_init() < 0)
		return vc_fail(VC_ERR_NOMEM, "libsodium failed to initialise");
	options->passphrase = sodium_malloc(len + 1);
	if (options->passphrase == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for the passphrase");
	memcpy(options->passphrase, value, len + 1);
	/* Keep the passphrase out of /proc/PID/environ for the daemon's lifetime. */
	sodium_memzero(value, len);
	unsetenv("VCHUNK_PASSPHRASE");
	return VC_OK;
}

/* Make a local session path absolute: the daemon changes to / when it detaches. */
static vc_err absolute_session(vc_fs_options *options)
{
	const char *path = options->session;
	bool prefixed = strncmp(path, "dir:", 4) == 0;
	char resolved[PATH_MAX];
	char *copy;

	if (strstr(path, "://") != NULL)
		return VC_OK;
	if (prefixed)
		path += 4;
	if (realpath(path, resolved) == NULL)
		return VC_OK; /* opening it reports the problem with the name as given */
	if (asprintf(&copy, "%s%s", prefixed ? "dir:" : "", resolved) < 0)
		return vc_fail(VC_ERR_NOMEM, "out of memory");
	free(options->session);
	options->session = copy;
	return VC_OK;
}

static vc_err absolute_path(char **slot, const char *what, bool must_exist)
{
	char resolved[PATH_MAX];
	char *copy;

	if (realpath(*slot, resolved) == NULL) {
		if (!must_exist)
			return VC_OK;
		return vc_fail(errno == ENOENT ? VC_ERR_NOT_FOUND : VC_ERR_IO, "%s %s: %s", what,
			       *slot, strerror(errno));
	}
	copy = strdup(resolved);
	if (copy == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory");
	free(*slot);
	*slot = copy;
	return VC_OK;
}

vc_err vc_fs_options_finish(vc_fs_options *options)
{
	vc_err err;

	if (options->session == NULL)
		return vc_fail(VC_ERR_INVALID, "missing SESSION (usage: vchunkfs [options] "
					       "SESSION MOUNTPOINT)");
	if (options->mountpoint == NULL)
		return vc_fail(VC_ERR_INVALID, "missing MOUNTPOINT (usage: vchunkfs [options] "
					       "SESSION MOUNTPOINT)");
	if (options->key_file != NULL && options->passphrase_fd >= 0)
		return vc_fail(VC_ERR_INVALID, "give either key_file= or passphrase_fd=, not both");
	err = absolute_session(options);
	if (err == VC_OK)
		err = absolute_path(&options->mountpoint, "mount point", true);
	if (err == VC_OK && options->key_file != NULL)
		err = absolute_path(&options->key_file, "key file", false);
	if (err != VC_OK)
		return err;
	if (options->passphrase_fd >= 0)
		return read_passphrase_fd(options, options->passphrase_fd);
	if (options->key_file == NULL)
		return passphrase_from_environment(options);
	return VC_OK;
}

vc_err vc_fs_options_fuse_args(const vc_fs_options *options, struct fuse_args *args)
{
	char *mount_options = NULL;
	char *fsname = NULL;
	char max_read[48];
	vc_err err = VC_ERR_NOMEM;

	snprintf(max_read, sizeof(max_read), "max_read=%u", options->max_read);
	if (asprintf(&fsname, "fsname=%s", options->session) < 0) {
		fsname = NULL;
		goto out;
	}
	/* fsname is escaped: a session URL may hold commas. */
	if (fuse_opt_add_opt_escaped(&mount_options, fsname) != 0 ||
	    fuse_opt_add_opt(&mount_options, "subtype=vchunkfs") != 0 ||
	    fuse_opt_add_opt(&mount_options, "default_permissions") != 0 ||
	    fuse_opt_add_opt(&mount_options, max_read) != 0)
		goto out;
	if (options->allow_other && fuse_opt_add_opt(&mount_options, "allow_other") != 0)
		goto out;
	if (options->debug && fuse_opt_add_opt(&mount_options, "debug") != 0)
		goto out;
	if (fuse_opt_add_arg(args, "-o") != 0 || fuse_opt_add_arg(args, mount_options) != 0)
		goto out;
	err = VC_OK;
out:
	free(fsname);
	free(mount_options);
	return err == VC_OK ? VC_OK : vc_fail(err, "out of memory building the mount options");
}

void vc_fs_options_open(const vc_fs_options *options, vc_open_options *out)
{
	memset(out, 0, sizeof(*out));
	out->key_file = options->key_file;
	out->passphrase = options->passphrase;
	out->cache_bytes = (size_t)options->cache_mb * 1024u * 1024u;
	out->store.timeout_ms = options->timeout_ms;
	/* Connecting gets the same bound unless that is longer than the library default. */
	out->store.connect_timeout_ms = options->timeout_ms < 5000 ? options->timeout_ms : 5000;
	out->store.retries = options->retries == 0 ? -1 : options->retries;
}

void vc_fs_options_usage(const char *program)
{
	printf("usage: %s [-f] [-d] [-s] [-o OPTIONS] SESSION MOUNTPOINT\n"
	       "\n"
	       "Mount a vchunk session, read-only unless -o rw. SESSION is a directory,\n"
	       "dir:PATH or s5+http://HOST:PORT/SESSION_PATH.\n"
	       "\n"
	       "  -f                     stay in the foreground\n"
	       "  -d, -o debug           debug output (implies -f)\n"
	       "  -s                     single-threaded\n"
	       "  -h, --help             this text and the FUSE options\n"
	       "  -V, --version          versions\n"
	       "  -o key_file=FILE       32-byte key file\n"
	       "  -o passphrase_fd=N     read the passphrase from file descriptor N\n"
	       "                         (or set VCHUNK_PASSPHRASE)\n"
	       "  -o cache_mb=N          decrypted-chunk cache budget in MiB (default %u)\n"
	       "  -o timeout=SECONDS     bound on each backend request (default %ld)\n"
	       "  -o retries=N           retries of a failed backend request (default %d)\n"
	       "  -o manifest_ttl=SECONDS  look for a new epoch this often, 0: never (default %u)\n"
	       "  -o max_threads=N       FUSE worker threads (default %u)\n"
	       "  -o max_read=BYTES      largest read request (default %u)\n"
	       "  -o direct_io           chunk reads bypass the kernel page cache: faster\n"
	       "                         first reads with large requests, slower small reads\n"
	       "  -o allow_other         let other users see the mount\n"
	       "  -o rw                  add ingest, delete and ctl: change the session through\n"
	       "                         the mount (see vchunkfs(1), WRITING)\n"
	       "  -o ro                  no changes to the session, the default (the query files\n"
	       "                         take writes either way)\n"
	       "  -o config=FILE         read FILE instead of %s and\n"
	       "                         ~/.config/vchunkfs/config.ini\n"
	       "\n",
	       program, VC_FS_DEFAULT_CACHE_MB, VC_FS_DEFAULT_TIMEOUT_MS / 1000,
	       VC_FS_DEFAULT_RETRIES, VC_FS_DEFAULT_MANIFEST_TTL, VC_FS_DEFAULT_MAX_THREADS,
	       VC_FS_DEFAULT_MAX_READ, VC_FS_SYSTEM_CONFIG);
}
