/* The io_uring backend of the driver interface (driver.h): one ring per worker.
 *
 * Batching: an operation's SQE is only queued when its task polls it; the queue is
 * handed to the kernel when the worker polls its driver (every 61 ticks, whenever it
 * runs out of local work) or parks, in the same io_uring_enter that waits or reaps.
 * Under load that is one system call per round of ready tasks, not one per
 * operation.
 *
 * Cancellation (op.h states): a cancel from the ring's own worker queues an
 * IORING_OP_ASYNC_CANCEL at once. One from another worker cannot touch the ring
 * (SINGLE_ISSUER, and the SQ ring is not thread-safe): it goes on the driver's
 * cancel list and unparks the owner, which queues the cancel before it next
 * submits. An op goes on the cancel list under its lock and only while still
 * CANCELLING, and is taken off it under its lock before it is marked COMPLETED,
 * so its memory cannot go away while the list still points at it (before, a
 * completion between the cancel hook's unlock and the push left a dangling entry).
 * Stale cancels: a cancel SQE is always submitted in an io_uring_enter that comes
 * before the one that could submit a new op at the same address (the new op can only
 * be created after the old one's CQE was reaped, and reaping follows the submit), so
 * a cancel never hits a later op that reuses the memory.
 *
 * Multishot accept (listener.h): an accept on a listener from orca_tcp_listen does
 * not get an SQE of its own when the kernel has IORING_ACCEPT_MULTISHOT (probed once
 * per process; ORCA_ACCEPT_MULTISHOT=0 turns it off): listener.c hands it an fd the
 * listener's multishot accepted. This file keeps the ring's side: the multishot's
 * SQE (user_data: the listener's address with UD_LISTENER set), its CQEs, the list
 * of listeners armed on this ring (owner only), and the list of cancels asked for
 * by other threads (a mutex; drained by the owner like the op cancel list). Before
 * its thread exits, a worker retires its driver: every multishot still armed here is
 * cancelled and its last CQE reaped, so no accepted fd is left in the CQ ring.
 *
 * orca_close (fd_close.h): every op with an SQE of its own on an fd (all kinds but
 * open, statx and close) is counted in the driver's fd_waits from its submit to its
 * CQE. A close request for fd, made on this ring's worker or taken off the close list
 * by it, becomes one IORING_OP_ASYNC_CANCEL with IORING_ASYNC_CANCEL_FD |
 * IORING_ASYNC_CANCEL_ALL (user_data: the request's address with UD_CLOSE set),
 * queued behind any SQE of an op on fd not yet submitted, so the kernel issues those
 * first and the cancel finds them. Its CQE answers the request: the kernel resolved
 * the fd when it issued the cancel, before the closer may close it. The ops it
 * cancelled complete with -ECANCELED, reported as -EBADF unless their task was
 * cancelling them anyway (orca__op_complete). A kernel without CANCEL_FD (before
 * 5.19) answers -EINVAL: the ops keep waiting on the closed fd until aborted. Accepts
 * waiting on a listener (multishot) are not counted here: listener.c ends them with
 * -EBADF when the listener is closed.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "driver_shared.h"
#include "fd_close.h"
#include "fd_origin.h"
#include "listener.h"
#include "op.h"
#include "panic.h"

#define ORCA_RING_ENTRIES 1024
#define UD_CANCEL ((uint64_t)0)   /* completions of our async-cancel SQEs */
#define UD_EVENTFD ((uint64_t)1)  /* the armed read of the wake-up eventfd */
#define UD_LISTENER ((uint64_t)2) /* or'ed into a listener's address: its multishot */
#define UD_CLOSE ((uint64_t)4)    /* or'ed into a close request's address: its cancel */

