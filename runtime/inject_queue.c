#include "inject_queue.h"

void orca__inject_init(orca__inject *q)
{
	pthread_mutex_init(&q->lock, NULL);
	q->head = q->tail = NULL;
	atomic_init(&q->len, 0);
	q->closed = false;
}

void orca__inject_destroy(orca__inject *q)
{
	pthread_mutex_destroy(&q->lock);
}

bool orca__inject_push_batch(orca__inject *q, orca__qnode *first, orca__qnode *last, size_t count)
{
	last->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->closed) {
		pthread_mutex_unlock(&q->lock);
		return false;
	}
	if (q->tail)
		q->tail->next = first;
	else
		q->head = first;
	q->tail = last;
	/* Release: pairs with the acquire in orca__inject_is_empty, so a worker that
	 * sees len > 0 and then takes the lock finds the items. */
	atomic_store_explicit(&q->len, atomic_load_explicit(&q->len, memory_order_relaxed) + count,
			      memory_order_release);
	pthread_mutex_unlock(&q->lock);
	return true;
}

bool orca__inject_push(orca__inject *q, orca__qnode *n)
{
	return orca__inject_push_batch(q, n, n, 1);
}

orca__qnode *orca__inject_pop_n(orca__inject *q, size_t max, size_t *count)
{
	*count = 0;
	if (orca__inject_is_empty(q) || max == 0)
		return NULL;
	pthread_mutex_lock(&q->lock);
	orca__qnode *first = q->head, *last = NULL, *n = first;
	size_t k = 0;
	while (n && k < max) {
		last = n;
		n = n->next;
		k++;
	}
	if (k) {
		q->head = n;
		if (!n)
			q->tail = NULL;
		last->next = NULL;
		atomic_store_explicit(&q->len, atomic_load_explicit(&q->len, memory_order_relaxed) - k,
				      memory_order_release);
	}
	pthread_mutex_unlock(&q->lock);
	*count = k;
	return k ? first : NULL;
}

orca__qnode *orca__inject_pop(orca__inject *q)
{
	size_t k;
	return orca__inject_pop_n(q, 1, &k);
}

orca__qnode *orca__inject_close(orca__inject *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	orca__qnode *all = q->head;
	q->head = q->tail = NULL;
	atomic_store_explicit(&q->len, 0, memory_order_release);
	pthread_mutex_unlock(&q->lock);
	return all;
}
