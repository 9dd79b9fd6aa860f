/* Little-endian encoding helpers for the index serialisers: appending to a vc_bytes and
 * bounds-checked reading from a byte range. */
#ifndef VC_LE_I_H
#define VC_LE_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vchunk/store.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define VC_LE_HOST 1
#else
#define VC_LE_HOST 0
#endif

/** A cursor over untrusted input: every read checks what is left. */
typedef struct vc_le_reader {
	const uint8_t *p;
	size_t left;
} vc_le_reader;

static inline vc_err vc_le_put_u32(vc_bytes *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	return vc_bytes_append(b, x, 4);
}

static inline vc_err vc_le_put_u64(vc_bytes *b, uint64_t v)
{
	vc_err err = vc_le_put_u32(b, (uint32_t)v);

	return err != VC_OK ? err : vc_le_put_u32(b, (uint32_t)(v >> 32));
}

/* Append @p n 32-bit words (uint32 or float bit patterns) from @p src. */
static inline vc_err vc_le_put_words(vc_bytes *b, const void *src, size_t n)
{
	const uint32_t *w = src;
	vc_err err;

	if (VC_LE_HOST)
		return vc_bytes_append(b, src, n * 4);
	err = vc_bytes_reserve(b, n * 4);
	for (size_t i = 0; i < n && err == VC_OK; i++)
		err = vc_le_put_u32(b, w[i]);
	return err;
}

static inline bool vc_le_get_bytes(vc_le_reader *r, void *dst, size_t n)
{
	if (n > r->left)
		return false;
	if (n == 0)
		return true; /* dst may be NULL for an empty array */
	memcpy(dst, r->p, n);
	r->p += n;
	r->left -= n;
	return true;
}

static inline bool vc_le_get_u32(vc_le_reader *r, uint32_t *v)
{
	uint8_t x[4];

	if (!vc_le_get_bytes(r, x, 4))
		return false;
	*v = (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
	return true;
}

static inline bool vc_le_get_u64(vc_le_reader *r, uint64_t *v)
{
	uint32_t lo, hi;

	if (!vc_le_get_u32(r, &lo) || !vc_le_get_u32(r, &hi))
		return false;
	*v = (uint64_t)hi << 32 | lo;
	return true;
}

/* Read @p n 32-bit words into @p dst (uint32 or float). */
static inline bool vc_le_get_words(vc_le_reader *r, void *dst, size_t n)
{
	uint32_t *w = dst;

	if (n > r->left / 4)
		return false;
	if (VC_LE_HOST)
		return vc_le_get_bytes(r, dst, n * 4);
	for (size_t i = 0; i < n; i++)
		vc_le_get_u32(r, &w[i]);
	return true;
}

#endif
