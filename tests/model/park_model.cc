/* Relacy model of parking: runtime/park.c (the park/unpark state machine) and
 * runtime/idle.c (searching and unparked counters, the sleepers list) compiled against
 * relacy (relacy_c11.hpp), with the I/O drivers' sleep and wake-up around the state
 * machine transcribed (io/driver_shared.h and .c: orca__parking_unpark and _wake; the
 * wait of io/uring_driver.c uring_park and io/epoll_driver.c ep_park) over a model of
 * the kernel's eventfd (model_eventfd), with the real run queues (runtime/run_queue.c,
 * shrunk to 4 slots) and inject queue (runtime/inject_queue.c), driven by a
 * transcription of the worker loop in runtime/worker.c (same names, same steps:
 * orca__schedule, notify_parked, next_local, pull_inject, search, stop_searching,
 * work_anywhere, park, worker_main), without what is not part of this protocol:
 * timers, the I/O itself, the cooperative budget.
 *
 * Scenarios:
 *   unpark_vs_park    a worker parks (no deadline, no other I/O: the wait ends only on
 *                     the eventfd) twice while another thread writes a message and
 *                     unparks it, twice: each park must return (else relacy reports a
 *                     deadlock) and see the message (else a data race);
 *   park_timeout      parks with a deadline (the wait may time out, or end early for
 *                     another completion) in a loop that re-checks a flag, against an
 *                     unpark: the unpark is never lost;
 *   stop_after_notify a pending unpark, then stop and a second unpark (shutdown
 *                     against a notify): the worker must see stop (a bug once, see
 *                     the scenario);
 *   inject_wakeup     two workers start idle, search, and park, while an outside
 *                     thread schedules two tasks (inject queue + notify_parked);
 *   spawn_wakeup      the same with one outside task that spawns two children from
 *                     its worker (LIFO slot, local queue, stealing).
 * In the worker scenarios the runner of the last task stops the runtime (stop, then
 * unpark every worker, as stop_workers does). A task stranded while every worker
 * sleeps means nobody stops the workers: relacy reports a deadlock. Every task must
 * run exactly once, and see what its spawner wrote (a data race otherwise).
 */
#include <relacy/relacy.hpp>

#include "idle.h"
#include "inject_queue.h"
#include "model_support.hpp"
#include "park.h"
#include "run_queue.h"

namespace {

/* ---- the drivers' parking: park.c's state machine, an eventfd, the wait ---------- */

/* The kernel's eventfd as the drivers use it. A write adds to its count and wakes the
 * wait; the wait (io_uring: the ring wait with a read of the eventfd armed; epoll:
 * epoll_wait with it in the set, edge-triggered) ends once the count is non-zero, and
 * the count is consumed (the read completes; the edge is reported) by that wait or,
 * if it ended first, by the next one. The eventfd's lock orders a write before the wait
 * that sees it (acq_rel). A deadline lets the wait time out; other I/O in flight lets
 * it end early for another completion (a spurious wake-up here). */
struct model_eventfd {
	rl::atomic<uint32_t> count;

	void init()
	{
		count.store(0, rl::mo_relaxed, $);
	}
	void write()
	{
		count.fetch_add(1, rl::mo_acq_rel, $);
		orca_model::futex_wake(&count, 1);
	}
	void wait(bool deadline, bool other_io)
	{
		/* A write's futex wake may come after an earlier wait consumed its count;
		 * the kernel wakes the wait only for a non-zero count: sleep on. */
		while (orca_model::futex_wait(&count, 0, deadline, other_io) == 0 &&
		       count.load(rl::mo_relaxed, $) == 0)
			;
		count.exchange(0, rl::mo_acq_rel, $);
	}
};

/* io/driver_shared.h's orca__parking: the parker (runtime/park.c, the real code) and
 * the eventfd. */
struct model_parking {
	orca__parker parker;
	model_eventfd eventfd;
};

void parking_init(model_parking *p)
{
	orca__parker_init(&p->parker);
	p->eventfd.init();
}

/* driver_shared.h orca__parking_unpark (and orca__parking_wake's write). */
void parking_unpark(model_parking *p)
{
	if (orca__parker_unpark(&p->parker))
		p->eventfd.write();
}

/* uring_park / ep_park, the I/O left out: step 2, the one wait, step 3. */
void driver_park(model_parking *p, bool deadline, bool other_io)
{
	if (!orca__parker_begin(&p->parker))
		return;
	p->eventfd.wait(deadline, other_io);
	orca__parker_done(&p->parker);
}

/* ---- the parking alone ------------------------------------------------------------- */

struct unpark_vs_park : rl::test_suite<unpark_vs_park, 2> {
	model_parking p;
	rl::var<int> first, second;
	void before()
	{
		parking_init(&p);
		first($) = 0;
		second($) = 0;
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			/* No deadline and no other I/O: park returns only after an unpark,
			 * and then sees what the unparker wrote before unparking. */
			driver_park(&p, false, false);
			RL_ASSERT(first($) == 1);
			driver_park(&p, false, false);
			RL_ASSERT(second($) == 1);
		} else {
			first($) = 1;
			parking_unpark(&p);
			/* One token at most: the second unpark only once the first is taken. */
			while (atomic_load_explicit(&p.parker.state, memory_order_relaxed) == 2)
				rl::yield(1, $);
			second($) = 1;
			parking_unpark(&p);
		}
	}
};

