/* The tombstone set of a snapshot: which stored rows are deleted. Encoded sorted so a reader
 * answers "is this row deleted?" by binary search and checks the object in one pass. */
#include <stdlib.h>
#include <string.h>

#include "index/le_i.h"
#include "session/session_i.h"
#include "session/tombstones.h"
#include "util/error_i.h"

#define TOMB_MAGIC "VCDEL\0\0\1"
#define TOMB_BYTES 12u

static int tomb_cmp(const vc_tomb *a, const vc_tomb *b)
{
	if (a->chunk_id != b->chunk_id)
		return a->chunk_id < b->chunk_id ? -1 : 1;
	if (a->frame != b->frame)
		return a->frame < b->frame ? -1 : 1;
	if (a->row != b->row)
		return a->row < b->row ? -1 : 1;
	return 0;
}

static int tomb_qsort_cmp(const void *a, const void *b)
{
	return tomb_cmp(a, b);
}

void vc_tombs_sort(vc_tomb *items, uint64_t *count)
{
	uint64_t kept = 0;

	if (*count == 0)
		return;
	qsort(items, (size_t)*count, sizeof(*items), tomb_qsort_cmp);
	for (uint64_t i = 0; i < *count; i++)
		if (kept == 0 || tomb_cmp(&items[kept - 1], &items[i]) != 0)
			items[kept++] = items[i];
	*count = kept;
}

