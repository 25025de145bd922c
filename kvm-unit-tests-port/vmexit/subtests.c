/*
 * The vmexit sub-tests: each does, once, an operation a hypervisor has to
 * handle (or decides not to intercept). Which exit each one causes under
 * KVM on VMX:
 *   cpuid, vmcall               always exit (vmcall: KVM's hypercall ABI;
 *                               #UD without a hypervisor, then skipped)
 *   mov_from_cr8, mov_to_cr8    TPR shadow: no exit unless below threshold
 *   inl_from_pmtimer            PM timer port: emulated in QEMU's userspace
 *   inl_from_qemu               an unassigned port: userspace
 *   inl_from_kernel, outl_to_kernel  the ELCR (0x4d0): KVM's in-kernel PIC
 *   mov_dr                      DR7 write: exits until KVM stops intercepting
 *   tscdeadline(_immed)         IA32_TSC_DEADLINE write, timer interrupt
 *   self_ipi_*                  ICR write (APIC MMIO or x2APIC MSR), the
 *                               interrupt's injection, STI/HLT/TPR timing
 *   ple_round_robin             PAUSE in a spin loop (pause-loop exiting)
 *   wr_kernel_gs_base           passed through: no exit
 *   wr_ibrs_msr, wr_ibpb_msr    SPEC_CTRL / PRED_CMD, passed through
 *   wr/rd_tsc_adjust_msr        IA32_TSC_ADJUST: exits
 *   toggle_cr0_wp, toggle_cr4_pge  CR writes that change the MMU role or
 *                               flush the TLB (lkml thread (a))
 *   ipi, ipi_halt               on_cpu() to CPU 1: an ICR write, the wake
 *                               IPI's injection there, HLT (ipi_halt waits
 *                               2000 TSC ticks, so CPU 1 is halted again)
 * ipi and ipi_halt start the other CPUs (smp_init) when first asked, and are
 * skipped with a reason on a one-CPU machine, like upstream's.
 */
#include "vmexit.h"
#include "x86/acpi.h"
#include "x86/apic.h"
#include "x86/desc.h"
#include "x86/io.h"
#include "x86/processor.h"
#include "x86/smp.h"

#define TEST_VECTOR		0xb0
#define MSR_IA32_TSC_ADJUST	0x3b
#define MSR_IA32_SPEC_CTRL	0x48
#define MSR_IA32_PRED_CMD	0x49

static volatile unsigned long irqs;	/* TEST_VECTOR interrupts taken */
static unsigned long irqs_before;
static volatile unsigned long misses;	/* iterations whose interrupt did not arrive */
static unsigned long cr0_on, cr4_base;
static u16 pm_timer_port;

static void test_isr(struct ex_regs *regs)
{
	(void)regs;
	irqs++;
	eoi();
}

/* --- instructions that always exit ------------------------------------ */

static void do_cpuid(void)
{
	u32 a = 0, b, c = 0, d;

	asm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
}

static void do_vmcall(void)
{
	unsigned long a = 0, b, c, d;

	asm volatile("vmcall" : "+a"(a), "=b"(b), "=c"(c), "=d"(d) : : "memory");
}

static bool vmcall_usable(const char **why)
{
	unsigned long a = 0;

	asm volatile(ASM_TRY("1f") "vmcall\n\t1:" : "+a"(a) : : "rbx", "rcx", "rdx", "memory");
	*why = "VMCALL raised #UD: no hypervisor handles it";
	return exception_vector() < 0;
}

/* --- CR8 ---------------------------------------------------------------- */

static void do_mov_from_cr8(void)
{
	unsigned long v;

	asm volatile("mov %%cr8, %0" : "=r"(v));
}

static void do_mov_to_cr8(void)
{
	asm volatile("mov %0, %%cr8" : : "r"(0ul) : "memory");
}

/* --- port I/O ----------------------------------------------------------- */