/* Parks with a deadline, with other I/O in flight (the wait may time out, or end for
 * another completion), as a worker with a timer armed does, re-checking its condition
 * in between: the unpark must not be lost whichever way each park ends. */
struct park_timeout : rl::test_suite<park_timeout, 2> {
	model_parking p;
	rl::atomic<int> sent;
	void before()
	{
		parking_init(&p);
		sent.store(0, rl::mo_relaxed, $);
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			int parks = 0;
			while (!sent.load(rl::mo_acquire, $)) {
				/* A deadline for the first two parks, then none. */
				bool deadline = parks++ < 2;
				driver_park(&p, deadline, true);
			}
		} else {
			sent.store(1, rl::mo_release, $);
			parking_unpark(&p);
		}
	}
};

/* Shutdown's stop against a notify: an unpark (a notify_parked) is pending when the
 * worker parks, and stop_workers sets stop and unparks again. The worker must see stop
 * (from its own load, or through the token it consumes): otherwise it parks again and
 * nobody will unpark it (relacy: deadlock). This is runtime.c step 4 against idle.h
 * step 2, with the parking alone.
 *
 * This found a bug, since fixed: when the CAS EMPTY -> PARKED failed because the state
 * was NOTIFIED, the token was consumed with a relaxed *store* of EMPTY, not a
 * read-modify-write, so a second unpark between that CAS and the store was erased
 * without being read, and nothing it published before unparking (stop) was ordered
 * before the worker's next load. park.c swaps there now (acquire), as Tokio's
 * parker does. */
struct stop_after_notify : rl::test_suite<stop_after_notify, 2> {
	model_parking p;
	rl::atomic<int> stop;
	void before()
	{
		parking_init(&p);
		stop.store(0, rl::mo_relaxed, $);
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			/* worker_main / park: check stop, park, check again. */
			while (!stop.load(rl::mo_acquire, $))
				driver_park(&p, false, true);
		} else {
			parking_unpark(&p);                /* a notify_parked */
			stop.store(1, rl::mo_release, $);  /* stop_workers */
			parking_unpark(&p);
		}
	}
};

/* ---- workers ----------------------------------------------------------------------- */

const unsigned NWORKERS = 2;
const int MAX_TASKS = 4;

struct model_task {
	orca__qnode qnode; /* first: the queues hand back &qnode */
	rl::var<int> payload;
	int children = 0;  /* how many it spawns when run */
};

#define ORCA_GLOBAL_INTERVAL 61
#define ORCA_MAX_LIFO_POLLS 3

struct model_worker {
	orca__run_queue rq;
	unsigned index = 0;
	model_task *current = nullptr;
	model_task *lifo = nullptr;
	unsigned lifo_polls = 0;
	bool searching = false;
	uint32_t maintenance_in = ORCA_GLOBAL_INTERVAL;
	model_parking parking; /* the driver's */
};

struct runtime {
	model_worker workers[NWORKERS];
	orca__inject inject;
	orca__idle idle;
	rl::atomic<int> stop;
	model_task tasks[MAX_TASKS];
	int ntasks = 0, total = 0;
	int runs[MAX_TASKS] = {};
	int ran = 0;

	runtime()
	{
		orca__inject_init(&inject);
		RL_ASSERT(orca__idle_init(&idle, NWORKERS) == 0);
		atomic_init(&stop, 0);
		for (unsigned i = 0; i < NWORKERS; i++) {
			orca__rq_init(&workers[i].rq);
			workers[i].index = i;
			parking_init(&workers[i].parking);
		}
	}

	model_task *new_task(int children)
	{
		RL_ASSERT(ntasks < MAX_TASKS);
		model_task *t = &tasks[ntasks];
		t->payload($) = 100 + ntasks;
		t->children = children;
		t->qnode.next = NULL;
		ntasks++;
		return t;
	}

