// Observability (issue 8): task names, metrics, the task dump (call and signal),
// the blocking detector, ORCA_TEST and the debug log.
#include <gtest/gtest-spi.h>
#include <orca/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace {

using orca_test::scaled;

struct Runtime {
	orca_runtime *rt = nullptr;
	explicit Runtime(unsigned workers, void (*tweak)(orca_config *) = nullptr)
	{
		orca_config cfg;
		orca_config_init(&cfg);
		cfg.workers = workers;
		if (tweak)
			tweak(&cfg);
		EXPECT_EQ(0, orca_runtime_create(&rt, &cfg));
	}
	~Runtime()
	{
		if (rt) {
			EXPECT_EQ(0, orca_runtime_free(rt));
		}
	}
	orca_metrics metrics() const
	{
		orca_metrics m;
		EXPECT_EQ(0, orca_runtime_metrics(rt, &m));
		return m;
	}
	std::string dump() const
	{
		char *text = nullptr;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		EXPECT_GE(orca_runtime_dump(rt, f), 0);
		fclose(f);
		std::string s(text, len);
		free(text);
		return s;
	}
};

// Waits (up to 10 s) until pred holds.
template <class Pred> bool eventually(Pred pred)
{
	int64_t until = orca_now() + ORCA_SEC(10);
	while (!pred()) {
		if (orca_now() > until)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
	return true;
}

// Redirects fd 2 into a pipe-backed buffer while alive (the dump signal's thread and
// the watchdog print to stderr from their own threads).
class StderrCapture {
public:
	StderrCapture()
	{
		fflush(stderr);
		saved_ = dup(2);
		file_ = tmpfile();
		dup2(fileno(file_), 2);
	}
	~StderrCapture() { restore(); }
	std::string text()
	{
		fflush(stderr);
		std::string s;
		char buf[4096];
		size_t n;
		FILE *r = fopen(("/proc/self/fd/" + std::to_string(fileno(file_))).c_str(), "r");
		if (!r)
			return s;
		while ((n = fread(buf, 1, sizeof(buf), r)) > 0)
			s.append(buf, n);
		fclose(r);
		return s;
	}
	// Waits up to 10 s for needle to appear.
	bool wait_for(const std::string &needle)
	{
		return eventually([&] { return text().find(needle) != std::string::npos; });
	}
	void restore()
	{
		if (saved_ < 0)
			return;
		fflush(stderr);
		dup2(saved_, 2);
		close(saved_);
		saved_ = -1;
		fclose(file_);
	}

private:
	int saved_ = -1;
	FILE *file_ = nullptr;
};

void spin_for(int64_t ns)
{
	int64_t until = orca_now() + ns;
	while (orca_now() < until) {
	}
}

// ---- task names -------------------------------------------------------------------

std::string name_seen;

intptr_t report_name(void *)
{
	const char *n = orca_task_name();
	name_seen = n ? n : "(null)";
	return 0;
}

intptr_t names_body(void *)
{
	orca_task *h;
	EXPECT_EQ(0, orca_spawn(&h, report_name, nullptr));
	EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_EQ("report_name", name_seen);

	char mine[8] = "conn 7";
	EXPECT_EQ(0, orca_spawn_named(&h, mine, report_name, nullptr));
	strcpy(mine, "gone"); // the name was copied
	EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_EQ("conn 7", name_seen);

	// Cut at 31 bytes, never inside a UTF-8 character ("é" is 2 bytes).
	std::string long_name = std::string(30, 'x') + "\xc3\xa9" + "tail";
	EXPECT_EQ(0, orca_spawn_named(&h, long_name.c_str(), report_name, nullptr));
	EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_EQ(std::string(30, 'x'), name_seen);

	EXPECT_EQ(0, orca_spawn_named(&h, "", report_name, nullptr));
	EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_EQ("(null)", name_seen);

	// Through the exported function (not the macro): unnamed.
	EXPECT_EQ(0, (orca_spawn)(&h, report_name, nullptr));
	EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_EQ("(null)", name_seen);

	// A lambda (with a comma in its body) is named "(lambda)".
	EXPECT_EQ(0, orca_spawn(&h, [](void *) -> intptr_t {
		int a = 1, b = 2;
		return report_name(nullptr) + a + b - 3;
	}, nullptr));
	EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_EQ("(lambda)", name_seen);
	return 0;
}

TEST(ObserveNames, SpawnNamesTasksAfterTheirFunction)
{
	Runtime r(2);
	intptr_t res = -1;
	ASSERT_EQ(0, orca_block_on(r.rt, names_body, nullptr, &res));
	EXPECT_EQ(0, res);
	// orca_block_on names its task too.
	ASSERT_EQ(0, orca_block_on(r.rt, report_name, nullptr, nullptr));
	EXPECT_EQ("report_name", name_seen);
}

struct pending_future {
	orca_future base;
};

orca_poll never_poll(orca_future *, orca_context *, intptr_t *)
{
	return ORCA_PENDING;
}
const orca_future_vtable never_vtable = {never_poll, nullptr, nullptr};

TEST(ObserveNames, StacklessTasksAreNamedOrShownAsFutures)
{
	Runtime r(1);
	pending_future f{{&never_vtable}};
	orca_task *named, *anon;
	ASSERT_EQ(0, orca_spawn_future_named_on(r.rt, &named, "state machine", &f.base, sizeof f));
	ASSERT_EQ(0, orca_spawn_future_on(r.rt, &anon, &f.base, sizeof f));
	ASSERT_TRUE(eventually([&] {
		std::string d = r.dump();
		return d.find("\"state machine\": waiting (on a future that does not say what)") !=
			       std::string::npos &&
		       d.find("(future): waiting") != std::string::npos;
	})) << r.dump();
	orca_abort(named);
	orca_abort(anon);
	EXPECT_EQ(-ECANCELED, orca_join(named, nullptr));
	EXPECT_EQ(-ECANCELED, orca_join(anon, nullptr));
}

TEST(ObserveNames, BadArgumentsAreErrors)
{
	orca_task *h = reinterpret_cast<orca_task *>(1);
	EXPECT_EQ(-EPERM, orca_spawn_named(&h, "x", report_name, nullptr));
	EXPECT_EQ(nullptr, h);
	EXPECT_EQ(-EINVAL, orca_spawn_named_on(nullptr, &h, "x", report_name, nullptr));
	EXPECT_EQ(-EINVAL, orca_spawn_future_named_on(nullptr, &h, "x", nullptr, 8));
	EXPECT_EQ(nullptr, orca_task_name()); // outside a task
}

// ---- metrics ------------------------------------------------------------------------

intptr_t noop(void *)
{
	return 0;
}

intptr_t spawn_n(void *arg)
{
	long n = (long)(intptr_t)arg;
	for (long i = 0; i < n; i++)
		if (orca_spawn(nullptr, noop, nullptr) != 0)
			return -1;
	return 0;
}

TEST(ObserveMetrics, SpawnAndPollCountsFollowTheWorkload)
{
	Runtime r(2);
	orca_metrics before = r.metrics();
	EXPECT_EQ(2u, before.workers);
	const long n = scaled(10000);
	intptr_t res = -1;
	ASSERT_EQ(0, orca_block_on(r.rt, spawn_n, (void *)(intptr_t)n, &res));
	ASSERT_EQ(0, res);
	ASSERT_TRUE(eventually([&] { return r.metrics().alive_tasks == 0; }));
	orca_metrics m = r.metrics();
	EXPECT_EQ(before.spawned_tasks + (uint64_t)n + 1, m.spawned_tasks);
	EXPECT_GE(m.polls - before.polls, (uint64_t)n + 1);
	uint64_t per_worker = 0;
	for (unsigned i = 0; i < 2; i++) {
		orca_worker_metrics w;
		ASSERT_EQ(0, orca_runtime_worker_metrics(r.rt, i, &w));
		per_worker += w.polls;
		// Every ORCA_METRICS_POLL_SAMPLE-th poll of a worker is timed.
		EXPECT_EQ(w.polls / ORCA_METRICS_POLL_SAMPLE, w.poll_time_samples);
	}
	EXPECT_EQ(m.polls, per_worker);
	uint64_t sum = 0;
	for (uint64_t b : m.poll_time_histogram)
		sum += b;
	EXPECT_EQ(m.poll_time_samples, sum);
	EXPECT_GT(m.busy_ns, 0u);
	EXPECT_LE(m.busy_ns, 2 * m.uptime_ns + ORCA_MSEC(10));
}

std::atomic<int> spinning_done;

intptr_t busy_child(void *)
{
	spin_for(ORCA_MSEC(2));
	spinning_done++;
	return 0;
}

intptr_t spawn_busy(void *arg)
{
	long n = (long)(intptr_t)arg;
	std::vector<orca_task *> hs(n);
	for (long i = 0; i < n; i++)
		if (orca_spawn(&hs[i], busy_child, nullptr) != 0)
			return -1;
	for (long i = 0; i < n; i++)
		orca_join(hs[i], nullptr);
	return 0;
}

TEST(ObserveMetrics, StealsAreCountedOnTwoWorkers)
{
	Runtime r(2);
	// Tasks spawned by a task land in its worker's queue; the other worker, woken
	// to help, steals them. Rounds until one steal is seen (normally the first).
	for (int round = 0; round < 20 && r.metrics().steals == 0; round++) {
		intptr_t res = -1;
		ASSERT_EQ(0, orca_block_on(r.rt, spawn_busy, (void *)(intptr_t)12, &res));
		ASSERT_EQ(0, res);
	}
	orca_metrics m = r.metrics();
	EXPECT_GT(m.steals, 0u);
	EXPECT_GT(m.steal_operations, 0u);
	EXPECT_GE(m.steals, m.steal_operations);
	EXPECT_GT(m.unparks, 0u) << "the thief was woken to take work";
}

TEST(ObserveMetrics, IdleWorkersPark)
{
	Runtime r(2);
	ASSERT_TRUE(eventually([&] { return r.metrics().parks >= 2; }));
	orca_metrics a = r.metrics();
	std::this_thread::sleep_for(std::chrono::milliseconds(100));
	orca_metrics b = r.metrics();
	// Parked all along: no busy time accrues (a little for timers and wake-ups).
	EXPECT_LT(b.busy_ns - a.busy_ns, (uint64_t)ORCA_MSEC(50));
	EXPECT_EQ(0u, b.alive_tasks);
	EXPECT_EQ(0u, b.inject_queue_depth);
	EXPECT_EQ(0u, b.local_queue_depth);
	// A task from outside unparks a worker.
	ASSERT_EQ(0, orca_block_on(r.rt, noop, nullptr, nullptr));
	EXPECT_GT(r.metrics().unparks, b.unparks);
}

intptr_t pingpong(void *arg)
{
	orca_chan *ch = static_cast<orca_chan *>(arg);
	int v = 0;
	for (int i = 0; i < 100; i++)
		if (orca_chan_recv(ch, &v) != 0)
			return -1;
	return 0;
}

intptr_t lifo_body(void *)
{
	orca_chan *ch;
	if (orca_chan_create(&ch, sizeof(int), 1) != 0)
		return -1;
	orca_task *h;
	orca_spawn(&h, pingpong, ch);
	for (int i = 0; i < 100; i++)
		orca_chan_send(ch, &i);
	orca_join(h, nullptr);
	orca_chan_release(ch);
	return 0;
}

intptr_t queue_depth_body(void *arg)
{
	orca_runtime *rt = static_cast<orca_runtime *>(arg);
	for (int i = 0; i < 6; i++)
		orca_spawn(nullptr, noop, nullptr);
	orca_worker_metrics w;
	orca_runtime_worker_metrics(rt, 0, &w);
	return (intptr_t)w.local_queue_depth;
}

TEST(ObserveMetrics, LifoHitsAndQueueDepth)
{
	Runtime r(1);
	ASSERT_EQ(0, orca_block_on(r.rt, lifo_body, nullptr, nullptr));
	EXPECT_GT(r.metrics().lifo_hits, 0u);
	intptr_t depth = -1;
	ASSERT_EQ(0, orca_block_on(r.rt, queue_depth_body, r.rt, &depth));
	EXPECT_EQ(5, depth) << "six spawned without yielding: one in the LIFO slot, five queued";
}

intptr_t io_and_timers(void *)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	char c = 'x';
	if (orca_write(fds[1], &c, 1) != 1 || orca_read(fds[0], &c, 1) != 1)
		return -2;
	close(fds[0]);
	close(fds[1]);
	return orca_sleep(ORCA_MSEC(1));
}

