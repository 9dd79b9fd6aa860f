/* Loading graph objects whose rows may live in the chunks (src/session/graph_tier.c). */
#ifndef VC_GRAPH_TIER_H
#define VC_GRAPH_TIER_H

#include "search/hnsw_search.h"
#include "vchunk/session.h"

/**
 * Read, authenticate and decode the graph object @p path of @p manifest, a
 * graph over the rows of chunks [@p first, @p end), into a private copy the
 * caller owns (vc_hnsw_tier_free). A graph stored without its vectors gets
 * every node's row back from the chunk row it names, through the cache.
 */
vc_err vc_session_graph_load(vc_session *session, const vc_manifest *manifest, const char *path,
			     size_t first, size_t end, vc_hnsw_tier **out);

#endif
