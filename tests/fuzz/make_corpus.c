/* Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/): a few valid objects
 * made with the fixed fuzz key, so the fuzzers start deep inside the decoders. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/chunk_codec.h"
#include "format/manifest_codec.h"
#include "fuzz_common.h"

static void write_seed(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void check(vc_err err)
{
	if (err != VC_OK) {
		fprintf(stderr, "make_corpus: %s\n", vc_last_error());
		exit(1);
	}
}

static void chunk_seeds(const char *dir)
{
	vc_object_ctx ctx = {fuzz_keyring(), fuzz_session_id(), VC_OBJECT_CHUNK,
			     "chunks/chunk-1.cbor"};
	vc_bytes stored = {0}, plain = {0};
	vc_chunk_builder *b;
	uint64_t plain_size;
	uint32_t frames;
	float v[4];
	char id[16];

	for (int mode = 0; mode < 2; mode++) {
		check(vc_chunk_builder_new(1, 4, &b));
		for (int i = 0; i < 6; i++) {
			json_t *meta = json_pack("{s:i, s:[s, f], s:b}", "n", i, "tags", "x",
						 i * 0.5, "ok", i % 2);

			if (i % 3 == 0)
				check(vc_chunk_builder_frame(b, i / 3));
			for (int j = 0; j < 4; j++)
				v[j] = (float)(i * 4 + j) * 0.25f;
			snprintf(id, sizeof(id), "id-%d", i);
			check(vc_chunk_builder_add(b, id, v, i == 4 ? NULL : meta));
			json_decref(meta);
		}
		check(vc_chunk_builder_finish(b, &ctx, &stored, &plain_size, &frames));
		write_seed(dir, mode == 0 ? "sealed-encrypted" : "sealed-plaintext", stored.data,
			   stored.len);
		if (mode == 0) {
			vc_frame_loc *locs;
			uint32_t count;
			uint8_t frame[512];

			check(vc_envelope_open_all(&ctx, stored.data, stored.len, &plain));
			write_seed(dir, "document", plain.data, plain.len);
			vc_bytes_free(&plain);
			check(vc_envelope_frames(&ctx, stored.data, stored.len, &locs, &count));
			if (count < 2 || locs[1].plain_len > sizeof(frame))
				abort();
			check(vc_envelope_open_frame(&ctx, 1, count, &locs[1],
						     stored.data + locs[1].offset, frame));
			write_seed(dir, "frame", frame, locs[1].plain_len);
			free(locs);
		}
		vc_bytes_free(&stored);
		ctx.keyring = NULL;
	}
}

static void manifest_seeds(const char *dir)
{
	vc_manifest m;
	vc_chunk_ref chunk;
	vc_object_ref object;
	vc_bytes text = {0};

	memset(&m, 0, sizeof(m));
	memset(&chunk, 0, sizeof(chunk));
	memset(&object, 0, sizeof(object));
	m.format_version = VC_FORMAT_VERSION;
	m.version = VC_MANIFEST_LAYOUT_VERSION;
	m.epoch = 3;
	memcpy(m.session_id, fuzz_session_id(), VC_SESSION_ID_BYTES);
	m.dim = 4;
	m.metric = VC_METRIC_COSINE;
	m.chunk_size = 100;
	m.created_at = 1700000000;
	m.committed_at = 1700000100;
	m.next_chunk_id = 2;
	m.total_vectors = 6;
	chunk.chunk_id = 1;
	chunk.vector_count = 6;
	chunk.object.path = "chunks/chunk-1.cbor";
	chunk.object.plain_size = 400;
	chunk.object.frame_count = 3;
	chunk.object.byte_size = 60 + 48 * 3 + 400;
	object.path = "metadata.cbor";
	object.plain_size = 10;
	object.frame_count = 1;
	object.byte_size = 60 + 48 + 10;
	m.chunks = &chunk;
	m.chunk_count = 1;
	m.objects = &object;
	m.object_count = 1;
	check(vc_manifest_serialize(&m, NULL, &text));
	write_seed(dir, "plaintext.json", text.data, text.len);
	vc_bytes_free(&text);
	m.encryption.enabled = true;
	strcpy(m.encryption.kdf, "argon2id13");
	m.encryption.opslimit = 2;
	m.encryption.memlimit = 67108864;
	memcpy(m.encryption.key_id, fuzz_keyring()->key_id, VC_KEY_ID_BYTES);
	check(vc_manifest_serialize(&m, fuzz_keyring(), &text));
	write_seed(dir, "encrypted.json", text.data, text.len);
	vc_bytes_free(&text);
}

static void meta_seeds(const char *dir)
{
	static const char *values[] = {
	    "{\"genre\": \"jazz\", \"year\": 1959, \"tags\": [\"modal\", 1.5, null, true]}",
	    "[1, -1, 4294967296, -9223372036854775808, \"caf\\u00e9\", {\"a\": {\"b\": []}}]",
	};
	static const uint8_t halves[] = {0x83, 0xf9, 0x3c, 0x00, 0xfa,
					 0x47, 0xc3, 0x50, 0x00, 0xf4};
	char name[16];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		json_t *v = json_loads(values[i], JSON_DECODE_ANY, NULL);
		vc_bytes cbor = {0};

		check(vc_meta_encode(v, &cbor));
		snprintf(name, sizeof(name), "item-%zu", i);
		write_seed(dir, name, cbor.data, cbor.len);
		vc_bytes_free(&cbor);
		json_decref(v);
	}
	write_seed(dir, "floats", halves, sizeof(halves));
}

int main(int argc, char **argv)
{
	char dir[512];

	if (argc != 2) {
		fprintf(stderr, "usage: make_corpus CORPUS_DIR\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/fuzz_chunk", argv[1]);
	chunk_seeds(dir);
	snprintf(dir, sizeof(dir), "%s/fuzz_manifest", argv[1]);
	manifest_seeds(dir);
	snprintf(dir, sizeof(dir), "%s/fuzz_meta", argv[1]);
	meta_seeds(dir);
	return 0;
}
