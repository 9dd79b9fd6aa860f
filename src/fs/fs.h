/* The daemon's state shared by the FUSE callbacks: the open session, the current epoch
 * snapshot, the counters behind stats.json and the manifest refresh thread. */
#ifndef VC_FS_FS_H
#define VC_FS_FS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fs/options.h"
#include "vchunk/vchunk.h"

#define FUSE_USE_VERSION 312
#include <fuse.h>

/**
 * One epoch as the mount shows it: a referenced manifest, the stored bytes
 * of manifest.json for that epoch, and (built on first use) metadata.json.
 * Reference-counted: the current snapshot holds one reference, every open
 * file and every callback using it holds one more, so files opened before
 * a refresh keep reading the epoch they opened.
 */
typedef struct vc_fs_snapshot {
	atomic_uint refs;
	const vc_manifest *manifest; /**< reference from vc_session_manifest_get */
	vc_bytes manifest_bytes;     /**< manifest.json as stored, for this epoch */
	uint64_t stored_bytes;	     /**< sum of stored object sizes (statfs) */
	uint64_t object_count;	     /**< stored objects incl. manifest.json (statfs) */
	/** Chunk ids increase and every path is canonical ("chunks/chunk-<id>.cbor"), so a
	 *  lookup bisects instead of scanning. */
	bool chunks_by_id;
	pthread_mutex_t metadata_lock;
	bool metadata_ready; /**< metadata_json below is built */
	char *metadata_json; /**< pretty JSON text, NUL-terminated */
	size_t metadata_len;
} vc_fs_snapshot;

/** Counters of the FUSE layer itself (reported in stats.json). */
typedef struct vc_fs_counters {
	atomic_uint_least64_t opens;
	atomic_uint_least64_t reads; /**< read requests served */
	atomic_uint_least64_t bytes_served;
	atomic_uint_least64_t errors;	 /**< requests answered with an error from the backend */
	atomic_uint_least64_t refreshes; /**< manifest checks */
	atomic_uint_least64_t refresh_errors;
	atomic_uint_least64_t epoch_changes;
} vc_fs_counters;

/**
 * The daemon. One per process, made by main before fuse_new and reached in
 * callbacks through fuse_get_context()->private_data.
 */
typedef struct vc_fs {
	const vc_fs_options *options;
	vc_session *session;
	uid_t uid;
	gid_t gid;
	int64_t mounted_at;

	pthread_mutex_t current_lock; /**< guards current */
	vc_fs_snapshot *current;

	vc_fs_counters counters;
	/** Query counters and named queries (fs/query.h): made by the FUSE init callback, freed
	 *  by destroy. */
	struct vc_fs_queries *queries;
	/** The pending batch of a -o rw mount (fs/write.h): made by init, NULL when read-only. */
	struct vc_fs_writes *writes;
	/** A session of the original Rust system mounted instead of one of ours (legacy_fs.h);
	 *  then session and current are NULL. */
	struct vc_fs_legacy *legacy_view;

	pthread_mutex_t files_lock; /**< guards files */
	struct vc_fs_file *files;   /**< open files, freed at exit if the kernel did not */

	pthread_mutex_t refresh_lock; /**< guards refresh_stop, for refresh_wake */
	pthread_cond_t refresh_wake;
	bool refresh_stop;
	bool refresh_running;
	pthread_t refresh_thread;
	bool refresh_failing; /**< last refresh failed (log only state changes) */
} vc_fs;

/**
 * Set up @p fs over an open @p session and build the first snapshot
 * (fetches manifest.json once). On failure the session stays the caller's.
 */
vc_err vc_fs_init(vc_fs *fs, const vc_fs_options *options, vc_session *session);

/** Stop the refresh thread, drop the current snapshot. Does not close the session. */
void vc_fs_cleanup(vc_fs *fs);

/** The daemon state of the calling FUSE callback. */
vc_fs *vc_fs_get(void);

/** Copy what of @p data (@p len bytes) lies in [@p offset, @p offset + @p size) to @p buf;
 *  returns the bytes copied (0 at or past the end): a read(2) of an in-memory file. */
static inline size_t vc_fs_copy_range(char *buf, size_t size, off_t offset, const void *data,
				      size_t len)
{
	size_t n;

	if (offset < 0 || (uint64_t)offset >= len)
		return 0;
	n = len - (size_t)offset;
	if (n > size)
		n = size;
	memcpy(buf, (const uint8_t *)data + offset, n);
	return n;
}

/** A reference to the current snapshot; drop it with vc_fs_snapshot_put. Never NULL. */
vc_fs_snapshot *vc_fs_snapshot_get(vc_fs *fs);
void vc_fs_snapshot_put(vc_fs *fs, vc_fs_snapshot *snapshot);

/**
 * metadata.json of @p snapshot, built (decrypting metadata.cbor) on first
 * use and kept. Thread-safe. The text stays valid while the snapshot is
 * referenced.
 */
vc_err vc_fs_snapshot_metadata(vc_fs *fs, vc_fs_snapshot *snapshot, const char **text, size_t *len);

/**
 * Check for a new epoch now (what the refresh thread does every
 * manifest_ttl seconds). *changed tells whether the current snapshot moved.
 */
vc_err vc_fs_refresh(vc_fs *fs, bool *changed);

/** Start the refresh thread (after daemonizing: fork keeps no thread). No-op if ttl is 0. */
void vc_fs_refresh_start(vc_fs *fs);

/** Render stats.json into a new buffer (caller frees with free()). */
vc_err vc_fs_stats_render(vc_fs *fs, char **text, size_t *len);

/** Log a failed library call for @p object and return the errno for FUSE (negated). */
int vc_fs_fail(vc_fs *fs, const char *what, const char *object, vc_err err);

/** Fill @p ops with every callback of the mount. */
void vc_fs_operations(struct fuse_operations *ops);

/** Free the files still open when the loop ended (a lazy unmount leaves them). */
void vc_fs_files_release_all(vc_fs *fs);

#endif
