/*
 * HNSW serialisation: the little-endian layout documented in hnsw.h, and a
 * loader that checks every count, id and level before trusting it.
 */
#include <stdlib.h>
#include <string.h>

#include "index/hnsw_i.h"
#include "index/le_i.h"
#include "util/error_i.h"

static const uint8_t hnsw_magic[8] = {'V', 'C', 'H', 'N', 'S', 'W', 0, 1};
/* The same layout without the vectors (they are stored elsewhere, e.g. in chunks). */
static const uint8_t links_magic[8] = {'V', 'C', 'H', 'N', 'S', 'L', 0, 1};

static vc_err put_header(const vc_hnsw *h, bool vectors, vc_bytes *out)
{
	vc_err err = vc_bytes_append(out, vectors ? hnsw_magic : links_magic, sizeof(hnsw_magic));

	if (err == VC_OK)
		err = vc_le_put_u32(out, h->dim);
	if (err == VC_OK)
		err = vc_le_put_u32(out, (uint32_t)h->metric);
	if (err == VC_OK)
		err = vc_le_put_u32(out, h->params.m);
	if (err == VC_OK)
		err = vc_le_put_u32(out, h->params.ef_construction);
	if (err == VC_OK)
		err = vc_le_put_u32(out, h->params.ef_search);
	if (err == VC_OK)
		err = vc_le_put_u32(out, h->count);
	if (err == VC_OK)
		err = vc_le_put_u32(out, h->entry);
	if (err == VC_OK)
		err = vc_le_put_u32(out, h->max_level);
	if (err == VC_OK)
		err = vc_le_put_u64(out, h->rng);
	return err;
}

static vc_err put_body(const vc_hnsw *h, bool vectors, vc_bytes *out)
{
	size_t n = h->count;
	vc_err err = vc_bytes_append(out, h->levels, n);

	if (err == VC_OK)
		err = vc_bytes_append(out, h->flags, n);
	for (size_t i = 0; i < n && err == VC_OK && vectors; i++)
		err = vc_le_put_words(out, vc_hnsw_row(h, (uint32_t)i), h->dim);
	if (err == VC_OK)
		err = vc_le_put_words(out, h->links0, n * vc_hnsw_links0_slots(h));
	for (size_t i = 0; i < n && err == VC_OK; i++) {
		if (h->levels[i] > 0)
			err = vc_le_put_words(out, h->upper[i],
					      h->levels[i] * vc_hnsw_upper_slots(h));
	}
	return err;
}

static size_t serialized_size(const vc_hnsw *h, bool vectors)
{
	size_t n = h->count;
	size_t bytes = 48 + 2 * n + (vectors ? n * h->dim * sizeof(float) : 0) +
		       n * vc_hnsw_links0_slots(h) * sizeof(uint32_t);

	for (size_t i = 0; i < n; i++)
		bytes += (size_t)h->levels[i] * vc_hnsw_upper_slots(h) * sizeof(uint32_t);
	return bytes;
}

vc_err vc_hnsw_serialize_graph(vc_hnsw *h, bool vectors, vc_bytes *out)
{
	size_t start = out->len;
	vc_err err;

	pthread_rwlock_rdlock(&h->lock);
	/* one reservation: growing a buffer of ~100 MB by doubling costs more than writing it */
	err = vc_bytes_reserve(out, serialized_size(h, vectors));
	if (err == VC_OK)
		err = put_header(h, vectors, out);
	if (err == VC_OK)
		err = put_body(h, vectors, out);
	pthread_rwlock_unlock(&h->lock);
	if (err != VC_OK)
		out->len = start;
	return err;
}

vc_err vc_hnsw_serialize(vc_hnsw *h, vc_bytes *out)
{
	return vc_hnsw_serialize_graph(h, true, out);
}

/* ---- loading ---------------------------------------------------------- */

typedef struct hnsw_header {
	uint32_t dim, metric, count, entry, max_level;
	vc_hnsw_params params;
	uint64_t rng;
	bool vectors; /* the vectors are stored (else only the links) */
} hnsw_header;

static vc_err corrupt(const char *what)
{
	return vc_fail(VC_ERR_CORRUPT, "HNSW index data is corrupt: %s", what);
}

static vc_err get_header(vc_le_reader *r, hnsw_header *hd)
{
	uint8_t magic[8];

	if (!vc_le_get_bytes(r, magic, sizeof(magic)))
		return corrupt("shorter than its header");
	hd->vectors = memcmp(magic, hnsw_magic, sizeof(magic)) == 0;
	if (!hd->vectors && memcmp(magic, links_magic, sizeof(magic)) != 0)
		return corrupt("wrong magic (not an HNSW index, or an unsupported version)");
	if (!vc_le_get_u32(r, &hd->dim) || !vc_le_get_u32(r, &hd->metric) ||
	    !vc_le_get_u32(r, &hd->params.m) || !vc_le_get_u32(r, &hd->params.ef_construction) ||
	    !vc_le_get_u32(r, &hd->params.ef_search) || !vc_le_get_u32(r, &hd->count) ||
	    !vc_le_get_u32(r, &hd->entry) || !vc_le_get_u32(r, &hd->max_level) ||
	    !vc_le_get_u64(r, &hd->rng))
		return corrupt("shorter than its header");
	hd->params.seed = hd->rng;
	if (hd->metric > VC_METRIC_DOT)
		return corrupt("unknown metric");
	if (hd->dim == 0 || hd->dim > VC_HNSW_MAX_DIM)
		return corrupt("dimension out of range");
	if (hd->params.m < 2 || hd->params.m > VC_HNSW_MAX_M || hd->params.ef_construction == 0 ||
	    hd->params.ef_search == 0)
		return corrupt("parameters out of range");
	if (hd->max_level > VC_HNSW_MAX_LEVEL)
		return corrupt("maximum level out of range");
	if (hd->count == UINT32_MAX)
		return corrupt("node count out of range");
	if (hd->count == 0 && (hd->entry != UINT32_MAX || hd->max_level != 0))
		return corrupt("empty index with an entry point");
	if (hd->count > 0 && hd->entry >= hd->count)
		return corrupt("entry point out of range");
	return VC_OK;
}

