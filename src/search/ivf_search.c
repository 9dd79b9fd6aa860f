/* IVF search: score the query against the centroids, then scan the probed lists' frames (each
 * one range request, authenticated with its chunk's header hash from the directory). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/ivf_dir.h"
#include "search/distance.h"
#include "search/filter.h"
#include "search/flat.h"
#include "search/ivf_search.h"
#include "search/topk.h"
#include "session/session_i.h"
#include "session/tombstones.h"
#include "util/error_i.h"

/* Topk keys: directory segment in the high half, row within its frame in the low half. */
#define KEY(segment, row) (((uint64_t)(segment) << 32) | (uint64_t)(row))
#define KEY_SEGMENT(key) ((uint64_t)((key) >> 32))
#define KEY_ROW(key) ((uint32_t)((key)&0xffffffffu))

typedef struct ivf_search {
	vc_session *session;
	const vc_manifest *manifest;
	const vc_query *query;
	const vc_ivf_dir *dir;
	const float *vector; /* normalised for cosine */
	float *normalised;
	vc_filter *filter;
	const vc_tombstones *deleted; /* rows never returned (NULL: none) */
	size_t room; /* min(k, vectors) */
	vc_topk topk;
	float *scores;
	size_t scores_cap;
	vc_scored *probe; /* room for every list */
	vc_load_counters counters;
	uint64_t scored;
	uint64_t lists;
} ivf_search;

