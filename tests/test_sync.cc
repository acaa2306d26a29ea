// Mutex, RwLock, Semaphore, Notify, Barrier, WaitGroup, OnceCell: results and
// errors, fairness, cancellation (deterministic hand-off races driven by polling
// the futures by hand, and a storm of aborts and timeouts), blocking variants from
// plain threads, and a randomized run checked against a sequential model.
#include <gtest/gtest.h>
#include <orca/orca.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "sync_test_support.h"
#include "test_support.h"

namespace {

using namespace orca_sync_test;
using orca_test::live_tasks;
using orca_test::scaled;

// ---- helpers ----------------------------------------------------------------------

// Spawns one task per function (they must outlive the tasks) and joins them all.
// Returns the number that did not return 0.
int spawn_join_all(std::vector<Fn> &fns)
{
	std::vector<orca_task *> hs(fns.size());
	for (size_t i = 0; i < fns.size(); i++)
		if (orca_spawn(&hs[i], call_fn, &fns[i]) != 0)
			return -1;
	int bad = 0;
	for (auto *h : hs) {
		intptr_t r = -1;
		if (orca_join(h, &r) != 0 || r != 0)
			bad++;
	}
	return bad;
}

class Sync : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Sync, ::testing::Values(1u, 2u), orca_test::worker_name);

class Sync2 : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Sync2, ::testing::Values(2u), orca_test::worker_name);

class Sync1 : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Sync1, ::testing::Values(1u), orca_test::worker_name);

// ---- Mutex ------------------------------------------------------------------------

TEST(Mutex, BadArgumentsGetEinval)
{
	EXPECT_EQ(-EINVAL, orca_mutex_init(nullptr));
	EXPECT_EQ(-EINVAL, orca_mutex_try_lock(nullptr));
	EXPECT_EQ(-EINVAL, orca_mutex_unlock(nullptr));
	EXPECT_EQ(-EINVAL, orca_mutex_lock_blocking(nullptr, -1));
	EXPECT_EQ(nullptr, orca_mutex_lock_future(nullptr, nullptr));
	orca_sync_future f;
	TestWaker w;
	intptr_t out = 0;
	EXPECT_EQ(ORCA_READY, w.poll(orca_mutex_lock_future(&f, nullptr), &out));
	EXPECT_EQ(-EINVAL, out);
	// Outside a task the awaiting calls refuse rather than block.
	orca_mutex m = ORCA_MUTEX_INIT;
	EXPECT_EQ(-EPERM, orca_mutex_lock(&m));
}

TEST(Mutex, TryLockAndUnlock)
{
	orca_mutex m = ORCA_MUTEX_INIT;
	EXPECT_EQ(-EPERM, orca_mutex_unlock(&m)) << "unlocking a free mutex";
	EXPECT_EQ(0, orca_mutex_try_lock(&m));
	EXPECT_EQ(-EBUSY, orca_mutex_try_lock(&m));
	EXPECT_EQ(0, orca_mutex_unlock(&m));
	EXPECT_EQ(0, orca_mutex_try_lock(&m));
	EXPECT_EQ(0, orca_mutex_unlock(&m));
	orca_mutex m2;
	EXPECT_EQ(0, orca_mutex_init(&m2));
	EXPECT_EQ(0, orca_mutex_try_lock(&m2));
}

TEST(Mutex, UnlockHandsTheLockToTheFirstWaiterInOrder)
{
	orca_mutex m = ORCA_MUTEX_INIT;
	ASSERT_EQ(0, orca_mutex_try_lock(&m));
	orca_sync_future f[3];
	TestWaker w[3];
	intptr_t out;
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(ORCA_PENDING, w[i].poll(orca_mutex_lock_future(&f[i], &m), &out));
	EXPECT_EQ(-EBUSY, orca_mutex_try_lock(&m)) << "no barging past waiters";
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, orca_mutex_unlock(&m));
		EXPECT_EQ(1, w[i].wakes.load()) << "waiter " << i;
		for (int j = i + 1; j < 3; j++)
			EXPECT_EQ(0, w[j].wakes.load());
		out = -1;
		ASSERT_EQ(ORCA_READY, w[i].poll(&f[i].base, &out));
		EXPECT_EQ(0, out);
		EXPECT_EQ(-EBUSY, orca_mutex_try_lock(&m));
	}
	ASSERT_EQ(0, orca_mutex_unlock(&m));
	EXPECT_EQ(0, orca_mutex_try_lock(&m));
}

TEST(Mutex, AWaiterDroppedAfterBeingHandedTheLockPassesItOn)
{
	orca_mutex m = ORCA_MUTEX_INIT;
	ASSERT_EQ(0, orca_mutex_try_lock(&m));
	orca_sync_future a, b, c;
	TestWaker wa, wb, wc;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, wa.poll(orca_mutex_lock_future(&a, &m), &out));
	ASSERT_EQ(ORCA_PENDING, wb.poll(orca_mutex_lock_future(&b, &m), &out));
	ASSERT_EQ(ORCA_PENDING, wc.poll(orca_mutex_lock_future(&c, &m), &out));
	// b leaves while still queued: nothing to pass on.
	drop_future(&b.base);
	ASSERT_EQ(0, orca_mutex_unlock(&m)); // hands the lock to a
	ASSERT_EQ(1, wa.wakes.load());
	// a is cancelled at that very moment (abort, timeout, lost select): the lock
	// must go to c, not be lost.
	drop_future(&a.base);
	EXPECT_EQ(1, wc.wakes.load());
	EXPECT_EQ(0, wb.wakes.load());
	ASSERT_EQ(ORCA_READY, wc.poll(&c.base, &out));
	EXPECT_EQ(0, out);
	ASSERT_EQ(0, orca_mutex_unlock(&m));
	// Nobody waits: an abandoned hand-off leaves the mutex free.
	orca_sync_future d;
	ASSERT_EQ(0, orca_mutex_try_lock(&m));
	ASSERT_EQ(ORCA_PENDING, wa.poll(orca_mutex_lock_future(&d, &m), &out));
	ASSERT_EQ(0, orca_mutex_unlock(&m));
	drop_future(&d.base);
	EXPECT_EQ(0, orca_mutex_try_lock(&m));
}

