/*
 * A bounds-checked CBOR cursor over one in-memory file, for the serde_cbor encoding the
 * original system wrote. Every length is checked against the bytes that remain before
 * anything is allocated, so a hostile file costs at most a small multiple of its size.
 * Errors are VC_ERR_CORRUPT with the file name and byte offset. Not thread-safe: one
 * cursor per reader.
 */
#ifndef VC_LEGACY_CBOR_H
#define VC_LEGACY_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "vchunk/error.h"

/** Deepest nesting accepted when converting to JSON. */
#define VC_LCBOR_MAX_DEPTH 64

enum {
	VC_LCBOR_UINT = 0,
	VC_LCBOR_NEGINT = 1,
	VC_LCBOR_BYTES = 2,
	VC_LCBOR_TEXT = 3,
	VC_LCBOR_ARRAY = 4,
	VC_LCBOR_MAP = 5,
	VC_LCBOR_TAG = 6,
	VC_LCBOR_SIMPLE = 7, /**< false, true, null, undefined, floats */
};

typedef struct vc_lcbor {
	const uint8_t *data;
	size_t len;
	size_t pos;
	const char *name; /**< file name for messages, e.g. "chunks/chunk-3.cbor" */
} vc_lcbor;

/** One item head. For strings the payload is consumed too and @p str points at it. */
typedef struct vc_lcbor_item {
	int major;	/**< VC_LCBOR_* */
	uint8_t info;	/**< additional information (low 5 bits of the head) */
	uint64_t value; /**< integer value, string length, array/map count, tag or simple value */
	const uint8_t *str; /**< bytes or text payload */
	double real;	    /**< major 7 floats (info 25, 26, 27) */
	size_t offset;	    /**< where the head starts */
} vc_lcbor_item;

void vc_lcbor_init(vc_lcbor *c, const void *data, size_t len, const char *name);

/** Bytes not yet consumed. */
size_t vc_lcbor_remaining(const vc_lcbor *c);

/** VC_ERR_CORRUPT "NAME: byte OFFSET: message"; always returns VC_ERR_CORRUPT. */
vc_err vc_lcbor_fail(const vc_lcbor *c, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Read one item head. Indefinite lengths and reserved encodings are
 * refused; string payloads must fit in the buffer. Tags are returned as
 * items (callers that do not expect one reject or skip it).
 */
vc_err vc_lcbor_next(vc_lcbor *c, vc_lcbor_item *item);

/** Skip one complete item (without recursion: a count of items still owed). */
vc_err vc_lcbor_skip(vc_lcbor *c);

/** Array head; *count is at most the bytes left (each element takes at least one). */
vc_err vc_lcbor_array(vc_lcbor *c, uint64_t *count, const char *what);

/** Map head; *count pairs, at most half the bytes left. */
vc_err vc_lcbor_map(vc_lcbor *c, uint64_t *count, const char *what);

/** A text string: pointer into the buffer (not NUL-terminated) and length. */
vc_err vc_lcbor_text(vc_lcbor *c, const char **text, size_t *len, const char *what);

/** An unsigned integer. */
vc_err vc_lcbor_uint(vc_lcbor *c, uint64_t *value, const char *what);

/** A boolean. */
vc_err vc_lcbor_bool(vc_lcbor *c, bool *value, const char *what);

/** True (and consumes it) if the next item is null; false leaves the cursor alone. */
bool vc_lcbor_take_null(vc_lcbor *c);

/**
 * A number as float32: half, single or double precision, or an integer.
 * Half and single are converted bit-exactly, a double rounds to nearest;
 * non-finite results (NaN, infinity, out of float range) are refused.
 */
vc_err vc_lcbor_float(vc_lcbor *c, float *value, const char *what);

/**
 * A 32-byte vector id: an array of 32 integers 0..255 (as serde_cbor writes
 * [u8; 32]), or a 32-byte byte string.
 */
vc_err vc_lcbor_id(vc_lcbor *c, uint8_t id[32], const char *what);

/**
 * Convert one item to JSON: integers (beyond int64 as reals), floats,
 * text (valid UTF-8 without NUL), booleans, null (and undefined), arrays,
 * maps with text or integer keys, a 32-integer id array as key becomes its
 * hex; byte strings become arrays of integers; tags are dropped. Nesting
 * beyond VC_LCBOR_MAX_DEPTH is refused. The caller owns *out.
 */
vc_err vc_lcbor_to_json(vc_lcbor *c, json_t **out);

/** Half-precision bits to float32, exactly (subnormals, infinities and NaN payloads kept). */
float vc_half_to_float(uint16_t half);

#endif
