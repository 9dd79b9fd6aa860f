/* Chunk replies without a copy in the daemon: the requested range of the cached plaintext is
 * vmspliced into a per-thread pipe and given to libfuse as a file-descriptor buffer, which
 * libfuse splices on into /dev/fuse, so the kernel copies the bytes once, to the reader. */
#ifndef VC_FS_READ_PIPE_H
#define VC_FS_READ_PIPE_H

#include <stdbool.h>
#include <stddef.h>

#include "vchunk/vchunk.h"

#define FUSE_USE_VERSION 312
#include <fuse.h>

/**
 * Turn the pipe path on for requests of up to @p max_read bytes. Called from the FUSE init
 * callback once the kernel accepted splice writes; without it every reply is copied.
 */
void vc_fs_pipe_enable(unsigned max_read);

/**
 * Reply with @p len bytes at @p data, which lie inside the value of the cache entry @p entry,
 * through the calling thread's pipe. When *bufp is set it is a one-buffer vector over the
 * pipe, which holds the entry's own pages until libfuse has written them to the kernel, so
 * the thread keeps @p entry referenced until that is sure: its next pipe reply, the release
 * of @p owner (the open file read: its reads have all returned by then), the thread's exit
 * or vc_fs_pipe_release_all. *bufp NULL: the path is off or the pipe cannot take the range;
 * @p entry stays the caller's, who copies instead. VC_ERR_NOMEM if the vector cannot be made.
 */
vc_err vc_fs_pipe_reply(vc_session *session, vc_cache_entry *entry, const void *owner,
			const void *data, size_t len, struct fuse_bufvec **bufp);

/** The open file @p owner is being released: drop the entries its replies referenced. */
void vc_fs_pipe_release_owner(const void *owner);

/** Drop every thread's referenced entry and close the pipes (after the FUSE loop ended). */
void vc_fs_pipe_release_all(void);

#endif
