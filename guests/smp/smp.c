/*
 * What a multiprocessor machine must get right, as seen from the guest:
 * every CPU comes online with its APIC ID; fixed IPIs reach exactly the
 * CPUs addressed (physical ID, flat logical set, the self / all-including-
 * self / all-excluding-self shorthands), as do NMIs; memory written by one
 * CPU is read by another; a TLB shootdown (PTE change, IPI, INVLPG on the
 * receiver) makes the receivers see the new mapping; code written by one
 * CPU is what another then runs. The IPI checks run in xAPIC mode, then
 * again in x2APIC mode (cluster logical mode there) when CPUID offers it.
 *
 * Every delivery check waits (bounded) for the expected interrupts, then
 * makes sure nothing else is still in flight: a synchronous on_cpu() to
 * each other CPU, whose wake IPI is taken only after any IPI accepted
 * before it, and an STI window on this CPU. Then the per-CPU counts must
 * be exactly what the destination names. Runs with any CPU count
 * (QEMU: -smp 1, 2, 4); checks that need two CPUs are skipped with one.
 *
 * The same source is the -m32 guest smp-32: there it first turns on 32-bit
 * paging (4 MiB pages, identity, with the TLB window's 4 MiB split into a
 * page table), so the APs' trampoline must restore paging too.
 */
#include "libcflat.h"
#include "x86/apic.h"
#include "x86/desc.h"
#include "x86/fwcfg.h"
#include "x86/processor.h"
#include "x86/smp.h"
#include "x86/vm.h"

#define FIXED_VECTOR	0xc1
#define SHOOT_VECTOR	0xd1
/* A bound on every wait: a lost IPI fails its check instead of hanging. */
#define WAIT_SPINS	20000000ul

/* Interrupts taken, by the receiving CPU's APIC ID. */
static volatile unsigned fixed_hits[SMP_MAX_CPUS];
static volatile unsigned nmi_hits[SMP_MAX_CPUS];

static void fixed_isr(struct ex_regs *regs)
{
	(void)regs;
	__atomic_add_fetch(&fixed_hits[smp_id()], 1, __ATOMIC_RELAXED);
	eoi();
}

static void nmi_isr(struct ex_regs *regs)
{
	(void)regs;
	__atomic_add_fetch(&nmi_hits[smp_id()], 1, __ATOMIC_RELAXED);
}

static uint64_t all_cpus(void)
{
	return cpu_count() == 64 ? ~0ull : (1ull << cpu_count()) - 1;
}

static void nop(void *data)
{
	(void)data;
}

/* Lets every IPI sent so far land (see the top comment). */
static void settle(void)
{
	for (int i = 1; i < cpu_count(); i++)
		on_cpu(i, nop, NULL);
	asm volatile("sti; nop; cli" ::: "memory");
}

struct ipi {
	uint32_t icr, dest;
};

static void send_ipi(void *data)
{
	const struct ipi *ipi = data;

	apic_icr_write(ipi->icr, ipi->dest);
}

/* Whether every CPU in `want` (any one of them, with `any`) took the interrupt. */
static bool arrived(volatile unsigned *hits, uint64_t want, bool any)
{
	for (int i = 0; i < cpu_count(); i++) {
		bool hit = hits[smp_apic_id(i)] != 0;

		if ((want >> i & 1) && hit == any)
			return any;
	}
	return !any;
}

/*
 * CPU `from` sends the IPI; then the interrupts taken, per CPU, once every
 * CPU in `want` (or one of them, with `any`) took it and the rest settled.
 */
static volatile unsigned *deliver(int from, uint32_t icr, uint32_t dest, uint64_t want, bool any)
{
	bool nmi = (icr & 0x700) == APIC_DM_NMI;
	volatile unsigned *hits = nmi ? nmi_hits : fixed_hits;
	struct ipi ipi = { icr | APIC_INT_ASSERT | (nmi ? 0 : FIXED_VECTOR), dest };

	for (int i = 0; i < SMP_MAX_CPUS; i++)
		hits[i] = 0;
	on_cpu(from, send_ipi, &ipi);
	asm volatile("sti" ::: "memory");
	for (unsigned long n = 0; n < WAIT_SPINS && !arrived(hits, want, any); n++)
		pause();
	asm volatile("cli" ::: "memory");
	settle();
	return hits;
}

