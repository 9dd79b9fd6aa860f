/* vchunk: the command-line tool over libvchunk. Dispatches to one file per command family. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char key_help[] =
    "  -K, --key FILE       32-byte key file (default: $VCHUNK_KEY_FILE)\n"
    "      --passphrase     use a passphrase: $VCHUNK_PASSPHRASE, else asked on the terminal\n";

static const vc_command commands[] = {
    {"keygen", "write a new random 32-byte key file (mode 0600)", "vchunk keygen FILE",
     "Writes a new key. Keep it safe: without it an encrypted session cannot be read.\n",
     vc_cmd_keygen},
    {"import", "create a session from a .jsonl, .csv, .fvecs or .npy file",
     "vchunk import [--key FILE | --passphrase | --no-encryption] [--chunk-size N] "
     "[--metric cosine|l2|dot] [--index auto|flat|ivf|hnsw] [--nlist N] INPUT SESSION",
     "Creates a new session at SESSION (a directory, dir:PATH or s5+http://HOST:PORT/PATH)\n"
     "from INPUT, chosen by extension:\n"
     "  .jsonl  one {\"id\": \"...\", \"vector\": [...], \"metadata\": {...}} per line\n"
     "          (metadata optional; an integer id is taken as its decimal text)\n"
     "  .csv    id,value,value,... per line; the first line is a header only when its\n"
     "          second field is not a number; the id may be \"quoted\"\n"
     "  .fvecs  int32 dimension + float32 values per row, little-endian; ids are row numbers\n"
     "  .npy    2-D little-endian float32 array in C order; ids are row numbers\n"
     "Encryption is on by default and needs a key (see `vchunk keygen`).\n"
     "  -K, --key FILE       encrypt with this key file (default: $VCHUNK_KEY_FILE)\n"
     "      --passphrase     encrypt with a passphrase (Argon2id): $VCHUNK_PASSPHRASE, else\n"
     "                       asked twice on the terminal\n"
     "      --no-encryption  store plaintext (public data, debugging)\n"
     "  -c, --chunk-size N   vectors per chunk (default 10000)\n"
     "  -m, --metric NAME    cosine (default), l2 or dot\n"
     "      --index KIND     auto (default: flat below 20000 vectors, ivf from there),\n"
     "                       flat (exact search only), ivf (clustered chunks + lists) or\n"
     "                       hnsw (a graph over every vector, held in memory when queried)\n"
     "      --nlist N        IVF lists (default about sqrt(vectors))\n",
     vc_cmd_import},
    {"add", "add the vectors of a .jsonl, .csv, .fvecs or .npy file to a session (one commit)",
     "vchunk add [--key FILE | --passphrase] SESSION INPUT",
     "INPUT as for import. Ids must not be live in the session (a deleted id may be added\n"
     "again). Prints \"committed epoch N: +A added, -D deleted\", and on stderr a note\n"
     "suggesting `vchunk compact` once the rows added since the index was built are a\n"
     "quarter of the session (and at least 1000).\n",
     vc_cmd_add},
    {"delete", "delete vectors by id or by metadata filter (one commit)",
     "vchunk delete [--key FILE | --passphrase] SESSION ID... | --filter JSON SESSION",
     "      --filter JSON    delete every live vector whose metadata matches (same filters as\n"
     "                       query); an empty filter is refused\n",
     vc_cmd_delete},
    {"update", "replace the metadata of a vector (one commit)",
     "vchunk update [--key FILE | --passphrase] SESSION ID METADATA_JSON",
     "The vector and its id are kept; searches return the new metadata.\n", vc_cmd_update},
    {"compact", "rebuild a session's layout: recent vectors into the index, deleted rows dropped",
     "vchunk compact [--key FILE | --passphrase] SESSION",
     "One commit holding exactly the same live vectors; IVF lists are retrained. Older epochs\n"
     "stay readable until gc.\n",
     vc_cmd_compact},
    {"gc", "delete objects that only old epochs (or failed commits) refer to",
     "vchunk gc [--key FILE | --passphrase] [--grace SECONDS] SESSION",
     "      --grace SECONDS  keep every epoch superseded less than this long ago (default\n"
     "                       3600), so readers in the middle of one keep working\n",
     vc_cmd_gc},
    {"inspect", "describe a session (no key needed; with a key the MAC is checked)",
     "vchunk inspect [--json] [--key FILE | --passphrase] SESSION",
     "      --json           print the summary as one JSON object\n", vc_cmd_inspect},
    {"verify", "authenticate and check every object of a session",
     "vchunk verify [--key FILE | --passphrase] SESSION",
     "Prints \"OK: N objects verified\" and exits 0, or one line per problem and exits 1.\n",
     vc_cmd_verify},
    {"cat", "print one decrypted object (manifest.json, chunks/chunk-N.cbor, metadata.cbor)",
     "vchunk cat [--key FILE | --passphrase] SESSION PATH",
     "manifest.json is printed as stored; other objects as their canonical plaintext.\n",
     vc_cmd_cat},
    {"export", "write every vector of a session to a .jsonl or .fvecs file",
     "vchunk export [--key FILE | --passphrase] SESSION OUTPUT",
     "OUTPUT ending in .jsonl gets ids, vectors and metadata; .fvecs gets the vectors, in id\n"
     "order when the ids are row numbers (as after importing .fvecs or .npy). OUTPUT must not\n"
     "exist yet.\n",
     vc_cmd_export},
    {"query", "search a session",
     "vchunk query [--key FILE] [-k N] [--format json|tsv] [--batch FILE.fvecs] "
     "[--threshold X] [--exact] [--filter JSON] [--ef N] [--nprobe N] SESSION [QUERY]",
     "QUERY is a JSON array of floats, or an object {\"vector\": [...], \"k\": 5, \"filter\":\n"
     "{...}, \"threshold\": X, \"exact\": true, \"ef\": N, \"nprobe\": N} whose settings\n"
     "override the options for that query. Without QUERY (and without --batch) one query per\n"
     "line is read from standard input.\n"
     "  -k N                 results per query (default 10; no upper limit)\n"
     "  -f, --format FMT     json (default): one object per query per line;\n"
     "                       tsv: rank<TAB>id<TAB>score, queries separated by a blank line\n"
     "  -b, --batch FILE     run every row of an .fvecs file as a query\n"
     "  -t, --threshold X    keep only scores >= X (cosine, dot) or distances <= X (l2)\n"
     "  -e, --exact          exact (flat) search\n"
     "  -F, --filter JSON    metadata filter, e.g. '{\"year\": {\"$gte\": 2000}}'\n"
     "      --ef N           HNSW search breadth\n"
     "      --nprobe N       IVF lists probed\n",
     vc_cmd_query},
    {"convert", "convert a session of the original Rust system into a session of ours",
     "vchunk convert [--key FILE | --passphrase | --no-encryption] [--chunk-size N] "
     "[--index auto|flat|ivf|hnsw] LEGACY_SESSION NEW_SESSION",
     "Reads a session written by the original Rust system (manifest version 2 or 3; see\n"
     "docs/LEGACY.md) and writes a new session at NEW_SESSION with the same ids, the same\n"
     "vectors bit for bit and the same metadata, metric l2. Deleted vectors are not carried\n"
     "over. The legacy session is only read. inspect, verify, cat, export and query also\n"
     "read legacy sessions directly.\n"
     "  -K, --key FILE       encrypt with this key file (default: $VCHUNK_KEY_FILE)\n"
     "      --passphrase     encrypt with a passphrase (Argon2id): $VCHUNK_PASSPHRASE, else\n"
     "                       asked twice on the terminal\n"
     "      --no-encryption  store plaintext (public data, debugging)\n"
     "  -c, --chunk-size N   vectors per chunk (default 10000)\n"
     "      --index KIND     auto (default), flat, ivf or hnsw, as for import\n",
     vc_cmd_convert},
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void print_usage(FILE *out)
{
	fprintf(out, "usage: vchunk COMMAND [options] ARGS...\n\ncommands:\n");
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\nSESSION is a directory, dir:PATH, or s5+http://HOST:PORT/PATH (S5 bridge).\n"
		"Environment: VCHUNK_KEY_FILE (key file), VCHUNK_PASSPHRASE (passphrase),\n"
		"VCHUNK_FAULT (fault injection for tests, e.g. error_rate=0.1).\n"
		"Every command remembers the highest epoch it saw of each session (in\n"
		"$XDG_STATE_HOME/vchunk/epochs) and refuses an older one (a rollback) unless\n"
		"given --allow-rollback.\n"
		"\n`vchunk COMMAND --help` describes a command; `vchunk --version` prints the "
		"version.\nExit status: 0 success, 1 error, 2 usage error.\n");
}

int vc_cli_help(const vc_command *command)
{
	bool takes_key = strstr(command->usage, "--key") != NULL &&
			 strcmp(command->name, "import") != 0 &&
			 strcmp(command->name, "convert") != 0;

	printf("usage: %s\n\n%s\n", command->usage, command->summary);
	if (command->help[0] != '\0')
		printf("\n%s", command->help);
	if (takes_key)
		printf("\n%s", key_help);
	printf("  -h, --help           this help\n");
	return VC_EXIT_OK;
}

int vc_cli_usage_error(const vc_command *command, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vchunk: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s\nTry 'vchunk %s --help'.\n", command->usage, command->name);
	return VC_EXIT_USAGE;
}

int vc_cli_bad_option(const vc_command *command, int opt, char **argv)
{
	const char *arg = argv[optind - 1];

	if (opt == ':')
		return vc_cli_usage_error(command, "option '%s' needs an argument", arg);
	if (optopt != 0)
		return vc_cli_usage_error(command, "unknown option '-%c'", optopt);
	return vc_cli_usage_error(command, "unknown option '%s'", arg);
}

int vc_cli_parse_keyed(const vc_command *command, int argc, char **argv, vc_cli_keys *keys,
		       int positional, const char *missing)
{
	static const struct option options[] = {
	    {"key", required_argument, NULL, 'K'},
	    {"passphrase", no_argument, NULL, VC_CLI_OPT_PASSPHRASE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};

	for (;;) {
		int opt = getopt_long(argc, argv, ":K:h", options, NULL);

		if (opt == -1)
			break;
		switch (opt) {
		case 'K': keys->key_file = optarg; break;
		case VC_CLI_OPT_PASSPHRASE: keys->ask_passphrase = true; break;
		case 'h': return vc_cli_help(command);
		default: return vc_cli_bad_option(command, opt, argv);
		}
	}
	if (argc - optind < positional)
		return vc_cli_usage_error(command, "%s", missing);
	if (argc - optind > positional)
		return vc_cli_usage_error(command, "too many arguments");
	return VC_CLI_CONTINUE;
}

int vc_cli_fail(void)
{
	const char *message = vc_last_error();

	fprintf(stderr, "vchunk: %s\n", message[0] != '\0' ? message : "unknown error");
	return VC_EXIT_ERROR;
}

int vc_cli_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vchunk: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return VC_EXIT_ERROR;
}

bool vc_cli_parse_uint(const char *text, unsigned long long min, unsigned long long max,
		       unsigned long long *out)
{
	char *end;
	unsigned long long value;

	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value < min || value > max)
		return false;
	*out = value;
	return true;
}

void vc_cli_hex(const uint8_t *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * len] = '\0';
}

/* --allow-rollback is accepted by every command that opens a session: taken out here (before
 * "--", after the command name) so each command's own option parser never sees it. */
static void strip_allow_rollback(int *argc, char **argv)
{
	int kept = 2;

	for (int i = 2; i < *argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[kept++] = argv[i++];
			break;
		}
		if (strcmp(argv[i], "--allow-rollback") == 0)
			vc_cli_allow_rollback = true;
		else
			argv[kept++] = argv[i];
	}
	*argc = kept;
	argv[kept] = NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stderr);
		return VC_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_usage(stdout);
		return VC_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("vchunk %s (format %s %d)\n", VCHUNK_VERSION, VC_FORMAT_NAME,
		       VC_FORMAT_VERSION);
		return VC_EXIT_OK;
	}
	strip_allow_rollback(&argc, argv);
	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			/* getopt sees the command name as argv[0]; messages are ours */
			opterr = 0;
			optind = 0;
			return commands[i].run(&commands[i], argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "vchunk: unknown command '%s'\n", argv[1]);
	print_usage(stderr);
	return VC_EXIT_USAGE;
}
