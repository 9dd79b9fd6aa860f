/* Framed envelopes: sealing objects into header + frame table + frames, and opening them. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "format/envelope.h"
#include "format/manifest_codec.h"
#include "util/error_i.h"

/*
 * Layout (docs/FORMAT.md, "Envelope"): all integers little-endian.
 *   0  "VCHK"   4  version   5  kind   6  flags   7  reserved (0)
 *   8  frame count (u32)     12 key id (8 bytes, zero when plaintext)
 *   20 frame table: count x {sealed_len u32, plain_len u32}
 *   .. header seal: nonce (24) + tag (16) over the associated data of "frame" 0xffffffff
 *   .. frames: nonce (24) + ciphertext (plain_len) + tag (16)
 */
#define MAGIC "VCHK"
#define FIXED_HEADER 20u
#define TABLE_ENTRY 8u
#define NONCE_BYTES 24u
#define TAG_BYTES 16u
#define FLAG_ENCRYPTED 0x01u
#define HEADER_INDEX 0xffffffffu
#define AD_FIXED 78u
#define AD_MAX (AD_FIXED + 255u)

_Static_assert(NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(VC_FRAME_OVERHEAD == NONCE_BYTES + TAG_BYTES, "frame overhead");
_Static_assert(VC_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const char *kind_name(unsigned kind)
{
	switch (kind) {
	case VC_OBJECT_CHUNK: return "chunk";
	case VC_OBJECT_METADATA: return "metadata";
	case VC_OBJECT_INDEX: return "index";
	}
	return "unknown";
}

/* Tampering reads as an authentication failure with a key, as corruption without one. */
static vc_err bad_code(const vc_object_ctx *ctx)
{
	return ctx->keyring != NULL ? VC_ERR_AUTH : VC_ERR_CORRUPT;
}

static vc_err check_ctx(const vc_object_ctx *ctx)
{
	if (ctx == NULL || ctx->path == NULL || !vc_object_path_valid(ctx->path))
		return vc_fail(VC_ERR_INVALID, "invalid object path \"%s\"",
			       ctx != NULL && ctx->path != NULL ? ctx->path : "(null)");
	if (ctx->session_id == NULL)
		return vc_fail(VC_ERR_INVALID, "%s: no session id given", ctx->path);
	if (ctx->kind < VC_OBJECT_CHUNK || ctx->kind > VC_OBJECT_INDEX)
		return vc_fail(VC_ERR_INVALID, "%s: invalid object kind %d", ctx->path,
			       (int)ctx->kind);
	return vc_crypto_init();
}

/* The associated data every seal binds (docs/FORMAT.md, "Associated data"). */
static size_t build_ad(uint8_t ad[AD_MAX], const vc_object_ctx *ctx, uint32_t count, uint32_t index,
		       uint32_t plain_len, const uint8_t header_hash[VC_HASH_BYTES])
{
	size_t path_len = strlen(ctx->path);

	memcpy(ad, MAGIC, 4);
	ad[4] = VC_FORMAT_VERSION;
	ad[5] = (uint8_t)ctx->kind;
	ad[6] = ctx->keyring != NULL ? FLAG_ENCRYPTED : 0;
	ad[7] = index == HEADER_INDEX ? 'H' : 'F';
	if (ctx->keyring != NULL)
		memcpy(ad + 8, ctx->keyring->key_id, VC_KEY_ID_BYTES);
	else
		memset(ad + 8, 0, VC_KEY_ID_BYTES);
	memcpy(ad + 16, ctx->session_id, VC_SESSION_ID_BYTES);
	put_u32(ad + 32, count);
	put_u32(ad + 36, index);
	put_u32(ad + 40, plain_len);
	memcpy(ad + 44, header_hash, VC_HASH_BYTES);
	ad[76] = (uint8_t)path_len;
	ad[77] = (uint8_t)(path_len >> 8);
	memcpy(ad + AD_FIXED, ctx->path, path_len);
	return AD_FIXED + path_len;
}

/* Plaintext mode: an unkeyed BLAKE2b-128 over (associated data || plaintext). */
static void checksum(const uint8_t *ad, size_t ad_len, const uint8_t *plain, size_t len,
		     uint8_t out[TAG_BYTES])
{
	crypto_generichash_state state;

	crypto_generichash_init(&state, NULL, 0, TAG_BYTES);
	crypto_generichash_update(&state, ad, ad_len);
	crypto_generichash_update(&state, plain, len);
	crypto_generichash_final(&state, out, TAG_BYTES);
}

/* Seal one frame: out receives nonce || ciphertext || tag (plain_len + 40 bytes). */
static void seal_one(const vc_object_ctx *ctx, const uint8_t *ad, size_t ad_len,
		     const uint8_t *plain, size_t len, uint8_t *out)
{
	if (ctx->keyring == NULL) {
		memset(out, 0, NONCE_BYTES);
		if (len > 0)
			memcpy(out + NONCE_BYTES, plain, len);
		checksum(ad, ad_len, plain, len, out + NONCE_BYTES + len);
		return;
	}
	randombytes_buf(out, NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
	    out + NONCE_BYTES, out + NONCE_BYTES + len, NULL, len > 0 ? plain : out, len, ad,
	    ad_len, NULL, out, ctx->keyring->object_key);
}

/* Open one sealed frame into plain (may be NULL when len is 0); false if it does not verify. */
static bool open_one(const vc_object_ctx *ctx, const uint8_t *ad, size_t ad_len,
		     const uint8_t *sealed, size_t len, uint8_t *plain)
{
	static const uint8_t zero_nonce[NONCE_BYTES];
	uint8_t sum[TAG_BYTES];
	uint8_t dummy;

	if (ctx->keyring != NULL)
		return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
			   len > 0 ? plain : &dummy, NULL, sealed + NONCE_BYTES, len,
			   sealed + NONCE_BYTES + len, ad, ad_len, sealed,
			   ctx->keyring->object_key) == 0;
	if (sodium_memcmp(sealed, zero_nonce, NONCE_BYTES) != 0)
		return false;
	checksum(ad, ad_len, sealed + NONCE_BYTES, len, sum);
	if (sodium_memcmp(sum, sealed + NONCE_BYTES + len, TAG_BYTES) != 0)
		return false;
	/* memmove: a caller may open a frame in place (plain == sealed + 24). */
	if (len > 0)
		memmove(plain, sealed + NONCE_BYTES, len);
	return true;
}

size_t vc_envelope_fixed_header_size(void)
{
	return FIXED_HEADER;
}

size_t vc_envelope_header_size(const uint8_t *fixed, size_t len)
{
	uint32_t count;

	if (len < FIXED_HEADER || memcmp(fixed, MAGIC, 4) != 0)
		return 0;
	count = get_u32(fixed + 8);
	if (count > VC_ENVELOPE_MAX_FRAMES)
		return 0;
	return FIXED_HEADER + (size_t)count * TABLE_ENTRY + VC_FRAME_OVERHEAD;
}

vc_err vc_envelope_header_hash(const uint8_t *stored, size_t len, uint8_t out[VC_HASH_BYTES])
{
	size_t header_len = vc_envelope_header_size(stored, len);

	if (header_len == 0 || len < header_len)
		return vc_fail(VC_ERR_CORRUPT, "not an envelope header (%zu bytes)", len);
	/* H covers everything before the header tag: fixed header, table, header nonce. */
	crypto_generichash(out, VC_HASH_BYTES, stored, header_len - 16, NULL, 0);
	return VC_OK;
}

vc_err vc_envelope_seal(const vc_object_ctx *ctx, size_t count, const vc_bytes *frames,
			vc_bytes *out)
{
	uint8_t header_hash[VC_HASH_BYTES];
	uint8_t ad[AD_MAX];
	size_t header_len, total, pos, ad_len, i;
	uint8_t *p;
	vc_err err;

	memset(out, 0, sizeof(*out));
	err = check_ctx(ctx);
	if (err != VC_OK)
		return err;
	if (count > VC_ENVELOPE_MAX_FRAMES)
		return vc_fail(VC_ERR_TOO_BIG, "%s: %zu frames, at most %u allowed", ctx->path,
			       count, VC_ENVELOPE_MAX_FRAMES);
	header_len = FIXED_HEADER + count * TABLE_ENTRY + VC_FRAME_OVERHEAD;
	total = header_len;
	for (i = 0; i < count; i++) {
		if (frames[i].len > VC_FRAME_MAX_PLAIN)
			return vc_fail(VC_ERR_TOO_BIG, "%s: frame %zu holds %zu bytes, at most %u",
				       ctx->path, i, frames[i].len, VC_FRAME_MAX_PLAIN);
		if (total > SIZE_MAX - frames[i].len - VC_FRAME_OVERHEAD)
			return vc_fail(VC_ERR_TOO_BIG, "%s: object too large", ctx->path);
		total += frames[i].len + VC_FRAME_OVERHEAD;
	}
	err = vc_bytes_reserve(out, total);
	if (err != VC_OK)
		return vc_fail_context(err, "sealing %s", ctx->path);
	p = out->data;
	memcpy(p, MAGIC, 4);
	p[4] = VC_FORMAT_VERSION;
	p[5] = (uint8_t)ctx->kind;
	p[6] = ctx->keyring != NULL ? FLAG_ENCRYPTED : 0;
	p[7] = 0;
	put_u32(p + 8, (uint32_t)count);
	if (ctx->keyring != NULL)
		memcpy(p + 12, ctx->keyring->key_id, VC_KEY_ID_BYTES);
	else
		memset(p + 12, 0, VC_KEY_ID_BYTES);
	for (i = 0; i < count; i++) {
		put_u32(p + FIXED_HEADER + i * TABLE_ENTRY,
			(uint32_t)(frames[i].len + VC_FRAME_OVERHEAD));
		put_u32(p + FIXED_HEADER + i * TABLE_ENTRY + 4, (uint32_t)frames[i].len);
	}
	/* The header nonce is random, so the header hash (and every frame bound to it) is
	 * unique to this object even when another object has the same sizes. */
	pos = header_len - VC_FRAME_OVERHEAD;
	if (ctx->keyring != NULL)
		randombytes_buf(p + pos, NONCE_BYTES);
	else
		memset(p + pos, 0, NONCE_BYTES);
	crypto_generichash(header_hash, VC_HASH_BYTES, p, pos + NONCE_BYTES, NULL, 0);
	ad_len = build_ad(ad, ctx, (uint32_t)count, HEADER_INDEX, 0, header_hash);
	if (ctx->keyring != NULL)
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
		    p + pos + NONCE_BYTES, p + pos + NONCE_BYTES, NULL, p, 0, ad, ad_len, NULL,
		    p + pos, ctx->keyring->object_key);
	else
		checksum(ad, ad_len, NULL, 0, p + pos + NONCE_BYTES);
	pos = header_len;
	for (i = 0; i < count; i++) {
		ad_len = build_ad(ad, ctx, (uint32_t)count, (uint32_t)i, (uint32_t)frames[i].len,
				  header_hash);
		seal_one(ctx, ad, ad_len, frames[i].data, frames[i].len, p + pos);
		pos += frames[i].len + VC_FRAME_OVERHEAD;
	}
	out->len = total;
	return VC_OK;
}

