// orca_chan_select: which case runs, fairness across ready cases, timeouts, closed
// and nil channels, send cases, composition with other futures, plain threads, and
// exactly-once delivery when many selects lose and get cancelled.
#include <gtest/gtest.h>
#include <orca/orca.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "sync_test_support.h"
#include "test_support.h"

namespace {

using namespace orca_sync_test;
using orca_test::live_tasks;
using orca_test::scaled;

struct Chans {
	std::vector<orca_chan *> ch;
	Chans(int n, size_t cap)
	{
		ch.resize(n);
		for (auto &c : ch)
			EXPECT_EQ(0, orca_chan_create(&c, sizeof(int), cap));
	}
	~Chans()
	{
		for (auto *c : ch)
			orca_chan_release(c);
	}
	orca_chan *operator[](size_t i) const { return ch[i]; }
};

orca_chan_case recv_case(orca_chan *ch, int *buf)
{
	orca_chan_case c{};
	c.ch = ch;
	c.op = ORCA_CHAN_RECV;
	c.msg = buf;
	return c;
}

orca_chan_case send_case(orca_chan *ch, int *msg)
{
	orca_chan_case c{};
	c.ch = ch;
	c.op = ORCA_CHAN_SEND;
	c.msg = msg;
	return c;
}

class Select : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Select, ::testing::Values(1u, 2u), orca_test::worker_name);

TEST(SelectBasics, BadArgumentsGetEinval)
{
	Chans c(1, 1);
	int v = 0;
	orca_chan_case cs[1] = {recv_case(c[0], &v)};
	EXPECT_EQ(-EINVAL, orca_chan_select_blocking(nullptr, 1, -1));
	EXPECT_EQ(-EINVAL, orca_chan_select_blocking(cs, 0, -1));
	cs[0].op = 7;
	EXPECT_EQ(-EINVAL, orca_chan_select_blocking(cs, 1, -1));
	cs[0] = send_case(c[0], nullptr);
	EXPECT_EQ(-EINVAL, orca_chan_select_blocking(cs, 1, -1)) << "send of NULL";
	EXPECT_EQ(nullptr, orca_chan_select_future(nullptr, cs, 1));
	cs[0] = recv_case(c[0], &v);
	EXPECT_EQ(-EPERM, orca_chan_select(cs, 1, -1)) << "awaiting outside a task";
}

TEST(SelectBasics, OnlyTheChosenCaseHappens)
{
	Chans c(3, 2);
	int a = 10, b = 20;
	ASSERT_EQ(0, orca_chan_try_send(c[1], &b));
	int got0 = -1, got1 = -1;
	orca_chan_case cs[3] = {recv_case(c[0], &got0), recv_case(c[1], &got1), send_case(c[2], &a)};
	// c[2] has room, c[1] has a message: both ready. Whichever is chosen, only it runs.
	int i = orca_chan_select_blocking(cs, 3, -1);
	ASSERT_TRUE(i == 1 || i == 2) << i;
	EXPECT_EQ(0, cs[i].result);
	if (i == 1) {
		EXPECT_EQ(20, got1);
		EXPECT_EQ(0, orca_chan_len(c[2]));
	} else {
		EXPECT_EQ(-1, got1);
		EXPECT_EQ(1, orca_chan_len(c[1]));
		EXPECT_EQ(1, orca_chan_len(c[2]));
	}
	EXPECT_EQ(-1, got0);
}

TEST(SelectBasics, TimeoutZeroIsGoDefaultAndNilChannelsAreNeverReady)
{
	Chans c(2, 1);
	int v = 0;
	orca_chan_case cs[3] = {recv_case(c[0], &v), recv_case(nullptr, &v), recv_case(c[1], &v)};
	EXPECT_EQ(-ETIMEDOUT, orca_chan_select_blocking(cs, 3, 0));
	int64_t t0 = orca_now();
	EXPECT_EQ(-ETIMEDOUT, orca_chan_select_blocking(cs, 3, ORCA_MSEC(20)));
	EXPECT_GE(orca_now() - t0, ORCA_MSEC(20));
	// The timed-out selects left no waiter behind: a later message is not lost.
	int x = 5;
	ASSERT_EQ(0, orca_chan_try_send(c[1], &x));
	EXPECT_EQ(2, orca_chan_select_blocking(cs, 3, 0));
	EXPECT_EQ(5, v);
	orca_chan_case nil[1] = {recv_case(nullptr, &v)};
	EXPECT_EQ(-ETIMEDOUT, orca_chan_select_blocking(nil, 1, ORCA_MSEC(1)));
}

TEST(SelectBasics, AClosedChannelIsReadyWithEpipe)
{
	Chans c(2, 1);
	int v = 0;
	orca_chan_close(c[1]);
	orca_chan_case cs[2] = {recv_case(c[0], &v), recv_case(c[1], &v)};
	EXPECT_EQ(1, orca_chan_select_blocking(cs, 2, -1));
	EXPECT_EQ(-EPIPE, cs[1].result);
	orca_chan_case ss[2] = {send_case(c[1], &v), recv_case(c[0], &v)};
	EXPECT_EQ(0, orca_chan_select_blocking(ss, 2, -1));
	EXPECT_EQ(-EPIPE, ss[0].result);
}

