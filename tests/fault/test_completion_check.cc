// The ASan completion check (BRIEF): in ASan builds every completion that wrote into
// a buffer checks that the buffer is still live memory. A buffer freed mid-flight on
// purpose must trip it; 10^5 cancelled operations with their buffers freed right
// after the cancel returns must never trip it.
#include <gtest/gtest.h>
#include <orca/orca.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <thread>
#include <vector>

#include "../test_support.h"

namespace {

bool asan_build()
{
	return orca_test::under_asan();
}

struct Victim {
	int fd;
	char *buf;
	std::atomic<int> waiting{0};
};

intptr_t recv_into(void *arg)
{
	auto *v = (Victim *)arg;
	orca_op op;
	orca_op_recv(&op, v->fd, v->buf, 64, 0);
	v->waiting = 1;
	return orca_await(&op.base);
}

void free_buffer_mid_flight()
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		abort();
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 1;
	orca_runtime *rt;
	if (orca_runtime_create(&rt, &cfg) != 0)
		abort();
	static Victim v;
	v.fd = sv[0];
	v.buf = (char *)malloc(64);
	orca_task *h;
	orca_spawn_on(rt, &h, recv_into, &v);
	while (!v.waiting)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(20));
	free(v.buf); // the bug under test: the kernel still owns this buffer
	if (write(sv[1], "data that lands in freed memory", 31) != 31)
		abort();
	orca_join(h, nullptr); // the completion check aborts before this returns
	exit(0);
}

TEST(CompletionCheckDeathTest, KernelWriteIntoFreedBufferTrips)
{
	if (!asan_build())
		GTEST_SKIP() << "the completion check exists in ASan builds (asan preset) only";
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_DEATH(free_buffer_mid_flight(), "into freed or poisoned memory");
}

struct Churn {
	int fd;
	long ops;
	std::atomic<long> *timed_out;
};

intptr_t cancel_churn(void *arg)
{
	auto *c = (Churn *)arg;
	for (long i = 0; i < c->ops; i++) {
		char *buf = (char *)malloc(64);
		orca_op op;
		orca_op_recv(&op, c->fd, buf, 64, 0);
		// Already past: the op is submitted, then cancelled at once.
		intptr_t r = orca_await_deadline(&op.base, orca_now());
		if (r == -ETIMEDOUT)
			(*c->timed_out)++;
		free(buf); // safe only because the await returned after the CQE
		if (r < 0 && r != -ETIMEDOUT)
			return r;
	}
	return 0;
}

TEST(CompletionCheck, CancelledOpsNeverWriteIntoFreedMemory)
{
	// 8 tasks x 12,500 cancelled recvs = 10^5, while a plain thread keeps feeding
	// bytes into the sockets so that completions race the cancels.
	orca_runtime *rt;
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 2;
	ASSERT_EQ(0, orca_runtime_create(&rt, &cfg));
	const int tasks = 8;
	const long per_task = asan_build() ? 12500 : orca_test::scaled(12500);
	std::vector<int> rd(tasks), wr(tasks);
	for (int i = 0; i < tasks; i++) {
		int sv[2];
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		rd[i] = sv[0];
		wr[i] = sv[1];
	}
	std::atomic<bool> stop{false};
	std::thread feeder([&] {
		while (!stop)
			for (int i = 0; i < tasks; i++)
				(void)!send(wr[i], "x", 1, MSG_DONTWAIT);
	});
	std::atomic<long> timed_out{0};
	std::vector<Churn> churn(tasks);
	std::vector<orca_task *> hs(tasks);
	for (int i = 0; i < tasks; i++) {
		churn[i] = {rd[i], per_task, &timed_out};
		ASSERT_EQ(0, orca_spawn_on(rt, &hs[i], cancel_churn, &churn[i]));
	}
	for (auto h : hs) {
		intptr_t r = 1;
		EXPECT_EQ(0, orca_join(h, &r));
		EXPECT_EQ(0, r);
	}
	stop = true;
	feeder.join();
	EXPECT_GT(timed_out.load(), 0) << "no operation was actually cancelled";
	fprintf(stderr, "%ld of %ld recvs cancelled in flight\n", timed_out.load(), tasks * per_task);
	for (int i = 0; i < tasks; i++) {
		close(rd[i]);
		close(wr[i]);
	}
	EXPECT_EQ(0, orca_runtime_free(rt));
}

} // namespace
