// Choosing the I/O backend: the fallback to epoll the way users meet it (a seccomp
// filter refusing io_uring_setup, as Docker's default profile does), ORCA_BACKEND
// and orca_config.backend forcing a backend, orca_runtime_backend, and the debug
// log saying which backend and why.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <orca/orca.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "test_support.h"

namespace {

#if defined(__x86_64__)
#define ORCA_TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ORCA_TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

// Installs a filter that fails io_uring_setup with err and allows everything else.
bool refuse_io_uring(int err)
{
#ifdef ORCA_TEST_AUDIT_ARCH
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ORCA_TEST_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return false;
	return syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
#else
	(void)err;
	return false;
#endif
}

// ---- an echo round trip over loopback ------------------------------------------------

intptr_t echo_once(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	int fd = orca_accept(lfd, nullptr, nullptr);
	if (fd < 0)
		return fd;
	char buf[64];
	ssize_t n = orca_recv(fd, buf, sizeof buf, 0);
	if (n > 0)
		n = orca_send_all(fd, buf, (size_t)n);
	close(fd);
	return n < 0 ? n : 0;
}

intptr_t echo_round_trip(void *)
{
	int lfd = orca_tcp_listen("127.0.0.1", 0, 16, 0);
	if (lfd < 0)
		return lfd;
	orca_task *srv;
	if (orca_spawn(&srv, echo_once, (void *)(intptr_t)lfd) != 0)
		return -1000;
	int fd = orca_tcp_connect("127.0.0.1", (uint16_t)orca_socket_port(lfd), ORCA_SEC(5));
	intptr_t ret = fd < 0 ? fd : 0;
	if (fd >= 0) {
		const char msg[] = "ping through the fallback";
		char back[sizeof msg] = {};
		if (orca_send_all(fd, msg, sizeof msg) != (ssize_t)sizeof msg)
			ret = -1001;
		size_t got = 0;
		while (ret == 0 && got < sizeof back) {
			ssize_t n = orca_recv(fd, back + got, sizeof back - got, 0);
			if (n <= 0)
				ret = n < 0 ? n : -1002;
			else
				got += (size_t)n;
		}
		if (ret == 0 && memcmp(msg, back, sizeof msg) != 0)
			ret = -1003;
		close(fd);
	}
	intptr_t sr = 0;
	orca_join(srv, &sr);
	orca_close(lfd);
	return ret ? ret : sr;
}

// ---- a child process and what it reports ------------------------------------------

struct ChildReport {
	int status = -1;       // waitpid status
	std::string out;       // what the child wrote to the report pipe
	std::string log;       // its stderr
};

// Runs fn in a forked child with stderr captured; fn writes its report to fd.
template <typename Fn> ChildReport run_child(Fn fn)
{
	ChildReport r;
	int rep[2], err[2];
	if (pipe2(rep, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
		return r;
	fflush(nullptr);
	pid_t pid = fork();
	if (pid == 0) {
		close(rep[0]);
		close(err[0]);
		dup2(err[1], 2);
		int code = fn(rep[1]);
		_exit(code);
	}
	close(rep[1]);
	close(err[1]);
	// Read both pipes until the child closes them (20 s at most).
	struct pollfd pf[2] = {{rep[0], POLLIN, 0}, {err[0], POLLIN, 0}};
	int open_pipes = 2;
	int64_t deadline = orca_now() + ORCA_SEC(20);
	while (open_pipes > 0 && orca_now() < deadline) {
		if (poll(pf, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP)))
				continue;
			char buf[512];
			ssize_t n = read(pf[i].fd, buf, sizeof buf);
			if (n <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
				open_pipes--;
			} else {
				(i == 0 ? r.out : r.log).append(buf, (size_t)n);
			}
		}
	}
	if (open_pipes > 0)
		kill(pid, SIGKILL);
	for (auto &p : pf)
		if (p.fd >= 0)
			close(p.fd);
	waitpid(pid, &r.status, 0);
	return r;
}

void report(int fd, const std::string &s)
{
	ssize_t n = write(fd, s.data(), s.size());
	(void)n;
}

// The child: io_uring_setup refused with err, then a default runtime serves an
// echo round trip; reports "<backend> <round trip result>".
int refused_child(int rep, int err)
{
	unsetenv("ORCA_BACKEND");
	setenv("ORCA_LOG", "debug", 1);
	if (!refuse_io_uring(err)) {
		report(rep, "nofilter");
		return 0;
	}
	orca_runtime *rt;
	int e = orca_runtime_create(&rt, nullptr);
	if (e != 0) {
		report(rep, "create " + std::to_string(e));
		return 1;
	}
	intptr_t echo = -1;
	int b = orca_block_on(rt, echo_round_trip, nullptr, &echo);
	std::string backend = orca_runtime_backend(rt);
	orca_runtime_free(rt);
	report(rep, backend + " " + std::to_string(b ? b : echo));
	return 0;
}

class Refused : public ::testing::TestWithParam<int> {};
INSTANTIATE_TEST_SUITE_P(Errno, Refused, ::testing::Values(EPERM, ENOSYS, EACCES, ENOMEM),
			 [](const ::testing::TestParamInfo<int> &i) {
				 return std::string(strerrorname_np(i.param));
			 });

TEST_P(Refused, SeccompRefusingIoUringFallsBackToEpollAndServesEcho)
{
	int err = GetParam();
	ChildReport r = run_child([err](int rep) { return refused_child(rep, err); });
	if (r.out == "nofilter")
		GTEST_SKIP() << "seccomp filters are not available here";
	ASSERT_TRUE(WIFEXITED(r.status)) << "child died; its log:\n" << r.log;
	EXPECT_EQ(0, WEXITSTATUS(r.status)) << r.out << "\n" << r.log;
	EXPECT_EQ("epoll 0", r.out) << "its log:\n" << r.log;
	std::string why =
		std::string("backend epoll (io_uring_setup refused: ") + orca_strerror(-err) + ")";
	EXPECT_NE(std::string::npos, r.log.find(why)) << r.log;
	EXPECT_NE(std::string::npos, r.log.find("worker 0: epoll")) << r.log;
}

TEST(Backend, ForcingIoUringWhereItIsRefusedFailsWithItsError)
{
	ChildReport r = run_child([](int rep) {
		setenv("ORCA_BACKEND", "io_uring", 1);
		setenv("ORCA_LOG", "debug", 1);
		if (!refuse_io_uring(EPERM)) {
			report(rep, "nofilter");
			return 0;
		}
		orca_runtime *rt = nullptr;
		int e = orca_runtime_create(&rt, nullptr);
		report(rep, std::to_string(e));
		if (e == 0)
			orca_runtime_free(rt);
		return 0;
	});
	if (r.out == "nofilter")
		GTEST_SKIP() << "seccomp filters are not available here";
	EXPECT_EQ(std::to_string(-EPERM), r.out) << r.log;
	EXPECT_NE(std::string::npos,
		  r.log.find("io_uring required (ORCA_BACKEND=io_uring) but io_uring_setup failed: "
			     "Operation not permitted"))
		<< r.log;
}

// A worker that cannot create its driver fails the runtime with its error: that
// worker never enters its loop (it would have nowhere to park) and the others are
// stopped.
TEST(Backend, AWorkerWithoutADriverFailsTheRuntime)
{
	ChildReport r = run_child([](int rep) {
		setenv("ORCA_LOG", "debug", 1);
		// Three free descriptors: one epoll driver takes two (epoll, eventfd), so
		// one of the two workers fails to create its own.
		int limit = 0;
		for (int free_fds = 0; free_fds < 3; limit++)
			if (fcntl(limit, F_GETFD) < 0)
				free_fds++;
		struct rlimit lim;
		getrlimit(RLIMIT_NOFILE, &lim);
		lim.rlim_cur = (rlim_t)limit;
		if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
			report(rep, "setrlimit");
			return 1;
		}
		orca_config c;
		orca_config_init(&c);
		c.workers = 2;
		c.backend = ORCA_BACKEND_EPOLL;
		orca_runtime *rt = nullptr;
		int e = orca_runtime_create(&rt, &c);
		report(rep, std::to_string(e));
		if (e == 0)
			orca_runtime_free(rt);
		return 0;
	});
	ASSERT_TRUE(WIFEXITED(r.status)) << "child died or hung; its log:\n" << r.log;
	EXPECT_EQ(std::to_string(-EMFILE), r.out) << r.log;
	EXPECT_NE(std::string::npos, r.log.find("epoll driver failed")) << r.log;
}

