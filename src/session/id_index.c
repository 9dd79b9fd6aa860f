/* The id index: id shards index/ids/XX.bin (entries sorted by a 64-bit BLAKE2b of the id) and
 * vc_session_lookup, which reads one shard and one chunk frame to find a vector by id. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "format/chunk_codec.h"
#include "index/le_i.h"
#include "session/session_i.h"
#include "session/tombstones.h"
#include "util/error_i.h"

#define SHARD_MAGIC "VCIDS\0\0\1"
#define SHARD_HEADER 24u
#define ENTRY_BYTES 20u

uint64_t vc_id_hash(const char *id)
{
	uint8_t h[8];
	uint64_t v = 0;

	crypto_generichash(h, sizeof(h), (const uint8_t *)id, strlen(id), NULL, 0);
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | h[i];
	return v;
}

uint32_t vc_id_shard_of(uint64_t hash, uint32_t shards)
{
	return shards <= 1 ? 0 : (uint32_t)(hash >> 56) & (shards - 1);
}

void vc_id_shard_path(uint32_t shard, char *buf, size_t size)
{
	snprintf(buf, size, "index/ids/%02x.bin", shard);
}

/*
 * Layout, little-endian: magic "VCIDS\0\0\1" (8), u32 shard, u32 shard count, u64 entry count,
 * then per entry u64 hash, u32 chunk index, u32 frame index, u32 row within the frame.
 */
vc_err vc_id_shard_encode(uint32_t shard, uint32_t shards, const vc_id_entry *entries,
			  uint64_t count, vc_bytes *out)
{
	vc_err err = vc_bytes_reserve(out, SHARD_HEADER + count * ENTRY_BYTES);

	if (err == VC_OK)
		err = vc_bytes_append(out, SHARD_MAGIC, 8);
	if (err == VC_OK)
		err = vc_le_put_u32(out, shard);
	if (err == VC_OK)
		err = vc_le_put_u32(out, shards);
	if (err == VC_OK)
		err = vc_le_put_u64(out, count);
	for (uint64_t i = 0; i < count && err == VC_OK; i++) {
		err = vc_le_put_u64(out, entries[i].hash);
		if (err == VC_OK)
			err = vc_le_put_u32(out, entries[i].chunk_index);
		if (err == VC_OK)
			err = vc_le_put_u32(out, entries[i].frame_index);
		if (err == VC_OK)
			err = vc_le_put_u32(out, entries[i].row_in_frame);
	}
	return err;
}

/* Check the header of an encoded shard; *count gets its number of entries. */
static vc_err shard_check(const uint8_t *data, size_t len, uint32_t shard, uint32_t shards,
			  uint64_t *count)
{
	vc_le_reader r = {data, len};
	uint32_t got_shard = 0, got_shards = 0;
	uint8_t magic[8];

	if (!vc_le_get_bytes(&r, magic, 8) || memcmp(magic, SHARD_MAGIC, 8) != 0 ||
	    !vc_le_get_u32(&r, &got_shard) || !vc_le_get_u32(&r, &got_shards) ||
	    !vc_le_get_u64(&r, count) || got_shard != shard || got_shards != shards ||
	    r.left % ENTRY_BYTES != 0 || *count != r.left / ENTRY_BYTES)
		return vc_fail(VC_ERR_CORRUPT, "id shard %02x: malformed header", shard);
	return VC_OK;
}

