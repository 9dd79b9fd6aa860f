/* libFuzzer target: envelopes and chunk documents from hostile bytes, with a fixed key. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "format/chunk_codec.h"
#include "fuzz_common.h"

/* Invariants every successfully decoded chunk must keep. */
static void check_chunk(const vc_chunk *c)
{
	uint64_t rows = 0;

	if (((uintptr_t)c->vectors & 63) != 0 || c->meta_offset[0] != 0)
		abort();
	for (uint32_t f = 0; f < c->frame_count; f++) {
		if (c->frames[f].first != rows)
			abort();
		rows += c->frames[f].count;
	}
	if (rows != c->count)
		abort();
	for (uint32_t i = 0; i < c->count; i++) {
		json_t *meta = NULL;

		if (c->ids[i][0] == '\0' || c->meta_offset[i + 1] <= c->meta_offset[i])
			abort();
		if (vc_meta_decode(c->meta + c->meta_offset[i],
				   c->meta_offset[i + 1] - c->meta_offset[i], &meta) == VC_OK)
			json_decref(meta);
	}
}

static void try_stored(const vc_object_ctx *ctx, const uint8_t *data, size_t size)
{
	vc_frame_loc *locs = NULL;
	vc_bytes plain = {0};
	vc_chunk *chunk = NULL;
	uint32_t count;

	if (vc_envelope_frames(ctx, data, size, &locs, &count) == VC_OK)
		free(locs);
	if (vc_envelope_open_all(ctx, data, size, &plain) == VC_OK)
		vc_bytes_free(&plain);
	if (vc_chunk_open(ctx, data, size, &chunk) == VC_OK) {
		check_chunk(chunk);
		vc_chunk_free(chunk);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vc_object_ctx ctx = {fuzz_keyring(), fuzz_session_id(), VC_OBJECT_CHUNK,
			     "chunks/chunk-1.cbor"};
	vc_chunk *chunk = NULL;

	/* The same bytes as a canonical plaintext document, and as stored objects. */
	if (vc_chunk_decode(data, size, &chunk) == VC_OK) {
		check_chunk(chunk);
		vc_chunk_free(chunk);
	}
	/* And as one frame map read by byte range (the seeds use dim 4). */
	if (vc_chunk_decode_frame(data, size, 1, 4, &chunk) == VC_OK) {
		if (chunk->frame_count != 1)
			abort();
		check_chunk(chunk);
		vc_chunk_free(chunk);
	}
	try_stored(&ctx, data, size);
	ctx.keyring = NULL;
	try_stored(&ctx, data, size);
	return 0;
}
