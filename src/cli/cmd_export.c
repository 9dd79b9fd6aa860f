/*
 * `vchunk export SESSION OUTPUT`: every vector of a session, decrypted, into .jsonl (ids,
 * vectors, metadata) or .fvecs (vectors). Floats are printed with nine significant digits,
 * enough for every float32 to parse back to the same bits, so import → export round-trips.
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
#include "format/chunk_codec.h"
#include "util/error_i.h"

typedef vc_err (*export_row_fn)(void *ctx, const vc_chunk *chunk, uint32_t row);

/* Call @p fn for every row of every chunk, in stored order. */
static vc_err export_each(vc_session *session, const vc_manifest *manifest, export_row_fn fn,
			  void *ctx)
{
	for (size_t i = 0; i < manifest->chunk_count; i++) {
		vc_cache_entry *entry;
		const vc_chunk *chunk;
		vc_err err = vc_session_chunk_get(session, manifest, i, &entry);

		if (err != VC_OK)
			return err;
		chunk = vc_cache_entry_value(entry);
		for (uint32_t row = 0; row < chunk->count && err == VC_OK; row++)
			err = fn(ctx, chunk, row);
		vc_session_chunk_release(session, entry);
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

static vc_err jsonl_row(void *ctx, const vc_chunk *chunk, uint32_t row)
{
	FILE *out = ctx;
	const float *v = chunk->vectors + (size_t)row * chunk->dim;
	const uint8_t *meta = chunk->meta + chunk->meta_offset[row];
	size_t meta_len = chunk->meta_offset[row + 1] - chunk->meta_offset[row];
	json_t *metadata = NULL;
	vc_err err;

	fputs("{\"id\":", out);
	put_json_string(out, chunk->ids[row]);
	fputs(",\"vector\":[", out);
	for (uint32_t d = 0; d < chunk->dim; d++) {
		if (d > 0)
			fputc(',', out);
		put_float(out, v[d]);
	}
	fputc(']', out);
	err = vc_meta_decode(meta, meta_len, &metadata);
	if (err != VC_OK)
		return vc_fail_context(err, "metadata of id \"%s\"", chunk->ids[row]);
	if (metadata != NULL && !json_is_null(metadata)) {
		fputs(",\"metadata\":", out);
		json_dumpf(metadata, out, JSON_COMPACT | JSON_ENCODE_ANY);
	}
	json_decref(metadata);
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

static vc_err fvecs_row(void *ctx, const vc_chunk *chunk, uint32_t row)
{
	fvecs_ctx *f = ctx;
	size_t row_bytes = 4 + 4 * (size_t)f->dim;
	uint32_t dim_le = htole32(f->dim);
	uint64_t slot;

	if (f->by_id && !row_number(chunk->ids[row], f->total, &slot)) {
		f->not_numeric = true;
		return vc_fail(VC_ERR_INVALID, "id \"%s\" is not a row number", chunk->ids[row]);
	}
	if (!f->by_id)
		slot = f->next++;
	memcpy(f->row_buf, &dim_le, 4);
	for (uint32_t d = 0; d < f->dim; d++) {
		uint32_t bits;

		memcpy(&bits, &chunk->vectors[(size_t)row * f->dim + d], 4);
		bits = htole32(bits);
		memcpy(f->row_buf + 4 + 4 * d, &bits, 4);
	}
	if (pwrite(f->fd, f->row_buf, row_bytes, (off_t)(slot * row_bytes)) != (ssize_t)row_bytes)
		return vc_fail(VC_ERR_IO, "writing the export: %s", strerror(errno));
	return VC_OK;
}

static vc_err export_fvecs(vc_session *session, const vc_manifest *manifest, int fd)
{
	fvecs_ctx f = {
	    .fd = fd, .dim = manifest->dim, .total = manifest->total_vectors, .by_id = true};
	vc_err err;

	f.row_buf = malloc(4 + 4 * (size_t)f.dim);
	if (f.row_buf == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory");
	/* ids that are row numbers (from .fvecs/.npy imports) restore the original order */
	err = export_each(session, manifest, fvecs_row, &f);
	if (err != VC_OK && f.not_numeric) {
		f.by_id = false;
		if (ftruncate(fd, 0) != 0)
			err = vc_fail(VC_ERR_IO, "truncating the export: %s", strerror(errno));
		else
			err = export_each(session, manifest, fvecs_row, &f);
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

static vc_err export_to(vc_session *session, const char *output, bool jsonl)
{
	const vc_manifest *manifest = vc_session_manifest_get(session);
	int fd = open(output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	FILE *out = NULL;
	vc_err err;

	if (fd < 0) {
		err = vc_fail(errno == EEXIST ? VC_ERR_EXISTS : VC_ERR_IO, "%s: %s", output,
			      strerror(errno));
		goto out_manifest;
	}
	if (jsonl) {
		out = fdopen(fd, "w");
		if (out == NULL) {
			close(fd);
			err = vc_fail(VC_ERR_IO, "%s: %s", output, strerror(errno));
			goto out_unlink;
		}
		err = export_each(session, manifest, jsonl_row, out);
		if (fclose(out) != 0 && err == VC_OK)
			err = vc_fail(VC_ERR_IO, "writing %s: %s", output, strerror(errno));
	} else {
		err = export_fvecs(session, manifest, fd);
		if (close(fd) != 0 && err == VC_OK)
			err = vc_fail(VC_ERR_IO, "writing %s: %s", output, strerror(errno));
	}
	if (err == VC_OK) {
		fprintf(stderr, "exported %llu vectors to %s\n",
			(unsigned long long)manifest->total_vectors, output);
		goto out_manifest;
	}
out_unlink:
	/* a partial export is worse than none */
	unlink(output);
out_manifest:
	vc_session_manifest_put(session, manifest);
	return err;
}

int vc_cmd_export(const vc_command *command, int argc, char **argv)
{
	vc_cli_keys keys = {0};
	int status = vc_cli_parse_keyed(command, argc, argv, &keys, 2, "missing SESSION or OUTPUT");
	vc_session *session = NULL;
	const char *output;
	bool jsonl;
	vc_err err;

	if (status != VC_CLI_CONTINUE)
		return status;
	output = argv[optind + 1];
	jsonl = has_suffix(output, ".jsonl");
	if (!jsonl && !has_suffix(output, ".fvecs"))
		return vc_cli_usage_error(command, "OUTPUT must end in .jsonl or .fvecs");
	err = vc_cli_keys_resolve(&keys, false);
	if (err == VC_OK)
		err = vc_cli_open(argv[optind], &keys, 0, &session);
	if (err == VC_OK)
		err = export_to(session, output, jsonl);
	vc_session_close(session);
	vc_cli_keys_free(&keys);
	return err == VC_OK ? VC_EXIT_OK : vc_cli_fail();
}