static vc_err search_init(ivf_search *s)
{
	const vc_query *query = s->query;
	uint64_t total = s->manifest->total_vectors;
	vc_err err;

	err = vc_session_ivf_dir(s->session, s->manifest, &s->dir);
	if (err == VC_OK)
		err = vc_session_tombstones(s->session, s->manifest, &s->deleted);
	if (err != VC_OK)
		return err;
	s->room = total < query->k ? (size_t)total : query->k;
	if (s->room == 0)
		s->room = 1;
	s->vector = query->vector;
	if (s->manifest->metric == VC_METRIC_COSINE) {
		s->normalised = malloc(query->dim * sizeof(float));
		if (s->normalised == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory for the query");
		memcpy(s->normalised, query->vector, query->dim * sizeof(float));
		if (!vc_normalize(s->normalised, query->dim))
			return vc_fail(VC_ERR_INVALID, "the query vector is all zeros: cosine "
						       "similarity needs a direction");
		s->vector = s->normalised;
	}
	s->probe = malloc(s->dir->nlist * sizeof(vc_scored));
	if (s->probe == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory probing %u lists", s->dir->nlist);
	if (query->filter != NULL) {
		err = vc_filter_compile(query->filter, &s->filter);
		if (err != VC_OK)
			return err;
	}
	return vc_topk_init(&s->topk, s->room);
}

static void search_free(ivf_search *s)
{
	vc_topk_free(&s->topk);
	vc_filter_free(s->filter);
	free(s->normalised);
	free(s->scores);
	free(s->probe);
}

static void segment_hint(const vc_ivf_dir *dir, uint64_t segment, vc_frame_hint *hint)
{
	const vc_ivf_segment *seg = &dir->segments[segment];

	hint->offset = seg->offset;
	hint->sealed_len = seg->sealed_len;
	hint->rows = seg->rows;
	hint->header_hash = dir->header_hashes[seg->chunk_index];
}

static vc_err offer_rows(ivf_search *s, uint64_t segment, const vc_chunk *frame)
{
	uint32_t frame_index = s->dir->segments[segment].frame_index;
	bool any_dead = vc_tombstones_chunk_any(s->deleted, frame->chunk_id);

	for (uint32_t row = 0; row < frame->count; row++) {
		float score = s->scores[row];
		bool pass;
		vc_err err;

		if (isnan(score))
			continue;
		if (any_dead && vc_tombstones_has(s->deleted, frame->chunk_id, frame_index, row))
			continue;
		if (s->topk.count == s->topk.k && score <= vc_topk_threshold(&s->topk))
			continue;
		if (!vc_search_threshold_ok(s->manifest, s->query, score))
			continue;
		err = vc_search_filter_ok(s->filter, frame, row, &pass);
		if (err != VC_OK)
			return err;
		if (pass)
			vc_topk_push(&s->topk, score, KEY(segment, row));
	}
	return VC_OK;
}

static vc_err scan_segment(ivf_search *s, uint64_t segment)
{
	const vc_ivf_segment *seg = &s->dir->segments[segment];
	const vc_chunk *frame;
	const float *inv_norms;
	vc_cache_entry *entry;
	vc_frame_hint hint;
	vc_err err;

	if (seg->rows == 0)
		return VC_OK;
	segment_hint(s->dir, segment, &hint);
	err = vc_session_frame_get(s->session, s->manifest, seg->chunk_index, seg->frame_index,
				   &hint, &s->counters, &entry);
	if (err != VC_OK)
		return err;
	frame = vc_cache_entry_value(entry);
	inv_norms = vc_session_entry_inv_norms(entry);
	if (frame->count > s->scores_cap) {
		float *grown = realloc(s->scores, frame->count * sizeof(float));

		if (grown == NULL) {
			vc_session_chunk_release(s->session, entry);
			return vc_fail(VC_ERR_NOMEM, "out of memory scoring %u vectors",
				       frame->count);
		}
		s->scores = grown;
		s->scores_cap = frame->count;
	}
	vc_score_many(s->manifest->metric, s->vector, frame->vectors, frame->count, frame->dim,
		      s->scores);
	if (inv_norms != NULL) {
		for (uint32_t row = 0; row < frame->count; row++)
			s->scores[row] *= inv_norms[row];
	}
	s->scored += frame->count;
	err = offer_rows(s, segment, frame);
	vc_session_chunk_release(s->session, entry);
	return err;
}

/* Probe nprobe lists; widen (double) while fewer than room hits were found. */
static vc_err probe_lists(ivf_search *s)
{
	uint32_t nlist = s->dir->nlist;
	uint32_t nprobe = s->query->nprobe ? s->query->nprobe : s->manifest->index.nprobe;
	size_t done = 0, count = 0;
	vc_err err = VC_OK;

	if (nprobe == 0)
		nprobe = 1;
	for (;;) {
		if (nprobe > nlist)
			nprobe = nlist;
		/* Probe order is deterministic, so a wider probe starts with the lists done. */
		vc_ivf_probe(s->dir->ivf, s->vector, nprobe, s->probe, &count);
		for (size_t i = done; i < count && err == VC_OK; i++) {
			uint32_t list = (uint32_t)s->probe[i].key;

			for (uint64_t g = s->dir->first[list];
			     g < s->dir->first[list + 1] && err == VC_OK; g++)
				err = scan_segment(s, g);
			s->lists++;
		}
		if (err != VC_OK)
			return err;
		done = count;
		if (s->topk.count >= s->room || done >= nlist)
			return VC_OK;
		nprobe = nprobe > nlist / 2 ? nlist : nprobe * 2;
	}
}

/* Hits best first; each frame taken again from the cache once, in segment order. */
static vc_err build_hits(ivf_search *s, vc_results *out)
{
	vc_cache_entry *entry = NULL;
	uint64_t held = UINT64_MAX;
	const vc_scored *items;
	size_t count, *order;
	vc_err err = VC_OK;

	err = vc_search_hits_by_key(&s->topk, out, &order);
	if (err != VC_OK)
		return err;
	items = s->topk.items;
	count = s->topk.count;
	for (size_t i = 0; i < count && err == VC_OK; i++) {
		const vc_scored *item = &items[order[i]];

		if (KEY_SEGMENT(item->key) != held) {
			const vc_ivf_segment *seg;
			vc_frame_hint hint;

			vc_session_chunk_release(s->session, entry);
			entry = NULL;
			held = KEY_SEGMENT(item->key);
			seg = &s->dir->segments[held];
			segment_hint(s->dir, held, &hint);
			err = vc_session_frame_get(s->session, s->manifest, seg->chunk_index,
						   seg->frame_index, &hint, &s->counters, &entry);
			if (err != VC_OK)
				break;
		}
		err = vc_search_fill_hit(s->manifest, vc_cache_entry_value(entry),
					 KEY_ROW(item->key), item->score, &out->hits[order[i]]);
	}
	vc_session_chunk_release(s->session, entry);
	free(order);
	return err;
}

vc_err vc_search_ivf(vc_session *session, const vc_manifest *manifest, const vc_query *query,
		     vc_results *out)
{
	uint64_t started = vc_session_now_ns();
	ivf_search s = {.session = session, .manifest = manifest, .query = query};
	vc_err err;

	memset(out, 0, sizeof(*out));
	err = search_init(&s);
	if (err == VC_OK)
		err = probe_lists(&s);
	if (err == VC_OK)
		err = build_hits(&s, out);
	if (err == VC_OK) {
		vc_load_counters_report(&s.counters, &out->stats);
		out->stats.vectors_scored = s.scored;
		out->stats.lists_probed = s.lists;
		out->stats.elapsed_ns = vc_session_now_ns() - started;
	}
	search_free(&s);
	if (err != VC_OK)
		vc_results_free(out);
	return err;
}
