/* Tests for opening and reading sessions: keys, tampering of every kind caught and named,
 * verify reporting exactly the damaged objects, refresh and rollback, passphrases. */
#include <pthread.h>
#include <stdatomic.h>
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
#include "format/keyring.h"
#include "format/manifest_codec.h"
#include "test_util.h"
#include "vchunk/vchunk.h"

#define DIM 6
#define COUNT 30
#define CHUNK_SIZE 10 /* three chunks */

typedef struct fixture {
	char dir[64];
	char uri[128];
	char key[128];
	vc_open_options open;
} fixture;

static void make_vector(uint32_t i, float *out)
{
	for (uint32_t d = 0; d < DIM; d++)
		out[d] = (float)(i + 1) * 0.25f - (float)d;
}

static void write_session(const char *uri, const vc_create_options *create)
{
	vc_writer *writer = NULL;
	float v[DIM];
	char id[16];

	assert_int_equal(vc_writer_create(uri, create, &writer), VC_OK);
	for (uint32_t i = 0; i < COUNT; i++) {
		json_t *meta = json_pack("{s:i}", "i", (int)i);

		snprintf(id, sizeof(id), "v%u", i);
		make_vector(i, v);
		assert_int_equal(vc_writer_add(writer, id, v, DIM, meta), VC_OK);
		json_decref(meta);
	}
	assert_int_equal(vc_writer_commit(writer), VC_OK);
}

static int setup(void **state)
{
	fixture *fx = calloc(1, sizeof(*fx));
	vc_create_options create = {.chunk_size = CHUNK_SIZE, .metric = VC_METRIC_COSINE};

	if (vc_test_session_dir("/tmp/vchunk-session-XXXXXX", "s", fx->dir, fx->uri, fx->key) != 0)
		return -1;
	create.key_file = fx->key;
	write_session(fx->uri, &create);
	fx->open.key_file = fx->key;
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

static void object_path(const fixture *fx, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", fx->uri, name);
}

/* Try to read chunk @p index; returns the error (entry released). */
static vc_err read_chunk(vc_session *session, size_t index)
{
	const vc_manifest *manifest = vc_session_manifest_get(session);
	vc_cache_entry *entry = NULL;
	vc_err err = vc_session_chunk_get(session, manifest, index, &entry);

	if (err == VC_OK) {
		const vc_chunk *chunk = vc_cache_entry_value(entry);
		float v[DIM];

		/* Content is what was written: row 0 of chunk c is vector c*CHUNK_SIZE. */
		make_vector((uint32_t)index * CHUNK_SIZE, v);
		assert_memory_equal(chunk->vectors, v, sizeof(v));
		vc_session_chunk_release(session, entry);
	}
	vc_session_manifest_put(session, manifest);
	return err;
}

static vc_session *open_ok(fixture *fx)
{
	vc_session *session = NULL;

	assert_int_equal(vc_session_open(fx->uri, &fx->open, &session), VC_OK);
	return session;
}

static void test_wrong_key(void **state)
{
	fixture *fx = *state;
	vc_keyring *right = NULL, *wrong = NULL;
	char other[160], want[32], have[32];
	vc_open_options open = {0};
	vc_session *session = NULL;

	snprintf(other, sizeof(other), "%s/other-key", fx->dir);
	assert_int_equal(vc_key_generate_file(other), VC_OK);
	open.key_file = other;
	assert_int_equal(vc_session_open(fx->uri, &open, &session), VC_ERR_AUTH);
	assert_null(session);
	assert_int_equal(vc_keyring_from_file(fx->key, &right), VC_OK);
	assert_int_equal(vc_keyring_from_file(other, &wrong), VC_OK);
	vc_key_id_hex(right->key_id, want);
	vc_key_id_hex(wrong->key_id, have);
	assert_non_null(strstr(vc_last_error(), "wrong key"));
	assert_non_null(strstr(vc_last_error(), want));
	assert_non_null(strstr(vc_last_error(), have));
	vc_keyring_free(right);
	vc_keyring_free(wrong);
}

static void test_no_key(void **state)
{
	fixture *fx = *state;
	vc_session *session = NULL;

	assert_int_equal(vc_session_open(fx->uri, NULL, &session), VC_ERR_PERMISSION);
	assert_non_null(strstr(vc_last_error(), "encrypted"));
	assert_null(session);
}

static void test_no_session(void **state)
{
	fixture *fx = *state;
	vc_session *session = NULL;
	char missing[160];

	snprintf(missing, sizeof(missing), "%s/nothing-here", fx->dir);
	assert_int_equal(vc_session_open(missing, &fx->open, &session), VC_ERR_NOT_FOUND);
	assert_non_null(strstr(vc_last_error(), "manifest.json not found"));
}

static void test_tampered_manifest(void **state)
{
	fixture *fx = *state;
	vc_session *session = NULL;
	char path[200];
	char *json, *field, *digit;
	size_t len;

	object_path(fx, "manifest.json", path, sizeof(path));
	json = vc_test_read_file(path, &len);
	/* Change one digit of a number the parser accepts either way. */
	field = strstr(json, "\"created_at\"");
	assert_non_null(field);
	digit = field + strcspn(field, "0123456789");
	*digit = *digit == '1' ? '2' : '1';
	vc_test_write_file(path, json, len);
	free(json);
	assert_int_equal(vc_session_open(fx->uri, &fx->open, &session), VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "manifest.json"));
	assert_non_null(strstr(vc_last_error(), "tampered"));
}

