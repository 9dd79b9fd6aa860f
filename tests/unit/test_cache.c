/* Tests for the shared chunk cache: accounting, LRU order, pinning, single-flight loading,
 * error propagation and a multi-threaded stress run (also run under ThreadSanitizer). */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util/error_i.h"
#include "vchunk/cache.h"

/*
 * Values are slots of a per-test pool, so the free callback can detect a double free without
 * touching freed memory: a slot goes LIVE -> DEAD exactly once. Each value also owns a real heap
 * buffer of `bytes` bytes filled with a pattern derived from its key, checked on every get.
 * Failures seen on worker threads are counted in atomics and asserted on the main thread
 * (cmocka's assertions are not thread-safe).
 */
enum { SLOT_FREE, SLOT_LIVE, SLOT_DEAD };

#define MAX_KEYS 256
#define FREE_LOG_MAX 64

struct fixture;

struct test_value {
	uint64_t key;
	size_t bytes;
	unsigned char *payload;
	struct fixture *fixture;
	atomic_int state;
};

struct fixture {
	vc_cache *cache;
	struct test_value *pool;
	size_t pool_capacity;
	atomic_size_t pool_next;

	size_t value_bytes; /* bytes of each value, unless bytes_of_key is set */
	size_t (*bytes_of_key)(uint64_t key);
	unsigned sleep_ms;	  /* loader sleep */
	unsigned wait_for;	  /* loader waits until stats.waits reaches this (0: no wait) */
	vc_err fail_with;	  /* loader fails with this (VC_OK: succeeds) */
	const char *fail_message; /* NULL: fail without a message */
	int stress_failures;	  /* fail every 4th load of some keys */

	atomic_long live_bytes;
	atomic_ulong loads;
	atomic_ulong frees;
	atomic_ulong double_frees;
	atomic_ulong concurrent_loads; /* a second load of a key already loading */
	atomic_int loading[MAX_KEYS];
	atomic_uint attempts[MAX_KEYS]; /* loads started per key (stress failures) */

	pthread_mutex_t log_lock;
	uint64_t freed_keys[FREE_LOG_MAX];
	size_t freed_count;
};

static unsigned char pattern_byte(uint64_t key, size_t i)
{
	return (unsigned char)(key * 131u + i * 7u + 1u);
}

static int value_is_intact(const struct test_value *v, uint64_t key)
{
	if (v == NULL || v->key != key || atomic_load(&v->state) != SLOT_LIVE)
		return 0;
	for (size_t i = 0; i < v->bytes; i++)
		if (v->payload[i] != pattern_byte(key, i))
			return 0;
	return 1;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Wait (bounded, 10 s) until the cache has counted @p n waiters. */
static void wait_for_waiters(vc_cache *cache, unsigned n)
{
	vc_cache_stats st;

	for (int i = 0; i < 10000; i++) {
		vc_cache_get_stats(cache, &st);
		if (st.waits >= n)
			return;
		sleep_ms(1);
	}
}

static vc_err value_load(void *ctx, uint64_t key, void **value, size_t *bytes)
{
	struct fixture *f = ctx;
	struct test_value *v;
	size_t slot, size;

	if (key < MAX_KEYS && atomic_fetch_add(&f->loading[key], 1) != 0)
		atomic_fetch_add(&f->concurrent_loads, 1);
	if (f->sleep_ms != 0)
		sleep_ms(f->sleep_ms);
	else if (f->stress_failures)
		sched_yield(); /* widen the window in which other threads find the placeholder */
	if (f->wait_for != 0)
		wait_for_waiters(f->cache, f->wait_for);
	if (key < MAX_KEYS)
		atomic_fetch_sub(&f->loading[key], 1);

	if (f->fail_with != VC_OK) {
		if (f->fail_message == NULL)
			return f->fail_with;
		return vc_fail(f->fail_with, "%s (key %llu)", f->fail_message,
			       (unsigned long long)key);
	}
	/* In the stress run every fourth load of keys 3, 10, 17 ... fails. */
	if (f->stress_failures && key < MAX_KEYS && key % 7 == 3 &&
	    atomic_fetch_add(&f->attempts[key], 1) % 4 == 0)
		return vc_fail(VC_ERR_UNAVAILABLE, "chunk %llu: backend unavailable",
			       (unsigned long long)key);

	slot = atomic_fetch_add(&f->pool_next, 1);
	if (slot >= f->pool_capacity)
		return vc_fail(VC_ERR_NOMEM, "test value pool exhausted");
	size = f->bytes_of_key != NULL ? f->bytes_of_key(key) : f->value_bytes;
	v = &f->pool[slot];
	v->key = key;
	v->bytes = size;
	v->fixture = f;
	v->payload = malloc(size != 0 ? size : 1);
	if (v->payload == NULL)
		return vc_fail(VC_ERR_NOMEM, "test value of %zu bytes", size);
	for (size_t i = 0; i < size; i++)
		v->payload[i] = pattern_byte(key, i);
	atomic_store(&v->state, SLOT_LIVE);
	atomic_fetch_add(&f->loads, 1);
	atomic_fetch_add(&f->live_bytes, (long)size);
	*value = v;
	*bytes = size;
	return VC_OK;
}

static void value_free(void *value)
{
	struct test_value *v = value;
	struct fixture *f = v->fixture;
	int expected = SLOT_LIVE;

	if (!atomic_compare_exchange_strong(&v->state, &expected, SLOT_DEAD)) {
		atomic_fetch_add(&f->double_frees, 1);
		return;
	}
	atomic_fetch_add(&f->frees, 1);
	atomic_fetch_sub(&f->live_bytes, (long)v->bytes);
	pthread_mutex_lock(&f->log_lock);
	if (f->freed_count < FREE_LOG_MAX)
		f->freed_keys[f->freed_count] = v->key;
	f->freed_count++;
	pthread_mutex_unlock(&f->log_lock);
	free(v->payload);
	v->payload = NULL;
}

static struct fixture *fixture_new(size_t budget, size_t value_bytes, size_t pool_capacity)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->pool = calloc(pool_capacity, sizeof(*f->pool));
	assert_non_null(f->pool);
	f->pool_capacity = pool_capacity;
	f->value_bytes = value_bytes;
	pthread_mutex_init(&f->log_lock, NULL);
	assert_int_equal(vc_cache_create(budget, value_free, &f->cache), VC_OK);
	return f;
}

