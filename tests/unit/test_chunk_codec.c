/* Tests for the chunk codec: builder, canonical CBOR, sealed chunks, and malformed documents. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format/cbor_i.h"
#include "format/chunk_codec.h"
#include "util/error_i.h"

#define DIM 8
#define PATH "chunks/chunk-3.cbor"

typedef struct fixture {
	vc_keyring *keyring;
	uint8_t session[VC_SESSION_ID_BYTES];
	vc_object_ctx ctx;
} fixture;

static int setup(void **state)
{
	uint8_t master[VC_KEY_BYTES];
	fixture *f = calloc(1, sizeof(*f));

	memset(master, 0x42, sizeof(master));
	assert_int_equal(vc_keyring_from_master(master, &f->keyring), VC_OK);
	memset(f->session, 0x17, sizeof(f->session));
	f->ctx.keyring = f->keyring;
	f->ctx.session_id = f->session;
	f->ctx.kind = VC_OBJECT_CHUNK;
	f->ctx.path = PATH;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	vc_keyring_free(f->keyring);
	free(f);
	return 0;
}

static void vector_of(uint32_t row, float *v)
{
	for (int i = 0; i < DIM; i++)
		v[i] = (float)row * 0.5f - (float)i * 1.25f + (i == 3 ? 1e-30f : 0.0f);
}

static json_t *meta_of(uint32_t row)
{
	if (row % 3 == 0)
		return NULL;
	return json_pack("{s:i, s:s, s:[f, b], s:{s:n}}", "row", (json_int_t)row, "name",
			 row % 2 ? "caf\xc3\xa9" : "plain", "list", row * 0.25, row % 2 == 0, "obj",
			 "none");
}

/* Rows 0..3 before any frame (cluster -1), then clusters 7 (5 rows), 2 (empty), 9 (4 rows). */
static const struct {
	int32_t cluster;
	uint32_t rows;
} layout[] = {{-1, 4}, {7, 5}, {2, 0}, {9, 4}};
#define ROWS 13

static vc_chunk_builder *build(void)
{
	vc_chunk_builder *b;
	uint32_t row = 0;
	float v[DIM];
	char id[32];

	assert_int_equal(vc_chunk_builder_new(3, DIM, &b), VC_OK);
	for (size_t f = 0; f < sizeof(layout) / sizeof(layout[0]); f++) {
		if (f > 0)
			assert_int_equal(vc_chunk_builder_frame(b, layout[f].cluster), VC_OK);
		for (uint32_t r = 0; r < layout[f].rows; r++, row++) {
			json_t *meta = meta_of(row);

			snprintf(id, sizeof(id), row == 5 ? "\xe6\x97\xa5-%u" : "doc-%u", row);
			vector_of(row, v);
			assert_int_equal(vc_chunk_builder_add(b, id, v, meta), VC_OK);
			json_decref(meta);
		}
	}
	assert_int_equal(vc_chunk_builder_count(b), ROWS);
	return b;
}

static void check_chunk(const vc_chunk *c)
{
	float v[DIM];
	char id[32];
	uint32_t row = 0;

	assert_int_equal(c->chunk_id, 3);
	assert_int_equal(c->dim, DIM);
	assert_int_equal(c->count, ROWS);
	assert_int_equal(c->frame_count, 4);
	assert_int_equal((uintptr_t)c->vectors % 64, 0);
	assert_true(c->memory_bytes >= ROWS * DIM * sizeof(float) + ROWS * 6);
	for (uint32_t f = 0; f < c->frame_count; f++) {
		assert_int_equal(c->frames[f].cluster, layout[f].cluster);
		assert_int_equal(c->frames[f].first, row);
		assert_int_equal(c->frames[f].count, layout[f].rows);
		row += layout[f].rows;
	}
	for (row = 0; row < ROWS; row++) {
		json_t *want = meta_of(row), *got;

		snprintf(id, sizeof(id), row == 5 ? "\xe6\x97\xa5-%u" : "doc-%u", row);
		assert_string_equal(c->ids[row], id);
		vector_of(row, v);
		assert_memory_equal(&c->vectors[row * DIM], v, sizeof(v));
		assert_int_equal(vc_meta_decode(c->meta + c->meta_offset[row],
						c->meta_offset[row + 1] - c->meta_offset[row],
						&got),
				 VC_OK);
		if (want == NULL)
			assert_true(json_is_null(got));
		else
			assert_true(json_equal(want, got));
		json_decref(want);
		json_decref(got);
	}
}

