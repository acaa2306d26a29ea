#include "stack.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef MADV_GUARD_INSTALL
#define ORCA_MADV_GUARD_INSTALL MADV_GUARD_INSTALL
#else
#define ORCA_MADV_GUARD_INSTALL 102 /* linux/mman.h, Linux 6.13 */
#endif

size_t orca__page_size(void)
{
	static size_t page;
	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

size_t orca__stack_map_size(size_t stack_size)
{
	size_t page = orca__page_size();
	size_t body = (stack_size + page - 1) & ~(page - 1);
	return page + body;
}

void *orca__stack_map(size_t map_size)
{
	/* MAP_NORESERVE: a stack's untouched pages should not count against overcommit;
	 * MAP_STACK documents intent (and lets THP skip it). */
	void *m = mmap(NULL, map_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	/* A guard region (Linux 6.13+) does not split the mapping into two VMAs, so
	 * 100k stacks stay far below vm.max_map_count (65530 by default: with
	 * mprotect each stack costs two and ~32k tasks is the ceiling). Older kernels
	 * say EINVAL and get the mprotect guard. */
	if (madvise(m, orca__page_size(), ORCA_MADV_GUARD_INSTALL) == 0)
		return m;
	if (mprotect(m, orca__page_size(), PROT_NONE) != 0) {
		munmap(m, map_size);
		return NULL;
	}
	return m;
}

void orca__stack_unmap(void *map, size_t map_size)
{
	munmap(map, map_size);
}

int orca__stack_depot_init(orca__stack_depot *d, unsigned cap)
{
	pthread_mutex_init(&d->lock, NULL);
	d->maps = cap ? calloc(cap, sizeof(void *)) : NULL;
	d->len = 0;
	d->cap = d->maps ? cap : 0;
	d->released = NULL;
	d->released_len = d->released_cap = 0;
	return 0;
}

/* Why stacks are released, not unmapped, while the runtime runs: neighbouring stack
 * mappings merge into one VMA (the guard regions do not split them), so unmapping
 * one stack in the middle splits a VMA in two. A million stackful tasks finishing at
 * shutdown took the process to vm.max_map_count (65,530) that way, after which
 * munmap itself failed with ENOMEM and 2.8 GB stayed mapped, and no thread could be
 * created (bench_memory max_stackful_tasks, then max_threads). MADV_DONTNEED gives
 * the memory back without touching the VMA; the address range waits for reuse. */
static bool depot_release_locked(orca__stack_depot *d, void *map, size_t map_size,
				 bool give_back)
{
	if (d->released_len == d->released_cap) {
		size_t cap = d->released_cap ? d->released_cap * 2 : 1024;
		void **r = realloc(d->released, cap * sizeof(void *));
		if (!r)
			return false;
		d->released = r;
		d->released_cap = cap;
	}
	/* The guard page keeps its guard (MADV_DONTNEED leaves guard markers and
	 * PROT_NONE alone); only the stack's pages go back. */
	size_t page = orca__page_size();
	if (give_back) /* not when it is about to be unmapped anyway */
		madvise((char *)map + page, map_size - page, MADV_DONTNEED);
	d->released[d->released_len++] = map;
	return true;
}

static int by_address(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
	return x < y ? -1 : x > y;
}

void orca__stack_depot_destroy(orca__stack_depot *d, size_t map_size)
{
	/* Everything at once, neighbours together: one munmap per run of adjacent
	 * stacks, so tearing down splits no VMA more than at its ends (see
	 * depot_release_locked). */
	while (d->len && depot_release_locked(d, d->maps[d->len - 1], map_size, false))
		d->len--;
	while (d->len)
		orca__stack_unmap(d->maps[--d->len], map_size); /* no memory for the list */
	if (d->released_len) /* qsort's base must not be NULL, even for 0 items */
		qsort(d->released, d->released_len, sizeof(void *), by_address);
	for (size_t i = 0; i < d->released_len;) {
		char *start = d->released[i];
		size_t n = 1;
		while (i + n < d->released_len && (char *)d->released[i + n] == start + n * map_size)
			n++;
		munmap(start, n * map_size);
		i += n;
	}
	free(d->released);
	d->released = NULL;
	d->released_len = d->released_cap = 0;
	free(d->maps);
	d->maps = NULL;
	pthread_mutex_destroy(&d->lock);
}

int orca__stack_pool_init(orca__stack_pool *p, unsigned cap, size_t map_size,
			  orca__stack_depot *depot)
{
	p->maps = cap ? calloc(cap, sizeof(void *)) : NULL;
	if (cap && !p->maps)
		return -1;
	p->len = 0;
	p->cap = cap;
	p->map_size = map_size;
	p->depot = depot;
	return 0;
}

void *orca__stack_pool_get(orca__stack_pool *p)
{
	if (!p->len && p->depot) {
		/* Refill half the pool in one lock (only when ours ran dry). */
		orca__stack_depot *d = p->depot;
		pthread_mutex_lock(&d->lock);
		unsigned want = p->cap / 2 ? p->cap / 2 : 1;
		while (d->len && p->len < want && p->len < p->cap)
			p->maps[p->len++] = d->maps[--d->len];
		pthread_mutex_unlock(&d->lock);
		if (!p->len) {
			/* Nothing whole left: a released stack (its range is mapped, its
			 * pages come back zeroed as they are touched) before a new mapping. */
			void *m = NULL;
			pthread_mutex_lock(&d->lock);
			if (d->len)
				m = d->maps[--d->len];
			else if (d->released_len)
				m = d->released[--d->released_len];
			pthread_mutex_unlock(&d->lock);
			return m;
		}
	}
	return p->len ? p->maps[--p->len] : NULL;
}

void orca__stack_pool_put(orca__stack_pool *p, void *map)
{
	if (p->len < p->cap) {
		p->maps[p->len++] = map;
		return;
	}
	if (p->depot) {
		/* Full: hand half of the pool (and this one) to the depot in one lock. */
		orca__stack_depot *d = p->depot;
		pthread_mutex_lock(&d->lock);
		unsigned keep = p->cap / 2;
		while (p->len > keep && d->len < d->cap)
			d->maps[d->len++] = p->maps[--p->len];
		bool taken = d->len < d->cap;
		if (taken)
			d->maps[d->len++] = map;
		else if (p->len < p->cap)
			p->maps[p->len++] = map, taken = true;
		else
			taken = depot_release_locked(d, map, p->map_size, true);
		pthread_mutex_unlock(&d->lock);
		if (taken)
			return;
	}
	orca__stack_unmap(map, p->map_size);
}

void orca__stack_pool_destroy(orca__stack_pool *p)
{
	/* To the depot, which unmaps everything together (depot_destroy). */
	if (p->depot) {
		pthread_mutex_lock(&p->depot->lock);
		while (p->len && depot_release_locked(p->depot, p->maps[p->len - 1], p->map_size, false))
			p->len--;
		pthread_mutex_unlock(&p->depot->lock);
	}
	while (p->len)
		orca__stack_unmap(p->maps[--p->len], p->map_size);
	free(p->maps);
	p->maps = NULL;
	p->cap = 0;
}
