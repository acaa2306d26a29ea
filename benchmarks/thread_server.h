/* The thread-per-connection server that threads_echo and threads_http share: the
 * plain-thread baseline Orca's example servers are compared against (issue 5).
 *
 * It listens on 127.0.0.1:PORT (SO_REUSEADDR, TCP_NODELAY, backlog 4096), and the
 * main thread accepts for ever, giving every connection its own detached pthread
 * with a THREAD_SERVER_STACK stack: the classic blocking design, with a stack
 * small enough that thousands of connections do not map 8 MiB each.
 */
#ifndef ORCA_BENCH_THREAD_SERVER_H
#define ORCA_BENCH_THREAD_SERVER_H

#include <stddef.h>

/* Stack of each connection thread. Handlers keep their buffers well below it. */
#define THREAD_SERVER_STACK (64 * 1024)

/* Serves one connection on the calling thread, with blocking calls, until the
 * client closes it or an error ends it. The caller closes fd afterwards. */
typedef void (*thread_server_handler)(int fd);

/* The whole program: parses `NAME PORT` from argv (PORT 0 = any free port), prints
 * "listening on 127.0.0.1:PORT" on stdout and serves for ever. Returns only when it
 * cannot start (the exit status: 2 bad arguments, 1 socket errors) or accept fails
 * for good (1). */
int thread_server_main(int argc, char **argv, thread_server_handler handle);

/* Writes all len bytes of buf to the socket (send with MSG_NOSIGNAL: a client that
 * has gone away gives EPIPE, not SIGPIPE). Returns 0, or -1 with errno set. */
int thread_server_send_all(int fd, const void *buf, size_t len);

#endif