std::atomic<bool> release_job;

intptr_t held_job(void *)
{
	while (!release_job.load())
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	return 0;
}

intptr_t blocking_body(void *arg)
{
	orca_runtime *rt = static_cast<orca_runtime *>(arg);
	orca_task *h;
	if (orca_spawn_blocking(&h, held_job, nullptr) != 0)
		return -1;
	orca_metrics m;
	do {
		orca_sleep(ORCA_MSEC(1));
		orca_runtime_metrics(rt, &m);
	} while (m.blocking_threads == 0);
	intptr_t threads = (intptr_t)m.blocking_threads;
	release_job = true;
	orca_join(h, nullptr);
	return threads;
}

TEST(ObserveMetrics, IoTimersAndBlockingPool)
{
	Runtime r(2);
	orca_metrics a = r.metrics();
	intptr_t res = -1;
	ASSERT_EQ(0, orca_block_on(r.rt, io_and_timers, nullptr, &res));
	ASSERT_EQ(0, res);
	orca_metrics b = r.metrics();
	EXPECT_GE(b.io_completions - a.io_completions, 2u);
	EXPECT_GT(b.io_enters, a.io_enters);
	EXPECT_GE(b.timers_fired - a.timers_fired, 1u);
	EXPECT_EQ(0u, b.timers_armed);
	release_job = false;
	ASSERT_EQ(0, orca_block_on(r.rt, blocking_body, r.rt, &res));
	EXPECT_GE(res, 1);
	EXPECT_EQ(0u, r.metrics().blocking_queue_depth);
}

