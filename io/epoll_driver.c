/* The epoll backend of the driver interface (driver.h): one epoll set per worker,
 * for kernels or containers that refuse io_uring.
 *
 * An operation is first tried at once, without blocking, on the task's own thread
 * (recv/send/recvmsg/sendmsg with MSG_DONTWAIT; read/write with RWF_NOWAIT, or on
 * an fd switched to O_NONBLOCK where RWF_NOWAIT is not supported; accept and
 * connect on an fd switched to O_NONBLOCK). If it is not ready it joins the fd's
 * waiter list in this driver, whose epoll set holds the fd (Registration, below);
 * the readiness event makes the driver retry each matching
 * waiter on the owning worker and complete those that finished (the system call
 * writes into the task's buffer as io_uring's kernel side would). So a readiness
 * event wakes a task only with its result, never to retry. The exception to trying
 * first: a recv on a stream socket whose last recv here came back short waits at once
 * (note_short_recv), as Tokio clears readiness after a short read.
 * What epoll cannot watch (regular files, directories, block devices) and what has
 * no non-blocking form (open, stat, fsync) runs on the runtime's blocking pool
 * (op.h, POOL mode); a regular-file read served from the page cache finishes inline.
 *
 * Budget: a task whose operations keep finishing inline would never yield; after
 * ORCA_EPOLL_BUDGET inline attempts in one run it is sent to the back of the queue
 * (submit returns ORCA__SUBMIT_YIELD), Tokio's cooperative budget.
 *
 * Registration: an fd gets into a worker's epoll set on its first wait there and stays,
 * edge-triggered (for reading, and for writing once an op waited to write: a writable
 * socket would report itself at every check otherwise), as Tokio and Go register a socket
 * once. An op that tried and got EAGAIN (or skipped its try after a short recv) then
 * waits on the next edge without a system call. What makes that safe with raw fds,
 * which can be closed with close(2) and their numbers reused behind our back (dropping
 * the kernel's registration silently), is fd_origin.h: a registration is trusted
 * without a check only while the fd's stamp says Orca made the file and has not
 * changed since the driver last checked the registration (epoll_ctl MOD, ADD on
 * ENOENT, which also makes the kernel report what is ready at once). Every other wait
 * (fds the program made itself, poll ops, which want the level) checks first, one
 * epoll_ctl as a one-shot re-arm cost before. The sweep bounds what the stamp cannot
 * see (an Orca fd closed with close(2), its number taken by the program's own file):
 * every SWEEP_NS the driver checks the registrations of waits that trusted them
 * and have waited longer than a period; parked, it wakes for that (once or twice,
 * then nothing is left to check).
 * Each ADD numbers the registration (seq, the high half of the event's data): events
 * of an older registration of the number (its file still open through a dup) are
 * ignored. A registration whose events keep finding no waiter here (the fd's tasks
 * moved to another worker) is switched off (MOD with no events but EPOLLET) so it stops waking
 * this worker; the next wait here checks it back on. EPOLLHUP and EPOLLERR match every
 * waiter, readers and writers.
 *
 * Cancellation (op.h states; the op is CANCELLING when these run):
 *  1. on the owning worker: the op is unlinked from its fd's list and completed
 *     with -ECANCELED (or with the bytes it already moved) before cancel returns;
 *  2. from another worker: under the op's lock, if it is still CANCELLING, it goes
 *     on the cancel list (mutex) and the owner is unparked; the owner drains the
 *     list before it handles events and after each wait, and does step 1. An op
 *     that completes first is taken off the cancel list under its lock before it
 *     is marked COMPLETED, so the list never points at freed memory.
 * Either way the op is in no list once its await returns, and a later event for
 * its fd finds nothing of it.
 *
 * orca_close (fd_close.h): an op on a waiter list is counted in the driver's
 * fd_waits until it completes. A close request for fd, made on the owning worker or
 * taken off the close list by it (drained with the cancel list), completes every
 * waiter of fd's slot with -EBADF (-ECANCELED if its task is cancelling it; the bytes
 * it moved if any), removes fd from the epoll set (close(2) would not if the file has
 * another fd) and forgets the slot's hints, all before the closer closes the fd. So
 * a waiter is never left hanging on a closed fd (epoll would never report it), and
 * nothing of the old file is held against a new one that gets the number.
 *
 * Parking: driver.h's protocol; the eventfd is in the epoll set edge-triggered,
 * so each unpark write is one event and it never needs reading (until its counter
 * would overflow: unpark then resets it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <orca/blocking.h>
#include <orca/time.h>

#include "driver_shared.h"
#include "fd_close.h"
#include "fd_origin.h"
#include "op.h"
#include "panic.h"
#include "scheduler.h"

#define ORCA_EPOLL_EVENTS 256
#define ORCA_EPOLL_BUDGET 128
#define TAG_EVENTFD UINT64_MAX
/* What a registration reports, edge-triggered (one registration serves every op on
 * the fd): the reading side always; the writing side (EPOLLOUT and the like) is added
 * when an op first waits for it. Not from the start: a socket is writable nearly always,
 * and each check (ADD or MOD) of a registration that asks for it reports that at once,
 * an event and often a wake-up for nothing (one per connection). */
#define READ_MASK (EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND | EPOLLRDHUP | EPOLLET)
/* How often trusted registrations that waits have relied on for a while are checked
 * (fd_origin.h): late by at most about two periods for a program that closes an Orca
 * fd with close(2) and reuses its number for a file of its own. */
