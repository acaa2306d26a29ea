/* bench_memory [--quick] [NAME...]: what idle tasks and idle threads cost in memory,
 * and how many of each this machine holds at once (issue 5). Prints `name value`
 * lines on stdout, like the peers' micro programs; progress and teardown notes go
 * to stderr. NAMEs pick a subset of the probes below (default: all, in this order).
 *
 *   rss_per_idle_stackless_task_bytes     N stackless tasks, each a far-future sleep
 *                                         (orca_sleep_future) spawned as the task
 *   rss_per_idle_stackful_task_bytes      N stackful tasks in orca_sleep (default
 *                                         64 KiB stacks)
 *   rss_per_idle_thread_bytes             M pthreads with default attributes, each
 *                                         blocked on a futex
 *   rss_per_idle_thread_64k_stack_bytes   the same with 64 KiB stacks
 *   max_stackless_tasks, max_stackful_tasks   idle tasks spawned until a spawn fails
 *                                         or the bound (1M; --quick 100k) is reached
 *   max_threads                           idle threads (32 KiB stacks) created until
 *                                         pthread_create fails or the kernel's thread
 *                                         limits, less a reserve, are reached
 *
 * The rss_* figures are (resident set when all are parked - resident set before the
 * first spawn) / count, from /proc/self/statm: what the process itself pays. A
 * thread also costs the kernel memory no resident set shows: its kernel stack
 * (16 KiB on x86-64; the KernelStack growth is printed on stderr) and its task
 * struct. N is 100,000 (--quick 20,000), M 10,000 (--quick
 * 2,000). Every max_* line is followed by `NAME_limit WHY`: "bound 1M", the error
 * that stopped it, or the time or memory budget.
 *
 * Budgets, so that a probe cannot hurt the machine it runs on: at most
 * SPAWN_SECONDS of spawning per probe; spawning stops while MemAvailable is still
 * above a quarter of what it was when the probe began; max_threads leaves an eighth
 * of the kernel's thread limit (at least 1,024) free for everyone else. Everything
 * a probe starts is ended before the next one: the tasks are aborted by runtime
 * shutdown, the threads released and joined, and freed heap is trimmed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <malloc.h>
#include <orca/orca.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SPAWN_SECONDS 60
#define PARK_SECONDS 30     /* after spawning: for the last tasks to reach their sleep */
#define SHUTDOWN_SECONDS 60 /* for the runtime to abort and free them all */
#define CHECK_EVERY 4096    /* spawns between two looks at the clock and MemAvailable */
#define IDLE_FOR ORCA_SEC(3600)
#define MAX_THREADS_STACK (32 * 1024)
#define SMALL_STACK (64 * 1024)

struct settings {
	long tasks;      /* N of the rss task probes */
	long threads;    /* M of the rss thread probes */
	long task_bound; /* where the max_* probes stop */
};

/* ---- what the process and the machine have ---- */

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long resident_bytes(void)
{
	long long size = 0, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%lld %lld", &size, &resident) != 2)
			resident = -1;
		fclose(f);
	}
	if (resident < 0) {
		fprintf(stderr, "bench_memory: cannot read /proc/self/statm\n");
		exit(1);
	}
	return resident * sysconf(_SC_PAGESIZE);
}

