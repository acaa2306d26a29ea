/* threads_http PORT: the plain-thread counterpart of examples/http_server.c (issue 5):
 * a keep-alive HTTP/1.1 "Hello, World!" server, one detached thread per connection
 * (64 KiB stack, thread_server.c), blocking calls.
 *
 * Like the example, it does not parse requests: every "\r\n\r\n" ends one request
 * and is answered with the same bytes as examples/http_server.c. The matcher's
 * state survives from one read to the next, so a request split across reads counts
 * once; the answers to all the requests of one read (pipelining) go out in one send.
 * GET only: request bodies are not skipped.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "thread_server.h"

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n"
			       "Content-Type: text/plain\r\n\r\nHello, World!";
#define RESPONSE_LEN (sizeof(RESPONSE) - 1)
#define RESPONSES_PER_SEND 64

/* How much of "\r\n\r\n" the bytes so far end with (0 to 3); REQUEST_END when a
 * byte completes it. */
enum { REQUEST_END = 4 };
/* next_match[matched][kind of byte: 0 other, 1 '\r', 2 '\n'] */
static const unsigned char next_match[4][3] = {
	{0, 1, 0},
	{0, 1, 2},
	{0, 3, 0},
	{0, 1, REQUEST_END},
};

static unsigned byte_kind(unsigned char c)
{
	return c == '\r' ? 1 : c == '\n' ? 2 : 0;
}

/* RESPONSES_PER_SEND answers back to back, filled by main before any connection. */
static char responses[RESPONSES_PER_SEND * RESPONSE_LEN];

static void http_connection(int fd)
{
	unsigned char in[4096];
	unsigned matched = 0;
	for (;;) {
		ssize_t n = recv(fd, in, sizeof(in), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		size_t requests = 0;
		for (ssize_t i = 0; i < n; i++) {
			matched = next_match[matched][byte_kind(in[i])];
			if (matched == REQUEST_END) {
				requests++;
				matched = 0;
			}
		}
		while (requests > 0) {
			size_t batch = requests < RESPONSES_PER_SEND ? requests : RESPONSES_PER_SEND;
			if (thread_server_send_all(fd, responses, batch * RESPONSE_LEN) < 0)
				return;
			requests -= batch;
		}
	}
}

int main(int argc, char **argv)
{
	for (size_t i = 0; i < RESPONSES_PER_SEND; i++)
		memcpy(responses + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);
	return thread_server_main(argc, argv, http_connection);
}
