/* The small lock each sync primitive keeps around its waiter list.
 *
 * A 32-bit word, zero when free, so primitives built on it can be initialised
 * statically (ORCA_MUTEX_INIT and friends). The protocol is Drepper's "mutex3"
 * (Futexes Are Tricky, 2011): 0 free, 1 held, 2 held with sleepers. A contended
 * acquire spins briefly first, because the sections it guards are a few dozen
 * instructions (link a node, move a waker) and sleeping would cost far more; only
 * then does it sleep on the futex. It never suspends a task: the holder never
 * suspends while holding it either, so a task that spins here waits for a few
 * instructions of another thread.
 *
 * Plain C11 atomics with acquire/release on the word itself, so TSan sees every
 * hand-over (concurrencykit's spinlocks use volatile asm TSan cannot model).
 * Any thread; never suspends.
 *
 * Model: tests/model/sem_model.cc (relacy) compiles lock.c, under the semaphore.
 */
#ifndef ORCA_SYNC_LOCK_H
#define ORCA_SYNC_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct orca__lock {
	_Atomic uint32_t word;
} orca__lock;

void orca__lock_acquire_slow(orca__lock *l);
void orca__lock_wake(orca__lock *l);

static inline void orca__lock_acquire(orca__lock *l)
{
	uint32_t free_word = 0;
	/* Acquire: the previous holder's writes to what the lock guards are seen. */
	if (!atomic_compare_exchange_strong_explicit(&l->word, &free_word, 1, memory_order_acquire,
						     memory_order_relaxed))
		orca__lock_acquire_slow(l);
}

static inline void orca__lock_release(orca__lock *l)
{
	/* Release: our writes under the lock are seen by the next holder. */
	if (atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2)
		orca__lock_wake(l);
}

#endif
