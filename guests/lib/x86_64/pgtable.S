/*
 * Boot page tables (4-level): identity map of the first 4 GiB with 2 MiB
 * pages, P|RW|US|A|D|PS. US=1 everywhere so tests can run code at CPL3 on
 * the same mapping; A and D are preset so the walker never needs to write
 * them. Built statically (like kvm-unit-tests' ptl4/ptl3/ptl2), so the
 * 32-bit boot code only has to load CR3. Tests may edit them (see vm.c).
 */
#define PTE_P	0x001
#define PTE_RW	0x002
#define PTE_US	0x004
#define PTE_A	0x020
#define PTE_D	0x040
#define PTE_PS	0x080
#define PDE_2M	(PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D | PTE_PS)
#define PTE_TABLE (PTE_P | PTE_RW | PTE_US | PTE_A)

	.data
	.balign 4096
	.globl ptl4, ptl3, ptl2
ptl4:
	.quad ptl3 + PTE_TABLE
	.fill 511, 8, 0

ptl3:
	i = 0
	.rept 4
	.quad ptl2 + i * 4096 + PTE_TABLE
	i = i + 1
	.endr
	.fill 508, 8, 0

/* 4 tables of 512 entries: entry i maps [i * 2 MiB, (i + 1) * 2 MiB). */
ptl2:
	i = 0
	.rept 4 * 512
	.quad (i << 21) + PDE_2M
	i = i + 1
	.endr

	.section .note.GNU-stack, "", @progbits
