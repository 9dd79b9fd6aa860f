/* Tests for the query parser (src/search/query_parse.c) and the results/error JSON
 * (src/search/results_json.c): every input form, the raw float32 rule, limits, messages. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "search/query_parse.h"
#include "search/results_json.h"

static const float want4[4] = {0.5f, -1.25f, 3.0f, 1e-3f};

static vc_err parse(const void *data, size_t len, uint32_t dim, vc_parsed_query *q)
{
	vc_query_parse_options options = {.dim = dim, .allow_raw = true, .where = "test"};

	return vc_query_parse(data, len, &options, q);
}

static vc_err parse_text(const char *text, uint32_t dim, vc_parsed_query *q)
{
	return parse(text, strlen(text), dim, q);
}

static void assert_want4(const vc_parsed_query *q)
{
	assert_int_equal(q->query.dim, 4);
	assert_ptr_equal(q->query.vector, q->vector);
	for (int i = 0; i < 4; i++)
		assert_true(q->vector[i] == want4[i]);
}

static void test_text_forms(void **state)
{
	static const char *forms[] = {
	    "[0.5, -1.25, 3, 0.001]", " \n[0.5,-1.25,3.0,1e-3]\n",
	    "0.5 -1.25 3 0.001",      "0.5,-1.25,3,0.001\n",
	    "0.5, -1.25,\t3 ,0.001",  "{\"vector\": [0.5, -1.25, 3, 0.001]}",
	};
	vc_parsed_query q = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		assert_int_equal(parse_text(forms[i], 4, &q), VC_OK);
		assert_want4(&q);
		assert_int_equal(q.query.k, 10); /* default */
	}
	vc_parsed_query_free(&q);
}

static void test_raw(void **state)
{
	vc_parsed_query q = {0};
	float half_text[4];

	(void)state;
	/* little-endian float32 of exactly dim x 4 bytes */
	assert_int_equal(parse(want4, sizeof(want4), 4, &q), VC_OK);
	assert_want4(&q);
	/* raw needs the exact size: 12 bytes are not 4 floats and not text */
	assert_int_equal(parse(want4, 12, 4, &q), VC_ERR_INVALID);
	/* without allow_raw the same bytes are refused */
	vc_query_parse_options options = {.dim = 4, .allow_raw = false};
	assert_int_equal(vc_query_parse(want4, sizeof(want4), &options, &q), VC_ERR_INVALID);
	/* bytes that are printable text but not a query, of raw size, are raw floats */
	assert_int_equal(parse_text("ABCDABCDABCDABCD", 4, &q), VC_OK);
	memcpy(half_text, "ABCDABCDABCDABCD", 16);
	assert_true(q.vector[0] == half_text[0] && q.vector[3] == half_text[3]);
	/* text that parses wins at raw size (16 bytes here): 8 values, so a wrong dimension,
	 * not 4 raw floats */
	assert_int_equal(parse_text("1 2 3 4 5 6 7 8 ", 4, &q), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "wrong dimension"));
	/* raw NaN is refused */
	uint8_t nan_bytes[16];
	memset(nan_bytes, 0xff, sizeof(nan_bytes));
	assert_int_equal(parse(nan_bytes, sizeof(nan_bytes), 4, &q), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "finite"));
	vc_parsed_query_free(&q);
}

static void test_object_settings(void **state)
{
	vc_parsed_query q = {0};
	vc_query defaults = {.k = 3, .nprobe = 2};
	vc_query_parse_options options = {.dim = 2, .defaults = &defaults};
	const char *text = "{\"vector\": [1, 2], \"k\": 7, \"ef\": 64, \"exact\": true, "
			   "\"threshold\": 0.5, \"filter\": {\"a\": {\"$eq\": 1}}}";

	(void)state;
	assert_int_equal(vc_query_parse(text, strlen(text), &options, &q), VC_OK);
	assert_int_equal(q.query.k, 7);
	assert_int_equal(q.query.ef, 64);
	assert_int_equal(q.query.nprobe, 2); /* from the defaults */
	assert_true(q.query.exact);
	assert_true(q.query.has_threshold);
	assert_true(q.query.threshold == 0.5f);
	assert_non_null(q.query.filter);
	assert_non_null(json_object_get(q.query.filter, "a"));
	text = "[1, 2]";
	assert_int_equal(vc_query_parse(text, strlen(text), &options, &q), VC_OK);
	assert_int_equal(q.query.k, 3);
	assert_null(q.query.filter);
	vc_parsed_query_free(&q);
}

