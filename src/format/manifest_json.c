/* manifest.json: parsing with validation, serialisation, and the keyed MAC over its canonical form.
 */
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "format/envelope.h"
#include "format/manifest_codec.h"
#include "util/error_i.h"

#define HASH_PREFIX "blake2b-256:"
#define HASH_PREFIX_LEN 12
#define ALGORITHM "xchacha20poly1305-ietf"
#define CANONICAL_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

static vc_err field_error(const char *where, const char *key, const char *what)
{
	return vc_fail(VC_ERR_CORRUPT, "manifest: %s\"%s\" %s", where, key, what);
}

/* A required non-negative integer no larger than max (no floats, no strings). */
static vc_err get_uint(json_t *obj, const char *where, const char *key, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	json_int_t n;

	if (v == NULL)
		return field_error(where, key, "is missing");
	if (!json_is_integer(v))
		return field_error(where, key, "must be an integer");
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n > max)
		return vc_fail(VC_ERR_CORRUPT, "manifest: %s\"%s\" is %lld, outside 0..%" PRIu64,
			       where, key, (long long)n, max);
	*out = (uint64_t)n;
	return VC_OK;
}

static vc_err get_u32(json_t *obj, const char *where, const char *key, uint32_t *out)
{
	uint64_t v;
	vc_err err = get_uint(obj, where, key, UINT32_MAX, &v);

	if (err == VC_OK)
		*out = (uint32_t)v;
	return err;
}

static vc_err get_string(json_t *obj, const char *where, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return field_error(where, key, "is missing");
	if (!json_is_string(v))
		return field_error(where, key, "must be a string");
	*out = json_string_value(v);
	return VC_OK;
}

