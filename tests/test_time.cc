// Timers: sleep, sleep_until, intervals, timeouts around awaits, many sleepers.
#include <gtest/gtest.h>
#include <orca/orca.h>

#include <atomic>
#include <cerrno>
#include <vector>

#include "test_support.h"

namespace {

class Time : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Time, ::testing::Values(1u, 2u), orca_test::worker_name);

intptr_t sleep_and_measure(void *arg)
{
	int64_t d = (int64_t)(intptr_t)arg;
	int64_t t0 = orca_now();
	int r = orca_sleep(d);
	if (r)
		return r;
	return (intptr_t)(orca_now() - t0);
}

TEST_P(Time, SleepIsNeverEarly)
{
	for (int64_t ms : {1, 5, 20}) {
		intptr_t took = 0;
		ASSERT_EQ(0, orca_block_on(rt, sleep_and_measure, (void *)(intptr_t)ORCA_MSEC(ms), &took));
		EXPECT_GE(took, ORCA_MSEC(ms));
		EXPECT_LT(took, ORCA_MSEC(ms) + ORCA_MSEC(500)) << "slept far too long";
	}
}

intptr_t sleep_until_deadline(void *)
{
	int64_t deadline = orca_now() + ORCA_MSEC(10);
	if (orca_sleep_until(deadline) != 0)
		return -1;
	if (orca_now() < deadline)
		return -2;
	// A deadline in the past returns at once (a yield).
	if (orca_sleep_until(deadline - ORCA_SEC(1)) != 0)
		return -3;
	if (orca_sleep(0) != 0 || orca_sleep(-5) != 0)
		return -4;
	return 0;
}

TEST_P(Time, SleepUntil)
{
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, sleep_until_deadline, nullptr, &r));
	EXPECT_EQ(0, r);
}

intptr_t interval_ticks(void *)
{
	orca_interval iv;
	if (orca_interval_init(&iv, ORCA_MSEC(5)) != 0)
		return -1;
	int64_t start = orca_now();
	int64_t total = 0;
	for (int i = 0; i < 10; i++) {
		int64_t n = orca_interval_tick(&iv);
		if (n < 1)
			return -2;
		total += n;
	}
	// Ten ticks of 5 ms: at least 50 ms, and no drift past the phase.
	int64_t took = orca_now() - start;
	if (took < ORCA_MSEC(50))
		return -3;
	// Late by 12 ms: the next tick reports the skipped periods.
	int64_t before = orca_now();
	while (orca_now() - before < ORCA_MSEC(12)) {
	}
	int64_t n = orca_interval_tick(&iv);
	if (n < 2)
		return -4;
	return total;
}

TEST_P(Time, IntervalKeepsPhaseAndSkipsMissedTicks)
{
	intptr_t r = 0;
	ASSERT_EQ(0, orca_block_on(rt, interval_ticks, nullptr, &r));
	EXPECT_GE(r, 10);
	orca_interval iv;
	EXPECT_EQ(-EINVAL, orca_interval_init(&iv, 0));
	EXPECT_EQ(-EINVAL, orca_interval_init(nullptr, 5));
	EXPECT_EQ(-EINVAL, orca_interval_tick(nullptr));
}

std::atomic<int> sleepers_done;

intptr_t one_ms_sleeper(void *)
{
	int64_t t0 = orca_now();
	if (orca_sleep(ORCA_MSEC(1)) != 0)
		return -1;
	if (orca_now() - t0 < ORCA_MSEC(1))
		return -2; // early
	sleepers_done++;
	return 0;
}

intptr_t many_sleepers(void *arg)
{
	size_t n = (size_t)arg;
	std::vector<orca_task *> hs(n);
	for (size_t i = 0; i < n; i++)
		if (orca_spawn(&hs[i], one_ms_sleeper, nullptr))
			return -1;
	intptr_t bad = 0;
	for (auto h : hs) {
		intptr_t r;
		orca_join(h, &r);
		if (r)
			bad++;
	}
	return bad;
}

TEST_P(Time, HundredThousandConcurrentSleepers)
{
	sleepers_done = 0;
	const size_t n = (size_t)orca_test::live_tasks(100000);
	intptr_t bad = -1;
	ASSERT_EQ(0, orca_block_on(rt, many_sleepers, (void *)n, &bad));
	EXPECT_EQ(0, bad);
	EXPECT_EQ((int)n, sleepers_done.load());
}

