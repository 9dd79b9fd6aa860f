/* libvchunk: chunked, encrypted vector sessions. Include this one header. */
#ifndef VCHUNK_VCHUNK_H
#define VCHUNK_VCHUNK_H

#include "vchunk/cache.h"
#include "vchunk/chunk.h"
#include "vchunk/error.h"
#include "vchunk/manifest.h"
#include "vchunk/session.h"
#include "vchunk/store.h"

#endif
