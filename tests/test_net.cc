// The network calls, on both I/O backends (io_uring and epoll, each with 1 and 2
// workers; io_uring also with one-shot accepts instead of multishot): echo under
// load, short reads and writes, resets, fd exhaustion, slow clients, abort and
// timeouts, UDP, wakes of a parked worker, idle CPU with listeners, parking with any
// yield count; and what a readiness backend must get right: a reader and a writer on
// one fd, hang-ups waking both, fd numbers reused after close, a recv after a short
// one, cancels from other workers leaving nothing registered, the cooperative
// budget, flags passed through, registrations kept across waits on fds Orca made (and
// re-checked when such an fd was closed with close(2) and its number reused; switched off
// where nobody waits, without waking on a hang-up); and orca_close ending other tasks' waits on the fd
// with -EBADF (NetClose; NetCloseAcrossWorkers, on two workers), also in a task
// that was aborted.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <orca/orca.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "io_test_support.h"

namespace {

class Net : public orca_test::IoRuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Io, Net, orca_test::io_params_with_oneshot_accept(),
			 orca_test::io_param_name);

// CPU time of the whole process (every worker), user + system, in seconds.
double process_cpu_seconds()
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

// ---- an echo server as a task ------------------------------------------------------

struct Server {
	int lfd = -1;
	int port = 0;
	orca_runtime *rt = nullptr;
	std::atomic<int> connections{0};
	std::atomic<int> handlers_done{0};
	orca_task *acceptor = nullptr;
};

intptr_t echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	for (;;) {
		ssize_t n = orca_recv(fd, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		if (orca_send_all(fd, buf, (size_t)n) < 0)
			break;
	}
	close(fd);
	return 0;
}

intptr_t accept_loop(void *arg)
{
	auto *s = (Server *)arg;
	int64_t backoff = ORCA_MSEC(1);
	for (;;) {
		int fd = orca_accept(s->lfd, nullptr, nullptr);
		if (fd == -ECANCELED)
			return 0;
		if (fd == -EMFILE || fd == -ENFILE) {
			if (orca_sleep(backoff) == -ECANCELED)
				return 0;
			backoff = backoff < ORCA_MSEC(50) ? backoff * 2 : backoff;
			continue;
		}
		if (fd < 0)
			continue;
		backoff = ORCA_MSEC(1);
		s->connections++;
		if (orca_spawn(nullptr, echo_conn, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
}

void start_server(orca_runtime *rt, Server *s)
{
	s->rt = rt;
	s->lfd = orca_tcp_listen("127.0.0.1", 0, 4096, 0);
	ASSERT_GE(s->lfd, 0);
	s->port = orca_socket_port(s->lfd);
	ASSERT_GT(s->port, 0);
	ASSERT_EQ(0, orca_spawn_on(rt, &s->acceptor, accept_loop, s));
}

void stop_server(Server *s)
{
	orca_abort(s->acceptor);
	orca_join(s->acceptor, nullptr);
	EXPECT_EQ(0, orca_test::close_listener(s->rt, s->lfd));
}

int open_fds()
{
	int n = 0;
	for (int fd = 0; fd < 65536; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

// ---- clients -------------------------------------------------------------------------

struct ClientJob {
	int port;
	int rounds;
	size_t size;
	uint32_t seed;
};

intptr_t echo_client(void *arg)
{
	auto *j = (ClientJob *)arg;
	int fd = orca_tcp_connect("127.0.0.1", (uint16_t)j->port, ORCA_SEC(10));
	if (fd < 0)
		return fd;
	std::vector<unsigned char> out(j->size), in(j->size);
	uint32_t x = j->seed | 1;
	intptr_t ret = 0;
	for (int r = 0; r < j->rounds && ret == 0; r++) {
		for (auto &b : out) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			b = (unsigned char)x;
		}
		if (orca_send_all(fd, out.data(), out.size()) != (ssize_t)out.size()) {
			ret = -1;
			break;
		}
		size_t got = 0;
		while (got < in.size()) {
			ssize_t n = orca_recv(fd, in.data() + got, in.size() - got, 0);
			if (n <= 0) {
				ret = -2;
				break;
			}
			got += (size_t)n;
		}
		if (ret == 0 && memcmp(in.data(), out.data(), in.size()) != 0)
			ret = -3;
	}
	close(fd);
	return ret;
}

struct ManyClients {
	int port;
	int clients;
	int rounds;
	size_t size;
};

intptr_t run_clients(void *arg)
{
	auto *m = (ManyClients *)arg;
	std::vector<ClientJob> jobs(m->clients);
	std::vector<orca_task *> hs(m->clients);
	for (int i = 0; i < m->clients; i++) {
		jobs[i] = {m->port, m->rounds, m->size, (uint32_t)(i * 2654435761u)};
		if (orca_spawn(&hs[i], echo_client, &jobs[i]) != 0)
			return -100;
	}
	intptr_t bad = 0;
	for (auto h : hs) {
		intptr_t r = 0;
		orca_join(h, &r);
		if (r)
			bad++;
	}
	return bad;
}

TEST_P(Net, EchoThousandConcurrentClients)
{
	Server s;
	start_server(rt, &s);
	ManyClients m{s.port, (int)orca_test::scaled(1000), 5, 1000};
	if (orca_test::under_tsan())
		m.clients = 200;
	intptr_t bad = -1;
	ASSERT_EQ(0, orca_block_on(rt, run_clients, &m, &bad));
	EXPECT_EQ(0, bad) << "clients that saw wrong or missing bytes";
	EXPECT_EQ(m.clients, s.connections.load());
	stop_server(&s);
}

TEST_P(Net, LargeTransfersWithShortReadsAndWrites)
{
	// 4 MiB each way through a socket with small buffers: sends and receives come
	// back short and the loops must stitch them.
	Server s;
	start_server(rt, &s);
	ManyClients m{s.port, 4, 2, 1 << 20};
	EXPECT_EQ(0, orca_test::run_task(rt, run_clients, &m));
	stop_server(&s);
}

// A client that resets (SO_LINGER 0) while the server sends: the server's task gets
// -ECONNRESET or -EPIPE, and the server keeps serving others.
intptr_t reset_midway(void *arg)
{
	int port = (int)(intptr_t)arg;
	int fd = orca_tcp_connect("127.0.0.1", (uint16_t)port, ORCA_SEC(5));
	if (fd < 0)
		return fd;
	std::vector<char> big(1 << 20, 'x');
	orca_send(fd, big.data(), big.size(), 0);
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd); // RST
	return 0;
}

struct SendInto {
	int lfd;
	std::atomic<intptr_t> last{1};
};

intptr_t send_until_error(void *arg)
{
	auto *si = (SendInto *)arg;
	int fd = orca_accept(si->lfd, nullptr, nullptr);
	if (fd < 0)
		return fd;
	std::vector<char> buf(1 << 16, 'y');
	ssize_t r = 0;
	for (int i = 0; i < 100000; i++) {
		r = orca_send(fd, buf.data(), buf.size(), 0);
		if (r < 0)
			break;
	}
	si->last = r;
	close(fd);
	return 0;
}

TEST_P(Net, PeerResetGivesAnErrorAndServerGoesOn)
{
	SendInto si;
	si.lfd = orca_tcp_listen("127.0.0.1", 0, 16, 0);
	ASSERT_GE(si.lfd, 0);
	int port = orca_socket_port(si.lfd);
	orca_task *srv, *cli;
	ASSERT_EQ(0, orca_spawn_on(rt, &srv, send_until_error, &si));
	ASSERT_EQ(0, orca_spawn_on(rt, &cli, reset_midway, (void *)(intptr_t)port));
	EXPECT_EQ(0, orca_join(cli, nullptr));
	EXPECT_EQ(0, orca_join(srv, nullptr));
	EXPECT_TRUE(si.last == -ECONNRESET || si.last == -EPIPE) << si.last;
	EXPECT_EQ(0, orca_test::close_listener(rt, si.lfd));
	// And a normal server still serves after a reset client.
	Server s;
	start_server(rt, &s);
	orca_task *bad;
	ASSERT_EQ(0, orca_spawn_on(rt, &bad, reset_midway, (void *)(intptr_t)s.port));
	orca_join(bad, nullptr);
	ManyClients m{s.port, 10, 3, 100};
	EXPECT_EQ(0, orca_test::run_task(rt, run_clients, &m));
	stop_server(&s);
}

TEST_P(Net, AcceptLoopBacksOffOnEmfileAndRecovers)
{
	// Lower RLIMIT_NOFILE to just above what is open, fill it with client sockets
	// so accept() fails with EMFILE, check the server does not spin (CPU), then
	// free fds and check it serves again.
	Server s;
	start_server(rt, &s);
	struct rlimit old;
	getrlimit(RLIMIT_NOFILE, &old);
	int base = open_fds();
	struct rlimit low = {(rlim_t)(base + 20), old.rlim_max};
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
	std::vector<int> clients;
	for (int i = 0; i < 40; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		sockaddr_in a{};
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)s.port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(fd, (sockaddr *)&a, sizeof a) != 0) {
			close(fd);
			break;
		}
		clients.push_back(fd);
	}
	ASSERT_GT(clients.size(), 5u);
	std::this_thread::sleep_for(std::chrono::milliseconds(100));
	double c0 = process_cpu_seconds();
	std::this_thread::sleep_for(std::chrono::milliseconds(300));
	double cpu = process_cpu_seconds() - c0;
	EXPECT_LT(cpu, 0.15) << "accept loop spins on EMFILE";
	for (int fd : clients)
		close(fd);
	setrlimit(RLIMIT_NOFILE, &old);
	ManyClients m{s.port, 10, 2, 100};
	EXPECT_EQ(0, orca_test::run_task(rt, run_clients, &m));
	stop_server(&s);
}

// A slow client sending one byte at a time does not delay others.
intptr_t slow_client(void *arg)
{
	int port = (int)(intptr_t)arg;
	int fd = orca_tcp_connect("127.0.0.1", (uint16_t)port, ORCA_SEC(5));
	if (fd < 0)
		return fd;
	for (int i = 0; i < 50; i++) {
		char c = 'a';
		orca_send(fd, &c, 1, 0);
		orca_recv(fd, &c, 1, 0);
		orca_sleep(ORCA_MSEC(10));
	}
	close(fd);
	return 0;
}

TEST_P(Net, SlowClientDoesNotDelayOthers)
{
	Server s;
	start_server(rt, &s);
	orca_task *slow;
	ASSERT_EQ(0, orca_spawn_on(rt, &slow, slow_client, (void *)(intptr_t)s.port));
	int64_t t0 = orca_now();
	ManyClients m{s.port, 20, 20, 64};
	EXPECT_EQ(0, orca_test::run_task(rt, run_clients, &m));
	EXPECT_LT(orca_now() - t0, ORCA_MSEC(400)) << "fast clients waited for the slow one";
	orca_join(slow, nullptr);
	stop_server(&s);
}

// ---- abort and timeouts ------------------------------------------------------------

struct Blocked {
	int fd;
	std::atomic<int> entered{0};
	std::atomic<intptr_t> result{1};
	char buf[256];
};

intptr_t blocked_recv(void *arg)
{
	auto *b = (Blocked *)arg;
	b->entered = 1;
	b->result = orca_recv(b->fd, b->buf, sizeof b->buf, 0);
	return 0;
}

intptr_t blocked_accept(void *arg)
{
	auto *b = (Blocked *)arg;
	b->entered = 1;
	b->result = orca_accept(b->fd, nullptr, nullptr);
	return 0;
}

intptr_t blocked_read(void *arg)
{
	auto *b = (Blocked *)arg;
	b->entered = 1;
	b->result = orca_read(b->fd, b->buf, sizeof b->buf);
	return 0;
}

void expect_abort_cancels(orca_runtime *rt, orca_task_fn fn, int fd)
{
	auto *b = new Blocked;
	b->fd = fd;
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, fn, b));
	while (!b->entered)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(20));
	orca_abort(h);
	EXPECT_EQ(-ECANCELED, orca_join(h, nullptr));
	EXPECT_EQ(-ECANCELED, b->result.load());
	delete b; // ASan would catch a late kernel write into b->buf
}

