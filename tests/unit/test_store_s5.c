/* Tests for the S5 backend against a real nginx (WebDAV) on 127.0.0.1, started through
 * tests/integration/nginx.sh; misbehaving peers are in test_store_s5_edge.c. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "vchunk/store.h"

typedef struct server {
	char dir[64];
	char url[128];
} server;

static server main_server;

/* Run "nginx.sh CMD DIR [owner]"; for start, read the URL it prints. 0 on success. */
static int nginx_script(const char *cmd, server *s)
{
	const char *script = getenv("VCHUNK_TEST_NGINX");
	char line[512];
	FILE *p;
	int status;

	if (script == NULL || access(script, X_OK) != 0) {
		fprintf(stderr, "VCHUNK_TEST_NGINX (%s) does not name the nginx.sh harness\n",
			script != NULL ? script : "unset");
		return -1;
	}
	snprintf(line, sizeof(line), "'%s' %s '%s' %ld", script, cmd, s->dir, (long)getpid());
	p = popen(line, "r");
	if (p == NULL)
		return -1;
	line[0] = '\0';
	if (fgets(line, sizeof(line), p) == NULL)
		line[0] = '\0';
	status = pclose(p);
	if (status != 0) {
		fprintf(stderr, "nginx.sh %s %s failed (status %d)\n", cmd, s->dir, status);
		return -1;
	}
	if (strcmp(cmd, "start") == 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "http://127.0.0.1:", 17) != 0)
			return -1;
		snprintf(s->url, sizeof(s->url), "%s", line);
	}
	return 0;
}

static int server_start(server *s)
{
	strcpy(s->dir, "/tmp/vc-s5-XXXXXX");
	if (mkdtemp(s->dir) == NULL)
		return -1;
	return nginx_script("start", s);
}

