/* Async synchronization: Mutex, RwLock, Semaphore, Notify, Barrier, WaitGroup and
 * OnceCell, whose waits suspend the task, never the worker thread.
 *
 * Shared rules:
 *  - Every primitive is caller-allocated: a fixed-size opaque struct, initialised
 *    with its ORCA_*_INIT macro or its *_init function, needing no destroy call. It
 *    must not be moved or copied once used.
 *  - Every wait is an orca_future (orca_sync_future, made by the *_future
 *    functions), so it works with orca_await, orca_await_timeout, orca_select and
 *    stackless tasks. The plain functions (orca_mutex_lock, ...) await it for you
 *    and must be called from a stackful task (else -EPERM). The *_future
 *    functions only fill in the future; they never suspend.
 *  - No allocation per wait: the waiter node lives in the future, in the waiting
 *    task's frame.
 *  - Waits are FIFO: whoever waits longest is served first.
 *  - Cancellation-safe: a wait that is aborted (-ECANCELED), times out
 *    (-ETIMEDOUT) or loses a select leaves the queue. If it had been handed the
 *    lock, permits or a notification at that very moment, it passes them on to the
 *    next waiter: nothing is lost and nothing is given twice.
 *  - *_blocking variants are for plain threads (code outside the runtime); they
 *    block the thread until done or until timeout_ns passes (< 0: no limit). Called
 *    from a stackful task they await instead; called on a worker outside any task
 *    they return -EDEADLK.
 *  - Bad arguments (NULL, impossible counts) return -EINVAL, never crash.
 */
#ifndef ORCA_SYNC_H
#define ORCA_SYNC_H

#include <orca/common.h>
#include <orca/future.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A wait on any primitive of this header, as a future. Caller-allocated (put it on
 * the task's stack); made by one of the *_future functions below. It may be moved
 * until first polled; once polled it must be awaited to the end or dropped
 * (orca_await, orca_await_timeout and orca_select do that). Its result is the
 * result of the blocking call it stands for. */
typedef struct orca_sync_future {
	orca_future base;
	/* Private: the waiter node and what it waits on. */
	uint64_t priv[8];
} orca_sync_future;

/* ---- Semaphore ------------------------------------------------------------------------ */

/* A counting semaphore, the backpressure tool (cap concurrent connections, bound a
 * pipeline). Fair: an acquire of n waits behind earlier waiters even if n permits
 * are free, so a large acquire is never starved by small ones. */
typedef struct orca_semaphore {
	uint64_t priv[4];
} orca_semaphore;

/* The most permits a semaphore can hold (and one acquire or release can move). */
#define ORCA_SEMAPHORE_MAX_PERMITS ((uint64_t)1 << 60)

/* Static initialiser with `permits` permits (at most ORCA_SEMAPHORE_MAX_PERMITS). */
#define ORCA_SEMAPHORE_INIT(permits) { { (uint64_t)(permits) << 2, 0, 0, 0 } }

/* Initialises *s with `permits` permits. Returns 0; -EINVAL (s NULL, permits over
 * the maximum). Never suspends. */
ORCA_API int orca_semaphore_init(orca_semaphore *s, uint64_t permits);

/* Takes n permits, waiting until they are available (n == 0: returns at once).
 * Returns 0; -EPIPE if the semaphore is or gets closed; -ECANCELED (task aborted);
 * -EPERM outside a stackful task; -EINVAL (s NULL, n over the maximum).
 * May suspend. */
ORCA_API int orca_semaphore_acquire(orca_semaphore *s, uint64_t n);

/* As orca_semaphore_acquire, giving up after timeout_ns: -ETIMEDOUT (nothing taken).
 * May suspend. */
ORCA_API int orca_semaphore_acquire_timeout(orca_semaphore *s, uint64_t n, int64_t timeout_ns);

/* As orca_semaphore_acquire, blocking a plain thread (see the top of this file);
 * -ETIMEDOUT after timeout_ns (< 0: no limit), -EDEADLK on a worker outside a task.
 * Blocks the thread (suspends only when called from a task). */
ORCA_API int orca_semaphore_acquire_blocking(orca_semaphore *s, uint64_t n, int64_t timeout_ns);

/* Takes n permits if they are free and nobody is waiting. Returns 0; -EAGAIN (not
 * enough, or waiters are first in line); -EPIPE (closed); -EINVAL. Never suspends. */
ORCA_API int orca_semaphore_try_acquire(orca_semaphore *s, uint64_t n);

/* Gives n permits back (or adds new ones), waking waiters they satisfy. Any thread.
 * Returns 0; -EOVERFLOW if the count would pass ORCA_SEMAPHORE_MAX_PERMITS (nothing
 * added); -EINVAL (s NULL). Works on a closed semaphore too. Never suspends. */
