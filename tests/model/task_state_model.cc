/* Relacy model of the task state word: runtime/task_state.h itself (every transition,
 * compiled against relacy by relacy_c11.hpp), driven by a line-by-line transcription of
 * what runtime/task.c does with the transitions' outcomes (same function names, same
 * steps; task.c itself needs the whole runtime to compile). The queue a SUBMIT goes to
 * is the real inject queue (runtime/inject_queue.c), as for a wake from outside the
 * runtime; a counting semaphore stands for the worker's park.
 *
 * The task is a stackless task (yield_* scenarios: one whose first poll ends in a
 * yield, as orca_yield does for a stackful one). Its future's first poll hands a clone of the task's
 * waker to a source (another thread) and returns PENDING; the source writes a message
 * (a plain variable) and wakes the task; the next poll reads the message and is READY.
 * Only that wake can cause a second poll, so the message checks the runtime's promise
 * that what a waker's caller wrote before waking is visible to the poll that follows.
 * The scenarios:
 *   wake_vs_poll          two workers run the task while its source wakes it by value;
 *   wake_by_ref_vs_poll   the same with a wake by reference (then the clone dropped);
 *   two_wakers            two sources wake by reference at once (the future is ready
 *                         when both have fired), then drop their clones;
 *   join_vs_complete      a joiner waits on the join handle while the task completes,
 *                         then reads the result and drops the handle;
 *   abort_vs_join         abort races with the task's runs and with a joiner;
 *   drop_vs_complete      the handle is dropped right after setting a join waker, while
 *                         the task completes;
 *   yield_vs_wake         the task's first poll hands its waker over and yields (it
 *                         is queued again still RUNNING, task.c's ORCA_EXIT_YIELD),
 *                         while its source wakes it; two workers; ready once fired;
 *   yield_vs_abort        the same yield while abort races with its runs and a joiner;
 *   join_replace_vs_complete (not in the default run: it fails, see below) the joiner
 *                         polls the handle again with another waker (join waker
 *                         replaced) while the task completes.
 * What must hold in every interleaving:
 *  - no lost wake-up: the task completes (else a worker or the joiner sleeps forever:
 *    relacy reports a deadlock);
 *  - never run twice at once, and each run sees the previous one's writes (a plain
 *    variable written by every poll: relacy reports a data race otherwise);
 *  - the waker's message, the task's result and the join waker slot are visible to
 *    whoever reads them next (data races otherwise);
 *  - the task is freed exactly once, after its last use (the free writes every field:
 *    a use not ordered before it is a data race), and every join waker clone dropped
 *    once;
 *  - the runtime's own checks (orca__panic in task_state.h) never fire.
 *
 * Known bug (join_replace_vs_complete, registered as a test that expects it): a join
 * handle polled with a different waker than the one in its slot calls
 * orca__st_unset_join_waker; if the task completes in between (transition_to_complete,
 * wake the old join waker, unset_join_waker_after_complete clears JOIN_WAKER), the
 * unset sees COMPLETE without JOIN_WAKER and panics "join waker unset without interest
 * or waker", because it checks JOIN_WAKER before COMPLETE. Tokio's unset_waker checks
 * is_complete() first for this reason.
 */
#include <relacy/relacy.hpp>

#include "inject_queue.h"
#include "model_support.hpp"
#include "task_state.h"

