/* The manifest: the small, authenticated root of a session (docs/FORMAT.md). */
#ifndef VCHUNK_MANIFEST_H
#define VCHUNK_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VC_FORMAT_NAME "vchunk"
#define VC_FORMAT_VERSION 1
#define VC_SESSION_ID_BYTES 16
#define VC_KEY_ID_BYTES 8
#define VC_HASH_BYTES 32
#define VC_SALT_BYTES 16

typedef enum vc_metric {
	VC_METRIC_COSINE = 0,
	VC_METRIC_L2 = 1,
	VC_METRIC_DOT = 2,
} vc_metric;

/** "cosine", "l2", "dot". */
const char *vc_metric_name(vc_metric metric);
/** Parse a metric name; false if unknown. */
bool vc_metric_parse(const char *name, vc_metric *out);

/** One stored object the manifest vouches for. */
typedef struct vc_object_ref {
	char *path;                   /**< relative path, validated ("chunks/chunk-3.cbor") */
	uint64_t byte_size;           /**< stored (ciphertext) size */
	uint64_t plain_size;          /**< decrypted size, as shown by `vchunk cat` and the mount */
	uint8_t hash[VC_HASH_BYTES];  /**< BLAKE2b-256 of the stored bytes */
	uint32_t frame_count;         /**< separately authenticated frames inside */
	/** BLAKE2b-256 of the envelope header, frame table and header nonce (the
	 *  envelope's header hash H). Every frame's seal binds H, so a reader that
	 *  checks H, the header seal and each frame authenticates the whole object
	 *  without hashing it all. False for manifests written before the field. */
	bool has_header_hash;
	uint8_t header_hash[VC_HASH_BYTES];
} vc_object_ref;

/** A chunk: a group of vectors stored as one object. */
typedef struct vc_chunk_ref {
	uint32_t chunk_id;  /**< never reused within a session */
	char *cid;          /**< content id on S5 when known, else NULL */
	uint32_t vector_count;
	vc_object_ref object;
} vc_chunk_ref;

/** The approximate index a session carries (manifest "index"). */
typedef enum vc_index_kind {
	VC_INDEX_KIND_FLAT = 0, /**< none: every query scans every chunk */
	VC_INDEX_KIND_IVF = 1,  /**< index/ivf.bin: centroids + list directory */
	VC_INDEX_KIND_HNSW = 2, /**< index/hnsw.bin: graph + node map */
} vc_index_kind;

typedef struct vc_index_info {
	vc_index_kind kind;
	uint32_t nlist;      /**< IVF lists (0 unless ivf) */
	uint32_t nprobe;     /**< default lists probed, chosen at import (0 unless ivf) */
	uint32_t ef_search;  /**< default HNSW ef (0 unless hnsw) */
	uint32_t id_shards;  /**< index/ids/XX.bin shards (0: no id index) */
} vc_index_info;

typedef struct vc_encryption_info {
	bool enabled;
	char kdf[16];                      /**< "none" (key file) or "argon2id13" */
	uint8_t salt[VC_SALT_BYTES];       /**< Argon2id salt */
	uint64_t opslimit;                 /**< Argon2id parameters */
	uint64_t memlimit;
	uint8_t key_id[VC_KEY_ID_BYTES];   /**< identifies the key without revealing it */
} vc_encryption_info;

/**
 * A parsed manifest. All fields are read-only for users of the library;
 * the format module owns the memory (vc_manifest_free).
 */
typedef struct vc_manifest {
	uint32_t format_version;
	uint32_t version;            /**< legacy-compatible layout version field */
	uint64_t epoch;              /**< increases on every commit */
	uint8_t session_id[VC_SESSION_ID_BYTES];
	uint32_t dim;
	vc_metric metric;
	uint32_t chunk_size;         /**< target vectors per chunk */
	uint64_t total_vectors;
	int64_t created_at;          /**< unix seconds */
	int64_t committed_at;        /**< unix seconds of this epoch's commit */
	uint32_t next_chunk_id;
	vc_encryption_info encryption;
	vc_index_info index;         /**< all zero when the manifest has no "index" */
	size_t chunk_count;
	vc_chunk_ref *chunks;
	size_t object_count;         /**< other objects: metadata.cbor, index/... */
	vc_object_ref *objects;
	/** Rows stored in chunks but deleted (tombstoned): total_vectors +
	 *  deleted_vectors = the sum of chunks[].vector_count. 0 when absent. */
	uint64_t deleted_vectors;
	/** The last recent_chunks entries of chunks[] were added after the index
	 *  was built (the recent tier): the index covers the chunks before them,
	 *  searches scan these exactly. 0 when absent. */
	uint32_t recent_chunks;
} vc_manifest;

/** Free a manifest (NULL-safe). */
void vc_manifest_free(vc_manifest *manifest);

/** Chunks the index covers: every chunk but the recent_chunks last ones. */
size_t vc_manifest_indexed_chunks(const vc_manifest *manifest);

/** Rows stored (live or deleted) in the chunks the index covers. */
uint64_t vc_manifest_indexed_rows(const vc_manifest *manifest);

/** Rows the chunks hold, by state: deleted ones still stored (a compaction
 *  drops them) and those in the recent tier (added since the index was built). */
typedef struct vc_row_counts {
	uint64_t stored;  /**< every row of every chunk, live or deleted */
	uint64_t deleted; /**< stored minus total_vectors */
	uint64_t recent;  /**< rows of the recent_chunks last chunks */
} vc_row_counts;

/** Count @p manifest's rows (from the chunk list; nothing is read). */
vc_row_counts vc_manifest_row_counts(const vc_manifest *manifest);

/** Find an object (chunk or other) by path; NULL if the manifest has none. */
const vc_object_ref *vc_manifest_find(const vc_manifest *manifest, const char *path);

#ifdef __cplusplus
}
#endif
#endif
