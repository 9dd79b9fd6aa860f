/* Transactions: adds searchable at once, deletes never returned, updates, the writer lock,
 * concurrent commits and readers of an old epoch. */
#include <setjmp.h>
#include <signal.h>
#include <time.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "index/hnsw.h"
#include "search/hnsw_search.h"
#include "session/recent_tier.h"
#include "session/session_i.h"
#include "vchunk/txn.h"

#define DIM 8

typedef struct fixture {
	char dir[64];
	char uri[96];
} fixture;

static void vec(uint32_t seed, float *v)
{
	uint32_t x = seed * 2654435761u + 12345u;

	for (int i = 0; i < DIM; i++) {
		x = x * 1103515245u + 12345u;
		v[i] = (float)((x >> 8) & 0xffff) / 65536.0f - 0.5f;
	}
}

/* A session of @p n vectors "vI" (metadata {"g": I % 3}) with the index asked for. */
static void create(fixture *fx, uint32_t n, vc_index_type index)
{
	vc_create_options opt = {.no_encryption = true,
				 .metric = VC_METRIC_L2,
				 .chunk_size = 64,
				 .index = index,
				 .nlist = 4};
	vc_writer *w;
	float v[DIM];
	char id[32];

	strcpy(fx->dir, "/tmp/vc_txn_XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->uri, sizeof(fx->uri), "%s/s", fx->dir);
	assert_int_equal(vc_writer_create(fx->uri, &opt, &w), VC_OK);
	for (uint32_t i = 0; i < n; i++) {
		json_t *meta = json_pack("{s:i}", "g", (int)(i % 3));

		vec(i, v);
		snprintf(id, sizeof(id), "v%u", i);
		assert_int_equal(vc_writer_add(w, id, v, DIM, meta), VC_OK);
		json_decref(meta);
	}
	assert_int_equal(vc_writer_commit(w), VC_OK);
}

static void destroy(fixture *fx)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
}

/* The best hit's id for the vector of seed @p seed (exact or through the index). */
static bool top_is(vc_session *s, uint32_t seed, const char *id, bool exact)
{
	float v[DIM];
	vc_query q = {.vector = v, .dim = DIM, .k = 1, .exact = exact, .nprobe = 4};
	vc_results r;
	bool same;

	vec(seed, v);
	assert_int_equal(vc_session_search(s, &q, &r), VC_OK);
	same = r.count == 1 && strcmp(r.hits[0].id, id) == 0;
	vc_results_free(&r);
	return same;
}

/* Is @p id among the k = all results? */
static bool returned(vc_session *s, const char *id, bool exact)
{
	const vc_manifest *m = vc_session_manifest_get(s);
	float v[DIM];
	vc_query q = {.vector = v,
		      .dim = DIM,
		      .k = (uint32_t)m->total_vectors + 10,
		      .exact = exact,
		      .nprobe = 4};
	vc_results r;
	bool found = false;

	vc_session_manifest_put(s, m);
	vec(1, v);
	assert_int_equal(vc_session_search(s, &q, &r), VC_OK);
	for (size_t i = 0; i < r.count; i++)
		found |= strcmp(r.hits[i].id, id) == 0;
	vc_results_free(&r);
	return found;
}

