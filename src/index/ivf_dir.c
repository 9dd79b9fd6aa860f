/* The IVF list directory (index/ivf.bin): serialisation, bounds-checked loading and the checks
 * against the manifest. */
#include <stdlib.h>
#include <string.h>

#include "index/ivf_dir.h"
#include "index/le_i.h"
#include "util/error_i.h"

#define DIR_MAGIC "VCIVFDR\1"
#define SEGMENT_BYTES 24u

vc_err vc_ivf_dir_serialize(const vc_ivf_dir *dir, vc_bytes *out)
{
	vc_bytes quantizer = {0};
	vc_err err;

	err = vc_ivf_serialize(dir->ivf, &quantizer);
	if (err == VC_OK)
		err = vc_bytes_append(out, DIR_MAGIC, 8);
	if (err == VC_OK)
		err = vc_le_put_u32(out, dir->nlist);
	if (err == VC_OK)
		err = vc_le_put_u32(out, dir->chunk_count);
	if (err == VC_OK)
		err = vc_le_put_u64(out, dir->segment_count);
	if (err == VC_OK)
		err = vc_le_put_u64(out, quantizer.len);
	if (err == VC_OK)
		err = vc_bytes_append(out, quantizer.data, quantizer.len);
	if (err == VC_OK)
		err = vc_bytes_append(out, dir->header_hashes,
				      (size_t)dir->chunk_count * VC_HASH_BYTES);
	for (uint64_t l = 0; l <= dir->nlist && err == VC_OK; l++)
		err = vc_le_put_u64(out, dir->first[l]);
	for (uint64_t i = 0; i < dir->segment_count && err == VC_OK; i++) {
		const vc_ivf_segment *s = &dir->segments[i];

		err = vc_le_put_u32(out, s->chunk_index);
		if (err == VC_OK)
			err = vc_le_put_u32(out, s->frame_index);
		if (err == VC_OK)
			err = vc_le_put_u32(out, s->rows);
		if (err == VC_OK)
			err = vc_le_put_u32(out, s->sealed_len);
		if (err == VC_OK)
			err = vc_le_put_u64(out, s->offset);
	}
	vc_bytes_free(&quantizer);
	return err;
}

void vc_ivf_dir_free(vc_ivf_dir *dir)
{
	if (dir == NULL)
		return;
	vc_ivf_free(dir->ivf);
	free(dir->header_hashes);
	free(dir->first);
	free(dir->segments);
	free(dir);
}

static vc_err corrupt(const char *what)
{
	return vc_fail(VC_ERR_CORRUPT, "index/ivf.bin: %s", what);
}

/* Sizes read from the header, checked against what is left before anything is allocated. */
static vc_err read_counts(vc_le_reader *r, vc_ivf_dir *dir, uint64_t *quantizer_len)
{
	uint8_t magic[8];
	uint64_t rest;

	if (!vc_le_get_bytes(r, magic, 8) || memcmp(magic, DIR_MAGIC, 8) != 0)
		return corrupt("not an IVF directory (bad magic)");
	if (!vc_le_get_u32(r, &dir->nlist) || !vc_le_get_u32(r, &dir->chunk_count) ||
	    !vc_le_get_u64(r, &dir->segment_count) || !vc_le_get_u64(r, quantizer_len))
		return corrupt("truncated header");
	if (dir->nlist == 0 || dir->nlist > VC_IVF_MAX_LISTS)
		return corrupt("list count out of range");
	if (*quantizer_len > r->left ||
	    (uint64_t)dir->chunk_count * VC_HASH_BYTES > r->left - *quantizer_len)
		return corrupt("sizes do not match the object's length");
	rest = r->left - *quantizer_len - (uint64_t)dir->chunk_count * VC_HASH_BYTES;
	if (((uint64_t)dir->nlist + 1) * 8 > rest || dir->segment_count > rest / SEGMENT_BYTES ||
	    ((uint64_t)dir->nlist + 1) * 8 + dir->segment_count * SEGMENT_BYTES != rest)
		return corrupt("sizes do not match the object's length");
	return VC_OK;
}

static vc_err read_lists(vc_le_reader *r, vc_ivf_dir *dir)
{
	for (uint32_t l = 0; l <= dir->nlist; l++) {
		if (!vc_le_get_u64(r, &dir->first[l]))
			return corrupt("truncated list table");
		if ((l == 0 && dir->first[0] != 0) || (l > 0 && dir->first[l] < dir->first[l - 1]))
			return corrupt("list table out of order");
	}
	if (dir->first[dir->nlist] != dir->segment_count)
		return corrupt("list table does not cover every segment");
	for (uint64_t i = 0; i < dir->segment_count; i++) {
		vc_ivf_segment *s = &dir->segments[i];

		if (!vc_le_get_u32(r, &s->chunk_index) || !vc_le_get_u32(r, &s->frame_index) ||
		    !vc_le_get_u32(r, &s->rows) || !vc_le_get_u32(r, &s->sealed_len) ||
		    !vc_le_get_u64(r, &s->offset))
			return corrupt("truncated segment table");
		if (s->chunk_index >= dir->chunk_count || s->frame_index == 0)
			return corrupt("segment names a chunk or frame that cannot exist");
	}
	return VC_OK;
}

