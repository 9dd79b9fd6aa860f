/* Daemon logging: stderr while in the foreground, syslog once daemonized. */
#ifndef VC_FS_LOG_H
#define VC_FS_LOG_H

#include <stdbool.h>
#include <syslog.h>

/**
 * Send messages to stderr (@p to_syslog false) or to syslog with ident
 * "vchunkfs". @p debug enables LOG_DEBUG messages. Call before any worker
 * thread starts; vc_fs_log itself is thread-safe.
 */
void vc_fs_log_setup(bool to_syslog, bool debug);

/** Log one line at syslog @p level (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). */
void vc_fs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
