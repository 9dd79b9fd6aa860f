/*
 * Distance kernels: a scalar reference plus AVX2+FMA and AVX-512F versions,
 * one of which is chosen once per process from what the CPU supports.
 */
#include "search/distance.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VC_HAVE_X86 1
#else
#define VC_HAVE_X86 0
#endif

/* ---- scalar reference ------------------------------------------------- */

/*
 * Four partial sums keep the reference reasonably fast on CPUs without the
 * vector units while staying a plain, auditable loop.
 */
static float dot_scalar(const float *a, const float *b, size_t dim)
{
	float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
	size_t i = 0;

	for (; i + 4 <= dim; i += 4) {
		s0 += a[i] * b[i];
		s1 += a[i + 1] * b[i + 1];
		s2 += a[i + 2] * b[i + 2];
		s3 += a[i + 3] * b[i + 3];
	}
	for (; i < dim; i++)
		s0 += a[i] * b[i];
	return (s0 + s1) + (s2 + s3);
}

static float l2sq_scalar(const float *a, const float *b, size_t dim)
{
	float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
	size_t i = 0;

	for (; i + 4 <= dim; i += 4) {
		float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
		float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];

		s0 += d0 * d0;
		s1 += d1 * d1;
		s2 += d2 * d2;
		s3 += d3 * d3;
	}
	for (; i < dim; i++) {
		float d = a[i] - b[i];

		s0 += d * d;
	}
	return (s0 + s1) + (s2 + s3);
}

static float neg_l2sq_scalar(const float *a, const float *b, size_t dim)
{
	return -l2sq_scalar(a, b, dim);
}

static void dot_many_scalar(const float *q, const float *base, size_t count, size_t dim, float *out)
{
	for (size_t r = 0; r < count; r++)
		out[r] = dot_scalar(q, base + r * dim, dim);
}

static void l2sq_many_scalar(const float *q, const float *base, size_t count, size_t dim,
			     float *out)
{
	for (size_t r = 0; r < count; r++)
		out[r] = -l2sq_scalar(q, base + r * dim, dim);
}

/* Four queries against each row: out[q * count + r]. */
static void dot_multi_scalar(const float *const *q, const float *base, size_t count, size_t dim,
			     float *out)
{
	for (size_t j = 0; j < 4; j++)
		dot_many_scalar(q[j], base, count, dim, out + j * count);
}

static void l2sq_multi_scalar(const float *const *q, const float *base, size_t count, size_t dim,
			      float *out)
{
	for (size_t j = 0; j < 4; j++)
		l2sq_many_scalar(q[j], base, count, dim, out + j * count);
}

static const vc_distance_impl impl_scalar = {
    .name = "scalar",
    .dot = dot_scalar,
    .l2sq = l2sq_scalar,
    .neg_l2sq = neg_l2sq_scalar,
    .dot_many = dot_many_scalar,
    .l2sq_many = l2sq_many_scalar,
    .dot_multi = dot_multi_scalar,
    .l2sq_multi = l2sq_multi_scalar,
};

#if VC_HAVE_X86

/* ---- AVX2 + FMA ------------------------------------------------------- */

#define VC_AVX2 __attribute__((target("avx2,fma")))

/* Sliding window over this table gives a mask of the first n lanes (0..8). */
static const int32_t avx2_mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

VC_AVX2 static inline __m256i avx2_tail_mask(size_t n)
{
	return _mm256_loadu_si256((const __m256i *)(avx2_mask_table + 8 - n));
}

VC_AVX2 static inline float avx2_hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Horizontal sums of four accumulators, as one vector [sum a, sum b, sum c, sum d]. */
VC_AVX2 static inline __m128 avx2_hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
	__m256 ab = _mm256_hadd_ps(a, b);
	__m256 cd = _mm256_hadd_ps(c, d);
	__m256 all = _mm256_hadd_ps(ab, cd);

	return _mm_add_ps(_mm256_castps256_ps128(all), _mm256_extractf128_ps(all, 1));
}