vc_err vc_ivf_dir_deserialize(const uint8_t *data, size_t len, vc_ivf_dir **out)
{
	vc_le_reader r = {data, len};
	uint64_t quantizer_len = 0;
	vc_ivf_dir *dir;
	vc_err err;

	*out = NULL;
	dir = calloc(1, sizeof(*dir));
	if (dir == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory loading index/ivf.bin");
	err = read_counts(&r, dir, &quantizer_len);
	if (err == VC_OK) {
		err = vc_ivf_deserialize(r.p, (size_t)quantizer_len, &dir->ivf);
		r.p += quantizer_len;
		r.left -= quantizer_len;
	}
	if (err == VC_OK && vc_ivf_nlist(dir->ivf) != dir->nlist)
		err = corrupt("quantizer and directory disagree on the list count");
	if (err != VC_OK)
		goto fail;
	dir->header_hashes = malloc(((size_t)dir->chunk_count + 1) * VC_HASH_BYTES);
	dir->first = malloc(((size_t)dir->nlist + 1) * sizeof(uint64_t));
	dir->segments = malloc((dir->segment_count + 1) * sizeof(vc_ivf_segment));
	if (dir->header_hashes == NULL || dir->first == NULL || dir->segments == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory loading index/ivf.bin");
		goto fail;
	}
	vc_le_get_bytes(&r, dir->header_hashes, (size_t)dir->chunk_count * VC_HASH_BYTES);
	err = read_lists(&r, dir);
	if (err != VC_OK)
		goto fail;
	dir->memory_bytes = sizeof(*dir) + len + (size_t)dir->segment_count * 8;
	*out = dir;
	return VC_OK;
fail:
	vc_ivf_dir_free(dir);
	return err;
}

/* Does segment @p s lie inside its chunk, on a whole frame of the chunk's frame count? */
static vc_err check_segment(const vc_ivf_segment *s, const vc_chunk_ref *c, uint64_t i)
{
	uint64_t header = 60u + 8u * (uint64_t)c->object.frame_count;

	if (s->frame_index >= c->object.frame_count || s->sealed_len < 40 || s->offset < header ||
	    s->offset > c->object.byte_size || s->sealed_len > c->object.byte_size - s->offset ||
	    s->rows > c->vector_count)
		return vc_fail(
		    VC_ERR_CORRUPT,
		    "index/ivf.bin: segment %llu (frame %u of %s) lies outside the chunk",
		    (unsigned long long)i, s->frame_index, c->object.path);
	return VC_OK;
}

vc_err vc_ivf_dir_check(const vc_ivf_dir *dir, const vc_manifest *manifest)
{
	uint64_t rows = 0;
	uint64_t indexed = vc_manifest_indexed_rows(manifest);

	/* Chunks added since the index was built (the recent tier) are not in it. */
	if (dir->chunk_count != vc_manifest_indexed_chunks(manifest))
		return vc_fail(VC_ERR_CORRUPT,
			       "index/ivf.bin: describes %u chunks, the manifest's index covers %zu",
			       dir->chunk_count, vc_manifest_indexed_chunks(manifest));
	if (vc_ivf_dim(dir->ivf) != manifest->dim || vc_ivf_metric(dir->ivf) != manifest->metric)
		return vc_fail(VC_ERR_CORRUPT,
			       "index/ivf.bin: quantizer dimension or metric differs from the "
			       "session's");
	for (uint32_t c = 0; c < dir->chunk_count; c++) {
		const vc_object_ref *ref = &manifest->chunks[c].object;

		if (ref->has_header_hash &&
		    memcmp(ref->header_hash, dir->header_hashes[c], VC_HASH_BYTES) != 0)
			return vc_fail(
			    VC_ERR_CORRUPT,
			    "index/ivf.bin: header hash of %s differs from the manifest's",
			    ref->path);
	}
	for (uint64_t i = 0; i < dir->segment_count; i++) {
		const vc_ivf_segment *s = &dir->segments[i];
		vc_err err = check_segment(s, &manifest->chunks[s->chunk_index], i);

		if (err != VC_OK)
			return err;
		rows += s->rows;
	}
	if (rows != indexed)
		return vc_fail(VC_ERR_CORRUPT,
			       "index/ivf.bin: lists hold %llu rows, the chunks it covers %llu",
			       (unsigned long long)rows, (unsigned long long)indexed);
	return VC_OK;
}
