// The local run queue (runtime/run_queue.c) and the inject queue, without tasks:
// items are plain nodes. The testing build shrinks the queue to 16 slots, so
// overflow and index wrap-around happen constantly.
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "queue_shim.h"

namespace {

using Item = shim_item;
const uint32_t ORCA_RUN_QUEUE_CAP = shim_rq_capacity();

uint32_t id_of(shim_item *n)
{
	return n->id;
}

struct Queues {
	shim_rq *rq;
	shim_inject *inject;
	Queues() : rq(shim_rq_new()), inject(shim_inject_new()) {}
	~Queues()
	{
		shim_inject_free(inject);
		shim_rq_free(rq);
	}
};

TEST(RunQueue, FifoAndOverflowToInject)
{
	Queues q;
	std::vector<Item> items(ORCA_RUN_QUEUE_CAP * 3);
	for (uint32_t i = 0; i < items.size(); i++) {
		items[i].id = i;
		ASSERT_TRUE(shim_rq_push(q.rq, &items[i], q.inject));
	}
	// Every item is in exactly one of the two queues.
	std::vector<int> seen(items.size(), 0);
	while (shim_item *n = shim_rq_pop(q.rq))
		seen[id_of(n)]++;
	while (shim_item *n = shim_inject_pop(q.inject))
		seen[id_of(n)]++;
	for (size_t i = 0; i < seen.size(); i++)
		ASSERT_EQ(1, seen[i]) << "item " << i;
}

TEST(RunQueue, StealTakesHalfAtEveryFillLevel)
{
	for (uint32_t fill = 0; fill <= ORCA_RUN_QUEUE_CAP; fill++) {
		Queues src, dst;
		std::vector<Item> items(fill);
		for (uint32_t i = 0; i < fill; i++) {
			items[i].id = i;
			shim_rq_push(src.rq, &items[i], src.inject);
		}
		shim_item *got = shim_rq_steal(src.rq, dst.rq);
		uint32_t expect = fill - fill / 2; // Tokio: the larger half
		if (fill == 0) {
			EXPECT_EQ(nullptr, got);
			continue;
		}
		ASSERT_NE(nullptr, got);
		EXPECT_EQ(expect, shim_rq_len(dst.rq) + 1) << "fill " << fill;
		EXPECT_EQ(fill - expect, shim_rq_len(src.rq)) << "fill " << fill;
		std::vector<int> seen(fill, 0);
		seen[id_of(got)]++;
		while (shim_item *n = shim_rq_pop(dst.rq))
			seen[id_of(n)]++;
		while (shim_item *n = shim_rq_pop(src.rq))
			seen[id_of(n)]++;
		for (uint32_t i = 0; i < fill; i++)
			ASSERT_EQ(1, seen[i]) << "fill " << fill << " item " << i;
	}
}

// One owner pushing and popping, `thieves` threads stealing into their own queues
// and draining them, with overflow to the shared inject queue: every id is consumed
// exactly once. Bounded by count; prints the seed on failure.
void owner_vs_thieves(int thieves, uint32_t total)
{
	unsigned seed = (unsigned)std::random_device{}();
	SCOPED_TRACE("seed " + std::to_string(seed));
	fprintf(stderr, "run queue stress: seed %u\n", seed);
	Queues owner;
	std::vector<Item> items(total);
	std::vector<std::atomic<uint8_t>> seen(total);
	for (uint32_t i = 0; i < total; i++) {
		items[i].id = i;
		seen[i] = 0;
	}
	std::atomic<uint32_t> consumed{0};
	std::atomic<bool> done{false};
	auto consume = [&](shim_item *n) {
		uint32_t id = id_of(n);
		if (seen[id].fetch_add(1) != 0) {
			fprintf(stderr, "run queue stress (seed %u): item %u consumed twice\n", seed, id);
			abort();
		}
		consumed++;
	};
	std::vector<std::thread> ts;
	for (int k = 0; k < thieves; k++)
		ts.emplace_back([&] {
			Queues mine;
			while (!done.load(std::memory_order_relaxed)) {
				if (shim_item *n = shim_rq_steal(owner.rq, mine.rq)) {
					consume(n);
					while (shim_item *m = shim_rq_pop(mine.rq))
						consume(m);
				}
				if (shim_item *n = shim_inject_pop(owner.inject))
					consume(n);
			}
			while (shim_item *m = shim_rq_pop(mine.rq))
				consume(m);
		});
	std::mt19937 rng(seed);
	for (uint32_t i = 0; i < total; i++) {
		ASSERT_TRUE(shim_rq_push(owner.rq, &items[i], owner.inject));
		if (rng() % 3 == 0)
			if (shim_item *n = shim_rq_pop(owner.rq))
				consume(n);
	}
	while (shim_item *n = shim_rq_pop(owner.rq))
		consume(n);
	while (consumed.load() < total) {
		if (shim_item *n = shim_inject_pop(owner.inject))
			consume(n);
		std::this_thread::yield();
	}
	done = true;
	for (auto &t : ts)
		t.join();
	EXPECT_EQ(total, consumed.load());
	for (uint32_t i = 0; i < total; i++)
		ASSERT_EQ(1, seen[i].load()) << "item " << i;
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr uint32_t kStressItems = 100000;
#else
constexpr uint32_t kStressItems = 1000000;
#endif

TEST(RunQueue, OneOwnerTwoThievesEachItemOnce)
{
	owner_vs_thieves(2, kStressItems);
}

TEST(RunQueue, OneOwnerThreeThievesEachItemOnce)
{
	owner_vs_thieves(3, kStressItems);
}

// The same with every thread on one CPU: the owner and the thieves then only
// interleave where the scheduler preempts one in the middle of an operation, which
// is the interleaving a multi-core run rarely shows (a thread stopped between
// reading and publishing an index for a whole time slice).
TEST(RunQueue, OneOwnerThreeThievesEachItemOncePinnedToOneCpu)
{
	cpu_set_t before;
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(before), &before));
	int cpu = -1;
	for (int c = 0; c < CPU_SETSIZE && cpu < 0; c++)
		if (CPU_ISSET(c, &before))
			cpu = c;
	ASSERT_GE(cpu, 0);
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(one), &one)); // the thieves inherit it
	// Preemption points come with the scheduler's ticks: rounds for 2 s, so that a
	// few hundred of them land inside queue operations.
	auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
	int rounds = 0;
	do {
		owner_vs_thieves(3, kStressItems);
		rounds++;
	} while (!HasFailure() && std::chrono::steady_clock::now() < end);
	fprintf(stderr, "pinned: %d rounds of %u items\n", rounds, kStressItems);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(before), &before));
}

TEST(InjectQueue, CloseReturnsWhatIsLeftAndRefusesMore)
{
	shim_inject *q = shim_inject_new();
	Item a{nullptr, 1}, b{nullptr, 2};
	EXPECT_TRUE(shim_inject_is_empty(q));
	EXPECT_TRUE(shim_inject_push(q, &a));
	EXPECT_TRUE(shim_inject_push(q, &b));
	EXPECT_FALSE(shim_inject_is_empty(q));
	shim_item *rest = shim_inject_close(q);
	ASSERT_EQ(&a, rest);
	ASSERT_EQ((void *)&b, rest->next);
	EXPECT_FALSE(shim_inject_push(q, &a));
	EXPECT_TRUE(shim_inject_is_empty(q));
	shim_inject_free(q);
}

} // namespace
