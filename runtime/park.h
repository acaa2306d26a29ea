/* The park/unpark state machine: how an idle worker goes to sleep without losing a
 * wake-up, whatever it sleeps in. One atomic word and three steps; the sleeping
 * itself is the caller's. Its one user is the I/O driver (io/driver_shared.h), which
 * sleeps in its ring wait (io_uring) or epoll_wait (epoll) and is woken through an
 * eventfd; the steps return what the caller must do, so the unpark of a worker that
 * is not parked is one swap, with no call through a pointer and no system call.
 *
 * Protocol (state: EMPTY, PARKED, NOTIFIED):
 *  1. unpark (any thread, orca__parker_unpark): swap in NOTIFIED; if the old state
 *     was PARKED, the caller wakes the owner's wait (the drivers: write the eventfd).
 *  2. park (owner, orca__parker_begin): consume a pending NOTIFIED and do not wait;
 *     else CAS EMPTY -> PARKED, and the caller waits.
 *  3. after the wait, however it ended (woken, deadline, another event, spuriously),
 *     orca__parker_done swaps back to EMPTY.
 * An unpark before the park is never lost: the token stays until consumed. The
 * caller's wait must end when step 1 wakes it, even if that wake-up came before the
 * wait began (an eventfd's count stays until read). A wait may also end without an
 * unpark: the caller re-checks what it waits for (the worker loop does).
 * Memory: what the unparker wrote before step 1 is seen by the owner after step 2 or
 * 3 consumed its token (release swap, acquire CAS / swap).
 *
 * Model: tests/model/park_model.cc (relacy) compiles park.c, with the drivers'
 * eventfd wait transcribed; tests/model/park.pml (spin) checks the protocol with
 * the worker loop. */
#ifndef ORCA_RUNTIME_PARK_H
#define ORCA_RUNTIME_PARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The embedding struct gives it a cache line of its own (unparkers write it). */
typedef struct orca__parker {
	_Atomic uint32_t state; /* EMPTY, PARKED or NOTIFIED */
} orca__parker;

void orca__parker_init(orca__parker *p);
/* Owner, step 2: true if the state is now PARKED (wait, then call orca__parker_done);
 * false if a pending unpark was consumed instead (do not wait). */
bool orca__parker_begin(orca__parker *p);
/* Owner, step 3: after the wait that orca__parker_begin's true asked for. */
void orca__parker_done(orca__parker *p);
/* Owner: whether an unpark is pending (a relaxed look; step 2 still consumes it). */
bool orca__parker_pending(orca__parker *p);
/* Any thread, step 1: true if the owner is parked and the caller must wake its wait. */
bool orca__parker_unpark(orca__parker *p);

#endif
