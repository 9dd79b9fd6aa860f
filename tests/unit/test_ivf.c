/* Tests for the IVF quantizer: assignment, probing (exact at nprobe = nlist), persistence. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/ivf.h"
#include "search/distance.h"
#include "test_util.h"

#define DIM 32
#define N 4000
#define NLIST 16
#define CLUSTERS 20
#define K 10

/* Gaussian clusters with sd 0.3 around CLUSTERS centres, reproducible from @p seed. */
static float *make_clustered(size_t n, uint64_t seed)
{
	return vc_test_make_clustered(seed, n, DIM, CLUSTERS, 0.3f, vc_test_gauss);
}

/* The score a search ranks by (cosine computed on the raw vectors). */
static double exact_score(vc_metric metric, const float *a, const float *b)
{
	return vc_test_exact_score(metric, a, b, DIM);
}

/* Scan the inverted lists (vector i lives in list of[i]) that the probe names. */
static void search_lists(vc_metric metric, const vc_ivf *ivf, const float *base, const uint32_t *of,
			 const float *q, uint32_t nprobe, vc_topk *out)
{
	vc_scored probe[NLIST];
	bool scan[NLIST] = {false};
	size_t n;

	vc_ivf_probe(ivf, q, nprobe, probe, &n);
	for (size_t i = 0; i < n; i++)
		scan[probe[i].key] = true;
	for (size_t i = 0; i < N; i++) {
		if (scan[of[i]])
			vc_topk_push(out, (float)exact_score(metric, q, base + i * DIM), i);
	}
	vc_topk_sort(out);
}

static void check_metric(vc_metric metric)
{
	float *base = make_clustered(N, 100 + metric);
	float *queries = make_clustered(50, 200 + metric);
	uint32_t *of = malloc(N * sizeof(uint32_t));
	vc_ivf *ivf;
	size_t hits4 = 0;

	assert_int_equal(vc_ivf_train(metric, DIM, NLIST, base, N, NULL, &ivf), VC_OK);
	assert_int_equal(vc_ivf_nlist(ivf), NLIST);
	/* the bulk path agrees with one-at-a-time assignment (N - 1 leaves a tail of three) */
	vc_ivf_assign_many(ivf, base, N - 1, of);
	for (size_t i = 0; i < N; i++) {
		uint32_t one = vc_ivf_assign(ivf, base + i * DIM);

		if (i < N - 1 && of[i] != one) {
			/* only a tie within rounding may differ */
			double a = exact_score(metric == VC_METRIC_COSINE ? metric : VC_METRIC_L2,
					       base + i * DIM, vc_ivf_centroid(ivf, of[i]));
			double b = exact_score(metric == VC_METRIC_COSINE ? metric : VC_METRIC_L2,
					       base + i * DIM, vc_ivf_centroid(ivf, one));

			assert_true(fabs(a - b) < 1e-4 * (1 + fabs(a)));
		}
		of[i] = one;
		assert_true(of[i] < NLIST);
		vc_ivf_set_list_size(ivf, of[i], vc_ivf_list_size(ivf, of[i]) + 1);
	}
	for (size_t q = 0; q < 50; q++) {
		const float *query = queries + q * DIM;
		vc_topk all, exact, few;

		assert_int_equal(vc_topk_init(&all, K), VC_OK);
		assert_int_equal(vc_topk_init(&exact, K), VC_OK);
		assert_int_equal(vc_topk_init(&few, K), VC_OK);
		for (size_t i = 0; i < N; i++)
			vc_topk_push(&exact, (float)exact_score(metric, query, base + i * DIM), i);
		vc_topk_sort(&exact);
		/* probing every list is exact search */
		search_lists(metric, ivf, base, of, query, NLIST, &all);
		assert_int_equal(all.count, exact.count);
		for (size_t i = 0; i < K; i++) {
			assert_true(all.items[i].key == exact.items[i].key);
			assert_true(all.items[i].score == exact.items[i].score);
		}
		search_lists(metric, ivf, base, of, query, 4, &few);
		for (size_t i = 0; i < few.count; i++)
			for (size_t j = 0; j < K; j++)
				hits4 += few.items[i].key == exact.items[j].key;
		vc_topk_free(&all);
		vc_topk_free(&exact);
		vc_topk_free(&few);
	}
	print_message("IVF %s: recall@10 with nprobe 4 of %d: %.3f\n", vc_metric_name(metric),
		      NLIST, (double)hits4 / (50 * K));
	assert_true((double)hits4 / (50 * K) >= 0.8);
	vc_ivf_free(ivf);
	free(of);
	free(base);
	free(queries);
}

