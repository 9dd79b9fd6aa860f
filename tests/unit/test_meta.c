/* Tests for metadata items: JSON <-> CBOR round trips, exact encodings and hostile input. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "format/chunk_codec.h"
#include "util/error_i.h"

static void round_trip(const char *json_text)
{
	json_t *value = json_loads(json_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	vc_bytes cbor = {0};
	json_t *back;

	assert_non_null(value);
	assert_int_equal(vc_meta_encode(value, &cbor), VC_OK);
	assert_int_equal(vc_meta_decode(cbor.data, cbor.len, &back), VC_OK);
	if (!json_equal(value, back))
		fail_msg("round trip changed %s", json_text);
	json_decref(value);
	json_decref(back);
	vc_bytes_free(&cbor);
}

static void test_round_trips(void **state)
{
	static const char *values[] = {
	    "null",
	    "true",
	    "false",
	    "0",
	    "23",
	    "24",
	    "255",
	    "256",
	    "65535",
	    "65536",
	    "4294967295",
	    "4294967296",
	    "9223372036854775807",
	    "-9223372036854775808",
	    "-1",
	    "-24",
	    "-25",
	    "-4294967297",
	    "0.1",
	    "-1e300",
	    "3.0",
	    "5e-324",
	    "\"\"",
	    "\"caf\\u00e9 \\u65e5\\u672c \\ud83d\\ude00\"",
	    "\"nul\\u0000inside\"",
	    "[]",
	    "{}",
	    "[1, [2, [3, {\"a\": [null, true, 1.25]}]]]",
	    "{\"genre\": \"jazz\", \"year\": 1959, \"tags\": [\"modal\", \"cool\"], "
	    "\"rating\": 4.5, \"meta\": {\"nested\": {\"deep\": [1, 2, {\"x\": false}]}}, "
	    "\"\\u00fcber\": \"\\u2603\"}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		round_trip(values[i]);
}

static void expect_encoding(const char *json_text, const uint8_t *want, size_t len)
{
	json_t *value = json_loads(json_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	vc_bytes cbor = {0};

	assert_non_null(value);
	assert_int_equal(vc_meta_encode(value, &cbor), VC_OK);
	assert_int_equal(cbor.len, len);
	assert_memory_equal(cbor.data, want, len);
	json_decref(value);
	vc_bytes_free(&cbor);
}

#define ENCODES(text, ...)                                                                         \
	do {                                                                                       \
		static const uint8_t want[] = {__VA_ARGS__};                                       \
		expect_encoding(text, want, sizeof(want));                                         \
	} while (0)

static void test_exact_encodings(void **state)
{
	vc_bytes cbor = {0};

	(void)state;
	/* Values from RFC 8949, Appendix A (shortest heads; floats always as f64). */
	ENCODES("0", 0x00);
	ENCODES("23", 0x17);
	ENCODES("24", 0x18, 0x18);
	ENCODES("1000", 0x19, 0x03, 0xe8);
	ENCODES("1000000", 0x1a, 0x00, 0x0f, 0x42, 0x40);
	ENCODES("1000000000000", 0x1b, 0x00, 0x00, 0x00, 0xe8, 0xd4, 0xa5, 0x10, 0x00);
	ENCODES("-1", 0x20);
	ENCODES("-1000", 0x39, 0x03, 0xe7);
	ENCODES("1.5", 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0);
	ENCODES("-4.1", 0xfb, 0xc0, 0x10, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66);
	ENCODES("\"a\"", 0x61, 0x61);
	ENCODES("\"\\u00fc\"", 0x62, 0xc3, 0xbc);
	ENCODES("[1, [2, 3]]", 0x82, 0x01, 0x82, 0x02, 0x03);
	ENCODES("{\"a\": 1}", 0xa1, 0x61, 0x61, 0x01);
	ENCODES("false", 0xf4);
	ENCODES("true", 0xf5);
	ENCODES("null", 0xf6);
	assert_int_equal(vc_meta_encode(NULL, &cbor), VC_OK);
	assert_int_equal(cbor.len, 1);
	assert_int_equal(cbor.data[0], 0xf6);
	vc_bytes_free(&cbor);
}

static json_t *decode_ok(const uint8_t *data, size_t len)
{
	json_t *value;

	assert_int_equal(vc_meta_decode(data, len, &value), VC_OK);
	assert_non_null(value);
	return value;
}

