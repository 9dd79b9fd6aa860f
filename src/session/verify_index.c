/* vc_session_verify's checks of the index objects against the chunks: every row in exactly one
 * IVF list, directory byte ranges equal to the chunks' frame tables, id shards covering every id
 * exactly once and pointing at that id. */
#include <stdlib.h>
#include <string.h>

#include "index/ivf_dir.h"
#include "session/verify_i.h"
#include "util/error_i.h"

void vc_index_check_free(vc_index_check *check)
{
	vc_ivf_dir_free(check->dir);
	free(check->segment_list);
	free(check->segments_by_chunk);
	free(check->chunk_segments);
	free(check->ids);
	free(check->chunk_ids);
	memset(check, 0, sizeof(*check));
}

/* Group directory segments by chunk (counting sort), remembering each one's list. */
static vc_err group_segments(vc_index_check *check, size_t chunks)
{
	const vc_ivf_dir *dir = check->dir;
	uint64_t *next;

	check->segment_list = malloc((dir->segment_count + 1) * sizeof(uint32_t));
	check->segments_by_chunk = malloc((dir->segment_count + 1) * sizeof(uint64_t));
	check->chunk_segments = calloc(chunks + 1, sizeof(uint64_t));
	next = malloc((chunks + 1) * sizeof(uint64_t));
	if (check->segment_list == NULL || check->segments_by_chunk == NULL ||
	    check->chunk_segments == NULL || next == NULL) {
		free(next);
		return vc_fail(VC_ERR_NOMEM, "out of memory checking index/ivf.bin");
	}
	for (uint32_t l = 0; l < dir->nlist; l++)
		for (uint64_t g = dir->first[l]; g < dir->first[l + 1]; g++)
			check->segment_list[g] = l;
	for (uint64_t g = 0; g < dir->segment_count; g++)
		check->chunk_segments[dir->segments[g].chunk_index + 1]++;
	for (size_t c = 0; c < chunks; c++)
		check->chunk_segments[c + 1] += check->chunk_segments[c];
	memcpy(next, check->chunk_segments, (chunks + 1) * sizeof(uint64_t));
	for (uint64_t g = 0; g < dir->segment_count; g++)
		check->segments_by_chunk[next[dir->segments[g].chunk_index]++] = g;
	free(next);
	return VC_OK;
}

static vc_err load_directory(vc_session *session, const vc_manifest *m, vc_index_check *check)
{
	vc_bytes plain;
	char path[64];
	vc_err err;

	vc_index_object_path(m, "ivf", path, sizeof(path));
	err = vc_session_read_object(session, m, path, &plain);

	if (err != VC_OK)
		return err;
	err = vc_ivf_dir_deserialize(plain.data, plain.len, &check->dir);
	vc_bytes_free(&plain);
	if (err == VC_OK)
		err = vc_ivf_dir_check(check->dir, m);
	if (err == VC_OK)
		err = group_segments(check, m->chunk_count);
	return err;
}

/* Read every id shard; entries then grouped by chunk. */
static vc_err load_ids(vc_session *session, const vc_manifest *m, vc_index_check *check)
{
	uint32_t shards = m->index.id_shards;
	uint64_t *next;
	vc_id_entry *all = NULL;
	uint64_t count = 0;
	vc_err err = VC_OK;

	for (uint32_t s = 0; s < shards && err == VC_OK; s++) {
		char path[32];
		vc_bytes plain;
		vc_id_entry *entries = NULL, *grown;
		uint64_t n = 0;

		vc_id_shard_path_of(m, s, path, sizeof(path));
		err = vc_session_read_object(session, m, path, &plain);
		if (err != VC_OK)
			break;
		err = vc_id_shard_decode(plain.data, plain.len, s, shards, &entries, &n);
		vc_bytes_free(&plain);
		if (err != VC_OK)
			return vc_session_name_path(err, path);
		grown = realloc(all, (count + n + 1) * sizeof(*all));
		if (grown == NULL) {
			free(entries);
			err = vc_fail(VC_ERR_NOMEM, "out of memory checking the id index");
			break;
		}
		all = grown;
		memcpy(all + count, entries, n * sizeof(*all));
		count += n;
		free(entries);
	}
	/* Shards name every row of the chunks the index covers, deleted ones included. */
	if (err == VC_OK && count != vc_manifest_indexed_rows(m))
		err = vc_fail(VC_ERR_CORRUPT, "index/ids: %llu entries for %llu vectors",
			      (unsigned long long)count,
			      (unsigned long long)vc_manifest_indexed_rows(m));
	for (uint64_t i = 0; i < count && err == VC_OK; i++)
		if (all[i].chunk_index >= m->chunk_count)
			err = vc_fail(VC_ERR_CORRUPT, "index/ids: an entry names chunk %u of %zu",
				      all[i].chunk_index, m->chunk_count);
	check->chunk_ids = calloc(m->chunk_count + 1, sizeof(uint64_t));
	check->ids = malloc((count + 1) * sizeof(*check->ids));
	next = malloc((m->chunk_count + 1) * sizeof(uint64_t));
	if (err == VC_OK && (check->chunk_ids == NULL || check->ids == NULL || next == NULL))
		err = vc_fail(VC_ERR_NOMEM, "out of memory checking the id index");
	if (err == VC_OK) {
		for (uint64_t i = 0; i < count; i++)
			check->chunk_ids[all[i].chunk_index + 1]++;
		for (size_t c = 0; c < m->chunk_count; c++)
			check->chunk_ids[c + 1] += check->chunk_ids[c];
		memcpy(next, check->chunk_ids, (m->chunk_count + 1) * sizeof(uint64_t));
		for (uint64_t i = 0; i < count; i++)
			check->ids[next[all[i].chunk_index]++] = all[i];
	}
	free(next);
	free(all);
	return err;
}

