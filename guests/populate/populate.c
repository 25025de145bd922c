/*
 * populate: the populate phase of KVM selftests' dirty_log_perf_test, as a
 * bare-metal guest. Every CPU owns one region of guest memory that nothing
 * has touched yet; all CPUs leave a barrier together and each writes one
 * byte in every 4 KiB page of its own region, timing itself with RDTSC.
 * Under a hypervisor every such first touch is an EPT/NPT violation (or a
 * shadow page fault), so the per-CPU times show how the MMU's faults from
 * several vCPUs at once get along: KVM's legacy and shadow MMUs take
 * mmu_lock for write on a fault, its TDP MMU only for read.
 *
 * A second pass over the same pages, timed the same way, faults no more and
 * is the baseline. After each pass CPU 0 reads every page back.
 *
 * Output, one value line each (NAME SPACE DECIMAL, what `mmulab compare`
 * treats as a measurement):
 *   populate_cycles_cpuK N ... populate_cycles_max N
 *   rewrite_cycles_cpuK N  ... rewrite_cycles_max N
 * Argument: mib=N, MiB per CPU (default 4). The regions start at the first
 * 2 MiB boundary above the image and the APs' stacks, one after another,
 * inside the library's identity map of guest RAM.
 */
#include "libcflat.h"
#include "x86/fwcfg.h"
#include "x86/processor.h"
#include "x86/smp.h"

#define PAGE_SIZE	4096ul
#define REGION_ALIGN	(2ul << 20)
/* The boot page tables identity-map 0-4 GiB. */
#define MAPPED_LIMIT	(4ul << 30)
#define DEFAULT_MIB	4

extern char end[];

struct pass {
	unsigned tag;				/* even: every byte written is odd, never 0 */
	volatile int arrived;			/* barrier: CPUs that reached it */
	unsigned long cycles[SMP_MAX_CPUS];	/* by CPU number */
};

static unsigned long region_base, region_bytes;
static int ncpus;

static unsigned long region_of(int cpu)
{
	return region_base + (unsigned long)cpu * region_bytes;
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

/* Runs on every CPU: one write per page of its own region, timed (nothing else inside the loop). */
static void touch_region(void *data)
{
	struct pass *p = data;
	int me = smp_cpu_of((uint32_t)smp_id());
	unsigned long addr = region_of(me), limit = addr + region_bytes;
	unsigned tag = p->tag;
	uint64_t start, stop;

	barrier(p);
	start = rdtsc();
	for (; addr < limit; addr += PAGE_SIZE)
		*(volatile uint8_t *)addr = byte_for(addr, tag);
	stop = rdtsc();
	p->cycles[me] = stop - start;
}

static void run_pass(struct pass *p, const char *name)
{
	unsigned long max = 0;

	p->arrived = 0;
	on_cpus(touch_region, p);
	for (int i = 0; i < ncpus; i++) {
		printf("%s_cycles_cpu%d %lu\n", name, i, p->cycles[i]);
		if (p->cycles[i] > max)
			max = p->cycles[i];
	}
	printf("%s_cycles_max %lu\n", name, max);
}

/* CPU 0 reads every page of every region back: the pages that do not hold the pass's byte. */
static unsigned long count_wrong(const struct pass *p)
{
	unsigned long wrong = 0;
	unsigned long limit = region_of(ncpus);

	for (unsigned long addr = region_base; addr < limit; addr += PAGE_SIZE)
		if (*(volatile uint8_t *)addr != byte_for(addr, p->tag))
			wrong++;
	return wrong;
}

/* mib=N from the command line; 0 when the argument is malformed. */
static unsigned long parse_mib(int argc, char **argv)
{
	unsigned long mib = DEFAULT_MIB;

	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (strncmp(s, "mib=", 4) != 0) {
			printf("populate: unknown argument '%s' (expected mib=N)\n", s);
			return 0;
		}
		mib = 0;
		for (s += 4; *s; s++) {
			if (*s < '0' || *s > '9' || mib > MAPPED_LIMIT >> 20) {
				printf("populate: bad argument '%s' (expected mib=N, N a number of MiB)\n",
				       argv[i]);
				return 0;
			}
			mib = mib * 10 + (unsigned long)(*s - '0');
		}
		if (mib == 0) {
			printf("populate: mib must be at least 1\n");
			return 0;
		}
	}
	return mib;
}

int main(int argc, char **argv)
{
	static struct pass populate = { .tag = 0x00 }, rewrite = { .tag = 0x5a };
	unsigned long mib = parse_mib(argc, argv);
	unsigned long ram, wrong;

	if (!mib)
		abort();
	ncpus = smp_init();
	region_bytes = mib << 20;
	/* Above the AP stacks smp_init() carves after `end`, for as many APs as there can be. */
	region_base = ((unsigned long)end + SMP_MAX_CPUS * SMP_AP_STACK_SIZE + REGION_ALIGN - 1) &
		      ~(REGION_ALIGN - 1);
	ram = fwcfg_get_u(FW_CFG_RAM_SIZE, 8);
	if (ram > MAPPED_LIMIT)
		ram = MAPPED_LIMIT;
	if (region_of(ncpus) > ram) {
		printf("populate: %d CPUs x %lu MiB from %#lx end at %#lx, past guest RAM (%lu MiB)\n",
		       ncpus, mib, region_base, region_of(ncpus), ram >> 20);
		abort();
	}

	report_prefix_push("populate");
	report_info("%d CPUs, %lu MiB (%lu pages) each, from %#lx", ncpus, mib,
		    region_bytes / PAGE_SIZE, region_base);
	run_pass(&populate, "populate");
	wrong = count_wrong(&populate);
	report(wrong == 0, "first touch: every page holds the byte its CPU wrote (%lu wrong)", wrong);
	run_pass(&rewrite, "rewrite");
	wrong = count_wrong(&rewrite);
	report(wrong == 0, "rewrite: every page holds the byte its CPU wrote (%lu wrong)", wrong);
	report_prefix_pop();
	return report_summary();
}
