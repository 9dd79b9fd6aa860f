/* stats.json: the session's, the cache's, the backend's and the mount's counters, live. */
#include "fs/fs.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fs/query.h"
#include "fs/write.h"
#include "util/error_i.h"

/* Counters are unsigned 64-bit; JSON integers here are signed, and no counter gets near 2^63. */
static int put_count(json_t *object, const char *key, uint64_t value)
{
	return json_object_set_new(object, key, json_integer((json_int_t)value));
}

static json_t *session_json(vc_fs *fs, const vc_manifest *manifest, const vc_session_stats *s)
{
	vc_row_counts rows = vc_manifest_row_counts(manifest);
	json_t *o = json_object();

	json_object_set_new(o, "uri", json_string(fs->options->session));
	put_count(o, "epoch", manifest->epoch);
	put_count(o, "chunks", manifest->chunk_count);
	put_count(o, "vectors", manifest->total_vectors);
	put_count(o, "deleted_rows", rows.deleted);
	put_count(o, "recent_rows", rows.recent);
	put_count(o, "dim", manifest->dim);
	json_object_set_new(o, "metric", json_string(vc_metric_name(manifest->metric)));
	json_object_set_new(o, "encrypted", json_boolean(manifest->encryption.enabled));
	put_count(o, "chunk_loads", s->chunk_loads);
	put_count(o, "bytes_fetched", s->bytes_fetched);
	put_count(o, "frames_decrypted", s->frames_decrypted);
	put_count(o, "load_ns_total", s->load_ns_total);
	put_count(o, "searches", s->searches);
	put_count(o, "search_ns_total", s->search_ns_total);
	return o;
}

static json_t *cache_json(const vc_cache_stats *c)
{
	json_t *o = json_object();

	put_count(o, "hits", c->hits);
	put_count(o, "misses", c->misses);
	put_count(o, "waits", c->waits);
	put_count(o, "evictions", c->evictions);
	put_count(o, "load_errors", c->load_errors);
	put_count(o, "entries", c->entries);
	put_count(o, "bytes_resident", c->bytes_resident);
	put_count(o, "bytes_budget", c->bytes_budget);
	put_count(o, "load_ns_total", c->load_ns_total);
	put_count(o, "load_ns_max", c->load_ns_max);
	return o;
}

static json_t *backend_json(vc_fs *fs, const vc_store_stats *b)
{
	vc_store *store = vc_session_store(fs->session);
	json_t *o = json_object();

	json_object_set_new(o, "kind", json_string(store->kind ? store->kind : ""));
	json_object_set_new(o, "location", json_string(store->location ? store->location : ""));
	put_count(o, "requests", b->requests);
	put_count(o, "bytes_read", b->bytes_read);
	put_count(o, "bytes_written", b->bytes_written);
	put_count(o, "retries", b->retries);
	put_count(o, "errors", b->errors);
	put_count(o, "timeout_ms", (uint64_t)fs->options->timeout_ms);
	return o;
}

static json_t *mount_json(vc_fs *fs)
{
	const vc_fs_counters *c = &fs->counters;
	json_t *o = json_object();

	json_object_set_new(o, "mountpoint", json_string(fs->options->mountpoint));
	put_count(o, "pid", (uint64_t)getpid());
	put_count(o, "mounted_at", (uint64_t)fs->mounted_at);
	put_count(o, "opens", atomic_load(&c->opens));
	put_count(o, "reads", atomic_load(&c->reads));
	put_count(o, "bytes_served", atomic_load(&c->bytes_served));
	put_count(o, "errors", atomic_load(&c->errors));
	put_count(o, "manifest_checks", atomic_load(&c->refreshes));
	put_count(o, "manifest_check_errors", atomic_load(&c->refresh_errors));
	put_count(o, "epoch_changes", atomic_load(&c->epoch_changes));
	put_count(o, "manifest_ttl_s", fs->options->manifest_ttl);
	put_count(o, "max_threads", fs->options->single_thread ? 1 : fs->options->max_threads);
	return o;
}

vc_err vc_fs_stats_render(vc_fs *fs, char **text, size_t *len)
{
	vc_fs_snapshot *snapshot = vc_fs_snapshot_get(fs);
	vc_session_stats stats;
	json_t *root = json_object();
	char *dumped;
	size_t n;

	vc_session_get_stats(fs->session, &stats);
	json_object_set_new(root, "session", session_json(fs, snapshot->manifest, &stats));
	json_object_set_new(root, "cache", cache_json(&stats.cache));
	json_object_set_new(root, "backend", backend_json(fs, &stats.store));
	json_object_set_new(root, "mount", mount_json(fs));
	json_object_set_new(root, "queries", vc_fs_queries_stats_json(fs));
	json_object_set_new(root, "writes", vc_fs_writes_stats_json(fs));
	vc_fs_snapshot_put(fs, snapshot);
	dumped = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (dumped == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering stats.json");
	n = strlen(dumped);
	*text = realloc(dumped, n + 2);
	if (*text == NULL) {
		free(dumped);
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering stats.json");
	}
	(*text)[n] = '\n';
	(*text)[n + 1] = '\0';
	*len = n + 1;
	return VC_OK;
}
