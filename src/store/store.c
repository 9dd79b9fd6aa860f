/* Opening a store from a session URI, and the vc_store_* wrappers that check arguments and count
 * requests, bytes and errors for every backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_i.h"
#include "util/error_i.h"

#define S5_PREFIX "s5+"
#define DIR_PREFIX "dir:"

vc_err vc_store_base_init(vc_store *store, const vc_store_ops *ops, const char *kind,
			  const char *location)
{
	store->ops = ops;
	store->kind = kind;
	store->location = strdup(location);
	if (store->location == NULL)
		goto fail;
	store->stats = calloc(1, sizeof(*store->stats));
	if (store->stats == NULL)
		goto fail_location;
	return VC_OK;

fail_location:
	free(store->location);
	store->location = NULL;
fail:
	return vc_fail(VC_ERR_NOMEM, "out of memory opening %s store %s", kind, location);
}

void vc_store_base_release(vc_store *store)
{
	free(store->location);
	store->location = NULL;
	free(store->stats);
	store->stats = NULL;
}

vc_err vc_store_check_path(const char *path)
{
	const char *component;
	size_t len;
	size_t i;

	if (path == NULL || path[0] == '\0')
		return vc_fail(VC_ERR_INVALID, "empty object path");
	len = strlen(path);
	if (len > VC_STORE_PATH_MAX)
		return vc_fail(VC_ERR_INVALID, "object path longer than %d bytes: %.64s...",
			       VC_STORE_PATH_MAX, path);
	if (path[0] == '/')
		return vc_fail(VC_ERR_INVALID, "object path %s is absolute; paths are relative",
			       path);
	for (i = 0; i < len; i++) {
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return vc_fail(VC_ERR_INVALID,
				       "object path %s contains a control character", path);
	}
	/* Walk components: reject "", "." and ".." so no path escapes its root. */
	component = path;
	for (;;) {
		size_t clen = strcspn(component, "/");

		if (clen == 0 || (clen == 1 && component[0] == '.') ||
		    (clen == 2 && component[0] == '.' && component[1] == '.'))
			return vc_fail(VC_ERR_INVALID,
				       "object path %s has an empty, \".\" or \"..\" component",
				       path);
		if (component[clen] == '\0')
			break;
		component += clen + 1;
	}
	return VC_OK;
}

