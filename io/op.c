/* I/O operations as futures (orca_op) and the async twins of the blocking calls.
 * The state machine is in op.h; the backends' work in uring_driver.c and
 * epoll_driver.c; orca_close of a listener from orca_tcp_listen in listener.c; the
 * ending of other tasks' ops on a closed fd in fd_close.c. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <orca/runtime.h>
#include <orca/task.h>

#include "fd_close.h"
#include "fd_origin.h"
#include "listener.h"
#include "observe.h"
#include "op.h"
#include "panic.h"
#include "scheduler.h"

static orca__op *as_op(orca_op *o)
{
	return (orca__op *)(void *)o;
}

/* The task dump's "waiting on <kind> (fd N)" (runtime/observe.h). */
static void note_wait(const orca__op *op, const orca_context *cx)
{
	static const char *const names[] = {
		[ORCA_OP_READ] = "read",       [ORCA_OP_WRITE] = "write",
		[ORCA_OP_PREAD] = "pread",     [ORCA_OP_PWRITE] = "pwrite",
		[ORCA_OP_RECV] = "recv",       [ORCA_OP_SEND] = "send",
		[ORCA_OP_ACCEPT] = "accept",   [ORCA_OP_CONNECT] = "connect",
		[ORCA_OP_RECVMSG] = "recvmsg", [ORCA_OP_SENDMSG] = "sendmsg",
		[ORCA_OP_FSYNC] = "fsync",     [ORCA_OP_CLOSE] = "close",
		[ORCA_OP_SHUTDOWN] = "shutdown", [ORCA_OP_OPENAT] = "openat",
		[ORCA_OP_POLL] = "poll",       [ORCA_OP_STATX] = "statx",
	};
	const char *name = op->kind < sizeof(names) / sizeof(names[0]) ? names[op->kind] : NULL;
	orca__note_wait(cx, name ? name : "I/O", ORCA__WAIT_FD, op->fd);
}

static orca_poll op_pending(const orca__op *op, const orca_context *cx)
{
	note_wait(op, cx);
	return ORCA_PENDING;
}

/* POOL mode: the op awaits the blocking-pool task that does its system call. */
static orca_poll poll_pool_job(orca__op *op, orca_context *cx, intptr_t *out)
{
	orca_future *job = orca_task_future(op->job);
	note_wait(op, cx); /* before the join notes its own wait */
	intptr_t r;
	if (job->vtable->poll(job, cx, &r) == ORCA_PENDING)
		return ORCA_PENDING;
	orca_detach(op->job);
	op->job = NULL;
	op->state = ORCA_OP_DONE;
	/* The job's own result is -ECANCELED when it was aborted, even if the system
	 * call had already run: what it did (an fd opened) must not be lost. */
	*out = (op->bflags & ORCA_OP_POOL_RAN) ? op->res : r;
	return ORCA_READY;
}

static orca_poll op_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	orca__op *op = (orca__op *)(void *)f;
	/* Read the state under the lock: once submitted, the reaper writes it from the
	 * ring's worker while this task may run on another (TSan found the plain read). */
	orca__op_lock(op);
	uint8_t state = op->state;
	orca__op_unlock(op);
	if (state == ORCA_OP_INIT) {
		if (op->fd < 0 && op->kind != ORCA_OP_OPENAT && op->kind != ORCA_OP_STATX) {
			*out = -EBADF;
			op->state = ORCA_OP_DONE;
			return ORCA_READY;
		}
		orca__driver *d = orca__driver_current();
		if (!d) {
			/* Not on a worker (-EPERM), or the worker has no driver. */
			*out = orca_runtime_current() ? -ENOSYS : -EPERM;
			op->state = ORCA_OP_DONE;
			return ORCA_READY;
		}
		op->state = ORCA_OP_SUBMITTED;
		int r = orca__driver_submit(d, op);
		if (r == ORCA__SUBMIT_PENDING) {
			if (op->mode == ORCA_OP_MODE_POOL)
				return poll_pool_job(op, cx, out);
			/* Only a listener's hand-off (op.h) can complete the op before this
			 * worker polls its driver, so the waker is stored after the submit:
			 * nothing to undo when it finished at once. */
			op->mode = ORCA_OP_MODE_DRIVER;
			orca__op_lock(op);
			if (op->state == ORCA_OP_COMPLETED) {
				/* A listener's hand-off from another worker (op.h). */
				op->state = ORCA_OP_DONE;
				orca__op_unlock(op);
				*out = op->res;
				return ORCA_READY;
			}
			op->waker = orca_waker_clone(cx->waker);
			orca__op_unlock(op);
			return op_pending(op, cx);
		}
		if (r == ORCA__SUBMIT_YIELD) {
			/* Budget used up: to the back of the queue, then submit afresh. */
			op->state = ORCA_OP_INIT;
			orca_waker_wake_by_ref(cx->waker);
			return ORCA_PENDING;
		}
		op->state = ORCA_OP_DONE;
		*out = r == ORCA__SUBMIT_DONE ? op->res : r;
		return ORCA_READY;
	}
	/* Only the task touches a pool op (and its mode): no lock needed there. */
	if (op->mode == ORCA_OP_MODE_POOL && state != ORCA_OP_DONE)
		return poll_pool_job(op, cx, out);
	orca__op_lock(op);
	if (op->state == ORCA_OP_COMPLETED) {
		op->state = ORCA_OP_DONE;
		orca__op_unlock(op);
		*out = op->res;
		return ORCA_READY;
	}
	if (op->state == ORCA_OP_DONE) {
		orca__op_unlock(op);
		orca__panic("io op: polled again after it returned its result");
	}
	if (!orca_waker_will_wake(&op->waker, cx->waker)) {
		orca_waker old = op->waker;
		op->waker = orca_waker_clone(cx->waker);
		orca__op_unlock(op);
		orca_waker_drop(&old);
	} else {
		orca__op_unlock(op);
	}
	return op_pending(op, cx);
}

