/* The local directory backend: objects are files under a root directory, replaced atomically
 * (unique temp file, fsync, rename, fsync of the directory). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_i.h"
#include "util/error_i.h"

#define TEMP_PREFIX ".tmp-"
#define TEMP_ATTEMPTS 16

typedef struct dir_store {
	vc_store base;
	char *root; /* without trailing slash, except for "/" itself */
} dir_store;

static dir_store *dir_of(vc_store *store)
{
	return (dir_store *)store;
}

static const char *errno_text(int e, char *buf, size_t size)
{
	return strerror_r(e, buf, size);
}

/*
 * Map a failed system call to an error code with a message naming the file. @p missing is
 * the code for ENOENT/ENOTDIR: "not found" when reading, an I/O error when writing (a missing
 * parent directory then means something removed it under us).
 */
static vc_err fail_errno(int e, vc_err missing, const char *what, const char *file)
{
	char buf[128];
	const char *text = errno_text(e, buf, sizeof(buf));
	vc_err err;

	switch (e) {
	case ENOENT:
	case ENOTDIR: err = missing; break;
	case EACCES:
	case EPERM: err = VC_ERR_PERMISSION; break;
	case ENAMETOOLONG: err = VC_ERR_INVALID; break;
	case ENOMEM: err = VC_ERR_NOMEM; break;
	case EFBIG: err = VC_ERR_TOO_BIG; break;
	default: err = VC_ERR_IO; break;
	}
	return vc_fail(err, "%s %s: %s", what, file, text);
}

/* Defence in depth: callers validate paths, but a path escaping the root must never be used. */
static vc_err full_path(dir_store *d, const char *path, char **out)
{
	vc_err err = vc_store_check_path(path);

	if (err != VC_OK)
		return err;
	if (asprintf(out, "%s/%s", strcmp(d->root, "/") == 0 ? "" : d->root, path) < 0) {
		*out = NULL;
		return vc_fail(VC_ERR_NOMEM, "out of memory building the path of %s", path);
	}
	return VC_OK;
}

static vc_err read_range(int fd, const char *file, uint64_t size, uint64_t offset, uint64_t length,
			 vc_bytes *out)
{
	uint64_t want;
	vc_err err;

	if (offset >= size)
		return VC_OK;
	want = size - offset;
	if (length < want)
		want = length;
	if (want > SIZE_MAX / 2)
		return vc_fail(VC_ERR_TOO_BIG, "reading %s: %llu bytes do not fit in memory", file,
			       (unsigned long long)want);
	err = vc_bytes_reserve(out, (size_t)want);
	if (err != VC_OK)
		return vc_fail_context(err, "reading %s", file);
	while (out->len < want) {
		ssize_t n = pread(fd, out->data + out->len, (size_t)want - out->len,
				  (off_t)(offset + out->len));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail_errno(errno, VC_ERR_NOT_FOUND, "reading", file);
		if (n == 0)
			break; /* the file shrank: return what exists */
		out->len += (size_t)n;
	}
	return VC_OK;
}

static vc_err dir_get(vc_store *store, const char *path, uint64_t offset, uint64_t length,
		      vc_bytes *out)
{
	struct stat st;
	char *file;
	vc_err err;
	int fd = -1;

	err = full_path(dir_of(store), path, &file);
	if (err != VC_OK)
		return err;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = fail_errno(errno, VC_ERR_NOT_FOUND, "opening", file);
		goto out_file;
	}
	if (fstat(fd, &st) != 0) {
		err = fail_errno(errno, VC_ERR_NOT_FOUND, "inspecting", file);
		goto out_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		err = vc_fail(VC_ERR_NOT_FOUND, "reading %s: not a regular file", file);
		goto out_fd;
	}
	err = read_range(fd, file, (uint64_t)st.st_size, offset, length, out);
out_fd:
	close(fd);
out_file:
	free(file);
	return err;
}

/* fsync a directory so a rename, unlink or mkdir inside it survives a crash. */
static vc_err sync_dir(const char *dir)
{
	vc_err err = VC_OK;
	int fd = -1;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(errno, VC_ERR_IO, "opening directory", dir);
	if (fsync(fd) != 0 && errno != EINVAL)
		err = fail_errno(errno, VC_ERR_IO, "syncing directory", dir);
	close(fd);
	return err;
}

