// Shared test helpers: a fixture that gives each test a fresh runtime with the
// parameterized number of workers, and scaling of iteration counts under the
// sanitizers (which run the same tests 5-15x slower).
#ifndef ORCA_TEST_SUPPORT_H
#define ORCA_TEST_SUPPORT_H

#include <gtest/gtest.h>
#include <orca/orca.h>

#include <cstdlib>
#include <string>

namespace orca_test {

// Which sanitizer this test binary was built with (GCC defines __SANITIZE_*__,
// clang answers __has_feature).
#if defined(__SANITIZE_THREAD__)
#define ORCA_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ORCA_TEST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define ORCA_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ORCA_TEST_ASAN 1
#endif
#endif

inline bool under_tsan()
{
#ifdef ORCA_TEST_TSAN
	return true;
#else
	return false;
#endif
}

inline bool under_asan()
{
#ifdef ORCA_TEST_ASAN
	return true;
#else
	return false;
#endif
}

inline bool under_sanitizer()
{
	return under_tsan() || under_asan();
}

// n for a release build, n/10 under a sanitizer.
inline long scaled(long n)
{
	return under_sanitizer() ? (n / 10 > 0 ? n / 10 : 1) : n;
}

// A count of tasks alive at once: TSan makes each stackful task a fiber, and it
// caps threads plus fibers at 8128, so keep such tests under that.
inline long live_tasks(long n)
{
	return under_tsan() && n > 4000 ? 4000 : n;
}

inline std::string worker_name(const ::testing::TestParamInfo<unsigned> &info)
{
	return std::to_string(info.param) + "workers";
}

class RuntimeTest : public ::testing::TestWithParam<unsigned> {
protected:
	orca_runtime *rt = nullptr;
	void SetUp() override
	{
		orca_config cfg;
		orca_config_init(&cfg);
		cfg.workers = GetParam();
		ASSERT_EQ(0, orca_runtime_create(&rt, &cfg));
	}
	void TearDown() override
	{
		if (rt) {
			ASSERT_EQ(0, orca_runtime_free(rt)) << "a join handle was leaked";
		}
	}
};

} // namespace orca_test

#endif
