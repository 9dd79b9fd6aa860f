/* Decoding chunks: the canonical CBOR document, frame by frame, into a searchable vc_chunk. */
#include <stdlib.h>
#include <string.h>

#include "format/cbor_i.h"
#include "format/chunk_codec.h"
#include "util/error_i.h"

/* A chunk being decoded: frames are parsed one after another into it. */
typedef struct decoder {
	vc_chunk *chunk;
	uint32_t rows;	     /* rows decoded so far */
	uint32_t frames;     /* frames decoded so far */
	uint32_t *id_offset; /* start of each id in id_blob */
	vc_bytes id_blob;    /* NUL-terminated ids */
	vc_bytes meta;
} decoder;

void vc_chunk_free(vc_chunk *chunk)
{
	if (chunk == NULL)
		return;
	free(chunk->vectors);
	free(chunk->ids);
	free(chunk->meta_offset);
	free(chunk->meta);
	free(chunk->frames);
	free(chunk);
}

static vc_err corrupt(const decoder *dec, const char *what)
{
	if (dec != NULL && dec->chunk != NULL)
		return vc_fail(VC_ERR_CORRUPT, "chunk %u: malformed CBOR: %s (frame %u)",
			       dec->chunk->chunk_id, what, dec->frames);
	return vc_fail(VC_ERR_CORRUPT, "malformed chunk CBOR: %s", what);
}

typedef struct chunk_header {
	uint64_t chunk_id, dim, count, frames;
} chunk_header;

/* {"chunk_id": u, "dim": u, "count": u, "frames": array(n)} up to the array head. */
static vc_err parse_header(vc_cbor_cursor *cur, chunk_header *h)
{
	vc_cbor_head head;

	if (!vc_cbor_read_head(cur, &head) || head.major != VC_CBOR_MAP || head.arg != 4)
		return corrupt(NULL, "chunk is not a map of 4 entries");
	if (!vc_cbor_expect_key(cur, "chunk_id") ||
	    !vc_cbor_read_uint(cur, UINT32_MAX, &h->chunk_id))
		return corrupt(NULL, "\"chunk_id\" missing or not an unsigned 32-bit integer");
	if (!vc_cbor_expect_key(cur, "dim") || !vc_cbor_read_uint(cur, VC_CHUNK_MAX_DIM, &h->dim) ||
	    h->dim == 0)
		return corrupt(NULL, "\"dim\" missing or outside 1..65536");
	if (!vc_cbor_expect_key(cur, "count") || !vc_cbor_read_uint(cur, UINT32_MAX, &h->count))
		return corrupt(NULL, "\"count\" missing or not an unsigned 32-bit integer");
	if (!vc_cbor_expect_key(cur, "frames") || !vc_cbor_read_head(cur, &head) ||
	    head.major != VC_CBOR_ARRAY || head.arg >= VC_ENVELOPE_MAX_FRAMES)
		return corrupt(NULL, "\"frames\" missing or not an array");
	h->frames = head.arg;
	return VC_OK;
}