vc_err vc_tombstones_encode(const vc_tomb *items, uint64_t count, vc_bytes *out)
{
	vc_err err = vc_bytes_append(out, TOMB_MAGIC, 8);

	if (err == VC_OK)
		err = vc_le_put_u64(out, count);
	for (uint64_t i = 0; i < count && err == VC_OK; i++) {
		err = vc_le_put_u32(out, items[i].chunk_id);
		if (err == VC_OK)
			err = vc_le_put_u32(out, items[i].frame);
		if (err == VC_OK)
			err = vc_le_put_u32(out, items[i].row);
	}
	return err;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Every entry's chunk id must be one the manifest lists. */
static vc_err check_chunks(const vc_tombstones *set, const vc_manifest *manifest)
{
	uint32_t *ids = malloc((manifest->chunk_count + 1) * sizeof(*ids));
	vc_err err = VC_OK;

	if (ids == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory checking the tombstones");
	for (size_t i = 0; i < manifest->chunk_count; i++)
		ids[i] = manifest->chunks[i].chunk_id;
	qsort(ids, manifest->chunk_count, sizeof(*ids), u32_cmp);
	for (uint64_t i = 0; i < set->count && err == VC_OK; i++) {
		uint32_t key = set->items[i].chunk_id;

		if (bsearch(&key, ids, manifest->chunk_count, sizeof(*ids), u32_cmp) == NULL)
			err = vc_fail(VC_ERR_CORRUPT,
				      "tombstones name chunk %u, which the manifest does not list",
				      key);
	}
	free(ids);
	return err;
}

vc_err vc_tombstones_decode(const uint8_t *data, size_t len, const vc_manifest *manifest,
			    vc_tombstones **out)
{
	vc_le_reader r = {data, len};
	uint8_t magic[8];
	vc_tombstones *set;
	uint64_t count = 0;
	vc_err err;

	*out = NULL;
	if (!vc_le_get_bytes(&r, magic, 8) || memcmp(magic, TOMB_MAGIC, 8) != 0 ||
	    !vc_le_get_u64(&r, &count) || count > r.left / TOMB_BYTES ||
	    count * TOMB_BYTES != r.left)
		return vc_fail(VC_ERR_CORRUPT, "tombstones: bad magic or size");
	if (count != manifest->deleted_vectors)
		return vc_fail(
		    VC_ERR_CORRUPT, "tombstones: %llu entries, the manifest deletes %llu vectors",
		    (unsigned long long)count, (unsigned long long)manifest->deleted_vectors);
	set = calloc(1, sizeof(*set));
	if (set == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory loading the tombstones");
	set->items = malloc((size_t)(count ? count : 1) * sizeof(vc_tomb));
	if (set->items == NULL) {
		free(set);
		return vc_fail(VC_ERR_NOMEM, "out of memory loading the tombstones");
	}
	set->count = count;
	err = VC_OK;
	for (uint64_t i = 0; i < count && err == VC_OK; i++) {
		vc_tomb *t = &set->items[i];

		vc_le_get_u32(&r, &t->chunk_id);
		vc_le_get_u32(&r, &t->frame);
		vc_le_get_u32(&r, &t->row);
		if (t->frame == 0 || (i > 0 && tomb_cmp(&set->items[i - 1], t) >= 0))
			err = vc_fail(VC_ERR_CORRUPT, "tombstones: entries out of order");
	}
	if (err == VC_OK)
		err = check_chunks(set, manifest);
	if (err != VC_OK) {
		vc_tombstones_free(set);
		return err;
	}
	*out = set;
	return VC_OK;
}

void vc_tombstones_free(vc_tombstones *set)
{
	if (set == NULL)
		return;
	free(set->items);
	free(set);
}

const vc_object_ref *vc_tombstones_ref(const vc_manifest *manifest)
{
	size_t prefix = strlen(VC_TOMBSTONES_PREFIX);

	for (size_t i = 0; i < manifest->object_count; i++)
		if (strncmp(manifest->objects[i].path, VC_TOMBSTONES_PREFIX, prefix) == 0)
			return &manifest->objects[i];
	return NULL;
}

/* First entry not below @p key. */
static uint64_t lower_bound(const vc_tombstones *set, const vc_tomb *key)
{
	uint64_t lo = 0, hi = set->count;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (tomb_cmp(&set->items[mid], key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool vc_tombstones_has(const vc_tombstones *set, uint32_t chunk_id, uint32_t frame, uint32_t row)
{
	vc_tomb key = {chunk_id, frame, row};
	uint64_t at;

	if (set == NULL || set->count == 0)
		return false;
	at = lower_bound(set, &key);
	return at < set->count && tomb_cmp(&set->items[at], &key) == 0;
}

bool vc_tombstones_chunk_any(const vc_tombstones *set, uint32_t chunk_id)
{
	vc_tomb key = {chunk_id, 0, 0};
	uint64_t at;

	if (set == NULL || set->count == 0)
		return false;
	at = lower_bound(set, &key);
	return at < set->count && set->items[at].chunk_id == chunk_id;
}

vc_err vc_tombstones_chunk_mask(const vc_tombstones *set, const vc_chunk *chunk, uint8_t **dead)
{
	vc_tomb key = {chunk->chunk_id, 0, 0};
	uint64_t at;

	*dead = NULL;
	if (!vc_tombstones_chunk_any(set, chunk->chunk_id))
		return VC_OK;
	*dead = calloc(chunk->count + 1, 1);
	if (*dead == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory marking deleted rows");
	for (at = lower_bound(set, &key);
	     at < set->count && set->items[at].chunk_id == key.chunk_id; at++) {
		const vc_tomb *t = &set->items[at];

		/* A decoded chunk has frames[]; a row outside them cannot be a stored row. */
		if (t->frame <= chunk->frame_count && t->row < chunk->frames[t->frame - 1].count)
			(*dead)[chunk->frames[t->frame - 1].first + t->row] = 1;
	}
	return VC_OK;
}

static vc_err load_tombstones(vc_session *session, const vc_manifest *manifest,
			      const vc_object_ref *ref, vc_tombstones **out)
{
	vc_bytes plain;
	vc_err err;

	err = vc_session_read_object(session, manifest, ref->path, &plain);
	if (err != VC_OK)
		return err;
	err = vc_tombstones_decode(plain.data, plain.len, manifest, out);
	vc_bytes_free(&plain);
	if (err != VC_OK)
		return vc_session_name_path(err, ref->path);
	return VC_OK;
}

static vc_err tombstones_loader(vc_session *session, const vc_manifest *manifest,
				const void *arg, void **out)
{
	vc_tombstones *set = NULL;
	vc_err err = load_tombstones(session, manifest, arg, &set);

	*out = set;
	return err;
}

static void tombstones_free_any(void *set)
{
	vc_tombstones_free(set);
}

vc_err vc_session_tombstones(vc_session *session, const vc_manifest *manifest,
			     const vc_tombstones **set)
{
	const vc_object_ref *ref = vc_tombstones_ref(manifest);
	void *loaded;
	vc_err err;

	*set = NULL;
	if (ref == NULL) {
		if (manifest->deleted_vectors > 0)
			return vc_fail(VC_ERR_CORRUPT,
				       "manifest of %s deletes %llu vectors but names no "
				       "tombstone object",
				       session->uri, (unsigned long long)manifest->deleted_vectors);
		return VC_OK;
	}
	err = vc_snapshot_lazy(session, manifest, VC_SLOT_TOMBSTONES, tombstones_loader, ref,
			       tombstones_free_any, &loaded);
	*set = loaded;
	return err;
}
