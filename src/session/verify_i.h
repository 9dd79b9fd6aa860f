/* Checks of the index objects that vc_session_verify runs next to its object checks. */
#ifndef VC_VERIFY_I_H
#define VC_VERIFY_I_H

#include "session/session_i.h"

/** The index objects of one manifest, loaded to be checked against each chunk. */
typedef struct vc_index_check {
	bool loaded;
	struct vc_ivf_dir *dir;	     /* NULL without an IVF index */
	uint32_t *segment_list;	     /* list of each segment */
	uint64_t *segments_by_chunk; /* segment numbers grouped by chunk */
	uint64_t *chunk_segments;    /* chunk c: segments_by_chunk[c .. c+1) */
	vc_id_entry *ids;	     /* id entries grouped by chunk (NULL without id shards) */
	uint64_t *chunk_ids;	     /* chunk c: ids[c .. c+1) */
	size_t indexed_chunks;	     /* chunks from here on are the recent tier, not indexed */
} vc_index_check;

/**
 * Read and check index/ivf.bin (against the manifest) and every id shard
 * (their entry count). On failure *failed_path names the object to report.
 */
vc_err vc_index_check_load(vc_session *session, const vc_manifest *m, vc_index_check *check,
			   const char **failed_path);

/** Check the index entries of one decoded chunk and its frame table (@p locs). */
vc_err vc_index_check_chunk(const vc_index_check *check, size_t chunk_index, const vc_chunk *chunk,
			    const vc_frame_loc *locs, const char *path);

void vc_index_check_free(vc_index_check *check);

#endif