#define SWEEP_NS (10 * 1000 * 1000)
/* Events in a row that find no waiter before a registration is switched off here. */
#define DORMANT_AFTER 2

/* op->bflags (ORCA_OP_POOL_RAN is op.h's). */
#define BF_PLAIN 0x01      /* read()/write() on an O_NONBLOCK fd: no RWF_NOWAIT there */
#define BF_CONNECTING 0x02 /* connect() is in progress: the result is SO_ERROR */
#define BF_RESTORE 0x04    /* connect made a blocking socket O_NONBLOCK: undo after */
#define BF_STREAM 0x08     /* MSG_WAITALL: the socket is a stream (checked once) */
#define BF_NOT_STREAM 0x10

typedef struct fd_slot {
	orca__op *head, *tail; /* waiters, oldest first */
	uint32_t stamp;        /* fd_origin stamp its registration was checked under */
	uint32_t seq;          /* registrations so far: the high half of their events' data */
	uint32_t epoch;        /* the driver's sweep epoch when its unchecked waits began */
	uint32_t unchecked_at; /* its index in the driver's unchecked list, while unchecked */
	uint32_t mask;         /* what the registration reports, while reg != REG_NONE */
	uint8_t reg;           /* REG_*: what we believe of the kernel's registration */
	uint8_t unsolicited;   /* events in a row that found no waiter */
	bool unchecked;        /* its waits trust a registration not checked since they began */
	bool stream;           /* a hint: a stream socket (asked when it was added) */
	bool drained;          /* a hint: its last recv here came back short */
} fd_slot;

enum { REG_NONE, REG_ON, REG_OFF };

typedef struct epoll_driver {
	orca__driver base; /* first: the driver.h interface */
	int epfd;
	bool pwait2; /* epoll_pwait2 (ns timeouts) works; else epoll_wait (ms) */
	fd_slot *slots; /* indexed by fd, owner only */
	size_t nslots;
	unsigned inflight;       /* ops on waiter lists */
	int *unchecked_fds;      /* the fds of slots with unchecked waits (fd_slot.unchecked) */
	unsigned unchecked, unchecked_cap;
	uint32_t epoch;          /* sweeps so far */
	unsigned polls;          /* a counter: ep_poll reads the clock every 64th time */
	int64_t next_sweep_ns;   /* CLOCK_MONOTONIC, while unchecked > 0 */
	const void *budget_task; /* whose run the budget counts */
	unsigned budget;
	orca__parking park; /* its eventfd is in the epoll set */
	orca__cancel_list cancels;
	orca__close_list closes; /* orca_close requests from other threads (fd_close.h) */
	orca__driver_counters counters;
	char describe[96];
	struct epoll_event events[ORCA_EPOLL_EVENTS];
} epoll_driver;

static epoll_driver *as_ep(orca__driver *d)
{
	return (epoll_driver *)(void *)d;
}

/* ---- one non-blocking attempt ------------------------------------------------------- */

enum step {
	STEP_DONE, /* finished: op->res is the result */
	STEP_WAIT, /* not ready: wait for op->interest */
	STEP_POOL, /* a file: the blocking pool does (the rest of) it */
};

static enum step done_ok(orca__op *op, int64_t n)
{
	op->res = (int32_t)n;
	return STEP_DONE;
}

/* An error ends the op, but bytes already moved are its result (as read(2)). */
static enum step done_err(orca__op *op, int err)
{
	if (op->res <= 0)
		op->res = err;
	return STEP_DONE;
}

static enum step wait_for(orca__op *op, uint32_t events)
{
	op->interest = (uint16_t)events;
	return STEP_WAIT;
}

/* Sets O_NONBLOCK; *was_blocking (may be NULL) says whether it was clear. 0 or
 * -errno. */
static int make_nonblocking(int fd, bool *was_blocking)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (was_blocking)
		*was_blocking = !(fl & O_NONBLOCK);
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void restore_blocking(orca__op *op)
{
	if (!(op->bflags & BF_RESTORE))
		return;
	op->bflags &= (uint8_t)~BF_RESTORE;
	int fl = fcntl(op->fd, F_GETFL);
	if (fl >= 0)
		fcntl(op->fd, F_SETFL, fl & ~O_NONBLOCK);
}

/* What epoll cannot wait for: the blocking pool's kind of file. */
static bool is_file_mode(mode_t m)
{
	return S_ISREG(m) || S_ISDIR(m) || S_ISBLK(m);
}

/* MSG_WAITALL keeps going after a short transfer only on stream sockets, as
 * io_uring does. */
