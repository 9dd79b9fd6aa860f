/*
 * HNSW graph: insertion with heuristic neighbour selection (Malkov &
 * Yashunin, algorithm 4) and layered best-first search with filters.
 */
#include "index/hnsw_i.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error_i.h"

typedef struct hnsw_item {
	float score;
	uint32_t id;
} hnsw_item;

struct hnsw_scratch {
	uint16_t *tags; /* visited[i] == (tags[i] == gen) */
	size_t tag_cap;
	uint16_t gen;
	hnsw_item *cand; /* min-heap on -score: best candidate on top */
	size_t cand_n, cand_cap;
	hnsw_item *res; /* min-heap on score: worst kept result on top */
	size_t res_n, res_cap;
	hnsw_item *sel; /* a layer's results, best first */
	size_t sel_cap;
	hnsw_item *prune; /* a neighbour's list being shrunk */
	size_t prune_cap;
	uint32_t *fresh; /* unvisited neighbours of the node being expanded */
	size_t fresh_cap;
	float *query; /* normalised copy of a cosine query */
	size_t query_cap;
};

/* ---- scratch ---------------------------------------------------------- */

void vc_hnsw_scratch_free(hnsw_scratch *s)
{
	if (s == NULL)
		return;
	free(s->tags);
	free(s->cand);
	free(s->res);
	free(s->sel);
	free(s->prune);
	free(s->fresh);
	free(s->query);
	free(s);
}

size_t vc_hnsw_scratch_bytes(const hnsw_scratch *s)
{
	return sizeof(*s) + s->tag_cap * sizeof(uint16_t) +
	       (s->cand_cap + s->res_cap + s->sel_cap + s->prune_cap) * sizeof(hnsw_item) +
	       s->fresh_cap * sizeof(uint32_t) + s->query_cap * sizeof(float);
}

/* Grow @p *buf to hold @p need elements of @p size bytes (never shrinks). */
static vc_err grow(void **buf, size_t *cap, size_t need, size_t size)
{
	size_t n;
	void *p;

	if (need <= *cap)
		return VC_OK;
	n = *cap < 16 ? 16 : *cap;
	while (n < need)
		n *= 2;
	p = realloc(*buf, n * size);
	if (p == NULL)
		return vc_fail(VC_ERR_NOMEM, "HNSW: out of memory for search scratch (%zu items)",
			       n);
	*buf = p;
	*cap = n;
	return VC_OK;
}

static vc_err scratch_tags(hnsw_scratch *s, size_t count)
{
	size_t old = s->tag_cap;
	vc_err err = grow((void **)&s->tags, &s->tag_cap, count, sizeof(uint16_t));

	if (err == VC_OK && s->tag_cap > old)
		memset(s->tags + old, 0, (s->tag_cap - old) * sizeof(uint16_t));
	return err;
}

static void new_generation(hnsw_scratch *s)
{
	s->gen++;
	if (s->gen == 0) {
		/* tags wrapped: forget every old mark once per 65535 searches */
		memset(s->tags, 0, s->tag_cap * sizeof(uint16_t));
		s->gen = 1;
	}
}

vc_err vc_hnsw_scratch_new(hnsw_scratch **out)
{
	*out = calloc(1, sizeof(hnsw_scratch));
	if (*out == NULL)
		return vc_fail(VC_ERR_NOMEM, "HNSW: out of memory for search scratch");
	return VC_OK;
}

static vc_err pool_get(vc_hnsw *h, hnsw_scratch **out)
{
	*out = NULL;
	pthread_mutex_lock(&h->pool_lock);
	if (h->pool_count > 0)
		*out = h->pool[--h->pool_count];
	pthread_mutex_unlock(&h->pool_lock);
	return *out != NULL ? VC_OK : vc_hnsw_scratch_new(out);
}

static void pool_put(vc_hnsw *h, hnsw_scratch *s)
{
	pthread_mutex_lock(&h->pool_lock);
	if (h->pool_count < VC_HNSW_POOL_MAX) {
		h->pool[h->pool_count++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&h->pool_lock);
	vc_hnsw_scratch_free(s);
}

/* ---- heaps (min-heaps on item.score) ---------------------------------- */

static void heap_push(hnsw_item *heap, size_t *n, hnsw_item item)
{
	size_t i = (*n)++;

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (heap[p].score <= item.score)
			break;
		heap[i] = heap[p];
		i = p;
	}
	heap[i] = item;
}

