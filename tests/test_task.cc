// Tasks: spawn, join, detach, abort, yield, stackless tasks, wakes across threads.
#include <gtest/gtest.h>
#include <orca/orca.h>
#include <pthread.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <mutex>
#include <cerrno>
#include <set>
#include <thread>
#include <vector>

#include "test_support.h"

namespace {

class Task : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Task, ::testing::Values(1u, 2u, 4u),
			 orca_test::worker_name);

intptr_t return_arg(void *arg)
{
	return (intptr_t)arg;
}

TEST_P(Task, ResultPassesThroughJoin)
{
	intptr_t r = 0;
	ASSERT_EQ(0, orca_block_on(rt, return_arg, (void *)42, &r));
	EXPECT_EQ(42, r);
	ASSERT_EQ(0, orca_block_on(rt, return_arg, (void *)-7, &r));
	EXPECT_EQ(-7, r);
}

intptr_t spawn_many(void *arg)
{
	size_t n = (size_t)arg;
	std::vector<orca_task *> hs(n);
	for (size_t i = 0; i < n; i++)
		if (orca_spawn(&hs[i], return_arg, (void *)(intptr_t)i) != 0)
			return -1;
	intptr_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		intptr_t r;
		if (orca_join(hs[i], &r) != 0)
			return -2;
		sum += r;
	}
	return sum;
}

TEST_P(Task, HundredThousandSpawnedAndJoined)
{
	const size_t n = (size_t)orca_test::live_tasks(100000);
	intptr_t r = 0;
	ASSERT_EQ(0, orca_block_on(rt, spawn_many, (void *)n, &r));
	EXPECT_EQ((intptr_t)(n * (n - 1) / 2), r);
}

intptr_t nested(void *arg)
{
	intptr_t depth = (intptr_t)arg;
	if (depth == 0)
		return 1;
	orca_task *a, *b;
	if (orca_spawn(&a, nested, (void *)(depth - 1)) || orca_spawn(&b, nested, (void *)(depth - 1)))
		return -1000000;
	intptr_t ra = 0, rb = 0;
	orca_join(a, &ra);
	orca_join(b, &rb);
	return ra + rb;
}

TEST_P(Task, NestedSpawns)
{
	intptr_t r = 0;
	ASSERT_EQ(0, orca_block_on(rt, nested, (void *)10, &r));
	EXPECT_EQ(1024, r);
}

TEST_P(Task, SpawnFromPlainThreads)
{
	std::vector<std::thread> threads;
	std::atomic<intptr_t> sum{0};
	for (int k = 0; k < 4; k++)
		threads.emplace_back([&, k] {
			for (int i = 0; i < 1000; i++) {
				orca_task *h;
				ASSERT_EQ(0, orca_spawn_on(rt, &h, return_arg, (void *)(intptr_t)(k * 1000 + i)));
				intptr_t r;
				ASSERT_EQ(0, orca_join(h, &r));
				sum += r;
			}
		});
	for (auto &t : threads)
		t.join();
	EXPECT_EQ((intptr_t)(4000 * 3999 / 2), sum.load());
}

TEST_P(Task, SpawnOutsideRuntimeIsRefused)
{
	orca_task *h = (orca_task *)1;
	EXPECT_EQ(-EPERM, orca_spawn(&h, return_arg, nullptr));
	EXPECT_EQ(nullptr, h);
	EXPECT_EQ(-EINVAL, orca_spawn_on(rt, &h, nullptr, nullptr));
	EXPECT_EQ(-EINVAL, orca_spawn_on(nullptr, &h, return_arg, nullptr));
	EXPECT_EQ(-EINVAL, orca_join(nullptr, nullptr));
	EXPECT_EQ(-EINVAL, orca_detach(nullptr));
	EXPECT_EQ(-EINVAL, orca_abort(nullptr));
	EXPECT_EQ(-EPERM, orca_yield());
	EXPECT_EQ(-EPERM, orca_sleep(ORCA_MSEC(1)));
	EXPECT_EQ(0u, orca_task_id());
	EXPECT_FALSE(orca_task_is_cancelled());
	EXPECT_EQ(nullptr, orca_runtime_current());
}

