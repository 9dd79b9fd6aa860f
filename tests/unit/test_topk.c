/* Tests for bounded top-k selection against a full sort of random inputs with ties. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "search/topk.h"
#include "test_util.h"

static uint64_t rng_state;

/* Best first: higher score, then lower key (the order the header promises). */
static int cmp_best_first(const void *pa, const void *pb)
{
	const vc_scored *a = pa, *b = pb;

	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return 0;
}

static void run_case(size_t n, size_t k, unsigned levels)
{
	vc_scored *all = malloc((n + 1) * sizeof(vc_scored));
	vc_topk topk;
	size_t want;

	assert_non_null(all);
	assert_int_equal(vc_topk_init(&topk, k), VC_OK);
	for (size_t i = 0; i < n; i++) {
		/* few distinct levels → many ties; keys are shuffled, not insertion order */
		all[i].score = (float)(vc_test_splitmix64(&rng_state) % levels) - (float)levels / 2;
		all[i].key = vc_test_splitmix64(&rng_state) % (n * 4 + 1);
		vc_topk_push(&topk, all[i].score, all[i].key);
		if (topk.count == k && k > 0)
			assert_true(vc_topk_threshold(&topk) <= topk.items[0].score);
	}
	want = n < k ? n : k;
	assert_int_equal(topk.count, want);
	if (want < k)
		assert_true(vc_topk_threshold(&topk) == -INFINITY);
	qsort(all, n, sizeof(vc_scored), cmp_best_first);
	vc_topk_sort(&topk);
	for (size_t i = 0; i < want; i++) {
		assert_true(topk.items[i].score == all[i].score);
		assert_true(topk.items[i].key == all[i].key);
	}
	vc_topk_free(&topk);
	free(all);
}

static void test_matches_sort_with_ties(void **state)
{
	static const size_t ns[] = {0, 1, 2, 7, 100, 1000, 5000};
	static const size_t ks[] = {1, 2, 3, 10, 64, 999, 6000};
	static const unsigned levels[] = {1, 3, 50, 1000000};

	(void)state;
	rng_state = 7;
	for (size_t a = 0; a < sizeof(ns) / sizeof(ns[0]); a++)
		for (size_t b = 0; b < sizeof(ks) / sizeof(ks[0]); b++)
			for (size_t c = 0; c < sizeof(levels) / sizeof(levels[0]); c++)
				run_case(ns[a], ks[b], levels[c]);
}

static void test_threshold_and_order(void **state)
{
	vc_topk topk;

	(void)state;
	assert_int_equal(vc_topk_init(&topk, 3), VC_OK);
	assert_true(vc_topk_threshold(&topk) == -INFINITY);
	vc_topk_push(&topk, 1.0f, 10);
	vc_topk_push(&topk, 5.0f, 11);
	assert_true(vc_topk_threshold(&topk) == -INFINITY);
	vc_topk_push(&topk, 3.0f, 12);
	assert_true(vc_topk_threshold(&topk) == 1.0f);
	vc_topk_push(&topk, 0.5f, 13); /* worse than all: rejected */
	assert_true(vc_topk_threshold(&topk) == 1.0f);
	vc_topk_push(&topk, 1.0f, 9); /* equal score, smaller key: enters */
	assert_true(vc_topk_threshold(&topk) == 1.0f);
	vc_topk_push(&topk, 1.0f, 20); /* equal score, larger key: rejected */
	vc_topk_push(&topk, NAN, 1);   /* ignored */
	vc_topk_push(&topk, -INFINITY, 2);
	vc_topk_sort(&topk);
	assert_int_equal(topk.count, 3);
	assert_true(topk.items[0].score == 5.0f && topk.items[0].key == 11);
	assert_true(topk.items[1].score == 3.0f && topk.items[1].key == 12);
	assert_true(topk.items[2].score == 1.0f && topk.items[2].key == 9);
	vc_topk_free(&topk);
	assert_null(topk.items);
	vc_topk_free(NULL);
}

static void test_zero_k(void **state)
{
	vc_topk topk;

	(void)state;
	assert_int_equal(vc_topk_init(&topk, 0), VC_OK);
	vc_topk_push(&topk, 100.0f, 1);
	assert_int_equal(topk.count, 0);
	assert_true(vc_topk_threshold(&topk) == INFINITY);
	vc_topk_sort(&topk);
	vc_topk_free(&topk);
}

static void test_huge_k_fails_cleanly(void **state)
{
	vc_topk topk;

	(void)state;
	assert_int_equal(vc_topk_init(&topk, SIZE_MAX / 4), VC_ERR_TOO_BIG);
	assert_null(topk.items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matches_sort_with_ties),
	    cmocka_unit_test(test_threshold_and_order),
	    cmocka_unit_test(test_zero_k),
	    cmocka_unit_test(test_huge_k_fails_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
