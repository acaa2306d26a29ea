/* Awaiting futures from a stackful task: orca_await, its timeout variants,
 * orca_select and orca_join_all, with the cancellation rule they share:
 *
 *  - An abort is noticed before each poll. A pending future with a cancel hook is
 *    cancelled and then polled until it finishes (the kernel, or whoever holds its
 *    memory, is done with it); one without is dropped at once.
 *  - A cancelled future that still finishes with a success (an accept that won the
 *    race) gives that result back, so nothing is lost; otherwise the await returns
 *    -ECANCELED (or -ETIMEDOUT for a timeout).
 *  - Once a task has seen its abort, every later await returns -ECANCELED at once.
 */
#include <errno.h>
#include <stdlib.h>

#include "scheduler.h"

/* ---- wakers -------------------------------------------------------------------- */

orca_waker orca_waker_clone(const orca_waker *w)
{
	if (!w || !w->vtable)
		return (orca_waker){0};
	return w->vtable->clone(w->data);
}

void orca_waker_wake(orca_waker *w)
{
	if (!w || !w->vtable)
		return;
	orca_waker x = *w;
	*w = (orca_waker){0};
	x.vtable->wake(x.data);
}

void orca_waker_wake_by_ref(const orca_waker *w)
{
	if (w && w->vtable)
		w->vtable->wake_by_ref(w->data);
}

void orca_waker_drop(orca_waker *w)
{
	if (!w || !w->vtable)
		return;
	orca_waker x = *w;
	*w = (orca_waker){0};
	x.vtable->drop(x.data);
}

bool orca_waker_will_wake(const orca_waker *a, const orca_waker *b)
{
	return a && b && a->vtable && a->vtable == b->vtable && a->data == b->data;
}

/* ---- ready future ------------------------------------------------------------------ */

static orca_poll ready_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	(void)cx;
	*out = ((orca_ready_future *)f)->value;
	return ORCA_READY;
}
static const orca_future_vtable ready_vtable = {.poll = ready_poll};

void orca_ready_future_init(orca_ready_future *f, intptr_t value)
{
	if (!f)
		return;
	f->base.vtable = &ready_vtable;
	f->value = value;
}

/* ---- one future ----------------------------------------------------------------------- */

static bool valid_future(const orca_future *f)
{
	return f && f->vtable && f->vtable->poll;
}

/* Cancels or drops a pending future; returns true if it must still be polled to
 * completion (it has a cancel hook). */
static bool abandon(orca_future *f)
{
	if (f->vtable->cancel) {
		f->vtable->cancel(f);
		return true;
	}
	if (f->vtable->drop)
		f->vtable->drop(f);
	return false;
}

/* The calling stackful task, or NULL. */
static orca__task *stackful_self(void)
{
	orca__task *t = orca__task_current();
	return t && t->kind == ORCA_TASK_STACKFUL ? t : NULL;
}

/* True if the task must stop waiting: it has been aborted. Records that it saw it. */
static bool observe_cancel(orca__task *t)
{
	if (t->cancel_seen)
		return true;
	if (orca__task_cancel_requested(t)) {
		t->cancel_seen = 1;
		return true;
	}
	return false;
}

intptr_t orca_await(orca_future *f)
{
	if (!valid_future(f))
		return -EINVAL;
	orca__task *t = stackful_self();
	if (!t)
		return -EPERM;
	if (t->cancel_seen)
		return -ECANCELED;
	orca_waker wk = orca__task_waker_ref(t);
	orca_context cx = {.waker = &wk};
	bool cancelling = false;
	for (;;) {
		if (!cancelling && observe_cancel(t)) {
			if (!abandon(f))
				return -ECANCELED;
			cancelling = true;
		}
		intptr_t out = 0;
		orca__wait_clear(t);
		if (f->vtable->poll(f, &cx, &out) == ORCA_READY)
			return cancelling && out < 0 ? -ECANCELED : out;
		orca__task_suspend(t, ORCA_EXIT_PENDING);
	}
}

