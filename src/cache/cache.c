/* The shared chunk cache: a byte-bounded LRU of decoded values with reference counts and
 * single-flight loading (include/vchunk/cache.h states the contract). */
#include "vchunk/cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error_i.h"

/*
 * Locking rules (read these before changing anything below):
 *
 * 1. One mutex, cache->lock, guards every field of struct vc_cache and every field of every
 *    entry except entry->value of a READY entry (immutable once published, so a reader holding
 *    a reference reads it without the lock).
 * 2. The lock is never held while calling out: the load callback runs unlocked, and values are
 *    handed to the free callback only after the lock is dropped (they were unlinked and
 *    unaccounted under the lock, so no other thread can reach them any more).
 * 3. A thread waiting for another thread's load holds a reference on the LOADING placeholder,
 *    so the placeholder cannot be freed under it. Every state change out of LOADING is followed
 *    by a broadcast on cache->loaded; waiters re-check the state of their own entry in a loop.
 *
 * Entry life cycle:
 *
 *   miss ──> LOADING (in the table, refs = loader + waiters, not in the LRU list)
 *              │ load ok                         │ load failed
 *              v                                 v
 *            READY (in the table)              FAILED (out of the table; freed by whoever
 *              refs > 0: pinned, not in LRU        drops the last reference)
 *              refs = 0: in the LRU list, evictable
 *              │ evicted (only when refs = 0)
 *              v
 *            unlinked from table and list, value freed, entry freed
 *
 * The LRU list holds exactly the READY entries with no reference, most recently released at the
 * head. Pinned entries are therefore never walked past by eviction, and an entry in use counts as
 * "recently used" until its last reader lets go of it.
 *
 * Budget rule: after every release and every completed load, unreferenced entries are evicted
 * from the LRU tail while the bytes of all resident values (pinned ones included) exceed the
 * budget. Hence bytes_resident <= max(budget, bytes pinned) <= budget + bytes pinned.
 */

enum entry_state {
	ENTRY_LOADING,
	ENTRY_READY,
	ENTRY_FAILED,
};

struct vc_cache_entry {
	uint64_t key;
	void *value;			  /* READY only */
	size_t bytes;			  /* READY only: bytes charged to the budget */
	struct vc_cache_entry *lru_prev;  /* towards the head (more recent) */
	struct vc_cache_entry *lru_next;  /* towards the tail; once evicted: next to free */
	struct vc_cache_entry *hash_next; /* next entry in the same bucket */
	char *message;			  /* FAILED only: the loader's message, or NULL */
	uint32_t refs;
	uint8_t state;	 /* enum entry_state */
	vc_err load_err; /* FAILED only */
};

/* The per-entry overhead quoted in cache.h and docs/ARCHITECTURE.md relies on this. */
_Static_assert(sizeof(void *) != 8 || sizeof(struct vc_cache_entry) <= 72,
	       "cache entry grew: update the overhead figure in cache.h and ARCHITECTURE.md");

struct vc_cache {
	pthread_mutex_t lock;
	pthread_cond_t loaded; /* broadcast whenever an entry leaves LOADING */

	struct vc_cache_entry **buckets; /* chained hash table, size is a power of two */
	size_t bucket_count;
	size_t table_count; /* entries in the table: LOADING and READY */

	struct vc_cache_entry *lru_head; /* most recently released */
	struct vc_cache_entry *lru_tail; /* next to evict */

	vc_cache_free_fn free_fn;
	size_t budget;

	/* Counters reported by vc_cache_get_stats(). */
	uint64_t hits;
	uint64_t misses;
	uint64_t waits;
	uint64_t evictions;
	uint64_t load_errors;
	uint64_t bytes_resident; /* sum of bytes over READY entries */
	uint64_t entries;	 /* number of READY entries */
	uint64_t load_ns_total;
	uint64_t load_ns_max;
};

#define INITIAL_BUCKETS 64

/* ---- hash table (caller holds the lock) ---- */

/* Chunk ids are small consecutive integers; mix them so every bit of the key reaches the mask. */
static size_t bucket_of(const struct vc_cache *cache, uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	key *= 0xc4ceb9fe1a85ec53ULL;
	key ^= key >> 33;
	return (size_t)key & (cache->bucket_count - 1);
}

