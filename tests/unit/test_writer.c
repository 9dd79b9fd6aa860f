/* Tests for creating sessions: round trips bit-exact, refusals of bad input, existing sessions
 * left untouched, aborts leaving nothing behind, plaintext sessions, key files. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "format/chunk_codec.h"
#include "test_util.h"
#include "vchunk/vchunk.h"

typedef struct fixture {
	char dir[64];
	char uri[128];
	char key[128];
} fixture;

static int setup(void **state)
{
	fixture *fx = calloc(1, sizeof(*fx));

	if (vc_test_session_dir("/tmp/vchunk-writer-XXXXXX", "session", fx->dir, fx->uri,
				fx->key) != 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	fixture *fx = *state;

	vc_test_remove_tree(fx->dir);
	free(fx);
	return 0;
}

/* Deterministic, varied test values (exact in float, so bit-exact round trips are checked). */
static void make_vector(uint32_t i, uint32_t dim, float *out)
{
	for (uint32_t d = 0; d < dim; d++)
		out[d] = (float)((int)((i * 7919u + d * 104729u) % 2001u) - 1000) / 64.0f +
			 (float)i * 1e-3f;
}

static json_t *make_metadata(uint32_t i)
{
	if (i % 3 == 0)
		return NULL;
	return json_pack("{s:i, s:s, s:b, s:[i,f]}", "i", (int)i, "name", "vector", "odd",
			 (int)(i % 2), "list", (int)i, 0.5);
}

static void write_session(const char *uri, const vc_create_options *options, uint32_t count,
			  uint32_t dim)
{
	vc_writer *writer = NULL;
	float vector[64];
	char id[32];

	assert_true(dim <= 64);
	assert_int_equal(vc_writer_create(uri, options, &writer), VC_OK);
	for (uint32_t i = 0; i < count; i++) {
		json_t *meta = make_metadata(i);

		snprintf(id, sizeof(id), "id-%u", i);
		make_vector(i, dim, vector);
		assert_int_equal(vc_writer_add(writer, id, vector, dim, meta), VC_OK);
		json_decref(meta);
	}
	assert_int_equal(vc_writer_commit(writer), VC_OK);
}

/* Read every vector back through the public API and compare it with what was written. */
static void check_session(const char *uri, const vc_open_options *options, uint32_t count,
			  uint32_t dim, uint32_t chunk_size)
{
	vc_session *session = NULL;
	const vc_manifest *manifest;
	uint32_t seen = 0;
	float expected[64];
	char id[32];

	assert_int_equal(vc_session_open(uri, options, &session), VC_OK);
	manifest = vc_session_manifest_get(session);
	assert_int_equal(manifest->total_vectors, count);
	assert_int_equal(manifest->dim, dim);
	assert_int_equal(manifest->epoch, 1);
	assert_int_equal(manifest->chunk_count, (count + chunk_size - 1) / chunk_size);
	for (size_t c = 0; c < manifest->chunk_count; c++) {
		vc_cache_entry *entry = NULL;
		const vc_chunk *chunk;

		assert_int_equal(vc_session_chunk_get(session, manifest, c, &entry), VC_OK);
		chunk = vc_cache_entry_value(entry);
		assert_int_equal(chunk->count, manifest->chunks[c].vector_count);
		for (uint32_t r = 0; r < chunk->count; r++, seen++) {
			json_t *want = make_metadata(seen);
			json_t *got = NULL;
			size_t off = chunk->meta_offset[r];

			snprintf(id, sizeof(id), "id-%u", seen);
			assert_string_equal(chunk->ids[r], id);
			make_vector(seen, dim, expected);
			assert_memory_equal(chunk->vectors + (size_t)r * dim, expected,
					    dim * sizeof(float));
			assert_int_equal(vc_meta_decode(chunk->meta + off,
							chunk->meta_offset[r + 1] - off, &got),
					 VC_OK);
			if (want == NULL)
				assert_true(json_is_null(got));
			else
				assert_true(json_equal(want, got));
			json_decref(want);
			json_decref(got);
		}
		vc_session_chunk_release(session, entry);
	}
	assert_int_equal(seen, count);
	vc_session_manifest_put(session, manifest);
	vc_session_close(session);
}

