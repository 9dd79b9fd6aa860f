/*
 * `vchunk import`: stream an input file into a new session. Nothing becomes a session unless
 * every record was accepted: on any error (or Ctrl-C) the writer is aborted and removes what
 * it wrote, and an existing session at the target is never touched.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/input.h"
#include "util/error_i.h"

/* Set by SIGINT/SIGTERM so the loop can abort the writer cleanly. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

typedef struct import_args {
	vc_cli_keys keys;
	vc_metric metric;
	uint32_t chunk_size;
	vc_index_type index;
	uint32_t nlist;
	const char *input;
	const char *session;
} import_args;

/* A progress line on stderr, redrawn at most ten times a second, only on a terminal. */
typedef struct progress {
	bool enabled;
	struct timespec start;
	struct timespec last;
} progress;

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void progress_draw(progress *p, const vc_input *input, uint64_t count, bool final)
{
	struct timespec now;
	uint64_t done = vc_input_offset(input);
	double elapsed;
	double percent = input->size > 0 ? 100.0 * (double)done / (double)input->size : 0.0;
	char bar[31];
	int filled = (int)(percent * 30 / 100);

	if (!p->enabled)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!final && seconds_between(&p->last, &now) < 0.1)
		return;
	p->last = now;
	elapsed = seconds_between(&p->start, &now);
	for (int i = 0; i < 30; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\rimporting [%s] %5.1f%% %llu vectors %.1f MB/s ", bar, percent,
		(unsigned long long)count, elapsed > 0 ? (double)done / 1e6 / elapsed : 0.0);
	if (final)
		fputc('\n', stderr);
}

static bool parse_index(const char *name, vc_index_type *out)
{
	static const char *const names[] = {"auto", "flat", "ivf", "hnsw"};

	for (int i = 0; i < 4; i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (vc_index_type)i;
			return true;
		}
	}
	return false;
}

