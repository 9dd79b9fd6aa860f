/* Tests of vchunkfs option handling: the fuse_opt table, config files, precedence, passphrase. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs/options.h"

struct fixture {
	char dir[64]; /* a temporary directory for config files and mount points */
	vc_fs_options options;
	struct fuse_args args;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vchunkfs-options-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	vc_fs_options_init(&f->options);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	vc_fs_options_free(&f->options);
	fuse_opt_free_args(&f->args);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Parse a NULL-terminated argument list (argv[0] included) into f->options and f->args. */
static vc_err parse(struct fixture *f, const char *const *argv)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	fuse_opt_free_args(&f->args);
	f->args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	for (int i = 0; i < argc; i++)
		assert_int_equal(fuse_opt_add_arg(&f->args, argv[i]), 0);
	return vc_fs_options_parse_args(&f->options, &f->args);
}

static void write_file(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");

	assert_non_null(file);
	assert_int_equal(fputs(text, file) >= 0, 1);
	assert_int_equal(fclose(file), 0);
}

/* Is @p text one of the remaining arguments, or inside a "-o a,b" list among them? */
static bool args_contain(const struct fuse_args *args, const char *text)
{
	for (int i = 0; i < args->argc; i++) {
		if (strstr(args->argv[i], text) != NULL)
			return true;
	}
	return false;
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(f->options.cache_mb, 150);
	assert_int_equal(f->options.timeout_ms, VC_FS_DEFAULT_TIMEOUT_MS);
	assert_int_equal(f->options.retries, VC_FS_DEFAULT_RETRIES);
	assert_int_equal(f->options.max_threads, 10);
	assert_int_equal(f->options.max_read, 512 * 1024);
	assert_int_equal(f->options.passphrase_fd, -1);
	assert_false(f->options.allow_other);
	assert_false(f->options.direct_io); /* chunk files use the kernel page cache */
	assert_false(f->options.foreground);
	assert_null(f->options.key_file);
}

static void test_command_line(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = {"vchunkfs",
			      "-f",
			      "-s",
			      "-o",
			      "key_file=/k/key,cache_mb=7,timeout=2.5,retries=0,manifest_ttl=5",
			      "-o",
			      "allow_other,max_threads=3,noatime,direct_io",
			      "sess",
			      "/mnt",
			      NULL};

	assert_int_equal(parse(f, argv), VC_OK);
	assert_true(f->options.foreground);
	assert_true(f->options.single_thread);
	assert_string_equal(f->options.key_file, "/k/key");
	assert_int_equal(f->options.cache_mb, 7);
	assert_int_equal(f->options.timeout_ms, 2500);
	assert_int_equal(f->options.retries, 0);
	assert_int_equal(f->options.manifest_ttl, 5);
	assert_int_equal(f->options.max_threads, 3);
	assert_true(f->options.allow_other);
	assert_true(f->options.direct_io);
	assert_string_equal(f->options.session, "sess");
	assert_string_equal(f->options.mountpoint, "/mnt");
	/* ours are consumed, FUSE's stay */
	assert_true(args_contain(&f->args, "noatime"));
	assert_false(args_contain(&f->args, "cache_mb"));
	assert_false(args_contain(&f->args, "allow_other"));
	assert_false(args_contain(&f->args, "direct_io")); /* ours: libfuse 3.14 has no such -o */
	assert_false(args_contain(&f->args, "rw")); /* accepted for mount(8), not passed on */
	assert_false(args_contain(&f->args, "sess"));
	assert_int_equal(f->options.set & (VC_FS_SET_CACHE_MB | VC_FS_SET_KEY_FILE),
			 VC_FS_SET_CACHE_MB | VC_FS_SET_KEY_FILE);
}

static void test_debug_implies_foreground(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = {"vchunkfs", "-o", "debug", "s", "m", NULL};
	const char *argv2[] = {"vchunkfs", "-d", "-V", "--help", NULL};

	assert_int_equal(parse(f, argv), VC_OK);
	assert_true(f->options.debug);
	assert_true(f->options.foreground);
	vc_fs_options_free(&f->options);
	vc_fs_options_init(&f->options);
	assert_int_equal(parse(f, argv2), VC_OK);
	assert_true(f->options.debug && f->options.foreground);
	assert_true(f->options.show_version && f->options.show_help);
}

