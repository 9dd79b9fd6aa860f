/* Per-vector metadata: JSON values (jansson) to and from JSON-compatible CBOR items. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/cbor_i.h"
#include "format/chunk_codec.h"
#include "util/error_i.h"

static vc_err put_double(vc_bytes *out, double value)
{
	uint8_t buf[9];
	uint64_t bits;
	int i;

	memcpy(&bits, &value, sizeof(bits));
	buf[0] = 0xfb;
	for (i = 0; i < 8; i++)
		buf[1 + i] = (uint8_t)(bits >> (56 - 8 * i));
	return vc_bytes_append(out, buf, sizeof(buf));
}

static vc_err encode(const json_t *value, vc_bytes *out, unsigned depth)
{
	static const uint8_t false_byte = 0xf4, true_byte = 0xf5, null_byte = 0xf6;
	const char *key;
	json_t *item;
	size_t i;
	vc_err err;

	if (depth > VC_CBOR_MAX_DEPTH)
		return vc_fail(VC_ERR_INVALID, "metadata is nested deeper than %d levels",
			       VC_CBOR_MAX_DEPTH);
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		err = vc_cbor_put_head(out, VC_CBOR_MAP, json_object_size(value));
		json_object_foreach((json_t *)value, key, item)
		{
			if (err == VC_OK)
				err = vc_cbor_put_text(out, key, strlen(key));
			if (err == VC_OK)
				err = encode(item, out, depth + 1);
		}
		return err;
	case JSON_ARRAY:
		err = vc_cbor_put_head(out, VC_CBOR_ARRAY, json_array_size(value));
		json_array_foreach(value, i, item)
		{
			if (err == VC_OK)
				err = encode(item, out, depth + 1);
		}
		return err;
	case JSON_STRING:
		return vc_cbor_put_text(out, json_string_value(value), json_string_length(value));
	case JSON_INTEGER: return vc_cbor_put_int(out, json_integer_value(value));
	case JSON_REAL: return put_double(out, json_real_value(value));
	case JSON_TRUE: return vc_bytes_append(out, &true_byte, 1);
	case JSON_FALSE: return vc_bytes_append(out, &false_byte, 1);
	case JSON_NULL: return vc_bytes_append(out, &null_byte, 1);
	}
	return vc_fail(VC_ERR_INVALID, "metadata holds a value of unknown JSON type");
}

vc_err vc_meta_encode(const json_t *value, vc_bytes *out)
{
	static const uint8_t null_byte = 0xf6;

	if (value == NULL)
		return vc_bytes_append(out, &null_byte, 1);
	return encode(value, out, 0);
}

static vc_err corrupt(const char *why)
{
	return vc_fail(VC_ERR_CORRUPT, "metadata is not JSON-compatible CBOR: %s", why);
}

static vc_err decode(vc_cbor_cursor *cur, unsigned depth, json_t **out);

static vc_err decode_container(vc_cbor_cursor *cur, const vc_cbor_head *head, unsigned depth,
			       json_t **out)
{
	json_t *container, *item;
	const uint8_t *key;
	char *key_copy;
	size_t key_len;
	uint64_t i;
	vc_err err;

	if (head->arg > (uint64_t)(cur->end - cur->p))
		return corrupt("array or map longer than the data");
	container = head->major == VC_CBOR_MAP ? json_object() : json_array();
	if (container == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory decoding metadata");
	for (i = 0; i < head->arg; i++) {
		key_copy = NULL;
		if (head->major == VC_CBOR_MAP) {
			if (!vc_cbor_read_text(cur, &key, &key_len) ||
			    !vc_utf8_valid(key, key_len) || memchr(key, '\0', key_len) != NULL) {
				err = corrupt("map key that is not valid text");
				goto fail;
			}
			key_copy = strndup((const char *)key, key_len);
			if (key_copy == NULL) {
				err = vc_fail(VC_ERR_NOMEM, "out of memory decoding metadata");
				goto fail;
			}
			if (json_object_get(container, key_copy) != NULL) {
				err = vc_fail(VC_ERR_CORRUPT, "metadata map repeats the key \"%s\"",
					      key_copy);
				goto fail;
			}
		}
		err = decode(cur, depth + 1, &item);
		if (err != VC_OK)
			goto fail;
		if ((key_copy != NULL ? json_object_set_new(container, key_copy, item)
				      : json_array_append_new(container, item)) != 0) {
			err = vc_fail(VC_ERR_NOMEM, "out of memory decoding metadata");
			goto fail;
		}
		free(key_copy);
	}
	*out = container;
	return VC_OK;
fail:
	free(key_copy);
	json_decref(container);
	return err;
}

static vc_err decode(vc_cbor_cursor *cur, unsigned depth, json_t **out)
{
	vc_cbor_head head;
	json_t *value = NULL;
	double d;

	*out = NULL;
	if (depth > VC_CBOR_MAX_DEPTH)
		return corrupt("nested deeper than 64 levels");
	if (!vc_cbor_read_head(cur, &head))
		return corrupt("truncated item or indefinite length");
	switch (head.major) {
	case VC_CBOR_UINT:
	case VC_CBOR_NEGINT:
		if (head.arg > INT64_MAX)
			return corrupt("integer outside the 64-bit signed range");
		value = json_integer(head.major == VC_CBOR_UINT ? (json_int_t)head.arg
								: -1 - (json_int_t)head.arg);
		break;
	case VC_CBOR_TEXT:
		if (head.arg > (uint64_t)(cur->end - cur->p) || !vc_utf8_valid(cur->p, head.arg))
			return corrupt("truncated or invalid UTF-8 text");
		value = json_stringn((const char *)cur->p, (size_t)head.arg);
		cur->p += head.arg;
		break;
	case VC_CBOR_ARRAY:
	case VC_CBOR_MAP: return decode_container(cur, &head, depth, out);
	case VC_CBOR_SIMPLE:
		if (head.ai == 20 || head.ai == 21) {
			value = json_boolean(head.ai == 21);
			break;
		}
		if (head.ai == 22) {
			value = json_null();
			break;
		}
		if (head.ai < 25 || head.ai > 27)
			return corrupt("CBOR simple value other than true, false or null");
		d = vc_cbor_float_value(&head);
		if (!isfinite(d))
			return corrupt("NaN or infinite number");
		value = json_real(d);
		break;
	default: return corrupt(head.major == VC_CBOR_TAG ? "CBOR tag" : "byte string");
	}
	if (value == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory decoding metadata");
	*out = value;
	return VC_OK;
}

vc_err vc_meta_decode(const uint8_t *item, size_t len, json_t **out)
{
	vc_cbor_cursor cur;
	vc_err err;

	*out = NULL;
	if (item == NULL || len == 0)
		return corrupt("empty item");
	cur.p = item;
	cur.end = item + len;
	err = decode(&cur, 0, out);
	if (err != VC_OK)
		return err;
	if (cur.p != cur.end) {
		json_decref(*out);
		*out = NULL;
		return corrupt("bytes after the item");
	}
	return VC_OK;
}
