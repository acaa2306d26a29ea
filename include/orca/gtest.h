// ORCA_TEST: GoogleTest tests whose body runs as an Orca task, the counterpart of
// Rust's #[tokio::test]. C++ only; include it after (or instead of) <gtest/gtest.h>.
//
//   #include <orca/gtest.h>
//
//   ORCA_TEST(Echo, RoundTrip) {          // a fresh 2-worker runtime, 10 s deadline
//       char buf[4];
//       ASSERT_EQ(4, orca_recv(fd, buf, 4, 0));
//   }
//
//   ORCA_TEST_OPTS(Echo, Fast, orca_gtest::Options().workers(4).deadline_ms(500)) { ... }
//
//   class MyFixture : public ::testing::Test { ... };
//   ORCA_TEST_F(MyFixture, Name) { ... }   // the body sees the fixture's members
//
// For each test: a runtime is created (Options: workers, stack size), the body is
// spawned as a stackful task named after the test, and the test thread waits for it.
//  - Deadline: a body still running when the deadline passes fails the test (a fatal
//    failure) with the task dump of the runtime in the message; the body is aborted
//    (its awaits return -ECANCELED) and the runtime shut down. Failures the aborted
//    tasks report while they unwind are dropped (they would only be about the
//    -ECANCELED); the message counts them. A body that never awaits cannot be
//    aborted: its runtime is then left running (leaked) and the message says so.
//  - Leaks: tasks the body spawned that are still alive once it has returned and a
//    grace period (200 ms by default) has passed fail the test (a non-fatal
//    failure, listing them); they are then aborted by the shutdown. Join handles
//    never joined or detached fail it too.
//  - Failures of the harness itself are reported at the test's line.
//  - gtest assertions work inside the body (ASSERT_* returns from it); an exception
//    escaping the body fails the test.
#ifndef ORCA_GTEST_H
#define ORCA_GTEST_H

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <orca/orca.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace orca_gtest {

struct Options {
	unsigned workers_ = 2;
	int64_t deadline_ns_ = ORCA_SEC(10);
	int64_t leak_grace_ns_ = ORCA_MSEC(200);
	bool check_leaks_ = true;
	size_t stack_size_ = 256 * 1024; // gtest's assertion machinery likes a deep stack
	void (*configure_)(orca_config *) = nullptr;

	Options &workers(unsigned n) { workers_ = n; return *this; }
	Options &deadline_ms(int64_t ms) { deadline_ns_ = ORCA_MSEC(ms); return *this; }
	Options &deadline_ns(int64_t ns) { deadline_ns_ = ns; return *this; }
	Options &leak_grace_ms(int64_t ms) { leak_grace_ns_ = ORCA_MSEC(ms); return *this; }
	Options &allow_leaks() { check_leaks_ = false; return *this; }
	Options &stack_size(size_t bytes) { stack_size_ = bytes; return *this; }
	// Any other setting: fn gets the config after workers and stack size are set.
	Options &configure(void (*fn)(orca_config *)) { configure_ = fn; return *this; }
};

namespace detail {

// Shared by the test thread and the body task: the test thread may give up on the
// body (deadline) while the task still holds it.
struct State {
	std::function<void()> body;
	std::mutex m;
	std::condition_variable cv;
	bool done = false;
	std::string exception;
};

inline intptr_t run_body(void *arg)
{
	auto *sp = static_cast<std::shared_ptr<State> *>(arg);
	std::shared_ptr<State> st = std::move(*sp);
	delete sp;
	std::string what;
	try {
		st->body();
	} catch (const std::exception &e) {
		what = std::string("an exception escaped the test body: ") + e.what();
	} catch (...) {
		what = "an unknown exception escaped the test body";
	}
	std::lock_guard<std::mutex> lock(st->m);
	st->exception = what;
	st->done = true;
	st->cv.notify_all();
	return 0;
}

inline std::string dump(orca_runtime *rt)
{
	char *text = nullptr;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return "(no task dump: out of memory)";
	orca_runtime_dump(rt, f);
	fclose(f);
	std::string s(text, len);
	free(text);
	return s;
}

inline uint64_t alive(orca_runtime *rt)
{
	orca_metrics m;
	orca_runtime_metrics(rt, &m);
	return m.alive_tasks;
}

// Aborts body (if not NULL) and shuts rt down (aborting what is left), with the
// failures the tasks report while they unwind dropped: they would only be about
// their -ECANCELED. Returns the shutdown's result; adds the count to *dropped.
inline int quiet_shutdown(orca_runtime *rt, orca_task *body, int64_t timeout_ns, int *dropped)
{
	::testing::TestPartResultArray results;
	int err;
	{
		using Reporter = ::testing::ScopedFakeTestPartResultReporter;
		Reporter quiet(Reporter::INTERCEPT_ALL_THREADS, &results);
		if (body) {
			orca_abort(body);
			orca_detach(body);
		}
		err = orca_runtime_shutdown(rt, timeout_ns);
	}
	*dropped += results.size();
	return err;
}

inline std::string dropped_note(int dropped)
{
	return dropped ? " (" + std::to_string(dropped) +
				 " failure(s) reported by the aborted tasks were dropped)"
		       : "";
}

inline std::string task_name()
{
	const ::testing::TestInfo *info = ::testing::UnitTest::GetInstance()->current_test_info();
	return info ? std::string(info->test_suite_name()) + "." + info->name() : "ORCA_TEST";
}

} // namespace detail

#define ORCA_GTEST_FAIL_AT_(file, line, type)                                               \
	GTEST_MESSAGE_AT_(file, line, "", ::testing::TestPartResult::type)

// Runs body as a task in a fresh runtime with the checks described at the top of
// this file. Reports through gtest, at file:line (by default the caller's); usable
// directly (e.g. inside EXPECT_FATAL_FAILURE).
inline void Run(const Options &opts, std::function<void()> body,
		const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = opts.workers_;
	cfg.stack_size = opts.stack_size_;
	if (opts.configure_)
		opts.configure_(&cfg);
	orca_runtime *rt = nullptr;
	int err = orca_runtime_create(&rt, &cfg);
	if (err) {
		ORCA_GTEST_FAIL_AT_(file, line, kFatalFailure)
			<< "ORCA_TEST: orca_runtime_create failed: " << orca_strerror(err);
		return;
	}
	auto st = std::make_shared<detail::State>();
	st->body = std::move(body);
	auto *arg = new std::shared_ptr<detail::State>(st);
	orca_task *h = nullptr;
	err = orca_spawn_named_on(rt, &h, detail::task_name().c_str(), detail::run_body, arg);
	if (err) {
		delete arg;
		orca_runtime_free(rt);
		ORCA_GTEST_FAIL_AT_(file, line, kFatalFailure)
			<< "ORCA_TEST: spawning the test body failed: " << orca_strerror(err);
		return;
	}
	bool finished;
	{
		std::unique_lock<std::mutex> lock(st->m);
		finished = st->cv.wait_for(lock, std::chrono::nanoseconds(opts.deadline_ns_),
					   [&] { return st->done; });
	}
	int dropped = 0;
	if (!finished) {
		std::string tasks = detail::dump(rt);
		// An awaiting body ends at its next await; one that never awaits cannot.
		bool stopped = detail::quiet_shutdown(rt, h, ORCA_SEC(2), &dropped) == 0;
		if (stopped)
			orca_runtime_free(rt);
		ORCA_GTEST_FAIL_AT_(file, line, kFatalFailure)
			<< "ORCA_TEST: the test body did not finish within its deadline of "
			<< opts.deadline_ns_ / 1000000 << " ms; it was aborted"
			<< (stopped ? ""
				    : " but did not stop (it never awaits): its runtime is leaked")
			<< detail::dropped_note(dropped) << ". Tasks at the deadline:\n"
			<< tasks;
		return;
	}
	orca_join(h, nullptr);
	if (!st->exception.empty())
		ORCA_GTEST_FAIL_AT_(file, line, kNonFatalFailure) << "ORCA_TEST: " << st->exception;
	if (opts.check_leaks_) {
		int64_t until = orca_now() + opts.leak_grace_ns_;
		while (detail::alive(rt) != 0 && orca_now() < until)
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
		uint64_t left = detail::alive(rt);
		if (left != 0)
			ORCA_GTEST_FAIL_AT_(file, line, kNonFatalFailure)
				<< "ORCA_TEST: " << left << " task(s) leaked: still alive "
				<< opts.leak_grace_ns_ / 1000000
				<< " ms after the test body returned (they are aborted now):\n"
				<< detail::dump(rt);
	}
	err = detail::quiet_shutdown(rt, nullptr, ORCA_SEC(10), &dropped);
	if (err) {
		ORCA_GTEST_FAIL_AT_(file, line, kNonFatalFailure)
			<< "ORCA_TEST: shutting the runtime down failed: " << orca_strerror(err)
			<< " (a task ignores its abort; the runtime is leaked)";
		return;
	}
	err = orca_runtime_free(rt);
	if (err == -EBUSY)
		ORCA_GTEST_FAIL_AT_(file, line, kNonFatalFailure)
			<< "ORCA_TEST: join handles were never joined or detached (the runtime is "
			   "leaked)";
	else if (err)
		ORCA_GTEST_FAIL_AT_(file, line, kNonFatalFailure)
			<< "ORCA_TEST: orca_runtime_free failed: " << orca_strerror(err);
}

} // namespace orca_gtest

