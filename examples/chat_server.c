/* chat_server PORT [WORKERS]: a TCP chat room over a broadcast channel.
 *
 * Every line a client sends goes to everyone else, prefixed with the sender's id:
 * "[3] hello". Each connection is two tasks: a reader (socket -> broadcast) and a
 * writer (broadcast -> socket), so a slow client only falls behind in the broadcast
 * ring (and is told how many lines it missed) instead of slowing the room down.
 * When the reader sees the client leave, it aborts its writer.
 *   nc 127.0.0.1 PORT     (in several terminals)
 */
#include <stdio.h>
#include <string.h>

#include "server_common.h"

#define LINE_MAX_LEN 240

typedef struct chat_line {
	uint64_t from;
	uint32_t len;
	char text[LINE_MAX_LEN];
} chat_line;

static orca_broadcast *room;

typedef struct conn {
	int fd;
	uint64_t id;
	orca_broadcast_rx *rx;
} conn;

static intptr_t writer(void *arg)
{
	conn *c = arg;
	chat_line line;
	for (;;) {
		int64_t lagged = orca_broadcast_recv(c->rx, &line);
		if (lagged < 0)
			break; /* aborted by the reader, or the room closed */
		char out[LINE_MAX_LEN + 64];
		int n = 0;
		if (lagged > 0)
			n += snprintf(out, sizeof(out), "(missed %lld lines)\n", (long long)lagged);
		if (line.from == c->id)
			continue;
		n += snprintf(out + n, sizeof(out) - (size_t)n, "[%llu] %.*s\n",
			      (unsigned long long)line.from, (int)line.len, line.text);
		if (orca_send_all(c->fd, out, (size_t)n) < 0)
			break;
	}
	return 0;
}

static uint64_t next_id(void)
{
	static _Atomic uint64_t ids = 1;
	return ids++;
}

static intptr_t reader(void *arg)
{
	conn c = {.fd = (int)(intptr_t)arg, .id = next_id()};
	if (orca_broadcast_subscribe(room, &c.rx) != 0) {
		close(c.fd);
		return 0;
	}
	orca_task *w;
	if (orca_spawn(&w, writer, &c) != 0) {
		orca_broadcast_rx_free(c.rx);
		close(c.fd);
		return 0;
	}
	char greeting[64];
	int gn = snprintf(greeting, sizeof(greeting), "welcome, you are [%llu]\n",
			  (unsigned long long)c.id);
	orca_send_all(c.fd, greeting, (size_t)gn);

	char buf[4096];
	chat_line line = {.from = c.id, .len = 0};
	for (;;) {
		ssize_t n = orca_recv(c.fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			char ch = buf[i];
			if (ch == '\n' || line.len == LINE_MAX_LEN) {
				if (line.len && line.text[line.len - 1] == '\r')
					line.len--;
				orca_broadcast_send(room, &line);
				line.len = 0;
				if (ch == '\n')
					continue;
			}
			line.text[line.len++] = ch;
		}
	}
	/* The client left: stop its writer, then clean up what both shared. */
	orca_abort(w);
	orca_join(w, NULL);
	orca_broadcast_rx_free(c.rx);
	close(c.fd);
	return 0;
}

int main(int argc, char **argv)
{
	server_args a = {.handler = reader};
	if (parse_server_args(argc, argv, &a, "chat_server PORT [WORKERS]"))
		return 2;
	if (orca_broadcast_create(&room, sizeof(chat_line), 1024) != 0)
		return 1;
	int r = run_server(&a);
	orca_broadcast_release(room);
	return r;
}
