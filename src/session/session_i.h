/* Private side of include/vchunk/session.h: the session handle, shared by the session, verify
 * and search code. */
#ifndef VC_SESSION_I_H
#define VC_SESSION_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "format/envelope.h"
#include "format/keyring.h"
#include "vchunk/session.h"

/** Cache key kinds (low 8 bits of a cache key; the chunk id sits above them). */
#define VC_CACHE_KIND_CHUNK 1u
#define VC_CACHE_KIND_PLAIN 2u
#define VC_CACHE_KIND_FRAME 3u /* one frame of a chunk: frame index in bits 8..27 */
#define VC_CACHE_KIND_IDS 4u   /* an id shard: 56 bits of its header hash above the kind */

/**
 * One manifest as seen by readers. The session keeps every snapshot that is
 * current or still referenced on a list; vc_session_manifest_put finds the
 * snapshot by its manifest pointer.
 */
struct vc_ivf_dir;
struct vc_hnsw_tier;
struct vc_tombstones;

/** Structures a snapshot loads from its index objects at first use and keeps. */
typedef enum vc_snapshot_slot {
	VC_SLOT_IVF_DIR,     /* index/ivf.bin: centroids and list directory */
	VC_SLOT_HNSW_TIER,   /* index/hnsw.bin: the HNSW index of an hnsw session */
	VC_SLOT_TOMBSTONES,  /* index/deleted-N.bin: deleted rows */
	VC_SLOT_RECENT_TIER, /* index/recent-N.bin: HNSW over rows added since compaction */
	VC_SLOT_COUNT
} vc_snapshot_slot;

typedef struct vc_snapshot {
	vc_manifest *manifest;
	void *loaded[VC_SLOT_COUNT];		    /* NULL until first use */
	void (*free_loaded[VC_SLOT_COUNT])(void *); /* how to free each loaded structure */
	uint64_t refs; /* readers holding it, plus one while it is current */
	struct vc_snapshot *next;
} vc_snapshot;

/** Loads one snapshot structure; @p arg is the caller's (e.g. the object reference). */
typedef vc_err (*vc_snapshot_load_fn)(vc_session *session, const vc_manifest *manifest,
				      const void *arg, void **out);

/**
 * The structure in @p slot of the snapshot holding @p manifest, loaded with
 * @p load at its first use and kept until the snapshot is freed (with
 * @p free_fn). The load runs outside the session lock: two first users may
 * both load, the first to finish wins and the other copy is freed.
 * VC_ERR_INVALID if @p manifest is not a snapshot of @p session. Thread-safe.
 */
vc_err vc_snapshot_lazy(vc_session *session, const vc_manifest *manifest, vc_snapshot_slot slot,
			vc_snapshot_load_fn load, const void *arg, void (*free_fn)(void *),
			void **out);

struct vc_session {
	char *uri;
	vc_store *store;
	vc_cache *cache;
	vc_keyring *keyring; /* NULL for a plaintext session */
	uint8_t session_id[VC_SESSION_ID_BYTES];
	char *epoch_file;    /* rollback record (src/session/epochs.c); NULL: no check */
	bool allow_rollback; /* accept an epoch older than the record */

	pthread_mutex_t lock; /* guards current, snapshots, highest_epoch */
	vc_snapshot *current;
	vc_snapshot *snapshots;
	uint64_t highest_epoch;

	atomic_uint_fast64_t chunk_loads;
	atomic_uint_fast64_t bytes_fetched;
	atomic_uint_fast64_t frames_decrypted;
	atomic_uint_fast64_t load_ns_total;
	atomic_uint_fast64_t searches;
	atomic_uint_fast64_t search_ns_total;
};

/**
 * What loads one caller caused, for vc_query_stats: the cache calls the
 * loader only in the thread that misses, so a loader adds to the counters of
 * the caller that triggered it and to nobody else's.
 */
typedef struct vc_load_counters {
	uint64_t loads;
	uint64_t bytes;
	uint64_t frames;
	uint64_t hits;	      /* gets answered without a load by this caller */
	uint64_t frame_loads; /* of loads: single frames fetched by byte range */
} vc_load_counters;

/** Copy @p counters into the read figures of a query's stats (chunks, frames,
 *  bytes, frames decrypted, cache hits). */
