/*
 * `vchunk export SESSION OUTPUT`: every vector of a session (ours, decrypted, or a legacy one
 * of the original Rust system) into .jsonl (ids, vectors, metadata) or .fvecs (vectors).
 * Floats are printed with nine significant digits, enough for every float32 to parse back to
 * the same bits, so import → export round-trips.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "session/tombstones.h"
#include "format/chunk_codec.h"
#include "util/error_i.h"

/* One exported row; @p metadata is NULL unless the source was asked for it. */
typedef vc_err (*export_row_fn)(void *ctx, const char *id, const float *vector,
				const json_t *metadata);

/* What is exported: one of our sessions, or a legacy one (read-only, in memory). */
typedef struct export_source {
	vc_session *session;
	const vc_manifest *manifest;
	const vc_legacy *legacy;
	bool want_metadata;
	uint32_t dim;
	uint64_t total;
} export_source;

/* Decode a row's metadata when asked, and hand the row to @p fn. */
static vc_err chunk_row(const export_source *src, const vc_chunk *chunk, uint32_t row,
			export_row_fn fn, void *ctx)
{
	const uint8_t *meta = chunk->meta + chunk->meta_offset[row];
	size_t meta_len = chunk->meta_offset[row + 1] - chunk->meta_offset[row];
	json_t *metadata = NULL;
	vc_err err = VC_OK;

	if (src->want_metadata)
		err = vc_meta_decode(meta, meta_len, &metadata);
	if (err != VC_OK)
		return vc_fail_context(err, "metadata of id \"%s\"", chunk->ids[row]);
	err = fn(ctx, chunk->ids[row], chunk->vectors + (size_t)row * chunk->dim, metadata);
	json_decref(metadata);
	return err;
}

/* The live vectors of a legacy session, in its storage order. */
static vc_err legacy_each(const export_source *src, export_row_fn fn, void *ctx)
{
	vc_err err = VC_OK;

	for (size_t i = 0; i < vc_legacy_count(src->legacy) && err == VC_OK; i++) {
		const char *id;
		const float *vector;
		const json_t *metadata;

		err = vc_legacy_get(src->legacy, i, &id, &vector, &metadata);
		if (err == VC_OK)
			err = fn(ctx, id, vector, src->want_metadata ? metadata : NULL);
	}
	return err;
}

/* Call @p fn for every row of every chunk, in stored order. */
static vc_err export_each(const export_source *src, export_row_fn fn, void *ctx)
{
	const vc_manifest *manifest = src->manifest;
	const vc_tombstones *deleted = NULL;
	vc_err err;

	if (src->legacy != NULL)
		return legacy_each(src, fn, ctx);
	/* Deleted rows stay stored until compaction; they are not part of the session. */
	err = vc_session_tombstones(src->session, manifest, &deleted);
	if (err != VC_OK)
		return err;
	for (size_t i = 0; i < manifest->chunk_count; i++) {
		vc_cache_entry *entry;
		const vc_chunk *chunk;
		uint8_t *dead = NULL;

		err = vc_session_chunk_get(src->session, manifest, i, &entry);
		if (err != VC_OK)
			return err;
		chunk = vc_cache_entry_value(entry);
		err = vc_tombstones_chunk_mask(deleted, chunk, &dead);
		for (uint32_t row = 0; row < chunk->count && err == VC_OK; row++)
			if (dead == NULL || !dead[row])
				err = chunk_row(src, chunk, row, fn, ctx);
		free(dead);
		vc_session_chunk_release(src->session, entry);
		if (err != VC_OK)
			return err;
	}
	return VC_OK;
}

/* ---- .jsonl ---- */

static void put_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void put_float(FILE *out, float value)
{
	/* "-0" would parse back as the integer 0 and lose its sign */
	if (value == 0.0f && signbit(value))
		fputs("-0.0", out);
	else
		fprintf(out, "%.9g", (double)value);
}

typedef struct jsonl_ctx {
	FILE *out;
	uint32_t dim;
} jsonl_ctx;

static vc_err jsonl_row(void *ctx, const char *id, const float *v, const json_t *metadata)
{
	jsonl_ctx *j = ctx;
	FILE *out = j->out;

	fputs("{\"id\":", out);
	put_json_string(out, id);
	fputs(",\"vector\":[", out);
	for (uint32_t d = 0; d < j->dim; d++) {
		if (d > 0)
			fputc(',', out);
		put_float(out, v[d]);
	}
	fputc(']', out);
	if (metadata != NULL && !json_is_null(metadata)) {
		fputs(",\"metadata\":", out);
		json_dumpf(metadata, out, JSON_COMPACT | JSON_ENCODE_ANY);
	}
	fputs("}\n", out);
	if (ferror(out))
		return vc_fail(VC_ERR_IO, "writing the export: %s", strerror(errno));
	return VC_OK;
}

/* ---- .fvecs ---- */

typedef struct fvecs_ctx {
	int fd;
	uint32_t dim;
	uint64_t total;
	bool by_id;	  /* rows placed at their numeric id */
	bool not_numeric; /* an id that is not a row number was seen */
	uint8_t *row_buf;
	uint64_t next; /* next sequential row */
} fvecs_ctx;

/* Is @p id a canonical row number ("0", "17", no sign, no leading zero) below @p total? */
static bool row_number(const char *id, uint64_t total, uint64_t *out)
{
	uint64_t value = 0;

	if (id[0] == '\0' || (id[0] == '0' && id[1] != '\0'))
		return false;
	for (const char *p = id; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || value > (UINT64_MAX - 9) / 10)
			return false;
		value = value * 10 + (uint64_t)(*p - '0');
	}
	*out = value;
	return value < total;
}

