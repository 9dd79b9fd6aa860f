/* The callbacks that change something: writes and truncation of the query files, mkdir and
 * rmdir of named queries, and EROFS for every other change (the mount is not made with the
 * kernel's read-only flag, so that the query files can be written). Also the per-kind open,
 * read and release of the query files, vectors/ and index/. */
#include "fs/legacy_fs.h"
#include "fs/query.h"
#include "fs/write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define QUERIES_PREFIX "/queries/"
#define QUERIES_PREFIX_LEN (sizeof(QUERIES_PREFIX) - 1)

bool vc_fs_node_writable(vc_fs_node_kind kind)
{
	return kind == VC_NODE_QUERY || kind == VC_NODE_NAMED_QUERY || kind == VC_NODE_INGEST ||
	       kind == VC_NODE_DELETE || kind == VC_NODE_CTL;
}

static vc_fs_file *file_of(struct fuse_file_info *fi)
{
	return fi != NULL && fi->fh != 0 ? (vc_fs_file *)(uintptr_t)fi->fh : NULL;
}

static int open_named(vc_fs *fs, vc_fs_file *file, struct fuse_file_info *fi)
{
	vc_fs_named *named = vc_fs_named_get(fs, file->node.name, strlen(file->node.name));
	int rc;

	if (named == NULL)
		return -ENOENT;
	rc = vc_fs_named_access(named);
	if (rc == 0 && file->node.kind == VC_NODE_NAMED_RESULTS &&
	    (fi->flags & O_ACCMODE) != O_RDONLY)
		rc = -EACCES; /* results are read-only */
	/* With atomic O_TRUNC the kernel leaves the truncation to open. */
	if (rc == 0 && file->node.kind == VC_NODE_NAMED_QUERY && (fi->flags & O_TRUNC))
		rc = vc_fs_query_truncate(fs, &named->query, 0);
	if (rc != 0) {
		vc_fs_named_put(named);
		return rc;
	}
	file->named = named;
	fi->direct_io = 1; /* sizes change with every write and run */
	return 0;
}

int vc_fs_open_more(vc_fs *fs, vc_fs_file *file, struct fuse_file_info *fi)
{
	switch (file->node.kind) {
	case VC_NODE_QUERY:
		file->query = malloc(sizeof(*file->query));
		if (file->query == NULL)
			return -ENOMEM;
		vc_fs_query_init(file->query);
		fi->direct_io = 1;
		return 0;
	case VC_NODE_NAMED_QUERY:
	case VC_NODE_NAMED_RESULTS: return open_named(fs, file, fi);
	case VC_NODE_VECTOR:
	case VC_NODE_INDEX_FILE:
		/* Looked up or decrypted once per open; reads copy from this buffer. */
		fi->direct_io = file->node.kind == VC_NODE_VECTOR;
		return vc_fs_lookup_render(fs, file->snapshot, &file->node, &file->text,
					   &file->text_len);
	case VC_NODE_INGEST:
	case VC_NODE_DELETE:
	case VC_NODE_CTL: return vc_fs_write_open(fs, file, fi);
	default: return -EISDIR;
	}
}

static int copy_text(const vc_fs_file *file, char *buf, size_t size, off_t offset)
{
	size_t n;

	if (offset < 0 || (uint64_t)offset >= file->text_len)
		return 0;
	n = file->text_len - (size_t)offset;
	if (n > size)
		n = size;
	memcpy(buf, file->text + offset, n);
	return (int)n;
}

int vc_fs_read_more(vc_fs *fs, vc_fs_file *file, char *buf, size_t size, off_t offset)
{
	switch (file->node.kind) {
	case VC_NODE_QUERY: return vc_fs_query_read(fs, file->query, buf, size, offset);
	case VC_NODE_NAMED_QUERY:
		return vc_fs_query_read_input(&file->named->query, buf, size, offset);
	case VC_NODE_NAMED_RESULTS:
		return vc_fs_query_read(fs, &file->named->query, buf, size, offset);
	case VC_NODE_VECTOR:
	case VC_NODE_INDEX_FILE: return copy_text(file, buf, size, offset);
	case VC_NODE_CTL: return vc_fs_write_read_ctl(fs, file, buf, size, offset);
	case VC_NODE_INGEST:
	case VC_NODE_DELETE: return -EBADF; /* opened for writing only */
	default: return -EISDIR;
	}
}

void vc_fs_file_free_more(vc_fs_file *file)
{
	if (file->query != NULL) {
		vc_fs_query_destroy(file->query);
		free(file->query);
		file->query = NULL;
	}
	vc_fs_named_put(file->named);
	file->named = NULL;
	vc_fs_write_file_free(file);
}

static int fs_write(const char *path, const char *buf, size_t size, off_t offset,
		    struct fuse_file_info *fi)
{
	vc_fs *fs = vc_fs_get();
	vc_fs_file *file = file_of(fi);

	(void)path;
	if (file != NULL && file->query != NULL)
		return vc_fs_query_write(fs, file->query, buf, size, offset);
	if (file != NULL && file->named != NULL && file->node.kind == VC_NODE_NAMED_QUERY)
		return vc_fs_query_write(fs, &file->named->query, buf, size, offset);
	if (file != NULL && file->writer != NULL)
		return vc_fs_write_data(fs, file, buf, size); /* streams: the offset is ignored */
	return -EROFS;
}

/* The node @p path names: in the legacy view, or in the mount's current epoch. */
static int resolve_path(vc_fs *fs, const char *path, vc_fs_node *node)
{
	vc_fs_snapshot *snapshot;
	int rc;

	if (fs->legacy_view != NULL)
		return vc_fs_legacy_resolve(fs, path, node);
	snapshot = vc_fs_snapshot_get(fs);
	rc = vc_fs_resolve(snapshot, path, node);
	vc_fs_snapshot_put(fs, snapshot);
	return rc;
}

