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
 * 2: manual protect with initially-all-set, dirty_log_perf_test's default),
 * stride=S (dirty passes write every S-th page, default 1), overlap=0|1 (1:
 * every CPU writes CPU 0's region in every pass, dirty_log_perf_test -o, so
 * the CPUs fault on the same pages at the same time), stagger=C (with
 * overlap=1: after each pass's barrier CPU k waits k * C TSC cycles before
 * writing, so its first fault lands a set time inside another CPU's fault on
 * the same huge page, e.g. in the window where a TDP MMU before 6.2 holds the
 * huge SPTE frozen while it zaps it; the pass times exclude the wait). GET copies the
 * regions' bitmap into guest memory, and each pass checks it bit by bit
 * against the pages written.
 * Without mmulab's test device or a hypervisor (QEMU, bare mode) the phases
 * run and are timed, and the dirty-log checks are skipped.
 *
 * host=G: the host drives logging (mmulab's --dirty-log schedule, as a
 * migration thread would), so the guest issues no ioctls and checks no log:
 * dirty pass i starts when CPU 0's TSC reaches i * G cycles and the rewrite at
 * (passes + 1) * G, and every value line is printed at the end, so no CPU
 * exits between a pass and the host's collection after it (the pages the CPU
 * logged in its PML buffer are then only in that buffer). A host schedule
 * start=G/2,every=G,passes=K collects each pass alone.
 */
#include "../populate/regions.h"
#include "x86/mmulab.h"

#define MAX_PASSES	16

/* Test device additions for dirty logging (emulator/machine/devices/test-device.ts). */
#define MMULAB_RESULT		0x5e8
#define MMULAB_BITMAP_GPA	0x5ec
/* Up to 2 GiB of regions: one bit per page. */
#define MAX_BITMAP_BYTES	(65536)
#define CMD_MANUAL_PROTECT	4
#define CMD_LOG_ON		5
#define CMD_LOG_OFF		6
#define CMD_GET_DIRTY_LOG	7
#define CMD_CLEAR_DIRTY_LOG	8
#define LOGGED_SLOT		0

static bool logging;	/* the test device and a hypervisor are there */
static bool overlap;	/* every CPU writes region 0 (dirty_log_perf_test -o) */
static unsigned long stagger;	/* with overlap: CPU k starts each pass k * stagger cycles late */
static volatile uint64_t stagger_go;	/* the pass's common start (TSC), set by the first CPU out */
/* Cycles between the first CPU leaving the barrier and the common start: more than the others take to follow. */
#define STAGGER_SLACK	50000
static unsigned long host_gap;	/* host=G: the host collects; pass i starts at TSC i * G */
static uint8_t bitmap[MAX_BITMAP_BYTES];	/* KVM_GET_DIRTY_LOG's copy for the regions */

/* The regions the passes write: all of them, or with overlap only CPU 0's. */
static int written_regions(void)
{
	return overlap ? 1 : ncpus;
}

/*
 * The pages of the bitmap that differ from what a pass with `stride` over the
 * first `regions` regions wrote (page k of each exactly when k % stride == 0).
 */
static unsigned long bitmap_mismatches(unsigned stride, int regions)
{
	unsigned long per_cpu = region_bytes / PAGE_SIZE, wrong = 0;

	for (unsigned long i = 0; i < (unsigned long)ncpus * per_cpu; i++) {
		bool dirty = bitmap[i / 8] >> (i % 8) & 1;
		bool written = i / per_cpu < (unsigned long)regions && (i % per_cpu) % stride == 0;

		if (dirty != written)
			wrong++;
	}
	return wrong;
}

