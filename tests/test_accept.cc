// Accepting connections on listeners from orca_tcp_listen: io_uring with multishot
// accept (io/listener.h), io_uring with one-shot accepts (ORCA_ACCEPT_MULTISHOT=0) and
// epoll, each with 1 and 2 workers. Every connection is accepted exactly once and no
// fd is leaked (the count in /proc/self/fd), whether the acceptor is slow (fds queue
// up, the multishot is cancelled at the cap and armed again), aborted, timed out,
// moved between workers, or the listener is closed or the runtime freed under it.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "io_test_support.h"

namespace {

// io/listener.h's ORCA__LISTENER_QUEUE_CAP: connections a listener queues before
// its multishot is cancelled.
const int queue_cap = 64;

int open_fds();

class Accept : public orca_test::IoRuntimeTest {
protected:
	int base = 0; // fds open when the test began
	void SetUp() override
	{
		orca_test::IoRuntimeTest::SetUp();
		base = open_fds();
	}
	bool multishot() const
	{
		return GetParam().backend == ORCA_BACKEND_IO_URING && !GetParam().oneshot_accept;
	}
	// A listener on a free loopback port (*port).
	static int listen_local(int *port)
	{
		int lfd = orca_tcp_listen("127.0.0.1", 0, 4096, 0);
		if (lfd >= 0)
			*port = orca_socket_port(lfd);
		return lfd;
	}
	// Closes the clients and the listener (orca_close); then no fd may be left over.
	void close_all(int lfd, const std::vector<int> &clients)
	{
		for (int fd : clients)
			close(fd);
		EXPECT_EQ(0, orca_test::close_listener(rt, lfd));
		EXPECT_EQ(base, open_fds()) << "an fd leaked";
	}
};
INSTANTIATE_TEST_SUITE_P(Io, Accept, orca_test::io_params_with_oneshot_accept(),
			 orca_test::io_param_name);

int open_fds()
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (dirent *e = readdir(d))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; // the directory's own fd
}

// A blocking connect from a plain thread: done once the kernel queued the
// connection on the listener's backlog, whether or not anyone accepts.
int connect_client(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (sockaddr *)&a, sizeof a) != 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int local_port(int fd)
{
	sockaddr_in a{};
	socklen_t len = sizeof a;
	getsockname(fd, (sockaddr *)&a, &len);
	return ntohs(a.sin_port);
}

uint64_t accept_arms(orca_runtime *rt)
{
	orca_metrics m;
	orca_runtime_metrics(rt, &m);
	return m.io_accept_arms;
}

bool wait_until(const std::function<bool()> &cond, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (cond())
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
	return cond();
}

// ---- acceptors ---------------------------------------------------------------------------

struct Acceptors {
	int lfd = -1;
	std::mutex mu;
	std::vector<int> fds;   // accepted
	std::vector<int> peers; // the peer port each reported (0 if not asked)
	std::atomic<int> accepted{0};
	std::atomic<int> errors{0};
};

// Accepts until aborted; every other accept asks for the peer's address.
intptr_t accept_until_aborted(void *arg)
{
	auto *a = (Acceptors *)arg;
	for (int i = 0;; i++) {
		sockaddr_in peer{};
		socklen_t len = sizeof peer;
		bool ask = i % 2 == 0;
		int fd = orca_accept(a->lfd, ask ? (sockaddr *)&peer : nullptr, ask ? &len : nullptr);
		if (fd == -ECANCELED)
			return 0;
		if (fd < 0) {
			a->errors++;
			continue;
		}
		std::lock_guard<std::mutex> g(a->mu);
		a->fds.push_back(fd);
		a->peers.push_back(ask && len == sizeof peer ? ntohs(peer.sin_port) : 0);
		a->accepted++;
	}
}

