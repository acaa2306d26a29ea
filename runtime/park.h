/* A worker's parker: how an idle worker sleeps until woken or until a deadline, at
 * 0% CPU. A futex on one word (the io_uring driver later parks inside its ring
 * wait instead, behind this same interface).
 *
 * Protocol (state: EMPTY, PARKED, NOTIFIED):
 *  1. unpark (any thread): swap in NOTIFIED; if the old state was PARKED, futex-wake.
 *  2. park (owner): consume a pending NOTIFIED and return at once; else CAS
 *     EMPTY -> PARKED and futex-wait while the word is PARKED.
 *  3. on waking (notified, timeout or spurious), swap back to EMPTY.
 * An unpark before the park is never lost: the token stays until consumed.
 *
 * Model: tests/model/park.pml (spin) and tests/model/park_model.cc (relacy). */
#ifndef ORCA_RUNTIME_PARK_H
#define ORCA_RUNTIME_PARK_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct orca__parker {
	_Alignas(64) _Atomic uint32_t state;
} orca__parker;

void orca__parker_init(orca__parker *p);
/* Owner only. Sleeps until unparked or until the CLOCK_MONOTONIC time deadline_ns
 * (< 0: no deadline). */
void orca__parker_park(orca__parker *p, int64_t deadline_ns);
/* Any thread. */
void orca__parker_unpark(orca__parker *p);

#endif
