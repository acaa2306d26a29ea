// Channels: MPMC (bounded, unbounded, oneshot), broadcast and watch. Results and
// errors, close semantics, backpressure, exactly-once delivery under contention,
// hand-off races driven by polling futures by hand, a cancellation storm, blocking
// variants from plain threads, and a randomized run checked against a model.
#include <gtest/gtest.h>
#include <orca/orca.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
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

// ---- helpers ----------------------------------------------------------------------

std::vector<orca_task *> spawn_all(std::vector<Fn> &fns)
{
	std::vector<orca_task *> hs(fns.size());
	for (size_t i = 0; i < fns.size(); i++)
		EXPECT_EQ(0, orca_spawn(&hs[i], call_fn, &fns[i]));
	return hs;
}

// Joins; returns how many did not finish with 0 (aborted ones count when
// count_aborted).
int join_all(std::vector<orca_task *> &hs, bool count_aborted = true)
{
	int bad = 0;
	for (auto *h : hs) {
		intptr_t r = -1;
		int j = orca_join(h, &r);
		if ((j != 0 && count_aborted) || (j == 0 && r != 0))
			bad++;
	}
	return bad;
}

struct ChanRef {
	orca_chan *ch = nullptr;
	ChanRef(size_t msg_size, size_t cap) { EXPECT_EQ(0, orca_chan_create(&ch, msg_size, cap)); }
	explicit ChanRef(orca_chan *c) : ch(c) {}
	~ChanRef() { orca_chan_release(ch); }
	operator orca_chan *() const { return ch; }
};

class Chan : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Chan, ::testing::Values(1u, 2u), orca_test::worker_name);
class Chan2 : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Chan2, ::testing::Values(2u), orca_test::worker_name);
class Chan1 : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Chan1, ::testing::Values(1u), orca_test::worker_name);

// ---- MPMC: without a runtime ----------------------------------------------------------

TEST(ChanBasics, BadArgumentsGetEinval)
{
	orca_chan *ch = nullptr;
	EXPECT_EQ(-EINVAL, orca_chan_create(nullptr, 4, 1));
	EXPECT_EQ(-EINVAL, orca_chan_create(&ch, 4, 0));
	EXPECT_EQ(-EINVAL, orca_chan_create(&ch, SIZE_MAX / 2, 4));
	EXPECT_EQ(-EINVAL, orca_chan_create_unbounded(nullptr, 4));
	EXPECT_EQ(-EINVAL, orca_chan_create_oneshot(nullptr, 4));
	EXPECT_EQ(nullptr, ch);
	EXPECT_EQ(-EINVAL, orca_chan_retain(nullptr));
	EXPECT_EQ(-EINVAL, orca_chan_release(nullptr));
	EXPECT_EQ(-EINVAL, orca_chan_close(nullptr));
	EXPECT_EQ(-EINVAL, orca_chan_len(nullptr));
	EXPECT_FALSE(orca_chan_is_closed(nullptr));
	int v = 1;
	EXPECT_EQ(-EINVAL, orca_chan_try_send(nullptr, &v));
	EXPECT_EQ(-EINVAL, orca_chan_try_recv(nullptr, &v));
	EXPECT_EQ(-EINVAL, orca_chan_send_blocking(nullptr, &v, -1));
	EXPECT_EQ(-EINVAL, orca_chan_recv_blocking(nullptr, &v, -1));
	ChanRef c(sizeof(int), 2);
	EXPECT_EQ(-EINVAL, orca_chan_try_send(c, nullptr)) << "msg NULL with msg_size > 0";
	EXPECT_EQ(-EINVAL, orca_chan_send_blocking(c, nullptr, -1));
	EXPECT_EQ(-EPERM, orca_chan_send(c, &v)) << "awaiting outside a task";
	EXPECT_EQ(nullptr, orca_chan_send_future(nullptr, c, &v));
}

struct Msg {
	int id;
	double x;
	char tag[20];
};

TEST(ChanBasics, TrySendTryRecvCopyMessagesInFifoOrder)
{
	ChanRef c(sizeof(Msg), 3);
	Msg m{};
	for (int i = 0; i < 3; i++) {
		m.id = i;
		m.x = i * 1.5;
		snprintf(m.tag, sizeof m.tag, "msg %d", i);
		ASSERT_EQ(0, orca_chan_try_send(c, &m));
	}
	m.id = 99;
	EXPECT_EQ(-EAGAIN, orca_chan_try_send(c, &m)) << "full";
	EXPECT_EQ(3, orca_chan_len(c));
	for (int i = 0; i < 3; i++) {
		Msg out{};
		ASSERT_EQ(0, orca_chan_try_recv(c, &out));
		EXPECT_EQ(i, out.id);
		EXPECT_EQ(i * 1.5, out.x);
		EXPECT_STREQ(("msg " + std::to_string(i)).c_str(), out.tag);
	}
	Msg out{};
	EXPECT_EQ(-EAGAIN, orca_chan_try_recv(c, &out));
	// Wrap around the ring many times; NULL discards.
	for (int i = 0; i < 100; i++) {
		m.id = i;
		ASSERT_EQ(0, orca_chan_try_send(c, &m));
		if (i % 2) {
			ASSERT_EQ(0, orca_chan_try_recv(c, &out));
			ASSERT_EQ(i - 1, out.id);
			ASSERT_EQ(0, orca_chan_try_recv(c, nullptr));
		}
	}
	EXPECT_EQ(0, orca_chan_len(c));
	// Signals only: msg_size 0.
	ChanRef z(0, 2);
	EXPECT_EQ(0, orca_chan_try_send(z, nullptr));
	EXPECT_EQ(0, orca_chan_try_send(z, nullptr));
	EXPECT_EQ(-EAGAIN, orca_chan_try_send(z, nullptr));
	EXPECT_EQ(0, orca_chan_try_recv(z, nullptr));
	EXPECT_EQ(1, orca_chan_len(z));
}

