/* Deleted rows of a session: the tombstone object index/deleted-<epoch>.bin, loaded with each
 * manifest snapshot and consulted by every read path (search, lookup, export, verify). */
#ifndef VC_TOMBSTONES_H
#define VC_TOMBSTONES_H

#include <stdbool.h>
#include <stdint.h>

#include "vchunk/chunk.h"
#include "vchunk/session.h"

/** Path prefix of the tombstone object ("index/deleted-<epoch>.bin"). */
#define VC_TOMBSTONES_PREFIX "index/deleted-"

/** One deleted row, addressed like an id-index entry: chunk id, envelope frame (>= 1), row. */
typedef struct vc_tomb {
	uint32_t chunk_id;
	uint32_t frame;
	uint32_t row;
} vc_tomb;

/** A loaded tombstone set: sorted by (chunk_id, frame, row), no duplicates. Read-only. */
typedef struct vc_tombstones {
	vc_tomb *items;
	uint64_t count;
} vc_tombstones;

/** Sort @p items in place and drop duplicates; *count is updated. */
void vc_tombs_sort(vc_tomb *items, uint64_t *count);

/**
 * Encode a sorted set (appended to @p out). Layout, little-endian: magic
 * "VCDEL\0\0\1" (8), u64 count N, N entries of u32 chunk id, u32 frame, u32 row.
 */
vc_err vc_tombstones_encode(const vc_tomb *items, uint64_t count, vc_bytes *out);

/**
 * Decode from untrusted bytes: strictly increasing entries, frame >= 1, every
 * chunk id listed in @p manifest, N equal to manifest->deleted_vectors.
 */
vc_err vc_tombstones_decode(const uint8_t *data, size_t len, const vc_manifest *manifest,
			    vc_tombstones **out);

void vc_tombstones_free(vc_tombstones *set);

/** The tombstone object of @p manifest, or NULL when it has none. */
const vc_object_ref *vc_tombstones_ref(const vc_manifest *manifest);

/** Is row @p row of envelope frame @p frame of chunk @p chunk_id deleted? NULL set: no. */
bool vc_tombstones_has(const vc_tombstones *set, uint32_t chunk_id, uint32_t frame, uint32_t row);

/** Does chunk @p chunk_id hold any deleted row? */
bool vc_tombstones_chunk_any(const vc_tombstones *set, uint32_t chunk_id);

/**
 * For a whole decoded chunk: *dead gets a per-row array (1: deleted), or NULL
 * when the chunk has no deleted row. Caller frees.
 */
vc_err vc_tombstones_chunk_mask(const vc_tombstones *set, const vc_chunk *chunk, uint8_t **dead);

/**
 * The tombstones of @p manifest's snapshot, loaded (read, authenticated,
 * checked) at the first call and kept with the snapshot. *set is NULL when
 * the manifest deletes nothing. Valid while the caller holds @p manifest.
 */
vc_err vc_session_tombstones(vc_session *session, const vc_manifest *manifest,
			     const vc_tombstones **set);

#endif
