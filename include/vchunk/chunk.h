/* A decoded chunk: ids, packed vectors and per-vector metadata, ready to search. */
#ifndef VCHUNK_CHUNK_H
#define VCHUNK_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One separately authenticated frame of a chunk: a run of rows, optionally one IVF list. */
typedef struct vc_frame_info {
	int32_t cluster;  /**< IVF list these rows belong to, or -1 */
	uint32_t first;   /**< first row of the frame within the chunk */
	uint32_t count;   /**< rows in the frame */
} vc_frame_info;

/**
 * A decoded chunk. Immutable once built; shared read-only between threads
 * (through the cache). Row i has id ids[i], vector vectors[i*dim .. +dim),
 * and metadata meta[meta_offset[i] .. meta_offset[i+1]) as one CBOR item
 * (0xf6, CBOR null, when the vector has none).
 */
typedef struct vc_chunk {
	uint32_t chunk_id;
	uint32_t dim;
	uint32_t count;
	float *vectors;          /**< count*dim floats, 64-byte aligned */
	char **ids;              /**< count NUL-terminated strings */
	uint32_t *meta_offset;   /**< count+1 offsets into meta */
	uint8_t *meta;
	uint32_t frame_count;
	vc_frame_info *frames;
	size_t memory_bytes;     /**< everything this chunk holds, for cache accounting */
} vc_chunk;

/** Free a chunk (NULL-safe). */
void vc_chunk_free(vc_chunk *chunk);

#ifdef __cplusplus
}
#endif
#endif