TEST(ChanBasics, CloseDrainsThenEpipeAndFailsSendsAtOnce)
{
	ChanRef c(sizeof(int), 4);
	int v = 1;
	ASSERT_EQ(0, orca_chan_try_send(c, &v));
	v = 2;
	ASSERT_EQ(0, orca_chan_try_send(c, &v));
	EXPECT_FALSE(orca_chan_is_closed(c));
	ASSERT_EQ(0, orca_chan_close(c));
	EXPECT_TRUE(orca_chan_is_closed(c));
	ASSERT_EQ(0, orca_chan_close(c)) << "idempotent";
	EXPECT_EQ(-EPIPE, orca_chan_try_send(c, &v));
	EXPECT_EQ(-EPIPE, orca_chan_send_blocking(c, &v, -1));
	int out = 0;
	EXPECT_EQ(0, orca_chan_try_recv(c, &out));
	EXPECT_EQ(1, out);
	EXPECT_EQ(0, orca_chan_recv_blocking(c, &out, -1));
	EXPECT_EQ(2, out);
	EXPECT_EQ(-EPIPE, orca_chan_try_recv(c, &out));
	EXPECT_EQ(-EPIPE, orca_chan_recv_blocking(c, &out, -1));
}

TEST(ChanBasics, CloseWakesWaitingSendersAndReceiversWithEpipe)
{
	ChanRef full(sizeof(int), 1), empty(sizeof(int), 1);
	int v = 7;
	ASSERT_EQ(0, orca_chan_try_send(full, &v));
	orca_chan_future sf, rf;
	TestWaker ws, wr;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, ws.poll(orca_chan_send_future(&sf, full, &v), &out));
	int got = 0;
	ASSERT_EQ(ORCA_PENDING, wr.poll(orca_chan_recv_future(&rf, empty, &got), &out));
	orca_chan_close(full);
	orca_chan_close(empty);
	EXPECT_EQ(1, ws.wakes.load());
	EXPECT_EQ(1, wr.wakes.load());
	ASSERT_EQ(ORCA_READY, ws.poll(&sf.base, &out));
	EXPECT_EQ(-EPIPE, out);
	ASSERT_EQ(ORCA_READY, wr.poll(&rf.base, &out));
	EXPECT_EQ(-EPIPE, out);
	EXPECT_EQ(1, orca_chan_len(full)) << "the blocked sender's message was not added";
}

TEST(ChanBasics, AGrantedSlotOfADroppedSenderGoesToTheNextSender)
{
	ChanRef c(sizeof(int), 1);
	int v0 = 0, v1 = 1, v2 = 2;
	ASSERT_EQ(0, orca_chan_try_send(c, &v0));
	orca_chan_future s1, s2;
	TestWaker w1, w2;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, w1.poll(orca_chan_send_future(&s1, c, &v1), &out));
	ASSERT_EQ(ORCA_PENDING, w2.poll(orca_chan_send_future(&s2, c, &v2), &out));
	int got = -1;
	ASSERT_EQ(0, orca_chan_try_recv(c, &got));
	EXPECT_EQ(0, got);
	EXPECT_EQ(1, w1.wakes.load()) << "the freed slot is granted to the first sender";
	EXPECT_EQ(-EAGAIN, orca_chan_try_send(c, &v0)) << "the slot is reserved";
	EXPECT_EQ(-EAGAIN, orca_chan_try_recv(c, &got)) << "nothing sent yet";
	// s1 is cancelled at that moment: its message must not appear, the slot goes on.
	s1.base.vtable->drop(&s1.base);
	EXPECT_EQ(1, w2.wakes.load());
	ASSERT_EQ(ORCA_READY, w2.poll(&s2.base, &out));
	EXPECT_EQ(0, out);
	ASSERT_EQ(0, orca_chan_try_recv(c, &got));
	EXPECT_EQ(2, got);
	EXPECT_EQ(-EAGAIN, orca_chan_try_recv(c, &got));
	// A granted sender dropped with nobody behind it gives the slot back.
	ASSERT_EQ(0, orca_chan_try_send(c, &v0));
	orca_chan_future s3;
	ASSERT_EQ(ORCA_PENDING, w1.poll(orca_chan_send_future(&s3, c, &v1), &out));
	ASSERT_EQ(0, orca_chan_try_recv(c, &got));
	s3.base.vtable->drop(&s3.base);
	EXPECT_EQ(0, orca_chan_try_send(c, &v2));
}

