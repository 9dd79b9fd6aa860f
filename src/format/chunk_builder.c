/* Building chunks: rows grouped into frames (one IVF list each), encoded as canonical CBOR and
 * sealed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/cbor_i.h"
#include "format/chunk_codec.h"
#include "util/error_i.h"

typedef struct builder_frame {
	int32_t cluster;
	uint32_t rows;
	vc_bytes ids;	  /* CBOR text items */
	vc_bytes vectors; /* packed little-endian float32 */
	vc_bytes meta;	  /* CBOR items */
} builder_frame;

struct vc_chunk_builder {
	uint32_t chunk_id;
	uint32_t dim;
	uint32_t count;
	builder_frame *frames;
	size_t frame_count;
	size_t frame_cap;
};

vc_err vc_chunk_builder_new(uint32_t chunk_id, uint32_t dim, vc_chunk_builder **out)
{
	vc_chunk_builder *b;

	*out = NULL;
	if (dim < 1 || dim > VC_CHUNK_MAX_DIM)
		return vc_fail(VC_ERR_INVALID, "chunk %u: dimension %u outside 1..%d", chunk_id,
			       dim, VC_CHUNK_MAX_DIM);
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory starting chunk %u", chunk_id);
	b->chunk_id = chunk_id;
	b->dim = dim;
	*out = b;
	return VC_OK;
}

vc_err vc_chunk_builder_frame(vc_chunk_builder *b, int32_t cluster)
{
	builder_frame *grown;

	if (cluster < -1)
		return vc_fail(VC_ERR_INVALID, "chunk %u: cluster %d is not an IVF list or -1",
			       b->chunk_id, cluster);
	if (b->frame_count + 1 >= VC_ENVELOPE_MAX_FRAMES)
		return vc_fail(VC_ERR_TOO_BIG, "chunk %u: too many frames", b->chunk_id);
	if (b->frame_count == b->frame_cap) {
		size_t cap = b->frame_cap < 8 ? 8 : b->frame_cap * 2;

		grown = realloc(b->frames, cap * sizeof(*grown));
		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory adding a frame to chunk %u",
				       b->chunk_id);
		b->frames = grown;
		b->frame_cap = cap;
	}
	memset(&b->frames[b->frame_count], 0, sizeof(b->frames[0]));
	b->frames[b->frame_count].cluster = cluster;
	b->frame_count++;
	return VC_OK;
}

static vc_err check_row(const vc_chunk_builder *b, const char *id, const float *vector)
{
	size_t len = id != NULL ? strlen(id) : 0;
	uint32_t i;

	if (len == 0 || len > VC_CHUNK_MAX_ID || !vc_utf8_valid((const uint8_t *)id, len))
		return vc_fail(VC_ERR_INVALID, "chunk %u: id must be 1..%d bytes of UTF-8 text",
			       b->chunk_id, VC_CHUNK_MAX_ID);
	for (i = 0; i < b->dim; i++)
		if (!isfinite(vector[i]))
			return vc_fail(VC_ERR_INVALID,
				       "vector \"%s\" has a NaN or infinite component "
				       "at %u",
				       id, i);
	if (b->count == UINT32_MAX)
		return vc_fail(VC_ERR_TOO_BIG, "chunk %u is full", b->chunk_id);
	return VC_OK;
}

static vc_err append_vector(vc_bytes *out, const float *vector, uint32_t dim)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return vc_bytes_append(out, vector, (size_t)dim * sizeof(float));
#else
	vc_err err = vc_bytes_reserve(out, (size_t)dim * sizeof(float));
	uint32_t i, bits;

	for (i = 0; i < dim && err == VC_OK; i++) {
		memcpy(&bits, &vector[i], sizeof(bits));
		bits = __builtin_bswap32(bits);
		err = vc_bytes_append(out, &bits, sizeof(bits));
	}
	return err;
#endif
}

vc_err vc_chunk_builder_add(vc_chunk_builder *b, const char *id, const float *vector,
			    const json_t *metadata)
{
	size_t ids_len, vec_len, meta_len;
	builder_frame *f;
	vc_err err;

	err = check_row(b, id, vector);
	if (err != VC_OK)
		return err;
	if (b->frame_count == 0) {
		err = vc_chunk_builder_frame(b, -1);
		if (err != VC_OK)
			return err;
	}
	f = &b->frames[b->frame_count - 1];
	ids_len = f->ids.len;
	vec_len = f->vectors.len;
	meta_len = f->meta.len;
	err = vc_cbor_put_text(&f->ids, id, strlen(id));
	if (err == VC_OK)
		err = append_vector(&f->vectors, vector, b->dim);
	if (err == VC_OK)
		err = vc_meta_encode(metadata, &f->meta);
	/* A frame is sealed as one envelope frame: keep room for its CBOR heads. */
	if (err == VC_OK && f->ids.len + f->vectors.len + f->meta.len > VC_FRAME_MAX_PLAIN - 64)
		err = vc_fail(VC_ERR_TOO_BIG, "chunk %u: frame %zu would exceed %u bytes",
			      b->chunk_id, b->frame_count - 1, VC_FRAME_MAX_PLAIN);
	if (err != VC_OK) {
		/* Leave the builder as it was before this row. */
		f->ids.len = ids_len;
		f->vectors.len = vec_len;
		f->meta.len = meta_len;
		return vc_fail_context(err, "adding \"%s\" to chunk %u", id, b->chunk_id);
	}
	f->rows++;
	b->count++;
	return VC_OK;
}

