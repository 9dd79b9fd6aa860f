/* vectors/ (one vector by id, looked up through the session's id index, never listed) and
 * index/ (the decrypted index objects the manifest lists, browseable). */
#include "fs/query.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error_i.h"

#define INDEX_PREFIX "index/"
#define INDEX_PREFIX_LEN (sizeof(INDEX_PREFIX) - 1)
#define VECTOR_SUFFIX ".json"
#define VECTOR_SUFFIX_LEN (sizeof(VECTOR_SUFFIX) - 1)

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "<percent-encoded id>.json" -> id. '%XX' decodes any byte; a '%' must start one. */
int vc_fs_vectors_lookup(const vc_fs_snapshot *snapshot, const char *name, size_t len,
			 vc_fs_node *node)
{
	size_t out = 0;

	(void)snapshot;
	if (len <= VECTOR_SUFFIX_LEN ||
	    memcmp(name + len - VECTOR_SUFFIX_LEN, VECTOR_SUFFIX, VECTOR_SUFFIX_LEN) != 0)
		return -ENOENT;
	memset(node, 0, sizeof(*node));
	for (size_t i = 0; i < len - VECTOR_SUFFIX_LEN; i++) {
		char c = name[i];

		if (c == '%') {
			int high = i + 2 < len ? hex_value(name[i + 1]) : -1;
			int low = i + 2 < len ? hex_value(name[i + 2]) : -1;

			if (high < 0 || low < 0)
				return -ENOENT;
			c = (char)(high * 16 + low);
			i += 2;
		}
		if (c == '\0' || out + 1 >= sizeof(node->name))
			return -ENOENT;
		node->name[out++] = c;
	}
	node->name[out] = '\0';
	node->kind = VC_NODE_VECTOR;
	return 0;
}

int vc_fs_vectors_list(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		       fuse_fill_dir_t filler)
{
	/* Listing every id would read every chunk: vectors/ resolves names but lists none. */
	(void)snapshot;
	(void)dir;
	(void)buf;
	(void)filler;
	return 0;
}

bool vc_fs_has_index(const vc_fs_snapshot *snapshot)
{
	const vc_manifest *manifest = snapshot->manifest;

	for (size_t i = 0; i < manifest->object_count; i++)
		if (strncmp(manifest->objects[i].path, INDEX_PREFIX, INDEX_PREFIX_LEN) == 0)
			return true;
	return false;
}

/* The path prefix of index directory @p dir ("index/" for the root's, prefix_len 0). */
static const char *index_prefix(const vc_manifest *manifest, const vc_fs_node *dir, size_t *len)
{
	if (dir->prefix_len == 0) {
		*len = INDEX_PREFIX_LEN;
		return INDEX_PREFIX;
	}
	*len = dir->prefix_len;
	return manifest->objects[dir->object_index].path;
}

int vc_fs_index_lookup(const vc_fs_snapshot *snapshot, const char *name, size_t len,
		       vc_fs_node *node)
{
	const vc_manifest *manifest = snapshot->manifest;
	size_t prefix_len;
	const char *prefix = index_prefix(manifest, node, &prefix_len);

	for (size_t i = 0; i < manifest->object_count; i++) {
		const char *path = manifest->objects[i].path;

		if (strncmp(path, prefix, prefix_len) != 0 || strlen(path) < prefix_len + len ||
		    memcmp(path + prefix_len, name, len) != 0)
			continue;
		if (path[prefix_len + len] == '\0') {
			*node = (vc_fs_node){.kind = VC_NODE_INDEX_FILE, .object_index = i};
			return 0;
		}
		if (path[prefix_len + len] == '/') {
			*node = (vc_fs_node){.kind = VC_NODE_INDEX_DIR,
					     .object_index = i,
					     .prefix_len = prefix_len + len + 1};
			return 0;
		}
	}
	return -ENOENT;
}

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h & 0xffffffffu;
}

uint64_t vc_fs_lookup_ino(const vc_fs_snapshot *snapshot, const vc_fs_node *node)
{
	const char *path;

	if (node->kind == VC_NODE_VECTOR)
		return VC_FS_INO_VECTOR_BASE + hash_bytes(node->name, strlen(node->name));
	path = snapshot->manifest->objects[node->object_index].path;
	if (node->kind == VC_NODE_INDEX_DIR)
		return VC_FS_INO_INDEX_BASE + hash_bytes(path, node->prefix_len);
	return VC_FS_INO_INDEX_BASE + hash_bytes(path, strlen(path));
}

