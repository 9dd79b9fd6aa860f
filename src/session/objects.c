/* Reading a session's objects: fetch, check against the manifest, decrypt, decode, and keep
 * chunks in the session's cache. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "format/chunk_codec.h"
#include "search/distance.h"
#include "session/session_i.h"
#include "util/error_i.h"

/*
 * A cached value. The pointer the cache hands out is &u (a vc_chunk or a vc_bytes), which is
 * what session.h promises; the wrapper around it is found again by subtracting the offset of u.
 * A decoded chunk is moved out of the struct vc_chunk_open allocated ("shell") into u.chunk and
 * moved back before vc_chunk_free, so the format module frees what it allocated.
 */
typedef struct cached_value {
	uint32_t kind;
	vc_chunk *shell;
	float *inv_norms; /* cosine sessions: 1/|row| per row */
	union {
		vc_chunk chunk;
		vc_bytes plain;
	} u;
} cached_value;

static cached_value *cached_of(const void *value)
{
	return (cached_value *)((char *)value - offsetof(cached_value, u));
}

void vc_session_free_cached(void *value)
{
	cached_value *cached;

	if (value == NULL)
		return;
	cached = cached_of(value);
	if (cached->kind == VC_CACHE_KIND_CHUNK || cached->kind == VC_CACHE_KIND_FRAME) {
		*cached->shell = cached->u.chunk;
		vc_chunk_free(cached->shell);
		free(cached->inv_norms);
	} else {
		vc_bytes_free(&cached->u.plain);
	}
	free(cached);
}

const float *vc_session_entry_inv_norms(const vc_cache_entry *entry)
{
	cached_value *cached = cached_of(vc_cache_entry_value(entry));

	return cached->kind == VC_CACHE_KIND_PLAIN ? NULL : cached->inv_norms;
}

vc_object_kind vc_session_path_kind(const char *path)
{
	if (strncmp(path, "chunks/", 7) == 0)
		return VC_OBJECT_CHUNK;
	if (strncmp(path, "index/", 6) == 0)
		return VC_OBJECT_INDEX;
	return VC_OBJECT_METADATA;
}

void vc_session_object_ctx(const vc_session *session, const char *path, vc_object_ctx *ctx)
{
	ctx->keyring = session->keyring;
	ctx->session_id = session->session_id;
	ctx->kind = vc_session_path_kind(path);
	ctx->path = path;
}

vc_err vc_session_name_path(vc_err err, const char *path)
{
	if (strstr(vc_last_error(), path) != NULL)
		return err;
	return vc_fail_context(err, "%s", path);
}

/* Checks that fail on data the manifest vouches for: tampering when the manifest is keyed. */
static vc_err mismatch_code(const vc_session *session)
{
	return session->keyring != NULL ? VC_ERR_AUTH : VC_ERR_CORRUPT;
}

/* Compare a hash the manifest vouches for; a mismatch names the path and what differs. */
static vc_err check_hash(const vc_session *session, const vc_object_ref *ref, const uint8_t *want,
			 const uint8_t *have, const char *what)
{
	if (sodium_memcmp(want, have, VC_HASH_BYTES) == 0)
		return VC_OK;
	return vc_fail(mismatch_code(session),
		       "%s: stored bytes do not match the manifest (tampered, truncated or "
		       "replaced): %s differs",
		       ref->path, what);
}

