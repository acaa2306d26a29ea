/* Mutex: a semaphore with one permit (as Tokio's). Unlock hands the permit to the
 * longest waiter directly (sem.h), which is what makes it FIFO-fair. */
#include <errno.h>

#include "sem.h"
#include "wait.h"

_Static_assert(sizeof(orca_mutex) >= sizeof(orca__sem), "orca_mutex too small");

static orca__sem *sem_of(orca_mutex *m)
{
	return (orca__sem *)(void *)m;
}

int orca_mutex_init(orca_mutex *m)
{
	if (!m)
		return -EINVAL;
	orca__sem_init(sem_of(m), 1);
	return 0;
}

orca_future *orca_mutex_lock_future(orca_sync_future *f, orca_mutex *m)
{
	if (!f)
		return NULL;
	return orca__sem_acquire_init((orca__sem_acquire *)(void *)f, m ? sem_of(m) : NULL, 1,
				      "mutex");
}

int orca_mutex_lock(orca_mutex *m)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_mutex_lock_future(&f, m), -1);
}

int orca_mutex_lock_timeout(orca_mutex *m, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_mutex_lock_future(&f, m), timeout_ns < 0 ? 0 : timeout_ns);
}

int orca_mutex_lock_blocking(orca_mutex *m, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_wait_blocking(orca_mutex_lock_future(&f, m), timeout_ns);
}

int orca_mutex_try_lock(orca_mutex *m)
{
	if (!m)
		return -EINVAL;
	return orca__sem_try_acquire(sem_of(m), 1) == 0 ? 0 : -EBUSY;
}

int orca_mutex_unlock(orca_mutex *m)
{
	if (!m)
		return -EINVAL;
	/* A free permit means nobody holds the lock (while it is held, the word has
	 * none: unlock hands it to a waiter rather than storing it). */
	if (orca__sem_available(sem_of(m)) != 0)
		return -EPERM;
	return orca__sem_release(sem_of(m), 1);
}