static void server_remove(server *s)
{
	char cmd[128];

	nginx_script("stop", s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", s->dir);
}

static int group_setup(void **state)
{
	(void)state;
	unsetenv("VCHUNK_FAULT");
	return server_start(&main_server);
}

static int group_teardown(void **state)
{
	(void)state;
	server_remove(&main_server);
	return 0;
}

static vc_store *open_session(const char *session, const vc_store_options *options)
{
	return vc_test_open_s5(main_server.url, session, options);
}

/* What nginx holds on disk for an object: the bytes really crossed the wire. */
static void assert_on_disk(const char *session, const char *path, const void *data, size_t len)
{
	char file[512];
	struct stat st;
	uint8_t *buf;
	FILE *f;

	snprintf(file, sizeof(file), "%s/data/%s/%s", main_server.dir, session, path);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal((size_t)st.st_size, len);
	f = fopen(file, "rb");
	assert_non_null(f);
	buf = malloc(len + 1);
	assert_int_equal(fread(buf, 1, len, f), len);
	fclose(f);
	assert_memory_equal(buf, data, len);
	free(buf);
}

static void test_round_trip(void **state)
{
	vc_store *store = open_session("rt/session", NULL);
	vc_store_stats stats;
	vc_bytes out = {0};
	uint64_t size = 0;
	size_t big_len = 3 * 1024 * 1024 + 17;
	uint8_t *big = malloc(big_len);
	size_t i;

	(void)state;
	assert_non_null(big);
	for (i = 0; i < big_len; i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	assert_int_equal(vc_store_health(store), VC_OK);
	assert_int_equal(vc_store_put(store, "manifest.json", "{\"epoch\":1}", 11), VC_OK);
	assert_on_disk("rt/session", "manifest.json", "{\"epoch\":1}", 11);
	assert_int_equal(vc_store_get(store, "manifest.json", &out), VC_OK);
	vc_test_assert_bytes(&out, "{\"epoch\":1}", 11);
	vc_bytes_free(&out);
	assert_int_equal(vc_store_head(store, "manifest.json", &size), VC_OK);
	assert_int_equal(size, 11);

	assert_int_equal(vc_store_put(store, "chunks/deep/chunk-0.cbor", big, big_len), VC_OK);
	assert_on_disk("rt/session", "chunks/deep/chunk-0.cbor", big, big_len);
	assert_int_equal(vc_store_get(store, "chunks/deep/chunk-0.cbor", &out), VC_OK);
	vc_test_assert_bytes(&out, big, big_len);
	vc_bytes_free(&out);

	assert_int_equal(vc_store_put(store, "empty", NULL, 0), VC_OK);
	assert_int_equal(vc_store_get(store, "empty", &out), VC_OK);
	assert_int_equal(out.len, 0);

	assert_int_equal(vc_store_remove(store, "manifest.json"), VC_OK);
	assert_int_equal(vc_store_get(store, "manifest.json", &out), VC_ERR_NOT_FOUND);
	assert_non_null(strstr(vc_last_error(), "/s5/fs/rt/session/manifest.json"));
	assert_non_null(strstr(vc_last_error(), "404"));
	assert_int_equal(vc_store_head(store, "manifest.json", &size), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_store_remove(store, "manifest.json"), VC_ERR_NOT_FOUND);

	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.bytes_written, 11 + big_len);
	assert_int_equal(stats.bytes_read, 11 + big_len);
	assert_int_equal(stats.retries, 0); /* 404s are final */
	assert_int_equal(stats.errors, 3);
	free(big);
	vc_store_close(store);
}

static void test_ranges(void **state)
{
	vc_store *store = open_session("ranges", NULL);
	vc_bytes out = {0};

	(void)state;
	assert_int_equal(vc_store_put(store, "obj", "0123456789", 10), VC_OK);
	assert_int_equal(vc_store_get_range(store, "obj", 2, 3, &out), VC_OK);
	vc_test_assert_bytes(&out, "234", 3);
	vc_bytes_free(&out);
	assert_int_equal(vc_store_get_range(store, "obj", 7, VC_STORE_TO_END, &out), VC_OK);
	vc_test_assert_bytes(&out, "789", 3);
	vc_bytes_free(&out);
	assert_int_equal(vc_store_get_range(store, "obj", 8, 100, &out), VC_OK);
	vc_test_assert_bytes(&out, "89", 2);
	vc_bytes_free(&out);
	/* Past the end: nginx answers 416, the store an empty buffer. */
	assert_int_equal(vc_store_get_range(store, "obj", 10, 5, &out), VC_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(vc_store_get_range(store, "obj", 0, 0, &out), VC_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(vc_store_get_range(store, "missing", 0, 0, &out), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_store_get_range(store, "missing", 3, 4, &out), VC_ERR_NOT_FOUND);
	vc_store_close(store);
}

static void test_escaping(void **state)
{
	vc_store *store = open_session("esc", NULL);
	const char *path = "odd names/a b+c%d&e?f#g.bin";
	vc_bytes out = {0};

	(void)state;
	assert_int_equal(vc_store_put(store, path, "odd", 3), VC_OK);
	assert_on_disk("esc", path, "odd", 3);
	assert_int_equal(vc_store_get(store, path, &out), VC_OK);
	vc_test_assert_bytes(&out, "odd", 3);
	vc_bytes_free(&out);
	vc_store_close(store);
}

static void test_forbidden(void **state)
{
	vc_store *store = open_session("forbidden", NULL);
	vc_store_stats stats;
	vc_bytes out = {0};

	(void)state;
	assert_int_equal(vc_store_get(store, "x", &out), VC_ERR_PERMISSION);
	assert_non_null(strstr(vc_last_error(), "403"));
	assert_non_null(strstr(vc_last_error(), "/s5/fs/forbidden/x"));
	assert_int_equal(vc_store_put(store, "x", "y", 1), VC_ERR_PERMISSION);
	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.retries, 0);
	vc_store_close(store);
}

static void test_503_retried(void **state)
{
	vc_store_options o = {.retries = 3, .retry_base_ms = 5};
	vc_store *store = open_session("always503", &o);
	vc_store_stats stats;
	vc_bytes out = {0};

	(void)state;
	assert_int_equal(vc_store_get(store, "x", &out), VC_ERR_UNAVAILABLE);
	assert_non_null(strstr(vc_last_error(), "503"));
	assert_non_null(strstr(vc_last_error(), "after 4 tries"));
	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.retries, 3);
	assert_int_equal(stats.errors, 1);
	vc_store_close(store);

	o.retries = -1;
	store = open_session("always503", &o);
	assert_int_equal(vc_store_put(store, "x", "y", 1), VC_ERR_UNAVAILABLE);
	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.retries, 0);
	vc_store_close(store);
}

