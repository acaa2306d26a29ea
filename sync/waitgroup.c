/* WaitGroup (Go's): an atomic counter; the add that brings it to 0 serves every
 * waiter queued in the current epoch (waiters are stamped with it when they queue)
 * and starts the next epoch. Waiting when the counter is 0 returns at once. */
#include <errno.h>

#include "observe.h"
#include "sem.h"
#include "wait.h"

typedef struct ORCA__MAY_ALIAS wg_impl {
	_Atomic int64_t count;
	orca__lock lock;
	uint32_t unused;
	uint64_t epoch; /* under the lock */
	orca__waitq q;
} wg_impl;

typedef struct ORCA__MAY_ALIAS wg_wait {
	orca_future base;
	orca__waiter node;
	wg_impl *wg;
} wg_wait;

_Static_assert(sizeof(orca_waitgroup) >= sizeof(wg_impl), "orca_waitgroup too small");
_Static_assert(sizeof(orca_sync_future) >= sizeof(wg_wait), "orca_sync_future too small");

static wg_impl *impl_of(orca_waitgroup *wg)
{
	return (wg_impl *)(void *)wg;
}

int orca_waitgroup_init(orca_waitgroup *wg)
{
	if (!wg)
		return -EINVAL;
	wg_impl *w = impl_of(wg);
	atomic_init(&w->count, 0);
	atomic_init(&w->lock.word, 0);
	w->unused = 0;
	w->epoch = 0;
	w->q.head = w->q.tail = NULL;
	return 0;
}

int orca_waitgroup_add(orca_waitgroup *wg, int64_t delta)
{
	if (!wg)
		return -EINVAL;
	wg_impl *w = impl_of(wg);
	int64_t c = atomic_load_explicit(&w->count, memory_order_relaxed);
	int64_t next;
	do {
		if (__builtin_add_overflow(c, delta, &next) || next < 0)
			return -EINVAL;
		/* acq_rel: the add that reaches 0 sees what every earlier done() published,
		 * and passes it on to the waiters it releases. */
	} while (!atomic_compare_exchange_weak_explicit(&w->count, &c, next, memory_order_acq_rel,
							memory_order_relaxed));
	if (next == 0 && delta != 0) {
		orca__lock_acquire(&w->lock);
		uint64_t e = w->epoch++;
		orca__waitq_serve_upto(&w->q, &w->lock, e, ORCA__W_RELEASED);
	}
	return 0;
}

int orca_waitgroup_done(orca_waitgroup *wg)
{
	return orca_waitgroup_add(wg, -1);
}

int64_t orca_waitgroup_count(orca_waitgroup *wg)
{
	if (!wg)
		return -EINVAL;
	return atomic_load_explicit(&impl_of(wg)->count, memory_order_relaxed);
}

static orca_poll wait_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	wg_wait *ww = (wg_wait *)f;
	wg_impl *w = ww->wg;
	if (!w) {
		*out = -EINVAL;
		return ORCA_READY;
	}
	*out = 0;
	uint32_t ws = orca__waiter_state(&ww->node);
	if (ws == ORCA__W_RELEASED ||
	    (ws == ORCA__W_IDLE && atomic_load_explicit(&w->count, memory_order_acquire) == 0)) {
		atomic_store_explicit(&ww->node.state, ORCA__W_IDLE, memory_order_relaxed);
		return ORCA_READY;
	}
	orca_waker stale = {0};
	orca_poll p = ORCA_PENDING;
	orca__lock_acquire(&w->lock);
	ws = atomic_load_explicit(&ww->node.state, memory_order_relaxed);
	if (ws == ORCA__W_WAITING) {
		orca__waiter_refresh(&ww->node, cx->waker, &stale);
	} else if (ws == ORCA__W_RELEASED ||
		   atomic_load_explicit(&w->count, memory_order_acquire) == 0) {
		atomic_store_explicit(&ww->node.state, ORCA__W_IDLE, memory_order_relaxed);
		p = ORCA_READY;
	} else {
		ww->node.n = w->epoch;
		orca__waiter_enqueue(&w->q, &ww->node, cx->waker, false);
	}
	orca__lock_release(&w->lock);
	orca_waker_drop(&stale);
	if (p == ORCA_PENDING)
		orca__note_wait(cx, "waitgroup", ORCA__WAIT_ADDR, (int64_t)(intptr_t)w);
	return p;
}

static void wait_drop(orca_future *f)
{
	wg_wait *ww = (wg_wait *)f;
	wg_impl *w = ww->wg;
	if (!w || orca__waiter_state(&ww->node) != ORCA__W_WAITING)
		return;
	orca_waker stale = {0};
	orca__lock_acquire(&w->lock);
	if (atomic_load_explicit(&ww->node.state, memory_order_relaxed) == ORCA__W_WAITING)
		orca__waiter_leave(&w->q, &ww->node, &stale);
	orca__lock_release(&w->lock);
	orca_waker_drop(&stale);
}

static const orca_future_vtable wait_vtable = {.poll = wait_poll, .drop = wait_drop};

orca_future *orca_waitgroup_wait_future(orca_sync_future *f, orca_waitgroup *wg)
{
	if (!f)
		return NULL;
	wg_wait *ww = (wg_wait *)(void *)f;
	ww->base.vtable = &wait_vtable;
	orca__waiter_init(&ww->node, 0);
	ww->wg = wg ? impl_of(wg) : NULL;
	return &ww->base;
}

int orca_waitgroup_wait(orca_waitgroup *wg)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_waitgroup_wait_future(&f, wg), -1);
}

int orca_waitgroup_wait_timeout(orca_waitgroup *wg, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_waitgroup_wait_future(&f, wg),
				     timeout_ns < 0 ? 0 : timeout_ns);
}

int orca_waitgroup_wait_blocking(orca_waitgroup *wg, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_wait_blocking(orca_waitgroup_wait_future(&f, wg), timeout_ns);
}
