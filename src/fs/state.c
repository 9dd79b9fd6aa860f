/* The daemon's epoch snapshots and the refresh thread that moves the mount to a new epoch
 * every manifest_ttl seconds; files already open keep the snapshot they opened. */
#include "fs/fs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fs/log.h"
#include "util/error_i.h"

/* How often to re-read when the stored manifest and the session's disagree on the epoch
 * (a commit landed between the two reads). */
#define SNAPSHOT_ATTEMPTS 3

vc_fs *vc_fs_get(void)
{
	return fuse_get_context()->private_data;
}

/* The epoch written in manifest.json bytes, or false if they do not say. */
static bool stored_epoch(const vc_bytes *raw, uint64_t *epoch)
{
	json_t *root = json_loadb((const char *)raw->data, raw->len, 0, NULL);
	json_t *value = root ? json_object_get(root, "epoch") : NULL;
	bool ok = json_is_integer(value) && json_integer_value(value) >= 0;

	if (ok)
		*epoch = (uint64_t)json_integer_value(value);
	json_decref(root);
	return ok;
}

static void snapshot_free(vc_fs *fs, vc_fs_snapshot *snapshot)
{
	vc_session_manifest_put(fs->session, snapshot->manifest);
	vc_bytes_free(&snapshot->manifest_bytes);
	pthread_mutex_destroy(&snapshot->metadata_lock);
	free(snapshot->metadata_json);
	free(snapshot);
}

/* Are the chunks sorted by id, each at its canonical path? Then a name gives its index by
 * bisection instead of a scan (a session may hold many thousands of chunks). */
static bool chunks_canonical(const vc_manifest *manifest)
{
	char path[64];

	for (size_t i = 0; i < manifest->chunk_count; i++) {
		const vc_chunk_ref *ref = &manifest->chunks[i];

		if (i > 0 && ref->chunk_id <= manifest->chunks[i - 1].chunk_id)
			return false;
		snprintf(path, sizeof(path), "chunks/chunk-%u.cbor", ref->chunk_id);
		if (strcmp(path, ref->object.path) != 0)
			return false;
	}
	return true;
}