static bool pmtimer_usable(const char **why)
{
	struct fadt_descriptor *fadt = find_acpi_table_addr(FACP_SIGNATURE);

	*why = "no FACP with a PM timer block";
	if (!fadt || !fadt->pm_tmr_blk)
		return false;
	pm_timer_port = fadt->pm_tmr_blk;
	report_info("PM timer port is %#x", pm_timer_port);
	return true;
}

static void do_inl_pmtimer(void)
{
	(void)inl(pm_timer_port);
}

static void do_inl_qemu(void)
{
	(void)inl(0x1234);
}

static void do_inb_elcr(void)
{
	(void)inb(0x4d0);
}

static void do_outb_elcr(void)
{
	outb(0, 0x4d0);
}

static void do_mov_dr7(void)
{
	asm volatile("mov %0, %%dr7" : : "r"(0x400ul));
}

/* --- TSC deadline --------------------------------------------------------- */

static bool tscdeadline_usable(const char **why)
{
	*why = "no TSC-deadline timer (CPUID.1:ECX[24])";
	return (cpuid(1).c & CPUID_1_ECX_TSC_DEADLINE) != 0;
}

static void count_from_here(void)
{
	irqs_before = irqs;
	misses = 0;
}

static void tscdeadline_prepare(void)
{
	apic_write(APIC_LVTT, APIC_LVT_TIMER_TSCDEADLINE | TEST_VECTOR);
	count_from_here();
}

/* A deadline already reached: the interrupt is due at once. */
static void do_tscdeadline_immed(void)
{
	wrmsr(MSR_IA32_TSCDEADLINE, rdtsc());
	asm volatile("nop");
}

/* A deadline 3000 ticks ahead, waited for with interrupts on. */
static void do_tscdeadline(void)
{
	unsigned long seen = irqs;

	wrmsr(MSR_IA32_TSCDEADLINE, rdtsc() + 3000);
	while (irqs == seen)
		pause();
}

/* Every call got exactly one interrupt, in time. */
static bool one_irq_each(unsigned long calls)
{
	unsigned long got = irqs - irqs_before;

	if (misses)
		report_info("%lu calls ended with their interrupt not yet taken", (unsigned long)misses);
	if (got != calls)
		report_info("%lu interrupts for %lu calls", got, calls);
	return misses == 0 && got == calls;
}

/* --- self IPIs ------------------------------------------------------------ */

static void self_ipi(void)
{
	apic_icr_write(APIC_INT_ASSERT | APIC_DEST_SELF | APIC_DEST_PHYSICAL |
		       APIC_DM_FIXED | TEST_VECTOR, 0);
}

static void x2apic_self_ipi(void)
{
	wrmsr(APIC_BASE_MSR + APIC_SELF_IPI / 16, TEST_VECTOR);
}

/* The interrupt must have arrived by the end of the iteration. */
static void expect_one(unsigned long seen)
{
	if (irqs != seen + 1)
		misses++;
}

#define SELF_IPI_VARIANTS(prefix, send)						\
static void prefix##sti_nop(void)						\
{										\
	unsigned long seen = irqs;						\
	cli();									\
	send();									\
	asm volatile("sti; nop" : : : "memory");				\
	expect_one(seen);							\
}										\
static void prefix##sti_hlt(void)						\
{										\
	unsigned long seen = irqs;						\
	cli();									\
	send();									\
	asm volatile("sti; hlt" : : : "memory");				\
	expect_one(seen);							\
}										\
static void prefix##tpr(void)							\
{										\
	unsigned long seen = irqs;						\
	apic_set_tpr(0xf);							\
	send();									\
	apic_set_tpr(0);							\
	asm volatile("nop" : : : "memory");					\
	expect_one(seen);							\
}										\
static void prefix##tpr_sti_nop(void)						\
{										\
	unsigned long seen = irqs;						\
	cli();									\
	apic_set_tpr(0xf);							\
	send();									\
	apic_set_tpr(0);							\
	asm volatile("sti; nop" : : : "memory");				\
	expect_one(seen);							\
}										\
static void prefix##tpr_sti_hlt(void)						\
{										\
	unsigned long seen = irqs;						\
	cli();									\
	apic_set_tpr(0xf);							\
	send();									\
	apic_set_tpr(0);							\
	asm volatile("sti; hlt" : : : "memory");				\
	expect_one(seen);							\
}

