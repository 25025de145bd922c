/*
 * Editing the 4-level boot page tables. Tests that need a 4 KiB
 * granularity mapping (not-present page, read-only page, ...) ask for the
 * PTE of an address; the 2 MiB page around it is split on demand into a
 * page table from a static pool. Table addresses are used as pointers
 * directly, which works because the boot map is an identity map.
 */
#include "libcflat.h"
#include "x86/processor.h"
#include "x86/vm.h"

#define PT_ENTRIES	512
#define POOL_TABLES	16

static pteval_t pool[POOL_TABLES][PT_ENTRIES] __aligned(4096);
static int pool_used;

static pteval_t *table_of(pteval_t entry)
{
	return (pteval_t *)(unsigned long)(entry & PT_ADDR_MASK);
}

static unsigned index_of(unsigned long va, int level)
{
	return (va >> (PAGE_SHIFT + 9 * (level - 1))) & (PT_ENTRIES - 1);
}

/* Replace a 2 MiB PDE by a table of 512 PTEs mapping the same memory. */
static void split_large_pde(pteval_t *pde)
{
	pteval_t large = *pde;
	pteval_t attrs = large & ~PT_ADDR_MASK & ~PT_PAGE_SIZE_MASK & ~PT_PAT_LARGE_MASK;
	pteval_t *pt;

	if (pool_used == POOL_TABLES) {
		printf("get_pte_4k: page-table pool exhausted\n");
		abort();
	}
	pt = pool[pool_used++];
	/* The large page's PAT bit (12) moves to bit 7 in a 4 KiB PTE. */
	if (large & PT_PAT_LARGE_MASK)
		attrs |= PT_PAT_MASK;
	for (int i = 0; i < PT_ENTRIES; i++)
		pt[i] = ((large & PT_ADDR_MASK & ~(LARGE_PAGE_SIZE - 1)) +
			 i * PAGE_SIZE) | attrs;
	/* Upper levels: same rights as before, leaving A set like the boot tables. */
	*pde = (unsigned long)pt | PT_PRESENT_MASK | PT_WRITABLE_MASK |
	       PT_USER_MASK | PT_ACCESSED_MASK;
	/*
	 * The old 2 MiB translation may be cached anywhere in the range:
	 * a CR3 reload drops it (the boot map has no global pages).
	 */
	write_cr3(read_cr3());
}

pteval_t *get_pte_4k(const volatile void *vaddr)
{
	unsigned long va = (unsigned long)vaddr;
	pteval_t *table = (pteval_t *)(read_cr3() & PT_ADDR_MASK);

	for (int level = 4; level > 1; level--) {
		pteval_t *e = &table[index_of(va, level)];

		if (!(*e & PT_PRESENT_MASK)) {
			printf("get_pte_4k: %lx not mapped at level %d\n", va, level);
			abort();
		}
		if (*e & PT_PAGE_SIZE_MASK) {
			if (level != 2) {
				printf("get_pte_4k: %lx is in a 1 GiB page\n", va);
				abort();
			}
			split_large_pde(e);
		}
		table = table_of(*e);
	}
	return &table[index_of(va, 1)];
}

#define TEST_POOL_TABLES 96

static pteval_t test_pool[TEST_POOL_TABLES][PT_ENTRIES] __aligned(4096);
static int test_pool_used;

pteval_t *alloc_pt_page(void)
{
	pteval_t *p;

	if (test_pool_used == TEST_POOL_TABLES) {
		printf("alloc_pt_page: page-table pool exhausted\n");
		abort();
	}
	p = test_pool[test_pool_used++];
	memset(p, 0, PAGE_SIZE);
	return p;
}

pteval_t *pt_entry(pteval_t *root, int levels, unsigned long va, int level,
		   pteval_t table_flags)
{
	pteval_t *table = root;

	for (int l = levels; l > level; l--) {
		pteval_t *e = &table[index_of(va, l)];

		if (!(*e & PT_PRESENT_MASK))
			*e = (unsigned long)alloc_pt_page() | table_flags;
		else if (*e & PT_PAGE_SIZE_MASK) {
			printf("pt_entry: %lx is in a large page at level %d\n", va, l);
			abort();
		}
		table = table_of(*e);
	}
	return &table[index_of(va, level)];
}

pteval_t *current_root(void)
{
	return (pteval_t *)(read_cr3() & PT_ADDR_MASK);
}

int paging_levels(void)
{
	return read_cr4() & X86_CR4_LA57 ? 5 : 4;
}
