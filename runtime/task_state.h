/* The task state word: every flag of a task's life and its reference count in one
 * atomic 64-bit word, changed only by compare-and-swap or fetch-ops, so that a wake
 * racing with a poll is never lost and never runs the task twice, and the memory is
 * freed exactly once. Tokio's task/state.rs is the model; the transitions below keep
 * its names where they mean the same.
 *
 * Flags:
 *   RUNNING        a worker is polling / running the task (at most one at a time)
 *   COMPLETE       the task has finished; its result is published
 *   NOTIFIED       the task is (or will be) in a run queue; whoever set it holds the
 *                  "scheduled" reference that the queue entry owns
 *   CANCELLED      abort was requested before completion
 *   JOIN_INTEREST  a join handle exists
 *   JOIN_WAKER     the join waker slot is written and owned by the task side
 * References (upper bits, REF_ONE each): the owned-tasks list (until completion), the
 * join handle, a queue entry (while NOTIFIED or RUNNING), and each waker clone.
 * A task in a run queue is NOTIFIED, or RUNNING if it yielded (transition_to_running).
 *
 * Model: tests/model/task_state_model.cc checks these transitions under relacy
 * (wake racing with run, complete, abort and join; a yielded task queued RUNNING).
 */
#ifndef ORCA_RUNTIME_TASK_STATE_H
#define ORCA_RUNTIME_TASK_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "panic.h"

#define ORCA_ST_RUNNING ((uint64_t)1 << 0)
#define ORCA_ST_COMPLETE ((uint64_t)1 << 1)
#define ORCA_ST_NOTIFIED ((uint64_t)1 << 2)
#define ORCA_ST_CANCELLED ((uint64_t)1 << 3)
#define ORCA_ST_JOIN_INTEREST ((uint64_t)1 << 4)
#define ORCA_ST_JOIN_WAKER ((uint64_t)1 << 5)
#define ORCA_ST_REF_SHIFT 6
#define ORCA_ST_REF_ONE ((uint64_t)1 << ORCA_ST_REF_SHIFT)
#define ORCA_ST_FLAGS (ORCA_ST_REF_ONE - 1)

static inline uint64_t orca__st_refs(uint64_t s)
{
	return s >> ORCA_ST_REF_SHIFT;
}

/* A new task: referenced by the owned list, the queue entry it is about to get and
 * (if wanted) its join handle; NOTIFIED because it is about to be scheduled. */
static inline uint64_t orca__st_initial(bool join_handle)
{
	return (join_handle ? 3 : 2) * ORCA_ST_REF_ONE | ORCA_ST_NOTIFIED |
	       (join_handle ? ORCA_ST_JOIN_INTEREST : 0);
}

static inline void orca__st_ref_inc(_Atomic uint64_t *st)
{
	/* Relaxed: a new reference is made from an existing one, which already keeps the
	 * task alive; nothing is published by taking it. */
	uint64_t prev = atomic_fetch_add_explicit(st, ORCA_ST_REF_ONE, memory_order_relaxed);
	if (orca__st_refs(prev) >= ((uint64_t)1 << 56))
		orca__panic("task state: reference count overflow");
}

/* Drops one reference; true if it was the last (the caller frees the task). */
static inline bool orca__st_ref_dec(_Atomic uint64_t *st, uint64_t n)
{
	/* AcqRel: every use of the task by this reference happens-before the free done
	 * by whoever drops the last one. */
	uint64_t prev = atomic_fetch_sub_explicit(st, n * ORCA_ST_REF_ONE, memory_order_acq_rel);
	if (orca__st_refs(prev) < n)
		orca__panic("task state: reference count underflow");
	return orca__st_refs(prev) == n;
}

/* NOTIFIED -> RUNNING (the worker took the task's queue entry). Returns the new
 * state (the caller reads CANCELLED from it).
 *
 * A task that yielded is queued still RUNNING (see task.c, task_after_run): nobody
 * else runs or queues a RUNNING task, and a wake meanwhile only sets NOTIFIED (the
 * task is then polled once more after it next suspends). Taking it from the queue
 * changes nothing, so a yield costs no state RMW at either end: the switch between
 * two yielding tasks went from three locked instructions to one (the queue pop). */
static inline uint64_t orca__st_transition_to_running(_Atomic uint64_t *st)
{
	/* Acquire, as below. A task seen RUNNING here yielded: the holder of its
	 * queue entry (us) is the only one who may run it, so it stays RUNNING. */
	uint64_t cur = atomic_load_explicit(st, memory_order_acquire);
	if (cur & ORCA_ST_RUNNING) {
		if (cur & ORCA_ST_COMPLETE)
			orca__panic("task state: run of a completed task");
		return cur; /* it yielded */
	}
	/* NOTIFIED is set and RUNNING clear whenever a task is taken from a queue, so
	 * "set RUNNING, clear NOTIFIED" is "subtract NOTIFIED - RUNNING": one lock xadd
	 * instead of a load and a compare-exchange loop. The invariant is checked on
	 * the value before. Acquire: see everything written before the wake that
	 * queued the task. */
	uint64_t prev = atomic_fetch_sub_explicit(st, ORCA_ST_NOTIFIED - ORCA_ST_RUNNING,
						  memory_order_acquire);
	if (!(prev & ORCA_ST_NOTIFIED) || (prev & (ORCA_ST_RUNNING | ORCA_ST_COMPLETE)))
		orca__panic("task state: run of a task that is not NOTIFIED-idle");
	return prev - (ORCA_ST_NOTIFIED - ORCA_ST_RUNNING);
}

