/* echo_load HOST PORT CONNS SECONDS MSG_BYTES [DEPTH [THREADS]]: the TCP echo load
 * generator of the server benchmarks (issue 5), with the same command line, output
 * and exit codes as ../shared/peers/load/echo_load, so that the comparison needs
 * nothing from outside the repository.
 *
 * It opens CONNS connections to HOST:PORT (IPv4 loopback only) before the clock
 * starts; each one keeps up to DEPTH messages of MSG_BYTES in flight (a message
 * starts only while fewer than DEPTH await their whole echo) for SECONDS, and every
 * echoed byte is checked. Connections are spread over THREADS client threads
 * (default 1), each with its own edge-triggered epoll.
 *
 * What a connection sends is one byte stream: byte k of connection c is
 * pattern[(origin(c) + k) % PATTERN_LEN], a fixed pseudo-random table read from an
 * offset hashed from c. A message is MSG_BYTES consecutive bytes of that stream, so
 * lost, repeated, reordered, corrupted or other connections' bytes all show up as a
 * mismatch at a known stream offset (all but a shift by a whole PATTERN_LEN bytes).
 *
 * Output, one line on stdout:
 *   conns=N msg=B rtt_per_s=X mb_per_s=Y p50_us=A p99_us=B errors=E
 * rtt_per_s counts round trips (a message sent and fully echoed) completed within
 * the SECONDS window; mb_per_s is rtt_per_s * MSG_BYTES / 1e6; p50/p99 are the
 * latency from writing a message's first byte to reading its last echoed byte, from
 * a log-linear histogram (64 steps per power of two: under 1.6 % error, bucket
 * midpoints reported); errors counts connections that failed (mismatch, more bytes
 * than sent, closed by the server, I/O error, echo still missing after the drain).
 * At most MAX_ERROR_LINES diagnostics go to stderr.
 *
 * Bounded in time whatever the server does: connecting gets CONNECT_S seconds for
 * all connections, then SECONDS of load, then at most DRAIN_S for the echoes still
 * in flight, which are checked but not counted.
 *
 * Exit status: 0 every byte came back right; 1 errors > 0; 2 bad arguments or a
 * HOST that is not loopback; 3 a connection could not be opened (no result line).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 100000
#define MAX_MSG_BYTES (16L << 20)
#define MAX_DEPTH 4096
#define MAX_THREADS 64
#define MAX_SECONDS 3600.0
#define CONNECT_S 10
#define DRAIN_S 5
#define NS_PER_S 1000000000ULL
#define MAX_ERROR_LINES 5
#define EVENTS_PER_WAIT 256

/* The stream pattern: PATTERN_LEN distinct starting points (a prime, so a stream
 * does not repeat with a power-of-two period), plus SPAN bytes that repeat its
 * beginning, so that SPAN bytes from any starting point are contiguous. SPAN is the
 * most one send moves (large messages: as few sends as the socket buffer allows);
 * reads take READ_BYTES at a time. */
#define PATTERN_LEN 65521u
#define SPAN (1024 * 1024)
#define READ_BYTES (64 * 1024)
static unsigned char pattern[PATTERN_LEN + SPAN];

/* Latency histogram: values below 64 ns exact, then 64 buckets per power of two. */
#define HIST_STEPS 64
#define HIST_BUCKETS (HIST_STEPS + (64 - 6) * HIST_STEPS)

struct connection {
	int fd;
	uint32_t id;
	uint32_t origin;       /* where its stream starts in pattern */
	bool failed;
	bool blocked;          /* the socket buffer was full: wait for EPOLLOUT */
	uint64_t sent;         /* stream bytes written */
	uint64_t echoed;       /* stream bytes read back and checked */
	uint64_t *started_ns;  /* [depth]: when message m's first byte went, at m % depth */
};

struct client_thread {
	pthread_t tid;
	int epfd;
	struct connection **conns;
	size_t nconns;
	bool stopping;     /* the window is over: no new message starts */
	size_t unfinished; /* while stopping: live connections with echoes missing */
	uint64_t round_trips;
	uint64_t errors;
	unsigned char *buf; /* READ_BYTES */
	uint64_t hist[HIST_BUCKETS];
};

static struct {
	uint64_t msg_bytes;
	uint64_t depth;
	uint64_t start_ns, stop_ns; /* the measured window */
} run;

static atomic_uint error_lines;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- latency histogram ---- */

