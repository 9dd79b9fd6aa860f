/*
 * Sessions of the original Rust system (docs/LEGACY.md) in the vchunk commands: recognising
 * one from its manifest, and what inspect, verify and cat show of it. They are read-only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "legacy/legacy.h"
#include "util/error_i.h"

/* The stored files a legacy session may hold besides its chunks, in the order cat lists them. */
static const char *const legacy_files[] = {
    "manifest.json",	 "schema.json",	    "metadata.cbor",
    "metadata_map.cbor", "timestamps.cbor", "hnsw_nodes.cbor",
};

vc_err vc_cli_legacy_probe(const char *uri, vc_legacy **out)
{
	vc_store *store = NULL;
	vc_bytes raw = {0};
	vc_err err;

	*out = NULL;
	/* A bad URI or a missing manifest is left to the normal open, which says what is wrong
	 * the usual way; a failing backend is reported now rather than tried a second time. */
	if (vc_store_open(uri, NULL, &store) != VC_OK)
		return VC_OK;
	err = vc_store_get(store, "manifest.json", &raw);
	if (err != VC_OK && err != VC_ERR_NOT_FOUND) {
		vc_store_close(store);
		return vc_fail_context(err, "%s: manifest.json", uri);
	}
	if (err != VC_OK || !vc_legacy_detect((const char *)raw.data, raw.len)) {
		vc_bytes_free(&raw);
		vc_store_close(store);
		return VC_OK;
	}
	vc_bytes_free(&raw);
	err = vc_legacy_open(store, out);
	vc_store_close(store);
	return err;
}

static json_t *info_json(const char *uri, const vc_legacy *legacy)
{
	vc_legacy_info info;
	json_t *chunks = json_array();

	vc_legacy_get_info(legacy, &info);
	for (size_t i = 0; i < vc_legacy_chunk_count(legacy); i++)
		json_array_append_new(chunks, json_string(vc_legacy_chunk_path(legacy, i)));
	return json_pack(
	    "{s:s, s:s, s:i, s:i, s:s, s:I, s:I, s:I, s:o, s:{s:I, s:I, s:I, s:I}, "
	    "s:{s:I, s:I, s:I}, s:b}",
	    "session", uri, "format", "legacy-rust", "version", (int)info.version, "dim",
	    (int)info.dim, "metric", "l2", "total_vectors", (json_int_t)info.count,
	    "stored_vectors", (json_int_t)info.stored, "deleted_vectors", (json_int_t)info.deleted,
	    "chunks", chunks, "ids", "recovered", (json_int_t)info.ids_recovered, "fallback",
	    (json_int_t)info.ids_fallback, "short_id_collisions",
	    (json_int_t)info.short_id_collisions, "metadata_unmatched",
	    (json_int_t)info.metadata_unmatched, "graph", "nodes", (json_int_t)info.graph_nodes,
	    "only_in_graph", (json_int_t)info.graph_only, "vector_mismatches",
	    (json_int_t)info.graph_mismatches, "schema", vc_legacy_schema(legacy) != NULL);
}

static void print_info(const char *uri, const vc_legacy *legacy)
{
	vc_legacy_info info;
	json_t *schema = vc_legacy_schema(legacy);

	vc_legacy_get_info(legacy, &info);
	printf("session     %s\n", uri);
	printf("format      original Rust system, manifest version %u (read-only)\n", info.version);
	printf("dimension   %u\n", info.dim);
	printf("metric      l2\n");
	printf("vectors     %zu live, %zu stored, %zu deleted\n", info.count, info.stored,
	       info.deleted);
	printf("ids         %zu recovered from _originalId, %zu named by their hash "
	       "(%zu short-id collisions)\n",
	       info.ids_recovered, info.ids_fallback, info.short_id_collisions);
	printf("metadata    %zu entries matched no vector\n", info.metadata_unmatched);
	printf("graph       %zu nodes, %zu only in the graph, %zu vectors differing\n",
	       info.graph_nodes, info.graph_only, info.graph_mismatches);
	printf("schema      %s\n", schema != NULL ? "yes" : "none");
	printf("chunks      %zu\n", info.chunk_count);
	for (size_t i = 0; i < info.chunk_count; i++)
		printf("  %s\n", vc_legacy_chunk_path(legacy, i));
	printf("convert     vchunk convert %s NEW_SESSION\n", uri);
	json_decref(schema);
}