std::atomic<int> detached_ran;
intptr_t mark_detached(void *)
{
	detached_ran++;
	return 0;
}

TEST_P(Task, DetachedTasksRun)
{
	detached_ran = 0;
	for (int i = 0; i < 1000; i++)
		ASSERT_EQ(0, orca_spawn_on(rt, nullptr, mark_detached, nullptr));
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, mark_detached, nullptr));
	ASSERT_EQ(0, orca_detach(h));
	for (int i = 0; i < 5000 && detached_ran.load() < 1001; i++)
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	EXPECT_EQ(1001, detached_ran.load());
}

TEST_P(Task, JoinAfterCompletion)
{
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, return_arg, (void *)5));
	while (!orca_task_is_finished(h))
		std::this_thread::yield();
	intptr_t r = 0;
	EXPECT_EQ(0, orca_join(h, &r));
	EXPECT_EQ(5, r);
}

// ---- abort -------------------------------------------------------------------

struct AbortProbe {
	std::atomic<int> cleanup{0};
	std::atomic<intptr_t> await_result{1};
	std::atomic<int> started{0};
};

intptr_t sleep_long(void *arg)
{
	auto *p = (AbortProbe *)arg;
	p->started = 1;
	int r = orca_sleep(ORCA_SEC(30));
	p->await_result = r;
	p->cleanup++;
	return 99;
}

TEST_P(Task, AbortWhileSleeping)
{
	AbortProbe p;
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, sleep_long, &p));
	while (!p.started)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(5));
	int64_t t0 = orca_now();
	ASSERT_EQ(0, orca_abort(h));
	intptr_t r = 0;
	EXPECT_EQ(-ECANCELED, orca_join(h, &r));
	EXPECT_LT(orca_now() - t0, ORCA_SEC(5));
	EXPECT_EQ(-ECANCELED, p.await_result.load());
	EXPECT_EQ(1, p.cleanup.load());
}

TEST_P(Task, AbortBeforeStart)
{
	// The task always starts (so it can release its argument) but its first await
	// reports the abort.
	AbortProbe p;
	orca_task *gate;
	// Occupy the runtime from inside so that the spawned task cannot start before
	// the abort: spawn and abort from a task that does not suspend in between.
	struct Ctx {
		AbortProbe *p;
		int join_status;
	} ctx{&p, 1};
	auto body = [](void *arg) -> intptr_t {
		auto *c = (Ctx *)arg;
		orca_task *h;
		if (orca_spawn(&h, sleep_long, c->p) != 0)
			return -1;
		orca_abort(h);
		intptr_t r;
		c->join_status = orca_join(h, &r);
		return 0;
	};
	ASSERT_EQ(0, orca_spawn_on(rt, &gate, body, &ctx));
	ASSERT_EQ(0, orca_join(gate, nullptr));
	EXPECT_EQ(-ECANCELED, ctx.join_status);
	EXPECT_EQ(-ECANCELED, p.await_result.load());
	EXPECT_EQ(1, p.cleanup.load());
}

intptr_t yield_forever(void *arg)
{
	auto *p = (AbortProbe *)arg;
	p->started = 1;
	int r;
	while ((r = orca_yield()) == 0) {
	}
	p->await_result = r;
	// Every await after the abort fails at once too.
	if (orca_sleep(ORCA_MSEC(1)) != -ECANCELED || orca_yield() != -ECANCELED ||
	    !orca_task_is_cancelled())
		p->await_result = -1;
	p->cleanup++;
	return 0;
}

TEST_P(Task, AbortWhileYielding)
{
	AbortProbe p;
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, yield_forever, &p));
	while (!p.started)
		std::this_thread::yield();
	ASSERT_EQ(0, orca_abort(h));
	EXPECT_EQ(-ECANCELED, orca_join(h, nullptr));
	EXPECT_EQ(-ECANCELED, p.await_result.load());
	EXPECT_EQ(1, p.cleanup.load());
}