static struct vc_cache_entry *table_find(const struct vc_cache *cache, uint64_t key)
{
	struct vc_cache_entry *e = cache->buckets[bucket_of(cache, key)];

	while (e != NULL && e->key != key)
		e = e->hash_next;
	return e;
}

/* Double the bucket array once the load factor passes 1. Growing is an optimisation: when the
 * allocation fails the table keeps working with longer chains. */
static void table_grow(struct vc_cache *cache)
{
	size_t old_count = cache->bucket_count;
	struct vc_cache_entry **old = cache->buckets;
	struct vc_cache_entry **grown;

	if (cache->table_count <= old_count || old_count > SIZE_MAX / 2 / sizeof(*grown))
		return;
	grown = calloc(old_count * 2, sizeof(*grown));
	if (grown == NULL)
		return;
	cache->buckets = grown;
	cache->bucket_count = old_count * 2;
	for (size_t i = 0; i < old_count; i++) {
		struct vc_cache_entry *e = old[i];

		while (e != NULL) {
			struct vc_cache_entry *next = e->hash_next;
			size_t b = bucket_of(cache, e->key);

			e->hash_next = grown[b];
			grown[b] = e;
			e = next;
		}
	}
	free(old);
}

static void table_insert(struct vc_cache *cache, struct vc_cache_entry *e)
{
	size_t b = bucket_of(cache, e->key);

	e->hash_next = cache->buckets[b];
	cache->buckets[b] = e;
	cache->table_count++;
	table_grow(cache);
}

static void table_remove(struct vc_cache *cache, struct vc_cache_entry *e)
{
	struct vc_cache_entry **link = &cache->buckets[bucket_of(cache, e->key)];

	while (*link != e)
		link = &(*link)->hash_next;
	*link = e->hash_next;
	e->hash_next = NULL;
	cache->table_count--;
}

/* ---- LRU list of unreferenced READY entries (caller holds the lock) ---- */

static void lru_push_head(struct vc_cache *cache, struct vc_cache_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = cache->lru_head;
	if (cache->lru_head != NULL)
		cache->lru_head->lru_prev = e;
	else
		cache->lru_tail = e;
	cache->lru_head = e;
}

static void lru_unlink(struct vc_cache *cache, struct vc_cache_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		cache->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		cache->lru_tail = e->lru_prev;
	e->lru_prev = NULL;
	e->lru_next = NULL;
}

/* Entries evicted under the lock, waiting to be freed after it is dropped (rule 2). They are
 * chained through lru_next, in eviction order. */
struct doomed_list {
	struct vc_cache_entry *head;
	struct vc_cache_entry **tail;
};

/*
 * Evict from the LRU tail while resident bytes exceed the budget. Evicted entries are unlinked
 * and unaccounted here: from now on no other thread can reach them.
 */
static void evict_over_budget(struct vc_cache *cache, struct doomed_list *doomed)
{
	while (cache->bytes_resident > cache->budget && cache->lru_tail != NULL) {
		struct vc_cache_entry *e = cache->lru_tail;

		lru_unlink(cache, e);
		table_remove(cache, e);
		cache->bytes_resident -= e->bytes;
		cache->entries--;
		cache->evictions++;
		*doomed->tail = e;
		doomed->tail = &e->lru_next;
	}
}