static unsigned hist_bucket(uint64_t ns)
{
	if (ns < HIST_STEPS)
		return (unsigned)ns;
	unsigned top = 63 - (unsigned)__builtin_clzll(ns); /* >= 6 */
	unsigned step = (unsigned)(ns >> (top - 6)) & (HIST_STEPS - 1);
	return HIST_STEPS + (top - 6) * HIST_STEPS + step;
}

static double hist_midpoint_ns(unsigned b)
{
	if (b < HIST_STEPS)
		return b;
	unsigned top = (b - HIST_STEPS) / HIST_STEPS + 6, step = (b - HIST_STEPS) % HIST_STEPS;
	double width = (double)(1ULL << (top - 6));
	return (double)(HIST_STEPS + step) * width + width / 2;
}

/* The value below which a fraction p of the count samples lie, in microseconds. */
static double hist_percentile_us(const uint64_t *hist, uint64_t count, double p)
{
	if (count == 0)
		return 0;
	uint64_t rank = (uint64_t)(p * (double)count);
	if ((double)rank < p * (double)count || rank == 0)
		rank++;
	uint64_t seen = 0;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += hist[b];
		if (seen >= rank)
			return hist_midpoint_ns(b) / 1000.0;
	}
	return hist_midpoint_ns(HIST_BUCKETS - 1) / 1000.0;
}

/* ---- one connection ---- */

static uint64_t messages_started(const struct connection *c)
{
	return (c->sent + run.msg_bytes - 1) / run.msg_bytes;
}

static bool all_echoed(const struct connection *c)
{
	return c->echoed == c->sent && c->sent % run.msg_bytes == 0;
}

static void report(const struct connection *c, const char *what, int err)
{
	if (atomic_fetch_add(&error_lines, 1) >= MAX_ERROR_LINES)
		return;
	if (err)
		fprintf(stderr, "echo_load: connection %u: %s: %s\n", c->id, what, strerror(err));
	else
		fprintf(stderr, "echo_load: connection %u: %s (stream byte %llu, message %llu)\n",
			c->id, what, (unsigned long long)c->echoed,
			(unsigned long long)(c->echoed / run.msg_bytes));
}

static void fail(struct client_thread *t, struct connection *c, const char *what, int err)
{
	if (t->stopping && !all_echoed(c))
		t->unfinished--;
	report(c, what, err);
	c->failed = true;
	close(c->fd); /* leaves the epoll set with it */
	t->errors++;
}

/* Writes what the window allows: messages up to DEPTH in flight, and while stopping
 * only the rest of a message already begun. */
static void send_more(struct client_thread *t, struct connection *c)
{
	const uint64_t size = run.msg_bytes;
	for (;;) {
		uint64_t limit = t->stopping ? messages_started(c) * size
					     : (c->echoed / size + run.depth) * size;
		if (c->sent >= limit)
			return;
		size_t len = limit - c->sent < SPAN ? (size_t)(limit - c->sent) : SPAN;
		const unsigned char *from = pattern + (c->origin + c->sent) % PATTERN_LEN;
		uint64_t when = now_ns();
		ssize_t n = send(c->fd, from, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				c->blocked = true;
			else
				fail(t, c, "send", errno);
			return;
		}
		/* Stamp every message whose first byte this send carried. */
		for (uint64_t m = messages_started(c); m * size < c->sent + (uint64_t)n; m++)
			c->started_ns[m % run.depth] = when;
		c->sent += (uint64_t)n;
		if ((size_t)n < len) { /* the socket buffer is full */
			c->blocked = true;
			return;
		}
	}
}

/* Checks n echoed bytes in t->buf and counts the messages they complete. False if
 * they are wrong (the connection has failed then). */
static bool check_echo(struct client_thread *t, struct connection *c, size_t n)
{
	if (c->echoed + n > c->sent) {
		fail(t, c, "more bytes echoed than sent", 0);
		return false;
	}
	const unsigned char *want = pattern + (c->origin + c->echoed) % PATTERN_LEN;
	if (memcmp(t->buf, want, n) != 0) {
		size_t same = 0;
		while (t->buf[same] == want[same])
			same++;
		c->echoed += same; /* so that the report names the first wrong byte */
		fail(t, c, "echoed byte differs", 0);
		return false;
	}
	uint64_t when = now_ns();
	const uint64_t size = run.msg_bytes;
	uint64_t done_before = c->echoed / size;
	c->echoed += n;
	for (uint64_t m = done_before; m < c->echoed / size; m++) {
		if (when < run.stop_ns) {
			t->hist[hist_bucket(when - c->started_ns[m % run.depth])]++;
			t->round_trips++;
		}
	}
	if (t->stopping && all_echoed(c))
		t->unfinished--;
	return true;
}

