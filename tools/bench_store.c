/*
 * Store benchmark: per-chunk fetch + decrypt + decode throughput of a session, in GB/s of
 * chunk plaintext per thread (min and median over runs). Used by tools/bench.d/store.sh.
 *
 *   bench_store SESSION KEYFILE [RUNS] [THREADS]
 *
 * Three figures: "session" (vc_session_chunk_get through a cache that holds one chunk, so
 * every get fetches, authenticates, decrypts and decodes), "fetch" (the stored bytes only)
 * and "decrypt+decode" (vc_chunk_open on bytes already in memory).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/chunk_codec.h"
#include "format/keyring.h"
#include "vchunk/vchunk.h"

typedef enum bench_kind { BENCH_SESSION, BENCH_FETCH, BENCH_DECODE } bench_kind;

typedef struct bench_ctx {
	vc_session *session;
	const vc_manifest *manifest;
	vc_keyring *keyring;
	vc_bytes *stored; /* every chunk's stored bytes, for BENCH_DECODE */
	bench_kind kind;
	size_t first; /* chunk this thread starts at, so threads do not share loads */
	double seconds;
	uint64_t plain_bytes;
	vc_err err;
} bench_ctx;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static vc_err one_chunk(bench_ctx *b, size_t i)
{
	const vc_manifest *m = b->manifest;
	vc_cache_entry *entry;
	vc_bytes raw = {0};
	vc_object_ctx ctx = {.keyring = b->keyring,
			     .session_id = m->session_id,
			     .kind = VC_OBJECT_CHUNK,
			     .path = m->chunks[i].object.path};
	vc_chunk *chunk = NULL;
	vc_err err;

	switch (b->kind) {
	case BENCH_SESSION:
		err = vc_session_chunk_get(b->session, m, i, &entry);
		if (err == VC_OK)
			vc_session_chunk_release(b->session, entry);
		return err;
	case BENCH_FETCH:
		err = vc_store_get(vc_session_store(b->session), m->chunks[i].object.path, &raw);
		vc_bytes_free(&raw);
		return err;
	case BENCH_DECODE:
		err = vc_chunk_open(&ctx, b->stored[i].data, b->stored[i].len, &chunk);
		vc_chunk_free(chunk);
		return err;
	}
	return VC_ERR_INVALID;
}

