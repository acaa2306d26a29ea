/* Which workers are searching for work and which are parked (Tokio's
 * multi_thread/idle.rs). One atomic word counts unparked and searching workers; a
 * mutex-guarded list names the parked ones.
 *
 * Protocol (all counter operations SeqCst: a push of work followed by a check of
 * the counters must not be reordered with a worker's decrement followed by its
 * check of the queues, or the work could be stranded):
 *  1. A worker with no local work becomes a searcher only while fewer than half the
 *     workers search (to_searching); a searcher that finds work stops searching
 *     and, if it was the last searcher, wakes one parked worker to take over.
 *  2. Whoever makes work stealable (local push, inject push) calls notify_parked:
 *     if nobody searches and someone is parked, it pops a parked worker, counts it
 *     unparked and searching, and unparks it.
 *  3. A worker parking (to_parked) counts itself parked and pushes itself on the
 *     list; if it was the last searcher it re-checks every queue afterwards and
 *     calls notify_parked if it finds work.
 *  4. A parked worker that wakes for another reason (timer, own queue) removes
 *     itself from the list (unpark_by_id) and counts itself unparked.
 *
 * Model: tests/model/park.pml (spin), tests/model/park_model.cc and
 * tests/model/inject_queue_model.cc (relacy). */
#ifndef ORCA_RUNTIME_IDLE_H
#define ORCA_RUNTIME_IDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct orca__idle {
	_Atomic uint32_t state; /* unparked << 16 | searching */
	unsigned nworkers;
	pthread_mutex_t lock;
	unsigned *sleepers; /* under lock */
	unsigned nsleepers;
} orca__idle;

int orca__idle_init(orca__idle *idle, unsigned nworkers);
void orca__idle_destroy(orca__idle *idle);
/* Step 1. */
bool orca__idle_to_searching(orca__idle *idle);
/* Step 1: returns true if the caller was the last searcher. */
bool orca__idle_from_searching(orca__idle *idle);
/* Step 3: returns true if the caller was the last searcher. */
bool orca__idle_to_parked(orca__idle *idle, unsigned worker, bool searching);
/* Step 2: returns the index of the worker to unpark, or -1. */
int orca__idle_worker_to_notify(orca__idle *idle);
/* Step 4: true if the worker was still listed (and is now unparked, not searching). */
bool orca__idle_unpark_by_id(orca__idle *idle, unsigned worker);
/* Whether a worker is on the parked list. */
bool orca__idle_is_parked(orca__idle *idle, unsigned worker);
/* Searching workers right now. */
unsigned orca__idle_num_searching(orca__idle *idle);

#endif