static void add_delete_update(vc_index_type index)
{
	fixture fx;
	vc_session *s;
	vc_txn *t;
	vc_record rec;
	uint64_t epoch = 0, count = 0;
	float v[DIM];

	create(&fx, 300, index);
	assert_int_equal(vc_session_open(fx.uri, NULL, &s), VC_OK);
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	vec(1000, v);
	assert_int_equal(vc_txn_add(t, "new", v, DIM, NULL), VC_OK);
	assert_int_equal(vc_txn_add(t, "v3", v, DIM, NULL), VC_ERR_EXISTS);
	assert_int_equal(vc_txn_delete(t, "v7"), VC_OK);
	assert_int_equal(vc_txn_delete(t, "nope"), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_txn_commit(t, &epoch), VC_OK);
	assert_int_equal(epoch, 2);
	assert_true(top_is(s, 1000, "new", true));
	assert_true(top_is(s, 1000, "new", false));
	assert_false(returned(s, "v7", true));
	assert_false(returned(s, "v7", false));
	const vc_manifest *at2 = vc_session_manifest_get(s);
	assert_int_equal(vc_session_lookup(s, at2, "v7", &rec), VC_ERR_NOT_FOUND);
	assert_int_equal(at2->recent_chunks, index == VC_INDEX_FLAT ? 0 : 1);
	/* an approximate index gets the added rows in the recent graph */
	assert_true((vc_manifest_find(at2, "index/recent-2.bin") != NULL) ==
		    (index != VC_INDEX_FLAT));
	vc_session_manifest_put(s, at2);
	/* re-add the deleted id, update another, delete by filter; empty filter refused */
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	vec(7, v);
	assert_int_equal(vc_txn_add(t, "v7", v, DIM, NULL), VC_OK);
	json_t *meta = json_pack("{s:s}", "state", "updated");
	assert_int_equal(vc_txn_update(t, "v9", meta), VC_OK);
	json_decref(meta);
	json_t *empty = json_object(), *f = json_pack("{s:i}", "g", 2);
	assert_int_equal(vc_txn_delete_matching(t, empty, &count), VC_ERR_INVALID);
	assert_int_equal(vc_txn_delete_matching(t, f, &count), VC_OK);
	assert_int_equal(count, 100 - (7 % 3 == 2));
	json_decref(empty);
	json_decref(f);
	assert_int_equal(vc_txn_commit(t, &epoch), VC_OK);
	assert_true(top_is(s, 7, "v7", true));
	assert_true(top_is(s, 7, "v7", false));
	assert_false(returned(s, "v2", false));
	assert_false(returned(s, "v2", true));
	const vc_manifest *m = vc_session_manifest_get(s);
	assert_int_equal(m->total_vectors, 301 - 100);
	assert_int_equal(vc_session_lookup(s, m, "v9", &rec), VC_OK);
	assert_string_equal(json_string_value(json_object_get(rec.metadata, "state")), "updated");
	vc_record_free(&rec);
	vc_session_manifest_put(s, m);
	/* ids now in the recent tier (re-added, updated): found there, not in the id shards */
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	assert_int_equal(vc_txn_add(t, "v9", v, DIM, NULL), VC_ERR_EXISTS);
	assert_int_equal(vc_txn_delete(t, "v7"), VC_OK);
	vec(1234, v);
	assert_int_equal(vc_txn_add(t, "v7", v, DIM, NULL), VC_OK);
	meta = json_pack("{s:b}", "seen", 1);
	assert_int_equal(vc_txn_update(t, "new", meta), VC_OK);
	json_decref(meta);
	assert_int_equal(vc_txn_delete(t, "v2"), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	assert_true(top_is(s, 1234, "v7", true));
	assert_true(top_is(s, 1234, "v7", false));
	m = vc_session_manifest_get(s);
	assert_int_equal(m->total_vectors, 301 - 100);
	assert_int_equal(vc_session_lookup(s, m, "new", &rec), VC_OK);
	assert_true(json_is_true(json_object_get(rec.metadata, "seen")));
	vc_record_free(&rec);
	vc_session_manifest_put(s, m);
	assert_int_equal(vc_session_verify(s, NULL, NULL), VC_OK);
	vc_session_close(s);
	destroy(&fx);
}

/* The recent graph is stored as links only; a reader puts every node's row back from the
 * chunks, and a later commit builds on the graph so restored. */
static void test_recent_graph_links_only(void **state)
{
	vc_open_options opt = {.epoch_file = ""};
	const vc_hnsw_tier *graph;
	const vc_object_ref *ref;
	const vc_manifest *m;
	vc_bytes plain = {0};
	fixture fx;
	vc_session *s;
	vc_txn *t;
	float v[DIM];
	char id[16];

	(void)state;
	create(&fx, 200, VC_INDEX_IVF);
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	for (uint32_t batch = 0; batch < 2; batch++) {
		assert_int_equal(vc_txn_begin(s, &t), VC_OK);
		for (uint32_t i = batch * 100; i < batch * 100 + 100 - 50 * batch; i++) {
			snprintf(id, sizeof(id), "r%u", i);
			vec(3000 + i, v);
			assert_int_equal(vc_txn_add(t, id, v, DIM, NULL), VC_OK);
		}
		assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	}
	vc_session_close(s);
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	m = vc_session_manifest_get(s);
	ref = vc_recent_tier_ref(m);
	assert_non_null(ref);
	/* tier header (24 bytes), then the graph's magic: links only */
	assert_int_equal(vc_session_read_object(s, m, ref->path, &plain), VC_OK);
	assert_true(plain.len > 32);
	assert_memory_equal(plain.data + 24, "VCHNSL", 6);
	vc_bytes_free(&plain);
	assert_int_equal(vc_session_recent_tier(s, m, &graph), VC_OK);
	assert_non_null(graph);
	assert_false(graph->rows_missing);
	assert_int_equal(graph->count, 150);
	for (uint32_t i = 0; i < 150; i++) {
		vec(3000 + i, v);
		assert_memory_equal(vc_hnsw_vector(graph->hnsw, i), v, sizeof(v));
	}
	vc_session_manifest_put(s, m);
	assert_true(top_is(s, 3140, "r140", false));
	assert_int_equal(vc_session_verify(s, NULL, NULL), VC_OK);
	vc_session_close(s);
	destroy(&fx);
}

/* Row @p seed of a @p dim-dimensional uniform cloud (harder for a graph than DIM = 8). */
static void wide_vec(uint32_t seed, float *v, uint32_t dim)
{
	uint32_t x = seed * 2654435761u + 777u;

	for (uint32_t i = 0; i < dim; i++) {
		x = x * 1103515245u + 12345u;
		v[i] = (float)((x >> 8) & 0xffff) / 65536.0f - 0.5f;
	}
}

/* The recent tier's graph is searched with its own breadth, not just k: each of many added
 * rows of a 96-dimensional cloud, queried with k = 1 through the index, finds itself. */
static void test_recent_graph_recall(void **state)
{
	enum { WIDE = 96, ROWS = 4000 };
	vc_create_options copt = {.no_encryption = true,
				  .metric = VC_METRIC_L2,
				  .chunk_size = 500,
				  .index = VC_INDEX_IVF,
				  .nlist = 4};
	vc_open_options opt = {.epoch_file = ""};
	float v[WIDE];
	vc_query q = {.vector = v, .dim = WIDE, .k = 1};
	fixture fx;
	vc_writer *w;
	vc_session *s;
	vc_txn *t;
	char id[16];
	int found = 0;

	(void)state;
	strcpy(fx.dir, "/tmp/vc_txn_XXXXXX");
	assert_non_null(mkdtemp(fx.dir));
	snprintf(fx.uri, sizeof(fx.uri), "%s/s", fx.dir);
	assert_int_equal(vc_writer_create(fx.uri, &copt, &w), VC_OK);
	for (uint32_t i = 0; i < 500; i++) {
		snprintf(id, sizeof(id), "v%u", i);
		wide_vec(i, v, WIDE);
		assert_int_equal(vc_writer_add(w, id, v, WIDE, NULL), VC_OK);
	}
	assert_int_equal(vc_writer_commit(w), VC_OK);
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	for (uint32_t i = 0; i < ROWS; i++) {
		snprintf(id, sizeof(id), "r%u", i);
		wide_vec(10000 + i, v, WIDE);
		assert_int_equal(vc_txn_add(t, id, v, WIDE, NULL), VC_OK);
	}
	assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	for (uint32_t i = 0; i < ROWS; i += 20) {
		vc_results r;

		wide_vec(10000 + i, v, WIDE);
		snprintf(id, sizeof(id), "r%u", i);
		assert_int_equal(vc_session_search(s, &q, &r), VC_OK);
		found += r.count == 1 && strcmp(r.hits[0].id, id) == 0;
		vc_results_free(&r);
	}
	assert_true(found >= ROWS / 20 - 4);
	vc_session_close(s);
	destroy(&fx);
}

/* With an id index a small commit reads a shard and a frame per id it names, not every chunk. */
static void test_small_commit_reads_little(void **state)
{
	vc_open_options opt = {.epoch_file = ""};
	vc_session_stats before, after;
	const vc_manifest *m;
	vc_record rec;
	json_t *meta;
	size_t chunks;
	fixture fx;
	vc_session *s;
	vc_txn *t;
	float v[DIM];

	(void)state;
	create(&fx, 2000, VC_INDEX_IVF);
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	m = vc_session_manifest_get(s);
	assert_true(m->index.id_shards > 0);
	chunks = m->chunk_count;
	assert_true(chunks >= 30);
	vc_session_manifest_put(s, m);
	vc_session_get_stats(s, &before);
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	assert_int_equal(vc_txn_delete(t, "v1500"), VC_OK);
	vec(5000, v);
	assert_int_equal(vc_txn_add(t, "fresh", v, DIM, NULL), VC_OK);
	assert_int_equal(vc_txn_add(t, "v42", v, DIM, NULL), VC_ERR_EXISTS);
	meta = json_pack("{s:i}", "g", 7);
	assert_int_equal(vc_txn_update(t, "v77", meta), VC_OK);
	json_decref(meta);
	assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	vc_session_get_stats(s, &after);
	/* the frames of v1500 (deleted), v42 (exists), v77 (updated): not the session's chunks */
	assert_true(after.chunk_loads - before.chunk_loads <= 3);
	assert_true(after.store.requests - before.store.requests < chunks);
	assert_true(top_is(s, 5000, "fresh", true));
	assert_false(returned(s, "v1500", true));
	m = vc_session_manifest_get(s);
	assert_int_equal(vc_session_lookup(s, m, "v77", &rec), VC_OK);
	assert_int_equal(json_integer_value(json_object_get(rec.metadata, "g")), 7);
	vec(77, v);
	assert_memory_equal(rec.vector, v, sizeof(v));
	vc_record_free(&rec);
	vc_session_manifest_put(s, m);
	vc_session_close(s);
	destroy(&fx);
}

/* Ids the shards hold live never send a transaction to the recent tier: deleting them reads
 * their frames, not the recent chunks; deleting a recent id maps those. */
static void test_indexed_ids_skip_recent_tier(void **state)
{
	vc_open_options opt = {.epoch_file = ""};
	vc_session_stats before, after;
	fixture fx;
	vc_session *s;
	vc_txn *t;
	float v[DIM];
	char id[16];

	(void)state;
	create(&fx, 2000, VC_INDEX_IVF);
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	for (uint32_t i = 0; i < 640; i++) {
		snprintf(id, sizeof(id), "n%u", i);
		vec(9000 + i, v);
		assert_int_equal(vc_txn_add(t, id, v, DIM, NULL), VC_OK);
	}
	assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	vc_session_close(s);
	/* a new process: nothing cached */
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	vc_session_get_stats(s, &before);
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	assert_int_equal(vc_txn_delete(t, "v1500"), VC_OK);
	assert_int_equal(vc_txn_delete(t, "v300"), VC_OK);
	assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	vc_session_get_stats(s, &after);
	/* two frames; the ten recent chunks untouched */
	assert_true(after.chunk_loads - before.chunk_loads <= 2);
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	assert_int_equal(vc_txn_delete(t, "n5"), VC_OK);
	assert_int_equal(vc_txn_delete(t, "v300"), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	vc_session_get_stats(s, &before);
	assert_true(before.chunk_loads - after.chunk_loads >= 10);
	assert_false(returned(s, "n5", true));
	assert_false(returned(s, "v1500", false));
	assert_true(top_is(s, 9006, "n6", false));
	vc_session_close(s);
	destroy(&fx);
}

static void test_flat(void **state)
{
	(void)state;
	add_delete_update(VC_INDEX_FLAT);
}

static void test_ivf(void **state)
{
	(void)state;
	add_delete_update(VC_INDEX_IVF);
}

static void test_hnsw(void **state)
{
	(void)state;
	add_delete_update(VC_INDEX_HNSW);
}

static void test_second_writer_and_old_reader(void **state)
{
	fixture fx;
	vc_session *a, *b;
	vc_txn *t, *t2;
	const vc_manifest *old;
	float v[DIM];

	(void)state;
	create(&fx, 100, VC_INDEX_FLAT);
	assert_int_equal(vc_session_open(fx.uri, NULL, &a), VC_OK);
	assert_int_equal(vc_session_open(fx.uri, NULL, &b), VC_OK);
	old = vc_session_manifest_get(b);
	assert_int_equal(vc_txn_begin(a, &t), VC_OK);
	assert_int_equal(vc_txn_begin(b, &t2), VC_ERR_BUSY);
	assert_non_null(strstr(vc_last_error(), "locked by pid"));
	assert_int_equal(vc_txn_delete(t, "v1"), VC_OK);
	assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	/* b still reads the epoch it holds: v1 is there */
	vc_record rec;
	assert_int_equal(vc_session_lookup(b, old, "v1", &rec), VC_OK);
	vc_record_free(&rec);
	vc_session_manifest_put(b, old);
	/* a lock whose holder is gone is broken */
	FILE *lf;
	char path[160];
	snprintf(path, sizeof(path), "%s/lock", fx.uri);
	lf = fopen(path, "w");
	assert_non_null(lf);
	fprintf(lf, "{\"host\":\"elsewhere\",\"pid\":1,\"time\":1}");
	fclose(lf);
	assert_int_equal(vc_txn_begin(b, &t2), VC_OK);
	vec(5000, v);
	assert_int_equal(vc_txn_add(t2, "late", v, DIM, NULL), VC_OK);
	/* someone commits behind the lock's back: the epoch check refuses */
	assert_int_equal(vc_txn_begin(a, &t), VC_ERR_BUSY);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "sed -i 's/\"epoch\": 2/\"epoch\": 9/' %s/manifest.json",
		 fx.uri);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(vc_txn_commit(t2, NULL), VC_ERR_BUSY);
	assert_non_null(strstr(vc_last_error(), "concurrent commit"));
	vc_session_close(a);
	vc_session_close(b);
	destroy(&fx);
}

/* Write a lock object naming this host and @p pid, taken now (so no lease has run out). */
static void write_lock(const char *uri, pid_t pid)
{
	char path[160], host[256] = {0};
	FILE *lf;

	gethostname(host, sizeof(host) - 1);
	snprintf(path, sizeof(path), "%s/lock", uri);
	lf = fopen(path, "w");
	assert_non_null(lf);
	fprintf(lf, "{\"host\":\"%s\",\"pid\":%d,\"time\":%lld}", host, (int)pid,
		(long long)time(NULL));
	fclose(lf);
}

/* A writer killed but not yet reaped (a zombie) holds no lock; a live one does. */
static void test_lock_of_zombie_broken(void **state)
{
	fixture fx;
	vc_session *s;
	vc_txn *t;
	pid_t child;
	int status;

	(void)state;
	create(&fx, 10, VC_INDEX_FLAT);
	assert_int_equal(vc_session_open(fx.uri, NULL, &s), VC_OK);

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	write_lock(fx.uri, child);
	assert_int_equal(vc_txn_begin(s, &t), VC_ERR_BUSY);
	assert_non_null(strstr(vc_last_error(), "locked by pid"));

	kill(child, SIGKILL);
	/* Wait until it is a zombie, without reaping it. */
	for (int i = 0; i < 500; i++) {
		siginfo_t info = {0};

		assert_int_equal(waitid(P_PID, (id_t)child, &info, WEXITED | WNOWAIT), 0);
		if (info.si_pid == child)
			break;
	}
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	vc_txn_abort(t);
	assert_int_equal(waitpid(child, &status, 0), child);
	vc_session_close(s);
	destroy(&fx);
}

static void test_rollback(void **state)
{
	fixture fx;
	char epochs[128], manifest[128], saved[128], cmd[400];
	vc_open_options opt = {.epoch_file = epochs};
	vc_session *s;
	vc_txn *t;

	(void)state;
	create(&fx, 50, VC_INDEX_FLAT);
	snprintf(epochs, sizeof(epochs), "%s/state/epochs", fx.dir);
	snprintf(manifest, sizeof(manifest), "%s/manifest.json", fx.uri);
	snprintf(saved, sizeof(saved), "%s/epoch1.json", fx.dir);
	snprintf(cmd, sizeof(cmd), "cp %s %s", manifest, saved);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	assert_int_equal(vc_txn_delete(t, "v1"), VC_OK);
	assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	vc_session_close(s);
	/* storage serves epoch 1 again: refused, unless allowed */
	snprintf(cmd, sizeof(cmd), "cp %s %s", saved, manifest);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "rollback"));
	opt.allow_rollback = true;
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	vc_session_close(s);
	/* "" disables the check */
	opt.allow_rollback = false;
	opt.epoch_file = "";
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	vc_session_close(s);
	destroy(&fx);
}

