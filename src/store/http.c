/* HTTP requests over libcurl for the S5 backend: a pool of easy handles sharing one connection
 * cache, retries with exponential backoff and full jitter, and the mapping of statuses and
 * transport errors to vc_err codes. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "store/http_i.h"
#include "store/store_i.h"
#include "util/error_i.h"

#define POOL_KEEP 64	      /* idle easy handles kept for reuse */
#define BACKOFF_CAP_MS 10000L /* longest single backoff (unless the base is longer) */
#define MAX_PARALLEL 64

enum { REQ_WAITING, REQ_ACTIVE, REQ_DONE };

struct vc_http_client {
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock; /* guards pool, pool_len */
	CURL *pool[POOL_KEEP];
	size_t pool_len;
	struct curl_slist *put_headers;
	long connect_timeout_ms;
	long timeout_ms;
	long retry_base_ms;
	int retries;
	int parallel;
	uint64_t jitter; /* splitmix64 state, advanced atomically */
	vc_store *counted;
	bool faulty;            /* inject faults per try (failure tests) */
	vc_fault_options fault;
	uint64_t fault_state;   /* splitmix64 state, advanced atomically */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void init_curl(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec left = {.tv_sec = (time_t)(ms / 1000),
				.tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&left, &left) != 0 && errno == EINTR)
		;
}

/* Next value of a splitmix64 sequence whose state several threads advance at once. */
static uint64_t splitmix_next(uint64_t *state)
{
	uint64_t z = __atomic_add_fetch(state, 0x9e3779b97f4a7c15ULL, __ATOMIC_RELAXED);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Does an injected fault of probability @p rate strike this try? */
static bool fault_strikes(vc_http_client *c, double rate)
{
	if (!c->faulty || rate <= 0.0)
		return false;
	return (double)(splitmix_next(&c->fault_state) >> 11) * 0x1.0p-53 < rate;
}

/* Full jitter: a uniform delay in [0, min(cap, base * 2^(try-1))]. */
static uint64_t backoff_ms(vc_http_client *c, int tries)
{
	uint64_t z = splitmix_next(&c->jitter);
	uint64_t ceiling = (uint64_t)c->retry_base_ms;
	uint64_t cap = c->retry_base_ms > BACKOFF_CAP_MS ? (uint64_t)c->retry_base_ms
							 : (uint64_t)BACKOFF_CAP_MS;
	int i;

	for (i = 1; i < tries && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	return z % (ceiling + 1);
}

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *user)
{
	vc_http_client *c = user;

	(void)handle;
	(void)access;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *user)
{
	vc_http_client *c = user;

	(void)handle;
	if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_locks[data]);
}

static void set_options(vc_http_client *c, const vc_store_options *o)
{
	c->connect_timeout_ms =
	    o != NULL && o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
	c->timeout_ms = o != NULL && o->timeout_ms > 0 ? o->timeout_ms : 30000;
	c->retry_base_ms = o != NULL && o->retry_base_ms > 0 ? o->retry_base_ms : 100;
	c->retries = 4;
	if (o != NULL && o->retries != 0)
		c->retries = o->retries < 0 ? 0 : o->retries;
	c->parallel = o != NULL && o->parallel > 0 ? o->parallel : 8;
	if (c->parallel > MAX_PARALLEL)
		c->parallel = MAX_PARALLEL;
	if (o != NULL && o->fault != NULL) {
		c->faulty = true;
		c->fault = *o->fault;
		c->fault_state = o->fault->seed;
	}
}

vc_err vc_http_client_new(const vc_store_options *options, vc_store *counted, vc_http_client **out)
{
	vc_http_client *c;
	int i;

	pthread_once(&curl_once, init_curl);
	if (curl_init_result != CURLE_OK)
		return vc_fail(VC_ERR_UNAVAILABLE, "initialising libcurl: %s",
			       curl_easy_strerror(curl_init_result));
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory creating an HTTP client");
	set_options(c, options);
	c->counted = counted;
	c->jitter = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)c;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	pthread_mutex_init(&c->pool_lock, NULL);
	c->put_headers = curl_slist_append(NULL, "Expect:");
	c->share = curl_share_init();
	if (c->put_headers == NULL || c->share == NULL)
		goto fail;
	/* One connection cache and DNS cache for every handle of this client, so keep-alive
	 * connections are reused whichever thread asks next. */
	if (curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
	    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
	    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c) != CURLSHE_OK ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
	    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK)
		goto fail;
	*out = c;
	return VC_OK;

