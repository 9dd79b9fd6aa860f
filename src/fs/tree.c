/* The mounted tree: which path names which node, and each node's attributes and listing.
 * Paths resolve through per-directory dispatch tables, so new directories plug in here. */
#include "fs/tree.h"

#include "fs/query.h"
#include "fs/write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNKS_PREFIX "chunks/"
#define CHUNKS_PREFIX_LEN (sizeof(CHUNKS_PREFIX) - 1)

/* A fixed entry of a directory. */
struct vc_fs_entry {
	const char *name;
	vc_fs_node_kind kind;
};

static const struct vc_fs_entry root_entries[] = {
    {"manifest.json", VC_NODE_MANIFEST},
    {"metadata.json", VC_NODE_METADATA},
    {"stats.json", VC_NODE_STATS},
    {"chunks", VC_NODE_CHUNKS_DIR},
    {"index", VC_NODE_INDEX_DIR},
    {"vectors", VC_NODE_VECTORS_DIR},
    {"query", VC_NODE_QUERY},
    {"queries", VC_NODE_QUERIES_DIR},
    {"ingest", VC_NODE_INGEST},
    {"delete", VC_NODE_DELETE},
    {"ctl", VC_NODE_CTL},
};

/* A directory: how to find one child by name and how to list them all. */
struct vc_fs_dir_ops {
	int (*lookup)(const vc_fs_snapshot *snapshot, const char *name, size_t len,
		      vc_fs_node *node);
	int (*list)(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		    fuse_fill_dir_t filler);
};

/* Is @p kind one of the files of a -o rw mount? */
static bool is_write_file(vc_fs_node_kind kind)
{
	return kind == VC_NODE_INGEST || kind == VC_NODE_DELETE || kind == VC_NODE_CTL;
}

/* Does the node exist in this epoch? metadata.json only when the session stores metadata;
 * ingest, delete and ctl only on a -o rw mount (resolving runs inside FUSE callbacks). */
static bool entry_present(const vc_fs_snapshot *snapshot, vc_fs_node_kind kind)
{
	if (is_write_file(kind))
		return vc_fs_get()->writes != NULL;
	if (kind == VC_NODE_METADATA)
		return vc_manifest_find(snapshot->manifest, "metadata.cbor") != NULL;
	if (kind == VC_NODE_INDEX_DIR)
		return vc_fs_has_index(snapshot);
	return true;
}

static uint64_t node_ino(const vc_fs_snapshot *snapshot, const vc_fs_node *node)
{
	switch (node->kind) {
	case VC_NODE_QUERY: return VC_FS_INO_QUERY;
	case VC_NODE_INGEST: return VC_FS_INO_INGEST;
	case VC_NODE_DELETE: return VC_FS_INO_DELETE;
	case VC_NODE_CTL: return VC_FS_INO_CTL;
	case VC_NODE_QUERIES_DIR: return VC_FS_INO_QUERIES_DIR;
	case VC_NODE_VECTORS_DIR: return VC_FS_INO_VECTORS_DIR;
	case VC_NODE_INDEX_DIR:
	case VC_NODE_INDEX_FILE:
	case VC_NODE_VECTOR: return vc_fs_lookup_ino(snapshot, node);
	case VC_NODE_NAMED_DIR:
	case VC_NODE_NAMED_QUERY:
	case VC_NODE_NAMED_RESULTS: return vc_fs_named_ino(node);
	default: break;
	case VC_NODE_ROOT: return VC_FS_INO_ROOT;
	case VC_NODE_CHUNKS_DIR: return VC_FS_INO_CHUNKS_DIR;
	case VC_NODE_MANIFEST: return VC_FS_INO_MANIFEST;
	case VC_NODE_METADATA: return VC_FS_INO_METADATA;
	case VC_NODE_STATS: return VC_FS_INO_STATS;
	case VC_NODE_CHUNK: return VC_FS_INO_CHUNK_BASE + node->chunk_id;
	}
	return 0;
}

bool vc_fs_node_is_dir(vc_fs_node_kind kind)
{
	return kind == VC_NODE_ROOT || kind == VC_NODE_CHUNKS_DIR || kind == VC_NODE_QUERIES_DIR ||
	       kind == VC_NODE_NAMED_DIR || kind == VC_NODE_VECTORS_DIR ||
	       kind == VC_NODE_INDEX_DIR;
}

