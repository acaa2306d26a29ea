/* Relacy model of the local run queue: runtime/run_queue.c itself, compiled against
 * relacy (relacy_c11.hpp) with the queue shrunk to 4 slots (run_queue_cap4.h), and the
 * real inject queue (runtime/inject_queue.c) taking the overflow.
 *
 * The scenarios are Tokio's loom tests of its queue (tokio/src/runtime/tests/
 * loom_queue.rs): basic, steal_overflow, multi_stealer, chained_steal. In each, every
 * item pushed must come out exactly once (from a pop, a steal, or the inject queue), and
 * its payload, a plain variable the pusher wrote before pushing, must be visible to
 * whoever takes it: relacy reports a data race otherwise. The runtime's own invariant
 * checks (orca__panic) are model failures too.
 */
#include <relacy/relacy.hpp>

#include "model_support.hpp"
#include "run_queue.h"

namespace {

struct item {
	orca__qnode node; /* first: the queue hands back &node */
	rl::var<int> payload;
};

const int MAX_ITEMS = 16;

/* State every scenario shares: items, the inject queue, and who took what. */
struct rq_world {
	item items[MAX_ITEMS];
	int pushed = 0;
	int seen[MAX_ITEMS] = {};
	orca__inject inject;

	rq_world()
	{
		orca__inject_init(&inject);
	}

	orca__qnode *make()
	{
		RL_ASSERT(pushed < MAX_ITEMS);
		item *it = &items[pushed];
		it->payload($) = 1000 + pushed;
		pushed++;
		return &it->node;
	}

	/* Someone took n: it must be a pushed item, taken once, its payload visible. */
	void take(orca__qnode *n)
	{
		RL_ASSERT(n != NULL);
		item *it = reinterpret_cast<item *>(n);
		int id = (int)(it - items);
		RL_ASSERT(id >= 0 && id < pushed);
		RL_ASSERT(it->payload($) == 1000 + id);
		RL_ASSERT(seen[id] == 0);
		seen[id]++;
	}

	void push(orca__run_queue *q)
	{
		RL_ASSERT(orca__rq_push_back_owner(q, make(), &inject));
	}

	/* Pops one; true if there was one. */
	bool pop(orca__run_queue *q)
	{
		orca__qnode *n = orca__rq_pop_owner(q);
		if (n)
			take(n);
		return n != NULL;
	}

	int drain(orca__run_queue *q)
	{
		int k = 0;
		while (pop(q))
			k++;
		return k;
	}

	/* Steals from src into dst; true if it got one. */
	bool steal(orca__run_queue *src, orca__run_queue *dst)
	{
		orca__qnode *n = orca__rq_steal_into(src, dst);
		if (n)
			take(n);
		return n != NULL;
	}

	/* After the threads: whatever is left in the queues and the inject queue is taken
	 * here, and then every item must have been taken exactly once. */
	void finish(std::initializer_list<orca__run_queue *> queues)
	{
		for (orca__run_queue *q : queues)
			drain(q);
		while (orca__qnode *n = orca__inject_pop(&inject))
			take(n);
		for (int i = 0; i < pushed; i++)
			RL_ASSERT(seen[i] == 1);
		for (orca__run_queue *q : queues)
			RL_ASSERT(orca__rq_len(q) == 0);
		orca__inject_destroy(&inject);
	}
};

/* loom_queue.rs `basic`: the owner pushes 6 (overflowing its 4 slots) and pops, while
 * a thief steals three times and pops what it stole. */
struct basic : rl::test_suite<basic, 2> {
	rq_world w;
	orca__run_queue owner, thief;

	void before()
	{
		orca__rq_init(&owner);
		orca__rq_init(&thief);
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			for (int round = 0; round < 2; round++) {
				w.push(&owner);
				w.push(&owner);
				w.pop(&owner);
				w.push(&owner);
				w.drain(&owner);
			}
		} else {
			for (int i = 0; i < 3; i++) {
				w.steal(&owner, &thief);
				w.drain(&thief);
			}
		}
	}
	void after()
	{
		w.finish({&owner, &thief});
		RL_ASSERT(w.pushed == 6);
	}
};

