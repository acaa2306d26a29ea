/* The thread-per-connection server skeleton (see thread_server.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "thread_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_BACKLOG 4096

/* Set once by thread_server_main, before the first connection thread starts. */
static thread_server_handler connection_handler;

int thread_server_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *connection_thread(void *arg)
{
	int fd = (int)(intptr_t)arg;
	connection_handler(fd);
	close(fd);
	return NULL;
}

/* 0 and a detached thread serving fd, or an errno (the caller still owns fd). */
static int start_connection_thread(int fd)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_SERVER_STACK);
	pthread_t tid;
	int err = pthread_create(&tid, &attr, connection_thread, (void *)(intptr_t)fd);
	pthread_attr_destroy(&attr);
	return err;
}

static int listen_loopback(long port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* TCP_NODELAY on the listener is inherited by every accepted socket (Linux). */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int bound_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	return ntohs(sa.sin_port);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int thread_server_main(int argc, char **argv, thread_server_handler handle)
{
	char *end = NULL;
	long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
	if (argc != 2 || end == argv[1] || *end || port < 0 || port > 65535) {
		fprintf(stderr, "usage: %s PORT   (serves 127.0.0.1:PORT; 0 = any free port)\n",
			argc > 0 ? argv[0] : "server");
		return 2;
	}
	connection_handler = handle;
	int lfd = listen_loopback(port);
	if (lfd < 0) {
		fprintf(stderr, "%s: listen on 127.0.0.1:%ld: %s\n", argv[0], port, strerror(errno));
		return 1;
	}
	printf("listening on 127.0.0.1:%d\n", bound_port(lfd));
	fflush(stdout);
	long backoff_ms = 1;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
				/* Out of descriptors or memory: wait for connections to end
				 * instead of spinning on accept. */
				sleep_ms(backoff_ms);
				backoff_ms = backoff_ms < 100 ? backoff_ms * 2 : backoff_ms;
				continue;
			}
			if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM)
				continue; /* that client is gone; the next one may be fine */
			fprintf(stderr, "%s: accept: %s\n", argv[0], strerror(err));
			close(lfd);
			return 1;
		}
		backoff_ms = 1;
		int err = start_connection_thread(fd);
		if (err) {
			/* No thread for it: drop this connection, keep serving the others. */
			fprintf(stderr, "%s: pthread_create: %s\n", argv[0], strerror(err));
			close(fd);
		}
	}
}
