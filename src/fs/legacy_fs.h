/* Mounting a session of the original Rust system (docs/LEGACY.md) read-only: its tree
 * (legacy_tree.c) and the FUSE callbacks and start-up that serve it (legacy_ops.c).
 * See docs/MOUNT.md, "Legacy sessions", for the layout. */
#ifndef VC_FS_LEGACY_FS_H
#define VC_FS_LEGACY_FS_H

#include <pthread.h>

#include "fs/tree.h"
#include "legacy/legacy.h"

/* Inode of schema.json (the other fixed files keep the numbers of tree.h). */
#define VC_FS_INO_SCHEMA 9u

/**
 * What the mount shows of a legacy session. Everything but the chunk texts is made at start;
 * a chunk's JSON is rendered on first use and kept (the session never changes).
 */
typedef struct vc_fs_legacy {
	vc_legacy *legacy;   /**< owned; immutable, so callbacks share it without locks */
	vc_bytes manifest;   /**< manifest.json as stored */
	char *metadata_text; /**< metadata.json (metadata.cbor as JSON), or NULL when absent */
	size_t metadata_len;
	char *schema_text; /**< schema.json, or NULL when the session has no schema */
	size_t schema_len;
	uint64_t stored_bytes;	     /**< manifest and chunk sizes (statfs) */
	int64_t stored_at;	     /**< when the session was opened: the files' times */
	pthread_mutex_t chunks_lock; /**< guards chunk_text and chunk_len */
	char **chunk_text;	     /**< chunks/NAME.json, rendered on first use */
	size_t *chunk_len;
} vc_fs_legacy;

/**
 * Is options->session a legacy session? If so, open it into *out (read-only, decoded whole)
 * and return VC_OK; if it is not, *out is NULL and VC_OK. Errors: those of vc_legacy_open.
 */
vc_err vc_fs_legacy_probe(const vc_fs_options *options, vc_fs_legacy **out);

/** Free what vc_fs_legacy_probe made (NULL-safe). */
void vc_fs_legacy_free(vc_fs_legacy *view);

/**
 * Serve a legacy session: when options->session is one, mount it, run until unmounted and
 * return the exit status; otherwise return -1 and let the caller mount one of ours.
 */
int vc_fs_legacy_run(vc_fs_options *options, struct fuse_args *args);

/* ---- the tree (legacy_tree.c); @p fs->legacy_view is the mounted session ---- */

/** Resolve an absolute path. 0 or -ENOENT / -ENOTDIR / -ENAMETOOLONG. */
int vc_fs_legacy_resolve(vc_fs *fs, const char *path, vc_fs_node *node);

/** Attributes of @p node. 0 or a negated errno. */
int vc_fs_legacy_stat(vc_fs *fs, const vc_fs_node *node, struct stat *st);

/** List directory @p dir (after "." and ".."). */
int vc_fs_legacy_list(vc_fs *fs, const vc_fs_node *dir, void *buf, fuse_fill_dir_t filler);

/**
 * The bytes of a file node: *data points into the view (chunk, manifest, metadata, schema)
 * or, when *owned is set, to a new buffer the caller frees (stats.json, vectors/ID.json).
 * 0 or a negated errno.
 */
int vc_fs_legacy_content(vc_fs *fs, const vc_fs_node *node, const char **data, size_t *len,
			 bool *owned);

#endif