/* loom_queue.rs `steal_overflow`: push, pop, then 6 pushes (overflow while a steal may
 * be in progress) against one steal. */
struct steal_overflow : rl::test_suite<steal_overflow, 2> {
	rq_world w;
	orca__run_queue owner, thief;

	void before()
	{
		orca__rq_init(&owner);
		orca__rq_init(&thief);
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			w.push(&owner);
			w.pop(&owner);
			for (int i = 0; i < 6; i++)
				w.push(&owner);
		} else {
			w.steal(&owner, &thief);
			w.drain(&thief);
		}
	}
	void after()
	{
		w.finish({&owner, &thief});
	}
};

/* loom_queue.rs `multi_stealer`: 5 pushed (one overflow), then the owner pops while two
 * thieves steal. */
struct multi_stealer : rl::test_suite<multi_stealer, 3> {
	rq_world w;
	orca__run_queue owner, thief[2];

	void before()
	{
		orca__rq_init(&owner);
		orca__rq_init(&thief[0]);
		orca__rq_init(&thief[1]);
		for (int i = 0; i < 5; i++)
			w.push(&owner);
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			w.drain(&owner);
		} else {
			orca__run_queue *mine = &thief[index - 1];
			if (w.steal(&owner, mine))
				w.drain(mine);
		}
	}
	void after()
	{
		w.finish({&owner, &thief[0], &thief[1]});
	}
};

/* loom_queue.rs `chained_steal`: two loaded queues; a thief steals from the first while
 * its owner drains it and then steals from the second into it. */
struct chained_steal : rl::test_suite<chained_steal, 2> {
	rq_world w;
	orca__run_queue q1, q2, thief;

	void before()
	{
		orca__rq_init(&q1);
		orca__rq_init(&q2);
		orca__rq_init(&thief);
		for (int i = 0; i < 4; i++) {
			w.push(&q1);
			w.push(&q2);
		}
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			w.drain(&q1);
			w.steal(&q2, &q1);
			w.drain(&q1);
		} else {
			w.steal(&q1, &thief);
			w.drain(&thief);
		}
	}
	void after()
	{
		w.finish({&q1, &q2, &thief});
	}
};

/* An owner that keeps the queue near full (push, push, pop: wrap-around past the 4
 * slots several times, overflow while a steal copies) against a thief that steals
 * twice and also pushes its stolen work back onto its own queue's tail. */
struct wrap_around : rl::test_suite<wrap_around, 2> {
	rq_world w;
	orca__run_queue owner, thief;

	void before()
	{
		orca__rq_init(&owner);
		orca__rq_init(&thief);
		w.push(&owner);
		w.push(&owner);
		w.push(&owner);
	}
	void thread(unsigned index)
	{
		if (index == 0) {
			for (int i = 0; i < 3; i++) {
				w.push(&owner);
				w.push(&owner);
				w.pop(&owner);
			}
		} else {
			w.steal(&owner, &thief);
			w.pop(&thief);
			w.steal(&owner, &thief);
		}
	}
	void after()
	{
		w.finish({&owner, &thief});
	}
};

} // namespace

int main(int argc, char **argv)
{
	return orca_model::run(argc, argv, "run_queue",
			       {
				       orca_model::make_scenario<basic>("basic", 2, 300000),
				       orca_model::make_scenario<steal_overflow>("steal_overflow", 3, 300000),
				       orca_model::make_scenario<multi_stealer>("multi_stealer", 3, 300000),
				       orca_model::make_scenario<chained_steal>("chained_steal", 3, 300000),
				       orca_model::make_scenario<wrap_around>("wrap_around", 2, 300000),
			       });
}
