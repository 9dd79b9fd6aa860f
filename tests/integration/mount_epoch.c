/* Test helper for the mount tests: commit a new, authenticated epoch of a session's manifest
 * without touching its chunks, so a mounted session can be seen to follow it.
 *
 *   mount_epoch SESSION KEY_FILE drop CHUNK_ID       next epoch without that chunk
 *   mount_epoch SESSION KEY_FILE republish OLD.json  next epoch with the chunks of an older
 *                                                    manifest.json of the same session
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/keyring.h"
#include "format/manifest_codec.h"
#include "vchunk/vchunk.h"

static int die(const char *what)
{
	fprintf(stderr, "mount_epoch: %s: %s\n", what, vc_last_error());
	return 1;
}

/* Parse manifest JSON after checking its MAC with @p keyring. */
static vc_err load_manifest(const vc_bytes *json, const vc_keyring *keyring, vc_manifest **out)
{
	vc_err err = vc_manifest_check_mac((const char *)json->data, json->len, keyring);

	if (err != VC_OK)
		return err;
	return vc_manifest_parse((const char *)json->data, json->len, out);
}

static vc_err read_file(const char *path, vc_bytes *out)
{
	FILE *file = fopen(path, "rb");
	char buf[65536];
	size_t n;
	vc_err err = VC_OK;

	if (file == NULL)
		return VC_ERR_NOT_FOUND;
	while (err == VC_OK && (n = fread(buf, 1, sizeof(buf), file)) > 0)
		err = vc_bytes_append(out, buf, n);
	fclose(file);
	return err;
}

/* Remove the chunk with id @p chunk_id from @p manifest, keeping the totals consistent. */
static int drop_chunk(vc_manifest *manifest, unsigned long chunk_id)
{
	for (size_t i = 0; i < manifest->chunk_count; i++) {
		vc_chunk_ref *ref = &manifest->chunks[i];

		if (ref->chunk_id != chunk_id)
			continue;
		manifest->total_vectors -= ref->vector_count;
		free(ref->object.path);
		free(ref->cid);
		memmove(ref, ref + 1, (manifest->chunk_count - i - 1) * sizeof(*ref));
		manifest->chunk_count--;
		return 0;
	}
	fprintf(stderr, "mount_epoch: no chunk %lu in the manifest\n", chunk_id);
	return 1;
}

int main(int argc, char *argv[])
{
	vc_store *store = NULL;
	vc_keyring *keyring = NULL;
	vc_manifest *current = NULL, *next = NULL;
	vc_bytes json = {0}, out = {0};
	int rc = 1;

	if (argc != 5 || (strcmp(argv[3], "drop") != 0 && strcmp(argv[3], "republish") != 0)) {
		fprintf(stderr, "usage: mount_epoch SESSION KEY_FILE drop CHUNK_ID | "
				"republish OLD_MANIFEST\n");
		return 2;
	}
	if (vc_store_open(argv[1], NULL, &store) != VC_OK)
		return die(argv[1]);
	if (vc_keyring_from_file(argv[2], &keyring) != VC_OK) {
		rc = die(argv[2]);
		goto out;
	}
	if (vc_store_get(store, "manifest.json", &json) != VC_OK ||
	    load_manifest(&json, keyring, &current) != VC_OK) {
		rc = die("manifest.json");
		goto out;
	}
	if (strcmp(argv[3], "drop") == 0) {
		if (vc_manifest_clone(current, &next) != VC_OK) {
			rc = die("clone");
			goto out;
		}
		if (drop_chunk(next, strtoul(argv[4], NULL, 10)) != 0)
			goto out;
	} else {
		vc_bytes_free(&json);
		if (read_file(argv[4], &json) != VC_OK ||
		    load_manifest(&json, keyring, &next) != VC_OK) {
			rc = die(argv[4]);
			goto out;
		}
	}
	next->epoch = current->epoch + 1;
	next->committed_at = (int64_t)time(NULL);
	if (vc_manifest_validate(next) != VC_OK ||
	    vc_manifest_serialize(next, keyring, &out) != VC_OK ||
	    vc_store_put(store, "manifest.json", out.data, out.len) != VC_OK) {
		rc = die("writing the new epoch");
		goto out;
	}
	printf("epoch %llu: %zu chunks\n", (unsigned long long)next->epoch, next->chunk_count);
	rc = 0;
out:
	vc_bytes_free(&out);
	vc_bytes_free(&json);
	vc_manifest_free(next);
	vc_manifest_free(current);
	vc_keyring_free(keyring);
	vc_store_close(store);
	return rc;
}
