/* Timers: sleep, deadlines, intervals. Timeouts around any await are in future.h
 * (orca_await_timeout / orca_await_deadline).
 *
 * Each worker keeps its timers in a heap; a worker with nothing to do parks until
 * its earliest deadline. Deadlines are never early: a timer fires at or after its
 * deadline, usually within a millisecond of it.
 */
#ifndef ORCA_TIME_H
#define ORCA_TIME_H

#include <orca/common.h>
#include <orca/future.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The current time: CLOCK_MONOTONIC in nanoseconds. Any thread. */
ORCA_API int64_t orca_now(void);

/* Suspends the calling task for at least duration_ns nanoseconds (<= 0: just
 * yields). Returns 0, -ECANCELED if the task is aborted, -EPERM outside a stackful
 * task. May suspend. */
ORCA_API int orca_sleep(int64_t duration_ns);

/* Suspends the calling task until orca_now() >= deadline_ns. Returns and errors as
 * orca_sleep. May suspend. */
ORCA_API int orca_sleep_until(int64_t deadline_ns);

/* A sleep as a future (for orca_select and friends): ready with 0 once
 * orca_now() >= deadline. Caller-allocated, no allocation inside. Once polled it
 * must be awaited to the end or dropped (orca_select / orca_await do that). Polling
 * it outside a runtime's worker gives -EPERM. */
typedef struct orca_sleep_future {
	orca_future base;
	/* Private: the timer entry (its layout is the library's, not part of the API). */
	uint64_t priv[6];
} orca_sleep_future;

/* Initialises *f to become ready at deadline_ns (absolute, orca_now() scale). */
ORCA_API void orca_sleep_future_init(orca_sleep_future *f, int64_t deadline_ns);

/* A periodic timer. Ticks fall on start + k * period; a tick that is late does not
 * shift the later ones (no drift), and ticks missed while the task was busy are
 * skipped rather than delivered in a burst. */
typedef struct orca_interval {
	int64_t next;
	int64_t period;
} orca_interval;

/* Initialises an interval whose first tick is at orca_now() + period_ns.
 * Errors: -EINVAL (iv NULL or period_ns <= 0). */
ORCA_API int orca_interval_init(orca_interval *iv, int64_t period_ns);

/* Suspends until the next tick. Returns how many periods have passed since the
 * previous tick (1 when on time, more when ticks were skipped), -ECANCELED if the
 * task is aborted, -EINVAL (iv NULL or uninitialised), -EPERM outside a stackful
 * task. May suspend. */
ORCA_API int64_t orca_interval_tick(orca_interval *iv);

#ifdef __cplusplus
}
#endif

#endif
