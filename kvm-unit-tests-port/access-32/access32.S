/*
 * access (-m32): the access of one test case, with its own #PF entry and
 * the way back from CPL3; the 32-bit twin of ../access/access64.S.
 *
 * int ac_access(unsigned long va, unsigned kind)   (cdecl)
 *   kind: 1 write, 2 fetch (call *va; the page holds a ret), else read;
 *   | 4 from CPL3 (IRET to USER_CS32 with DS = ES = USER_DS on a user
 *   stack). Returns 1 if the access raised #PF (ac_pf_error, ac_pf_cr2),
 *   else 0. Execution continues at .Ldone at the CPL of the access; its
 *   int $0x20 goes through a DPL-3 gate to ac_kernel_entry, which reloads
 *   the stack pointer saved at entry and returns at CPL0 (TSS.ESP0 takes
 *   the frame of an event from CPL3).
 *
 * ac_pf_entry: #PF at an access instruction (or at va for a fetch) is
 * recorded and resumed at .Ldone; any other #PF goes to the library.
 */
#include "x86/segments.h"

#define KIND_WRITE	1
#define KIND_FETCH	2
#define KIND_USER	4

	.bss
	.balign 16
ac_user_stack:
	.skip 4096
ac_user_stack_top:

	.data
	.balign 4
ac_saved_sp:	.long 0
ac_target:	.long 0
	.globl ac_pf_cr2, ac_pf_error
ac_pf_cr2:	.long 0
ac_pf_error:	.long 0
ac_faulted:	.long 0

	.text
	.globl ac_access
ac_access:
	endbr32
	push %ebx
	push %ebp
	push %esi
	push %edi
	mov 20(%esp), %edx
	mov 24(%esp), %esi
	mov %edx, ac_target
	movl $0, ac_faulted
	mov %esp, ac_saved_sp
	test $KIND_USER, %esi
	jz .Ldo
	/* DPL-0 data segments would be nulled by IRET to CPL3. */
	mov $USER_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	pushl $USER_DS
	pushl $ac_user_stack_top
	pushfl
	pushl $USER_CS32
	pushl $.Ldo
	iret
.Ldo:
	test $KIND_FETCH, %esi
	jnz .Lfetch
	test $KIND_WRITE, %esi
	jnz .Lwrite
ac_insn_read:
	mov (%edx), %eax
	jmp .Ldone
.Lwrite:
ac_insn_write:
	mov %eax, (%edx)
	jmp .Ldone
.Lfetch:
	call *%edx
.Ldone:
	int $0x20
	ud2
.Lback:
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov ac_faulted, %eax
	pop %edi
	pop %esi
	pop %ebp
	pop %ebx
	ret

/* int $0x20 (DPL 3): back on the caller's stack (SS is KERNEL_DS), CPL0. */
	.globl ac_kernel_entry
ac_kernel_entry:
	endbr32
	mov ac_saved_sp, %esp
	jmp .Lback

/* Stack: EAX (ours), error code, EIP, CS, EFLAGS[, ESP, SS]. */
	.globl ac_pf_entry
ac_pf_entry:
	endbr32
	push %eax
	mov 8(%esp), %eax
	cmp $ac_insn_read, %eax
	je 1f
	cmp $ac_insn_write, %eax
	je 1f
	cmp ac_target, %eax
	je 1f
	pop %eax
	jmp *isr_stub_table + 14 * 4
1:	mov 4(%esp), %eax
	mov %eax, ac_pf_error
	mov %cr2, %eax
	mov %eax, ac_pf_cr2
	movl $1, ac_faulted
	movl $.Ldone, 8(%esp)
	pop %eax
	add $4, %esp
	iret

	.section .note.GNU-stack, "", @progbits
