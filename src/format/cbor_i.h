/*
 * The small CBOR subset the format uses (RFC 8949): a writer of definite-length items with
 * shortest-form heads, and a bounds-checked reading cursor that never trusts a length before
 * comparing it with the bytes that remain.
 */
#ifndef VC_CBOR_I_H
#define VC_CBOR_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vchunk/store.h"

enum {
	VC_CBOR_UINT = 0,
	VC_CBOR_NEGINT = 1,
	VC_CBOR_BYTES = 2,
	VC_CBOR_TEXT = 3,
	VC_CBOR_ARRAY = 4,
	VC_CBOR_MAP = 5,
	VC_CBOR_TAG = 6,
	VC_CBOR_SIMPLE = 7,
};

/** Nesting limit for metadata items (maps and arrays inside each other). */
#define VC_CBOR_MAX_DEPTH 64

/** Append a head (major type and argument, shortest encoding). */
vc_err vc_cbor_put_head(vc_bytes *out, unsigned major, uint64_t arg);
/** Append a text string. */
vc_err vc_cbor_put_text(vc_bytes *out, const char *text, size_t len);
/** Append a signed integer (major 0 or 1). */
vc_err vc_cbor_put_int(vc_bytes *out, int64_t value);

/** A reading position inside [p, end). */
typedef struct vc_cbor_cursor {
	const uint8_t *p;
	const uint8_t *end;
} vc_cbor_cursor;

/** One decoded head. For major 7, ai is the additional info (20..27) and arg the raw bits. */
typedef struct vc_cbor_head {
	unsigned major;
	unsigned ai;
	uint64_t arg;
} vc_cbor_head;

/**
 * Read one head. Fails (false) on truncation, reserved additional info (28..30) and
 * indefinite lengths (31): the format only uses definite lengths.
 */
bool vc_cbor_read_head(vc_cbor_cursor *cur, vc_cbor_head *head);

/** Read a text string's bytes (not NUL-terminated, not yet UTF-8 checked). */
bool vc_cbor_read_text(vc_cbor_cursor *cur, const uint8_t **text, size_t *len);

/** Read a text string and check it equals @p key. */
bool vc_cbor_expect_key(vc_cbor_cursor *cur, const char *key);

/** Read an unsigned integer no larger than @p max. */
bool vc_cbor_read_uint(vc_cbor_cursor *cur, uint64_t max, uint64_t *out);

/** Read a signed integer in [min, max]. */
bool vc_cbor_read_int(vc_cbor_cursor *cur, int64_t min, int64_t max, int64_t *out);

/** Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
bool vc_utf8_valid(const uint8_t *s, size_t len);

/** Decode an f16/f32/f64 payload (from a major-7 head) to a double. */
double vc_cbor_float_value(const vc_cbor_head *head);

/**
 * Skip one JSON-compatible item (map with text keys, array, text, integer in int64
 * range, finite float, true, false, null), checking it. @p why gets a static reason.
 */
bool vc_cbor_skip_json(vc_cbor_cursor *cur, unsigned depth, const char **why);

#endif