static bool is_stream(orca__op *op)
{
	if (!(op->bflags & (BF_STREAM | BF_NOT_STREAM))) {
		int type = 0;
		socklen_t l = sizeof(type);
		bool stream = getsockopt(op->fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 &&
			      (type == SOCK_STREAM || type == SOCK_SEQPACKET);
		op->bflags |= stream ? BF_STREAM : BF_NOT_STREAM;
	}
	return op->bflags & BF_STREAM;
}

static enum step attempt_sock(orca__op *op)
{
	bool in = op->kind == ORCA_OP_RECV || op->kind == ORCA_OP_RECVMSG;
	int flags = (int)op->flags;
	for (;;) {
		char *p = (char *)op->addr + op->res;
		size_t n = op->len - (uint32_t)op->res;
		ssize_t r;
		switch (op->kind) {
		case ORCA_OP_RECV:
			r = recv(op->fd, p, n, flags | MSG_DONTWAIT);
			break;
		case ORCA_OP_SEND:
			r = send(op->fd, p, n, flags | MSG_DONTWAIT);
			break;
		case ORCA_OP_RECVMSG:
			r = recvmsg(op->fd, op->addr, flags | MSG_DONTWAIT);
			break;
		default:
			r = sendmsg(op->fd, op->addr, flags | MSG_DONTWAIT);
			break;
		}
		if (r < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			/* The caller's own MSG_DONTWAIT means "do not wait" (io_uring agrees). */
			if ((e == EAGAIN || e == EWOULDBLOCK) && !(flags & MSG_DONTWAIT))
				return wait_for(op, in ? EPOLLIN : EPOLLOUT);
			return done_err(op, -e);
		}
		bool msg = op->kind == ORCA_OP_RECVMSG || op->kind == ORCA_OP_SENDMSG;
		if (!msg && r > 0 && (flags & MSG_WAITALL) && (size_t)r < n && is_stream(op)) {
			op->res += (int32_t)r;
			continue;
		}
		return done_ok(op, (int64_t)op->res + r);
	}
}

static enum step attempt_accept(orca__op *op, bool first)
{
	if (first) {
		int e = make_nonblocking(op->fd, NULL);
		if (e)
			return done_err(op, e);
	}
	for (;;) {
		int fd = accept4(op->fd, op->addr, (socklen_t *)(uintptr_t)op->off, (int)op->flags);
		if (fd >= 0) {
			orca__fd_made(fd);
			return done_ok(op, fd);
		}
		int e = errno;
		if (e == EINTR)
			continue;
		if (e == EAGAIN || e == EWOULDBLOCK)
			return wait_for(op, EPOLLIN);
		return done_err(op, -e);
	}
}

static enum step attempt_connect(orca__op *op, bool first)
{
	if (op->bflags & BF_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);
		if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
			err = errno;
		restore_blocking(op);
		return err ? done_err(op, -err) : done_ok(op, 0);
	}
	if (first) {
		bool was_blocking = false;
		int e = make_nonblocking(op->fd, &was_blocking);
		if (e)
			return done_err(op, e);
		if (was_blocking)
			op->bflags |= BF_RESTORE;
	}
	if (connect(op->fd, op->addr, (socklen_t)op->len) == 0) {
		restore_blocking(op);
		return done_ok(op, 0);
	}
	int e = errno;
	if (e == EINPROGRESS || e == EINTR) { /* an interrupted connect goes on */
		op->bflags |= BF_CONNECTING;
		return wait_for(op, EPOLLOUT);
	}
	restore_blocking(op);
	return done_err(op, -e);
}

/* read/write at the file position (offset < 0) or at an offset. */
static enum step attempt_rw(orca__op *op)
{
	bool wr = op->kind == ORCA_OP_WRITE || op->kind == ORCA_OP_PWRITE;
	bool positional = op->kind == ORCA_OP_PREAD || op->kind == ORCA_OP_PWRITE;
	for (;;) {
		char *p = (char *)op->addr + op->res;
		size_t n = op->len - (uint32_t)op->res;
		off_t at = positional ? (off_t)(op->off + (uint64_t)op->res) : -1;
		ssize_t r;
		if (op->bflags & BF_PLAIN) {
			r = wr ? write(op->fd, p, n) : read(op->fd, p, n);
		} else {
			struct iovec iov = {.iov_base = p, .iov_len = n};
			r = wr ? pwritev2(op->fd, &iov, 1, at, RWF_NOWAIT)
			       : preadv2(op->fd, &iov, 1, at, RWF_NOWAIT);
		}
		if (r >= 0) {
			if (r == 0 || (size_t)r == n || (op->bflags & BF_PLAIN))
				return done_ok(op, (int64_t)op->res + r);
			/* Short: a stream's answer, or a file whose next pages are not in
			 * the page cache (io_uring would finish those in its workers). */
			struct stat st;
			if (fstat(op->fd, &st) != 0 || !is_file_mode(st.st_mode))
				return done_ok(op, (int64_t)op->res + r);
			op->res += (int32_t)r;
			if (!wr && S_ISREG(st.st_mode)) {
				/* A short read that ended at end of file: nothing to fetch. */
				off_t pos = positional ? (off_t)(op->off + (uint64_t)op->res)
						       : lseek(op->fd, 0, SEEK_CUR);
				if (pos >= 0 && pos >= st.st_size)
					return STEP_DONE;
			}
			return STEP_POOL;
		}
		int e = errno;
		if (e == EINTR)
			continue;
		if (e == EAGAIN || e == EWOULDBLOCK) {
			/* A stream: wait. A file not in the page cache: the pool (arming
			 * fails with EPERM, which sends it there). */
			return positional ? STEP_POOL : wait_for(op, wr ? EPOLLOUT : EPOLLIN);
		}
		if (e == ESPIPE && positional) {
			/* io_uring ignores the offset on pipes and FIFOs, and a socket takes
			 * offset 0 only (sock_read_iter): the same rules here. */
			struct stat st;
			if (fstat(op->fd, &st) == 0 && (!S_ISSOCK(st.st_mode) || op->off == 0)) {
				op->kind = wr ? ORCA_OP_WRITE : ORCA_OP_READ;
				positional = false;
				continue;
			}
			return done_err(op, -e);
		}
		if ((e == EOPNOTSUPP || e == ENOSYS) && !(op->bflags & BF_PLAIN)) {
			/* No RWF_NOWAIT here: a file goes to the pool, anything else is made
			 * non-blocking and read/written plainly. */
			if (positional)
				return STEP_POOL;
			struct stat st;
			if (fstat(op->fd, &st) != 0)
				return done_err(op, -errno);
			if (is_file_mode(st.st_mode))
				return STEP_POOL;
			int err = make_nonblocking(op->fd, NULL);
			if (err)
				return done_err(op, err);
			op->bflags |= BF_PLAIN;
			continue;
		}
		return done_err(op, -e);
	}
}

