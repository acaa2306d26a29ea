/* fetch URL: the seed's "fetching data from a website": connects to the URL's host
 * and port, sends a GET, and prints the status line and the body length.
 * Plain http:// only (no TLS). Example: fetch http://127.0.0.1:8080/
 */
#define _GNU_SOURCE /* memmem */
#include <orca/orca.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct url {
	char host[256];
	unsigned port;
	char path[1024];
} url;

static int parse_url(const char *s, url *u)
{
	if (strncmp(s, "http://", 7) != 0)
		return -1;
	s += 7;
	size_t hl = strcspn(s, ":/");
	if (hl == 0 || hl >= sizeof(u->host))
		return -1;
	memcpy(u->host, s, hl);
	u->host[hl] = '\0';
	s += hl;
	u->port = 80;
	if (*s == ':') {
		u->port = (unsigned)strtoul(s + 1, (char **)&s, 10);
		if (u->port == 0 || u->port > 65535)
			return -1;
	}
	snprintf(u->path, sizeof(u->path), "%s", *s ? s : "/");
	return 0;
}

static intptr_t fetch(void *arg)
{
	const url *u = arg;
	int fd = orca_tcp_connect(u->host, (uint16_t)u->port, ORCA_SEC(10));
	if (fd < 0) {
		fprintf(stderr, "connect %s:%u: %s\n", u->host, u->port, orca_strerror(fd));
		return 1;
	}
	char req[1400];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
			 u->path, u->host);
	if (orca_send_all(fd, req, (size_t)n) < 0) {
		close(fd);
		return 1;
	}
	/* Read headers, then the body: by Content-Length, or until the server closes. */
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	long content_length = -1;
	char *body = NULL;
	for (;;) {
		if (len == cap) {
			char *bigger = realloc(buf, cap * 2);
			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
		ssize_t r = orca_recv_timeout(fd, buf + len, cap - len, 0, ORCA_SEC(10));
		if (r <= 0)
			break;
		len += (size_t)r;
		if (!body) {
			char *end = memmem(buf, len, "\r\n\r\n", 4);
			if (end) {
				body = end + 4;
				char *cl = memmem(buf, (size_t)(end - buf), "Content-Length:", 15);
				if (cl)
					content_length = strtol(cl + 15, NULL, 10);
			}
		}
		if (body && content_length >= 0 && (long)(len - (size_t)(body - buf)) >= content_length)
			break;
	}
	close(fd);
	char *eol = memchr(buf, '\r', len);
	if (!eol || !body) {
		fprintf(stderr, "no HTTP response\n");
		free(buf);
		return 1;
	}
	printf("%.*s\n", (int)(eol - buf), buf);
	printf("body: %zu bytes\n", len - (size_t)(body - buf));
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	url u;
	if (argc < 2 || parse_url(argv[1], &u) != 0) {
		fprintf(stderr, "usage: fetch http://HOST[:PORT][/PATH]\n");
		return 2;
	}
	intptr_t r = 1;
	int err = orca_run(fetch, &u, &r);
	return err ? 1 : (int)r;
}
