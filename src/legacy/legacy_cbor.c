/* Bounds-checked CBOR cursor for the original system's serde_cbor files: heads, skipping,
 * typed reads (floats, ids, text) and conversion of arbitrary items to JSON. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "legacy/legacy_cbor.h"
#include "util/error_i.h"

static const char *const MAJOR_NAMES[8] = {
    "an unsigned integer",
    "a negative integer",
    "a byte string",
    "a text string",
    "an array",
    "a map",
    "a tag",
    "a simple value or float",
};

void vc_lcbor_init(vc_lcbor *c, const void *data, size_t len, const char *name)
{
	c->data = data;
	c->len = len;
	c->pos = 0;
	c->name = name;
}

size_t vc_lcbor_remaining(const vc_lcbor *c)
{
	return c->len - c->pos;
}

vc_err vc_lcbor_fail(const vc_lcbor *c, size_t offset, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return vc_fail(VC_ERR_CORRUPT, "%s: byte %zu: %s", c->name, offset, message);
}

float vc_half_to_float(uint16_t half)
{
	uint32_t sign = (uint32_t)(half & 0x8000) << 16;
	uint32_t exponent = (half >> 10) & 0x1f;
	uint32_t mantissa = half & 0x3ff;
	uint32_t bits;
	float f;

	if (exponent == 0) {
		/* Zero or subnormal: mantissa * 2^-24 is exact in float32. */
		f = ldexpf((float)mantissa, -24);
		return sign ? -f : f;
	}
	if (exponent == 31)
		bits = sign | 0x7f800000u | mantissa << 13;
	else
		bits = sign | (exponent - 15 + 127) << 23 | mantissa << 13;
	memcpy(&f, &bits, sizeof(f));
	return f;
}

static uint64_t read_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void decode_real(vc_lcbor_item *item)
{
	if (item->info == 25) {
		item->real = vc_half_to_float((uint16_t)item->value);
	} else if (item->info == 26) {
		uint32_t bits = (uint32_t)item->value;
		float f;

		memcpy(&f, &bits, sizeof(f));
		item->real = f;
	} else {
		double d;

		memcpy(&d, &item->value, sizeof(d));
		item->real = d;
	}
}

vc_err vc_lcbor_next(vc_lcbor *c, vc_lcbor_item *item)
{
	static const unsigned extra[4] = {1, 2, 4, 8};
	size_t start = c->pos;
	uint8_t head;

	memset(item, 0, sizeof(*item));
	item->offset = start;
	if (c->pos >= c->len)
		return vc_lcbor_fail(c, start, "unexpected end of data (file truncated?)");
	head = c->data[c->pos++];
	item->major = head >> 5;
	item->info = head & 0x1f;
	if (item->info < 24) {
		item->value = item->info;
	} else if (item->info <= 27) {
		unsigned n = extra[item->info - 24];

		if (vc_lcbor_remaining(c) < n)
			return vc_lcbor_fail(c, start, "unexpected end of data inside %s",
					     MAJOR_NAMES[item->major]);
		item->value = read_be(c->data + c->pos, n);
		c->pos += n;
	} else if (item->info == 31) {
		return vc_lcbor_fail(c, start, "indefinite-length %s is not supported",
				     MAJOR_NAMES[item->major]);
	} else {
		return vc_lcbor_fail(c, start, "reserved CBOR encoding 0x%02x", head);
	}
	if (item->major == VC_LCBOR_BYTES || item->major == VC_LCBOR_TEXT) {
		if (item->value > vc_lcbor_remaining(c))
			return vc_lcbor_fail(
			    c, start, "%s of %" PRIu64 " bytes runs past the end (%zu left)",
			    MAJOR_NAMES[item->major], item->value, vc_lcbor_remaining(c));
		item->str = c->data + c->pos;
		c->pos += (size_t)item->value;
	} else if (item->major == VC_LCBOR_SIMPLE && item->info >= 25) {
		decode_real(item);
	} else if (item->major == VC_LCBOR_SIMPLE && item->info == 24 && item->value < 32) {
		return vc_lcbor_fail(c, start, "badly encoded simple value %" PRIu64, item->value);
	}
	return VC_OK;
}

vc_err vc_lcbor_skip(vc_lcbor *c)
{
	uint64_t owed = 1;
	vc_lcbor_item item;
	vc_err err;

	while (owed > 0) {
		err = vc_lcbor_next(c, &item);
		if (err != VC_OK)
			return err;
		owed--;
		if (item.major == VC_LCBOR_ARRAY || item.major == VC_LCBOR_MAP ||
		    item.major == VC_LCBOR_TAG) {
			uint64_t n = item.major == VC_LCBOR_TAG ? 1 : item.value;

			/* Every owed item takes at least one byte, so owed stays below the
			 * buffer size and cannot overflow. */
			if (item.major == VC_LCBOR_MAP && n > UINT64_MAX / 2)
				return vc_lcbor_fail(c, item.offset, "map too large");
			if (item.major == VC_LCBOR_MAP)
				n *= 2;
			if (n > vc_lcbor_remaining(c) || owed + n > vc_lcbor_remaining(c))
				return vc_lcbor_fail(c, item.offset,
						     "%s of %" PRIu64 " items runs past the end",
						     MAJOR_NAMES[item.major], item.value);
			owed += n;
		}
	}
	return VC_OK;
}

