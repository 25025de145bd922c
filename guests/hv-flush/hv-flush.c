/*
 * lkml thread (d) ("KVM: x86/mmu: Overhaul TDP MMU zapping and flushing" breaks SVM on Hyper-V,
 * 2023) as the guest sees it. A page table of the guest lives in a memslot of its own; the VMM
 * then moves that slot to other host memory (copy, delete, re-create, poison the old pages). The
 * delete invalidates KVM's TDP roots; the new root is loaded with flush_tlb_current, which under
 * Hyper-V's enlightened nested TLB drops only linear translations unless KVM also asks Hyper-V to
 * flush the root (e5c972c1fada, 6.3). Without that, the hardware keeps the old guest-physical to
 * host translation of the page-table page, and the guest's next walk through it reads the poisoned
 * old page: the guest takes a page fault it cannot explain (Jeremi's L2 guests panicked).
 * Elsewhere the walk reads the copy and the data is right.
 */
#include "libcflat.h"
#include "x86/processor.h"
#include "x86/vm.h"
#include "x86/mmulab.h"

/*
 * Slot 7, unbacked until added: one page holding the page table that maps VA. Its frame number is
 * chosen so that no frame the guest uses all the time shares its set in the guest-physical TLB
 * (gfn % 1024: the image at 4 MiB has set 0), so the stale entry is not evicted by chance.
 */
#define PT_GPA	0x102a5000UL
#define SLOT	7
/* Outside the boot identity map (0-4 GiB), so only the table at PT_GPA maps it. */
#define VA	(8UL << 30)
#define MAGIC	0x600dc0deu

static volatile uint32_t data[1024] __attribute__((aligned(4096)));

static inline uint32_t read_va(void)
{
	return *(volatile uint32_t *)VA;
}

int main(void)
{
	if (!mmulab_present()) {
		report_skip("mmulab test device absent (not running under mmulab)");
		return report_summary();
	}
	report(mmulab_slot_add(SLOT, PT_GPA, 1), "memslot %d added for a page table", SLOT);
	pteval_t *pde = pt_entry(current_root(), paging_levels(), VA, 2, PT_PRESENT_MASK | PT_WRITABLE_MASK);
	pteval_t *pt = (pteval_t *)PT_GPA;
	pt[0] = (unsigned long)data | PT_PRESENT_MASK | PT_WRITABLE_MASK;
	*pde = PT_GPA | PT_PRESENT_MASK | PT_WRITABLE_MASK;
	invlpg((void *)VA);
	data[0] = MAGIC;
	report(read_va() == MAGIC, "the page table in the memslot maps the data page");

	report(mmulab_slot_reback(SLOT), "the VMM moved the memslot to new host memory");
	/* The guest drops its own translation, so the next access walks its tables again. */
	invlpg((void *)VA);
	report(read_va() == MAGIC, "after the move the walk reads the page table's copy");
	report(pt[0] == ((unsigned long)data | PT_PRESENT_MASK | PT_WRITABLE_MASK | PT_ACCESSED_MASK)
	       || pt[0] == ((unsigned long)data | PT_PRESENT_MASK | PT_WRITABLE_MASK), "the page table kept its entry");
	return report_summary();
}
