/* Tests for the distance kernels: every ISA against the scalar reference and a double oracle. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "search/distance.h"
#include "test_util.h"

#define MAX_DIM 1100
#define MAX_ROWS 13

static uint64_t rng_state;

/* Uniform in [-2, 2): signs mix so dot products really cancel. */
static float rng_float(void)
{
	return (float)((double)(vc_test_splitmix64(&rng_state) >> 11) / 9007199254740992.0 * 4.0 -
		       2.0);
}

static void fill(float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = rng_float();
}

/* Double-precision oracle, plus the magnitude the rounding error scales with. */
static double oracle_dot(const float *a, const float *b, size_t dim, double *mag)
{
	double s = 0.0, m = 0.0;

	for (size_t i = 0; i < dim; i++) {
		s += (double)a[i] * b[i];
		m += fabs((double)a[i] * b[i]);
	}
	*mag = m;
	return s;
}

static double oracle_l2sq(const float *a, const float *b, size_t dim)
{
	double s = 0.0;

	for (size_t i = 0; i < dim; i++) {
		double d = (double)a[i] - b[i];

		s += d * d;
	}
	return s;
}

static void assert_close(double got, double want, double mag)
{
	double tol = 1e-5 * mag + 1e-6;

	if (fabs(got - want) > tol)
		fail_msg("got %.9g, want %.9g (tolerance %.3g)", got, want, tol);
}

static const char *isas[] = {"scalar", "avx2", "avx512"};

static size_t next_dim(size_t d)
{
	/* Every dim up to 70 (all tail lengths of all widths), then a spread. */
	return d < 70 ? d + 1 : d + 37;
}

static void check_pair_kernels(const vc_distance_impl *k, const float *a, const float *b,
			       size_t dim)
{
	const vc_distance_impl *ref = vc_distance_impl_for("scalar");
	double mag;
	double dot = oracle_dot(a, b, dim, &mag);
	double l2 = oracle_l2sq(a, b, dim);

	assert_close(k->dot(a, b, dim), dot, mag);
	assert_close(k->dot(a, b, dim), ref->dot(a, b, dim), mag);
	assert_close(k->l2sq(a, b, dim), l2, l2);
	assert_close(k->l2sq(a, b, dim), ref->l2sq(a, b, dim), l2);
	assert_true(k->neg_l2sq(a, b, dim) == -k->l2sq(a, b, dim));
}

static void test_pair_kernels_all_isas(void **state)
{
	float *a = malloc((MAX_DIM + 1) * sizeof(float));
	float *b = malloc((MAX_DIM + 1) * sizeof(float));
	int tested = 0;

	(void)state;
	rng_state = 1;
	for (size_t n = 0; n < sizeof(isas) / sizeof(isas[0]); n++) {
		const vc_distance_impl *k = vc_distance_impl_for(isas[n]);

		if (k == NULL)
			continue;
		assert_string_equal(k->name, isas[n]);
		tested++;
		for (size_t dim = 1; dim <= MAX_DIM; dim = next_dim(dim)) {
			fill(a, dim + 1);
			fill(b, dim + 1);
			check_pair_kernels(k, a, b, dim);
			/* misaligned by one float: kernels must not assume alignment */
			check_pair_kernels(k, a + 1, b + 1, dim);
		}
	}
	assert_true(tested >= 1);
	free(a);
	free(b);
}

static void check_many(const vc_distance_impl *k, const float *q, const float *base, size_t rows,
		       size_t dim, float *out)
{
	/* sentinel after the last row: kernels must write exactly @rows outputs */
	out[rows] = 12345.0f;
	k->dot_many(q, base, rows, dim, out);
	for (size_t r = 0; r < rows; r++) {
		double mag;
		double want = oracle_dot(q, base + r * dim, dim, &mag);

		assert_close(out[r], want, mag);
	}
	assert_true(out[rows] == 12345.0f);
	k->l2sq_many(q, base, rows, dim, out);
	for (size_t r = 0; r < rows; r++) {
		double want = oracle_l2sq(q, base + r * dim, dim);

		assert_close(-out[r], want, want);
	}
	assert_true(out[rows] == 12345.0f);
}