TEST(ObserveMetrics, SizedCallsFillWhatTheCallerHas)
{
	Runtime r(3);
	// An older caller's smaller struct: only its prefix is written.
	unsigned char buf[sizeof(orca_metrics) + 16];
	memset(buf, 0xAB, sizeof buf);
	ASSERT_EQ(0, orca_runtime_metrics_sized(r.rt, (orca_metrics *)(void *)buf, 8));
	uint64_t workers;
	memcpy(&workers, buf, 8);
	EXPECT_EQ(3u, workers);
	EXPECT_EQ(0xAB, buf[8]);
	// A newer caller's larger struct: the library zeroes what it does not know.
	ASSERT_EQ(0, orca_runtime_metrics_sized(r.rt, (orca_metrics *)(void *)buf, sizeof buf));
	for (size_t i = sizeof(orca_metrics); i < sizeof buf; i++)
		EXPECT_EQ(0, buf[i]);
	orca_metrics m;
	orca_worker_metrics w;
	EXPECT_EQ(-EINVAL, orca_runtime_metrics(nullptr, &m));
	EXPECT_EQ(-EINVAL, orca_runtime_metrics_sized(r.rt, nullptr, sizeof m));
	EXPECT_EQ(-EINVAL, orca_runtime_worker_metrics(r.rt, 3, &w));
	EXPECT_EQ(-EINVAL, orca_runtime_worker_metrics(nullptr, 0, &w));
	EXPECT_EQ(0, orca_runtime_worker_metrics(r.rt, 2, &w));
	EXPECT_EQ(-EINVAL, orca_runtime_dump(nullptr, stderr));
	EXPECT_EQ(-EINVAL, orca_runtime_dump(r.rt, nullptr));
	EXPECT_EQ(0u, orca_metrics_bucket_start_ns(0));
	EXPECT_EQ(1024, orca_metrics_bucket_start_ns(1));
	EXPECT_EQ((int64_t)1 << 28, orca_metrics_bucket_start_ns(ORCA_METRICS_BUCKETS - 1));
}

