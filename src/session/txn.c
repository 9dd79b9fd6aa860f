/* Transactions: staging adds, deletes and updates against one epoch of a session. Live rows
 * are mapped id -> place as changes name them (through the id index where the session has
 * one, else all at the first change); txn_commit.c writes the result. */
#include <stdlib.h>
#include <string.h>

#include "format/chunk_codec.h"
#include "search/filter.h"
#include "session/session_i.h"
#include "session/tombstones.h"
#include "session/txn_i.h"
#include "session/txn_state.h"
#include "util/error_i.h"
#include "vchunk/txn.h"

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h ? h : 1;
}

/* Slot of @p id in the live map: where it is, or the empty slot where it would go. */
static size_t live_slot(const vc_txn *txn, const char *id, uint64_t hash)
{
	size_t mask = txn->live_cap - 1, i = hash & mask;

	while (txn->live[i].hash != 0 &&
	       (txn->live[i].hash != hash || strcmp(txn->live[i].id, id) != 0))
		i = (i + 1) & mask;
	return i;
}

static vc_err live_grow(vc_txn *txn)
{
	vc_live_row *old = txn->live;
	size_t old_cap = txn->live_cap;

	txn->live_cap = old_cap ? old_cap * 2 : 1024;
	txn->live = calloc(txn->live_cap, sizeof(*txn->live));
	if (txn->live == NULL) {
		txn->live = old;
		txn->live_cap = old_cap;
		return vc_fail(VC_ERR_NOMEM, "out of memory mapping the session's ids");
	}
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].hash != 0)
			txn->live[live_slot(txn, old[i].id, old[i].hash)] = old[i];
	free(old);
	return VC_OK;
}

