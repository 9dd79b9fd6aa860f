/*
 * Bounded top-k selection: a min-heap whose root is the worst kept item, so
 * a candidate costs one comparison unless it enters.
 */
#include "search/topk.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/error_i.h"

/*
 * Total order: higher score first, then lower key. Ties therefore resolve
 * the same way whatever order candidates arrive in, which keeps results
 * reproducible across index types and thread interleavings.
 */
static inline int worse(const vc_scored *a, const vc_scored *b)
{
	if (a->score != b->score)
		return a->score < b->score;
	return a->key > b->key;
}

static void sift_down(vc_scored *h, size_t n, size_t i)
{
	vc_scored item = h[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && worse(&h[c + 1], &h[c]))
			c++;
		if (!worse(&h[c], &item))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = item;
}

static void sift_up(vc_scored *h, size_t i)
{
	vc_scored item = h[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!worse(&item, &h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = item;
}

vc_err vc_topk_init(vc_topk *topk, size_t k)
{
	topk->k = k;
	topk->count = 0;
	topk->items = NULL;
	if (k == 0)
		return VC_OK;
	if (k > SIZE_MAX / sizeof(vc_scored))
		return vc_fail(VC_ERR_TOO_BIG, "top-k of %zu results is too large", k);
	topk->items = malloc(k * sizeof(vc_scored));
	if (topk->items == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory allocating top-%zu results", k);
	return VC_OK;
}

void vc_topk_free(vc_topk *topk)
{
	if (topk == NULL)
		return;
	free(topk->items);
	topk->items = NULL;
	topk->count = 0;
	topk->k = 0;
}

void vc_topk_push(vc_topk *topk, float score, uint64_t key)
{
	vc_scored cand = {.score = score, .key = key};

	/* A NaN would break the heap order; it can never be a meaningful hit. */
	if (isnan(score))
		return;
	if (topk->count < topk->k) {
		topk->items[topk->count] = cand;
		sift_up(topk->items, topk->count);
		topk->count++;
		return;
	}
	if (topk->k == 0 || !worse(&topk->items[0], &cand))
		return;
	topk->items[0] = cand;
	sift_down(topk->items, topk->count, 0);
}

float vc_topk_threshold(const vc_topk *topk)
{
	if (topk->k == 0)
		return INFINITY;
	if (topk->count < topk->k)
		return -INFINITY;
	return topk->items[0].score;
}

void vc_topk_sort(vc_topk *topk)
{
	size_t n = topk->count;

	/* Heapsort with a min-heap leaves the array best first. */
	while (n > 1) {
		vc_scored worst = topk->items[0];

		n--;
		topk->items[0] = topk->items[n];
		topk->items[n] = worst;
		sift_down(topk->items, n, 0);
	}
}