/* ---- timeout --------------------------------------------------------------------------- */

/* A future around another that gives up at a deadline. */
typedef struct timeout_future {
	orca_future base;
	orca_future *inner;
	orca_sleep_future timer;
	bool timer_live;   /* the timer may be armed */
	bool expired;      /* the deadline passed; inner is being cancelled */
	bool cancelling;   /* inner's cancel hook ran; poll it to the end */
	bool inner_done;   /* inner finished or was dropped */
} timeout_future;

static void timeout_drop_timer(timeout_future *tf)
{
	if (tf->timer_live) {
		tf->timer.base.vtable->drop(&tf->timer.base);
		tf->timer_live = false;
	}
}

static orca_poll timeout_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	timeout_future *tf = (timeout_future *)f;
	if (!tf->inner_done) {
		intptr_t r = 0;
		if (tf->inner->vtable->poll(tf->inner, cx, &r) == ORCA_READY) {
			tf->inner_done = true;
			timeout_drop_timer(tf);
			/* A cancelled op that failed reports the reason we cancelled it; one
			 * that succeeded anyway keeps its result. */
			*out = (tf->expired && r < 0) ? -ETIMEDOUT : r;
			return ORCA_READY;
		}
		if (tf->cancelling)
			return ORCA_PENDING;
	}
	if (tf->inner_done) {
		*out = -ETIMEDOUT;
		return ORCA_READY;
	}
	intptr_t tr = 0;
	if (tf->timer.base.vtable->poll(&tf->timer.base, cx, &tr) == ORCA_PENDING)
		return ORCA_PENDING;
	tf->timer_live = false;
	if (tr < 0) {
		/* The timer could not be armed: fail rather than wait forever. */
		tf->cancelling = abandon(tf->inner);
		tf->inner_done = !tf->cancelling;
		tf->expired = true;
		if (tf->inner_done) {
			*out = tr;
			return ORCA_READY;
		}
		return ORCA_PENDING;
	}
	tf->expired = true;
	tf->cancelling = abandon(tf->inner);
	if (!tf->cancelling) {
		tf->inner_done = true;
		*out = -ETIMEDOUT;
		return ORCA_READY;
	}
	/* Poll once more: the cancel may already have completed the op. */
	return timeout_poll(f, cx, out);
}

static void timeout_cancel(orca_future *f)
{
	timeout_future *tf = (timeout_future *)f;
	timeout_drop_timer(tf);
	if (!tf->inner_done && !tf->cancelling) {
		tf->cancelling = abandon(tf->inner);
		if (!tf->cancelling)
			tf->inner_done = true;
	}
}

static void timeout_drop(orca_future *f)
{
	timeout_future *tf = (timeout_future *)f;
	timeout_drop_timer(tf);
	if (!tf->inner_done && !tf->cancelling && tf->inner->vtable->drop)
		tf->inner->vtable->drop(tf->inner);
	tf->inner_done = true;
}

static const orca_future_vtable timeout_vtable = {
	.poll = timeout_poll,
	.cancel = timeout_cancel,
	.drop = timeout_drop,
};

intptr_t orca_await_deadline(orca_future *f, int64_t deadline_ns)
{
	if (!valid_future(f))
		return -EINVAL;
	timeout_future tf = {.base = {&timeout_vtable}, .inner = f, .timer_live = true};
	orca_sleep_future_init(&tf.timer, deadline_ns);
	return orca_await(&tf.base);
}

intptr_t orca_await_timeout(orca_future *f, int64_t timeout_ns)
{
	if (timeout_ns < 0)
		timeout_ns = 0;
	return orca_await_deadline(f, orca__deadline_after(timeout_ns));
}

/* ---- many futures -------------------------------------------------------------------------- */

enum { SLOT_PENDING = 0, SLOT_DONE = 1, SLOT_CANCELLING = 2 };

