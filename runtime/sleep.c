/* Sleeping: the sleep future over a worker's timer heap (timer.h), orca_sleep,
 * orca_sleep_until and intervals. */
#include <errno.h>
#include <string.h>

#include "scheduler.h"

_Static_assert(sizeof(((orca_sleep_future *)0)->priv) >= sizeof(orca__timer_entry),
	       "orca_sleep_future.priv must hold a timer entry");

static orca__timer_entry *entry_of(orca_sleep_future *s)
{
	return (orca__timer_entry *)(void *)s->priv;
}

static orca_poll sleep_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	orca_sleep_future *s = (orca_sleep_future *)f;
	orca__timer_entry *e = entry_of(s);
	if (e->heap) {
		if (!orca__timer_check(e, cx->waker)) {
			orca__note_wait(cx, "timer", ORCA__WAIT_DEADLINE, e->deadline);
			return ORCA_PENDING;
		}
		e->heap = NULL;
		e->state = ORCA_TIMER_IDLE;
		*out = 0;
		return ORCA_READY;
	}
	if (orca_now() >= e->deadline) {
		*out = 0;
		return ORCA_READY;
	}
	orca__worker *w = orca__worker_current();
	if (!w) {
		*out = -EPERM;
		return ORCA_READY;
	}
	bool earliest = false;
	int err = orca__timer_arm(&w->timers, e, cx->waker, &earliest);
	if (err) {
		*out = err;
		return ORCA_READY;
	}
	if (earliest)
		orca__timer_armed_earliest(w, e->deadline);
	orca__note_wait(cx, "timer", ORCA__WAIT_DEADLINE, e->deadline);
	return ORCA_PENDING;
}

static void sleep_drop(orca_future *f)
{
	orca__timer_cancel(entry_of((orca_sleep_future *)f));
}

static const orca_future_vtable sleep_vtable = {.poll = sleep_poll, .drop = sleep_drop};

void orca_sleep_future_init(orca_sleep_future *f, int64_t deadline_ns)
{
	if (!f)
		return;
	memset(f, 0, sizeof(*f));
	f->base.vtable = &sleep_vtable;
	entry_of(f)->deadline = deadline_ns;
}

int orca_sleep_until(int64_t deadline_ns)
{
	orca__task *t = orca__task_current();
	if (!t || t->kind != ORCA_TASK_STACKFUL)
		return -EPERM;
	if (deadline_ns <= orca_now())
		return orca_yield();
	orca_sleep_future s;
	orca_sleep_future_init(&s, deadline_ns);
	return (int)orca_await(&s.base);
}

int orca_sleep(int64_t duration_ns)
{
	if (duration_ns <= 0)
		return orca_yield();
	return orca_sleep_until(orca__deadline_after(duration_ns));
}

int orca_interval_init(orca_interval *iv, int64_t period_ns)
{
	if (!iv || period_ns <= 0)
		return -EINVAL;
	iv->period = period_ns;
	iv->next = orca_now() + period_ns;
	return 0;
}

int64_t orca_interval_tick(orca_interval *iv)
{
	if (!iv || iv->period <= 0)
		return -EINVAL;
	int64_t due = iv->next;
	int err = orca_sleep_until(due);
	if (err)
		return err;
	/* Skip the ticks that passed while we were late; keep the phase (no drift). */
	int64_t now = orca_now();
	int64_t periods = 1 + (now - due) / iv->period;
	iv->next = due + periods * iv->period;
	return periods;
}
