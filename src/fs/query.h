/* The mount's query files: a query's input and answer (query_file.c), the named queries
 * under queries/ (queries_dir.c), vectors/ and index/ (lookup_dirs.c), and the callbacks
 * that write (query_ops.c). See docs/MOUNT.md, "Querying", for the protocol. */
#ifndef VC_FS_QUERY_H
#define VC_FS_QUERY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fs/tree.h"

/** Named queries at most, and the longest name. */
#define VC_FS_NAMED_MAX 1024u
#define VC_FS_NAME_MAX 64u

/**
 * One query: the bytes written so far and the answer of its last run. Guarded by @c lock:
 * a run happens under it, so concurrent readers of one named query wait for one search.
 */
typedef struct vc_fs_query {
	pthread_mutex_t lock;
	vc_bytes input; /**< what was written (offset-aware) */
	bool too_big;	/**< a write went past the input limit */
	bool pending;	/**< written since the last run */
	bool ran;	/**< @c output holds the last run's answer */
	int error;	/**< errno of the last run, 0 if it found results */
	char *output;	/**< results JSON or error JSON, newline-terminated */
	size_t output_len;
} vc_fs_query;

void vc_fs_query_init(vc_fs_query *q);
void vc_fs_query_destroy(vc_fs_query *q);

/** Store @p size bytes at @p offset; after a run this starts a new query. -EFBIG past the limit. */
int vc_fs_query_write(vc_fs *fs, vc_fs_query *q, const char *buf, size_t size, off_t offset);

/** Cut or zero-extend the input to @p size (O_TRUNC, truncate(2)); starts a new query after a run.
 */
int vc_fs_query_truncate(vc_fs *fs, vc_fs_query *q, off_t size);

/**
 * Read the answer: runs the query first if it was written since the last run. The read that
 * runs a failing query returns its negated errno; later reads return the error JSON.
 * Returns the bytes copied, 0 at the end or when no query was ever written.
 */
int vc_fs_query_read(vc_fs *fs, vc_fs_query *q, char *buf, size_t size, off_t offset);

/** Read back the input as written. */
int vc_fs_query_read_input(vc_fs_query *q, char *buf, size_t size, off_t offset);

/** Sizes for getattr: the input's length; the answer's (0 until run or while pending). */
uint64_t vc_fs_query_input_size(vc_fs_query *q);
uint64_t vc_fs_query_output_size(vc_fs_query *q);

/** Query counters and the named-query registry, made by the FUSE init callback. */
typedef struct vc_fs_queries vc_fs_queries;

/** A named query: queries/NAME. Reference-counted; rmdir only unlinks it from the registry. */
typedef struct vc_fs_named {
	atomic_uint refs;
	struct vc_fs_named *next;
	char name[VC_FS_NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	uint64_t serial; /**< for inode numbers */
	int64_t created_at;
	vc_fs_query query;
} vc_fs_named;

vc_err vc_fs_queries_new(vc_fs_queries **out);
void vc_fs_queries_free(vc_fs_queries *queries);

/** Count one run (and its stats or its failure) for stats.json. */
void vc_fs_queries_count(vc_fs *fs, const vc_query_stats *stats, bool failed);

/** The "queries" object of stats.json (new reference). */
json_t *vc_fs_queries_stats_json(vc_fs *fs);

/** The named query @p name (@p len bytes), referenced, or NULL. */
vc_fs_named *vc_fs_named_get(vc_fs *fs, const char *name, size_t len);
void vc_fs_named_put(vc_fs_named *named);

/** Can the calling user use @p named (its owner or root)? 0 or -EACCES. */
int vc_fs_named_access(const vc_fs_named *named);

/** mkdir queries/NAME and rmdir queries/NAME for the calling user. 0 or a negated errno. */
int vc_fs_named_create(vc_fs *fs, const char *name);
int vc_fs_named_remove(vc_fs *fs, const char *name);

/** Directory dispatch for queries/ and queries/NAME/ (see tree.c). */
int vc_fs_queries_lookup(const vc_fs_snapshot *snapshot, const char *name, size_t len,
			 vc_fs_node *node);
int vc_fs_queries_list(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		       fuse_fill_dir_t filler);
int vc_fs_named_lookup(const vc_fs_snapshot *snapshot, const char *name, size_t len,
		       vc_fs_node *node);
int vc_fs_named_list(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		     fuse_fill_dir_t filler);

/** The inode number of a queries/NAME node. */
uint64_t vc_fs_named_ino(const vc_fs_node *node);

/** Owner, mode, size and inode of a queries/NAME node for getattr: of @p open (an open
 *  file's, possibly removed since) or else of the one named in @p node. 0 or -ENOENT. */
int vc_fs_named_stat(vc_fs *fs, vc_fs_named *open, const vc_fs_node *node, struct stat *st);

/** Directory dispatch for vectors/ and index/ (lookup_dirs.c). */
int vc_fs_vectors_lookup(const vc_fs_snapshot *snapshot, const char *name, size_t len,
			 vc_fs_node *node);
int vc_fs_vectors_list(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		       fuse_fill_dir_t filler);
int vc_fs_index_lookup(const vc_fs_snapshot *snapshot, const char *name, size_t len,
		       vc_fs_node *node);
int vc_fs_index_list(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		     fuse_fill_dir_t filler);

/** Does the session have objects under index/ (the root lists "index" only then)? */
bool vc_fs_has_index(const vc_fs_snapshot *snapshot);

/** Inode numbers of vectors/ and index/ nodes. */
uint64_t vc_fs_lookup_ino(const vc_fs_snapshot *snapshot, const vc_fs_node *node);

/**
 * The bytes of vectors/ID.json (one `vchunk export` line) or of an index object, in a new
 * buffer (free()). Negated errno on failure (-ENOENT: no vector has that id).
 */
int vc_fs_lookup_render(vc_fs *fs, vc_fs_snapshot *snapshot, const vc_fs_node *node, char **text,
			size_t *len);

/** Per-kind open, read and release of the new node kinds (called from ops.c). */
int vc_fs_open_more(vc_fs *fs, vc_fs_file *file, struct fuse_file_info *fi);
int vc_fs_read_more(vc_fs *fs, vc_fs_file *file, char *buf, size_t size, off_t offset);
void vc_fs_file_free_more(vc_fs_file *file);

/** Can a file of @p kind be opened for writing? */
bool vc_fs_node_writable(vc_fs_node_kind kind);

/** The write-side callbacks (write, truncate, mkdir, rmdir, ...; EROFS where not allowed). */
void vc_fs_query_operations(struct fuse_operations *ops);

#endif
