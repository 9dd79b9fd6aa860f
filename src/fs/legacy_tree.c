/* The mounted tree of a legacy session: which path names which node, the nodes' attributes
 * and listings, and the bytes each file shows (chunks and vectors decoded to JSON). */
#include "fs/legacy_fs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs/query.h"
#include "util/error_i.h"

#define VECTOR_SUFFIX ".json"
#define VECTOR_SUFFIX_LEN (sizeof(VECTOR_SUFFIX) - 1)

struct legacy_entry {
	const char *name;
	vc_fs_node_kind kind;
};

static const struct legacy_entry root_entries[] = {
    {"manifest.json", VC_NODE_MANIFEST},
    {"metadata.json", VC_NODE_METADATA},
    {"schema.json", VC_NODE_SCHEMA},
    {"stats.json", VC_NODE_STATS},
    {"chunks", VC_NODE_CHUNKS_DIR},
    {"vectors", VC_NODE_VECTORS_DIR},
    {"query", VC_NODE_QUERY},
    {"queries", VC_NODE_QUERIES_DIR},
};

static bool entry_present(const vc_fs_legacy *view, vc_fs_node_kind kind)
{
	if (kind == VC_NODE_METADATA)
		return view->metadata_text != NULL;
	if (kind == VC_NODE_SCHEMA)
		return view->schema_text != NULL;
	return true;
}

/* "chunk-0.json" for "chunks/chunk-0.cbor": the stored name with a .json extension. */
static void chunk_name(const vc_legacy *legacy, size_t index, char *out, size_t size)
{
	const char *path = vc_legacy_chunk_path(legacy, index);
	const char *base = strrchr(path, '/');
	size_t len;

	base = base != NULL ? base + 1 : path;
	len = strlen(base);
	if (len > 5 && strcmp(base + len - 5, ".cbor") == 0)
		len -= 5;
	snprintf(out, size, "%.*s.json", (int)len, base);
}

/* Ids may hold any byte: names percent-encode '%', '/' and control bytes, as for ours. */
static void encode_id(const char *id, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)id; *p != '\0' && n + 4 < size; p++) {
		if (*p == '%' || *p == '/' || *p < 0x20 || *p == 0x7f) {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		} else {
			out[n++] = (char)*p;
		}
	}
	out[n] = '\0';
}

static int lookup_root(const vc_fs_legacy *view, const char *name, size_t len, vc_fs_node *node)
{
	for (size_t i = 0; i < sizeof(root_entries) / sizeof(root_entries[0]); i++) {
		const struct legacy_entry *e = &root_entries[i];

		if (strlen(e->name) == len && memcmp(e->name, name, len) == 0 &&
		    entry_present(view, e->kind)) {
			*node = (vc_fs_node){.kind = e->kind};
			return 0;
		}
	}
	return -ENOENT;
}

static int lookup_chunk(const vc_fs_legacy *view, const char *name, size_t len, vc_fs_node *node)
{
	char candidate[256];

	for (size_t i = 0; i < vc_legacy_chunk_count(view->legacy); i++) {
		chunk_name(view->legacy, i, candidate, sizeof(candidate));
		if (strlen(candidate) == len && memcmp(candidate, name, len) == 0) {
			*node = (vc_fs_node){.kind = VC_NODE_CHUNK, .chunk_index = i};
			return 0;
		}
	}
	return -ENOENT;
}

/* vectors/ID.json: the id decoded (vc_fs_vectors_lookup), then found among the live ones. */
static int lookup_vector(const vc_fs_legacy *view, const char *name, size_t len, vc_fs_node *node)
{
	size_t index;
	int rc = vc_fs_vectors_lookup(NULL, name, len, node);

	if (rc != 0)
		return rc;
	if (vc_legacy_find(view->legacy, node->name, &index) != VC_OK)
		return -ENOENT;
	node->object_index = index;
	return 0;
}