/* Create @p dir and its missing parents (mode 0755 less the umask), syncing each new entry. */
static vc_err make_dirs(char *dir)
{
	struct stat st;
	char *slash;
	vc_err err;

	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return VC_OK;
	for (slash = dir + 1;; slash++) {
		char saved;

		if (*slash != '/' && *slash != '\0')
			continue;
		saved = *slash;
		*slash = '\0';
		if (mkdir(dir, 0755) == 0) {
			char *parent_end = strrchr(dir, '/');

			if (parent_end != NULL && parent_end != dir) {
				*parent_end = '\0';
				err = sync_dir(dir);
				*parent_end = '/';
			} else {
				err = sync_dir(parent_end == dir ? "/" : ".");
			}
			if (err != VC_OK) {
				*slash = saved;
				return err;
			}
		} else if (errno != EEXIST) {
			err = fail_errno(errno, VC_ERR_IO, "creating directory", dir);
			*slash = saved;
			return err;
		}
		*slash = saved;
		if (saved == '\0')
			return VC_OK;
	}
}

/* Open a new temp file next to the object; O_EXCL with a random name keeps writers apart and
 * lets the umask decide its final mode (mkstemp would force 0600). */
static vc_err open_temp(const char *dir, char **temp, int *fd)
{
	unsigned char rnd[6];
	int attempt;

	for (attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return fail_errno(errno, VC_ERR_IO, "choosing a temp file name in", dir);
		if (asprintf(temp, "%s/" TEMP_PREFIX "%02x%02x%02x%02x%02x%02x", dir, rnd[0],
			     rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]) < 0) {
			*temp = NULL;
			return vc_fail(VC_ERR_NOMEM, "out of memory writing into %s", dir);
		}
		*fd = open(*temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (*fd >= 0)
			return VC_OK;
		if (errno != EEXIST) {
			vc_err err = fail_errno(errno, VC_ERR_IO, "creating", *temp);

			free(*temp);
			*temp = NULL;
			return err;
		}
		free(*temp);
		*temp = NULL;
	}
	return vc_fail(VC_ERR_IO, "could not find a free temp file name in %s", dir);
}