static int root_lookup(const vc_fs_snapshot *snapshot, const char *name, size_t len,
		       vc_fs_node *node)
{
	for (size_t i = 0; i < sizeof(root_entries) / sizeof(root_entries[0]); i++) {
		const struct vc_fs_entry *e = &root_entries[i];

		if (strlen(e->name) == len && memcmp(e->name, name, len) == 0 &&
		    entry_present(snapshot, e->kind)) {
			*node = (vc_fs_node){.kind = e->kind};
			return 0;
		}
	}
	return -ENOENT;
}

static int fill(const vc_fs_snapshot *snapshot, void *buf, fuse_fill_dir_t filler, const char *name,
		const vc_fs_node *node)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = node_ino(snapshot, node);
	st.st_mode = vc_fs_node_is_dir(node->kind) ? S_IFDIR : S_IFREG;
	return filler(buf, name, &st, 0, 0) ? -ENOMEM : 0;
}

static int root_list(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		     fuse_fill_dir_t filler)
{
	for (size_t i = 0; i < sizeof(root_entries) / sizeof(root_entries[0]); i++) {
		const struct vc_fs_entry *e = &root_entries[i];
		vc_fs_node node = {.kind = e->kind};

		(void)dir;
		if (entry_present(snapshot, e->kind) &&
		    fill(snapshot, buf, filler, e->name, &node) != 0)
			return -ENOMEM;
	}
	return 0;
}

/* The file name of chunk @p i: its object path without "chunks/". */
static const char *chunk_name(const vc_manifest *manifest, size_t i)
{
	const char *path = manifest->chunks[i].object.path;

	if (strncmp(path, CHUNKS_PREFIX, CHUNKS_PREFIX_LEN) != 0)
		return NULL; /* not under chunks/: not shown there */
	return path + CHUNKS_PREFIX_LEN;
}

/* The id in a canonical chunk name "chunk-<id>.cbor" (no sign, no leading zero). */
static bool parse_chunk_name(const char *name, size_t len, uint32_t *id)
{
	static const char prefix[] = "chunk-", suffix[] = ".cbor";
	const size_t plen = sizeof(prefix) - 1, slen = sizeof(suffix) - 1;
	uint64_t value = 0;
	size_t digits;

	if (len <= plen + slen || memcmp(name, prefix, plen) != 0 ||
	    memcmp(name + len - slen, suffix, slen) != 0)
		return false;
	digits = len - plen - slen;
	if (digits > 10 || (digits > 1 && name[plen] == '0'))
		return false;
	for (size_t i = plen; i < plen + digits; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		value = value * 10 + (uint64_t)(name[i] - '0');
	}
	if (value > UINT32_MAX)
		return false;
	*id = (uint32_t)value;
	return true;
}

/* Bisect the chunks (sorted by id) for @p id. */
static int chunk_by_id(const vc_manifest *manifest, uint32_t id, vc_fs_node *node)
{
	size_t low = 0, high = manifest->chunk_count;

	while (low < high) {
		size_t mid = low + (high - low) / 2;
		uint32_t mid_id = manifest->chunks[mid].chunk_id;

		if (mid_id == id) {
			*node =
			    (vc_fs_node){.kind = VC_NODE_CHUNK, .chunk_index = mid, .chunk_id = id};
			return 0;
		}
		if (mid_id < id)
			low = mid + 1;
		else
			high = mid;
	}
	return -ENOENT;
}

static int chunks_lookup(const vc_fs_snapshot *snapshot, const char *name, size_t len,
			 vc_fs_node *node)
{
	const vc_manifest *manifest = snapshot->manifest;
	uint32_t id;

	if (snapshot->chunks_by_id)
		return parse_chunk_name(name, len, &id) ? chunk_by_id(manifest, id, node) : -ENOENT;
	for (size_t i = 0; i < manifest->chunk_count; i++) {
		const char *candidate = chunk_name(manifest, i);

		if (candidate != NULL && strlen(candidate) == len &&
		    memcmp(candidate, name, len) == 0) {
			*node = (vc_fs_node){.kind = VC_NODE_CHUNK,
					     .chunk_index = i,
					     .chunk_id = manifest->chunks[i].chunk_id};
			return 0;
		}
	}
	return -ENOENT;
}