static void test_round_trip_key_file(void **state)
{
	fixture *fx = *state;
	vc_create_options create = {.key_file = fx->key, .metric = VC_METRIC_L2, .chunk_size = 64};
	vc_open_options open = {.key_file = fx->key};
	vc_session *session = NULL;
	const vc_manifest *manifest;
	json_t *meta = NULL;

	write_session(fx->uri, &create, 250, 8);
	check_session(fx->uri, &open, 250, 8, 64);

	assert_int_equal(vc_session_open(fx->uri, &open, &session), VC_OK);
	manifest = vc_session_manifest_get(session);
	assert_true(manifest->encryption.enabled);
	assert_int_equal(manifest->metric, VC_METRIC_L2);
	assert_int_equal(vc_session_metadata(session, manifest, &meta), VC_OK);
	assert_string_equal(json_string_value(json_object_get(meta, "format")), "vchunk");
	assert_string_equal(json_string_value(json_object_get(meta, "metric")), "l2");
	assert_int_equal(json_integer_value(json_object_get(meta, "dim")), 8);
	assert_int_equal(json_integer_value(json_object_get(meta, "total_vectors")), 250);
	assert_int_equal(json_integer_value(json_object_get(meta, "chunk_count")), 4);
	assert_non_null(strstr(json_string_value(json_object_get(meta, "producer")), "vchunk "));
	json_decref(meta);
	vc_session_manifest_put(session, manifest);
	vc_session_close(session);
}

static void test_multi_frame_chunks(void **state)
{
	fixture *fx = *state;
	const uint32_t dim = 4096, count = 200; /* 1 MiB frames hold 64 rows of 4096 floats */
	vc_create_options create = {.key_file = fx->key, .chunk_size = 150};
	vc_open_options open = {.key_file = fx->key};
	float *vector = malloc(dim * sizeof(float));
	vc_session *session = NULL;
	const vc_manifest *manifest;
	vc_cache_entry *entry = NULL;
	const vc_chunk *chunk;
	vc_writer *writer = NULL;
	char id[16];

	assert_non_null(vector);
	assert_int_equal(vc_writer_create(fx->uri, &create, &writer), VC_OK);
	for (uint32_t i = 0; i < count; i++) {
		for (uint32_t d = 0; d < dim; d++)
			vector[d] = (float)(i * dim + d);
		snprintf(id, sizeof(id), "r%u", i);
		assert_int_equal(vc_writer_add(writer, id, vector, dim, NULL), VC_OK);
	}
	assert_int_equal(vc_writer_commit(writer), VC_OK);
	assert_int_equal(vc_session_open(fx->uri, &open, &session), VC_OK);
	manifest = vc_session_manifest_get(session);
	assert_int_equal(manifest->chunk_count, 2);
	/* Chunk 0: a header frame and rows 0-63, 64-127, 128-149; chunk 1: header and 50 rows. */
	assert_int_equal(manifest->chunks[0].object.frame_count, 4);
	assert_int_equal(manifest->chunks[1].object.frame_count, 2);
	assert_int_equal(vc_session_chunk_get(session, manifest, 0, &entry), VC_OK);
	chunk = vc_cache_entry_value(entry);
	assert_int_equal(chunk->frame_count, 3);
	assert_int_equal(chunk->frames[2].first, 128);
	assert_int_equal(chunk->frames[2].count, 22);
	for (uint32_t r = 0; r < chunk->count; r++) {
		for (uint32_t d = 0; d < dim; d++)
			vector[d] = (float)(r * dim + d);
		assert_memory_equal(chunk->vectors + (size_t)r * dim, vector, dim * sizeof(float));
	}
	vc_session_chunk_release(session, entry);
	assert_int_equal(vc_session_verify(session, NULL, NULL), VC_OK);
	vc_session_manifest_put(session, manifest);
	vc_session_close(session);
	free(vector);
}

static void test_plaintext_round_trip(void **state)
{
	fixture *fx = *state;
	vc_create_options create = {
	    .no_encryption = true, .metric = VC_METRIC_DOT, .chunk_size = 10};
	vc_open_options with_key = {.key_file = fx->key};
	vc_session *session = NULL;
	const vc_manifest *manifest;

	write_session(fx->uri, &create, 35, 5);
	check_session(fx->uri, NULL, 35, 5, 10);
	/* A key given for a plaintext session is not needed and does no harm. */
	check_session(fx->uri, &with_key, 35, 5, 10);
	assert_int_equal(vc_session_open(fx->uri, NULL, &session), VC_OK);
	manifest = vc_session_manifest_get(session);
	assert_false(manifest->encryption.enabled);
	assert_int_equal(vc_session_verify(session, NULL, NULL), VC_OK);
	vc_session_manifest_put(session, manifest);
	vc_session_close(session);
}

