/* The recent tier's HNSW graph: rows added since the index was built, searchable at once. */
#ifndef VC_RECENT_TIER_H
#define VC_RECENT_TIER_H

#include "search/hnsw_search.h"
#include "vchunk/session.h"

/** Path prefix of the recent tier's graph ("index/recent-<epoch>.bin"). */
#define VC_RECENT_TIER_PREFIX "index/recent-"

/** The recent graph object of @p manifest, or NULL. */
const vc_object_ref *vc_recent_tier_ref(const vc_manifest *manifest);

/**
 * Read, authenticate and decode @p ref (a graph over the last recent_chunks
 * chunks of @p manifest: one node per stored row, in row order) into a
 * private copy the caller owns (vc_hnsw_tier_free).
 */
vc_err vc_recent_tier_load(vc_session *session, const vc_manifest *manifest,
			   const vc_object_ref *ref, vc_hnsw_tier **out);

/**
 * The recent graph of @p manifest's snapshot, loaded at the first call and
 * kept with the snapshot; *tier NULL when the manifest has none (its recent
 * chunks, if any, are then scanned exactly). Thread-safe.
 */
vc_err vc_session_recent_tier(vc_session *session, const vc_manifest *manifest,
			      const vc_hnsw_tier **tier);

#endif