static int chunks_list(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		       fuse_fill_dir_t filler)
{
	const vc_manifest *manifest = snapshot->manifest;

	(void)dir;
	for (size_t i = 0; i < manifest->chunk_count; i++) {
		const char *name = chunk_name(manifest, i);
		vc_fs_node node = {.kind = VC_NODE_CHUNK, .chunk_id = manifest->chunks[i].chunk_id};

		if (name != NULL && fill(snapshot, buf, filler, name, &node) != 0)
			return -ENOMEM;
	}
	return 0;
}

static const struct vc_fs_dir_ops dir_ops[] = {
    [VC_NODE_ROOT] = {root_lookup, root_list},
    [VC_NODE_CHUNKS_DIR] = {chunks_lookup, chunks_list},
    [VC_NODE_QUERIES_DIR] = {vc_fs_queries_lookup, vc_fs_queries_list},
    [VC_NODE_NAMED_DIR] = {vc_fs_named_lookup, vc_fs_named_list},
    [VC_NODE_VECTORS_DIR] = {vc_fs_vectors_lookup, vc_fs_vectors_list},
    [VC_NODE_INDEX_DIR] = {vc_fs_index_lookup, vc_fs_index_list},
};

static const struct vc_fs_dir_ops *dir_ops_of(vc_fs_node_kind kind)
{
	if ((size_t)kind >= sizeof(dir_ops) / sizeof(dir_ops[0]) || dir_ops[kind].lookup == NULL)
		return NULL;
	return &dir_ops[kind];
}

int vc_fs_resolve(const vc_fs_snapshot *snapshot, const char *path, vc_fs_node *node)
{
	vc_fs_node current = {.kind = VC_NODE_ROOT};

	while (*path == '/')
		path++;
	while (*path != '\0') {
		size_t len = strcspn(path, "/");
		const struct vc_fs_dir_ops *ops = dir_ops_of(current.kind);
		int rc;

		if (ops == NULL)
			return -ENOTDIR;
		if (len > 255)
			return -ENAMETOOLONG;
		rc = ops->lookup(snapshot, path, len, &current);
		if (rc != 0)
			return rc;
		path += len;
		while (*path == '/')
			path++;
	}
	*node = current;
	return 0;
}

static int node_size(vc_fs *fs, vc_fs_snapshot *snapshot, const vc_fs_node *node, uint64_t *size)
{
	const char *text;
	char *rendered;
	size_t len;
	vc_err err;

	switch (node->kind) {
	case VC_NODE_MANIFEST: *size = snapshot->manifest_bytes.len; return 0;
	case VC_NODE_INDEX_FILE:
		*size = snapshot->manifest->objects[node->object_index].plain_size;
		return 0;
	case VC_NODE_VECTOR: {
		/* Rendered to know whether the id exists and how long its line is. */
		int rc = vc_fs_lookup_render(fs, snapshot, node, &rendered, &len);

		if (rc == 0)
			free(rendered);
		*size = len;
		return rc;
	}
	case VC_NODE_CHUNK:
		*size = snapshot->manifest->chunks[node->chunk_index].object.plain_size;
		return 0;
	case VC_NODE_METADATA:
		err = vc_fs_snapshot_metadata(fs, snapshot, &text, &len);
		if (err != VC_OK)
			return vc_fs_fail(fs, "reading", "metadata.cbor", err);
		*size = len;
		return 0;
	case VC_NODE_STATS:
	case VC_NODE_CTL:
		/* Only a hint: stats.json and ctl are direct_io, each open renders its own text. */
		err = node->kind == VC_NODE_STATS ? vc_fs_stats_render(fs, &rendered, &len)
						  : vc_fs_write_render_ctl(fs, &rendered, &len);
		if (err != VC_OK)
			return -vc_err_errno(err);
		free(rendered);
		*size = len;
		return 0;
	default: *size = 0; return 0;
	}
}

