/* HNSW sessions: decoding index/hnsw.bin and searching the graph, reading the hits' rows (and,
 * with a filter, the candidates' metadata) from their chunk frames through the cache. */
#include <stdlib.h>
#include <string.h>

#include "index/le_i.h"
#include "search/distance.h"
#include "search/filter.h"
#include "search/flat.h"
#include "search/hnsw_search.h"
#include "search/topk.h"
#include "session/session_i.h"
#include "session/tombstones.h"
#include "util/error_i.h"

#define TIER_MAGIC "VCHNSWM\1"
#define NODE_BYTES 24u

vc_err vc_hnsw_tier_encode(vc_hnsw *hnsw, const vc_hnsw_node_loc *map, uint64_t count, bool vectors,
			   vc_bytes *out)
{
	vc_bytes graph = {0};
	vc_err err = vc_hnsw_serialize_graph(hnsw, vectors, &graph);

	if (err == VC_OK)
		err = vc_bytes_append(out, TIER_MAGIC, 8);
	if (err == VC_OK)
		err = vc_le_put_u64(out, count);
	if (err == VC_OK)
		err = vc_le_put_u64(out, graph.len);
	if (err == VC_OK)
		err = vc_bytes_append(out, graph.data, graph.len);
	for (uint64_t i = 0; i < count && err == VC_OK; i++) {
		err = vc_le_put_u32(out, map[i].chunk_index);
		if (err == VC_OK)
			err = vc_le_put_u32(out, map[i].frame_index);
		if (err == VC_OK)
			err = vc_le_put_u32(out, map[i].row_in_frame);
		if (err == VC_OK)
			err = vc_le_put_u32(out, map[i].sealed_len);
		if (err == VC_OK)
			err = vc_le_put_u64(out, map[i].offset);
	}
	vc_bytes_free(&graph);
	return err;
}

void vc_hnsw_tier_free(vc_hnsw_tier *tier)
{
	if (tier == NULL)
		return;
	vc_hnsw_free(tier->hnsw);
	free(tier->map);
	free(tier);
}

static vc_err corrupt(const char *what)
{
	return vc_fail(VC_ERR_CORRUPT, "index/hnsw.bin: %s", what);
}

static vc_err read_map(vc_le_reader *r, vc_hnsw_tier *t, const vc_manifest *m, size_t first,
		       size_t end)
{
	for (uint64_t i = 0; i < t->count; i++) {
		vc_hnsw_node_loc *n = &t->map[i];
		const vc_object_ref *ref;

		vc_le_get_u32(r, &n->chunk_index);
		vc_le_get_u32(r, &n->frame_index);
		vc_le_get_u32(r, &n->row_in_frame);
		vc_le_get_u32(r, &n->sealed_len);
		vc_le_get_u64(r, &n->offset);
		if (n->chunk_index < first || n->chunk_index >= end)
			return corrupt("a node names a chunk the graph does not cover");
		ref = &m->chunks[n->chunk_index].object;
		if (n->frame_index == 0 || n->frame_index >= ref->frame_count ||
		    n->offset > ref->byte_size || n->sealed_len > ref->byte_size - n->offset)
			return corrupt("a node names a frame outside its chunk");
	}
	return VC_OK;
}

