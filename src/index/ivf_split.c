/* Splitting oversized IVF lists into several, each with a centroid from k-means on its rows. */
#include <stdlib.h>
#include <string.h>

#include "index/ivf_split.h"
#include "index/kmeans.h"
#include "util/error_i.h"

/* Rows per new list that the sub-k-means trains on. */
#define SPLIT_SAMPLE_PER_LIST 64u

/* Centroids of list @p list split into @p parts, appended at @p out (parts * dim floats). */
static vc_err split_one(const vc_ivf *ivf, const uint32_t *lists, size_t n, uint32_t list,
			uint64_t size, uint32_t parts, vc_ivf_row_fn row, void *ctx, float *out)
{
	uint32_t dim = vc_ivf_dim(ivf);
	uint64_t want = (uint64_t)parts * SPLIT_SAMPLE_PER_LIST, step, taken = 0, seen = 0;
	vc_kmeans_params params;
	float *sample;
	vc_err err;

	if (want > size)
		want = size;
	step = size / want;
	sample = malloc((size_t)want * dim * sizeof(float));
	if (sample == NULL)
		return vc_fail(VC_ERR_NOMEM, "IVF: out of memory splitting list %u", list);
	/* Every step-th member, in row order: an even spread over the list. */
	for (size_t i = 0; i < n && taken < want; i++) {
		if (lists[i] != list)
			continue;
		if (seen++ % step == 0)
			memcpy(sample + (size_t)taken++ * dim, row(ctx, i), dim * sizeof(float));
	}
	vc_kmeans_params_default(&params);
	params.sample_per_centroid = SPLIT_SAMPLE_PER_LIST;
	/* parts = ceil(size / target) <= size, and taken = min(size, 64 parts) >= parts. */
	err = vc_kmeans_train(vc_ivf_metric(ivf), sample, (size_t)taken, dim, parts, &params, out,
			      NULL);
	free(sample);
	return err;
}

vc_err vc_ivf_split_large(const vc_ivf *ivf, const uint32_t *lists, size_t n, uint64_t cap,
			  uint64_t target, vc_ivf_row_fn row, void *ctx, vc_ivf **out)
{
	uint32_t nlist = vc_ivf_nlist(ivf), dim = vc_ivf_dim(ivf), next = 0;
	uint64_t *sizes = calloc(nlist, sizeof(uint64_t)), grown = 0;
	float *centroids = NULL;
	vc_err err = VC_OK;

	*out = NULL;
	if (sizes == NULL)
		return vc_fail(VC_ERR_NOMEM, "IVF: out of memory counting list sizes");
	for (size_t i = 0; i < n; i++)
		sizes[lists[i]]++;
	for (uint32_t l = 0; l < nlist; l++)
		grown += sizes[l] > cap ? (sizes[l] + target - 1) / target : 1;
	if (grown == nlist || grown > VC_IVF_MAX_LISTS || target == 0)
		goto out;
	centroids = malloc((size_t)grown * dim * sizeof(float));
	if (centroids == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "IVF: out of memory for %llu centroids",
			      (unsigned long long)grown);
		goto out;
	}
	for (uint32_t l = 0; l < nlist && err == VC_OK; l++) {
		uint32_t parts = sizes[l] > cap ? (uint32_t)((sizes[l] + target - 1) / target) : 1;

		if (parts == 1) {
			memcpy(centroids + (size_t)next++ * dim, vc_ivf_centroid(ivf, l),
			       dim * sizeof(float));
			continue;
		}
		err = split_one(ivf, lists, n, l, sizes[l], parts, row, ctx,
				centroids + (size_t)next * dim);
		next += parts;
	}
	if (err == VC_OK)
		err = vc_ivf_create(vc_ivf_metric(ivf), dim, next, centroids, out);
out:
	free(centroids);
	free(sizes);
	return err;
}
