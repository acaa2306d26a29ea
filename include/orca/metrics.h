/* Seeing inside a running runtime: metrics, the task dump and the blocking detector.
 *
 * Metrics are cheap enough to stay on in production: each worker keeps its own
 * counters (written only by itself, without locked instructions) and a read sums
 * them. Nothing here stops or slows the workers.
 *
 *   orca_metrics m;
 *   orca_runtime_metrics(rt, &m);
 *   printf("%llu polls, %llu steals\n", (unsigned long long)m.polls,
 *          (unsigned long long)m.steals);
 *
 * The task dump prints every live task with its name, id, state and what it waits
 * on (orca_runtime_dump, or a signal: orca_config.dump_signal). The blocking detector
 * (orca_config.detect_blocking, or ORCA_BLOCKING_DETECT=<ms> in the environment)
 * reports a task that keeps a worker busy in one poll for too long.
 * docs/observability.md shows real output of each.
 *
 * Layout rule: fields are only ever added at the end of these structs, and the
 * inline wrappers pass the caller's sizeof, so a program built against an older
 * header keeps working with a newer library.
 */
#ifndef ORCA_METRICS_H
#define ORCA_METRICS_H

#include <stdio.h>

#include <orca/common.h>
#include <orca/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Buckets of the poll-time histogram. Bucket 0 counts polls under 1,024 ns; bucket
 * i (1 <= i < ORCA_METRICS_BUCKETS - 1) those in [2^(9+i), 2^(10+i)) ns, i.e.
 * about 1-2 us, 2-4 us, ... ; the last bucket everything from 2^28 ns (~268 ms). */
#define ORCA_METRICS_BUCKETS 20

/* The lower bound of bucket i in nanoseconds. */
static inline int64_t orca_metrics_bucket_start_ns(unsigned i)
{
	if (i >= ORCA_METRICS_BUCKETS)
		i = ORCA_METRICS_BUCKETS - 1;
	return i == 0 ? 0 : (int64_t)1 << (9 + i);
}

/* One worker's counters. Totals count since the runtime was created; "now" fields
 * are a snapshot. */
typedef struct orca_worker_metrics {
	uint64_t polls;            /* task polls run (one per run of a task until it suspends) */
	uint64_t steals;           /* tasks this worker stole from other workers' queues */
	uint64_t steal_operations; /* steals that took something (each moves one or more) */
	uint64_t lifo_hits;        /* polls of a task taken from the LIFO slot */
	uint64_t parks;            /* times it went to sleep with nothing to do */
	uint64_t unparks;          /* times another thread woke it to take work */
	uint64_t local_queue_depth; /* now: tasks in its run queue */
	uint64_t busy_ns;          /* time out of park: running tasks, searching, I/O */
	uint64_t timers_armed;     /* now: timers in its heap */
	uint64_t timers_fired;     /* timers it fired (from any worker's heap) */
	uint64_t io_submitted;     /* io_uring: SQEs handed to the kernel; epoll: fds armed */
	uint64_t io_enters;        /* io_uring_enter / epoll_wait calls */
	uint64_t io_completions;   /* I/O operations completed */
	uint64_t blocked_polls;    /* polls the blocking detector reported */
	/* Poll times: one poll in ORCA_METRICS_POLL_SAMPLE is timed (a clock read
	 * costs ~20 ns, a whole yield about as much); the histogram counts the timed
	 * ones. */
	uint64_t poll_time_samples;
	uint64_t poll_time_histogram[ORCA_METRICS_BUCKETS];
	/* io_uring: multishot accepts armed on its ring, the first and every later
	 * time (after the queue of accepted connections filled, an error, a close). */
	uint64_t io_accept_arms;
} orca_worker_metrics;

/* One poll in this many (per worker) is timed for the poll-time histogram. */
#define ORCA_METRICS_POLL_SAMPLE 256

/* The whole runtime: the per-worker counters summed, and runtime-wide figures. */
typedef struct orca_metrics {
	uint64_t workers;
	uint64_t alive_tasks;        /* now: spawned and not finished */
	uint64_t spawned_tasks;      /* tasks ever spawned (blocking-pool jobs included) */
	uint64_t polls;
	uint64_t steals;
	uint64_t steal_operations;
	uint64_t lifo_hits;
	uint64_t parks;
	uint64_t unparks;
	uint64_t inject_queue_depth; /* now: the shared queue (outside threads, overflow) */
	uint64_t local_queue_depth;  /* now: tasks in all workers' run queues */
	uint64_t busy_ns;            /* summed over workers */
	uint64_t timers_armed;       /* now */
	uint64_t timers_fired;
	uint64_t io_submitted;
	uint64_t io_enters;
	uint64_t io_completions;
	uint64_t blocking_threads;      /* now: blocking-pool threads */
	uint64_t blocking_idle_threads; /* now: of those, waiting for a job */
	uint64_t blocking_queue_depth;  /* now: jobs queued, not started */
	uint64_t blocked_polls;         /* reports of the blocking detector */
	uint64_t uptime_ns;             /* since orca_runtime_create */
	uint64_t poll_time_samples;
	uint64_t poll_time_histogram[ORCA_METRICS_BUCKETS];
	uint64_t io_accept_arms; /* summed over workers (orca_worker_metrics' field) */
} orca_metrics;

/* Fills the first `size` bytes of *m (size = sizeof(orca_metrics) as the caller
 * knows it; a larger size than the library's gets zeros past its fields). Use the
 * orca_runtime_metrics wrapper. Any thread, also while the runtime runs; takes no
 * lock a worker needs on its hot path (the blocking pool's lock, briefly).
 * Returns 0; -EINVAL if rt or m is NULL. Never suspends. */
ORCA_API int orca_runtime_metrics_sized(orca_runtime *rt, orca_metrics *m, size_t size);
static inline int orca_runtime_metrics(orca_runtime *rt, orca_metrics *m)
{
	return orca_runtime_metrics_sized(rt, m, sizeof(*m));
}

/* As orca_runtime_metrics, for worker `index` (0 .. workers - 1).
 * Returns 0; -EINVAL if rt or m is NULL or index is out of range. */
ORCA_API int orca_runtime_worker_metrics_sized(orca_runtime *rt, unsigned index,
					       orca_worker_metrics *m, size_t size);
static inline int orca_runtime_worker_metrics(orca_runtime *rt, unsigned index,
					      orca_worker_metrics *m)
{
	return orca_runtime_worker_metrics_sized(rt, index, m, sizeof(*m));
}

/* Writes every live task of rt to out, one line each, ordered by id:
 *
 *   task 7 "reader": waiting on recv (fd 9) for 1.20 s; age 1.21 s
 *
 * with the state one of: running on worker N, runnable, waiting on <what> (I/O
 * operation and fd, timer and deadline, mutex, channel, join of task N, ...). The
 * times use each worker's cached clock and may be a few polls' time early.
 * Safe while the runtime runs: it walks the task list shard by shard under the
 * shards' own locks, copying, and prints after releasing each; it takes no lock a
 * signal could have interrupted (do not call it from a signal handler: use
 * orca_config.dump_signal). Any thread, tasks included (it does not suspend, but
 * holds the worker while it prints).
 * Returns the number of tasks listed; -EINVAL if rt or out is NULL; -ENOMEM. */
ORCA_API int orca_runtime_dump(orca_runtime *rt, FILE *out);

#ifdef __cplusplus
}
#endif

#endif