static void print_hits(volatile unsigned *hits)
{
	for (int i = 0; i < cpu_count(); i++)
		printf("  CPU %d: %u taken\n", i, hits[smp_apic_id(i)]);
}

/* The CPUs in `want` (CPU numbers) must each take the IPI exactly once, no other CPU at all. */
static void check_delivery(const char *what, int from, uint32_t icr, uint32_t dest, uint64_t want)
{
	volatile unsigned *hits = deliver(from, icr, dest, want, false);
	bool ok = true;

	for (int i = 0; i < cpu_count(); i++)
		if (hits[smp_apic_id(i)] != (want >> i & 1))
			ok = false;
	if (!ok)
		print_hits(hits);
	report(ok, "%s", what);
}

/* Lowest priority (all TPRs equal): exactly one CPU of `set` takes it, none outside. */
static void check_lowest_priority(const char *what, int from, uint32_t dest, uint64_t set)
{
	volatile unsigned *hits = deliver(from, APIC_DEST_LOGICAL | APIC_DM_LOWEST, dest, set, true);
	unsigned inside = 0, outside = 0;

	for (int i = 0; i < cpu_count(); i++) {
		if (set >> i & 1)
			inside += hits[smp_apic_id(i)];
		else
			outside += hits[smp_apic_id(i)];
	}
	if (inside != 1 || outside)
		print_hits(hits);
	report(inside == 1 && !outside, "%s", what);
}

/* --- online --------------------------------------------------------------- */

struct ids {
	uint32_t reg, initial;
	bool bsp;
	unsigned long cr0, cr3, cr4;
};
static struct ids ids[SMP_MAX_CPUS];

static void read_ids(void *data)
{
	struct ids *r = data;

	r->reg = apic_id();
	r->initial = cpuid(1).b >> 24;
	r->bsp = (rdmsr(MSR_IA32_APICBASE) & APIC_BSP) != 0;
	r->cr0 = read_cr0();
	r->cr3 = read_cr3();
	r->cr4 = read_cr4();
}

static void check_online(void)
{
	for (int i = 0; i < cpu_count(); i++) {
		on_cpu(i, read_ids, &ids[i]);
		report(ids[i].reg == (uint32_t)i && ids[i].initial == (uint32_t)i &&
		       smp_apic_id(i) == (uint32_t)i && ids[i].bsp == (i == 0),
		       "CPU %d online: APIC ID register %u, CPUID.1 initial ID %u, IA32_APIC_BASE.BSP %d",
		       i, ids[i].reg, ids[i].initial, ids[i].bsp);
		report(ids[i].cr0 == read_cr0() && ids[i].cr3 == read_cr3() && ids[i].cr4 == read_cr4(),
		       "CPU %d runs on CPU 0's paging: CR0 %#lx, CR3 %#lx, CR4 %#lx", i, ids[i].cr0,
		       ids[i].cr3, ids[i].cr4);
	}
}

/* --- IPIs ----------------------------------------------------------------- */

static void set_flat_ldr(void *data)
{
	(void)data;
	apic_write(APIC_DFR, 0xffffffff);
	apic_write(APIC_LDR, (1u << smp_cpu_of((uint32_t)smp_id())) << 24);
}

/* CPU number i's bit in an x2APIC cluster-mode destination (ID = CPU number here). */
static uint32_t x2apic_logical(int i)
{
	return (uint32_t)(i >> 4) << 16 | 1u << (i & 15);
}

static uint32_t ldrs[SMP_MAX_CPUS];

static void read_ldr(void *data)
{
	*(uint32_t *)data = apic_read(APIC_LDR);
}