/* One attempt of op's system call, without blocking (owner thread). first: from
 * submit; else the fd reported events ev. */
static enum step attempt(orca__op *op, uint32_t ev, bool first)
{
	switch ((enum orca__op_kind)op->kind) {
	case ORCA_OP_RECV:
	case ORCA_OP_SEND:
	case ORCA_OP_RECVMSG:
	case ORCA_OP_SENDMSG:
		return attempt_sock(op);
	case ORCA_OP_ACCEPT:
		return attempt_accept(op, first);
	case ORCA_OP_CONNECT:
		return attempt_connect(op, first);
	case ORCA_OP_READ:
	case ORCA_OP_WRITE:
	case ORCA_OP_PREAD:
	case ORCA_OP_PWRITE:
		return attempt_rw(op);
	case ORCA_OP_POLL:
		if (first)
			return wait_for(op, op->flags);
		return done_ok(op, ev & (op->interest | EPOLLERR | EPOLLHUP));
	case ORCA_OP_CLOSE: {
		int r = close(op->fd);
		return r == 0 ? done_ok(op, 0) : done_err(op, -errno);
	}
	case ORCA_OP_SHUTDOWN: {
		int r = shutdown(op->fd, (int)op->flags);
		return r == 0 ? done_ok(op, 0) : done_err(op, -errno);
	}
	case ORCA_OP_FSYNC:
	case ORCA_OP_OPENAT:
	case ORCA_OP_STATX:
		return STEP_POOL;
	}
	orca__panic("epoll driver: unknown operation kind");
}

/* ---- the blocking pool's share ------------------------------------------------------- */

static intptr_t pool_run(void *arg)
{
	orca__op *op = arg;
	int32_t done = op->res;
	char *p = (char *)op->addr + done;
	size_t n = op->len - (uint32_t)done;
	long r;
	do {
		switch (op->kind) {
		case ORCA_OP_READ:
			r = read(op->fd, p, n);
			break;
		case ORCA_OP_WRITE:
			r = write(op->fd, p, n);
			break;
		case ORCA_OP_PREAD:
			r = pread(op->fd, p, n, (off_t)(op->off + (uint64_t)done));
			break;
		case ORCA_OP_PWRITE:
			r = pwrite(op->fd, p, n, (off_t)(op->off + (uint64_t)done));
			break;
		case ORCA_OP_FSYNC:
			r = fsync(op->fd);
			break;
		case ORCA_OP_OPENAT:
			r = openat(op->fd, op->addr, (int)op->flags, (mode_t)op->off);
			break;
		case ORCA_OP_STATX:
			r = statx(op->fd, op->addr, (int)op->flags, op->len,
				  (struct statx *)(uintptr_t)op->off);
			break;
		default:
			r = -1;
			errno = EINVAL;
			break;
		}
	} while (r < 0 && errno == EINTR);
	if (r >= 0 && op->kind == ORCA_OP_OPENAT)
		orca__fd_made((int)r);
	op->res = r >= 0 ? (int32_t)(done + r) : (done > 0 ? done : -errno);
	/* Read by the task after the join, which orders it. */
	op->bflags |= ORCA_OP_POOL_RAN;
	return 0;
}

static int to_pool(orca__op *op)
{
	op->mode = ORCA_OP_MODE_POOL;
	int err = orca_spawn_blocking(&op->job, pool_run, op);
	if (err) {
		op->mode = ORCA_OP_MODE_NONE;
		return err;
	}
	return ORCA__SUBMIT_PENDING;
}

/* ---- waiter lists ------------------------------------------------------------------ */

static fd_slot *slot_get(epoll_driver *d, int fd)
{
	if ((size_t)fd >= d->nslots) {
		size_t n = d->nslots ? d->nslots : 64;
		while (n <= (size_t)fd)
			n *= 2;
		fd_slot *s = realloc(d->slots, n * sizeof(*s));
		if (!s)
			return NULL;
		memset(s + d->nslots, 0, (n - d->nslots) * sizeof(*s));
		d->slots = s;
		d->nslots = n;
	}
	return &d->slots[fd];
}

static uint64_t event_tag(int fd, uint32_t seq)
{
	return (uint64_t)seq << 32 | (uint32_t)fd;
}

/* Makes sure fd is in the epoll set, reporting READ_MASK and want (and what it reported
 * before), for the file it names now: MOD, or ADD when it is not there (new to us, or
 * closed and reused behind our back). Either way the kernel reports at once what is
 * ready. 0 or -errno (EPERM: epoll cannot watch it). */