namespace {

/* The parts of orca__task (runtime/scheduler.h) the protocol touches. */
struct model_task {
	orca__qnode qnode; /* first, so the queue's node is the task (container_of) */
	_Atomic(uint64_t) state;
	rl::var<int> result;       /* intptr_t result: written before COMPLETE */
	rl::var<int> join_waker;   /* orca_waker join_waker: 0 empty, 1 a clone of the joiner's */
	rl::var<int> polls;        /* the future's own state: every poll writes it */
	rl::var<int> future_cancelling;
	bool freed = false;        /* bookkeeping, not shared state of the runtime */
};

enum future_kind {
	READY_AFTER_WAKE,        /* registers one source, ready on the next poll */
	READY_WHEN_BOTH_FIRED,   /* registers two sources, ready when both fired */
	READY_WHEN_ONE_FIRED,    /* registers one source, ready once it fired (own sync) */
	PENDING_UNTIL_CANCELLED, /* registers nothing, ends only by abort */
};

/* The world of one iteration: the task, its queue, the workers' and the joiner's
 * parking, the waker's source, and counts to check at the end. */
struct world {
	model_task t;
	future_kind kind = READY_AFTER_WAKE;
	orca__inject inject;
	sem_t work;             /* one post per queued task, plus one per worker at the end */
	sem_t joiner_wake;      /* the joiner's waker */
	sem_t registered;       /* the first poll handed a waker to the source(s) */
	unsigned nworkers = 1;
	bool yield_first = false; /* the first poll ends in a yield */
	bool yielding = false;    /* set by that poll for orca__task_run */
	rl::var<int> message;   /* what the source wrote before waking */
	rl::atomic<int> fired;  /* two_wakers: how many sources fired (their own sync) */
	int join_waker_clones = 0;
	int completions = 0;
	int runs = 0;

	world()
	{
		orca__inject_init(&inject);
		sem_init(&work, 0, 0);
		sem_init(&joiner_wake, 0, 0);
		sem_init(&registered, 0, 0);
		fired.store(0, rl::mo_relaxed, $);
		message($) = 0;
	}

	void start(bool handle, future_kind k, unsigned workers)
	{
		kind = k;
		nworkers = workers;
		/* task_header_init */
		atomic_init(&t.state, orca__st_initial(handle));
		t.result($) = 0;
		t.join_waker($) = 0;
		t.polls($) = 0;
		t.future_cancelling($) = 0;
		t.qnode.next = NULL;
		/* task_launch: owned_insert, then orca__schedule */
		orca__schedule(&t);
	}

	void finish()
	{
		RL_ASSERT(completions == 1);
		RL_ASSERT(t.freed);
		RL_ASSERT(join_waker_clones == 0);
		RL_ASSERT(orca__inject_pop(&inject) == NULL);
		orca__inject_destroy(&inject);
		sem_destroy(&work);
		sem_destroy(&joiner_wake);
		sem_destroy(&registered);
	}

	/* sem_wait may fail spuriously (EINTR), as the real one can. */
	static void wait(sem_t *s)
	{
		while (sem_wait(s) != 0) {
		}
	}

	void alive(model_task *x)
	{
		RL_ASSERT(!x->freed); /* a use after free */
	}

	/* ---- worker.c: orca__schedule from outside the runtime, and the loop ------------- */

	void orca__schedule(model_task *x)
	{
		alive(x);
		if (!orca__inject_push(&inject, &x->qnode))
			orca__panic("worker: inject queue closed while tasks are scheduled");
		sem_post(&work); /* orca__notify_parked */
	}

	void worker_main()
	{
		for (;;) {
			wait(&work);
			orca__qnode *n = orca__inject_pop(&inject);
			if (!n)
				return; /* stop: the task is complete */
			orca__task_run(reinterpret_cast<model_task *>(n));
		}
	}

	/* ---- task.c -------------------------------------------------------------------- */

	void task_waker_wake(model_task *x)
	{
		alive(x);
		switch (orca__st_transition_to_notified_by_val(&x->state)) {
		case ORCA_ST_SUBMIT:
			orca__schedule(x);
			break;
		case ORCA_ST_DEALLOC:
			task_free(x);
			break;
		case ORCA_ST_DO_NOTHING:
			break;
		}
	}

	void task_waker_wake_by_ref(model_task *x)
	{
		alive(x);
		if (orca__st_transition_to_notified_by_ref(&x->state) == ORCA_ST_SUBMIT)
			orca__schedule(x);
	}

	void task_waker_clone(model_task *x)
	{
		alive(x);
		orca__st_ref_inc(&x->state);
	}

	void orca__task_drop_ref(model_task *x)
	{
		alive(x);
		if (orca__st_ref_dec(&x->state, 1))
			task_free(x);
	}

	/* scheduler.h */
	bool orca__task_cancel_requested(model_task *x)
	{
		return atomic_load_explicit(&x->state, memory_order_acquire) & ORCA_ST_CANCELLED;
	}

