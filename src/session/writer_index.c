/*
 * The indexed layout a writer builds at commit from its spool: IVF training, assignment and
 * cluster-aligned chunks (one frame per (list, chunk) segment) with the list directory
 * index/ivf.bin; or plain chunks in arrival order; then the id shards index/ids/XX.bin.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"
#include "index/ivf_dir.h"
#include "index/ivf_split.h"
#include "search/hnsw_search.h"
#include "search/distance.h"
#include "session/writer_i.h"
#include "util/error_i.h"

/* Rows assigned per pass, after which the spool pages read are dropped again. */
#define ASSIGN_BLOCK 65536u
/* Lists above this many times the mean size are split into lists of about the mean. */
#define SPLIT_FACTOR 3u
#define SPLIT_ROUNDS 3
/* Rows laid out between two drops of the spool's mapped pages. */
#define LAYOUT_DROP_ROWS 1024u
/* k-means samples per centroid: enough for a coarse quantizer, keeps 1M imports in minutes. */
#define TRAIN_SAMPLE_PER_LIST 64u
/* Default nprobe: sample queries, neighbours per query, and the recall aimed at. */
#define CALIBRATION_QUERIES 64u
#define CALIBRATION_K 10u
#define CALIBRATION_RECALL 0.96

/* Where rows go while chunks are written: the filling chunk's frames and the segments. */
typedef struct layout {
	vc_writer *w;
	uint32_t frames;	/* data frames started in the filling chunk */
	uint32_t rows_in_frame; /* rows of the open frame */
	uint32_t rows_in_chunk;
	vc_id_entry *entries; /* one per spooled row, by spool row */
	vc_ivf_segment *segments;
	uint64_t segment_count, segment_cap;
	uint64_t chunk_first_segment; /* first segment of the filling chunk */
	vc_frame_loc **chunk_locs;    /* HNSW layout: every chunk's frame table, kept */
} layout;

/* Seal the filling chunk; record its frames' byte ranges in the segments it holds. */
static vc_err end_chunk(layout *l)
{
	vc_frame_loc *locs = NULL;
	vc_err err;

	if (l->w->builder == NULL)
		return VC_OK;
	err =
	    vc_writer_seal_chunk(l->w, l->segments != NULL || l->chunk_locs != NULL ? &locs : NULL);
	if (err == VC_OK && l->chunk_locs != NULL) {
		l->chunk_locs[l->w->chunk_count - 1] = locs;
		locs = NULL;
	}
	for (uint64_t i = l->chunk_first_segment; err == VC_OK && i < l->segment_count; i++) {
		vc_ivf_segment *s = &l->segments[i];

		s->offset = locs[s->frame_index].offset;
		s->sealed_len = locs[s->frame_index].sealed_len;
	}
	free(locs);
	/* Rows are read in list order, scattered over the spool: drop what this chunk touched. */
	vc_spool_drop_pages(&l->w->spool);
	l->chunk_first_segment = l->segment_count;
	l->frames = 0;
	l->rows_in_chunk = 0;
	return err;
}

/* Open a new frame for IVF list @p cluster (-1: none); a list frame starts a segment. */
static vc_err start_frame(layout *l, int32_t cluster)
{
	vc_writer *w = l->w;
	vc_err err;

	if (w->builder == NULL) {
		err = vc_chunk_builder_new(w->first_chunk_id + (uint32_t)w->chunk_count, w->dim,
					   &w->builder);
		if (err != VC_OK)
			return err;
	}
	err = vc_chunk_builder_frame(w->builder, cluster);
	if (err != VC_OK)
		return err;
	l->frames++;
	l->rows_in_frame = 0;
	if (cluster < 0 || l->segments == NULL)
		return VC_OK;
	if (l->segment_count == l->segment_cap) {
		uint64_t cap = l->segment_cap ? l->segment_cap * 2 : 1024;
		vc_ivf_segment *grown = realloc(l->segments, cap * sizeof(*grown));

		if (grown == NULL)
			return vc_fail(VC_ERR_NOMEM, "out of memory for %llu list segments",
				       (unsigned long long)cap);
		l->segments = grown;
		l->segment_cap = cap;
	}
	memset(&l->segments[l->segment_count], 0, sizeof(vc_ivf_segment));
	l->segments[l->segment_count].chunk_index = (uint32_t)w->chunk_count;
	l->segments[l->segment_count].frame_index = l->frames;
	l->segment_count++;
	return VC_OK;
}

