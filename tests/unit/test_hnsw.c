/* Tests for the HNSW index: recall against brute force, filters, deletion, persistence. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/hnsw.h"
#include "search/distance.h"
#include "test_util.h"

#define DIM 32
#define N 5000
#define CLUSTERS 40
#define QUERIES 200
#define K 10

static double rng_unit(uint64_t *state)
{
	return (double)((vc_test_splitmix64(state) >> 11) + 1) * 0x1.0p-53;
}

static float rng_gauss(uint64_t *state)
{
	return (float)(sqrt(-2.0 * log(rng_unit(state))) * cos(2.0 * M_PI * rng_unit(state)));
}

/*
 * Gaussian clusters: centres spread with sd 1 per axis, points around them
 * with sd 0.35, so clusters overlap a little, like real embeddings do.
 */
static float *make_clustered(size_t n, uint64_t seed)
{
	return vc_test_make_clustered(seed, n, DIM, CLUSTERS, 0.35f, rng_gauss);
}

/* Exact score as the index defines it (cosine on normalised copies). */
static float true_score(vc_metric metric, const float *a, const float *b)
{
	return (float)vc_test_exact_score(metric, a, b, DIM);
}

typedef bool (*keep_fn)(uint32_t id);

/* Brute-force top-k ids over the vectors that @keep accepts (NULL: all). */
static size_t brute_force(vc_metric metric, const float *base, size_t n, const float *q, size_t k,
			  keep_fn keep, uint32_t *ids)
{
	vc_topk topk;
	size_t got;

	assert_int_equal(vc_topk_init(&topk, k), VC_OK);
	for (size_t i = 0; i < n; i++) {
		if (keep == NULL || keep((uint32_t)i))
			vc_topk_push(&topk, true_score(metric, q, base + i * DIM), i);
	}
	vc_topk_sort(&topk);
	got = topk.count;
	for (size_t i = 0; i < got; i++)
		ids[i] = (uint32_t)topk.items[i].key;
	vc_topk_free(&topk);
	return got;
}

static vc_hnsw *build(vc_metric metric, const float *base, size_t n)
{
	vc_hnsw *h;

	assert_int_equal(vc_hnsw_create(DIM, metric, NULL, &h), VC_OK);
	for (size_t i = 0; i < n; i++) {
		uint32_t id;

		assert_int_equal(vc_hnsw_add(h, base + i * DIM, &id), VC_OK);
		assert_int_equal(id, i);
	}
	assert_int_equal(vc_hnsw_count(h), n);
	return h;
}

static size_t overlap(const uint32_t *truth, size_t nt, const vc_scored *got, size_t ng)
{
	size_t hits = 0;

	for (size_t i = 0; i < ng; i++)
		for (size_t j = 0; j < nt; j++)
			hits += got[i].key == truth[j];
	return hits;
}

static double recall_at(vc_hnsw *h, vc_metric metric, const float *base, const float *queries,
			const uint32_t *truth, uint32_t ef)
{
	size_t hits = 0;

	for (size_t q = 0; q < QUERIES; q++) {
		vc_scored got[K];
		size_t found;

		assert_int_equal(
		    vc_hnsw_search(h, queries + q * DIM, K, ef, NULL, NULL, got, &found), VC_OK);
		assert_int_equal(found, K);
		for (size_t i = 1; i < found; i++)
			assert_true(got[i - 1].score >= got[i].score);
		/* scores are the metric's own, computed on the stored vectors */
		assert_true(fabsf(got[0].score -
				  true_score(metric, queries + q * DIM, base + got[0].key * DIM)) <
			    1e-3f * (1.0f + fabsf(got[0].score)));
		hits += overlap(truth + q * K, K, got, found);
	}
	return (double)hits / (QUERIES * K);
}

/*
 * Overlapping 32-d Gaussian clusters are hard for any graph index (hnswlib
 * reaches 0.96 at ef 64 on them), so the bar of 0.95 is set at ef 128;
 * recall must also grow with ef and be exact once ef covers the index.
 */
