/* The fd stamp table of fd_origin.h: two levels of atomic pointers, as listener.c's
 * table, so a look-up is two loads and no lock. */
#include "fd_origin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SEG_BITS 12
#define SEG_SIZE (1u << SEG_BITS)
#define SEGS (ORCA__FD_ORIGIN_MAX >> SEG_BITS)

typedef _Atomic uint32_t stamp_slot;

static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(stamp_slot *) table[SEGS];

static stamp_slot *slot(int fd, int create)
{
	if (fd < 0 || fd >= ORCA__FD_ORIGIN_MAX)
		return NULL;
	stamp_slot *seg = atomic_load_explicit(&table[fd >> SEG_BITS], memory_order_acquire);
	if (!seg && create) {
		pthread_mutex_lock(&grow_lock);
		seg = atomic_load_explicit(&table[fd >> SEG_BITS], memory_order_relaxed);
		if (!seg) {
			seg = calloc(SEG_SIZE, sizeof(*seg));
			if (seg)
				atomic_store_explicit(&table[fd >> SEG_BITS], seg, memory_order_release);
		}
		pthread_mutex_unlock(&grow_lock);
	}
	return seg ? &seg[fd & (SEG_SIZE - 1)] : NULL;
}

uint32_t orca__fd_stamp(int fd)
{
	stamp_slot *s = slot(fd, 0);
	/* Acquire: pairs with the release below when the fd reached this thread through a
	 * relaxed path; the usual hand-off (a channel, a spawn) orders it anyway. */
	return s ? atomic_load_explicit(s, memory_order_acquire) : 0;
}

/* Next generation, with the "made by Orca" bit as given. Two threads cannot bump one
 * number at once (the kernel gives a number to one file at a time, and its creator
 * bumps before anyone else can use it), so a load and a store suffice. */
static void bump(int fd, uint32_t made)
{
	stamp_slot *s = slot(fd, made);
	if (!s)
		return; /* no segment: never stamped, so it stays 0, "always check" */
	uint32_t next = ((atomic_load_explicit(s, memory_order_relaxed) >> 1) + 1) << 1 | made;
	if (next >> 1 == 0)
		next += 2; /* generation 0 is "never stamped" */
	atomic_store_explicit(s, next, memory_order_release);
}

void orca__fd_made(int fd)
{
	bump(fd, 1);
}

void orca__fd_closing(int fd)
{
	bump(fd, 0);
}