static inline void vc_load_counters_report(const vc_load_counters *counters,
					   vc_query_stats *stats)
{
	stats->chunks_read = counters->loads;
	stats->frames_read = counters->frame_loads;
	stats->bytes_read = counters->bytes;
	stats->frames_decrypted = counters->frames;
	stats->cache_hits = counters->hits;
}

/** Where a frame lies, when the caller knows it (from the IVF directory). */
typedef struct vc_frame_hint {
	uint64_t offset;
	uint32_t sealed_len;
	uint32_t rows;		    /* checked against the decoded frame; 0: not known */
	const uint8_t *header_hash; /* VC_HASH_BYTES, vouched for by an authenticated index */
} vc_frame_hint;

/**
 * Frame @p frame_index (>= 1) of chunk @p chunk_index, decoded on its own (a
 * const vc_chunk * holding that frame's rows), through the cache. With a
 * @p hint one range request fetches the frame; without one the chunk's
 * header is fetched first (checked against the manifest's header hash) to
 * locate it. Authentication failures name the chunk and the frame.
 * Release with vc_session_chunk_release. Thread-safe.
 */
vc_err vc_session_frame_get(vc_session *session, const vc_manifest *manifest, size_t chunk_index,
			    uint32_t frame_index, const vc_frame_hint *hint,
			    vc_load_counters *counters, vc_cache_entry **entry);

/**
 * The IVF directory of @p manifest's snapshot, loaded (read, authenticated,
 * checked against the manifest) at the first call and kept with the
 * snapshot. VC_ERR_NOT_FOUND if the session has no IVF index. The pointer
 * stays valid while the caller holds @p manifest.
 */
vc_err vc_session_ivf_dir(vc_session *session, const vc_manifest *manifest,
			  const struct vc_ivf_dir **dir);

/** As vc_session_ivf_dir, for the HNSW graph of an HNSW session. */
vc_err vc_session_hnsw_tier(vc_session *session, const vc_manifest *manifest,
			    const struct vc_hnsw_tier **tier);

/**
 * An index object's plaintext through the cache (key from its header hash;
 * index objects are content-addressed like chunks). Value: const vc_bytes *.
 */
vc_err vc_session_index_object_get(vc_session *session, const vc_manifest *manifest,
				   const char *path, vc_load_counters *counters,
				   vc_cache_entry **entry);

/* ---- the id index (id_index.c) ---- */

/** Most id shards a session has. */
#define VC_ID_MAX_SHARDS 256u

/** Where one id lives: one entry of an id shard. */
typedef struct vc_id_entry {
	uint64_t hash; /* vc_id_hash of the id */
	uint32_t chunk_index;
	uint32_t frame_index;
	uint32_t row_in_frame;
} vc_id_entry;

/** 64-bit BLAKE2b of an id (little-endian), the key of the id index. */
uint64_t vc_id_hash(const char *id);

/** The shard of a hash among @p shards (a power of two): its top bits. */
uint32_t vc_id_shard_of(uint64_t hash, uint32_t shards);

/** "index/ids/XX.bin" (two hex digits) into @p buf. */
void vc_id_shard_path(uint32_t shard, char *buf, size_t size);

/**
 * Paths of index objects in @p m: "index/NAME.bin" as imported, or
 * "index/NAME-E.bin" / "index/ids/E-XX.bin" when compaction at epoch E
 * rebuilt them (src/session/index_paths.c). When @p m lists none, the
 * untagged name (so a read reports it missing).
 */
void vc_index_object_path(const vc_manifest *m, const char *name, char *buf, size_t size);
void vc_id_shard_path_of(const vc_manifest *m, uint32_t shard, char *buf, size_t size);

/** The path a writer gives an index object: untagged when @p epoch is 0. */
void vc_index_object_path_tagged(uint64_t epoch, const char *name, char *buf, size_t size);
void vc_id_shard_path_tagged(uint64_t epoch, uint32_t shard, char *buf, size_t size);

/** Encode one shard: header, then @p count entries sorted by hash (appended to @p out). */
vc_err vc_id_shard_encode(uint32_t shard, uint32_t shards, const vc_id_entry *entries,
			  uint64_t count, vc_bytes *out);

/**
 * Where the live row of @p id is among the chunks the id shards cover (the
 * indexed ones; the recent tier is not covered): one shard through the cache,
 * a binary search in it, one frame read per candidate not in @p deleted.
 * VC_OK with *where (chunk INDEX, frame, row) and, if @p frame is not NULL,
 * the frame's cache entry (release it); VC_ERR_NOT_FOUND if no live row
 * there has the id; VC_ERR_INVALID if the session has no id index.
 */
