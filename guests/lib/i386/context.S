/*
 * Saved contexts for catch_fault()/run_in_user() (see x86/context.h) and
 * the jump to user mode, 32-bit build (cdecl: arguments on the stack).
 */
#include "x86/segments.h"

#define CTX_BX		0
#define CTX_BP		4
#define CTX_SI		8
#define CTX_DI		12
#define CTX_SP		16
#define CTX_IP		20
#define CTX_FLAGS	24
#define CTX_CS		28
#define CTX_SS		32

	.text
/* unsigned long save_context(struct saved_context *ctx): 0 now, later the resume value. */
	.globl save_context
save_context:
	endbr32
	mov 4(%esp), %edx
	mov %ebx, CTX_BX(%edx)
	mov %ebp, CTX_BP(%edx)
	mov %esi, CTX_SI(%edx)
	mov %edi, CTX_DI(%edx)
	lea 4(%esp), %eax	/* ESP as seen by the caller after ret */
	mov %eax, CTX_SP(%edx)
	mov (%esp), %eax
	mov %eax, CTX_IP(%edx)
	pushf
	pop CTX_FLAGS(%edx)
	xor %eax, %eax
	mov %cs, %ax
	mov %eax, CTX_CS(%edx)
	mov %ss, %ax
	mov %eax, CTX_SS(%edx)
	xor %eax, %eax
	ret

/*
 * void enter_user(fn, arg, user_sp): iret to CPL3 at user_trampoline
 * with EAX = fn, EDI = arg. EFLAGS: the current flags minus
 * IOPL/TF/NT/AC/DF, so port I/O from user mode faults.
 */
	.globl enter_user
enter_user:
	endbr32
	mov 4(%esp), %eax		/* fn */
	mov 8(%esp), %edi		/* arg */
	mov 12(%esp), %edx		/* user stack */
	mov $USER_DS, %ecx
	mov %ecx, %ds
	mov %ecx, %es
	pushl $USER_DS			/* SS */
	push %edx			/* ESP */
	pushf				/* EFLAGS */
	andl $~0x47500, (%esp)		/* AC|NT|IOPL|DF|TF */
	pushl $USER_CS32		/* CS */
	mov $user_trampoline, %ecx
	add user_alias_offset, %ecx
	push %ecx			/* EIP */
	iret

/* CPL3: call fn(arg) with an ABI-aligned stack, then return to the kernel. */
user_trampoline:
	sub $12, %esp
	push %edi
	call *%eax
	int $USER_RET_VECTOR
	ud2

	.section .note.GNU-stack, "", @progbits