TEST(Mutex, DroppingAFutureNeverPolledIsHarmless)
{
	orca_mutex m = ORCA_MUTEX_INIT;
	orca_sync_future f;
	drop_future(orca_mutex_lock_future(&f, &m));
	EXPECT_EQ(0, orca_mutex_try_lock(&m));
}

TEST_P(Sync2, MutexKeepsAPlainCounterExact)
{
	// 8 tasks x 100k lock/unlock on 2 workers; the counter is a plain long, so a
	// lapse of exclusion shows as a lost update (and as a race under TSan).
	static orca_mutex m = ORCA_MUTEX_INIT;
	static long counter;
	counter = 0;
	const long iters = scaled(100000);
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns(8, [&]() -> intptr_t {
				  for (long i = 0; i < iters; i++) {
					  if (orca_mutex_lock(&m) != 0)
						  return 1;
					  counter++;
					  // Now and then hold it across a suspension.
					  if (i % 997 == 0 && orca_yield() != 0)
						  return 2;
					  if (orca_mutex_unlock(&m) != 0)
						  return 3;
				  }
				  return 0;
			  });
			  return spawn_join_all(fns);
		  }));
	EXPECT_EQ(8 * iters, counter);
	EXPECT_EQ(0, orca_mutex_try_lock(&m));
	EXPECT_EQ(0, orca_mutex_unlock(&m));
}

TEST_P(Sync, MutexLockTimeoutGivesUpAndLeavesTheQueue)
{
	orca_mutex m = ORCA_MUTEX_INIT;
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  if (orca_mutex_lock(&m) != 0)
				  return 1;
			  std::vector<Fn> fns(1, [&]() -> intptr_t {
				  int64_t t0 = orca_now();
				  if (orca_mutex_lock_timeout(&m, ORCA_MSEC(20)) != -ETIMEDOUT)
					  return 1;
				  if (orca_now() - t0 < ORCA_MSEC(20))
					  return 2;
				  return 0;
			  });
			  if (spawn_join_all(fns) != 0)
				  return 2;
			  if (orca_mutex_unlock(&m) != 0)
				  return 3;
			  // The timed-out waiter is gone: the lock is free, not handed to it.
			  if (orca_mutex_try_lock(&m) != 0)
				  return 4;
			  if (orca_mutex_lock_timeout(&m, 0) != -ETIMEDOUT)
				  return 5;
			  orca_mutex_unlock(&m);
			  return orca_mutex_lock_timeout(&m, ORCA_MSEC(5)) == 0 ? 0 : 6;
		  }));
}

TEST_P(Sync, MutexWaitersAreServedFifo)
{
	orca_mutex m = ORCA_MUTEX_INIT;
	std::vector<int> order;
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  if (orca_mutex_lock(&m) != 0)
				  return 1;
			  std::vector<Fn> fns;
			  for (int i = 0; i < 5; i++)
				  fns.push_back([&, i]() -> intptr_t {
					  if (orca_mutex_lock(&m) != 0)
						  return 1;
					  order.push_back(i);
					  orca_mutex_unlock(&m);
					  return 0;
				  });
			  std::vector<orca_task *> hs(fns.size());
			  for (size_t i = 0; i < fns.size(); i++) {
				  if (orca_spawn(&hs[i], call_fn, &fns[i]) != 0)
					  return 2;
				  orca_sleep(ORCA_MSEC(2)); // let it queue before the next
			  }
			  orca_mutex_unlock(&m);
			  for (auto *h : hs)
				  orca_join(h, nullptr);
			  return 0;
		  }));
	EXPECT_EQ((std::vector<int>{0, 1, 2, 3, 4}), order);
}

TEST_P(Sync, AbortedLockWaiterReturnsEcanceledAndDoesNotHoldTheLock)
{
	orca_mutex m = ORCA_MUTEX_INIT;
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  orca_mutex_lock(&m);
			  Fn waiter = [&]() -> intptr_t { return orca_mutex_lock(&m); };
			  orca_task *h;
			  if (orca_spawn(&h, call_fn, &waiter) != 0)
				  return 1;
			  orca_sleep(ORCA_MSEC(5));
			  orca_abort(h);
			  intptr_t r = 0;
			  int j = orca_join(h, &r);
			  if (j != -ECANCELED && r != -ECANCELED)
				  return 2;
			  orca_mutex_unlock(&m);
			  return orca_mutex_try_lock(&m) == 0 ? 0 : 3;
		  }));
}

TEST(Mutex, BlockingVariantsWorkFromPlainThreads)
{
	static orca_mutex m = ORCA_MUTEX_INIT;
	static long counter = 0;
	std::vector<std::thread> ts;
	for (int t = 0; t < 4; t++)
		ts.emplace_back([] {
			for (int i = 0; i < scaled(20000); i++) {
				ASSERT_EQ(0, orca_mutex_lock_blocking(&m, -1));
				counter++;
				ASSERT_EQ(0, orca_mutex_unlock(&m));
			}
		});
	for (auto &t : ts)
		t.join();
	EXPECT_EQ(4 * scaled(20000), counter);
	ASSERT_EQ(0, orca_mutex_try_lock(&m));
	int64_t t0 = orca_now();
	EXPECT_EQ(-ETIMEDOUT, orca_mutex_lock_blocking(&m, ORCA_MSEC(20)));
	EXPECT_GE(orca_now() - t0, ORCA_MSEC(20));
	std::thread unlocker([] {
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
		orca_mutex_unlock(&m);
	});
	EXPECT_EQ(0, orca_mutex_lock_blocking(&m, ORCA_SEC(10)));
	unlocker.join();
	EXPECT_EQ(0, orca_mutex_unlock(&m));
}

