/* libFuzzer target: manifest parsing and MAC checking must reject hostile JSON cleanly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "format/manifest_codec.h"
#include "fuzz_common.h"

/* A manifest that parses must survive serialise -> parse unchanged in its counts. */
static void check_round_trip(const vc_manifest *m)
{
	vc_manifest *copy, *again;
	vc_bytes text = {0};

	if (vc_manifest_clone(m, &copy) != VC_OK)
		abort();
	copy->encryption.enabled = false;
	if (vc_manifest_serialize(copy, NULL, &text) != VC_OK)
		abort();
	if (vc_manifest_parse((const char *)text.data, text.len, &again) != VC_OK)
		abort();
	if (again->chunk_count != m->chunk_count || again->object_count != m->object_count ||
	    again->total_vectors != m->total_vectors || again->epoch != m->epoch)
		abort();
	vc_manifest_free(again);
	vc_manifest_free(copy);
	vc_bytes_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vc_manifest *m = NULL;

	if (vc_manifest_parse((const char *)data, size, &m) == VC_OK) {
		for (size_t i = 0; i < m->chunk_count; i++)
			if (vc_manifest_find(m, m->chunks[i].object.path) == NULL)
				abort();
		check_round_trip(m);
		vc_manifest_free(m);
	} else if (m != NULL) {
		abort();
	}
	(void)vc_manifest_check_mac((const char *)data, size, fuzz_keyring());
	(void)vc_manifest_check_mac((const char *)data, size, NULL);
	return 0;
}