ORCA_API int orca_semaphore_release(orca_semaphore *s, uint64_t n);

/* Closes the semaphore: every waiting and later acquire fails with -EPIPE. Permits
 * already acquired stay valid. Idempotent. Returns 0; -EINVAL. Never suspends. */
ORCA_API int orca_semaphore_close(orca_semaphore *s);

/* True once orca_semaphore_close was called (false for NULL). Never suspends. */
ORCA_API bool orca_semaphore_is_closed(orca_semaphore *s);

/* The permits free right now (a snapshot), or -EINVAL. Never suspends. */
ORCA_API int64_t orca_semaphore_available(orca_semaphore *s);

/* Makes *f an acquire of n permits of s, as a future (result as
 * orca_semaphore_acquire). Returns &f->base, or NULL if f is NULL (awaiting NULL
 * gives -EINVAL); a bad s or n gives a future that fails with -EINVAL. */
ORCA_API orca_future *orca_semaphore_acquire_future(orca_sync_future *f, orca_semaphore *s,
						    uint64_t n);

/* ---- Mutex ------------------------------------------------------------------------------ */

/* A mutual-exclusion lock held across awaits (a pthread mutex must not be: the task
 * may resume on another thread). FIFO-fair: unlock hands the lock straight to the
 * longest waiter, so no waiter can starve. Not recursive; not tied to a task (any
 * task or thread may unlock it, as with Tokio's owned guards). */
typedef struct orca_mutex {
	uint64_t priv[4];
} orca_mutex;

/* Static initialiser: an unlocked mutex. */
#define ORCA_MUTEX_INIT { { 4, 0, 0, 0 } }

/* Initialises *m unlocked. Returns 0; -EINVAL (m NULL). Never suspends. */
ORCA_API int orca_mutex_init(orca_mutex *m);

/* Locks m, waiting while another holds it. Returns 0; -ECANCELED (task aborted: the
 * lock is not held); -EPERM outside a stackful task; -EINVAL (m NULL).
 * May suspend. */
ORCA_API int orca_mutex_lock(orca_mutex *m);

/* As orca_mutex_lock, giving up after timeout_ns: -ETIMEDOUT (not held).
 * May suspend. */
ORCA_API int orca_mutex_lock_timeout(orca_mutex *m, int64_t timeout_ns);

/* As orca_mutex_lock from a plain thread (see the top of this file): -ETIMEDOUT
 * after timeout_ns (< 0: no limit), -EDEADLK on a worker outside a task.
 * Blocks the thread (suspends only when called from a task). */
ORCA_API int orca_mutex_lock_blocking(orca_mutex *m, int64_t timeout_ns);

/* Locks m if it is free and nobody waits for it. Returns 0; -EBUSY; -EINVAL.
 * Never suspends. */
ORCA_API int orca_mutex_try_lock(orca_mutex *m);

/* Unlocks m, handing it to the first waiter if there is one. Any thread.
 * Returns 0; -EPERM if m is not locked; -EINVAL (m NULL). Never suspends. */
ORCA_API int orca_mutex_unlock(orca_mutex *m);

/* Makes *f a lock of m, as a future (result as orca_mutex_lock). Returns &f->base,
 * or NULL if f is NULL; m NULL gives a future that fails with -EINVAL. */
ORCA_API orca_future *orca_mutex_lock_future(orca_sync_future *f, orca_mutex *m);

/* ---- RwLock ----------------------------------------------------------------------------- */

/* A reader-writer lock: many readers or one writer. Fair (FIFO) rather than
 * reader-preferring: once a writer waits, readers arriving after it wait behind
 * it, so writers never starve; readers queued together are let in together. */
typedef struct orca_rwlock {
	uint64_t priv[4];
} orca_rwlock;

/* The most readers that may hold the lock at once (more wait). */
#define ORCA_RWLOCK_MAX_READERS ((uint64_t)1 << 30)

/* Static initialiser: an unlocked rwlock. */
#define ORCA_RWLOCK_INIT { { (uint64_t)1 << 32, 0, 0, 0 } }

/* Initialises *l unlocked. Returns 0; -EINVAL (l NULL). Never suspends. */
ORCA_API int orca_rwlock_init(orca_rwlock *l);

/* Takes l for reading (shared), waiting while a writer holds it or waits for it.
 * Returns 0; -ECANCELED; -EPERM outside a stackful task; -EINVAL. May suspend. */
ORCA_API int orca_rwlock_read(orca_rwlock *l);

/* Takes l for writing (exclusive), waiting for readers and writers ahead of it.
 * Returns 0; -ECANCELED; -EPERM outside a stackful task; -EINVAL. May suspend. */
ORCA_API int orca_rwlock_write(orca_rwlock *l);