VC_AVX2 static float dot_avx2(const float *a, const float *b, size_t dim)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	size_t i = 0;

	for (; i + 32 <= dim; i += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= dim; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	if (i < dim) {
		__m256i m = avx2_tail_mask(dim - i);

		s1 =
		    _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
	}
	return avx2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

VC_AVX2 static float l2sq_avx2(const float *a, const float *b, size_t dim)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	__m256 d0, d1, d2, d3;
	size_t i = 0;

	for (; i + 32 <= dim; i += 32) {
		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
		s1 = _mm256_fmadd_ps(d1, d1, s1);
		s2 = _mm256_fmadd_ps(d2, d2, s2);
		s3 = _mm256_fmadd_ps(d3, d3, s3);
	}
	for (; i + 8 <= dim; i += 8) {
		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		s0 = _mm256_fmadd_ps(d0, d0, s0);
	}
	if (i < dim) {
		__m256i m = avx2_tail_mask(dim - i);

		d1 = _mm256_sub_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
		s1 = _mm256_fmadd_ps(d1, d1, s1);
	}
	return avx2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

VC_AVX2 static float neg_l2sq_avx2(const float *a, const float *b, size_t dim)
{
	return -l2sq_avx2(a, b, dim);
}

/*
 * Four rows per pass: each query load feeds four independent FMA chains, so
 * the scan runs at memory speed rather than at FMA latency.
 */
VC_AVX2 static void dot_many_avx2(const float *q, const float *base, size_t count, size_t dim,
				  float *out)
{
	size_t r = 0;

	for (; r + 4 <= count; r += 4) {
		const float *b0 = base + r * dim, *b1 = b0 + dim, *b2 = b1 + dim, *b3 = b2 + dim;
		__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
		__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
		size_t i = 0;

		for (; i + 8 <= dim; i += 8) {
			__m256 x = _mm256_loadu_ps(q + i);

			s0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b0 + i), s0);
			s1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b1 + i), s1);
			s2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b2 + i), s2);
			s3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b3 + i), s3);
		}
		if (i < dim) {
			__m256i m = avx2_tail_mask(dim - i);
			__m256 x = _mm256_maskload_ps(q + i, m);

			s0 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b0 + i, m), s0);
			s1 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b1 + i, m), s1);
			s2 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b2 + i, m), s2);
			s3 = _mm256_fmadd_ps(x, _mm256_maskload_ps(b3 + i, m), s3);
		}
		_mm_storeu_ps(out + r, avx2_hsum4(s0, s1, s2, s3));
	}
	for (; r < count; r++)
		out[r] = dot_avx2(q, base + r * dim, dim);
}

VC_AVX2 static void l2sq_many_avx2(const float *q, const float *base, size_t count, size_t dim,
				   float *out)
{
	const __m128 sign = _mm_set1_ps(-0.0f);
	size_t r = 0;

	for (; r + 4 <= count; r += 4) {
		const float *b0 = base + r * dim, *b1 = b0 + dim, *b2 = b1 + dim, *b3 = b2 + dim;
		__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
		__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
		__m256 d0, d1, d2, d3;
		size_t i = 0;

		for (; i + 8 <= dim; i += 8) {
			__m256 x = _mm256_loadu_ps(q + i);

			d0 = _mm256_sub_ps(x, _mm256_loadu_ps(b0 + i));
			d1 = _mm256_sub_ps(x, _mm256_loadu_ps(b1 + i));
			d2 = _mm256_sub_ps(x, _mm256_loadu_ps(b2 + i));
			d3 = _mm256_sub_ps(x, _mm256_loadu_ps(b3 + i));
			s0 = _mm256_fmadd_ps(d0, d0, s0);
			s1 = _mm256_fmadd_ps(d1, d1, s1);
			s2 = _mm256_fmadd_ps(d2, d2, s2);
			s3 = _mm256_fmadd_ps(d3, d3, s3);
		}
		if (i < dim) {
			__m256i m = avx2_tail_mask(dim - i);
			__m256 x = _mm256_maskload_ps(q + i, m);

			d0 = _mm256_sub_ps(x, _mm256_maskload_ps(b0 + i, m));
			d1 = _mm256_sub_ps(x, _mm256_maskload_ps(b1 + i, m));
			d2 = _mm256_sub_ps(x, _mm256_maskload_ps(b2 + i, m));
			d3 = _mm256_sub_ps(x, _mm256_maskload_ps(b3 + i, m));
			s0 = _mm256_fmadd_ps(d0, d0, s0);
			s1 = _mm256_fmadd_ps(d1, d1, s1);
			s2 = _mm256_fmadd_ps(d2, d2, s2);
			s3 = _mm256_fmadd_ps(d3, d3, s3);
		}
		_mm_storeu_ps(out + r, _mm_xor_ps(avx2_hsum4(s0, s1, s2, s3), sign));
	}
	for (; r < count; r++)
		out[r] = -l2sq_avx2(q, base + r * dim, dim);
}

