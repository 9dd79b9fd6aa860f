/* queries/: named queries made with mkdir and removed with rmdir, each owned by the user who
 * made it, plus the query counters of stats.json. */
#include "fs/query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/error_i.h"

struct vc_fs_queries {
	pthread_mutex_t lock; /**< guards named, count, serial, last */
	vc_fs_named *named;
	size_t count;
	uint64_t serial;
	atomic_uint_least64_t runs;
	atomic_uint_least64_t errors;
	bool has_last;
	vc_query_stats last; /**< stats of the last query that found results */
};

vc_err vc_fs_queries_new(vc_fs_queries **out)
{
	vc_fs_queries *queries = calloc(1, sizeof(*queries));

	if (queries == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for the query registry");
	pthread_mutex_init(&queries->lock, NULL);
	*out = queries;
	return VC_OK;
}

void vc_fs_queries_free(vc_fs_queries *queries)
{
	if (queries == NULL)
		return;
	while (queries->named != NULL) {
		vc_fs_named *named = queries->named;

		queries->named = named->next;
		vc_fs_named_put(named);
	}
	pthread_mutex_destroy(&queries->lock);
	free(queries);
}

void vc_fs_queries_count(vc_fs *fs, const vc_query_stats *stats, bool failed)
{
	vc_fs_queries *queries = fs->queries;

	if (queries == NULL)
		return;
	atomic_fetch_add(&queries->runs, 1);
	if (failed)
		atomic_fetch_add(&queries->errors, 1);
	if (stats != NULL && !failed) {
		pthread_mutex_lock(&queries->lock);
		queries->last = *stats;
		queries->has_last = true;
		pthread_mutex_unlock(&queries->lock);
	}
}

static int put_count(json_t *object, const char *key, uint64_t value)
{
	return json_object_set_new(object, key, json_integer((json_int_t)value));
}

json_t *vc_fs_queries_stats_json(vc_fs *fs)
{
	vc_fs_queries *queries = fs->queries;
	json_t *o = json_object();
	json_t *last = json_null();
	vc_query_stats s;
	size_t named;
	bool has_last;

	if (queries == NULL)
		return o;
	pthread_mutex_lock(&queries->lock);
	s = queries->last;
	has_last = queries->has_last;
	named = queries->count;
	pthread_mutex_unlock(&queries->lock);
	put_count(o, "run", atomic_load(&queries->runs));
	put_count(o, "errors", atomic_load(&queries->errors));
	put_count(o, "named", named);
	if (has_last) {
		last = json_object();
		put_count(last, "chunks_read", s.chunks_read);
		put_count(last, "bytes_read", s.bytes_read);
		put_count(last, "frames_decrypted", s.frames_decrypted);
		put_count(last, "frames_read", s.frames_read);
		put_count(last, "cache_hits", s.cache_hits);
		put_count(last, "vectors_scored", s.vectors_scored);
		put_count(last, "lists_probed", s.lists_probed);
		json_object_set_new(last, "elapsed_ms", json_real((double)s.elapsed_ns / 1e6));
	}
	json_object_set_new(o, "last", last);
	return o;
}

void vc_fs_named_put(vc_fs_named *named)
{
	if (named == NULL || atomic_fetch_sub(&named->refs, 1) != 1)
		return;
	vc_fs_query_destroy(&named->query);
	free(named);
}

/* Find @p name; called with the registry locked. */
static vc_fs_named **find(vc_fs_queries *queries, const char *name, size_t len)
{
	for (vc_fs_named **at = &queries->named; *at != NULL; at = &(*at)->next)
		if (strlen((*at)->name) == len && memcmp((*at)->name, name, len) == 0)
			return at;
	return NULL;
}

vc_fs_named *vc_fs_named_get(vc_fs *fs, const char *name, size_t len)
{
	vc_fs_queries *queries = fs->queries;
	vc_fs_named **at;
	vc_fs_named *found = NULL;

	if (queries == NULL)
		return NULL;
	pthread_mutex_lock(&queries->lock);
	at = find(queries, name, len);
	if (at != NULL) {
		found = *at;
		atomic_fetch_add(&found->refs, 1);
	}
	pthread_mutex_unlock(&queries->lock);
	return found;
}

int vc_fs_named_access(const vc_fs_named *named)
{
	const struct fuse_context *ctx = fuse_get_context();

	return ctx->uid == 0 || ctx->uid == named->uid ? 0 : -EACCES;
}

/* [A-Za-z0-9._-], 1..VC_FS_NAME_MAX bytes, not "." or "..". */
static int check_name(const char *name, size_t len)
{
	if (len > VC_FS_NAME_MAX)
		return -ENAMETOOLONG;
	if (len == 0 || (len <= 2 && strspn(name, ".") == len))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

int vc_fs_named_create(vc_fs *fs, const char *name)
{
	const struct fuse_context *ctx = fuse_get_context();
	vc_fs_queries *queries = fs->queries;
	size_t len = strlen(name);
	vc_fs_named *named;
	int rc = check_name(name, len);

	if (rc != 0)
		return rc;
	if (queries == NULL)
		return -ENOMEM;
	named = calloc(1, sizeof(*named));
	if (named == NULL)
		return -ENOMEM;
	memcpy(named->name, name, len + 1);
	named->uid = ctx->uid;
	named->gid = ctx->gid;
	named->created_at = (int64_t)time(NULL);
	atomic_init(&named->refs, 1);
	vc_fs_query_init(&named->query);
	pthread_mutex_lock(&queries->lock);
	if (find(queries, name, len) != NULL)
		rc = -EEXIST;
	else if (queries->count >= VC_FS_NAMED_MAX)
		rc = -ENOSPC;
	if (rc == 0) {
		named->serial = ++queries->serial;
		named->next = queries->named;
		queries->named = named;
		queries->count++;
	}
	pthread_mutex_unlock(&queries->lock);
	if (rc != 0)
		vc_fs_named_put(named);
	return rc;
}

int vc_fs_named_remove(vc_fs *fs, const char *name)
{
	vc_fs_queries *queries = fs->queries;
	vc_fs_named *gone = NULL;
	vc_fs_named **at;
	int rc = -ENOENT;

	if (queries == NULL)
		return -ENOENT;
	pthread_mutex_lock(&queries->lock);
	at = find(queries, name, strlen(name));
	if (at != NULL) {
		rc = vc_fs_named_access(*at);
		if (rc == 0) {
			gone = *at;
			*at = gone->next;
			queries->count--;
		}
	}
	pthread_mutex_unlock(&queries->lock);
	/* Files still open on it keep their reference and go on working until closed. */
	vc_fs_named_put(gone);
	return rc;
}

int vc_fs_queries_lookup(const vc_fs_snapshot *snapshot, const char *name, size_t len,
			 vc_fs_node *node)
{
	vc_fs_named *named = vc_fs_named_get(vc_fs_get(), name, len);

	(void)snapshot;
	if (named == NULL)
		return -ENOENT;
	memset(node, 0, sizeof(*node));
	node->kind = VC_NODE_NAMED_DIR;
	memcpy(node->name, named->name, strlen(named->name) + 1);
	vc_fs_named_put(named);
	return 0;
}

static int fill(void *buf, fuse_fill_dir_t filler, const char *name, mode_t type, uint64_t ino)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = type;
	return filler(buf, name, &st, 0, 0) ? -ENOMEM : 0;
}

int vc_fs_queries_list(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		       fuse_fill_dir_t filler)
{
	vc_fs_queries *queries = vc_fs_get()->queries;
	int rc = 0;

	(void)snapshot;
	(void)dir;
	if (queries == NULL)
		return 0;
	pthread_mutex_lock(&queries->lock);
	for (vc_fs_named *n = queries->named; n != NULL && rc == 0; n = n->next)
		rc = fill(buf, filler, n->name, S_IFDIR, VC_FS_INO_NAMED_BASE + 4 * n->serial);
	pthread_mutex_unlock(&queries->lock);
	return rc;
}

int vc_fs_named_lookup(const vc_fs_snapshot *snapshot, const char *name, size_t len,
		       vc_fs_node *node)
{
	(void)snapshot;
	/* node holds the parent (queries/NAME): keep its name, change the kind. */
	if (len == 5 && memcmp(name, "query", 5) == 0)
		node->kind = VC_NODE_NAMED_QUERY;
	else if (len == 7 && memcmp(name, "results", 7) == 0)
		node->kind = VC_NODE_NAMED_RESULTS;
	else
		return -ENOENT;
	return 0;
}

uint64_t vc_fs_named_ino(const vc_fs_node *node)
{
	vc_fs_named *named = vc_fs_named_get(vc_fs_get(), node->name, strlen(node->name));
	uint64_t ino;

	/* A removed query's entry still needs a non-zero number: readdir(3) skips zero. */
	if (named == NULL)
		return VC_FS_INO_NAMED_BASE;
	ino = VC_FS_INO_NAMED_BASE + 4 * named->serial;
	vc_fs_named_put(named);
	if (node->kind == VC_NODE_NAMED_QUERY)
		return ino + 1;
	return node->kind == VC_NODE_NAMED_RESULTS ? ino + 2 : ino;
}

int vc_fs_named_list(const vc_fs_snapshot *snapshot, const vc_fs_node *dir, void *buf,
		     fuse_fill_dir_t filler)
{
	uint64_t ino = vc_fs_named_ino(dir);

	(void)snapshot;
	if (fill(buf, filler, "query", S_IFREG, ino + 1) != 0 ||
	    fill(buf, filler, "results", S_IFREG, ino + 2) != 0)
		return -ENOMEM;
	return 0;
}

int vc_fs_named_stat(vc_fs *fs, vc_fs_named *open, const vc_fs_node *node, struct stat *st)
{
	vc_fs_named *named = open;
	uint64_t ino;

	if (named == NULL)
		named = vc_fs_named_get(fs, node->name, strlen(node->name));
	else
		atomic_fetch_add(&named->refs, 1);
	if (named == NULL)
		return -ENOENT;
	ino = VC_FS_INO_NAMED_BASE + 4 * named->serial;
	memset(st, 0, sizeof(*st));
	st->st_uid = named->uid;
	st->st_gid = named->gid;
	st->st_blksize = (blksize_t)fs->options->max_read;
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = (time_t)named->created_at;
	switch (node->kind) {
	case VC_NODE_NAMED_DIR:
		st->st_ino = ino;
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2;
		break;
	case VC_NODE_NAMED_QUERY:
		st->st_ino = ino + 1;
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = (off_t)vc_fs_query_input_size(&named->query);
		break;
	default:
		st->st_ino = ino + 2;
		st->st_mode = S_IFREG | 0400;
		st->st_nlink = 1;
		st->st_size = (off_t)vc_fs_query_output_size(&named->query);
		break;
	}
	vc_fs_named_put(named);
	return 0;
}
