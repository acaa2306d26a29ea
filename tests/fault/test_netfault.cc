// Network faults (issue 7): an Orca echo server and 50 client tasks in a network
// namespace of their own, with 30% packet loss, TCP resets injected by nftables, or
// a 1 Mbit/s bandwidth cap (tc tbf) on its loopback. What must hold: every client
// operation (connect, send, recv, each with a timeout of 1-2 s) either completes
// with the right bytes or fails with a network error within its timeout plus slack,
// none hangs; the server keeps accepting and serving, so once the fault is removed a
// clean round of clients all succeed; and no fd is left open afterwards.
//
// Each test forks a child that unshares the network namespace (root or
// CAP_SYS_ADMIN), so the faults never touch the machine's own loopback and a child
// that hangs or crashes cannot take the test binary with it. The child reports its
// findings through a pipe; its exit status says pass (0), fail (1) or skip (77,
// with the reason: no privilege, tc or nft not installed, the kernel lacking the
// qdisc or nftables). A watchdog in the parent kills a child that runs too long.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <orca/orca.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../io_test_support.h"

#ifdef ORCA_TEST_ASAN
#include <sanitizer/lsan_interface.h>
#endif

extern char **environ;

namespace {

using orca_test::backend_name;

constexpr int kExitPass = 0;
constexpr int kExitFail = 1;
constexpr int kExitSkip = 77;

// Inside the namespace nothing else listens, so a fixed port is free; the nft rules
// name it.
constexpr uint16_t kPort = 7007;

enum class Fault { Loss, Reset, Bandwidth };

// The tbf cap of the command below ("rate 1mbit burst 10kb": tc counts rates in
// powers of 1000 and sizes in powers of 1024), in bytes per second and bytes.
constexpr double kCapBytesPerSec = 1e6 / 8;
constexpr double kCapBurstBytes = 10 * 1024;

int64_t slack_ns()
{
	// How late a timed-out operation may return: timer resolution and scheduling on
	// a loaded 2-core machine, much more under the sanitizers.
	return orca_test::under_sanitizer() ? ORCA_SEC(3) : ORCA_SEC(1);
}

// ---- the child's report ------------------------------------------------------------

int g_report_fd = -1;

// A line to the parent, written at once so that a child killed by the watchdog has
// already said how far it got.
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	n = std::min(n, (int)sizeof line - 2);
	line[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t w = write(g_report_fd, line + off, (size_t)(n - off));
		if (w <= 0)
			break;
		off += (int)w;
	}
}

// ---- running tc and nft -----------------------------------------------------------

// The full path of a tool, searched in PATH and then in the sbin directories (which a
// test environment's PATH may lack); "" if it is not installed.
std::string find_tool(const char *name)
{
	std::string path = getenv("PATH") ? getenv("PATH") : "";
	path += ":/usr/sbin:/sbin";
	size_t start = 0;
	while (start <= path.size()) {
		size_t end = path.find(':', start);
		if (end == std::string::npos)
			end = path.size();
		std::string dir = path.substr(start, end - start);
		if (!dir.empty()) {
			std::string full = dir + "/" + name;
			if (access(full.c_str(), X_OK) == 0)
				return full;
		}
		start = end + 1;
	}
	return "";
}