TEST_P(Net, AbortBlockedRecvAcceptAndPipeRead)
{
	int sv[2];
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	expect_abort_cancels(rt, blocked_recv, sv[0]);
	int lfd = orca_tcp_listen("127.0.0.1", 0, 16, 0);
	ASSERT_GE(lfd, 0);
	expect_abort_cancels(rt, blocked_accept, lfd);
	int p[2];
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	expect_abort_cancels(rt, blocked_read, p[0]);
	// After the aborts the fds still work: nothing is left registered on them.
	ASSERT_EQ(1, write(p[1], "z", 1));
	char c;
	ASSERT_EQ(1, read(p[0], &c, 1));
	close(p[0]);
	close(p[1]);
	EXPECT_EQ(0, orca_test::close_listener(rt, lfd));
	close(sv[0]);
	close(sv[1]);
}

intptr_t timeouts(void *)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	char buf[16];
	int64_t t0 = orca_now();
	ssize_t r = orca_recv_timeout(sv[0], buf, sizeof buf, 0, ORCA_MSEC(30));
	int64_t took = orca_now() - t0;
	close(sv[0]);
	close(sv[1]);
	if (r != -ETIMEDOUT)
		return -2;
	if (took < ORCA_MSEC(30) || took > ORCA_SEC(2))
		return -3;
	// Connect to a listener whose backlog is full and never accepts: SYNs are
	// dropped, so the connect hangs until the timeout.
	int lfd = orca_tcp_listen("127.0.0.1", 0, 1, 0);
	int port = orca_socket_port(lfd);
	std::vector<int> fillers;
	for (int i = 0; i < 8; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		sockaddr_in a{};
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		connect(fd, (sockaddr *)&a, sizeof a);
		fillers.push_back(fd);
	}
	orca_sleep(ORCA_MSEC(50));
	t0 = orca_now();
	int fd = orca_tcp_connect("127.0.0.1", (uint16_t)port, ORCA_MSEC(100));
	took = orca_now() - t0;
	for (int f : fillers)
		close(f);
	orca_close(lfd);
	if (fd >= 0) {
		close(fd);
		return -4;
	}
	if (fd != -ETIMEDOUT)
		return -5;
	return took >= ORCA_MSEC(100) && took < ORCA_SEC(3) ? 0 : -6;
}

TEST_P(Net, RecvAndConnectTimeouts)
{
	EXPECT_EQ(0, orca_test::run_task(rt, timeouts));
}

// ---- UDP ------------------------------------------------------------------------

intptr_t udp_round_trip(void *)
{
	int a = orca_udp_bind("127.0.0.1", 0), b = orca_udp_bind("127.0.0.1", 0);
	if (a < 0 || b < 0)
		return -1;
	sockaddr_in to{};
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)orca_socket_port(b));
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	const char msg[] = "ping over udp";
	if (orca_sendto(a, msg, sizeof msg, 0, (sockaddr *)&to, sizeof to) != (ssize_t)sizeof msg)
		return -2;
	char buf[64];
	sockaddr_in from{};
	socklen_t fl = sizeof from;
	ssize_t n = orca_recvfrom(b, buf, sizeof buf, 0, (sockaddr *)&from, &fl);
	if (n != (ssize_t)sizeof msg || memcmp(buf, msg, sizeof msg) != 0)
		return -3;
	if (ntohs(from.sin_port) != orca_socket_port(a))
		return -4;
	close(a);
	close(b);
	return 0;
}

TEST_P(Net, UdpRoundTrip)
{
	EXPECT_EQ(0, orca_test::run_task(rt, udp_round_trip));
}

// ---- wakes and idle ------------------------------------------------------------

struct PlainWake {
	orca_waker w{};
	std::mutex mu;
	std::atomic<int> flag{0};
	std::atomic<int> parked{0};
};

