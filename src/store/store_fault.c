/* The fault-injecting wrapper: adds latency, fails a fraction of operations and cuts a fraction of
 * read bodies short, reproducibly from a seed, so failure handling can be tested for real. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_i.h"
#include "util/error_i.h"

typedef struct fault_store {
	vc_store base; /* shares the inner store's stats: retries below stay visible */
	vc_store *inner;
	vc_fault_options options;
	pthread_mutex_t lock; /* guards rng */
	uint64_t rng;
} fault_store;

static fault_store *fault_of(vc_store *store)
{
	return (fault_store *)store;
}

/* splitmix64: small, fast and good enough to spread failures evenly; one stream per store. */
static uint64_t next_random(fault_store *f)
{
	uint64_t z;

	pthread_mutex_lock(&f->lock);
	f->rng += 0x9e3779b97f4a7c15ULL;
	z = f->rng;
	pthread_mutex_unlock(&f->lock);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double draw(fault_store *f)
{
	return (double)(next_random(f) >> 11) * (1.0 / 9007199254740992.0);
}

static void add_latency(fault_store *f)
{
	struct timespec left;

	if (f->options.latency_ms <= 0)
		return;
	left.tv_sec = f->options.latency_ms / 1000;
	left.tv_nsec = (f->options.latency_ms % 1000) * 1000000L;
	while (nanosleep(&left, &left) != 0 && errno == EINTR)
		;
}

/* Latency, then maybe an injected failure for @p what (an operation and object). */
static vc_err inject(fault_store *f, const char *op, const char *path)
{
	add_latency(f);
	if (f->options.error_rate > 0 && draw(f) < f->options.error_rate)
		return vc_fail(VC_ERR_UNAVAILABLE, "injected fault %s %s in store %s", op, path,
			       f->inner->location);
	return VC_OK;
}

/* Maybe cut a body short, keeping at least nothing and at most all but one byte. */
static void maybe_truncate(fault_store *f, vc_bytes *out)
{
	if (f->options.truncate_rate <= 0 || draw(f) >= f->options.truncate_rate)
		return;
	if (out->len > 0)
		out->len = (size_t)(next_random(f) % out->len);
}

static vc_err fault_get(vc_store *store, const char *path, uint64_t offset, uint64_t length,
			vc_bytes *out)
{
	fault_store *f = fault_of(store);
	vc_err err = inject(f, "reading", path);

	if (err != VC_OK)
		return err;
	err = f->inner->ops->get(f->inner, path, offset, length, out);
	if (err == VC_OK)
		maybe_truncate(f, out);
	return err;
}

static vc_err fault_put(vc_store *store, const char *path, const void *data, size_t length)
{
	fault_store *f = fault_of(store);
	vc_err err = inject(f, "writing", path);

	if (err != VC_OK)
		return err;
	return f->inner->ops->put(f->inner, path, data, length);
}

static vc_err fault_put_new(vc_store *store, const char *path, const void *data, size_t length)
{
	fault_store *f = fault_of(store);
	vc_err err = inject(f, "writing", path);
	uint64_t size;

	if (err != VC_OK)
		return err;
	if (f->inner->ops->put_new != NULL)
		return f->inner->ops->put_new(f->inner, path, data, length);
	/* The same fallback as vc_store_put_new, on the inner ops (the stats are shared). */
	err = f->inner->ops->head(f->inner, path, &size);
	if (err == VC_OK)
		return vc_fail(VC_ERR_EXISTS, "%s already exists", path);
	if (err != VC_ERR_NOT_FOUND)
		return err;
	vc_clear_error();
	return f->inner->ops->put(f->inner, path, data, length);
}

static vc_err fault_head(vc_store *store, const char *path, uint64_t *size)
{
	fault_store *f = fault_of(store);
	vc_err err = inject(f, "inspecting", path);

	if (err != VC_OK)
		return err;
	return f->inner->ops->head(f->inner, path, size);
}

static vc_err fault_remove(vc_store *store, const char *path)
{
	fault_store *f = fault_of(store);
	vc_err err = inject(f, "removing", path);

	if (err != VC_OK)
		return err;
	return f->inner->ops->remove(f->inner, path);
}

static vc_err fault_sweep(vc_store *store, int64_t before, uint64_t *removed)
{
	fault_store *f = fault_of(store);
	vc_err err = inject(f, "sweeping", "unfinished writes");

	if (err != VC_OK || f->inner->ops->sweep == NULL)
		return err;
	return f->inner->ops->sweep(f->inner, before, removed);
}

static vc_err fault_health(vc_store *store)
{
	fault_store *f = fault_of(store);
	vc_err err = inject(f, "checking health of", "the store");

	if (err != VC_OK)
		return err;
	return f->inner->ops->health(f->inner);
}

/* Fetch the objects that escaped an injected failure, in parallel if the inner store can.
 * Leaves the message of the first inner failure for the caller. */
static void fetch_survivors(fault_store *f, size_t count, const char *const *paths, vc_bytes *outs,
			    vc_err *errors, const bool *injected)
{
	char first_message[512] = "";
	vc_bytes *sub_outs = NULL;
	vc_err *sub_errors = NULL;
	const char **subset;
	size_t *index;
	size_t n = 0;
	size_t i;

	subset = calloc(count, sizeof(*subset));
	index = calloc(count, sizeof(*index));
	if (subset == NULL || index == NULL)
		goto one_by_one;
	for (i = 0; i < count; i++) {
		if (!injected[i]) {
			subset[n] = paths[i];
			index[n++] = i;
		}
	}
	if (n > 0 && f->inner->ops->get_many != NULL) {
		sub_outs = calloc(n, sizeof(*sub_outs));
		sub_errors = calloc(n, sizeof(*sub_errors));
		if (sub_outs == NULL || sub_errors == NULL)
			goto one_by_one;
		f->inner->ops->get_many(f->inner, n, subset, sub_outs, sub_errors);
		for (i = 0; i < n; i++) {
			outs[index[i]] = sub_outs[i];
			errors[index[i]] = sub_errors[i];
		}
		goto out;
	}
one_by_one:
	for (i = 0; i < count; i++) {
		if (injected[i])
			continue;
		errors[i] = f->inner->ops->get(f->inner, paths[i], 0, VC_STORE_TO_END, &outs[i]);
		if (errors[i] != VC_OK && first_message[0] == '\0')
			snprintf(first_message, sizeof(first_message), "%s", vc_last_error());
	}
	if (first_message[0] != '\0')
		vc_fail(VC_ERR_IO, "%s", first_message);
out:
	free(sub_errors);
	free(sub_outs);
	free(index);
	free(subset);
}

/* Index of the first failed object, or @p count if none failed. */
static size_t first_failure(size_t count, const vc_err *errors)
{
	size_t i;

	for (i = 0; i < count; i++) {
		if (errors[i] != VC_OK)
			break;
	}
	return i;
}

static vc_err fault_get_many(vc_store *store, size_t count, const char *const *paths,
			     vc_bytes *outs, vc_err *errors)
{
	fault_store *f = fault_of(store);
	bool *injected;
	size_t i;

	injected = calloc(count, sizeof(*injected));
	if (injected == NULL) {
		for (i = 0; i < count; i++)
			errors[i] = VC_ERR_NOMEM;
		return vc_fail(VC_ERR_NOMEM, "out of memory reading %zu objects", count);
	}
	add_latency(f);
	for (i = 0; i < count; i++) {
		injected[i] = f->options.error_rate > 0 && draw(f) < f->options.error_rate;
		errors[i] = injected[i] ? VC_ERR_UNAVAILABLE : VC_OK;
	}
	fetch_survivors(f, count, paths, outs, errors, injected);
	for (i = 0; i < count; i++) {
		if (errors[i] == VC_OK)
			maybe_truncate(f, &outs[i]);
	}
	i = first_failure(count, errors);
	if (i < count && injected[i]) {
		free(injected);
		return vc_fail(VC_ERR_UNAVAILABLE, "injected fault reading %s in store %s",
			       paths[i], f->inner->location);
	}
	free(injected);
	/* The first failure came from the inner store, whose message is still recorded. */
	return i < count ? errors[i] : VC_OK;
}

static void fault_destroy(vc_store *store)
{
	fault_store *f = fault_of(store);

	vc_store_close(f->inner);
	pthread_mutex_destroy(&f->lock);
	free(f->base.location);
	free(f);
}

static const vc_store_ops fault_ops = {
    .get = fault_get,
    .put = fault_put,
    .head = fault_head,
    .remove = fault_remove,
    .health = fault_health,
    .get_many = fault_get_many,
    .destroy = fault_destroy,
    .put_new = fault_put_new,
    .sweep = fault_sweep,
};

vc_err vc_store_fault_wrap(vc_store *inner, const vc_fault_options *options, vc_store **out)
{
	fault_store *f;

	if (inner == NULL || options == NULL || out == NULL)
		return vc_fail(VC_ERR_INVALID, "wrapping a store in faults: missing argument");
	if (!(options->error_rate >= 0 && options->error_rate <= 1) ||
	    !(options->truncate_rate >= 0 && options->truncate_rate <= 1) ||
	    options->latency_ms < 0)
		return vc_fail(VC_ERR_INVALID,
			       "fault rates must lie in [0, 1] and latency must not be negative");
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory wrapping store %s", inner->location);
	if (asprintf(&f->base.location, "%s (with injected faults)", inner->location) < 0) {
		free(f);
		return vc_fail(VC_ERR_NOMEM, "out of memory wrapping store %s", inner->location);
	}
	pthread_mutex_init(&f->lock, NULL);
	f->base.ops = &fault_ops;
	f->base.kind = "fault";
	f->base.stats = inner->stats;
	f->inner = inner;
	f->options = *options;
	f->rng = options->seed;
	*out = &f->base;
	return VC_OK;
}

static vc_err parse_rate(const char *key, const char *value, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(value, &end);
	if (errno != 0 || end == value || *end != '\0' || !(*out >= 0 && *out <= 1))
		return vc_fail(VC_ERR_INVALID, "fault option %s=%s: expected a number in [0, 1]",
			       key, value);
	return VC_OK;
}

static vc_err parse_count(const char *key, const char *value, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || *out > max)
		return vc_fail(VC_ERR_INVALID,
			       "fault option %s=%s: expected a whole number up to %lu", key, value,
			       max);
	return VC_OK;
}

