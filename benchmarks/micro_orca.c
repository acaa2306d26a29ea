/* Orca's side of the micro benchmarks (see micro.h for what each one measures).
 *
 * Every timed loop runs inside a stackful task started with orca_block_on, and is
 * timed there with CLOCK_MONOTONIC; the block_on round trip itself is outside the
 * measured interval. Failures of the API under test abort with a message: a
 * benchmark that silently measures an error path is worse than none.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "micro.h"

#include <errno.h>
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "bench: out of memory\n");
		abort();
	}
	return p;
}

/* Runs body(arg) as a task on rt and waits for it. */
static void run_in_task(orca_runtime *rt, intptr_t (*body)(void *), void *arg)
{
	bench_check(orca_block_on(rt, body, arg, NULL), "orca_block_on");
}

struct args {
	long n;
	long m;
	double value;
	double extra;
};

/* ---- spawn + join ------------------------------------------------------------- */

static intptr_t empty_task(void *arg)
{
	return (intptr_t)arg;
}

static orca_poll ready_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	(void)f;
	(void)cx;
	*out = 0;
	return ORCA_READY;
}
static const orca_future_vtable ready_vtable = {.poll = ready_poll};

static intptr_t spawn_join_body(void *p, int stackless)
{
	struct args *a = p;
	long n = a->n, batch = a->m;
	orca_task **h = xmalloc((size_t)batch * sizeof(*h));
	orca_future ready = {.vtable = &ready_vtable};
	long long t0 = bench_now_ns();
	for (long done = 0; done < n;) {
		long k = n - done < batch ? n - done : batch;
		for (long i = 0; i < k; i++) {
			if (stackless)
				bench_check(orca_spawn_future(&h[i], &ready, sizeof(ready)), "orca_spawn_future");
			else
				bench_check(orca_spawn(&h[i], empty_task, NULL), "orca_spawn");
		}
		for (long i = 0; i < k; i++)
			bench_check(orca_join(h[i], NULL), "orca_join");
		done += k;
	}
	a->value = (double)(bench_now_ns() - t0) / (double)n;
	free(h);
	return 0;
}

static intptr_t spawn_join_stackful_body(void *p)
{
	return spawn_join_body(p, 0);
}
static intptr_t spawn_join_stackless_body(void *p)
{
	return spawn_join_body(p, 1);
}

double orca_bench_spawn_join_stackful(orca_runtime *rt, long n, long outstanding)
{
	struct args a = {.n = n, .m = outstanding < 1 ? 1 : outstanding};
	run_in_task(rt, spawn_join_stackful_body, &a);
	return a.value;
}

double orca_bench_spawn_join_stackless(orca_runtime *rt, long n, long outstanding)
{
	struct args a = {.n = n, .m = outstanding < 1 ? 1 : outstanding};
	run_in_task(rt, spawn_join_stackless_body, &a);
	return a.value;
}

/* ---- yield ------------------------------------------------------------------ */

static intptr_t yield_alone_body(void *p)
{
	struct args *a = p;
	long long t0 = bench_now_ns();
	for (long i = 0; i < a->n; i++)
		bench_check(orca_yield(), "orca_yield");
	a->value = (double)(bench_now_ns() - t0) / (double)a->n;
	return 0;
}

double orca_bench_yield_alone(orca_runtime *rt, long n)
{
	struct args a = {.n = n};
	run_in_task(rt, yield_alone_body, &a);
	return a.value;
}

static intptr_t yielder(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++)
		bench_check(orca_yield(), "orca_yield");
	return 0;
}

static intptr_t yield_many_body(void *p)
{
	struct args *a = p;
	long tasks = a->m, n = a->n;
	orca_task **h = xmalloc((size_t)tasks * sizeof(*h));
	long long t0 = bench_now_ns();
	for (long i = 0; i < tasks; i++)
		bench_check(orca_spawn(&h[i], yielder, (void *)(intptr_t)n), "orca_spawn");
	for (long i = 0; i < tasks; i++)
		bench_check(orca_join(h[i], NULL), "orca_join");
	a->value = (double)(bench_now_ns() - t0) / ((double)tasks * (double)n);
	free(h);
	return 0;
}

