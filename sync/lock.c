/* The slow paths of orca__lock (lock.h): spin, then sleep on the futex. */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.h"

#define ORCA_LOCK_SPINS 100

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

void orca__lock_acquire_slow(orca__lock *l)
{
	for (int i = 0; i < ORCA_LOCK_SPINS; i++) {
		cpu_relax();
		uint32_t c = atomic_load_explicit(&l->word, memory_order_relaxed);
		if (c == 0 && atomic_compare_exchange_weak_explicit(&l->word, &c, 1, memory_order_acquire,
								    memory_order_relaxed))
			return;
	}
	/* Mark the word "held with sleepers" (2) and sleep until it is free. Whoever
	 * takes it from here keeps 2, so its release wakes the next sleeper. */
	while (atomic_exchange_explicit(&l->word, 2, memory_order_acquire) != 0)
		syscall(SYS_futex, (uint32_t *)&l->word, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 2, NULL,
			NULL, 0);
}

void orca__lock_wake(orca__lock *l)
{
	syscall(SYS_futex, (uint32_t *)&l->word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
}