int vc_fs_legacy_resolve(vc_fs *fs, const char *path, vc_fs_node *node)
{
	const vc_fs_legacy *view = fs->legacy_view;
	vc_fs_node current = {.kind = VC_NODE_ROOT};

	while (*path == '/')
		path++;
	while (*path != '\0') {
		size_t len = strcspn(path, "/");
		int rc;

		if (len > 255)
			return -ENAMETOOLONG;
		switch (current.kind) {
		case VC_NODE_ROOT: rc = lookup_root(view, path, len, &current); break;
		case VC_NODE_CHUNKS_DIR: rc = lookup_chunk(view, path, len, &current); break;
		case VC_NODE_VECTORS_DIR: rc = lookup_vector(view, path, len, &current); break;
		case VC_NODE_QUERIES_DIR:
			rc = vc_fs_queries_lookup(NULL, path, len, &current);
			break;
		case VC_NODE_NAMED_DIR: rc = vc_fs_named_lookup(NULL, path, len, &current); break;
		default: return -ENOTDIR;
		}
		if (rc != 0)
			return rc;
		path += len;
		while (*path == '/')
			path++;
	}
	*node = current;
	return 0;
}

static uint64_t node_ino(const vc_fs_node *node)
{
	switch (node->kind) {
	case VC_NODE_ROOT: return VC_FS_INO_ROOT;
	case VC_NODE_MANIFEST: return VC_FS_INO_MANIFEST;
	case VC_NODE_METADATA: return VC_FS_INO_METADATA;
	case VC_NODE_SCHEMA: return VC_FS_INO_SCHEMA;
	case VC_NODE_STATS: return VC_FS_INO_STATS;
	case VC_NODE_CHUNKS_DIR: return VC_FS_INO_CHUNKS_DIR;
	case VC_NODE_QUERY: return VC_FS_INO_QUERY;
	case VC_NODE_QUERIES_DIR: return VC_FS_INO_QUERIES_DIR;
	case VC_NODE_VECTORS_DIR: return VC_FS_INO_VECTORS_DIR;
	/* The session never changes: a chunk's or vector's position is a stable number. */
	case VC_NODE_CHUNK: return VC_FS_INO_CHUNK_BASE + node->chunk_index;
	case VC_NODE_VECTOR: return VC_FS_INO_VECTOR_BASE + node->object_index;
	case VC_NODE_NAMED_DIR:
	case VC_NODE_NAMED_QUERY:
	case VC_NODE_NAMED_RESULTS: return vc_fs_named_ino(node);
	default: return 0;
	}
}

static int fill(void *buf, fuse_fill_dir_t filler, const char *name, const vc_fs_node *node)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = node_ino(node);
	st.st_mode = vc_fs_node_is_dir(node->kind) ? S_IFDIR : S_IFREG;
	return filler(buf, name, &st, 0, 0) ? -ENOMEM : 0;
}

static int list_root(const vc_fs_legacy *view, void *buf, fuse_fill_dir_t filler)
{
	for (size_t i = 0; i < sizeof(root_entries) / sizeof(root_entries[0]); i++) {
		vc_fs_node node = {.kind = root_entries[i].kind};

		if (entry_present(view, node.kind) &&
		    fill(buf, filler, root_entries[i].name, &node) != 0)
			return -ENOMEM;
	}
	return 0;
}

static int list_chunks(const vc_fs_legacy *view, void *buf, fuse_fill_dir_t filler)
{
	char name[256];

	for (size_t i = 0; i < vc_legacy_chunk_count(view->legacy); i++) {
		vc_fs_node node = {.kind = VC_NODE_CHUNK, .chunk_index = i};

		chunk_name(view->legacy, i, name, sizeof(name));
		if (fill(buf, filler, name, &node) != 0)
			return -ENOMEM;
	}
	return 0;
}

/* Unlike ours, a legacy session is all in memory: vectors/ lists every live id. */
static int list_vectors(const vc_fs_legacy *view, void *buf, fuse_fill_dir_t filler)
{
	char name[3 * 255 + VECTOR_SUFFIX_LEN + 1];

	for (size_t i = 0; i < vc_legacy_count(view->legacy); i++) {
		vc_fs_node node = {.kind = VC_NODE_VECTOR, .object_index = i};
		const char *id;
		size_t len;

		if (vc_legacy_get(view->legacy, i, &id, NULL, NULL) != VC_OK)
			return -EIO;
		encode_id(id, name, sizeof(name) - VECTOR_SUFFIX_LEN);
		len = strlen(name);
		if (len + VECTOR_SUFFIX_LEN > 255)
			continue; /* too long for a name; still reachable as a query result */
		memcpy(name + len, VECTOR_SUFFIX, VECTOR_SUFFIX_LEN + 1);
		if (fill(buf, filler, name, &node) != 0)
			return -ENOMEM;
	}
	return 0;
}