/* Exactly 2*n lowercase hex digits. */
static bool hex_decode(const char *hex, uint8_t *out, size_t n)
{
	size_t i;

	if (strlen(hex) != 2 * n)
		return false;
	for (i = 0; i < 2 * n; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return false;
	return sodium_hex2bin(out, n, hex, 2 * n, NULL, NULL, NULL) == 0;
}

static vc_err get_hex(json_t *obj, const char *where, const char *key, uint8_t *out, size_t n)
{
	const char *s;
	vc_err err = get_string(obj, where, key, &s);

	if (err != VC_OK)
		return err;
	if (!hex_decode(s, out, n))
		return vc_fail(VC_ERR_CORRUPT,
			       "manifest: %s\"%s\" must be %zu lowercase hex digits", where, key,
			       2 * n);
	return VC_OK;
}

static vc_err parse_hash(const char *s, const char *where, const char *key,
			 uint8_t out[VC_HASH_BYTES])
{
	if (strncmp(s, HASH_PREFIX, HASH_PREFIX_LEN) != 0 ||
	    !hex_decode(s + HASH_PREFIX_LEN, out, VC_HASH_BYTES))
		return vc_fail(VC_ERR_CORRUPT,
			       "manifest: %s\"%s\" must be \"blake2b-256:\" and 64 lowercase hex "
			       "digits",
			       where, key);
	return VC_OK;
}

/* byte_size, plain_size, hash and frames: the fields every object entry shares. */
static vc_err parse_object_fields(json_t *obj, const char *where, vc_object_ref *ref)
{
	const char *s;
	vc_err err;

	err = get_uint(obj, where, "byte_size", INT64_MAX, &ref->byte_size);
	if (err == VC_OK)
		err = get_uint(obj, where, "plain_size", INT64_MAX, &ref->plain_size);
	if (err == VC_OK)
		err = get_u32(obj, where, "frames", &ref->frame_count);
	if (err == VC_OK)
		err = get_string(obj, where, "hash", &s);
	if (err == VC_OK)
		err = parse_hash(s, where, "hash", ref->hash);
	/* Optional: manifests written before it existed are read with the full hash check. */
	if (err == VC_OK && json_object_get(obj, "header_hash") != NULL) {
		err = get_string(obj, where, "header_hash", &s);
		if (err == VC_OK)
			err = parse_hash(s, where, "header_hash", ref->header_hash);
		ref->has_header_hash = err == VC_OK;
	}
	if (err == VC_OK)
		err = get_string(obj, where, "path", &s);
	if (err != VC_OK)
		return err;
	ref->path = strdup(s);
	if (ref->path == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory parsing the manifest");
	return VC_OK;
}

static vc_err parse_chunks(json_t *arr, vc_manifest *m)
{
	char where[48];
	json_t *item, *cid;
	uint64_t count;
	size_t i;
	vc_err err;

	if (!json_is_array(arr))
		return vc_fail(VC_ERR_CORRUPT, "manifest: \"chunks\" must be an array");
	count = json_array_size(arr);
	m->chunks = calloc(count > 0 ? count : 1, sizeof(*m->chunks));
	if (m->chunks == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for %" PRIu64 " chunks", count);
	json_array_foreach(arr, i, item)
	{
		vc_chunk_ref *c = &m->chunks[i];

		m->chunk_count = i + 1;
		snprintf(where, sizeof(where), "chunks[%zu].", i);
		if (!json_is_object(item))
			return vc_fail(VC_ERR_CORRUPT, "manifest: chunks[%zu] must be an object",
				       i);
		err = get_u32(item, where, "chunk_id", &c->chunk_id);
		if (err == VC_OK)
			err = get_u32(item, where, "vector_count", &c->vector_count);
		if (err == VC_OK)
			err = parse_object_fields(item, where, &c->object);
		if (err != VC_OK)
			return err;
		cid = json_object_get(item, "cid");
		if (cid == NULL)
			return field_error(where, "cid", "is missing (null when unknown)");
		if (json_is_string(cid)) {
			c->cid = strdup(json_string_value(cid));
			if (c->cid == NULL)
				return vc_fail(VC_ERR_NOMEM, "out of memory parsing the manifest");
		} else if (!json_is_null(cid)) {
			return field_error(where, "cid", "must be a string or null");
		}
	}
	return VC_OK;
}

static const char *object_kind(const char *path)
{
	return strncmp(path, "index/", 6) == 0 ? "index" : "metadata";
}

static vc_err parse_objects(json_t *arr, vc_manifest *m)
{
	char where[48];
	const char *kind;
	json_t *item;
	size_t i;
	vc_err err;

	if (!json_is_array(arr))
		return vc_fail(VC_ERR_CORRUPT, "manifest: \"objects\" must be an array");
	m->objects =
	    calloc(json_array_size(arr) > 0 ? json_array_size(arr) : 1, sizeof(*m->objects));
	if (m->objects == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory parsing the manifest objects");
	json_array_foreach(arr, i, item)
	{
		m->object_count = i + 1;
		snprintf(where, sizeof(where), "objects[%zu].", i);
		if (!json_is_object(item))
			return vc_fail(VC_ERR_CORRUPT, "manifest: objects[%zu] must be an object",
				       i);
		err = parse_object_fields(item, where, &m->objects[i]);
		if (err == VC_OK)
			err = get_string(item, where, "kind", &kind);
		if (err != VC_OK)
			return err;
		if (strcmp(kind, object_kind(m->objects[i].path)) != 0)
			return vc_fail(
			    VC_ERR_CORRUPT,
			    "manifest: %s\"kind\" is \"%s\" but path \"%s\" is a %s object", where,
			    kind, m->objects[i].path, object_kind(m->objects[i].path));
	}
	return VC_OK;
}

static vc_err parse_encryption(json_t *enc, vc_encryption_info *info)
{
	const char *where = "encryption.";
	const char *s;
	json_t *enabled;
	vc_err err;

	if (!json_is_object(enc))
		return vc_fail(VC_ERR_CORRUPT, "manifest: \"encryption\" must be an object");
	enabled = json_object_get(enc, "enabled");
	if (!json_is_boolean(enabled))
		return field_error(where, "enabled", "must be true or false");
	info->enabled = json_is_true(enabled);
	strcpy(info->kdf, "none");
	if (!info->enabled)
		return VC_OK;
	err = get_string(enc, where, "algorithm", &s);
	if (err != VC_OK)
		return err;
	if (strcmp(s, ALGORITHM) != 0)
		return vc_fail(VC_ERR_UNSUPPORTED,
			       "manifest: encryption algorithm \"%s\" is not "
			       "supported (only " ALGORITHM ")",
			       s);
	err = get_hex(enc, where, "key_id", info->key_id, VC_KEY_ID_BYTES);
	if (err == VC_OK)
		err = get_string(enc, where, "kdf", &s);
	if (err != VC_OK)
		return err;
	if (strcmp(s, "none") == 0)
		return VC_OK;
	if (strcmp(s, "argon2id13") != 0)
		return vc_fail(VC_ERR_UNSUPPORTED,
			       "manifest: key derivation \"%s\" is not supported "
			       "(\"none\" or \"argon2id13\")",
			       s);
	strcpy(info->kdf, "argon2id13");
	err = get_hex(enc, where, "salt", info->salt, VC_SALT_BYTES);
	if (err == VC_OK)
		err = get_uint(enc, where, "opslimit", INT64_MAX, &info->opslimit);
	if (err == VC_OK)
		err = get_uint(enc, where, "memlimit", INT64_MAX, &info->memlimit);
	return err;
}

/* The optional "index" object: which approximate index the session carries. */
static vc_err parse_index(json_t *idx, vc_index_info *info)
{
	const char *where = "index.";
	const char *kind;
	vc_err err;

	memset(info, 0, sizeof(*info));
	if (idx == NULL)
		return VC_OK;
	if (!json_is_object(idx))
		return vc_fail(VC_ERR_CORRUPT, "manifest: \"index\" must be an object");
	err = get_string(idx, where, "kind", &kind);
	if (err != VC_OK)
		return err;
	if (strcmp(kind, "flat") == 0)
		info->kind = VC_INDEX_KIND_FLAT;
	else if (strcmp(kind, "ivf") == 0)
		info->kind = VC_INDEX_KIND_IVF;
	else if (strcmp(kind, "hnsw") == 0)
		info->kind = VC_INDEX_KIND_HNSW;
	else
		return vc_fail(VC_ERR_UNSUPPORTED, "manifest: index kind \"%s\" is not supported",
			       kind);
	err = get_u32(idx, where, "nlist", &info->nlist);
	if (err == VC_OK)
		err = get_u32(idx, where, "nprobe", &info->nprobe);
	if (err == VC_OK)
		err = get_u32(idx, where, "ef_search", &info->ef_search);
	if (err == VC_OK)
		err = get_u32(idx, where, "id_shards", &info->id_shards);
	return err;
}

static vc_err parse_header_fields(json_t *root, vc_manifest *m)
{
	const char *s;
	uint64_t v = 0;
	vc_err err;

	err = get_string(root, "", "format", &s);
	if (err != VC_OK)
		return err;
	if (strcmp(s, VC_FORMAT_NAME) != 0)
		return vc_fail(VC_ERR_UNSUPPORTED, "manifest: format \"%s\" is not \"vchunk\"", s);
	err = get_u32(root, "", "format_version", &m->format_version);
	if (err == VC_OK && m->format_version != VC_FORMAT_VERSION)
		return vc_fail(VC_ERR_UNSUPPORTED,
			       "manifest: format_version %u is not supported "
			       "(this build reads %d)",
			       m->format_version, VC_FORMAT_VERSION);
	if (err == VC_OK)
		err = get_u32(root, "", "version", &m->version);
	if (err == VC_OK)
		err = get_uint(root, "", "epoch", INT64_MAX, &m->epoch);
	if (err == VC_OK)
		err = get_hex(root, "", "session_id", m->session_id, VC_SESSION_ID_BYTES);
	if (err == VC_OK)
		err = get_u32(root, "", "dim", &m->dim);
	if (err == VC_OK)
		err = get_string(root, "", "metric", &s);
	if (err != VC_OK)
		return err;
	if (!vc_metric_parse(s, &m->metric))
		return vc_fail(VC_ERR_CORRUPT,
			       "manifest: unknown metric \"%s\" "
			       "(cosine, l2 or dot)",
			       s);
	err = get_u32(root, "", "chunk_size", &m->chunk_size);
	if (err == VC_OK)
		err = get_uint(root, "", "total_vectors", INT64_MAX, &m->total_vectors);
	if (err == VC_OK)
		err = get_uint(root, "", "created_at", INT64_MAX, &v);
	m->created_at = (int64_t)v;
	if (err == VC_OK)
		err = get_uint(root, "", "committed_at", INT64_MAX, &v);
	m->committed_at = (int64_t)v;
	if (err == VC_OK)
		err = get_u32(root, "", "next_chunk_id", &m->next_chunk_id);
	/* Written by sessions changed after their import (docs/FORMAT.md 3.2); absent: 0. */
	if (err == VC_OK && json_object_get(root, "deleted_vectors") != NULL)
		err = get_uint(root, "", "deleted_vectors", INT64_MAX, &m->deleted_vectors);
	if (err == VC_OK && json_object_get(root, "recent_chunks") != NULL)
		err = get_u32(root, "", "recent_chunks", &m->recent_chunks);
	return err;
}

static vc_err load_json(const char *json, size_t len, json_t **root)
{
	json_error_t jerr;

	*root = NULL;
	if (len > VC_MANIFEST_MAX_BYTES)
		return vc_fail(VC_ERR_TOO_BIG, "manifest is %zu bytes, at most %u accepted", len,
			       VC_MANIFEST_MAX_BYTES);
	*root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (*root == NULL)
		return vc_fail(VC_ERR_CORRUPT,
			       "manifest is not valid JSON: %s (line %d, column %d)", jerr.text,
			       jerr.line, jerr.column);
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return vc_fail(VC_ERR_CORRUPT, "manifest is not a JSON object");
	}
	return VC_OK;
}

vc_err vc_manifest_parse(const char *json, size_t len, vc_manifest **out)
{
	vc_manifest *m;
	json_t *root, *mac;
	vc_err err;

	*out = NULL;
	err = load_json(json, len, &root);
	if (err != VC_OK)
		return err;
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		json_decref(root);
		return vc_fail(VC_ERR_NOMEM, "out of memory parsing the manifest");
	}
	err = parse_header_fields(root, m);
	if (err == VC_OK)
		err = parse_encryption(json_object_get(root, "encryption"), &m->encryption);
	if (err == VC_OK)
		err = parse_chunks(json_object_get(root, "chunks"), m);
	if (err == VC_OK)
		err = parse_objects(json_object_get(root, "objects"), m);
	if (err == VC_OK)
		err = parse_index(json_object_get(root, "index"), &m->index);
	mac = json_object_get(root, "mac");
	if (err == VC_OK && mac != NULL && !json_is_string(mac))
		err = vc_fail(VC_ERR_CORRUPT, "manifest: \"mac\" must be a string");
	if (err == VC_OK)
		err = vc_manifest_validate(m);
	json_decref(root);
	if (err != VC_OK) {
		vc_manifest_free(m);
		return err;
	}
	*out = m;
	return VC_OK;
}

/* Keyed BLAKE2b-256 over the canonical form of @p root (which must not hold "mac"). */
static vc_err compute_mac(json_t *root, const vc_keyring *keyring, uint8_t mac[VC_HASH_BYTES])
{
	char *canonical = json_dumps(root, CANONICAL_FLAGS);

	if (canonical == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory serialising the manifest");
	crypto_generichash(mac, VC_HASH_BYTES, (const uint8_t *)canonical, strlen(canonical),
			   keyring->mac_key, VC_KEY_BYTES);
	free(canonical);
	return VC_OK;
}

/* Compare the manifest's key id with the key's, for a precise wrong-key message. */
static vc_err check_key_id(json_t *enc, const vc_keyring *keyring)
{
	char want[2 * VC_KEY_ID_BYTES + 1], got[2 * VC_KEY_ID_BYTES + 1];
	uint8_t key_id[VC_KEY_ID_BYTES];
	vc_err err = get_hex(enc, "encryption.", "key_id", key_id, VC_KEY_ID_BYTES);

	if (err != VC_OK)
		return err;
	if (sodium_memcmp(key_id, keyring->key_id, VC_KEY_ID_BYTES) == 0)
		return VC_OK;
	vc_key_id_hex(key_id, got);
	vc_key_id_hex(keyring->key_id, want);
	return vc_fail(VC_ERR_AUTH,
		       "manifest MAC check failed: the session uses key id %s but "
		       "the key given has id %s (wrong key)",
		       got, want);
}

vc_err vc_manifest_check_mac(const char *json, size_t len, const vc_keyring *keyring)
{
	uint8_t expected[VC_HASH_BYTES], stored[VC_HASH_BYTES];
	json_t *root, *enc, *mac;
	vc_err err;

	err = vc_crypto_init();
	if (err == VC_OK)
		err = load_json(json, len, &root);
	if (err != VC_OK)
		return err;
	enc = json_object_get(root, "encryption");
	mac = json_object_get(root, "mac");
	if (!json_is_object(enc) || !json_is_true(json_object_get(enc, "enabled"))) {
		if (keyring != NULL)
			err = vc_fail(VC_ERR_AUTH,
				      "manifest says the session is not encrypted, but a key was "
				      "given: refusing a possibly downgraded session (open it "
				      "without a key if it really is plaintext)");
		goto out;
	}
	if (keyring == NULL) {
		err = vc_fail(VC_ERR_PERMISSION, "session is encrypted: a key is required");
		goto out;
	}
	err = check_key_id(enc, keyring);
	if (err != VC_OK)
		goto out;
	if (!json_is_string(mac)) {
		err = vc_fail(VC_ERR_AUTH, "manifest of an encrypted session has no \"mac\": "
					   "tampered manifest");
		goto out;
	}
	err = parse_hash(json_string_value(mac), "", "mac", stored);
	if (err != VC_OK) {
		err = vc_fail_context(VC_ERR_AUTH, "manifest MAC check failed");
		goto out;
	}
	json_object_del(root, "mac");
	err = compute_mac(root, keyring, expected);
	if (err == VC_OK && sodium_memcmp(expected, stored, VC_HASH_BYTES) != 0)
		err = vc_fail(VC_ERR_AUTH, "manifest MAC check failed: wrong key or tampered "
					   "manifest");
out:
	json_decref(root);
	return err;
}