enum orca__st_idle { ORCA_ST_IDLE_OK, ORCA_ST_IDLE_NOTIFIED };

/* RUNNING -> idle after the task suspended. If it was notified while running, it
 * stays NOTIFIED and keeps its queue reference (the caller re-queues it);
 * otherwise the queue reference is dropped here (never the last one: the owned
 * list holds another until completion). */
static inline enum orca__st_idle orca__st_transition_to_idle(_Atomic uint64_t *st)
{
	uint64_t cur = atomic_load_explicit(st, memory_order_relaxed);
	for (;;) {
		if (!(cur & ORCA_ST_RUNNING))
			orca__panic("task state: idle transition of a task that is not RUNNING");
		uint64_t next = cur & ~ORCA_ST_RUNNING;
		enum orca__st_idle r = ORCA_ST_IDLE_NOTIFIED;
		if (!(cur & ORCA_ST_NOTIFIED)) {
			if (orca__st_refs(cur) < 2)
				orca__panic("task state: idle task would have no reference left");
			next -= ORCA_ST_REF_ONE;
			r = ORCA_ST_IDLE_OK;
		}
		/* Release: the task's writes before suspending are seen by the worker that
		 * runs it next (it acquires in transition_to_running). Acquire: a wake that
		 * set NOTIFIED published its data to us. */
		if (atomic_compare_exchange_weak_explicit(st, &cur, next, memory_order_acq_rel,
							  memory_order_relaxed))
			return r;
	}
}

/* RUNNING -> COMPLETE. Returns the state before. AcqRel: the result written
 * before is published to the joiner (which acquires), and the join waker written
 * by the joiner is visible to us. */
static inline uint64_t orca__st_transition_to_complete(_Atomic uint64_t *st)
{
	uint64_t prev = atomic_fetch_xor_explicit(st, ORCA_ST_RUNNING | ORCA_ST_COMPLETE,
						  memory_order_acq_rel);
	if (!(prev & ORCA_ST_RUNNING) || (prev & ORCA_ST_COMPLETE))
		orca__panic("task state: completion of a task that is not RUNNING");
	return prev;
}

enum orca__st_notify { ORCA_ST_DO_NOTHING, ORCA_ST_SUBMIT, ORCA_ST_DEALLOC };

/* A wake through a borrowed waker. SUBMIT: the caller must queue the task (a new
 * reference was taken for the queue entry). */
static inline enum orca__st_notify orca__st_transition_to_notified_by_ref(_Atomic uint64_t *st)
{
	uint64_t cur = atomic_load_explicit(st, memory_order_relaxed);
	for (;;) {
		uint64_t next;
		enum orca__st_notify r;
		if (cur & (ORCA_ST_COMPLETE | ORCA_ST_NOTIFIED)) {
			return ORCA_ST_DO_NOTHING;
		} else if (cur & ORCA_ST_RUNNING) {
			/* The worker running it re-queues it when it suspends. */
			next = cur | ORCA_ST_NOTIFIED;
			r = ORCA_ST_DO_NOTHING;
		} else {
			next = (cur | ORCA_ST_NOTIFIED) + ORCA_ST_REF_ONE;
			r = ORCA_ST_SUBMIT;
		}
		/* Release: when this wake is the one that queues the task, what the waker's
		 * caller wrote before is seen by the run. A wake that finds the task already
		 * NOTIFIED or COMPLETE writes nothing and publishes nothing: a future must
		 * synchronise with its waker through its own state (a lock or an RMW). */
		if (atomic_compare_exchange_weak_explicit(st, &cur, next, memory_order_acq_rel,
							  memory_order_relaxed))
			return r;
	}
}

/* A wake that consumes the waker's reference. SUBMIT: the reference moved to the
 * queue entry; DEALLOC: it was the last one, the caller frees the task. */
static inline enum orca__st_notify orca__st_transition_to_notified_by_val(_Atomic uint64_t *st)
{
	uint64_t cur = atomic_load_explicit(st, memory_order_relaxed);
	for (;;) {
		uint64_t next;
		enum orca__st_notify r;
		if (orca__st_refs(cur) == 0)
			orca__panic("task state: wake of a task with no reference");
		if (cur & ORCA_ST_RUNNING) {
			next = (cur | ORCA_ST_NOTIFIED) - ORCA_ST_REF_ONE;
			r = ORCA_ST_DO_NOTHING;
		} else if (cur & (ORCA_ST_COMPLETE | ORCA_ST_NOTIFIED)) {
			next = cur - ORCA_ST_REF_ONE;
			r = orca__st_refs(next) == 0 ? ORCA_ST_DEALLOC : ORCA_ST_DO_NOTHING;
		} else {
			next = cur | ORCA_ST_NOTIFIED;
			r = ORCA_ST_SUBMIT;
		}
		if (atomic_compare_exchange_weak_explicit(st, &cur, next, memory_order_acq_rel,
							  memory_order_relaxed))
			return r;
	}
}

