/* Tests for key derivation: master keys, key files, Argon2id passphrases and object hashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "format/envelope.h"
#include "format/keyring.h"
#include "test_util.h"
#include "util/error_i.h"

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7);
}

static void test_master_derivation(void **state)
{
	uint8_t master[VC_KEY_BYTES], other[VC_KEY_BYTES];
	vc_keyring *a, *b, *c;

	(void)state;
	fill(master, sizeof(master), 1);
	fill(other, sizeof(other), 2);
	assert_int_equal(vc_keyring_from_master(master, &a), VC_OK);
	assert_int_equal(vc_keyring_from_master(master, &b), VC_OK);
	assert_int_equal(vc_keyring_from_master(other, &c), VC_OK);
	/* Deterministic for one master key, distinct per purpose and per master. */
	assert_memory_equal(a->mac_key, b->mac_key, VC_KEY_BYTES);
	assert_memory_equal(a->object_key, b->object_key, VC_KEY_BYTES);
	assert_memory_equal(a->key_id, b->key_id, VC_KEY_ID_BYTES);
	assert_memory_not_equal(a->mac_key, a->object_key, VC_KEY_BYTES);
	assert_memory_not_equal(a->mac_key, master, VC_KEY_BYTES);
	assert_memory_not_equal(a->object_key, master, VC_KEY_BYTES);
	assert_memory_not_equal(a->key_id, c->key_id, VC_KEY_ID_BYTES);
	assert_memory_not_equal(a->object_key, c->object_key, VC_KEY_BYTES);
	vc_keyring_free(a);
	vc_keyring_free(b);
	vc_keyring_free(c);
	vc_keyring_free(NULL);
}

/* docs/FORMAT.md section 2 test vector (checked there against an independent BLAKE2b). */
static void test_documented_vector(void **state)
{
	static const uint8_t mac_key[VC_KEY_BYTES] = {
	    0xa8, 0x94, 0xcd, 0x3c, 0xb2, 0xa3, 0x65, 0xd6, 0x2d, 0xf5, 0x9a,
	    0x65, 0xb3, 0xfd, 0x9c, 0x8c, 0xb6, 0x59, 0x3f, 0x09, 0x4d, 0x78,
	    0x14, 0x37, 0x98, 0xf2, 0xec, 0x50, 0xc4, 0xb8, 0x55, 0x47};
	static const uint8_t object_key[VC_KEY_BYTES] = {
	    0x3c, 0x49, 0x3f, 0x71, 0x7d, 0x56, 0x27, 0xfe, 0x8c, 0x8a, 0x37,
	    0x3c, 0x91, 0xe2, 0x18, 0xeb, 0x97, 0x15, 0x73, 0xd8, 0xb9, 0x79,
	    0x7b, 0xd9, 0x1e, 0xa7, 0x21, 0x27, 0x07, 0x0b, 0xe7, 0x47};
	uint8_t master[VC_KEY_BYTES];
	char hex[2 * VC_KEY_ID_BYTES + 1];
	vc_keyring *k;

	(void)state;
	for (int i = 0; i < VC_KEY_BYTES; i++)
		master[i] = (uint8_t)i;
	assert_int_equal(vc_keyring_from_master(master, &k), VC_OK);
	assert_memory_equal(k->mac_key, mac_key, VC_KEY_BYTES);
	assert_memory_equal(k->object_key, object_key, VC_KEY_BYTES);
	vc_key_id_hex(k->key_id, hex);
	assert_string_equal(hex, "a4676be83feb165b");
	vc_keyring_free(k);
}

static void test_key_file(void **state)
{
	char path[] = "/tmp/vchunk-keyXXXXXX";
	uint8_t master[VC_KEY_BYTES + 8];
	vc_keyring *from_file, *direct;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	fill(master, sizeof(master), 9);
	vc_test_write_file(path, master, VC_KEY_BYTES);
	assert_int_equal(vc_keyring_from_file(path, &from_file), VC_OK);
	assert_int_equal(vc_keyring_from_master(master, &direct), VC_OK);
	assert_memory_equal(from_file->key_id, direct->key_id, VC_KEY_ID_BYTES);
	assert_memory_equal(from_file->object_key, direct->object_key, VC_KEY_BYTES);
	vc_keyring_free(from_file);
	vc_keyring_free(direct);

	vc_test_write_file(path, master, 31);
	assert_int_equal(vc_keyring_from_file(path, &from_file), VC_ERR_INVALID);
	assert_null(from_file);
	assert_non_null(strstr(vc_last_error(), "is 31 bytes, expected 32"));
	assert_non_null(strstr(vc_last_error(), path));
	vc_test_write_file(path, master, 40);
	assert_int_equal(vc_keyring_from_file(path, &from_file), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "is 40 bytes, expected 32"));
	unlink(path);
	assert_int_equal(vc_keyring_from_file(path, &from_file), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_keyring_from_file("/tmp", &from_file), VC_ERR_INVALID);
}

