/*
 * Boot stub, 32-bit build (-m32). Entered by a multiboot v1 loader as
 * x86/boot-entry.h describes.
 *
 * Steps: save EBX, zero .bss, take our own stack and GDT (flat 32-bit
 * segments for CPL0 and CPL3, a 32-bit TSS), then the C half (lib_init:
 * IDT of 32-bit interrupt gates, TSS, argv), main(argc, argv),
 * exit(main's value). Paging stays OFF: every 32-bit test builds the
 * 2-level or PAE tables it needs and turns paging on itself.
 */
#include "x86/boot-entry.h"
#include "x86/segments.h"

	BOOT_ENTRY32
	mov $boot_stack_top, %esp
	xor %ebp, %ebp		/* terminate frame-pointer chains */
	call lib_init
	push $__argv
	push __argc
	call main
	add $8, %esp
	push %eax
	call exit
	ud2			/* exit() does not return */

	BOOT_DATA

/*
 * GDT. The TSS descriptor is filled in by setup_tss(). Accessed bits are
 * preset so the CPU never has to write the table.
 */
	.balign 16
	.globl gdt
gdt:
	.quad 0				/* 0x00 null */
	.quad 0x00cf9b000000ffff	/* 0x08 KERNEL_CS32: flat 4 GiB, D=1, DPL0 */
	.quad 0x00cf93000000ffff	/* 0x10 KERNEL_DS: flat 4 GiB, DPL0, r/w */
	.quad 0x00cffb000000ffff	/* 0x18 USER_CS32: flat 4 GiB, D=1, DPL3 */
	.quad 0x00cff3000000ffff	/* 0x20 USER_DS: flat 4 GiB, DPL3, r/w */
	.quad 0				/* 0x28 TSS */
	.fill GDT_SPARE_COUNT, 8, 0	/* 0x30... spare slots for tests */
gdt_end:

	.balign 8
	.globl gdt_descr
gdt_descr:
	.word gdt_end - gdt - 1
	.long gdt

	BOOT_STACK