/* orca_rwlock_read / orca_rwlock_write from a plain thread (see the top of this
 * file): -ETIMEDOUT after timeout_ns (< 0: no limit), -EDEADLK on a worker outside a
 * task. Block the thread (suspend only when called from a task). */
ORCA_API int orca_rwlock_read_blocking(orca_rwlock *l, int64_t timeout_ns);
ORCA_API int orca_rwlock_write_blocking(orca_rwlock *l, int64_t timeout_ns);

/* Without waiting. Return 0; -EBUSY (held the other way, or someone waits first);
 * -EINVAL. Never suspend. */
ORCA_API int orca_rwlock_try_read(orca_rwlock *l);
ORCA_API int orca_rwlock_try_write(orca_rwlock *l);

/* Release a read / write hold. Return 0; -EPERM if l is not held that way (as far
 * as can be told); -EINVAL. Any thread. Never suspend. */
ORCA_API int orca_rwlock_read_unlock(orca_rwlock *l);
ORCA_API int orca_rwlock_write_unlock(orca_rwlock *l);

/* Make *f a read / write lock of l, as a future. Return &f->base, or NULL if f is
 * NULL; l NULL gives a future that fails with -EINVAL. */
ORCA_API orca_future *orca_rwlock_read_future(orca_sync_future *f, orca_rwlock *l);
ORCA_API orca_future *orca_rwlock_write_future(orca_sync_future *f, orca_rwlock *l);

/* ---- Notify ----------------------------------------------------------------------------- */

/* Wakes tasks waiting for an event (Tokio's Notify). notify_one wakes the longest
 * waiter, or, if nobody waits, stores one permit that the next wait consumes at
 * once, so a notification sent just before the wait is not lost. notify_all wakes
 * everyone waiting and stores nothing. */
typedef struct orca_notify {
	uint64_t priv[4];
} orca_notify;

/* Static initialiser: nobody waiting, no permit stored. */
#define ORCA_NOTIFY_INIT { { 0, 0, 0, 0 } }

/* Initialises *n. Returns 0; -EINVAL. Never suspends. */
ORCA_API int orca_notify_init(orca_notify *n);

/* Wakes the longest waiter, or stores a permit if nobody waits (at most one is
 * stored). Any thread. Returns 0; -EINVAL. Never suspends. */
ORCA_API int orca_notify_one(orca_notify *n);

/* Wakes every task waiting now, including waits whose future was made (by
 * orca_notify_wait_future) before this call but not yet polled. Stores no permit.
 * Any thread. Returns 0; -EINVAL. Never suspends. */
ORCA_API int orca_notify_all(orca_notify *n);

/* Waits for a notification (consumes a stored permit at once if there is one).
 * Returns 0; -ECANCELED; -EPERM outside a stackful task; -EINVAL. May suspend. */
ORCA_API int orca_notify_wait(orca_notify *n);

/* As orca_notify_wait, giving up after timeout_ns: -ETIMEDOUT. May suspend. */
ORCA_API int orca_notify_wait_timeout(orca_notify *n, int64_t timeout_ns);

/* As orca_notify_wait from a plain thread (see the top of this file).
 * Blocks the thread (suspends only when called from a task). */
ORCA_API int orca_notify_wait_blocking(orca_notify *n, int64_t timeout_ns);

/* Makes *f a wait for a notification, as a future. It already counts as waiting for
 * orca_notify_all from this call on, so "make the future, check the condition,
 * await" cannot miss a notify_all sent in between. Returns &f->base, or NULL if f is
 * NULL; n NULL gives a future that fails with -EINVAL. */
ORCA_API orca_future *orca_notify_wait_future(orca_sync_future *f, orca_notify *n);

/* ---- Barrier ---------------------------------------------------------------------------- */

/* A reusable barrier for n parties: the n-th wait releases all n, and the barrier
 * is ready for the next round. */
typedef struct orca_barrier {
	uint64_t priv[5];
} orca_barrier;

/* Static initialiser for n parties (n >= 1). */
#define ORCA_BARRIER_INIT(n) { { (uint64_t)(n), 0, 0, 0, 0 } }

/* Initialises *b for n parties. Returns 0; -EINVAL (b NULL, n == 0). Never
 * suspends. */
ORCA_API int orca_barrier_init(orca_barrier *b, unsigned n);

/* Waits until n parties have called it in this round. Returns 1 in exactly one of
 * them (the leader, the last to arrive) and 0 in the others; -ECANCELED (the
 * aborted party leaves the round: the others still need n arrivals); -EPERM
 * outside a stackful task; -EINVAL (b NULL or not initialised). May suspend. */
ORCA_API int orca_barrier_wait(orca_barrier *b);

/* As orca_barrier_wait from a plain thread (see the top of this file).
 * Blocks the thread (suspends only when called from a task). */
ORCA_API int orca_barrier_wait_blocking(orca_barrier *b, int64_t timeout_ns);

