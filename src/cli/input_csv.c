/*
 * CSV input: each line is an id followed by the vector's values ("doc-1,0.5,-1.25,...").
 * The id may be quoted ("a,b" with "" for a quote). The first line may be a header, and is
 * taken as one only when its second field is not a number. CSV rows carry no metadata.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/input.h"
#include "util/error_i.h"

typedef struct csv_state {
	vc_line_reader lines;
	vc_float_buf vector;
} csv_state;

static vc_err csv_open(vc_input *input)
{
	input->priv = calloc(1, sizeof(csv_state));
	if (input->priv == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory opening %s", input->path);
	return VC_OK;
}

/*
 * Split off the id field. Unquoted: up to the first comma. Quoted: unescape "" in place.
 * *rest points after the comma that ends the id, or is NULL when the line has no comma.
 */
static vc_err csv_id(const vc_input *input, char *line, char **id, char **rest)
{
	char *comma;

	if (line[0] != '"') {
		comma = strchr(line, ',');
		*id = line;
		*rest = NULL;
		if (comma != NULL) {
			*comma = '\0';
			*rest = comma + 1;
		}
		return VC_OK;
	}
	char *src = line + 1;
	char *dst = line;

	for (;;) {
		if (*src == '\0')
			return vc_input_fail(input, VC_ERR_INVALID, "unterminated quoted id");
		if (*src == '"' && src[1] == '"') {
			*dst++ = '"';
			src += 2;
		} else if (*src == '"') {
			src++;
			break;
		} else {
			*dst++ = *src++;
		}
	}
	*dst = '\0';
	*id = line;
	if (*src == '\0') {
		*rest = NULL;
		return VC_OK;
	}
	if (*src != ',')
		return vc_input_fail(input, VC_ERR_INVALID,
				     "unexpected text after the quoted id (expected a comma)");
	*rest = src + 1;
	return VC_OK;
}

/* Parse one value field (surrounding blanks allowed). false if it is not a number at all. */
static bool csv_number(const char *field, size_t len, float *out, bool *range)
{
	char text[128];
	char *end;

	while (len > 0 && (*field == ' ' || *field == '\t')) {
		field++;
		len--;
	}
	while (len > 0 && (field[len - 1] == ' ' || field[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(text))
		return false;
	memcpy(text, field, len);
	text[len] = '\0';
	errno = 0;
	*out = strtof(text, &end);
	*range = errno == ERANGE && isinf(*out);
	return *end == '\0';
}

/* Is the second field of the first line not a number (so the line is a header)? */
static bool csv_is_header(const char *rest)
{
	const char *comma = strchr(rest, ',');
	size_t len = comma != NULL ? (size_t)(comma - rest) : strlen(rest);
	float value;
	bool range;

	return !csv_number(rest, len, &value, &range);
}

static vc_err csv_values(vc_input *input, csv_state *state, const char *rest)
{
	size_t index = 0;
	vc_err err;

	state->vector.len = 0;
	for (;;) {
		const char *comma = strchr(rest, ',');
		size_t len = comma != NULL ? (size_t)(comma - rest) : strlen(rest);
		float value;
		bool range;

		index++;
		if (!csv_number(rest, len, &value, &range))
			return vc_input_fail(input, VC_ERR_INVALID,
					     "value %zu (\"%.*s\") is not a number", index,
					     (int)(len > 40 ? 40 : len), rest);
		if (range)
			return vc_input_fail(input, VC_ERR_INVALID,
					     "value %zu is outside the float32 range", index);
		if (index > VC_INPUT_MAX_DIM)
			return vc_input_fail(input, VC_ERR_INVALID,
					     "more than %u values on the line", VC_INPUT_MAX_DIM);
		err = vc_float_buf_push(&state->vector, value);
		if (err != VC_OK)
			return err;
		if (comma == NULL)
			break;
		rest = comma + 1;
	}
	err = vc_input_check_finite(input, state->vector.data, (uint32_t)state->vector.len);
	if (err != VC_OK)
		return err;
	return vc_input_check_dim(input, (uint32_t)state->vector.len);
}

static vc_err csv_next(vc_input *input, vc_input_record *record, bool *eof)
{
	csv_state *state = input->priv;
	char *line;
	char *id = NULL;
	char *rest = NULL;
	size_t len;
	vc_err err;

	for (;;) {
		err = vc_line_next(input, &state->lines, &line, &len, eof);
		if (err != VC_OK || *eof)
			return err;
		if (len == 0)
			continue;
		if (memchr(line, '\0', len) != NULL)
			return vc_input_fail(input, VC_ERR_INVALID, "line contains a NUL byte");
		err = csv_id(input, line, &id, &rest);
		if (err != VC_OK)
			return err;
		if (rest == NULL)
			return vc_input_fail(input, VC_ERR_INVALID,
					     "expected an id followed by the vector's values");
		if (input->position == 1 && csv_is_header(rest))
			continue;
		break;
	}
	if (id[0] == '\0')
		return vc_input_fail(input, VC_ERR_INVALID, "the id (first field) is empty");
	err = csv_values(input, state, rest);
	if (err != VC_OK)
		return err;
	record->id = id;
	record->vector = state->vector.data;
	record->dim = (uint32_t)state->vector.len;
	record->metadata = NULL;
	return VC_OK;
}

static void csv_close(vc_input *input)
{
	csv_state *state = input->priv;

	if (state == NULL)
		return;
	vc_line_reader_free(&state->lines);
	vc_float_buf_free(&state->vector);
	free(state);
	input->priv = NULL;
}

const vc_input_ops vc_input_csv_ops = {
    .open = csv_open,
    .next = csv_next,
    .close = csv_close,
};