double orca_bench_yield_many(orca_runtime *rt, long tasks, long n)
{
	struct args a = {.n = n, .m = tasks};
	run_in_task(rt, yield_many_body, &a);
	return a.value;
}

/* ---- a user-written future and waker: a one-slot signal ----------------------
 *
 * What a user would write for "wake that task when this happens": a flag and the
 * waiter's waker under a spinlock. poll() consumes the flag or stores a clone of
 * its waker; signal() sets the flag and wakes the stored waker (taking it out, so
 * the waker's reference is consumed by the wake). Any thread may signal. */

typedef struct cell {
	atomic_flag lock;
	int ready;
	orca_waker waker;
} cell;

#define CELL_INIT {ATOMIC_FLAG_INIT, 0, {0, 0}}

static void cell_lock(cell *c)
{
	while (atomic_flag_test_and_set_explicit(&c->lock, memory_order_acquire))
		__builtin_ia32_pause();
}

static void cell_unlock(cell *c)
{
	atomic_flag_clear_explicit(&c->lock, memory_order_release);
}

typedef struct cell_future {
	orca_future base;
	cell *c;
} cell_future;

static orca_poll cell_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	cell *c = ((cell_future *)f)->c;
	cell_lock(c);
	if (c->ready) {
		c->ready = 0;
		cell_unlock(c);
		*out = 0;
		return ORCA_READY;
	}
	orca_waker old = {0};
	if (!orca_waker_will_wake(&c->waker, cx->waker)) {
		old = c->waker;
		c->waker = orca_waker_clone(cx->waker);
	}
	cell_unlock(c);
	orca_waker_drop(&old);
	return ORCA_PENDING;
}

static void cell_future_drop(orca_future *f)
{
	cell *c = ((cell_future *)f)->c;
	cell_lock(c);
	orca_waker w = c->waker;
	c->waker = (orca_waker){0};
	cell_unlock(c);
	orca_waker_drop(&w);
}

static const orca_future_vtable cell_vtable = {.poll = cell_poll, .drop = cell_future_drop};

static void cell_wait(cell *c)
{
	cell_future f = {.base = {&cell_vtable}, .c = c};
	bench_check((int)orca_await(&f.base), "orca_await(cell)");
}

static void cell_signal(cell *c)
{
	cell_lock(c);
	c->ready = 1;
	orca_waker w = c->waker;
	c->waker = (orca_waker){0};
	cell_unlock(c);
	orca_waker_wake(&w);
}

/* ---- task <-> task ping-pong ---------------------------------------------------- */

/* pthread_self() is declared const: read it afresh after each suspension, since a
 * task may move to another worker thread (the same rule the runtime follows). */
__attribute__((noinline)) static unsigned long current_thread(void)
{
	__asm__ volatile("" ::: "memory");
	return (unsigned long)pthread_self();
}

struct pingpong {
	cell to_a, to_b;
	long n;
	_Atomic unsigned long b_thread;
	long cross;
};

static intptr_t pong_task(void *p)
{
	struct pingpong *pp = p;
	for (long i = 0; i < pp->n; i++) {
		cell_wait(&pp->to_b);
		atomic_store_explicit(&pp->b_thread, current_thread(), memory_order_relaxed);
		cell_signal(&pp->to_a);
	}
	return 0;
}

static intptr_t ping_task(void *p)
{
	struct pingpong *pp = p;
	for (long i = 0; i < pp->n; i++) {
		cell_signal(&pp->to_b);
		cell_wait(&pp->to_a);
		if (atomic_load_explicit(&pp->b_thread, memory_order_relaxed) != current_thread())
			pp->cross++;
	}
	return 0;
}

