/* The runtime: worker threads, their run queues and timers.
 *
 * A program creates a runtime (or calls orca_run), hands it work with
 * orca_block_on / orca_spawn_on, and finally shuts it down and frees it.
 * A one-worker runtime is the "current thread" flavour: same API, one worker.
 */
#ifndef ORCA_RUNTIME_H
#define ORCA_RUNTIME_H

#include <orca/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct orca_runtime orca_runtime;

/* The I/O backend behind every orca_read/orca_recv/... of a runtime. */
typedef enum orca_backend {
	/* io_uring, or epoll when the kernel refuses io_uring (ENOSYS, EPERM, EACCES,
	 * ENOMEM: Docker's default seccomp profile, kernel.io_uring_disabled, ...).
	 * The environment variable ORCA_BACKEND=epoll or =io_uring overrides it. */
	ORCA_BACKEND_AUTO = 0,
	/* io_uring only: runtime creation fails if the kernel refuses it. */
	ORCA_BACKEND_IO_URING = 1,
	/* epoll (readiness + non-blocking calls; files on the blocking pool). */
	ORCA_BACKEND_EPOLL = 2,
} orca_backend;

/* Runtime settings. Initialise with orca_config_init, then change what you need. */
typedef struct orca_config {
	/* Worker threads; 0 = the CPUs this process may run on (sched_getaffinity). */
	unsigned workers;
	/* Virtual size of each stackful task's stack in bytes, guard page excluded;
	 * rounded up to whole pages; 0 = 64 KiB. Only touched pages cost memory. */
	size_t stack_size;
	/* Stacks each worker keeps for reuse instead of unmapping; 0 = 256. Behind the
	 * workers, the runtime keeps up to 1024 more per worker that any worker may take
	 * (a stack freed on one worker is reused by spawns on another). */
	unsigned stack_cache;
	/* Most threads the blocking pool may run at once; 0 = 512. */
	unsigned blocking_threads;
	/* How long an idle blocking-pool thread waits for work before it exits, in
	 * nanoseconds; 0 = 10 s. */
	int64_t blocking_keep_alive_ns;
	/* The I/O backend; 0 (ORCA_BACKEND_AUTO) = io_uring if the kernel allows it,
	 * else epoll, unless ORCA_BACKEND in the environment says otherwise. */
	orca_backend backend;
	/* Task dump on a signal (include/orca/metrics.h): 0 = off; a signal number
	 * (SIGQUIT or SIGUSR1, as `kill -QUIT <pid>` for Go's goroutine dump) makes
	 * that signal print orca_runtime_dump of this runtime to stderr, and the
	 * program goes on. The handler only writes to a pipe; a helper thread prints.
	 * The handler is process-wide and stays installed after the runtime is freed
	 * (it then has nothing to print). */
	int dump_signal;
	/* The blocking detector: a watchdog thread that reports, on stderr, a task that
	 * keeps a worker in one poll for longer than blocking_threshold_ns (its name,
	 * id, worker, how long, and the worker's stack where it can be taken). Off by
	 * default; ORCA_BLOCKING_DETECT=<ms> in the environment turns it on with that
	 * threshold. Counted in orca_metrics.blocked_polls. */
	bool detect_blocking;
	/* The detector's threshold in nanoseconds; 0 = 100 ms. */
	int64_t blocking_threshold_ns;
} orca_config;

/* Fills *cfg with the defaults (all zero: see the fields). Never fails. */
ORCA_API void orca_config_init(orca_config *cfg);

/* Creates a runtime and starts its workers. cfg may be NULL for the defaults.
 * The I/O backend is chosen here, once for all workers (see orca_backend); with
 * ORCA_LOG=debug in the environment the choice and its reason go to stderr.
 * Errors: -EINVAL (rt NULL, absurd sizes: more than 1024 workers or a stack over
 * 1 GiB, an unknown backend or ORCA_BACKEND value), -ENOMEM, the error of starting
 * a thread, or, when io_uring is required (ORCA_BACKEND_IO_URING or
 * ORCA_BACKEND=io_uring) and the kernel refuses it, io_uring_setup's error (-EPERM,
 * -ENOSYS, ...). Does not suspend. */
ORCA_API int orca_runtime_create(orca_runtime **rt, const orca_config *cfg);

/* Runs fn(arg) as a stackful task on rt and blocks the calling (non-worker) thread
 * until it finishes; stores its return value in *result (may be NULL). The C
 * counterpart of Tokio's Runtime::block_on.
 * Returns 0, or -ECANCELED if the task was aborted (e.g. by shutdown).
 * Errors: -EINVAL (rt or fn NULL), -EDEADLK when called from one of rt's own workers
 * (that would block the worker; spawn and join instead), -ESHUTDOWN after shutdown
 * began, -ENOMEM. Blocks the calling thread; does not suspend a task. */
ORCA_API int orca_block_on(orca_runtime *rt, intptr_t (*fn)(void *), void *arg, intptr_t *result);

/* Shuts rt down: aborts every task still alive (their awaits return -ECANCELED so
 * they can clean up), waits up to timeout_ns for them to finish (< 0 = no limit),
 * then stops and joins the workers. Idempotent.
 * Returns 0, or -ETIMEDOUT if tasks ignored the abort past the deadline (their
 * stacks are then leaked rather than freed under them). Errors: -EINVAL (rt NULL),
 * -EDEADLK from one of rt's own workers. Blocks the calling thread. */
ORCA_API int orca_runtime_shutdown(orca_runtime *rt, int64_t timeout_ns);

/* Shuts rt down (no time limit) if not done yet and frees it with everything it
 * owns. Join handles of rt's tasks must have been joined or detached first.
 * Returns 0. Errors: -EINVAL (rt NULL), -EBUSY if join handles are still held (the
 * runtime is shut down but not freed; release them and call again), -EDEADLK from
 * one of rt's own workers. Blocks the calling thread. */
ORCA_API int orca_runtime_free(orca_runtime *rt);

/* The number of worker threads of rt (0 if rt is NULL). */
ORCA_API unsigned orca_runtime_workers(const orca_runtime *rt);

/* The I/O backend rt runs on: "io_uring" or "epoll" (NULL if rt is NULL). */
ORCA_API const char *orca_runtime_backend(const orca_runtime *rt);

/* The runtime whose task or worker is calling, or NULL from a plain thread. */
ORCA_API orca_runtime *orca_runtime_current(void);

/* One line for a whole program, the counterpart of asyncio.run() and
 * #[tokio::main]: creates a default runtime, runs fn(arg) to completion on it, shuts
 * it down and frees it. Stores fn's return value in *result (may be NULL).
 * Returns 0 or the first error of create / block_on / shutdown. Blocks the caller. */
ORCA_API int orca_run(intptr_t (*fn)(void *), void *arg, intptr_t *result);

/* Used by the naming macros below (include/orca/task.h, "Task names"): the task
 * is named after fn. */
ORCA_API int orca__block_on_fn(orca_runtime *rt, intptr_t (*fn)(void *), void *arg,
			       intptr_t *result, const char *name);
ORCA_API int orca__run_fn(intptr_t (*fn)(void *), void *arg, intptr_t *result, const char *name);
#define orca_block_on(rt, ...) \
	orca__block_on_fn((rt), __VA_ARGS__, ORCA__FN_NAME(__VA_ARGS__, ~))
#define orca_run(...) orca__run_fn(__VA_ARGS__, ORCA__FN_NAME(__VA_ARGS__, ~))
#ifndef ORCA__FN_NAME
#define ORCA__FN_NAME(fn, ...) #fn
#endif

#ifdef __cplusplus
}
#endif

#endif