orca_poll wait_flag(orca_future *f, orca_context *cx, intptr_t *out);
struct FlagFuture {
	orca_future base;
	PlainWake *pw;
};
orca_poll wait_flag(orca_future *f, orca_context *cx, intptr_t *out)
{
	auto *pw = ((FlagFuture *)f)->pw;
	std::lock_guard<std::mutex> g(pw->mu);
	if (pw->flag.load()) {
		orca_waker_drop(&pw->w);
		*out = 0;
		return ORCA_READY;
	}
	if (!orca_waker_will_wake(&pw->w, cx->waker)) {
		orca_waker_drop(&pw->w);
		pw->w = orca_waker_clone(cx->waker);
	}
	pw->parked = 1;
	return ORCA_PENDING;
}

intptr_t await_flag(void *arg)
{
	static const orca_future_vtable vt = {wait_flag, nullptr, nullptr};
	FlagFuture f{{&vt}, (PlainWake *)arg};
	return orca_await(&f.base);
}

// From this plain thread: sets the flag and wakes the task awaiting it.
void raise_flag(PlainWake &pw)
{
	std::lock_guard<std::mutex> g(pw.mu);
	pw.flag = 1;
	orca_waker_wake_by_ref(&pw.w);
}

// Once the task awaiting pw is parked, expects the workers to use (almost) no CPU.
void expect_parked_workers_idle(PlainWake &pw)
{
	while (!pw.parked)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(20)); // let workers park
	double c0 = process_cpu_seconds();
	std::this_thread::sleep_for(std::chrono::milliseconds(200));
	double cpu = process_cpu_seconds() - c0;
	EXPECT_LT(cpu, 0.010) << "parked workers used " << cpu * 1000 << " ms in 200 ms";
}

TEST_P(Net, WakeFromPlainThreadReachesParkedWorker)
{
	// Every worker is parked in its ring wait with a listener open (an accept in
	// flight); a wake from this plain thread must reach one at once.
	Server s;
	start_server(rt, &s);
	PlainWake pw;
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, await_flag, &pw));
	while (!pw.parked)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(50)); // let workers park
	int64_t t0 = orca_now();
	raise_flag(pw);
	EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_LT(orca_now() - t0, ORCA_MSEC(100));
	stop_server(&s);
}

TEST_P(Net, ParkingWithAnyYieldCountWakesAndIdlesAlike)
{
	// ORCA_PARK_YIELDS is read as each driver is created: 0 (no yields), the
	// largest count, and values that are not counts (the default then).
	for (const char *v : {"0", "64", "abc", "-1", "65", ""}) {
		SCOPED_TRACE(std::string("ORCA_PARK_YIELDS=") + v);
		setenv("ORCA_PARK_YIELDS", v, 1);
		orca_runtime *r2 = nullptr;
		ASSERT_EQ(0, create_runtime(&r2));
		unsetenv("ORCA_PARK_YIELDS");
		PlainWake pw;
		orca_task *h;
		ASSERT_EQ(0, orca_spawn_on(r2, &h, await_flag, &pw));
		expect_parked_workers_idle(pw);
		int64_t t0 = orca_now();
		raise_flag(pw);
		EXPECT_EQ(0, orca_join(h, nullptr));
		EXPECT_LT(orca_now() - t0, ORCA_MSEC(100));
		ASSERT_EQ(0, orca_runtime_free(r2));
	}
}

TEST_P(Net, IdleWithListenersUsesNoCpu)
{
	Server s1, s2;
	start_server(rt, &s1);
	start_server(rt, &s2);
	std::this_thread::sleep_for(std::chrono::milliseconds(50));
	double c0 = process_cpu_seconds();
	std::this_thread::sleep_for(std::chrono::milliseconds(500));
	double cpu = process_cpu_seconds() - c0;
	EXPECT_LT(cpu, 0.010) << "idle with listeners used " << cpu * 1000 << " ms in 500 ms";
	stop_server(&s1);
	stop_server(&s2);
}

TEST(NetOutsideTask, CallsOutsideATaskAreRefused)
{
	char b[4];
	EXPECT_EQ(-EPERM, orca_read(0, b, sizeof b));
	EXPECT_EQ(-EPERM, orca_accept(0, nullptr, nullptr));
	EXPECT_EQ(-EFAULT, orca_read(0, nullptr, 4));
	sockaddr_in a{};
	EXPECT_EQ(-EFAULT, orca_accept(0, (sockaddr *)&a, nullptr));
	EXPECT_EQ(-EINVAL, orca_tcp_listen("127.0.0.1", 0, 0, 0x100));
	EXPECT_EQ(-EINVAL, orca_tcp_connect(nullptr, 80, 0));
}

intptr_t bad_fds(void *)
{
	char b[4];
	if (orca_read(-1, b, 4) != -EBADF || orca_recv(-5, b, 4, 0) != -EBADF)
		return -1;
	if (orca_read(1000000, b, 4) != -EBADF)
		return -2;
	if (orca_pread(0, b, 4, -1) != -EINVAL)
		return -3;
	struct addrinfo *res = nullptr;
	if (orca_getaddrinfo(nullptr, nullptr, nullptr, &res) != -EINVAL)
		return -4;
	if (orca_getaddrinfo("localhost", "80", nullptr, &res) != 0 || !res)
		return -5;
	freeaddrinfo(res);
	return 0;
}

TEST_P(Net, BadFdsAndArguments)
{
	EXPECT_EQ(0, orca_test::run_task(rt, bad_fds));
}

// ---- what a readiness backend must get right ---------------------------------------

// Fills fd's send buffer (and the peer's receive buffer) so that the next send waits.
void fill_send_buffer(int fd)
{
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	std::vector<char> junk(4096, 'j');
	while (send(fd, junk.data(), junk.size(), MSG_DONTWAIT) > 0) {
	}
}

void drain(int fd)
{
	char buf[4096];
	while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
	}
}

struct Duplex {
	int fd;
	std::atomic<int> started{0};
	std::atomic<ssize_t> rres{1}, wres{1};
	char rbuf[16];
	std::vector<char> out = std::vector<char>(1000, 'w');
};

intptr_t duplex_reader(void *arg)
{
	auto *d = (Duplex *)arg;
	d->started++;
	d->rres = orca_recv(d->fd, d->rbuf, sizeof d->rbuf, 0);
	return 0;
}

intptr_t duplex_writer(void *arg)
{
	auto *d = (Duplex *)arg;
	d->started++;
	d->wres = orca_send(d->fd, d->out.data(), d->out.size(), 0);
	return 0;
}

// Both wait on one fd; spawned from one task so that on one worker they share its
// waiter list.
intptr_t spawn_duplex(void *arg)
{
	orca_task **hs = (orca_task **)((void **)arg)[0];
	Duplex *d = (Duplex *)((void **)arg)[1];
	if (orca_spawn(&hs[0], duplex_reader, d) != 0 || orca_spawn(&hs[1], duplex_writer, d) != 0)
		return -1;
	return 0;
}

// A socket pair whose sv[0] cannot send, and a reader and a writer waiting on sv[0].
void start_duplex(orca_runtime *rt, int sv[2], Duplex *d, orca_task **hs)
{
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	fill_send_buffer(sv[0]);
	d->fd = sv[0];
	void *args[2] = {hs, d};
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, spawn_duplex, args, &r));
	ASSERT_EQ(0, r);
	while (d->started < 2)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(30));
	EXPECT_FALSE(orca_task_is_finished(hs[0])) << "the reader did not wait";
	EXPECT_FALSE(orca_task_is_finished(hs[1])) << "the writer did not wait";
}

TEST_P(Net, ReaderAndWriterWaitOnOneFdAndEachGetsItsOwnEvent)
{
	int sv[2];
	Duplex d;
	orca_task *hs[2];
	start_duplex(rt, sv, &d, hs);
	// Readable only: the reader finishes, the writer goes on waiting.
	ASSERT_EQ(5, write(sv[1], "hello", 5));
	EXPECT_EQ(0, orca_join(hs[0], nullptr));
	EXPECT_EQ(5, d.rres.load());
	EXPECT_EQ(0, memcmp(d.rbuf, "hello", 5));
	std::this_thread::sleep_for(std::chrono::milliseconds(20));
	EXPECT_FALSE(orca_task_is_finished(hs[1])) << "a read event woke the writer";
	// Writable: the writer finishes.
	drain(sv[1]);
	EXPECT_EQ(0, orca_join(hs[1], nullptr));
	EXPECT_GT(d.wres.load(), 0);
	close(sv[0]);
	close(sv[1]);
}

