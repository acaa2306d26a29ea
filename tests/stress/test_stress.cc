// Stress tests of the core (issue 7): lost wake-ups, fairness, cancellation storms,
// shutdown under load, runtime create/destroy cycles. Each is bounded in time,
// prints its seed, and a watchdog fails any stall over a second instead of hanging.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <orca/orca.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "../test_support.h"

namespace {

unsigned test_seed()
{
	const char *s = getenv("ORCA_TEST_SEED");
	unsigned seed = s ? (unsigned)strtoul(s, nullptr, 10) : (unsigned)std::random_device{}();
	fprintf(stderr, "seed %u (rerun with ORCA_TEST_SEED=%u)\n", seed, seed);
	return seed;
}

// Fails the test (and ends the process: a stalled runtime cannot be torn down) if
// `progress` does not move for a second.
class Watchdog {
public:
	// Watches until progress reaches `done` (what follows, joins and frees, may be
	// slow under TSan and is not watched) or until finish().
	Watchdog(std::atomic<long> &progress, const char *what, long done = LONG_MAX)
		: progress_(progress)
	{
		thread_ = std::thread([this, what, done] {
			long last = progress_.load();
			auto since = std::chrono::steady_clock::now();
			while (!stop_) {
				std::this_thread::sleep_for(std::chrono::milliseconds(20));
				long now = progress_.load();
				if (now >= done)
					return;
				if (now != last) {
					last = now;
					since = std::chrono::steady_clock::now();
				} else if (std::chrono::steady_clock::now() - since > std::chrono::seconds(1)) {
					fprintf(stderr, "watchdog: %s stalled for 1 s at %ld (lost wake-up?)\n", what,
						now);
					fflush(stderr);
					abort();
				}
			}
		});
	}
	~Watchdog() { finish(); }
	// The watched work is over: what follows (joins, frees) may take its time.
	void finish()
	{
		if (!stop_.exchange(true))
			thread_.join();
	}

private:
	std::atomic<long> &progress_;
	std::atomic<bool> stop_{false};
	std::thread thread_;
};

orca_runtime *make_runtime(unsigned workers)
{
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = workers;
	orca_runtime *rt = nullptr;
	EXPECT_EQ(0, orca_runtime_create(&rt, &cfg));
	return rt;
}

// ---- a one-slot mailbox future: the simplest cross-task wake ------------------------

struct Mailbox {
	std::mutex mu;
	bool full = false;
	long value = 0;
	orca_waker waiter{};
};

void mailbox_put(Mailbox *m, long v)
{
	orca_waker w{};
	{
		std::lock_guard<std::mutex> g(m->mu);
		m->value = v;
		m->full = true;
		w = m->waiter;
		m->waiter = orca_waker{};
	}
	orca_waker_wake(&w);
}

struct TakeFuture {
	orca_future base;
	Mailbox *m;
};

orca_poll take_poll(orca_future *f, orca_context *cx, intptr_t *out)
{
	Mailbox *m = ((TakeFuture *)f)->m;
	std::lock_guard<std::mutex> g(m->mu);
	if (m->full) {
		*out = m->value;
		m->full = false;
		return ORCA_READY;
	}
	if (!orca_waker_will_wake(&m->waiter, cx->waker)) {
		orca_waker_drop(&m->waiter);
		m->waiter = orca_waker_clone(cx->waker);
	}
	return ORCA_PENDING;
}

void take_drop(orca_future *f)
{
	Mailbox *m = ((TakeFuture *)f)->m;
	std::lock_guard<std::mutex> g(m->mu);
	orca_waker_drop(&m->waiter);
}

const orca_future_vtable take_vtable = {take_poll, nullptr, take_drop};

long mailbox_take(Mailbox *m)
{
	TakeFuture f{{&take_vtable}, m};
	return (long)orca_await(&f.base);
}

// ---- ping-pong ----------------------------------------------------------------------

struct PingPong {
	Mailbox a, b;
	long rounds;
	std::atomic<long> progress{0};
};

intptr_t pinger(void *arg)
{
	auto *p = (PingPong *)arg;
	for (long i = 0; i < p->rounds; i++) {
		mailbox_put(&p->a, i);
		if (mailbox_take(&p->b) != i)
			return -1;
		p->progress++;
	}
	return 0;
}

intptr_t ponger(void *arg)
{
	auto *p = (PingPong *)arg;
	for (long i = 0; i < p->rounds; i++) {
		long v = mailbox_take(&p->a);
		if (v != i)
			return -1;
		mailbox_put(&p->b, v);
	}
	return 0;
}

TEST(Stress, MillionCrossThreadPingPongWakes)
{
	orca_runtime *rt = make_runtime(2);
	auto holder = std::make_unique<PingPong>();
	auto *p = holder.get();
	p->rounds = orca_test::scaled(500000); // two wakes a round: 10^6 wakes
	Watchdog wd(p->progress, "ping-pong", p->rounds);
	orca_task *a, *b;
	ASSERT_EQ(0, orca_spawn_on(rt, &b, ponger, p));
	ASSERT_EQ(0, orca_spawn_on(rt, &a, pinger, p));
	intptr_t ra = 1, rb = 1;
	EXPECT_EQ(0, orca_join(a, &ra));
	EXPECT_EQ(0, orca_join(b, &rb));
	EXPECT_EQ(0, ra);
	EXPECT_EQ(0, rb);
	wd.finish();
	EXPECT_EQ(p->rounds, p->progress.load());
	EXPECT_EQ(0, orca_runtime_free(rt));
}

TEST(Stress, PlainThreadPingPongWithATask)
{
	// One side is a plain thread (blocking join of a one-shot task per round would
	// be slow): it puts into the mailbox and waits on a condition the task sets.
	orca_runtime *rt = make_runtime(2);
	auto holder = std::make_unique<PingPong>();
	auto *p = holder.get();
	p->rounds = orca_test::scaled(100000);
	Watchdog wd(p->progress, "thread/task ping-pong", p->rounds);
	orca_task *b;
	ASSERT_EQ(0, orca_spawn_on(rt, &b, ponger, p));
	for (long i = 0; i < p->rounds; i++) {
		mailbox_put(&p->a, i);
		for (;;) {
			std::lock_guard<std::mutex> g(p->b.mu);
			if (p->b.full && p->b.value == i) {
				p->b.full = false;
				break;
			}
		}
		p->progress++;
	}
	EXPECT_EQ(0, orca_join(b, nullptr));
	wd.finish();
	EXPECT_EQ(0, orca_runtime_free(rt));
}

// ---- token ring ---------------------------------------------------------------------

struct Ring {
	std::vector<Mailbox> boxes;
	long laps;
	std::atomic<long> progress{0};
	explicit Ring(size_t n) : boxes(n) {}
};

struct RingMember {
	Ring *ring;
	size_t index;
};

intptr_t ring_member(void *arg)
{
	auto *m = (RingMember *)arg;
	Ring *r = m->ring;
	size_t n = r->boxes.size();
	for (long lap = 0; lap < r->laps; lap++) {
		if (m->index == 0 && lap == 0) {
			// The first member starts the token.
		} else {
			long got = mailbox_take(&r->boxes[m->index]);
			if (got < 0) // -ECANCELED etc.
				return -1;
		}
		r->progress++;
		mailbox_put(&r->boxes[(m->index + 1) % n], lap);
	}
	if (m->index == 0)
		mailbox_take(&r->boxes[0]); // the last pass comes back
	return 0;
}

TEST(Stress, TokenRingAcrossAllWorkers)
{
	orca_runtime *rt = make_runtime(0); // every CPU
	const size_t n = 64;
	auto holder = std::make_unique<Ring>(n);
	auto *r = holder.get();
	r->laps = orca_test::scaled(2000);
	std::vector<RingMember> members(n);
	std::vector<orca_task *> hs(n);
	Watchdog wd(r->progress, "token ring");
	for (size_t i = 0; i < n; i++) {
		members[i] = {r, i};
		ASSERT_EQ(0, orca_spawn_on(rt, &hs[i], ring_member, &members[i]));
	}
	for (auto h : hs) {
		intptr_t res = 1;
		EXPECT_EQ(0, orca_join(h, &res));
		EXPECT_EQ(0, res);
	}
	wd.finish();
	EXPECT_EQ((long)n * r->laps, r->progress.load());
	EXPECT_EQ(0, orca_runtime_free(rt));
}

// ---- fairness -------------------------------------------------------------------------

std::atomic<bool> spinning;
std::atomic<long> ticks_while_spinning;

intptr_t spin_50ms(void *)
{
	spinning = true;
	int64_t end = orca_now() + ORCA_MSEC(50);
	while (orca_now() < end) {
	}
	spinning = false;
	return 0;
}

intptr_t ticker(void *)
{
	for (int i = 0; i < 200; i++) {
		if (spinning)
			ticks_while_spinning++;
		orca_sleep(ORCA_USEC(200));
	}
	return 0;
}

TEST(Stress, ATaskThatNeverAwaitsDoesNotStopOtherWorkers)
{
	orca_runtime *rt = make_runtime(2);
	ticks_while_spinning = 0;
	orca_task *t, *s;
	ASSERT_EQ(0, orca_spawn_on(rt, &t, ticker, nullptr));
	std::this_thread::sleep_for(std::chrono::milliseconds(5));
	ASSERT_EQ(0, orca_spawn_on(rt, &s, spin_50ms, nullptr));
	EXPECT_EQ(0, orca_join(s, nullptr));
	EXPECT_EQ(0, orca_join(t, nullptr));
	EXPECT_GT(ticks_while_spinning.load(), 5) << "the other worker stopped while one spun";
	EXPECT_EQ(0, orca_runtime_free(rt));
}

struct Pair {
	PingPong pp;
	std::atomic<bool> *stop;
};

intptr_t pair_pinger(void *arg)
{
	auto *p = (Pair *)arg;
	for (long i = 0; !p->stop->load(); i++) {
		mailbox_put(&p->pp.a, i);
		if (mailbox_take(&p->pp.b) != i)
			return -1;
		p->pp.progress++;
	}
	mailbox_put(&p->pp.a, -2); // tell the ponger to stop
	return 0;
}

intptr_t pair_ponger(void *arg)
{
	auto *p = (Pair *)arg;
	for (;;) {
		long v = mailbox_take(&p->pp.a);
		if (v == -2)
			return 0;
		mailbox_put(&p->pp.b, v);
	}
}

/* One worker: the two pairs share it, so their progress depends only on the
 * scheduler's queue order, not on how the OS shares the CPUs. With two workers the
 * pairs could each hold a worker, and on a loaded machine one worker thread can get
 * half the CPU of the other: that failed the 2x bound right after benchmark runs
 * (sessions 2 and 3). It does not check the LIFO slot's bound: a build with an
 * unbounded slot passes it too. */
TEST(Stress, TwoBusyPingPongPairsGetComparableWork)
{
	orca_runtime *rt = make_runtime(1);
	std::atomic<bool> stop{false};
	auto *p1 = new Pair, *p2 = new Pair;
	p1->stop = p2->stop = &stop;
	orca_task *h[4];
	ASSERT_EQ(0, orca_spawn_on(rt, &h[0], pair_ponger, p1));
	ASSERT_EQ(0, orca_spawn_on(rt, &h[1], pair_ponger, p2));
	ASSERT_EQ(0, orca_spawn_on(rt, &h[2], pair_pinger, p1));
	ASSERT_EQ(0, orca_spawn_on(rt, &h[3], pair_pinger, p2));
	std::this_thread::sleep_for(std::chrono::milliseconds(300));
	stop = true;
	for (auto t : h)
		EXPECT_EQ(0, orca_join(t, nullptr));
	long a = p1->pp.progress, b = p2->pp.progress;
	EXPECT_GT(a, 0);
	EXPECT_GT(b, 0);
	EXPECT_LE(std::max(a, b), 2 * std::min(a, b)) << a << " vs " << b;
	EXPECT_EQ(0, orca_runtime_free(rt));
	delete p1;
	delete p2;
}

std::atomic<bool> busy_stop;

intptr_t busy_yielder(void *)
{
	while (!busy_stop)
		if (orca_yield() != 0)
			break;
	return 0;
}

intptr_t timed_sleeper(void *)
{
	int64_t deadline = orca_now() + ORCA_MSEC(20);
	orca_sleep_until(deadline);
	return (intptr_t)(orca_now() - deadline);
}

TEST(Stress, TimerFiresOnTimeWhileEveryWorkerIsBusy)
{
	orca_runtime *rt = make_runtime(2);
	busy_stop = false;
	std::vector<orca_task *> busy(8);
	for (auto &h : busy)
		ASSERT_EQ(0, orca_spawn_on(rt, &h, busy_yielder, nullptr));
	std::this_thread::sleep_for(std::chrono::milliseconds(10));
	for (int i = 0; i < 5; i++) {
		intptr_t late = -1;
		orca_task *s;
		ASSERT_EQ(0, orca_spawn_on(rt, &s, timed_sleeper, nullptr));
		ASSERT_EQ(0, orca_join(s, &late));
		EXPECT_GE(late, 0) << "timer fired early";
		// 50 ms is the requirement (release build); sanitizer builds run 5-15x slower
		// and share the machine with ctest -j2, so they get 200 ms.
		EXPECT_LT(late, orca_test::under_sanitizer() ? ORCA_MSEC(200) : ORCA_MSEC(50))
			<< "timer " << late / 1000 << " us late";
	}
	busy_stop = true;
	for (auto h : busy)
		orca_join(h, nullptr);
	EXPECT_EQ(0, orca_runtime_free(rt));
}

// ---- cancellation storm ---------------------------------------------------------------

int open_fd_count()
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

struct Storm {
	std::atomic<long> cleanups{0};
	std::atomic<long> progress{0};
	std::vector<std::atomic<int>> cleaned;
	explicit Storm(size_t n) : cleaned(n) {}
};

struct StormTask {
	Storm *storm;
	size_t index;
	int kind;
};

intptr_t storm_task(void *arg)
{
	auto *st = (StormTask *)arg;
	int sv[2] = {-1, -1};
	char buf[64];
	switch (st->kind) {
	case 0: // sleep
		orca_sleep(ORCA_SEC(30));
		break;
	case 1: // a recv that never completes, on its own socket pair
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)
			orca_recv(sv[0], buf, sizeof buf, 0);
		break;
	case 2: // yield loop
		while (orca_yield() == 0) {
		}
		break;
	case 3: { // wait on a mailbox nobody fills
		Mailbox m;
		mailbox_take(&m);
		break;
	}
	}
	// Cleanup: exactly once per task.
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	st->storm->cleaned[st->index]++;
	st->storm->cleanups++;
	st->storm->progress++;
	return 0;
}

