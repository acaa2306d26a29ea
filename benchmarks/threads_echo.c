/* threads_echo PORT: the plain-thread counterpart of examples/echo_server.c, for the
 * async-versus-threads comparison (issue 5). One detached thread per connection
 * (64 KiB stack, thread_server.c) reads and writes back with blocking calls until
 * the client closes the connection.
 */
#include <errno.h>
#include <sys/socket.h>

#include "thread_server.h"

static void echo_connection(int fd)
{
	char buf[16 * 1024]; /* a quarter of the thread's stack */
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* 0: the client closed; < 0: reset */
		if (thread_server_send_all(fd, buf, (size_t)n) < 0)
			return;
	}
}

int main(int argc, char **argv)
{
	return thread_server_main(argc, argv, echo_connection);
}
