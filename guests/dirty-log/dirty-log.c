/*
 * dirty-log: KVM selftests' dirty_log_perf_test as a bare-metal guest. Every
 * CPU owns one region of guest memory; the phases are those of the test:
 *
 *   populate     all CPUs first-touch their regions (one write per 4 KiB page)
 *   enable       CPU 0 turns on KVM_MEM_LOG_DIRTY_PAGES for memslot 0
 *   dirty pass i all CPUs write every page of their regions again, then CPU 0
 *                fetches the dirty log (KVM_GET_DIRTY_LOG) and, with manual
 *                protect, clears it (KVM_CLEAR_DIRTY_LOG) for the regions
 *   disable      CPU 0 turns logging off (huge pages are recovered)
 *   rewrite      all CPUs write once more, after logging
 *
 * The ioctls are what a VMM issues; here the guest asks for them through
 * mmulab's test device (ports 0x5e0-0x5ff, commands 4-8), which stands in
 * for the test's host thread: the vCPU that asks pays for them and takes
 * mmu_lock. Unlike the real test, the regions lie in the VM's only memslot
 * (slot 0, all of RAM), so logging also covers the guest's own stack, data
 * and page tables; the counts below are taken over the regions only.
 *
 * Every phase is timed with RDTSC, as the slowest CPU saw it (or CPU 0 for
 * its ioctls), and printed as a value line NAME N, what `mmulab compare`
 * shows side by side: populate_cycles, enable_cycles, dirty_pass<i>_cycles,
 * get_cycles<i>, clear_cycles<i>, dirty_pages<i>, disable_cycles,
 * rewrite_cycles. Each pass checks that the log reports exactly the pages
 * written (all of them), and at the end CPU 0 reads every page back.
 *
 * Arguments: mib=N (MiB per CPU, default 4), passes=K (default 2, at least
 * 1), protect=0|1|2 (0: GET re-protects; 1: manual protect, the default;
 * 2: manual protect with initially-all-set, dirty_log_perf_test's default).
 * Without mmulab's test device or a hypervisor (QEMU, bare mode) the phases
 * run and are timed, and the dirty-log checks are skipped.
 */
#include "../populate/regions.h"
#include "x86/mmulab.h"

#define MAX_PASSES	16

/* Test device additions for dirty logging (emulator/machine/devices/test-device.ts). */
#define MMULAB_RESULT		0x5e8
#define CMD_MANUAL_PROTECT	4
#define CMD_LOG_ON		5
#define CMD_LOG_OFF		6
#define CMD_GET_DIRTY_LOG	7
#define CMD_CLEAR_DIRTY_LOG	8
#define LOGGED_SLOT		0

static bool logging;	/* the test device and a hypervisor are there */

/* All CPUs write their regions with `tag`; the slowest CPU's cycles. */
static unsigned long run_pass(struct pass *p, unsigned tag)
{
	p->tag = tag;
	return run_pass_max(p);
}

/* One test-device command on the logged slot; false when refused. */
static bool dirty_cmd(uint32_t cmd, uint32_t gpa, uint32_t pages)
{
	outl(LOGGED_SLOT, MMULAB_SLOT_ID);
	outl(gpa, MMULAB_SLOT_GPA);
	outl(pages, MMULAB_SLOT_PAGES);
	outl(cmd, MMULAB_COMMAND);
	return inl(MMULAB_SLOT_ID) == 0;
}

static uint32_t dirty_result(void)
{
	return inl(MMULAB_RESULT);
}

static unsigned long parse_number(const char *s, unsigned long max, bool *ok)
{
	unsigned long n = 0;

	if (!*s)
		*ok = false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > max) {
			*ok = false;
			return 0;
		}
		n = n * 10 + (unsigned long)(*s - '0');
	}
	if (n > max)
		*ok = false;
	return n;
}