typedef struct uring_driver {
	orca__driver base; /* first: the driver.h interface */
	struct io_uring ring;
	unsigned setup_flags;
	bool defer_taskrun;
	bool recv_poll_first; /* the kernel takes IORING_RECVSEND_POLL_FIRST (5.19+) */
	uint64_t eventfd_buf;
	bool eventfd_armed;
	unsigned queued;   /* SQEs prepared, not yet submitted */
	unsigned inflight; /* ops submitted, CQE not yet seen */
	orca__parking park; /* its eventfd is read by the ring while parked */
	orca__cancel_list cancels;
	orca__driver_counters counters;
	bool multishot_accept; /* accepts on listeners use listener.h */
	bool retiring;         /* the worker is exiting: do not arm again */
	orca__listener *armed; /* listeners whose multishot is on this ring (owner) */
	pthread_mutex_t stops_lock;
	orca__listener *stops; /* cancels of multishots asked for by other threads */
	_Atomic int stops_pending;
	orca__close_list closes; /* orca_close requests from other threads (fd_close.h) */
	char describe[192];
} uring_driver;

static uring_driver *as_uring(orca__driver *d)
{
	return (uring_driver *)(void *)d;
}

static int setup_ring(uring_driver *d)
{
	/* Newest flags first; each failure (older kernel) drops the newest.
	 * TASKRUN_FLAG makes the kernel raise IORING_SQ_TASKRUN when completions
	 * wait for us to enter (poll_ring reads it): without it the flag is never
	 * set, and a worker whose tasks never ran out (always-ready tasks) did not
	 * reap a single completion until it parked. */
	static const unsigned attempts[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
		0,
	};
	int err = -ENOSYS;
	const char *off = getenv("ORCA_URING_FLAGS");
	size_t first = (off && strcmp(off, "none") == 0) ? 2 : 0;
	for (size_t i = first; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = attempts[i];
		err = io_uring_queue_init_params(ORCA_RING_ENTRIES, &d->ring, &p);
		if (err == 0) {
			d->setup_flags = attempts[i];
			d->defer_taskrun = attempts[i] & IORING_SETUP_DEFER_TASKRUN;
			/* SINGLE_ISSUER came in 6.0, after POLL_FIRST (5.19): a kernel that
			 * took it takes the flag too. */
			d->recv_poll_first = attempts[i] & IORING_SETUP_SINGLE_ISSUER;
			return 0;
		}
		if (err != -EINVAL)
			return err; /* refused outright (ENOSYS, EPERM, ENOMEM, ...) */
	}
	return err;
}

static const orca__driver_vtable uring_vtable;

/* Whether the kernel takes IORING_ACCEPT_MULTISHOT (5.19+): a multishot accept on a
 * listening AF_UNIX socket (autobound: no file, no port) on a plain ring, then its
 * cancel. An older kernel fails the accept with -EINVAL at once; a new one ends it
 * with -ECANCELED. Once per process. */
static bool multishot_accept_works;
static pthread_once_t multishot_accept_once = PTHREAD_ONCE_INIT;

static void probe_multishot_accept(void)
{
	struct io_uring ring;
	if (io_uring_queue_init(4, &ring, 0) != 0)
		return;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(sa_family_t)) == 0 && listen(s, 1) == 0) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		io_uring_prep_multishot_accept(sqe, s, NULL, NULL, SOCK_CLOEXEC);
		io_uring_sqe_set_data64(sqe, 1);
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_cancel64(sqe, 1, 0);
		io_uring_sqe_set_data64(sqe, 2);
		io_uring_submit(&ring);
		for (int seen = 0; seen < 2; seen++) {
			struct io_uring_cqe *cqe;
			struct __kernel_timespec ts = {.tv_sec = 1, .tv_nsec = 0};
			if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) != 0)
				break;
			if (cqe->user_data == 1) {
				multishot_accept_works = cqe->res == -ECANCELED;
				if (cqe->res >= 0)
					close(cqe->res); /* nobody connects to it, but be sure */
			}
			io_uring_cqe_seen(&ring, cqe);
		}
	}
	if (s >= 0)
		close(s);
	io_uring_queue_exit(&ring);
}