TEST_P(Accept, ManyClientsAtOnceAreEachAcceptedExactlyOnce)
{
	Acceptors a;
	int port = 0;
	a.lfd = listen_local(&port);
	ASSERT_GE(a.lfd, 0);
	std::vector<orca_task *> acceptors(4);
	for (auto &h : acceptors)
		ASSERT_EQ(0, orca_spawn_on(rt, &h, accept_until_aborted, &a));
	const int per_thread = orca_test::under_sanitizer() ? 50 : 100;
	std::vector<std::vector<int>> clients(4);
	std::vector<std::thread> threads;
	for (auto &c : clients)
		threads.emplace_back([&c, port, per_thread] {
			for (int i = 0; i < per_thread; i++)
				c.push_back(connect_client(port));
		});
	for (auto &t : threads)
		t.join();
	const int n = 4 * per_thread;
	EXPECT_TRUE(wait_until([&] { return a.accepted.load() >= n; }, 10000));
	std::this_thread::sleep_for(std::chrono::milliseconds(20)); // one too many would show
	for (auto h : acceptors) {
		orca_abort(h);
		EXPECT_EQ(-ECANCELED, orca_join(h, nullptr));
	}
	EXPECT_EQ(n, a.accepted.load());
	EXPECT_EQ(0, a.errors.load());
	std::set<int> client_ports;
	for (auto &c : clients)
		for (int fd : c) {
			ASSERT_GE(fd, 0);
			client_ports.insert(local_port(fd));
		}
	std::set<int> accepted_peers, accepted_fds(a.fds.begin(), a.fds.end());
	EXPECT_EQ((size_t)n, accepted_fds.size());
	for (size_t i = 0; i < a.fds.size(); i++) {
		sockaddr_in peer{};
		socklen_t len = sizeof peer;
		ASSERT_EQ(0, getpeername(a.fds[i], (sockaddr *)&peer, &len));
		accepted_peers.insert(ntohs(peer.sin_port));
		if (a.peers[i]) {
			EXPECT_EQ(ntohs(peer.sin_port), a.peers[i]) << "the address accept reported";
		}
	}
	EXPECT_EQ(client_ports, accepted_peers) << "each client accepted once";
	if (multishot()) {
		EXPECT_GE(accept_arms(rt), 1u);
	} else {
		EXPECT_EQ(0u, accept_arms(rt));
	}
	for (int fd : a.fds)
		close(fd);
	for (auto &c : clients)
		for (int fd : c)
			close(fd);
	EXPECT_EQ(0, orca_test::close_listener(rt, a.lfd));
	EXPECT_EQ(base, open_fds()) << "an fd leaked";
}

// ---- a slow acceptor ----------------------------------------------------------------------

struct Slow {
	int lfd;
	int first_batch;
	int total;
	std::atomic<int> accepted{0};
	std::atomic<bool> napping{false};
	std::atomic<bool> nap_over{false};
	std::vector<int> fds;
};

intptr_t slow_acceptor(void *arg)
{
	auto *s = (Slow *)arg;
	while ((int)s->fds.size() < s->total) {
		int fd = orca_accept(s->lfd, nullptr, nullptr);
		if (fd < 0)
			return fd;
		s->fds.push_back(fd);
		s->accepted++;
		if (s->fds.size() == 1) {
			// Asleep while the clients come: they queue up (multishot: in the
			// listener until the cap, then in the backlog).
			s->napping = true;
			while (!s->nap_over)
				orca_sleep(ORCA_MSEC(5));
		}
	}
	return 0;
}

TEST_P(Accept, ConnectionsQueueWhileTheAcceptorIsSlow)
{
	Slow s;
	int port = 0;
	s.lfd = listen_local(&port);
	ASSERT_GE(s.lfd, 0);
	s.first_batch = 1 + 2 * queue_cap;
	s.total = s.first_batch + 10;
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, slow_acceptor, &s));
	std::vector<int> clients;
	clients.push_back(connect_client(port));
	ASSERT_TRUE(wait_until([&] { return s.napping.load(); }, 5000));
	int before = open_fds();
	for (int i = 1; i < s.first_batch; i++)
		clients.push_back(connect_client(port));
	if (multishot()) {
		// The multishot took at least the cap's worth into the listener's queue
		// (fds of this process) before it was cancelled.
		int clients_opened = s.first_batch - 1;
		EXPECT_TRUE(wait_until(
			[&] { return open_fds() - before - clients_opened >= queue_cap; },
			5000))
			<< "queued: " << open_fds() - before - clients_opened;
	}
	s.nap_over = true;
	ASSERT_TRUE(wait_until([&] { return s.accepted.load() >= s.first_batch; }, 10000));
	// Then more clients: with multishot the queue has drained, so the accept that
	// waits arms it again.
	for (int i = 0; i < 10; i++)
		clients.push_back(connect_client(port));
	EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_EQ(s.total, s.accepted.load());
	std::set<int> peers;
	for (int fd : s.fds) {
		sockaddr_in p{};
		socklen_t len = sizeof p;
		getpeername(fd, (sockaddr *)&p, &len);
		peers.insert(ntohs(p.sin_port));
	}
	EXPECT_EQ((size_t)s.total, peers.size());
	if (multishot()) {
		EXPECT_GE(accept_arms(rt), 2u) << "armed again after the cap";
	}
	for (int fd : s.fds)
		close(fd);
	close_all(s.lfd, clients);
}