/* Check the fixed header against what the caller expects before any cryptography. */
static vc_err check_fixed_header(const vc_object_ctx *ctx, const uint8_t *p, size_t len)
{
	char want[2 * VC_KEY_ID_BYTES + 1], got[2 * VC_KEY_ID_BYTES + 1];

	if (len < FIXED_HEADER)
		return vc_fail(bad_code(ctx),
			       "%s is truncated: %zu bytes, shorter than the "
			       "envelope header",
			       ctx->path, len);
	if (memcmp(p, MAGIC, 4) != 0)
		return vc_fail(bad_code(ctx), "%s is not a vchunk envelope (bad magic)", ctx->path);
	if (p[4] != VC_FORMAT_VERSION)
		return vc_fail(bad_code(ctx),
			       "%s: envelope format version %u is not supported (or the object "
			       "is damaged)",
			       ctx->path, p[4]);
	if (p[5] != (uint8_t)ctx->kind)
		return vc_fail(bad_code(ctx), "%s holds a %s object where a %s object belongs",
			       ctx->path, kind_name(p[5]), kind_name(ctx->kind));
	if ((p[6] & ~FLAG_ENCRYPTED) != 0 || p[7] != 0)
		return vc_fail(bad_code(ctx), "%s: unknown envelope flags 0x%02x%02x", ctx->path,
			       p[6], p[7]);
	if ((p[6] & FLAG_ENCRYPTED) != 0 && ctx->keyring == NULL)
		return vc_fail(VC_ERR_PERMISSION, "%s is encrypted: a key is required", ctx->path);
	if ((p[6] & FLAG_ENCRYPTED) == 0 && ctx->keyring != NULL)
		return vc_fail(VC_ERR_AUTH,
			       "%s is not encrypted but the session is: refusing an "
			       "unauthenticated object (tampered data)",
			       ctx->path);
	if (ctx->keyring != NULL &&
	    sodium_memcmp(p + 12, ctx->keyring->key_id, VC_KEY_ID_BYTES) != 0) {
		vc_key_id_hex(p + 12, got);
		vc_key_id_hex(ctx->keyring->key_id, want);
		return vc_fail(VC_ERR_AUTH,
			       "%s was sealed with key id %s, but the key given has id %s: wrong "
			       "key or tampered data",
			       ctx->path, got, want);
	}
	if (get_u32(p + 8) > VC_ENVELOPE_MAX_FRAMES)
		return vc_fail(bad_code(ctx), "%s claims %u frames (at most %u)", ctx->path,
			       get_u32(p + 8), VC_ENVELOPE_MAX_FRAMES);
	return VC_OK;
}