TEST(ChanBasics, AWakeUpOfADroppedReceiverGoesToTheNextReceiver)
{
	ChanRef c(sizeof(int), 4);
	orca_chan_future r1, r2;
	TestWaker w1, w2;
	int g1 = -1, g2 = -1;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, w1.poll(orca_chan_recv_future(&r1, c, &g1), &out));
	ASSERT_EQ(ORCA_PENDING, w2.poll(orca_chan_recv_future(&r2, c, &g2), &out));
	int v = 5;
	ASSERT_EQ(0, orca_chan_try_send(c, &v));
	EXPECT_EQ(1, w1.wakes.load());
	EXPECT_EQ(0, w2.wakes.load());
	r1.base.vtable->drop(&r1.base); // lost a select at that moment
	EXPECT_EQ(1, w2.wakes.load()) << "the wake-up is passed on";
	ASSERT_EQ(ORCA_READY, w2.poll(&r2.base, &out));
	EXPECT_EQ(0, out);
	EXPECT_EQ(5, g2);
	EXPECT_EQ(-1, g1);
}

TEST(ChanBasics, AWokenReceiverWhoseMessageWasTakenKeepsItsPlace)
{
	ChanRef c(sizeof(int), 4);
	orca_chan_future r1, r2;
	TestWaker w1, w2;
	int g1 = -1, g2 = -1;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, w1.poll(orca_chan_recv_future(&r1, c, &g1), &out));
	ASSERT_EQ(ORCA_PENDING, w2.poll(orca_chan_recv_future(&r2, c, &g2), &out));
	int v = 1;
	ASSERT_EQ(0, orca_chan_try_send(c, &v));
	ASSERT_EQ(1, w1.wakes.load());
	int stolen = 0;
	ASSERT_EQ(0, orca_chan_try_recv(c, &stolen)); // someone got there first
	ASSERT_EQ(ORCA_PENDING, w1.poll(&r1.base, &out));
	v = 2;
	ASSERT_EQ(0, orca_chan_try_send(c, &v));
	EXPECT_EQ(2, w1.wakes.load()) << "r1 is still first in line";
	EXPECT_EQ(0, w2.wakes.load());
	ASSERT_EQ(ORCA_READY, w1.poll(&r1.base, &out));
	EXPECT_EQ(2, g1);
	r2.base.vtable->drop(&r2.base);
}

TEST(ChanBasics, OneshotDeliversOneValueThenCloses)
{
	orca_chan *os;
	ASSERT_EQ(0, orca_chan_create_oneshot(&os, sizeof(long)));
	ChanRef c(os);
	long v = 42, got = 0;
	orca_chan_future rf;
	TestWaker w;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, w.poll(orca_chan_recv_future(&rf, c, &got), &out));
	EXPECT_EQ(0, orca_chan_try_send(c, &v));
	EXPECT_TRUE(orca_chan_is_closed(c));
	EXPECT_EQ(-EPIPE, orca_chan_try_send(c, &v)) << "only one value";
	ASSERT_EQ(ORCA_READY, w.poll(&rf.base, &out));
	EXPECT_EQ(0, out);
	EXPECT_EQ(42, got);
	EXPECT_EQ(-EPIPE, orca_chan_try_recv(c, &got));
	// The sender gives up without a value: the receiver learns it.
	orca_chan *os2;
	ASSERT_EQ(0, orca_chan_create_oneshot(&os2, sizeof(long)));
	ChanRef c2(os2);
	orca_chan_close(c2);
	EXPECT_EQ(-EPIPE, orca_chan_recv_blocking(c2, &got, -1));
}

TEST(ChanBasics, UnboundedNeverWaitsAndKeepsOrderThroughGrowth)
{
	orca_chan *u;
	ASSERT_EQ(0, orca_chan_create_unbounded(&u, sizeof(int)));
	ChanRef c(u);
	const int n = (int)scaled(200000);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < n; i++)
			ASSERT_EQ(0, orca_chan_try_send(c, &i));
		EXPECT_EQ(n, orca_chan_len(c));
		for (int i = 0; i < n; i++) {
			int got = -1;
			ASSERT_EQ(0, orca_chan_try_recv(c, &got));
			ASSERT_EQ(i, got);
		}
		EXPECT_EQ(-EAGAIN, orca_chan_try_recv(c, nullptr));
	}
	// Interleaved, so head wraps while the ring grows.
	int next_in = 0, next_out = 0;
	std::minstd_rand rng(1);
	for (int k = 0; k < n; k++) {
		if (rng() % 3) {
			ASSERT_EQ(0, orca_chan_try_send(c, &next_in));
			next_in++;
		} else if (next_out < next_in) {
			int got = -1;
			ASSERT_EQ(0, orca_chan_try_recv(c, &got));
			ASSERT_EQ(next_out++, got);
		}
	}
	orca_chan *z;
	ASSERT_EQ(0, orca_chan_create_unbounded(&z, 0));
	ChanRef cz(z);
	for (int i = 0; i < 1000; i++)
		ASSERT_EQ(0, orca_chan_try_send(cz, nullptr));
	EXPECT_EQ(1000, orca_chan_len(cz));
}

