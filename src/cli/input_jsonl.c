/*
 * JSON Lines input: one {"id": "...", "vector": [...], "metadata": {...}} object per line.
 * "metadata" is optional (an object, or null); blank lines are skipped; other fields are
 * refused so a misspelt field name is caught rather than silently dropped.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/input.h"
#include "util/error_i.h"

typedef struct jsonl_state {
	vc_line_reader lines;
	vc_float_buf vector;
	json_t *object;	 /* the current line, holding id and metadata */
	char number[24]; /* integer ids converted to text */
} jsonl_state;

static vc_err jsonl_open(vc_input *input)
{
	input->priv = calloc(1, sizeof(jsonl_state));
	if (input->priv == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory opening %s", input->path);
	return VC_OK;
}

static bool is_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t')
			return false;
	}
	return true;
}

static vc_err jsonl_vector(vc_input *input, jsonl_state *state, const json_t *array)
{
	size_t count;
	vc_err err;

	if (!json_is_array(array))
		return vc_input_fail(input, VC_ERR_INVALID,
				     "\"vector\" must be an array of numbers");
	count = json_array_size(array);
	if (count > VC_INPUT_MAX_DIM)
		return vc_input_fail(input, VC_ERR_INVALID,
				     "vector has %zu values, more than the %u supported", count,
				     VC_INPUT_MAX_DIM);
	err = vc_float_buf_reserve(&state->vector, count);
	if (err != VC_OK)
		return err;
	state->vector.len = 0;
	for (size_t i = 0; i < count; i++) {
		const json_t *value = json_array_get(array, i);
		double number;
		float f;

		if (!json_is_number(value))
			return vc_input_fail(input, VC_ERR_INVALID,
					     "value %zu of \"vector\" is not a number", i + 1);
		number = json_number_value(value);
		f = (float)number;
		if (!isfinite(f))
			return vc_input_fail(input, VC_ERR_INVALID,
					     "value %zu (%g) is outside the float32 range", i + 1,
					     number);
		state->vector.data[state->vector.len++] = f;
	}
	return vc_input_check_dim(input, (uint32_t)count);
}

static vc_err jsonl_id(vc_input *input, jsonl_state *state, const json_t *id, const char **out)
{
	if (json_is_integer(id)) {
		snprintf(state->number, sizeof(state->number), "%lld",
			 (long long)json_integer_value(id));
		*out = state->number;
		return VC_OK;
	}
	if (!json_is_string(id))
		return vc_input_fail(input, VC_ERR_INVALID, "\"id\" is missing or not a string");
	if (json_string_length(id) == 0)
		return vc_input_fail(input, VC_ERR_INVALID, "\"id\" is empty");
	if (strlen(json_string_value(id)) != json_string_length(id))
		return vc_input_fail(input, VC_ERR_INVALID, "\"id\" contains a NUL character");
	*out = json_string_value(id);
	return VC_OK;
}

static vc_err jsonl_record(vc_input *input, jsonl_state *state, vc_input_record *record)
{
	const char *key;
	json_t *value;
	json_t *metadata;
	vc_err err;

	if (!json_is_object(state->object))
		return vc_input_fail(input, VC_ERR_INVALID,
				     "expected a JSON object {\"id\": ..., \"vector\": [...]}");
	json_object_foreach(state->object, key, value)
	{
		if (strcmp(key, "id") != 0 && strcmp(key, "vector") != 0 &&
		    strcmp(key, "metadata") != 0)
			return vc_input_fail(input, VC_ERR_INVALID,
					     "unknown field \"%s\" (expected \"id\", \"vector\", "
					     "\"metadata\")",
					     key);
	}
	err = jsonl_id(input, state, json_object_get(state->object, "id"), &record->id);
	if (err != VC_OK)
		return err;
	if (json_object_get(state->object, "vector") == NULL)
		return vc_input_fail(input, VC_ERR_INVALID, "\"vector\" is missing");
	err = jsonl_vector(input, state, json_object_get(state->object, "vector"));
	if (err != VC_OK)
		return err;
	metadata = json_object_get(state->object, "metadata");
	if (metadata != NULL && !json_is_object(metadata) && !json_is_null(metadata))
		return vc_input_fail(input, VC_ERR_INVALID, "\"metadata\" must be an object");
	record->vector = state->vector.data;
	record->dim = (uint32_t)state->vector.len;
	record->metadata = json_is_object(metadata) ? metadata : NULL;
	return VC_OK;
}

static vc_err jsonl_next(vc_input *input, vc_input_record *record, bool *eof)
{
	jsonl_state *state = input->priv;
	json_error_t error;
	char *line;
	size_t len;
	vc_err err;

	json_decref(state->object);
	state->object = NULL;
	do {
		err = vc_line_next(input, &state->lines, &line, &len, eof);
		if (err != VC_OK || *eof)
			return err;
	} while (is_blank(line, len));

	state->object = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
	if (state->object == NULL)
		return vc_input_fail(input, VC_ERR_INVALID, "malformed JSON at column %d: %s",
				     error.column, error.text);
	return jsonl_record(input, state, record);
}

static void jsonl_close(vc_input *input)
{
	jsonl_state *state = input->priv;

	if (state == NULL)
		return;
	json_decref(state->object);
	vc_line_reader_free(&state->lines);
	vc_float_buf_free(&state->vector);
	free(state);
	input->priv = NULL;
}

const vc_input_ops vc_input_jsonl_ops = {
    .open = jsonl_open,
    .next = jsonl_next,
    .close = jsonl_close,
};
