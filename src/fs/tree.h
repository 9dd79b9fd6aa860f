/* The mounted tree: which path names which node, and each node's attributes and listing. */
#ifndef VC_FS_TREE_H
#define VC_FS_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fs/fs.h"

/* What a path names. Each directory kind has a lookup and a list function in the dispatch
 * table of tree.c. */
typedef enum vc_fs_node_kind {
	VC_NODE_ROOT,
	VC_NODE_CHUNKS_DIR,
	VC_NODE_MANIFEST,
	VC_NODE_METADATA,
	VC_NODE_STATS,
	VC_NODE_CHUNK,
	VC_NODE_QUERY,	       /**< query: the transaction file */
	VC_NODE_QUERIES_DIR,   /**< queries/ */
	VC_NODE_NAMED_DIR,     /**< queries/NAME/ */
	VC_NODE_NAMED_QUERY,   /**< queries/NAME/query */
	VC_NODE_NAMED_RESULTS, /**< queries/NAME/results */
	VC_NODE_VECTORS_DIR,   /**< vectors/ */
	VC_NODE_VECTOR,	       /**< vectors/ID.json */
	VC_NODE_INDEX_DIR,     /**< index/ and its subdirectories */
	VC_NODE_INDEX_FILE,    /**< an object under index/ */
	VC_NODE_SCHEMA,	       /**< schema.json of a legacy session (legacy_fs.h) */
	VC_NODE_INGEST,	       /**< ingest: JSONL lines to add (-o rw, write.h) */
	VC_NODE_DELETE,	       /**< delete: ids to delete (-o rw) */
	VC_NODE_CTL,	       /**< ctl: commit, abort and their outcome (-o rw) */
} vc_fs_node_kind;

typedef struct vc_fs_node {
	vc_fs_node_kind kind;
	size_t chunk_index;  /**< VC_NODE_CHUNK: index into manifest->chunks */
	uint32_t chunk_id;   /**< VC_NODE_CHUNK: chunk id (stable across epochs) */
	size_t object_index; /**< INDEX_FILE: its manifest->objects entry; INDEX_DIR: one inside */
	size_t prefix_len;   /**< INDEX_DIR: length of its path with the trailing '/' */
	char name[256];	     /**< NAMED_*: the query's name; VECTOR: the id, decoded */
} vc_fs_node;

/* Inode numbers: fixed for the fixed files, 2^32 + chunk id for chunks (ids are never
 * reused within a session, so a chunk keeps its inode across epochs). */
#define VC_FS_INO_ROOT 1u
#define VC_FS_INO_MANIFEST 2u
#define VC_FS_INO_METADATA 3u
#define VC_FS_INO_STATS 4u
#define VC_FS_INO_CHUNKS_DIR 5u
#define VC_FS_INO_QUERY 6u
#define VC_FS_INO_QUERIES_DIR 7u
#define VC_FS_INO_VECTORS_DIR 8u
/* 9 is schema.json of a legacy mount (legacy_fs.h) */
#define VC_FS_INO_INGEST 10u
#define VC_FS_INO_DELETE 11u
#define VC_FS_INO_CTL 12u
#define VC_FS_INO_CHUNK_BASE (UINT64_C(1) << 32)
/* index files and directories: 2^33 + a hash of the path; vectors: 3 × 2^32 + a hash of the
 * id; named queries: 2^34 + 4 × their serial number (+ 1 query, + 2 results). */
#define VC_FS_INO_INDEX_BASE (UINT64_C(2) << 32)
#define VC_FS_INO_VECTOR_BASE (UINT64_C(3) << 32)
#define VC_FS_INO_NAMED_BASE (UINT64_C(4) << 32)

/**
 * An open file: the node and the epoch it was opened in (referenced), and
 * for stats.json the text rendered at open.
 */
typedef struct vc_fs_file {
	struct vc_fs_file *prev, *next; /**< on vc_fs.files */
	vc_fs_node node;
	vc_fs_snapshot *snapshot;
	char *text; /**< stats.json, vectors/ID.json, index files: the bytes this open reads */
	size_t text_len;
	struct vc_fs_query *query;   /**< VC_NODE_QUERY: this open file's query and results */
	struct vc_fs_named *named;   /**< VC_NODE_NAMED_*: the named query, referenced */
	struct vc_fs_writer *writer; /**< ingest, delete, ctl: staging state (write_i.h) */
	/* The last backend failure of a read on this file (monotonic ns) and its errno. */
	atomic_uint_least64_t failed_at_ns;
	atomic_int failed_errno;
} vc_fs_file;

/**
 * Resolve an absolute path ("/chunks/chunk-3.cbor") in @p snapshot.
 * Returns 0 or -ENOENT / -ENOTDIR / -ENAMETOOLONG.
 */
int vc_fs_resolve(const vc_fs_snapshot *snapshot, const char *path, vc_fs_node *node);

/**
 * Attributes of @p node. Sizes come from the manifest without decrypting,
 * except metadata.json (built once per epoch) and stats.json (rendered now).
 * Returns 0 or a negated errno.
 */
int vc_fs_node_stat(vc_fs *fs, vc_fs_snapshot *snapshot, const vc_fs_node *node, struct stat *st);

/**
 * The epoch of an open file that @p path names, referenced (vc_fs_snapshot_put), or NULL.
 * stat(2) of an open file reaches getattr by path, with no file handle: a file removed by a
 * newer epoch must still stat while it is open.
 */
vc_fs_snapshot *vc_fs_open_file_snapshot(vc_fs *fs, const char *path, vc_fs_node *node);

/** Is @p kind a directory? */
bool vc_fs_node_is_dir(vc_fs_node_kind kind);

/** The FUSE getattr and readdir callbacks (readdir lists the node opendir resolved). */
int vc_fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi);
int vc_fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
		  struct fuse_file_info *fi, enum fuse_readdir_flags flags);

#endif
