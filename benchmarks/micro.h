/* The micro benchmark workloads, in C, shared by the Google Benchmark driver
 * (bench_micro.cc). Each function runs one batch of a workload and returns one
 * figure (the unit is in its comment); timing is done inside, with
 * CLOCK_MONOTONIC, around exactly the measured part.
 *
 * The Orca workloads take a runtime created by the caller (once per benchmark)
 * and run their timed loop inside an Orca task (orca_block_on), because
 * orca_spawn / orca_await / orca_yield only work inside a task.
 *
 * The threads_* workloads are the plain-thread equivalents (pthreads only), so
 * that the async-versus-threads comparison needs nothing from outside the repo.
 */
#ifndef ORCA_BENCH_MICRO_H
#define ORCA_BENCH_MICRO_H

#include <orca/orca.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Orca (micro_orca.c) ---- */

/* n empty stackful tasks (orca_spawn) spawned and joined (orca_join) by one task,
 * `outstanding` at a time: spawn that many, then join them in spawn order.
 * outstanding == 1 is spawn-then-join; == n is Tokio's shape (all spawned
 * first). ns per task. */
double orca_bench_spawn_join_stackful(orca_runtime *rt, long n, long outstanding);

/* As above with stackless tasks: orca_spawn_future of a future that is ready on
 * its first poll. ns per task. */
double orca_bench_spawn_join_stackless(orca_runtime *rt, long n, long outstanding);

/* One task calls orca_yield n times with nothing else to run: a switch to the
 * worker and back per yield. ns per yield. */
double orca_bench_yield_alone(orca_runtime *rt, long n);

/* `tasks` tasks each call orca_yield n times; the measuring task joins them.
 * On a 1-worker runtime with tasks == 2 the two alternate, so each yield is one
 * task switch (task -> worker -> other task). ns per yield (total yields). */
double orca_bench_yield_many(orca_runtime *rt, long tasks, long n);

/* Two stackful tasks ping-pong n round trips through a user-written future and
 * waker (a flag and a stored waker under a spinlock, one per direction).
 * ns per one-way wake (round trip / 2). *cross_pct (may be NULL) receives the
 * share of round trips in which the two tasks ran on different worker threads. */
double orca_bench_task_pingpong(orca_runtime *rt, long n, double *cross_pct);

/* A plain thread (the caller) and a stackful task ping-pong n round trips: the
 * thread wakes the task through the same user-written future's waker (from
 * outside the runtime: inject queue + unpark), the task wakes the thread through
 * a futex. ns per one-way wake (round trip / 2). */
double orca_bench_thread_task_pingpong(orca_runtime *rt, long n);

/* n stackful tasks each orca_sleep(ORCA_MSEC(1)), spawned then joined by one
 * task. Wall ms from the first spawn to the last join. */
double orca_bench_sleepers_stackful(orca_runtime *rt, long n);

/* As above with stackless tasks: a user-written future that arms an
 * orca_sleep_future for now + 1 ms on its first poll. Wall ms. */
double orca_bench_sleepers_stackless(orca_runtime *rt, long n);

/* n stackful tasks parked in orca_sleep(1 hour); (VmRSS when all are parked -
 * VmRSS before the first spawn) / n, then all aborted and joined. Includes the
 * 8-byte join handle kept per task. Bytes per task. */
double orca_bench_rss_stackful(orca_runtime *rt, long n);

/* n stackless tasks whose user-written future stays pending; measured and
 * released as above. Bytes per task. */
double orca_bench_rss_stackless(orca_runtime *rt, long n);

/* The floor (micro_floor.c): two contexts switching directly with the runtime's
 * assembly switch, no scheduler. ns per switch (one direction). */
double orca_bench_raw_switch(long n);

/* ---- Orca channels and sync (micro_sync.c, issue 4) ---- */

/* A uint64_t bounced between the bench task (pinger) and one spawned task over two
 * bounded channels of `capacity` (Tokio's mpsc::channel(1) is capacity 1; Go's is
 * unbuffered), n round trips. ns per round trip. */
double orca_bench_chan_pingpong(orca_runtime *rt, long n, long capacity);

/* `producers` tasks each send n / producers uint64_t into one bounded channel of
 * `capacity`; the bench task receives them all. ns per message (spawns included). */
double orca_bench_chan_throughput(orca_runtime *rt, long producers, long n, long capacity);

/* `tasks` tasks each orca_mutex_lock + increment + unlock one counter n times; the
 * bench task spawns and joins them. ns per lock (wall / (tasks * n)). */
double orca_bench_mutex_contention(orca_runtime *rt, long tasks, long n);

/* One task: orca_semaphore_acquire(1) + orca_semaphore_release(1) on a semaphore of
 * 1 permit, n times, nobody else using it. ns per acquire+release pair. */
double orca_bench_semaphore_uncontended(orca_runtime *rt, long n);

/* ---- Orca I/O (micro_io.c) ---- */

/* Two tasks ping-pong one byte through two pipes with orca_read / orca_write, n
 * round trips. ns per round trip. */
double orca_bench_pipe_pingpong(orca_runtime *rt, long n);

/* ---- plain threads (micro_threads.c) ---- */

/* `threads` threads each pthread_mutex_lock + increment + unlock one counter n
 * times (the shape of orca_bench_mutex_contention). ns per lock (wall, threads
 * created and joined inside it, / (threads * n)). */
double threads_bench_mutex_contention(long threads, long n);

/* Two threads ping-pong one byte through two pipes with blocking read / write, n
 * round trips. ns per round trip. */
double threads_bench_pipe_pingpong(long n);

/* n threads (default attributes) created and joined, `outstanding` at a time.
 * ns per thread. */
double threads_bench_spawn_join(long n, long outstanding);

/* Two threads pass a turn back and forth with one mutex and two condvars, n
 * round trips. ns per one-way wake (round trip / 2). */
double threads_bench_condvar_pingpong(long n);

/* Two threads pinned to the same CPU pass a turn back and forth through a futex,
 * n round trips: each hand-off is one kernel thread switch. ns per switch.
 * Returns a negative value if pinning failed. */
double threads_bench_futex_switch(long n);

/* n threads (64 KiB stacks) each nanosleep 1 ms, created then joined. Wall ms. */
double threads_bench_sleepers(long n);

/* n threads with 64 KiB mmap'd stacks parked on a condvar; (VmRSS when all are
 * parked - VmRSS before) / n. Bytes per thread. */
double threads_bench_rss_parked(long n);

/* ---- shared helpers (micro_threads.c) ---- */

/* CLOCK_MONOTONIC in ns. */
long long bench_now_ns(void);
/* Aborts with "bench: WHAT: <error>" if err is a negative errno (an Orca call under
 * test failed: a benchmark that measures an error path is worse than none). */
void bench_check(int err, const char *what);
/* Aborts with "bench: WHAT" (a workload's own result check failed). */
void bench_fail(const char *what);
/* VmRSS of this process in bytes, from /proc/self/status. */
long long bench_vm_rss_bytes(void);

#ifdef __cplusplus
}
#endif

#endif
