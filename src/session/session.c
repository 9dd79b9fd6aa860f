/* Opening and closing sessions, the reference-counted manifest snapshots and refresh, key files
 * and the session counters. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "format/manifest_codec.h"
#include "index/ivf_dir.h"
#include "search/flat.h"
#include "search/hnsw_search.h"
#include "search/ivf_search.h"
#include "search/recent.h"
#include "session/epochs.h"
#include "session/graph_tier.h"
#include "session/session_i.h"
#include "session/tombstones.h"
#include "util/error_i.h"

uint64_t vc_session_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static vc_err write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return VC_ERR_IO;
		data += n;
		len -= (size_t)n;
	}
	return VC_OK;
}

vc_err vc_key_generate_file(const char *path)
{
	uint8_t key[VC_KEY_BYTES];
	vc_err err;
	int fd;

	if (path == NULL || path[0] == '\0')
		return vc_fail(VC_ERR_INVALID, "no key file path given");
	err = vc_crypto_init();
	if (err != VC_OK)
		return err;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return vc_fail(VC_ERR_EXISTS,
			       "key file %s already exists; refusing to overwrite it", path);
	if (fd < 0)
		return vc_fail(errno == EACCES ? VC_ERR_PERMISSION : VC_ERR_IO,
			       "cannot create key file %s: %s", path, strerror(errno));
	vc_random_bytes(key, sizeof(key));
	err = write_all(fd, key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	if (err == VC_OK && fsync(fd) != 0)
		err = VC_ERR_IO;
	if (err != VC_OK) {
		int saved = errno;

		close(fd);
		unlink(path);
		return vc_fail(err, "cannot write key file %s: %s", path, strerror(saved));
	}
	if (close(fd) != 0) {
		unlink(path);
		return vc_fail(VC_ERR_IO, "cannot write key file %s: %s", path, strerror(errno));
	}
	return VC_OK;
}

/* Fetch manifest.json, bounded by VC_MANIFEST_MAX_BYTES. */
static vc_err read_manifest(vc_session *session, vc_bytes *json)
{
	vc_err err;

	memset(json, 0, sizeof(*json));
	err = vc_store_get_range(session->store, "manifest.json", 0,
				 (uint64_t)VC_MANIFEST_MAX_BYTES + 1, json);
	if (err == VC_ERR_NOT_FOUND)
		return vc_fail(err, "no session at %s (manifest.json not found)", session->uri);
	if (err != VC_OK)
		return vc_fail_context(err, "reading manifest.json of %s", session->uri);
	if (json->len > VC_MANIFEST_MAX_BYTES) {
		vc_bytes_free(json);
		return vc_fail(VC_ERR_TOO_BIG, "%s: manifest.json is larger than %u bytes",
			       session->uri, VC_MANIFEST_MAX_BYTES);
	}
	return VC_OK;
}

static vc_err check_key_id(const char *uri, const vc_manifest *manifest, const vc_keyring *keyring)
{
	char want[2 * VC_KEY_ID_BYTES + 1];
	char have[2 * VC_KEY_ID_BYTES + 1];

	if (memcmp(keyring->key_id, manifest->encryption.key_id, VC_KEY_ID_BYTES) == 0)
		return VC_OK;
	vc_key_id_hex(manifest->encryption.key_id, want);
	vc_key_id_hex(keyring->key_id, have);
	return vc_fail(
	    VC_ERR_AUTH,
	    "wrong key: session %s was encrypted with key id %s, the key given has id %s", uri,
	    want, have);
}

/* The keyring for an encrypted session, from the key file or the passphrase given. */
static vc_err load_keyring(const char *uri, const vc_manifest *manifest,
			   const vc_open_options *options, vc_keyring **out)
{
	const vc_encryption_info *enc = &manifest->encryption;
	bool argon = strcmp(enc->kdf, "argon2id13") == 0;
	vc_err err;

	*out = NULL;
	if (!enc->enabled)
		return VC_OK; /* a key given for a plaintext session is simply not needed */
	if (options->key_file == NULL && options->passphrase == NULL)
		return vc_fail(VC_ERR_PERMISSION,
			       "%s: session is encrypted: give --key FILE, VCHUNK_KEY_FILE or "
			       "VCHUNK_PASSPHRASE",
			       uri);
	if (options->passphrase != NULL && (argon || options->key_file == NULL)) {
		if (!argon)
			return vc_fail(VC_ERR_AUTH,
				       "wrong key: session %s was encrypted with a key file, not a "
				       "passphrase; give --key FILE",
				       uri);
		err = vc_keyring_from_passphrase(options->passphrase, enc->salt, enc->opslimit,
						 enc->memlimit, out);
	} else {
		err = vc_keyring_from_file(options->key_file, out);
	}
	if (err != VC_OK)
		return err;
	err = check_key_id(uri, manifest, *out);
	if (err != VC_OK) {
		vc_keyring_free(*out);
		*out = NULL;
	}
	return err;
}