struct vc_tomb;
vc_err vc_id_index_locate(vc_session *session, const vc_manifest *manifest,
			  const struct vc_tombstones *deleted, const char *id,
			  struct vc_tomb *where, vc_cache_entry **frame);

/**
 * Decode shard @p shard of @p shards from untrusted bytes into *entries
 * (allocated; caller frees) and *count; checks order and that every hash
 * belongs to the shard. VC_ERR_CORRUPT otherwise.
 */
vc_err vc_id_shard_decode(const uint8_t *data, size_t len, uint32_t shard, uint32_t shards,
			  vc_id_entry **entries, uint64_t *count);

/** A chunk lent by vc_session_chunk_borrow: cached (entry) or read for the borrower (own). */
typedef struct vc_chunk_loan {
	const vc_chunk *chunk;
	vc_cache_entry *entry;
	vc_chunk *own;
} vc_chunk_loan;

/**
 * Chunk @p chunk_index whole, for a pass over many chunks that should not
 * push out what queries keep in the cache: the cached chunk when resident,
 * else read, checked and decoded for the caller alone. Give it back with
 * vc_session_chunk_return. Thread-safe.
 */
vc_err vc_session_chunk_borrow(vc_session *session, const vc_manifest *manifest,
			       size_t chunk_index, vc_chunk_loan *loan);
void vc_session_chunk_return(vc_session *session, vc_chunk_loan *loan);

/**
 * vc_session_chunk_get with per-caller counters (@p counters may be NULL).
 * The entry's value is a const vc_chunk *.
 */
vc_err vc_session_chunk_get_counted(vc_session *session, const vc_manifest *manifest,
				    size_t chunk_index, vc_load_counters *counters,
				    vc_cache_entry **entry);

/**
 * Inverse L2 norms of the rows of a chunk entry (one float per row; 0 for an
 * all-zero row), or NULL unless the session's metric is cosine.
 */
const float *vc_session_entry_inv_norms(const vc_cache_entry *entry);

/** The cache's free function: releases a chunk or plaintext value. */
void vc_session_free_cached(void *value);

/** Object kind a manifest path names (chunks/, index/, metadata.cbor). */
vc_object_kind vc_session_path_kind(const char *path);

/**
 * Fetch a whole stored object and check its size and hash against @p ref:
 * the header hash when the manifest has one (the caller then opens every
 * frame, which authenticates the rest), and the full hash when @p full_hash
 * is set or there is no header hash.
 * A mismatch is VC_ERR_AUTH for encrypted sessions, VC_ERR_CORRUPT for
 * plaintext ones; every message names the path.
 */
vc_err vc_session_fetch_checked(vc_session *session, const vc_object_ref *ref, bool full_hash,
				vc_bytes *stored);

/** Does a decoded chunk match its manifest entry (id, dimension, count)? VC_ERR_CORRUPT if not. */
vc_err vc_session_check_chunk(const vc_manifest *manifest, const vc_chunk_ref *ref,
			      const vc_chunk *chunk);

/** Make sure the current failure message names @p path (prefixing it if not); returns @p err. */
vc_err vc_session_name_path(vc_err err, const char *path);

/** The envelope context of object @p path of this session. */
void vc_session_object_ctx(const vc_session *session, const char *path, vc_object_ctx *ctx);

/** Nanoseconds on the monotonic clock. */
uint64_t vc_session_now_ns(void);

/* ---- ids (ids.c) ---- */

/** Longest id accepted, in bytes. */
#define VC_ID_MAX_BYTES 1024u

/**
 * Is @p id acceptable: non-empty, at most VC_ID_MAX_BYTES, valid UTF-8
 * without control characters? VC_ERR_INVALID with the reason otherwise.
 */
vc_err vc_id_check(const char *id);

/** A set of id strings (copies kept in an arena). Zero-initialise before use. */
typedef struct vc_id_set {
	uint64_t *hashes; /* 0: empty slot */
	const char **keys;
	size_t cap; /* power of two */
	size_t count;
	struct vc_id_block *blocks;
} vc_id_set;

/** Add a copy of @p id; *inserted is false if it was already there. */
vc_err vc_id_set_insert(vc_id_set *set, const char *id, bool *inserted);
bool vc_id_set_contains(const vc_id_set *set, const char *id);
void vc_id_set_free(vc_id_set *set);

#endif
