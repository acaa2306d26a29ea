/* MPMC channels (bounded, unbounded, oneshot): creation, the ring buffer, the send
 * and receive futures and their convenience wrappers. The protocol is described in
 * chan_internal.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan_internal.h"
#include "observe.h"
#include "wait.h"

_Static_assert(sizeof(orca_chan_future) >= sizeof(orca__chan_op), "orca_chan_future too small");

#define UNBOUNDED_MIN_SLOTS 16

/* ---- life cycle ------------------------------------------------------------------------ */

static int chan_new(orca_chan **out, size_t msg_size, size_t cap, size_t ring_cap, bool oneshot)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	size_t bytes;
	if (cap == 0 || __builtin_mul_overflow(ring_cap, msg_size, &bytes) ||
	    bytes > (SIZE_MAX >> 1))
		return -EINVAL;
	orca_chan *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	if (bytes) {
		ch->ring = malloc(bytes);
		if (!ch->ring) {
			free(ch);
			return -ENOMEM;
		}
	}
	atomic_init(&ch->lock.word, 0);
	atomic_init(&ch->refs, 1);
	ch->msg_size = msg_size;
	ch->cap = cap;
	ch->ring_cap = ring_cap;
	ch->oneshot = oneshot;
	ch->unbounded = cap == SIZE_MAX;
	*out = ch;
	return 0;
}

int orca_chan_create(orca_chan **ch, size_t msg_size, size_t capacity)
{
	if (capacity >= SIZE_MAX >> 1)
		return -EINVAL;
	return chan_new(ch, msg_size, capacity, capacity, false);
}

int orca_chan_create_unbounded(orca_chan **ch, size_t msg_size)
{
	/* Without payload the ring is only a count: it never needs to grow. */
	return chan_new(ch, msg_size, SIZE_MAX, msg_size ? UNBOUNDED_MIN_SLOTS : SIZE_MAX, false);
}

int orca_chan_create_oneshot(orca_chan **ch, size_t msg_size)
{
	return chan_new(ch, msg_size, 1, 1, true);
}

int orca_chan_retain(orca_chan *ch)
{
	if (!ch)
		return -EINVAL;
	atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
	return 0;
}

int orca_chan_release(orca_chan *ch)
{
	if (!ch)
		return -EINVAL;
	/* acq_rel: the last owner sees every other owner's use before freeing. */
	if (atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel) == 1) {
		free(ch->ring);
		free(ch);
	}
	return 0;
}

/* ---- ring buffer (under the lock) --------------------------------------------------------- */

static unsigned char *slot(orca_chan *ch, size_t i)
{
	return ch->ring + i * ch->msg_size;
}

/* Moves the messages into a ring of ncap slots (>= len). */
static int ring_resize(orca_chan *ch, size_t ncap)
{
	unsigned char *nr = malloc(ncap * ch->msg_size);
	if (!nr)
		return -ENOMEM;
	size_t first = ch->ring_cap - ch->head;
	if (first > ch->len)
		first = ch->len;
	memcpy(nr, slot(ch, ch->head), first * ch->msg_size);
	memcpy(nr + first * ch->msg_size, ch->ring, (ch->len - first) * ch->msg_size);
	free(ch->ring);
	ch->ring = nr;
	ch->ring_cap = ncap;
	ch->head = 0;
	return 0;
}

static int ring_push(orca_chan *ch, const void *msg)
{
	if (ch->len == ch->ring_cap) {
		/* Only an unbounded ring can be full here (a bounded one has room by the
		 * time a sender gets this far). */
		if (ch->ring_cap > (SIZE_MAX >> 2) / (ch->msg_size ? ch->msg_size : 1))
			return -ENOMEM;
		int r = ring_resize(ch, ch->ring_cap * 2);
		if (r)
			return r;
	}
	if (ch->msg_size) {
		size_t i = ch->head + ch->len;
		if (i >= ch->ring_cap)
			i -= ch->ring_cap;
		memcpy(slot(ch, i), msg, ch->msg_size);
	}
	ch->len++;
	return 0;
}

