/* Runtime life cycle: create, block_on, shutdown, free, and orca_run.
 *
 * Shutdown protocol:
 *  1. set shutting_down (spawns are refused from now on: owned_insert checks the
 *     flag under the shard lock);
 *  2. walk every owned-list shard under its lock and abort each task (they run,
 *     their awaits return -ECANCELED, they clean up and finish);
 *  3. wait until no task is alive (the last completion signals shutdown_cond), or
 *     until the deadline: then report -ETIMEDOUT and leave the workers running, as
 *     freeing a stack a task still runs on would be worse than a leak;
 *  4. stop the blocking pool's threads and the observer's watchdog; set stop,
 *     unpark every worker, join them (each retires its I/O driver before it exits:
 *     io_uring multishot accepts are cancelled and reaped, io/listener.h).
 * With ORCA_LOG=debug each step is logged.
 *
 * The I/O backend is chosen before the workers start (io/backend.c); each worker
 * creates its driver of that backend on its own thread.

 *
 * Model: tests/model/shutdown.pml (spin) checks these steps.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver.h"
#include "scheduler.h"

#define ORCA_MAX_WORKERS 1024
#define ORCA_DEFAULT_STACK (64 * 1024)
#define ORCA_MAX_STACK ((size_t)1 << 30)
#define ORCA_DEFAULT_STACK_CACHE 256
/* Stacks the runtime-wide depot keeps, per worker. */
#define ORCA_STACK_DEPOT_PER_WORKER 1024
#define ORCA_BLOCKING_DEFAULT_NS ORCA_MSEC(100)

void orca_config_init(orca_config *cfg)
{
	if (cfg)
		memset(cfg, 0, sizeof(*cfg));
}

static unsigned usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		int n = CPU_COUNT(&set);
		if (n > 0)
			return (unsigned)n;
	}
	return 1;
}

static void runtime_destroy(orca_runtime *rt)
{
	if (rt->workers) {
		for (unsigned i = 0; i < rt->nworkers; i++) {
			orca__worker *w = rt->workers[i];
			if (!w)
				continue;
			if (w->driver)
				orca__driver_destroy(w->driver);
			orca__stack_pool_destroy(&w->stacks);
			orca__timer_heap_destroy(&w->timers);
			free(w);
		}
		free(rt->workers);
	}
	orca__stack_depot_destroy(&rt->stack_depot, rt->stack_map_size);
	orca__inject_destroy(&rt->inject);
	orca__idle_destroy(&rt->idle);
	pthread_mutex_destroy(&rt->observer.lock);
	pthread_cond_destroy(&rt->observer.cond);
	orca__blocking_pool_destroy(&rt->blocking);
	for (unsigned i = 0; i < ORCA_OWNED_SHARDS; i++)
		pthread_mutex_destroy(&rt->owned[i].lock);
	pthread_mutex_destroy(&rt->shutdown_lock);
	pthread_cond_destroy(&rt->shutdown_cond);
	free(rt);
}

static void wait_workers_ready(orca_runtime *rt, unsigned started)
{
	pthread_mutex_lock(&rt->shutdown_lock);
	while (rt->workers_ready < started)
		pthread_cond_wait(&rt->shutdown_cond, &rt->shutdown_lock);
	pthread_mutex_unlock(&rt->shutdown_lock);
}

static void stop_workers(orca_runtime *rt, unsigned started)
{
	wait_workers_ready(rt, started);
	atomic_store_explicit(&rt->stop, 1, memory_order_release);
	for (unsigned i = 0; i < started; i++)
		orca__worker_unpark(rt->workers[i]);
	for (unsigned i = 0; i < started; i++)
		pthread_join(rt->workers[i]->thread, NULL);
	rt->workers_joined = 1;
}

