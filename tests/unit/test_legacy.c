/*
 * Tests for the legacy reader: BLAKE3 against the specification's vectors, the CBOR cursor on
 * hand-made input, and the two genuine sessions in shared/fixtures/legacy-rust against their
 * truth.json (ids, vectors, metadata, exact top-10 of ten queries, chunks as JSON).
 */
#include "legacy_test_util.h"

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
	};

	unsetenv("VCHUNK_FAULT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