// ---- abort and timeout ------------------------------------------------------------------

const int never_ran = -99999;

struct OneAccept {
	int lfd;
	std::atomic<int> started{0};
	std::atomic<int> result{never_ran}; // an abort can come before the first run
};

intptr_t accept_once(void *arg)
{
	auto *o = (OneAccept *)arg;
	o->started = 1;
	o->result = orca_accept(o->lfd, nullptr, nullptr);
	return 0;
}

struct Drain {
	int lfd;
	int got = 0;
};

intptr_t drain_accepts(void *arg)
{
	auto *d = (Drain *)arg;
	for (;;) {
		int fd = orca_accept_timeout(d->lfd, nullptr, nullptr, ORCA_MSEC(200));
		if (fd < 0)
			return fd == -ETIMEDOUT ? 0 : fd;
		close(fd);
		d->got++;
	}
}

TEST_P(Accept, AbortedAcceptsLoseNoConnection)
{
	// An abort racing with a client: the accept returns -ECANCELED, or the fd it
	// got anyway. Either way every client is accepted exactly once in the end.
	int port = 0;
	int lfd = listen_local(&port);
	ASSERT_GE(lfd, 0);
	const int rounds = (int)orca_test::scaled(300);
	int accepted = 0, cancelled = 0;
	std::vector<int> clients;
	for (int i = 0; i < rounds; i++) {
		OneAccept o;
		o.lfd = lfd;
		orca_task *h;
		ASSERT_EQ(0, orca_spawn_on(rt, &h, accept_once, &o));
		if (i % 3 != 0)
			while (!o.started)
				std::this_thread::yield();
		if (i % 3 == 2)
			std::this_thread::sleep_for(std::chrono::microseconds(200));
		clients.push_back(connect_client(port));
		if (i % 2)
			std::this_thread::yield();
		orca_abort(h);
		orca_join(h, nullptr);
		int r = o.result.load();
		if (r >= 0) {
			accepted++;
			close(r);
		} else {
			EXPECT_TRUE(r == -ECANCELED || r == never_ran) << r;
			cancelled++;
		}
	}
	Drain d{lfd};
	EXPECT_EQ(0, orca_test::run_task(rt, drain_accepts, &d));
	EXPECT_EQ(rounds, accepted + d.got) << accepted << " accepted, " << cancelled
					   << " cancelled, " << d.got << " drained";
	close_all(lfd, clients);
}

struct Timeouts {
	int lfd;
	int want;
	int got = 0;
	int64_t first_took = 0;
	int first = 1;
};

intptr_t accept_with_short_timeouts(void *arg)
{
	auto *t = (Timeouts *)arg;
	int64_t t0 = orca_now();
	t->first = orca_accept_timeout(t->lfd, nullptr, nullptr, ORCA_MSEC(30));
	t->first_took = orca_now() - t0;
	int64_t deadline = orca_now() + ORCA_SEC(20);
	while (t->got < t->want && orca_now() < deadline) {
		int fd = orca_accept_timeout(t->lfd, nullptr, nullptr, ORCA_MSEC(1));
		if (fd == -ETIMEDOUT)
			continue;
		if (fd < 0)
			return fd;
		close(fd);
		t->got++;
	}
	return 0;
}

TEST_P(Accept, TimeoutsRacingWithClientsLoseNone)
{
	Timeouts t;
	int port = 0;
	t.lfd = listen_local(&port);
	ASSERT_GE(t.lfd, 0);
	t.want = (int)orca_test::scaled(200);
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, accept_with_short_timeouts, &t));
	std::this_thread::sleep_for(std::chrono::milliseconds(60)); // the first times out
	std::vector<int> clients;
	for (int i = 0; i < t.want; i++) {
		clients.push_back(connect_client(port));
		if (i % 4 == 0)
			std::this_thread::sleep_for(std::chrono::microseconds(500));
	}
	EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_EQ(-ETIMEDOUT, t.first);
	EXPECT_GE(t.first_took, ORCA_MSEC(30));
	EXPECT_LT(t.first_took, ORCA_SEC(2));
	EXPECT_EQ(t.want, t.got);
	close_all(t.lfd, clients);
}

