/* orca_close's first step: ending the other tasks' operations on the fd in every
 * driver that may hold one, and waiting for the drivers' answers (fd_close.h). */
#include <stdlib.h>

#include <orca/task.h>

#include "fd_close.h"
#include "panic.h"
#include "scheduler.h"

/* ---- a driver's close list ------------------------------------------------------------ */

void orca__close_list_init(orca__close_list *l)
{
	pthread_mutex_init(&l->lock, NULL);
	l->head = NULL;
	atomic_init(&l->pending, 0);
}

void orca__close_list_destroy(orca__close_list *l)
{
	pthread_mutex_destroy(&l->lock);
}

void orca__close_list_push(orca__close_list *l, orca__close_req *req)
{
	pthread_mutex_lock(&l->lock);
	req->next = l->head;
	l->head = req;
	pthread_mutex_unlock(&l->lock);
	/* After the push: an owner that sees the flag finds the request under the lock. */
	atomic_store_explicit(&l->pending, 1, memory_order_release);
}

orca__close_req *orca__close_list_take(orca__close_list *l)
{
	if (!atomic_load_explicit(&l->pending, memory_order_acquire))
		return NULL;
	pthread_mutex_lock(&l->lock);
	atomic_store_explicit(&l->pending, 0, memory_order_relaxed);
	orca__close_req *list = l->head;
	l->head = NULL;
	pthread_mutex_unlock(&l->lock);
	return list;
}

/* ---- the closer's wait ---------------------------------------------------------------- */

/* The answers still to come, and the closer's waker. `lock` (a byte spinlock, as an
 * op's) orders the last answer against the closer's poll: the closer returns only
 * after it saw remaining == 0 under the lock, so the answering driver's unlock is
 * its last touch of the frame. */
struct orca__close_wait {
	orca_future base;
	atomic_flag lock;
	unsigned remaining; /* under lock */
	orca_waker waker;   /* under lock */
};

static void wait_lock(orca__close_wait *w)
{
	while (atomic_flag_test_and_set_explicit(&w->lock, memory_order_acquire)) {
	}
}

static void wait_unlock(orca__close_wait *w)
{
	atomic_flag_clear_explicit(&w->lock, memory_order_release);
}

void orca__close_req_done(orca__close_req *req)
{
	orca__close_wait *w = req->wait;
	orca_waker wk = {0};
	wait_lock(w);
	if (w->remaining == 0) {
		wait_unlock(w);
		orca__panic("fd_close: a driver answered a close request twice");
	}
	if (--w->remaining == 0) {
		wk = w->waker;
		w->waker = (orca_waker){0};
	}
	wait_unlock(w);
	/* The frame may be gone from here on; the waker holds its own reference. */
	orca_waker_wake(&wk);
}

static orca_poll wait_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	orca__close_wait *w = (orca__close_wait *)(void *)f;
	orca_waker old = {0};
	wait_lock(w);
	bool done = w->remaining == 0;
	if (!done && !orca_waker_will_wake(&w->waker, cx->waker)) {
		old = w->waker;
		w->waker = orca_waker_clone(cx->waker);
	}
	wait_unlock(w);
	orca_waker_drop(&old);
	if (!done)
		return ORCA_PENDING;
	*out = 0;
	return ORCA_READY;
}

/* An abort waits for the answers: the requests point into this frame. */
static void wait_cancel(orca_future *f)
{
	(void)f;
}

static const orca_future_vtable wait_vtable = {
	.poll = wait_poll,
	.cancel = wait_cancel,
};

/* ---- orca_close's step ------------------------------------------------------------------ */

/* Requests handed out at once; a runtime with more drivers holding ops on the fd is
 * asked in rounds of this many. */
#define CLOSE_BATCH 16

void orca__fd_end_waits(int fd)
{
	if (fd < 0)
		return;
	orca__worker *self = orca__worker_current();
	orca__task *t = orca__task_current();
	if (!self || !self->driver || !t || t->kind != ORCA_TASK_STACKFUL || t->cancel_seen)
		return; /* orca_close then closes with close(2) (fd_close.h) */
	orca_runtime *rt = self->rt;
	orca__close_req reqs[CLOSE_BATCH];
	orca__driver *to[CLOSE_BATCH];
	orca__close_wait wait = {.base = {.vtable = &wait_vtable}};
	atomic_flag_clear(&wait.lock);
	for (unsigned i = 0; i < rt->nworkers;) {
		/* An abort seen during a round: a later await would return at once,
		 * leaving requests behind; orca_close then closes with close(2). */
		if (t->cancel_seen)
			break;
		unsigned n = 0;
		for (; i < rt->nworkers && n < CLOSE_BATCH; i++) {
			orca__driver *d = rt->workers[i]->driver;
			if (d && orca__fd_waits_maybe(d, fd))
				to[n++] = d;
		}
		if (n == 0)
			break;
		/* Counted before the first hand-out: an answer may come before the next. */
		wait.remaining = n;
		for (unsigned k = 0; k < n; k++) {
			reqs[k] = (orca__close_req){.fd = fd, .wait = &wait};
			orca__driver_end_waits(to[k], &reqs[k]);
		}
		orca_await(&wait.base); /* polls until every answer came, abort or not */
	}
	orca_waker_drop(&wait.waker);
}
