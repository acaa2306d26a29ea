/* Relacy model of the semaphore: sync/sem.c (the batch semaphore under Semaphore,
 * Mutex, RwLock and OnceCell: both fast paths, the FIFO of waiters, serving in
 * batches, close, and the acquire future's poll and drop), sync/waitq.h (waiter nodes
 * and their hand-off, batches of 2 wakers as in every test build) and sync/lock.c (the
 * waiter list's lock; its futex is relacy's), compiled against relacy
 * (relacy_c11.hpp). The tasks awaiting the acquire futures are threads, each polling
 * with a waker like runtime/thread_waker.c's (a flag and a futex: a wake before the
 * sleep is kept); a task may also be polled again without a wake-up, as a task is
 * when something else it awaits fires (a select, a timeout's timer).
 *
 * What must hold, in every interleaving:
 *  - no permit duplicated: the holders never hold more permits than the semaphore
 *    has; no permit lost: at the end every permit is back (available == initial,
 *    nothing queued), and a task waiting for a permit that is free is served;
 *  - what a holder wrote before releasing is seen by whoever acquires the permits
 *    next (a data race otherwise), also by a waiter that sees itself served before
 *    its wake-up arrives;
 *  - no lost wake-up: relacy reports a deadlock if a task sleeps for ever;
 *  - every waker clone the semaphore keeps is woken or dropped (none leaks).
 *
 * Scenarios:
 *   one_permit    1 permit, 3 tasks: acquire, update the data, release; two of them
 *                 may be polled again without a wake-up;
 *   batch         2 permits; one task wants both (it writes), two want one each
 *                 (they read): FIFO (a head that does not fit holds back the rest),
 *                 serving several waiters in one release;
 *   drop_granted  no permit; one task releases one, another gives up its acquire (a
 *                 timeout, an abort) at any point, racing with that release, which
 *                 may already have granted it the permit: a third task must get it;
 *   close_vs_wait no permit; two tasks wait, a third releases one and closes: each
 *                 gets the permit or -EPIPE, at most one gets it, and its release
 *                 after the close brings it back;
 *   release_many  no permit; three tasks wait for one each, a fourth releases three
 *                 at once: all three are served, in more than one wake batch.
 */
#include <relacy/relacy.hpp>

#include "model_support.hpp"
#include "observe.h"
#include "sem.h"

/* ---- what sem.c calls outside sync/ ------------------------------------------------ */

/* The task dump's note (runtime/observe.h): nothing to record here. */
void orca__note_wait(const orca_context *, const char *, enum orca__wait_fmt, int64_t)
{
}

namespace {

/* ---- tasks ------------------------------------------------------------------------- */

/* A task awaiting futures: its waker sets a flag and wakes its futex, as
 * runtime/thread_waker.c does for a plain thread (a task's waker makes it runnable;
 * either way the wake-up is kept until the task looks). */
struct model_task {
	rl::atomic<uint32_t> woken;
	rl::atomic<int> clones; /* clones of its waker alive */
	int repolls;            /* polls it may still get without a wake-up */

	void init(int polls_without_wake)
	{
		woken.store(0, rl::mo_relaxed, $);
		clones.store(0, rl::mo_relaxed, $);
		repolls = polls_without_wake;
	}
};

orca_waker task_clone(const void *data);
void task_wake(const void *data);
void task_wake_by_ref(const void *data);
void task_drop(const void *data);

const orca_waker_vtable task_waker_vtable = {task_clone, task_wake, task_wake_by_ref, task_drop};

model_task *task_of(const void *data)
{
	return static_cast<model_task *>(const_cast<void *>(data));
}

orca_waker task_clone(const void *data)
{
	task_of(data)->clones.fetch_add(1, rl::mo_relaxed, $);
	return orca_waker{&task_waker_vtable, data};
}

void task_wake_by_ref(const void *data)
{
	model_task *t = task_of(data);
	/* Release: what the waker's caller did is seen by the woken task. */
	if (t->woken.exchange(1, rl::mo_release, $) == 0)
		orca_model::futex_wake(&t->woken, 1);
}

void task_drop(const void *data)
{
	task_of(data)->clones.fetch_sub(1, rl::mo_relaxed, $);
}

void task_wake(const void *data)
{
	task_wake_by_ref(data);
	task_drop(data);
}

} // namespace

/* The waker helpers of runtime/await.c, for the one kind of waker in this model (the
 * tasks'); an empty waker (no vtable) does nothing, as there. */
