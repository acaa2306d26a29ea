/* Stack overflow in a stackful task ends in a message naming the task instead of a
 * bare SIGSEGV. Each worker has an alternate signal stack (the task's own stack is
 * exhausted, so the handler cannot run on it); the process-wide SIGSEGV handler
 * checks whether the faulting address is in the guard page of the task running on
 * this worker. If so it prints which task and aborts; if not, the fault goes to the
 * handler that was installed before, as if Orca were not there. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "scheduler.h"

static struct sigaction previous_segv;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void write_str(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));
	(void)r;
}

static void write_u64(uint64_t v)
{
	char buf[24];
	int i = (int)sizeof(buf);
	buf[--i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i > 0);
	write_str(&buf[i]);
}

static void on_segv(int sig, siginfo_t *info, void *uctx)
{
	orca__worker *w = orca__worker_current();
	orca__task *t = w ? orca__worker_running(w) : NULL;
	if (t && t->kind == ORCA_TASK_STACKFUL) {
		orca__stackful_task *sf = (orca__stackful_task *)t;
		char *guard = sf->map;
		char *addr = info->si_addr;
		/* The guard page, or just below it: a big frame can jump past the page. */
		if (addr >= guard - 65536 && addr < guard + orca__page_size()) {
			write_str("orca: stack overflow in task ");
			write_u64(t->id);
			write_str(" (stack of ");
			write_u64(w->rt->stack_size / 1024);
			write_str(" KiB; raise orca_config.stack_size or move large buffers to the heap)\n");
			signal(SIGABRT, SIG_DFL);
			abort();
		}
	}
	/* Not ours: hand it to the handler that was there before, or, for the default
	 * action, restore it and return so the faulting instruction re-runs and the
	 * process dies the usual way (with its core dump). */
	if ((previous_segv.sa_flags & SA_SIGINFO) && previous_segv.sa_sigaction) {
		previous_segv.sa_sigaction(sig, info, uctx);
	} else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
		previous_segv.sa_handler(sig);
	} else {
		signal(sig, SIG_DFL);
	}
}

static void install_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &previous_segv);
}

int orca__overflow_guard_install_thread(orca__worker *w)
{
	pthread_once(&install_once, install_handler);
	size_t size = 64 * 1024;
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	stack_t ss = {.ss_sp = m, .ss_size = size, .ss_flags = 0};
	if (sigaltstack(&ss, NULL) != 0) {
		munmap(m, size);
		return -1;
	}
	w->altstack = m;
	w->altstack_size = size;
	return 0;
}

void orca__overflow_guard_remove_thread(orca__worker *w)
{
	if (!w->altstack)
		return;
	stack_t ss = {.ss_flags = SS_DISABLE};
	sigaltstack(&ss, NULL);
	munmap(w->altstack, w->altstack_size);
	w->altstack = NULL;
}
