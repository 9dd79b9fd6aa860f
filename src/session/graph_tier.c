/* Graph objects (index/hnsw.bin of an HNSW session, index/recent-E.bin of the recent tier): read,
 * authenticate and decode one, and put back the rows a graph stored as links only leaves in its
 * chunks, so the vectors are stored once, in the chunks. */
#include <stdlib.h>

#include "format/chunk_codec.h"
#include "index/hnsw.h"
#include "session/graph_tier.h"
#include "session/session_i.h"
#include "util/error_i.h"

/* Copy node @p i's row out of @p chunk into the graph (the node names a frame and a row in it). */
static vc_err set_row(vc_hnsw_tier *tier, uint64_t i, const vc_chunk *chunk)
{
	const vc_hnsw_node_loc *n = &tier->map[i];
	const vc_frame_info *frame;

	if (n->frame_index < 1 || n->frame_index > chunk->frame_count)
		return vc_fail(
		    VC_ERR_CORRUPT, "graph node %llu names frame %u of chunk %u (%u frames)",
		    (unsigned long long)i, n->frame_index, n->chunk_index, chunk->frame_count);
	frame = &chunk->frames[n->frame_index - 1];
	if (n->row_in_frame >= frame->count)
		return vc_fail(VC_ERR_CORRUPT, "graph node %llu names row %u of a %u-row frame",
			       (unsigned long long)i, n->row_in_frame, frame->count);
	vc_hnsw_set_row(tier->hnsw, (uint32_t)i,
			chunk->vectors + (size_t)(frame->first + n->row_in_frame) * chunk->dim);
	return VC_OK;
}

/*
 * Every node's row, from the chunks: a chunk the cache holds is used there, the others are read
 * on their own and dropped (the graph keeps the rows; the cache stays for the hits' frames).
 * Nodes are taken chunk by chunk (a counting sort of the node -> chunk map), so each chunk is
 * read once whatever the order of the nodes, and only one is held at a time.
 */
static vc_err fill_rows(vc_session *session, const vc_manifest *manifest, vc_hnsw_tier *tier)
{
	size_t chunks = manifest->chunk_count;
	uint64_t *start = calloc(chunks + 1, sizeof(*start));
	uint32_t *order = malloc((tier->count ? tier->count : 1) * sizeof(*order));
	vc_err err = VC_OK;

	if (start == NULL || order == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory placing %llu graph rows",
			      (unsigned long long)tier->count);
		goto out;
	}
	/* decoding checked that every node names a chunk of the manifest */
	for (uint64_t i = 0; i < tier->count; i++)
		start[tier->map[i].chunk_index + 1]++;
	for (size_t c = 0; c < chunks; c++)
		start[c + 1] += start[c];
	for (uint64_t i = 0; i < tier->count; i++)
		order[start[tier->map[i].chunk_index]++] = (uint32_t)i;
	/* start[c] is now where chunk c's nodes end */
	for (size_t c = 0; c < chunks && err == VC_OK; c++) {
		uint64_t from = c == 0 ? 0 : start[c - 1];
		vc_chunk_loan loan;

		if (from == start[c])
			continue;
		err = vc_session_chunk_borrow(session, manifest, c, &loan);
		for (uint64_t k = from; k < start[c] && err == VC_OK; k++)
			err = set_row(tier, order[k], loan.chunk);
		vc_session_chunk_return(session, &loan);
	}
	if (err == VC_OK)
		tier->rows_missing = false;
out:
	free(start);
	free(order);
	return err;
}

vc_err vc_session_graph_load(vc_session *session, const vc_manifest *manifest, const char *path,
			     size_t first, size_t end, vc_hnsw_tier **out)
{
	vc_bytes plain;
	vc_err err;

	*out = NULL;
	err = vc_session_read_object(session, manifest, path, &plain);
	if (err != VC_OK)
		return err;
	err = vc_hnsw_tier_decode_chunks(plain.data, plain.len, manifest, first, end, out);
	vc_bytes_free(&plain);
	if (err != VC_OK)
		return vc_session_name_path(err, path);
	if ((*out)->rows_missing)
		err = fill_rows(session, manifest, *out);
	if (err != VC_OK) {
		vc_hnsw_tier_free(*out);
		*out = NULL;
		return vc_fail_context(err, "loading %s", path);
	}
	return VC_OK;
}