// ---- an acceptor that moves between workers -------------------------------------------------

struct Mover {
	int lfd;
	int want;
	orca_notify go = ORCA_NOTIFY_INIT;
	std::atomic<int> released{0}; // accepts the test thread has let it make
	std::atomic<int> got{0};
	std::set<long> threads;
};

// Between accepts it waits for the test thread: a wake from outside the runtime
// goes through the inject queue to whichever worker takes it first, so the task
// (and the accept it then waits in) moves between workers; a yield or a sleep
// after each accept moves it more.
intptr_t moving_acceptor(void *arg)
{
	auto *m = (Mover *)arg;
	while (m->got < m->want) {
		// A notify between the check and the wait is kept as a permit.
		while (m->got >= m->released)
			if (orca_notify_wait(&m->go) != 0)
				return -1;
		int fd = orca_accept(m->lfd, nullptr, nullptr);
		if (fd < 0)
			return fd;
		m->threads.insert(syscall(SYS_gettid)); // the worker it runs on now
		close(fd);
		m->got++;
		if (m->got % 2)
			orca_yield();
		else
			orca_sleep(ORCA_MSEC(1));
	}
	return 0;
}

TEST_P(Accept, AnAcceptorMovingBetweenWorkersGetsEveryClient)
{
	Mover m;
	int port = 0;
	m.lfd = listen_local(&port);
	ASSERT_GE(m.lfd, 0);
	m.want = (int)orca_test::scaled(200);
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, moving_acceptor, &m));
	std::vector<int> clients;
	for (int i = 0; i < m.want; i++) {
		// Half the time the client comes first (the accept finds it queued or
		// pending), half the time the accept waits for it.
		if (i % 2)
			clients.push_back(connect_client(port));
		m.released++;
		orca_notify_one(&m.go);
		if (i % 2 == 0) {
			std::this_thread::sleep_for(std::chrono::microseconds(300));
			clients.push_back(connect_client(port));
		}
		if (i % 8 == 0)
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
	EXPECT_EQ(0, orca_join(h, nullptr));
	EXPECT_EQ(m.want, m.got.load());
	RecordProperty("acceptor_threads", (int)m.threads.size());
	close_all(m.lfd, clients);
}

// ---- closing the listener, freeing the runtime ------------------------------------------------

intptr_t accept_one_then_return(void *arg)
{
	int fd = orca_accept((int)(intptr_t)arg, nullptr, nullptr);
	if (fd >= 0)
		close(fd);
	return fd < 0 ? fd : 0;
}

// Every client fd sees its connection end (EOF or reset) within the time given.
bool all_hung_up(const std::vector<int> &fds, int ms)
{
	for (int fd : fds) {
		pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, ms) != 1)
			return false;
		char c;
		ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
		if (r != 0 && !(r < 0 && errno == ECONNRESET))
			return false;
	}
	return true;
}

TEST_P(Accept, ClosingAListenerClosesItsQueueAndFreesThePort)
{
	int port = 0;
	int lfd = listen_local(&port);
	ASSERT_GE(lfd, 0);
	// One accept arms the multishot; the clients after it are queued in the
	// listener (multishot) or the backlog.
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, accept_one_then_return, (void *)(intptr_t)lfd));
	std::vector<int> clients;
	clients.push_back(connect_client(port));
	EXPECT_EQ(0, orca_join(h, nullptr));
	int before = open_fds();
	for (int i = 0; i < 10; i++)
		clients.push_back(connect_client(port));
	if (multishot()) {
		EXPECT_TRUE(wait_until([&] { return open_fds() - before >= 20; }, 5000))
			<< "the 10 connections were not queued in the listener";
	}
	EXPECT_EQ(0, orca_test::close_listener(rt, lfd));
	// The port is free at once: a listener on it again (SO_REUSEADDR, as always,
	// which still refuses a port someone listens on).
	int again = orca_tcp_listen("127.0.0.1", (uint16_t)port, 16, 0);
	EXPECT_GE(again, 0) << orca_strerror(again);
	EXPECT_TRUE(all_hung_up(std::vector<int>(clients.begin() + 1, clients.end()), 2000));
	if (again >= 0) {
		EXPECT_EQ(0, orca_test::close_listener(rt, again));
	}
	for (int fd : clients)
		close(fd);
	EXPECT_EQ(base, open_fds());
}

