/* The I/O driver interface: what a worker needs from its backend to submit
 * operations, wait for completions or a wake-up with a deadline, and be woken from
 * another thread. One driver per worker, created on the worker's own thread. Two
 * backends sit behind it, one file each: io/uring_driver.c (the default) and
 * io/epoll_driver.c (where io_uring is refused). io/backend.c picks one per runtime
 * before its workers start (ORCA_BACKEND, then a probe of io_uring_setup), so every
 * worker of a runtime uses the same backend.
 *
 * Parking protocol: runtime/park.h's state machine (park.c, called through
 * driver_shared.h), with the backend's wait as the sleep: EMPTY, PARKED or NOTIFIED.
 *  1. unpark (any thread): swap in NOTIFIED; if the old state was PARKED, write
 *     the driver's eventfd (io_uring: the ring has a read of it armed while parked;
 *     epoll: it is in the epoll set), which ends the wait.
 *  2. park (owner): consume NOTIFIED and only poll; else EMPTY -> PARKED, wait for
 *     one completion (io_uring) or readiness event (epoll), the eventfd or the
 *     deadline in one system call that also submits what is queued; then swap back
 *     to EMPTY and handle what arrived.
 *
 * Model: tests/model/park_model.cc (relacy) compiles park.c and transcribes the
 * eventfd wait and wake-up (driver_shared.c); tests/model/park.pml (spin). */
#ifndef ORCA_IO_DRIVER_H
#define ORCA_IO_DRIVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct orca__driver orca__driver;
struct orca__op;
struct orca__close_req;

/* Counters, owner-written, readable anywhere (relaxed). */
typedef struct orca__driver_stats {
	uint64_t enters;      /* waiting/reaping system calls (io_uring_enter, epoll_wait) */
	uint64_t submitted;   /* io_uring: SQEs handed to the kernel; epoll: fds armed */
	uint64_t completions; /* operations completed by the driver */
	uint64_t accept_arms; /* io_uring: multishot accepts armed (first time and again) */
} orca__driver_stats;

/* The submit results besides -errno. */
#define ORCA__SUBMIT_PENDING 0 /* the driver (or the pool: op->mode) owns the op now */
#define ORCA__SUBMIT_DONE 1    /* finished at once: the result is in op->res */
#define ORCA__SUBMIT_YIELD 2   /* the task used up its budget: not submitted, yield */

typedef struct orca__driver_vtable {
	const char *name; /* "io_uring", "epoll" */
	/* Owner thread; no operation may be in flight. */
	void (*destroy)(orca__driver *d);
	/* Owner: submits what is queued and handles completions without blocking.
	 * must_reap: also collect completions the kernel holds until it is entered
	 * (io_uring's deferred task work), even with nothing to submit. Without it a
	 * poll with nothing queued may make no system call (the park that follows
	 * collects them). Returns how many operations completed. */
	size_t (*poll)(orca__driver *d, bool must_reap);
	/* Owner: sleeps until a completion, an unpark, or the CLOCK_MONOTONIC deadline
	 * (< 0: none), submitting queued operations in the same system call. */
	void (*park)(orca__driver *d, int64_t deadline_ns);
	/* Any thread. */
	void (*unpark)(orca__driver *d);
	/* Owner: operations submitted and not yet completed. */
	unsigned (*inflight)(orca__driver *d);
	/* A one-line description of the backend's setup (for logs). */
	const char *(*describe)(orca__driver *d);
	void (*stats)(orca__driver *d, orca__driver_stats *out);
	/* Owner (the worker the submitting task runs on): start op. Returns
	 * ORCA__SUBMIT_PENDING, _DONE, _YIELD or -errno (op.h). It must not complete
	 * the op itself: completions happen in poll/park, so the caller may store the
	 * op's waker after a PENDING return. */
	int (*submit)(orca__driver *d, struct orca__op *op);
	/* Any thread: cancel op, which d holds (op.h: state already CANCELLING). */
	void (*cancel)(orca__driver *d, struct orca__op *op);
	/* Owner, after its last task, before the thread exits: end what the driver
	 * keeps armed of its own accord (io_uring: multishot accepts, listener.h) and
	 * reap their completions, so destroy finds nothing in flight. May be NULL. */
	void (*retire)(orca__driver *d);
	/* Any thread (orca_close, io/fd_close.h): end every operation d holds on
	 * req->fd with -EBADF (or the bytes it moved), then call
	 * orca__close_req_done(req), possibly before this returns. On d's own worker it
	 * acts at once; from another thread through d's close list and an unpark. */
	void (*end_waits)(orca__driver *d, struct orca__close_req *req);
} orca__driver_vtable;

