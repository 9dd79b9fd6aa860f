/* A minimal CBOR writer and a bounds-checked reader for the chunk and metadata codecs. */
#include <math.h>
#include <string.h>

#include "format/cbor_i.h"

vc_err vc_cbor_put_head(vc_bytes *out, unsigned major, uint64_t arg)
{
	uint8_t buf[9];
	size_t len, i;

	if (arg < 24) {
		buf[0] = (uint8_t)(major << 5 | arg);
		len = 1;
	} else if (arg <= UINT8_MAX) {
		buf[0] = (uint8_t)(major << 5 | 24);
		len = 2;
	} else if (arg <= UINT16_MAX) {
		buf[0] = (uint8_t)(major << 5 | 25);
		len = 3;
	} else if (arg <= UINT32_MAX) {
		buf[0] = (uint8_t)(major << 5 | 26);
		len = 5;
	} else {
		buf[0] = (uint8_t)(major << 5 | 27);
		len = 9;
	}
	/* Heads are big-endian (network order) in CBOR. */
	for (i = 1; i < len; i++)
		buf[i] = (uint8_t)(arg >> (8 * (len - 1 - i)));
	return vc_bytes_append(out, buf, len);
}

vc_err vc_cbor_put_text(vc_bytes *out, const char *text, size_t len)
{
	vc_err err = vc_cbor_put_head(out, VC_CBOR_TEXT, len);

	if (err != VC_OK)
		return err;
	return vc_bytes_append(out, text, len);
}

vc_err vc_cbor_put_int(vc_bytes *out, int64_t value)
{
	if (value >= 0)
		return vc_cbor_put_head(out, VC_CBOR_UINT, (uint64_t)value);
	/* -1 - value without overflow for INT64_MIN. */
	return vc_cbor_put_head(out, VC_CBOR_NEGINT, (uint64_t)(-(value + 1)));
}

bool vc_cbor_read_head(vc_cbor_cursor *cur, vc_cbor_head *head)
{
	size_t extra, i;
	uint8_t first;

	if (cur->p >= cur->end)
		return false;
	first = *cur->p++;
	head->major = first >> 5;
	head->ai = first & 0x1f;
	if (head->ai < 24) {
		head->arg = head->ai;
		return true;
	}
	if (head->ai > 27)
		return false;
	extra = (size_t)1 << (head->ai - 24);
	if ((size_t)(cur->end - cur->p) < extra)
		return false;
	head->arg = 0;
	for (i = 0; i < extra; i++)
		head->arg = head->arg << 8 | cur->p[i];
	cur->p += extra;
	return true;
}

bool vc_cbor_read_text(vc_cbor_cursor *cur, const uint8_t **text, size_t *len)
{
	vc_cbor_head head;

	if (!vc_cbor_read_head(cur, &head) || head.major != VC_CBOR_TEXT ||
	    head.arg > (uint64_t)(cur->end - cur->p))
		return false;
	*text = cur->p;
	*len = (size_t)head.arg;
	cur->p += head.arg;
	return true;
}

bool vc_cbor_expect_key(vc_cbor_cursor *cur, const char *key)
{
	const uint8_t *text;
	size_t len;

	return vc_cbor_read_text(cur, &text, &len) && len == strlen(key) &&
	       memcmp(text, key, len) == 0;
}

bool vc_cbor_read_uint(vc_cbor_cursor *cur, uint64_t max, uint64_t *out)
{
	vc_cbor_head head;

	if (!vc_cbor_read_head(cur, &head) || head.major != VC_CBOR_UINT || head.arg > max)
		return false;
	*out = head.arg;
	return true;
}

bool vc_cbor_read_int(vc_cbor_cursor *cur, int64_t min, int64_t max, int64_t *out)
{
	vc_cbor_head head;
	int64_t v;

	if (!vc_cbor_read_head(cur, &head) || head.arg > INT64_MAX)
		return false;
	if (head.major == VC_CBOR_UINT)
		v = (int64_t)head.arg;
	else if (head.major == VC_CBOR_NEGINT)
		v = -1 - (int64_t)head.arg;
	else
		return false;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool vc_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

static double half_to_double(uint16_t h)
{
	int exponent = (h >> 10) & 0x1f;
	double mantissa = h & 0x3ff;
	double value;

	if (exponent == 0)
		value = ldexp(mantissa, -24);
	else if (exponent == 31)
		value = mantissa == 0 ? INFINITY : NAN;
	else
		value = ldexp(mantissa + 1024, exponent - 25);
	return (h & 0x8000) ? -value : value;
}

double vc_cbor_float_value(const vc_cbor_head *head)
{
	if (head->ai == 25)
		return half_to_double((uint16_t)head->arg);
	if (head->ai == 26) {
		uint32_t bits = (uint32_t)head->arg;
		float f;

		memcpy(&f, &bits, sizeof(f));
		return f;
	}
	{
		double d;

		memcpy(&d, &head->arg, sizeof(d));
		return d;
	}
}

static bool skip_simple(const vc_cbor_head *head, const char **why)
{
	if (head->ai >= 20 && head->ai <= 22)
		return true;
	if (head->ai >= 25 && head->ai <= 27) {
		if (isfinite(vc_cbor_float_value(head)))
			return true;
		*why = "NaN or infinite number";
		return false;
	}
	*why = "CBOR simple value other than true, false or null";
	return false;
}

bool vc_cbor_skip_json(vc_cbor_cursor *cur, unsigned depth, const char **why)
{
	vc_cbor_head head;
	uint64_t i;

	if (depth > VC_CBOR_MAX_DEPTH) {
		*why = "nested deeper than 64 levels";
		return false;
	}
	if (!vc_cbor_read_head(cur, &head)) {
		*why = "truncated item or indefinite length";
		return false;
	}
	switch (head.major) {
	case VC_CBOR_UINT:
	case VC_CBOR_NEGINT:
		if (head.arg <= INT64_MAX)
			return true;
		*why = "integer outside the 64-bit signed range";
		return false;
	case VC_CBOR_TEXT:
		if (head.arg > (uint64_t)(cur->end - cur->p) || !vc_utf8_valid(cur->p, head.arg)) {
			*why = "truncated or invalid UTF-8 text";
			return false;
		}
		cur->p += head.arg;
		return true;
	case VC_CBOR_ARRAY:
	case VC_CBOR_MAP:
		/* Every element takes at least one byte: bounds hostile counts cheaply. */
		if (head.arg > (uint64_t)(cur->end - cur->p)) {
			*why = "array or map longer than the data";
			return false;
		}
		for (i = 0; i < head.arg; i++) {
			if (head.major == VC_CBOR_MAP) {
				const uint8_t *key;
				size_t len;

				if (!vc_cbor_read_text(cur, &key, &len) ||
				    !vc_utf8_valid(key, len)) {
					*why = "map key that is not valid text";
					return false;
				}
			}
			if (!vc_cbor_skip_json(cur, depth + 1, why))
				return false;
		}
		return true;
	case VC_CBOR_SIMPLE: return skip_simple(&head, why);
	default: *why = head.major == VC_CBOR_TAG ? "CBOR tag" : "byte string"; return false;
	}
}
