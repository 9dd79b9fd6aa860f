/* Search results and query errors as one line of JSON, written by hand so scores print with
 * the nine digits a float32 needs (not a double's seventeen) while metadata keeps full
 * precision. Used by `vchunk query` and by the mount's query files. */
#include "search/results_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error_i.h"

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

/* Close the memory stream and hand its buffer over, or free it if writing failed. */
static vc_err finish(FILE *out, bool ok, char **buf, size_t *size, char **text, size_t *len)
{
	if (fclose(out) != 0)
		ok = false;
	if (!ok) {
		free(*buf);
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering query results");
	}
	*text = *buf;
	*len = *size;
	return VC_OK;
}

vc_err vc_results_json(const vc_results *results, bool with_stats, char **text, size_t *len)
{
	const vc_query_stats *s = &results->stats;
	char *buf = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&buf, &size);
	bool ok = true;

	if (out == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering query results");
	fputs("{\"results\":[", out);
	for (size_t i = 0; i < results->count && ok; i++) {
		const vc_hit *hit = &results->hits[i];

		fputs(i > 0 ? ",{\"id\":" : "{\"id\":", out);
		put_json_string(out, hit->id);
		fprintf(out, ",\"score\":%.9g,\"metadata\":", (double)hit->score);
		if (hit->metadata == NULL)
			fputs("null", out);
		else if (json_dumpf(hit->metadata, out, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
			ok = false;
		fputc('}', out);
	}
	fputc(']', out);
	if (with_stats)
		fprintf(out,
			",\"stats\":{\"chunks_read\":%llu,\"frames_read\":%llu,\"bytes_read\":%llu,"
			"\"frames_decrypted\":%llu,\"cache_hits\":%llu,\"lists_probed\":%llu,"
			"\"vectors_scored\":%llu,\"elapsed_ms\":%.3f}",
			(unsigned long long)s->chunks_read, (unsigned long long)s->frames_read,
			(unsigned long long)s->bytes_read, (unsigned long long)s->frames_decrypted,
			(unsigned long long)s->cache_hits, (unsigned long long)s->lists_probed,
			(unsigned long long)s->vectors_scored, (double)s->elapsed_ns / 1e6);
	fputs("}\n", out);
	if (ferror(out))
		ok = false;
	return finish(out, ok, &buf, &size, text, len);
}

const char *vc_errno_name(int errnum, char *buf, size_t size)
{
	static const struct {
		int errnum;
		const char *name;
	} names[] = {
	    {EINVAL, "EINVAL"},	      {EIO, "EIO"},
	    {EFBIG, "EFBIG"},	      {ENOMEM, "ENOMEM"},
	    {ENOENT, "ENOENT"},	      {EACCES, "EACCES"},
	    {ETIMEDOUT, "ETIMEDOUT"}, {EOPNOTSUPP, "EOPNOTSUPP"},
	    {EBUSY, "EBUSY"},	      {EEXIST, "EEXIST"},
	    {EPERM, "EPERM"},	      {ENOSPC, "ENOSPC"},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].errnum == errnum)
			return names[i].name;
	snprintf(buf, size, "E%d", errnum);
	return buf;
}

vc_err vc_error_json(int errnum, const char *message, char **text, size_t *len)
{
	char name[16];
	char *buf = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&buf, &size);
	bool ok;

	if (out == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering a query error");
	fputs("{\"error\":{\"code\":", out);
	put_json_string(out, vc_errno_name(errnum, name, sizeof(name)));
	fprintf(out, ",\"errno\":%d,\"message\":", errnum);
	put_json_string(out, message != NULL ? message : "");
	fputs("}}\n", out);
	ok = !ferror(out);
	return finish(out, ok, &buf, &size, text, len);
}
