/* The HTTP engine under the S5 backend: pooled libcurl handles sharing one connection cache,
 * single requests and parallel batches, each with retries, backoff and error mapping. */
#ifndef VC_HTTP_I_H
#define VC_HTTP_I_H

#include <stdbool.h>
#include <stdint.h>

#include "vchunk/store.h"

typedef enum vc_http_method {
	VC_HTTP_GET,
	VC_HTTP_PUT,
	VC_HTTP_HEAD,
	VC_HTTP_DELETE,
} vc_http_method;

/** Pooled handles, shared connection cache and retry policy; thread-safe. */
typedef struct vc_http_client vc_http_client;

/**
 * One request. The caller fills the inputs (zero the rest), runs it with
 * vc_http_perform or vc_http_perform_many and then owns body.
 */
typedef struct vc_http_request {
	/* inputs */
	vc_http_method method;
	const char *url;       /**< full URL, borrowed */
	uint64_t offset;       /**< GET: first byte */
	uint64_t length;       /**< GET: bytes wanted, VC_STORE_TO_END for the rest */
	const uint8_t *upload; /**< PUT: body, borrowed */
	size_t upload_len;
	/* outputs */
	vc_bytes body;	    /**< GET: the requested bytes */
	uint64_t size;	    /**< HEAD: the object's size */
	long status;	    /**< last HTTP status (0 if none) */
	vc_err err;	    /**< outcome */
	char message[1024]; /**< message for err (the URL, status or transport error) */
	/* engine state */
	void *easy;
	size_t upload_pos;
	bool nomem;
	bool has_range_start;
	uint64_t range_start;
	int tries;
	int state;
	uint64_t due_ms;
	char errbuf[256];
} vc_http_request;

/**
 * Create a client using @p options (NULL or zero fields: defaults). Retries
 * are counted in the stats of @p counted (may be NULL). Initialises libcurl
 * once per process, thread-safely.
 */
vc_err vc_http_client_new(const vc_store_options *options, vc_store *counted, vc_http_client **out);

/** Release the client (NULL-safe); no request may be running. */
void vc_http_client_free(vc_http_client *client);

/**
 * Run one request with retries on 5xx and transport errors. Returns req->err
 * and records req->message as the thread's error message.
 */
vc_err vc_http_perform(vc_http_client *client, vc_http_request *req);

/**
 * Run @p count requests in parallel (at most options.parallel at a time),
 * each with its own retries. Every req->err is set; the message of the first
 * failing request (lowest index) is recorded and its code returned.
 */
vc_err vc_http_perform_many(vc_http_client *client, size_t count, vc_http_request *reqs);

#endif
