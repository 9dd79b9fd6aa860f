/* Storage backends: where a session's objects live (local directory, S5 bridge). */
#ifndef VCHUNK_STORE_H
#define VCHUNK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "vchunk/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A byte buffer owned by the caller; release with vc_bytes_free(). A zeroed
 *  vc_bytes is a valid empty buffer. */
typedef struct vc_bytes {
	uint8_t *data;
	size_t len;
	size_t cap; /**< allocated bytes (for vc_bytes_append) */
} vc_bytes;

/** Free a buffer's data (NULL-safe) and reset it to empty. */
void vc_bytes_free(vc_bytes *bytes);

/** Append @p len bytes, growing geometrically. VC_ERR_NOMEM on failure. */
vc_err vc_bytes_append(vc_bytes *bytes, const void *data, size_t len);

/** Make room for @p extra more bytes without changing len. */
vc_err vc_bytes_reserve(vc_bytes *bytes, size_t extra);

/** Read to the end of the object (the @p length argument of get). */
#define VC_STORE_TO_END UINT64_MAX

typedef struct vc_store vc_store;

/**
 * The backend contract. Object paths are relative ("manifest.json",
 * "chunks/chunk-3.cbor") and already validated by the caller.
 * Every operation may be called from several threads at once.
 */
typedef struct vc_store_ops {
	/** Read @p length bytes at @p offset (VC_STORE_TO_END: the rest) into a
	 *  new buffer. A range past the end returns what exists (possibly 0 bytes).
	 *  VC_ERR_NOT_FOUND if the object does not exist. */
	vc_err (*get)(vc_store *store, const char *path, uint64_t offset, uint64_t length,
		      vc_bytes *out);
	/** Store a whole object atomically: readers see the old object or the new
	 *  one, never a part. Intermediate directories are created. */
	vc_err (*put)(vc_store *store, const char *path, const void *data, size_t length);
	/** Size of an object; VC_ERR_NOT_FOUND if absent. */
	vc_err (*head)(vc_store *store, const char *path, uint64_t *size);
	/** Delete an object; VC_ERR_NOT_FOUND if absent. */
	vc_err (*remove)(vc_store *store, const char *path);
	/** Is the backend reachable? VC_OK or the reason it is not. */
	vc_err (*health)(vc_store *store);
	/** Fetch @p count whole objects, in parallel where the backend can.
	 *  errors[i] gets each object's result. May be NULL: callers then use get. */
	vc_err (*get_many)(vc_store *store, size_t count, const char *const *paths,
			   vc_bytes *outs, vc_err *errors);
	/** Release everything the backend holds. */
	void (*destroy)(vc_store *store);
	/** Store an object only if none exists at @p path (atomically: of two
	 *  writers racing, one gets VC_ERR_EXISTS). May be NULL: vc_store_put_new
	 *  then checks with head before a put, which is not atomic. */
	vc_err (*put_new)(vc_store *store, const char *path, const void *data, size_t length);
	/** Delete the backend's own leftovers of writes that never finished (a
	 *  process killed mid-put) last modified at or before @p before (Unix
	 *  time), adding their number to *removed. Only a caller that holds the
	 *  session's writer lock may call it. May be NULL: the backend leaves none. */
	vc_err (*sweep)(vc_store *store, int64_t before, uint64_t *removed);
} vc_store_ops;

/** Common header of every backend; backends embed it first. */
struct vc_store {
	const vc_store_ops *ops;
	const char *kind; /**< "dir", "s5", "fault" */
	char *location;   /**< human-readable location for messages */
	struct vc_store_stats *stats; /**< counters, updated by the vc_store_* wrappers */
};

/** Fault injection settings (all zero: pass-through). */
typedef struct vc_fault_options {
	double error_rate;    /**< fraction of operations (S5: HTTP tries) failing as unavailable (503) */
	double truncate_rate; /**< fraction of gets whose body is cut short */
	long latency_ms;      /**< added to every operation */
	unsigned seed;        /**< PRNG seed, for reproducible runs */
} vc_fault_options;

/** Options shared by backends; zero means the default. */
typedef struct vc_store_options {
	long connect_timeout_ms; /**< default 5000 */
	long timeout_ms;         /**< whole-request timeout, default 30000 */
	int retries;             /**< retries after the first try on 5xx/transport errors, default 4; -1 for none */
	long retry_base_ms;      /**< first backoff delay, default 100 (doubles, with jitter) */
	int parallel;            /**< parallel requests in get_many, default 8 */
	/** Faults to inject (failure tests); NULL: none, or what VCHUNK_FAULT says.
	 *  The S5 backend injects them per HTTP try, inside its retry loop, so an
	 *  injected error takes the same path as a real 503; other backends are
	 *  wrapped in the fault injector (vc_store_fault_wrap). */
	const vc_fault_options *fault;
} vc_store_options;

/**
 * Open the backend a session URI names:
 *   "PATH" or "dir:PATH"                    local directory
 *   "s5+http://HOST:PORT/SESSION_PATH"       S5 HTTP bridge (also s5+https://)
 * @p options may be NULL. If options->fault is NULL and the environment
 * variable VCHUNK_FAULT is set (e.g. "error_rate=0.3,latency_ms=5,
 * truncate_rate=0.1,seed=7"), faults are injected as options->fault says.
 * The caller owns *out and releases it with vc_store_close().
 */
vc_err vc_store_open(const char *uri, const vc_store_options *options, vc_store **out);

/** Release a backend (NULL-safe). */
void vc_store_close(vc_store *store);

/* Convenience wrappers over the ops table. */
vc_err vc_store_get(vc_store *store, const char *path, vc_bytes *out);
vc_err vc_store_get_range(vc_store *store, const char *path, uint64_t offset, uint64_t length,
			  vc_bytes *out);
vc_err vc_store_put(vc_store *store, const char *path, const void *data, size_t length);
/** Create @p path only if absent: VC_ERR_EXISTS otherwise (see vc_store_ops.put_new). */
vc_err vc_store_put_new(vc_store *store, const char *path, const void *data, size_t length);
vc_err vc_store_head(vc_store *store, const char *path, uint64_t *size);
vc_err vc_store_remove(vc_store *store, const char *path);
vc_err vc_store_health(vc_store *store);
/** Remove leftovers of unfinished writes (see vc_store_ops.sweep); VC_OK with
 *  nothing removed on a backend that leaves none. */
vc_err vc_store_sweep(vc_store *store, int64_t before, uint64_t *removed);
/** Parallel whole-object fetch; falls back to sequential get. Returns the first error. */
vc_err vc_store_get_many(vc_store *store, size_t count, const char *const *paths, vc_bytes *outs,
			 vc_err *errors);


/** Parse "error_rate=0.3,latency_ms=5,..." into @p out. */
vc_err vc_fault_options_parse(const char *spec, vc_fault_options *out);

/** Wrap @p inner in a fault injector. On success ownership of @p inner passes to
 *  the wrapper (which shares its stats); on failure the caller keeps it. */
vc_err vc_store_fault_wrap(vc_store *inner, const vc_fault_options *options, vc_store **out);

/**
 * Counters every backend keeps (read with vc_store_stats; thread-safe).
 */
typedef struct vc_store_stats {
	uint64_t requests;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t retries;
	uint64_t errors;
} vc_store_stats;

/** Snapshot of the counters of @p store (zeros if the backend keeps none). */
void vc_store_get_stats(vc_store *store, vc_store_stats *out);

#ifdef __cplusplus
}
#endif
#endif
