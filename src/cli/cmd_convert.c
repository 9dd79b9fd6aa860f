/*
 * `vchunk convert LEGACY_SESSION NEW_SESSION`: write a session of ours (encrypted by default)
 * holding the live vectors of a session of the original Rust system: same ids, bit-identical
 * vectors, same metadata, l2 metric. Deleted vectors are not carried over.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/error_i.h"

typedef struct convert_args {
	vc_cli_keys keys;
	uint32_t chunk_size;
	vc_index_type index;
	const char *source;
	const char *target;
} convert_args;

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

static int convert_option(const vc_command *command, int opt, char **argv, convert_args *args)
{
	unsigned long long value;

	switch (opt) {
	case 'K': args->keys.key_file = optarg; return VC_CLI_CONTINUE;
	case VC_CLI_OPT_PASSPHRASE: args->keys.ask_passphrase = true; return VC_CLI_CONTINUE;
	case VC_CLI_OPT_NO_ENCRYPTION: args->keys.no_encryption = true; return VC_CLI_CONTINUE;
	case 'c':
		if (!vc_cli_parse_uint(optarg, 1, 100000000, &value))
			return vc_cli_usage_error(
			    command, "--chunk-size must be 1..100000000, not '%s'", optarg);
		args->chunk_size = (uint32_t)value;
		return VC_CLI_CONTINUE;
	case 'I':
		if (!parse_index(optarg, &args->index))
			return vc_cli_usage_error(
			    command, "unknown index '%s' (auto, flat, ivf or hnsw)", optarg);
		return VC_CLI_CONTINUE;
	case 'h': return vc_cli_help(command);
	default: return vc_cli_bad_option(command, opt, argv);
	}
}

static int convert_parse(const vc_command *command, int argc, char **argv, convert_args *args)
{
	static const struct option options[] = {
	    {"key", required_argument, NULL, 'K'},
	    {"passphrase", no_argument, NULL, VC_CLI_OPT_PASSPHRASE},
	    {"no-encryption", no_argument, NULL, VC_CLI_OPT_NO_ENCRYPTION},
	    {"chunk-size", required_argument, NULL, 'c'},
	    {"index", required_argument, NULL, 'I'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};

	for (;;) {
		int opt = getopt_long(argc, argv, ":K:c:h", options, NULL);
		int status;

		if (opt == -1)
			break;
		status = convert_option(command, opt, argv, args);
		if (status != VC_CLI_CONTINUE)
			return status;
	}
	if (argc - optind != 2)
		return vc_cli_usage_error(command, argc - optind < 2
						       ? "missing LEGACY_SESSION or NEW_SESSION"
						       : "too many arguments");
	if (args->keys.no_encryption && (args->keys.key_file != NULL || args->keys.ask_passphrase))
		return vc_cli_usage_error(
		    command, "--no-encryption cannot be combined with --key or --passphrase");
	if (args->keys.key_file != NULL && args->keys.ask_passphrase)
		return vc_cli_usage_error(command, "give either --key or --passphrase, not both");
	args->source = argv[optind];
	args->target = argv[optind + 1];
	return VC_CLI_CONTINUE;
}

/* Open the source, which must be a legacy session. */
static vc_err open_source(const char *uri, vc_legacy **out)
{
	vc_store *store = NULL;
	vc_bytes raw = {0};
	vc_err err = vc_cli_legacy_probe(uri, out);

	if (err != VC_OK || *out != NULL)
		return err;
	/* Not legacy: say why, naming what was found. */
	err = vc_store_open(uri, NULL, &store);
	if (err == VC_OK)
		err = vc_store_get(store, "manifest.json", &raw);
	if (err == VC_OK)
		err =
		    vc_fail(VC_ERR_UNSUPPORTED,
			    "%s is not a session of the original Rust system (its manifest.json "
			    "has no version 2 or 3 without a \"format\"); convert reads only those",
			    uri);
	else
		vc_fail_context(err, "%s: manifest.json", uri);
	vc_bytes_free(&raw);
	vc_store_close(store);
	return err;
}

/* Add every live vector to @p writer, in the legacy session's storage order. */
static vc_err copy_vectors(const vc_legacy *legacy, vc_writer *writer)
{
	uint32_t dim = vc_legacy_dim(legacy);

	for (size_t i = 0; i < vc_legacy_count(legacy); i++) {
		const char *id;
		const float *vector;
		const json_t *metadata;
		vc_err err = vc_legacy_get(legacy, i, &id, &vector, &metadata);

		if (err == VC_OK)
			err = vc_writer_add(writer, id, vector, dim,
					    json_is_null(metadata) ? NULL : metadata);
		if (err != VC_OK)
			return vc_fail_context(err, "vector \"%s\"", id);
	}
	return VC_OK;
}

static vc_err convert(const convert_args *args, const vc_legacy *legacy)
{
	vc_create_options options = {0};
	vc_writer *writer = NULL;
	vc_err err;

	options.key_file = args->keys.key_file;
	options.passphrase = args->keys.passphrase;
	options.no_encryption = args->keys.no_encryption;
	options.metric = VC_METRIC_L2; /* the original system searched by euclidean distance */
	options.chunk_size = args->chunk_size;
	options.index = args->index;
	if (vc_legacy_count(legacy) == 0)
		return vc_fail(VC_ERR_INVALID, "%s holds no live vector: nothing to convert",
			       args->source);
	err = vc_writer_create(args->target, &options, &writer);
	if (err != VC_OK)
		return err;
	err = copy_vectors(legacy, writer);
	if (err != VC_OK) {
		vc_writer_abort(writer);
		return err;
	}
	/* commit frees the writer whether it succeeds or not */
	return vc_writer_commit(writer);
}

int vc_cmd_convert(const vc_command *command, int argc, char **argv)
{
	convert_args args = {0};
	vc_legacy *legacy = NULL;
	vc_legacy_info info;
	int status = convert_parse(command, argc, argv, &args);

	if (status != VC_CLI_CONTINUE)
		return status;
	if (vc_cli_keys_resolve(&args.keys, true) != VC_OK) {
		status = vc_cli_fail();
		goto out;
	}
	if (!args.keys.no_encryption && args.keys.key_file == NULL &&
	    args.keys.passphrase == NULL) {
		fprintf(stderr,
			"vchunk: convert encrypts by default and needs a key. Give one with "
			"--key FILE (create it with `vchunk keygen FILE`) or "
			"VCHUNK_KEY_FILE, or use --passphrase / VCHUNK_PASSPHRASE; "
			"--no-encryption stores the vectors in plaintext.\n");
		status = VC_EXIT_USAGE;
		goto out;
	}
	if (open_source(args.source, &legacy) != VC_OK || convert(&args, legacy) != VC_OK) {
		status = vc_cli_fail();
		fprintf(stderr, "vchunk: nothing was converted into %s\n", args.target);
		goto out;
	}
	vc_legacy_get_info(legacy, &info);
	printf("converted %zu vectors of dimension %u (l2) from %s into %s, %s; %zu deleted "
	       "vectors not carried over\n",
	       info.count, info.dim, args.source, args.target,
	       args.keys.no_encryption ? "not encrypted" : "encrypted", info.deleted);
	status = VC_EXIT_OK;
out:
	vc_legacy_close(legacy);
	vc_cli_keys_free(&args.keys);
	return status;
}
