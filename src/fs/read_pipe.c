/* Zero-copy chunk replies: vmsplice the cached plaintext into a per-thread pipe, hand libfuse
 * the pipe as the reply buffer, and keep the chunk referenced until the reply is surely read. */
#include "fs/read_pipe.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/error_i.h"

#define PIPE_PAGE 4096u

/* One worker thread's pipe and the chunk whose pages its last reply may still hold. */
struct pipe_slot {
	int fds[2];
	size_t pages;	      /* pipe capacity in page-sized buffers */
	pthread_mutex_t lock; /* guards session, pinned, owner (vc_fs_pipe_release_owner) */
	vc_session *session;
	vc_cache_entry *pinned;
	const void *owner; /* the open file the last reply was for */
	struct pipe_slot *prev, *next;
};

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t slot_key;
static bool key_ready;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pipe_slot *slots; /* every live slot, for vc_fs_pipe_release_all */
static atomic_bool enabled;
static size_t want_pages; /* enough for max_read bytes at any offset */

/* Called with slot->lock held, or once nobody else can reach the slot. */
static void slot_unpin(struct pipe_slot *slot)
{
	if (slot->pinned != NULL)
		vc_session_chunk_release(slot->session, slot->pinned);
	slot->pinned = NULL;
	slot->owner = NULL;
}

static void slot_close_pipe(struct pipe_slot *slot)
{
	if (slot->fds[0] >= 0)
		close(slot->fds[0]);
	if (slot->fds[1] >= 0)
		close(slot->fds[1]);
	slot->fds[0] = -1;
	slot->fds[1] = -1;
}

/* Thread exit: the thread's last reply is long done, so its pages may go. */
static void slot_destroy(void *arg)
{
	struct pipe_slot *slot = arg;

	pthread_mutex_lock(&slots_lock);
	if (slot->prev != NULL)
		slot->prev->next = slot->next;
	else
		slots = slot->next;
	if (slot->next != NULL)
		slot->next->prev = slot->prev;
	pthread_mutex_unlock(&slots_lock);
	slot_unpin(slot);
	slot_close_pipe(slot);
	pthread_mutex_destroy(&slot->lock);
	free(slot);
}

static void make_key(void)
{
	key_ready = pthread_key_create(&slot_key, slot_destroy) == 0;
}

/* A new empty pipe as large as a request needs; false if the system refuses that size. */
static bool slot_open_pipe(struct pipe_slot *slot)
{
	int size;

	if (pipe2(slot->fds, O_CLOEXEC) != 0) {
		slot->fds[0] = -1;
		slot->fds[1] = -1;
		return false;
	}
	size = fcntl(slot->fds[1], F_SETPIPE_SZ, (int)(want_pages * PIPE_PAGE));
	if (size < 0)
		size = fcntl(slot->fds[1], F_GETPIPE_SZ);
	if (size <= 0) {
		slot_close_pipe(slot);
		return false;
	}
	slot->pages = (size_t)size / PIPE_PAGE;
	return true;
}

static struct pipe_slot *slot_get(void)
{
	struct pipe_slot *slot;

	pthread_once(&key_once, make_key);
	if (!key_ready)
		return NULL;
	slot = pthread_getspecific(slot_key);
	if (slot != NULL)
		return slot;
	slot = calloc(1, sizeof(*slot));
	if (slot == NULL)
		return NULL;
	if (!slot_open_pipe(slot) || pthread_setspecific(slot_key, slot) != 0) {
		slot_close_pipe(slot);
		free(slot);
		return NULL;
	}
	pthread_mutex_init(&slot->lock, NULL);
	pthread_mutex_lock(&slots_lock);
	slot->next = slots;
	if (slots != NULL)
		slots->prev = slot;
	slots = slot;
	pthread_mutex_unlock(&slots_lock);
	return slot;
}

/* The pipe must start empty: a reply libfuse gave up on may have left bytes behind. */
static bool slot_ready(struct pipe_slot *slot)
{
	int queued = 0;

	if (slot->fds[0] >= 0 && ioctl(slot->fds[0], FIONREAD, &queued) == 0 && queued == 0)
		return true;
	slot_close_pipe(slot);
	pthread_mutex_lock(&slot->lock);
	slot_unpin(slot); /* nothing of it is left in a pipe now */
	pthread_mutex_unlock(&slot->lock);
	return slot_open_pipe(slot);
}

void vc_fs_pipe_enable(unsigned max_read)
{
	want_pages = ((size_t)max_read + PIPE_PAGE - 1) / PIPE_PAGE + 1;
	atomic_store(&enabled, true);
}

vc_err vc_fs_pipe_reply(vc_session *session, vc_cache_entry *entry, const void *owner,
			const void *data, size_t len, struct fuse_bufvec **bufp)
{
	struct iovec iov = {(void *)(uintptr_t)data, len};
	size_t pages = ((uintptr_t)data % PIPE_PAGE + len + PIPE_PAGE - 1) / PIPE_PAGE;
	struct pipe_slot *slot;
	struct fuse_bufvec *buf;
	ssize_t put;

	*bufp = NULL;
	if (!atomic_load(&enabled) || len == 0)
		return VC_OK;
	slot = slot_get();
	if (slot == NULL || !slot_ready(slot) || pages > slot->pages)
		return VC_OK;
	buf = malloc(sizeof(*buf));
	if (buf == NULL)
		return vc_fail(VC_ERR_NOMEM, "no memory for a chunk reply of %zu bytes", len);
	/* The pipe is empty and large enough, so this takes every byte without blocking. */
	put = vmsplice(slot->fds[1], &iov, 1, SPLICE_F_NONBLOCK);
	if (put < 0 || (size_t)put != len) {
		free(buf);
		slot_close_pipe(slot); /* reopened empty on the next reply */
		return VC_OK;
	}
	*buf = (struct fuse_bufvec)FUSE_BUFVEC_INIT(len);
	buf->buf[0].flags = FUSE_BUF_IS_FD;
	buf->buf[0].fd = slot->fds[0];
	/* This thread's previous reply has been written to the kernel: its chunk may go. */
	pthread_mutex_lock(&slot->lock);
	slot_unpin(slot);
	slot->session = session;
	slot->pinned = entry;
	slot->owner = owner;
	pthread_mutex_unlock(&slot->lock);
	*bufp = buf;
	return VC_OK;
}

void vc_fs_pipe_release_owner(const void *owner)
{
	pthread_mutex_lock(&slots_lock);
	for (struct pipe_slot *slot = slots; slot != NULL; slot = slot->next) {
		pthread_mutex_lock(&slot->lock);
		if (slot->owner == owner)
			slot_unpin(slot);
		pthread_mutex_unlock(&slot->lock);
	}
	pthread_mutex_unlock(&slots_lock);
}

void vc_fs_pipe_release_all(void)
{
	atomic_store(&enabled, false);
	for (;;) {
		struct pipe_slot *slot;

		pthread_mutex_lock(&slots_lock);
		slot = slots;
		pthread_mutex_unlock(&slots_lock);
		if (slot == NULL)
			break;
		slot_destroy(slot);
	}
	if (key_ready)
		pthread_setspecific(slot_key, NULL);
}
