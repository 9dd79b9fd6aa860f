/* Error codes and messages shared by every libvchunk function. */
#ifndef VCHUNK_ERROR_H
#define VCHUNK_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Every fallible libvchunk function returns one of these. On failure the
 * function also records a message for the calling thread, readable with
 * vc_last_error() until the next failure on the same thread.
 */
typedef enum vc_err {
	VC_OK = 0,
	VC_ERR_NOMEM,       /**< an allocation failed */
	VC_ERR_INVALID,     /**< bad argument or bad user input */
	VC_ERR_NOT_FOUND,   /**< object, id or file does not exist */
	VC_ERR_EXISTS,      /**< object or session already exists */
	VC_ERR_IO,          /**< local I/O error (errno in the message) */
	VC_ERR_AUTH,        /**< authentication failed: wrong key or tampered data */
	VC_ERR_CORRUPT,     /**< malformed data: bad JSON/CBOR, wrong sizes, bad hash */
	VC_ERR_PERMISSION,  /**< permission denied (local EACCES, HTTP 401/403) */
	VC_ERR_TIMEOUT,     /**< backend did not answer in time */
	VC_ERR_UNAVAILABLE, /**< backend unreachable or failing after retries */
	VC_ERR_TOO_BIG,     /**< input or object larger than allowed */
	VC_ERR_UNSUPPORTED, /**< format version or feature not supported */
	VC_ERR_BUSY,        /**< resource held by someone else (writer lock) */
} vc_err;

/** Short constant name of an error code, e.g. "authentication failed". */
const char *vc_err_str(vc_err err);

/** The errno a filesystem should report for an error code (default EIO). */
int vc_err_errno(vc_err err);

/**
 * Message of the last failure on the calling thread ("" if none). The
 * string is owned by the library and valid until the next libvchunk call
 * on this thread. Thread-safe (thread-local storage).
 */
const char *vc_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
