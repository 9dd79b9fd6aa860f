/*
 * IVF coarse quantizer: centroids in memory, nearest-list assignment,
 * multi-list probing, and a bounds-checked serialised form.
 */
#include "index/ivf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/le_i.h"
#include "search/distance.h"
#include "util/error_i.h"

/* Centroids are scored in blocks of this many, into a stack buffer. */
#define SCORE_BLOCK 256

static const uint8_t ivf_magic[8] = {'V', 'C', 'I', 'V', 'F', 0, 0, 1};

struct vc_ivf {
	vc_metric metric;
	uint32_t dim;
	uint32_t nlist;
	float *centroids; /* nlist * dim */
	uint64_t *sizes;  /* nlist */
};

static vc_err check_shape(vc_metric metric, uint32_t dim, uint32_t nlist)
{
	if (metric != VC_METRIC_COSINE && metric != VC_METRIC_L2 && metric != VC_METRIC_DOT)
		return vc_fail(VC_ERR_INVALID, "IVF: unknown metric %d", (int)metric);
	if (dim == 0 || dim > VC_IVF_MAX_DIM)
		return vc_fail(VC_ERR_INVALID, "IVF: dimension %u is outside 1..%u", dim,
			       VC_IVF_MAX_DIM);
	if (nlist == 0 || nlist > VC_IVF_MAX_LISTS)
		return vc_fail(VC_ERR_INVALID, "IVF: %u lists is outside 1..%u", nlist,
			       VC_IVF_MAX_LISTS);
	return VC_OK;
}

static vc_err ivf_alloc(vc_metric metric, uint32_t dim, uint32_t nlist, vc_ivf **out)
{
	vc_ivf *ivf = calloc(1, sizeof(*ivf));

	*out = NULL;
	if (ivf == NULL)
		return vc_fail(VC_ERR_NOMEM, "IVF: out of memory");
	ivf->metric = metric;
	ivf->dim = dim;
	ivf->nlist = nlist;
	ivf->centroids = malloc((size_t)nlist * dim * sizeof(float));
	ivf->sizes = calloc(nlist, sizeof(uint64_t));
	if (ivf->centroids == NULL || ivf->sizes == NULL) {
		vc_ivf_free(ivf);
		return vc_fail(VC_ERR_NOMEM, "IVF: out of memory for %u centroids", nlist);
	}
	*out = ivf;
	return VC_OK;
}

static bool all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i]))
			return false;
	}
	return true;
}

vc_err vc_ivf_create(vc_metric metric, uint32_t dim, uint32_t nlist, const float *centroids,
		     vc_ivf **out)
{
	vc_ivf *ivf;
	vc_err err;

	*out = NULL;
	err = check_shape(metric, dim, nlist);
	if (err != VC_OK)
		return err;
	if (!all_finite(centroids, (size_t)nlist * dim))
		return vc_fail(VC_ERR_INVALID, "IVF: a centroid holds a non-finite value");
	err = ivf_alloc(metric, dim, nlist, &ivf);
	if (err != VC_OK)
		return err;
	memcpy(ivf->centroids, centroids, (size_t)nlist * dim * sizeof(float));
	if (metric == VC_METRIC_COSINE) {
		for (uint32_t c = 0; c < nlist; c++)
			vc_normalize(ivf->centroids + (size_t)c * dim, dim);
	}
	*out = ivf;
	return VC_OK;
}

vc_err vc_ivf_train(vc_metric metric, uint32_t dim, uint32_t nlist, const float *vectors, size_t n,
		    const vc_kmeans_params *params, vc_ivf **out)
{
	float *centroids;
	vc_err err;

	*out = NULL;
	err = check_shape(metric, dim, nlist);
	if (err != VC_OK)
		return err;
	centroids = malloc((size_t)nlist * dim * sizeof(float));
	if (centroids == NULL)
		return vc_fail(VC_ERR_NOMEM, "IVF: out of memory for %u centroids", nlist);
	err = vc_kmeans_train(metric, vectors, n, dim, nlist, params, centroids, NULL);
	if (err == VC_OK)
		err = vc_ivf_create(metric, dim, nlist, centroids, out);
	free(centroids);
	return err;
}

