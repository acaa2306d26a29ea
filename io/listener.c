/* Multishot accept: the listener table, the hand-off of accepted fds to waiting
 * accepts, and closing a listener. The protocol is in listener.h; the ring side
 * (SQEs, the home driver's lists) is in uring_driver.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <orca/runtime.h>
#include <orca/task.h>

#include "fd_close.h"
#include "fd_origin.h"
#include "listener.h"
#include "panic.h"

enum listener_state { IDLE, ARMED, STOPPING };

struct orca__listener {
	pthread_mutex_t lock;
	_Atomic int refs;
	int fd;
	/* Under lock: */
	uint8_t state;       /* enum listener_state */
	bool stop_requested; /* we asked for the cancel: its -ECANCELED is no error */
	bool closing;        /* orca_close or a stale entry is tearing it down */
	bool orphaned;       /* nobody waits for the last CQE: it closes what is queued */
	orca__driver *home;  /* the ring of the multishot (ARMED, STOPPING) */
	orca__op *wait_head, *wait_tail; /* waiting accepts, oldest first (op->wait_next) */
	int *queue;          /* accepted fds nobody has taken yet: a ring buffer */
	unsigned qhead, qlen, qsize;
	orca_waker closer;   /* orca_close waiting for the last CQE */
	/* The home driver's lists (owner / its stop-list mutex): */
	orca__listener *armed_next, *stop_next;
};

/* ---- the table: fd -> listener ----------------------------------------------------- */

/* Two levels of atomic pointers, so that orca_close of an fd that is not a listener
 * (every connection) costs two loads and no lock. Segments are never freed. */
#define SEG_BITS 12
#define SEG_SIZE (1u << SEG_BITS)
#define SEGS 256 /* fds below 1M; larger ones stay unregistered (one-shot accepts) */

typedef _Atomic(orca__listener *) listener_slot;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(listener_slot *) table[SEGS];

/* The slot for fd, or NULL; create (under table_lock) allocates its segment. */
static listener_slot *slot(int fd, bool create)
{
	if (fd < 0 || (unsigned)fd >= SEGS * SEG_SIZE)
		return NULL;
	listener_slot *seg = atomic_load_explicit(&table[fd >> SEG_BITS], memory_order_acquire);
	if (!seg && create) {
		seg = calloc(SEG_SIZE, sizeof(*seg));
		if (!seg)
			return NULL;
		atomic_store_explicit(&table[fd >> SEG_BITS], seg, memory_order_release);
	}
	return seg ? &seg[fd & (SEG_SIZE - 1)] : NULL;
}

static void ref(orca__listener *l)
{
	atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
}

void orca__listener_put(orca__listener *l)
{
	if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (l->wait_head || l->state != IDLE)
		orca__panic("listener: freed while an accept waits on it or its multishot is armed");
	for (unsigned i = 0; i < l->qlen; i++)
		close(l->queue[(l->qhead + i) % l->qsize]);
	orca_waker_drop(&l->closer);
	pthread_mutex_destroy(&l->lock);
	free(l->queue);
	free(l);
}