static void ring_pop(orca_chan *ch, void *buf)
{
	if (ch->msg_size && buf)
		memcpy(buf, slot(ch, ch->head), ch->msg_size);
	if (++ch->head == ch->ring_cap)
		ch->head = 0;
	ch->len--;
	/* Give back what a burst made an unbounded ring grow to (best effort). */
	if (ch->unbounded && ch->msg_size && ch->ring_cap > 4 * UNBOUNDED_MIN_SLOTS &&
	    ch->len < ch->ring_cap / 4)
		(void)ring_resize(ch, ch->ring_cap / 2);
}

/* ---- serving waiters (under the lock) ----------------------------------------------------- */

/* Grants the free slots to waiting senders (step 1). */
static void grant_senders(orca_chan *ch, orca__wake_batch *b)
{
	while (ch->senders.head && ch->len + ch->reserved < ch->cap && !orca__wake_batch_full(b)) {
		ch->reserved++;
		orca__waiter_serve(&ch->senders, ch->senders.head, b, ORCA__W_GRANTED);
	}
}

/* Gives the first waiting receiver a wake-up if a message is there (step 2). */
static void wake_receiver(orca_chan *ch, orca__wake_batch *b)
{
	if (ch->receivers.head && ch->len > 0 && !orca__wake_batch_full(b))
		orca__waiter_serve(&ch->receivers, ch->receivers.head, b, ORCA__W_GRANTED);
}

/* Releases the lock and wakes b; first, if the channel is closing (close, or a
 * oneshot that just got its message), serves every waiter with CLOSED (step 3). */
static void unlock_and_wake(orca_chan *ch, orca__wake_batch *b, bool closing)
{
	if (closing)
		ch->closed = true;
	for (;;) {
		while (closing && ch->senders.head && !orca__wake_batch_full(b))
			orca__waiter_serve(&ch->senders, ch->senders.head, b, ORCA__W_CLOSED);
		while (closing && ch->receivers.head && !orca__wake_batch_full(b))
			orca__waiter_serve(&ch->receivers, ch->receivers.head, b, ORCA__W_CLOSED);
		bool more = closing && (ch->senders.head || ch->receivers.head);
		orca__lock_release(&ch->lock);
		orca__wake_batch_run(b);
		if (!more)
			return;
		orca__lock_acquire(&ch->lock);
	}
}

/* Puts msg into the channel, which has room; wakes a receiver. On success a oneshot
 * closes (the caller's unlock_and_wake does it when told `closing`). */
static int push_locked(orca_chan *ch, const void *msg, orca__wake_batch *b)
{
	int r = ring_push(ch, msg);
	if (r == 0)
		wake_receiver(ch, b);
	return r;
}

/* Takes the oldest message; grants the freed slot. */
static void pop_locked(orca_chan *ch, void *buf, orca__wake_batch *b)
{
	ring_pop(ch, buf);
	grant_senders(ch, b);
}

static bool has_room(orca_chan *ch)
{
	return orca__waitq_empty(&ch->senders) && ch->len + ch->reserved < ch->cap;
}

/* ---- non-waiting operations ----------------------------------------------------------------- */

int orca_chan_close(orca_chan *ch)
{
	if (!ch)
		return -EINVAL;
	orca__wake_batch b;
	b.n = 0;
	orca__lock_acquire(&ch->lock);
	unlock_and_wake(ch, &b, true);
	return 0;
}

bool orca_chan_is_closed(orca_chan *ch)
{
	if (!ch)
		return false;
	orca__lock_acquire(&ch->lock);
	bool closed = ch->closed;
	orca__lock_release(&ch->lock);
	return closed;
}

int64_t orca_chan_len(orca_chan *ch)
{
	if (!ch)
		return -EINVAL;
	orca__lock_acquire(&ch->lock);
	size_t len = ch->len;
	orca__lock_release(&ch->lock);
	return (int64_t)len;
}