void vc_ivf_free(vc_ivf *ivf)
{
	if (ivf == NULL)
		return;
	free(ivf->centroids);
	free(ivf->sizes);
	free(ivf);
}

uint32_t vc_ivf_nlist(const vc_ivf *ivf)
{
	return ivf->nlist;
}

uint32_t vc_ivf_dim(const vc_ivf *ivf)
{
	return ivf->dim;
}

vc_metric vc_ivf_metric(const vc_ivf *ivf)
{
	return ivf->metric;
}

const float *vc_ivf_centroid(const vc_ivf *ivf, uint32_t list)
{
	return list < ivf->nlist ? ivf->centroids + (size_t)list * ivf->dim : NULL;
}

uint32_t vc_ivf_assign(const vc_ivf *ivf, const float *vector)
{
	vc_metric m = ivf->metric == VC_METRIC_COSINE ? VC_METRIC_COSINE : VC_METRIC_L2;
	float scores[SCORE_BLOCK];
	float best_score = -INFINITY;
	uint32_t best = 0;

	for (uint32_t b = 0; b < ivf->nlist; b += SCORE_BLOCK) {
		uint32_t n = ivf->nlist - b < SCORE_BLOCK ? ivf->nlist - b : SCORE_BLOCK;

		vc_score_many(m, vector, ivf->centroids + (size_t)b * ivf->dim, n, ivf->dim,
			      scores);
		for (uint32_t i = 0; i < n; i++) {
			if (scores[i] > best_score) {
				best_score = scores[i];
				best = b + i;
			}
		}
	}
	return best;
}