/* Copy spooled row @p row into the open frame and note where it went. */
static vc_err put_row(layout *l, uint64_t row, bool in_segment)
{
	vc_writer *w = l->w;
	const uint8_t *meta;
	const char *id;
	size_t meta_len;
	json_t *metadata = NULL;
	vc_id_entry *e = &l->entries[row];
	vc_err err;

	vc_spool_record(&w->spool, row, &id, &meta, &meta_len);
	err = vc_meta_decode(meta, meta_len, &metadata);
	if (err == VC_OK)
		err = vc_chunk_builder_add(w->builder, id, vc_spool_vector(&w->spool, row),
					   json_is_null(metadata) ? NULL : metadata);
	json_decref(metadata);
	if (err != VC_OK)
		return vc_fail_context(err, "laying out vector '%s'", id);
	e->hash = vc_id_hash(id);
	e->chunk_index = (uint32_t)w->chunk_count;
	e->frame_index = l->frames;
	e->row_in_frame = l->rows_in_frame++;
	l->rows_in_chunk++;
	/* Rows are read scattered over the spool, and each fault maps its neighbours too (fault
	 * around): drop the mapped pages often to keep them from adding up. */
	if (l->rows_in_chunk % LAYOUT_DROP_ROWS == 0)
		vc_spool_drop_pages(&w->spool);
	if (in_segment)
		l->segments[l->segment_count - 1].rows++;
	return VC_OK;
}

/* Rows in arrival order, chunks of chunk_size rows; frames of about 1 MiB, or small ones when a
 * graph indexes the rows (@p graph: each hit is then read on its own). */
static vc_err layout_flat(layout *l, bool graph)
{
	uint32_t per_frame =
	    graph ? vc_writer_graph_frame_rows(l->w->dim) : vc_writer_frame_rows(l->w->dim);
	vc_err err = VC_OK;

	for (uint64_t row = 0; row < l->w->total && err == VC_OK; row++) {
		if (l->rows_in_chunk == l->w->chunk_size)
			err = end_chunk(l);
		if (err == VC_OK && (l->w->builder == NULL || l->rows_in_frame == per_frame))
			err = start_frame(l, -1);
		if (err == VC_OK)
			err = put_row(l, row, false);
	}
	if (err == VC_OK)
		err = end_chunk(l);
	vc_spool_drop_pages(&l->w->spool);
	return err;
}

/* Rows list by list; a list fills the current chunk, then continues in the next one; one
 * frame per (list, chunk) segment, split further into frames of about 1 MiB. */
static vc_err layout_lists(layout *l, const uint32_t *order, const uint64_t *first, uint32_t nlist,
			   uint64_t *list_first_segment)
{
	uint32_t per_frame = vc_writer_frame_rows(l->w->dim);
	vc_err err = VC_OK;

	for (uint32_t list = 0; list < nlist && err == VC_OK; list++) {
		uint64_t next = first[list];

		list_first_segment[list] = l->segment_count;
		while (next < first[list + 1] && err == VC_OK) {
			uint64_t take = first[list + 1] - next;

			if (l->rows_in_chunk == l->w->chunk_size)
				err = end_chunk(l);
			if (err == VC_OK)
				err = start_frame(l, (int32_t)list);
			if (take > l->w->chunk_size - l->rows_in_chunk)
				take = l->w->chunk_size - l->rows_in_chunk;
			/* Frames of about 1 MiB even for a large list: a reader then holds one
			 * small frame while loading and the cache evicts in small steps. */
			if (take > per_frame)
				take = per_frame;
			for (uint64_t i = 0; i < take && err == VC_OK; i++)
				err = put_row(l, order[next + i], true);
			next += take;
		}
	}
	list_first_segment[nlist] = l->segment_count;
	if (err == VC_OK)
		err = end_chunk(l);
	vc_spool_drop_pages(&l->w->spool);
	return err;
}