	int id(model_task *t)
	{
		return (int)(t - tasks);
	}

	static model_task *task_of(orca__qnode *n)
	{
		return reinterpret_cast<model_task *>(n);
	}

	void finish()
	{
		RL_ASSERT(ran == total);
		for (int i = 0; i < ntasks; i++)
			RL_ASSERT(runs[i] == 1);
		for (unsigned i = 0; i < NWORKERS; i++)
			RL_ASSERT(orca__rq_len(&workers[i].rq) == 0);
		RL_ASSERT(orca__inject_pop(&inject) == NULL);
		orca__idle_destroy(&idle);
		orca__inject_destroy(&inject);
	}

	/* ---- worker.c ---------------------------------------------------------------- */

	/* (A worker always has a driver here: orca__driver_unpark.) */
	void orca__worker_unpark(model_worker *w)
	{
		parking_unpark(&w->parking);
	}

	void orca__notify_parked()
	{
		int idx = orca__idle_worker_to_notify(&idle);
		if (idx >= 0)
			orca__worker_unpark(&workers[idx]);
	}

	void push_local(model_worker *w, model_task *t)
	{
		if (!orca__rq_push_back_owner(&w->rq, &t->qnode, &inject))
			orca__panic("worker: inject queue closed while tasks are scheduled");
	}

	/* w: the worker calling, or NULL for a thread outside the runtime. */
	void orca__schedule(model_worker *w, model_task *t)
	{
		if (w) {
			if (w->current) {
				/* Woken by the running task: the LIFO slot, so it runs next. */
				model_task *prev = w->lifo;
				w->lifo = t;
				if (!prev)
					return;
				t = prev;
			}
			push_local(w, t);
			if (!w->searching && orca__rq_len(&w->rq) > 1)
				orca__notify_parked();
			return;
		}
		if (!orca__inject_push(&inject, &t->qnode))
			orca__panic("worker: inject queue closed while tasks are scheduled");
		orca__notify_parked();
	}

	model_task *pull_inject(model_worker *w)
	{
		if (orca__inject_is_empty(&inject))
			return NULL;
		uint32_t room = ORCA_RUN_QUEUE_CAP - orca__rq_len(&w->rq);
		size_t want = room / 2 + 1;
		size_t n;
		orca__qnode *chain = orca__inject_pop_n(&inject, want, &n);
		if (!chain)
			return NULL;
		orca__qnode *first = chain;
		orca__qnode *rest = orca__rq_push_chain_owner(&w->rq, first->next);
		if (rest) {
			orca__qnode *last = rest;
			size_t k = 1;
			while (last->next) {
				last = last->next;
				k++;
			}
			orca__inject_push_batch(&inject, rest, last, k);
		}
		first->next = NULL;
		return task_of(first);
	}

	model_task *pop_local(model_worker *w)
	{
		if (w->lifo) {
			model_task *t = w->lifo;
			w->lifo = NULL;
			if (w->lifo_polls < ORCA_MAX_LIFO_POLLS) {
				w->lifo_polls++;
				return t;
			}
			push_local(w, t);
		}
		w->lifo_polls = 0;
		orca__qnode *n = orca__rq_pop_owner(&w->rq);
		return n ? task_of(n) : NULL;
	}

	/* The maintenance tick's driver poll and timers left out. */
	model_task *next_local(model_worker *w)
	{
		if (--w->maintenance_in == 0) {
			w->maintenance_in = ORCA_GLOBAL_INTERVAL;
			model_task *t = pull_inject(w);
			if (t)
				return t;
		}
		model_task *t = pop_local(w);
		return t ? t : pull_inject(w);
	}

	model_task *search(model_worker *w)
	{
		if (!w->searching) {
			if (!orca__idle_to_searching(&idle))
				return NULL;
			w->searching = true;
		}
		unsigned n = NWORKERS;
		unsigned start = rl::rand(n); /* next_rand(w) % n: the model tries every start */
		for (unsigned i = 0; i < n; i++) {
			model_worker *victim = &workers[(start + i) % n];
			if (victim == w)
				continue;
			orca__qnode *t = orca__rq_steal_into(&victim->rq, &w->rq);
			if (t)
				return task_of(t);
		}
		return pull_inject(w);
	}

	void stop_searching(model_worker *w)
	{
		if (!w->searching)
			return;
		w->searching = false;
		if (orca__idle_from_searching(&idle))
			orca__notify_parked();
	}

