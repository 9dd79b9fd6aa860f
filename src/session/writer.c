/* Creating a session: vectors are validated, packed into chunks that are sealed and stored as
 * they fill, then metadata.cbor and, last of all, manifest.json make the session exist. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/chunk_codec.h"
#include "format/manifest_codec.h"
#include "session/version.h"
#include "session/writer_i.h"
#include "util/error_i.h"

/* Argon2id cost for new passphrase sessions: above libsodium's interactive floor. */
#define WRITER_OPSLIMIT 3u
#define WRITER_MEMLIMIT (64u * 1024u * 1024u)
/* Plaintext vector bytes per envelope frame of a chunk (see frame_rows). */
#define FRAME_TARGET_BYTES (1u << 20)
/* The same for rows a graph indexes (see vc_writer_graph_frame_rows). */
#define GRAPH_FRAME_TARGET_BYTES (16u << 10)

static vc_err writer_keys(vc_writer *writer, const vc_create_options *options)
{
	vc_encryption_info *enc = &writer->encryption;
	vc_err err;

	if (options->no_encryption) {
		if (options->key_file != NULL || options->passphrase != NULL)
			return vc_fail(VC_ERR_INVALID,
				       "a key was given together with no encryption; "
				       "choose one");
		enc->enabled = false;
		strcpy(enc->kdf, "none");
		return VC_OK;
	}
	if (options->key_file != NULL && options->passphrase != NULL)
		return vc_fail(VC_ERR_INVALID,
			       "give either a key file or a passphrase for %s, not both",
			       writer->uri);
	if (options->key_file != NULL) {
		err = vc_keyring_from_file(options->key_file, &writer->keyring);
		strcpy(enc->kdf, "none");
	} else if (options->passphrase != NULL) {
		vc_random_bytes(enc->salt, sizeof(enc->salt));
		enc->opslimit = WRITER_OPSLIMIT > VC_ARGON2_MIN_OPSLIMIT ? WRITER_OPSLIMIT
									 : VC_ARGON2_MIN_OPSLIMIT;
		enc->memlimit = WRITER_MEMLIMIT > VC_ARGON2_MIN_MEMLIMIT ? WRITER_MEMLIMIT
									 : VC_ARGON2_MIN_MEMLIMIT;
		err = vc_keyring_from_passphrase(options->passphrase, enc->salt, enc->opslimit,
						 enc->memlimit, &writer->keyring);
		strcpy(enc->kdf, "argon2id13");
	} else {
		return vc_fail(
		    VC_ERR_PERMISSION,
		    "%s: a new session is encrypted: give --key FILE, VCHUNK_KEY_FILE or "
		    "VCHUNK_PASSPHRASE (or choose no encryption)",
		    writer->uri);
	}
	if (err != VC_OK)
		return err;
	enc->enabled = true;
	memcpy(enc->key_id, writer->keyring->key_id, VC_KEY_ID_BYTES);
	return VC_OK;
}

static vc_err refuse_existing(vc_writer *writer)
{
	uint64_t size;
	vc_err err = vc_store_head(writer->store, "manifest.json", &size);

	if (err == VC_OK)
		return vc_fail(VC_ERR_EXISTS,
			       "a session already exists at %s; it was left untouched",
			       writer->uri);
	if (err != VC_ERR_NOT_FOUND)
		return vc_fail_context(err, "checking for a session at %s", writer->uri);
	vc_clear_error();
	return VC_OK;
}

static void writer_free(vc_writer *writer)
{
	vc_chunk_builder_free(writer->builder);
	for (size_t i = 0; i < writer->chunk_count; i++)
		free(writer->chunks[i].object.path);
	free(writer->chunks);
	for (size_t i = 0; i < writer->object_count; i++)
		free(writer->objects[i].path);
	free(writer->objects);
	vc_spool_close(&writer->spool);
	vc_id_set_free(&writer->ids);
	vc_keyring_free(writer->keyring);
	vc_store_close(writer->store);
	free(writer->uri);
	free(writer);
}

