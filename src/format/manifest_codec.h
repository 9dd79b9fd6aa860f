/* manifest.json: parsing, validation, serialisation and its MAC (docs/FORMAT.md). */
#ifndef VC_MANIFEST_CODEC_H
#define VC_MANIFEST_CODEC_H

#include <stddef.h>

#include "format/keyring.h"
#include "vchunk/manifest.h"
#include "vchunk/store.h"

/** The "version" field this build writes and reads (the original system used 2 and 3). */
#define VC_MANIFEST_LAYOUT_VERSION 4
/** Largest vector dimension and chunk size a manifest may declare. */
#define VC_MAX_DIM 65536
#define VC_MAX_CHUNK_SIZE (1 << 24)

/** Largest manifest accepted (VC_ERR_TOO_BIG beyond). */
#define VC_MANIFEST_MAX_BYTES (64u * 1024u * 1024u)

/**
 * Parse and validate manifest JSON: format name and version, field types
 * and ranges, object paths (vc_object_path_valid), unique chunk ids, counts
 * adding up to total_vectors. Does not check the MAC. Caller owns *out.
 */
vc_err vc_manifest_parse(const char *json, size_t len, vc_manifest **out);

/**
 * Check the MAC of manifest JSON with @p keyring (keyed BLAKE2b over the
 * canonical form: the JSON without "mac", keys sorted, compact). A plaintext
 * manifest (encryption off) carries no MAC; a keyring must then be NULL.
 * VC_ERR_AUTH if the MAC does not match ("wrong key or tampered manifest").
 */
vc_err vc_manifest_check_mac(const char *json, size_t len, const vc_keyring *keyring);

/**
 * Check a manifest held in memory against every rule vc_manifest_parse
 * applies (versions, ranges, paths, unique ids, exact envelope sizes
 * byte_size = 60 + 48 * frames + plain_size, total_vectors). Serialise
 * calls it so an invalid manifest is never written.
 */
vc_err vc_manifest_validate(const vc_manifest *manifest);

/** Serialise (pretty, stable key order) and add the MAC when @p keyring is set. */
vc_err vc_manifest_serialize(const vc_manifest *manifest, const vc_keyring *keyring, vc_bytes *out);

/** Deep copy (for building the next epoch). */
vc_err vc_manifest_clone(const vc_manifest *manifest, vc_manifest **out);

/**
 * Is @p path a safe relative object path? Non-empty, at most 255 bytes,
 * components of [A-Za-z0-9._-] not "." or "..", no leading "/", no empty
 * component, no control characters.
 */
bool vc_object_path_valid(const char *path);

/** Canonical path of chunk @p id: "chunks/chunk-<id>.cbor" into buf. */
void vc_chunk_path(uint32_t id, char *buf, size_t size);

#endif