static void op_cancel(orca_future *f)
{
	orca__op *op = (orca__op *)(void *)f;
	if (op->mode == ORCA_OP_MODE_POOL) {
		/* Only the task touches a pool op's state. A job that has not started is
		 * stopped; a running one is waited for (poll_pool_job). */
		if (op->state == ORCA_OP_SUBMITTED) {
			op->state = ORCA_OP_CANCELLING;
			orca_abort(op->job);
		}
		return;
	}
	orca__op_lock(op);
	bool request = op->state == ORCA_OP_SUBMITTED;
	if (request)
		op->state = ORCA_OP_CANCELLING;
	if (op->state == ORCA_OP_INIT) {
		/* Never submitted (or sent back to yield): nothing to wait for; the next
		 * poll reports the cancel. */
		op->res = -ECANCELED;
		op->state = ORCA_OP_COMPLETED;
	}
	orca__op_unlock(op);
	if (request)
		orca__driver_cancel(op->driver, op);
}

static void op_drop(orca_future *f)
{
	orca__op *op = (orca__op *)(void *)f;
	if (op->state == ORCA_OP_SUBMITTED || op->state == ORCA_OP_CANCELLING)
		orca__panic("io op: dropped while the kernel still owns it (await it to the end)");
}

static const orca_future_vtable op_vtable = {
	.poll = op_poll,
	.cancel = op_cancel,
	.drop = op_drop,
};

static orca__op *op_init(orca_op *o, int kind, int fd)
{
	orca__op *op = as_op(o);
	memset(op, 0, sizeof(*op));
	op->base.vtable = &op_vtable;
	atomic_flag_clear(&op->lock);
	op->kind = (uint8_t)kind;
	op->fd = fd;
	return op;
}

/* An op whose arguments are already known to be wrong: its first poll reports it. */
static void fail_at_once(orca__op *op, int err)
{
	op->res = err;
	op->state = ORCA_OP_COMPLETED;
}

static uint32_t clamp_len(size_t n)
{
	/* io_uring lengths are 32-bit; a longer transfer is a short one, as read(2)
	 * itself caps at 0x7ffff000. */
	return n > 0x7ffff000u ? 0x7ffff000u : (uint32_t)n;
}

void orca_op_read(orca_op *o, int fd, void *buf, size_t n)
{
	orca__op *op = op_init(o, ORCA_OP_READ, fd);
	op->addr = buf;
	op->len = clamp_len(n);
}

void orca_op_write(orca_op *o, int fd, const void *buf, size_t n)
{
	orca__op *op = op_init(o, ORCA_OP_WRITE, fd);
	op->addr = (void *)buf;
	op->len = clamp_len(n);
}

void orca_op_pread(orca_op *o, int fd, void *buf, size_t n, off_t offset)
{
	orca__op *op = op_init(o, ORCA_OP_PREAD, fd);
	op->addr = buf;
	op->len = clamp_len(n);
	op->off = (uint64_t)offset;
	if (offset < 0)
		fail_at_once(op, -EINVAL);
}

void orca_op_pwrite(orca_op *o, int fd, const void *buf, size_t n, off_t offset)
{
	orca__op *op = op_init(o, ORCA_OP_PWRITE, fd);
	op->addr = (void *)buf;
	op->len = clamp_len(n);
	op->off = (uint64_t)offset;
	if (offset < 0)
		fail_at_once(op, -EINVAL);
}

void orca_op_recv(orca_op *o, int fd, void *buf, size_t n, int flags)
{
	orca__op *op = op_init(o, ORCA_OP_RECV, fd);
	op->addr = buf;
	op->len = clamp_len(n);
	op->flags = (uint32_t)flags;
}

