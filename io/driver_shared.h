/* What both backends (io/uring_driver.c, io/epoll_driver.c) share: parking (the
 * state machine of runtime/park.h and an eventfd: driver.h's protocol), the cancel
 * list that carries cancels from other workers to the owning worker (op.h's rule),
 * the completion hand-off to the waiting task (which also turns the -ECANCELED of an
 * op ended by orca_close into -EBADF: fd_close.h), and the counters. */
#ifndef ORCA_IO_DRIVER_SHARED_H
#define ORCA_IO_DRIVER_SHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver.h"
#include "op.h"
#include "park.h"

/* ---- parking ------------------------------------------------------------------------ */

/* A driver's parking: runtime/park.h's state machine, with the driver's wait as the
 * sleep and an eventfd as the wake-up (driver.h's protocol). */
typedef struct orca__parking {
	_Alignas(64) orca__parker parker; /* park.h's state word */
	int eventfd; /* non-blocking; written by unpark while PARKED, watched by the wait */
	int yields;  /* sched_yield()s before a wait (orca__parking_yield) */
} orca__parking;

/* Creates the eventfd: 0 or -errno. */
int orca__parking_init(orca__parking *p);
void orca__parking_destroy(orca__parking *p);
/* Owner, step 2 of driver.h: true if the state is now PARKED (wait, then call
 * orca__parking_done); false if a pending unpark was consumed instead (just poll). */
static inline bool orca__parking_begin(orca__parking *p)
{
	return orca__parker_begin(&p->parker);
}
static inline void orca__parking_done(orca__parking *p)
{
	orca__parker_done(&p->parker);
}
/* Owner, before step 2: gives the CPU away up to p->yields times while nothing has
 * arrived (no unpark pending, ready(arg) false), as Tokio's parker does before it
 * sleeps: on a machine whose CPUs are all busy, the threads that produce this
 * worker's next events (a client, another worker) run now, and the wait that follows
 * finds them instead of sleeping and being woken. */
void orca__parking_yield(orca__parking *p, bool (*ready)(void *arg), void *arg);
/* Ends the owner's wait: writes the eventfd. */
void orca__parking_wake(orca__parking *p);
/* Any thread, step 1 of driver.h: no system call unless the owner is parked. */
static inline void orca__parking_unpark(orca__parking *p)
{
	if (orca__parker_unpark(&p->parker))
		orca__parking_wake(p);
}

/* ---- cancels from other workers ---------------------------------------------------- */

typedef struct orca__cancel_list {
	_Alignas(64) pthread_mutex_t lock;
	orca__op *head; /* under lock, through op->cancel_next */
	_Atomic int pending;
} orca__cancel_list;

void orca__cancel_list_init(orca__cancel_list *l);
void orca__cancel_list_destroy(orca__cancel_list *l);
/* Any thread: queues a cancel request for op, under the op's lock and only if op is
 * still CANCELLING (not completed meanwhile). Returns true if queued: the caller then
 * unparks the owner. */
bool orca__cancel_list_push(orca__cancel_list *l, orca__op *op);
/* Owner: takes every request (NULL if none), chained through cancel_next. The ops
 * are off the list and still pending; read an op's cancel_next before anything can
 * complete it. */
orca__op *orca__cancel_list_take(orca__cancel_list *l);

/* ---- completion ----------------------------------------------------------------------- */

/* Owner: op has finished and is on none of the driver's own lists. Takes it off the
 * cancel list if it is there (under the op's lock, before it is marked COMPLETED),
 * stores res, then wakes the task. op may be gone once this returns. res -ECANCELED
 * for an op that is not CANCELLING (its task did not ask) means orca_close ended it
 * (fd_close.h): it is stored as -EBADF. */
void orca__op_complete(orca__cancel_list *l, orca__op *op, int32_t res);

/* True for the operations that write into their buffer (the ASan completion check). */
static inline bool orca__op_writes_into_buffer(const orca__op *op)
{
	return op->kind == ORCA_OP_READ || op->kind == ORCA_OP_PREAD || op->kind == ORCA_OP_RECV;
}

#if defined(__SANITIZE_ADDRESS__)
#define ORCA_IO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ORCA_IO_ASAN 1
#endif
#endif
#if ORCA_IO_ASAN
int __asan_region_is_poisoned(void *beg, size_t size);
#endif

/* Nanoseconds from now (CLOCK_MONOTONIC) to deadline_ns, 0 if it has passed. */
int64_t orca__ns_left(int64_t deadline_ns);

/* ---- counters ------------------------------------------------------------------------ */

typedef struct orca__driver_counters {
	_Atomic uint64_t enters, submitted, completions, accept_arms;
} orca__driver_counters;

/* Owner-only writer: a relaxed load + store, no locked instruction. */
static inline void orca__count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

void orca__counters_read(orca__driver_counters *c, orca__driver_stats *out);

#endif
