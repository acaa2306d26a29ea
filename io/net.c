/* TCP/UDP conveniences (include/orca/net.h): resolution on the blocking pool,
 * listen, connect, bind, options. orca_tcp_listen registers its listeners for
 * multishot accept (listener.h).
 *
 * Sockets are left in blocking mode, so code that uses them without Orca gets what it
 * expects: io_uring completes an operation on a blocking socket when it is ready (it
 * arms an internal poll; older kernels made O_NONBLOCK sockets fail with -EAGAIN
 * instead), and the epoll backend uses MSG_DONTWAIT (io/epoll_driver.c). */
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <orca/blocking.h>
#include <orca/net.h>
#include <orca/task.h>

#include "fd_origin.h"
#include "listener.h"

/* Shared by the caller and the pool thread: whichever lets go last frees it (the
 * caller may be aborted and leave while the resolver still runs). The strings are
 * copied for the same reason. */
typedef struct resolve_job {
	_Atomic int refs;
	char *node, *service;
	struct addrinfo hints;
	bool has_hints;
	struct addrinfo *res;
	int err;
} resolve_job;

static void resolve_job_release(resolve_job *j)
{
	if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (j->res)
		freeaddrinfo(j->res);
	free(j->node);
	free(j->service);
	free(j);
}

static int map_gai_error(int e)
{
	switch (e) {
	case 0:
		return 0;
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -EINVAL;
	}
}

static intptr_t resolve_blocking(void *arg)
{
	resolve_job *j = arg;
	j->err = map_gai_error(
		getaddrinfo(j->node, j->service, j->has_hints ? &j->hints : NULL, &j->res));
	resolve_job_release(j);
	return 0;
}

int orca_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		     struct addrinfo **res)
{
	if (!res || (!node && !service))
		return -EINVAL;
	*res = NULL;
	resolve_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	atomic_init(&j->refs, 2);
	j->node = node ? strdup(node) : NULL;
	j->service = service ? strdup(service) : NULL;
	if (hints) {
		j->hints = *hints;
		j->has_hints = true;
	}
	if ((node && !j->node) || (service && !j->service)) {
		free(j->node);
		free(j->service);
		free(j);
		return -ENOMEM;
	}
	orca_task *h;
	int err = orca_spawn_blocking(&h, resolve_blocking, j);
	if (err) {
		atomic_store(&j->refs, 1);
		resolve_job_release(j);
		return err;
	}
	err = orca_join(h, NULL);
	if (err == 0) {
		err = j->err;
		if (!err) {
			*res = j->res;
			j->res = NULL;
		}
	}
	/* On -ECANCELED (we were aborted) the resolver may still be running: the
	 * release below leaves the job to it. */
	resolve_job_release(j);
	return err;
}

/* Fills *ss from a numeric host (or the wildcard); returns false if host is a name. */
static bool numeric_address(const char *host, uint16_t port, struct sockaddr_storage *ss,
			    socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (!host || !*host) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_any;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return true;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return true;
	}
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return true;
	}
	return false;
}

/* Resolves host:port into a list (numeric addresses without the resolver). */
static int resolve(const char *host, uint16_t port, int socktype, int passive,
		   struct addrinfo **list, struct sockaddr_storage *one, socklen_t *one_len)
{
	*list = NULL;
	if (numeric_address(host, port, one, one_len))
		return 0;
	char service[8];
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	return orca_getaddrinfo(host, service, &hints, list);
}

static int bound_socket(const struct sockaddr *addr, socklen_t len, int type, int flags,
			int backlog)
{
	int fd = socket(addr->sa_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	orca__fd_made(fd); /* fd_origin.h */
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if ((flags & ORCA_LISTEN_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto fail;
	if (addr->sa_family == AF_INET6) {
		int v6only = (flags & ORCA_LISTEN_V6ONLY) ? 1 : 0;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	if (bind(fd, addr, len) != 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0)
		goto fail;
	return fd;
fail:;
	int err = -errno;
	close(fd);
	return err;
}

static int bind_any(const char *host, uint16_t port, int type, int flags, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct addrinfo *list;
	int err = resolve(host, port, type, 1, &list, &ss, &len);
	if (err)
		return err;
	if (!list)
		return bound_socket((struct sockaddr *)&ss, len, type, flags, backlog);
	int fd = -EADDRNOTAVAIL;
	for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		fd = bound_socket(ai->ai_addr, ai->ai_addrlen, type, flags, backlog);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(list);
	return fd;
}

int orca_tcp_listen(const char *host, uint16_t port, int backlog, int flags)
{
	if (flags & ~(ORCA_LISTEN_REUSEPORT | ORCA_LISTEN_V6ONLY))
		return -EINVAL;
	int fd = bind_any(host, port, SOCK_STREAM, flags, backlog);
	if (fd >= 0)
		orca__listener_register(fd); /* multishot accept on io_uring (listener.h) */
	return fd;
}

int orca_udp_bind(const char *host, uint16_t port)
{
	return bind_any(host, port, SOCK_DGRAM, 0, 0);
}

static int connect_one(const struct sockaddr *addr, socklen_t len, int64_t timeout_ns)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	orca__fd_made(fd); /* fd_origin.h */
	int err = timeout_ns < 0 ? orca_connect(fd, addr, len)
				 : orca_connect_timeout(fd, addr, len, timeout_ns);
	if (err < 0) {
		close(fd);
		return err;
	}
	orca_tcp_set_nodelay(fd, true);
	return fd;
}

int orca_tcp_connect(const char *host, uint16_t port, int64_t timeout_ns)
{
	if (!host || !*host)
		return -EINVAL;
	struct sockaddr_storage ss;
	socklen_t len;
	struct addrinfo *list;
	int err = resolve(host, port, SOCK_STREAM, 0, &list, &ss, &len);
	if (err)
		return err;
	if (!list)
		return connect_one((struct sockaddr *)&ss, len, timeout_ns);
	int fd = -EHOSTUNREACH;
	for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		fd = connect_one(ai->ai_addr, ai->ai_addrlen, timeout_ns);
		if (fd >= 0 || fd == -ECANCELED)
			break;
	}
	freeaddrinfo(list);
	return fd;
}

int orca_socket_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

int orca_tcp_set_nodelay(int fd, bool on)
{
	int v = on ? 1 : 0;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) == 0 ? 0 : -errno;
}

int orca_tcp_set_keepalive(int fd, bool on)
{
	int v = on ? 1 : 0;
	return setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)) == 0 ? 0 : -errno;
}
