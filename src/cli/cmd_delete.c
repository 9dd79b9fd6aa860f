/* `vchunk delete`: delete vectors by id, or every vector whose metadata matches a filter (an
 * empty filter is refused), in one commit. */
#include <stdio.h>

#include "cli/cli.h"
#include "util/error_i.h"
#include "vchunk/txn.h"

typedef struct delete_args {
	vc_cli_keys keys;
	const char *filter_text;
} delete_args;

static int delete_parse(const vc_command *command, int argc, char **argv, delete_args *args)
{
	static const struct option options[] = {
	    {"key", required_argument, NULL, 'K'},
	    {"passphrase", no_argument, NULL, VC_CLI_OPT_PASSPHRASE},
	    {"filter", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};

	for (;;) {
		int opt = getopt_long(argc, argv, ":K:h", options, NULL);

		if (opt == -1)
			break;
		switch (opt) {
		case 'K': args->keys.key_file = optarg; break;
		case VC_CLI_OPT_PASSPHRASE: args->keys.ask_passphrase = true; break;
		case 'f': args->filter_text = optarg; break;
		case 'h': return vc_cli_help(command);
		default: return vc_cli_bad_option(command, opt, argv);
		}
	}
	if (optind >= argc)
		return vc_cli_usage_error(command, "missing SESSION");
	if (args->filter_text == NULL && argc - optind < 2)
		return vc_cli_usage_error(command, "missing ID (or --filter JSON)");
	if (args->filter_text != NULL && argc - optind > 1)
		return vc_cli_usage_error(command, "give ids or --filter, not both");
	return VC_CLI_CONTINUE;
}

static vc_err stage(vc_txn *txn, const delete_args *args, int argc, char **argv, uint64_t *count)
{
	json_error_t jerr;
	json_t *filter;
	vc_err err;

	if (args->filter_text == NULL) {
		for (int i = optind + 1; i < argc; i++) {
			err = vc_txn_delete(txn, argv[i]);
			if (err != VC_OK)
				return err;
			(*count)++;
		}
		return VC_OK;
	}
	filter = json_loads(args->filter_text, JSON_REJECT_DUPLICATES, &jerr);
	if (filter == NULL)
		return vc_fail(VC_ERR_INVALID, "--filter is not valid JSON: %s", jerr.text);
	err = vc_txn_delete_matching(txn, filter, count);
	json_decref(filter);
	return err;
}

int vc_cmd_delete(const vc_command *command, int argc, char **argv)
{
	delete_args args = {0};
	vc_session *session = NULL;
	vc_txn *txn = NULL;
	uint64_t count = 0, epoch = 0;
	int status = delete_parse(command, argc, argv, &args);

	if (status != VC_CLI_CONTINUE)
		return status;
	status = VC_EXIT_ERROR;
	if (vc_cli_keys_resolve(&args.keys, false) != VC_OK ||
	    vc_cli_open(argv[optind], &args.keys, 0, &session) != VC_OK ||
	    vc_txn_begin(session, &txn) != VC_OK)
		goto out;
	if (stage(txn, &args, argc, argv, &count) != VC_OK) {
		vc_txn_abort(txn);
		goto out;
	}
	if (vc_txn_commit(txn, &epoch) != VC_OK)
		goto out;
	printf("committed epoch %llu: +0 added, -%llu deleted\n", (unsigned long long)epoch,
	       (unsigned long long)count);
	status = VC_EXIT_OK;
out:
	if (status != VC_EXIT_OK)
		vc_cli_fail();
	vc_session_close(session);
	vc_cli_keys_free(&args.keys);
	return status;
}
