#include "stack.h"

#include <stdbool.h>
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
	return 0;
}

void orca__stack_depot_destroy(orca__stack_depot *d, size_t map_size)
{
	while (d->len)
		orca__stack_unmap(d->maps[--d->len], map_size);
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
		if (!p->len && p->cap == 0) {
			/* A pool without room of its own takes one stack straight from the depot. */
			void *m = NULL;
			pthread_mutex_lock(&d->lock);
			if (d->len)
				m = d->maps[--d->len];
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
		pthread_mutex_unlock(&d->lock);
		if (taken)
			return;
		if (p->len < p->cap) {
			p->maps[p->len++] = map;
			return;
		}
	}
	orca__stack_unmap(map, p->map_size);
}

void orca__stack_pool_destroy(orca__stack_pool *p)
{
	while (p->len)
		orca__stack_unmap(p->maps[--p->len], p->map_size);
	free(p->maps);
	p->maps = NULL;
	p->cap = 0;
}
