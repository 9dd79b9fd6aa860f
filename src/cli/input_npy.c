/*
 * .npy input: a NumPy array file holding a 2-D little-endian float32 array in C order. The
 * header is a Python dict literal; it is parsed (not pattern-matched) and must say exactly
 * {'descr': '<f4', 'fortran_order': False, 'shape': (N, D)}. Row i gets the id "i".
 */
#include <ctype.h>
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "cli/input.h"
#include "util/error_i.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER (1u << 20)

typedef struct npy_state {
	vc_float_buf vector;
	uint64_t rows; /* N from the header */
	uint64_t next; /* next row to read */
	char id[24];
} npy_state;

/* The fields a header may set, as parsed. */
typedef struct npy_header {
	char descr[16];
	int fortran_order; /* -1: absent */
	int shape_len;	   /* -1: absent */
	uint64_t shape[2];
} npy_header;

typedef struct npy_parser {
	const vc_input *input;
	const char *p;
	const char *end;
} npy_parser;

static vc_err npy_bad(const npy_parser *ps, const char *what)
{
	return vc_fail(VC_ERR_INVALID, "%s: bad .npy header: %s", ps->input->path, what);
}

static void npy_skip_space(npy_parser *ps)
{
	while (ps->p < ps->end && isspace((unsigned char)*ps->p))
		ps->p++;
}

static bool npy_accept(npy_parser *ps, char c)
{
	npy_skip_space(ps);
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return true;
	}
	return false;
}

static vc_err npy_string(npy_parser *ps, char *out, size_t size)
{
	char quote;
	size_t n = 0;

	npy_skip_space(ps);
	if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
		return npy_bad(ps, "expected a quoted string");
	quote = *ps->p++;
	while (ps->p < ps->end && *ps->p != quote) {
		if (*ps->p == '\\' || n + 1 >= size)
			return npy_bad(ps, "unexpected string");
		out[n++] = *ps->p++;
	}
	if (ps->p >= ps->end)
		return npy_bad(ps, "unterminated string");
	ps->p++;
	out[n] = '\0';
	return VC_OK;
}

static vc_err npy_bool(npy_parser *ps, int *out)
{
	npy_skip_space(ps);
	if (ps->end - ps->p >= 4 && memcmp(ps->p, "True", 4) == 0) {
		ps->p += 4;
		*out = 1;
	} else if (ps->end - ps->p >= 5 && memcmp(ps->p, "False", 5) == 0) {
		ps->p += 5;
		*out = 0;
	} else {
		return npy_bad(ps, "'fortran_order' must be True or False");
	}
	return VC_OK;
}

static vc_err npy_shape(npy_parser *ps, npy_header *h)
{
	int count = 0;

	if (!npy_accept(ps, '('))
		return npy_bad(ps, "'shape' must be a tuple");
	while (!npy_accept(ps, ')')) {
		uint64_t value = 0;

		npy_skip_space(ps);
		if (ps->p >= ps->end || !isdigit((unsigned char)*ps->p))
			return npy_bad(ps, "'shape' must hold non-negative integers");
		while (ps->p < ps->end && isdigit((unsigned char)*ps->p)) {
			if (value > (UINT64_MAX - 9) / 10)
				return npy_bad(ps, "'shape' value too large");
			value = value * 10 + (uint64_t)(*ps->p++ - '0');
		}
		if (ps->p < ps->end && *ps->p == 'L')
			ps->p++;
		if (count < 2)
			h->shape[count] = value;
		count++;
		if (!npy_accept(ps, ',')) {
			if (!npy_accept(ps, ')'))
				return npy_bad(ps, "expected ',' or ')' in 'shape'");
			break;
		}
	}
	h->shape_len = count;
	return VC_OK;
}

static vc_err npy_entry(npy_parser *ps, npy_header *h)
{
	char key[32];
	vc_err err = npy_string(ps, key, sizeof(key));

	if (err != VC_OK)
		return err;
	if (!npy_accept(ps, ':'))
		return npy_bad(ps, "expected ':' after a key");
	if (strcmp(key, "descr") == 0 && h->descr[0] == '\0')
		return npy_string(ps, h->descr, sizeof(h->descr));
	if (strcmp(key, "fortran_order") == 0 && h->fortran_order < 0)
		return npy_bool(ps, &h->fortran_order);
	if (strcmp(key, "shape") == 0 && h->shape_len < 0)
		return npy_shape(ps, h);
	return npy_bad(ps, "unknown or repeated key (expected 'descr', 'fortran_order', 'shape')");
}

static vc_err npy_parse_dict(npy_parser *ps, npy_header *h)
{
	vc_err err;

	if (!npy_accept(ps, '{'))
		return npy_bad(ps, "expected a dict");
	while (!npy_accept(ps, '}')) {
		err = npy_entry(ps, h);
		if (err != VC_OK)
			return err;
		if (!npy_accept(ps, ',')) {
			if (!npy_accept(ps, '}'))
				return npy_bad(ps, "expected ',' or '}'");
			break;
		}
	}
	npy_skip_space(ps);
	if (ps->p != ps->end)
		return npy_bad(ps, "text after the dict");
	if (h->descr[0] == '\0' || h->fortran_order < 0 || h->shape_len < 0)
		return npy_bad(ps, "'descr', 'fortran_order' and 'shape' are all required");
	return VC_OK;
}