static void test_bad_values(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[][2] = {
	    {"cache_mb=0", "cache_mb"},	      {"cache_mb=abc", "cache_mb"},
	    {"cache_mb=12x", "cache_mb"},     {"timeout=-1", "timeout"},
	    {"timeout=zero", "timeout"},      {"retries=99", "retries"},
	    {"max_threads=0", "max_threads"}, {"passphrase_fd=-3", "passphrase_fd"},
	    {"key_file=", "key_file"},	      {"max_read=100", "max_read"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *argv[] = {"vchunkfs", "-o", bad[i][0], "s", "m", NULL};

		vc_fs_options_free(&f->options);
		vc_fs_options_init(&f->options);
		assert_int_equal(parse(f, argv), VC_ERR_INVALID);
		assert_non_null(strstr(vc_last_error(), bad[i][1]));
	}
}

static void test_third_positional(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = {"vchunkfs", "a", "b", "c", NULL};

	assert_int_equal(parse(f, argv), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "'c'"));
}

static void test_config_file_and_precedence(void **state)
{
	struct fixture *f = *state;
	char path[128];
	const char *argv[] = {"vchunkfs", "-o", "cache_mb=5", "s", "m", NULL};

	snprintf(path, sizeof(path), "%s/c.ini", f->dir);
	write_file(path, "; comment\n[vchunkfs]\ncache_mb = 20\nkey_file = /a/key\n"
			 "timeout = 3\nallow_other = yes\nmanifest_ttl = 0\n");
	assert_int_equal(parse(f, argv), VC_OK);
	assert_int_equal(vc_fs_options_load_file(&f->options, path, true), VC_OK);
	assert_int_equal(f->options.cache_mb, 5); /* the command line wins */
	assert_string_equal(f->options.key_file, "/a/key");
	assert_int_equal(f->options.timeout_ms, 3000);
	assert_true(f->options.allow_other);
	assert_int_equal(f->options.manifest_ttl, 0);
}

static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	static const char *const cases[][2] = {
	    {"cache_mb = 3\nbogus = 1\n", "line 2"},
	    {"[other]\ncache_mb = 3\n", "section"},
	    {"passphrase_fd = 3\n", "command line"},
	    {"allow_other = maybe\n", "allow_other"},
	    {"timeout = 0\n", "timeout"},
	};
	char path[128];

	snprintf(path, sizeof(path), "%s/bad.ini", f->dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(path, cases[i][0]);
		assert_int_equal(vc_fs_options_load_file(&f->options, path, true), VC_ERR_INVALID);
		assert_non_null(strstr(vc_last_error(), cases[i][1]));
		assert_non_null(strstr(vc_last_error(), path));
	}
	snprintf(path, sizeof(path), "%s/missing.ini", f->dir);
	assert_int_equal(vc_fs_options_load_file(&f->options, path, false), VC_OK);
	assert_int_equal(vc_fs_options_load_file(&f->options, path, true), VC_ERR_NOT_FOUND);
}

static void test_config_search_order(void **state)
{
	struct fixture *f = *state;
	char system_path[128], user_dir[128], user_path[160], explicit_path[128], opt[160];

	snprintf(system_path, sizeof(system_path), "%s/system.conf", f->dir);
	snprintf(user_dir, sizeof(user_dir), "%s/vchunkfs", f->dir);
	snprintf(user_path, sizeof(user_path), "%s/config.ini", user_dir);
	snprintf(explicit_path, sizeof(explicit_path), "%s/explicit.ini", f->dir);
	assert_int_equal(mkdir(user_dir, 0700), 0);
	write_file(system_path, "cache_mb = 11\nretries = 2\n");
	write_file(user_path, "[vchunkfs]\ncache_mb = 22\n");
	write_file(explicit_path, "cache_mb = 33\n");
	assert_int_equal(setenv("XDG_CONFIG_HOME", f->dir, 1), 0);

	/* the user's file overrides the system one, which still gives what the user's lacks */
	assert_int_equal(vc_fs_options_load_configs(&f->options, system_path), VC_OK);
	assert_int_equal(f->options.cache_mb, 22);
	assert_int_equal(f->options.retries, 2);

	/* config= replaces both */
	vc_fs_options_free(&f->options);
	vc_fs_options_init(&f->options);
	snprintf(opt, sizeof(opt), "config=%s", explicit_path);
	{
		const char *argv[] = {"vchunkfs", "-o", opt, "s", "m", NULL};

		assert_int_equal(parse(f, argv), VC_OK);
	}
	assert_int_equal(vc_fs_options_load_configs(&f->options, system_path), VC_OK);
	assert_int_equal(f->options.cache_mb, 33);
	assert_int_equal(f->options.retries, VC_FS_DEFAULT_RETRIES);
	unsetenv("XDG_CONFIG_HOME");
}

