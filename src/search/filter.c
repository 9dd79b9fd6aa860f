/*
 * Metadata filters: compile a JSON spec into a small tree of and/or groups
 * and field conditions, then evaluate it against metadata objects.
 */
#include "search/filter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error_i.h"

/* Deeper specs are rejected: evaluation recurses once per level. */
#define FILTER_MAX_DEPTH 32

typedef enum node_kind { NODE_AND, NODE_OR, NODE_FIELD } node_kind;

typedef enum field_op {
	OP_EQ,
	OP_NE,
	OP_IN,
	OP_NIN,
	OP_GT,
	OP_GTE,
	OP_LT,
	OP_LTE,
	OP_EXISTS,
} field_op;

typedef struct node {
	node_kind kind;
	/* groups */
	struct node **kids;
	size_t kid_count;
	/* field conditions */
	field_op op;
	char *path;	/* the user's dotted path, for messages */
	char *segments; /* path with '.' replaced by '\0' */
	size_t seg_count;
	json_t *operand; /* owned deep copy */
	bool exists;	 /* operand of $exists */
} node;

struct vc_filter {
	node *root;
	bool empty;
};

static const struct {
	const char *name;
	field_op op;
} operators[] = {
    {"$eq", OP_EQ},   {"$ne", OP_NE}, {"$in", OP_IN},	{"$nin", OP_NIN},	{"$gt", OP_GT},
    {"$gte", OP_GTE}, {"$lt", OP_LT}, {"$lte", OP_LTE}, {"$exists", OP_EXISTS},
};

static void node_free(node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->kid_count; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->path);
	free(n->segments);
	json_decref(n->operand);
	free(n);
}

static vc_err node_new(node_kind kind, node **out)
{
	*out = calloc(1, sizeof(node));
	if (*out == NULL)
		return vc_fail(VC_ERR_NOMEM, "filter: out of memory");
	(*out)->kind = kind;
	return VC_OK;
}

static vc_err node_add_kid(node *group, node *kid)
{
	node **grown = realloc(group->kids, (group->kid_count + 1) * sizeof(node *));

	if (grown == NULL) {
		node_free(kid);
		return vc_fail(VC_ERR_NOMEM, "filter: out of memory");
	}
	group->kids = grown;
	group->kids[group->kid_count++] = kid;
	return VC_OK;
}

/* Split "a.b.c" into NUL-separated segments, rejecting empty segments. */
static vc_err split_path(node *n, const char *path)
{
	size_t len = strlen(path);

	if (len == 0)
		return vc_fail(VC_ERR_INVALID, "filter: empty field name");
	n->path = strdup(path);
	n->segments = strdup(path);
	if (n->path == NULL || n->segments == NULL)
		return vc_fail(VC_ERR_NOMEM, "filter: out of memory");
	n->seg_count = 1;
	for (size_t i = 0; i < len; i++) {
		if (n->segments[i] != '.')
			continue;
		n->segments[i] = '\0';
		n->seg_count++;
	}
	if (path[0] == '.' || path[len - 1] == '.' || strstr(path, "..") != NULL)
		return vc_fail(VC_ERR_INVALID, "filter: field path \"%s\" has an empty segment",
			       path);
	return VC_OK;
}

static bool is_operator_object(const json_t *value)
{
	const char *key;
	json_t *v;

	if (!json_is_object(value) || json_object_size(value) == 0)
		return false;
	json_object_foreach((json_t *)value, key, v)
	{
		if (key[0] == '$')
			return true;
	}
	return false;
}

static vc_err check_operand(field_op op, const char *name, const char *path, const json_t *v)
{
	switch (op) {
	case OP_IN:
	case OP_NIN:
		if (!json_is_array(v))
			return vc_fail(VC_ERR_INVALID, "filter: %s at \"%s\" needs an array", name,
				       path);
		return VC_OK;
	case OP_GT:
	case OP_GTE:
	case OP_LT:
	case OP_LTE:
		if (!json_is_number(v) && !json_is_string(v))
			return vc_fail(VC_ERR_INVALID,
				       "filter: %s at \"%s\" needs a number or a string", name,
				       path);
		return VC_OK;
	case OP_EXISTS:
		if (!json_is_boolean(v))
			return vc_fail(VC_ERR_INVALID,
				       "filter: $exists at \"%s\" needs true or false", path);
		return VC_OK;
	default: return VC_OK;
	}
}

static vc_err field_node(const char *path, const char *name, field_op op, const json_t *operand,
			 node **out)
{
	node *n;
	vc_err err;

	err = check_operand(op, name, path, operand);
	if (err != VC_OK)
		return err;
	err = node_new(NODE_FIELD, &n);
	if (err != VC_OK)
		return err;
	n->op = op;
	err = split_path(n, path);
	if (err != VC_OK)
		goto fail;
	if (op == OP_EXISTS) {
		n->exists = json_is_true(operand);
	} else {
		n->operand = json_deep_copy(operand);
		if (n->operand == NULL) {
			err = vc_fail(VC_ERR_NOMEM, "filter: out of memory copying \"%s\"", path);
			goto fail;
		}
	}
	*out = n;
	return VC_OK;
fail:
	node_free(n);
	return err;
}

