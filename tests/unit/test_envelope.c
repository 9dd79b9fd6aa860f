/* Tests for framed envelopes: round trips and every tampering, truncation and splicing case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "format/envelope.h"
#include "util/error_i.h"

#define PATH "chunks/chunk-7.cbor"

typedef struct fixture {
	vc_keyring *keyring;
	vc_keyring *other;
	uint8_t session[VC_SESSION_ID_BYTES];
	vc_object_ctx ctx;
	vc_bytes frames[3];
	vc_bytes plain_all;
} fixture;

static int setup(void **state)
{
	uint8_t master[VC_KEY_BYTES];
	fixture *f = calloc(1, sizeof(*f));
	static const char *texts[3] = {"frame zero: header", "", "frame two carries more bytes"};

	for (size_t i = 0; i < sizeof(master); i++)
		master[i] = (uint8_t)i;
	assert_int_equal(vc_keyring_from_master(master, &f->keyring), VC_OK);
	master[0] ^= 1;
	assert_int_equal(vc_keyring_from_master(master, &f->other), VC_OK);
	memset(f->session, 0x5a, sizeof(f->session));
	f->ctx.keyring = f->keyring;
	f->ctx.session_id = f->session;
	f->ctx.kind = VC_OBJECT_CHUNK;
	f->ctx.path = PATH;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vc_bytes_append(&f->frames[i], texts[i], strlen(texts[i])), VC_OK);
		assert_int_equal(vc_bytes_append(&f->plain_all, texts[i], strlen(texts[i])), VC_OK);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	for (int i = 0; i < 3; i++)
		vc_bytes_free(&f->frames[i]);
	vc_bytes_free(&f->plain_all);
	vc_keyring_free(f->keyring);
	vc_keyring_free(f->other);
	free(f);
	return 0;
}

static void seal(fixture *f, const vc_object_ctx *ctx, vc_bytes *out)
{
	assert_int_equal(vc_envelope_seal(ctx, 3, f->frames, out), VC_OK);
}

/* Open the whole object and expect @p code with a message naming the object. */
static void expect_open_fails(const vc_object_ctx *ctx, const uint8_t *data, size_t len,
			      vc_err code)
{
	vc_bytes plain = {0};

	assert_int_equal(vc_envelope_open_all(ctx, data, len, &plain), code);
	assert_null(plain.data);
	assert_non_null(strstr(vc_last_error(), ctx->path));
}

static void test_round_trip(void **state)
{
	fixture *f = *state;
	vc_bytes stored = {0}, plain = {0};
	vc_frame_loc *locs;
	uint8_t buf[64];
	uint32_t count;

	seal(f, &f->ctx, &stored);
	assert_int_equal(stored.len, 20 + 3 * 8 + 40 + f->plain_all.len + 3 * 40);
	/* Encrypted: no plaintext byte run appears in the stored object. */
	assert_null(memmem(stored.data, stored.len, "frame two", 9));
	assert_int_equal(vc_envelope_header_size(stored.data, vc_envelope_fixed_header_size()),
			 20 + 3 * 8 + 40);
	assert_int_equal(vc_envelope_open_all(&f->ctx, stored.data, stored.len, &plain), VC_OK);
	assert_int_equal(plain.len, f->plain_all.len);
	assert_memory_equal(plain.data, f->plain_all.data, plain.len);

	/* The header alone is enough to learn the frame locations. */
	assert_int_equal(vc_envelope_frames(&f->ctx, stored.data, 20 + 3 * 8 + 40, &locs, &count),
			 VC_OK);
	assert_int_equal(count, 3);
	for (uint32_t i = 0; i < count; i++) {
		assert_int_equal(locs[i].plain_len, f->frames[i].len);
		assert_int_equal(locs[i].sealed_len, f->frames[i].len + VC_FRAME_OVERHEAD);
		assert_int_equal(vc_envelope_open_frame(&f->ctx, i, count, &locs[i],
							stored.data + locs[i].offset, buf),
				 VC_OK);
		assert_memory_equal(buf, f->frames[i].data, f->frames[i].len);
	}
	/* A frame opened under the wrong index fails and names the frame. */
	assert_int_equal(
	    vc_envelope_open_frame(&f->ctx, 1, count, &locs[2], stored.data + locs[2].offset, buf),
	    VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "frame 1 of 3"));
	free(locs);
	vc_bytes_free(&plain);
	vc_bytes_free(&stored);
}

static void test_two_seals_differ(void **state)
{
	fixture *f = *state;
	vc_bytes a = {0}, b = {0};

	seal(f, &f->ctx, &a);
	seal(f, &f->ctx, &b);
	assert_int_equal(a.len, b.len);
	assert_memory_not_equal(a.data, b.data, a.len);
	vc_bytes_free(&a);
	vc_bytes_free(&b);
}