int main(int argc, char **argv)
{
	static struct pass pass;
	unsigned long mib = 4, passes = 2, protect = 1;
	unsigned long wrong, pages, t0, cycles;
	bool ok = true;
	unsigned tag = 0;

	for (int i = 1; i < argc && ok; i++) {
		if (strncmp(argv[i], "mib=", 4) == 0)
			mib = parse_number(argv[i] + 4, MAPPED_LIMIT >> 20, &ok);
		else if (strncmp(argv[i], "passes=", 7) == 0)
			passes = parse_number(argv[i] + 7, MAX_PASSES, &ok);
		else if (strncmp(argv[i], "protect=", 8) == 0)
			protect = parse_number(argv[i] + 8, 2, &ok);
		else
			ok = false;
		if (!ok)
			printf("dirty-log: bad argument '%s' (expected mib=N, passes=1-%d, protect=0|1|2)\n",
			       argv[i], MAX_PASSES);
	}
	if (!ok || mib == 0 || passes == 0) {
		if (ok)
			printf("dirty-log: mib and passes must be at least 1\n");
		abort();
	}
	ncpus = smp_init();
	if (!regions_layout("dirty-log", mib))
		abort();
	pages = (unsigned long)ncpus * (region_bytes / PAGE_SIZE);
	logging = mmulab_present() && mmulab_hypervisor();

	report_prefix_push("dirty-log");
	report_info("%d CPUs, %lu MiB (%lu pages) each, from %#lx; %lu passes, protect=%lu", ncpus,
		    mib, region_bytes / PAGE_SIZE, region_base, passes, protect);

	printf("populate_cycles %lu\n", run_pass(&pass, tag));

	/* Timed: the ioctls only (the console output that follows is port I/O too). */
	t0 = rdtsc();
	if (logging) {
		uint32_t flags = protect == 0 ? 0 : protect == 1 ? 1 : 3;

		logging = dirty_cmd(CMD_MANUAL_PROTECT, 0, flags) && dirty_cmd(CMD_LOG_ON, 0, 0);
		cycles = rdtsc() - t0;
		report(logging, "KVM_MEM_LOG_DIRTY_PAGES enabled on memslot %d", LOGGED_SLOT);
	} else {
		cycles = rdtsc() - t0;
		report_skip("no dirty logging here (needs mmulab's test device and a hypervisor)");
	}
	printf("enable_cycles %lu\n", cycles);

	for (unsigned long i = 1; i <= passes; i++) {
		uint32_t dirty = 0, cleared = 0;

		tag += 2;
		printf("dirty_pass%lu_cycles %lu\n", i, run_pass(&pass, tag));
		if (!logging)
			continue;
		t0 = rdtsc();
		if (dirty_cmd(CMD_GET_DIRTY_LOG, (uint32_t)region_base, (uint32_t)pages))
			dirty = dirty_result();
		cycles = rdtsc() - t0;
		printf("get_cycles%lu %lu\n", i, cycles);
		printf("dirty_pages%lu %u\n", i, dirty);
		report(dirty == pages, "pass %lu: the log reports the %lu pages written", i, pages);
		if (protect == 0)
			continue;
		t0 = rdtsc();
		if (dirty_cmd(CMD_CLEAR_DIRTY_LOG, (uint32_t)region_base, (uint32_t)pages))
			cleared = dirty_result();
		cycles = rdtsc() - t0;
		printf("clear_cycles%lu %lu\n", i, cycles);
		report(cleared == pages, "pass %lu: KVM_CLEAR_DIRTY_LOG cleared the %lu bits", i, pages);
	}

	if (logging) {
		bool off;

		t0 = rdtsc();
		off = dirty_cmd(CMD_LOG_OFF, 0, 0);
		cycles = rdtsc() - t0;
		report(off, "KVM_MEM_LOG_DIRTY_PAGES disabled");
	} else {
		cycles = 0;
	}
	printf("disable_cycles %lu\n", cycles);

	tag += 2;
	printf("rewrite_cycles %lu\n", run_pass(&pass, tag));

	wrong = count_wrong(tag);
	report(wrong == 0, "every page holds the byte its CPU wrote last (%lu wrong)", wrong);
	report_prefix_pop();
	return report_summary();
}