int orca_chan_try_send(orca_chan *ch, const void *msg)
{
	if (!ch || (!msg && ch->msg_size))
		return -EINVAL;
	orca__wake_batch b;
	b.n = 0;
	orca__lock_acquire(&ch->lock);
	int r = ch->closed ? -EPIPE : has_room(ch) ? push_locked(ch, msg, &b) : -EAGAIN;
	unlock_and_wake(ch, &b, r == 0 && ch->oneshot);
	return r;
}

int orca_chan_try_recv(orca_chan *ch, void *buf)
{
	if (!ch)
		return -EINVAL;
	orca__wake_batch b;
	b.n = 0;
	int r = 0;
	orca__lock_acquire(&ch->lock);
	if (ch->len > 0)
		pop_locked(ch, buf, &b);
	else
		r = ch->closed ? -EPIPE : -EAGAIN;
	unlock_and_wake(ch, &b, false);
	return r;
}

/* ---- the send future ------------------------------------------------------------------------ */

static void set_idle(orca__chan_op *op)
{
	atomic_store_explicit(&op->node.state, ORCA__W_IDLE, memory_order_relaxed);
}

static orca_poll send_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	orca__chan_op *op = (orca__chan_op *)f;
	orca_chan *ch = op->ch;
	if (!ch) {
		*out = -EINVAL;
		return ORCA_READY;
	}
	orca__wake_batch b;
	b.n = 0;
	orca_waker stale = {0};
	orca__lock_acquire(&ch->lock);
	uint32_t ws = atomic_load_explicit(&op->node.state, memory_order_relaxed);
	if (ch->closed) {
		if (ws == ORCA__W_WAITING)
			orca__waiter_leave(&ch->senders, &op->node, &stale);
		else if (ws == ORCA__W_GRANTED)
			ch->reserved--; /* nobody to pass the slot to: every sender fails */
		set_idle(op);
		orca__lock_release(&ch->lock);
		orca_waker_drop(&stale);
		*out = -EPIPE;
		return ORCA_READY;
	}
	if (ws == ORCA__W_WAITING) {
		orca__waiter_refresh(&op->node, cx->waker, &stale);
		orca__lock_release(&ch->lock);
		orca_waker_drop(&stale);
		orca__note_wait(cx, "channel send", ORCA__WAIT_ADDR, (int64_t)(intptr_t)ch);
		return ORCA_PENDING;
	}
	if (ws == ORCA__W_GRANTED) {
		ch->reserved--; /* the slot granted to us: fill it */
		set_idle(op);
	} else if (!has_room(ch)) {
		orca__waiter_enqueue(&ch->senders, &op->node, cx->waker, false);
		orca__lock_release(&ch->lock);
		orca__note_wait(cx, "channel send", ORCA__WAIT_ADDR, (int64_t)(intptr_t)ch);
		return ORCA_PENDING;
	}
	int r = push_locked(ch, op->msg, &b);
	unlock_and_wake(ch, &b, r == 0 && ch->oneshot);
	*out = r;
	return ORCA_READY;
}

/* A send or receive abandoned (abort, timeout, lost select) while queued or just
 * served: leaves its queue, or passes on what it was handed at that moment, the
 * slot (a sender) or the wake-up (a receiver). */
static void op_drop(orca__chan_op *op, bool sender)
{
	orca_chan *ch = op->ch;
	if (!ch)
		return;
	uint32_t ws = orca__waiter_state(&op->node);
	if (ws != ORCA__W_WAITING && ws != ORCA__W_GRANTED)
		return;
	orca__wake_batch b;
	b.n = 0;
	orca_waker stale = {0};
	orca__lock_acquire(&ch->lock);
	ws = atomic_load_explicit(&op->node.state, memory_order_relaxed);
	if (ws == ORCA__W_WAITING) {
		orca__waiter_leave(sender ? &ch->senders : &ch->receivers, &op->node, &stale);
	} else if (ws == ORCA__W_GRANTED && sender) {
		ch->reserved--;
		if (!ch->closed)
			grant_senders(ch, &b);
	} else if (ws == ORCA__W_GRANTED) {
		wake_receiver(ch, &b);
	}
	set_idle(op);
	unlock_and_wake(ch, &b, false);
	orca_waker_drop(&stale);
}

