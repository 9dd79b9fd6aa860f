/* Tests for the fault-injecting store wrapper over a real directory store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "vchunk/store.h"

typedef struct fixture {
	char dir[64];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	vc_store *store;
	char body[100];
	int i;

	assert_non_null(f);
	unsetenv("VCHUNK_FAULT");
	strcpy(f->dir, "/tmp/vc-store-fault-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(vc_store_open(f->dir, NULL, &store), VC_OK);
	for (i = 0; i < 100; i++)
		body[i] = (char)('a' + i % 26);
	assert_int_equal(vc_store_put(store, "obj", body, sizeof(body)), VC_OK);
	vc_store_close(store);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];

	unsetenv("VCHUNK_FAULT");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static vc_store *wrapped(fixture *f, const char *spec)
{
	vc_fault_options o;
	vc_store *inner;
	vc_store *outer = NULL;

	assert_int_equal(vc_fault_options_parse(spec, &o), VC_OK);
	assert_int_equal(vc_store_open(f->dir, NULL, &inner), VC_OK);
	assert_int_equal(vc_store_fault_wrap(inner, &o, &outer), VC_OK);
	assert_string_equal(outer->kind, "fault");
	return outer;
}

static void test_parse(void **state)
{
	vc_fault_options o;

	(void)state;
	assert_int_equal(
	    vc_fault_options_parse("error_rate=0.3,latency_ms=5,truncate_rate=0.1,seed=7", &o),
	    VC_OK);
	assert_true(o.error_rate > 0.29 && o.error_rate < 0.31);
	assert_true(o.truncate_rate > 0.09 && o.truncate_rate < 0.11);
	assert_int_equal(o.latency_ms, 5);
	assert_int_equal(o.seed, 7);
	assert_int_equal(vc_fault_options_parse("", &o), VC_OK);
	assert_true(o.error_rate == 0 && o.truncate_rate == 0 && o.latency_ms == 0);

	assert_int_equal(vc_fault_options_parse("error_rate=1.5", &o), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "error_rate"));
	assert_int_equal(vc_fault_options_parse("latency_ms=-3", &o), VC_ERR_INVALID);
	assert_int_equal(vc_fault_options_parse("seed=x", &o), VC_ERR_INVALID);
	assert_int_equal(vc_fault_options_parse("error_rate", &o), VC_ERR_INVALID);
	assert_int_equal(vc_fault_options_parse("colour=blue", &o), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "colour"));
}

static void test_error_rate(void **state)
{
	vc_store *store = wrapped(*state, "error_rate=0.3,seed=7");
	vc_store_stats stats;
	uint64_t size;
	int failed = 0;
	int i;

	for (i = 0; i < 2000; i++) {
		vc_err err = vc_store_head(store, "obj", &size);

		if (err == VC_ERR_UNAVAILABLE) {
			assert_non_null(strstr(vc_last_error(), "injected fault"));
			failed++;
		} else {
			assert_int_equal(err, VC_OK);
			assert_int_equal(size, 100);
		}
	}
	/* 0.3 +- 3.3 standard deviations of a binomial(2000, 0.3). */
	assert_in_range(failed, 530, 670);
	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.requests, 2000);
	assert_int_equal(stats.errors, (uint64_t)failed);
	vc_store_close(store);
}

/* The same seed gives the same failures; another seed other ones. */
static void test_reproducible(void **state)
{
	vc_store *a = wrapped(*state, "error_rate=0.5,seed=11");
	vc_store *b = wrapped(*state, "error_rate=0.5,seed=11");
	vc_store *c = wrapped(*state, "error_rate=0.5,seed=12");
	int same_ab = 0;
	int same_ac = 0;
	uint64_t size;
	int i;

	for (i = 0; i < 200; i++) {
		vc_err ea = vc_store_head(a, "obj", &size);
		vc_err eb = vc_store_head(b, "obj", &size);
		vc_err ec = vc_store_head(c, "obj", &size);

		same_ab += ea == eb;
		same_ac += ea == ec;
	}
	assert_int_equal(same_ab, 200);
	assert_true(same_ac < 180);
	vc_store_close(a);
	vc_store_close(b);
	vc_store_close(c);
}

