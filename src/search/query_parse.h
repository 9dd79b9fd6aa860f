/* Parsing one query from bytes, shared by `vchunk query` and the mount's query files: a JSON
 * array, whitespace/comma-separated numbers, raw little-endian float32, or a JSON object. */
#ifndef VC_SEARCH_QUERY_PARSE_H
#define VC_SEARCH_QUERY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vchunk/session.h"

/** Inputs never exceed max(VC_QUERY_MIN_LIMIT, dim × VC_QUERY_BYTES_PER_VALUE + 64 KiB). */
#define VC_QUERY_MIN_LIMIT (1024u * 1024u)
#define VC_QUERY_BYTES_PER_VALUE 32u

/** How to read a query. */
typedef struct vc_query_parse_options {
	uint32_t dim;		  /**< the session's dimension: checked (0: not checked) */
	bool allow_raw;		  /**< accept raw float32 of exactly dim × 4 bytes (needs dim) */
	const vc_query *defaults; /**< settings a query object may override (NULL: k = 10) */
	const char *where;	  /**< prefix of error messages ("QUERY", "stdin:3"), or NULL */
} vc_query_parse_options;

/** A parsed query: @c query points into @c vector and (its filter) into @c doc. */
typedef struct vc_parsed_query {
	vc_query query;
	float *vector;
	size_t cap;
	json_t *doc;
} vc_parsed_query;

/** The largest input accepted for a session of dimension @p dim (0: unknown). */
size_t vc_query_input_limit(uint32_t dim);

/**
 * Parse @p len bytes (need not be NUL-terminated) into @p out, replacing what it held. The
 * forms, tried in this order:
 *  - raw float32: when options->allow_raw, len == dim × 4 and the bytes are not text (they
 *    hold a NUL, a control character other than \t \n \v \f \r, DEL, or invalid UTF-8) or do
 *    not parse as one of the text forms below;
 *  - text starting (after whitespace) with '[': a JSON array of numbers;
 *  - text starting with '{': {"vector": [...], "k", "filter", "threshold", "ef", "nprobe",
 *    "exact"}; unknown keys are refused;
 *  - otherwise numbers separated by whitespace and/or single commas (decimal notation only).
 * Every value must be a finite float32. Errors: VC_ERR_TOO_BIG (longer than
 * vc_query_input_limit), VC_ERR_INVALID (anything else, with a message saying what).
 * @p out stays valid for vc_parsed_query_free after a failure. Thread-safe.
 */
vc_err vc_query_parse(const void *data, size_t len, const vc_query_parse_options *options,
		      vc_parsed_query *out);

/** Free what @p q holds and reset it (NULL-safe). */
void vc_parsed_query_free(vc_parsed_query *q);

#endif
