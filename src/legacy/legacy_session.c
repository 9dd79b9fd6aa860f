/* Opening a legacy session: manifest.json, then every file it implies, into one immutable handle;
 * and the accessors over that handle. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legacy/legacy_i.h"
#include "util/error_i.h"

#define MANIFEST_PATH "manifest.json"
#define SESSION_METADATA_PATH "metadata.cbor"
#define SCHEMA_PATH "schema.json"
#define MAX_CHUNK_ID 64

bool vc_legacy_detect(const char *manifest_json, size_t len)
{
	json_t *root = json_loadb(manifest_json, len, 0, NULL);
	json_t *version = json_object_get(root, "version");
	bool legacy = json_is_object(root) && json_is_integer(version) &&
		      (json_integer_value(version) == 2 || json_integer_value(version) == 3) &&
		      json_is_array(json_object_get(root, "chunks")) &&
		      json_object_get(root, "format") == NULL;

	json_decref(root);
	return legacy;
}

/* A chunk id becomes part of an object path, so it must be one plain path component. */
static bool valid_chunk_id(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > MAX_CHUNK_ID || id[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = id[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

static vc_err manifest_uint(json_t *object, const char *key, bool required, size_t index,
			    uint64_t *out, bool *present)
{
	json_t *value = json_object_get(object, key);

	if (present != NULL)
		*present = value != NULL && !json_is_null(value);
	if ((value == NULL || json_is_null(value)) && !required)
		return VC_OK;
	if (!json_is_integer(value) || json_integer_value(value) < 0)
		return vc_fail(VC_ERR_CORRUPT,
			       MANIFEST_PATH ": chunks[%zu].%s should be a non-negative integer",
			       index, key);
	*out = (uint64_t)json_integer_value(value);
	return VC_OK;
}

static vc_err parse_chunk(vc_legacy *lg, json_t *item, size_t index)
{
	vc_legacy_chunk *chunk = &lg->chunks[index];
	const char *id = json_string_value(json_object_get(item, "chunk_id"));
	vc_err err;

	if (!json_is_object(item))
		return vc_fail(VC_ERR_CORRUPT, MANIFEST_PATH ": chunks[%zu] is not an object",
			       index);
	if (id == NULL || !valid_chunk_id(id))
		return vc_fail(VC_ERR_CORRUPT,
			       MANIFEST_PATH ": chunks[%zu].chunk_id should be a name of up to %d "
					     "letters, digits, '-', '_' or '.'",
			       index, MAX_CHUNK_ID);
	for (size_t i = 0; i < index; i++) {
		if (strcmp(lg->chunks[i].chunk_id, id) == 0)
			return vc_fail(VC_ERR_CORRUPT, MANIFEST_PATH ": chunk %s is listed twice",
				       id);
	}
	chunk->chunk_id = strdup(id);
	if (chunk->chunk_id == NULL || asprintf(&chunk->path, "chunks/%s.cbor", id) < 0) {
		chunk->path = NULL;
		return vc_fail(VC_ERR_NOMEM, "out of memory for the chunk list");
	}
	err = manifest_uint(item, "vector_count", true, index, &chunk->declared_count, NULL);
	if (err == VC_OK)
		err = manifest_uint(item, "byte_size", false, index, &chunk->byte_size,
				    &chunk->has_byte_size);
	return err;
}

static vc_err parse_manifest(vc_legacy *lg, const vc_bytes *bytes)
{
	json_error_t jerr;
	json_t *version;
	json_t *chunks;

	lg->manifest = json_loadb((const char *)bytes->data, bytes->len, 0, &jerr);
	if (lg->manifest == NULL)
		return vc_fail(VC_ERR_CORRUPT, MANIFEST_PATH ": line %d column %d: %s", jerr.line,
			       jerr.column, jerr.text);
	version = json_object_get(lg->manifest, "version");
	chunks = json_object_get(lg->manifest, "chunks");
	if (!json_is_object(lg->manifest) || json_object_get(lg->manifest, "format") != NULL)
		return vc_fail(VC_ERR_UNSUPPORTED,
			       MANIFEST_PATH ": not a manifest of the original Rust system");
	if (!json_is_integer(version))
		return vc_fail(VC_ERR_UNSUPPORTED, MANIFEST_PATH ": no integer \"version\"");
	if (json_integer_value(version) != 2 && json_integer_value(version) != 3)
		return vc_fail(VC_ERR_UNSUPPORTED,
			       MANIFEST_PATH ": legacy manifest version %" JSON_INTEGER_FORMAT
					     " is not supported (only 2 and 3)",
			       json_integer_value(version));
	if (!json_is_array(chunks))
		return vc_fail(VC_ERR_CORRUPT, MANIFEST_PATH ": \"chunks\" should be an array");
	lg->version = (uint32_t)json_integer_value(version);
	lg->chunk_count = json_array_size(chunks);
	lg->chunks = calloc(lg->chunk_count ? lg->chunk_count : 1, sizeof(vc_legacy_chunk));
	if (lg->chunks == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for %zu chunks", lg->chunk_count);
	for (size_t i = 0; i < lg->chunk_count; i++) {
		vc_err err = parse_chunk(lg, json_array_get(chunks, i), i);

		if (err != VC_OK)
			return err;
	}
	return VC_OK;
}

static vc_err check_totals(vc_legacy *lg)
{
	json_t *total = json_object_get(lg->manifest, "total_vectors");

	if (total == NULL)
		return VC_OK;
	if (!json_is_integer(total) || json_integer_value(total) < 0)
		return vc_fail(VC_ERR_CORRUPT,
			       MANIFEST_PATH ": total_vectors should be a non-negative integer");
	if ((uint64_t)json_integer_value(total) != lg->stored)
		return vc_fail(VC_ERR_CORRUPT,
			       MANIFEST_PATH ": total_vectors is %" JSON_INTEGER_FORMAT
					     " but the chunks hold %zu vectors",
			       json_integer_value(total), lg->stored);
	return VC_OK;
}

static vc_err read_session_metadata(vc_legacy *lg, vc_store *store)
{
	vc_bytes bytes;
	bool present;
	vc_lcbor c;
	vc_err err = vc_legacy_fetch(store, SESSION_METADATA_PATH, true, &bytes, &present);

	if (err != VC_OK || !present)
		return err;
	vc_lcbor_init(&c, bytes.data, bytes.len, SESSION_METADATA_PATH);
	err = vc_lcbor_to_json(&c, &lg->metadata);
	if (err == VC_OK)
		err = vc_legacy_expect_end(&c);
	vc_bytes_free(&bytes);
	return err;
}

/* schema.json when written, else a non-null "schema" member of the manifest. */
static vc_err read_schema(vc_legacy *lg, vc_store *store)
{
	vc_bytes bytes;
	bool present;
	json_error_t jerr;
	json_t *inline_schema = json_object_get(lg->manifest, "schema");
	vc_err err = vc_legacy_fetch(store, SCHEMA_PATH, true, &bytes, &present);

	if (err != VC_OK)
		return err;
	if (!present) {
		if (inline_schema != NULL && !json_is_null(inline_schema))
			lg->schema = json_incref(inline_schema);
		return VC_OK;
	}
	lg->schema = json_loadb((const char *)bytes.data, bytes.len, JSON_DECODE_ANY, &jerr);
	vc_bytes_free(&bytes);
	if (lg->schema == NULL)
		return vc_fail(VC_ERR_CORRUPT, SCHEMA_PATH ": line %d column %d: %s", jerr.line,
			       jerr.column, jerr.text);
	return VC_OK;
}

static vc_err index_live(vc_legacy *lg)
{
	lg->live = malloc((lg->stored ? lg->stored : 1) * sizeof(size_t));
	if (lg->live == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for the live vector list");
	for (size_t i = 0; i < lg->stored; i++) {
		if (lg->entries[i].deleted)
			lg->info.deleted++;
		else
			lg->live[lg->live_count++] = i;
	}
	lg->info.version = lg->version;
	lg->info.dim = lg->dim;
	lg->info.count = lg->live_count;
	lg->info.stored = lg->stored;
	lg->info.chunk_count = lg->chunk_count;
	return VC_OK;
}

static vc_err read_all(vc_legacy *lg, vc_store *store)
{
	vc_bytes bytes;
	vc_err err = vc_legacy_fetch(store, MANIFEST_PATH, false, &bytes, NULL);

	if (err != VC_OK)
		return err;
	err = parse_manifest(lg, &bytes);
	vc_bytes_free(&bytes);
	for (size_t i = 0; i < lg->chunk_count && err == VC_OK; i++)
		err = vc_legacy_read_chunk(lg, store, i);
	if (err == VC_OK)
		err = check_totals(lg);
	if (err == VC_OK)
		err = vc_legacy_table_build(lg);
	if (err == VC_OK)
		err = vc_legacy_read_graph(lg, store);
	if (err == VC_OK)
		err = vc_legacy_read_ids(lg, store);
	if (err == VC_OK)
		err = read_session_metadata(lg, store);
	if (err == VC_OK)
		err = read_schema(lg, store);
	if (err == VC_OK)
		err = index_live(lg);
	return err;
}

vc_err vc_legacy_open(vc_store *store, vc_legacy **out)
{
	vc_legacy *lg;
	vc_err err;

	*out = NULL;
	if (store == NULL)
		return vc_fail(VC_ERR_INVALID, "no store to open a legacy session from");
	lg = calloc(1, sizeof(*lg));
	if (lg == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory opening a legacy session");
	err = read_all(lg, store);
	if (err != VC_OK) {
		vc_legacy_close(lg);
		return vc_fail_context(err, "legacy session at %s",
				       store->location ? store->location : "(unnamed store)");
	}
	*out = lg;
	return VC_OK;
}

void vc_legacy_close(vc_legacy *legacy)
{
	if (legacy == NULL)
		return;
	for (size_t i = 0; i < legacy->stored; i++) {
		free(legacy->entries[i].id);
		json_decref(legacy->entries[i].metadata);
		free(legacy->entries[i].timestamp);
	}
	for (size_t i = 0; legacy->chunks != NULL && i < legacy->chunk_count; i++) {
		free(legacy->chunks[i].chunk_id);
		free(legacy->chunks[i].path);
	}
	free(legacy->chunks);
	free(legacy->entries);
	free(legacy->vectors);
	free(legacy->live);
	free(legacy->table);
	free(legacy->shorts);
	json_decref(legacy->manifest);
	json_decref(legacy->metadata);
	json_decref(legacy->schema);
	free(legacy);
}

void vc_legacy_get_info(const vc_legacy *legacy, vc_legacy_info *out)
{
	*out = legacy->info;
}

uint32_t vc_legacy_dim(const vc_legacy *legacy)
{
	return legacy->dim;
}

vc_metric vc_legacy_metric(const vc_legacy *legacy)
{
	(void)legacy; /* the original system knew only euclidean distance */
	return VC_METRIC_L2;
}

size_t vc_legacy_count(const vc_legacy *legacy)
{
	return legacy->live_count;
}

vc_err vc_legacy_vector_at(const vc_legacy *legacy, size_t index, vc_legacy_vector *out)
{
	const vc_legacy_entry *entry;

	if (index >= legacy->live_count)
		return vc_fail(VC_ERR_INVALID, "legacy vector %zu out of range (%zu vectors)",
			       index, legacy->live_count);
	entry = &legacy->entries[legacy->live[index]];
	out->id = entry->id;
	out->vector_id = entry->vector_id;
	out->vector = legacy->vectors + legacy->live[index] * legacy->dim;
	out->metadata = entry->metadata != NULL ? entry->metadata : json_null();
	out->timestamp = entry->timestamp;
	out->id_recovered = entry->recovered;
	out->chunk_index = entry->chunk;
	return VC_OK;
}

vc_err vc_legacy_get(const vc_legacy *legacy, size_t index, const char **id, const float **vector,
		     const json_t **metadata)
{
	vc_legacy_vector v = {0};
	vc_err err = vc_legacy_vector_at(legacy, index, &v);

	if (err != VC_OK)
		return err;
	if (id != NULL)
		*id = v.id;
	if (vector != NULL)
		*vector = v.vector;
	if (metadata != NULL)
		*metadata = v.metadata;
	return VC_OK;
}

size_t vc_legacy_chunk_count(const vc_legacy *legacy)
{
	return legacy->chunk_count;
}

const char *vc_legacy_chunk_path(const vc_legacy *legacy, size_t index)
{
	return index < legacy->chunk_count ? legacy->chunks[index].path : NULL;
}

vc_err vc_legacy_metadata_json(const vc_legacy *legacy, json_t **out)
{
	*out = legacy->metadata != NULL ? json_deep_copy(legacy->metadata) : json_null();
	if (*out == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory copying the session metadata");
	return VC_OK;
}

json_t *vc_legacy_schema(const vc_legacy *legacy)
{
	return json_incref(legacy->schema);
}

json_t *vc_legacy_manifest(const vc_legacy *legacy)
{
	return json_incref(legacy->manifest);
}
