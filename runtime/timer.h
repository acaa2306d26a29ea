/* Per-worker timers: a binary min-heap of entries ordered by deadline. Entries live
 * inside the futures that wait on them (orca_sleep_future), so arming a timer
 * allocates nothing (the heap's array grows geometrically and is reused).
 *
 * The heap belongs to one worker, which inserts into it. Removal can come from any
 * worker (a task woken by something else, then migrated, drops its sleep), and an
 * idle worker fires the due timers of every heap (so a worker stuck in a long poll
 * does not hold its timers hostage), so a mutex guards the heap; it is uncontended
 * in the common case.
 *
 * Protocol:
 *  1. arm (owner worker, in poll): lock, store a waker clone, insert, unlock.
 *  2. fire (owner worker): lock, pop every entry whose deadline passed, mark it
 *     FIRED and take its waker, unlock, then wake the wakers. Nothing touches the
 *     entry after the unlock, so its memory may go away at once.
 *  3. poll again (any worker): FIRED (read under the lock) means ready.
 *  4. drop (any worker): lock the entry's heap, remove it if still armed, drop
 *     the waker, unlock.
 */
#ifndef ORCA_RUNTIME_TIMER_H
#define ORCA_RUNTIME_TIMER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <orca/future.h>

enum { ORCA_TIMER_IDLE = 0, ORCA_TIMER_ARMED = 1, ORCA_TIMER_FIRED = 2 };

typedef struct orca__timer_entry {
	int64_t deadline;
	struct orca__timer_heap *heap; /* set while ARMED or FIRED */
	size_t index;                  /* position in the heap while ARMED */
	orca_waker waker;              /* while ARMED */
	int state;                     /* under heap->lock once armed */
} orca__timer_entry;

typedef struct orca__timer_heap {
	pthread_mutex_t lock;
	orca__timer_entry **items;
	size_t len, cap;
	_Atomic size_t armed; /* = len, readable without the lock */
} orca__timer_heap;

void orca__timer_heap_init(orca__timer_heap *h);
void orca__timer_heap_destroy(orca__timer_heap *h);

/* Step 1. Returns 0, or -ENOMEM if the heap could not grow. *earliest is set when
 * the entry is now the heap's first deadline. */
int orca__timer_arm(orca__timer_heap *h, orca__timer_entry *e, const orca_waker *w,
		    bool *earliest);
/* Step 3: true if fired; otherwise refreshes the stored waker if it changed. */
bool orca__timer_check(orca__timer_entry *e, const orca_waker *w);
/* Step 4. */
void orca__timer_cancel(orca__timer_entry *e);
/* Step 2: fires what is due at `now`; returns how many fired. */
size_t orca__timer_fire(orca__timer_heap *h, int64_t now);
/* The earliest deadline, or -1 if none is armed. */
int64_t orca__timer_next_deadline(orca__timer_heap *h);

#endif