/*
 * Four queries per pass over the rows: each row is loaded once for four
 * FMA chains. When the rows outgrow L1 (k-means centroids) this quarters
 * the traffic from L2, which otherwise bounds the scan.
 */
VC_AVX2 static void dot_multi_avx2(const float *const *q, const float *base, size_t count,
				   size_t dim, float *out)
{
	for (size_t r = 0; r < count; r++) {
		const float *b = base + r * dim;
		__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
		__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
		__m128 sums;
		size_t i = 0;

		for (; i + 8 <= dim; i += 8) {
			__m256 x = _mm256_loadu_ps(b + i);

			s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q[0] + i), x, s0);
			s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q[1] + i), x, s1);
			s2 = _mm256_fmadd_ps(_mm256_loadu_ps(q[2] + i), x, s2);
			s3 = _mm256_fmadd_ps(_mm256_loadu_ps(q[3] + i), x, s3);
		}
		if (i < dim) {
			__m256i m = avx2_tail_mask(dim - i);
			__m256 x = _mm256_maskload_ps(b + i, m);

			s0 = _mm256_fmadd_ps(_mm256_maskload_ps(q[0] + i, m), x, s0);
			s1 = _mm256_fmadd_ps(_mm256_maskload_ps(q[1] + i, m), x, s1);
			s2 = _mm256_fmadd_ps(_mm256_maskload_ps(q[2] + i, m), x, s2);
			s3 = _mm256_fmadd_ps(_mm256_maskload_ps(q[3] + i, m), x, s3);
		}
		sums = avx2_hsum4(s0, s1, s2, s3);
		out[r] = _mm_cvtss_f32(sums);
		out[count + r] = _mm_cvtss_f32(_mm_shuffle_ps(sums, sums, 1));
		out[2 * count + r] = _mm_cvtss_f32(_mm_shuffle_ps(sums, sums, 2));
		out[3 * count + r] = _mm_cvtss_f32(_mm_shuffle_ps(sums, sums, 3));
	}
}

VC_AVX2 static void l2sq_multi_avx2(const float *const *q, const float *base, size_t count,
				    size_t dim, float *out)
{
	for (size_t r = 0; r < count; r++) {
		const float *b = base + r * dim;
		__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
		__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
		__m256 d0, d1, d2, d3;
		__m128 sums;
		size_t i = 0;

		for (; i + 8 <= dim; i += 8) {
			__m256 x = _mm256_loadu_ps(b + i);

			d0 = _mm256_sub_ps(_mm256_loadu_ps(q[0] + i), x);
			d1 = _mm256_sub_ps(_mm256_loadu_ps(q[1] + i), x);
			d2 = _mm256_sub_ps(_mm256_loadu_ps(q[2] + i), x);
			d3 = _mm256_sub_ps(_mm256_loadu_ps(q[3] + i), x);
			s0 = _mm256_fmadd_ps(d0, d0, s0);
			s1 = _mm256_fmadd_ps(d1, d1, s1);
			s2 = _mm256_fmadd_ps(d2, d2, s2);
			s3 = _mm256_fmadd_ps(d3, d3, s3);
		}
		if (i < dim) {
			__m256i m = avx2_tail_mask(dim - i);
			__m256 x = _mm256_maskload_ps(b + i, m);

			d0 = _mm256_sub_ps(_mm256_maskload_ps(q[0] + i, m), x);
			d1 = _mm256_sub_ps(_mm256_maskload_ps(q[1] + i, m), x);
			d2 = _mm256_sub_ps(_mm256_maskload_ps(q[2] + i, m), x);
			d3 = _mm256_sub_ps(_mm256_maskload_ps(q[3] + i, m), x);
			s0 = _mm256_fmadd_ps(d0, d0, s0);
			s1 = _mm256_fmadd_ps(d1, d1, s1);
			s2 = _mm256_fmadd_ps(d2, d2, s2);
			s3 = _mm256_fmadd_ps(d3, d3, s3);
		}
		sums = avx2_hsum4(s0, s1, s2, s3);
		out[r] = -_mm_cvtss_f32(sums);
		out[count + r] = -_mm_cvtss_f32(_mm_shuffle_ps(sums, sums, 1));
		out[2 * count + r] = -_mm_cvtss_f32(_mm_shuffle_ps(sums, sums, 2));
		out[3 * count + r] = -_mm_cvtss_f32(_mm_shuffle_ps(sums, sums, 3));
	}
}

