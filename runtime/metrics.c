/* Metrics (include/orca/metrics.h): the per-worker counters of observe.h summed on
 * read, and the runtime-wide figures. A read takes no lock a worker needs: only
 * atomics, and the blocking pool's mutex for its three numbers. */
#include <errno.h>
#include <string.h>

#include "driver.h"
#include "scheduler.h"

static uint64_t load(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Busy time so far: finished periods plus the current one. */
static uint64_t busy_ns(orca__worker_stats *s, int64_t now)
{
	for (;;) {
		/* Acquire on busy_since pairs with busy_end's release: a reader that sees
		 * 0 (parked) finds the finished period in busy_ns. If busy_since changed
		 * while busy_ns was read, read again. */
		int64_t since = atomic_load_explicit(&s->busy_since, memory_order_acquire);
		uint64_t done = atomic_load_explicit(&s->busy_ns, memory_order_acquire);
		if (atomic_load_explicit(&s->busy_since, memory_order_relaxed) != since)
			continue;
		return done + (since && now > since ? (uint64_t)(now - since) : 0);
	}
}

static void worker_metrics(orca__worker *w, int64_t now, orca_worker_metrics *m)
{
	orca__worker_stats *s = &w->stats;
	memset(m, 0, sizeof(*m));
	m->polls = load(&s->polls);
	m->steals = load(&s->steals);
	m->steal_operations = load(&s->steal_ops);
	m->lifo_hits = load(&s->lifo_hits);
	m->parks = load(&s->parks);
	m->unparks = load(&s->unparks);
	m->local_queue_depth = orca__rq_len(&w->rq);
	m->busy_ns = busy_ns(s, now);
	m->timers_armed = atomic_load_explicit(&w->timers.armed, memory_order_relaxed);
	m->timers_fired = load(&s->timers_fired);
	if (w->driver) {
		orca__driver_stats ds;
		orca__driver_stats_read(w->driver, &ds);
		m->io_submitted = ds.submitted;
		m->io_enters = ds.enters;
		m->io_completions = ds.completions;
		m->io_accept_arms = ds.accept_arms;
	}
	m->blocked_polls = load(&s->blocked_polls);
	for (unsigned b = 0; b < ORCA_METRICS_BUCKETS; b++) {
		m->poll_time_histogram[b] = load(&s->hist[b]);
		m->poll_time_samples += m->poll_time_histogram[b];
	}
}

/* Copies what the caller's struct has room for; zeros what the library lacks. */
static void copy_out(void *dst, size_t size, const void *src, size_t have)
{
	memcpy(dst, src, size < have ? size : have);
	if (size > have)
		memset((char *)dst + have, 0, size - have);
}

int orca_runtime_worker_metrics_sized(orca_runtime *rt, unsigned index, orca_worker_metrics *m,
				      size_t size)
{
	if (!rt || !m || index >= rt->nworkers)
		return -EINVAL;
	orca_worker_metrics wm;
	worker_metrics(rt->workers[index], orca_now(), &wm);
	copy_out(m, size, &wm, sizeof(wm));
	return 0;
}

int orca_runtime_metrics_sized(orca_runtime *rt, orca_metrics *m, size_t size)
{
	if (!rt || !m)
		return -EINVAL;
	orca_metrics t;
	memset(&t, 0, sizeof(t));
	int64_t now = orca_now();
	t.workers = rt->nworkers;
	t.alive_tasks = atomic_load_explicit(&rt->alive, memory_order_relaxed);
	/* Every spawn that got past its argument checks took an id; refused ones are
	 * counted apart. */
	uint64_t ids = atomic_load_explicit(&rt->next_id, memory_order_relaxed) - 1;
	uint64_t refused = atomic_load_explicit(&rt->observer.refused_spawns, memory_order_relaxed);
	t.spawned_tasks = ids > refused ? ids - refused : 0;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		orca_worker_metrics w;
		worker_metrics(rt->workers[i], now, &w);
		t.polls += w.polls;
		t.steals += w.steals;
		t.steal_operations += w.steal_operations;
		t.lifo_hits += w.lifo_hits;
		t.parks += w.parks;
		t.unparks += w.unparks;
		t.local_queue_depth += w.local_queue_depth;
		t.busy_ns += w.busy_ns;
		t.timers_armed += w.timers_armed;
		t.timers_fired += w.timers_fired;
		t.io_submitted += w.io_submitted;
		t.io_enters += w.io_enters;
		t.io_completions += w.io_completions;
		t.io_accept_arms += w.io_accept_arms;
		t.blocked_polls += w.blocked_polls;
		t.poll_time_samples += w.poll_time_samples;
		for (unsigned b = 0; b < ORCA_METRICS_BUCKETS; b++)
			t.poll_time_histogram[b] += w.poll_time_histogram[b];
	}
	t.inject_queue_depth = atomic_load_explicit(&rt->inject.len, memory_order_relaxed);
	orca__blocking_pool_stats(&rt->blocking, &t.blocking_threads, &t.blocking_idle_threads,
				  &t.blocking_queue_depth);
	t.uptime_ns = (uint64_t)(now - rt->observer.created_at);
	copy_out(m, size, &t, sizeof(t));
	return 0;
}
