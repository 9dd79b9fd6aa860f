/* Conversion of one CBOR item of a legacy file into a jansson value, bounded in depth, for
 * user metadata and for showing session files as readable JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legacy/legacy_cbor.h"
#include "util/error_i.h"

static vc_err to_json(vc_lcbor *c, unsigned depth, json_t **out);

static vc_err nomem(void)
{
	return vc_fail(VC_ERR_NOMEM, "out of memory converting CBOR to JSON");
}

static vc_err integer_json(const vc_lcbor_item *item, json_t **out)
{
	/* JSON numbers in jansson are int64 or double; larger CBOR integers become doubles. */
	if (item->major == VC_LCBOR_UINT)
		*out = item->value <= INT64_MAX ? json_integer((json_int_t)item->value)
						: json_real((double)item->value);
	else
		*out = item->value <= INT64_MAX ? json_integer(-1 - (json_int_t)item->value)
						: json_real(-1.0 - (double)item->value);
	return *out != NULL ? VC_OK : nomem();
}

static vc_err text_json(vc_lcbor *c, const vc_lcbor_item *item, json_t **out)
{
	if (memchr(item->str, 0, (size_t)item->value) != NULL)
		return vc_lcbor_fail(c, item->offset, "text string holds a NUL character");
	*out = json_stringn((const char *)item->str, (size_t)item->value);
	if (*out == NULL)
		return vc_lcbor_fail(c, item->offset, "text string is not valid UTF-8");
	return VC_OK;
}

static vc_err bytes_json(const vc_lcbor_item *item, json_t **out)
{
	json_t *array = json_array();

	if (array == NULL)
		return nomem();
	for (uint64_t i = 0; i < item->value; i++) {
		if (json_array_append_new(array, json_integer(item->str[i])) != 0) {
			json_decref(array);
			return nomem();
		}
	}
	*out = array;
	return VC_OK;
}

static vc_err simple_json(vc_lcbor *c, const vc_lcbor_item *item, json_t **out)
{
	if (item->info >= 25) {
		*out = json_real(item->real);
		if (*out == NULL)
			return vc_lcbor_fail(c, item->offset,
					     "NaN or infinity cannot be shown as JSON");
		return VC_OK;
	}
	switch (item->value) {
	case 20: *out = json_false(); break;
	case 21: *out = json_true(); break;
	case 22:
	case 23: *out = json_null(); break; /* undefined has no JSON form; null is nearest */
	default:
		return vc_lcbor_fail(c, item->offset, "unknown simple value %" PRIu64, item->value);
	}
	return VC_OK;
}

/* A map key as a NUL-terminated string: text as is, integers in decimal, a 32-byte id in hex. */
static vc_err key_string(vc_lcbor *c, char **key)
{
	vc_lcbor_item item;
	size_t start = c->pos;
	vc_err err = vc_lcbor_next(c, &item);

	*key = NULL;
	if (err != VC_OK)
		return err;
	if (item.major == VC_LCBOR_TEXT) {
		if (memchr(item.str, 0, (size_t)item.value) != NULL)
			return vc_lcbor_fail(c, item.offset, "map key holds a NUL character");
		*key = strndup((const char *)item.str, (size_t)item.value);
	} else if (item.major == VC_LCBOR_UINT || item.major == VC_LCBOR_NEGINT) {
		*key = malloc(24);
		if (*key != NULL && item.major == VC_LCBOR_UINT)
			snprintf(*key, 24, "%" PRIu64, item.value);
		else if (*key != NULL && item.value == UINT64_MAX)
			strcpy(*key, "-18446744073709551616"); /* -1 - value: value + 1 overflows */
		else if (*key != NULL)
			snprintf(*key, 24, "-%" PRIu64, item.value + 1);
	} else if (item.major == VC_LCBOR_ARRAY || item.major == VC_LCBOR_BYTES) {
		uint8_t id[32];

		c->pos = start;
		err = vc_lcbor_id(c, id, "map key");
		if (err != VC_OK)
			return err;
		*key = malloc(65);
		for (int i = 0; *key != NULL && i < 32; i++)
			snprintf(*key + 2 * i, 3, "%02x", id[i]);
	} else {
		return vc_lcbor_fail(c, item.offset,
				     "a map key of this type cannot be shown as JSON");
	}
	return *key != NULL ? VC_OK : nomem();
}

static vc_err map_json(vc_lcbor *c, const vc_lcbor_item *head, unsigned depth, json_t **out)
{
	json_t *object;
	vc_err err = VC_OK;

	if (head->value > vc_lcbor_remaining(c) / 2)
		return vc_lcbor_fail(c, head->offset, "map claims %" PRIu64 " entries, too many",
				     head->value);
	object = json_object();
	if (object == NULL)
		return nomem();
	for (uint64_t i = 0; i < head->value && err == VC_OK; i++) {
		size_t key_offset = c->pos;
		char *key;
		json_t *value = NULL;

		err = key_string(c, &key);
		if (err == VC_OK)
			err = to_json(c, depth + 1, &value);
		if (err == VC_OK && json_object_set_new(object, key, value) != 0) {
			value = NULL; /* jansson releases the value when the key is refused */
			err = vc_lcbor_fail(c, key_offset, "map key is not valid UTF-8");
		} else if (err != VC_OK) {
			json_decref(value);
		}
		free(key);
	}
	if (err != VC_OK) {
		json_decref(object);
		return err;
	}
	*out = object;
	return VC_OK;
}

static vc_err array_json(vc_lcbor *c, const vc_lcbor_item *head, unsigned depth, json_t **out)
{
	json_t *array;
	vc_err err = VC_OK;

	if (head->value > vc_lcbor_remaining(c))
		return vc_lcbor_fail(c, head->offset, "array claims %" PRIu64 " items, too many",
				     head->value);
	array = json_array();
	if (array == NULL)
		return nomem();
	for (uint64_t i = 0; i < head->value && err == VC_OK; i++) {
		json_t *value = NULL;

		err = to_json(c, depth + 1, &value);
		if (err == VC_OK && json_array_append_new(array, value) != 0)
			err = nomem();
	}
	if (err != VC_OK) {
		json_decref(array);
		return err;
	}
	*out = array;
	return VC_OK;
}

static vc_err to_json(vc_lcbor *c, unsigned depth, json_t **out)
{
	vc_lcbor_item item;
	vc_err err;

	if (depth > VC_LCBOR_MAX_DEPTH)
		return vc_lcbor_fail(c, c->pos, "nested more than %d levels deep",
				     VC_LCBOR_MAX_DEPTH);
	err = vc_lcbor_next(c, &item);
	if (err != VC_OK)
		return err;
	switch (item.major) {
	case VC_LCBOR_UINT:
	case VC_LCBOR_NEGINT: return integer_json(&item, out);
	case VC_LCBOR_BYTES: return bytes_json(&item, out);
	case VC_LCBOR_TEXT: return text_json(c, &item, out);
	case VC_LCBOR_ARRAY: return array_json(c, &item, depth, out);
	case VC_LCBOR_MAP: return map_json(c, &item, depth, out);
	case VC_LCBOR_TAG: return to_json(c, depth + 1, out); /* the tag itself adds nothing */
	default: return simple_json(c, &item, out);
	}
}

vc_err vc_lcbor_to_json(vc_lcbor *c, json_t **out)
{
	*out = NULL;
	return to_json(c, 0, out);
}
