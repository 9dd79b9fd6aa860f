/* Parsing one query from bytes (see query_parse.h for the forms and the raw float32 rule).
 * The same code reads `vchunk query` arguments and the mount's query files, so both accept
 * and refuse exactly the same inputs with the same messages. */
#include "search/query_parse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error_i.h"

#define WHITESPACE " \t\n\v\f\r"

size_t vc_query_input_limit(uint32_t dim)
{
	size_t text = (size_t)dim * VC_QUERY_BYTES_PER_VALUE + 64u * 1024u;

	return text > VC_QUERY_MIN_LIMIT ? text : VC_QUERY_MIN_LIMIT;
}

void vc_parsed_query_free(vc_parsed_query *q)
{
	if (q == NULL)
		return;
	json_decref(q->doc);
	free(q->vector);
	memset(q, 0, sizeof(*q));
}

static vc_err push_value(vc_parsed_query *q, double value, size_t index, const char *where)
{
	float f = (float)value;

	if (!isfinite(f))
		return vc_fail(VC_ERR_INVALID,
			       "%s: value %zu of the query is not a finite float32 number", where,
			       index + 1);
	if (q->query.dim == q->cap) {
		size_t cap = q->cap == 0 ? 64 : q->cap * 2;
		float *grown = realloc(q->vector, cap * sizeof(float));

		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "%s: out of memory reading the query", where);
		q->vector = grown;
		q->cap = cap;
	}
	q->vector[q->query.dim++] = f;
	return VC_OK;
}

/* Can these bytes be text? No NUL or other control character but whitespace, no DEL, and
 * valid UTF-8 (overlong forms and surrogates included as invalid). */
