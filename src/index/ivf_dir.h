/*
 * The IVF list directory (index/ivf.bin): the quantizer plus, for every list, the chunk frames
 * holding its rows, with their byte ranges and each chunk's header hash, so one range request
 * fetches one frame and the frame can be authenticated without the rest of its chunk.
 */
#ifndef VC_IVF_DIR_H
#define VC_IVF_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "index/ivf.h"
#include "vchunk/manifest.h"
#include "vchunk/store.h"

/** One (list, chunk) segment: the rows of a list inside one chunk, one envelope frame. */
typedef struct vc_ivf_segment {
	uint32_t chunk_index; /**< index into the manifest's chunks[] */
	uint32_t frame_index; /**< envelope frame (>= 1; frame 0 is the chunk header) */
	uint32_t rows;
	uint32_t sealed_len; /**< bytes of the sealed frame */
	uint64_t offset;     /**< byte offset of the sealed frame in the stored chunk */
} vc_ivf_segment;

/** A loaded directory. Immutable once built; shared read-only between threads. */
typedef struct vc_ivf_dir {
	vc_ivf *ivf;
	uint32_t nlist;
	uint32_t chunk_count;
	uint8_t (*header_hashes)[VC_HASH_BYTES]; /**< chunk_count entries, manifest order */
	uint64_t *first; /**< nlist + 1: list l is segments[first[l]..first[l+1]) */
	vc_ivf_segment *segments;
	uint64_t segment_count;
	size_t memory_bytes; /**< everything the directory holds */
} vc_ivf_dir;

/**
 * Serialise (appended to @p out). Layout, all little-endian:
 *
 *   offset  size             field
 *   0       8                magic "VCIVFDR\1"
 *   8       4                nlist
 *   12      4                chunk count C
 *   16      8                segment count S
 *   24      8                length L of the quantizer
 *   32      L                the quantizer (vc_ivf_serialize)
 *   ...     32*C             header hash of each chunk, in manifest order
 *   ...     8*(nlist+1)      first segment of each list, then S
 *   ...     24*S             segments: chunk, frame, rows, sealed_len (u32), offset (u64)
 *
 * Segments are ordered by list, so first[] is non-decreasing.
 */
vc_err vc_ivf_dir_serialize(const vc_ivf_dir *dir, vc_bytes *out);

/**
 * Load from untrusted bytes. Every count, index and order is checked
 * (VC_ERR_CORRUPT, never a crash); the caller checks the segments against
 * the manifest (vc_ivf_dir_check). Free with vc_ivf_dir_free.
 */
vc_err vc_ivf_dir_deserialize(const uint8_t *data, size_t len, vc_ivf_dir **out);

/**
 * Check a directory against @p manifest: same chunk count and header hashes
 * (where the manifest records them), frames inside each chunk's frame
 * count and byte size, list sizes summing to the session's vectors.
 */
vc_err vc_ivf_dir_check(const vc_ivf_dir *dir, const vc_manifest *manifest);

void vc_ivf_dir_free(vc_ivf_dir *dir);

#endif
