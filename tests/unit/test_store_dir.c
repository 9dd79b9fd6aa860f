/* Tests for the local directory backend and the store URI parser, on real files in a temp dir. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "vchunk/store.h"

typedef struct fixture {
	char dir[64];  /* the temp directory */
	char root[96]; /* the store root inside it (not created up front) */
	vc_store *store;
} fixture;

static void remove_tree(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vc-store-dir-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->root, sizeof(f->root), "%s/session", f->dir);
	unsetenv("VCHUNK_FAULT");
	assert_int_equal(vc_store_open(f->root, NULL, &f->store), VC_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	vc_store_close(f->store);
	remove_tree(f->dir);
	free(f);
	return 0;
}

static void put_text(vc_store *store, const char *path, const char *text)
{
	assert_int_equal(vc_store_put(store, path, text, strlen(text)), VC_OK);
}

static void test_round_trip(void **state)
{
	fixture *f = *state;
	vc_store_stats stats;
	vc_bytes out = {0};
	uint64_t size = 0;

	assert_string_equal(f->store->kind, "dir");
	/* The root does not exist yet: health says so, the first put creates it. */
	assert_int_equal(vc_store_health(f->store), VC_ERR_NOT_FOUND);
	put_text(f->store, "manifest.json", "{\"version\":4}");
	assert_int_equal(vc_store_health(f->store), VC_OK);
	assert_int_equal(vc_store_get(f->store, "manifest.json", &out), VC_OK);
	vc_test_assert_bytes(&out, "{\"version\":4}", 13);
	vc_bytes_free(&out);
	assert_int_equal(vc_store_head(f->store, "manifest.json", &size), VC_OK);
	assert_int_equal(size, 13);

	/* Overwrite with a shorter object: no stale tail survives. */
	put_text(f->store, "manifest.json", "{}");
	assert_int_equal(vc_store_get(f->store, "manifest.json", &out), VC_OK);
	vc_test_assert_bytes(&out, "{}", 2);
	vc_bytes_free(&out);

	/* An empty object is an object. */
	assert_int_equal(vc_store_put(f->store, "empty", NULL, 0), VC_OK);
	assert_int_equal(vc_store_head(f->store, "empty", &size), VC_OK);
	assert_int_equal(size, 0);

	assert_int_equal(vc_store_remove(f->store, "manifest.json"), VC_OK);
	assert_int_equal(vc_store_get(f->store, "manifest.json", &out), VC_ERR_NOT_FOUND);
	assert_null(out.data);

	vc_store_get_stats(f->store, &stats);
	assert_int_equal(stats.bytes_written, 15);
	assert_int_equal(stats.bytes_read, 15);
	assert_int_equal(stats.errors, 2); /* first health, last get */
	assert_int_equal(stats.requests, 11);
}

