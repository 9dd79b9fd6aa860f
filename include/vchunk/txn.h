/* Changing a session: add, delete, update in transactions; compaction and garbage collection. */
#ifndef VCHUNK_TXN_H
#define VCHUNK_TXN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "vchunk/error.h"
#include "vchunk/session.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A transaction: changes staged against the session's current epoch and
 * made visible all at once by vc_txn_commit (a new manifest with epoch + 1,
 * written after every object it names). Readers see the old epoch or the new
 * one, never a mix. One writer at a time per session: vc_txn_begin takes the
 * session's writer lock (a lock object; VC_ERR_BUSY naming the holder when
 * someone else has it) and the commit re-checks that the stored epoch is the
 * one the transaction started from (VC_ERR_BUSY "concurrent commit" if not).
 * A transaction is used by one thread at a time; the session stays usable by
 * readers meanwhile.
 */
typedef struct vc_txn vc_txn;

/** Begin a transaction on @p session (needs the session's key if encrypted). */
vc_err vc_txn_begin(vc_session *session, vc_txn **out);

/**
 * Stage a new vector. Same checks as vc_writer_add; an id that is live in the
 * session or already staged is VC_ERR_EXISTS (a deleted id may be added again).
 */
vc_err vc_txn_add(vc_txn *txn, const char *id, const float *vector, uint32_t dim,
		  const json_t *metadata);

/** Stage the deletion of a live id (VC_ERR_NOT_FOUND if it is not live). */
vc_err vc_txn_delete(vc_txn *txn, const char *id);

/**
 * Stage the deletion of every live vector whose metadata matches @p filter
 * (same semantics as search filters). An empty filter is refused
 * (VC_ERR_INVALID), never "delete everything". *count gets the number staged.
 */
vc_err vc_txn_delete_matching(vc_txn *txn, const json_t *filter, uint64_t *count);

/** Stage new metadata for a live id (the vector is kept). */
vc_err vc_txn_update(vc_txn *txn, const char *id, const json_t *metadata);

/**
 * Write the staged changes and the new manifest; the transaction is freed and
 * the lock released whatever the outcome. On failure nothing becomes visible
 * (objects written so far are left for vc_session_gc). *epoch (may be NULL)
 * gets the committed epoch. The session is refreshed to it (if that refresh
 * fails, the commit still stands and the session catches up at its next
 * vc_session_refresh).
 */
vc_err vc_txn_commit(vc_txn *txn, uint64_t *epoch);

/** Drop the staged changes and release the lock. NULL-safe. */
void vc_txn_abort(vc_txn *txn);

/**
 * Compaction: move the recent (HNSW) tier into IVF lists, rewrite chunks that
 * hold many deleted vectors, retrain the centroids when the lists have
 * drifted. Commits a new epoch holding exactly the same live vectors.
 */
vc_err vc_session_compact(vc_session *session, uint64_t *epoch);

/**
 * Delete objects that no manifest committed within the last @p grace_seconds
 * (nor the current one) refers to, and the backend's leftovers of writes that
 * never finished (a directory's temp files) at least that old. *removed (may be
 * NULL) gets the count.
 */
vc_err vc_session_gc(vc_session *session, uint64_t grace_seconds, uint64_t *removed);

#ifdef __cplusplus
}
#endif
#endif
