/*
 * Boot stub, 64-bit build. Entered by a multiboot v1 loader (QEMU -kernel,
 * mmulab's loader) as x86/boot-entry.h describes.
 *
 * Steps: save EBX, zero .bss, take our own stack and GDT, enable PAE
 * paging with the static identity map (pgtable.S), set EFER.LME, enable
 * paging (-> compatibility mode), far jump to 64-bit code, then the C half
 * (lib_init: IDT, TSS, argv), main(argc, argv), exit(main's value).
 */
#include "x86/boot-entry.h"
#include "x86/segments.h"

#define CR0_PE		(1 << 0)
#define CR0_PG		(1 << 31)
#define CR4_PAE		(1 << 5)
#define MSR_EFER	0xc0000080
#define EFER_LME	(1 << 8)

	BOOT_ENTRY32

	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $ptl4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	/* PG with LME set activates long mode; CS.L=0 so this is compat mode. */
	mov %cr0, %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0
	ljmpl $KERNEL_CS64, $start64

	.code64
start64:
	/* Data segments are mostly ignored in 64-bit mode, but SS must be valid. */
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov %eax, %fs
	mov %eax, %gs
	mov $boot_stack_top, %rsp
	xor %ebp, %ebp		/* terminate frame-pointer chains */
	call lib_init
	mov __argc(%rip), %edi
	lea __argv(%rip), %rsi
	call main
	mov %eax, %edi
	call exit
	ud2			/* exit() does not return */

	BOOT_DATA

/*
 * GDT. The TSS descriptor is filled in by setup_tss() (its base is only
 * known at link time and must be split into fields). Accessed bits are
 * preset so the CPU never has to write the table.
 */
	.balign 16
	.globl gdt
gdt:
	.quad 0				/* 0x00 null */
	.quad 0x00af9b000000ffff	/* 0x08 KERNEL_CS64: L=1, DPL0, exec/read */
	.quad 0x00cf93000000ffff	/* 0x10 KERNEL_DS: flat 4 GiB, DPL0, r/w */
	.quad 0x00cf9b000000ffff	/* 0x18 KERNEL_CS32: flat 4 GiB, D=1, DPL0 */
	.quad 0x00cffb000000ffff	/* 0x20 USER_CS32: flat 4 GiB, D=1, DPL3 */
	.quad 0x00cff3000000ffff	/* 0x28 USER_DS: flat 4 GiB, DPL3, r/w */
	.quad 0x00affb000000ffff	/* 0x30 USER_CS64: L=1, DPL3 */
	.quad 0, 0			/* 0x38 TSS (16 bytes) */
	.fill GDT_SPARE_COUNT, 8, 0	/* 0x48... spare slots for tests */
gdt_end:

/* 10 bytes: lgdtl in 32-bit mode reads the first 6, lgdt in 64-bit all 10. */
	.balign 8
	.globl gdt_descr
gdt_descr:
	.word gdt_end - gdt - 1
	.quad gdt

	BOOT_STACK