static hnsw_item heap_pop(hnsw_item *heap, size_t *n)
{
	hnsw_item top = heap[0];
	hnsw_item last = heap[--(*n)];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= *n)
			break;
		if (c + 1 < *n && heap[c + 1].score < heap[c].score)
			c++;
		if (last.score <= heap[c].score)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (*n > 0)
		heap[i] = last;
	return top;
}

/* ---- layer search ----------------------------------------------------- */

typedef struct search_ctx {
	const vc_hnsw *h;
	hnsw_scratch *s;
	const float *query;
	vc_score_fn score;	  /* query-to-node score */
	vc_hnsw_accept_fn accept; /* NULL: every live node */
	void *ctx;
	bool all_nodes; /* construction: deleted nodes are valid neighbours */
} search_ctx;

static inline bool returnable(const search_ctx *c, uint32_t id)
{
	if (c->all_nodes)
		return true;
	if (c->h->flags[id] & VC_HNSW_FLAG_DELETED)
		return false;
	return c->accept == NULL || c->accept(c->ctx, id);
}

static inline void prefetch_row(const vc_hnsw *h, uint32_t id)
{
	const char *p = (const char *)vc_hnsw_row(h, id);
	size_t bytes = (size_t)h->dim * sizeof(float);

	/* the first lines start the stream; the hardware prefetcher follows */
	for (size_t off = 0; off < bytes && off < 512; off += 64)
		__builtin_prefetch(p + off, 0, 3);
}

/* Greedy walk on an upper layer: move to a better neighbour until none is. */
static void greedy(const search_ctx *c, uint32_t layer, uint32_t *cur, float *cur_score)
{
	const vc_hnsw *h = c->h;
	bool moved = true;

	while (moved) {
		const uint32_t *links = vc_hnsw_links(h, *cur, layer);

		moved = false;
		for (uint32_t i = 1; i <= links[0]; i++) {
			float sc = c->score(c->query, vc_hnsw_row(h, links[i]), h->dim);

			if (sc > *cur_score) {
				*cur_score = sc;
				*cur = links[i];
				moved = true;
			}
		}
	}
}

/* Score the unvisited neighbours in s->fresh[0..n) and offer them. */
static void offer_fresh(const search_ctx *c, size_t n, size_t ef, float *lower)
{
	const vc_hnsw *h = c->h;
	hnsw_scratch *s = c->s;

	for (size_t j = 0; j < n; j++) {
		uint32_t id = s->fresh[j];
		float sc;

		if (j + 1 < n)
			prefetch_row(h, s->fresh[j + 1]);
		sc = c->score(c->query, vc_hnsw_row(h, id), h->dim);
		if (s->res_n >= ef && sc <= *lower)
			continue;
		heap_push(s->cand, &s->cand_n, (hnsw_item){-sc, id});
		if (!returnable(c, id))
			continue;
		heap_push(s->res, &s->res_n, (hnsw_item){sc, id});
		if (s->res_n > ef)
			heap_pop(s->res, &s->res_n);
		*lower = s->res[0].score;
	}
}

/*
 * Best-first search of one layer from @p ep, keeping the @p ef best
 * returnable nodes in s->res. Non-returnable nodes still route the search;
 * it stops only once ef returnable nodes are held and no candidate can
 * improve them. Capacities must already cover count nodes (cand) and ef+1
 * results (res).
 */
