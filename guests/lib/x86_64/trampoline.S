/*
 * AP start-up, 64-bit build: real mode (the shared trampoline, copied below
 * 1 MiB) -> 32-bit protected mode here -> long mode on the BSP's page
 * tables -> smp_ap_main() on a stack of its own. The BSP's CR0, CR3, CR4 and
 * EFER are in smp_boot_* (smp.c); CR4.PCIDE and CR3's PCID bits cannot be set
 * outside IA-32e mode, so they are left out here and restored in C.
 */
#include "x86/smp.h"
#include "x86/smp-trampoline.h"

#define CR4_PCIDE	(1 << 17)
#define MSR_EFER	0xc0000080
#define EFER_LME	(1 << 8)
#define EFER_LMA	(1 << 10)

	.text
	SMP_REAL_MODE_TRAMPOLINE ap_start32

	.code32
ap_start32:
	SMP_LOAD_KERNEL_DATA_SEGMENTS
	mov smp_boot_cr4, %eax
	and $~CR4_PCIDE, %eax
	mov %eax, %cr4
	mov smp_boot_cr3, %eax
	and $~0xfff, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	mov smp_boot_efer, %eax
	mov smp_boot_efer + 4, %edx
	and $~EFER_LMA, %eax	/* LMA is the CPU's to set */
	or $EFER_LME, %eax
	wrmsr
	mov smp_boot_cr0, %eax
	mov %eax, %cr0		/* PG with LME: compatibility mode */
	ljmpl $KERNEL_CS64, $ap_start64

	.code64
ap_start64:
	SMP_LOAD_KERNEL_DATA_SEGMENTS
	/* Slots in arrival order: slot k's stack ends at base + (k + 1) * size. */
	mov $1, %eax
	lock xadd %eax, smp_ap_slot(%rip)
	inc %eax
	imul $SMP_AP_STACK_SIZE, %rax, %rax
	add smp_ap_stacks(%rip), %rax
	mov %rax, %rsp
	xor %ebp, %ebp
	call smp_ap_main
	ud2

	.section .note.GNU-stack, "", @progbits
