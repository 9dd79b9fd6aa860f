/* Serving a session of the original Rust system: opening it read-only at start, the FUSE
 * callbacks over its tree (legacy_tree.c) and the query files, and the mount's life cycle. */
#include "fs/legacy_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fs/log.h"
#include "fs/query.h"
#include "util/error_i.h"

#define STATFS_BLOCK 4096u

/* ---- opening ---- */

/* The pretty JSON text of @p doc with a newline, or NULL for JSON null (nothing to show). */
static vc_err json_text(json_t *doc, const char *name, char **text, size_t *len)
{
	char *dumped;
	size_t n;

	*text = NULL;
	*len = 0;
	if (doc == NULL || json_is_null(doc))
		return VC_OK;
	dumped = json_dumps(doc, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
	if (dumped == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering %s", name);
	n = strlen(dumped);
	*text = realloc(dumped, n + 2);
	if (*text == NULL) {
		free(dumped);
		return vc_fail(VC_ERR_NOMEM, "out of memory rendering %s", name);
	}
	(*text)[n] = '\n';
	(*text)[n + 1] = '\0';
	*len = n + 1;
	return VC_OK;
}

/* Everything shown besides the chunks, made once: the session never changes. */
static vc_err view_fill(vc_fs_legacy *view)
{
	size_t chunks = vc_legacy_chunk_count(view->legacy);
	json_t *metadata = NULL;
	json_t *schema = vc_legacy_schema(view->legacy);
	vc_err err = vc_legacy_metadata_json(view->legacy, &metadata);

	if (err == VC_OK)
		err =
		    json_text(metadata, "metadata.json", &view->metadata_text, &view->metadata_len);
	if (err == VC_OK)
		err = json_text(schema, "schema.json", &view->schema_text, &view->schema_len);
	json_decref(metadata);
	json_decref(schema);
	if (err != VC_OK)
		return err;
	view->chunk_text = calloc(chunks + 1, sizeof(*view->chunk_text));
	view->chunk_len = calloc(chunks + 1, sizeof(*view->chunk_len));
	if (view->chunk_text == NULL || view->chunk_len == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for %zu chunks", chunks);
	return VC_OK;
}

void vc_fs_legacy_free(vc_fs_legacy *view)
{
	if (view == NULL)
		return;
	for (size_t i = 0; view->chunk_text != NULL && i < vc_legacy_chunk_count(view->legacy); i++)
		free(view->chunk_text[i]);
	free(view->chunk_text);
	free(view->chunk_len);
	free(view->metadata_text);
	free(view->schema_text);
	vc_bytes_free(&view->manifest);
	pthread_mutex_destroy(&view->chunks_lock);
	vc_legacy_close(view->legacy);
	free(view);
}

/* manifest.json and the chunks' byte_size as the manifest states them (statfs). */
static uint64_t stored_size(const vc_fs_legacy *view)
{
	json_t *manifest = vc_legacy_manifest(view->legacy);
	json_t *chunks = json_object_get(manifest, "chunks");
	uint64_t total = view->manifest.len;
	size_t i;
	json_t *chunk;

	json_array_foreach(chunks, i, chunk)
	{
		json_t *size = json_object_get(chunk, "byte_size");

		if (json_is_integer(size) && json_integer_value(size) > 0)
			total += (uint64_t)json_integer_value(size);
	}
	json_decref(manifest);
	return total;
}

vc_err vc_fs_legacy_probe(const vc_fs_options *options, vc_fs_legacy **out)
{
	vc_open_options open_options;
	vc_fs_legacy *view;
	vc_store *store = NULL;
	vc_err err;

	*out = NULL;
	vc_fs_options_open(options, &open_options);
	/* A store or manifest that cannot be read is left to the normal open to report. */
	if (vc_store_open(options->session, &open_options.store, &store) != VC_OK)
		return VC_OK;
	view = calloc(1, sizeof(*view));
	if (view == NULL) {
		vc_store_close(store);
		return vc_fail(VC_ERR_NOMEM, "out of memory opening %s", options->session);
	}
	pthread_mutex_init(&view->chunks_lock, NULL);
	/* A missing manifest is left to the normal open (it says "no session"); a failing
	 * backend is reported now rather than tried a second time. */
	err = vc_store_get(store, "manifest.json", &view->manifest);
	if (err != VC_OK && err != VC_ERR_NOT_FOUND)
		vc_fail_context(err, "manifest.json");
	if (err != VC_OK ||
	    !vc_legacy_detect((const char *)view->manifest.data, view->manifest.len)) {
		vc_store_close(store);
		vc_fs_legacy_free(view);
		return err == VC_ERR_NOT_FOUND ? VC_OK : err;
	}
	err = vc_legacy_open(store, &view->legacy);
	vc_store_close(store);
	if (err == VC_OK)
		err = view_fill(view);
	if (err != VC_OK) {
		vc_fs_legacy_free(view);
		return err;
	}
	view->stored_bytes = stored_size(view);
	view->stored_at = (int64_t)time(NULL);
	*out = view;
	return VC_OK;
}

/* ---- callbacks ---- */

static vc_fs_file *file_of(struct fuse_file_info *fi)
{
	return fi != NULL && fi->fh != 0 ? (vc_fs_file *)(uintptr_t)fi->fh : NULL;
}

static void file_free(vc_fs_file *file)
{
	vc_fs_file_free_more(file);
	free(file->text);
	free(file);
}

static int l_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	vc_fs *fs = vc_fs_get();
	vc_fs_file *file = file_of(fi);
	vc_fs_node node;
	int rc;

	if (file != NULL && file->named != NULL)
		return vc_fs_named_stat(fs, file->named, &file->node, st);
	if (file != NULL) {
		rc = vc_fs_legacy_stat(fs, &file->node, st);
		if (rc == 0 && file->text != NULL)
			st->st_size = (off_t)file->text_len; /* what this open reads */
		return rc;
	}
	rc = vc_fs_legacy_resolve(fs, path, &node);
	return rc != 0 ? rc : vc_fs_legacy_stat(fs, &node, st);
}

/* Per-kind work at open: the query files as for ours, a text rendered now for the live
 * files, nothing for the fixed ones (their bytes never change: the kernel may keep them). */
static int open_node(vc_fs *fs, vc_fs_file *file, struct fuse_file_info *fi)
{
	const char *data;
	bool owned;
	int rc;

	switch (file->node.kind) {
	case VC_NODE_QUERY:
	case VC_NODE_NAMED_QUERY:
	case VC_NODE_NAMED_RESULTS: return vc_fs_open_more(fs, file, fi);
	case VC_NODE_STATS:
	case VC_NODE_VECTOR:
		rc = vc_fs_legacy_content(fs, &file->node, &data, &file->text_len, &owned);
		if (rc != 0)
			return rc;
		file->text = (char *)data;
		fi->direct_io = 1;
		return 0;
	default:
		/* Rendering a chunk here makes a failure show at open, as EIO. */
		rc = vc_fs_legacy_content(fs, &file->node, &data, &file->text_len, &owned);
		file->text_len = 0;
		fi->keep_cache = 1;
		return rc;
	}
}

static int file_open(vc_fs *fs, const char *path, struct fuse_file_info *fi, bool want_dir)
{
	vc_fs_file *file = calloc(1, sizeof(*file));
	int rc;

	if (file == NULL)
		return -ENOMEM;
	rc = vc_fs_legacy_resolve(fs, path, &file->node);
	if (rc == 0 && vc_fs_node_is_dir(file->node.kind) != want_dir)
		rc = want_dir ? -ENOTDIR : -EISDIR;
	if (rc == 0 && !want_dir &&
	    ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) &&
	    !vc_fs_node_writable(file->node.kind))
		rc = -EROFS;
	if (rc == 0 && !want_dir)
		rc = open_node(fs, file, fi);
	if (rc != 0) {
		file_free(file);
		return rc;
	}
	/* On fs->files, so vc_fs_files_release_all frees what a lazy unmount leaves. */
	pthread_mutex_lock(&fs->files_lock);
	file->next = fs->files;
	if (fs->files != NULL)
		fs->files->prev = file;
	fs->files = file;
	pthread_mutex_unlock(&fs->files_lock);
	fi->fh = (uint64_t)(uintptr_t)file;
	if (!want_dir)
		atomic_fetch_add(&fs->counters.opens, 1);
	return 0;
}

static int l_open(const char *path, struct fuse_file_info *fi)
{
	return file_open(vc_fs_get(), path, fi, false);
}

static int l_opendir(const char *path, struct fuse_file_info *fi)
{
	return file_open(vc_fs_get(), path, fi, true);
}

static int l_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi)
{
	vc_fs *fs = vc_fs_get();
	vc_fs_file *file = file_of(fi);
	const char *data;
	size_t len;
	bool owned;
	int n;

	(void)path;
	if (file->query != NULL || file->named != NULL)
		n = vc_fs_read_more(fs, file, buf, size, offset);
	else if (file->text != NULL)
		n = (int)vc_fs_copy_range(buf, size, offset, file->text, file->text_len);
	else {
		n = vc_fs_legacy_content(fs, &file->node, &data, &len, &owned);
		if (n == 0)
			n = (int)vc_fs_copy_range(buf, size, offset, data, len);
	}
	if (n > 0) {
		atomic_fetch_add(&fs->counters.reads, 1);
		atomic_fetch_add(&fs->counters.bytes_served, (uint64_t)n);
	}
	return n;
}

