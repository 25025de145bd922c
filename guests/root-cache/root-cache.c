/*
 * root-cache: switching among address spaces with MOV CR3 (SDM Vol. 3 4.10.4.1), and what KVM's
 * shadow MMU makes of it (kvm-mmu.md 4.3: the fast PGD switch keeps the current root and three
 * previous ones, least recently used first out).
 *
 * Five address spaces share the kernel's mappings and map TVA each to its own page. The guest
 * switches round robin among 4 of them, then among all 5, then (with CR4.PCIDE=1, a PCID per
 * space and NOFLUSH) among 4 again. After every switch TVA must read that space's page: that
 * holds on any CPU and in every mmulab mode.
 *
 * Under shadow paging every MOV CR3 exits, and the guest reads KVM's counters through mmulab's
 * test device: round robin over 4 spaces hits KVM's root cache on every switch once each space
 * has been visited; over 5 spaces, LRU order means every switch misses (the space switched to is
 * always the one evicted last); with NOFLUSH, switching syncs nothing. With TDP, MOV CR3 does not
 * exit, and the counter checks are skipped.
 *
 * Argument: rounds per phase (default 8).
 */
#include "libcflat.h"
#include "x86/processor.h"
#include "x86/vm.h"
#include "x86/mmulab.h"

#define SPACES	5
#define TVA	0x0000123400000000ul
#define NOFLUSH	(1ul << 63)

static u8 pages[SPACES][PAGE_SIZE] __aligned(PAGE_SIZE);
static pteval_t *roots[SPACES];
static bool shadow;

/* One space: a copy of the current top-level table, plus TVA -> pages[i]. */
static pteval_t *make_space(int i)
{
	pteval_t *root = alloc_pt_page();
	pteval_t *cur = current_root();

	for (int k = 0; k < 512; k++) root[k] = cur[k];
	*pt_entry(root, paging_levels(), TVA, 1, PT_PRESENT_MASK | PT_WRITABLE_MASK) =
		(unsigned long)pages[i] | PT_PRESENT_MASK | PT_WRITABLE_MASK;
	pages[i][0] = 0x50 + i;
	return root;
}

static u32 counter(enum mmulab_counter c)
{
	return shadow ? mmulab_counter(c) : 0;
}

/*
 * `rounds` rounds over the first `n` spaces, starting from space 0; CR3 values get `flags`
 * and, with PCIDs, PCID i + 1. Returns how many switches read the wrong page.
 */
static int round_robin(int n, int rounds, bool pcid, unsigned long flags)
{
	int wrong = 0;

	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < n; i++) {
			write_cr3((unsigned long)roots[i] | (pcid ? i + 1 : 0) | flags);
			if (*(volatile u8 *)TVA != 0x50 + i) wrong++;
		}
	}
	return wrong;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atol(argv[1]) : 8;
	unsigned long home = read_cr3();

	report_prefix_push("root-cache");
	for (int i = 0; i < SPACES; i++) roots[i] = make_space(i);

	/* Shadow paging is the mode in which MOV CR3 exits. */
	if (mmulab_hypervisor()) {
		u32 before = mmulab_counter(MMULAB_CR3_WRITES);

		write_cr3(home);
		shadow = mmulab_counter(MMULAB_CR3_WRITES) != before;
	}
	report_info("%d rounds per phase; KVM counters %s", rounds,
		    shadow ? "checked (shadow paging)" : "not checked (MOV CR3 does not exit)");

	/* Phase 1: 4 spaces. The first round brings each space in; later rounds all hit. */
	report(round_robin(4, 1, false, 0) == 0, "4 spaces, first round: every switch sees its page");
	u32 hit = counter(MMULAB_FAST_PGD_SWITCH_HIT), miss = counter(MMULAB_FAST_PGD_SWITCH_MISS);
	report(round_robin(4, rounds, false, 0) == 0, "4 spaces round robin: every switch sees its page");
	if (shadow) {
		u32 h = counter(MMULAB_FAST_PGD_SWITCH_HIT) - hit, m = counter(MMULAB_FAST_PGD_SWITCH_MISS) - miss;

		report_info("4 spaces: %u hits, %u misses in %d switches", h, m, 4 * rounds);
		report(h == 4u * rounds && m == 0, "4 spaces: every switch hits KVM's root cache");
	}

	/* Phase 2: 5 spaces: one more than the cache holds. */
	report(round_robin(SPACES, 1, false, 0) == 0, "5 spaces, first round: every switch sees its page");
	hit = counter(MMULAB_FAST_PGD_SWITCH_HIT);
	miss = counter(MMULAB_FAST_PGD_SWITCH_MISS);
	report(round_robin(SPACES, rounds, false, 0) == 0, "5 spaces round robin: every switch sees its page");
	if (shadow) {
		u32 h = counter(MMULAB_FAST_PGD_SWITCH_HIT) - hit, m = counter(MMULAB_FAST_PGD_SWITCH_MISS) - miss;

		report_info("5 spaces: %u hits, %u misses in %d switches", h, m, SPACES * rounds);
		report(h == 0 && m == SPACES * (u32)rounds, "5 spaces: LRU evicts the next space every time: all miss");
	}

	/* Phase 3: PCIDs and NOFLUSH. */
	if (!(cpuid(1).c & (1 << 17))) {
		report_skip("PCID: CPUID.1:ECX.PCID = 0");
		write_cr3(home);
		return report_summary();
	}
	write_cr3(home);
	write_cr4(read_cr4() | X86_CR4_PCIDE);
	report(round_robin(4, 1, true, 0) == 0, "PCIDE, 4 spaces with PCIDs 1-4: every switch sees its page");
	hit = counter(MMULAB_FAST_PGD_SWITCH_HIT);
	u32 syncs = counter(MMULAB_REQ_MMU_SYNC), synced = counter(MMULAB_SYNC_PAGE);
	report(round_robin(4, rounds, true, NOFLUSH) == 0, "PCIDE, 4 spaces, NOFLUSH: every switch sees its page");
	if (shadow) {
		u32 h = counter(MMULAB_FAST_PGD_SWITCH_HIT) - hit;
		u32 s = counter(MMULAB_REQ_MMU_SYNC) - syncs, p = counter(MMULAB_SYNC_PAGE) - synced;

		report_info("NOFLUSH: %u hits in %d switches, %u sync requests, %u pages synced", h, 4 * rounds, s, p);
		report(h == 4u * rounds, "NOFLUSH: every switch hits KVM's root cache");
		report(s == 0 && p == 0, "NOFLUSH: switching does not sync");
	}
	syncs = counter(MMULAB_REQ_MMU_SYNC);
	report(round_robin(4, 1, true, 0) == 0, "PCIDE, 4 spaces, flushing: every switch sees its page");
	if (shadow) report(counter(MMULAB_REQ_MMU_SYNC) - syncs == 4, "flushing switches each request a sync");

	write_cr3(home);
	write_cr4(read_cr4() & ~X86_CR4_PCIDE);
	if (shadow) report(mmulab_counter(MMULAB_INVARIANT_VIOLATIONS) == 0, "KVM's invariant checker found nothing");
	report_prefix_pop();
	return report_summary();
}