TEST_P(Net, HangUpWakesTheReaderAndTheWriter)
{
	int sv[2];
	Duplex d;
	orca_task *hs[2];
	start_duplex(rt, sv, &d, hs);
	close(sv[1]);
	EXPECT_EQ(0, orca_join(hs[0], nullptr));
	EXPECT_EQ(0, orca_join(hs[1], nullptr));
	// The peer closed with our unsent bytes in its receive queue: a reset.
	EXPECT_TRUE(d.rres == 0 || d.rres == -ECONNRESET) << d.rres;
	EXPECT_TRUE(d.wres == -EPIPE || d.wres == -ECONNRESET) << d.wres;
	close(sv[0]);
}

struct Later {
	int fd;
	const char *msg;
	int64_t delay;
};

intptr_t write_later(void *arg)
{
	auto *l = (Later *)arg;
	orca_sleep(l->delay);
	return write(l->fd, l->msg, strlen(l->msg)) == (ssize_t)strlen(l->msg) ? 0 : -1;
}

// recv of "msg" on fd while another task writes it there after a while.
intptr_t recv_written_later(int rfd, int wfd, const char *msg, int64_t delay = ORCA_MSEC(20))
{
	Later l{wfd, msg, delay};
	orca_task *w;
	if (orca_spawn(&w, write_later, &l) != 0)
		return -100;
	char buf[32] = {};
	ssize_t n = orca_recv_timeout(rfd, buf, sizeof buf, 0, ORCA_SEC(5));
	intptr_t wr = 1;
	orca_join(w, &wr);
	if (wr != 0)
		return -101;
	if (n != (ssize_t)strlen(msg) || memcmp(buf, msg, (size_t)n) != 0)
		return n < 0 ? n : -102;
	return 0;
}

intptr_t fd_numbers_reused(void *)
{
	char buf[8];
	// 1. A wait cancelled by its timeout, then the fd closed and its number reused.
	int a[2], b[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) != 0)
		return -1;
	if (orca_recv_timeout(a[0], buf, sizeof buf, 0, ORCA_MSEC(5)) != -ETIMEDOUT)
		return -2;
	int num = a[0];
	close(a[0]);
	close(a[1]);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) != 0)
		return -3;
	int rfd = b[0] == num ? b[0] : b[1], wfd = rfd == b[0] ? b[1] : b[0];
	if (rfd != num)
		return -4; // the lowest free number is reused: the point of the test
	intptr_t r = recv_written_later(rfd, wfd, "reused");
	if (r)
		return r - 10;
	// 2. A wait that completed, then the fd closed and its number reused.
	close(b[0]);
	close(b[1]);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) != 0)
		return -20;
	rfd = a[0] == num ? a[0] : a[1];
	wfd = rfd == a[0] ? a[1] : a[0];
	r = recv_written_later(rfd, wfd, "again");
	if (r)
		return r - 30;
	// 3. The old file still open under another number (dup): its registration
	// outlives the close of this number. Events on the old file must not satisfy a
	// wait on the new one, and the new one must still be woken.
	int old_dup = dup(rfd);
	if (orca_recv_timeout(rfd, buf, sizeof buf, 0, ORCA_MSEC(5)) != -ETIMEDOUT)
		return -40;
	close(rfd);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) != 0)
		return -41;
	int nr = b[0] == num ? b[0] : b[1], nw = nr == b[0] ? b[1] : b[0];
	if (nr != num)
		return -42;
	Later noise{wfd, "noise", ORCA_MSEC(5)}; // to the old file: a stale event, no data
	orca_task *n;
	if (orca_spawn(&n, write_later, &noise) != 0)
		return -43;
	r = recv_written_later(nr, nw, "fresh");
	orca_join(n, nullptr);
	if (r)
		return r - 50;
	if (recv(old_dup, buf, sizeof buf, MSG_DONTWAIT) != 5)
		return -60; // the old file's data stayed where it was sent
	close(old_dup);
	close(wfd);
	close(nr);
	close(nw);
	return 0;
}

TEST_P(Net, FdNumbersReusedAfterCloseAreWaitedOnAfresh)
{
	EXPECT_EQ(0, orca_test::run_task(rt, fd_numbers_reused));
}

