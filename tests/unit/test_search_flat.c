/* Tests for exact search: results equal a brute force computed here for every metric, with k past
 * the total, thresholds, filters, and a cache far smaller than the session. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "test_util.h"
#include "vchunk/vchunk.h"

#define DIM 16
#define COUNT 500
#define CHUNK_SIZE 32 /* 16 chunks */
#define CHUNKS ((COUNT + CHUNK_SIZE - 1) / CHUNK_SIZE)
#define TOLERANCE 1e-4

typedef struct fixture {
	char dir[64];
	char uri[128];
	char key[128];
	float vectors[COUNT][DIM];
} fixture;

typedef struct truth {
	double score;
	int index;
} truth;

static void create_session(fixture *fx, vc_metric metric)
{
	vc_create_options create = {
	    .key_file = fx->key, .metric = metric, .chunk_size = CHUNK_SIZE};
	vc_writer *writer = NULL;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char id[16];

	assert_int_equal(vc_writer_create(fx->uri, &create, &writer), VC_OK);
	for (int i = 0; i < COUNT; i++) {
		json_t *meta = json_pack("{s:i, s:b}", "i", i, "even", i % 2 == 0);

		for (int d = 0; d < DIM; d++)
			fx->vectors[i][d] = vc_test_xorshift_value(&seed);
		snprintf(id, sizeof(id), "v%d", i);
		assert_int_equal(vc_writer_add(writer, id, fx->vectors[i], DIM, meta), VC_OK);
		json_decref(meta);
	}
	assert_int_equal(vc_writer_commit(writer), VC_OK);
}

