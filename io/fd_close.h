/* orca_close's first step: ending every Orca operation that other tasks have pending
 * on the fd, with -EBADF, on every backend, before the fd is closed (include/orca/io.h,
 * as Go's net.Conn.Close). After close(2) the number may name a new file at once, so
 * nothing may act on "fd N" afterwards: the closer waits until every driver that may
 * hold an op on the fd has acted, and only then closes.
 *
 * Which drivers: each keeps a count of ops waiting in it per fd slot (driver.h,
 * fd_waits), written by its owner, readable anywhere. The closer asks only the drivers
 * whose count for the fd is non-zero; in the common case (a connection only the
 * closing task used) that is none, and orca_close costs nothing more than before: no
 * lock, no wake-up of another worker, no system call.
 *
 * How a driver acts (driver.h, end_waits), on its owner thread only (io_uring rings are
 * SINGLE_ISSUER, epoll slots owner-only):
 *  - on the closer's own worker, at once;
 *  - from another worker, the request goes on that driver's close list (a mutex, like
 *    the cancel list of driver_shared.h) and the owner is unparked; the owner drains the
 *    list wherever it drains its cancel list.
 * io_uring: the owner queues IORING_OP_ASYNC_CANCEL with IORING_ASYNC_CANCEL_FD |
 * IORING_ASYNC_CANCEL_ALL (the kernel resolves the fd when it issues the cancel, so
 * the close must wait for its CQE); the request is done when that CQE is reaped. The
 * cancelled ops complete with -ECANCELED, which orca__op_complete turns into -EBADF
 * for an op its own task did not cancel (op.h: not CANCELLING). Kernels before 5.19
 * fail the cancel with -EINVAL: there ops keep waiting on the closed fd, as before.
 * epoll: the owner completes the fd slot's waiters (-EBADF, or the bytes they moved),
 * removes the fd from its epoll set and forgets the slot's hints.
 *
 * io_uring matches by open file, not by number: an op on another fd that dup'ed the
 * same file, in a driver that was asked, ends with -EBADF too (epoll goes by number).
 *
 * The request lives in the closer's frame: its wait cannot be abandoned (the future's
 * cancel hook does nothing; an abort waits for the answers, which come at the owner's
 * next driver poll, as cross-worker cancels do). A task
 * that has already seen its abort skips this step (every await of it returns
 * -ECANCELED at once, runtime/await.c's rule) and orca_close closes with close(2)
 * directly, so its clean-up does not leak the fd. Ops started on the fd after the closer's look at the counts (a
 * race in the program) are not ended. */
#ifndef ORCA_IO_FD_CLOSE_H
#define ORCA_IO_FD_CLOSE_H

#include <pthread.h>
#include <stdatomic.h>

#include "driver.h"

typedef struct orca__close_wait orca__close_wait;

/* One driver's share of an orca_close: in the closer's frame until answered. Aligned
 * to 8 so the io_uring driver can tag its address in user_data. */
typedef struct orca__close_req {
	_Alignas(8) int fd;
	struct orca__close_req *next; /* on the driver's close list */
	orca__close_wait *wait;       /* whose count of answers to take down */
} orca__close_req;

typedef struct orca__close_list {
	pthread_mutex_t lock;
	orca__close_req *head; /* under lock */
	_Atomic int pending;   /* a hint: the owner takes the lock only when set */
} orca__close_list;

void orca__close_list_init(orca__close_list *l);
void orca__close_list_destroy(orca__close_list *l);
/* Any thread: queue req; the caller then unparks the owner. */
void orca__close_list_push(orca__close_list *l, orca__close_req *req);
/* Owner: every queued request (chained through next), or NULL; no lock when none. */
orca__close_req *orca__close_list_take(orca__close_list *l);

/* The driver, once it has ended its ops on req->fd: req (and the closer's frame) may
 * be gone when this returns. */
void orca__close_req_done(orca__close_req *req);

/* orca_close, before it closes fd: ends the other tasks' operations on fd in every
 * driver of the caller's runtime, waiting (suspending) for their answers. Nothing
 * happens outside a stackful task or after the task has seen its abort. */
void orca__fd_end_waits(int fd);

#endif
