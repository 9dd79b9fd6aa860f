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

/** Inner product and squared L2, dispatched to the best available instruction set. */
float vc_dot(const float *a, const float *b, size_t dim);
float vc_l2sq(const float *a, const float *b, size_t dim);

/** Normalise in place to unit length; false if the vector is all zeros. */
int vc_normalize(float *v, size_t dim);

/** Name of the selected instruction set ("avx512", "avx2", "scalar"). */
const char *vc_distance_isa(void);

/**
 * Convert an internal score to the score users see: cosine similarity,
 * dot product, or euclidean distance (sqrt of the negated internal score).
 */
float vc_score_public(vc_metric metric, float internal);

#endif