// A stackless task polls on a worker outside any stackful task: a blocking call
// there would stall the worker, so it is refused.
struct BlockingFromStackless {
	orca_future base;
	orca_mutex *m;
	static orca_poll poll(orca_future *f, orca_context *, intptr_t *out)
	{
		*out = orca_mutex_lock_blocking(reinterpret_cast<BlockingFromStackless *>(f)->m, -1);
		return ORCA_READY;
	}
};
const orca_future_vtable blocking_from_stackless_vt = {BlockingFromStackless::poll, nullptr, nullptr};

TEST_P(Sync, BlockingVariantOnAWorkerOutsideATaskIsEdeadlk)
{
	orca_mutex m = ORCA_MUTEX_INIT;
	BlockingFromStackless f{{&blocking_from_stackless_vt}, &m};
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_future_on(rt, &h, &f.base, sizeof f));
	intptr_t r = 0;
	ASSERT_EQ(0, orca_join(h, &r));
	EXPECT_EQ(-EDEADLK, r);
}

TEST_P(Sync, LockFutureWorksInsideAStacklessTask)
{
	static orca_mutex m = ORCA_MUTEX_INIT;
	ASSERT_EQ(0, orca_mutex_try_lock(&m));
	orca_sync_future f;
	orca_mutex_lock_future(&f, &m);
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_future_on(rt, &h, &f.base, sizeof f));
	std::this_thread::sleep_for(std::chrono::milliseconds(5));
	EXPECT_FALSE(orca_task_is_finished(h));
	ASSERT_EQ(0, orca_mutex_unlock(&m));
	intptr_t r = -1;
	ASSERT_EQ(0, orca_join(h, &r));
	EXPECT_EQ(0, r);
	EXPECT_EQ(-EBUSY, orca_mutex_try_lock(&m)) << "the stackless task holds it now";
	EXPECT_EQ(0, orca_mutex_unlock(&m));
}

// ---- RwLock ---------------------------------------------------------------------------

TEST(RwLock, ReadersShareWritersExcludeAndAWaitingWriterHoldsBackNewReaders)
{
	orca_rwlock l = ORCA_RWLOCK_INIT;
	EXPECT_EQ(-EPERM, orca_rwlock_read_unlock(&l));
	EXPECT_EQ(-EPERM, orca_rwlock_write_unlock(&l));
	ASSERT_EQ(0, orca_rwlock_try_read(&l));
	ASSERT_EQ(0, orca_rwlock_try_read(&l));
	EXPECT_EQ(-EBUSY, orca_rwlock_try_write(&l));
	EXPECT_EQ(-EPERM, orca_rwlock_write_unlock(&l));
	orca_sync_future wf, rf;
	TestWaker ww, rw;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, ww.poll(orca_rwlock_write_future(&wf, &l), &out));
	// Writer-preferring: a reader arriving now waits behind the writer.
	EXPECT_EQ(-EBUSY, orca_rwlock_try_read(&l));
	ASSERT_EQ(ORCA_PENDING, rw.poll(orca_rwlock_read_future(&rf, &l), &out));
	ASSERT_EQ(0, orca_rwlock_read_unlock(&l));
	EXPECT_EQ(0, ww.wakes.load());
	ASSERT_EQ(0, orca_rwlock_read_unlock(&l));
	EXPECT_EQ(1, ww.wakes.load());
	EXPECT_EQ(0, rw.wakes.load());
	ASSERT_EQ(ORCA_READY, ww.poll(&wf.base, &out));
	EXPECT_EQ(0, out);
	EXPECT_EQ(-EPERM, orca_rwlock_read_unlock(&l));
	ASSERT_EQ(0, orca_rwlock_write_unlock(&l));
	EXPECT_EQ(1, rw.wakes.load());
	ASSERT_EQ(ORCA_READY, rw.poll(&rf.base, &out));
	EXPECT_EQ(0, out);
	EXPECT_EQ(0, orca_rwlock_try_read(&l)) << "readers share";
	EXPECT_EQ(0, orca_rwlock_read_unlock(&l));
	EXPECT_EQ(0, orca_rwlock_read_unlock(&l));
	EXPECT_EQ(0, orca_rwlock_try_write(&l));
	EXPECT_EQ(0, orca_rwlock_write_unlock(&l));
	EXPECT_EQ(-EINVAL, orca_rwlock_init(nullptr));
	EXPECT_EQ(-EINVAL, orca_rwlock_try_read(nullptr));
}

TEST_P(Sync, RwLockReadersOverlap)
{
	orca_rwlock l = ORCA_RWLOCK_INIT;
	std::atomic<int> inside{0};
	const int readers = 4;
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns(readers, [&]() -> intptr_t {
				  if (orca_rwlock_read(&l) != 0)
					  return 1;
				  inside++;
				  // Wait, holding the read lock, until every reader is in: only
				  // possible if they all hold it at once.
				  int64_t deadline = orca_now() + ORCA_SEC(10);
				  while (inside.load() < readers && orca_now() < deadline)
					  orca_sleep(ORCA_MSEC(1));
				  bool ok = inside.load() == readers;
				  orca_rwlock_read_unlock(&l);
				  return ok ? 0 : 2;
			  });
			  return spawn_join_all(fns);
		  }));
}

