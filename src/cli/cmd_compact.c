/* `vchunk compact`: lay the live vectors out again (recent tier into the index, deleted rows
 * dropped, IVF lists retrained) in one commit. */
#include <stdio.h>

#include "cli/cli.h"
#include "vchunk/txn.h"

int vc_cmd_compact(const vc_command *command, int argc, char **argv)
{
	vc_cli_keys keys = {0};
	vc_session *session = NULL;
	const vc_manifest *before;
	uint64_t epoch = 0, live = 0, deleted = 0;
	int status = vc_cli_parse_keyed(command, argc, argv, &keys, 1, "missing SESSION");

	if (status != VC_CLI_CONTINUE)
		return status;
	status = VC_EXIT_ERROR;
	if (vc_cli_keys_resolve(&keys, false) != VC_OK ||
	    vc_cli_open(argv[optind], &keys, 0, &session) != VC_OK)
		goto out;
	before = vc_session_manifest_get(session);
	live = before->total_vectors;
	deleted = before->deleted_vectors;
	vc_session_manifest_put(session, before);
	if (vc_session_compact(session, &epoch) != VC_OK)
		goto out;
	printf("committed epoch %llu: +0 added, -0 deleted (compacted: %llu live vectors kept, "
	       "%llu deleted rows dropped)\n",
	       (unsigned long long)epoch, (unsigned long long)live, (unsigned long long)deleted);
	status = VC_EXIT_OK;
out:
	if (status != VC_EXIT_OK)
		vc_cli_fail();
	vc_session_close(session);
	vc_cli_keys_free(&keys);
	return status;
}