/* overlap=1: every CPU writes CPU 0's region, timed like touch_region. */
static void touch_shared(void *data)
{
	struct pass *p = data;
	unsigned long addr = region_of(0), limit = addr + region_bytes;
	unsigned long step = (p->stride > 1 ? p->stride : 1) * PAGE_SIZE;
	uint64_t start;

	barrier(p);
	start = rdtsc();
	if (stagger) {
		/* CPUs leave a barrier up to a few thousand cycles apart: wait for a common TSC instead. */
		uint64_t none = 0, go = start + STAGGER_SLACK, until;

		if (!__atomic_compare_exchange_n(&stagger_go, &none, go, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			go = none;
		until = go + stagger * smp_cpu_of((uint32_t)smp_id());
		while (rdtsc() < until)
			;
		start = rdtsc();
	}
	for (; addr < limit; addr += step)
		*(volatile uint8_t *)addr = byte_for(addr, p->tag);
	p->cycles[smp_cpu_of((uint32_t)smp_id())] = rdtsc() - start;
}

/* All CPUs write their regions (or region 0) with `tag`; the slowest CPU's cycles. */
static unsigned long run_pass(struct pass *p, unsigned tag)
{
	unsigned long max = 0;

	p->tag = tag;
	if (!overlap)
		return run_pass_max(p);
	p->arrived = 0;
	stagger_go = 0;
	on_cpus(touch_shared, p);
	for (int i = 0; i < ncpus; i++)
		if (p->cycles[i] > max)
			max = p->cycles[i];
	return max;
}

/* host=G: CPU 0 waits for pass `i`'s start time; false if that time has already passed. */
static bool wait_for_slot(unsigned long i)
{
	unsigned long deadline = i * host_gap;

	if (rdtsc() >= deadline)
		return false;
	/*
	 * No PAUSE here: mmulab's scheduler sizes a vCPU's slice in instructions
	 * to reach the next timer event, so with one vCPU (no rounds) a loop of
	 * 140-cycle PAUSEs would run far past the host schedule's times.
	 */
	while (rdtsc() < deadline)
		;
	return true;
}

/*
 * host=G: the passes at their times, the value lines only at the end (console
 * output is port I/O, an exit that would drain the PML buffers).
 */
static void run_host_driven(struct pass *p, unsigned long passes, unsigned long stride, unsigned tag)
{
	unsigned long cycles[MAX_PASSES + 2];
	bool on_time = true;

	cycles[0] = run_pass(p, tag);
	for (unsigned long i = 1; i <= passes + 1; i++) {
		if (!wait_for_slot(i))
			on_time = false;
		tag += 2;
		p->stride = i <= passes ? (unsigned)stride : 1;
		cycles[i] = run_pass(p, tag);
	}
	p->stride = 1;
	printf("populate_cycles %lu\n", cycles[0]);
	for (unsigned long i = 1; i <= passes; i++)
		printf("dirty_pass%lu_cycles %lu\n", i, cycles[i]);
	printf("rewrite_cycles %lu\n", cycles[passes + 1]);
	report(on_time, "every pass started on time (host=%lu)", host_gap);
	report(count_wrong(tag) == 0, "every page holds the byte its CPU wrote last");
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
	unsigned long mib = 4, passes = 2, protect = 1, stride = 1;
	unsigned long wrong, pages, written, t0, cycles;
	bool ok = true;
	unsigned tag = 0;

	for (int i = 1; i < argc && ok; i++) {
		if (strncmp(argv[i], "mib=", 4) == 0)
			mib = parse_number(argv[i] + 4, MAPPED_LIMIT >> 20, &ok);
		else if (strncmp(argv[i], "passes=", 7) == 0)
			passes = parse_number(argv[i] + 7, MAX_PASSES, &ok);
		else if (strncmp(argv[i], "protect=", 8) == 0)
			protect = parse_number(argv[i] + 8, 2, &ok);
		else if (strncmp(argv[i], "stride=", 7) == 0)
			stride = parse_number(argv[i] + 7, 4096, &ok);
		else if (strncmp(argv[i], "overlap=", 8) == 0)
			overlap = parse_number(argv[i] + 8, 1, &ok) == 1;
		else if (strncmp(argv[i], "stagger=", 8) == 0)
			stagger = parse_number(argv[i] + 8, 1ul << 32, &ok);
		else if (strncmp(argv[i], "host=", 5) == 0)
			host_gap = parse_number(argv[i] + 5, 1ul << 40, &ok);
		else
			ok = false;
		if (!ok)
			printf("dirty-log: bad argument '%s' (expected mib=N, passes=1-%d, protect=0|1|2, stride=S, overlap=0|1, stagger=CYCLES, host=CYCLES)\n",
			       argv[i], MAX_PASSES);
	}
	if (!ok || mib == 0 || passes == 0 || stride == 0 || (host_gap > 0 && overlap) || (stagger && !overlap)) {
		if (ok)
			printf("dirty-log: mib, passes and stride must be at least 1, host= goes without overlap=1 and stagger= with it\n");
		abort();
	}
	ncpus = smp_init();
	if (!regions_layout("dirty-log", mib))
		abort();
	pages = (unsigned long)ncpus * (region_bytes / PAGE_SIZE);
	if (pages > MAX_BITMAP_BYTES * 8) {
		printf("dirty-log: at most %d pages in all\n", MAX_BITMAP_BYTES * 8);
		abort();
	}
	written = (unsigned long)written_regions() * ((region_bytes / PAGE_SIZE + stride - 1) / stride);
	logging = mmulab_present() && mmulab_hypervisor();

	report_prefix_push("dirty-log");
	report_info("%d CPUs, %lu MiB (%lu pages) each, from %#lx; %lu passes, protect=%lu, stride=%lu%s",
		    ncpus, mib, region_bytes / PAGE_SIZE, region_base, passes, protect, stride,
		    overlap ? ", all writing CPU 0's region" : "");

	if (host_gap > 0) {
		run_host_driven(&pass, passes, stride, tag);
		report_prefix_pop();
		return report_summary();
	}

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
		unsigned long expect;

		tag += 2;
		pass.stride = (unsigned)stride;
		printf("dirty_pass%lu_cycles %lu\n", i, run_pass(&pass, tag));
		pass.stride = 1;
		if (!logging)
			continue;
		memset(bitmap, 0xff, sizeof(bitmap));
		outl((uint32_t)(unsigned long)bitmap, MMULAB_BITMAP_GPA);
		t0 = rdtsc();
		if (dirty_cmd(CMD_GET_DIRTY_LOG, (uint32_t)region_base, (uint32_t)pages))
			dirty = dirty_result();
		cycles = rdtsc() - t0;
		outl(0, MMULAB_BITMAP_GPA);
		printf("get_cycles%lu %lu\n", i, cycles);
		printf("dirty_pages%lu %u\n", i, dirty);
		/* Initially-all-set: the first log holds every page, written or not. */
		expect = protect == 2 && i == 1 ? pages : written;
		report(dirty == expect && bitmap_mismatches(expect == pages ? 1 : (unsigned)stride, expect == pages ? ncpus : written_regions()) == 0,
		       "pass %lu: the log reports exactly the %lu pages %s (%lu bits wrong)", i, expect,
		       expect == pages ? "of the regions" : "written",
		       bitmap_mismatches(expect == pages ? 1 : (unsigned)stride, expect == pages ? ncpus : written_regions()));
		if (protect == 0)
			continue;
		t0 = rdtsc();
		if (dirty_cmd(CMD_CLEAR_DIRTY_LOG, (uint32_t)region_base, (uint32_t)pages))
			cleared = dirty_result();
		cycles = rdtsc() - t0;
		printf("clear_cycles%lu %lu\n", i, cycles);
		report(cleared == expect, "pass %lu: KVM_CLEAR_DIRTY_LOG cleared the %lu bits", i, expect);
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

	wrong = 0;
	if (overlap) {
		for (unsigned long addr = region_base; addr < region_of(1); addr += PAGE_SIZE)
			if (*(volatile uint8_t *)addr != byte_for(addr, tag))
				wrong++;
	} else {
		wrong = count_wrong(tag);
	}
	report(wrong == 0, "every page holds the byte its CPU wrote last (%lu wrong)", wrong);
	report_prefix_pop();
	return report_summary();
}