static void check_recall(vc_metric metric)
{
	float *base = make_clustered(N, 11);
	float *queries = make_clustered(QUERIES, 12);
	uint32_t *truth = malloc(QUERIES * K * sizeof(uint32_t));
	vc_hnsw *h = build(metric, base, N);
	double r32, r128, r400;

	for (size_t q = 0; q < QUERIES; q++)
		brute_force(metric, base, N, queries + q * DIM, K, NULL, truth + q * K);
	r32 = recall_at(h, metric, base, queries, truth, 32);
	r128 = recall_at(h, metric, base, queries, truth, 128);
	r400 = recall_at(h, metric, base, queries, truth, 400);
	print_message("recall@10 (%s): ef 32 %.4f, ef 64 %.4f, ef 128 %.4f, ef 400 %.4f\n",
		      vc_metric_name(metric), r32, recall_at(h, metric, base, queries, truth, 0),
		      r128, r400);
	assert_true(r128 >= 0.95);
	assert_true(r400 >= r32);
	assert_true(recall_at(h, metric, base, queries, truth, N) == 1.0);
	vc_hnsw_free(h);
	free(truth);
	free(base);
	free(queries);
}

static void test_recall_cosine(void **state)
{
	(void)state;
	check_recall(VC_METRIC_COSINE);
}

static void test_recall_l2(void **state)
{
	(void)state;
	check_recall(VC_METRIC_L2);
}

static void test_recall_dot(void **state)
{
	(void)state;
	check_recall(VC_METRIC_DOT);
}

static void test_k_larger_than_index(void **state)
{
	float *base = make_clustered(37, 5);
	vc_hnsw *h = build(VC_METRIC_L2, base, 37);
	vc_scored got[100];
	bool seen[37] = {0};
	size_t found;

	(void)state;
	assert_int_equal(vc_hnsw_search(h, base, 100, 0, NULL, NULL, got, &found), VC_OK);
	assert_int_equal(found, 37);
	for (size_t i = 0; i < found; i++) {
		assert_true(got[i].key < 37);
		assert_false(seen[got[i].key]);
		seen[got[i].key] = true;
		if (i > 0)
			assert_true(got[i - 1].score >= got[i].score);
	}
	assert_true(got[0].key == 0 && got[0].score == 0.0f);
	/* k = 0 and an empty index give nothing, without error */
	assert_int_equal(vc_hnsw_search(h, base, 0, 0, NULL, NULL, got, &found), VC_OK);
	assert_int_equal(found, 0);
	vc_hnsw_free(h);
	assert_int_equal(vc_hnsw_create(DIM, VC_METRIC_L2, NULL, &h), VC_OK);
	assert_int_equal(vc_hnsw_search(h, base, 5, 0, NULL, NULL, got, &found), VC_OK);
	assert_int_equal(found, 0);
	vc_hnsw_free(h);
	free(base);
}

static bool keep_multiple_of_7(uint32_t id)
{
	return id % 7 == 3;
}

static bool accept_multiple_of_7(void *ctx, uint32_t node)
{
	(*(size_t *)ctx)++;
	return keep_multiple_of_7(node);
}

static void test_filter_callback(void **state)
{
	float *base = make_clustered(N, 21);
	float *queries = make_clustered(50, 22);
	vc_hnsw *h = build(VC_METRIC_COSINE, base, N);
	size_t hits = 0, calls = 0;

	(void)state;
	for (size_t q = 0; q < 50; q++) {
		uint32_t truth[K];
		vc_scored got[K];
		size_t found;

		brute_force(VC_METRIC_COSINE, base, N, queries + q * DIM, K, keep_multiple_of_7,
			    truth);
		assert_int_equal(vc_hnsw_search(h, queries + q * DIM, K, 0, accept_multiple_of_7,
						&calls, got, &found),
				 VC_OK);
		assert_int_equal(found, K);
		for (size_t i = 0; i < found; i++)
			assert_true(keep_multiple_of_7((uint32_t)got[i].key));
		hits += overlap(truth, K, got, found);
	}
	assert_true(calls > 0);
	assert_true((double)hits / (50 * K) >= 0.9);
	vc_hnsw_free(h);
	free(base);
	free(queries);
}

static bool never(void *ctx, uint32_t node)
{
	(void)ctx;
	(void)node;
	return false;
}

