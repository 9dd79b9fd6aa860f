/* Tests for IVF sessions end to end: recall against a brute force computed here for every metric,
 * laziness (a cold query reads only its lists' frames), tampered frames, filters that still
 * return k, id lookup and the cache budget. */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "format/keyring.h"
#include "format/manifest_codec.h"
#include "index/ivf_dir.h"
#include "session/session_i.h"
#include "test_util.h"
#include "vchunk/vchunk.h"

#define DIM 16
#define COUNT 3000
#define CLUSTERS 40
#define NLIST 32
#define CHUNK_SIZE 500
#define K 10
#define QUERIES 30
#define TAGS 47 /* prime: every cluster holds rows of every tag */

typedef struct fixture {
	char dir[64];
	char uri[128];
	char key[128];
	float vectors[COUNT][DIM];
	float queries[QUERIES][DIM];
} fixture;

/* Clustered data: CLUSTERS random centres, points spread around them; queries likewise. */
static void make_data(fixture *fx)
{
	static float centres[CLUSTERS][DIM];
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	for (int c = 0; c < CLUSTERS; c++)
		for (int d = 0; d < DIM; d++)
			centres[c][d] = 4.0f * vc_test_xorshift_value(&seed);
	for (int i = 0; i < COUNT; i++)
		for (int d = 0; d < DIM; d++)
			fx->vectors[i][d] =
			    centres[i % CLUSTERS][d] + 2.0f * vc_test_xorshift_value(&seed);
	for (int q = 0; q < QUERIES; q++)
		for (int d = 0; d < DIM; d++)
			fx->queries[q][d] =
			    centres[(q * 7) % CLUSTERS][d] + 2.0f * vc_test_xorshift_value(&seed);
}

static void create_indexed(fixture *fx, vc_metric metric, vc_index_type index)
{
	vc_create_options create = {.key_file = fx->key,
				    .metric = metric,
				    .chunk_size = CHUNK_SIZE,
				    .index = index,
				    .nlist = NLIST};
	vc_writer *writer = NULL;
	char id[16];

	vc_test_remove_tree(fx->uri);
	assert_int_equal(vc_writer_create(fx->uri, &create, &writer), VC_OK);
	for (int i = 0; i < COUNT; i++) {
		json_t *meta = json_pack("{s:i, s:i}", "i", i, "tag", i % TAGS);

		snprintf(id, sizeof(id), "v%d", i);
		assert_int_equal(vc_writer_add(writer, id, fx->vectors[i], DIM, meta), VC_OK);
		json_decref(meta);
	}
	assert_int_equal(vc_writer_commit(writer), VC_OK);
}

static void create_session(fixture *fx, vc_metric metric)
{
	create_indexed(fx, metric, VC_INDEX_IVF);
}

static vc_session *open_session(const fixture *fx, size_t cache_bytes)
{
	vc_open_options options = {.key_file = fx->key, .cache_bytes = cache_bytes};
	vc_session *session = NULL;

	assert_int_equal(vc_session_open(fx->uri, &options, &session), VC_OK);
	return session;
}

static int setup(void **state)
{
	fixture *fx = calloc(1, sizeof(*fx));

	if (vc_test_session_dir("/tmp/vchunk-ivfs-XXXXXX", "s", fx->dir, fx->uri, fx->key) != 0)
		return -1;
	make_data(fx);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	fixture *fx = *state;

	vc_test_remove_tree(fx->dir);
	free(fx);
	return 0;
}

/* The ids of the exact top K of @p query (optionally only rows with tag @p tag), brute force. */
static void brute_force(const fixture *fx, const float *query, vc_metric metric, int tag,
			int out[K])
{
	double best[K];

	for (int j = 0; j < K; j++) {
		best[j] = -INFINITY;
		out[j] = -1;
	}
	for (int i = 0; i < COUNT; i++) {
		/* larger is better, in double precision */
		double s = vc_test_exact_score(metric, query, fx->vectors[i], DIM);
		int j = K - 1;

		if ((tag >= 0 && i % TAGS != tag) || s <= best[K - 1])
			continue;
		while (j > 0 && best[j - 1] < s) {
			best[j] = best[j - 1];
			out[j] = out[j - 1];
			j--;
		}
		best[j] = s;
		out[j] = i;
	}
}