vc_err vc_hnsw_tier_decode_chunks(const uint8_t *data, size_t len, const vc_manifest *manifest,
				  size_t first, size_t end, vc_hnsw_tier **out)
{
	uint64_t rows = 0;
	vc_le_reader r = {data, len};
	bool vectors = false;
	uint64_t graph_len = 0;
	uint8_t magic[8];
	vc_hnsw_tier *t;
	vc_err err;

	*out = NULL;
	if (end > manifest->chunk_count || first > end)
		return corrupt("covers chunks the manifest does not list");
	for (size_t c = first; c < end; c++)
		rows += manifest->chunks[c].vector_count;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory loading index/hnsw.bin");
	if (!vc_le_get_bytes(&r, magic, 8) || memcmp(magic, TIER_MAGIC, 8) != 0 ||
	    !vc_le_get_u64(&r, &t->count) || !vc_le_get_u64(&r, &graph_len) || graph_len > r.left ||
	    t->count != rows || t->count > (r.left - graph_len) / NODE_BYTES ||
	    t->count * NODE_BYTES != r.left - graph_len) {
		err = corrupt("sizes do not match the object or the manifest");
		goto fail;
	}
	err = vc_hnsw_deserialize_graph(r.p, (size_t)graph_len, &vectors, &t->hnsw);
	t->rows_missing = !vectors;
	if (err != VC_OK)
		goto fail;
	r.p += graph_len;
	r.left -= graph_len;
	if (vc_hnsw_count(t->hnsw) != t->count || vc_hnsw_dim(t->hnsw) != manifest->dim ||
	    vc_hnsw_metric(t->hnsw) != manifest->metric) {
		err = corrupt("graph does not match the session (nodes, dimension or metric)");
		goto fail;
	}
	t->map = malloc((t->count + 1) * sizeof(*t->map));
	if (t->map == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory loading index/hnsw.bin");
		goto fail;
	}
	err = read_map(&r, t, manifest, first, end);
	if (err != VC_OK)
		goto fail;
	t->memory_bytes = sizeof(*t) + vc_hnsw_memory(t->hnsw) + t->count * sizeof(*t->map);
	*out = t;
	return VC_OK;
fail:
	vc_hnsw_tier_free(t);
	return err;
}

/* The frame holding node @p node, through the cache. */
static vc_err node_frame(vc_session *session, const vc_manifest *m, const vc_hnsw_tier *tier,
			 uint64_t node, vc_load_counters *counters, vc_cache_entry **entry)
{
	const vc_hnsw_node_loc *n = &tier->map[node];
	const vc_object_ref *ref = &m->chunks[n->chunk_index].object;
	vc_frame_hint hint = {.offset = n->offset, .sealed_len = n->sealed_len, .rows = 0};

	/* Without a recorded header hash the chunk's header is fetched to locate the frame. */
	if (!ref->has_header_hash)
		return vc_session_frame_get(session, m, n->chunk_index, n->frame_index, NULL,
					    counters, entry);
	hint.header_hash = ref->header_hash;
	return vc_session_frame_get(session, m, n->chunk_index, n->frame_index, &hint, counters,
				    entry);
}

typedef struct hnsw_search {
	vc_session *session;
	const vc_manifest *manifest;
	const vc_query *query;
	const vc_hnsw_tier *tier;
	vc_filter *filter;
	const vc_tombstones *deleted; /* nodes never returned (NULL: none) */
	size_t room;		      /* min(k, vectors) */
	vc_scored *candidates;	      /* the graph's answer, best first */
	vc_scored *kept;	      /* candidates that passed, best first */
	size_t kept_count;
	vc_load_counters counters;
	uint64_t scored;
} hnsw_search;

/* Does candidate @p c pass the threshold and the filter (its metadata read from its frame)? */
static vc_err candidate_passes(hnsw_search *s, const vc_scored *c, bool *pass)
{
	const vc_hnsw_node_loc *n = &s->tier->map[c->key];
	vc_cache_entry *entry;
	const vc_chunk *frame;
	vc_err err;

	*pass = vc_search_threshold_ok(s->manifest, s->query, c->score) &&
		!vc_tombstones_has(s->deleted, s->manifest->chunks[n->chunk_index].chunk_id,
				   n->frame_index, n->row_in_frame);
	if (!*pass || s->filter == NULL)
		return VC_OK;
	err = node_frame(s->session, s->manifest, s->tier, c->key, &s->counters, &entry);
	if (err != VC_OK)
		return err;
	frame = vc_cache_entry_value(entry);
	if (n->row_in_frame >= frame->count)
		err = vc_fail(VC_ERR_CORRUPT, "index/hnsw.bin: node %llu names a missing row",
			      (unsigned long long)c->key);
	else
		err = vc_search_filter_ok(s->filter, frame, n->row_in_frame, pass);
	vc_session_chunk_release(s->session, entry);
	return err;
}

/*
 * Ask the graph for @p want candidates and keep those that pass. Deleted-or-refused nodes are
 * traversed, not returned, so a post-filter over a candidate list that grows fourfold until room
 * hits pass (or every node is a candidate, which makes the graph search exact) honours k.
 */