/* About sqrt(n) lists: a few hundred rows each, trainable in minutes at a million rows. */
static uint32_t default_nlist(uint64_t n)
{
	uint64_t nlist = (uint64_t)sqrt((double)n);

	if (nlist < 16)
		nlist = 16;
	if (nlist > n)
		nlist = n;
	return nlist > 65536 ? 65536 : (uint32_t)nlist;
}

/*
 * Train on a copy of a random sample of rows rather than on the mapped spool: k-means revisits
 * its sample every iteration, and rows scattered over the whole spool would keep most of its
 * pages resident. The copy is nlist * TRAIN_SAMPLE_PER_LIST rows (98 MB at 1000 lists of 384-d).
 */
static vc_err train(vc_writer *w, uint32_t nlist, vc_ivf **ivf)
{
	uint64_t m = (uint64_t)nlist * TRAIN_SAMPLE_PER_LIST, state = 0x2545f4914f6cdd1dull;
	vc_kmeans_params params;
	float *sample;
	vc_err err;

	if (m > w->total)
		m = w->total;
	sample = malloc((size_t)m * w->dim * sizeof(float));
	if (sample == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for a k-means sample of %llu rows",
			       (unsigned long long)m);
	for (uint64_t i = 0; i < m; i++) {
		/* Every row once when the sample is the whole input, else seeded random rows. */
		uint64_t row = i;

		if (m < w->total) {
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			row = state % w->total;
		}
		memcpy(sample + (size_t)i * w->dim, vc_spool_vector(&w->spool, row),
		       w->dim * sizeof(float));
		/* Scattered reads map their neighbours too: drop them as we go. */
		if (i % LAYOUT_DROP_ROWS == LAYOUT_DROP_ROWS - 1)
			vc_spool_drop_pages(&w->spool);
	}
	vc_spool_drop_pages(&w->spool);
	vc_kmeans_params_default(&params);
	params.sample_per_centroid = TRAIN_SAMPLE_PER_LIST;
	err = vc_ivf_train(w->metric, w->dim, nlist, sample, (size_t)m, &params, ivf);
	free(sample);
	if (err != VC_OK)
		return vc_fail_context(err, "training %u IVF lists for %s", nlist, w->uri);
	return VC_OK;
}

/* The list of every row, in blocks, dropping the spool pages read after each. */
static void assign_lists(vc_writer *w, const vc_ivf *ivf, uint32_t *lists)
{
	for (uint64_t row = 0; row < w->total; row += ASSIGN_BLOCK) {
		uint64_t count = w->total - row < ASSIGN_BLOCK ? w->total - row : ASSIGN_BLOCK;

		vc_ivf_assign_many(ivf, vc_spool_vector(&w->spool, row), count, lists + row);
		vc_spool_drop_pages(&w->spool);
	}
}

