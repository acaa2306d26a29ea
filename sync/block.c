/* Blocking a plain thread on a sync/ future, with an optional deadline.
 *
 * The future is polled with a waker that sets a futex word and wakes the thread.
 * Like runtime/thread_waker.c (orca__block_on_future), the waker's state is
 * reference counted on the heap because a clone may be woken or dropped after the
 * blocked call returned; unlike it, the wait here has a deadline, after which the
 * future is abandoned exactly as orca_await_timeout abandons it. */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "scheduler.h"
#include "wait.h"

typedef struct block_waker {
	_Atomic uint32_t refs;
	_Atomic uint32_t woken; /* futex word */
} block_waker;

static orca_waker bw_clone(const void *data);
static void bw_wake_by_ref(const void *data);
static void bw_drop(const void *data);
static void bw_wake(const void *data)
{
	bw_wake_by_ref(data);
	bw_drop(data);
}

static const orca_waker_vtable block_waker_vtable = {
	.clone = bw_clone,
	.wake = bw_wake,
	.wake_by_ref = bw_wake_by_ref,
	.drop = bw_drop,
};

static orca_waker bw_clone(const void *data)
{
	block_waker *bw = (block_waker *)data;
	atomic_fetch_add_explicit(&bw->refs, 1, memory_order_relaxed);
	return (orca_waker){.vtable = &block_waker_vtable, .data = bw};
}

static void bw_wake_by_ref(const void *data)
{
	block_waker *bw = (block_waker *)data;
	/* Release: what the waker's caller did before waking is seen by the thread. */
	if (atomic_exchange_explicit(&bw->woken, 1, memory_order_release) == 0)
		syscall(SYS_futex, (uint32_t *)&bw->woken, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL,
			NULL, 0);
}

static void bw_drop(const void *data)
{
	block_waker *bw = (block_waker *)data;
	if (atomic_fetch_sub_explicit(&bw->refs, 1, memory_order_acq_rel) == 1)
		free(bw);
}

/* Sleeps until woken or until deadline (< 0: none). Spurious returns are fine: the
 * caller polls again. */
static void bw_park(block_waker *bw, int64_t deadline)
{
	if (atomic_exchange_explicit(&bw->woken, 0, memory_order_acquire))
		return;
	struct timespec ts, *tsp = NULL;
	if (deadline >= 0) {
		int64_t left = deadline - orca_now();
		if (left <= 0)
			return;
		ts.tv_sec = (time_t)(left / 1000000000);
		ts.tv_nsec = (long)(left % 1000000000);
		tsp = &ts;
	}
	syscall(SYS_futex, (uint32_t *)&bw->woken, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0, tsp, NULL, 0);
	atomic_exchange_explicit(&bw->woken, 0, memory_order_acquire);
}

static intptr_t block_on_deadline(orca_future *f, int64_t deadline)
{
	block_waker *bw = malloc(sizeof(*bw));
	if (!bw)
		return -ENOMEM;
	atomic_init(&bw->refs, 1);
	atomic_init(&bw->woken, 0);
	orca_waker w = {.vtable = &block_waker_vtable, .data = bw};
	orca_context cx = {.waker = &w};
	intptr_t out = 0;
	bool cancelling = false;
	while (f->vtable->poll(f, &cx, &out) == ORCA_PENDING) {
		if (!cancelling && deadline >= 0 && orca_now() >= deadline) {
			if (!f->vtable->cancel) {
				if (f->vtable->drop)
					f->vtable->drop(f);
				bw_drop(bw);
				return -ETIMEDOUT;
			}
			f->vtable->cancel(f);
			cancelling = true;
			continue;
		}
		bw_park(bw, cancelling ? -1 : deadline);
	}
	bw_drop(bw);
	/* A cancelled future that still succeeded keeps its result (orca_await_timeout's
	 * rule). */
	return cancelling && out < 0 ? -ETIMEDOUT : out;
}

/* Timeouts this long (over a century) mean "no limit": adding them to orca_now()
 * must not overflow. */
#define NO_LIMIT_NS ((int64_t)1 << 62)

intptr_t orca__sync_await(orca_future *f, int64_t timeout_ns)
{
	if (timeout_ns < 0 || timeout_ns >= NO_LIMIT_NS)
		return orca_await(f);
	return orca_await_timeout(f, timeout_ns);
}

intptr_t orca__sync_wait_blocking(orca_future *f, int64_t timeout_ns)
{
	orca__task *t = orca__task_current();
	if (t && t->kind == ORCA_TASK_STACKFUL)
		return orca__sync_await(f, timeout_ns);
	if (orca__worker_current())
		return -EDEADLK;
	if (!f || !f->vtable || !f->vtable->poll)
		return -EINVAL;
	bool no_limit = timeout_ns < 0 || timeout_ns >= NO_LIMIT_NS;
	return block_on_deadline(f, no_limit ? -1 : orca_now() + timeout_ns);
}