static void send_drop(orca_future *f)
{
	op_drop((orca__chan_op *)f, true);
}

static const orca_future_vtable send_vtable = {.poll = send_poll, .drop = send_drop};

/* ---- the receive future -------------------------------------------------------------------- */

static orca_poll recv_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	orca__chan_op *op = (orca__chan_op *)f;
	orca_chan *ch = op->ch;
	if (!ch) {
		*out = -EINVAL;
		return ORCA_READY;
	}
	orca__wake_batch b;
	b.n = 0;
	orca_waker stale = {0};
	orca__lock_acquire(&ch->lock);
	uint32_t ws = atomic_load_explicit(&op->node.state, memory_order_relaxed);
	orca_poll p = ORCA_READY;
	if (ch->len > 0 || ch->closed) {
		if (ws == ORCA__W_WAITING)
			orca__waiter_leave(&ch->receivers, &op->node, &stale);
		set_idle(op);
		if (ch->len > 0) {
			pop_locked(ch, op->msg, &b);
			*out = 0;
		} else {
			*out = -EPIPE;
		}
	} else if (ws == ORCA__W_WAITING) {
		orca__waiter_refresh(&op->node, cx->waker, &stale);
		p = ORCA_PENDING;
	} else {
		/* Woken but another receiver took the message: keep our place. */
		orca__waiter_enqueue(&ch->receivers, &op->node, cx->waker, ws == ORCA__W_GRANTED);
		p = ORCA_PENDING;
	}
	unlock_and_wake(ch, &b, false);
	orca_waker_drop(&stale);
	if (p == ORCA_PENDING)
		orca__note_wait(cx, "channel recv", ORCA__WAIT_ADDR, (int64_t)(intptr_t)ch);
	return p;
}

static void recv_drop(orca_future *f)
{
	op_drop((orca__chan_op *)f, false);
}

static const orca_future_vtable recv_vtable = {.poll = recv_poll, .drop = recv_drop};

/* ---- futures and wrappers ------------------------------------------------------------------ */

static orca_future *op_init(orca_chan_future *f, const orca_future_vtable *vt, orca_chan *ch,
			    void *msg)
{
	if (!f)
		return NULL;
	orca__chan_op *op = (orca__chan_op *)(void *)f;
	op->base.vtable = vt;
	orca__waiter_init(&op->node, 0);
	op->ch = ch;
	op->msg = msg;
	return &op->base;
}

orca_future *orca_chan_send_future(orca_chan_future *f, orca_chan *ch, const void *msg)
{
	if (ch && !msg && ch->msg_size)
		ch = NULL; /* a future that fails with -EINVAL */
	return op_init(f, &send_vtable, ch, (void *)msg);
}

orca_future *orca_chan_recv_future(orca_chan_future *f, orca_chan *ch, void *buf)
{
	return op_init(f, &recv_vtable, ch, buf);
}

int orca_chan_send(orca_chan *ch, const void *msg)
{
	orca_chan_future f;
	return (int)orca__sync_await(orca_chan_send_future(&f, ch, msg), -1);
}

int orca_chan_send_timeout(orca_chan *ch, const void *msg, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int)orca__sync_await(orca_chan_send_future(&f, ch, msg),
				     timeout_ns < 0 ? 0 : timeout_ns);
}

int orca_chan_send_blocking(orca_chan *ch, const void *msg, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int)orca__sync_wait_blocking(orca_chan_send_future(&f, ch, msg), timeout_ns);
}

int orca_chan_recv(orca_chan *ch, void *buf)
{
	orca_chan_future f;
	return (int)orca__sync_await(orca_chan_recv_future(&f, ch, buf), -1);
}

int orca_chan_recv_timeout(orca_chan *ch, void *buf, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int)orca__sync_await(orca_chan_recv_future(&f, ch, buf),
				     timeout_ns < 0 ? 0 : timeout_ns);
}

int orca_chan_recv_blocking(orca_chan *ch, void *buf, int64_t timeout_ns)
{
	orca_chan_future f;
	return (int)orca__sync_wait_blocking(orca_chan_recv_future(&f, ch, buf), timeout_ns);
}
