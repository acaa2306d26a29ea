/* echo_server PORT [WORKERS]: the seed's std-only TCP echo server, done properly.
 *
 * The seed's version polls non-blocking sockets with a dummy waker (a busy loop),
 * runs on one thread and unwraps every error. Here each connection is a task that
 * reads and writes back with orca_recv / orca_send_all: the task sleeps in the
 * kernel's io_uring until data arrives, tasks spread over all cores, and errors
 * (a client that resets, a full fd table) end one connection, not the server.
 */
#include "server_common.h"

static intptr_t handle_client(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[8192];
	for (;;) {
		ssize_t n = orca_recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break; /* 0: the client closed; < 0: reset, or the server shuts down */
		if (orca_send_all(fd, buf, (size_t)n) < 0)
			break;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	server_args a = {.handler = handle_client};
	if (parse_server_args(argc, argv, &a, "echo_server PORT [WORKERS]"))
		return 2;
	return run_server(&a);
}
