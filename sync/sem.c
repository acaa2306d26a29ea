/* The batch semaphore under Mutex, RwLock, Semaphore and OnceCell; the protocol is
 * described in sem.h. The relacy model tests/model/sem_model.cc compiles this file
 * as it is (sem.h says what it checks): `ctest -L model` after a change here. */
#include <errno.h>

#include "observe.h"
#include "sem.h"

#define MAX_PERMITS ORCA_SEMAPHORE_MAX_PERMITS

static inline uint64_t permits_of(uint64_t st)
{
	return st >> ORCA__SEM_SHIFT;
}

void orca__sem_init(orca__sem *s, uint64_t permits)
{
	atomic_init(&s->state, permits << ORCA__SEM_SHIFT);
	atomic_init(&s->lock.word, 0);
	s->unused = 0;
	s->q.head = s->q.tail = NULL;
}

uint64_t orca__sem_available(orca__sem *s)
{
	return permits_of(atomic_load_explicit(&s->state, memory_order_relaxed));
}

int orca__sem_try_acquire(orca__sem *s, uint64_t n)
{
	uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
	for (;;) {
		if (st & ORCA__SEM_CLOSED)
			return -EPIPE;
		if ((st & ORCA__SEM_QUEUED) || permits_of(st) < n)
			return -EAGAIN;
		/* Acquire: what the releaser of these permits did is seen (the mutex's
		 * critical section). */
		if (atomic_compare_exchange_weak_explicit(&s->state, &st, st - (n << ORCA__SEM_SHIFT),
							  memory_order_acquire, memory_order_relaxed))
			return 0;
	}
}

/* Hands `add` more permits, and those in the word, to the waiters at the head that
 * they satisfy, in batches. Called with the lock held and QUEUED set; returns with
 * the lock released. */
static void settle_locked(orca__sem *s, uint64_t add)
{
	orca__wake_batch b;
	b.n = 0;
	for (;;) {
		/* QUEUED is set: only lock holders change the word now. Acquire: permits
		 * released through the fast path (a release CAS) before QUEUED was set are
		 * in the word, and the waiters served below must see what their releasers
		 * did (tests/model/sem_model.cc found this load relaxed: a data race). */
		uint64_t st = atomic_load_explicit(&s->state, memory_order_acquire);
		if (st & ORCA__SEM_CLOSED) {
			/* Closed meanwhile: every waiter gets CLOSED from orca__sem_close. */
			atomic_fetch_add_explicit(&s->state, add << ORCA__SEM_SHIFT,
						  memory_order_release);
			orca__lock_release(&s->lock);
			return;
		}
		uint64_t avail = permits_of(st) + add;
		add = 0;
		while (s->q.head && s->q.head->n <= avail && !orca__wake_batch_full(&b)) {
			avail -= s->q.head->n;
			orca__waiter_serve(&s->q, s->q.head, &b, ORCA__W_GRANTED);
		}
		bool more = s->q.head && s->q.head->n <= avail;
		uint64_t next = avail << ORCA__SEM_SHIFT | (st & ORCA__SEM_CLOSED) |
				(s->q.head ? ORCA__SEM_QUEUED : 0);
		/* Release: with QUEUED cleared, a fast-path acquire may take these permits. */
		atomic_store_explicit(&s->state, next, memory_order_release);
		orca__lock_release(&s->lock);
		orca__wake_batch_run(&b);
		if (!more)
			return;
		orca__lock_acquire(&s->lock);
		if (!(atomic_load_explicit(&s->state, memory_order_relaxed) & ORCA__SEM_QUEUED)) {
			orca__lock_release(&s->lock);
			return;
		}
	}
}

int orca__sem_release(orca__sem *s, uint64_t n)
{
	if (n == 0)
		return 0;
	if (n > MAX_PERMITS)
		return -EOVERFLOW;
	for (;;) {
		uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
		while (!(st & ORCA__SEM_QUEUED)) {
			if (permits_of(st) + n > MAX_PERMITS)
				return -EOVERFLOW;
			/* Release: pairs with the acquiring CAS of whoever takes them. */
			if (atomic_compare_exchange_weak_explicit(&s->state, &st,
								  st + (n << ORCA__SEM_SHIFT),
								  memory_order_release, memory_order_relaxed))
				return 0;
		}
		orca__lock_acquire(&s->lock);
		st = atomic_load_explicit(&s->state, memory_order_relaxed);
		if (!(st & ORCA__SEM_QUEUED)) {
			/* The last waiter left meanwhile: back to the fast path. */
			orca__lock_release(&s->lock);
			continue;
		}
		if (permits_of(st) + n > MAX_PERMITS) {
			orca__lock_release(&s->lock);
			return -EOVERFLOW;
		}
		settle_locked(s, n);
		return 0;
	}
}