static void check_ipis(bool x2apic)
{
	int n = cpu_count(), last = n - 1;
	uint64_t all = all_cpus();
	char what[96];

	for (int t = 0; t < n; t++) {
		snprintf(what, sizeof(what), "fixed IPI, physical destination %d, from CPU 0", t);
		check_delivery(what, 0, APIC_DEST_PHYSICAL | APIC_DM_FIXED, smp_apic_id(t), 1ull << t);
	}
	if (n > 1)
		check_delivery("fixed IPI, physical destination 0, from the last CPU", last,
			       APIC_DEST_PHYSICAL | APIC_DM_FIXED, smp_apic_id(0), 1);

	if (!x2apic && n <= 8) {
		/* Flat model: LDR bit i for CPU i; the set CPU 0 plus the odd CPUs. */
		uint64_t set = 1;

		on_cpus(set_flat_ldr, NULL);
		for (int i = 1; i < n; i += 2)
			set |= 1ull << i;
		check_delivery("fixed IPI, flat logical set {0, odd CPUs}, from CPU 0", 0,
			       APIC_DEST_LOGICAL | APIC_DM_FIXED, (uint32_t)set, set);
		check_delivery("fixed IPI, flat logical set of all CPUs, from the last CPU", last,
			       APIC_DEST_LOGICAL | APIC_DM_FIXED, (uint32_t)all, all);
		check_lowest_priority("lowest-priority IPI, flat logical set {0, odd CPUs}: one CPU of the set",
				      0, (uint32_t)set, set);
	} else if (x2apic && n <= 16) {
		/* Cluster model (LDR read-only): cluster 0, bit i for CPU i. */
		uint32_t dest = 0;
		uint64_t set = 1;
		bool ldr_ok = true;

		for (int i = 0; i < n; i++) {
			on_cpu(i, read_ldr, &ldrs[i]);
			if (ldrs[i] != x2apic_logical(i)) {
				printf("  CPU %d: LDR %#x, expected %#x\n", i, ldrs[i], x2apic_logical(i));
				ldr_ok = false;
			}
		}
		for (int i = 1; i < n; i += 2)
			set |= 1ull << i;
		for (int i = 0; i < n; i++)
			if (set >> i & 1)
				dest |= x2apic_logical(i);
		report(ldr_ok, "x2APIC LDR on every CPU: cluster ID << 16 | 1 << (APIC ID & 15)");
		check_delivery("fixed IPI, cluster logical set {0, odd CPUs}, from CPU 0", 0,
			       APIC_DEST_LOGICAL | APIC_DM_FIXED, dest, set);
		check_lowest_priority("lowest-priority IPI, cluster logical set {0, odd CPUs}: one CPU of the set",
				      0, dest, set);
	}

	check_delivery("fixed IPI, shorthand self", 0, APIC_DEST_SELF | APIC_DM_FIXED, 0, 1);
	if (n > 1)
		check_delivery("fixed IPI, shorthand self, on the last CPU", last,
			       APIC_DEST_SELF | APIC_DM_FIXED, 0, 1ull << last);
	check_delivery("fixed IPI, shorthand all including self, from CPU 0", 0,
		       APIC_DEST_ALLINC | APIC_DM_FIXED, 0, all);
	check_delivery("fixed IPI, shorthand all excluding self, from CPU 0", 0,
		       APIC_DEST_ALLBUT | APIC_DM_FIXED, 0, all & ~1ull);
	if (n > 1)
		check_delivery("fixed IPI, shorthand all excluding self, from the last CPU", last,
			       APIC_DEST_ALLBUT | APIC_DM_FIXED, 0, all & ~(1ull << last));

	for (int t = 1; t < n; t++) {
		snprintf(what, sizeof(what), "NMI IPI, physical destination %d, from CPU 0", t);
		check_delivery(what, 0, APIC_DEST_PHYSICAL | APIC_DM_NMI, smp_apic_id(t), 1ull << t);
	}
	if (n > 1) {
		check_delivery("NMI IPI, physical destination 0, from the last CPU", last,
			       APIC_DEST_PHYSICAL | APIC_DM_NMI, smp_apic_id(0), 1);
		check_delivery("NMI IPI, shorthand all excluding self, from CPU 0", 0,
			       APIC_DEST_ALLBUT | APIC_DM_NMI, 0, all & ~1ull);
	} else {
		report_skip("NMI IPIs to another CPU: one CPU");
	}
}

