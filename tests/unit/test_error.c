/* Tests for the error strings, errno mapping and per-thread messages. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "util/error_i.h"

static void test_fail_records_message(void **state)
{
	(void)state;
	assert_int_equal(vc_fail(VC_ERR_AUTH, "chunk %d failed", 7), VC_ERR_AUTH);
	assert_string_equal(vc_last_error(), "chunk 7 failed");
	vc_fail_context(VC_ERR_AUTH, "reading %s", "chunks/chunk-7.cbor");
	assert_string_equal(vc_last_error(), "reading chunks/chunk-7.cbor: chunk 7 failed");
	vc_clear_error();
	assert_string_equal(vc_last_error(), "");
}

static void test_errno_mapping(void **state)
{
	(void)state;
	assert_int_equal(vc_err_errno(VC_ERR_INVALID), EINVAL);
	assert_int_equal(vc_err_errno(VC_ERR_NOT_FOUND), ENOENT);
	assert_int_equal(vc_err_errno(VC_ERR_AUTH), EIO);
	assert_int_equal(vc_err_errno(VC_ERR_TOO_BIG), EFBIG);
	assert_int_equal(vc_err_errno(VC_ERR_TIMEOUT), ETIMEDOUT);
	assert_string_equal(vc_err_str(VC_ERR_AUTH), "authentication failed");
}

static void *other_thread(void *arg)
{
	(void)arg;
	vc_fail(VC_ERR_IO, "other thread");
	return NULL;
}

static void test_message_is_per_thread(void **state)
{
	pthread_t t;

	(void)state;
	vc_fail(VC_ERR_IO, "main thread");
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	pthread_join(t, NULL);
	assert_string_equal(vc_last_error(), "main thread");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fail_records_message),
		cmocka_unit_test(test_errno_mapping),
		cmocka_unit_test(test_message_is_per_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