static void count(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

void vc_store_count_retries(vc_store *store, uint64_t n)
{
	if (store != NULL && store->stats != NULL)
		count(&store->stats->retries, n);
}

/* Record the outcome of one request in the store's counters and pass @p err on. */
static vc_err account(vc_store *store, vc_err err, uint64_t read, uint64_t written)
{
	if (store->stats == NULL)
		return err;
	count(&store->stats->requests, 1);
	if (err != VC_OK)
		count(&store->stats->errors, 1);
	if (read > 0)
		count(&store->stats->bytes_read, read);
	if (written > 0)
		count(&store->stats->bytes_written, written);
	return err;
}

static vc_err check_call(vc_store *store, const char *op, const char *path)
{
	if (store == NULL || store->ops == NULL)
		return vc_fail(VC_ERR_INVALID, "%s: no store given", op);
	return path == NULL ? VC_OK : vc_store_check_path(path);
}

vc_err vc_store_get_range(vc_store *store, const char *path, uint64_t offset, uint64_t length,
			  vc_bytes *out)
{
	vc_err err;

	if (out == NULL)
		return vc_fail(VC_ERR_INVALID, "reading %s: no output buffer given",
			       path != NULL ? path : "(null)");
	memset(out, 0, sizeof(*out));
	err = check_call(store, "reading an object", path != NULL ? path : "");
	if (err != VC_OK)
		return err;
	err = store->ops->get(store, path, offset, length, out);
	if (err != VC_OK)
		vc_bytes_free(out);
	return account(store, err, out->len, 0);
}

vc_err vc_store_get(vc_store *store, const char *path, vc_bytes *out)
{
	return vc_store_get_range(store, path, 0, VC_STORE_TO_END, out);
}

vc_err vc_store_put(vc_store *store, const char *path, const void *data, size_t length)
{
	vc_err err;

	err = check_call(store, "writing an object", path != NULL ? path : "");
	if (err != VC_OK)
		return err;
	if (data == NULL && length > 0)
		return vc_fail(VC_ERR_INVALID, "writing %s: no data given for %zu bytes", path,
			       length);
	err = store->ops->put(store, path, data, length);
	return account(store, err, 0, err == VC_OK ? length : 0);
}

vc_err vc_store_put_new(vc_store *store, const char *path, const void *data, size_t length)
{
	uint64_t size;
	vc_err err;

	err = check_call(store, "creating an object", path != NULL ? path : "");
	if (err != VC_OK)
		return err;
	if (data == NULL && length > 0)
		return vc_fail(VC_ERR_INVALID, "writing %s: no data given for %zu bytes", path,
			       length);
	if (store->ops->put_new != NULL) {
		err = store->ops->put_new(store, path, data, length);
		if (err == VC_ERR_EXISTS)
			return err; /* an answer, not a backend failure */
		return account(store, err, 0, err == VC_OK ? length : 0);
	}
	/* Without an atomic create: look first (callers that need more re-check afterwards). */
	err = store->ops->head(store, path, &size);
	if (err == VC_OK)
		return vc_fail(VC_ERR_EXISTS, "%s already exists", path);
	if (err != VC_ERR_NOT_FOUND)
		return account(store, err, 0, 0);
	vc_clear_error();
	err = store->ops->put(store, path, data, length);
	return account(store, err, 0, err == VC_OK ? length : 0);
}

vc_err vc_store_head(vc_store *store, const char *path, uint64_t *size)
{
	vc_err err;

	err = check_call(store, "looking up an object", path != NULL ? path : "");
	if (err != VC_OK)
		return err;
	if (size == NULL)
		return vc_fail(VC_ERR_INVALID, "looking up %s: no size output given", path);
	err = store->ops->head(store, path, size);
	return account(store, err, 0, 0);
}

vc_err vc_store_remove(vc_store *store, const char *path)
{
	vc_err err;

	err = check_call(store, "removing an object", path != NULL ? path : "");
	if (err != VC_OK)
		return err;
	err = store->ops->remove(store, path);
	return account(store, err, 0, 0);
}

vc_err vc_store_health(vc_store *store)
{
	vc_err err;

	err = check_call(store, "checking store health", NULL);
	if (err != VC_OK)
		return err;
	err = store->ops->health(store);
	return account(store, err, 0, 0);
}

vc_err vc_store_sweep(vc_store *store, int64_t before, uint64_t *removed)
{
	uint64_t none;
	vc_err err;

	err = check_call(store, "sweeping unfinished writes", NULL);
	if (err != VC_OK || store->ops->sweep == NULL)
		return err;
	err = store->ops->sweep(store, before, removed != NULL ? removed : &none);
	return account(store, err, 0, 0);
}

/* Sequential get_many for backends without a parallel one. The message of the first failure is
 * the one left for the caller, even if later objects fail too. */
static vc_err get_many_sequential(vc_store *store, size_t count, const char *const *paths,
				  vc_bytes *outs, vc_err *errors)
{
	char first_message[512] = "";
	vc_err first = VC_OK;
	size_t i;

	for (i = 0; i < count; i++) {
		errors[i] = store->ops->get(store, paths[i], 0, VC_STORE_TO_END, &outs[i]);
		if (errors[i] != VC_OK && first == VC_OK) {
			first = errors[i];
			snprintf(first_message, sizeof(first_message), "%s", vc_last_error());
		}
	}
	if (first != VC_OK)
		return vc_fail(first, "%s", first_message);
	return VC_OK;
}

vc_err vc_store_get_many(vc_store *store, size_t count, const char *const *paths, vc_bytes *outs,
			 vc_err *errors)
{
	vc_err *own_errors = NULL;
	vc_err err;
	size_t i;

	err = check_call(store, "reading objects", NULL);
	if (err != VC_OK)
		return err;
	if (count == 0)
		return VC_OK;
	if (paths == NULL || outs == NULL)
		return vc_fail(VC_ERR_INVALID, "reading %zu objects: no paths or outputs given",
			       count);
	for (i = 0; i < count; i++) {
		memset(&outs[i], 0, sizeof(outs[i]));
		err = vc_store_check_path(paths[i]);
		if (err != VC_OK)
			return err;
	}
	if (errors == NULL) {
		own_errors = calloc(count, sizeof(*own_errors));
		if (own_errors == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory reading %zu objects", count);
		errors = own_errors;
	}
	if (store->ops->get_many != NULL)
		err = store->ops->get_many(store, count, paths, outs, errors);
	else
		err = get_many_sequential(store, count, paths, outs, errors);
	for (i = 0; i < count; i++) {
		if (errors[i] != VC_OK)
			vc_bytes_free(&outs[i]);
		account(store, errors[i], outs[i].len, 0);
	}
	free(own_errors);
	return err;
}

void vc_store_get_stats(vc_store *store, vc_store_stats *out)
{
	const vc_store_stats *s;

	memset(out, 0, sizeof(*out));
	if (store == NULL || store->stats == NULL)
		return;
	s = store->stats;
	out->requests = __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
	out->bytes_read = __atomic_load_n(&s->bytes_read, __ATOMIC_RELAXED);
	out->bytes_written = __atomic_load_n(&s->bytes_written, __ATOMIC_RELAXED);
	out->retries = __atomic_load_n(&s->retries, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
}

void vc_store_close(vc_store *store)
{
	if (store == NULL || store->ops == NULL)
		return;
	store->ops->destroy(store);
}

static vc_err reject_uri(const char *uri)
{
	return vc_fail(VC_ERR_INVALID,
		       "unsupported store URI \"%s\": use a directory path, dir:PATH, "
		       "s5+http://HOST:PORT/SESSION or s5+https://HOST:PORT/SESSION",
		       uri);
}

/* "s5+http://HOST:PORT/SESSION_PATH" -> base "http://HOST:PORT", session "SESSION_PATH". */
static vc_err open_s5(const char *uri, const vc_store_options *options, vc_store **out)
{
	const char *scheme_end;
	const char *authority;
	size_t authority_len;
	size_t session_len;
	const char *session;
	char *base = NULL;
	char *session_copy = NULL;
	vc_err err;

	scheme_end = strstr(uri, "://");
	authority = scheme_end + 3;
	authority_len = strcspn(authority, "/");
	if (authority_len == 0 || authority[authority_len] != '/')
		return vc_fail(VC_ERR_INVALID, "store URI \"%s\" names no host or no session path",
			       uri);
	if (strcspn(authority, "@?#") < authority_len || strpbrk(uri, "?#") != NULL)
		return vc_fail(VC_ERR_INVALID,
			       "store URI \"%s\": user names, queries and fragments are not "
			       "supported",
			       uri);
	session = authority + authority_len + 1;
	session_len = strlen(session);
	while (session_len > 0 && session[session_len - 1] == '/')
		session_len--;
	if (session_len == 0)
		return vc_fail(VC_ERR_INVALID, "store URI \"%s\" names no session path", uri);

	base = strndup(uri + strlen(S5_PREFIX),
		       (size_t)(authority + authority_len - uri) - strlen(S5_PREFIX));
	session_copy = strndup(session, session_len);
	if (base == NULL || session_copy == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory opening store %s", uri);
		goto out;
	}
	err = vc_store_check_path(session_copy);
	if (err != VC_OK) {
		vc_fail_context(err, "session path of store URI \"%s\"", uri);
		goto out;
	}
	err = vc_store_s5_open(base, session_copy, options, out);
out:
	free(session_copy);
	free(base);
	return err;
}

/* Faults asked for by the caller, or else by VCHUNK_FAULT; NULL when none. */
static vc_err faults_wanted(const vc_store_options *options, vc_fault_options *parsed,
			    const vc_fault_options **out)
{
	const char *spec = getenv("VCHUNK_FAULT");
	vc_err err;

	*out = options != NULL ? options->fault : NULL;
	if (*out != NULL || spec == NULL || spec[0] == '\0')
		return VC_OK;
	err = vc_fault_options_parse(spec, parsed);
	if (err != VC_OK)
		return vc_fail_context(err, "environment variable VCHUNK_FAULT");
	*out = parsed;
	return VC_OK;
}

vc_err vc_store_open(const char *uri, const vc_store_options *options, vc_store **out)
{
	vc_store_options with_faults = {0};
	vc_fault_options parsed;
	const vc_fault_options *fault;
	vc_store *store = NULL;
	vc_err err;

	if (out == NULL)
		return vc_fail(VC_ERR_INVALID, "opening a store: no output handle given");
	err = faults_wanted(options, &parsed, &fault);
	if (err != VC_OK)
		return err;
	if (options != NULL)
		with_faults = *options;
	with_faults.fault = fault;
	*out = NULL;
	if (uri == NULL || uri[0] == '\0')
		return vc_fail(VC_ERR_INVALID, "opening a store: empty store URI");
	if (strncmp(uri, DIR_PREFIX, strlen(DIR_PREFIX)) == 0) {
		if (uri[strlen(DIR_PREFIX)] == '\0')
			return vc_fail(VC_ERR_INVALID, "store URI \"%s\" names no directory", uri);
		err = vc_store_dir_open(uri + strlen(DIR_PREFIX), &store);
	} else if (strncmp(uri, "s5+http://", 10) == 0 || strncmp(uri, "s5+https://", 11) == 0) {
		/* The S5 client injects faults itself, inside its retry loop. */
		err = open_s5(uri, &with_faults, &store);
		fault = NULL;
	} else if (strstr(uri, "://") != NULL || strncmp(uri, "s5:", 3) == 0 ||
		   strncmp(uri, S5_PREFIX, strlen(S5_PREFIX)) == 0) {
		return reject_uri(uri);
	} else {
		err = vc_store_dir_open(uri, &store);
	}
	if (err != VC_OK)
		return err;
	if (fault != NULL) {
		err = vc_store_fault_wrap(store, fault, &store);
		if (err != VC_OK) {
			vc_store_close(store);
			return err;
		}
	}
	*out = store;
	return VC_OK;
}