SELF_IPI_VARIANTS(self_ipi_, self_ipi)
SELF_IPI_VARIANTS(x2apic_self_ipi_, x2apic_self_ipi)

static bool x2apic_usable(const char **why)
{
	*why = "the local APIC is not in x2APIC mode (CPUID.1:ECX[21] clear)";
	return apic_x2apic_mode();
}

/* --- two CPUs ------------------------------------------------------------- */

/* Only the runs that ask for ipi or ipi_halt start the APs (fw_cfg reads, INIT/SIPI). */
static bool smp_usable(const char **why)
{
	static int cpus;

	if (!cpus)
		cpus = smp_init();
	*why = "needs a second CPU; this machine has one";
	return cpus > 1;
}

static volatile unsigned long ipi_calls;	/* functions CPU 1 ran for on_cpu() */
static unsigned long ipi_calls_before;

static void count_call(void *data)
{
	(void)data;
	ipi_calls++;
}

static void ipi_prepare(void)
{
	ipi_calls_before = ipi_calls;
}

static void do_ipi(void)
{
	on_cpu(1, count_call, NULL);
}

static void do_ipi_halt(void)
{
	uint64_t until;

	on_cpu(1, count_call, NULL);
	until = rdtsc() + 2000;
	while (rdtsc() < until)
		;
}

/* CPU 1 ran the function once per call. */
static bool one_call_each(unsigned long calls)
{
	return ipi_calls - ipi_calls_before == calls;
}

/* --- PAUSE ---------------------------------------------------------------- */

/*
 * Round robin over the online CPUs through one counter pair each: a CPU
 * spins (PAUSE) until its counter moves, then moves the next CPU's. With one
 * CPU the token is always already here, so no PAUSE runs.
 */
static void do_ple_round_robin(void)
{
	static struct {
		volatile int posted;
		int taken;
	} __aligned(64) slot[1] = { { -1, 0 } };

	while (slot[0].posted == slot[0].taken)
		pause();
	slot[0].taken = slot[0].posted;
	slot[0].posted++;
}

/* --- MSRs ----------------------------------------------------------------- */

static void do_wr_kernel_gs_base(void)
{
	wrmsr(MSR_KERNEL_GS_BASE, 0);
}

static bool spec_ctrl_usable(const char **why)
{
	*why = "no IA32_SPEC_CTRL (CPUID.7:EDX[26])";
	return (cpuid_checked(7, 0).d & (1u << 26)) != 0;
}

static bool ibpb_usable(const char **why)
{
	*why = "no IBPB (CPUID.7:EDX[26] or CPUID.80000008:EBX[12])";
	return (cpuid_checked(7, 0).d & (1u << 26)) || (cpuid_checked(0x80000008, 0).b & (1u << 12));
}

static void do_wr_ibrs(void)
{
	wrmsr(MSR_IA32_SPEC_CTRL, 1);
	wrmsr(MSR_IA32_SPEC_CTRL, 0);
}

static void do_wr_ibpb(void)
{
	wrmsr(MSR_IA32_PRED_CMD, 1);
}

static void do_wr_tsc_adjust(void)
{
	wrmsr(MSR_IA32_TSC_ADJUST, 0);
}

static void do_rd_tsc_adjust(void)
{
	(void)rdmsr(MSR_IA32_TSC_ADJUST);
}

/* --- control registers ------------------------------------------------------ */

static void do_toggle_cr0_wp(void)
{
	write_cr0(cr0_on & ~X86_CR0_WP);
	write_cr0(cr0_on);
}

static bool cr0_restored(unsigned long calls)
{
	(void)calls;
	return read_cr0() == cr0_on;
}

static void do_toggle_cr4_pge(void)
{
	write_cr4(cr4_base ^ X86_CR4_PGE);
	write_cr4(cr4_base);
}

