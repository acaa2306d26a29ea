/* The semaphore every lock in sync/ is built on (Tokio's batch_semaphore): a count
 * of permits in one atomic word and a FIFO of waiters, each wanting n permits.
 *
 * The word: permits << 2 | QUEUED | CLOSED.
 *  - Fast paths (no lock): acquire takes n permits by CAS when QUEUED and CLOSED
 *    are clear and enough are there; release adds them by CAS when QUEUED is clear.
 *  - QUEUED is set and cleared only under the lock, and only while it is set do
 *    waiters exist. While it is set the word changes only under the lock (both fast
 *    paths step aside), so the slow paths may read-modify-write it plainly.
 *  - FIFO, no barging: a waiter at the head wanting more than is there blocks those
 *    behind it and every newcomer (QUEUED makes them queue), so nobody starves: a
 *    waiting writer of a rwlock holds back later readers.
 *  - Serving: release (slow path) adds its permits and hands them to waiters from
 *    the head while they fit, marking each GRANTED: the waiter owns them from then
 *    on, even before its task runs. A GRANTED waiter whose future is dropped (abort,
 *    timeout, a lost select) releases them again, so they go to the next waiter:
 *    nothing is lost and nothing is given twice.
 *  - A WAITING waiter that leaves unlinks itself; if it was the head, the new head
 *    may now fit, so it serves again.
 *  - close: sets CLOSED, wakes every waiter with CLOSED (-EPIPE); acquires fail from
 *    then on. Permits already granted stay valid; release still works.
 *
 * Model: tests/model/sem_model.cc (relacy) compiles sem.c, lock.c and waitq.h as
 * they are: acquires (fast, queued, served in batches, dropped while granted),
 * releases and close racing, with the tasks' wakers.
 */
#ifndef ORCA_SYNC_SEM_H
#define ORCA_SYNC_SEM_H

#include <stdatomic.h>
#include <stdint.h>

#include <orca/sync.h>

#include "lock.h"
#include "waitq.h"

#define ORCA__SEM_CLOSED ((uint64_t)1)
#define ORCA__SEM_QUEUED ((uint64_t)2)
#define ORCA__SEM_SHIFT 2

typedef struct ORCA__MAY_ALIAS orca__sem {
	_Atomic uint64_t state; /* first: the public INIT macros write it */
	orca__lock lock;
	uint32_t unused;
	orca__waitq q;
} orca__sem;

/* An acquire of n permits (node.n) as a future. */
typedef struct ORCA__MAY_ALIAS orca__sem_acquire {
	orca_future base;
	orca__waiter node;
	orca__sem *sem;
	const char *what; /* for the task dump: "mutex", "semaphore", ... */
} orca__sem_acquire;

void orca__sem_init(orca__sem *s, uint64_t permits);
/* Without waiting: 0, -EAGAIN (not enough, or waiters first in line), -EPIPE. */
int orca__sem_try_acquire(orca__sem *s, uint64_t n);
/* 0, or -EOVERFLOW if the count would pass ORCA_SEMAPHORE_MAX_PERMITS. */
int orca__sem_release(orca__sem *s, uint64_t n);
void orca__sem_close(orca__sem *s);
uint64_t orca__sem_available(orca__sem *s);
/* Makes *f an acquire of n permits of s (s NULL: a future that fails with -EINVAL);
 * what names the primitive in the task dump (a string literal). */
orca_future *orca__sem_acquire_init(orca__sem_acquire *f, orca__sem *s, uint64_t n,
				    const char *what);

#endif
