/* `vchunk update`: give a live vector new metadata (its id and vector are kept), one commit. */
#include <stdio.h>

#include "cli/cli.h"
#include "util/error_i.h"
#include "vchunk/txn.h"

int vc_cmd_update(const vc_command *command, int argc, char **argv)
{
	vc_cli_keys keys = {0};
	vc_session *session = NULL;
	json_t *metadata = NULL;
	json_error_t jerr;
	vc_txn *txn = NULL;
	uint64_t epoch = 0;
	int status = vc_cli_parse_keyed(command, argc, argv, &keys, 3,
					"missing SESSION, ID or METADATA_JSON");

	if (status != VC_CLI_CONTINUE)
		return status;
	metadata = json_loads(argv[optind + 2], JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (metadata == NULL)
		return vc_cli_usage_error(command, "METADATA_JSON is not valid JSON: %s",
					  jerr.text);
	status = VC_EXIT_ERROR;
	if (vc_cli_keys_resolve(&keys, false) != VC_OK ||
	    vc_cli_open(argv[optind], &keys, 0, &session) != VC_OK ||
	    vc_txn_begin(session, &txn) != VC_OK)
		goto out;
	if (vc_txn_update(txn, argv[optind + 1], metadata) != VC_OK) {
		vc_txn_abort(txn);
		goto out;
	}
	if (vc_txn_commit(txn, &epoch) != VC_OK)
		goto out;
	printf("committed epoch %llu: +1 added, -1 deleted (metadata of '%s' updated)\n",
	       (unsigned long long)epoch, argv[optind + 1]);
	status = VC_EXIT_OK;
out:
	if (status != VC_EXIT_OK)
		vc_cli_fail();
	json_decref(metadata);
	vc_session_close(session);
	vc_cli_keys_free(&keys);
	return status;
}
