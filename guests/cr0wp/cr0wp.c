/*
 * CR0.WP toggling in a loop, the workload of lkml thread (a) (kvm-unit-tests vmexit's
 * toggle_cr0_wp): each iteration clears CR0.WP, then sets it again, and touches some memory so
 * the cost of rebuilding TDP mappings shows. Prints the TSC cycles per iteration and, under
 * mmulab's hypervisor, how many roots were allocated and freed while looping.
 */
#include "libcflat.h"
#include "x86/processor.h"
#include "x86/mmulab.h"

#define X86_CR0_WP_BIT (1UL << 16)

static volatile uint64_t data[8 * 512];

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? atol(argv[1]) : 1000;
	bool kvm = mmulab_present() && mmulab_hypervisor();
	uint32_t alloc0 = kvm ? mmulab_counter(MMULAB_ROOT_ALLOC) : 0;
	uint32_t freed0 = kvm ? mmulab_counter(MMULAB_ROOT_FREED) : 0;
	/* The boot stub leaves CR0.WP clear: set it, so each iteration really toggles it. */
	unsigned long cr0 = read_cr0() | X86_CR0_WP_BIT;
	write_cr0(cr0);
	uint64_t t0 = rdtsc();

	for (long i = 0; i < iterations; i++) {
		write_cr0(cr0 & ~X86_CR0_WP_BIT);
		write_cr0(cr0);
		data[(i * 512) % (8 * 512)]++;	/* a few pages of data, like a real loop body */
	}

	uint64_t cycles = (rdtsc() - t0) / iterations;
	report_info("toggle_cr0_wp %lu", (unsigned long)cycles);
	if (kvm) {
		report_info("roots allocated %u freed %u during %ld iterations",
			    mmulab_counter(MMULAB_ROOT_ALLOC) - alloc0, mmulab_counter(MMULAB_ROOT_FREED) - freed0, iterations);
	}
	report((read_cr0() & X86_CR0_WP_BIT) != 0, "CR0.WP is set again after the loop");
	return report_summary();
}
