/* Helpers shared by the unit tests (see test_util.h): one copy of what several test programs need,
 * so every test computes its data and its ground truth the same way. */
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "test_util.h"
#include "vchunk/session.h"

uint64_t vc_test_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

float vc_test_gauss(uint64_t *state)
{
	/* u is never 0, so log(u) stays finite */
	double u = (double)((vc_test_splitmix64(state) >> 11) + 1) * 0x1.0p-53;
	double v = (double)(vc_test_splitmix64(state) >> 11) * 0x1.0p-53;

	return (float)(sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v));
}

float vc_test_xorshift_value(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return (float)((double)(*state >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

float *vc_test_make_clustered(uint64_t seed, size_t n, size_t dim, size_t clusters, float spread,
			      float (*gauss)(uint64_t *state))
{
	float *centres = malloc(clusters * dim * sizeof(float));
	float *v = malloc(n * dim * sizeof(float));
	uint64_t state = seed;

	for (size_t i = 0; i < clusters * dim; i++)
		centres[i] = gauss(&state);
	for (size_t i = 0; i < n; i++) {
		const float *c = centres + (vc_test_splitmix64(&state) % clusters) * dim;

		for (size_t d = 0; d < dim; d++)
			v[i * dim + d] = c[d] + spread * gauss(&state);
	}
	free(centres);
	return v;
}

double vc_test_exact_score(vc_metric metric, const float *a, const float *b, size_t dim)
{
	double dot = 0, na = 0, nb = 0, l2 = 0;

	for (size_t d = 0; d < dim; d++) {
		dot += (double)a[d] * b[d];
		na += (double)a[d] * a[d];
		nb += (double)b[d] * b[d];
		l2 += ((double)a[d] - b[d]) * ((double)a[d] - b[d]);
	}
	if (metric == VC_METRIC_L2)
		return -l2;
	if (metric == VC_METRIC_COSINE)
		return dot / sqrt(na * nb);
	return dot;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void vc_test_remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int vc_test_session_dir(const char *dir_template, const char *leaf, char dir[static 64],
			char uri[static 128], char key[static 128])
{
	snprintf(dir, 64, "%s", dir_template);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(uri, 128, "%s/%s", dir, leaf);
	snprintf(key, 128, "%s/key", dir);
	if (vc_key_generate_file(key) != VC_OK)
		return -1;
	return 0;
}

char *vc_test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long size;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)size + 1);
	assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
	data[size] = '\0';
	fclose(f);
	*len = (size_t)size;
	return data;
}

void vc_test_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

uint64_t vc_test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void vc_test_assert_bytes(const vc_bytes *b, const void *expected, size_t len)
{
	assert_int_equal(b->len, len);
	if (len > 0)
		assert_memory_equal(b->data, expected, len);
}

vc_store *vc_test_open_s5(const char *url, const char *session, const vc_store_options *options)
{
	char uri[256];
	vc_store *store = NULL;

	snprintf(uri, sizeof(uri), "s5+%s/%s", url, session);
	assert_int_equal(vc_store_open(uri, options, &store), VC_OK);
	assert_string_equal(store->kind, "s5");
	return store;
}
