// Runtime life cycle: create/free, orca_run, shutdown with pending tasks, idle CPU,
// stack overflow reporting.
#include <orca/gtest.h>
#include <orca/orca.h>
#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <vector>

#include "test_support.h"

namespace {

intptr_t return_arg(void *arg)
{
	return (intptr_t)arg;
}

TEST(Runtime, CreateRejectsBadConfig)
{
	orca_runtime *rt = nullptr;
	EXPECT_EQ(-EINVAL, orca_runtime_create(nullptr, nullptr));
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 100000;
	EXPECT_EQ(-EINVAL, orca_runtime_create(&rt, &cfg));
	orca_config_init(&cfg);
	cfg.stack_size = (size_t)1 << 40;
	EXPECT_EQ(-EINVAL, orca_runtime_create(&rt, &cfg));
	EXPECT_EQ(-EINVAL, orca_runtime_free(nullptr));
	EXPECT_EQ(-EINVAL, orca_runtime_shutdown(nullptr, 0));
	EXPECT_EQ(-EINVAL, orca_block_on(nullptr, return_arg, nullptr, nullptr));
	EXPECT_EQ(0u, orca_runtime_workers(nullptr));
	EXPECT_STREQ("Success", orca_strerror(0));
	EXPECT_NE(nullptr, orca_strerror(-ECANCELED));
	EXPECT_NE(nullptr, orca_strerror(-123456));
}

TEST(Runtime, DefaultWorkersAreTheUsableCpus)
{
	orca_runtime *rt;
	ASSERT_EQ(0, orca_runtime_create(&rt, nullptr));
	EXPECT_EQ((unsigned)std::thread::hardware_concurrency(), orca_runtime_workers(rt));
	EXPECT_EQ(0, orca_runtime_free(rt));
}

TEST(Runtime, RunIsOneLine)
{
	intptr_t r = 0;
	EXPECT_EQ(0, orca_run(return_arg, (void *)9, &r));
	EXPECT_EQ(9, r);
	EXPECT_EQ(-EINVAL, orca_run(nullptr, nullptr, nullptr));
}

ORCA_TEST(Runtime, BlockingCallsFromAWorkerAreRefused)
{
	orca_runtime *rt = orca_runtime_current();
	ASSERT_NE(nullptr, rt);
	EXPECT_EQ(-EDEADLK, orca_block_on(rt, return_arg, nullptr, nullptr));
	EXPECT_EQ(-EDEADLK, orca_runtime_free(rt));
	EXPECT_EQ(-EDEADLK, orca_runtime_shutdown(rt, 0));
}

std::atomic<int> cleanups;

intptr_t sleep_a_minute(void *)
{
	int r = orca_sleep(ORCA_SEC(60));
	cleanups++;
	return r;
}

TEST(Runtime, ShutdownAbortsAndFreesPendingTasks)
{
	// 10k tasks parked on long sleeps: shutdown aborts them, each cleans up once,
	// and ASan's leak check (in the asan preset) sees nothing left behind.
	orca_runtime *rt;
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 2;
	ASSERT_EQ(0, orca_runtime_create(&rt, &cfg));
	cleanups = 0;
	const int n = (int)orca_test::live_tasks(10000);
	for (int i = 0; i < n; i++)
		ASSERT_EQ(0, orca_spawn_on(rt, nullptr, sleep_a_minute, nullptr));
	std::this_thread::sleep_for(std::chrono::milliseconds(20));
	int64_t t0 = orca_now();
	EXPECT_EQ(0, orca_runtime_shutdown(rt, ORCA_SEC(30)));
	EXPECT_LT(orca_now() - t0, ORCA_SEC(5));
	EXPECT_EQ(n, cleanups.load());
	orca_task *h;
	EXPECT_EQ(-ESHUTDOWN, orca_spawn_on(rt, &h, return_arg, nullptr));
	EXPECT_EQ(-ESHUTDOWN, orca_block_on(rt, return_arg, nullptr, nullptr));
	EXPECT_EQ(0, orca_runtime_shutdown(rt, 0)); // idempotent
	EXPECT_EQ(0, orca_runtime_free(rt));
}

std::atomic<bool> let_go;

intptr_t ignore_abort(void *)
{
	while (!let_go.load())
		orca_yield(); // returns -ECANCELED after the abort; this task ignores it
	return 0;
}

TEST(Runtime, ShutdownTimesOutOnATaskThatIgnoresAbort)
{
	orca_runtime *rt;
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 2;
	ASSERT_EQ(0, orca_runtime_create(&rt, &cfg));
	let_go = false;
	ASSERT_EQ(0, orca_spawn_on(rt, nullptr, ignore_abort, nullptr));
	EXPECT_EQ(-ETIMEDOUT, orca_runtime_shutdown(rt, ORCA_MSEC(50)));
	let_go = true;
	EXPECT_EQ(0, orca_runtime_shutdown(rt, ORCA_SEC(10)));
	EXPECT_EQ(0, orca_runtime_free(rt));
}

TEST(Runtime, FreeWithAHeldHandleIsBusy)
{
	orca_runtime *rt;
	ASSERT_EQ(0, orca_runtime_create(&rt, nullptr));
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, return_arg, (void *)3));
	while (!orca_task_is_finished(h))
		std::this_thread::yield();
	EXPECT_EQ(-EBUSY, orca_runtime_free(rt));
	intptr_t r = 0;
	EXPECT_EQ(0, orca_join(h, &r));
	EXPECT_EQ(3, r);
	EXPECT_EQ(0, orca_runtime_free(rt));
}