// Many readers while tasks churn: the counters are read without locks the workers
// use (TSan checks the reads are race-free).
TEST(ObserveMetrics, ReadWhileRunning)
{
	Runtime r(2);
	std::atomic<bool> stop{false};
	std::thread reader([&] {
		while (!stop.load()) {
			orca_metrics m;
			orca_runtime_metrics(r.rt, &m);
			orca_worker_metrics w;
			orca_runtime_worker_metrics(r.rt, 1, &w);
		}
	});
	for (int i = 0; i < 20; i++)
		ASSERT_EQ(0, orca_block_on(r.rt, spawn_n, (void *)(intptr_t)scaled(2000), nullptr));
	stop = true;
	reader.join();
}

// ---- the task dump -------------------------------------------------------------------

struct dump_scene {
	int fds[2];
	orca_mutex mu = ORCA_MUTEX_INIT;
	orca_notify release = ORCA_NOTIFY_INIT;
	std::atomic<bool> spin{true};
	std::atomic<int> started{0};
};

intptr_t recv_waiter(void *arg)
{
	auto *s = static_cast<dump_scene *>(arg);
	char c;
	s->started++;
	return orca_recv(s->fds[0], &c, 1, 0);
}

intptr_t sleeper(void *arg)
{
	auto *s = static_cast<dump_scene *>(arg);
	s->started++;
	return orca_sleep(ORCA_SEC(30));
}

intptr_t lock_holder(void *arg)
{
	auto *s = static_cast<dump_scene *>(arg);
	if (orca_mutex_lock(&s->mu) != 0)
		return -1;
	s->started++;
	int r = orca_notify_wait(&s->release);
	orca_mutex_unlock(&s->mu);
	return r;
}

intptr_t locker(void *arg)
{
	auto *s = static_cast<dump_scene *>(arg);
	s->started++;
	int r = orca_mutex_lock(&s->mu);
	if (r == 0)
		orca_mutex_unlock(&s->mu);
	return r;
}

