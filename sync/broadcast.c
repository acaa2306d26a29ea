/* Broadcast channels (Tokio's broadcast): a ring of the last `cap` messages, each
 * numbered; a receiver is a cursor (the number of the next message it wants).
 * Everything is copied in and out under one lock, so a slot needs no per-reader
 * count: a send simply overwrites the oldest message, and a receiver whose cursor
 * fell out of the ring jumps to the oldest one kept and reports how many it missed.
 *
 * Waiting receivers are stamped with the number they wait for (the tail when they
 * queued); a send serves every waiter (RELEASED: a new message is there for
 * everyone, nothing to pass on), close serves them with CLOSED. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <orca/chan.h>

#include "waitq.h"
#include "wait.h"

struct orca_broadcast {
	orca__lock lock;
	_Atomic uint32_t refs;
	size_t msg_size;
	size_t cap;
	uint64_t tail;        /* under the lock: the number of the next message */
	uint64_t receivers;   /* under the lock: subscribed */
	bool closed;          /* under the lock */
	unsigned char *ring;
	orca__waitq waiters;
};

struct orca_broadcast_rx {
	orca_broadcast *b;
	uint64_t next; /* under b's lock */
};

typedef struct ORCA__MAY_ALIAS bc_recv {
	orca_future base;
	orca__waiter node;
	orca_broadcast_rx *rx;
	void *buf;
} bc_recv;

_Static_assert(sizeof(orca_chan_future) >= sizeof(bc_recv), "orca_chan_future too small");

int orca_broadcast_create(orca_broadcast **out, size_t msg_size, size_t capacity)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	size_t bytes;
	if (capacity == 0 || __builtin_mul_overflow(capacity, msg_size, &bytes) ||
	    bytes > (SIZE_MAX >> 1))
		return -EINVAL;
	orca_broadcast *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	if (bytes && !(b->ring = malloc(bytes))) {
		free(b);
		return -ENOMEM;
	}
	atomic_init(&b->lock.word, 0);
	atomic_init(&b->refs, 1);
	b->msg_size = msg_size;
	b->cap = capacity;
	*out = b;
	return 0;
}

int orca_broadcast_retain(orca_broadcast *b)
{
	if (!b)
		return -EINVAL;
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return 0;
}

int orca_broadcast_release(orca_broadcast *b)
{
	if (!b)
		return -EINVAL;
	/* acq_rel: the last owner sees every other owner's use before freeing. */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
		free(b->ring);
		free(b);
	}
	return 0;
}

int orca_broadcast_subscribe(orca_broadcast *b, orca_broadcast_rx **out)
{
	if (!b || !out)
		return -EINVAL;
	orca_broadcast_rx *rx = malloc(sizeof(*rx));
	if (!rx)
		return -ENOMEM;
	orca_broadcast_retain(b);
	rx->b = b;
	orca__lock_acquire(&b->lock);
	rx->next = b->tail;
	b->receivers++;
	orca__lock_release(&b->lock);
	*out = rx;
	return 0;
}

int orca_broadcast_rx_free(orca_broadcast_rx *rx)
{
	if (!rx)
		return -EINVAL;
	orca_broadcast *b = rx->b;
	orca__lock_acquire(&b->lock);
	b->receivers--;
	orca__lock_release(&b->lock);
	free(rx);
	orca_broadcast_release(b);
	return 0;
}

int64_t orca_broadcast_send(orca_broadcast *b, const void *msg)
{
	if (!b || (!msg && b->msg_size))
		return -EINVAL;
	orca__lock_acquire(&b->lock);
	if (b->closed) {
		orca__lock_release(&b->lock);
		return -EPIPE;
	}
	int64_t n = (int64_t)b->receivers;
	if (n == 0) {
		orca__lock_release(&b->lock);
		return 0;
	}
	if (b->msg_size)
		memcpy(b->ring + (b->tail % b->cap) * b->msg_size, msg, b->msg_size);
	uint64_t seq = b->tail++;
	orca__waitq_serve_upto(&b->waiters, &b->lock, seq, ORCA__W_RELEASED);
	return n;
}

int orca_broadcast_close(orca_broadcast *b)
{
	if (!b)
		return -EINVAL;
	orca__lock_acquire(&b->lock);
	b->closed = true;
	orca__waitq_serve_upto(&b->waiters, &b->lock, UINT64_MAX, ORCA__W_CLOSED);
	return 0;
}