TEST_P(Task, AbortAfterCompletionIsHarmless)
{
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, return_arg, (void *)11));
	while (!orca_task_is_finished(h))
		std::this_thread::yield();
	EXPECT_EQ(0, orca_abort(h));
	EXPECT_EQ(0, orca_abort(h));
	intptr_t r = 0;
	EXPECT_EQ(0, orca_join(h, &r));
	EXPECT_EQ(11, r);
}

intptr_t join_child_then_aborted(void *arg)
{
	auto *p = (AbortProbe *)arg;
	orca_task *child;
	if (orca_spawn(&child, sleep_long, p) != 0)
		return -1;
	p->started = 1;
	// We are aborted while joining: join returns -ECANCELED, the child runs on.
	int r = orca_join(child, nullptr);
	return r;
}

TEST_P(Task, AbortWhileJoining)
{
	// Static: the child outlives this test body (TearDown's shutdown ends it).
	static AbortProbe child;
	child.cleanup = 0;
	child.started = 0;
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, join_child_then_aborted, &child));
	while (!child.started)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(5));
	orca_abort(h);
	EXPECT_EQ(-ECANCELED, orca_join(h, nullptr));
	// The child was detached, not aborted: it is still sleeping; shutdown (in
	// TearDown) aborts it and it cleans up.
	EXPECT_EQ(0, child.cleanup.load());
}

// ---- yield, ids ------------------------------------------------------------------

intptr_t yield_n(void *arg)
{
	for (intptr_t i = 0; i < (intptr_t)arg; i++)
		if (orca_yield() != 0)
			return -1;
	return (intptr_t)orca_task_id();
}

TEST_P(Task, YieldAndIds)
{
	std::vector<orca_task *> hs(50);
	for (auto &h : hs)
		ASSERT_EQ(0, orca_spawn_on(rt, &h, yield_n, (void *)1000));
	std::set<intptr_t> ids;
	for (auto h : hs) {
		intptr_t r;
		ASSERT_EQ(0, orca_join(h, &r));
		EXPECT_GT(r, 0);
		ids.insert(r);
	}
	EXPECT_EQ(hs.size(), ids.size());
}

// ---- stealing ---------------------------------------------------------------------

std::mutex seen_mu;
std::set<pthread_t> seen_threads;

intptr_t busy_record_thread(void *)
{
	{
		std::lock_guard<std::mutex> g(seen_mu);
		seen_threads.insert(pthread_self());
	}
	// Busy enough that an idle worker has time to steal.
	volatile uint64_t x = 0;
	for (int i = 0; i < 200000; i++)
		x += i;
	return 0;
}

intptr_t fan_out(void *)
{
	std::vector<orca_task *> hs(512);
	for (auto &h : hs)
		if (orca_spawn(&h, busy_record_thread, nullptr))
			return -1;
	for (auto h : hs)
		orca_join(h, nullptr);
	return 0;
}

TEST_P(Task, StealingSpreadsWork)
{
	if (orca_runtime_workers(rt) < 2)
		GTEST_SKIP() << "stealing needs two workers";
	seen_threads.clear();
	ASSERT_EQ(0, orca_block_on(rt, fan_out, nullptr, nullptr));
	EXPECT_GT(seen_threads.size(), 1u) << "all 512 tasks ran on one worker";
}

// ---- stackless tasks and the waker protocol ---------------------------------------

struct WakeSlot {
	std::mutex mu;
	orca_waker w{};
};
WakeSlot storm_slots[64];

orca_poll ready_now(orca_future *, orca_context *, intptr_t *out)
{
	*out = 123;
	return ORCA_READY;
}

TEST_P(Task, StacklessTaskResult)
{
	orca_future f{};
	static const orca_future_vtable vt = {ready_now, nullptr, nullptr};
	f.vtable = &vt;
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_future_on(rt, &h, &f, sizeof(f)));
	intptr_t r = 0;
	ASSERT_EQ(0, orca_join(h, &r));
	EXPECT_EQ(123, r);
	EXPECT_EQ(-EINVAL, orca_spawn_future_on(rt, &h, nullptr, sizeof(f)));
	EXPECT_EQ(-EINVAL, orca_spawn_future_on(rt, &h, &f, 1));
	EXPECT_EQ(-EPERM, orca_spawn_future(&h, &f, sizeof(f)));
}