/* Reads until the socket is empty (edge-triggered: the next edge comes with new
 * data). False if the connection failed. */
static bool receive(struct client_thread *t, struct connection *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, t->buf, READ_BYTES, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			fail(t, c, "recv", errno);
			return false;
		}
		if (n == 0) {
			fail(t, c, "closed by the server", 0);
			return false;
		}
		if (!check_echo(t, c, (size_t)n))
			return false;
		if (n < READ_BYTES)
			return true; /* a short read: the receive queue is empty */
	}
}

/* ---- a client thread ---- */

static void begin_stopping(struct client_thread *t)
{
	t->stopping = true;
	t->unfinished = 0;
	for (size_t i = 0; i < t->nconns; i++)
		if (!t->conns[i]->failed && !all_echoed(t->conns[i]))
			t->unfinished++;
}

static void *client_thread_main(void *arg)
{
	struct client_thread *t = arg;
	const uint64_t drain_end = run.stop_ns + DRAIN_S * NS_PER_S;
	for (size_t i = 0; i < t->nconns; i++)
		send_more(t, t->conns[i]);
	struct epoll_event events[EVENTS_PER_WAIT];
	for (;;) {
		uint64_t now = now_ns();
		if (!t->stopping && now >= run.stop_ns)
			begin_stopping(t);
		if (t->stopping && (t->unfinished == 0 || now >= drain_end))
			break;
		uint64_t until = t->stopping ? drain_end : run.stop_ns;
		int n = epoll_wait(t->epfd, events, EVENTS_PER_WAIT,
				   (int)((until - now + 999999) / 1000000));
		if (n < 0 && errno != EINTR) {
			perror("echo_load: epoll_wait");
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			struct connection *c = events[i].data.ptr;
			if (c->failed)
				continue; /* failed earlier in this batch */
			uint32_t ev = events[i].events;
			if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !receive(t, c))
				continue;
			if (ev & EPOLLOUT)
				c->blocked = false;
			if (!c->blocked)
				send_more(t, c);
		}
	}
	for (size_t i = 0; i < t->nconns; i++) {
		struct connection *c = t->conns[i];
		if (c->failed)
			continue;
		if (!all_echoed(c))
			fail(t, c, "echo still missing after the drain", 0);
		else
			close(c->fd);
	}
	return NULL;
}

/* ---- set-up ---- */

static void usage(void)
{
	fprintf(stderr,
		"usage: echo_load HOST PORT CONNS SECONDS MSG_BYTES [DEPTH [THREADS]]\n"
		"  HOST 127.x.x.x or localhost; CONNS 1..%d; SECONDS (0, %.0f]; MSG_BYTES 1..%ld;\n"
		"  DEPTH 1..%d messages in flight per connection (default 1);\n"
		"  THREADS 1..%d client threads (default 1)\n",
		MAX_CONNS, MAX_SECONDS, MAX_MSG_BYTES, MAX_DEPTH, MAX_THREADS);
	exit(2);
}

static long parse_whole(const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		usage();
	return v;
}

/* Connects without blocking past deadline. The socket, or -1 with errno set. */
static int connect_by(const struct sockaddr_in *to, uint64_t deadline)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1, err = 0;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0) {
		err = errno == EINPROGRESS ? 0 : errno;
		while (!err) {
			uint64_t now = now_ns();
			if (now >= deadline) {
				err = ETIMEDOUT;
				break;
			}
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int r = poll(&p, 1, (int)((deadline - now + 999999) / 1000000));
			if (r < 0 && errno != EINTR)
				err = errno;
			if (r > 0) {
				socklen_t len = sizeof(err);
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
					err = errno;
				break;
			}
		}
	}
	if (err) {
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static void make_pattern(void)
{
	uint64_t x = 0x2545f4914f6cdd1dULL; /* fixed: the same stream in every run */
	for (size_t i = 0; i < PATTERN_LEN; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		pattern[i] = (unsigned char)((x * 0x2545f4914f6cdd1dULL) >> 56);
	}
	for (size_t i = PATTERN_LEN; i < sizeof(pattern); i++)
		pattern[i] = pattern[i - PATTERN_LEN]; /* SPAN > PATTERN_LEN: it wraps */
}

static uint32_t stream_origin(uint32_t id)
{
	uint64_t h = (id + 1) * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 31;
	return (uint32_t)(h % PATTERN_LEN);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p) {
		fprintf(stderr, "echo_load: out of memory\n");
		exit(1);
	}
	return p;
}

