/*
 * `vchunk inspect`: describe a session from its manifest. The manifest is plaintext, so no key
 * is needed; with a key the session is opened for real, which checks the manifest's MAC.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "format/keyring.h"
#include "format/manifest_codec.h"
#include "util/error_i.h"

typedef enum mac_state { MAC_NONE, MAC_UNCHECKED, MAC_VERIFIED } mac_state;

static const char *const mac_text[] = {
    [MAC_NONE] = "none (plaintext session)",
    [MAC_UNCHECKED] = "not checked (no key given)",
    [MAC_VERIFIED] = "verified with the given key",
};

static const char *const mac_word[] = {
    [MAC_NONE] = "none",
    [MAC_UNCHECKED] = "unchecked",
    [MAC_VERIFIED] = "verified",
};

static void format_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
}

static void encryption_text(const vc_encryption_info *enc, char *buf, size_t size)
{
	char key_id[2 * VC_KEY_ID_BYTES + 1];

	if (!enc->enabled) {
		snprintf(buf, size, "off");
		return;
	}
	vc_key_id_hex(enc->key_id, key_id);
	if (strcmp(enc->kdf, "none") == 0)
		snprintf(buf, size, "XChaCha20-Poly1305, key file, key id %s", key_id);
	else
		snprintf(buf, size,
			 "XChaCha20-Poly1305, passphrase (%s, opslimit %llu, memlimit %llu MiB), "
			 "key id %s",
			 enc->kdf, (unsigned long long)enc->opslimit,
			 (unsigned long long)(enc->memlimit >> 20), key_id);
}

static void print_text(const char *uri, const vc_manifest *m, mac_state mac)
{
	vc_row_counts rows = vc_manifest_row_counts(m);
	char buf[256];
	char created[64];
	char committed[64];
	uint64_t stored = 0;
	uint64_t plain = 0;

	for (size_t i = 0; i < m->chunk_count; i++) {
		stored += m->chunks[i].object.byte_size;
		plain += m->chunks[i].object.plain_size;
	}
	vc_cli_hex(m->session_id, VC_SESSION_ID_BYTES, buf);
	format_time(m->created_at, created, sizeof(created));
	format_time(m->committed_at, committed, sizeof(committed));
	printf("session     %s\n", uri);
	printf("format      %s %u (layout version %u)\n", VC_FORMAT_NAME, m->format_version,
	       m->version);
	printf("session id  %s\n", buf);
	printf("epoch       %llu\n", (unsigned long long)m->epoch);
	printf("dimension   %u\n", m->dim);
	printf("metric      %s\n", vc_metric_name(m->metric));
	printf("vectors     %llu", (unsigned long long)m->total_vectors);
	if (rows.deleted > 0 || rows.recent > 0)
		printf(" live; %llu deleted rows still stored, %llu rows in the recent tier",
		       (unsigned long long)rows.deleted, (unsigned long long)rows.recent);
	printf("\n");
	printf("chunk size  %u vectors\n", m->chunk_size);
	printf("chunks      %zu, %llu bytes stored, %llu bytes plaintext\n", m->chunk_count,
	       (unsigned long long)stored, (unsigned long long)plain);
	for (size_t i = 0; i < m->chunk_count; i++) {
		const vc_chunk_ref *c = &m->chunks[i];

		printf("  %-26s %8u vectors %12llu bytes stored %12llu plaintext %5u frames\n",
		       c->object.path, c->vector_count, (unsigned long long)c->object.byte_size,
		       (unsigned long long)c->object.plain_size, c->object.frame_count);
	}
	printf("objects     %zu\n", m->object_count);
	for (size_t i = 0; i < m->object_count; i++)
		printf("  %-26s %12llu bytes stored %12llu plaintext\n", m->objects[i].path,
		       (unsigned long long)m->objects[i].byte_size,
		       (unsigned long long)m->objects[i].plain_size);
	encryption_text(&m->encryption, buf, sizeof(buf));
	printf("encryption  %s\n", buf);
	printf("created     %s\n", created);
	printf("committed   %s\n", committed);
	printf("MAC         %s\n", mac_text[mac]);
}

static json_t *object_json(const vc_object_ref *o)
{
	char hash[2 * VC_HASH_BYTES + 1];

	vc_cli_hex(o->hash, VC_HASH_BYTES, hash);
	return json_pack("{s:s, s:I, s:I, s:i, s:s}", "path", o->path, "byte_size",
			 (json_int_t)o->byte_size, "plain_size", (json_int_t)o->plain_size,
			 "frames", (int)o->frame_count, "hash", hash);
}

static json_t *summary_json(const char *uri, const vc_manifest *m, mac_state mac)
{
	char session_id[2 * VC_SESSION_ID_BYTES + 1];
	char key_id[2 * VC_KEY_ID_BYTES + 1];
	char created[64];
	char committed[64];
	json_t *chunks = json_array();
	json_t *objects = json_array();
	vc_row_counts rows = vc_manifest_row_counts(m);
	json_t *enc, *summary;

	vc_cli_hex(m->session_id, VC_SESSION_ID_BYTES, session_id);
	vc_key_id_hex(m->encryption.key_id, key_id);
	format_time(m->created_at, created, sizeof(created));
	format_time(m->committed_at, committed, sizeof(committed));
	for (size_t i = 0; i < m->chunk_count; i++) {
		json_t *c = object_json(&m->chunks[i].object);

		json_object_set_new(c, "chunk_id", json_integer(m->chunks[i].chunk_id));
		json_object_set_new(c, "vector_count", json_integer(m->chunks[i].vector_count));
		json_array_append_new(chunks, c);
	}
	for (size_t i = 0; i < m->object_count; i++)
		json_array_append_new(objects, object_json(&m->objects[i]));
	if (m->encryption.enabled)
		enc = json_pack("{s:b, s:s, s:s, s:s}", "enabled", 1, "algorithm",
				"xchacha20poly1305", "kdf", m->encryption.kdf, "key_id", key_id);
	else
		enc = json_pack("{s:b}", "enabled", 0);
	summary = json_pack(
	    "{s:s, s:s, s:i, s:i, s:s, s:I, s:i, s:s, s:I, s:i, s:o, s:o, s:o, s:s, "
	    "s:s, s:s}",
	    "session", uri, "format", VC_FORMAT_NAME, "format_version", (int)m->format_version,
	    "version", (int)m->version, "session_id", session_id, "epoch", (json_int_t)m->epoch,
	    "dim", (int)m->dim, "metric", vc_metric_name(m->metric), "total_vectors",
	    (json_int_t)m->total_vectors, "chunk_size", (int)m->chunk_size, "chunks", chunks,
	    "objects", objects, "encryption", enc, "created_at", created, "committed_at", committed,
	    "mac", mac_word[mac]);
	json_object_set_new(summary, "deleted_rows", json_integer((json_int_t)rows.deleted));
	json_object_set_new(summary, "recent_rows", json_integer((json_int_t)rows.recent));
	return summary;
}

/* The manifest as stored, parsed without a key. */
static vc_err read_manifest(const char *uri, vc_manifest **out)
{
	vc_store *store = NULL;
	vc_bytes raw = {0};
	vc_err err = vc_store_open(uri, NULL, &store);

	if (err == VC_OK)
		err = vc_store_get(store, "manifest.json", &raw);
	if (err == VC_OK)
		err = vc_manifest_parse((const char *)raw.data, raw.len, out);
	if (err != VC_OK)
		vc_fail_context(err, "%s: manifest.json", uri);
	vc_bytes_free(&raw);
	vc_store_close(store);
	return err;
}