int vc_cli_legacy_inspect(const char *uri, const vc_legacy *legacy, bool as_json)
{
	json_t *summary;
	int status;

	if (!as_json) {
		print_info(uri, legacy);
		return VC_EXIT_OK;
	}
	summary = info_json(uri, legacy);
	if (summary == NULL)
		return vc_cli_error("out of memory describing %s", uri);
	status = json_dumpf(summary, stdout, JSON_INDENT(2)) == 0 ? VC_EXIT_OK : VC_EXIT_ERROR;
	putchar('\n');
	json_decref(summary);
	return status;
}

int vc_cli_legacy_verify(const char *uri, const vc_legacy *legacy)
{
	vc_legacy_info info;

	/* Opening decoded and cross-checked every file; there is no MAC or hash to check. */
	vc_legacy_get_info(legacy, &info);
	printf("OK: legacy session (manifest version %u): %zu chunks and %zu vectors decoded, "
	       "%zu live (no authentication: the original system stored none)\n",
	       info.version, info.chunk_count, info.stored, info.count);
	(void)uri;
	return VC_EXIT_OK;
}

/* Print @p doc as pretty JSON and a newline. */
static vc_err print_json(json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(9) | JSON_ENCODE_ANY);
	vc_err err;

	if (text == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory printing JSON");
	err = vc_cli_write_stdout(text, strlen(text));
	if (err == VC_OK)
		err = vc_cli_write_stdout("\n", 1);
	free(text);
	return err;
}

/* The chunk whose stored path is @p path with its extension replaced by ".json". */
static bool chunk_json_index(const vc_legacy *legacy, const char *path, size_t *index)
{
	size_t len = strlen(path);

	if (len < 5 || strcmp(path + len - 5, ".json") != 0)
		return false;
	for (size_t i = 0; i < vc_legacy_chunk_count(legacy); i++) {
		const char *stored = vc_legacy_chunk_path(legacy, i);
		size_t base = strlen(stored) - 5; /* without ".cbor" */

		if (base == len - 5 && strncmp(stored, path, base) == 0) {
			*index = i;
			return true;
		}
	}
	return false;
}

static bool stored_file(const vc_legacy *legacy, const char *path)
{
	for (size_t i = 0; i < sizeof(legacy_files) / sizeof(legacy_files[0]); i++)
		if (strcmp(path, legacy_files[i]) == 0)
			return true;
	for (size_t i = 0; i < vc_legacy_chunk_count(legacy); i++)
		if (strcmp(path, vc_legacy_chunk_path(legacy, i)) == 0)
			return true;
	return false;
}

static vc_err cat_stored(const char *uri, const char *path)
{
	vc_store *store = NULL;
	vc_bytes raw = {0};
	vc_err err = vc_store_open(uri, NULL, &store);

	if (err == VC_OK)
		err = vc_store_get(store, path, &raw);
	if (err == VC_OK)
		err = vc_cli_write_stdout(raw.data, raw.len);
	else
		vc_fail_context(err, "%s: %s", uri, path);
	vc_bytes_free(&raw);
	vc_store_close(store);
	return err;
}

int vc_cli_legacy_cat(const char *uri, const vc_legacy *legacy, const char *path)
{
	json_t *doc = NULL;
	size_t index;
	vc_err err;

	/* The stored files as they are (CBOR is plaintext here), or a decoded JSON view. */
	if (stored_file(legacy, path))
		err = cat_stored(uri, path);
	else if (strcmp(path, "metadata.json") == 0)
		err = vc_legacy_metadata_json(legacy, &doc);
	else if (chunk_json_index(legacy, path, &index))
		err = vc_legacy_chunk_json(legacy, index, &doc);
	else
		err = vc_fail(VC_ERR_NOT_FOUND,
			      "%s: no %s in this legacy session (it has manifest.json, "
			      "chunks/NAME.cbor and their decoded chunks/NAME.json, metadata.json "
			      "and the optional files; see `vchunk inspect %s`)",
			      uri, path, uri);
	if (err == VC_OK && doc != NULL)
		err = print_json(doc);
	json_decref(doc);
	return err == VC_OK ? VC_EXIT_OK : vc_cli_fail();
}
