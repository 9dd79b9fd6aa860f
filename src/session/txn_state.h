/* The transaction handle, shared by txn.c (staging) and txn_commit.c (writing an epoch). */
#ifndef VC_TXN_STATE_H
#define VC_TXN_STATE_H

#include <stdbool.h>

#include "search/hnsw_search.h"
#include "session/session_i.h"
#include "session/tombstones.h"
#include "vchunk/txn.h"

/** A row staged for adding. */
typedef struct vc_staged_row {
	char *id;
	float *vector;
	json_t *metadata; /* NULL: none */
} vc_staged_row;

/** A live id of the base epoch and where it is (chunk_id holds the chunk INDEX here). */
typedef struct vc_live_row {
	char *id; /* NULL: empty slot */
	uint64_t hash;
	vc_tomb where;
	bool deleted; /* staged for deletion */
} vc_live_row;

struct vc_txn {
	vc_session *session;
	const vc_manifest *base;      /* referenced: the epoch the changes apply to */
	const vc_tombstones *deleted; /* base's tombstones (owned by its snapshot) */
	char *lock_token;

	vc_staged_row *adds;
	size_t add_count, add_cap;
	vc_id_set staged_ids;
	vc_tomb *dels; /* chunk_id field holds the chunk index until commit */
	size_t del_count, del_cap;

	vc_live_row *live; /* open addressing, power-of-two capacity */
	size_t live_cap, live_count;
	bool live_recent; /* the recent tier's rows are mapped */
	bool live_all;    /* every live row is mapped */
};

/** The live-map entry of @p id, or NULL. */
vc_live_row *vc_txn_live_find(vc_txn *txn, const char *id);

/**
 * Store manifests/pending-E.json listing @p list (object paths, borrowed) and
 * any list a crashed commit of the same epoch left there; *path gets its name.
 */
vc_err vc_txn_write_pending(vc_txn *txn, uint64_t epoch, json_t *list, char *path, size_t size);

/**
 * Make @p next the session's manifest: serialise (MAC), re-read manifest.json
 * and refuse (VC_ERR_BUSY "concurrent commit") unless it is still the base
 * epoch, PUT it, then store its copy manifests/epoch-E.json.
 */
vc_err vc_txn_publish(vc_txn *txn, const vc_manifest *next);

/**
 * The recent tier's graph of @p next: the base epoch's graph (a private copy)
 * plus one node per added row (@p nodes, in row order; the new chunks are
 * already in next->chunks), stored as index/recent-<epoch>.bin in place of
 * the base's. Skipped when the base has recent chunks but no graph (those
 * stay scanned exactly).
 */
vc_err vc_txn_recent_graph(vc_txn *txn, vc_manifest *next, uint64_t epoch,
			   const vc_hnsw_node_loc *nodes, size_t count);

/**
 * After @p next was published: remove what the intent record @p path lists
 * and @p next does not name (objects of a crashed earlier attempt at the
 * same epoch), then the record. Best effort: gc catches what remains.
 */
void vc_txn_finish_pending(vc_txn *txn, const vc_manifest *next, const char *path);

/** Free everything, release the base manifest and the lock. NULL-safe. */
void vc_txn_free(vc_txn *txn);

#endif
