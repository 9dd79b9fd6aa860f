/*
 * `vchunk cat SESSION PATH`: one object's bytes on standard output. manifest.json is printed as
 * stored (it is plaintext; no key needed); every other object is fetched, checked against the
 * manifest, authenticated and decrypted first (chunks print as canonical CBOR).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/error_i.h"

static vc_err cat_manifest(const char *uri)
{
	vc_store *store = NULL;
	vc_bytes raw = {0};
	vc_err err = vc_store_open(uri, NULL, &store);

	if (err == VC_OK)
		err = vc_store_get(store, "manifest.json", &raw);
	if (err == VC_OK)
		err = vc_cli_write_stdout(raw.data, raw.len);
	vc_bytes_free(&raw);
	vc_store_close(store);
	return err;
}

static vc_err cat_object(const char *uri, const vc_cli_keys *keys, const char *path)
{
	vc_session *session = NULL;
	const vc_manifest *manifest;
	vc_bytes plain = {0};
	vc_err err = vc_cli_open(uri, keys, 0, &session);

	if (err != VC_OK)
		return err;
	manifest = vc_session_manifest_get(session);
	if (vc_manifest_find(manifest, path) == NULL)
		err = vc_fail(VC_ERR_NOT_FOUND,
			      "%s: no object %s in the manifest (see `vchunk inspect %s`)", uri,
			      path, uri);
	else
		err = vc_session_read_object(session, manifest, path, &plain);
	if (err == VC_OK)
		err = vc_cli_write_stdout(plain.data, plain.len);
	vc_bytes_free(&plain);
	vc_session_manifest_put(session, manifest);
	vc_session_close(session);
	return err;
}

int vc_cmd_cat(const vc_command *command, int argc, char **argv)
{
	vc_cli_keys keys = {0};
	int status = vc_cli_parse_keyed(command, argc, argv, &keys, 2, "missing SESSION or PATH");
	const char *uri;
	const char *path;
	vc_legacy *legacy = NULL;
	vc_err err;

	if (status != VC_CLI_CONTINUE)
		return status;
	uri = argv[optind];
	path = argv[optind + 1];
	if (vc_cli_legacy_probe(uri, &legacy) != VC_OK)
		return vc_cli_fail();
	if (legacy != NULL) {
		status = vc_cli_legacy_cat(uri, legacy, path);
		vc_legacy_close(legacy);
		return status;
	}
	if (strcmp(path, "manifest.json") == 0) {
		err = cat_manifest(uri);
	} else {
		err = vc_cli_keys_resolve(&keys, false);
		if (err == VC_OK)
			err = cat_object(uri, &keys, path);
	}
	if (err == VC_OK && fflush(stdout) != 0)
		err = vc_fail(VC_ERR_IO, "writing to standard output failed");
	vc_cli_keys_free(&keys);
	return err == VC_OK ? VC_EXIT_OK : vc_cli_fail();
}