static vc_err parse_item(char *item, vc_fault_options *out)
{
	char *eq = strchr(item, '=');
	unsigned long number;
	const char *value;
	vc_err err;

	if (eq == NULL)
		return vc_fail(VC_ERR_INVALID, "fault option \"%s\" is not of the form key=value",
			       item);
	*eq = '\0';
	value = eq + 1;
	if (strcmp(item, "error_rate") == 0)
		return parse_rate(item, value, &out->error_rate);
	if (strcmp(item, "truncate_rate") == 0)
		return parse_rate(item, value, &out->truncate_rate);
	if (strcmp(item, "latency_ms") == 0) {
		err = parse_count(item, value, 3600000UL, &number);
		out->latency_ms = (long)number;
		return err;
	}
	if (strcmp(item, "seed") == 0) {
		err = parse_count(item, value, 0xffffffffUL, &number);
		out->seed = (unsigned)number;
		return err;
	}
	return vc_fail(VC_ERR_INVALID,
		       "unknown fault option \"%s\" (known: error_rate, truncate_rate, "
		       "latency_ms, seed)",
		       item);
}

vc_err vc_fault_options_parse(const char *spec, vc_fault_options *out)
{
	char *copy;
	char *item;
	char *save = NULL;
	vc_err err = VC_OK;

	if (spec == NULL || out == NULL)
		return vc_fail(VC_ERR_INVALID, "parsing fault options: missing argument");
	memset(out, 0, sizeof(*out));
	copy = strdup(spec);
	if (copy == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory parsing fault options");
	for (item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		err = parse_item(item, out);
		if (err != VC_OK)
			break;
	}
	free(copy);
	if (err != VC_OK)
		memset(out, 0, sizeof(*out));
	return err;
}
