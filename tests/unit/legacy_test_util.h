/* Helpers shared by the legacy reader's tests: the fixture location, files and temp copies. */
#ifndef VC_TEST_LEGACY_UTIL_H
#define VC_TEST_LEGACY_UTIL_H

#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "legacy/blake3.h"
#include "legacy/legacy.h"
#include "legacy/legacy_cbor.h"
#include "test_util.h"
#include "vchunk/store.h"

/* ---- helpers ---- */

static inline void hex_of(const uint8_t *bytes, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
}

/* The fixtures are required: a missing directory is a failure, never a skip. */
static inline const char *fixture_dir(const char *name, char *buf, size_t size)
{
	const char *root = getenv("VCHUNK_LEGACY_FIXTURES");
	struct stat st;

	if (root == NULL)
		fail_msg(
		    "VCHUNK_LEGACY_FIXTURES is not set: run this test through meson test, which "
		    "points it at shared/fixtures/legacy-rust beside the source tree");
	snprintf(buf, size, "%s/%s", root, name);
	if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
		fail_msg("legacy fixture directory %s is missing: the genuine sessions of the "
			 "original system are required for this test",
			 buf);
	return buf;
}

static inline void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static inline void read_file(const char *path, vc_bytes *out)
{
	FILE *f = fopen(path, "rb");
	uint8_t buf[65536];
	size_t n;

	memset(out, 0, sizeof(*out));
	assert_non_null(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		assert_int_equal(vc_bytes_append(out, buf, n), VC_OK);
	fclose(f);
}

static inline void remove_tree(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static inline vc_err open_dir(const char *dir, vc_legacy **out)
{
	vc_store *store = NULL;
	vc_err err = vc_store_open(dir, NULL, &store);

	if (err != VC_OK)
		return err;
	err = vc_legacy_open(store, out);
	vc_store_close(store);
	return err;
}

/* ---- copies of a fixture, modified ---- */

static inline void copy_tree(const char *src, const char *dst)
{
	DIR *d = opendir(src);
	struct dirent *e;

	assert_non_null(d);
	assert_int_equal(mkdir(dst, 0755), 0);
	while ((e = readdir(d)) != NULL) {
		char from[1024], to[1024];
		struct stat st;
		vc_bytes bytes;

		if (e->d_name[0] == '.')
			continue;
		snprintf(from, sizeof(from), "%s/%s", src, e->d_name);
		snprintf(to, sizeof(to), "%s/%s", dst, e->d_name);
		assert_int_equal(stat(from, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(from, to);
			continue;
		}
		read_file(from, &bytes);
		write_file(to, bytes.data, bytes.len);
		vc_bytes_free(&bytes);
	}
	closedir(d);
}

/* A writable copy of fixture @p name's session in a new temp dir; @p session gets its path. */
static inline void copy_fixture(const char *name, char *tmp, char *session, size_t size)
{
	char root[512], src[600];

	fixture_dir(name, root, sizeof(root));
	snprintf(src, sizeof(src), "%s/session", root);
	strcpy(tmp, "/tmp/vc-legacy-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	snprintf(session, size, "%s/session", tmp);
	copy_tree(src, session);
}

/* Drop byte_size from the copy's manifest, so damaged chunks reach the CBOR decoder instead of
 * being stopped by the size check. */
static inline void strip_byte_sizes(const char *session)
{
	char path[700];
	json_t *manifest;
	json_t *chunk;
	size_t i;

	snprintf(path, sizeof(path), "%s/manifest.json", session);
	manifest = json_load_file(path, 0, NULL);
	assert_non_null(manifest);
	json_array_foreach(json_object_get(manifest, "chunks"), i, chunk)
	    json_object_del(chunk, "byte_size");
	assert_int_equal(json_dump_file(manifest, path, JSON_INDENT(2)), 0);
	json_decref(manifest);
}

#endif