/* Destroy the cache and check every value was freed exactly once and the bytes add up to 0. */
static void fixture_free(struct fixture *f)
{
	vc_cache_destroy(f->cache);
	assert_int_equal(atomic_load(&f->live_bytes), 0);
	assert_int_equal(atomic_load(&f->frees), atomic_load(&f->loads));
	assert_int_equal(atomic_load(&f->double_frees), 0);
	assert_int_equal(atomic_load(&f->concurrent_loads), 0);
	pthread_mutex_destroy(&f->log_lock);
	free(f->pool);
	free(f);
}

static vc_cache_stats stats_of(vc_cache *cache)
{
	vc_cache_stats st;

	vc_cache_get_stats(cache, &st);
	return st;
}

/* Get @p key, check its value and release it. */
static void touch(struct fixture *f, uint64_t key)
{
	vc_cache_entry *e = NULL;

	assert_int_equal(vc_cache_get(f->cache, key, value_load, f, &e), VC_OK);
	assert_true(value_is_intact(vc_cache_entry_value(e), key));
	vc_cache_release(f->cache, e);
}

static void test_hits_and_misses(void **state)
{
	struct fixture *f = fixture_new(10000, 100, 64);
	vc_cache_stats st;

	(void)state;
	f->sleep_ms = 2;
	touch(f, 1);
	touch(f, 2);
	touch(f, 1);
	touch(f, 1);
	touch(f, 2);
	st = stats_of(f->cache);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.hits, 3);
	assert_int_equal(st.waits, 0);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.bytes_resident, 200);
	assert_int_equal(st.bytes_budget, 10000);
	assert_int_equal(atomic_load(&f->loads), 2);
	/* Two loads that each slept 2 ms. */
	assert_true(st.load_ns_max >= 2000000);
	assert_true(st.load_ns_total >= 2 * 2000000);
	assert_true(st.load_ns_total >= st.load_ns_max);
	fixture_free(f);
}

