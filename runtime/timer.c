/* See timer.h for the protocol; numbers refer to its steps. */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>

#include "panic.h"

void orca__timer_heap_init(orca__timer_heap *h)
{
	pthread_mutex_init(&h->lock, NULL);
	h->items = NULL;
	h->len = h->cap = 0;
	atomic_init(&h->armed, 0);
}

void orca__timer_heap_destroy(orca__timer_heap *h)
{
	free(h->items);
	h->items = NULL;
	pthread_mutex_destroy(&h->lock);
}

static void place(orca__timer_heap *h, size_t i, orca__timer_entry *e)
{
	h->items[i] = e;
	e->index = i;
}

static void sift_up(orca__timer_heap *h, size_t i)
{
	orca__timer_entry *e = h->items[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->items[parent]->deadline <= e->deadline)
			break;
		place(h, i, h->items[parent]);
		i = parent;
	}
	place(h, i, e);
}

static void sift_down(orca__timer_heap *h, size_t i)
{
	orca__timer_entry *e = h->items[i];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		int64_t best = e->deadline;
		if (l < h->len && h->items[l]->deadline < best) {
			m = l;
			best = h->items[l]->deadline;
		}
		if (r < h->len && h->items[r]->deadline < best)
			m = r;
		if (m == i)
			break;
		place(h, i, h->items[m]);
		i = m;
	}
	place(h, i, e);
}

static void remove_at(orca__timer_heap *h, size_t i)
{
	if (i >= h->len || !h->items[i])
		orca__panic("timer heap: removal of an entry that is not in the heap");
	h->len--;
	atomic_store_explicit(&h->armed, h->len, memory_order_relaxed);
	if (i == h->len)
		return;
	orca__timer_entry *moved = h->items[h->len];
	place(h, i, moved);
	sift_down(h, i);
	sift_up(h, moved->index);
}

int orca__timer_arm(orca__timer_heap *h, orca__timer_entry *e, const orca_waker *w,
		    bool *earliest)
{
	pthread_mutex_lock(&h->lock);
	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		orca__timer_entry **items = realloc(h->items, cap * sizeof(*items));
		if (!items) {
			pthread_mutex_unlock(&h->lock);
			return -ENOMEM;
		}
		h->items = items;
		h->cap = cap;
	}
	e->heap = h;
	e->waker = orca_waker_clone(w);
	e->state = ORCA_TIMER_ARMED;
	h->items[h->len] = e;
	e->index = h->len++;
	atomic_store_explicit(&h->armed, h->len, memory_order_relaxed);
	sift_up(h, e->index);
	*earliest = e->index == 0;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

bool orca__timer_check(orca__timer_entry *e, const orca_waker *w)
{
	orca__timer_heap *h = e->heap;
	pthread_mutex_lock(&h->lock);
	bool fired = e->state == ORCA_TIMER_FIRED;
	if (!fired && !orca_waker_will_wake(&e->waker, w)) {
		orca_waker_drop(&e->waker);
		e->waker = orca_waker_clone(w);
	}
	pthread_mutex_unlock(&h->lock);
	return fired;
}

void orca__timer_cancel(orca__timer_entry *e)
{
	orca__timer_heap *h = e->heap;
	if (!h)
		return;
	orca_waker w = {0};
	pthread_mutex_lock(&h->lock);
	if (e->state == ORCA_TIMER_ARMED) {
		remove_at(h, e->index);
		w = e->waker;
		e->waker = (orca_waker){0};
	}
	e->state = ORCA_TIMER_IDLE;
	e->heap = NULL;
	pthread_mutex_unlock(&h->lock);
	orca_waker_drop(&w);
}

size_t orca__timer_fire(orca__timer_heap *h, int64_t now)
{
	enum { BATCH = 64 };
	orca_waker due[BATCH];
	size_t total = 0;
	for (;;) {
		size_t n = 0;
		pthread_mutex_lock(&h->lock);
		while (n < BATCH && h->len && h->items[0]->deadline <= now) {
			orca__timer_entry *e = h->items[0];
			remove_at(h, 0);
			e->state = ORCA_TIMER_FIRED;
			due[n++] = e->waker;
			e->waker = (orca_waker){0};
		}
		bool more = h->len && h->items[0]->deadline <= now;
		pthread_mutex_unlock(&h->lock);
		for (size_t i = 0; i < n; i++)
			orca_waker_wake(&due[i]);
		total += n;
		if (!more)
			return total;
	}
}

int64_t orca__timer_next_deadline(orca__timer_heap *h)
{
	if (atomic_load_explicit(&h->armed, memory_order_relaxed) == 0)
		return -1;
	pthread_mutex_lock(&h->lock);
	int64_t d = h->len ? h->items[0]->deadline : -1;
	pthread_mutex_unlock(&h->lock);
	return d;
}