static const vc_distance_impl impl_avx2 = {
    .name = "avx2",
    .dot = dot_avx2,
    .l2sq = l2sq_avx2,
    .neg_l2sq = neg_l2sq_avx2,
    .dot_many = dot_many_avx2,
    .l2sq_many = l2sq_many_avx2,
    .dot_multi = dot_multi_avx2,
    .l2sq_multi = l2sq_multi_avx2,
};

/* ---- AVX-512F --------------------------------------------------------- */

#define VC_AVX512 __attribute__((target("avx512f")))

VC_AVX512 static inline __mmask16 avx512_tail_mask(size_t n)
{
	return (__mmask16)((1u << n) - 1u);
}

VC_AVX512 static float dot_avx512(const float *a, const float *b, size_t dim)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
	size_t i = 0;

	for (; i + 64 <= dim; i += 64) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
	}
	for (; i + 16 <= dim; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
	if (i < dim) {
		__mmask16 m = avx512_tail_mask(dim - i);

		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
				     _mm512_maskz_loadu_ps(m, b + i), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

VC_AVX512 static float l2sq_avx512(const float *a, const float *b, size_t dim)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
	__m512 d0, d1, d2, d3;
	size_t i = 0;

	for (; i + 64 <= dim; i += 64) {
		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
		s1 = _mm512_fmadd_ps(d1, d1, s1);
		s2 = _mm512_fmadd_ps(d2, d2, s2);
		s3 = _mm512_fmadd_ps(d3, d3, s3);
	}
	for (; i + 16 <= dim; i += 16) {
		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		s0 = _mm512_fmadd_ps(d0, d0, s0);
	}
	if (i < dim) {
		__mmask16 m = avx512_tail_mask(dim - i);

		d1 =
		    _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
		s1 = _mm512_fmadd_ps(d1, d1, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

VC_AVX512 static float neg_l2sq_avx512(const float *a, const float *b, size_t dim)
{
	return -l2sq_avx512(a, b, dim);
}

VC_AVX512 static void dot_many_avx512(const float *q, const float *base, size_t count, size_t dim,
				      float *out)
{
	size_t r = 0;

	for (; r + 4 <= count; r += 4) {
		const float *b0 = base + r * dim, *b1 = b0 + dim, *b2 = b1 + dim, *b3 = b2 + dim;
		__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
		__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
		size_t i = 0;

		for (; i + 16 <= dim; i += 16) {
			__m512 x = _mm512_loadu_ps(q + i);

			s0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b0 + i), s0);
			s1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b1 + i), s1);
			s2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b2 + i), s2);
			s3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b3 + i), s3);
		}
		if (i < dim) {
			__mmask16 m = avx512_tail_mask(dim - i);
			__m512 x = _mm512_maskz_loadu_ps(m, q + i);

			s0 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b0 + i), s0);
			s1 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b1 + i), s1);
			s2 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b2 + i), s2);
			s3 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b3 + i), s3);
		}
		out[r] = _mm512_reduce_add_ps(s0);
		out[r + 1] = _mm512_reduce_add_ps(s1);
		out[r + 2] = _mm512_reduce_add_ps(s2);
		out[r + 3] = _mm512_reduce_add_ps(s3);
	}
	for (; r < count; r++)
		out[r] = dot_avx512(q, base + r * dim, dim);
}

