/* `vchunk keygen FILE`: write a new random key file and show its key id (never the key). */
#include <stdio.h>

#include "cli/cli.h"
#include "format/keyring.h"

int vc_cmd_keygen(const vc_command *command, int argc, char **argv)
{
	static const struct option options[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char key_id[2 * VC_KEY_ID_BYTES + 1] = "";
	vc_keyring *keyring = NULL;

	for (;;) {
		int opt = getopt_long(argc, argv, ":h", options, NULL);

		if (opt == -1)
			break;
		if (opt == 'h')
			return vc_cli_help(command);
		return vc_cli_bad_option(command, opt, argv);
	}
	if (argc - optind != 1)
		return vc_cli_usage_error(command, argc - optind < 1 ? "missing FILE"
								     : "too many arguments");
	if (vc_key_generate_file(argv[optind]) != VC_OK)
		return vc_cli_fail();
	if (vc_keyring_from_file(argv[optind], &keyring) == VC_OK)
		vc_key_id_hex(keyring->key_id, key_id);
	vc_keyring_free(keyring);
	if (key_id[0] != '\0')
		printf("wrote a new key to %s (key id %s)\n", argv[optind], key_id);
	else
		printf("wrote a new key to %s\n", argv[optind]);
	printf("keep it safe: without it the sessions it encrypts cannot be read\n");
	return VC_EXIT_OK;
}
