/* connect_load HOST PORT SECONDS [THREADS]: connection churn against an echo server,
 * for the cost of accepting (multishot or one-shot accept, Tokio's, Go's).
 *
 * Each of THREADS client threads (default 1) loops for SECONDS: open a TCP
 * connection to HOST:PORT (IPv4 loopback only), send 8 bytes, read the 8 bytes echoed,
 * close it. A connection counts once its echo came back whole and right, so the
 * server really accepted it and served it. The client closes first, so TIME_WAIT
 * stays on the client side; SO_LINGER 0 would hide server-side close costs, so it is
 * not used. Ephemeral ports: about 28k per 60 s of TIME_WAIT on a default Linux, so
 * keep SECONDS x rate under that (the benchmarks use 2-3 s).
 *
 * Output, one line on stdout:
 *   threads=N conns_per_s=X errors=E
 * Exit status: 0 no error; 1 errors > 0; 2 bad arguments or a HOST that is not
 * loopback. Bounded in time: each connect, send and read waits at most 2 s. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define IO_TIMEOUT_MS 2000

static struct sockaddr_in target;
static double seconds;
static atomic_long done_total, errors_total;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until fd is ready for events; 0, or -1 on timeout or error. */
static int wait_fd(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r;
	do
		r = poll(&p, 1, IO_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	return r == 1 ? 0 : -1;
}

/* One connection's life; 0 if the echo came back right. */
static int one_connection(uint64_t seq)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int rc = -1;
	if (connect(fd, (struct sockaddr *)&target, sizeof(target)) != 0) {
		if (errno != EINPROGRESS || wait_fd(fd, POLLOUT) != 0)
			goto out;
		int err = 0;
		socklen_t l = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0 || err != 0)
			goto out;
	}
	if (send(fd, &seq, sizeof(seq), MSG_NOSIGNAL) != (ssize_t)sizeof(seq))
		goto out;
	uint64_t back = 0;
	size_t got = 0;
	while (got < sizeof(back)) {
		ssize_t n = recv(fd, (char *)&back + got, sizeof(back) - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR) || wait_fd(fd, POLLIN) != 0)
			goto out;
	}
	rc = back == seq ? 0 : -1;
out:
	close(fd);
	return rc;
}

static void *client(void *arg)
{
	uint64_t seq = (uint64_t)(uintptr_t)arg << 40;
	long done = 0, errors = 0;
	double end = now_s() + seconds;
	while (now_s() < end) {
		if (one_connection(seq++) == 0)
			done++;
		else if (++errors > 100)
			break; /* the server is gone: stop rather than spin */
	}
	atomic_fetch_add(&done_total, done);
	atomic_fetch_add(&errors_total, errors);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: connect_load HOST PORT SECONDS [THREADS]\n");
		return 2;
	}
	int threads = argc > 4 ? atoi(argv[4]) : 1;
	seconds = atof(argv[3]);
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &target.sin_addr) != 1 ||
	    (ntohl(target.sin_addr.s_addr) >> 24) != 127 || threads < 1 || threads > MAX_THREADS ||
	    !(seconds > 0 && seconds <= 600)) {
		fprintf(stderr, "connect_load: HOST must be an IPv4 loopback address, "
				"1 <= THREADS <= %d, 0 < SECONDS <= 600\n",
			MAX_THREADS);
		return 2;
	}
	pthread_t tid[MAX_THREADS];
	double t0 = now_s();
	for (int i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, client, (void *)(uintptr_t)(i + 1)) != 0) {
			fprintf(stderr, "connect_load: pthread_create failed\n");
			return 2;
		}
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	double el = now_s() - t0;
	long errors = atomic_load(&errors_total);
	printf("threads=%d conns_per_s=%.0f errors=%ld\n", threads,
	       (double)atomic_load(&done_total) / el, errors);
	return errors ? 1 : 0;
}
