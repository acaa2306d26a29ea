/* What the runtime records about itself for metrics, the task dump and the blocking
 * detector (include/orca/metrics.h), and what that may cost.
 *
 * Cost rules, because every hot path (a poll, a wake, a spawn) pays them:
 *  - counters are per worker, written only by their worker with a relaxed load and
 *    store (no locked instruction) and summed when read (orca__stat_add);
 *  - no clock read per poll: a clock read costs ~21 ns here (vDSO), a yield ~21 ns
 *    in all. Busy time is measured at park boundaries, which cost a system call
 *    anyway; one poll in ORCA_METRICS_POLL_SAMPLE is timed for the histogram
 *    (task.c);
 *  - task timestamps (age, time in state) come from the worker's cached clock
 *    (orca__worker.clock), refreshed by each timed poll, each park and whenever
 *    the worker runs out of local work, so they may be early by the length of the
 *    polls it ran since (at most 256 polls; a stamp right after a poll that ran
 *    long includes that poll: reading the clock at every stamp was measured at
 *    +4 ns per wake, +8%, in task_pingpong);
 *  - what a task waits on is recorded by the leaf future that returns PENDING
 *    (orca__note_wait: a static string, a detail and its format; no allocation).
 *    Whoever polls a future clears it first (orca__wait_clear), and the first leaf
 *    to note wins, so a timeout around a recv shows the recv.
 *
 * Reading a running task from another thread (the watchdog, the dump):
 *  1. a worker stores `current` (relaxed) when a poll starts and ends, and bumps
 *     `stats.polls` when one starts;
 *  2. the watchdog samples (polls, current) per worker: the same poll seen for
 *     longer than the threshold is a blocked worker;
 *  3. to read that task's name and id it locks the task's owned-list shard and
 *     reads (polls, current) again. Unchanged means the poll still runs, so the
 *     task has not completed; and it cannot complete, and be freed, until the shard
 *     is unlocked, because completion removes it from that shard under the lock
 *     (after the worker's stores of step 1, which the lock makes visible).
 */
#ifndef ORCA_RUNTIME_OBSERVE_H
#define ORCA_RUNTIME_OBSERVE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <orca/future.h>
#include <orca/metrics.h>

/* How the dump prints a wait's detail. */
enum orca__wait_fmt {
	ORCA__WAIT_PLAIN = 0, /* no detail */
	ORCA__WAIT_FD,        /* a file descriptor */
	ORCA__WAIT_DEADLINE,  /* an orca_now() instant */
	ORCA__WAIT_ADDR,      /* the address of the primitive waited on */
	ORCA__WAIT_TASK,      /* a task id */
};

/* The task polling with context cx (if it is a task's) waits on `what` (a string
 * literal: "recv", "mutex", ...) with a detail in format fmt, unless something was
 * noted since the last orca__wait_clear. Called by leaf futures on their PENDING
 * path; any thread (a plain thread's blocking wait notes nothing). Never
 * suspends. */
void orca__note_wait(const orca_context *cx, const char *what, enum orca__wait_fmt fmt,
		     int64_t detail);

/* Per-worker counters (orca_worker_metrics). Owner-written except where noted. */
typedef struct orca__worker_stats {
	_Alignas(64) _Atomic uint64_t polls;
	_Atomic uint64_t steals;
	_Atomic uint64_t steal_ops;
	_Atomic uint64_t lifo_hits;
	_Atomic uint64_t parks;
	_Atomic uint64_t timers_fired;
	_Atomic uint64_t busy_ns;    /* finished busy periods */
	_Atomic int64_t busy_since;  /* start of the current busy period; 0 while parked */
	_Atomic uint64_t hist[ORCA_METRICS_BUCKETS];
	/* Written by other threads (rarely): */
	_Alignas(64) _Atomic uint64_t unparks;  /* notifiers, fetch_add */
	_Atomic uint64_t blocked_polls;         /* the watchdog */
} orca__worker_stats;

/* Adds n to an owner-only counter: a relaxed load and store, no locked
 * instruction (only the owner writes it; readers may see either value). */
static inline void orca__stat_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* The histogram bucket of a poll that took ns (include/orca/metrics.h). */
static inline unsigned orca__poll_bucket(int64_t ns)
{
	if (ns < 1024)
		return 0;
	unsigned b = (unsigned)(63 - __builtin_clzll((unsigned long long)ns)) - 9;
	return b < ORCA_METRICS_BUCKETS ? b : ORCA_METRICS_BUCKETS - 1;
}

struct orca_runtime;

/* runtime/watchdog.c: starts the blocking detector's thread and registers the
 * dump signal, as configured; 0 or -errno (nothing left running then). stop
 * undoes both (joins the thread). From the thread creating / shutting down the
 * runtime. */
int orca__observe_start(struct orca_runtime *rt);
void orca__observe_stop(struct orca_runtime *rt);
/* runtime/dump.c: the dump signal's registry (see there). */
int orca__dump_signal_register(struct orca_runtime *rt);
void orca__dump_signal_unregister(struct orca_runtime *rt);
/* Calls the handler that was installed before one of ours, unless it was SIG_DFL or
 * SIG_IGN (our handlers replace the default action). Async-signal-safe. */
void orca__signal_chain(const struct sigaction *previous, int sig, siginfo_t *info, void *uc);

/* The observer state of a runtime (inside struct orca_runtime). */
typedef struct orca__observer {
	int64_t created_at;          /* orca_now() at creation */
	int64_t threshold_ns;        /* blocking detector; 0 = off */
	pthread_t watchdog;
	bool watchdog_running;
	pthread_mutex_t lock;        /* guards stop, for the watchdog's timed wait */
	pthread_cond_t cond;
	bool stop;
	int dump_signal;             /* 0 = none */
	bool dump_registered;
	struct orca_runtime *next;   /* the dump signal's registry (dump.c) */
	_Atomic uint64_t refused_spawns; /* ids taken by spawns refused at shutdown */
} orca__observer;

#endif