static void test_lru_order(void **state)
{
	struct fixture *f = fixture_new(300, 100, 64);
	vc_cache_entry *held;
	vc_cache_stats st;

	(void)state;
	touch(f, 1);
	touch(f, 2);
	touch(f, 3);
	touch(f, 1); /* recency now, most recent first: 1 3 2 */
	assert_int_equal(f->freed_count, 0);
	/* Loading 4 puts the cache over budget: the least recent, 2, goes as soon as the load
	 * completes, while 4 is still held. */
	assert_int_equal(vc_cache_get(f->cache, 4, value_load, f, &held), VC_OK);
	assert_int_equal(f->freed_count, 1);
	assert_int_equal(f->freed_keys[0], 2);
	assert_int_equal(stats_of(f->cache).bytes_resident, 300);
	vc_cache_release(f->cache, held);
	touch(f, 3); /* recency: 3 4 1 */
	touch(f, 5); /* 1 goes */
	assert_int_equal(f->freed_count, 2);
	assert_int_equal(f->freed_keys[1], 1);
	st = stats_of(f->cache);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.bytes_resident, 300);
	/* 3, 4 and 5 are still cached: three hits, no load. */
	touch(f, 3);
	touch(f, 4);
	touch(f, 5);
	assert_int_equal(atomic_load(&f->loads), 5);
	fixture_free(f);
}

/* Peek finds what is resident (pinned, a hit, recency refreshed) and never loads. */
static void test_peek(void **state)
{
	struct fixture *f = fixture_new(300, 100, 64);
	vc_cache_entry *e = NULL;

	(void)state;
	assert_int_equal(vc_cache_peek(f->cache, 1, &e), VC_ERR_NOT_FOUND);
	assert_null(e);
	assert_int_equal(atomic_load(&f->loads), 0);
	touch(f, 1);
	touch(f, 2);
	assert_int_equal(vc_cache_peek(f->cache, 1, &e), VC_OK);
	assert_true(value_is_intact(vc_cache_entry_value(e), 1));
	/* pinned: loading two more over budget evicts 2, not the peeked 1 */
	touch(f, 3);
	touch(f, 4);
	assert_int_equal(f->freed_count, 1);
	assert_int_equal(f->freed_keys[0], 2);
	vc_cache_release(f->cache, e);
	assert_int_equal(vc_cache_peek(f->cache, 2, &e), VC_ERR_NOT_FOUND);
	assert_int_equal(stats_of(f->cache).hits, 1);
	assert_int_equal(atomic_load(&f->loads), 4);
	fixture_free(f);
}

static size_t varied_bytes(uint64_t key)
{
	return 40 + (size_t)(key * 37 % 160);
}

static void test_budget_after_each_release(void **state)
{
	struct fixture *f = fixture_new(1000, 0, 4096);
	unsigned seed = 12345;

	(void)state;
	f->bytes_of_key = varied_bytes;
	for (int i = 0; i < 2000; i++) {
		vc_cache_stats st;

		touch(f, (uint64_t)(rand_r(&seed) % 40));
		st = stats_of(f->cache);
		assert_true(st.bytes_resident <= 1000);
		/* The cache counts exactly the bytes handed out by loads and not freed. */
		assert_int_equal(st.bytes_resident, atomic_load(&f->live_bytes));
		assert_int_equal(st.entries, atomic_load(&f->loads) - atomic_load(&f->frees));
	}
	assert_true(stats_of(f->cache).evictions > 0);
	fixture_free(f);
}

static void test_pinned_entries_survive(void **state)
{
	struct fixture *f = fixture_new(200, 100, 64);
	vc_cache_entry *a, *a2, *b, *c, *d;

	(void)state;
	assert_int_equal(vc_cache_get(f->cache, 1, value_load, f, &a), VC_OK);
	assert_int_equal(vc_cache_get(f->cache, 2, value_load, f, &b), VC_OK);
	assert_int_equal(vc_cache_get(f->cache, 3, value_load, f, &c), VC_OK);
	/* Readers pin 300 bytes against a budget of 200: nothing can be freed. */
	assert_int_equal(stats_of(f->cache).bytes_resident, 300);
	assert_int_equal(vc_cache_get(f->cache, 1, value_load, f, &a2), VC_OK);
	assert_ptr_equal(a, a2);
	assert_int_equal(stats_of(f->cache).hits, 1);

	/* An unpinned newcomer is the only thing that can go. */
	assert_int_equal(vc_cache_get(f->cache, 4, value_load, f, &d), VC_OK);
	assert_int_equal(stats_of(f->cache).bytes_resident, 400);
	vc_cache_release(f->cache, d);
	assert_int_equal(f->freed_count, 1);
	assert_int_equal(f->freed_keys[0], 4);
	assert_true(value_is_intact(vc_cache_entry_value(a), 1));
	assert_true(value_is_intact(vc_cache_entry_value(b), 2));
	assert_true(value_is_intact(vc_cache_entry_value(c), 3));

	vc_cache_release(f->cache, a); /* 1 is still referenced once */
	assert_int_equal(f->freed_count, 1);
	assert_true(value_is_intact(vc_cache_entry_value(a2), 1));
	vc_cache_release(f->cache, a2); /* 300 > 200: 1 is the only unreferenced entry */
	assert_int_equal(f->freed_count, 2);
	assert_int_equal(f->freed_keys[1], 1);
	vc_cache_release(f->cache, b); /* 200 <= 200: 2 stays */
	assert_int_equal(f->freed_count, 2);
	vc_cache_release(f->cache, c); /* still 200: nothing to do */
	assert_int_equal(f->freed_count, 2);
	touch(f, 5); /* 300 > 200: the least recently released, 2, goes */
	assert_int_equal(f->freed_count, 3);
	assert_int_equal(f->freed_keys[2], 2);
	assert_int_equal(stats_of(f->cache).bytes_resident, 200);
	assert_int_equal(stats_of(f->cache).evictions, 3);
	fixture_free(f);
}

