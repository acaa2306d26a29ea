/* The I/O driver interface: what a worker needs from its backend to submit
 * operations, wait for completions or a wake-up with a deadline, and be woken from
 * another thread. One driver per worker, created on the worker's own thread. The
 * io_uring backend is io/uring_driver.c; an epoll backend will sit beside it behind
 * this same interface.
 *
 * Parking protocol (the parker's, park.h, with the ring wait in place of the
 * futex): park_state is EMPTY, PARKED or NOTIFIED.
 *  1. unpark (any thread): swap in NOTIFIED; if the old state was PARKED, write
 *     the driver's eventfd (the ring always has a read of it armed while parked, so
 *     the write completes that read and ends the ring wait).
 *  2. park (owner): consume NOTIFIED and only poll; else EMPTY -> PARKED, arm the
 *     eventfd read, submit pending SQEs and wait for one completion or the
 *     deadline in a single io_uring_enter; then swap back to EMPTY and reap.
 *
 * Model: tests/model/park.pml (spin) covers the state machine. */
#ifndef ORCA_IO_DRIVER_H
#define ORCA_IO_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct orca__driver orca__driver;

/* Creates the calling worker thread's driver. Returns NULL and sets *err (a
 * negative errno) when the kernel refuses io_uring (ENOSYS, EPERM, EACCES, ENOMEM);
 * the worker then parks on a futex and I/O calls return -ENOSYS. */
orca__driver *orca__driver_create(unsigned worker_index, int *err);
/* Owner thread; no operation may be in flight. */
void orca__driver_destroy(orca__driver *d);
/* Owner: submits what is queued and handles completions without blocking. Returns
 * how many operations completed. */
size_t orca__driver_poll(orca__driver *d);
/* Owner: sleeps until a completion, an unpark, or the CLOCK_MONOTONIC deadline
 * (< 0: none), submitting queued operations in the same system call. */
void orca__driver_park(orca__driver *d, int64_t deadline_ns);
/* Any thread. */
void orca__driver_unpark(orca__driver *d);
/* Operations submitted and not yet completed. */
unsigned orca__driver_inflight(orca__driver *d);
/* A one-line description of the ring's setup (for logs). */
const char *orca__driver_describe(orca__driver *d);

/* Counters, owner-written, readable anywhere (relaxed). */
typedef struct orca__driver_stats {
	uint64_t enters;      /* io_uring_enter system calls */
	uint64_t submitted;   /* SQEs handed to the kernel */
	uint64_t completions; /* CQEs handled */
} orca__driver_stats;
void orca__driver_stats_read(orca__driver *d, orca__driver_stats *out);

#endif