VC_AVX512 static void l2sq_many_avx512(const float *q, const float *base, size_t count, size_t dim,
				       float *out)
{
	size_t r = 0;

	for (; r + 4 <= count; r += 4) {
		const float *b0 = base + r * dim, *b1 = b0 + dim, *b2 = b1 + dim, *b3 = b2 + dim;
		__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
		__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
		__m512 d0, d1, d2, d3;
		size_t i = 0;

		for (; i + 16 <= dim; i += 16) {
			__m512 x = _mm512_loadu_ps(q + i);

			d0 = _mm512_sub_ps(x, _mm512_loadu_ps(b0 + i));
			d1 = _mm512_sub_ps(x, _mm512_loadu_ps(b1 + i));
			d2 = _mm512_sub_ps(x, _mm512_loadu_ps(b2 + i));
			d3 = _mm512_sub_ps(x, _mm512_loadu_ps(b3 + i));
			s0 = _mm512_fmadd_ps(d0, d0, s0);
			s1 = _mm512_fmadd_ps(d1, d1, s1);
			s2 = _mm512_fmadd_ps(d2, d2, s2);
			s3 = _mm512_fmadd_ps(d3, d3, s3);
		}
		if (i < dim) {
			__mmask16 m = avx512_tail_mask(dim - i);
			__m512 x = _mm512_maskz_loadu_ps(m, q + i);

			d0 = _mm512_sub_ps(x, _mm512_maskz_loadu_ps(m, b0 + i));
			d1 = _mm512_sub_ps(x, _mm512_maskz_loadu_ps(m, b1 + i));
			d2 = _mm512_sub_ps(x, _mm512_maskz_loadu_ps(m, b2 + i));
			d3 = _mm512_sub_ps(x, _mm512_maskz_loadu_ps(m, b3 + i));
			s0 = _mm512_fmadd_ps(d0, d0, s0);
			s1 = _mm512_fmadd_ps(d1, d1, s1);
			s2 = _mm512_fmadd_ps(d2, d2, s2);
			s3 = _mm512_fmadd_ps(d3, d3, s3);
		}
		out[r] = -_mm512_reduce_add_ps(s0);
		out[r + 1] = -_mm512_reduce_add_ps(s1);
		out[r + 2] = -_mm512_reduce_add_ps(s2);
		out[r + 3] = -_mm512_reduce_add_ps(s3);
	}
	for (; r < count; r++)
		out[r] = -l2sq_avx512(q, base + r * dim, dim);
}

VC_AVX512 static void dot_multi_avx512(const float *const *q, const float *base, size_t count,
				       size_t dim, float *out)
{
	for (size_t r = 0; r < count; r++) {
		const float *b = base + r * dim;
		__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
		__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
		size_t i = 0;

		for (; i + 16 <= dim; i += 16) {
			__m512 x = _mm512_loadu_ps(b + i);

			s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q[0] + i), x, s0);
			s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q[1] + i), x, s1);
			s2 = _mm512_fmadd_ps(_mm512_loadu_ps(q[2] + i), x, s2);
			s3 = _mm512_fmadd_ps(_mm512_loadu_ps(q[3] + i), x, s3);
		}
		if (i < dim) {
			__mmask16 m = avx512_tail_mask(dim - i);
			__m512 x = _mm512_maskz_loadu_ps(m, b + i);

			s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q[0] + i), x, s0);
			s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q[1] + i), x, s1);
			s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q[2] + i), x, s2);
			s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q[3] + i), x, s3);
		}
		out[r] = _mm512_reduce_add_ps(s0);
		out[count + r] = _mm512_reduce_add_ps(s1);
		out[2 * count + r] = _mm512_reduce_add_ps(s2);
		out[3 * count + r] = _mm512_reduce_add_ps(s3);
	}
}

VC_AVX512 static void l2sq_multi_avx512(const float *const *q, const float *base, size_t count,
					size_t dim, float *out)
{
	for (size_t r = 0; r < count; r++) {
		const float *b = base + r * dim;
		__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
		__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
		__m512 d0, d1, d2, d3;
		size_t i = 0;

		for (; i + 16 <= dim; i += 16) {
			__m512 x = _mm512_loadu_ps(b + i);

			d0 = _mm512_sub_ps(_mm512_loadu_ps(q[0] + i), x);
			d1 = _mm512_sub_ps(_mm512_loadu_ps(q[1] + i), x);
			d2 = _mm512_sub_ps(_mm512_loadu_ps(q[2] + i), x);
			d3 = _mm512_sub_ps(_mm512_loadu_ps(q[3] + i), x);
			s0 = _mm512_fmadd_ps(d0, d0, s0);
			s1 = _mm512_fmadd_ps(d1, d1, s1);
			s2 = _mm512_fmadd_ps(d2, d2, s2);
			s3 = _mm512_fmadd_ps(d3, d3, s3);
		}
		if (i < dim) {
			__mmask16 m = avx512_tail_mask(dim - i);
			__m512 x = _mm512_maskz_loadu_ps(m, b + i);

			d0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q[0] + i), x);
			d1 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q[1] + i), x);
			d2 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q[2] + i), x);
			d3 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, q[3] + i), x);
			s0 = _mm512_fmadd_ps(d0, d0, s0);
			s1 = _mm512_fmadd_ps(d1, d1, s1);
			s2 = _mm512_fmadd_ps(d2, d2, s2);
			s3 = _mm512_fmadd_ps(d3, d3, s3);
		}
		out[r] = -_mm512_reduce_add_ps(s0);
		out[count + r] = -_mm512_reduce_add_ps(s1);
		out[2 * count + r] = -_mm512_reduce_add_ps(s2);
		out[3 * count + r] = -_mm512_reduce_add_ps(s3);
	}
}

