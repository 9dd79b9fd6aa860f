/* Garbage collection: objects that only manifests superseded longer ago than the grace period
 * refer to (their copies under manifests/), and what failed commits recorded under
 * manifests/pending-E.json, are deleted; the backend is never listed for objects (a directory
 * backend sweeps the temp files of writes that never finished). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/manifest_codec.h"
#include "session/session_i.h"
#include "session/txn_state.h"
#include "util/error_i.h"

#define GC_STATE "manifests/gc.json"

typedef struct gc_run {
	vc_txn *txn;
	vc_id_set keep;	    /* paths some kept manifest refers to */
	vc_id_set doomed;   /* candidate paths (deleted unless kept) */
	vc_id_set records;  /* history copies and pending records to remove afterwards */
	uint64_t kept_from; /* lowest epoch whose history copy stays */
	uint64_t removed;
} gc_run;

static vc_err add_paths(vc_id_set *set, const vc_manifest *m)
{
	bool inserted;
	vc_err err = VC_OK;

	for (size_t i = 0; i < m->chunk_count && err == VC_OK; i++)
		err = vc_id_set_insert(set, m->chunks[i].object.path, &inserted);
	for (size_t i = 0; i < m->object_count && err == VC_OK; i++)
		err = vc_id_set_insert(set, m->objects[i].path, &inserted);
	return err;
}

/* The history copy of epoch @p epoch, authenticated like manifest.json; NULL when absent. */
static vc_err read_copy(gc_run *run, uint64_t epoch, vc_manifest **out)
{
	vc_session *session = run->txn->session;
	vc_bytes json = {0};
	char path[64];
	vc_err err;

	*out = NULL;
	snprintf(path, sizeof(path), "manifests/epoch-%" PRIu64 ".json", epoch);
	err = vc_store_get(session->store, path, &json);
	if (err == VC_ERR_NOT_FOUND) {
		vc_clear_error();
		return VC_OK;
	}
	if (err == VC_OK)
		err = vc_manifest_parse((const char *)json.data, json.len, out);
	if (err == VC_OK)
		err = vc_manifest_check_mac((const char *)json.data, json.len, session->keyring);
	if (err == VC_OK &&
	    (memcmp((*out)->session_id, session->session_id, VC_SESSION_ID_BYTES) != 0 ||
	     (*out)->epoch != epoch))
		err = vc_fail(VC_ERR_CORRUPT, "%s is not epoch %" PRIu64 " of this session", path,
			      epoch);
	vc_bytes_free(&json);
	if (err != VC_OK) {
		vc_manifest_free(*out);
		*out = NULL;
		/* An unreadable copy is never trusted to delete anything: gc stops. */
		return vc_fail_context(err, "gc: reading %s of %s", path, session->uri);
	}
	return VC_OK;
}

static vc_err read_state(gc_run *run)
{
	vc_bytes got = {0};
	json_t *state;

	run->kept_from = 1;
	if (vc_store_get(run->txn->session->store, GC_STATE, &got) != VC_OK) {
		vc_clear_error();
		return VC_OK;
	}
	state = json_loadb((const char *)got.data, got.len, 0, NULL);
	vc_bytes_free(&got);
	if (json_integer_value(json_object_get(state, "kept_from")) > 0)
		run->kept_from = (uint64_t)json_integer_value(json_object_get(state, "kept_from"));
	json_decref(state);
	return VC_OK;
}

/*
 * Epochs kept_from .. current-1: one stays (its objects kept) while it was superseded within
 * the grace period, i.e. the next epoch was committed after the cutoff: a reader may still be
 * in the middle of it. The scan goes down from the current epoch so that a gap in the history
 * (copies an interrupted gc removed) still dates what precedes it: the next copy that exists
 * was committed no earlier than the moment the epoch before the gap was superseded.
 */
static vc_err scan_history(gc_run *run, int64_t cutoff)
{
	const vc_manifest *current = run->txn->base;
	int64_t superseded = current->committed_at;
	uint64_t lowest_kept = current->epoch;
	bool inserted;
	char path[64];
	vc_err err = VC_OK;

	for (uint64_t e = current->epoch; e-- > run->kept_from && err == VC_OK;) {
		vc_manifest *m = NULL;

		err = read_copy(run, e, &m);
		if (err != VC_OK || m == NULL)
			continue;
		if (superseded > cutoff) {
			err = add_paths(&run->keep, m);
			lowest_kept = e;
		} else {
			snprintf(path, sizeof(path), "manifests/epoch-%" PRIu64 ".json", e);
			err = add_paths(&run->doomed, m);
			if (err == VC_OK)
				err = vc_id_set_insert(&run->records, path, &inserted);
		}
		superseded = m->committed_at;
		vc_manifest_free(m);
	}
	run->kept_from = lowest_kept;
	return err;
}

