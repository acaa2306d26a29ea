/* The receive side shared by broadcast and watch channels (cursor.h). */
#include <errno.h>

#include "cursor.h"
#include "observe.h"

_Static_assert(sizeof(orca_chan_future) >= sizeof(orca__cursor_recv), "orca_chan_future too small");

void orca__cursor_src_init(orca__cursor_src *s)
{
	atomic_init(&s->lock.word, 0);
	atomic_init(&s->refs, 1);
	s->position = 0;
	s->closed = false;
	s->waiters.head = s->waiters.tail = NULL;
}

void orca__cursor_src_retain(orca__cursor_src *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

bool orca__cursor_src_release(orca__cursor_src *s)
{
	/* acq_rel: the last owner sees every other owner's use before freeing. */
	return atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1;
}

void orca__cursor_publish_unlock(orca__cursor_src *s)
{
	uint64_t old = s->position++;
	orca__waitq_serve_upto(&s->waiters, &s->lock, old, ORCA__W_RELEASED);
}

void orca__cursor_close(orca__cursor_src *s)
{
	orca__lock_acquire(&s->lock);
	s->closed = true;
	orca__waitq_serve_upto(&s->waiters, &s->lock, UINT64_MAX, ORCA__W_CLOSED);
}

int64_t orca__cursor_try_recv(orca__cursor *c, void *buf, orca__cursor_take_fn take)
{
	orca__lock_acquire(&c->src->lock);
	int64_t r = take(c, buf);
	orca__lock_release(&c->src->lock);
	return r;
}

orca_future *orca__cursor_recv_init(orca_chan_future *f, const orca_future_vtable *vt,
				    orca__cursor *c, void *buf)
{
	if (!f)
		return NULL;
	orca__cursor_recv *r = (orca__cursor_recv *)(void *)f;
	r->base.vtable = vt;
	orca__waiter_init(&r->node, 0);
	r->c = c;
	r->buf = buf;
	return &r->base;
}

orca_poll orca__cursor_recv_poll(orca_future *f, orca_context *cx, intptr_t *out,
				 orca__cursor_take_fn take)
{
	orca__cursor_recv *r = (orca__cursor_recv *)f;
	if (!r->c) {
		*out = -EINVAL;
		return ORCA_READY;
	}
	orca__cursor_src *s = r->c->src;
	orca_waker stale = {0};
	orca__lock_acquire(&s->lock);
	uint32_t ws = atomic_load_explicit(&r->node.state, memory_order_relaxed);
	int64_t got = take(r->c, r->buf);
	orca_poll p = ORCA_READY;
	if (got != -EAGAIN) {
		if (ws == ORCA__W_WAITING)
			orca__waiter_leave(&s->waiters, &r->node, &stale);
		atomic_store_explicit(&r->node.state, ORCA__W_IDLE, memory_order_relaxed);
		*out = (intptr_t)got;
	} else if (ws == ORCA__W_WAITING) {
		orca__waiter_refresh(&r->node, cx->waker, &stale);
		p = ORCA_PENDING;
	} else {
		/* Not queued yet, or released by an item that another task took through
		 * this same receiver first. */
		r->node.n = s->position;
		orca__waiter_enqueue(&s->waiters, &r->node, cx->waker, false);
		p = ORCA_PENDING;
	}
	orca__lock_release(&s->lock);
	orca_waker_drop(&stale);
	if (p == ORCA_PENDING)
		orca__note_wait(cx, "channel recv", ORCA__WAIT_ADDR, (int64_t)(intptr_t)s);
	return p;
}

void orca__cursor_recv_drop(orca_future *f)
{
	orca__cursor_recv *r = (orca__cursor_recv *)f;
	if (!r->c || orca__waiter_state(&r->node) != ORCA__W_WAITING)
		return;
	orca__cursor_src *s = r->c->src;
	orca_waker stale = {0};
	orca__lock_acquire(&s->lock);
	if (atomic_load_explicit(&r->node.state, memory_order_relaxed) == ORCA__W_WAITING)
		orca__waiter_leave(&s->waiters, &r->node, &stale);
	orca__lock_release(&s->lock);
	orca_waker_drop(&stale);
}
