/*
 * smep-flush: a MOV to CR4 that sets SMEP invalidates the TLB entries and
 * paging-structure caches of the current PCID (SDM Vol. 3 4.10.4.1), so a
 * PTE the guest changed without INVLPG takes effect after it.
 *
 * Each round maps TVA to page A and reads it (so the translation is cached:
 * by the TLB, and under shadow paging by KVM's shadow page of that table),
 * points the PTE at page B with a plain store, sets CR4.SMEP and reads TVA
 * again: it must see B. With CR0.WP=1 the SMEP change leaves KVM's shadow
 * root role as it was (smep_andnot_wp stays 0), with CR0.WP=0 it switches
 * between two roles, so a root that keeps its roots (lkml (a)'s proposal)
 * reuses the current root, or one from its previous roots, across the
 * change. Only the flush KVM asks for at SMEP 0 -> 1 then syncs the shadow
 * page the guest wrote (skipSmep0to1Flush is the negative control).
 */
#include "libcflat.h"
#include "x86/processor.h"
#include "x86/vm.h"

#define TVA	0x0000123400000000ul
#define ROUNDS	3

static u8 page_a[PAGE_SIZE] __aligned(PAGE_SIZE);
static u8 page_b[PAGE_SIZE] __aligned(PAGE_SIZE);

static void set_wp(bool on)
{
	unsigned long cr0 = read_cr0();

	write_cr0(on ? cr0 | X86_CR0_WP : cr0 & ~X86_CR0_WP);
}

static void rounds(pteval_t *pte, bool wp)
{
	const pteval_t flags = PT_PRESENT_MASK | PT_WRITABLE_MASK | PT_ACCESSED_MASK | PT_DIRTY_MASK;
	volatile u8 *p = (volatile u8 *)TVA;
	int stale = 0, first = 0;

	set_wp(wp);
	for (int i = 0; i < ROUNDS; i++) {
		write_cr4(read_cr4() & ~X86_CR4_SMEP);
		*pte = (unsigned long)page_a | flags;
		invlpg((void *)TVA);
		first += *p == 0xa;
		*pte = (unsigned long)page_b | flags;	/* no INVLPG */
		write_cr4(read_cr4() | X86_CR4_SMEP);
		if (*p != 0xb)
			stale++;
	}
	report(first == ROUNDS, "CR0.WP=%d: TVA reads page A after INVLPG", wp);
	report(stale == 0, "CR0.WP=%d: TVA reads page B after CR4.SMEP 0 -> 1 (%d of %d rounds stale)",
	       wp, stale, ROUNDS);
	write_cr4(read_cr4() & ~X86_CR4_SMEP);
}

int main(void)
{
	pteval_t *root = current_root();
	pteval_t *pte;

	if (!(cpuid_indexed(7, 0).b & (1u << 7))) {
		report_skip("no SMEP (try --cpu max)");
		return report_summary();
	}
	page_a[0] = 0xa;
	page_b[0] = 0xb;
	pte = pt_entry(root, paging_levels(), TVA, 1, PT_PRESENT_MASK | PT_WRITABLE_MASK);
	/* SMEP faults supervisor fetches from user pages: make the kernel's map supervisor-only. */
	root[0] &= ~PT_USER_MASK;
	write_cr3(read_cr3());

	rounds(pte, true);
	rounds(pte, false);
	set_wp(true);
	return report_summary();
}
