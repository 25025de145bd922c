/*
 * IDT entry stubs, 64-bit build. One stub per vector (all 256, so any
 * stray vector is reported instead of triple-faulting). Each stub makes
 * the frame uniform (a 0 error code for vectors where the CPU pushes
 * none), pushes its vector number and joins isr_common, which saves the
 * general registers as a struct ex_regs and calls do_handle_exception().
 * isr_stub_table[v] is the address of vector v's stub, for setup_idt().
 */

/* Vectors for which the CPU pushes an error code. */
#define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || \
			   (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

	.data
	.balign 8
	.globl isr_stub_table
isr_stub_table:

	.text
	vector = 0
	.rept 256
	.text
1:	endbr64			/* an IDT target is an indirect branch for CET-IBT */
	.if !HAS_ERROR_CODE(vector)
	push $0
	.endif
	push $vector
	jmp isr_common
	.pushsection .data
	.quad 1b
	.popsection
	vector = vector + 1
	.endr

/*
 * On entry the CPU has aligned RSP to 16 and pushed SS, RSP, RFLAGS, CS,
 * RIP (+ error code); with the stub's two words and 15 registers the frame
 * is 176 bytes, so RSP is 16-byte aligned again at the call.
 */
isr_common:
	push %r15
	push %r14
	push %r13
	push %r12
	push %r11
	push %r10
	push %r9
	push %r8
	push %rdi
	push %rsi
	push %rbp
	push %rbx
	push %rdx
	push %rcx
	push %rax
	mov %rsp, %rdi
	cld			/* the C ABI requires DF=0; the frame keeps the old DF */
	call do_handle_exception
	pop %rax
	pop %rcx
	pop %rdx
	pop %rbx
	pop %rbp
	pop %rsi
	pop %rdi
	pop %r8
	pop %r9
	pop %r10
	pop %r11
	pop %r12
	pop %r13
	pop %r14
	pop %r15
	add $16, %rsp		/* vector and error code */
	iretq

	.section .note.GNU-stack, "", @progbits
