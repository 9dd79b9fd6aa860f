/*
 * IVF coarse quantizer: the centroids of the historical tier and the size of
 * each inverted list. The lists themselves live in chunk frames on storage.
 */
#ifndef VC_IVF_H
#define VC_IVF_H

#include <stddef.h>
#include <stdint.h>

#include "index/kmeans.h"
#include "search/topk.h"
#include "vchunk/error.h"
#include "vchunk/manifest.h"
#include "vchunk/store.h"

/** Limits enforced on creation and on load. */
#define VC_IVF_MAX_LISTS (1u << 22)
#define VC_IVF_MAX_DIM 65536

/**
 * Immutable after creation except for the list sizes, which only the
 * writer changes. Assign and probe are thread-safe and do not allocate.
 */
typedef struct vc_ivf vc_ivf;

/**
 * A quantizer from @p nlist given centroids (row-major, copied; normalised
 * for cosine). VC_ERR_INVALID on out-of-range sizes or non-finite values.
 */
vc_err vc_ivf_create(vc_metric metric, uint32_t dim, uint32_t nlist, const float *centroids,
		     vc_ivf **out);

/**
 * Train @p nlist centroids with k-means on @p n vectors (see kmeans.h;
 * @p params NULL: defaults) and build the quantizer. List sizes start at 0.
 */
vc_err vc_ivf_train(vc_metric metric, uint32_t dim, uint32_t nlist, const float *vectors, size_t n,
		    const vc_kmeans_params *params, vc_ivf **out);

/** Free a quantizer (NULL-safe). */
void vc_ivf_free(vc_ivf *ivf);

uint32_t vc_ivf_nlist(const vc_ivf *ivf);
uint32_t vc_ivf_dim(const vc_ivf *ivf);
vc_metric vc_ivf_metric(const vc_ivf *ivf);

/** Centroid of @p list (dim floats), or NULL if the list does not exist. */
const float *vc_ivf_centroid(const vc_ivf *ivf, uint32_t list);

/**
 * The list a stored vector belongs to: the nearest centroid (cosine:
 * largest cosine; l2 and dot: smallest euclidean distance, so lists stay
 * compact regions even for inner-product search).
 */
uint32_t vc_ivf_assign(const vc_ivf *ivf, const float *vector);

/**
 * vc_ivf_assign for @p n row-major vectors into @p lists (n entries), four
 * vectors per pass over the centroids: the bulk path for imports and
 * compaction. Thread-safe, no allocation.
 */
void vc_ivf_assign_many(const vc_ivf *ivf, const float *vectors, size_t n, uint32_t *lists);

/**
 * The @p nprobe lists to scan for @p query, best first, into @p out (room
 * for nprobe items; key = list number, score = the metric's score of the
 * query against the centroid: inner product for dot, so lists holding
 * long vectors in the query's direction come first). Returns
 * min(nprobe, nlist) lists in @p count. Thread-safe, no allocation.
 */
void vc_ivf_probe(const vc_ivf *ivf, const float *query, uint32_t nprobe, vc_scored *out,
		  size_t *count);

/** Vectors recorded in @p list (0 for a list that does not exist). */
uint64_t vc_ivf_list_size(const vc_ivf *ivf, uint32_t list);

/**
 * Record the number of vectors stored in @p list. Writer only, and not
 * while another thread reads list sizes: edit a private copy (loaded or
 * trained) and publish it, rather than editing one that readers use.
 */
vc_err vc_ivf_set_list_size(vc_ivf *ivf, uint32_t list, uint64_t size);

/**
 * Serialise to @p out (appended). Layout, all little-endian:
 *
 *   offset  size           field
 *   0       8              magic "VCIVF\0\0\1"
 *   8       4              dim
 *   12      4              metric (0 cosine, 1 l2, 2 dot)
 *   16      4              nlist
 *   20      4              reserved, 0
 *   24      nlist*dim*4    centroids, float32, row-major
 *   ...     nlist*8        list sizes, u64
 */
vc_err vc_ivf_serialize(const vc_ivf *ivf, vc_bytes *out);

/** Load from @p len bytes; malformed input is VC_ERR_CORRUPT, never a crash. */
vc_err vc_ivf_deserialize(const uint8_t *data, size_t len, vc_ivf **out);

#endif