TEST(ChanBasics, RetainKeepsTheChannelAlive)
{
	orca_chan *ch;
	ASSERT_EQ(0, orca_chan_create(&ch, sizeof(int), 1));
	ASSERT_EQ(0, orca_chan_retain(ch));
	ASSERT_EQ(0, orca_chan_release(ch));
	int v = 3;
	EXPECT_EQ(0, orca_chan_try_send(ch, &v)); // still alive (ASan would tell)
	ASSERT_EQ(0, orca_chan_release(ch));
}

// ---- MPMC: with tasks ---------------------------------------------------------------------

TEST_P(Chan, BoundedSendReallySuspendsWhenFull)
{
	ChanRef c(sizeof(int), 2);
	std::atomic<int> sent{0};
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  Fn producer = [&]() -> intptr_t {
				  for (int i = 0; i < 5; i++) {
					  if (orca_chan_send(c, &i) != 0)
						  return 1;
					  sent++;
				  }
				  return 0;
			  };
			  orca_task *h;
			  orca_spawn(&h, call_fn, &producer);
			  orca_sleep(ORCA_MSEC(20));
			  if (sent.load() != 2 || orca_chan_len(c) != 2)
				  return 10 + sent.load(); // the third send must be waiting
			  for (int i = 0; i < 5; i++) {
				  int got = -1;
				  if (orca_chan_recv(c, &got) != 0 || got != i)
					  return 2;
				  if (i == 0) {
					  // One slot freed: exactly one more send gets through.
					  int64_t deadline = orca_now() + ORCA_SEC(5);
					  while (sent.load() < 3 && orca_now() < deadline)
						  orca_sleep(ORCA_MSEC(1));
					  orca_sleep(ORCA_MSEC(10));
					  if (sent.load() != 3)
						  return 3;
				  }
			  }
			  intptr_t r = -1;
			  orca_join(h, &r);
			  return r;
		  }));
}

TEST_P(Chan, ReceiversWaitAndSendersWakeThem)
{
	ChanRef c(sizeof(int), 1);
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::atomic<int> sum{0};
			  std::vector<Fn> fns(4, [&]() -> intptr_t {
				  int got;
				  int r;
				  while ((r = orca_chan_recv(c, &got)) == 0)
					  sum += got;
				  return r == -EPIPE ? 0 : 1;
			  });
			  auto hs = spawn_all(fns);
			  orca_sleep(ORCA_MSEC(5));
			  for (int i = 1; i <= 100; i++)
				  if (orca_chan_send(c, &i) != 0)
					  return 1;
			  orca_chan_close(c);
			  if (join_all(hs) != 0)
				  return 2;
			  return sum.load() == 5050 ? 0 : 3;
		  }));
}

TEST_P(Chan2, MpmcDeliversEveryMessageOnceInOrderPerProducer)
{
	// 4 producers x 4 consumers x 1M messages each (scaled under sanitizers).
	const int P = 4, C = 4;
	const long per = scaled(1000000);
	ChanRef c(sizeof(uint64_t), 64);
	std::vector<std::vector<std::atomic<uint8_t>>> seen(P);
	for (auto &v : seen)
		v = std::vector<std::atomic<uint8_t>>(per);
	std::atomic<long> order_errors{0}, dupes{0}, total{0};
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns;
			  for (int p = 0; p < P; p++)
				  fns.push_back([&, p]() -> intptr_t {
					  for (long i = 0; i < per; i++) {
						  uint64_t m = (uint64_t)p << 32 | (uint64_t)i;
						  if (orca_chan_send(c, &m) != 0)
							  return 1;
					  }
					  return 0;
				  });
			  for (int k = 0; k < C; k++)
				  fns.push_back([&]() -> intptr_t {
					  long last[P];
					  for (auto &l : last)
						  l = -1;
					  uint64_t m;
					  int r;
					  while ((r = orca_chan_recv(c, &m)) == 0) {
						  int p = (int)(m >> 32);
						  long i = (long)(m & 0xffffffff);
						  if (i <= last[p])
							  order_errors++;
						  last[p] = i;
						  if (seen[p][i]++ != 0)
							  dupes++;
						  total++;
					  }
					  return r == -EPIPE ? 0 : 1;
				  });
			  std::vector<orca_task *> hs(fns.size());
			  for (size_t i = 0; i < fns.size(); i++)
				  orca_spawn(&hs[i], call_fn, &fns[i]);
			  int bad = 0;
			  for (int p = 0; p < P; p++) {
				  intptr_t r = -1;
				  if (orca_join(hs[p], &r) != 0 || r != 0)
					  bad++;
			  }
			  orca_chan_close(c);
			  for (size_t k = P; k < hs.size(); k++) {
				  intptr_t r = -1;
				  if (orca_join(hs[k], &r) != 0 || r != 0)
					  bad++;
			  }
			  return bad;
		  }));
	EXPECT_EQ(0, order_errors.load());
	EXPECT_EQ(0, dupes.load());
	EXPECT_EQ(P * per, total.load());
}

