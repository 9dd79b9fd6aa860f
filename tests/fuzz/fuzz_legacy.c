/*
 * libFuzzer target for the legacy reader. The first input byte chooses what the rest is:
 * one file of a small legacy session held in an in-memory store (a chunk, hnsw_nodes.cbor,
 * metadata_map.cbor, timestamps.cbor, metadata.cbor or manifest.json), opened whole and
 * then searched and listed; or a bare CBOR item, where a successful conversion to JSON
 * must consume exactly the bytes skipping it does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "legacy/blake3.h"
#include "legacy/legacy.h"
#include "legacy/legacy_cbor.h"
#include "store/store_i.h"
#include "util/error_i.h"

#define FILES 6

typedef struct mem_store {
	vc_store base;
	const char *paths[FILES];
	const uint8_t *data[FILES];
	size_t len[FILES];
} mem_store;

static vc_err mem_get(vc_store *store, const char *path, uint64_t offset, uint64_t length,
		      vc_bytes *out)
{
	mem_store *m = (mem_store *)store;

	for (int i = 0; i < FILES; i++) {
		size_t start, n;

		if (m->paths[i] == NULL || strcmp(m->paths[i], path) != 0)
			continue;
		start = offset < m->len[i] ? (size_t)offset : m->len[i];
		n = m->len[i] - start;
		if (length < n)
			n = (size_t)length;
		memset(out, 0, sizeof(*out));
		return vc_bytes_append(out, m->data[i] + start, n);
	}
	return vc_fail(VC_ERR_NOT_FOUND, "%s does not exist", path);
}

static void mem_destroy(vc_store *store)
{
	vc_store_base_release(store);
}

static const vc_store_ops MEM_OPS = {.get = mem_get, .destroy = mem_destroy};

/* A valid chunk of two 2-d vectors whose ids are BLAKE3("a") and BLAKE3("b"). */
static size_t canned_chunk(uint8_t *out)
{
	static const uint8_t head[] = {0xa2, 0x68, 'c', 'h', 'u', 'n', 'k', '_', 'i',
				       'd',  0x67, 'c', 'h', 'u', 'n', 'k', '-', '0',
				       0x67, 'v',  'e', 'c', 't', 'o', 'r', 's', 0xa2};
	size_t n = sizeof(head);

	memcpy(out, head, n);
	for (int v = 0; v < 2; v++) {
		uint8_t id[32];

		vc_blake3(v == 0 ? "a" : "b", 1, id);
		out[n++] = 0x98;
		out[n++] = 0x20;
		for (int i = 0; i < 32; i++) {
			if (id[i] >= 24)
				out[n++] = 0x18;
			out[n++] = id[i];
		}
		out[n++] = 0x82;
		out[n++] = 0xf9; /* 1.0 and -2.0 as halves */
		out[n++] = 0x3c;
		out[n++] = 0x00;
		out[n++] = 0xf9;
		out[n++] = 0xc0;
		out[n++] = 0x00;
	}
	return n;
}

static void exercise(vc_legacy *lg)
{
	float query[2] = {0.5f, -1.0f};
	vc_query q = {.vector = query, .dim = vc_legacy_dim(lg), .k = 3};
	vc_results results;
	json_t *doc = NULL;

	for (size_t i = 0; i < vc_legacy_count(lg); i++) {
		const char *id;
		size_t found;

		if (vc_legacy_get(lg, i, &id, NULL, NULL) != VC_OK)
			abort();
		if (vc_legacy_find(lg, id, &found) != VC_OK || found != i)
			abort();
	}
	if (q.dim == 2 && vc_legacy_search(lg, &q, &results) == VC_OK)
		vc_results_free(&results);
	for (size_t i = 0; i < vc_legacy_chunk_count(lg); i++) {
		if (vc_legacy_chunk_json(lg, i, &doc) == VC_OK)
			json_decref(doc);
	}
}

static void fuzz_session(uint8_t which, const uint8_t *data, size_t size)
{
	static const char manifest[] = "{\"version\": 3, \"total_vectors\": 2, \"chunks\": "
				       "[{\"chunk_id\": \"chunk-0\", \"vector_count\": 2}]}";
	static const char *const paths[FILES] = {"chunks/chunk-0.cbor", "hnsw_nodes.cbor",
						 "metadata_map.cbor",	"timestamps.cbor",
						 "metadata.cbor",	"manifest.json"};
	uint8_t chunk[256];
	mem_store m = {0};
	vc_legacy *lg = NULL;

	if (vc_store_base_init(&m.base, &MEM_OPS, "mem", "fuzz") != VC_OK)
		abort();
	m.paths[0] = paths[0];
	m.data[0] = chunk;
	m.len[0] = canned_chunk(chunk);
	m.paths[5] = paths[5];
	m.data[5] = (const uint8_t *)manifest;
	m.len[5] = sizeof(manifest) - 1;
	m.paths[which] = paths[which];
	m.data[which] = data;
	m.len[which] = size;
	if (vc_legacy_open(&m.base, &lg) == VC_OK) {
		exercise(lg);
		vc_legacy_close(lg);
	} else if (lg != NULL) {
		abort();
	}
	vc_store_base_release(&m.base);
}

static void fuzz_item(const uint8_t *data, size_t size)
{
	vc_lcbor a, b;
	json_t *value = NULL;

	vc_lcbor_init(&a, data, size, "fuzz");
	vc_lcbor_init(&b, data, size, "fuzz");
	if (vc_lcbor_to_json(&a, &value) == VC_OK) {
		if (vc_lcbor_skip(&b) != VC_OK || a.pos != b.pos)
			abort();
		json_decref(value);
	} else if (value != NULL) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] % (FILES + 1) == FILES)
		fuzz_item(data + 1, size - 1);
	else
		fuzz_session(data[0] % (FILES + 1), data + 1, size - 1);
	return 0;
}