/* List the names directly under @p dir, each subdirectory once. */
int vc_fs_index_list(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		     fuse_fill_dir_t filler)
{
	const vc_manifest *manifest = snapshot->manifest;
	size_t prefix_len;
	const char *prefix = index_prefix(manifest, dir, &prefix_len);

	for (size_t i = 0; i < manifest->object_count; i++) {
		const char *path = manifest->objects[i].path;
		const char *name = path + prefix_len;
		size_t len = strcspn(name, "/");
		bool seen = false;
		char entry[256];
		struct stat st;

		if (strncmp(path, prefix, prefix_len) != 0 || len == 0 || len >= sizeof(entry))
			continue;
		for (size_t j = 0; j < i && !seen && name[len] == '/'; j++)
			seen = strncmp(manifest->objects[j].path, path, prefix_len + len + 1) == 0;
		if (seen)
			continue;
		memcpy(entry, name, len);
		entry[len] = '\0';
		memset(&st, 0, sizeof(st));
		st.st_mode = name[len] == '/' ? S_IFDIR : S_IFREG;
		st.st_ino =
		    VC_FS_INO_INDEX_BASE + hash_bytes(path, prefix_len + len + (name[len] == '/'));
		if (filler(buf, entry, &st, 0, 0) != 0)
			return -ENOMEM;
	}
	return 0;
}

static void put_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* One line exactly as `vchunk export` writes it for this record. */
static int render_record(const vc_record *record, char **text, size_t *len)
{
	FILE *out = open_memstream(text, len);
	bool ok;

	if (out == NULL)
		return -ENOMEM;
	fputs("{\"id\":", out);
	put_json_string(out, record->id);
	fputs(",\"vector\":[", out);
	for (uint32_t d = 0; d < record->dim; d++) {
		float value = record->vector[d];

		if (d > 0)
			fputc(',', out);
		/* "-0" would parse back as the integer 0 and lose its sign */
		if (value == 0.0f && signbit(value))
			fputs("-0.0", out);
		else
			fprintf(out, "%.9g", (double)value);
	}
	fputc(']', out);
	if (record->metadata != NULL && !json_is_null(record->metadata)) {
		fputs(",\"metadata\":", out);
		json_dumpf(record->metadata, out, JSON_COMPACT | JSON_ENCODE_ANY);
	}
	fputs("}\n", out);
	ok = !ferror(out);
	if (fclose(out) != 0 || !ok) {
		free(*text);
		*text = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int render_vector(vc_fs *fs, vc_fs_snapshot *snapshot, const char *id, char **text,
			 size_t *len)
{
	vc_record record = {0};
	vc_err err = vc_session_lookup(fs->session, snapshot->manifest, id, &record);
	int rc;

	if (err == VC_ERR_NOT_FOUND)
		return -ENOENT;
	if (err != VC_OK)
		return vc_fs_fail(fs, "looking up", id, err);
	rc = render_record(&record, text, len);
	vc_record_free(&record);
	return rc;
}

static int render_object(vc_fs *fs, vc_fs_snapshot *snapshot, size_t index, char **text,
			 size_t *len)
{
	const vc_object_ref *object = &snapshot->manifest->objects[index];
	vc_bytes plain = {0};
	vc_err err = vc_session_read_object(fs->session, snapshot->manifest, object->path, &plain);

	if (err == VC_OK && plain.len != object->plain_size)
		err = vc_fail(VC_ERR_CORRUPT, "decrypted size %zu, manifest says %llu", plain.len,
			      (unsigned long long)object->plain_size);
	if (err != VC_OK) {
		vc_bytes_free(&plain);
		return vc_fs_fail(fs, "reading", object->path, err);
	}
	/* Handed over as is: the buffer was allocated with malloc by vc_bytes. */
	*text = (char *)plain.data;
	*len = plain.len;
	return 0;
}

int vc_fs_lookup_render(vc_fs *fs, vc_fs_snapshot *snapshot, const vc_fs_node *node, char **text,
			size_t *len)
{
	if (node->kind == VC_NODE_VECTOR)
		return render_vector(fs, snapshot, node->name, text, len);
	if (node->kind == VC_NODE_INDEX_FILE)
		return render_object(fs, snapshot, node->object_index, text, len);
	return -EISDIR;
}
