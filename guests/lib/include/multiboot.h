/*
 * The part of the multiboot v1 information structure the library reads.
 * Offsets are fixed by the specification; all fields are 32-bit.
 * The magic numbers are also used by the boot stub (assembly).
 */
#ifndef MULTIBOOT_H
#define MULTIBOOT_H

#define MULTIBOOT_HEADER_MAGIC		0x1BADB002
#define MULTIBOOT_BOOTLOADER_MAGIC	0x2BADB002

#ifndef __ASSEMBLER__
#include <stdint.h>

#define MULTIBOOT_INFO_MEMORY	(1u << 0)	/* mem_lower/mem_upper valid */
#define MULTIBOOT_INFO_CMDLINE	(1u << 2)	/* cmdline valid */
#define MULTIBOOT_INFO_MODS	(1u << 3)	/* mods_count/mods_addr valid */
#define MULTIBOOT_INFO_MMAP	(1u << 6)	/* mmap_length/mmap_addr valid */

struct multiboot_info {
	uint32_t flags;		/* 0 */
	uint32_t mem_lower;	/* 4, KiB below 1 MiB */
	uint32_t mem_upper;	/* 8, KiB above 1 MiB */
	uint32_t boot_device;	/* 12 */
	uint32_t cmdline;	/* 16, physical address of a NUL-terminated string */
	uint32_t mods_count;	/* 20 */
	uint32_t mods_addr;	/* 24 */
	uint32_t syms[4];	/* 28 */
	uint32_t mmap_length;	/* 44 */
	uint32_t mmap_addr;	/* 48 */
};

/* Physical address of the info structure, saved by the boot stub from EBX. */
extern uint32_t mb_info_phys;
#endif

#endif
