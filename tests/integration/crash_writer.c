/* Writer for the crash tests through the library: runs the commits of a crash_model.py plan
 * (made with --txn) in one process, each "txn" commit one vc_txn mixing adds, deletes and
 * updates, printing "begin I" before and "acked I" after each commit (stdout flushed).
 *
 *   crash_writer SESSION KEY_FILE PLAN_DIR START [LAST]
 *
 * Exits 1 naming the commit on the first failure, 0 after commit LAST (default: the plan's
 * last), printing "done" when the plan is exhausted.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vchunk/txn.h"
#include "vchunk/vchunk.h"

#define MAX_DIM 64

static int fail_commit(unsigned long i, const char *what)
{
	fprintf(stderr, "crash_writer: commit %lu: %s: %s\n", i, what, vc_last_error());
	return 1;
}

/* Stage one line of a txn file: {"op": "add"|"delete"|"update", "id", "vector", "metadata"}. */
static vc_err stage(vc_txn *txn, const json_t *line)
{
	const char *op = json_string_value(json_object_get(line, "op"));
	const char *id = json_string_value(json_object_get(line, "id"));
	const json_t *meta = json_object_get(line, "metadata");
	const json_t *vec = json_object_get(line, "vector");
	float v[MAX_DIM];
	size_t dim = json_array_size(vec);

	if (op == NULL || id == NULL)
		return VC_ERR_INVALID;
	if (strcmp(op, "delete") == 0)
		return vc_txn_delete(txn, id);
	if (strcmp(op, "update") == 0)
		return vc_txn_update(txn, id, meta);
	if (strcmp(op, "add") != 0 || dim == 0 || dim > MAX_DIM)
		return VC_ERR_INVALID;
	for (size_t d = 0; d < dim; d++)
		v[d] = (float)json_number_value(json_array_get(vec, d));
	return vc_txn_add(txn, id, v, (uint32_t)dim, meta);
}

/* One transaction holding every line of @p path, committed. */
static int run_txn(vc_session *session, unsigned long i, const char *path)
{
	FILE *file = fopen(path, "r");
	char buf[8192];
	vc_txn *txn = NULL;
	int rc = 1;

	if (file == NULL) {
		fprintf(stderr, "crash_writer: commit %lu: cannot open %s\n", i, path);
		return 1;
	}
	if (vc_txn_begin(session, &txn) != VC_OK) {
		rc = fail_commit(i, "begin");
		goto out_file;
	}
	while (fgets(buf, sizeof(buf), file) != NULL) {
		json_t *line = json_loads(buf, 0, NULL);
		vc_err err = line != NULL ? stage(txn, line) : VC_ERR_INVALID;

		json_decref(line);
		if (err != VC_OK) {
			rc = fail_commit(i, "staging a change");
			goto out_txn;
		}
	}
	rc = vc_txn_commit(txn, NULL) == VC_OK ? 0 : fail_commit(i, "commit");
	txn = NULL; /* freed by the commit, whatever the outcome */
out_txn:
	vc_txn_abort(txn);
out_file:
	fclose(file);
	return rc;
}

static int run_op(vc_session *session, const char *plan, unsigned long i, const char *kind,
		  const char *arg)
{
	char path[4096];

	if (strcmp(kind, "txn") == 0) {
		snprintf(path, sizeof(path), "%s/%s", plan, arg);
		return run_txn(session, i, path);
	}
	if (strcmp(kind, "compact") == 0)
		return vc_session_compact(session, NULL) == VC_OK ? 0 : fail_commit(i, "compact");
	if (strcmp(kind, "gc") == 0)
		return vc_session_gc(session, 0, NULL) == VC_OK ? 0 : fail_commit(i, "gc");
	fprintf(stderr, "crash_writer: commit %lu: kind %s is not for this writer\n", i, kind);
	return 1;
}

int main(int argc, char **argv)
{
	vc_open_options options = {0};
	vc_session *session = NULL;
	char path[4096], line[4096];
	unsigned long start, last = (unsigned long)-1;
	bool stopped = false;
	FILE *ops;
	int rc = 0;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: crash_writer SESSION KEY_FILE PLAN_DIR START [LAST]\n");
		return 2;
	}
	start = strtoul(argv[4], NULL, 10);
	if (argc == 6)
		last = strtoul(argv[5], NULL, 10);
	options.key_file = argv[2];
	snprintf(path, sizeof(path), "%s/ops.tsv", argv[3]);
	ops = fopen(path, "r");
	if (ops == NULL) {
		fprintf(stderr, "crash_writer: cannot open %s\n", path);
		return 1;
	}
	if (vc_session_open(argv[1], &options, &session) != VC_OK) {
		fprintf(stderr, "crash_writer: opening %s: %s\n", argv[1], vc_last_error());
		fclose(ops);
		return 1;
	}
	while (rc == 0 && fgets(line, sizeof(line), ops) != NULL) {
		char *save = NULL;
		char *num = strtok_r(line, "\t\n", &save);
		char *kind = strtok_r(NULL, "\t\n", &save);
		char *arg = strtok_r(NULL, "\t\n", &save);
		unsigned long i = num != NULL ? strtoul(num, NULL, 10) : 0;

		if (kind == NULL || i < start)
			continue;
		if (i > last) {
			stopped = true;
			break;
		}
		printf("begin %lu\n", i);
		fflush(stdout);
		rc = run_op(session, argv[3], i, kind, arg != NULL ? arg : "");
		if (rc == 0) {
			printf("acked %lu\n", i);
			fflush(stdout);
		}
	}
	if (rc == 0 && !stopped) {
		printf("done\n");
		fflush(stdout);
	}
	vc_session_close(session);
	fclose(ops);
	return rc;
}