orca_waker orca_waker_clone(const orca_waker *w)
{
	return w && w->vtable ? task_clone(w->data) : orca_waker{nullptr, nullptr};
}

void orca_waker_wake(orca_waker *w)
{
	orca_waker x = *w;
	*w = orca_waker{nullptr, nullptr};
	if (x.vtable)
		task_wake(x.data);
}

void orca_waker_wake_by_ref(const orca_waker *w)
{
	if (w && w->vtable)
		task_wake_by_ref(w->data);
}

void orca_waker_drop(orca_waker *w)
{
	orca_waker x = *w;
	*w = orca_waker{nullptr, nullptr};
	if (x.vtable)
		task_drop(x.data);
}

bool orca_waker_will_wake(const orca_waker *a, const orca_waker *b)
{
	return a && b && a->vtable && a->vtable == b->vtable && a->data == b->data;
}

namespace {

/* Sleeps until the task's waker was woken (a wake-up before the sleep counts). No
 * spurious wake-ups: the loop would only sleep again, and they multiply the
 * interleavings of the bounded search. */
void task_sleep(model_task *t)
{
	while (t->woken.exchange(0, rl::mo_acquire, $) == 0)
		orca_model::futex_wait(&t->woken, 0, false, false);
}

/* One poll of f with the task's waker. */
orca_poll task_poll(model_task *t, orca_future *f, intptr_t *out)
{
	orca_waker w = {&task_waker_vtable, t};
	orca_context cx = {&w};
	return f->vtable->poll(f, &cx, out);
}

/* orca_await: polls f until it is ready, sleeping in between; while it has repolls
 * left the task may instead be polled again at once. */
intptr_t task_await(model_task *t, orca_future *f)
{
	intptr_t out = 0;
	while (task_poll(t, f, &out) == ORCA_PENDING) {
		if (t->repolls > 0 && rl::rand(2)) {
			t->repolls--;
			continue;
		}
		task_sleep(t);
	}
	return out;
}

/* ---- the semaphore and its holders ----------------------------------------------- */

struct world {
	orca__sem sem;
	uint64_t permits = 0; /* the semaphore's, all told */
	rl::atomic<uint64_t> held; /* by the holders, right now */
	rl::var<int> data;         /* what the holders read and write */

	void init(uint64_t initial, uint64_t total)
	{
		orca__sem_init(&sem, initial);
		permits = total;
		held.store(0, rl::mo_relaxed, $);
		data($) = 0;
	}

	/* Acquires n permits for task t: the acquire future, awaited. */
	intptr_t acquire(model_task *t, uint64_t n)
	{
		orca__sem_acquire f;
		orca__sem_acquire_init(&f, &sem, n, "semaphore");
		return task_await(t, &f.base);
	}

	void hold(uint64_t n)
	{
		uint64_t now = held.fetch_add(n, rl::mo_relaxed, $) + n;
		RL_ASSERT(now <= permits);
	}

	void unhold(uint64_t n)
	{
		held.fetch_sub(n, rl::mo_relaxed, $);
	}

	void release(uint64_t n)
	{
		unhold(n);
		RL_ASSERT(orca__sem_release(&sem, n) == 0);
	}