static vc_err expect(vc_lcbor *c, vc_lcbor_item *item, int major, const char *what)
{
	vc_err err = vc_lcbor_next(c, item);

	if (err != VC_OK)
		return err;
	if (item->major != major)
		return vc_lcbor_fail(c, item->offset, "%s should be %s, found %s", what,
				     MAJOR_NAMES[major], MAJOR_NAMES[item->major]);
	return VC_OK;
}

vc_err vc_lcbor_array(vc_lcbor *c, uint64_t *count, const char *what)
{
	vc_lcbor_item item;
	vc_err err = expect(c, &item, VC_LCBOR_ARRAY, what);

	if (err != VC_OK)
		return err;
	if (item.value > vc_lcbor_remaining(c))
		return vc_lcbor_fail(c, item.offset,
				     "%s claims %" PRIu64 " elements but only %zu bytes remain",
				     what, item.value, vc_lcbor_remaining(c));
	*count = item.value;
	return VC_OK;
}

vc_err vc_lcbor_map(vc_lcbor *c, uint64_t *count, const char *what)
{
	vc_lcbor_item item;
	vc_err err = expect(c, &item, VC_LCBOR_MAP, what);

	if (err != VC_OK)
		return err;
	if (item.value > vc_lcbor_remaining(c) / 2)
		return vc_lcbor_fail(c, item.offset,
				     "%s claims %" PRIu64 " entries but only %zu bytes remain",
				     what, item.value, vc_lcbor_remaining(c));
	*count = item.value;
	return VC_OK;
}

vc_err vc_lcbor_text(vc_lcbor *c, const char **text, size_t *len, const char *what)
{
	vc_lcbor_item item;
	vc_err err = expect(c, &item, VC_LCBOR_TEXT, what);

	if (err != VC_OK)
		return err;
	*text = (const char *)item.str;
	*len = (size_t)item.value;
	return VC_OK;
}

vc_err vc_lcbor_uint(vc_lcbor *c, uint64_t *value, const char *what)
{
	vc_lcbor_item item;
	vc_err err = expect(c, &item, VC_LCBOR_UINT, what);

	if (err != VC_OK)
		return err;
	*value = item.value;
	return VC_OK;
}

vc_err vc_lcbor_bool(vc_lcbor *c, bool *value, const char *what)
{
	vc_lcbor_item item;
	vc_err err = vc_lcbor_next(c, &item);

	if (err != VC_OK)
		return err;
	if (item.major != VC_LCBOR_SIMPLE || (item.value != 20 && item.value != 21) ||
	    item.info >= 25)
		return vc_lcbor_fail(c, item.offset, "%s should be true or false", what);
	*value = item.value == 21;
	return VC_OK;
}

bool vc_lcbor_take_null(vc_lcbor *c)
{
	if (c->pos < c->len && c->data[c->pos] == 0xf6) {
		c->pos++;
		return true;
	}
	return false;
}

vc_err vc_lcbor_float(vc_lcbor *c, float *value, const char *what)
{
	vc_lcbor_item item;
	vc_err err;
	float f;

	/* Fast path for the single-precision floats that make up most of a legacy session. */
	if (c->len - c->pos >= 5 && c->data[c->pos] == 0xfa) {
		uint32_t bits = (uint32_t)read_be(c->data + c->pos + 1, 4);

		memcpy(&f, &bits, sizeof(f));
		if (isfinite(f)) {
			c->pos += 5;
			*value = f;
			return VC_OK;
		}
	}
	err = vc_lcbor_next(c, &item);
	if (err != VC_OK)
		return err;
	if (item.major == VC_LCBOR_UINT)
		f = (float)item.value;
	else if (item.major == VC_LCBOR_NEGINT)
		f = -1.0f - (float)item.value;
	else if (item.major == VC_LCBOR_SIMPLE && item.info >= 25)
		f = (float)item.real; /* exact for half and single */
	else
		return vc_lcbor_fail(c, item.offset, "%s should be a number, found %s", what,
				     MAJOR_NAMES[item.major]);
	if (!isfinite(f))
		return vc_lcbor_fail(c, item.offset, "%s is not a finite float32 value", what);
	*value = f;
	return VC_OK;
}

vc_err vc_lcbor_id(vc_lcbor *c, uint8_t id[32], const char *what)
{
	vc_lcbor_item item;
	vc_err err = vc_lcbor_next(c, &item);

	if (err != VC_OK)
		return err;
	if (item.major == VC_LCBOR_BYTES && item.value == 32) {
		memcpy(id, item.str, 32);
		return VC_OK;
	}
	if (item.major != VC_LCBOR_ARRAY || item.value != 32)
		return vc_lcbor_fail(c, item.offset, "%s should be an array of 32 bytes", what);
	for (int i = 0; i < 32; i++) {
		err = expect(c, &item, VC_LCBOR_UINT, what);
		if (err != VC_OK)
			return err;
		if (item.value > 255)
			return vc_lcbor_fail(c, item.offset, "%s holds %" PRIu64 ", not a byte",
					     what, item.value);
		id[i] = (uint8_t)item.value;
	}
	return VC_OK;
}
