/* Decoding the vectors of a legacy session: chunks/chunk-N.cbor (the primary store), the id
 * table over them, and hnsw_nodes.cbor (deletion flags, cross-checked vectors). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legacy/legacy_i.h"
#include "util/error_i.h"

void vc_legacy_hex(const uint8_t vector_id[VC_LEGACY_ID_BYTES], char hex[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < VC_LEGACY_ID_BYTES; i++) {
		hex[2 * i] = digits[vector_id[i] >> 4];
		hex[2 * i + 1] = digits[vector_id[i] & 15];
	}
	hex[64] = '\0';
}

vc_err vc_legacy_fetch(vc_store *store, const char *path, bool optional, vc_bytes *out,
		       bool *present)
{
	vc_err err;

	memset(out, 0, sizeof(*out));
	if (present != NULL)
		*present = false;
	err = vc_store_get(store, path, out);
	if (err == VC_ERR_NOT_FOUND && optional) {
		vc_clear_error();
		return VC_OK;
	}
	if (err != VC_OK)
		return vc_fail_context(err, "reading legacy session file %s", path);
	if (present != NULL)
		*present = true;
	return VC_OK;
}

vc_err vc_legacy_expect_end(const vc_lcbor *c)
{
	if (c->pos != c->len)
		return vc_lcbor_fail(c, c->pos, "%zu unexpected bytes after the end of the data",
				     c->len - c->pos);
	return VC_OK;
}

/* Room for one more entry and its vector; grows geometrically, so memory follows what the
 * file really holds rather than what a count in it claims. */
static vc_err grow(vc_legacy *lg)
{
	if (lg->stored == lg->entries_cap) {
		size_t cap = lg->entries_cap < 64 ? 64 : lg->entries_cap * 2;
		vc_legacy_entry *entries = realloc(lg->entries, cap * sizeof(*entries));

		if (entries == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory for %zu legacy vectors", cap);
		lg->entries = entries;
		lg->entries_cap = cap;
	}
	if ((lg->stored + 1) * lg->dim > lg->vectors_cap) {
		size_t cap = lg->vectors_cap < 1024 ? 1024 : lg->vectors_cap * 2;
		float *vectors;

		while (cap < (lg->stored + 1) * lg->dim)
			cap *= 2;
		vectors = realloc(lg->vectors, cap * sizeof(float));
		if (vectors == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory for %zu legacy vector values",
				       cap);
		lg->vectors = vectors;
		lg->vectors_cap = cap;
	}
	return VC_OK;
}

/* One "id → [floats]" pair of a chunk's vectors map, appended as a new entry. */
static vc_err read_vector(vc_legacy *lg, vc_lcbor *c, uint32_t chunk)
{
	uint8_t vector_id[VC_LEGACY_ID_BYTES];
	size_t offset;
	uint64_t count;
	vc_legacy_entry *entry;
	vc_err err = vc_lcbor_id(c, vector_id, "vector id");

	if (err != VC_OK)
		return err;
	offset = c->pos;
	err = vc_lcbor_array(c, &count, "vector");
	if (err != VC_OK)
		return err;
	if (count == 0)
		return vc_lcbor_fail(c, offset, "vector has no values");
	if (lg->dim == 0)
		lg->dim = (uint32_t)(count > UINT32_MAX ? UINT32_MAX : count);
	if (count != lg->dim)
		return vc_lcbor_fail(c, offset,
				     "vector has %" PRIu64 " values, the others have %" PRIu32,
				     count, lg->dim);
	err = grow(lg);
	if (err != VC_OK)
		return err;
	for (uint32_t i = 0; i < lg->dim; i++) {
		err = vc_lcbor_float(c, &lg->vectors[lg->stored * lg->dim + i], "vector value");
		if (err != VC_OK)
			return err;
	}
	entry = &lg->entries[lg->stored++];
	memset(entry, 0, sizeof(*entry));
	memcpy(entry->vector_id, vector_id, sizeof(vector_id));
	entry->chunk = chunk;
	return VC_OK;
}

static vc_err read_chunk_vectors(vc_legacy *lg, vc_lcbor *c, size_t index)
{
	uint64_t count;
	vc_err err = vc_lcbor_map(c, &count, "vectors");

	for (uint64_t i = 0; i < count && err == VC_OK; i++)
		err = read_vector(lg, c, (uint32_t)index);
	return err;
}

static vc_err read_chunk_field(vc_legacy *lg, vc_lcbor *c, size_t index, bool *seen_vectors)
{
	vc_legacy_chunk *chunk = &lg->chunks[index];
	const char *key;
	size_t key_len;
	size_t offset;
	vc_err err = vc_lcbor_text(c, &key, &key_len, "chunk field name");

	if (err != VC_OK)
		return err;
	offset = c->pos;
	if (key_len == 8 && memcmp(key, "chunk_id", 8) == 0) {
		const char *name;
		size_t name_len;

		err = vc_lcbor_text(c, &name, &name_len, "chunk_id");
		if (err == VC_OK && (name_len != strlen(chunk->chunk_id) ||
				     memcmp(name, chunk->chunk_id, name_len) != 0))
			err = vc_lcbor_fail(c, offset, "chunk_id \"%.*s\" but the manifest says %s",
					    (int)(name_len > 64 ? 64 : name_len), name,
					    chunk->chunk_id);
	} else if (key_len == 9 && memcmp(key, "start_idx", 9) == 0) {
		err = vc_lcbor_uint(c, &chunk->start_idx, "start_idx");
	} else if (key_len == 7 && memcmp(key, "end_idx", 7) == 0) {
		err = vc_lcbor_uint(c, &chunk->end_idx, "end_idx");
	} else if (key_len == 7 && memcmp(key, "vectors", 7) == 0) {
		if (*seen_vectors)
			return vc_lcbor_fail(c, offset, "a second \"vectors\" field");
		*seen_vectors = true;
		err = read_chunk_vectors(lg, c, index);
	} else {
		err = vc_lcbor_skip(c); /* unknown fields are ignored, as serde would */
	}
	return err;
}

vc_err vc_legacy_read_chunk(vc_legacy *lg, vc_store *store, size_t index)
{
	vc_legacy_chunk *chunk = &lg->chunks[index];
	vc_bytes bytes;
	vc_lcbor c;
	uint64_t fields;
	bool seen_vectors = false;
	vc_err err = vc_legacy_fetch(store, chunk->path, false, &bytes, NULL);

	if (err != VC_OK)
		return err;
	chunk->first = lg->stored;
	vc_lcbor_init(&c, bytes.data, bytes.len, chunk->path);
	if (chunk->has_byte_size && chunk->byte_size != bytes.len) {
		err = vc_fail(VC_ERR_CORRUPT, "%s: the manifest says %" PRIu64 " bytes, it has %zu",
			      chunk->path, chunk->byte_size, bytes.len);
		goto out;
	}
	err = vc_lcbor_map(&c, &fields, "chunk");
	for (uint64_t i = 0; i < fields && err == VC_OK; i++)
		err = read_chunk_field(lg, &c, index, &seen_vectors);
	if (err == VC_OK)
		err = vc_legacy_expect_end(&c);
	if (err == VC_OK && !seen_vectors)
		err = vc_lcbor_fail(&c, 0, "the chunk has no \"vectors\" field");
	chunk->count = lg->stored - chunk->first;
	if (err == VC_OK && chunk->count != chunk->declared_count)
		err = vc_fail(VC_ERR_CORRUPT, "%s holds %zu vectors, the manifest says %" PRIu64,
			      chunk->path, chunk->count, chunk->declared_count);
out:
	vc_bytes_free(&bytes);
	return err;
}

/* Ids are BLAKE3 outputs, but a hostile file chooses them, so mix all 32 bytes. */
static size_t id_hash(const uint8_t *id)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < VC_LEGACY_ID_BYTES; i++)
		h = (h ^ id[i]) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 29));
}