static int l_release(const char *path, struct fuse_file_info *fi)
{
	vc_fs *fs = vc_fs_get();
	vc_fs_file *file = file_of(fi);

	(void)path;
	pthread_mutex_lock(&fs->files_lock);
	if (file->prev != NULL)
		file->prev->next = file->next;
	else
		fs->files = file->next;
	if (file->next != NULL)
		file->next->prev = file->prev;
	pthread_mutex_unlock(&fs->files_lock);
	file_free(file);
	return 0;
}

static int l_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
		     struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	vc_fs_file *dir = file_of(fi);
	struct stat st = {.st_mode = S_IFDIR};

	(void)path;
	(void)offset;
	(void)flags;
	if (filler(buf, ".", &st, 0, 0) || filler(buf, "..", &st, 0, 0))
		return -ENOMEM;
	return vc_fs_legacy_list(vc_fs_get(), &dir->node, buf, filler);
}

static int l_statfs(const char *path, struct statvfs *st)
{
	const vc_fs_legacy *view = vc_fs_get()->legacy_view;
	uint64_t blocks = (view->stored_bytes + STATFS_BLOCK - 1) / STATFS_BLOCK;

	(void)path;
	memset(st, 0, sizeof(*st));
	st->f_bsize = STATFS_BLOCK;
	st->f_frsize = STATFS_BLOCK;
	st->f_blocks = (fsblkcnt_t)blocks;
	st->f_files = (fsfilcnt_t)(1 + vc_legacy_chunk_count(view->legacy));
	st->f_namemax = 255;
	st->f_flag = ST_RDONLY;
	return 0;
}

