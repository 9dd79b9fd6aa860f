/*
 * `vchunk verify`: authenticate and check every object of a session. Exit 0 and
 * "OK: N objects verified" only if nothing is wrong; otherwise one line per problem
 * ("chunks/chunk-3.cbor: ...") on standard output and exit 1.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct verify_report {
	size_t problems;
} verify_report;

static void report_problem(void *ctx, const char *path, vc_err err, const char *message)
{
	verify_report *report = ctx;
	size_t len = strlen(path);

	report->problems++;
	/* messages usually start with the path already; say it once */
	if (strncmp(message, path, len) == 0 && strncmp(message + len, ": ", 2) == 0)
		message += len + 2;
	printf("FAILED %s: %s (%s)\n", path, message, vc_err_str(err));
	fflush(stdout);
}

int vc_cmd_verify(const vc_command *command, int argc, char **argv)
{
	vc_cli_keys keys = {0};
	verify_report report = {0};
	int status = vc_cli_parse_keyed(command, argc, argv, &keys, 1, "missing SESSION");
	vc_session *session = NULL;
	const vc_manifest *manifest;
	vc_legacy *legacy = NULL;
	size_t objects;
	vc_err err;

	if (status != VC_CLI_CONTINUE)
		return status;
	/* A legacy session is checked by decoding all of it; it has nothing to authenticate. */
	err = vc_cli_legacy_probe(argv[optind], &legacy);
	if (err != VC_OK) {
		/* a legacy file that is missing or does not decode is a finding; a backend
		 * failure is not */
		if (err == VC_ERR_CORRUPT || err == VC_ERR_UNSUPPORTED || err == VC_ERR_NOT_FOUND)
			printf("FAILED %s (%s)\n", vc_last_error(), vc_err_str(err));
		status = vc_cli_fail();
		goto out;
	}
	if (legacy != NULL) {
		status = vc_cli_legacy_verify(argv[optind], legacy);
		goto out;
	}
	if (vc_cli_keys_resolve(&keys, false) != VC_OK) {
		status = vc_cli_fail();
		goto out;
	}
	err = vc_cli_open(argv[optind], &keys, 0, &session);
	if (err != VC_OK) {
		/* a manifest that does not parse or authenticate is itself a finding */
		if (err == VC_ERR_AUTH || err == VC_ERR_CORRUPT || err == VC_ERR_UNSUPPORTED)
			printf("FAILED manifest.json: %s (%s)\n", vc_last_error(), vc_err_str(err));
		status = vc_cli_fail();
		goto out;
	}
	manifest = vc_session_manifest_get(session);
	objects = 1 + manifest->chunk_count + manifest->object_count;
	vc_session_manifest_put(session, manifest);
	err = vc_session_verify(session, report_problem, &report);
	if (err == VC_OK && report.problems == 0) {
		printf("OK: %zu objects verified\n", objects);
		status = VC_EXIT_OK;
	} else {
		if (report.problems == 0)
			status = vc_cli_fail();
		fprintf(stderr, "vchunk: %s: %zu problem%s found\n", argv[optind],
			report.problems ? report.problems : 1, report.problems == 1 ? "" : "s");
		status = VC_EXIT_ERROR;
	}
out:
	vc_legacy_close(legacy);
	vc_session_close(session);
	vc_cli_keys_free(&keys);
	return status;
}
