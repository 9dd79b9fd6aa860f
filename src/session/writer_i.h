/* Private side of the session writer, shared by writer.c (rows, chunks, commit) and
 * writer_index.c (the indexed layout built at commit). */
#ifndef VC_WRITER_I_H
#define VC_WRITER_I_H

#include "format/chunk_codec.h"
#include "session/session_i.h"
#include "session/spool.h"

struct vc_writer {
	char *uri;
	vc_store *store;
	vc_keyring *keyring; /* NULL: plaintext session */
	vc_encryption_info encryption;
	uint8_t session_id[VC_SESSION_ID_BYTES];
	vc_metric metric;
	uint32_t chunk_size;
	uint32_t dim; /* 0 until the first vector */
	uint64_t total;
	int64_t created_at;

	vc_index_type index_type; /* what the caller asked for */
	uint32_t nlist;		  /* 0: default */
	uint32_t hnsw_m, hnsw_ef_construction;
	const volatile sig_atomic_t *cancel; /* vc_create_options.cancel */
	bool spooling;	     /* rows go to the spool; chunks are laid out at commit */
	vc_spool spool;	     /* open once the first row arrives, when spooling */
	vc_index_info index; /* what was built, for the manifest */

	vc_chunk_builder *builder; /* the chunk filling up, or NULL */
	vc_chunk_ref *chunks;	   /* chunks already stored */
	size_t chunk_count;
	size_t chunk_cap;
	vc_object_ref *objects; /* other objects stored: metadata.cbor, index/... */
	size_t object_count;
	size_t object_cap;
	bool manifest_tried; /* a put of manifest.json was attempted */
	vc_err broken;	     /* an earlier internal failure makes the writer unusable */
	/* Compaction (src/session/compact.c) writes into an existing session: chunk ids start at
	 * its next_chunk_id and index objects carry the new epoch in their names. 0 on import. */
	uint32_t first_chunk_id;
	uint64_t path_epoch;
	bool borrowed; /* store and keyring belong to the session being compacted */
	vc_id_set ids;
};

/**
 * Seal the filling chunk and store it. When @p locs is not NULL it gets the
 * chunk's frame locations (caller frees), for the index directory.
 */
vc_err vc_writer_seal_chunk(vc_writer *writer, vc_frame_loc **locs);

/** Seal @p plain as a one-frame object at @p path and store it; listed in objects[]. */
vc_err vc_writer_put_plain(vc_writer *writer, const char *path, const vc_bytes *plain);

/** Rows per envelope frame of an unclustered chunk (about 1 MiB of vectors). */
uint32_t vc_writer_frame_rows(uint32_t dim);

/** Rows per frame of rows a graph indexes, read hit by hit (about 16 KiB of vectors). */
uint32_t vc_writer_graph_frame_rows(uint32_t dim);

/**
 * A writer laying out the live rows of @p base again, into @p session's own
 * store (compaction): same session id, keys, metric and chunk size; chunk ids
 * from base->next_chunk_id; index objects named for epoch base->epoch + 1.
 * It writes no manifest: the caller lays out (vc_writer_layout), builds the
 * manifest from chunks[] and objects[] and frees it with vc_writer_release.
 */
vc_err vc_writer_for_compaction(vc_session *session, const vc_manifest *base,
				vc_index_type index, vc_writer **out);

/** Free a writer without removing what it wrote (and without closing a borrowed store). */
void vc_writer_release(vc_writer *writer);

/**
 * Commit step of a spooling writer: lay the spooled rows out in chunks
 * (cluster-aligned for IVF), write the index objects and the id shards, and
 * fill writer->index.
 */
vc_err vc_writer_layout(vc_writer *writer);

#endif