static vc_err live_insert(vc_txn *txn, const char *id, const vc_tomb *where)
{
	uint64_t hash = str_hash(id);
	size_t slot;
	vc_err err;

	if ((txn->live_count + 1) * 2 > txn->live_cap) {
		err = live_grow(txn);
		if (err != VC_OK)
			return err;
	}
	slot = live_slot(txn, id, hash);
	if (txn->live[slot].hash != 0)
		return VC_OK; /* a live id appears once; keep the first */
	txn->live[slot].id = strdup(id);
	if (txn->live[slot].id == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory mapping the session's ids");
	txn->live[slot].hash = hash;
	txn->live[slot].where = *where;
	txn->live_count++;
	return VC_OK;
}

vc_live_row *vc_txn_live_find(vc_txn *txn, const char *id)
{
	size_t slot;

	if (txn->live_cap == 0)
		return NULL;
	slot = live_slot(txn, id, str_hash(id));
	return txn->live[slot].hash != 0 ? &txn->live[slot] : NULL;
}

/* Map the live rows of chunks [@p from, chunk_count) of the base epoch (through the cache). */
static vc_err live_map_chunks(vc_txn *txn, size_t from)
{
	const vc_manifest *m = txn->base;
	vc_err err = VC_OK;

	for (size_t c = from; c < m->chunk_count && err == VC_OK; c++) {
		vc_cache_entry *entry;
		const vc_chunk *chunk;

		err = vc_session_chunk_get(txn->session, m, c, &entry);
		if (err != VC_OK)
			break;
		chunk = vc_cache_entry_value(entry);
		for (uint32_t f = 0; f < chunk->frame_count && err == VC_OK; f++) {
			const vc_frame_info *fi = &chunk->frames[f];

			for (uint32_t r = 0; r < fi->count && err == VC_OK; r++) {
				vc_tomb where = {(uint32_t)c, f + 1, r};

				if (vc_tombstones_has(txn->deleted, chunk->chunk_id, f + 1, r))
					continue;
				err = live_insert(txn, chunk->ids[fi->first + r], &where);
			}
		}
		vc_session_chunk_release(txn->session, entry);
	}
	return err;
}

/* Every live row of the base epoch (a filtered delete reads every chunk anyway). Rows already
 * mapped keep their entry, and with it a staged deletion. */
static vc_err live_load_all(vc_txn *txn)
{
	vc_err err;

	if (txn->live_all)
		return VC_OK;
	err = live_map_chunks(txn, 0);
	txn->live_all = txn->live_recent = err == VC_OK;
	return err;
}

/*
 * The live row of @p id in the base epoch, or NULL (*out). With an id index the indexed chunks
 * are asked one id at a time through the shards, and only an id they do not hold live sends the
 * lookup to the recent tier, which the shards do not cover and which is mapped whole (once): a
 * small commit reads a shard and a frame per id instead of every chunk. (An id is live in one
 * place at most: an update or a re-add tombstones the older row.) Without an id index the
 * first call maps every chunk.
 */
static vc_err live_lookup(vc_txn *txn, const char *id, vc_live_row **out)
{
	const vc_manifest *m = txn->base;
	vc_tomb where;
	vc_err err;

	*out = vc_txn_live_find(txn, id);
	if (*out != NULL || txn->live_all)
		return VC_OK;
	if (m->index.id_shards == 0) {
		err = live_load_all(txn);
		*out = vc_txn_live_find(txn, id);
		return err;
	}
	err = vc_id_index_locate(txn->session, m, txn->deleted, id, &where, NULL);
	if (err == VC_OK) {
		err = live_insert(txn, id, &where);
		*out = vc_txn_live_find(txn, id);
		return err;
	}
	if (err != VC_ERR_NOT_FOUND)
		return err;
	vc_clear_error();
	err = VC_OK;
	if (!txn->live_recent) {
		err = live_map_chunks(txn, vc_manifest_indexed_chunks(m));
		txn->live_recent = err == VC_OK;
	}
	*out = vc_txn_live_find(txn, id);
	return err;
}

vc_err vc_txn_begin(vc_session *session, vc_txn **out)
{
	vc_txn *txn;
	vc_err err;

	*out = NULL;
	txn = calloc(1, sizeof(*txn));
	if (txn == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory starting a transaction");
	txn->session = session;
	err = vc_lock_acquire(session->store, session->uri, &txn->lock_token);
	if (err != VC_OK) {
		free(txn);
		return err;
	}
	/* The lock is ours: the stored epoch is the one to build on. */
	err = vc_session_refresh(session, NULL);
	if (err == VC_OK) {
		txn->base = vc_session_manifest_get(session);
		err = vc_session_tombstones(session, txn->base, &txn->deleted);
	}
	if (err != VC_OK) {
		vc_txn_abort(txn);
		return err;
	}
	*out = txn;
	return VC_OK;
}

static vc_err stage_grow(vc_txn *txn)
{
	size_t cap = txn->add_cap ? txn->add_cap * 2 : 64;
	vc_staged_row *grown = realloc(txn->adds, cap * sizeof(*grown));

	if (grown == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory staging %zu vectors", cap);
	txn->adds = grown;
	txn->add_cap = cap;
	return VC_OK;
}

/* Stage a row without the live-id check (adds check it, updates re-add a deleted id). */
static vc_err stage_row(vc_txn *txn, const char *id, const float *vector, uint32_t dim,
			const json_t *metadata)
{
	vc_staged_row *row;
	bool inserted;
	vc_err err;

	if (txn->add_count == txn->add_cap) {
		err = stage_grow(txn);
		if (err != VC_OK)
			return err;
	}
	err = vc_id_set_insert(&txn->staged_ids, id, &inserted);
	if (err != VC_OK)
		return err;
	if (!inserted)
		return vc_fail(VC_ERR_EXISTS, "id '%s' is already staged in this transaction", id);
	row = &txn->adds[txn->add_count];
	row->id = strdup(id);
	row->vector = malloc(dim * sizeof(float));
	if (row->id == NULL || row->vector == NULL) {
		free(row->id);
		free(row->vector);
		return vc_fail(VC_ERR_NOMEM, "out of memory staging '%s'", id);
	}
	memcpy(row->vector, vector, dim * sizeof(float));
	row->metadata = metadata != NULL ? json_deep_copy(metadata) : NULL;
	txn->add_count++;
	return VC_OK;
}

static vc_err check_row(const vc_txn *txn, const char *id, const float *vector, uint32_t dim)
{
	vc_err err = vc_id_check(id);

	if (err != VC_OK)
		return err;
	if (vector == NULL || dim != txn->base->dim)
		return vc_fail(VC_ERR_INVALID, "vector '%s' has %u dimensions, the session has %u",
			       id, vector == NULL ? 0 : dim, txn->base->dim);
	for (uint32_t i = 0; i < dim; i++)
		if (!(vector[i] - vector[i] == 0.0f))
			return vc_fail(VC_ERR_INVALID,
				       "vector '%s' has a value that is not a finite number (NaN "
				       "or infinity) at position %u",
				       id, i);
	return VC_OK;
}

vc_err vc_txn_add(vc_txn *txn, const char *id, const float *vector, uint32_t dim,
		  const json_t *metadata)
{
	vc_live_row *live;
	vc_err err;

	if (txn == NULL)
		return vc_fail(VC_ERR_INVALID, "no transaction");
	err = check_row(txn, id, vector, dim);
	if (err == VC_OK)
		err = live_lookup(txn, id, &live);
	if (err != VC_OK)
		return err;
	if (live != NULL && !live->deleted)
		return vc_fail(VC_ERR_EXISTS,
			       "id '%s' already exists in the session (delete it first, or update "
			       "its metadata)",
			       id);
	return stage_row(txn, id, vector, dim, metadata);
}

static vc_err stage_delete(vc_txn *txn, vc_live_row *live)
{
	if (txn->del_count == txn->del_cap) {
		size_t cap = txn->del_cap ? txn->del_cap * 2 : 64;
		vc_tomb *grown = realloc(txn->dels, cap * sizeof(*grown));

		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory staging deletions");
		txn->dels = grown;
		txn->del_cap = cap;
	}
	/* Chunk index for now; the commit turns it into the chunk id. */
	txn->dels[txn->del_count++] = live->where;
	live->deleted = true;
	return VC_OK;
}

/* The live row of @p id, which a delete or an update needs: VC_ERR_NOT_FOUND if it has none
 * (or this transaction already deleted it). */
static vc_err live_row(vc_txn *txn, const char *id, vc_live_row **live)
{
	vc_err err;

	if (txn == NULL || id == NULL)
		return vc_fail(VC_ERR_INVALID, "no transaction or id");
	err = live_lookup(txn, id, live);
	if (err == VC_OK && (*live == NULL || (*live)->deleted))
		err = vc_fail(VC_ERR_NOT_FOUND, "no live vector with id '%s' in %s", id,
			      txn->session->uri);
	return err;
}

vc_err vc_txn_delete(vc_txn *txn, const char *id)
{
	vc_live_row *live;
	vc_err err;

	err = live_row(txn, id, &live);
	if (err != VC_OK)
		return err;
	return stage_delete(txn, live);
}

/* Rows of chunk @p c matching @p filter, staged for deletion. */
static vc_err delete_matching_chunk(vc_txn *txn, size_t c, const vc_filter *filter, uint64_t *count)
{
	vc_cache_entry *entry;
	const vc_chunk *chunk;
	vc_err err;

	err = vc_session_chunk_get(txn->session, txn->base, c, &entry);
	if (err != VC_OK)
		return err;
	chunk = vc_cache_entry_value(entry);
	for (uint32_t row = 0; row < chunk->count && err == VC_OK; row++) {
		const uint8_t *item = chunk->meta + chunk->meta_offset[row];
		size_t len = chunk->meta_offset[row + 1] - chunk->meta_offset[row];
		vc_live_row *live = vc_txn_live_find(txn, chunk->ids[row]);
		json_t *meta = NULL;

		if (live == NULL || live->deleted || live->where.chunk_id != c)
			continue; /* deleted, or a deleted copy of a live id */
		err = vc_meta_decode(item, len, &meta);
		if (err == VC_OK && vc_filter_match(filter, meta)) {
			err = stage_delete(txn, live);
			(*count)++;
		}
		json_decref(meta);
	}
	vc_session_chunk_release(txn->session, entry);
	return err;
}

vc_err vc_txn_delete_matching(vc_txn *txn, const json_t *filter, uint64_t *count)
{
	vc_filter *compiled = NULL;
	uint64_t dummy;
	vc_err err;

	if (count == NULL)
		count = &dummy;
	*count = 0;
	if (txn == NULL || filter == NULL || !json_is_object(filter) ||
	    json_object_size(filter) == 0)
		return vc_fail(
		    VC_ERR_INVALID,
		    "an empty filter matches every vector: refusing to delete everything "
		    "(name the ids, or give a filter with at least one condition)");
	err = vc_filter_compile(filter, &compiled);
	if (err == VC_OK)
		err = live_load_all(txn);
	for (size_t c = 0; err == VC_OK && c < txn->base->chunk_count; c++)
		err = delete_matching_chunk(txn, c, compiled, count);
	vc_filter_free(compiled);
	return err;
}

vc_err vc_txn_update(vc_txn *txn, const char *id, const json_t *metadata)
{
	vc_cache_entry *entry;
	const vc_chunk *frame;
	vc_live_row *live;
	vc_err err;

	err = live_row(txn, id, &live);
	if (err != VC_OK)
		return err;
	/* Update = the old row deleted, the same id and vector added with the new metadata. */
	err = vc_session_frame_get(txn->session, txn->base, live->where.chunk_id, live->where.frame,
				   NULL, NULL, &entry);
	if (err != VC_OK)
		return err;
	frame = vc_cache_entry_value(entry);
	err = stage_row(txn, id, frame->vectors + (size_t)live->where.row * frame->dim, frame->dim,
			metadata);
	vc_session_chunk_release(txn->session, entry);
	if (err == VC_OK)
		err = stage_delete(txn, live);
	return err;
}

void vc_txn_free(vc_txn *txn)
{
	if (txn == NULL)
		return;
	for (size_t i = 0; i < txn->add_count; i++) {
		free(txn->adds[i].id);
		free(txn->adds[i].vector);
		json_decref(txn->adds[i].metadata);
	}
	free(txn->adds);
	free(txn->dels);
	for (size_t i = 0; i < txn->live_cap; i++)
		free(txn->live[i].id);
	free(txn->live);
	vc_id_set_free(&txn->staged_ids);
	if (txn->base != NULL)
		vc_session_manifest_put(txn->session, txn->base);
	vc_lock_release(txn->session->store, txn->lock_token);
	free(txn);
}

void vc_txn_abort(vc_txn *txn)
{
	vc_txn_free(txn);
}
