/* BLAKE3-256 following the published specification: a 7-round compression function over
 * 64-byte blocks, 1024-byte chunks, and a binary tree of chunk chaining values. */
#include <string.h>

#include "legacy/blake3.h"

#define BLOCK_LEN 64
#define CHUNK_LEN 1024
/* 2^54 chunks exhaust a 64-bit byte count, so the stack never holds more. */
#define MAX_DEPTH 54

enum {
	CHUNK_START = 1 << 0,
	CHUNK_END = 1 << 1,
	PARENT = 1 << 2,
	ROOT = 1 << 3,
};

static const uint32_t IV[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
			       0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

static const uint8_t PERMUTATION[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};

/* The inputs of one compression, kept so the root can be compressed with the ROOT flag. */
typedef struct output {
	uint32_t cv[8];
	uint32_t block[16];
	uint64_t counter;
	uint32_t block_len;
	uint32_t flags;
} output;

static uint32_t rotr(uint32_t w, unsigned c)
{
	return (w >> c) | (w << (32 - c));
}

static void g(uint32_t *s, int a, int b, int c, int d, uint32_t mx, uint32_t my)
{
	s[a] = s[a] + s[b] + mx;
	s[d] = rotr(s[d] ^ s[a], 16);
	s[c] = s[c] + s[d];
	s[b] = rotr(s[b] ^ s[c], 12);
	s[a] = s[a] + s[b] + my;
	s[d] = rotr(s[d] ^ s[a], 8);
	s[c] = s[c] + s[d];
	s[b] = rotr(s[b] ^ s[c], 7);
}

static void round_fn(uint32_t *s, const uint32_t *m)
{
	g(s, 0, 4, 8, 12, m[0], m[1]);
	g(s, 1, 5, 9, 13, m[2], m[3]);
	g(s, 2, 6, 10, 14, m[4], m[5]);
	g(s, 3, 7, 11, 15, m[6], m[7]);
	g(s, 0, 5, 10, 15, m[8], m[9]);
	g(s, 1, 6, 11, 12, m[10], m[11]);
	g(s, 2, 7, 8, 13, m[12], m[13]);
	g(s, 3, 4, 9, 14, m[14], m[15]);
}

/* The first 8 words of the compression output: a chaining value, or the root hash. */
static void compress(const uint32_t cv[8], const uint32_t block[16], uint64_t counter,
		     uint32_t block_len, uint32_t flags, uint32_t out[8])
{
	uint32_t s[16];
	uint32_t m[16];
	uint32_t permuted[16];

	memcpy(s, cv, 8 * sizeof(uint32_t));
	memcpy(s + 8, IV, 4 * sizeof(uint32_t));
	s[12] = (uint32_t)counter;
	s[13] = (uint32_t)(counter >> 32);
	s[14] = block_len;
	s[15] = flags;
	memcpy(m, block, sizeof(m));
	for (int r = 0; r < 7; r++) {
		round_fn(s, m);
		if (r == 6)
			break;
		for (int i = 0; i < 16; i++)
			permuted[i] = m[PERMUTATION[i]];
		memcpy(m, permuted, sizeof(m));
	}
	for (int i = 0; i < 8; i++)
		out[i] = s[i] ^ s[i + 8];
}

static void load_block(const uint8_t *p, size_t len, uint32_t words[16])
{
	uint8_t buf[BLOCK_LEN] = {0};

	memcpy(buf, p, len);
	for (int i = 0; i < 16; i++)
		words[i] = (uint32_t)buf[4 * i] | (uint32_t)buf[4 * i + 1] << 8 |
			   (uint32_t)buf[4 * i + 2] << 16 | (uint32_t)buf[4 * i + 3] << 24;
}

/* Compress every block of a chunk but the last; the last is returned undone in @p out. */
static void chunk_output(const uint8_t *p, size_t len, uint64_t chunk_counter, output *out)
{
	uint32_t cv[8];
	uint32_t block[16];
	uint32_t flags = CHUNK_START;

	memcpy(cv, IV, sizeof(cv));
	while (len > BLOCK_LEN) {
		load_block(p, BLOCK_LEN, block);
		compress(cv, block, chunk_counter, BLOCK_LEN, flags, cv);
		flags = 0;
		p += BLOCK_LEN;
		len -= BLOCK_LEN;
	}
	memcpy(out->cv, cv, sizeof(cv));
	load_block(p, len, out->block);
	out->counter = chunk_counter;
	out->block_len = (uint32_t)len;
	out->flags = flags | CHUNK_END;
}

static void output_cv(const output *o, uint32_t cv[8])
{
	compress(o->cv, o->block, o->counter, o->block_len, o->flags, cv);
}

static void parent_output(const uint32_t left[8], const uint32_t right[8], output *out)
{
	memcpy(out->cv, IV, sizeof(out->cv));
	memcpy(out->block, left, 8 * sizeof(uint32_t));
	memcpy(out->block + 8, right, 8 * sizeof(uint32_t));
	out->counter = 0;
	out->block_len = BLOCK_LEN;
	out->flags = PARENT;
}

void vc_blake3(const void *data, size_t len, uint8_t out[VC_BLAKE3_OUT_BYTES])
{
	const uint8_t *p = data;
	uint32_t stack[MAX_DEPTH][8];
	size_t depth = 0;
	uint64_t chunks = len == 0 ? 1 : ((uint64_t)len + CHUNK_LEN - 1) / CHUNK_LEN;
	output o;
	uint32_t cv[8];

	/* Every chunk but the last goes onto the stack; completed subtrees merge as they fill
	 * (after chunk number t, merge once per trailing zero bit of t). */
	for (uint64_t c = 0; c + 1 < chunks; c++) {
		chunk_output(p + c * CHUNK_LEN, CHUNK_LEN, c, &o);
		output_cv(&o, cv);
		for (uint64_t total = c + 1; (total & 1) == 0; total >>= 1) {
			parent_output(stack[--depth], cv, &o);
			output_cv(&o, cv);
		}
		memcpy(stack[depth++], cv, sizeof(cv));
	}
	chunk_output(p + (chunks - 1) * CHUNK_LEN, len - (size_t)(chunks - 1) * CHUNK_LEN,
		     chunks - 1, &o);
	/* The last chunk folds into every subtree still on the stack; the final node is the root.
	 */
	while (depth > 0) {
		output_cv(&o, cv);
		parent_output(stack[--depth], cv, &o);
	}
	compress(o.cv, o.block, o.counter, o.block_len, o.flags | ROOT, cv);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)cv[i];
		out[4 * i + 1] = (uint8_t)(cv[i] >> 8);
		out[4 * i + 2] = (uint8_t)(cv[i] >> 16);
		out[4 * i + 3] = (uint8_t)(cv[i] >> 24);
	}
}
