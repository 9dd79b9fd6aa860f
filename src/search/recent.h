/* Indexed sessions that changed since their index was built: the index answers for the chunks it
 * covers, an exact scan for the recent tier (chunks added since), and the two are merged. */
#ifndef VC_RECENT_H
#define VC_RECENT_H

#include "vchunk/session.h"

/** An index search over the chunks the index covers (vc_search_ivf, vc_search_hnsw). */
typedef vc_err (*vc_index_search_fn)(vc_session *session, const vc_manifest *manifest,
				     const vc_query *query, vc_results *out);

/**
 * @p index_search over the indexed chunks, then, when the manifest has a
 * recent tier, an exact scan of its chunks; the best min(k, hits) of both,
 * best first, with summed statistics. Thread-safe.
 */
vc_err vc_search_with_recent(vc_session *session, const vc_manifest *manifest,
			     const vc_query *query, vc_index_search_fn index_search,
			     vc_results *out);

#endif