static void test_every_bit_region(void **state)
{
	fixture *f = *state;
	vc_bytes stored = {0};
	static const uint8_t masks[] = {0x01, 0x02, 0x80};

	seal(f, &f->ctx, &stored);
	/* Every byte: header, table, header nonce and tag, frame nonces, ciphertexts, tags. */
	for (size_t pos = 0; pos < stored.len; pos++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			stored.data[pos] ^= masks[m];
			expect_open_fails(&f->ctx, stored.data, stored.len, VC_ERR_AUTH);
			stored.data[pos] ^= masks[m];
		}
	}
	vc_bytes_free(&stored);
}

static void test_truncation_and_extension(void **state)
{
	fixture *f = *state;
	vc_bytes stored = {0};
	vc_bytes longer = {0};

	seal(f, &f->ctx, &stored);
	for (size_t len = 0; len < stored.len; len++)
		expect_open_fails(&f->ctx, stored.data, len, VC_ERR_AUTH);
	assert_int_equal(vc_bytes_append(&longer, stored.data, stored.len), VC_OK);
	assert_int_equal(vc_bytes_append(&longer, "x", 1), VC_OK);
	expect_open_fails(&f->ctx, longer.data, longer.len, VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "truncated or extended"));
	vc_bytes_free(&longer);
	vc_bytes_free(&stored);
}

static void test_wrong_context(void **state)
{
	fixture *f = *state;
	vc_bytes stored = {0};
	uint8_t other_session[VC_SESSION_ID_BYTES];
	vc_object_ctx ctx;

	seal(f, &f->ctx, &stored);
	ctx = f->ctx;
	ctx.path = "chunks/chunk-8.cbor";
	expect_open_fails(&ctx, stored.data, stored.len, VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "chunk-8"));

	ctx = f->ctx;
	memcpy(other_session, f->session, sizeof(other_session));
	other_session[15] ^= 1;
	ctx.session_id = other_session;
	expect_open_fails(&ctx, stored.data, stored.len, VC_ERR_AUTH);

	ctx = f->ctx;
	ctx.kind = VC_OBJECT_INDEX;
	expect_open_fails(&ctx, stored.data, stored.len, VC_ERR_AUTH);

	ctx = f->ctx;
	ctx.keyring = f->other;
	expect_open_fails(&ctx, stored.data, stored.len, VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "wrong key"));

	ctx = f->ctx;
	ctx.keyring = NULL;
	expect_open_fails(&ctx, stored.data, stored.len, VC_ERR_PERMISSION);
	assert_non_null(strstr(vc_last_error(), "a key is required"));
	vc_bytes_free(&stored);
}

static void test_frames_swapped_and_spliced(void **state)
{
	fixture *f = *state;
	vc_bytes a = {0}, b = {0};
	vc_bytes same[2] = {{0}};
	size_t header = 20 + 2 * 8 + 40, frame = 10 + VC_FRAME_OVERHEAD;
	uint8_t tmp[64];

	/* Two frames of equal size: the frame table does not change when they swap. */
	assert_int_equal(vc_bytes_append(&same[0], "0123456789", 10), VC_OK);
	assert_int_equal(vc_bytes_append(&same[1], "abcdefghij", 10), VC_OK);
	assert_int_equal(vc_envelope_seal(&f->ctx, 2, same, &a), VC_OK);
	assert_int_equal(vc_envelope_seal(&f->ctx, 2, same, &b), VC_OK);
	memcpy(tmp, a.data + header, frame);
	memmove(a.data + header, a.data + header + frame, frame);
	memcpy(a.data + header + frame, tmp, frame);
	expect_open_fails(&f->ctx, a.data, a.len, VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "frame 0 of 2"));
	memcpy(a.data + header + frame, a.data + header, frame);
	memcpy(a.data + header, tmp, frame);

	/* Splice frame 1 of another object with identical sizes, path and key. */
	memcpy(a.data + header + frame, b.data + header + frame, frame);
	expect_open_fails(&f->ctx, a.data, a.len, VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "frame 1 of 2"));
	/* Or its header: the frames are bound to their own header. */
	memcpy(b.data + header + frame, a.data + header + frame, frame);
	memcpy(a.data, b.data, header);
	expect_open_fails(&f->ctx, a.data, a.len, VC_ERR_AUTH);
	vc_bytes_free(&same[0]);
	vc_bytes_free(&same[1]);
	vc_bytes_free(&a);
	vc_bytes_free(&b);
}