/* Injected 503s and cut bodies go through the real retry path: every read still succeeds. */
static void test_injected_faults_retried(void **state)
{
	vc_fault_options fault = {.error_rate = 0.3, .truncate_rate = 0.1, .seed = 42};
	vc_store_options o = {.retries = 10, .retry_base_ms = 1, .fault = &fault};
	const char *paths[20];
	char names[20][16];
	vc_bytes outs[20] = {{0}};
	vc_err errors[20];
	vc_store_stats stats;
	vc_store *store = open_session("faulty", &o);
	vc_bytes out = {0};
	char body[4096];
	int i;

	(void)state;
	memset(body, 'f', sizeof(body));
	for (i = 0; i < 20; i++) {
		snprintf(names[i], sizeof(names[i]), "obj-%d", i);
		body[0] = (char)('a' + i);
		assert_int_equal(vc_store_put(store, names[i], body, sizeof(body)), VC_OK);
		paths[i] = names[i];
	}
	for (i = 0; i < 20; i++) {
		body[0] = (char)('a' + i);
		assert_int_equal(vc_store_get(store, names[i], &out), VC_OK);
		vc_test_assert_bytes(&out, body, sizeof(body));
		vc_bytes_free(&out);
	}
	assert_int_equal(vc_store_get_many(store, 20, paths, outs, errors), VC_OK);
	for (i = 0; i < 20; i++) {
		body[0] = (char)('a' + i);
		assert_int_equal(errors[i], VC_OK);
		vc_test_assert_bytes(&outs[i], body, sizeof(body));
		vc_bytes_free(&outs[i]);
	}
	vc_store_get_stats(store, &stats);
	/* 60 operations at a 30 % error rate cannot all pass on the first try. */
	assert_true(stats.retries >= 5);
	assert_int_equal(stats.errors, 0);
	vc_store_close(store);

	/* Without retries the same faults surface as a clear error. */
	o.retries = -1;
	fault.error_rate = 1.0;
	store = open_session("faulty", &o);
	assert_int_equal(vc_store_get(store, names[0], &out), VC_ERR_UNAVAILABLE);
	assert_non_null(strstr(vc_last_error(), "503"));
	vc_store_close(store);
}

static void test_get_many(void **state)
{
	vc_store_options o = {.parallel = 4};
	vc_store *store = open_session("many", &o);
	char names[20][32];
	char bodies[20][64];
	const char *paths[20];
	vc_bytes outs[20];
	vc_err errors[20];
	vc_store_stats stats;
	int i;

	(void)state;
	for (i = 0; i < 20; i++) {
		snprintf(names[i], sizeof(names[i]), "chunks/chunk-%d.cbor", i);
		snprintf(bodies[i], sizeof(bodies[i]), "body of chunk %d %.*s", i, i,
			 "xxxxxxxxxxxxxxxxxxxxxx");
		paths[i] = names[i];
		assert_int_equal(vc_store_put(store, names[i], bodies[i], strlen(bodies[i])),
				 VC_OK);
	}
	assert_int_equal(vc_store_get_many(store, 20, paths, outs, errors), VC_OK);
	for (i = 0; i < 20; i++) {
		assert_int_equal(errors[i], VC_OK);
		vc_test_assert_bytes(&outs[i], bodies[i], strlen(bodies[i]));
		vc_bytes_free(&outs[i]);
	}
	/* One missing object fails alone; the message names it. */
	paths[13] = "chunks/chunk-missing.cbor";
	assert_int_equal(vc_store_get_many(store, 20, paths, outs, errors), VC_ERR_NOT_FOUND);
	assert_non_null(strstr(vc_last_error(), "chunk-missing"));
	for (i = 0; i < 20; i++) {
		if (i == 13) {
			assert_int_equal(errors[i], VC_ERR_NOT_FOUND);
			assert_null(outs[i].data);
			continue;
		}
		assert_int_equal(errors[i], VC_OK);
		vc_test_assert_bytes(&outs[i], bodies[i], strlen(bodies[i]));
		vc_bytes_free(&outs[i]);
	}
	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.requests, 60);
	assert_int_equal(stats.errors, 1);
	vc_store_close(store);
}

static void test_get_many_retries_each(void **state)
{
	vc_store_options o = {.parallel = 3, .retries = 2, .retry_base_ms = 5};
	vc_store *store = open_session("always503", &o);
	const char *paths[5] = {"a", "b", "c", "d", "e"};
	vc_bytes outs[5];
	vc_err errors[5];
	vc_store_stats stats;
	int i;

	(void)state;
	assert_int_equal(vc_store_get_many(store, 5, paths, outs, errors), VC_ERR_UNAVAILABLE);
	assert_non_null(strstr(vc_last_error(), "/s5/fs/always503/a"));
	for (i = 0; i < 5; i++)
		assert_int_equal(errors[i], VC_ERR_UNAVAILABLE);
	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.retries, 10);
	vc_store_close(store);
}