static void test_round_trip(void **state)
{
	fixture *f = *state;
	vc_bytes stored = {0}, plain = {0};
	uint64_t plain_size = 0;
	uint32_t frames = 0;
	vc_chunk *chunk;

	assert_int_equal(vc_chunk_builder_finish(build(), &f->ctx, &stored, &plain_size, &frames),
			 VC_OK);
	assert_int_equal(frames, 5);
	assert_int_equal(stored.len, 60 + 48 * frames + plain_size);
	assert_null(memmem(stored.data, stored.len, "doc-1", 5));
	assert_int_equal(vc_chunk_open(&f->ctx, stored.data, stored.len, &chunk), VC_OK);
	check_chunk(chunk);
	vc_chunk_free(chunk);

	/* The concatenated frame plaintexts are the canonical document vc_chunk_decode reads. */
	assert_int_equal(vc_envelope_open_all(&f->ctx, stored.data, stored.len, &plain), VC_OK);
	assert_int_equal(plain.len, plain_size);
	assert_int_equal(plain.data[0], 0xa4);
	assert_memory_equal(plain.data + 1,
			    "\x68"
			    "chunk_id",
			    9);
	assert_int_equal(vc_chunk_decode(plain.data, plain.len, &chunk), VC_OK);
	check_chunk(chunk);
	vc_chunk_free(chunk);
	vc_bytes_free(&plain);
	vc_bytes_free(&stored);
}

static void test_single_frame_by_range(void **state)
{
	fixture *f = *state;
	vc_bytes stored = {0};
	vc_frame_loc *locs;
	uint64_t plain_size;
	uint32_t frames, count;
	vc_chunk *chunk;
	uint8_t *plain;
	vc_cbor_cursor cur;
	vc_cbor_head head;
	int64_t cluster;
	float v[DIM];

	assert_int_equal(vc_chunk_builder_finish(build(), &f->ctx, &stored, &plain_size, &frames),
			 VC_OK);
	/* Only the header and one frame's bytes are needed to read IVF list 9. */
	assert_int_equal(vc_envelope_frames(&f->ctx, stored.data,
					    vc_envelope_header_size(stored.data, 20), &locs,
					    &count),
			 VC_OK);
	assert_int_equal(count, 5);
	plain = malloc(locs[4].plain_len);
	assert_int_equal(vc_envelope_open_frame(&f->ctx, 4, count, &locs[4],
						stored.data + locs[4].offset, plain),
			 VC_OK);
	cur.p = plain;
	cur.end = plain + locs[4].plain_len;
	assert_true(vc_cbor_read_head(&cur, &head) && head.major == VC_CBOR_MAP && head.arg == 4);
	assert_true(vc_cbor_expect_key(&cur, "cluster"));
	assert_true(vc_cbor_read_int(&cur, -1, INT32_MAX, &cluster));
	assert_int_equal(cluster, 9);
	/* Decoded alone, the frame gives exactly the rows of list 9 (rows 9..12). */
	assert_int_equal(vc_chunk_decode_frame(plain, locs[4].plain_len, 3, DIM, &chunk), VC_OK);
	assert_int_equal(chunk->count, 4);
	assert_int_equal(chunk->frame_count, 1);
	assert_int_equal(chunk->frames[0].cluster, 9);
	assert_string_equal(chunk->ids[0], "doc-9");
	vector_of(12, v);
	assert_memory_equal(&chunk->vectors[3 * DIM], v, sizeof(v));
	vc_chunk_free(chunk);
	assert_int_equal(vc_chunk_decode_frame(plain, locs[4].plain_len, 3, DIM + 1, &chunk),
			 VC_ERR_CORRUPT);
	assert_int_equal(vc_chunk_decode_frame(plain, locs[4].plain_len - 1, 3, DIM, &chunk),
			 VC_ERR_CORRUPT);
	assert_null(chunk);
	free(plain);
	free(locs);
	assert_int_equal(vc_chunk_open(&f->ctx, stored.data, stored.len, &chunk), VC_OK);
	vc_chunk_free(chunk);
	vc_bytes_free(&stored);
}