static bool use_multishot_accept(void)
{
	const char *env = getenv("ORCA_ACCEPT_MULTISHOT");
	if (env && strcmp(env, "0") == 0)
		return false;
	pthread_once(&multishot_accept_once, probe_multishot_accept);
	return multishot_accept_works;
}

int orca__uring_probe(void)
{
	struct io_uring ring;
	int err = io_uring_queue_init(ORCA_RING_ENTRIES, &ring, 0);
	if (err == 0)
		io_uring_queue_exit(&ring);
	return err;
}

orca__driver *orca__uring_driver_create(unsigned worker_index, int *err)
{
	uring_driver *d = aligned_alloc(64, (sizeof(*d) + 63) & ~(size_t)63);
	if (!d) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(d, 0, sizeof(*d));
	d->base.vt = &uring_vtable;
	*err = setup_ring(d);
	if (*err) {
		free(d);
		return NULL;
	}
	*err = orca__parking_init(&d->park);
	if (*err) {
		io_uring_queue_exit(&d->ring);
		free(d);
		return NULL;
	}
	/* Registering the ring fd saves an fdget/fdput per enter. */
	bool registered = io_uring_register_ring_fd(&d->ring) == 1;
	orca__cancel_list_init(&d->cancels);
	orca__close_list_init(&d->closes);
	pthread_mutex_init(&d->stops_lock, NULL);
	d->multishot_accept = use_multishot_accept();
	snprintf(d->describe, sizeof(d->describe),
		 "worker %u: io_uring %u entries%s%s%s%s, %s accept", worker_index,
		 ORCA_RING_ENTRIES,
		 (d->setup_flags & IORING_SETUP_SINGLE_ISSUER) ? " SINGLE_ISSUER" : "",
		 d->defer_taskrun ? " DEFER_TASKRUN" : "",
		 (d->setup_flags & IORING_SETUP_COOP_TASKRUN) ? " COOP_TASKRUN" : "",
		 registered ? " registered-fd" : "",
		 d->multishot_accept ? "multishot" : "one-shot");
	orca__log_debug("%s", d->describe);
	*err = 0;
	return &d->base;
}

static const char *uring_describe(orca__driver *base)
{
	return as_uring(base)->describe;
}

static unsigned uring_inflight(orca__driver *base)
{
	return as_uring(base)->inflight;
}

static void uring_stats(orca__driver *base, orca__driver_stats *out)
{
	orca__counters_read(&as_uring(base)->counters, out);
}

static void uring_destroy(orca__driver *base)
{
	uring_driver *d = as_uring(base);
	if (d->inflight)
		orca__panic("driver: ring torn down with operations in flight");
	if (d->armed)
		orca__panic("driver: ring torn down with a multishot accept armed (not retired)");
	io_uring_queue_exit(&d->ring);
	orca__parking_destroy(&d->park);
	orca__cancel_list_destroy(&d->cancels);
	orca__close_list_destroy(&d->closes);
	pthread_mutex_destroy(&d->stops_lock);
	free(d);
}

/* An SQE, submitting what is queued if the SQ ring is full. */
static struct io_uring_sqe *get_sqe(uring_driver *d)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
	if (sqe)
		return sqe;
	int n = io_uring_submit(&d->ring);
	orca__count(&d->counters.enters, 1);
	if (n > 0) {
		orca__count(&d->counters.submitted, (uint64_t)n);
		d->queued -= (unsigned)n < d->queued ? (unsigned)n : d->queued;
	}
	return io_uring_get_sqe(&d->ring);
}