TEST_P(Select, PicksEachReadyCaseOverManyRounds)
{
	// Three channels that always have a message: every round all three cases are
	// ready, and the choice must spread over all of them.
	const int n = 3, rounds = (int)scaled(3000) < 600 ? 600 : (int)scaled(3000);
	Chans c(n, 4);
	std::vector<int> picked(n);
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  for (int k = 0; k < n; k++)
				  orca_chan_try_send(c[k], &k);
			  int v = -1;
			  orca_chan_case cs[n];
			  for (int k = 0; k < n; k++)
				  cs[k] = recv_case(c[k], &v);
			  for (int r = 0; r < rounds; r++) {
				  int i = orca_chan_select(cs, n, -1);
				  if (i < 0 || v != i)
					  return 1;
				  picked[i]++;
				  orca_chan_try_send(c[i], &i); // ready again
			  }
			  return 0;
		  }));
	for (int k = 0; k < n; k++)
		EXPECT_GT(picked[k], rounds / n / 2) << "case " << k << " starved";
}

TEST_P(Select, SendCasesWaitForRoom)
{
	Chans c(2, 1);
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  int one = 1, two = 2;
			  orca_chan_try_send(c[0], &one);
			  orca_chan_try_send(c[1], &two); // both full
			  Fn drainer = [&]() -> intptr_t {
				  orca_sleep(ORCA_MSEC(10));
				  int x;
				  return orca_chan_recv(c[1], &x);
			  };
			  orca_task *h;
			  orca_spawn(&h, call_fn, &drainer);
			  int a = 10, b = 20;
			  orca_chan_case cs[2] = {send_case(c[0], &a), send_case(c[1], &b)};
			  int64_t t0 = orca_now();
			  int i = orca_chan_select(cs, 2, ORCA_SEC(5));
			  if (i != 1 || cs[1].result != 0 || orca_now() - t0 < ORCA_MSEC(10))
				  return 1;
			  int x = 0;
			  if (orca_chan_try_recv(c[1], &x) != 0 || x != 20)
				  return 2;
			  if (orca_chan_len(c[0]) != 1)
				  return 3; // the losing send did not happen
			  intptr_t r = -1;
			  orca_join(h, &r);
			  return r;
		  }));
}

TEST_P(Select, WaitsForTheFirstAndTimesOut)
{
	Chans c(2, 1);
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  Fn sender = [&]() -> intptr_t {
				  orca_sleep(ORCA_MSEC(10));
				  int v = 77;
				  return orca_chan_send(c[1], &v);
			  };
			  orca_task *h;
			  orca_spawn(&h, call_fn, &sender);
			  int v = 0;
			  orca_chan_case cs[2] = {recv_case(c[0], &v), recv_case(c[1], &v)};
			  if (orca_chan_select(cs, 2, ORCA_SEC(5)) != 1 || v != 77)
				  return 1;
			  orca_join(h, nullptr);
			  int64_t t0 = orca_now();
			  if (orca_chan_select(cs, 2, ORCA_MSEC(15)) != -ETIMEDOUT)
				  return 2;
			  if (orca_now() - t0 < ORCA_MSEC(15))
				  return 3;
			  return orca_chan_select(cs, 2, 0) == -ETIMEDOUT ? 0 : 4;
		  }));
}

TEST_P(Select, AbortedSelectReturnsEcanceledAndTakesNothing)
{
	Chans c(1, 1);
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  int v = 0;
			  Fn selector = [&]() -> intptr_t {
				  orca_chan_case cs[1] = {recv_case(c[0], &v)};
				  return orca_chan_select(cs, 1, -1);
			  };
			  orca_task *h;
			  orca_spawn(&h, call_fn, &selector);
			  orca_sleep(ORCA_MSEC(5));
			  orca_abort(h);
			  intptr_t r = 0;
			  int j = orca_join(h, &r);
			  if (j != -ECANCELED && r != -ECANCELED)
				  return 1;
			  int x = 3;
			  orca_chan_try_send(c[0], &x);
			  return orca_chan_try_recv(c[0], &x) == 0 && x == 3 ? 0 : 2;
		  }));
}

TEST_P(Select, ComposesWithOtherFutures)
{
	// A channel select, a sleep and a join handle under one orca_select.
	Chans c(1, 1);
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  int v = 0;
			  orca_chan_case cs[1] = {recv_case(c[0], &v)};
			  orca_chan_selector sel;
			  orca_sleep_future sl;
			  orca_sleep_future_init(&sl, orca_now() + ORCA_MSEC(10));
			  orca_future *fs[2] = {orca_chan_select_future(&sel, cs, 1), &sl.base};
			  intptr_t out = -1;
			  if (orca_select(fs, 2, &out) != 1)
				  return 1; // the sleep wins; the channel case is dropped
			  int x = 9;
			  orca_chan_try_send(c[0], &x);
			  orca_sleep_future_init(&sl, orca_now() + ORCA_SEC(5));
			  fs[0] = orca_chan_select_future(&sel, cs, 1);
			  if (orca_select(fs, 2, &out) != 0 || out != 0 || v != 9)
				  return 2;
			  return 0;
		  }));
}