/* Allocate what the header announces; @p budget bounds it by the bytes actually present. */
static vc_err decoder_init(decoder *dec, const chunk_header *h, uint64_t budget)
{
	uint64_t vec_bytes = h->count * h->dim * sizeof(float);
	vc_chunk *c;

	memset(dec, 0, sizeof(*dec));
	/* Each frame needs at least ~40 bytes and each row its vector: refuse before allocating. */
	if (vec_bytes > budget || h->frames > budget || (h->count > 0 && h->frames == 0))
		return vc_fail(VC_ERR_CORRUPT,
			       "chunk %llu claims %llu vectors of dim %llu in %llu "
			       "frames, more than its %llu bytes can hold",
			       (unsigned long long)h->chunk_id, (unsigned long long)h->count,
			       (unsigned long long)h->dim, (unsigned long long)h->frames,
			       (unsigned long long)budget);
	c = calloc(1, sizeof(*c));
	dec->chunk = c;
	if (c == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory decoding a chunk");
	c->chunk_id = (uint32_t)h->chunk_id;
	c->dim = (uint32_t)h->dim;
	c->count = (uint32_t)h->count;
	c->frame_count = (uint32_t)h->frames;
	c->vectors = aligned_alloc(64, (vec_bytes + 63) / 64 * 64 + 64);
	c->frames = calloc(h->frames + 1, sizeof(*c->frames));
	c->meta_offset = calloc(h->count + 1, sizeof(*c->meta_offset));
	dec->id_offset = calloc(h->count + 1, sizeof(*dec->id_offset));
	if (c->vectors == NULL || c->frames == NULL || c->meta_offset == NULL ||
	    dec->id_offset == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory decoding chunk %u (%u vectors)",
			       c->chunk_id, c->count);
	c->memory_bytes = sizeof(*c) + (vec_bytes + 63) / 64 * 64 + 64 +
			  (h->frames + 1) * sizeof(*c->frames) +
			  (h->count + 1) * sizeof(*c->meta_offset);
	return VC_OK;
}

static void decoder_release(decoder *dec)
{
	vc_chunk_free(dec->chunk);
	free(dec->id_offset);
	vc_bytes_free(&dec->id_blob);
	vc_bytes_free(&dec->meta);
	memset(dec, 0, sizeof(*dec));
}

static vc_err parse_ids(decoder *dec, vc_cbor_cursor *cur, uint64_t rows)
{
	const uint8_t *text;
	size_t len;
	uint64_t i;
	vc_err err;

	for (i = 0; i < rows; i++) {
		if (!vc_cbor_read_text(cur, &text, &len) || len == 0 || len > VC_CHUNK_MAX_ID ||
		    memchr(text, '\0', len) != NULL || !vc_utf8_valid(text, len))
			return corrupt(dec, "an id is not 1..4096 bytes of UTF-8 text");
		if (dec->id_blob.len > UINT32_MAX - len - 1)
			return corrupt(dec, "ids too large");
		dec->id_offset[dec->rows + i] = (uint32_t)dec->id_blob.len;
		err = vc_bytes_append(&dec->id_blob, text, len);
		if (err == VC_OK)
			err = vc_bytes_append(&dec->id_blob, "", 1);
		if (err != VC_OK)
			return err;
	}
	return VC_OK;
}

static vc_err parse_vectors(decoder *dec, vc_cbor_cursor *cur, uint64_t rows)
{
	vc_chunk *c = dec->chunk;
	uint64_t bytes = rows * c->dim * sizeof(float);
	float *dst = c->vectors + (size_t)dec->rows * c->dim;
	vc_cbor_head head;

	if (!vc_cbor_expect_key(cur, "vectors") || !vc_cbor_read_head(cur, &head) ||
	    head.major != VC_CBOR_BYTES || head.arg != bytes ||
	    bytes > (uint64_t)(cur->end - cur->p))
		return corrupt(dec, "\"vectors\" missing or not rows * dim * 4 bytes");
	/* The vectors are stored exactly as a little-endian float array: one copy. */
	memcpy(dst, cur->p, (size_t)bytes);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	for (uint64_t i = 0; i < rows * c->dim; i++) {
		uint32_t bits;

		memcpy(&bits, &dst[i], sizeof(bits));
		bits = __builtin_bswap32(bits);
		memcpy(&dst[i], &bits, sizeof(bits));
	}
#endif
	cur->p += bytes;
	return VC_OK;
}

static vc_err parse_metadata(decoder *dec, vc_cbor_cursor *cur, uint64_t rows)
{
	vc_cbor_head head;
	const uint8_t *start;
	const char *why = NULL;
	uint64_t i;
	vc_err err;

	if (!vc_cbor_expect_key(cur, "metadata") || !vc_cbor_read_head(cur, &head) ||
	    head.major != VC_CBOR_ARRAY || head.arg != rows)
		return corrupt(dec, "\"metadata\" missing or not one item per row");
	for (i = 0; i < rows; i++) {
		start = cur->p;
		if (!vc_cbor_skip_json(cur, 0, &why))
			return corrupt(dec, why);
		if (dec->meta.len + (size_t)(cur->p - start) > UINT32_MAX)
			return corrupt(dec, "metadata larger than 4 GiB");
		err = vc_bytes_append(&dec->meta, start, (size_t)(cur->p - start));
		if (err != VC_OK)
			return err;
		dec->chunk->meta_offset[dec->rows + i + 1] = (uint32_t)dec->meta.len;
	}
	return VC_OK;
}

/* One frame map {"cluster", "ids", "vectors", "metadata"}, keys in this order. */
static vc_err parse_frame(decoder *dec, vc_cbor_cursor *cur)
{
	vc_chunk *c = dec->chunk;
	vc_cbor_head head;
	int64_t cluster;
	uint64_t rows;
	vc_err err;

	if (dec->frames >= c->frame_count)
		return corrupt(dec, "more frames than the header announces");
	if (!vc_cbor_read_head(cur, &head) || head.major != VC_CBOR_MAP || head.arg != 4)
		return corrupt(dec, "frame is not a map of 4 entries");
	if (!vc_cbor_expect_key(cur, "cluster") || !vc_cbor_read_int(cur, -1, INT32_MAX, &cluster))
		return corrupt(dec, "\"cluster\" missing or not an integer >= -1");
	if (!vc_cbor_expect_key(cur, "ids") || !vc_cbor_read_head(cur, &head) ||
	    head.major != VC_CBOR_ARRAY || head.arg > (uint64_t)(c->count - dec->rows))
		return corrupt(dec, "\"ids\" missing, not an array, or more rows than \"count\"");
	rows = head.arg;
	err = parse_ids(dec, cur, rows);
	if (err == VC_OK)
		err = parse_vectors(dec, cur, rows);
	if (err == VC_OK)
		err = parse_metadata(dec, cur, rows);
	if (err != VC_OK)
		return err;
	c->frames[dec->frames].cluster = (int32_t)cluster;
	c->frames[dec->frames].first = dec->rows;
	c->frames[dec->frames].count = (uint32_t)rows;
	dec->frames++;
	dec->rows += (uint32_t)rows;
	return VC_OK;
}

/* Check the totals and hand the chunk over: ids become pointers into one allocation. */
static vc_err decoder_finish(decoder *dec, vc_chunk **out)
{
	vc_chunk *c = dec->chunk;
	size_t table = (size_t)c->count * sizeof(char *);
	uint32_t i;

	if (dec->rows != c->count || dec->frames != c->frame_count)
		return vc_fail(VC_ERR_CORRUPT,
			       "chunk %u: header announces %u rows in %u frames, "
			       "the frames hold %u rows in %u",
			       c->chunk_id, c->count, c->frame_count, dec->rows, dec->frames);
	c->ids = malloc(table + dec->id_blob.len + 1);
	if (c->ids == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory decoding chunk %u", c->chunk_id);
	if (dec->id_blob.len > 0)
		memcpy((char *)c->ids + table, dec->id_blob.data, dec->id_blob.len);
	for (i = 0; i < c->count; i++)
		c->ids[i] = (char *)c->ids + table + dec->id_offset[i];
	c->meta = dec->meta.data != NULL ? realloc(dec->meta.data, dec->meta.len) : malloc(1);
	if (c->meta == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory decoding chunk %u", c->chunk_id);
	dec->meta.data = NULL;
	c->memory_bytes += table + dec->id_blob.len + 1 + dec->meta.len;
	*out = c;
	dec->chunk = NULL;
	decoder_release(dec);
	return VC_OK;
}

vc_err vc_chunk_decode(const uint8_t *plain, size_t len, vc_chunk **out)
{
	vc_cbor_cursor cur;
	chunk_header h;
	decoder dec;
	vc_err err;

	*out = NULL;
	if (plain == NULL)
		return corrupt(NULL, "empty chunk");
	cur.p = plain;
	cur.end = plain + len;
	memset(&dec, 0, sizeof(dec));
	err = parse_header(&cur, &h);
	if (err == VC_OK)
		err = decoder_init(&dec, &h, len);
	while (err == VC_OK && dec.frames < dec.chunk->frame_count)
		err = parse_frame(&dec, &cur);
	if (err == VC_OK && cur.p != cur.end)
		err = corrupt(&dec, "bytes after the last frame");
	if (err == VC_OK)
		err = decoder_finish(&dec, out);
	if (err != VC_OK)
		decoder_release(&dec);
	return err;
}

/* Rows of a frame map, read ahead of decoding so the decoder can size its arrays. */
static bool peek_frame_rows(vc_cbor_cursor cur, uint64_t *rows)
{
	vc_cbor_head head;
	int64_t cluster;

	if (!vc_cbor_read_head(&cur, &head) || head.major != VC_CBOR_MAP || head.arg != 4 ||
	    !vc_cbor_expect_key(&cur, "cluster") ||
	    !vc_cbor_read_int(&cur, -1, INT32_MAX, &cluster) || !vc_cbor_expect_key(&cur, "ids") ||
	    !vc_cbor_read_head(&cur, &head) || head.major != VC_CBOR_ARRAY || head.arg > UINT32_MAX)
		return false;
	*rows = head.arg;
	return true;
}

vc_err vc_chunk_decode_frame(const uint8_t *plain, size_t len, uint32_t chunk_id, uint32_t dim,
			     vc_chunk **out)
{
	chunk_header h = {chunk_id, dim, 0, 1};
	vc_cbor_cursor cur;
	decoder dec;
	vc_err err;

	*out = NULL;
	memset(&dec, 0, sizeof(dec));
	if (plain == NULL)
		return corrupt(NULL, "empty frame");
	cur.p = plain;
	cur.end = plain + len;
	if (dim < 1 || dim > VC_CHUNK_MAX_DIM)
		return vc_fail(VC_ERR_INVALID, "chunk %u: dimension %u outside 1..%d", chunk_id,
			       dim, VC_CHUNK_MAX_DIM);
	if (!peek_frame_rows(cur, &h.count))
		return corrupt(NULL, "frame is not a map starting with \"cluster\" and \"ids\"");
	err = decoder_init(&dec, &h, len);
	if (err == VC_OK)
		err = parse_frame(&dec, &cur);
	if (err == VC_OK && cur.p != cur.end)
		err = corrupt(&dec, "bytes after the frame map");
	if (err == VC_OK)
		err = decoder_finish(&dec, out);
	if (err != VC_OK)
		decoder_release(&dec);
	return err;
}

/* Open frame @p i into @p scratch and point @p cur at its plaintext. */
static vc_err open_and_parse(const vc_object_ctx *ctx, const uint8_t *stored,
			     const vc_frame_loc *locs, uint32_t count, uint32_t i, uint8_t *scratch,
			     vc_cbor_cursor *cur)
{
	vc_err err =
	    vc_envelope_open_frame(ctx, i, count, &locs[i], stored + locs[i].offset, scratch);

	cur->p = scratch;
	cur->end = scratch + locs[i].plain_len;
	return err;
}

static vc_err open_frames(const vc_object_ctx *ctx, const uint8_t *stored, const vc_frame_loc *locs,
			  uint32_t count, uint8_t *scratch, vc_chunk **out)
{
	vc_cbor_cursor cur;
	chunk_header h;
	uint64_t budget = 0;
	decoder dec;
	uint32_t i;
	vc_err err;

	memset(&dec, 0, sizeof(dec));
	for (i = 1; i < count; i++)
		budget += locs[i].plain_len;
	err = open_and_parse(ctx, stored, locs, count, 0, scratch, &cur);
	if (err == VC_OK)
		err = parse_header(&cur, &h);
	if (err == VC_OK && (cur.p != cur.end || h.frames != count - 1))
		err = corrupt(NULL, "chunk header frame does not match the envelope's frames");
	if (err == VC_OK)
		err = decoder_init(&dec, &h, budget);
	/* Frame by frame through one scratch buffer: it stays in cache, and each frame's
	 * vectors are copied once, straight to their place in the aligned array. */
	for (i = 1; i < count && err == VC_OK; i++) {
		err = open_and_parse(ctx, stored, locs, count, i, scratch, &cur);
		if (err == VC_OK)
			err = parse_frame(&dec, &cur);
		if (err == VC_OK && cur.p != cur.end)
			err = corrupt(&dec, "bytes after the frame map");
	}
	if (err == VC_OK)
		err = decoder_finish(&dec, out);
	if (err != VC_OK)
		decoder_release(&dec);
	return err;
}

vc_err vc_chunk_open(const vc_object_ctx *ctx, const uint8_t *stored, size_t len, vc_chunk **out)
{
	vc_frame_loc *locs = NULL;
	uint8_t *scratch = NULL;
	uint32_t count, i, largest = 0;
	uint64_t end;
	vc_err err;

	*out = NULL;
	err = vc_envelope_frames(ctx, stored, len, &locs, &count);
	if (err != VC_OK)
		return err;
	end = vc_envelope_header_size(stored, len);
	for (i = 0; i < count; i++) {
		end += locs[i].sealed_len;
		if (locs[i].plain_len > largest)
			largest = locs[i].plain_len;
	}
	if (end != len) {
		err = vc_fail(ctx->keyring != NULL ? VC_ERR_AUTH : VC_ERR_CORRUPT,
			      "%s is %zu bytes but its frame table describes %llu: truncated or "
			      "extended object",
			      ctx->path, len, (unsigned long long)end);
		goto out;
	}
	if (count == 0) {
		err = vc_fail(VC_ERR_CORRUPT, "%s has no chunk header frame", ctx->path);
		goto out;
	}
	scratch = malloc((size_t)largest + 1);
	if (scratch == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "%s: out of memory for a %u-byte frame", ctx->path,
			      largest);
		goto out;
	}
	err = open_frames(ctx, stored, locs, count, scratch, out);
	if (err == VC_ERR_CORRUPT)
		vc_fail_context(err, "decoding %s", ctx->path);
out:
	free(scratch);
	free(locs);
	return err;
}
