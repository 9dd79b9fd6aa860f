/*
 * `vchunk query`: search a session with one query (argument), many (one JSON array per line on
 * standard input) or a batch (.fvecs rows). Answers come in query order, one JSON object per
 * line or TSV blocks, each with the stats of what the search read.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/input.h"
#include "search/query_parse.h"
#include "search/results_json.h"
#include "util/error_i.h"

typedef struct query_args {
	vc_cli_keys keys;
	vc_query query; /* everything but the vector */
	bool tsv;
	const char *batch;
	json_t *filter;
	const char *session;
	const char *text;  /* the QUERY argument, or NULL */
	vc_legacy *legacy; /* the session, when it is one of the original system's */
} query_args;

/* One line {"results": [...], "stats": {...}}: the same bytes as the mount's query files. */
static vc_err print_json(const vc_results *results)
{
	char *text;
	size_t len;
	vc_err err = vc_results_json(results, true, &text, &len);

	if (err != VC_OK)
		return err;
	if (fwrite(text, 1, len, stdout) != len)
		err = vc_fail(VC_ERR_IO, "writing the results to standard output failed");
	free(text);
	return err;
}

static vc_err print_results(const query_args *args, const vc_results *results, size_t index)
{
	vc_err err = VC_OK;

	if (args->tsv) {
		if (index > 0)
			putchar('\n');
		for (size_t i = 0; i < results->count; i++)
			printf("%zu\t%s\t%.9g\n", i + 1, results->hits[i].id,
			       (double)results->hits[i].score);
	} else {
		err = print_json(results);
	}
	if (err == VC_OK && (fflush(stdout) != 0 || ferror(stdout)))
		err = vc_fail(VC_ERR_IO, "writing the results to standard output failed");
	return err;
}

static vc_err run_query(vc_session *session, const query_args *args, const vc_query *query,
			size_t index)
{
	vc_results results = {0};
	vc_err err = args->legacy != NULL ? vc_legacy_search(args->legacy, query, &results)
					  : vc_session_search(session, query, &results);

	if (err != VC_OK)
		return err;
	err = print_results(args, &results, index);
	vc_results_free(&results);
	return err;
}

/* Parse a query (see search/query_parse.h); the command line's settings are its defaults. */
static vc_err parse_query(vc_session *session, const char *text, size_t len, const char *where,
			  const query_args *args, vc_parsed_query *q)
{
	vc_query_parse_options options = {
	    .allow_raw = false, .defaults = &args->query, .where = where};
	const vc_manifest *manifest;

	if (args->legacy != NULL) {
		options.dim = vc_legacy_dim(args->legacy);
		return vc_query_parse(text, len, &options, q);
	}
	manifest = vc_session_manifest_get(session);
	options.dim = manifest->dim;
	vc_session_manifest_put(session, manifest);
	return vc_query_parse(text, len, &options, q);
}

/* One query per non-blank line of standard input. */
static vc_err run_stdin(vc_session *session, const query_args *args)
{
	vc_parsed_query q = {0};
	char *line = NULL;
	size_t cap = 0;
	size_t index = 0;
	unsigned long lineno = 0;
	vc_err err = VC_OK;

	for (;;) {
		ssize_t len = getline(&line, &cap, stdin);
		char where[32];

		if (len < 0)
			break;
		lineno++;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		snprintf(where, sizeof(where), "stdin:%lu", lineno);
		err = parse_query(session, line, (size_t)len, where, args, &q);
		if (err == VC_OK)
			err = run_query(session, args, &q.query, index++);
		if (err != VC_OK)
			break;
	}
	if (err == VC_OK && index == 0)
		err = vc_fail(VC_ERR_INVALID, "no query given (as an argument, on standard input "
					      "or with --batch)");
	free(line);
	vc_parsed_query_free(&q);
	return err;
}

static vc_err run_batch(vc_session *session, const query_args *args)
{
	vc_input *input;
	size_t index = 0;
	vc_err err = vc_input_open_format(args->batch, VC_INPUT_FVECS, &input);

	if (err != VC_OK)
		return err;
	for (;;) {
		vc_input_record record;
		bool eof;

		err = vc_input_next(input, &record, &eof);
		if (err != VC_OK || eof)
			break;
		vc_query query = args->query;

		query.vector = record.vector;
		query.dim = record.dim;
		err = run_query(session, args, &query, index++);
		if (err != VC_OK) {
			char where[600];

			vc_input_where(input, where, sizeof(where));
			vc_fail_context(err, "%s", where);
			break;
		}
	}
	vc_input_close(input);
	return err;
}

static int query_number(const vc_command *command, const char *name, const char *text,
			unsigned long long max, uint32_t *out)
{
	unsigned long long value;

	if (!vc_cli_parse_uint(text, 1, max, &value))
		return vc_cli_usage_error(command, "%s must be a whole number in 1..%llu, not '%s'",
					  name, max, text);
	*out = (uint32_t)value;
	return VC_CLI_CONTINUE;
}