static void test_many_kernels_all_isas(void **state)
{
	float *q = malloc(MAX_DIM * sizeof(float));
	float *base = malloc((MAX_ROWS * MAX_DIM + 1) * sizeof(float));
	float out[MAX_ROWS + 1];

	(void)state;
	rng_state = 2;
	for (size_t n = 0; n < sizeof(isas) / sizeof(isas[0]); n++) {
		const vc_distance_impl *k = vc_distance_impl_for(isas[n]);

		if (k == NULL)
			continue;
		for (size_t dim = 1; dim <= MAX_DIM; dim = next_dim(dim)) {
			fill(q, dim);
			fill(base, MAX_ROWS * dim + 1);
			for (size_t rows = 0; rows <= MAX_ROWS; rows += (rows < 9 ? 1 : 4)) {
				check_many(k, q, base, rows, dim, out);
				check_many(k, q, base + 1, rows, dim, out);
			}
		}
	}
	free(q);
	free(base);
}

static void test_multi_kernels_all_isas(void **state)
{
	float *q = malloc(4 * (MAX_DIM + 1) * sizeof(float));
	float *base = malloc((MAX_ROWS * MAX_DIM + 1) * sizeof(float));
	float out[4 * MAX_ROWS + 1];

	(void)state;
	rng_state = 5;
	for (size_t n = 0; n < sizeof(isas) / sizeof(isas[0]); n++) {
		const vc_distance_impl *k = vc_distance_impl_for(isas[n]);

		if (k == NULL)
			continue;
		for (size_t dim = 1; dim <= MAX_DIM; dim = next_dim(dim)) {
			/* queries at odd offsets: no alignment assumed */
			const float *qs[4] = {q + 1, q + dim + 2, q + 2 * dim + 3, q + 3 * dim + 3};

			fill(q, 4 * (MAX_DIM + 1));
			fill(base, MAX_ROWS * dim + 1);
			for (size_t rows = 0; rows <= MAX_ROWS; rows += 3) {
				out[4 * rows] = 12345.0f;
				k->dot_multi(qs, base + 1, rows, dim, out);
				for (size_t j = 0; j < 4; j++)
					for (size_t r = 0; r < rows; r++) {
						double mag;
						double want = oracle_dot(qs[j], base + 1 + r * dim,
									 dim, &mag);

						assert_close(out[j * rows + r], want, mag);
					}
				assert_true(out[4 * rows] == 12345.0f);
				k->l2sq_multi(qs, base + 1, rows, dim, out);
				for (size_t j = 0; j < 4; j++)
					for (size_t r = 0; r < rows; r++) {
						double want =
						    oracle_l2sq(qs[j], base + 1 + r * dim, dim);

						assert_close(-out[j * rows + r], want, want);
					}
				assert_true(out[4 * rows] == 12345.0f);
			}
		}
	}
	free(q);
	free(base);
}

static void test_score_multi_any_query_count(void **state)
{
	float q[9 * 40], base[7 * 40], out[9 * 7], one[7];
	const float *qs[9];

	(void)state;
	rng_state = 6;
	fill(q, 9 * 40);
	fill(base, 7 * 40);
	for (size_t i = 0; i < 9; i++)
		qs[i] = q + i * 40;
	for (vc_metric m = VC_METRIC_COSINE; m <= VC_METRIC_DOT; m++) {
		for (size_t nq = 0; nq <= 9; nq++) {
			vc_score_multi(m, qs, nq, base, 7, 40, out);
			for (size_t j = 0; j < nq; j++) {
				vc_score_many(m, qs[j], base, 7, 40, one);
				for (size_t r = 0; r < 7; r++)
					assert_close(out[j * 7 + r], one[r], 40 * 4.0);
			}
		}
	}
}