fail:
	vc_http_client_free(c);
	return vc_fail(VC_ERR_NOMEM, "could not set up libcurl handles for an HTTP client");
}

void vc_http_client_free(vc_http_client *c)
{
	size_t i;
	int l;

	if (c == NULL)
		return;
	/* Easy handles first: the share cannot go while they use it. */
	for (i = 0; i < c->pool_len; i++)
		curl_easy_cleanup(c->pool[i]);
	if (c->share != NULL)
		curl_share_cleanup(c->share);
	curl_slist_free_all(c->put_headers);
	pthread_mutex_destroy(&c->pool_lock);
	for (l = 0; l < CURL_LOCK_DATA_LAST; l++)
		pthread_mutex_destroy(&c->share_locks[l]);
	free(c);
}

static CURL *take_handle(vc_http_client *c)
{
	CURL *easy = NULL;

	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len > 0)
		easy = c->pool[--c->pool_len];
	pthread_mutex_unlock(&c->pool_lock);
	return easy != NULL ? easy : curl_easy_init();
}

static void give_handle(vc_http_client *c, CURL *easy)
{
	if (easy == NULL)
		return;
	curl_easy_reset(easy);
	pthread_mutex_lock(&c->pool_lock);
	if (c->pool_len < POOL_KEEP) {
		c->pool[c->pool_len++] = easy;
		easy = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	if (easy != NULL)
		curl_easy_cleanup(easy);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
	vc_http_request *r = user;
	size_t n = size * nmemb;

	if (vc_bytes_append(&r->body, data, n) != VC_OK) {
		r->nomem = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	return n;
}

/* Remember where a 206 body starts ("Content-Range: bytes 2-4/10") to check it. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *user)
{
	vc_http_request *r = user;
	size_t n = size * nmemb;
	static const char name[] = "content-range:";
	char buf[128];
	unsigned long long start;

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0)
		r->has_range_start = false; /* a new response (after 100 Continue) */
	if (n < sizeof(name) - 1 || n >= sizeof(buf) || strncasecmp(line, name, sizeof(name) - 1))
		return n;
	memcpy(buf, line, n);
	buf[n] = '\0';
	if (sscanf(buf + sizeof(name) - 1, " bytes %llu-", &start) == 1) {
		r->has_range_start = true;
		r->range_start = start;
	}
	return n;
}

static size_t on_upload(char *buffer, size_t size, size_t nmemb, void *user)
{
	vc_http_request *r = user;
	size_t n = size * nmemb;

	if (n > r->upload_len - r->upload_pos)
		n = r->upload_len - r->upload_pos;
	if (n > 0)
		memcpy(buffer, r->upload + r->upload_pos, n);
	r->upload_pos += n;
	return n;
}

/* libcurl rewinds the upload when it resends on a fresh connection. */
static int on_seek(void *user, curl_off_t offset, int origin)
{
	vc_http_request *r = user;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->upload_len)
		return CURL_SEEKFUNC_FAIL;
	r->upload_pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static const char *method_name(vc_http_method m)
{
	switch (m) {
	case VC_HTTP_GET: return "GET";
	case VC_HTTP_PUT: return "PUT";
	case VC_HTTP_HEAD: return "HEAD";
	case VC_HTTP_DELETE: return "DELETE";
	}
	return "?";
}

static bool wants_range(const vc_http_request *r)
{
	return r->method == VC_HTTP_GET && (r->offset > 0 || r->length != VC_STORE_TO_END);
}

static void set_range(CURL *e, const vc_http_request *r)
{
	char range[64];

	if (r->length == VC_STORE_TO_END || r->length > UINT64_MAX - r->offset)
		snprintf(range, sizeof(range), "%" PRIu64 "-", r->offset);
	else
		snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, r->offset,
			 r->offset + r->length - 1);
	curl_easy_setopt(e, CURLOPT_RANGE, range);
}

