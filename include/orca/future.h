/* Futures, wakers and contexts: the poll protocol every Orca operation speaks.
 *
 * A future is a struct whose first member is a pointer to an orca_future_vtable.
 * poll() either finishes (returns ORCA_READY and stores the result in *out) or
 * returns ORCA_PENDING after arranging for cx->waker to be woken when polling again
 * could make progress. Wakers may be cloned, woken from any thread any number of
 * times, and dropped. Every Orca operation (sleep, join, I/O, locks, channels) is a
 * future written this way; user code may write its own.
 *
 * Results are intptr_t: a value >= 0 (or a pointer) on success, a negative errno
 * value on failure, like the rest of Orca.
 */
#ifndef ORCA_FUTURE_H
#define ORCA_FUTURE_H

#include <orca/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a waker does; data is the waker's own pointer. All four may be called from
 * any thread. */
typedef struct orca_waker_vtable {
	/* Returns a new waker for the same target (e.g. takes a reference). */
	struct orca_waker (*clone)(const void *data);
	/* Wakes the target and consumes this waker. */
	void (*wake)(const void *data);
	/* Wakes the target; the waker stays valid. */
	void (*wake_by_ref)(const void *data);
	/* Releases this waker without waking. */
	void (*drop)(const void *data);
} orca_waker_vtable;

/* A waker: a handle that makes the task (or thread) waiting on something runnable
 * again. A zero-initialised waker (vtable NULL) is "no waker"; the helpers below
 * accept it and do nothing. */
typedef struct orca_waker {
	const orca_waker_vtable *vtable;
	const void *data;
} orca_waker;

/* Returns a clone of w (a no-op waker if w is empty). Any thread; never suspends. */
ORCA_API orca_waker orca_waker_clone(const orca_waker *w);
/* Wakes the target of w and empties *w. Any thread; never suspends. */
ORCA_API void orca_waker_wake(orca_waker *w);
/* Wakes the target of w, leaving *w valid. Any thread; never suspends. */
ORCA_API void orca_waker_wake_by_ref(const orca_waker *w);
/* Releases *w without waking and empties it. Any thread; never suspends. */
ORCA_API void orca_waker_drop(orca_waker *w);
/* True when a and b wake the same target (so a stored clone need not be replaced). */
ORCA_API bool orca_waker_will_wake(const orca_waker *a, const orca_waker *b);

/* What poll is given: the waker of the task polling. The waker is borrowed for the
 * duration of poll; clone it to keep it. */
typedef struct orca_context {
	const orca_waker *waker;
} orca_context;

typedef enum orca_poll {
	ORCA_READY = 0,
	ORCA_PENDING = 1,
} orca_poll;

typedef struct orca_future orca_future;

typedef struct orca_future_vtable {
	/* Required. Make progress; on ORCA_READY store the result in *out. Never called
	 * again after it returned ORCA_READY. */
	orca_poll (*poll)(orca_future *self, orca_context *cx, intptr_t *out);
	/* Optional. The awaiting side wants to stop waiting (abort or timeout) while the
	 * future is pending, and the future cannot simply be forgotten (an I/O op the
	 * kernel still owns). cancel() must make the future finish soon: the awaiting
	 * side keeps polling until poll returns ORCA_READY, then discards the result
	 * unless it is a success that must not be lost. Called at most once. */
	void (*cancel)(orca_future *self);
	/* Optional. The future is abandoned while pending (and has no cancel, or its
	 * cancellation finished): release whatever it registered (a timer entry, a
	 * waiter node, a stored waker). Called at most once, after which the memory may
	 * go away. Not called after poll returned ORCA_READY. */
	void (*drop)(orca_future *self);
} orca_future_vtable;

/* The base of every future: embed it as the first member. */
struct orca_future {
	const orca_future_vtable *vtable;
};

/* Awaits f inside a stackful task: polls it, suspending the task (not the worker
 * thread) while it is pending, and returns its result.
 * Errors: -ECANCELED if the task was aborted (the future is cancelled or dropped
 * first; every later await of the task returns -ECANCELED too); -EPERM when called
 * outside a stackful Orca task; -EINVAL if f or its poll function is NULL.
 * May suspend. */
ORCA_API intptr_t orca_await(orca_future *f);

/* Awaits f but gives up after timeout_ns nanoseconds (orca_await_deadline: at the
 * absolute orca_now() time deadline_ns). On expiry f is cancelled (its cancel hook,
 * then polled to completion) or dropped, and -ETIMEDOUT is returned; if the
 * cancelled future still finished with a success (an op that completed anyway),
 * that result is returned instead so nothing is lost. Other errors as orca_await.
 * May suspend. */
ORCA_API intptr_t orca_await_timeout(orca_future *f, int64_t timeout_ns);
ORCA_API intptr_t orca_await_deadline(orca_future *f, int64_t deadline_ns);

/* Waits for the first of n futures to finish (Tokio's select!, Python's
 * asyncio.wait(FIRST_COMPLETED)). Returns its index and stores its result in *out
 * (out may be NULL); every other future is cancelled or dropped before returning.
 * Polling order rotates between calls so no future is always favoured.
 * A loser that has a cancel hook (an I/O op) is cancelled and awaited to the end;
 * if it completed anyway its result stays in its own future (an orca_op keeps the
 * system call's result, e.g. an accepted fd, which the caller then owns), it is not
 * reported here: select over operations whose loss would leak only with care.
 * Errors: -EINVAL (fs NULL, n == 0, a NULL entry), -ECANCELED, -EPERM as orca_await.
 * May suspend. */
ORCA_API int orca_select(orca_future *const *fs, size_t n, intptr_t *out);

/* Waits for all n futures to finish, polling them concurrently (Python's gather,
 * Tokio's join!), and stores result i in outs[i] (outs may be NULL).
 * Returns 0. Errors: -EINVAL, -EPERM as orca_await; -ECANCELED if the task is
 * aborted (the unfinished futures are cancelled or dropped first).
 * May suspend. */
ORCA_API int orca_join_all(orca_future *const *fs, size_t n, intptr_t *outs);

/* A future that is ready at once with the given value (handy for tests and
 * user-written combinators). */
typedef struct orca_ready_future {
	orca_future base;
	intptr_t value;
} orca_ready_future;
ORCA_API void orca_ready_future_init(orca_ready_future *f, intptr_t value);

#ifdef __cplusplus
}
#endif

#endif
