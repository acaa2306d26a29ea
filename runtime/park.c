/* See park.h for the protocol; numbers refer to its steps. */
#include "park.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "panic.h"

enum { EMPTY = 0, PARKED = 1, NOTIFIED = 2 };

void orca__parker_init(orca__parker *p)
{
	atomic_init(&p->state, EMPTY);
}

static int futex_wait_abs(_Atomic uint32_t *word, uint32_t val, int64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;
	if (deadline_ns >= 0) {
		ts.tv_sec = deadline_ns / 1000000000;
		ts.tv_nsec = deadline_ns % 1000000000;
		tsp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	return (int)syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val,
			    tsp, NULL, FUTEX_BITSET_MATCH_ANY);
}

void orca__parker_park(orca__parker *p, int64_t deadline_ns)
{
	/* Step 2: a pending token is consumed without sleeping. Acquire: what the
	 * unparker wrote before unparking is visible. */
	uint32_t expected = NOTIFIED;
	if (atomic_compare_exchange_strong_explicit(&p->state, &expected, EMPTY, memory_order_acquire,
						    memory_order_relaxed))
		return;
	expected = EMPTY;
	if (!atomic_compare_exchange_strong_explicit(&p->state, &expected, PARKED,
						     memory_order_acq_rel, memory_order_acquire)) {
		if (expected != NOTIFIED)
			orca__panic("parker: parked twice at once");
		/* Consume the token with a swap, not a store: a second unpark may have
		 * landed since the CAS, and a store would erase it unread (and its release
		 * would pair with nothing). Found by tests/model/park_model.cc. */
		atomic_exchange_explicit(&p->state, EMPTY, memory_order_acquire);
		return;
	}
	for (;;) {
		int r = futex_wait_abs(&p->state, PARKED, deadline_ns);
		int err = r < 0 ? errno : 0;
		/* Step 3. */
		if (atomic_load_explicit(&p->state, memory_order_acquire) == NOTIFIED || err == ETIMEDOUT)
			break;
		if (err && err != EINTR && err != EAGAIN)
			orca__panic("parker: futex wait failed");
	}
	atomic_exchange_explicit(&p->state, EMPTY, memory_order_acquire);
}

void orca__parker_unpark(orca__parker *p)
{
	/* Step 1. Release: our writes before unparking are seen by the parked thread. */
	if (atomic_exchange_explicit(&p->state, NOTIFIED, memory_order_release) == PARKED)
		syscall(SYS_futex, (uint32_t *)&p->state, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL,
			0);
}