TEST_P(Sync, RwLockWritersExcludeEveryone)
{
	orca_rwlock l = ORCA_RWLOCK_INIT;
	std::atomic<int> readers_in{0}, writers_in{0}, violations{0};
	long shared = 0;
	const long iters = scaled(20000);
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns;
			  for (int i = 0; i < 3; i++)
				  fns.push_back([&]() -> intptr_t {
					  for (long k = 0; k < iters; k++) {
						  if (orca_rwlock_write(&l) != 0)
							  return 1;
						  if (writers_in++ != 0 || readers_in.load() != 0)
							  violations++;
						  shared++;
						  if (k % 499 == 0)
							  orca_yield();
						  writers_in--;
						  orca_rwlock_write_unlock(&l);
					  }
					  return 0;
				  });
			  for (int i = 0; i < 5; i++)
				  fns.push_back([&]() -> intptr_t {
					  for (long k = 0; k < iters; k++) {
						  if (orca_rwlock_read(&l) != 0)
							  return 1;
						  readers_in++;
						  if (writers_in.load() != 0)
							  violations++;
						  volatile long seen = shared;
						  (void)seen;
						  if (k % 499 == 0)
							  orca_yield();
						  readers_in--;
						  orca_rwlock_read_unlock(&l);
					  }
					  return 0;
				  });
			  return spawn_join_all(fns);
		  }));
	EXPECT_EQ(0, violations.load());
	EXPECT_EQ(3 * iters, shared);
}

TEST_P(Sync, RwLockWriterIsNotStarvedByAStreamOfReaders)
{
	orca_rwlock l = ORCA_RWLOCK_INIT;
	std::atomic<bool> stop{false};
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns(4, [&]() -> intptr_t {
				  // Overlapping readers: with a reader-preferring lock there would
				  // always be one inside and the writer would never get in.
				  while (!stop.load()) {
					  if (orca_rwlock_read(&l) != 0)
						  return 1;
					  orca_sleep(ORCA_MSEC(1));
					  orca_rwlock_read_unlock(&l);
				  }
				  return 0;
			  });
			  std::vector<orca_task *> hs(fns.size());
			  for (size_t i = 0; i < fns.size(); i++)
				  orca_spawn(&hs[i], call_fn, &fns[i]);
			  orca_sleep(ORCA_MSEC(10));
			  orca_sync_future f;
			  int r = (int)orca_await_timeout(orca_rwlock_write_future(&f, &l), ORCA_SEC(5));
			  stop = true;
			  if (r == 0)
				  orca_rwlock_write_unlock(&l);
			  for (auto *h : hs)
				  orca_join(h, nullptr);
			  return r;
		  }));
}

// ---- Semaphore -----------------------------------------------------------------------

TEST(Semaphore, CountsErrorsAndClose)
{
	orca_semaphore s = ORCA_SEMAPHORE_INIT(3);
	EXPECT_EQ(3, orca_semaphore_available(&s));
	EXPECT_EQ(0, orca_semaphore_try_acquire(&s, 2));
	EXPECT_EQ(-EAGAIN, orca_semaphore_try_acquire(&s, 2));
	EXPECT_EQ(0, orca_semaphore_try_acquire(&s, 1));
	EXPECT_EQ(0, orca_semaphore_try_acquire(&s, 0));
	EXPECT_EQ(0, orca_semaphore_release(&s, 3));
	EXPECT_EQ(3, orca_semaphore_available(&s));
	EXPECT_EQ(-EOVERFLOW, orca_semaphore_release(&s, ORCA_SEMAPHORE_MAX_PERMITS));
	EXPECT_EQ(3, orca_semaphore_available(&s));
	EXPECT_EQ(-EINVAL, orca_semaphore_init(&s, ORCA_SEMAPHORE_MAX_PERMITS + 1));
	EXPECT_EQ(-EINVAL, orca_semaphore_init(nullptr, 1));
	EXPECT_EQ(-EINVAL, orca_semaphore_try_acquire(&s, ORCA_SEMAPHORE_MAX_PERMITS + 1));
	EXPECT_EQ(-EINVAL, orca_semaphore_release(nullptr, 1));
	EXPECT_EQ(-EINVAL, orca_semaphore_available(nullptr));
	EXPECT_EQ(-EINVAL, orca_semaphore_close(nullptr));

	// Waiters get -EPIPE on close; later acquires too; release still works.
	orca_sync_future f;
	TestWaker w;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, w.poll(orca_semaphore_acquire_future(&f, &s, 5), &out));
	EXPECT_FALSE(orca_semaphore_is_closed(&s));
	EXPECT_EQ(0, orca_semaphore_close(&s));
	EXPECT_TRUE(orca_semaphore_is_closed(&s));
	EXPECT_EQ(1, w.wakes.load());
	ASSERT_EQ(ORCA_READY, w.poll(&f.base, &out));
	EXPECT_EQ(-EPIPE, out);
	EXPECT_EQ(-EPIPE, orca_semaphore_try_acquire(&s, 1));
	EXPECT_EQ(-EPIPE, orca_semaphore_acquire_blocking(&s, 1, -1));
	EXPECT_EQ(0, orca_semaphore_release(&s, 1));
	EXPECT_EQ(4, orca_semaphore_available(&s));
	EXPECT_EQ(0, orca_semaphore_close(&s)) << "idempotent";
}

