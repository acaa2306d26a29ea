/* See idle.h for the protocol; numbers refer to its steps. */
#include "idle.h"

#include <stdlib.h>

#define UNPARKED_ONE ((uint32_t)1 << 16)
#define SEARCHING_MASK (UNPARKED_ONE - 1)

static unsigned num_searching(uint32_t s)
{
	return s & SEARCHING_MASK;
}
static unsigned num_unparked(uint32_t s)
{
	return s >> 16;
}

int orca__idle_init(orca__idle *idle, unsigned nworkers)
{
	atomic_init(&idle->state, nworkers * UNPARKED_ONE);
	idle->nworkers = nworkers;
	pthread_mutex_init(&idle->lock, NULL);
	idle->sleepers = calloc(nworkers, sizeof(unsigned));
	idle->nsleepers = 0;
	return idle->sleepers ? 0 : -1;
}

void orca__idle_destroy(orca__idle *idle)
{
	free(idle->sleepers);
	pthread_mutex_destroy(&idle->lock);
}

bool orca__idle_to_searching(orca__idle *idle)
{
	uint32_t s = atomic_load_explicit(&idle->state, memory_order_seq_cst);
	if (2 * num_searching(s) >= idle->nworkers)
		return false;
	atomic_fetch_add_explicit(&idle->state, 1, memory_order_seq_cst);
	return true;
}

bool orca__idle_from_searching(orca__idle *idle)
{
	uint32_t prev = atomic_fetch_sub_explicit(&idle->state, 1, memory_order_seq_cst);
	return num_searching(prev) == 1;
}

bool orca__idle_to_parked(orca__idle *idle, unsigned worker, bool searching)
{
	pthread_mutex_lock(&idle->lock);
	uint32_t dec = UNPARKED_ONE + (searching ? 1 : 0);
	uint32_t prev = atomic_fetch_sub_explicit(&idle->state, dec, memory_order_seq_cst);
	bool last = searching && num_searching(prev) == 1;
	idle->sleepers[idle->nsleepers++] = worker;
	pthread_mutex_unlock(&idle->lock);
	return last;
}

static bool should_wakeup(orca__idle *idle)
{
	/* fetch_add(0) rather than a load: a SeqCst read-modify-write orders this read
	 * after the caller's push of work (Tokio does the same). */
	uint32_t s = atomic_fetch_add_explicit(&idle->state, 0, memory_order_seq_cst);
	return num_searching(s) == 0 && num_unparked(s) < idle->nworkers;
}

int orca__idle_worker_to_notify(orca__idle *idle)
{
	if (!should_wakeup(idle))
		return -1;
	pthread_mutex_lock(&idle->lock);
	int w = -1;
	if (should_wakeup(idle) && idle->nsleepers) {
		atomic_fetch_add_explicit(&idle->state, UNPARKED_ONE + 1, memory_order_seq_cst);
		w = (int)idle->sleepers[--idle->nsleepers];
	}
	pthread_mutex_unlock(&idle->lock);
	return w;
}

bool orca__idle_unpark_by_id(orca__idle *idle, unsigned worker)
{
	bool found = false;
	pthread_mutex_lock(&idle->lock);
	for (unsigned i = 0; i < idle->nsleepers; i++) {
		if (idle->sleepers[i] == worker) {
			idle->sleepers[i] = idle->sleepers[--idle->nsleepers];
			atomic_fetch_add_explicit(&idle->state, UNPARKED_ONE, memory_order_seq_cst);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&idle->lock);
	return found;
}

bool orca__idle_is_parked(orca__idle *idle, unsigned worker)
{
	bool found = false;
	pthread_mutex_lock(&idle->lock);
	for (unsigned i = 0; i < idle->nsleepers; i++)
		if (idle->sleepers[i] == worker)
			found = true;
	pthread_mutex_unlock(&idle->lock);
	return found;
}

unsigned orca__idle_num_searching(orca__idle *idle)
{
	return num_searching(atomic_load_explicit(&idle->state, memory_order_relaxed));
}
