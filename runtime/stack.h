/* Stacks for stackful tasks: one anonymous mapping each, a guard page at the low
 * end (a guard region, or PROT_NONE on kernels before 6.13). Only touched pages cost
 * memory. Each worker keeps a small LIFO pool of mappings for reuse: a fresh mapping
 * costs an mmap, a madvise and page faults (~6.5 us + ~19 us per first-touched page
 * on our VMs), a pooled one nothing. Owner worker only for the pool; any thread may
 * map or unmap. Stacks beyond what the pools and the depot keep are released
 * (their memory given back, their address range kept for reuse) rather than
 * unmapped until the runtime is freed: see depot_release_locked in stack.c.
 *
 *   low                                                 high
 *   [ guard page | stack ... grows down <-                 ]
 */
#ifndef ORCA_RUNTIME_STACK_H
#define ORCA_RUNTIME_STACK_H

#include <pthread.h>
#include <stddef.h>

/* The runtime-wide store behind the per-worker pools: a stack freed on one worker
 * (where its task finished) can be reused by a spawn on another. Any thread, under
 * its mutex; touched only when a worker's own pool is empty or full, a batch at a
 * time. */
typedef struct orca__stack_depot {
	pthread_mutex_t lock;
	void **maps;
	unsigned len, cap;
	void **released; /* ranges whose memory went back (MADV_DONTNEED); grows */
	size_t released_len, released_cap;
} orca__stack_depot;

typedef struct orca__stack_pool {
	void **maps;
	unsigned len, cap;
	size_t map_size;
	orca__stack_depot *depot; /* may be NULL */
} orca__stack_pool;

/* The mapping size for a stack of stack_size usable bytes, guard page included. */
size_t orca__stack_map_size(size_t stack_size);

/* Maps a new stack; NULL on failure. */
void *orca__stack_map(size_t map_size);
void orca__stack_unmap(void *map, size_t map_size);

/* The guard page of a mapping: [map, map + page). */
size_t orca__page_size(void);

int orca__stack_depot_init(orca__stack_depot *d, unsigned cap);
/* Unmaps everything in the depot, released ranges included, adjacent ones in one
 * call (map_size: the runtime's stack mapping size). After the pools' destroy. */
void orca__stack_depot_destroy(orca__stack_depot *d, size_t map_size);

int orca__stack_pool_init(orca__stack_pool *p, unsigned cap, size_t map_size,
			  orca__stack_depot *depot);
/* Returns a pooled mapping (refilling from the depot when empty, then taking a
 * released one) or NULL. */
void *orca__stack_pool_get(orca__stack_pool *p);
/* Keeps map for reuse; when the pool is full, half of it moves to the depot, and
 * what the depot cannot take is released (memory back, range kept). */
void orca__stack_pool_put(orca__stack_pool *p, void *map);
/* Hands everything pooled to the depot (which unmaps it), or unmaps it without one. */
void orca__stack_pool_destroy(orca__stack_pool *p);

#endif