static void test_value_larger_than_budget(void **state)
{
	struct fixture *f = fixture_new(100, 1000, 64);
	vc_cache_entry *e;

	(void)state;
	touch(f, 1); /* alone over budget: freed at its release */
	assert_int_equal(f->freed_count, 1);
	assert_int_equal(vc_cache_get(f->cache, 7, value_load, f, &e), VC_OK);
	/* 7 is usable while pinned although it is ten times the budget. */
	assert_int_equal(f->freed_count, 1);
	assert_true(value_is_intact(vc_cache_entry_value(e), 7));
	assert_int_equal(stats_of(f->cache).bytes_resident, 1000);
	vc_cache_release(f->cache, e);
	assert_int_equal(f->freed_count, 2);
	assert_int_equal(stats_of(f->cache).bytes_resident, 0);
	assert_int_equal(stats_of(f->cache).entries, 0);
	fixture_free(f);
}

static void test_set_budget_evicts_now(void **state)
{
	struct fixture *f = fixture_new(1000, 100, 64);
	vc_cache_entry *held;

	(void)state;
	for (uint64_t k = 1; k <= 5; k++)
		touch(f, k);
	assert_int_equal(vc_cache_get(f->cache, 6, value_load, f, &held), VC_OK);
	vc_cache_set_budget(f->cache, 250);
	assert_int_equal(stats_of(f->cache).bytes_budget, 250);
	/* 6 is pinned (100) so one more unpinned value fits; 1..4 go, oldest first. */
	assert_int_equal(stats_of(f->cache).bytes_resident, 200);
	assert_int_equal(f->freed_count, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(f->freed_keys[i], i + 1);
	vc_cache_set_budget(f->cache, 0);
	assert_int_equal(stats_of(f->cache).bytes_resident, 100);
	assert_true(value_is_intact(vc_cache_entry_value(held), 6));
	vc_cache_release(f->cache, held);
	assert_int_equal(stats_of(f->cache).bytes_resident, 0);
	assert_int_equal(stats_of(f->cache).entries, 0);
	assert_int_equal(atomic_load(&f->live_bytes), 0);
	fixture_free(f);
}

static void test_invalid_arguments(void **state)
{
	struct fixture *f = fixture_new(1000, 100, 4);
	vc_cache_entry *e = (vc_cache_entry *)f;

	(void)state;
	assert_int_equal(vc_cache_get(f->cache, 1, NULL, f, &e), VC_ERR_INVALID);
	assert_null(e);
	assert_int_equal(vc_cache_get(NULL, 1, value_load, f, &e), VC_ERR_INVALID);
	assert_int_equal(vc_cache_get(f->cache, 1, value_load, f, NULL), VC_ERR_INVALID);
	assert_int_equal(vc_cache_create(1, NULL, NULL), VC_ERR_INVALID);
	assert_int_equal(atomic_load(&f->loads), 0);
	vc_cache_destroy(NULL);
	fixture_free(f);
}

/* ---- concurrent tests ---- */

#define CROWD 16

struct crowd_member {
	struct fixture *f;
	pthread_barrier_t *start;
	pthread_barrier_t *got;
	uint64_t key;
	vc_err err;
	char message[256];
	void *value;
	int intact;
};

static void *crowd_thread(void *arg)
{
	struct crowd_member *m = arg;
	vc_cache_entry *e = NULL;

	/* A message left over from earlier work must never be what a failed get reports. */
	vc_fail(VC_ERR_IO, "a stale message from before the get");
	pthread_barrier_wait(m->start);
	m->err = vc_cache_get(m->f->cache, m->key, value_load, m->f, &e);
	snprintf(m->message, sizeof(m->message), "%s", vc_last_error());
	if (m->err == VC_OK) {
		m->value = vc_cache_entry_value(e);
		m->intact = value_is_intact(m->value, m->key);
	}
	/* Hold the reference until everyone has theirs. */
	pthread_barrier_wait(m->got);
	if (e != NULL)
		vc_cache_release(m->f->cache, e);
	return NULL;
}

static void run_crowd(struct fixture *f, uint64_t key, struct crowd_member *members)
{
	pthread_t threads[CROWD];
	pthread_barrier_t start, got;

	pthread_barrier_init(&start, NULL, CROWD);
	pthread_barrier_init(&got, NULL, CROWD);
	for (int i = 0; i < CROWD; i++) {
		members[i] =
		    (struct crowd_member){.f = f, .start = &start, .got = &got, .key = key};
		assert_int_equal(pthread_create(&threads[i], NULL, crowd_thread, &members[i]), 0);
	}
	for (int i = 0; i < CROWD; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&got);
}

static void test_single_flight(void **state)
{
	struct fixture *f = fixture_new(1 << 20, 100, 64);
	struct crowd_member members[CROWD];
	vc_cache_stats st;

	(void)state;
	/* The loader sleeps 50 ms, then (bounded) waits until all 15 others are waiting, so
	 * the counts below are exact rather than likely. */
	f->sleep_ms = 50;
	f->wait_for = CROWD - 1;
	run_crowd(f, 42, members);
	assert_int_equal(atomic_load(&f->loads), 1);
	for (int i = 0; i < CROWD; i++) {
		assert_int_equal(members[i].err, VC_OK);
		assert_ptr_equal(members[i].value, members[0].value);
		assert_true(members[i].intact);
	}
	st = stats_of(f->cache);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.waits, CROWD - 1);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.entries, 1);
	assert_true(st.load_ns_max >= 50000000);
	fixture_free(f);
}