static int setup(void **state)
{
	fixture *fx = calloc(1, sizeof(*fx));

	if (vc_test_session_dir("/tmp/vchunk-flat-XXXXXX", "s", fx->dir, fx->uri, fx->key) != 0)
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

/* The public score of vector @p i for @p query, computed independently in double precision. */
static double true_score(const fixture *fx, vc_metric metric, const float *query, int i)
{
	double dot = 0, qq = 0, vv = 0, l2 = 0;

	for (int d = 0; d < DIM; d++) {
		double q = query[d], v = fx->vectors[i][d];

		dot += q * v;
		qq += q * q;
		vv += v * v;
		l2 += (q - v) * (q - v);
	}
	if (metric == VC_METRIC_COSINE)
		return dot / (sqrt(qq) * sqrt(vv));
	if (metric == VC_METRIC_DOT)
		return dot;
	return sqrt(l2);
}

static vc_metric sort_metric;

static int by_score(const void *a, const void *b)
{
	double sa = ((const truth *)a)->score, sb = ((const truth *)b)->score;

	if (sort_metric == VC_METRIC_L2)
		return sa < sb ? -1 : sa > sb;
	return sa > sb ? -1 : sa < sb;
}

static int id_index(const char *id)
{
	assert_true(id[0] == 'v');
	return atoi(id + 1);
}

static bool keep(const fixture *fx, vc_metric metric, const vc_query *query, int i)
{
	double s = true_score(fx, metric, query->vector, i);

	if (query->filter != NULL && i % 2 != 0)
		return false;
	if (!query->has_threshold)
		return true;
	return metric == VC_METRIC_L2 ? s <= query->threshold : s >= query->threshold;
}

/* Compare search results with the brute force over the vectors @p keep accepts. */
static void check_results(const fixture *fx, vc_metric metric, const vc_query *query,
			  const vc_results *results)
{
	truth all[COUNT];
	size_t n = 0;

	for (int i = 0; i < COUNT; i++) {
		if (keep(fx, metric, query, i)) {
			all[n].score = true_score(fx, metric, query->vector, i);
			all[n++].index = i;
		}
	}
	sort_metric = metric;
	qsort(all, n, sizeof(truth), by_score);
	assert_int_equal(results->count, n < query->k ? n : query->k);
	for (size_t r = 0; r < results->count; r++) {
		const vc_hit *hit = &results->hits[r];
		int index = id_index(hit->id);

		/* Same rank, same score; the id's own score confirms it (ties may swap ids). */
		assert_true(fabs(hit->score - all[r].score) < TOLERANCE);
		assert_true(fabs(hit->score - true_score(fx, metric, query->vector, index)) <
			    TOLERANCE);
		assert_true(keep(fx, metric, query, index));
		assert_int_equal(json_integer_value(json_object_get(hit->metadata, "i")), index);
		for (size_t e = 0; e < r; e++)
			assert_string_not_equal(results->hits[e].id, hit->id);
	}
}

static void make_query(uint64_t seed, float *query)
{
	for (int d = 0; d < DIM; d++)
		query[d] = vc_test_xorshift_value(&seed);
}

/* Scanning with several threads gives exactly the single-threaded answer. */
static void same_with_threads(vc_session *session, const vc_query *query, const vc_results *one)
{
	vc_query threaded = *query;
	vc_results many;

	threaded.threads = 3;
	assert_int_equal(vc_session_search(session, &threaded, &many), VC_OK);
	assert_int_equal(many.count, one->count);
	assert_int_equal(many.stats.vectors_scored, COUNT);
	for (size_t i = 0; i < one->count; i++) {
		assert_string_equal(many.hits[i].id, one->hits[i].id);
		assert_true(many.hits[i].score == one->hits[i].score);
		assert_true(json_equal(many.hits[i].metadata, one->hits[i].metadata));
	}
	vc_results_free(&many);
}

static void run_metric(fixture *fx, vc_metric metric, float threshold)
{
	vc_open_options open = {.key_file = fx->key};
	vc_session *session = NULL;
	json_t *filter = json_pack("{s:b}", "even", 1);
	float vector[DIM];

	create_session(fx, metric);
	assert_int_equal(vc_session_open(fx->uri, &open, &session), VC_OK);
	for (uint64_t q = 1; q <= 3; q++) {
		uint32_t ks[] = {1, 10, COUNT + 100};

		make_query(q * 7777, vector);
		for (size_t k = 0; k < sizeof(ks) / sizeof(ks[0]); k++) {
			vc_query query = {.vector = vector, .dim = DIM, .k = ks[k]};
			vc_results results;

			assert_int_equal(vc_session_search(session, &query, &results), VC_OK);
			assert_int_equal(results.stats.vectors_scored, COUNT);
			check_results(fx, metric, &query, &results);
			same_with_threads(session, &query, &results);
			vc_results_free(&results);

			query.has_threshold = true;
			query.threshold = threshold;
			assert_int_equal(vc_session_search(session, &query, &results), VC_OK);
			check_results(fx, metric, &query, &results);
			vc_results_free(&results);

			query.has_threshold = false;
			query.filter = filter;
			assert_int_equal(vc_session_search(session, &query, &results), VC_OK);
			check_results(fx, metric, &query, &results);
			vc_results_free(&results);
		}
	}
	json_decref(filter);
	vc_session_close(session);
}

static void test_cosine(void **state)
{
	run_metric(*state, VC_METRIC_COSINE, 0.3f);
}

static void test_dot(void **state)
{
	run_metric(*state, VC_METRIC_DOT, 1.0f);
}

static void test_l2(void **state)
{
	run_metric(*state, VC_METRIC_L2, 2.0f);
}

static void test_small_cache(void **state)
{
	fixture *fx = *state;
	vc_open_options open = {.key_file = fx->key};
	vc_session *session = NULL;
	const vc_manifest *manifest;
	vc_cache_entry *entry = NULL;
	vc_session_stats stats;
	vc_results results;
	float vector[DIM];
	vc_query query = {.vector = vector, .dim = DIM, .k = 20};
	size_t one_chunk;

	create_session(fx, VC_METRIC_COSINE);
	/* Measure what one full chunk costs in the cache. */
	assert_int_equal(vc_session_open(fx->uri, &open, &session), VC_OK);
	manifest = vc_session_manifest_get(session);
	assert_int_equal(vc_session_chunk_get(session, manifest, 0, &entry), VC_OK);
	vc_session_chunk_release(session, entry);
	vc_session_manifest_put(session, manifest);
	vc_session_get_stats(session, &stats);
	one_chunk = stats.cache.bytes_resident;
	assert_true(one_chunk > CHUNK_SIZE * DIM * sizeof(float));
	vc_session_close(session);

	open.cache_bytes = 2 * one_chunk;
	assert_int_equal(vc_session_open(fx->uri, &open, &session), VC_OK);
	make_query(4242, vector);
	for (int round = 0; round < 3; round++) {
		/* The last round scans with two threads, each pinning one chunk. */
		query.threads = round == 2 ? 2 : 0;
		assert_int_equal(vc_session_search(session, &query, &results), VC_OK);
		check_results(fx, VC_METRIC_COSINE, &query, &results);
		/* Every chunk had to be read again: the cache holds two of sixteen. */
		assert_true(results.stats.chunks_read >= CHUNKS - 2);
		assert_true(results.stats.bytes_read > 0);
		assert_true(results.stats.frames_decrypted >= results.stats.chunks_read);
		vc_results_free(&results);
		vc_session_get_stats(session, &stats);
		assert_true(stats.cache.bytes_resident <= open.cache_bytes);
		assert_true(stats.cache.evictions > 0);
	}
	assert_int_equal(stats.searches, 3);
	vc_session_close(session);

	/* With room for everything, a second search reads nothing from storage. */
	open.cache_bytes = 0;
	assert_int_equal(vc_session_open(fx->uri, &open, &session), VC_OK);
	assert_int_equal(vc_session_search(session, &query, &results), VC_OK);
	assert_int_equal(results.stats.chunks_read, CHUNKS);
	vc_results_free(&results);
	assert_int_equal(vc_session_search(session, &query, &results), VC_OK);
	assert_int_equal(results.stats.chunks_read, 0);
	assert_int_equal(results.stats.bytes_read, 0);
	assert_true(results.stats.cache_hits >= CHUNKS);
	check_results(fx, VC_METRIC_COSINE, &query, &results);
	vc_results_free(&results);
	vc_session_close(session);
}

static void test_damaged_chunk_fails_search(void **state)
{
	fixture *fx = *state;
	vc_open_options open = {.key_file = fx->key};
	vc_session *session = NULL;
	float vector[DIM];
	vc_query query = {.vector = vector, .dim = DIM, .k = 5};
	vc_results results;
	char path[200];
	int byte;
	FILE *f;

	create_session(fx, VC_METRIC_DOT);
	snprintf(path, sizeof(path), "%s/chunks/chunk-5.cbor", fx->uri);
	f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, 300, SEEK_SET), 0);
	byte = fgetc(f);
	assert_int_not_equal(byte, EOF);
	/* A stream switching from reading to writing must be positioned again. */
	assert_int_equal(fseek(f, 300, SEEK_SET), 0);
	assert_int_equal(fputc(byte ^ 0x5a, f), byte ^ 0x5a);
	assert_int_equal(fclose(f), 0);
	make_query(99, vector);
	assert_int_equal(vc_session_open(fx->uri, &open, &session), VC_OK);
	/* Whichever thread meets the damaged chunk, the caller gets its error and message. */
	for (uint32_t threads = 0; threads <= 3; threads += 3) {
		query.threads = threads;
		assert_int_equal(vc_session_search(session, &query, &results), VC_ERR_AUTH);
		assert_non_null(strstr(vc_last_error(), "chunks/chunk-5.cbor"));
		assert_int_equal(results.count, 0);
		assert_null(results.hits);
	}
	vc_session_close(session);
}