static void search_layer(const search_ctx *c, uint32_t layer, uint32_t ep, float ep_score,
			 size_t ef)
{
	const vc_hnsw *h = c->h;
	hnsw_scratch *s = c->s;
	float lower = -INFINITY;

	new_generation(s);
	s->cand_n = 0;
	s->res_n = 0;
	s->tags[ep] = s->gen;
	heap_push(s->cand, &s->cand_n, (hnsw_item){-ep_score, ep});
	if (returnable(c, ep)) {
		heap_push(s->res, &s->res_n, (hnsw_item){ep_score, ep});
		lower = ep_score;
	}
	while (s->cand_n > 0) {
		hnsw_item best = heap_pop(s->cand, &s->cand_n);
		const uint32_t *links;
		size_t n = 0;

		if (s->res_n >= ef && -best.score < lower)
			break;
		links = vc_hnsw_links(h, best.id, layer);
		for (uint32_t i = 1; i <= links[0]; i++) {
			uint32_t id = links[i];

			if (s->tags[id] == s->gen)
				continue;
			s->tags[id] = s->gen;
			s->fresh[n++] = id;
			__builtin_prefetch(vc_hnsw_row(h, id), 0, 3);
		}
		offer_fresh(c, n, ef, &lower);
	}
}

/* Drain s->res into s->sel, best first; returns the number of items. */
static size_t drain_results(hnsw_scratch *s)
{
	size_t n = s->res_n;

	for (size_t i = n; i > 0; i--)
		s->sel[i - 1] = heap_pop(s->res, &s->res_n);
	return n;
}

/* Make sure a search over @p count nodes with list size @p ef cannot run out of room. */
static vc_err scratch_reserve(hnsw_scratch *s, const vc_hnsw *h, size_t count, size_t ef)
{
	vc_err err = scratch_tags(s, count);

	/* every node enters the candidate heap at most once per layer search */
	if (err == VC_OK)
		err = grow((void **)&s->cand, &s->cand_cap, count + 1, sizeof(hnsw_item));
	if (err == VC_OK)
		err = grow((void **)&s->res, &s->res_cap, ef + 2, sizeof(hnsw_item));
	if (err == VC_OK)
		err = grow((void **)&s->sel, &s->sel_cap, ef + 2, sizeof(hnsw_item));
	if (err == VC_OK)
		err = grow((void **)&s->prune, &s->prune_cap, 2 * (size_t)h->params.m + 2,
			   sizeof(hnsw_item));
	if (err == VC_OK)
		err = grow((void **)&s->fresh, &s->fresh_cap, 2 * (size_t)h->params.m + 1,
			   sizeof(uint32_t));
	return err;
}

/* ---- construction ----------------------------------------------------- */

/*
 * Heuristic selection (algorithm 4 without candidate extension): walk the
 * candidates best first and keep one only if it is closer to the base than
 * to every neighbour already kept, so links spread in all directions
 * instead of bunching inside one cluster.
 */
static size_t select_neighbors(const vc_hnsw *h, const hnsw_item *cands, size_t n, size_t want,
			       uint32_t *out)
{
	size_t kept = 0;

	if (n <= want) {
		for (size_t i = 0; i < n; i++)
			out[i] = cands[i].id;
		return n;
	}
	for (size_t i = 0; i < n && kept < want; i++) {
		const float *v = vc_hnsw_row(h, cands[i].id);
		bool good = true;

		for (size_t j = 0; j < kept && good; j++)
			good = h->build_score(v, vc_hnsw_row(h, out[j]), h->dim) <= cands[i].score;
		if (good)
			out[kept++] = cands[i].id;
	}
	return kept;
}

static void sort_best_first(hnsw_item *items, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		hnsw_item x = items[i];
		size_t j = i;

		for (; j > 0 && items[j - 1].score < x.score; j--)
			items[j] = items[j - 1];
		items[j] = x;
	}
}

/* Add a back link from @p r to @p node on @p layer, re-selecting r's links if full. */
static void connect(vc_hnsw *h, hnsw_scratch *s, uint32_t r, uint32_t node, uint32_t layer)
{
	uint32_t *links = vc_hnsw_links(h, r, layer);
	size_t cap = layer == 0 ? 2 * (size_t)h->params.m : h->params.m;
	const float *base = vc_hnsw_row(h, r);
	size_t n = links[0];

	if (n < cap) {
		links[1 + n] = node;
		links[0]++;
		return;
	}
	/*
	 * The new node goes first so that, among equal scores (duplicate
	 * vectors), the stable sort keeps it: otherwise a run of duplicates
	 * would leave each newcomer without a single link pointing to it.
	 */
	s->prune[0] = (hnsw_item){h->build_score(base, vc_hnsw_row(h, node), h->dim), node};
	for (size_t i = 0; i < n; i++)
		s->prune[1 + i] = (hnsw_item){
		    h->build_score(base, vc_hnsw_row(h, links[1 + i]), h->dim), links[1 + i]};
	sort_best_first(s->prune, n + 1);
	links[0] = (uint32_t)select_neighbors(h, s->prune, n + 1, cap, links + 1);
}

