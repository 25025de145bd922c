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
#include "regions.h"

#define DEFAULT_MIB	4

/* Every CPU's own time, then the slowest. */
static void run_pass(struct pass *p, const char *name)
{
	unsigned long max = run_pass_max(p);

	for (int i = 0; i < ncpus; i++)
		printf("%s_cycles_cpu%d %lu\n", name, i, p->cycles[i]);
	printf("%s_cycles_max %lu\n", name, max);
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
	unsigned long wrong;

	if (!mib)
		abort();
	ncpus = smp_init();
	if (!regions_layout("populate", mib))
		abort();

	report_prefix_push("populate");
	report_info("%d CPUs, %lu MiB (%lu pages) each, from %#lx", ncpus, mib,
		    region_bytes / PAGE_SIZE, region_base);
	run_pass(&populate, "populate");
	wrong = count_wrong(populate.tag);
	report(wrong == 0, "first touch: every page holds the byte its CPU wrote (%lu wrong)", wrong);
	run_pass(&rewrite, "rewrite");
	wrong = count_wrong(rewrite.tag);
	report(wrong == 0, "rewrite: every page holds the byte its CPU wrote (%lu wrong)", wrong);
	report_prefix_pop();
	return report_summary();
}
