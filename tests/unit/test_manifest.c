/* Tests for manifest.json: round trips, the MAC, and rejection of malformed or hostile manifests.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format/envelope.h"
#include "format/manifest_codec.h"
#include "util/error_i.h"

typedef struct fixture {
	vc_keyring *keyring;
	vc_keyring *other;
	vc_manifest *manifest;
} fixture;

static void set_object(vc_object_ref *ref, const char *path, uint64_t plain, uint32_t frames,
		       uint8_t seed)
{
	ref->path = strdup(path);
	ref->plain_size = plain;
	ref->frame_count = frames;
	ref->byte_size = 60 + 48ull * frames + plain;
	memset(ref->hash, seed, sizeof(ref->hash));
}

static vc_manifest *sample(const vc_keyring *keyring)
{
	vc_manifest *m = calloc(1, sizeof(*m));

	m->format_version = VC_FORMAT_VERSION;
	m->version = VC_MANIFEST_LAYOUT_VERSION;
	m->epoch = 12;
	memset(m->session_id, 0xab, sizeof(m->session_id));
	m->dim = 384;
	m->metric = VC_METRIC_DOT;
	m->chunk_size = 10000;
	m->created_at = 1700000000;
	m->committed_at = 1700000500;
	m->next_chunk_id = 5;
	m->encryption.enabled = keyring != NULL;
	strcpy(m->encryption.kdf, "argon2id13");
	memset(m->encryption.salt, 0x11, sizeof(m->encryption.salt));
	m->encryption.opslimit = 3;
	m->encryption.memlimit = 268435456;
	if (keyring != NULL)
		memcpy(m->encryption.key_id, keyring->key_id, VC_KEY_ID_BYTES);
	m->chunk_count = 2;
	m->chunks = calloc(2, sizeof(*m->chunks));
	m->chunks[0].chunk_id = 0;
	m->chunks[0].vector_count = 10000;
	set_object(&m->chunks[0].object, "chunks/chunk-0.cbor", 15400000, 4, 1);
	m->chunks[1].chunk_id = 4;
	m->chunks[1].vector_count = 17;
	m->chunks[1].cid = strdup("z5AanNVJCxnN");
	set_object(&m->chunks[1].object, "chunks/chunk-4.cbor", 30000, 1, 2);
	m->total_vectors = 10017;
	m->object_count = 2;
	m->objects = calloc(2, sizeof(*m->objects));
	set_object(&m->objects[0], "metadata.cbor", 100, 1, 3);
	set_object(&m->objects[1], "index/centroids.cbor", 6000, 2, 4);
	return m;
}

static int setup(void **state)
{
	uint8_t master[VC_KEY_BYTES];
	fixture *f = calloc(1, sizeof(*f));

	memset(master, 7, sizeof(master));
	assert_int_equal(vc_keyring_from_master(master, &f->keyring), VC_OK);
	master[3] = 8;
	assert_int_equal(vc_keyring_from_master(master, &f->other), VC_OK);
	f->manifest = sample(f->keyring);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	vc_manifest_free(f->manifest);
	vc_keyring_free(f->keyring);
	vc_keyring_free(f->other);
	free(f);
	return 0;
}

static void assert_same(const vc_manifest *a, const vc_manifest *b)
{
	assert_int_equal(a->epoch, b->epoch);
	assert_memory_equal(a->session_id, b->session_id, VC_SESSION_ID_BYTES);
	assert_int_equal(a->dim, b->dim);
	assert_int_equal(a->metric, b->metric);
	assert_int_equal(a->chunk_size, b->chunk_size);
	assert_int_equal(a->total_vectors, b->total_vectors);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->committed_at, b->committed_at);
	assert_int_equal(a->next_chunk_id, b->next_chunk_id);
	assert_int_equal(a->encryption.enabled, b->encryption.enabled);
	assert_memory_equal(a->encryption.key_id, b->encryption.key_id, VC_KEY_ID_BYTES);
	assert_int_equal(a->chunk_count, b->chunk_count);
	assert_int_equal(a->object_count, b->object_count);
	for (size_t i = 0; i < a->chunk_count; i++) {
		assert_int_equal(a->chunks[i].chunk_id, b->chunks[i].chunk_id);
		assert_int_equal(a->chunks[i].vector_count, b->chunks[i].vector_count);
		assert_string_equal(a->chunks[i].object.path, b->chunks[i].object.path);
		assert_int_equal(a->chunks[i].object.byte_size, b->chunks[i].object.byte_size);
		assert_int_equal(a->chunks[i].object.frame_count, b->chunks[i].object.frame_count);
		assert_memory_equal(a->chunks[i].object.hash, b->chunks[i].object.hash,
				    VC_HASH_BYTES);
		assert_true((a->chunks[i].cid == NULL) == (b->chunks[i].cid == NULL));
	}
	for (size_t i = 0; i < a->object_count; i++) {
		assert_string_equal(a->objects[i].path, b->objects[i].path);
		assert_int_equal(a->objects[i].plain_size, b->objects[i].plain_size);
	}
}

static void test_round_trip(void **state)
{
	fixture *f = *state;
	vc_bytes text = {0};
	vc_manifest *parsed, *clone;

	assert_int_equal(vc_manifest_serialize(f->manifest, f->keyring, &text), VC_OK);
	assert_non_null(memmem(text.data, text.len, "\"mac\": \"blake2b-256:", 20));
	assert_int_equal(vc_manifest_parse((char *)text.data, text.len, &parsed), VC_OK);
	assert_same(f->manifest, parsed);
	assert_string_equal(parsed->chunks[1].cid, "z5AanNVJCxnN");
	assert_null(parsed->chunks[0].cid);
	assert_string_equal(parsed->encryption.kdf, "argon2id13");
	assert_int_equal(parsed->encryption.memlimit, 268435456);
	assert_memory_equal(parsed->encryption.salt, f->manifest->encryption.salt, VC_SALT_BYTES);
	assert_int_equal(vc_manifest_check_mac((char *)text.data, text.len, f->keyring), VC_OK);
	assert_int_equal(vc_manifest_clone(parsed, &clone), VC_OK);
	assert_same(parsed, clone);
	assert_ptr_not_equal(clone->chunks[1].cid, parsed->chunks[1].cid);
	assert_ptr_equal(vc_manifest_find(clone, "index/centroids.cbor"), &clone->objects[1]);
	assert_ptr_equal(vc_manifest_find(clone, "chunks/chunk-4.cbor"), &clone->chunks[1].object);
	assert_null(vc_manifest_find(clone, "chunks/chunk-1.cbor"));
	vc_manifest_free(clone);
	vc_manifest_free(parsed);
	vc_bytes_free(&text);
}

/* Serialise, let @p edit change the JSON tree, and dump it again. */
static char *edited(fixture *f, const vc_keyring *keyring, void (*edit)(json_t *))
{
	vc_bytes text = {0};
	json_t *root;
	char *out;

	assert_int_equal(vc_manifest_serialize(f->manifest, keyring, &text), VC_OK);
	root = json_loadb((char *)text.data, text.len, 0, NULL);
	assert_non_null(root);
	edit(root);
	out = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	vc_bytes_free(&text);
	return out;
}

