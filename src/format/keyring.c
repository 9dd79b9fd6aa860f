/* Master keys (key file or Argon2id passphrase) and the per-purpose subkeys derived from them. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/envelope.h"
#include "format/keyring.h"
#include "util/error_i.h"

#define KDF_CONTEXT "vchunk01"
#define SUBKEY_MAC 1
#define SUBKEY_OBJECT 2
#define SUBKEY_KEY_ID 3

/* Upper bounds so a hostile manifest cannot make us allocate or spin without limit. */
#define ARGON2_MAX_OPSLIMIT 64u
#define ARGON2_MAX_MEMLIMIT (4ull * 1024 * 1024 * 1024)

vc_err vc_keyring_from_master(const uint8_t master[VC_KEY_BYTES], vc_keyring **out)
{
	uint8_t id_key[VC_KEY_BYTES];
	vc_keyring *keyring;
	vc_err err;

	*out = NULL;
	err = vc_crypto_init();
	if (err != VC_OK)
		return err;
	keyring = sodium_malloc(sizeof(*keyring));
	if (keyring == NULL)
		return vc_fail(VC_ERR_NOMEM, "cannot allocate locked memory for the session keys");
	if (crypto_kdf_derive_from_key(keyring->mac_key, VC_KEY_BYTES, SUBKEY_MAC, KDF_CONTEXT,
				       master) != 0 ||
	    crypto_kdf_derive_from_key(keyring->object_key, VC_KEY_BYTES, SUBKEY_OBJECT,
				       KDF_CONTEXT, master) != 0 ||
	    crypto_kdf_derive_from_key(id_key, VC_KEY_BYTES, SUBKEY_KEY_ID, KDF_CONTEXT, master) !=
		0) {
		sodium_free(keyring);
		return vc_fail(VC_ERR_INVALID, "deriving the session subkeys failed");
	}
	memcpy(keyring->key_id, id_key, VC_KEY_ID_BYTES);
	sodium_memzero(id_key, sizeof(id_key));
	*out = keyring;
	return VC_OK;
}

vc_err vc_keyring_from_file(const char *path, vc_keyring **out)
{
	uint8_t master[VC_KEY_BYTES + 1];
	struct stat st;
	ssize_t got;
	size_t total = 0;
	vc_err err;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vc_fail(errno == EACCES	 ? VC_ERR_PERMISSION
			       : errno == ENOENT ? VC_ERR_NOT_FOUND
						 : VC_ERR_IO,
			       "cannot open key file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vc_fail(VC_ERR_INVALID, "key file %s is not a regular file", path);
	}
	/* Read one byte more than needed so a longer file is noticed even if it grew. */
	while (total < sizeof(master)) {
		got = read(fd, master + total, sizeof(master) - total);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = vc_fail(VC_ERR_IO, "reading key file %s: %s", path, strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		total += (size_t)got;
	}
	if (total != VC_KEY_BYTES || st.st_size != VC_KEY_BYTES) {
		err = vc_fail(VC_ERR_INVALID, "key file %s is %lld bytes, expected %d", path,
			      (long long)(total > VC_KEY_BYTES ? st.st_size : (off_t)total),
			      VC_KEY_BYTES);
		goto fail;
	}
	close(fd);
	err = vc_keyring_from_master(master, out);
	sodium_memzero(master, sizeof(master));
	return err;
fail:
	sodium_memzero(master, sizeof(master));
	close(fd);
	return err;
}

vc_err vc_keyring_from_passphrase(const char *passphrase, const uint8_t salt[VC_SALT_BYTES],
				  uint64_t opslimit, uint64_t memlimit, vc_keyring **out)
{
	uint8_t *master;
	vc_err err;

	*out = NULL;
	if (opslimit < VC_ARGON2_MIN_OPSLIMIT || memlimit < VC_ARGON2_MIN_MEMLIMIT)
		return vc_fail(VC_ERR_INVALID,
			       "weak KDF parameters in manifest: opslimit %llu, memlimit %llu "
			       "(minimum %u and %u)",
			       (unsigned long long)opslimit, (unsigned long long)memlimit,
			       VC_ARGON2_MIN_OPSLIMIT, VC_ARGON2_MIN_MEMLIMIT);
	if (opslimit > ARGON2_MAX_OPSLIMIT || memlimit > ARGON2_MAX_MEMLIMIT)
		return vc_fail(VC_ERR_INVALID,
			       "KDF parameters in manifest are too large: opslimit %llu, memlimit "
			       "%llu (maximum %u and %llu)",
			       (unsigned long long)opslimit, (unsigned long long)memlimit,
			       ARGON2_MAX_OPSLIMIT, ARGON2_MAX_MEMLIMIT);
	if (passphrase == NULL || passphrase[0] == '\0')
		return vc_fail(VC_ERR_INVALID, "the passphrase is empty");
	err = vc_crypto_init();
	if (err != VC_OK)
		return err;
	master = sodium_malloc(VC_KEY_BYTES);
	if (master == NULL)
		return vc_fail(VC_ERR_NOMEM, "cannot allocate locked memory for the master key");
	if (crypto_pwhash(master, VC_KEY_BYTES, passphrase, strlen(passphrase), salt,
			  (unsigned long long)opslimit, (size_t)memlimit,
			  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_free(master);
		return vc_fail(VC_ERR_NOMEM,
			       "Argon2id with memlimit %llu bytes failed: out of memory",
			       (unsigned long long)memlimit);
	}
	err = vc_keyring_from_master(master, out);
	sodium_free(master);
	return err;
}

void vc_keyring_free(vc_keyring *keyring)
{
	/* sodium_free wipes the guarded allocation before releasing it. */
	if (keyring != NULL)
		sodium_free(keyring);
}

void vc_key_id_hex(const uint8_t key_id[VC_KEY_ID_BYTES], char *buf)
{
	sodium_bin2hex(buf, 2 * VC_KEY_ID_BYTES + 1, key_id, VC_KEY_ID_BYTES);
}
