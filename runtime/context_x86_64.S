/* Context switch for x86-64 System V: save the callee-saved registers and the stack
 * pointer of the running context, load another's. 6 pushes, 6 pops, no syscall,
 * no signal mask (what makes swapcontext 350x slower; see docs/architecture.md).
 * The x87 control word and MXCSR are not switched: tasks must not change them.
 *
 * void orca__ctx_switch(void **save_sp, void *load_sp);
 * void orca__ctx_trampoline(void);   first frame of a new context:
 *                                    calls r13(r12) and never returns.
 */
#if defined(__x86_64__)
	.text
	.globl orca__ctx_switch
	.hidden orca__ctx_switch
	.type orca__ctx_switch,@function
	.p2align 4
orca__ctx_switch:
	.cfi_startproc
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, (%rdi)
	movq %rsi, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.cfi_endproc
	.size orca__ctx_switch,.-orca__ctx_switch

	.globl orca__ctx_trampoline
	.hidden orca__ctx_trampoline
	.type orca__ctx_trampoline,@function
	.p2align 4
orca__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip      /* outermost frame: unwinders stop here */
	movq %r12, %rdi
	callq *%r13
	ud2
	.cfi_endproc
	.size orca__ctx_trampoline,.-orca__ctx_trampoline
#endif
	.section .note.GNU-stack,"",@progbits
