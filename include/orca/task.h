/* Tasks: spawn, join, detach, abort, yield.
 *
 * A stackful task (orca_spawn) runs a C function on its own small stack; inside it,
 * orca_await suspends the task until a future is ready, and locals survive across
 * awaits. A stackless task (orca_spawn_future) is a future polled directly by a
 * worker, with no stack: the cheap path for very many tiny tasks.
 *
 * Every spawn can hand back a join handle (orca_task *). The handle must be
 * released exactly once: by orca_join (which waits for the result) or orca_detach.
 * A handle is also a future (cast it with orca_task_future) whose result is the
 * task's return value, or -ECANCELED if the task was aborted.
 */
#ifndef ORCA_TASK_H
#define ORCA_TASK_H

#include <orca/common.h>
#include <orca/future.h>
#include <orca/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A join handle. Opaque. */
typedef struct orca_task orca_task;

/* The body of a stackful task. Its return value is what join reports. */
typedef intptr_t (*orca_task_fn)(void *arg);

/* Spawns fn(arg) as a stackful task on the runtime of the calling task or worker.
 * If handle is non-NULL it receives the join handle; if NULL the task is detached.
 * fn always starts, even if the task is aborted before it first runs: it then sees
 * -ECANCELED from its first await, so it always gets the chance to release arg.
 * (Its stack is mapped when it first runs; the one case where fn does not start is
 * when no memory can be had for it then: join gives -ENOMEM as its result, and a line
 * naming the task goes to stderr.)
 * Errors: -EINVAL (fn NULL), -EPERM when called from outside a runtime (use
 * orca_spawn_on), -ESHUTDOWN when the runtime is shutting down, -ENOMEM.
 * Does not suspend. */
ORCA_API int orca_spawn(orca_task **handle, orca_task_fn fn, void *arg);

/* As orca_spawn, onto runtime rt, from any thread (workers and plain threads).
 * Errors: as orca_spawn, with -EINVAL also for rt NULL. Does not suspend. */
ORCA_API int orca_spawn_on(orca_runtime *rt, orca_task **handle, orca_task_fn fn, void *arg);

/* Spawns a stackless task: copies the size bytes of *f (a future struct that begins
 * with orca_future) into the task and polls the copy on a worker until it is
 * ready. Its result is the task's result. If the task is aborted while the future
 * is pending, its cancel hook runs (and it is polled to completion) or, without
 * one, its drop hook, and the task ends with -ECANCELED.
 * Errors: -EINVAL (f, its vtable or poll NULL, size smaller than orca_future or
 * over 64 KiB), -EPERM outside a runtime, -ESHUTDOWN, -ENOMEM. Does not suspend. */
ORCA_API int orca_spawn_future(orca_task **handle, const orca_future *f, size_t size);
/* As orca_spawn_future, onto runtime rt, from any thread. */
ORCA_API int orca_spawn_future_on(orca_runtime *rt, orca_task **handle, const orca_future *f,
				  size_t size);

/* Task names: every task has an id (orca_task_id) and may have a name, shown by
 * the task dump and the blocking detector (include/orca/metrics.h). A task spawned
 * through the orca_spawn / orca_spawn_on / orca_spawn_blocking / orca_block_on /
 * orca_run macros below is named after the function expression passed to it
 * ("handle_conn"); a stackless task without a name shows as "(future)".
 * orca_spawn_named* give any name: it is copied, at most ORCA_TASK_NAME_MAX - 1
 * bytes of it (cut at a UTF-8 character boundary), so the caller's string may go
 * away after the call. A NULL or empty name means unnamed. */
#define ORCA_TASK_NAME_MAX 32

/* As orca_spawn / orca_spawn_on, with a name. Errors as theirs. Does not suspend. */
ORCA_API int orca_spawn_named(orca_task **handle, const char *name, orca_task_fn fn, void *arg);
ORCA_API int orca_spawn_named_on(orca_runtime *rt, orca_task **handle, const char *name,
				 orca_task_fn fn, void *arg);
