/*
 * Page-table helpers for the boot page tables (identity map of the first
 * 4 GiB with 2 MiB pages, built by the boot stub). The entry format is the
 * 64-bit one (4-level and PAE); the 2-level -m32 format will get its own.
 */
#ifndef X86_VM_H
#define X86_VM_H

#include <stdint.h>

typedef uint64_t pteval_t;

#define PAGE_SHIFT	12
#define PAGE_SIZE	(1ul << PAGE_SHIFT)
#define LARGE_PAGE_SIZE	(1ul << 21)

#define PT_PRESENT_MASK		(1ull << 0)
#define PT_WRITABLE_MASK	(1ull << 1)
#define PT_USER_MASK		(1ull << 2)
#define PT_PWT_MASK		(1ull << 3)
#define PT_PCD_MASK		(1ull << 4)
#define PT_ACCESSED_MASK	(1ull << 5)
#define PT_DIRTY_MASK		(1ull << 6)
#define PT_PAGE_SIZE_MASK	(1ull << 7)	/* in a PDE/PDPTE: maps a large page */
#define PT_PAT_MASK		(1ull << 7)	/* in a 4 KiB PTE */
#define PT_GLOBAL_MASK		(1ull << 8)
#define PT_PAT_LARGE_MASK	(1ull << 12)	/* in a large-page entry */
#define PT_NX_MASK		(1ull << 63)
#define PT_ADDR_MASK		0x000ffffffffff000ull

/*
 * Return a pointer to the 4 KiB PTE that maps va in the current CR3's
 * tables, first splitting the 2 MiB page that maps it into a page table
 * (from a small static pool) if needed. The split keeps every attribute,
 * so the mapping is unchanged until the caller edits the PTE; after an
 * edit the caller must invlpg(va). Aborts if va is not mapped or the pool
 * is exhausted. Only the boot identity map is supported (tables reachable
 * through identity-mapped physical addresses).
 */
pteval_t *get_pte_4k(const volatile void *va);

#endif