intptr_t spinner(void *arg)
{
	auto *s = static_cast<dump_scene *>(arg);
	s->started++;
	while (s->spin.load())
		std::this_thread::yield();
	return 0;
}

intptr_t scene_main(void *arg)
{
	auto *s = static_cast<dump_scene *>(arg);
	orca_task *h[5];
	orca_spawn(&h[0], recv_waiter, s);
	orca_spawn(&h[1], sleeper, s);
	orca_spawn(&h[2], lock_holder, s);
	// The locker must find the mutex taken.
	while (s->started.load() < 3)
		orca_sleep(ORCA_MSEC(1));
	orca_spawn(&h[3], locker, s);
	// The spinner takes a worker for good: everyone else must be waiting by then
	// (a task left in that worker's queue would stay runnable, as the dump shows).
	while (s->started.load() < 4)
		orca_sleep(ORCA_MSEC(1));
	orca_sleep(ORCA_MSEC(5));
	orca_spawn(&h[4], spinner, s);
	intptr_t sum = 0;
	for (orca_task *t : h) {
		intptr_t r = 0;
		orca_join(t, &r);
		sum += r < 0 ? 1 : 0;
	}
	return sum;
}

TEST(ObserveDump, ListsWhatEachTaskWaitsOn)
{
	Runtime r(2);
	dump_scene s;
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, s.fds));
	orca_task *main_task;
	ASSERT_EQ(0, orca_spawn_on(r.rt, &main_task, scene_main, &s));
	char mu_addr[32];
	snprintf(mu_addr, sizeof mu_addr, "%p", (void *)&s.mu);
	const std::string expect[] = {
		"\"recv_waiter\": waiting on recv (fd " + std::to_string(s.fds[0]) + ")",
		"\"sleeper\": waiting on timer (deadline in ",
		"\"locker\": waiting on mutex (" + std::string(mu_addr) + ")",
		"\"lock_holder\": waiting on notify (",
		"\"spinner\": running on worker ",
		"\"scene_main\": waiting on join (task ",
	};
	std::string d;
	bool all = eventually([&] {
		d = r.dump();
		for (const std::string &e : expect)
			if (d.find(e) == std::string::npos)
				return false;
		return true;
	});
	EXPECT_TRUE(all) << d;
	std::printf("%s", d.c_str());
	// The sleeper's deadline is ~30 s ahead; everyone has an age.
	double in = 0, waited = 0, age = 0;
	char unit1[4] = "", unit2[4] = "";
	size_t at = d.find("\"sleeper\": ");
	ASSERT_NE(std::string::npos, at) << d;
	EXPECT_EQ(5, sscanf(d.c_str() + at,
			    "\"sleeper\": waiting on timer (deadline in %lf s) for %lf %3[a-z]; "
			    "age %lf %3[a-z]",
			    &in, &waited, unit1, &age, unit2))
		<< d;
	EXPECT_GT(in, 29.0);
	EXPECT_LE(in, 30.0);
	EXPECT_NE(std::string::npos, d.find("6 live tasks, 1 running, 0 runnable, 5 waiting")) << d;

	// Let everyone finish.
	ASSERT_EQ(1, write(s.fds[1], "x", 1));
	s.spin = false;
	orca_notify_one(&s.release);
	orca_runtime_shutdown(r.rt, ORCA_SEC(10)); // ends the sleeper
	// scene_main may finish (its last join returning) before the shutdown's walk
	// reaches it, or be aborted itself.
	int j = orca_join(main_task, nullptr);
	EXPECT_TRUE(j == 0 || j == -ECANCELED) << j;
	close(s.fds[0]);
	close(s.fds[1]);
}

std::atomic<bool> churn_stop;

intptr_t churn(void *)
{
	while (!churn_stop.load()) {
		orca_task *h;
		if (orca_spawn(&h, noop, nullptr) == 0)
			orca_join(h, nullptr);
		orca_sleep(ORCA_USEC(100));
	}
	return 0;
}

// Dumps from another thread while tasks are spawned, run and freed (ASan/TSan check
// that the dump never reads a freed task).
TEST(ObserveDump, SafeWhileTasksComeAndGo)
{
	Runtime r(2);
	churn_stop = false;
	orca_task *hs[4];
	for (orca_task *&h : hs)
		ASSERT_EQ(0, orca_spawn_on(r.rt, &h, churn, nullptr));
	FILE *null = fopen("/dev/null", "w");
	int64_t until = orca_now() + ORCA_MSEC(300);
	int dumps = 0;
	while (orca_now() < until) {
		EXPECT_GE(orca_runtime_dump(r.rt, null), 4);
		dumps++;
	}
	fclose(null);
	churn_stop = true;
	for (orca_task *h : hs)
		EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_GT(dumps, 1);
}