static int runtime_start(orca_runtime **out, orca_config c, unsigned n, int backend)
{
	orca_runtime *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	rt->nworkers = n;
	rt->backend = backend;
	atomic_init(&rt->next_id, 1);
	rt->observer.created_at = orca_now();
	rt->observer.dump_signal = c.dump_signal;
	rt->observer.threshold_ns = c.detect_blocking ? c.blocking_threshold_ns : 0;
	pthread_mutex_init(&rt->observer.lock, NULL);
	rt->stack_size = c.stack_size ? c.stack_size : ORCA_DEFAULT_STACK;
	rt->stack_map_size = orca__stack_map_size(rt->stack_size);
	rt->stack_cache = c.stack_cache ? c.stack_cache : ORCA_DEFAULT_STACK_CACHE;
	orca__stack_depot_init(&rt->stack_depot, ORCA_STACK_DEPOT_PER_WORKER * n);
	orca__inject_init(&rt->inject);
	orca__blocking_pool_init(&rt->blocking, c.blocking_threads, c.blocking_keep_alive_ns);
	for (unsigned i = 0; i < ORCA_OWNED_SHARDS; i++)
		pthread_mutex_init(&rt->owned[i].lock, NULL);
	pthread_mutex_init(&rt->shutdown_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rt->shutdown_cond, &ca);
	pthread_cond_init(&rt->observer.cond, &ca);
	pthread_condattr_destroy(&ca);
	if (orca__idle_init(&rt->idle, n) != 0) {
		runtime_destroy(rt);
		return -ENOMEM;
	}
	rt->workers = calloc(n, sizeof(*rt->workers));
	if (!rt->workers) {
		runtime_destroy(rt);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		orca__worker *w = aligned_alloc(64, (sizeof(*w) + 63) & ~(size_t)63);
		if (!w) {
			runtime_destroy(rt);
			return -ENOMEM;
		}
		memset(w, 0, sizeof(*w));
		orca__rq_init(&w->rq);
		w->rt = rt;
		w->index = i;
		w->rng = 0x9E3779B97F4A7C15ull * (i + 1);
		w->maintenance_in = 61;
		orca__timer_heap_init(&w->timers);
		atomic_init(&w->park_deadline, ORCA_NOT_PARKED);
		rt->workers[i] = w;
		if (orca__stack_pool_init(&w->stacks, rt->stack_cache, rt->stack_map_size,
					  &rt->stack_depot) != 0) {
			runtime_destroy(rt);
			return -ENOMEM;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		int err = pthread_create(&rt->workers[i]->thread, NULL, orca__worker_main,
					 rt->workers[i]);
		if (err) {
			stop_workers(rt, i);
			runtime_destroy(rt);
			return -err;
		}
	}
	wait_workers_ready(rt, n);
	for (unsigned i = 0; i < n; i++) {
		int err = rt->workers[i]->driver_err;
		if (err) {
			orca__log_debug("worker %u: %s driver failed: %s", i,
					orca__backend_name(backend), orca_strerror(err));
			stop_workers(rt, n);
			runtime_destroy(rt);
			return err;
		}
	}
	int err = orca__observe_start(rt);
	if (err) {
		stop_workers(rt, n);
		runtime_destroy(rt);
		return err;
	}
	orca__log_debug("runtime: %u workers on %s started", n, orca__backend_name(backend));
	*out = rt;
	return 0;
}

/* ORCA_BLOCKING_DETECT=<ms> turns the blocking detector on with that threshold
 * (unless the config already set one); "0" or "off" leave it as configured. */
static int blocking_detect_env(orca_config *c)
{
	const char *v = getenv("ORCA_BLOCKING_DETECT");
	if (!v || !*v || strcmp(v, "0") == 0 || strcmp(v, "off") == 0)
		return 0;
	char *end;
	long long ms = strtoll(v, &end, 10);
	if (*end || ms <= 0 || ms > INT64_MAX / 1000000) {
		orca__log_debug("runtime: ORCA_BLOCKING_DETECT=%s is not a positive number of ms",
				v);
		return -EINVAL;
	}
	c->detect_blocking = true;
	if (!c->blocking_threshold_ns)
		c->blocking_threshold_ns = ORCA_MSEC(ms);
	return 0;
}

int orca_runtime_create(orca_runtime **out, const orca_config *cfg)
{
	int err_env;
	if (!out)
		return -EINVAL;
	*out = NULL;
	orca_config c;
	orca_config_init(&c);
	if (cfg)
		c = *cfg;
	if (c.workers > ORCA_MAX_WORKERS || c.stack_size > ORCA_MAX_STACK ||
	    c.blocking_keep_alive_ns < 0 || c.blocking_threshold_ns < 0 || c.dump_signal < 0 ||
	    c.dump_signal >= NSIG)
		return -EINVAL;
	err_env = blocking_detect_env(&c);
	if (err_env)
		return err_env;
	unsigned n = c.workers ? c.workers : usable_cpus();
	if (c.detect_blocking && !c.blocking_threshold_ns)
		c.blocking_threshold_ns = ORCA_BLOCKING_DEFAULT_NS;
	if (n > ORCA_MAX_WORKERS)
		n = ORCA_MAX_WORKERS;
	int backend;
	bool may_fall_back;
	int err = orca__backend_select((int)c.backend, &backend, &may_fall_back);
	if (err)
		return err;
	err = runtime_start(out, c, n, backend);
	if (err && may_fall_back && orca__backend_refused(err)) {
		orca__log_debug("runtime: a worker's ring was refused: backend epoll");
		err = runtime_start(out, c, n, ORCA__BACKEND_EPOLL);
	}
	return err;
}

unsigned orca_runtime_workers(const orca_runtime *rt)
{
	return rt ? rt->nworkers : 0;
}

static bool on_own_worker(orca_runtime *rt)
{
	orca__worker *w = orca__worker_current();
	return w && w->rt == rt;
}

int orca__block_on_fn(orca_runtime *rt, intptr_t (*fn)(void *), void *arg, intptr_t *result,
		      const char *name)
{
	if (!rt || !fn)
		return -EINVAL;
	if (on_own_worker(rt))
		return -EDEADLK;
	orca_task *h;
	int err = orca__spawn_stackful(rt, &h, fn, arg, name, false);
	if (err)
		return err;
	return orca_join(h, result);
}

int(orca_block_on)(orca_runtime *rt, intptr_t (*fn)(void *), void *arg, intptr_t *result)
{
	return orca__block_on_fn(rt, fn, arg, result, NULL);
}

static size_t abort_all(orca_runtime *rt)
{
	size_t n = 0;
	for (unsigned i = 0; i < ORCA_OWNED_SHARDS; i++) {
		orca__owned_shard *s = &rt->owned[i];
		pthread_mutex_lock(&s->lock);
		for (orca__task *t = s->head; t; t = t->owned_next) {
			n++;
			if (orca__st_transition_to_notified_and_cancel(&t->state) == ORCA_ST_SUBMIT)
				orca__schedule(t);
		}
		pthread_mutex_unlock(&s->lock);
	}
	return n;
}

int orca_runtime_shutdown(orca_runtime *rt, int64_t timeout_ns)
{
	if (!rt)
		return -EINVAL;
	if (on_own_worker(rt))
		return -EDEADLK;
	if (rt->workers_joined)
		return 0;
	/* Steps 1 and 2 (once). */
	int64_t start = orca_now();
	if (!atomic_exchange_explicit(&rt->shutting_down, 1, memory_order_acq_rel)) {
		size_t n = abort_all(rt);
		orca__log_debug("shutdown: step 1-2: spawns refused, %zu live task%s aborted", n,
				n == 1 ? "" : "s");
	}
	/* Step 3. */
	int64_t deadline = timeout_ns < 0 ? -1 : start + timeout_ns;
	pthread_mutex_lock(&rt->shutdown_lock);
	while (atomic_load_explicit(&rt->alive, memory_order_acquire) != 0) {
		if (deadline < 0) {
			pthread_cond_wait(&rt->shutdown_cond, &rt->shutdown_lock);
			continue;
		}
		struct timespec ts = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
		if (pthread_cond_timedwait(&rt->shutdown_cond, &rt->shutdown_lock, &ts) == ETIMEDOUT &&
		    atomic_load_explicit(&rt->alive, memory_order_acquire) != 0) {
			pthread_mutex_unlock(&rt->shutdown_lock);
			size_t left = atomic_load_explicit(&rt->alive, memory_order_relaxed);
			orca__log_debug("shutdown: step 3: %zu task%s still alive after %.3f s: "
					"-ETIMEDOUT, workers left running",
					left, left == 1 ? "" : "s",
					(double)(orca_now() - start) / 1e9);
			return -ETIMEDOUT;
		}
	}
	pthread_mutex_unlock(&rt->shutdown_lock);
	orca__log_debug("shutdown: step 3: every task finished (%.3f ms)",
			(double)(orca_now() - start) / 1e6);
	/* Step 4: no task is left, so no blocking job is either; the pool's threads
	 * exit, then the watchdog, then the workers. */
	orca__blocking_pool_shutdown(&rt->blocking);
	orca__log_debug("shutdown: step 4: blocking pool stopped");
	orca__observe_stop(rt);
	stop_workers(rt, rt->nworkers);
	orca__log_debug("shutdown: step 4: %u workers joined", rt->nworkers);
	return 0;
}

int orca_runtime_free(orca_runtime *rt)
{
	if (!rt)
		return -EINVAL;
	if (on_own_worker(rt))
		return -EDEADLK;
	int err = orca_runtime_shutdown(rt, -1);
	if (err)
		return err;
	if (atomic_load_explicit(&rt->handles, memory_order_acquire) != 0)
		return -EBUSY;
	runtime_destroy(rt);
	return 0;
}

int orca__run_fn(intptr_t (*fn)(void *), void *arg, intptr_t *result, const char *name)
{
	if (!fn)
		return -EINVAL;
	orca_runtime *rt;
	int err = orca_runtime_create(&rt, NULL);
	if (err)
		return err;
	err = orca__block_on_fn(rt, fn, arg, result, name);
	int err2 = orca_runtime_free(rt);
	return err ? err : err2;
}

int(orca_run)(intptr_t (*fn)(void *), void *arg, intptr_t *result)
{
	return orca__run_fn(fn, arg, result, NULL);
}

const char *orca_strerror(int err)
{
	if (err > 0)
		return "not an error code (positive)";
	if (err == 0)
		return "Success";
	/* strerror's table is static; strerror itself may not be thread-safe for
	 * unknown values, strerrordesc_np is. */
	const char *s = strerrordesc_np(-err);
	return s ? s : "Unknown error";
}
