/* http_server PORT [WORKERS]: a keep-alive HTTP/1.1 "Hello, World!" server for load
 * tests. Every request (everything up to an empty line, "\r\n\r\n") gets the same
 * response bytes as ../shared/peers' tokio_http and threads_http, so wrk compares
 * like with like. Pipelined requests are answered in one send; a request split
 * across reads is matched by a 4-state scanner whose state survives the reads.
 * GET only: request bodies are not skipped.
 */
#include <string.h>

#include "server_common.h"

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
			       "Content-Type: text/plain\r\n\r\nHello, World!";
#define RESPONSE_LEN (sizeof(RESPONSE) - 1)
#define MAX_PIPELINE 64

/* Counts complete requests in buf, carrying the "\r\n\r\n" match state across calls. */
static int count_requests(const char *buf, size_t n, int *state)
{
	int count = 0, s = *state;
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (c == '\r')
			s = (s == 2) ? 3 : 1;
		else if (c == '\n' && (s == 1 || s == 3))
			s = (s == 3) ? 4 : 2;
		else
			s = 0;
		if (s == 4) {
			count++;
			s = 0;
		}
	}
	*state = s;
	return count;
}

/* MAX_PIPELINE responses back to back, filled in main() before any task runs, so
 * that a burst of pipelined requests is answered with one send. */
static char out[MAX_PIPELINE * RESPONSE_LEN];

static intptr_t handle_client(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char in[4096];
	int state = 0;
	for (;;) {
		ssize_t n = orca_recv(fd, in, sizeof(in), 0);
		if (n <= 0)
			break;
		int requests = count_requests(in, (size_t)n, &state);
		while (requests > 0) {
			int batch = requests < MAX_PIPELINE ? requests : MAX_PIPELINE;
			if (orca_send_all(fd, out, (size_t)batch * RESPONSE_LEN) < 0)
				goto done;
			requests -= batch;
		}
	}
done:
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	server_args a = {.handler = handle_client};
	if (parse_server_args(argc, argv, &a, "http_server PORT [WORKERS]"))
		return 2;
	for (int i = 0; i < MAX_PIPELINE; i++)
		memcpy(out + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);
	return run_server(&a);
}