static void prep(uring_driver *d, struct io_uring_sqe *sqe, orca__op *op)
{
	switch ((enum orca__op_kind)op->kind) {
	case ORCA_OP_READ:
		io_uring_prep_read(sqe, op->fd, op->addr, op->len, (uint64_t)-1);
		break;
	case ORCA_OP_WRITE:
		io_uring_prep_write(sqe, op->fd, op->addr, op->len, (uint64_t)-1);
		break;
	case ORCA_OP_PREAD:
		io_uring_prep_read(sqe, op->fd, op->addr, op->len, op->off);
		break;
	case ORCA_OP_PWRITE:
		io_uring_prep_write(sqe, op->fd, op->addr, op->len, op->off);
		break;
	case ORCA_OP_RECV:
		io_uring_prep_recv(sqe, op->fd, op->addr, op->len, (int)op->flags);
		/* A server's recv usually comes right after its reply went out, before
		 * the peer's next request: the kernel's first, non-blocking attempt
		 * would fail and arm a poll anyway. POLL_FIRST arms the poll at once
		 * (data already there still completes at once: arming checks it). */
		if (d->recv_poll_first)
			sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		break;
	case ORCA_OP_SEND:
		io_uring_prep_send(sqe, op->fd, op->addr, op->len, (int)op->flags);
		break;
	case ORCA_OP_ACCEPT:
		io_uring_prep_accept(sqe, op->fd, op->addr, (socklen_t *)(uintptr_t)op->off,
				     (int)op->flags);
		break;
	case ORCA_OP_CONNECT:
		io_uring_prep_connect(sqe, op->fd, op->addr, (socklen_t)op->len);
		break;
	case ORCA_OP_RECVMSG:
		io_uring_prep_recvmsg(sqe, op->fd, op->addr, op->flags);
		break;
	case ORCA_OP_SENDMSG:
		io_uring_prep_sendmsg(sqe, op->fd, op->addr, op->flags);
		break;
	case ORCA_OP_FSYNC:
		io_uring_prep_fsync(sqe, op->fd, 0);
		break;
	case ORCA_OP_CLOSE:
		io_uring_prep_close(sqe, op->fd);
		break;
	case ORCA_OP_SHUTDOWN:
		io_uring_prep_shutdown(sqe, op->fd, (int)op->flags);
		break;
	case ORCA_OP_OPENAT:
		io_uring_prep_openat(sqe, op->fd, op->addr, (int)op->flags, (mode_t)op->off);
		break;
	case ORCA_OP_POLL:
		io_uring_prep_poll_add(sqe, op->fd, op->flags);
		break;
	case ORCA_OP_STATX:
		io_uring_prep_statx(sqe, op->fd, op->addr, (int)op->flags, op->len,
				    (struct statx *)(uintptr_t)op->off);
		break;
	default:
		orca__panic("driver: unknown operation kind");
	}
}

/* Whether op waits on op->fd in the kernel, so an orca_close of it must end the op
 * (fd_close.h): open and statx only name a directory; a close is the closer's own. */
static bool waits_on_fd(const orca__op *op)
{
	return op->kind != ORCA_OP_OPENAT && op->kind != ORCA_OP_STATX && op->kind != ORCA_OP_CLOSE;
}

static int uring_submit(orca__driver *base, orca__op *op)
{
	uring_driver *d = as_uring(base);
	/* accept4 takes only these flags; anything else goes to the kernel to refuse. */
	if (op->kind == ORCA_OP_ACCEPT && d->multishot_accept &&
	    !(op->flags & ~(uint32_t)(SOCK_CLOEXEC | SOCK_NONBLOCK))) {
		orca__listener *l = orca__listener_get(op->fd);
		if (l) {
			int r = orca__listener_accept(base, l, op);
			orca__listener_put(l);
			return r;
		}
	}
	struct io_uring_sqe *sqe = get_sqe(d);
	if (!sqe)
		return -EBUSY;
	prep(d, sqe, op);
	io_uring_sqe_set_data(sqe, op);
	op->driver = base;
	d->queued++;
	d->inflight++;
	if (waits_on_fd(op))
		orca__fd_waits_add(base, op->fd, 1);
	return ORCA__SUBMIT_PENDING;
}

