/* The FUSE file callbacks: open, read, release, statfs, init, and the operations table.
 * Chunks are served from the session's cache of decrypted plaintext: copied (a read pins the
 * chunk while it copies) or, with -o direct_io, spliced without a copy (read_pipe.h). */
#include "fs/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "fs/log.h"
#include "fs/query.h"
#include "fs/read_pipe.h"
#include "fs/write.h"
#include "util/error_i.h"

#define STATFS_BLOCK 4096u

/*
 * When a read fails, the kernel retries it at once (a failed readahead is followed by a
 * plain read of the same range). Answering that retry from the failure just seen, for this
 * long on the same open file, keeps one read(2) within one backend bound.
 */
#define FAILURE_HOLD_NS 1000000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static vc_fs_file *file_of(struct fuse_file_info *fi)
{
	return (vc_fs_file *)(uintptr_t)fi->fh;
}

static void file_link(vc_fs *fs, vc_fs_file *file)
{
	pthread_mutex_lock(&fs->files_lock);
	file->prev = NULL;
	file->next = fs->files;
	if (fs->files != NULL)
		fs->files->prev = file;
	fs->files = file;
	pthread_mutex_unlock(&fs->files_lock);
}

static void file_unlink(vc_fs *fs, vc_fs_file *file)
{
	pthread_mutex_lock(&fs->files_lock);
	if (file->prev != NULL)
		file->prev->next = file->next;
	else
		fs->files = file->next;
	if (file->next != NULL)
		file->next->prev = file->prev;
	pthread_mutex_unlock(&fs->files_lock);
}

static void file_free(vc_fs *fs, vc_fs_file *file)
{
	if (file->snapshot != NULL)
		vc_fs_snapshot_put(fs, file->snapshot);
	vc_fs_file_free_more(file);
	free(file->text);
	free(file);
}

/* Per-kind work at open: render stats, build metadata, choose the kernel caching. */
static int open_node(vc_fs *fs, vc_fs_file *file, struct fuse_file_info *fi)
{
	const char *text;
	size_t len;
	vc_err err;

	switch (file->node.kind) {
	case VC_NODE_STATS:
		err = vc_fs_stats_render(fs, &file->text, &file->text_len);
		if (err != VC_OK)
			return -vc_err_errno(err);
		/* Each open sees its own text, whatever size getattr said. */
		fi->direct_io = 1;
		return 0;
	case VC_NODE_METADATA:
		err = vc_fs_snapshot_metadata(fs, file->snapshot, &text, &len);
		if (err != VC_OK)
			return vc_fs_fail(fs, "reading", "metadata.cbor", err);
		return 0; /* changes with the epoch under the same name: no keep_cache */
	case VC_NODE_CHUNK:
		/*
		 * A chunk id is never reused, so this name always holds these bytes: the kernel
		 * may keep them across opens. With -o direct_io every read(2) goes to us as one
		 * request of up to max_read instead (see docs/MOUNT.md, Performance).
		 */
		if (fs->options->direct_io)
			fi->direct_io = 1;
		else
			fi->keep_cache = 1;
		return 0;
	case VC_NODE_MANIFEST: return 0;
	default: return vc_fs_open_more(fs, file, fi); /* query files, vectors/, index/ */
	}
}

/* Resolve @p path in the current epoch into a new file handle (directories too). */
static int file_open(vc_fs *fs, const char *path, struct fuse_file_info *fi, bool want_dir)
{
	vc_fs_file *file = calloc(1, sizeof(*file));
	int rc;

	if (file == NULL)
		return -ENOMEM;
	file->snapshot = vc_fs_snapshot_get(fs);
	rc = vc_fs_resolve(file->snapshot, path, &file->node);
	if (rc == 0 && vc_fs_node_is_dir(file->node.kind) != want_dir)
		rc = want_dir ? -ENOTDIR : -EISDIR;
	/* Only the query files take writes; everything else is read-only. */
	if (rc == 0 && !want_dir &&
	    ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) &&
	    !vc_fs_node_writable(file->node.kind))
		rc = -EROFS;
	if (rc == 0 && !want_dir)
		rc = open_node(fs, file, fi);
	if (rc != 0) {
		file_free(fs, file);
		return rc;
	}
	file_link(fs, file);
	fi->fh = (uint64_t)(uintptr_t)file;
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	vc_fs *fs = vc_fs_get();
	int rc;

	rc = file_open(fs, path, fi, false);
	if (rc == 0)
		atomic_fetch_add(&fs->counters.opens, 1);
	return rc;
}

