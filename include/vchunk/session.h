/*
 * Opening, reading, searching and creating sessions: the main libvchunk API.
 *
 * Thread safety: every vc_session_* function may be called from many threads
 * at once on the same session (the FUSE daemon does), except
 * vc_session_close(), which must be the last call. Manifests and cache
 * entries handed out are references: each must be given back exactly once.
 * A vc_writer is used by one thread at a time.
 *
 * Keys: the library reads no environment variable; callers that honour
 * VCHUNK_KEY_FILE / VCHUNK_PASSPHRASE pass them in vc_open_options.
 */
#ifndef VCHUNK_SESSION_H
#define VCHUNK_SESSION_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vchunk/cache.h"
#include "vchunk/chunk.h"
#include "vchunk/error.h"
#include "vchunk/manifest.h"
#include "vchunk/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VC_DEFAULT_CACHE_BYTES (150u * 1024u * 1024u)
#define VC_DEFAULT_CHUNK_SIZE 10000u

/** Write a new random 32-byte key to @p path (mode 0600, refuses to overwrite). */
vc_err vc_key_generate_file(const char *path);

typedef struct vc_session vc_session;

typedef struct vc_open_options {
	const char *key_file;   /**< 32-byte key file, or NULL */
	const char *passphrase; /**< passphrase (Argon2id), or NULL */
	size_t cache_bytes;     /**< cache budget; 0: VC_DEFAULT_CACHE_BYTES */
	vc_store_options store; /**< backend timeouts and retries */
	/** Rollback detection across runs: the highest epoch seen of each session is
	 *  remembered in this file; NULL: $XDG_STATE_HOME/vchunk/epochs (else
	 *  ~/.local/state/vchunk/epochs); "": no check. Opening (or refreshing to)
	 *  an older epoch than remembered is VC_ERR_AUTH "rollback: ...". */
	const char *epoch_file;
	bool allow_rollback; /**< accept an older epoch than remembered (and remember it) */
} vc_open_options;

/**
 * Open the session at @p uri (see vc_store_open for the forms). Reads only
 * manifest.json: checks its structure and MAC, and the key. Errors:
 * VC_ERR_NOT_FOUND (no session there), VC_ERR_PERMISSION (encrypted but no
 * key given), VC_ERR_AUTH (wrong key or tampered manifest), VC_ERR_CORRUPT,
 * VC_ERR_UNAVAILABLE / VC_ERR_TIMEOUT (backend). The caller owns *out.
 */
vc_err vc_session_open(const char *uri, const vc_open_options *options, vc_session **out);

/** Close a session; every manifest and chunk reference must be released. NULL-safe. */
void vc_session_close(vc_session *session);

/**
 * The current manifest, referenced: it stays valid (even across refreshes)
 * until vc_session_manifest_put(). Thread-safe.
 */
const vc_manifest *vc_session_manifest_get(vc_session *session);
void vc_session_manifest_put(vc_session *session, const vc_manifest *manifest);

/**
 * Re-read manifest.json; if it authenticates and has a higher epoch, make it
 * current. *changed tells whether it did. An older epoch is refused
 * (VC_ERR_AUTH, rollback). Thread-safe.
 */
vc_err vc_session_refresh(vc_session *session, bool *changed);

/** The session's backend and cache (owned by the session). */
vc_store *vc_session_store(vc_session *session);
vc_cache *vc_session_cache(vc_session *session);

/**
 * Fetch, check (hash, authentication) and decrypt a whole object named in
 * @p manifest. For a chunk this is its canonical CBOR plaintext (what
 * `vchunk cat` prints). The caller frees *plain with vc_bytes_free.
 */
vc_err vc_session_read_object(vc_session *session, const vc_manifest *manifest, const char *path,
			      vc_bytes *plain);

/**
 * The decoded chunk at index @p chunk_index of @p manifest, through the
 * cache. *entry holds a reference; its value (vc_cache_entry_value) is a
 * const vc_chunk *. Release it with vc_session_chunk_release(). Every error
 * message names the chunk's object path. Thread-safe.
 */
vc_err vc_session_chunk_get(vc_session *session, const vc_manifest *manifest, size_t chunk_index,
			    vc_cache_entry **entry);