static void test_deleted_never_returned(void **state)
{
	float *base = make_clustered(2000, 31);
	vc_hnsw *h = build(VC_METRIC_L2, base, 2000);
	vc_scored got[50];
	size_t found;

	(void)state;
	/* delete every node in the first half and a sprinkle elsewhere */
	for (uint32_t i = 0; i < 2000; i++) {
		if (i < 1000 || i % 5 == 0)
			assert_int_equal(vc_hnsw_mark_deleted(h, i), VC_OK);
	}
	assert_int_equal(vc_hnsw_mark_deleted(h, 2000), VC_ERR_NOT_FOUND);
	for (uint32_t q = 0; q < 1000; q += 10) {
		/* querying with deleted vectors themselves: their own node must not come back */
		assert_int_equal(
		    vc_hnsw_search(h, base + (size_t)q * DIM, 50, 0, NULL, NULL, got, &found),
		    VC_OK);
		assert_int_equal(found, 50);
		for (size_t i = 0; i < found; i++) {
			assert_false(vc_hnsw_is_deleted(h, (uint32_t)got[i].key));
			assert_true(got[i].key >= 1000 && got[i].key % 5 != 0);
		}
	}
	/* an exact-mode search (ef covering everything) respects deletion too */
	assert_int_equal(vc_hnsw_search(h, base, 50, 5000, NULL, NULL, got, &found), VC_OK);
	for (size_t i = 0; i < found; i++)
		assert_false(vc_hnsw_is_deleted(h, (uint32_t)got[i].key));
	assert_int_equal(vc_hnsw_search(h, base, 10, 0, never, NULL, got, &found), VC_OK);
	assert_int_equal(found, 0);
	vc_hnsw_free(h);
	free(base);
}

static void same_results(vc_hnsw *a, vc_hnsw *b, const float *queries, size_t nq)
{
	for (size_t q = 0; q < nq; q++) {
		vc_scored ga[K], gb[K];
		size_t fa, fb;

		assert_int_equal(vc_hnsw_search(a, queries + q * DIM, K, 0, NULL, NULL, ga, &fa),
				 VC_OK);
		assert_int_equal(vc_hnsw_search(b, queries + q * DIM, K, 0, NULL, NULL, gb, &fb),
				 VC_OK);
		assert_int_equal(fa, fb);
		for (size_t i = 0; i < fa; i++) {
			assert_true(ga[i].key == gb[i].key);
			assert_true(ga[i].score == gb[i].score);
		}
	}
}

static void test_serialize_roundtrip(void **state)
{
	float *base = make_clustered(3000, 41);
	float *queries = make_clustered(60, 42);
	vc_hnsw *h = build(VC_METRIC_DOT, base, 3000);
	vc_hnsw *g;
	vc_bytes one = {0}, two = {0};
	uint32_t ia, ib;

	(void)state;
	vc_hnsw_mark_deleted(h, 17);
	assert_int_equal(vc_hnsw_serialize(h, &one), VC_OK);
	assert_int_equal(vc_hnsw_deserialize(one.data, one.len, &g), VC_OK);
	assert_int_equal(vc_hnsw_count(g), 3000);
	assert_int_equal(vc_hnsw_dim(g), DIM);
	assert_int_equal(vc_hnsw_metric(g), VC_METRIC_DOT);
	assert_true(vc_hnsw_is_deleted(g, 17));
	assert_memory_equal(vc_hnsw_vector(g, 2999), base + 2999 * DIM, DIM * sizeof(float));
	same_results(h, g, queries, 60);
	/* the copy serialises to the same bytes */
	assert_int_equal(vc_hnsw_serialize(g, &two), VC_OK);
	assert_int_equal(one.len, two.len);
	assert_memory_equal(one.data, two.data, one.len);
	/* and keeps growing exactly like the original (level generator state is kept) */
	for (size_t i = 0; i < 60; i++) {
		assert_int_equal(vc_hnsw_add(h, queries + i * DIM, &ia), VC_OK);
		assert_int_equal(vc_hnsw_add(g, queries + i * DIM, &ib), VC_OK);
		assert_int_equal(ia, ib);
	}
	same_results(h, g, base, 60);
	vc_bytes_free(&one);
	vc_bytes_free(&two);
	vc_hnsw_free(h);
	vc_hnsw_free(g);
	free(base);
	free(queries);
}