static intptr_t task_pingpong_body(void *p)
{
	struct args *a = p;
	struct pingpong pp = {.to_a = CELL_INIT, .to_b = CELL_INIT, .n = a->n};
	orca_task *pa, *pb;
	long long t0 = bench_now_ns();
	bench_check(orca_spawn(&pb, pong_task, &pp), "orca_spawn");
	bench_check(orca_spawn(&pa, ping_task, &pp), "orca_spawn");
	bench_check(orca_join(pa, NULL), "orca_join");
	bench_check(orca_join(pb, NULL), "orca_join");
	a->value = (double)(bench_now_ns() - t0) / (2.0 * (double)a->n);
	a->extra = 100.0 * (double)pp.cross / (double)a->n;
	return 0;
}

double orca_bench_task_pingpong(orca_runtime *rt, long n, double *cross_pct)
{
	struct args a = {.n = n};
	run_in_task(rt, task_pingpong_body, &a);
	if (cross_pct)
		*cross_pct = a.extra;
	return a.value;
}

/* ---- plain thread <-> task ping-pong --------------------------------------------- */

/* A futex event for the plain thread's side: signal bumps seq, and makes the wake
 * syscall only if the waiter announced itself. */
typedef struct tevent {
	_Atomic uint32_t seq;
	_Atomic uint32_t waiters;
} tevent;

static void tevent_signal(tevent *e)
{
	atomic_fetch_add(&e->seq, 1);
	if (atomic_load(&e->waiters))
		syscall(SYS_futex, &e->seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void tevent_wait(tevent *e, uint32_t seen)
{
	while (atomic_load(&e->seq) == seen) {
		atomic_fetch_add(&e->waiters, 1);
		if (atomic_load(&e->seq) == seen)
			syscall(SYS_futex, &e->seq, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
		atomic_fetch_sub(&e->waiters, 1);
	}
}

struct thread_pingpong {
	cell to_task;
	tevent to_thread;
	long n;
};

static intptr_t thread_pong_task(void *p)
{
	struct thread_pingpong *tp = p;
	for (long i = 0; i < tp->n; i++) {
		cell_wait(&tp->to_task);
		tevent_signal(&tp->to_thread);
	}
	return 0;
}

double orca_bench_thread_task_pingpong(orca_runtime *rt, long n)
{
	struct thread_pingpong tp = {.to_task = CELL_INIT, .n = n};
	orca_task *h;
	bench_check(orca_spawn_on(rt, &h, thread_pong_task, &tp), "orca_spawn_on");
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		uint32_t seen = atomic_load(&tp.to_thread.seq);
		cell_signal(&tp.to_task);
		tevent_wait(&tp.to_thread, seen);
	}
	double ns = (double)(bench_now_ns() - t0) / (2.0 * (double)n);
	bench_check(orca_join(h, NULL), "orca_join (from a plain thread)");
	return ns;
}

/* ---- 1 ms sleepers --------------------------------------------------------------------- */

static intptr_t sleeper_task(void *arg)
{
	(void)arg;
	bench_check(orca_sleep(ORCA_MSEC(1)), "orca_sleep");
	return 0;
}

/* A stackless "sleep 1 ms from when first polled", as a user would write it around
 * the library's orca_sleep_future. */
typedef struct rel_sleep {
	orca_future base;
	int armed;
	orca_sleep_future s;
} rel_sleep;

static orca_poll rel_sleep_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	rel_sleep *r = (rel_sleep *)f;
	if (!r->armed) {
		orca_sleep_future_init(&r->s, orca_now() + ORCA_MSEC(1));
		r->armed = 1;
	}
	return r->s.base.vtable->poll(&r->s.base, cx, out);
}

static void rel_sleep_drop(orca_future *f)
{
	rel_sleep *r = (rel_sleep *)f;
	if (r->armed && r->s.base.vtable->drop)
		r->s.base.vtable->drop(&r->s.base);
}

static const orca_future_vtable rel_sleep_vtable = {.poll = rel_sleep_poll,
						    .drop = rel_sleep_drop};

static intptr_t sleepers_body(void *p, int stackless)
{
	struct args *a = p;
	long n = a->n;
	orca_task **h = xmalloc((size_t)n * sizeof(*h));
	rel_sleep proto = {.base = {&rel_sleep_vtable}};
	long long t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		if (stackless)
			bench_check(orca_spawn_future(&h[i], &proto.base, sizeof(proto)), "orca_spawn_future");
		else
			bench_check(orca_spawn(&h[i], sleeper_task, NULL), "orca_spawn");
	}
	for (long i = 0; i < n; i++) {
		intptr_t r = 0;
		bench_check(orca_join(h[i], &r), "orca_join");
		bench_check((int)r, "sleep");
	}
	a->value = (double)(bench_now_ns() - t0) / 1e6;
	free(h);
	return 0;
}