static int check_registration(epoll_driver *d, int fd, fd_slot *s, uint32_t want)
{
	uint32_t stamp = orca__fd_stamp(fd); /* before the check: a later bump is seen */
	uint32_t mask = READ_MASK | want | (s->reg != REG_NONE ? s->mask : 0);
	int ctl = s->reg != REG_NONE ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	for (int tries = 0; tries < 3; tries++) {
		uint32_t seq = ctl == EPOLL_CTL_ADD ? s->seq + 1 : s->seq;
		struct epoll_event ev = {.events = mask, .data.u64 = event_tag(fd, seq)};
		if (epoll_ctl(d->epfd, ctl, fd, &ev) == 0) {
			if (ctl == EPOLL_CTL_ADD) {
				/* A new registration: what it is. */
				int type = 0;
				socklen_t l = sizeof(type);
				s->stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 &&
					    type == SOCK_STREAM;
				s->drained = false;
				s->seq = seq;
			}
			s->reg = REG_ON;
			s->mask = mask;
			s->stamp = stamp;
			s->unsolicited = 0;
			orca__count(&d->counters.submitted, 1);
			return 0;
		}
		int e = errno;
		/* The belief was wrong: closed and reused behind our back, or new to us. */
		if (ctl == EPOLL_CTL_MOD && e == ENOENT)
			ctl = EPOLL_CTL_ADD;
		else if (ctl == EPOLL_CTL_ADD && e == EEXIST)
			ctl = EPOLL_CTL_MOD;
		else {
			s->reg = REG_NONE;
			return -e;
		}
	}
	return -EEXIST;
}

/* Whether a wait for want on fd may rely on its registration without checking it: it
 * is on and reports want, and fd_origin says fd names the file it was checked for
 * (see Registration). */
static bool registration_trusted(const fd_slot *s, int fd, uint32_t want)
{
	return s->reg == REG_ON && (s->mask & want) == want &&
	       orca__fd_stamp_made_by_orca(s->stamp) && orca__fd_stamp(fd) == s->stamp;
}

/* Marks fd's slot as having unchecked waits: listed for the sweep. False when the
 * list cannot grow (the wait is then checked instead). */
static bool mark_unchecked(epoll_driver *d, int fd, fd_slot *s)
{
	if (s->unchecked)
		return true;
	if (d->unchecked == d->unchecked_cap) {
		unsigned cap = d->unchecked_cap ? d->unchecked_cap * 2 : 64;
		int *fds = realloc(d->unchecked_fds, cap * sizeof(*fds));
		if (!fds)
			return false;
		d->unchecked_fds = fds;
		d->unchecked_cap = cap;
	}
	if (d->unchecked == 0)
		d->next_sweep_ns = orca_now() + SWEEP_NS;
	s->unchecked = true;
	s->epoch = d->epoch;
	s->unchecked_at = d->unchecked;
	d->unchecked_fds[d->unchecked++] = fd;
	return true;
}

/* Its waits are checked (or gone): off the sweep's list. */
static void clear_unchecked(epoll_driver *d, fd_slot *s)
{
	if (!s->unchecked)
		return;
	s->unchecked = false;
	int last = d->unchecked_fds[--d->unchecked];
	d->unchecked_fds[s->unchecked_at] = last;
	d->slots[last].unchecked_at = s->unchecked_at;
}

/* A recv on a stream socket that came back short emptied the socket's receive
 * queue (Tokio clears the readiness then): the next recv here goes straight to
 * waiting instead of trying a read that would say EAGAIN, one system call less per
 * message for a request-response connection. Only a hint: data that arrived after the
 * short read is an edge the registration reports later, so a wrong guess costs a wait,
 * never a lost wake-up. */
static void note_short_recv(fd_slot *s, const orca__op *op, enum step st)
{
	if (st == STEP_DONE && op->kind == ORCA_OP_RECV && s->stream && op->flags == 0 &&
	    op->res > 0 && (uint32_t)op->res < op->len)
		s->drained = true;
}

/* Whether op should skip its first attempt and wait at once (note_short_recv). */
static bool predicted_empty(epoll_driver *d, const orca__op *op)
{
	if (op->kind != ORCA_OP_RECV || op->flags != 0 || op->fd < 0 || (size_t)op->fd >= d->nslots)
		return false;
	fd_slot *s = &d->slots[op->fd];
	bool drained = s->drained;
	s->drained = false;
	return drained && s->stream;
}

/* Puts op on its fd's list, checking the fd's registration unless it can be trusted. */
static int add_waiter(epoll_driver *d, orca__op *op)
{
	fd_slot *s = slot_get(d, op->fd);
	if (!s)
		return -ENOMEM;
	/* A poll wants the level, which only a check reports. */
	bool trusted = op->kind != ORCA_OP_POLL && registration_trusted(s, op->fd, op->interest) &&
		       (s->head || mark_unchecked(d, op->fd, s));
	if (!trusted) {
		int err = check_registration(d, op->fd, s, op->interest);
		if (err)
			return err;
		clear_unchecked(d, s); /* checked now: good for the waits before too */
	}
	op->wait_next = NULL;
	if (s->tail)
		s->tail->wait_next = op;
	else
		s->head = op;
	s->tail = op;
	d->inflight++;
	orca__fd_waits_add(&d->base, op->fd, 1);
	return 0;
}

