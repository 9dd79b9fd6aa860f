/* Private helpers of the write path: the writer lock object (lock.c). */
#ifndef VC_TXN_I_H
#define VC_TXN_I_H

#include "vchunk/store.h"

/** Seconds after which a writer lock is stale even when its holder cannot be checked. */
#define VC_LOCK_LEASE_SECONDS 600

/**
 * Take the session's writer lock: the object "lock" holding {"host", "pid",
 * "time"}. Held by a live writer: VC_ERR_BUSY "session is locked by pid N on
 * HOST since T". A stale lock (its pid is dead on this host, or it is older
 * than the lease) is broken, with a note on stderr naming the old holder.
 * The object is created only when absent (vc_store_put_new: atomic on a
 * directory) and read back to make sure this writer's copy won a race
 * between two creators on backends without an atomic create.
 */
vc_err vc_lock_acquire(vc_store *store, const char *uri, char **token);

/** Release the lock if it still holds @p token; frees @p token. NULL-safe. */
void vc_lock_release(vc_store *store, char *token);

#endif