uint32_t vc_chunk_builder_count(const vc_chunk_builder *b)
{
	return b != NULL ? b->count : 0;
}

void vc_chunk_builder_free(vc_chunk_builder *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->frame_count; i++) {
		vc_bytes_free(&b->frames[i].ids);
		vc_bytes_free(&b->frames[i].vectors);
		vc_bytes_free(&b->frames[i].meta);
	}
	free(b->frames);
	free(b);
}

/* The chunk header: everything of the canonical document before the first frame map. */
static vc_err encode_header(const vc_chunk_builder *b, vc_bytes *out)
{
	vc_err err = vc_cbor_put_head(out, VC_CBOR_MAP, 4);

	if (err == VC_OK)
		err = vc_cbor_put_text(out, "chunk_id", 8);
	if (err == VC_OK)
		err = vc_cbor_put_head(out, VC_CBOR_UINT, b->chunk_id);
	if (err == VC_OK)
		err = vc_cbor_put_text(out, "dim", 3);
	if (err == VC_OK)
		err = vc_cbor_put_head(out, VC_CBOR_UINT, b->dim);
	if (err == VC_OK)
		err = vc_cbor_put_text(out, "count", 5);
	if (err == VC_OK)
		err = vc_cbor_put_head(out, VC_CBOR_UINT, b->count);
	if (err == VC_OK)
		err = vc_cbor_put_text(out, "frames", 6);
	if (err == VC_OK)
		err = vc_cbor_put_head(out, VC_CBOR_ARRAY, b->frame_count);
	return err;
}

/* One frame map, consuming (and freeing) the frame's row buffers. */
static vc_err encode_frame(builder_frame *f, vc_bytes *out)
{
	vc_err err = vc_bytes_reserve(out, f->ids.len + f->vectors.len + f->meta.len + 64);

	if (err == VC_OK)
		err = vc_cbor_put_head(out, VC_CBOR_MAP, 4);
	if (err == VC_OK)
		err = vc_cbor_put_text(out, "cluster", 7);
	if (err == VC_OK)
		err = vc_cbor_put_int(out, f->cluster);
	if (err == VC_OK)
		err = vc_cbor_put_text(out, "ids", 3);
	if (err == VC_OK)
		err = vc_cbor_put_head(out, VC_CBOR_ARRAY, f->rows);
	if (err == VC_OK)
		err = vc_bytes_append(out, f->ids.data, f->ids.len);
	if (err == VC_OK)
		err = vc_cbor_put_text(out, "vectors", 7);
	if (err == VC_OK)
		err = vc_cbor_put_head(out, VC_CBOR_BYTES, f->vectors.len);
	if (err == VC_OK)
		err = vc_bytes_append(out, f->vectors.data, f->vectors.len);
	if (err == VC_OK)
		err = vc_cbor_put_text(out, "metadata", 8);
	if (err == VC_OK)
		err = vc_cbor_put_head(out, VC_CBOR_ARRAY, f->rows);
	if (err == VC_OK)
		err = vc_bytes_append(out, f->meta.data, f->meta.len);
	vc_bytes_free(&f->ids);
	vc_bytes_free(&f->vectors);
	vc_bytes_free(&f->meta);
	return err;
}

vc_err vc_chunk_builder_finish(vc_chunk_builder *b, const vc_object_ctx *ctx, vc_bytes *stored,
			       uint64_t *plain_size, uint32_t *frame_count)
{
	size_t parts_count = b->frame_count + 1, i;
	uint64_t total = 0;
	vc_bytes *parts;
	vc_err err;

	memset(stored, 0, sizeof(*stored));
	parts = calloc(parts_count, sizeof(*parts));
	if (parts == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory encoding chunk %u", b->chunk_id);
		goto out;
	}
	err = encode_header(b, &parts[0]);
	for (i = 0; i < b->frame_count && err == VC_OK; i++)
		err = encode_frame(&b->frames[i], &parts[i + 1]);
	if (err == VC_OK)
		err = vc_envelope_seal(ctx, parts_count, parts, stored);
	for (i = 0; i < parts_count; i++) {
		total += parts[i].len;
		vc_bytes_free(&parts[i]);
	}
	free(parts);
	if (err == VC_OK) {
		*plain_size = total;
		*frame_count = (uint32_t)parts_count;
	}
out:
	if (err != VC_OK)
		vc_fail_context(err, "encoding chunk %u", b->chunk_id);
	vc_chunk_builder_free(b);
	return err;
}
