/*
 * Metadata filters: a JSON spec ({"genre": "jazz", "year": {"$gte": 1990}})
 * compiled once, then matched against each vector's metadata object.
 */
#ifndef VC_FILTER_H
#define VC_FILTER_H

#include <stdbool.h>

#include <jansson.h>

#include "vchunk/error.h"

/**
 * Grammar (the whole spec is validated by vc_filter_compile):
 *
 *   filter   := { clause, ... }                    several clauses: all must hold
 *   clause   := "$and": [filter, ...]              non-empty array
 *             | "$or":  [filter, ...]              non-empty array
 *             | "path": value                      same as {"$eq": value}
 *             | "path": { op: operand, ... }       several operators: all must hold
 *   path     := key ( "." key )*                   walks nested objects ("a.b.c")
 *   op       := $eq $ne (any value) | $in $nin (array of values)
 *             | $gt $gte $lt $lte (number or string) | $exists (true or false)
 *
 * Semantics: numbers compare as numbers whatever their JSON type (1 == 1.0),
 * strings in lexicographic byte order; ordering a number against a string,
 * or anything against null/bool/array/object, is false. Equality of arrays
 * and objects is deep. A value that is an object with no "$" keys is a
 * plain value (deep equality with the field). Array fields are compared as
 * whole values, not element by element. A field that is missing (or whose
 * path crosses a non-object) matches only $ne, $nin and {"$exists": false}.
 * Keys containing "." cannot be addressed.
 */
typedef struct vc_filter vc_filter;

/**
 * Compile @p spec (a JSON object; not retained, values are copied).
 * VC_ERR_INVALID with a message naming the bad operator and path, e.g.
 * "filter: unknown operator \"$regex\" at \"meta.title\"". VC_ERR_NOMEM.
 * The caller frees *out with vc_filter_free.
 */
vc_err vc_filter_compile(const json_t *spec, vc_filter **out);

/**
 * True if @p metadata (an object, or NULL for "no metadata") satisfies the
 * filter. A compiled filter is immutable: any number of threads may match
 * against it at once.
 */
bool vc_filter_match(const vc_filter *filter, const json_t *metadata);

/**
 * True if the filter holds no field condition at all ({} or only empty
 * groups), so it matches every vector. Deletion refuses such filters.
 */
bool vc_filter_is_empty(const vc_filter *filter);

/** Free a compiled filter (NULL-safe). */
void vc_filter_free(vc_filter *filter);

#endif