vc_err vc_legacy_table_build(vc_legacy *lg)
{
	size_t size = 16;

	while (size < lg->stored * 2)
		size *= 2;
	lg->table = calloc(size, sizeof(size_t));
	if (lg->table == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for the legacy id table");
	lg->table_mask = size - 1;
	for (size_t i = 0; i < lg->stored; i++) {
		size_t slot = id_hash(lg->entries[i].vector_id) & lg->table_mask;

		while (lg->table[slot] != 0) {
			const vc_legacy_entry *other = &lg->entries[lg->table[slot] - 1];

			if (memcmp(other->vector_id, lg->entries[i].vector_id,
				   VC_LEGACY_ID_BYTES) == 0) {
				char hex[65];

				vc_legacy_hex(other->vector_id, hex);
				return vc_fail(VC_ERR_CORRUPT,
					       "vector id %s is stored twice (%s, %s)", hex,
					       lg->chunks[other->chunk].path,
					       lg->chunks[lg->entries[i].chunk].path);
			}
			slot = (slot + 1) & lg->table_mask;
		}
		lg->table[slot] = i + 1;
	}
	return VC_OK;
}

size_t vc_legacy_table_find(const vc_legacy *lg, const uint8_t vector_id[VC_LEGACY_ID_BYTES])
{
	size_t slot;

	if (lg->table == NULL)
		return SIZE_MAX;
	slot = id_hash(vector_id) & lg->table_mask;
	while (lg->table[slot] != 0) {
		size_t index = lg->table[slot] - 1;

		if (memcmp(lg->entries[index].vector_id, vector_id, VC_LEGACY_ID_BYTES) == 0)
			return index;
		slot = (slot + 1) & lg->table_mask;
	}
	return SIZE_MAX;
}