TEST_P(Select, LosingCasesNeverSwallowAMessage)
{
	// Many tasks each select over two channels with a short timeout while producers
	// feed both; most selects lose or time out, some are aborted. Every message
	// sent is received exactly once (counting what is drained at the end).
	const int selectors = (int)live_tasks(scaled(2000) < 200 ? 200 : scaled(2000));
	const int per_producer = (int)scaled(20000);
	const int producers = 2;
	Chans c(2, 2);
	const size_t ids = (size_t)producers * per_producer;
	std::unique_ptr<std::atomic<uint8_t>[]> got(new std::atomic<uint8_t>[ids]());
	std::atomic<long> sent_ok{0};
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns;
			  for (int p = 0; p < producers; p++)
				  fns.push_back([&, p]() -> intptr_t {
					  for (int i = 0; i < per_producer; i++) {
						  int m = p * per_producer + i;
						  if (orca_chan_send(c[(size_t)(i % 2)], &m) != 0)
							  return 1;
						  sent_ok++;
					  }
					  return 0;
				  });
			  std::atomic<bool> stop{false};
			  for (int s = 0; s < selectors; s++)
				  fns.push_back([&, s]() -> intptr_t {
					  std::minstd_rand rng((unsigned)s + 1);
					  while (!stop.load()) {
						  int a = -1, b = -1;
						  orca_chan_case cs[2] = {recv_case(c[0], &a), recv_case(c[1], &b)};
						  int i = orca_chan_select(cs, 2, (int64_t)(rng() % 2000) * 1000);
						  if (i == -ECANCELED)
							  return 0;
						  if (i == 0 || i == 1) {
							  int m = i == 0 ? a : b;
							  if (cs[i].result != 0 || m < 0 || (size_t)m >= ids)
								  return 2;
							  got[(size_t)m]++;
						  } else if (i != -ETIMEDOUT) {
							  return 3;
						  }
					  }
					  return 0;
				  });
			  std::vector<orca_task *> hs(fns.size());
			  for (size_t i = 0; i < fns.size(); i++)
				  orca_spawn(&hs[i], call_fn, &fns[i]);
			  std::minstd_rand rng(7);
			  for (int k = 0; k < selectors / 4; k++) {
				  orca_abort(hs[producers + rng() % selectors]);
				  if (k % 16 == 0)
					  orca_sleep(ORCA_USEC(500));
			  }
			  int bad = 0;
			  for (int p = 0; p < producers; p++) {
				  intptr_t r = -1;
				  if (orca_join(hs[p], &r) != 0 || r != 0)
					  bad++;
			  }
			  stop = true;
			  for (size_t k = producers; k < hs.size(); k++) {
				  intptr_t r = -1;
				  if (orca_join(hs[k], &r) == 0 && r != 0)
					  bad++;
			  }
			  return bad;
		  }));
	for (int k = 0; k < 2; k++) {
		int m;
		while (orca_chan_try_recv(c[k], &m) == 0)
			got[(size_t)m]++;
	}
	EXPECT_EQ((long)ids, sent_ok.load());
	long missing = 0, dup = 0;
	for (size_t i = 0; i < ids; i++) {
		missing += got[i] == 0;
		dup += got[i] > 1;
	}
	EXPECT_EQ(0, missing);
	EXPECT_EQ(0, dup);
}

TEST(SelectBasics, PlainThreadSelectsOverChannelsFedByTasks)
{
	orca_runtime *rt;
	ASSERT_EQ(0, orca_runtime_create(&rt, nullptr));
	{
		Chans c(2, 1);
		struct Ctx {
			orca_chan *a, *b;
		} ctx{c[0], c[1]};
		auto feeder = [](void *p) -> intptr_t {
			auto *x = static_cast<Ctx *>(p);
			for (int i = 0; i < 100; i++)
				if (orca_chan_send(i % 3 ? x->a : x->b, &i) != 0)
					return 1;
			orca_chan_close(x->a);
			orca_chan_close(x->b);
			return 0;
		};
		orca_task *h;
		ASSERT_EQ(0, orca_spawn_on(rt, &h, feeder, &ctx));
		int v = -1, count = 0, closed = 0;
		orca_chan_case cs[2] = {recv_case(c[0], &v), recv_case(c[1], &v)};
		while (closed < 2) {
			int i = orca_chan_select_blocking(cs, 2, ORCA_SEC(10));
			ASSERT_GE(i, 0);
			if (cs[i].result == -EPIPE) {
				cs[i].ch = nullptr; // Go's idiom: a nil channel disables the case
				closed++;
			} else {
				count++;
			}
		}
		EXPECT_EQ(100, count);
		intptr_t r = -1;
		ASSERT_EQ(0, orca_join(h, &r));
		EXPECT_EQ(0, r);
	}
	ASSERT_EQ(0, orca_runtime_free(rt));
}

} // namespace