TEST(Stress, CancellationStormLosesNothing)
{
	unsigned seed = test_seed();
	std::mt19937 rng(seed);
	int fds_before = open_fd_count();
	orca_runtime *rt = make_runtime(2);
	const size_t n = (size_t)orca_test::live_tasks(10000);
	auto holder = std::make_unique<Storm>(n);
	auto *storm = holder.get();
	std::vector<StormTask> args(n);
	std::vector<orca_task *> hs(n);
	for (size_t i = 0; i < n; i++) {
		args[i] = {storm, i, (int)(rng() % 4)};
		ASSERT_EQ(0, orca_spawn_on(rt, &hs[i], storm_task, &args[i]));
	}
	Watchdog wd(storm->progress, "cancellation storm", (long)n);
	// Abort in random order, some right away, some after a pause.
	std::vector<size_t> order(n);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	std::shuffle(order.begin(), order.end(), rng);
	for (size_t k = 0; k < n; k++) {
		orca_abort(hs[order[k]]);
		if (rng() % 1000 == 0)
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
	for (size_t i = 0; i < n; i++) {
		int r = orca_join(hs[i], nullptr);
		EXPECT_EQ(-ECANCELED, r) << "task " << i << " kind " << args[i].kind;
	}
	wd.finish();
	EXPECT_EQ((long)n, storm->cleanups.load());
	for (size_t i = 0; i < n; i++)
		ASSERT_EQ(1, storm->cleaned[i].load()) << "task " << i;
	EXPECT_EQ(0, orca_runtime_free(rt));
	EXPECT_EQ(fds_before, open_fd_count()) << "fds leaked";
}

// ---- shutdown under load --------------------------------------------------------------

TEST(Stress, ShutdownUnderLoadIsQuickAndComplete)
{
	unsigned seed = test_seed();
	std::mt19937 rng(seed);
	int fds_before = open_fd_count();
	orca_runtime *rt = make_runtime(2);
	const size_t n = (size_t)orca_test::live_tasks(10000);
	auto holder = std::make_unique<Storm>(n);
	auto *storm = holder.get();
	std::vector<StormTask> args(n);
	for (size_t i = 0; i < n; i++) {
		// The first 128 hold a recv in flight; the rest mix sleeps, yields, waits.
		int kind = i < 128 ? 1 : (int)(rng() % 4);
		if (kind == 1 && i >= 128)
			kind = 0;
		args[i] = {storm, i, kind};
		ASSERT_EQ(0, orca_spawn_on(rt, nullptr, storm_task, &args[i]));
	}
	std::this_thread::sleep_for(std::chrono::milliseconds(50));
	int64_t t0 = orca_now();
	EXPECT_EQ(0, orca_runtime_shutdown(rt, ORCA_SEC(10)));
	int64_t took = orca_now() - t0;
	fprintf(stderr, "shutdown of %zu tasks took %.1f ms\n", n, took / 1e6);
	EXPECT_LT(took, orca_test::under_sanitizer() ? ORCA_SEC(10) : ORCA_SEC(1));
	EXPECT_EQ((long)n, storm->cleanups.load());
	EXPECT_EQ(0, orca_runtime_free(rt));
	EXPECT_EQ(fds_before, open_fd_count());
}

// ---- create / destroy cycles ------------------------------------------------------------

long rss_kib()
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

intptr_t tiny(void *arg)
{
	orca_sleep(ORCA_USEC(10));
	return (intptr_t)arg;
}

TEST(Stress, ThousandRuntimeCyclesLeaveNothingBehind)
{
	const int cycles = (int)orca_test::scaled(1000);
	// Warm up (first-touch costs, lazily allocated libc state), then measure.
	for (int i = 0; i < 20; i++) {
		orca_runtime *rt = make_runtime(2);
		orca_block_on(rt, tiny, nullptr, nullptr);
		orca_runtime_free(rt);
	}
	int fds = open_fd_count();
	long rss = rss_kib();
	for (int i = 0; i < cycles; i++) {
		orca_runtime *rt = make_runtime(2);
		ASSERT_NE(nullptr, rt);
		intptr_t r = 0;
		ASSERT_EQ(0, orca_block_on(rt, tiny, (void *)(intptr_t)i, &r));
		ASSERT_EQ(i, r);
		ASSERT_EQ(0, orca_runtime_free(rt));
	}
	EXPECT_EQ(fds, open_fd_count());
	long grew = rss_kib() - rss;
	// Under ASan freed memory sits in its quarantine (RSS grows by design); there
	// LeakSanitizer is the precise check that nothing is left behind.
	if (!orca_test::under_asan()) {
		EXPECT_LT(grew, 4096) << "RSS grew by " << grew << " KiB over " << cycles << " cycles";
	}
}

} // namespace