static void test_probe_all_is_exact_cosine(void **state)
{
	(void)state;
	check_metric(VC_METRIC_COSINE);
}

static void test_probe_all_is_exact_l2(void **state)
{
	(void)state;
	check_metric(VC_METRIC_L2);
}

static void test_probe_all_is_exact_dot(void **state)
{
	(void)state;
	check_metric(VC_METRIC_DOT);
}

static void test_assign_and_probe_order(void **state)
{
	float *base = make_clustered(N, 300);
	vc_ivf *ivf;

	(void)state;
	for (vc_metric metric = VC_METRIC_COSINE; metric <= VC_METRIC_DOT; metric++) {
		assert_int_equal(vc_ivf_train(metric, DIM, NLIST, base, N, NULL, &ivf), VC_OK);
		for (size_t i = 0; i < 200; i++) {
			const float *v = base + i * DIM;
			uint32_t a = vc_ivf_assign(ivf, v);
			vc_scored probe[NLIST + 5];
			size_t n;

			/* assignment: nearest centroid (cosine by angle, l2/dot by distance) */
			for (uint32_t c = 0; c < NLIST; c++) {
				vc_metric am = metric == VC_METRIC_COSINE ? metric : VC_METRIC_L2;

				assert_true(exact_score(am, v, vc_ivf_centroid(ivf, a)) >=
					    exact_score(am, v, vc_ivf_centroid(ivf, c)) - 1e-4);
			}
			/* probe: every list once, best first, scored by the metric */
			vc_ivf_probe(ivf, v, NLIST + 5, probe, &n);
			assert_int_equal(n, NLIST);
			for (size_t j = 0; j < n; j++) {
				double want =
				    exact_score(metric, v, vc_ivf_centroid(ivf, probe[j].key));

				assert_true(fabs(probe[j].score - want) < 1e-3 * (1 + fabs(want)));
				if (j > 0)
					assert_true(probe[j - 1].score >= probe[j].score);
			}
			vc_ivf_probe(ivf, v, 0, probe, &n);
			assert_int_equal(n, 0);
			vc_ivf_probe(ivf, v, 3, probe, &n);
			assert_int_equal(n, 3);
		}
		vc_ivf_free(ivf);
	}
	free(base);
}

static void test_serialize_roundtrip_and_corruption(void **state)
{
	float *base = make_clustered(N, 400);
	vc_ivf *ivf, *g;
	vc_bytes b = {0}, c = {0};
	uint8_t *copy;
	float nan = NAN;

	(void)state;
	assert_int_equal(vc_ivf_train(VC_METRIC_DOT, DIM, NLIST, base, N, NULL, &ivf), VC_OK);
	for (uint32_t l = 0; l < NLIST; l++)
		assert_int_equal(vc_ivf_set_list_size(ivf, l, 1000ull * l + 7), VC_OK);
	assert_int_equal(vc_ivf_set_list_size(ivf, NLIST, 1), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_ivf_serialize(ivf, &b), VC_OK);
	assert_int_equal(b.len, 24 + NLIST * DIM * 4 + NLIST * 8);
	assert_int_equal(vc_ivf_deserialize(b.data, b.len, &g), VC_OK);
	assert_int_equal(vc_ivf_metric(g), VC_METRIC_DOT);
	assert_int_equal(vc_ivf_dim(g), DIM);
	for (uint32_t l = 0; l < NLIST; l++) {
		assert_memory_equal(vc_ivf_centroid(g, l), vc_ivf_centroid(ivf, l),
				    DIM * sizeof(float));
		assert_int_equal(vc_ivf_list_size(g, l), 1000ull * l + 7);
	}
	assert_null(vc_ivf_centroid(g, NLIST));
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(vc_ivf_assign(g, base + i * DIM),
				 vc_ivf_assign(ivf, base + i * DIM));
	assert_int_equal(vc_ivf_serialize(g, &c), VC_OK);
	assert_memory_equal(b.data, c.data, b.len);
	vc_ivf_free(g);

	copy = malloc(b.len + 1);
	for (size_t len = 0; len < b.len; len += (len < 64 ? 1 : 61))
		assert_int_equal(vc_ivf_deserialize(b.data, len, &g), VC_ERR_CORRUPT);
	memcpy(copy, b.data, b.len);
	copy[b.len] = 0;
	assert_int_equal(vc_ivf_deserialize(copy, b.len + 1, &g), VC_ERR_CORRUPT);
	copy[3] ^= 1; /* magic */
	assert_int_equal(vc_ivf_deserialize(copy, b.len, &g), VC_ERR_CORRUPT);
	memcpy(copy, b.data, b.len);
	copy[16] = 0xff; /* nlist no longer matches the length */
	assert_int_equal(vc_ivf_deserialize(copy, b.len, &g), VC_ERR_CORRUPT);
	memcpy(copy, b.data, b.len);
	copy[12] = 3; /* metric */
	assert_int_equal(vc_ivf_deserialize(copy, b.len, &g), VC_ERR_CORRUPT);
	memcpy(copy, b.data, b.len);
	copy[20] = 1; /* reserved */
	assert_int_equal(vc_ivf_deserialize(copy, b.len, &g), VC_ERR_CORRUPT);
	memcpy(copy, b.data, b.len);
	memcpy(copy + 24 + 5 * 4, &nan, 4); /* a NaN centroid would poison every probe */
	assert_int_equal(vc_ivf_deserialize(copy, b.len, &g), VC_ERR_CORRUPT);
	assert_null(g);
	free(copy);
	vc_bytes_free(&b);
	vc_bytes_free(&c);
	vc_ivf_free(ivf);
	free(base);
}