	/* The future. Its first poll registers the task's waker with the source(s): a
	 * clone each (a new reference), handed over through `registered`; then it records
	 * that it waits (a write after the hand-over, which only the runtime orders before
	 * the next poll). */
	bool future_poll(model_task *x)
	{
		int n = x->polls($) + 1;
		if (n == 1 && yield_first)
			yielding = true;
		if (kind == PENDING_UNTIL_CANCELLED) {
			x->polls($) = n;
			return false;
		}
		if (n == 1) {
			int sources = kind == READY_WHEN_BOTH_FIRED ? 2 : 1;
			for (int i = 0; i < sources; i++) {
				task_waker_clone(x);
				sem_post(&registered);
			}
			x->polls($) = n;
			return false;
		}
		x->polls($) = n;
		if (kind == READY_AFTER_WAKE) {
			/* Only the source's wake can have caused this poll. */
			RL_ASSERT(message($) == 42);
			return true;
		}
		/* A read-modify-write, not a load: a wake that finds the task already
		 * NOTIFIED changes nothing in the state word (DO_NOTHING), so it publishes
		 * nothing; an acquire load here could still read the count from before that
		 * wake, and the task would wait for a wake that already happened. A future
		 * must synchronize with its wakers itself (Tokio's AtomicWaker does the same). */
		return fired.fetch_add(0, rl::mo_acq_rel, $) == (kind == READY_WHEN_BOTH_FIRED ? 2 : 1);
	}

	bool stackless_poll(model_task *x)
	{
		if (!x->future_cancelling($) && orca__task_cancel_requested(x)) {
			/* No cancel hook: the future is dropped, the task ends cancelled. */
			x->result($) = -ECANCELED;
			return true;
		}
		if (future_poll(x)) {
			x->result($) = 7;
			return true;
		}
		return false;
	}

	void orca__task_run(model_task *x)
	{
		alive(x);
		runs++;
		orca__st_transition_to_running(&x->state);
		bool done = stackless_poll(x);
		if (!done && yielding) {
			/* ORCA_EXIT_YIELD: back to the queue, still RUNNING (no transition). */
			yielding = false;
			if (!orca__inject_push(&inject, &x->qnode))
				orca__panic("task: run queue overflow refused while the runtime runs");
			sem_post(&work);
			return;
		}
		task_after_run(x, done);
	}

	/* ORCA_EXIT_DONE or ORCA_EXIT_PENDING. */
	void task_after_run(model_task *x, bool done)
	{
		if (done) {
			task_complete(x);
			return;
		}
		if (orca__st_transition_to_idle(&x->state) == ORCA_ST_IDLE_NOTIFIED) {
			/* Woken while it ran: back to the queue (the worker's own, in the
			 * runtime; here the one queue). */
			orca__schedule(x);
		}
	}

	void task_complete(model_task *x)
	{
		uint64_t prev = orca__st_transition_to_complete(&x->state);
		completions++;
		if ((prev & ORCA_ST_JOIN_INTEREST) && (prev & ORCA_ST_JOIN_WAKER)) {
			orca_waker_wake_by_ref_slot(x);
			uint64_t s = orca__st_unset_join_waker_after_complete(&x->state);
			if (!(s & ORCA_ST_JOIN_INTEREST))
				orca_waker_drop_slot(x);
		}
		/* orca__owned_remove: the owned list's lock, not part of this protocol. */
		/* The owned list's reference and the queue entry's. */
		bool last = orca__st_ref_dec(&x->state, 2);
		/* The model's stop: nothing can queue a completed task again. */
		for (unsigned i = 0; i < nworkers; i++)
			sem_post(&work);
		if (last)
			task_free(x);
	}

	void task_free(model_task *x)
	{
		RL_ASSERT(!x->freed); /* freed twice */
		/* free() reuses the memory: every earlier use must happen-before this. */
		x->result($) = -1;
		x->join_waker($) = -1;
		x->polls($) = -1;
		x->future_cancelling($) = -1;
		x->freed = true;
	}

	/* ---- the joiner's waker (a clone in the slot, or the joiner's own) ---------------- */

