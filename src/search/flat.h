/* Exact (flat) search: scores every vector of a manifest, chunk by chunk through the cache. */
#ifndef VC_FLAT_H
#define VC_FLAT_H

#include "search/filter.h"
#include "search/topk.h"
#include "vchunk/chunk.h"
#include "vchunk/session.h"

/**
 * Check a query against @p manifest: a vector of the session's dimension
 * with finite values, k >= 1, a finite threshold. VC_ERR_INVALID with a
 * message the user can act on otherwise.
 */
vc_err vc_query_validate(const vc_manifest *manifest, const vc_query *query);

/**
 * Exact search over every chunk of @p manifest (a referenced snapshot of
 * @p session). Chunks are taken from the cache one at a time and released
 * right after they are scanned, so the cache budget bounds memory however
 * large the session is. Fills @p out (release with vc_results_free).
 * Thread-safe.
 */
vc_err vc_search_flat(vc_session *session, const vc_manifest *manifest, const vc_query *query,
		      vc_results *out);

/**
 * As vc_search_flat, over chunks @p first_chunk .. chunk_count only (the
 * recent tier of an indexed session, whose older chunks an index searches).
 */
vc_err vc_search_flat_from(vc_session *session, const vc_manifest *manifest,
			   const vc_query *query, size_t first_chunk, vc_results *out);

/** Does internal score @p score pass the query's threshold (compared as users see scores)? */
bool vc_search_threshold_ok(const vc_manifest *manifest, const vc_query *query, float score);

/** Does row @p row of @p chunk pass @p filter (NULL: always)? Metadata errors name the id. */
vc_err vc_search_filter_ok(const vc_filter *filter, const vc_chunk *chunk, uint32_t row,
			   bool *pass);

/** Fill @p hit (id, public score, metadata) from row @p row of @p chunk. */
/**
 * Sort @p topk best first, allocate out->hits for its items, and set *order
 * (caller frees) to the item indices in key order, so hits can be filled
 * chunk by chunk with each chunk taken from the cache once.
 */
vc_err vc_search_hits_by_key(vc_topk *topk, vc_results *out, size_t **order);

vc_err vc_search_fill_hit(const vc_manifest *manifest, const vc_chunk *chunk, uint32_t row,
			  float score, vc_hit *hit);

#endif