static void test_decode_floats(void **state)
{
	static const uint8_t half_one[] = {0xf9, 0x3c, 0x00};
	static const uint8_t half_max[] = {0xf9, 0x7b, 0xff};
	static const uint8_t half_tiny[] = {0xf9, 0x00, 0x01};
	static const uint8_t half_neg[] = {0xf9, 0xc4, 0x00};
	static const uint8_t single[] = {0xfa, 0x47, 0xc3, 0x50, 0x00};
	json_t *v;

	(void)state;
	v = decode_ok(half_one, sizeof(half_one));
	assert_true(json_is_real(v) && json_real_value(v) == 1.0);
	json_decref(v);
	v = decode_ok(half_max, sizeof(half_max));
	assert_true(json_real_value(v) == 65504.0);
	json_decref(v);
	v = decode_ok(half_tiny, sizeof(half_tiny));
	assert_true(json_real_value(v) == 5.960464477539063e-8);
	json_decref(v);
	v = decode_ok(half_neg, sizeof(half_neg));
	assert_true(json_real_value(v) == -4.0);
	json_decref(v);
	v = decode_ok(single, sizeof(single));
	assert_true(json_real_value(v) == 100000.0);
	json_decref(v);
}

static void expect_corrupt(const uint8_t *data, size_t len)
{
	json_t *value = (json_t *)1;

	assert_int_equal(vc_meta_decode(data, len, &value), VC_ERR_CORRUPT);
	assert_null(value);
	assert_non_null(strstr(vc_last_error(), "metadata"));
}

#define REJECTS(...)                                                                               \
	do {                                                                                       \
		static const uint8_t bad[] = {__VA_ARGS__};                                        \
		expect_corrupt(bad, sizeof(bad));                                                  \
	} while (0)

static void test_rejects_hostile(void **state)
{
	uint8_t nested[70];

	(void)state;
	REJECTS(0xf9, 0x7e, 0x00);				       /* NaN */
	REJECTS(0xf9, 0x7c, 0x00);				       /* infinity */
	REJECTS(0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0);		       /* f64 infinity */
	REJECTS(0xc0, 0x61, 0x61);				       /* tag */
	REJECTS(0x41, 0x00);					       /* byte string */
	REJECTS(0xf7);						       /* undefined */
	REJECTS(0xf0);						       /* simple value 16 */
	REJECTS(0xf8, 0x20);					       /* simple value 32 */
	REJECTS(0x9f, 0xff);					       /* indefinite array */
	REJECTS(0x7f, 0x61, 0x61, 0xff);			       /* indefinite text */
	REJECTS(0xa1, 0x01, 0x02);				       /* integer map key */
	REJECTS(0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02);	       /* duplicate key */
	REJECTS(0x62, 0x61);					       /* truncated text */
	REJECTS(0x62, 0xc3, 0x28);				       /* invalid UTF-8 */
	REJECTS(0x62, 0xc0, 0x80);				       /* overlong NUL */
	REJECTS(0x63, 0xed, 0xa0, 0x80);			       /* UTF-16 surrogate */
	REJECTS(0x64, 0xf4, 0x90, 0x80, 0x80);			       /* beyond U+10FFFF */
	REJECTS(0x00, 0x00);					       /* trailing bytes */
	REJECTS(0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff); /* > INT64_MAX */
	REJECTS(0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0);		       /* < INT64_MIN */
	REJECTS(0x9b, 0, 0, 0, 1, 0, 0, 0, 0); /* array of 2^32 items in 9 bytes */
	REJECTS(0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff); /* huge map */
	REJECTS(0x1c);	     /* reserved additional info */
	REJECTS(0x19, 0x01); /* truncated head */
	expect_corrupt(NULL, 0);

	/* 65 nested arrays exceed the depth limit; 64 are fine. */
	memset(nested, 0x81, sizeof(nested));
	nested[65] = 0xf6;
	expect_corrupt(nested, 66);
	nested[64] = 0xf6;
	json_decref(decode_ok(nested, 65));
}

static void test_encode_depth_limit(void **state)
{
	json_t *root = json_array(), *cur = root;
	vc_bytes cbor = {0};

	(void)state;
	for (int i = 0; i < 100; i++) {
		json_t *inner = json_array();

		json_array_append_new(cur, inner);
		cur = inner;
	}
	assert_int_equal(vc_meta_encode(root, &cbor), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "nested"));
	vc_bytes_free(&cbor);
	json_decref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trips),	       cmocka_unit_test(test_exact_encodings),
	    cmocka_unit_test(test_decode_floats),      cmocka_unit_test(test_rejects_hostile),
	    cmocka_unit_test(test_encode_depth_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
