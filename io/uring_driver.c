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
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "op.h"
#include "panic.h"

#if defined(__SANITIZE_ADDRESS__)
#define ORCA_IO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ORCA_IO_ASAN 1
#endif
#endif
#if ORCA_IO_ASAN
int __asan_region_is_poisoned(void *beg, size_t size);
#endif

#define ORCA_RING_ENTRIES 1024
#define UD_CANCEL ((uint64_t)0)   /* completions of our async-cancel SQEs */
#define UD_EVENTFD ((uint64_t)1)  /* the armed read of the wake-up eventfd */

enum { EMPTY = 0, PARKED = 1, NOTIFIED = 2 };

typedef struct uring_driver {
	orca__driver base; /* first: the driver.h interface */
	struct io_uring ring;
	unsigned setup_flags;
	bool defer_taskrun;
	int eventfd;
	uint64_t eventfd_buf;
	bool eventfd_armed;
	unsigned queued;   /* SQEs prepared, not yet submitted */
	unsigned inflight; /* ops submitted, CQE not yet seen */
	_Alignas(64) _Atomic uint32_t park_state;
	_Alignas(64) pthread_mutex_t cancel_lock;
	orca__op *cancel_head; /* under cancel_lock */
	_Atomic int cancel_pending;
	_Atomic uint64_t enters, submitted, completions;
	char describe[160];
} uring_driver;

static uring_driver *as_uring(orca__driver *d)
{
	return (uring_driver *)(void *)d;
}

static int setup_ring(uring_driver *d)
{
	/* Newest flags first; each failure (older kernel) drops the newest. */
	static const unsigned attempts[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
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
			return 0;
		}
		if (err != -EINVAL)
			return err; /* refused outright (ENOSYS, EPERM, ENOMEM, ...) */
	}
	return err;
}

static const orca__driver_vtable uring_vtable;

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
	d->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->eventfd < 0) {
		*err = -errno;
		io_uring_queue_exit(&d->ring);
		free(d);
		return NULL;
	}
	/* Registering the ring fd saves an fdget/fdput per enter. */
	bool registered = io_uring_register_ring_fd(&d->ring) == 1;
	atomic_init(&d->park_state, EMPTY);
	pthread_mutex_init(&d->cancel_lock, NULL);
	snprintf(d->describe, sizeof(d->describe),
		 "worker %u: io_uring %u entries%s%s%s%s", worker_index, ORCA_RING_ENTRIES,
		 (d->setup_flags & IORING_SETUP_SINGLE_ISSUER) ? " SINGLE_ISSUER" : "",
		 d->defer_taskrun ? " DEFER_TASKRUN" : "",
		 (d->setup_flags & IORING_SETUP_COOP_TASKRUN) ? " COOP_TASKRUN" : "",
		 registered ? " registered-fd" : "");
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
	uring_driver *d = as_uring(base);
	out->enters = atomic_load_explicit(&d->enters, memory_order_relaxed);
	out->submitted = atomic_load_explicit(&d->submitted, memory_order_relaxed);
	out->completions = atomic_load_explicit(&d->completions, memory_order_relaxed);
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
	/* Owner-only writer: a relaxed load + store, no locked instruction. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static void uring_destroy(orca__driver *base)
{
	uring_driver *d = as_uring(base);
	if (d->inflight)
		orca__panic("driver: ring torn down with operations in flight");
	io_uring_queue_exit(&d->ring);
	close(d->eventfd);
	pthread_mutex_destroy(&d->cancel_lock);
	free(d);
}

/* An SQE, submitting what is queued if the SQ ring is full. */
static struct io_uring_sqe *get_sqe(uring_driver *d)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
	if (sqe)
		return sqe;
	int n = io_uring_submit(&d->ring);
	count(&d->enters, 1);
	if (n > 0) {
		count(&d->submitted, (uint64_t)n);
		d->queued -= (unsigned)n < d->queued ? (unsigned)n : d->queued;
	}
	return io_uring_get_sqe(&d->ring);
}

static void prep(struct io_uring_sqe *sqe, orca__op *op)
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

static int uring_submit(orca__driver *base, orca__op *op)
{
	uring_driver *d = as_uring(base);
	struct io_uring_sqe *sqe = get_sqe(d);
	if (!sqe)
		return -EBUSY;
	prep(sqe, op);
	io_uring_sqe_set_data(sqe, op);
	op->driver = base;
	d->queued++;
	d->inflight++;
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
	if (orca__driver_current() == base) {
		queue_cancel_sqe(d, op);
		return;
	}
	/* Under the op's lock, and only if it has not completed meanwhile: complete()
	 * takes it off the list under the same lock, so the list never keeps an op
	 * whose await may have returned (op.h). */
	orca__op_lock(op);
	bool queued = op->state == ORCA_OP_CANCELLING;
	if (queued) {
		pthread_mutex_lock(&d->cancel_lock);
		op->cancel_next = d->cancel_head;
		d->cancel_head = op;
		atomic_store_explicit(&op->cancel_queued, 1, memory_order_relaxed);
		pthread_mutex_unlock(&d->cancel_lock);
	}
	orca__op_unlock(op);
	if (!queued)
		return;
	atomic_store_explicit(&d->cancel_pending, 1, memory_order_release);
	uring_unpark(base);
}

