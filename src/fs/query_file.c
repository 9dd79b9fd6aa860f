/* One query's input and answer: offset-aware writes into an input buffer, a run on the first
 * read after a write (parse, search, render), and reads of the results or error JSON. */
#include "fs/query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/legacy_fs.h"
#include "fs/log.h"
#include "search/query_parse.h"
#include "search/results_json.h"
#include "util/error_i.h"

void vc_fs_query_init(vc_fs_query *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
}

static void drop_output(vc_fs_query *q)
{
	free(q->output);
	q->output = NULL;
	q->output_len = 0;
	q->ran = false;
	q->error = 0;
}

void vc_fs_query_destroy(vc_fs_query *q)
{
	drop_output(q);
	vc_bytes_free(&q->input);
	pthread_mutex_destroy(&q->lock);
}

/* The dimension of the session as it is now (a legacy session's never changes). */
static uint32_t session_dim(vc_fs *fs)
{
	vc_fs_snapshot *snapshot;
	uint32_t dim;

	if (fs->legacy_view != NULL)
		return vc_legacy_dim(fs->legacy_view->legacy);
	snapshot = vc_fs_snapshot_get(fs);
	dim = snapshot->manifest->dim;
	vc_fs_snapshot_put(fs, snapshot);
	return dim;
}

static size_t input_limit(vc_fs *fs)
{
	return vc_query_input_limit(session_dim(fs));
}

/* Make the input exactly @p size bytes long, zero-filling what grows. Called locked. */
static int resize_input(vc_fs_query *q, size_t size)
{
	if (size > q->input.len) {
		size_t grow = size - q->input.len;
		uint8_t *zeros = calloc(1, grow);
		vc_err err = zeros == NULL ? VC_ERR_NOMEM : vc_bytes_append(&q->input, zeros, grow);

		free(zeros);
		if (err != VC_OK)
			return -ENOMEM;
	}
	q->input.len = size;
	return 0;
}

/* A change to the input after a run starts a new query. Called locked. */
static void start_change(vc_fs_query *q)
{
	if (q->ran && !q->pending) {
		drop_output(q);
		q->input.len = 0;
		q->too_big = false;
	}
	q->pending = true;
}

int vc_fs_query_write(vc_fs *fs, vc_fs_query *q, const char *buf, size_t size, off_t offset)
{
	size_t limit = input_limit(fs);
	int rc = 0;

	if (offset < 0)
		return -EINVAL;
	pthread_mutex_lock(&q->lock);
	start_change(q);
	if ((uint64_t)offset > limit || size > limit - (size_t)offset) {
		/* Remembered, so the read reports EFBIG with a message too. */
		q->too_big = true;
		rc = -EFBIG;
	} else if ((size_t)offset + size > q->input.len) {
		rc = resize_input(q, (size_t)offset + size);
	}
	if (rc == 0) {
		memcpy(q->input.data + offset, buf, size);
		rc = (int)size;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int vc_fs_query_truncate(vc_fs *fs, vc_fs_query *q, off_t size)
{
	size_t limit = input_limit(fs);
	int rc;

	if (size < 0)
		return -EINVAL;
	if ((uint64_t)size > limit)
		return -EFBIG;
	pthread_mutex_lock(&q->lock);
	start_change(q);
	if (size == 0)
		q->too_big = false;
	rc = resize_input(q, (size_t)size);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Parse and search; on success *results holds the hits. Records the message on failure. */
static vc_err search(vc_fs *fs, const vc_fs_query *q, vc_results *results)
{
	vc_query_parse_options options = {
	    .dim = session_dim(fs), .allow_raw = true, .where = "query"};
	vc_parsed_query parsed = {0};
	vc_err err;

	if (q->too_big)
		return vc_fail(VC_ERR_TOO_BIG, "query: larger than the %zu bytes allowed",
			       vc_query_input_limit(options.dim));
	err = vc_query_parse(q->input.data, q->input.len, &options, &parsed);
	if (err == VC_OK && fs->legacy_view != NULL)
		err = vc_legacy_search(fs->legacy_view->legacy, &parsed.query, results);
	else if (err == VC_OK)
		err = vc_session_search(fs->session, &parsed.query, results);
	vc_parsed_query_free(&parsed);
	return err;
}

/* Run the written query and keep its answer. Called locked. Returns the run's errno. */
static int run(vc_fs *fs, vc_fs_query *q)
{
	vc_results results = {0};
	vc_err err = search(fs, q, &results);
	int code = 0;

	drop_output(q);
	q->pending = false;
	q->ran = true;
	if (err == VC_OK) {
		err = vc_results_json(&results, true, &q->output, &q->output_len);
		vc_fs_queries_count(fs, &results.stats, err != VC_OK);
		vc_results_free(&results);
		if (err == VC_OK)
			return 0;
	} else {
		vc_fs_queries_count(fs, NULL, true);
	}
	if (err == VC_ERR_INVALID || err == VC_ERR_TOO_BIG || err == VC_ERR_NOMEM) {
		code = vc_err_errno(err);
		vc_fs_log(LOG_DEBUG, "query refused: %s", vc_last_error());
	} else {
		/* The backend or the stored data failed: EIO or ETIMEDOUT, logged like a read. */
		code = -vc_fs_fail(fs, "running", "a query", err);
	}
	q->error = code;
	if (vc_error_json(code, vc_last_error(), &q->output, &q->output_len) != VC_OK) {
		q->output = NULL;
		q->output_len = 0;
	}
	return code;
}

static int copy_out(char *buf, size_t size, off_t offset, const void *data, size_t len)
{
	size_t n;

	if (offset < 0 || (uint64_t)offset >= len)
		return 0;
	n = len - (size_t)offset;
	if (n > size)
		n = size;
	memcpy(buf, (const char *)data + offset, n);
	return (int)n;
}

int vc_fs_query_read(vc_fs *fs, vc_fs_query *q, char *buf, size_t size, off_t offset)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	if (q->pending) {
		rc = run(fs, q);
		if (rc != 0) {
			pthread_mutex_unlock(&q->lock);
			return -rc;
		}
	}
	rc = q->ran ? copy_out(buf, size, offset, q->output, q->output_len) : 0;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int vc_fs_query_read_input(vc_fs_query *q, char *buf, size_t size, off_t offset)
{
	int rc;

	pthread_mutex_lock(&q->lock);
	rc = copy_out(buf, size, offset, q->input.data, q->input.len);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

uint64_t vc_fs_query_input_size(vc_fs_query *q)
{
	uint64_t n;

	pthread_mutex_lock(&q->lock);
	n = q->input.len;
	pthread_mutex_unlock(&q->lock);
	return n;
}

uint64_t vc_fs_query_output_size(vc_fs_query *q)
{
	uint64_t n;

	pthread_mutex_lock(&q->lock);
	n = q->ran && !q->pending ? q->output_len : 0;
	pthread_mutex_unlock(&q->lock);
	return n;
}
