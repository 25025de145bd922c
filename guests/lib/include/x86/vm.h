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

#ifdef __x86_64__
/*
 * General page-table building for tests (64-bit build). Tables are used
 * through their physical addresses as pointers, so they and the tables
 * they hang off must lie in the identity map (the boot map covers
 * 0-4 GiB).
 *
 * alloc_pt_page(): a zeroed 4 KiB page from a static pool (aborts when
 * the pool is exhausted).
 * pt_entry(root, levels, va, level, table_flags): pointer to the entry
 * at `level` (1 = PTE, 2 = PDE, 3 = PDPTE, 4 = PML4E, 5 = PML5E) that
 * maps va in the `levels`-level hierarchy whose top table is root,
 * creating missing tables on the way (their parent entries get
 * table_flags, which must include PT_PRESENT_MASK). Aborts if a large
 * page is in the way.
 * current_root()/paging_levels(): the hierarchy CR3/CR4.LA57 select.
 */
pteval_t *alloc_pt_page(void);
pteval_t *pt_entry(pteval_t *root, int levels, unsigned long va, int level,
		   pteval_t table_flags);
pteval_t *current_root(void);
int paging_levels(void);
#endif

/*
 * run_in_user() runs fn at fn + user_alias_offset on the user stack at
 * user_stack_top() + user_alias_offset (0 by default). Tests that make
 * the kernel's own mapping supervisor-only (SMEP, SMAP, PKU) map an
 * alias of the image with user rights at this offset.
 */
extern unsigned long user_alias_offset;

#endif
