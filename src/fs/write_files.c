/* The files of a -o rw mount: ingest (JSONL lines, parsed by the import reader of the CLI),
 * delete (one id per line) and ctl (commit, abort, and the outcome as JSON). */
#include "fs/write_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/input.h"
#include "util/error_i.h"

/* A ctl command is one short word. */
#define CTL_WRITE_MAX 64u

static vc_fs_writer *writer_new(vc_fs_writes *writes, vc_fs_node_kind kind)
{
	vc_fs_writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	atomic_fetch_add(&writes->refs, 1);
	w->writes = writes;
	w->kind = kind;
	pthread_mutex_init(&w->lock, NULL);
	return w;
}

/* The process of thread @p tid (FUSE names the calling thread), or @p tid if unknown. */
static pid_t process_of(pid_t tid)
{
	char path[64], line[128];
	pid_t tgid = tid;
	FILE *status;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	status = fopen(path, "re");
	if (status == NULL)
		return tid;
	while (fgets(line, sizeof(line), status) != NULL) {
		if (strncmp(line, "Tgid:", 5) == 0) {
			tgid = (pid_t)strtol(line + 5, NULL, 10);
			break;
		}
	}
	fclose(status);
	return tgid > 0 ? tgid : tid;
}

int vc_fs_write_open(vc_fs *fs, vc_fs_file *file, struct fuse_file_info *fi)
{
	vc_err err;

	if (fs->writes == NULL)
		return -EROFS;
	if (file->node.kind != VC_NODE_CTL && (fi->flags & O_ACCMODE) == O_RDONLY)
		return -EACCES; /* ingest and delete are written, never read */
	file->writer = writer_new(fs->writes, file->node.kind);
	if (file->writer == NULL)
		return -ENOMEM;
	file->writer->opener = process_of(fuse_get_context()->pid);
	fi->direct_io = 1; /* a stream: no page cache, ctl's text changes with every open */
	if (file->node.kind != VC_NODE_CTL)
		return 0;
	err = vc_fs_write_render_ctl(fs, &file->text, &file->text_len);
	return err == VC_OK ? 0 : -vc_err_errno(err);
}

void vc_fs_write_file_free(vc_fs_file *file)
{
	vc_fs_writer *w = file->writer;

	if (w == NULL)
		return;
	/* Lines this file staged stay in the pending batch for the next commit. */
	pthread_mutex_lock(&w->writes->lock);
	vc_fs_batch_put_locked(w->batch);
	pthread_mutex_unlock(&w->writes->lock);
	pthread_mutex_destroy(&w->lock);
	vc_fs_writes_free(w->writes);
	free(w->partial);
	free(w);
	file->writer = NULL;
}

static vc_err items_push(vc_fs_items *items, vc_fs_item *item)
{
	if (items->count == items->cap) {
		size_t cap = items->cap ? items->cap * 2 : 64;
		vc_fs_item *grown = realloc(items->items, cap * sizeof(*grown));

		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory staging line %llu",
				       (unsigned long long)item->line);
		items->items = grown;
		items->cap = cap;
	}
	items->bytes += sizeof(*item) + strlen(item->id) + 1 + (uint64_t)item->dim * sizeof(float);
	items->items[items->count++] = *item;
	return VC_OK;
}

/* Copy one record of the JSONL reader into @p items. */
static vc_err push_record(vc_fs_items *items, const vc_input_record *record, uint64_t line)
{
	vc_fs_item item = {.dim = record->dim, .line = line};
	vc_err err;

	item.id = strdup(record->id);
	item.vector = malloc((size_t)record->dim * sizeof(float));
	if (item.id == NULL || item.vector == NULL) {
		free(item.id);
		free(item.vector);
		return vc_fail(VC_ERR_NOMEM, "out of memory staging line %llu",
			       (unsigned long long)line);
	}
	memcpy(item.vector, record->vector, (size_t)record->dim * sizeof(float));
	item.metadata = json_incref(record->metadata);
	err = items_push(items, &item);
	if (err != VC_OK) {
		free(item.id);
		free(item.vector);
		json_decref(item.metadata);
	}
	return err;
}

/*
 * Parse complete JSONL lines with the import reader of `vchunk` (cli/input.h), so the mount
 * accepts exactly what `vchunk import` does, with the same messages ("ingest:LINE: ...").
 * The reader reads a FILE: the bytes are given to it through fmemopen.
 */
