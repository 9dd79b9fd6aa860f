/* Tests for k-means: cluster recovery per metric, sampling, empty clusters, determinism. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/kmeans.h"
#include "test_util.h"

#define DIM 16
#define TRUE_K 12
#define PER 150

static uint64_t rng_state;

/*
 * Well-separated clusters: centre c is +10 on axis c, so clusters differ
 * both in position and in direction,
 * with sd 0.5 noise and random scale (which spherical k-means must ignore).
 * Points are shuffled; labels[i] is the true cluster.
 */
static float *make_separated(size_t n, uint64_t seed, uint32_t *labels, bool scale)
{
	float *v = malloc(n * DIM * sizeof(float));

	rng_state = seed;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = (uint32_t)(vc_test_splitmix64(&rng_state) % TRUE_K);
		float s =
		    scale ? 0.5f + (float)(vc_test_splitmix64(&rng_state) % 1000) / 250.0f : 1.0f;

		labels[i] = c;
		for (size_t d = 0; d < DIM; d++)
			v[i * DIM + d] = 0.5f * vc_test_gauss(&rng_state);
		v[i * DIM + c] += 10.0f;
		for (size_t d = 0; d < DIM; d++)
			v[i * DIM + d] *= s;
	}
	return v;
}

/* Every true cluster maps to exactly one centroid and no two clusters share one. */
static void check_purity(vc_metric metric, const float *v, const uint32_t *labels, size_t n,
			 const float *centroids, uint32_t k)
{
	uint32_t owner[TRUE_K];
	bool used[TRUE_K] = {false};
	float scores[TRUE_K];

	for (uint32_t c = 0; c < TRUE_K; c++)
		owner[c] = UINT32_MAX;
	for (size_t i = 0; i < n; i++) {
		uint32_t a =
		    vc_kmeans_nearest(metric, centroids, k, DIM, v + i * DIM, scores, NULL);

		assert_true(a < k);
		if (owner[labels[i]] == UINT32_MAX) {
			assert_false(used[a]);
			owner[labels[i]] = a;
			used[a] = true;
		}
		if (owner[labels[i]] != a)
			fail_msg("point %zu of cluster %u went to centroid %u, its cluster to %u",
				 i, labels[i], a, owner[labels[i]]);
	}
}

static void recover(vc_metric metric, bool scale)
{
	size_t n = TRUE_K * PER;
	uint32_t *labels = malloc(n * sizeof(uint32_t));
	float *v = make_separated(n, 7 + metric, labels, scale);
	float centroids[TRUE_K * DIM];
	vc_kmeans_result r;
	vc_kmeans_params p;

	vc_kmeans_params_default(&p);
	assert_int_equal(vc_kmeans_train(metric, v, n, DIM, TRUE_K, &p, centroids, &r), VC_OK);
	assert_int_equal(r.sample_size, n);
	assert_true(r.iterations >= 1 && r.iterations <= p.max_iterations);
	check_purity(metric, v, labels, n, centroids, TRUE_K);
	if (metric == VC_METRIC_COSINE) {
		for (uint32_t c = 0; c < TRUE_K; c++) {
			double norm = 0;

			for (size_t d = 0; d < DIM; d++)
				norm += (double)centroids[c * DIM + d] * centroids[c * DIM + d];
			assert_true(fabs(norm - 1.0) < 1e-4);
		}
	} else {
		/* euclidean: within-cluster noise is sd 0.5 per axis -> mean sq distance ~ DIM/4 */
		assert_true(r.objective < DIM * 0.25 * 1.5);
	}
	free(v);
	free(labels);
}

static void test_recovers_clusters_l2(void **state)
{
	(void)state;
	recover(VC_METRIC_L2, false);
}

static void test_recovers_clusters_dot(void **state)
{
	(void)state;
	recover(VC_METRIC_DOT, false);
}

static void test_recovers_clusters_cosine_any_scale(void **state)
{
	(void)state;
	recover(VC_METRIC_COSINE, true);
}

static void test_sampling_and_determinism(void **state)
{
	size_t n = 20000;
	uint32_t *labels = malloc(n * sizeof(uint32_t));
	float *v = make_separated(n, 3, labels, false);
	float a[TRUE_K * DIM], b[TRUE_K * DIM], c[TRUE_K * DIM];
	vc_kmeans_result ra, rb, rc;
	vc_kmeans_params p;

	(void)state;
	vc_kmeans_params_default(&p);
	p.sample_per_centroid = 64;
	p.threads = 1;
	assert_int_equal(vc_kmeans_train(VC_METRIC_L2, v, n, DIM, TRUE_K, &p, a, &ra), VC_OK);
	assert_int_equal(ra.sample_size, TRUE_K * 64);
	/* trained on a sample, the centroids still classify every point purely */
	check_purity(VC_METRIC_L2, v, labels, n, a, TRUE_K);
	/* same seed, more threads: identical centroids */
	p.threads = 3;
	assert_int_equal(vc_kmeans_train(VC_METRIC_L2, v, n, DIM, TRUE_K, &p, b, &rb), VC_OK);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(ra.iterations, rb.iterations);
	/* another seed draws another sample */
	p.seed = 99;
	assert_int_equal(vc_kmeans_train(VC_METRIC_L2, v, n, DIM, TRUE_K, &p, c, &rc), VC_OK);
	assert_true(memcmp(a, c, sizeof(a)) != 0);
	free(v);
	free(labels);
}