static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Level with P(level >= l) = m^-l, i.e. floor(-ln(U) * mL) with mL = 1/ln(m). */
static uint32_t random_level(vc_hnsw *h)
{
	double u = (double)((rng_next(&h->rng) >> 11) + 1) * 0x1.0p-53;
	double level = -log(u) / log((double)h->params.m);

	return level >= VC_HNSW_MAX_LEVEL ? VC_HNSW_MAX_LEVEL : (uint32_t)level;
}

/* Link the freshly stored node @p n into every layer up to its level. */
static void link_node(vc_hnsw *h, uint32_t n)
{
	search_ctx c = {.h = h,
			.s = h->builder,
			.query = vc_hnsw_row(h, n),
			.score = h->build_score,
			.all_nodes = true};
	uint32_t level = h->levels[n];
	uint32_t ep = h->entry;
	float ep_score = h->build_score(c.query, vc_hnsw_row(h, ep), h->dim);

	for (uint32_t layer = h->max_level; layer > level; layer--)
		greedy(&c, layer, &ep, &ep_score);
	for (uint32_t layer = level < h->max_level ? level : h->max_level;; layer--) {
		uint32_t *links = vc_hnsw_links(h, n, layer);
		size_t found;

		search_layer(&c, layer, ep, ep_score, h->params.ef_construction);
		found = drain_results(h->builder);
		links[0] =
		    (uint32_t)select_neighbors(h, h->builder->sel, found, h->params.m, links + 1);
		for (uint32_t i = 1; i <= links[0]; i++)
			connect(h, h->builder, links[i], n, layer);
		ep = h->builder->sel[0].id;
		ep_score = h->builder->sel[0].score;
		if (layer == 0)
			break;
	}
	if (level > h->max_level) {
		h->max_level = level;
		h->entry = n;
	}
}

void vc_hnsw_set_row(vc_hnsw *h, uint32_t node, const float *vector)
{
	float *row = h->vectors + (size_t)node * h->stride;

	memcpy(row, vector, (size_t)h->dim * sizeof(float));
	if (h->metric == VC_METRIC_COSINE)
		vc_normalize(row, h->dim);
}

static vc_err add_locked(vc_hnsw *h, const float *vector, uint32_t *node)
{
	uint32_t n = h->count;
	uint32_t level;
	vc_err err;

	if (n == UINT32_MAX - 1)
		return vc_fail(VC_ERR_TOO_BIG, "HNSW index is full (%u nodes)", n);
	if (n == h->capacity) {
		uint64_t want = n < 1024 ? 1024 : (uint64_t)n + n / 2;

		err = vc_hnsw_grow(h, want > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)want);
		if (err != VC_OK)
			return err;
	}
	/* reserve everything first: once linking starts nothing may fail */
	err = scratch_reserve(h->builder, h, (size_t)n + 1, h->params.ef_construction);
	if (err != VC_OK)
		return err;
	level = random_level(h);
	if (level > 0) {
		h->upper[n] = calloc((size_t)level * vc_hnsw_upper_slots(h), sizeof(uint32_t));
		if (h->upper[n] == NULL)
			return vc_fail(VC_ERR_NOMEM, "HNSW: out of memory for the links of a node");
	}
	vc_hnsw_set_row(h, n, vector);
	h->levels[n] = (uint8_t)level;
	h->flags[n] = 0;
	vc_hnsw_links(h, n, 0)[0] = 0;
	h->count = n + 1;
	if (n == 0) {
		h->entry = 0;
		h->max_level = level;
	} else {
		link_node(h, n);
	}
	*node = n;
	return VC_OK;
}

vc_err vc_hnsw_add(vc_hnsw *h, const float *vector, uint32_t *node)
{
	vc_err err;

	pthread_rwlock_wrlock(&h->lock);
	err = add_locked(h, vector, node);
	pthread_rwlock_unlock(&h->lock);
	return err;
}

