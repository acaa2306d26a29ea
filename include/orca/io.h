/* Asynchronous I/O on file descriptors, through each worker's I/O driver: io_uring,
 * or epoll where the kernel refuses io_uring (orca_backend in runtime.h). Both
 * backends give the same results and error codes.
 *
 * The calls are async twins of the blocking ones, with the same arguments in the
 * same order: orca_read(fd, buf, n) is read(fd, buf, n) that suspends the calling
 * task instead of the thread. They return what the system call returns, or a
 * negative errno value instead of -1 and errno. All of them:
 *   - must be called inside a stackful task (-EPERM otherwise) and may suspend;
 *   - return -ECANCELED if the task is aborted: the operation is cancelled in the
 *     kernel first, and the call returns only after the kernel is done with the
 *     buffer (if the operation completed anyway, its result is returned instead, so
 *     an accepted fd or sent bytes are never lost);
 *   - return -EBADF / -EINVAL / -EFAULT for bad arguments, as the kernel reports them;
 *   - on a pipe or FIFO orca_pread/orca_pwrite ignore the offset; on a socket they
 *     read/write at offset 0 and return -ESPIPE at any other (io_uring's rules, kept
 *     on epoll; pread(2) would always say -ESPIPE).
 *
 * On the epoll backend, sockets, pipes and terminals are waited on for readiness and
 * then read or written without blocking; regular files, open, stat and fsync run on
 * the runtime's blocking pool (a read the page cache can serve finishes at once). An
 * fd that orca_accept waits on, and one without RWF_NOWAIT support (a terminal) that
 * orca_read/orca_write use, is switched to O_NONBLOCK; orca_connect restores a
 * blocking socket's mode when it is done. A file operation already running on the
 * pool cannot be interrupted: its abort waits for it (an open of a FIFO with no
 * writer waits for one).
 *
 * For a timeout or a select, build the operation as a future (orca_op) and pass it
 * to orca_await_timeout / orca_await_deadline / orca_select; *_timeout convenience
 * variants are below for the common cases.
 */
#ifndef ORCA_IO_H
#define ORCA_IO_H

#include <orca/common.h>
#include <orca/future.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One I/O operation as a future. Caller-allocated (on the task's stack: no
 * allocation per operation); prepare it with one of the orca_op_* calls, then
 * await it once. Its result is the system call's return value or -errno. While it
 * is in flight its memory, and the buffers it names, belong to the kernel: await
 * it to the end (orca_await and friends do, also on abort and timeout). */
typedef struct orca_op {
	orca_future base;
	uint64_t priv[10]; /* the library's; layout not part of the API */
} orca_op;

ORCA_API void orca_op_read(orca_op *op, int fd, void *buf, size_t n);
ORCA_API void orca_op_write(orca_op *op, int fd, const void *buf, size_t n);
ORCA_API void orca_op_pread(orca_op *op, int fd, void *buf, size_t n, off_t offset);
ORCA_API void orca_op_pwrite(orca_op *op, int fd, const void *buf, size_t n, off_t offset);
ORCA_API void orca_op_recv(orca_op *op, int fd, void *buf, size_t n, int flags);
/* MSG_NOSIGNAL is always added: a send to a closed peer is -EPIPE, never SIGPIPE. */
ORCA_API void orca_op_send(orca_op *op, int fd, const void *buf, size_t n, int flags);
ORCA_API void orca_op_accept(orca_op *op, int fd, struct sockaddr *addr, socklen_t *addrlen,
			     int flags);
ORCA_API void orca_op_connect(orca_op *op, int fd, const struct sockaddr *addr, socklen_t addrlen);
ORCA_API void orca_op_recvmsg(orca_op *op, int fd, struct msghdr *msg, int flags);
ORCA_API void orca_op_sendmsg(orca_op *op, int fd, const struct msghdr *msg, int flags);
ORCA_API void orca_op_fsync(orca_op *op, int fd);
ORCA_API void orca_op_close(orca_op *op, int fd);
ORCA_API void orca_op_shutdown(orca_op *op, int fd, int how);
ORCA_API void orca_op_openat(orca_op *op, int dirfd, const char *path, int flags, mode_t mode);
/* Waits until the fd is ready for the poll(2) events given; result: revents. */
ORCA_API void orca_op_poll(orca_op *op, int fd, short events);

/* ---- the async twins (each: prepare an orca_op on the stack and await it) ---- */

