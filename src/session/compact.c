/* Compaction: every live row of the current epoch laid out again by the writer's layout code
 * (IVF lists retrained, HNSW graph rebuilt, id shards rewritten) into new chunks and index
 * objects named for the new epoch; the recent tier and the tombstones are gone after it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/chunk_codec.h"
#include "format/manifest_codec.h"
#include "session/session_i.h"
#include "session/tombstones.h"
#include "session/txn_state.h"
#include "session/writer_i.h"
#include "util/error_i.h"

/* The index compaction builds: the one the session has (an id index alone: auto). */
static vc_index_type rebuilt_index(const vc_manifest *m)
{
	if (m->index.kind == VC_INDEX_KIND_IVF)
		return VC_INDEX_IVF;
	if (m->index.kind == VC_INDEX_KIND_HNSW)
		return VC_INDEX_HNSW;
	return m->index.id_shards > 0 ? VC_INDEX_AUTO : VC_INDEX_FLAT;
}

/* Feed the live rows of chunk @p c to the writer. */
static vc_err copy_chunk(vc_txn *txn, vc_writer *w, size_t c)
{
	vc_cache_entry *entry;
	const vc_chunk *chunk;
	uint8_t *dead = NULL;
	vc_err err;

	err = vc_session_chunk_get(txn->session, txn->base, c, &entry);
	if (err != VC_OK)
		return err;
	chunk = vc_cache_entry_value(entry);
	err = vc_tombstones_chunk_mask(txn->deleted, chunk, &dead);
	for (uint32_t row = 0; row < chunk->count && err == VC_OK; row++) {
		const uint8_t *item = chunk->meta + chunk->meta_offset[row];
		size_t len = chunk->meta_offset[row + 1] - chunk->meta_offset[row];
		json_t *meta = NULL;

		if (dead != NULL && dead[row])
			continue;
		err = vc_meta_decode(item, len, &meta);
		if (err == VC_OK)
			err = vc_writer_add(w, chunk->ids[row],
					    chunk->vectors + (size_t)row * chunk->dim, chunk->dim,
					    json_is_null(meta) ? NULL : meta);
		json_decref(meta);
	}
	free(dead);
	vc_session_chunk_release(txn->session, entry);
	return err;
}

/* Every path this compaction may write, recorded before it writes any (for gc after a crash). */
static vc_err record_pending(vc_txn *txn, uint64_t epoch, char *path, size_t size)
{
	const vc_manifest *m = txn->base;
	uint64_t chunk_size = m->chunk_size ? m->chunk_size : VC_DEFAULT_CHUNK_SIZE;
	uint64_t chunks = 2 * ((m->total_vectors + chunk_size - 1) / chunk_size) + 2;
	json_t *list = json_array();
	char name[64];
	vc_err err;

	for (uint64_t i = 0; i < chunks && m->next_chunk_id + i <= UINT32_MAX; i++) {
		vc_chunk_path((uint32_t)(m->next_chunk_id + i), name, sizeof(name));
		json_array_append_new(list, json_string(name));
	}
	vc_index_object_path_tagged(epoch, "ivf", name, sizeof(name));
	json_array_append_new(list, json_string(name));
	vc_index_object_path_tagged(epoch, "hnsw", name, sizeof(name));
	json_array_append_new(list, json_string(name));
	for (uint32_t s = 0; s < VC_ID_MAX_SHARDS; s++) {
		vc_id_shard_path_tagged(epoch, s, name, sizeof(name));
		json_array_append_new(list, json_string(name));
	}
	err = vc_txn_write_pending(txn, epoch, list, path, size);
	json_decref(list);
	return err;
}

static vc_err copy_refs(const vc_object_ref *from, vc_object_ref *to)
{
	*to = *from;
	to->path = strdup(from->path);
	return to->path != NULL ? VC_OK : vc_fail(VC_ERR_NOMEM, "out of memory");
}

