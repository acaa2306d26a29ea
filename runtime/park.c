/* The park/unpark state machine; park.h has the protocol, numbers refer to its steps.
 * No system call here: the caller sleeps and wakes (park.h). */
#include "park.h"

#include "panic.h"

enum { EMPTY = 0, PARKED = 1, NOTIFIED = 2 };

void orca__parker_init(orca__parker *p)
{
	atomic_init(&p->state, EMPTY);
}

bool orca__parker_begin(orca__parker *p)
{
	/* Step 2: a pending token is consumed without waiting. Acquire: what the
	 * unparker wrote before unparking is visible. */
	uint32_t expected = NOTIFIED;
	if (atomic_compare_exchange_strong_explicit(&p->state, &expected, EMPTY, memory_order_acquire,
						    memory_order_relaxed))
		return false;
	expected = EMPTY;
	if (atomic_compare_exchange_strong_explicit(&p->state, &expected, PARKED,
						    memory_order_acq_rel, memory_order_acquire))
		return true;
	if (expected != NOTIFIED)
		orca__panic("parker: parked twice at once");
	/* An unpark landed between the two CASes. Consume it with a swap, not a store: a
	 * second unpark may have landed since the CAS, and a store would erase it unread
	 * (and its release would pair with nothing). Found by tests/model/park_model.cc. */
	atomic_exchange_explicit(&p->state, EMPTY, memory_order_acquire);
	return false;
}

void orca__parker_done(orca__parker *p)
{
	/* Step 3. Acquire: if an unpark ended the wait (or landed during it), what its
	 * caller wrote is visible. */
	atomic_exchange_explicit(&p->state, EMPTY, memory_order_acquire);
}

bool orca__parker_pending(orca__parker *p)
{
	return atomic_load_explicit(&p->state, memory_order_relaxed) == NOTIFIED;
}

bool orca__parker_unpark(orca__parker *p)
{
	/* Step 1. Release: our writes before unparking are seen by the parked thread. */
	return atomic_exchange_explicit(&p->state, NOTIFIED, memory_order_release) == PARKED;
}