// Runs a tool with its stdout and stderr captured in *output. Returns its exit
// status, or -errno when it could not be started. posix_spawn, not fork: the child
// removes a fault while its runtime's workers are running.
int run_tool(const std::string &tool, const std::vector<std::string> &args, std::string *output)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	std::vector<char *> argv;
	argv.push_back(const_cast<char *>(tool.c_str()));
	for (auto &a : args)
		argv.push_back(const_cast<char *>(a.c_str()));
	argv.push_back(nullptr);
	pid_t pid;
	int err = posix_spawn(&pid, tool.c_str(), &fa, nullptr, argv.data(), environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (err != 0) {
		close(pfd[0]);
		return -err;
	}
	output->clear();
	char buf[512];
	ssize_t n;
	while ((n = read(pfd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			output->append(buf, (size_t)n);
	close(pfd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	while (!output->empty() && output->back() == '\n')
		output->pop_back();
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A fault as installed, or why it could not be.
struct Setup {
	std::string skip;    // the reason to skip the test ("" = installed)
	std::string how;     // what was installed, for the report
	std::string removal; // "tc" or "nft": what undoes it
};

std::string install_tc(const std::vector<std::string> &args, Setup *s)
{
	std::string tc = find_tool("tc");
	if (tc.empty())
		return "tc not found (install iproute2)";
	std::string out;
	int rc = run_tool(tc, args, &out);
	if (rc != 0)
		return "tc refused, the kernel may lack the qdisc (rc " + std::to_string(rc) +
		       "): " + out;
	s->removal = "tc";
	return "";
}

std::string install_nft(const std::string &rules, Setup *s)
{
	std::string nft = find_tool("nft");
	if (nft.empty())
		return "nft not found (install nftables)";
	std::string out;
	std::string cmd =
		"add table inet orca_fault; "
		"add chain inet orca_fault input { type filter hook input priority 0; }; " +
		rules;
	int rc = run_tool(nft, {cmd}, &out);
	if (rc != 0)
		return "nft refused, the kernel may lack nf_tables (rc " + std::to_string(rc) +
		       "): " + out;
	s->removal = "nft";
	return "";
}

Setup install_fault(Fault f)
{
	Setup s;
	std::string p = std::to_string(kPort);
	switch (f) {
	case Fault::Loss: {
		// netem is the classic tool; kernels built without it (CONFIG_NET_SCH_NETEM
		// unset) get the same 30% random loss from an nftables rule on input, which
		// every packet on lo passes once.
		std::vector<std::string> netem_args = {"qdisc", "add",   "dev",  "lo",
						       "root",  "netem", "loss", "30%"};
		std::string netem = install_tc(netem_args, &s);
		if (netem.empty()) {
			s.how = "tc qdisc add dev lo root netem loss 30%";
			break;
		}
		std::string rule = "add rule inet orca_fault input "
				   "meta l4proto tcp numgen random mod 100 < 30 drop";
		std::string nft = install_nft(rule, &s);
		if (nft.empty())
			s.how = "nft: " + rule + " (netem unavailable: " + netem + ")";
		else
			s.skip = "no way to drop packets: " + netem + "; " + nft;
		break;
	}
	case Fault::Reset: {
		// 10% of the packets to and from the server's port are answered with a
		// reset: the client's (its connect gets refused or its connection reset) and
		// the server's (its handler sees the reset). Most handshakes still succeed.
		std::string rules = "add rule inet orca_fault input tcp dport " + p +
				    " numgen random mod 100 < 10 reject with tcp reset; "
				    "add rule inet orca_fault input tcp sport " +
				    p + " numgen random mod 100 < 10 reject with tcp reset";
		s.skip = install_nft(rules, &s);
		s.how = "nft: " + rules;
		break;
	}
	case Fault::Bandwidth: {
		std::vector<std::string> args = {"qdisc", "add",  "dev",   "lo",   "root",
						 "tbf",   "rate", "1mbit", "burst", "10kb",
						 "latency", "50ms"};
		s.skip = install_tc(args, &s);
		s.how = "tc qdisc add dev lo root tbf rate 1mbit burst 10kb latency 50ms";
		break;
	}
	}
	return s;
}

std::string remove_fault(const Setup &s)
{
	std::string out;
	int rc = s.removal == "tc"
			 ? run_tool(find_tool("tc"), {"qdisc", "del", "dev", "lo", "root"}, &out)
			 : run_tool(find_tool("nft"), {"delete table inet orca_fault"}, &out);
	return rc == 0 ? "" : "removing the fault failed (rc " + std::to_string(rc) + "): " + out;
}

// lo up, with an Ethernet-sized MTU: lo's default 64 KiB would make each message one
// packet, and a packet larger than tbf's burst could never pass it.
std::string bring_up_loopback()
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return std::string("socket: ") + strerror(errno);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	std::string err;
	ifr.ifr_mtu = 1500;
	if (ioctl(s, SIOCSIFMTU, &ifr) != 0)
		err = std::string("SIOCSIFMTU: ") + strerror(errno);
	else if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		err = std::string("SIOCGIFFLAGS: ") + strerror(errno);
	else {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
			err = std::string("SIOCSIFFLAGS: ") + strerror(errno);
	}
	close(s);
	return err;
}

std::vector<int> open_fds()
{
	std::vector<int> fds;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return fds;
	int own = dirfd(d);
	while (struct dirent *e = readdir(d)) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd != own)
			fds.push_back(fd);
	}
	closedir(d);
	std::sort(fds.begin(), fds.end());
	return fds;
}

std::string fd_list(const std::vector<int> &fds)
{
	std::string s;
	for (int fd : fds)
		s += (s.empty() ? "" : " ") + std::to_string(fd);
	return s;
}

// ---- the echo server ---------------------------------------------------------------

struct Server {
	int lfd = -1;
	orca_task *acceptor = nullptr;
	std::vector<orca_task *> handlers; // the acceptor's until it is joined
	std::atomic<long> accepted{0};
	std::atomic<long> conn_errors{0}; // connections that ended in an error (not EOF)
};

// Sends all n bytes, each send bounded by timeout_ns. Returns n or -errno.
ssize_t send_all_timeout(int fd, const unsigned char *buf, size_t n, int64_t timeout_ns)
{
	size_t sent = 0;
	while (sent < n) {
		orca_op op;
		orca_op_send(&op, fd, buf + sent, n - sent, 0);
		intptr_t r = orca_await_timeout(&op.base, timeout_ns);
		if (r < 0)
			return r;
		sent += (size_t)r;
	}
	return (ssize_t)n;
}

// The server's side of a connection. It times out too: a client that vanished
// behind a dropped packet or a reset it never saw must not hold a handler forever.
intptr_t serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char buf[16384];
	intptr_t err = 0;
	for (;;) {
		ssize_t n = orca_recv_timeout(fd, buf, sizeof buf, 0, ORCA_SEC(3));
		if (n <= 0) {
			err = n;
			break;
		}
		ssize_t w = send_all_timeout(fd, buf, (size_t)n, ORCA_SEC(3));
		if (w < 0) {
			err = w;
			break;
		}
	}
	close(fd);
	return err;
}

intptr_t accept_loop(void *arg)
{
	auto *s = (Server *)arg;
	for (;;) {
		int fd = orca_accept(s->lfd, nullptr, nullptr);
		if (fd == -ECANCELED)
			return 0;
		if (fd < 0) {
			// A connection reset before it was accepted, or a full fd table: the
			// loop goes on (after a breath, so EMFILE cannot make it spin).
			if (orca_sleep(ORCA_MSEC(1)) == -ECANCELED)
				return 0;
			continue;
		}
		s->accepted++;
		orca_task *h;
		if (orca_spawn(&h, serve_conn, (void *)(intptr_t)fd) != 0)
			close(fd);
		else
			s->handlers.push_back(h);
	}
}

void stop_server(Server *s)
{
	orca_abort(s->acceptor);
	orca_join(s->acceptor, nullptr);
	for (orca_task *h : s->handlers) {
		orca_abort(h);
		intptr_t r = 0;
		if (orca_join(h, &r) == 0 && r < 0 && r != -ECANCELED)
			s->conn_errors++;
	}
	s->handlers.clear();
	orca_close(s->lfd); /* a listener of orca_tcp_listen: not close(2) (net.h) */
}

// ---- the clients --------------------------------------------------------------------

struct Phase {
	const char *name;
	bool faulty;        // errors are expected; without the fault every op must succeed
	int clients;
	int max_rounds;     // per client
	size_t msg;         // bytes per round
	int64_t io_timeout; // each send and recv
	int64_t connect_timeout;
	int64_t end; // orca_now() after which a client starts no new operation
};

struct ClientResult {
	long ops = 0;
	long failed_ops = 0;
	long rounds = 0;
	long connects = 0;
	long bytes = 0; // echoed back and verified
	int64_t worst_overrun_ns = INT64_MIN;
	std::map<int, long> errors; // errno -> count; 0 = the server closed (EOF)
	std::vector<std::string> violations;
};

struct Client {
	const Phase *phase;
	uint32_t seed;
	ClientResult res;
};

void fill(unsigned char *buf, size_t n, uint32_t x)
{
	x |= 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
}

bool expected_failure(intptr_t r)
{
	return r == 0 || r == -ETIMEDOUT || r == -ECONNRESET || r == -ECONNREFUSED || r == -EPIPE ||
	       r == -ECONNABORTED;
}

// Checks one finished operation: it took no longer than its timeout plus slack, and
// if it failed, it failed the way a faulty network makes it fail (a result of 0 is
// the server closing, except for connect, where it is an fd). Returns true if the
// connection can go on.
bool check_op(Client *c, const char *what, int64_t start, int64_t timeout, intptr_t r)
{
	bool is_connect = strcmp(what, "connect") == 0;
	ClientResult &res = c->res;
	int64_t took = orca_now() - start;
	res.ops++;
	res.worst_overrun_ns = std::max(res.worst_overrun_ns, took - timeout);
	if (took > timeout + slack_ns() && res.violations.size() < 5)
		res.violations.push_back(std::string(what) + " took " +
					 std::to_string(took / 1000000) + " ms with a timeout of " +
					 std::to_string(timeout / 1000000) + " ms (result " +
					 std::to_string(r) + ")");
	if (r > 0 || (r == 0 && is_connect))
		return true;
	res.failed_ops++;
	res.errors[(int)-r]++;
	if ((!c->phase->faulty || !expected_failure(r)) && res.violations.size() < 5)
		res.violations.push_back(
			std::string(what) + " failed: " +
			(r == 0 ? std::string("the server closed") : orca_strerror((int)r)));
	return false;
}

// One round: send msg bytes, read them back and compare. Returns true if it passed.
bool echo_round(Client *c, int fd, unsigned char *out, unsigned char *in, uint32_t seed)
{
	const Phase &p = *c->phase;
	fill(out, p.msg, seed);
	for (size_t sent = 0; sent < p.msg;) {
		orca_op op;
		orca_op_send(&op, fd, out + sent, p.msg - sent, 0);
		int64_t t = orca_now();
		intptr_t r = orca_await_timeout(&op.base, p.io_timeout);
		if (!check_op(c, "send", t, p.io_timeout, r))
			return false;
		sent += (size_t)r;
	}
	for (size_t got = 0; got < p.msg;) {
		if (orca_now() > p.end)
			return false;
		int64_t t = orca_now();
		ssize_t n = orca_recv_timeout(fd, in + got, p.msg - got, 0, p.io_timeout);
		if (!check_op(c, "recv", t, p.io_timeout, n))
			return false;
		if (memcmp(in + got, out + got, (size_t)n) != 0) {
			c->res.violations.push_back("wrong bytes echoed at offset " +
						    std::to_string(got));
			return false;
		}
		got += (size_t)n;
		c->res.bytes += n;
	}
	c->res.rounds++;
	return true;
}

// Connects, echoes rounds until a failure, and reconnects, until the phase ends or
// max_rounds passed; in a clean phase the first failure ends it.
intptr_t client_task(void *arg)
{
	auto *c = (Client *)arg;
	const Phase &p = *c->phase;
	std::vector<unsigned char> out(p.msg), in(p.msg);
	uint32_t seed = c->seed;
	while (c->res.rounds < p.max_rounds && orca_now() < p.end) {
		int64_t t = orca_now();
		int fd = orca_tcp_connect("127.0.0.1", kPort, p.connect_timeout);
		bool up = check_op(c, "connect", t, p.connect_timeout, fd);
		if (up) {
			c->res.connects++;
			while (c->res.rounds < p.max_rounds && orca_now() < p.end &&
			       echo_round(c, fd, out.data(), in.data(), seed += 0x9e3779b9u)) {
			}
			close(fd);
		}
		if (!p.faulty && (!up || c->res.rounds < p.max_rounds))
			break;
		if (orca_sleep(ORCA_MSEC(10)) == -ECANCELED)
			break;
	}
	return 0;
}

struct PhaseRun {
	const Phase *phase;
	std::vector<Client> clients;
};

intptr_t run_phase(void *arg)
{
	auto *pr = (PhaseRun *)arg;
	std::vector<orca_task *> hs(pr->clients.size());
	for (size_t i = 0; i < hs.size(); i++)
		if (orca_spawn(&hs[i], client_task, &pr->clients[i]) != 0)
			return -1;
	for (orca_task *h : hs)
		orca_join(h, nullptr);
	return 0;
}

struct PhaseOutcome {
	bool ok;
	long failed_ops;
	long bytes; // echoed and verified
	int64_t took_ns;
};

// Runs the clients of one phase for at most duration and says what they saw.
PhaseOutcome client_phase(orca_runtime *rt, Phase p, int64_t duration)
{
	PhaseOutcome out{false, 0, 0, 0};
	int64_t start = orca_now();
	p.end = start + duration;
	PhaseRun pr{&p, std::vector<Client>(p.clients)};
	for (int i = 0; i < p.clients; i++)
		pr.clients[i] = Client{&p, (uint32_t)(i + 1) * 2654435761u, {}};
	intptr_t r = -1;
	int err = orca_block_on(rt, run_phase, &pr, &r);
	out.took_ns = orca_now() - start;
	if (err || r) {
		say("FAIL %s: running the clients failed (%d, %ld)", p.name, err, (long)r);
		return out;
	}
	ClientResult sum;
	bool ok = true;
	for (auto &c : pr.clients) {
		sum.ops += c.res.ops;
		sum.failed_ops += c.res.failed_ops;
		sum.rounds += c.res.rounds;
		sum.connects += c.res.connects;
		sum.bytes += c.res.bytes;
		sum.worst_overrun_ns = std::max(sum.worst_overrun_ns, c.res.worst_overrun_ns);
		for (auto &e : c.res.errors)
			sum.errors[e.first] += e.second;
		for (auto &v : c.res.violations) {
			say("FAIL %s: client %d: %s", p.name, (int)(&c - pr.clients.data()),
			    v.c_str());
			ok = false;
		}
		if (!p.faulty && c.res.rounds != p.max_rounds) {
			say("FAIL %s: client %d finished %ld of %d rounds", p.name,
			    (int)(&c - pr.clients.data()), c.res.rounds, p.max_rounds);
			ok = false;
		}
	}
	std::string errs;
	for (auto &e : sum.errors)
		errs += std::string(errs.empty() ? "" : ", ") +
			(e.first ? strerror(e.first) : "EOF") + " x" + std::to_string(e.second);
	say("%s: %d clients, %.1f s: %ld connections, %ld rounds, %ld bytes echoed and verified, "
	    "%ld ops of which %ld failed (%s); the slowest op ended %+.0f ms from its timeout",
	    p.name, p.clients, out.took_ns / 1e9, sum.connects, sum.rounds, sum.bytes, sum.ops,
	    sum.failed_ops, errs.empty() ? "none" : errs.c_str(), sum.worst_overrun_ns / 1e6);
	out.ok = ok;
	out.failed_ops = sum.failed_ops;
	out.bytes = sum.bytes;
	return out;
}

intptr_t start_server_task(void *arg)
{
	auto *s = (Server *)arg;
	s->lfd = orca_tcp_listen("127.0.0.1", kPort, 4096, 0);
	if (s->lfd < 0)
		return s->lfd;
	return orca_spawn(&s->acceptor, accept_loop, s);
}

intptr_t stop_server_task(void *arg)
{
	stop_server((Server *)arg);
	return 0;
}

// The child: everything from unshare to the final fd count. Returns its exit status.
int child_main(Fault fault, orca_backend backend)
{
	if (unshare(CLONE_NEWNET) != 0) {
		say("unshare(CLONE_NEWNET) failed: %s (a network namespace needs root or "
		    "CAP_SYS_ADMIN)",
		    strerror(errno));
		return kExitSkip;
	}
	std::string err = bring_up_loopback();
	if (!err.empty()) {
		say("bringing up lo in the namespace failed: %s", err.c_str());
		return kExitSkip;
	}
	std::vector<int> fds_before = open_fds();

	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 2;
	cfg.backend = backend;
	orca_runtime *rt;
	int rc = orca_runtime_create(&rt, &cfg);
	if (rc != 0) {
		say("orca_runtime_create(%s): %s", backend_name(backend), orca_strerror(rc));
		bool refused = rc == -EPERM || rc == -ENOSYS || rc == -EACCES || rc == -ENOMEM;
		return backend == ORCA_BACKEND_IO_URING && refused ? kExitSkip : kExitFail;
	}
	Server server;
	intptr_t r = -1;
	if (orca_block_on(rt, start_server_task, &server, &r) != 0 || r != 0) {
		say("FAIL: the server did not start: %s", orca_strerror((int)r));
		orca_runtime_free(rt);
		return kExitFail;
	}

	Setup setup = install_fault(fault);
	if (!setup.skip.empty()) {
		say("%s", setup.skip.c_str());
		orca_block_on(rt, stop_server_task, &server, nullptr);
		orca_runtime_free(rt);
		return kExitSkip;
	}
	say("fault: %s", setup.how.c_str());

	bool ok = true;
	int clients = orca_test::under_sanitizer() ? 20 : 50;
	size_t msg = fault == Fault::Bandwidth ? 8192 : 1024;
	Phase faulty{"under the fault", true, clients, 1000, msg, ORCA_SEC(1), ORCA_SEC(2), 0};
	PhaseOutcome f = client_phase(rt, faulty, ORCA_SEC(2));
	ok &= f.ok;
	if (fault == Fault::Bandwidth) {
		// Both directions of every echoed byte crossed lo, whose bytes (headers
		// included) tbf lets through at the rate, after one burst.
		double secs = (double)f.took_ns / 1e9, crossed = 2.0 * (double)f.bytes;
		double allowed = (kCapBytesPerSec * secs + kCapBurstBytes) * 1.25;
		say("cap: %.0f payload bytes crossed lo in %.2f s (%.1f kB/s), %.0f allowed",
		    crossed, secs, crossed / secs / 1e3, allowed);
		if (crossed > allowed) {
			say("FAIL: more crossed than the cap allows: the fault was not in place");
			ok = false;
		}
	} else if (f.failed_ops == 0) {
		say("FAIL: no operation failed: the fault was not in place");
		ok = false;
	}
	if (f.bytes == 0) {
		say("FAIL: no byte came back during the fault: the server stopped serving");
		ok = false;
	}

	err = remove_fault(setup);
	if (!err.empty()) {
		say("FAIL: %s", err.c_str());
		ok = false;
	}
	Phase clean{"after removing it", false, clients, 3, msg, ORCA_SEC(1), ORCA_SEC(2), 0};
	ok &= client_phase(rt, clean, ORCA_SEC(10)).ok;

	orca_block_on(rt, stop_server_task, &server, nullptr);
	say("server: %ld connections accepted, %ld ended in an error", server.accepted.load(),
	    server.conn_errors.load());
	rc = orca_runtime_free(rt);
	if (rc != 0) {
		say("FAIL: orca_runtime_free: %s", orca_strerror(rc));
		ok = false;
	}
	std::vector<int> fds_after = open_fds();
	if (fds_after != fds_before) {
		say("FAIL: open fds before: [%s], after: [%s]", fd_list(fds_before).c_str(),
		    fd_list(fds_after).c_str());
		ok = false;
	} else {
		say("fds: %zu open before and after", fds_before.size());
	}
#ifdef ORCA_TEST_ASAN
	if (__lsan_do_recoverable_leak_check() != 0) {
		say("FAIL: LeakSanitizer found leaks in the child (see stderr)");
		ok = false;
	}
#endif
	return ok ? kExitPass : kExitFail;
}

// ---- the parent --------------------------------------------------------------------

class NetFault : public ::testing::TestWithParam<orca_backend> {
protected:
	void run(Fault fault)
	{
		int pfd[2];
		ASSERT_EQ(0, pipe2(pfd, O_CLOEXEC));
		fflush(nullptr);
		pid_t pid = fork();
		ASSERT_GE(pid, 0) << strerror(errno);
		if (pid == 0) {
			close(pfd[0]);
			g_report_fd = pfd[1];
			// The parent's watchdog is the real one; this one also catches a child
			// whose parent died.
			alarm(kWatchdogSec + 5);
			int code = child_main(fault, GetParam());
			_exit(code);
		}
		close(pfd[1]);
		std::string report;
		bool hung = false;
		int64_t deadline = orca_now() + ORCA_SEC(kWatchdogSec);
		for (;;) {
			int64_t left = deadline - orca_now();
			if (left <= 0) {
				hung = true;
				kill(pid, SIGKILL);
				break;
			}
			struct pollfd p = {pfd[0], POLLIN, 0};
			if (poll(&p, 1, (int)(left / 1000000) + 1) <= 0)
				continue;
			char buf[1024];
			ssize_t n = read(pfd[0], buf, sizeof buf);
			if (n == 0)
				break;
			if (n > 0)
				report.append(buf, (size_t)n);
		}
		close(pfd[0]);
		int status = 0;
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_FALSE(hung) << "the child ran past the " << kWatchdogSec
				   << " s watchdog (a hung operation); its report so far:\n"
				   << report;
		ASSERT_TRUE(WIFEXITED(status))
			<< "the child died of signal " << WTERMSIG(status) << "; its report:\n"
			<< report;
		int code = WEXITSTATUS(status);
		if (code == kExitSkip)
			GTEST_SKIP() << report;
		EXPECT_EQ(kExitPass, code) << report;
		if (code == kExitPass)
			std::cout << report; // the figures, for the log
	}

	// Under a second of setup, about 4 s for the faulty phase and its last
	// operations, well under one for the clean phase; the sanitizers are slower.
	static constexpr int kWatchdogSec = 60;
};

INSTANTIATE_TEST_SUITE_P(Io, NetFault, ::testing::Values(ORCA_BACKEND_IO_URING, ORCA_BACKEND_EPOLL),
			 [](const ::testing::TestParamInfo<orca_backend> &info) {
				 return std::string(backend_name(info.param));
			 });

TEST_P(NetFault, PacketLoss30Percent)
{
	run(Fault::Loss);
}

TEST_P(NetFault, TcpResets)
{
	run(Fault::Reset);
}

TEST_P(NetFault, BandwidthCap1Mbit)
{
	run(Fault::Bandwidth);
}

} // namespace