intptr_t dump_from_task(void *)
{
	FILE *null = fopen("/dev/null", "w");
	int n = orca_runtime_dump(orca_runtime_current(), null);
	fclose(null);
	return n;
}

TEST(ObserveDump, FromInsideATask)
{
	Runtime r(1);
	intptr_t n = 0;
	ASSERT_EQ(0, orca_block_on(r.rt, dump_from_task, nullptr, &n));
	EXPECT_EQ(1, n); // itself, running
}

intptr_t sleep_long(void *)
{
	return orca_sleep(ORCA_SEC(30));
}

TEST(ObserveDump, OnSignal)
{
	Runtime with(1, [](orca_config *c) { c->dump_signal = SIGUSR1; });
	Runtime without(1);
	orca_task *a, *b;
	ASSERT_EQ(0, orca_spawn_named_on(with.rt, &a, "signalled", sleep_long, nullptr));
	ASSERT_EQ(0, orca_spawn_named_on(without.rt, &b, "not signalled", sleep_long, nullptr));
	ASSERT_TRUE(eventually([&] { return with.metrics().timers_armed == 1; }));
	StderrCapture cap;
	ASSERT_EQ(0, raise(SIGUSR1));
	EXPECT_TRUE(cap.wait_for("orca: end of task dump"));
	std::string out = cap.text();
	cap.restore();
	EXPECT_NE(std::string::npos, out.find("\"signalled\": waiting on timer")) << out;
	EXPECT_EQ(std::string::npos, out.find("not signalled")) << out;
	std::printf("%s", out.c_str());
	orca_abort(a);
	orca_abort(b);
	EXPECT_EQ(-ECANCELED, orca_join(a, nullptr));
	EXPECT_EQ(-ECANCELED, orca_join(b, nullptr));
}

TEST(ObserveDump, BadSignalIsRefused)
{
	orca_config cfg;
	orca_config_init(&cfg);
	orca_runtime *rt = nullptr;
	cfg.dump_signal = -1;
	EXPECT_EQ(-EINVAL, orca_runtime_create(&rt, &cfg));
	cfg.dump_signal = SIGKILL; // sigaction refuses it
	EXPECT_EQ(-EINVAL, orca_runtime_create(&rt, &cfg));
	cfg.dump_signal = 0;
	cfg.blocking_threshold_ns = -1;
	EXPECT_EQ(-EINVAL, orca_runtime_create(&rt, &cfg));
	EXPECT_EQ(nullptr, rt);
}

// ---- the blocking detector ---------------------------------------------------------------

intptr_t spin_300ms(void *)
{
	spin_for(ORCA_MSEC(300));
	return 0;
}

intptr_t sleep_in_syscall(void *)
{
	usleep(300 * 1000); // blocks the worker in nanosleep
	return 0;
}

intptr_t well_behaved(void *)
{
	for (int i = 0; i < 50; i++) {
		spin_for(ORCA_MSEC(2));
		if (orca_yield() != 0 || orca_sleep(ORCA_MSEC(5)) != 0)
			return -1;
	}
	return 0;
}

void detector_on(orca_config *c)
{
	c->detect_blocking = true; // default threshold: 100 ms
}

TEST(ObserveDetector, FiresOnATaskThatSpins)
{
	Runtime r(2, detector_on);
	StderrCapture cap;
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_named_on(r.rt, &h, "spinner", spin_300ms, nullptr));
	uint64_t id = 0;
	ASSERT_EQ(0, orca_join(h, nullptr));
	EXPECT_TRUE(cap.wait_for("released worker"));
	std::string out = cap.text();
	cap.restore();
	std::printf("%s", out.c_str());
	size_t at = out.find("blocking detector: task ");
	ASSERT_NE(std::string::npos, at) << out;
	unsigned long long tid = 0;
	unsigned worker = 9;
	long over = 0, threshold = 0;
	ASSERT_EQ(4, sscanf(out.c_str() + at,
			    "blocking detector: task %llu \"spinner\" has kept worker %u busy in one "
			    "poll for over %ld ms (threshold %ld ms)",
			    &tid, &worker, &over, &threshold))
		<< out;
	id = tid;
	EXPECT_LT(worker, 2u);
	EXPECT_EQ(100, threshold);
	EXPECT_GE(over, 100);
	EXPECT_LT(over, 300);
	EXPECT_NE(std::string::npos,
		  out.find("task " + std::to_string(id) + " \"spinner\" released worker"))
		<< out;
	// Its stack, or why not (TSan delays signals to a thread that never calls into
	// an intercepted function).
	EXPECT_TRUE(out.find("orca: stack of worker") != std::string::npos) << out;
	EXPECT_EQ(1u, r.metrics().blocked_polls);
}

