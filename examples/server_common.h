/* What the example servers share: argument parsing and the accept loop.
 * Servers take the port as their first argument and an optional worker count as
 * the second (0 or absent: one worker per CPU). */
#ifndef ORCA_EXAMPLES_SERVER_COMMON_H
#define ORCA_EXAMPLES_SERVER_COMMON_H

#include <errno.h>
#include <orca/orca.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct server_args {
	uint16_t port;
	unsigned workers;
	orca_task_fn handler; /* gets the connection fd as (intptr_t)arg, owns it */
} server_args;

static inline int parse_server_args(int argc, char **argv, server_args *a, const char *usage)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s\n", usage);
		return -1;
	}
	a->port = (uint16_t)atoi(argv[1]);
	a->workers = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
	return 0;
}

/* Accepts connections forever, one task per connection. When the process runs out
 * of file descriptors (EMFILE/ENFILE) it backs off instead of spinning, and
 * recovers when fds are freed. */
static inline intptr_t accept_loop(void *arg)
{
	server_args *a = (server_args *)arg;
	int lfd = orca_tcp_listen("127.0.0.1", a->port, 4096, 0);
	if (lfd < 0) {
		fprintf(stderr, "listen on port %u: %s\n", a->port, orca_strerror(lfd));
		return lfd;
	}
	printf("listening on 127.0.0.1:%d\n", orca_socket_port(lfd));
	fflush(stdout);
	int64_t backoff = ORCA_MSEC(1);
	for (;;) {
		int fd = orca_accept(lfd, NULL, NULL);
		if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
			orca_sleep(backoff);
			backoff = backoff < ORCA_MSEC(100) ? backoff * 2 : backoff;
			continue;
		}
		if (fd == -ECANCELED)
			break;
		if (fd < 0)
			continue; /* ECONNABORTED and the like: that client is gone */
		backoff = ORCA_MSEC(1);
		orca_tcp_set_nodelay(fd, true);
		if (orca_spawn(NULL, a->handler, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
	/* orca_close, not close(2): the listener's multishot accept (io_uring) holds
	 * the kernel's listener until orca_close ends it (net.h). */
	orca_close(lfd);
	return 0;
}

static inline int run_server(server_args *a)
{
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = a->workers;
	orca_runtime *rt;
	int err = orca_runtime_create(&rt, &cfg);
	if (err) {
		fprintf(stderr, "runtime: %s\n", orca_strerror(err));
		return 1;
	}
	intptr_t r = 0;
	err = orca_block_on(rt, accept_loop, a, &r);
	orca_runtime_free(rt);
	return err || r ? 1 : 0;
}

#endif
