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

inline bool under_sanitizer()
{
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}

// n for a release build, n/10 under a sanitizer.
inline long scaled(long n)
{
	return under_sanitizer() ? (n / 10 > 0 ? n / 10 : 1) : n;
}

inline bool under_tsan()
{
#if defined(__SANITIZE_THREAD__)
	return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
}

inline bool under_asan()
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return true;
#else
	return false;
#endif
#else
	return false;
#endif
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