static void test_bad_vectors_refused(void **state)
{
	fixture *fx = *state;
	vc_create_options create = {.key_file = fx->key, .chunk_size = 4};
	vc_writer *writer = NULL;
	float v[4] = {1, 2, 3, 4};
	char long_id[1100];

	assert_int_equal(vc_writer_create(fx->uri, &create, &writer), VC_OK);
	assert_int_equal(vc_writer_add(writer, "a", v, 4, NULL), VC_OK);
	assert_int_equal(vc_writer_add(writer, "a", v, 4, NULL), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "duplicate id 'a'"));
	assert_int_equal(vc_writer_add(writer, "b", v, 3, NULL), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "3 dimensions"));
	v[2] = NAN;
	assert_int_equal(vc_writer_add(writer, "c", v, 4, NULL), VC_ERR_INVALID);
	v[2] = INFINITY;
	assert_int_equal(vc_writer_add(writer, "c", v, 4, NULL), VC_ERR_INVALID);
	v[2] = 3;
	assert_int_equal(vc_writer_add(writer, "", v, 4, NULL), VC_ERR_INVALID);
	assert_int_equal(vc_writer_add(writer, "tab\there", v, 4, NULL), VC_ERR_INVALID);
	assert_int_equal(vc_writer_add(writer, "bad\xff", v, 4, NULL), VC_ERR_INVALID);
	assert_int_equal(vc_writer_add(writer, "overlong\xc0\xaf", v, 4, NULL), VC_ERR_INVALID);
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(vc_writer_add(writer, long_id, v, 4, NULL), VC_ERR_INVALID);
	/* Refusals leave the writer usable: the good vectors still make a session. */
	assert_int_equal(vc_writer_add(writer, "b", v, 4, NULL), VC_OK);
	assert_int_equal(vc_writer_add(writer, "\xc3\xa9t\xc3\xa9", v, 4, NULL), VC_OK);
	assert_int_equal(vc_writer_commit(writer), VC_OK);

	vc_session *session = NULL;
	vc_open_options open = {.key_file = fx->key};
	const vc_manifest *manifest;

	assert_int_equal(vc_session_open(fx->uri, &open, &session), VC_OK);
	manifest = vc_session_manifest_get(session);
	assert_int_equal(manifest->total_vectors, 3);
	vc_session_manifest_put(session, manifest);
	vc_session_close(session);
}

static void test_existing_session_untouched(void **state)
{
	fixture *fx = *state;
	vc_create_options create = {.key_file = fx->key, .chunk_size = 16};
	vc_open_options open = {.key_file = fx->key};
	vc_writer *writer = NULL;
	char path[256];
	size_t before_len, after_len;
	char *before, *after;

	write_session(fx->uri, &create, 40, 6);
	snprintf(path, sizeof(path), "%s/manifest.json", fx->uri);
	before = vc_test_read_file(path, &before_len);
	assert_int_equal(vc_writer_create(fx->uri, &create, &writer), VC_ERR_EXISTS);
	assert_null(writer);
	assert_non_null(strstr(vc_last_error(), "left untouched"));
	after = vc_test_read_file(path, &after_len);
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	free(before);
	free(after);
	check_session(fx->uri, &open, 40, 6, 16);
}

/* Regular files under @p dir, recursively. */
static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[512];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(lstat(path, &st), 0);
		n += S_ISDIR(st.st_mode) ? count_files(path) : 1;
	}
	closedir(d);
	return n;
}

static void test_abort_removes_objects(void **state)
{
	fixture *fx = *state;
	/* A flat writer stores chunks as they fill (an indexed one spools until commit). */
	vc_create_options create = {.key_file = fx->key, .chunk_size = 10, .index = VC_INDEX_FLAT};
	vc_writer *writer = NULL;
	float v[3];
	char id[16];

	assert_int_equal(vc_writer_create(fx->uri, &create, &writer), VC_OK);
	for (uint32_t i = 0; i < 35; i++) {
		snprintf(id, sizeof(id), "v%u", i);
		make_vector(i, 3, v);
		assert_int_equal(vc_writer_add(writer, id, v, 3, NULL), VC_OK);
	}
	/* Three full chunks were stored as they filled. */
	assert_int_equal(count_files(fx->uri), 3);
	vc_writer_abort(writer);
	assert_int_equal(count_files(fx->uri), 0);
}