/* Abort: set CANCELLED (unless complete or already cancelled) and make sure the task
 * runs to observe it. SUBMIT: the caller queues it (a reference was taken). */
static inline enum orca__st_notify orca__st_transition_to_notified_and_cancel(_Atomic uint64_t *st)
{
	uint64_t cur = atomic_load_explicit(st, memory_order_relaxed);
	for (;;) {
		uint64_t next;
		enum orca__st_notify r = ORCA_ST_DO_NOTHING;
		if (cur & (ORCA_ST_COMPLETE | ORCA_ST_CANCELLED))
			return ORCA_ST_DO_NOTHING;
		if (cur & (ORCA_ST_RUNNING | ORCA_ST_NOTIFIED)) {
			next = cur | ORCA_ST_CANCELLED | ORCA_ST_NOTIFIED;
		} else {
			next = (cur | ORCA_ST_CANCELLED | ORCA_ST_NOTIFIED) + ORCA_ST_REF_ONE;
			r = ORCA_ST_SUBMIT;
		}
		if (atomic_compare_exchange_weak_explicit(st, &cur, next, memory_order_acq_rel,
							  memory_order_relaxed))
			return r;
	}
}

/* Join side: publish the join waker written into the task (JOIN_WAKER now owned by
 * the task side). Fails (returns false, *snap set) if the task completed first; the
 * joiner then still owns the slot. */
static inline bool orca__st_set_join_waker(_Atomic uint64_t *st, uint64_t *snap)
{
	/* Acquire (load and failed CAS): on COMPLETE, the result is visible. */
	uint64_t cur = atomic_load_explicit(st, memory_order_acquire);
	for (;;) {
		if (!(cur & ORCA_ST_JOIN_INTEREST) || (cur & ORCA_ST_JOIN_WAKER))
			orca__panic("task state: join waker set without interest or twice");
		if (cur & ORCA_ST_COMPLETE) {
			*snap = cur;
			return false;
		}
		/* Release: the waker written into the slot is seen by the completer. */
		if (atomic_compare_exchange_weak_explicit(st, &cur, cur | ORCA_ST_JOIN_WAKER,
							  memory_order_acq_rel, memory_order_acquire))
			return true;
	}
}

/* Join side: take the join waker slot back (to replace the waker). Fails if the task
 * completed first (the task side may be reading the slot). */
static inline bool orca__st_unset_join_waker(_Atomic uint64_t *st, uint64_t *snap)
{
	uint64_t cur = atomic_load_explicit(st, memory_order_acquire);
	for (;;) {
		/* COMPLETE first: the completing side may already have woken the old
		 * waker and cleared JOIN_WAKER (tests/model/task_state_model.cc,
		 * join_replace_vs_complete). */
		if (cur & ORCA_ST_COMPLETE) {
			*snap = cur;
			return false;
		}
		if (!(cur & ORCA_ST_JOIN_INTEREST) || !(cur & ORCA_ST_JOIN_WAKER))
			orca__panic("task state: join waker unset without interest or waker");
		if (atomic_compare_exchange_weak_explicit(st, &cur, cur & ~ORCA_ST_JOIN_WAKER,
							  memory_order_acq_rel, memory_order_acquire))
			return true;
	}
}

/* Task side, after waking the joiner on completion: give the slot back. Returns the
 * state before; if JOIN_INTEREST is gone the handle was dropped meanwhile and the
 * task side must drop the waker itself. */
static inline uint64_t orca__st_unset_join_waker_after_complete(_Atomic uint64_t *st)
{
	return atomic_fetch_and_explicit(st, ~ORCA_ST_JOIN_WAKER, memory_order_acq_rel);
}

/* The join handle goes away. Clears JOIN_INTEREST, and JOIN_WAKER too if the task is
 * not complete (the handle then owns the slot). Returns true if the handle owns the
 * slot and must drop whatever waker is left in it; false if the task side still
 * holds it (it drops it after seeing JOIN_INTEREST gone). */
static inline bool orca__st_transition_to_join_handle_dropped(_Atomic uint64_t *st)
{
	uint64_t cur = atomic_load_explicit(st, memory_order_acquire);
	for (;;) {
		if (!(cur & ORCA_ST_JOIN_INTEREST))
			orca__panic("task state: join handle released twice");
		uint64_t next = cur & ~ORCA_ST_JOIN_INTEREST;
		if (!(cur & ORCA_ST_COMPLETE))
			next &= ~ORCA_ST_JOIN_WAKER;
		if (atomic_compare_exchange_weak_explicit(st, &cur, next, memory_order_acq_rel,
							  memory_order_acquire))
			return !(next & ORCA_ST_JOIN_WAKER);
	}
}

#endif
