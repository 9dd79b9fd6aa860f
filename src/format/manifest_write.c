/* Manifest validation (shared by parse and serialise) and serialisation with its MAC. */
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "format/envelope.h"
#include "format/manifest_codec.h"
#include "util/error_i.h"

#define ENVELOPE_BASE 60u      /* fixed header 20 + header seal 40 */
#define ENVELOPE_PER_FRAME 48u /* table entry 8 + nonce 24 + tag 16 */

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int compare_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Envelope sizes are exact: byte_size = 60 + 48 * frames + plain_size. */
static vc_err check_object(const vc_object_ref *ref, const char *what, size_t i)
{
	if (!vc_object_path_valid(ref->path))
		return vc_fail(VC_ERR_CORRUPT, "manifest: %s[%zu] has an invalid path \"%s\"", what,
			       i, ref->path != NULL ? ref->path : "(null)");
	if (ref->byte_size > INT64_MAX || ref->plain_size > INT64_MAX ||
	    ref->frame_count > VC_ENVELOPE_MAX_FRAMES ||
	    ref->byte_size !=
		ENVELOPE_BASE + (uint64_t)ENVELOPE_PER_FRAME * ref->frame_count + ref->plain_size)
		return vc_fail(VC_ERR_CORRUPT,
			       "manifest: %s (%s) has inconsistent sizes: byte_size %" PRIu64
			       ", plain_size %" PRIu64 ", frames %u",
			       what, ref->path, ref->byte_size, ref->plain_size, ref->frame_count);
	return VC_OK;
}