static void test_failed_put_leaves_no_session(void **state)
{
	fixture *fx = *state;
	/* A flat writer stores chunks as they fill (an indexed one spools until commit). */
	vc_create_options create = {.key_file = fx->key, .chunk_size = 10, .index = VC_INDEX_FLAT};
	vc_writer *writer = NULL;
	char blocker[320], chunks[256];
	vc_err err = VC_OK;
	uint32_t added = 0;
	float v[3];
	char id[16];

	/* A directory where chunk 3 must go makes its put fail after three chunks were stored. */
	snprintf(chunks, sizeof(chunks), "%s/chunks", fx->uri);
	snprintf(blocker, sizeof(blocker), "%s/chunk-3.cbor", chunks);
	assert_int_equal(mkdir(fx->uri, 0700), 0);
	assert_int_equal(mkdir(chunks, 0700), 0);
	assert_int_equal(mkdir(blocker, 0700), 0);
	assert_int_equal(vc_writer_create(fx->uri, &create, &writer), VC_OK);
	for (; added < 60 && err == VC_OK; added++) {
		snprintf(id, sizeof(id), "v%u", added);
		make_vector(added, 3, v);
		err = vc_writer_add(writer, id, v, 3, NULL);
	}
	assert_int_not_equal(err, VC_OK);
	assert_int_equal(added, 40);
	assert_non_null(strstr(vc_last_error(), "chunk-3.cbor"));
	assert_int_equal(count_files(fx->uri), 3);
	/* The writer refuses to go on, and committing it cleans up. */
	assert_int_not_equal(vc_writer_add(writer, "late", v, 3, NULL), VC_OK);
	assert_int_not_equal(vc_writer_commit(writer), VC_OK);
	assert_int_equal(count_files(fx->uri), 0);
}

static void test_empty_session_refused(void **state)
{
	fixture *fx = *state;
	vc_create_options create = {.key_file = fx->key};
	vc_session *session = NULL;
	vc_writer *writer = NULL;

	assert_int_equal(vc_writer_create(fx->uri, &create, &writer), VC_OK);
	assert_int_equal(vc_writer_commit(writer), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "no vectors to import"));
	assert_int_equal(count_files(fx->uri), 0);
	assert_int_equal(vc_session_open(fx->uri, NULL, &session), VC_ERR_NOT_FOUND);
	assert_non_null(strstr(vc_last_error(), "manifest.json not found"));
}

static void test_create_needs_a_key_choice(void **state)
{
	fixture *fx = *state;
	vc_create_options none = {0};
	vc_create_options both = {.key_file = fx->key, .passphrase = "secret words"};
	vc_create_options contradiction = {.key_file = fx->key, .no_encryption = true};
	vc_writer *writer = NULL;

	assert_int_equal(vc_writer_create(fx->uri, &none, &writer), VC_ERR_PERMISSION);
	assert_int_equal(vc_writer_create(fx->uri, &both, &writer), VC_ERR_INVALID);
	assert_int_equal(vc_writer_create(fx->uri, &contradiction, &writer), VC_ERR_INVALID);
	assert_null(writer);
}

static void test_key_file_generation(void **state)
{
	fixture *fx = *state;
	char path[128];
	struct stat st;
	size_t len;
	char *first, *second;

	assert_int_equal(stat(fx->key, &st), 0);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(st.st_mode & 0777, 0600);
	first = vc_test_read_file(fx->key, &len);
	assert_int_equal(vc_key_generate_file(fx->key), VC_ERR_EXISTS);
	second = vc_test_read_file(fx->key, &len);
	assert_memory_equal(first, second, 32);
	free(second);
	snprintf(path, sizeof(path), "%s/key2", fx->dir);
	assert_int_equal(vc_key_generate_file(path), VC_OK);
	second = vc_test_read_file(path, &len);
	assert_int_equal(len, 32);
	assert_memory_not_equal(first, second, 32);
	free(first);
	free(second);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip_key_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multi_frame_chunks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plaintext_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_vectors_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_existing_session_untouched, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abort_removes_objects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_put_leaves_no_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_session_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_needs_a_key_choice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_file_generation, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
