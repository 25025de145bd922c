/*
 * The part of the boot stub both builds share, as assembler macros for
 * lib/ARCH/boot.S (assembly only). A multiboot v1 loader enters in 32-bit
 * protected mode, paging off, with EBX = physical address of the multiboot
 * info; per the multiboot spec its GDTR may be invalid and ESP unset, so
 * nothing from the loader is trusted except EBX and the flat CS/DS it is
 * running on.
 */
#ifndef X86_BOOT_ENTRY_H
#define X86_BOOT_ENTRY_H

#include "multiboot.h"
#include "x86/segments.h"

/*
 * The multiboot header, then _start: save EBX, zero .bss, take our own
 * stack and GDT (gdt_descr, defined by each build), reload CS with
 * KERNEL_CS32 and the data segments with KERNEL_DS. Execution goes on
 * after the macro in 32-bit protected mode, paging still off.
 *
 * The header must sit in the first 8 KiB of the file, 4-byte aligned;
 * .init is placed first in the image by flat.lds. Flags 0: no a.out
 * kludge, so the loader must use the ELF program headers.
 */
.macro BOOT_ENTRY32
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
.endm

/* mb_info_phys in .data (the section stays selected for the GDT that follows). */
.macro BOOT_DATA
	.data
	.globl mb_info_phys
	.balign 4
mb_info_phys:
	.long 0
.endm

/* The 64 KiB boot stack, and no executable stack for the linker. */
.macro BOOT_STACK
	.bss
	.balign 4096
	.globl boot_stack, boot_stack_top
boot_stack:
	.skip 64 * 1024
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
.endm

#endif