void orca_op_send(orca_op *o, int fd, const void *buf, size_t n, int flags)
{
	orca__op *op = op_init(o, ORCA_OP_SEND, fd);
	op->addr = (void *)buf;
	op->len = clamp_len(n);
	op->flags = (uint32_t)(flags | MSG_NOSIGNAL);
}

void orca_op_accept(orca_op *o, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	orca__op *op = op_init(o, ORCA_OP_ACCEPT, fd);
	op->addr = addr;
	op->off = (uint64_t)(uintptr_t)addrlen;
	op->flags = (uint32_t)(flags | SOCK_CLOEXEC);
}

void orca_op_connect(orca_op *o, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	orca__op *op = op_init(o, ORCA_OP_CONNECT, fd);
	op->addr = (void *)addr;
	op->len = addrlen;
}

void orca_op_recvmsg(orca_op *o, int fd, struct msghdr *msg, int flags)
{
	orca__op *op = op_init(o, ORCA_OP_RECVMSG, fd);
	op->addr = msg;
	op->flags = (uint32_t)flags;
}

void orca_op_sendmsg(orca_op *o, int fd, const struct msghdr *msg, int flags)
{
	orca__op *op = op_init(o, ORCA_OP_SENDMSG, fd);
	op->addr = (void *)msg;
	op->flags = (uint32_t)(flags | MSG_NOSIGNAL);
}

void orca_op_fsync(orca_op *o, int fd)
{
	op_init(o, ORCA_OP_FSYNC, fd);
}

void orca_op_close(orca_op *o, int fd)
{
	orca__fd_closing(fd); /* fd_origin.h: the number will name another file */
	op_init(o, ORCA_OP_CLOSE, fd);
}

void orca_op_shutdown(orca_op *o, int fd, int how)
{
	orca__op *op = op_init(o, ORCA_OP_SHUTDOWN, fd);
	op->flags = (uint32_t)how;
}

void orca_op_openat(orca_op *o, int dirfd, const char *path, int flags, mode_t mode)
{
	orca__op *op = op_init(o, ORCA_OP_OPENAT, dirfd);
	op->addr = (void *)path;
	op->flags = (uint32_t)(flags | O_CLOEXEC);
	op->off = mode;
}

void orca_op_poll(orca_op *o, int fd, short events)
{
	orca__op *op = op_init(o, ORCA_OP_POLL, fd);
	op->flags = (uint16_t)events;
}

/* ---- the async twins -------------------------------------------------------------- */

/* Rejects what the kernel would accept but must not see: NULL buffers with a
 * length (the kernel reports -EFAULT, but only after it is handed the op). */
static bool bad_buffer(const void *buf, size_t n)
{
	return buf == NULL && n != 0;
}

ssize_t orca_read(int fd, void *buf, size_t n)
{
	if (bad_buffer(buf, n))
		return -EFAULT;
	orca_op op;
	orca_op_read(&op, fd, buf, n);
	return orca_await(&op.base);
}

ssize_t orca_write(int fd, const void *buf, size_t n)
{
	if (bad_buffer(buf, n))
		return -EFAULT;
	orca_op op;
	orca_op_write(&op, fd, buf, n);
	return orca_await(&op.base);
}

ssize_t orca_pread(int fd, void *buf, size_t n, off_t offset)
{
	if (bad_buffer(buf, n))
		return -EFAULT;
	if (offset < 0)
		return -EINVAL;
	orca_op op;
	orca_op_pread(&op, fd, buf, n, offset);
	return orca_await(&op.base);
}

ssize_t orca_pwrite(int fd, const void *buf, size_t n, off_t offset)
{
	if (bad_buffer(buf, n))
		return -EFAULT;
	if (offset < 0)
		return -EINVAL;
	orca_op op;
	orca_op_pwrite(&op, fd, buf, n, offset);
	return orca_await(&op.base);
}

ssize_t orca_recv(int fd, void *buf, size_t n, int flags)
{
	if (bad_buffer(buf, n))
		return -EFAULT;
	orca_op op;
	orca_op_recv(&op, fd, buf, n, flags);
	return orca_await(&op.base);
}

ssize_t orca_send(int fd, const void *buf, size_t n, int flags)
{
	if (bad_buffer(buf, n))
		return -EFAULT;
	orca_op op;
	orca_op_send(&op, fd, buf, n, flags);
	return orca_await(&op.base);
}

ssize_t orca_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
		      socklen_t *addrlen)
{
	if (bad_buffer(buf, n) || (addr && !addrlen))
		return -EFAULT;
	struct iovec iov = {.iov_base = buf, .iov_len = n};
	struct msghdr msg = {.msg_name = addr,
			     .msg_namelen = addr ? *addrlen : 0,
			     .msg_iov = &iov,
			     .msg_iovlen = 1};
	orca_op op;
	orca_op_recvmsg(&op, fd, &msg, flags);
	ssize_t r = orca_await(&op.base);
	if (r >= 0 && addr)
		*addrlen = msg.msg_namelen;
	return r;
}