static vc_err parse_ingest(vc_fs_writer *w, uint32_t dim, const char *data, size_t len,
			   vc_fs_items *out)
{
	char path[] = "ingest";
	vc_input input = {.ops = &vc_input_jsonl_ops, .format = VC_INPUT_JSONL, .path = path};
	vc_input_record record;
	bool eof = false;
	vc_err err;

	input.file = fmemopen((void *)data, len, "r");
	if (input.file == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory reading ingest");
	input.position = w->line;
	input.dim = dim; /* every vector must have the session's dimension */
	err = input.ops->open(&input);
	while (err == VC_OK) {
		err = vc_input_next(&input, &record, &eof);
		if (err != VC_OK || eof)
			break;
		err = vc_input_check_finite(&input, record.vector, record.dim);
		if (err == VC_OK)
			err = push_record(out, &record, input.position);
	}
	w->line = input.position;
	input.ops->close(&input);
	fclose(input.file);
	return err;
}

/* One line of delete: the id as it is, or a JSON string for ids with odd characters. */
static vc_err delete_id(const char *line, size_t len, uint64_t number, char **id)
{
	json_error_t error;
	json_t *value;

	if (memchr(line, '\0', len) != NULL)
		return vc_fail(VC_ERR_INVALID, "delete:%llu: the id contains a NUL byte",
			       (unsigned long long)number);
	if (line[0] != '"') {
		*id = strndup(line, len);
		return *id != NULL ? VC_OK : vc_fail(VC_ERR_NOMEM, "out of memory");
	}
	value = json_loadb(line, len, JSON_DECODE_ANY, &error);
	if (!json_is_string(value) || strlen(json_string_value(value)) == 0 ||
	    strlen(json_string_value(value)) != json_string_length(value)) {
		json_decref(value);
		return vc_fail(VC_ERR_INVALID,
			       "delete:%llu: a line starting with '\"' must be one JSON string "
			       "holding a non-empty id without NUL",
			       (unsigned long long)number);
	}
	*id = strdup(json_string_value(value));
	json_decref(value);
	return *id != NULL ? VC_OK : vc_fail(VC_ERR_NOMEM, "out of memory");
}

/* Parse complete delete lines: one id per line, blank lines skipped. */
static vc_err parse_delete(vc_fs_writer *w, const char *data, size_t len, vc_fs_items *out)
{
	const char *end = data + len;
	vc_err err = VC_OK;

	while (data < end && err == VC_OK) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		const char *stop = nl != NULL ? nl : end;
		size_t n;
		vc_fs_item item = {0};

		w->line++;
		/* Surrounding blanks and a CR before the newline are not part of the id. */
		while (data < stop && (*data == ' ' || *data == '\t'))
			data++;
		n = (size_t)(stop - data);
		while (n > 0 && (data[n - 1] == ' ' || data[n - 1] == '\t' || data[n - 1] == '\r'))
			n--;
		if (n > 0) {
			item.line = w->line;
			err = delete_id(data, n, w->line, &item.id);
			if (err == VC_OK)
				err = items_push(out, &item);
			if (err != VC_OK)
				free(item.id);
		}
		data = nl != NULL ? nl + 1 : end;
	}
	return err;
}

/*
 * The batch this file stages into now: the current one, unless the file's earlier lines were
 * in a batch that was dropped (then nothing more is staged: a later commit would apply this
 * file's lines without the earlier ones). Both locks held. 0 or a negated errno.
 */
static int join_locked(vc_fs_writes *writes, vc_fs_writer *w)
{
	if (w->batch == NULL || w->batch == writes->current)
		return 0;
	if (w->batch->state == BATCH_DISCARDED)
		return -w->batch->error;
	vc_fs_batch_put_locked(w->batch); /* committed: the file starts a new batch */
	w->batch = NULL;
	return 0;
}

