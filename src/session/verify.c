/* vc_session_verify: read every object of the current manifest straight from storage (never from
 * the cache) and check size, hash, every frame's authentication, decoding and counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/chunk_codec.h"
#include "session/recent_tier.h"
#include "session/tombstones.h"
#include "session/verify_i.h"
#include "util/error_i.h"

typedef struct verify_run {
	vc_session *session;
	const vc_manifest *manifest;
	vc_verify_fn report;
	void *report_ctx;
	vc_index_check index;
	vc_tombstones *deleted; /* the manifest's tombstones, checked against each chunk */
	size_t problems;
	vc_err first_err;
} verify_run;

static void problem(verify_run *run, const char *path, vc_err err)
{
	if (run->problems == 0)
		run->first_err = err;
	run->problems++;
	if (run->report != NULL)
		run->report(run->report_ctx, path, err, vc_last_error());
}

/* Fetch, check the hash, authenticate every frame and decrypt: the checks every object gets. */
static vc_err open_object(verify_run *run, const vc_object_ref *ref, vc_bytes *plain,
			  vc_frame_loc **locs_out)
{
	vc_frame_loc *locs = NULL;
	vc_object_ctx octx;
	vc_bytes stored;
	uint32_t frames = 0;
	vc_err err;

	memset(plain, 0, sizeof(*plain));
	err = vc_session_fetch_checked(run->session, ref, true, &stored);
	if (err != VC_OK)
		return err;
	vc_session_object_ctx(run->session, ref->path, &octx);
	err = vc_envelope_frames(&octx, stored.data, stored.len, &locs, &frames);
	if (locs_out != NULL && err == VC_OK)
		*locs_out = locs;
	else
		free(locs);
	if (err == VC_OK && frames != ref->frame_count)
		err = vc_fail(VC_ERR_CORRUPT, "%s: holds %u frames, the manifest says %u",
			      ref->path, frames, ref->frame_count);
	if (err == VC_OK)
		err = vc_envelope_open_all(&octx, stored.data, stored.len, plain);
	vc_bytes_free(&stored);
	if (err != VC_OK)
		return vc_session_name_path(err, ref->path);
	if (plain->len != ref->plain_size) {
		err = vc_fail(VC_ERR_CORRUPT, "%s: decrypts to %zu bytes, the manifest says %llu",
			      ref->path, plain->len, (unsigned long long)ref->plain_size);
		vc_bytes_free(plain);
	}
	return err;
}

/* Every tombstone of @p chunk must name a row it stores. */
static vc_err check_tombstones(verify_run *run, const vc_chunk *chunk, const char *path)
{
	const vc_tombstones *set = run->deleted;

	for (uint64_t i = 0; set != NULL && i < set->count; i++) {
		const vc_tomb *t = &set->items[i];

		if (t->chunk_id != chunk->chunk_id)
			continue;
		if (t->frame > chunk->frame_count || t->row >= chunk->frames[t->frame - 1].count)
			return vc_fail(VC_ERR_CORRUPT,
				       "tombstones name row %u of frame %u of %s, which it does not "
				       "hold",
				       t->row, t->frame, path);
	}
	return VC_OK;
}

/* Load and check the tombstone object (counts, order, chunk ids) before the chunks. */
static void load_tombstones(verify_run *run)
{
	const vc_object_ref *ref = vc_tombstones_ref(run->manifest);
	vc_bytes plain;
	vc_err err;

	if (ref == NULL) {
		if (run->manifest->deleted_vectors > 0)
			problem(run, "manifest.json",
				vc_fail(VC_ERR_CORRUPT,
					"manifest deletes %llu vectors but names no tombstone "
					"object",
					(unsigned long long)run->manifest->deleted_vectors));
		return;
	}
	err = open_object(run, ref, &plain, NULL);
	if (err == VC_OK) {
		err = vc_tombstones_decode(plain.data, plain.len, run->manifest, &run->deleted);
		vc_bytes_free(&plain);
		if (err != VC_OK)
			err = vc_session_name_path(err, ref->path);
	}
	if (err != VC_OK)
		problem(run, ref->path, err);
}