static int hits_in_truth(const vc_results *r, const int truth[K])
{
	int found = 0;

	for (size_t h = 0; h < r->count; h++)
		for (int j = 0; j < K; j++)
			if (truth[j] >= 0 && atoi(r->hits[h].id + 1) == truth[j])
				found++;
	return found;
}

static void check_recall(fixture *fx, vc_metric metric)
{
	vc_session *session;
	double recall = 0;
	int exact_hits = 0;

	create_session(fx, metric);
	session = open_session(fx, 0);
	for (int q = 0; q < QUERIES; q++) {
		vc_query query = {.vector = fx->queries[q], .dim = DIM, .k = K};
		vc_results r;
		int truth[K];

		brute_force(fx, fx->queries[q], metric, -1, truth);
		assert_int_equal(vc_session_search(session, &query, &r), VC_OK);
		assert_int_equal(r.count, K);
		assert_true(r.stats.lists_probed >= 1 && r.stats.lists_probed <= NLIST);
		recall += hits_in_truth(&r, truth) / (double)K;
		vc_results_free(&r);
		query.nprobe = NLIST;
		assert_int_equal(vc_session_search(session, &query, &r), VC_OK);
		assert_int_equal(r.stats.lists_probed, NLIST);
		exact_hits += hits_in_truth(&r, truth) == K;
		vc_results_free(&r);
	}
	recall /= QUERIES;
	print_message("%s: recall@10 at the default nprobe %.3f\n", vc_metric_name(metric), recall);
	assert_true(recall >= 0.9);
	assert_int_equal(exact_hits, QUERIES);
	vc_session_close(session);
}

static void test_recall_cosine(void **state)
{
	check_recall(*state, VC_METRIC_COSINE);
}

static void test_recall_l2(void **state)
{
	check_recall(*state, VC_METRIC_L2);
}

static void test_recall_dot(void **state)
{
	check_recall(*state, VC_METRIC_DOT);
}

/* The list vc_ivf_probe ranks first for @p query, and its frames' bytes from the directory. */
static uint32_t first_list(vc_session *session, const vc_manifest *m, const float *query,
			   uint64_t *bytes, uint64_t *frames)
{
	const vc_ivf_dir *dir;
	vc_scored best;
	size_t count;
	uint32_t list;

	assert_int_equal(vc_session_ivf_dir(session, m, &dir), VC_OK);
	vc_ivf_probe(dir->ivf, query, 1, &best, &count);
	assert_int_equal(count, 1);
	list = (uint32_t)best.key;
	*bytes = 0;
	*frames = 0;
	for (uint64_t g = dir->first[list]; g < dir->first[list + 1]; g++) {
		*bytes += dir->segments[g].sealed_len;
		*frames += dir->segments[g].rows > 0;
	}
	return list;
}

static void test_cold_query_reads_only_its_list(void **state)
{
	fixture *fx = *state;
	vc_session *session;
	const vc_manifest *m;
	uint64_t bytes, frames, session_bytes = 0;
	vc_query query = {.vector = fx->queries[0], .dim = DIM, .k = K, .nprobe = 1};
	vc_results r;

	create_session(fx, VC_METRIC_L2);
	session = open_session(fx, 0);
	m = vc_session_manifest_get(session);
	assert_int_equal(m->index.kind, VC_INDEX_KIND_IVF);
	assert_int_equal(m->index.nlist, NLIST);
	assert_true(m->index.nprobe >= 1 && m->index.nprobe <= NLIST);
	for (size_t c = 0; c < m->chunk_count; c++)
		session_bytes += m->chunks[c].object.byte_size;
	first_list(session, m, fx->queries[0], &bytes, &frames);
	assert_int_equal(vc_session_search(session, &query, &r), VC_OK);
	assert_int_equal(r.stats.lists_probed, 1);
	assert_int_equal(r.stats.frames_read, frames);
	assert_int_equal(r.stats.chunks_read, frames);
	assert_int_equal(r.stats.bytes_read, bytes);
	assert_true(r.stats.bytes_read * 8 < session_bytes);
	vc_results_free(&r);
	/* The same query again is answered from the cache. */
	assert_int_equal(vc_session_search(session, &query, &r), VC_OK);
	assert_int_equal(r.stats.bytes_read, 0);
	assert_true(r.stats.cache_hits >= frames);
	vc_results_free(&r);
	vc_session_manifest_put(session, m);
	vc_session_close(session);
}

