/*
 * Per-CPU memory regions and timed write passes over them, shared by the
 * populate guest and the dirty-log guest (both after KVM selftests'
 * memstress library): CPU k owns [region_of(k), region_of(k) + region_bytes);
 * a pass makes every CPU leave a common barrier and write one byte per
 * 4 KiB page of its own region, timed with RDTSC.
 */
#ifndef GUESTS_POPULATE_REGIONS_H
#define GUESTS_POPULATE_REGIONS_H

#include "libcflat.h"
#include "x86/fwcfg.h"
#include "x86/processor.h"
#include "x86/smp.h"

#define PAGE_SIZE	4096ul
#define REGION_ALIGN	(2ul << 20)
/* The boot page tables identity-map 0-4 GiB. */
#define MAPPED_LIMIT	(4ul << 30)

extern char end[];

struct pass {
	unsigned tag;				/* even: every byte written is odd, never 0 */
	unsigned stride;			/* write every stride-th page (0 or 1: every page) */
	volatile int arrived;			/* barrier: CPUs that reached it */
	unsigned long cycles[SMP_MAX_CPUS];	/* by CPU number */
};

static unsigned long region_base, region_bytes;
static int ncpus;

static unsigned long region_of(int cpu)
{
	return region_base + (unsigned long)cpu * region_bytes;
}

/*
 * After smp_init(): regions of `mib` MiB per CPU from the first 2 MiB
 * boundary above the image and the AP stacks smp_init() carves after `end`
 * (for as many APs as there can be). False, with a message, when they do
 * not fit in guest RAM.
 */
static bool regions_layout(const char *guest, unsigned long mib)
{
	unsigned long ram = fwcfg_get_u(FW_CFG_RAM_SIZE, 8);

	region_bytes = mib << 20;
	region_base = ((unsigned long)end + SMP_MAX_CPUS * SMP_AP_STACK_SIZE + REGION_ALIGN - 1) &
		      ~(REGION_ALIGN - 1);
	if (ram > MAPPED_LIMIT)
		ram = MAPPED_LIMIT;
	if (region_of(ncpus) > ram) {
		printf("%s: %d CPUs x %lu MiB from %#lx end at %#lx, past guest RAM (%lu MiB)\n",
		       guest, ncpus, mib, region_base, region_of(ncpus), ram >> 20);
		return false;
	}
	return true;
}

/* The byte a pass writes to the page at `addr`: differs per page and per pass, never zero. */
static inline uint8_t byte_for(unsigned long addr, unsigned tag)
{
	return (uint8_t)(((addr >> 12) << 1 | 1) ^ tag);
}

/* Every CPU waits here until all have arrived, then all leave at once. */
static void barrier(struct pass *p)
{
	__atomic_add_fetch(&p->arrived, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&p->arrived, __ATOMIC_ACQUIRE) < ncpus)
		pause();
}

/* Runs on every CPU: one write per (stride-th) page of its own region, timed (nothing else inside the loop). */
static void touch_region(void *data)
{
	struct pass *p = data;
	int me = smp_cpu_of((uint32_t)smp_id());
	unsigned long addr = region_of(me), limit = addr + region_bytes;
	unsigned tag = p->tag;
	unsigned long step = (p->stride > 1 ? p->stride : 1) * PAGE_SIZE;
	uint64_t start, stop;

	barrier(p);
	start = rdtsc();
	for (; addr < limit; addr += step)
		*(volatile uint8_t *)addr = byte_for(addr, tag);
	stop = rdtsc();
	p->cycles[me] = stop - start;
}

/* All CPUs write their regions with `p->tag`; returns the slowest CPU's cycles. */
static unsigned long run_pass_max(struct pass *p)
{
	unsigned long max = 0;

	p->arrived = 0;
	on_cpus(touch_region, p);
	for (int i = 0; i < ncpus; i++)
		if (p->cycles[i] > max)
			max = p->cycles[i];
	return max;
}

/* CPU 0 reads every page of every region back: the pages that do not hold the byte for `tag`. */
static unsigned long count_wrong(unsigned tag)
{
	unsigned long wrong = 0;
	unsigned long limit = region_of(ncpus);

	for (unsigned long addr = region_base; addr < limit; addr += PAGE_SIZE)
		if (*(volatile uint8_t *)addr != byte_for(addr, tag))
			wrong++;
	return wrong;
}

#endif
