/* Opening an import file by its extension, and the helpers every reader shares. */
#include "cli/input.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/error_i.h"

static const struct {
	const char *extension;
	vc_input_format format;
	const vc_input_ops *ops;
} formats[] = {
    {".jsonl", VC_INPUT_JSONL, &vc_input_jsonl_ops},
    {".csv", VC_INPUT_CSV, &vc_input_csv_ops},
    {".fvecs", VC_INPUT_FVECS, &vc_input_fvecs_ops},
    {".npy", VC_INPUT_NPY, &vc_input_npy_ops},
};

#define FORMAT_COUNT (sizeof(formats) / sizeof(formats[0]))

vc_err vc_input_format_from_path(const char *path, vc_input_format *out)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < FORMAT_COUNT; i++) {
		size_t ext_len = strlen(formats[i].extension);

		if (len > ext_len && strcasecmp(path + len - ext_len, formats[i].extension) == 0) {
			*out = formats[i].format;
			return VC_OK;
		}
	}
	return vc_fail(
	    VC_ERR_INVALID,
	    "%s: unknown input format (the name must end in .jsonl, .csv, .fvecs or .npy)", path);
}

const char *vc_input_format_name(vc_input_format format)
{
	for (size_t i = 0; i < FORMAT_COUNT; i++) {
		if (formats[i].format == format)
			return formats[i].extension + 1;
	}
	return "unknown";
}

vc_err vc_input_open(const char *path, vc_input **out)
{
	vc_input_format format;
	vc_err err = vc_input_format_from_path(path, &format);

	if (err != VC_OK)
		return err;
	return vc_input_open_format(path, format, out);
}