static void test_flipped_bit(void **state)
{
	fixture *fx = *state;
	vc_session *session = open_ok(fx);
	char path[200];
	char *data;
	size_t len;

	object_path(fx, "chunks/chunk-1.cbor", path, sizeof(path));
	data = vc_test_read_file(path, &len);
	data[len / 2] ^= 0x10;
	vc_test_write_file(path, data, len);
	free(data);
	assert_int_equal(read_chunk(session, 1), VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "chunks/chunk-1.cbor"));
	assert_int_equal(read_chunk(session, 0), VC_OK);
	assert_int_equal(read_chunk(session, 2), VC_OK);
	vc_session_close(session);
}

static void test_truncated_chunk(void **state)
{
	fixture *fx = *state;
	vc_session *session = open_ok(fx);
	char path[200];

	object_path(fx, "chunks/chunk-2.cbor", path, sizeof(path));
	assert_int_equal(truncate(path, 100), 0);
	assert_int_equal(read_chunk(session, 2), VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "chunks/chunk-2.cbor"));
	assert_non_null(strstr(vc_last_error(), "truncated"));
	assert_int_equal(read_chunk(session, 0), VC_OK);
	vc_session_close(session);
}

static void test_chunk_from_other_session(void **state)
{
	fixture *fx = *state;
	vc_create_options create = {.key_file = fx->key, .chunk_size = CHUNK_SIZE};
	char other[160], from[240], to[200];
	vc_session *session;
	char *data;
	size_t len;

	/* Same key, same vectors, same path: only the session differs. */
	snprintf(other, sizeof(other), "%s/other", fx->dir);
	write_session(other, &create);
	snprintf(from, sizeof(from), "%s/chunks/chunk-0.cbor", other);
	object_path(fx, "chunks/chunk-0.cbor", to, sizeof(to));
	data = vc_test_read_file(from, &len);
	vc_test_write_file(to, data, len);
	free(data);
	session = open_ok(fx);
	assert_int_equal(read_chunk(session, 0), VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "chunks/chunk-0.cbor"));
	assert_int_equal(read_chunk(session, 1), VC_OK);
	vc_session_close(session);
}

static void test_swapped_chunks(void **state)
{
	fixture *fx = *state;
	char a[200], b[200], tmp[220];
	vc_session *session;

	object_path(fx, "chunks/chunk-0.cbor", a, sizeof(a));
	object_path(fx, "chunks/chunk-1.cbor", b, sizeof(b));
	snprintf(tmp, sizeof(tmp), "%s.tmp", a);
	assert_int_equal(rename(a, tmp), 0);
	assert_int_equal(rename(b, a), 0);
	assert_int_equal(rename(tmp, b), 0);
	session = open_ok(fx);
	assert_int_equal(read_chunk(session, 0), VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "chunks/chunk-0.cbor"));
	assert_int_equal(read_chunk(session, 1), VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "chunks/chunk-1.cbor"));
	assert_int_equal(read_chunk(session, 2), VC_OK);
	vc_session_close(session);
}

