/*
 * Reader for sessions written by the original Rust system (manifest version 2 or 3,
 * serde_cbor chunks, hnsw_nodes.cbor, metadata_map.cbor). See docs/LEGACY.md.
 *
 * Contract: vc_legacy_open() reads and checks the whole session once; afterwards a
 * vc_legacy is immutable, so every other function may be called from any number of
 * threads at once. vc_legacy_close() must be the last call. Pointers handed out
 * (ids, vectors, metadata, timestamps) are borrowed: they stay valid until the
 * handle is closed; callers that keep metadata longer take their own reference
 * (json_incref, or json_deep_copy to modify it).
 *
 * Order: live vectors are numbered 0..count-1 in storage order — chunks in manifest
 * order, then the order each chunk file holds them (the original system wrote hash
 * maps, so that order is arbitrary but stable for a given session). Deleted vectors
 * (is_deleted in hnsw_nodes.cbor) are not numbered, not returned, not searched.
 */
#ifndef VC_LEGACY_H
#define VC_LEGACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vchunk/error.h"
#include "vchunk/session.h"
#include "vchunk/store.h"

/** Length of the original system's vector id (BLAKE3-256 of the user's id). */
#define VC_LEGACY_ID_BYTES 32

typedef struct vc_legacy vc_legacy;

/**
 * True if @p manifest_json (not NUL-terminated, @p len bytes) is a manifest of
 * the original system: a JSON object with "version" 2 or 3, a "chunks" array
 * and no "format" member (our manifests name their format). Never fails;
 * malformed JSON is simply not legacy. Thread-safe.
 */
bool vc_legacy_detect(const char *manifest_json, size_t len);

/**
 * Read the legacy session in @p store: manifest.json, every chunk, and when
 * present hnsw_nodes.cbor, metadata_map.cbor, timestamps.cbor, metadata.cbor
 * and schema.json. Nothing is written. Errors: VC_ERR_NOT_FOUND (no
 * manifest.json or a listed chunk is missing), VC_ERR_UNSUPPORTED (not a
 * version 2/3 manifest), VC_ERR_CORRUPT (a message naming the file and byte
 * offset), VC_ERR_NOMEM, or the backend's error. The store is only used
 * during the call; the caller keeps ownership of it. The caller owns *out
 * and releases it with vc_legacy_close().
 */
vc_err vc_legacy_open(vc_store *store, vc_legacy **out);

/** Release everything (NULL-safe). */
void vc_legacy_close(vc_legacy *legacy);

/** What was found while opening, for `vchunk inspect` and the mount's stats. */
typedef struct vc_legacy_info {
	uint32_t version;	    /**< manifest version (2 or 3) */
	uint32_t dim;		    /**< vector dimension (0 for an empty session) */
	size_t count;		    /**< live vectors */
	size_t stored;		    /**< vectors in the chunks, deleted ones included */
	size_t deleted;		    /**< marked is_deleted in hnsw_nodes.cbor */
	size_t chunk_count;	    /**< chunks listed in the manifest */
	size_t ids_recovered;	    /**< ids matched to _originalId by BLAKE3 */
	size_t ids_fallback;	    /**< vectors named by their short or full hex id instead */
	size_t short_id_collisions; /**< vectors whose vec_xxxxxxxx short id another one shares */
	size_t metadata_unmatched;  /**< metadata_map entries belonging to no stored vector */
	size_t graph_nodes;	    /**< nodes in hnsw_nodes.cbor (0 if the file is absent) */
	size_t graph_only;	    /**< graph nodes whose id no chunk holds (ignored) */
	size_t graph_mismatches;    /**< graph nodes whose vector differs from the chunk's */
} vc_legacy_info;

/** Fill @p out. Thread-safe. */
void vc_legacy_get_info(const vc_legacy *legacy, vc_legacy_info *out);