static int fs_opendir(const char *path, struct fuse_file_info *fi)
{
	return file_open(vc_fs_get(), path, fi, true);
}

/* The chunk's plaintext for one read: 0 with *entry referenced, or a negated errno. */
static int chunk_plain(vc_fs *fs, vc_fs_file *file, vc_cache_entry **entry, const vc_bytes **plain)
{
	const vc_manifest *manifest = file->snapshot->manifest;
	const vc_object_ref *object = &manifest->chunks[file->node.chunk_index].object;
	uint64_t failed_at = atomic_load(&file->failed_at_ns);
	vc_err err;
	int rc;

	if (failed_at != 0 && now_ns() - failed_at < FAILURE_HOLD_NS)
		return -atomic_load(&file->failed_errno);
	err = vc_session_chunk_plain_get(fs->session, manifest, file->node.chunk_index, entry);
	if (err != VC_OK) {
		rc = vc_fs_fail(fs, "reading", object->path, err);
		atomic_store(&file->failed_errno, -rc);
		atomic_store(&file->failed_at_ns, now_ns());
		return rc;
	}
	*plain = vc_cache_entry_value(*entry);
	if ((*plain)->len != object->plain_size) {
		vc_session_chunk_release(fs->session, *entry);
		vc_fail(VC_ERR_CORRUPT, "decrypted size %zu, manifest says %llu", (*plain)->len,
			(unsigned long long)object->plain_size);
		return vc_fs_fail(fs, "reading", object->path, VC_ERR_CORRUPT);
	}
	return 0;
}

static int read_chunk(vc_fs *fs, vc_fs_file *file, char *buf, size_t size, off_t offset)
{
	const vc_object_ref *object =
	    &file->snapshot->manifest->chunks[file->node.chunk_index].object;
	vc_cache_entry *entry;
	const vc_bytes *plain;
	size_t n;
	int rc;

	if (offset < 0 || (uint64_t)offset >= object->plain_size)
		return 0;
	rc = chunk_plain(fs, file, &entry, &plain);
	if (rc != 0)
		return rc;
	n = vc_fs_copy_range(buf, size, offset, plain->data, plain->len);
	vc_session_chunk_release(fs->session, entry);
	return (int)n;
}

/*
 * A chunk read answered from the cached plaintext through this thread's pipe, without a copy
 * here (read_pipe.h). 0 with *bufp set, 1 when the caller should copy instead, or a negated
 * errno.
 */
static int read_chunk_pipe(vc_fs *fs, vc_fs_file *file, struct fuse_bufvec **bufp, size_t size,
			   off_t offset)
{
	const vc_object_ref *object =
	    &file->snapshot->manifest->chunks[file->node.chunk_index].object;
	vc_cache_entry *entry;
	const vc_bytes *plain;
	size_t n;
	vc_err err;
	int rc;

	if (offset < 0 || (uint64_t)offset >= object->plain_size)
		return 1; /* end of file: an empty copy */
	rc = chunk_plain(fs, file, &entry, &plain);
	if (rc != 0)
		return rc;
	n = plain->len - (size_t)offset;
	if (n > size)
		n = size;
	err = vc_fs_pipe_reply(fs->session, entry, file, plain->data + offset, n, bufp);
	if (err != VC_OK || *bufp == NULL) {
		vc_session_chunk_release(fs->session, entry);
		return err != VC_OK ? vc_fs_fail(fs, "reading", object->path, err) : 1;
	}
	atomic_fetch_add(&fs->counters.reads, 1);
	atomic_fetch_add(&fs->counters.bytes_served, (uint64_t)n);
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t offset,
		   struct fuse_file_info *fi)
{
	vc_fs *fs = vc_fs_get();
	vc_fs_file *file = file_of(fi);
	const vc_fs_snapshot *snapshot = file->snapshot;
	int n;