// A stackless task that stores a clone of its waker where wakers on other threads
// can find it, and counts how often it was polled.
struct StormFuture {
	orca_future base;
	std::atomic<long> *wakes_seen;
	std::atomic<long> *target;
	WakeSlot *slot;
	long polls;
	bool finished;
	std::atomic<int> *polled_after_done;
};

orca_poll storm_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	auto *s = (StormFuture *)f;
	if (s->finished)
		(*s->polled_after_done)++;
	s->polls++;
	if (s->wakes_seen->load() >= s->target->load()) {
		s->finished = true;
		std::lock_guard<std::mutex> g(s->slot->mu);
		orca_waker_drop(&s->slot->w);
		*out = s->polls;
		return ORCA_READY;
	}
	std::lock_guard<std::mutex> g(s->slot->mu);
	if (!orca_waker_will_wake(&s->slot->w, cx->waker)) {
		orca_waker_drop(&s->slot->w);
		s->slot->w = orca_waker_clone(cx->waker);
	}
	return ORCA_PENDING;
}

TEST_P(Task, CrossThreadWakeStorm)
{
	// 4 threads wake 16 stackless tasks 1M times in all. Each wake is counted
	// before it is delivered; a task finishes once it has seen every wake counted,
	// so a lost wake-up leaves it pending forever (the test then times out), and a
	// poll after completion is counted.
	const int kTasks = 16;
	const long kWakes = orca_test::scaled(1000000);
	std::atomic<long> counted{0};
	std::atomic<long> target{LONG_MAX};
	std::atomic<int> polled_after_done{0};
	static const orca_future_vtable vt = {storm_poll, nullptr, nullptr};
	std::vector<orca_task *> hs(kTasks);
	for (int i = 0; i < kTasks; i++) {
		StormFuture f{{&vt}, &counted, &target, &storm_slots[i], 0, false, &polled_after_done};
		ASSERT_EQ(0, orca_spawn_future_on(rt, &hs[i], &f.base, sizeof(f)));
	}
	std::vector<std::thread> wakers;
	for (int k = 0; k < 4; k++)
		wakers.emplace_back([&, k] {
			for (long i = 0; i < kWakes / 4; i++) {
				WakeSlot &s = storm_slots[(i + k) % kTasks];
				counted++;
				std::lock_guard<std::mutex> g(s.mu);
				orca_waker_wake_by_ref(&s.w);
			}
		});
	for (auto &t : wakers)
		t.join();
	target = counted.load();
	// Final wakes so each task re-checks after the target is set.
	for (int i = 0; i < kTasks; i++) {
		std::lock_guard<std::mutex> g(storm_slots[i].mu);
		orca_waker_wake_by_ref(&storm_slots[i].w);
	}
	long total_polls = 0;
	for (auto h : hs) {
		intptr_t polls = 0;
		ASSERT_EQ(0, orca_join(h, &polls));
		EXPECT_GE(polls, 1);
		total_polls += polls;
	}
	EXPECT_EQ(0, polled_after_done.load());
	// Wakes coalesce (a wake of a notified task is absorbed), so polls <= wakes.
	EXPECT_LE(total_polls, kWakes + 2 * kTasks);
}

// A stackless task aborted while pending: its drop hook runs, join says -ECANCELED.
struct DropProbeFuture {
	orca_future base;
	std::atomic<int> *dropped;
};
orca_poll never_ready(orca_future *, orca_context *, intptr_t *)
{
	return ORCA_PENDING;
}
void count_drop(orca_future *f)
{
	(*((DropProbeFuture *)f)->dropped)++;
}

