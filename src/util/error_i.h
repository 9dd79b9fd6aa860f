/* Recording error messages: the private side of include/vchunk/error.h. */
#ifndef VC_ERROR_I_H
#define VC_ERROR_I_H

#include "vchunk/error.h"

/**
 * Record a message for the calling thread and return @p err, so a failure
 * is reported in one statement:  return vc_fail(VC_ERR_IO, "open %s: %s", p, strerror(errno));
 */
vc_err vc_fail(vc_err err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Prefix the current message with context and return @p err:
 * "reading chunks/chunk-3.cbor: " + previous message.
 */
vc_err vc_fail_context(vc_err err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Forget the current message (used before an operation that may succeed). */
void vc_clear_error(void);

#endif