TEST(ObserveDetector, SaysWhenTheWorkerIsInASystemCall)
{
	Runtime r(1, detector_on);
	StderrCapture cap;
	ASSERT_EQ(0, orca_block_on(r.rt, sleep_in_syscall, nullptr, nullptr));
	EXPECT_TRUE(cap.wait_for("released worker"));
	std::string out = cap.text();
	cap.restore();
	std::printf("%s", out.c_str());
	EXPECT_NE(std::string::npos, out.find("\"sleep_in_syscall\" has kept worker 0 busy")) << out;
	EXPECT_NE(std::string::npos, out.find("is blocked in system call")) << out;
	EXPECT_EQ(1u, r.metrics().blocked_polls);
}

void detector_on_1s(orca_config *c)
{
	// Polls of ~2 ms: a threshold far above them, so an OS preemption of a worker on
	// a loaded CI machine (ctest -j2, sanitizers) is not taken for a blocking task.
	c->detect_blocking = true;
	c->blocking_threshold_ns = ORCA_SEC(1);
}

TEST(ObserveDetector, SilentForAWellBehavedWorkload)
{
	Runtime r(2, detector_on_1s);
	StderrCapture cap;
	orca_task *hs[4];
	for (orca_task *&h : hs)
		ASSERT_EQ(0, orca_spawn_on(r.rt, &h, well_behaved, nullptr));
	for (orca_task *h : hs)
		EXPECT_EQ(0, orca_join(h, nullptr));
	std::string out = cap.text();
	cap.restore();
	EXPECT_EQ(std::string::npos, out.find("blocking detector")) << out;
	EXPECT_EQ(0u, r.metrics().blocked_polls);
}

TEST(ObserveDetector, EnvironmentTurnsItOn)
{
	ASSERT_EQ(0, setenv("ORCA_BLOCKING_DETECT", "50", 1));
	{
		Runtime r(1);
		StderrCapture cap;
		ASSERT_EQ(0, orca_block_on(r.rt, spin_300ms, nullptr, nullptr));
		EXPECT_TRUE(cap.wait_for("released worker"));
		std::string out = cap.text();
		cap.restore();
		EXPECT_NE(std::string::npos, out.find("(threshold 50 ms)")) << out;
		EXPECT_EQ(1u, r.metrics().blocked_polls);
	}
	ASSERT_EQ(0, setenv("ORCA_BLOCKING_DETECT", "soon", 1));
	orca_runtime *rt = nullptr;
	EXPECT_EQ(-EINVAL, orca_runtime_create(&rt, nullptr));
	ASSERT_EQ(0, unsetenv("ORCA_BLOCKING_DETECT"));
}

// ---- ORCA_TEST ---------------------------------------------------------------------------

ORCA_TEST(ObserveOrcaTest, BodyRunsAsANamedTask)
{
	ASSERT_NE(nullptr, orca_runtime_current());
	EXPECT_EQ(2u, orca_runtime_workers(orca_runtime_current()));
	// The test's name, cut to ORCA_TASK_NAME_MAX - 1 bytes.
	EXPECT_EQ(std::string("ObserveOrcaTest.BodyRunsAsANamedTask").substr(0, ORCA_TASK_NAME_MAX - 1),
		  orca_task_name());
	EXPECT_EQ(0, orca_sleep(ORCA_MSEC(1)));
	orca_task *h;
	ASSERT_EQ(0, orca_spawn(&h, noop, nullptr));
	EXPECT_EQ(0, orca_join(h, nullptr));
}

ORCA_TEST_OPTS(ObserveOrcaTest, Options, orca_gtest::Options().workers(1).deadline_ms(5000))
{
	EXPECT_EQ(1u, orca_runtime_workers(orca_runtime_current()));
}

class ObserveFixture : public ::testing::Test {
protected:
	int fds[2] = {-1, -1};
	void SetUp() override { ASSERT_EQ(0, pipe(fds)); }
	void TearDown() override
	{
		close(fds[0]);
		close(fds[1]);
	}
};

ORCA_TEST_F(ObserveFixture, BodySeesTheFixture)
{
	char c = 'q';
	ASSERT_EQ(1, orca_write(fds[1], &c, 1));
	c = 0;
	ASSERT_EQ(1, orca_read(fds[0], &c, 1));
	EXPECT_EQ('q', c);
}