static void test_missing_chunk(void **state)
{
	fixture *fx = *state;
	vc_session *session;
	char path[200];

	object_path(fx, "chunks/chunk-1.cbor", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	session = open_ok(fx);
	assert_int_equal(read_chunk(session, 1), VC_ERR_NOT_FOUND);
	assert_non_null(strstr(vc_last_error(), "chunks/chunk-1.cbor"));
	assert_int_equal(read_chunk(session, 0), VC_OK);
	vc_session_close(session);
}

typedef struct reports {
	int count;
	char paths[8][64];
	vc_err errs[8];
} reports;

static void collect(void *ctx, const char *path, vc_err err, const char *message)
{
	reports *r = ctx;

	assert_non_null(strstr(message, path));
	assert_true(r->count < 8);
	snprintf(r->paths[r->count], sizeof(r->paths[0]), "%s", path);
	r->errs[r->count++] = err;
}

static void test_verify(void **state)
{
	fixture *fx = *state;
	vc_session *session = open_ok(fx);
	reports clean = {0}, broken = {0};
	char path[200];
	char *data;
	size_t len;

	assert_int_equal(vc_session_verify(session, collect, &clean), VC_OK);
	assert_int_equal(clean.count, 0);

	object_path(fx, "chunks/chunk-0.cbor", path, sizeof(path));
	data = vc_test_read_file(path, &len);
	data[len - 1] ^= 0x01;
	vc_test_write_file(path, data, len);
	free(data);
	object_path(fx, "metadata.cbor", path, sizeof(path));
	assert_int_equal(unlink(path), 0);

	assert_int_not_equal(vc_session_verify(session, collect, &broken), VC_OK);
	assert_int_equal(broken.count, 2);
	assert_string_equal(broken.paths[0], "chunks/chunk-0.cbor");
	assert_int_equal(broken.errs[0], VC_ERR_AUTH);
	assert_string_equal(broken.paths[1], "metadata.cbor");
	assert_int_equal(broken.errs[1], VC_ERR_NOT_FOUND);
	vc_session_close(session);
}

/* Write manifest.json again with epoch @p epoch, MACed with the session key. */
static void rewrite_epoch(fixture *fx, const char *json, size_t len, uint64_t epoch)
{
	vc_manifest *manifest = NULL;
	vc_keyring *keyring = NULL;
	vc_bytes out = {0};
	char path[200];

	assert_int_equal(vc_manifest_parse(json, len, &manifest), VC_OK);
	manifest->epoch = epoch;
	assert_int_equal(vc_keyring_from_file(fx->key, &keyring), VC_OK);
	assert_int_equal(vc_manifest_serialize(manifest, keyring, &out), VC_OK);
	object_path(fx, "manifest.json", path, sizeof(path));
	vc_test_write_file(path, out.data, out.len);
	vc_bytes_free(&out);
	vc_keyring_free(keyring);
	vc_manifest_free(manifest);
}

static void test_refresh_and_rollback(void **state)
{
	fixture *fx = *state;
	vc_session *session = open_ok(fx);
	const vc_manifest *old, *now;
	bool changed = true;
	char path[200];
	char *json;
	size_t len;

	object_path(fx, "manifest.json", path, sizeof(path));
	json = vc_test_read_file(path, &len);
	old = vc_session_manifest_get(session);
	assert_int_equal(old->epoch, 1);

	assert_int_equal(vc_session_refresh(session, &changed), VC_OK);
	assert_false(changed);

	rewrite_epoch(fx, json, len, 2);
	assert_int_equal(vc_session_refresh(session, &changed), VC_OK);
	assert_true(changed);
	now = vc_session_manifest_get(session);
	assert_int_equal(now->epoch, 2);
	/* The reader holding the old snapshot still sees it, intact. */
	assert_int_equal(old->epoch, 1);
	assert_int_equal(old->total_vectors, COUNT);
	vc_session_manifest_put(session, old);
	assert_int_equal(read_chunk(session, 2), VC_OK);

	/* Storage serving the older manifest again is a rollback. */
	vc_test_write_file(path, json, len);
	assert_int_equal(vc_session_refresh(session, &changed), VC_ERR_AUTH);
	assert_false(changed);
	assert_non_null(strstr(vc_last_error(), "rollback"));
	vc_session_manifest_put(session, now);
	now = vc_session_manifest_get(session);
	assert_int_equal(now->epoch, 2);
	vc_session_manifest_put(session, now);
	free(json);
	vc_session_close(session);
}

static void test_passphrase_round_trip(void **state)
{
	fixture *fx = *state;
	vc_create_options create = {.passphrase = "correct horse battery staple",
				    .chunk_size = CHUNK_SIZE};
	vc_open_options right = {.passphrase = "correct horse battery staple"};
	vc_open_options wrong = {.passphrase = "incorrect horse"};
	vc_session *session = NULL;
	const vc_manifest *manifest;
	char uri[160];

	snprintf(uri, sizeof(uri), "%s/pass", fx->dir);
	write_session(uri, &create);
	assert_int_equal(vc_session_open(uri, &wrong, &session), VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "wrong key"));
	assert_int_equal(vc_session_open(uri, &right, &session), VC_OK);
	manifest = vc_session_manifest_get(session);
	assert_string_equal(manifest->encryption.kdf, "argon2id13");
	assert_true(manifest->encryption.opslimit >= VC_ARGON2_MIN_OPSLIMIT);
	assert_true(manifest->encryption.memlimit >= VC_ARGON2_MIN_MEMLIMIT);
	vc_session_manifest_put(session, manifest);
	assert_int_equal(read_chunk(session, 0), VC_OK);
	assert_int_equal(read_chunk(session, 2), VC_OK);
	assert_int_equal(vc_session_verify(session, NULL, NULL), VC_OK);
	vc_session_close(session);
}