static void test_bad_queries(void **state)
{
	fixture *fx = *state;
	vc_open_options open = {.key_file = fx->key};
	vc_session *session = NULL;
	float vector[DIM] = {0};
	vc_query query = {.vector = vector, .dim = 3, .k = 5};
	json_t *bad_filter = json_pack("{s:{s:i}}", "i", "$regex", 1);
	vc_results results;

	create_session(fx, VC_METRIC_COSINE);
	assert_int_equal(vc_session_open(fx->uri, &open, &session), VC_OK);
	assert_int_equal(vc_session_search(session, &query, &results), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "query has 3 dimensions, the session has 16"));
	query.dim = DIM;
	assert_int_equal(vc_session_search(session, &query, &results), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "zero"));
	vector[0] = 1;
	query.k = 0;
	assert_int_equal(vc_session_search(session, &query, &results), VC_ERR_INVALID);
	query.k = 5;
	vector[3] = NAN;
	assert_int_equal(vc_session_search(session, &query, &results), VC_ERR_INVALID);
	vector[3] = 0;
	query.filter = bad_filter;
	assert_int_equal(vc_session_search(session, &query, &results), VC_ERR_INVALID);
	query.filter = NULL;
	assert_int_equal(vc_session_search(session, &query, &results), VC_OK);
	assert_int_equal(results.count, 5);
	vc_results_free(&results);
	json_decref(bad_filter);
	vc_session_close(session);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cosine, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_l2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_chunk_fails_search, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_queries, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