	bool work_anywhere()
	{
		if (!orca__inject_is_empty(&inject))
			return true;
		for (unsigned i = 0; i < NWORKERS; i++)
			if (!orca__rq_is_empty(&workers[i].rq))
				return true;
		return false;
	}

	void park(model_worker *w)
	{
		bool was_searching = w->searching;
		w->searching = false;
		if (orca__idle_to_parked(&idle, w->index, was_searching) && work_anywhere())
			orca__notify_parked(); /* idle.h step 3 */
		for (;;) {
			if (atomic_load_explicit(&stop, memory_order_acquire))
				break;
			/* orca__driver_park: no timer armed, maybe other I/O in flight. */
			driver_park(&w->parking, false, true);
			if (w->lifo || !orca__rq_is_empty(&w->rq)) {
				/* Own work: idle.h step 4, then notify_after_reap. */
				w->searching = !orca__idle_unpark_by_id(&idle, w->index);
				if (!w->searching && orca__rq_len(&w->rq) + (w->lifo ? 1u : 0u) > 1)
					orca__notify_parked();
				break;
			}
			if (!orca__idle_is_parked(&idle, w->index)) {
				w->searching = true; /* unparked by notify_parked */
				break;
			}
			if (atomic_load_explicit(&stop, memory_order_acquire))
				break;
		}
	}

	/* orca__task_run, for a task whose body counts itself and spawns its children. */
	void task_run(model_worker *w, model_task *t)
	{
		w->current = t;
		int i = id(t);
		RL_ASSERT(t->payload($) == 100 + i);
		runs[i]++;
		for (int c = 0; c < t->children; c++)
			orca__schedule(w, new_task(0));
		w->current = NULL;
		if (++ran == total)
			stop_workers();
	}

	/* runtime.c step 4, done by whoever ran the last task. */
	void stop_workers()
	{
		atomic_store_explicit(&stop, 1, memory_order_release);
		for (unsigned i = 0; i < NWORKERS; i++)
			orca__worker_unpark(&workers[i]);
	}

	void worker_main(model_worker *w)
	{
		while (!atomic_load_explicit(&stop, memory_order_acquire)) {
			/* (w->handoff: only stackful switching sets it.) */
			model_task *t = next_local(w);
			/* (The second next_local after the driver poll and timers: left out.) */
			if (!t)
				t = search(w);
			if (t) {
				stop_searching(w);
				task_run(w, t);
				continue;
			}
			park(w);
		}
		/* Shutdown: a parked-list entry would keep counting this worker as parked. */
		orca__idle_unpark_by_id(&idle, w->index);
	}
};

/* Two workers, idle from the start, against an outside thread scheduling two tasks. */
struct inject_wakeup : rl::test_suite<inject_wakeup, NWORKERS + 1> {
	runtime rt;
	model_task *a = nullptr, *b = nullptr;
	void before()
	{
		rt.total = 2;
		a = rt.new_task(0);
		b = rt.new_task(0);
	}
	void thread(unsigned index)
	{
		if (index < NWORKERS) {
			rt.worker_main(&rt.workers[index]);
		} else {
			rt.orca__schedule(nullptr, a);
			rt.orca__schedule(nullptr, b);
		}
	}
	void after()
	{
		rt.finish();
	}
};

/* One outside task that spawns two children from its worker: the first goes to the
 * LIFO slot, the second pushes it to the local queue, where the other worker may
 * steal it. */
struct spawn_wakeup : rl::test_suite<spawn_wakeup, NWORKERS + 1> {
	runtime rt;
	model_task *a = nullptr;
	void before()
	{
		rt.total = 3;
		a = rt.new_task(2);
	}
	void thread(unsigned index)
	{
		if (index < NWORKERS)
			rt.worker_main(&rt.workers[index]);
		else
			rt.orca__schedule(nullptr, a);
	}
	void after()
	{
		rt.finish();
	}
};

} // namespace

int main(int argc, char **argv)
{
	return orca_model::run(
		argc, argv, "park",
		{
			orca_model::make_scenario<unpark_vs_park>("unpark_vs_park", 3, 1000000),
			orca_model::make_scenario<park_timeout>("park_timeout", 3, 1000000),
		},
		{
			/* Run on their own (ctest model_park_stop_after_notify,
			 * model_park_workers): the worker scenarios take seconds. */
			orca_model::make_scenario<stop_after_notify>("stop_after_notify", 3, 300000),
			orca_model::make_scenario<inject_wakeup>("inject_wakeup", 0, 500000),
			orca_model::make_scenario<spawn_wakeup>("spawn_wakeup", 0, 500000),
		});
}
