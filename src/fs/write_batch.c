/* The pending batch of a -o rw mount and its commit: parsed lines kept in memory until a
 * commit replays them, all of them, into one transaction; ctl and stats.json report on it. */
#include "fs/write_i.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/log.h"
#include "util/error_i.h"
#include "vchunk/txn.h"

static const char *const outcome_names[] = {
    [OUTCOME_NONE] = "none",
    [OUTCOME_COMMITTED] = "committed",
    [OUTCOME_FAILED] = "failed",
    [OUTCOME_ABORTED] = "aborted",
};

static vc_fs_batch *batch_new(void)
{
	vc_fs_batch *batch = calloc(1, sizeof(*batch));

	if (batch != NULL)
		batch->refs = 1; /* the reference of writes->current */
	return batch;
}

void vc_fs_items_clear(vc_fs_items *items)
{
	for (size_t i = 0; i < items->count; i++) {
		free(items->items[i].id);
		free(items->items[i].vector);
		json_decref(items->items[i].metadata);
	}
	free(items->items);
	memset(items, 0, sizeof(*items));
}

void vc_fs_batch_put_locked(vc_fs_batch *batch)
{
	if (batch == NULL || --batch->refs > 0)
		return;
	vc_fs_items_clear(&batch->items);
	free(batch);
}

