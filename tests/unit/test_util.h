/* Helpers shared by the unit tests: temp session directories, seeded random data, exact scores,
 * whole-file reads and writes, store checks. Random generators keep their state with the caller. */
#ifndef VC_TEST_UTIL_H
#define VC_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "vchunk/manifest.h"
#include "vchunk/store.h"

/* ---- seeded random numbers (each generator's state is held by the caller) ---- */

/* splitmix64: the next 64-bit value of the sequence that starts at *@p state. */
uint64_t vc_test_splitmix64(uint64_t *state);

/* A standard normal value (Box-Muller over two splitmix64 draws, the first kept away from 0). */
float vc_test_gauss(uint64_t *state);

/* xorshift64: the next value of the sequence, spread over [-1, 1). *@p state must not be 0. */
float vc_test_xorshift_value(uint64_t *state);

/*
 * @p n points of @p dim floats around @p clusters centres: centres drawn from @p gauss, each point
 * a random centre plus @p spread times @p gauss per axis; the whole set depends only on @p seed.
 * Returns a malloc'ed n * dim array the caller frees.
 */
float *vc_test_make_clustered(uint64_t seed, size_t n, size_t dim, size_t clusters, float spread,
			      float (*gauss)(uint64_t *state));

/* ---- exact scores ---- */

/* The score a search ranks by, in double precision, larger is better: cosine (on the raw
 * vectors), dot, or the negated squared L2 distance. */
double vc_test_exact_score(vc_metric metric, const float *a, const float *b, size_t dim);

/* ---- files and directories ---- */

/* Remove @p path and everything below it; what cannot be removed is left silently. */
void vc_test_remove_tree(const char *path);

/*
 * A fresh temp directory for one test session: @p dir from @p dir_template (ending in XXXXXX),
 * @p uri = dir/@p leaf (not created), @p key = dir/key holding a newly generated key.
 * Returns 0, or -1 when the directory or the key could not be made.
 */
int vc_test_session_dir(const char *dir_template, const char *leaf, char dir[static 64],
			char uri[static 128], char key[static 128]);

/* The whole of @p path, NUL-terminated (malloc'ed, the caller frees); *@p len is its size. */
char *vc_test_read_file(const char *path, size_t *len);

/* Write @p len bytes to @p path, replacing it; every step is asserted. */
void vc_test_write_file(const char *path, const void *data, size_t len);

/* ---- time and stores ---- */

/* Milliseconds on the monotonic clock. */
uint64_t vc_test_now_ms(void);

/* @p b holds exactly the @p len bytes at @p expected. */
void vc_test_assert_bytes(const vc_bytes *b, const void *expected, size_t len);

/* The S5 store at @p url for @p session, opened and checked to be an S5 store. */
vc_store *vc_test_open_s5(const char *url, const char *session, const vc_store_options *options);

#endif