static void queue_cancel_sqe(uring_driver *d, orca__op *op)
{
	struct io_uring_sqe *sqe = get_sqe(d);
	if (!sqe)
		orca__panic("driver: no SQE for a cancellation even after submitting");
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, UD_CANCEL);
	d->queued++;
}

static void uring_unpark(orca__driver *base);

static void uring_cancel(orca__driver *base, orca__op *op)
{
	uring_driver *d = as_uring(base);
	if (op->bflags & ORCA__OP_LISTENER_WAIT) {
		/* Waiting on a listener, not on the ring: no trip to the owner. */
		orca__listener_cancel_op(op);
		return;
	}
	if (orca__driver_current() == base) {
		queue_cancel_sqe(d, op);
		return;
	}
	if (orca__cancel_list_push(&d->cancels, op))
		uring_unpark(base);
}

/* ---- multishot accept (listener.h) ---------------------------------------------------- */

static void queue_listener_cancel(uring_driver *d, orca__listener *l)
{
	struct io_uring_sqe *sqe = get_sqe(d);
	if (!sqe)
		orca__panic("driver: no SQE for a cancellation even after submitting");
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)l | UD_LISTENER, 0);
	io_uring_sqe_set_data64(sqe, UD_CANCEL);
	d->queued++;
}

void orca__uring_arm_accept(orca__driver *base, orca__listener *l, int fd)
{
	uring_driver *d = as_uring(base);
	struct io_uring_sqe *sqe = get_sqe(d);
	if (!sqe)
		orca__panic("driver: no SQE for a multishot accept even after submitting");
	io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)l | UD_LISTENER);
	d->queued++;
	*orca__listener_armed_next(l) = d->armed;
	d->armed = l;
	orca__count(&d->counters.accept_arms, 1);
}

void orca__uring_stop_accept(orca__driver *base, orca__listener *l)
{
	uring_driver *d = as_uring(base);
	if (orca__driver_current() == base) {
		queue_listener_cancel(d, l);
		return;
	}
	pthread_mutex_lock(&d->stops_lock);
	*orca__listener_stop_next(l) = d->stops;
	d->stops = l;
	pthread_mutex_unlock(&d->stops_lock);
	atomic_store_explicit(&d->stops_pending, 1, memory_order_release);
	uring_unpark(base);
}

static void unlink_listener(orca__listener **head, orca__listener *l,
			    orca__listener **(*next)(orca__listener *))
{
	for (orca__listener **pp = head; *pp; pp = next(*pp)) {
		if (*pp == l) {
			*pp = *next(l);
			*next(l) = NULL;
			return;
		}
	}
}

void orca__uring_forget_accept(orca__driver *base, orca__listener *l)
{
	uring_driver *d = as_uring(base);
	unlink_listener(&d->armed, l, orca__listener_armed_next);
	/* A stop asked for by another thread may still be on the list if the
	 * multishot ended by itself meanwhile: l may be freed after this. */
	if (atomic_load_explicit(&d->stops_pending, memory_order_acquire)) {
		pthread_mutex_lock(&d->stops_lock);
		unlink_listener(&d->stops, l, orca__listener_stop_next);
		pthread_mutex_unlock(&d->stops_lock);
	}
}

/* ---- orca_close (fd_close.h) -------------------------------------------------------- */

/* Owner: cancel every op of this ring on req->fd; the CQE answers req. */
static void queue_close_cancel(uring_driver *d, orca__close_req *req)
{
	struct io_uring_sqe *sqe = get_sqe(d);
	if (!sqe)
		orca__panic("driver: no SQE for a close's cancellation even after submitting");
	io_uring_prep_cancel_fd(sqe, req->fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)req | UD_CLOSE);
	d->queued++;
}

