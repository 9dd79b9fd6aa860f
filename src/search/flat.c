/* Exact search: every vector of the current manifest is scored, one chunk at a time through the
 * session cache, and the best k (after threshold and filter) are returned. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/chunk_codec.h"
#include "search/distance.h"
#include "search/flat.h"
#include "search/topk.h"
#include "session/session_i.h"
#include "util/error_i.h"

#if __has_include("search/filter.h")
#include "search/filter.h"
#define VC_HAVE_FILTER 1
#else
#define VC_HAVE_FILTER 0
#endif

/* Topk keys: chunk index in the high half, row in the low half. */
#define KEY(chunk, row) (((uint64_t)(chunk) << 32) | (uint64_t)(row))
#define KEY_CHUNK(key) ((size_t)((key) >> 32))
#define KEY_ROW(key) ((uint32_t)((key)&0xffffffffu))

typedef struct flat_search {
	vc_session *session;
	const vc_manifest *manifest;
	const vc_query *query;
	const float *vector; /* the query, normalised for cosine */
	float *normalised;
	float *scores; /* scratch: one score per row of the chunk being scanned */
	size_t scores_cap;
	vc_topk topk;
#if VC_HAVE_FILTER
	vc_filter *filter;
#endif
	vc_load_counters counters;
	uint64_t scored;
} flat_search;

vc_err vc_query_validate(const vc_manifest *manifest, const vc_query *query)
{
	if (query->vector == NULL || query->dim == 0)
		return vc_fail(VC_ERR_INVALID, "the query has no vector");
	if (query->dim != manifest->dim)
		return vc_fail(VC_ERR_INVALID, "query has %u dimensions, the session has %u",
			       query->dim, manifest->dim);
	if (query->k == 0)
		return vc_fail(VC_ERR_INVALID, "k must be at least 1");
	for (uint32_t i = 0; i < query->dim; i++) {
		if (!isfinite(query->vector[i]))
			return vc_fail(VC_ERR_INVALID,
				       "query value %u is not a finite number (NaN or infinity)",
				       i);
	}
	if (query->has_threshold && !isfinite(query->threshold))
		return vc_fail(VC_ERR_INVALID, "the threshold is not a finite number");
	if (query->filter != NULL && !VC_HAVE_FILTER)
		return vc_fail(VC_ERR_UNSUPPORTED,
			       "metadata filters are not supported by this build");
	return VC_OK;
}