static const vc_distance_impl impl_avx512 = {
    .name = "avx512",
    .dot = dot_avx512,
    .l2sq = l2sq_avx512,
    .neg_l2sq = neg_l2sq_avx512,
    .dot_many = dot_many_avx512,
    .l2sq_many = l2sq_many_avx512,
    .dot_multi = dot_multi_avx512,
    .l2sq_multi = l2sq_multi_avx512,
};

#endif /* VC_HAVE_X86 */

/* ---- run-time selection ----------------------------------------------- */

static pthread_once_t select_once = PTHREAD_ONCE_INIT;
static const vc_distance_impl *selected = &impl_scalar;

static void select_impl(void)
{
	const vc_distance_impl *best = vc_distance_impl_for("avx512");

	if (best == NULL)
		best = vc_distance_impl_for("avx2");
	if (best == NULL)
		best = &impl_scalar;
	selected = best;
}

/* Select at load time too, so the first search does not pay for it. */
__attribute__((constructor)) static void select_at_load(void)
{
	pthread_once(&select_once, select_impl);
}

static inline const vc_distance_impl *impl(void)
{
	pthread_once(&select_once, select_impl);
	return selected;
}

const vc_distance_impl *vc_distance_impl_for(const char *isa)
{
	if (isa == NULL)
		return NULL;
	if (strcmp(isa, "scalar") == 0)
		return &impl_scalar;
#if VC_HAVE_X86
	__builtin_cpu_init();
	if (strcmp(isa, "avx2") == 0 && __builtin_cpu_supports("avx2") &&
	    __builtin_cpu_supports("fma"))
		return &impl_avx2;
	if (strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512f"))
		return &impl_avx512;
#endif
	return NULL;
}

const char *vc_distance_isa(void)
{
	return impl()->name;
}

vc_score_fn vc_score_kernel(vc_metric metric)
{
	const vc_distance_impl *k = impl();

	return metric == VC_METRIC_L2 ? k->neg_l2sq : k->dot;
}

void vc_score_many(vc_metric metric, const float *query, const float *base, size_t count,
		   size_t dim, float *out)
{
	const vc_distance_impl *k = impl();

	if (metric == VC_METRIC_L2)
		k->l2sq_many(query, base, count, dim, out);
	else
		k->dot_many(query, base, count, dim, out);
}

void vc_score_multi(vc_metric metric, const float *const *queries, size_t nq, const float *base,
		    size_t count, size_t dim, float *out)
{
	const vc_distance_impl *k = impl();
	size_t q = 0;

	for (; q + 4 <= nq; q += 4) {
		if (metric == VC_METRIC_L2)
			k->l2sq_multi(queries + q, base, count, dim, out + q * count);
		else
			k->dot_multi(queries + q, base, count, dim, out + q * count);
	}
	for (; q < nq; q++)
		vc_score_many(metric, queries[q], base, count, dim, out + q * count);
}

float vc_dot(const float *a, const float *b, size_t dim)
{
	return impl()->dot(a, b, dim);
}

float vc_l2sq(const float *a, const float *b, size_t dim)
{
	return impl()->l2sq(a, b, dim);
}

int vc_normalize(float *v, size_t dim)
{
	double sum = 0.0;
	double inv;

	/*
	 * Double precision keeps tiny vectors (whose float squares underflow)
	 * and huge ones (whose float sum overflows) normalisable.
	 */
	for (size_t i = 0; i < dim; i++)
		sum += (double)v[i] * (double)v[i];
	if (!(sum > 0.0) || !isfinite(sum))
		return 0;
	inv = 1.0 / sqrt(sum);
	for (size_t i = 0; i < dim; i++)
		v[i] = (float)(v[i] * inv);
	return 1;
}

float vc_score_public(vc_metric metric, float internal)
{
	if (metric == VC_METRIC_L2)
		return sqrtf(internal < 0.0f ? -internal : 0.0f);
	return internal;
}