vc_err vc_hnsw_mark_deleted(vc_hnsw *h, uint32_t node)
{
	vc_err err = VC_OK;

	pthread_rwlock_wrlock(&h->lock);
	if (node >= h->count)
		err = vc_fail(VC_ERR_NOT_FOUND, "HNSW node %u does not exist (%u nodes)", node,
			      h->count);
	else
		h->flags[node] |= VC_HNSW_FLAG_DELETED;
	pthread_rwlock_unlock(&h->lock);
	return err;
}

/* ---- queries ---------------------------------------------------------- */

/* Every returnable node scored: the exact answer, used when ef covers the index. */
static size_t scan_all(const search_ctx *c, size_t k)
{
	const vc_hnsw *h = c->h;
	hnsw_scratch *s = c->s;

	s->res_n = 0;
	for (uint32_t id = 0; id < h->count; id++) {
		float sc;

		if (!returnable(c, id))
			continue;
		sc = h->score(c->query, vc_hnsw_row(h, id), h->dim);
		if (s->res_n < k) {
			heap_push(s->res, &s->res_n, (hnsw_item){sc, id});
		} else if (sc > s->res[0].score) {
			heap_pop(s->res, &s->res_n);
			heap_push(s->res, &s->res_n, (hnsw_item){sc, id});
		}
	}
	return drain_results(s);
}

static size_t search_graph(const search_ctx *c, size_t ef)
{
	const vc_hnsw *h = c->h;
	uint32_t ep = h->entry;
	float ep_score = h->score(c->query, vc_hnsw_row(h, ep), h->dim);

	for (uint32_t layer = h->max_level; layer > 0; layer--)
		greedy(c, layer, &ep, &ep_score);
	search_layer(c, 0, ep, ep_score, ef);
	return drain_results(c->s);
}

static vc_err search_locked(vc_hnsw *h, hnsw_scratch *s, const float *query, size_t k, size_t ef,
			    search_ctx *c, size_t *n)
{
	vc_err err;

	if (ef > h->count)
		ef = h->count;
	if (k > h->count)
		k = h->count;
	err = scratch_reserve(s, h, h->count, ef < k ? k : ef);
	if (err != VC_OK)
		return err;
	c->query = query;
	if (h->metric == VC_METRIC_COSINE) {
		err = grow((void **)&s->query, &s->query_cap, h->dim, sizeof(float));
		if (err != VC_OK)
			return err;
		memcpy(s->query, query, (size_t)h->dim * sizeof(float));
		vc_normalize(s->query, h->dim);
		c->query = s->query;
	}
	if (ef >= h->count)
		*n = scan_all(c, k);
	else
		*n = search_graph(c, ef);
	/*
	 * Fewer than k hits means the search ran out of reachable nodes: a filter
	 * that accepts few nodes, or a part of the graph cut off (runs of
	 * duplicate vectors do that). The graph has then been walked to
	 * exhaustion anyway, so a scan costs at most as much again and honours k.
	 */
	if (*n < k && ef < h->count)
		*n = scan_all(c, k);
	return VC_OK;
}

vc_err vc_hnsw_search(vc_hnsw *h, const float *query, size_t k, uint32_t ef,
		      vc_hnsw_accept_fn accept, void *ctx, vc_scored *out, size_t *found)
{
	search_ctx c = {.h = h, .score = h->score, .accept = accept, .ctx = ctx};
	size_t want = ef != 0 ? ef : h->params.ef_search;
	size_t n = 0;
	vc_err err;

	*found = 0;
	if (k == 0)
		return VC_OK;
	if (want < k)
		want = k;
	err = pool_get(h, &c.s);
	if (err != VC_OK)
		return err;
	pthread_rwlock_rdlock(&h->lock);
	if (h->count > 0)
		err = search_locked(h, c.s, query, k, want, &c, &n);
	pthread_rwlock_unlock(&h->lock);
	if (err == VC_OK) {
		if (n > k)
			n = k;
		for (size_t i = 0; i < n; i++)
			out[i] = (vc_scored){.score = c.s->sel[i].score, .key = c.s->sel[i].id};
		*found = n;
	}
	pool_put(h, c.s);
	return err;
}