TEST_P(Task, StacklessAbortDropsFuture)
{
	static const orca_future_vtable vt = {never_ready, nullptr, count_drop};
	std::atomic<int> dropped{0};
	DropProbeFuture f{{&vt}, &dropped};
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_future_on(rt, &h, &f.base, sizeof(f)));
	std::this_thread::sleep_for(std::chrono::milliseconds(2));
	orca_abort(h);
	EXPECT_EQ(-ECANCELED, orca_join(h, nullptr));
	EXPECT_EQ(1, dropped.load());
}

// Many stackful tasks alive at once, then all finishing: their stacks must go back
// without cutting the address space into one mapping each. Neighbouring stacks share
// a VMA; unmapping them one by one split it until vm.max_map_count (65,530), after
// which munmap failed with ENOMEM and the stacks stayed mapped (2.8 GB after 1M
// tasks, and no thread could be created). Counted in /proc/self/maps lines.
size_t mappings()
{
	FILE *f = fopen("/proc/self/maps", "r");
	size_t n = 0;
	for (int c; f && (c = fgetc(f)) != EOF;)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

struct Crowd {
	orca_barrier all_alive;   // every member and the gatherer
	orca_barrier second_wave; // the odd members and the gatherer
	size_t n;
	size_t mappings_halfway = 0;
};

struct Member {
	Crowd *crowd;
	size_t index;
};

// Even members finish first, odd ones after the gatherer looked: stacks then go back
// every other one, the order that splits a shared mapping the most.
intptr_t crowd_member(void *arg)
{
	Member *m = (Member *)arg;
	if (orca_barrier_wait(&m->crowd->all_alive) < 0)
		return -1;
	if (m->index % 2 && orca_barrier_wait(&m->crowd->second_wave) < 0)
		return -1;
	return 1;
}

intptr_t gather_crowd(void *arg)
{
	Crowd *c = (Crowd *)arg;
	std::vector<Member> ms(c->n);
	std::vector<orca_task *> hs(c->n);
	for (size_t i = 0; i < c->n; i++) {
		ms[i] = {c, i};
		if (orca_spawn(&hs[i], crowd_member, &ms[i]) != 0)
			return -1;
	}
	intptr_t sum = orca_barrier_wait(&c->all_alive) < 0 ? -1000000 : 0;
	for (size_t i = 0; i < c->n; i += 2) {
		intptr_t r = 0;
		orca_join(hs[i], &r);
		sum += r;
	}
	c->mappings_halfway = mappings();
	if (orca_barrier_wait(&c->second_wave) < 0)
		sum -= 1000000;
	for (size_t i = 1; i < c->n; i += 2) {
		intptr_t r = 0;
		orca_join(hs[i], &r);
		sum += r;
	}
	return sum;
}

TEST(Stacks, ManyTasksFinishingGiveTheirStacksBackWithoutSplittingMappings)
{
	// TSan maps shadow and fiber state of its own for every stack (30k mappings for
	// 4,000 tasks here, and not all given back), so there the count says nothing and
	// only the crowd itself (every task alive at once, then finishing) is checked.
	const bool count_mappings = !orca_test::under_tsan();
	size_t before = mappings();
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 2;
	orca_runtime *rt;
	ASSERT_EQ(0, orca_runtime_create(&rt, &cfg));
	Crowd c;
	c.n = (size_t)orca_test::live_tasks(100000);
	ASSERT_EQ(0, orca_barrier_init(&c.all_alive, (unsigned)c.n + 1));
	ASSERT_EQ(0, orca_barrier_init(&c.second_wave, (unsigned)(c.n / 2) + 1));
	intptr_t r = 0;
	ASSERT_EQ(0, orca_block_on(rt, gather_crowd, &c, &r));
	EXPECT_EQ((intptr_t)c.n, r);
	// Half the stacks went back, every other one: the pools keep a few thousand, the
	// rest are released, none unmapped out of the middle of a mapping.
	if (count_mappings) {
		EXPECT_LT(c.mappings_halfway, before + 1000) << "stack teardown split the mappings";
		EXPECT_LT(mappings(), before + 1000);
	}
	orca_runtime_free(rt);
	if (count_mappings) {
		EXPECT_LT(mappings(), before + 64);
	}
}

} // namespace