static vc_err lookup_operator(const char *name, const char *path, field_op *op)
{
	for (size_t i = 0; i < sizeof(operators) / sizeof(operators[0]); i++) {
		if (strcmp(operators[i].name, name) == 0) {
			*op = operators[i].op;
			return VC_OK;
		}
	}
	if (name[0] == '$')
		return vc_fail(VC_ERR_INVALID, "filter: unknown operator \"%s\" at \"%s\"", name,
			       path);
	return vc_fail(VC_ERR_INVALID,
		       "filter: \"%s\" at \"%s\" mixes operators and plain keys; write nested "
		       "fields as \"%s.%s\"",
		       name, path, path, name);
}

/* One "path": value clause, appended to @group as one or more conditions. */
static vc_err compile_field(node *group, const char *path, const json_t *value)
{
	const char *name;
	json_t *operand;
	node *n;
	field_op op = OP_EQ;
	vc_err err;

	if (!is_operator_object(value)) {
		err = field_node(path, "$eq", OP_EQ, value, &n);
		return err != VC_OK ? err : node_add_kid(group, n);
	}
	json_object_foreach((json_t *)value, name, operand)
	{
		err = lookup_operator(name, path, &op);
		if (err != VC_OK)
			return err;
		err = field_node(path, name, op, operand, &n);
		if (err != VC_OK)
			return err;
		err = node_add_kid(group, n);
		if (err != VC_OK)
			return err;
	}
	return VC_OK;
}

static vc_err compile_object(const json_t *spec, int depth, node **out);

static vc_err compile_group(node *group, const char *name, node_kind kind, const json_t *list,
			    int depth)
{
	size_t i;
	json_t *item;
	node *sub;
	vc_err err;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return vc_fail(VC_ERR_INVALID, "filter: %s needs a non-empty array of filters",
			       name);
	err = node_new(kind, &sub);
	if (err != VC_OK)
		return err;
	json_array_foreach(list, i, item)
	{
		node *kid;

		err = compile_object(item, depth + 1, &kid);
		if (err != VC_OK) {
			node_free(sub);
			return err;
		}
		err = node_add_kid(sub, kid);
		if (err != VC_OK) {
			node_free(sub);
			return err;
		}
	}
	return node_add_kid(group, sub);
}

static vc_err compile_object(const json_t *spec, int depth, node **out)
{
	const char *key;
	json_t *value;
	node *group;
	vc_err err = VC_OK;

	if (!json_is_object(spec))
		return vc_fail(VC_ERR_INVALID, "filter: expected an object, got %s",
			       json_is_array(spec) ? "an array" : "a plain value");
	if (depth > FILTER_MAX_DEPTH)
		return vc_fail(VC_ERR_INVALID, "filter: nested deeper than %d levels",
			       FILTER_MAX_DEPTH);
	err = node_new(NODE_AND, &group);
	if (err != VC_OK)
		return err;
	json_object_foreach((json_t *)spec, key, value)
	{
		if (strcmp(key, "$and") == 0)
			err = compile_group(group, key, NODE_AND, value, depth);
		else if (strcmp(key, "$or") == 0)
			err = compile_group(group, key, NODE_OR, value, depth);
		else if (key[0] == '$')
			err = vc_fail(VC_ERR_INVALID,
				      "filter: operator \"%s\" needs a field (write {\"field\": "
				      "{\"%s\": ...}}) or is unknown",
				      key, key);
		else
			err = compile_field(group, key, value);
		if (err != VC_OK) {
			node_free(group);
			return err;
		}
	}
	*out = group;
	return VC_OK;
}

static bool has_condition(const node *n)
{
	if (n->kind == NODE_FIELD)
		return true;
	for (size_t i = 0; i < n->kid_count; i++) {
		if (has_condition(n->kids[i]))
			return true;
	}
	return false;
}

vc_err vc_filter_compile(const json_t *spec, vc_filter **out)
{
	vc_filter *f;
	vc_err err;

	*out = NULL;
	if (spec == NULL)
		return vc_fail(VC_ERR_INVALID, "filter: missing filter object");
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return vc_fail(VC_ERR_NOMEM, "filter: out of memory");
	err = compile_object(spec, 0, &f->root);
	if (err != VC_OK) {
		free(f);
		return err;
	}
	f->empty = !has_condition(f->root);
	*out = f;
	return VC_OK;
}

void vc_filter_free(vc_filter *filter)
{
	if (filter == NULL)
		return;
	node_free(filter->root);
	free(filter);
}

