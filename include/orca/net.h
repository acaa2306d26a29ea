/* TCP and UDP conveniences over the async calls in io.h: resolve, listen, connect,
 * bind, socket options. Sockets are plain fds: use setsockopt(2) for any option not
 * wrapped here, and close them with close(2) or orca_close -- except a listener from
 * orca_tcp_listen, which must be closed with orca_close (see orca_tcp_listen). Use
 * orca_close when other tasks may be waiting on the socket: it ends their waits with
 * -EBADF (io.h), where close(2) leaves them waiting. */
#ifndef ORCA_NET_H
#define ORCA_NET_H

#include <orca/common.h>
#include <orca/io.h>

#ifdef __cplusplus
extern "C" {
#endif

struct addrinfo; /* <netdb.h> (needs _POSIX_C_SOURCE under strict -std=c11) */

/* Flags for orca_tcp_listen. */
#define ORCA_LISTEN_REUSEPORT 1 /* SO_REUSEPORT: several listeners share the port */
#define ORCA_LISTEN_V6ONLY 2    /* an IPv6 listener does not accept IPv4 */

/* getaddrinfo(3) run on the blocking pool (the resolver blocks). Returns 0 and a
 * list to free with freeaddrinfo, or a negative errno; resolver failures map to
 * -ENOENT (name unknown), -EAGAIN (try again), -EINVAL (bad arguments).
 * May suspend; inside a stackful task only (-EPERM). */
ORCA_API int orca_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
			      struct addrinfo **res);

/* A listening TCP socket on host:port (host NULL or "" = all IPv4 and IPv6
 * addresses; "0.0.0.0", "::1", "localhost", names resolved with orca_getaddrinfo),
 * port 0 = any free port. SO_REUSEADDR is always set; backlog <= 0 means SOMAXCONN.
 * Returns the fd (close-on-exec, left blocking: io.h) or -errno. Numeric addresses
 * are parsed without suspending; names may suspend.
 *
 * On the io_uring backend, accepts on this listener share one multishot accept
 * (orca_accept in io.h), which holds a reference to the kernel's socket: close the
 * listener with orca_close, from a task. A close(2) would leave the socket listening
 * (and the port taken) until up to 64 further connections were accepted into its
 * queue, the runtime is freed, or the fd number is reused by another
 * orca_tcp_listen. */
ORCA_API int orca_tcp_listen(const char *host, uint16_t port, int backlog, int flags);

/* Connects a TCP socket to host:port, trying each resolved address in turn, each
 * attempt bounded by timeout_ns (< 0: no limit). Returns the fd or -errno
 * (-ETIMEDOUT, -ECONNREFUSED, ...). TCP_NODELAY is set. May suspend. */
ORCA_API int orca_tcp_connect(const char *host, uint16_t port, int64_t timeout_ns);

/* A UDP socket bound to host:port (as orca_tcp_listen for host and port). */
ORCA_API int orca_udp_bind(const char *host, uint16_t port);

/* The local port of a bound socket, or -errno. */
ORCA_API int orca_socket_port(int fd);

/* TCP_NODELAY on or off. Returns 0 or -errno. */
ORCA_API int orca_tcp_set_nodelay(int fd, bool on);

/* SO_KEEPALIVE on or off. Returns 0 or -errno. */
ORCA_API int orca_tcp_set_keepalive(int fd, bool on);

#ifdef __cplusplus
}
#endif

#endif