vc_err vc_fs_writes_new(vc_fs_writes **out)
{
	vc_fs_writes *writes = calloc(1, sizeof(*writes));

	if (writes == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for the write state");
	writes->current = batch_new();
	if (writes->current == NULL) {
		free(writes);
		return vc_fail(VC_ERR_NOMEM, "out of memory for the write state");
	}
	atomic_init(&writes->refs, 1);
	pthread_mutex_init(&writes->commit_lock, NULL);
	pthread_mutex_init(&writes->lock, NULL);
	*out = writes;
	return VC_OK;
}

void vc_fs_writes_free(vc_fs_writes *writes)
{
	if (writes == NULL || atomic_fetch_sub(&writes->refs, 1) > 1)
		return;
	/* Lines staged but never committed are dropped: nothing was stored for them. */
	if (writes->current->items.count > 0)
		vc_fs_log(LOG_WARNING, "unmounting with %zu staged lines not committed; dropped",
			  writes->current->items.count);
	vc_fs_batch_put_locked(writes->current);
	pthread_mutex_destroy(&writes->lock);
	pthread_mutex_destroy(&writes->commit_lock);
	free(writes);
}

void vc_fs_writes_error(vc_fs_writes *writes, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(writes->last_error, sizeof(writes->last_error), fmt, ap);
	va_end(ap);
	writes->last_error_at = (int64_t)time(NULL);
}

void vc_fs_batch_fail_locked(vc_fs_writes *writes, vc_fs_batch *batch, int code,
			     const char *message)
{
	if (batch->failed)
		return; /* the first refused line is the one to report */
	batch->failed = true;
	batch->failed_errno = code;
	snprintf(batch->message, sizeof(batch->message), "%s", message);
	vc_fs_writes_error(writes, "%s", message);
}

/* Where an item came from, for messages: "ingest:17" (the line of that open file). */
static void item_where(const vc_fs_item *item, char *buf, size_t size)
{
	snprintf(buf, size, "%s:%llu", item->vector != NULL ? "ingest" : "delete",
		 (unsigned long long)item->line);
}

/*
 * Replay @p batch into one transaction and commit it. The writer lock is taken here and
 * nowhere before, so other writers (vchunk) may commit between two commits of the mount.
 * 0 with *epoch set, or a negated errno with @p message saying why.
 */
static int run_txn(vc_fs *fs, const vc_fs_batch *batch, uint64_t *epoch, char *message, size_t size)
{
	char where[64];
	vc_txn *txn = NULL;
	bool changed;
	vc_err err;

	/* Start from the newest stored epoch: another writer may have committed since the mount
	 * last looked, and a transaction begun on an older epoch fails as a concurrent commit. */
	err = vc_fs_refresh(fs, &changed);
	if (err == VC_OK)
		err = vc_txn_begin(fs->session, &txn);
	if (err != VC_OK) {
		snprintf(message, size, "cannot start the commit: %s", vc_last_error());
		return -vc_err_errno(err);
	}
	for (size_t i = 0; i < batch->items.count; i++) {
		const vc_fs_item *item = &batch->items.items[i];

		if (item->vector != NULL)
			err = vc_txn_add(txn, item->id, item->vector, item->dim, item->metadata);
		else
			err = vc_txn_delete(txn, item->id);
		if (err != VC_OK) {
			item_where(item, where, sizeof(where));
			snprintf(message, size, "%s: %s", where, vc_last_error());
			vc_txn_abort(txn);
			return -vc_err_errno(err);
		}
	}
	err = vc_txn_commit(txn, epoch);
	if (err != VC_OK) {
		snprintf(message, size, "commit failed: %s", vc_last_error());
		return -vc_err_errno(err);
	}
	return 0;
}

/* Record how @p batch ended and put a fresh batch in its place (both locks held). */
static void settle_locked(vc_fs_writes *writes, vc_fs_batch *next, vc_fs_outcome outcome, int rc,
			  uint64_t epoch, const char *message)
{
	vc_fs_batch *batch = writes->current;

	batch->state = rc == 0 && outcome == OUTCOME_COMMITTED ? BATCH_COMMITTED : BATCH_DISCARDED;
	batch->error = -rc;
	writes->last_outcome = outcome;
	writes->last_epoch = epoch;
	writes->last_adds = batch->adds;
	writes->last_deletes = batch->deletes;
	writes->last_errno = -rc;
	writes->last_at = (int64_t)time(NULL);
	snprintf(writes->last_message, sizeof(writes->last_message), "%s", message);
	if (outcome == OUTCOME_COMMITTED)
		writes->commits++;
	else if (outcome == OUTCOME_FAILED)
		writes->commit_failures++;
	else
		writes->aborts++;
	if (outcome == OUTCOME_FAILED)
		vc_fs_writes_error(writes, "%s", message);
	/* The lines are done with; files that staged them keep only the outcome. */
	vc_fs_items_clear(&batch->items);
	writes->current = next;
	vc_fs_batch_put_locked(batch);
}

/*
 * Drop the kernel's cached attributes and pages of the files that change with the epoch, so
 * the next open sees the new one at once instead of after attr_timeout (a cached size would
 * cut manifest.json short). Runs inside a FUSE callback; a path the kernel never looked up
 * has nothing cached (ENOENT, ignored).
 */
static void invalidate_epoch_files(void)
{
	static const char *const paths[] = {
	    "/manifest.json", "/metadata.json", "/stats.json", "/ctl", "/",
	    "/chunks",	      "/index",		"/vectors",
	};
	struct fuse *fuse = fuse_get_context()->fuse;

	for (size_t i = 0; fuse != NULL && i < sizeof(paths) / sizeof(paths[0]); i++)
		(void)fuse_invalidate_path(fuse, paths[i]);
}

int vc_fs_commit_locked(vc_fs *fs)
{
	vc_fs_writes *writes = fs->writes;
	vc_fs_batch *batch = writes->current;
	char message[VC_FS_MESSAGE_MAX] = "";
	uint64_t epoch = 0;
	vc_fs_batch *next;
	bool changed;
	int rc;

	if (batch->items.count == 0 && !batch->failed)
		return 0; /* nothing staged: nothing to commit */
	next = batch_new();
	if (next == NULL)
		return -ENOMEM;
	if (batch->failed) {
		snprintf(message, sizeof(message), "nothing of the batch was committed: %.900s",
			 batch->message);
		rc = -batch->failed_errno;
	} else {
		rc = run_txn(fs, batch, &epoch, message, sizeof(message));
	}
	if (rc == 0)
		snprintf(message, sizeof(message),
			 "committed %llu adds and %llu deletes as epoch %llu",
			 (unsigned long long)batch->adds, (unsigned long long)batch->deletes,
			 (unsigned long long)epoch);
	vc_fs_log(rc == 0 ? LOG_INFO : LOG_WARNING, "%s", message);
	pthread_mutex_lock(&writes->lock);
	settle_locked(writes, next, rc == 0 ? OUTCOME_COMMITTED : OUTCOME_FAILED, rc, epoch,
		      message);
	pthread_mutex_unlock(&writes->lock);
	/* New opens show the new epoch at once (the session already moved to it). */
	if (rc == 0 && vc_fs_refresh(fs, &changed) != VC_OK)
		vc_fs_log(LOG_WARNING,
			  "epoch %llu committed, but the mount still shows the older "
			  "one until the next manifest check: %s",
			  (unsigned long long)epoch, vc_last_error());
	if (rc == 0)
		invalidate_epoch_files();
	return rc;
}

int vc_fs_abort_locked(vc_fs *fs)
{
	vc_fs_writes *writes = fs->writes;
	vc_fs_batch *batch = writes->current;
	char message[VC_FS_MESSAGE_MAX];
	vc_fs_batch *next;

	if (batch->items.count == 0 && !batch->failed)
		return 0;
	next = batch_new();
	if (next == NULL)
		return -ENOMEM;
	snprintf(message, sizeof(message),
		 "aborted through ctl: %llu adds and %llu deletes dropped",
		 (unsigned long long)batch->adds, (unsigned long long)batch->deletes);
	vc_fs_log(LOG_INFO, "%s", message);
	pthread_mutex_lock(&writes->lock);
	settle_locked(writes, next, OUTCOME_ABORTED, -ECANCELED, 0, message);
	pthread_mutex_unlock(&writes->lock);
	return 0;
}

static json_t *string_or_null(const char *text)
{
	return text[0] != '\0' ? json_string(text) : json_null();
}

static json_t *errno_name(int code)
{
	const char *name = code != 0 ? strerrorname_np(code) : NULL;

	return name != NULL ? json_string(name) : json_null();
}

/* The ctl object (writes->lock held). */
static json_t *ctl_json_locked(const vc_fs_writes *writes, uint64_t epoch)
{
	const vc_fs_batch *batch = writes->current;
	json_t *pending = json_object();
	json_t *last = json_object();
	json_t *root = json_object();
	const char *error = batch->failed			     ? batch->message
			    : writes->last_outcome == OUTCOME_FAILED ? writes->last_message
								     : "";

	json_object_set_new(root, "epoch", json_integer((json_int_t)epoch));
	json_object_set_new(pending, "adds", json_integer((json_int_t)batch->adds));
	json_object_set_new(pending, "deletes", json_integer((json_int_t)batch->deletes));
	json_object_set_new(pending, "failed", json_boolean(batch->failed));
	json_object_set_new(pending, "error", string_or_null(batch->failed ? batch->message : ""));
	json_object_set_new(root, "pending", pending);
	json_object_set_new(last, "outcome", json_string(outcome_names[writes->last_outcome]));
	json_object_set_new(last, "epoch",
			    writes->last_outcome == OUTCOME_COMMITTED
				? json_integer((json_int_t)writes->last_epoch)
				: json_null());
	json_object_set_new(last, "adds", json_integer((json_int_t)writes->last_adds));
	json_object_set_new(last, "deletes", json_integer((json_int_t)writes->last_deletes));
	json_object_set_new(last, "errno", errno_name(writes->last_errno));
	json_object_set_new(last, "message", string_or_null(writes->last_message));
	json_object_set_new(last, "at",
			    writes->last_at != 0 ? json_integer((json_int_t)writes->last_at)
						 : json_null());
	json_object_set_new(root, "last_commit", last);
	json_object_set_new(root, "error", string_or_null(error));
	return root;
}

static vc_err dump_text(json_t *root, char **text, size_t *len)
{
	char *dumped = json_dumps(root, JSON_INDENT(2));
	size_t n;

	json_decref(root);
	if (dumped == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering ctl");
	n = strlen(dumped);
	*text = realloc(dumped, n + 2);
	if (*text == NULL) {
		free(dumped);
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering ctl");
	}
	(*text)[n] = '\n';
	(*text)[n + 1] = '\0';
	*len = n + 1;
	return VC_OK;
}

vc_err vc_fs_write_render_ctl(vc_fs *fs, char **text, size_t *len)
{
	vc_fs_snapshot *snapshot;
	json_t *root;

	if (fs->writes == NULL)
		return vc_fail(VC_ERR_UNSUPPORTED, "the mount is read-only");
	snapshot = vc_fs_snapshot_get(fs);
	pthread_mutex_lock(&fs->writes->lock);
	root = ctl_json_locked(fs->writes, snapshot->manifest->epoch);
	pthread_mutex_unlock(&fs->writes->lock);
	vc_fs_snapshot_put(fs, snapshot);
	return dump_text(root, text, len);
}

json_t *vc_fs_writes_stats_json(vc_fs *fs)
{
	vc_fs_writes *writes = fs->writes;
	json_t *o = json_object();

	json_object_set_new(o, "writable", json_boolean(writes != NULL));
	if (writes == NULL)
		return o;
	pthread_mutex_lock(&writes->lock);
	json_object_set_new(o, "lines_staged", json_integer((json_int_t)writes->lines_staged));
	json_object_set_new(o, "lines_refused", json_integer((json_int_t)writes->lines_refused));
	json_object_set_new(o, "pending_adds", json_integer((json_int_t)writes->current->adds));
	json_object_set_new(o, "pending_deletes",
			    json_integer((json_int_t)writes->current->deletes));
	json_object_set_new(o, "commits", json_integer((json_int_t)writes->commits));
	json_object_set_new(o, "commit_failures",
			    json_integer((json_int_t)writes->commit_failures));
	json_object_set_new(o, "aborts", json_integer((json_int_t)writes->aborts));
	json_object_set_new(o, "last_error", string_or_null(writes->last_error));
	json_object_set_new(o, "last_error_at",
			    writes->last_error_at != 0
				? json_integer((json_int_t)writes->last_error_at)
				: json_null());
	pthread_mutex_unlock(&writes->lock);
	return o;
}