static void *bench_thread(void *arg)
{
	bench_ctx *b = arg;
	size_t n = b->manifest->chunk_count;
	double start = now();

	for (size_t j = 0; j < n && b->err == VC_OK; j++) {
		size_t i = (b->first + j) % n;

		b->err = one_chunk(b, i);
		b->plain_bytes += b->manifest->chunks[i].object.plain_size;
	}
	b->seconds = now() - start;
	return NULL;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Run @p runs rounds with @p threads threads; print min and median GB/s per thread. */
static int bench(bench_ctx *proto, const char *label, int runs, int threads)
{
	double *rates = calloc((size_t)(runs * threads), sizeof(double));
	bench_ctx *ctx = calloc((size_t)threads, sizeof(bench_ctx));
	pthread_t *tids = calloc((size_t)threads, sizeof(pthread_t));
	int count = 0;

	if (rates == NULL || ctx == NULL || tids == NULL) {
		fprintf(stderr, "bench_store: out of memory\n");
		return 1;
	}
	for (int r = 0; r < runs; r++) {
		for (int t = 0; t < threads; t++) {
			ctx[t] = *proto;
			ctx[t].first = proto->manifest->chunk_count * (size_t)t / (size_t)threads;
			pthread_create(&tids[t], NULL, bench_thread, &ctx[t]);
		}
		for (int t = 0; t < threads; t++) {
			pthread_join(tids[t], NULL);
			if (ctx[t].err != VC_OK) {
				fprintf(stderr, "bench_store: %s\n", vc_last_error());
				return 1;
			}
			rates[count++] = (double)ctx[t].plain_bytes / ctx[t].seconds / 1e9;
		}
	}
	qsort(rates, (size_t)count, sizeof(double), compare_double);
	printf("| %s | %d | %.2f | %.2f |\n", label, threads, rates[0], rates[count / 2]);
	free(tids);
	free(ctx);
	free(rates);
	return 0;
}

static vc_err load_stored(vc_session *session, const vc_manifest *m, vc_bytes **out)
{
	vc_bytes *stored = calloc(m->chunk_count, sizeof(vc_bytes));
	vc_err err = VC_OK;

	if (stored == NULL)
		return VC_ERR_NOMEM;
	for (size_t i = 0; i < m->chunk_count && err == VC_OK; i++)
		err = vc_store_get(vc_session_store(session), m->chunks[i].object.path, &stored[i]);
	*out = stored;
	return err;
}

int main(int argc, char **argv)
{
	vc_open_options options = {0};
	bench_ctx proto = {0};
	vc_session *session = NULL;
	uint64_t largest = 0;
	uint64_t total_plain = 0;
	int runs = argc > 3 ? atoi(argv[3]) : 5;
	int threads = argc > 4 ? atoi(argv[4]) : 2;
	int status = 1;

	if (argc < 3 || runs < 1 || threads < 1) {
		fprintf(stderr, "usage: bench_store SESSION KEYFILE [RUNS] [THREADS]\n");
		return 2;
	}
	options.key_file = argv[2];
	/* open once to size the cache to one chunk, then again with that budget */
	if (vc_session_open(argv[1], &options, &session) != VC_OK)
		goto fail;
	proto.manifest = vc_session_manifest_get(session);
	for (size_t i = 0; i < proto.manifest->chunk_count; i++) {
		total_plain += proto.manifest->chunks[i].object.plain_size;
		if (proto.manifest->chunks[i].object.plain_size > largest)
			largest = proto.manifest->chunks[i].object.plain_size;
	}
	vc_session_manifest_put(session, proto.manifest);
	vc_session_close(session);
	options.cache_bytes = (size_t)(largest + largest / 2);
	if (vc_session_open(argv[1], &options, &session) != VC_OK)
		goto fail;
	proto.session = session;
	proto.manifest = vc_session_manifest_get(session);
	if (proto.manifest->chunk_count < 2) {
		fprintf(stderr,
			"bench_store: need at least two chunks so a one-chunk cache misses\n");
		goto out;
	}
	if (vc_keyring_from_file(argv[2], &proto.keyring) != VC_OK ||
	    load_stored(session, proto.manifest, &proto.stored) != VC_OK)
		goto fail_manifest;
	printf("| figure | threads | min GB/s per thread | median GB/s per thread |\n");
	printf("|---|---|---|---|\n");
	for (int t = 1; t <= threads; t++) {
		proto.kind = BENCH_SESSION;
		if (bench(&proto, "fetch + decrypt + decode (vc_session_chunk_get, 1-chunk cache)",
			  runs, t) != 0)
			goto out;
		proto.kind = BENCH_DECODE;
		if (bench(&proto, "decrypt + decode (vc_chunk_open, bytes in memory)", runs, t) !=
		    0)
			goto out;
		proto.kind = BENCH_FETCH;
		if (bench(&proto, "fetch only (vc_store_get)", runs, t) != 0)
			goto out;
	}
	printf("\n%zu chunks, %llu vectors of dimension %u, %.1f MB of chunk plaintext per pass\n",
	       proto.manifest->chunk_count, (unsigned long long)proto.manifest->total_vectors,
	       proto.manifest->dim, (double)total_plain / 1e6);
	status = 0;
	goto out;

fail_manifest:
	fprintf(stderr, "bench_store: %s\n", vc_last_error());
out:
	if (proto.stored != NULL) {
		for (size_t i = 0; i < proto.manifest->chunk_count; i++)
			vc_bytes_free(&proto.stored[i]);
		free(proto.stored);
	}
	vc_keyring_free(proto.keyring);
	vc_session_manifest_put(session, proto.manifest);
	vc_session_close(session);
	return status;
fail:
	fprintf(stderr, "bench_store: %s\n", vc_last_error());
	vc_session_close(session);
	return 1;
}