static void test_plaintext_and_tamper(void **state)
{
	fixture *f = *state;
	vc_object_ctx ctx = f->ctx;
	vc_bytes stored = {0};
	uint64_t plain_size;
	uint32_t frames;
	vc_chunk *chunk = NULL;

	ctx.keyring = NULL;
	assert_int_equal(vc_chunk_builder_finish(build(), &ctx, &stored, &plain_size, &frames),
			 VC_OK);
	assert_non_null(memmem(stored.data, stored.len, "doc-1", 5));
	assert_int_equal(vc_chunk_open(&ctx, stored.data, stored.len, &chunk), VC_OK);
	check_chunk(chunk);
	vc_chunk_free(chunk);
	stored.data[stored.len - 30] ^= 4;
	assert_int_equal(vc_chunk_open(&ctx, stored.data, stored.len, &chunk), VC_ERR_CORRUPT);
	assert_null(chunk);
	assert_non_null(strstr(vc_last_error(), PATH));
	vc_bytes_free(&stored);

	assert_int_equal(vc_chunk_builder_finish(build(), &f->ctx, &stored, &plain_size, &frames),
			 VC_OK);
	for (size_t pos = 0; pos < stored.len; pos += 13) {
		stored.data[pos] ^= 0x10;
		assert_int_equal(vc_chunk_open(&f->ctx, stored.data, stored.len, &chunk),
				 VC_ERR_AUTH);
		assert_non_null(strstr(vc_last_error(), PATH));
		stored.data[pos] ^= 0x10;
	}
	assert_int_equal(vc_chunk_open(&f->ctx, stored.data, stored.len - 1, &chunk), VC_ERR_AUTH);
	vc_bytes_free(&stored);
}

static void test_empty_chunk(void **state)
{
	fixture *f = *state;
	vc_chunk_builder *b;
	vc_bytes stored = {0};
	uint64_t plain_size;
	uint32_t frames;
	vc_chunk *chunk;

	assert_int_equal(vc_chunk_builder_new(0, 4, &b), VC_OK);
	assert_int_equal(vc_chunk_builder_finish(b, &f->ctx, &stored, &plain_size, &frames), VC_OK);
	assert_int_equal(frames, 1);
	assert_int_equal(vc_chunk_open(&f->ctx, stored.data, stored.len, &chunk), VC_OK);
	assert_int_equal(chunk->count, 0);
	assert_int_equal(chunk->frame_count, 0);
	vc_chunk_free(chunk);
	vc_bytes_free(&stored);
}

static void test_builder_rejects(void **state)
{
	vc_chunk_builder *b;
	float v[DIM] = {0};
	char long_id[VC_CHUNK_MAX_ID + 2];

	(void)state;
	assert_int_equal(vc_chunk_builder_new(0, 0, &b), VC_ERR_INVALID);
	assert_int_equal(vc_chunk_builder_new(0, DIM, &b), VC_OK);
	assert_int_equal(vc_chunk_builder_frame(b, -2), VC_ERR_INVALID);
	assert_int_equal(vc_chunk_builder_add(b, "", v, NULL), VC_ERR_INVALID);
	assert_int_equal(vc_chunk_builder_add(b, "\xff\xfe", v, NULL), VC_ERR_INVALID);
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	assert_int_equal(vc_chunk_builder_add(b, long_id, v, NULL), VC_ERR_INVALID);
	v[2] = NAN;
	assert_int_equal(vc_chunk_builder_add(b, "nan", v, NULL), VC_ERR_INVALID);
	v[2] = INFINITY;
	assert_int_equal(vc_chunk_builder_add(b, "inf", v, NULL), VC_ERR_INVALID);
	assert_int_equal(vc_chunk_builder_count(b), 0);
	vc_chunk_builder_free(b);
	vc_chunk_builder_free(NULL);
}

/* Hand-written documents: a header then one frame; each helper writes a piece. */
static void put_key(vc_bytes *o, const char *k)
{
	assert_int_equal(vc_cbor_put_text(o, k, strlen(k)), VC_OK);
}
static void put_uint(vc_bytes *o, uint64_t v)
{
	assert_int_equal(vc_cbor_put_head(o, VC_CBOR_UINT, v), VC_OK);
}

typedef struct doc_spec {
	uint64_t count, dim, frames, rows, vec_bytes, meta_items;
	const char *first_key;
	const char *id;
	uint8_t meta_byte;
} doc_spec;