/* Makes *f a barrier wait, as a future (the arrival counts when it is first
 * polled). Returns &f->base, or NULL if f is NULL; b NULL gives a future that
 * fails with -EINVAL. */
ORCA_API orca_future *orca_barrier_wait_future(orca_sync_future *f, orca_barrier *b);

/* ---- WaitGroup -------------------------------------------------------------------------- */

/* Go's sync.WaitGroup: a counter of outstanding jobs; wait returns once it is 0. */
typedef struct orca_waitgroup {
	uint64_t priv[5];
} orca_waitgroup;

/* Static initialiser: counter 0. */
#define ORCA_WAITGROUP_INIT { { 0, 0, 0, 0, 0 } }

/* Initialises *wg with counter 0. Returns 0; -EINVAL. Never suspends. */
ORCA_API int orca_waitgroup_init(orca_waitgroup *wg);

/* Adds delta (may be negative) to the counter; reaching 0 wakes every waiter. Any
 * thread. Returns 0; -EINVAL (wg NULL, or the counter would go negative: then it is
 * left unchanged). As in Go, call add before starting the job, not inside it.
 * Never suspends. */
ORCA_API int orca_waitgroup_add(orca_waitgroup *wg, int64_t delta);

/* orca_waitgroup_add(wg, -1): 0, or -EINVAL (wg NULL, counter already 0).
 * Never suspends. */
ORCA_API int orca_waitgroup_done(orca_waitgroup *wg);

/* The counter now (a snapshot), or -EINVAL. Never suspends. */
ORCA_API int64_t orca_waitgroup_count(orca_waitgroup *wg);

/* Waits until the counter is 0. Returns 0; -ECANCELED; -EPERM outside a stackful
 * task; -EINVAL. May suspend. */
ORCA_API int orca_waitgroup_wait(orca_waitgroup *wg);

/* As orca_waitgroup_wait, giving up after timeout_ns: -ETIMEDOUT. May suspend. */
ORCA_API int orca_waitgroup_wait_timeout(orca_waitgroup *wg, int64_t timeout_ns);

/* As orca_waitgroup_wait from a plain thread (see the top of this file), e.g. main
 * waiting for tasks it spawned with orca_spawn_on.
 * Blocks the thread (suspends only when called from a task). */
ORCA_API int orca_waitgroup_wait_blocking(orca_waitgroup *wg, int64_t timeout_ns);

/* Makes *f a wait for counter 0, as a future. Returns &f->base, or NULL if f is
 * NULL; wg NULL gives a future that fails with -EINVAL. */
ORCA_API orca_future *orca_waitgroup_wait_future(orca_sync_future *f, orca_waitgroup *wg);

/* ---- OnceCell --------------------------------------------------------------------------- */

/* A value set once (Tokio's OnceCell): the first caller of get_or_init runs the
 * initializer, the others wait for it and get its value. If the initializer fails
 * (or its task is aborted), the next waiter runs it instead. The value is an
 * intptr_t (a number or a pointer). */
typedef struct orca_oncecell {
	uint64_t priv[6];
} orca_oncecell;

/* Static initialiser: an empty cell. */
#define ORCA_ONCECELL_INIT { { 4, 0, 0, 0, 0, 0 } }

/* Initialises *c empty. Returns 0; -EINVAL. Never suspends. */
ORCA_API int orca_oncecell_init(orca_oncecell *c);

/* The initializer: stores the value in *value and returns 0, or returns a negative
 * errno value (the cell stays empty). It runs on the calling task and may await. */
typedef int (*orca_oncecell_init_fn)(void *arg, intptr_t *value);

/* Stores the cell's value in *value (may be NULL) if it is set. Returns 0; -EAGAIN
 * (not set yet); -EINVAL (c NULL). Any thread. Never suspends. */
ORCA_API int orca_oncecell_get(orca_oncecell *c, intptr_t *value);

/* Sets the value if the cell is empty and nobody is initializing it. Any thread.
 * Returns 0; -EEXIST (already set); -EBUSY (an initializer is running); -EINVAL.
 * Never suspends. */
ORCA_API int orca_oncecell_set(orca_oncecell *c, intptr_t value);

/* Returns the cell's value in *value (may be NULL), running init(arg, &v) first if
 * the cell is empty and nobody else is; while another caller's init runs, waits for
 * it. Returns 0; init's error if our init failed (the cell stays empty and one
 * waiter runs its own init next); -ECANCELED (task aborted while waiting);
 * -EINVAL (c or init NULL). From a stackful task it suspends; from a plain thread
 * it blocks; on a worker outside any task it returns -EDEADLK. May suspend. */
ORCA_API int orca_oncecell_get_or_init(orca_oncecell *c, orca_oncecell_init_fn init, void *arg,
				       intptr_t *value);

#ifdef __cplusplus
}
#endif

#endif