static vc_err snapshot_new(const vc_manifest *manifest, vc_bytes *raw, vc_fs_snapshot **out)
{
	vc_fs_snapshot *snapshot = calloc(1, sizeof(*snapshot));

	if (snapshot == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for an epoch snapshot");
	atomic_init(&snapshot->refs, 1);
	snapshot->manifest = manifest;
	snapshot->manifest_bytes = *raw;
	*raw = (vc_bytes){0};
	pthread_mutex_init(&snapshot->metadata_lock, NULL);
	snapshot->stored_bytes = snapshot->manifest_bytes.len;
	snapshot->object_count = 1 + manifest->chunk_count + manifest->object_count;
	for (size_t i = 0; i < manifest->chunk_count; i++)
		snapshot->stored_bytes += manifest->chunks[i].object.byte_size;
	for (size_t i = 0; i < manifest->object_count; i++)
		snapshot->stored_bytes += manifest->objects[i].byte_size;
	snapshot->chunks_by_id = chunks_canonical(manifest);
	*out = snapshot;
	return VC_OK;
}

/*
 * Pair the session's current manifest with the stored bytes of the same epoch. The session
 * authenticated its manifest; the bytes are read once more because the library keeps only
 * the parsed form, and are accepted only if they carry the same epoch.
 */
static vc_err snapshot_build(vc_fs *fs, vc_fs_snapshot **out)
{
	vc_store *store = vc_session_store(fs->session);

	for (int attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
		const vc_manifest *manifest = vc_session_manifest_get(fs->session);
		vc_bytes raw = {0};
		uint64_t epoch = 0;
		bool changed;
		vc_err err = vc_store_get(store, "manifest.json", &raw);

		if (err != VC_OK) {
			vc_session_manifest_put(fs->session, manifest);
			return vc_fail_context(err, "reading manifest.json");
		}
		if (!stored_epoch(&raw, &epoch)) {
			vc_session_manifest_put(fs->session, manifest);
			vc_bytes_free(&raw);
			return vc_fail(VC_ERR_CORRUPT, "manifest.json has no epoch");
		}
		if (epoch == manifest->epoch) {
			err = snapshot_new(manifest, &raw, out);
			if (err != VC_OK) {
				vc_session_manifest_put(fs->session, manifest);
				vc_bytes_free(&raw);
			}
			return err;
		}
		vc_session_manifest_put(fs->session, manifest);
		vc_bytes_free(&raw);
		if (epoch < manifest->epoch)
			return vc_fail(
			    VC_ERR_AUTH,
			    "manifest.json went back from epoch %llu to %llu (rollback?)",
			    (unsigned long long)manifest->epoch, (unsigned long long)epoch);
		err = vc_session_refresh(fs->session, &changed);
		if (err != VC_OK)
			return err;
	}
	return vc_fail(VC_ERR_BUSY, "manifest.json keeps changing; try again");
}

vc_err vc_fs_init(vc_fs *fs, const vc_fs_options *options, vc_session *session)
{
	pthread_condattr_t attr;
	vc_err err;

	memset(fs, 0, sizeof(*fs));
	fs->options = options;
	fs->session = session;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->mounted_at = (int64_t)time(NULL);
	err = snapshot_build(fs, &fs->current);
	if (err != VC_OK)
		return err;
	pthread_mutex_init(&fs->current_lock, NULL);
	pthread_mutex_init(&fs->files_lock, NULL);
	pthread_mutex_init(&fs->refresh_lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->refresh_wake, &attr);
	pthread_condattr_destroy(&attr);
	return VC_OK;
}

void vc_fs_cleanup(vc_fs *fs)
{
	if (fs->refresh_running) {
		pthread_mutex_lock(&fs->refresh_lock);
		fs->refresh_stop = true;
		pthread_cond_signal(&fs->refresh_wake);
		pthread_mutex_unlock(&fs->refresh_lock);
		pthread_join(fs->refresh_thread, NULL);
		fs->refresh_running = false;
	}
	if (fs->current == NULL)
		return;
	vc_fs_snapshot_put(fs, fs->current);
	fs->current = NULL;
	pthread_cond_destroy(&fs->refresh_wake);
	pthread_mutex_destroy(&fs->refresh_lock);
	pthread_mutex_destroy(&fs->files_lock);
	pthread_mutex_destroy(&fs->current_lock);
}

vc_fs_snapshot *vc_fs_snapshot_get(vc_fs *fs)
{
	vc_fs_snapshot *snapshot;

	pthread_mutex_lock(&fs->current_lock);
	snapshot = fs->current;
	atomic_fetch_add(&snapshot->refs, 1);
	pthread_mutex_unlock(&fs->current_lock);
	return snapshot;
}

void vc_fs_snapshot_put(vc_fs *fs, vc_fs_snapshot *snapshot)
{
	if (atomic_fetch_sub(&snapshot->refs, 1) == 1)
		snapshot_free(fs, snapshot);
}

static vc_err metadata_build(vc_fs *fs, vc_fs_snapshot *snapshot)
{
	json_t *metadata = NULL;
	char *text;
	size_t len;
	vc_err err = vc_session_metadata(fs->session, snapshot->manifest, &metadata);

	if (err != VC_OK)
		return err;
	text = json_dumps(metadata, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	json_decref(metadata);
	if (text == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering metadata.json");
	len = strlen(text);
	/* A trailing newline, as `jq .` prints it, so `cat` leaves the prompt on its own line. */
	snapshot->metadata_json = realloc(text, len + 2);
	if (snapshot->metadata_json == NULL) {
		free(text);
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering metadata.json");
	}
	snapshot->metadata_json[len] = '\n';
	snapshot->metadata_json[len + 1] = '\0';
	snapshot->metadata_len = len + 1;
	snapshot->metadata_ready = true;
	return VC_OK;
}

vc_err vc_fs_snapshot_metadata(vc_fs *fs, vc_fs_snapshot *snapshot, const char **text, size_t *len)
{
	vc_err err = VC_OK;

	/* Built once per epoch under the lock; a failure is not kept, so a later try can work. */
	pthread_mutex_lock(&snapshot->metadata_lock);
	if (!snapshot->metadata_ready)
		err = metadata_build(fs, snapshot);
	if (err == VC_OK) {
		*text = snapshot->metadata_json;
		*len = snapshot->metadata_len;
	}
	pthread_mutex_unlock(&snapshot->metadata_lock);
	return err;
}

int vc_fs_fail(vc_fs *fs, const char *what, const char *object, vc_err err)
{
	int code = vc_err_errno(err);

	atomic_fetch_add(&fs->counters.errors, 1);
	/* An object the manifest lists but storage lacks is an I/O error, not a missing file. */
	if (err == VC_ERR_NOT_FOUND)
		code = EIO;
	/* The library's messages usually name the object already; name it once. */
	if (strstr(vc_last_error(), object) != NULL)
		vc_fs_log(LOG_ERR, "%s: %s (%s)", what, vc_last_error(), strerror(code));
	else
		vc_fs_log(LOG_ERR, "%s %s: %s (%s)", what, object, vc_last_error(), strerror(code));
	return -code;
}

vc_err vc_fs_refresh(vc_fs *fs, bool *changed)
{
	vc_fs_snapshot *snapshot = NULL;
	vc_fs_snapshot *old;
	bool moved = false;
	vc_err err;

	*changed = false;
	atomic_fetch_add(&fs->counters.refreshes, 1);
	err = vc_session_refresh(fs->session, &moved);
	if (err == VC_OK && !moved) {
		/* The session may have moved on an earlier call whose snapshot failed to build. */
		const vc_manifest *manifest = vc_session_manifest_get(fs->session);

		pthread_mutex_lock(&fs->current_lock);
		moved = manifest != fs->current->manifest;
		pthread_mutex_unlock(&fs->current_lock);
		vc_session_manifest_put(fs->session, manifest);
	}
	if (err == VC_OK && moved)
		err = snapshot_build(fs, &snapshot);
	if (err != VC_OK) {
		atomic_fetch_add(&fs->counters.refresh_errors, 1);
		return err;
	}
	if (snapshot == NULL)
		return VC_OK;
	pthread_mutex_lock(&fs->current_lock);
	old = fs->current;
	/* Two refreshes (the timer and a commit) may race: never go back to an older epoch. */
	if (snapshot->manifest->epoch <= old->manifest->epoch) {
		pthread_mutex_unlock(&fs->current_lock);
		vc_fs_snapshot_put(fs, snapshot);
		return VC_OK;
	}
	fs->current = snapshot;
	pthread_mutex_unlock(&fs->current_lock);
	vc_fs_log(LOG_INFO, "now serving epoch %llu (%zu chunks)",
		  (unsigned long long)snapshot->manifest->epoch, snapshot->manifest->chunk_count);
	vc_fs_snapshot_put(fs, old);
	atomic_fetch_add(&fs->counters.epoch_changes, 1);
	*changed = true;
	return VC_OK;
}

static void refresh_once(vc_fs *fs)
{
	bool changed;
	vc_err err = vc_fs_refresh(fs, &changed);

	/* Log when checking starts or stops failing, not every manifest_ttl during an outage. */
	if (err != VC_OK && !fs->refresh_failing)
		vc_fs_log(LOG_WARNING,
			  "checking for a new epoch failed, serving epoch as before: %s",
			  vc_last_error());
	else if (err == VC_OK && fs->refresh_failing)
		vc_fs_log(LOG_INFO, "checking for a new epoch works again");
	fs->refresh_failing = err != VC_OK;
}

static void *refresh_main(void *arg)
{
	vc_fs *fs = arg;
	struct timespec deadline;

	pthread_mutex_lock(&fs->refresh_lock);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += fs->options->manifest_ttl;
	while (!fs->refresh_stop) {
		int rc = pthread_cond_timedwait(&fs->refresh_wake, &fs->refresh_lock, &deadline);

		if (fs->refresh_stop || rc != ETIMEDOUT)
			continue;
		pthread_mutex_unlock(&fs->refresh_lock);
		refresh_once(fs);
		pthread_mutex_lock(&fs->refresh_lock);
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += fs->options->manifest_ttl;
	}
	pthread_mutex_unlock(&fs->refresh_lock);
	return NULL;
}

void vc_fs_refresh_start(vc_fs *fs)
{
	sigset_t all, old;
	int rc;

	if (fs->options->manifest_ttl == 0)
		return;
	/* Signals belong to the FUSE loop's thread: SIGTERM there is what unmounts. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&fs->refresh_thread, NULL, refresh_main, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		vc_fs_log(LOG_ERR,
			  "cannot start the manifest refresh thread: %s; new epochs "
			  "will not appear",
			  strerror(rc));
		return;
	}
	fs->refresh_running = true;
}