/**
 * The canonical plaintext bytes of chunk @p chunk_index (what
 * chunks/chunk-N.cbor shows in the mount), through the cache. *entry holds a
 * reference; its value is a const vc_bytes *. Release it with
 * vc_session_chunk_release(). Thread-safe.
 */
vc_err vc_session_chunk_plain_get(vc_session *session, const vc_manifest *manifest,
				  size_t chunk_index, vc_cache_entry **entry);

/** Give back an entry from vc_session_chunk_get or vc_session_chunk_plain_get. */
void vc_session_chunk_release(vc_session *session, vc_cache_entry *entry);

/** Decrypted session metadata (metadata.cbor) as JSON; caller owns *out (json_decref). */
vc_err vc_session_metadata(vc_session *session, const vc_manifest *manifest, json_t **out);

/** One problem found by vc_session_verify. */
typedef void (*vc_verify_fn)(void *ctx, const char *path, vc_err err, const char *message);

/**
 * Read and authenticate every object of the current manifest, check hashes,
 * sizes, counts and decodability. Calls @p report once per problem.
 * Returns VC_OK only if there was none.
 */
vc_err vc_session_verify(vc_session *session, vc_verify_fn report, void *ctx);

/* ---- search ---- */

typedef struct vc_query {
	const float *vector;
	uint32_t dim;
	uint32_t k;              /**< number of results wanted (no hidden cap) */
	bool has_threshold;      /**< apply @p threshold before the top-k cut */
	float threshold;         /**< cosine/dot: score >= threshold; l2: distance <= threshold */
	const json_t *filter;    /**< metadata filter or NULL */
	bool exact;              /**< force flat search */
	uint32_t ef;             /**< HNSW ef_search (0: default) */
	uint32_t nprobe;         /**< IVF lists probed (0: default) */
	uint32_t threads;        /**< exact search: threads scanning chunks in parallel,
				      each loading its own (0 or 1: the calling thread only) */
} vc_query;

typedef struct vc_hit {
	char *id;
	float score;   /**< cosine: similarity; dot: inner product; l2: euclidean distance */
	json_t *metadata; /**< the vector's metadata (JSON null when none) */
} vc_hit;

typedef struct vc_query_stats {
	uint64_t chunks_read;     /**< chunk objects and chunk frames fetched from the backend */
	uint64_t bytes_read;      /**< bytes fetched from the backend */
	uint64_t frames_decrypted;
	uint64_t cache_hits;
	uint64_t vectors_scored;
	uint64_t elapsed_ns;
	uint64_t frames_read;     /**< of chunks_read: single frames fetched by byte range */
	uint64_t lists_probed;    /**< IVF lists scanned (0 for exact and HNSW search) */
} vc_query_stats;

typedef struct vc_results {
	size_t count;
	vc_hit *hits;            /**< best first */
	vc_query_stats stats;
} vc_results;

/**
 * Search the current epoch: the best min(k, matching vectors) hits, best
 * first. Exact (every chunk scored through the cache) when the session has
 * no index or @p query->exact is set. With an IVF index the query probes
 * nprobe lists (0: the manifest's default), reading only their frames; when
 * a threshold or filter leaves fewer than k hits, nprobe doubles until k are
 * found or every list was probed, so k is honoured whenever k vectors match.
 * Invalid query (wrong dimension, k = 0, a non-finite value, an all-zero
 * cosine query, a bad filter): VC_ERR_INVALID. A chunk that fails to load
 * fails the search with that chunk's error, naming it. On failure *out is
 * left empty. The caller frees *out with vc_results_free. Thread-safe.
 */
vc_err vc_session_search(vc_session *session, const vc_query *query, vc_results *out);

/** Free the hits of @p results and reset it to empty (NULL-safe). */
void vc_results_free(vc_results *results);

/** One stored vector found by id. */
typedef struct vc_record {
	char *id;
	uint32_t dim;
	float *vector;    /**< dim floats, as imported */
	json_t *metadata; /**< JSON null when none */
} vc_record;

/**
 * Find the vector with id @p id in @p manifest (a referenced snapshot). With
 * an id index (index/ids/) this reads one small shard and one chunk frame;
 * without one it scans the chunks. VC_ERR_NOT_FOUND if no vector has that id.
 * The caller frees *out with vc_record_free. Thread-safe.
 */