/* Set up r->easy for one try (options are reset between tries and uses). */
static void prepare(vc_http_client *c, vc_http_request *r)
{
	CURL *e = r->easy;

	r->body.len = 0;
	r->upload_pos = 0;
	r->nomem = false;
	r->has_range_start = false;
	r->status = 0;
	r->errbuf[0] = '\0';
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_SHARE, c->share);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "vchunkfs/0.1");
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	switch (r->method) {
	case VC_HTTP_GET:
		if (wants_range(r))
			set_range(e, r);
		break;
	case VC_HTTP_HEAD: curl_easy_setopt(e, CURLOPT_NOBODY, 1L); break;
	case VC_HTTP_DELETE: curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE"); break;
	case VC_HTTP_PUT:
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_upload);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->upload_len);
		/* Skip the 100-continue round trip: the body is in memory anyway. */
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->put_headers);
		break;
	}
}

/* Record the outcome; returns true if the try may be repeated. */
static bool outcome(vc_http_request *r, vc_err err, bool retryable, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool outcome(vc_http_request *r, vc_err err, bool retryable, const char *fmt, ...)
{
	int used;
	va_list ap;

	r->err = err;
	r->message[0] = '\0';
	if (err == VC_OK)
		return retryable;
	used = snprintf(r->message, sizeof(r->message), "%s %s: ", method_name(r->method), r->url);
	if (used > 0 && (size_t)used < sizeof(r->message)) {
		va_start(ap, fmt);
		vsnprintf(r->message + used, sizeof(r->message) - (size_t)used, fmt, ap);
		va_end(ap);
	}
	return retryable;
}

static bool transport_failed(vc_http_client *c, vc_http_request *r, CURLcode rc)
{
	const char *why = r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(rc);

	if (r->nomem || rc == CURLE_OUT_OF_MEMORY)
		return outcome(r, VC_ERR_NOMEM, false, "out of memory receiving the body");
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return outcome(r, VC_ERR_TIMEOUT, true, "no answer within %ld ms (%s)",
			       c->timeout_ms, why);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM: return outcome(r, VC_ERR_UNAVAILABLE, true, "%s", why);
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL: return outcome(r, VC_ERR_INVALID, false, "%s", why);
	default:
		/* Certificate and protocol errors: trying again will not help. */
		return outcome(r, VC_ERR_UNAVAILABLE, false, "%s", why);
	}
}

/* Keep only the bytes asked for, whether the server honoured the range (206) or not (200). */
static bool finish_get(vc_http_request *r)
{
	uint64_t start = 0;
	uint64_t keep;

	/* Nothing to return: drop the error page a 416 may carry. */
	if (r->status == 416 || r->status == 204) {
		vc_bytes_free(&r->body);
		return outcome(r, VC_OK, false, "ok");
	}
	if (r->status == 206) {
		if (!r->has_range_start || r->range_start != r->offset)
			return outcome(r, VC_ERR_CORRUPT, false,
				       "HTTP 206 for bytes from %" PRIu64 " without a matching "
				       "Content-Range",
				       r->offset);
	} else if (wants_range(r)) {
		start = r->offset;
	}
	if (start >= r->body.len) {
		vc_bytes_free(&r->body);
		return outcome(r, VC_OK, false, "ok");
	}
	keep = r->body.len - start;
	if (r->length < keep)
		keep = r->length;
	if (start > 0)
		memmove(r->body.data, r->body.data + start, (size_t)keep);
	r->body.len = (size_t)keep;
	return outcome(r, VC_OK, false, "ok");
}

static bool finish_success(vc_http_request *r, curl_off_t content_length)
{
	if (r->method == VC_HTTP_HEAD) {
		if (content_length < 0)
			return outcome(r, VC_ERR_IO, false, "HTTP %ld without a Content-Length",
				       r->status);
		r->size = (uint64_t)content_length;
		return outcome(r, VC_OK, false, "ok");
	}
	if (r->method != VC_HTTP_GET)
		return outcome(r, VC_OK, false, "ok");
	/* A body shorter than announced is a broken transfer: fetch it again. */
	if (content_length >= 0 && (uint64_t)content_length != r->body.len)
		return outcome(r, VC_ERR_UNAVAILABLE, true,
			       "body truncated: received %zu of %" PRId64 " bytes", r->body.len,
			       (int64_t)content_length);
	return finish_get(r);
}