void orca__sem_close(orca__sem *s)
{
	orca__lock_acquire(&s->lock);
	/* CLOSED stops both fast paths of acquire; clearing QUEUED lets releases add
	 * permits without the lock again (nobody will queue any more). */
	uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(
		&s->state, &st, (st | ORCA__SEM_CLOSED) & ~ORCA__SEM_QUEUED, memory_order_release,
		memory_order_relaxed))
		;
	orca__waitq_serve_upto(&s->q, &s->lock, UINT64_MAX, ORCA__W_CLOSED);
}

/* ---- the acquire future ---------------------------------------------------------------- */

static orca_poll acquire_pending(const orca__sem_acquire *a, const orca_context *cx)
{
	orca__note_wait(cx, a->what, ORCA__WAIT_ADDR, (int64_t)(intptr_t)a->sem);
	return ORCA_PENDING;
}

static orca_poll acquire_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	orca__sem_acquire *a = (orca__sem_acquire *)f;
	orca__sem *s = a->sem;
	if (!s) {
		*out = -EINVAL;
		return ORCA_READY;
	}
	uint32_t ws = orca__waiter_state(&a->node);
	if (ws == ORCA__W_IDLE) {
		int r = orca__sem_try_acquire(s, a->node.n);
		if (r != -EAGAIN) {
			*out = r;
			return ORCA_READY;
		}
	} else if (ws != ORCA__W_WAITING) {
		*out = ws == ORCA__W_GRANTED ? 0 : -EPIPE;
		atomic_store_explicit(&a->node.state, ORCA__W_IDLE, memory_order_relaxed);
		return ORCA_READY;
	}

	orca_waker stale = {0};
	orca__lock_acquire(&s->lock);
	ws = atomic_load_explicit(&a->node.state, memory_order_relaxed);
	if (ws == ORCA__W_WAITING) {
		orca__waiter_refresh(&a->node, cx->waker, &stale);
		orca__lock_release(&s->lock);
		orca_waker_drop(&stale);
		return acquire_pending(a, cx);
	}
	if (ws != ORCA__W_IDLE) {
		/* Served between our first look and the lock. */
		orca__lock_release(&s->lock);
		*out = ws == ORCA__W_GRANTED ? 0 : -EPIPE;
		atomic_store_explicit(&a->node.state, ORCA__W_IDLE, memory_order_relaxed);
		return ORCA_READY;
	}
	uint64_t n = a->node.n;
	uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
	for (;;) {
		if (st & ORCA__SEM_CLOSED) {
			orca__lock_release(&s->lock);
			*out = -EPIPE;
			return ORCA_READY;
		}
		if (st & ORCA__SEM_QUEUED)
			break;
		if (permits_of(st) >= n) {
			if (atomic_compare_exchange_weak_explicit(&s->state, &st,
								  st - (n << ORCA__SEM_SHIFT),
								  memory_order_acquire, memory_order_relaxed)) {
				orca__lock_release(&s->lock);
				*out = 0;
				return ORCA_READY;
			}
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(&s->state, &st, st | ORCA__SEM_QUEUED,
							  memory_order_relaxed, memory_order_relaxed))
			break;
	}
	orca__waiter_enqueue(&s->q, &a->node, cx->waker, false);
	orca__lock_release(&s->lock);
	return acquire_pending(a, cx);
}

static void acquire_drop(orca_future *f)
{
	orca__sem_acquire *a = (orca__sem_acquire *)f;
	orca__sem *s = a->sem;
	if (!s)
		return;
	uint32_t ws = orca__waiter_state(&a->node);
	if (ws == ORCA__W_WAITING) {
		orca_waker stale = {0};
		orca__lock_acquire(&s->lock);
		ws = atomic_load_explicit(&a->node.state, memory_order_relaxed);
		if (ws == ORCA__W_WAITING) {
			bool was_head = s->q.head == &a->node;
			orca__waiter_leave(&s->q, &a->node, &stale);
			uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
			if (orca__waitq_empty(&s->q)) {
				atomic_fetch_and_explicit(&s->state, ~ORCA__SEM_QUEUED,
							  memory_order_release);
				orca__lock_release(&s->lock);
			} else if (was_head && (st & ORCA__SEM_QUEUED)) {
				/* The new head may fit where we did not. */
				settle_locked(s, 0);
			} else {
				orca__lock_release(&s->lock);
			}
			orca_waker_drop(&stale);
			return;
		}
		orca__lock_release(&s->lock);
	}
	if (ws == ORCA__W_GRANTED) {
		/* Handed permits at the moment we gave up: pass them on. */
		atomic_store_explicit(&a->node.state, ORCA__W_IDLE, memory_order_relaxed);
		orca__sem_release(s, a->node.n);
	}
}

static const orca_future_vtable acquire_vtable = {.poll = acquire_poll, .drop = acquire_drop};

orca_future *orca__sem_acquire_init(orca__sem_acquire *f, orca__sem *s, uint64_t n,
				    const char *what)
{
	f->base.vtable = &acquire_vtable;
	orca__waiter_init(&f->node, n);
	f->sem = s;
	f->what = what;
	return &f->base;
}