intptr_t recv_after_short_recvs(void *)
{
	// A short recv empties a stream socket's queue, so the epoll backend's next recv
	// on it waits without trying first. Data that arrived in between (written here,
	// before the next recv) must still be received at once, whatever the guess.
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	char buf[64];
	// A first wait puts the fd in this worker's epoll set, which asks what it is.
	if (orca_recv_timeout(sv[0], buf, sizeof buf, 0, ORCA_MSEC(2)) != -ETIMEDOUT)
		return -6;
	for (int i = 0; i < 100; i++) {
		char msg[16];
		int len = snprintf(msg, sizeof msg, "m%d", i);
		if (write(sv[1], msg, (size_t)len) != len)
			return -2;
		if (orca_recv_timeout(sv[0], buf, sizeof buf, 0, ORCA_SEC(5)) != len ||
		    memcmp(buf, msg, (size_t)len) != 0)
			return -100 - i; // short: the socket is empty now
	}
	// A full-sized read (not short): more may be queued; the next recv gets it.
	std::memset(buf, 'f', sizeof buf);
	if (write(sv[1], buf, sizeof buf) != (ssize_t)sizeof buf || write(sv[1], "tail", 4) != 4)
		return -3;
	if (orca_recv(sv[0], buf, sizeof buf, 0) != (ssize_t)sizeof buf)
		return -4;
	if (orca_recv_timeout(sv[0], buf, sizeof buf, 0, ORCA_SEC(5)) != 4 || memcmp(buf, "tail", 4))
		return -5;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

TEST_P(Net, ARecvAfterAShortOneGetsDataThatArrivedInBetween)
{
	orca_metrics before, after;
	ASSERT_EQ(0, orca_runtime_metrics(rt, &before));
	EXPECT_EQ(0, orca_test::run_task(rt, recv_after_short_recvs));
	ASSERT_EQ(0, orca_runtime_metrics(rt, &after));
	// On one worker the task cannot move to another epoll set: each of the 100
	// recvs after a short one armed the fd instead of reading first (io_uring
	// submits every recv anyway).
	if (GetParam().workers == 1) {
		EXPECT_GE(after.io_submitted - before.io_submitted, 100u);
	}
}

// A connected TCP pair made by Orca's own calls (fd_origin.h: the epoll backend may
// then keep the registrations without checking them before each wait).
intptr_t orca_made_pair(int *srv, int *cli)
{
	int lfd = orca_tcp_listen("127.0.0.1", 0, 4, 0);
	if (lfd < 0)
		return lfd;
	int c = orca_tcp_connect("127.0.0.1", (uint16_t)orca_socket_port(lfd), ORCA_SEC(5));
	int s = c < 0 ? c : orca_accept(lfd, nullptr, nullptr);
	orca_close(lfd);
	if (c < 0 || s < 0) {
		if (c >= 0)
			close(c);
		return c < 0 ? c : s;
	}
	*srv = s;
	*cli = c;
	return 0;
}

// orca_made_pair, then one wait on srv: its registration is checked, and trusted after.
intptr_t orca_made_pair_waited_on(int *srv, int *cli)
{
	intptr_t r = orca_made_pair(srv, cli);
	if (r)
		return r;
	if ((r = recv_written_later(*srv, *cli, "first")) != 0) {
		close(*srv);
		close(*cli);
		return r - 10;
	}
	return 0;
}

intptr_t pong(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[64];
	for (;;) {
		ssize_t n = orca_recv(fd, buf, sizeof buf, 0);
		if (n <= 0)
			return n;
		if (orca_send_all(fd, buf, (size_t)n) != n)
			return -1;
	}
}

intptr_t ping_pong_on_orca_fds(void *)
{
	int srv, cli;
	intptr_t r = orca_made_pair(&srv, &cli);
	if (r)
		return r;
	orca_task *peer;
	if (orca_spawn(&peer, pong, (void *)(intptr_t)cli) != 0)
		return -1;
	// Every recv after the first comes after a short one, so on epoll each waits
	// (without trying first) on both ends: 2 x 300 waits.
	char buf[64];
	for (int i = 0; i < 300; i++) {
		char msg[16];
		int len = snprintf(msg, sizeof msg, "p%d", i);
		if (orca_send_all(srv, msg, (size_t)len) != len)
			return -2;
		if (orca_recv_timeout(srv, buf, sizeof buf, 0, ORCA_SEC(5)) != len ||
		    memcmp(buf, msg, (size_t)len) != 0)
			return -3;
	}
	shutdown(srv, SHUT_WR);
	intptr_t pr = 1;
	orca_join(peer, &pr);
	close(srv);
	close(cli);
	return pr == 0 ? 0 : -4;
}

TEST_P(Net, WaitsOnFdsOrcaMadeNeedNoRegistrationCheckEach)
{
	orca_metrics before, after;
	ASSERT_EQ(0, orca_runtime_metrics(rt, &before));
	EXPECT_EQ(0, orca_test::run_task(rt, ping_pong_on_orca_fds));
	ASSERT_EQ(0, orca_runtime_metrics(rt, &after));
	// On one worker, epoll: the three fds are registered and checked once each (a
	// few more for the first waits and the timeouts' cancels), not once per wait as
	// the 100+ of ARecvAfterAShortOne... on the program's own fds (io_uring submits
	// every op).
	if (GetParam().workers == 1 && GetParam().backend == ORCA_BACKEND_EPOLL) {
		EXPECT_LE(after.io_submitted - before.io_submitted, 20u);
	}
}

intptr_t orca_fd_closed_plainly_then_reused(void *)
{
	int srv, cli;
	intptr_t r = orca_made_pair_waited_on(&srv, &cli);
	if (r)
		return r;
	if ((r = recv_written_later(srv, cli, "again")) != 0)
		return r - 20;
	// Closed with close(2), not orca_close, and the number given to a file the program
	// made itself: nothing tells Orca, and the kernel dropped the registration.
	int num = srv;
	close(srv);
	close(cli);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -30;
	if (dup2(sv[0], num) != num)
		return -31;
	close(sv[0]);
	// The wait trusts what it should not; the epoll driver's sweep finds out.
	if ((r = recv_written_later(num, sv[1], "mine")) != 0)
		return r - 40;
	close(num);
	close(sv[1]);
	return 0;
}

TEST_P(Net, AnOrcaFdClosedWithCloseAndItsNumberReusedIsStillWaitedOn)
{
	EXPECT_EQ(0, orca_test::run_task(rt, orca_fd_closed_plainly_then_reused));
}

intptr_t events_with_nobody_waiting(void *)
{
	int srv, cli;
	intptr_t r = orca_made_pair_waited_on(&srv, &cli);
	if (r)
		return r;
	// Data arrives while nobody waits on srv here (as when its task moved to another
	// worker): after two such events the epoll backend switches the registration off
	// in this worker's set. It is read without Orca.
	char buf[16];
	for (int i = 0; i < 3; i++) {
		if (write(cli, "x", 1) != 1)
			return -20;
		orca_sleep(ORCA_MSEC(5)); // the worker parks and takes the event
		if (recv(srv, buf, sizeof buf, MSG_DONTWAIT) != 1)
			return -21;
	}
	// The next wait here switches it back on, and is woken.
	if ((r = recv_written_later(srv, cli, "back")) != 0)
		return r - 30;
	close(srv);
	close(cli);
	return 0;
}

TEST_P(Net, AWaitAfterEventsThatFoundNobodyIsWoken)
{
	EXPECT_EQ(0, orca_test::run_task(rt, events_with_nobody_waiting));
}

intptr_t hang_up_behind_a_switched_off_registration(void *arg)
{
	int srv, cli;
	intptr_t r = orca_made_pair_waited_on(&srv, &cli);
	if (r)
		return r;
	char buf[16];
	for (int i = 0; i < 3; i++) { // switches srv's registration off (as above)
		if (write(cli, "x", 1) != 1)
			return -20;
		orca_sleep(ORCA_MSEC(5));
		if (recv(srv, buf, sizeof buf, MSG_DONTWAIT) != 1)
			return -21;
	}
	// Both directions end: srv reports EPOLLHUP for as long as it stays open, which a
	// registration with no events still does (the kernel always adds EPOLLHUP and
	// EPOLLERR); level-triggered, it would wake this worker at every wait.
	shutdown(srv, SHUT_WR);
	close(cli);
	orca_sleep(ORCA_MSEC(5));
	r = await_flag(arg);
	close(srv);
	return r;
}

TEST_P(Net, AHungUpFdWhoseRegistrationIsSwitchedOffCostsNoCpu)
{
	PlainWake pw;
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, hang_up_behind_a_switched_off_registration, &pw));
	expect_parked_workers_idle(pw);
	raise_flag(pw);
	intptr_t r = 1;
	EXPECT_EQ(0, orca_join(h, &r));
	EXPECT_EQ(0, r);
}

intptr_t long_trusted_waits(void *)
{
	int srv, cli;
	intptr_t r = orca_made_pair_waited_on(&srv, &cli);
	if (r)
		return r;
	// Waits long enough for the epoll driver's sweeps to check them, many at once.
	if ((r = recv_written_later(srv, cli, "second", ORCA_MSEC(60))) != 0)
		return r - 20;
	close(srv);
	close(cli);
	return 0;
}

TEST_P(Net, ManyLongWaitsOnOrcaFdsAreAllWoken)
{
	std::vector<orca_task *> hs(24);
	for (auto &h : hs)
		ASSERT_EQ(0, orca_spawn_on(rt, &h, long_trusted_waits, nullptr));
	for (size_t i = 0; i < hs.size(); i++) {
		intptr_t r = 1;
		EXPECT_EQ(0, orca_join(hs[i], &r));
		EXPECT_EQ(0, r) << "task " << i;
	}
}

struct CleanupAfterAbort {
	int fd;
	std::atomic<int> entered{0};
	std::atomic<intptr_t> recv_result{1}, close_result{1};
};

intptr_t recv_then_close(void *arg)
{
	// The usual shape of a connection handler: whatever ended the recv, close.
	auto *c = (CleanupAfterAbort *)arg;
	char buf[16];
	c->entered = 1;
	c->recv_result = orca_recv(c->fd, buf, sizeof buf, 0);
	c->close_result = orca_close(c->fd);
	return 0;
}

TEST_P(Net, AnAbortedTasksCloseStillClosesTheFd)
{
	int sv[2];
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	CleanupAfterAbort c;
	c.fd = sv[0];
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, recv_then_close, &c));
	while (!c.entered)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(10));
	orca_abort(h);
	orca_join(h, nullptr);
	EXPECT_EQ(-ECANCELED, c.recv_result.load());
	EXPECT_EQ(0, c.close_result.load());
	EXPECT_EQ(-1, fcntl(sv[0], F_GETFD)) << "the aborted task's orca_close left the fd open";
	EXPECT_EQ(EBADF, errno);
	// The peer sees the end of the connection (bounded: a leaked fd never ends it).
	struct pollfd p = {sv[1], POLLIN, 0};
	ASSERT_EQ(1, poll(&p, 1, 2000)) << "the peer never saw the connection end";
	char b;
	EXPECT_EQ(0, recv(sv[1], &b, 1, MSG_DONTWAIT));
	close(sv[1]);
}