/* Enough descriptors for the connections: raise the soft limit to the hard one. */
static void allow_descriptors(long conns)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conns + 64 &&
	    rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	if (argc < 6 || argc > 8)
		usage();
	struct sockaddr_in to = {.sin_family = AF_INET};
	const char *host = strcmp(argv[1], "localhost") == 0 ? "127.0.0.1" : argv[1];
	if (inet_pton(AF_INET, host, &to.sin_addr) != 1 || (ntohl(to.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "echo_load: HOST '%s' is not an IPv4 loopback address\n", argv[1]);
		return 2;
	}
	to.sin_port = htons((uint16_t)parse_whole(argv[2], 1, 65535));
	long nconns = parse_whole(argv[3], 1, MAX_CONNS);
	char *end;
	double seconds = strtod(argv[4], &end);
	if (end == argv[4] || *end || !(seconds > 0 && seconds <= MAX_SECONDS))
		usage();
	run.msg_bytes = (uint64_t)parse_whole(argv[5], 1, MAX_MSG_BYTES);
	run.depth = argc > 6 ? (uint64_t)parse_whole(argv[6], 1, MAX_DEPTH) : 1;
	long nthreads = argc > 7 ? parse_whole(argv[7], 1, MAX_THREADS) : 1;

	make_pattern();
	allow_descriptors(nconns);
	/* static: an early exit (a refused connection) leaves them to the process exit,
	 * still reachable rather than leaked. */
	static struct connection *conns;
	static uint64_t *stamps;
	static struct client_thread *threads;
	conns = xcalloc((size_t)nconns, sizeof(*conns));
	stamps = xcalloc((size_t)nconns * run.depth, sizeof(*stamps));
	threads = xcalloc((size_t)nthreads, sizeof(*threads));
	for (long i = 0; i < nthreads; i++) {
		threads[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		if (threads[i].epfd < 0) {
			perror("echo_load: epoll_create1");
			return 1;
		}
		threads[i].conns = xcalloc((size_t)(nconns / nthreads + 1), sizeof(struct connection *));
		threads[i].buf = xcalloc(1, READ_BYTES);
	}

	uint64_t connect_end = now_ns() + CONNECT_S * NS_PER_S;
	for (long i = 0; i < nconns; i++) {
		struct connection *c = &conns[i];
		c->id = (uint32_t)i;
		c->origin = stream_origin(c->id);
		c->started_ns = stamps + (size_t)i * run.depth;
		c->fd = connect_by(&to, connect_end);
		if (c->fd < 0) {
			fprintf(stderr, "echo_load: connection %ld of %ld to %s:%s: %s\n", i + 1, nconns,
				argv[1], argv[2], strerror(errno));
			return 3; /* the process exit closes the others */
		}
		struct client_thread *t = &threads[i % nthreads];
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					 .data.ptr = c};
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			perror("echo_load: epoll_ctl");
			return 1;
		}
		t->conns[t->nconns++] = c;
	}

	run.start_ns = now_ns();
	run.stop_ns = run.start_ns + (uint64_t)(seconds * 1e9);
	for (long i = 0; i < nthreads; i++) {
		int err = pthread_create(&threads[i].tid, NULL, client_thread_main, &threads[i]);
		if (err) {
			fprintf(stderr, "echo_load: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	static uint64_t hist[HIST_BUCKETS];
	uint64_t round_trips = 0, errors = 0;
	for (long i = 0; i < nthreads; i++) {
		pthread_join(threads[i].tid, NULL);
		round_trips += threads[i].round_trips;
		errors += threads[i].errors;
		for (unsigned b = 0; b < HIST_BUCKETS; b++)
			hist[b] += threads[i].hist[b];
		close(threads[i].epfd);
		free(threads[i].conns);
		free(threads[i].buf);
	}
	double window_s = (double)(run.stop_ns - run.start_ns) / 1e9;
	printf("conns=%ld msg=%llu rtt_per_s=%.0f mb_per_s=%.2f p50_us=%.1f p99_us=%.1f "
	       "errors=%llu\n",
	       nconns, (unsigned long long)run.msg_bytes, (double)round_trips / window_s,
	       (double)round_trips * (double)run.msg_bytes / 1e6 / window_s,
	       hist_percentile_us(hist, round_trips, 0.50),
	       hist_percentile_us(hist, round_trips, 0.99), (unsigned long long)errors);
	free(threads);
	free(stamps);
	free(conns);
	return errors ? 1 : 0;
}