	void orca_waker_clone_into_slot(model_task *x)
	{
		join_waker_clones++;
		x->join_waker($) = 1;
	}
	void orca_waker_drop_slot(model_task *x)
	{
		if (x->join_waker($) == 1) {
			join_waker_clones--;
			RL_ASSERT(join_waker_clones >= 0);
		}
		x->join_waker($) = 0;
	}
	void orca_waker_wake_by_ref_slot(model_task *x)
	{
		if (x->join_waker($) == 1)
			sem_post(&joiner_wake);
	}
	bool orca_waker_will_wake_slot(model_task *x, bool same_waker)
	{
		return x->join_waker($) == 1 && same_waker;
	}

	/* join_poll; same_waker says whether cx's waker is the one in the slot (a joiner
	 * that moved to another task polls with a new waker). */
	bool join_poll(model_task *x, bool same_waker, int *status, int *value)
	{
		alive(x);
		uint64_t snap = atomic_load_explicit(&x->state, memory_order_acquire);
		if (!(snap & ORCA_ST_COMPLETE)) {
			if (!(snap & ORCA_ST_JOIN_WAKER)) {
				/* The slot is ours: fill it, then hand it to the task side. */
				orca_waker_clone_into_slot(x);
				if (orca__st_set_join_waker(&x->state, &snap))
					return false;
				orca_waker_drop_slot(x);
			} else if (orca_waker_will_wake_slot(x, same_waker)) {
				return false;
			} else if (orca__st_unset_join_waker(&x->state, &snap)) {
				orca_waker_drop_slot(x);
				orca_waker_clone_into_slot(x);
				if (orca__st_set_join_waker(&x->state, &snap))
					return false;
				orca_waker_drop_slot(x);
			}
		}
		*status = (snap & ORCA_ST_CANCELLED) ? -ECANCELED : 0;
		*value = x->result($);
		return true;
	}

	void orca_detach(model_task *x)
	{
		alive(x);
		if (orca__st_transition_to_join_handle_dropped(&x->state))
			orca_waker_drop_slot(x);
		orca__task_drop_ref(x);
	}

	void orca_abort(model_task *x)
	{
		alive(x);
		if (orca__st_transition_to_notified_and_cancel(&x->state) == ORCA_ST_SUBMIT)
			orca__schedule(x);
	}

	/* orca_join from a plain thread (orca__block_on_future): poll, sleep until the
	 * join waker fires, poll again. With replace, the handle was first polled from
	 * somewhere else (say an orca_await_timeout in another task that timed out): one
	 * poll with that other waker, then the joiner's polls replace the waker in the
	 * slot (unset_join_waker, then set_join_waker). */
	void join(model_task *x, bool replace, int *status, int *value)
	{
		if (replace && join_poll(x, false, status, value))
			return;
		for (;;) {
			if (join_poll(x, !replace, status, value))
				return;
			replace = false;
			wait(&joiner_wake);
		}
	}

	/* A source: wait for the waker, write the message, wake (by value, or by
	 * reference and then drop the clone). */
	void source_fire(bool by_ref = false)
	{
		wait(&registered);
		message($) = 42;
		if (by_ref) {
			task_waker_wake_by_ref(&t);
			orca__task_drop_ref(&t);
		} else {
			task_waker_wake(&t);
		}
	}