static void no_edit(json_t *root)
{
	(void)root;
}
static void bump_epoch(json_t *root)
{
	json_object_set_new(root, "epoch", json_integer(13));
}
static void add_unknown(json_t *root)
{
	json_object_set_new(root, "future_field", json_string("x"));
}
static void drop_mac(json_t *root)
{
	json_object_del(root, "mac");
}
static void change_nested(json_t *root)
{
	json_t *c = json_array_get(json_object_get(root, "chunks"), 1);

	json_object_set_new(c, "cid", json_string("z5Other"));
}

static void test_mac(void **state)
{
	fixture *f = *state;
	char *text;

	/* Re-indented JSON still verifies: the MAC covers the canonical form. */
	text = edited(f, f->keyring, no_edit);
	assert_int_equal(vc_manifest_check_mac(text, strlen(text), f->keyring), VC_OK);
	assert_int_equal(vc_manifest_check_mac(text, strlen(text), f->other), VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "wrong key"));
	assert_int_equal(vc_manifest_check_mac(text, strlen(text), NULL), VC_ERR_PERMISSION);
	assert_string_equal(vc_last_error(), "session is encrypted: a key is required");
	free(text);

	void (*edits[])(json_t *) = {bump_epoch, add_unknown, drop_mac, change_nested};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		vc_manifest *m;

		text = edited(f, f->keyring, edits[i]);
		/* Still a valid manifest, but no longer the one the key holder wrote. */
		assert_int_equal(vc_manifest_parse(text, strlen(text), &m), VC_OK);
		vc_manifest_free(m);
		assert_int_equal(vc_manifest_check_mac(text, strlen(text), f->keyring),
				 VC_ERR_AUTH);
		free(text);
	}
}

