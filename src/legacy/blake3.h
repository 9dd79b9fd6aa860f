/* BLAKE3-256 (default hash mode, 32-byte output), as the original system hashed user ids. */
#ifndef VC_BLAKE3_H
#define VC_BLAKE3_H

#include <stddef.h>
#include <stdint.h>

#define VC_BLAKE3_OUT_BYTES 32

/**
 * Hash @p len bytes of @p data into @p out (32 bytes). Any length; the whole
 * input is processed in one call with a fixed-size stack of chaining values,
 * no allocation. Thread-safe.
 */
void vc_blake3(const void *data, size_t len, uint8_t out[VC_BLAKE3_OUT_BYTES]);

#endif
