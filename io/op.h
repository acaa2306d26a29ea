/* An I/O operation in flight: the inside of orca_op (include/orca/io.h). It lives in
 * the awaiting task's frame; the driver refers to it by address (io_uring: the
 * SQE's user_data; epoll: the fd's waiter list) until it completes.
 *
 * States: INIT -> SUBMITTED (handed to the current worker's driver) ->
 * [CANCELLING (a cancel was requested)] -> COMPLETED (result stored, waker taken)
 * -> DONE (the awaiting side read the result). A submit may also finish at once
 * (epoll: the non-blocking attempt succeeded): INIT -> DONE in one poll.
 * `lock` (a byte spinlock) orders the completing side (the driver's worker) against
 * a poll or a cancel from the task, which may be running on another worker by then.
 *
 * Modes (written and read by the awaiting task only): NONE until submitted;
 * DRIVER, the driver completes it; POOL (epoll backend: regular files, open, stat,
 * fsync), a blocking-pool task does the system call and the op awaits that task's
 * join handle (`job`); cancel aborts the job, which stops it if it has not started
 * and is waited for otherwise, so the buffer is never written after the await
 * returned.
 *
 * Cross-thread cancel (both backends): the request is put on the owning driver's
 * cancel list under the op's lock and only while the op is CANCELLING; the driver
 * takes a completing op off that list under the op's lock before marking it
 * COMPLETED. So the list never holds an op whose await may have returned.
 *
 * orca_close of the op's fd (fd_close.h) ends it from the driver side: io_uring's
 * kernel answers -ECANCELED, epoll's driver completes it; orca__op_complete reports
 * -EBADF unless the op is CANCELLING (its own task's abort wins: -ECANCELED).
 *
 * An accept on a listener with multishot accept (io_uring, listener.h) is completed
 * by whichever worker reaps the listener's CQE, possibly before the submitting poll
 * stored its waker: op_poll looks for COMPLETED when it stores the waker. */
#ifndef ORCA_IO_OP_H
#define ORCA_IO_OP_H

#include <stdatomic.h>
#include <stdint.h>

#include <orca/io.h>

#include "driver.h"

enum orca__op_kind {
	ORCA_OP_READ = 1,
	ORCA_OP_WRITE,
	ORCA_OP_PREAD,
	ORCA_OP_PWRITE,
	ORCA_OP_RECV,
	ORCA_OP_SEND,
	ORCA_OP_ACCEPT,
	ORCA_OP_CONNECT,
	ORCA_OP_RECVMSG,
	ORCA_OP_SENDMSG,
	ORCA_OP_FSYNC,
	ORCA_OP_CLOSE,
	ORCA_OP_SHUTDOWN,
	ORCA_OP_OPENAT,
	ORCA_OP_POLL,
	ORCA_OP_STATX,
};

enum orca__op_state {
	ORCA_OP_INIT = 0,
	ORCA_OP_SUBMITTED,
	ORCA_OP_CANCELLING,
	ORCA_OP_COMPLETED,
	ORCA_OP_DONE,
};

enum orca__op_mode {
	ORCA_OP_MODE_NONE = 0, /* not handed to anyone (yet) */
	ORCA_OP_MODE_DRIVER,
	ORCA_OP_MODE_POOL,
};

/* op->bflags in pool mode: the pool thread ran the system call (res is its result). */
#define ORCA_OP_POOL_RAN 0x80

struct orca_task;

typedef struct orca__op {
	orca_future base;
	uint8_t kind;
	uint8_t state;          /* under lock once submitted */
	atomic_flag lock;
	_Atomic uint8_t cancel_queued; /* on the owning driver's cancel list */
	int32_t fd;
	int32_t res;            /* the result; epoll, while pending: bytes done so far */
	uint32_t len;
	uint32_t flags;
	uint8_t mode;           /* enum orca__op_mode, set by submit; the task's side only */
	uint8_t bflags;         /* the backend's own per-op bits (epoll_driver.c) */
	uint16_t interest;      /* epoll: the events it waits for */
	void *addr;             /* buffer, sockaddr, path or msghdr */
	uint64_t off;           /* offset, addrlen pointer, mode or statx buffer */
	orca_waker waker;
	union {
		orca__driver *driver;  /* DRIVER mode: whose driver holds it */
		struct orca_task *job; /* POOL mode: the blocking-pool task doing it */
	};
	union {
		struct orca__op *cancel_next;     /* on the owning driver's cancel list */
		struct orca__listener *listener;  /* io_uring accept waiting on a listener
						   * (listener.h; never on a cancel list) */
	};
	struct orca__op *wait_next; /* epoll: next op on the same fd's waiter list;
				     * io_uring: next accept waiting on the same listener */
} orca__op;

_Static_assert(sizeof(orca__op) <= sizeof(orca_op), "orca_op.priv must hold an orca__op");

static inline void orca__op_lock(orca__op *op)
{
	while (atomic_flag_test_and_set_explicit(&op->lock, memory_order_acquire)) {
	}
}
static inline void orca__op_unlock(orca__op *op)
{
	atomic_flag_clear_explicit(&op->lock, memory_order_release);
}
/* Under op's lock, by whoever finishes it: stores res, marks it COMPLETED and takes
 * its waker, to be woken after the unlock (when op may already be gone). */
static inline orca_waker orca__op_set_completed(orca__op *op, int32_t res)
{
	op->res = res;
	op->state = ORCA_OP_COMPLETED;
	orca_waker w = op->waker;
	op->waker = (orca_waker){0};
	return w;
}

/* Start op on d (owner thread): ORCA__SUBMIT_PENDING, ORCA__SUBMIT_DONE (result in
 * op->res) or -errno. */
static inline int orca__driver_submit(orca__driver *d, orca__op *op)
{
	return d->vt->submit(d, op);
}
/* Cancel op, which d holds, from any thread. */
static inline void orca__driver_cancel(orca__driver *d, orca__op *op)
{
	d->vt->cancel(d, op);
}

/* The driver of the worker the caller runs on, or NULL. */
orca__driver *orca__driver_current(void);

#endif
