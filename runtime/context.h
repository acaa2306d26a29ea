/* Execution contexts: a saved stack pointer plus what the sanitizers need to follow
 * a switch. The switch itself is a few lines of assembly per architecture
 * (context_x86_64.S, context_aarch64.S). Owner thread only: a context is switched
 * to and from by the thread running it. */
#ifndef ORCA_RUNTIME_CONTEXT_H
#define ORCA_RUNTIME_CONTEXT_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "Orca's context switch supports x86-64 and AArch64"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ORCA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ORCA_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define ORCA_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ORCA_TSAN 1
#endif
#endif

typedef struct orca__ctx {
	void *sp;
	/* The stack this context runs on (for ASan's fiber tracking); for a thread's
	 * own context it is learned on the first switch away from it. */
	const void *stack_bottom;
	size_t stack_size;
#if ORCA_ASAN
	void *asan_fake_stack;
#endif
#if ORCA_TSAN
	void *tsan_fiber;
	int tsan_owns_fiber;
#endif
} orca__ctx;

void orca__ctx_switch(void **save_sp, void *load_sp);
void orca__ctx_trampoline(void);

/* Prepares ctx to run entry(arg) on the stack [bottom, bottom + size) the first time
 * it is switched to. entry must never return; it ends by switching away with
 * orca__ctx_jump(..., ORCA_CTX_EXITING). */
void orca__ctx_make(orca__ctx *ctx, void *bottom, size_t size, void (*entry)(void *), void *arg);

/* Turns the calling thread's own stack into a context it can switch away from and
 * back to. */
void orca__ctx_init_thread(orca__ctx *ctx);

/* Releases what orca__ctx_make acquired (the TSan fiber). */
void orca__ctx_destroy(orca__ctx *ctx);

enum { ORCA_CTX_RETURNING = 0, ORCA_CTX_EXITING = 1 };

/* Switches from the running context `from` to `to`. Returns when something switches
 * back to `from`. `exiting` says `from` will never run again (its stack may be
 * reused), which ASan needs to know. */
static inline void orca__ctx_jump(orca__ctx *from, orca__ctx *to, int exiting);

#if ORCA_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
				     size_t *size_old);
#endif
#if ORCA_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

static inline void orca__ctx_jump(orca__ctx *from, orca__ctx *to, int exiting)
{
#if ORCA_ASAN
	__sanitizer_start_switch_fiber(exiting ? NULL : &from->asan_fake_stack, to->stack_bottom,
				       to->stack_size);
#else
	(void)exiting;
#endif
#if ORCA_TSAN
	/* flags 0: the switch orders the two fibers (they run on one thread, one after
	 * the other); cross-thread ordering still comes from the runtime's atomics. */
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	orca__ctx_switch(&from->sp, to->sp);
#if ORCA_ASAN
	/* Back on `from`: complete the switch for ASan. */
	__sanitizer_finish_switch_fiber(from->asan_fake_stack, NULL, NULL);
#endif
}

/* The first thing a new context's entry function must do: complete the switch that
 * started it (ASan pairs every start_switch_fiber with a finish on the far side). */
static inline void orca__ctx_entered(orca__ctx *ctx)
{
	(void)ctx;
#if ORCA_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

#endif