/* op is off every waiter list: store the result and wake its task. */
static void complete(epoll_driver *d, orca__op *op, int32_t res)
{
	d->inflight--;
	orca__fd_waits_add(&d->base, op->fd, -1);
	orca__count(&d->counters.completions, 1);
	orca__op_complete(&d->cancels, op, res);
}

/* Switches fd's registration off in this set: its events find nobody here (its tasks
 * moved to another worker) and would keep waking this one.
 * Nothing of ours waits on fd here, so the program may be closing it (close(2)) on
 * another thread right now: ThreadSanitizer models an fd number as memory and would
 * report the two as a race, in the program's own TSan runs too. The kernel orders them,
 * and either order is harmless: after the close, MOD fails (EBADF, or ENOENT for a
 * new file at the number, which is not in this set under this registration: adding
 * it here would have changed seq, and the event would have been dropped as stale).
 * So the call goes around TSan's interceptor. */
static void switch_off(epoll_driver *d, int fd, fd_slot *s)
{
	/* No events, but still EPOLLET: the kernel adds EPOLLHUP and EPOLLERR to every
	 * registration, and level-triggered, a hung-up fd left open would then be reported
	 * at every wait of this worker (it could never sleep again). */
	struct epoll_event ev = {.events = EPOLLET, .data.u64 = event_tag(fd, s->seq)};
	long r = syscall(SYS_epoll_ctl, d->epfd, EPOLL_CTL_MOD, fd, &ev);
	s->reg = r == 0 ? REG_OFF : REG_NONE;
}

/* Fails every waiter of s with err (its registration is gone and cannot be had again:
 * the fd was closed under them). Returns how many. */
static size_t fail_waiters(epoll_driver *d, fd_slot *s, int err)
{
	size_t n = 0;
	orca__op *op = s->head;
	s->head = s->tail = NULL;
	clear_unchecked(d, s);
	while (op) {
		orca__op *next = op->wait_next;
		complete(d, op, op->res > 0 ? op->res : err);
		n++;
		op = next;
	}
	return n;
}

/* Registration seq of fd reported ev: retry each waiter it concerns and complete the
 * finished ones (the others wait for the next edge). Returns how many completed. */
static size_t handle_event(epoll_driver *d, int fd, uint32_t seq, uint32_t ev)
{
	if (fd < 0 || (size_t)fd >= d->nslots)
		return 0;
	fd_slot *s = &d->slots[fd];
	if (s->seq != seq || s->reg == REG_NONE)
		return 0; /* an older registration of the number (its file lives on in a dup) */
	s->drained = false;
	if (!s->head) {
		if (s->reg == REG_ON && ++s->unsolicited >= DORMANT_AFTER)
			switch_off(d, fd, s);
		return 0;
	}
	s->unsolicited = 0;
	size_t completed = 0;
	orca__op *prev = NULL;
	for (orca__op *op = s->head, *next; op; op = next) {
		next = op->wait_next;
		enum step st = STEP_WAIT;
		if (ev & (op->interest | EPOLLERR | EPOLLHUP)) {
#if ORCA_IO_ASAN
			/* Caught before the read instead of by ASan's interceptor: the
			 * task let its buffer go while the op still owned it. */
			size_t left = op->len - (uint32_t)op->res;
			if (orca__op_writes_into_buffer(op) && left &&
			    __asan_region_is_poisoned((char *)op->addr + op->res, left))
				orca__panic("driver: an operation would complete into freed or "
					    "poisoned memory (its buffer was freed while it waited)");
#endif
			st = attempt(op, ev, false);
		}
		if (st == STEP_WAIT) {
			prev = op;
			continue;
		}
		if (prev)
			prev->wait_next = next;
		else
			s->head = next;
		if (s->tail == op)
			s->tail = prev;
		/* STEP_POOL here means the fd now names a regular file (closed and reused
		 * while waited on): report what was done. */
		int32_t res = st == STEP_DONE ? op->res : (op->res > 0 ? op->res : -EBADF);
		note_short_recv(s, op, st);
		complete(d, op, res);
		completed++;
	}
	if (!s->head)
		clear_unchecked(d, s);
	return completed;
}

static size_t handle_events(epoll_driver *d, int n)
{
	size_t completed = 0;
	for (int i = 0; i < n; i++) {
		uint64_t tag = d->events[i].data.u64;
		if (tag == TAG_EVENTFD)
			continue; /* an unpark: waking up was all it was for */
		completed += handle_event(d, (int)(uint32_t)tag, (uint32_t)(tag >> 32),
					  d->events[i].events);
	}
	return completed;
}

/* Checks the registrations that waits have trusted since before the last sweep
 * (fd_origin.h's blind spot); one that cannot be had again fails its waiters. Returns
 * how many ops completed. */
static size_t sweep(epoll_driver *d)
{
	size_t n = 0;
	for (unsigned i = 0; i < d->unchecked;) {
		int fd = d->unchecked_fds[i];
		fd_slot *s = &d->slots[fd];
		if (s->epoch == d->epoch) {
			i++; /* began waiting after the last sweep: the next one */
			continue;
		}
		clear_unchecked(d, s); /* puts the last one at i */
		int err = check_registration(d, fd, s, 0);
		if (err)
			n += fail_waiters(d, s, err);
	}
	d->epoch++;
	d->next_sweep_ns = orca_now() + SWEEP_NS;
	return n;
}

