/* Daemon logging: stderr while in the foreground, syslog once daemonized. */
#include "fs/log.h"

#include <stdarg.h>
#include <stdio.h>

/* Written once before the FUSE loop starts its threads, read-only afterwards. */
static bool log_to_syslog;
static bool log_debug;

void vc_fs_log_setup(bool to_syslog, bool debug)
{
	if (to_syslog && !log_to_syslog)
		openlog("vchunkfs", LOG_PID, LOG_DAEMON);
	log_to_syslog = to_syslog;
	log_debug = debug;
}

void vc_fs_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level == LOG_DEBUG && !log_debug)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_to_syslog)
		syslog(level, "%s", line);
	else
		/* One fprintf per line: stdio locks the stream, so lines never interleave. */
		fprintf(stderr, "vchunkfs: %s\n", line);
}