static int import_parse(const vc_command *command, int argc, char **argv, import_args *args)
{
	static const struct option options[] = {
	    {"key", required_argument, NULL, 'K'},
	    {"passphrase", no_argument, NULL, VC_CLI_OPT_PASSPHRASE},
	    {"no-encryption", no_argument, NULL, VC_CLI_OPT_NO_ENCRYPTION},
	    {"chunk-size", required_argument, NULL, 'c'},
	    {"metric", required_argument, NULL, 'm'},
	    {"index", required_argument, NULL, 'I'},
	    {"nlist", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long value;

	for (;;) {
		int opt = getopt_long(argc, argv, ":K:c:m:h", options, NULL);

		if (opt == -1)
			break;
		switch (opt) {
		case 'K': args->keys.key_file = optarg; break;
		case VC_CLI_OPT_PASSPHRASE: args->keys.ask_passphrase = true; break;
		case VC_CLI_OPT_NO_ENCRYPTION: args->keys.no_encryption = true; break;
		case 'c':
			if (!vc_cli_parse_uint(optarg, 1, 100000000, &value))
				return vc_cli_usage_error(
				    command, "--chunk-size must be 1..100000000, not '%s'", optarg);
			args->chunk_size = (uint32_t)value;
			break;
		case 'm':
			if (!vc_metric_parse(optarg, &args->metric))
				return vc_cli_usage_error(
				    command, "unknown metric '%s' (cosine, l2 or dot)", optarg);
			break;
		case 'I':
			if (!parse_index(optarg, &args->index))
				return vc_cli_usage_error(
				    command, "unknown index '%s' (auto, flat, ivf or hnsw)", optarg);
			break;
		case 'L':
			if (!vc_cli_parse_uint(optarg, 1, 65536, &value))
				return vc_cli_usage_error(command, "--nlist must be 1..65536, not '%s'",
							  optarg);
			args->nlist = (uint32_t)value;
			break;
		case 'h': return vc_cli_help(command);
		default: return vc_cli_bad_option(command, opt, argv);
		}
	}
	if (argc - optind != 2)
		return vc_cli_usage_error(command, argc - optind < 2 ? "missing INPUT or SESSION"
								     : "too many arguments");
	if (args->keys.no_encryption && (args->keys.key_file != NULL || args->keys.ask_passphrase))
		return vc_cli_usage_error(
		    command, "--no-encryption cannot be combined with --key or --passphrase");
	if (args->keys.key_file != NULL && args->keys.ask_passphrase)
		return vc_cli_usage_error(command, "give either --key or --passphrase, not both");
	args->input = argv[optind];
	args->session = argv[optind + 1];
	return VC_CLI_CONTINUE;
}

/* Feed every record to the writer; errors name the input line or row. */
static vc_err import_records(vc_input *input, vc_writer *writer, uint64_t *count)
{
	char where[600];
	progress p = {.enabled = isatty(STDERR_FILENO) == 1};
	vc_err err;

	clock_gettime(CLOCK_MONOTONIC, &p.start);
	p.last = p.start;
	for (;;) {
		vc_input_record record;
		bool eof;

		if (interrupted)
			return vc_fail(VC_ERR_INVALID, "interrupted after %llu vectors",
				       (unsigned long long)*count);
		err = vc_input_next(input, &record, &eof);
		if (err != VC_OK)
			return err;
		if (eof)
			break;
		err = vc_writer_add(writer, record.id, record.vector, record.dim, record.metadata);
		if (err != VC_OK) {
			vc_input_where(input, where, sizeof(where));
			return vc_fail_context(err, "%s", where);
		}
		(*count)++;
		if ((*count & 255) == 0)
			progress_draw(&p, input, *count, false);
	}
	progress_draw(&p, input, *count, true);
	if (*count == 0)
		return vc_fail(VC_ERR_INVALID, "%s: no vectors to import", input->path);
	return VC_OK;
}

/* The local directory a session URI names, or NULL for a remote backend. */
static const char *local_path(const char *uri)
{
	if (strncmp(uri, "s5+", 3) == 0)
		return NULL;
	return strncmp(uri, "dir:", 4) == 0 ? uri + 4 : uri;
}

/*
 * After an aborted import into a directory that did not exist before, remove the empty
 * directories the writer created, so nothing at all is left behind. rmdir() only removes
 * empty directories, so nothing written by anyone else can be lost.
 */
static void remove_empty_dirs(const char *dir)
{
	static const char *const subdirs[] = {"chunks", "index"};
	char path[4096];

	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		rmdir(path);
	}
	rmdir(dir);
}

static int import_refuse_without_key(void)
{
	fprintf(stderr,
		"vchunk: import encrypts by default and needs a key. Give one with --key FILE "
		"(create it with `vchunk keygen FILE`) or VCHUNK_KEY_FILE, or use --passphrase / "
		"VCHUNK_PASSPHRASE; --no-encryption stores the vectors in plaintext.\n");
	return VC_EXIT_USAGE;
}

int vc_cmd_import(const vc_command *command, int argc, char **argv)
{
	import_args args = {.metric = VC_METRIC_COSINE};
	vc_create_options options = {.cancel = &interrupted};
	struct sigaction sa = {.sa_handler = on_signal};
	struct timespec start, end;
	vc_input *input = NULL;
	vc_writer *writer = NULL;
	const char *dir;
	bool dir_existed;
	struct stat st;
	uint64_t count = 0;
	int status = import_parse(command, argc, argv, &args);
	vc_err err;

	if (status != VC_CLI_CONTINUE)
		return status;
	if (vc_cli_keys_resolve(&args.keys, true) != VC_OK) {
		status = vc_cli_fail();
		goto out;
	}
	if (!args.keys.no_encryption && args.keys.key_file == NULL &&
	    args.keys.passphrase == NULL) {
		status = import_refuse_without_key();
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (vc_input_open(args.input, &input) != VC_OK) {
		status = vc_cli_fail();
		goto out;
	}
	options.key_file = args.keys.key_file;
	options.passphrase = args.keys.passphrase;
	options.no_encryption = args.keys.no_encryption;
	options.metric = args.metric;
	options.chunk_size = args.chunk_size;
	options.index = args.index;
	options.nlist = args.nlist;
	dir = local_path(args.session);
	dir_existed = dir == NULL || stat(dir, &st) == 0;
	if (vc_writer_create(args.session, &options, &writer) != VC_OK) {
		status = vc_cli_fail();
		goto out_input;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	err = import_records(input, writer, &count);
	if (err != VC_OK) {
		status = vc_cli_fail();
		vc_writer_abort(writer);
		if (!dir_existed)
			remove_empty_dirs(dir);
		fprintf(stderr, "vchunk: nothing was imported: no session was written at %s\n",
			args.session);
		goto out_input;
	}
	/* commit frees the writer whether it succeeds or not */
	err = vc_writer_commit(writer);
	if (err != VC_OK) {
		status = vc_cli_fail();
		if (!dir_existed)
			remove_empty_dirs(dir);
		goto out_input;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("imported %llu vectors of dimension %u (%s) from %s into %s in %.2f s, %s\n",
	       (unsigned long long)count, input->dim, vc_metric_name(args.metric), args.input,
	       args.session, seconds_between(&start, &end),
	       args.keys.no_encryption ? "not encrypted" : "encrypted");
	status = VC_EXIT_OK;
out_input:
	vc_input_close(input);
out:
	vc_cli_keys_free(&args.keys);
	return status;
}
