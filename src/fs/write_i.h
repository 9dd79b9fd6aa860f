/* Private to write_files.c and write_batch.c: the pending batch, its staged lines and the
 * per-file state of ingest, delete and ctl. */
#ifndef VC_FS_WRITE_I_H
#define VC_FS_WRITE_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/write.h"

#define VC_FS_MESSAGE_MAX 1024u

/** One parsed line: an add (vector set) or a deletion (vector NULL). */
typedef struct vc_fs_item {
	char *id;
	float *vector;
	uint32_t dim;
	json_t *metadata; /**< referenced, may be NULL */
	uint64_t line;	  /**< line number in the open file that wrote it */
} vc_fs_item;

typedef struct vc_fs_items {
	vc_fs_item *items;
	size_t count, cap;
	uint64_t bytes; /**< memory the items hold, for VC_FS_PENDING_MAX */
} vc_fs_items;

typedef enum vc_fs_batch_state { BATCH_OPEN, BATCH_COMMITTED, BATCH_DISCARDED } vc_fs_batch_state;

/**
 * A batch: what is committed together. Only writes->current is OPEN; a committed or dropped
 * batch lives on while files that staged into it hold it, to tell them how it ended.
 * refs and state are guarded by writes->lock; items change only with both locks held.
 */
typedef struct vc_fs_batch {
	unsigned refs;
	vc_fs_batch_state state;
	int error; /**< DISCARDED: the errno of its failed commit, ECANCELED if aborted */
	vc_fs_items items;
	uint64_t adds, deletes;
	bool failed; /**< a line was refused: the batch will not be committed */
	int failed_errno;
	char message[VC_FS_MESSAGE_MAX]; /**< failed: the refused line and why */
} vc_fs_batch;

typedef enum vc_fs_outcome {
	OUTCOME_NONE,
	OUTCOME_COMMITTED,
	OUTCOME_FAILED,
	OUTCOME_ABORTED,
} vc_fs_outcome;

struct vc_fs_writes {
	atomic_uint refs; /**< the mount's and one per open file */
	/* Staging and commits take this first, one at a time: a commit sees a batch no write
	 * changes under it, and commits of the mount never overlap. */
	pthread_mutex_t commit_lock;
	/* Everything below; ctl and stats.json take only this one, so they answer during a
	 * commit. */
	pthread_mutex_t lock;
	vc_fs_batch *current;
	uint64_t lines_staged, lines_refused, commits, commit_failures, aborts;
	vc_fs_outcome last_outcome; /**< of the last commit or abort */
	uint64_t last_epoch, last_adds, last_deletes;
	int last_errno;
	int64_t last_at;
	char last_message[VC_FS_MESSAGE_MAX];
	char last_error[VC_FS_MESSAGE_MAX]; /**< the last refused line or failed commit */
	int64_t last_error_at;
};

/** An open ingest, delete or ctl file. */
typedef struct vc_fs_writer {
	vc_fs_writes *writes;
	vc_fs_node_kind kind;
	pid_t opener;	      /**< process (thread group) that opened the file */
	pthread_mutex_t lock; /**< the fields below (writes to one file may come concurrently) */
	char *partial;	      /**< bytes after the last newline written */
	size_t partial_len, partial_cap;
	uint64_t line;	    /**< lines seen so far */
	vc_fs_batch *batch; /**< the batch this file staged into (referenced), or NULL */
} vc_fs_writer;

void vc_fs_items_clear(vc_fs_items *items);

/** Drop a reference to @p batch (writes->lock held; NULL-safe). */
void vc_fs_batch_put_locked(vc_fs_batch *batch);

/** Mark @p batch failed by a refused line, keeping the first message (writes->lock held). */
void vc_fs_batch_fail_locked(vc_fs_writes *writes, vc_fs_batch *batch, int code,
			     const char *message);

/** Keep @p fmt as the last error for stats.json (writes->lock held). */
void vc_fs_writes_error(vc_fs_writes *writes, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * Commit the pending batch (writes->commit_lock held): 0 when committed or when nothing is
 * pending, else the negated errno of the failure (the batch is dropped either way).
 */
int vc_fs_commit_locked(vc_fs *fs);

/** Drop the pending batch (writes->commit_lock held). */
int vc_fs_abort_locked(vc_fs *fs);

#endif
