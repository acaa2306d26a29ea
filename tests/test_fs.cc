// Files through io_uring: open, pread/pwrite, fsync, stat, close, and the
// file_copy-style round trip of 64 MiB with checksums.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <orca/orca.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <cstdlib>
#include <string>
#include <vector>

#include "test_support.h"

namespace {

class Fs : public orca_test::RuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Workers, Fs, ::testing::Values(1u, 2u), orca_test::worker_name);

std::string temp_path(const char *name)
{
	const char *dir = getenv("TMPDIR");
	return std::string(dir ? dir : "/tmp") + "/orca_test_" + std::to_string(getpid()) + "_" + name;
}

uint64_t fnv1a(const unsigned char *p, size_t n, uint64_t h = 1469598103934665603ull)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

struct RoundTrip {
	std::string path;
	size_t total;
	uint64_t written_sum = 0, read_sum = 0;
	intptr_t err = 0;
};

intptr_t write_then_read(void *arg)
{
	auto *rt = (RoundTrip *)arg;
	int fd = orca_open(rt->path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return fd;
	const size_t block = 1 << 20;
	std::vector<unsigned char> buf(block);
	uint32_t x = 12345;
	uint64_t h = 1469598103934665603ull;
	for (size_t off = 0; off < rt->total; off += block) {
		for (auto &b : buf) {
			x = x * 1103515245 + 12345;
			b = (unsigned char)(x >> 16);
		}
		h = fnv1a(buf.data(), block, h);
		if (orca_pwrite(fd, buf.data(), block, (off_t)off) != (ssize_t)block)
			return -1;
	}
	rt->written_sum = h;
	if (orca_fsync(fd) != 0)
		return -2;
	struct stat st;
	if (orca_fstat(fd, &st) != 0 || (size_t)st.st_size != rt->total)
		return -3;
	h = 1469598103934665603ull;
	for (size_t off = 0; off < rt->total;) {
		ssize_t n = orca_pread(fd, buf.data(), block, (off_t)off);
		if (n <= 0)
			return -4;
		h = fnv1a(buf.data(), (size_t)n, h);
		off += (size_t)n;
	}
	rt->read_sum = h;
	if (orca_close(fd) != 0)
		return -5;
	if (orca_stat(rt->path.c_str(), &st) != 0 || (size_t)st.st_size != rt->total)
		return -6;
	return 0;
}

TEST_P(Fs, SixtyFourMiBRoundTripWithChecksums)
{
	RoundTrip r{temp_path("roundtrip"), (size_t)64 << 20};
	if (orca_test::under_sanitizer())
		r.total = (size_t)16 << 20;
	intptr_t res = 1;
	ASSERT_EQ(0, orca_block_on(rt, write_then_read, &r, &res));
	EXPECT_EQ(0, res);
	EXPECT_EQ(r.written_sum, r.read_sum);
	unlink(r.path.c_str());
}

intptr_t errors(void *)
{
	if (orca_open("/nonexistent/dir/file", O_RDONLY, 0) != -ENOENT)
		return -1;
	struct stat st;
	if (orca_stat("/nonexistent/file", &st) != -ENOENT)
		return -2;
	if (orca_stat(nullptr, &st) != -EFAULT || orca_fstat(0, nullptr) != -EFAULT)
		return -3;
	if (orca_fstat(-1, &st) != -EBADF || orca_fsync(-1) != -EBADF || orca_close(-1) != -EBADF)
		return -4;
	if (orca_open(nullptr, O_RDONLY, 0) != -EFAULT)
		return -5;
	// Writing to a read-only fd: the kernel's -EBADF comes back.
	int fd = orca_open("/dev/null", O_RDONLY, 0);
	if (fd < 0)
		return -6;
	char c = 0;
	ssize_t w = orca_write(fd, &c, 1);
	orca_close(fd);
	if (w != -EBADF)
		return -7;
	return 0;
}

TEST_P(Fs, ErrorsComeBackAsNegativeErrno)
{
	intptr_t r = 1;
	ASSERT_EQ(0, orca_block_on(rt, errors, nullptr, &r));
	EXPECT_EQ(0, r);
}

struct Fifo {
	std::string path;
	std::atomic<int> entered{0};
	std::atomic<intptr_t> result{1};
};

intptr_t read_fifo(void *arg)
{
	auto *f = (Fifo *)arg;
	int fd = orca_open(f->path.c_str(), O_RDWR, 0); // RDWR: open does not wait for a writer
	if (fd < 0)
		return fd;
	char buf[64];
	f->entered = 1;
	f->result = orca_read(fd, buf, sizeof buf);
	close(fd);
	return 0;
}

TEST_P(Fs, AbortABlockedFileRead)
{
	Fifo f;
	f.path = temp_path("fifo");
	unlink(f.path.c_str());
	ASSERT_EQ(0, mkfifo(f.path.c_str(), 0600));
	orca_task *h;
	ASSERT_EQ(0, orca_spawn_on(rt, &h, read_fifo, &f));
	while (!f.entered)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(20));
	orca_abort(h);
	EXPECT_EQ(-ECANCELED, orca_join(h, nullptr));
	EXPECT_EQ(-ECANCELED, f.result.load());
	unlink(f.path.c_str());
}

} // namespace
