// Helpers shared by the sync/ suites (test_sync.cc, test_chan.cc,
// test_select_chan.cc): polling futures by hand with a counting waker, running
// std::functions as tasks, and the seed of randomized tests.
#ifndef ORCA_SYNC_TEST_SUPPORT_H
#define ORCA_SYNC_TEST_SUPPORT_H

#include <gtest/gtest.h>
#include <orca/orca.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>

namespace orca_sync_test {

// A waker that counts its wakes: lets a test poll futures by hand, on the test's
// own thread, and so drive exact interleavings (served, then dropped, ...).
struct TestWaker {
	std::atomic<int> wakes{0};
	static orca_waker clone(const void *d) { return orca_waker{&vtable, d}; }
	static void wake(const void *d) { static_cast<TestWaker *>(const_cast<void *>(d))->wakes++; }
	static void drop(const void *) {}
	static const orca_waker_vtable vtable;
	orca_poll poll(orca_future *f, intptr_t *out)
	{
		orca_waker w{&vtable, this};
		orca_context cx{&w};
		return f->vtable->poll(f, &cx, out);
	}
};
inline const orca_waker_vtable TestWaker::vtable = {TestWaker::clone, TestWaker::wake,
						    TestWaker::wake, TestWaker::drop};

// Abandons a future the way orca_await does on abort or timeout.
inline void drop_future(orca_future *f)
{
	f->vtable->drop(f);
}

// Task bodies as std::functions (which must outlive their tasks).
using Fn = std::function<intptr_t()>;
inline intptr_t call_fn(void *p)
{
	return (*static_cast<Fn *>(p))();
}

// Runs f as a task on rt from the test's thread and returns its result.
inline intptr_t run(orca_runtime *rt, Fn f)
{
	intptr_t r = -999;
	EXPECT_EQ(0, orca_block_on(rt, call_fn, &f, &r));
	return r;
}

// ORCA_TEST_SEED if set, else the clock: print it on failure so a run can be
// repeated.
inline uint64_t test_seed()
{
	if (const char *s = getenv("ORCA_TEST_SEED"))
		return strtoull(s, nullptr, 0);
	return (uint64_t)std::chrono::steady_clock::now().time_since_epoch().count();
}

} // namespace orca_sync_test

#endif
