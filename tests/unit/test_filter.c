/* Tests for metadata filters: every operator, dot paths, missing fields, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "search/filter.h"

static const char *doc_text =
    "{\"genre\": \"jazz\", \"year\": 1994, \"rating\": 4.5, \"count\": 3,"
    " \"live\": true, \"note\": null, \"tags\": [\"a\", \"b\"],"
    " \"album\": {\"title\": \"Blue\", \"disc\": {\"n\": 2, \"side\": \"B\"}},"
    " \"bin\": \"ab\\u0000c\"}";

static json_t *doc;

static int setup(void **state)
{
	json_error_t e;

	(void)state;
	doc = json_loads(doc_text, JSON_ALLOW_NUL, &e);
	return doc == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(doc);
	return 0;
}

/* Compile @spec_text (must be valid) and match it against @meta. */
static bool matches(const char *spec_text, const json_t *meta)
{
	json_error_t e;
	json_t *spec = json_loads(spec_text, JSON_ALLOW_NUL, &e);
	vc_filter *f = NULL;
	bool hit;

	if (spec == NULL)
		fail_msg("bad test JSON %s: %s", spec_text, e.text);
	if (vc_filter_compile(spec, &f) != VC_OK)
		fail_msg("compile %s: %s", spec_text, vc_last_error());
	/* the compiled filter must not depend on the spec staying alive */
	json_decref(spec);
	hit = vc_filter_match(f, meta);
	vc_filter_free(f);
	return hit;
}

/* Compile must fail with VC_ERR_INVALID and a message mentioning @needle. */
static void rejects(const char *spec_text, const char *needle)
{
	json_error_t e;
	json_t *spec = json_loads(spec_text, JSON_DECODE_ANY, &e);
	vc_filter *f = (vc_filter *)&f;

	assert_non_null(spec);
	assert_int_equal(vc_filter_compile(spec, &f), VC_ERR_INVALID);
	assert_null(f);
	if (strstr(vc_last_error(), needle) == NULL)
		fail_msg("message \"%s\" does not name \"%s\"", vc_last_error(), needle);
	json_decref(spec);
}

static void test_equality(void **state)
{
	(void)state;
	assert_true(matches("{\"genre\": \"jazz\"}", doc));
	assert_false(matches("{\"genre\": \"rock\"}", doc));
	assert_true(matches("{\"genre\": {\"$eq\": \"jazz\"}}", doc));
	assert_true(matches("{\"year\": 1994.0}", doc)); /* int vs real compare as numbers */
	assert_true(matches("{\"rating\": {\"$eq\": 4.5}}", doc));
	assert_false(matches("{\"year\": \"1994\"}", doc)); /* no string/number coercion */
	assert_true(matches("{\"live\": true}", doc));
	assert_false(matches("{\"live\": false}", doc));
	assert_true(matches("{\"note\": null}", doc));
	assert_true(matches("{\"tags\": [\"a\", \"b\"]}", doc));
	assert_false(matches("{\"tags\": [\"b\", \"a\"]}", doc));
	assert_false(matches("{\"tags\": \"a\"}", doc)); /* arrays compare whole */
	assert_true(matches("{\"album.disc\": {\"side\": \"B\", \"n\": 2.0}}", doc));
	assert_false(matches("{\"album.disc\": {\"side\": \"B\"}}", doc));
	assert_true(matches("{\"bin\": \"ab\\u0000c\"}", doc));
	assert_false(matches("{\"bin\": \"ab\"}", doc));
	assert_true(matches("{\"genre\": {\"$ne\": \"rock\"}}", doc));
	assert_false(matches("{\"genre\": {\"$ne\": \"jazz\"}}", doc));
	assert_false(matches("{\"count\": {\"$ne\": 3.0}}", doc));
}

static void test_in_nin(void **state)
{
	(void)state;
	assert_true(matches("{\"genre\": {\"$in\": [\"rock\", \"jazz\"]}}", doc));
	assert_false(matches("{\"genre\": {\"$in\": [\"rock\", \"pop\"]}}", doc));
	assert_false(matches("{\"genre\": {\"$in\": []}}", doc));
	assert_true(matches("{\"year\": {\"$in\": [1, 1994.0]}}", doc));
	assert_true(matches("{\"genre\": {\"$nin\": [\"rock\", \"pop\"]}}", doc));
	assert_false(matches("{\"genre\": {\"$nin\": [\"jazz\"]}}", doc));
	assert_true(matches("{\"genre\": {\"$nin\": []}}", doc));
}

