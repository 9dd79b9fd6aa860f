/* The in-memory manifest: metric names, lookup, copying, freeing and object path rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/manifest_codec.h"
#include "util/error_i.h"

const char *vc_metric_name(vc_metric metric)
{
	switch (metric) {
	case VC_METRIC_COSINE: return "cosine";
	case VC_METRIC_L2: return "l2";
	case VC_METRIC_DOT: return "dot";
	}
	return "unknown";
}

bool vc_metric_parse(const char *name, vc_metric *out)
{
	static const vc_metric all[] = {VC_METRIC_COSINE, VC_METRIC_L2, VC_METRIC_DOT};
	size_t i;

	if (name == NULL)
		return false;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(name, vc_metric_name(all[i])) == 0) {
			*out = all[i];
			return true;
		}
	}
	return false;
}

void vc_manifest_free(vc_manifest *manifest)
{
	size_t i;

	if (manifest == NULL)
		return;
	for (i = 0; i < manifest->chunk_count; i++) {
		free(manifest->chunks[i].cid);
		free(manifest->chunks[i].object.path);
	}
	for (i = 0; i < manifest->object_count; i++)
		free(manifest->objects[i].path);
	free(manifest->chunks);
	free(manifest->objects);
	free(manifest);
}

const vc_object_ref *vc_manifest_find(const vc_manifest *manifest, const char *path)
{
	size_t i;

	if (manifest == NULL || path == NULL)
		return NULL;
	for (i = 0; i < manifest->chunk_count; i++)
		if (manifest->chunks[i].object.path != NULL &&
		    strcmp(manifest->chunks[i].object.path, path) == 0)
			return &manifest->chunks[i].object;
	for (i = 0; i < manifest->object_count; i++)
		if (manifest->objects[i].path != NULL &&
		    strcmp(manifest->objects[i].path, path) == 0)
			return &manifest->objects[i];
	return NULL;
}

static vc_err copy_string(const char *src, char **dst)
{
	*dst = NULL;
	if (src == NULL)
		return VC_OK;
	*dst = strdup(src);
	if (*dst == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory copying the manifest");
	return VC_OK;
}

size_t vc_manifest_indexed_chunks(const vc_manifest *manifest)
{
	if (manifest->recent_chunks > manifest->chunk_count)
		return 0;
	return manifest->chunk_count - manifest->recent_chunks;
}

uint64_t vc_manifest_indexed_rows(const vc_manifest *manifest)
{
	size_t covered = vc_manifest_indexed_chunks(manifest);
	uint64_t rows = 0;

	for (size_t i = 0; i < covered; i++)
		rows += manifest->chunks[i].vector_count;
	return rows;
}

vc_row_counts vc_manifest_row_counts(const vc_manifest *manifest)
{
	size_t indexed = vc_manifest_indexed_chunks(manifest);
	vc_row_counts counts = {0};

	for (size_t i = 0; i < manifest->chunk_count; i++) {
		counts.stored += manifest->chunks[i].vector_count;
		if (i >= indexed)
			counts.recent += manifest->chunks[i].vector_count;
	}
	if (counts.stored > manifest->total_vectors)
		counts.deleted = counts.stored - manifest->total_vectors;
	return counts;
}

vc_err vc_manifest_clone(const vc_manifest *manifest, vc_manifest **out)
{
	vc_manifest *copy;
	size_t i;

	*out = NULL;
	copy = calloc(1, sizeof(*copy));
	if (copy == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory copying the manifest");
	*copy = *manifest;
	copy->chunks = NULL;
	copy->objects = NULL;
	copy->chunk_count = 0;
	copy->object_count = 0;
	if (manifest->chunk_count > 0) {
		copy->chunks = calloc(manifest->chunk_count, sizeof(*copy->chunks));
		if (copy->chunks == NULL)
			goto nomem;
	}
	for (i = 0; i < manifest->chunk_count; i++) {
		copy->chunks[i] = manifest->chunks[i];
		copy->chunks[i].cid = NULL;
		copy->chunks[i].object.path = NULL;
		copy->chunk_count = i + 1;
		if (copy_string(manifest->chunks[i].cid, &copy->chunks[i].cid) != VC_OK ||
		    copy_string(manifest->chunks[i].object.path, &copy->chunks[i].object.path) !=
			VC_OK)
			goto nomem;
	}
	if (manifest->object_count > 0) {
		copy->objects = calloc(manifest->object_count, sizeof(*copy->objects));
		if (copy->objects == NULL)
			goto nomem;
	}
	for (i = 0; i < manifest->object_count; i++) {
		copy->objects[i] = manifest->objects[i];
		copy->objects[i].path = NULL;
		copy->object_count = i + 1;
		if (copy_string(manifest->objects[i].path, &copy->objects[i].path) != VC_OK)
			goto nomem;
	}
	*out = copy;
	return VC_OK;
nomem:
	vc_manifest_free(copy);
	return vc_fail(VC_ERR_NOMEM, "out of memory copying the manifest");
}

static bool path_char_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

bool vc_object_path_valid(const char *path)
{
	size_t len, start = 0, i;

	if (path == NULL)
		return false;
	len = strlen(path);
	if (len == 0 || len > 255)
		return false;
	for (i = 0; i <= len; i++) {
		if (i < len && path[i] != '/') {
			if (!path_char_ok(path[i]))
				return false;
			continue;
		}
		/* End of a component: reject empty, "." and "..". */
		if (i == start)
			return false;
		if (i - start == 1 && path[start] == '.')
			return false;
		if (i - start == 2 && path[start] == '.' && path[start + 1] == '.')
			return false;
		start = i + 1;
	}
	return true;
}

void vc_chunk_path(uint32_t id, char *buf, size_t size)
{
	snprintf(buf, size, "chunks/chunk-%u.cbor", id);
}
