/*
 * Distance kernels. Every kernel returns a score where larger is better:
 * cosine and dot return the inner product, l2 returns the negated squared
 * euclidean distance. Stored vectors are kept bit-exact as imported, so for
 * cosine the caller normalises the query and multiplies each score by the
 * stored vector's inverse norm (computed once when a chunk is loaded). The
 * vectorised variant (AVX2+FMA, AVX-512) is chosen once at run time.
 */
#ifndef VC_DISTANCE_H
#define VC_DISTANCE_H

#include <stddef.h>
#include <stdint.h>

#include "vchunk/manifest.h"

typedef float (*vc_score_fn)(const float *a, const float *b, size_t dim);

/** The kernel for @p metric (thread-safe, no allocation). */
vc_score_fn vc_score_kernel(vc_metric metric);

/** Score one query against @p count contiguous vectors: out[i] = score(q, base + i*dim). */
void vc_score_many(vc_metric metric, const float *query, const float *base, size_t count,
		   size_t dim, float *out);

/**
 * Score @p nq queries against the same @p count contiguous vectors:
 * out[q * count + i] = score(queries[q], base + i*dim), equal to nq calls of
 * vc_score_many up to rounding. Each base row is read once per four
 * queries, which pays when the rows do not fit in L1 (k-means centroids).
 */
void vc_score_multi(vc_metric metric, const float *const *queries, size_t nq, const float *base,
		    size_t count, size_t dim, float *out);

/** Inner product and squared L2, dispatched to the best available instruction set. */
float vc_dot(const float *a, const float *b, size_t dim);
float vc_l2sq(const float *a, const float *b, size_t dim);

/**
 * Normalise in place to unit length; false (vector untouched) if it is all
 * zeros or holds a non-finite value, since neither has a direction.
 */
int vc_normalize(float *v, size_t dim);

/** Name of the selected instruction set ("avx512", "avx2", "scalar"). */
const char *vc_distance_isa(void);

/**
 * Convert an internal score to the score users see: cosine similarity,
 * dot product, or euclidean distance (sqrt of the negated internal score).
 */
float vc_score_public(vc_metric metric, float internal);

/**
 * The kernels of one instruction set, for tests and benchmarks that compare
 * them. The *_many kernels follow vc_score_many; l2sq_many stores negated
 * squared distances (scores), l2sq returns the plain squared distance.
 */
typedef struct vc_distance_impl {
	const char *name;
	float (*dot)(const float *a, const float *b, size_t dim);
	float (*l2sq)(const float *a, const float *b, size_t dim);
	float (*neg_l2sq)(const float *a, const float *b, size_t dim);
	void (*dot_many)(const float *query, const float *base, size_t count, size_t dim,
			 float *out);
	void (*l2sq_many)(const float *query, const float *base, size_t count, size_t dim,
			  float *out);
	/* exactly four queries; out[q * count + i], l2 negated as in l2sq_many */
	void (*dot_multi)(const float *const *queries, const float *base, size_t count, size_t dim,
			  float *out);
	void (*l2sq_multi)(const float *const *queries, const float *base, size_t count, size_t dim,
			   float *out);
} vc_distance_impl;

/**
 * The kernels for @p isa ("scalar", "avx2", "avx512"), or NULL when this CPU
 * or this build cannot run them. Static data; thread-safe.
 */
const vc_distance_impl *vc_distance_impl_for(const char *isa);

#endif