static void test_plaintext_manifest(void **state)
{
	fixture *f = *state;
	vc_manifest *plain = sample(NULL);
	vc_bytes text = {0};
	vc_manifest *parsed;

	assert_int_equal(vc_manifest_serialize(plain, NULL, &text), VC_OK);
	assert_null(memmem(text.data, text.len, "\"mac\"", 5));
	assert_int_equal(vc_manifest_check_mac((char *)text.data, text.len, NULL), VC_OK);
	/* A key offered to a plaintext manifest: possible downgrade, refused. */
	assert_int_equal(vc_manifest_check_mac((char *)text.data, text.len, f->keyring),
			 VC_ERR_AUTH);
	assert_int_equal(vc_manifest_parse((char *)text.data, text.len, &parsed), VC_OK);
	assert_false(parsed->encryption.enabled);
	vc_manifest_free(parsed);
	vc_bytes_free(&text);
	/* Serialising needs the key exactly when encryption is on. */
	assert_int_equal(vc_manifest_serialize(plain, f->keyring, &text), VC_ERR_INVALID);
	assert_int_equal(vc_manifest_serialize(f->manifest, NULL, &text), VC_ERR_INVALID);
	assert_int_equal(vc_manifest_serialize(f->manifest, f->other, &text), VC_ERR_INVALID);
	vc_manifest_free(plain);
}

/* Each case: a JSON pointer-like edit applied to a valid manifest, and the error it must give. */
typedef struct bad_case {
	const char *name;
	void (*edit)(json_t *);
	vc_err code;
} bad_case;

#define SET(fn, key, value)                                                                        \
	static void fn(json_t *root)                                                               \
	{                                                                                          \
		json_object_set_new(root, key, value);                                             \
	}
SET(float_dim, "dim", json_real(384.0))
SET(string_dim, "dim", json_string("384"))
SET(zero_dim, "dim", json_integer(0))
SET(negative_epoch, "epoch", json_integer(-1))
SET(bad_session, "session_id", json_string("abab"))
SET(upper_session, "session_id", json_string("ABABABABABABABABABABABABABABABAB"))
SET(bad_metric, "metric", json_string("hamming"))
SET(bad_format, "format", json_string("other"))
SET(bad_format_version, "format_version", json_integer(2))
SET(legacy_version, "version", json_integer(3))
SET(wrong_total, "total_vectors", json_integer(10018))
SET(low_next_id, "next_chunk_id", json_integer(4))
SET(huge_chunk_size, "chunk_size", json_integer(1ll << 40))
SET(chunks_not_array, "chunks", json_object())

static json_t *chunk(json_t *root, size_t i)
{
	return json_array_get(json_object_get(root, "chunks"), i);
}
static void dup_chunk_id(json_t *root)
{
	json_t *c = chunk(root, 1);

	json_object_set_new(c, "chunk_id", json_integer(0));
	json_object_set_new(c, "path", json_string("chunks/chunk-0.cbor"));
}
static void wrong_chunk_path(json_t *root)
{
	json_object_set_new(chunk(root, 1), "path", json_string("chunks/chunk-3.cbor"));
}
static void traversal_path(json_t *root)
{
	json_t *o = json_array_get(json_object_get(root, "objects"), 0);

	json_object_set_new(o, "path", json_string("../metadata.cbor"));
}
static void wrong_kind(json_t *root)
{
	json_t *o = json_array_get(json_object_get(root, "objects"), 0);

	json_object_set_new(o, "kind", json_string("index"));
}
static void bad_hash(json_t *root)
{
	json_object_set_new(chunk(root, 0), "hash", json_string("sha256:00"));
}
static void wrong_byte_size(json_t *root)
{
	json_object_set_new(chunk(root, 0), "byte_size", json_integer(15400001));
}
static void bad_cid(json_t *root)
{
	json_object_set_new(chunk(root, 0), "cid", json_integer(5));
}
static void missing_vector_count(json_t *root)
{
	json_object_del(chunk(root, 0), "vector_count");
}
static void bad_algorithm(json_t *root)
{
	json_object_set_new(json_object_get(root, "encryption"), "algorithm",
			    json_string("aes-gcm"));
}
static void enabled_not_bool(json_t *root)
{
	json_object_set_new(json_object_get(root, "encryption"), "enabled", json_integer(1));
}
static void mac_not_string(json_t *root)
{
	json_object_set_new(root, "mac", json_integer(1));
}

