/*
 * k-means: reservoir-sampled training set, greedy k-means++ seeding, Lloyd
 * iterations with threaded, bound-pruned assignment (Hamerly), re-seeding
 * of empty clusters.
 */
#include "index/kmeans.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "search/distance.h"
#include "util/error_i.h"

#define MAX_THREADS 64
#define MAX_TRIALS 12
/* Seeding looks at no more than this many sample points per centroid. */
#define SEED_PER_CENTROID 64

typedef struct km_state {
	vc_metric assign_metric; /* COSINE (spherical) or L2 */
	bool spherical;
	const float *vectors;
	uint32_t dim;
	uint32_t k;
	size_t m;	 /* sample size */
	size_t *idx;	 /* sample -> row of vectors */
	float *inv_norm; /* spherical: 1/|x| per sample point (0 for a zero vector) */
	float *centroids;
	uint32_t *assign;
	float *fit;	  /* squared distance of each point to its centroid */
	size_t seed_m;	  /* seeding set size (a subset of the sample) */
	uint32_t trials;  /* trial centres per seeding step */
	float *d2;	  /* seeding: squared distance to the nearest chosen centre */
	float *cand_d2;	  /* seeding: trials * seed_m */
	float *trial_vec; /* seeding: trials * dim */
	double potential[MAX_THREADS][MAX_TRIALS];
	double *sums;
	uint64_t *counts;
	uint32_t threads;
	float *scores; /* threads * 4 * k */
	size_t changed[MAX_THREADS];
	uint64_t rng;
	/*
	 * Hamerly's bounds: upper[i] >= distance to the own centroid, lower[i]
	 * <= distance to any other. A point whose upper bound stays below both
	 * its lower bound and half the gap to the nearest other centroid cannot
	 * have changed cluster, so later iterations skip most of the sample.
	 */
	bool bounded;
	float *upper, *lower;
	float *old_centroids; /* k * dim, before the last update */
	float *delta;	      /* how far each centroid moved in the last update */
	float *half_gap;      /* half the distance to the nearest other centroid */
	float max_delta, second_delta;
	uint32_t max_delta_at;
} km_state;

static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) * 0x1.0p-53;
}

static inline const float *point(const km_state *s, size_t i)
{
	return s->vectors + s->idx[i] * s->dim;
}

/* ---- a tiny parallel-for ---------------------------------------------- */

typedef void (*range_fn)(km_state *s, size_t begin, size_t end, uint32_t worker);

typedef struct range_job {
	km_state *s;
	range_fn fn;
	size_t begin, end;
	uint32_t worker;
} range_job;

static void *run_job(void *arg)
{
	range_job *j = arg;

	j->fn(j->s, j->begin, j->end, j->worker);
	return NULL;
}