/* Takes rx's next message if there is one: returns the number it missed (>= 0), or
 * -EAGAIN / -EPIPE. Under the lock. */
static int64_t take_locked(orca_broadcast_rx *rx, void *buf)
{
	orca_broadcast *b = rx->b;
	if (rx->next == b->tail)
		return b->closed ? -EPIPE : -EAGAIN;
	uint64_t missed = 0;
	if (b->tail - rx->next > b->cap) {
		missed = b->tail - b->cap - rx->next;
		rx->next = b->tail - b->cap;
	}
	if (b->msg_size && buf)
		memcpy(buf, b->ring + (rx->next % b->cap) * b->msg_size, b->msg_size);
	rx->next++;
	return (int64_t)missed;
}

int64_t orca_broadcast_try_recv(orca_broadcast_rx *rx, void *buf)
{
	if (!rx)
		return -EINVAL;
	orca__lock_acquire(&rx->b->lock);
	int64_t r = take_locked(rx, buf);
	orca__lock_release(&rx->b->lock);
	return r;
}

static orca_poll recv_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	bc_recv *r = (bc_recv *)f;
	if (!r->rx) {
		*out = -EINVAL;
		return ORCA_READY;
	}
	orca_broadcast *b = r->rx->b;
	orca_waker stale = {0};
	orca__lock_acquire(&b->lock);
	uint32_t ws = atomic_load_explicit(&r->node.state, memory_order_relaxed);
	int64_t got = take_locked(r->rx, r->buf);
	orca_poll p = ORCA_READY;
	if (got != -EAGAIN) {
		if (ws == ORCA__W_WAITING)
			orca__waiter_leave(&b->waiters, &r->node, &stale);
		atomic_store_explicit(&r->node.state, ORCA__W_IDLE, memory_order_relaxed);
		*out = (intptr_t)got;
	} else if (ws == ORCA__W_WAITING) {
		orca__waiter_refresh(&r->node, cx->waker, &stale);
		p = ORCA_PENDING;
	} else {
		/* Not queued yet, or released by a message another task took from this
		 * same receiver first. */
		r->node.n = b->tail;
		orca__waiter_enqueue(&b->waiters, &r->node, cx->waker, false);
		p = ORCA_PENDING;
	}
	orca__lock_release(&b->lock);
	orca_waker_drop(&stale);
	return p;
}

static void recv_drop(orca_future *f)
{
	bc_recv *r = (bc_recv *)f;
	if (!r->rx || orca__waiter_state(&r->node) != ORCA__W_WAITING)
		return;
	orca_broadcast *b = r->rx->b;
	orca_waker stale = {0};
	orca__lock_acquire(&b->lock);
	if (atomic_load_explicit(&r->node.state, memory_order_relaxed) == ORCA__W_WAITING)
		orca__waiter_leave(&b->waiters, &r->node, &stale);
	orca__lock_release(&b->lock);
	orca_waker_drop(&stale);
}

static const orca_future_vtable recv_vtable = {.poll = recv_poll, .drop = recv_drop};

orca_future *orca_broadcast_recv_future(orca_chan_future *f, orca_broadcast_rx *rx, void *buf)
{
	if (!f)
		return NULL;
	bc_recv *r = (bc_recv *)(void *)f;
	r->base.vtable = &recv_vtable;
	orca__waiter_init(&r->node, 0);
	r->rx = rx;
	r->buf = buf;
	return &r->base;
}

int64_t orca_broadcast_recv(orca_broadcast_rx *rx, void *buf)
{
	orca_chan_future f;
	return (int64_t)orca__sync_await(orca_broadcast_recv_future(&f, rx, buf), -1);
}

int64_t orca_broadcast_recv_timeout(orca_broadcast_rx *rx, void *buf, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int64_t)orca__sync_await(orca_broadcast_recv_future(&f, rx, buf),
					 timeout_ns < 0 ? 0 : timeout_ns);
}

int64_t orca_broadcast_recv_blocking(orca_broadcast_rx *rx, void *buf, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int64_t)orca__sync_wait_blocking(orca_broadcast_recv_future(&f, rx, buf), timeout_ns);
}