static void test_ordering(void **state)
{
	(void)state;
	assert_true(matches("{\"year\": {\"$gt\": 1990}}", doc));
	assert_false(matches("{\"year\": {\"$gt\": 1994}}", doc));
	assert_true(matches("{\"year\": {\"$gte\": 1994}}", doc));
	assert_true(matches("{\"year\": {\"$lt\": 1994.5}}", doc));
	assert_false(matches("{\"year\": {\"$lt\": 1994}}", doc));
	assert_true(matches("{\"year\": {\"$lte\": 1994}}", doc));
	assert_true(matches("{\"rating\": {\"$gt\": 4, \"$lt\": 5}}", doc));
	assert_false(matches("{\"rating\": {\"$gt\": 4, \"$lt\": 4.5}}", doc));
	/* strings in byte order; a proper prefix sorts first */
	assert_true(matches("{\"genre\": {\"$gt\": \"ja\"}}", doc));
	assert_true(matches("{\"genre\": {\"$lt\": \"jazzy\"}}", doc));
	assert_true(matches("{\"genre\": {\"$gte\": \"jazz\", \"$lte\": \"jazz\"}}", doc));
	assert_false(matches("{\"genre\": {\"$gt\": \"k\"}}", doc));
	assert_true(matches("{\"genre\": {\"$lt\": \"\\u00e9\"}}", doc)); /* UTF-8 bytes > ASCII */
	/* mismatched types never order */
	assert_false(matches("{\"genre\": {\"$gt\": 1}}", doc));
	assert_false(matches("{\"year\": {\"$lt\": \"z\"}}", doc));
	assert_false(matches("{\"note\": {\"$lt\": 1}}", doc));
	assert_false(matches("{\"live\": {\"$gte\": 0}}", doc));
}

static void test_missing_fields(void **state)
{
	(void)state;
	/* only $ne, $nin and $exists:false match a missing field */
	assert_false(matches("{\"absent\": 1}", doc));
	assert_false(matches("{\"absent\": null}", doc));
	assert_true(matches("{\"absent\": {\"$ne\": 1}}", doc));
	assert_true(matches("{\"absent\": {\"$nin\": [1]}}", doc));
	assert_true(matches("{\"absent\": {\"$exists\": false}}", doc));
	assert_false(matches("{\"absent\": {\"$exists\": true}}", doc));
	assert_false(matches("{\"absent\": {\"$in\": [null]}}", doc));
	assert_false(matches("{\"absent\": {\"$gt\": 0}}", doc));
	assert_false(matches("{\"absent\": {\"$lte\": 0}}", doc));
	/* crossing a non-object is missing, not an error */
	assert_true(matches("{\"genre.x\": {\"$exists\": false}}", doc));
	assert_false(matches("{\"year.x\": 1}", doc));
	/* present-but-null exists */
	assert_true(matches("{\"note\": {\"$exists\": true}}", doc));
	/* NULL metadata: everything missing */
	assert_true(matches("{\"genre\": {\"$ne\": \"jazz\"}}", NULL));
	assert_false(matches("{\"genre\": \"jazz\"}", NULL));
	assert_true(matches("{}", NULL));
}

static void test_dot_paths(void **state)
{
	(void)state;
	assert_true(matches("{\"album.title\": \"Blue\"}", doc));
	assert_true(matches("{\"album.disc.n\": {\"$gte\": 2}}", doc));
	assert_true(matches("{\"album.disc.side\": {\"$in\": [\"A\", \"B\"]}}", doc));
	assert_false(matches("{\"album.disc.n\": 3}", doc));
	assert_false(matches("{\"album.disc.n.deeper\": {\"$exists\": true}}", doc));
	assert_true(matches("{\"album.missing\": {\"$exists\": false}}", doc));
}