/* Move parsed @p items into the pending batch; a parse error @p err fails the batch. */
static int stage(vc_fs_writes *writes, vc_fs_writer *w, vc_fs_items *items, vc_err err)
{
	vc_fs_batch *batch;
	int rc;

	pthread_mutex_lock(&writes->commit_lock);
	pthread_mutex_lock(&writes->lock);
	rc = join_locked(writes, w);
	batch = writes->current;
	if (rc == 0 && batch->failed)
		rc = -ECANCELED; /* an earlier line failed this batch: it will not be committed */
	for (size_t i = 0; rc == 0 && i < items->count; i++) {
		if (batch->items.bytes + items->bytes > VC_FS_PENDING_MAX) {
			err = vc_fail(VC_ERR_TOO_BIG,
				      "the pending batch would hold more than %u MiB; commit "
				      "more often",
				      VC_FS_PENDING_MAX >> 20);
			break;
		}
		if (items_push(&batch->items, &items->items[i]) != VC_OK) {
			err = VC_ERR_NOMEM;
			break;
		}
		items->items[i] = (vc_fs_item){0}; /* moved */
		if (batch->items.items[batch->items.count - 1].vector != NULL)
			batch->adds++;
		else
			batch->deletes++;
		writes->lines_staged++;
	}
	if (rc == 0 && err != VC_OK) {
		rc = -vc_err_errno(err);
		writes->lines_refused++;
		vc_fs_batch_fail_locked(writes, batch, -rc, vc_last_error());
	}
	/* The file's close or fsync commits this batch, or reports why it was not. */
	if (w->batch == NULL && (items->count > 0 || rc != 0)) {
		w->batch = batch;
		batch->refs++;
	}
	pthread_mutex_unlock(&writes->lock);
	pthread_mutex_unlock(&writes->commit_lock);
	vc_fs_items_clear(items);
	return rc;
}

/* Parse @p len bytes of complete lines (the last may lack its newline) and stage them. */
static int stage_lines(vc_fs *fs, vc_fs_writer *w, const char *data, size_t len)
{
	vc_fs_items items = {0};
	vc_err err;

	if (w->kind == VC_NODE_INGEST) {
		vc_fs_snapshot *snapshot = vc_fs_snapshot_get(fs);
		uint32_t dim = snapshot->manifest->dim;

		vc_fs_snapshot_put(fs, snapshot);
		err = parse_ingest(w, dim, data, len, &items);
	} else {
		err = parse_delete(w, data, len, &items);
	}
	return stage(w->writes, w, &items, err);
}

static vc_err partial_append(vc_fs_writer *w, const char *buf, size_t size)
{
	if (w->partial_len + size > VC_FS_LINE_MAX)
		return vc_fail(VC_ERR_TOO_BIG, "%s:%llu: line longer than %u MiB",
			       w->kind == VC_NODE_INGEST ? "ingest" : "delete",
			       (unsigned long long)w->line + 1, VC_FS_LINE_MAX >> 20);
	if (w->partial_len + size > w->partial_cap) {
		size_t cap = w->partial_cap ? w->partial_cap : 4096;
		char *grown;

		while (cap < w->partial_len + size)
			cap *= 2;
		grown = realloc(w->partial, cap);
		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory buffering a line");
		w->partial = grown;
		w->partial_cap = cap;
	}
	memcpy(w->partial + w->partial_len, buf, size);
	w->partial_len += size;
	return VC_OK;
}

/* ingest and delete: stage the complete lines, keep the unfinished last one. */
static int write_lines(vc_fs *fs, vc_fs_writer *w, const char *buf, size_t size)
{
	const char *nl = memrchr(buf, '\n', size);
	size_t head = nl != NULL ? (size_t)(nl - buf) + 1 : 0;
	vc_err err;
	int rc;

	if (nl == NULL) {
		err = partial_append(w, buf, size);
		if (err != VC_OK) {
			vc_fs_items none = {0};

			w->partial_len = 0;
			return stage(w->writes, w, &none, err);
		}
		return (int)size;
	}
	if (w->partial_len > 0) {
		/* The unfinished line of the last write ends in this one. */
		err = partial_append(w, buf, head);
		if (err != VC_OK) {
			vc_fs_items none = {0};

			w->partial_len = 0;
			return stage(w->writes, w, &none, err);
		}
		rc = stage_lines(fs, w, w->partial, w->partial_len);
	} else {
		rc = stage_lines(fs, w, buf, head);
	}
	w->partial_len = 0;
	if (rc == 0 && head < size) {
		err = partial_append(w, buf + head, size - head);
		if (err != VC_OK) {
			vc_fs_items none = {0};

			return stage(w->writes, w, &none, err);
		}
	}
	return rc != 0 ? rc : (int)size;
}

