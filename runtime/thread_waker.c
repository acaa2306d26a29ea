/* Blocking a plain (non-worker) thread on a future: the future is polled with a
 * waker that unparks the thread through a futex. The waker's state is reference
 * counted on the heap, because a clone may outlive the blocked call (a task's join
 * waker is dropped by the task side after it has woken us). */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "scheduler.h"

typedef struct thread_waker {
	_Atomic uint32_t refs;
	_Atomic uint32_t woken; /* futex word */
} thread_waker;

static orca_waker tw_clone(const void *data);
static void tw_wake_by_ref(const void *data);
static void tw_drop(const void *data);
static void tw_wake(const void *data)
{
	tw_wake_by_ref(data);
	tw_drop(data);
}

static const orca_waker_vtable thread_waker_vtable = {
	.clone = tw_clone,
	.wake = tw_wake,
	.wake_by_ref = tw_wake_by_ref,
	.drop = tw_drop,
};

static orca_waker tw_clone(const void *data)
{
	thread_waker *tw = (thread_waker *)data;
	atomic_fetch_add_explicit(&tw->refs, 1, memory_order_relaxed);
	return (orca_waker){.vtable = &thread_waker_vtable, .data = tw};
}

static void tw_wake_by_ref(const void *data)
{
	thread_waker *tw = (thread_waker *)data;
	/* Release: the waker's caller's writes are seen by the woken thread. */
	if (atomic_exchange_explicit(&tw->woken, 1, memory_order_release) == 0)
		syscall(SYS_futex, (uint32_t *)&tw->woken, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL,
			NULL, 0);
}

static void tw_drop(const void *data)
{
	thread_waker *tw = (thread_waker *)data;
	if (atomic_fetch_sub_explicit(&tw->refs, 1, memory_order_acq_rel) == 1)
		free(tw);
}

intptr_t orca__block_on_future(orca_future *f)
{
	thread_waker *tw = malloc(sizeof(*tw));
	if (!tw)
		return -ENOMEM;
	atomic_init(&tw->refs, 1);
	atomic_init(&tw->woken, 0);
	orca_waker w = {.vtable = &thread_waker_vtable, .data = tw};
	orca_context cx = {.waker = &w};
	intptr_t out = 0;
	while (f->vtable->poll(f, &cx, &out) == ORCA_PENDING) {
		while (atomic_exchange_explicit(&tw->woken, 0, memory_order_acquire) == 0)
			syscall(SYS_futex, (uint32_t *)&tw->woken, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0, NULL,
				NULL, 0);
	}
	tw_drop(tw);
	return out;
}