TEST_P(Chan, SendAndRecvTimeouts)
{
	ChanRef c(sizeof(int), 1);
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  int v = 1, got = 0;
			  int64_t t0 = orca_now();
			  if (orca_chan_recv_timeout(c, &got, ORCA_MSEC(15)) != -ETIMEDOUT)
				  return 1;
			  if (orca_now() - t0 < ORCA_MSEC(15))
				  return 2;
			  if (orca_chan_send_timeout(c, &v, ORCA_MSEC(5)) != 0)
				  return 3;
			  v = 2;
			  if (orca_chan_send_timeout(c, &v, ORCA_MSEC(5)) != -ETIMEDOUT)
				  return 4;
			  if (orca_chan_recv_timeout(c, &got, 0) != 0 || got != 1)
				  return 5;
			  if (orca_chan_try_recv(c, &got) != -EAGAIN)
				  return 6; // the timed-out send left nothing behind
			  return 0;
		  }));
}

// ---- cancellation storm ------------------------------------------------------------------

TEST_P(Chan2, CancellationStormLosesNoMessageAndDuplicatesNone)
{
	// Producers and consumers with random timeouts on a small channel, thousands of
	// tasks, a killer aborting them at random. A message counts as sent only when
	// its send returned 0; each must be received exactly once (counting what is
	// drained at the end), and nothing unsent may be received.
	const uint64_t seed = test_seed();
	SCOPED_TRACE("seed=" + std::to_string(seed));
	const int tasks = (int)live_tasks(scaled(4000) < 1000 ? 1000 : scaled(4000));
	const int per = 12;
	ChanRef c(sizeof(uint32_t), 4);
	const size_t ids = (size_t)tasks * per;
	std::unique_ptr<std::atomic<uint8_t>[]> sent(new std::atomic<uint8_t>[ids]());
	std::unique_ptr<std::atomic<uint8_t>[]> got(new std::atomic<uint8_t>[ids]());
	std::atomic<long> timeouts{0}, cancels{0};
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns;
			  for (int t = 0; t < tasks; t++)
				  fns.push_back([&, t]() -> intptr_t {
					  std::minstd_rand rng((unsigned)(seed + t));
					  // Twice as many consumers as producers: receivers pile up,
					  // so aborts and timeouts keep hitting queued waiters and
					  // waiters that were just woken.
					  bool producer = t % 3 == 0;
					  if (orca_sleep(ORCA_MSEC(1)) != 0) // start once all are spawned
						  return cancels++, 0;
					  for (int k = 0; k < per; k++) {
						  int64_t to = (int64_t)(rng() % 4000) * 1000;
						  uint32_t m = (uint32_t)(t * per + k);
						  int r = producer ? orca_chan_send_timeout(c, &m, to)
								   : orca_chan_recv_timeout(c, &m, to);
						  if (r == 0 && producer)
							  sent[m]++;
						  else if (r == 0)
							  got[m]++;
						  else if (r == -ETIMEDOUT)
							  timeouts++;
						  else if (r == -ECANCELED)
							  return cancels++, 0;
						  else
							  return 1;
					  }
					  return 0;
				  });
			  auto hs = spawn_all(fns);
			  std::minstd_rand rng((unsigned)seed);
			  for (int k = 0; k < tasks / 3; k++) {
				  orca_abort(hs[rng() % hs.size()]);
				  if (k % 20 == 0)
					  orca_sleep(ORCA_USEC(500));
			  }
			  return join_all(hs, false);
		  }));
	uint32_t m;
	while (orca_chan_try_recv(c, &m) == 0)
		got[m]++;
	long sent_n = 0, lost = 0, dup = 0, phantom = 0;
	for (size_t i = 0; i < ids; i++) {
		sent_n += sent[i];
		if (sent[i] && !got[i])
			lost++;
		if (got[i] > 1)
			dup++;
		if (got[i] && !sent[i])
			phantom++;
	}
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, dup);
	EXPECT_EQ(0, phantom);
	EXPECT_GT(sent_n, 0);
	EXPECT_GT(timeouts.load(), 0);
	EXPECT_GT(cancels.load(), 0);
	int v = 0;
	EXPECT_EQ(0, orca_chan_try_send(c, &v)) << "no slot left reserved";
}

// ---- blocking variants ----------------------------------------------------------------------