static intptr_t sleepers_stackful_body(void *p)
{
	return sleepers_body(p, 0);
}
static intptr_t sleepers_stackless_body(void *p)
{
	return sleepers_body(p, 1);
}

double orca_bench_sleepers_stackful(orca_runtime *rt, long n)
{
	struct args a = {.n = n};
	run_in_task(rt, sleepers_stackful_body, &a);
	return a.value;
}

double orca_bench_sleepers_stackless(orca_runtime *rt, long n)
{
	struct args a = {.n = n};
	run_in_task(rt, sleepers_stackless_body, &a);
	return a.value;
}

/* ---- resident bytes per parked task -------------------------------------------------------- */

static _Atomic long parked_count;

static intptr_t parked_stackful_task(void *arg)
{
	(void)arg;
	atomic_fetch_add_explicit(&parked_count, 1, memory_order_relaxed);
	int r = orca_sleep(ORCA_SEC(3600));
	return r == -ECANCELED ? 0 : -1;
}

/* A stackless task that waits forever for an event that never comes: it stores
 * its waker (as any real waiter would) and stays pending until aborted. */
typedef struct pending_future {
	orca_future base;
	orca_waker waker;
} pending_future;

static orca_poll pending_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	(void)out;
	pending_future *pf = (pending_future *)f;
	if (!pf->waker.vtable) {
		pf->waker = orca_waker_clone(cx->waker);
		atomic_fetch_add_explicit(&parked_count, 1, memory_order_relaxed);
	}
	return ORCA_PENDING;
}

static void pending_drop(orca_future *f)
{
	orca_waker_drop(&((pending_future *)f)->waker);
}

static const orca_future_vtable pending_vtable = {.poll = pending_poll, .drop = pending_drop};

static intptr_t rss_body(void *p, int stackless)
{
	struct args *a = p;
	long n = a->n;
	/* Like the peers' Vec/array of senders: allocated before, first touched during. */
	orca_task **h = xmalloc((size_t)n * sizeof(*h));
	pending_future proto = {.base = {&pending_vtable}};
	atomic_store(&parked_count, 0);
	long long before = bench_vm_rss_bytes();
	for (long i = 0; i < n; i++) {
		if (stackless)
			bench_check(orca_spawn_future(&h[i], &proto.base, sizeof(proto)), "orca_spawn_future");
		else
			bench_check(orca_spawn(&h[i], parked_stackful_task, NULL), "orca_spawn");
	}
	while (atomic_load_explicit(&parked_count, memory_order_relaxed) < n)
		bench_check(orca_sleep(ORCA_MSEC(1)), "orca_sleep");
	long long after = bench_vm_rss_bytes();
	for (long i = 0; i < n; i++)
		bench_check(orca_abort(h[i]), "orca_abort");
	for (long i = 0; i < n; i++) {
		int r = orca_join(h[i], NULL);
		if (r != -ECANCELED && r != 0)
			bench_check(r, "orca_join");
	}
	free(h);
	/* Hand freed task memory back so the next run starts from a trimmed heap. */
	malloc_trim(0);
	a->value = (double)(after - before) / (double)n;
	return 0;
}

static intptr_t rss_stackful_body(void *p)
{
	return rss_body(p, 0);
}
static intptr_t rss_stackless_body(void *p)
{
	return rss_body(p, 1);
}

double orca_bench_rss_stackful(orca_runtime *rt, long n)
{
	struct args a = {.n = n};
	run_in_task(rt, rss_stackful_body, &a);
	return a.value;
}

double orca_bench_rss_stackless(orca_runtime *rt, long n)
{
	struct args a = {.n = n};
	run_in_task(rt, rss_stackless_body, &a);
	return a.value;
}
