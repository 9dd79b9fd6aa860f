/* Rollback detection across runs: the highest epoch seen of each session, kept in a small file
 * ($XDG_STATE_HOME/vchunk/epochs, else ~/.local/state/vchunk/epochs). */
#ifndef VC_EPOCHS_H
#define VC_EPOCHS_H

#include <stdbool.h>
#include <stdint.h>

#include "vchunk/error.h"
#include "vchunk/manifest.h"

/**
 * The file to use: @p configured when set (an empty string disables the
 * check: *out NULL), else the default path. Caller frees *out.
 */
vc_err vc_epochs_path(const char *configured, char **out);

/**
 * Compare @p epoch of session @p session_id with the highest remembered in
 * @p path (NULL: no check) and remember it when higher (the file is rewritten
 * atomically: temp + fsync + rename, under an flock). An older epoch is
 * VC_ERR_AUTH "rollback: ..." unless @p allow; then it is accepted and the
 * remembered epoch lowered to it. A file that cannot be read or written only
 * costs the check (a note on stderr), never the open.
 */
vc_err vc_epochs_check(const char *path, const uint8_t session_id[VC_SESSION_ID_BYTES],
		       uint64_t epoch, bool allow, const char *uri);

#endif