// ---- timeouts -----------------------------------------------------------------------

orca_poll pending_forever(orca_future *, orca_context *, intptr_t *)
{
	return ORCA_PENDING;
}

struct Droppable {
	orca_future base;
	int drops;
};
void droppable_drop(orca_future *f)
{
	((Droppable *)f)->drops++;
}

intptr_t timeout_on_pending(void *)
{
	static const orca_future_vtable vt = {pending_forever, nullptr, droppable_drop};
	Droppable d{{&vt}, 0};
	int64_t t0 = orca_now();
	intptr_t r = orca_await_timeout(&d.base, ORCA_MSEC(20));
	int64_t took = orca_now() - t0;
	if (r != -ETIMEDOUT)
		return -1;
	if (took < ORCA_MSEC(20))
		return -2;
	if (d.drops != 1)
		return -3;
	// A ready future wins over its timeout.
	orca_ready_future rf;
	orca_ready_future_init(&rf, 77);
	if (orca_await_timeout(&rf.base, ORCA_MSEC(20)) != 77)
		return -4;
	// A sleep shorter than its timeout completes normally.
	orca_sleep_future s;
	orca_sleep_future_init(&s, orca_now() + ORCA_MSEC(2));
	if (orca_await_timeout(&s.base, ORCA_SEC(5)) != 0)
		return -5;
	// An absolute deadline already passed: timeout at once.
	Droppable d2{{&vt}, 0};
	if (orca_await_deadline(&d2.base, orca_now() - 1) != -ETIMEDOUT || d2.drops != 1)
		return -6;
	if (orca_await_timeout(nullptr, 5) != -EINVAL)
		return -7;
	// A timeout too long to add to now means "never", not an overflow (UBSan).
	orca_ready_future big;
	orca_ready_future_init(&big, 8);
	if (orca_await_timeout(&big.base, INT64_MAX) != 8)
		return -8;
	return 0;
}

TEST_P(Time, TimeoutAroundAnyAwait)
{
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, timeout_on_pending, nullptr, &r));
	EXPECT_EQ(0, r);
}

// A future with a cancel hook that completes only some time after cancel (like an
// io_uring op whose cancellation completion is still on its way): the timeout must
// wait for it.
struct SlowCancel {
	orca_future base;
	std::atomic<int> cancelled;
	orca_waker waker;
	int64_t ready_at;
	intptr_t result_after_cancel;
};

orca_poll slow_cancel_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	auto *s = (SlowCancel *)f;
	if (s->cancelled && orca_now() >= s->ready_at) {
		orca_waker_drop(&s->waker);
		*out = s->result_after_cancel;
		return ORCA_READY;
	}
	orca_waker_drop(&s->waker);
	s->waker = orca_waker_clone(cx->waker);
	if (s->cancelled) {
		// Ask to be polled again soon (a real op would be woken by its CQE).
		orca_waker_wake_by_ref(cx->waker);
	}
	return ORCA_PENDING;
}

void slow_cancel_cancel(orca_future *f)
{
	auto *s = (SlowCancel *)f;
	s->cancelled = 1;
	s->ready_at = orca_now() + ORCA_MSEC(10);
}

intptr_t timeout_waits_for_cancel(void *)
{
	static const orca_future_vtable vt = {slow_cancel_poll, slow_cancel_cancel, nullptr};
	SlowCancel s{{&vt}, {0}, {}, 0, -ECANCELED};
	intptr_t r = orca_await_timeout(&s.base, ORCA_MSEC(5));
	if (r != -ETIMEDOUT)
		return -1;
	if (orca_now() < s.ready_at)
		return -2; // returned before the op finished
	// The op completed successfully despite the cancel: its result is kept.
	SlowCancel s2{{&vt}, {0}, {}, 0, 5};
	if (orca_await_timeout(&s2.base, ORCA_MSEC(5)) != 5)
		return -3;
	return 0;
}

TEST_P(Time, TimeoutWaitsForCancellationToComplete)
{
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, timeout_waits_for_cancel, nullptr, &r));
	EXPECT_EQ(0, r);
}

} // namespace
