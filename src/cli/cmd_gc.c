/* `vchunk gc`: delete objects no manifest still in use refers to (older epochs past the grace
 * period, leftovers of failed commits). */
#include <stdio.h>

#include "cli/cli.h"
#include "vchunk/txn.h"

int vc_cmd_gc(const vc_command *command, int argc, char **argv)
{
	static const struct option options[] = {
	    {"key", required_argument, NULL, 'K'},
	    {"passphrase", no_argument, NULL, VC_CLI_OPT_PASSPHRASE},
	    {"grace", required_argument, NULL, 'g'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long grace = 3600;
	vc_cli_keys keys = {0};
	vc_session *session = NULL;
	uint64_t removed = 0;
	int status;

	for (;;) {
		int opt = getopt_long(argc, argv, ":K:h", options, NULL);

		if (opt == -1)
			break;
		switch (opt) {
		case 'K': keys.key_file = optarg; break;
		case VC_CLI_OPT_PASSPHRASE: keys.ask_passphrase = true; break;
		case 'g':
			if (!vc_cli_parse_uint(optarg, 0, 100ull * 365 * 86400, &grace))
				return vc_cli_usage_error(
				    command,
				    "--grace must be a number of seconds, not "
				    "'%s'",
				    optarg);
			break;
		case 'h': return vc_cli_help(command);
		default: return vc_cli_bad_option(command, opt, argv);
		}
	}
	if (argc - optind != 1)
		return vc_cli_usage_error(command, argc - optind < 1 ? "missing SESSION"
								     : "too many arguments");
	status = VC_EXIT_ERROR;
	if (vc_cli_keys_resolve(&keys, false) != VC_OK ||
	    vc_cli_open(argv[optind], &keys, 0, &session) != VC_OK ||
	    vc_session_gc(session, grace, &removed) != VC_OK)
		goto out;
	printf("removed %llu objects\n", (unsigned long long)removed);
	status = VC_EXIT_OK;
out:
	if (status != VC_EXIT_OK)
		vc_cli_fail();
	vc_session_close(session);
	vc_cli_keys_free(&keys);
	return status;
}