TEST(Semaphore, ALargeAcquireIsNotStarvedBySmallOnes)
{
	orca_semaphore s = ORCA_SEMAPHORE_INIT(2);
	orca_sync_future big, small;
	TestWaker wb, ws;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, wb.poll(orca_semaphore_acquire_future(&big, &s, 3), &out));
	// Two permits are free, but the big waiter is first in line.
	EXPECT_EQ(-EAGAIN, orca_semaphore_try_acquire(&s, 1));
	ASSERT_EQ(ORCA_PENDING, ws.poll(orca_semaphore_acquire_future(&small, &s, 1), &out));
	ASSERT_EQ(0, orca_semaphore_release(&s, 1));
	EXPECT_EQ(1, wb.wakes.load());
	EXPECT_EQ(0, ws.wakes.load());
	ASSERT_EQ(ORCA_READY, wb.poll(&big.base, &out));
	EXPECT_EQ(0, out);
	EXPECT_EQ(0, orca_semaphore_available(&s));
	// The big one gives up permits it was granted...
	ASSERT_EQ(0, orca_semaphore_release(&s, 3));
	EXPECT_EQ(1, ws.wakes.load());
	ASSERT_EQ(ORCA_READY, ws.poll(&small.base, &out));
	EXPECT_EQ(2, orca_semaphore_available(&s));
}

TEST(Semaphore, LeavingTheHeadLetsTheNextWaiterIn)
{
	orca_semaphore s = ORCA_SEMAPHORE_INIT(2);
	orca_sync_future big, small;
	TestWaker wb, ws;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, wb.poll(orca_semaphore_acquire_future(&big, &s, 5), &out));
	ASSERT_EQ(ORCA_PENDING, ws.poll(orca_semaphore_acquire_future(&small, &s, 2), &out));
	drop_future(&big.base); // times out: the small one now fits
	EXPECT_EQ(1, ws.wakes.load());
	ASSERT_EQ(ORCA_READY, ws.poll(&small.base, &out));
	EXPECT_EQ(0, out);
	EXPECT_EQ(0, orca_semaphore_available(&s));
}

TEST(Semaphore, GrantedPermitsOfADroppedWaiterGoToTheNext)
{
	orca_semaphore s = ORCA_SEMAPHORE_INIT(0);
	orca_sync_future a, b;
	TestWaker wa, wb;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, wa.poll(orca_semaphore_acquire_future(&a, &s, 2), &out));
	ASSERT_EQ(ORCA_PENDING, wb.poll(orca_semaphore_acquire_future(&b, &s, 1), &out));
	ASSERT_EQ(0, orca_semaphore_release(&s, 2));
	EXPECT_EQ(1, wa.wakes.load());
	EXPECT_EQ(0, wb.wakes.load());
	drop_future(&a.base);
	EXPECT_EQ(1, wb.wakes.load());
	ASSERT_EQ(ORCA_READY, wb.poll(&b.base, &out));
	EXPECT_EQ(1, orca_semaphore_available(&s)) << "2 released, 1 taken, none lost";
}

TEST_P(Sync, SemaphoreNeverExceedsItsPermits)
{
	orca_semaphore s = ORCA_SEMAPHORE_INIT(3);
	std::atomic<long> gauge{0}, max_seen{0};
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns;
			  for (int t = 0; t < 16; t++)
				  fns.push_back([&, t]() -> intptr_t {
					  std::minstd_rand rng(t + 1);
					  for (long k = 0; k < scaled(5000); k++) {
						  uint64_t n = 1 + rng() % 3;
						  if (orca_semaphore_acquire(&s, n) != 0)
							  return 1;
						  long g = gauge += (long)n;
						  long m = max_seen.load();
						  while (g > m && !max_seen.compare_exchange_weak(m, g))
							  ;
						  if (rng() % 8 == 0)
							  orca_yield();
						  gauge -= (long)n;
						  orca_semaphore_release(&s, n);
					  }
					  return 0;
				  });
			  return spawn_join_all(fns);
		  }));
	EXPECT_LE(max_seen.load(), 3);
	EXPECT_GE(max_seen.load(), 1);
	EXPECT_EQ(3, orca_semaphore_available(&s));
}

// ---- Notify -------------------------------------------------------------------------------

TEST(Notify, APermitStoredBeforeTheWaitIsConsumedOnce)
{
	orca_notify n = ORCA_NOTIFY_INIT;
	ASSERT_EQ(0, orca_notify_one(&n));
	ASSERT_EQ(0, orca_notify_one(&n)); // at most one permit is stored
	orca_sync_future f;
	TestWaker w;
	intptr_t out = -1;
	EXPECT_EQ(ORCA_READY, w.poll(orca_notify_wait_future(&f, &n), &out));
	EXPECT_EQ(0, out);
	EXPECT_EQ(ORCA_PENDING, w.poll(orca_notify_wait_future(&f, &n), &out));
	drop_future(&f.base);
	EXPECT_EQ(-EINVAL, orca_notify_one(nullptr));
	EXPECT_EQ(-EINVAL, orca_notify_all(nullptr));
	EXPECT_EQ(-EINVAL, orca_notify_init(nullptr));
	EXPECT_EQ(-ETIMEDOUT, orca_notify_wait_blocking(&n, ORCA_MSEC(5)));
}

TEST(Notify, NotifyOneWakesInOrderAndPassesOnWhenTheWokenOneIsDropped)
{
	orca_notify n;
	ASSERT_EQ(0, orca_notify_init(&n));
	orca_sync_future f[3];
	TestWaker w[3];
	intptr_t out;
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(ORCA_PENDING, w[i].poll(orca_notify_wait_future(&f[i], &n), &out));
	ASSERT_EQ(0, orca_notify_one(&n));
	EXPECT_EQ(1, w[0].wakes.load());
	EXPECT_EQ(0, w[1].wakes.load());
	drop_future(&f[0].base); // woken, then cancelled: the notification goes on
	EXPECT_EQ(1, w[1].wakes.load());
	ASSERT_EQ(ORCA_READY, w[1].poll(&f[1].base, &out));
	EXPECT_EQ(0, w[2].wakes.load());
	drop_future(&f[2].base); // leaves without having been woken
	ASSERT_EQ(0, orca_notify_one(&n)); // nobody waits: stored
	orca_sync_future g;
	EXPECT_EQ(ORCA_READY, w[0].poll(orca_notify_wait_future(&g, &n), &out));
}

