/* The floor under Orca's task switch: two contexts switching directly with the
 * runtime's own assembly (orca__ctx_switch, runtime/context_*.S), no scheduler,
 * no atomics. A yield through the scheduler (orca_bench_yield_*) costs this plus
 * the task-state transitions and the run-queue push/pop. Uses the runtime's
 * private context.h (read-only): this is a measurement of the runtime's switch,
 * not public API. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "micro.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "context.h"

#define FLOOR_STACK (64 * 1024)

static orca__ctx floor_main, floor_co;
static long floor_n;

static void floor_entry(void *arg)
{
	(void)arg;
	for (;;)
		orca__ctx_switch(&floor_co.sp, floor_main.sp);
}

double orca_bench_raw_switch(long n)
{
	void *stack = mmap(NULL, FLOOR_STACK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		perror("bench: mmap");
		abort();
	}
	floor_n = n;
	orca__ctx_init_thread(&floor_main);
	orca__ctx_make(&floor_co, stack, FLOOR_STACK, floor_entry, NULL);
	long long t0 = bench_now_ns();
	for (long i = 0; i < floor_n; i++)
		orca__ctx_switch(&floor_main.sp, floor_co.sp);
	long long t1 = bench_now_ns();
	/* The coroutine is parked inside its loop; its stack simply goes away. */
	munmap(stack, FLOOR_STACK);
	return (double)(t1 - t0) / (2.0 * (double)n);
}
