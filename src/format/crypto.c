/* libsodium initialisation, object hashing and random bytes shared by the format module. */
#include <pthread.h>
#include <sodium.h>

#include "format/envelope.h"
#include "util/error_i.h"

/* sodium_init is thread-safe but takes a global lock on every call; every frame open checks
 * initialisation, so run it once and afterwards only read the outcome. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result = -1;

static void init_sodium(void)
{
	init_result = sodium_init();
}

vc_err vc_crypto_init(void)
{
	pthread_once(&init_once, init_sodium);
	if (init_result < 0)
		return vc_fail(VC_ERR_UNSUPPORTED, "libsodium failed to initialise "
						   "(no usable random source?)");
	return VC_OK;
}

vc_err vc_hash_object(const void *data, size_t len, uint8_t out[VC_HASH_BYTES])
{
	vc_err err;

	err = vc_crypto_init();
	if (err != VC_OK)
		return err;
	if (crypto_generichash(out, VC_HASH_BYTES, data, len, NULL, 0) != 0)
		return vc_fail(VC_ERR_INVALID, "hashing %zu bytes failed", len);
	return VC_OK;
}

void vc_random_bytes(void *buf, size_t len)
{
	/* randombytes_buf cannot fail once sodium_init succeeded; init failure aborts
	 * inside libsodium's own fallback, so callers need no error path here. */
	(void)vc_crypto_init();
	randombytes_buf(buf, len);
}