static void test_plaintext_mode(void **state)
{
	fixture *f = *state;
	vc_object_ctx ctx = f->ctx;
	vc_bytes stored = {0}, plain = {0};

	ctx.keyring = NULL;
	seal(f, &ctx, &stored);
	/* Plaintext sessions keep the bytes readable but checksummed. */
	assert_non_null(memmem(stored.data, stored.len, "frame two", 9));
	assert_int_equal(vc_envelope_open_all(&ctx, stored.data, stored.len, &plain), VC_OK);
	assert_memory_equal(plain.data, f->plain_all.data, f->plain_all.len);
	vc_bytes_free(&plain);
	for (size_t pos = 0; pos < stored.len; pos++) {
		stored.data[pos] ^= 0x02;
		expect_open_fails(&ctx, stored.data, stored.len, VC_ERR_CORRUPT);
		stored.data[pos] ^= 0x02;
	}
	for (size_t len = 0; len < stored.len; len += 7)
		expect_open_fails(&ctx, stored.data, len, VC_ERR_CORRUPT);
	ctx.path = "chunks/chunk-9.cbor";
	expect_open_fails(&ctx, stored.data, stored.len, VC_ERR_CORRUPT);
	/* A plaintext object where the session is encrypted is a downgrade: refused. */
	expect_open_fails(&f->ctx, stored.data, stored.len, VC_ERR_AUTH);
	vc_bytes_free(&stored);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void test_hostile_header(void **state)
{
	fixture *f = *state;
	vc_bytes stored = {0};
	vc_frame_loc *locs = NULL;
	uint32_t count = 99;

	seal(f, &f->ctx, &stored);
	put32(stored.data + 8, VC_ENVELOPE_MAX_FRAMES + 1);
	assert_int_equal(vc_envelope_frames(&f->ctx, stored.data, stored.len, &locs, &count),
			 VC_ERR_AUTH);
	assert_null(locs);
	assert_int_equal(count, 0);
	assert_int_equal(vc_envelope_header_size(stored.data, stored.len), 0);
	/* A huge frame count with a short object is refused before any allocation. */
	put32(stored.data + 8, VC_ENVELOPE_MAX_FRAMES);
	assert_int_equal(vc_envelope_frames(&f->ctx, stored.data, stored.len, &locs, &count),
			 VC_ERR_AUTH);
	assert_non_null(strstr(vc_last_error(), "truncated"));
	put32(stored.data + 8, 3);
	put32(stored.data + 20, 0xffffffffu);
	put32(stored.data + 24, 0xffffffffu - VC_FRAME_OVERHEAD);
	expect_open_fails(&f->ctx, stored.data, stored.len, VC_ERR_AUTH);
	/* Invalid paths are refused outright. */
	vc_bytes_free(&stored);
	vc_object_ctx bad = f->ctx;
	bad.path = "../escape";
	assert_int_equal(vc_envelope_seal(&bad, 3, f->frames, &stored), VC_ERR_INVALID);
	vc_bytes_free(&stored);
}

/* docs/FORMAT.md section 4.4 test vector: plaintext objects are deterministic. */
static void test_documented_vector(void **state)
{
	static const uint8_t want[112] = {0x56, 0x43, 0x48, 0x4b, 0x01,	       0x02, 0x00, 0x00,
					  0x01, 0x00, 0x00, 0x00, 0x00,	       0x00, 0x00, 0x00,
					  0x00, 0x00, 0x00, 0x00, 0x2c,	       0x00, 0x00, 0x00,
					  0x04, 0x00, 0x00, 0x00, [52] = 0x3f, 0x58, 0x90, 0x31,
					  0xd0, 0x1a, 0x5f, 0x1d, 0xc3,	       0x3b, 0x65, 0x7a,
					  0xc6, 0x85, 0x68, 0xfb, [92] = 0xa1, 0x61, 0x61, 0x01,
					  0xb0, 0xa4, 0xa2, 0xe0, 0x48,	       0x6f, 0x8e, 0x1c,
					  0xc7, 0x9a, 0x09, 0xee, 0xc5,	       0x05, 0x5a, 0x99};
	static const uint8_t item[4] = {0xa1, 0x61, 0x61, 0x01};
	uint8_t session[VC_SESSION_ID_BYTES];
	vc_object_ctx ctx = {NULL, session, VC_OBJECT_METADATA, "metadata.cbor"};
	vc_bytes frame = {0}, stored = {0};

	(void)state;
	for (int i = 0; i < VC_SESSION_ID_BYTES; i++)
		session[i] = (uint8_t)i;
	assert_int_equal(vc_bytes_append(&frame, item, sizeof(item)), VC_OK);
	assert_int_equal(vc_envelope_seal(&ctx, 1, &frame, &stored), VC_OK);
	assert_int_equal(stored.len, sizeof(want));
	assert_memory_equal(stored.data, want, sizeof(want));
	vc_bytes_free(&frame);
	vc_bytes_free(&stored);
}

static void test_empty_object(void **state)
{
	fixture *f = *state;
	vc_bytes stored = {0}, plain = {0};

	assert_int_equal(vc_envelope_seal(&f->ctx, 0, NULL, &stored), VC_OK);
	assert_int_equal(stored.len, 60);
	assert_int_equal(vc_envelope_open_all(&f->ctx, stored.data, stored.len, &plain), VC_OK);
	assert_int_equal(plain.len, 0);
	stored.data[59] ^= 1;
	expect_open_fails(&f->ctx, stored.data, stored.len, VC_ERR_AUTH);
	vc_bytes_free(&plain);
	vc_bytes_free(&stored);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_seals_differ, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_bit_region, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncation_and_extension, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_context, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_frames_swapped_and_spliced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plaintext_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_object, setup, teardown),
	    cmocka_unit_test(test_documented_vector),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
