/* Exact search: every vector of the current manifest is scored, one chunk at a time through the
 * session cache, and the best k (after threshold and filter) are returned. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "format/chunk_codec.h"
#include "search/distance.h"
#include "search/filter.h"
#include "search/flat.h"
#include "search/topk.h"
#include "session/session_i.h"
#include "session/tombstones.h"
#include "util/error_i.h"

/* Topk keys: chunk index in the high half, row in the low half. */
#define KEY(chunk, row) (((uint64_t)(chunk) << 32) | (uint64_t)(row))
#define KEY_CHUNK(key) ((size_t)((key) >> 32))
#define KEY_ROW(key) ((uint32_t)((key)&0xffffffffu))

/* Most threads one exact search uses, whatever the query asks. */
#define FLAT_MAX_THREADS 16u

/* What every scanning thread shares; read-only during the scan except the two atomics. */
typedef struct flat_search {
	vc_session *session;
	const vc_manifest *manifest;
	const vc_query *query;
	const float *vector; /* the query, normalised for cosine */
	float *normalised;
	vc_filter *filter;  /* matching is read-only, so threads share it */
	const vc_tombstones *deleted; /* rows never returned (NULL: none) */
	size_t first_chunk; /* chunks before it are left out (searched through an index) */
	size_t room;	    /* top-k heap size: min(k, total vectors) */
	atomic_size_t next; /* next chunk index to scan */
	atomic_bool failed; /* a thread failed: the others stop taking chunks */
} flat_search;

/* One scanning thread: its own scratch, heap and counters, merged after the scan. */
typedef struct flat_worker {
	flat_search *fs;
	float *scores; /* scratch: one score per row of the chunk being scanned */
	size_t scores_cap;
	vc_topk topk;
	vc_load_counters counters;
	uint64_t scored;
	vc_err err;
	char *message; /* a helper thread's failure message (messages are per thread) */
	pthread_t thread;
} flat_worker;

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
	return VC_OK;
}

static vc_err search_init(flat_search *fs)
{
	const vc_query *query = fs->query;
	/* k has no cap, but a heap never needs more room than there are vectors. */
	uint64_t total = fs->manifest->total_vectors;
	vc_err err = VC_OK;

	fs->room = total < query->k ? (size_t)total : query->k;
	if (fs->room == 0)
		fs->room = 1;
	atomic_init(&fs->next, fs->first_chunk);
	atomic_init(&fs->failed, false);
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
	if (query->filter != NULL)
		err = vc_filter_compile(query->filter, &fs->filter);
	if (err == VC_OK)
		err = vc_session_tombstones(fs->session, fs->manifest, &fs->deleted);
	return err;
}

static void search_free(flat_search *fs)
{
	vc_filter_free(fs->filter);
	free(fs->normalised);
}