TEST_P(Net, CancelledWaitsLeaveNothingBehindForLaterData)
{
	// Tasks blocked in recv are aborted from this (plain) thread, so on two workers
	// many cancels reach the owning worker through its cancel list. Afterwards each
	// fd's data must go to the next recv on it, not to a stale waiter.
	const int n = (int)orca_test::scaled(200), rounds = 3;
	std::vector<int> fds(2 * n);
	for (int i = 0; i < n; i++)
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, &fds[2 * i]));
	for (int round = 0; round < rounds; round++) {
		std::vector<Blocked *> bs(n);
		std::vector<orca_task *> hs(n);
		for (int i = 0; i < n; i++) {
			bs[i] = new Blocked;
			bs[i]->fd = fds[2 * i];
			ASSERT_EQ(0, orca_spawn_on(rt, &hs[i], blocked_recv, bs[i]));
		}
		for (int i = 0; i < n; i++)
			while (!bs[i]->entered)
				std::this_thread::yield();
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
		for (int i = 0; i < n; i++)
			orca_abort(hs[i]);
		for (int i = 0; i < n; i++) {
			EXPECT_EQ(-ECANCELED, orca_join(hs[i], nullptr));
			EXPECT_EQ(-ECANCELED, bs[i]->result.load());
			delete bs[i];
		}
		for (int i = 0; i < n; i++)
			ASSERT_EQ(1, write(fds[2 * i + 1], "x", 1));
		struct Check {
			std::vector<int> *fds;
			int n;
		} c{&fds, n};
		intptr_t bad = -1;
		ASSERT_EQ(0, orca_block_on(
				     rt,
				     [](void *arg) -> intptr_t {
					     auto *c = (Check *)arg;
					     intptr_t bad = 0;
					     for (int i = 0; i < c->n; i++) {
						     char ch = 0;
						     if (orca_recv_timeout((*c->fds)[2 * i], &ch, 1, 0,
									   ORCA_SEC(5)) != 1 ||
							 ch != 'x')
							     bad++;
					     }
					     return bad;
				     },
				     &c, &bad));
		EXPECT_EQ(0, bad) << "round " << round;
	}
	for (int fd : fds)
		close(fd);
}

struct Hog {
	std::atomic<int> stop{0};
	long rounds = 0;
};

intptr_t hog(void *arg)
{
	// Every operation here is ready at once: only the cooperative budget (epoll) or
	// the completion round trip (io_uring) lets other tasks on this worker run.
	auto *h = (Hog *)arg;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	char c = 'h';
	while (!h->stop.load(std::memory_order_relaxed)) {
		if (orca_send(sv[0], &c, 1, 0) != 1 || orca_recv(sv[1], &c, 1, 0) != 1)
			return -2;
		h->rounds++;
	}
	close(sv[0]);
	close(sv[1]);
	return 0;
}

intptr_t stop_hog_later(void *arg)
{
	orca_sleep(ORCA_MSEC(20));
	((Hog *)arg)->stop = 1;
	return 0;
}

TEST_P(Net, ATaskWhoseIoIsAlwaysReadyStillYields)
{
	Hog h;
	intptr_t r = 1;
	int64_t t0 = orca_now();
	ASSERT_EQ(0, orca_block_on(
			     rt,
			     [](void *arg) -> intptr_t {
				     orca_task *a, *b;
				     if (orca_spawn(&a, hog, arg) || orca_spawn(&b, stop_hog_later, arg))
					     return -1;
				     intptr_t ra = 1, rb = 1;
				     orca_join(b, &rb);
				     orca_join(a, &ra);
				     return ra ? ra : rb;
			     },
			     &h, &r));
	EXPECT_EQ(0, r);
	EXPECT_GT(h.rounds, 0);
	EXPECT_LT(orca_now() - t0, ORCA_SEC(5)) << "the sleeper was starved";
}

intptr_t flags_and_polls(void *)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	char buf[16];
	// The caller's MSG_DONTWAIT means do not wait.
	if (orca_recv(sv[0], buf, sizeof buf, MSG_DONTWAIT) != -EAGAIN)
		return -2;
	// MSG_PEEK leaves the data.
	if (orca_send(sv[1], "abc", 3, 0) != 3)
		return -3;
	if (orca_recv(sv[0], buf, 3, MSG_PEEK) != 3 || orca_recv(sv[0], buf, 3, 0) != 3 ||
	    memcmp(buf, "abc", 3) != 0)
		return -4;
	// MSG_WAITALL gathers pieces sent apart.
	struct Pieces {
		int fd;
	} p{sv[1]};
	orca_task *w;
	if (orca_spawn(&w,
		       [](void *arg) -> intptr_t {
			       int fd = ((Pieces *)arg)->fd;
			       for (int i = 0; i < 5; i++) {
				       orca_sleep(ORCA_MSEC(3));
				       if (orca_send(fd, "01", 2, 0) != 2)
					       return -1;
			       }
			       return 0;
		       },
		       &p) != 0)
		return -5;
	ssize_t n = orca_recv(sv[0], buf, 10, MSG_WAITALL);
	intptr_t wr = 1;
	orca_join(w, &wr);
	if (n != 10 || wr != 0 || memcmp(buf, "0101010101", 10) != 0)
		return -6;
	// poll: writable at once; readable once data is there.
	int ev = orca_poll_fd(sv[0], POLLOUT);
	if (ev < 0 || !(ev & POLLOUT))
		return -7;
	Later l{sv[1], "z", ORCA_MSEC(10)};
	if (orca_spawn(&w, write_later, &l) != 0)
		return -8;
	ev = orca_poll_fd(sv[0], POLLIN);
	orca_join(w, nullptr);
	if (ev < 0 || !(ev & POLLIN) || orca_recv(sv[0], buf, 1, 0) != 1)
		return -9;
	// pread/pwrite with an offset: on a pipe the offset is ignored (as io_uring
	// does); on a socket offset 0 reads and any other is -ESPIPE.
	if (orca_pread(sv[0], buf, 1, 5) != -ESPIPE || orca_pwrite(sv[1], "s", 1, 5) != -ESPIPE)
		return -10;
	if (orca_pwrite(sv[1], "s", 1, 0) != 1 || orca_pread(sv[0], buf, 1, 0) != 1 || buf[0] != 's')
		return -13;
	int pp[2];
	if (pipe2(pp, O_CLOEXEC) != 0)
		return -11;
	if (orca_pwrite(pp[1], "pq", 2, 7) != 2 || orca_pread(pp[0], buf, 2, 3) != 2 ||
	    memcmp(buf, "pq", 2) != 0)
		return -12;
	close(pp[0]);
	close(pp[1]);
	close(sv[0]);
	close(sv[1]);
	return 0;
}

TEST_P(Net, FlagsOffsetsAndPollBehaveAlike)
{
	EXPECT_EQ(0, orca_test::run_task(rt, flags_and_polls));
}

intptr_t connect_keeps_mode(void *arg)
{
	int port = (int)(intptr_t)arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int r = orca_connect(fd, (sockaddr *)&a, sizeof a);
	int fl = fcntl(fd, F_GETFL);
	close(fd);
	if (r != 0)
		return r;
	// A blocking socket stays blocking for code that uses it without Orca.
	if (fl & O_NONBLOCK)
		return -1000;
	fd = orca_tcp_connect("127.0.0.1", (uint16_t)port, ORCA_SEC(5));
	if (fd < 0)
		return fd;
	fl = fcntl(fd, F_GETFL);
	close(fd);
	return (fl & O_NONBLOCK) ? -1001 : 0;
}

TEST_P(Net, ConnectLeavesABlockingSocketBlocking)
{
	Server s;
	start_server(rt, &s);
	EXPECT_EQ(0, orca_test::run_task(rt, connect_keeps_mode, (void *)(intptr_t)s.port));
	stop_server(&s);
}

intptr_t pty_round_trip(void *)
{
	// A terminal has no RWF_NOWAIT: epoll reads and writes it as an O_NONBLOCK fd.
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return 1; // no ptys here
	if (grantpt(m) != 0 || unlockpt(m) != 0) {
		close(m);
		return 1;
	}
	int s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		close(m);
		return 1;
	}
	Later l{s, "hi\n", ORCA_MSEC(10)};
	orca_task *w;
	if (orca_spawn(&w, write_later, &l) != 0)
		return -1;
	char buf[16] = {};
	ssize_t n = orca_read(m, buf, sizeof buf); // waits for the line
	orca_join(w, nullptr);
	if (n != 4 || memcmp(buf, "hi\r\n", 4) != 0)
		return -2;
	if (orca_write(m, "ok\n", 3) != 3)
		return -3;
	n = orca_read(s, buf, sizeof buf);
	close(s);
	close(m);
	return n == 3 && memcmp(buf, "ok\n", 3) == 0 ? 0 : -4;
}