static void expect_invalid(const char *text, uint32_t dim, const char *message)
{
	vc_parsed_query q = {0};

	assert_int_equal(parse_text(text, dim, &q), VC_ERR_INVALID);
	if (strstr(vc_last_error(), message) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", text, vc_last_error(), message);
	assert_non_null(strstr(vc_last_error(), "test: "));
	vc_parsed_query_free(&q);
}

static void test_invalid(void **state)
{
	(void)state;
	expect_invalid("[1, 2, 3]", 4, "wrong dimension");
	expect_invalid("", 4, "empty");
	expect_invalid("   \n", 4, "empty");
	expect_invalid("[]", 4, "empty");
	expect_invalid("[1, \"x\", 3, 4]", 4, "value 2");
	expect_invalid("[1, 2, 3, 1e39]", 4, "value 4");
	expect_invalid("1 2 nan 4", 4, "bad number");
	expect_invalid("1 2 inf 4", 4, "bad number");
	expect_invalid("1 2 0x10 4", 4, "bad number");
	expect_invalid("1,,2,3", 0, "misplaced ','");
	expect_invalid(",1,2", 0, "misplaced ','");
	expect_invalid("1,2,", 0, "ends with ','");
	expect_invalid("1 2 3 4 ]", 4, "bad number");
	expect_invalid("[1, 2, 3, 4", 4, "JSON array");
	expect_invalid("[1, 2, 3, 4] x", 4, "JSON array");
	expect_invalid("\"text\"", 0, "bad number");
	expect_invalid("{\"k\": 3}", 0, "no \"vector\"");
	expect_invalid("{\"vector\": [1], \"kk\": 3}", 0, "bad query field \"kk\"");
	expect_invalid("{\"vector\": [1], \"k\": 0}", 0, "whole number");
	expect_invalid("{\"vector\": [1], \"k\": 1.5}", 0, "whole number");
	expect_invalid("{\"vector\": [1], \"filter\": [1]}", 0, "bad query field \"filter\"");
	expect_invalid("{\"vector\": 1}", 0, "must be an array");
}

static void test_limit(void **state)
{
	vc_parsed_query q = {0};
	size_t limit = vc_query_input_limit(16);
	char *big = malloc(limit + 1);

	(void)state;
	assert_int_equal(limit, VC_QUERY_MIN_LIMIT);
	assert_int_equal(vc_query_input_limit(100000), 100000u * VC_QUERY_BYTES_PER_VALUE + 65536u);
	assert_non_null(big);
	memset(big, ' ', limit + 1);
	big[0] = '1';
	assert_int_equal(parse(big, limit + 1, 1, &q), VC_ERR_TOO_BIG);
	/* exactly the limit is accepted (one value, then spaces) */
	assert_int_equal(parse(big, limit, 1, &q), VC_OK);
	assert_int_equal(q.query.dim, 1);
	free(big);
	vc_parsed_query_free(&q);
}

static void test_results_json(void **state)
{
	vc_hit hits[2] = {{.id = "a\"b", .score = 0.5f, .metadata = json_pack("{s:i}", "n", 1)},
			  {.id = "c", .score = 1.0f / 3.0f, .metadata = NULL}};
	vc_results results = {
	    .count = 2,
	    .hits = hits,
	    .stats = {.chunks_read = 2, .frames_read = 3, .lists_probed = 4, .elapsed_ns = 1500000}};
	char *text;
	size_t len;
	json_t *parsed;

	(void)state;
	assert_int_equal(vc_results_json(&results, true, &text, &len), VC_OK);
	assert_int_equal(strlen(text), len);
	assert_int_equal(text[len - 1], '\n');
	assert_string_equal(
	    text, "{\"results\":[{\"id\":\"a\\\"b\",\"score\":0.5,\"metadata\":{\"n\":1}},"
		  "{\"id\":\"c\",\"score\":0.333333343,\"metadata\":null}],"
		  "\"stats\":{\"chunks_read\":2,\"frames_read\":3,\"bytes_read\":0,"
		  "\"frames_decrypted\":0,\"cache_hits\":0,\"lists_probed\":4,"
		  "\"vectors_scored\":0,\"elapsed_ms\":1.500}}\n");
	free(text);
	assert_int_equal(vc_results_json(&results, false, &text, &len), VC_OK);
	parsed = json_loadb(text, len, 0, NULL);
	assert_non_null(parsed);
	assert_null(json_object_get(parsed, "stats"));
	assert_int_equal(json_array_size(json_object_get(parsed, "results")), 2);
	json_decref(parsed);
	free(text);
	assert_int_equal(vc_error_json(EINVAL, "bad \"q\"", &text, &len), VC_OK);
	assert_string_equal(
	    text, "{\"error\":{\"code\":\"EINVAL\",\"errno\":22,\"message\":\"bad \\\"q\\\"\"}}\n");
	free(text);
	json_decref(hits[0].metadata);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_forms),	    cmocka_unit_test(test_raw),
	    cmocka_unit_test(test_object_settings), cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_limit),	    cmocka_unit_test(test_results_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
