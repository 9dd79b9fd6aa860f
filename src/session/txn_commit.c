/* Committing a transaction: new chunks for the added rows, a new tombstone object, then the new
 * manifest (epoch + 1) after a last check that nobody else committed; a copy of it under
 * manifests/ records the history gc reads. Every object written gets a path no epoch used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/chunk_codec.h"
#include "format/manifest_codec.h"
#include "session/recent_tier.h"
#include "session/session_i.h"
#include "session/tombstones.h"
#include "session/txn_state.h"
#include "session/writer_i.h"
#include "util/error_i.h"

/* Objects this commit wrote, for the pending record and a cleanup after failure. */
typedef struct commit_state {
	vc_txn *txn;
	vc_manifest *next; /* the new epoch, built on a copy of the base */
	uint64_t epoch;
	vc_hnsw_node_loc *nodes; /* where each added row was stored, for the recent graph */
	size_t node_count;
} commit_state;

/* Rows per frame of added rows: small frames when the recent graph indexes them (any session
 * with an index), so its hits are read row by row like an HNSW session's. */
static uint32_t commit_frame_rows(const vc_manifest *m)
{
	return m->index.kind != VC_INDEX_KIND_FLAT ? vc_writer_graph_frame_rows(m->dim)
						   : vc_writer_frame_rows(m->dim);
}

/* Record where rows [from, to) of the chunk just sealed (at index @p chunk_index) lie. */
static vc_err record_nodes(commit_state *cs, uint32_t chunk_index, const vc_object_ctx *ctx,
			   const vc_bytes *stored, size_t rows)
{
	uint32_t frame_rows = commit_frame_rows(cs->next);
	vc_frame_loc *locs = NULL;
	uint32_t frames = 0;
	vc_err err;

	err = vc_envelope_frames(ctx, stored->data, stored->len, &locs, &frames);
	for (size_t i = 0; i < rows && err == VC_OK; i++) {
		vc_hnsw_node_loc *n = &cs->nodes[cs->node_count++];
		uint32_t frame = 1 + (uint32_t)(i / frame_rows);

		if (frame >= frames) {
			err = vc_fail(VC_ERR_CORRUPT,
				      "a new chunk has fewer frames than its rows need");
			break;
		}
		n->chunk_index = chunk_index;
		n->frame_index = frame;
		n->row_in_frame = (uint32_t)(i % frame_rows);
		n->sealed_len = locs[frame].sealed_len;
		n->offset = locs[frame].offset;
	}
	free(locs);
	return err;
}