static vc_err search_init(flat_search *fs)
{
	const vc_query *query = fs->query;
	/* k has no cap, but the heap never needs more room than there are vectors. */
	uint64_t room =
	    fs->manifest->total_vectors < query->k ? fs->manifest->total_vectors : query->k;
	vc_err err;

	fs->vector = query->vector;
	if (fs->manifest->metric == VC_METRIC_COSINE) {
		fs->normalised = malloc(query->dim * sizeof(float));
		if (fs->normalised == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory for the query");
		memcpy(fs->normalised, query->vector, query->dim * sizeof(float));
		if (!vc_normalize(fs->normalised, query->dim))
			return vc_fail(VC_ERR_INVALID, "the query vector is all zeros: cosine "
						       "similarity needs a direction");
		fs->vector = fs->normalised;
	}
#if VC_HAVE_FILTER
	if (query->filter != NULL) {
		err = vc_filter_compile(query->filter, &fs->filter);
		if (err != VC_OK)
			return err;
	}
#endif
	err = vc_topk_init(&fs->topk, room > 0 ? (size_t)room : 1);
	return err;
}

static void search_free(flat_search *fs)
{
	vc_topk_free(&fs->topk);
#if VC_HAVE_FILTER
	vc_filter_free(fs->filter);
#endif
	free(fs->scores);
	free(fs->normalised);
}

static vc_err ensure_scores(flat_search *fs, size_t count)
{
	float *grown;

	if (count <= fs->scores_cap)
		return VC_OK;
	grown = realloc(fs->scores, count * sizeof(float));
	if (grown == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory scoring %zu vectors", count);
	fs->scores = grown;
	fs->scores_cap = count;
	return VC_OK;
}

/* The threshold is defined on the scores users see, so compare those. */
static bool passes_threshold(const flat_search *fs, float score)
{
	float shown;

	if (!fs->query->has_threshold)
		return true;
	shown = vc_score_public(fs->manifest->metric, score);
	if (fs->manifest->metric == VC_METRIC_L2)
		return shown <= fs->query->threshold;
	return shown >= fs->query->threshold;
}

static vc_err passes_filter(flat_search *fs, const vc_chunk *chunk, uint32_t row, bool *pass)
{
	*pass = true;
#if VC_HAVE_FILTER
	if (fs->filter != NULL) {
		const uint8_t *item = chunk->meta + chunk->meta_offset[row];
		size_t len = chunk->meta_offset[row + 1] - chunk->meta_offset[row];
		json_t *metadata = NULL;
		vc_err err = vc_meta_decode(item, len, &metadata);

		if (err != VC_OK)
			return vc_fail_context(err, "metadata of '%s'", chunk->ids[row]);
		*pass = vc_filter_match(fs->filter, metadata);
		json_decref(metadata);
	}
#else
	(void)fs;
	(void)chunk;
	(void)row;
#endif
	return VC_OK;
}

static vc_err offer_rows(flat_search *fs, size_t chunk_index, const vc_chunk *chunk)
{
	vc_topk *topk = &fs->topk;

	for (uint32_t row = 0; row < chunk->count; row++) {
		float score = fs->scores[row];
		bool pass;
		vc_err err;

		if (isnan(score))
			continue;
		/* A full heap keeps only strictly better scores: skip the rest before paying for
		 * the threshold conversion or a metadata decode. */
		if (topk->count == topk->k && score <= vc_topk_threshold(topk))
			continue;
		if (!passes_threshold(fs, score))
			continue;
		err = passes_filter(fs, chunk, row, &pass);
		if (err != VC_OK)
			return err;
		if (pass)
			vc_topk_push(topk, score, KEY(chunk_index, row));
	}
	return VC_OK;
}

static vc_err scan_chunk(flat_search *fs, size_t chunk_index)
{
	const vc_chunk *chunk;
	const float *inv_norms;
	vc_cache_entry *entry;
	vc_err err;

	err = vc_session_chunk_get_counted(fs->session, fs->manifest, chunk_index, &fs->counters,
					   &entry);
	if (err != VC_OK)
		return err;
	chunk = vc_cache_entry_value(entry);
	inv_norms = vc_session_entry_inv_norms(entry);
	err = ensure_scores(fs, chunk->count);
	if (err != VC_OK)
		goto out;
	vc_score_many(fs->manifest->metric, fs->vector, chunk->vectors, chunk->count, chunk->dim,
		      fs->scores);
	if (inv_norms != NULL) {
		for (uint32_t row = 0; row < chunk->count; row++)
			fs->scores[row] *= inv_norms[row];
	}
	fs->scored += chunk->count;
	err = offer_rows(fs, chunk_index, chunk);
out:
	/* Released at once, so a scan holds one chunk and the cache budget bounds memory. */
	vc_session_chunk_release(fs->session, entry);
	return err;
}

static int compare_by_key(const void *a, const void *b, void *items)
{
	uint64_t ka = ((const vc_scored *)items)[*(const size_t *)a].key;
	uint64_t kb = ((const vc_scored *)items)[*(const size_t *)b].key;

	return ka < kb ? -1 : ka > kb;
}

static vc_err fill_hit(const flat_search *fs, const vc_chunk *chunk, const vc_scored *item,
		       vc_hit *hit)
{
	uint32_t row = KEY_ROW(item->key);
	const uint8_t *meta = chunk->meta + chunk->meta_offset[row];
	size_t meta_len = chunk->meta_offset[row + 1] - chunk->meta_offset[row];
	vc_err err;

	hit->score = vc_score_public(fs->manifest->metric, item->score);
	hit->id = strdup(chunk->ids[row]);
	if (hit->id == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory building results");
	err = vc_meta_decode(meta, meta_len, &hit->metadata);
	if (err != VC_OK)
		return vc_fail_context(err, "metadata of '%s'", chunk->ids[row]);
	return VC_OK;
}

/* Hits best first; their chunks are taken again from the cache, each once, in chunk order. */
static vc_err build_hits(flat_search *fs, vc_results *out)
{
	const vc_scored *items;
	vc_cache_entry *entry = NULL;
	size_t held = SIZE_MAX;
	size_t *order;
	size_t count;
	vc_err err = VC_OK;

	vc_topk_sort(&fs->topk);
	items = fs->topk.items;
	count = fs->topk.count;
	out->hits = calloc(count ? count : 1, sizeof(vc_hit));
	order = malloc((count ? count : 1) * sizeof(size_t));
	if (out->hits == NULL || order == NULL) {
		free(order);
		return vc_fail(VC_ERR_NOMEM, "out of memory for %zu results", count);
	}
	out->count = count;
	for (size_t i = 0; i < count; i++)
		order[i] = i;
	qsort_r(order, count, sizeof(size_t), compare_by_key, (void *)items);
	for (size_t i = 0; i < count && err == VC_OK; i++) {
		const vc_scored *item = &items[order[i]];

		if (KEY_CHUNK(item->key) != held) {
			vc_session_chunk_release(fs->session, entry);
			entry = NULL;
			held = KEY_CHUNK(item->key);
			err = vc_session_chunk_get_counted(fs->session, fs->manifest, held,
							   &fs->counters, &entry);
			if (err != VC_OK)
				break;
		}
		err = fill_hit(fs, vc_cache_entry_value(entry), item, &out->hits[order[i]]);
	}
	vc_session_chunk_release(fs->session, entry);
	free(order);
	return err;
}

vc_err vc_search_flat(vc_session *session, const vc_manifest *manifest, const vc_query *query,
		      vc_results *out)
{
	uint64_t started = vc_session_now_ns();
	flat_search fs = {.session = session, .manifest = manifest, .query = query};
	vc_err err;

	memset(out, 0, sizeof(*out));
	err = search_init(&fs);
	for (size_t i = 0; i < manifest->chunk_count && err == VC_OK; i++)
		err = scan_chunk(&fs, i);
	if (err == VC_OK)
		err = build_hits(&fs, out);
	search_free(&fs);
	if (err != VC_OK) {
		vc_results_free(out);
		return err;
	}
	out->stats.chunks_read = fs.counters.loads;
	out->stats.bytes_read = fs.counters.bytes;
	out->stats.frames_decrypted = fs.counters.frames;
	out->stats.cache_hits = fs.counters.hits;
	out->stats.vectors_scored = fs.scored;
	out->stats.elapsed_ns = vc_session_now_ns() - started;
	return VC_OK;
}

void vc_results_free(vc_results *results)
{
	if (results == NULL)
		return;
	for (size_t i = 0; i < results->count; i++) {
		free(results->hits[i].id);
		json_decref(results->hits[i].metadata);
	}
	free(results->hits);
	memset(results, 0, sizeof(*results));
}