static void uring_end_waits(orca__driver *base, orca__close_req *req)
{
	uring_driver *d = as_uring(base);
	if (orca__driver_current() == base) {
		queue_close_cancel(d, req);
		return;
	}
	orca__close_list_push(&d->closes, req);
	uring_unpark(base);
}

/* Owner: turn cancel and close requests from other workers into cancel SQEs. */
static void drain_cancel_requests(uring_driver *d)
{
	for (orca__op *op = orca__cancel_list_take(&d->cancels), *next; op; op = next) {
		next = op->cancel_next;
		queue_cancel_sqe(d, op);
	}
	for (orca__close_req *r = orca__close_list_take(&d->closes), *next; r; r = next) {
		next = r->next;
		queue_close_cancel(d, r);
	}
	if (!atomic_load_explicit(&d->stops_pending, memory_order_acquire))
		return;
	pthread_mutex_lock(&d->stops_lock);
	atomic_store_explicit(&d->stops_pending, 0, memory_order_relaxed);
	orca__listener *list = d->stops;
	d->stops = NULL;
	/* Queued under the mutex: a listener on the list is armed here (its
	 * multishot's reference keeps it), and only this thread reaps its last CQE. */
	for (orca__listener *l = list, *next; l; l = next) {
		next = *orca__listener_stop_next(l);
		*orca__listener_stop_next(l) = NULL;
		queue_listener_cancel(d, l);
	}
	pthread_mutex_unlock(&d->stops_lock);
}

static void complete(uring_driver *d, orca__op *op, int32_t res)
{
	d->inflight--;
	if (waits_on_fd(op))
		orca__fd_waits_add(&d->base, op->fd, -1);
	if (res >= 0 && (op->kind == ORCA_OP_ACCEPT || op->kind == ORCA_OP_OPENAT))
		orca__fd_made(res); /* fd_origin.h: for every backend's drivers alike */
#if ORCA_IO_ASAN
	/* The kernel wrote into this buffer; ASan could not see it. If the memory was
	 * freed meanwhile, that is a use-after-free by the kernel: stop here. */
	if (orca__op_writes_into_buffer(op) && res > 0 &&
	    __asan_region_is_poisoned(op->addr, (size_t)res)) {
		orca__panic("driver: the kernel completed an operation into freed or poisoned memory");
	}
#endif
	orca__op_complete(&d->cancels, op, res);
}

static size_t reap(uring_driver *d)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	size_t ops = 0;
	io_uring_for_each_cqe(&d->ring, head, cqe)
	{
		n++;
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		if (ud == UD_CANCEL)
			continue;
		if (ud == UD_EVENTFD) {
			d->eventfd_armed = false;
			continue;
		}
		if (ud & UD_CLOSE) {
			/* Answered whatever the result (-EINVAL: no CANCEL_FD here). */
			orca__close_req_done((orca__close_req *)(uintptr_t)(ud & ~UD_CLOSE));
			continue;
		}
		if (ud & UD_LISTENER) {
			orca__listener_cqe((orca__listener *)(uintptr_t)(ud & ~UD_LISTENER), cqe->res,
					   cqe->flags & IORING_CQE_F_MORE, d->retiring);
			ops++;
			continue;
		}
		complete(d, (orca__op *)(uintptr_t)ud, cqe->res);
		ops++;
	}
	if (n)
		io_uring_cq_advance(&d->ring, n);
	orca__count(&d->counters.completions, ops);
	return ops;
}

static void note_submitted(uring_driver *d, int r)
{
	orca__count(&d->counters.enters, 1);
	if (r > 0) {
		orca__count(&d->counters.submitted, (uint64_t)r);
		d->queued -= (unsigned)r < d->queued ? (unsigned)r : d->queued;
	}
}