TEST(Notify, NotifyAllWakesEveryoneWaitingAndStoresNothing)
{
	orca_notify n = ORCA_NOTIFY_INIT;
	orca_sync_future f[40];
	TestWaker w[40];
	intptr_t out;
	for (int i = 0; i < 40; i++) // more than one wake batch
		ASSERT_EQ(ORCA_PENDING, w[i].poll(orca_notify_wait_future(&f[i], &n), &out));
	// A future made before notify_all but not polled yet counts as waiting.
	orca_sync_future early;
	orca_notify_wait_future(&early, &n);
	ASSERT_EQ(0, orca_notify_all(&n));
	for (int i = 0; i < 40; i++) {
		EXPECT_EQ(1, w[i].wakes.load());
		EXPECT_EQ(ORCA_READY, w[i].poll(&f[i].base, &out));
	}
	TestWaker we;
	EXPECT_EQ(ORCA_READY, we.poll(&early.base, &out));
	orca_sync_future late;
	EXPECT_EQ(ORCA_PENDING, we.poll(orca_notify_wait_future(&late, &n), &out));
	drop_future(&late.base);
}

TEST_P(Sync, NotifyWakesTasks)
{
	orca_notify n = ORCA_NOTIFY_INIT;
	std::atomic<int> woke{0};
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns(6, [&]() -> intptr_t {
				  if (orca_notify_wait(&n) != 0)
					  return 1;
				  woke++;
				  return 0;
			  });
			  std::vector<orca_task *> hs(fns.size());
			  for (size_t i = 0; i < fns.size(); i++)
				  orca_spawn(&hs[i], call_fn, &fns[i]);
			  orca_sleep(ORCA_MSEC(10));
			  orca_notify_one(&n);
			  orca_notify_one(&n);
			  int64_t deadline = orca_now() + ORCA_SEC(5);
			  while (woke.load() < 2 && orca_now() < deadline)
				  orca_sleep(ORCA_MSEC(1));
			  orca_sleep(ORCA_MSEC(10));
			  if (woke.load() != 2)
				  return 1; // two notify_one: exactly two woken
			  orca_notify_all(&n);
			  for (auto *h : hs)
				  orca_join(h, nullptr);
			  if (woke.load() != 6)
				  return 2;
			  if (orca_notify_wait_timeout(&n, ORCA_MSEC(5)) != -ETIMEDOUT)
				  return 3;
			  orca_notify_one(&n);
			  return orca_notify_wait_timeout(&n, ORCA_MSEC(5));
		  }));
}

// ---- Barrier --------------------------------------------------------------------------------

TEST_P(Sync, BarrierReleasesEachRoundTogetherWithOneLeader)
{
	orca_barrier b = ORCA_BARRIER_INIT(5);
	const int rounds = (int)scaled(200);
	std::vector<std::atomic<int>> arrived(rounds), leaders(rounds);
	std::atomic<int> early{0};
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns(5, [&]() -> intptr_t {
				  for (int r = 0; r < rounds; r++) {
					  arrived[r]++;
					  int lead = orca_barrier_wait(&b);
					  if (lead < 0)
						  return 1;
					  if (arrived[r].load() != 5)
						  early++;
					  leaders[r] += lead;
				  }
				  return 0;
			  });
			  return spawn_join_all(fns);
		  }));
	EXPECT_EQ(0, early.load()) << "released before all arrived";
	for (int r = 0; r < rounds; r++)
		EXPECT_EQ(1, leaders[r].load()) << "round " << r;
}

TEST(Barrier, ErrorsAndADepartingWaiterTakesItsArrivalBack)
{
	orca_barrier b;
	EXPECT_EQ(-EINVAL, orca_barrier_init(&b, 0));
	EXPECT_EQ(-EINVAL, orca_barrier_init(nullptr, 2));
	orca_barrier zero = ORCA_BARRIER_INIT(0);
	EXPECT_EQ(-EINVAL, orca_barrier_wait_blocking(&zero, -1));
	ASSERT_EQ(0, orca_barrier_init(&b, 2));
	orca_sync_future a, c, d;
	TestWaker w;
	intptr_t out = -1;
	ASSERT_EQ(ORCA_PENDING, w.poll(orca_barrier_wait_future(&a, &b), &out));
	drop_future(&a.base); // gave up: the round still needs two
	ASSERT_EQ(ORCA_PENDING, w.poll(orca_barrier_wait_future(&c, &b), &out));
	ASSERT_EQ(ORCA_READY, w.poll(orca_barrier_wait_future(&d, &b), &out));
	EXPECT_EQ(1, out);
	ASSERT_EQ(ORCA_READY, w.poll(&c.base, &out));
	EXPECT_EQ(0, out);
	orca_barrier one = ORCA_BARRIER_INIT(1);
	EXPECT_EQ(1, orca_barrier_wait_blocking(&one, -1));
}

// ---- WaitGroup ------------------------------------------------------------------------------

