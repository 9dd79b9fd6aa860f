/*
 * Tests for the legacy reader: BLAKE3 against the specification's vectors, the CBOR cursor on
 * hand-made input, the two genuine sessions in shared/fixtures/legacy-rust against their
 * truth.json, a synthetic session for the corner cases, and truncated or bit-flipped copies.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "legacy/blake3.h"
#include "legacy/legacy.h"
#include "legacy/legacy_cbor.h"
#include "vchunk/store.h"

/* ---- helpers ---- */

static void hex_of(const uint8_t *bytes, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
}

static uint64_t rng_state = 0x5eed;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The fixtures are required: a missing directory is a failure, never a skip. */
static const char *fixture_dir(const char *name, char *buf, size_t size)
{
	const char *root = getenv("VCHUNK_LEGACY_FIXTURES");
	struct stat st;

	if (root == NULL)
		fail_msg(
		    "VCHUNK_LEGACY_FIXTURES is not set: run this test through meson test, which "
		    "points it at shared/fixtures/legacy-rust beside the source tree");
	snprintf(buf, size, "%s/%s", root, name);
	if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
		fail_msg("legacy fixture directory %s is missing: the genuine sessions of the "
			 "original system are required for this test",
			 buf);
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void read_file(const char *path, vc_bytes *out)
{
	FILE *f = fopen(path, "rb");
	uint8_t buf[65536];
	size_t n;

	memset(out, 0, sizeof(*out));
	assert_non_null(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		assert_int_equal(vc_bytes_append(out, buf, n), VC_OK);
	fclose(f);
}

static void remove_tree(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static vc_err open_dir(const char *dir, vc_legacy **out)
{
	vc_store *store = NULL;
	vc_err err = vc_store_open(dir, NULL, &store);

	if (err != VC_OK)
		return err;
	err = vc_legacy_open(store, out);
	vc_store_close(store);
	return err;
}

/* ---- BLAKE3 ---- */

static void test_blake3_spec_vectors(void **state)
{
	/* First 32 bytes of the "hash" outputs of the specification's test vectors: the input
	 * is the repeating byte sequence 0, 1, ..., 250. Lengths cover one block, one chunk,
	 * and trees of 2 to 100 chunks. */
	static const struct {
		size_t len;
		const char *hex;
	} cases[] = {
	    {0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
	    {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
	    {1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"},
	    {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"},
	    {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
	    {2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a"},
	    {2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"},
	    {3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"},
	    {3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"},
	    {8192, "aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63"},
	    {8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"},
	    {16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4"},
	    {31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"},
	    {102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"},
	};
	uint8_t *input = malloc(102400);
	uint8_t out[32];
	char hex[65];

	(void)state;
	assert_non_null(input);
	for (size_t i = 0; i < 102400; i++)
		input[i] = (uint8_t)(i % 251);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vc_blake3(input, cases[i].len, out);
		hex_of(out, 32, hex);
		assert_string_equal(hex, cases[i].hex);
	}
	free(input);
}

/* ---- the CBOR cursor ---- */

static void test_half_floats(void **state)
{
	(void)state;
	assert_true(vc_half_to_float(0x3c00) == 1.0f);
	assert_true(vc_half_to_float(0xc000) == -2.0f);
	assert_true(vc_half_to_float(0x7bff) == 65504.0f);
	assert_true(vc_half_to_float(0x0001) == ldexpf(1.0f, -24));
	assert_true(vc_half_to_float(0x03ff) == ldexpf(1023.0f, -24));
	assert_true(vc_half_to_float(0x0400) == ldexpf(1.0f, -14));
	assert_true(isinf(vc_half_to_float(0x7c00)) && vc_half_to_float(0x7c00) > 0);
	assert_true(isnan(vc_half_to_float(0x7e00)));
	assert_true(vc_half_to_float(0x8000) == 0.0f && signbit(vc_half_to_float(0x8000)));
#ifdef __FLT16_MAX__
	/* Where the compiler has a half type, every one of the 65536 values must agree. */
	for (uint32_t h = 0; h < 65536; h++) {
		_Float16 half;
		uint16_t bits16 = (uint16_t)h;
		float want, got;

		memcpy(&half, &bits16, sizeof(half));
		want = (float)half;
		got = vc_half_to_float(bits16);
		if (isnan(want))
			assert_true(isnan(got));
		else
			assert_memory_equal(&want, &got, sizeof(float));
	}
#endif
}

static void test_cursor_floats(void **state)
{
	/* 1.5 as half, 0.1f as single, 0.25 as double, 7, -3, then 1e300 (out of float range) */
	static const uint8_t data[] = {0xf9, 0x3e, 0x00, 0xfa, 0x3d, 0xcc, 0xcc, 0xcd, 0xfb, 0x3f,
				       0xd0, 0,	   0,	 0,    0,    0,	   0,	 0x07, 0x22, 0xfb,
				       0x7e, 0x37, 0xe4, 0x3c, 0x88, 0x00, 0x75, 0x9c};
	vc_lcbor c;
	float f;

	(void)state;
	vc_lcbor_init(&c, data, sizeof(data), "test.cbor");
	assert_int_equal(vc_lcbor_float(&c, &f, "x"), VC_OK);
	assert_true(f == 1.5f);
	assert_int_equal(vc_lcbor_float(&c, &f, "x"), VC_OK);
	assert_true(f == 0.1f);
	assert_int_equal(vc_lcbor_float(&c, &f, "x"), VC_OK);
	assert_true(f == 0.25f);
	assert_int_equal(vc_lcbor_float(&c, &f, "x"), VC_OK);
	assert_true(f == 7.0f);
	assert_int_equal(vc_lcbor_float(&c, &f, "x"), VC_OK);
	assert_true(f == -3.0f);
	assert_int_equal(vc_lcbor_float(&c, &f, "x"), VC_ERR_CORRUPT);
	assert_non_null(strstr(vc_last_error(), "test.cbor: byte 19"));
}

static void test_cursor_refuses_bad_lengths(void **state)
{
	/* a text string claiming 2^32 bytes, an array claiming 1000 items in 3 bytes, a map
	 * claiming 2^63 pairs, an indefinite array, a reserved encoding, a truncated head */
	static const uint8_t text[] = {0x7a, 0xff, 0xff, 0xff, 0xff, 'a'};
	static const uint8_t array[] = {0x99, 0x03, 0xe8, 1, 2, 3};
	static const uint8_t map[] = {0xbb, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2};
	static const uint8_t indefinite[] = {0x9f, 1, 0xff};
	static const uint8_t reserved[] = {0x1c};
	static const uint8_t truncated[] = {0x19, 0x01};
	vc_lcbor c;
	const char *s;
	size_t len;
	uint64_t n;

	(void)state;
	vc_lcbor_init(&c, text, sizeof(text), "t");
	assert_int_equal(vc_lcbor_text(&c, &s, &len, "x"), VC_ERR_CORRUPT);
	vc_lcbor_init(&c, array, sizeof(array), "t");
	assert_int_equal(vc_lcbor_array(&c, &n, "x"), VC_ERR_CORRUPT);
	vc_lcbor_init(&c, array, sizeof(array), "t");
	assert_int_equal(vc_lcbor_skip(&c), VC_ERR_CORRUPT);
	vc_lcbor_init(&c, map, sizeof(map), "t");
	assert_int_equal(vc_lcbor_map(&c, &n, "x"), VC_ERR_CORRUPT);
	vc_lcbor_init(&c, map, sizeof(map), "t");
	assert_int_equal(vc_lcbor_skip(&c), VC_ERR_CORRUPT);
	vc_lcbor_init(&c, indefinite, sizeof(indefinite), "t");
	assert_int_equal(vc_lcbor_skip(&c), VC_ERR_CORRUPT);
	assert_non_null(strstr(vc_last_error(), "indefinite"));
	vc_lcbor_init(&c, reserved, sizeof(reserved), "t");
	assert_int_equal(vc_lcbor_skip(&c), VC_ERR_CORRUPT);
	vc_lcbor_init(&c, truncated, sizeof(truncated), "t");
	assert_int_equal(vc_lcbor_uint(&c, &n, "x"), VC_ERR_CORRUPT);
	assert_non_null(strstr(vc_last_error(), "t: byte 0"));
}

static void test_cursor_json(void **state)
{
	/* {"a": [1, -2, 1.5, "x", true, null], 2: h'0102', [32 x 0]: {}} */
	uint8_t data[128];
	size_t n = 0;
	static const uint8_t head[] = {0xa3, 0x61, 'a',	 0x86, 0x01, 0x21, 0xf9, 0x3e, 0x00, 0x61,
				       'x',  0xf5, 0xf6, 0x02, 0x42, 0x01, 0x02, 0x98, 0x20};
	vc_lcbor c;
	json_t *value;
	json_t *want;

	(void)state;
	memcpy(data, head, sizeof(head));
	n = sizeof(head);
	for (int i = 0; i < 32; i++)
		data[n++] = 0;
	data[n++] = 0xa0;
	vc_lcbor_init(&c, data, n, "t");
	assert_int_equal(vc_lcbor_to_json(&c, &value), VC_OK);
	assert_int_equal(c.pos, n);
	want = json_pack("{s:[i,i,f,s,b,n],s:[i,i],s:{}}", "a", 1, -2, 1.5, "x", 1, "2", 1, 2,
			 "0000000000000000000000000000000000000000000000000000000000000000");
	assert_true(json_equal(value, want));
	json_decref(value);
	json_decref(want);
}

static void test_cursor_depth_limit(void **state)
{
	uint8_t data[200];
	vc_lcbor c;
	json_t *value = NULL;

	(void)state;
	/* 64 nested arrays are fine, 100 are refused rather than recursing without bound */
	memset(data, 0x81, sizeof(data));
	data[64] = 0x80;
	vc_lcbor_init(&c, data, 65, "t");
	assert_int_equal(vc_lcbor_to_json(&c, &value), VC_OK);
	json_decref(value);
	data[64] = 0x81;
	data[100] = 0x80;
	vc_lcbor_init(&c, data, 101, "t");
	assert_int_equal(vc_lcbor_to_json(&c, &value), VC_ERR_CORRUPT);
	assert_non_null(strstr(vc_last_error(), "nested"));
	/* skipping needs no recursion at all */
	vc_lcbor_init(&c, data, 101, "t");
	assert_int_equal(vc_lcbor_skip(&c), VC_OK);
	assert_int_equal(c.pos, 101);
}

/* ---- the genuine sessions against truth.json ---- */

typedef struct genuine {
	json_t *truth;
	vc_legacy *legacy;
	char dir[700];
} genuine;

static void genuine_open(const char *name, genuine *g)
{
	char root[512];
	char path[600];
	json_error_t jerr;

	fixture_dir(name, root, sizeof(root));
	snprintf(path, sizeof(path), "%s/truth.json", root);
	g->truth = json_load_file(path, 0, &jerr);
	if (g->truth == NULL)
		fail_msg("cannot read %s: %s", path, jerr.text);
	snprintf(g->dir, sizeof(g->dir), "%s/session", root);
	if (open_dir(g->dir, &g->legacy) != VC_OK)
		fail_msg("opening %s: %s", g->dir, vc_last_error());
}

static void genuine_close(genuine *g)
{
	vc_legacy_close(g->legacy);
	json_decref(g->truth);
}

static void check_vectors(genuine *g)
{
	json_t *ids = json_object_get(g->truth, "ids");
	size_t n = json_array_size(ids);
	uint32_t dim = (uint32_t)json_integer_value(json_object_get(g->truth, "dim"));
	vc_legacy_info info;
	char *seen = calloc(n ? n : 1, 1);

	assert_non_null(seen);
	assert_true(n > 0);
	assert_int_equal(vc_legacy_count(g->legacy), n);
	assert_int_equal(vc_legacy_dim(g->legacy), dim);
	assert_int_equal(vc_legacy_metric(g->legacy), VC_METRIC_L2);
	vc_legacy_get_info(g->legacy, &info);
	assert_int_equal(info.ids_recovered, n);
	assert_int_equal(info.ids_fallback, 0);
	assert_int_equal(info.deleted, 0);
	assert_int_equal(info.graph_nodes, n);
	assert_int_equal(info.graph_only, 0);
	assert_int_equal(info.graph_mismatches, 0);
	assert_int_equal(info.metadata_unmatched, 0);
	assert_int_equal(info.chunk_count,
			 json_array_size(json_object_get(g->truth, "manifest_chunks")));
	for (size_t t = 0; t < n; t++) {
		const char *id = json_string_value(json_array_get(ids, t));
		json_t *want_vector = json_array_get(json_object_get(g->truth, "vectors"), t);
		json_t *want_meta = json_array_get(json_object_get(g->truth, "metadata"), t);
		const char *want_hex = json_string_value(
		    json_array_get(json_object_get(g->truth, "vector_id_hex"), t));
		uint8_t hash[32];
		char hex[65];
		size_t index;
		vc_legacy_vector v;

		/* BLAKE3 of every user id is the 32-byte id the original system stored */
		vc_blake3(id, strlen(id), hash);
		hex_of(hash, 32, hex);
		assert_string_equal(hex, want_hex);

		assert_int_equal(vc_legacy_find(g->legacy, id, &index), VC_OK);
		assert_false(seen[index]);
		seen[index] = 1;
		assert_int_equal(vc_legacy_vector_at(g->legacy, index, &v), VC_OK);
		assert_string_equal(v.id, id);
		assert_true(v.id_recovered);
		hex_of(v.vector_id, 32, hex);
		assert_string_equal(hex, want_hex);
		assert_true(json_equal((json_t *)v.metadata, want_meta));
		assert_non_null(v.timestamp);
		assert_int_equal(json_array_size(want_vector), dim);
		for (uint32_t d = 0; d < dim; d++) {
			float want = (float)json_number_value(json_array_get(want_vector, d));

			assert_memory_equal(&v.vector[d], &want, sizeof(float));
		}
	}
	free(seen);
}

/* Distances of ties may differ in the last bits between f32 and f64 sums. */
static bool same_distance(double a, double b)
{
	return fabs(a - b) <= 1e-5 * (fabs(a) > 1 ? fabs(a) : 1);
}

static void check_queries(genuine *g)
{
	json_t *queries = json_object_get(g->truth, "queries");
	uint32_t dim = vc_legacy_dim(g->legacy);
	float *q = malloc(dim * sizeof(float));

	assert_non_null(q);
	assert_int_equal(json_array_size(queries), 10);
	for (size_t i = 0; i < json_array_size(queries); i++) {
		json_t *query = json_array_get(queries, i);
		json_t *exact = json_object_get(query, "exact_top10");
		vc_query vq = {.vector = q, .dim = dim, .k = 10, .exact = true};
		vc_results res;

		for (uint32_t d = 0; d < dim; d++)
			q[d] = (float)json_number_value(
			    json_array_get(json_object_get(query, "vector"), d));
		assert_int_equal(vc_legacy_search(g->legacy, &vq, &res), VC_OK);
		assert_int_equal(res.count, json_array_size(exact));
		assert_int_equal(res.stats.vectors_scored, vc_legacy_count(g->legacy));
		for (size_t r = 0; r < res.count; r++) {
			json_t *want = json_array_get(exact, r);
			double want_distance = json_number_value(json_object_get(want, "distance"));
			const char *want_id = json_string_value(json_object_get(want, "id"));

			assert_true(same_distance(res.hits[r].score, want_distance));
			if (strcmp(res.hits[r].id, want_id) != 0) {
				/* only a tie may swap places: the id must be elsewhere in the
				 * truth at the same distance */
				bool tie = false;

				for (size_t o = 0; o < json_array_size(exact); o++) {
					json_t *other = json_array_get(exact, o);

					tie |=
					    strcmp(json_string_value(json_object_get(other, "id")),
						   res.hits[r].id) == 0 &&
					    same_distance(json_number_value(
							      json_object_get(other, "distance")),
							  want_distance);
				}
				if (!tie)
					fail_msg("query %zu rank %zu: %s, truth says %s", i, r,
						 res.hits[r].id, want_id);
			}
			if (r > 0)
				assert_true(res.hits[r - 1].score <= res.hits[r].score);
			assert_true(json_is_object(res.hits[r].metadata));
		}
		vc_results_free(&res);
	}
	free(q);
}

static void check_chunks(genuine *g)
{
	json_t *manifest_chunks = json_object_get(g->truth, "manifest_chunks");
	size_t total = 0;

	assert_int_equal(vc_legacy_chunk_count(g->legacy), json_array_size(manifest_chunks));
	for (size_t i = 0; i < vc_legacy_chunk_count(g->legacy); i++) {
		json_t *doc = NULL;
		json_t *vectors;
		json_t *want = json_array_get(manifest_chunks, i);

		assert_int_equal(vc_legacy_chunk_json(g->legacy, i, &doc), VC_OK);
		assert_string_equal(json_string_value(json_object_get(doc, "chunk_id")),
				    json_string_value(json_object_get(want, "chunk_id")));
		vectors = json_object_get(doc, "vectors");
		assert_int_equal(json_array_size(vectors),
				 json_integer_value(json_object_get(want, "vector_count")));
		for (size_t v = 0; v < json_array_size(vectors); v++) {
			json_t *item = json_array_get(vectors, v);
			size_t index;
			const float *vec;
			json_t *values = json_object_get(item, "vector");

			assert_int_equal(
			    vc_legacy_find(g->legacy,
					   json_string_value(json_object_get(item, "id")), &index),
			    VC_OK);
			assert_int_equal(vc_legacy_get(g->legacy, index, NULL, &vec, NULL), VC_OK);
			for (size_t d = 0; d < json_array_size(values); d++)
				assert_true((float)json_real_value(json_array_get(values, d)) ==
					    vec[d]);
			assert_int_equal(
			    strlen(json_string_value(json_object_get(item, "vector_id"))), 64);
		}
		total += json_array_size(vectors);
		json_decref(doc);
	}
	assert_int_equal(total, vc_legacy_count(g->legacy));
}

static void check_session_files(genuine *g)
{
	json_t *meta = NULL;
	json_t *manifest = vc_legacy_manifest(g->legacy);

	assert_int_equal(vc_legacy_metadata_json(g->legacy, &meta), VC_OK);
	assert_int_equal(json_integer_value(json_object_get(meta, "total_vectors")),
			 json_integer_value(json_object_get(g->truth, "n")));
	assert_true(json_is_object(json_object_get(meta, "config")));
	assert_int_equal(json_integer_value(json_object_get(manifest, "total_vectors")),
			 json_integer_value(json_object_get(g->truth, "n")));
	/* neither fixture set a schema */
	assert_null(vc_legacy_schema(g->legacy));
	json_decref(meta);
	json_decref(manifest);
}

static void run_genuine(const char *name)
{
	genuine g = {0};

	genuine_open(name, &g);
	check_vectors(&g);
	check_queries(&g);
	check_chunks(&g);
	check_session_files(&g);
	genuine_close(&g);
}

static void test_genuine_tiny(void **state)
{
	(void)state;
	run_genuine("tiny");
}

static void test_genuine_small(void **state)
{
	(void)state;
	run_genuine("small");
}

static void test_detect(void **state)
{
	char root[512];
	char path[600];
	vc_bytes manifest;
	static const char ours[] = "{\"format\": \"vchunk\", \"version\": 3, \"chunks\": []}";
	static const char v4[] = "{\"version\": 4, \"chunks\": []}";
	static const char v2[] = "{\"version\": 2, \"chunks\": []}";

	(void)state;
	fixture_dir("tiny", root, sizeof(root));
	snprintf(path, sizeof(path), "%s/session/manifest.json", root);
	read_file(path, &manifest);
	assert_true(vc_legacy_detect((const char *)manifest.data, manifest.len));
	assert_false(vc_legacy_detect((const char *)manifest.data, manifest.len / 2));
	vc_bytes_free(&manifest);
	assert_false(vc_legacy_detect(ours, strlen(ours)));
	assert_false(vc_legacy_detect(v4, strlen(v4)));
	assert_true(vc_legacy_detect(v2, strlen(v2)));
	assert_false(vc_legacy_detect("[]", 2));
	assert_false(vc_legacy_detect("", 0));
}

/* ---- copies of a fixture, modified ---- */

static void copy_tree(const char *src, const char *dst)
{
	DIR *d = opendir(src);
	struct dirent *e;

	assert_non_null(d);
	assert_int_equal(mkdir(dst, 0755), 0);
	while ((e = readdir(d)) != NULL) {
		char from[1024], to[1024];
		struct stat st;
		vc_bytes bytes;

		if (e->d_name[0] == '.')
			continue;
		snprintf(from, sizeof(from), "%s/%s", src, e->d_name);
		snprintf(to, sizeof(to), "%s/%s", dst, e->d_name);
		assert_int_equal(stat(from, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(from, to);
			continue;
		}
		read_file(from, &bytes);
		write_file(to, bytes.data, bytes.len);
		vc_bytes_free(&bytes);
	}
	closedir(d);
}

/* A writable copy of fixture @p name's session in a new temp dir; @p session gets its path. */
static void copy_fixture(const char *name, char *tmp, char *session, size_t size)
{
	char root[512], src[600];

	fixture_dir(name, root, sizeof(root));
	snprintf(src, sizeof(src), "%s/session", root);
	strcpy(tmp, "/tmp/vc-legacy-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	snprintf(session, size, "%s/session", tmp);
	copy_tree(src, session);
}

/* Drop byte_size from the copy's manifest, so damaged chunks reach the CBOR decoder instead of
 * being stopped by the size check. */
static void strip_byte_sizes(const char *session)
{
	char path[700];
	json_t *manifest;
	json_t *chunk;
	size_t i;

	snprintf(path, sizeof(path), "%s/manifest.json", session);
	manifest = json_load_file(path, 0, NULL);
	assert_non_null(manifest);
	json_array_foreach(json_object_get(manifest, "chunks"), i, chunk)
	    json_object_del(chunk, "byte_size");
	assert_int_equal(json_dump_file(manifest, path, JSON_INDENT(2)), 0);
	json_decref(manifest);
}

static void test_byte_size_checked(void **state)
{
	char tmp[64], session[128], path[200];
	vc_bytes bytes;
	vc_legacy *lg = NULL;

	(void)state;
	copy_fixture("tiny", tmp, session, sizeof(session));
	snprintf(path, sizeof(path), "%s/chunks/chunk-1.cbor", session);
	read_file(path, &bytes);
	assert_int_equal(vc_bytes_append(&bytes, "\0", 1), VC_OK);
	write_file(path, bytes.data, bytes.len);
	assert_int_equal(open_dir(session, &lg), VC_ERR_CORRUPT);
	assert_non_null(strstr(vc_last_error(), "chunks/chunk-1.cbor"));
	assert_non_null(strstr(vc_last_error(), "1075"));
	/* without the manifest's size the decoder itself finds the trailing byte */
	strip_byte_sizes(session);
	assert_int_equal(open_dir(session, &lg), VC_ERR_CORRUPT);
	assert_non_null(strstr(vc_last_error(), "chunks/chunk-1.cbor: byte 1075"));
	vc_bytes_free(&bytes);
	remove_tree(tmp);
}

/* Truncate and bit-flip each file of a copy in turn: every truncation must fail with a message
 * naming the file; a flip may go unnoticed (a float's low bit) but must not crash. */
static void damage_file(const char *session, const char *rel, size_t truncations, size_t flips)
{
	char path[700];
	vc_bytes orig;
	vc_legacy *lg;
	uint8_t *copy;
	vc_err err;

	snprintf(path, sizeof(path), "%s/%s", session, rel);
	read_file(path, &orig);
	copy = malloc(orig.len);
	assert_non_null(copy);
	for (size_t t = 0; t < truncations && t < orig.len; t++) {
		size_t cut = truncations >= orig.len ? t : t * orig.len / truncations;

		write_file(path, orig.data, cut);
		lg = NULL;
		err = open_dir(session, &lg);
		if (err == VC_OK)
			fail_msg("%s cut to %zu of %zu bytes was accepted", rel, cut, orig.len);
		assert_null(lg);
		if (strstr(vc_last_error(), rel) == NULL)
			fail_msg("%s cut to %zu bytes: message does not name the file: %s", rel,
				 cut, vc_last_error());
	}
	for (size_t f = 0; f < flips; f++) {
		size_t pos = (size_t)(rng_next() % orig.len);

		memcpy(copy, orig.data, orig.len);
		copy[pos] ^= (uint8_t)(1u << (rng_next() % 8));
		write_file(path, copy, orig.len);
		lg = NULL;
		err = open_dir(session, &lg);
		if (err == VC_OK) {
			assert_non_null(lg);
			vc_legacy_close(lg);
			continue;
		}
		assert_null(lg);
		assert_true(err == VC_ERR_CORRUPT || err == VC_ERR_UNSUPPORTED ||
			    err == VC_ERR_NOT_FOUND);
		assert_true(strlen(vc_last_error()) > 0);
	}
	write_file(path, orig.data, orig.len);
	free(copy);
	vc_bytes_free(&orig);
}

static void damage_fixture(const char *name, size_t truncations, size_t flips)
{
	static const char *const files[] = {
	    "manifest.json",   "hnsw_nodes.cbor",     "metadata.cbor",	    "metadata_map.cbor",
	    "timestamps.cbor", "chunks/chunk-0.cbor", "chunks/chunk-1.cbor"};
	char tmp[64], session[128];
	vc_legacy *lg = NULL;

	copy_fixture(name, tmp, session, sizeof(session));
	strip_byte_sizes(session);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		damage_file(session, files[i], truncations, flips);
	/* restored, the copy opens again */
	assert_int_equal(open_dir(session, &lg), VC_OK);
	vc_legacy_close(lg);
	remove_tree(tmp);
}

static void test_damaged_tiny(void **state)
{
	(void)state;
	damage_fixture("tiny", 400, 300);
}

static void test_damaged_small(void **state)
{
	(void)state;
	damage_fixture("small", 6, 6);
}

/* ---- deletions and ids the session does not record ---- */

static void test_deleted_vectors(void **state)
{
	char tmp[64], session[128], path[200];
	static const uint8_t flag[] = {0x6a, 'i', 's', '_', 'd', 'e', 'l', 'e', 't', 'e', 'd'};
	vc_bytes graph;
	vc_legacy *lg = NULL;
	vc_legacy_info info;
	size_t marked = 0;
	char deleted_ids[3][64];
	size_t found_deleted = 0;

	(void)state;
	copy_fixture("tiny", tmp, session, sizeof(session));
	snprintf(path, sizeof(path), "%s/hnsw_nodes.cbor", session);
	read_file(path, &graph);
	/* mark the first three nodes deleted: is_deleted false (f4) becomes true (f5) */
	for (size_t i = 0; i + sizeof(flag) < graph.len && marked < 3; i++) {
		if (memcmp(graph.data + i, flag, sizeof(flag)) == 0 &&
		    graph.data[i + sizeof(flag)] == 0xf4) {
			graph.data[i + sizeof(flag)] = 0xf5;
			marked++;
		}
	}
	assert_int_equal(marked, 3);
	write_file(path, graph.data, graph.len);
	vc_bytes_free(&graph);

	assert_int_equal(open_dir(session, &lg), VC_OK);
	vc_legacy_get_info(lg, &info);
	assert_int_equal(info.deleted, 3);
	assert_int_equal(info.stored, 20);
	assert_int_equal(vc_legacy_count(lg), 17);
	/* the chunks list them, flagged; lookups and searches do not find them */
	for (size_t c = 0; c < vc_legacy_chunk_count(lg); c++) {
		json_t *doc = NULL;
		json_t *item;
		size_t i;

		assert_int_equal(vc_legacy_chunk_json(lg, c, &doc), VC_OK);
		json_array_foreach(json_object_get(doc, "vectors"), i, item)
		{
			size_t index;

			if (json_object_get(item, "deleted") == NULL)
				continue;
			assert_true(found_deleted < 3);
			snprintf(deleted_ids[found_deleted++], 64, "%s",
				 json_string_value(json_object_get(item, "id")));
			assert_int_equal(
			    vc_legacy_find(lg, json_string_value(json_object_get(item, "id")),
					   &index),
			    VC_ERR_NOT_FOUND);
		}
		json_decref(doc);
	}
	assert_int_equal(found_deleted, 3);
	{
		float q[8] = {0};
		vc_query vq = {.vector = q, .dim = 8, .k = 100};
		vc_results res;

		assert_int_equal(vc_legacy_search(lg, &vq, &res), VC_OK);
		assert_int_equal(res.count, 17);
		for (size_t r = 0; r < res.count; r++) {
			for (size_t d = 0; d < 3; d++)
				assert_string_not_equal(res.hits[r].id, deleted_ids[d]);
		}
		vc_results_free(&res);
	}
	vc_legacy_close(lg);
	remove_tree(tmp);
}

static void test_ids_without_metadata_map(void **state)
{
	char tmp[64], session[128], path[200], root[512], truth_path[600];
	json_t *truth;
	vc_legacy *lg = NULL;
	vc_legacy_info info;

	(void)state;
	fixture_dir("tiny", root, sizeof(root));
	snprintf(truth_path, sizeof(truth_path), "%s/truth.json", root);
	truth = json_load_file(truth_path, 0, NULL);
	assert_non_null(truth);
	copy_fixture("tiny", tmp, session, sizeof(session));
	snprintf(path, sizeof(path), "%s/metadata_map.cbor", session);
	assert_int_equal(remove(path), 0);
	assert_int_equal(open_dir(session, &lg), VC_OK);
	vc_legacy_get_info(lg, &info);
	assert_int_equal(info.ids_fallback, 20);
	assert_int_equal(info.ids_recovered, 0);
	/* every vector is named by the short id the original system used in its map */
	for (size_t t = 0; t < 20; t++) {
		const char *short_id = json_string_value(
		    json_array_get(json_object_get(truth, "vector_id_string"), t));
		size_t index;
		const json_t *meta;
		const char *id;

		assert_int_equal(vc_legacy_find(lg, short_id, &index), VC_OK);
		assert_int_equal(vc_legacy_get(lg, index, &id, NULL, &meta), VC_OK);
		assert_string_equal(id, short_id);
		assert_true(json_is_null(meta));
	}
	vc_legacy_close(lg);
	json_decref(truth);
	remove_tree(tmp);
}

static void test_original_id_must_hash(void **state)
{
	char tmp[64], session[128], path[200];
	vc_bytes map;
	vc_legacy *lg = NULL;
	vc_legacy_info info;
	size_t index;
	const json_t *meta;
	uint8_t *hit;

	(void)state;
	copy_fixture("tiny", tmp, session, sizeof(session));
	snprintf(path, sizeof(path), "%s/metadata_map.cbor", session);
	read_file(path, &map);
	/* a user id that does not hash to the stored id must not be believed */
	hit = memmem(map.data, map.len, "doc-000005", 10);
	assert_non_null(hit);
	hit[2] = 'x';
	write_file(path, map.data, map.len);
	vc_bytes_free(&map);
	assert_int_equal(open_dir(session, &lg), VC_OK);
	vc_legacy_get_info(lg, &info);
	assert_int_equal(info.ids_recovered, 19);
	assert_int_equal(info.ids_fallback, 1);
	assert_int_equal(info.metadata_unmatched, 1);
	assert_int_equal(vc_legacy_find(lg, "dox-000005", &index), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_legacy_find(lg, "doc-000005", &index), VC_ERR_NOT_FOUND);
	/* BLAKE3("doc-000005") starts 9dfab59a */
	assert_int_equal(vc_legacy_find(lg, "vec_9dfab59a", &index), VC_OK);
	assert_int_equal(vc_legacy_get(lg, index, NULL, NULL, &meta), VC_OK);
	assert_true(json_is_null(meta));
	vc_legacy_close(lg);
	remove_tree(tmp);
}

/* ---- a synthetic session for the corner cases the fixtures do not have ---- */

static void put_head(vc_bytes *b, int major, uint64_t v)
{
	uint8_t h[9];
	size_t n;

	if (v < 24) {
		h[0] = (uint8_t)(major << 5 | v);
		n = 1;
	} else if (v < 256) {
		h[0] = (uint8_t)(major << 5 | 24);
		h[1] = (uint8_t)v;
		n = 2;
	} else {
		h[0] = (uint8_t)(major << 5 | 26);
		for (int i = 0; i < 4; i++)
			h[1 + i] = (uint8_t)(v >> (24 - 8 * i));
		n = 5;
	}
	assert_int_equal(vc_bytes_append(b, h, n), VC_OK);
}

static void put_text(vc_bytes *b, const char *s)
{
	put_head(b, 3, strlen(s));
	assert_int_equal(vc_bytes_append(b, s, strlen(s)), VC_OK);
}

static void put_id(vc_bytes *b, const uint8_t *id)
{
	put_head(b, 4, 32);
	for (int i = 0; i < 32; i++)
		put_head(b, 0, id[i]);
}

static void put_raw(vc_bytes *b, const uint8_t *raw, size_t n)
{
	assert_int_equal(vc_bytes_append(b, raw, n), VC_OK);
}

static void put_f32(vc_bytes *b, float f)
{
	uint32_t bits;
	uint8_t raw[5] = {0xfa};

	memcpy(&bits, &f, 4);
	for (int i = 0; i < 4; i++)
		raw[1 + i] = (uint8_t)(bits >> (24 - 8 * i));
	put_raw(b, raw, 5);
}

static void store_bytes(vc_store *store, const char *path, vc_bytes *b)
{
	assert_int_equal(vc_store_put(store, path, b->data, b->len), VC_OK);
	vc_bytes_free(b);
}

typedef struct synthetic {
	uint8_t a[32], b[32], c[32], d[32], e[32], f[32];
} synthetic;

static void synthetic_ids(synthetic *s)
{
	vc_blake3("alpha", 5, s->a);
	vc_blake3("beta", 4, s->b);
	/* c and d share their short id; e has no _originalId; f is only in the graph */
	memset(s->c, 0x11, 32);
	s->c[0] = 0xaa, s->c[1] = 0xbb, s->c[2] = 0xcc, s->c[3] = 0xdd;
	memcpy(s->d, s->c, 32);
	s->d[31] = 0x12;
	memset(s->e, 0x22, 32);
	memset(s->f, 0x33, 32);
}

static void write_chunks(vc_store *store, const synthetic *s)
{
	/* a: [1.0 as half, 0.1f as single, 0.5 as double]; b: [2, -3, smallest half subnormal] */
	static const uint8_t a_values[] = {0x83, 0xf9, 0x3c, 0x00, 0xfa, 0x3d, 0xcc, 0xcc, 0xcd,
					   0xfb, 0x3f, 0xe0, 0,	   0,	 0,    0,    0,	   0};
	static const uint8_t b_values[] = {0x83, 0x02, 0x22, 0xf9, 0x00, 0x01};
	vc_bytes b = {0};

	put_head(&b, 5, 4);
	put_text(&b, "vectors"); /* fields in another order than serde writes them */
	put_head(&b, 5, 3);
	put_id(&b, s->a);
	put_raw(&b, a_values, sizeof(a_values));
	put_id(&b, s->b);
	put_raw(&b, b_values, sizeof(b_values));
	put_id(&b, s->c);
	put_head(&b, 4, 3);
	for (int i = 0; i < 3; i++)
		put_f32(&b, 0.0f);
	put_text(&b, "chunk_id");
	put_text(&b, "c0");
	put_text(&b, "start_idx");
	put_head(&b, 0, 0);
	put_text(&b, "end_idx");
	put_head(&b, 0, 2);
	store_bytes(store, "chunks/c0.cbor", &b);

	put_head(&b, 5, 2);
	put_text(&b, "unknown_field");
	put_head(&b, 4, 2);
	put_head(&b, 0, 1);
	put_text(&b, "x");
	put_text(&b, "vectors");
	put_head(&b, 5, 2);
	put_id(&b, s->d);
	put_head(&b, 4, 3);
	for (int i = 0; i < 3; i++)
		put_f32(&b, 1.0f);
	put_id(&b, s->e);
	put_head(&b, 4, 3);
	for (int i = 0; i < 3; i++)
		put_f32(&b, 2.0f);
	store_bytes(store, "chunks/c1.cbor", &b);
}

static void put_node(vc_bytes *b, const uint8_t *id, float value, bool deleted)
{
	put_head(b, 5, 5);
	put_text(b, "id");
	put_id(b, id);
	put_text(b, "level");
	put_head(b, 0, 0);
	put_text(b, "neighbors");
	put_head(b, 4, 1);
	put_head(b, 4, 1);
	put_id(b, id);
	put_text(b, "vector");
	put_head(b, 4, 3);
	for (int i = 0; i < 3; i++)
		put_f32(b, value);
	put_text(b, "is_deleted");
	put_raw(b, deleted ? (const uint8_t *)"\xf5" : (const uint8_t *)"\xf4", 1);
}

static void write_rest(vc_store *store, const synthetic *s)
{
	const char *manifest =
	    "{\"version\": 2, \"chunk_size\": 3, \"total_vectors\": 5, "
	    "\"chunks\": [{\"chunk_id\": \"c0\", \"cid\": null, \"vector_count\": 3},"
	    " {\"chunk_id\": \"c1\", \"cid\": null, \"vector_count\": 2}],"
	    " \"schema\": {\"fields\": [\"tag\"]}}";
	char key[16];
	vc_bytes b = {0};

	assert_int_equal(vc_store_put(store, "manifest.json", manifest, strlen(manifest)), VC_OK);
	/* the graph: c deleted, b with a vector that differs from the chunk, f in no chunk */
	put_head(&b, 4, 3);
	put_node(&b, s->c, 0.0f, true);
	put_node(&b, s->b, 9.0f, false);
	put_node(&b, s->f, 0.0f, false);
	store_bytes(store, "hnsw_nodes.cbor", &b);

	put_head(&b, 5, 4);
	snprintf(key, sizeof(key), "vec_%02x%02x%02x%02x", s->a[0], s->a[1], s->a[2], s->a[3]);
	put_text(&b, key);
	put_head(&b, 5, 2);
	put_text(&b, "_originalId");
	put_text(&b, "alpha");
	put_text(&b, "_userMetadata");
	put_head(&b, 0, 42);
	snprintf(key, sizeof(key), "vec_%02x%02x%02x%02x", s->b[0], s->b[1], s->b[2], s->b[3]);
	put_text(&b, key);
	put_head(&b, 5, 2);
	put_text(&b, "_originalId");
	put_text(&b, "beta");
	put_text(&b, "k");
	put_text(&b, "v");
	put_text(&b, "vec_22222222");
	put_head(&b, 5, 1);
	put_text(&b, "plain");
	put_raw(&b, (const uint8_t *)"\xf5", 1);
	put_text(&b, "vec_deadbeef");
	put_head(&b, 5, 1);
	put_text(&b, "_originalId");
	put_text(&b, "ghost");
	store_bytes(store, "metadata_map.cbor", &b);

	put_head(&b, 5, 1);
	put_text(&b, "timestamps");
	put_head(&b, 5, 1);
	put_id(&b, s->a);
	put_text(&b, "2026-01-02T03:04:05Z");
	store_bytes(store, "timestamps.cbor", &b);
}

static void check_synthetic_vectors(vc_legacy *lg, const synthetic *s)
{
	vc_legacy_vector v;
	char full[69];
	const float want_a[3] = {1.0f, 0.1f, 0.5f};
	const float want_b[3] = {2.0f, -3.0f, ldexpf(1.0f, -24)};
	size_t index;

	assert_int_equal(vc_legacy_count(lg), 4);
	assert_int_equal(vc_legacy_dim(lg), 3);
	assert_int_equal(vc_legacy_vector_at(lg, 0, &v), VC_OK);
	assert_string_equal(v.id, "alpha");
	assert_memory_equal(v.vector, want_a, sizeof(want_a));
	assert_int_equal(json_integer_value(v.metadata), 42);
	assert_string_equal(v.timestamp, "2026-01-02T03:04:05Z");
	assert_int_equal(vc_legacy_vector_at(lg, 1, &v), VC_OK);
	assert_string_equal(v.id, "beta");
	assert_memory_equal(v.vector, want_b, sizeof(want_b));
	assert_string_equal(json_string_value(json_object_get(v.metadata, "k")), "v");
	assert_int_equal(json_object_size(v.metadata), 1);
	assert_null(v.timestamp);
	/* d shares its short id with the deleted c, so it is named by the whole id */
	assert_int_equal(vc_legacy_vector_at(lg, 2, &v), VC_OK);
	strcpy(full, "vec_");
	hex_of(s->d, 32, full + 4);
	assert_string_equal(v.id, full);
	assert_false(v.id_recovered);
	assert_int_equal(vc_legacy_find(lg, full, &index), VC_OK);
	assert_int_equal(index, 2);
	assert_int_equal(vc_legacy_find(lg, "vec_aabbccdd", &index), VC_ERR_NOT_FOUND);
	hex_of(s->c, 32, full + 4); /* c is deleted */
	assert_int_equal(vc_legacy_find(lg, full, &index), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_legacy_find(lg, "vec_22222222", &index), VC_OK);
	assert_int_equal(index, 3);
	assert_int_equal(vc_legacy_find(lg, "vec_2222222", &index), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_legacy_find(lg, "beta", &index), VC_OK);
	assert_int_equal(index, 1);
	assert_true(json_is_null(v.metadata));
	assert_int_equal(vc_legacy_vector_at(lg, 3, &v), VC_OK);
	assert_string_equal(v.id, "vec_22222222");
	assert_true(json_is_true(json_object_get(v.metadata, "plain")));
	assert_int_equal(v.chunk_index, 1);
	assert_int_equal(vc_legacy_vector_at(lg, 4, &v), VC_ERR_INVALID);
}

static void check_synthetic_search(vc_legacy *lg)
{
	float q[3] = {1, 1, 1};
	json_t *filter = json_pack("{s:s}", "k", "v");
	vc_query vq = {.vector = q, .dim = 3, .k = 2};
	vc_results res;

	assert_int_equal(vc_legacy_search(lg, &vq, &res), VC_OK);
	assert_int_equal(res.count, 2);
	assert_true(strncmp(res.hits[0].id, "vec_aabbccdd", 12) == 0);
	assert_true(res.hits[0].score == 0.0f);
	assert_string_equal(res.hits[1].id, "alpha");
	assert_true(fabsf(res.hits[1].score - sqrtf(0.81f + 0.25f)) < 1e-6f);
	vc_results_free(&res);

	vq.k = 10;
	vq.has_threshold = true;
	vq.threshold = 1.5f;
	assert_int_equal(vc_legacy_search(lg, &vq, &res), VC_OK);
	assert_int_equal(res.count, 2);
	vc_results_free(&res);

	vq.has_threshold = false;
	vq.filter = filter;
	assert_int_equal(vc_legacy_search(lg, &vq, &res), VC_OK);
	assert_int_equal(res.count, 1);
	assert_string_equal(res.hits[0].id, "beta");
	assert_true(fabsf(res.hits[0].score - sqrtf(18.0f)) < 1e-5f);
	vc_results_free(&res);
	json_decref(filter);

	vq.filter = NULL;
	vq.dim = 2;
	assert_int_equal(vc_legacy_search(lg, &vq, &res), VC_ERR_INVALID);
	vq.dim = 3;
	vq.k = 0;
	assert_int_equal(vc_legacy_search(lg, &vq, &res), VC_ERR_INVALID);
	vq.k = 1;
	q[1] = NAN;
	assert_int_equal(vc_legacy_search(lg, &vq, &res), VC_ERR_INVALID);
}

static void test_synthetic_session(void **state)
{
	char tmp[64] = "/tmp/vc-legacy-XXXXXX";
	vc_store *store = NULL;
	vc_legacy *lg = NULL;
	vc_legacy_info info;
	synthetic s;
	json_t *doc = NULL;
	json_t *schema;
	json_t *meta = NULL;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	assert_int_equal(vc_store_open(tmp, NULL, &store), VC_OK);
	synthetic_ids(&s);
	write_chunks(store, &s);
	write_rest(store, &s);
	assert_int_equal(vc_legacy_open(store, &lg), VC_OK);
	vc_legacy_get_info(lg, &info);
	assert_int_equal(info.version, 2);
	assert_int_equal(info.stored, 5);
	assert_int_equal(info.deleted, 1);
	assert_int_equal(info.graph_nodes, 3);
	assert_int_equal(info.graph_only, 1);
	assert_int_equal(info.graph_mismatches, 1);
	assert_int_equal(info.ids_recovered, 2);
	assert_int_equal(info.ids_fallback, 3);
	assert_int_equal(info.short_id_collisions, 2);
	assert_int_equal(info.metadata_unmatched, 1);
	check_synthetic_vectors(lg, &s);
	check_synthetic_search(lg);

	assert_int_equal(vc_legacy_chunk_json(lg, 0, &doc), VC_OK);
	assert_string_equal(json_string_value(json_object_get(doc, "chunk_id")), "c0");
	assert_int_equal(json_integer_value(json_object_get(doc, "end_idx")), 2);
	assert_int_equal(json_array_size(json_object_get(doc, "vectors")), 3);
	assert_true(json_is_true(
	    json_object_get(json_array_get(json_object_get(doc, "vectors"), 2), "deleted")));
	json_decref(doc);
	assert_int_equal(vc_legacy_chunk_json(lg, 2, &doc), VC_ERR_INVALID);
	assert_string_equal(vc_legacy_chunk_path(lg, 1), "chunks/c1.cbor");
	schema = vc_legacy_schema(lg);
	assert_string_equal(json_string_value(json_array_get(json_object_get(schema, "fields"), 0)),
			    "tag");
	json_decref(schema);
	assert_int_equal(vc_legacy_metadata_json(lg, &meta), VC_OK);
	assert_true(json_is_null(meta));
	json_decref(meta);
	vc_legacy_close(lg);
	vc_store_close(store);
	remove_tree(tmp);
}

static void open_with_manifest(vc_store *store, const char *manifest, vc_err want,
			       const char *message_part)
{
	vc_legacy *lg = NULL;

	assert_int_equal(vc_store_put(store, "manifest.json", manifest, strlen(manifest)), VC_OK);
	assert_int_equal(vc_legacy_open(store, &lg), want);
	assert_null(lg);
	if (strstr(vc_last_error(), message_part) == NULL)
		fail_msg("expected \"%s\" in: %s", message_part, vc_last_error());
}

static void test_bad_manifests(void **state)
{
	char tmp[64] = "/tmp/vc-legacy-XXXXXX";
	vc_store *store = NULL;
	vc_legacy *lg = NULL;
	synthetic s;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	assert_int_equal(vc_store_open(tmp, NULL, &store), VC_OK);
	assert_int_equal(vc_legacy_open(store, &lg), VC_ERR_NOT_FOUND);
	assert_non_null(strstr(vc_last_error(), "manifest.json"));
	synthetic_ids(&s);
	write_chunks(store, &s);
	open_with_manifest(store, "{\"version\": 4, \"chunks\": []}", VC_ERR_UNSUPPORTED,
			   "version 4");
	open_with_manifest(store, "{\"format\": \"vchunk\", \"version\": 3, \"chunks\": []}",
			   VC_ERR_UNSUPPORTED, "not a manifest of the original");
	open_with_manifest(store,
			   "{\"version\": 3, \"chunks\": [{\"chunk_id\": \"../c0\", "
			   "\"vector_count\": 3}]}",
			   VC_ERR_CORRUPT, "chunks[0].chunk_id");
	open_with_manifest(store,
			   "{\"version\": 3, \"chunks\": [{\"chunk_id\": \"c0\", "
			   "\"vector_count\": 2}]}",
			   VC_ERR_CORRUPT, "chunks/c0.cbor holds 3 vectors, the manifest says 2");
	open_with_manifest(store,
			   "{\"version\": 3, \"total_vectors\": 4, \"chunks\": "
			   "[{\"chunk_id\": \"c0\", \"vector_count\": 3}]}",
			   VC_ERR_CORRUPT, "total_vectors is 4");
	open_with_manifest(store,
			   "{\"version\": 3, \"chunks\": [{\"chunk_id\": \"c9\", "
			   "\"vector_count\": 3}]}",
			   VC_ERR_NOT_FOUND, "chunks/c9.cbor");
	/* c1 named as c0: the chunk's own chunk_id disagrees */
	assert_int_equal(vc_store_put(store, "chunks/c2.cbor",
				      "\xa1\x68"
				      "chunk_id\x62"
				      "c0",
				      13),
			 VC_OK);
	open_with_manifest(store,
			   "{\"version\": 3, \"chunks\": [{\"chunk_id\": \"c2\", "
			   "\"vector_count\": 0}]}",
			   VC_ERR_CORRUPT, "chunk_id \"c0\" but the manifest says c2");
	/* the same vectors in two chunks */
	open_with_manifest(store,
			   "{\"version\": 3, \"chunks\": [{\"chunk_id\": \"c0\", "
			   "\"vector_count\": 3}, {\"chunk_id\": \"c0\", \"vector_count\": 3}]}",
			   VC_ERR_CORRUPT, "listed twice");
	open_with_manifest(store, "{\"version\": 3, \"chunks\": [", VC_ERR_CORRUPT,
			   "manifest.json: line");
	vc_store_close(store);
	remove_tree(tmp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_blake3_spec_vectors),
	    cmocka_unit_test(test_half_floats),
	    cmocka_unit_test(test_cursor_floats),
	    cmocka_unit_test(test_cursor_refuses_bad_lengths),
	    cmocka_unit_test(test_cursor_json),
	    cmocka_unit_test(test_cursor_depth_limit),
	    cmocka_unit_test(test_detect),
	    cmocka_unit_test(test_genuine_tiny),
	    cmocka_unit_test(test_genuine_small),
	    cmocka_unit_test(test_byte_size_checked),
	    cmocka_unit_test(test_deleted_vectors),
	    cmocka_unit_test(test_ids_without_metadata_map),
	    cmocka_unit_test(test_original_id_must_hash),
	    cmocka_unit_test(test_synthetic_session),
	    cmocka_unit_test(test_bad_manifests),
	    cmocka_unit_test(test_damaged_tiny),
	    cmocka_unit_test(test_damaged_small),
	};

	unsetenv("VCHUNK_FAULT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