static void test_failed_load_reaches_every_waiter(void **state)
{
	struct fixture *f = fixture_new(1 << 20, 100, 64);
	struct crowd_member members[CROWD];
	vc_cache_stats st;

	(void)state;
	f->sleep_ms = 20;
	f->wait_for = CROWD - 1;
	f->fail_with = VC_ERR_AUTH;
	f->fail_message = "chunks/chunk-9.cbor failed authentication: wrong key or tampered data";
	run_crowd(f, 9, members);
	for (int i = 0; i < CROWD; i++) {
		assert_int_equal(members[i].err, VC_ERR_AUTH);
		assert_string_equal(members[i].message,
				    "chunks/chunk-9.cbor failed authentication: "
				    "wrong key or tampered data (key 9)");
		assert_null(members[i].value);
	}
	st = stats_of(f->cache);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.load_errors, 1);
	assert_int_equal(st.waits, CROWD - 1);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes_resident, 0);
	assert_int_equal(st.load_ns_total, 0); /* only successful loads are timed */

	/* The failure was not cached: the next get loads again, and now succeeds. */
	f->fail_with = VC_OK;
	f->wait_for = 0;
	f->sleep_ms = 0;
	touch(f, 9);
	st = stats_of(f->cache);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.load_errors, 1);
	assert_int_equal(st.entries, 1);
	assert_int_equal(atomic_load(&f->loads), 1);
	fixture_free(f);
}

static void test_failed_load_without_message(void **state)
{
	struct fixture *f = fixture_new(1 << 20, 100, 64);
	struct crowd_member members[CROWD];

	(void)state;
	f->wait_for = CROWD - 1;
	f->fail_with = VC_ERR_TIMEOUT;
	run_crowd(f, 5, members);
	for (int i = 0; i < CROWD; i++) {
		assert_int_equal(members[i].err, VC_ERR_TIMEOUT);
		assert_string_equal(members[i].message, members[0].message);
	}
	assert_non_null(strstr(members[0].message, "key 5"));
	assert_non_null(strstr(members[0].message, vc_err_str(VC_ERR_TIMEOUT)));
	assert_null(strstr(members[0].message, "stale"));
	fixture_free(f);
}

#define STRESS_THREADS 32
#define STRESS_GETS 2000
#define STRESS_KEYS 200
#define STRESS_VALUE 100
#define STRESS_BUDGET (10 * STRESS_VALUE)

