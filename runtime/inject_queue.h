/* The inject queue: one per runtime, FIFO, any thread. Work from outside threads
 * and the overflow of full local run queues lands here; workers take from it when
 * their own queue is empty and every ~61 ticks for fairness. A mutex guards the
 * list (Tokio does the same: it is off the hot path); `len` lets workers see it is
 * empty without taking the lock.
 *
 * Model: tests/model/inject_queue_model.cc (relacy). */
#ifndef ORCA_RUNTIME_INJECT_QUEUE_H
#define ORCA_RUNTIME_INJECT_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "queue_node.h"

typedef struct orca__inject {
	pthread_mutex_t lock;
	orca__qnode *head, *tail; /* under lock */
	_Atomic size_t len;       /* written under lock, read anywhere */
	bool closed;              /* under lock */
} orca__inject;

void orca__inject_init(orca__inject *q);
void orca__inject_destroy(orca__inject *q);
/* Appends one item. Returns false (item not queued) once the queue is closed. */
bool orca__inject_push(orca__inject *q, orca__qnode *n);
/* Appends a chain first..last of count items (linked through next). */
bool orca__inject_push_batch(orca__inject *q, orca__qnode *first, orca__qnode *last, size_t count);
/* Removes the oldest item, or returns NULL. */
orca__qnode *orca__inject_pop(orca__inject *q);
/* Removes up to max items; returns the chain (NULL-terminated) and its length. */
orca__qnode *orca__inject_pop_n(orca__inject *q, size_t max, size_t *count);
/* Refuses further pushes; returns what is still queued as a chain. */
orca__qnode *orca__inject_close(orca__inject *q);

static inline bool orca__inject_is_empty(orca__inject *q)
{
	return atomic_load_explicit(&q->len, memory_order_acquire) == 0;
}

#endif
