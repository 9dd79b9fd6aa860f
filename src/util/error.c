/* Error strings, errno mapping and the per-thread last-error message. */
#include "util/error_i.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define VC_ERRMSG_MAX 1024

static _Thread_local char last_message[VC_ERRMSG_MAX];

const char *vc_err_str(vc_err err)
{
	switch (err) {
	case VC_OK: return "success";
	case VC_ERR_NOMEM: return "out of memory";
	case VC_ERR_INVALID: return "invalid argument";
	case VC_ERR_NOT_FOUND: return "not found";
	case VC_ERR_EXISTS: return "already exists";
	case VC_ERR_IO: return "I/O error";
	case VC_ERR_AUTH: return "authentication failed";
	case VC_ERR_CORRUPT: return "corrupt data";
	case VC_ERR_PERMISSION: return "permission denied";
	case VC_ERR_TIMEOUT: return "timed out";
	case VC_ERR_UNAVAILABLE: return "backend unavailable";
	case VC_ERR_TOO_BIG: return "too big";
	case VC_ERR_UNSUPPORTED: return "unsupported";
	case VC_ERR_BUSY: return "busy";
	}
	return "unknown error";
}

int vc_err_errno(vc_err err)
{
	switch (err) {
	case VC_OK: return 0;
	case VC_ERR_NOMEM: return ENOMEM;
	case VC_ERR_INVALID: return EINVAL;
	case VC_ERR_NOT_FOUND: return ENOENT;
	case VC_ERR_EXISTS: return EEXIST;
	case VC_ERR_PERMISSION: return EACCES;
	case VC_ERR_TIMEOUT: return ETIMEDOUT;
	case VC_ERR_TOO_BIG: return EFBIG;
	case VC_ERR_UNSUPPORTED: return EOPNOTSUPP;
	case VC_ERR_BUSY: return EBUSY;
	default: return EIO;
	}
}

const char *vc_last_error(void)
{
	return last_message;
}

void vc_clear_error(void)
{
	last_message[0] = '\0';
}

vc_err vc_fail(vc_err err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	return err;
}

vc_err vc_fail_context(vc_err err, const char *fmt, ...)
{
	char previous[VC_ERRMSG_MAX];
	va_list ap;
	int used;

	memcpy(previous, last_message, sizeof(previous));
	va_start(ap, fmt);
	used = vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	if (used < 0 || (size_t)used >= sizeof(last_message) - 3)
		return err;
	snprintf(last_message + used, sizeof(last_message) - (size_t)used, ": %s",
		 previous[0] != '\0' ? previous : vc_err_str(err));
	return err;
}