/*
 * The fixed-size part (levels, flags, vectors, layer 0) must fit in what is
 * left, checked before anything is allocated so a forged count cannot make
 * us reserve gigabytes.
 */
static vc_err check_fixed_size(const hnsw_header *hd, size_t left)
{
	uint64_t per_node =
	    2 + (hd->vectors ? (uint64_t)hd->dim * 4 : 0) + (1 + 2 * (uint64_t)hd->params.m) * 4;

	if ((uint64_t)hd->count > (uint64_t)left / per_node)
		return corrupt("shorter than its node count requires");
	return VC_OK;
}

static vc_err check_levels(const vc_hnsw *h, const hnsw_header *hd)
{
	uint32_t top = 0;

	for (uint32_t i = 0; i < h->count; i++) {
		if (h->levels[i] > VC_HNSW_MAX_LEVEL)
			return corrupt("node level out of range");
		if (h->flags[i] & ~VC_HNSW_FLAG_DELETED)
			return corrupt("unknown node flags");
		if (h->levels[i] > top)
			top = h->levels[i];
	}
	if (h->count > 0 && (top != hd->max_level || h->levels[hd->entry] != top))
		return corrupt("entry point is not on the top level");
	return VC_OK;
}

/* A link list is valid if it is not over-full and names existing nodes present on @p layer. */
static bool list_valid(const vc_hnsw *h, const uint32_t *list, size_t cap, uint32_t layer)
{
	if (list[0] > cap)
		return false;
	for (uint32_t i = 1; i <= list[0]; i++) {
		if (list[i] >= h->count || h->levels[list[i]] < layer)
			return false;
	}
	return true;
}

static vc_err get_upper(vc_hnsw *h, vc_le_reader *r)
{
	size_t slots = vc_hnsw_upper_slots(h);

	for (uint32_t i = 0; i < h->count; i++) {
		uint32_t level = h->levels[i];

		if (level == 0)
			continue;
		if ((size_t)level * slots > r->left / 4)
			return corrupt("upper-layer links truncated");
		h->upper[i] = malloc((size_t)level * slots * sizeof(uint32_t));
		if (h->upper[i] == NULL)
			return vc_fail(VC_ERR_NOMEM, "HNSW: out of memory loading links");
		vc_le_get_words(r, h->upper[i], (size_t)level * slots);
		for (uint32_t layer = 1; layer <= level; layer++) {
			if (!list_valid(h, vc_hnsw_links(h, i, layer), h->params.m, layer))
				return corrupt("upper-layer link out of range");
		}
	}
	return VC_OK;
}

static vc_err get_body(vc_hnsw *h, const hnsw_header *hd, vc_le_reader *r)
{
	vc_err err;

	vc_le_get_bytes(r, h->levels, h->count);
	vc_le_get_bytes(r, h->flags, h->count);
	err = check_levels(h, hd);
	if (err != VC_OK)
		return err;
	for (uint32_t i = 0; i < h->count && hd->vectors; i++)
		vc_le_get_words(r, h->vectors + (size_t)i * h->stride, h->dim);
	vc_le_get_words(r, h->links0, (size_t)h->count * vc_hnsw_links0_slots(h));
	for (uint32_t i = 0; i < h->count; i++) {
		if (!list_valid(h, vc_hnsw_links(h, i, 0), 2 * (size_t)h->params.m, 0))
			return corrupt("layer-0 link out of range");
	}
	err = get_upper(h, r);
	if (err != VC_OK)
		return err;
	if (r->left != 0)
		return corrupt("trailing bytes after the links");
	return VC_OK;
}

vc_err vc_hnsw_deserialize_graph(const uint8_t *data, size_t len, bool *vectors, vc_hnsw **out)
{
	vc_le_reader r = {.p = data, .left = len};
	hnsw_header hd;
	vc_hnsw *h;
	vc_err err;

	*out = NULL;
	err = get_header(&r, &hd);
	if (err == VC_OK)
		err = check_fixed_size(&hd, r.left);
	if (err != VC_OK)
		return err;
	*vectors = hd.vectors;
	err = vc_hnsw_alloc(hd.dim, (vc_metric)hd.metric, &hd.params, &h);
	if (err != VC_OK)
		return err;
	if (hd.count > 0) {
		err = vc_hnsw_grow(h, hd.count);
		if (err != VC_OK)
			goto fail;
	}
	h->count = hd.count;
	h->entry = hd.entry;
	h->max_level = hd.max_level;
	h->rng = hd.rng;
	err = get_body(h, &hd, &r);
	if (err != VC_OK)
		goto fail;
	*out = h;
	return VC_OK;
fail:
	vc_hnsw_free(h);
	return err;
}

vc_err vc_hnsw_deserialize(const uint8_t *data, size_t len, vc_hnsw **out)
{
	bool vectors;
	vc_err err = vc_hnsw_deserialize_graph(data, len, &vectors, out);

	if (err == VC_OK && !vectors) {
		vc_hnsw_free(*out);
		*out = NULL;
		err = corrupt("links only: the vectors are not stored with this graph");
	}
	return err;
}
