/* Tests for the import readers (.jsonl, .csv, .fvecs, .npy): records, ids, and error positions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/input.h"

static char dir[] = "/tmp/vc-test-input-XXXXXX";
static char path_buf[512];

static const char *write_file(const char *name, const void *data, size_t len)
{
	FILE *f;

	snprintf(path_buf, sizeof(path_buf), "%s/%s", dir, name);
	f = fopen(path_buf, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path_buf;
}

static const char *write_text(const char *name, const char *text)
{
	return write_file(name, text, strlen(text));
}

/* Read every record; returns the error of the first failure (VC_OK at the end). */
static vc_err read_all(const char *path, size_t *count)
{
	vc_input *input;
	vc_err err = vc_input_open(path, &input);

	*count = 0;
	if (err != VC_OK)
		return err;
	for (;;) {
		vc_input_record record;
		bool eof;

		err = vc_input_next(input, &record, &eof);
		if (err != VC_OK || eof)
			break;
		(*count)++;
	}
	vc_input_close(input);
	return err;
}

static void expect_error(const char *path, const char *fragment)
{
	size_t count;
	vc_err err = read_all(path, &count);

	assert_int_not_equal(err, VC_OK);
	if (strstr(vc_last_error(), fragment) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", vc_last_error(), fragment);
}

static void test_format_from_path(void **state)
{
	vc_input_format format;

	(void)state;
	assert_int_equal(vc_input_format_from_path("a/b.JSONL", &format), VC_OK);
	assert_int_equal(format, VC_INPUT_JSONL);
	assert_int_equal(vc_input_format_from_path("x.npy", &format), VC_OK);
	assert_int_equal(format, VC_INPUT_NPY);
	assert_int_equal(vc_input_format_from_path("x.fvecs", &format), VC_OK);
	assert_int_equal(format, VC_INPUT_FVECS);
	assert_int_equal(vc_input_format_from_path("x.txt", &format), VC_ERR_INVALID);
	assert_int_equal(vc_input_format_from_path(".csv", &format), VC_ERR_INVALID);
	assert_string_equal(vc_input_format_name(VC_INPUT_CSV), "csv");
}

static void test_jsonl_records(void **state)
{
	const char *path =
	    write_text("ok.jsonl", "{\"id\": \"a\", \"vector\": [1, -2.5, 0.1], \"metadata\": "
				   "{\"year\": 2001}}\n"
				   "\n"
				   "{\"id\": 7, \"vector\": [3.4028234e38, 1e-45, 0]}\r\n"
				   "  \t\n"
				   "{\"vector\": [0,0,1], \"id\": \"c\", \"metadata\": null}");
	vc_input *input;
	vc_input_record record;
	bool eof;

	(void)state;
	assert_int_equal(vc_input_open(path, &input), VC_OK);
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_false(eof);
	assert_string_equal(record.id, "a");
	assert_int_equal(record.dim, 3);
	assert_true(record.vector[1] == -2.5f);
	assert_true(record.vector[2] == 0.1f);
	assert_non_null(record.metadata);
	assert_int_equal(json_integer_value(json_object_get(record.metadata, "year")), 2001);

	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_string_equal(record.id, "7");
	assert_true(record.vector[0] == 3.4028234e38f);
	assert_true(record.vector[1] == 1e-45f);
	assert_null(record.metadata);
	assert_int_equal(input->position, 3);

	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_string_equal(record.id, "c");
	assert_null(record.metadata);
	assert_int_equal(input->position, 5);

	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_true(eof);
	assert_int_equal(vc_input_offset(input), input->size);
	vc_input_close(input);
}

static void test_jsonl_errors(void **state)
{
	(void)state;
	expect_error(write_text("dim.jsonl", "{\"id\":\"a\",\"vector\":[1,2]}\n"
					     "{\"id\":\"b\",\"vector\":[1,2,3]}\n"),
		     "dim.jsonl:2: vector has 3 values, expected 2");
	expect_error(write_text("bad.jsonl", "{\"id\":\"a\",\"vector\":[1]}\n{\"id\":\"b\",\n"),
		     "bad.jsonl:2: malformed JSON");
	expect_error(write_text("field.jsonl", "{\"id\":\"a\",\"vectors\":[1]}\n"),
		     "field.jsonl:1: unknown field \"vectors\"");
	expect_error(write_text("noid.jsonl", "{\"vector\":[1]}\n"), "noid.jsonl:1: \"id\"");
	expect_error(write_text("empty.jsonl", "{\"id\":\"\",\"vector\":[1]}\n"),
		     "\"id\" is empty");
	expect_error(write_text("str.jsonl", "{\"id\":\"a\",\"vector\":[1,\"2\"]}\n"),
		     "str.jsonl:1: value 2 of \"vector\" is not a number");
	expect_error(write_text("big.jsonl", "{\"id\":\"a\",\"vector\":[1e39]}\n"),
		     "outside the float32 range");
	expect_error(write_text("meta.jsonl", "{\"id\":\"a\",\"vector\":[1],\"metadata\":[1]}\n"),
		     "\"metadata\" must be an object");
	expect_error(write_text("dup.jsonl", "{\"id\":\"a\",\"id\":\"b\",\"vector\":[1]}\n"),
		     "dup.jsonl:1: malformed JSON");
	expect_error(write_text("zero.jsonl", "{\"id\":\"a\",\"vector\":[]}\n"),
		     "zero.jsonl:1: vector is empty");
}

/* The scanner's JSON details: escapes, number grammar, nesting inside metadata. */
static void test_jsonl_scanner(void **state)
{
	const char *path = write_text(
	    "scan.jsonl",
	    "{\"id\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\n\",\"vector\":[ -0 , 1E2,2.5e-1 ],"
	    "\"metadata\":{\"s\":\"a,}]\\\"{\",\"n\":[{\"x\":[1,{}]}]}}\n"
	    "  {\"vector\":[1,2,3],\"metadata\":{},\"id\":-12}  \n");
	vc_input *input;
	vc_input_record record;
	bool eof;

	(void)state;
	assert_int_equal(vc_input_open(path, &input), VC_OK);
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_string_equal(record.id, "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" \n");
	assert_true(record.vector[0] == 0.0f && signbit(record.vector[0]));
	assert_true(record.vector[1] == 100.0f && record.vector[2] == 0.25f);
	assert_string_equal(json_string_value(json_object_get(record.metadata, "s")), "a,}]\"{");
	assert_true(json_is_array(json_object_get(record.metadata, "n")));
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_string_equal(record.id, "-12");
	assert_non_null(record.metadata);
	assert_int_equal(json_object_size(record.metadata), 0);
	vc_input_close(input);

	expect_error(write_text("hex.jsonl", "{\"id\":\"a\",\"vector\":[0x10]}\n"),
		     "hex.jsonl:1: malformed JSON");
	expect_error(write_text("lead.jsonl", "{\"id\":\"a\",\"vector\":[01]}\n"),
		     "lead.jsonl:1: malformed JSON");
	expect_error(write_text("dot.jsonl", "{\"id\":\"a\",\"vector\":[1.]}\n"),
		     "dot.jsonl:1: value 1 of \"vector\" is not a number");
	expect_error(write_text("nanj.jsonl", "{\"id\":\"a\",\"vector\":[NaN]}\n"),
		     "nanj.jsonl:1: value 1 of \"vector\" is not a number");
	expect_error(write_text("after.jsonl", "{\"id\":\"a\",\"vector\":[1]} x\n"),
		     "after.jsonl:1: malformed JSON at column 25: text after the object");
	expect_error(write_text("dupv.jsonl", "{\"id\":\"a\",\"vector\":[1],\"vector\":[2]}\n"),
		     "dupv.jsonl:1: malformed JSON at column 32: duplicate field \"vector\"");
	expect_error(write_text("fid.jsonl", "{\"id\":1.5,\"vector\":[1]}\n"),
		     "fid.jsonl:1: \"id\" must be a string or an integer");
	expect_error(write_text("ctl.jsonl", "{\"id\":\"a\tb\",\"vector\":[1]}\n"),
		     "ctl.jsonl:1: malformed JSON at column 10: control character");
	expect_error(write_text("surr.jsonl", "{\"id\":\"\\ud83d\",\"vector\":[1]}\n"),
		     "surr.jsonl:1: malformed JSON");
	expect_error(write_text("nul.jsonl", "{\"id\":\"a\\u0000\",\"vector\":[1]}\n"),
		     "nul.jsonl:1: malformed JSON");
	expect_error(write_text("badmeta.jsonl",
				"{\"id\":\"a\",\"vector\":[1],\"metadata\":{\"a\":1,\"a\":2}}\n"),
		     "badmeta.jsonl:1: malformed JSON in \"metadata\"");
	expect_error(
	    write_text("open.jsonl", "{\"id\":\"a\",\"vector\":[1],\"metadata\":{\"a\":[1}\n"),
	    "open.jsonl:1: malformed JSON");
}

/* A line longer than the reader's first buffer (1 MiB) must still be read whole. */
static void test_jsonl_long_line(void **state)
{
	size_t dim = 200000;
	size_t cap = dim * 16 + 64;
	char *text = malloc(cap);
	size_t len;
	vc_input *input;
	vc_input_record record;
	bool eof;

	(void)state;
	assert_non_null(text);
	len = (size_t)sprintf(text, "{\"id\":\"long\",\"vector\":[");
	for (size_t i = 0; i < dim; i++)
		len += (size_t)sprintf(text + len, "%s%.6f", i ? "," : "", (double)i / 3.0);
	len += (size_t)sprintf(text + len, "]}\n");
	assert_true(len > (1u << 20));
	write_file("long.jsonl", text, len);
	free(text);
	/* beyond VC_INPUT_MAX_DIM: refused with the line number, after reading it whole */
	assert_int_equal(vc_input_open(path_buf, &input), VC_OK);
	assert_int_equal(vc_input_next(input, &record, &eof), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "long.jsonl:1: vector has more than the 65536 values"));
	vc_input_close(input);
}

static void test_csv_records(void **state)
{
	const char *path = write_text("ok.csv", "id,x,y\n"
						"a, 1.5 ,-2\r\n"
						"\"q,\"\"uote\", 0.25,1e-3\n"
						"\n"
						"7,3,4");
	vc_input *input;
	vc_input_record record;
	bool eof;

	(void)state;
	assert_int_equal(vc_input_open(path, &input), VC_OK);
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_string_equal(record.id, "a");
	assert_int_equal(record.dim, 2);
	assert_true(record.vector[0] == 1.5f && record.vector[1] == -2.0f);
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_string_equal(record.id, "q,\"uote");
	assert_true(record.vector[1] == 1e-3f);
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_string_equal(record.id, "7");
	assert_int_equal(input->position, 5);
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_true(eof);
	vc_input_close(input);
}

static void test_csv_header_only_when_not_number(void **state)
{
	size_t count;

	(void)state;
	/* the first line's second field is a number: it is data, not a header */
	assert_int_equal(read_all(write_text("nohead.csv", "id,1,2\nb,3,4\n"), &count), VC_OK);
	assert_int_equal(count, 2);
	/* a header on line 2 is data, and "x" is not a number */
	expect_error(write_text("late.csv", "a,1,2\nid,x,y\n"),
		     "late.csv:2: value 1 (\"x\") is not a number");
}

static void test_csv_errors(void **state)
{
	(void)state;
	expect_error(write_text("dim.csv", "a,1,2\nb,1,2\nc,1\n"),
		     "dim.csv:3: vector has 1 values, expected 2");
	expect_error(write_text("nan.csv", "a,1,nan\n"), "nan.csv:1: value 2 is NaN");
	expect_error(write_text("inf.csv", "a,1,2\nb,-inf,2\n"), "inf.csv:2: value 1 is infinite");
	expect_error(write_text("range.csv", "a,1e39\n"), "range.csv:1: value 1 is outside");
	expect_error(write_text("noval.csv", "a,1\nb\n"), "noval.csv:2: expected an id");
	expect_error(write_text("trail.csv", "a,1,2,\n"), "trail.csv:1: value 3 (\"\")");
	expect_error(write_text("emptyid.csv", "a,1\n,2\n"), "emptyid.csv:2: the id");
	expect_error(write_text("quote.csv", "\"abc,1\n"), "quote.csv:1: unterminated");
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static size_t fvecs_row(uint8_t *out, int32_t dim, const float *values)
{
	put_le32(out, (uint32_t)dim);
	for (int32_t i = 0; i < dim; i++) {
		uint32_t bits;

		memcpy(&bits, &values[i], 4);
		put_le32(out + 4 + 4 * i, bits);
	}
	return 4 + 4 * (size_t)dim;
}

static void test_fvecs(void **state)
{
	uint8_t data[256];
	float v[3] = {1.0f, -0.0f, 3.14159274f};
	size_t len = 0;
	size_t count;
	vc_input *input;
	vc_input_record record;
	bool eof;

	(void)state;
	len += fvecs_row(data + len, 3, v);
	v[0] = 1e-40f; /* subnormal survives bit-exact */
	len += fvecs_row(data + len, 3, v);
	assert_int_equal(vc_input_open(write_file("ok.fvecs", data, len), &input), VC_OK);
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_string_equal(record.id, "0");
	assert_memory_equal(&record.vector[1], &v[1], 4);
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_string_equal(record.id, "1");
	assert_memory_equal(record.vector, v, sizeof(v));
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_true(eof);
	vc_input_close(input);

	expect_error(write_file("trunc.fvecs", data, len - 5),
		     "trunc.fvecs: row 1: truncated row: 7 of 12 bytes");
	expect_error(write_file("trunc2.fvecs", data, len / 2 + 2),
		     "trunc2.fvecs: row 1: truncated");
	len = fvecs_row(data, 3, v);
	len += fvecs_row(data + len, 2, v);
	expect_error(write_file("dim.fvecs", data, len),
		     "dim.fvecs: row 1: vector has 2 values, expected 3");
	v[2] = NAN;
	len = fvecs_row(data, 3, v);
	expect_error(write_file("nan.fvecs", data, len), "nan.fvecs: row 0: value 3 is NaN");
	put_le32(data, 0x7fffffff);
	expect_error(write_file("garbage.fvecs", data, 16), "garbage.fvecs: row 0: bad dimension");
	assert_int_equal(read_all(write_file("empty.fvecs", data, 0), &count), VC_OK);
	assert_int_equal(count, 0);
}

/* Build a .npy file: version @p major, header dict @p dict, then @p rows*@p dim floats. */
static size_t npy_build(uint8_t *out, int major, const char *dict, size_t rows, size_t dim)
{
	size_t prefix = major == 1 ? 10 : 12;
	size_t dict_len = strlen(dict);
	size_t header = prefix + dict_len + 1;
	size_t padded = (header + 63) / 64 * 64;
	size_t hlen = padded - prefix;

	memcpy(out, "\x93NUMPY", 6);
	out[6] = (uint8_t)major;
	out[7] = 0;
	if (major == 1) {
		out[8] = (uint8_t)hlen;
		out[9] = (uint8_t)(hlen >> 8);
	} else {
		put_le32(out + 8, (uint32_t)hlen);
	}
	memcpy(out + prefix, dict, dict_len);
	memset(out + prefix + dict_len, ' ', padded - prefix - dict_len - 1);
	out[padded - 1] = '\n';
	for (size_t i = 0; i < rows * dim; i++) {
		float f = (float)i * 0.5f - 1.0f;
		uint32_t bits;

		memcpy(&bits, &f, 4);
		put_le32(out + padded + 4 * i, bits);
	}
	return padded + rows * dim * 4;
}

static void test_npy(void **state)
{
	uint8_t data[1024];
	size_t len;
	vc_input *input;
	vc_input_record record;
	bool eof;
	size_t count;

	(void)state;
	len =
	    npy_build(data, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 3, 4);
	assert_int_equal(vc_input_open(write_file("ok.npy", data, len), &input), VC_OK);
	for (int row = 0; row < 3; row++) {
		char id[8];

		assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
		assert_false(eof);
		snprintf(id, sizeof(id), "%d", row);
		assert_string_equal(record.id, id);
		assert_int_equal(record.dim, 4);
		assert_true(record.vector[1] == (float)(row * 4 + 1) * 0.5f - 1.0f);
	}
	assert_int_equal(vc_input_next(input, &record, &eof), VC_OK);
	assert_true(eof);
	vc_input_close(input);

	/* version 2 header, keys in another order, no trailing comma */
	len = npy_build(data, 2, "{\"shape\": (2,4), \"fortran_order\": False, \"descr\": \"<f4\"}",
			2, 4);
	assert_int_equal(read_all(write_file("v2.npy", data, len), &count), VC_OK);
	assert_int_equal(count, 2);
}

static void test_npy_errors(void **state)
{
	uint8_t data[1024];
	size_t len;

	(void)state;
	len =
	    npy_build(data, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", 2, 4);
	expect_error(write_file("f8.npy", data, len), "dtype is '<f8'");
	len =
	    npy_build(data, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 2, 2);
	expect_error(write_file("fortran.npy", data, len), "Fortran order");
	len = npy_build(data, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 1, 4);
	expect_error(write_file("oned.npy", data, len), "array has 1 dimensions");
	len = npy_build(data, 1, "{'descr': '<f4', 'fortran_order': False}", 0, 0);
	expect_error(write_file("noshape.npy", data, len), "bad .npy header: 'descr'");
	len = npy_build(data, 1,
			"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), "
			"'extra': 1}",
			2, 2);
	expect_error(write_file("extra.npy", data, len), "unknown or repeated key");
	len = npy_build(data, 1,
			"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
			"'shape': (2, 2)}",
			2, 2);
	expect_error(write_file("repeat.npy", data, len), "unknown or repeated key");
	len =
	    npy_build(data, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 3, 2);
	expect_error(write_file("trunc.npy", data, len - 3), "trunc.npy: row 2: truncated");
	len =
	    npy_build(data, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 3, 2);
	expect_error(write_file("trailing.npy", data, len), "8 bytes after the last row");
	memcpy(data, "\x93NUMPX", 6);
	expect_error(write_file("magic.npy", data, len), "not a .npy file");
	len =
	    npy_build(data, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", 1, 2);
	memcpy(data + len - 4, "\x00\x00\xc0\x7f", 4); /* NaN */
	expect_error(write_file("nan.npy", data, len), "nan.npy: row 0: value 2 is NaN");
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char command[600];

	(void)state;
	snprintf(command, sizeof(command), "rm -rf '%s'", dir);
	return system(command) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_from_path),
	    cmocka_unit_test(test_jsonl_records),
	    cmocka_unit_test(test_jsonl_errors),
	    cmocka_unit_test(test_jsonl_scanner),
	    cmocka_unit_test(test_jsonl_long_line),
	    cmocka_unit_test(test_csv_records),
	    cmocka_unit_test(test_csv_header_only_when_not_number),
	    cmocka_unit_test(test_csv_errors),
	    cmocka_unit_test(test_fvecs),
	    cmocka_unit_test(test_npy),
	    cmocka_unit_test(test_npy_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
