/* The context switch on its own (runtime/context.c + context_<arch>.S), built for
 * the machine and, where a cross compiler and qemu-user are installed, for AArch64
 * and run under qemu-aarch64 (tests/arch/run_ctx_switch_check.sh), so the AArch64
 * assembly is run even on an x86-64 CI machine.
 *
 * Three contexts (main and two coroutines) pass control round robin many times
 * while each keeps integer and floating-point values live across every switch: the
 * compiler puts them in callee-saved registers (x19-x28, d8-d15 on AArch64; rbx,
 * rbp, r12-r15 on x86-64), so a register the switch fails to save or restore
 * corrupts a sum. Also checks the new context's first frame (entry gets its
 * argument, the stack is 16-byte aligned there) and that each coroutine runs on its
 * own stack. Prints "ctx switch check: ok (<arch>)" and exits 0, or names what broke
 * and exits 1. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "context.h"

#define STACK (64 * 1024)
#define ROUNDS 100000

static orca__ctx main_ctx, co[2];
static char *stacks[2];
static int failures;

static void fail(const char *what)
{
	fprintf(stderr, "ctx switch check: %s\n", what);
	failures++;
}

/* Switches from context `self` to the next one round robin: main -> co0 -> co1 ->
 * main. noinline: the caller's values must survive a real call. */
static __attribute__((noinline)) void pass_on(int self)
{
	orca__ctx *from = self < 0 ? &main_ctx : &co[self];
	orca__ctx *to = self < 0 ? &co[0] : self == 0 ? &co[1] : &main_ctx;
	orca__ctx_switch(&from->sp, to->sp);
}

/* Work whose values stay live across every switch (many of them, so the compiler
 * spreads them over the callee-saved registers, integer and floating point). */
static __attribute__((noinline)) void churn(int self, uint64_t seed, uint64_t *isum, double *dsum)
{
	uint64_t a = seed, b = seed * 3, c = seed * 5, d = seed * 7, e = seed * 11, f = seed * 13,
		 g = seed * 17, h = seed * 19, i = seed * 23, j = seed * 29;
	double p = (double)seed, q = p * 0.5, r = p * 0.25, s = p * 0.125, t = p * 2, u = p * 4,
	       v = p * 8, w = p * 16;
	for (int k = 0; k < ROUNDS; k++) {
		pass_on(self);
		a += b ^ 1; b += c ^ 2; c += d ^ 3; d += e ^ 4; e += f ^ 5;
		f += g ^ 6; g += h ^ 7; h += i ^ 8; i += j ^ 9; j += a ^ 10;
		p += q * 0.5; q += r; r += s; s += t * 0.25; t += u * 0.125; u += v * 0.0625;
		v += w * 0.03125; w += 1.0;
	}
	*isum = a + b + c + d + e + f + g + h + i + j;
	*dsum = p + q + r + s + t + u + v + w;
}

/* The same arithmetic without any switch: what churn must produce. */
static __attribute__((noinline)) void reference(uint64_t seed, uint64_t *isum, double *dsum)
{
	uint64_t a = seed, b = seed * 3, c = seed * 5, d = seed * 7, e = seed * 11, f = seed * 13,
		 g = seed * 17, h = seed * 19, i = seed * 23, j = seed * 29;
	double p = (double)seed, q = p * 0.5, r = p * 0.25, s = p * 0.125, t = p * 2, u = p * 4,
	       v = p * 8, w = p * 16;
	for (int k = 0; k < ROUNDS; k++) {
		__asm__ volatile("" ::: "memory");
		a += b ^ 1; b += c ^ 2; c += d ^ 3; d += e ^ 4; e += f ^ 5;
		f += g ^ 6; g += h ^ 7; h += i ^ 8; i += j ^ 9; j += a ^ 10;
		p += q * 0.5; q += r; r += s; s += t * 0.25; t += u * 0.125; u += v * 0.0625;
		v += w * 0.03125; w += 1.0;
	}
	*isum = a + b + c + d + e + f + g + h + i + j;
	*dsum = p + q + r + s + t + u + v + w;
}

static uint64_t co_isum[2];
static double co_dsum[2];

static void co_entry(void *arg)
{
	int self = (int)(intptr_t)arg;
	char here;
	if ((uintptr_t)__builtin_frame_address(0) % 16 != 0)
		fail("a new context's first frame is not 16-byte aligned");
	if (&here < stacks[self] || &here >= stacks[self] + STACK)
		fail("a coroutine does not run on its own stack");
	churn(self, 1000 + (uint64_t)self, &co_isum[self], &co_dsum[self]);
	/* Done: hand control on for good (the last round's switch order is kept). */
	for (;;)
		pass_on(self);
}

int main(void)
{
	orca__ctx_init_thread(&main_ctx);
	for (int k = 0; k < 2; k++) {
		stacks[k] = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (stacks[k] == MAP_FAILED) {
			perror("mmap");
			return 2;
		}
		orca__ctx_make(&co[k], stacks[k], STACK, co_entry, (void *)(intptr_t)k);
	}
	uint64_t isum, want_i;
	double dsum, want_d;
	churn(-1, 7, &isum, &dsum);
	pass_on(-1); /* let both coroutines finish their last round */
	reference(7, &want_i, &want_d);
	if (isum != want_i || dsum != want_d)
		fail("main's values changed across switches (a callee-saved register lost)");
	for (int k = 0; k < 2; k++) {
		reference(1000 + (uint64_t)k, &want_i, &want_d);
		if (co_isum[k] != want_i || co_dsum[k] != want_d)
			fail("a coroutine's values changed across switches (a callee-saved register lost)");
	}
#if defined(__aarch64__)
	const char *arch = "aarch64";
#else
	const char *arch = "x86_64";
#endif
	if (failures)
		return 1;
	printf("ctx switch check: ok (%s, %d switches)\n", arch, 3 * ROUNDS);
	return 0;
}