vc_err vc_input_open_format(const char *path, vc_input_format format, vc_input **out)
{
	vc_input *input;
	struct stat st;
	vc_err err;

	*out = NULL;
	input = calloc(1, sizeof(*input));
	if (input == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory opening %s", path);
	for (size_t i = 0; i < FORMAT_COUNT; i++) {
		if (formats[i].format == format)
			input->ops = formats[i].ops;
	}
	input->format = format;
	input->path = strdup(path);
	if (input->ops == NULL || input->path == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory opening %s", path);
		goto fail_input;
	}
	input->file = fopen(path, "rb");
	if (input->file == NULL) {
		err = vc_fail(errno == ENOENT ? VC_ERR_NOT_FOUND : VC_ERR_IO, "%s: %s", path,
			      strerror(errno));
		goto fail_input;
	}
	if (fstat(fileno(input->file), &st) == 0 && S_ISREG(st.st_mode))
		input->size = (uint64_t)st.st_size;
	err = input->ops->open(input);
	if (err != VC_OK)
		goto fail_priv;
	*out = input;
	return VC_OK;

fail_priv:
	/* close() frees whatever open() got as far as allocating */
	input->ops->close(input);
	fclose(input->file);
fail_input:
	free(input->path);
	free(input);
	return err;
}

vc_err vc_input_next(vc_input *input, vc_input_record *record, bool *eof)
{
	memset(record, 0, sizeof(*record));
	*eof = false;
	return input->ops->next(input, record, eof);
}

static bool is_text(const vc_input *input)
{
	return input->format == VC_INPUT_JSONL || input->format == VC_INPUT_CSV;
}

void vc_input_where(const vc_input *input, char *buf, size_t size)
{
	if (is_text(input))
		snprintf(buf, size, "%s:%llu", input->path, (unsigned long long)input->position);
	else
		snprintf(buf, size, "%s: row %llu", input->path,
			 (unsigned long long)input->position);
}

uint64_t vc_input_offset(const vc_input *input)
{
	return input->consumed;
}

void vc_input_close(vc_input *input)
{
	if (input == NULL)
		return;
	if (input->ops != NULL && input->ops->close != NULL)
		input->ops->close(input);
	if (input->file != NULL)
		fclose(input->file);
	free(input->path);
	free(input);
}

vc_err vc_input_fail(const vc_input *input, vc_err err, const char *fmt, ...)
{
	char where[512];
	char message[768];
	va_list ap;

	vc_input_where(input, where, sizeof(where));
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return vc_fail(err, "%s: %s", where, message);
}

vc_err vc_input_check_dim(vc_input *input, uint32_t dim)
{
	if (dim == 0)
		return vc_input_fail(input, VC_ERR_INVALID, "vector is empty");
	if (dim > VC_INPUT_MAX_DIM)
		return vc_input_fail(input, VC_ERR_INVALID,
				     "vector has %u values, more than the %u supported", dim,
				     VC_INPUT_MAX_DIM);
	if (input->dim == 0)
		input->dim = dim;
	else if (dim != input->dim)
		return vc_input_fail(input, VC_ERR_INVALID, "vector has %u values, expected %u",
				     dim, input->dim);
	return VC_OK;
}

vc_err vc_input_check_finite(const vc_input *input, const float *vector, uint32_t dim)
{
	for (uint32_t i = 0; i < dim; i++) {
		if (!isfinite(vector[i]))
			return vc_input_fail(input, VC_ERR_INVALID,
					     "value %u is %s (only finite numbers are allowed)",
					     i + 1, isnan(vector[i]) ? "NaN" : "infinite");
	}
	return VC_OK;
}

vc_err vc_float_buf_reserve(vc_float_buf *buf, size_t count)
{
	float *grown;
	size_t cap;

	if (count <= buf->cap)
		return VC_OK;
	cap = buf->cap ? buf->cap : 64;
	while (cap < count)
		cap *= 2;
	grown = realloc(buf->data, cap * sizeof(float));
	if (grown == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for a vector of %zu values", count);
	buf->data = grown;
	buf->cap = cap;
	return VC_OK;
}

vc_err vc_float_buf_push(vc_float_buf *buf, float value)
{
	if (buf->len == buf->cap) {
		vc_err err = vc_float_buf_reserve(buf, buf->len + 1);

		if (err != VC_OK)
			return err;
	}
	buf->data[buf->len++] = value;
	return VC_OK;
}

void vc_float_buf_free(vc_float_buf *buf)
{
	free(buf->data);
	memset(buf, 0, sizeof(*buf));
}

/* Move unread bytes to the front and read more, growing the buffer when a line fills it. */
static vc_err line_fill(vc_input *input, vc_line_reader *reader)
{
	size_t got;

	if (reader->start > 0) {
		memmove(reader->buf, reader->buf + reader->start, reader->end - reader->start);
		reader->end -= reader->start;
		reader->start = 0;
	}
	if (reader->end + 1 >= reader->cap) {
		size_t cap = reader->cap ? reader->cap * 2 : 1u << 20;
		char *grown;

		if (reader->cap >= VC_INPUT_MAX_LINE)
			return vc_fail(VC_ERR_TOO_BIG, "%s:%llu: line longer than %u bytes",
				       input->path, (unsigned long long)input->position + 1,
				       VC_INPUT_MAX_LINE);
		grown = realloc(reader->buf, cap);
		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory reading %s", input->path);
		reader->buf = grown;
		reader->cap = cap;
	}
	got = fread(reader->buf + reader->end, 1, reader->cap - 1 - reader->end, input->file);
	reader->end += got;
	if (got == 0) {
		if (ferror(input->file))
			return vc_fail(VC_ERR_IO, "reading %s: %s", input->path, strerror(errno));
		reader->at_eof = true;
	}
	return VC_OK;
}

vc_err vc_line_next(vc_input *input, vc_line_reader *reader, char **line, size_t *len, bool *eof)
{
	size_t scanned = 0;

	*eof = false;
	if (reader->buf == NULL) {
		vc_err err = line_fill(input, reader);

		if (err != VC_OK)
			return err;
	}
	for (;;) {
		char *base = reader->buf + reader->start;
		size_t avail = reader->end - reader->start;
		char *nl = avail > scanned ? memchr(base + scanned, '\n', avail - scanned) : NULL;
		size_t n;
		vc_err err;

		if (nl != NULL || (reader->at_eof && avail > 0)) {
			n = nl != NULL ? (size_t)(nl - base) : avail;
			reader->start += n + (nl != NULL);
			input->consumed += n + (nl != NULL);
			if (n > 0 && base[n - 1] == '\r')
				n--;
			base[n] = '\0';
			input->position++;
			*line = base;
			*len = n;
			return VC_OK;
		}
		if (reader->at_eof) {
			*eof = true;
			return VC_OK;
		}
		scanned = avail;
		err = line_fill(input, reader);
		if (err != VC_OK)
			return err;
	}
}

void vc_line_reader_free(vc_line_reader *reader)
{
	free(reader->buf);
	memset(reader, 0, sizeof(*reader));
}

vc_err vc_input_read_exact(vc_input *input, void *buf, size_t len, size_t *got)
{
	*got = fread(buf, 1, len, input->file);
	input->consumed += *got;
	if (*got < len && ferror(input->file))
		return vc_fail(VC_ERR_IO, "reading %s: %s", input->path, strerror(errno));
	return VC_OK;
}
