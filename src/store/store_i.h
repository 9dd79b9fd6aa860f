/* Private side of include/vchunk/store.h: backend constructors and helpers shared by backends. */
#ifndef VC_STORE_I_H
#define VC_STORE_I_H

#include <stdint.h>

#include "vchunk/store.h"

/** Longest object path (and session path) a backend accepts. */
#define VC_STORE_PATH_MAX 1024

/**
 * Fill the common header of a backend: @p location is copied, a zeroed
 * vc_store_stats is allocated. Undo with vc_store_base_release().
 */
vc_err vc_store_base_init(vc_store *store, const vc_store_ops *ops, const char *kind,
			  const char *location);

/** Free what vc_store_base_init() allocated (the header itself stays). */
void vc_store_base_release(vc_store *store);

/**
 * Check an object path: relative, non-empty, '/'-separated, no empty, "."
 * or ".." component, no control characters, at most VC_STORE_PATH_MAX bytes.
 * VC_ERR_INVALID with a message naming @p path otherwise.
 */
vc_err vc_store_check_path(const char *path);

/** Add @p n to the retry counter of @p store (thread-safe; NULL stats ignored). */
void vc_store_count_retries(vc_store *store, uint64_t n);

/** Open a local directory backend rooted at @p root (need not exist yet). */
vc_err vc_store_dir_open(const char *root, vc_store **out);

/**
 * Open an S5 HTTP bridge backend. @p base is "http://HOST:PORT" (no trailing
 * slash), @p session the session path ("my/session", already checked).
 */
vc_err vc_store_s5_open(const char *base, const char *session, const vc_store_options *options,
			vc_store **out);

#endif