/* A commit failing at any step (injected backend errors) leaves the previous epoch intact. */
static void test_failed_commit_keeps_epoch(void **state)
{
	fixture fx;
	vc_fault_options fault = {.error_rate = 0.15};
	vc_open_options faulty = {.epoch_file = "", .store = {.retries = -1, .fault = &fault}};
	vc_open_options clean = {.epoch_file = ""};
	int failed_commits = 0, ok_commits = 0;
	char lock[128];
	float v[DIM];

	(void)state;
	create(&fx, 100, VC_INDEX_IVF);
	snprintf(lock, sizeof(lock), "%s/lock", fx.uri);
	for (unsigned seed = 1; seed <= 40; seed++) {
		vc_session *s, *c;
		const vc_manifest *m;
		uint64_t before, after;
		vc_txn *t;
		char id[32];
		vc_err err;

		fault.seed = seed;
		assert_int_equal(vc_session_open(fx.uri, &clean, &c), VC_OK);
		m = vc_session_manifest_get(c);
		before = m->epoch;
		vc_session_manifest_put(c, m);
		vc_session_close(c);
		if (vc_session_open(fx.uri, &faulty, &s) != VC_OK)
			continue;
		err = vc_txn_begin(s, &t);
		if (err == VC_OK) {
			/* staging reads the chunks (the live ids): that may fail too */
			for (int i = 0; i < 70 && err == VC_OK; i++) {
				vec(10000 + seed * 100 + (unsigned)i, v);
				snprintf(id, sizeof(id), "s%u-%d", seed, i);
				err = vc_txn_add(t, id, v, DIM, NULL);
			}
			if (err != VC_OK) {
				vc_txn_abort(t);
			} else {
				err = vc_txn_commit(t, NULL);
				if (err == VC_OK)
					ok_commits++;
				else
					failed_commits++;
			}
		}
		vc_session_close(s);
		unlink(lock); /* a failed release leaves it: this process is its holder */
		assert_int_equal(vc_session_open(fx.uri, &clean, &c), VC_OK);
		m = vc_session_manifest_get(c);
		after = m->epoch;
		vc_session_manifest_put(c, m);
		assert_int_equal(vc_session_verify(c, NULL, NULL), VC_OK);
		vc_session_close(c);
		if (err == VC_OK)
			assert_int_equal(after, before + 1);
		else
			assert_int_equal(after, before);
	}
	assert_true(failed_commits > 0);
	assert_true(ok_commits > 0);
	destroy(&fx);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Ids of every live vector, sorted, as one string (for comparing live sets). */
static char *live_ids(vc_session *s)
{
	const vc_manifest *m = vc_session_manifest_get(s);
	float v[DIM];
	vc_query q = {.vector = v, .dim = DIM, .k = (uint32_t)m->total_vectors + 5, .exact = true};
	vc_results r;
	char **ids, *out;
	size_t len = 1;

	vc_session_manifest_put(s, m);
	vec(3, v);
	assert_int_equal(vc_session_search(s, &q, &r), VC_OK);
	ids = calloc(r.count + 1, sizeof(*ids));
	for (size_t i = 0; i < r.count; i++) {
		ids[i] = r.hits[i].id;
		len += strlen(ids[i]) + 1;
	}
	qsort(ids, r.count, sizeof(*ids), compare_strings);
	out = calloc(1, len);
	for (size_t i = 0; i < r.count; i++) {
		strcat(out, ids[i]);
		strcat(out, ",");
	}
	free(ids);
	vc_results_free(&r);
	return out;
}

static void compact_keeps_live_set(vc_index_type index)
{
	fixture fx;
	vc_open_options opt = {.epoch_file = ""};
	vc_session *s;
	vc_txn *t;
	uint64_t epoch = 0, count;
	char *before, *after, id[32];
	float v[DIM];
	int found_before = 0, found_after = 0;

	create(&fx, 400, index);
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	for (int i = 0; i < 90; i++) {
		vec(20000 + (unsigned)i, v);
		snprintf(id, sizeof(id), "n%d", i);
		assert_int_equal(vc_txn_add(t, id, v, DIM, NULL), VC_OK);
	}
	json_t *f = json_pack("{s:i}", "g", 1);
	assert_int_equal(vc_txn_delete_matching(t, f, &count), VC_OK);
	json_decref(f);
	json_t *meta = json_pack("{s:s}", "state", "updated");
	assert_int_equal(vc_txn_update(t, "v3", meta), VC_OK);
	json_decref(meta);
	assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	/* the recent tier (graph or scan) finds what was just added, through the index path */
	int recent_found = 0;
	for (int i = 0; i < 90; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		recent_found += top_is(s, 20000 + (unsigned)i, id, false);
	}
	assert_true(recent_found >= 88);
	before = live_ids(s);
	for (unsigned i = 0; i < 400; i += 7) {
		snprintf(id, sizeof(id), "v%u", i);
		found_before += top_is(s, i, id, false);
	}
	assert_int_equal(vc_session_compact(s, &epoch), VC_OK);
	assert_int_equal(epoch, 3);
	const vc_manifest *m = vc_session_manifest_get(s);
	assert_int_equal(m->deleted_vectors, 0);
	assert_int_equal(m->recent_chunks, 0);
	assert_int_equal(m->total_vectors, 400 + 90 - count);
	assert_null(vc_manifest_find(m, "index/deleted-2.bin"));
	vc_record rec;
	assert_int_equal(vc_session_lookup(s, m, "v3", &rec), VC_OK);
	assert_string_equal(json_string_value(json_object_get(rec.metadata, "state")), "updated");
	vc_record_free(&rec);
	vc_session_manifest_put(s, m);
	after = live_ids(s);
	assert_string_equal(before, after);
	for (unsigned i = 0; i < 400; i += 7) {
		snprintf(id, sizeof(id), "v%u", i);
		found_after += top_is(s, i, id, false);
	}
	/* the rebuilt index finds (at least nearly) what the old one found */
	assert_true(found_after + 2 >= found_before);
	assert_true(top_is(s, 20005, "n5", false));
	assert_int_equal(vc_session_verify(s, NULL, NULL), VC_OK);
	free(before);
	free(after);
	vc_session_close(s);
	destroy(&fx);
}

static void test_compact_flat(void **state)
{
	(void)state;
	compact_keeps_live_set(VC_INDEX_FLAT);
}

static void test_compact_ivf(void **state)
{
	(void)state;
	compact_keeps_live_set(VC_INDEX_IVF);
}

static void test_compact_hnsw(void **state)
{
	(void)state;
	compact_keeps_live_set(VC_INDEX_HNSW);
}

static int count_files(const char *dir)
{
	char cmd[256];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls %s | wc -l", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static void test_gc(void **state)
{
	fixture fx;
	vc_open_options opt = {.epoch_file = ""};
	vc_session *s, *old_reader;
	const vc_manifest *old, *m;
	vc_txn *t;
	uint64_t removed = 99;
	char chunks[128], path[192];
	float v[DIM];
	FILE *f;

	(void)state;
	create(&fx, 200, VC_INDEX_IVF);
	snprintf(chunks, sizeof(chunks), "%s/chunks", fx.uri);
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	assert_int_equal(vc_session_open(fx.uri, &opt, &old_reader), VC_OK);
	old = vc_session_manifest_get(old_reader);
	assert_int_equal(vc_txn_begin(s, &t), VC_OK);
	assert_int_equal(vc_txn_delete(t, "v4"), VC_OK);
	vec(777, v);
	assert_int_equal(vc_txn_add(t, "x", v, DIM, NULL), VC_OK);
	assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	assert_int_equal(vc_session_compact(s, NULL), VC_OK);
	/* leftovers of a commit that died: recorded in its intent record */
	snprintf(path, sizeof(path), "%s/chunks/chunk-900.cbor", fx.uri);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("partial", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/manifests/pending-4.json", fx.uri);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"epoch\":4,\"time\":1,\"objects\":[\"chunks/chunk-900.cbor\"]}", f);
	fclose(f);
	/* within the grace period: only the dead commit's leftover goes */
	assert_int_equal(vc_session_gc(s, 3600, &removed), VC_OK);
	assert_int_equal(removed, 1);
	assert_int_equal(access(path, F_OK), -1);
	for (size_t c = 0; c < old->chunk_count; c++) {
		vc_cache_entry *e;

		assert_int_equal(vc_session_chunk_get(old_reader, old, c, &e), VC_OK);
		vc_session_chunk_release(old_reader, e);
	}
	vc_record rec;
	assert_int_equal(vc_session_lookup(old_reader, old, "v4", &rec), VC_OK);
	vc_record_free(&rec);
	vc_session_manifest_put(old_reader, old);
	vc_session_close(old_reader);
	/* no grace: everything only epochs 1 and 2 used goes, the current epoch stays whole */
	assert_int_equal(vc_session_gc(s, 0, &removed), VC_OK);
	assert_true(removed > 0);
	m = vc_session_manifest_get(s);
	assert_int_equal(count_files(chunks), (int)m->chunk_count);
	vc_session_manifest_put(s, m);
	assert_int_equal(vc_session_verify(s, NULL, NULL), VC_OK);
	assert_true(top_is(s, 777, "x", false));
	assert_int_equal(vc_session_gc(s, 0, &removed), VC_OK);
	assert_int_equal(removed, 0);
	vc_session_close(s);
	destroy(&fx);
}

/* A gc killed while removing history copies leaves gaps in manifests/: the next gc still
 * dates the epochs before a gap (by the next copy that exists) and collects them. */
static void test_gc_after_gap_in_history(void **state)
{
	fixture fx;
	vc_open_options opt = {.epoch_file = ""};
	vc_session *s;
	const vc_manifest *m;
	vc_txn *t;
	uint64_t removed;
	char chunks[128], path[192];
	float v[DIM];

	(void)state;
	create(&fx, 200, VC_INDEX_FLAT);
	snprintf(chunks, sizeof(chunks), "%s/chunks", fx.uri);
	assert_int_equal(vc_session_open(fx.uri, &opt, &s), VC_OK);
	for (uint32_t i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof(id), "n%u", i);
		vec(1000 + i, v);
		assert_int_equal(vc_txn_begin(s, &t), VC_OK);
		assert_int_equal(vc_txn_add(t, id, v, DIM, NULL), VC_OK);
		assert_int_equal(vc_txn_commit(t, NULL), VC_OK);
	}
	assert_int_equal(vc_session_compact(s, NULL), VC_OK);
	/* epochs 1-5 have copies; the one of epoch 2 is gone as an interrupted gc leaves it */
	snprintf(path, sizeof(path), "%s/manifests/epoch-2.json", fx.uri);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(vc_session_gc(s, 0, &removed), VC_OK);
	m = vc_session_manifest_get(s);
	assert_int_equal(count_files(chunks), (int)m->chunk_count);
	vc_session_manifest_put(s, m);
	snprintf(path, sizeof(path), "%s/manifests/epoch-1.json", fx.uri);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(vc_session_verify(s, NULL, NULL), VC_OK);
	assert_true(top_is(s, 1002, "n2", true));
	vc_session_close(s);
	destroy(&fx);
}

/* Writers starting at the same moment: exactly one gets the lock (atomic create on a dir). */
static void test_lock_race(void **state)
{
	fixture fx;
	vc_store *store;
	pid_t pids[6];
	int winners = 0;

	(void)state;
	create(&fx, 20, VC_INDEX_FLAT);
	assert_int_equal(vc_store_open(fx.uri, NULL, &store), VC_OK);
	assert_int_equal(vc_store_put_new(store, "probe", "a", 1), VC_OK);
	assert_int_equal(vc_store_put_new(store, "probe", "b", 1), VC_ERR_EXISTS);
	assert_int_equal(vc_store_remove(store, "probe"), VC_OK);
	vc_store_close(store);
	for (int i = 0; i < 6; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			vc_open_options opt = {.epoch_file = ""};
			vc_session *s;
			vc_txn *t;

			if (vc_session_open(fx.uri, &opt, &s) != VC_OK)
				_exit(2);
			/* the winner holds the lock until everyone has tried */
			_exit(vc_txn_begin(s, &t) == VC_OK ? (usleep(500000), 0) : 1);
		}
	}
	for (int i = 0; i < 6; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
		winners += WEXITSTATUS(status) == 0;
	}
	assert_int_equal(winners, 1);
	destroy(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flat),
	    cmocka_unit_test(test_ivf),
	    cmocka_unit_test(test_hnsw),
	    cmocka_unit_test(test_second_writer_and_old_reader),
	    cmocka_unit_test(test_rollback),
	    cmocka_unit_test(test_compact_flat),
	    cmocka_unit_test(test_compact_ivf),
	    cmocka_unit_test(test_compact_hnsw),
	    cmocka_unit_test(test_recent_graph_links_only),
	    cmocka_unit_test(test_recent_graph_recall),
	    cmocka_unit_test(test_small_commit_reads_little),
	    cmocka_unit_test(test_indexed_ids_skip_recent_tier),
	    cmocka_unit_test(test_gc),
	    cmocka_unit_test(test_gc_after_gap_in_history),
	    cmocka_unit_test(test_lock_race),
	    cmocka_unit_test(test_lock_of_zombie_broken),
	    cmocka_unit_test(test_failed_commit_keeps_epoch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
