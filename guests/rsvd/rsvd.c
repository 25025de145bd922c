/*
 * rsvd: reserved bits of 4-level paging entries, per level and per
 * MAXPHYADDR (CPUID 0x80000008:EAX[7:0]), SDM Vol. 3 4.5 tables 4-14 to
 * 4-20 and 4.7:
 *   - bits 51:MAXPHYADDR of every entry (address bits the CPU lacks);
 *   - XD (bit 63) when EFER.NXE=0;
 *   - PS (bit 7) in a PML4E;
 *   - bits 29:13 of a 1 GiB PDPTE and 20:13 of a 2 MiB PDE (bit 12 is
 *     PAT there, not reserved);
 *   - not reserved: bits 62:52 (ignored), PAT/G/ignored bits of a PTE,
 *     D/G of non-leaf entries.
 * A reserved bit gives #PF with P=1 and RSVD=1 plus the access bits
 * (W, U, I), at the first level (from the top) that has one; an entry
 * with P=0 ignores all its other bits. Case names do not contain
 * MAXPHYADDR, so runs with different phys-bits print comparable lines.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/access.h"
#include "x86/fault-check.h"
#include "x86/processor.h"
#include "x86/vm.h"

#define P	PT_PRESENT_MASK
#define RW	PT_WRITABLE_MASK
#define US	PT_USER_MASK
#define PS	PT_PAGE_SIZE_MASK
#define BIT(n)	(1ull << (n))

#define TVA	0x0000123400000000ul
#define TVA_2M	0x0000123440000000ul
#define TVA_1G	0x0000123500000000ul
#define PHYS_2M	0x01000000ul
#define OFF_DATA ACCESS_DATA_OFFSET

static u8 target[PAGE_SIZE] __aligned(PAGE_SIZE);
static pteval_t *root, *pml4e, *pdpte, *pde, *pte;
static pteval_t *pde_2m, *pdpte_1g;
static unsigned maxphy;
static bool nx_supported, gb_supported;

/* The tables are in the identity map below 4 GiB: address bits 31:12. */
#define TABLE_ADDR 0xfffff000ul

static void reset(void)
{
	*pml4e = (*pml4e & TABLE_ADDR) | P | RW | US;
	*pdpte = (*pdpte & TABLE_ADDR) | P | RW | US;
	*pde = (*pde & TABLE_ADDR) | P | RW | US;
	*pte = (unsigned long)target | P | RW | US;
	*pde_2m = PHYS_2M | P | RW | US | PS;
	if (pdpte_1g)
		*pdpte_1g = P | RW | US | PS;
	write_cr3(read_cr3());
}

/*
 * Set `bits` in *entry, read va (CPL0), expect RSVD or not, restore.
 */
static void check(pteval_t *entry, unsigned long va, pteval_t bits, bool rsvd,
		  const char *name)
{
	struct fault_info fi;
	bool ok;

	reset();
	*entry |= bits;
	write_cr3(read_cr3());
	catch_fault(access_read, (void *)va, &fi);
	if (rsvd)
		ok = fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, va + OFF_DATA);
	else
		ok = fi.vector < 0;
	if (!report(ok, "%s: %s", name, rsvd ? "read #PF P|RSVD (0x9)" : "no fault"))
		report_fault(&fi);
	reset();
}

struct level {
	const char *name;
	pteval_t **entry;
	unsigned long va;
};

static void per_level_bits(void)
{
	struct level levels[] = {
		{ "PML4E", &pml4e, TVA }, { "PDPTE", &pdpte, TVA },
		{ "PDE", &pde, TVA }, { "PTE", &pte, TVA },
		{ "2 MiB PDE", &pde_2m, TVA_2M }, { "1 GiB PDPTE", &pdpte_1g, TVA_1G },
	};
	char name[80];

	for (unsigned i = 0; i < ARRAY_SIZE(levels); i++) {
		struct level *l = &levels[i];

		if (!*l->entry) {
			report_skip("%s: no 1 GiB pages (bit MAXPHYADDR)", l->name);
			report_skip("%s: no 1 GiB pages (bit 51)", l->name);
			report_skip("%s: no 1 GiB pages (bits 62:52)", l->name);
			report_skip("%s: no 1 GiB pages (XD)", l->name);
			continue;
		}
		snprintf(name, sizeof(name), "%s bit MAXPHYADDR", l->name);
		if (maxphy < 52)
			check(*l->entry, l->va, BIT(maxphy), true, name);
		else
			report_skip("%s: MAXPHYADDR is 52", name);
		snprintf(name, sizeof(name), "%s bit 51", l->name);
		if (maxphy <= 51)
			check(*l->entry, l->va, BIT(51), true, name);
		else
			report_skip("%s: MAXPHYADDR is 52", name);
		snprintf(name, sizeof(name), "%s bits 62:52 (ignored)", l->name);
		check(*l->entry, l->va, 0x7ff0000000000000ull, false, name);
		if (nx_supported) {
			wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_NX);
			snprintf(name, sizeof(name), "%s XD with EFER.NXE=0", l->name);
			check(*l->entry, l->va, PT_NX_MASK, true, name);
			wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NX);
			snprintf(name, sizeof(name), "%s XD with EFER.NXE=1 (read)", l->name);
			check(*l->entry, l->va, PT_NX_MASK, false, name);
		} else {
			snprintf(name, sizeof(name), "%s XD without NX support", l->name);
			check(*l->entry, l->va, PT_NX_MASK, true, name);
			report_skip("%s XD with EFER.NXE=1: no NX", l->name);
		}
	}
}

