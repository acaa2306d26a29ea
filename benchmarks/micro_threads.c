/* The plain-thread equivalents of the Orca micro benchmarks (see micro.h), written
 * with pthreads and futexes only, plus the helpers both sides share. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "micro.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SMALL_STACK (64 * 1024)

long long bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void bench_check(int err, const char *what)
{
	if (err < 0) {
		fprintf(stderr, "bench: %s: %s\n", what, orca_strerror(err));
		abort();
	}
}

void bench_fail(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	abort();
}

long long bench_vm_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long long kb = -1;
	if (!f) {
		perror("bench: /proc/self/status");
		abort();
	}
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
			break;
	fclose(f);
	if (kb < 0) {
		fprintf(stderr, "bench: no VmRSS in /proc/self/status\n");
		abort();
	}
	return kb * 1024;
}

static void fail(const char *what, int err)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(err));
	abort();
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		fail("calloc", ENOMEM);
	return p;
}

static void create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	int err = pthread_create(t, attr, fn, arg);
	if (err)
		fail("pthread_create", err);
}

/* ---- create + join ---- */

static void *noop(void *arg)
{
	return arg;
}

double threads_bench_spawn_join(long n, long outstanding)
{
	if (outstanding < 1)
		outstanding = 1;
	pthread_t *t = xcalloc((size_t)outstanding, sizeof(*t));
	long long t0 = bench_now_ns();
	for (long done = 0; done < n;) {
		long k = n - done < outstanding ? n - done : outstanding;
		for (long i = 0; i < k; i++)
			create(&t[i], NULL, noop, NULL);
		for (long i = 0; i < k; i++)
			pthread_join(t[i], NULL);
		done += k;
	}
	double ns = (double)(bench_now_ns() - t0) / (double)n;
	free(t);
	return ns;
}

/* ---- condvar ping-pong ---- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv[2]; /* cv[i]: signalled when it is side i's turn */
	int turn;
	long n;
} cvp = {PTHREAD_MUTEX_INITIALIZER, {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER}, 0, 0};

static void *cv_pong(void *arg)
{
	(void)arg;
	for (long i = 0; i < cvp.n; i++) {
		pthread_mutex_lock(&cvp.mu);
		while (cvp.turn != 1)
			pthread_cond_wait(&cvp.cv[1], &cvp.mu);
		cvp.turn = 0;
		pthread_cond_signal(&cvp.cv[0]);
		pthread_mutex_unlock(&cvp.mu);
	}
	return NULL;
}

double threads_bench_condvar_pingpong(long n)
{
	pthread_t t;
	cvp.turn = 0;
	cvp.n = n;
	create(&t, NULL, cv_pong, NULL);
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&cvp.mu);
		cvp.turn = 1;
		pthread_cond_signal(&cvp.cv[1]);
		while (cvp.turn != 0)
			pthread_cond_wait(&cvp.cv[0], &cvp.mu);
		pthread_mutex_unlock(&cvp.mu);
	}
	long long t1 = bench_now_ns();
	pthread_join(t, NULL);
	return (double)(t1 - t0) / (2.0 * (double)n);
}

/* ---- futex hand-off between two threads on one CPU ---- */

static struct {
	_Atomic uint32_t turn; /* 0: main's turn, 1: the other's */
	long n;
	int cpu;
	_Atomic int pin_failed;
} fx;

static int pin_self(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void futex_wait_while(_Atomic uint32_t *w, uint32_t val)
{
	while (atomic_load(w) == val)
		syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_set_wake(_Atomic uint32_t *w, uint32_t val)
{
	atomic_store(w, val);
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *fx_other(void *arg)
{
	(void)arg;
	if (pin_self(fx.cpu))
		atomic_store(&fx.pin_failed, 1);
	for (long i = 0; i < fx.n; i++) {
		futex_wait_while(&fx.turn, 0);
		futex_set_wake(&fx.turn, 0);
	}
	return NULL;
}

double threads_bench_futex_switch(long n)
{
	cpu_set_t old;
	if (pthread_getaffinity_np(pthread_self(), sizeof(old), &old))
		return -1;
	int cpu = sched_getcpu();
	if (cpu < 0 || pin_self(cpu))
		return -1;
	fx.turn = 0;
	fx.n = n;
	fx.cpu = cpu;
	fx.pin_failed = 0;
	pthread_t t;
	create(&t, NULL, fx_other, NULL);
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		futex_set_wake(&fx.turn, 1);
		futex_wait_while(&fx.turn, 1);
	}
	long long t1 = bench_now_ns();
	pthread_join(t, NULL);
	pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
	if (atomic_load(&fx.pin_failed))
		return -1;
	return (double)(t1 - t0) / (2.0 * (double)n);
}

/* ---- 1 ms sleepers ---- */

static void *sleeper(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 1000 * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return NULL;
}

double threads_bench_sleepers(long n)
{
	pthread_t *t = xcalloc((size_t)n, sizeof(*t));
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SMALL_STACK);
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++)
		create(&t[i], &attr, sleeper, NULL);
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	pthread_attr_destroy(&attr);
	free(t);
	return ms;
}