vc_err vc_id_shard_decode(const uint8_t *data, size_t len, uint32_t shard, uint32_t shards,
			  vc_id_entry **entries, uint64_t *count)
{
	vc_le_reader r;
	vc_id_entry *e;
	vc_err err;

	*entries = NULL;
	*count = 0;
	err = shard_check(data, len, shard, shards, count);
	if (err != VC_OK) {
		*count = 0;
		return err;
	}
	r = (vc_le_reader){data + SHARD_HEADER, len - SHARD_HEADER};
	e = malloc((*count + 1) * sizeof(*e));
	if (e == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory reading id shard %02x", shard);
	for (uint64_t i = 0; i < *count; i++) {
		vc_le_get_u64(&r, &e[i].hash);
		vc_le_get_u32(&r, &e[i].chunk_index);
		vc_le_get_u32(&r, &e[i].frame_index);
		vc_le_get_u32(&r, &e[i].row_in_frame);
		if ((i > 0 && e[i].hash < e[i - 1].hash) ||
		    vc_id_shard_of(e[i].hash, shards) != shard) {
			free(e);
			return vc_fail(VC_ERR_CORRUPT, "id shard %02x: entries out of order",
				       shard);
		}
	}
	*entries = e;
	return VC_OK;
}

void vc_record_free(vc_record *record)
{
	if (record == NULL)
		return;
	free(record->id);
	free(record->vector);
	json_decref(record->metadata);
	memset(record, 0, sizeof(*record));
}

/* Copy row @p row of a decoded chunk or frame into @p out. */
static vc_err fill_record(const vc_chunk *chunk, uint32_t row, vc_record *out)
{
	const uint8_t *meta = chunk->meta + chunk->meta_offset[row];
	size_t meta_len = chunk->meta_offset[row + 1] - chunk->meta_offset[row];
	vc_err err;

	out->dim = chunk->dim;
	out->id = strdup(chunk->ids[row]);
	out->vector = malloc(chunk->dim * sizeof(float));
	if (out->id == NULL || out->vector == NULL) {
		vc_record_free(out);
		return vc_fail(VC_ERR_NOMEM, "out of memory for vector '%s'", chunk->ids[row]);
	}
	memcpy(out->vector, chunk->vectors + (size_t)row * chunk->dim, chunk->dim * sizeof(float));
	err = vc_meta_decode(meta, meta_len, &out->metadata);
	if (err != VC_OK)
		vc_record_free(out);
	return err;
}

/* Without an id index (or for the recent tier, which it does not cover): scan chunks @p first
 * onwards through the cache, skipping deleted rows. */
static vc_err lookup_scan(vc_session *session, const vc_manifest *manifest, size_t first,
			  const vc_tombstones *deleted, const char *id, vc_record *out)
{
	for (size_t c = first; c < manifest->chunk_count; c++) {
		vc_cache_entry *entry;
		const vc_chunk *chunk;
		uint8_t *dead = NULL;
		vc_err err = vc_session_chunk_get(session, manifest, c, &entry);

		if (err != VC_OK)
			return err;
		chunk = vc_cache_entry_value(entry);
		err = vc_tombstones_chunk_mask(deleted, chunk, &dead);
		for (uint32_t row = 0; row < chunk->count && err == VC_OK; row++) {
			if ((dead == NULL || !dead[row]) && strcmp(chunk->ids[row], id) == 0) {
				err = fill_record(chunk, row, out);
				free(dead);
				vc_session_chunk_release(session, entry);
				return err;
			}
		}
		free(dead);
		vc_session_chunk_release(session, entry);
		if (err != VC_OK)
			return err;
	}
	return vc_fail(VC_ERR_NOT_FOUND, "no vector with id '%s' in %s", id, session->uri);
}

/* Entry @p i of an encoded shard (header checked by the caller). */
static vc_id_entry shard_entry(const uint8_t *data, uint64_t i)
{
	vc_le_reader r = {data + SHARD_HEADER + i * ENTRY_BYTES, ENTRY_BYTES};
	vc_id_entry e;

	vc_le_get_u64(&r, &e.hash);
	vc_le_get_u32(&r, &e.chunk_index);
	vc_le_get_u32(&r, &e.frame_index);
	vc_le_get_u32(&r, &e.row_in_frame);
	return e;
}

/*
 * Check the candidates of @p hash (normally one) in an encoded shard against the id stored in
 * their frame: binary search in place, one frame read per candidate that is not deleted.
 */
static vc_err locate_in_shard(vc_session *session, const vc_manifest *manifest,
			      const vc_tombstones *deleted, const char *id, uint64_t hash,
			      const uint8_t *data, uint64_t count, vc_tomb *where,
			      vc_cache_entry **frame_out)
{
	uint64_t lo = 0, hi = count;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (shard_entry(data, mid).hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < count; lo++) {
		vc_id_entry e = shard_entry(data, lo);
		vc_cache_entry *entry;
		const vc_chunk *frame;
		vc_err err;

		if (e.hash != hash)
			break;
		if (e.chunk_index >= vc_manifest_indexed_chunks(manifest))
			return vc_fail(VC_ERR_CORRUPT, "id index names chunk %u of %zu indexed",
				       e.chunk_index, vc_manifest_indexed_chunks(manifest));
		if (vc_tombstones_has(deleted, manifest->chunks[e.chunk_index].chunk_id,
				      e.frame_index, e.row_in_frame))
			continue;
		err = vc_session_frame_get(session, manifest, e.chunk_index, e.frame_index, NULL,
					   NULL, &entry);
		if (err != VC_OK)
			return err;
		frame = vc_cache_entry_value(entry);
		if (e.row_in_frame >= frame->count) {
			vc_session_chunk_release(session, entry);
			return vc_fail(VC_ERR_CORRUPT,
				       "id index names row %u of a frame with %u rows (chunk %u)",
				       e.row_in_frame, frame->count, e.chunk_index);
		}
		if (strcmp(frame->ids[e.row_in_frame], id) == 0) {
			*where = (vc_tomb){e.chunk_index, e.frame_index, e.row_in_frame};
			if (frame_out != NULL)
				*frame_out = entry;
			else
				vc_session_chunk_release(session, entry);
			return VC_OK;
		}
		vc_session_chunk_release(session, entry);
	}
	return vc_fail(VC_ERR_NOT_FOUND, "no vector with id '%s' in %s", id, session->uri);
}

vc_err vc_id_index_locate(vc_session *session, const vc_manifest *manifest,
			  const vc_tombstones *deleted, const char *id, vc_tomb *where,
			  vc_cache_entry **frame)
{
	uint32_t shards = manifest->index.id_shards;
	uint64_t hash = vc_id_hash(id), count = 0;
	uint32_t shard = vc_id_shard_of(hash, shards);
	vc_cache_entry *entry;
	const vc_bytes *plain;
	char path[32];
	vc_err err;

	if (frame != NULL)
		*frame = NULL;
	if (shards == 0)
		return vc_fail(VC_ERR_INVALID, "%s has no id index", session->uri);
	vc_id_shard_path_of(manifest, shard, path, sizeof(path));
	err = vc_session_index_object_get(session, manifest, path, NULL, &entry);
	if (err != VC_OK)
		return err;
	plain = vc_cache_entry_value(entry);
	err = shard_check(plain->data, plain->len, shard, shards, &count);
	if (err == VC_OK)
		err = locate_in_shard(session, manifest, deleted, id, hash, plain->data, count,
				      where, frame);
	vc_session_chunk_release(session, entry);
	return err == VC_ERR_CORRUPT ? vc_session_name_path(err, path) : err;
}

vc_err vc_session_lookup(vc_session *session, const vc_manifest *manifest, const char *id,
			 vc_record *out)
{
	const vc_tombstones *deleted = NULL;
	vc_cache_entry *frame;
	vc_tomb where;
	vc_err err;

	memset(out, 0, sizeof(*out));
	if (id == NULL || id[0] == '\0')
		return vc_fail(VC_ERR_INVALID, "no id given");
	err = vc_session_tombstones(session, manifest, &deleted);
	if (err != VC_OK)
		return err;
	if (manifest->index.id_shards == 0)
		return lookup_scan(session, manifest, 0, deleted, id, out);
	err = vc_id_index_locate(session, manifest, deleted, id, &where, &frame);
	if (err == VC_OK) {
		err = fill_record(vc_cache_entry_value(frame), where.row, out);
		vc_session_chunk_release(session, frame);
	}
	/* The shards cover the indexed chunks; ids added since live in the recent tier. */
	if (err == VC_ERR_NOT_FOUND && manifest->recent_chunks > 0) {
		vc_clear_error();
		err = lookup_scan(session, manifest, vc_manifest_indexed_chunks(manifest), deleted,
				  id, out);
	}
	return err;
}