/*
 * Failure tests: make a finished try look like a slow answer, a 503 from the
 * server, or a body cut short, so the real classification and retry paths
 * handle it.
 */
static void inject_faults(vc_http_client *c, vc_http_request *r)
{
	if (c->fault.latency_ms > 0)
		sleep_ms((uint64_t)c->fault.latency_ms);
	if (fault_strikes(c, c->fault.error_rate)) {
		r->status = 503;
		return;
	}
	if (r->method == VC_HTTP_GET && r->body.len > 0 && fault_strikes(c, c->fault.truncate_rate))
		r->body.len = (size_t)(splitmix_next(&c->fault_state) % r->body.len);
}

/* Classify one finished try; returns true if it may be repeated. */
static bool finish_try(vc_http_client *c, vc_http_request *r, CURLcode rc)
{
	curl_off_t content_length = -1;
	long s;

	r->tries++;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (rc != CURLE_OK)
		return transport_failed(c, r, rc);
	curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &content_length);
	if (c->faulty)
		inject_faults(c, r);
	s = r->status;
	if ((s >= 200 && s < 300) || (s == 416 && r->method == VC_HTTP_GET))
		return finish_success(r, content_length);
	if (s == 404 || s == 410)
		return outcome(r, VC_ERR_NOT_FOUND, false, "HTTP %ld, no such object", s);
	if (s == 401 || s == 403)
		return outcome(r, VC_ERR_PERMISSION, false, "HTTP %ld, access refused", s);
	if (s == 413)
		return outcome(r, VC_ERR_TOO_BIG, false,
			       "HTTP 413, object too large for the server");
	if (s == 405)
		return outcome(r, VC_ERR_UNSUPPORTED, false,
			       "HTTP 405, method not allowed (does the server accept %s?)",
			       method_name(r->method));
	if (s >= 500 || s == 408 || s == 429)
		return outcome(r, VC_ERR_UNAVAILABLE, true, "HTTP %ld", s);
	return outcome(r, VC_ERR_IO, false, "unexpected HTTP %ld", s);
}

/* After the last try: say how many tries were made. */
static void give_up(vc_http_request *r)
{
	size_t used = strlen(r->message);

	if (r->tries > 1)
		snprintf(r->message + used, sizeof(r->message) - used, " (after %d tries)",
			 r->tries);
}

vc_err vc_http_perform(vc_http_client *c, vc_http_request *req)
{
	bool again;

	req->tries = 0;
	req->easy = take_handle(c);
	if (req->easy == NULL) {
		req->err = VC_ERR_NOMEM;
		return vc_fail(VC_ERR_NOMEM, "%s %s: could not create a libcurl handle",
			       method_name(req->method), req->url);
	}
	for (;;) {
		prepare(c, req);
		again = finish_try(c, req, curl_easy_perform(req->easy));
		if (!again || req->tries > c->retries)
			break;
		vc_store_count_retries(c->counted, 1);
		sleep_ms(backoff_ms(c, req->tries));
	}
	give_handle(c, req->easy);
	req->easy = NULL;
	/* Only a GET answers with an object; error pages and PUT replies are dropped. */
	if (req->err != VC_OK || req->method != VC_HTTP_GET)
		vc_bytes_free(&req->body);
	if (req->err != VC_OK) {
		give_up(req);
		return vc_fail(req->err, "%s", req->message);
	}
	return VC_OK;
}

/* A parallel batch in flight. */
typedef struct batch {
	vc_http_client *c;
	CURLM *multi;
	vc_http_request *reqs;
	size_t count;
	size_t active;
	size_t done;
	size_t first_waiting; /* no request below this index waits, so scans start here */
} batch;

