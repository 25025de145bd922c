/*
 * global: global pages with CR4.PGE (SDM Vol. 3 4.10.2.4, 4.10.4.1).
 *
 * Two kinds of checks:
 *   - invalidation ("must see the new translation"): INVLPG invalidates a
 *     global translation, for any address in a large page; MOV to CR4 that
 *     changes PGE (either way) invalidates everything, global included; MOV
 *     to CR3 invalidates non-global translations, and G is ignored when
 *     CR4.PGE=0 or in non-leaf entries. These hold on every correct CPU.
 *   - retention ("still sees the old one"): MOV to CR3 does not invalidate
 *     global translations (4.10.4.1), so after a PTE edit without INVLPG a
 *     real CPU keeps using the cached global translation, also in another
 *     address space. The SDM allows a TLB to drop entries at any time, so
 *     this is what hardware (and mmulab's TLB, which keeps entries until an
 *     architectural flush) does rather than a guarantee; QEMU's TCG TLB is
 *     flushed completely by every CR3 write and fails these lines.
 * Lines say "(retention)" where they check the second kind.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/vm.h"

#define P	PT_PRESENT_MASK
#define RW	PT_WRITABLE_MASK
#define US	PT_USER_MASK
#define PS	PT_PAGE_SIZE_MASK
#define G	PT_GLOBAL_MASK

#define TVA	0x0000123400000000ul
#define TVA_2M	0x0000123440000000ul
#define PHYS_A2M 0x01000000ul
#define PHYS_B2M 0x01200000ul

static u8 page_a[PAGE_SIZE] __aligned(PAGE_SIZE), page_b[PAGE_SIZE] __aligned(PAGE_SIZE);
static pteval_t *pte, *pde, *pde2m, *root;
static pteval_t other_root[512] __aligned(PAGE_SIZE);

static volatile int rd_value;

static void rd_fn(void *va)
{
	rd_value = *(volatile u8 *)va;
}

/* The byte at va, or -1 if reading it faults. */
static int rd(unsigned long va)
{
	struct fault_info fi;

	if (catch_fault(rd_fn, (void *)va, &fi)) {
		report_info("  reading %#lx: vector %d error code %#lx", va, fi.vector, fi.error_code);
		return -1;
	}
	return rd_value;
}

static void map(pteval_t *e, void *page, pteval_t flags)
{
	*e = (unsigned long)page | P | RW | US | flags;
}

static void set_pge(bool on)
{
	unsigned long cr4 = read_cr4();

	write_cr4(on ? cr4 | X86_CR4_PGE : cr4 & ~X86_CR4_PGE);
}

/* Start each case from an empty TLB for TVA: PGE toggled, both directions. */
static void start(bool pge, pteval_t flags)
{
	set_pge(false);
	map(pte, page_a, flags);
	set_pge(pge);
}

static void test_4k(void)
{
	start(true, G);
	report(rd(TVA) == 0xa, "G=1, PGE=1: TVA maps page A");
	map(pte, page_b, G);
	write_cr3(read_cr3());
	report(rd(TVA) == 0xa, "global translation survives MOV CR3 (retention)");
	invlpg((void *)TVA);
	report(rd(TVA) == 0xb, "INVLPG invalidates the global translation");

	start(true, G);
	(void)rd(TVA);
	map(pte, page_b, G);
	write_cr3((unsigned long)other_root);
	report(rd(TVA) == 0xa,
	       "global translation used after MOV CR3 to tables that do not map TVA (retention)");
	write_cr3((unsigned long)root);

	start(true, 0);
	(void)rd(TVA);
	map(pte, page_b, 0);
	write_cr3(read_cr3());
	report(rd(TVA) == 0xb, "G=0: MOV CR3 invalidates the translation");

	start(false, G);
	(void)rd(TVA);
	map(pte, page_b, G);
	write_cr3(read_cr3());
	report(rd(TVA) == 0xb, "G=1 with CR4.PGE=0: G ignored, MOV CR3 invalidates");

	start(true, G);
	(void)rd(TVA);
	map(pte, page_b, G);
	set_pge(false);
	report(rd(TVA) == 0xb, "MOV CR4 clearing PGE invalidates global translations");

	start(false, G);
	(void)rd(TVA);
	map(pte, page_b, G);
	set_pge(true);
	report(rd(TVA) == 0xb, "MOV CR4 setting PGE invalidates all translations");

	start(true, 0);
	*pde |= G;
	write_cr3(read_cr3());
	(void)rd(TVA);
	map(pte, page_b, 0);
	write_cr3(read_cr3());
	report(rd(TVA) == 0xb, "G in a non-leaf PDE is ignored: MOV CR3 invalidates");
	*pde &= ~G;

	start(true, G);
	(void)rd(TVA);
	map(pte, page_b, G);
	invlpg((void *)(TVA + PAGE_SIZE));
	write_cr3(read_cr3());
	report(rd(TVA) == 0xa, "INVLPG of another page leaves the global translation (retention)");
	set_pge(false);
}

static void test_2m(void)
{
	*(volatile u8 *)(PHYS_A2M + 0x1000) = 0xa;
	*(volatile u8 *)(PHYS_A2M + 0x3000) = 0xa;
	*(volatile u8 *)(PHYS_B2M + 0x1000) = 0xb;
	*(volatile u8 *)(PHYS_B2M + 0x3000) = 0xb;

	set_pge(false);
	*pde2m = PHYS_A2M | P | RW | US | PS | G;
	set_pge(true);
	report(rd(TVA_2M + 0x1000) == 0xa && rd(TVA_2M + 0x3000) == 0xa,
	       "global 2 MiB page maps A");
	*pde2m = PHYS_B2M | P | RW | US | PS | G;
	write_cr3(read_cr3());
	report(rd(TVA_2M + 0x1000) == 0xa, "global 2 MiB page survives MOV CR3 (retention)");
	invlpg((void *)(TVA_2M + 0x5000));
	report(rd(TVA_2M + 0x1000) == 0xb && rd(TVA_2M + 0x3000) == 0xb,
	       "INVLPG of one address in the 2 MiB page invalidates all of it");
	*pde2m = PHYS_A2M | P | RW | US | PS | G;
	set_pge(false);
	report(rd(TVA_2M + 0x3000) == 0xa, "clearing PGE invalidates the 2 MiB page");
}

int main(int argc, char **argv)
{
	if (!(cpuid(1).d & (1u << 13))) {
		report_skip("CR4.PGE: CPUID.1:EDX.PGE = 0");
		return report_summary();
	}
	page_a[0] = 0xa;
	page_b[0] = 0xb;
	root = current_root();
	pte = pt_entry(root, 4, TVA, 1, P | RW | US);
	pde = pt_entry(root, 4, TVA, 2, 0);
	pde2m = pt_entry(root, 4, TVA_2M, 2, P | RW | US);
	/* Same kernel mappings, without the PML4 slot of TVA. */
	memcpy(other_root, root, PAGE_SIZE);
	other_root[(TVA >> 39) & 511] = 0;

	report_prefix_push("global");
	test_4k();
	test_2m();
	report_prefix_pop();
	return report_summary();
}