	/* two_wakers: a source with its own acquire/release flag, waking by reference. */
	void source_fire_by_ref()
	{
		wait(&registered);
		fired.fetch_add(1, rl::mo_acq_rel, $);
		task_waker_wake_by_ref(&t);
		orca__task_drop_ref(&t);
	}
};

/* Two workers run the task while its source wakes it, by value or by reference. */
template <bool by_ref> struct wake_suite : rl::test_suite<wake_suite<by_ref>, 3> {
	world w;
	void before()
	{
		w.start(false, READY_AFTER_WAKE, 2);
	}
	void thread(unsigned index)
	{
		if (index < 2)
			w.worker_main();
		else
			w.source_fire(by_ref);
	}
	void after()
	{
		w.finish();
	}
};
typedef wake_suite<false> wake_vs_poll;
typedef wake_suite<true> wake_by_ref_vs_poll;

/* Two sources wake by reference at once and drop their clones. */
struct two_wakers : rl::test_suite<two_wakers, 3> {
	world w;
	void before()
	{
		w.start(false, READY_WHEN_BOTH_FIRED, 1);
	}
	void thread(unsigned index)
	{
		if (index == 0)
			w.worker_main();
		else
			w.source_fire_by_ref();
	}
	void after()
	{
		w.finish();
	}
};

/* A joiner waits on the handle while the task is woken and completes; then it reads
 * the result and drops the handle. With replace (join_replace_vs_complete), its
 * polls after the first use another waker. */
template <bool replace> struct join_suite : rl::test_suite<join_suite<replace>, 3> {
	world w;
	int status = 1, value = 0;
	void before()
	{
		w.start(true, READY_AFTER_WAKE, 1);
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			w.worker_main();
		} else if (index == 1) {
			w.source_fire();
		} else {
			w.join(&w.t, replace, &status, &value);
			RL_ASSERT(status == 0 && value == 7);
			w.orca_detach(&w.t);
		}
	}
	void after()
	{
		w.finish();
	}
};
typedef join_suite<false> join_vs_complete;
typedef join_suite<true> join_replace_vs_complete;

/* A task that only ends by cancellation: abort races with its runs and a joiner.
 * With yield_first (yield_vs_abort), its first poll yields. */
template <bool yield_first> struct abort_suite : rl::test_suite<abort_suite<yield_first>, 3> {
	world w;
	int status = 1, value = 0;
	void before()
	{
		w.yield_first = yield_first;
		w.start(true, PENDING_UNTIL_CANCELLED, 1);
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			w.worker_main();
		} else if (index == 1) {
			w.orca_abort(&w.t);
		} else {
			w.join(&w.t, false, &status, &value);
			RL_ASSERT(status == -ECANCELED && value == -ECANCELED);
			w.orca_detach(&w.t);
		}
	}
	void after()
	{
		w.finish();
	}
};
typedef abort_suite<false> abort_vs_join;
typedef abort_suite<true> yield_vs_abort;

/* The first poll yields (queued again still RUNNING) while the source wakes the task:
 * two workers, one source. */
struct yield_vs_wake : rl::test_suite<yield_vs_wake, 3> {
	world w;
	void before()
	{
		w.yield_first = true;
		w.start(false, READY_WHEN_ONE_FIRED, 2);
	}
	void thread(unsigned index)
	{
		if (index < 2)
			w.worker_main();
		else
			w.source_fire_by_ref();
	}
	void after()
	{
		w.finish();
	}
};

/* The handle is dropped right after its first poll set a join waker, while the task
 * is woken and completes: exactly one side drops the waker in the slot. */
struct drop_vs_complete : rl::test_suite<drop_vs_complete, 3> {
	world w;
	void before()
	{
		w.start(true, READY_AFTER_WAKE, 1);
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			w.worker_main();
		} else if (index == 1) {
			w.source_fire();
		} else {
			int status, value;
			w.join_poll(&w.t, true, &status, &value);
			w.orca_detach(&w.t);
		}
	}
	void after()
	{
		w.finish();
	}
};

} // namespace

int main(int argc, char **argv)
{
	return orca_model::run(
		argc, argv, "task_state",
		{
			orca_model::make_scenario<wake_vs_poll>("wake_vs_poll", 0, 500000),
			orca_model::make_scenario<wake_by_ref_vs_poll>("wake_by_ref_vs_poll", 0, 500000),
			orca_model::make_scenario<two_wakers>("two_wakers", 0, 500000),
			orca_model::make_scenario<join_vs_complete>("join_vs_complete", 0, 500000),
			orca_model::make_scenario<abort_vs_join>("abort_vs_join", 0, 500000),
			orca_model::make_scenario<drop_vs_complete>("drop_vs_complete", 0, 500000),
			orca_model::make_scenario<yield_vs_wake>("yield_vs_wake", 0, 500000),
			orca_model::make_scenario<yield_vs_abort>("yield_vs_abort", 0, 500000),
		},
		{
			/* The known bug above: run on its own (--scenario). */
			orca_model::make_scenario<join_replace_vs_complete>(
				"join_replace_vs_complete", 0, 500000),
		});
}
