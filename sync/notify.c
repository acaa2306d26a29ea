/* Notify (Tokio's): notify_one serves the longest waiter or stores one permit;
 * notify_all serves everyone queued now.
 *
 * A waiter is stamped, when it queues, with the notify_all generation; notify_all
 * bumps the generation and serves the waiters stamped at or below the old one, so
 * those that queue while it is still waking (in batches) are not woken by it. A
 * future also remembers the generation at its creation: if a notify_all happened
 * since, its first poll is ready at once (so "make the future, check the condition,
 * await" cannot miss a notify_all).
 *
 * A waiter served by notify_one (GRANTED) that is dropped before it saw the
 * notification passes it on with another notify_one; one served by notify_all
 * (RELEASED) has nothing to pass on. */
#include <errno.h>

#include "observe.h"
#include "sem.h"
#include "wait.h"

typedef struct ORCA__MAY_ALIAS notify_impl {
	orca__lock lock;
	uint32_t permit;               /* under the lock */
	_Atomic uint64_t generation;   /* notify_all calls; written under the lock */
	orca__waitq q;
} notify_impl;

typedef struct ORCA__MAY_ALIAS notify_wait {
	orca_future base;
	orca__waiter node;
	notify_impl *n;
	uint64_t generation; /* at creation */
} notify_wait;

_Static_assert(sizeof(orca_notify) >= sizeof(notify_impl), "orca_notify too small");
_Static_assert(sizeof(orca_sync_future) >= sizeof(notify_wait), "orca_sync_future too small");

static notify_impl *impl_of(orca_notify *n)
{
	return (notify_impl *)(void *)n;
}

int orca_notify_init(orca_notify *n)
{
	if (!n)
		return -EINVAL;
	notify_impl *ni = impl_of(n);
	atomic_init(&ni->lock.word, 0);
	ni->permit = 0;
	atomic_init(&ni->generation, 0);
	ni->q.head = ni->q.tail = NULL;
	return 0;
}

int orca_notify_one(orca_notify *n)
{
	if (!n)
		return -EINVAL;
	notify_impl *ni = impl_of(n);
	orca__wake_batch b;
	b.n = 0;
	orca__lock_acquire(&ni->lock);
	if (ni->q.head)
		orca__waiter_serve(&ni->q, ni->q.head, &b, ORCA__W_GRANTED);
	else
		ni->permit = 1;
	orca__lock_release(&ni->lock);
	orca__wake_batch_run(&b);
	return 0;
}

int orca_notify_all(orca_notify *n)
{
	if (!n)
		return -EINVAL;
	notify_impl *ni = impl_of(n);
	orca__lock_acquire(&ni->lock);
	uint64_t g = atomic_load_explicit(&ni->generation, memory_order_relaxed);
	atomic_store_explicit(&ni->generation, g + 1, memory_order_relaxed);
	orca__waitq_serve_upto(&ni->q, &ni->lock, g, ORCA__W_RELEASED);
	return 0;
}

static orca_poll wait_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	notify_wait *w = (notify_wait *)f;
	notify_impl *ni = w->n;
	if (!ni) {
		*out = -EINVAL;
		return ORCA_READY;
	}
	*out = 0;
	uint32_t ws = orca__waiter_state(&w->node);
	if (ws == ORCA__W_GRANTED || ws == ORCA__W_RELEASED) {
		atomic_store_explicit(&w->node.state, ORCA__W_IDLE, memory_order_relaxed);
		return ORCA_READY;
	}
	orca_waker stale = {0};
	orca__lock_acquire(&ni->lock);
	ws = atomic_load_explicit(&w->node.state, memory_order_relaxed);
	orca_poll p = ORCA_PENDING;
	if (ws == ORCA__W_WAITING) {
		orca__waiter_refresh(&w->node, cx->waker, &stale);
	} else if (ws != ORCA__W_IDLE) {
		atomic_store_explicit(&w->node.state, ORCA__W_IDLE, memory_order_relaxed);
		p = ORCA_READY;
	} else if (atomic_load_explicit(&ni->generation, memory_order_relaxed) != w->generation) {
		p = ORCA_READY; /* a notify_all since the future was made */
	} else if (ni->permit) {
		ni->permit = 0;
		p = ORCA_READY;
	} else {
		w->node.n = w->generation;
		orca__waiter_enqueue(&ni->q, &w->node, cx->waker, false);
	}
	orca__lock_release(&ni->lock);
	orca_waker_drop(&stale);
	if (p == ORCA_PENDING)
		orca__note_wait(cx, "notify", ORCA__WAIT_ADDR, (int64_t)(intptr_t)ni);
	return p;
}

static void wait_drop(orca_future *f)
{
	notify_wait *w = (notify_wait *)f;
	notify_impl *ni = w->n;
	if (!ni)
		return;
	uint32_t ws = orca__waiter_state(&w->node);
	if (ws == ORCA__W_WAITING) {
		orca_waker stale = {0};
		orca__lock_acquire(&ni->lock);
		ws = atomic_load_explicit(&w->node.state, memory_order_relaxed);
		if (ws == ORCA__W_WAITING)
			orca__waiter_leave(&ni->q, &w->node, &stale);
		orca__lock_release(&ni->lock);
		orca_waker_drop(&stale);
	}
	if (ws == ORCA__W_GRANTED) {
		/* notify_one picked us as we gave up: the notification goes on. */
		atomic_store_explicit(&w->node.state, ORCA__W_IDLE, memory_order_relaxed);
		orca_notify_one((orca_notify *)(void *)ni);
	}
}

static const orca_future_vtable wait_vtable = {.poll = wait_poll, .drop = wait_drop};

orca_future *orca_notify_wait_future(orca_sync_future *f, orca_notify *n)
{
	if (!f)
		return NULL;
	notify_wait *w = (notify_wait *)(void *)f;
	w->base.vtable = &wait_vtable;
	orca__waiter_init(&w->node, 0);
	w->n = n ? impl_of(n) : NULL;
	w->generation = n ? atomic_load_explicit(&impl_of(n)->generation, memory_order_relaxed) : 0;
	return &w->base;
}

int orca_notify_wait(orca_notify *n)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_notify_wait_future(&f, n), -1);
}

int orca_notify_wait_timeout(orca_notify *n, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_notify_wait_future(&f, n), timeout_ns < 0 ? 0 : timeout_ns);
}

int orca_notify_wait_blocking(orca_notify *n, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_wait_blocking(orca_notify_wait_future(&f, n), timeout_ns);
}