int vc_fs_legacy_list(vc_fs *fs, const vc_fs_node *dir, void *buf, fuse_fill_dir_t filler)
{
	const vc_fs_legacy *view = fs->legacy_view;

	switch (dir->kind) {
	case VC_NODE_ROOT: return list_root(view, buf, filler);
	case VC_NODE_CHUNKS_DIR: return list_chunks(view, buf, filler);
	case VC_NODE_VECTORS_DIR: return list_vectors(view, buf, filler);
	case VC_NODE_QUERIES_DIR: return vc_fs_queries_list(NULL, dir, buf, filler);
	case VC_NODE_NAMED_DIR: return vc_fs_named_list(NULL, dir, buf, filler);
	default: return -ENOTDIR;
	}
}

/* JSON text of @p doc, pretty or on one line, with a trailing newline; NULL without memory. */
static char *render(const json_t *doc, bool pretty, size_t *len)
{
	size_t flags = JSON_ENCODE_ANY | JSON_REAL_PRECISION(9) | JSON_ENSURE_ASCII;
	char *text = json_dumps(doc, flags | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
	char *grown;
	size_t n;

	if (text == NULL)
		return NULL;
	n = strlen(text);
	grown = realloc(text, n + 2);
	if (grown == NULL) {
		free(text);
		return NULL;
	}
	grown[n] = '\n';
	grown[n + 1] = '\0';
	*len = n + 1;
	return grown;
}

/* Chunk @p index as pretty JSON, rendered once and kept. */
static int chunk_text(vc_fs *fs, size_t index, const char **data, size_t *len)
{
	vc_fs_legacy *view = fs->legacy_view;
	json_t *doc = NULL;
	vc_err err = VC_OK;

	pthread_mutex_lock(&view->chunks_lock);
	if (view->chunk_text[index] == NULL) {
		err = vc_legacy_chunk_json(view->legacy, index, &doc);
		if (err == VC_OK) {
			view->chunk_text[index] = render(doc, true, &view->chunk_len[index]);
			if (view->chunk_text[index] == NULL)
				err = vc_fail(VC_ERR_NOMEM, "out of memory rendering %s",
					      vc_legacy_chunk_path(view->legacy, index));
		}
		json_decref(doc);
	}
	*data = view->chunk_text[index];
	*len = view->chunk_len[index];
	pthread_mutex_unlock(&view->chunks_lock);
	if (err != VC_OK)
		return vc_fs_fail(fs, "rendering", vc_legacy_chunk_path(view->legacy, index), err);
	return 0;
}

/* vectors/ID.json: the line `vchunk export` writes for it, with the original id. */
static int vector_text(vc_fs *fs, size_t index, char **text, size_t *len)
{
	const vc_legacy *legacy = fs->legacy_view->legacy;
	uint32_t dim = vc_legacy_dim(legacy);
	const json_t *metadata;
	const float *vector;
	const char *id;
	json_t *doc;
	json_t *values;

	if (vc_legacy_get(legacy, index, &id, &vector, &metadata) != VC_OK)
		return -ENOENT;
	values = json_array();
	for (uint32_t d = 0; d < dim && values != NULL; d++)
		json_array_append_new(values, json_real((double)vector[d]));
	doc = json_pack("{s:s, s:o*}", "id", id, "vector", values);
	if (doc != NULL && !json_is_null(metadata))
		json_object_set(doc, "metadata", (json_t *)metadata);
	*text = doc != NULL ? render(doc, false, len) : NULL;
	json_decref(doc);
	return *text != NULL ? 0 : -ENOMEM;
}

static json_t *stats_json(vc_fs *fs)
{
	const vc_fs_counters *c = &fs->counters;
	vc_legacy_info info;

	vc_legacy_get_info(fs->legacy_view->legacy, &info);
	return json_pack(
	    "{s:{s:s, s:s, s:i, s:i, s:s, s:I, s:I, s:I, s:I, s:I}, s:{s:s, s:I, s:I, s:I, s:I, "
	    "s:I, s:I}, s:o*}",
	    "session", "uri", fs->options->session, "format", "legacy-rust", "version",
	    (int)info.version, "dim", (int)info.dim, "metric", "l2", "vectors",
	    (json_int_t)info.count, "deleted", (json_int_t)info.deleted, "chunks",
	    (json_int_t)info.chunk_count, "ids_recovered", (json_int_t)info.ids_recovered,
	    "ids_fallback", (json_int_t)info.ids_fallback, "mount", "mountpoint",
	    fs->options->mountpoint, "pid", (json_int_t)getpid(), "mounted_at",
	    (json_int_t)fs->mounted_at, "opens", (json_int_t)atomic_load(&c->opens), "reads",
	    (json_int_t)atomic_load(&c->reads), "bytes_served",
	    (json_int_t)atomic_load(&c->bytes_served), "errors",
	    (json_int_t)atomic_load(&c->errors), "queries", vc_fs_queries_stats_json(fs));
}

static int stats_text(vc_fs *fs, char **text, size_t *len)
{
	json_t *doc = stats_json(fs);

	*text = doc != NULL ? render(doc, true, len) : NULL;
	json_decref(doc);
	return *text != NULL ? 0 : -ENOMEM;
}

int vc_fs_legacy_content(vc_fs *fs, const vc_fs_node *node, const char **data, size_t *len,
			 bool *owned)
{
	const vc_fs_legacy *view = fs->legacy_view;
	char *text = NULL;
	int rc = 0;

	*owned = false;
	switch (node->kind) {
	case VC_NODE_MANIFEST:
		*data = (const char *)view->manifest.data;
		*len = view->manifest.len;
		return 0;
	case VC_NODE_METADATA:
		*data = view->metadata_text;
		*len = view->metadata_len;
		return 0;
	case VC_NODE_SCHEMA:
		*data = view->schema_text;
		*len = view->schema_len;
		return 0;
	case VC_NODE_CHUNK: return chunk_text(fs, node->chunk_index, data, len);
	case VC_NODE_VECTOR: rc = vector_text(fs, node->object_index, &text, len); break;
	case VC_NODE_STATS: rc = stats_text(fs, &text, len); break;
	default: return -EISDIR;
	}
	*data = text;
	*owned = rc == 0;
	return rc;
}

int vc_fs_legacy_stat(vc_fs *fs, const vc_fs_node *node, struct stat *st)
{
	time_t when = (time_t)fs->legacy_view->stored_at;
	const char *data;
	size_t len = 0;
	bool owned;

	if (node->kind == VC_NODE_NAMED_DIR || node->kind == VC_NODE_NAMED_QUERY ||
	    node->kind == VC_NODE_NAMED_RESULTS)
		return vc_fs_named_stat(fs, NULL, node, st);
	if (!vc_fs_node_is_dir(node->kind) && node->kind != VC_NODE_QUERY) {
		int rc = vc_fs_legacy_content(fs, node, &data, &len, &owned);

		if (rc != 0)
			return rc;
		if (owned)
			free((char *)data);
	}
	memset(st, 0, sizeof(*st));
	st->st_ino = node_ino(node);
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = (blksize_t)fs->options->max_read;
	if (vc_fs_node_is_dir(node->kind)) {
		st->st_mode = S_IFDIR | (node->kind == VC_NODE_QUERIES_DIR ? 0777 : 0555);
		st->st_nlink = node->kind == VC_NODE_ROOT ? 3 : 2;
	} else {
		st->st_mode = S_IFREG | (node->kind == VC_NODE_QUERY ? 0666 : 0444);
		st->st_nlink = 1;
		st->st_size = (off_t)len;
		st->st_blocks = (blkcnt_t)((len + 511) / 512);
	}
	if (node->kind == VC_NODE_STATS || node->kind == VC_NODE_QUERY)
		when = time(NULL);
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = when;
	return 0;
}