struct CloseWhileWaiting {
	int lfd;
	std::atomic<int> waiting{0};
	std::atomic<int> result{1};
};

intptr_t waiting_acceptor(void *arg)
{
	auto *c = (CloseWhileWaiting *)arg;
	c->waiting = 1;
	c->result = orca_accept(c->lfd, nullptr, nullptr);
	return 0;
}

// orca_close ends the accepts waiting on the listener with -EBADF on every path:
// multishot (listener.c fails its waiters), one-shot io_uring (a cancel by fd) and
// epoll (the fd's waiters completed), with accepts waiting from both workers.
TEST_P(Accept, CloseEndsAnAcceptWaitingOnTheListenerWithEbadf)
{
	int lfd = orca_tcp_listen("127.0.0.1", 0, 16, 0);
	ASSERT_GE(lfd, 0);
	const int n = 6;
	CloseWhileWaiting c[n];
	orca_task *h[n];
	for (int i = 0; i < n; i++) {
		c[i].lfd = lfd;
		ASSERT_EQ(0, orca_spawn_on(rt, &h[i], waiting_acceptor, &c[i]));
	}
	for (int i = 0; i < n; i++)
		while (!c[i].waiting)
			std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(20));
	for (int i = 0; i < n; i++)
		EXPECT_EQ(1, c[i].result.load()) << "an accept ended before the close";
	EXPECT_EQ(0, orca_test::close_listener(rt, lfd));
	auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
	bool ended = false;
	while (!ended && std::chrono::steady_clock::now() < until) {
		ended = true;
		for (int i = 0; i < n; i++)
			ended = ended && c[i].result.load() != 1;
		if (!ended)
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
	EXPECT_TRUE(ended) << "an accept kept waiting on the closed listener";
	for (int i = 0; i < n; i++) {
		if (!ended)
			orca_abort(h[i]);
		EXPECT_EQ(0, orca_join(h[i], nullptr));
		EXPECT_EQ(-EBADF, c[i].result.load()) << "accept " << i;
	}
	EXPECT_EQ(base, open_fds()) << "an fd leaked";
	EXPECT_EQ(-EPERM, orca_close(lfd)) << "outside a task, as any orca_close";
}

TEST_P(Accept, FreeingTheRuntimeEndsArmedMultishotsAndClosesTheirQueues)
{
	int port = 0;
	int lfd = listen_local(&port);
	ASSERT_GE(lfd, 0);
	orca_runtime *second = nullptr;
	ASSERT_EQ(0, create_runtime(&second));
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(second, &h, accept_one_then_return, (void *)(intptr_t)lfd));
	std::vector<int> clients;
	clients.push_back(connect_client(port));
	EXPECT_EQ(0, orca_join(h, nullptr));
	int before = open_fds();
	for (int i = 0; i < 10; i++)
		clients.push_back(connect_client(port));
	if (multishot()) {
		EXPECT_TRUE(wait_until([&] { return open_fds() - before >= 20; }, 5000));
	}
	// And an accept waiting on another, armed listener when the runtime goes:
	// shutdown aborts it.
	int idle_lfd = orca_tcp_listen("127.0.0.1", 0, 16, 0);
	ASSERT_GE(idle_lfd, 0);
	CloseWhileWaiting c;
	c.lfd = idle_lfd;
	ASSERT_EQ(0, orca_spawn_on(second, &h, waiting_acceptor, &c));
	while (!c.waiting)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(10));
	orca_detach(h);
	EXPECT_EQ(0, orca_runtime_free(second));
	EXPECT_EQ(-ECANCELED, c.result.load());
	// The listener is still open and serves the next runtime: the connections
	// queued in it were closed, those still in the backlog are accepted.
	Drain d{lfd};
	EXPECT_EQ(0, orca_test::run_task(rt, drain_accepts, &d));
	EXPECT_EQ(multishot() ? 0 : 10, d.got);
	EXPECT_EQ(0, orca_test::close_listener(rt, lfd));
	EXPECT_EQ(0, orca_test::close_listener(rt, idle_lfd));
	for (int fd : clients)
		close(fd);
	EXPECT_EQ(base, open_fds());
}

} // namespace
