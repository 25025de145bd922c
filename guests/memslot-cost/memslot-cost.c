/*
 * The cost of a memslot update against the number of shadow pages, the trade-off of lkml thread
 * (b) ("KVM: MMU: fast invalidate all mmio sptes", 2013): the guest first touches MIB mebibytes
 * of RAM, one write per 4 KiB page, so the MMU holds shadow pages for them (with 4 KiB backing),
 * then creates ROUNDS one-page memslots, reading the new slot and an unbacked address after each
 * (the unbacked one has an MMIO SPTE, which each creation invalidates). Creating a slot zaps no
 * shadow page, so the touched ones stay; deleting would zap them all, so the slots are deleted
 * after the timed part. It prints the TSC cycles of one creation round ("memslot_round N"): flat
 * when a creation only bumps the MMIO generation, growing with MIB when it walks every shadow
 * page to zap MMIO SPTEs. Data checks hold everywhere; the rounds need mmulab's test device.
 *
 * Arguments: MIB (default 64, at most 100) ROUNDS (default 16).
 */
#include "libcflat.h"
#include "x86/processor.h"
#include "x86/mmulab.h"

#define TOUCH_BASE	(16UL << 20)
/* Unbacked: new slots go at SLOTS + i pages; MMIO stays unbacked throughout. */
#define SLOTS		0x10000000UL
#define MMIO		0x10800000UL
#define FIRST_SLOT	8

static inline uint32_t peek(unsigned long gpa)
{
	return *(volatile uint32_t *)gpa;
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 64;
	long rounds = argc > 2 ? atol(argv[2]) : 16;

	if (mib < 0 || mib > 100 || rounds < 1) {
		report(false, "arguments: MIB from 0 to 100, ROUNDS at least 1");
		return report_summary();
	}
	if (!mmulab_present()) {
		report_skip("mmulab test device absent (not running under mmulab)");
		return report_summary();
	}
	for (unsigned long a = TOUCH_BASE; a < TOUCH_BASE + (mib << 20); a += 4096)
		*(volatile uint32_t *)a = (uint32_t)a;
	report(peek(MMIO) == 0xffffffff, "unbacked address reads all ones");

	bool right = true;
	uint64_t t0 = rdtsc();
	for (long i = 0; i < rounds; i++) {
		right &= mmulab_slot_add(FIRST_SLOT + i, SLOTS + i * 4096, 1);
		right &= peek(SLOTS + i * 4096) == 0;
		right &= peek(MMIO) == 0xffffffff;
	}
	uint64_t cycles = (rdtsc() - t0) / rounds;
	report(right, "%ld slots created after touching %ld MiB: each reads RAM, the unbacked address stays MMIO", rounds, mib);
	printf("memslot_round %lu\n", (unsigned long)cycles);
	for (long i = 0; i < rounds; i++) right &= mmulab_slot_remove(FIRST_SLOT + i);
	report(right && peek(SLOTS) == 0xffffffff, "the slots are deleted again");

	bool kept = true;
	for (unsigned long a = TOUCH_BASE; a < TOUCH_BASE + (mib << 20); a += 4096)
		kept &= *(volatile uint32_t *)a == (uint32_t)a;
	report(kept, "the touched RAM kept its contents");
	return report_summary();
}
