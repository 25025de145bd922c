/*
 * AP start-up, 32-bit build: real mode (the shared trampoline, copied below
 * 1 MiB) -> 32-bit protected mode here, then the BSP's paging if it had
 * turned paging on by smp_init() (CR4, EFER when it was read, CR3, CR0 from
 * smp_boot_* in smp.c), a stack of its own, and smp_ap_main().
 */
#include "x86/smp.h"
#include "x86/smp-trampoline.h"

#define CR0_PG		(1 << 31)
#define MSR_EFER	0xc0000080

	.text
	SMP_REAL_MODE_TRAMPOLINE ap_start32

	.code32
ap_start32:
	SMP_LOAD_KERNEL_DATA_SEGMENTS
	testl $CR0_PG, smp_boot_cr0
	jz 2f
	mov smp_boot_cr4, %eax
	mov %eax, %cr4
	mov smp_boot_efer, %eax
	mov smp_boot_efer + 4, %edx
	test %eax, %eax
	jz 1f
	mov $MSR_EFER, %ecx
	wrmsr
1:	mov smp_boot_cr3, %eax
	mov %eax, %cr3
2:	mov smp_boot_cr0, %eax
	mov %eax, %cr0
	mov $1, %eax
	lock xadd %eax, smp_ap_slot
	inc %eax
	imul $SMP_AP_STACK_SIZE, %eax, %eax
	add smp_ap_stacks, %eax
	mov %eax, %esp
	xor %ebp, %ebp
	call smp_ap_main
	ud2

	.section .note.GNU-stack, "", @progbits
