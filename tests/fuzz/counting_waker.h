/* A waker for driving futures by hand, without a runtime: instead of making a task
 * runnable it counts what the code under test did with it, so a fuzz target can
 * check who was woken, how often, in which order, and that every clone it was
 * given was consumed (woken or dropped) exactly once. Single-threaded. */
#ifndef ORCA_FUZZ_COUNTING_WAKER_H
#define ORCA_FUZZ_COUNTING_WAKER_H

#include <stddef.h>
#include <stdint.h>

#include <orca/future.h>

typedef struct counting_waker {
	uint32_t tag;   /* the caller's name for it, written to the wake log */
	uint32_t wakes; /* wake and wake_by_ref calls */
	int32_t clones; /* clones alive: made, not yet woken or dropped */
} counting_waker;

void counting_waker_init(counting_waker *w, uint32_t tag);

/* The waker a poll borrows (orca_context.waker): not a clone, not counted. */
orca_waker counting_waker_ref(counting_waker *w);

/* Every wake since the last reset, in order, as tags (the log keeps the first
 * WAKE_LOG_MAX; wake_log_len counts them all). */
#define WAKE_LOG_MAX 4096
void wake_log_reset(void);
size_t wake_log_len(void);
uint32_t wake_log_at(size_t i);

#endif