static void test_plain_bytes_and_read_object(void **state)
{
	fixture *fx = *state;
	vc_session *session = open_ok(fx);
	const vc_manifest *manifest = vc_session_manifest_get(session);
	vc_cache_entry *plain_entry = NULL, *chunk_entry = NULL;
	const vc_chunk *chunk;
	const vc_bytes *plain;
	vc_chunk *decoded = NULL;
	vc_bytes object = {0};

	assert_int_equal(vc_session_chunk_plain_get(session, manifest, 1, &plain_entry), VC_OK);
	plain = vc_cache_entry_value(plain_entry);
	assert_int_equal(plain->len, manifest->chunks[1].object.plain_size);
	assert_int_equal(vc_session_read_object(session, manifest, "chunks/chunk-1.cbor", &object),
			 VC_OK);
	assert_int_equal(object.len, plain->len);
	assert_memory_equal(object.data, plain->data, plain->len);
	assert_int_equal(vc_chunk_decode(plain->data, plain->len, &decoded), VC_OK);
	assert_int_equal(vc_session_chunk_get(session, manifest, 1, &chunk_entry), VC_OK);
	chunk = vc_cache_entry_value(chunk_entry);
	assert_int_equal(decoded->count, chunk->count);
	assert_memory_equal(decoded->vectors, chunk->vectors,
			    (size_t)chunk->count * DIM * sizeof(float));
	assert_string_equal(decoded->ids[3], chunk->ids[3]);
	vc_chunk_free(decoded);
	vc_bytes_free(&object);
	vc_session_chunk_release(session, chunk_entry);
	vc_session_chunk_release(session, plain_entry);
	assert_int_equal(vc_session_read_object(session, manifest, "chunks/chunk-9.cbor", &object),
			 VC_ERR_NOT_FOUND);
	assert_int_equal(vc_session_chunk_get(session, manifest, 3, &chunk_entry), VC_ERR_INVALID);
	vc_session_manifest_put(session, manifest);
	vc_session_close(session);
}