/* Flip one byte inside the first frame of list @p list; returns its chunk index and frame. */
static void tamper_list(const fixture *fx, const vc_manifest *m, const vc_ivf_dir *dir,
			uint32_t list, uint32_t *chunk, uint32_t *frame)
{
	const vc_ivf_segment *seg = &dir->segments[dir->first[list]];
	char path[256];
	uint8_t byte;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fx->uri, m->chunks[seg->chunk_index].object.path);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &byte, 1, (off_t)(seg->offset + seg->sealed_len / 2)), 1);
	byte ^= 0x40;
	assert_int_equal(pwrite(fd, &byte, 1, (off_t)(seg->offset + seg->sealed_len / 2)), 1);
	close(fd);
	*chunk = seg->chunk_index;
	*frame = seg->frame_index;
}

static void test_tampered_frame_fails_only_its_queries(void **state)
{
	fixture *fx = *state;
	vc_session *session;
	const vc_manifest *m;
	const vc_ivf_dir *dir;
	uint64_t bytes, frames;
	uint32_t bad, chunk, frame;
	int failed = 0, answered = 0;
	char want[96];

	create_session(fx, VC_METRIC_L2);
	session = open_session(fx, 0);
	m = vc_session_manifest_get(session);
	bad = first_list(session, m, fx->queries[0], &bytes, &frames);
	assert_int_equal(vc_session_ivf_dir(session, m, &dir), VC_OK);
	tamper_list(fx, m, dir, bad, &chunk, &frame);
	snprintf(want, sizeof(want), "%s: frame %u of", m->chunks[chunk].object.path, frame);
	for (int q = 0; q < QUERIES; q++) {
		vc_query query = {.vector = fx->queries[q], .dim = DIM, .k = 1, .nprobe = 1};
		uint64_t b, f;
		vc_results r;
		vc_err err = vc_session_search(session, &query, &r);

		if (first_list(session, m, fx->queries[q], &b, &f) == bad) {
			assert_int_equal(err, VC_ERR_AUTH);
			assert_non_null(strstr(vc_last_error(), want));
			failed++;
		} else {
			assert_int_equal(err, VC_OK);
			answered++;
		}
		vc_results_free(&r);
	}
	assert_true(failed >= 1);
	assert_true(answered >= 1);
	vc_session_manifest_put(session, m);
	vc_session_close(session);
}

static void test_filter_returns_k(void **state)
{
	fixture *fx = *state;
	vc_session *session;

	create_session(fx, VC_METRIC_COSINE);
	session = open_session(fx, 0);
	for (int q = 0; q < 5; q++) {
		int tag = (q * 13) % TAGS;
		json_t *filter = json_pack("{s:i}", "tag", tag);
		vc_query query = {
		    .vector = fx->queries[q], .dim = DIM, .k = K, .nprobe = 1, .filter = filter};
		vc_results r;
		int truth[K];

		/* COUNT / TAGS = 63 rows match, spread over every list: one list cannot hold
		 * k of them, so the search must widen its probe. */
		brute_force(fx, fx->queries[q], VC_METRIC_COSINE, tag, truth);
		assert_int_equal(vc_session_search(session, &query, &r), VC_OK);
		assert_int_equal(r.count, K);
		assert_true(r.stats.lists_probed > 1);
		for (size_t h = 0; h < r.count; h++)
			assert_int_equal(
			    json_integer_value(json_object_get(r.hits[h].metadata, "tag")), tag);
		assert_true(hits_in_truth(&r, truth) >= K / 2);
		vc_results_free(&r);
		json_decref(filter);
	}
	vc_session_close(session);
}

