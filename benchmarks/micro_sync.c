/* Orca's channels and sync primitives in the micro benchmarks (issue 4); see micro.h
 * for what each measures. Shapes follow ../shared/peers' tokio_micro / go_micro
 * (chan_pingpong: a u64 bounced over two channels, the bench task is the pinger;
 * mutex_contention: 4 tasks x 250,000 lock + increment + unlock), so the figures
 * compare one to one.
 *
 * As in micro_orca.c: every timed loop runs inside a stackful task started with
 * orca_block_on, timed there with CLOCK_MONOTONIC; failures abort.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "micro.h"

#include <orca/chan.h>
#include <orca/sync.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct sargs {
	long n;
	long m;
	long cap;
	double value;
};

/* ---- channel ping-pong ------------------------------------------------------------- */

struct pp {
	orca_chan *ping, *pong;
};

static intptr_t chan_ponger(void *p)
{
	struct pp *pp = p;
	uint64_t v;
	int r;
	while ((r = orca_chan_recv(pp->ping, &v)) == 0)
		bench_check(orca_chan_send(pp->pong, &v), "orca_chan_send (pong)");
	if (r != -EPIPE)
		bench_check(r, "orca_chan_recv (ping)");
	return 0;
}

static intptr_t chan_pingpong_body(void *p)
{
	struct sargs *a = p;
	struct pp pp;
	bench_check(orca_chan_create(&pp.ping, sizeof(uint64_t), (size_t)a->cap), "orca_chan_create");
	bench_check(orca_chan_create(&pp.pong, sizeof(uint64_t), (size_t)a->cap), "orca_chan_create");
	orca_task *h;
	bench_check(orca_spawn(&h, chan_ponger, &pp), "orca_spawn");
	/* This bench task is the pinger, as in the peers. */
	long long t0 = bench_now_ns();
	for (uint64_t i = 0; i < (uint64_t)a->n; i++) {
		uint64_t v;
		bench_check(orca_chan_send(pp.ping, &i), "orca_chan_send (ping)");
		bench_check(orca_chan_recv(pp.pong, &v), "orca_chan_recv (pong)");
		if (v != i)
			bench_fail("chan_pingpong: wrong value");
	}
	a->value = (double)(bench_now_ns() - t0) / (double)a->n;
	bench_check(orca_chan_close(pp.ping), "orca_chan_close");
	bench_check(orca_join(h, NULL), "orca_join");
	orca_chan_release(pp.ping);
	orca_chan_release(pp.pong);
	return 0;
}

double orca_bench_chan_pingpong(orca_runtime *rt, long n, long capacity)
{
	struct sargs a = {.n = n, .cap = capacity};
	bench_check(orca_block_on(rt, chan_pingpong_body, &a, NULL), "orca_block_on");
	return a.value;
}

/* ---- channel throughput: P producers -> 1 consumer ---------------------------------- */

struct tp {
	orca_chan *ch;
	long per;
};

static intptr_t chan_producer(void *p)
{
	struct tp *tp = p;
	for (uint64_t i = 0; i < (uint64_t)tp->per; i++)
		bench_check(orca_chan_send(tp->ch, &i), "orca_chan_send");
	return 0;
}

static intptr_t chan_throughput_body(void *p)
{
	struct sargs *a = p;
	long producers = a->m, per = a->n / a->m, total = per * producers;
	struct tp tp = {.per = per};
	bench_check(orca_chan_create(&tp.ch, sizeof(uint64_t), (size_t)a->cap), "orca_chan_create");
	orca_task *h[64];
	if (producers > 64)
		bench_fail("chan_throughput: at most 64 producers");
	long long t0 = bench_now_ns();
	for (long i = 0; i < producers; i++)
		bench_check(orca_spawn(&h[i], chan_producer, &tp), "orca_spawn");
	/* This bench task is the consumer. */
	uint64_t sum = 0, v;
	for (long i = 0; i < total; i++) {
		bench_check(orca_chan_recv(tp.ch, &v), "orca_chan_recv");
		sum += v;
	}
	a->value = (double)(bench_now_ns() - t0) / (double)total;
	for (long i = 0; i < producers; i++)
		bench_check(orca_join(h[i], NULL), "orca_join");
	if (sum != (uint64_t)producers * ((uint64_t)per * (uint64_t)(per - 1) / 2))
		bench_fail("chan_throughput: lost or duplicated messages");
	orca_chan_release(tp.ch);
	return 0;
}

double orca_bench_chan_throughput(orca_runtime *rt, long producers, long n, long capacity)
{
	struct sargs a = {.n = n, .m = producers < 1 ? 1 : producers, .cap = capacity};
	bench_check(orca_block_on(rt, chan_throughput_body, &a, NULL), "orca_block_on");
	return a.value;
}

/* ---- mutex under contention --------------------------------------------------------- */

struct mc {
	orca_mutex mu;
	uint64_t count;
	long locks;
};

static intptr_t mutex_locker(void *p)
{
	struct mc *mc = p;
	for (long i = 0; i < mc->locks; i++) {
		bench_check(orca_mutex_lock(&mc->mu), "orca_mutex_lock");
		mc->count++;
		bench_check(orca_mutex_unlock(&mc->mu), "orca_mutex_unlock");
	}
	return 0;
}

static intptr_t mutex_contention_body(void *p)
{
	struct sargs *a = p;
	long tasks = a->m;
	struct mc mc = {.mu = ORCA_MUTEX_INIT, .count = 0, .locks = a->n};
	orca_task *h[64];
	if (tasks > 64)
		bench_fail("mutex_contention: at most 64 tasks");
	long long t0 = bench_now_ns();
	for (long i = 0; i < tasks; i++)
		bench_check(orca_spawn(&h[i], mutex_locker, &mc), "orca_spawn");
	for (long i = 0; i < tasks; i++)
		bench_check(orca_join(h[i], NULL), "orca_join");
	a->value = (double)(bench_now_ns() - t0) / ((double)tasks * (double)a->n);
	if (mc.count != (uint64_t)tasks * (uint64_t)a->n)
		bench_fail("mutex_contention: lost increments");
	return 0;
}

double orca_bench_mutex_contention(orca_runtime *rt, long tasks, long n)
{
	struct sargs a = {.n = n, .m = tasks};
	bench_check(orca_block_on(rt, mutex_contention_body, &a, NULL), "orca_block_on");
	return a.value;
}

/* ---- semaphore, uncontended --------------------------------------------------------- */

static intptr_t semaphore_body(void *p)
{
	struct sargs *a = p;
	orca_semaphore s = ORCA_SEMAPHORE_INIT(1);
	long long t0 = bench_now_ns();
	for (long i = 0; i < a->n; i++) {
		bench_check(orca_semaphore_acquire(&s, 1), "orca_semaphore_acquire");
		bench_check(orca_semaphore_release(&s, 1), "orca_semaphore_release");
	}
	a->value = (double)(bench_now_ns() - t0) / (double)a->n;
	if (orca_semaphore_available(&s) != 1)
		bench_fail("semaphore: permits lost");
	return 0;
}

double orca_bench_semaphore_uncontended(orca_runtime *rt, long n)
{
	struct sargs a = {.n = n};
	bench_check(orca_block_on(rt, semaphore_body, &a, NULL), "orca_block_on");
	return a.value;
}
