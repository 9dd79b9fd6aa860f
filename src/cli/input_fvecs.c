/*
 * .fvecs input: each row is a little-endian int32 dimension followed by that many
 * little-endian float32 values. Row i gets the id "i".
 */
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "cli/input.h"
#include "util/error_i.h"

typedef struct fvecs_state {
	vc_float_buf vector;
	uint64_t rows; /* rows read so far */
	char id[24];
} fvecs_state;

static vc_err fvecs_open(vc_input *input)
{
	input->priv = calloc(1, sizeof(fvecs_state));
	if (input->priv == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory opening %s", input->path);
	return VC_OK;
}

static vc_err fvecs_next(vc_input *input, vc_input_record *record, bool *eof)
{
	fvecs_state *state = input->priv;
	uint32_t raw_dim;
	int32_t dim;
	size_t got;
	vc_err err;

	input->position = state->rows;
	err = vc_input_read_exact(input, &raw_dim, sizeof(raw_dim), &got);
	if (err != VC_OK)
		return err;
	if (got == 0) {
		*eof = true;
		return VC_OK;
	}
	if (got < sizeof(raw_dim))
		return vc_input_fail(input, VC_ERR_INVALID,
				     "truncated row: the file ends inside the dimension field");
	dim = (int32_t)le32toh(raw_dim);
	if (dim <= 0 || (uint32_t)dim > VC_INPUT_MAX_DIM)
		return vc_input_fail(input, VC_ERR_INVALID,
				     "bad dimension %d (expected 1..%u): not an .fvecs file?", dim,
				     VC_INPUT_MAX_DIM);
	err = vc_input_check_dim(input, (uint32_t)dim);
	if (err != VC_OK)
		return err;
	err = vc_float_buf_reserve(&state->vector, (size_t)dim);
	if (err != VC_OK)
		return err;
	err = vc_input_read_exact(input, state->vector.data, (size_t)dim * sizeof(float), &got);
	if (err != VC_OK)
		return err;
	if (got < (size_t)dim * sizeof(float))
		return vc_input_fail(input, VC_ERR_INVALID,
				     "truncated row: %zu of %zu bytes of vector data", got,
				     (size_t)dim * sizeof(float));
	for (int32_t i = 0; i < dim; i++) {
		uint32_t bits;

		memcpy(&bits, &state->vector.data[i], sizeof(bits));
		bits = le32toh(bits);
		memcpy(&state->vector.data[i], &bits, sizeof(bits));
	}
	state->vector.len = (size_t)dim;
	err = vc_input_check_finite(input, state->vector.data, (uint32_t)dim);
	if (err != VC_OK)
		return err;
	snprintf(state->id, sizeof(state->id), "%llu", (unsigned long long)state->rows);
	state->rows++;
	record->id = state->id;
	record->vector = state->vector.data;
	record->dim = (uint32_t)dim;
	record->metadata = NULL;
	return VC_OK;
}

static void fvecs_close(vc_input *input)
{
	fvecs_state *state = input->priv;

	if (state == NULL)
		return;
	vc_float_buf_free(&state->vector);
	free(state);
	input->priv = NULL;
}

const vc_input_ops vc_input_fvecs_ops = {
    .open = fvecs_open,
    .next = fvecs_next,
    .close = fvecs_close,
};
