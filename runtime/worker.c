/* A worker thread's loop: where tasks come from, in what order, and how an idle
 * worker searches, steals and parks.
 *
 * Each tick takes one task:
 *  1. every ORCA_GLOBAL_INTERVAL ticks: fire due timers and take from the inject
 *     queue first, so outside work is never starved by a busy local queue;
 *  2. the LIFO slot (the task the running one woke last: message-passing latency),
 *     at most ORCA_MAX_LIFO_POLLS times in a row so a ping-pong pair cannot starve
 *     the queue;
 *  3. the local run queue; 4. a batch from the inject queue.
 * With nothing local: fire timers; then search (at most half the workers at once,
 * idle.h): steal half of a random victim's queue, else the inject queue; then park
 * until woken or until the next timer is due.
 *
 * Timers across workers: each worker arms timers in its own heap, but any idle
 * worker fires every heap's due timers, so a worker stuck in a long poll does not
 * hold its tasks' timers hostage. A parking worker publishes ORCA_PARKING, computes
 * the earliest deadline over all heaps, publishes it in park_deadline and sleeps
 * until then. A worker that arms a timer earlier than its heap's first inserts it
 * (under the heap lock) and then reads every park_deadline: either the parker's
 * scan saw the new entry, or the armer sees ORCA_PARKING / a later deadline and
 * unparks it (all SeqCst, and the heap lock orders the insert against the scan).
 *
 * Wake-ups: work pushed where another worker could take it (local queue with more
 * than one item, inject queue) calls notify_parked, which wakes one parked worker
 * only when nobody is searching (idle.h step 2) so a burst of wakes costs one
 * unpark, not one per task. Completions the worker reaps from its own driver do not
 * notify one by one: once the reap is done, one check (more than one task queued,
 * not searching: Tokio's should_notify_others) decides. Reaping inside park used to
 * notify while this worker was still listed as parked, and an echo server woke the
 * other worker about 12,000 times a second, 95% of them for nothing to steal
 * (docs/architecture.md, "Notifying after a reap").

 *
 * Model: tests/model/park.pml (spin) and tests/model/park_model.cc (relacy, the
 * idle protocol with this loop transcribed) check searching and parking.
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"
#include "scheduler.h"

#define ORCA_GLOBAL_INTERVAL 61
#define ORCA_MAX_LIFO_POLLS 3

static __thread orca__worker *tls_worker;

__attribute__((noinline)) orca__worker *orca__worker_current(void)
{
	/* The empty asm with a memory clobber keeps the compiler from treating this as
	 * a pure function and reusing one result across a context switch. */
	__asm__ volatile("" ::: "memory");
	return tls_worker;
}

orca__task *orca__task_current(void)
{
	orca__worker *w = orca__worker_current();
	return w ? orca__worker_running(w) : NULL;
}

orca_runtime *orca_runtime_current(void)
{
	orca__worker *w = orca__worker_current();
	return w ? w->rt : NULL;
}

int64_t orca_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

orca__driver *orca__driver_current(void)
{
	orca__worker *w = orca__worker_current();
	return w ? w->driver : NULL;
}

void orca__worker_unpark(orca__worker *w)
{
	/* No driver: the runtime is failing to start and the worker never parks. */
	if (w->driver)
		orca__driver_unpark(w->driver);
}

void orca__notify_parked(orca_runtime *rt)
{
	int idx = orca__idle_worker_to_notify(&rt->idle);
	if (idx >= 0) {
		orca__worker *w = rt->workers[idx];
		atomic_fetch_add_explicit(&w->stats.unparks, 1, memory_order_relaxed);
		orca__worker_unpark(w);
	}
}

static void push_local(orca__worker *w, orca__task *t)
{
	if (!orca__rq_push_back_owner(&w->rq, &t->qnode, &w->rt->inject))
		orca__panic("worker: inject queue closed while tasks are scheduled");
}