static void *l_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	vc_fs *fs = fuse_get_context()->private_data;

	cfg->use_ino = 1;
	cfg->nullpath_ok = 1;
	/* Must equal the max_read mount option (vc_fs_options_fuse_args passes the same). */
	conn->max_read = fs->options->max_read;
	if (vc_fs_queries_new(&fs->queries) != VC_OK)
		vc_fs_log(LOG_ERR, "%s", vc_last_error()); /* queries then fail with ENOMEM */
	return fs;
}

static void legacy_operations(struct fuse_operations *ops)
{
	memset(ops, 0, sizeof(*ops));
	/* write, truncate, utimens, mkdir, rmdir, destroy and the EROFS refusals are those of our
	 * sessions */
	vc_fs_query_operations(ops);
	ops->init = l_init;
	ops->getattr = l_getattr;
	ops->readdir = l_readdir;
	ops->open = l_open;
	ops->read = l_read;
	ops->release = l_release;
	ops->opendir = l_opendir;
	ops->releasedir = l_release;
	ops->statfs = l_statfs;
}

/* ---- life cycle ---- */

static int run_loop(struct fuse *fuse, const vc_fs_options *options)
{
	struct fuse_loop_config *config;
	int rc;

	if (options->single_thread)
		return fuse_loop(fuse);
	config = fuse_loop_cfg_create();
	if (config == NULL)
		return -1;
	fuse_loop_cfg_set_max_threads(config, options->max_threads);
	fuse_loop_cfg_set_idle_threads(config, options->max_threads);
	rc = fuse_loop_mt(fuse, config);
	fuse_loop_cfg_destroy(config);
	return rc;
}

/* Mount and serve @p fs until unmounted; the exit status. */
static int serve(vc_fs *fs, vc_fs_options *options, struct fuse_args *args)
{
	struct fuse_operations ops;
	struct fuse *fuse;
	int rc = 1;

	if (vc_fs_options_fuse_args(options, args) != VC_OK) {
		fprintf(stderr, "vchunkfs: %s\n", vc_last_error());
		return 1;
	}
	legacy_operations(&ops);
	fuse = fuse_new(args, &ops, sizeof(ops), fs);
	if (fuse == NULL)
		return 2; /* fuse_new named the option it rejected */
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		goto out_fuse;
	if (fuse_mount(fuse, options->mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(options->foreground) == 0) {
		if (!options->foreground)
			vc_fs_log_setup(true, options->debug);
		vc_fs_log(LOG_INFO, "mounted legacy session %s on %s (%zu vectors, read-only)",
			  options->session, options->mountpoint,
			  vc_legacy_count(fs->legacy_view->legacy));
		rc = run_loop(fuse, options);
		rc = (rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP) ? 0 : 1;
		vc_fs_log(LOG_INFO, "unmounting %s", options->mountpoint);
	}
	fuse_unmount(fuse);
out_signals:
	fuse_remove_signal_handlers(fuse_get_session(fuse));
out_fuse:
	fuse_destroy(fuse);
	return rc;
}

int vc_fs_legacy_run(vc_fs_options *options, struct fuse_args *args)
{
	vc_fs_legacy *view = NULL;
	vc_fs fs;
	int rc;

	if (vc_fs_legacy_probe(options, &view) != VC_OK) {
		fprintf(stderr, "vchunkfs: cannot open session %s: %s\n", options->session,
			vc_last_error());
		return 1;
	}
	if (view == NULL)
		return -1;
	/* Nothing is encrypted: a passphrase given is not needed in memory. */
	if (options->passphrase != NULL) {
		sodium_free(options->passphrase);
		options->passphrase = NULL;
	}
	memset(&fs, 0, sizeof(fs));
	fs.options = options;
	fs.legacy_view = view;
	fs.uid = getuid();
	fs.gid = getgid();
	fs.mounted_at = (int64_t)time(NULL);
	pthread_mutex_init(&fs.files_lock, NULL);
	rc = serve(&fs, options, args);
	vc_fs_files_release_all(&fs);
	vc_fs_queries_free(fs.queries); /* NULL-safe; destroy freed it unless fuse never ran */
	pthread_mutex_destroy(&fs.files_lock);
	vc_fs_legacy_free(view);
	return rc;
}