bool vc_filter_is_empty(const vc_filter *filter)
{
	return filter->empty;
}

/* ---- evaluation ------------------------------------------------------- */

static bool numbers_equal(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b))
		return json_integer_value(a) == json_integer_value(b);
	return json_number_value(a) == json_number_value(b);
}

static bool strings_equal(const json_t *a, const json_t *b)
{
	size_t la = json_string_length(a);

	return la == json_string_length(b) &&
	       memcmp(json_string_value(a), json_string_value(b), la) == 0;
}

static bool values_equal(const json_t *a, const json_t *b, int depth);

static bool containers_equal(const json_t *a, const json_t *b, int depth)
{
	const char *key;
	json_t *va;
	size_t i;

	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		json_array_foreach((json_t *)a, i, va)
		{
			if (!values_equal(va, json_array_get(b, i), depth + 1))
				return false;
		}
		return true;
	}
	if (json_object_size(a) != json_object_size(b))
		return false;
	json_object_foreach((json_t *)a, key, va)
	{
		json_t *vb = json_object_get(b, key);

		if (vb == NULL || !values_equal(va, vb, depth + 1))
			return false;
	}
	return true;
}

static bool values_equal(const json_t *a, const json_t *b, int depth)
{
	if (json_is_number(a) && json_is_number(b))
		return numbers_equal(a, b);
	if (json_typeof(a) != json_typeof(b))
		return false;
	switch (json_typeof(a)) {
	case JSON_STRING: return strings_equal(a, b);
	case JSON_ARRAY:
	case JSON_OBJECT:
		/* metadata parsed by jansson can nest arbitrarily; stop before the stack does */
		return depth < 64 && containers_equal(a, b, depth);
	default: return true; /* true, false, null */
	}
}

/* <0, 0, >0 in *order; false if the two values cannot be ordered. */
static bool compare_values(const json_t *field, const json_t *operand, int *order)
{
	if (json_is_number(field) && json_is_number(operand)) {
		if (json_is_integer(field) && json_is_integer(operand)) {
			json_int_t a = json_integer_value(field), b = json_integer_value(operand);

			*order = (a > b) - (a < b);
		} else {
			double a = json_number_value(field), b = json_number_value(operand);

			if (a != a || b != b)
				return false;
			*order = (a > b) - (a < b);
		}
		return true;
	}
	if (json_is_string(field) && json_is_string(operand)) {
		size_t la = json_string_length(field), lb = json_string_length(operand);
		int c =
		    memcmp(json_string_value(field), json_string_value(operand), la < lb ? la : lb);

		*order = c != 0 ? c : (la > lb) - (la < lb);
		return true;
	}
	return false;
}

static bool in_list(const json_t *field, const json_t *list)
{
	size_t i;
	json_t *item;

	json_array_foreach((json_t *)list, i, item)
	{
		if (values_equal(field, item, 0))
			return true;
	}
	return false;
}

static const json_t *resolve(const node *n, const json_t *metadata)
{
	const char *seg = n->segments;
	const json_t *cur = metadata;

	for (size_t i = 0; i < n->seg_count; i++) {
		if (!json_is_object(cur))
			return NULL;
		cur = json_object_get(cur, seg);
		seg += strlen(seg) + 1;
	}
	return cur;
}

static bool match_field(const node *n, const json_t *metadata)
{
	const json_t *field = resolve(n, metadata);
	int order;

	if (field == NULL)
		return n->op == OP_NE || n->op == OP_NIN || (n->op == OP_EXISTS && !n->exists);
	switch (n->op) {
	case OP_EQ: return values_equal(field, n->operand, 0);
	case OP_NE: return !values_equal(field, n->operand, 0);
	case OP_IN: return in_list(field, n->operand);
	case OP_NIN: return !in_list(field, n->operand);
	case OP_EXISTS: return n->exists;
	default: break;
	}
	if (!compare_values(field, n->operand, &order))
		return false;
	switch (n->op) {
	case OP_GT: return order > 0;
	case OP_GTE: return order >= 0;
	case OP_LT: return order < 0;
	case OP_LTE: return order <= 0;
	default: return false;
	}
}

static bool match_node(const node *n, const json_t *metadata)
{
	switch (n->kind) {
	case NODE_FIELD: return match_field(n, metadata);
	case NODE_AND:
		for (size_t i = 0; i < n->kid_count; i++) {
			if (!match_node(n->kids[i], metadata))
				return false;
		}
		return true;
	case NODE_OR:
		for (size_t i = 0; i < n->kid_count; i++) {
			if (match_node(n->kids[i], metadata))
				return true;
		}
		return false;
	}
	return false;
}

bool vc_filter_match(const vc_filter *filter, const json_t *metadata)
{
	return match_node(filter->root, metadata);
}