/* The `key: value kB` line of /proc/meminfo, in bytes; -1 if absent. */
static long long meminfo_bytes(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long long kb = -1;
	size_t klen = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			kb = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/* The one number `format` (a scanf format with one %ld) finds in a /proc file; -1
 * if the file or the number is not there. */
static long scan_number(const char *path, const char *format)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (f) {
		if (fscanf(f, format, &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static long read_number(const char *path)
{
	return scan_number(path, "%ld");
}

/* Threads alive in the whole system: the total in /proc/loadavg's "running/total". */
static long threads_in_system(void)
{
	return scan_number("/proc/loadavg", "%*f %*f %*f %*d/%ld");
}

static long memory_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long lines = 0;
	int c;
	while (f && (c = getc(f)) != EOF)
		lines += c == '\n';
	if (f)
		fclose(f);
	return lines;
}

static double mib(long long bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* ---- the budget a probe spawns within ---- */

struct budget {
	long bound;            /* spawn at most this many */
	char bound_why[160];   /* said when the bound is what stopped it */
	long long deadline_ns; /* stop spawning at this time */
	long long mem_start;   /* MemAvailable when the probe began */
	long long mem_floor;   /* stop while MemAvailable is still above this */
	char why[256];         /* why the probe stopped */
};

static void budget_init(struct budget *b, long bound)
{
	b->bound = bound;
	if (bound % 1000000 == 0)
		snprintf(b->bound_why, sizeof(b->bound_why), "bound %ldM", bound / 1000000);
	else if (bound % 1000 == 0)
		snprintf(b->bound_why, sizeof(b->bound_why), "bound %ldk", bound / 1000);
	else
		snprintf(b->bound_why, sizeof(b->bound_why), "bound %ld", bound);
	b->deadline_ns = now_ns() + SPAWN_SECONDS * 1000000000LL;
	b->mem_start = meminfo_bytes("MemAvailable");
	b->mem_floor = b->mem_start > 0 ? b->mem_start / 4 : -1;
	b->why[0] = 0;
}

/* True (and b->why says which) when the count-th spawn must not happen. */
static bool budget_spent(struct budget *b, long count)
{
	if (count >= b->bound) {
		snprintf(b->why, sizeof(b->why), "%s", b->bound_why);
		return true;
	}
	if (count % CHECK_EVERY != 0)
		return false;
	if (now_ns() >= b->deadline_ns) {
		snprintf(b->why, sizeof(b->why), "time budget %d s", SPAWN_SECONDS);
		return true;
	}
	long long avail = meminfo_bytes("MemAvailable");
	if (b->mem_floor > 0 && avail >= 0 && avail <= b->mem_floor) {
		snprintf(b->why, sizeof(b->why),
			 "memory budget: MemAvailable down to %.0f MiB (of %.0f MiB at the start)",
			 mib(avail), mib(b->mem_start));
		return true;
	}
	return false;
}

/* The error that stopped spawning, with the mapping count when that may be why. */
static void budget_failed(struct budget *b, const char *call, const char *error)
{
	long maps = memory_maps(), max_maps = read_number("/proc/sys/vm/max_map_count");
	snprintf(b->why, sizeof(b->why), "%s: %s (%ld of vm.max_map_count %ld mappings in use)",
		 call, error, maps, max_maps);
}

static void print_value(const char *name, double value)
{
	printf("%s %.0f\n", name, value);
	fflush(stdout);
}

static void print_limit(const char *name, const char *why)
{
	printf("%s_limit %s\n", name, why);
	fflush(stdout);
}

/* What a probe saw, n of its unit started and parked since t0 with the resident
 * set at `before` when it began: on stdout, the resident bytes per one (rss_*) or
 * the count and why it stopped (max_*); on stderr, the detail. */
static void report(const char *name, bool is_max, const char *unit, long n, long long t0,
		   long long before, const struct budget *b)
{
	long long after = resident_bytes();
	fprintf(stderr, "bench_memory: %s: %ld %s parked in %.2f s (stopped by: %s), "
			"resident %.1f -> %.1f MiB\n",
		name, n, unit, (double)(now_ns() - t0) / 1e9, b->why, mib(before), mib(after));
	if (is_max) {
		print_value(name, (double)n);
		print_limit(name, b->why);
	} else if (n > 0) {
		print_value(name, (double)(after - before) / (double)n);
	}
}

/* ---- idle Orca tasks ---- */

static intptr_t idle_stackful_task(void *arg)
{
	(void)arg;
	int r = orca_sleep(IDLE_FOR);
	return r == -ECANCELED ? 0 : r;
}

/* Spawns idle tasks on rt from this (plain) thread until the budget says stop or a
 * spawn fails, then waits until every one is parked on its timer. Returns how many
 * were spawned; b->why says why it stopped. The tasks are detached: runtime
 * shutdown aborts them. */
static long spawn_idle_tasks(orca_runtime *rt, bool stackful, struct budget *b)
{
	long count = 0;
	while (!budget_spent(b, count)) {
		int err;
		if (stackful) {
			err = orca_spawn_on(rt, NULL, idle_stackful_task, NULL);
		} else {
			orca_sleep_future sleep;
			orca_sleep_future_init(&sleep, orca_now() + IDLE_FOR);
			err = orca_spawn_future_on(rt, NULL, &sleep.base, sizeof(sleep));
		}
		if (err) {
			budget_failed(b, stackful ? "orca_spawn_on" : "orca_spawn_future_on",
				      orca_strerror(err));
			break;
		}
		count++;
	}
	/* Parked = polled once, its timer armed (a task's first poll may lag its spawn). */
	long long park_deadline = now_ns() + PARK_SECONDS * 1000000000LL;
	orca_metrics m;
	for (;;) {
		orca_runtime_metrics(rt, &m);
		if ((long)m.timers_armed >= count)
			break;
		if (now_ns() >= park_deadline) {
			fprintf(stderr, "bench_memory: only %llu of %ld tasks parked after %d s\n",
				(unsigned long long)m.timers_armed, count, PARK_SECONDS);
			break;
		}
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	return count;
}

static orca_runtime *start_runtime(void)
{
	orca_runtime *rt;
	int err = orca_runtime_create(&rt, NULL);
	if (err) {
		fprintf(stderr, "bench_memory: orca_runtime_create: %s\n", orca_strerror(err));
		exit(1);
	}
	return rt;
}

/* Shuts rt down (aborting every idle task), frees it, trims the heap and says on
 * stderr how long that took and what the process holds afterwards. */
static void end_runtime(orca_runtime *rt, const char *probe)
{
	long long t0 = now_ns();
	int err = orca_runtime_shutdown(rt, SHUTDOWN_SECONDS * 1000000000LL);
	if (err)
		fprintf(stderr, "bench_memory: %s: shutdown: %s\n", probe, orca_strerror(err));
	orca_runtime_free(rt);
	malloc_trim(0);
	fprintf(stderr, "bench_memory: %s: runtime shut down in %.2f s; resident %.1f MiB after\n",
		probe, (double)(now_ns() - t0) / 1e9, mib(resident_bytes()));
}

static void task_probe(const char *name, long stackful, long bound, bool is_max)
{
	orca_runtime *rt = start_runtime();
	struct budget b;
	budget_init(&b, bound);
	long long t0 = now_ns(), before = resident_bytes();
	long n = spawn_idle_tasks(rt, stackful, &b);
	report(name, is_max, "tasks", n, t0, before, &b);
	end_runtime(rt, name);
}

static void rss_per_task(const char *name, long stackful, const struct settings *s)
{
	task_probe(name, stackful, s->tasks, false);
}

static void max_tasks(const char *name, long stackful, const struct settings *s)
{
	task_probe(name, stackful, s->task_bound, true);
}

/* ---- idle threads ---- */

/* The idle threads wait on `open` (a futex word) and count themselves in `parked`. */
static struct {
	atomic_long parked;
	atomic_int open;
} gate;

static void *idle_thread(void *arg)
{
	(void)arg;
	atomic_fetch_add(&gate.parked, 1);
	while (!atomic_load(&gate.open))
		syscall(SYS_futex, &gate.open, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

/* Creates idle threads (stack bytes each; 0 = the default attributes) into t[] until
 * the budget says stop or pthread_create fails, and waits until all are parked.
 * Returns how many run; release_idle_threads ends them. */
static long start_idle_threads(pthread_t *t, size_t stack, struct budget *b)
{
	atomic_store(&gate.parked, 0);
	atomic_store(&gate.open, 0);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (stack)
		pthread_attr_setstacksize(&attr, stack);
	long count = 0;
	while (!budget_spent(b, count)) {
		int err = pthread_create(&t[count], stack ? &attr : NULL, idle_thread, NULL);
		if (err) {
			budget_failed(b, "pthread_create", strerror(err));
			break;
		}
		count++;
	}
	pthread_attr_destroy(&attr);
	while (atomic_load(&gate.parked) < count) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	return count;
}

static void release_idle_threads(pthread_t *t, long count, const char *probe)
{
	long long t0 = now_ns();
	atomic_store(&gate.open, 1);
	syscall(SYS_futex, &gate.open, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	for (long i = 0; i < count; i++)
		pthread_join(t[i], NULL);
	malloc_trim(0);
	fprintf(stderr, "bench_memory: %s: %ld threads joined in %.2f s; resident %.1f MiB after\n",
		probe, count, (double)(now_ns() - t0) / 1e9, mib(resident_bytes()));
}

static pthread_t *thread_array(long n)
{
	pthread_t *t = calloc((size_t)n, sizeof(*t));
	if (!t) {
		fprintf(stderr, "bench_memory: out of memory for %ld thread ids\n", n);
		exit(1);
	}
	return t;
}

static void thread_probe(const char *name, size_t stack, struct budget *b, bool is_max)
{
	pthread_t *t = thread_array(b->bound > 0 ? b->bound : 1);
	long long kernel_stacks = meminfo_bytes("KernelStack");
	long long t0 = now_ns(), before = resident_bytes();
	long n = start_idle_threads(t, stack, b);
	report(name, is_max, "threads", n, t0, before, b);
	/* System-wide, so other processes' threads blur it a little. */
	if (n > 0)
		fprintf(stderr, "bench_memory: %s: kernel stacks %.0f bytes per thread besides\n",
			name, (double)(meminfo_bytes("KernelStack") - kernel_stacks) / (double)n);
	release_idle_threads(t, n, name);
	free(t);
}

static void rss_per_thread(const char *name, long stack, const struct settings *s)
{
	struct budget b;
	budget_init(&b, s->threads);
	thread_probe(name, (size_t)stack, &b, false);
}

/* The most threads this probe may start: the kernel's limits (threads-max, pid_max
 * and, when it applies, RLIMIT_NPROC) less the threads already running and a reserve
 * for everyone else, and the probe's own bound. Fills b's bound and bound_why. */
static void thread_limit(struct budget *b, long probe_bound)
{
	long running = threads_in_system();
	long threads_max = read_number("/proc/sys/kernel/threads-max");
	long pid_max = read_number("/proc/sys/kernel/pid_max");
	const char *which = "kernel.threads-max";
	long kernel = threads_max;
	if (pid_max > 0 && (kernel < 0 || pid_max < kernel)) {
		which = "kernel.pid_max";
		kernel = pid_max;
	}
	struct rlimit rl;
	/* RLIMIT_NPROC counts the user's threads; root is exempt from it. */
	if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (kernel < 0 || (long)rl.rlim_cur < kernel)) {
		which = "RLIMIT_NPROC";
		kernel = (long)rl.rlim_cur;
	}
	if (kernel < 0 || running < 0) {
		fprintf(stderr, "bench_memory: cannot read the kernel's thread limits\n");
		exit(1);
	}
	long reserve = kernel / 8 > 1024 ? kernel / 8 : 1024;
	long bound = kernel - running - reserve;
	if (probe_bound < bound) {
		b->bound = probe_bound;
		return; /* budget_init's bound_why stands */
	}
	b->bound = bound > 0 ? bound : 0;
	snprintf(b->bound_why, sizeof(b->bound_why),
		 "bound %s %ld less %ld threads running and %ld kept free", which, kernel, running,
		 reserve);
}

static void max_threads(const char *name, long unused, const struct settings *s)
{
	(void)unused;
	struct budget b;
	budget_init(&b, s->task_bound);
	thread_limit(&b, s->task_bound);
	thread_probe(name, MAX_THREADS_STACK, &b, true);
}

/* ---- the probes ---- */

static const struct probe {
	const char *name;
	void (*run)(const char *name, long variant, const struct settings *s);
	long variant;
} probes[] = {
	{"rss_per_idle_stackless_task_bytes", rss_per_task, 0},
	{"rss_per_idle_stackful_task_bytes", rss_per_task, 1},
	{"rss_per_idle_thread_bytes", rss_per_thread, 0},
	{"rss_per_idle_thread_64k_stack_bytes", rss_per_thread, SMALL_STACK},
	{"max_stackless_tasks", max_tasks, 0},
	{"max_stackful_tasks", max_tasks, 1},
	{"max_threads", max_threads, 0},
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

static bool known_probe(const char *name)
{
	for (size_t i = 0; i < NPROBES; i++)
		if (strcmp(name, probes[i].name) == 0)
			return true;
	return false;
}

static int usage(FILE *to, int status)
{
	fprintf(to, "usage: bench_memory [--quick] [NAME...]\nNAMEs (default: all):\n");
	for (size_t i = 0; i < NPROBES; i++)
		fprintf(to, "  %s\n", probes[i].name);
	return status;
}

int main(int argc, char **argv)
{
	struct settings s = {.tasks = 100000, .threads = 10000, .task_bound = 1000000};
	int named = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			return usage(stdout, 0);
		} else if (strcmp(argv[i], "--quick") == 0) {
			s = (struct settings){.tasks = 20000, .threads = 2000, .task_bound = 100000};
		} else if (known_probe(argv[i])) {
			named++;
		} else {
			fprintf(stderr, "bench_memory: unknown argument '%s'\n", argv[i]);
			return usage(stderr, 2);
		}
	}
	for (size_t p = 0; p < NPROBES; p++) {
		bool chosen = named == 0;
		for (int i = 1; i < argc && !chosen; i++)
			chosen = strcmp(argv[i], probes[p].name) == 0;
		if (chosen)
			probes[p].run(probes[p].name, probes[p].variant, &s);
	}
	return 0;
}