static vc_err npy_check(const vc_input *input, const npy_header *h)
{
	if (strcmp(h->descr, "<f4") != 0)
		return vc_fail(VC_ERR_INVALID,
			       "%s: array dtype is '%s'; only little-endian float32 ('<f4') is "
			       "supported (numpy: a.astype('<f4'))",
			       input->path, h->descr);
	if (h->fortran_order)
		return vc_fail(VC_ERR_INVALID,
			       "%s: array is in Fortran order; save it in C order "
			       "(numpy.ascontiguousarray)",
			       input->path);
	if (h->shape_len != 2)
		return vc_fail(VC_ERR_INVALID,
			       "%s: array has %d dimensions; expected 2 (rows, dim)", input->path,
			       h->shape_len);
	if (h->shape[1] == 0 || h->shape[1] > VC_INPUT_MAX_DIM)
		return vc_fail(VC_ERR_INVALID, "%s: vector dimension %llu is not in 1..%u",
			       input->path, (unsigned long long)h->shape[1], VC_INPUT_MAX_DIM);
	if (h->shape[0] > UINT64_MAX / 4 / h->shape[1])
		return vc_fail(VC_ERR_INVALID, "%s: shape too large", input->path);
	return VC_OK;
}

static vc_err npy_read_header(vc_input *input, npy_header *h)
{
	unsigned char prefix[NPY_MAGIC_LEN + 2 + 4];
	size_t len_bytes;
	uint32_t header_len;
	npy_parser ps = {.input = input};
	char *text;
	size_t got;
	vc_err err;

	err = vc_input_read_exact(input, prefix, NPY_MAGIC_LEN + 2, &got);
	if (err != VC_OK)
		return err;
	if (got < NPY_MAGIC_LEN + 2 || memcmp(prefix, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
		return vc_fail(VC_ERR_INVALID, "%s: not a .npy file (bad magic)", input->path);
	if (prefix[6] < 1 || prefix[6] > 3)
		return vc_fail(VC_ERR_UNSUPPORTED, "%s: .npy format version %u is not supported",
			       input->path, prefix[6]);
	len_bytes = prefix[6] == 1 ? 2 : 4;
	err = vc_input_read_exact(input, prefix + 8, len_bytes, &got);
	if (err != VC_OK)
		return err;
	if (got < len_bytes)
		return vc_fail(VC_ERR_INVALID, "%s: bad .npy header: truncated", input->path);
	header_len = len_bytes == 2 ? (uint32_t)(prefix[8] | prefix[9] << 8)
				    : (uint32_t)prefix[8] | (uint32_t)prefix[9] << 8 |
					  (uint32_t)prefix[10] << 16 | (uint32_t)prefix[11] << 24;
	if (header_len == 0 || header_len > NPY_MAX_HEADER)
		return vc_fail(VC_ERR_INVALID, "%s: bad .npy header: length %u", input->path,
			       header_len);
	text = malloc(header_len);
	if (text == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory reading %s", input->path);
	err = vc_input_read_exact(input, text, header_len, &got);
	if (err == VC_OK && got < header_len)
		err = vc_fail(VC_ERR_INVALID, "%s: bad .npy header: truncated", input->path);
	if (err == VC_OK) {
		ps.p = text;
		ps.end = text + header_len;
		err = npy_parse_dict(&ps, h);
	}
	free(text);
	return err;
}

static vc_err npy_open(vc_input *input)
{
	npy_header h = {.fortran_order = -1, .shape_len = -1};
	npy_state *state;
	uint64_t data_bytes;
	vc_err err;

	err = npy_read_header(input, &h);
	if (err != VC_OK)
		return err;
	err = npy_check(input, &h);
	if (err != VC_OK)
		return err;
	data_bytes = h.shape[0] * h.shape[1] * sizeof(float);
	if (input->size > 0 && input->size - input->consumed > data_bytes)
		return vc_fail(
		    VC_ERR_INVALID, "%s: %llu bytes after the last row of the (%llu, %llu) array",
		    input->path, (unsigned long long)(input->size - input->consumed - data_bytes),
		    (unsigned long long)h.shape[0], (unsigned long long)h.shape[1]);
	state = calloc(1, sizeof(*state));
	if (state == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory opening %s", input->path);
	state->rows = h.shape[0];
	input->dim = (uint32_t)h.shape[1];
	input->priv = state;
	err = vc_float_buf_reserve(&state->vector, input->dim);
	return err;
}

static vc_err npy_next(vc_input *input, vc_input_record *record, bool *eof)
{
	npy_state *state = input->priv;
	size_t bytes = (size_t)input->dim * sizeof(float);
	size_t got;
	vc_err err;

	input->position = state->next;
	if (state->next == state->rows) {
		*eof = true;
		return VC_OK;
	}
	err = vc_input_read_exact(input, state->vector.data, bytes, &got);
	if (err != VC_OK)
		return err;
	if (got < bytes)
		return vc_input_fail(input, VC_ERR_INVALID,
				     "truncated: the file ends %zu bytes into the row, %llu rows "
				     "expected from the header",
				     got, (unsigned long long)state->rows);
	for (uint32_t i = 0; i < input->dim; i++) {
		uint32_t bits;

		memcpy(&bits, &state->vector.data[i], sizeof(bits));
		bits = le32toh(bits);
		memcpy(&state->vector.data[i], &bits, sizeof(bits));
	}
	err = vc_input_check_finite(input, state->vector.data, input->dim);
	if (err != VC_OK)
		return err;
	snprintf(state->id, sizeof(state->id), "%llu", (unsigned long long)state->next);
	state->next++;
	record->id = state->id;
	record->vector = state->vector.data;
	record->dim = input->dim;
	record->metadata = NULL;
	return VC_OK;
}

static void npy_close(vc_input *input)
{
	npy_state *state = input->priv;

	if (state == NULL)
		return;
	vc_float_buf_free(&state->vector);
	free(state);
	input->priv = NULL;
}

const vc_input_ops vc_input_npy_ops = {
    .open = npy_open,
    .next = npy_next,
    .close = npy_close,
};