static void test_lookup_every_id(void **state)
{
	fixture *fx = *state;
	vc_session *session;
	const vc_manifest *m;
	vc_record rec;
	char id[16];

	create_session(fx, VC_METRIC_DOT);
	session = open_session(fx, 0);
	m = vc_session_manifest_get(session);
	assert_true(m->index.id_shards >= 1);
	for (int i = 0; i < COUNT; i++) {
		snprintf(id, sizeof(id), "v%d", i);
		assert_int_equal(vc_session_lookup(session, m, id, &rec), VC_OK);
		assert_string_equal(rec.id, id);
		assert_int_equal(rec.dim, DIM);
		assert_memory_equal(rec.vector, fx->vectors[i], sizeof(fx->vectors[i]));
		assert_int_equal(json_integer_value(json_object_get(rec.metadata, "i")), i);
		vc_record_free(&rec);
	}
	assert_int_equal(vc_session_lookup(session, m, "v3000", &rec), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_session_lookup(session, m, "nope", &rec), VC_ERR_NOT_FOUND);
	vc_session_manifest_put(session, m);
	vc_session_close(session);
}

static void test_cache_budget_and_bad_queries(void **state)
{
	fixture *fx = *state;
	const size_t budget = 64 * 1024;
	vc_session_stats stats;
	vc_session *session;
	float wrong[DIM + 1] = {0};

	create_session(fx, VC_METRIC_L2);
	session = open_session(fx, budget);
	for (int q = 0; q < QUERIES; q++) {
		vc_query query = {.vector = fx->queries[q], .dim = DIM, .k = K, .nprobe = 8};
		vc_results r;

		assert_int_equal(vc_session_search(session, &query, &r), VC_OK);
		assert_int_equal(r.count, K);
		vc_results_free(&r);
		vc_session_get_stats(session, &stats);
		assert_true(stats.cache.bytes_resident <= budget);
	}
	assert_true(stats.cache.evictions > 0);
	{
		vc_query query = {.vector = wrong, .dim = DIM + 1, .k = K};
		vc_results r;

		assert_int_equal(vc_session_search(session, &query, &r), VC_ERR_INVALID);
	}
	assert_int_equal(vc_session_verify(session, NULL, NULL), VC_OK);
	vc_session_close(session);
}

/*
 * Half of the rows in one tight cluster: without splitting, one list would hold half the session.
 * The default nlist is then refined until no list dwarfs the others, and search stays exact at
 * nprobe = nlist.
 */
