/*
 * Chunk encoding. A chunk's plaintext is one CBOR map (docs/FORMAT.md):
 * {"chunk_id", "dim", "count", "frames": [frame, ...]} where each frame is
 * itself a CBOR map {"cluster", "ids": [tstr...], "vectors": bstr (packed
 * little-endian float32), "metadata": [item...]} and is sealed as one
 * envelope frame. The envelope's frame 0 is the chunk header (everything
 * before the first frame map), so concatenating the frame plaintexts gives
 * the canonical CBOR document that `vchunk cat` prints.
 */
#ifndef VC_CHUNK_CODEC_H
#define VC_CHUNK_CODEC_H

#include <jansson.h>
#include <stdint.h>

#include "format/envelope.h"
#include "vchunk/chunk.h"

/** Largest dimension and id length (bytes of UTF-8) a chunk may hold. */
#define VC_CHUNK_MAX_DIM 65536
#define VC_CHUNK_MAX_ID 4096

typedef struct vc_chunk_builder vc_chunk_builder;

/** Start building chunk @p chunk_id of @p dim-dimensional vectors. */
vc_err vc_chunk_builder_new(uint32_t chunk_id, uint32_t dim, vc_chunk_builder **out);

/**
 * Start a new frame (rows that follow belong to IVF list @p cluster, or -1).
 * A frame may stay empty (an IVF list with no rows in this chunk). Rows added
 * before any call go to a frame with cluster -1.
 */
vc_err vc_chunk_builder_frame(vc_chunk_builder *builder, int32_t cluster);

/**
 * Append a row; @p metadata may be NULL. Copies everything. The id must be
 * 1..VC_CHUNK_MAX_ID bytes of UTF-8; the vector's dim components must be finite.
 * On failure the builder is unchanged.
 */
vc_err vc_chunk_builder_add(vc_chunk_builder *builder, const char *id, const float *vector,
			    const json_t *metadata);

uint32_t vc_chunk_builder_count(const vc_chunk_builder *builder);

/**
 * Encode and seal. *stored gets the object bytes, *plain_size the size of
 * its canonical plaintext, *frame_count the envelope frames (header frame
 * included). The builder is freed.
 */
vc_err vc_chunk_builder_finish(vc_chunk_builder *builder, const vc_object_ctx *ctx,
			       vc_bytes *stored, uint64_t *plain_size, uint32_t *frame_count);

/** Free without finishing (NULL-safe). */
void vc_chunk_builder_free(vc_chunk_builder *builder);

/**
 * Decode a canonical chunk plaintext (already decrypted) into a vc_chunk.
 * Checks every length and count; VC_ERR_CORRUPT with a precise message on
 * malformed input. Never trusts a length before checking it against @p len.
 */
vc_err vc_chunk_decode(const uint8_t *plain, size_t len, vc_chunk **out);

/**
 * Decode one frame map on its own: the plaintext of envelope frame j >= 1 of
 * a chunk, opened by byte range (docs/FORMAT.md 6.1) to read one IVF list.
 * *out holds that frame's rows (frame_count 1, frames[0].first 0) and
 * carries @p chunk_id; @p dim comes from the manifest. Caller frees it.
 */
vc_err vc_chunk_decode_frame(const uint8_t *plain, size_t len, uint32_t chunk_id, uint32_t dim,
			     vc_chunk **out);

/** Authenticate, decrypt and decode a whole stored chunk object. */
vc_err vc_chunk_open(const vc_object_ctx *ctx, const uint8_t *stored, size_t len, vc_chunk **out);

/* Metadata items: JSON values stored as CBOR (maps, arrays, text, numbers, bools, null). */

/** Append the CBOR encoding of @p value (NULL: CBOR null) to @p out (grown with realloc). */
vc_err vc_meta_encode(const json_t *value, vc_bytes *out);

/** Decode one CBOR item into JSON; VC_ERR_CORRUPT if it is not JSON-compatible. */
vc_err vc_meta_decode(const uint8_t *item, size_t len, json_t **out);

#endif