static size_t sweep_if_due(epoll_driver *d, bool read_clock)
{
	if (!d->unchecked || (!read_clock && (++d->polls & 63)))
		return 0;
	return orca_now() >= d->next_sweep_ns ? sweep(d) : 0;
}

/* ---- cancellation ------------------------------------------------------------------ */

/* Owner: step 1 of the cancel protocol. */
static void cancel_now(epoll_driver *d, orca__op *op)
{
	if (op->fd < 0 || (size_t)op->fd >= d->nslots)
		orca__panic("epoll driver: cancelled op is on no waiter list");
	fd_slot *s = &d->slots[op->fd];
	orca__op *prev = NULL, *cur = s->head;
	while (cur && cur != op) {
		prev = cur;
		cur = cur->wait_next;
	}
	if (!cur)
		orca__panic("epoll driver: cancelled op is on no waiter list");
	if (prev)
		prev->wait_next = op->wait_next;
	else
		s->head = op->wait_next;
	if (s->tail == op)
		s->tail = prev;
	if (!s->head)
		clear_unchecked(d, s);
	if (op->kind == ORCA_OP_CONNECT)
		restore_blocking(op);
	complete(d, op, op->res > 0 ? op->res : -ECANCELED);
}

static void ep_unpark(orca__driver *base);

static void ep_cancel(orca__driver *base, orca__op *op)
{
	epoll_driver *d = as_ep(base);
	if (orca__driver_current() == base) {
		cancel_now(d, op);
		return;
	}
	if (orca__cancel_list_push(&d->cancels, op))
		ep_unpark(base);
}

/* ---- orca_close (fd_close.h) -------------------------------------------------------- */

/* Owner: end every waiter on req->fd and forget the fd, then answer req. Returns how
 * many ops completed. */
static size_t close_now(epoll_driver *d, orca__close_req *req)
{
	int fd = req->fd;
	size_t n = 0;
	if ((size_t)fd < d->nslots) {
		fd_slot *s = &d->slots[fd];
		orca__op *op = s->head;
		s->head = s->tail = NULL;
		if (s->reg != REG_NONE) {
			struct epoll_event unused = {0};
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, &unused); /* ENOENT: gone already */
		}
		s->reg = REG_NONE;
		s->drained = false;
		clear_unchecked(d, s);
		while (op) {
			orca__op *next = op->wait_next; /* before complete lets the op go */
			if (op->kind == ORCA_OP_CONNECT)
				restore_blocking(op);
			/* orca__op_complete makes this -EBADF unless the task is cancelling. */
			complete(d, op, op->res > 0 ? op->res : -ECANCELED);
			n++;
			op = next;
		}
	}
	orca__close_req_done(req);
	return n;
}

static void ep_end_waits(orca__driver *base, orca__close_req *req)
{
	epoll_driver *d = as_ep(base);
	if (orca__driver_current() == base) {
		close_now(d, req);
		return;
	}
	orca__close_list_push(&d->closes, req);
	ep_unpark(base);
}

/* Owner: step 2 of the cancel protocol, and the close requests of other workers. */
static size_t drain_cancel_requests(epoll_driver *d)
{
	size_t n = 0;
	for (orca__op *op = orca__cancel_list_take(&d->cancels), *next; op; op = next) {
		next = op->cancel_next; /* before cancel_now lets the op go */
		cancel_now(d, op);
		n++;
	}
	for (orca__close_req *r = orca__close_list_take(&d->closes), *next; r; r = next) {
		next = r->next; /* before close_now answers r, which may then go */
		n += close_now(d, r);
	}
	return n;
}

/* ---- submit, poll, park --------------------------------------------------------------- */

static int ep_submit(orca__driver *base, orca__op *op)
{
	epoll_driver *d = as_ep(base);
	op->res = 0;
	op->bflags = 0;
	bool inline_try = op->kind != ORCA_OP_POLL && op->kind != ORCA_OP_FSYNC &&
			  op->kind != ORCA_OP_OPENAT && op->kind != ORCA_OP_STATX;
	if (inline_try) {
		const void *t = orca__task_current();
		if (t != d->budget_task) {
			d->budget_task = t;
			d->budget = ORCA_EPOLL_BUDGET;
		}
		if (d->budget == 0) {
			d->budget_task = NULL; /* the next run starts afresh */
			return ORCA__SUBMIT_YIELD;
		}
		d->budget--;
	}
	enum step st = predicted_empty(d, op) ? wait_for(op, EPOLLIN) : attempt(op, 0, true);
	if (st == STEP_DONE) {
		if (op->kind == ORCA_OP_RECV && op->fd >= 0 && (size_t)op->fd < d->nslots)
			note_short_recv(&d->slots[op->fd], op, st);
		return ORCA__SUBMIT_DONE;
	}
	if (st == STEP_POOL)
		return to_pool(op);
	int err = add_waiter(d, op);
	if (err == 0) {
		op->driver = base;
		return ORCA__SUBMIT_PENDING;
	}
	if (err == -EPERM) {
		/* epoll cannot watch it: a regular file or the like, always "ready". */
		if (op->kind == ORCA_OP_POLL) {
			op->res = op->interest & (EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM);
			return ORCA__SUBMIT_DONE;
		}
		if (op->kind == ORCA_OP_READ || op->kind == ORCA_OP_WRITE)
			return to_pool(op);
	}
	if (op->kind == ORCA_OP_CONNECT)
		restore_blocking(op);
	return err;
}