static vc_err write_all(int fd, const char *file, const uint8_t *data, size_t length)
{
	size_t done = 0;

	while (done < length) {
		ssize_t n = write(fd, data + done, length - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail_errno(errno, VC_ERR_IO, "writing", file);
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		return fail_errno(errno, VC_ERR_IO, "syncing", file);
	return VC_OK;
}

/* Tries of a put whose temp file vanished before its rename: gc sweeping temp files as old as
 * its grace period (0 allows any) may take the one a racing lock attempt has just made. */
#define PUT_TRIES 3

/*
 * Write @p data to a new temp file in @p parent and rename it onto @p file (link it, when
 * @p exclusive). *vanished is set when the temp file was gone by then (nothing was stored).
 */
static vc_err write_via_temp(const char *parent, const char *file, const void *data, size_t length,
			     bool exclusive, bool *vanished)
{
	char *temp = NULL;
	vc_err err;
	int fd = -1;

	*vanished = false;
	err = open_temp(parent, &temp, &fd);
	if (err != VC_OK)
		return err;
	err = write_all(fd, temp, data, length);
	if (close(fd) != 0 && err == VC_OK)
		err = fail_errno(errno, VC_ERR_IO, "closing", temp);
	if (err == VC_OK && (exclusive ? link(temp, file) : rename(temp, file)) != 0) {
		int e = errno;

		*vanished = e == ENOENT && access(temp, F_OK) != 0;
		if (exclusive && e == EEXIST)
			err = vc_fail(VC_ERR_EXISTS, "%s already exists", file);
		else
			err = fail_errno(e, VC_ERR_IO,
					 exclusive ? "linking a temp file to"
						   : "renaming a temp file onto",
					 file);
	}
	if (err != VC_OK || exclusive)
		unlink(temp);
	free(temp);
	return err;
}

/* Write to a temp file, then rename it onto the name, or (exclusive) link it there, which
 * fails if the name exists: an atomic create-if-absent. */
static vc_err dir_write(vc_store *store, const char *path, const void *data, size_t length,
			bool exclusive)
{
	bool vanished;
	char *parent;
	char *file;
	vc_err err;

	err = full_path(dir_of(store), path, &file);
	if (err != VC_OK)
		return err;
	parent = strdup(file);
	if (parent == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory writing %s", file);
		goto out_file;
	}
	/* full_path always puts a '/' before the object path. */
	*strrchr(parent, '/') = '\0';
	err = make_dirs(parent[0] == '\0' ? strcpy(parent, "/") : parent);
	for (int tries = 1; err == VC_OK; tries++) {
		err = write_via_temp(parent, file, data, length, exclusive, &vanished);
		if (err == VC_OK || !vanished || tries == PUT_TRIES)
			break;
		vc_clear_error();
		err = VC_OK;
	}
	if (err == VC_OK)
		err = sync_dir(parent);
	free(parent);
out_file:
	free(file);
	return err;
}

static vc_err dir_put(vc_store *store, const char *path, const void *data, size_t length)
{
	return dir_write(store, path, data, length, false);
}

static vc_err dir_put_new(vc_store *store, const char *path, const void *data, size_t length)
{
	return dir_write(store, path, data, length, true);
}

static vc_err dir_head(vc_store *store, const char *path, uint64_t *size)
{
	struct stat st;
	char *file;
	vc_err err;

	err = full_path(dir_of(store), path, &file);
	if (err != VC_OK)
		return err;
	if (stat(file, &st) != 0)
		err = fail_errno(errno, VC_ERR_NOT_FOUND, "inspecting", file);
	else if (!S_ISREG(st.st_mode))
		err = vc_fail(VC_ERR_NOT_FOUND, "inspecting %s: not a regular file", file);
	else
		*size = (uint64_t)st.st_size;
	free(file);
	return err;
}

static vc_err dir_remove(vc_store *store, const char *path)
{
	char *file;
	vc_err err;

	err = full_path(dir_of(store), path, &file);
	if (err != VC_OK)
		return err;
	if (unlink(file) != 0) {
		if (errno == EISDIR)
			err = vc_fail(VC_ERR_NOT_FOUND, "removing %s: a directory, not an object",
				      file);
		else
			err = fail_errno(errno, VC_ERR_NOT_FOUND, "removing", file);
	} else {
		*strrchr(file, '/') = '\0';
		err = sync_dir(file[0] == '\0' ? "/" : file);
	}
	free(file);
	return err;
}

/* Deepest directory level under the root that a session uses (index/ivf/lists/...). */
#define SWEEP_DEPTH 8

/* Temp files of puts that never reached their rename, in the directory open as @p fd and
 * below it. @p where names it for messages. */
static vc_err sweep_dir(int fd, const char *where, int depth, int64_t before, uint64_t *removed)
{
	DIR *dir = fdopendir(fd);
	struct dirent *ent;
	vc_err err = VC_OK;

	if (dir == NULL) {
		err = fail_errno(errno, VC_ERR_IO, "listing", where);
		close(fd);
		return err;
	}
	while (err == VC_OK && (errno = 0, ent = readdir(dir)) != NULL) {
		struct stat st;

		if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(dir), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* gone meanwhile */
		if (S_ISDIR(st.st_mode) && depth < SWEEP_DEPTH) {
			int sub = openat(dirfd(dir), ent->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				err = sweep_dir(sub, ent->d_name, depth + 1, before, removed);
		} else if (S_ISREG(st.st_mode) &&
			   strncmp(ent->d_name, TEMP_PREFIX, strlen(TEMP_PREFIX)) == 0 &&
			   (int64_t)st.st_mtime <= before) {
			if (unlinkat(dirfd(dir), ent->d_name, 0) == 0)
				(*removed)++;
			else if (errno != ENOENT)
				err = fail_errno(errno, VC_ERR_IO, "removing", ent->d_name);
		}
	}
	if (err == VC_OK && errno != 0)
		err = fail_errno(errno, VC_ERR_IO, "listing", where);
	closedir(dir);
	return err;
}

static vc_err dir_sweep(vc_store *store, int64_t before, uint64_t *removed)
{
	dir_store *d = dir_of(store);
	int fd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return fail_errno(errno, VC_ERR_NOT_FOUND, "opening store directory", d->root);
	return sweep_dir(fd, d->root, 0, before, removed);
}

static vc_err dir_health(vc_store *store)
{
	dir_store *d = dir_of(store);
	int fd = -1;

	fd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(errno, VC_ERR_NOT_FOUND, "opening store directory", d->root);
	close(fd);
	return VC_OK;
}

static void dir_destroy(vc_store *store)
{
	dir_store *d = dir_of(store);

	vc_store_base_release(store);
	free(d->root);
	free(d);
}

static const vc_store_ops dir_ops = {
    .get = dir_get,
    .put = dir_put,
    .head = dir_head,
    .remove = dir_remove,
    .health = dir_health,
    .get_many = NULL,
    .destroy = dir_destroy,
    .put_new = dir_put_new,
    .sweep = dir_sweep,
};

vc_err vc_store_dir_open(const char *root, vc_store **out)
{
	dir_store *d;
	size_t len;
	vc_err err;

	if (root == NULL || root[0] == '\0')
		return vc_fail(VC_ERR_INVALID, "opening a directory store: empty directory path");
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory opening directory store %s", root);
	d->root = strdup(root);
	if (d->root == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory opening directory store %s", root);
		goto fail_store;
	}
	len = strlen(d->root);
	while (len > 1 && d->root[len - 1] == '/')
		d->root[--len] = '\0';
	err = vc_store_base_init(&d->base, &dir_ops, "dir", d->root);
	if (err != VC_OK)
		goto fail_root;
	*out = &d->base;
	return VC_OK;

fail_root:
	free(d->root);
fail_store:
	free(d);
	return err;
}
