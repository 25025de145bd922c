/*
 * Saved contexts for catch_fault()/run_in_user() (see x86/context.h) and
 * the jump to user mode. Field offsets follow struct saved_context.
 */
#include "x86/segments.h"

#define CTX_BX		0
#define CTX_BP		8
#define CTX_R12		16
#define CTX_R13		24
#define CTX_R14		32
#define CTX_R15		40
#define CTX_SP		48
#define CTX_IP		56
#define CTX_FLAGS	64
#define CTX_CS		72
#define CTX_SS		80

	.text
/* unsigned long save_context(struct saved_context *ctx): 0 now, later the resume value. */
	.globl save_context
save_context:
	endbr64
	mov %rbx, CTX_BX(%rdi)
	mov %rbp, CTX_BP(%rdi)
	mov %r12, CTX_R12(%rdi)
	mov %r13, CTX_R13(%rdi)
	mov %r14, CTX_R14(%rdi)
	mov %r15, CTX_R15(%rdi)
	lea 8(%rsp), %rax	/* RSP as seen by the caller after ret */
	mov %rax, CTX_SP(%rdi)
	mov (%rsp), %rax
	mov %rax, CTX_IP(%rdi)
	pushf
	pop CTX_FLAGS(%rdi)
	xor %eax, %eax
	mov %cs, %ax
	mov %rax, CTX_CS(%rdi)
	mov %ss, %ax
	mov %rax, CTX_SS(%rdi)
	xor %eax, %eax
	ret

/*
 * void enter_user(fn, arg, user_sp): iretq to CPL3 at user_trampoline with
 * RAX = fn, RDI = arg. RFLAGS: the current flags minus IOPL/TF/NT/AC/DF,
 * so port I/O from user mode faults. The data segment registers are set
 * to USER_DS (the CPU would null DPL0 ones on the way out anyway).
 */
	.globl enter_user
enter_user:
	endbr64
	mov $USER_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	pushq $USER_DS			/* SS */
	push %rdx			/* RSP */
	pushf				/* RFLAGS */
	andq $~0x47500, (%rsp)		/* AC|NT|IOPL|DF|TF */
	pushq $USER_CS64		/* CS */
	lea user_trampoline(%rip), %rax
	add user_alias_offset(%rip), %rax
	push %rax			/* RIP */
	mov %rdi, %rax
	mov %rsi, %rdi
	iretq

/* CPL3: call fn(arg) with an ABI-aligned stack, then return to the kernel. */
user_trampoline:
	call *%rax
	int $USER_RET_VECTOR
	ud2

	.section .note.GNU-stack, "", @progbits
