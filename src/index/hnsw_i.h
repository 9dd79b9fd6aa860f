/* Private side of hnsw.h: the index layout, shared by the graph code and its serialiser. */
#ifndef VC_HNSW_I_H
#define VC_HNSW_I_H

#include <pthread.h>

#include "index/hnsw.h"
#include "search/distance.h"

#define VC_HNSW_FLAG_DELETED 1u
/* Idle search scratch kept for reuse; more concurrent searches allocate and free their own. */
#define VC_HNSW_POOL_MAX 64

/* Per-search working memory; one searcher owns one at a time. */
typedef struct hnsw_scratch hnsw_scratch;

struct vc_hnsw {
	uint32_t dim;
	uint32_t stride; /* floats between vectors: dim rounded up to 16 (64-byte rows) */
	vc_metric metric;
	vc_hnsw_params params;
	vc_score_fn score;	 /* query-to-node: the metric's score */
	vc_score_fn build_score; /* node-to-node while building the graph */

	uint32_t count;
	uint32_t capacity;
	uint32_t entry; /* UINT32_MAX when empty */
	uint32_t max_level;
	uint64_t rng; /* level generator state */

	float *vectors;	 /* capacity * stride, 64-byte aligned */
	uint8_t *levels; /* capacity */
	uint8_t *flags;	 /* capacity */
	/*
	 * Link lists: [used, id, id, ...]. Layer 0 is one block of
	 * (1 + 2m) slots per node; upper[n] holds levels[n] lists of (1 + m)
	 * slots, layer 1 first, or NULL for a layer-0-only node.
	 */
	uint32_t *links0;
	uint32_t **upper;

	pthread_rwlock_t lock; /* writers: add, mark_deleted; readers: search, serialise */
	hnsw_scratch *builder; /* scratch of the single writer */
	pthread_mutex_t pool_lock;
	hnsw_scratch **pool; /* idle scratch of past searches */
	size_t pool_count;
};

static inline size_t vc_hnsw_links0_slots(const vc_hnsw *h)
{
	return 1 + 2 * (size_t)h->params.m;
}

static inline size_t vc_hnsw_upper_slots(const vc_hnsw *h)
{
	return 1 + (size_t)h->params.m;
}

static inline uint32_t *vc_hnsw_links(const vc_hnsw *h, uint32_t node, uint32_t layer)
{
	if (layer == 0)
		return h->links0 + (size_t)node * vc_hnsw_links0_slots(h);
	return h->upper[node] + (size_t)(layer - 1) * vc_hnsw_upper_slots(h);
}

static inline const float *vc_hnsw_row(const vc_hnsw *h, uint32_t node)
{
	return h->vectors + (size_t)node * h->stride;
}

/**
 * An empty index with validated parameters (used by create and by load).
 * Does not take the lock; the index is not yet shared.
 */
vc_err vc_hnsw_alloc(uint32_t dim, vc_metric metric, const vc_hnsw_params *params, vc_hnsw **out);

/** Grow node storage to at least @p capacity (caller holds the write lock or owns the index). */
vc_err vc_hnsw_grow(vc_hnsw *h, uint32_t capacity);

/** Scratch memory of one searcher (hnsw.c owns its layout). */
vc_err vc_hnsw_scratch_new(hnsw_scratch **out);
void vc_hnsw_scratch_free(hnsw_scratch *s);
size_t vc_hnsw_scratch_bytes(const hnsw_scratch *s);

#endif