void orca__schedule(orca__task *t)
{
	orca_runtime *rt = t->rt;
	orca__worker *w = orca__worker_current();
	if (w && w->rt == rt) {
		orca__task_stamp(t, w->clock); /* ready since (observe.h) */
		if (orca__worker_running(w)) {
			/* Woken by the running task: the LIFO slot, so it runs next. */
			orca__task *prev = w->lifo;
			w->lifo = t;
			if (!prev)
				return;
			t = prev;
		}
		push_local(w, t);
		if (!w->searching && !w->reaping && orca__rq_len(&w->rq) > 1)
			orca__notify_parked(rt);
		return;
	}
	orca__task_stamp(t, orca_now());
	if (!orca__inject_push(&rt->inject, &t->qnode))
		orca__panic("worker: inject queue closed while tasks are scheduled");
	orca__notify_parked(rt);
}

static orca__task *task_of(orca__qnode *n)
{
	return n ? orca__container_of(n, orca__task, qnode) : NULL;
}

/* Moves a batch from the inject queue into the local queue; returns one task. */
static orca__task *pull_inject(orca__worker *w)
{
	if (orca__inject_is_empty(&w->rt->inject))
		return NULL;
	uint32_t room = ORCA_RUN_QUEUE_CAP - orca__rq_len(&w->rq);
	size_t want = room / 2 + 1;
	size_t n;
	orca__qnode *chain = orca__inject_pop_n(&w->rt->inject, want, &n);
	if (!chain)
		return NULL;
	orca__qnode *first = chain;
	orca__qnode *rest = orca__rq_push_chain_owner(&w->rq, first->next);
	if (rest) {
		/* Raced with nothing (we own the queue), but never drop work: back it goes. */
		orca__qnode *last = rest;
		size_t k = 1;
		while (last->next) {
			last = last->next;
			k++;
		}
		orca__inject_push_batch(&w->rt->inject, rest, last, k);
	}
	first->next = NULL;
	return task_of(first);
}

static void fire_timers(orca__worker *w)
{
	if (atomic_load_explicit(&w->timers.armed, memory_order_relaxed))
		orca__stat_add(&w->stats.timers_fired, orca__timer_fire(&w->timers, orca_now()));
}

/* An idle worker fires what is due in every worker's heap; the woken tasks land
 * in its own queue. */
static void fire_all_timers(orca__worker *w)
{
	orca_runtime *rt = w->rt;
	int64_t now = -1;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		orca__timer_heap *h = &rt->workers[i]->timers;
		if (!atomic_load_explicit(&h->armed, memory_order_relaxed))
			continue;
		if (now < 0)
			now = orca_now();
		orca__stat_add(&w->stats.timers_fired, orca__timer_fire(h, now));
	}
}

static int64_t earliest_deadline(orca_runtime *rt)
{
	int64_t best = -1;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		int64_t d = orca__timer_next_deadline(&rt->workers[i]->timers);
		if (d >= 0 && (best < 0 || d < best))
			best = d;
	}
	return best;
}

void orca__timer_armed_earliest(orca__worker *w, int64_t deadline)
{
	orca_runtime *rt = w->rt;
	for (unsigned i = 0; i < rt->nworkers; i++) {
		orca__worker *v = rt->workers[i];
		if (v == w)
			continue;
		int64_t pd = atomic_load_explicit(&v->park_deadline, memory_order_seq_cst);
		if (pd == ORCA_NOT_PARKED)
			continue;
		if (pd == ORCA_PARKING || pd > deadline)
			orca__worker_unpark(v);
	}
}

/* After a reap: wake a parked worker if there is more queued here than this one
 * will run next, unless a search is already on. */
static void notify_after_reap(orca__worker *w)
{
	if (!w->searching && orca__rq_len(&w->rq) + (w->lifo ? 1u : 0u) > 1)
		orca__notify_parked(w->rt);
}

/* Submits queued I/O and handles completions; returns how many completed.
 * must_reap: orca__driver_poll's (the maintenance tick's poll). */
static size_t poll_driver(orca__worker *w, bool must_reap)
{
	if (!w->driver)
		return 0;
	w->reaping = true;
	size_t n = orca__driver_poll(w->driver, must_reap);
	w->reaping = false;
	if (n)
		notify_after_reap(w);
	return n;
}