TEST_P(Net, ReadAndWriteOnATerminal)
{
	intptr_t r = -100;
	ASSERT_EQ(0, orca_block_on(rt, pty_round_trip, nullptr, &r));
	if (r == 1)
		GTEST_SKIP() << "no pseudo-terminals here";
	EXPECT_EQ(0, r);
}

// ---- orca_close ends other tasks' waits on the fd ----------------------------------
//
// io.h: orca_close(fd) first ends every Orca operation other tasks have pending on fd
// with -EBADF, on every backend and path (io_uring: a cancel by fd; epoll: the fd's
// waiters completed and the fd removed from the set), then closes it. Each test below
// blocks tasks in one kind of wait, closes the fd from another task, and checks that
// every wait ends with -EBADF within a bounded time and that no fd is left open.

enum class WaitKind { Recv, Recvfrom, Send, Read, PollIn, Accept, Connect };

struct Waiter {
	int fd = -1;
	WaitKind kind = WaitKind::Recv;
	sockaddr_in to{};           // Connect: where to
	std::atomic<int> entered{0};
	std::atomic<long> tid{0};   // the worker thread that submitted the wait
	std::atomic<intptr_t> result{1};
	std::vector<char> buf = std::vector<char>(1 << 16);
};

intptr_t waiter_task(void *arg)
{
	auto *w = (Waiter *)arg;
	w->tid = (long)gettid();
	w->entered = 1;
	intptr_t r = 0;
	switch (w->kind) {
	case WaitKind::Recv:
		r = orca_recv(w->fd, w->buf.data(), 256, 0);
		break;
	case WaitKind::Recvfrom: {
		sockaddr_in from{};
		socklen_t fl = sizeof from;
		r = orca_recvfrom(w->fd, w->buf.data(), 256, 0, (sockaddr *)&from, &fl);
		break;
	}
	case WaitKind::Send:
		r = orca_send(w->fd, w->buf.data(), w->buf.size(), 0);
		break;
	case WaitKind::Read:
		r = orca_read(w->fd, w->buf.data(), 256);
		break;
	case WaitKind::PollIn:
		r = orca_poll_fd(w->fd, POLLIN);
		break;
	case WaitKind::Accept:
		r = orca_accept(w->fd, nullptr, nullptr);
		break;
	case WaitKind::Connect:
		r = orca_connect(w->fd, (const sockaddr *)&w->to, sizeof w->to);
		break;
	}
	if (r >= 0 && w->kind == WaitKind::Accept)
		close((int)r);
	w->result = r;
	return 0;
}

// Waits (bounded) until every waiter has a result; aborts the stragglers so the test
// ends either way. Returns true if none straggled.
bool all_ended(const std::vector<Waiter *> &ws, int ms)
{
	auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
	for (;;) {
		bool done = true;
		for (Waiter *w : ws)
			done = done && w->result.load() != 1;
		if (done)
			return true;
		if (std::chrono::steady_clock::now() > until)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
}

// Spawns a task waiting (kind) on fd (its `entered` says when it is in the call), or
// returns nullptr if the spawn failed.
Waiter *spawn_waiter(orca_runtime *rt, orca_task **h, int fd, WaitKind kind = WaitKind::Recv,
		     const sockaddr_in *to = nullptr)
{
	auto *w = new Waiter;
	w->fd = fd;
	w->kind = kind;
	if (to)
		w->to = *to;
	if (orca_spawn_on(rt, h, waiter_task, w) != 0) {
		delete w;
		return nullptr;
	}
	return w;
}

// Returns once every waiter has entered its call.
void until_entered(const std::vector<Waiter *> &ws)
{
	for (Waiter *w : ws)
		while (!w->entered)
			std::this_thread::yield();
}

// Spawns a waiter of kind on fd for each of n, waits until they are blocked, closes fd
// from a task, and expects each wait to end with -EBADF within 5 s. Returns the
// waiters' submitting threads.
std::vector<long> expect_close_ends_waits(orca_runtime *rt, WaitKind kind, int fd, int n = 1,
					  const sockaddr_in *to = nullptr)
{
	std::vector<Waiter *> ws;
	std::vector<orca_task *> hs;
	for (int i = 0; i < n; i++) {
		orca_task *h;
		Waiter *w = spawn_waiter(rt, &h, fd, kind, to);
		EXPECT_NE(nullptr, w);
		if (!w)
			break;
		ws.push_back(w);
		hs.push_back(h);
	}
	until_entered(ws);
	// The waits are submitted right after `entered`; give them time to block.
	std::this_thread::sleep_for(std::chrono::milliseconds(30));
	for (Waiter *w : ws)
		EXPECT_EQ(1, w->result.load()) << "a wait ended before the close";
	auto t0 = std::chrono::steady_clock::now();
	EXPECT_EQ(0, orca_test::close_listener(rt, fd)); // orca_close(fd) in a task
	bool ended = all_ended(ws, 5000);
	auto took = std::chrono::steady_clock::now() - t0;
	EXPECT_TRUE(ended) << "a wait on the closed fd did not end";
	EXPECT_LT(took, std::chrono::seconds(5));
	std::vector<long> tids;
	for (size_t i = 0; i < ws.size(); i++) {
		if (!ended)
			orca_abort(hs[i]);
		EXPECT_EQ(0, orca_join(hs[i], nullptr));
		EXPECT_EQ(-EBADF, ws[i]->result.load()) << "waiter " << i;
		tids.push_back(ws[i]->tid.load());
		delete ws[i]; // ASan: the kernel must be done with the buffer
	}
	return tids;
}

class NetClose : public Net {
protected:
	int base = 0;
	void SetUp() override
	{
		Net::SetUp();
		base = open_fds();
	}
	void TearDown() override
	{
		EXPECT_EQ(base, open_fds()) << "an fd leaked";
		Net::TearDown();
	}
};
INSTANTIATE_TEST_SUITE_P(Io, NetClose, orca_test::io_params_with_oneshot_accept(),
			 orca_test::io_param_name);

TEST_P(NetClose, CloseEndsABlockedRecvWithEbadf)
{
	int sv[2];
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	expect_close_ends_waits(rt, WaitKind::Recv, sv[0]);
	close(sv[1]);
}

TEST_P(NetClose, CloseEndsABlockedRecvfromOnUdpWithEbadf)
{
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(u, 0);
	expect_close_ends_waits(rt, WaitKind::Recvfrom, u);
}

TEST_P(NetClose, CloseEndsASendBlockedOnAFullSocketBufferWithEbadf)
{
	int sv[2];
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	char chunk[4096] = {};
	while (send(sv[0], chunk, sizeof chunk, MSG_DONTWAIT) > 0) {
	}
	ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
	expect_close_ends_waits(rt, WaitKind::Send, sv[0]);
	close(sv[1]);
}

TEST_P(NetClose, CloseEndsABlockedPipeReadWithEbadf)
{
	int p[2];
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	expect_close_ends_waits(rt, WaitKind::Read, p[0]);
	close(p[1]);
}

TEST_P(NetClose, CloseEndsABlockedPollFdWithEbadf)
{
	int sv[2];
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	expect_close_ends_waits(rt, WaitKind::PollIn, sv[0]);
	close(sv[1]);
}

// A listener made with socket/bind/listen on a free loopback port, not orca_tcp_listen
// (never a multishot): its fd, or -1; *a is its address.
int plain_loopback_listener(int backlog, sockaddr_in *a)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*a = sockaddr_in{};
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof *a;
	if (l < 0 || bind(l, (sockaddr *)a, sizeof *a) != 0 || listen(l, backlog) != 0 ||
	    getsockname(l, (sockaddr *)a, &al) != 0) {
		if (l >= 0)
			close(l);
		return -1;
	}
	return l;
}

