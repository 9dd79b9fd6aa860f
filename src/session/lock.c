/* The one-writer-per-session lock: an object named "lock" in the session, created by the writer
 * that begins a transaction and removed at commit or abort; a holder that died is detected. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "format/envelope.h"
#include "session/txn_i.h"
#include "util/error_i.h"

#define LOCK_PATH "lock"

static char *lock_token(void)
{
	char host[256] = "unknown";
	uint8_t nonce[8];
	char hex[17];
	json_t *obj;
	char *text;

	gethostname(host, sizeof(host) - 1);
	vc_random_bytes(nonce, sizeof(nonce));
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", nonce[i]);
	obj = json_pack("{s:s, s:I, s:I, s:s}", "host", host, "pid", (json_int_t)getpid(), "time",
			(json_int_t)time(NULL), "nonce", hex);
	if (obj == NULL)
		return NULL;
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return text;
}

/* Is the holder described by @p obj gone (dead pid here, or past the lease)? */
/*
 * Is @p pid a running process? A killed writer nobody has reaped yet is a zombie: kill(pid, 0)
 * still succeeds for it, so look at its state in /proc as well.
 */
static bool process_alive(pid_t pid)
{
	char path[64], line[512];
	const char *state;
	FILE *f;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return true; /* no /proc: trust kill() */
	state = NULL;
	if (fgets(line, sizeof(line), f) != NULL) {
		/* "pid (comm) S ...": the state follows the last ')' (comm may hold any byte). */
		state = strrchr(line, ')');
	}
	fclose(f);
	return state == NULL || state[1] != ' ' || state[2] != 'Z';
}

static bool lock_stale(json_t *obj, const char **why)
{
	char host[256] = "";
	const char *holder = json_string_value(json_object_get(obj, "host"));
	json_int_t pid = json_integer_value(json_object_get(obj, "pid"));
	json_int_t since = json_integer_value(json_object_get(obj, "time"));
	const char *lease = getenv("VCHUNK_LOCK_LEASE");
	long lease_s = lease != NULL ? atol(lease) : VC_LOCK_LEASE_SECONDS;

	gethostname(host, sizeof(host) - 1);
	if (holder != NULL && strcmp(holder, host) == 0 && pid > 0 && !process_alive((pid_t)pid)) {
		*why = "its process is gone";
		return true;
	}
	if (lease_s > 0 && since > 0 && time(NULL) - since > lease_s) {
		*why = "it is older than the lease";
		return true;
	}
	return false;
}

/* The current holder, or VC_ERR_NOT_FOUND when there is no lock. */
static vc_err read_lock(vc_store *store, json_t **obj, char **text)
{
	vc_bytes got = {0};
	vc_err err = vc_store_get(store, LOCK_PATH, &got);

	*obj = NULL;
	*text = NULL;
	if (err != VC_OK)
		return err;
	*text = strndup((const char *)got.data, got.len);
	vc_bytes_free(&got);
	if (*text == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory reading the session lock");
	*obj = json_loads(*text, 0, NULL);
	if (*obj == NULL)
		*obj = json_object(); /* unreadable: treated as a holder of unknown age */
	return VC_OK;
}

static vc_err busy(const char *uri, json_t *obj)
{
	time_t since = (time_t)json_integer_value(json_object_get(obj, "time"));
	const char *host = json_string_value(json_object_get(obj, "host"));
	char when[64] = "an unknown time";
	struct tm tm;

	if (since > 0 && gmtime_r(&since, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return vc_fail(VC_ERR_BUSY,
		       "session %s is locked by pid %lld on %s since %s (another writer); try "
		       "again when it is done",
		       uri, (long long)json_integer_value(json_object_get(obj, "pid")),
		       host != NULL ? host : "an unknown host", when);
}

vc_err vc_lock_acquire(vc_store *store, const char *uri, char **token)
{
	json_t *obj = NULL;
	char *held = NULL;
	const char *why = NULL;
	vc_err err;

	*token = lock_token();
	if (*token == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory taking the session lock");
	err = read_lock(store, &obj, &held);
	if (err == VC_OK && !lock_stale(obj, &why)) {
		err = busy(uri, obj);
		goto fail;
	}
	if (err == VC_OK) {
		fprintf(stderr, "vchunk: breaking the stale writer lock of %s (%s): %s\n", uri, why,
			held);
		vc_store_remove(store, LOCK_PATH);
	} else if (err != VC_ERR_NOT_FOUND) {
		vc_fail_context(err, "reading the writer lock of %s", uri);
		goto fail;
	}
	json_decref(obj);
	free(held);
	obj = NULL;
	held = NULL;
	/* Created only if absent (atomically where the backend can): of two writers, one wins. */
	err = vc_store_put_new(store, LOCK_PATH, *token, strlen(*token));
	if (err == VC_ERR_EXISTS && read_lock(store, &obj, &held) == VC_OK) {
		err = busy(uri, obj);
		goto fail;
	}
	if (err != VC_OK) {
		vc_fail_context(err, "writing the writer lock of %s", uri);
		goto fail;
	}
	/* Without an atomic create (S5) two writers may both have put; the last put wins and the
	 * other sees it here. */
	err = read_lock(store, &obj, &held);
	if (err == VC_OK && strcmp(held, *token) != 0)
		err = busy(uri, obj);
	else if (err != VC_OK)
		vc_fail_context(err, "reading back the writer lock of %s", uri);
	if (err != VC_OK)
		goto fail;
	json_decref(obj);
	free(held);
	return VC_OK;
fail:
	json_decref(obj);
	free(held);
	free(*token);
	*token = NULL;
	return err;
}

void vc_lock_release(vc_store *store, char *token)
{
	json_t *obj = NULL;
	char *held = NULL;

	if (token == NULL)
		return;
	if (read_lock(store, &obj, &held) == VC_OK && strcmp(held, token) == 0)
		vc_store_remove(store, LOCK_PATH);
	json_decref(obj);
	free(held);
	free(token);
}
