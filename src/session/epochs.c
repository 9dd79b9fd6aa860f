/* The remembered highest epoch of each session: lines "SESSION_ID_HEX EPOCH", rewritten whole
 * (temp file + fsync + rename) under an flock so two processes do not lose each other's lines. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session/epochs.h"
#include "util/error_i.h"

#define LINE_MAX_BYTES 128

vc_err vc_epochs_path(const char *configured, char **out)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char buf[4096];

	*out = NULL;
	if (configured != NULL) {
		if (configured[0] == '\0')
			return VC_OK;
		*out = strdup(configured);
	} else if (state != NULL && state[0] == '/') {
		snprintf(buf, sizeof(buf), "%s/vchunk/epochs", state);
		*out = strdup(buf);
	} else if (home != NULL && home[0] == '/') {
		snprintf(buf, sizeof(buf), "%s/.local/state/vchunk/epochs", home);
		*out = strdup(buf);
	} else {
		return VC_OK; /* nowhere to remember: no check */
	}
	if (*out == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory");
	return VC_OK;
}

/* mkdir -p of the directory holding @p path. */
static void make_parent(const char *path)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0700);
		*p = '/';
	}
}

/* Rewrite @p path with @p text atomically. */
static int write_file(const char *path, const char *text)
{
	char tmp[4200];
	int fd, rc = 0;
	size_t len = strlen(text);

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		rc = -1;
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0)
		rc = rename(tmp, path);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* Read the file into *text (empty when absent) and find @p hex's epoch. */
static int read_file(const char *path, const char *hex, char **text, uint64_t *seen, bool *found)
{
	FILE *f = fopen(path, "r");
	size_t cap = 4096, len = 0;
	char line[LINE_MAX_BYTES];

	*found = false;
	*text = calloc(1, cap);
	if (*text == NULL)
		return -1;
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char id[64];
		uint64_t epoch;

		if (sscanf(line, "%63s %" SCNu64, id, &epoch) != 2)
			continue;
		if (strcmp(id, hex) == 0) {
			*found = true;
			*seen = epoch;
			continue; /* rewritten below with the new value */
		}
		if (len + strlen(line) + 1 >= cap) {
			char *grown = realloc(*text, cap * 2);

			if (grown == NULL) {
				fclose(f);
				return -1;
			}
			*text = grown;
			cap *= 2;
		}
		memcpy(*text + len, line, strlen(line) + 1);
		len += strlen(line);
	}
	fclose(f);
	return 0;
}

static void remember(const char *path, char *rest, const char *hex, uint64_t epoch)
{
	size_t len = strlen(rest);
	char *text = malloc(len + LINE_MAX_BYTES);

	if (text == NULL)
		return;
	snprintf(text, len + LINE_MAX_BYTES, "%s%s %" PRIu64 "\n", rest, hex, epoch);
	if (write_file(path, text) != 0)
		fprintf(stderr, "vchunk: cannot record the epoch in %s: %s\n", path,
			strerror(errno));
	free(text);
}

vc_err vc_epochs_check(const char *path, const uint8_t session_id[VC_SESSION_ID_BYTES],
		       uint64_t epoch, bool allow, const char *uri)
{
	char hex[2 * VC_SESSION_ID_BYTES + 1], lockpath[4200];
	char *rest = NULL;
	uint64_t seen = 0;
	bool found = false;
	vc_err err = VC_OK;
	int lockfd;

	if (path == NULL)
		return VC_OK;
	for (int i = 0; i < VC_SESSION_ID_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", session_id[i]);
	make_parent(path);
	snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
	lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd >= 0)
		flock(lockfd, LOCK_EX);
	if (read_file(path, hex, &rest, &seen, &found) != 0) {
		fprintf(stderr,
			"vchunk: cannot read the epoch record %s: %s (rollback not checked)\n",
			path, strerror(errno));
		goto out;
	}
	if (found && epoch < seen && !allow) {
		err = vc_fail(VC_ERR_AUTH,
			      "rollback: %s is at epoch %" PRIu64 ", but epoch %" PRIu64
			      " was seen before (recorded in %s); storage may be serving an old "
			      "copy. Give --allow-rollback to accept it",
			      uri, epoch, seen, path);
		goto out;
	}
	if (!found || epoch != seen)
		remember(path, rest, hex, epoch);
out:
	free(rest);
	if (lockfd >= 0)
		close(lockfd); /* releases the flock */
	return err;
}
