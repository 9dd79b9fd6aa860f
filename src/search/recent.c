/* Merging the index's answer with an exact scan of the recent tier (chunks added after the index
 * was built): both lists are best first, so one merge pass keeps the best k. */
#include <stdlib.h>
#include <string.h>

#include "search/flat.h"
#include "search/recent.h"
#include "session/recent_tier.h"
#include "util/error_i.h"

/* Is public score a better than b for this metric (l2: smaller distance)? */
static bool better(vc_metric metric, float a, float b)
{
	return metric == VC_METRIC_L2 ? a < b : a > b;
}

static void add_stats(vc_query_stats *to, const vc_query_stats *from)
{
	to->chunks_read += from->chunks_read;
	to->bytes_read += from->bytes_read;
	to->frames_decrypted += from->frames_decrypted;
	to->cache_hits += from->cache_hits;
	to->vectors_scored += from->vectors_scored;
	to->frames_read += from->frames_read;
	to->lists_probed += from->lists_probed;
}

/* Merge @p a and @p b (each best first) into @p out, keeping k; hits move, the rest is freed. */
static vc_err merge(vc_metric metric, uint32_t k, vc_results *a, vc_results *b, vc_results *out)
{
	size_t total = a->count + b->count, n = total < k ? total : k;
	size_t i = 0, j = 0;

	out->hits = calloc(n ? n : 1, sizeof(vc_hit));
	if (out->hits == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for %zu results", n);
	while (out->count < n) {
		bool take_a = j >= b->count ||
			      (i < a->count && !better(metric, b->hits[j].score, a->hits[i].score));
		vc_hit *from = take_a ? &a->hits[i++] : &b->hits[j++];

		out->hits[out->count++] = *from;
		memset(from, 0, sizeof(*from));
	}
	return VC_OK;
}

vc_err vc_search_with_recent(vc_session *session, const vc_manifest *manifest,
			     const vc_query *query, vc_index_search_fn index_search,
			     vc_results *out)
{
	vc_results indexed = {0}, recent = {0};
	const vc_hnsw_tier *graph = NULL;
	vc_err err;

	err = index_search(session, manifest, query, &indexed);
	if (err != VC_OK || manifest->recent_chunks == 0) {
		*out = indexed;
		return err;
	}
	/* The recent tier's graph when the manifest has one, else an exact scan of its chunks. */
	err = vc_session_recent_tier(session, manifest, &graph);
	if (err == VC_OK && graph != NULL)
		err = vc_search_hnsw_tier(session, manifest, graph, query, &recent);
	else if (err == VC_OK)
		err = vc_search_flat_from(session, manifest, query,
					  vc_manifest_indexed_chunks(manifest), &recent);
	if (err == VC_OK) {
		memset(out, 0, sizeof(*out));
		err = merge(manifest->metric, query->k, &indexed, &recent, out);
	}
	if (err == VC_OK) {
		out->stats = indexed.stats;
		add_stats(&out->stats, &recent.stats);
		out->stats.elapsed_ns += recent.stats.elapsed_ns;
	}
	vc_results_free(&indexed);
	vc_results_free(&recent);
	return err;
}
