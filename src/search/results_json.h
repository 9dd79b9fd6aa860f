/* Search results and query errors as JSON text: one line, shared by `vchunk query --format
 * json` and the mount's query files so both print the same bytes for the same results. */
#ifndef VC_SEARCH_RESULTS_JSON_H
#define VC_SEARCH_RESULTS_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "vchunk/session.h"

/**
 * Render {"results": [{"id", "score", "metadata"}, ...], "stats": {...}} and a newline into
 * a new NUL-terminated buffer (*text, *len without the NUL; the caller frees it with free()).
 * Scores print with the nine significant digits a float32 needs; metadata keeps its full
 * precision; "stats" (chunks_read, bytes_read, frames_decrypted, cache_hits, vectors_scored,
 * elapsed_ms) only when @p with_stats. Errors: VC_ERR_NOMEM. Thread-safe.
 */
vc_err vc_results_json(const vc_results *results, bool with_stats, char **text, size_t *len);

/**
 * Render {"error": {"code": "EINVAL", "errno": 22, "message": "..."}} and a newline for a
 * failed query: @p errnum is the errno reported with it, @p message the library's message.
 * Same ownership as vc_results_json.
 */
vc_err vc_error_json(int errnum, const char *message, char **text, size_t *len);

/** The symbolic name of @p errnum ("EINVAL", "EIO", ...; "E<number>" for unusual ones). */
const char *vc_errno_name(int errnum, char *buf, size_t size);

#endif
