/* I/O micro workloads: two tasks ping-pong one byte through two pipes with Orca's
 * async read/write (io_uring ops, or readiness on the epoll backend), the shape of
 * threads_bench_pipe_pingpong (micro_threads.c), which does it with two threads and
 * blocking read/write. See micro.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "micro.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct pipe_pair {
	int to_pong[2];   /* the pinger writes [1], the ponger reads [0] */
	int to_ping[2];   /* and back */
	long n;
	double value;
};

/* One byte moved, or the benchmark stops (an error is reported with its errno). */
static void io_check(ssize_t r, const char *what)
{
	bench_check(r < 0 ? (int)r : 0, what);
	if (r != 1)
		bench_fail("pipe ping-pong: a read or write moved no byte");
}

static intptr_t ponger(void *p)
{
	struct pipe_pair *pp = p;
	char c;
	for (long i = 0; i < pp->n; i++) {
		io_check(orca_read(pp->to_pong[0], &c, 1), "orca_read");
		io_check(orca_write(pp->to_ping[1], &c, 1), "orca_write");
	}
	return 0;
}

static intptr_t pinger(void *p)
{
	struct pipe_pair *pp = p;
	orca_task *t;
	bench_check(orca_spawn(&t, ponger, pp), "orca_spawn");
	char c = 'x';
	long long t0 = bench_now_ns();
	for (long i = 0; i < pp->n; i++) {
		io_check(orca_write(pp->to_pong[1], &c, 1), "orca_write");
		io_check(orca_read(pp->to_ping[0], &c, 1), "orca_read");
	}
	pp->value = (double)(bench_now_ns() - t0) / (double)pp->n;
	orca_join(t, NULL);
	return 0;
}

double orca_bench_pipe_pingpong(orca_runtime *rt, long n)
{
	struct pipe_pair pp = {.n = n};
	if (pipe(pp.to_pong) || pipe(pp.to_ping)) {
		perror("bench: pipe");
		abort();
	}
	bench_check(orca_block_on(rt, pinger, &pp, NULL), "orca_block_on");
	close(pp.to_pong[0]);
	close(pp.to_pong[1]);
	close(pp.to_ping[0]);
	close(pp.to_ping[1]);
	return pp.value;
}
