/*
 * Framed envelopes: how every object except the manifest is stored.
 * An object is a small header, a frame table and one or more frames; each
 * frame is sealed on its own with XChaCha20-Poly1305, its associated data
 * binding format version, key id, session id, object kind, object path,
 * frame index, frame count and plaintext length (docs/FORMAT.md). Without a
 * keyring (plaintext sessions) the same layout carries a BLAKE2b checksum
 * per frame instead of an AEAD tag.
 */
#ifndef VC_ENVELOPE_H
#define VC_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "format/keyring.h"
#include "vchunk/store.h"

typedef enum vc_object_kind {
	VC_OBJECT_CHUNK = 1,
	VC_OBJECT_METADATA = 2,
	VC_OBJECT_INDEX = 3,
} vc_object_kind;

/** What an object is and where it belongs: bound into every frame. */
typedef struct vc_object_ctx {
	const vc_keyring *keyring; /**< NULL for a plaintext session */
	const uint8_t *session_id; /**< VC_SESSION_ID_BYTES */
	vc_object_kind kind;
	const char *path;
} vc_object_ctx;

/** Location of one frame inside a stored object (from the frame table). */
typedef struct vc_frame_loc {
	uint64_t offset;     /**< byte offset of the sealed frame in the object */
	uint32_t sealed_len; /**< bytes of the sealed frame */
	uint32_t plain_len;  /**< bytes of its plaintext */
	/** Hash of the authenticated header, frame table and header nonce: every frame's
	 *  associated data includes it, so a frame opens only inside its own object. */
	uint8_t header_hash[VC_HASH_BYTES];
} vc_frame_loc;

/** Bytes a sealed frame adds to its plaintext (24-byte nonce + 16-byte tag). */
#define VC_FRAME_OVERHEAD 40u
/** Most frames one object may hold, and the largest plaintext of one frame. */
#define VC_ENVELOPE_MAX_FRAMES (1u << 20)
#define VC_FRAME_MAX_PLAIN (1u << 30)

/** Initialise libsodium (idempotent, thread-safe). Every entry point needing it calls this. */
vc_err vc_crypto_init(void);

/** BLAKE2b-256 (unkeyed crypto_generichash) of @p data: the manifest's object hash. */
vc_err vc_hash_object(const void *data, size_t len, uint8_t out[VC_HASH_BYTES]);

/** Fill @p buf with cryptographically secure random bytes (session ids, salts). */
void vc_random_bytes(void *buf, size_t len);

/**
 * Seal @p count plaintext frames into one stored object (header, frame
 * table, frames). *out is allocated; caller frees it.
 */
vc_err vc_envelope_seal(const vc_object_ctx *ctx, size_t count, const vc_bytes *frames,
			vc_bytes *out);

/**
 * Parse and authenticate the header and frame table of a stored object.
 * @p stored may be just the first bytes of the object (see
 * vc_envelope_header_size). *locs is allocated (caller frees).
 */
vc_err vc_envelope_frames(const vc_object_ctx *ctx, const uint8_t *stored, size_t len,
			  vc_frame_loc **locs, uint32_t *count);

/**
 * The header hash H (docs/FORMAT.md 4.1) of the stored object starting at
 * @p stored (at least its whole header, vc_envelope_header_size bytes):
 * what the manifest's "header_hash" records. VC_ERR_CORRUPT if the bytes are
 * not an envelope header or are too short. Authenticates nothing by itself.
 */
vc_err vc_envelope_header_hash(const uint8_t *stored, size_t len, uint8_t out[VC_HASH_BYTES]);

/** Bytes needed to parse the header (call with at least this many first). */
size_t vc_envelope_fixed_header_size(void);

/**
 * Bytes of the whole header (fixed part, frame table, header seal) of the
 * object whose first vc_envelope_fixed_header_size() bytes are @p fixed;
 * 0 if those bytes are not an envelope header. Lets a reader fetch exactly
 * the header with one range request.
 */
size_t vc_envelope_header_size(const uint8_t *fixed, size_t len);

/**
 * Open frame @p index: @p sealed points at its sealed bytes (loc.sealed_len).
 * Writes loc.plain_len bytes to @p plain, which may be @p sealed + 24 (the
 * ciphertext itself: the frame is then opened in place, saving a buffer). VC_ERR_AUTH on any
 * mismatch, with a message naming ctx->path and the frame.
 */
vc_err vc_envelope_open_frame(const vc_object_ctx *ctx, uint32_t index, uint32_t count,
			      const vc_frame_loc *loc, const uint8_t *sealed, uint8_t *plain);

/** Open every frame of a whole stored object and concatenate the plaintexts. */
vc_err vc_envelope_open_all(const vc_object_ctx *ctx, const uint8_t *stored, size_t len,
			    vc_bytes *plain);

#endif