ORCA_API ssize_t orca_read(int fd, void *buf, size_t n);
ORCA_API ssize_t orca_write(int fd, const void *buf, size_t n);
ORCA_API ssize_t orca_pread(int fd, void *buf, size_t n, off_t offset);
ORCA_API ssize_t orca_pwrite(int fd, const void *buf, size_t n, off_t offset);
ORCA_API ssize_t orca_recv(int fd, void *buf, size_t n, int flags);
ORCA_API ssize_t orca_send(int fd, const void *buf, size_t n, int flags);
ORCA_API ssize_t orca_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
			       socklen_t *addrlen);
ORCA_API ssize_t orca_sendto(int fd, const void *buf, size_t n, int flags,
			     const struct sockaddr *addr, socklen_t addrlen);
/* accept4(2): returns the new fd (SOCK_CLOEXEC always added) and fills addr.
 *
 * On a listener from orca_tcp_listen on the io_uring backend (kernel 5.19+, unless
 * ORCA_ACCEPT_MULTISHOT=0 is in the environment when the runtime starts), accepts
 * share one multishot accept, armed on the first accept that has to wait: the
 * kernel accepts each connection as it arrives, and an accept returns one at once
 * if some are waiting (up to about 64 are taken ahead; beyond that they stay in the
 * kernel's backlog). The results and errors are those of accept4 (-EMFILE when fds
 * run out, ...), with two differences: addr is filled by getpeername(2) (one
 * system call, only when addr is given), and *addrlen is 0 if the peer had already
 * reset; connections taken ahead and not yet accepted when the listener is closed
 * or the runtime freed are closed (their clients see the connection end).
 * An accept waiting when the listener is closed with orca_close returns -EBADF, on
 * every backend and path (orca_close below). */
ORCA_API int orca_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
ORCA_API int orca_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
ORCA_API int orca_shutdown(int fd, int how);
/* close(2), after ending every Orca operation that other tasks of the same runtime
 * have pending on fd, as Go's net.Conn.Close does: their orca_accept, orca_recv,
 * orca_send, orca_recvfrom/sendto, orca_connect, orca_read/orca_write, orca_poll_fd,
 * ... return -EBADF (an operation that had already moved bytes returns them; one
 * whose own task is being aborted meanwhile returns -ECANCELED). The same on both
 * backends: io_uring cancels them in the kernel by fd, epoll completes them and drops
 * the fd from its set. orca_close suspends until every worker holding such an
 * operation has ended it, and only then closes the fd, so nothing done for the old fd
 * can hit a new one that gets the same number at once. When no other task has an
 * operation on fd (the common case: a connection used by one task) it costs no more
 * than close(2). Operations that other tasks start on fd while orca_close runs, or
 * tasks of another runtime, are not ended (a race in the program). On kernels before
 * 5.19 (no IORING_ASYNC_CANCEL_FD) io_uring operations keep waiting on the closed fd
 * until their task is aborted.
 * Close the fds Orca made (orca_accept, orca_tcp_connect, orca_open, ...) with this
 * rather than close(2) on the epoll backend: it keeps such an fd registered between
 * waits, trusting that its number names the same file until Orca closes or reuses
 * it. After a close(2), a wait on a file of the program's own that took the number may
 * be woken up to about 20 ms late (once; nothing is lost).
 * For a listener from orca_tcp_listen it first ends the listener's multishot accept
 * (orca_accept) and waits for the kernel to let go of the socket, so the port is free
 * when it returns. In a task that has already seen its abort (its clean-up) the fd is
 * still closed, at once with close(2), whose result it returns; other tasks' operations
 * on it are then not ended. */
ORCA_API int orca_close(int fd);
ORCA_API int orca_fsync(int fd);
ORCA_API int orca_poll_fd(int fd, short events);

/* Sends all n bytes, looping over short sends. Returns n, or -errno (the bytes sent
 * before the error are lost to the caller: use orca_send to know them). */
ORCA_API ssize_t orca_send_all(int fd, const void *buf, size_t n);
/* Writes all n bytes (files, pipes), looping over short writes. */
ORCA_API ssize_t orca_write_all(int fd, const void *buf, size_t n);

/* With a time limit (relative, nanoseconds): -ETIMEDOUT when it passes. */
ORCA_API ssize_t orca_recv_timeout(int fd, void *buf, size_t n, int flags, int64_t timeout_ns);
ORCA_API ssize_t orca_read_timeout(int fd, void *buf, size_t n, int64_t timeout_ns);
ORCA_API int orca_accept_timeout(int fd, struct sockaddr *addr, socklen_t *addrlen,
				 int64_t timeout_ns);
ORCA_API int orca_connect_timeout(int fd, const struct sockaddr *addr, socklen_t addrlen,
				  int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif
