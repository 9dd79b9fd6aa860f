/*
 * The writer's spool: rows of an indexed import (vector, id, metadata CBOR) kept in two unlinked
 * temporary files until commit, when the IVF layout is known. Memory holds 8 bytes per row (the
 * record offsets); the data is read back through read-only maps whose pages are dropped after
 * each pass, so resident memory stays bounded whatever the session's size. One thread at a time.
 */
#ifndef VC_SPOOL_H
#define VC_SPOOL_H

#include <stdint.h>
#include <stdio.h>

#include "vchunk/store.h"

typedef struct vc_spool {
	FILE *vectors_file; /* float32 rows, dim per row */
	FILE *records_file; /* per row: id, NUL, metadata CBOR item */
	uint32_t dim;
	uint64_t rows;
	uint64_t *record_end; /* end offset of each row's record */
	uint64_t record_cap;
	uint64_t record_bytes;
	const float *vectors; /* after vc_spool_map */
	const uint8_t *records;
	size_t vectors_len, records_len;
} vc_spool;

/** Create the spool files in $TMPDIR (else /tmp) for @p dim-dimensional rows. */
vc_err vc_spool_open(vc_spool *spool, uint32_t dim);

/** Append a row; @p meta is one CBOR item (CBOR null when the row has none). */
vc_err vc_spool_add(vc_spool *spool, const char *id, const float *vector, const vc_bytes *meta);

/** Flush and map both files read-only; rows are then read with the accessors below. */
vc_err vc_spool_map(vc_spool *spool);

/** Row @p i: its vector (dim floats). */
static inline const float *vc_spool_vector(const vc_spool *spool, uint64_t i)
{
	return spool->vectors + (size_t)i * spool->dim;
}

/** Row @p i: its id (NUL-terminated) and metadata item. */
void vc_spool_record(const vc_spool *spool, uint64_t i, const char **id, const uint8_t **meta,
		     size_t *meta_len);

/** Drop the mapped pages of every row (they are re-read from the file when touched again). */
void vc_spool_drop_pages(const vc_spool *spool);

/** Unmap and close (the files vanish: they were never linked). NULL-safe, idempotent. */
void vc_spool_close(vc_spool *spool);

#endif
