/* Recovering user ids, metadata and timestamps of a legacy session. The chunks know vectors only
 * by BLAKE3(user id); metadata_map.cbor keeps the user id in "_originalId" under the short key
 * "vec_" + 8 hex, so an entry is trusted only when BLAKE3 of its _originalId is a stored id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legacy/blake3.h"
#include "legacy/legacy_i.h"
#include "util/error_i.h"

#define MAP_PATH "metadata_map.cbor"
#define TIMESTAMPS_PATH "timestamps.cbor"

static uint32_t prefix_of(const uint8_t *id)
{
	return (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
}

static int by_prefix(const void *pa, const void *pb)
{
	const vc_legacy_short *a = pa, *b = pb;

	if (a->prefix != b->prefix)
		return a->prefix < b->prefix ? -1 : 1;
	return a->index < b->index ? -1 : a->index > b->index;
}

static vc_err shorts_build(vc_legacy *lg)
{
	lg->shorts = malloc((lg->stored ? lg->stored : 1) * sizeof(vc_legacy_short));
	if (lg->shorts == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for the short id table");
	for (size_t i = 0; i < lg->stored; i++) {
		lg->shorts[i].prefix = prefix_of(lg->entries[i].vector_id);
		lg->shorts[i].index = i;
	}
	qsort(lg->shorts, lg->stored, sizeof(vc_legacy_short), by_prefix);
	return VC_OK;
}

size_t vc_legacy_short_range(const vc_legacy *lg, uint32_t prefix, size_t *first)
{
	size_t lo = 0, hi = lg->stored, n = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (lg->shorts[mid].prefix < prefix)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	while (lo + n < lg->stored && lg->shorts[lo + n].prefix == prefix)
		n++;
	return n;
}

bool vc_legacy_parse_short_id(const char *key, size_t len, uint32_t *prefix)
{
	uint32_t v = 0;

	if (len != 12 || memcmp(key, "vec_", 4) != 0)
		return false;
	for (size_t i = 4; i < 12; i++) {
		char ch = key[i];
		unsigned digit;

		if (ch >= '0' && ch <= '9')
			digit = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			digit = (unsigned)(ch - 'a' + 10);
		else
			return false;
		v = v << 4 | digit;
	}
	*prefix = v;
	return true;
}

static void set_metadata(vc_legacy_entry *entry, json_t *metadata)
{
	json_decref(entry->metadata);
	entry->metadata = metadata;
}

/* The user's metadata from a map value holding _originalId: the rest of the object, or the
 * _userMetadata value the original system wrapped non-object metadata in. Takes @p value. */
static json_t *user_metadata(json_t *value)
{
	json_t *inner;

	json_object_del(value, "_originalId");
	inner = json_object_get(value, "_userMetadata");
	if (inner != NULL && json_object_size(value) == 1) {
		json_incref(inner);
		json_decref(value);
		return inner;
	}
	return value;
}

/* Attribute one metadata_map entry; takes @p value. */
static vc_err apply_map_entry(vc_legacy *lg, const char *key, size_t key_len, json_t *value)
{
	const char *original = json_string_value(json_object_get(value, "_originalId"));
	uint32_t prefix;
	size_t first;

	if (original != NULL && original[0] != '\0') {
		uint8_t id[VC_LEGACY_ID_BYTES];
		size_t index;
		char *copy;

		vc_blake3(original, strlen(original), id);
		index = vc_legacy_table_find(lg, id);
		if (index != SIZE_MAX) {
			copy = strdup(original);
			if (copy == NULL) {
				json_decref(value);
				return vc_fail(VC_ERR_NOMEM, "out of memory for a legacy id");
			}
			free(lg->entries[index].id);
			lg->entries[index].id = copy;
			lg->entries[index].recovered = true;
			set_metadata(&lg->entries[index], user_metadata(value));
			return VC_OK;
		}
	} else if (vc_legacy_parse_short_id(key, key_len, &prefix) &&
		   vc_legacy_short_range(lg, prefix, &first) == 1) {
		/* No user id recorded, but the short key names exactly one vector. */
		set_metadata(&lg->entries[lg->shorts[first].index], value);
		return VC_OK;
	}
	lg->info.metadata_unmatched++;
	json_decref(value);
	return VC_OK;
}

static vc_err read_metadata_map(vc_legacy *lg, vc_store *store)
{
	vc_bytes bytes;
	bool present;
	vc_lcbor c;
	uint64_t count;
	vc_err err = vc_legacy_fetch(store, MAP_PATH, true, &bytes, &present);

	if (err != VC_OK || !present)
		return err;
	vc_lcbor_init(&c, bytes.data, bytes.len, MAP_PATH);
	err = vc_lcbor_map(&c, &count, "metadata map");
	for (uint64_t i = 0; i < count && err == VC_OK; i++) {
		const char *key;
		size_t key_len;
		json_t *value = NULL;

		err = vc_lcbor_text(&c, &key, &key_len, "metadata map key");
		if (err == VC_OK)
			err = vc_lcbor_to_json(&c, &value);
		if (err == VC_OK)
			err = apply_map_entry(lg, key, key_len, value);
	}
	if (err == VC_OK)
		err = vc_legacy_expect_end(&c);
	vc_bytes_free(&bytes);
	return err;
}