static bool looks_like_text(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = p[i];
		size_t more;
		uint32_t cp;

		if (c < 0x80) {
			if ((c < 0x20 && strchr(WHITESPACE, c) == NULL) || c == 0 || c == 0x7f)
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			more = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			more = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			more = 3, cp = c & 0x07;
		else
			return false;
		if (len - i <= more)
			return false;
		for (size_t j = 1; j <= more; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (more == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += more + 1;
	}
	return true;
}

static vc_err parse_raw(const uint8_t *p, size_t len, const char *where, vc_parsed_query *q)
{
	vc_err err = VC_OK;

	for (size_t i = 0; i + 4 <= len && err == VC_OK; i += 4) {
		uint32_t bits = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 |
				(uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 24;
		float f;

		memcpy(&f, &bits, sizeof(f));
		err = push_value(q, f, i / 4, where);
	}
	return err;
}

static vc_err json_vector(const json_t *array, const char *where, vc_parsed_query *q)
{
	size_t i;
	json_t *value;
	vc_err err;

	if (!json_is_array(array))
		return vc_fail(VC_ERR_INVALID, "%s: \"vector\" must be an array of numbers", where);
	q->query.dim = 0;
	json_array_foreach(array, i, value)
	{
		if (!json_is_number(value))
			return vc_fail(VC_ERR_INVALID,
				       "%s: value %zu of the query is not a finite float32 number",
				       where, i + 1);
		err = push_value(q, json_number_value(value), i, where);
		if (err != VC_OK)
			return err;
	}
	return VC_OK;
}

static vc_err json_count(const json_t *value, const char *key, const char *where, uint32_t *out)
{
	json_int_t n = json_integer_value(value);

	if (!json_is_integer(value) || n < 1 || n > (json_int_t)UINT32_MAX)
		return vc_fail(VC_ERR_INVALID, "%s: \"%s\" must be a whole number >= 1", where,
			       key);
	*out = (uint32_t)n;
	return VC_OK;
}

/* One setting of a query object {"vector": [...], "k": 5, "filter": {...}, ...}. */
static vc_err query_setting(vc_parsed_query *q, const char *key, json_t *value, const char *where,
			    bool *has_vector)
{
	if (strcmp(key, "vector") == 0) {
		*has_vector = true;
		return json_vector(value, where, q);
	}
	if (strcmp(key, "k") == 0)
		return json_count(value, key, where, &q->query.k);
	if (strcmp(key, "ef") == 0)
		return json_count(value, key, where, &q->query.ef);
	if (strcmp(key, "nprobe") == 0)
		return json_count(value, key, where, &q->query.nprobe);
	if (strcmp(key, "exact") == 0 && json_is_boolean(value)) {
		q->query.exact = json_is_true(value);
		return VC_OK;
	}
	if (strcmp(key, "filter") == 0 && (json_is_object(value) || json_is_null(value))) {
		q->query.filter = json_is_object(value) ? value : NULL;
		return VC_OK;
	}
	if (strcmp(key, "threshold") == 0 && json_is_number(value) &&
	    isfinite((float)json_number_value(value))) {
		q->query.has_threshold = true;
		q->query.threshold = (float)json_number_value(value);
		return VC_OK;
	}
	return vc_fail(
	    VC_ERR_INVALID,
	    "%s: bad query field \"%s\" (expected \"vector\", \"k\", \"filter\", "
	    "\"threshold\", \"exact\", \"ef\", \"nprobe\" with values of the right type)",
	    where, key);
}

static vc_err parse_json(const char *text, size_t len, const char *where, vc_parsed_query *q)
{
	json_error_t error;
	const char *key;
	json_t *value;
	bool has_vector = false;
	vc_err err = VC_OK;

	q->doc = json_loadb(text, len, 0, &error);
	if (q->doc == NULL)
		return vc_fail(VC_ERR_INVALID,
			       "%s: the query must be a JSON array of numbers or an object with "
			       "\"vector\": %s (line %d, column %d)",
			       where, error.text, error.line, error.column);
	if (json_is_array(q->doc))
		return json_vector(q->doc, where, q);
	if (!json_is_object(q->doc))
		return vc_fail(VC_ERR_INVALID,
			       "%s: the query must be a JSON array of numbers or an object with "
			       "\"vector\"",
			       where);
	json_object_foreach(q->doc, key, value)
	{
		err = query_setting(q, key, value, where, &has_vector);
		if (err != VC_OK)
			return err;
	}
	if (!has_vector)
		return vc_fail(VC_ERR_INVALID, "%s: the query object has no \"vector\"", where);
	return VC_OK;
}

/* Numbers separated by whitespace and/or single commas, in plain decimal notation. */
static vc_err parse_plain(const char *text, size_t len, const char *where, vc_parsed_query *q)
{
	size_t i = 0;
	bool comma = false; /* a comma since the last number */
	vc_err err;

	while (i < len) {
		char token[64];
		size_t n;
		char *end;
		double value;

		if (strchr(WHITESPACE, text[i]) != NULL && text[i] != '\0') {
			i++;
			continue;
		}
		if (text[i] == ',') {
			if (comma || q->query.dim == 0)
				return vc_fail(VC_ERR_INVALID,
					       "%s: misplaced ',' at byte %zu of the query", where,
					       i + 1);
			comma = true;
			i++;
			continue;
		}
		n = 0;
		while (i + n < len && strchr("0123456789+-.eE", text[i + n]) != NULL &&
		       text[i + n] != '\0' && n < sizeof(token) - 1) {
			token[n] = text[i + n];
			n++;
		}
		token[n] = '\0';
		value = n > 0 ? strtod(token, &end) : 0;
		if (n == 0 || *end != '\0' ||
		    (i + n < len && strchr(WHITESPACE ",", text[i + n]) == NULL))
			return vc_fail(
			    VC_ERR_INVALID,
			    "%s: the query is not a JSON array, a JSON object or numbers "
			    "separated by spaces or commas (bad number at byte %zu)",
			    where, i + 1);
		err = push_value(q, value, q->query.dim, where);
		if (err != VC_OK)
			return err;
		comma = false;
		i += n;
	}
	if (comma)
		return vc_fail(VC_ERR_INVALID, "%s: the query ends with ','", where);
	return VC_OK;
}

static vc_err parse_text(const char *text, size_t len, const char *where, vc_parsed_query *q)
{
	size_t start = 0;

	while (start < len && strchr(WHITESPACE, text[start]) != NULL && text[start] != '\0')
		start++;
	if (start < len && (text[start] == '[' || text[start] == '{'))
		return parse_json(text, len, where, q);
	return parse_plain(text, len, where, q);
}

/* Start over: the defaults, no vector, no document. */
static void reset(vc_parsed_query *q, const vc_query_parse_options *options)
{
	json_decref(q->doc);
	q->doc = NULL;
	if (options->defaults != NULL)
		q->query = *options->defaults;
	else
		q->query = (vc_query){.k = 10};
	q->query.vector = NULL;
	q->query.dim = 0;
}

static vc_err check_vector(vc_parsed_query *q, const vc_query_parse_options *options,
			   const char *where)
{
	q->query.vector = q->vector;
	if (q->query.dim == 0)
		return vc_fail(VC_ERR_INVALID, "%s: the query vector is empty", where);
	if (options->dim != 0 && q->query.dim != options->dim)
		return vc_fail(
		    VC_ERR_INVALID,
		    "%s: wrong dimension: the query has %u values, the session's vectors "
		    "have %u",
		    where, q->query.dim, options->dim);
	return VC_OK;
}

vc_err vc_query_parse(const void *data, size_t len, const vc_query_parse_options *options,
		      vc_parsed_query *out)
{
	const char *where = options->where != NULL ? options->where : "query";
	bool raw_size = options->allow_raw && options->dim != 0 && len == (size_t)options->dim * 4;
	vc_err err;

	reset(out, options);
	if (len > vc_query_input_limit(options->dim))
		return vc_fail(VC_ERR_TOO_BIG,
			       "%s: the query has %zu bytes, more than the %zu allowed", where, len,
			       vc_query_input_limit(options->dim));
	if (raw_size && !looks_like_text(data, len)) {
		err = parse_raw(data, len, where, out);
		return err == VC_OK ? check_vector(out, options, where) : err;
	}
	err = parse_text(data, len, where, out);
	if (err == VC_OK)
		return check_vector(out, options, where);
	if (raw_size) {
		/* Text that does not parse, of exactly the raw size: raw float32 after all. */
		char text_error[512];

		snprintf(text_error, sizeof(text_error), "%s", vc_last_error());
		reset(out, options);
		if (parse_raw(data, len, where, out) == VC_OK)
			return check_vector(out, options, where);
		return vc_fail(VC_ERR_INVALID, "%s (nor is it %u raw float32 values: %s)",
			       text_error, options->dim, vc_last_error());
	}
	return err;
}
