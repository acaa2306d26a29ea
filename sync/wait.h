/* How the convenience functions of sync/ run their futures: awaited from a task, or
 * blocking a plain thread (the *_blocking variants). */
#ifndef ORCA_SYNC_WAIT_H
#define ORCA_SYNC_WAIT_H

#include <stdint.h>

#include <orca/future.h>

/* Awaits f from a stackful task; timeout_ns < 0 waits without a limit.
 * Errors as orca_await / orca_await_timeout. May suspend. */
intptr_t orca__sync_await(orca_future *f, int64_t timeout_ns);

/* The *_blocking variants: from a plain thread, blocks it until f is ready or
 * timeout_ns has passed (< 0: no limit; on expiry f is dropped, or cancelled and
 * finished, and -ETIMEDOUT returned unless it succeeded anyway). From a stackful
 * task it awaits instead (the task suspends, not the thread); from a worker outside
 * any task it returns -EDEADLK (blocking would stall the worker). */
intptr_t orca__sync_wait_blocking(orca_future *f, int64_t timeout_ns);

#endif