/* Authenticate manifest JSON already parsed into @p manifest with the session's keyring. */
static vc_err check_manifest(vc_session *session, const vc_bytes *json, const vc_manifest *manifest)
{
	vc_err err;

	if (manifest->encryption.enabled != (session->keyring != NULL))
		return vc_fail(
		    VC_ERR_AUTH,
		    "manifest.json of %s failed authentication: encryption was turned %s "
		    "(tampered or replaced)",
		    session->uri, session->keyring != NULL ? "off" : "on");
	if (session->keyring != NULL) {
		err = check_key_id(session->uri, manifest, session->keyring);
		if (err != VC_OK)
			return err;
	}
	err = vc_manifest_check_mac((const char *)json->data, json->len, session->keyring);
	if (err == VC_ERR_AUTH)
		return vc_fail(err, "manifest.json of %s failed authentication: tampered",
			       session->uri);
	return err;
}

static vc_err snapshot_new(vc_manifest *manifest, vc_snapshot **out)
{
	vc_snapshot *snap = calloc(1, sizeof(*snap));

	if (snap == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory holding a manifest");
	snap->manifest = manifest;
	snap->refs = 1; /* the "current" reference */
	*out = snap;
	return VC_OK;
}

/*
 * Read, parse, key and authenticate manifest.json, then compare its epoch with
 * the rollback record. VC_ERR_AUTH from that comparison sets *stale.
 */
static vc_err read_first_manifest(vc_session *session, const vc_open_options *options,
				  vc_manifest **out, bool *stale)
{
	vc_manifest *manifest = NULL;
	vc_bytes json;
	vc_err err;

	*stale = false;
	err = read_manifest(session, &json);
	if (err != VC_OK)
		return err;
	err = vc_manifest_parse((const char *)json.data, json.len, &manifest);
	if (err != VC_OK) {
		vc_fail_context(err, "%s", session->uri);
		goto fail;
	}
	/* Keyed once: a passphrase costs an Argon2id run. */
	if (session->keyring == NULL)
		err = load_keyring(session->uri, manifest, options, &session->keyring);
	if (err == VC_OK)
		err = check_manifest(session, &json, manifest);
	if (err != VC_OK)
		goto fail;
	/* Only an authenticated epoch is compared with (and recorded in) the rollback record. */
	err = vc_epochs_check(session->epoch_file, manifest->session_id, manifest->epoch,
			      session->allow_rollback, session->uri);
	*stale = err == VC_ERR_AUTH;
	if (err != VC_OK)
		goto fail;
	vc_bytes_free(&json);
	*out = manifest;
	return VC_OK;

fail:
	vc_manifest_free(manifest);
	vc_bytes_free(&json);
	return err;
}

/* The first snapshot of a new session. */
static vc_err open_manifest(vc_session *session, const vc_open_options *options)
{
	vc_manifest *manifest = NULL;
	bool stale = false;
	vc_err err;
	int tries;

	err = vc_epochs_path(options->epoch_file, &session->epoch_file);
	if (err != VC_OK)
		return err;
	session->allow_rollback = options->allow_rollback;
	/*
	 * Another process may commit, and another reader record the new epoch, between our
	 * read of manifest.json and our look at the record: an epoch one behind then looks
	 * like a rollback. Read again before calling it one.
	 */
	for (tries = 0; tries < 3; tries++) {
		err = read_first_manifest(session, options, &manifest, &stale);
		if (!stale)
			break;
	}
	if (err != VC_OK)
		goto fail;
	err = snapshot_new(manifest, &session->current);
	if (err != VC_OK)
		goto fail_manifest;
	session->snapshots = session->current;
	memcpy(session->session_id, manifest->session_id, VC_SESSION_ID_BYTES);
	session->highest_epoch = manifest->epoch;
	return VC_OK;

fail_manifest:
	vc_manifest_free(manifest);
fail:
	free(session->epoch_file);
	session->epoch_file = NULL;
	return err;
}

vc_err vc_session_open(const char *uri, const vc_open_options *options, vc_session **out)
{
	static const vc_open_options defaults;
	vc_session *session;
	vc_err err;

	if (out == NULL || uri == NULL)
		return vc_fail(VC_ERR_INVALID, "vc_session_open: no URI given");
	*out = NULL;
	if (options == NULL)
		options = &defaults;
	err = vc_crypto_init();
	if (err != VC_OK)
		return err;
	session = calloc(1, sizeof(*session));
	if (session == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory opening %s", uri);
	session->uri = strdup(uri);
	if (session->uri == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory opening %s", uri);
		goto fail_session;
	}
	if (pthread_mutex_init(&session->lock, NULL) != 0) {
		err = vc_fail(VC_ERR_NOMEM, "cannot create a lock for session %s", uri);
		goto fail_uri;
	}
	err = vc_store_open(uri, &options->store, &session->store);
	if (err != VC_OK)
		goto fail_lock;
	err = open_manifest(session, options);
	if (err != VC_OK)
		goto fail_store;
	err = vc_cache_create(options->cache_bytes ? options->cache_bytes : VC_DEFAULT_CACHE_BYTES,
			      vc_session_free_cached, &session->cache);
	if (err != VC_OK)
		goto fail_manifest;
	*out = session;
	return VC_OK;

fail_manifest:
	vc_manifest_free(session->current->manifest);
	free(session->current);
	free(session->epoch_file);
	vc_keyring_free(session->keyring);
fail_store:
	vc_store_close(session->store);
fail_lock:
	pthread_mutex_destroy(&session->lock);
fail_uri:
	free(session->uri);
fail_session:
	free(session);
	return err;
}

static void snapshot_free(vc_snapshot *snap);

void vc_session_close(vc_session *session)
{
	vc_snapshot *snap;

	if (session == NULL)
		return;
	vc_cache_destroy(session->cache);
	snap = session->snapshots;
	while (snap != NULL) {
		vc_snapshot *next = snap->next;

		snapshot_free(snap);
		snap = next;
	}
	vc_keyring_free(session->keyring);
	vc_store_close(session->store);
	pthread_mutex_destroy(&session->lock);
	free(session->epoch_file);
	free(session->uri);
	free(session);
}

const vc_manifest *vc_session_manifest_get(vc_session *session)
{
	const vc_manifest *manifest;

	pthread_mutex_lock(&session->lock);
	session->current->refs++;
	manifest = session->current->manifest;
	pthread_mutex_unlock(&session->lock);
	return manifest;
}

/* Drop one reference of @p snap; unlinks it and returns it when it must be freed. Locked. */
static vc_snapshot *snapshot_unref_locked(vc_session *session, vc_snapshot *snap)
{
	vc_snapshot **link;

	if (--snap->refs > 0)
		return NULL;
	for (link = &session->snapshots; *link != NULL; link = &(*link)->next) {
		if (*link == snap) {
			*link = snap->next;
			break;
		}
	}
	return snap;
}

static void snapshot_free(vc_snapshot *snap)
{
	if (snap == NULL)
		return;
	for (int slot = 0; slot < VC_SLOT_COUNT; slot++)
		if (snap->loaded[slot] != NULL)
			snap->free_loaded[slot](snap->loaded[slot]);
	vc_manifest_free(snap->manifest);
	free(snap);
}

void vc_session_manifest_put(vc_session *session, const vc_manifest *manifest)
{
	vc_snapshot *dead = NULL;
	vc_snapshot *snap;

	if (session == NULL || manifest == NULL)
		return;
	pthread_mutex_lock(&session->lock);
	for (snap = session->snapshots; snap != NULL; snap = snap->next) {
		if (snap->manifest == manifest) {
			dead = snapshot_unref_locked(session, snap);
			break;
		}
	}
	pthread_mutex_unlock(&session->lock);
	snapshot_free(dead);
}

/* Make @p manifest current unless it is not newer; *changed tells. Takes @p manifest. */
static vc_err install_manifest(vc_session *session, vc_manifest *manifest, bool *changed)
{
	uint64_t epoch = manifest->epoch;
	vc_snapshot *dead = NULL;
	vc_snapshot *snap = NULL;
	uint64_t seen;
	vc_err err;

	err = snapshot_new(manifest, &snap);
	if (err != VC_OK) {
		vc_manifest_free(manifest);
		return err;
	}
	pthread_mutex_lock(&session->lock);
	seen = session->highest_epoch;
	if (epoch > seen) {
		snap->next = session->snapshots;
		session->snapshots = snap;
		dead = snapshot_unref_locked(session, session->current);
		session->current = snap;
		session->highest_epoch = epoch;
		snap = NULL;
		*changed = true;
	}
	pthread_mutex_unlock(&session->lock);
	/* Freed outside the lock; the new snapshot may already be gone too, so use epoch. */
	snapshot_free(dead);
	snapshot_free(snap);
	if (epoch < seen)
		return vc_fail(VC_ERR_AUTH,
			       "rollback: manifest epoch %llu is older than %llu already seen",
			       (unsigned long long)epoch, (unsigned long long)seen);
	return VC_OK;
}

/* One refresh attempt; *stale when the rollback record holds a newer epoch. */
static vc_err refresh_once(vc_session *session, bool *changed, bool *stale)
{
	vc_manifest *manifest = NULL;
	vc_bytes json;
	vc_err err;

	*stale = false;
	err = read_manifest(session, &json);
	if (err != VC_OK)
		return err;
	err = vc_manifest_parse((const char *)json.data, json.len, &manifest);
	if (err != VC_OK) {
		vc_fail_context(err, "%s", session->uri);
		goto out;
	}
	err = check_manifest(session, &json, manifest);
	if (err != VC_OK)
		goto out;
	if (memcmp(manifest->session_id, session->session_id, VC_SESSION_ID_BYTES) != 0) {
		err = vc_fail(VC_ERR_AUTH,
			      "manifest.json of %s now belongs to another session (session id "
			      "changed; replaced)",
			      session->uri);
		goto out;
	}
	/* Checked before it becomes current: a refused epoch is never served. */
	err = vc_epochs_check(session->epoch_file, manifest->session_id, manifest->epoch,
			      session->allow_rollback, session->uri);
	*stale = err == VC_ERR_AUTH;
	if (err != VC_OK)
		goto out;
	err = install_manifest(session, manifest, changed);
	manifest = NULL;
out:
	vc_manifest_free(manifest);
	vc_bytes_free(&json);
	return err;
}

vc_err vc_session_refresh(vc_session *session, bool *changed)
{
	bool dummy, stale = false;
	vc_err err = VC_OK;
	int tries;

	if (changed == NULL)
		changed = &dummy;
	*changed = false;
	/* As in open_manifest: an epoch one behind the record may just be a commit racing us. */
	for (tries = 0; tries < 3; tries++) {
		err = refresh_once(session, changed, &stale);
		if (!stale)
			break;
	}
	return err;
}

vc_store *vc_session_store(vc_session *session)
{
	return session->store;
}

vc_cache *vc_session_cache(vc_session *session)
{
	return session->cache;
}

vc_err vc_session_search(vc_session *session, const vc_query *query, vc_results *out)
{
	const vc_manifest *manifest;
	vc_err err;

	if (out == NULL || query == NULL)
		return vc_fail(VC_ERR_INVALID, "vc_session_search: no query or result given");
	memset(out, 0, sizeof(*out));
	manifest = vc_session_manifest_get(session);
	err = vc_query_validate(manifest, query);
	/* ef and nprobe steer the approximate indexes; exact search has nothing to tune. */
	/* An index covers the chunks it was built over; the recent tier is scanned and merged. */
	if (err == VC_OK && !query->exact && manifest->index.kind == VC_INDEX_KIND_IVF)
		err = vc_search_with_recent(session, manifest, query, vc_search_ivf, out);
	else if (err == VC_OK && !query->exact && manifest->index.kind == VC_INDEX_KIND_HNSW)
		err = vc_search_with_recent(session, manifest, query, vc_search_hnsw, out);
	else if (err == VC_OK)
		err = vc_search_flat(session, manifest, query, out);
	vc_session_manifest_put(session, manifest);
	if (err == VC_OK) {
		atomic_fetch_add(&session->searches, 1);
		atomic_fetch_add(&session->search_ns_total, out->stats.elapsed_ns);
	}
	return err;
}

/* Read, authenticate and check index/ivf.bin of @p manifest. */
static vc_err load_ivf_dir(vc_session *session, const vc_manifest *manifest, vc_ivf_dir **out)
{
	vc_bytes plain;
	char path[64];
	vc_err err;

	vc_index_object_path(manifest, "ivf", path, sizeof(path));
	err = vc_session_read_object(session, manifest, path, &plain);
	if (err != VC_OK)
		return err;
	err = vc_ivf_dir_deserialize(plain.data, plain.len, out);
	vc_bytes_free(&plain);
	if (err == VC_OK) {
		err = vc_ivf_dir_check(*out, manifest);
		if (err != VC_OK) {
			vc_ivf_dir_free(*out);
			*out = NULL;
		}
	}
	return err;
}

vc_err vc_snapshot_lazy(vc_session *session, const vc_manifest *manifest, vc_snapshot_slot slot,
			vc_snapshot_load_fn load, const void *arg, void (*free_fn)(void *),
			void **out)
{
	vc_snapshot *snap;
	void *loaded = NULL;
	vc_err err;

	*out = NULL;
	pthread_mutex_lock(&session->lock);
	for (snap = session->snapshots; snap != NULL && snap->manifest != manifest;
	     snap = snap->next)
		;
	if (snap != NULL)
		*out = snap->loaded[slot];
	pthread_mutex_unlock(&session->lock);
	if (snap == NULL)
		return vc_fail(VC_ERR_INVALID, "manifest is not a snapshot of session %s",
			       session->uri);
	if (*out != NULL)
		return VC_OK;
	/* The caller holds a reference on the manifest, so snap stays alive meanwhile. */
	err = load(session, manifest, arg, &loaded);
	if (err != VC_OK)
		return err;
	pthread_mutex_lock(&session->lock);
	if (snap->loaded[slot] == NULL) {
		snap->loaded[slot] = loaded;
		snap->free_loaded[slot] = free_fn;
		loaded = NULL;
	}
	*out = snap->loaded[slot];
	pthread_mutex_unlock(&session->lock);
	if (loaded != NULL)
		free_fn(loaded);
	return VC_OK;
}

static vc_err ivf_dir_loader(vc_session *session, const vc_manifest *manifest, const void *arg,
			     void **out)
{
	vc_ivf_dir *dir = NULL;
	vc_err err = load_ivf_dir(session, manifest, &dir);

	(void)arg;
	*out = dir;
	return err;
}

static void ivf_dir_free_any(void *dir)
{
	vc_ivf_dir_free(dir);
}

vc_err vc_session_ivf_dir(vc_session *session, const vc_manifest *manifest,
			  const struct vc_ivf_dir **dir)
{
	void *loaded;
	vc_err err;

	*dir = NULL;
	if (manifest->index.kind != VC_INDEX_KIND_IVF)
		return vc_fail(VC_ERR_NOT_FOUND, "session %s has no IVF index", session->uri);
	err = vc_snapshot_lazy(session, manifest, VC_SLOT_IVF_DIR, ivf_dir_loader, NULL,
			       ivf_dir_free_any, &loaded);
	*dir = loaded;
	return err;
}

static vc_err load_hnsw_tier(vc_session *session, const vc_manifest *manifest, vc_hnsw_tier **out)
{
	char path[64];

	vc_index_object_path(manifest, "hnsw", path, sizeof(path));
	return vc_session_graph_load(session, manifest, path, 0,
				     vc_manifest_indexed_chunks(manifest), out);
}

static vc_err hnsw_tier_loader(vc_session *session, const vc_manifest *manifest, const void *arg,
			       void **out)
{
	vc_hnsw_tier *tier = NULL;
	vc_err err = load_hnsw_tier(session, manifest, &tier);

	(void)arg;
	*out = tier;
	return err;
}

void vc_hnsw_tier_free_any(void *tier)
{
	vc_hnsw_tier_free(tier);
}

vc_err vc_session_hnsw_tier(vc_session *session, const vc_manifest *manifest,
			    const struct vc_hnsw_tier **tier)
{
	void *loaded;
	vc_err err;

	*tier = NULL;
	if (manifest->index.kind != VC_INDEX_KIND_HNSW)
		return vc_fail(VC_ERR_NOT_FOUND, "session %s has no HNSW index", session->uri);
	err = vc_snapshot_lazy(session, manifest, VC_SLOT_HNSW_TIER, hnsw_tier_loader, NULL,
			       vc_hnsw_tier_free_any, &loaded);
	*tier = loaded;
	return err;
}

void vc_session_get_stats(vc_session *session, vc_session_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->chunk_loads = atomic_load(&session->chunk_loads);
	out->bytes_fetched = atomic_load(&session->bytes_fetched);
	out->frames_decrypted = atomic_load(&session->frames_decrypted);
	out->load_ns_total = atomic_load(&session->load_ns_total);
	out->searches = atomic_load(&session->searches);
	out->search_ns_total = atomic_load(&session->search_ns_total);
	vc_cache_get_stats(session->cache, &out->cache);
	vc_store_get_stats(session->store, &out->store);
}