orca__listener *orca__listener_get(int fd)
{
	listener_slot *s = slot(fd, false);
	if (!s || !atomic_load_explicit(s, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&table_lock);
	orca__listener *l = atomic_load_explicit(s, memory_order_relaxed);
	if (l)
		ref(l);
	pthread_mutex_unlock(&table_lock);
	return l;
}

/* Takes l out of the table if it is still fd's entry (drops the table's reference). */
static void table_remove(int fd, orca__listener *l)
{
	pthread_mutex_lock(&table_lock);
	listener_slot *s = slot(fd, false);
	bool removed = s && atomic_load_explicit(s, memory_order_relaxed) == l;
	if (removed)
		atomic_store_explicit(s, NULL, memory_order_relaxed);
	pthread_mutex_unlock(&table_lock);
	if (removed)
		orca__listener_put(l);
}

orca__listener **orca__listener_armed_next(orca__listener *l)
{
	return &l->armed_next;
}

orca__listener **orca__listener_stop_next(orca__listener *l)
{
	return &l->stop_next;
}

/* ---- the queue of accepted fds ------------------------------------------------------- */

static bool queue_push(orca__listener *l, int fd)
{
	if (l->qlen == l->qsize) {
		unsigned size = l->qsize ? l->qsize * 2 : ORCA__LISTENER_QUEUE_CAP;
		int *q = malloc(size * sizeof(*q));
		if (!q)
			return false;
		for (unsigned i = 0; i < l->qlen; i++)
			q[i] = l->queue[(l->qhead + i) % l->qsize];
		free(l->queue);
		l->queue = q;
		l->qhead = 0;
		l->qsize = size;
	}
	l->queue[(l->qhead + l->qlen) % l->qsize] = fd;
	l->qlen++;
	return true;
}

static int queue_pop(orca__listener *l)
{
	int fd = l->queue[l->qhead];
	l->qhead = (l->qhead + 1) % l->qsize;
	l->qlen--;
	return fd;
}

/* Every queued fd, to be closed once the lock is dropped (a malloc'd array, or NULL). */
typedef struct fd_list {
	int *fds;
	unsigned n;
} fd_list;

static fd_list queue_take(orca__listener *l)
{
	fd_list out = {NULL, 0};
	if (!l->qlen)
		return out;
	out.fds = malloc(l->qlen * sizeof(int));
	if (!out.fds) {
		/* No memory to carry them out of the lock: close them here (a close of a
		 * socket nobody else knows does not block). */
		while (l->qlen)
			close(queue_pop(l));
		return out;
	}
	while (l->qlen)
		out.fds[out.n++] = queue_pop(l);
	return out;
}

static void fd_list_close(fd_list *f)
{
	for (unsigned i = 0; i < f->n; i++)
		close(f->fds[i]);
	free(f->fds);
	f->fds = NULL;
	f->n = 0;
}

/* ---- waiting accepts ------------------------------------------------------------------- */

static void waiter_append(orca__listener *l, orca__op *op)
{
	op->wait_next = NULL;
	if (l->wait_tail)
		l->wait_tail->wait_next = op;
	else
		l->wait_head = op;
	l->wait_tail = op;
}

static orca__op *waiter_pop(orca__listener *l)
{
	orca__op *op = l->wait_head;
	if (op) {
		l->wait_head = op->wait_next;
		if (!l->wait_head)
			l->wait_tail = NULL;
		op->wait_next = NULL;
	}
	return op;
}

static bool waiter_unlink(orca__listener *l, orca__op *op)
{
	orca__op *prev = NULL;
	for (orca__op *o = l->wait_head; o; prev = o, o = o->wait_next) {
		if (o != op)
			continue;
		if (prev)
			prev->wait_next = op->wait_next;
		else
			l->wait_head = op->wait_next;
		if (l->wait_tail == op)
			l->wait_tail = prev;
		op->wait_next = NULL;
		return true;
	}
	return false;
}

/* Every waiter, detached from l (a chain through wait_next). */
static orca__op *waiters_take(orca__listener *l)
{
	orca__op *all = l->wait_head;
	l->wait_head = l->wait_tail = NULL;
	return all;
}

/* What accept4 would have given besides the fd: the flags asked for, and the peer's
 * address (a multishot CQE carries none). One getpeername per accept that asks for
 * the address; if the peer has already reset, there is none to read and *addrlen
 * becomes 0. */
static int finish_accepted(const orca__op *op, int fd)
{
	orca__fd_made(fd); /* fd_origin.h */
	if (op->flags & SOCK_NONBLOCK)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	if (op->addr) {
		socklen_t *len = (socklen_t *)(uintptr_t)op->off;
		if (getpeername(fd, op->addr, len) != 0)
			*len = 0;
	}
	return fd;
}

/* op was taken off l's FIFO under l's lock; completes it with res outside the lock
 * (listener.h: the reference rule). The caller holds a reference of its own. */
static void complete_waiter(orca__listener *l, orca__op *op, int res)
{
	orca__op_lock(op);
	bool cancelling = op->state == ORCA_OP_CANCELLING;
	orca_waker w = orca__op_set_completed(op, res);
	orca__op_unlock(op);
	/* op may be gone from here on. */
	orca_waker_wake(&w);
	if (!cancelling)
		orca__listener_put(l);
}

static void fail_chain(orca__listener *l, orca__op *chain, int res)
{
	for (orca__op *op = chain, *next; op; op = next) {
		next = op->wait_next;
		op->wait_next = NULL;
		complete_waiter(l, op, res);
	}
}

/* ---- arming and stopping (under l's lock) --------------------------------------------- */

static void arm(orca__listener *l, orca__driver *d)
{
	l->state = ARMED;
	l->home = d;
	l->stop_requested = false;
	ref(l); /* the multishot's, until its last CQE */
	orca__uring_arm_accept(d, l, l->fd);
}

static void stop(orca__listener *l)
{
	l->state = STOPPING;
	l->stop_requested = true;
	orca__uring_stop_accept(l->home, l);
}

/* ---- the driver's side ------------------------------------------------------------------ */

int orca__listener_accept(orca__driver *d, orca__listener *l, orca__op *op)
{
	pthread_mutex_lock(&l->lock);
	if (l->closing) {
		pthread_mutex_unlock(&l->lock);
		return -EBADF;
	}
	if (l->qlen) {
		int fd = queue_pop(l);
		pthread_mutex_unlock(&l->lock);
		op->res = finish_accepted(op, fd);
		return ORCA__SUBMIT_DONE;
	}
	ref(l); /* the waiting op's */
	op->listener = l;
	op->bflags |= ORCA__OP_LISTENER_WAIT;
	op->driver = d;
	waiter_append(l, op);
	if (l->state == IDLE)
		arm(l, d);
	pthread_mutex_unlock(&l->lock);
	return ORCA__SUBMIT_PENDING;
}

void orca__listener_cancel_op(orca__op *op)
{
	orca__listener *l = op->listener;
	pthread_mutex_lock(&l->lock);
	bool found = waiter_unlink(l, op);
	pthread_mutex_unlock(&l->lock);
	if (found) {
		orca__op_lock(op);
		orca_waker w = orca__op_set_completed(op, -ECANCELED);
		orca__op_unlock(op);
		orca_waker_wake(&w);
	}
	/* Found or not, the op's reference is the canceller's to drop (listener.h). */
	orca__listener_put(l);
}

void orca__listener_cqe(orca__listener *l, int res, bool more, bool retiring)
{
	orca__op *given = NULL, *failed = NULL, *cancelled = NULL;
	int fail_res = 0, cancel_res = -ECANCELED, dropped = -1;
	orca_waker closer = {0};
	fd_list to_close = {NULL, 0};
	pthread_mutex_lock(&l->lock);
	if (res >= 0) {
		if (!l->closing && l->wait_head)
			given = waiter_pop(l);
		else if (!queue_push(l, res))
			dropped = res; /* no memory to keep it: the client is dropped, not leaked */
		if (l->state == ARMED && l->qlen >= ORCA__LISTENER_QUEUE_CAP)
			stop(l);
	}
	if (!more) {
		orca__driver *home = l->home;
		int err = res < 0 && !(res == -ECANCELED && l->stop_requested) ? res : 0;
		orca__uring_forget_accept(home, l);
		l->state = IDLE;
		l->home = NULL;
		l->stop_requested = false;
		if (err && l->wait_head) {
			failed = waiter_pop(l);
			fail_res = err;
		}
		if (l->closing) {
			closer = l->closer;
			l->closer = (orca_waker){0};
			if (l->orphaned)
				to_close = queue_take(l);
		} else if (retiring) {
			/* The ring is going away. Waiters can only be tasks of another
			 * runtime: they get -ECANCELED; what is queued is closed. */
			to_close = queue_take(l);
			cancelled = waiters_take(l);
		} else if (l->wait_head) {
			arm(l, home);
		}
	}
	pthread_mutex_unlock(&l->lock);
	if (dropped >= 0)
		close(dropped);
	if (given)
		complete_waiter(l, given, finish_accepted(given, res));
	if (failed)
		complete_waiter(l, failed, fail_res);
	fail_chain(l, cancelled, cancel_res);
	fd_list_close(&to_close);
	orca_waker_wake(&closer);
	if (!more)
		orca__listener_put(l); /* the multishot's */
}

void orca__listener_retire(orca__listener *l)
{
	pthread_mutex_lock(&l->lock);
	if (l->state == ARMED)
		stop(l);
	pthread_mutex_unlock(&l->lock);
}

/* ---- register and close ----------------------------------------------------------------- */

/* A listener whose fd is gone (closed with close(2), its number reused): cancel
 * its multishot; its last CQE closes what it queued (listener.h). */
static void orphan(orca__listener *l)
{
	fd_list to_close = {NULL, 0};
	orca__op *waiters = NULL;
	pthread_mutex_lock(&l->lock);
	if (!l->closing) {
		l->closing = true;
		l->orphaned = true;
		waiters = waiters_take(l);
		if (l->state == ARMED)
			stop(l);
		if (l->state == IDLE)
			to_close = queue_take(l);
	}
	pthread_mutex_unlock(&l->lock);
	fail_chain(l, waiters, -EBADF);
	fd_list_close(&to_close);
}

void orca__listener_register(int fd)
{
	orca__listener *l = calloc(1, sizeof(*l));
	if (!l)
		return;
	pthread_mutex_init(&l->lock, NULL);
	atomic_init(&l->refs, 1); /* the table's */
	l->fd = fd;
	pthread_mutex_lock(&table_lock);
	listener_slot *s = slot(fd, true);
	orca__listener *old = NULL;
	if (s) {
		old = atomic_load_explicit(s, memory_order_relaxed);
		atomic_store_explicit(s, l, memory_order_relaxed);
	}
	pthread_mutex_unlock(&table_lock);
	if (!s) {
		pthread_mutex_destroy(&l->lock);
		free(l);
	}
	if (old) {
		orphan(old);
		orca__listener_put(old);
	}
}

/* orca_close's wait for the multishot's last CQE. Its cancel hook does nothing: the
 * cancel of the multishot is already asked for, so an abort still waits for that
 * CQE (briefly) and the close completes. */
typedef struct disarm_future {
	orca_future base;
	orca__listener *l;
} disarm_future;

static orca_poll disarm_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	orca__listener *l = ((disarm_future *)(void *)f)->l;
	orca_waker old = {0};
	pthread_mutex_lock(&l->lock);
	bool idle = l->state == IDLE;
	if (!idle && !orca_waker_will_wake(&l->closer, cx->waker)) {
		old = l->closer;
		l->closer = orca_waker_clone(cx->waker);
	}
	pthread_mutex_unlock(&l->lock);
	orca_waker_drop(&old);
	if (!idle)
		return ORCA_PENDING;
	*out = 0;
	return ORCA_READY;
}