/* Turn the frame table into locations, checking every length. */
static vc_err read_table(const vc_object_ctx *ctx, const uint8_t *p, uint32_t count,
			 const uint8_t header_hash[VC_HASH_BYTES], vc_frame_loc *locs)
{
	uint64_t offset = FIXED_HEADER + (uint64_t)count * TABLE_ENTRY + VC_FRAME_OVERHEAD;
	uint32_t i;

	for (i = 0; i < count; i++) {
		uint32_t sealed = get_u32(p + FIXED_HEADER + (size_t)i * TABLE_ENTRY);
		uint32_t plain = get_u32(p + FIXED_HEADER + (size_t)i * TABLE_ENTRY + 4);

		if (plain > VC_FRAME_MAX_PLAIN || sealed != plain + VC_FRAME_OVERHEAD)
			return vc_fail(bad_code(ctx),
				       "%s: frame %u of %u has inconsistent sizes (sealed %u, "
				       "plain %u): tampered or corrupt frame table",
				       ctx->path, i, count, sealed, plain);
		locs[i].offset = offset;
		locs[i].sealed_len = sealed;
		locs[i].plain_len = plain;
		memcpy(locs[i].header_hash, header_hash, VC_HASH_BYTES);
		offset += sealed;
	}
	return VC_OK;
}

