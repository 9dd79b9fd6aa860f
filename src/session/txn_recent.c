/* The recent tier's graph at commit: the previous graph plus the rows this commit added, stored
 * (links only: the rows are in the chunks) under a new name (index/recent-<epoch>.bin) so the
 * previous epoch's graph stays readable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"
#include "session/recent_tier.h"
#include "session/txn_state.h"
#include "util/error_i.h"

/* The base epoch's graph (a private copy, to add to), or a new empty one. */
static vc_err start_graph(vc_txn *txn, vc_hnsw_tier **out, bool *skip)
{
	const vc_manifest *base = txn->base;
	const vc_object_ref *ref = vc_recent_tier_ref(base);
	vc_hnsw_tier *tier;
	vc_err err;

	*out = NULL;
	*skip = ref == NULL && base->recent_chunks > 0;
	if (*skip)
		return VC_OK;
	if (ref != NULL)
		return vc_recent_tier_load(txn->session, base, ref, out);
	tier = calloc(1, sizeof(*tier));
	if (tier == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory building the recent graph");
	err = vc_hnsw_create(base->dim, base->metric, NULL, &tier->hnsw);
	if (err != VC_OK) {
		free(tier);
		return err;
	}
	*out = tier;
	return VC_OK;
}

/* Seal @p plain at @p path and put it in @p next in place of the previous recent graph. */
static vc_err store_graph(vc_txn *txn, vc_manifest *next, const char *path, const vc_bytes *plain)
{
	const vc_object_ref *prev = vc_recent_tier_ref(next);
	vc_object_ref ref = {0};
	vc_bytes stored = {0};
	vc_object_ctx ctx;
	vc_err err;

	vc_session_object_ctx(txn->session, path, &ctx);
	err = vc_envelope_seal(&ctx, 1, plain, &stored);
	ref.plain_size = plain->len;
	ref.frame_count = 1;
	ref.byte_size = stored.len;
	if (err == VC_OK)
		err = vc_hash_object(stored.data, stored.len, ref.hash);
	if (err == VC_OK)
		err = vc_envelope_header_hash(stored.data, stored.len, ref.header_hash);
	ref.has_header_hash = err == VC_OK;
	ref.path = strdup(path);
	if (err == VC_OK && ref.path == NULL)
		err = vc_fail(VC_ERR_NOMEM, "out of memory storing %s", path);
	if (err == VC_OK)
		err = vc_store_put(txn->session->store, path, stored.data, stored.len);
	vc_bytes_free(&stored);
	if (err == VC_OK && prev != NULL) {
		vc_object_ref *slot = &next->objects[prev - next->objects];

		free(slot->path);
		*slot = ref;
		return VC_OK;
	}
	if (err == VC_OK) {
		vc_object_ref *grown =
		    realloc(next->objects, (next->object_count + 1) * sizeof(*grown));

		if (grown == NULL) {
			err = vc_fail(VC_ERR_NOMEM, "out of memory listing objects");
		} else {
			next->objects = grown;
			next->objects[next->object_count++] = ref;
			return VC_OK;
		}
	}
	free(ref.path);
	return vc_session_name_path(err, path);
}

vc_err vc_txn_recent_graph(vc_txn *txn, vc_manifest *next, uint64_t epoch,
			   const vc_hnsw_node_loc *nodes, size_t count)
{
	vc_hnsw_tier *tier = NULL;
	vc_hnsw_node_loc *map;
	vc_bytes plain = {0};
	char path[64];
	bool skip;
	vc_err err;

	err = start_graph(txn, &tier, &skip);
	if (err != VC_OK || skip)
		return err;
	map = realloc(tier->map, (tier->count + count + 1) * sizeof(*map));
	if (map == NULL) {
		vc_hnsw_tier_free(tier);
		return vc_fail(VC_ERR_NOMEM, "out of memory building the recent graph");
	}
	tier->map = map;
	err = vc_hnsw_reserve(tier->hnsw, (uint32_t)(tier->count + count));
	/* Node ids are dense and in insertion order: node i of the map is row i of the tier. */
	for (size_t i = 0; i < count && err == VC_OK; i++) {
		uint32_t node;

		err = vc_hnsw_add(tier->hnsw, txn->adds[i].vector, &node);
		if (err == VC_OK && node != tier->count)
			err = vc_fail(VC_ERR_CORRUPT, "recent graph: node %u added as %llu", node,
				      (unsigned long long)tier->count);
		if (err == VC_OK)
			tier->map[tier->count++] = nodes[i];
	}
	if (err == VC_OK)
		err = vc_hnsw_tier_encode(tier->hnsw, tier->map, tier->count, false, &plain);
	snprintf(path, sizeof(path), VC_RECENT_TIER_PREFIX "%llu.bin", (unsigned long long)epoch);
	if (err == VC_OK)
		err = store_graph(txn, next, path, &plain);
	vc_bytes_free(&plain);
	vc_hnsw_tier_free(tier);
	return err;
}