/* --- on_cpu to CPU 0 ---------------------------------------------------- */

static volatile int ran_on;

static void mark_cpu(void *data)
{
	(void)data;
	ran_on = smp_id();
}

static void call_cpu0(void *data)
{
	(void)data;
	on_cpu(0, mark_cpu, NULL);
}

/* CPU 0 has no idle loop: it runs the work in the wake IPI's handler once it enables interrupts. */
static void check_on_cpu0(void)
{
	if (cpu_count() < 2) {
		report_skip("on_cpu to CPU 0 from another CPU: one CPU");
		return;
	}
	ran_on = -1;
	on_cpu_async(cpu_count() - 1, call_cpu0, NULL);
	asm volatile("sti" ::: "memory");
	for (unsigned long n = 0; n < WAIT_SPINS && cpus_active() > 1; n++)
		pause();
	asm volatile("cli" ::: "memory");
	report(ran_on == (int)smp_apic_id(0), "on_cpu to CPU 0 from CPU %d ran on APIC ID %d",
	       cpu_count() - 1, ran_on);
}

/* --- shared memory -------------------------------------------------------- */

static uint32_t pages[SMP_MAX_CPUS][1024] __aligned(4096);
static volatile unsigned mismatches[SMP_MAX_CPUS];

static uint32_t pattern(int cpu, int word)
{
	return (uint32_t)cpu * 0x01000193u ^ (uint32_t)word * 0x9e3779b9u;
}

static void write_own_page(void *data)
{
	int me = smp_cpu_of((uint32_t)smp_id());

	(void)data;
	for (int w = 0; w < 1024; w++)
		pages[me][w] = pattern(me, w);
}

static void read_next_page(void *data)
{
	int me = smp_cpu_of((uint32_t)smp_id());
	int other = (me + 1) % cpu_count();
	unsigned bad = 0;

	(void)data;
	for (int w = 0; w < 1024; w++)
		if (((volatile uint32_t *)pages[other])[w] != pattern(other, w))
			bad++;
	mismatches[me] = bad;
}

static void check_shared_memory(void)
{
	int n = cpu_count();

	on_cpus(write_own_page, NULL);
	on_cpus(read_next_page, NULL);
	for (int i = 0; i < n; i++)
		report(mismatches[i] == 0, "CPU %d reads the page CPU %d wrote (%u of 1024 words wrong)",
		       i, (i + 1) % n, mismatches[i]);
}

/* --- TLB shootdown -------------------------------------------------------- */

static volatile uint32_t window[1024] __aligned(4096);
static uint32_t page_a[1024] __aligned(4096), page_b[1024] __aligned(4096);

#ifdef __x86_64__
typedef pteval_t pte_t;

static void setup_paging(void)
{
}

/* Splits the boot map's 2 MiB page around va (and flushes this CPU). */
static pte_t *pte_of(volatile void *va)
{
	return get_pte_4k(va);
}
#else
typedef uint32_t pte_t;

#define PDE_4M (PT_PRESENT_MASK | PT_WRITABLE_MASK | PT_ACCESSED_MASK | PT_DIRTY_MASK | \
		PT_PAGE_SIZE_MASK)

static pte_t page_dir[1024] __aligned(4096);
static pte_t window_table[1024] __aligned(4096);

/* 32-bit paging, identity: 4 MiB pages, but 4 KiB ones around the window. */
static void setup_paging(void)
{
	unsigned long w = (unsigned long)window;

	for (unsigned i = 0; i < 1024; i++)
		page_dir[i] = (pte_t)(i << 22) | PDE_4M;
	for (unsigned i = 0; i < 1024; i++)
		window_table[i] = (pte_t)((w & ~0x3ffffful) + (i << 12)) | PT_PRESENT_MASK |
				  PT_WRITABLE_MASK | PT_ACCESSED_MASK | PT_DIRTY_MASK;
	page_dir[w >> 22] = (pte_t)(unsigned long)window_table | PT_PRESENT_MASK |
			    PT_WRITABLE_MASK | PT_ACCESSED_MASK;
	write_cr4(read_cr4() | X86_CR4_PSE);
	write_cr3((unsigned long)page_dir);
	write_cr0(read_cr0() | X86_CR0_PG);
}

