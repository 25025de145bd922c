/*
 * GDT layout shared by the boot stubs (assembly) and C, one per build.
 *
 * 64-bit build: the order of USER_CS32, USER_DS, USER_CS64 is the one
 * SYSRET requires (STAR[63:48] = USER_CS32: SYSRET64 loads CS = +16,
 * SS = +8), and KERNEL_CS64, KERNEL_DS the one SYSCALL requires
 * (STAR[47:32] = KERNEL_CS64).
 *
 * 32-bit build (-m32): flat 32-bit code and data for CPL0 and CPL3 and a
 * 32-bit TSS; no 64-bit code segments.
 *
 * Both builds end the GDT with GDT_SPARE_COUNT zeroed slots starting at
 * selector GDT_SPARE_SEL, for tests that need descriptors of their own
 * (segment-load checks, call gates, ...). Tests write them through
 * gdt[] (x86/desc.h) and must not touch the other slots.
 */
#ifndef X86_SEGMENTS_H
#define X86_SEGMENTS_H

#ifdef __x86_64__
#define KERNEL_CS64	0x08	/* 64-bit code, DPL 0 */
#define KERNEL_DS	0x10	/* flat 4 GiB data, DPL 0 */
#define KERNEL_CS32	0x18	/* flat 4 GiB 32-bit code, DPL 0 */
#define USER_CS32	0x23	/* flat 32-bit code, DPL 3 (compatibility mode) */
#define USER_DS		0x2b	/* flat data, DPL 3 */
#define USER_CS64	0x33	/* 64-bit code, DPL 3 */
#define TSS_SEL		0x38	/* 16-byte 64-bit TSS descriptor (slots 7 and 8) */
#define KERNEL_CS	KERNEL_CS64	/* the code segment C code runs on */
#define USER_CS		USER_CS64
#define GDT_SPARE_SEL	0x48
#else
#define KERNEL_CS32	0x08	/* flat 4 GiB 32-bit code, DPL 0 */
#define KERNEL_DS	0x10	/* flat 4 GiB data, DPL 0 */
#define USER_CS32	0x1b	/* flat 4 GiB 32-bit code, DPL 3 */
#define USER_DS		0x23	/* flat 4 GiB data, DPL 3 */
#define TSS_SEL		0x28	/* 32-bit TSS */
#define KERNEL_CS	KERNEL_CS32
#define USER_CS		USER_CS32
#define GDT_SPARE_SEL	0x30
#endif

#define GDT_SPARE_COUNT	8
#define GDT_ENTRIES	(GDT_SPARE_SEL / 8 + GDT_SPARE_COUNT)

/* Vector of the DPL-3 gate the run_in_user() trampoline uses to come back. */
#define USER_RET_VECTOR	0x7f

#endif
