/* Where a manifest's index objects are: "index/NAME.bin" as imported, "index/NAME-E.bin" (E the
 * epoch) once a compaction rebuilt them, so no object of an older epoch is ever overwritten. */
#include <stdio.h>
#include <string.h>

#include "session/session_i.h"

/* Does @p path equal PREFIX + [DIGITS + SEP] + SUFFIX (the digits, when present, non-empty)? */
static bool tagged_match(const char *path, const char *prefix, const char *sep, const char *suffix,
			 bool tag_first)
{
	size_t pl = strlen(prefix), sl = strlen(suffix), el = strlen(sep), len = strlen(path);
	const char *mid;
	size_t ml, digits = 0;

	if (len < pl + sl || strncmp(path, prefix, pl) != 0 || strcmp(path + len - sl, suffix) != 0)
		return false;
	mid = path + pl;
	ml = len - pl - sl;
	if (ml == 0)
		return true;
	if (tag_first) { /* "E-" before the suffix's own name: mid is "E-" */
		while (digits < ml && mid[digits] >= '0' && mid[digits] <= '9')
			digits++;
		return digits > 0 && ml == digits + el && strncmp(mid + digits, sep, el) == 0;
	}
	/* "-E" after the name: mid is "-E" */
	if (ml <= el || strncmp(mid, sep, el) != 0)
		return false;
	for (size_t i = el; i < ml; i++)
		if (mid[i] < '0' || mid[i] > '9')
			return false;
	return true;
}

void vc_index_object_path(const vc_manifest *m, const char *name, char *buf, size_t size)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "index/%s", name);
	for (size_t i = 0; i < m->object_count; i++) {
		if (tagged_match(m->objects[i].path, prefix, "-", ".bin", false)) {
			snprintf(buf, size, "%s", m->objects[i].path);
			return;
		}
	}
	snprintf(buf, size, "index/%s.bin", name);
}

void vc_id_shard_path_of(const vc_manifest *m, uint32_t shard, char *buf, size_t size)
{
	char suffix[16];

	snprintf(suffix, sizeof(suffix), "%02x.bin", shard);
	for (size_t i = 0; i < m->object_count; i++) {
		if (tagged_match(m->objects[i].path, "index/ids/", "-", suffix, true)) {
			snprintf(buf, size, "%s", m->objects[i].path);
			return;
		}
	}
	vc_id_shard_path(shard, buf, size);
}

void vc_index_object_path_tagged(uint64_t epoch, const char *name, char *buf, size_t size)
{
	if (epoch == 0)
		snprintf(buf, size, "index/%s.bin", name);
	else
		snprintf(buf, size, "index/%s-%llu.bin", name, (unsigned long long)epoch);
}

void vc_id_shard_path_tagged(uint64_t epoch, uint32_t shard, char *buf, size_t size)
{
	if (epoch == 0)
		vc_id_shard_path(shard, buf, size);
	else
		snprintf(buf, size, "index/ids/%llu-%02x.bin", (unsigned long long)epoch, shard);
}