static size_t poll_ring(uring_driver *d, bool must_reap)
{
	drain_cancel_requests(d);
	/* With DEFER_TASKRUN (and COOP_TASKRUN) completions are only posted when we
	 * enter the kernel; it flags pending work in the SQ ring (TASKRUN_FLAG) so an
	 * idle ring costs no system call. Only a must_reap poll enters for that flag
	 * alone: the worker's maintenance tick, so a worker that never runs out of
	 * tasks still collects completions. A worker out of tasks with nothing to
	 * submit parks next, and the park collects them: entering here too made the
	 * echo server slower (benchmarks/RESULTS.md, "Reaping when out of tasks"). */
	bool work = must_reap && (IO_URING_READ_ONCE(*d->ring.sq.kflags) & IORING_SQ_TASKRUN);
	if (d->queued || work) {
		int r = d->defer_taskrun || work ? io_uring_submit_and_get_events(&d->ring)
						 : io_uring_submit(&d->ring);
		note_submitted(d, r);
	}
	return reap(d);
}

static size_t uring_poll(orca__driver *base, bool must_reap)
{
	return poll_ring(as_uring(base), must_reap);
}

/* Completions are waiting to be collected (parking_yield's test: no system call). */
static bool ring_has_work(void *arg)
{
	uring_driver *d = arg;
	return (IO_URING_READ_ONCE(*d->ring.sq.kflags) & IORING_SQ_TASKRUN) ||
	       io_uring_cq_ready(&d->ring);
}

static void uring_park(orca__driver *base, int64_t deadline_ns)
{
	uring_driver *d = as_uring(base);
	drain_cancel_requests(d);
	if (d->park.yields) {
		/* What this tick queued goes out before the CPU is given away. */
		if (d->queued)
			note_submitted(d, io_uring_submit(&d->ring));
		orca__parking_yield(&d->park, ring_has_work, d);
	}
	if (!orca__parking_begin(&d->park)) {
		poll_ring(d, true);
		return;
	}
	if (!d->eventfd_armed) {
		struct io_uring_sqe *sqe = get_sqe(d);
		if (!sqe)
			orca__panic("driver: no SQE for the wake-up read");
		io_uring_prep_read(sqe, d->park.eventfd, &d->eventfd_buf, sizeof(d->eventfd_buf), 0);
		io_uring_sqe_set_data64(sqe, UD_EVENTFD);
		d->queued++;
		d->eventfd_armed = true;
	}
	struct __kernel_timespec ts, *tsp = NULL;
	if (deadline_ns >= 0) {
		int64_t left = orca__ns_left(deadline_ns);
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	if (!tsp || ts.tv_sec || ts.tv_nsec) {
		struct io_uring_cqe *cqe;
		int r = io_uring_submit_and_wait_timeout(&d->ring, &cqe, 1, tsp, NULL);
		note_submitted(d, r);
	}
	orca__parking_done(&d->park);
	poll_ring(d, true);
}

static void uring_unpark(orca__driver *base)
{
	orca__parking_unpark(&as_uring(base)->park);
}

static void uring_retire(orca__driver *base)
{
	uring_driver *d = as_uring(base);
	d->retiring = true;
	drain_cancel_requests(d);
	for (orca__listener *l = d->armed; l; l = *orca__listener_armed_next(l))
		orca__listener_retire(l);
	/* A cancel ends a multishot at once; a second is plenty. */
	for (int rounds = 0; d->armed; rounds++) {
		if (rounds == 10)
			orca__panic("driver: a multishot accept did not end after its cancel");
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 100000000};
		int r = io_uring_submit_and_wait_timeout(&d->ring, &cqe, 1, &ts, NULL);
		note_submitted(d, r);
		reap(d);
	}
}

static const orca__driver_vtable uring_vtable = {
	.name = "io_uring",
	.destroy = uring_destroy,
	.poll = uring_poll,
	.park = uring_park,
	.unpark = uring_unpark,
	.inflight = uring_inflight,
	.describe = uring_describe,
	.stats = uring_stats,
	.submit = uring_submit,
	.cancel = uring_cancel,
	.retire = uring_retire,
	.end_waits = uring_end_waits,
};