/** Vector dimension, metric (always VC_METRIC_L2) and number of live vectors. */
uint32_t vc_legacy_dim(const vc_legacy *legacy);
vc_metric vc_legacy_metric(const vc_legacy *legacy);
size_t vc_legacy_count(const vc_legacy *legacy);

/**
 * Live vector @p index (0 <= index < vc_legacy_count()). Any output pointer
 * may be NULL. *id: the user's id string, or "vec_" + 8 hex digits when the
 * session does not record it (+ 64 hex digits when the short form is
 * ambiguous). *vector: dim float32 values. *metadata: the user's metadata,
 * JSON null when there is none. All borrowed (see the header comment).
 * VC_ERR_INVALID if @p index is out of range.
 */
vc_err vc_legacy_get(const vc_legacy *legacy, size_t index, const char **id, const float **vector,
		     const json_t **metadata);

/** Everything known about one live vector; all pointers borrowed. */
typedef struct vc_legacy_vector {
	const char *id;
	const uint8_t *vector_id; /**< VC_LEGACY_ID_BYTES bytes */
	const float *vector;
	const json_t *metadata; /**< JSON null when none */
	const char *timestamp;	/**< RFC 3339 insertion time, or NULL */
	bool id_recovered;	/**< id came from _originalId (checked by BLAKE3) */
	size_t chunk_index;	/**< which chunk holds it */
} vc_legacy_vector;

/** Fill @p out for live vector @p index. VC_ERR_INVALID if out of range. */
vc_err vc_legacy_vector_at(const vc_legacy *legacy, size_t index, vc_legacy_vector *out);

/**
 * Index of the live vector whose id is @p id. VC_ERR_NOT_FOUND (with a
 * message naming the id) if there is none or it is deleted.
 */
vc_err vc_legacy_find(const vc_legacy *legacy, const char *id, size_t *index);

/**
 * Exact L2 search over the live vectors. Uses vector, dim, k, threshold
 * (distance <= threshold) and filter of @p query; ef, nprobe and exact are
 * irrelevant here. Scores are euclidean distances, smallest first; equal
 * distances keep storage order. Hits carry the user's id and a reference to
 * the metadata. VC_ERR_INVALID for a wrong dimension, a non-finite value,
 * k == 0 or a bad filter. Fills @p out; release it with vc_results_free().
 */
vc_err vc_legacy_search(const vc_legacy *legacy, const vc_query *query, vc_results *out);

/** Number of chunks the manifest lists. */
size_t vc_legacy_chunk_count(const vc_legacy *legacy);

/**
 * Chunk @p index decoded to a new JSON document:
 *   {"chunk_id": "chunk-0", "start_idx": 0, "end_idx": 9,
 *    "vectors": [{"id": "doc-1", "vector_id": "<64 hex>", "vector": [...]}, ...]}
 * in the chunk file's order; a deleted vector is listed with "deleted": true.
 * Floats are float32 values (dump with JSON_REAL_PRECISION(9) to print them
 * short and exact). The caller owns *out (json_decref).
 */
vc_err vc_legacy_chunk_json(const vc_legacy *legacy, size_t index, json_t **out);

/** Object path of chunk @p index ("chunks/chunk-0.cbor"), borrowed; NULL if out of range. */
const char *vc_legacy_chunk_path(const vc_legacy *legacy, size_t index);

/**
 * Session metadata (metadata.cbor: index configuration and counters) as a new
 * JSON document, or JSON null when the file is absent. Caller owns *out.
 */
vc_err vc_legacy_metadata_json(const vc_legacy *legacy, json_t **out);

/**
 * schema.json (or the manifest's non-null "schema"), as a new reference to the
 * handle's own value: read it, do not modify it (json_deep_copy to change it).
 * NULL when neither exists.
 */
json_t *vc_legacy_schema(const vc_legacy *legacy);

/** The parsed manifest.json, as a new reference (never NULL); read-only like the schema. */
json_t *vc_legacy_manifest(const vc_legacy *legacy);

#endif