vc_err vc_writer_for_compaction(vc_session *session, const vc_manifest *base,
				vc_index_type index, vc_writer **out)
{
	vc_writer *writer = calloc(1, sizeof(*writer));

	*out = NULL;
	if (writer != NULL)
		writer->uri = strdup(session->uri);
	if (writer == NULL || writer->uri == NULL) {
		free(writer);
		return vc_fail(VC_ERR_NOMEM, "out of memory compacting %s", session->uri);
	}
	writer->borrowed = true;
	writer->store = session->store;
	writer->keyring = session->keyring;
	writer->encryption = base->encryption;
	memcpy(writer->session_id, base->session_id, VC_SESSION_ID_BYTES);
	writer->metric = base->metric;
	writer->chunk_size = base->chunk_size ? base->chunk_size : VC_DEFAULT_CHUNK_SIZE;
	writer->index_type = index;
	writer->spooling = index != VC_INDEX_FLAT;
	writer->created_at = base->created_at;
	writer->first_chunk_id = base->next_chunk_id;
	writer->path_epoch = base->epoch + 1;
	*out = writer;
	return VC_OK;
}

void vc_writer_release(vc_writer *writer)
{
	if (writer == NULL)
		return;
	if (writer->borrowed) {
		writer->store = NULL;
		writer->keyring = NULL;
	}
	writer_free(writer);
}