/* Cancels or drops every pending slot, then polls the cancelling ones to the end.
 * The task's abort is not re-checked here: this is already the way out. */
static void drain(orca__task *t, orca_future *const *fs, unsigned char *slot, size_t n,
		  orca_context *cx)
{
	size_t busy = 0;
	for (size_t i = 0; i < n; i++) {
		if (slot[i] != SLOT_PENDING)
			continue;
		if (abandon(fs[i])) {
			slot[i] = SLOT_CANCELLING;
			busy++;
		} else {
			slot[i] = SLOT_DONE;
		}
	}
	while (busy) {
		orca__wait_clear(t);
		for (size_t i = 0; i < n; i++) {
			intptr_t r;
			if (slot[i] == SLOT_CANCELLING && fs[i]->vtable->poll(fs[i], cx, &r) == ORCA_READY) {
				slot[i] = SLOT_DONE;
				busy--;
			}
		}
		if (busy)
			orca__task_suspend(t, ORCA_EXIT_PENDING);
	}
}

#define ORCA_STACK_SLOTS 64

/* Common checks and the slot array (on the stack for up to 64 futures). */
static int many_begin(orca_future *const *fs, size_t n, orca__task **t, unsigned char **slot,
		      unsigned char *local)
{
	if (!fs || n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!valid_future(fs[i]))
			return -EINVAL;
	*t = stackful_self();
	if (!*t)
		return -EPERM;
	if ((*t)->cancel_seen)
		return -ECANCELED;
	*slot = n <= ORCA_STACK_SLOTS ? local : calloc(n, 1);
	if (!*slot)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		(*slot)[i] = SLOT_PENDING;
	return 0;
}

int orca_select(orca_future *const *fs, size_t n, intptr_t *out)
{
	orca__task *t;
	unsigned char local[ORCA_STACK_SLOTS], *slot;
	int err = many_begin(fs, n, &t, &slot, local);
	if (err)
		return err;
	orca_waker wk = orca__task_waker_ref(t);
	orca_context cx = {.waker = &wk};
	size_t start = t->select_rotation++ % n;
	int winner = -ECANCELED;
	for (;;) {
		if (observe_cancel(t))
			break;
		orca__wait_clear(t);
		for (size_t k = 0; k < n && winner < 0; k++) {
			size_t i = (start + k) % n;
			intptr_t r = 0;
			if (fs[i]->vtable->poll(fs[i], &cx, &r) == ORCA_READY) {
				slot[i] = SLOT_DONE;
				winner = (int)i;
				if (out)
					*out = r;
			}
		}
		if (winner >= 0)
			break;
		orca__task_suspend(t, ORCA_EXIT_PENDING);
	}
	drain(t, fs, slot, n, &cx);
	if (slot != local)
		free(slot);
	return winner;
}

int orca_join_all(orca_future *const *fs, size_t n, intptr_t *outs)
{
	orca__task *t;
	unsigned char local[ORCA_STACK_SLOTS], *slot;
	int err = many_begin(fs, n, &t, &slot, local);
	if (err)
		return err;
	orca_waker wk = orca__task_waker_ref(t);
	orca_context cx = {.waker = &wk};
	size_t left = n;
	int ret = 0;
	for (;;) {
		if (observe_cancel(t)) {
			ret = -ECANCELED;
			break;
		}
		orca__wait_clear(t);
		for (size_t i = 0; i < n; i++) {
			intptr_t r = 0;
			if (slot[i] == SLOT_PENDING && fs[i]->vtable->poll(fs[i], &cx, &r) == ORCA_READY) {
				slot[i] = SLOT_DONE;
				left--;
				if (outs)
					outs[i] = r;
			}
		}
		if (!left)
			break;
		orca__task_suspend(t, ORCA_EXIT_PENDING);
	}
	drain(t, fs, slot, n, &cx);
	if (slot != local)
		free(slot);
	return ret;
}
