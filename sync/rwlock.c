/* RwLock: a semaphore with ORCA_RWLOCK_MAX_READERS permits (as Tokio's). A reader
 * takes one, a writer takes them all; the semaphore's FIFO makes a waiting writer
 * hold back later readers, so writers never starve. */
#include <errno.h>

#include "sem.h"
#include "wait.h"

#define MAX_READERS ORCA_RWLOCK_MAX_READERS

_Static_assert(sizeof(orca_rwlock) >= sizeof(orca__sem), "orca_rwlock too small");
_Static_assert(((uint64_t)1 << 32) == (MAX_READERS << ORCA__SEM_SHIFT),
	       "ORCA_RWLOCK_INIT must hold MAX_READERS permits");

static orca__sem *sem_of(orca_rwlock *l)
{
	return (orca__sem *)(void *)l;
}

int orca_rwlock_init(orca_rwlock *l)
{
	if (!l)
		return -EINVAL;
	orca__sem_init(sem_of(l), MAX_READERS);
	return 0;
}

orca_future *orca_rwlock_read_future(orca_sync_future *f, orca_rwlock *l)
{
	if (!f)
		return NULL;
	return orca__sem_acquire_init((orca__sem_acquire *)(void *)f, l ? sem_of(l) : NULL, 1,
				      "rwlock read");
}

orca_future *orca_rwlock_write_future(orca_sync_future *f, orca_rwlock *l)
{
	if (!f)
		return NULL;
	return orca__sem_acquire_init((orca__sem_acquire *)(void *)f, l ? sem_of(l) : NULL,
				      MAX_READERS, "rwlock write");
}

int orca_rwlock_read(orca_rwlock *l)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_rwlock_read_future(&f, l), -1);
}

int orca_rwlock_write(orca_rwlock *l)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_rwlock_write_future(&f, l), -1);
}

int orca_rwlock_read_blocking(orca_rwlock *l, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_wait_blocking(orca_rwlock_read_future(&f, l), timeout_ns);
}

int orca_rwlock_write_blocking(orca_rwlock *l, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_wait_blocking(orca_rwlock_write_future(&f, l), timeout_ns);
}

int orca_rwlock_try_read(orca_rwlock *l)
{
	if (!l)
		return -EINVAL;
	return orca__sem_try_acquire(sem_of(l), 1) == 0 ? 0 : -EBUSY;
}

int orca_rwlock_try_write(orca_rwlock *l)
{
	if (!l)
		return -EINVAL;
	return orca__sem_try_acquire(sem_of(l), MAX_READERS) == 0 ? 0 : -EBUSY;
}

int orca_rwlock_read_unlock(orca_rwlock *l)
{
	if (!l)
		return -EINVAL;
	/* While readers hold it, between 1 and MAX_READERS - 1 permits are free: all of
	 * them means nobody holds it, none means a writer does. */
	uint64_t free_now = orca__sem_available(sem_of(l));
	if (free_now >= MAX_READERS || free_now == 0)
		return -EPERM;
	return orca__sem_release(sem_of(l), 1);
}

int orca_rwlock_write_unlock(orca_rwlock *l)
{
	if (!l)
		return -EINVAL;
	/* A writer holds every permit: none can be free. */
	if (orca__sem_available(sem_of(l)) != 0)
		return -EPERM;
	return orca__sem_release(sem_of(l), MAX_READERS);
}