TEST_P(Chan, PlainThreadsSendAndReceiveWithBlockingCalls)
{
	ChanRef in(sizeof(int), 8), out(sizeof(int), 8);
	// Tasks double what plain threads send; the main thread collects.
	struct Ctx {
		orca_chan *in, *out;
	} ctx{in, out};
	auto worker = [](void *p) -> intptr_t {
		auto *x = static_cast<Ctx *>(p);
		int v;
		while (orca_chan_recv(x->in, &v) == 0) {
			v *= 2;
			if (orca_chan_send(x->out, &v) != 0)
				return 1;
		}
		return 0;
	};
	orca_task *hs[3];
	for (auto &h : hs)
		ASSERT_EQ(0, orca_spawn_on(rt, &h, worker, &ctx));
	const int per = (int)scaled(3000);
	std::vector<std::thread> producers;
	for (int t = 0; t < 2; t++)
		producers.emplace_back([&, t] {
			for (int i = 0; i < per; i++) {
				int v = t * per + i;
				ASSERT_EQ(0, orca_chan_send_blocking(in, &v, -1));
			}
		});
	long sum = 0;
	for (int i = 0; i < 2 * per; i++) {
		int v;
		ASSERT_EQ(0, orca_chan_recv_blocking(out, &v, ORCA_SEC(30)));
		sum += v;
	}
	for (auto &t : producers)
		t.join();
	orca_chan_close(in);
	for (auto *h : hs) {
		intptr_t r = -1;
		ASSERT_EQ(0, orca_join(h, &r));
		EXPECT_EQ(0, r);
	}
	long n = 2 * per;
	EXPECT_EQ(n * (n - 1), sum);
	int v;
	int64_t t0 = orca_now();
	EXPECT_EQ(-ETIMEDOUT, orca_chan_recv_blocking(out, &v, ORCA_MSEC(20)));
	EXPECT_GE(orca_now() - t0, ORCA_MSEC(20));
	EXPECT_EQ(-ETIMEDOUT, orca_chan_recv_blocking(out, &v, 0));
}

TEST(ChanBlocking, WorksBetweenPlainThreadsWithNoRuntimeAtAll)
{
	ChanRef c(sizeof(int), 2);
	std::thread producer([&] {
		for (int i = 0; i < 1000; i++)
			ASSERT_EQ(0, orca_chan_send_blocking(c, &i, -1));
		orca_chan_close(c);
	});
	int v, expect = 0;
	int r;
	while ((r = orca_chan_recv_blocking(c, &v, -1)) == 0)
		ASSERT_EQ(expect++, v);
	EXPECT_EQ(-EPIPE, r);
	EXPECT_EQ(1000, expect);
	producer.join();
}

// ---- randomized, against a sequential model -----------------------------------------

TEST_P(Chan1, RandomOperationsMatchASequentialModel)
{
	// One worker: tasks interleave only where they suspend, and a send or receive
	// takes effect in the poll that completes it, so the model (a deque) can be
	// updated when each call returns and every outcome checked exactly. The one
	// thing the model cannot see is a slot granted to a sender that has not run
	// yet; so try_send may fail below capacity only while a sender waits.
	const uint64_t seed = test_seed();
	SCOPED_TRACE("seed=" + std::to_string(seed) + " (rerun with ORCA_TEST_SEED)");
	const size_t cap = 3;
	ChanRef c(sizeof(uint32_t), cap);
	std::deque<uint32_t> model;
	bool closed = false;
	int senders_waiting = 0;
	int errors = 0;
	auto fail = [&](const std::string &what) {
		if (errors++ < 5)
			ADD_FAILURE() << what << " (seed " << seed << ", model size " << model.size() << ")";
	};
	auto check_recv = [&](int r, uint32_t v, const char *op) {
		if (r == 0) {
			if (model.empty())
				fail(std::string(op) + " got a message the model does not have");
			else if (model.front() != v)
				fail(std::string(op) + " got " + std::to_string(v) + " instead of " +
				     std::to_string(model.front()));
			else
				model.pop_front();
		} else if (r == -EPIPE) {
			if (!closed || !model.empty())
				fail(std::string(op) + " -EPIPE while open or not drained");
		} else if (r == -EAGAIN) {
			if (!model.empty())
				fail(std::string(op) + " -EAGAIN with messages buffered");
		} else if (r != -ETIMEDOUT) {
			fail(std::string(op) + " error " + std::to_string(r));
		}
	};
	auto check_send = [&](int r, uint32_t v, bool try_op, const char *op) {
		if (r == 0) {
			if (closed)
				fail(std::string(op) + " succeeded on a closed channel");
			if (model.size() >= cap)
				fail(std::string(op) + " beyond capacity");
			model.push_back(v);
		} else if (r == -EPIPE) {
			if (!closed)
				fail(std::string(op) + " -EPIPE while open");
		} else if (r == -EAGAIN && try_op) {
			if (!closed && model.size() < cap && senders_waiting == 0)
				fail(std::string(op) + " -EAGAIN with room and nobody waiting");
		} else if (r != -ETIMEDOUT) {
			fail(std::string(op) + " error " + std::to_string(r));
		}
	};
	const int64_t end = orca_now() + ORCA_SEC(2);
	std::atomic<uint32_t> next_id{1};
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns;
			  for (int t = 0; t < 5; t++)
				  fns.push_back([&, t]() -> intptr_t {
					  std::mt19937_64 rng(seed * 131 + t);
					  for (int k = 0; k < scaled(20000) && orca_now() < end; k++) {
						  int64_t to = (int64_t)(rng() % 3) * ORCA_MSEC(1);
						  uint32_t v = next_id++;
						  uint32_t got = 0;
						  switch (rng() % 9) {
						  case 0:
						  case 1:
							  check_send(orca_chan_try_send(c, &v), v, true, "try_send");
							  break;
						  case 2:
						  case 3: {
							  senders_waiting++;
							  int r = orca_chan_send_timeout(c, &v, to);
							  senders_waiting--;
							  check_send(r, v, false, "send_timeout");
							  break;
						  }
						  case 4:
						  case 5: {
							  int r = orca_chan_try_recv(c, &got);
							  check_recv(r, got, "try_recv");
							  break;
						  }
						  case 6:
						  case 7: {
							  int r = orca_chan_recv_timeout(c, &got, to);
							  check_recv(r, got, "recv_timeout");
							  break;
						  }
						  default:
							  if ((int64_t)orca_chan_len(c) != (int64_t)model.size())
								  fail("len differs");
							  orca_yield();
						  }
						  // Near the end, close it and check what closing means.
						  if (t == 0 && !closed &&
						      (k == scaled(20000) * 9 / 10 || orca_now() > end - ORCA_MSEC(200))) {
							  closed = true;
							  orca_chan_close(c);
						  }
					  }
					  return 0;
				  });
			  std::vector<orca_task *> hs(fns.size());
			  for (size_t i = 0; i < fns.size(); i++)
				  orca_spawn(&hs[i], call_fn, &fns[i]);
			  for (auto *h : hs)
				  orca_join(h, nullptr);
			  return 0;
		  }));
	uint32_t got;
	int r;
	while ((r = orca_chan_try_recv(c, &got)) == 0)
		check_recv(0, got, "final drain");
	EXPECT_TRUE(model.empty());
	EXPECT_TRUE(closed);
	EXPECT_EQ(0, errors) << "seed " << seed;
}

