/*
 * Keys for the commands: options and environment variables, the passphrase prompt (no echo,
 * from the terminal), and opening a session with messages that say which key was expected.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "format/keyring.h"
#include "format/manifest_codec.h"
#include "util/error_i.h"

#define PASSPHRASE_MAX 1024

/* Read one line from the terminal with echo off into @p buf (sodium memory). */
static vc_err prompt_line(int tty, const char *prompt, char *buf, size_t size)
{
	struct termios saved;
	struct termios quiet;
	bool restore = false;
	size_t len = 0;
	vc_err err = VC_OK;

	if (tcgetattr(tty, &saved) == 0) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		quiet.c_lflag |= ECHONL;
		restore = tcsetattr(tty, TCSANOW, &quiet) == 0;
	}
	if (write(tty, prompt, strlen(prompt)) < 0)
		err = vc_fail(VC_ERR_IO, "writing the passphrase prompt: %s", strerror(errno));
	while (err == VC_OK) {
		char c;
		ssize_t n = read(tty, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n')
			break;
		if (len + 1 >= size) {
			err = vc_fail(VC_ERR_TOO_BIG, "passphrase longer than %d bytes",
				      PASSPHRASE_MAX - 1);
			break;
		}
		buf[len++] = c;
	}
	buf[len] = '\0';
	if (restore)
		tcsetattr(tty, TCSANOW, &saved);
	return err;
}

static vc_err prompt_passphrase(bool confirm, char *buf)
{
	char *again = NULL;
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	vc_err err;

	if (tty < 0)
		return vc_fail(
		    VC_ERR_PERMISSION,
		    "--passphrase needs a terminal to ask on; set VCHUNK_PASSPHRASE instead");
	err = prompt_line(tty, "Passphrase: ", buf, PASSPHRASE_MAX);
	if (err == VC_OK && buf[0] == '\0')
		err = vc_fail(VC_ERR_INVALID, "empty passphrase");
	if (err == VC_OK && confirm) {
		again = sodium_malloc(PASSPHRASE_MAX);
		if (again == NULL)
			err = vc_fail(VC_ERR_NOMEM, "out of memory for the passphrase");
		if (err == VC_OK)
			err = prompt_line(tty, "Repeat passphrase: ", again, PASSPHRASE_MAX);
		if (err == VC_OK && strcmp(buf, again) != 0)
			err = vc_fail(VC_ERR_INVALID, "the passphrases do not match");
		sodium_free(again);
	}
	close(tty);
	return err;
}

vc_err vc_cli_keys_resolve(vc_cli_keys *keys, bool confirm)
{
	const char *env_key = getenv("VCHUNK_KEY_FILE");
	const char *env_pass = getenv("VCHUNK_PASSPHRASE");
	bool use_passphrase;
	vc_err err;

	if (keys->no_encryption)
		return VC_OK;
	if (keys->key_file == NULL && !keys->ask_passphrase && env_key != NULL && env_key[0])
		keys->key_file = env_key;
	use_passphrase = keys->ask_passphrase ||
			 (keys->key_file == NULL && env_pass != NULL && env_pass[0] != '\0');
	if (!use_passphrase)
		return VC_OK;
	if (sodium_init() < 0)
		return vc_fail(VC_ERR_NOMEM, "libsodium failed to initialise");
	keys->passphrase = sodium_malloc(PASSPHRASE_MAX);
	if (keys->passphrase == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory for the passphrase");
	if (env_pass != NULL && env_pass[0] != '\0') {
		if (strlen(env_pass) >= PASSPHRASE_MAX)
			return vc_fail(VC_ERR_TOO_BIG, "VCHUNK_PASSPHRASE is longer than %d bytes",
				       PASSPHRASE_MAX - 1);
		strcpy(keys->passphrase, env_pass);
		return VC_OK;
	}
	err = prompt_passphrase(confirm, keys->passphrase);
	return err;
}

void vc_cli_keys_free(vc_cli_keys *keys)
{
	if (keys->passphrase != NULL)
		sodium_free(keys->passphrase); /* wipes before freeing */
	keys->passphrase = NULL;
}

/* Key id of the session at @p uri, read from its plaintext manifest; false if unavailable. */
static bool session_key_id(const char *uri, char hex[2 * VC_KEY_ID_BYTES + 1])
{
	vc_store *store = NULL;
	vc_manifest *manifest = NULL;
	vc_bytes raw = {0};
	bool found = false;

	if (vc_store_open(uri, NULL, &store) == VC_OK &&
	    vc_store_get(store, "manifest.json", &raw) == VC_OK &&
	    vc_manifest_parse((const char *)raw.data, raw.len, &manifest) == VC_OK &&
	    manifest->encryption.enabled) {
		vc_key_id_hex(manifest->encryption.key_id, hex);
		found = true;
	}
	vc_manifest_free(manifest);
	vc_bytes_free(&raw);
	vc_store_close(store);
	return found;
}

/* Add the key ids to a wrong-key message unless the library already named them. */
static vc_err explain_wrong_key(const char *uri, const vc_cli_keys *keys, vc_err err)
{
	char expected[2 * VC_KEY_ID_BYTES + 1];
	char given[2 * VC_KEY_ID_BYTES + 1] = "";
	char message[1024];
	vc_keyring *keyring = NULL;

	snprintf(message, sizeof(message), "%s", vc_last_error());
	if (!session_key_id(uri, expected))
		return vc_fail(err, "%s", message);
	if (keys->key_file != NULL && vc_keyring_from_file(keys->key_file, &keyring) == VC_OK)
		vc_key_id_hex(keyring->key_id, given);
	vc_keyring_free(keyring);
	if (strstr(message, expected) != NULL)
		return vc_fail(err, "%s", message);
	if (given[0] != '\0')
		return vc_fail(err, "%s (the session's key id is %s; the key given has id %s)",
			       message, expected, given);
	return vc_fail(err, "%s (the session's key id is %s)", message, expected);
}

bool vc_cli_allow_rollback;

vc_err vc_cli_open(const char *uri, const vc_cli_keys *keys, size_t cache_bytes, vc_session **out)
{
	vc_open_options options = {0};
	vc_err err;

	options.allow_rollback = vc_cli_allow_rollback;
	options.key_file = keys->key_file;
	options.passphrase = keys->passphrase;
	options.cache_bytes = cache_bytes;
	err = vc_session_open(uri, &options, out);
	if (err == VC_ERR_AUTH && strncmp(vc_last_error(), "rollback", 8) == 0)
		return err;
	if (err == VC_ERR_AUTH && (keys->key_file != NULL || keys->passphrase != NULL))
		return explain_wrong_key(uri, keys, err);
	if (err == VC_ERR_PERMISSION && keys->key_file == NULL && keys->passphrase == NULL) {
		char key_id[2 * VC_KEY_ID_BYTES + 1];

		/* a 401/403 from the backend is a permission error too: keep its message */
		if (session_key_id(uri, key_id))
			return vc_fail(
			    err,
			    "%s is encrypted (key id %s): give its key with --key FILE or "
			    "VCHUNK_KEY_FILE, or --passphrase / VCHUNK_PASSPHRASE",
			    uri, key_id);
	}
	return err;
}

vc_err vc_cli_write_stdout(const void *data, size_t len)
{
	if (len > 0 && fwrite(data, 1, len, stdout) != len)
		return vc_fail(VC_ERR_IO, "writing to standard output: %s", strerror(errno));
	return VC_OK;
}
