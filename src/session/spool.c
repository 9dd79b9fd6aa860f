/* The writer's spool of rows for an indexed import: unlinked temporary files, read back mapped. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "session/spool.h"
#include "util/error_i.h"

/* An unlinked read-write file in $TMPDIR: O_TMPFILE where the filesystem has it, else a named
 * file removed at once. */
static vc_err temp_file(FILE **out)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(path, sizeof(path), "%s/vchunk-spool-XXXXXX", dir);
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)
		return vc_fail(VC_ERR_IO, "cannot create a temporary file in %s (TMPDIR): %s", dir,
			       strerror(errno));
	*out = fdopen(fd, "w+");
	if (*out == NULL) {
		close(fd);
		return vc_fail(VC_ERR_NOMEM, "cannot open a temporary file in %s", dir);
	}
	setvbuf(*out, NULL, _IOFBF, 1 << 20);
	return VC_OK;
}

vc_err vc_spool_open(vc_spool *spool, uint32_t dim)
{
	vc_err err;

	memset(spool, 0, sizeof(*spool));
	spool->dim = dim;
	err = temp_file(&spool->vectors_file);
	if (err == VC_OK)
		err = temp_file(&spool->records_file);
	if (err != VC_OK)
		vc_spool_close(spool);
	return err;
}

vc_err vc_spool_add(vc_spool *spool, const char *id, const float *vector, const vc_bytes *meta)
{
	size_t id_len = strlen(id) + 1;

	if (spool->rows == spool->record_cap) {
		uint64_t cap = spool->record_cap ? spool->record_cap * 2 : 4096;
		uint64_t *grown = realloc(spool->record_end, cap * sizeof(*grown));

		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory spooling %llu rows",
				       (unsigned long long)cap);
		spool->record_end = grown;
		spool->record_cap = cap;
	}
	if (fwrite(vector, sizeof(float), spool->dim, spool->vectors_file) != spool->dim ||
	    fwrite(id, 1, id_len, spool->records_file) != id_len ||
	    fwrite(meta->data, 1, meta->len, spool->records_file) != meta->len)
		return vc_fail(VC_ERR_IO, "cannot write the import spool in TMPDIR: %s",
			       strerror(errno));
	spool->record_bytes += id_len + meta->len;
	spool->record_end[spool->rows++] = spool->record_bytes;
	return VC_OK;
}

static vc_err map_file(FILE *file, size_t len, const void **out)
{
	void *p;

	if (fflush(file) != 0)
		return vc_fail(VC_ERR_IO, "cannot write the import spool in TMPDIR: %s",
			       strerror(errno));
	if (len == 0) {
		*out = NULL;
		return VC_OK;
	}
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fileno(file), 0);
	if (p == MAP_FAILED)
		return vc_fail(VC_ERR_NOMEM, "cannot map the import spool: %s", strerror(errno));
	*out = p;
	return VC_OK;
}

vc_err vc_spool_map(vc_spool *spool)
{
	const void *p = NULL;
	vc_err err;

	spool->vectors_len = (size_t)spool->rows * spool->dim * sizeof(float);
	spool->records_len = (size_t)spool->record_bytes;
	err = map_file(spool->vectors_file, spool->vectors_len, &p);
	if (err != VC_OK)
		return err;
	spool->vectors = p;
	err = map_file(spool->records_file, spool->records_len, &p);
	if (err != VC_OK)
		return err;
	spool->records = p;
	return VC_OK;
}

void vc_spool_record(const vc_spool *spool, uint64_t i, const char **id, const uint8_t **meta,
		     size_t *meta_len)
{
	uint64_t start = i > 0 ? spool->record_end[i - 1] : 0;
	const char *p = (const char *)spool->records + start;
	size_t id_len = strlen(p) + 1;

	*id = p;
	*meta = spool->records + start + id_len;
	*meta_len = (size_t)(spool->record_end[i] - start - id_len);
}

void vc_spool_drop_pages(const vc_spool *spool)
{
	/* The pages are clean file pages: dropping them from this mapping only lowers RSS. */
	if (spool->vectors != NULL)
		madvise((void *)spool->vectors, spool->vectors_len, MADV_DONTNEED);
	if (spool->records != NULL)
		madvise((void *)spool->records, spool->records_len, MADV_DONTNEED);
}

void vc_spool_close(vc_spool *spool)
{
	if (spool->vectors != NULL)
		munmap((void *)spool->vectors, spool->vectors_len);
	if (spool->records != NULL)
		munmap((void *)spool->records, spool->records_len);
	if (spool->vectors_file != NULL)
		fclose(spool->vectors_file);
	if (spool->records_file != NULL)
		fclose(spool->records_file);
	free(spool->record_end);
	memset(spool, 0, sizeof(*spool));
}