static bool id_taken(const vc_legacy *lg, const char *id)
{
	uint8_t hash[VC_LEGACY_ID_BYTES];
	size_t index;

	vc_blake3(id, strlen(id), hash);
	index = vc_legacy_table_find(lg, hash);
	return index != SIZE_MAX && lg->entries[index].recovered &&
	       strcmp(lg->entries[index].id, id) == 0;
}

/* Vectors whose user id is unknown are named by their short id, or by the full 64 hex
 * digits when the short one is shared (or spelled like a recovered user id). */
static vc_err name_fallbacks(vc_legacy *lg)
{
	const vc_legacy_short *shorts = lg->shorts;

	for (size_t i = 0; i < lg->stored; i++) {
		vc_legacy_entry *entry = &lg->entries[shorts[i].index];
		bool shared = (i > 0 && shorts[i - 1].prefix == shorts[i].prefix) ||
			      (i + 1 < lg->stored && shorts[i + 1].prefix == shorts[i].prefix);
		char name[4 + 64 + 1];

		if (shared)
			lg->info.short_id_collisions++;
		if (entry->recovered) {
			lg->info.ids_recovered++;
			continue;
		}
		lg->info.ids_fallback++;
		memcpy(name, "vec_", 4);
		vc_legacy_hex(entry->vector_id, name + 4);
		if (!shared)
			name[12] = '\0';
		if (!shared && id_taken(lg, name))
			vc_legacy_hex(entry->vector_id, name + 4);
		if (id_taken(lg, name))
			return vc_fail(VC_ERR_CORRUPT,
				       "%s: a user id is spelled like the fallback name %s",
				       MAP_PATH, name);
		entry->id = strdup(name);
		if (entry->id == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory for a legacy id");
	}
	return VC_OK;
}

static vc_err read_timestamp(vc_legacy *lg, vc_lcbor *c)
{
	uint8_t id[VC_LEGACY_ID_BYTES];
	const char *text;
	size_t len;
	size_t offset;
	size_t index;
	vc_err err = vc_lcbor_id(c, id, "timestamp key");

	if (err != VC_OK)
		return err;
	offset = c->pos;
	err = vc_lcbor_text(c, &text, &len, "timestamp");
	if (err != VC_OK)
		return err;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < 0x20 || text[i] > 0x7e)
			return vc_lcbor_fail(c, offset, "timestamp is not an RFC 3339 string");
	}
	index = vc_legacy_table_find(lg, id);
	if (index == SIZE_MAX)
		return VC_OK; /* a timestamp of a vector no chunk holds tells nothing */
	free(lg->entries[index].timestamp);
	lg->entries[index].timestamp = strndup(text, len);
	if (lg->entries[index].timestamp == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for a timestamp");
	return VC_OK;
}

static vc_err read_timestamps(vc_legacy *lg, vc_store *store)
{
	vc_bytes bytes;
	bool present;
	vc_lcbor c;
	uint64_t fields;
	vc_err err = vc_legacy_fetch(store, TIMESTAMPS_PATH, true, &bytes, &present);

	if (err != VC_OK || !present)
		return err;
	vc_lcbor_init(&c, bytes.data, bytes.len, TIMESTAMPS_PATH);
	err = vc_lcbor_map(&c, &fields, "timestamps file");
	for (uint64_t f = 0; f < fields && err == VC_OK; f++) {
		const char *key;
		size_t key_len;
		uint64_t count;

		err = vc_lcbor_text(&c, &key, &key_len, "field name");
		if (err != VC_OK)
			break;
		if (key_len != 10 || memcmp(key, "timestamps", 10) != 0) {
			err = vc_lcbor_skip(&c);
			continue;
		}
		err = vc_lcbor_map(&c, &count, "timestamps");
		for (uint64_t i = 0; i < count && err == VC_OK; i++)
			err = read_timestamp(lg, &c);
	}
	if (err == VC_OK)
		err = vc_legacy_expect_end(&c);
	vc_bytes_free(&bytes);
	return err;
}

vc_err vc_legacy_read_ids(vc_legacy *lg, vc_store *store)
{
	vc_err err = shorts_build(lg);

	if (err == VC_OK)
		err = read_metadata_map(lg, store);
	if (err == VC_OK)
		err = name_fallbacks(lg);
	if (err == VC_OK)
		err = read_timestamps(lg, store);
	return err;
}