static int inspect_parse(const vc_command *command, int argc, char **argv, vc_cli_keys *keys,
			 bool *as_json)
{
	static const struct option options[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"key", required_argument, NULL, 'K'},
	    {"passphrase", no_argument, NULL, VC_CLI_OPT_PASSPHRASE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};

	for (;;) {
		int opt = getopt_long(argc, argv, ":jK:h", options, NULL);

		if (opt == -1)
			break;
		switch (opt) {
		case 'j': *as_json = true; break;
		case 'K': keys->key_file = optarg; break;
		case VC_CLI_OPT_PASSPHRASE: keys->ask_passphrase = true; break;
		case 'h': return vc_cli_help(command);
		default: return vc_cli_bad_option(command, opt, argv);
		}
	}
	if (argc - optind != 1)
		return vc_cli_usage_error(command, argc - optind < 1 ? "missing SESSION"
								     : "too many arguments");
	return VC_CLI_CONTINUE;
}

int vc_cmd_inspect(const vc_command *command, int argc, char **argv)
{
	vc_cli_keys keys = {0};
	bool as_json = false;
	int status = inspect_parse(command, argc, argv, &keys, &as_json);
	const char *uri;
	vc_manifest *stored = NULL;
	vc_session *session = NULL;
	const vc_manifest *shown;
	vc_legacy *legacy = NULL;
	mac_state mac;

	if (status != VC_CLI_CONTINUE)
		return status;
	uri = argv[optind];
	if (vc_cli_legacy_probe(uri, &legacy) != VC_OK)
		return vc_cli_fail();
	if (legacy != NULL) {
		status = vc_cli_legacy_inspect(uri, legacy, as_json);
		vc_legacy_close(legacy);
		return status;
	}
	if (read_manifest(uri, &stored) != VC_OK)
		return vc_cli_fail();
	shown = stored;
	mac = stored->encryption.enabled ? MAC_UNCHECKED : MAC_NONE;
	if (stored->encryption.enabled) {
		if (vc_cli_keys_resolve(&keys, false) != VC_OK) {
			status = vc_cli_fail();
			goto out;
		}
		if (keys.key_file != NULL || keys.passphrase != NULL) {
			if (vc_cli_open(uri, &keys, 0, &session) != VC_OK) {
				status = vc_cli_fail();
				goto out;
			}
			shown = vc_session_manifest_get(session);
			mac = MAC_VERIFIED;
		}
	}
	if (as_json) {
		json_t *summary = summary_json(uri, shown, mac);

		status =
		    json_dumpf(summary, stdout, JSON_INDENT(2)) == 0 ? VC_EXIT_OK : VC_EXIT_ERROR;
		putchar('\n');
		json_decref(summary);
	} else {
		print_text(uri, shown, mac);
		status = VC_EXIT_OK;
	}
	if (session != NULL)
		vc_session_manifest_put(session, shown);
out:
	vc_session_close(session);
	vc_manifest_free(stored);
	vc_cli_keys_free(&keys);
	return status;
}