vc_err vc_writer_create(const char *uri, const vc_create_options *options, vc_writer **out)
{
	static const vc_create_options defaults;
	vc_writer *writer;
	vc_err err;

	if (out == NULL || uri == NULL)
		return vc_fail(VC_ERR_INVALID, "vc_writer_create: no URI given");
	*out = NULL;
	if (options == NULL)
		options = &defaults;
	if ((unsigned)options->metric > VC_METRIC_DOT)
		return vc_fail(VC_ERR_INVALID, "unknown metric %d", (int)options->metric);
	if (options->chunk_size > VC_MAX_CHUNK_SIZE)
		return vc_fail(VC_ERR_INVALID, "chunk size %u is larger than the limit %u",
			       options->chunk_size, (unsigned)VC_MAX_CHUNK_SIZE);
	err = vc_crypto_init();
	if (err != VC_OK)
		return err;
	writer = calloc(1, sizeof(*writer));
	if (writer == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory creating %s", uri);
	writer->uri = strdup(uri);
	if (writer->uri == NULL) {
		free(writer);
		return vc_fail(VC_ERR_NOMEM, "out of memory creating %s", uri);
	}
	if ((unsigned)options->index > VC_INDEX_HNSW) {
		free(writer->uri);
		free(writer);
		return vc_fail(VC_ERR_INVALID, "unknown index type %d", (int)options->index);
	}
	writer->metric = options->metric;
	writer->index_type = options->index;
	writer->nlist = options->nlist;
	writer->hnsw_m = options->hnsw_m;
	writer->hnsw_ef_construction = options->hnsw_ef_construction;
	writer->cancel = options->cancel;
	writer->spooling = options->index != VC_INDEX_FLAT;
	writer->chunk_size = options->chunk_size ? options->chunk_size : VC_DEFAULT_CHUNK_SIZE;
	writer->created_at = (int64_t)time(NULL);
	vc_random_bytes(writer->session_id, sizeof(writer->session_id));
	err = vc_store_open(uri, &options->store, &writer->store);
	if (err == VC_OK)
		err = refuse_existing(writer);
	if (err == VC_OK)
		err = writer_keys(writer, options);
	if (err != VC_OK) {
		writer_free(writer);
		return err;
	}
	*out = writer;
	return VC_OK;
}

static vc_err check_vector(const vc_writer *writer, const char *id, const float *vector,
			   uint32_t dim)
{
	vc_err err = vc_id_check(id);

	if (err != VC_OK)
		return err;
	if (vector == NULL || dim == 0)
		return vc_fail(VC_ERR_INVALID, "vector '%s' has no values", id);
	if (dim > VC_MAX_DIM)
		return vc_fail(VC_ERR_INVALID, "vector '%s' has %u dimensions; the limit is %u", id,
			       dim, (unsigned)VC_MAX_DIM);
	/* A chunk's vectors form one envelope frame; refuse early what could never be sealed. */
	if (writer->dim == 0 &&
	    (uint64_t)writer->chunk_size * dim * sizeof(float) > VC_FRAME_MAX_PLAIN / 2)
		return vc_fail(VC_ERR_INVALID,
			       "chunks of %u vectors of %u dimensions would be too large to store; "
			       "choose a smaller chunk size",
			       writer->chunk_size, dim);
	if (writer->dim != 0 && dim != writer->dim)
		return vc_fail(
		    VC_ERR_INVALID,
		    "vector '%s' has %u dimensions, the session has %u (set by the first "
		    "vector)",
		    id, dim, writer->dim);
	for (uint32_t i = 0; i < dim; i++) {
		if (!isfinite(vector[i]))
			return vc_fail(
			    VC_ERR_INVALID,
			    "vector '%s' has a value that is not a finite number (NaN or "
			    "infinity) at position %u",
			    id, i);
	}
	if (vc_id_set_contains(&writer->ids, id))
		return vc_fail(VC_ERR_INVALID, "duplicate id '%s'", id);
	return VC_OK;
}

static vc_err put_object(vc_writer *writer, const char *path, const vc_bytes *stored,
			 vc_object_ref *ref)
{
	vc_err err;

	if (writer->cancel != NULL && *writer->cancel != 0)
		return vc_fail(VC_ERR_INVALID, "interrupted before storing %s", path);
	ref->path = strdup(path);
	if (ref->path == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory storing %s", path);
	ref->byte_size = stored->len;
	err = vc_hash_object(stored->data, stored->len, ref->hash);
	if (err == VC_OK)
		err = vc_envelope_header_hash(stored->data, stored->len, ref->header_hash);
	ref->has_header_hash = err == VC_OK;
	if (err == VC_OK)
		err = vc_store_put(writer->store, path, stored->data, stored->len);
	if (err != VC_OK)
		return vc_session_name_path(err, path);
	return VC_OK;
}

static void object_ctx(const vc_writer *writer, const char *path, vc_object_ctx *ctx)
{
	ctx->keyring = writer->keyring;
	ctx->session_id = writer->session_id;
	ctx->kind = vc_session_path_kind(path);
	ctx->path = path;
}

/* Seal the filling chunk and store it. The chunk is listed (and so removed by an abort) even
 * when the put fails, since a failed put may still have left the object behind. */
vc_err vc_writer_seal_chunk(vc_writer *writer, vc_frame_loc **locs)
{
	vc_chunk_builder *builder = writer->builder;
	char path[64];
	vc_chunk_ref *ref;
	vc_object_ctx ctx;
	vc_bytes stored = {0};
	vc_err err;

	if (writer->chunk_count == writer->chunk_cap) {
		size_t cap = writer->chunk_cap ? writer->chunk_cap * 2 : 16;
		vc_chunk_ref *grown = realloc(writer->chunks, cap * sizeof(*grown));

		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory listing %zu chunks", cap);
		writer->chunks = grown;
		writer->chunk_cap = cap;
	}
	ref = &writer->chunks[writer->chunk_count];
	memset(ref, 0, sizeof(*ref));
	ref->chunk_id = writer->first_chunk_id + (uint32_t)writer->chunk_count;
	ref->vector_count = vc_chunk_builder_count(builder);
	vc_chunk_path(ref->chunk_id, path, sizeof(path));
	object_ctx(writer, path, &ctx);
	writer->builder = NULL;
	err = vc_chunk_builder_finish(builder, &ctx, &stored, &ref->object.plain_size,
				      &ref->object.frame_count);
	if (err != VC_OK)
		return vc_session_name_path(err, path);
	writer->chunk_count++;
	err = put_object(writer, path, &stored, &ref->object);
	if (err == VC_OK && locs != NULL) {
		uint32_t frames;

		err = vc_envelope_frames(&ctx, stored.data, stored.len, locs, &frames);
	}
	vc_bytes_free(&stored);
	return err;
}

/*
 * Rows per envelope frame: about FRAME_TARGET_BYTES of vectors. A reader decrypts one frame at a
 * time into a scratch buffer, so small frames keep its transient memory near one stored chunk
 * plus one decoded chunk instead of adding a whole plaintext copy.
 */
uint32_t vc_writer_frame_rows(uint32_t dim)
{
	uint32_t rows = FRAME_TARGET_BYTES / (dim * (uint32_t)sizeof(float));

	return rows ? rows : 1;
}

/*
 * Rows per frame where a graph indexes the rows (an HNSW session, the recent tier): a hit is
 * read on its own, one range request and one frame decrypted per result row the cache does not
 * hold, so small frames (about GRAPH_FRAME_TARGET_BYTES) keep that read small; 48 bytes of
 * envelope per frame are the price.
 */
uint32_t vc_writer_graph_frame_rows(uint32_t dim)
{
	uint32_t rows = GRAPH_FRAME_TARGET_BYTES / (dim * (uint32_t)sizeof(float));

	return rows ? rows : 1;
}

static vc_err add_row(vc_writer *writer, const char *id, const float *vector, uint32_t dim,
		      const json_t *metadata)
{
	bool inserted;
	vc_err err;

	if (writer->builder == NULL) {
		err = vc_chunk_builder_new(writer->first_chunk_id + (uint32_t)writer->chunk_count,
					   dim, &writer->builder);
		if (err != VC_OK)
			return err;
	}
	if (vc_chunk_builder_count(writer->builder) % vc_writer_frame_rows(dim) == 0) {
		err = vc_chunk_builder_frame(writer->builder, -1);
		if (err != VC_OK)
			return err;
	}
	err = vc_chunk_builder_add(writer->builder, id, vector, metadata);
	if (err != VC_OK)
		return err;
	err = vc_id_set_insert(&writer->ids, id, &inserted);
	if (err != VC_OK)
		return err;
	writer->dim = dim;
	writer->total++;
	if (vc_chunk_builder_count(writer->builder) >= writer->chunk_size)
		return vc_writer_seal_chunk(writer, NULL);
	return VC_OK;
}

static vc_err spool_row(vc_writer *writer, const char *id, const float *vector, uint32_t dim,
			const json_t *metadata)
{
	vc_bytes meta = {0};
	bool inserted;
	vc_err err;

	if (writer->dim == 0) {
		err = vc_spool_open(&writer->spool, dim);
		if (err != VC_OK)
			return err;
	}
	err = vc_meta_encode(metadata, &meta);
	if (err == VC_OK)
		err = vc_spool_add(&writer->spool, id, vector, &meta);
	vc_bytes_free(&meta);
	if (err == VC_OK)
		err = vc_id_set_insert(&writer->ids, id, &inserted);
	if (err != VC_OK)
		return err;
	writer->dim = dim;
	writer->total++;
	return VC_OK;
}

vc_err vc_writer_add(vc_writer *writer, const char *id, const float *vector, uint32_t dim,
		     const json_t *metadata)
{
	vc_err err;

	if (writer->broken != VC_OK)
		return vc_fail(writer->broken,
			       "the writer for %s failed earlier; abort it and start again",
			       writer->uri);
	err = check_vector(writer, id, vector, dim);
	if (err != VC_OK)
		return err;
	/* Past validation, a failure may leave a half-added row or chunk: no further use. */
	if (writer->spooling)
		err = spool_row(writer, id, vector, dim, metadata);
	else
		err = add_row(writer, id, vector, dim, metadata);
	if (err != VC_OK)
		writer->broken = err;
	return err;
}

static vc_err write_metadata(vc_writer *writer)
{
	char created[32];
	struct tm tm;
	time_t now = (time_t)writer->created_at;
	vc_bytes plain = {0};
	json_t *doc;
	vc_err err;

	gmtime_r(&now, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	doc = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:s}", "format", VC_FORMAT_NAME,
			"created_at", created, "dim", (json_int_t)writer->dim, "metric",
			vc_metric_name(writer->metric), "total_vectors", (json_int_t)writer->total,
			"chunk_count", (json_int_t)writer->chunk_count, "producer",
			"vchunk " VC_VERSION_STRING);
	if (doc == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory building metadata.cbor");
	err = vc_meta_encode(doc, &plain);
	json_decref(doc);
	if (err != VC_OK)
		return vc_session_name_path(err, "metadata.cbor");
	err = vc_writer_put_plain(writer, "metadata.cbor", &plain);
	vc_bytes_free(&plain);
	return err;
}

vc_err vc_writer_put_plain(vc_writer *writer, const char *path, const vc_bytes *plain)
{
	vc_bytes stored = {0};
	vc_object_ref *ref;
	vc_object_ctx ctx;
	vc_err err;

	if (writer->object_count == writer->object_cap) {
		size_t cap = writer->object_cap ? writer->object_cap * 2 : 8;
		vc_object_ref *grown = realloc(writer->objects, cap * sizeof(*grown));

		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory storing %s", path);
		writer->objects = grown;
		writer->object_cap = cap;
	}
	ref = &writer->objects[writer->object_count];
	memset(ref, 0, sizeof(*ref));
	object_ctx(writer, path, &ctx);
	err = vc_envelope_seal(&ctx, 1, plain, &stored);
	if (err != VC_OK)
		return vc_session_name_path(err, path);
	ref->plain_size = plain->len;
	ref->frame_count = 1;
	/* Listed before the put, so an abort removes whatever a failed put left. */
	writer->object_count++;
	err = put_object(writer, path, &stored, ref);
	vc_bytes_free(&stored);
	return err;
}

static void fill_manifest(const vc_writer *writer, vc_manifest *m)
{
	memset(m, 0, sizeof(*m));
	m->format_version = VC_FORMAT_VERSION;
	m->version = VC_MANIFEST_LAYOUT_VERSION;
	m->epoch = 1;
	memcpy(m->session_id, writer->session_id, VC_SESSION_ID_BYTES);
	m->dim = writer->dim;
	m->metric = writer->metric;
	m->chunk_size = writer->chunk_size;
	m->total_vectors = writer->total;
	m->created_at = writer->created_at;
	m->committed_at = (int64_t)time(NULL);
	m->next_chunk_id = (uint32_t)writer->chunk_count;
	m->encryption = writer->encryption;
	m->chunk_count = writer->chunk_count;
	/* The manifest only borrows the writer's lists; it is never freed with vc_manifest_free. */
	m->chunks = writer->chunks;
	m->index = writer->index;
	m->object_count = writer->object_count;
	m->objects = writer->objects;
}

static vc_err write_manifest(vc_writer *writer)
{
	vc_bytes json = {0};
	vc_manifest manifest;
	vc_err err;

	if (writer->cancel != NULL && *writer->cancel != 0)
		return vc_fail(VC_ERR_INVALID, "interrupted before storing manifest.json");
	fill_manifest(writer, &manifest);
	err = vc_manifest_serialize(&manifest, writer->keyring, &json);
	if (err != VC_OK)
		return vc_fail_context(err, "writing manifest.json of %s", writer->uri);
	writer->manifest_tried = true;
	err = vc_store_put(writer->store, "manifest.json", json.data, json.len);
	vc_bytes_free(&json);
	if (err != VC_OK)
		return vc_session_name_path(err, "manifest.json");
	return VC_OK;
}

static vc_err commit_steps(vc_writer *writer)
{
	vc_err err;

	if (writer->broken != VC_OK)
		return vc_fail(writer->broken,
			       "the writer for %s failed earlier; nothing committed", writer->uri);
	if (writer->total == 0)
		return vc_fail(VC_ERR_INVALID, "no vectors to import into %s", writer->uri);
	if (writer->spooling) {
		err = vc_writer_layout(writer);
		if (err != VC_OK)
			return err;
	}
	if (writer->builder != NULL && vc_chunk_builder_count(writer->builder) > 0) {
		err = vc_writer_seal_chunk(writer, NULL);
		if (err != VC_OK)
			return err;
	}
	err = write_metadata(writer);
	if (err != VC_OK)
		return err;
	return write_manifest(writer);
}

static size_t remove_written(vc_writer *writer);

vc_err vc_writer_commit(vc_writer *writer)
{
	char *message;
	size_t left;
	vc_err err;

	if (writer == NULL)
		return vc_fail(VC_ERR_INVALID, "vc_writer_commit: no writer");
	err = commit_steps(writer);
	if (err == VC_OK) {
		writer_free(writer);
		return VC_OK;
	}
	/* Cleaning up records messages of its own; the caller needs the first one. */
	message = strdup(vc_last_error());
	left = remove_written(writer);
	writer_free(writer);
	if (message == NULL)
		return vc_fail(err, "committing the session failed");
	if (left > 0)
		vc_fail(err, "%s (and %zu objects already written could not be removed)", message,
			left);
	else
		vc_fail(err, "%s", message);
	free(message);
	return err;
}

/*
 * 1 if @p path could not be removed (it is still there or we cannot tell), else 0. Once the
 * backend is unreachable, the remaining removals are not tried: each would only wait through its
 * own retries and fail the same way.
 */
static size_t remove_object(vc_writer *writer, const char *path, bool *backend_down)
{
	vc_err err;

	if (*backend_down)
		return 1;
	err = vc_store_remove(writer->store, path);
	if (err == VC_ERR_UNAVAILABLE || err == VC_ERR_TIMEOUT)
		*backend_down = true;
	return err != VC_OK && err != VC_ERR_NOT_FOUND;
}

static size_t remove_written(vc_writer *writer)
{
	bool down = false;
	size_t left = 0;

	/* The manifest goes first, so the session stops existing before its objects do. It was
	 * ours: create refused to start where one existed. */
	if (writer->manifest_tried)
		left += remove_object(writer, "manifest.json", &down);
	for (size_t i = 0; i < writer->object_count; i++) {
		if (writer->objects[i].path != NULL)
			left += remove_object(writer, writer->objects[i].path, &down);
	}
	for (size_t i = 0; i < writer->chunk_count; i++) {
		if (writer->chunks[i].object.path != NULL)
			left += remove_object(writer, writer->chunks[i].object.path, &down);
	}
	return left;
}

void vc_writer_abort(vc_writer *writer)
{
	if (writer == NULL)
		return;
	remove_written(writer);
	writer_free(writer);
}
