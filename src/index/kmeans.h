/*
 * k-means training for the IVF coarse quantizer: k-means++ seeding, then
 * Lloyd iterations on a bounded random sample.
 */
#ifndef VC_KMEANS_H
#define VC_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "vchunk/error.h"
#include "vchunk/manifest.h"

#define VC_KMEANS_DEFAULT_ITERATIONS 12
#define VC_KMEANS_DEFAULT_SAMPLE_PER_CENTROID 256
#define VC_KMEANS_DEFAULT_MIN_CHANGE 0.005

typedef struct vc_kmeans_params {
	uint32_t max_iterations;      /**< Lloyd iterations at most */
	uint32_t sample_per_centroid; /**< train on at most k * this many vectors */
	double min_change;	      /**< stop once a smaller fraction of the sample moves */
	uint32_t threads;	      /**< threads for assignment (0: one per online CPU) */
	uint64_t seed;		      /**< sampling and seeding are reproducible per seed */
} vc_kmeans_params;

typedef struct vc_kmeans_result {
	uint32_t iterations; /**< Lloyd iterations run */
	size_t sample_size;  /**< vectors trained on */
	double objective;    /**< mean squared euclidean distance of the sample to its
			      *   centroid (cosine: between unit vectors) */
	uint32_t reseeded;   /**< empty clusters re-seeded from the largest one */
} vc_kmeans_result;

/**
 * Defaults: 12 iterations, 256 samples per centroid, stop once fewer than
 * 0.5% of the sample move (a coarse quantizer gains little past that), one
 * thread per online CPU, seed 1.
 */
void vc_kmeans_params_default(vc_kmeans_params *params);

/**
 * Train @p k centroids of dimension @p dim on @p n row-major vectors
 * (caller-owned, read only, not retained) into @p centroids (room for
 * k * dim floats, written row-major).
 *
 * cosine: spherical k-means (vectors compared by direction, centroids unit
 * length); l2 and dot: euclidean k-means. A cluster that empties is
 * re-seeded with the worst-fitting vector of the largest cluster.
 * VC_ERR_INVALID if k is 0 or larger than n. @p result may be NULL.
 * Thread-safe (no shared state); uses up to params->threads threads.
 */
vc_err vc_kmeans_train(vc_metric metric, const float *vectors, size_t n, uint32_t dim, uint32_t k,
		       const vc_kmeans_params *params, float *centroids, vc_kmeans_result *result);

/**
 * Index of the centroid nearest to @p v as k-means defines it (cosine:
 * largest inner product with unit centroids; l2 and dot: smallest euclidean
 * distance). @p scores needs room for k floats. Its score goes to
 * @p score if not NULL.
 */
uint32_t vc_kmeans_nearest(vc_metric metric, const float *centroids, uint32_t k, uint32_t dim,
			   const float *v, float *scores, float *score);

#endif