/* More lists than one scoring block: both paths must walk every block. */
static void test_many_lists(void **state)
{
	uint32_t nlist = 600;
	float *centroids = make_clustered(nlist, 500);
	float *v = make_clustered(203, 501);
	uint32_t lists[203];
	vc_scored *probe = malloc(nlist * sizeof(vc_scored));
	vc_ivf *ivf;
	size_t n;

	(void)state;
	assert_int_equal(vc_ivf_create(VC_METRIC_L2, DIM, nlist, centroids, &ivf), VC_OK);
	vc_ivf_assign_many(ivf, v, 203, lists);
	for (size_t i = 0; i < 203; i++) {
		double best = -INFINITY;
		uint32_t want = 0;

		for (uint32_t c = 0; c < nlist; c++) {
			double sc = exact_score(VC_METRIC_L2, v + i * DIM, centroids + c * DIM);

			if (sc > best) {
				best = sc;
				want = c;
			}
		}
		assert_int_equal(lists[i], want);
		assert_int_equal(vc_ivf_assign(ivf, v + i * DIM), want);
		vc_ivf_probe(ivf, v + i * DIM, nlist, probe, &n);
		assert_int_equal(n, nlist);
		assert_int_equal(probe[0].key, want);
		for (size_t j = 1; j < n; j++)
			assert_true(probe[j - 1].score >= probe[j].score);
	}
	vc_ivf_free(ivf);
	free(probe);
	free(v);
	free(centroids);
}

static void test_create_validates(void **state)
{
	float centroids[2 * DIM] = {0};
	vc_ivf *ivf;

	(void)state;
	assert_int_equal(vc_ivf_create(VC_METRIC_L2, 0, 2, centroids, &ivf), VC_ERR_INVALID);
	assert_int_equal(vc_ivf_create(VC_METRIC_L2, DIM, 0, centroids, &ivf), VC_ERR_INVALID);
	assert_int_equal(vc_ivf_create((vc_metric)5, DIM, 2, centroids, &ivf), VC_ERR_INVALID);
	centroids[3] = INFINITY;
	assert_int_equal(vc_ivf_create(VC_METRIC_L2, DIM, 2, centroids, &ivf), VC_ERR_INVALID);
	centroids[3] = 2.0f;
	centroids[DIM] = -1.0f;
	/* cosine centroids are stored normalised */
	assert_int_equal(vc_ivf_create(VC_METRIC_COSINE, DIM, 2, centroids, &ivf), VC_OK);
	assert_true(vc_ivf_centroid(ivf, 0)[3] == 1.0f);
	assert_true(vc_ivf_centroid(ivf, 1)[0] == -1.0f);
	vc_ivf_free(ivf);
	vc_ivf_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_probe_all_is_exact_cosine),
	    cmocka_unit_test(test_probe_all_is_exact_l2),
	    cmocka_unit_test(test_probe_all_is_exact_dot),
	    cmocka_unit_test(test_assign_and_probe_order),
	    cmocka_unit_test(test_serialize_roundtrip_and_corruption),
	    cmocka_unit_test(test_many_lists),
	    cmocka_unit_test(test_create_validates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