static vc_err ensure_scores(flat_worker *w, size_t count)
{
	float *grown;

	if (count <= w->scores_cap)
		return VC_OK;
	grown = realloc(w->scores, count * sizeof(float));
	if (grown == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory scoring %zu vectors", count);
	w->scores = grown;
	w->scores_cap = count;
	return VC_OK;
}

/* The threshold is defined on the scores users see, so compare those. */
bool vc_search_threshold_ok(const vc_manifest *manifest, const vc_query *query, float score)
{
	float shown;

	if (!query->has_threshold)
		return true;
	shown = vc_score_public(manifest->metric, score);
	if (manifest->metric == VC_METRIC_L2)
		return shown <= query->threshold;
	return shown >= query->threshold;
}

vc_err vc_search_filter_ok(const vc_filter *filter, const vc_chunk *chunk, uint32_t row, bool *pass)
{
	*pass = true;
	if (filter != NULL) {
		const uint8_t *item = chunk->meta + chunk->meta_offset[row];
		size_t len = chunk->meta_offset[row + 1] - chunk->meta_offset[row];
		json_t *metadata = NULL;
		vc_err err = vc_meta_decode(item, len, &metadata);

		if (err != VC_OK)
			return vc_fail_context(err, "metadata of '%s'", chunk->ids[row]);
		*pass = vc_filter_match(filter, metadata);
		json_decref(metadata);
	}
	return VC_OK;
}

static vc_err offer_rows(flat_worker *w, size_t chunk_index, const vc_chunk *chunk,
			 const uint8_t *dead)
{
	vc_topk *topk = &w->topk;

	for (uint32_t row = 0; row < chunk->count; row++) {
		float score = w->scores[row];
		bool pass;
		vc_err err;

		if (isnan(score) || (dead != NULL && dead[row]))
			continue;
		/* A full heap keeps only strictly better scores: skip the rest before paying for
		 * the threshold conversion or a metadata decode. */
		if (topk->count == topk->k && score <= vc_topk_threshold(topk))
			continue;
		if (!vc_search_threshold_ok(w->fs->manifest, w->fs->query, score))
			continue;
		err = vc_search_filter_ok(w->fs->filter, chunk, row, &pass);
		if (err != VC_OK)
			return err;
		if (pass)
			vc_topk_push(topk, score, KEY(chunk_index, row));
	}
	return VC_OK;
}

static vc_err scan_chunk(flat_worker *w, size_t chunk_index)
{
	flat_search *fs = w->fs;
	const vc_chunk *chunk;
	const float *inv_norms;
	vc_cache_entry *entry;
	uint8_t *dead = NULL;
	vc_err err;

	err = vc_session_chunk_get_counted(fs->session, fs->manifest, chunk_index, &w->counters,
					   &entry);
	if (err != VC_OK)
		return err;
	chunk = vc_cache_entry_value(entry);
	inv_norms = vc_session_entry_inv_norms(entry);
	err = ensure_scores(w, chunk->count);
	if (err != VC_OK)
		goto out;
	vc_score_many(fs->manifest->metric, fs->vector, chunk->vectors, chunk->count, chunk->dim,
		      w->scores);
	if (inv_norms != NULL) {
		for (uint32_t row = 0; row < chunk->count; row++)
			w->scores[row] *= inv_norms[row];
	}
	w->scored += chunk->count;
	err = vc_tombstones_chunk_mask(fs->deleted, chunk, &dead);
	if (err == VC_OK)
		err = offer_rows(w, chunk_index, chunk, dead);
	free(dead);
out:
	/* Released at once: a thread holds one chunk, so the cache budget bounds memory. */
	vc_session_chunk_release(fs->session, entry);
	return err;
}

/* Take chunks in order from the shared counter until none is left or a thread failed. */
static void worker_run(flat_worker *w)
{
	flat_search *fs = w->fs;

	while (!atomic_load(&fs->failed)) {
		size_t index = atomic_fetch_add(&fs->next, 1);

		if (index >= fs->manifest->chunk_count)
			break;
		w->err = scan_chunk(w, index);
		if (w->err != VC_OK) {
			atomic_store(&fs->failed, true);
			break;
		}
	}
}

static void *worker_thread(void *arg)
{
	flat_worker *w = arg;

	worker_run(w);
	if (w->err != VC_OK)
		w->message = strdup(vc_last_error());
	return NULL;
}

static void worker_free(flat_worker *w)
{
	vc_topk_free(&w->topk);
	free(w->scores);
	free(w->message);
}

/* Threads to scan with: what the query asks (default one), never more than chunks. */
static size_t thread_count(const flat_search *fs)
{
	size_t n = fs->query->threads ? fs->query->threads : 1;

	if (n > FLAT_MAX_THREADS)
		n = FLAT_MAX_THREADS;
	if (n > fs->manifest->chunk_count - fs->first_chunk)
		n = fs->manifest->chunk_count - fs->first_chunk;
	return n ? n : 1;
}

/*
 * Scan every chunk with workers[0] (this thread) and up to count-1 helpers, then merge the
 * helpers' heaps into workers[0]. The heap's order is total (ties broken by key), so the
 * merged result does not depend on which thread scanned what.
 */
static vc_err scan_all(flat_search *fs, flat_worker *workers, size_t count)
{
	size_t started = 1;
	vc_err err = VC_OK;

	for (size_t i = 0; i < count && err == VC_OK; i++) {
		workers[i].fs = fs;
		err = vc_topk_init(&workers[i].topk, fs->room);
	}
	if (err != VC_OK)
		return err;
	/* A helper that cannot start only costs speed: its share goes to the others. */
	while (started < count && pthread_create(&workers[started].thread, NULL, worker_thread,
						 &workers[started]) == 0)
		started++;
	worker_run(&workers[0]);
	for (size_t i = 1; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	if (workers[0].err != VC_OK)
		return workers[0].err;
	for (size_t i = 1; i < started; i++) {
		flat_worker *w = &workers[i];

		if (w->err != VC_OK)
			return vc_fail(w->err, "%s",
				       w->message ? w->message : "exact search failed");
		for (size_t j = 0; j < w->topk.count; j++)
			vc_topk_push(&workers[0].topk, w->topk.items[j].score,
				     w->topk.items[j].key);
		workers[0].counters.loads += w->counters.loads;
		workers[0].counters.bytes += w->counters.bytes;
		workers[0].counters.frames += w->counters.frames;
		workers[0].counters.hits += w->counters.hits;
		workers[0].scored += w->scored;
	}
	return VC_OK;
}

static int compare_by_key(const void *a, const void *b, void *items)
{
	uint64_t ka = ((const vc_scored *)items)[*(const size_t *)a].key;
	uint64_t kb = ((const vc_scored *)items)[*(const size_t *)b].key;

	return ka < kb ? -1 : ka > kb;
}

vc_err vc_search_hits_by_key(vc_topk *topk, vc_results *out, size_t **order)
{
	size_t count;

	vc_topk_sort(topk);
	count = topk->count;
	out->hits = calloc(count ? count : 1, sizeof(vc_hit));
	*order = malloc((count ? count : 1) * sizeof(size_t));
	if (out->hits == NULL || *order == NULL) {
		free(*order);
		*order = NULL;
		return vc_fail(VC_ERR_NOMEM, "out of memory for %zu results", count);
	}
	out->count = count;
	for (size_t i = 0; i < count; i++)
		(*order)[i] = i;
	qsort_r(*order, count, sizeof(size_t), compare_by_key, (void *)topk->items);
	return VC_OK;
}

vc_err vc_search_fill_hit(const vc_manifest *manifest, const vc_chunk *chunk, uint32_t row,
			  float score, vc_hit *hit)
{
	const uint8_t *meta = chunk->meta + chunk->meta_offset[row];
	size_t meta_len = chunk->meta_offset[row + 1] - chunk->meta_offset[row];
	vc_err err;

	hit->score = vc_score_public(manifest->metric, score);
	hit->id = strdup(chunk->ids[row]);
	if (hit->id == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory building results");
	err = vc_meta_decode(meta, meta_len, &hit->metadata);
	if (err != VC_OK)
		return vc_fail_context(err, "metadata of '%s'", chunk->ids[row]);
	return VC_OK;
}

/* Hits best first; their chunks are taken again from the cache, each once, in chunk order. */
static vc_err build_hits(flat_search *fs, flat_worker *w, vc_results *out)
{
	const vc_scored *items;
	vc_cache_entry *entry = NULL;
	size_t held = SIZE_MAX;
	size_t *order;
	size_t count;
	vc_err err = VC_OK;

	err = vc_search_hits_by_key(&w->topk, out, &order);
	if (err != VC_OK)
		return err;
	items = w->topk.items;
	count = w->topk.count;
	for (size_t i = 0; i < count && err == VC_OK; i++) {
		const vc_scored *item = &items[order[i]];

		if (KEY_CHUNK(item->key) != held) {
			vc_session_chunk_release(fs->session, entry);
			entry = NULL;
			held = KEY_CHUNK(item->key);
			err = vc_session_chunk_get_counted(fs->session, fs->manifest, held,
							   &w->counters, &entry);
			if (err != VC_OK)
				break;
		}
		err = vc_search_fill_hit(fs->manifest, vc_cache_entry_value(entry),
					 KEY_ROW(item->key), item->score, &out->hits[order[i]]);
	}
	vc_session_chunk_release(fs->session, entry);
	free(order);
	return err;
}

vc_err vc_search_flat(vc_session *session, const vc_manifest *manifest, const vc_query *query,
		      vc_results *out)
{
	return vc_search_flat_from(session, manifest, query, 0, out);
}

vc_err vc_search_flat_from(vc_session *session, const vc_manifest *manifest,
			   const vc_query *query, size_t first_chunk, vc_results *out)
{
	uint64_t started = vc_session_now_ns();
	flat_search fs = {.session = session,
			  .manifest = manifest,
			  .query = query,
			  .first_chunk = first_chunk < manifest->chunk_count ? first_chunk
									: manifest->chunk_count};
	flat_worker workers[FLAT_MAX_THREADS];
	size_t count = 1;
	vc_err err;

	memset(out, 0, sizeof(*out));
	memset(workers, 0, sizeof(workers));
	err = search_init(&fs);
	if (err == VC_OK) {
		count = thread_count(&fs);
		err = scan_all(&fs, workers, count);
	}
	if (err == VC_OK)
		err = build_hits(&fs, &workers[0], out);
	if (err == VC_OK) {
		vc_load_counters_report(&workers[0].counters, &out->stats);
		out->stats.vectors_scored = workers[0].scored;
		out->stats.elapsed_ns = vc_session_now_ns() - started;
	}
	for (size_t i = 0; i < count; i++)
		worker_free(&workers[i]);
	search_free(&fs);
	if (err != VC_OK)
		vc_results_free(out);
	return err;
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
