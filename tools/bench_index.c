/*
 * Index benchmark: recall@k and latency of vc_session_search on one thread, one query at a time,
 * for a list of search settings; or the cold open + first query of a fresh process. Used by
 * tools/bench.d/index.sh.
 *
 *   bench_index [options] SESSION KEYFILE QUERIES.fvecs GT.ivecs GT_DIST.fvecs
 *
 *   --settings LIST     comma-separated: exact, default, ef=N, nprobe=N (default: exact)
 *   --queries N         queries per setting, the first N rows (default 1000)
 *   --exact-queries N   queries for a setting that scans everything (default: --queries)
 *   --warmup N          untimed queries with the first setting before timing (default 100)
 *   --cache-mb N        chunk cache budget (default 150)
 *   -k N                results per query, the k of recall@k (default 10)
 *   --cold I            cold mode: open the session and run query I once, nothing before
 *   --budget-s S        stop a setting after S seconds of queries, once 50 are done (0: no limit)
 *   --label NAME        system name in the output (default "ours")
 *
 * Ids must be row numbers (what `vchunk import` gives .fvecs rows). A returned id counts as
 * correct when it is among the exact k nearest, or when its exact distance ties the k-th one
 * (GT_DIST holds the exact distances of the GT rows, best first). Output is TSV on stdout, one
 * line per setting (warm) or one line (cold); progress goes to stderr.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vchunk/vchunk.h"

#define MAX_SETTINGS 64
#define TIE_TOLERANCE 1e-6
#define MIN_BUDGET_QUERIES 50

typedef enum setting_kind { SET_EXACT, SET_DEFAULT, SET_EF, SET_NPROBE } setting_kind;

typedef struct setting {
	setting_kind kind;
	uint32_t value;
	char name[32];
} setting;

typedef struct vecs {
	size_t rows;
	uint32_t dim;
	void *data; /* float or int32 rows, row-major */
} vecs;

typedef struct options {
	const char *session_uri;
	const char *key_file;
	const char *label;
	const char *paths[3]; /* queries, ground truth ids, ground truth distances */
	setting settings[MAX_SETTINGS];
	size_t setting_count;
	size_t queries;
	size_t exact_queries;
	size_t warmup;
	size_t cache_mb;
	double budget_s;
	uint32_t k;
	long cold; /* -1: warm mode */
} options;

typedef struct bench {
	const options *opt;
	vc_session *session;
	vecs queries, gt, gt_dist;
	bool has_index; /* the manifest lists objects under index/ */
	uint64_t total_vectors;
	uint64_t stored_bytes; /* every object the manifest lists */
	double *latency_ms;
} bench;