static void after_wait(epoll_driver *d, int n)
{
	orca__count(&d->counters.enters, 1);
	if (n > 0)
		handle_events(d, n);
}

/* must_reap is io_uring's: a readiness event is never held back in the kernel. */
static size_t ep_poll(orca__driver *base, bool must_reap)
{
	(void)must_reap;
	epoll_driver *d = as_ep(base);
	size_t n = drain_cancel_requests(d);
	if (d->inflight == 0)
		return n; /* nothing waits on an fd: no system call */
	int r = epoll_wait(d->epfd, d->events, ORCA_EPOLL_EVENTS, 0);
	orca__count(&d->counters.enters, 1);
	if (r > 0)
		n += handle_events(d, r);
	return n + sweep_if_due(d, false);
}

static int wait_events(epoll_driver *d, int64_t deadline_ns)
{
	if (deadline_ns < 0)
		return epoll_wait(d->epfd, d->events, ORCA_EPOLL_EVENTS, -1);
	int64_t left = orca__ns_left(deadline_ns);
#ifdef SYS_epoll_pwait2
	if (d->pwait2) {
		struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
		return (int)syscall(SYS_epoll_pwait2, d->epfd, d->events, ORCA_EPOLL_EVENTS, &ts,
				    NULL, 0);
	}
#endif
	/* Milliseconds, rounded up: never wake before the deadline. */
	int64_t ms = (left + 999999) / 1000000;
	return epoll_wait(d->epfd, d->events, ORCA_EPOLL_EVENTS, ms > 1000000000 ? 1000000000 : (int)ms);
}

static void ep_park(orca__driver *base, int64_t deadline_ns)
{
	epoll_driver *d = as_ep(base);
	drain_cancel_requests(d);
	orca__parking_yield(&d->park, NULL, NULL);
	if (!orca__parking_begin(&d->park)) {
		ep_poll(base, true);
		return;
	}
	/* Waits that trust a registration get it checked within a sweep period or two,
	 * parked or not (then nothing is unchecked and the park has no such deadline). */
	if (d->unchecked && (deadline_ns < 0 || deadline_ns > d->next_sweep_ns))
		deadline_ns = d->next_sweep_ns;
	int n = wait_events(d, deadline_ns);
	orca__parking_done(&d->park);
	after_wait(d, n);
	sweep_if_due(d, true);
	drain_cancel_requests(d);
}

static void ep_unpark(orca__driver *base)
{
	orca__parking_unpark(&as_ep(base)->park);
}

/* ---- life cycle -------------------------------------------------------------------- */

static unsigned ep_inflight(orca__driver *base)
{
	return as_ep(base)->inflight;
}

static const char *ep_describe(orca__driver *base)
{
	return as_ep(base)->describe;
}

static void ep_stats(orca__driver *base, orca__driver_stats *out)
{
	orca__counters_read(&as_ep(base)->counters, out);
}

static void ep_destroy(orca__driver *base)
{
	epoll_driver *d = as_ep(base);
	if (d->inflight)
		orca__panic("driver: epoll set torn down with operations waiting");
	close(d->epfd);
	orca__parking_destroy(&d->park);
	orca__cancel_list_destroy(&d->cancels);
	orca__close_list_destroy(&d->closes);
	free(d->slots);
	free(d->unchecked_fds);
	free(d);
}

static const orca__driver_vtable epoll_vtable;

orca__driver *orca__epoll_driver_create(unsigned worker_index, int *err)
{
	epoll_driver *d = aligned_alloc(64, (sizeof(*d) + 63) & ~(size_t)63);
	if (!d) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(d, 0, sizeof(*d));
	d->base.vt = &epoll_vtable;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		*err = -errno;
		free(d);
		return NULL;
	}
	*err = orca__parking_init(&d->park);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = TAG_EVENTFD};
	if (*err == 0 && epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->park.eventfd, &ev) != 0)
		*err = -errno;
	if (*err) {
		orca__parking_destroy(&d->park);
		close(d->epfd);
		free(d);
		return NULL;
	}
#ifdef SYS_epoll_pwait2
	/* Kernel 5.11+, and not refused by a seccomp profile that predates it. */
	struct timespec zero = {0, 0};
	d->pwait2 = syscall(SYS_epoll_pwait2, d->epfd, d->events, 1, &zero, NULL, 0) >= 0;
#endif
	orca__cancel_list_init(&d->cancels);
	orca__close_list_init(&d->closes);
	snprintf(d->describe, sizeof(d->describe), "worker %u: epoll, %s timeouts", worker_index,
		 d->pwait2 ? "epoll_pwait2 (ns)" : "epoll_wait (ms)");
	orca__log_debug("%s", d->describe);
	*err = 0;
	return &d->base;
}

static const orca__driver_vtable epoll_vtable = {
	.name = "epoll",
	.destroy = ep_destroy,
	.poll = ep_poll,
	.park = ep_park,
	.unpark = ep_unpark,
	.inflight = ep_inflight,
	.describe = ep_describe,
	.stats = ep_stats,
	.submit = ep_submit,
	.cancel = ep_cancel,
	.end_waits = ep_end_waits,
};