/* The new manifest: base's header and non-index objects, the writer's chunks and index. */
static vc_err build_manifest(vc_txn *txn, const vc_writer *w, vc_manifest **out)
{
	const vc_manifest *base = txn->base;
	vc_manifest *m;
	vc_err err;

	err = vc_manifest_clone(base, &m);
	if (err != VC_OK)
		return err;
	for (size_t i = 0; i < m->chunk_count; i++) {
		free(m->chunks[i].object.path);
		free(m->chunks[i].cid);
	}
	free(m->chunks);
	m->chunks = calloc(w->chunk_count + 1, sizeof(*m->chunks));
	m->chunk_count = 0;
	for (size_t i = 0; m->chunks != NULL && i < w->chunk_count && err == VC_OK; i++) {
		m->chunks[i] = w->chunks[i];
		m->chunks[i].cid = NULL;
		err = copy_refs(&w->chunks[i].object, &m->chunks[i].object);
		m->chunk_count += err == VC_OK;
	}
	/* Keep metadata.cbor; every index object is replaced by the writer's. */
	size_t kept = 0;
	for (size_t i = 0; i < m->object_count; i++) {
		if (strncmp(m->objects[i].path, "index/", 6) == 0)
			free(m->objects[i].path);
		else
			m->objects[kept++] = m->objects[i];
	}
	m->object_count = kept;
	vc_object_ref *grown = realloc(m->objects, (kept + w->object_count + 1) * sizeof(*grown));
	if (grown != NULL)
		m->objects = grown;
	for (size_t i = 0; grown != NULL && i < w->object_count && err == VC_OK; i++) {
		err = copy_refs(&w->objects[i], &m->objects[m->object_count]);
		m->object_count += err == VC_OK;
	}
	if (err == VC_OK && (m->chunks == NULL || grown == NULL))
		err = vc_fail(VC_ERR_NOMEM, "out of memory building the compacted manifest");
	m->index = w->index;
	m->total_vectors = w->total;
	m->deleted_vectors = 0;
	m->recent_chunks = 0;
	m->next_chunk_id = w->first_chunk_id + (uint32_t)w->chunk_count;
	m->epoch = base->epoch + 1;
	m->committed_at = (int64_t)time(NULL);
	if (err != VC_OK) {
		vc_manifest_free(m);
		return err;
	}
	*out = m;
	return VC_OK;
}

static vc_err compact_steps(vc_txn *txn, char *pending, size_t size, uint64_t *epoch)
{
	vc_manifest *next = NULL;
	vc_writer *w = NULL;
	vc_err err;

	if (txn->base->total_vectors == 0)
		return vc_fail(VC_ERR_INVALID,
			       "%s has no live vectors: nothing to compact (a session cannot be "
			       "empty)",
			       txn->session->uri);
	err = vc_writer_for_compaction(txn->session, txn->base, rebuilt_index(txn->base), &w);
	if (err != VC_OK)
		return err;
	err = record_pending(txn, w->path_epoch, pending, size);
	for (size_t c = 0; c < txn->base->chunk_count && err == VC_OK; c++)
		err = copy_chunk(txn, w, c);
	if (err == VC_OK && w->spooling)
		err = vc_writer_layout(w);
	if (err == VC_OK && w->builder != NULL && vc_chunk_builder_count(w->builder) > 0)
		err = vc_writer_seal_chunk(w, NULL);
	if (err == VC_OK)
		err = build_manifest(txn, w, &next);
	if (err == VC_OK && next->total_vectors != txn->base->total_vectors)
		err =
		    vc_fail(VC_ERR_CORRUPT,
			    "compaction found %llu live vectors, the manifest counts %llu; nothing "
			    "committed",
			    (unsigned long long)next->total_vectors,
			    (unsigned long long)txn->base->total_vectors);
	if (err == VC_OK)
		err = vc_txn_publish(txn, next);
	if (err == VC_OK) {
		*epoch = next->epoch;
		vc_txn_finish_pending(txn, next, pending);
	}
	vc_manifest_free(next);
	vc_writer_release(w);
	return err;
}

vc_err vc_session_compact(vc_session *session, uint64_t *epoch)
{
	char pending[64] = "";
	uint64_t dummy;
	vc_txn *txn;
	vc_err err;

	if (epoch == NULL)
		epoch = &dummy;
	err = vc_txn_begin(session, &txn);
	if (err != VC_OK)
		return err;
	err = compact_steps(txn, pending, sizeof(pending), epoch);
	vc_txn_free(txn);
	if (err == VC_OK && vc_session_refresh(session, NULL) != VC_OK)
		vc_clear_error();
	return err;
}
