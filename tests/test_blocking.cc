// The blocking pool: results, elasticity, abort before start, idle threads exit.
#include <dirent.h>
#include <orca/gtest.h>
#include <orca/orca.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cerrno>
#include <thread>
#include <vector>

#include "test_support.h"

namespace {

int thread_count()
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	while (struct dirent *e = readdir(d))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

intptr_t blocking_sleep(void *arg)
{
	usleep((useconds_t)(intptr_t)arg);
	return (intptr_t)arg;
}

intptr_t many_blocking(void *)
{
	// 16 blocking calls of 50 ms in parallel: the pool grows, so together they take
	// about 50 ms, not 800.
	const int n = 16;
	orca_task *h[n];
	int64_t t0 = orca_now();
	for (int i = 0; i < n; i++)
		if (orca_spawn_blocking(&h[i], blocking_sleep, (void *)(intptr_t)50000))
			return -1;
	for (int i = 0; i < n; i++) {
		intptr_t r = 0;
		if (orca_join(h[i], &r) != 0 || r != 50000)
			return -2;
	}
	int64_t took = orca_now() - t0;
	return took < ORCA_MSEC(400) ? 0 : -3;
}

TEST(Blocking, ResultsAndElasticity)
{
	orca_runtime *rt;
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 2;
	cfg.blocking_keep_alive_ns = ORCA_MSEC(200);
	ASSERT_EQ(0, orca_runtime_create(&rt, &cfg));
	int before = thread_count();
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, many_blocking, nullptr, &r));
	EXPECT_EQ(0, r);
	EXPECT_GT(thread_count(), before);
	// Idle pool threads exit after keep-alive.
	for (int i = 0; i < 100 && thread_count() > before; i++)
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	EXPECT_EQ(before, thread_count());
	EXPECT_EQ(0, orca_runtime_free(rt));
}

std::atomic<int> ran;

intptr_t mark_ran(void *)
{
	ran++;
	return 0;
}

ORCA_TEST_OPTS(Blocking, AbortBeforeItStartsMeansItNeverRuns,
	       orca_gtest::Options().workers(1).configure(
		       [](orca_config *cfg) { cfg->blocking_threads = 1; }))
{
	// With a cap of one thread, the second job waits in the queue; aborting it
	// there means it never runs.
	ran = 0;
	orca_task *first, *second;
	ASSERT_EQ(0, orca_spawn_blocking(&first, blocking_sleep, (void *)(intptr_t)100000));
	orca_sleep(ORCA_MSEC(10)); // the first job now occupies the only thread
	ASSERT_EQ(0, orca_spawn_blocking(&second, mark_ran, nullptr));
	orca_sleep(ORCA_MSEC(10)); // the second is queued behind it
	orca_abort(second);
	EXPECT_EQ(-ECANCELED, orca_join(second, nullptr)) << "join of the aborted queued job";
	EXPECT_EQ(0, orca_join(first, nullptr));
	EXPECT_EQ(0, ran.load());
}

TEST(Blocking, SpawnFromPlainThreadAndBadArguments)
{
	orca_runtime *rt;
	ASSERT_EQ(0, orca_runtime_create(&rt, nullptr));
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_blocking_on(rt, &h, blocking_sleep, (void *)(intptr_t)1000));
	intptr_t r = 0;
	EXPECT_EQ(0, orca_join(h, &r));
	EXPECT_EQ(1000, r);
	EXPECT_EQ(-EINVAL, orca_spawn_blocking_on(rt, &h, nullptr, nullptr));
	EXPECT_EQ(-EINVAL, orca_spawn_blocking_on(nullptr, &h, blocking_sleep, nullptr));
	EXPECT_EQ(-EPERM, orca_spawn_blocking(&h, blocking_sleep, nullptr));
	EXPECT_EQ(0, orca_runtime_free(rt));
}

} // namespace
