/* Multishot accept for the listeners orca_tcp_listen creates (io_uring backend).
 *
 * orca_tcp_listen registers every listener it makes (fd -> orca__listener, a
 * process-wide table). On an io_uring driver that has multishot accept
 * (IORING_ACCEPT_MULTISHOT, Linux 5.19+, probed once per process; ORCA_ACCEPT_MULTISHOT=0
 * turns it off), an accept on a registered listener does not submit an SQE of its
 * own: it takes a connection the listener already holds, or waits on the listener.
 * The first accept arms one multishot accept on its worker's ring (the listener's
 * "home" ring, for as long as that multishot lasts); each CQE carries a new fd.
 *
 * States (under the listener's mutex):
 *   IDLE     no multishot; the next accept that has to wait arms one (on its ring);
 *   ARMED    a multishot is in the kernel (or queued for it) on `home`;
 *   STOPPING a cancel of it was asked for; its last CQE (no IORING_CQE_F_MORE) is
 *            still to come. CQEs carrying fds may still arrive meanwhile.
 * The last CQE makes it IDLE again, wherever the multishot ended: an error
 * (-EMFILE, ...) goes to the first waiter (with none, it is dropped: the next accept
 * arms again and meets the condition afresh, rather than be told of a stale one);
 * with waiters left and nobody closing, it is armed again at once on the same ring.
 *
 * Hand-off: a CQE's fd goes to the oldest waiting accept (an orca__op on the
 * listener's FIFO, through op->wait_next), or, with none, into the listener's queue.
 * When the queue reaches ORCA__LISTENER_QUEUE_CAP the multishot is cancelled, so the
 * kernel's backlog holds further clients; the accept that finds the queue empty
 * arms it again. An fd is never dropped: one that arrives after a cancel was asked
 * for is queued past the cap; an accept cancelled (abort, timeout, select) after its
 * fd was handed over returns the fd (io.h: "its result is returned instead").
 *
 * Cancel of a waiting accept (any thread): op_cancel marks the op CANCELLING, then
 * the driver's cancel hook calls orca__listener_cancel_op, which unlinks the op under
 * the listener's mutex and completes it with -ECANCELED, unless a hand-off already
 * took it off the FIFO (then the hand-off completes it with its fd). No ring is
 * touched, so a cancel from another worker needs no trip to the home ring.
 *
 * Lifetime: references (atomic) are held by the table, by each waiting op, by the
 * armed multishot (until its last CQE is reaped), and by whoever looked the listener
 * up for the length of the call. A waiting op's reference is dropped by whoever
 * completes it, except that a completion that finds the op CANCELLING leaves it to
 * the canceller, which always drops it: the canceller set CANCELLING before it
 * touches the listener, so the listener outlives its visit.
 *
 * Lock order: listener mutex -> op lock; listener mutex -> the home driver's stop
 * list mutex (uring_driver.c).
 *
 * Close (orca_close on a registered fd): mark closing, fail the waiting accepts with
 * -EBADF, cancel the multishot and await its last CQE, take the fd out of the table,
 * close the queued fds, end the other ops on the fd (fd_close.h: accepts with flags
 * the multishot does not take, polls; after the multishot's end, so its cancel cannot
 * meet the multishot), then close the listener (so the port is free when orca_close
 * returns). A plain close(2) of a listener would leave the kernel's
 * listener alive while the multishot holds it: net.h says to use orca_close. If the
 * number is nevertheless reused by a later orca_tcp_listen, the stale entry is
 * torn down then ("orphaned": its last CQE closes what it queued).
 *
 * Runtime shutdown: each worker, after its last task, retires its driver: every
 * multishot armed on its ring is cancelled and its last CQE reaped before the ring
 * goes, and the fds the listener queued are closed. */
#ifndef ORCA_IO_LISTENER_H
#define ORCA_IO_LISTENER_H

#include <stdbool.h>

#include "op.h"

/* Queued connections at which the multishot is cancelled (the backlog holds the rest). */
#define ORCA__LISTENER_QUEUE_CAP 64

/* op->bflags on the io_uring backend: the op waits on a listener (op->listener). */
#define ORCA__OP_LISTENER_WAIT 0x01

typedef struct orca__listener orca__listener;

/* ---- called by net.c and op.c ------------------------------------------------------- */

/* orca_tcp_listen: fd is a new listener. A stale entry for the same number (its fd
 * closed with close(2)) is torn down first. Allocation failure leaves fd
 * unregistered: its accepts then take the one-shot path. */
void orca__listener_register(int fd);
/* orca_close: true if fd is a registered listener, with *result set to what the
 * close returned (the listener was torn down as described above). */
bool orca__listener_close(int fd, int *result);

/* ---- called by the io_uring driver ---------------------------------------------------- */

/* The registered listener for fd with a reference taken, or NULL. */
orca__listener *orca__listener_get(int fd);
void orca__listener_put(orca__listener *l);
/* Owner of d: an accept op on l. Returns ORCA__SUBMIT_DONE (op->res holds the fd
 * from the queue), ORCA__SUBMIT_PENDING (op waits on l; armed on d if l was IDLE),
 * or -EBADF (l is being closed). */
int orca__listener_accept(orca__driver *d, orca__listener *l, orca__op *op);
/* Any thread: cancel hook for an op with ORCA__OP_LISTENER_WAIT (state CANCELLING). */
void orca__listener_cancel_op(orca__op *op);
/* Owner of l's home ring: one CQE of its multishot (more: IORING_CQE_F_MORE).
 * retiring: the ring is going away, so do not arm again; close what is queued. */
void orca__listener_cqe(orca__listener *l, int res, bool more, bool retiring);
/* Owner of l's home ring, at shutdown: ask for the cancel of l's multishot if armed. */
void orca__listener_retire(orca__listener *l);

/* Chaining for the home driver's lists (uring_driver.c owns them). */
orca__listener **orca__listener_armed_next(orca__listener *l);
orca__listener **orca__listener_stop_next(orca__listener *l);

/* ---- provided by the io_uring driver (uring_driver.c) ------------------------------- */

/* Owner of d, under l's mutex: queue l's multishot accept SQE on d's ring and put l
 * on d's armed list. */
void orca__uring_arm_accept(orca__driver *d, orca__listener *l, int fd);
/* Any thread, under l's mutex: cancel l's multishot on its home ring d (at once when
 * called on d's worker; else through d's stop list and an unpark). */
void orca__uring_stop_accept(orca__driver *d, orca__listener *l);
/* Owner of d, under l's mutex, at l's last CQE: take l off d's lists. */
void orca__uring_forget_accept(orca__driver *d, orca__listener *l);

#endif
