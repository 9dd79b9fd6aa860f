/* Splitting oversized IVF lists: k-means trained on clusters of very unequal weight leaves some
 * lists many times the mean, and a query probing one pays for all of it. */
#ifndef VC_IVF_SPLIT_H
#define VC_IVF_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "index/ivf.h"

/** Row @p i of the data set (dim floats), valid until the next call. */
typedef const float *(*vc_ivf_row_fn)(void *ctx, size_t i);

/**
 * Replace every list of @p ivf holding more than @p cap of the @p n rows
 * (row i is in list lists[i]) by ceil(size / target) lists: k-means on up
 * to 64 of its rows per new list, read through @p row. *out gets the new
 * quantizer (list numbers change: reassign every row), or NULL when no list
 * exceeds @p cap. Never grows past VC_IVF_MAX_LISTS lists. Caller frees *out.
 */
vc_err vc_ivf_split_large(const vc_ivf *ivf, const uint32_t *lists, size_t n, uint64_t cap,
			  uint64_t target, vc_ivf_row_fn row, void *ctx, vc_ivf **out);

#endif