/* As orca_spawn_future / orca_spawn_future_on, with a name. */
ORCA_API int orca_spawn_future_named(orca_task **handle, const char *name, const orca_future *f,
				     size_t size);
ORCA_API int orca_spawn_future_named_on(orca_runtime *rt, orca_task **handle, const char *name,
					const orca_future *f, size_t size);

/* The name of the calling task (its own, or the function it was spawned with), or
 * NULL outside a task or for an unnamed one. Valid while the task runs. */
ORCA_API const char *orca_task_name(void);

/* Used by the naming macros: name must outlive the task (a string literal). */
ORCA_API int orca__spawn_fn(orca_task **handle, orca_task_fn fn, void *arg, const char *name);
ORCA_API int orca__spawn_fn_on(orca_runtime *rt, orca_task **handle, orca_task_fn fn, void *arg,
			       const char *name);

/* orca_spawn and orca_spawn_on stay exported functions (their addresses can be
 * taken: `(orca_spawn)`); called by name, they go through these macros, which
 * name the task after fn. Variadic, so that a C++ lambda with commas in its body
 * can be passed (it is named "(lambda)"). ORCA__FN_NAME is the first argument
 * spelled out. */
#ifndef ORCA__FN_NAME
#define ORCA__FN_NAME(fn, ...) #fn
#endif
#define orca_spawn(handle, ...) \
	orca__spawn_fn((handle), __VA_ARGS__, ORCA__FN_NAME(__VA_ARGS__, ~))
#define orca_spawn_on(rt, handle, ...) \
	orca__spawn_fn_on((rt), (handle), __VA_ARGS__, ORCA__FN_NAME(__VA_ARGS__, ~))

/* Waits for the task to finish, stores its return value in *result (may be NULL)
 * and releases the handle. Inside a stackful task it suspends the task; from a
 * plain thread it blocks the thread. (On a worker outside any task it would block
 * the worker: -EDEADLK.)
 * Returns 0, or -ECANCELED if the task was aborted before it finished (the handle is
 * released either way). If the joining task is itself aborted while waiting,
 * returns -ECANCELED too and the handle is released (the joined task goes on,
 * detached). Errors: -EINVAL (handle NULL), -EDEADLK. May suspend. */
ORCA_API int orca_join(orca_task *handle, intptr_t *result);

/* Releases the handle without waiting; the task runs on to completion. Never
 * suspends. Errors: -EINVAL (handle NULL). */
ORCA_API int orca_detach(orca_task *handle);

/* Aborts the task: its current or next await returns -ECANCELED (an in-flight
 * operation is cancelled first), as does every await after it, so it can clean up
 * and return. Joining it returns -ECANCELED. Aborting a finished task does nothing.
 * Does not release the handle. Any thread. Errors: -EINVAL (handle NULL).
 * Never suspends. */
ORCA_API int orca_abort(orca_task *handle);

/* True once the task has finished (join would not wait). */
ORCA_API bool orca_task_is_finished(const orca_task *handle);

/* The handle seen as a future (for orca_select, orca_await_timeout, ...). Awaiting it
 * does not release the handle. */
static inline orca_future *orca_task_future(orca_task *handle)
{
	return (orca_future *)(void *)handle;
}

/* Lets other tasks run: the calling task goes to the back of its worker's queue.
 * Returns 0, or -ECANCELED if the task was aborted; -EPERM outside a stackful task.
 * May suspend. */
ORCA_API int orca_yield(void);

/* True if the calling task has been aborted (its awaits return -ECANCELED).
 * False outside a task. Never suspends. */
ORCA_API bool orca_task_is_cancelled(void);

/* The id of the calling task (unique within its runtime, starting at 1), or 0
 * outside a task. */
ORCA_API uint64_t orca_task_id(void);

#ifdef __cplusplus
}
#endif

#endif