/* ctl: "commit" or "abort", surrounding blanks and newline allowed. */
static int write_ctl(vc_fs *fs, vc_fs_file *file, const char *buf, size_t size)
{
	vc_fs_writes *writes = fs->writes;
	char command[CTL_WRITE_MAX + 1];
	size_t start = 0, end = size;
	int rc;

	while (start < end && strchr(" \t\r\n", buf[start]) != NULL && buf[start] != '\0')
		start++;
	while (end > start && strchr(" \t\r\n", buf[end - 1]) != NULL && buf[end - 1] != '\0')
		end--;
	if (end - start > CTL_WRITE_MAX)
		end = start + CTL_WRITE_MAX;
	memcpy(command, buf + start, end - start);
	command[end - start] = '\0';
	pthread_mutex_lock(&writes->commit_lock);
	if (strcmp(command, "commit") == 0) {
		rc = vc_fs_commit_locked(fs);
	} else if (strcmp(command, "abort") == 0) {
		rc = vc_fs_abort_locked(fs);
	} else {
		pthread_mutex_lock(&writes->lock);
		vc_fs_writes_error(writes, "ctl: unknown command \"%.40s\" (write commit or abort)",
				   command);
		pthread_mutex_unlock(&writes->lock);
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&writes->commit_lock);
	/* A read on this file after the write shows the outcome. */
	free(file->text);
	file->text = NULL;
	file->text_len = 0;
	if (vc_fs_write_render_ctl(fs, &file->text, &file->text_len) != VC_OK && rc == 0)
		rc = -ENOMEM;
	return rc != 0 ? rc : (int)size;
}

int vc_fs_write_data(vc_fs *fs, vc_fs_file *file, const char *buf, size_t size)
{
	vc_fs_writer *w = file->writer;
	int rc;

	if (w == NULL)
		return -EROFS;
	pthread_mutex_lock(&w->lock);
	if (w->kind == VC_NODE_CTL)
		rc = write_ctl(fs, file, buf, size);
	else
		rc = write_lines(fs, w, buf, size);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* Commit the batch @p w staged into, or tell how it ended (commit_lock held). */
static int commit_batch_locked(vc_fs *fs, vc_fs_writer *w, vc_fs_commit_cause cause)
{
	vc_fs_writes *writes = w->writes;
	int rc = 0;

	if (w->batch == NULL)
		return 0;
	if (w->batch == writes->current) {
		rc = vc_fs_commit_locked(fs);
	} else {
		/* Committed by another file's close or ctl, or dropped; release has nobody to
		 * tell, and the closes before it told already. */
		if (cause == VC_FS_COMMIT_RELEASE)
			return 0;
		pthread_mutex_lock(&writes->lock);
		rc = w->batch->state == BATCH_COMMITTED ? 0 : -w->batch->error;
		pthread_mutex_unlock(&writes->lock);
	}
	if (rc == 0) {
		/* A dropped batch stays with the file: its later writes fail too. */
		pthread_mutex_lock(&writes->lock);
		vc_fs_batch_put_locked(w->batch);
		w->batch = NULL;
		pthread_mutex_unlock(&writes->lock);
	}
	return rc;
}

int vc_fs_write_commit_file(vc_fs *fs, vc_fs_file *file, vc_fs_commit_cause cause)
{
	vc_fs_writer *w = file->writer;
	int rc = 0, committed;

	if (w == NULL || w->kind == VC_NODE_CTL)
		return 0;
	/* A copy of the descriptor closed elsewhere (fork, exec, a child's exit) is not the end
	 * of the writer's lines. */
	if (cause == VC_FS_COMMIT_FLUSH && process_of(fuse_get_context()->pid) != w->opener)
		return 0;
	pthread_mutex_lock(&w->lock);
	/* The last line may end without a newline. */
	if (w->partial_len > 0)
		rc = stage_lines(fs, w, w->partial, w->partial_len);
	w->partial_len = 0;
	pthread_mutex_lock(&w->writes->commit_lock);
	committed = commit_batch_locked(fs, w, cause);
	pthread_mutex_unlock(&w->writes->commit_lock);
	pthread_mutex_unlock(&w->lock);
	/* A refused last line is the cause; the commit then only repeats it. */
	return rc != 0 && rc != -ECANCELED ? rc : committed;
}

int vc_fs_write_read_ctl(vc_fs *fs, vc_fs_file *file, char *buf, size_t size, off_t offset)
{
	size_t n;

	/* Each read from the start shows the state now. */
	if (offset == 0) {
		char *text;
		size_t len;
		vc_err err = vc_fs_write_render_ctl(fs, &text, &len);

		if (err != VC_OK)
			return -vc_err_errno(err);
		free(file->text);
		file->text = text;
		file->text_len = len;
	}
	if (offset < 0 || (uint64_t)offset >= file->text_len)
		return 0;
	n = file->text_len - (size_t)offset;
	if (n > size)
		n = size;
	memcpy(buf, file->text + offset, n);
	return (int)n;
}
