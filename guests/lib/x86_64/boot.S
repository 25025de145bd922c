/*
 * Boot stub, 64-bit build. Entered by a multiboot v1 loader (QEMU -kernel,
 * mmulab's loader) in 32-bit protected mode, paging off, with
 * EAX = 0x2BADB002 and EBX = physical address of the multiboot info.
 * Per the multiboot spec the loader's GDTR may be invalid and ESP unset, so
 * nothing from the loader is trusted except EBX and the flat CS/DS it is
 * running on.
 *
 * Steps: save EBX, zero .bss, take our own stack and GDT, enable PAE
 * paging with the static identity map (pgtable.S), set EFER.LME, enable
 * paging (-> compatibility mode), far jump to 64-bit code, then the C half
 * (lib_init: IDT, TSS, argv), main(argc, argv), exit(main's value).
 */
#include "multiboot.h"
#include "x86/segments.h"

#define CR0_PE		(1 << 0)
#define CR0_PG		(1 << 31)
#define CR4_PAE		(1 << 5)
#define MSR_EFER	0xc0000080
#define EFER_LME	(1 << 8)

/*
 * The header must sit in the first 8 KiB of the file, 4-byte aligned;
 * .init is placed first in the image by flat.lds. Flags 0: no a.out
 * kludge, so the loader must use the ELF program headers.
 */
	.section .init, "ax"
	.code32
	.balign 4
multiboot_header:
	.long MULTIBOOT_HEADER_MAGIC
	.long 0
	.long -(MULTIBOOT_HEADER_MAGIC + 0)

	.globl _start
_start:
	/* .data, not .bss: the bss is zeroed right below. */
	mov %ebx, mb_info_phys
	cld
	mov $__bss_start, %edi
	mov $__bss_end, %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb

	mov $boot_stack_top, %esp
	lgdtl gdt_descr
	/* Reload CS from our GDT: the loader's descriptor cache is not ours. */
	ljmpl $KERNEL_CS32, $1f
1:	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %fs
	mov %eax, %gs
	mov %eax, %ss

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

	.data
	.globl mb_info_phys
	.balign 4
mb_info_phys:
	.long 0

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

	.bss
	.balign 4096
	.globl boot_stack, boot_stack_top
boot_stack:
	.skip 64 * 1024
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
