/* Watch channels (Tokio's watch): one value and a version number bumped by every
 * send. A receiver remembers the version it saw last and waits for a newer one.
 * Waiters are stamped with the version they have seen; a send serves every waiter
 * (RELEASED: nothing to pass on), close serves them with CLOSED. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <orca/chan.h>

#include "waitq.h"
#include "wait.h"

struct orca_watch {
	orca__lock lock;
	_Atomic uint32_t refs;
	size_t msg_size;
	uint64_t version; /* under the lock, as the rest */
	bool closed;
	orca__waitq waiters;
	unsigned char value[];
};

struct orca_watch_rx {
	orca_watch *w;
	uint64_t seen; /* under w's lock */
};

typedef struct ORCA__MAY_ALIAS watch_recv {
	orca_future base;
	orca__waiter node;
	orca_watch_rx *rx;
	void *buf;
} watch_recv;

_Static_assert(sizeof(orca_chan_future) >= sizeof(watch_recv), "orca_chan_future too small");

int orca_watch_create(orca_watch **out, size_t msg_size, const void *initial)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if ((!initial && msg_size) || msg_size > (SIZE_MAX >> 1))
		return -EINVAL;
	orca_watch *w = calloc(1, sizeof(*w) + msg_size);
	if (!w)
		return -ENOMEM;
	atomic_init(&w->lock.word, 0);
	atomic_init(&w->refs, 1);
	w->msg_size = msg_size;
	if (msg_size)
		memcpy(w->value, initial, msg_size);
	*out = w;
	return 0;
}

int orca_watch_retain(orca_watch *w)
{
	if (!w)
		return -EINVAL;
	atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
	return 0;
}

int orca_watch_release(orca_watch *w)
{
	if (!w)
		return -EINVAL;
	/* acq_rel: the last owner sees every other owner's use before freeing. */
	if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1)
		free(w);
	return 0;
}

int orca_watch_subscribe(orca_watch *w, orca_watch_rx **out)
{
	if (!w || !out)
		return -EINVAL;
	orca_watch_rx *rx = malloc(sizeof(*rx));
	if (!rx)
		return -ENOMEM;
	orca_watch_retain(w);
	rx->w = w;
	orca__lock_acquire(&w->lock);
	rx->seen = w->version;
	orca__lock_release(&w->lock);
	*out = rx;
	return 0;
}

int orca_watch_rx_free(orca_watch_rx *rx)
{
	if (!rx)
		return -EINVAL;
	orca_watch *w = rx->w;
	free(rx);
	orca_watch_release(w);
	return 0;
}

int orca_watch_send(orca_watch *w, const void *msg)
{
	if (!w || (!msg && w->msg_size))
		return -EINVAL;
	orca__lock_acquire(&w->lock);
	if (w->closed) {
		orca__lock_release(&w->lock);
		return -EPIPE;
	}
	if (w->msg_size)
		memcpy(w->value, msg, w->msg_size);
	uint64_t seen = w->version++;
	orca__waitq_serve_upto(&w->waiters, &w->lock, seen, ORCA__W_RELEASED);
	return 0;
}

int orca_watch_get(orca_watch *w, void *buf)
{
	if (!w || (!buf && w->msg_size))
		return -EINVAL;
	orca__lock_acquire(&w->lock);
	if (w->msg_size)
		memcpy(buf, w->value, w->msg_size);
	orca__lock_release(&w->lock);
	return 0;
}

int orca_watch_close(orca_watch *w)
{
	if (!w)
		return -EINVAL;
	orca__lock_acquire(&w->lock);
	w->closed = true;
	orca__waitq_serve_upto(&w->waiters, &w->lock, UINT64_MAX, ORCA__W_CLOSED);
	return 0;
}

/* Takes the value if rx has not seen it: 0, or -EAGAIN / -EPIPE. Under the lock. */
static int take_locked(orca_watch_rx *rx, void *buf)
{
	orca_watch *w = rx->w;
	if (rx->seen == w->version)
		return w->closed ? -EPIPE : -EAGAIN;
	if (w->msg_size && buf)
		memcpy(buf, w->value, w->msg_size);
	rx->seen = w->version;
	return 0;
}

int orca_watch_try_recv(orca_watch_rx *rx, void *buf)
{
	if (!rx)
		return -EINVAL;
	orca__lock_acquire(&rx->w->lock);
	int r = take_locked(rx, buf);
	orca__lock_release(&rx->w->lock);
	return r;
}

static orca_poll recv_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	watch_recv *r = (watch_recv *)f;
	if (!r->rx) {
		*out = -EINVAL;
		return ORCA_READY;
	}
	orca_watch *w = r->rx->w;
	orca_waker stale = {0};
	orca__lock_acquire(&w->lock);
	uint32_t ws = atomic_load_explicit(&r->node.state, memory_order_relaxed);
	int got = take_locked(r->rx, r->buf);
	orca_poll p = ORCA_READY;
	if (got != -EAGAIN) {
		if (ws == ORCA__W_WAITING)
			orca__waiter_leave(&w->waiters, &r->node, &stale);
		atomic_store_explicit(&r->node.state, ORCA__W_IDLE, memory_order_relaxed);
		*out = got;
	} else if (ws == ORCA__W_WAITING) {
		orca__waiter_refresh(&r->node, cx->waker, &stale);
		p = ORCA_PENDING;
	} else {
		r->node.n = w->version;
		orca__waiter_enqueue(&w->waiters, &r->node, cx->waker, false);
		p = ORCA_PENDING;
	}
	orca__lock_release(&w->lock);
	orca_waker_drop(&stale);
	return p;
}

static void recv_drop(orca_future *f)
{
	watch_recv *r = (watch_recv *)f;
	if (!r->rx || orca__waiter_state(&r->node) != ORCA__W_WAITING)
		return;
	orca_watch *w = r->rx->w;
	orca_waker stale = {0};
	orca__lock_acquire(&w->lock);
	if (atomic_load_explicit(&r->node.state, memory_order_relaxed) == ORCA__W_WAITING)
		orca__waiter_leave(&w->waiters, &r->node, &stale);
	orca__lock_release(&w->lock);
	orca_waker_drop(&stale);
}

static const orca_future_vtable recv_vtable = {.poll = recv_poll, .drop = recv_drop};

orca_future *orca_watch_recv_future(orca_chan_future *f, orca_watch_rx *rx, void *buf)
{
	if (!f)
		return NULL;
	watch_recv *r = (watch_recv *)(void *)f;
	r->base.vtable = &recv_vtable;
	orca__waiter_init(&r->node, 0);
	r->rx = rx;
	r->buf = buf;
	return &r->base;
}

int orca_watch_recv(orca_watch_rx *rx, void *buf)
{
	orca_chan_future f;
	return (int)orca__sync_await(orca_watch_recv_future(&f, rx, buf), -1);
}

int orca_watch_recv_timeout(orca_watch_rx *rx, void *buf, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int)orca__sync_await(orca_watch_recv_future(&f, rx, buf),
				     timeout_ns < 0 ? 0 : timeout_ns);
}

int orca_watch_recv_blocking(orca_watch_rx *rx, void *buf, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int)orca__sync_wait_blocking(orca_watch_recv_future(&f, rx, buf), timeout_ns);
}