static void test_malformed(void **state)
{
	fixture *f = *state;
	static const bad_case cases[] = {
	    {"float dim", float_dim, VC_ERR_CORRUPT},
	    {"string dim", string_dim, VC_ERR_CORRUPT},
	    {"zero dim", zero_dim, VC_ERR_CORRUPT},
	    {"negative epoch", negative_epoch, VC_ERR_CORRUPT},
	    {"short session id", bad_session, VC_ERR_CORRUPT},
	    {"uppercase session id", upper_session, VC_ERR_CORRUPT},
	    {"metric", bad_metric, VC_ERR_CORRUPT},
	    {"format", bad_format, VC_ERR_UNSUPPORTED},
	    {"format_version", bad_format_version, VC_ERR_UNSUPPORTED},
	    {"legacy version", legacy_version, VC_ERR_UNSUPPORTED},
	    {"total", wrong_total, VC_ERR_CORRUPT},
	    {"next id", low_next_id, VC_ERR_CORRUPT},
	    {"chunk size", huge_chunk_size, VC_ERR_CORRUPT},
	    {"chunks type", chunks_not_array, VC_ERR_CORRUPT},
	    {"duplicate chunk id", dup_chunk_id, VC_ERR_CORRUPT},
	    {"chunk path", wrong_chunk_path, VC_ERR_CORRUPT},
	    {"traversal", traversal_path, VC_ERR_CORRUPT},
	    {"kind", wrong_kind, VC_ERR_CORRUPT},
	    {"hash", bad_hash, VC_ERR_CORRUPT},
	    {"byte size", wrong_byte_size, VC_ERR_CORRUPT},
	    {"cid", bad_cid, VC_ERR_CORRUPT},
	    {"vector_count", missing_vector_count, VC_ERR_CORRUPT},
	    {"algorithm", bad_algorithm, VC_ERR_UNSUPPORTED},
	    {"enabled", enabled_not_bool, VC_ERR_CORRUPT},
	    {"mac type", mac_not_string, VC_ERR_CORRUPT},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = edited(f, f->keyring, cases[i].edit);
		vc_manifest *m = (vc_manifest *)1;

		print_message("case %s\n", cases[i].name);
		assert_int_equal(vc_manifest_parse(text, strlen(text), &m), cases[i].code);
		assert_null(m);
		assert_true(strlen(vc_last_error()) > 0);
		free(text);
	}
}

static void test_malformed_text(void **state)
{
	static const char *texts[] = {
	    "",
	    "{",
	    "[]",
	    "null",
	    "{\"format\": \"vchunk\", \"format\": \"vchunk\"}",
	    "{\"format\": \"vchunk\"}",
	    "{\"format\": \"vchunk\", \"format_version\": 1.5}",
	};
	vc_manifest *m;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_not_equal(vc_manifest_parse(texts[i], strlen(texts[i]), &m), VC_OK);
		assert_null(m);
	}
	assert_int_equal(vc_manifest_parse("{}", VC_MANIFEST_MAX_BYTES + 1ul, &m), VC_ERR_TOO_BIG);
}

static void test_paths_and_metrics(void **state)
{
	static const char *good[] = {"manifest.json", "chunks/chunk-1.cbor", "index/ivf/list-3",
				     "a_b-c.d", "..a"};
	static const char *bad[] = {"",	  "/abs", "a//b", "a/",		 "./a", "a/../b",
				    "..", "a b",  "a\nb", "caf\xc3\xa9", "x\\y"};
	char long_path[300];
	char buf[64];
	vc_metric metric;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(vc_object_path_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(vc_object_path_valid(bad[i]));
	assert_false(vc_object_path_valid(NULL));
	memset(long_path, 'a', sizeof(long_path));
	long_path[256] = '\0';
	assert_false(vc_object_path_valid(long_path));
	long_path[255] = '\0';
	assert_true(vc_object_path_valid(long_path));
	vc_chunk_path(42, buf, sizeof(buf));
	assert_string_equal(buf, "chunks/chunk-42.cbor");
	assert_true(vc_object_path_valid(buf));
	for (int m = 0; m <= 2; m++) {
		assert_true(vc_metric_parse(vc_metric_name((vc_metric)m), &metric));
		assert_int_equal(metric, m);
	}
	assert_string_equal(vc_metric_name(VC_METRIC_L2), "l2");
	assert_false(vc_metric_parse("L2", &metric));
	assert_false(vc_metric_parse(NULL, &metric));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mac, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plaintext_manifest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test(test_malformed_text),
	    cmocka_unit_test(test_paths_and_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