void vc_ivf_assign_many(const vc_ivf *ivf, const float *vectors, size_t n, uint32_t *lists)
{
	vc_metric m = ivf->metric == VC_METRIC_COSINE ? VC_METRIC_COSINE : VC_METRIC_L2;
	float scores[4 * SCORE_BLOCK];

	for (size_t v = 0; v < n; v += 4) {
		const float *rows[4] = {NULL};
		float best_score[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
		size_t nv = n - v < 4 ? n - v : 4;

		for (size_t j = 0; j < nv; j++) {
			rows[j] = vectors + (v + j) * ivf->dim;
			lists[v + j] = 0;
		}
		for (uint32_t b = 0; b < ivf->nlist; b += SCORE_BLOCK) {
			uint32_t nb = ivf->nlist - b < SCORE_BLOCK ? ivf->nlist - b : SCORE_BLOCK;

			vc_score_multi(m, rows, nv, ivf->centroids + (size_t)b * ivf->dim, nb,
				       ivf->dim, scores);
			for (size_t j = 0; j < nv; j++) {
				for (uint32_t i = 0; i < nb; i++) {
					if (scores[j * nb + i] > best_score[j]) {
						best_score[j] = scores[j * nb + i];
						lists[v + j] = b + i;
					}
				}
			}
		}
	}
}

void vc_ivf_probe(const vc_ivf *ivf, const float *query, uint32_t nprobe, vc_scored *out,
		  size_t *count)
{
	vc_topk best = {.k = nprobe < ivf->nlist ? nprobe : ivf->nlist, .count = 0, .items = out};
	float scores[SCORE_BLOCK];
	float scale = 1.0f;

	/* cosine centroids are unit length; dividing by |q| turns dots into cosines */
	if (ivf->metric == VC_METRIC_COSINE) {
		float norm = sqrtf(vc_dot(query, query, ivf->dim));

		scale = norm > 0.0f ? 1.0f / norm : 0.0f;
	}
	for (uint32_t b = 0; b < ivf->nlist && best.k > 0; b += SCORE_BLOCK) {
		uint32_t n = ivf->nlist - b < SCORE_BLOCK ? ivf->nlist - b : SCORE_BLOCK;

		vc_score_many(ivf->metric, query, ivf->centroids + (size_t)b * ivf->dim, n,
			      ivf->dim, scores);
		for (uint32_t i = 0; i < n; i++)
			vc_topk_push(&best, scores[i] * scale, b + i);
	}
	vc_topk_sort(&best);
	*count = best.count;
}

uint64_t vc_ivf_list_size(const vc_ivf *ivf, uint32_t list)
{
	return list < ivf->nlist ? ivf->sizes[list] : 0;
}

vc_err vc_ivf_set_list_size(vc_ivf *ivf, uint32_t list, uint64_t size)
{
	if (list >= ivf->nlist)
		return vc_fail(VC_ERR_NOT_FOUND, "IVF list %u does not exist (%u lists)", list,
			       ivf->nlist);
	ivf->sizes[list] = size;
	return VC_OK;
}

/* ---- serialisation ---------------------------------------------------- */

vc_err vc_ivf_serialize(const vc_ivf *ivf, vc_bytes *out)
{
	size_t start = out->len;
	size_t n = ivf->nlist;
	vc_err err = vc_bytes_reserve(out, 24 + n * ivf->dim * 4 + n * 8);

	if (err == VC_OK)
		err = vc_bytes_append(out, ivf_magic, sizeof(ivf_magic));
	if (err == VC_OK)
		err = vc_le_put_u32(out, ivf->dim);
	if (err == VC_OK)
		err = vc_le_put_u32(out, (uint32_t)ivf->metric);
	if (err == VC_OK)
		err = vc_le_put_u32(out, ivf->nlist);
	if (err == VC_OK)
		err = vc_le_put_u32(out, 0);
	if (err == VC_OK)
		err = vc_le_put_words(out, ivf->centroids, n * ivf->dim);
	for (size_t i = 0; i < n && err == VC_OK; i++)
		err = vc_le_put_u64(out, ivf->sizes[i]);
	if (err != VC_OK)
		out->len = start;
	return err;
}

static vc_err corrupt(const char *what)
{
	return vc_fail(VC_ERR_CORRUPT, "IVF centroid data is corrupt: %s", what);
}

vc_err vc_ivf_deserialize(const uint8_t *data, size_t len, vc_ivf **out)
{
	vc_le_reader r = {.p = data, .left = len};
	uint8_t magic[8];
	uint32_t dim, metric, nlist, reserved;
	vc_ivf *ivf;

	*out = NULL;
	if (!vc_le_get_bytes(&r, magic, sizeof(magic)) || !vc_le_get_u32(&r, &dim) ||
	    !vc_le_get_u32(&r, &metric) || !vc_le_get_u32(&r, &nlist) ||
	    !vc_le_get_u32(&r, &reserved))
		return corrupt("shorter than its header");
	if (memcmp(magic, ivf_magic, sizeof(magic)) != 0)
		return corrupt("wrong magic (not IVF centroids, or an unsupported version)");
	if (reserved != 0 || check_shape((vc_metric)metric, dim, nlist) != VC_OK)
		return corrupt("header fields out of range");
	/* sizes are checked before allocating, so a forged nlist cannot reserve gigabytes */
	if ((uint64_t)r.left != (uint64_t)nlist * dim * 4 + (uint64_t)nlist * 8)
		return corrupt("length does not match the list count and dimension");
	if (ivf_alloc((vc_metric)metric, dim, nlist, &ivf) != VC_OK)
		return VC_ERR_NOMEM;
	vc_le_get_words(&r, ivf->centroids, (size_t)nlist * dim);
	for (uint32_t i = 0; i < nlist; i++)
		vc_le_get_u64(&r, &ivf->sizes[i]);
	if (!all_finite(ivf->centroids, (size_t)nlist * dim)) {
		vc_ivf_free(ivf);
		return corrupt("a centroid holds a non-finite value");
	}
	*out = ivf;
	return VC_OK;
}
