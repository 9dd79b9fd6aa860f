/*
 * Tests for the legacy reader on modified sessions: truncated and bit-flipped copies of the
 * genuine fixtures, deletions, ids the session does not record, a synthetic session for the
 * corner cases (float encodings, short-id collisions, unwrapped metadata, graph mismatches),
 * and manifests that must be refused.
 */
#include "legacy_test_util.h"

static uint64_t rng_state = 0x5eed;

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
		size_t pos = (size_t)(vc_test_splitmix64(&rng_state) % orig.len);

		memcpy(copy, orig.data, orig.len);
		copy[pos] ^= (uint8_t)(1u << (vc_test_splitmix64(&rng_state) % 8));
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