static vc_err collect(hnsw_search *s)
{
	uint32_t ef = s->query->ef ? s->query->ef : s->manifest->index.ef_search;
	uint64_t total = s->tier->count;
	uint64_t want = s->room;
	vc_err err = VC_OK;

	for (;;) {
		size_t found = 0;
		vc_scored *grown = realloc(s->candidates, want * sizeof(*grown));

		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory for %llu candidates",
				       (unsigned long long)want);
		s->candidates = grown;
		/* ef 0: the graph's own breadth (a recent tier's in an IVF session, whose
		 * manifest calibrates none); the search widens it to at least want */
		err = vc_hnsw_search(s->tier->hnsw, s->query->vector, want, ef, NULL, NULL,
				     s->candidates, &found);
		if (err != VC_OK)
			return err;
		s->scored += found;
		s->kept_count = 0;
		for (size_t i = 0; i < found && s->kept_count < s->room && err == VC_OK; i++) {
			bool pass;

			err = candidate_passes(s, &s->candidates[i], &pass);
			if (err == VC_OK && pass)
				s->kept[s->kept_count++] = s->candidates[i];
		}
		if (err != VC_OK || s->kept_count >= s->room || want >= total)
			return err;
		want = want * 4 < total ? want * 4 : total;
	}
}

static vc_err build_hits(hnsw_search *s, vc_results *out)
{
	vc_err err = VC_OK;

	out->hits = calloc(s->kept_count ? s->kept_count : 1, sizeof(vc_hit));
	if (out->hits == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for %zu results", s->kept_count);
	out->count = s->kept_count;
	for (size_t i = 0; i < s->kept_count && err == VC_OK; i++) {
		const vc_hnsw_node_loc *n = &s->tier->map[s->kept[i].key];
		vc_cache_entry *entry;
		const vc_chunk *frame;

		err = node_frame(s->session, s->manifest, s->tier, s->kept[i].key, &s->counters,
				 &entry);
		if (err != VC_OK)
			break;
		frame = vc_cache_entry_value(entry);
		if (n->row_in_frame >= frame->count)
			err = vc_fail(VC_ERR_CORRUPT, "index/hnsw.bin: node names a missing row");
		else
			err = vc_search_fill_hit(s->manifest, frame, n->row_in_frame,
						 s->kept[i].score, &out->hits[i]);
		vc_session_chunk_release(s->session, entry);
	}
	return err;
}

vc_err vc_search_hnsw(vc_session *session, const vc_manifest *manifest, const vc_query *query,
		      vc_results *out)
{
	const vc_hnsw_tier *tier;
	vc_err err;

	memset(out, 0, sizeof(*out));
	err = vc_session_hnsw_tier(session, manifest, &tier);
	if (err != VC_OK)
		return err;
	return vc_search_hnsw_tier(session, manifest, tier, query, out);
}

vc_err vc_search_hnsw_tier(vc_session *session, const vc_manifest *manifest,
			   const vc_hnsw_tier *tier, const vc_query *query, vc_results *out)
{
	uint64_t started = vc_session_now_ns();
	hnsw_search s = {.session = session, .manifest = manifest, .query = query, .tier = tier};
	vc_err err;

	memset(out, 0, sizeof(*out));
	err = vc_session_tombstones(session, manifest, &s.deleted);
	if (err != VC_OK)
		return err;
	s.room = manifest->total_vectors < query->k ? (size_t)manifest->total_vectors : query->k;
	s.kept = malloc((s.room ? s.room : 1) * sizeof(*s.kept));
	if (s.kept == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for %zu results", s.room);
	if (query->filter != NULL)
		err = vc_filter_compile(query->filter, &s.filter);
	if (err == VC_OK)
		err = collect(&s);
	if (err == VC_OK)
		err = build_hits(&s, out);
	if (err == VC_OK) {
		vc_load_counters_report(&s.counters, &out->stats);
		out->stats.vectors_scored = s.scored;
		out->stats.elapsed_ns = vc_session_now_ns() - started;
	}
	vc_filter_free(s.filter);
	free(s.candidates);
	free(s.kept);
	if (err != VC_OK)
		vc_results_free(out);
	return err;
}
