/* Setting up new contexts for the assembly switch (see context.h). */
#include "context.h"

#include <pthread.h>
#include <string.h>

void orca__ctx_make(orca__ctx *ctx, void *bottom, size_t size, void (*entry)(void *), void *arg)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->stack_bottom = bottom;
	ctx->stack_size = size;
	uintptr_t top = ((uintptr_t)bottom + size) & ~(uintptr_t)15;
	void **sp = (void **)top;
#if defined(__x86_64__)
	/* What orca__ctx_switch pops, lowest address first: r15 r14 r13 r12 rbx rbp,
	 * then the return address. After `ret` rsp is 16-byte aligned, so the
	 * trampoline's call sees a correctly aligned stack. */
	*--sp = NULL;                                /* padding above the return slot */
	*--sp = NULL;
	*--sp = (void *)orca__ctx_trampoline;        /* ret target */
	*--sp = NULL;                                /* rbp */
	*--sp = NULL;                                /* rbx */
	*--sp = arg;                                 /* r12 */
	*--sp = (void *)entry;                       /* r13 */
	*--sp = NULL;                                /* r14 */
	*--sp = NULL;                                /* r15 */
#elif defined(__aarch64__)
	/* A 160-byte frame as orca__ctx_switch stores it: x19 (arg), x20 (entry), ...,
	 * x29 (0), x30 (trampoline), d8-d15. */
	sp -= 20;
	memset(sp, 0, 160);
	sp[0] = arg;
	sp[1] = (void *)entry;
	sp[11] = (void *)orca__ctx_trampoline;
#endif
	ctx->sp = sp;
#if ORCA_TSAN
	ctx->tsan_fiber = __tsan_create_fiber(0);
	ctx->tsan_owns_fiber = 1;
#endif
}

void orca__ctx_init_thread(orca__ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	/* ASan needs the extent of the stack it switches back to. */
	pthread_attr_t attr;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		void *addr = NULL;
		size_t size = 0;
		if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
			ctx->stack_bottom = addr;
			ctx->stack_size = size;
		}
		pthread_attr_destroy(&attr);
	}
#if ORCA_TSAN
	ctx->tsan_fiber = __tsan_get_current_fiber();
#endif
}

void orca__ctx_destroy(orca__ctx *ctx)
{
#if ORCA_TSAN
	if (ctx->tsan_owns_fiber && ctx->tsan_fiber)
		__tsan_destroy_fiber(ctx->tsan_fiber);
	ctx->tsan_fiber = NULL;
	ctx->tsan_owns_fiber = 0;
#else
	(void)ctx;
#endif
}