static void test_empty_clusters_reseeded(void **state)
{
	/* two distinct locations, 100 copies each, three clusters wanted */
	float v[200 * DIM];
	float centroids[3 * DIM];
	vc_kmeans_result r;

	(void)state;
	for (size_t i = 0; i < 200; i++)
		for (size_t d = 0; d < DIM; d++)
			v[i * DIM + d] = i < 100 ? (d == 0 ? 1.0f : 0.0f) : (d == 1 ? 5.0f : 0.0f);
	assert_int_equal(vc_kmeans_train(VC_METRIC_L2, v, 200, DIM, 3, NULL, centroids, &r), VC_OK);
	assert_true(r.reseeded > 0);
	for (size_t c = 0; c < 3; c++) {
		const float *x = centroids + c * DIM;

		/* every centroid sits on one of the two locations, none is NaN */
		assert_true((x[0] == 1.0f && x[1] == 0.0f) || (x[0] == 0.0f && x[1] == 5.0f));
	}
	/* both locations are represented */
	{
		float scores[3];
		uint32_t a = vc_kmeans_nearest(VC_METRIC_L2, centroids, 3, DIM, v, scores, NULL);
		uint32_t b =
		    vc_kmeans_nearest(VC_METRIC_L2, centroids, 3, DIM, v + 150 * DIM, scores, NULL);

		assert_true(centroids[a * DIM] == 1.0f);
		assert_true(centroids[b * DIM + 1] == 5.0f);
	}
}

/*
 * Run to convergence on overlapping data, then recompute in the test what
 * Lloyd's fixed point must satisfy: each centroid is the (normalised, for
 * cosine) mean of the points nearest to it by brute force. A point the
 * bound-pruned assignment wrongly skipped would break this.
 */
static void check_fixed_point(vc_metric metric)
{
	size_t n = 3000;
	uint32_t k = 20;
	uint32_t *labels = malloc(n * sizeof(uint32_t));
	float *v = make_separated(n, 50 + metric, labels, metric == VC_METRIC_COSINE);
	float *centroids = malloc(k * DIM * sizeof(float));
	double *mean = calloc(k * DIM, sizeof(double));
	size_t *count = calloc(k, sizeof(size_t));
	vc_kmeans_params p;
	vc_kmeans_result r;

	/* blur the clusters so many points sit near boundaries */
	for (size_t i = 0; i < n * DIM; i++)
		v[i] += 2.0f * vc_test_gauss(&rng_state);
	vc_kmeans_params_default(&p);
	p.max_iterations = 300;
	p.min_change = 0.0;
	assert_int_equal(vc_kmeans_train(metric, v, n, DIM, k, &p, centroids, &r), VC_OK);
	assert_true(r.iterations < 300);
	for (size_t i = 0; i < n; i++) {
		float scores[20];
		uint32_t a =
		    vc_kmeans_nearest(metric, centroids, k, DIM, v + i * DIM, scores, NULL);
		double norm = 0;

		for (size_t d = 0; d < DIM; d++)
			norm += (double)v[i * DIM + d] * v[i * DIM + d];
		for (size_t d = 0; d < DIM; d++)
			mean[a * DIM + d] +=
			    v[i * DIM + d] / (metric == VC_METRIC_COSINE ? sqrt(norm) : 1.0);
		count[a]++;
	}
	for (uint32_t c = 0; c < k; c++) {
		double norm = 0;

		assert_true(count[c] > 0);
		for (size_t d = 0; d < DIM; d++) {
			mean[c * DIM + d] /= (double)count[c];
			norm += mean[c * DIM + d] * mean[c * DIM + d];
		}
		for (size_t d = 0; d < DIM; d++) {
			double want =
			    mean[c * DIM + d] / (metric == VC_METRIC_COSINE ? sqrt(norm) : 1.0);

			if (fabs(centroids[c * DIM + d] - want) > 1e-3 * (1.0 + fabs(want)))
				fail_msg("centroid %u axis %zu: %g, mean of its points %g", c, d,
					 centroids[c * DIM + d], want);
		}
	}
	free(count);
	free(mean);
	free(centroids);
	free(v);
	free(labels);
}

static void test_converges_to_lloyd_fixed_point(void **state)
{
	(void)state;
	check_fixed_point(VC_METRIC_L2);
	check_fixed_point(VC_METRIC_COSINE);
}

static void test_invalid_arguments(void **state)
{
	float v[4 * DIM] = {0};
	float centroids[8 * DIM];
	vc_kmeans_params p;

	(void)state;
	assert_int_equal(vc_kmeans_train(VC_METRIC_L2, v, 4, DIM, 5, NULL, centroids, NULL),
			 VC_ERR_INVALID);
	assert_int_equal(vc_kmeans_train(VC_METRIC_L2, v, 4, DIM, 0, NULL, centroids, NULL),
			 VC_ERR_INVALID);
	vc_kmeans_params_default(&p);
	p.max_iterations = 0;
	assert_int_equal(vc_kmeans_train(VC_METRIC_L2, v, 4, DIM, 2, &p, centroids, NULL),
			 VC_ERR_INVALID);
	/* k == n works even when every vector is zero (cosine cannot normalise them) */
	assert_int_equal(vc_kmeans_train(VC_METRIC_COSINE, v, 4, DIM, 4, NULL, centroids, NULL),
			 VC_OK);
	for (size_t i = 0; i < 4 * DIM; i++)
		assert_false(isnan(centroids[i]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recovers_clusters_l2),
	    cmocka_unit_test(test_recovers_clusters_dot),
	    cmocka_unit_test(test_recovers_clusters_cosine_any_scale),
	    cmocka_unit_test(test_sampling_and_determinism),
	    cmocka_unit_test(test_empty_clusters_reseeded),
	    cmocka_unit_test(test_converges_to_lloyd_fixed_point),
	    cmocka_unit_test(test_invalid_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