static void test_restart(void **state)
{
	vc_store_options o = {
	    .retries = 2, .retry_base_ms = 10, .connect_timeout_ms = 1000, .timeout_ms = 3000};
	server own;
	vc_store *store;
	vc_bytes out = {0};
	uint64_t start;

	(void)state;
	assert_int_equal(server_start(&own), 0);
	store = vc_test_open_s5(own.url, "restart", &o);
	assert_int_equal(vc_store_put(store, "kept", "before", 6), VC_OK);
	assert_int_equal(vc_store_get(store, "kept", &out), VC_OK);
	vc_bytes_free(&out);

	assert_int_equal(nginx_script("stop", &own), 0);
	start = vc_test_now_ms();
	assert_int_equal(vc_store_get(store, "kept", &out), VC_ERR_UNAVAILABLE);
	assert_int_equal(vc_store_health(store), VC_ERR_UNAVAILABLE);
	assert_true(vc_test_now_ms() - start < 10000);

	/* Same directory, same port: the same handle works again. */
	assert_int_equal(nginx_script("start", &own), 0);
	assert_int_equal(vc_store_health(store), VC_OK);
	assert_int_equal(vc_store_get(store, "kept", &out), VC_OK);
	vc_test_assert_bytes(&out, "before", 6);
	vc_bytes_free(&out);
	vc_store_close(store);
	server_remove(&own);
}

/* Connections nginx has accepted so far (stub_status: "accepts handled requests"). */
static long accepted_connections(void)
{
	char cmd[256];
	char line[256];
	long accepts = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "curl -sf '%s/nginx_status'", main_server.url);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		long handled;
		long requests;

		if (sscanf(line, " %ld %ld %ld", &accepts, &handled, &requests) == 3)
			break;
		accepts = -1;
	}
	assert_int_equal(pclose(p), 0);
	assert_true(accepts >= 0);
	return accepts;
}

static void test_connection_reuse(void **state)
{
	vc_store *store = open_session("reuse", NULL);
	vc_bytes out = {0};
	long before;
	long after;
	int i;

	(void)state;
	assert_int_equal(vc_store_put(store, "obj", "reused", 6), VC_OK);
	before = accepted_connections();
	for (i = 0; i < 50; i++) {
		assert_int_equal(vc_store_get(store, "obj", &out), VC_OK);
		vc_test_assert_bytes(&out, "reused", 6);
		vc_bytes_free(&out);
	}
	after = accepted_connections();
	/* 50 requests over keep-alive: no new connection (the status probe itself takes one). */
	assert_true(after - before <= 2);
	vc_store_close(store);
}

typedef struct worker {
	vc_store *store;
	int id;
	int failures;
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	char path[64];
	char body[96];
	int i;

	for (i = 0; i < 25; i++) {
		vc_bytes out = {0};
		uint64_t size = 0;
		size_t len;

		snprintf(path, sizeof(path), "t%d/obj-%d", w->id, i);
		len = (size_t)snprintf(body, sizeof(body), "thread %d object %d", w->id, i * 7919);
		if (vc_store_put(w->store, path, body, len) != VC_OK ||
		    vc_store_get(w->store, path, &out) != VC_OK || out.len != len ||
		    memcmp(out.data, body, len) != 0 ||
		    vc_store_head(w->store, path, &size) != VC_OK || size != len)
			w->failures++;
		vc_bytes_free(&out);
	}
	return NULL;
}

static void test_many_threads(void **state)
{
	vc_store *store = open_session("threads", NULL);
	pthread_t threads[8];
	worker workers[8];
	vc_store_stats stats;
	int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		workers[i] = (worker){.store = store, .id = i};
		assert_int_equal(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(workers[i].failures, 0);
	}
	vc_store_get_stats(store, &stats);
	assert_int_equal(stats.requests, 8 * 25 * 3);
	assert_int_equal(stats.errors, 0);
	vc_store_close(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    /* objects, ranges and names as nginx stores them */
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_escaping),
	    /* error statuses, retries and batches */
	    cmocka_unit_test(test_forbidden),
	    cmocka_unit_test(test_503_retried),
	    cmocka_unit_test(test_injected_faults_retried),
	    cmocka_unit_test(test_get_many),
	    cmocka_unit_test(test_get_many_retries_each),
	    /* the server and the connections over time */
	    cmocka_unit_test(test_restart),
	    cmocka_unit_test(test_many_threads),
	    cmocka_unit_test(test_connection_reuse),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