static void test_large_lists_are_split(void **state)
{
	fixture *fx = *state;
	vc_create_options create = {
	    .key_file = fx->key, .metric = VC_METRIC_L2, .index = VC_INDEX_IVF};
	uint64_t largest = 0, default_nlist = (uint64_t)sqrt((double)COUNT);
	vc_writer *writer = NULL;
	const vc_ivf_dir *dir;
	vc_session *session;
	const vc_manifest *m;
	uint64_t seed = 7;
	char id[16];

	for (int i = 0; i < COUNT; i += 2)
		for (int d = 0; d < DIM; d++)
			fx->vectors[i][d] = 10.0f + 0.5f * vc_test_xorshift_value(&seed);
	vc_test_remove_tree(fx->uri);
	assert_int_equal(vc_writer_create(fx->uri, &create, &writer), VC_OK);
	for (int i = 0; i < COUNT; i++) {
		snprintf(id, sizeof(id), "v%d", i);
		assert_int_equal(vc_writer_add(writer, id, fx->vectors[i], DIM, NULL), VC_OK);
	}
	assert_int_equal(vc_writer_commit(writer), VC_OK);
	session = open_session(fx, 0);
	m = vc_session_manifest_get(session);
	assert_true(m->index.nlist > default_nlist);
	assert_int_equal(vc_session_ivf_dir(session, m, &dir), VC_OK);
	for (uint32_t l = 0; l < dir->nlist; l++) {
		uint64_t rows = 0;

		for (uint64_t g = dir->first[l]; g < dir->first[l + 1]; g++)
			rows += dir->segments[g].rows;
		largest = rows > largest ? rows : largest;
	}
	print_message("largest list %llu of %d rows, %u lists\n", (unsigned long long)largest,
		      COUNT, dir->nlist);
	assert_true(largest < COUNT / 8);
	for (int q = 0; q < 5; q++) {
		vc_query query = {
		    .vector = fx->vectors[q * 101], .dim = DIM, .k = K, .nprobe = dir->nlist};
		vc_results r;
		int truth[K];

		brute_force(fx, fx->vectors[q * 101], VC_METRIC_L2, -1, truth);
		assert_int_equal(vc_session_search(session, &query, &r), VC_OK);
		assert_int_equal(hits_in_truth(&r, truth), K);
		vc_results_free(&r);
	}
	vc_session_manifest_put(session, m);
	vc_session_close(session);
	make_data(fx);
}

/* Reports of one verify run: does any message contain @p want? */
typedef struct verify_seen {
	const char *want;
	int problems;
	int matched;
} verify_seen;

static void on_problem(void *ctx, const char *path, vc_err err, const char *message)
{
	verify_seen *seen = ctx;

	(void)path;
	(void)err;
	seen->problems++;
	seen->matched += strstr(message, seen->want) != NULL;
}

/*
 * Re-seal index/ivf.bin with segment 0 shifted by one byte (still inside its chunk, so loading
 * accepts it) and re-MAC the manifest with the key, as a buggy writer holding the key could: the
 * objects authenticate, and only verify's cross-check against the chunks can notice.
 */
static void rewrite_directory(const fixture *fx, vc_session *session, const vc_manifest *m)
{
	vc_object_ctx octx = {.session_id = m->session_id, .kind = 3, .path = "index/ivf.bin"};
	vc_bytes plain, sealed = {0}, json = {0}, serial = {0};
	vc_manifest *next = NULL;
	vc_ivf_dir *dir = NULL;
	vc_keyring *keyring = NULL;
	vc_object_ref *ref = NULL;

	assert_int_equal(vc_session_read_object(session, m, "index/ivf.bin", &plain), VC_OK);
	assert_int_equal(vc_ivf_dir_deserialize(plain.data, plain.len, &dir), VC_OK);
	dir->segments[0].offset += 1;
	assert_int_equal(vc_ivf_dir_serialize(dir, &serial), VC_OK);
	assert_int_equal(vc_keyring_from_file(fx->key, &keyring), VC_OK);
	octx.keyring = keyring;
	assert_int_equal(vc_envelope_seal(&octx, 1, &serial, &sealed), VC_OK);
	assert_int_equal(
	    vc_store_put(vc_session_store(session), "index/ivf.bin", sealed.data, sealed.len),
	    VC_OK);
	assert_int_equal(vc_manifest_clone(m, &next), VC_OK);
	for (size_t i = 0; i < next->object_count; i++)
		if (strcmp(next->objects[i].path, "index/ivf.bin") == 0)
			ref = &next->objects[i];
	assert_non_null(ref);
	ref->byte_size = sealed.len;
	ref->plain_size = serial.len;
	assert_int_equal(vc_hash_object(sealed.data, sealed.len, ref->hash), VC_OK);
	assert_int_equal(vc_envelope_header_hash(sealed.data, sealed.len, ref->header_hash), VC_OK);
	next->epoch++;
	assert_int_equal(vc_manifest_serialize(next, keyring, &json), VC_OK);
	assert_int_equal(
	    vc_store_put(vc_session_store(session), "manifest.json", json.data, json.len), VC_OK);
	vc_manifest_free(next);
	vc_keyring_free(keyring);
	vc_ivf_dir_free(dir);
	vc_bytes_free(&plain);
	vc_bytes_free(&serial);
	vc_bytes_free(&sealed);
	vc_bytes_free(&json);
}

