/* Barrier: the n-th arrival of a round releases the round's waiters (stamped with
 * the round's generation, so arrivals of the next round that queue while the
 * release is still waking stay queued) and is the round's leader. A waiter that
 * gives up before its round is complete takes its arrival back. */
#include <errno.h>

#include "observe.h"
#include "sem.h"
#include "wait.h"

typedef struct ORCA__MAY_ALIAS barrier_impl {
	uint64_t parties; /* first: ORCA_BARRIER_INIT writes it */
	orca__lock lock;
	uint32_t arrived;    /* in this round, under the lock */
	uint64_t generation; /* rounds completed, under the lock */
	orca__waitq q;
} barrier_impl;

typedef struct ORCA__MAY_ALIAS barrier_wait {
	orca_future base;
	orca__waiter node;
	barrier_impl *b;
} barrier_wait;

_Static_assert(sizeof(orca_barrier) >= sizeof(barrier_impl), "orca_barrier too small");
_Static_assert(sizeof(orca_sync_future) >= sizeof(barrier_wait), "orca_sync_future too small");

static barrier_impl *impl_of(orca_barrier *b)
{
	return (barrier_impl *)(void *)b;
}

int orca_barrier_init(orca_barrier *b, unsigned n)
{
	if (!b || n == 0)
		return -EINVAL;
	barrier_impl *bi = impl_of(b);
	bi->parties = n;
	atomic_init(&bi->lock.word, 0);
	bi->arrived = 0;
	bi->generation = 0;
	bi->q.head = bi->q.tail = NULL;
	return 0;
}

static orca_poll wait_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	barrier_wait *w = (barrier_wait *)f;
	barrier_impl *bi = w->b;
	if (!bi || bi->parties == 0 || bi->parties > UINT32_MAX) {
		*out = -EINVAL;
		return ORCA_READY;
	}
	if (orca__waiter_state(&w->node) == ORCA__W_RELEASED) {
		atomic_store_explicit(&w->node.state, ORCA__W_IDLE, memory_order_relaxed);
		*out = 0;
		return ORCA_READY;
	}
	orca_waker stale = {0};
	orca__lock_acquire(&bi->lock);
	uint32_t ws = atomic_load_explicit(&w->node.state, memory_order_relaxed);
	if (ws == ORCA__W_WAITING) {
		orca__waiter_refresh(&w->node, cx->waker, &stale);
		orca__lock_release(&bi->lock);
		orca_waker_drop(&stale);
		orca__note_wait(cx, "barrier", ORCA__WAIT_ADDR, (int64_t)(intptr_t)bi);
		return ORCA_PENDING;
	}
	if (ws == ORCA__W_RELEASED) {
		orca__lock_release(&bi->lock);
		atomic_store_explicit(&w->node.state, ORCA__W_IDLE, memory_order_relaxed);
		*out = 0;
		return ORCA_READY;
	}
	if (++bi->arrived == bi->parties) {
		bi->arrived = 0;
		uint64_t g = bi->generation++;
		orca__waitq_serve_upto(&bi->q, &bi->lock, g, ORCA__W_RELEASED);
		*out = 1;
		return ORCA_READY;
	}
	w->node.n = bi->generation;
	orca__waiter_enqueue(&bi->q, &w->node, cx->waker, false);
	orca__lock_release(&bi->lock);
	orca__note_wait(cx, "barrier", ORCA__WAIT_ADDR, (int64_t)(intptr_t)bi);
	return ORCA_PENDING;
}

static void wait_drop(orca_future *f)
{
	barrier_wait *w = (barrier_wait *)f;
	barrier_impl *bi = w->b;
	if (!bi || orca__waiter_state(&w->node) != ORCA__W_WAITING)
		return;
	orca_waker stale = {0};
	orca__lock_acquire(&bi->lock);
	if (atomic_load_explicit(&w->node.state, memory_order_relaxed) == ORCA__W_WAITING) {
		orca__waiter_leave(&bi->q, &w->node, &stale);
		bi->arrived--;
	}
	orca__lock_release(&bi->lock);
	orca_waker_drop(&stale);
}

static const orca_future_vtable wait_vtable = {.poll = wait_poll, .drop = wait_drop};

orca_future *orca_barrier_wait_future(orca_sync_future *f, orca_barrier *b)
{
	if (!f)
		return NULL;
	barrier_wait *w = (barrier_wait *)(void *)f;
	w->base.vtable = &wait_vtable;
	orca__waiter_init(&w->node, 0);
	w->b = b ? impl_of(b) : NULL;
	return &w->base;
}

int orca_barrier_wait(orca_barrier *b)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_barrier_wait_future(&f, b), -1);
}

int orca_barrier_wait_blocking(orca_barrier *b, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_wait_blocking(orca_barrier_wait_future(&f, b), timeout_ns);
}