TEST(WaitGroup, CountsAndRefusesToGoNegative)
{
	orca_waitgroup wg = ORCA_WAITGROUP_INIT;
	EXPECT_EQ(0, orca_waitgroup_count(&wg));
	EXPECT_EQ(-EINVAL, orca_waitgroup_done(&wg));
	EXPECT_EQ(0, orca_waitgroup_count(&wg));
	EXPECT_EQ(0, orca_waitgroup_wait_blocking(&wg, -1)) << "0: returns at once";
	EXPECT_EQ(0, orca_waitgroup_add(&wg, 2));
	EXPECT_EQ(-EINVAL, orca_waitgroup_add(&wg, -3));
	EXPECT_EQ(2, orca_waitgroup_count(&wg));
	orca_sync_future f;
	TestWaker w;
	intptr_t out = -1;
	ASSERT_EQ(ORCA_PENDING, w.poll(orca_waitgroup_wait_future(&f, &wg), &out));
	EXPECT_EQ(0, orca_waitgroup_done(&wg));
	EXPECT_EQ(0, w.wakes.load());
	EXPECT_EQ(0, orca_waitgroup_done(&wg));
	EXPECT_EQ(1, w.wakes.load());
	ASSERT_EQ(ORCA_READY, w.poll(&f.base, &out));
	EXPECT_EQ(0, out);
	EXPECT_EQ(-EINVAL, orca_waitgroup_add(nullptr, 1));
	EXPECT_EQ(-EINVAL, orca_waitgroup_init(nullptr));
	EXPECT_EQ(0, orca_waitgroup_add(&wg, 1));
	EXPECT_EQ(-ETIMEDOUT, orca_waitgroup_wait_blocking(&wg, ORCA_MSEC(5)));
}

intptr_t sleep_and_done(void *arg)
{
	auto *wg = static_cast<orca_waitgroup *>(arg);
	orca_sleep(ORCA_MSEC(1 + orca_task_id() % 5));
	orca_waitgroup_done(wg);
	return 0;
}

TEST_P(Sync, WaitGroupWaitsForTasksFromATaskAndFromAPlainThread)
{
	static orca_waitgroup wg = ORCA_WAITGROUP_INIT;
	// From the main thread: spawn onto the runtime, block until all are done.
	ASSERT_EQ(0, orca_waitgroup_add(&wg, 20));
	for (int i = 0; i < 20; i++)
		ASSERT_EQ(0, orca_spawn_on(rt, nullptr, sleep_and_done, &wg));
	ASSERT_EQ(0, orca_waitgroup_wait_blocking(&wg, ORCA_SEC(10)));
	EXPECT_EQ(0, orca_waitgroup_count(&wg));
	// From a task.
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  orca_waitgroup_add(&wg, 10);
			  for (int i = 0; i < 10; i++)
				  orca_spawn(nullptr, sleep_and_done, &wg);
			  if (orca_waitgroup_wait(&wg) != 0)
				  return 1;
			  return orca_waitgroup_count(&wg);
		  }));
}

// ---- OnceCell -------------------------------------------------------------------------------

TEST(OnceCell, GetSetAndErrors)
{
	orca_oncecell c = ORCA_ONCECELL_INIT;
	intptr_t v = 0;
	EXPECT_EQ(-EAGAIN, orca_oncecell_get(&c, &v));
	EXPECT_EQ(0, orca_oncecell_set(&c, 42));
	EXPECT_EQ(-EEXIST, orca_oncecell_set(&c, 43));
	EXPECT_EQ(0, orca_oncecell_get(&c, &v));
	EXPECT_EQ(42, v);
	auto never = [](void *, intptr_t *) -> int { return -EIO; };
	EXPECT_EQ(0, orca_oncecell_get_or_init(&c, never, nullptr, &v)) << "set: init not called";
	EXPECT_EQ(42, v);
	EXPECT_EQ(-EINVAL, orca_oncecell_get(nullptr, &v));
	EXPECT_EQ(-EINVAL, orca_oncecell_get_or_init(&c, nullptr, nullptr, &v));
	// From a plain thread get_or_init just blocks.
	orca_oncecell d;
	ASSERT_EQ(0, orca_oncecell_init(&d));
	EXPECT_EQ(-EIO, orca_oncecell_get_or_init(&d, never, nullptr, &v));
	EXPECT_EQ(-EAGAIN, orca_oncecell_get(&d, &v)) << "a failed init leaves it empty";
	auto seven = [](void *, intptr_t *out) -> int {
		*out = 7;
		return 0;
	};
	EXPECT_EQ(0, orca_oncecell_get_or_init(&d, seven, nullptr, &v));
	EXPECT_EQ(7, v);
}

TEST_P(Sync, OnceCellRunsOneInitializerAndTheRestWait)
{
	orca_oncecell c = ORCA_ONCECELL_INIT;
	static std::atomic<int> calls;
	calls = 0;
	auto init = [](void *arg, intptr_t *out) -> int {
		int n = ++calls;
		orca_sleep(ORCA_MSEC(5));
		if (n == 1)
			return -EIO; // the first attempt fails: another caller must retry
		*out = (intptr_t)arg;
		return 0;
	};
	std::atomic<int> ok{0}, failed{0};
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns(16, [&]() -> intptr_t {
				  intptr_t v = 0;
				  int r = orca_oncecell_get_or_init(&c, init, (void *)1234, &v);
				  if (r == -EIO)
					  failed++;
				  else if (r == 0 && v == 1234)
					  ok++;
				  else
					  return 1;
				  return 0;
			  });
			  return spawn_join_all(fns);
		  }));
	EXPECT_EQ(2, calls.load());
	EXPECT_EQ(1, failed.load());
	EXPECT_EQ(15, ok.load());
}

// ---- cancellation storm ----------------------------------------------------------------