// Always the one-shot (or epoll) accept.
TEST_P(NetClose, CloseEndsAnAcceptOnAPlainListenerWithEbadf)
{
	sockaddr_in a;
	int l = plain_loopback_listener(16, &a);
	ASSERT_GE(l, 0);
	expect_close_ends_waits(rt, WaitKind::Accept, l, 3);
}

// A connect to a listener whose backlog is full: the SYNs are dropped, so the connect
// hangs until the close.
TEST_P(NetClose, CloseEndsABlockedConnectWithEbadf)
{
	sockaddr_in a;
	int l = plain_loopback_listener(1, &a);
	ASSERT_GE(l, 0);
	std::vector<int> fillers;
	for (int i = 0; i < 8; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		connect(fd, (sockaddr *)&a, sizeof a);
		fillers.push_back(fd);
	}
	std::this_thread::sleep_for(std::chrono::milliseconds(50));
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(c, 0);
	expect_close_ends_waits(rt, WaitKind::Connect, c, 1, &a);
	for (int f : fillers)
		close(f);
	close(l);
}

// Many tasks, spread over the workers, blocked on one fd in different ways.
TEST_P(NetClose, ManyTasksOnEveryWorkerBlockedOnOneFdAllGetEbadf)
{
	bool both = false;
	for (int round = 0; round < 5 && !both; round++) {
		int sv[2];
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		std::vector<long> tids = expect_close_ends_waits(rt, round % 2 ? WaitKind::PollIn
									 : WaitKind::Recv,
								 sv[0], 40);
		close(sv[1]);
		std::sort(tids.begin(), tids.end());
		both = std::unique(tids.begin(), tids.end()) - tids.begin() >= 2;
		if (GetParam().workers == 1)
			break;
	}
	if (GetParam().workers > 1 && !both)
		std::printf("note: the waiters all ran on one worker in every round\n");
}

// The waits sit in one worker's driver and the close comes from the other worker
// (2 workers): the request goes through that driver's close list and an unpark. A
// task spinning on one worker keeps the waiters on the other; then it closes.
struct CrossClose {
	int fd = -1;
	std::atomic<int> spinning{0};
	std::atomic<int> go{0};
	std::atomic<long> tid{0};
	std::atomic<int> closed{1};
};

intptr_t spin_then_close(void *arg)
{
	auto *c = (CrossClose *)arg;
	c->tid = (long)gettid();
	c->spinning = 1;
	while (!c->go)
		std::this_thread::yield(); // the worker's thread, not the task: others can't run here
	c->closed = orca_close(c->fd);
	return 0;
}

// The same fixture, on two workers only: a close from the other worker needs one.
class NetCloseAcrossWorkers : public NetClose {};
INSTANTIATE_TEST_SUITE_P(
	Io, NetCloseAcrossWorkers,
	::testing::Values(orca_test::IoParam{2, ORCA_BACKEND_IO_URING},
			  orca_test::IoParam{2, ORCA_BACKEND_IO_URING, true},
			  orca_test::IoParam{2, ORCA_BACKEND_EPOLL}),
	orca_test::io_param_name);

TEST_P(NetCloseAcrossWorkers, CloseFromAnotherWorkerEndsTheWaitsInItsDriver)
{
	int sv[2];
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	CrossClose c;
	c.fd = sv[0];
	orca_task *closer;
	ASSERT_EQ(0, orca_spawn_on(rt, &closer, spin_then_close, &c));
	while (!c.spinning)
		std::this_thread::yield();
	std::vector<Waiter *> ws;
	std::vector<orca_task *> hs;
	for (int i = 0; i < 8; i++) {
		orca_task *h;
		Waiter *w = spawn_waiter(rt, &h, sv[0], i % 2 ? WaitKind::PollIn : WaitKind::Recv);
		ASSERT_NE(nullptr, w);
		ws.push_back(w);
		hs.push_back(h);
	}
	until_entered(ws);
	std::this_thread::sleep_for(std::chrono::milliseconds(30));
	for (Waiter *w : ws)
		EXPECT_NE(c.tid.load(), w->tid.load()) << "a waiter ran on the spinning worker";
	c.go = 1;
	bool ended = all_ended(ws, 5000);
	EXPECT_TRUE(ended) << "a wait on the closed fd did not end";
	EXPECT_EQ(0, orca_join(closer, nullptr));
	EXPECT_EQ(0, c.closed.load());
	for (size_t i = 0; i < ws.size(); i++) {
		if (!ended)
			orca_abort(hs[i]);
		EXPECT_EQ(0, orca_join(hs[i], nullptr));
		EXPECT_EQ(-EBADF, ws[i]->result.load()) << "waiter " << i;
		delete ws[i];
	}
	close(sv[1]);
}

// After the close the number is free: a new socket gets it at once, and a wait on the
// new socket is served normally (no cancel meant for the old one reaches it).
intptr_t close_then_reuse(void *arg)
{
	auto *w = (Waiter *)arg; // blocked in recv on w->fd
	int old = w->fd;
	int r = orca_close(old);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	if (sv[0] != old && sv[1] != old) {
		// Another number came first: move the new socket to the old number.
		if (fcntl(old, F_GETFD) != -1 || dup3(sv[0], old, O_CLOEXEC) != old)
			return -2; // the number was taken meanwhile: the test proves nothing
		close(sv[0]);
		sv[0] = old;
	}
	int mine = sv[0] == old ? sv[0] : sv[1], peer = sv[0] == old ? sv[1] : sv[0];
	// A wait on the reused number, in this task, that must not be cancelled: data
	// arrives 50 ms later from a plain thread.
	std::thread writer([peer] {
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
		(void)!write(peer, "new", 3);
	});
	char buf[8];
	ssize_t n = orca_recv_timeout(mine, buf, sizeof buf, 0, ORCA_SEC(5));
	writer.join();
	// And a poll of it from this task again: ready, no stale error.
	int ev = orca_poll_fd(mine, POLLOUT);
	close(mine);
	close(peer);
	if (r != 0)
		return -3;
	if (n != 3 || memcmp(buf, "new", 3) != 0)
		return -4;
	return (ev & POLLOUT) ? 0 : -5;
}

TEST_P(NetClose, AReusedFdNumberIsServedNormallyAfterTheClose)
{
	for (int round = 0; round < 3; round++) {
		int sv[2];
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		orca_task *h;
		Waiter *w = spawn_waiter(rt, &h, sv[0]);
		ASSERT_NE(nullptr, w);
		until_entered({w});
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
		EXPECT_EQ(0, orca_test::run_task(rt, close_then_reuse, w));
		bool ended = all_ended({w}, 5000);
		EXPECT_TRUE(ended) << "the wait on the closed fd did not end";
		if (!ended)
			orca_abort(h);
		EXPECT_EQ(0, orca_join(h, nullptr));
		EXPECT_EQ(-EBADF, w->result.load());
		delete w;
		close(sv[1]);
	}
}

// A task aborted while the close ends its wait still gets -ECANCELED, or -EBADF if the
// close came first; never a hang.
TEST_P(NetClose, AnAbortRacingTheCloseGivesEcanceledOrEbadf)
{
	for (int round = 0; round < 20; round++) {
		int sv[2];
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		orca_task *h, *closer;
		Waiter *w = spawn_waiter(rt, &h, sv[0]);
		ASSERT_NE(nullptr, w);
		until_entered({w});
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
		ASSERT_EQ(0, orca_spawn_on(rt, &closer, orca_test::close_in_task,
					   (void *)(intptr_t)sv[0]));
		orca_abort(h);
		EXPECT_EQ(0, orca_join(closer, nullptr));
		intptr_t jr = 0;
		int err = orca_join(h, &jr);
		EXPECT_TRUE(err == 0 || err == -ECANCELED) << err;
		intptr_t r = w->result.load();
		EXPECT_TRUE(r == -ECANCELED || r == -EBADF) << r;
		delete w;
		close(sv[1]);
	}
}

} // namespace
