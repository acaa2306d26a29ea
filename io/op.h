/* An I/O operation in flight: the inside of orca_op (include/orca/io.h). It lives in
 * the awaiting task's frame; the driver refers to it by address (the SQE's
 * user_data) until its completion arrives.
 *
 * States: INIT -> SUBMITTED (SQE queued on the current worker's ring) ->
 * [CANCELLING (an async cancel was requested)] -> COMPLETED (CQE handled, result
 * stored, waker taken) -> DONE (the awaiting side read the result).
 * `lock` (a byte spinlock) orders the reaper (the ring's worker) against a poll or
 * a cancel from the task, which may be running on another worker by then. */
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

typedef struct orca__op {
	orca_future base;
	uint8_t kind;
	uint8_t state;          /* under lock once submitted */
	atomic_flag lock;
	_Atomic uint8_t cancel_queued; /* on the owning driver's cancel list */
	int32_t fd;
	int32_t res;
	uint32_t len;
	uint32_t flags;
	void *addr;             /* buffer, sockaddr, path or msghdr */
	uint64_t off;           /* offset, addrlen pointer, mode or statx buffer */
	orca_waker waker;
	orca__driver *driver;   /* whose ring holds it */
	struct orca__op *cancel_next;
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

/* Driver side (io/uring_driver.c): queue op's SQE on d (owner thread). Returns 0 or
 * -errno. */
int orca__driver_submit(orca__driver *d, orca__op *op);
/* Cancel op, which is in d's ring, from any thread. */
void orca__driver_cancel(orca__driver *d, orca__op *op);

/* The driver of the worker the caller runs on, or NULL. */
orca__driver *orca__driver_current(void);

#endif