/* The LIFO slot (bounded), then the local queue. */
static orca__task *pop_local(orca__worker *w)
{
	if (w->lifo) {
		orca__task *t = w->lifo;
		w->lifo = NULL;
		if (w->lifo_polls < ORCA_MAX_LIFO_POLLS) {
			w->lifo_polls++;
			orca__stat_add(&w->stats.lifo_hits, 1);
			return t;
		}
		push_local(w, t);
	}
	w->lifo_polls = 0;
	return task_of(orca__rq_pop_owner(&w->rq));
}

static orca__task *next_local(orca__worker *w)
{
	if (--w->maintenance_in == 0) {
		w->maintenance_in = ORCA_GLOBAL_INTERVAL;
		poll_driver(w, true);
		fire_timers(w);
		orca__task *t = pull_inject(w);
		if (t)
			return t;
	}
	orca__task *t = pop_local(w);
	return t ? t : pull_inject(w);
}

orca__task *orca__worker_next_direct(orca__worker *w)
{
	if (w->maintenance_in <= 1)
		return NULL; /* the worker loop does the maintenance tick */
	if (!w->lifo && orca__rq_is_empty(&w->rq))
		return NULL;
	w->maintenance_in--;
	orca__task *t = pop_local(w);
	if (t && t->kind != ORCA_TASK_STACKFUL) {
		/* Runs on the worker's stack: hand it over. */
		w->handoff = t;
		return NULL;
	}
	return t;
}

static uint64_t next_rand(orca__worker *w)
{
	/* xorshift64: victim choice only needs to spread, not to be unpredictable. */
	uint64_t x = w->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return w->rng = x;
}

static orca__task *search(orca__worker *w)
{
	orca_runtime *rt = w->rt;
	if (!w->searching) {
		if (!orca__idle_to_searching(&rt->idle))
			return NULL;
		w->searching = true;
	}
	unsigned n = rt->nworkers;
	unsigned start = (unsigned)(next_rand(w) % n);
	for (unsigned i = 0; i < n; i++) {
		orca__worker *victim = rt->workers[(start + i) % n];
		if (victim == w)
			continue;
		uint32_t before = orca__rq_len(&w->rq);
		orca__task *t = task_of(orca__rq_steal_into(&victim->rq, &w->rq));
		if (t) {
			orca__stat_add(&w->stats.steal_ops, 1);
			orca__stat_add(&w->stats.steals, 1 + orca__rq_len(&w->rq) - before);
			return t;
		}
	}
	return pull_inject(w);
}

static void stop_searching(orca__worker *w)
{
	if (!w->searching)
		return;
	w->searching = false;
	/* The last searcher to find work hands the search to a parked worker: more work
	 * may be waiting behind what it found. */
	if (orca__idle_from_searching(&w->rt->idle))
		orca__notify_parked(w->rt);
}

static bool work_anywhere(orca_runtime *rt)
{
	if (!orca__inject_is_empty(&rt->inject))
		return true;
	for (unsigned i = 0; i < rt->nworkers; i++)
		if (!orca__rq_is_empty(&rt->workers[i]->rq))
			return true;
	return false;
}

/* Busy time is counted between parks (observe.h): two clock reads per park,
 * which costs a system call anyway. Each refreshes the worker's cached clock. */
static void busy_begin(orca__worker *w)
{
	w->clock = orca_now();
	atomic_store_explicit(&w->stats.busy_since, w->clock, memory_order_relaxed);
}

static void busy_end(orca__worker *w)
{
	int64_t now = orca_now();
	int64_t since = atomic_load_explicit(&w->stats.busy_since, memory_order_relaxed);
	/* busy_ns first: a reader that sees busy_since == 0 must find the period in it. */
	orca__stat_add(&w->stats.busy_ns, (uint64_t)(now - since));
	atomic_store_explicit(&w->stats.busy_since, 0, memory_order_release);
	w->clock = now;
}