TEST_P(Sync2, CancellationStormLosesNoPermitAndNoLock)
{
	// Thousands of tasks wait on a semaphore and a mutex with random timeouts while
	// others abort them at random; permits and the lock keep being handed off. At the
	// end every permit is back, the lock is free, and the gauges never went over.
	static orca_semaphore sem;
	static orca_mutex m;
	orca_semaphore_init(&sem, 4);
	orca_mutex_init(&m);
	static std::atomic<long> gauge, max_gauge, in_lock, lock_violations, done_ops;
	gauge = max_gauge = in_lock = lock_violations = done_ops = 0;
	const long n = live_tasks(scaled(20000) > 3000 ? 3000 : scaled(20000));
	uint64_t seed = test_seed();
	SCOPED_TRACE("seed=" + std::to_string(seed));
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns;
			  for (long i = 0; i < n; i++)
				  fns.push_back([i, seed]() -> intptr_t {
					  std::minstd_rand rng((unsigned)(seed + i));
					  for (int k = 0; k < 4; k++) {
						  uint64_t want = 1 + rng() % 2;
						  int64_t to = (int64_t)(rng() % 3000) * 1000;
						  int r = orca_semaphore_acquire_timeout(&sem, want, to);
						  if (r == 0) {
							  long g = gauge += (long)want;
							  long mg = max_gauge.load();
							  while (g > mg && !max_gauge.compare_exchange_weak(mg, g))
								  ;
							  if (rng() % 2)
								  orca_yield();
							  gauge -= (long)want;
							  orca_semaphore_release(&sem, want);
							  done_ops++;
						  } else if (r != -ETIMEDOUT && r != -ECANCELED) {
							  return 1;
						  }
						  r = orca_mutex_lock_timeout(&m, (int64_t)(rng() % 2000) * 1000);
						  if (r == 0) {
							  if (in_lock++ != 0)
								  lock_violations++;
							  if (rng() % 4 == 0)
								  orca_yield();
							  in_lock--;
							  orca_mutex_unlock(&m);
						  } else if (r != -ETIMEDOUT && r != -ECANCELED) {
							  return 2;
						  }
					  }
					  return 0;
				  });
			  std::vector<orca_task *> hs(fns.size());
			  for (size_t i = 0; i < fns.size(); i++)
				  if (orca_spawn(&hs[i], call_fn, &fns[i]) != 0)
					  return 3;
			  std::minstd_rand rng((unsigned)seed);
			  for (size_t k = 0; k < fns.size() / 3; k++) {
				  orca_abort(hs[rng() % hs.size()]);
				  if (k % 64 == 0)
					  orca_sleep(ORCA_USEC(200));
			  }
			  int bad = 0;
			  for (auto *h : hs) {
				  intptr_t r = 0;
				  int j = orca_join(h, &r);
				  if (j == 0 && r != 0)
					  bad++;
			  }
			  return bad;
		  }));
	EXPECT_EQ(0, lock_violations.load());
	EXPECT_LE(max_gauge.load(), 4);
	EXPECT_GT(done_ops.load(), 0);
	EXPECT_EQ(4, orca_semaphore_available(&sem));
	EXPECT_EQ(0, orca_semaphore_try_acquire(&sem, 4)) << "no waiter left queued";
	EXPECT_EQ(0, orca_mutex_try_lock(&m)) << "the lock was not lost";
}

// ---- randomized, against a sequential model ----------------------------------------

TEST_P(Sync1, SemaphoreRandomOperationsMatchASequentialModel)
{
	// One worker: tasks interleave only at suspension points, so each completed
	// operation can be checked against a model updated at the same moment. A
	// permit granted to a waiter that has not run yet is invisible to the model,
	// so the model's free count is an upper bound that is exact whenever nobody
	// waits.
	const uint64_t seed = test_seed();
	SCOPED_TRACE("seed=" + std::to_string(seed) + " (rerun with ORCA_TEST_SEED)");
	static orca_semaphore s;
	const long total = 6;
	orca_semaphore_init(&s, total);
	long model_free = total, waiting = 0;
	std::atomic<int> errors{0};
	auto fail = [&](const char *what, long a, long b) {
		if (errors++ < 5)
			ADD_FAILURE() << what << ": " << a << " vs " << b << " (seed " << seed << ")";
	};
	const int64_t end = orca_now() + ORCA_SEC(2);
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns;
			  for (int t = 0; t < 6; t++)
				  fns.push_back([&, t]() -> intptr_t {
					  std::mt19937_64 rng(seed * 31 + t);
					  long held = 0;
					  for (int k = 0; k < scaled(3000) && orca_now() < end; k++) {
						  long n = 1 + (long)(rng() % 3);
						  switch (rng() % 4) {
						  case 0: {
							  int r = orca_semaphore_try_acquire(&s, (uint64_t)n);
							  if (r == 0) {
								  if (model_free < n)
									  fail("try_acquire beyond the model", n, model_free);
								  model_free -= n;
								  held += n;
							  } else if (r != -EAGAIN) {
								  fail("try_acquire error", r, 0);
							  } else if (waiting == 0 && model_free >= n) {
								  fail("try_acquire refused with permits free", n, model_free);
							  }
							  break;
						  }
						  case 1:
						  case 2: {
							  waiting++;
							  int r = orca_semaphore_acquire_timeout(
								  &s, (uint64_t)n, (int64_t)(rng() % 3) * ORCA_MSEC(1));
							  waiting--;
							  if (r == 0) {
								  model_free -= n;
								  held += n;
								  if (model_free < 0)
									  fail("acquired beyond the model", n, model_free);
							  } else if (r != -ETIMEDOUT) {
								  fail("acquire error", r, 0);
							  }
							  break;
						  }
						  default:
							  if (held) {
								  long give = 1 + (long)(rng() % held);
								  orca_semaphore_release(&s, (uint64_t)give);
								  model_free += give;
								  held -= give;
							  } else {
								  orca_yield();
							  }
						  }
						  if (waiting == 0 && orca_semaphore_available(&s) != model_free)
							  fail("available differs", orca_semaphore_available(&s), model_free);
					  }
					  orca_semaphore_release(&s, (uint64_t)held);
					  model_free += held;
					  return 0;
				  });
			  return spawn_join_all(fns);
		  }));
	EXPECT_EQ(total, model_free);
	EXPECT_EQ(total, orca_semaphore_available(&s));
	EXPECT_EQ(0, errors.load()) << "seed " << seed;
}

} // namespace