static pte_t *pte_of(volatile void *va)
{
	return &window_table[((unsigned long)va >> 12) & 1023];
}
#endif

static pte_t *window_pte;

#define OLD_VALUE 0xa11a0001u
#define NEW_VALUE 0xb22b0002u

struct reader {
	volatile int stage;		/* 1: read through the old mapping; 2: go on */
	volatile bool flushed;
	uint32_t before, in_ipi_before_invlpg, after;
};
static struct reader readers[SMP_MAX_CPUS];

static void shoot_isr(struct ex_regs *regs)
{
	struct reader *r = &readers[smp_cpu_of((uint32_t)smp_id())];

	(void)regs;
	r->in_ipi_before_invlpg = window[0];
	invlpg(window);
	r->flushed = true;
	eoi();
}

static void reader(void *data)
{
	struct reader *r = data;

	r->before = window[0];
	r->stage = 1;
	asm volatile("sti" ::: "memory");
	while (r->stage != 2)
		pause();
	asm volatile("cli" ::: "memory");
	r->after = window[0];
}

static void map_window(void *page)
{
	*window_pte = (pte_t)(((unsigned long)page & ~0xffful) | PT_PRESENT_MASK |
			      PT_WRITABLE_MASK | PT_ACCESSED_MASK | PT_DIRTY_MASK);
}

static void flush_window(void *data)
{
	(void)data;
	invlpg(window);
}

static bool wait_all(bool (*done)(int cpu))
{
	for (unsigned long n = 0; n < WAIT_SPINS; n++) {
		bool all = true;

		for (int i = 1; i < cpu_count(); i++)
			all = all && done(i);
		if (all)
			return true;
		pause();
	}
	return false;
}

static bool reader_started(int cpu)
{
	return readers[cpu].stage == 1;
}

static bool reader_flushed(int cpu)
{
	return readers[cpu].flushed;
}

static void check_tlb_shootdown(void)
{
	int n = cpu_count();

	if (n < 2) {
		report_skip("TLB shootdown: one CPU");
		return;
	}
	page_a[0] = OLD_VALUE;
	page_b[0] = NEW_VALUE;
	/* The window's own PTE (64-bit: split out of its 2 MiB page), flushed everywhere. */
	window_pte = pte_of(window);
	map_window(page_a);
	on_cpus(flush_window, NULL);

	for (int i = 1; i < n; i++)
		on_cpu_async(i, reader, &readers[i]);
	report(wait_all(reader_started), "TLB shootdown: every other CPU read through the window");
	map_window(page_b);
	invlpg(window);
	apic_icr_write(APIC_DEST_ALLBUT | APIC_DM_FIXED | APIC_INT_ASSERT | SHOOT_VECTOR, 0);
	report(wait_all(reader_flushed), "TLB shootdown: every other CPU took the IPI and ran INVLPG");
	for (int i = 1; i < n; i++)
		readers[i].stage = 2;
	while (cpus_active() > 1)
		pause();
	report(window[0] == NEW_VALUE, "TLB shootdown: CPU 0 sees the new page after its INVLPG");
	for (int i = 1; i < n; i++) {
		struct reader *r = &readers[i];

		report(r->before == OLD_VALUE && r->after == NEW_VALUE,
		       "TLB shootdown: CPU %d read %#x through the old mapping, %#x after the IPI",
		       i, r->before, r->after);
		/*
		 * Before its INVLPG a CPU may read either page (SDM Vol. 3 4.10.4.3: a stale
		 * translation may or may not be used). Printed as a value line (1: the old page
		 * through a stale TLB entry, 0: the new page), which compare treats as a
		 * measurement: KVM's shadow MMU flushes every vCPU's TLB when it write-protects
		 * or zaps, so there the CPU already reads the new page.
		 */
		if (r->in_ipi_before_invlpg != OLD_VALUE && r->in_ipi_before_invlpg != NEW_VALUE)
			report(false, "CPU %d before its INVLPG read neither page", i);
		printf("stale_tlb_read_cpu%d %d\n", i, r->in_ipi_before_invlpg == OLD_VALUE);
	}
	map_window((void *)window);
	on_cpus(flush_window, NULL);
}