TEST(Runtime, CreateFreeCyclesLeaveNothingBehind)
{
	for (int i = 0; i < 50; i++) {
		orca_runtime *rt;
		orca_config cfg;
		orca_config_init(&cfg);
		cfg.workers = 2;
		ASSERT_EQ(0, orca_runtime_create(&rt, &cfg));
		intptr_t r = 0;
		ASSERT_EQ(0, orca_block_on(rt, return_arg, (void *)(intptr_t)i, &r));
		ASSERT_EQ(i, r);
		ASSERT_EQ(0, orca_runtime_free(rt));
	}
}

double process_cpu_seconds()
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

TEST(Runtime, IdleRuntimeUsesNoCpu)
{
	// An idle 2-worker runtime (and one with a timer far away) must park, not
	// spin: under 2% of one CPU over half a second, by getrusage, not wall time.
	orca_runtime *rt;
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 2;
	ASSERT_EQ(0, orca_runtime_create(&rt, &cfg));
	ASSERT_EQ(0, orca_spawn_on(rt, nullptr, sleep_a_minute, nullptr));
	std::this_thread::sleep_for(std::chrono::milliseconds(50)); // settle
	double c0 = process_cpu_seconds();
	std::this_thread::sleep_for(std::chrono::milliseconds(500));
	double used = process_cpu_seconds() - c0;
	EXPECT_LT(used, 0.010) << "idle runtime used " << used * 1000 << " ms of CPU in 500 ms";
	EXPECT_EQ(0, orca_runtime_free(rt));
}

// ---- stack overflow --------------------------------------------------------------

volatile int recursion_limit = 1 << 30; // volatile: the compiler cannot see the end

__attribute__((noinline)) int recurse(volatile char *prev, int depth)
{
	volatile char frame[512];
	frame[0] = (char)depth;
	if (prev)
		frame[1] = prev[0];
	if (depth >= recursion_limit)
		return frame[1];
	return recurse(frame, depth + 1) + frame[1];
}

intptr_t overflow(void *)
{
	return recurse(nullptr, 0);
}

void run_overflow()
{
	orca_runtime *rt;
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 1;
	cfg.stack_size = 16 * 1024;
	if (orca_runtime_create(&rt, &cfg) == 0)
		orca_block_on(rt, overflow, nullptr, nullptr);
}

TEST(RuntimeDeathTest, StackOverflowNamesTheTask)
{
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_DEATH(run_overflow(), "orca: stack overflow in task 1 \\(stack of 16 KiB");
}

} // namespace