	/* Every permit back, nobody queued. */
	void check_settled()
	{
		RL_ASSERT(held.load(rl::mo_relaxed, $) == 0);
		RL_ASSERT(orca__sem_available(&sem) == permits);
		uint64_t st = atomic_load_explicit(&sem.state, memory_order_relaxed);
		RL_ASSERT(!(st & ORCA__SEM_QUEUED));
		RL_ASSERT(sem.q.head == NULL && sem.q.tail == NULL);
	}
};

/* What every scenario has: the semaphore and its holders' data, and three tasks. */
template <class Scenario, unsigned Threads> struct sem_test : rl::test_suite<Scenario, Threads> {
	world w;
	model_task tasks[3];

	/* initial permits, all there will be, polls a task may get without a wake-up */
	void setup(uint64_t initial, uint64_t total, int repolls)
	{
		w.init(initial, total);
		for (model_task &t : tasks)
			t.init(repolls);
	}

	/* Every permit back, nobody queued, no waker clone left. */
	void check_settled()
	{
		w.check_settled();
		for (model_task &t : tasks)
			RL_ASSERT(t.clones.load(rl::mo_relaxed, $) == 0);
	}
};

/* ---- scenarios --------------------------------------------------------------------- */

struct one_permit : sem_test<one_permit, 3> {
	void before()
	{
		setup(1, 1, 2);
		tasks[0].repolls = 0;
	}
	void thread(unsigned index)
	{
		RL_ASSERT(w.acquire(&tasks[index], 1) == 0);
		w.hold(1);
		w.data($) = w.data($) + 1;
		w.release(1);
	}
	void after()
	{
		RL_ASSERT(w.data($) == 3);
		check_settled();
	}
};

struct batch : sem_test<batch, 3> {
	void before()
	{
		setup(2, 2, 1);
	}
	void thread(unsigned index)
	{
		uint64_t n = index == 0 ? 2 : 1;
		RL_ASSERT(w.acquire(&tasks[index], n) == 0);
		w.hold(n);
		if (n == 2)
			w.data($) = w.data($) + 10; /* all the permits: alone */
		else
			RL_ASSERT(w.data($) == 0 || w.data($) == 10);
		w.release(n);
	}
	void after()
	{
		RL_ASSERT(w.data($) == 10);
		check_settled();
	}
};

struct drop_granted : sem_test<drop_granted, 3> {
	void before()
	{
		setup(0, 1, 0);
	}
	void thread(unsigned index)
	{
		model_task *t = &tasks[index];
		if (index == 0) {
			/* Brings the permit (as a holder that releases it would). */
			w.data($) = 1;
			w.hold(1);
			w.release(1);
		} else if (index == 1) {
			/* Polls once or twice (sleeping for a wake-up in between, or not),
			 * then gives up: the future is dropped unless it became ready. */
			orca__sem_acquire f;
			orca__sem_acquire_init(&f, &w.sem, 1, "semaphore");
			intptr_t out = 0;
			orca_poll p = task_poll(t, &f.base, &out);
			if (p == ORCA_PENDING && rl::rand(2)) {
				if (rl::rand(2))
					task_sleep(t);
				p = task_poll(t, &f.base, &out);
			}
			if (p == ORCA_PENDING) {
				f.base.vtable->drop(&f.base);
				return;
			}
			RL_ASSERT(out == 0);
			w.hold(1);
			RL_ASSERT(w.data($) == 1);
			w.release(1);
		} else {
			RL_ASSERT(w.acquire(t, 1) == 0);
			w.hold(1);
			RL_ASSERT(w.data($) == 1);
			w.release(1);
		}
	}
	void after()
	{
		check_settled();
	}
};

struct close_vs_wait : sem_test<close_vs_wait, 3> {
	rl::atomic<int> got;
	void before()
	{
		setup(0, 1, 1);
		got.store(0, rl::mo_relaxed, $);
	}
	void thread(unsigned index)
	{
		if (index == 2) {
			w.data($) = 1;
			w.hold(1);
			w.release(1);
			orca__sem_close(&w.sem);
			return;
		}
		/* The winner keeps the permit: nobody else may get it. */
		intptr_t r = w.acquire(&tasks[index], 1);
		RL_ASSERT(r == 0 || r == -EPIPE);
		if (r == 0) {
			RL_ASSERT(got.fetch_add(1, rl::mo_relaxed, $) == 0);
			w.hold(1);
			RL_ASSERT(w.data($) == 1);
		}
	}
	void after()
	{
		uint64_t st = atomic_load_explicit(&w.sem.state, memory_order_relaxed);
		RL_ASSERT(st & ORCA__SEM_CLOSED);
		if (got.load(rl::mo_relaxed, $))
			w.release(1); /* still works after close */
		check_settled();
	}
};

struct release_many : sem_test<release_many, 4> {
	void before()
	{
		setup(0, 3, 0);
	}
	void thread(unsigned index)
	{
		if (index == 3) {
			w.hold(3);
			w.release(3);
			return;
		}
		/* Each keeps its permit: all three are served by the one release. */
		RL_ASSERT(w.acquire(&tasks[index], 1) == 0);
		w.hold(1);
	}
	void after()
	{
		w.release(3);
		check_settled();
	}
};

} // namespace

int main(int argc, char **argv)
{
	using orca_model::make_scenario;
	/* Bounded passes of 1 preemption (2 cost minutes), then random ones. */
	return orca_model::run(argc, argv, "sem",
			       {
				       make_scenario<one_permit>("one_permit", 1, 200000),
				       make_scenario<batch>("batch", 1, 200000),
				       make_scenario<drop_granted>("drop_granted", 1, 200000),
				       make_scenario<close_vs_wait>("close_vs_wait", 1, 200000),
				       /* 4 threads: 1 preemption is 5 million already. */
				       make_scenario<release_many>("release_many", 0, 200000),
			       });
}
