/* hnsw_nodes.cbor of a legacy session: the HNSW graph with a copy of every vector. Only the
 * deletion flags are taken from it; its vectors are checked against the chunks. */
#include <stdlib.h>
#include <string.h>

#include "legacy/legacy_i.h"
#include "util/error_i.h"

#define GRAPH_PATH "hnsw_nodes.cbor"

typedef struct graph_node {
	bool has_id;
	uint8_t id[VC_LEGACY_ID_BYTES];
	bool deleted;
	float *vector; /* scratch, reused from node to node */
	size_t vector_cap;
	size_t vector_len;
	bool has_vector;
} graph_node;

static vc_err read_node_vector(vc_lcbor *c, graph_node *node)
{
	uint64_t count;
	vc_err err = vc_lcbor_array(c, &count, "node vector");

	if (err != VC_OK)
		return err;
	if (count > node->vector_cap) {
		/* count is bounded by the bytes left, so this cannot exceed 4x the file. */
		float *grown = realloc(node->vector, count * sizeof(float));

		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory reading " GRAPH_PATH);
		node->vector = grown;
		node->vector_cap = count;
	}
	for (uint64_t i = 0; i < count; i++) {
		err = vc_lcbor_float(c, &node->vector[i], "node vector value");
		if (err != VC_OK)
			return err;
	}
	node->vector_len = count;
	node->has_vector = true;
	return VC_OK;
}

static vc_err read_node_field(vc_lcbor *c, graph_node *node)
{
	const char *key;
	size_t key_len;
	vc_err err = vc_lcbor_text(c, &key, &key_len, "node field name");

	if (err != VC_OK)
		return err;
	if (key_len == 2 && memcmp(key, "id", 2) == 0) {
		node->has_id = true;
		return vc_lcbor_id(c, node->id, "node id");
	}
	if (key_len == 6 && memcmp(key, "vector", 6) == 0)
		return read_node_vector(c, node);
	if (key_len == 10 && memcmp(key, "is_deleted", 10) == 0)
		return vc_lcbor_bool(c, &node->deleted, "is_deleted");
	/* level and neighbors describe the graph, which exact search does not need */
	return vc_lcbor_skip(c);
}

static vc_err apply_node(vc_legacy *lg, vc_lcbor *c, size_t offset, const graph_node *node)
{
	size_t index;
	vc_legacy_entry *entry;

	if (!node->has_id)
		return vc_lcbor_fail(c, offset, "graph node without an id");
	index = vc_legacy_table_find(lg, node->id);
	if (index == SIZE_MAX) {
		lg->info.graph_only++;
		return VC_OK;
	}
	entry = &lg->entries[index];
	if (entry->in_graph)
		return vc_lcbor_fail(c, offset, "graph node listed twice");
	entry->in_graph = true;
	entry->deleted = node->deleted;
	if (!node->has_vector || node->vector_len != lg->dim ||
	    memcmp(node->vector, lg->vectors + index * lg->dim, lg->dim * sizeof(float)) != 0)
		lg->info.graph_mismatches++;
	return VC_OK;
}

vc_err vc_legacy_read_graph(vc_legacy *lg, vc_store *store)
{
	vc_bytes bytes;
	bool present;
	vc_lcbor c;
	uint64_t count;
	graph_node node = {0};
	vc_err err = vc_legacy_fetch(store, GRAPH_PATH, true, &bytes, &present);

	if (err != VC_OK || !present)
		return err;
	vc_lcbor_init(&c, bytes.data, bytes.len, GRAPH_PATH);
	err = vc_lcbor_array(&c, &count, "node list");
	for (uint64_t i = 0; i < count && err == VC_OK; i++) {
		size_t offset = c.pos;
		uint64_t fields;

		node.has_id = false;
		node.has_vector = false;
		node.deleted = false;
		err = vc_lcbor_map(&c, &fields, "graph node");
		for (uint64_t f = 0; f < fields && err == VC_OK; f++)
			err = read_node_field(&c, &node);
		if (err == VC_OK)
			err = apply_node(lg, &c, offset, &node);
	}
	if (err == VC_OK)
		err = vc_legacy_expect_end(&c);
	if (err == VC_OK)
		lg->info.graph_nodes = (size_t)count;
	free(node.vector);
	vc_bytes_free(&bytes);
	return err;
}