/* Order rows by list with a counting sort (stable: arrival order within a list). */
static vc_err order_rows(const vc_writer *w, uint32_t nlist, const uint32_t *lists, uint32_t *order,
			 uint64_t *first)
{
	uint64_t *next;

	memset(first, 0, ((size_t)nlist + 1) * sizeof(uint64_t));
	for (uint64_t row = 0; row < w->total; row++)
		first[lists[row] + 1]++;
	for (uint32_t list = 0; list < nlist; list++)
		first[list + 1] += first[list];
	next = malloc(((size_t)nlist + 1) * sizeof(uint64_t));
	if (next == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory ordering rows by list");
	memcpy(next, first, ((size_t)nlist + 1) * sizeof(uint64_t));
	for (uint64_t row = 0; row < w->total; row++)
		order[next[lists[row]]++] = (uint32_t)row;
	free(next);
	return VC_OK;
}

/* Spool rows for the list splitter, dropping mapped pages as scattered reads add them. */
typedef struct split_rows {
	vc_spool *spool;
	uint64_t calls;
} split_rows;

static const float *split_row(void *ctx, size_t i)
{
	split_rows *r = ctx;

	if (++r->calls % LAYOUT_DROP_ROWS == 0)
		vc_spool_drop_pages(r->spool);
	return vc_spool_vector(r->spool, i);
}

/*
 * Assign every row; then, unless the caller chose nlist, split lists above SPLIT_FACTOR times the
 * mean into lists of about the mean (and assign again), so that no probed list costs many times
 * the average to read.
 */
static vc_err assign_balanced(vc_writer *w, vc_ivf **ivf, uint32_t *lists)
{
	uint64_t mean = w->total / vc_ivf_nlist(*ivf);
	split_rows rows = {.spool = &w->spool};
	vc_err err = VC_OK;

	assign_lists(w, *ivf, lists);
	/* An nlist the caller chose is kept as given. */
	if (mean == 0 || w->nlist != 0)
		return VC_OK;
	/* A split list's new centroids can draw rows from neighbours: a few rounds settle it. */
	for (int round = 0; round < SPLIT_ROUNDS && err == VC_OK; round++) {
		vc_ivf *split = NULL;

		err = vc_ivf_split_large(*ivf, lists, w->total, SPLIT_FACTOR * mean, mean,
					 split_row, &rows, &split);
		vc_spool_drop_pages(&w->spool);
		if (err != VC_OK || split == NULL)
			break;
		vc_ivf_free(*ivf);
		*ivf = split;
		assign_lists(w, *ivf, lists);
	}
	return err;
}

/* The sample queries (rows at an even stride), normalised for cosine. */
static vc_err calibration_queries(const vc_writer *w, uint32_t nq, float **out, uint64_t **rows)
{
	float *q = malloc((size_t)nq * w->dim * sizeof(float));
	uint64_t *r = malloc(nq * sizeof(uint64_t));

	if (q == NULL || r == NULL) {
		free(q);
		free(r);
		return vc_fail(VC_ERR_NOMEM, "out of memory calibrating nprobe");
	}
	for (uint32_t i = 0; i < nq; i++) {
		r[i] = (uint64_t)i * w->total / nq;
		memcpy(q + (size_t)i * w->dim, vc_spool_vector(&w->spool, r[i]),
		       w->dim * sizeof(float));
		if (w->metric == VC_METRIC_COSINE)
			vc_normalize(q + (size_t)i * w->dim, w->dim);
	}
	*out = q;
	*rows = r;
	return VC_OK;
}

/* Exact top-k of every sample query over all rows but itself (block by block). */
static vc_err calibration_truth(const vc_writer *w, const float *q, const uint64_t *qrows,
				uint32_t nq, vc_topk *truth)
{
	const float **qp = malloc(nq * sizeof(*qp));
	float *scores = malloc((size_t)nq * ASSIGN_BLOCK * sizeof(float));
	vc_err err = VC_OK;

	if (qp == NULL || scores == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory calibrating nprobe");
		goto out;
	}
	for (uint32_t i = 0; i < nq; i++)
		qp[i] = q + (size_t)i * w->dim;
	for (uint64_t row = 0; row < w->total; row += ASSIGN_BLOCK) {
		uint64_t count = w->total - row < ASSIGN_BLOCK ? w->total - row : ASSIGN_BLOCK;
		const float *base = vc_spool_vector(&w->spool, row);

		vc_score_multi(w->metric, qp, nq, base, count, w->dim, scores);
		for (uint64_t j = 0; j < count; j++) {
			float inv = 1.0f;

			if (w->metric == VC_METRIC_COSINE) {
				float norm =
				    sqrtf(vc_dot(base + j * w->dim, base + j * w->dim, w->dim));

				inv = norm > 0.0f ? 1.0f / norm : 0.0f;
			}
			for (uint32_t i = 0; i < nq; i++) {
				if (qrows[i] != row + j)
					vc_topk_push(&truth[i], scores[(size_t)i * count + j] * inv,
						     row + j);
			}
		}
		vc_spool_drop_pages(&w->spool);
	}
out:
	free(qp);
	free(scores);
	return err;
}

/*
 * The default nprobe: the fewest lists whose probing finds CALIBRATION_RECALL of the exact
 * CALIBRATION_K neighbours of sample rows used as queries. For each true neighbour the rank of
 * its list in the query's probe order says from which nprobe on it is found; a histogram of
 * those ranks gives the recall of every nprobe at once.
 */
static vc_err calibrate_nprobe(const vc_writer *w, const vc_ivf *ivf, const uint32_t *lists,
			       uint32_t *nprobe)
{
	uint32_t nlist = vc_ivf_nlist(ivf);
	uint32_t nq =
	    w->total - 1 < CALIBRATION_QUERIES ? (uint32_t)w->total - 1 : CALIBRATION_QUERIES;
	vc_topk *truth = calloc(nq ? nq : 1, sizeof(*truth));
	uint32_t *rank = malloc(nlist * sizeof(uint32_t));
	uint64_t *hist = calloc((size_t)nlist + 1, sizeof(uint64_t));
	vc_scored *probe = malloc(nlist * sizeof(vc_scored));
	uint64_t *qrows = NULL, found = 0, wanted = 0;
	float *q = NULL;
	size_t probed;
	vc_err err = VC_OK;

	*nprobe = nlist;
	if (truth == NULL || rank == NULL || hist == NULL || probe == NULL)
		err = vc_fail(VC_ERR_NOMEM, "out of memory calibrating nprobe");
	for (uint32_t i = 0; i < nq && err == VC_OK; i++)
		err = vc_topk_init(&truth[i], CALIBRATION_K);
	if (err == VC_OK && nq > 0)
		err = calibration_queries(w, nq, &q, &qrows);
	if (err == VC_OK && nq > 0)
		err = calibration_truth(w, q, qrows, nq, truth);
	for (uint32_t i = 0; i < nq && err == VC_OK; i++) {
		vc_ivf_probe(ivf, q + (size_t)i * w->dim, nlist, probe, &probed);
		for (size_t r = 0; r < probed; r++)
			rank[probe[r].key] = (uint32_t)r + 1;
		for (size_t j = 0; j < truth[i].count; j++)
			hist[rank[lists[truth[i].items[j].key]]]++;
		wanted += truth[i].count;
	}
	for (uint32_t r = 1; r <= nlist && err == VC_OK && wanted > 0; r++) {
		found += hist[r];
		if ((double)found >= CALIBRATION_RECALL * (double)wanted) {
			*nprobe = r;
			break;
		}
	}
	for (uint32_t i = 0; i < nq && truth != NULL; i++)
		vc_topk_free(&truth[i]);
	free(truth);
	free(rank);
	free(hist);
	free(probe);
	free(q);
	free(qrows);
	return err;
}

/* index/ivf.bin: the quantizer with its list sizes, the chunks' header hashes, the segments. */
static vc_err write_directory(layout *l, vc_ivf *ivf, const uint64_t *first,
			      uint64_t *list_first_segment)
{
	vc_writer *w = l->w;
	vc_ivf_dir dir = {0};
	vc_bytes plain = {0};
	char ivf_path[64];
	vc_err err = VC_OK;

	vc_index_object_path_tagged(w->path_epoch, "ivf", ivf_path, sizeof(ivf_path));
	dir.ivf = ivf;
	dir.nlist = vc_ivf_nlist(ivf);
	dir.chunk_count = (uint32_t)w->chunk_count;
	dir.first = list_first_segment;
	dir.segments = l->segments;
	dir.segment_count = l->segment_count;
	dir.header_hashes = malloc((w->chunk_count + 1) * VC_HASH_BYTES);
	if (dir.header_hashes == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory writing index/ivf.bin");
	for (size_t c = 0; c < w->chunk_count; c++)
		memcpy(dir.header_hashes[c], w->chunks[c].object.header_hash, VC_HASH_BYTES);
	for (uint32_t list = 0; list < dir.nlist && err == VC_OK; list++)
		err = vc_ivf_set_list_size(ivf, list, first[list + 1] - first[list]);
	if (err == VC_OK)
		err = vc_ivf_dir_serialize(&dir, &plain);
	if (err == VC_OK)
		err = vc_writer_put_plain(w, ivf_path, &plain);
	vc_bytes_free(&plain);
	free(dir.header_hashes);
	return err;
}

static vc_err layout_ivf(layout *l)
{
	vc_writer *w = l->w;
	uint32_t nlist = w->nlist ? w->nlist : default_nlist(w->total);
	uint32_t *lists = NULL, *order = NULL;
	uint64_t *first = NULL, *list_first_segment = NULL;
	vc_ivf *ivf = NULL;
	vc_err err;

	if (nlist > w->total)
		nlist = (uint32_t)w->total;
	err = train(w, nlist, &ivf);
	if (err != VC_OK)
		return err;
	lists = malloc(w->total * sizeof(uint32_t));
	order = malloc(w->total * sizeof(uint32_t));
	l->segments = malloc(1024 * sizeof(vc_ivf_segment));
	l->segment_cap = 1024;
	if (lists == NULL || order == NULL || l->segments == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory laying out %llu rows in %u lists",
			      (unsigned long long)w->total, nlist);
		goto out;
	}
	err = assign_balanced(w, &ivf, lists);
	if (err != VC_OK)
		goto out;
	nlist = vc_ivf_nlist(ivf);
	first = malloc(((size_t)nlist + 1) * sizeof(uint64_t));
	list_first_segment = malloc(((size_t)nlist + 1) * sizeof(uint64_t));
	if (first == NULL || list_first_segment == NULL) {
		err = vc_fail(VC_ERR_NOMEM, "out of memory for %u lists", nlist);
		goto out;
	}
	err = order_rows(w, nlist, lists, order, first);
	if (err == VC_OK)
		err = calibrate_nprobe(w, ivf, lists, &w->index.nprobe);
	if (err == VC_OK)
		err = layout_lists(l, order, first, nlist, list_first_segment);
	if (err == VC_OK)
		err = write_directory(l, ivf, first, list_first_segment);
	w->index.kind = VC_INDEX_KIND_IVF;
	w->index.nlist = nlist;
out:
	free(lists);
	free(order);
	free(first);
	free(list_first_segment);
	vc_ivf_free(ivf);
	return err;
}

static int compare_entries(const void *a, const void *b)
{
	const vc_id_entry *x = a, *y = b;

	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Shards of about 4096 ids, a power of two, at most VC_ID_MAX_SHARDS. */
static uint32_t shard_count(uint64_t n)
{
	uint32_t shards = 1;

	while (shards < VC_ID_MAX_SHARDS && (uint64_t)shards * 4096 < n)
		shards *= 2;
	return shards;
}

/* index/ids/XX.bin: the id entries grouped by shard, each shard sorted by hash. */
static vc_err write_id_shards(layout *l)
{
	vc_writer *w = l->w;
	uint32_t shards = shard_count(w->total);
	vc_id_entry *sorted = malloc(w->total * sizeof(*sorted));
	uint64_t first[VC_ID_MAX_SHARDS + 1] = {0}, next[VC_ID_MAX_SHARDS];
	vc_err err = VC_OK;

	if (sorted == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory writing the id index");
	for (uint64_t i = 0; i < w->total; i++)
		first[vc_id_shard_of(l->entries[i].hash, shards) + 1]++;
	for (uint32_t s = 0; s < shards; s++) {
		first[s + 1] += first[s];
		next[s] = first[s];
	}
	for (uint64_t i = 0; i < w->total; i++)
		sorted[next[vc_id_shard_of(l->entries[i].hash, shards)]++] = l->entries[i];
	for (uint32_t s = 0; s < shards && err == VC_OK; s++) {
		char path[32];
		vc_bytes plain = {0};

		qsort(sorted + first[s], first[s + 1] - first[s], sizeof(*sorted), compare_entries);
		vc_id_shard_path_tagged(w->path_epoch, s, path, sizeof(path));
		err = vc_id_shard_encode(s, shards, sorted + first[s], first[s + 1] - first[s],
					 &plain);
		if (err == VC_OK)
			err = vc_writer_put_plain(w, path, &plain);
		vc_bytes_free(&plain);
	}
	free(sorted);
	w->index.id_shards = shards;
	return err;
}

/* Build the graph over every spooled row, in spool order: node i is row i. */
static vc_err build_graph(vc_writer *w, vc_hnsw **out)
{
	vc_hnsw_params params;
	vc_err err;

	vc_hnsw_params_default(&params);
	if (w->hnsw_m)
		params.m = w->hnsw_m;
	if (w->hnsw_ef_construction)
		params.ef_construction = w->hnsw_ef_construction;
	if (w->total > UINT32_MAX)
		return vc_fail(VC_ERR_INVALID, "an HNSW index holds at most %u vectors",
			       UINT32_MAX);
	err = vc_hnsw_create(w->dim, w->metric, &params, out);
	if (err == VC_OK)
		err = vc_hnsw_reserve(*out, (uint32_t)w->total);
	for (uint64_t row = 0; row < w->total && err == VC_OK; row++) {
		uint32_t node;

		err = vc_hnsw_add(*out, vc_spool_vector(&w->spool, row), &node);
		if (row % ASSIGN_BLOCK == ASSIGN_BLOCK - 1)
			vc_spool_drop_pages(&w->spool);
	}
	vc_spool_drop_pages(&w->spool);
	return err;
}

/* The default ef: the smallest of a ladder whose searches find CALIBRATION_RECALL of the sample
 * queries' exact neighbours (each query is itself a node, so it is skipped in the answers). */
static vc_err calibrate_ef(const vc_writer *w, vc_hnsw *hnsw, uint32_t *ef)
{
	static const uint32_t ladder[] = {16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
	uint32_t nq =
	    w->total - 1 < CALIBRATION_QUERIES ? (uint32_t)w->total - 1 : CALIBRATION_QUERIES;
	vc_topk *truth = calloc(nq ? nq : 1, sizeof(*truth));
	vc_scored found[CALIBRATION_K + 1];
	uint64_t *qrows = NULL;
	float *q = NULL;
	vc_err err = VC_OK;

	*ef = ladder[sizeof(ladder) / sizeof(ladder[0]) - 1];
	if (truth == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory calibrating ef");
	for (uint32_t i = 0; i < nq && err == VC_OK; i++)
		err = vc_topk_init(&truth[i], CALIBRATION_K);
	if (err == VC_OK && nq > 0)
		err = calibration_queries(w, nq, &q, &qrows);
	if (err == VC_OK && nq > 0)
		err = calibration_truth(w, q, qrows, nq, truth);
	for (size_t e = 0; e < sizeof(ladder) / sizeof(ladder[0]) && err == VC_OK; e++) {
		uint64_t hits = 0, wanted = 0;

		for (uint32_t i = 0; i < nq && err == VC_OK; i++) {
			size_t n = 0;

			err = vc_hnsw_search(hnsw, q + (size_t)i * w->dim, CALIBRATION_K + 1,
					     ladder[e], NULL, NULL, found, &n);
			for (size_t j = 0; j < truth[i].count; j++)
				for (size_t f = 0; f < n; f++)
					hits += found[f].key == truth[i].items[j].key;
			wanted += truth[i].count;
		}
		if (err == VC_OK && (double)hits >= CALIBRATION_RECALL * (double)wanted) {
			*ef = ladder[e];
			break;
		}
	}
	for (uint32_t i = 0; i < nq; i++)
		vc_topk_free(&truth[i]);
	free(truth);
	free(q);
	free(qrows);
	return err;
}

/* index/hnsw.bin: the graph (links only: the rows are in the chunks) and, per node, where its row
 * lies (vc_hnsw_tier_encode). */
static vc_err write_graph(layout *l, vc_hnsw *hnsw)
{
	vc_hnsw_node_loc *map = malloc((l->w->total + 1) * sizeof(*map));
	vc_bytes plain = {0};
	char hnsw_path[64];
	vc_err err;

	if (map == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory writing index/hnsw.bin");
	for (uint64_t i = 0; i < l->w->total; i++) {
		const vc_id_entry *e = &l->entries[i];
		const vc_frame_loc *loc = &l->chunk_locs[e->chunk_index][e->frame_index];

		map[i].chunk_index = e->chunk_index;
		map[i].frame_index = e->frame_index;
		map[i].row_in_frame = e->row_in_frame;
		map[i].sealed_len = loc->sealed_len;
		map[i].offset = loc->offset;
	}
	err = vc_hnsw_tier_encode(hnsw, map, l->w->total, false, &plain);
	vc_index_object_path_tagged(l->w->path_epoch, "hnsw", hnsw_path, sizeof(hnsw_path));
	if (err == VC_OK)
		err = vc_writer_put_plain(l->w, hnsw_path, &plain);
	vc_bytes_free(&plain);
	free(map);
	return err;
}

/* Rows in arrival order (frames of about 1 MiB, cluster -1) plus the graph over all of them. */
static vc_err layout_hnsw(layout *l)
{
	vc_writer *w = l->w;
	vc_hnsw *hnsw = NULL;
	vc_err err;

	l->chunk_locs = calloc(w->total / w->chunk_size + 2, sizeof(*l->chunk_locs));
	if (l->chunk_locs == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory laying out %llu rows",
			       (unsigned long long)w->total);
	err = build_graph(w, &hnsw);
	if (err == VC_OK)
		err = calibrate_ef(w, hnsw, &w->index.ef_search);
	if (err == VC_OK)
		err = layout_flat(l, true);
	if (err == VC_OK)
		err = write_graph(l, hnsw);
	w->index.kind = VC_INDEX_KIND_HNSW;
	vc_hnsw_free(hnsw);
	for (size_t c = 0; c < w->chunk_count; c++)
		free(l->chunk_locs[c]);
	free(l->chunk_locs);
	l->chunk_locs = NULL;
	return err;
}

vc_err vc_writer_layout(vc_writer *writer)
{
	layout l = {.w = writer};
	bool ivf = writer->index_type == VC_INDEX_IVF ||
		   (writer->index_type == VC_INDEX_AUTO && writer->total >= VC_INDEX_AUTO_IVF_MIN);
	vc_err err;

	memset(&writer->index, 0, sizeof(writer->index));
	err = vc_spool_map(&writer->spool);
	if (err != VC_OK)
		return err;
	l.entries = malloc(writer->total * sizeof(*l.entries));
	if (l.entries == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory laying out %llu rows",
			       (unsigned long long)writer->total);
	if (writer->index_type == VC_INDEX_HNSW)
		err = layout_hnsw(&l);
	else
		err = ivf ? layout_ivf(&l) : layout_flat(&l, false);
	if (err == VC_OK)
		err = write_id_shards(&l);
	free(l.entries);
	free(l.segments);
	vc_spool_close(&writer->spool);
	return err;
}