/* The query of @p path (or of the open file), for truncate and utimens; -EROFS if none. */
static int query_target(vc_fs *fs, const char *path, struct fuse_file_info *fi, vc_fs_query **query,
			vc_fs_named **named)
{
	vc_fs_file *file = file_of(fi);
	vc_fs_node node;
	int rc;

	*query = NULL;
	*named = NULL;
	if (file != NULL) {
		if (file->writer != NULL)
			return 0; /* ingest, delete, ctl: streams, nothing to cut */
		if (file->query != NULL)
			*query = file->query;
		else if (file->named != NULL && file->node.kind == VC_NODE_NAMED_QUERY)
			*query = &file->named->query;
		return *query != NULL ? 0 : -EROFS;
	}
	rc = resolve_path(fs, path, &node);
	if (rc != 0)
		return rc;
	if (node.kind == VC_NODE_QUERY || node.kind == VC_NODE_INGEST ||
	    node.kind == VC_NODE_DELETE || node.kind == VC_NODE_CTL)
		return 0; /* a path names no open file's query, and the rest are streams */
	if (node.kind != VC_NODE_NAMED_QUERY)
		return -EROFS;
	*named = vc_fs_named_get(fs, node.name, strlen(node.name));
	if (*named == NULL)
		return -ENOENT;
	rc = vc_fs_named_access(*named);
	*query = &(*named)->query;
	return rc;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	vc_fs *fs = vc_fs_get();
	vc_fs_query *query;
	vc_fs_named *named;
	int rc = query_target(fs, path, fi, &query, &named);

	if (rc == 0 && query != NULL)
		rc = vc_fs_query_truncate(fs, query, size);
	vc_fs_named_put(named);
	return rc;
}

/* touch(1) on a query file succeeds and changes nothing; times elsewhere are read-only. */
static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	vc_fs *fs = vc_fs_get();
	vc_fs_query *query;
	vc_fs_named *named;
	int rc = query_target(fs, path, fi, &query, &named);

	(void)tv;
	vc_fs_named_put(named);
	return rc;
}

/* The NAME of "/queries/NAME", or NULL when @p path is anything else. */
static const char *named_path(const char *path)
{
	const char *name;

	if (strncmp(path, QUERIES_PREFIX, QUERIES_PREFIX_LEN) != 0)
		return NULL;
	name = path + QUERIES_PREFIX_LEN;
	return *name != '\0' && strchr(name, '/') == NULL ? name : NULL;
}

static int fs_mkdir(const char *path, mode_t mode)
{
	const char *name = named_path(path);

	(void)mode;
	if (name == NULL)
		return -EROFS;
	return vc_fs_named_create(vc_fs_get(), name);
}

/* rmdir removes a named query, although it always holds its two files. */
static int fs_rmdir(const char *path)
{
	const char *name = named_path(path);

	if (name == NULL)
		return -EROFS;
	return vc_fs_named_remove(vc_fs_get(), name);
}

static int fs_unlink(const char *path)
{
	/* The files of a named query go with it (rmdir), not one by one. */
	if (named_path(path) == NULL && strncmp(path, QUERIES_PREFIX, QUERIES_PREFIX_LEN) == 0)
		return -EPERM;
	return -EROFS;
}

static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return -EROFS;
}

static int fs_mknod(const char *path, mode_t mode, dev_t dev)
{
	(void)path;
	(void)mode;
	(void)dev;
	return -EROFS;
}

static int fs_symlink(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EROFS;
}

static int fs_rename(const char *from, const char *to, unsigned int flags)
{
	(void)from;
	(void)to;
	(void)flags;
	return -EROFS;
}

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	(void)path;
	(void)mode;
	(void)fi;
	return -EROFS;
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)path;
	(void)uid;
	(void)gid;
	(void)fi;
	return -EROFS;
}

/* fsync of ingest or delete commits the pending batch; queries live in memory only. */
static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	vc_fs_file *file = file_of(fi);

	(void)path;
	(void)datasync;
	if (file != NULL && file->writer != NULL)
		return vc_fs_write_commit_file(vc_fs_get(), file, VC_FS_COMMIT_FSYNC);
	return 0;
}

/* close(2): the commit of ingest and delete, its errno returned by close. */
static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	vc_fs_file *file = file_of(fi);

	(void)path;
	if (file != NULL && file->writer != NULL)
		return vc_fs_write_commit_file(vc_fs_get(), file, VC_FS_COMMIT_FLUSH);
	return 0;
}

static void fs_destroy(void *private_data)
{
	vc_fs *fs = private_data;

	vc_fs_queries_free(fs->queries);
	fs->queries = NULL;
	/* Files the kernel never released are freed later (vc_fs_files_release_all): each holds
	 * a reference to the write state, which goes with the last of them. */
	vc_fs_writes_free(fs->writes);
	fs->writes = NULL;
}

void vc_fs_query_operations(struct fuse_operations *ops)
{
	ops->write = fs_write;
	ops->truncate = fs_truncate;
	ops->utimens = fs_utimens;
	ops->mkdir = fs_mkdir;
	ops->rmdir = fs_rmdir;
	ops->unlink = fs_unlink;
	ops->create = fs_create;
	ops->mknod = fs_mknod;
	ops->symlink = fs_symlink;
	ops->link = fs_symlink;
	ops->rename = fs_rename;
	ops->chmod = fs_chmod;
	ops->chown = fs_chown;
	ops->fsync = fs_fsync;
	ops->flush = fs_flush;
	ops->destroy = fs_destroy;
}