static int query_option(const vc_command *command, int opt, char **argv, query_args *args)
{
	json_error_t error;
	char *end;

	switch (opt) {
	case 'K': args->keys.key_file = optarg; return VC_CLI_CONTINUE;
	case VC_CLI_OPT_PASSPHRASE: args->keys.ask_passphrase = true; return VC_CLI_CONTINUE;
	case 'k': return query_number(command, "-k", optarg, UINT32_MAX, &args->query.k);
	case 'E': return query_number(command, "--ef", optarg, 1u << 20, &args->query.ef);
	case 'P': return query_number(command, "--nprobe", optarg, 1u << 24, &args->query.nprobe);
	case 'e': args->query.exact = true; return VC_CLI_CONTINUE;
	case 'b': args->batch = optarg; return VC_CLI_CONTINUE;
	case 'f':
		if (strcmp(optarg, "json") != 0 && strcmp(optarg, "tsv") != 0)
			return vc_cli_usage_error(command, "--format must be json or tsv");
		args->tsv = strcmp(optarg, "tsv") == 0;
		return VC_CLI_CONTINUE;
	case 't':
		args->query.threshold = strtof(optarg, &end);
		if (*end != '\0' || end == optarg || !isfinite(args->query.threshold))
			return vc_cli_usage_error(command, "--threshold needs a number, not '%s'",
						  optarg);
		args->query.has_threshold = true;
		return VC_CLI_CONTINUE;
	case 'F':
		json_decref(args->filter);
		args->filter = json_loads(optarg, 0, &error);
		if (!json_is_object(args->filter))
			return vc_cli_usage_error(command, "--filter needs a JSON object: %s",
						  args->filter == NULL ? error.text
								       : "not an object");
		return VC_CLI_CONTINUE;
	case 'h': return vc_cli_help(command);
	default: return vc_cli_bad_option(command, opt, argv);
	}
}

static int query_parse(const vc_command *command, int argc, char **argv, query_args *args)
{
	static const struct option options[] = {
	    {"key", required_argument, NULL, 'K'},
	    {"passphrase", no_argument, NULL, VC_CLI_OPT_PASSPHRASE},
	    {"format", required_argument, NULL, 'f'},
	    {"batch", required_argument, NULL, 'b'},
	    {"threshold", required_argument, NULL, 't'},
	    {"exact", no_argument, NULL, 'e'},
	    {"filter", required_argument, NULL, 'F'},
	    {"ef", required_argument, NULL, 'E'},
	    {"nprobe", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int remaining;

	for (;;) {
		int opt = getopt_long(argc, argv, ":K:k:f:b:t:eF:h", options, NULL);
		int status;

		if (opt == -1)
			break;
		status = query_option(command, opt, argv, args);
		if (status != VC_CLI_CONTINUE)
			return status;
	}
	remaining = argc - optind;
	if (remaining < 1)
		return vc_cli_usage_error(command, "missing SESSION");
	if (remaining > 2)
		return vc_cli_usage_error(command, "too many arguments (quote the QUERY array)");
	if (remaining == 2 && args->batch != NULL)
		return vc_cli_usage_error(command, "give either QUERY or --batch, not both");
	args->session = argv[optind];
	args->text = remaining == 2 ? argv[optind + 1] : NULL;
	return VC_CLI_CONTINUE;
}

int vc_cmd_query(const vc_command *command, int argc, char **argv)
{
	query_args args = {.query.k = 10};
	vc_session *session = NULL;
	vc_parsed_query q = {0};
	int status = query_parse(command, argc, argv, &args);
	vc_err err;

	if (status != VC_CLI_CONTINUE)
		goto out;
	args.query.filter = args.filter;
	/* A legacy session is searched exactly in memory; it needs no key. */
	err = vc_cli_legacy_probe(args.session, &args.legacy);
	if (err == VC_OK && args.legacy == NULL)
		err = vc_cli_keys_resolve(&args.keys, false);
	if (err == VC_OK && args.legacy == NULL)
		err = vc_cli_open(args.session, &args.keys, 0, &session);
	if (err == VC_OK && args.text != NULL) {
		err = parse_query(session, args.text, strlen(args.text), "QUERY", &args, &q);
		if (err == VC_OK)
			err = run_query(session, &args, &q.query, 0);
	} else if (err == VC_OK && args.batch != NULL) {
		err = run_batch(session, &args);
	} else if (err == VC_OK) {
		err = run_stdin(session, &args);
	}
	status = err == VC_OK ? VC_EXIT_OK : vc_cli_fail();
out:
	vc_parsed_query_free(&q);
	vc_session_close(session);
	vc_legacy_close(args.legacy);
	json_decref(args.filter);
	vc_cli_keys_free(&args.keys);
	return status;
}