#define ORCA_TEST_OPTS(suite, name, opts)                                                  \
	static void OrcaTestBody_##suite##_##name();                                       \
	TEST(suite, name)                                                                  \
	{                                                                                  \
		::orca_gtest::Run((opts), &OrcaTestBody_##suite##_##name, __FILE__, __LINE__); \
	}                                                                                  \
	static void OrcaTestBody_##suite##_##name()

#define ORCA_TEST(suite, name) ORCA_TEST_OPTS(suite, name, ::orca_gtest::Options())

// A fixture test: the body is a member of a class derived from the fixture, so it
// sees the fixture's members; SetUp and TearDown run on the test thread, outside
// the runtime.
#define ORCA_TEST_F_OPTS(fixture, name, opts)                                              \
	class OrcaTestF_##fixture##_##name : public fixture {                              \
	protected:                                                                         \
		void OrcaBody();                                                           \
	};                                                                                 \
	GTEST_TEST_(fixture, name, OrcaTestF_##fixture##_##name,                            \
		    ::testing::internal::GetTypeId<fixture>())                             \
	{                                                                                  \
		::orca_gtest::Run((opts), [this] { this->OrcaBody(); }, __FILE__, __LINE__); \
	}                                                                                  \
	void OrcaTestF_##fixture##_##name::OrcaBody()

#define ORCA_TEST_F(fixture, name) ORCA_TEST_F_OPTS(fixture, name, ::orca_gtest::Options())

#endif