vc_err vc_envelope_frames(const vc_object_ctx *ctx, const uint8_t *stored, size_t len,
			  vc_frame_loc **locs, uint32_t *count)
{
	uint8_t header_hash[VC_HASH_BYTES];
	uint8_t ad[AD_MAX];
	size_t header_len, seal_pos, ad_len;
	vc_frame_loc *table;
	uint32_t n;
	vc_err err;

	*locs = NULL;
	*count = 0;
	err = check_ctx(ctx);
	if (err != VC_OK)
		return err;
	err = check_fixed_header(ctx, stored, len);
	if (err != VC_OK)
		return err;
	n = get_u32(stored + 8);
	header_len = FIXED_HEADER + (size_t)n * TABLE_ENTRY + VC_FRAME_OVERHEAD;
	if (len < header_len)
		return vc_fail(bad_code(ctx),
			       "%s is truncated: %zu bytes, its header and frame table need %zu",
			       ctx->path, len, header_len);
	seal_pos = header_len - VC_FRAME_OVERHEAD;
	crypto_generichash(header_hash, VC_HASH_BYTES, stored, seal_pos + NONCE_BYTES, NULL, 0);
	ad_len = build_ad(ad, ctx, n, HEADER_INDEX, 0, header_hash);
	if (!open_one(ctx, ad, ad_len, stored + seal_pos, 0, NULL))
		return vc_fail(bad_code(ctx),
			       "%s: envelope header failed %s: wrong key, wrong session or path, "
			       "or tampered data",
			       ctx->path, ctx->keyring != NULL ? "authentication" : "its checksum");
	table = calloc(n > 0 ? n : 1, sizeof(*table));
	if (table == NULL)
		return vc_fail(VC_ERR_NOMEM, "%s: out of memory for a frame table of %u frames",
			       ctx->path, n);
	err = read_table(ctx, stored, n, header_hash, table);
	if (err != VC_OK) {
		free(table);
		return err;
	}
	*locs = table;
	*count = n;
	return VC_OK;
}

