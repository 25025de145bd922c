/*
 * access (64-bit): the access of one test case, with its own #PF entry and
 * the way back from CPL3, and the switch between 4- and 5-level paging.
 *
 * int ac_access(unsigned long va, unsigned kind)
 *   kind: 1 write, 2 fetch (call *va; the page holds a ret), else read;
 *   | 4 from CPL3 (IRETQ to USER_CS64 on a user stack). Returns 1 if the
 *   access raised #PF (ac_pf_error, ac_pf_cr2 describe it), else 0.
 *   Either way execution continues at .Ldone, at the CPL of the access,
 *   which does int $0x20: its DPL-3 gate (ac_kernel_entry) reloads the
 *   stack pointer saved at entry and returns to the caller at CPL0. The
 *   library's TSS.RSP0 stack takes the frame of an event from CPL3.
 *
 * ac_pf_entry is the #PF gate while the test runs. A #PF at one of the
 * access instructions (or, for a fetch, at va) is recorded and resumed at
 * .Ldone; any other #PF goes on to the library's handler (which reports it).
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
	.balign 8
ac_saved_sp:	.quad 0
ac_target:	.quad 0
	.globl ac_pf_cr2, ac_pf_error
ac_pf_cr2:	.quad 0
ac_pf_error:	.long 0
ac_faulted:	.long 0

	.text
	.globl ac_access
ac_access:
	endbr64
	push %rbx
	push %rbp
	mov %rdi, %rdx
	mov %rdi, ac_target(%rip)
	movl $0, ac_faulted(%rip)
	mov %rsp, ac_saved_sp(%rip)
	test $KIND_USER, %esi
	jz .Ldo
	/* To CPL3 at .Ldo: SS, RSP, RFLAGS, CS, RIP. */
	pushq $USER_DS
	lea ac_user_stack_top(%rip), %rax
	push %rax
	pushfq
	pushq $USER_CS64
	lea .Ldo(%rip), %rax
	push %rax
	iretq
.Ldo:
	test $KIND_FETCH, %esi
	jnz .Lfetch
	test $KIND_WRITE, %esi
	jnz .Lwrite
ac_insn_read:
	mov (%rdx), %rax
	jmp .Ldone
.Lwrite:
ac_insn_write:
	mov %rax, (%rdx)
	jmp .Ldone
.Lfetch:
	call *%rdx
.Ldone:
	int $0x20
	ud2
.Lback:
	test $KIND_USER, %esi
	jz 1f
	/*
	 * IRETQ to CPL3 nulled the data segment registers and int $0x20
	 * from CPL3 loaded a null SS: back to the kernel's.
	 */
	mov $KERNEL_DS, %eax
	mov %eax, %ss
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %fs
	mov %eax, %gs
1:	mov ac_faulted(%rip), %eax
	pop %rbp
	pop %rbx
	ret

/* int $0x20 (DPL 3): back on the caller's stack, at CPL0. */
	.globl ac_kernel_entry
ac_kernel_entry:
	endbr64
	mov ac_saved_sp(%rip), %rsp
	jmp .Lback

/* Stack: RAX RCX (ours), error code, RIP, CS, RFLAGS, RSP, SS. */
	.globl ac_pf_entry
ac_pf_entry:
	endbr64
	push %rax
	push %rcx
	mov 24(%rsp), %rax
	lea ac_insn_read(%rip), %rcx
	cmp %rcx, %rax
	je 1f
	lea ac_insn_write(%rip), %rcx
	cmp %rcx, %rax
	je 1f
	cmp ac_target(%rip), %rax
	je 1f
	pop %rcx
	pop %rax
	jmp *isr_stub_table + 14 * 8(%rip)
1:	mov 16(%rsp), %rax
	mov %eax, ac_pf_error(%rip)
	mov %cr2, %rax
	mov %rax, ac_pf_cr2(%rip)
	movl $1, ac_faulted(%rip)
	lea .Ldone(%rip), %rax
	mov %rax, 24(%rsp)
	pop %rcx
	pop %rax
	add $8, %rsp
	iretq

/*
 * void ac_switch_paging(unsigned long cr3, unsigned long cr4_set,
 *                       unsigned long cr4_clear)
 * CR4.LA57 can only change outside IA-32e mode: go to compatibility mode
 * (far return to the 32-bit code segment), clear CR0.PG (leaves IA-32e
 * mode), load CR4 and CR3, set CR0.PG (IA-32e mode again, compatibility
 * mode), far jump to 64-bit code. Interrupts are off; the code, stack and
 * tables are below 4 GiB and identity-mapped.
 */
	.globl ac_switch_paging
ac_switch_paging:
	endbr64
	push %rbx
	mov %rdx, %rbx
	not %rbx
	lea 1f(%rip), %rax
	pushq $KERNEL_CS32
	push %rax
	lretq
	.code32
1:	mov %cr0, %eax
	and $0x7fffffff, %eax
	mov %eax, %cr0
	mov %cr4, %eax
	or %esi, %eax
	and %ebx, %eax
	mov %eax, %cr4
	mov %edi, %cr3
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	ljmp $KERNEL_CS64, $2f
	.code64
2:	pop %rbx
	ret

	.section .note.GNU-stack, "", @progbits