static bool cr4_restored(unsigned long calls)
{
	(void)calls;
	return read_cr4() == cr4_base;
}

const struct subtest subtests[] = {
	{ "cpuid", do_cpuid },
	{ "vmcall", do_vmcall, vmcall_usable },
	{ "mov_from_cr8", do_mov_from_cr8 },
	{ "mov_to_cr8", do_mov_to_cr8 },
	{ "inl_from_pmtimer", do_inl_pmtimer, pmtimer_usable },
	{ "inl_from_qemu", do_inl_qemu },
	{ "inl_from_kernel", do_inb_elcr },
	{ "outl_to_kernel", do_outb_elcr },
	{ "mov_dr", do_mov_dr7 },
	{ "tscdeadline_immed", do_tscdeadline_immed, tscdeadline_usable, tscdeadline_prepare, one_irq_each },
	{ "tscdeadline", do_tscdeadline, tscdeadline_usable, tscdeadline_prepare, one_irq_each },
	{ "self_ipi_sti_nop", self_ipi_sti_nop, NULL, count_from_here, one_irq_each },
	{ "self_ipi_sti_hlt", self_ipi_sti_hlt, NULL, count_from_here, one_irq_each },
	{ "self_ipi_tpr", self_ipi_tpr, NULL, count_from_here, one_irq_each },
	{ "self_ipi_tpr_sti_nop", self_ipi_tpr_sti_nop, NULL, count_from_here, one_irq_each },
	{ "self_ipi_tpr_sti_hlt", self_ipi_tpr_sti_hlt, NULL, count_from_here, one_irq_each },
	{ "x2apic_self_ipi_sti_nop", x2apic_self_ipi_sti_nop, x2apic_usable, count_from_here, one_irq_each },
	{ "x2apic_self_ipi_sti_hlt", x2apic_self_ipi_sti_hlt, x2apic_usable, count_from_here, one_irq_each },
	{ "x2apic_self_ipi_tpr", x2apic_self_ipi_tpr, x2apic_usable, count_from_here, one_irq_each },
	{ "x2apic_self_ipi_tpr_sti_nop", x2apic_self_ipi_tpr_sti_nop, x2apic_usable, count_from_here, one_irq_each },
	{ "x2apic_self_ipi_tpr_sti_hlt", x2apic_self_ipi_tpr_sti_hlt, x2apic_usable, count_from_here, one_irq_each },
	{ "ipi", do_ipi, smp_usable, ipi_prepare, one_call_each },
	{ "ipi_halt", do_ipi_halt, smp_usable, ipi_prepare, one_call_each },
	{ "ple_round_robin", do_ple_round_robin },
	{ "wr_kernel_gs_base", do_wr_kernel_gs_base },
	{ "wr_ibrs_msr", do_wr_ibrs, spec_ctrl_usable },
	{ "wr_ibpb_msr", do_wr_ibpb, ibpb_usable },
	{ "wr_tsc_adjust_msr", do_wr_tsc_adjust },
	{ "rd_tsc_adjust_msr", do_rd_tsc_adjust },
	{ "toggle_cr0_wp", do_toggle_cr0_wp, NULL, NULL, cr0_restored },
	{ "toggle_cr4_pge", do_toggle_cr4_pge, NULL, NULL, cr4_restored },
};
const unsigned nr_subtests = ARRAY_SIZE(subtests);

void subtests_init(void)
{
	/* What upstream's boot and main() set up: PICs masked, the APIC on
	 * (x2APIC when offered), EFER.NX, CR0.WP, interrupts enabled. */
	mask_pic_interrupts();
	reset_apic();
	enable_x2apic();
	handle_exception(TEST_VECTOR, test_isr);
	if (cpuid_checked(0x80000001, 0).d & (1u << 20))
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NX);
	cr0_on = read_cr0() | X86_CR0_WP;
	write_cr0(cr0_on);
	cr4_base = read_cr4();
	sti();
}
