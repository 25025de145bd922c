/*
 * The real-mode half of the AP trampoline, shared by the 64-bit and 32-bit
 * builds (assembler only). smp_init() copies smp_trampoline_start ..
 * smp_trampoline_end to SMP_TRAMPOLINE_ADDR and writes the GDT pointer
 * (16-bit limit, 32-bit base) into smp_trampoline_gdtr of the copy; a
 * STARTUP IPI with vector SMP_TRAMPOLINE_ADDR >> 12 starts an AP here with
 * CS = vector << 8, IP = 0. Everything is addressed relative to CS, so the
 * code runs wherever it is copied; the far jump's target is an absolute
 * 32-bit address in the image, reachable once CR0.PE selects the GDT.
 */
#ifndef X86_SMP_TRAMPOLINE_H
#define X86_SMP_TRAMPOLINE_H

#include "x86/segments.h"

.macro SMP_REAL_MODE_TRAMPOLINE target32
	.code16
	.balign 16
	.globl smp_trampoline_start, smp_trampoline_end, smp_trampoline_gdtr
smp_trampoline_start:
	cli
	lgdtl %cs:(smp_trampoline_gdtr - smp_trampoline_start)
	mov %cr0, %eax
	or $1, %eax		/* PE */
	mov %eax, %cr0
	ljmpl $KERNEL_CS32, $\target32
	.balign 8
smp_trampoline_gdtr:
	.word 0
	.long 0
smp_trampoline_end:
.endm

/* DS, ES, FS, GS, SS = KERNEL_DS (clobbers EAX): entry to 32-bit and 64-bit code alike. */
.macro SMP_LOAD_KERNEL_DATA_SEGMENTS
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %fs
	mov %eax, %gs
	mov %eax, %ss
.endm

#endif