vc_err vc_session_lookup(vc_session *session, const vc_manifest *manifest, const char *id,
			 vc_record *out);

/** Free a record's contents and reset it (NULL-safe). */
void vc_record_free(vc_record *record);

/** Counters of one open session, since vc_session_open. */
typedef struct vc_session_stats {
	uint64_t chunk_loads;      /**< chunk objects fetched and decoded or decrypted */
	uint64_t bytes_fetched;    /**< stored bytes fetched for those loads */
	uint64_t frames_decrypted; /**< envelope frames authenticated for those loads */
	uint64_t load_ns_total;    /**< time spent fetching, checking and decoding */
	uint64_t searches;         /**< vc_session_search calls that succeeded */
	uint64_t search_ns_total;  /**< their total elapsed time */
	vc_cache_stats cache;      /**< snapshot of the session's cache */
	vc_store_stats store;      /**< snapshot of the session's backend */
} vc_session_stats;

/** Snapshot of the session's counters into @p out. Thread-safe. */
void vc_session_get_stats(vc_session *session, vc_session_stats *out);

/* ---- creating a session ---- */

/** The index a writer builds (vc_create_options.index). */
typedef enum vc_index_type {
	VC_INDEX_AUTO = 0, /**< flat below VC_INDEX_AUTO_IVF_MIN vectors, IVF from there on */
	VC_INDEX_FLAT = 1, /**< no index: exact search only */
	VC_INDEX_IVF = 2,  /**< IVF: cluster-aligned chunks + index/ivf.bin */
	VC_INDEX_HNSW = 3, /**< HNSW graph in index/hnsw.bin */
} vc_index_type;

/** Sessions with at least this many vectors get IVF under VC_INDEX_AUTO. */
#define VC_INDEX_AUTO_IVF_MIN 20000u

typedef struct vc_create_options {
	const char *key_file;   /**< key file; or */
	const char *passphrase; /**< passphrase (Argon2id); or */
	bool no_encryption;     /**< plaintext objects, unkeyed manifest */
	vc_metric metric;
	uint32_t chunk_size;    /**< 0: VC_DEFAULT_CHUNK_SIZE */
	vc_store_options store;
	vc_index_type index;    /**< index to build at commit (default auto) */
	uint32_t nlist;         /**< IVF lists; 0: about 2 sqrt(n) (docs/ARCHITECTURE.md) */
	uint32_t hnsw_m;        /**< HNSW links per node; 0: 16 */
	uint32_t hnsw_ef_construction; /**< 0: 200 */
	/** Optional: when *cancel becomes non-zero (e.g. set by a signal handler), the
	 *  commit stops before its next object put, fails with VC_ERR_INVALID
	 *  ("interrupted") and removes what it wrote. */
	const volatile sig_atomic_t *cancel;
} vc_create_options;

typedef struct vc_writer vc_writer;

/**
 * Start a new session at @p uri. Fails with VC_ERR_EXISTS if a session is
 * already there (it is left untouched). Nothing is visible as a session
 * until vc_writer_commit() writes the manifest.
 */
vc_err vc_writer_create(const char *uri, const vc_create_options *options, vc_writer **out);

/**
 * Add one vector. The first vector fixes the dimension; ids must be unique,
 * non-empty, valid UTF-8; values must be finite. @p metadata may be NULL.
 * Flat sessions: full chunks are encrypted and stored as they fill. Indexed
 * ones (auto, ivf, hnsw): rows are spooled to an unlinked temporary file in
 * $TMPDIR (memory stays bounded) and laid out in chunks at commit.
 */
vc_err vc_writer_add(vc_writer *writer, const char *id, const float *vector, uint32_t dim,
		     const json_t *metadata);

/**
 * Write the remaining chunk, metadata.cbor and, last, manifest.json (epoch 1).
 * Frees the writer, also on failure: then every object written is removed as
 * by vc_writer_abort(). An empty session is refused (VC_ERR_INVALID).
 */
vc_err vc_writer_commit(vc_writer *writer);

/**
 * Give up: delete every object written so far (manifest first) and free the
 * writer. When the backend is unreachable the objects it could not delete stay
 * behind, unreferenced (without a manifest they are no session). NULL-safe.
 */
void vc_writer_abort(vc_writer *writer);

#ifdef __cplusplus
}
#endif
#endif