struct stress_worker {
	struct fixture *f;
	unsigned seed;
	unsigned long bad_values;
	unsigned long bad_errors;
	unsigned long over_bound;
	unsigned long failures;
};

static void *stress_thread(void *arg)
{
	struct stress_worker *w = arg;
	vc_cache *cache = w->f->cache;

	for (int i = 0; i < STRESS_GETS; i++) {
		uint64_t key = (uint64_t)(rand_r(&w->seed) % STRESS_KEYS);
		vc_cache_entry *e = NULL;
		vc_cache_stats st;
		vc_err err = vc_cache_get(cache, key, value_load, w->f, &e);

		if (err != VC_OK) {
			char expected[64];

			snprintf(expected, sizeof(expected), "chunk %llu: backend unavailable",
				 (unsigned long long)key);
			if (err != VC_ERR_UNAVAILABLE || strcmp(vc_last_error(), expected) != 0)
				w->bad_errors++;
			w->failures++;
			continue;
		}
		if (!value_is_intact(vc_cache_entry_value(e), key))
			w->bad_values++;
		if (rand_r(&w->seed) % 8 == 0)
			sched_yield(); /* hold the pin a little longer now and then */
		/* Every reader pins at most one value, so this is the documented bound. */
		vc_cache_get_stats(cache, &st);
		if (st.bytes_resident > STRESS_BUDGET + STRESS_THREADS * STRESS_VALUE)
			w->over_bound++;
		if (!value_is_intact(vc_cache_entry_value(e), key))
			w->bad_values++;
		vc_cache_release(cache, e);
	}
	return NULL;
}

static void test_stress(void **state)
{
	struct fixture *f =
	    fixture_new(STRESS_BUDGET, STRESS_VALUE, STRESS_THREADS * STRESS_GETS + 16);
	struct stress_worker workers[STRESS_THREADS];
	pthread_t threads[STRESS_THREADS];
	unsigned long failures = 0;
	vc_cache_stats st;

	(void)state;
	f->stress_failures = 1;
	for (int i = 0; i < STRESS_THREADS; i++) {
		workers[i] = (struct stress_worker){.f = f, .seed = 1000u + (unsigned)i};
		assert_int_equal(pthread_create(&threads[i], NULL, stress_thread, &workers[i]), 0);
	}
	for (int i = 0; i < STRESS_THREADS; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < STRESS_THREADS; i++) {
		assert_int_equal(workers[i].bad_values, 0);
		assert_int_equal(workers[i].bad_errors, 0);
		assert_int_equal(workers[i].over_bound, 0);
		failures += workers[i].failures;
	}
	assert_int_equal(atomic_load(&f->double_frees), 0);
	assert_int_equal(atomic_load(&f->concurrent_loads), 0);
	st = stats_of(f->cache);
	print_message(
	    "stress: %llu hits, %llu waits, %llu loads, %llu load errors, %llu evictions\n",
	    (unsigned long long)st.hits, (unsigned long long)st.waits,
	    (unsigned long long)st.misses, (unsigned long long)st.load_errors,
	    (unsigned long long)st.evictions);
	/* Every get is exactly one of: a hit, a wait, or a load it started itself. */
	assert_int_equal(st.hits + st.waits + st.misses, STRESS_THREADS * STRESS_GETS);
	assert_int_equal(st.misses, atomic_load(&f->loads) + st.load_errors);
	assert_true(st.load_errors > 0);
	assert_true(failures >= st.load_errors);
	/* Quiescent: nothing pinned, so the budget holds and the books balance. */
	assert_true(st.bytes_resident <= STRESS_BUDGET);
	assert_true(st.entries <= STRESS_BUDGET / STRESS_VALUE);
	assert_int_equal(st.bytes_resident, atomic_load(&f->live_bytes));
	assert_int_equal(st.evictions, atomic_load(&f->frees));
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hits_and_misses),
	    cmocka_unit_test(test_lru_order),
	    cmocka_unit_test(test_peek),
	    cmocka_unit_test(test_budget_after_each_release),
	    cmocka_unit_test(test_pinned_entries_survive),
	    cmocka_unit_test(test_value_larger_than_budget),
	    cmocka_unit_test(test_set_budget_evicts_now),
	    cmocka_unit_test(test_invalid_arguments),
	    cmocka_unit_test(test_single_flight),
	    cmocka_unit_test(test_failed_load_reaches_every_waiter),
	    cmocka_unit_test(test_failed_load_without_message),
	    cmocka_unit_test(test_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