static void test_ranges(void **state)
{
	fixture *f = *state;
	vc_bytes out = {0};

	put_text(f->store, "chunks/chunk-0.cbor", "0123456789");
	assert_int_equal(vc_store_get_range(f->store, "chunks/chunk-0.cbor", 2, 3, &out), VC_OK);
	vc_test_assert_bytes(&out, "234", 3);
	vc_bytes_free(&out);
	assert_int_equal(
	    vc_store_get_range(f->store, "chunks/chunk-0.cbor", 7, VC_STORE_TO_END, &out), VC_OK);
	vc_test_assert_bytes(&out, "789", 3);
	vc_bytes_free(&out);
	/* Partly past the end: what exists. */
	assert_int_equal(vc_store_get_range(f->store, "chunks/chunk-0.cbor", 8, 100, &out), VC_OK);
	vc_test_assert_bytes(&out, "89", 2);
	vc_bytes_free(&out);
	/* Wholly past the end: nothing, no error. */
	assert_int_equal(vc_store_get_range(f->store, "chunks/chunk-0.cbor", 10, 5, &out), VC_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(
	    vc_store_get_range(f->store, "chunks/chunk-0.cbor", UINT64_MAX - 1, 5, &out), VC_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(vc_store_get_range(f->store, "chunks/chunk-0.cbor", 0, 0, &out), VC_OK);
	assert_int_equal(out.len, 0);
}

static void test_not_found(void **state)
{
	fixture *f = *state;
	vc_bytes out = {0};
	uint64_t size = 0;

	put_text(f->store, "a", "x");
	assert_int_equal(vc_store_get(f->store, "missing", &out), VC_ERR_NOT_FOUND);
	assert_non_null(strstr(vc_last_error(), "missing"));
	assert_int_equal(vc_store_head(f->store, "missing", &size), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_store_remove(f->store, "missing"), VC_ERR_NOT_FOUND);
	/* A file where a directory is expected also means "no such object". */
	assert_int_equal(vc_store_get(f->store, "a/b", &out), VC_ERR_NOT_FOUND);
	/* A directory is not an object. */
	put_text(f->store, "d/x", "y");
	assert_int_equal(vc_store_get(f->store, "d", &out), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_store_head(f->store, "d", &size), VC_ERR_NOT_FOUND);
	assert_int_equal(vc_store_remove(f->store, "d"), VC_ERR_NOT_FOUND);
}

static void test_nested_dirs_and_modes(void **state)
{
	fixture *f = *state;
	char file[256];
	struct stat st;
	vc_bytes out = {0};
	mode_t old = umask(022);

	put_text(f->store, "index/ivf/lists/list-17.cbor", "list");
	umask(old);
	snprintf(file, sizeof(file), "%s/index/ivf/lists/list-17.cbor", f->root);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	snprintf(file, sizeof(file), "%s/index/ivf", f->root);
	assert_int_equal(stat(file, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_int_equal(vc_store_get(f->store, "index/ivf/lists/list-17.cbor", &out), VC_OK);
	vc_test_assert_bytes(&out, "list", 4);
	vc_bytes_free(&out);
}

static void test_invalid_paths(void **state)
{
	fixture *f = *state;
	const char *bad[] = {"", "/etc/passwd", "../x", "a/../../b", "a//b", "a/", "./a", "a\nb"};
	vc_bytes out = {0};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vc_store_get(f->store, bad[i], &out), VC_ERR_INVALID);
		assert_int_equal(vc_store_put(f->store, bad[i], "x", 1), VC_ERR_INVALID);
	}
	assert_int_equal(vc_store_get(f->store, NULL, &out), VC_ERR_INVALID);
	assert_int_equal(vc_store_put(f->store, "ok", NULL, 3), VC_ERR_INVALID);
	assert_int_equal(vc_store_get(NULL, "ok", &out), VC_ERR_INVALID);
	/* Nothing escaped the root: "../x" would have landed next to it. */
	{
		char escaped[128];

		snprintf(escaped, sizeof(escaped), "%s/x", f->dir);
		assert_int_not_equal(access(escaped, F_OK), 0);
	}
}

static size_t count_entries(const char *dir, const char *prefix)
{
	struct dirent *e;
	size_t n = 0;
	DIR *d = opendir(dir);

	assert_non_null(d);
	for (e = readdir(d); e != NULL; e = readdir(d)) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	closedir(d);
	return n;
}

typedef struct race {
	vc_store *store;
	int stop;
	int torn; /* reads that were neither the old nor the new object */
	int reads;
} race;

static const char long_body[] = "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL";
static const char short_body[] = "ss";

static void *reader(void *arg)
{
	race *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		vc_bytes out = {0};

		if (vc_store_get(r->store, "obj", &out) != VC_OK) {
			r->torn++;
			continue;
		}
		if (!(out.len == strlen(long_body) && memcmp(out.data, long_body, out.len) == 0) &&
		    !(out.len == strlen(short_body) && memcmp(out.data, short_body, out.len) == 0))
			r->torn++;
		r->reads++;
		vc_bytes_free(&out);
	}
	return NULL;
}

static void test_atomic_put(void **state)
{
	fixture *f = *state;
	pthread_t t;
	race r = {.store = f->store};
	int i;

	put_text(f->store, "obj", long_body);
	assert_int_equal(pthread_create(&t, NULL, reader, &r), 0);
	for (i = 0; i < 200; i++)
		put_text(f->store, "obj", i % 2 == 0 ? short_body : long_body);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(r.torn, 0);
	assert_true(r.reads > 0);
	/* Every temp file was renamed away. */
	assert_int_equal(count_entries(f->root, ".tmp-"), 0);
	assert_int_equal(count_entries(f->root, "obj"), 1);
}

/* A temp file as a put killed before its rename leaves it, last modified @p age seconds ago. */
static void leave_temp(const char *dir, const char *name, time_t age)
{
	struct timespec times[2] = {{.tv_sec = time(NULL) - age}, {.tv_sec = time(NULL) - age}};
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("half a chunk", fp);
	fclose(fp);
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static void test_sweep(void **state)
{
	fixture *f = *state;
	char sub[160];
	uint64_t removed = 0;
	vc_bytes got = {0};

	put_text(f->store, "chunks/chunk-0.cbor", "kept");
	put_text(f->store, "index/ivf/lists/0.bin", "kept too");
	snprintf(sub, sizeof(sub), "%s/chunks", f->root);
	leave_temp(sub, ".tmp-000000000001", 7200);
	leave_temp(sub, ".tmp-000000000002", 0); /* a write that may still be going on */
	snprintf(sub, sizeof(sub), "%s/index/ivf/lists", f->root);
	leave_temp(sub, ".tmp-000000000003", 7200);
	leave_temp(f->root, ".tmp-000000000004", 7200);
	leave_temp(f->root, "tmp-not-ours", 7200);
	assert_int_equal(vc_store_sweep(f->store, (int64_t)time(NULL) - 3600, &removed), VC_OK);
	assert_int_equal(removed, 3);
	snprintf(sub, sizeof(sub), "%s/chunks", f->root);
	assert_int_equal(count_entries(sub, ".tmp-"), 1);
	assert_int_equal(count_entries(f->root, "tmp-not-ours"), 1);
	assert_int_equal(vc_store_get(f->store, "index/ivf/lists/0.bin", &got), VC_OK);
	assert_memory_equal(got.data, "kept too", 8);
	vc_bytes_free(&got);
	/* no age limit: the younger one goes too; the objects stay */
	assert_int_equal(vc_store_sweep(f->store, (int64_t)time(NULL), &removed), VC_OK);
	assert_int_equal(removed, 4);
	assert_int_equal(count_entries(sub, ".tmp-"), 0);
	assert_int_equal(count_entries(sub, "chunk-0.cbor"), 1);
}

static void test_get_many_fallback(void **state)
{
	fixture *f = *state;
	const char *paths[] = {"m/0", "m/1", "m/missing", "m/3"};
	vc_bytes outs[4];
	vc_err errors[4];

	put_text(f->store, "m/0", "zero");
	put_text(f->store, "m/1", "one");
	put_text(f->store, "m/3", "three");
	assert_int_equal(vc_store_get_many(f->store, 4, paths, outs, errors), VC_ERR_NOT_FOUND);
	assert_non_null(strstr(vc_last_error(), "m/missing"));
	assert_int_equal(errors[0], VC_OK);
	assert_int_equal(errors[1], VC_OK);
	assert_int_equal(errors[2], VC_ERR_NOT_FOUND);
	assert_int_equal(errors[3], VC_OK);
	vc_test_assert_bytes(&outs[0], "zero", 4);
	vc_test_assert_bytes(&outs[1], "one", 3);
	assert_int_equal(outs[2].len, 0);
	vc_test_assert_bytes(&outs[3], "three", 5);
	for (int i = 0; i < 4; i++)
		vc_bytes_free(&outs[i]);
}

/* As root, EACCES never happens, so drop to "nobody" in a child to see the mapping for real. */
static void test_permission(void **state)
{
	fixture *f = *state;
	int status;
	pid_t pid;

	put_text(f->store, "secret", "s");
	assert_int_equal(chmod(f->root, 0700), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		vc_bytes out = {0};

		if (geteuid() == 0 && setuid(65534) != 0)
			_exit(10);
		if (geteuid() != 0 && getuid() != 0 && access(f->root, X_OK) == 0)
			_exit(11); /* we own the dir: the check cannot be made */
		_exit(vc_store_get(f->store, "secret", &out) == VC_ERR_PERMISSION &&
			      strstr(vc_last_error(), "secret") != NULL
			  ? 0
			  : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 11)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_uri_parsing(void **state)
{
	fixture *f = *state;
	const char *bad[] = {"",
			     "http://127.0.0.1:1/x",
			     "s5://127.0.0.1:1/x",
			     "s5:abc",
			     "s5+ftp://h/x",
			     "s5+http://127.0.0.1:8080",
			     "s5+http://127.0.0.1:8080/",
			     "s5+http:///session",
			     "s5+http://h:1/a/../b",
			     "s5+http://h:1/s?x=1",
			     "dir:"};
	char uri[160];
	vc_store *store = NULL;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vc_store_open(bad[i], NULL, &store), VC_ERR_INVALID);
		assert_null(store);
		assert_true(strlen(vc_last_error()) > 0);
	}
	/* The message tells the user what is accepted. */
	assert_int_equal(vc_store_open("s5://h/x", NULL, &store), VC_ERR_INVALID);
	assert_non_null(strstr(vc_last_error(), "s5+http://"));

	put_text(f->store, "via-plain", "p");
	snprintf(uri, sizeof(uri), "dir:%s/", f->root);
	assert_int_equal(vc_store_open(uri, NULL, &store), VC_OK);
	assert_string_equal(store->kind, "dir");
	assert_string_equal(store->location, f->root);
	assert_int_equal(vc_store_health(store), VC_OK);
	{
		vc_bytes out = {0};

		assert_int_equal(vc_store_get(store, "via-plain", &out), VC_OK);
		vc_test_assert_bytes(&out, "p", 1);
		vc_bytes_free(&out);
	}
	vc_store_close(store);
	vc_store_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nested_dirs_and_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_paths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_atomic_put, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_many_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_permission, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uri_parsing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