static void test_verify_checks_the_directory(void **state)
{
	fixture *fx = *state;
	verify_seen seen = {.want = "does not match the frame"};
	vc_session *session;
	const vc_manifest *m;
	bool changed = false;

	create_session(fx, VC_METRIC_L2);
	session = open_session(fx, 0);
	assert_int_equal(vc_session_verify(session, NULL, NULL), VC_OK);
	m = vc_session_manifest_get(session);
	rewrite_directory(fx, session, m);
	vc_session_manifest_put(session, m);
	assert_int_equal(vc_session_refresh(session, &changed), VC_OK);
	assert_true(changed);
	assert_int_not_equal(vc_session_verify(session, on_problem, &seen), VC_OK);
	assert_int_equal(seen.problems, 1);
	assert_int_equal(seen.matched, 1);
	vc_session_close(session);
}

/* An HNSW session: recall at the calibrated ef, filters still giving k, lookup, verify. */
static void test_hnsw_session(void **state)
{
	fixture *fx = *state;
	vc_session *session;
	const vc_manifest *m;
	double recall = 0;
	vc_record rec;

	create_indexed(fx, VC_METRIC_COSINE, VC_INDEX_HNSW);
	session = open_session(fx, 0);
	m = vc_session_manifest_get(session);
	assert_int_equal(m->index.kind, VC_INDEX_KIND_HNSW);
	assert_true(m->index.ef_search >= 16);
	for (int q = 0; q < QUERIES; q++) {
		json_t *filter = json_pack("{s:i}", "tag", q % TAGS);
		vc_query query = {.vector = fx->queries[q], .dim = DIM, .k = K};
		vc_results r;
		int truth[K];

		brute_force(fx, fx->queries[q], VC_METRIC_COSINE, -1, truth);
		assert_int_equal(vc_session_search(session, &query, &r), VC_OK);
		assert_int_equal(r.count, K);
		recall += hits_in_truth(&r, truth) / (double)K;
		vc_results_free(&r);
		query.filter = filter;
		assert_int_equal(vc_session_search(session, &query, &r), VC_OK);
		assert_int_equal(r.count, K);
		for (size_t h = 0; h < r.count; h++)
			assert_int_equal(
			    json_integer_value(json_object_get(r.hits[h].metadata, "tag")),
			    q % TAGS);
		vc_results_free(&r);
		json_decref(filter);
	}
	recall /= QUERIES;
	print_message("hnsw cosine: recall@10 at the default ef %u: %.3f\n", m->index.ef_search,
		      recall);
	assert_true(recall >= 0.9);
	assert_int_equal(vc_session_lookup(session, m, "v1234", &rec), VC_OK);
	assert_memory_equal(rec.vector, fx->vectors[1234], sizeof(fx->vectors[1234]));
	vc_record_free(&rec);
	assert_int_equal(vc_session_verify(session, NULL, NULL), VC_OK);
	vc_session_manifest_put(session, m);
	vc_session_close(session);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recall_cosine),
	    cmocka_unit_test(test_recall_l2),
	    cmocka_unit_test(test_recall_dot),
	    cmocka_unit_test(test_cold_query_reads_only_its_list),
	    cmocka_unit_test(test_tampered_frame_fails_only_its_queries),
	    cmocka_unit_test(test_filter_returns_k),
	    cmocka_unit_test(test_lookup_every_id),
	    cmocka_unit_test(test_cache_budget_and_bad_queries),
	    cmocka_unit_test(test_hnsw_session),
	    cmocka_unit_test(test_verify_checks_the_directory),
	    cmocka_unit_test(test_large_lists_are_split),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
