/* What every fuzz target shares: the fixed key and session id the seed corpus was made with. */
#ifndef VC_FUZZ_COMMON_H
#define VC_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/keyring.h"

/* Seeds under tests/fuzz/corpus are sealed with this key (master bytes 0..31) and session. */
static inline const vc_keyring *fuzz_keyring(void)
{
	static vc_keyring *keyring;
	uint8_t master[VC_KEY_BYTES];

	if (keyring == NULL) {
		for (int i = 0; i < VC_KEY_BYTES; i++)
			master[i] = (uint8_t)i;
		if (vc_keyring_from_master(master, &keyring) != VC_OK)
			abort();
	}
	return keyring;
}

static inline const uint8_t *fuzz_session_id(void)
{
	static const uint8_t id[VC_SESSION_ID_BYTES] = {0xf0, 0x0d, 0xca, 0xfe, 1, 2,  3,  4,
							5,    6,    7,	  8,	9, 10, 11, 12};
	return id;
}

#endif