/* Owner: turn cancel requests from other workers into cancel SQEs. */
static void drain_cancel_requests(uring_driver *d)
{
	if (!atomic_load_explicit(&d->cancel_pending, memory_order_acquire))
		return;
	pthread_mutex_lock(&d->cancel_lock);
	atomic_store_explicit(&d->cancel_pending, 0, memory_order_relaxed);
	orca__op *list = d->cancel_head;
	d->cancel_head = NULL;
	for (orca__op *op = list; op; op = op->cancel_next) {
		atomic_store_explicit(&op->cancel_queued, 0, memory_order_relaxed);
		queue_cancel_sqe(d, op);
	}
	pthread_mutex_unlock(&d->cancel_lock);
}

static void unlink_cancel_request(uring_driver *d, orca__op *op)
{
	pthread_mutex_lock(&d->cancel_lock);
	if (atomic_load_explicit(&op->cancel_queued, memory_order_relaxed)) {
		orca__op **pp = &d->cancel_head;
		while (*pp && *pp != op)
			pp = &(*pp)->cancel_next;
		if (*pp)
			*pp = op->cancel_next;
		atomic_store_explicit(&op->cancel_queued, 0, memory_order_relaxed);
	}
	pthread_mutex_unlock(&d->cancel_lock);
}

static bool writes_into_buffer(const orca__op *op)
{
	return op->kind == ORCA_OP_READ || op->kind == ORCA_OP_PREAD || op->kind == ORCA_OP_RECV;
}

static void complete(uring_driver *d, orca__op *op, int32_t res)
{
	d->inflight--;
#if ORCA_IO_ASAN
	/* The kernel wrote into this buffer; ASan could not see it. If the memory was
	 * freed meanwhile, that is a use-after-free by the kernel: stop here. */
	if (writes_into_buffer(op) && res > 0 && __asan_region_is_poisoned(op->addr, (size_t)res)) {
		orca__panic("driver: the kernel completed an operation into freed or poisoned memory");
	}
#else
	(void)writes_into_buffer;
#endif
	orca__op_lock(op);
	if (atomic_load_explicit(&op->cancel_queued, memory_order_relaxed))
		unlink_cancel_request(d, op);
	op->res = res;
	op->state = ORCA_OP_COMPLETED;
	orca_waker w = op->waker;
	op->waker = (orca_waker){0};
	orca__op_unlock(op);
	/* op may be gone from here on; the waker holds its own reference. */
	orca_waker_wake(&w);
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
		complete(d, (orca__op *)(uintptr_t)ud, cqe->res);
		ops++;
	}
	if (n)
		io_uring_cq_advance(&d->ring, n);
	count(&d->completions, ops);
	return ops;
}

static void note_submitted(uring_driver *d, int r)
{
	count(&d->enters, 1);
	if (r > 0) {
		count(&d->submitted, (uint64_t)r);
		d->queued -= (unsigned)r < d->queued ? (unsigned)r : d->queued;
	}
}

static size_t poll_ring(uring_driver *d)
{
	drain_cancel_requests(d);
	/* With DEFER_TASKRUN completions are only posted when we enter the kernel; it
	 * flags pending work in the SQ ring so an idle ring costs no system call. */
	bool work = d->defer_taskrun ? IO_URING_READ_ONCE(*d->ring.sq.kflags) & IORING_SQ_TASKRUN
				     : false;
	if (d->queued || work) {
		int r = d->defer_taskrun ? io_uring_submit_and_get_events(&d->ring)
					 : io_uring_submit(&d->ring);
		note_submitted(d, r);
	}
	return reap(d);
}

static size_t uring_poll(orca__driver *base)
{
	return poll_ring(as_uring(base));
}

static void uring_park(orca__driver *base, int64_t deadline_ns)
{
	uring_driver *d = as_uring(base);
	drain_cancel_requests(d);
	uint32_t expected = NOTIFIED;
	if (atomic_compare_exchange_strong_explicit(&d->park_state, &expected, EMPTY,
						    memory_order_acquire, memory_order_relaxed)) {
		poll_ring(d);
		return;
	}
	expected = EMPTY;
	if (!atomic_compare_exchange_strong_explicit(&d->park_state, &expected, PARKED,
						     memory_order_acq_rel, memory_order_acquire)) {
		/* A swap, not a store: a second unpark may have landed since the CAS
		 * (runtime/park.c has the same step; tests/model/park_model.cc). */
		atomic_exchange_explicit(&d->park_state, EMPTY, memory_order_acquire);
		poll_ring(d);
		return;
	}
	if (!d->eventfd_armed) {
		struct io_uring_sqe *sqe = get_sqe(d);
		if (!sqe)
			orca__panic("driver: no SQE for the wake-up read");
		io_uring_prep_read(sqe, d->eventfd, &d->eventfd_buf, sizeof(d->eventfd_buf), 0);
		io_uring_sqe_set_data64(sqe, UD_EVENTFD);
		d->queued++;
		d->eventfd_armed = true;
	}
	struct __kernel_timespec ts, *tsp = NULL;
	if (deadline_ns >= 0) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t left = deadline_ns - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		tsp = &ts;
	}
	if (!tsp || ts.tv_sec || ts.tv_nsec) {
		struct io_uring_cqe *cqe;
		int r = io_uring_submit_and_wait_timeout(&d->ring, &cqe, 1, tsp, NULL);
		note_submitted(d, r);
	}
	atomic_exchange_explicit(&d->park_state, EMPTY, memory_order_acquire);
	poll_ring(d);
}

static void uring_unpark(orca__driver *base)
{
	uring_driver *d = as_uring(base);
	/* Release: work published before the unpark is seen by the woken worker. */
	if (atomic_exchange_explicit(&d->park_state, NOTIFIED, memory_order_release) == PARKED) {
		uint64_t one = 1;
		ssize_t r = write(d->eventfd, &one, sizeof(one));
		(void)r; /* EAGAIN only if the counter is saturated: a wake is pending anyway */
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
};
