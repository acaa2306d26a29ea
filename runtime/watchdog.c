/* The blocking detector: a watchdog thread per runtime (when asked for) that reports
 * a task keeping a worker in one poll for longer than the threshold. Go's sysmon
 * does the same with its schedtick; here a worker publishes nothing it would not
 * anyway: its poll counter and running task (observe.h steps 1-3), no clock read.
 *
 * Protocol:
 *  1. every threshold/4 (at least 1 ms, at most 250 ms) the watchdog reads each
 *     worker's (polls, current). A pair unchanged since it was first seen, with a
 *     task running, for at least the threshold is a blocked worker: the poll has
 *     run for at least that long, and never more than a period beyond it when the
 *     report comes out (so it never fires early).
 *  2. it reads the task's id and name under the task's shard lock (observe.h step
 *     3) and reports once per poll; when the pair changes it reports how long the
 *     poll took in the end (to within a period).
 *  3. the stack: if the worker thread is running (state R in /proc), the watchdog
 *     sends it SIGURG (ignored by default, Go's choice for the same reason), whose
 *     handler records backtrace() into a one-slot request that only the target
 *     thread may fill; the watchdog waits up to 100 ms for it. A thread blocked in
 *     a system call is not signalled (the signal would make sleep() return early or
 *     poll() fail with EINTR in the user's code): the report gives the system call
 *     number from /proc instead. backtrace() is loaded once beforehand, so the
 *     handler does not allocate.
 */
#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver.h"
#include "scheduler.h"

#define STACK_FRAMES 48
#define STACK_WAIT_NS ORCA_MSEC(100)

enum { REQ_IDLE = 0, REQ_ASKED, REQ_TAKING, REQ_DONE };

/* One stack request at a time for the process (stack_lock). */
static pthread_mutex_t stack_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	_Atomic int state;
	pthread_t target; /* written before state becomes ASKED (release) */
	void *frames[STACK_FRAMES];
	int n;
} stack_req;
static bool stack_handler_installed; /* under stack_lock */
static struct sigaction stack_previous;

static void on_stack_signal(int sig, siginfo_t *info, void *uc)
{
	int saved = errno;
	int expected = REQ_ASKED;
	if (atomic_load_explicit(&stack_req.state, memory_order_acquire) == REQ_ASKED &&
	    pthread_equal(stack_req.target, pthread_self()) &&
	    atomic_compare_exchange_strong_explicit(&stack_req.state, &expected, REQ_TAKING,
						    memory_order_acquire, memory_order_relaxed)) {
		stack_req.n = backtrace(stack_req.frames, STACK_FRAMES);
		atomic_store_explicit(&stack_req.state, REQ_DONE, memory_order_release);
	}
	orca__signal_chain(&stack_previous, sig, info, uc);
	errno = saved;
}

static int install_stack_handler(void)
{
	int err = 0;
	pthread_mutex_lock(&stack_lock);
	if (!stack_handler_installed) {
		void *one[2];
		backtrace(one, 2); /* loads the unwinder now, not in the handler */
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_stack_signal;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGURG, &sa, &stack_previous) != 0)
			err = -errno;
		else
			stack_handler_installed = true;
	}
	pthread_mutex_unlock(&stack_lock);
	return err;
}

/* The thread's scheduler state letter from /proc ('R' running, 'S' sleeping, ...)
 * and, when not running, the system call it is in (-1 if unknown). */
static char thread_state(pid_t tid, long *syscall_nr)
{
	char path[64], buf[512];
	*syscall_nr = -1;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the name may contain anything */
	char st = p && p[1] == ' ' ? p[2] : '?';
	if (st != 'R') {
		snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
		f = fopen(path, "re");
		if (f) {
			if (fscanf(f, "%ld", syscall_nr) != 1)
				*syscall_nr = -1;
			fclose(f);
		}
	}
	return st;
}

/* Takes worker w's stack (step 3); returns the number of frames, 0 if none. */
static int take_stack(orca__worker *w, void **frames)
{
	pthread_mutex_lock(&stack_lock);
	stack_req.target = w->thread;
	atomic_store_explicit(&stack_req.state, REQ_ASKED, memory_order_release);
	int n = 0;
	if (pthread_kill(w->thread, SIGURG) == 0) {
		struct timespec pause = {0, 1000000};
		for (int64_t waited = 0; waited < STACK_WAIT_NS; waited += pause.tv_nsec) {
			int st = atomic_load_explicit(&stack_req.state, memory_order_acquire);
			if (st == REQ_DONE)
				break;
			nanosleep(&pause, NULL);
		}
	}
	int expected = REQ_ASKED;
	if (!atomic_compare_exchange_strong_explicit(&stack_req.state, &expected, REQ_IDLE,
						     memory_order_acquire, memory_order_acquire)) {
		/* Taken or being taken: the handler finishes in microseconds. */
		while (atomic_load_explicit(&stack_req.state, memory_order_acquire) != REQ_DONE)
			sched_yield();
		n = stack_req.n;
		memcpy(frames, stack_req.frames, (size_t)n * sizeof(void *));
		atomic_store_explicit(&stack_req.state, REQ_IDLE, memory_order_relaxed);
	}
	pthread_mutex_unlock(&stack_lock);
	return n;
}

typedef struct seen {
	uint64_t polls;
	orca__task *task;
	int64_t first_seen;
	bool reported;
	uint64_t id;
	char name[ORCA_TASK_NAME_MAX];
} seen;

