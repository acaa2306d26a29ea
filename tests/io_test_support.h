// The I/O suites' fixture: each test runs on a fresh runtime for every pair of
// (worker count, I/O backend), so the whole I/O suite checks that io_uring and epoll
// behave the same. Where the kernel refuses io_uring, the io_uring half is skipped
// with the reason. The accept suites add io_uring with multishot accept turned off
// (ORCA_ACCEPT_MULTISHOT=0), so the one-shot path is checked too.
#ifndef ORCA_IO_TEST_SUPPORT_H
#define ORCA_IO_TEST_SUPPORT_H

#include <gtest/gtest.h>
#include <orca/orca.h>

#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>

#include "test_support.h"

namespace orca_test {

struct IoParam {
	unsigned workers;
	orca_backend backend;
	bool oneshot_accept = false; // io_uring: ORCA_ACCEPT_MULTISHOT=0
};

// For gtest's test names and messages (the default prints the struct's bytes,
// padding included).
inline void PrintTo(const IoParam &p, std::ostream *os)
{
	*os << p.workers << " workers, backend " << (int)p.backend
	    << (p.oneshot_accept ? ", one-shot accept" : "");
}

inline const char *backend_name(orca_backend b)
{
	return b == ORCA_BACKEND_EPOLL ? "epoll" : b == ORCA_BACKEND_IO_URING ? "io_uring" : "auto";
}

inline std::string io_param_name(const ::testing::TestParamInfo<IoParam> &info)
{
	return std::string(backend_name(info.param.backend)) +
	       (info.param.oneshot_accept ? "_oneshot_accept_" : "_") +
	       std::to_string(info.param.workers) + "workers";
}

inline auto io_params()
{
	return ::testing::Values(IoParam{1, ORCA_BACKEND_IO_URING}, IoParam{2, ORCA_BACKEND_IO_URING},
				 IoParam{1, ORCA_BACKEND_EPOLL}, IoParam{2, ORCA_BACKEND_EPOLL});
}

// io_params() and io_uring with one-shot accepts (multishot turned off).
inline auto io_params_with_oneshot_accept()
{
	return ::testing::Values(IoParam{1, ORCA_BACKEND_IO_URING}, IoParam{2, ORCA_BACKEND_IO_URING},
				 IoParam{1, ORCA_BACKEND_IO_URING, true},
				 IoParam{2, ORCA_BACKEND_IO_URING, true},
				 IoParam{1, ORCA_BACKEND_EPOLL}, IoParam{2, ORCA_BACKEND_EPOLL});
}

// Runs fn(arg) as a task on rt; returns what it returned, or block_on's error.
inline intptr_t run_task(orca_runtime *rt, orca_task_fn fn, void *arg = nullptr)
{
	intptr_t r = -99999;
	int err = orca_block_on(rt, fn, arg, &r);
	return err ? err : r;
}

inline intptr_t close_in_task(void *arg)
{
	return orca_close((int)(intptr_t)arg);
}

// orca_close(fd) as a task on rt. A listener from orca_tcp_listen is closed this way:
// its multishot accept would keep the kernel's listener alive after a close(2).
inline int close_listener(orca_runtime *rt, int fd)
{
	return (int)run_task(rt, close_in_task, (void *)(intptr_t)fd);
}

class IoRuntimeTest : public ::testing::TestWithParam<IoParam> {
protected:
	orca_runtime *rt = nullptr;
	bool epoll() const
	{
		return GetParam().backend == ORCA_BACKEND_EPOLL;
	}
	// A runtime as the parameters say (the fixture's, or a second one).
	int create_runtime(orca_runtime **out)
	{
		orca_config cfg;
		orca_config_init(&cfg);
		cfg.workers = GetParam().workers;
		cfg.backend = GetParam().backend; // wins over ORCA_BACKEND in the environment
		return orca_runtime_create(out, &cfg);
	}
	void SetUp() override
	{
		// Read by each io_uring driver as it is created; each ctest test is a
		// process of its own, and no runtime is alive between tests.
		if (GetParam().oneshot_accept)
			setenv("ORCA_ACCEPT_MULTISHOT", "0", 1);
		int err = create_runtime(&rt);
		if (err != 0 && GetParam().backend == ORCA_BACKEND_IO_URING &&
		    (err == -EPERM || err == -ENOSYS || err == -EACCES || err == -ENOMEM)) {
			rt = nullptr;
			GTEST_SKIP() << "io_uring refused here: " << orca_strerror(err);
		}
		ASSERT_EQ(0, err) << orca_strerror(err);
		ASSERT_STREQ(backend_name(GetParam().backend), orca_runtime_backend(rt));
	}
	void TearDown() override
	{
		if (rt) {
			ASSERT_EQ(0, orca_runtime_free(rt)) << "a join handle was leaked";
		}
		unsetenv("ORCA_ACCEPT_MULTISHOT");
	}
};

} // namespace orca_test

#endif