/* Pending records of commits that never finished (gc holds the lock: none is running). */
static vc_err scan_pending(gc_run *run, uint64_t from)
{
	vc_store *store = run->txn->session->store;
	bool inserted;
	vc_err err = VC_OK;

	for (uint64_t e = from; e <= run->txn->base->epoch + 1 && err == VC_OK; e++) {
		vc_bytes got = {0};
		json_t *rec, *objects;
		char path[64];
		size_t i;

		snprintf(path, sizeof(path), "manifests/pending-%" PRIu64 ".json", e);
		if (vc_store_get(store, path, &got) != VC_OK) {
			vc_clear_error();
			continue;
		}
		rec = json_loadb((const char *)got.data, got.len, 0, NULL);
		vc_bytes_free(&got);
		objects = json_object_get(rec, "objects");
		for (i = 0; i < json_array_size(objects) && err == VC_OK; i++) {
			const char *p = json_string_value(json_array_get(objects, i));

			/* Only object paths a commit writes: never the manifest or the lock. */
			if (p != NULL && vc_object_path_valid(p) &&
			    (strncmp(p, "chunks/", 7) == 0 || strncmp(p, "index/", 6) == 0))
				err = vc_id_set_insert(&run->doomed, p, &inserted);
		}
		json_decref(rec);
		if (err == VC_OK)
			err = vc_id_set_insert(&run->records, path, &inserted);
	}
	return err;
}

static vc_err remove_all(gc_run *run, const vc_id_set *set, bool check_keep, bool count)
{
	vc_store *store = run->txn->session->store;

	for (size_t i = 0; i < set->cap; i++) {
		const char *path = set->hashes[i] != 0 ? set->keys[i] : NULL;
		vc_err err;

		if (path == NULL || (check_keep && vc_id_set_contains(&run->keep, path)))
			continue;
		err = vc_store_remove(store, path);
		if (err == VC_ERR_NOT_FOUND) {
			vc_clear_error();
			continue;
		}
		if (err != VC_OK)
			return vc_fail_context(err, "gc: removing %s", path);
		run->removed += count;
	}
	return VC_OK;
}

static vc_err write_state(gc_run *run)
{
	char text[96];

	snprintf(text, sizeof(text), "{\"kept_from\":%" PRIu64 "}", run->kept_from);
	return vc_store_put(run->txn->session->store, GC_STATE, text, strlen(text));
}

vc_err vc_session_gc(vc_session *session, uint64_t grace_seconds, uint64_t *removed)
{
	int64_t cutoff = (int64_t)time(NULL) - (int64_t)grace_seconds;
	gc_run run;
	uint64_t from;
	vc_err err;

	memset(&run, 0, sizeof(run));
	if (removed != NULL)
		*removed = 0;
	err = vc_txn_begin(session, &run.txn);
	if (err != VC_OK)
		return err;
	err = add_paths(&run.keep, run.txn->base);
	if (err == VC_OK)
		err = read_state(&run);
	from = run.kept_from;
	if (err == VC_OK)
		err = scan_history(&run, cutoff);
	if (err == VC_OK)
		err = scan_pending(&run, from);
	/* Objects first, then the records naming them: an interrupted gc can run again. */
	if (err == VC_OK)
		err = remove_all(&run, &run.doomed, true, true);
	if (err == VC_OK)
		err = remove_all(&run, &run.records, false, false);
	if (err == VC_OK)
		err = write_state(&run);
	/* Temp files of writes killed before their rename, as old as the epochs collected. */
	if (err == VC_OK)
		err = vc_store_sweep(session->store, cutoff, &run.removed);
	if (err == VC_OK && removed != NULL)
		*removed = run.removed;
	vc_id_set_free(&run.keep);
	vc_id_set_free(&run.doomed);
	vc_id_set_free(&run.records);
	vc_txn_free(run.txn);
	return err;
}
