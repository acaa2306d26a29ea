/* The task dump (orca_runtime_dump) and its signal trigger (orca_config.dump_signal).
 *
 * Dump: reads every worker's running task (a pointer, compared, never followed),
 * then walks the 64 owned-list shards one at a time, copying each live task's name,
 * id, state word and wait fields under the shard's lock (a task in the list is
 * alive: completion removes it under that lock), and prints after unlocking. No
 * worker is stopped; a task may change state while the dump runs, so each line is
 * a snapshot of that task, not of the whole runtime at one instant.
 *
 * Signal (Tokio's #6035 deadlocked by dumping from inside the handler): the handler
 * only writes the signal's number into a pipe (non-blocking, async-signal-safe) and
 * calls the handler that was installed before it, if any. One helper thread for the
 * process reads the pipe and dumps every registered runtime that asked for that
 * signal. The registry is a list under a mutex that the handler never touches;
 * orca__observe_stop unregisters a runtime before it is freed. The pipe, the thread
 * and the handler stay for the life of the process once installed: signal
 * dispositions are process-wide, and a handler left without its pipe would lose the
 * signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "scheduler.h"

typedef struct task_snap {
	uint64_t id;
	uint64_t state;
	int64_t spawned_at;
	int64_t since;
	int64_t detail;
	const char *what;
	int worker; /* running on it, or -1 */
	uint8_t fmt;
	uint8_t kind;
	char name[ORCA_TASK_NAME_MAX];
} task_snap;

static void snap_task(task_snap *s, orca__task *t, orca__task *const *running, unsigned nw)
{
	s->id = t->id;
	s->state = atomic_load_explicit(&t->state, memory_order_acquire);
	s->spawned_at = t->spawned_at;
	s->since = atomic_load_explicit(&t->since, memory_order_relaxed);
	s->what = atomic_load_explicit(&t->wait_what, memory_order_relaxed);
	s->detail = atomic_load_explicit(&t->wait_detail, memory_order_relaxed);
	s->fmt = atomic_load_explicit(&t->wait_fmt, memory_order_relaxed);
	s->kind = t->kind;
	s->worker = -1;
	for (unsigned i = 0; i < nw; i++)
		if (running[i] == t)
			s->worker = (int)i;
	s->name[0] = '\0';
	if (t->name) {
		/* Names are ours (copied) or string literals: both outlive the task,
		 * which outlives this lock. */
		size_t n = strnlen(t->name, sizeof(s->name) - 1);
		memcpy(s->name, t->name, n);
		s->name[n] = '\0';
	}
}

static int by_id(const void *a, const void *b)
{
	uint64_t x = ((const task_snap *)a)->id, y = ((const task_snap *)b)->id;
	return x < y ? -1 : x > y;
}

/* "1.25 s", "3.4 ms", "120 us" */
static const char *fmt_dur(char *buf, size_t len, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	if (ns >= ORCA_SEC(1))
		snprintf(buf, len, "%.2f s", (double)ns / 1e9);
	else if (ns >= ORCA_MSEC(1))
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%lld us", (long long)(ns / 1000));
	return buf;
}

