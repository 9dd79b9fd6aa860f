/* The S5 backend: objects of a session over the S5 HTTP bridge API,
 * GET|PUT|HEAD|DELETE {base}/s5/fs/{session}/{path} and GET {base}/health. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/http_i.h"
#include "store/store_i.h"
#include "util/error_i.h"

typedef struct s5_store {
	vc_store base;
	vc_http_client *http;
	char *prefix;	  /* "{base}/s5/fs/{session}/", session percent-encoded */
	char *health_url; /* "{base}/health" */
} s5_store;

static s5_store *s5_of(vc_store *store)
{
	return (s5_store *)store;
}

/* Percent-encode everything but unreserved characters and the '/' separators. */
static vc_err append_escaped(vc_bytes *url, const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	vc_err err = VC_OK;

	for (p = (const unsigned char *)path; *p != '\0' && err == VC_OK; p++) {
		char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};

		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p) != NULL)
			err = vc_bytes_append(url, p, 1);
		else
			err = vc_bytes_append(url, enc, sizeof(enc));
	}
	return err;
}

static vc_err object_url(s5_store *s, const char *path, char **out)
{
	vc_bytes url = {0};
	vc_err err;

	*out = NULL;
	err = vc_store_check_path(path);
	if (err != VC_OK)
		return err;
	err = vc_bytes_append(&url, s->prefix, strlen(s->prefix));
	if (err == VC_OK)
		err = append_escaped(&url, path);
	if (err == VC_OK)
		err = vc_bytes_append(&url, "", 1);
	if (err != VC_OK) {
		vc_bytes_free(&url);
		return vc_fail(VC_ERR_NOMEM, "out of memory building the URL of %s", path);
	}
	*out = (char *)url.data;
	return VC_OK;
}

/* Run one request on @p path; the caller fills method and method-specific fields. */
static vc_err run(s5_store *s, const char *path, vc_http_request *req)
{
	char *url;
	vc_err err;

	err = object_url(s, path, &url);
	if (err != VC_OK)
		return err;
	req->url = url;
	err = vc_http_perform(s->http, req);
	free(url);
	return err;
}

static vc_err s5_head(vc_store *store, const char *path, uint64_t *size)
{
	vc_http_request req = {.method = VC_HTTP_HEAD};
	vc_err err;

	err = run(s5_of(store), path, &req);
	if (err == VC_OK)
		*size = req.size;
	return err;
}

static vc_err s5_get(vc_store *store, const char *path, uint64_t offset, uint64_t length,
		     vc_bytes *out)
{
	vc_http_request req = {.method = VC_HTTP_GET, .offset = offset, .length = length};
	uint64_t size;
	vc_err err;

	/* HTTP cannot ask for zero bytes; the answer is still "not found" for a missing object. */
	if (length == 0)
		return s5_head(store, path, &size);
	err = run(s5_of(store), path, &req);
	if (err == VC_OK)
		*out = req.body;
	return err;
}

static vc_err s5_put(vc_store *store, const char *path, const void *data, size_t length)
{
	vc_http_request req = {.method = VC_HTTP_PUT, .upload = data, .upload_len = length};

	return run(s5_of(store), path, &req);
}

static vc_err s5_remove(vc_store *store, const char *path)
{
	vc_http_request req = {.method = VC_HTTP_DELETE};

	return run(s5_of(store), path, &req);
}

static vc_err s5_health(vc_store *store)
{
	s5_store *s = s5_of(store);
	vc_http_request req = {.method = VC_HTTP_GET, .length = VC_STORE_TO_END};
	vc_err err;

	req.url = s->health_url;
	err = vc_http_perform(s->http, &req);
	vc_bytes_free(&req.body);
	/* Any answer other than success means this is not a working bridge. */
	if (err == VC_ERR_NOT_FOUND || err == VC_ERR_IO || err == VC_ERR_UNSUPPORTED)
		return vc_fail(VC_ERR_UNAVAILABLE, "%s (is this an S5 bridge?)", req.message);
	return err;
}

static vc_err s5_get_many(vc_store *store, size_t count, const char *const *paths, vc_bytes *outs,
			  vc_err *errors)
{
	s5_store *s = s5_of(store);
	vc_http_request *reqs;
	vc_err err = VC_OK;
	size_t i;

	reqs = calloc(count, sizeof(*reqs));
	if (reqs == NULL) {
		for (i = 0; i < count; i++)
			errors[i] = VC_ERR_NOMEM;
		return vc_fail(VC_ERR_NOMEM, "out of memory reading %zu objects", count);
	}
	for (i = 0; i < count && err == VC_OK; i++) {
		reqs[i].method = VC_HTTP_GET;
		reqs[i].length = VC_STORE_TO_END;
		err = object_url(s, paths[i], (char **)&reqs[i].url);
	}
	if (err == VC_OK) {
		err = vc_http_perform_many(s->http, count, reqs);
		for (i = 0; i < count; i++) {
			errors[i] = reqs[i].err;
			outs[i] = reqs[i].body;
		}
	} else {
		for (i = 0; i < count; i++)
			errors[i] = err;
	}
	for (i = 0; i < count; i++)
		free((char *)reqs[i].url);
	free(reqs);
	return err;
}

static void s5_destroy(vc_store *store)
{
	s5_store *s = s5_of(store);

	vc_http_client_free(s->http);
	free(s->health_url);
	free(s->prefix);
	vc_store_base_release(store);
	free(s);
}

static const vc_store_ops s5_ops = {
    .get = s5_get,
    .put = s5_put,
    .head = s5_head,
    .remove = s5_remove,
    .health = s5_health,
    .get_many = s5_get_many,
    .destroy = s5_destroy,
};

static vc_err build_urls(s5_store *s, const char *base, const char *session)
{
	vc_bytes prefix = {0};
	vc_err err;

	err = vc_bytes_append(&prefix, base, strlen(base));
	if (err == VC_OK)
		err = vc_bytes_append(&prefix, "/s5/fs/", 7);
	if (err == VC_OK)
		err = append_escaped(&prefix, session);
	if (err == VC_OK)
		err = vc_bytes_append(&prefix, "/", 2); /* with the terminating NUL */
	if (err != VC_OK || asprintf(&s->health_url, "%s/health", base) < 0) {
		s->health_url = NULL;
		vc_bytes_free(&prefix);
		return vc_fail(VC_ERR_NOMEM, "out of memory opening S5 store %s", base);
	}
	s->prefix = (char *)prefix.data;
	return VC_OK;
}

vc_err vc_store_s5_open(const char *base, const char *session, const vc_store_options *options,
			vc_store **out)
{
	char *location = NULL;
	s5_store *s;
	vc_err err;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory opening S5 store %s", base);
	err = build_urls(s, base, session);
	if (err != VC_OK)
		goto fail_store;
	if (asprintf(&location, "%s/s5/fs/%s", base, session) < 0) {
		location = NULL;
		err = vc_fail(VC_ERR_NOMEM, "out of memory opening S5 store %s", base);
		goto fail_urls;
	}
	err = vc_store_base_init(&s->base, &s5_ops, "s5", location);
	free(location);
	if (err != VC_OK)
		goto fail_urls;
	err = vc_http_client_new(options, &s->base, &s->http);
	if (err != VC_OK)
		goto fail_base;
	*out = &s->base;
	return VC_OK;

fail_base:
	vc_store_base_release(&s->base);
fail_urls:
	free(s->health_url);
	free(s->prefix);
fail_store:
	free(s);
	return err;
}