/* --- code written by one CPU, run by another ------------------------------ */

static uint8_t code[32] __aligned(64);

/* mov $v, %eax; [not %eax;] ret: the second form changes opcodes, not just data. */
static uint32_t write_code(uint32_t v, bool negate)
{
	int i = 0;

	code[i++] = 0xb8;
	memcpy(&code[i], &v, 4);
	i += 4;
	if (negate) {
		code[i++] = 0xf7;
		code[i++] = 0xd0;
	}
	code[i++] = 0xc3;
	return negate ? ~v : v;
}

struct code_job {
	uint32_t value;
	bool negate;
	uint32_t expect, got;
};

static void writer(void *data)
{
	struct code_job *j = data;

	j->expect = write_code(j->value, j->negate);
}

static void runner(void *data)
{
	struct code_job *j = data;

	/* The SDM's cross-modifying protocol: a serializing instruction before running. */
	(void)cpuid(0);
	j->got = ((uint32_t (*)(void))(void *)code)();
}

static void run_everywhere(void *data)
{
	struct code_job j;

	(void)data;
	runner(&j);
}

static void check_cross_modifying_code(void)
{
	int n = cpu_count(), rounds = 2 * n + 2, bad = 0;

	write_code(0, false);
	for (int r = 0; r < rounds; r++) {
		int w = r % n, x = (r + 1) % n;
		struct code_job j = { 0x1000u * (uint32_t)(r + 1) + 0x55u, r & 1, 0, 0 };

		/* Every CPU runs (and may cache) the current code first. */
		on_cpus(run_everywhere, NULL);
		on_cpu(w, writer, &j);
		on_cpu(x, runner, &j);
		if (j.got != j.expect) {
			printf("  round %d: CPU %d wrote code returning %#x, CPU %d ran it and got %#x\n",
			       r, w, j.expect, x, j.got);
			bad++;
		}
	}
	report(bad == 0, "code written by one CPU runs on the next one (%d rounds, %d wrong)",
	       rounds, bad);
}

/* --- main ----------------------------------------------------------------- */

static void raw_enable_x2apic(void *data)
{
	(void)data;
	/* Not enable_x2apic(): its accessor switch is global and CPU 0 is still xAPIC. */
	wrmsr(MSR_IA32_APICBASE, rdmsr(MSR_IA32_APICBASE) | APIC_EXTD);
}

int main(void)
{
	unsigned want = fwcfg_get_nb_cpus();
	int n;

	setup_paging();
	mask_pic_interrupts();
	handle_exception(FIXED_VECTOR, fixed_isr);
	handle_exception(SHOOT_VECTOR, shoot_isr);
	handle_exception(NMI_VECTOR, nmi_isr);
	n = smp_init();
	report(n == (int)want, "%d CPUs online, fw_cfg says %u", n, want);

	report_prefix_push("xapic");
	check_online();
	check_ipis(false);
	report_prefix_pop();

	check_on_cpu0();
	check_shared_memory();
	check_tlb_shootdown();
	check_cross_modifying_code();

	if (cpuid(1).c & CPUID_1_ECX_X2APIC) {
		report_prefix_push("x2apic");
		for (int i = 1; i < n; i++)
			on_cpu(i, raw_enable_x2apic, NULL);
		enable_x2apic();
		check_online();
		check_ipis(true);
		report_prefix_pop();
	} else {
		report_skip("x2APIC: not in CPUID");
	}
	return report_summary();
}