	(void)path;
	/* FUSE never asks for more than max_read, which fits an int. */
	switch (file->node.kind) {
	case VC_NODE_MANIFEST:
		n = (int)vc_fs_copy_range(buf, size, offset, snapshot->manifest_bytes.data,
					  snapshot->manifest_bytes.len);
		break;
	case VC_NODE_METADATA:
		n = (int)vc_fs_copy_range(buf, size, offset, snapshot->metadata_json,
					  snapshot->metadata_len);
		break;
	case VC_NODE_STATS:
		n = (int)vc_fs_copy_range(buf, size, offset, file->text, file->text_len);
		break;
	case VC_NODE_CHUNK: n = read_chunk(fs, file, buf, size, offset); break;
	default: n = vc_fs_read_more(fs, file, buf, size, offset); break;
	}
	if (n >= 0) {
		atomic_fetch_add(&fs->counters.reads, 1);
		atomic_fetch_add(&fs->counters.bytes_served, (uint64_t)n);
	}
	return n;
}

/* libfuse calls this instead of read: chunks go through the pipe, the rest is copied. */
static int fs_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t offset,
		       struct fuse_file_info *fi)
{
	vc_fs_file *file = file_of(fi);
	struct fuse_bufvec *buf;
	void *mem;
	int n;

	if (file->node.kind == VC_NODE_CHUNK) {
		n = read_chunk_pipe(vc_fs_get(), file, bufp, size, offset);
		if (n <= 0)
			return n;
	}
	/* libfuse frees both with free() after replying. */
	buf = malloc(sizeof(*buf));
	mem = malloc(size > 0 ? size : 1);
	if (buf == NULL || mem == NULL) {
		free(buf);
		free(mem);
		return -ENOMEM;
	}
	n = fs_read(path, mem, size, offset, fi);
	if (n < 0) {
		free(buf);
		free(mem);
		return n;
	}
	*buf = (struct fuse_bufvec)FUSE_BUFVEC_INIT((size_t)n);
	buf->buf[0].mem = mem;
	*bufp = buf;
	return 0;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	vc_fs *fs = vc_fs_get();

	(void)path;
	/* Every read of this file has returned: its spliced replies are in the reader's pages. */
	if (fs->options->direct_io && file_of(fi)->node.kind == VC_NODE_CHUNK)
		vc_fs_pipe_release_owner(file_of(fi));
	/* ingest, delete: lines left pending by closes outside the opener are committed now
	 * (the outcome goes to ctl and the log: release has nobody to answer). */
	if (file_of(fi)->writer != NULL &&
	    vc_fs_write_commit_file(fs, file_of(fi), VC_FS_COMMIT_RELEASE) != 0)
		vc_fs_log(LOG_WARNING, "commit at the last close of %s failed (see ctl)",
			  file_of(fi)->node.kind == VC_NODE_INGEST ? "ingest" : "delete");
	file_unlink(fs, file_of(fi));
	file_free(fs, file_of(fi));
	return 0;
}

vc_fs_snapshot *vc_fs_open_file_snapshot(vc_fs *fs, const char *path, vc_fs_node *node)
{
	vc_fs_snapshot *found = NULL;

	pthread_mutex_lock(&fs->files_lock);
	for (vc_fs_file *file = fs->files; file != NULL && found == NULL; file = file->next) {
		vc_fs_node candidate;

		if (vc_fs_resolve(file->snapshot, path, &candidate) == 0 &&
		    candidate.kind == file->node.kind &&
		    candidate.chunk_index == file->node.chunk_index) {
			found = file->snapshot;
			atomic_fetch_add(&found->refs, 1);
			*node = candidate;
		}
	}
	pthread_mutex_unlock(&fs->files_lock);
	return found;
}

