/* The runtime's blocking pool (protocol in blocking_pool.c). */
#ifndef ORCA_RUNTIME_BLOCKING_POOL_H
#define ORCA_RUNTIME_BLOCKING_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct blocking_job;

typedef struct orca__blocking_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;   /* a job was queued, or stopping */
	pthread_cond_t exited; /* a thread exited */
	struct blocking_job *head, *tail;
	unsigned queued, threads, idle, max_threads;
	int64_t keep_alive_ns;
	bool stopping;
} orca__blocking_pool;

int orca__blocking_pool_init(orca__blocking_pool *p, unsigned max_threads, int64_t keep_alive_ns);
/* Wakes every thread and waits until all have exited; later jobs get -ESHUTDOWN. */
void orca__blocking_pool_shutdown(orca__blocking_pool *p);
void orca__blocking_pool_destroy(orca__blocking_pool *p);
unsigned orca__blocking_pool_threads(orca__blocking_pool *p);
/* Threads, idle threads and queued jobs now (under the pool's lock). */
void orca__blocking_pool_stats(orca__blocking_pool *p, uint64_t *threads, uint64_t *idle,
			       uint64_t *queued);

#endif