// ---- broadcast ------------------------------------------------------------------------------

TEST(Broadcast, EveryReceiverSeesEveryMessageAndLaggersLearnHowManyTheyMissed)
{
	orca_broadcast *b;
	EXPECT_EQ(-EINVAL, orca_broadcast_create(&b, 4, 0));
	EXPECT_EQ(-EINVAL, orca_broadcast_create(nullptr, 4, 4));
	ASSERT_EQ(0, orca_broadcast_create(&b, sizeof(int), 4));
	int v = 0;
	EXPECT_EQ(0, orca_broadcast_send(b, &v)) << "nobody subscribed: nobody sees it";
	orca_broadcast_rx *fast, *slow;
	ASSERT_EQ(0, orca_broadcast_subscribe(b, &fast));
	ASSERT_EQ(0, orca_broadcast_subscribe(b, &slow));
	int got = -1;
	EXPECT_EQ(-EAGAIN, orca_broadcast_try_recv(fast, &got)) << "sees only later messages";
	for (v = 0; v < 10; v++) {
		ASSERT_EQ(2, orca_broadcast_send(b, &v));
		ASSERT_EQ(0, orca_broadcast_try_recv(fast, &got));
		EXPECT_EQ(v, got);
	}
	// slow read nothing: the last 4 (6..9) are kept, 6 were lost to it.
	EXPECT_EQ(6, orca_broadcast_try_recv(slow, &got));
	EXPECT_EQ(6, got);
	for (int i = 7; i < 10; i++) {
		EXPECT_EQ(0, orca_broadcast_try_recv(slow, &got));
		EXPECT_EQ(i, got);
	}
	EXPECT_EQ(-EAGAIN, orca_broadcast_try_recv(slow, &got));
	// A waiting receiver is woken by a send; close: drain, then -EPIPE.
	orca_chan_future f;
	TestWaker w;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, w.poll(orca_broadcast_recv_future(&f, slow, &got), &out));
	v = 10;
	ASSERT_EQ(2, orca_broadcast_send(b, &v));
	EXPECT_EQ(1, w.wakes.load());
	ASSERT_EQ(ORCA_READY, w.poll(&f.base, &out));
	EXPECT_EQ(0, out);
	EXPECT_EQ(10, got);
	ASSERT_EQ(ORCA_PENDING, w.poll(orca_broadcast_recv_future(&f, slow, &got), &out));
	ASSERT_EQ(0, orca_broadcast_close(b));
	EXPECT_EQ(2, w.wakes.load());
	ASSERT_EQ(ORCA_READY, w.poll(&f.base, &out));
	EXPECT_EQ(-EPIPE, out);
	EXPECT_EQ(-EPIPE, orca_broadcast_send(b, &v));
	EXPECT_EQ(0, orca_broadcast_try_recv(fast, &got)) << "drains what is left";
	EXPECT_EQ(10, got);
	EXPECT_EQ(-EPIPE, orca_broadcast_try_recv(fast, &got));
	// Receivers keep the channel alive after its creator lets go.
	ASSERT_EQ(0, orca_broadcast_release(b));
	EXPECT_EQ(-EPIPE, orca_broadcast_recv_blocking(slow, &got, -1));
	ASSERT_EQ(0, orca_broadcast_rx_free(fast));
	ASSERT_EQ(0, orca_broadcast_rx_free(slow));
	EXPECT_EQ(-EINVAL, orca_broadcast_rx_free(nullptr));
}

