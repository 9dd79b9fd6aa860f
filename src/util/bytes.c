/* Growable byte buffers (vc_bytes), used for objects in flight. */
#include <stdlib.h>
#include <string.h>

#include "util/error_i.h"
#include "vchunk/store.h"

void vc_bytes_free(vc_bytes *bytes)
{
	if (bytes == NULL)
		return;
	free(bytes->data);
	bytes->data = NULL;
	bytes->len = 0;
	bytes->cap = 0;
}

vc_err vc_bytes_reserve(vc_bytes *bytes, size_t extra)
{
	size_t need;
	size_t cap;
	uint8_t *grown;

	if (extra > SIZE_MAX - bytes->len)
		return vc_fail(VC_ERR_NOMEM, "buffer size overflow");
	need = bytes->len + extra;
	if (need <= bytes->cap)
		return VC_OK;
	cap = bytes->cap < 64 ? 64 : bytes->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	grown = realloc(bytes->data, cap);
	if (grown == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
	bytes->data = grown;
	bytes->cap = cap;
	return VC_OK;
}

vc_err vc_bytes_append(vc_bytes *bytes, const void *data, size_t len)
{
	vc_err err;

	if (len == 0)
		return VC_OK;
	err = vc_bytes_reserve(bytes, len);
	if (err != VC_OK)
		return err;
	memcpy(bytes->data + bytes->len, data, len);
	bytes->len += len;
	return VC_OK;
}
