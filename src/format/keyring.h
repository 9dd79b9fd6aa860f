/* Session keys: the master key (file or Argon2id passphrase) and its per-purpose subkeys. */
#ifndef VC_KEYRING_H
#define VC_KEYRING_H

#include <stdint.h>

#include "vchunk/error.h"
#include "vchunk/manifest.h"

#define VC_KEY_BYTES 32

/** Minimum Argon2id parameters accepted on load (libsodium's INTERACTIVE). */
#define VC_ARGON2_MIN_OPSLIMIT 2u
#define VC_ARGON2_MIN_MEMLIMIT (64u * 1024u * 1024u)

/**
 * Subkeys derived from the master key (crypto_kdf, context "vchunk01"):
 * one for the manifest MAC, one for object encryption, one for the key id.
 * Lives in sodium_malloc memory (guarded, locked, wiped on free).
 * Immutable after creation: may be shared read-only between threads.
 */
typedef struct vc_keyring {
	uint8_t mac_key[VC_KEY_BYTES];
	uint8_t object_key[VC_KEY_BYTES];
	uint8_t key_id[VC_KEY_ID_BYTES];
} vc_keyring;

/** Derive a keyring from a 32-byte master key. */
vc_err vc_keyring_from_master(const uint8_t master[VC_KEY_BYTES], vc_keyring **out);

/** Read a 32-byte key file (exactly 32 raw bytes) and derive a keyring. */
vc_err vc_keyring_from_file(const char *path, vc_keyring **out);

/**
 * Stretch a passphrase with Argon2id and derive a keyring. Refuses
 * parameters below the minimums (VC_ERR_INVALID: "weak KDF parameters").
 */
vc_err vc_keyring_from_passphrase(const char *passphrase, const uint8_t salt[VC_SALT_BYTES],
				  uint64_t opslimit, uint64_t memlimit, vc_keyring **out);

/** Wipe and free (NULL-safe). */
void vc_keyring_free(vc_keyring *keyring);

/** Lowercase hex of a key id, into buf (2*VC_KEY_ID_BYTES+1 bytes). */
void vc_key_id_hex(const uint8_t key_id[VC_KEY_ID_BYTES], char *buf);

#endif
