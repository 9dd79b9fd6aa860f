/* Lookups over an open legacy session: by id, exact L2 search, and chunks shown as JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "legacy/blake3.h"
#include "legacy/legacy_i.h"
#include "search/distance.h"
#include "search/filter.h"
#include "search/topk.h"
#include "util/error_i.h"

static size_t live_position(const vc_legacy *lg, size_t entry_index)
{
	/* live[] is increasing, so a binary search finds an entry's live number */
	size_t lo = 0, hi = lg->live_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (lg->live[mid] < entry_index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < lg->live_count && lg->live[lo] == entry_index ? lo : SIZE_MAX;
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* The entry a fallback name ("vec_" + 8 or 64 hex digits) stands for, or SIZE_MAX. */
static size_t find_fallback(const vc_legacy *lg, const char *id)
{
	size_t len = strlen(id);
	uint32_t prefix;
	size_t first;

	if (vc_legacy_parse_short_id(id, len, &prefix)) {
		if (vc_legacy_short_range(lg, prefix, &first) != 1)
			return SIZE_MAX;
		first = lg->shorts[first].index;
	} else if (len == 4 + 2 * VC_LEGACY_ID_BYTES && memcmp(id, "vec_", 4) == 0) {
		uint8_t vector_id[VC_LEGACY_ID_BYTES];

		for (size_t i = 0; i < VC_LEGACY_ID_BYTES; i++) {
			int high = hex_digit(id[4 + 2 * i]), low = hex_digit(id[5 + 2 * i]);

			if (high < 0 || low < 0)
				return SIZE_MAX;
			vector_id[i] = (uint8_t)(high << 4 | low);
		}
		first = vc_legacy_table_find(lg, vector_id);
	} else {
		return SIZE_MAX;
	}
	if (first == SIZE_MAX || lg->entries[first].recovered ||
	    strcmp(lg->entries[first].id, id) != 0)
		return SIZE_MAX;
	return first;
}

vc_err vc_legacy_find(const vc_legacy *legacy, const char *id, size_t *index)
{
	uint8_t hash[VC_LEGACY_ID_BYTES];
	size_t entry;

	vc_blake3(id, strlen(id), hash);
	entry = vc_legacy_table_find(legacy, hash);
	if (entry != SIZE_MAX && strcmp(legacy->entries[entry].id, id) != 0)
		entry = SIZE_MAX;
	if (entry == SIZE_MAX)
		entry = find_fallback(legacy, id);
	if (entry != SIZE_MAX)
		entry = live_position(legacy, entry);
	if (entry == SIZE_MAX)
		return vc_fail(VC_ERR_NOT_FOUND, "no vector with id \"%s\" in the legacy session",
			       id);
	*index = entry;
	return VC_OK;
}

static vc_err validate(const vc_legacy *lg, const vc_query *query)
{
	if (query->vector == NULL || query->dim == 0)
		return vc_fail(VC_ERR_INVALID, "the query has no vector");
	if (lg->live_count > 0 && query->dim != lg->dim)
		return vc_fail(VC_ERR_INVALID, "query has %u dimensions, the session has %u",
			       query->dim, lg->dim);
	if (query->k == 0)
		return vc_fail(VC_ERR_INVALID, "k must be at least 1");
	for (uint32_t i = 0; i < query->dim; i++) {
		if (!isfinite(query->vector[i]))
			return vc_fail(VC_ERR_INVALID,
				       "query value %u is not a finite number (NaN or infinity)",
				       i);
	}
	if (query->has_threshold && !isfinite(query->threshold))
		return vc_fail(VC_ERR_INVALID, "the threshold is not a finite number");
	return VC_OK;
}

static vc_err build_hits(const vc_legacy *lg, vc_topk *topk, vc_results *out)
{
	vc_topk_sort(topk);
	out->hits = calloc(topk->count ? topk->count : 1, sizeof(vc_hit));
	if (out->hits == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for %zu results", topk->count);
	for (size_t i = 0; i < topk->count; i++) {
		const vc_legacy_entry *entry = &lg->entries[lg->live[topk->items[i].key]];
		vc_hit *hit = &out->hits[i];

		hit->id = strdup(entry->id);
		if (hit->id == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory for a result id");
		out->count++;
		/* the internal score is the negated squared distance */
		hit->score = sqrtf(-topk->items[i].score);
		hit->metadata =
		    entry->metadata != NULL ? json_incref(entry->metadata) : json_null();
	}
	return VC_OK;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

vc_err vc_legacy_search(const vc_legacy *legacy, const vc_query *query, vc_results *out)
{
	uint64_t started = now_ns();
	vc_filter *filter = NULL;
	vc_topk topk = {0};
	float limit = 0;
	vc_err err;

	memset(out, 0, sizeof(*out));
	err = validate(legacy, query);
	if (err == VC_OK && query->filter != NULL)
		err = vc_filter_compile(query->filter, &filter);
	if (err == VC_OK)
		err = vc_topk_init(&topk,
				   query->k < legacy->live_count ? query->k : legacy->live_count);
	if (err != VC_OK)
		goto out;
	if (query->has_threshold)
		limit = query->threshold < 0 ? -1.0f : query->threshold * query->threshold;
	for (size_t i = 0; i < legacy->live_count; i++) {
		const vc_legacy_entry *entry = &legacy->entries[legacy->live[i]];
		float d2;

		if (filter != NULL && !vc_filter_match(filter, entry->metadata))
			continue;
		d2 = vc_l2sq(query->vector, legacy->vectors + legacy->live[i] * legacy->dim,
			     legacy->dim);
		out->stats.vectors_scored++;
		if (query->has_threshold && d2 > limit)
			continue;
		vc_topk_push(&topk, -d2, i);
	}
	err = build_hits(legacy, &topk, out);
	out->stats.elapsed_ns = now_ns() - started;
out:
	vc_topk_free(&topk);
	vc_filter_free(filter);
	if (err != VC_OK)
		vc_results_free(out);
	return err;
}

static vc_err chunk_vector_json(const vc_legacy *lg, size_t entry_index, json_t *list)
{
	const vc_legacy_entry *entry = &lg->entries[entry_index];
	const float *values = lg->vectors + entry_index * lg->dim;
	char hex[65];
	json_t *item = json_object();
	json_t *vector = json_array();
	bool failed = item == NULL || vector == NULL;

	vc_legacy_hex(entry->vector_id, hex);
	for (uint32_t d = 0; d < lg->dim && !failed; d++)
		failed = json_array_append_new(vector, json_real(values[d])) != 0;
	/* the *_set_new and *_append_new calls take their value even when they fail */
	failed |= json_object_set_new(item, "id", json_string(entry->id)) != 0;
	failed |= json_object_set_new(item, "vector_id", json_string(hex)) != 0;
	failed |= json_object_set_new(item, "vector", vector) != 0;
	if (entry->deleted)
		failed |= json_object_set_new(item, "deleted", json_true()) != 0;
	if (failed || json_array_append_new(list, item) != 0) {
		if (failed)
			json_decref(item);
		return vc_fail(VC_ERR_NOMEM, "out of memory showing a chunk as JSON");
	}
	return VC_OK;
}

vc_err vc_legacy_chunk_json(const vc_legacy *legacy, size_t index, json_t **out)
{
	const vc_legacy_chunk *chunk;
	json_t *doc;
	json_t *list;
	vc_err err = VC_OK;

	*out = NULL;
	if (index >= legacy->chunk_count)
		return vc_fail(VC_ERR_INVALID, "legacy chunk %zu out of range (%zu chunks)", index,
			       legacy->chunk_count);
	chunk = &legacy->chunks[index];
	doc = json_object();
	list = json_array();
	if (doc == NULL || list == NULL ||
	    json_object_set_new(doc, "chunk_id", json_string(chunk->chunk_id)) != 0 ||
	    json_object_set_new(doc, "start_idx", json_integer((json_int_t)chunk->start_idx)) !=
		0 ||
	    json_object_set_new(doc, "end_idx", json_integer((json_int_t)chunk->end_idx)) != 0 ||
	    json_object_set_new(doc, "vectors", json_incref(list)) != 0)
		err = vc_fail(VC_ERR_NOMEM, "out of memory showing %s as JSON", chunk->path);
	for (size_t i = 0; i < chunk->count && err == VC_OK; i++)
		err = chunk_vector_json(legacy, chunk->first + i, list);
	json_decref(list);
	if (err != VC_OK) {
		json_decref(doc);
		return err;
	}
	*out = doc;
	return VC_OK;
}
