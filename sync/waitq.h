/* Waiter nodes and the intrusive FIFO of them that every sync primitive and
 * channel keeps (libuv's queue.h style: small static inline helpers).
 *
 * A node lives inside the waiting future, so inside the waiting task's frame: no
 * allocation per wait. It is linked, unlinked and its waker moved only under the
 * owning primitive's lock (lock.h). Its state word is atomic because a waiter may
 * read it without the lock to learn that it has been served:
 *
 *   IDLE     never queued (a future that has not been polled, or was served at once)
 *   WAITING  linked into a queue with a waker
 *   GRANTED  unlinked and handed something it owes back if it is dropped now (a
 *            permit, the lock, a slot, a wake-up token): its drop hook passes it on
 *   RELEASED unlinked by an event meant for everyone (notify_all, a barrier
 *            tripping, a wait group reaching zero, a new broadcast value): nothing
 *            to pass on
 *   CLOSED   unlinked because the primitive or channel was closed
 *
 * Whoever serves a node unlinks it, moves its waker out, and stores the new state
 * with release as its very last touch of the node; the waker is woken after the
 * lock is released. From that store on the node belongs to its future again (its
 * task may already be running and may free the frame), which is why the waker is
 * moved out first.
 *
 * Model: tests/model/sem_model.cc (relacy) compiles this file, under the semaphore.
 */
#ifndef ORCA_SYNC_WAITQ_H
#define ORCA_SYNC_WAITQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <orca/future.h>

#include "lock.h"

/* The internal types of sync/ overlay the public fixed-size blobs (orca_mutex,
 * orca_sync_future, ...): tell the compiler they may alias them. */
#define ORCA__MAY_ALIAS __attribute__((__may_alias__))

enum {
	ORCA__W_IDLE = 0,
	ORCA__W_WAITING = 1,
	ORCA__W_GRANTED = 2,
	ORCA__W_RELEASED = 3,
	ORCA__W_CLOSED = 4,
};

typedef struct orca__waiter {
	struct orca__waiter *prev;
	struct orca__waiter *next;
	orca_waker waker;       /* under the lock, while WAITING */
	_Atomic uint32_t state; /* ORCA__W_*: written under the lock, read without it */
	uint32_t aux;           /* per primitive (a rwlock's writer flag, ...) */
	uint64_t n;             /* permits wanted, or the generation it waits in */
} orca__waiter;

typedef struct orca__waitq {
	orca__waiter *head;
	orca__waiter *tail;
} orca__waitq;

static inline uint32_t orca__waiter_state(orca__waiter *w)
{
	/* Acquire: pairs with the release store of whoever served the node, so what
	 * it did before (handed over a lock, wrote a value) is visible. */
	return atomic_load_explicit(&w->state, memory_order_acquire);
}

static inline void orca__waiter_set_state(orca__waiter *w, uint32_t s)
{
	atomic_store_explicit(&w->state, s, memory_order_release);
}

static inline void orca__waiter_init(orca__waiter *w, uint64_t n)
{
	w->prev = w->next = NULL;
	w->waker = (orca_waker){0};
	atomic_init(&w->state, ORCA__W_IDLE);
	w->aux = 0;
	w->n = n;
}

static inline bool orca__waitq_empty(const orca__waitq *q)
{
	return q->head == NULL;
}

static inline void orca__waitq_push_back(orca__waitq *q, orca__waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

static inline void orca__waitq_push_front(orca__waitq *q, orca__waiter *w)
{
	w->prev = NULL;
	w->next = q->head;
	if (q->head)
		q->head->prev = w;
	else
		q->tail = w;
	q->head = w;
}

static inline void orca__waitq_remove(orca__waitq *q, orca__waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->prev = w->next = NULL;
}

/* Queues w (at the back, or the front when it keeps its place after a wake-up
 * that another waiter took) as WAITING with a clone of the polling task's waker.
 * Under the lock. */
static inline void orca__waiter_enqueue(orca__waitq *q, orca__waiter *w, const orca_waker *waker,
					bool front)
{
	w->waker = orca_waker_clone(waker);
	atomic_store_explicit(&w->state, ORCA__W_WAITING, memory_order_relaxed);
	if (front)
		orca__waitq_push_front(q, w);
	else
		orca__waitq_push_back(q, w);
}

/* A WAITING node polled again: keeps the stored waker if it wakes the same task,
 * else swaps in a clone and hands the old one back in *stale, to be dropped after
 * the lock is released. Under the lock. */
static inline void orca__waiter_refresh(orca__waiter *w, const orca_waker *waker, orca_waker *stale)
{
	if (orca_waker_will_wake(&w->waker, waker))
		return;
	*stale = w->waker;
	w->waker = orca_waker_clone(waker);
}

/* A WAITING node leaves the queue on its own (its future was dropped): unlinks it
 * and hands its waker back in *stale. Under the lock. */
static inline void orca__waiter_leave(orca__waitq *q, orca__waiter *w, orca_waker *stale)
{
	orca__waitq_remove(q, w);
	*stale = w->waker;
	w->waker = (orca_waker){0};
	atomic_store_explicit(&w->state, ORCA__W_IDLE, memory_order_relaxed);
}

/* Wakers collected under a lock and woken after it is released. A batch is
 * bounded (Tokio's WakeList holds 32): a caller waking more releases the lock,
 * wakes the batch and takes the lock again. Test builds use tiny batches so that
 * path runs in every test that wakes more than two waiters. */
#ifdef ORCA_TESTING
#define ORCA__WAKE_BATCH 2
#else
#define ORCA__WAKE_BATCH 32
#endif

typedef struct orca__wake_batch {
	unsigned n;
	orca_waker w[ORCA__WAKE_BATCH];
} orca__wake_batch;

static inline bool orca__wake_batch_full(const orca__wake_batch *b)
{
	return b->n == ORCA__WAKE_BATCH;
}

/* Serves w: unlinks it, moves its waker into b and publishes state s (the last
 * touch of w, see the top of this file). Under the lock; b must not be full. */
static inline void orca__waiter_serve(orca__waitq *q, orca__waiter *w, orca__wake_batch *b,
				      uint32_t s)
{
	orca__waitq_remove(q, w);
	b->w[b->n++] = w->waker;
	w->waker = (orca_waker){0};
	orca__waiter_set_state(w, s);
}

/* Wakes and empties the batch. Without the lock. */
static inline void orca__wake_batch_run(orca__wake_batch *b)
{
	for (unsigned i = 0; i < b->n; i++)
		orca_waker_wake(&b->w[i]);
	b->n = 0;
}

/* Serves, with state s, every node at the head of q whose n is <= upto, in
 * batches. Nodes are queued in the order of their n (a generation stamp taken
 * under the lock), so those queued after the event that calls this (with a larger
 * stamp) stay. Called with l held; returns with l released. */
static inline void orca__waitq_serve_upto(orca__waitq *q, orca__lock *l, uint64_t upto, uint32_t s)
{
	orca__wake_batch b;
	b.n = 0;
	for (;;) {
		while (q->head && q->head->n <= upto && !orca__wake_batch_full(&b))
			orca__waiter_serve(q, q->head, &b, s);
		bool more = q->head && q->head->n <= upto;
		orca__lock_release(l);
		orca__wake_batch_run(&b);
		if (!more)
			return;
		orca__lock_acquire(l);
	}
}

#endif