// ---- in this process ----------------------------------------------------------------

// Sets an environment variable for the scope, restoring the old value after.
class EnvVar {
public:
	EnvVar(const char *name, const char *value) : name_(name)
	{
		const char *old = getenv(name);
		had_ = old != nullptr;
		if (had_)
			old_ = old;
		if (value)
			setenv(name, value, 1);
		else
			unsetenv(name);
	}
	~EnvVar()
	{
		if (had_)
			setenv(name_, old_.c_str(), 1);
		else
			unsetenv(name_);
	}

private:
	const char *name_;
	bool had_;
	std::string old_;
};

bool io_uring_allowed()
{
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 1;
	cfg.backend = ORCA_BACKEND_IO_URING;
	orca_runtime *rt;
	if (orca_runtime_create(&rt, &cfg) != 0)
		return false;
	orca_runtime_free(rt);
	return true;
}

std::string backend_of(const orca_config *cfg, int *err)
{
	orca_runtime *rt;
	*err = orca_runtime_create(&rt, cfg);
	if (*err)
		return "";
	std::string b = orca_runtime_backend(rt);
	intptr_t echo = -1;
	EXPECT_EQ(0, orca_block_on(rt, echo_round_trip, nullptr, &echo));
	EXPECT_EQ(0, echo) << b;
	EXPECT_EQ(0, orca_runtime_free(rt));
	return b;
}