static vc_err check_chunks(const vc_manifest *m)
{
	char path[64];
	uint64_t total = 0;
	uint32_t *ids;
	size_t i;
	vc_err err = VC_OK;

	ids = malloc((m->chunk_count > 0 ? m->chunk_count : 1) * sizeof(*ids));
	if (ids == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory validating the manifest");
	for (i = 0; i < m->chunk_count && err == VC_OK; i++) {
		const vc_chunk_ref *c = &m->chunks[i];

		vc_chunk_path(c->chunk_id, path, sizeof(path));
		ids[i] = c->chunk_id;
		total += c->vector_count;
		err = check_object(&c->object, "chunks", i);
		if (err != VC_OK)
			break;
		if (strcmp(c->object.path, path) != 0)
			err = vc_fail(VC_ERR_CORRUPT,
				      "manifest: chunk %u has path \"%s\", expected "
				      "\"%s\"",
				      c->chunk_id, c->object.path, path);
		else if (c->chunk_id >= m->next_chunk_id)
			err = vc_fail(VC_ERR_CORRUPT,
				      "manifest: chunk id %u is not below "
				      "next_chunk_id %u",
				      c->chunk_id, m->next_chunk_id);
		else if (c->object.frame_count < 1)
			err = vc_fail(VC_ERR_CORRUPT, "manifest: chunk %u has no frames",
				      c->chunk_id);
		else if (c->cid != NULL && (c->cid[0] == '\0' || strlen(c->cid) > 255))
			err = vc_fail(VC_ERR_CORRUPT,
				      "manifest: chunk %u has an empty or overlong "
				      "cid",
				      c->chunk_id);
	}
	/* Chunks hold live and deleted rows: total_vectors counts the live ones. */
	if (err == VC_OK && (m->deleted_vectors > total || total - m->deleted_vectors != m->total_vectors))
		err = vc_fail(VC_ERR_CORRUPT,
			      "manifest: total_vectors is %" PRIu64 " and deleted_vectors %" PRIu64
			      " but the chunks hold %" PRIu64,
			      m->total_vectors, m->deleted_vectors, total);
	if (err == VC_OK && m->recent_chunks > m->chunk_count)
		err = vc_fail(VC_ERR_CORRUPT, "manifest: recent_chunks %u exceeds the %zu chunks",
			      m->recent_chunks, m->chunk_count);
	if (err == VC_OK && m->chunk_count > 1) {
		qsort(ids, m->chunk_count, sizeof(*ids), compare_u32);
		for (i = 1; i < m->chunk_count; i++)
			if (ids[i] == ids[i - 1]) {
				err = vc_fail(VC_ERR_CORRUPT, "manifest: chunk id %u appears twice",
					      ids[i]);
				break;
			}
	}
	free(ids);
	return err;
}

static vc_err check_objects(const vc_manifest *m)
{
	const char **paths;
	size_t i;
	vc_err err = VC_OK;

	for (i = 0; i < m->object_count && err == VC_OK; i++) {
		const char *p = m->objects[i].path;

		err = check_object(&m->objects[i], "objects", i);
		if (err == VC_OK &&
		    (strncmp(p, "chunks/", 7) == 0 || strcmp(p, "manifest.json") == 0))
			err = vc_fail(VC_ERR_CORRUPT,
				      "manifest: objects[%zu] uses the reserved path "
				      "\"%s\"",
				      i, p);
	}
	if (err != VC_OK || m->object_count < 2)
		return err;
	paths = malloc(m->object_count * sizeof(*paths));
	if (paths == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory validating the manifest");
	for (i = 0; i < m->object_count; i++)
		paths[i] = m->objects[i].path;
	qsort(paths, m->object_count, sizeof(*paths), compare_str);
	for (i = 1; i < m->object_count; i++)
		if (strcmp(paths[i], paths[i - 1]) == 0) {
			err = vc_fail(VC_ERR_CORRUPT, "manifest: object \"%s\" is listed twice",
				      paths[i]);
			break;
		}
	free(paths);
	return err;
}

vc_err vc_manifest_validate(const vc_manifest *m)
{
	const vc_encryption_info *enc = &m->encryption;

	if (m->format_version != VC_FORMAT_VERSION)
		return vc_fail(VC_ERR_UNSUPPORTED, "manifest: format_version %u is not supported",
			       m->format_version);
	if (m->version != VC_MANIFEST_LAYOUT_VERSION)
		return vc_fail(VC_ERR_UNSUPPORTED,
			       "manifest: layout version %u is not supported "
			       "(expected %d)",
			       m->version, VC_MANIFEST_LAYOUT_VERSION);
	if (m->dim < 1 || m->dim > VC_MAX_DIM)
		return vc_fail(VC_ERR_CORRUPT, "manifest: dim %u outside 1..%d", m->dim,
			       VC_MAX_DIM);
	if (m->metric != VC_METRIC_COSINE && m->metric != VC_METRIC_L2 &&
	    m->metric != VC_METRIC_DOT)
		return vc_fail(VC_ERR_CORRUPT, "manifest: unknown metric %d", (int)m->metric);
	if (m->chunk_size < 1 || m->chunk_size > VC_MAX_CHUNK_SIZE)
		return vc_fail(VC_ERR_CORRUPT, "manifest: chunk_size %u outside 1..%d",
			       m->chunk_size, VC_MAX_CHUNK_SIZE);
	if ((unsigned)m->index.kind > VC_INDEX_KIND_HNSW ||
	    (m->index.kind == VC_INDEX_KIND_IVF &&
	     (m->index.nlist < 1 || m->index.nprobe < 1 || m->index.nprobe > m->index.nlist)) ||
	    m->index.id_shards > 65536)
		return vc_fail(VC_ERR_CORRUPT,
			       "manifest: index has inconsistent parameters (nlist %u, nprobe %u, "
			       "id_shards %u)",
			       m->index.nlist, m->index.nprobe, m->index.id_shards);
	if (m->epoch > INT64_MAX || m->total_vectors > INT64_MAX || m->created_at < 0 ||
	    m->committed_at < 0)
		return vc_fail(VC_ERR_CORRUPT, "manifest: epoch, total_vectors or timestamps out "
					       "of range");
	if (enc->enabled && strcmp(enc->kdf, "none") != 0 && strcmp(enc->kdf, "argon2id13") != 0)
		return vc_fail(VC_ERR_UNSUPPORTED, "manifest: unknown key derivation \"%.15s\"",
			       enc->kdf);
	if (enc->enabled && strcmp(enc->kdf, "argon2id13") == 0 &&
	    (enc->opslimit > INT64_MAX || enc->memlimit > INT64_MAX))
		return vc_fail(VC_ERR_CORRUPT, "manifest: Argon2id parameters out of range");
	if ((m->chunk_count > 0 && m->chunks == NULL) ||
	    (m->object_count > 0 && m->objects == NULL))
		return vc_fail(VC_ERR_INVALID, "manifest: chunk or object array missing");
	{
		vc_err err = check_chunks(m);

		if (err != VC_OK)
			return err;
	}
	return check_objects(m);
}

static json_t *object_json(const vc_object_ref *ref, json_t *entry)
{
	char hash[12 + 65];

	memcpy(hash, "blake2b-256:", 12);
	sodium_bin2hex(hash + 12, 65, ref->hash, VC_HASH_BYTES);
	json_object_set_new(entry, "byte_size", json_integer((json_int_t)ref->byte_size));
	json_object_set_new(entry, "plain_size", json_integer((json_int_t)ref->plain_size));
	json_object_set_new(entry, "hash", json_string(hash));
	if (ref->has_header_hash) {
		sodium_bin2hex(hash + 12, 65, ref->header_hash, VC_HASH_BYTES);
		json_object_set_new(entry, "header_hash", json_string(hash));
	}
	json_object_set_new(entry, "frames", json_integer(ref->frame_count));
	json_object_set_new(entry, "path", json_string(ref->path));
	return entry;
}

static json_t *encryption_json(const vc_encryption_info *enc)
{
	char hex[2 * VC_SALT_BYTES + 1];
	json_t *obj = json_object();

	json_object_set_new(obj, "enabled", json_boolean(enc->enabled));
	if (!enc->enabled)
		return obj;
	json_object_set_new(obj, "algorithm", json_string("xchacha20poly1305-ietf"));
	json_object_set_new(obj, "kdf", json_string(enc->kdf));
	if (strcmp(enc->kdf, "argon2id13") == 0) {
		sodium_bin2hex(hex, sizeof(hex), enc->salt, VC_SALT_BYTES);
		json_object_set_new(obj, "salt", json_string(hex));
		json_object_set_new(obj, "opslimit", json_integer((json_int_t)enc->opslimit));
		json_object_set_new(obj, "memlimit", json_integer((json_int_t)enc->memlimit));
	}
	sodium_bin2hex(hex, sizeof(hex), enc->key_id, VC_KEY_ID_BYTES);
	json_object_set_new(obj, "key_id", json_string(hex));
	return obj;
}

static json_t *index_json(const vc_index_info *info)
{
	static const char *const kinds[] = {"flat", "ivf", "hnsw"};
	json_t *obj = json_object();

	json_object_set_new(obj, "kind", json_string(kinds[info->kind]));
	json_object_set_new(obj, "nlist", json_integer(info->nlist));
	json_object_set_new(obj, "nprobe", json_integer(info->nprobe));
	json_object_set_new(obj, "ef_search", json_integer(info->ef_search));
	json_object_set_new(obj, "id_shards", json_integer(info->id_shards));
	return obj;
}

/* Build the JSON tree; jansson keeps insertion order, which is the documented field order. */
static json_t *manifest_json(const vc_manifest *m)
{
	char session[2 * VC_SESSION_ID_BYTES + 1];
	json_t *root = json_object(), *chunks = json_array(), *objects = json_array();
	size_t i;

	sodium_bin2hex(session, sizeof(session), m->session_id, VC_SESSION_ID_BYTES);
	json_object_set_new(root, "format", json_string(VC_FORMAT_NAME));
	json_object_set_new(root, "format_version", json_integer(m->format_version));
	json_object_set_new(root, "version", json_integer(m->version));
	json_object_set_new(root, "epoch", json_integer((json_int_t)m->epoch));
	json_object_set_new(root, "session_id", json_string(session));
	json_object_set_new(root, "dim", json_integer(m->dim));
	json_object_set_new(root, "metric", json_string(vc_metric_name(m->metric)));
	json_object_set_new(root, "chunk_size", json_integer(m->chunk_size));
	json_object_set_new(root, "total_vectors", json_integer((json_int_t)m->total_vectors));
	json_object_set_new(root, "created_at", json_integer(m->created_at));
	json_object_set_new(root, "committed_at", json_integer(m->committed_at));
	json_object_set_new(root, "next_chunk_id", json_integer(m->next_chunk_id));
	/* Only sessions changed after import carry these, so older readers' files stay as they were. */
	if (m->deleted_vectors > 0)
		json_object_set_new(root, "deleted_vectors",
				    json_integer((json_int_t)m->deleted_vectors));
	if (m->recent_chunks > 0)
		json_object_set_new(root, "recent_chunks", json_integer(m->recent_chunks));
	json_object_set_new(root, "encryption", encryption_json(&m->encryption));
	for (i = 0; i < m->chunk_count; i++) {
		const vc_chunk_ref *c = &m->chunks[i];
		json_t *entry = json_object();

		json_object_set_new(entry, "chunk_id", json_integer(c->chunk_id));
		json_object_set_new(entry, "cid",
				    c->cid != NULL ? json_string(c->cid) : json_null());
		json_object_set_new(entry, "vector_count", json_integer(c->vector_count));
		json_array_append_new(chunks, object_json(&c->object, entry));
	}
	for (i = 0; i < m->object_count; i++) {
		json_t *entry = json_object();

		json_object_set_new(entry, "path", json_string(m->objects[i].path));
		json_object_set_new(entry, "kind",
				    json_string(strncmp(m->objects[i].path, "index/", 6) == 0
						    ? "index"
						    : "metadata"));
		json_array_append_new(objects, object_json(&m->objects[i], entry));
	}
	json_object_set_new(root, "chunks", chunks);
	json_object_set_new(root, "objects", objects);
	if (m->index.kind != VC_INDEX_KIND_FLAT || m->index.id_shards > 0)
		json_object_set_new(root, "index", index_json(&m->index));
	return root;
}

static vc_err add_mac(json_t *root, const vc_keyring *keyring)
{
	uint8_t mac[VC_HASH_BYTES];
	char text[12 + 65];
	char *canonical = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);

	if (canonical == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory serialising the manifest");
	crypto_generichash(mac, VC_HASH_BYTES, (const uint8_t *)canonical, strlen(canonical),
			   keyring->mac_key, VC_KEY_BYTES);
	free(canonical);
	memcpy(text, "blake2b-256:", 12);
	sodium_bin2hex(text + 12, 65, mac, VC_HASH_BYTES);
	if (json_object_set_new(root, "mac", json_string(text)) != 0)
		return vc_fail(VC_ERR_NOMEM, "out of memory serialising the manifest");
	return VC_OK;
}

vc_err vc_manifest_serialize(const vc_manifest *manifest, const vc_keyring *keyring, vc_bytes *out)
{
	json_t *root;
	char *text;
	vc_err err;

	memset(out, 0, sizeof(*out));
	err = vc_crypto_init();
	if (err == VC_OK)
		err = vc_manifest_validate(manifest);
	if (err != VC_OK)
		return vc_fail_context(err, "refusing to write an invalid manifest");
	if (manifest->encryption.enabled != (keyring != NULL))
		return vc_fail(VC_ERR_INVALID, "manifest encryption is %s but %s key was given",
			       manifest->encryption.enabled ? "on" : "off",
			       keyring != NULL ? "a" : "no");
	if (keyring != NULL &&
	    memcmp(keyring->key_id, manifest->encryption.key_id, VC_KEY_ID_BYTES) != 0)
		return vc_fail(VC_ERR_INVALID, "manifest key_id does not match the key given");
	root = manifest_json(manifest);
	if (root == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory serialising the manifest");
	if (keyring != NULL) {
		err = add_mac(root, keyring);
		if (err != VC_OK)
			goto out;
	}
	text = json_dumps(root, JSON_INDENT(2));
	if (text == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory serialising the manifest");
		goto out;
	}
	err = vc_bytes_append(out, text, strlen(text));
	if (err == VC_OK)
		err = vc_bytes_append(out, "\n", 1);
	free(text);
out:
	json_decref(root);
	return err;
}
