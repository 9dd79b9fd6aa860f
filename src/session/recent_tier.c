/* The recent tier's graph (index/recent-<epoch>.bin): an HNSW graph over the rows of the chunks
 * added since the index was built, loaded with each snapshot like the other index objects. It is
 * stored without its vectors (they are the recent chunks' rows), so a commit rewrites links
 * only; loading puts the rows back from the chunks. */
#include <string.h>

#include "format/chunk_codec.h"
#include "index/hnsw.h"
#include "search/hnsw_search.h"
#include "session/recent_tier.h"
#include "session/session_i.h"
#include "util/error_i.h"

const vc_object_ref *vc_recent_tier_ref(const vc_manifest *manifest)
{
	size_t prefix = strlen(VC_RECENT_TIER_PREFIX);

	for (size_t i = 0; i < manifest->object_count; i++)
		if (strncmp(manifest->objects[i].path, VC_RECENT_TIER_PREFIX, prefix) == 0)
			return &manifest->objects[i];
	return NULL;
}

/* Put each node's row back into a graph stored without them, from its chunk (through the
 * cache: the nodes of one chunk are consecutive, so each chunk is fetched once). */
static vc_err fill_rows(vc_session *session, const vc_manifest *manifest, vc_hnsw_tier *tier)
{
	vc_cache_entry *entry = NULL;
	const vc_chunk *chunk = NULL;
	uint32_t held = UINT32_MAX;
	vc_err err = VC_OK;

	for (uint64_t i = 0; i < tier->count && err == VC_OK; i++) {
		const vc_hnsw_node_loc *n = &tier->map[i];
		const vc_frame_info *frame;

		if (n->chunk_index != held) {
			if (entry != NULL)
				vc_session_chunk_release(session, entry);
			entry = NULL;
			err = vc_session_chunk_get(session, manifest, n->chunk_index, &entry);
			if (err != VC_OK)
				break;
			chunk = vc_cache_entry_value(entry);
			held = n->chunk_index;
		}
		frame = n->frame_index >= 1 && n->frame_index <= chunk->frame_count
			    ? &chunk->frames[n->frame_index - 1]
			    : NULL;
		if (frame == NULL || n->row_in_frame >= frame->count)
			err = vc_fail(VC_ERR_CORRUPT,
				      "recent graph: node %llu names row %u of frame %u, which "
				      "chunk %u does not have",
				      (unsigned long long)i, n->row_in_frame, n->frame_index,
				      n->chunk_index);
		else
			vc_hnsw_set_row(tier->hnsw, (uint32_t)i,
					chunk->vectors +
					    (size_t)(frame->first + n->row_in_frame) * chunk->dim);
	}
	if (entry != NULL)
		vc_session_chunk_release(session, entry);
	if (err == VC_OK)
		tier->rows_missing = false;
	return err;
}

vc_err vc_recent_tier_load(vc_session *session, const vc_manifest *manifest,
			   const vc_object_ref *ref, vc_hnsw_tier **out)
{
	vc_bytes plain;
	vc_err err;

	*out = NULL;
	err = vc_session_read_object(session, manifest, ref->path, &plain);
	if (err != VC_OK)
		return err;
	err = vc_hnsw_tier_decode_chunks(plain.data, plain.len, manifest,
					 vc_manifest_indexed_chunks(manifest),
					 manifest->chunk_count, out);
	vc_bytes_free(&plain);
	if (err != VC_OK)
		return vc_session_name_path(err, ref->path);
	if ((*out)->rows_missing)
		err = fill_rows(session, manifest, *out);
	if (err != VC_OK) {
		vc_hnsw_tier_free(*out);
		*out = NULL;
		return vc_fail_context(err, "loading %s", ref->path);
	}
	return VC_OK;
}

static vc_err recent_tier_loader(vc_session *session, const vc_manifest *manifest,
				 const void *arg, void **out)
{
	vc_hnsw_tier *tier = NULL;
	vc_err err = vc_recent_tier_load(session, manifest, arg, &tier);

	*out = tier;
	return err;
}

vc_err vc_session_recent_tier(vc_session *session, const vc_manifest *manifest,
			      const vc_hnsw_tier **tier)
{
	const vc_object_ref *ref = vc_recent_tier_ref(manifest);
	void *loaded;
	vc_err err;

	*tier = NULL;
	if (ref == NULL)
		return VC_OK;
	err = vc_snapshot_lazy(session, manifest, VC_SLOT_RECENT_TIER, recent_tier_loader, ref,
			       vc_hnsw_tier_free_any, &loaded);
	*tier = loaded;
	return err;
}