vc_err vc_envelope_open_frame(const vc_object_ctx *ctx, uint32_t index, uint32_t count,
			      const vc_frame_loc *loc, const uint8_t *sealed, uint8_t *plain)
{
	uint8_t ad[AD_MAX];
	size_t ad_len;
	vc_err err;

	err = check_ctx(ctx);
	if (err != VC_OK)
		return err;
	if (index >= count || loc->plain_len > VC_FRAME_MAX_PLAIN ||
	    loc->sealed_len != loc->plain_len + VC_FRAME_OVERHEAD)
		return vc_fail(VC_ERR_INVALID, "%s: frame %u of %u: invalid frame location",
			       ctx->path, index, count);
	ad_len = build_ad(ad, ctx, count, index, loc->plain_len, loc->header_hash);
	if (!open_one(ctx, ad, ad_len, sealed, loc->plain_len, plain))
		return vc_fail(bad_code(ctx),
			       "%s: frame %u of %u failed %s: wrong key or tampered data",
			       ctx->path, index, count,
			       ctx->keyring != NULL ? "authentication" : "its checksum");
	return VC_OK;
}

vc_err vc_envelope_open_all(const vc_object_ctx *ctx, const uint8_t *stored, size_t len,
			    vc_bytes *plain)
{
	vc_frame_loc *locs = NULL;
	uint64_t end, total = 0;
	uint32_t count, i;
	vc_err err;

	memset(plain, 0, sizeof(*plain));
	err = vc_envelope_frames(ctx, stored, len, &locs, &count);
	if (err != VC_OK)
		return err;
	end = FIXED_HEADER + (uint64_t)count * TABLE_ENTRY + VC_FRAME_OVERHEAD;
	for (i = 0; i < count; i++) {
		end += locs[i].sealed_len;
		total += locs[i].plain_len;
	}
	/* The sizes are authenticated; a mismatch means truncation or appended bytes. */
	if (end != len) {
		err = vc_fail(bad_code(ctx),
			      "%s is %zu bytes but its frame table describes %llu: "
			      "truncated or extended object",
			      ctx->path, len, (unsigned long long)end);
		goto out;
	}
	err = vc_bytes_reserve(plain, (size_t)total);
	if (err != VC_OK)
		goto out;
	for (i = 0; i < count; i++) {
		uint8_t *dst = plain->data != NULL ? plain->data + plain->len : NULL;

		err = vc_envelope_open_frame(ctx, i, count, &locs[i], stored + locs[i].offset, dst);
		if (err != VC_OK) {
			vc_bytes_free(plain);
			goto out;
		}
		plain->len += locs[i].plain_len;
	}
out:
	free(locs);
	return err;
}