intptr_t sleep_forever(void *)
{
	orca_sleep(ORCA_SEC(3600));
	return 0;
}

TEST(ObserveOrcaTest, FailsOnDeadline)
{
	EXPECT_FATAL_FAILURE(orca_gtest::Run(orca_gtest::Options().deadline_ms(100),
					     [] { orca_sleep(ORCA_SEC(3600)); }),
			     "did not finish within its deadline of 100 ms; it was aborted. Tasks at "
			     "the deadline:");
	// What the aborted body then reports about its -ECANCELED is dropped, and
	// counted, rather than added to the test's failures.
	EXPECT_FATAL_FAILURE(orca_gtest::Run(orca_gtest::Options().deadline_ms(100),
					     [] { EXPECT_EQ(0, orca_sleep(ORCA_SEC(3600))); }),
			     "it was aborted (1 failure(s) reported by the aborted tasks were dropped)");
}

TEST(ObserveOrcaTest, FailsOnLeakedTasks)
{
	EXPECT_NONFATAL_FAILURE(orca_gtest::Run(orca_gtest::Options().leak_grace_ms(20),
						[] { orca_spawn(nullptr, sleep_forever, nullptr); }),
				"1 task(s) leaked");
	// The message lists the leaked task.
	EXPECT_NONFATAL_FAILURE(orca_gtest::Run(orca_gtest::Options().leak_grace_ms(20),
						[] { orca_spawn(nullptr, sleep_forever, nullptr); }),
				"\"sleep_forever\": waiting on timer");
	// allow_leaks: no failure, and shutdown aborts the task.
	orca_gtest::Run(orca_gtest::Options().allow_leaks(),
			[] { orca_spawn(nullptr, sleep_forever, nullptr); });
}

TEST(ObserveOrcaTest, FailuresInTheBodyAreReported)
{
	EXPECT_FATAL_FAILURE_ON_ALL_THREADS(orca_gtest::Run(orca_gtest::Options(),
							    [] { ASSERT_EQ(1, 2) << "inside"; }),
					    "inside");
	EXPECT_NONFATAL_FAILURE(orca_gtest::Run(orca_gtest::Options(),
						[] { throw std::runtime_error("boom"); }),
				"an exception escaped the test body: boom");
}

// ---- debug log ---------------------------------------------------------------------------

// The log's switch is read once per process, so the check runs this binary again
// with ORCA_LOG=debug and only this test selected.
TEST(ObserveLog, DebugLogNamesTheSteps)
{
	if (getenv("ORCA_OBSERVE_LOG_CHILD")) {
		orca_config cfg;
		orca_config_init(&cfg);
		cfg.workers = 2;
		orca_runtime *rt;
		ASSERT_EQ(0, orca_runtime_create(&rt, &cfg));
		ASSERT_EQ(0, orca_block_on(rt, noop, nullptr, nullptr));
		ASSERT_EQ(0, orca_runtime_free(rt));
		return;
	}
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	ASSERT_GT(n, 0);
	exe[n] = '\0';
	std::string cmd = std::string("ORCA_OBSERVE_LOG_CHILD=1 ORCA_LOG=debug '") + exe +
			  "' --gtest_filter=ObserveLog.DebugLogNamesTheSteps 2>&1";
	FILE *p = popen(cmd.c_str(), "r");
	ASSERT_NE(nullptr, p);
	std::string out;
	char buf[4096];
	while ((n = (ssize_t)fread(buf, 1, sizeof buf, p)) > 0)
		out.append(buf, (size_t)n);
	EXPECT_EQ(0, pclose(p)) << out;
	for (const char *line : {"orca: runtime: backend ", "orca: worker 0: started",
				 "orca: worker 1: started", "orca: runtime: 2 workers on ",
				 "orca: shutdown: step 1-2: spawns refused, ",
				 "orca: shutdown: step 3: every task finished",
				 "orca: shutdown: step 4: blocking pool stopped",
				 "orca: worker 0: stopped after ", "orca: shutdown: step 4: 2 workers joined"})
		EXPECT_NE(std::string::npos, out.find(line)) << line << "\n" << out;
	std::printf("%s", out.c_str());
}

TEST(ObserveLog, SilentByDefault)
{
	if (getenv("ORCA_LOG"))
		GTEST_SKIP() << "ORCA_LOG is set in this environment";
	StderrCapture cap;
	{
		Runtime r(1);
		ASSERT_EQ(0, orca_block_on(r.rt, noop, nullptr, nullptr));
	}
	std::string out = cap.text();
	cap.restore();
	EXPECT_EQ("", out);
}

} // namespace