static void print_name(FILE *out, const task_snap *s)
{
	if (!s->name[0]) {
		fputs(s->kind == ORCA_TASK_STACKLESS ? "(future)" : "(unnamed)", out);
		return;
	}
	fputc('"', out);
	for (const char *c = s->name; *c; c++)
		fputc((unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c, out);
	fputc('"', out);
}

static void print_wait(FILE *out, const task_snap *s, int64_t now)
{
	char d[32];
	if (!s->what) {
		fputs("waiting (on a future that does not say what)", out);
		return;
	}
	fprintf(out, "waiting on %s", s->what);
	switch ((enum orca__wait_fmt)s->fmt) {
	case ORCA__WAIT_FD:
		fprintf(out, " (fd %lld)", (long long)s->detail);
		break;
	case ORCA__WAIT_DEADLINE:
		if (s->detail == INT64_MAX)
			fputs(" (no deadline)", out);
		else if (s->detail >= now)
			fprintf(out, " (deadline in %s)", fmt_dur(d, sizeof(d), s->detail - now));
		else
			fprintf(out, " (deadline passed %s ago)",
				fmt_dur(d, sizeof(d), now - s->detail));
		break;
	case ORCA__WAIT_ADDR:
		fprintf(out, " (%p)", (void *)(intptr_t)s->detail);
		break;
	case ORCA__WAIT_TASK:
		fprintf(out, " (task %lld)", (long long)s->detail);
		break;
	case ORCA__WAIT_PLAIN:
		break;
	}
}

static void print_task(FILE *out, const task_snap *s, int64_t now)
{
	char d1[32], d2[32];
	fprintf(out, "  task %llu ", (unsigned long long)s->id);
	print_name(out, s);
	fputs(": ", out);
	if (s->state & ORCA_ST_COMPLETE)
		fputs("finishing", out);
	else if ((s->state & ORCA_ST_RUNNING) && s->worker >= 0)
		fprintf(out, "running on worker %d, ready for %s", s->worker,
			fmt_dur(d1, sizeof(d1), now - s->since));
	else if (s->state & (ORCA_ST_RUNNING | ORCA_ST_NOTIFIED)) /* RUNNING: yielded */
		fprintf(out, "runnable for %s", fmt_dur(d1, sizeof(d1), now - s->since));
	else {
		print_wait(out, s, now);
		fprintf(out, " for %s", fmt_dur(d1, sizeof(d1), now - s->since));
	}
	if (s->state & ORCA_ST_CANCELLED)
		fputs(", aborted", out);
	fprintf(out, "; age %s\n", fmt_dur(d2, sizeof(d2), now - s->spawned_at));
}

int orca_runtime_dump(orca_runtime *rt, FILE *out)
{
	if (!rt || !out)
		return -EINVAL;
	unsigned nw = rt->nworkers;
	orca__task **running = calloc(nw, sizeof(*running));
	if (!running)
		return -ENOMEM;
	for (unsigned i = 0; i < nw; i++)
		running[i] = orca__worker_running(rt->workers[i]);
	size_t cap = 64, n = 0;
	task_snap *snaps = malloc(cap * sizeof(*snaps));
	int err = snaps ? 0 : -ENOMEM;
	for (unsigned i = 0; i < ORCA_OWNED_SHARDS && !err; i++) {
		orca__owned_shard *sh = &rt->owned[i];
		pthread_mutex_lock(&sh->lock);
		for (orca__task *t = sh->head; t; t = t->owned_next) {
			if (n == cap) {
				task_snap *more = realloc(snaps, 2 * cap * sizeof(*snaps));
				if (!more) {
					err = -ENOMEM;
					break;
				}
				snaps = more;
				cap *= 2;
			}
			snap_task(&snaps[n++], t, running, nw);
		}
		pthread_mutex_unlock(&sh->lock);
	}
	free(running);
	if (err) {
		free(snaps);
		return err;
	}
	qsort(snaps, n, sizeof(*snaps), by_id);
	int64_t now = orca_now();
	size_t nrun = 0, nready = 0;
	for (size_t i = 0; i < n; i++) {
		if ((snaps[i].state & ORCA_ST_RUNNING) && snaps[i].worker >= 0)
			nrun++;
		else if (snaps[i].state & (ORCA_ST_RUNNING | ORCA_ST_NOTIFIED))
			nready++; /* RUNNING off a worker: it yielded */
	}
	char up[32];
	fprintf(out,
		"orca: task dump of runtime %p (%u worker%s, %s, up %s): %zu live task%s, "
		"%zu running, %zu runnable, %zu waiting\n",
		(void *)rt, nw, nw == 1 ? "" : "s", orca__backend_name(rt->backend),
		fmt_dur(up, sizeof(up), now - rt->observer.created_at), n, n == 1 ? "" : "s", nrun,
		nready, n - nrun - nready);
	for (size_t i = 0; i < n; i++)
		print_task(out, &snaps[i], now);
	fprintf(out, "orca: end of task dump (%zu task%s)\n", n, n == 1 ? "" : "s");
	fflush(out);
	free(snaps);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

/* ---- the dump signal ------------------------------------------------------------------- */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static orca_runtime *registry; /* under registry_lock, linked by observer.next */
static int signal_pipe[2] = {-1, -1};
static bool handler_installed[NSIG];   /* under registry_lock */
static struct sigaction previous[NSIG]; /* written before the handler is installed */

void orca__signal_chain(const struct sigaction *p, int sig, siginfo_t *info, void *uc)
{
	if ((p->sa_flags & SA_SIGINFO) && p->sa_sigaction)
		p->sa_sigaction(sig, info, uc);
	else if (!(p->sa_flags & SA_SIGINFO) && p->sa_handler != SIG_DFL &&
		 p->sa_handler != SIG_IGN && p->sa_handler)
		p->sa_handler(sig);
}

static void on_dump_signal(int sig, siginfo_t *info, void *uc)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	ssize_t r = write(signal_pipe[1], &b, 1); /* full pipe: a dump is pending anyway */
	(void)r;
	orca__signal_chain(&previous[sig], sig, info, uc);
	errno = saved;
}

static void *dump_thread_main(void *arg)
{
	(void)arg;
	for (;;) {
		unsigned char b;
		ssize_t r = read(signal_pipe[0], &b, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NULL;
		pthread_mutex_lock(&registry_lock);
		for (orca_runtime *rt = registry; rt; rt = rt->observer.next)
			if (rt->observer.dump_signal == b)
				orca_runtime_dump(rt, stderr);
		pthread_mutex_unlock(&registry_lock);
	}
}

/* Under registry_lock: the pipe and the thread, once per process. */
static int start_dump_thread(void)
{
	if (signal_pipe[0] >= 0)
		return 0;
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* The pipe must be in place before the thread reads it. */
	signal_pipe[0] = fds[0];
	signal_pipe[1] = fds[1];
	int err = pthread_create(&th, &attr, dump_thread_main, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		close(fds[0]);
		close(fds[1]);
		signal_pipe[0] = signal_pipe[1] = -1;
		return -err;
	}
	return 0;
}

int orca__dump_signal_register(orca_runtime *rt)
{
	int sig = rt->observer.dump_signal;
	pthread_mutex_lock(&registry_lock);
	int err = start_dump_thread();
	if (!err && !handler_installed[sig]) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_dump_signal;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sig, &sa, &previous[sig]) != 0)
			err = -errno;
		else
			handler_installed[sig] = true;
	}
	if (!err) {
		rt->observer.next = registry;
		registry = rt;
	}
	pthread_mutex_unlock(&registry_lock);
	if (!err)
		orca__log_debug("runtime: task dump on signal %d (SIG%s)", sig, sigabbrev_np(sig));
	return err;
}

void orca__dump_signal_unregister(orca_runtime *rt)
{
	pthread_mutex_lock(&registry_lock);
	for (orca_runtime **p = &registry; *p; p = &(*p)->observer.next) {
		if (*p == rt) {
			*p = rt->observer.next;
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
}