/* Attributes of @p node given its size (ignored for directories). */
static void fill_stat(const vc_fs *fs, const vc_fs_snapshot *snapshot, const vc_fs_node *node,
		      uint64_t size, struct stat *st)
{
	time_t when = (time_t)snapshot->manifest->committed_at;

	memset(st, 0, sizeof(*st));
	st->st_ino = node_ino(snapshot, node);
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_blksize = (blksize_t)fs->options->max_read;
	if (vc_fs_node_is_dir(node->kind)) {
		/* queries/ is open to every user for mkdir; each NAME/ is its owner's alone. */
		st->st_mode = S_IFDIR | (node->kind == VC_NODE_QUERIES_DIR ? 0777 : 0555);
		st->st_nlink = node->kind == VC_NODE_ROOT ? 3 : 2;
	} else {
		/* query: each open has its own query, so every user may write one. The files that
		 * change the session are the mounting user's alone. */
		st->st_mode = S_IFREG | (node->kind == VC_NODE_QUERY ? 0666 : 0444);
		if (node->kind == VC_NODE_INGEST || node->kind == VC_NODE_DELETE)
			st->st_mode = S_IFREG | 0200;
		else if (node->kind == VC_NODE_CTL)
			st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = (off_t)size;
		st->st_blocks = (blkcnt_t)((size + 511) / 512);
	}
	if (node->kind == VC_NODE_STATS || node->kind == VC_NODE_QUERY || is_write_file(node->kind))
		when = time(NULL); /* live counters: their time is now */
	st->st_atim.tv_sec = when;
	st->st_mtim.tv_sec = when;
	st->st_ctim.tv_sec = when;
}

int vc_fs_node_stat(vc_fs *fs, vc_fs_snapshot *snapshot, const vc_fs_node *node, struct stat *st)
{
	uint64_t size = 0;
	int rc;

	if (node->kind == VC_NODE_NAMED_DIR || node->kind == VC_NODE_NAMED_QUERY ||
	    node->kind == VC_NODE_NAMED_RESULTS)
		return vc_fs_named_stat(fs, NULL, node, st);
	rc = node_size(fs, snapshot, node, &size);

	if (rc == 0)
		fill_stat(fs, snapshot, node, size, st);
	return rc;
}

int vc_fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	vc_fs *fs = vc_fs_get();
	vc_fs_snapshot *snapshot;
	vc_fs_node node;
	int rc;

	/* fstat on an open file describes the epoch and text that file reads. */
	if (fi != NULL && fi->fh != 0) {
		vc_fs_file *file = (vc_fs_file *)(uintptr_t)fi->fh;

		if (file->node.kind == VC_NODE_STATS || file->node.kind == VC_NODE_VECTOR ||
		    file->node.kind == VC_NODE_CTL) {
			fill_stat(fs, file->snapshot, &file->node, file->text_len, st);
			return 0;
		}
		if (file->named != NULL)
			return vc_fs_named_stat(fs, file->named, &file->node, st);
		return vc_fs_node_stat(fs, file->snapshot, &file->node, st);
	}
	snapshot = vc_fs_snapshot_get(fs);
	rc = vc_fs_resolve(snapshot, path, &node);
	if (rc == -ENOENT) {
		vc_fs_snapshot *older = vc_fs_open_file_snapshot(fs, path, &node);

		if (older != NULL) {
			vc_fs_snapshot_put(fs, snapshot);
			snapshot = older;
			rc = 0;
		}
	}
	if (rc == 0)
		rc = vc_fs_node_stat(fs, snapshot, &node, st);
	vc_fs_snapshot_put(fs, snapshot);
	return rc;
}

int vc_fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
		  struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	/* opendir resolved the directory in the epoch current then (the path may be NULL). */
	vc_fs_file *dir = (vc_fs_file *)(uintptr_t)fi->fh;
	const struct vc_fs_dir_ops *ops = dir_ops_of(dir->node.kind);

	(void)path;
	(void)offset;
	(void)flags;
	if (ops == NULL)
		return -ENOTDIR;
	/* The whole listing in one call (offset 0): directories are small and one listing
	 * stays inside one epoch. */
	if (fill(dir->snapshot, buf, filler, ".", &dir->node) != 0 ||
	    fill(dir->snapshot, buf, filler, "..", &(vc_fs_node){.kind = VC_NODE_ROOT}) != 0)
		return -ENOMEM;
	return ops->list(dir->snapshot, &dir->node, buf, filler);
}
