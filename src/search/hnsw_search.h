/* HNSW sessions: the graph object index/hnsw.bin (graph + node -> row map) and search over it. */
#ifndef VC_HNSW_SEARCH_H
#define VC_HNSW_SEARCH_H

#include "index/hnsw.h"
#include "vchunk/session.h"

/** Where node i's row lies: a frame of a chunk, located for one range request. */
typedef struct vc_hnsw_node_loc {
	uint32_t chunk_index;
	uint32_t frame_index;
	uint32_t row_in_frame;
	uint32_t sealed_len;
	uint64_t offset;
} vc_hnsw_node_loc;

/** A loaded graph tier; shared read-only by searches (the graph locks itself). */
typedef struct vc_hnsw_tier {
	vc_hnsw *hnsw;
	uint64_t count;
	vc_hnsw_node_loc *map;
	size_t memory_bytes;
	bool rows_missing; /* decoded without its vectors: fill them in from the chunks */
} vc_hnsw_tier;

/**
 * Encode index/hnsw.bin (appended to @p out). Layout, little-endian: magic
 * "VCHNSWM\1" (8), u64 node count N, u64 length L of the graph, the graph
 * (vc_hnsw_serialize_graph, with or without its @p vectors), then N node
 * entries of 24 bytes: u32 chunk index, u32 frame, u32 row within the frame,
 * u32 sealed length, u64 offset.
 */
vc_err vc_hnsw_tier_encode(vc_hnsw *hnsw, const vc_hnsw_node_loc *map, uint64_t count, bool vectors,
			   vc_bytes *out);

/**
 * Decode from untrusted bytes a graph over the rows of chunks [first, end)
 * of @p manifest (an HNSW session's graph: the indexed chunks; the recent
 * tier's: the last recent_chunks chunks) and check every entry against it:
 * the node count must equal their rows. A graph stored without its vectors
 * comes back with tier->rows_missing set: the caller puts the rows back
 * before any search (vc_session_graph_load does).
 */
vc_err vc_hnsw_tier_decode_chunks(const uint8_t *data, size_t len, const vc_manifest *manifest,
				  size_t first, size_t end, vc_hnsw_tier **out);

void vc_hnsw_tier_free(vc_hnsw_tier *tier);

/** vc_hnsw_tier_free for a void pointer (a snapshot slot's free function). */
void vc_hnsw_tier_free_any(void *tier);

/**
 * Search an HNSW session (query validated): the graph with ef (query's, else
 * the manifest's), each candidate's row read from its frame through the
 * cache; a filter or threshold is applied to the candidates, and while
 * fewer than min(k, vectors) pass, the candidate count grows fourfold up to
 * every node (then the answer is exact). Thread-safe.
 */
vc_err vc_search_hnsw(vc_session *session, const vc_manifest *manifest, const vc_query *query,
		      vc_results *out);

/** As vc_search_hnsw over @p tier (a graph of @p manifest's snapshot, e.g. its recent tier). */
vc_err vc_search_hnsw_tier(vc_session *session, const vc_manifest *manifest,
			   const vc_hnsw_tier *tier, const vc_query *query, vc_results *out);

#endif