static void level_specific_bits(void)
{
	/* The highest address bit is not reserved: the page is just above RAM. */
	check(pte, TVA, BIT(maxphy - 1), false, "PTE bit MAXPHYADDR-1 (address bit)");
	check(pde_2m, TVA_2M, BIT(maxphy - 1), false, "2 MiB PDE bit MAXPHYADDR-1 (address bit)");
	check(pml4e, TVA, PS, true, "PML4E.PS (bit 7)");
	check(pml4e, TVA, BIT(8) | BIT(6), false, "PML4E bits 8 and 6 (ignored)");
	check(pdpte, TVA, BIT(6) | BIT(8), false, "PDPTE (table) bits 6 and 8 (ignored)");
	check(pde, TVA, BIT(6) | BIT(8), false, "PDE (table) bits 6 and 8 (ignored)");
	check(pte, TVA, BIT(7) | BIT(8) | BIT(9) | BIT(10) | BIT(11), false,
	      "PTE bits 7 (PAT), 8 (G), 11:9 (ignored)");
	check(pde_2m, TVA_2M, BIT(13), true, "2 MiB PDE bit 13");
	check(pde_2m, TVA_2M, BIT(20), true, "2 MiB PDE bit 20");
	check(pde_2m, TVA_2M, BIT(12), false, "2 MiB PDE bit 12 (PAT)");
	if (pdpte_1g) {
		check(pdpte_1g, TVA_1G, BIT(13), true, "1 GiB PDPTE bit 13");
		check(pdpte_1g, TVA_1G, BIT(29), true, "1 GiB PDPTE bit 29");
		check(pdpte_1g, TVA_1G, BIT(12), false, "1 GiB PDPTE bit 12 (PAT)");
	} else {
		report_skip("1 GiB PDPTE bit 13: no 1 GiB pages");
		report_skip("1 GiB PDPTE bit 29: no 1 GiB pages");
		report_skip("1 GiB PDPTE bit 12: no 1 GiB pages");
	}
}

static void error_code_bits(void)
{
	struct fault_info fi;

	reset();
	*pte |= BIT(51);
	write_cr3(read_cr3());
	run_in_user(access_write, (void *)TVA, &fi);
	if (!report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD | PFERR_WRITE | PFERR_USER, TVA + OFF_DATA),
		    "PTE bit 51: CPL3 write #PF 0xf"))
		report_fault(&fi);
	*pte &= ~US;
	write_cr3(read_cr3());
	run_in_user(access_read, (void *)TVA, &fi);
	if (!report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD | PFERR_USER, TVA + OFF_DATA),
		    "PTE bit 51 on a supervisor page: CPL3 read #PF 0xd (RSVD reported)"))
		report_fault(&fi);
	if (nx_supported) {
		*pte |= US;
		write_cr3(read_cr3());
		catch_fault(access_fetch, (void *)TVA, &fi);
		if (!report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD | PFERR_FETCH, TVA),
			    "PTE bit 51: fetch #PF 0x19 (EFER.NXE=1)"))
			report_fault(&fi);
	}
	reset();

	*pde |= BIT(51);
	*pte &= ~P;
	write_cr3(read_cr3());
	catch_fault(access_read, (void *)TVA, &fi);
	if (!report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, TVA + OFF_DATA),
		    "PDE bit 51 and PTE.P=0: the PDE's reserved bit wins (0x9)"))
		report_fault(&fi);
	reset();

	*pde = (*pde & ~P) | BIT(51) | BIT(13);
	write_cr3(read_cr3());
	catch_fault(access_read, (void *)TVA, &fi);
	if (!report(fault_is_pf(&fi, 0, TVA + OFF_DATA),
		    "PDE.P=0 with reserved bits set: not checked, #PF 0x0"))
		report_fault(&fi);
	reset();

	*pte |= BIT(51);
	write_cr3(read_cr3());
	catch_fault(access_write, (void *)TVA, &fi);
	report(!(*pte & (PT_ACCESSED_MASK | PT_DIRTY_MASK)),
	       "PTE with a reserved bit: A and D stay clear after the faulting write");
	reset();
}

int main(int argc, char **argv)
{
	maxphy = cpuid_checked(0x80000008, 0).a & 0xff;
	if (!maxphy)
		maxphy = 36;
	nx_supported = cpuid_checked(0x80000001, 0).d & (1u << 20);
	gb_supported = cpuid_checked(0x80000001, 0).d & (1u << 26);
	report_info("MAXPHYADDR %u, NX %d, 1 GiB pages %d", maxphy, nx_supported, gb_supported);

	root = current_root();
	pte = pt_entry(root, 4, TVA, 1, P | RW | US);
	pde = pt_entry(root, 4, TVA, 2, 0);
	pdpte = pt_entry(root, 4, TVA, 3, 0);
	pml4e = pt_entry(root, 4, TVA, 4, 0);
	pde_2m = pt_entry(root, 4, TVA_2M, 2, P | RW | US);
	if (gb_supported)
		pdpte_1g = pt_entry(root, 4, TVA_1G, 3, P | RW | US);
	target[0] = 0xc3;	/* ret, for fetches */
	if (nx_supported)
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NX);
	reset();

	report_prefix_push("rsvd");
	per_level_bits();
	level_specific_bits();
	error_code_bits();
	report_prefix_pop();
	return report_summary();
}
