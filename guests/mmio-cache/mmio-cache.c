/*
 * MMIO SPTE caching, from the guest's side (kvm-mmu.md section 6): the first access to an
 * unbacked guest-physical address makes KVM install an MMIO SPTE; later accesses take the fast
 * path; a memslot added over the address makes the next access read RAM (the stale MMIO SPTE's
 * generation no longer matches); removing the slot makes it MMIO again. Run with a narrow
 * generation (--knob mmioGenBits=3) the generation wraps and KVM zaps everything; the data must
 * stay right throughout. Counter checks need mmulab's hypervisor; data checks hold everywhere.
 */
#include "libcflat.h"
#include "x86/mmulab.h"

/* 256 MiB: above the default 128 MiB of RAM, inside the boot stub's identity map. */
#define HOLE	0x10000000UL
#define SLOT	7

static inline uint32_t peek(void)
{
	return *(volatile uint32_t *)HOLE;
}

static inline void poke(uint32_t v)
{
	*(volatile uint32_t *)HOLE = v;
}

static uint32_t snap[16];

static void take(void)
{
	for (int c = 0; c <= MMULAB_INVARIANT_VIOLATIONS; c++) snap[c] = mmulab_counter(c);
}

static uint32_t delta(enum mmulab_counter c)
{
	return mmulab_counter(c) - snap[c];
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atol(argv[1]) : 12;

	if (!mmulab_present()) {
		report_skip("mmulab test device absent (not running under mmulab)");
		return report_summary();
	}
	bool kvm = mmulab_hypervisor();

	take();
	report(peek() == 0xffffffff, "unbacked address reads all ones");
	if (kvm) report(delta(MMULAB_PF_MMIO_SPTE_CREATED) == 1, "first access creates one MMIO SPTE");

	take();
	for (int i = 0; i < 3; i++) (void)peek();
	if (kvm) {
		report(delta(MMULAB_MMIO_FAST_HIT) == 3, "three more accesses take the MMIO fast path");
		report(delta(MMULAB_PF_MMIO_SPTE_CREATED) == 0, "no new MMIO SPTE for them");
	}

	take();
	report(mmulab_slot_add(SLOT, HOLE, 1), "memslot added over the address");
	report(peek() == 0, "the address now reads RAM (zeroed)");
	poke(0x5a5a1234);
	report(peek() == 0x5a5a1234, "RAM keeps what is written");
	if (kvm) report(delta(MMULAB_MMIO_GEN_MISMATCH) >= 1, "the stale MMIO SPTE's generation mismatch was counted");

	take();
	report(mmulab_slot_remove(SLOT), "memslot removed");
	report(peek() == 0xffffffff, "the address is MMIO again");
	if (kvm) report(delta(MMULAB_PF_MMIO_SPTE_CREATED) == 1, "a fresh MMIO SPTE was created");

	/* Many updates: with a narrow generation it wraps; every step must still see the right data. */
	take();
	bool right = true;
	for (int i = 0; i < rounds; i++) {
		right &= mmulab_slot_add(SLOT, HOLE, 1);
		right &= peek() == 0;
		poke(i);
		right &= peek() == (uint32_t)i;
		right &= mmulab_slot_remove(SLOT);
		right &= peek() == 0xffffffff;
	}
	report(right, "%d add/remove rounds: RAM while the slot exists, MMIO while it does not", rounds);
	if (kvm) {
		report_info("memslot updates %u, MMIO generation wrap zaps %u", delta(MMULAB_MEMSLOT_UPDATES), delta(MMULAB_MMIO_GEN_WRAP_ZAPS));
		report(mmulab_counter(MMULAB_INVARIANT_VIOLATIONS) == 0, "KVM's invariant checker found nothing");
	}
	return report_summary();
}