vc_err vc_session_fetch_checked(vc_session *session, const vc_object_ref *ref, bool full_hash,
				vc_bytes *stored)
{
	uint8_t hash[VC_HASH_BYTES];
	vc_err err;

	memset(stored, 0, sizeof(*stored));
	/* One byte more than expected is enough to see that an object grew, without reading all
	 * of an object storage may have replaced with something huge. */
	err = vc_store_get_range(session->store, ref->path, 0,
				 ref->byte_size < UINT64_MAX ? ref->byte_size + 1 : VC_STORE_TO_END,
				 stored);
	if (err != VC_OK)
		return vc_session_name_path(err, ref->path);
	if (stored->len != ref->byte_size) {
		err = vc_fail(mismatch_code(session),
			      "%s: stored bytes do not match the manifest (tampered, truncated or "
			      "replaced): %s%zu bytes stored, %llu expected",
			      ref->path, stored->len > ref->byte_size ? "at least " : "",
			      stored->len, (unsigned long long)ref->byte_size);
		goto fail;
	}
	if (ref->has_header_hash) {
		err = vc_envelope_header_hash(stored->data, stored->len, hash);
		if (err != VC_OK)
			err = vc_fail(mismatch_code(session), "%s: %s", ref->path, vc_last_error());
		if (err == VC_OK)
			err = check_hash(session, ref, ref->header_hash, hash, "header hash");
		if (err != VC_OK)
			goto fail;
	}
	/*
	 * With the header hash checked, the header seal authenticates the frame table and every
	 * frame's seal binds H, so opening every frame authenticates the whole object: the full
	 * hash (half the cost of a load) is left to verify and to manifests without header_hash.
	 */
	if (full_hash || !ref->has_header_hash) {
		err = vc_hash_object(stored->data, stored->len, hash);
		if (err == VC_OK)
			err = check_hash(session, ref, ref->hash, hash, "hash");
		if (err != VC_OK)
			goto fail;
	}
	return VC_OK;

fail:
	vc_bytes_free(stored);
	return err;
}

/* What a cache loader needs: the session, the chunk, and whose counters to charge. */
typedef struct load_ctx {
	vc_session *session;
	const vc_manifest *manifest;
	const vc_chunk_ref *ref;
	vc_load_counters *counters;
	bool loaded;
} load_ctx;

static void count_load(load_ctx *ctx, size_t bytes, uint64_t started)
{
	vc_session *session = ctx->session;
	uint64_t frames = session->keyring != NULL ? ctx->ref->object.frame_count : 0;

	ctx->loaded = true;
	if (ctx->counters != NULL) {
		ctx->counters->loads++;
		ctx->counters->bytes += bytes;
		ctx->counters->frames += frames;
	}
	atomic_fetch_add(&session->chunk_loads, 1);
	atomic_fetch_add(&session->bytes_fetched, bytes);
	atomic_fetch_add(&session->frames_decrypted, frames);
	atomic_fetch_add(&session->load_ns_total, vc_session_now_ns() - started);
}

vc_err vc_session_check_chunk(const vc_manifest *manifest, const vc_chunk_ref *ref,
			      const vc_chunk *chunk)
{
	const char *path = ref->object.path;

	if (chunk->chunk_id != ref->chunk_id)
		return vc_fail(VC_ERR_CORRUPT, "%s: holds chunk %u, the manifest expects chunk %u",
			       path, chunk->chunk_id, ref->chunk_id);
	if (chunk->dim != manifest->dim)
		return vc_fail(VC_ERR_CORRUPT,
			       "%s: holds %u-dimensional vectors, the session has %u dimensions",
			       path, chunk->dim, manifest->dim);
	if (chunk->count != ref->vector_count)
		return vc_fail(VC_ERR_CORRUPT, "%s: holds %u vectors, the manifest says %u", path,
			       chunk->count, ref->vector_count);
	return VC_OK;
}

static vc_err compute_inv_norms(const vc_chunk *chunk, float **out)
{
	float *inv = malloc((chunk->count ? chunk->count : 1) * sizeof(float));

	if (inv == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for the norms of chunk %u",
			       chunk->chunk_id);
	for (uint32_t i = 0; i < chunk->count; i++) {
		const float *row = chunk->vectors + (size_t)i * chunk->dim;
		float norm = sqrtf(vc_dot(row, row, chunk->dim));

		inv[i] = norm > 0.0f && isfinite(norm) ? 1.0f / norm : 0.0f;
	}
	*out = inv;
	return VC_OK;
}