static void test_finish_paths(void **state)
{
	struct fixture *f = *state;
	char mnt[128], sess[128], cwd[PATH_MAX];
	const char *missing[] = {"vchunkfs", "only-session", NULL};

	snprintf(mnt, sizeof(mnt), "%s/mnt", f->dir);
	snprintf(sess, sizeof(sess), "%s/sess", f->dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	assert_int_equal(mkdir(sess, 0700), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	{
		const char *argv[] = {"vchunkfs", "-o", "key_file=k", "dir:sess", "mnt", NULL};

		assert_int_equal(parse(f, argv), VC_OK);
	}
	assert_int_equal(vc_fs_options_finish(&f->options), VC_OK);
	assert_int_equal(chdir(cwd), 0);
	/* relative names become absolute: the daemon changes to / when it detaches */
	assert_int_equal(strncmp(f->options.session, "dir:/", 5), 0);
	assert_non_null(strstr(f->options.session, "/sess"));
	assert_string_equal(f->options.mountpoint + strlen(f->options.mountpoint) - 4, "/mnt");
	assert_int_equal(f->options.mountpoint[0], '/');
	assert_null(f->options.passphrase);

	vc_fs_options_free(&f->options);
	vc_fs_options_init(&f->options);
	assert_int_equal(parse(f, missing), VC_OK);
	assert_int_equal(vc_fs_options_finish(&f->options), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "MOUNTPOINT"));
}

static void test_passphrase_sources(void **state)
{
	struct fixture *f = *state;
	char mnt[128], opt[32];
	int fds[2];

	snprintf(mnt, sizeof(mnt), "%s/m", f->dir);
	assert_int_equal(mkdir(mnt, 0700), 0);

	/* from a file descriptor, up to the newline */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "pass word\nrest", 14), 14);
	close(fds[1]);
	snprintf(opt, sizeof(opt), "passphrase_fd=%d", fds[0]);
	{
		const char *argv[] = {"vchunkfs", "-o", opt, "s", mnt, NULL};

		assert_int_equal(parse(f, argv), VC_OK);
	}
	assert_int_equal(setenv("VCHUNK_PASSPHRASE", "from-env", 1), 0);
	assert_int_equal(vc_fs_options_finish(&f->options), VC_OK);
	assert_string_equal(f->options.passphrase, "pass word");
	assert_int_equal(fcntl(fds[0], F_GETFD), -1); /* closed after reading */

	/* from the environment, which is then cleared */
	vc_fs_options_free(&f->options);
	vc_fs_options_init(&f->options);
	{
		const char *argv[] = {"vchunkfs", "s", mnt, NULL};

		assert_int_equal(parse(f, argv), VC_OK);
	}
	assert_int_equal(vc_fs_options_finish(&f->options), VC_OK);
	assert_string_equal(f->options.passphrase, "from-env");
	assert_null(getenv("VCHUNK_PASSPHRASE"));

	/* a key file and a passphrase descriptor together are refused */
	vc_fs_options_free(&f->options);
	vc_fs_options_init(&f->options);
	{
		const char *argv[] = {"vchunkfs", "-o", "key_file=/k,passphrase_fd=0",
				      "s",	  mnt,	NULL};

		assert_int_equal(parse(f, argv), VC_OK);
	}
	assert_int_equal(vc_fs_options_finish(&f->options), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "not both"));
}

static void test_fuse_args_and_open_options(void **state)
{
	struct fixture *f = *state;
	const char *argv[] = {"vchunkfs",
			      "-o",
			      "allow_other,retries=0,timeout=1.5,cache_mb=3",
			      "s5+http://127.0.0.1:9/a,b",
			      "/mnt",
			      NULL};
	vc_open_options open_options;

	assert_int_equal(parse(f, argv), VC_OK);
	assert_int_equal(vc_fs_options_fuse_args(&f->options, &f->args), VC_OK);
	/* the comma in the session is escaped inside fsname= */
	assert_true(args_contain(&f->args, "fsname=s5+http://127.0.0.1:9/a\\,b"));
	assert_true(args_contain(&f->args, "subtype=vchunkfs"));
	/* not the kernel's read-only flag: the query files take writes (EROFS elsewhere) */
	assert_false(args_contain(&f->args, ",ro,"));
	assert_true(args_contain(&f->args, "default_permissions"));
	assert_true(args_contain(&f->args, "max_read=524288"));
	assert_true(args_contain(&f->args, "allow_other"));
	assert_false(args_contain(&f->args, "debug"));

	vc_fs_options_open(&f->options, &open_options);
	assert_int_equal(open_options.cache_bytes, 3u * 1024u * 1024u);
	assert_int_equal(open_options.store.timeout_ms, 1500);
	assert_int_equal(open_options.store.connect_timeout_ms, 1500);
	assert_int_equal(open_options.store.retries, -1); /* retries=0: the library's "none" */
	assert_null(open_options.key_file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_command_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_debug_implies_foreground, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_third_positional, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_file_and_precedence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_search_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_finish_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_passphrase_sources, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fuse_args_and_open_options, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