/* Step 2: the id and name of task p, if it is still in the poll seen. */
static bool read_task(orca_runtime *rt, orca__worker *w, seen *s)
{
	orca__owned_shard *sh = &rt->owned[orca__owned_shard_index(s->task)];
	bool same;
	pthread_mutex_lock(&sh->lock);
	same = orca__worker_running(w) == s->task &&
	       atomic_load_explicit(&w->stats.polls, memory_order_relaxed) == s->polls;
	if (same) {
		s->id = s->task->id;
		const char *name = s->task->name;
		size_t n = name ? strnlen(name, sizeof(s->name) - 1) : 0;
		memcpy(s->name, name ? name : "", n);
		s->name[n] = '\0';
	}
	pthread_mutex_unlock(&sh->lock);
	return same;
}

static void report(orca_runtime *rt, orca__worker *w, seen *s, int64_t now)
{
	if (!read_task(rt, w, s))
		return; /* the poll ended meanwhile */
	s->reported = true;
	orca__stat_add(&w->stats.blocked_polls, 1);
	long sys;
	char st = thread_state(w->tid, &sys);
	void *frames[STACK_FRAMES];
	int n = st == 'R' ? take_stack(w, frames) : 0;
	/* One buffer, one write: lines of concurrent reports stay whole. */
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	if (!out)
		return;
	fprintf(out,
		"orca: blocking detector: task %llu \"%s\" has kept worker %u busy in one poll "
		"for over %lld ms (threshold %lld ms): it should await, orca_yield() or move the "
		"work to orca_spawn_blocking()\n",
		(unsigned long long)s->id, s->name[0] ? s->name : "(unnamed)", w->index,
		(long long)((now - s->first_seen) / 1000000),
		(long long)(rt->observer.threshold_ns / 1000000));
	if (n > 0) {
		fprintf(out, "orca: stack of worker %u (thread %d):\n", w->index, (int)w->tid);
		char **sym = backtrace_symbols(frames, n);
		/* Frame 0-1 are the signal handler and the kernel's return trampoline. */
		for (int i = 2; i < n; i++)
			fprintf(out, "    #%d %s\n", i - 2, sym ? sym[i] : "?");
		free(sym);
	} else if (st != 'R' && sys >= 0) {
		fprintf(out,
			"orca: stack of worker %u not taken: its thread %d is blocked in system "
			"call %ld (a signal would interrupt it)\n",
			w->index, (int)w->tid, sys);
	} else {
		fprintf(out, "orca: stack of worker %u not taken: the thread did not answer\n",
			w->index);
	}
	fclose(out);
	fwrite(text, 1, len, stderr);
	fflush(stderr);
	free(text);
}

static void report_end(orca__worker *w, const seen *s, int64_t now, int64_t period)
{
	fprintf(stderr,
		"orca: blocking detector: task %llu \"%s\" released worker %u after ~%lld ms\n",
		(unsigned long long)s->id, s->name[0] ? s->name : "(unnamed)", w->index,
		(long long)((now - s->first_seen + period / 2) / 1000000));
}

static void *watchdog_main(void *arg)
{
	orca_runtime *rt = arg;
	orca__observer *o = &rt->observer;
	int64_t period = o->threshold_ns / 4;
	if (period < ORCA_MSEC(1))
		period = ORCA_MSEC(1);
	if (period > ORCA_MSEC(250))
		period = ORCA_MSEC(250);
	seen *seen_by = calloc(rt->nworkers, sizeof(*seen_by));
	if (!seen_by)
		return NULL;
	pthread_mutex_lock(&o->lock);
	while (!o->stop) {
		int64_t wake = orca_now() + period;
		struct timespec ts = {.tv_sec = wake / 1000000000, .tv_nsec = wake % 1000000000};
		pthread_cond_timedwait(&o->cond, &o->lock, &ts);
		if (o->stop)
			break;
		pthread_mutex_unlock(&o->lock);
		int64_t now = orca_now();
		for (unsigned i = 0; i < rt->nworkers; i++) {
			orca__worker *w = rt->workers[i];
			seen *s = &seen_by[i];
			uint64_t polls =
				atomic_load_explicit(&w->stats.polls, memory_order_relaxed);
			orca__task *t = orca__worker_running(w);
			if (!t || polls != s->polls || t != s->task) {
				if (s->reported)
					report_end(w, s, now, period);
				s->polls = polls;
				s->task = t;
				s->first_seen = now;
				s->reported = false;
				continue;
			}
			if (!s->reported && now - s->first_seen >= o->threshold_ns)
				report(rt, w, s, now);
		}
		pthread_mutex_lock(&o->lock);
	}
	pthread_mutex_unlock(&o->lock);
	free(seen_by);
	return NULL;
}

int orca__observe_start(orca_runtime *rt)
{
	orca__observer *o = &rt->observer;
	if (o->dump_signal) {
		int err = orca__dump_signal_register(rt);
		if (err)
			return err;
		o->dump_registered = true;
	}
	if (o->threshold_ns > 0) {
		int err = install_stack_handler();
		if (!err)
			err = -pthread_create(&o->watchdog, NULL, watchdog_main, rt);
		if (err) {
			orca__observe_stop(rt);
			return err;
		}
		o->watchdog_running = true;
		orca__log_debug("runtime: blocking detector on, threshold %lld ms",
				(long long)(o->threshold_ns / 1000000));
	}
	return 0;
}

void orca__observe_stop(orca_runtime *rt)
{
	orca__observer *o = &rt->observer;
	if (o->dump_registered) {
		orca__dump_signal_unregister(rt);
		o->dump_registered = false;
	}
	if (o->watchdog_running) {
		pthread_mutex_lock(&o->lock);
		o->stop = true;
		pthread_cond_signal(&o->cond);
		pthread_mutex_unlock(&o->lock);
		pthread_join(o->watchdog, NULL);
		o->watchdog_running = false;
		orca__log_debug("shutdown: step 4: blocking detector stopped");
	}
}