/* What one setting measured over its queries. */
typedef struct measure {
	size_t queries;
	double recall;
	double p50_ms, p99_ms, mean_ms;
	double bytes, chunks, scored; /* means per query */
} measure;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Read the first @p max_rows rows of an .fvecs/.ivecs file (4-byte values either way). */
static int read_vecs(const char *path, size_t max_rows, vecs *out)
{
	FILE *f = fopen(path, "rb");
	int32_t dim;
	size_t row_bytes;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	if (fread(&dim, 4, 1, f) != 1 || dim <= 0 || dim > 65536) {
		fprintf(stderr, "bench_index: %s: not a .fvecs/.ivecs file\n", path);
		goto fail;
	}
	out->dim = (uint32_t)dim;
	row_bytes = 4 + 4 * (size_t)dim;
	out->data = malloc(max_rows * 4 * (size_t)dim);
	if (out->data == NULL)
		goto fail;
	rewind(f);
	for (out->rows = 0; out->rows < max_rows; out->rows++) {
		int32_t row_dim;
		uint8_t *dst = (uint8_t *)out->data + out->rows * (row_bytes - 4);

		if (fread(&row_dim, 4, 1, f) != 1)
			break;
		if (row_dim != dim || fread(dst, row_bytes - 4, 1, f) != 1) {
			fprintf(stderr, "bench_index: %s: bad row %zu\n", path, out->rows);
			goto fail;
		}
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}

static int parse_setting(const char *text, setting *out)
{
	char *end;
	unsigned long value = 0;

	if (strcmp(text, "exact") == 0) {
		out->kind = SET_EXACT;
	} else if (strcmp(text, "default") == 0) {
		out->kind = SET_DEFAULT;
	} else if (strncmp(text, "ef=", 3) == 0 || strncmp(text, "nprobe=", 7) == 0) {
		out->kind = text[0] == 'e' ? SET_EF : SET_NPROBE;
		value = strtoul(strchr(text, '=') + 1, &end, 10);
		if (*end != '\0' || value == 0 || value > UINT32_MAX)
			return -1;
	} else {
		return -1;
	}
	out->value = (uint32_t)value;
	snprintf(out->name, sizeof(out->name), "%s", text);
	return 0;
}

static int parse_settings(char *list, options *opt)
{
	char *save = NULL;

	for (char *item = strtok_r(list, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		if (opt->setting_count == MAX_SETTINGS ||
		    parse_setting(item, &opt->settings[opt->setting_count]) != 0) {
			fprintf(stderr,
				"bench_index: bad setting '%s' (exact, default, ef=N, nprobe=N)\n",
				item);
			return -1;
		}
		opt->setting_count++;
	}
	return 0;
}

static int parse_args(int argc, char **argv, options *opt)
{
	static const struct option longs[] = {{"settings", required_argument, NULL, 's'},
					      {"queries", required_argument, NULL, 'q'},
					      {"exact-queries", required_argument, NULL, 'x'},
					      {"warmup", required_argument, NULL, 'w'},
					      {"cache-mb", required_argument, NULL, 'c'},
					      {"cold", required_argument, NULL, 'C'},
					      {"label", required_argument, NULL, 'l'},
					      {"budget-s", required_argument, NULL, 'b'},
					      {NULL, 0, NULL, 0}};
	char exact_default[] = "exact";
	int c;

	*opt = (options){
	    .queries = 1000, .warmup = 100, .cache_mb = 150, .k = 10, .cold = -1, .label = "ours"};
	while ((c = getopt_long(argc, argv, "k:", longs, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_settings(optarg, opt) != 0)
				return -1;
			break;
		case 'q': opt->queries = strtoul(optarg, NULL, 10); break;
		case 'x': opt->exact_queries = strtoul(optarg, NULL, 10); break;
		case 'w': opt->warmup = strtoul(optarg, NULL, 10); break;
		case 'c': opt->cache_mb = strtoul(optarg, NULL, 10); break;
		case 'C': opt->cold = strtol(optarg, NULL, 10); break;
		case 'k': opt->k = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'l': opt->label = optarg; break;
		case 'b': opt->budget_s = strtod(optarg, NULL); break;
		default: return -1;
		}
	}
	if (argc - optind != 5 || opt->queries == 0 || opt->k == 0 || opt->cache_mb == 0)
		return -1;
	if (opt->setting_count == 0 && parse_settings(exact_default, opt) != 0)
		return -1;
	if (opt->exact_queries == 0 || opt->exact_queries > opt->queries)
		opt->exact_queries = opt->queries;
	opt->session_uri = argv[optind];
	opt->key_file = argv[optind + 1];
	for (int i = 0; i < 3; i++)
		opt->paths[i] = argv[optind + 2 + i];
	return 0;
}

/* Share of query @p q's k results that are true nearest neighbours (ties with the k-th count). */
static double query_recall(const bench *b, size_t q, const vc_results *res)
{
	const int32_t *ids = (const int32_t *)b->gt.data + q * b->gt.dim;
	const float *dist = (const float *)b->gt_dist.data + q * b->gt_dist.dim;
	uint32_t k = b->opt->k;
	double limit = (double)dist[k - 1] * (1.0 + TIE_TOLERANCE);
	size_t accepted = k;
	size_t found = 0;

	while (accepted < b->gt.dim && dist[accepted] <= limit)
		accepted++;
	for (size_t i = 0; i < res->count && i < k; i++) {
		char *end;
		unsigned long long id = strtoull(res->hits[i].id, &end, 10);

		for (size_t j = 0; *end == '\0' && j < accepted; j++) {
			if ((unsigned long long)ids[j] == id) {
				found++;
				break;
			}
		}
	}
	return (double)found / k;
}

static vc_query make_query(const bench *b, const setting *s, size_t q)
{
	vc_query query = {.vector = (const float *)b->queries.data + q * b->queries.dim,
			  .dim = b->queries.dim,
			  .k = b->opt->k};

	query.exact = s->kind == SET_EXACT;
	query.ef = s->kind == SET_EF ? s->value : 0;
	query.nprobe = s->kind == SET_NPROBE ? s->value : 0;
	return query;
}

/* Run one query; add its latency, stats and recall to @p m. */
static int run_query(bench *b, const setting *s, size_t q, measure *m)
{
	vc_query query = make_query(b, s, q);
	vc_results res = {0};
	double start = now_ms();
	vc_err err = vc_session_search(b->session, &query, &res);
	double elapsed = now_ms() - start;

	if (err != VC_OK) {
		fprintf(stderr, "bench_index: query %zu (%s): %s\n", q, s->name, vc_last_error());
		return -1;
	}
	b->latency_ms[m->queries++] = elapsed;
	m->recall += query_recall(b, q, &res);
	m->bytes += (double)res.stats.bytes_read;
	m->chunks += (double)res.stats.chunks_read;
	m->scored += (double)res.stats.vectors_scored;
	vc_results_free(&res);
	return 0;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted @p v. */
static double percentile(const double *v, size_t n, double p)
{
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);

	return v[rank == 0 ? 0 : rank - 1];
}

/* A setting that cannot use an index scans everything: it gets the smaller query budget. */
static size_t queries_for(const bench *b, const setting *s)
{
	bool scans_all = s->kind == SET_EXACT || (s->kind == SET_DEFAULT && !b->has_index);

	return scans_all ? b->opt->exact_queries : b->opt->queries;
}

static int measure_setting(bench *b, const setting *s, measure *m)
{
	size_t n = queries_for(b, s);
	double deadline = now_ms() + b->opt->budget_s * 1e3;

	*m = (measure){0};
	for (size_t q = 0; q < n; q++) {
		if (run_query(b, s, q, m) != 0)
			return -1;
		/* a slow setting stops early; the query count printed says how many ran */
		if (b->opt->budget_s > 0 && q + 1 >= MIN_BUDGET_QUERIES && now_ms() > deadline)
			n = q + 1;
	}
	for (size_t q = 0; q < n; q++)
		m->mean_ms += b->latency_ms[q];
	qsort(b->latency_ms, n, sizeof(double), compare_double);
	m->p50_ms = percentile(b->latency_ms, n, 50);
	m->p99_ms = percentile(b->latency_ms, n, 99);
	m->mean_ms /= (double)n;
	m->recall /= (double)n;
	m->bytes /= (double)n;
	m->chunks /= (double)n;
	m->scored /= (double)n;
	return 0;
}

static void print_measure(const bench *b, const setting *s, const measure *m)
{
	double scored_frac = m->scored / (double)b->total_vectors;

	printf("%s\t%s\t%zu\t%.4f\t%.3f\t%.3f\t%.3f\t-\t%.0f\t%.2f\t%.4f\t%s\n", b->opt->label,
	       s->name, m->queries, m->recall, m->p50_ms, m->p99_ms, m->mean_ms, m->bytes,
	       m->chunks, scored_frac, scored_frac >= 0.999 ? "every vector scored" : "-");
	fprintf(stderr,
		"bench_index: %-10s %zu queries  recall@%u %.4f  p50 %.3f ms  p99 %.3f ms\n",
		s->name, m->queries, b->opt->k, m->recall, m->p50_ms, m->p99_ms);
	fflush(stdout);
}

static int run_warm(bench *b)
{
	const options *opt = b->opt;
	const setting *first = &opt->settings[0];
	measure m = {0};

	printf(
	    "system\tsetting\tqueries\trecall\tp50_ms\tp99_ms\tmean_ms\tbatch_ms\tbytes_per_query"
	    "\tchunks_per_query\tscored_frac\tnote\n");
	for (size_t q = 0; q < opt->warmup && q < queries_for(b, first); q++) {
		if (run_query(b, first, q, &m) != 0)
			return -1;
		m.queries = 0;
	}
	for (size_t i = 0; i < opt->setting_count; i++) {
		const setting *s = &opt->settings[i];

		if (!b->has_index && (s->kind == SET_EF || s->kind == SET_NPROBE)) {
			printf("%s\t%s\t0\t-\t-\t-\t-\t-\t-\t-\t-\tskipped: the session has no "
			       "index (no index/ objects), so search is exact\n",
			       opt->label, s->name);
			fprintf(stderr, "bench_index: %s skipped: the session has no index\n",
				s->name);
			continue;
		}
		if (measure_setting(b, s, &m) != 0)
			return -1;
		print_measure(b, s, &m);
	}
	return 0;
}

/* Cold mode: open and first query timed in this fresh process. */
static int run_cold(const options *opt, bench *b)
{
	vc_open_options open_opt = {.key_file = opt->key_file, .cache_bytes = opt->cache_mb << 20};
	const setting *s = &opt->settings[0];
	double t0 = now_ms(), t1, t2;
	vc_query query;
	vc_results res = {0};
	const vc_manifest *m;
	vc_err err = vc_session_open(opt->session_uri, &open_opt, &b->session);

	t1 = now_ms();
	if (err != VC_OK) {
		fprintf(stderr, "bench_index: open %s: %s\n", opt->session_uri, vc_last_error());
		return -1;
	}
	query = make_query(b, s, (size_t)opt->cold);
	err = vc_session_search(b->session, &query, &res);
	t2 = now_ms();
	if (err != VC_OK) {
		fprintf(stderr, "bench_index: cold query %ld: %s\n", opt->cold, vc_last_error());
		return -1;
	}
	/* the stored size is summed after the timing, so the timed path does no extra work */
	m = vc_session_manifest_get(b->session);

	for (size_t i = 0; i < m->chunk_count; i++)
		b->stored_bytes += m->chunks[i].object.byte_size;
	for (size_t i = 0; i < m->object_count; i++)
		b->stored_bytes += m->objects[i].byte_size;
	vc_session_manifest_put(b->session, m);
	printf("setting\tquery\topen_ms\tfirst_query_ms\ttotal_ms\tbytes_read\tchunks_read"
	       "\tstored_bytes\tread_pct\trecall\n");
	printf("%s\t%ld\t%.3f\t%.3f\t%.3f\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%.3f\t%.2f\n",
	       s->name, opt->cold, t1 - t0, t2 - t1, t2 - t0, res.stats.bytes_read,
	       res.stats.chunks_read, b->stored_bytes,
	       100.0 * (double)res.stats.bytes_read / (double)b->stored_bytes,
	       query_recall(b, (size_t)opt->cold, &res));
	vc_results_free(&res);
	return 0;
}

/* Open the session (warm mode) and learn its size and whether it carries an index. */
static int open_warm(const options *opt, bench *b)
{
	vc_open_options open_opt = {.key_file = opt->key_file, .cache_bytes = opt->cache_mb << 20};
	const vc_manifest *m;
	size_t index_objects = 0;
	uint64_t index_bytes = 0;

	if (vc_session_open(opt->session_uri, &open_opt, &b->session) != VC_OK) {
		fprintf(stderr, "bench_index: open %s: %s\n", opt->session_uri, vc_last_error());
		return -1;
	}
	m = vc_session_manifest_get(b->session);
	b->total_vectors = m->total_vectors;
	for (size_t i = 0; i < m->object_count; i++) {
		if (strncmp(m->objects[i].path, "index/", 6) == 0) {
			index_objects++;
			index_bytes += m->objects[i].byte_size;
		}
	}
	b->has_index = index_objects > 0;
	fprintf(stderr,
		"bench_index: %s: %" PRIu64 " vectors in %zu chunks, %zu index objects"
		" (%" PRIu64 " bytes), cache %zu MB\n",
		opt->session_uri, m->total_vectors, m->chunk_count, index_objects, index_bytes,
		opt->cache_mb);
	if (m->dim != b->queries.dim) {
		fprintf(stderr, "bench_index: session dimension %u, queries %u\n", m->dim,
			b->queries.dim);
		vc_session_manifest_put(b->session, m);
		return -1;
	}
	vc_session_manifest_put(b->session, m);
	return 0;
}

static int load_inputs(const options *opt, bench *b)
{
	size_t rows = opt->cold >= 0 ? (size_t)opt->cold + 1 : opt->queries;

	if (read_vecs(opt->paths[0], rows, &b->queries) != 0 ||
	    read_vecs(opt->paths[1], rows, &b->gt) != 0 ||
	    read_vecs(opt->paths[2], rows, &b->gt_dist) != 0)
		return -1;
	if (b->queries.rows < rows || b->gt.rows < rows || b->gt_dist.rows != b->gt.rows ||
	    b->gt.dim != b->gt_dist.dim || b->gt.dim < opt->k) {
		fprintf(stderr,
			"bench_index: need %zu queries with ground truth of depth >= %u "
			"(have %zu queries, %zu x %u ground truth)\n",
			rows, opt->k, b->queries.rows, b->gt.rows, b->gt.dim);
		return -1;
	}
	b->latency_ms = calloc(rows, sizeof(double));
	return b->latency_ms == NULL ? -1 : 0;
}

int main(int argc, char **argv)
{
	options opt;
	bench b = {.opt = &opt};
	int status = 1;

	if (parse_args(argc, argv, &opt) != 0) {
		fprintf(stderr,
			"usage: bench_index [--settings LIST] [--queries N] [--exact-queries N]"
			" [--warmup N] [--cache-mb N] [-k N] [--cold I] [--budget-s S]"
			" [--label NAME]\n"
			"                   SESSION KEYFILE QUERIES.fvecs GT.ivecs "
			"GT_DIST.fvecs\n");
		return 2;
	}
	if (load_inputs(&opt, &b) != 0)
		goto out;
	if (opt.cold >= 0) {
		status = run_cold(&opt, &b) == 0 ? 0 : 1;
		goto out;
	}
	if (open_warm(&opt, &b) != 0)
		goto out;
	status = run_warm(&b) == 0 ? 0 : 1;
out:
	vc_session_close(b.session);
	free(b.latency_ms);
	free(b.queries.data);
	free(b.gt.data);
	free(b.gt_dist.data);
	return status;
}