static vc_err ref_from_stored(const char *path, const vc_bytes *stored, vc_object_ref *ref)
{
	vc_err err;

	ref->path = strdup(path);
	if (ref->path == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory storing %s", path);
	ref->byte_size = stored->len;
	err = vc_hash_object(stored->data, stored->len, ref->hash);
	if (err == VC_OK)
		err = vc_envelope_header_hash(stored->data, stored->len, ref->header_hash);
	ref->has_header_hash = err == VC_OK;
	return err;
}

/* Seal rows [from, to) of the staged adds as chunk next->next_chunk_id and append it. */
static vc_err write_chunk(commit_state *cs, size_t from, size_t to)
{
	vc_txn *txn = cs->txn;
	vc_manifest *m = cs->next;
	uint32_t frame_rows = commit_frame_rows(m);
	vc_chunk_builder *builder = NULL;
	vc_bytes stored = {0};
	vc_chunk_ref *ref, *grown;
	vc_object_ctx ctx;
	char path[64];
	vc_err err;

	grown = realloc(m->chunks, (m->chunk_count + 1) * sizeof(*grown));
	if (grown == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory listing chunks");
	m->chunks = grown;
	ref = &m->chunks[m->chunk_count];
	memset(ref, 0, sizeof(*ref));
	ref->chunk_id = m->next_chunk_id;
	vc_chunk_path(ref->chunk_id, path, sizeof(path));
	err = vc_chunk_builder_new(ref->chunk_id, m->dim, &builder);
	for (size_t i = from; i < to && err == VC_OK; i++) {
		if ((i - from) % frame_rows == 0)
			err = vc_chunk_builder_frame(builder, -1);
		if (err == VC_OK)
			err = vc_chunk_builder_add(builder, txn->adds[i].id, txn->adds[i].vector,
						   txn->adds[i].metadata);
	}
	if (err != VC_OK) {
		vc_chunk_builder_free(builder);
		return vc_session_name_path(err, path);
	}
	ref->vector_count = (uint32_t)(to - from);
	vc_session_object_ctx(txn->session, path, &ctx);
	err = vc_chunk_builder_finish(builder, &ctx, &stored, &ref->object.plain_size,
				      &ref->object.frame_count);
	if (err == VC_OK)
		err = ref_from_stored(path, &stored, &ref->object);
	if (err == VC_OK)
		err = record_nodes(cs, (uint32_t)m->chunk_count, &ctx, &stored, to - from);
	if (err == VC_OK)
		err = vc_store_put(txn->session->store, path, stored.data, stored.len);
	vc_bytes_free(&stored);
	if (err != VC_OK) {
		free(ref->object.path);
		return vc_session_name_path(err, path);
	}
	m->chunk_count++;
	m->next_chunk_id++;
	return VC_OK;
}

static vc_err write_chunks(commit_state *cs)
{
	size_t size = cs->next->chunk_size ? cs->next->chunk_size : VC_DEFAULT_CHUNK_SIZE;
	size_t added = 0;
	vc_err err = VC_OK;

	cs->nodes = malloc((cs->txn->add_count + 1) * sizeof(*cs->nodes));
	if (cs->nodes == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for %zu new rows", cs->txn->add_count);
	for (size_t from = 0; from < cs->txn->add_count && err == VC_OK; from += size) {
		size_t to = from + size < cs->txn->add_count ? from + size : cs->txn->add_count;

		err = write_chunk(cs, from, to);
		added += err == VC_OK;
	}
	/* The recent tier matters to sessions whose index covers a fixed set of chunks; those
	 * with an approximate index get its rows in a graph too. */
	if (cs->next->index.kind != VC_INDEX_KIND_FLAT || cs->next->index.id_shards > 0)
		cs->next->recent_chunks += (uint32_t)added;
	if (err == VC_OK && added > 0 && cs->next->index.kind != VC_INDEX_KIND_FLAT)
		err = vc_txn_recent_graph(cs->txn, cs->next, cs->epoch, cs->nodes, cs->node_count);
	return err;
}

/* Replace (or drop) the manifest's tombstone object with one for base + staged deletions. */
static vc_err write_tombstones(commit_state *cs)
{
	vc_txn *txn = cs->txn;
	vc_manifest *m = cs->next;
	uint64_t old = txn->deleted ? txn->deleted->count : 0, count = old + txn->del_count;
	vc_tomb *all = malloc((size_t)(count ? count : 1) * sizeof(*all));
	vc_bytes plain = {0}, stored = {0};
	const vc_object_ref *prev = vc_tombstones_ref(m);
	vc_object_ref ref = {0};
	vc_object_ctx ctx;
	char path[64];
	vc_err err;

	if (all == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for %llu tombstones",
			       (unsigned long long)count);
	if (old > 0)
		memcpy(all, txn->deleted->items, (size_t)old * sizeof(*all));
	for (size_t i = 0; i < txn->del_count; i++) {
		all[old + i] = txn->dels[i];
		all[old + i].chunk_id = txn->base->chunks[txn->dels[i].chunk_id].chunk_id;
	}
	vc_tombs_sort(all, &count);
	snprintf(path, sizeof(path), VC_TOMBSTONES_PREFIX "%llu.bin",
		 (unsigned long long)cs->epoch);
	err = vc_tombstones_encode(all, count, &plain);
	free(all);
	vc_session_object_ctx(txn->session, path, &ctx);
	if (err == VC_OK)
		err = vc_envelope_seal(&ctx, 1, &plain, &stored);
	ref.plain_size = plain.len;
	ref.frame_count = 1;
	if (err == VC_OK)
		err = ref_from_stored(path, &stored, &ref);
	if (err == VC_OK)
		err = vc_store_put(txn->session->store, path, stored.data, stored.len);
	vc_bytes_free(&plain);
	vc_bytes_free(&stored);
	if (err != VC_OK) {
		free(ref.path);
		return vc_session_name_path(err, path);
	}
	if (prev != NULL) {
		vc_object_ref *slot = &m->objects[prev - m->objects];

		free(slot->path);
		*slot = ref;
	} else {
		vc_object_ref *grown = realloc(m->objects, (m->object_count + 1) * sizeof(*grown));

		if (grown == NULL) {
			free(ref.path);
			return vc_fail(VC_ERR_NOMEM, "out of memory listing objects");
		}
		m->objects = grown;
		m->objects[m->object_count++] = ref;
	}
	m->deleted_vectors = count;
	return VC_OK;
}

/* The stored manifest must still be the base epoch: otherwise another writer committed. */
static vc_err check_epoch(vc_txn *txn)
{
	vc_session *session = txn->session;
	vc_manifest *stored = NULL;
	vc_bytes json = {0};
	vc_err err;

	err = vc_store_get(session->store, "manifest.json", &json);
	if (err == VC_OK)
		err = vc_manifest_parse((const char *)json.data, json.len, &stored);
	vc_bytes_free(&json);
	if (err != VC_OK)
		return vc_fail_context(err, "re-reading manifest.json of %s before committing",
				       session->uri);
	if (stored->epoch != txn->base->epoch)
		err = vc_fail(VC_ERR_BUSY,
			      "concurrent commit: %s is now at epoch %llu, this transaction began "
			      "at %llu; nothing was committed",
			      session->uri, (unsigned long long)stored->epoch,
			      (unsigned long long)txn->base->epoch);
	vc_manifest_free(stored);
	return err;
}

/* The history starts with the epoch a session had before its first change (an import writes
 * no copy): without it gc could never collect what only that epoch referred to. */
static vc_err record_base(vc_txn *txn)
{
	vc_session *session = txn->session;
	vc_bytes json = {0};
	uint64_t size;
	char copy[64];
	vc_err err;

	snprintf(copy, sizeof(copy), "manifests/epoch-%llu.json",
		 (unsigned long long)txn->base->epoch);
	err = vc_store_head(session->store, copy, &size);
	if (err != VC_ERR_NOT_FOUND)
		return err == VC_OK ? VC_OK : vc_session_name_path(err, copy);
	vc_clear_error();
	err = vc_manifest_serialize(txn->base, session->keyring, &json);
	if (err == VC_OK)
		err = vc_store_put(session->store, copy, json.data, json.len);
	vc_bytes_free(&json);
	return err == VC_OK ? VC_OK : vc_session_name_path(err, copy);
}

vc_err vc_txn_publish(vc_txn *txn, const vc_manifest *next)
{
	vc_session *session = txn->session;
	vc_bytes json = {0};
	char copy[64];
	vc_err err;

	err = record_base(txn);
	if (err == VC_OK)
		err = vc_manifest_serialize(next, session->keyring, &json);
	if (err != VC_OK)
		return vc_fail_context(err, "writing manifest.json of %s", session->uri);
	/* The history copy goes first: once the manifest is stored its copy exists, so gc can
	 * always collect what only this epoch refers to. A copy of an epoch that then fails is
	 * overwritten by the commit that does become that epoch. */
	snprintf(copy, sizeof(copy), "manifests/epoch-%llu.json", (unsigned long long)next->epoch);
	err = check_epoch(txn);
	if (err == VC_OK)
		err = vc_store_put(session->store, copy, json.data, json.len);
	if (err != VC_OK) {
		vc_bytes_free(&json);
		return vc_session_name_path(err, copy);
	}
	err = vc_store_put(session->store, "manifest.json", json.data, json.len);
	vc_bytes_free(&json);
	if (err != VC_OK)
		return vc_session_name_path(err, "manifest.json");
	return VC_OK;
}

/* Is @p path one of @p m's objects? */
static bool referenced(const vc_manifest *m, const char *path)
{
	for (size_t i = 0; i < m->chunk_count; i++)
		if (strcmp(m->chunks[i].object.path, path) == 0)
			return true;
	return vc_manifest_find(m, path) != NULL;
}

void vc_txn_finish_pending(vc_txn *txn, const vc_manifest *next, const char *path)
{
	vc_store *store = txn->session->store;
	vc_bytes got = {0};
	json_t *rec, *objects;

	if (path[0] == '\0')
		return;
	if (vc_store_get(store, path, &got) != VC_OK) {
		vc_clear_error();
		return;
	}
	rec = json_loadb((const char *)got.data, got.len, 0, NULL);
	vc_bytes_free(&got);
	objects = json_object_get(rec, "objects");
	/* Listed paths are new to this epoch: those the manifest does not name are leftovers of an
	 * earlier attempt at it that died. The lock is ours, so none is being written now. */
	for (size_t i = 0; i < json_array_size(objects); i++) {
		const char *p = json_string_value(json_array_get(objects, i));

		if (p != NULL && vc_object_path_valid(p) && !referenced(next, p) &&
		    (strncmp(p, "chunks/", 7) == 0 || strncmp(p, "index/", 6) == 0))
			vc_store_remove(store, p);
	}
	json_decref(rec);
	vc_store_remove(store, path);
	vc_clear_error();
}

vc_err vc_txn_write_pending(vc_txn *txn, uint64_t epoch, json_t *list, char *path, size_t size)
{
	vc_bytes old = {0};
	json_t *rec, *prev;
	char *text;
	vc_err err;

	snprintf(path, size, "manifests/pending-%llu.json", (unsigned long long)epoch);
	/* A record left by a crashed commit of the same epoch: keep its objects listed too, since
	 * this commit may write fewer of the same paths. */
	if (vc_store_get(txn->session->store, path, &old) == VC_OK) {
		prev = json_loadb((const char *)old.data, old.len, 0, NULL);
		if (json_is_array(json_object_get(prev, "objects")))
			json_array_extend(list, json_object_get(prev, "objects"));
		json_decref(prev);
	}
	vc_bytes_free(&old);
	vc_clear_error();
	rec = json_pack("{s:I, s:I, s:O}", "epoch", (json_int_t)epoch, "time",
			(json_int_t)time(NULL), "objects", list);
	text = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;
	json_decref(rec);
	if (text == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory recording a commit");
	err = vc_store_put(txn->session->store, path, text, strlen(text));
	free(text);
	return err;
}

/* Record the objects this commit is about to write, so gc can remove them if it fails. */
static vc_err write_pending(commit_state *cs, char *path, size_t size)
{
	vc_txn *txn = cs->txn;
	size_t size_rows = cs->next->chunk_size ? cs->next->chunk_size : VC_DEFAULT_CHUNK_SIZE;
	size_t chunks = (txn->add_count + size_rows - 1) / size_rows;
	json_t *list = json_array();
	char name[64];
	vc_err err;

	for (size_t i = 0; i < chunks; i++) {
		vc_chunk_path(cs->next->next_chunk_id + (uint32_t)i, name, sizeof(name));
		json_array_append_new(list, json_string(name));
	}
	snprintf(name, sizeof(name), VC_TOMBSTONES_PREFIX "%llu.bin",
		 (unsigned long long)cs->epoch);
	json_array_append_new(list, json_string(name));
	snprintf(name, sizeof(name), VC_RECENT_TIER_PREFIX "%llu.bin",
		 (unsigned long long)cs->epoch);
	json_array_append_new(list, json_string(name));
	err = vc_txn_write_pending(txn, cs->epoch, list, path, size);
	json_decref(list);
	return err;
}

static vc_err commit_steps(commit_state *cs, char *pending, size_t pending_size)
{
	vc_err err;

	err = vc_manifest_clone(cs->txn->base, &cs->next);
	if (err != VC_OK)
		return err;
	cs->epoch = cs->txn->base->epoch + 1;
	err = write_pending(cs, pending, pending_size);
	if (err == VC_OK)
		err = write_chunks(cs);
	/* Rewrite the tombstones only when the deletions changed. */
	if (err == VC_OK && cs->txn->del_count > 0)
		err = write_tombstones(cs);
	if (err != VC_OK)
		return err;
	cs->next->epoch = cs->epoch;
	cs->next->committed_at = (int64_t)time(NULL);
	cs->next->total_vectors =
	    cs->txn->base->total_vectors + cs->txn->add_count - cs->txn->del_count;
	return vc_txn_publish(cs->txn, cs->next);
}

vc_err vc_txn_commit(vc_txn *txn, uint64_t *epoch)
{
	commit_state cs = {.txn = txn};
	char pending[64] = "";
	vc_session *session;
	vc_err err;

	if (txn == NULL)
		return vc_fail(VC_ERR_INVALID, "no transaction");
	session = txn->session;
	err = commit_steps(&cs, pending, sizeof(pending));
	/* Committed: leftovers of earlier attempts go, then the record. Failed: it stays for gc. */
	if (err == VC_OK)
		vc_txn_finish_pending(txn, cs.next, pending);
	if (err == VC_OK && epoch != NULL)
		*epoch = cs.epoch;
	vc_manifest_free(cs.next);
	free(cs.nodes);
	vc_txn_free(txn);
	/* The epoch is durable once its manifest is stored: a refresh that fails now (backend
	 * trouble) does not undo it; the session catches up at its next refresh. */
	if (err == VC_OK && vc_session_refresh(session, NULL) != VC_OK)
		vc_clear_error();
	return err;
}