static vc_err fvecs_row(void *ctx, const char *id, const float *vector, const json_t *metadata)
{
	fvecs_ctx *f = ctx;
	size_t row_bytes = 4 + 4 * (size_t)f->dim;
	uint32_t dim_le = htole32(f->dim);
	uint64_t slot;

	(void)metadata;
	if (f->by_id && !row_number(id, f->total, &slot)) {
		f->not_numeric = true;
		return vc_fail(VC_ERR_INVALID, "id \"%s\" is not a row number", id);
	}
	if (!f->by_id)
		slot = f->next++;
	memcpy(f->row_buf, &dim_le, 4);
	for (uint32_t d = 0; d < f->dim; d++) {
		uint32_t bits;

		memcpy(&bits, &vector[d], 4);
		bits = htole32(bits);
		memcpy(f->row_buf + 4 + 4 * d, &bits, 4);
	}
	if (pwrite(f->fd, f->row_buf, row_bytes, (off_t)(slot * row_bytes)) != (ssize_t)row_bytes)
		return vc_fail(VC_ERR_IO, "writing the export: %s", strerror(errno));
	return VC_OK;
}

static vc_err export_fvecs(const export_source *src, int fd)
{
	fvecs_ctx f = {.fd = fd, .dim = src->dim, .total = src->total, .by_id = true};
	vc_err err;

	f.row_buf = malloc(4 + 4 * (size_t)f.dim);
	if (f.row_buf == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory");
	/* ids that are row numbers (from .fvecs/.npy imports) restore the original order */
	err = export_each(src, fvecs_row, &f);
	if (err != VC_OK && f.not_numeric) {
		f.by_id = false;
		if (ftruncate(fd, 0) != 0)
			err = vc_fail(VC_ERR_IO, "truncating the export: %s", strerror(errno));
		else
			err = export_each(src, fvecs_row, &f);
	}
	free(f.row_buf);
	return err;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s);
	size_t m = strlen(suffix);

	return n > m && strcasecmp(s + n - m, suffix) == 0;
}

static vc_err export_to(export_source *src, const char *output, bool jsonl)
{
	int fd = open(output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	jsonl_ctx j = {.dim = src->dim};
	vc_err err;

	if (fd < 0)
		return vc_fail(errno == EEXIST ? VC_ERR_EXISTS : VC_ERR_IO, "%s: %s", output,
			       strerror(errno));
	if (jsonl) {
		j.out = fdopen(fd, "w");
		if (j.out == NULL) {
			close(fd);
			err = vc_fail(VC_ERR_IO, "%s: %s", output, strerror(errno));
			goto out_unlink;
		}
		src->want_metadata = true;
		err = export_each(src, jsonl_row, &j);
		if (fclose(j.out) != 0 && err == VC_OK)
			err = vc_fail(VC_ERR_IO, "writing %s: %s", output, strerror(errno));
	} else {
		err = export_fvecs(src, fd);
		if (close(fd) != 0 && err == VC_OK)
			err = vc_fail(VC_ERR_IO, "writing %s: %s", output, strerror(errno));
	}
	if (err == VC_OK) {
		fprintf(stderr, "exported %llu vectors to %s\n", (unsigned long long)src->total,
			output);
		return VC_OK;
	}
out_unlink:
	/* a partial export is worse than none */
	unlink(output);
	return err;
}

/* Open SESSION (ours, or a legacy one read-only) and export it. */
static vc_err export_session(const char *uri, vc_cli_keys *keys, const char *output, bool jsonl)
{
	export_source src = {0};
	vc_legacy *legacy = NULL;
	vc_err err = vc_cli_legacy_probe(uri, &legacy);

	if (err != VC_OK)
		return err;
	if (legacy != NULL) {
		src.legacy = legacy;
		src.dim = vc_legacy_dim(legacy);
		src.total = vc_legacy_count(legacy);
		err = export_to(&src, output, jsonl);
		vc_legacy_close(legacy);
		return err;
	}
	err = vc_cli_keys_resolve(keys, false);
	if (err == VC_OK)
		err = vc_cli_open(uri, keys, 0, &src.session);
	if (err != VC_OK)
		return err;
	src.manifest = vc_session_manifest_get(src.session);
	src.dim = src.manifest->dim;
	src.total = src.manifest->total_vectors;
	err = export_to(&src, output, jsonl);
	vc_session_manifest_put(src.session, src.manifest);
	vc_session_close(src.session);
	return err;
}

int vc_cmd_export(const vc_command *command, int argc, char **argv)
{
	vc_cli_keys keys = {0};
	int status = vc_cli_parse_keyed(command, argc, argv, &keys, 2, "missing SESSION or OUTPUT");
	const char *output;
	bool jsonl;
	vc_err err;

	if (status != VC_CLI_CONTINUE)
		return status;
	output = argv[optind + 1];
	jsonl = has_suffix(output, ".jsonl");
	if (!jsonl && !has_suffix(output, ".fvecs"))
		return vc_cli_usage_error(command, "OUTPUT must end in .jsonl or .fvecs");
	err = export_session(argv[optind], &keys, output, jsonl);
	vc_cli_keys_free(&keys);
	return err == VC_OK ? VC_EXIT_OK : vc_cli_fail();
}
