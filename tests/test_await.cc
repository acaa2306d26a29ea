// orca_await, orca_select and orca_join_all: results, rotation, cancellation.
#include <gtest/gtest.h>
#include <orca/orca.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "test_support.h"

namespace {

class Await : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Await, ::testing::Values(1u, 2u), orca_test::worker_name);

intptr_t sleep_then_return(void *arg)
{
	intptr_t ms = (intptr_t)arg;
	if (orca_sleep(ORCA_MSEC(ms)) != 0)
		return -ECANCELED;
	return ms;
}

intptr_t gather(void *)
{
	// Python's gather / Tokio's join!: three tasks of 30, 10 and 20 ms complete
	// together in about 30 ms.
	orca_task *h[3];
	intptr_t ms[3] = {30, 10, 20};
	int64_t t0 = orca_now(); // before the spawns: another worker may start them at once
	for (int i = 0; i < 3; i++)
		if (orca_spawn(&h[i], sleep_then_return, (void *)ms[i]))
			return -1;
	orca_future *fs[3] = {orca_task_future(h[0]), orca_task_future(h[1]), orca_task_future(h[2])};
	intptr_t outs[3] = {0, 0, 0};
	if (orca_join_all(fs, 3, outs) != 0)
		return -2;
	int64_t took = orca_now() - t0;
	for (int i = 0; i < 3; i++) {
		if (outs[i] != ms[i])
			return -3;
		orca_detach(h[i]);
	}
	if (took < ORCA_MSEC(30) || took > ORCA_MSEC(1000))
		return -4;
	return 0;
}

TEST_P(Await, JoinAllRunsConcurrently)
{
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, gather, nullptr, &r));
	EXPECT_EQ(0, r);
}

intptr_t select_first(void *)
{
	orca_task *slow, *fast;
	if (orca_spawn(&slow, sleep_then_return, (void *)2000) ||
	    orca_spawn(&fast, sleep_then_return, (void *)5))
		return -1;
	orca_future *fs[2] = {orca_task_future(slow), orca_task_future(fast)};
	intptr_t out = 0;
	int idx = orca_select(fs, 2, &out);
	if (idx != 1 || out != 5)
		return -2;
	// The loser (a join future) was dropped, not the task: abort it ourselves.
	orca_abort(slow);
	if (orca_join(slow, nullptr) != -ECANCELED)
		return -3;
	orca_detach(fast);
	return 0;
}

TEST_P(Await, SelectReturnsTheFirst)
{
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, select_first, nullptr, &r));
	EXPECT_EQ(0, r);
}

intptr_t select_with_timeout(void *)
{
	// A select over a task and a sleep: the sleep is the timeout.
	orca_task *slow;
	if (orca_spawn(&slow, sleep_then_return, (void *)5000))
		return -1;
	orca_sleep_future timeout;
	orca_sleep_future_init(&timeout, orca_now() + ORCA_MSEC(10));
	orca_future *fs[2] = {orca_task_future(slow), &timeout.base};
	int idx = orca_select(fs, 2, nullptr);
	orca_abort(slow);
	orca_join(slow, nullptr);
	return idx == 1 ? 0 : -2;
}

TEST_P(Await, SelectWithASleepAsTimeout)
{
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, select_with_timeout, nullptr, &r));
	EXPECT_EQ(0, r);
}

intptr_t select_rotates(void *)
{
	// Both futures are always ready: over many rounds each must win about half.
	int wins[2] = {0, 0};
	for (int i = 0; i < 1000; i++) {
		orca_ready_future a, b;
		orca_ready_future_init(&a, 0);
		orca_ready_future_init(&b, 1);
		orca_future *fs[2] = {&a.base, &b.base};
		intptr_t out;
		int idx = orca_select(fs, 2, &out);
		if (idx < 0 || out != idx)
			return -1;
		wins[idx]++;
	}
	return wins[0] >= 400 && wins[1] >= 400 ? 0 : -2;
}

TEST_P(Await, SelectIsFairAcrossReadyCases)
{
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, select_rotates, nullptr, &r));
	EXPECT_EQ(0, r);
}

intptr_t bad_args(void *)
{
	orca_ready_future a;
	orca_ready_future_init(&a, 0);
	orca_future *fs[2] = {&a.base, nullptr};
	if (orca_select(nullptr, 1, nullptr) != -EINVAL || orca_select(fs, 0, nullptr) != -EINVAL ||
	    orca_select(fs, 2, nullptr) != -EINVAL || orca_join_all(fs, 2, nullptr) != -EINVAL ||
	    orca_await(nullptr) != -EINVAL)
		return -1;
	orca_future empty{nullptr};
	if (orca_await(&empty) != -EINVAL)
		return -2;
	return 0;
}

TEST_P(Await, BadArgumentsAreRefused)
{
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, bad_args, nullptr, &r));
	EXPECT_EQ(0, r);
	orca_ready_future a;
	orca_ready_future_init(&a, 0);
	orca_future *fs[1] = {&a.base};
	EXPECT_EQ(-EPERM, orca_await(&a.base));
	EXPECT_EQ(-EPERM, orca_select(fs, 1, nullptr));
	EXPECT_EQ(-EPERM, orca_join_all(fs, 1, nullptr));
}

struct Started {
	std::atomic<int> in_select{0};
	std::atomic<int> drops{0};
	intptr_t result = 1;
};

orca_poll never(orca_future *, orca_context *, intptr_t *)
{
	return ORCA_PENDING;
}

struct Counted {
	orca_future base;
	std::atomic<int> *drops;
};
void counted_drop(orca_future *f)
{
	(*((Counted *)f)->drops)++;
}

intptr_t select_then_aborted(void *arg)
{
	auto *s = (Started *)arg;
	static const orca_future_vtable vt = {never, nullptr, counted_drop};
	Counted a{{&vt}, &s->drops}, b{{&vt}, &s->drops};
	orca_future *fs[2] = {&a.base, &b.base};
	s->in_select = 1;
	int r = orca_select(fs, 2, nullptr);
	s->result = r;
	return r;
}

TEST_P(Await, AbortDuringSelectDropsEveryFuture)
{
	Started s;
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, select_then_aborted, &s));
	while (!s.in_select)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(2));
	orca_abort(h);
	EXPECT_EQ(-ECANCELED, orca_join(h, nullptr));
	EXPECT_EQ(-ECANCELED, s.result);
	EXPECT_EQ(2, s.drops.load());
}

} // namespace
