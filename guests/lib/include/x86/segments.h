/*
 * GDT layout shared by the boot stub (assembly) and C. The order of
 * USER_CS32, USER_DS, USER_CS64 is the one SYSRET requires
 * (STAR[63:48] = USER_CS32: SYSRET64 loads CS = +16, SS = +8), and
 * KERNEL_CS64, KERNEL_DS the one SYSCALL requires (STAR[47:32] = KERNEL_CS64).
 */
#ifndef X86_SEGMENTS_H
#define X86_SEGMENTS_H

#define KERNEL_CS64	0x08	/* 64-bit code, DPL 0 */
#define KERNEL_DS	0x10	/* flat 4 GiB data, DPL 0 */
#define KERNEL_CS32	0x18	/* flat 4 GiB 32-bit code, DPL 0 */
#define USER_CS32	0x23	/* flat 32-bit code, DPL 3 (compatibility mode) */
#define USER_DS		0x2b	/* flat data, DPL 3 */
#define USER_CS64	0x33	/* 64-bit code, DPL 3 */
#define TSS_SEL		0x38	/* 16-byte 64-bit TSS descriptor (slots 7 and 8) */
#define GDT_ENTRIES	9

/* Vector of the DPL-3 gate the run_in_user() trampoline uses to come back. */
#define USER_RET_VECTOR	0x7f

#endif
