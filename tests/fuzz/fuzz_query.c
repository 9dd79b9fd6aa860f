/* libFuzzer target: the query parser must accept or refuse any bytes cleanly, and every
 * vector it accepts must be finite, of the asked dimension, and parse back from JSON. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/query_parse.h"
#include "search/results_json.h"

/* The accepted vector printed as a JSON array must parse back to the same floats. */
static void check_round_trip(const vc_parsed_query *q)
{
	vc_query_parse_options options = {.dim = q->query.dim};
	vc_parsed_query again = {0};
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (out == NULL)
		abort();
	fputc('[', out);
	for (uint32_t i = 0; i < q->query.dim; i++)
		fprintf(out, i > 0 ? ",%.9g" : "%.9g", (double)q->vector[i]);
	fputc(']', out);
	if (fclose(out) != 0)
		abort();
	if (vc_query_parse(text, len, &options, &again) != VC_OK)
		abort();
	if (again.query.dim != q->query.dim)
		abort();
	/* Compared as values: JSON "-0" is the integer 0, equal to -0.0f but not bitwise. */
	for (uint32_t i = 0; i < q->query.dim; i++)
		if (again.vector[i] != q->vector[i])
			abort();
	vc_parsed_query_free(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vc_query_parse_options options = {.allow_raw = true, .where = "fuzz"};
	vc_parsed_query q = {0};
	char *error_text;
	size_t error_len;
	vc_err err;

	/* The first byte picks the session's dimension (0: unchecked, no raw form). */
	if (size == 0)
		return 0;
	options.dim = data[0] % 17;
	err = vc_query_parse(data + 1, size - 1, &options, &q);
	if (err == VC_OK) {
		if (q.query.dim == 0 || (options.dim != 0 && q.query.dim != options.dim) ||
		    q.query.vector != q.vector || q.query.k == 0)
			abort();
		for (uint32_t i = 0; i < q.query.dim; i++)
			if (!isfinite(q.vector[i]))
				abort();
		check_round_trip(&q);
	} else if (err != VC_ERR_INVALID && err != VC_ERR_TOO_BIG) {
		abort();
	} else {
		/* Every refusal has a message, and it renders as an error object. */
		if (vc_last_error()[0] == '\0' ||
		    vc_error_json(22, vc_last_error(), &error_text, &error_len) != VC_OK)
			abort();
		free(error_text);
	}
	vc_parsed_query_free(&q);
	return 0;
}
