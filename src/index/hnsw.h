/*
 * In-memory HNSW graph (Malkov & Yashunin) for the recent tier of the hybrid
 * index: vectors live inside the index, nodes are dense uint32 ids.
 */
#ifndef VC_HNSW_H
#define VC_HNSW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "search/topk.h"
#include "vchunk/error.h"
#include "vchunk/manifest.h"
#include "vchunk/store.h"

#define VC_HNSW_DEFAULT_M 16
#define VC_HNSW_DEFAULT_EF_CONSTRUCTION 200
#define VC_HNSW_DEFAULT_EF_SEARCH 64
/** Limits enforced on creation and on load. */
#define VC_HNSW_MAX_M 128
#define VC_HNSW_MAX_LEVEL 31
#define VC_HNSW_MAX_DIM 65536

typedef struct vc_hnsw_params {
	uint32_t m;		  /**< links per node on upper layers; 2*m on layer 0 */
	uint32_t ef_construction; /**< candidate list size while inserting */
	uint32_t ef_search;	  /**< default candidate list size while searching */
	uint64_t seed;		  /**< seeds the level generator (reproducible builds) */
} vc_hnsw_params;

/**
 * Thread-safety: one writer (vc_hnsw_add, vc_hnsw_mark_deleted) and any
 * number of concurrent searchers; an internal reader-writer lock (writer
 * preferred) makes a search see the graph before or after an insert, never
 * half of one. Searches reuse pooled scratch memory, so a warm search does
 * not allocate.
 */
typedef struct vc_hnsw vc_hnsw;

/**
 * Accept-callback of a filtered search: false hides @p node from the
 * results. It runs under the index's read lock, possibly in several threads
 * at once: it must not add to or delete from the same index.
 */
typedef bool (*vc_hnsw_accept_fn)(void *ctx, uint32_t node);

/** Fill @p params with the defaults (M 16, ef_construction 200, ef_search 64, seed 42). */
void vc_hnsw_params_default(vc_hnsw_params *params);

/**
 * An empty index for @p dim-dimensional vectors scored by @p metric
 * (@p params NULL: defaults). VC_ERR_INVALID on out-of-range parameters.
 * Free with vc_hnsw_free.
 */
vc_err vc_hnsw_create(uint32_t dim, vc_metric metric, const vc_hnsw_params *params, vc_hnsw **out);

/** Free an index (NULL-safe). No search may be running. */
void vc_hnsw_free(vc_hnsw *hnsw);

/** Grow storage for @p capacity nodes up front, so later adds do not reallocate. */
vc_err vc_hnsw_reserve(vc_hnsw *hnsw, uint32_t capacity);

/**
 * Insert a copy of @p vector; its node id is returned in @p node (ids are
 * dense: 0, 1, 2, ... in insertion order). For cosine the stored copy is
 * normalised (an all-zero vector is stored as is and scores 0).
 */
vc_err vc_hnsw_add(vc_hnsw *hnsw, const float *vector, uint32_t *node);

/**
 * Mark @p node deleted: it still routes searches but is never returned.
 * Irreversible. VC_ERR_NOT_FOUND for an id that does not exist.
 */
vc_err vc_hnsw_mark_deleted(vc_hnsw *hnsw, uint32_t node);

/**
 * The @p k best nodes for @p query, best first, into @p out (room for k
 * items; key = node id, score = internal score as in search/distance.h),
 * their number in @p found. @p ef 0 means the index's ef_search; the
 * search uses max(ef, k). Nodes that are deleted or refused by @p accept
 * (NULL: accept all) are traversed but never returned. When the candidate
 * list would cover the whole index the search is exact (a full scan).
 * For cosine the query is normalised internally. Thread-safe.
 */
vc_err vc_hnsw_search(vc_hnsw *hnsw, const float *query, size_t k, uint32_t ef,
		      vc_hnsw_accept_fn accept, void *ctx, vc_scored *out, size_t *found);

/*
 * The accessors below read without taking the lock: call them from the
 * writer's thread, or while no insert runs.
 */

/** Nodes inserted so far, deleted ones included. */
uint32_t vc_hnsw_count(const vc_hnsw *hnsw);
uint32_t vc_hnsw_dim(const vc_hnsw *hnsw);
vc_metric vc_hnsw_metric(const vc_hnsw *hnsw);
bool vc_hnsw_is_deleted(const vc_hnsw *hnsw, uint32_t node);

/**
 * The stored vector of @p node (normalised for cosine), valid until the next
 * vc_hnsw_add or vc_hnsw_free; NULL for an id that does not exist.
 */
const float *vc_hnsw_vector(const vc_hnsw *hnsw, uint32_t node);

/** Bytes of memory held by the index (vectors, links, scratch pools). */
size_t vc_hnsw_memory(const vc_hnsw *hnsw);

/**
 * Serialise to @p out (appended). Layout, all integers little-endian:
 *
 *   offset  size          field
 *   0       8             magic "VCHNSW\0\1"
 *   8       4             dim
 *   12      4             metric (0 cosine, 1 l2, 2 dot)
 *   16      4             m
 *   20      4             ef_construction
 *   24      4             ef_search
 *   28      4             count (nodes)
 *   32      4             entry point (0xffffffff when empty)
 *   36      4             max level
 *   40      8             level generator state
 *   48      count         level of each node (u8, <= 31)
 *   ...     count         flags of each node (u8: bit 0 deleted)
 *   ...     count*dim*4   vectors, float32
 *   ...     count*(1+2m)*4  layer-0 links per node: used slots, then 2m ids
 *   ...     sum(level)*(1+m)*4  upper links, node by node, layer 1 upward
 *
 * Unused link slots are written as zero. Thread-safe with searches.
 */
vc_err vc_hnsw_serialize(vc_hnsw *hnsw, vc_bytes *out);

/**
 * vc_hnsw_serialize, or without @p vectors: magic "VCHNSL\0\1" and the same
 * layout less the vectors, for a graph whose rows are stored elsewhere (the
 * recent tier's, in its chunks); the loader then puts them back with
 * vc_hnsw_set_row.
 */
vc_err vc_hnsw_serialize_graph(vc_hnsw *hnsw, bool vectors, vc_bytes *out);

/**
 * Rebuild an index from @p len bytes at @p data. Every field and link is
 * bounds-checked: malformed or hostile input gives VC_ERR_CORRUPT (message
 * says what is wrong), never a crash.
 */
vc_err vc_hnsw_deserialize(const uint8_t *data, size_t len, vc_hnsw **out);

/**
 * As vc_hnsw_deserialize for either layout; *vectors tells which. Without
 * them every row is zero until vc_hnsw_set_row fills it: the graph must not
 * be searched or added to before each of its nodes has its row.
 */
vc_err vc_hnsw_deserialize_graph(const uint8_t *data, size_t len, bool *vectors, vc_hnsw **out);

/** Store node @p node's row (normalised for cosine, as vc_hnsw_add does). Not locked. */
void vc_hnsw_set_row(vc_hnsw *hnsw, uint32_t node, const float *vector);

#endif
