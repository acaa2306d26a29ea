/* The blocking pool: where blocking or CPU-heavy C code runs without stalling a
 * worker (the bridge the seed means by "CPU-bound work wants threads"). Elastic:
 * threads are started on demand up to a cap (512 by default, Tokio's figure) and
 * exit after 10 s idle. Blocking-pool threads are not workers: the async API (orca_
 * await, orca_read, ...) is not available on them. */
#ifndef ORCA_BLOCKING_H
#define ORCA_BLOCKING_H

#include <orca/common.h>
#include <orca/task.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs fn(arg) on the blocking pool of the calling task's runtime and hands back
 * a join handle like orca_spawn's (join, detach, select on orca_task_future).
 * Aborting it before fn has started removes it from the queue (join returns
 * -ECANCELED); once fn runs it cannot be interrupted, and join waits for it.
 * Errors: -EINVAL (fn NULL), -EPERM outside a runtime (use orca_spawn_blocking_on),
 * -ESHUTDOWN, -ENOMEM. Does not suspend. */
ORCA_API int orca_spawn_blocking(orca_task **handle, orca_task_fn fn, void *arg);
/* As orca_spawn_blocking, onto runtime rt, from any thread. */
ORCA_API int orca_spawn_blocking_on(orca_runtime *rt, orca_task **handle, orca_task_fn fn,
				    void *arg);

/* Used by the naming macros below (include/orca/task.h, "Task names"). */
ORCA_API int orca__spawn_blocking_fn(orca_task **handle, orca_task_fn fn, void *arg,
				     const char *name);
ORCA_API int orca__spawn_blocking_fn_on(orca_runtime *rt, orca_task **handle, orca_task_fn fn,
					void *arg, const char *name);
#define orca_spawn_blocking(handle, ...) \
	orca__spawn_blocking_fn((handle), __VA_ARGS__, ORCA__FN_NAME(__VA_ARGS__, ~))
#define orca_spawn_blocking_on(rt, handle, ...) \
	orca__spawn_blocking_fn_on((rt), (handle), __VA_ARGS__, ORCA__FN_NAME(__VA_ARGS__, ~))

#ifdef __cplusplus
}
#endif

#endif
