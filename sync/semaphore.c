/* The public Semaphore: orca__sem (sem.h) behind the orca_semaphore blob. */
#include <errno.h>
#include <stddef.h>

#include "sem.h"
#include "wait.h"

_Static_assert(sizeof(orca_semaphore) >= sizeof(orca__sem), "orca_semaphore too small");
_Static_assert(offsetof(orca__sem, state) == 0, "ORCA_SEMAPHORE_INIT writes the state first");
_Static_assert(sizeof(orca_sync_future) >= sizeof(orca__sem_acquire), "orca_sync_future too small");

static orca__sem *sem_of(orca_semaphore *s)
{
	return (orca__sem *)(void *)s;
}

int orca_semaphore_init(orca_semaphore *s, uint64_t permits)
{
	if (!s || permits > ORCA_SEMAPHORE_MAX_PERMITS)
		return -EINVAL;
	orca__sem_init(sem_of(s), permits);
	return 0;
}

orca_future *orca_semaphore_acquire_future(orca_sync_future *f, orca_semaphore *s, uint64_t n)
{
	if (!f)
		return NULL;
	orca__sem *sem = (s && n <= ORCA_SEMAPHORE_MAX_PERMITS) ? sem_of(s) : NULL;
	return orca__sem_acquire_init((orca__sem_acquire *)(void *)f, sem, n, "semaphore");
}

int orca_semaphore_acquire(orca_semaphore *s, uint64_t n)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_semaphore_acquire_future(&f, s, n), -1);
}

int orca_semaphore_acquire_timeout(orca_semaphore *s, uint64_t n, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_await(orca_semaphore_acquire_future(&f, s, n),
				     timeout_ns < 0 ? 0 : timeout_ns);
}

int orca_semaphore_acquire_blocking(orca_semaphore *s, uint64_t n, int64_t timeout_ns)
{
	orca_sync_future f;
	return (int)orca__sync_wait_blocking(orca_semaphore_acquire_future(&f, s, n), timeout_ns);
}

int orca_semaphore_try_acquire(orca_semaphore *s, uint64_t n)
{
	if (!s || n > ORCA_SEMAPHORE_MAX_PERMITS)
		return -EINVAL;
	return orca__sem_try_acquire(sem_of(s), n);
}

int orca_semaphore_release(orca_semaphore *s, uint64_t n)
{
	if (!s)
		return -EINVAL;
	return orca__sem_release(sem_of(s), n);
}

int orca_semaphore_close(orca_semaphore *s)
{
	if (!s)
		return -EINVAL;
	orca__sem_close(sem_of(s));
	return 0;
}

bool orca_semaphore_is_closed(orca_semaphore *s)
{
	return s && (atomic_load_explicit(&sem_of(s)->state, memory_order_acquire) & ORCA__SEM_CLOSED);
}

int64_t orca_semaphore_available(orca_semaphore *s)
{
	if (!s)
		return -EINVAL;
	return (int64_t)orca__sem_available(sem_of(s));
}
