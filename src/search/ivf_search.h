/* IVF search: probe the nearest lists, read only their frames through the cache. */
#ifndef VC_IVF_SEARCH_H
#define VC_IVF_SEARCH_H

#include "vchunk/session.h"

/**
 * Approximate search of @p manifest (a referenced snapshot with an IVF
 * index; the query already validated): probe nprobe lists (query's, else the
 * manifest's default), each list's frames fetched by byte range through the
 * cache; when fewer than min(k, vectors) hits pass the threshold and
 * filter, nprobe doubles until they do or every list was probed. Fills
 * @p out (release with vc_results_free). Thread-safe.
 */
vc_err vc_search_ivf(vc_session *session, const vc_manifest *manifest, const vc_query *query,
		     vc_results *out);

#endif
