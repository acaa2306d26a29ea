// Files, on both I/O backends (io_uring; epoll, where they go through the blocking
// pool or are read from the page cache at once): open, read/write at the file
// position, pread/pwrite, fsync, stat, close, pages not in the page cache, and the
// file_copy-style round trip of 64 MiB with checksums.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <orca/orca.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>
#include <cstdlib>
#include <string>
#include <vector>

#include "io_test_support.h"

namespace {

class Fs : public orca_test::IoRuntimeTest {};
INSTANTIATE_TEST_SUITE_P(Io, Fs, orca_test::io_params(), orca_test::io_param_name);

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
	EXPECT_EQ(0, orca_test::run_task(rt, write_then_read, &r));
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
	EXPECT_EQ(0, orca_test::run_task(rt, errors));
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

struct PosJob {
	std::string path;
	intptr_t err = 0;
};

intptr_t at_the_file_position(void *arg)
{
	auto *j = (PosJob *)arg;
	int fd = orca_open(j->path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return fd;
	// Writes at the file position append one after the other.
	std::string want;
	for (int i = 0; i < 10; i++) {
		std::string piece = "piece " + std::to_string(i) + " of ten;";
		if (orca_write(fd, piece.data(), piece.size()) != (ssize_t)piece.size())
			return -1;
		want += piece;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -2;
	// Reads in small steps, then short at the end, then 0 at end of file.
	std::string got;
	char buf[16];
	for (;;) {
		ssize_t n = orca_read(fd, buf, sizeof buf);
		if (n < 0)
			return -3;
		if (n == 0)
			break;
		got.append(buf, (size_t)n);
	}
	if (got != want)
		return -4;
	// A regular file is always ready.
	int ev = orca_poll_fd(fd, POLLIN | POLLOUT);
	if (ev < 0 || !(ev & POLLIN) || !(ev & POLLOUT))
		return -5;
	// A directory: read gives -EISDIR, as read(2) does.
	int dfd = orca_open("/", O_RDONLY | O_DIRECTORY, 0);
	if (dfd < 0)
		return -6;
	ssize_t r = orca_read(dfd, buf, sizeof buf);
	orca_close(dfd);
	if (r != -EISDIR)
		return -7;
	return orca_close(fd) == 0 ? 0 : -8;
}

TEST_P(Fs, ReadAndWriteAtTheFilePosition)
{
	PosJob j{temp_path("position")};
	EXPECT_EQ(0, orca_test::run_task(rt, at_the_file_position, &j));
	unlink(j.path.c_str());
}

intptr_t uncached_reads(void *arg)
{
	// Pages dropped from the page cache: an epoll read cannot be served at once and
	// goes to the blocking pool (or continues there after a short start).
	auto *j = (PosJob *)arg;
	const size_t size = orca_test::under_sanitizer() ? (2u << 20) : (8u << 20);
	std::vector<unsigned char> data(size), back(size);
	for (size_t i = 0; i < size; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	int fd = orca_open(j->path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return fd;
	if (orca_write_all(fd, data.data(), size) != (ssize_t)size || orca_fsync(fd) != 0)
		return -1;
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (orca_pread(fd, back.data(), size, 0) != (ssize_t)size || back != data)
		return -2;
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	// Half of it back in the cache: reads start inline and finish on the pool.
	if (orca_pread(fd, back.data(), size / 2, 0) != (ssize_t)(size / 2))
		return -3;
	std::fill(back.begin(), back.end(), 0);
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -4;
	if (orca_read(fd, back.data(), size) != (ssize_t)size || back != data)
		return -5;
	return orca_close(fd) == 0 ? 0 : -6;
}

TEST_P(Fs, ReadsOfPagesNotInThePageCache)
{
	PosJob j{temp_path("uncached")};
	EXPECT_EQ(0, orca_test::run_task(rt, uncached_reads, &j));
	unlink(j.path.c_str());
}

} // namespace