static void write_doc(const doc_spec *s, vc_bytes *o)
{
	static const float one[2] = {1.0f, 2.0f};

	assert_int_equal(vc_cbor_put_head(o, VC_CBOR_MAP, 4), VC_OK);
	put_key(o, s->first_key);
	put_uint(o, 1);
	put_key(o, "dim");
	put_uint(o, s->dim);
	put_key(o, "count");
	put_uint(o, s->count);
	put_key(o, "frames");
	assert_int_equal(vc_cbor_put_head(o, VC_CBOR_ARRAY, s->frames), VC_OK);
	assert_int_equal(vc_cbor_put_head(o, VC_CBOR_MAP, 4), VC_OK);
	put_key(o, "cluster");
	assert_int_equal(vc_cbor_put_int(o, -1), VC_OK);
	put_key(o, "ids");
	assert_int_equal(vc_cbor_put_head(o, VC_CBOR_ARRAY, s->rows), VC_OK);
	for (uint64_t i = 0; i < s->rows; i++)
		put_key(o, s->id);
	put_key(o, "vectors");
	assert_int_equal(vc_cbor_put_head(o, VC_CBOR_BYTES, s->vec_bytes), VC_OK);
	for (uint64_t i = 0; i < s->vec_bytes; i += 8)
		assert_int_equal(
		    vc_bytes_append(o, one, s->vec_bytes - i < 8 ? s->vec_bytes - i : 8), VC_OK);
	put_key(o, "metadata");
	assert_int_equal(vc_cbor_put_head(o, VC_CBOR_ARRAY, s->meta_items), VC_OK);
	for (uint64_t i = 0; i < s->meta_items; i++)
		assert_int_equal(vc_bytes_append(o, &s->meta_byte, 1), VC_OK);
}

static vc_err decode_spec(const doc_spec *s)
{
	vc_bytes doc = {0};
	vc_chunk *chunk = NULL;
	vc_err err;

	write_doc(s, &doc);
	err = vc_chunk_decode(doc.data, doc.len, &chunk);
	if (err == VC_OK) {
		assert_non_null(chunk);
		assert_int_equal(chunk->count, s->count);
		vc_chunk_free(chunk);
	} else {
		assert_null(chunk);
	}
	vc_bytes_free(&doc);
	return err;
}

static void test_malformed_documents(void **state)
{
	const doc_spec good = {1, 2, 1, 1, 8, 1, "chunk_id", "a", 0xf6};
	doc_spec s;
	vc_bytes doc = {0};
	vc_chunk *chunk;

	(void)state;
	assert_int_equal(decode_spec(&good), VC_OK);
#define BAD(field, value)                                                                          \
	do {                                                                                       \
		s = good;                                                                          \
		s.field = value;                                                                   \
		assert_int_equal(decode_spec(&s), VC_ERR_CORRUPT);                                 \
	} while (0)
	BAD(count, 2); /* header promises more rows than the frames hold */
	BAD(count, 0); /* fewer */
	BAD(dim, 3);   /* vectors length does not match */
	BAD(dim, 0);
	BAD(frames, 2); /* a missing frame */
	BAD(frames, 0);
	BAD(vec_bytes, 7);
	BAD(meta_items, 0);
	BAD(meta_items, 2);
	BAD(first_key, "dim"); /* keys out of canonical order */
	BAD(first_key, "chunk");
	BAD(id, "");	      /* empty id */
	BAD(id, "\xc3");      /* invalid UTF-8 id */
	BAD(meta_byte, 0xc0); /* a tag as metadata */
	BAD(meta_byte, 0xf7); /* undefined */
	BAD(count, 0xffffffffu);
	BAD(dim, 70000);
	/* Hostile header: 2^32-1 rows of 65536 floats announced in a few bytes. */
	s = good;
	s.count = 0xffffffffu;
	s.dim = 65536;
	assert_int_equal(decode_spec(&s), VC_ERR_CORRUPT);
	assert_non_null(strstr(vc_last_error(), "more than its"));

	/* Every truncation and a trailing byte. */
	write_doc(&good, &doc);
	for (size_t len = 0; len < doc.len; len++)
		assert_int_equal(vc_chunk_decode(doc.data, len, &chunk), VC_ERR_CORRUPT);
	assert_int_equal(vc_bytes_append(&doc, "", 1), VC_OK);
	assert_int_equal(vc_chunk_decode(doc.data, doc.len, &chunk), VC_ERR_CORRUPT);
	vc_bytes_free(&doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_single_frame_by_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plaintext_and_tamper, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_chunk, setup, teardown),
	    cmocka_unit_test(test_builder_rejects),
	    cmocka_unit_test(test_malformed_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
