/* Relacy model of the inject queue: runtime/inject_queue.c itself, compiled against
 * relacy (relacy_c11.hpp), whose mutex is relacy's.
 *
 * Scenarios:
 *   mpmc            two producers (push, push_batch) and a consumer (pop, pop_n) while
 *                   the owner's overflow also lands there: every item comes out
 *                   exactly once, in each producer's order, its payload (written
 *                   before the push) visible to the consumer;
 *   close_vs_push   close races with pushes: every item is either refused (push
 *                   returns false) or handed back by close or a pop, exactly once;
 *   empty_check     the reason `len` is an atomic: a worker going to sleep counts
 *                   itself parked (runtime/idle.c, the real code) and then checks
 *                   orca__inject_is_empty without the lock, while an outside thread
 *                   pushes and then asks idle.c whom to wake (worker.c's
 *                   orca__schedule from outside + notify_parked; park() step 3). One
 *                   of them must see the other: else the item is stranded while the
 *                   worker sleeps (relacy: deadlock).
 * What the model shows about the orderings: the list is ordered by the mutex, and the
 * lock-free emptiness check by idle.c's SeqCst read-modify-writes on its state word;
 * len's own release/acquire are belt and braces (weakening them to relaxed still
 * passes: `--weaken orca__inject_push_batch:store:release:relaxed` or
 * `--weaken orca__inject_is_empty:load:acquire:relaxed`). The weakened run that must
 * fail is therefore the emptiness check's partner: should_wakeup's read-modify-write.
 */
#include <relacy/relacy.hpp>

#include "idle.h"
#include "inject_queue.h"
#include "model_support.hpp"

namespace {

const int MAX_ITEMS = 8;

struct item {
	orca__qnode node; /* first: the queue hands back &node */
	rl::var<int> payload;
	int producer = 0, seq = 0;
};

struct world {
	orca__inject q;
	item items[MAX_ITEMS];
	int nitems = 0;
	int seen[MAX_ITEMS] = {};
	int refused[MAX_ITEMS] = {};
	int last_seq[3] = {-1, -1, -1};

	world()
	{
		orca__inject_init(&q);
	}

	item *make(int producer, int seq)
	{
		RL_ASSERT(nitems < MAX_ITEMS);
		item *it = &items[nitems];
		it->payload($) = 500 + nitems;
		it->producer = producer;
		it->seq = seq;
		it->node.next = NULL;
		nitems++;
		return it;
	}

	void take(orca__qnode *n, bool check_order)
	{
		item *it = reinterpret_cast<item *>(n);
		int id = (int)(it - items);
		RL_ASSERT(id >= 0 && id < nitems);
		RL_ASSERT(it->payload($) == 500 + id);
		RL_ASSERT(seen[id] == 0 && refused[id] == 0);
		seen[id]++;
		if (check_order) {
			/* FIFO: each producer's items come out in the order it pushed them. */
			RL_ASSERT(it->seq > last_seq[it->producer]);
			last_seq[it->producer] = it->seq;
		}
	}

	/* Takes a chain (pop_n, close). */
	int take_chain(orca__qnode *n, bool check_order)
	{
		int k = 0;
		while (n) {
			orca__qnode *next = n->next;
			take(n, check_order);
			n = next;
			k++;
		}
		return k;
	}

	void finish()
	{
		take_chain(orca__inject_close(&q), true);
		for (int i = 0; i < nitems; i++)
			RL_ASSERT(seen[i] + refused[i] == 1);
		RL_ASSERT(orca__inject_is_empty(&q));
		orca__inject_destroy(&q);
	}
};

/* Two producers and a consumer. */
struct mpmc : rl::test_suite<mpmc, 3> {
	world w;
	item *a1, *a2, *b1, *b2, *b3;
	void before()
	{
		a1 = w.make(1, 0);
		a2 = w.make(1, 1);
		b1 = w.make(2, 0);
		b2 = w.make(2, 1);
		b3 = w.make(2, 2);
		/* a chain for push_batch */
		b2->node.next = &b3->node;
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			RL_ASSERT(orca__inject_push(&w.q, &a1->node));
			RL_ASSERT(orca__inject_push(&w.q, &a2->node));
		} else if (index == 1) {
			RL_ASSERT(orca__inject_push(&w.q, &b1->node));
			RL_ASSERT(orca__inject_push_batch(&w.q, &b2->node, &b3->node, 2));
		} else {
			for (int i = 0; i < 2; i++) {
				orca__qnode *n = orca__inject_pop(&w.q);
				if (n)
					w.take(n, true);
			}
			size_t k = 0;
			orca__qnode *chain = orca__inject_pop_n(&w.q, 2, &k);
			RL_ASSERT((size_t)w.take_chain(chain, true) == k);
		}
	}
	void after()
	{
		w.finish();
	}
};

/* Close races with pushes and a pop. */
struct close_vs_push : rl::test_suite<close_vs_push, 3> {
	world w;
	item *a, *b1, *b2;
	void before()
	{
		a = w.make(1, 0);
		b1 = w.make(2, 0);
		b2 = w.make(2, 1);
		b1->node.next = &b2->node;
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			if (!orca__inject_push(&w.q, &a->node))
				w.refused[0]++;
		} else if (index == 1) {
			if (!orca__inject_push_batch(&w.q, &b1->node, &b2->node, 2)) {
				w.refused[1]++;
				w.refused[2]++;
			}
		} else {
			orca__qnode *n = orca__inject_pop(&w.q);
			if (n)
				w.take(n, true);
			w.take_chain(orca__inject_close(&w.q), true);
		}
	}
	void after()
	{
		w.finish();
	}
};

/* The emptiness check against a push, through idle.c (one worker, parked list of one).
 * The worker's sleep is a semaphore the notifier posts (the parker is modelled in
 * park_model.cc). */
struct empty_check : rl::test_suite<empty_check, 2> {
	world w;
	orca__idle idle;
	sem_t wake;
	item *it;
	void before()
	{
		RL_ASSERT(orca__idle_init(&idle, 1) == 0);
		RL_ASSERT(orca__idle_to_searching(&idle)); /* it searched and found nothing */
		sem_init(&wake, 0, 0);
		it = w.make(1, 0);
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			/* worker.c park(): the last searcher counts itself parked, then
			 * re-checks the queues; with nothing there, it sleeps. */
			bool last = orca__idle_to_parked(&idle, 0, true);
			RL_ASSERT(last);
			if (orca__inject_is_empty(&w.q)) {
				while (sem_wait(&wake) != 0) {
				}
			} else {
				/* It would notify_parked (and find itself): take itself off. */
				orca__idle_unpark_by_id(&idle, 0);
			}
			orca__qnode *n = orca__inject_pop(&w.q);
			RL_ASSERT(n != NULL); /* woken, or saw the queue non-empty: the item is there */
			w.take(n, true);
		} else {
			/* orca__schedule from outside: push, then notify_parked. */
			RL_ASSERT(orca__inject_push(&w.q, &it->node));
			int idx = orca__idle_worker_to_notify(&idle);
			if (idx >= 0)
				sem_post(&wake);
		}
	}
	void after()
	{
		orca__idle_destroy(&idle);
		sem_destroy(&wake);
		w.finish();
	}
};

} // namespace

int main(int argc, char **argv)
{
	return orca_model::run(argc, argv, "inject_queue",
			       {
				       orca_model::make_scenario<mpmc>("mpmc", 2, 1000000),
				       orca_model::make_scenario<close_vs_push>("close_vs_push", 2, 1000000),
				       orca_model::make_scenario<empty_check>("empty_check", 3, 1000000),
			       });
}