ssize_t orca_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
		    socklen_t addrlen)
{
	if (bad_buffer(buf, n))
		return -EFAULT;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};
	struct msghdr msg = {.msg_name = (void *)addr,
			     .msg_namelen = addr ? addrlen : 0,
			     .msg_iov = &iov,
			     .msg_iovlen = 1};
	orca_op op;
	orca_op_sendmsg(&op, fd, &msg, flags);
	return orca_await(&op.base);
}

int orca_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	if (addr && !addrlen)
		return -EFAULT;
	orca_op op;
	orca_op_accept(&op, fd, addr, addrlen, 0);
	return (int)orca_await(&op.base);
}

int orca_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	if (!addr)
		return -EFAULT;
	orca_op op;
	orca_op_connect(&op, fd, addr, addrlen);
	return (int)orca_await(&op.base);
}

int orca_shutdown(int fd, int how)
{
	orca_op op;
	orca_op_shutdown(&op, fd, how);
	return (int)orca_await(&op.base);
}

/* Whether the calling stackful task has seen its abort: every await of it returns
 * -ECANCELED at once from then on (runtime/await.c). */
static bool abort_seen(void)
{
	orca__task *self = orca__task_current();
	return self && self->kind == ORCA_TASK_STACKFUL && self->cancel_seen;
}

int orca_close(int fd)
{
	int r;
	orca__fd_closing(fd); /* fd_origin.h: the number will name another file */
	if (orca__listener_close(fd, &r))
		return r; /* a listener of orca_tcp_listen: its multishot ends first */
	/* Other tasks' ops on fd end with -EBADF before the number can be reused
	 * (skipped by a task that has seen its abort). */
	orca__fd_end_waits(fd);
	if (abort_seen()) {
		/* An await here would return -ECANCELED and leave the fd open, and a
		 * task's clean-up after an abort (the usual place for a close) leaked it;
		 * the abort may also have come while the step above waited. */
		return close(fd) == 0 ? 0 : -errno;
	}
	orca_op op;
	op_init(&op, ORCA_OP_CLOSE, fd); /* orca_op_close but for the stamp, bumped above */
	return (int)orca_await(&op.base);
}

int orca_fsync(int fd)
{
	orca_op op;
	orca_op_fsync(&op, fd);
	return (int)orca_await(&op.base);
}

int orca_poll_fd(int fd, short events)
{
	orca_op op;
	orca_op_poll(&op, fd, events);
	return (int)orca_await(&op.base);
}

typedef ssize_t (*xfer_fn)(int, const void *, size_t);

static ssize_t send_plain(int fd, const void *buf, size_t n)
{
	return orca_send(fd, buf, n, 0);
}

static ssize_t all(xfer_fn fn, int fd, const void *buf, size_t n)
{
	if (bad_buffer(buf, n))
		return -EFAULT;
	size_t done = 0;
	while (done < n) {
		ssize_t r = fn(fd, (const char *)buf + done, n - done);
		if (r < 0)
			return r;
		if (r == 0)
			return -EPIPE; /* no progress: the other end is gone */
		done += (size_t)r;
	}
	return (ssize_t)n;
}

ssize_t orca_send_all(int fd, const void *buf, size_t n)
{
	return all(send_plain, fd, buf, n);
}

ssize_t orca_write_all(int fd, const void *buf, size_t n)
{
	return all(orca_write, fd, buf, n);
}

ssize_t orca_recv_timeout(int fd, void *buf, size_t n, int flags, int64_t timeout_ns)
{
	if (bad_buffer(buf, n))
		return -EFAULT;
	orca_op op;
	orca_op_recv(&op, fd, buf, n, flags);
	return orca_await_timeout(&op.base, timeout_ns);
}

ssize_t orca_read_timeout(int fd, void *buf, size_t n, int64_t timeout_ns)
{
	if (bad_buffer(buf, n))
		return -EFAULT;
	orca_op op;
	orca_op_read(&op, fd, buf, n);
	return orca_await_timeout(&op.base, timeout_ns);
}

int orca_accept_timeout(int fd, struct sockaddr *addr, socklen_t *addrlen, int64_t timeout_ns)
{
	if (addr && !addrlen)
		return -EFAULT;
	orca_op op;
	orca_op_accept(&op, fd, addr, addrlen, 0);
	return (int)orca_await_timeout(&op.base, timeout_ns);
}

int orca_connect_timeout(int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t timeout_ns)
{
	if (!addr)
		return -EFAULT;
	orca_op op;
	orca_op_connect(&op, fd, addr, addrlen);
	return (int)orca_await_timeout(&op.base, timeout_ns);
}