static void park(orca__worker *w)
{
	orca_runtime *rt = w->rt;
	bool was_searching = w->searching;
	w->searching = false;
	if (orca__idle_to_parked(&rt->idle, w->index, was_searching) && work_anywhere(rt))
		orca__notify_parked(rt); /* idle.h step 3 */
	for (;;) {
		if (atomic_load_explicit(&rt->stop, memory_order_acquire))
			break;
		atomic_store_explicit(&w->park_deadline, ORCA_PARKING, memory_order_seq_cst);
		int64_t deadline = earliest_deadline(rt);
		atomic_store_explicit(&w->park_deadline, deadline < 0 ? INT64_MAX : deadline,
				      memory_order_seq_cst);
		busy_end(w);
		orca__stat_add(&w->stats.parks, 1);
		w->reaping = true;
		orca__driver_park(w->driver, deadline);
		busy_begin(w);
		atomic_store_explicit(&w->park_deadline, ORCA_NOT_PARKED, memory_order_relaxed);
		fire_all_timers(w);
		w->reaping = false;
		if (w->lifo || !orca__rq_is_empty(&w->rq)) {
			/* Own work (timers fired): idle.h step 4. If we were no longer listed,
			 * a notifier counted us as searching. */
			w->searching = !orca__idle_unpark_by_id(&rt->idle, w->index);
			notify_after_reap(w);
			break;
		}
		if (!orca__idle_is_parked(&rt->idle, w->index)) {
			w->searching = true; /* unparked by notify_parked */
			break;
		}
		if (atomic_load_explicit(&rt->stop, memory_order_acquire))
			break;
	}
}

void *orca__worker_main(void *arg)
{
	orca__worker *w = arg;
	orca_runtime *rt = w->rt;
	tls_worker = w;
	w->tid = gettid();
	orca__ctx_init_thread(&w->ctx);
	orca__overflow_guard_install_thread(w);
	/* The ring is created here, on the thread that will be its only submitter
	 * (SINGLE_ISSUER). The runtime waits for every worker to get this far before
	 * anyone may unpark it. */
	w->driver = orca__driver_create(rt->backend, w->index, &w->driver_err);
	busy_begin(w);
	orca__log_debug("worker %u: started (%s)", w->index,
			w->driver ? orca__backend_name(rt->backend) : "no I/O driver");
	pthread_mutex_lock(&rt->shutdown_lock);
	rt->workers_ready++;
	pthread_cond_broadcast(&rt->shutdown_cond);
	pthread_mutex_unlock(&rt->shutdown_lock);
	/* Without a driver (driver_err) the runtime fails to start and stops us: there
	 * is nowhere to park, so do not run the loop. */
	while (w->driver && !atomic_load_explicit(&rt->stop, memory_order_acquire)) {
		orca__task *t = w->handoff;
		w->handoff = NULL;
		if (!t)
			t = next_local(w);
		if (!t) {
			/* Out of local work: hand queued I/O to the kernel, collect what
			 * completed, fire due timers, then look again. The cached clock
			 * is refreshed here too (observe.h): the tasks this wakes are
			 * stamped with it. */
			w->clock = orca_now();
			poll_driver(w, false);
			fire_all_timers(w);
			t = next_local(w);
		}
		if (!t)
			t = search(w);
		if (t) {
			stop_searching(w);
			orca__task_run(w, t);
			continue;
		}
		park(w);
	}
	/* No task is left: end what the driver keeps armed by itself (multishot
	 * accepts) while this thread, the ring's only submitter, is still here. */
	if (w->driver)
		orca__driver_retire(w->driver);
	/* Shutdown: a parked-list entry would keep counting this worker as parked. */
	orca__idle_unpark_by_id(&rt->idle, w->index);
	busy_end(w);
	orca__log_debug("worker %u: stopped after %llu polls", w->index,
			(unsigned long long)atomic_load_explicit(&w->stats.polls,
								 memory_order_relaxed));
	/* The driver outlives this thread: others may still unpark it until they have
	 * joined us; the runtime destroys it after the join. */
	orca__overflow_guard_remove_thread(w);
	tls_worker = NULL;
	return NULL;
}