/* Start waiting requests that are due, in index order, up to the parallel limit. */
static void start_due(batch *b)
{
	uint64_t now = now_ms();
	size_t i;

	while (b->first_waiting < b->count && b->reqs[b->first_waiting].state != REQ_WAITING)
		b->first_waiting++;
	for (i = b->first_waiting; i < b->count && b->active < (size_t)b->c->parallel; i++) {
		vc_http_request *r = &b->reqs[i];

		if (r->state != REQ_WAITING || r->due_ms > now)
			continue;
		if (r->easy == NULL)
			r->easy = take_handle(b->c);
		if (r->easy != NULL) {
			prepare(b->c, r);
			if (curl_multi_add_handle(b->multi, r->easy) == CURLM_OK) {
				r->state = REQ_ACTIVE;
				b->active++;
				continue;
			}
		}
		outcome(r, VC_ERR_NOMEM, false, "could not start the transfer");
		r->state = REQ_DONE;
		b->done++;
	}
}

/* Collect finished transfers: each is done, or scheduled for a retry after its backoff. */
static void collect(batch *b)
{
	CURLMsg *msg;
	int left;

	for (msg = curl_multi_info_read(b->multi, &left); msg != NULL;
	     msg = curl_multi_info_read(b->multi, &left)) {
		vc_http_request *r;
		void *owner = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &owner);
		r = owner;
		curl_multi_remove_handle(b->multi, msg->easy_handle);
		b->active--;
		if (finish_try(b->c, r, msg->data.result) && r->tries <= b->c->retries) {
			vc_store_count_retries(b->c->counted, 1);
			r->state = REQ_WAITING;
			r->due_ms = now_ms() + backoff_ms(b->c, r->tries);
			if ((size_t)(r - b->reqs) < b->first_waiting)
				b->first_waiting = (size_t)(r - b->reqs);
			continue;
		}
		r->state = REQ_DONE;
		b->done++;
		give_handle(b->c, r->easy);
		r->easy = NULL;
	}
}

/* How long to wait for activity: until the next retry is due, at most a second. */
static int wait_ms(const batch *b)
{
	uint64_t now = now_ms();
	uint64_t wait = 1000;
	size_t i;

	if (b->active >= (size_t)b->c->parallel)
		return (int)wait;
	for (i = b->first_waiting; i < b->count; i++) {
		const vc_http_request *r = &b->reqs[i];

		if (r->state != REQ_WAITING)
			continue;
		if (r->due_ms <= now)
			return 0;
		if (r->due_ms - now < wait)
			wait = r->due_ms - now;
	}
	return (int)wait;
}

static vc_err finish_many(size_t count, vc_http_request *reqs)
{
	size_t i;

	for (i = 0; i < count; i++) {
		if (reqs[i].err != VC_OK) {
			give_up(&reqs[i]);
			vc_bytes_free(&reqs[i].body);
		}
	}
	for (i = 0; i < count; i++) {
		if (reqs[i].err != VC_OK)
			return vc_fail(reqs[i].err, "%s", reqs[i].message);
	}
	return VC_OK;
}

vc_err vc_http_perform_many(vc_http_client *c, size_t count, vc_http_request *reqs)
{
	batch b = {.c = c, .reqs = reqs, .count = count};
	int running;
	size_t i;

	b.multi = curl_multi_init();
	if (b.multi == NULL) {
		for (i = 0; i < count; i++)
			reqs[i].err = VC_ERR_NOMEM;
		return vc_fail(VC_ERR_NOMEM, "could not create a libcurl multi handle");
	}
	for (i = 0; i < count; i++) {
		reqs[i].state = REQ_WAITING;
		reqs[i].due_ms = 0;
		reqs[i].tries = 0;
		reqs[i].easy = NULL;
	}
	while (b.done < count) {
		start_due(&b);
		curl_multi_perform(b.multi, &running);
		collect(&b);
		if (b.done == count)
			break;
		curl_multi_poll(b.multi, NULL, 0, wait_ms(&b), NULL);
	}
	curl_multi_cleanup(b.multi);
	for (i = 0; i < count; i++) {
		give_handle(c, reqs[i].easy);
		reqs[i].easy = NULL;
	}
	return finish_many(count, reqs);
}
