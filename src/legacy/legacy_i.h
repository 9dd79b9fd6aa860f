/* Internals of the legacy reader shared by its files (src/legacy/legacy_*.c). */
#ifndef VC_LEGACY_I_H
#define VC_LEGACY_I_H

#include "legacy/legacy.h"
#include "legacy/legacy_cbor.h"

/** One vector as stored in a chunk. */
typedef struct vc_legacy_entry {
	uint8_t vector_id[VC_LEGACY_ID_BYTES];
	char *id;	  /**< user id or fallback; owned */
	json_t *metadata; /**< owned reference, NULL when none */
	char *timestamp;  /**< owned, NULL when none */
	uint32_t chunk;	  /**< index of the chunk holding it */
	bool recovered;	  /**< id from _originalId, checked by BLAKE3 */
	bool in_graph;	  /**< seen in hnsw_nodes.cbor */
	bool deleted;	  /**< is_deleted in hnsw_nodes.cbor */
} vc_legacy_entry;

typedef struct vc_legacy_chunk {
	char *chunk_id;		 /**< "chunk-0" */
	char *path;		 /**< "chunks/chunk-0.cbor" */
	uint64_t declared_count; /**< manifest vector_count */
	bool has_byte_size;
	uint64_t byte_size; /**< manifest byte_size */
	uint64_t start_idx;
	uint64_t end_idx;
	size_t first; /**< its first entry */
	size_t count; /**< entries it holds */
} vc_legacy_chunk;

/** An entry keyed by its first four id bytes (the short id's 8 hex digits). */
typedef struct vc_legacy_short {
	uint32_t prefix;
	size_t index;
} vc_legacy_short;

struct vc_legacy {
	uint32_t version;
	uint32_t dim;
	json_t *manifest;
	json_t *metadata; /**< metadata.cbor as JSON, NULL when absent */
	json_t *schema;	  /**< NULL when none */

	vc_legacy_chunk *chunks;
	size_t chunk_count;

	vc_legacy_entry *entries; /**< storage order */
	size_t stored;
	size_t entries_cap;
	float *vectors;	    /**< stored * dim values */
	size_t vectors_cap; /**< in floats */

	size_t *live; /**< entry index of each live vector */
	size_t live_count;

	size_t *table; /**< open addressing by vector id: entry index + 1, 0 = empty */
	size_t table_mask;
	vc_legacy_short *shorts; /**< every entry, sorted by short id prefix */

	vc_legacy_info info;
};

/** Fetch @p path whole. With @p optional, a missing object sets *present false, VC_OK. */
vc_err vc_legacy_fetch(vc_store *store, const char *path, bool optional, vc_bytes *out,
		       bool *present);

/** Fail with VC_ERR_CORRUPT unless the cursor consumed the whole file. */
vc_err vc_legacy_expect_end(const vc_lcbor *c);

/** Decode chunk @p index (its manifest entry is filled in) and append its vectors. */
vc_err vc_legacy_read_chunk(vc_legacy *lg, vc_store *store, size_t index);

/** Build the vector id table; VC_ERR_CORRUPT if two chunks hold the same id. */
vc_err vc_legacy_table_build(vc_legacy *lg);

/** Entry index of @p vector_id, or SIZE_MAX. */
size_t vc_legacy_table_find(const vc_legacy *lg, const uint8_t vector_id[VC_LEGACY_ID_BYTES]);

/**
 * How many entries have short id @p prefix; *first gets the position in
 * lg->shorts of the first of them.
 */
size_t vc_legacy_short_range(const vc_legacy *lg, uint32_t prefix, size_t *first);

/** Parse "vec_" + 8 lower-case hex digits (exactly @p len bytes) into @p prefix. */
bool vc_legacy_parse_short_id(const char *text, size_t len, uint32_t *prefix);

/** hnsw_nodes.cbor, when present: deletion flags and a cross-check of the vectors. */
vc_err vc_legacy_read_graph(vc_legacy *lg, vc_store *store);

/** metadata_map.cbor and timestamps.cbor, when present; then every entry gets an id. */
vc_err vc_legacy_read_ids(vc_legacy *lg, vc_store *store);

/** Lower-case hex of a vector id into @p hex (65 bytes). */
void vc_legacy_hex(const uint8_t vector_id[VC_LEGACY_ID_BYTES], char hex[65]);

#endif
