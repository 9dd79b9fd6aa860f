/* libFuzzer target: metadata CBOR -> JSON must reject hostile items and round-trip the rest. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "format/chunk_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *value = NULL, *again = NULL;
	vc_bytes cbor = {0};

	if (vc_meta_decode(data, size, &value) != VC_OK) {
		if (value != NULL)
			abort();
		return 0;
	}
	/* Whatever decodes must encode and decode back to an equal value. */
	if (vc_meta_encode(value, &cbor) != VC_OK || vc_meta_decode(cbor.data, cbor.len, &again))
		abort();
	if (!json_equal(value, again))
		abort();
	json_decref(value);
	json_decref(again);
	vc_bytes_free(&cbor);
	return 0;
}