TEST(Backend, EnvironmentChoosesEpoll)
{
	EnvVar env("ORCA_BACKEND", "epoll");
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 2;
	int err;
	EXPECT_EQ("epoll", backend_of(&cfg, &err));
	EXPECT_EQ(0, err);
}

TEST(Backend, EnvironmentChoosesIoUring)
{
	if (!io_uring_allowed())
		GTEST_SKIP() << "io_uring is refused here";
	EnvVar env("ORCA_BACKEND", "io_uring");
	int err;
	EXPECT_EQ("io_uring", backend_of(nullptr, &err));
	EXPECT_EQ(0, err);
}

TEST(Backend, DefaultIsIoUringWhereAllowed)
{
	EnvVar env("ORCA_BACKEND", nullptr);
	int err;
	std::string b = backend_of(nullptr, &err);
	EXPECT_EQ(0, err);
	EXPECT_EQ(io_uring_allowed() ? "io_uring" : "epoll", b);
}

TEST(Backend, ConfigWinsOverTheEnvironment)
{
	EnvVar env("ORCA_BACKEND", "io_uring");
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.backend = ORCA_BACKEND_EPOLL;
	int err;
	EXPECT_EQ("epoll", backend_of(&cfg, &err));
	EXPECT_EQ(0, err);
}

TEST(Backend, UnknownChoicesAreInvalid)
{
	orca_runtime *rt = nullptr;
	{
		EnvVar env("ORCA_BACKEND", "kqueue");
		EXPECT_EQ(-EINVAL, orca_runtime_create(&rt, nullptr));
		EXPECT_EQ(nullptr, rt);
	}
	{
		EnvVar env("ORCA_BACKEND", ""); // empty: as if unset
		ASSERT_EQ(0, orca_runtime_create(&rt, nullptr));
		EXPECT_EQ(0, orca_runtime_free(rt));
	}
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.backend = (orca_backend)7;
	EXPECT_EQ(-EINVAL, orca_runtime_create(&rt, &cfg));
	EXPECT_EQ(nullptr, orca_runtime_backend(nullptr));
}

// Captures what this process writes to stderr while fn runs.
template <typename Fn> std::string capture_stderr(Fn fn)
{
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	dup2(fileno(tmp), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	std::string out;
	rewind(tmp);
	char buf[512];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, tmp)) > 0)
		out.append(buf, n);
	fclose(tmp);
	return out;
}

TEST(Backend, DebugLogSaysWhichAndWhyAndIsSilentOtherwise)
{
	EnvVar backend("ORCA_BACKEND", "epoll");
	orca_config cfg;
	orca_config_init(&cfg);
	cfg.workers = 2;
	auto make_and_free = [&cfg] {
		orca_runtime *rt;
		ASSERT_EQ(0, orca_runtime_create(&rt, &cfg));
		ASSERT_EQ(0, orca_runtime_free(rt));
	};
	std::string quiet;
	{
		EnvVar log("ORCA_LOG", nullptr);
		quiet = capture_stderr(make_and_free);
	}
	EXPECT_EQ("", quiet);
	std::string loud;
	{
		EnvVar log("ORCA_LOG", "debug");
		loud = capture_stderr(make_and_free);
	}
	EXPECT_NE(std::string::npos, loud.find("orca: runtime: backend epoll (ORCA_BACKEND=epoll)"))
		<< loud;
	// Every worker reports the same backend.
	EXPECT_NE(std::string::npos, loud.find("orca: worker 0: epoll")) << loud;
	EXPECT_NE(std::string::npos, loud.find("orca: worker 1: epoll")) << loud;
	EXPECT_EQ(std::string::npos, loud.find("io_uring")) << loud;
}

} // namespace