vc_err vc_index_check_load(vc_session *session, const vc_manifest *m, vc_index_check *check,
			   const char **failed_path)
{
	vc_err err = VC_OK;

	memset(check, 0, sizeof(*check));
	check->indexed_chunks = vc_manifest_indexed_chunks(m);
	*failed_path = NULL;
	if (m->index.kind == VC_INDEX_KIND_IVF) {
		err = load_directory(session, m, check);
		if (err != VC_OK) {
			*failed_path = "index/ivf.bin";
			return err;
		}
	}
	if (m->index.id_shards > 0) {
		err = load_ids(session, m, check);
		if (err != VC_OK)
			*failed_path = "index/ids";
	}
	check->loaded = err == VC_OK;
	return err;
}

/* The directory's segments of chunk @p c against its decoded frames and frame table. */
static vc_err check_segments(const vc_index_check *check, size_t c, const vc_chunk *chunk,
			     const vc_frame_loc *locs, const char *path)
{
	uint64_t covered = 0, nonempty = 0;

	for (uint32_t f = 0; f < chunk->frame_count; f++)
		nonempty += chunk->frames[f].count > 0;
	for (uint64_t i = check->chunk_segments[c]; i < check->chunk_segments[c + 1]; i++) {
		uint64_t g = check->segments_by_chunk[i];
		const vc_ivf_segment *s = &check->dir->segments[g];
		const vc_frame_info *frame;

		if (s->frame_index > chunk->frame_count)
			return vc_fail(VC_ERR_CORRUPT, "index/ivf.bin: names frame %u of %s",
				       s->frame_index, path);
		frame = &chunk->frames[s->frame_index - 1];
		if (frame->cluster != (int32_t)check->segment_list[g] || frame->count != s->rows ||
		    locs[s->frame_index].offset != s->offset ||
		    locs[s->frame_index].sealed_len != s->sealed_len)
			return vc_fail(VC_ERR_CORRUPT,
				       "index/ivf.bin: list %u's entry for frame %u of %s does not "
				       "match the frame (cluster %d, %u rows)",
				       check->segment_list[g], s->frame_index, path, frame->cluster,
				       frame->count);
		covered += s->rows > 0;
	}
	/* Distinct frames (each matched its own cluster and offset) covering every non-empty one:
	 * every row is in exactly one list. */
	if (covered != nonempty)
		return vc_fail(VC_ERR_CORRUPT,
			       "index/ivf.bin: lists cover %llu of the %llu non-empty frames of %s",
			       (unsigned long long)covered, (unsigned long long)nonempty, path);
	return VC_OK;
}

/* The id entries of chunk @p c: each names a row holding that id, every row exactly once. */
static vc_err check_ids(const vc_index_check *check, size_t c, const vc_chunk *chunk,
			const char *path)
{
	uint8_t *seen;
	vc_err err = VC_OK;

	if (check->chunk_ids[c + 1] - check->chunk_ids[c] != chunk->count)
		return vc_fail(VC_ERR_CORRUPT, "index/ids: %llu entries for the %u rows of %s",
			       (unsigned long long)(check->chunk_ids[c + 1] - check->chunk_ids[c]),
			       chunk->count, path);
	seen = calloc(chunk->count + 1, 1);
	if (seen == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory checking the id index");
	for (uint64_t i = check->chunk_ids[c]; i < check->chunk_ids[c + 1] && err == VC_OK; i++) {
		const vc_id_entry *e = &check->ids[i];
		uint32_t row;

		if (e->frame_index == 0 || e->frame_index > chunk->frame_count ||
		    e->row_in_frame >= chunk->frames[e->frame_index - 1].count) {
			err = vc_fail(VC_ERR_CORRUPT, "index/ids: names a row %s does not have",
				      path);
			break;
		}
		row = chunk->frames[e->frame_index - 1].first + e->row_in_frame;
		if (seen[row] || vc_id_hash(chunk->ids[row]) != e->hash)
			err = vc_fail(VC_ERR_CORRUPT,
				      "index/ids: entry for row %u of %s does not match id '%s'",
				      row, path, chunk->ids[row]);
		seen[row] = 1;
	}
	free(seen);
	return err;
}

vc_err vc_index_check_chunk(const vc_index_check *check, size_t chunk_index, const vc_chunk *chunk,
			    const vc_frame_loc *locs, const char *path)
{
	vc_err err = VC_OK;

	/* Recent-tier chunks were added after the index was built: no entries name them. */
	if (!check->loaded || chunk_index >= check->indexed_chunks)
		return VC_OK;
	if (check->dir != NULL)
		err = check_segments(check, chunk_index, chunk, locs, path);
	if (err == VC_OK && check->chunk_ids != NULL)
		err = check_ids(check, chunk_index, chunk, path);
	return err;
}
