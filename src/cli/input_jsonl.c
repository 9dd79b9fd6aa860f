/*
 * JSON Lines input: one {"id": "...", "vector": [...], "metadata": {...}} object per line.
 * "metadata" is optional (an object, or null); blank lines are skipped; other fields are
 * refused so a misspelt field name is caught rather than silently dropped.
 *
 * The line is scanned here rather than by jansson: a generic parser allocates a JSON value
 * per vector element, which made parsing most of an import's time. The scanner follows the
 * JSON grammar strictly (RFC 8259 numbers, strings with escapes, no duplicate fields) and
 * converts each number straight to the nearest float32. Only the metadata value is handed to
 * jansson, as the exact bytes of that value.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/input.h"
#include "util/error_i.h"

/* Nesting allowed inside metadata before the scanner gives up (jansson has its own limit). */
#define JSONL_MAX_DEPTH 2048

/* A growable, NUL-terminated text buffer for decoded strings. */
typedef struct text_buf {
	char *data;
	size_t cap;
} text_buf;

typedef struct jsonl_state {
	vc_line_reader lines;
	vc_float_buf vector;
	text_buf id;	  /* decoded id of the current line */
	text_buf key;	  /* the field name being read */
	json_t *metadata; /* metadata of the current line, or NULL */
} jsonl_state;

typedef struct scanner {
	vc_input *input;
	jsonl_state *state;
	const char *line;
	const char *p;
	const char *end;
} scanner;

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