/* ---- resident bytes per parked thread ---- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t parked_cv, go_cv;
	long parked, want;
	int go;
} pk = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static void *parked_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pk.mu);
	if (++pk.parked == pk.want)
		pthread_cond_signal(&pk.parked_cv);
	while (!pk.go)
		pthread_cond_wait(&pk.go_cv, &pk.mu);
	pthread_mutex_unlock(&pk.mu);
	return NULL;
}

double threads_bench_rss_parked(long n)
{
	pthread_t *t = xcalloc((size_t)n, sizeof(*t));
	void **stacks = xcalloc((size_t)n, sizeof(*stacks));
	/* Stacks mapped here (not glibc's cached ones), before the first reading: only
	 * the pages the threads touch count. */
	for (long i = 0; i < n; i++) {
		stacks[i] = mmap(NULL, SMALL_STACK, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
		if (stacks[i] == MAP_FAILED)
			fail("mmap stack", errno);
	}
	pk.parked = 0;
	pk.want = n;
	pk.go = 0;
	long long before = bench_vm_rss_bytes();
	for (long i = 0; i < n; i++) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstack(&attr, stacks[i], SMALL_STACK);
		create(&t[i], &attr, parked_thread, NULL);
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_lock(&pk.mu);
	while (pk.parked < n)
		pthread_cond_wait(&pk.parked_cv, &pk.mu);
	pthread_mutex_unlock(&pk.mu);
	long long after = bench_vm_rss_bytes();
	pthread_mutex_lock(&pk.mu);
	pk.go = 1;
	pthread_cond_broadcast(&pk.go_cv);
	pthread_mutex_unlock(&pk.mu);
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	for (long i = 0; i < n; i++)
		munmap(stacks[i], SMALL_STACK);
	free(stacks);
	free(t);
	return (double)(after - before) / (double)n;
}

/* ---- mutex contention ---- */

static struct {
	pthread_mutex_t mu;
	long counter;
	long n;
} mc = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *mc_body(void *arg)
{
	(void)arg;
	for (long i = 0; i < mc.n; i++) {
		pthread_mutex_lock(&mc.mu);
		mc.counter++;
		pthread_mutex_unlock(&mc.mu);
	}
	return NULL;
}

double threads_bench_mutex_contention(long threads, long n)
{
	pthread_t *ts = xcalloc((size_t)threads, sizeof(*ts));
	mc.counter = 0;
	mc.n = n;
	long long t0 = bench_now_ns();
	for (long i = 0; i < threads; i++)
		create(&ts[i], NULL, mc_body, NULL);
	for (long i = 0; i < threads; i++)
		pthread_join(ts[i], NULL);
	long long t1 = bench_now_ns();
	free(ts);
	if (mc.counter != threads * n)
		fail("mutex contention: increments lost", EINVAL);
	return (double)(t1 - t0) / (double)(threads * n);
}

/* ---- pipe ping-pong ---- */

static struct {
	int to_pong[2], to_ping[2];
	long n;
} pp;

static void pp_io(ssize_t r, const char *what)
{
	if (r != 1)
		fail(what, r < 0 ? errno : EIO);
}

static void *pp_pong(void *arg)
{
	(void)arg;
	char c;
	for (long i = 0; i < pp.n; i++) {
		pp_io(read(pp.to_pong[0], &c, 1), "read");
		pp_io(write(pp.to_ping[1], &c, 1), "write");
	}
	return NULL;
}

double threads_bench_pipe_pingpong(long n)
{
	if (pipe(pp.to_pong) || pipe(pp.to_ping))
		fail("pipe", errno);
	pp.n = n;
	pthread_t t;
	create(&t, NULL, pp_pong, NULL);
	char c = 'x';
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		pp_io(write(pp.to_pong[1], &c, 1), "write");
		pp_io(read(pp.to_ping[0], &c, 1), "read");
	}
	long long t1 = bench_now_ns();
	pthread_join(t, NULL);
	for (int i = 0; i < 2; i++) {
		close(pp.to_pong[i]);
		close(pp.to_ping[i]);
	}
	return (double)(t1 - t0) / (double)n;
}