static void test_truncation(void **state)
{
	vc_store *clean = wrapped(*state, "");
	vc_store *store = wrapped(*state, "truncate_rate=0.5,seed=3");
	vc_bytes full = {0};
	int cut = 0;
	int i;

	assert_int_equal(vc_store_get(clean, "obj", &full), VC_OK);
	assert_int_equal(full.len, 100);
	for (i = 0; i < 1000; i++) {
		vc_bytes out = {0};

		assert_int_equal(vc_store_get(store, "obj", &out), VC_OK);
		assert_true(out.len <= full.len);
		/* A cut body is a prefix of the real one. */
		if (out.len > 0)
			assert_memory_equal(out.data, full.data, out.len);
		cut += out.len < full.len;
		vc_bytes_free(&out);
	}
	assert_in_range(cut, 440, 560);
	vc_bytes_free(&full);
	vc_store_close(clean);
	vc_store_close(store);
}

static void test_latency(void **state)
{
	vc_store *store = wrapped(*state, "latency_ms=20");
	uint64_t start = vc_test_now_ms();
	uint64_t size;
	int i;

	for (i = 0; i < 5; i++)
		assert_int_equal(vc_store_head(store, "obj", &size), VC_OK);
	/* Only a lower bound: the wrapper must have slept at least 5 x 20 ms. */
	assert_true(vc_test_now_ms() - start >= 100);
	vc_store_close(store);
}

static void test_get_many(void **state)
{
	fixture *f = *state;
	vc_store *store = wrapped(f, "error_rate=0.5,seed=5");
	const char *paths[40];
	vc_bytes outs[40];
	vc_err errors[40];
	int failed = 0;
	int i;

	for (i = 0; i < 40; i++)
		paths[i] = "obj";
	assert_int_equal(vc_store_get_many(store, 40, paths, outs, errors), VC_ERR_UNAVAILABLE);
	assert_non_null(strstr(vc_last_error(), "injected fault"));
	for (i = 0; i < 40; i++) {
		if (errors[i] == VC_ERR_UNAVAILABLE) {
			assert_null(outs[i].data);
			failed++;
			continue;
		}
		assert_int_equal(errors[i], VC_OK);
		assert_int_equal(outs[i].len, 100);
		vc_bytes_free(&outs[i]);
	}
	assert_in_range(failed, 5, 35);
	vc_store_close(store);

	/* A real failure of the inner store is reported as itself, not as an injected one. */
	store = wrapped(f, "truncate_rate=0,seed=5");
	paths[1] = "missing";
	assert_int_equal(vc_store_get_many(store, 3, paths, outs, errors), VC_ERR_NOT_FOUND);
	assert_non_null(strstr(vc_last_error(), "missing"));
	assert_null(strstr(vc_last_error(), "injected"));
	assert_int_equal(errors[0], VC_OK);
	assert_int_equal(errors[1], VC_ERR_NOT_FOUND);
	assert_int_equal(errors[2], VC_OK);
	vc_bytes_free(&outs[0]);
	vc_bytes_free(&outs[2]);
	vc_store_close(store);
}

static void test_environment(void **state)
{
	fixture *f = *state;
	vc_store *store = NULL;
	vc_bytes out = {0};

	assert_int_equal(setenv("VCHUNK_FAULT", "error_rate=1,seed=1", 1), 0);
	assert_int_equal(vc_store_open(f->dir, NULL, &store), VC_OK);
	assert_string_equal(store->kind, "fault");
	assert_int_equal(vc_store_get(store, "obj", &out), VC_ERR_UNAVAILABLE);
	assert_int_equal(vc_store_health(store), VC_ERR_UNAVAILABLE);
	vc_store_close(store);

	assert_int_equal(setenv("VCHUNK_FAULT", "error_rate=lots", 1), 0);
	store = NULL;
	assert_int_equal(vc_store_open(f->dir, NULL, &store), VC_ERR_INVALID);
	assert_null(store);
	assert_non_null(strstr(vc_last_error(), "VCHUNK_FAULT"));
	unsetenv("VCHUNK_FAULT");
}

static void test_wrap_rejects_bad_options(void **state)
{
	fixture *f = *state;
	vc_fault_options o = {.error_rate = 2};
	vc_store *inner;
	vc_store *outer = NULL;

	assert_int_equal(vc_store_open(f->dir, NULL, &inner), VC_OK);
	assert_int_equal(vc_store_fault_wrap(inner, &o, &outer), VC_ERR_INVALID);
	assert_null(outer);
	/* On failure the caller still owns the inner store. */
	assert_int_equal(vc_store_health(inner), VC_OK);
	vc_store_close(inner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test_setup_teardown(test_error_rate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reproducible, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_latency, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrap_rejects_bad_options, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
