/* A byte-bounded, reference-counted, single-flight LRU cache of decoded objects. */
#ifndef VCHUNK_CACHE_H
#define VCHUNK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "vchunk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vc_cache vc_cache;
typedef struct vc_cache_entry vc_cache_entry;

/**
 * Loads the value for @p key on a miss. Called without the cache lock held,
 * by exactly one thread per missing key (others wait for its result).
 * Sets *value and *bytes (the memory the value holds) on success.
 */
typedef vc_err (*vc_cache_load_fn)(void *load_ctx, uint64_t key, void **value, size_t *bytes);

/** Frees a value once it is evicted (or the cache destroyed) and unreferenced. */
typedef void (*vc_cache_free_fn)(void *value);

typedef struct vc_cache_stats {
	uint64_t hits;
	uint64_t misses;         /**< loads started */
	uint64_t waits;          /**< lookups that waited for another thread's load */
	uint64_t evictions;
	uint64_t load_errors;
	uint64_t bytes_resident; /**< bytes of every value alive (cached or still referenced) */
	uint64_t bytes_budget;
	uint64_t entries;        /**< values resident (loads in flight not counted) */
	uint64_t load_ns_total;  /**< time spent in successful loads */
	uint64_t load_ns_max;
} vc_cache_stats;

/**
 * Create a cache holding at most @p budget_bytes of unreferenced values.
 * Referenced values are never freed; when readers pin more than the budget,
 * memory exceeds it by at most what they pin (see docs/ARCHITECTURE.md).
 * Thread-safe: every function below may be called concurrently.
 *
 * Exact bound: after every load and release, unreferenced values are evicted
 * (least recently released first) while the bytes of all resident values
 * exceed the budget, so bytes_resident <= max(budget, bytes pinned)
 * <= budget + bytes pinned, where "pinned" counts each value referenced by at
 * least one reader once. On top of that come the values loaders are building
 * (one per load in flight, not yet known to the cache) and the bookkeeping:
 * 72 bytes per entry on 64-bit (plus the allocator's header) and a bucket
 * array of 8 bytes per bucket, at most 2 buckets per entry at the peak entry
 * count (it grows, never shrinks). @p free_fn may be NULL; it is called
 * without the cache lock held.
 */
vc_err vc_cache_create(size_t budget_bytes, vc_cache_free_fn free_fn, vc_cache **out);

/**
 * Destroy the cache. All entries must have been released: an outstanding
 * reference is a programming error (assertion; without assertions the
 * referenced entries and the cache are leaked). NULL-safe.
 */
void vc_cache_destroy(vc_cache *cache);

/**
 * Find @p key or load it with @p load. On success *entry is referenced:
 * the caller must call vc_cache_release() exactly once. A failed load is
 * not cached; every waiter gets the same error (and message).
 * A hit takes the lock once and allocates nothing. The loader must not ask
 * the cache for the key it is loading (it would wait for itself).
 */
vc_err vc_cache_get(vc_cache *cache, uint64_t key, vc_cache_load_fn load, void *load_ctx,
		    vc_cache_entry **entry);

/**
 * The entry of @p key if it is resident and loaded: referenced as by
 * vc_cache_get (release it once) and counted as a hit. VC_ERR_NOT_FOUND
 * otherwise; never loads and never waits for a load in progress.
 */
vc_err vc_cache_peek(vc_cache *cache, uint64_t key, vc_cache_entry **entry);

/** The value of a referenced entry. */
void *vc_cache_entry_value(const vc_cache_entry *entry);

/**
 * Drop one reference. When the last reference goes the entry becomes the most
 * recently used unreferenced entry, and entries are evicted from the least
 * recently used end (possibly this one) while the cache is over budget.
 */
void vc_cache_release(vc_cache *cache, vc_cache_entry *entry);

/** Change the budget, evicting as needed. */
void vc_cache_set_budget(vc_cache *cache, size_t budget_bytes);

/** Snapshot of the counters. */
void vc_cache_get_stats(vc_cache *cache, vc_cache_stats *out);

#ifdef __cplusplus
}
#endif
#endif
