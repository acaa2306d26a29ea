/* The parts of a driver both backends share (driver_shared.h). */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "driver_shared.h"

/* ---- parking ------------------------------------------------------------------------ */

/* The state machine is runtime/park.c's (the file the relacy model compiles); here
 * is only the eventfd, which the model transcribes (tests/model/park_model.cc,
 * model_eventfd): keep the two in step. */

/* Tokio's parker yields 3 times before it sleeps; so do we (benchmarks/RESULTS.md,
 * "Yielding before parking": 1 to 16 all do about as well on the echo and HTTP
 * servers, 0 costs a third of the echo throughput on this 2-CPU machine).
 * ORCA_PARK_YIELDS (0-64) in the environment sets another count. */
#define ORCA_PARK_YIELDS_DEFAULT 3

static int park_yields(void)
{
	const char *v = getenv("ORCA_PARK_YIELDS");
	if (!v || !*v)
		return ORCA_PARK_YIELDS_DEFAULT;
	char *end;
	long n = strtol(v, &end, 10);
	return (*end || n < 0 || n > 64) ? ORCA_PARK_YIELDS_DEFAULT : (int)n;
}

int orca__parking_init(orca__parking *p)
{
	orca__parker_init(&p->parker);
	p->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->yields = park_yields();
	return p->eventfd < 0 ? -errno : 0;
}

void orca__parking_destroy(orca__parking *p)
{
	if (p->eventfd >= 0)
		close(p->eventfd);
	p->eventfd = -1;
}

void orca__parking_yield(orca__parking *p, bool (*ready)(void *arg), void *arg)
{
	for (int i = 0; i < p->yields; i++) {
		if (orca__parker_pending(&p->parker) || (ready && ready(arg)))
			return;
		sched_yield();
	}
}

void orca__parking_wake(orca__parking *p)
{
	uint64_t one = 1;
	if (write(p->eventfd, &one, sizeof(one)) < 0 && errno == EAGAIN) {
		/* The counter is full (the epoll backend never reads it): reset it, then
		 * write. */
		uint64_t v;
		ssize_t r = read(p->eventfd, &v, sizeof(v));
		(void)r;
		r = write(p->eventfd, &one, sizeof(one));
		(void)r;
	}
}

/* ---- cancels from other workers ---------------------------------------------------- */

void orca__cancel_list_init(orca__cancel_list *l)
{
	pthread_mutex_init(&l->lock, NULL);
	l->head = NULL;
	atomic_init(&l->pending, 0);
}

void orca__cancel_list_destroy(orca__cancel_list *l)
{
	pthread_mutex_destroy(&l->lock);
}

bool orca__cancel_list_push(orca__cancel_list *l, orca__op *op)
{
	/* Under the op's lock, and only if it has not completed meanwhile: completion
	 * takes it off the list under the same lock, so the list never keeps an op whose
	 * await may have returned (op.h). */
	orca__op_lock(op);
	bool queued = op->state == ORCA_OP_CANCELLING;
	if (queued) {
		pthread_mutex_lock(&l->lock);
		op->cancel_next = l->head;
		l->head = op;
		atomic_store_explicit(&op->cancel_queued, 1, memory_order_relaxed);
		pthread_mutex_unlock(&l->lock);
	}
	orca__op_unlock(op);
	if (queued)
		atomic_store_explicit(&l->pending, 1, memory_order_release);
	return queued;
}

orca__op *orca__cancel_list_take(orca__cancel_list *l)
{
	if (!atomic_load_explicit(&l->pending, memory_order_acquire))
		return NULL;
	pthread_mutex_lock(&l->lock);
	atomic_store_explicit(&l->pending, 0, memory_order_relaxed);
	orca__op *list = l->head;
	l->head = NULL;
	for (orca__op *op = list; op; op = op->cancel_next)
		atomic_store_explicit(&op->cancel_queued, 0, memory_order_relaxed);
	pthread_mutex_unlock(&l->lock);
	return list;
}

static void unlink_request(orca__cancel_list *l, orca__op *op)
{
	pthread_mutex_lock(&l->lock);
	if (atomic_load_explicit(&op->cancel_queued, memory_order_relaxed)) {
		orca__op **pp = &l->head;
		while (*pp && *pp != op)
			pp = &(*pp)->cancel_next;
		if (*pp)
			*pp = op->cancel_next;
		atomic_store_explicit(&op->cancel_queued, 0, memory_order_relaxed);
	}
	pthread_mutex_unlock(&l->lock);
}

/* ---- completion ----------------------------------------------------------------------- */

void orca__op_complete(orca__cancel_list *l, orca__op *op, int32_t res)
{
	orca__op_lock(op);
	if (atomic_load_explicit(&op->cancel_queued, memory_order_relaxed))
		unlink_request(l, op);
	/* Cancelled without its task asking: orca_close of its fd ended it (fd_close.h);
	 * the task's own cancel (CANCELLING, an abort racing the close) stays -ECANCELED. */
	if (res == -ECANCELED && op->state != ORCA_OP_CANCELLING)
		res = -EBADF;
	orca_waker w = orca__op_set_completed(op, res);
	orca__op_unlock(op);
	/* op may be gone from here on; the waker holds its own reference. */
	orca_waker_wake(&w);
}

int64_t orca__ns_left(int64_t deadline_ns)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t left = deadline_ns - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
	return left < 0 ? 0 : left;
}

/* ---- counters ------------------------------------------------------------------------ */

void orca__counters_read(orca__driver_counters *c, orca__driver_stats *out)
{
	out->enters = atomic_load_explicit(&c->enters, memory_order_relaxed);
	out->submitted = atomic_load_explicit(&c->submitted, memory_order_relaxed);
	out->completions = atomic_load_explicit(&c->completions, memory_order_relaxed);
	out->accept_arms = atomic_load_explicit(&c->accept_arms, memory_order_relaxed);
}