/* Split [0, n) over s->threads workers; a thread that cannot start runs inline. */
static void parallel_for(km_state *s, size_t n, range_fn fn)
{
	range_job jobs[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	bool started[MAX_THREADS] = {false};
	uint32_t t = s->threads;

	if (t > n)
		t = n > 0 ? (uint32_t)n : 1;
	for (uint32_t w = 0; w < t; w++) {
		jobs[w] = (range_job){s, fn, n * w / t, n * (w + 1) / t, w};
		if (w + 1 < t)
			started[w] = pthread_create(&tids[w], NULL, run_job, &jobs[w]) == 0;
	}
	for (uint32_t w = 0; w < t; w++) {
		if (!started[w])
			run_job(&jobs[w]);
	}
	for (uint32_t w = 0; w + 1 < t; w++) {
		if (started[w])
			pthread_join(tids[w], NULL);
	}
}

/* ---- assignment ------------------------------------------------------- */

/* Squared euclidean distance between sample point @p i and centroid @p c (unit vectors if
 * spherical). */
static float dist2(const km_state *s, size_t i, const float *c)
{
	float d;

	if (!s->spherical)
		return vc_l2sq(point(s, i), c, s->dim);
	d = 2.0f - 2.0f * vc_dot(point(s, i), c, s->dim) * s->inv_norm[i];
	return d > 0.0f ? d : 0.0f;
}

/* Euclidean distance behind a kernel score of sample point @p i (see dist2). */
static inline float score_distance(const km_state *s, size_t i, float score)
{
	float d = s->spherical ? 2.0f - 2.0f * score * s->inv_norm[i] : -score;

	return d > 0.0f ? sqrtf(d) : 0.0f;
}

/* Set point @p i's cluster and both bounds exactly from its @p scores against every centroid. */
static bool take_best(km_state *s, size_t i, const float *scores)
{
	uint32_t best = 0, second = UINT32_MAX;
	uint32_t before = s->assign[i];

	for (uint32_t c = 1; c < s->k; c++) {
		if (scores[c] > scores[best]) {
			second = best;
			best = c;
		} else if (second == UINT32_MAX || scores[c] > scores[second]) {
			second = c;
		}
	}
	s->assign[i] = best;
	s->upper[i] = score_distance(s, i, scores[best]);
	s->lower[i] = second == UINT32_MAX ? INFINITY : score_distance(s, i, scores[second]);
	return best != before;
}

/* Full scans of up to four points at once (centroids are read once per four points). */
static size_t scan_points(km_state *s, const size_t *pending, size_t n, float *scores)
{
	const float *rows[4] = {NULL};
	size_t changed = 0;

	for (size_t j = 0; j < n; j++)
		rows[j] = point(s, pending[j]);
	vc_score_multi(s->assign_metric, rows, n, s->centroids, s->k, s->dim, scores);
	for (size_t j = 0; j < n; j++)
		changed += take_best(s, pending[j], scores + j * s->k);
	return changed;
}

/* Can point @p i keep its cluster without a full scan? Updates its bounds. */
static bool bounds_hold(km_state *s, size_t i)
{
	uint32_t a = s->assign[i];
	float u = s->upper[i] + s->delta[a];
	float l = s->lower[i] - (a == s->max_delta_at ? s->second_delta : s->max_delta);
	float z = l > s->half_gap[a] ? l : s->half_gap[a];

	if (u > z)
		u = sqrtf(dist2(s, i, s->centroids + (size_t)a * s->dim));
	s->upper[i] = u;
	s->lower[i] = l;
	return u <= z;
}

static void assign_range(km_state *s, size_t begin, size_t end, uint32_t worker)
{
	float *scores = s->scores + (size_t)worker * 4 * s->k;
	size_t pending[4];
	size_t np = 0, changed = 0;

	for (size_t i = begin; i < end; i++) {
		if (s->bounded && bounds_hold(s, i))
			continue;
		pending[np++] = i;
		if (np == 4) {
			changed += scan_points(s, pending, np, scores);
			np = 0;
		}
	}
	if (np > 0)
		changed += scan_points(s, pending, np, scores);
	s->changed[worker] = changed;
}

static size_t assign_all(km_state *s)
{
	size_t changed = 0;

	memset(s->changed, 0, sizeof(s->changed));
	parallel_for(s, s->m, assign_range);
	for (uint32_t w = 0; w < MAX_THREADS; w++)
		changed += s->changed[w];
	return changed;
}

/* How far each centroid moved, and half the gap between each and its nearest neighbour. */
static void measure_moves(km_state *s)
{
	float *tmp = s->scores; /* k floats; no assignment runs now */

	s->max_delta = s->second_delta = 0.0f;
	s->max_delta_at = UINT32_MAX;
	for (uint32_t c = 0; c < s->k; c++) {
		const float *now = s->centroids + (size_t)c * s->dim;
		float d = sqrtf(vc_l2sq(now, s->old_centroids + (size_t)c * s->dim, s->dim));

		s->delta[c] = d;
		if (d > s->max_delta) {
			s->second_delta = s->max_delta;
			s->max_delta = d;
			s->max_delta_at = c;
		} else if (d > s->second_delta) {
			s->second_delta = d;
		}
	}
	for (uint32_t c = 0; c < s->k; c++) {
		float nearest = INFINITY;

		vc_score_many(VC_METRIC_L2, s->centroids + (size_t)c * s->dim, s->centroids, s->k,
			      s->dim, tmp);
		for (uint32_t o = 0; o < s->k; o++) {
			if (o != c && -tmp[o] < nearest)
				nearest = -tmp[o];
		}
		s->half_gap[c] = nearest > 0.0f ? 0.5f * sqrtf(nearest) : 0.0f;
	}
}

/* Exact mean squared distance of the sample to its centroids; refreshes fit[]. */
static double objective(km_state *s)
{
	double sum = 0.0;

	for (size_t i = 0; i < s->m; i++) {
		s->fit[i] = dist2(s, i, s->centroids + (size_t)s->assign[i] * s->dim);
		sum += s->fit[i];
	}
	return sum / (double)s->m;
}

uint32_t vc_kmeans_nearest(vc_metric metric, const float *centroids, uint32_t k, uint32_t dim,
			   const float *v, float *scores, float *score)
{
	uint32_t best = 0;

	/* dot-product quantizers cluster by euclidean distance (see kmeans.h) */
	vc_score_many(metric == VC_METRIC_COSINE ? VC_METRIC_COSINE : VC_METRIC_L2, v, centroids, k,
		      dim, scores);
	for (uint32_t c = 1; c < k; c++) {
		if (scores[c] > scores[best])
			best = c;
	}
	if (score != NULL)
		*score = scores[best];
	return best;
}

/* ---- seeding ---------------------------------------------------------- */

static void set_centroid(km_state *s, uint32_t c, size_t i)
{
	float *dst = s->centroids + (size_t)c * s->dim;

	memcpy(dst, point(s, i), (size_t)s->dim * sizeof(float));
	if (s->spherical)
		vc_normalize(dst, s->dim);
}

/* Sample point behind seeding point @p i: the seeding set is an even stride through the sample. */
static inline size_t seed_point(const km_state *s, size_t i)
{
	return i * s->m / s->seed_m;
}

/* For every trial centre j: cand_d2[j][i] = min(d2[i], dist(i, trial j)), and their sums. */
static void score_trials(km_state *s, size_t begin, size_t end, uint32_t worker)
{
	double *potential = s->potential[worker];

	for (uint32_t j = 0; j < s->trials; j++)
		potential[j] = 0.0;
	for (size_t i = begin; i < end; i++) {
		size_t p = seed_point(s, i);
		float d2[MAX_TRIALS];

		/* one pass over the point for all trials (the 4-row kernel) */
		vc_score_many(s->assign_metric, point(s, p), s->trial_vec, s->trials, s->dim, d2);
		for (uint32_t j = 0; j < s->trials; j++) {
			float d = s->spherical ? 2.0f - 2.0f * d2[j] * s->inv_norm[p] : -d2[j];
			float m;

			d = d > 0.0f ? d : 0.0f;
			m = d < s->d2[i] ? d : s->d2[i];

			s->cand_d2[(size_t)j * s->seed_m + i] = m;
			potential[j] += m;
		}
	}
}

/* Seeding index with probability proportional to d2 (uniform if all are 0). */
static size_t draw_weighted(km_state *s)
{
	double total = 0.0, target, acc = 0.0;

	for (size_t i = 0; i < s->seed_m; i++)
		total += s->d2[i];
	if (!(total > 0.0) || !isfinite(total))
		return (size_t)(rng_next(&s->rng) % s->seed_m);
	target = rng_unit(&s->rng) * total;
	for (size_t i = 0; i < s->seed_m; i++) {
		acc += s->d2[i];
		if (acc > target && s->d2[i] > 0.0f)
			return i;
	}
	/* rounding left target past the sum: take the last point that has weight */
	for (size_t i = s->seed_m; i > 0; i--) {
		if (s->d2[i - 1] > 0.0f)
			return i - 1;
	}
	return 0;
}

/*
 * Greedy k-means++: each step draws a few trial centres with probability
 * proportional to D(x)^2 and keeps the one that lowers the total D^2 most.
 * Plain k-means++ too often drops two seeds into one cluster and none into
 * another, a split Lloyd iterations cannot undo. With 2 + 2 ln(k) trials
 * (sklearn uses 2 + ln k) 300 seeded runs on 12 separated clusters all
 * came out pure, against 4 failures with 2 + ln k.
 */
static void seed_plus_plus(km_state *s)
{
	for (size_t i = 0; i < s->seed_m; i++)
		s->d2[i] = INFINITY;
	for (uint32_t c = 0; c < s->k; c++) {
		uint32_t best = 0;
		double best_potential = INFINITY;

		for (uint32_t j = 0; j < s->trials; j++) {
			float *dst = s->trial_vec + (size_t)j * s->dim;

			memcpy(dst, point(s, seed_point(s, draw_weighted(s))),
			       (size_t)s->dim * sizeof(float));
			if (s->spherical)
				vc_normalize(dst, s->dim);
		}
		memset(s->potential, 0, sizeof(s->potential));
		parallel_for(s, s->seed_m, score_trials);
		for (uint32_t j = 0; j < s->trials; j++) {
			double total = 0.0;

			for (uint32_t w = 0; w < MAX_THREADS; w++)
				total += s->potential[w][j];
			if (total < best_potential) {
				best_potential = total;
				best = j;
			}
		}
		memcpy(s->centroids + (size_t)c * s->dim, s->trial_vec + (size_t)best * s->dim,
		       (size_t)s->dim * sizeof(float));
		memcpy(s->d2, s->cand_d2 + (size_t)best * s->seed_m, s->seed_m * sizeof(float));
	}
}

/* ---- update ----------------------------------------------------------- */

/* Give empty cluster @p c the worst-fitting point of the largest cluster. */
static void reseed(km_state *s, uint32_t c)
{
	uint32_t largest = 0;
	size_t worst = SIZE_MAX;

	for (uint32_t j = 1; j < s->k; j++) {
		if (s->counts[j] > s->counts[largest])
			largest = j;
	}
	for (size_t i = 0; i < s->m; i++) {
		if (s->assign[i] == largest && (worst == SIZE_MAX || s->fit[i] > s->fit[worst]))
			worst = i;
	}
	if (worst == SIZE_MAX || s->counts[largest] < 2)
		return; /* fewer distinct points than clusters: nothing to split */
	set_centroid(s, c, worst);
	s->assign[worst] = c;
	s->fit[worst] = 0.0f;
	/* it sits on its new centroid; 0 as lower bound forces a check next time */
	s->upper[worst] = 0.0f;
	s->lower[worst] = 0.0f;
	s->counts[largest]--;
	s->counts[c] = 1;
}

/* New centroids from the current assignment; returns how many clusters were re-seeded. */
static uint32_t update_centroids(km_state *s)
{
	uint32_t dim = s->dim, reseeded = 0;

	memset(s->sums, 0, (size_t)s->k * dim * sizeof(double));
	memset(s->counts, 0, (size_t)s->k * sizeof(uint64_t));
	for (size_t i = 0; i < s->m; i++) {
		const float *x = point(s, i);
		double *sum = s->sums + (size_t)s->assign[i] * dim;
		double w = s->spherical ? s->inv_norm[i] : 1.0;

		for (uint32_t d = 0; d < dim; d++)
			sum[d] += x[d] * w;
		s->counts[s->assign[i]]++;
	}
	for (uint32_t c = 0; c < s->k; c++) {
		float *dst = s->centroids + (size_t)c * dim;

		if (s->counts[c] == 0)
			continue;
		for (uint32_t d = 0; d < dim; d++)
			dst[d] = (float)(s->sums[(size_t)c * dim + d] / (double)s->counts[c]);
		/* opposite unit vectors can average to zero: keep some direction anyway */
		if (s->spherical && !vc_normalize(dst, dim))
			dst[0] = 1.0f;
	}
	for (uint32_t c = 0; c < s->k; c++) {
		if (s->counts[c] == 0) {
			reseed(s, c);
			reseeded++;
		}
	}
	return reseeded;
}

/* ---- driver ----------------------------------------------------------- */

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

/* Reservoir sample of at most @p cap rows, sorted so the passes read memory in order. */
static void draw_sample(km_state *s, size_t n)
{
	for (size_t i = 0; i < s->m; i++)
		s->idx[i] = i;
	for (size_t i = s->m; i < n; i++) {
		uint64_t j = rng_next(&s->rng) % (i + 1);

		if (j < s->m)
			s->idx[j] = i;
	}
	qsort(s->idx, s->m, sizeof(size_t), cmp_size);
}

static void state_free(km_state *s)
{
	free(s->idx);
	free(s->inv_norm);
	free(s->assign);
	free(s->fit);
	free(s->d2);
	free(s->cand_d2);
	free(s->trial_vec);
	free(s->sums);
	free(s->counts);
	free(s->scores);
	free(s->upper);
	free(s->lower);
	free(s->old_centroids);
	free(s->delta);
	free(s->half_gap);
}

static vc_err state_alloc(km_state *s)
{
	size_t m = s->m;

	s->idx = malloc(m * sizeof(size_t));
	s->inv_norm = s->spherical ? malloc(m * sizeof(float)) : NULL;
	s->assign = malloc(m * sizeof(uint32_t));
	s->fit = malloc(m * sizeof(float));
	s->d2 = malloc(s->seed_m * sizeof(float));
	s->cand_d2 = malloc(s->seed_m * s->trials * sizeof(float));
	s->trial_vec = malloc((size_t)s->trials * s->dim * sizeof(float));
	s->sums = malloc((size_t)s->k * s->dim * sizeof(double));
	s->counts = malloc((size_t)s->k * sizeof(uint64_t));
	s->scores = malloc((size_t)s->threads * 4 * s->k * sizeof(float));
	s->upper = malloc(m * sizeof(float));
	s->lower = malloc(m * sizeof(float));
	s->old_centroids = malloc((size_t)s->k * s->dim * sizeof(float));
	s->delta = malloc((size_t)s->k * sizeof(float));
	s->half_gap = malloc((size_t)s->k * sizeof(float));
	if (s->idx == NULL || (s->spherical && s->inv_norm == NULL) || s->assign == NULL ||
	    s->fit == NULL || s->d2 == NULL || s->cand_d2 == NULL || s->trial_vec == NULL ||
	    s->sums == NULL || s->counts == NULL || s->upper == NULL || s->lower == NULL ||
	    s->old_centroids == NULL || s->delta == NULL || s->half_gap == NULL ||
	    s->scores == NULL)
		return vc_fail(VC_ERR_NOMEM,
			       "k-means: out of memory for %zu samples and %u clusters", m, s->k);
	return VC_OK;
}

static vc_err check_args(const float *vectors, size_t n, uint32_t dim, uint32_t k,
			 const vc_kmeans_params *p)
{
	if (vectors == NULL || dim == 0)
		return vc_fail(VC_ERR_INVALID, "k-means: no vectors to train on");
	if (k == 0 || k > n)
		return vc_fail(VC_ERR_INVALID, "k-means: %zu vectors cannot make %u clusters", n,
			       k);
	if (p->sample_per_centroid == 0 || p->max_iterations == 0)
		return vc_fail(VC_ERR_INVALID,
			       "k-means: iterations and samples per centroid must be >= 1");
	if ((uint64_t)n > SIZE_MAX / sizeof(double) / dim)
		return vc_fail(VC_ERR_TOO_BIG, "k-means: %zu vectors are too many", n);
	return VC_OK;
}

static void lloyd(km_state *s, const vc_kmeans_params *p, vc_kmeans_result *r)
{
	seed_plus_plus(s);
	for (size_t i = 0; i < s->m; i++)
		s->assign[i] = UINT32_MAX;
	s->bounded = false;
	assign_all(s);
	for (r->iterations = 1; r->iterations <= p->max_iterations; r->iterations++) {
		size_t changed;

		/* the worst-fitting points (by upper bound) re-seed empty clusters */
		for (size_t i = 0; i < s->m; i++)
			s->fit[i] = s->upper[i] * s->upper[i];
		memcpy(s->old_centroids, s->centroids, (size_t)s->k * s->dim * sizeof(float));
		r->reseeded += update_centroids(s);
		measure_moves(s);
		s->bounded = true;
		changed = assign_all(s);
		if ((double)changed <= p->min_change * (double)s->m)
			break;
	}
	if (r->iterations > p->max_iterations)
		r->iterations = p->max_iterations;
	r->objective = objective(s);
}

vc_err vc_kmeans_train(vc_metric metric, const float *vectors, size_t n, uint32_t dim, uint32_t k,
		       const vc_kmeans_params *params, float *centroids, vc_kmeans_result *result)
{
	vc_kmeans_params defaults;
	vc_kmeans_result local = {0};
	km_state s = {0};
	uint64_t cap;
	vc_err err;

	if (params == NULL) {
		vc_kmeans_params_default(&defaults);
		params = &defaults;
	}
	err = check_args(vectors, n, dim, k, params);
	if (err != VC_OK)
		return err;
	s.spherical = metric == VC_METRIC_COSINE;
	s.assign_metric = s.spherical ? VC_METRIC_COSINE : VC_METRIC_L2;
	s.vectors = vectors;
	s.dim = dim;
	s.k = k;
	s.centroids = centroids;
	s.rng = params->seed;
	s.threads =
	    params->threads != 0 ? params->threads : (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
	if (s.threads == 0 || s.threads > MAX_THREADS)
		s.threads = s.threads == 0 ? 1 : MAX_THREADS;
	cap = (uint64_t)k * params->sample_per_centroid;
	s.m = n < cap ? n : (size_t)cap;
	cap = (uint64_t)k * SEED_PER_CENTROID;
	s.seed_m = s.m < cap ? s.m : (size_t)cap;
	s.trials = 2 + (uint32_t)(2.0 * log((double)k));
	if (s.trials > MAX_TRIALS)
		s.trials = MAX_TRIALS;
	err = state_alloc(&s);
	if (err != VC_OK)
		goto out;
	draw_sample(&s, n);
	for (size_t i = 0; s.spherical && i < s.m; i++) {
		float norm = sqrtf(vc_dot(point(&s, i), point(&s, i), dim));

		s.inv_norm[i] = norm > 0.0f ? 1.0f / norm : 0.0f;
	}
	local.sample_size = s.m;
	lloyd(&s, params, &local);
	if (result != NULL)
		*result = local;
out:
	state_free(&s);
	return err;
}

void vc_kmeans_params_default(vc_kmeans_params *params)
{
	params->max_iterations = VC_KMEANS_DEFAULT_ITERATIONS;
	params->sample_per_centroid = VC_KMEANS_DEFAULT_SAMPLE_PER_CENTROID;
	params->min_change = VC_KMEANS_DEFAULT_MIN_CHANGE;
	params->threads = 0;
	params->seed = 1;
}