void vc_fs_files_release_all(vc_fs *fs)
{
	while (fs->files != NULL) {
		vc_fs_file *file = fs->files;

		file_unlink(fs, file);
		file_free(fs, file);
	}
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	vc_fs *fs = vc_fs_get();
	vc_fs_snapshot *snapshot = vc_fs_snapshot_get(fs);

	(void)path;
	memset(st, 0, sizeof(*st));
	st->f_bsize = STATFS_BLOCK;
	st->f_frsize = STATFS_BLOCK;
	st->f_blocks = (fsblkcnt_t)((snapshot->stored_bytes + STATFS_BLOCK - 1) / STATFS_BLOCK);
	st->f_files = (fsfilcnt_t)snapshot->object_count;
	st->f_namemax = 255;
	st->f_flag = fs->writes != NULL ? 0 : ST_RDONLY;
	vc_fs_snapshot_put(fs, snapshot);
	return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	vc_fs *fs = fuse_get_context()->private_data;

	/* Our inode numbers are stable across epochs; read and release find their file by fh. */
	cfg->use_ino = 1;
	cfg->nullpath_ok = 1;
	/* entry_timeout and attr_timeout keep libfuse's 1 s, negative_timeout its 0: a name
	 * missing now may appear with the next epoch. Users may change them with -o. */
	/* Must equal the max_read mount option (vc_fs_options_fuse_args passes the same). */
	conn->max_read = fs->options->max_read;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* Chunk bytes never change under a name, and the files that do change with the epoch
	 * (manifest.json, metadata.json) drop their page cache on every open: no need for the
	 * kernel to re-check attributes on reads to invalidate cached data. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/*
	 * With direct_io, chunk replies are spliced from the cached plaintext (read_pipe.h): the
	 * kernel copies them once, straight from our pages, instead of us copying into a reply
	 * buffer first. Page-cache fills (128 KiB readahead requests) measured slower that way,
	 * and with splice writes on libfuse copies every other reply twice, so only then.
	 */
	if (fs->options->direct_io && (conn->capable & FUSE_CAP_SPLICE_WRITE)) {
		conn->want |= FUSE_CAP_SPLICE_WRITE;
		vc_fs_pipe_enable(conn->max_read);
	}
	vc_fs_log(LOG_DEBUG, "kernel FUSE %u.%u, max_read %u, max_readahead %u, max_write %u",
		  conn->proto_major, conn->proto_minor, conn->max_read, conn->max_readahead,
		  conn->max_write);
	if (vc_fs_queries_new(&fs->queries) != VC_OK)
		vc_fs_log(LOG_ERR, "%s", vc_last_error()); /* queries then fail with ENOMEM */
	/* -o rw: ingest, delete and ctl appear with the write state (write.h). */
	if (fs->options->writable && vc_fs_writes_new(&fs->writes) != VC_OK)
		vc_fs_log(LOG_ERR, "%s; the mount stays read-only", vc_last_error());
	/* init runs in the daemon after fork, so the refresh thread survives daemonizing. */
	vc_fs_refresh_start(fs);
	return fs;
}

void vc_fs_operations(struct fuse_operations *ops)
{
	memset(ops, 0, sizeof(*ops));
	ops->init = fs_init;
	ops->getattr = vc_fs_getattr;
	ops->readdir = vc_fs_readdir;
	ops->open = fs_open;
	ops->read = fs_read;
	ops->read_buf = fs_read_buf;
	ops->release = fs_release;
	ops->opendir = fs_opendir;
	ops->releasedir = fs_release;
	ops->statfs = fs_statfs;
	vc_fs_query_operations(ops);
}
