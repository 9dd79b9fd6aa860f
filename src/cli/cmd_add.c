/* `vchunk add`: add the vectors of an input file (any format import reads) to a session in one
 * transaction; nothing is committed unless every record was accepted. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/input.h"
#include "util/error_i.h"
#include "vchunk/txn.h"

static vc_err add_all(vc_txn *txn, vc_input *input, uint64_t *count)
{
	vc_input_record record;
	bool eof = false;
	vc_err err;

	for (;;) {
		err = vc_input_next(input, &record, &eof);
		if (err != VC_OK || eof)
			return err;
		err = vc_txn_add(txn, record.id, record.vector, record.dim, record.metadata);
		if (err != VC_OK) {
			char where[256];

			vc_input_where(input, where, sizeof(where));
			return vc_fail_context(err, "%s", where);
		}
		(*count)++;
	}
}

/* Rows added since the index was built are searched through a graph that every commit extends
 * and rewrites: once they are a quarter of the session, say that compaction would help. */
static void suggest_compaction(vc_session *session, const char *uri)
{
	const vc_manifest *m = vc_session_manifest_get(session);
	vc_row_counts rows = vc_manifest_row_counts(m);

	if (m->index.kind != VC_INDEX_KIND_FLAT && rows.recent >= 1000 &&
	    rows.recent * 4 >= rows.stored)
		fprintf(stderr,
			"vchunk: note: %llu of the %llu stored rows were added since the index was "
			"built; `vchunk compact %s` folds them into it (commits and searches slow "
			"down as they grow)\n",
			(unsigned long long)rows.recent, (unsigned long long)rows.stored, uri);
	vc_session_manifest_put(session, m);
}

int vc_cmd_add(const vc_command *command, int argc, char **argv)
{
	vc_cli_keys keys = {0};
	vc_session *session = NULL;
	vc_input *input = NULL;
	vc_txn *txn = NULL;
	uint64_t count = 0, epoch = 0;
	int status = vc_cli_parse_keyed(command, argc, argv, &keys, 2, "missing SESSION or INPUT");

	if (status != VC_CLI_CONTINUE)
		return status;
	status = VC_EXIT_ERROR;
	if (vc_cli_keys_resolve(&keys, false) != VC_OK ||
	    vc_cli_open(argv[optind], &keys, 0, &session) != VC_OK)
		goto out;
	if (vc_input_open(argv[optind + 1], &input) != VC_OK)
		goto out;
	if (vc_txn_begin(session, &txn) != VC_OK)
		goto out;
	if (add_all(txn, input, &count) != VC_OK) {
		vc_txn_abort(txn);
		goto out;
	}
	if (vc_txn_commit(txn, &epoch) != VC_OK)
		goto out;
	printf("committed epoch %llu: +%llu added, -0 deleted\n", (unsigned long long)epoch,
	       (unsigned long long)count);
	suggest_compaction(session, argv[optind]);
	status = VC_EXIT_OK;
out:
	if (status != VC_EXIT_OK)
		vc_cli_fail();
	vc_input_close(input);
	vc_session_close(session);
	vc_cli_keys_free(&keys);
	return status;
}