/* Links only: the vectors come back through vc_hnsw_set_row (normalised for cosine). */
static void test_links_only_roundtrip(void **state)
{
	float *base = make_clustered(2000, 51);
	float *queries = make_clustered(40, 52);
	vc_hnsw *h = build(VC_METRIC_COSINE, base, 2000);
	vc_hnsw *g = NULL;
	vc_bytes full = {0}, links = {0}, again = {0};
	bool vectors = true;

	(void)state;
	assert_int_equal(vc_hnsw_serialize(h, &full), VC_OK);
	assert_int_equal(vc_hnsw_serialize_graph(h, false, &links), VC_OK);
	assert_int_equal(full.len - links.len, (size_t)2000 * DIM * sizeof(float));
	/* a loader that needs the vectors refuses a links-only graph */
	assert_int_equal(vc_hnsw_deserialize(links.data, links.len, &g), VC_ERR_CORRUPT);
	assert_null(g);
	assert_int_equal(vc_hnsw_deserialize_graph(links.data, links.len - 1, &vectors, &g),
			 VC_ERR_CORRUPT);
	assert_int_equal(vc_hnsw_deserialize_graph(links.data, links.len, &vectors, &g), VC_OK);
	assert_false(vectors);
	for (uint32_t i = 0; i < 2000; i++)
		vc_hnsw_set_row(g, i, base + (size_t)i * DIM);
	same_results(h, g, queries, 40);
	/* the same graph, byte for byte, with its vectors back */
	assert_int_equal(vc_hnsw_serialize(g, &again), VC_OK);
	assert_int_equal(again.len, full.len);
	assert_memory_equal(again.data, full.data, full.len);
	vc_bytes_free(&full);
	vc_bytes_free(&links);
	vc_bytes_free(&again);
	vc_hnsw_free(h);
	vc_hnsw_free(g);
	free(base);
	free(queries);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Loading must either fail as corrupt or give an index that searches safely. */
static void load_or_reject(const uint8_t *data, size_t len, const float *q)
{
	vc_hnsw *g = NULL;
	vc_err err = vc_hnsw_deserialize(data, len, &g);
	vc_scored got[K];
	size_t found;

	if (err != VC_OK) {
		assert_int_equal(err, VC_ERR_CORRUPT);
		assert_null(g);
		return;
	}
	assert_int_equal(vc_hnsw_search(g, q, K, 0, NULL, NULL, got, &found), VC_OK);
	for (size_t i = 0; i < found; i++)
		assert_true(got[i].key < vc_hnsw_count(g));
	vc_hnsw_free(g);
}

static void test_corrupt_input_rejected(void **state)
{
	float *base = make_clustered(300, 51);
	vc_hnsw *h = build(VC_METRIC_L2, base, 300);
	vc_bytes b = {0};
	uint8_t *copy;
	uint64_t rng_state = 99;
	size_t links0;
	vc_hnsw *g;

	(void)state;
	assert_int_equal(vc_hnsw_serialize(h, &b), VC_OK);
	copy = malloc(b.len);
	/* every truncation is rejected */
	for (size_t len = 0; len < b.len; len += (len < 200 ? 1 : 97)) {
		assert_int_equal(vc_hnsw_deserialize(b.data, len, &g), VC_ERR_CORRUPT);
		assert_null(g);
	}
	assert_int_equal(vc_hnsw_deserialize(b.data, b.len - 1, &g), VC_ERR_CORRUPT);
	/* an extra byte is rejected */
	memcpy(copy, b.data, b.len);
	vc_bytes_append(&b, "x", 1);
	assert_int_equal(vc_hnsw_deserialize(b.data, b.len, &g), VC_ERR_CORRUPT);
	b.len--;
	/*
	 * targeted damage: magic, metric, m (too small, too large), forged counts,
	 * entry point, max level, node 0's layer-0 used count beyond 2m, its first
	 * link out of range
	 */
	links0 = 48 + 300 * 2 + 300 * DIM * 4;
	struct {
		size_t off;
		uint32_t value;
	} edits[] = {{0, 0x4e484357},
		     {12, 7},
		     {16, 1},
		     {16, 100000},
		     {28, 0x7fffffff},
		     {28, 301},
		     {32, 300},
		     {4 * 9, 40},
		     {links0, 33},
		     {links0 + 4, 300},
		     {links0 + 4, 0xffffffff}};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		memcpy(copy, b.data, b.len);
		put32(copy + edits[i].off, edits[i].value);
		if (vc_hnsw_deserialize(copy, b.len, &g) != VC_ERR_CORRUPT)
			fail_msg("edit %zu (offset %zu) was not rejected", i, edits[i].off);
		assert_null(g);
	}
	/* random single-byte flips anywhere: reject or load something safe */
	for (int i = 0; i < 400; i++) {
		size_t off = vc_test_splitmix64(&rng_state) % b.len;

		memcpy(copy, b.data, b.len);
		copy[off] ^= (uint8_t)(1u << (vc_test_splitmix64(&rng_state) % 8));
		load_or_reject(copy, b.len, base);
	}
	free(copy);
	vc_bytes_free(&b);
	vc_hnsw_free(h);
	free(base);
}

