/* vchunkfs: mount a vchunk session read-only. Start order: parse, open the session (so a
 * wrong key or a dead backend fails here, on the terminal), fuse_new, signal handlers,
 * mount, daemonize, loop; then unmount, destroy, close the session (wiping its keys). */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <sodium.h>

#include "fs/fs.h"
#include "fs/legacy_fs.h"
#include "fs/log.h"
#include "fs/read_pipe.h"

#define VCHUNKFS_VERSION "0.1.0"

/* Keys live in this process's memory: no core dumps and no ptrace by other users. */
static void harden_process(void)
{
	struct rlimit none = {0, 0};

	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Parse the command line and the config files, read the passphrase. Returns an exit code
 * to stop with (0 after --help or --version), or -1 to go on. */
static int configure(vc_fs_options *options, struct fuse_args *args)
{
	if (vc_fs_options_parse_args(options, args) != VC_OK) {
		fprintf(stderr, "vchunkfs: %s\n", vc_last_error());
		return 2;
	}
	if (options->show_version) {
		printf("vchunkfs %s\nFUSE library %s\n", VCHUNKFS_VERSION, fuse_pkgversion());
		return 0;
	}
	if (options->show_help) {
		vc_fs_options_usage(args->argv[0]);
		printf("FUSE options:\n");
		fuse_lib_help(args);
		return 0;
	}
	if (vc_fs_options_load_configs(options, VC_FS_SYSTEM_CONFIG) != VC_OK ||
	    vc_fs_options_finish(options) != VC_OK) {
		fprintf(stderr, "vchunkfs: %s\n", vc_last_error());
		return 2;
	}
	return -1;
}

static vc_err open_session(vc_fs_options *options, vc_session **session)
{
	vc_open_options open_options;
	vc_err err;

	vc_fs_options_open(options, &open_options);
	err = vc_session_open(options->session, &open_options, session);
	/* The keyring is derived: the passphrase is no longer needed in memory. */
	if (options->passphrase != NULL) {
		sodium_free(options->passphrase);
		options->passphrase = NULL;
	}
	return err;
}

static int run_loop(struct fuse *fuse, const vc_fs_options *options)
{
	struct fuse_loop_config *config;
	int rc;

	if (options->single_thread)
		return fuse_loop(fuse);
	config = fuse_loop_cfg_create();
	if (config == NULL)
		return -1;
	/* The thread bound is part of the memory bound: a worker pins at most one chunk. */
	fuse_loop_cfg_set_max_threads(config, options->max_threads);
	fuse_loop_cfg_set_idle_threads(config, options->max_threads);
	rc = fuse_loop_mt(fuse, config);
	fuse_loop_cfg_destroy(config);
	return rc;
}

/*
 * glibc serves allocations below its mmap threshold from per-thread arenas, which keep freed
 * memory, and maps larger ones, returning them when freed; by default the threshold grows
 * with the largest block freed. Fixing it at twice the largest read request keeps the
 * per-request reply buffers in the arenas (reused without page faults) while chunk-sized
 * buffers of the usual size are mapped and go back to the system when the cache drops them,
 * so resident memory follows the cache budget.
 * The trim threshold goes with it: at glibc's default (128 KiB) every freed reply buffer at
 * the top of an arena was handed back to the kernel and the next request faulted it in again,
 * page by page (a third of the daemon's time on 1 MiB reads). An arena now keeps up to this
 * much free memory at its top: one reply buffer per worker, already part of the memory bound.
 */
static void tune_allocator(unsigned max_read)
{
	size_t threshold = 2 * (size_t)max_read;

	if (threshold < 256 * 1024)
		threshold = 256 * 1024;
	if (threshold > 32 * 1024 * 1024)
		threshold = 32 * 1024 * 1024;
	mallopt(M_MMAP_THRESHOLD, (int)threshold);
	mallopt(M_TRIM_THRESHOLD, (int)threshold);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_operations ops;
	struct fuse *fuse = NULL;
	vc_session *session = NULL;
	vc_fs_options options;
	vc_fs fs;
	vc_err err;
	int rc;

	harden_process();
	vc_fs_options_init(&options);
	rc = configure(&options, &args);
	if (rc >= 0)
		goto out_options;
	rc = 1;
	tune_allocator(options.max_read);
	vc_fs_log_setup(false, options.debug);
	if (sodium_init() < 0) {
		fprintf(stderr, "vchunkfs: libsodium failed to initialise\n");
		goto out_options;
	}
	/* A session of the original Rust system is served read-only by legacy_ops.c. */
	rc = vc_fs_legacy_run(&options, &args);
	if (rc >= 0)
		goto out_options;
	rc = 1;
	err = open_session(&options, &session);
	if (err != VC_OK) {
		fprintf(stderr, "vchunkfs: cannot open session %s: %s\n", options.session,
			vc_last_error());
		if (err == VC_ERR_PERMISSION)
			fprintf(stderr, "vchunkfs: give -o key_file=FILE, -o passphrase_fd=N or "
					"VCHUNK_PASSPHRASE\n");
		goto out_options;
	}
	if (vc_fs_init(&fs, &options, session) != VC_OK) {
		fprintf(stderr, "vchunkfs: session %s: %s\n", options.session, vc_last_error());
		goto out_session;
	}
	if (vc_fs_options_fuse_args(&options, &args) != VC_OK) {
		fprintf(stderr, "vchunkfs: %s\n", vc_last_error());
		goto out_fs;
	}
	vc_fs_operations(&ops);
	fuse = fuse_new(&args, &ops, sizeof(ops), &fs);
	if (fuse == NULL) {
		rc = 2; /* fuse_new named the option it rejected */
		goto out_fs;
	}
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		goto out_fuse;
	if (fuse_mount(fuse, options.mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(options.foreground) != 0)
		goto out_unmount;
	if (!options.foreground)
		vc_fs_log_setup(true, options.debug);
	vc_fs_log(LOG_INFO, "mounted %s on %s (epoch %llu)", options.session, options.mountpoint,
		  (unsigned long long)fs.current->manifest->epoch);
	rc = run_loop(fuse, &options);
	/* fuse reports the signal that ended the loop; SIGTERM, SIGINT, SIGHUP are clean exits. */
	rc = (rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP) ? 0 : 1;
	vc_fs_log(LOG_INFO, "unmounting %s", options.mountpoint);
out_unmount:
	fuse_unmount(fuse);
out_signals:
	fuse_remove_signal_handlers(fuse_get_session(fuse));
out_fuse:
	fuse_destroy(fuse);
out_fs:
	vc_fs_pipe_release_all(); /* the workers are gone: nothing can sit in a pipe now */
	vc_fs_files_release_all(&fs);
	vc_fs_cleanup(&fs);
out_session:
	vc_session_close(session); /* wipes the keys */
out_options:
	vc_fs_options_free(&options);
	fuse_opt_free_args(&args);
	return rc;
}