static vc_err verify_chunk(verify_run *run, size_t index, const vc_chunk_ref *ref)
{
	vc_frame_loc *locs = NULL;
	vc_chunk *chunk = NULL;
	vc_bytes plain;
	vc_err err;

	err = open_object(run, &ref->object, &plain, &locs);
	if (err != VC_OK) {
		free(locs);
		return err;
	}
	err = vc_chunk_decode(plain.data, plain.len, &chunk);
	vc_bytes_free(&plain);
	if (err != VC_OK) {
		free(locs);
		return vc_session_name_path(err, ref->object.path);
	}
	err = vc_session_check_chunk(run->manifest, ref, chunk);
	if (err == VC_OK)
		err = vc_index_check_chunk(&run->index, index, chunk, locs, ref->object.path);
	if (err == VC_OK)
		err = check_tombstones(run, chunk, ref->object.path);
	vc_chunk_free(chunk);
	free(locs);
	return err;
}

static vc_err verify_object(verify_run *run, const vc_object_ref *ref)
{
	json_t *metadata = NULL;
	vc_bytes plain;
	vc_err err;

	err = open_object(run, ref, &plain, NULL);
	if (err == VC_OK && ref == vc_recent_tier_ref(run->manifest)) {
		/* The recent graph: one node per row of the recent chunks, each inside its chunk. */
		vc_hnsw_tier *tier = NULL;

		err = vc_hnsw_tier_decode_chunks(plain.data, plain.len, run->manifest,
						 vc_manifest_indexed_chunks(run->manifest),
						 run->manifest->chunk_count, &tier);
		vc_hnsw_tier_free(tier);
		vc_bytes_free(&plain);
		return err == VC_OK ? VC_OK : vc_session_name_path(err, ref->path);
	}
	if (err != VC_OK || strcmp(ref->path, "metadata.cbor") != 0) {
		vc_bytes_free(&plain);
		return err;
	}
	err = vc_meta_decode(plain.data, plain.len, &metadata);
	vc_bytes_free(&plain);
	if (err != VC_OK)
		return vc_session_name_path(err, ref->path);
	if (!json_is_object(metadata))
		err = vc_fail(VC_ERR_CORRUPT, "%s: does not hold a JSON object", ref->path);
	json_decref(metadata);
	return err;
}

vc_err vc_session_verify(vc_session *session, vc_verify_fn report, void *ctx)
{
	verify_run run = {.session = session, .report = report, .report_ctx = ctx};
	size_t objects;
	vc_err err;

	run.manifest = vc_session_manifest_get(session);
	const char *index_path;

	objects = run.manifest->chunk_count + run.manifest->object_count;
	err = vc_index_check_load(session, run.manifest, &run.index, &index_path);
	if (err != VC_OK)
		problem(&run, index_path, err);
	load_tombstones(&run);
	/* Every object is checked even after a failure: the report lists all damage at once. */
	for (size_t i = 0; i < run.manifest->chunk_count; i++) {
		const vc_chunk_ref *ref = &run.manifest->chunks[i];

		err = verify_chunk(&run, i, ref);
		if (err != VC_OK)
			problem(&run, ref->object.path, err);
	}
	for (size_t i = 0; i < run.manifest->object_count; i++) {
		const vc_object_ref *ref = &run.manifest->objects[i];

		err = verify_object(&run, ref);
		if (err != VC_OK)
			problem(&run, ref->path, err);
	}
	vc_index_check_free(&run.index);
	vc_tombstones_free(run.deleted);
	vc_session_manifest_put(session, run.manifest);
	if (run.problems > 0)
		return vc_fail(run.first_err, "verify: %zu of %zu objects of %s have problems",
			       run.problems, objects, session->uri);
	return VC_OK;
}