static void test_logic(void **state)
{
	(void)state;
	/* several keys: implicit and */
	assert_true(matches("{\"genre\": \"jazz\", \"year\": 1994}", doc));
	assert_false(matches("{\"genre\": \"jazz\", \"year\": 1995}", doc));
	assert_true(matches("{\"$or\": [{\"genre\": \"rock\"}, {\"year\": 1994}]}", doc));
	assert_false(matches("{\"$or\": [{\"genre\": \"rock\"}, {\"year\": 1995}]}", doc));
	assert_true(matches("{\"$and\": [{\"genre\": \"jazz\"}, {\"live\": true}]}", doc));
	assert_false(matches("{\"$and\": [{\"genre\": \"jazz\"}, {\"live\": false}]}", doc));
	assert_true(matches("{\"$or\": [{\"$and\": [{\"genre\": \"rock\"}, {\"live\": true}]},"
			    " {\"$and\": [{\"genre\": \"jazz\"}, {\"album.disc.n\": 2}]}],"
			    " \"rating\": {\"$gt\": 4}}",
			    doc));
	assert_false(matches("{\"$or\": [{\"genre\": \"jazz\"}], \"rating\": {\"$gt\": 5}}", doc));
	/* an empty sub-filter matches everything */
	assert_true(matches("{\"$and\": [{}]}", doc));
	assert_true(matches("{\"$or\": [{}, {\"genre\": \"rock\"}]}", doc));
}

static void compile_text(const char *text, vc_filter **f)
{
	json_t *spec = json_loads(text, 0, NULL);

	assert_non_null(spec);
	assert_int_equal(vc_filter_compile(spec, f), VC_OK);
	json_decref(spec);
}

static void test_empty(void **state)
{
	vc_filter *f;

	(void)state;
	compile_text("{}", &f);
	assert_true(vc_filter_is_empty(f));
	assert_true(vc_filter_match(f, doc));
	vc_filter_free(f);
	compile_text("{\"$and\": [{}, {\"$or\": [{}]}]}", &f);
	assert_true(vc_filter_is_empty(f));
	vc_filter_free(f);
	compile_text("{\"a\": {\"$exists\": false}}", &f);
	assert_false(vc_filter_is_empty(f));
	vc_filter_free(f);
	compile_text("{\"$or\": [{}, {\"a\": 1}]}", &f);
	assert_false(vc_filter_is_empty(f));
	vc_filter_free(f);
	vc_filter_free(NULL);
}

static void test_validation(void **state)
{
	(void)state;
	rejects("{\"meta.title\": {\"$regex\": \"x\"}}", "$regex");
	rejects("{\"meta.title\": {\"$regex\": \"x\"}}", "meta.title");
	rejects("{\"a\": {\"$gt\": 1, \"$bogus\": 2}}", "$bogus");
	rejects("{\"$gt\": 5}", "$gt");
	rejects("{\"$not\": {\"a\": 1}}", "$not");
	rejects("{\"a\": {\"$in\": 5}}", "$in");
	rejects("{\"a\": {\"$nin\": {\"x\": 1}}}", "$nin");
	rejects("{\"a\": {\"$gt\": null}}", "$gt");
	rejects("{\"a\": {\"$lte\": [1]}}", "$lte");
	rejects("{\"a\": {\"$exists\": 1}}", "$exists");
	rejects("{\"$and\": []}", "$and");
	rejects("{\"$or\": {\"a\": 1}}", "$or");
	rejects("{\"$or\": [5]}", "expected an object");
	rejects("{\"$and\": [{\"a\": {\"$lt\": {}}}]}", "$lt");
	rejects("{\"a..b\": 1}", "a..b");
	rejects("{\".a\": 1}", ".a");
	rejects("{\"a.\": 1}", "a.");
	rejects("{\"\": 1}", "empty");
	rejects("{\"a\": {\"$eq\": 1, \"b\": 2}}", "mixes");
	rejects("[1, 2]", "array");
	rejects("3", "plain value");
	assert_int_equal(vc_filter_compile(NULL, &(vc_filter *){NULL}), VC_ERR_INVALID);
}

static void test_depth_limit(void **state)
{
	char spec[4096];
	size_t len = 0;
	int levels = 40;

	(void)state;
	for (int i = 0; i < levels; i++)
		len += (size_t)snprintf(spec + len, sizeof(spec) - len, "{\"$and\": [");
	len += (size_t)snprintf(spec + len, sizeof(spec) - len, "{\"a\": 1}");
	for (int i = 0; i < levels; i++)
		len += (size_t)snprintf(spec + len, sizeof(spec) - len, "]}");
	rejects(spec, "deeper");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_equality),	cmocka_unit_test(test_in_nin),
	    cmocka_unit_test(test_ordering),	cmocka_unit_test(test_missing_fields),
	    cmocka_unit_test(test_dot_paths),	cmocka_unit_test(test_logic),
	    cmocka_unit_test(test_empty),	cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_depth_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