static void test_passphrase(void **state)
{
	uint8_t salt[VC_SALT_BYTES], salt2[VC_SALT_BYTES];
	vc_keyring *a, *b, *c;

	(void)state;
	fill(salt, sizeof(salt), 3);
	fill(salt2, sizeof(salt2), 4);
	assert_int_equal(vc_keyring_from_passphrase("correct horse", salt, VC_ARGON2_MIN_OPSLIMIT,
						    VC_ARGON2_MIN_MEMLIMIT, &a),
			 VC_OK);
	assert_int_equal(vc_keyring_from_passphrase("correct horse", salt, VC_ARGON2_MIN_OPSLIMIT,
						    VC_ARGON2_MIN_MEMLIMIT, &b),
			 VC_OK);
	assert_int_equal(vc_keyring_from_passphrase("correct horse", salt2, VC_ARGON2_MIN_OPSLIMIT,
						    VC_ARGON2_MIN_MEMLIMIT, &c),
			 VC_OK);
	assert_memory_equal(a->key_id, b->key_id, VC_KEY_ID_BYTES);
	assert_memory_equal(a->mac_key, b->mac_key, VC_KEY_BYTES);
	assert_memory_not_equal(a->key_id, c->key_id, VC_KEY_ID_BYTES);
	vc_keyring_free(a);
	vc_keyring_free(b);
	vc_keyring_free(c);
}

static void test_passphrase_limits(void **state)
{
	uint8_t salt[VC_SALT_BYTES] = {0};
	vc_keyring *k = NULL;

	(void)state;
	assert_int_equal(vc_keyring_from_passphrase("pw", salt, 1, VC_ARGON2_MIN_MEMLIMIT, &k),
			 VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "weak KDF parameters in manifest"));
	assert_int_equal(vc_keyring_from_passphrase("pw", salt, 3, 8u * 1024 * 1024, &k),
			 VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "weak KDF parameters"));
	assert_int_equal(vc_keyring_from_passphrase("pw", salt, 1000, VC_ARGON2_MIN_MEMLIMIT, &k),
			 VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "too large"));
	assert_int_equal(vc_keyring_from_passphrase("pw", salt, 2, 1ull << 40, &k), VC_ERR_INVALID);
	assert_int_equal(vc_keyring_from_passphrase("", salt, 2, VC_ARGON2_MIN_MEMLIMIT, &k),
			 VC_ERR_INVALID);
	assert_null(k);
}

static void test_key_id_hex_and_hash(void **state)
{
	static const uint8_t id[VC_KEY_ID_BYTES] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0x10, 0x7f, 0xff};
	/* BLAKE2b-256 of the empty string (RFC 7693 parameters, 32-byte output). */
	static const char *empty_hash =
	    "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8";
	uint8_t hash[VC_HASH_BYTES];
	char hex[2 * VC_HASH_BYTES + 1];
	uint8_t r1[32] = {0}, r2[32] = {0};

	(void)state;
	vc_key_id_hex(id, hex);
	assert_string_equal(hex, "0001abcdef107fff");
	assert_int_equal(vc_hash_object("", 0, hash), VC_OK);
	for (size_t i = 0; i < VC_HASH_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", hash[i]);
	assert_string_equal(hex, empty_hash);
	assert_int_equal(vc_crypto_init(), VC_OK);
	assert_int_equal(vc_crypto_init(), VC_OK);
	vc_random_bytes(r1, sizeof(r1));
	vc_random_bytes(r2, sizeof(r2));
	assert_memory_not_equal(r1, r2, sizeof(r1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_master_derivation), cmocka_unit_test(test_documented_vector),
	    cmocka_unit_test(test_key_file),	      cmocka_unit_test(test_passphrase),
	    cmocka_unit_test(test_passphrase_limits), cmocka_unit_test(test_key_id_hex_and_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