static void test_empty_roundtrip_and_params(void **state)
{
	vc_hnsw_params p;
	vc_hnsw *h, *g;
	vc_bytes b = {0};
	float v[DIM] = {0};
	vc_scored got[1];
	size_t found;
	uint32_t id;

	(void)state;
	vc_hnsw_params_default(&p);
	assert_int_equal(p.m, 16);
	assert_int_equal(p.ef_construction, 200);
	assert_int_equal(p.ef_search, 64);
	p.m = 1;
	assert_int_equal(vc_hnsw_create(DIM, VC_METRIC_L2, &p, &h), VC_ERR_INVALID);
	assert_int_equal(vc_hnsw_create(0, VC_METRIC_L2, NULL, &h), VC_ERR_INVALID);
	assert_int_equal(vc_hnsw_create(DIM, (vc_metric)9, NULL, &h), VC_ERR_INVALID);
	assert_int_equal(vc_hnsw_create(DIM, VC_METRIC_COSINE, NULL, &h), VC_OK);
	assert_int_equal(vc_hnsw_serialize(h, &b), VC_OK);
	assert_int_equal(vc_hnsw_deserialize(b.data, b.len, &g), VC_OK);
	assert_int_equal(vc_hnsw_count(g), 0);
	/* a zero vector under cosine is stored as is and still searchable */
	assert_int_equal(vc_hnsw_add(g, v, &id), VC_OK);
	assert_int_equal(vc_hnsw_search(g, v, 1, 0, NULL, NULL, got, &found), VC_OK);
	assert_int_equal(found, 1);
	assert_true(got[0].score == 0.0f);
	vc_bytes_free(&b);
	vc_hnsw_free(h);
	vc_hnsw_free(g);
}

static void test_duplicates_and_small_m(void **state)
{
	vc_hnsw_params p;
	vc_hnsw *h;
	float v[DIM];
	vc_scored got[20];
	size_t found;
	uint32_t id;

	(void)state;
	vc_hnsw_params_default(&p);
	p.m = 2;
	p.ef_construction = 4;
	assert_int_equal(vc_hnsw_create(DIM, VC_METRIC_L2, &p, &h), VC_OK);
	for (size_t d = 0; d < DIM; d++)
		v[d] = 1.0f;
	for (int i = 0; i < 500; i++)
		assert_int_equal(vc_hnsw_add(h, v, &id), VC_OK);
	assert_int_equal(vc_hnsw_search(h, v, 20, 0, NULL, NULL, got, &found), VC_OK);
	assert_int_equal(found, 20);
	for (size_t i = 0; i < found; i++)
		assert_true(got[i].score == 0.0f);
	vc_hnsw_free(h);
}

typedef struct reader_arg {
	vc_hnsw *h;
	const float *queries;
	int failures;
} reader_arg;

static void *reader(void *p)
{
	reader_arg *a = p;

	for (int round = 0; round < 200; round++) {
		vc_scored got[K];
		size_t found;
		if (vc_hnsw_search(a->h, a->queries + (round % 50) * DIM, K, 0, NULL, NULL, got,
				   &found) != VC_OK)
			a->failures++;
		for (size_t i = 0; i < found; i++)
			a->failures += got[i].key >= N;
	}
	return NULL;
}

static void test_concurrent_readers_and_writer(void **state)
{
	float *base = make_clustered(N, 61);
	float *queries = make_clustered(50, 62);
	vc_hnsw *h = build(VC_METRIC_COSINE, base, N / 2);
	reader_arg args[2] = {{h, queries, 0}, {h, queries, 0}};
	pthread_t t[2];

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, &args[i]), 0);
	for (size_t i = N / 2; i < N; i++) {
		uint32_t id;

		assert_int_equal(vc_hnsw_add(h, base + i * DIM, &id), VC_OK);
		assert_int_equal(id, i);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
	assert_true(vc_hnsw_memory(h) > (size_t)N * DIM * sizeof(float));
	vc_hnsw_free(h);
	free(base);
	free(queries);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recall_cosine),
	    cmocka_unit_test(test_recall_l2),
	    cmocka_unit_test(test_recall_dot),
	    cmocka_unit_test(test_k_larger_than_index),
	    cmocka_unit_test(test_filter_callback),
	    cmocka_unit_test(test_deleted_never_returned),
	    cmocka_unit_test(test_serialize_roundtrip),
	    cmocka_unit_test(test_links_only_roundtrip),
	    cmocka_unit_test(test_corrupt_input_rejected),
	    cmocka_unit_test(test_empty_roundtrip_and_params),
	    cmocka_unit_test(test_duplicates_and_small_m),
	    cmocka_unit_test(test_concurrent_readers_and_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