static vc_err malformed(const scanner *sc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static vc_err malformed(const scanner *sc, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return vc_input_fail(sc->input, VC_ERR_INVALID, "malformed JSON at column %zu: %s",
			     (size_t)(sc->p - sc->line) + 1, message);
}

static void skip_ws(scanner *sc)
{
	while (sc->p < sc->end &&
	       (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
		sc->p++;
}

static bool accept(scanner *sc, char c)
{
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == c) {
		sc->p++;
		return true;
	}
	return false;
}

static vc_err text_reserve(text_buf *buf, size_t need)
{
	char *grown;
	size_t cap = buf->cap ? buf->cap : 64;

	if (need <= buf->cap)
		return VC_OK;
	while (cap < need)
		cap *= 2;
	grown = realloc(buf->data, cap);
	if (grown == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for a string of %zu bytes", need);
	buf->data = grown;
	buf->cap = cap;
	return VC_OK;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static bool hex4(const char *p, const char *end, uint32_t *out)
{
	uint32_t value = 0;

	if (end - p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		uint32_t digit;

		if (c >= '0' && c <= '9')
			digit = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			digit = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			digit = (uint32_t)(c - 'A' + 10);
		else
			return false;
		value = value << 4 | digit;
	}
	*out = value;
	return true;
}

/* A \uXXXX escape (sc->p just past the 'u'), surrogate pairs joined, as UTF-8 into @p out. */
static vc_err scan_unicode(scanner *sc, char *out, size_t *n)
{
	uint32_t cp;
	uint32_t low;

	if (!hex4(sc->p, sc->end, &cp))
		return malformed(sc, "bad \\u escape");
	sc->p += 4;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return malformed(sc, "lone low surrogate in \\u escape");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (sc->end - sc->p < 6 || sc->p[0] != '\\' || sc->p[1] != 'u' ||
		    !hex4(sc->p + 2, sc->end, &low) || low < 0xdc00 || low > 0xdfff)
			return malformed(sc, "high surrogate without its low half");
		sc->p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
	}
	if (cp == 0)
		return malformed(sc, "\\u0000 is not allowed in a string here");
	*n = utf8_encode(cp, out);
	return VC_OK;
}

/* A JSON string at sc->p, decoded into @p out (NUL-terminated); *len its byte length. */
static vc_err scan_string(scanner *sc, text_buf *out, size_t *len)
{
	size_t n = 0;
	vc_err err;

	skip_ws(sc);
	if (sc->p >= sc->end || *sc->p != '"')
		return malformed(sc, "expected a string");
	sc->p++;
	for (;;) {
		char c;

		err = text_reserve(out, n + 5);
		if (err != VC_OK)
			return err;
		if (sc->p >= sc->end)
			return malformed(sc, "unterminated string");
		c = *sc->p++;
		if (c == '"')
			break;
		if ((unsigned char)c < 0x20)
			return malformed(sc, "control character in a string");
		if (c != '\\') {
			out->data[n++] = c;
			continue;
		}
		if (sc->p >= sc->end)
			return malformed(sc, "unterminated escape");
		c = *sc->p++;
		switch (c) {
		case '"':
		case '\\':
		case '/': out->data[n++] = c; break;
		case 'b': out->data[n++] = '\b'; break;
		case 'f': out->data[n++] = '\f'; break;
		case 'n': out->data[n++] = '\n'; break;
		case 'r': out->data[n++] = '\r'; break;
		case 't': out->data[n++] = '\t'; break;
		case 'u': {
			size_t used = 0;

			err = scan_unicode(sc, out->data + n, &used);
			if (err != VC_OK)
				return err;
			n += used;
			break;
		}
		default: return malformed(sc, "bad escape \\%c", c);
		}
	}
	out->data[n] = '\0';
	*len = n;
	return VC_OK;
}

/* The extent of a JSON number (RFC 8259 grammar) at sc->p; false if there is none. */
static bool number_token(scanner *sc, const char **start, bool *integer)
{
	const char *p = sc->p;
	const char *end = sc->end;
	const char *digits;

	*start = p;
	*integer = true;
	if (p < end && *p == '-')
		p++;
	digits = p;
	if (p < end && *p == '0')
		p++;
	else
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	if (p == digits)
		return false;
	if (p < end && *p == '.') {
		*integer = false;
		digits = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == digits)
			return false;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		*integer = false;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		digits = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p == digits)
			return false;
	}
	sc->p = p;
	return true;
}

/* One vector element: a JSON number converted to the nearest float32. */
static vc_err scan_element(scanner *sc, size_t index, float *out)
{
	const char *start;
	char *stop;
	bool integer;

	skip_ws(sc);
	if (!number_token(sc, &start, &integer))
		return vc_input_fail(sc->input, VC_ERR_INVALID,
				     "value %zu of \"vector\" is not a number", index);
	/* the line is NUL-terminated and the token is valid, so strtof stops exactly at its end */
	errno = 0;
	*out = strtof(start, &stop);
	if (stop != sc->p)
		return malformed(sc, "number not understood");
	if (errno == ERANGE && isinf(*out))
		return vc_input_fail(sc->input, VC_ERR_INVALID,
				     "value %zu (%.*s) is outside the float32 range", index,
				     (int)(sc->p - start > 40 ? 40 : sc->p - start), start);
	return VC_OK;
}

static vc_err scan_vector(scanner *sc)
{
	vc_float_buf *buf = &sc->state->vector;
	vc_err err;

	buf->len = 0;
	if (!accept(sc, '['))
		return vc_input_fail(sc->input, VC_ERR_INVALID,
				     "\"vector\" must be an array of numbers");
	if (accept(sc, ']'))
		return vc_input_check_dim(sc->input, 0);
	for (;;) {
		float value = 0;

		if (buf->len >= VC_INPUT_MAX_DIM)
			return vc_input_fail(sc->input, VC_ERR_INVALID,
					     "vector has more than the %u values supported",
					     VC_INPUT_MAX_DIM);
		err = scan_element(sc, buf->len + 1, &value);
		if (err == VC_OK)
			err = vc_float_buf_push(buf, value);
		if (err != VC_OK)
			return err;
		if (accept(sc, ']'))
			break;
		if (!accept(sc, ','))
			return malformed(sc, "expected ',' or ']' in \"vector\"");
	}
	return vc_input_check_dim(sc->input, (uint32_t)buf->len);
}

static vc_err scan_id(scanner *sc)
{
	const char *start;
	bool integer;
	size_t len;
	vc_err err;

	skip_ws(sc);
	if (sc->p < sc->end && *sc->p != '"') {
		/* an integer id is taken as its decimal text */
		if (!number_token(sc, &start, &integer) || !integer)
			return vc_input_fail(sc->input, VC_ERR_INVALID,
					     "\"id\" must be a string or an integer");
		len = (size_t)(sc->p - start);
		err = text_reserve(&sc->state->id, len + 1);
		if (err != VC_OK)
			return err;
		memcpy(sc->state->id.data, start, len);
		sc->state->id.data[len] = '\0';
		return VC_OK;
	}
	err = scan_string(sc, &sc->state->id, &len);
	if (err != VC_OK)
		return err;
	if (len == 0)
		return vc_input_fail(sc->input, VC_ERR_INVALID, "\"id\" is empty");
	if (strlen(sc->state->id.data) != len)
		return vc_input_fail(sc->input, VC_ERR_INVALID, "\"id\" contains a NUL character");
	return VC_OK;
}

/* Skip one JSON value of any kind; jansson validates it afterwards. */
static vc_err skip_value(scanner *sc)
{
	int depth = 0;

	skip_ws(sc);
	while (sc->p < sc->end) {
		char c = *sc->p;

		if (c == '"') {
			for (sc->p++; sc->p < sc->end && *sc->p != '"'; sc->p++) {
				if (*sc->p == '\\')
					sc->p++;
			}
			if (sc->p >= sc->end)
				return malformed(sc, "unterminated string");
		} else if (c == '{' || c == '[') {
			if (++depth > JSONL_MAX_DEPTH)
				return malformed(sc, "nested too deeply");
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return VC_OK;
			depth--;
		} else if (c == ',' && depth == 0) {
			return VC_OK;
		}
		sc->p++;
	}
	return malformed(sc, "unexpected end of line");
}

static vc_err scan_metadata(scanner *sc)
{
	json_error_t error;
	const char *start;
	json_t *value;
	vc_err err;

	skip_ws(sc);
	start = sc->p;
	err = skip_value(sc);
	if (err != VC_OK)
		return err;
	value = json_loadb(start, (size_t)(sc->p - start),
			   JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
	if (value == NULL)
		return vc_input_fail(
		    sc->input, VC_ERR_INVALID, "malformed JSON in \"metadata\" at column %zu: %s",
		    (size_t)(start - sc->line) + (size_t)error.position, error.text);
	if (!json_is_object(value) && !json_is_null(value)) {
		json_decref(value);
		return vc_input_fail(sc->input, VC_ERR_INVALID, "\"metadata\" must be an object");
	}
	if (json_is_object(value))
		sc->state->metadata = value;
	else
		json_decref(value);
	return VC_OK;
}

enum { FIELD_ID = 1, FIELD_VECTOR = 2, FIELD_METADATA = 4 };

/* One "key": value member of the line's object; @p seen collects the fields met. */
static vc_err scan_member(scanner *sc, unsigned *seen)
{
	static const char *const names[] = {"id", "vector", "metadata"};
	size_t len;
	unsigned field = 0;
	const char *key;
	vc_err err = scan_string(sc, &sc->state->key, &len);

	if (err != VC_OK)
		return err;
	key = sc->state->key.data;
	for (unsigned i = 0; i < 3; i++) {
		if (strcmp(key, names[i]) == 0)
			field = 1u << i;
	}
	if (field == 0)
		return vc_input_fail(sc->input, VC_ERR_INVALID,
				     "unknown field \"%.40s\" (expected \"id\", \"vector\", "
				     "\"metadata\")",
				     key);
	if (*seen & field)
		return malformed(sc, "duplicate field \"%s\"", key);
	*seen |= field;
	if (!accept(sc, ':'))
		return malformed(sc, "expected ':'");
	if (field == FIELD_ID)
		return scan_id(sc);
	if (field == FIELD_VECTOR)
		return scan_vector(sc);
	return scan_metadata(sc);
}

static vc_err scan_line(scanner *sc)
{
	unsigned seen = 0;
	vc_err err;

	if (!accept(sc, '{'))
		return malformed(sc, "expected a JSON object {\"id\": ..., \"vector\": [...]}");
	if (!accept(sc, '}')) {
		for (;;) {
			err = scan_member(sc, &seen);
			if (err != VC_OK)
				return err;
			if (accept(sc, '}'))
				break;
			if (!accept(sc, ','))
				return malformed(sc, "expected ',' or '}'");
		}
	}
	skip_ws(sc);
	if (sc->p != sc->end)
		return malformed(sc, "text after the object");
	if (!(seen & FIELD_ID))
		return vc_input_fail(sc->input, VC_ERR_INVALID, "\"id\" is missing");
	if (!(seen & FIELD_VECTOR))
		return vc_input_fail(sc->input, VC_ERR_INVALID, "\"vector\" is missing");
	return VC_OK;
}

static vc_err jsonl_next(vc_input *input, vc_input_record *record, bool *eof)
{
	jsonl_state *state = input->priv;
	scanner sc = {.input = input, .state = state};
	char *line;
	size_t len;
	vc_err err;

	json_decref(state->metadata);
	state->metadata = NULL;
	do {
		err = vc_line_next(input, &state->lines, &line, &len, eof);
		if (err != VC_OK || *eof)
			return err;
	} while (is_blank(line, len));

	sc.line = line;
	sc.p = line;
	sc.end = line + len;
	err = scan_line(&sc);
	if (err != VC_OK)
		return err;
	record->id = state->id.data;
	record->vector = state->vector.data;
	record->dim = (uint32_t)state->vector.len;
	record->metadata = state->metadata;
	return VC_OK;
}

static void jsonl_close(vc_input *input)
{
	jsonl_state *state = input->priv;

	if (state == NULL)
		return;
	json_decref(state->metadata);
	vc_line_reader_free(&state->lines);
	vc_float_buf_free(&state->vector);
	free(state->id.data);
	free(state->key.data);
	free(state);
	input->priv = NULL;
}

const vc_input_ops vc_input_jsonl_ops = {
    .open = jsonl_open,
    .next = jsonl_next,
    .close = jsonl_close,
};