TEST_P(Chan, BroadcastToTasks)
{
	orca_broadcast *b;
	ASSERT_EQ(0, orca_broadcast_create(&b, sizeof(int), 1024));
	const int n = 1000, readers = 3;
	std::vector<orca_broadcast_rx *> rxs(readers);
	for (auto &rx : rxs)
		ASSERT_EQ(0, orca_broadcast_subscribe(b, &rx));
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns;
			  for (int k = 0; k < readers; k++)
				  fns.push_back([&, k]() -> intptr_t {
					  int got, expect = 0;
					  int64_t r;
					  while ((r = orca_broadcast_recv(rxs[k], &got)) == 0)
						  if (got != expect++)
							  return 1;
					  return r == -EPIPE && expect == n ? 0 : 2;
				  });
			  auto hs = spawn_all(fns);
			  for (int i = 0; i < n; i++) {
				  if (orca_broadcast_send(b, &i) != readers)
					  return 3;
				  if (i % 100 == 0)
					  orca_yield();
			  }
			  orca_broadcast_close(b);
			  return join_all(hs);
		  }));
	for (auto *rx : rxs)
		orca_broadcast_rx_free(rx);
	orca_broadcast_release(b);
}

// ---- watch ----------------------------------------------------------------------------------

TEST(Watch, ReceiversSeeTheLatestValueAndCloseEndsThem)
{
	orca_watch *w;
	int init = 1;
	EXPECT_EQ(-EINVAL, orca_watch_create(&w, sizeof(int), nullptr));
	ASSERT_EQ(0, orca_watch_create(&w, sizeof(int), &init));
	int got = 0;
	ASSERT_EQ(0, orca_watch_get(w, &got));
	EXPECT_EQ(1, got);
	orca_watch_rx *rx;
	ASSERT_EQ(0, orca_watch_subscribe(w, &rx));
	EXPECT_EQ(-EAGAIN, orca_watch_try_recv(rx, &got)) << "the current value counts as seen";
	int v = 2;
	ASSERT_EQ(0, orca_watch_send(w, &v));
	v = 3;
	ASSERT_EQ(0, orca_watch_send(w, &v));
	ASSERT_EQ(0, orca_watch_try_recv(rx, &got));
	EXPECT_EQ(3, got) << "only the latest";
	EXPECT_EQ(-EAGAIN, orca_watch_try_recv(rx, &got));
	orca_chan_future f;
	TestWaker tw;
	intptr_t out;
	ASSERT_EQ(ORCA_PENDING, tw.poll(orca_watch_recv_future(&f, rx, &got), &out));
	v = 4;
	ASSERT_EQ(0, orca_watch_send(w, &v));
	EXPECT_EQ(1, tw.wakes.load());
	ASSERT_EQ(ORCA_READY, tw.poll(&f.base, &out));
	EXPECT_EQ(4, got);
	v = 5;
	ASSERT_EQ(0, orca_watch_send(w, &v));
	ASSERT_EQ(0, orca_watch_close(w));
	EXPECT_EQ(-EPIPE, orca_watch_send(w, &v));
	EXPECT_EQ(0, orca_watch_recv_blocking(rx, &got, -1)) << "an unseen value first";
	EXPECT_EQ(5, got);
	EXPECT_EQ(-EPIPE, orca_watch_recv_blocking(rx, &got, -1));
	ASSERT_EQ(0, orca_watch_get(w, &got));
	EXPECT_EQ(5, got);
	ASSERT_EQ(0, orca_watch_release(w));
	ASSERT_EQ(0, orca_watch_rx_free(rx));
}

TEST_P(Chan, WatchReceiversInTasksEndOnTheLastValue)
{
	orca_watch *w;
	int zero = 0;
	ASSERT_EQ(0, orca_watch_create(&w, sizeof(int), &zero));
	EXPECT_EQ(0, run(rt, [&]() -> intptr_t {
			  std::vector<Fn> fns(3, [&]() -> intptr_t {
				  orca_watch_rx *rx;
				  if (orca_watch_subscribe(w, &rx) != 0)
					  return 1;
				  int got = 0, last = 0, r;
				  while ((r = orca_watch_recv(rx, &got)) == 0) {
					  if (got <= last)
						  return 2; // values only move forward
					  last = got;
				  }
				  orca_watch_rx_free(rx);
				  return r == -EPIPE && last == 500 ? 0 : 3;
			  });
			  auto hs = spawn_all(fns);
			  orca_sleep(ORCA_MSEC(5));
			  for (int i = 1; i <= 500; i++) {
				  orca_watch_send(w, &i);
				  if (i % 50 == 0)
					  orca_yield();
			  }
			  orca_watch_close(w);
			  return join_all(hs);
		  }));
	orca_watch_release(w);
}

} // namespace