/* Free the entries collected by evict_over_budget(); called without the lock. */
static void free_entries(vc_cache_free_fn free_fn, struct doomed_list *doomed)
{
	struct vc_cache_entry *e = doomed->head;

	while (e != NULL) {
		struct vc_cache_entry *next = e->lru_next;

		if (free_fn != NULL)
			free_fn(e->value);
		free(e);
		e = next;
	}
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- public API ---- */

vc_err vc_cache_create(size_t budget_bytes, vc_cache_free_fn free_fn, vc_cache **out)
{
	struct vc_cache *cache;

	if (out == NULL)
		return vc_fail(VC_ERR_INVALID, "vc_cache_create: no output pointer given");
	*out = NULL;
	cache = calloc(1, sizeof(*cache));
	if (cache == NULL)
		goto fail_cache;
	cache->buckets = calloc(INITIAL_BUCKETS, sizeof(*cache->buckets));
	if (cache->buckets == NULL)
		goto fail_buckets;
	cache->bucket_count = INITIAL_BUCKETS;
	if (pthread_mutex_init(&cache->lock, NULL) != 0)
		goto fail_lock;
	if (pthread_cond_init(&cache->loaded, NULL) != 0)
		goto fail_cond;
	cache->free_fn = free_fn;
	cache->budget = budget_bytes;
	*out = cache;
	return VC_OK;

fail_cond:
	pthread_mutex_destroy(&cache->lock);
fail_lock:
	free(cache->buckets);
fail_buckets:
	free(cache);
fail_cache:
	return vc_fail(VC_ERR_NOMEM, "creating the chunk cache (budget %zu bytes): out of memory",
		       budget_bytes);
}

void vc_cache_destroy(vc_cache *cache)
{
	struct doomed_list doomed = {NULL, &doomed.head};
	size_t still_in_use;

	if (cache == NULL)
		return;
	pthread_mutex_lock(&cache->lock);
	/* A zero budget evicts every unreferenced entry; anything left in the table afterwards is
	 * still referenced (or loading) by another thread, a caller bug. Without assertions those
	 * entries and the cache are leaked rather than freed under their users. */
	cache->budget = 0;
	evict_over_budget(cache, &doomed);
	still_in_use = cache->table_count;
	pthread_mutex_unlock(&cache->lock);
	free_entries(cache->free_fn, &doomed);
	assert(still_in_use == 0 && "vc_cache_destroy: entries still referenced");
	if (still_in_use != 0)
		return; /* the lock, condition and table stay alive for the leaked entries */
	pthread_cond_destroy(&cache->loaded);
	pthread_mutex_destroy(&cache->lock);
	free(cache->buckets);
	free(cache);
}

/* Drop a reference to a FAILED placeholder (out of the table, so nobody new can find it);
 * the last thread to let go frees it. Caller holds the lock. */
static void drop_failed(struct vc_cache_entry *e)
{
	if (--e->refs == 0) {
		free(e->message);
		free(e);
	}
}

/* Wait for another thread's load of @p e; the caller holds the lock and a reference on @p e.
 * On failure the reference is dropped and the loader's error and message re-raised here. */
static vc_err wait_for_load(struct vc_cache *cache, struct vc_cache_entry *e)
{
	vc_err err;

	cache->waits++;
	while (e->state == ENTRY_LOADING)
		pthread_cond_wait(&cache->loaded, &cache->lock);
	if (e->state == ENTRY_READY)
		return VC_OK;
	err = e->load_err;
	vc_fail(err, "%s", e->message != NULL ? e->message : vc_err_str(err));
	drop_failed(e);
	return err;
}

/* Run the load callback for placeholder @p e; called with the lock held, returns with it held
 * (rule 2: the callback itself runs unlocked). Leaves @p e READY or FAILED and wakes waiters. */
static vc_err run_load(struct vc_cache *cache, struct vc_cache_entry *e, vc_cache_load_fn load,
		       void *load_ctx, struct doomed_list *doomed)
{
	uint64_t key = e->key;
	void *value = NULL;
	size_t bytes = 0;
	uint64_t start, elapsed;
	char *message = NULL;
	vc_err err;

	pthread_mutex_unlock(&cache->lock);
	start = monotonic_ns();
	vc_clear_error();
	err = load(load_ctx, key, &value, &bytes);
	elapsed = monotonic_ns() - start;
	if (err != VC_OK) {
		/* Every waiter must see the same words as the loader, so fill in a message for
		 * callbacks that returned an error without one. Should the copy fail, waiters
		 * still get the error code, with its generic text. */
		if (vc_last_error()[0] == '\0')
			vc_fail(err, "loading cache key %llu: %s", (unsigned long long)key,
				vc_err_str(err));
		message = strdup(vc_last_error());
	}
	pthread_mutex_lock(&cache->lock);

	if (err != VC_OK) {
		table_remove(cache, e); /* the next lookup of this key retries the load */
		e->state = ENTRY_FAILED;
		e->load_err = err;
		e->message = message;
		cache->load_errors++;
	} else {
		e->state = ENTRY_READY;
		e->value = value;
		e->bytes = bytes;
		cache->bytes_resident += bytes;
		cache->entries++;
		cache->load_ns_total += elapsed;
		if (elapsed > cache->load_ns_max)
			cache->load_ns_max = elapsed;
		/* The new value is pinned by its loader; make room for it among the rest. */
		evict_over_budget(cache, doomed);
	}
	pthread_cond_broadcast(&cache->loaded);
	return err;
}

vc_err vc_cache_get(vc_cache *cache, uint64_t key, vc_cache_load_fn load, void *load_ctx,
		    vc_cache_entry **entry)
{
	struct doomed_list doomed = {NULL, &doomed.head};
	struct vc_cache_entry *e;
	vc_err err = VC_OK;

	if (entry != NULL)
		*entry = NULL;
	if (cache == NULL || load == NULL || entry == NULL)
		return vc_fail(VC_ERR_INVALID,
			       "vc_cache_get(key %llu): missing cache, loader or output pointer",
			       (unsigned long long)key);
	pthread_mutex_lock(&cache->lock);
	e = table_find(cache, key);
	if (e != NULL && e->state == ENTRY_READY) {
		/* The hit path: no allocation, no call out. */
		if (e->refs == 0)
			lru_unlink(cache, e);
		e->refs++;
		cache->hits++;
	} else if (e != NULL) {
		e->refs++;
		err = wait_for_load(cache, e);
	} else {
		e = calloc(1, sizeof(*e));
		if (e == NULL) {
			pthread_mutex_unlock(&cache->lock);
			return vc_fail(VC_ERR_NOMEM, "caching key %llu: out of memory",
				       (unsigned long long)key);
		}
		e->key = key;
		e->state = ENTRY_LOADING;
		e->refs = 1;
		table_insert(cache, e);
		cache->misses++;
		err = run_load(cache, e, load, load_ctx, &doomed);
		if (err != VC_OK)
			drop_failed(e);
	}
	pthread_mutex_unlock(&cache->lock);
	free_entries(cache->free_fn, &doomed);
	if (err == VC_OK)
		*entry = e;
	return err;
}

vc_err vc_cache_peek(vc_cache *cache, uint64_t key, vc_cache_entry **entry)
{
	struct vc_cache_entry *e;

	*entry = NULL;
	pthread_mutex_lock(&cache->lock);
	e = table_find(cache, key);
	if (e != NULL && e->state == ENTRY_READY) {
		if (e->refs == 0)
			lru_unlink(cache, e);
		e->refs++;
		cache->hits++;
		*entry = e;
	}
	pthread_mutex_unlock(&cache->lock);
	if (*entry == NULL)
		return vc_fail(VC_ERR_NOT_FOUND, "key %llu is not in the cache",
			       (unsigned long long)key);
	return VC_OK;
}

void *vc_cache_entry_value(const vc_cache_entry *entry)
{
	return entry->value;
}

void vc_cache_release(vc_cache *cache, vc_cache_entry *entry)
{
	struct doomed_list doomed = {NULL, &doomed.head};

	if (cache == NULL || entry == NULL)
		return;
	pthread_mutex_lock(&cache->lock);
	assert(entry->state == ENTRY_READY && entry->refs > 0);
	if (--entry->refs == 0) {
		lru_push_head(cache, entry);
		evict_over_budget(cache, &doomed);
	}
	pthread_mutex_unlock(&cache->lock);
	free_entries(cache->free_fn, &doomed);
}

void vc_cache_set_budget(vc_cache *cache, size_t budget_bytes)
{
	struct doomed_list doomed = {NULL, &doomed.head};

	if (cache == NULL)
		return;
	pthread_mutex_lock(&cache->lock);
	cache->budget = budget_bytes;
	evict_over_budget(cache, &doomed);
	pthread_mutex_unlock(&cache->lock);
	free_entries(cache->free_fn, &doomed);
}

void vc_cache_get_stats(vc_cache *cache, vc_cache_stats *out)
{
	if (out == NULL)
		return;
	memset(out, 0, sizeof(*out));
	if (cache == NULL)
		return;
	pthread_mutex_lock(&cache->lock);
	out->hits = cache->hits;
	out->misses = cache->misses;
	out->waits = cache->waits;
	out->evictions = cache->evictions;
	out->load_errors = cache->load_errors;
	out->bytes_resident = cache->bytes_resident;
	out->bytes_budget = cache->budget;
	out->entries = cache->entries;
	out->load_ns_total = cache->load_ns_total;
	out->load_ns_max = cache->load_ns_max;
	pthread_mutex_unlock(&cache->lock);
}