static void test_dispatch_matches_metric(void **state)
{
	float a[384], b[384], out[8], base[8 * 384];
	const vc_distance_impl *sel = vc_distance_impl_for(vc_distance_isa());

	(void)state;
	rng_state = 3;
	assert_non_null(sel);
	/* the selected ISA is the best one this CPU offers */
	if (vc_distance_impl_for("avx512") != NULL)
		assert_string_equal(vc_distance_isa(), "avx512");
	else if (vc_distance_impl_for("avx2") != NULL)
		assert_string_equal(vc_distance_isa(), "avx2");
	else
		assert_string_equal(vc_distance_isa(), "scalar");
	assert_null(vc_distance_impl_for("sse9"));
	fill(a, 384);
	fill(b, 384);
	fill(base, 8 * 384);
	assert_true(vc_score_kernel(VC_METRIC_COSINE)(a, b, 384) == vc_dot(a, b, 384));
	assert_true(vc_score_kernel(VC_METRIC_DOT)(a, b, 384) == vc_dot(a, b, 384));
	assert_true(vc_score_kernel(VC_METRIC_L2)(a, b, 384) == -vc_l2sq(a, b, 384));
	assert_true(vc_dot(a, b, 384) == sel->dot(a, b, 384));
	vc_score_many(VC_METRIC_L2, a, base, 8, 384, out);
	for (int r = 0; r < 8; r++)
		assert_close(out[r], -vc_l2sq(a, base + r * 384, 384),
			     vc_l2sq(a, base + r * 384, 384));
	vc_score_many(VC_METRIC_COSINE, a, base, 8, 384, out);
	for (int r = 0; r < 8; r++)
		assert_close(out[r], vc_dot(a, base + r * 384, 384), 384 * 4.0);
	vc_score_many(VC_METRIC_DOT, a, base, 0, 384, out);
}

static void test_normalize(void **state)
{
	float v[100], zero[5] = {0}, tiny[3] = {1e-30f, -2e-30f, 2e-30f};
	float huge[2] = {3e38f, 3e38f};
	float bad[3] = {1.0f, NAN, 2.0f};
	double norm = 0.0;

	(void)state;
	rng_state = 4;
	fill(v, 100);
	assert_true(vc_normalize(v, 100));
	for (int i = 0; i < 100; i++)
		norm += (double)v[i] * v[i];
	assert_true(fabs(norm - 1.0) < 1e-5);
	assert_true(fabs(vc_dot(v, v, 100) - 1.0f) < 1e-5f);

	assert_false(vc_normalize(zero, 5));
	for (int i = 0; i < 5; i++)
		assert_true(zero[i] == 0.0f);

	/* float squares underflow here; normalising must still work */
	assert_true(vc_normalize(tiny, 3));
	assert_true(fabsf(tiny[0] - 1.0f / 3.0f) < 1e-6f);
	assert_true(fabsf(tiny[1] + 2.0f / 3.0f) < 1e-6f);

	assert_true(vc_normalize(huge, 2));
	assert_true(fabsf(huge[0] * huge[0] + huge[1] * huge[1] - 1.0f) < 1e-5f);

	assert_false(vc_normalize(bad, 3));
	assert_true(bad[0] == 1.0f && bad[2] == 2.0f);
	assert_false(vc_normalize(v, 0));
}

static void test_score_public(void **state)
{
	float a[3] = {1.0f, 2.0f, 2.0f}, b[3] = {4.0f, 6.0f, 2.0f};
	float internal = vc_score_kernel(VC_METRIC_L2)(a, b, 3);

	(void)state;
	/* |a-b| = |(-3,-4,0)| = 5 */
	assert_true(fabsf(vc_score_public(VC_METRIC_L2, internal) - 5.0f) < 1e-6f);
	assert_true(vc_score_public(VC_METRIC_L2, 0.0f) == 0.0f);
	/* rounding can leave a tiny positive internal score; distance stays 0, not NaN */
	assert_true(vc_score_public(VC_METRIC_L2, 1e-7f) == 0.0f);
	assert_true(vc_score_public(VC_METRIC_COSINE, 0.25f) == 0.25f);
	assert_true(vc_score_public(VC_METRIC_DOT, -7.5f) == -7.5f);
	assert_true(vc_score_kernel(VC_METRIC_DOT)(a, b, 3) == 20.0f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pair_kernels_all_isas),
	    cmocka_unit_test(test_many_kernels_all_isas),
	    cmocka_unit_test(test_multi_kernels_all_isas),
	    cmocka_unit_test(test_score_multi_any_query_count),
	    cmocka_unit_test(test_dispatch_matches_metric),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_score_public),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
