/* Changing the session through a mount made with -o rw: the ingest, delete and ctl files,
 * the mount-wide pending batch they stage into, and its commit (docs/MOUNT.md, "Writing"). */
#ifndef VC_FS_WRITE_H
#define VC_FS_WRITE_H

#include <jansson.h>

#include "fs/tree.h"

/** Bytes of parsed lines a pending batch may hold before writes fail with EFBIG. */
#define VC_FS_PENDING_MAX (512u * 1024u * 1024u)
/** Longest line ingest or delete accept (a guard against input without newlines). */
#define VC_FS_LINE_MAX (64u * 1024u * 1024u)

/**
 * The staging state of a -o rw mount. One pending batch at a time, shared by every open
 * ingest and delete file: lines are parsed as they are written and kept in the daemon's
 * memory; nothing touches storage, nor takes the session's writer lock, until a commit
 * (close or fsync of a file that staged lines, or "commit" written to ctl) replays the whole
 * batch into one transaction. A malformed line fails its write with EINVAL and marks the
 * batch failed: its commit then reports that line and applies none of the batch.
 */
typedef struct vc_fs_writes vc_fs_writes;

/** Made by the FUSE init callback when the mount is writable. Free drops the mount's
 * reference (NULL-safe); files still open keep the state until they are freed. */
vc_err vc_fs_writes_new(vc_fs_writes **out);
void vc_fs_writes_free(vc_fs_writes *writes);

/** Open ingest, delete (for writing) or ctl: sets up file->writer. 0 or a negated errno. */
int vc_fs_write_open(vc_fs *fs, vc_fs_file *file, struct fuse_file_info *fi);

/**
 * A write(2) to ingest, delete or ctl (offsets are ignored: each file is a stream).
 * Returns @p size, or a negated errno: EINVAL for a malformed line (message in ctl),
 * ECANCELED when the batch this file staged into was dropped, EFBIG past the limits.
 */
int vc_fs_write_data(vc_fs *fs, vc_fs_file *file, const char *buf, size_t size);

/** What asks an ingest or delete file to commit. */
typedef enum vc_fs_commit_cause {
	VC_FS_COMMIT_FLUSH,   /**< close(2): commits only when the process that opened it closes */
	VC_FS_COMMIT_FSYNC,   /**< fsync(2): always */
	VC_FS_COMMIT_RELEASE, /**< the last descriptor is gone: whatever it left pending */
} vc_fs_commit_cause;

/**
 * Commit for an ingest or delete file: the unfinished last line is staged, then the pending
 * batch is committed if this file staged into it. A close by another process than the
 * opener (a child that inherited the descriptor exiting, or dropping it at exec) only stages:
 * the opener's close, or the release of the last descriptor, commits. Returns 0 or the
 * commit's negated errno. No-op for ctl and for files that staged nothing.
 */
int vc_fs_write_commit_file(vc_fs *fs, vc_fs_file *file, vc_fs_commit_cause cause);

/** Read ctl: the JSON rendered at open (or after the last write on this file). */
int vc_fs_write_read_ctl(vc_fs *fs, vc_fs_file *file, char *buf, size_t size, off_t offset);

/** The ctl text now, into a new buffer (free()); for getattr's size. */
vc_err vc_fs_write_render_ctl(vc_fs *fs, char **text, size_t *len);

/** Free the per-file state (NULL-safe; a batch the file staged into stays pending). */
void vc_fs_write_file_free(vc_fs_file *file);

/** The "writes" object of stats.json (new reference). */
json_t *vc_fs_writes_stats_json(vc_fs *fs);

#endif