static vc_err load_chunk(void *arg, uint64_t key, void **value, size_t *bytes)
{
	load_ctx *ctx = arg;
	const vc_object_ref *object = &ctx->ref->object;
	uint64_t started = vc_session_now_ns();
	cached_value *cached;
	vc_chunk *chunk = NULL;
	vc_object_ctx octx;
	vc_bytes stored;
	size_t fetched;
	vc_err err;

	(void)key;
	cached = calloc(1, sizeof(*cached));
	if (cached == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory loading %s", object->path);
	err = vc_session_fetch_checked(ctx->session, object, false, &stored);
	if (err != VC_OK)
		goto fail_cached;
	vc_session_object_ctx(ctx->session, object->path, &octx);
	err = vc_chunk_open(&octx, stored.data, stored.len, &chunk);
	fetched = stored.len;
	vc_bytes_free(&stored);
	if (err != VC_OK) {
		vc_session_name_path(err, object->path);
		goto fail_cached;
	}
	err = vc_session_check_chunk(ctx->manifest, ctx->ref, chunk);
	if (err == VC_OK && ctx->manifest->metric == VC_METRIC_COSINE)
		err = compute_inv_norms(chunk, &cached->inv_norms);
	if (err != VC_OK)
		goto fail_chunk;
	cached->kind = VC_CACHE_KIND_CHUNK;
	cached->shell = chunk;
	cached->u.chunk = *chunk;
	*value = &cached->u.chunk;
	*bytes = sizeof(*cached) + chunk->memory_bytes +
		 (cached->inv_norms != NULL ? chunk->count * sizeof(float) : 0);
	count_load(ctx, fetched, started);
	return VC_OK;

fail_chunk:
	vc_chunk_free(chunk);
fail_cached:
	free(cached);
	return err;
}

static vc_err load_plain(void *arg, uint64_t key, void **value, size_t *bytes)
{
	load_ctx *ctx = arg;
	const vc_object_ref *object = &ctx->ref->object;
	uint64_t started = vc_session_now_ns();
	cached_value *cached;
	vc_object_ctx octx;
	vc_bytes stored;
	vc_err err;

	(void)key;
	cached = calloc(1, sizeof(*cached));
	if (cached == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory loading %s", object->path);
	err = vc_session_fetch_checked(ctx->session, object, false, &stored);
	if (err != VC_OK)
		goto fail_cached;
	vc_session_object_ctx(ctx->session, object->path, &octx);
	err = vc_envelope_open_all(&octx, stored.data, stored.len, &cached->u.plain);
	if (err != VC_OK) {
		vc_session_name_path(err, object->path);
		goto fail_stored;
	}
	if (cached->u.plain.len != object->plain_size) {
		err = vc_fail(VC_ERR_CORRUPT, "%s: decrypts to %zu bytes, the manifest says %llu",
			      object->path, cached->u.plain.len,
			      (unsigned long long)object->plain_size);
		goto fail_plain;
	}
	cached->kind = VC_CACHE_KIND_PLAIN;
	*value = &cached->u.plain;
	*bytes = sizeof(*cached) + cached->u.plain.cap;
	count_load(ctx, stored.len, started);
	vc_bytes_free(&stored);
	return VC_OK;

fail_plain:
	vc_bytes_free(&cached->u.plain);
fail_stored:
	vc_bytes_free(&stored);
fail_cached:
	free(cached);
	return err;
}

/* What the frame loader needs: the chunk, the frame, where it lies if known, whom to charge. */
typedef struct frame_ctx {
	vc_session *session;
	const vc_manifest *manifest;
	const vc_chunk_ref *ref;
	uint32_t frame_index;
	const vc_frame_hint *hint;
	vc_load_counters *counters;
	uint64_t bytes;
	bool loaded;
} frame_ctx;

/* Without a hint: fetch the chunk's header, check it against the manifest, read the table. */
static vc_err locate_frame(frame_ctx *ctx, const vc_object_ctx *octx, vc_frame_loc *loc)
{
	const vc_object_ref *object = &ctx->ref->object;
	uint64_t header_len = 60u + 8u * (uint64_t)object->frame_count;
	uint8_t hash[VC_HASH_BYTES];
	vc_frame_loc *locs = NULL;
	uint32_t count = 0;
	vc_bytes header;
	vc_err err;

	if (ctx->hint != NULL) {
		loc->offset = ctx->hint->offset;
		loc->sealed_len = ctx->hint->sealed_len;
		loc->plain_len = ctx->hint->sealed_len - VC_FRAME_OVERHEAD;
		memcpy(loc->header_hash, ctx->hint->header_hash, VC_HASH_BYTES);
		return VC_OK;
	}
	err = vc_store_get_range(ctx->session->store, object->path, 0, header_len, &header);
	if (err != VC_OK)
		return vc_session_name_path(err, object->path);
	ctx->bytes += header.len;
	err = vc_envelope_header_hash(header.data, header.len, hash);
	if (err == VC_OK && header.len != header_len)
		err = VC_ERR_CORRUPT;
	if (err == VC_OK && object->has_header_hash &&
	    sodium_memcmp(hash, object->header_hash, VC_HASH_BYTES) != 0)
		err = VC_ERR_CORRUPT;
	if (err != VC_OK) {
		vc_bytes_free(&header);
		return vc_fail(mismatch_code(ctx->session),
			       "%s: stored header does not match the manifest (tampered, truncated "
			       "or replaced)",
			       object->path);
	}
	err = vc_envelope_frames(octx, header.data, header.len, &locs, &count);
	vc_bytes_free(&header);
	if (err != VC_OK)
		return vc_session_name_path(err, object->path);
	if (count != object->frame_count || ctx->frame_index >= count)
		err = vc_fail(VC_ERR_CORRUPT, "%s: holds %u frames, the manifest says %u",
			      object->path, count, object->frame_count);
	else
		*loc = locs[ctx->frame_index];
	free(locs);
	return err;
}

/* Fetch the sealed frame by range, open it with the header hash, decode its rows. */
static vc_err fetch_frame(frame_ctx *ctx, const vc_object_ctx *octx, const vc_frame_loc *loc,
			  vc_chunk **chunk)
{
	const vc_object_ref *object = &ctx->ref->object;
	vc_bytes sealed;
	uint8_t *plain;
	vc_err err;

	if (ctx->frame_index == 0 || ctx->frame_index >= object->frame_count ||
	    loc->sealed_len < VC_FRAME_OVERHEAD || loc->offset > object->byte_size ||
	    loc->sealed_len > object->byte_size - loc->offset)
		return vc_fail(VC_ERR_CORRUPT, "%s: frame %u lies outside the chunk", object->path,
			       ctx->frame_index);
	err = vc_store_get_range(ctx->session->store, object->path, loc->offset, loc->sealed_len,
				 &sealed);
	if (err != VC_OK)
		return vc_session_name_path(err, object->path);
	ctx->bytes += sealed.len;
	if (sealed.len != loc->sealed_len) {
		vc_bytes_free(&sealed);
		return vc_fail(mismatch_code(ctx->session),
			       "%s: frame %u of %u is truncated (%zu of %u bytes stored)",
			       object->path, ctx->frame_index, object->frame_count, sealed.len,
			       loc->sealed_len);
	}
	/* Opened in place: the plaintext overwrites the ciphertext, after the 24-byte nonce. */
	plain = sealed.data + 24;
	err = vc_envelope_open_frame(octx, ctx->frame_index, object->frame_count, loc, sealed.data,
				     plain);
	if (err == VC_OK)
		err = vc_chunk_decode_frame(plain, loc->plain_len, ctx->ref->chunk_id,
					    ctx->manifest->dim, chunk);
	vc_bytes_free(&sealed);
	if (err == VC_OK && ctx->hint != NULL && ctx->hint->rows != 0 &&
	    (*chunk)->count != ctx->hint->rows) {
		uint32_t rows = (*chunk)->count;

		vc_chunk_free(*chunk);
		*chunk = NULL;
		err = vc_fail(VC_ERR_CORRUPT, "%s: frame %u holds %u rows, the index says %u",
			      object->path, ctx->frame_index, rows, ctx->hint->rows);
	}
	if (err != VC_OK)
		return vc_session_name_path(err, object->path);
	return VC_OK;
}

static vc_err load_frame(void *arg, uint64_t key, void **value, size_t *bytes)
{
	frame_ctx *ctx = arg;
	uint64_t started = vc_session_now_ns();
	vc_session *session = ctx->session;
	cached_value *cached;
	vc_chunk *chunk = NULL;
	vc_object_ctx octx;
	vc_frame_loc loc;
	vc_err err;

	(void)key;
	cached = calloc(1, sizeof(*cached));
	if (cached == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory loading %s", ctx->ref->object.path);
	vc_session_object_ctx(session, ctx->ref->object.path, &octx);
	err = locate_frame(ctx, &octx, &loc);
	if (err == VC_OK)
		err = fetch_frame(ctx, &octx, &loc, &chunk);
	if (err == VC_OK && ctx->manifest->metric == VC_METRIC_COSINE)
		err = compute_inv_norms(chunk, &cached->inv_norms);
	if (err != VC_OK) {
		vc_chunk_free(chunk);
		free(cached);
		return err;
	}
	cached->kind = VC_CACHE_KIND_FRAME;
	cached->shell = chunk;
	cached->u.chunk = *chunk;
	*value = &cached->u.chunk;
	*bytes = sizeof(*cached) + chunk->memory_bytes +
		 (cached->inv_norms != NULL ? chunk->count * sizeof(float) : 0);
	ctx->loaded = true;
	if (ctx->counters != NULL) {
		ctx->counters->loads++;
		ctx->counters->frame_loads++;
		ctx->counters->bytes += ctx->bytes;
		ctx->counters->frames++;
	}
	atomic_fetch_add(&session->chunk_loads, 1);
	atomic_fetch_add(&session->bytes_fetched, ctx->bytes);
	atomic_fetch_add(&session->frames_decrypted, 1);
	atomic_fetch_add(&session->load_ns_total, vc_session_now_ns() - started);
	return VC_OK;
}

vc_err vc_session_frame_get(vc_session *session, const vc_manifest *manifest, size_t chunk_index,
			    uint32_t frame_index, const vc_frame_hint *hint,
			    vc_load_counters *counters, vc_cache_entry **entry)
{
	frame_ctx ctx = {.session = session,
			 .manifest = manifest,
			 .frame_index = frame_index,
			 .hint = hint,
			 .counters = counters};
	uint64_t key;
	vc_err err;

	*entry = NULL;
	if (chunk_index >= manifest->chunk_count || frame_index >= (1u << 20))
		return vc_fail(VC_ERR_INVALID, "chunk %zu frame %u is out of range", chunk_index,
			       frame_index);
	ctx.ref = &manifest->chunks[chunk_index];
	key = ((uint64_t)ctx.ref->chunk_id << 28) | ((uint64_t)frame_index << 8) |
	      VC_CACHE_KIND_FRAME;
	err = vc_cache_get(session->cache, key, load_frame, &ctx, entry);
	if (err == VC_OK && !ctx.loaded && counters != NULL)
		counters->hits++;
	return err;
}

/* Fetch, check and decrypt a whole object; the plaintext must have the manifest's size. */
static vc_err open_whole(vc_session *session, const vc_object_ref *ref, vc_bytes *plain)
{
	vc_object_ctx octx;
	vc_bytes stored;
	vc_err err;

	memset(plain, 0, sizeof(*plain));
	err = vc_session_fetch_checked(session, ref, false, &stored);
	if (err != VC_OK)
		return err;
	vc_session_object_ctx(session, ref->path, &octx);
	err = vc_envelope_open_all(&octx, stored.data, stored.len, plain);
	vc_bytes_free(&stored);
	if (err != VC_OK)
		return vc_session_name_path(err, ref->path);
	if (plain->len != ref->plain_size) {
		err = vc_fail(VC_ERR_CORRUPT, "%s: decrypts to %zu bytes, the manifest says %llu",
			      ref->path, plain->len, (unsigned long long)ref->plain_size);
		vc_bytes_free(plain);
	}
	return err;
}

vc_err vc_session_read_object(vc_session *session, const vc_manifest *manifest, const char *path,
			      vc_bytes *plain)
{
	const vc_object_ref *ref;

	memset(plain, 0, sizeof(*plain));
	ref = vc_manifest_find(manifest, path);
	if (ref == NULL)
		return vc_fail(VC_ERR_NOT_FOUND, "%s is not an object of session %s", path,
			       session->uri);
	return open_whole(session, ref, plain);
}

/* Loading an index object's plaintext into the cache. */
typedef struct index_load_ctx {
	vc_session *session;
	const vc_object_ref *ref;
	vc_load_counters *counters;
	bool loaded;
} index_load_ctx;

static vc_err load_index_object(void *arg, uint64_t key, void **value, size_t *bytes)
{
	index_load_ctx *ctx = arg;
	uint64_t started = vc_session_now_ns();
	cached_value *cached;
	vc_err err;

	(void)key;
	cached = calloc(1, sizeof(*cached));
	if (cached == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory loading %s", ctx->ref->path);
	err = open_whole(ctx->session, ctx->ref, &cached->u.plain);
	if (err != VC_OK) {
		free(cached);
		return err;
	}
	cached->kind = VC_CACHE_KIND_PLAIN;
	*value = &cached->u.plain;
	*bytes = sizeof(*cached) + cached->u.plain.cap;
	ctx->loaded = true;
	if (ctx->counters != NULL) {
		ctx->counters->bytes += ctx->ref->byte_size;
		ctx->counters->frames += ctx->ref->frame_count;
	}
	atomic_fetch_add(&ctx->session->bytes_fetched, ctx->ref->byte_size);
	atomic_fetch_add(&ctx->session->frames_decrypted, ctx->ref->frame_count);
	atomic_fetch_add(&ctx->session->load_ns_total, vc_session_now_ns() - started);
	return VC_OK;
}

vc_err vc_session_index_object_get(vc_session *session, const vc_manifest *manifest,
				   const char *path, vc_load_counters *counters,
				   vc_cache_entry **entry)
{
	index_load_ctx ctx = {.session = session, .counters = counters};
	uint64_t key = 0;
	vc_err err;

	*entry = NULL;
	ctx.ref = vc_manifest_find(manifest, path);
	if (ctx.ref == NULL)
		return vc_fail(VC_ERR_NOT_FOUND, "%s is not an object of session %s", path,
			       session->uri);
	/* The stored bytes' hash names the content (paths are bound into it), so an index
	 * object of another epoch with the same path gets another key. */
	for (int i = 0; i < 7; i++)
		key = (key << 8) | ctx.ref->hash[i];
	key = (key << 8) | VC_CACHE_KIND_IDS;
	err = vc_cache_get(session->cache, key, load_index_object, &ctx, entry);
	if (err == VC_OK && !ctx.loaded && counters != NULL)
		counters->hits++;
	return err;
}

static vc_err chunk_entry(vc_session *session, const vc_manifest *manifest, size_t chunk_index,
			  uint32_t kind, vc_load_counters *counters, vc_cache_entry **entry)
{
	load_ctx ctx = {.session = session, .manifest = manifest, .counters = counters};
	uint64_t key;
	vc_err err;

	*entry = NULL;
	if (chunk_index >= manifest->chunk_count)
		return vc_fail(VC_ERR_INVALID, "chunk index %zu is out of range (%zu chunks)",
			       chunk_index, manifest->chunk_count);
	ctx.ref = &manifest->chunks[chunk_index];
	/* Chunk ids are never reused within a session, so the id names the content across
	 * epochs and a cached chunk never needs invalidating. */
	key = ((uint64_t)ctx.ref->chunk_id << 8) | kind;
	err = vc_cache_get(session->cache, key,
			   kind == VC_CACHE_KIND_CHUNK ? load_chunk : load_plain, &ctx, entry);
	if (err == VC_OK && !ctx.loaded && counters != NULL)
		counters->hits++;
	return err;
}

vc_err vc_session_chunk_get_counted(vc_session *session, const vc_manifest *manifest,
				    size_t chunk_index, vc_load_counters *counters,
				    vc_cache_entry **entry)
{
	return chunk_entry(session, manifest, chunk_index, VC_CACHE_KIND_CHUNK, counters, entry);
}

vc_err vc_session_chunk_get(vc_session *session, const vc_manifest *manifest, size_t chunk_index,
			    vc_cache_entry **entry)
{
	return chunk_entry(session, manifest, chunk_index, VC_CACHE_KIND_CHUNK, NULL, entry);
}

vc_err vc_session_chunk_plain_get(vc_session *session, const vc_manifest *manifest,
				  size_t chunk_index, vc_cache_entry **entry)
{
	return chunk_entry(session, manifest, chunk_index, VC_CACHE_KIND_PLAIN, NULL, entry);
}

void vc_session_chunk_release(vc_session *session, vc_cache_entry *entry)
{
	if (entry != NULL)
		vc_cache_release(session->cache, entry);
}

vc_err vc_session_chunk_borrow(vc_session *session, const vc_manifest *manifest,
			       size_t chunk_index, vc_chunk_loan *loan)
{
	const vc_chunk_ref *ref;
	vc_object_ctx octx;
	vc_bytes stored;
	vc_err err;

	memset(loan, 0, sizeof(*loan));
	if (chunk_index >= manifest->chunk_count)
		return vc_fail(VC_ERR_INVALID, "chunk index %zu is out of range (%zu chunks)",
			       chunk_index, manifest->chunk_count);
	ref = &manifest->chunks[chunk_index];
	if (vc_cache_peek(session->cache, ((uint64_t)ref->chunk_id << 8) | VC_CACHE_KIND_CHUNK,
			  &loan->entry) == VC_OK) {
		loan->chunk = vc_cache_entry_value(loan->entry);
		return VC_OK;
	}
	vc_clear_error();
	err = vc_session_fetch_checked(session, &ref->object, false, &stored);
	if (err != VC_OK)
		return err;
	vc_session_object_ctx(session, ref->object.path, &octx);
	err = vc_chunk_open(&octx, stored.data, stored.len, &loan->own);
	vc_bytes_free(&stored);
	if (err != VC_OK)
		return vc_session_name_path(err, ref->object.path);
	err = vc_session_check_chunk(manifest, ref, loan->own);
	if (err != VC_OK) {
		vc_chunk_free(loan->own);
		loan->own = NULL;
		return err;
	}
	loan->chunk = loan->own;
	return VC_OK;
}

void vc_session_chunk_return(vc_session *session, vc_chunk_loan *loan)
{
	vc_session_chunk_release(session, loan->entry);
	vc_chunk_free(loan->own);
	memset(loan, 0, sizeof(*loan));
}

vc_err vc_session_metadata(vc_session *session, const vc_manifest *manifest, json_t **out)
{
	vc_bytes plain;
	vc_err err;

	*out = NULL;
	err = vc_session_read_object(session, manifest, "metadata.cbor", &plain);
	if (err != VC_OK)
		return err;
	err = vc_meta_decode(plain.data, plain.len, out);
	vc_bytes_free(&plain);
	if (err != VC_OK)
		return vc_session_name_path(err, "metadata.cbor");
	return VC_OK;
}