static void disarm_cancel(orca_future *f)
{
	(void)f;
}

static const orca_future_vtable disarm_vtable = {
	.poll = disarm_poll,
	.cancel = disarm_cancel,
};

bool orca__listener_close(int fd, int *result)
{
	orca__listener *l = orca__listener_get(fd);
	if (!l)
		return false;
	if (!orca__driver_current()) {
		/* As every orca_close outside a task. */
		orca__listener_put(l);
		*result = orca_runtime_current() ? -ENOSYS : -EPERM;
		return true;
	}
	pthread_mutex_lock(&l->lock);
	bool second = l->closing;
	orca__op *waiters = NULL;
	if (!second) {
		l->closing = true;
		waiters = waiters_take(l);
		if (l->state == ARMED)
			stop(l);
	}
	pthread_mutex_unlock(&l->lock);
	if (second) {
		orca__listener_put(l);
		*result = -EBADF;
		return true;
	}
	fail_chain(l, waiters, -EBADF);
	disarm_future wait = {.base = {.vtable = &disarm_vtable}, .l = l};
	orca_await(&wait.base); /* -ECANCELED at once if the task saw an abort before */
	table_remove(fd, l);
	fd_list to_close = {NULL, 0};
	pthread_mutex_lock(&l->lock);
	if (l->state == IDLE)
		to_close = queue_take(l);
	else
		l->orphaned = true; /* not waited for: the last CQE closes the queue */
	pthread_mutex_unlock(&l->lock);
	fd_list_close(&to_close);
	/* Ops on fd with SQEs of their own (one-shot accepts, a poll) end too. */
	orca__fd_end_waits(fd);
	*result = close(fd) == 0 ? 0 : -errno;
	orca__listener_put(l);
	return true;
}
