/* Bounded top-k selection over (score, key) pairs; larger score is better. */
#ifndef VC_TOPK_H
#define VC_TOPK_H

#include <stddef.h>
#include <stdint.h>

#include "vchunk/error.h"

typedef struct vc_scored {
	float score;
	uint64_t key; /**< caller's encoding of where the vector lives */
} vc_scored;

/** A min-heap of the best k seen so far. Not thread-safe: one per search. */
typedef struct vc_topk {
	size_t k;
	size_t count;
	vc_scored *items;
} vc_topk;

vc_err vc_topk_init(vc_topk *topk, size_t k);
void vc_topk_free(vc_topk *topk);

/**
 * Offer a candidate; kept if the heap is not full or it beats the worst.
 * Order: higher score first, equal scores by lower key, so ties resolve the
 * same whatever the arrival order. NaN scores are ignored.
 */
void vc_topk_push(vc_topk *topk, float score, uint64_t key);

/**
 * Score of the worst kept item (-INFINITY while not full, +INFINITY if k is
 * 0): a candidate scoring below it cannot enter; an equal one enters only
 * with a smaller key.
 */
float vc_topk_threshold(const vc_topk *topk);

/** Sort the kept items best first, in place (the heap is consumed). */
void vc_topk_sort(vc_topk *topk);

#endif
