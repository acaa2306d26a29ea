/* Context switch for AArch64 (AAPCS64): save x19-x30 and d8-d15 and the stack
 * pointer of the running context, load another's.
 *
 * void orca__ctx_switch(void **save_sp, void *load_sp);
 * void orca__ctx_trampoline(void);   first frame of a new context:
 *                                    calls x20(x19) and never returns.
 */
#if defined(__aarch64__)
	.text
	.globl orca__ctx_switch
	.hidden orca__ctx_switch
	.type orca__ctx_switch,%function
	.p2align 4
orca__ctx_switch:
	sub sp, sp, #160
	stp x19, x20, [sp, #0]
	stp x21, x22, [sp, #16]
	stp x23, x24, [sp, #32]
	stp x25, x26, [sp, #48]
	stp x27, x28, [sp, #64]
	stp x29, x30, [sp, #80]
	stp d8, d9, [sp, #96]
	stp d10, d11, [sp, #112]
	stp d12, d13, [sp, #128]
	stp d14, d15, [sp, #144]
	mov x2, sp
	str x2, [x0]
	mov sp, x1
	ldp x19, x20, [sp, #0]
	ldp x21, x22, [sp, #16]
	ldp x23, x24, [sp, #32]
	ldp x25, x26, [sp, #48]
	ldp x27, x28, [sp, #64]
	ldp x29, x30, [sp, #80]
	ldp d8, d9, [sp, #96]
	ldp d10, d11, [sp, #112]
	ldp d12, d13, [sp, #128]
	ldp d14, d15, [sp, #144]
	add sp, sp, #160
	ret
	.size orca__ctx_switch,.-orca__ctx_switch

	.globl orca__ctx_trampoline
	.hidden orca__ctx_trampoline
	.type orca__ctx_trampoline,%function
	.p2align 4
orca__ctx_trampoline:
	mov x29, #0
	mov x0, x19
	blr x20
	brk #0
	.size orca__ctx_trampoline,.-orca__ctx_trampoline
#endif
	.section .note.GNU-stack,"",%progbits