static void test_plaintext_tamper_is_corrupt(void **state)
{
	fixture *fx = *state;
	vc_create_options create = {.no_encryption = true, .chunk_size = CHUNK_SIZE};
	vc_session *session = NULL;
	char uri[160], path[220];
	char *data;
	size_t len;

	snprintf(uri, sizeof(uri), "%s/plain", fx->dir);
	write_session(uri, &create);
	snprintf(path, sizeof(path), "%s/chunks/chunk-0.cbor", uri);
	data = vc_test_read_file(path, &len);
	data[len / 2] ^= 0x04;
	vc_test_write_file(path, data, len);
	free(data);
	assert_int_equal(vc_session_open(uri, NULL, &session), VC_OK);
	assert_int_equal(read_chunk(session, 0), VC_ERR_CORRUPT);
	assert_non_null(strstr(vc_last_error(), "chunks/chunk-0.cbor"));
	assert_int_equal(read_chunk(session, 1), VC_OK);
	vc_session_close(session);
}

typedef struct reader_arg {
	vc_session *session;
	int failures;
} reader_arg;

static void *reader(void *p)
{
	reader_arg *arg = p;

	for (int round = 0; round < 50; round++) {
		bool changed;

		if (read_chunk(arg->session, (size_t)round % 3) != VC_OK)
			arg->failures++;
		if (round % 10 == 0 && vc_session_refresh(arg->session, &changed) != VC_OK)
			arg->failures++;
	}
	return NULL;
}

static void test_concurrent_readers_and_stats(void **state)
{
	fixture *fx = *state;
	vc_session *session = open_ok(fx);
	reader_arg args[4];
	pthread_t threads[4];
	vc_session_stats stats;

	for (int i = 0; i < 4; i++) {
		args[i].session = session;
		args[i].failures = 0;
		assert_int_equal(pthread_create(&threads[i], NULL, reader, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	vc_session_get_stats(session, &stats);
	/* The default cache holds all three chunks: each was loaded once (single flight), every
	 * other get was a hit or waited for that one load. */
	assert_int_equal(stats.chunk_loads, 3);
	assert_int_equal(stats.cache.misses, 3);
	assert_int_equal(stats.cache.hits + stats.cache.waits + stats.cache.misses, 4 * 50);
	assert_true(stats.bytes_fetched > 0);
	assert_true(stats.frames_decrypted >= 3);
	vc_session_close(session);
}

typedef struct epoch_reader {
	vc_session *session;
	atomic_int *stop;
	int failures;
	uint64_t reads;
} epoch_reader;

/* Hold a snapshot while reading a chunk with it; epochs seen never go back. */
static void *epoch_reader_run(void *p)
{
	epoch_reader *r = p;
	uint64_t last = 0;

	while (!atomic_load(r->stop) || r->reads < 20) {
		const vc_manifest *m = vc_session_manifest_get(r->session);
		vc_cache_entry *entry = NULL;

		if (m->epoch < last || m->total_vectors != COUNT)
			r->failures++;
		last = m->epoch;
		if (vc_session_chunk_get(r->session, m, r->reads % 3, &entry) != VC_OK)
			r->failures++;
		vc_session_chunk_release(r->session, entry);
		vc_session_manifest_put(r->session, m);
		r->reads++;
	}
	return NULL;
}

static void test_refresh_under_readers(void **state)
{
	fixture *fx = *state;
	vc_session *session = open_ok(fx);
	atomic_int stop = 0;
	epoch_reader readers[3];
	pthread_t threads[3];
	const vc_manifest *m;
	char path[200];
	char *json;
	size_t len;

	object_path(fx, "manifest.json", path, sizeof(path));
	json = vc_test_read_file(path, &len);
	for (int i = 0; i < 3; i++) {
		readers[i] = (epoch_reader){.session = session, .stop = &stop};
		assert_int_equal(pthread_create(&threads[i], NULL, epoch_reader_run, &readers[i]),
				 0);
	}
	for (uint64_t epoch = 2; epoch <= 20; epoch++) {
		bool changed = false;

		rewrite_epoch(fx, json, len, epoch);
		assert_int_equal(vc_session_refresh(session, &changed), VC_OK);
		assert_true(changed);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(readers[i].failures, 0);
	}
	m = vc_session_manifest_get(session);
	assert_int_equal(m->epoch, 20);
	vc_session_manifest_put(session, m);
	free(json);
	vc_session_close(session);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered_manifest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flipped_bit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_chunk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunk_from_other_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_swapped_chunks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_chunk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_and_rollback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_passphrase_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plain_bytes_and_read_object, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plaintext_tamper_is_corrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_readers_and_stats, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresh_under_readers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