/* Slots of a driver's fd_waits table (a power of two). */
#define ORCA__FD_WAIT_SLOTS 4096

/* The head of every backend's driver struct. */
struct orca__driver {
	const orca__driver_vtable *vt;
	/* Operations waiting in this driver, per fd & (ORCA__FD_WAIT_SLOTS - 1):
	 * written by the owner only (an op starts waiting, an op completes), read by
	 * orca_close on any thread (relaxed) to ask only the drivers that may hold an op
	 * on its fd (io/fd_close.h). Colliding fds share a slot: a false "maybe" costs
	 * one needless request, never a missed one. 32 bits: a slot is shared by every
	 * fd of its residue class, so a server's many connections add up. */
	_Atomic uint32_t fd_waits[ORCA__FD_WAIT_SLOTS];
};

/* Backends, as orca_backend in include/orca/runtime.h. */
#define ORCA__BACKEND_IO_URING 1
#define ORCA__BACKEND_EPOLL 2

/* io/backend.c. Chooses the backend for a new runtime, on the creating thread:
 * requested is orca_config.backend (0: automatic, then ORCA_BACKEND in the
 * environment decides). Returns 0 and sets *backend, and *may_fall_back when the
 * choice was automatic and io_uring won (if a worker's ring is then refused, the
 * runtime is started again on epoll); or -errno: -EINVAL for an unknown request,
 * the ring's error when io_uring was forced and refused or failed for a reason
 * that is not a refusal. Logs the choice and why (orca__log_debug). */
int orca__backend_select(int requested, int *backend, bool *may_fall_back);
/* True for the errors that mean "io_uring is refused here": ENOSYS, EPERM,
 * EACCES, ENOMEM. */
bool orca__backend_refused(int err);
const char *orca__backend_name(int backend);

/* Creates the calling worker thread's driver for backend. Returns NULL and sets
 * *err (a negative errno) on failure. */
orca__driver *orca__driver_create(int backend, unsigned worker_index, int *err);
orca__driver *orca__uring_driver_create(unsigned worker_index, int *err);
orca__driver *orca__epoll_driver_create(unsigned worker_index, int *err);
/* io/uring_driver.c: sets up and tears down one plain ring; 0 or -errno. */
int orca__uring_probe(void);

/* With ORCA_LOG=debug in the environment: "orca: <message>\n" on stderr.
 * Silent otherwise. Any thread. */
void orca__log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void orca__driver_destroy(orca__driver *d)
{
	d->vt->destroy(d);
}
static inline size_t orca__driver_poll(orca__driver *d, bool must_reap)
{
	return d->vt->poll(d, must_reap);
}
static inline void orca__driver_park(orca__driver *d, int64_t deadline_ns)
{
	d->vt->park(d, deadline_ns);
}
static inline void orca__driver_unpark(orca__driver *d)
{
	d->vt->unpark(d);
}
static inline unsigned orca__driver_inflight(orca__driver *d)
{
	return d->vt->inflight(d);
}
static inline const char *orca__driver_describe(orca__driver *d)
{
	return d->vt->describe(d);
}
static inline void orca__driver_stats_read(orca__driver *d, orca__driver_stats *out)
{
	d->vt->stats(d, out);
}
/* Owner of d: op on fd starts (+1) or stops (-1) waiting in d. No locked
 * instruction: the owner is the only writer. */
static inline void orca__fd_waits_add(orca__driver *d, int fd, int delta)
{
	_Atomic uint32_t *c = &d->fd_waits[(unsigned)fd & (ORCA__FD_WAIT_SLOTS - 1)];
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + (uint32_t)delta,
			      memory_order_relaxed);
}
/* Any thread: whether d may hold an operation on fd. An op whose submit happened
 * before the caller's read (any synchronization between the two tasks) is seen:
 * coherence orders the relaxed store before the load. */
static inline bool orca__fd_waits_maybe(orca__driver *d, int fd)
{
	return atomic_load_explicit(&d->fd_waits[(unsigned)fd & (ORCA__FD_WAIT_SLOTS - 1)],
				    memory_order_relaxed) != 0;
}
static inline void orca__driver_end_waits(orca__driver *d, struct orca__close_req *req)
{
	d->vt->end_waits(d, req);
}
static inline void orca__driver_retire(orca__driver *d)
{
	if (d->vt->retire)
		d->vt->retire(d);
}

#endif
