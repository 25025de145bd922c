/*
 * apic: the local APIC as a kernel uses it (SDM Vol. 3 chapter 11).
 *
 *   self IPIs: IRR -> ISR on acceptance, EOI, the handler runs exactly once
 *     and at the architectural point (after the instruction following STI);
 *     priority order, nesting, EOI retiring the highest ISR bit, PPR;
 *   TPR/CR8/PPR: an interrupt held back by CR8 is delivered when CR8 drops;
 *   the timer: one-shot (waking HLT), periodic with a handler count, masked,
 *     the current count against the PM timer for several divide values, and
 *     TSC-deadline mode when CPUID advertises it (skipped otherwise);
 *   NMI by IPI, error status, the software-disabled state;
 *   x2APIC: MSR gating in xAPIC mode and, when advertised, the x2APIC
 *     register rules and the same tests through MSRs;
 *   the PM timer's rate (3.579545 MHz) against the APIC timer and the TSC.
 *
 * PASS/FAIL lines only depend on architectural behaviour; measured times are
 * INFO lines. Where QEMU TCG is known to differ from the SDM the result is an
 * INFO line too, and test/guests/platform.test.ts holds mmulab to the SDM.
 */
#include "libcflat.h"
#include "x86/acpi.h"
#include "x86/apic.h"
#include "x86/desc.h"
#include "x86/io.h"
#include "x86/processor.h"
#include "x86/safe.h"

#define IPI_VECTOR	0xb0
#define LOW_VECTOR	0x90
#define MID_VECTOR	0xa0
#define HIGH_VECTOR	0xc0
#define TIMER_VECTOR	0xe0
#define ERROR_VECTOR	0xfe

#define PM_HZ		3579545u
/* PM timer ticks in `us` microseconds (rounded down). */
#define PM_TICKS_US(us)	((u32)((u64)(us) * PM_HZ / 1000000u))

static u16 pm_port = 0x608;

static u32 pm_read(void)
{
	return inl(pm_port) & 0xffffff;
}

static u32 pm_since(u32 start)
{
	return (pm_read() - start) & 0xffffff;
}

/* Busy-waits (interrupts as they are) for `ticks` PM ticks. */
static void pm_wait(u32 ticks)
{
	u32 start = pm_read();

	while (pm_since(start) < ticks)
		pause();
}

/* Nanoseconds in `ticks` PM timer ticks. */
static u64 pm_to_ns(u64 ticks)
{
	return ticks * 1000000000ull / PM_HZ;
}

/* Handler bookkeeping: runs per vector, and the order they ran in. */
static volatile unsigned runs[256];
static volatile u8 order[16];
static volatile unsigned norder;

static void reset_counts(void)
{
	for (int i = 0; i < 256; i++)
		runs[i] = 0;
	norder = 0;
}

static void count_and_eoi(struct ex_regs *regs)
{
	runs[regs->vector]++;
	if (norder < ARRAY_SIZE(order))
		order[norder++] = (u8)regs->vector;
	eoi();
}

static void send_self_ipi(u8 vector)
{
	apic_icr_write(APIC_DEST_SELF | APIC_DEST_PHYSICAL | APIC_DM_FIXED | APIC_INT_ASSERT | vector, 0);
}

/*
 * Waits with sti; hlt (the timer must be armed and unmasked, or nothing
 * would ever wake the CPU) until runs[vector] reaches `n` or `limit_us`
 * microseconds of PM time pass.
 */
static void halt_until(u8 vector, unsigned n, u32 limit_us)
{
	u32 start = pm_read();

	while (runs[vector] < n && pm_since(start) < PM_TICKS_US(limit_us))
		asm volatile("sti; hlt; cli" : : : "memory");
}

/* --- self IPI ------------------------------------------------------------ */

static volatile unsigned marker_next, marker_after;
static volatile unsigned seen_next, seen_after;
static volatile bool isr_set_inside, irr_clear_inside;
static volatile u32 ppr_inside;

static void self_ipi_handler(struct ex_regs *regs)
{
	runs[regs->vector]++;
	seen_next = marker_next;
	seen_after = marker_after;
	isr_set_inside = apic_read_bit(APIC_ISR, IPI_VECTOR);
	irr_clear_inside = !apic_read_bit(APIC_IRR, IPI_VECTOR);
	ppr_inside = apic_read(APIC_PROCPRI);
	eoi();
}

static void test_self_ipi(void)
{
	bool irr, isr;

	handle_exception(IPI_VECTOR, self_ipi_handler);
	reset_counts();
	marker_next = marker_after = 0;
	cli();
	send_self_ipi(IPI_VECTOR);
	irr = apic_read_bit(APIC_IRR, IPI_VECTOR);
	isr = apic_read_bit(APIC_ISR, IPI_VECTOR);
	report(irr && !isr && runs[IPI_VECTOR] == 0, "self IPI with IF=0: requested in IRR, not in service, not delivered");

	/* STI's shadow covers exactly one instruction: the interrupt comes between the two stores. */
	asm volatile("sti\n\t"
		     "movl $1, %0\n\t"
		     "movl $1, %1\n\t"
		     "cli"
		     : "=m"(marker_next), "=m"(marker_after) : : "memory");
	report(runs[IPI_VECTOR] == 1, "self IPI: handler ran exactly once");
	report(seen_next == 1 && seen_after == 0, "self IPI: delivered after the instruction following STI, not before, not later");
	report(isr_set_inside && irr_clear_inside, "self IPI: in the handler the vector is in ISR and no longer in IRR");
	report(ppr_inside == (IPI_VECTOR & 0xf0), "self IPI: PPR is the in-service vector's class inside the handler");
	report(!apic_read_bit(APIC_ISR, IPI_VECTOR) && !apic_read_bit(APIC_IRR, IPI_VECTOR) &&
	       apic_read(APIC_PROCPRI) == 0, "self IPI: EOI cleared ISR, PPR back to 0");

	/* The destination-field form of "self": physical destination = own APIC ID. */
	reset_counts();
	apic_icr_write(APIC_DEST_PHYSICAL | APIC_DM_FIXED | APIC_INT_ASSERT | IPI_VECTOR, apic_id());
	asm volatile("sti; nop; cli" : : : "memory");
	report(runs[IPI_VECTOR] == 1, "IPI to own APIC ID (no shorthand) delivered once");

	/* "All excluding self" goes nowhere on a one-CPU machine. */
	reset_counts();
	apic_icr_write(APIC_DEST_ALLBUT | APIC_DM_FIXED | APIC_INT_ASSERT | IPI_VECTOR, 0);
	asm volatile("sti; nop; nop; cli" : : : "memory");
	report(runs[IPI_VECTOR] == 0 && !apic_read_bit(APIC_IRR, IPI_VECTOR),
	       "IPI to all excluding self does not reach this CPU");
	handle_exception(IPI_VECTOR, 0);
}

/* --- priorities ------------------------------------------------------------ */

static volatile bool nested_both_in_service, nested_only_mid_after_eoi, low_held_in_mid;
static volatile u32 nested_ppr;

static void high_handler(struct ex_regs *regs)
{
	runs[regs->vector]++;
	nested_both_in_service = apic_read_bit(APIC_ISR, MID_VECTOR) && apic_read_bit(APIC_ISR, HIGH_VECTOR);
	nested_ppr = apic_read(APIC_PROCPRI);
	eoi();
	nested_only_mid_after_eoi = apic_read_bit(APIC_ISR, MID_VECTOR) && !apic_read_bit(APIC_ISR, HIGH_VECTOR);
}

static void mid_handler(struct ex_regs *regs)
{
	runs[regs->vector]++;
	/* Higher class: taken inside this handler. Lower class: held by PPR. */
	send_self_ipi(HIGH_VECTOR);
	send_self_ipi(LOW_VECTOR);
	asm volatile("sti; nop; nop; cli" : : : "memory");
	low_held_in_mid = runs[LOW_VECTOR] == 0 && apic_read_bit(APIC_IRR, LOW_VECTOR);
	eoi();
}

static void test_priorities(void)
{
	handle_exception(MID_VECTOR, count_and_eoi);
	handle_exception(HIGH_VECTOR, count_and_eoi);
	handle_exception(LOW_VECTOR, count_and_eoi);
	reset_counts();
	cli();
	send_self_ipi(MID_VECTOR);
	send_self_ipi(HIGH_VECTOR);
	report(apic_read_bit(APIC_IRR, MID_VECTOR) && apic_read_bit(APIC_IRR, HIGH_VECTOR),
	       "priority: both vectors requested in IRR");
	asm volatile("sti; nop; cli" : : : "memory");
	report(norder == 2 && order[0] == HIGH_VECTOR && order[1] == MID_VECTOR,
	       "priority: the higher vector is delivered first, then the lower one");

	handle_exception(MID_VECTOR, mid_handler);
	handle_exception(HIGH_VECTOR, high_handler);
	reset_counts();
	nested_both_in_service = nested_only_mid_after_eoi = low_held_in_mid = false;
	send_self_ipi(MID_VECTOR);
	asm volatile("sti; nop; cli" : : : "memory");
	report(runs[MID_VECTOR] == 1 && runs[HIGH_VECTOR] == 1, "nesting: a higher class interrupts the handler of a lower one");
	report(nested_both_in_service, "nesting: both vectors are in service in the inner handler");
	report(nested_ppr == (HIGH_VECTOR & 0xf0), "nesting: PPR is the highest in-service class");
	report(nested_only_mid_after_eoi, "nesting: EOI retires only the highest in-service vector");
	report(low_held_in_mid, "nesting: a lower class stays requested while a higher one is in service");
	asm volatile("sti; nop; cli" : : : "memory");
	report(runs[LOW_VECTOR] == 1, "nesting: the held vector is delivered after the EOI");
	report(apic_read(APIC_PROCPRI) == 0 && !apic_read_bit(APIC_ISR, MID_VECTOR), "nesting: nothing left in service");
	handle_exception(MID_VECTOR, 0);
	handle_exception(HIGH_VECTOR, 0);
	handle_exception(LOW_VECTOR, 0);
}

static void test_tpr(void)
{
	handle_exception(IPI_VECTOR, count_and_eoi);
	reset_counts();

	apic_set_tpr(IPI_VECTOR >> 4);
	report(apic_read(APIC_TASKPRI) == IPI_VECTOR, "TPR: class %u set through %s reads 0x%x in TPR",
	       IPI_VECTOR >> 4,
#ifdef __x86_64__
	       "CR8",
#else
	       "TPR",
#endif
	       IPI_VECTOR);
	report(apic_read(APIC_PROCPRI) == IPI_VECTOR, "TPR: PPR follows TPR when nothing is in service");

	sti();
	send_self_ipi(IPI_VECTOR);
	asm volatile("nop; nop; nop" : : : "memory");
	report(runs[IPI_VECTOR] == 0 && apic_read_bit(APIC_IRR, IPI_VECTOR),
	       "TPR: an interrupt of the same class is held back with IF=1");
	apic_set_tpr((IPI_VECTOR >> 4) - 1);
	asm volatile("nop" : : : "memory");
	report(runs[IPI_VECTOR] == 1, "TPR: lowering the priority class delivers it");
	cli();

	apic_write(APIC_TASKPRI, 0x37);
	report(apic_read(APIC_PROCPRI) == 0x37, "TPR: PPR equals the whole TPR (0x37) when TPR's class wins");
#ifdef __x86_64__
	report(read_cr8() == 3, "TPR: CR8 mirrors TPR[7:4] after a TPR register write");
	write_cr8(5);
	report(apic_read(APIC_TASKPRI) == 0x50, "TPR: a CR8 write sets TPR[7:4] and clears TPR[3:0]");
#endif
	apic_set_tpr(0);
	handle_exception(IPI_VECTOR, 0);
}

/* --- timer ------------------------------------------------------------------ */

static const struct {
	u32 tdcr;
	u32 divisor;
} dividers[] = { { APIC_TDCR_DIV1, 1 }, { APIC_TDCR_DIV2, 2 }, { APIC_TDCR_DIV16, 16 } };

static void test_timer_one_shot(void)
{
	const u32 count = 1000000;	/* 1 ms at 1 GHz */
	u32 pm0, elapsed, min_ticks;

	handle_exception(TIMER_VECTOR, count_and_eoi);
	reset_counts();
	cli();
	apic_write(APIC_TDCR, APIC_TDCR_DIV1);
	apic_write(APIC_LVTT, APIC_LVT_TIMER_ONESHOT | TIMER_VECTOR);
	report(apic_read(APIC_LVTT) == (APIC_LVT_TIMER_ONESHOT | TIMER_VECTOR), "timer: LVT reads back one-shot, unmasked");
	pm0 = pm_read();
	apic_write(APIC_TMICT, count);
	report(apic_read(APIC_TMICT) == count, "timer: initial count reads back");
	halt_until(TIMER_VECTOR, 1, 100000);
	elapsed = pm_since(pm0);
	min_ticks = PM_TICKS_US(count / 1000) - 1;
	report(runs[TIMER_VECTOR] == 1, "one-shot: HLT woken by the timer interrupt");
	report(elapsed >= min_ticks, "one-shot: not before the programmed time (by the PM timer)");
	report_info("one-shot: 1000000 ticks at divide 1 took %u PM ticks (%llu ns)", elapsed,
		    (unsigned long long)pm_to_ns(elapsed));
	report(apic_read(APIC_TMCCT) == 0, "one-shot: current count reads 0 after expiry");
	sti();
	pm_wait(PM_TICKS_US(2000));
	cli();
	report(runs[TIMER_VECTOR] == 1, "one-shot: fires once only");

	/* Masked: counts down, raises nothing. */
	reset_counts();
	apic_write(APIC_LVTT, APIC_LVT_MASKED | TIMER_VECTOR);
	apic_write(APIC_TMICT, 100000);
	sti();
	pm_wait(PM_TICKS_US(1000));
	cli();
	report(runs[TIMER_VECTOR] == 0 && apic_read(APIC_TMCCT) == 0 && !apic_read_bit(APIC_IRR, TIMER_VECTOR),
	       "masked timer: counts to 0, no interrupt requested");
	apic_write(APIC_TMICT, 0);
	handle_exception(TIMER_VECTOR, 0);
}

/*
 * The count against the PM timer: both sampled between two PM reads, so the
 * elapsed time is known within the width of the sandwiches.
 */
static void test_timer_rate(void)
{
	for (unsigned i = 0; i < ARRAY_SIZE(dividers); i++) {
		u32 pa, pb, pc, pd, c0, c1, consumed;
		u64 lo_ns, hi_ns, expect;

		apic_write(APIC_LVTT, APIC_LVT_MASKED | TIMER_VECTOR);
		apic_write(APIC_TDCR, dividers[i].tdcr);
		apic_write(APIC_TMICT, 0xffffffffu);
		pa = pm_read();
		c0 = apic_read(APIC_TMCCT);
		pb = pm_read();
		pm_wait(PM_TICKS_US(5000));
		pc = pm_read();
		c1 = apic_read(APIC_TMCCT);
		pd = pm_read();
		consumed = c0 - c1;
		lo_ns = pm_to_ns((pc - pb) & 0xffffff);
		hi_ns = pm_to_ns(((pd - pa) & 0xffffff) + 1);
		expect = (u64)consumed * dividers[i].divisor;
		report(c1 < c0 && expect * 100 >= lo_ns * 98 && expect * 100 <= hi_ns * 102,
		       "timer rate: divide by %u counts at 1 GHz / %u by the PM timer (2%%)",
		       dividers[i].divisor, dividers[i].divisor);
		report_info("timer rate: divide by %u: %u counts in %u PM ticks", dividers[i].divisor,
			    consumed, (pc - pb) & 0xffffff);
	}
	apic_write(APIC_TMICT, 0);
	apic_write(APIC_TDCR, APIC_TDCR_DIV1);
}

static void test_timer_periodic(void)
{
	const u32 period = 200000;	/* 200 us */
	const unsigned n = 5;
	u32 pm0, elapsed, ccr;
	unsigned stopped;

	handle_exception(TIMER_VECTOR, count_and_eoi);
	reset_counts();
	cli();
	apic_write(APIC_TDCR, APIC_TDCR_DIV1);
	apic_write(APIC_LVTT, APIC_LVT_TIMER_PERIODIC | TIMER_VECTOR);
	pm0 = pm_read();
	apic_write(APIC_TMICT, period);
	halt_until(TIMER_VECTOR, n, 100000);
	elapsed = pm_since(pm0);
	ccr = apic_read(APIC_TMCCT);
	report(runs[TIMER_VECTOR] >= n, "periodic: %u interrupts", n);
	report(elapsed >= PM_TICKS_US(n * period / 1000) - 1, "periodic: %u periods take at least %u us", n, n * period / 1000);
	report(ccr > 0 && ccr <= period, "periodic: the count reloads (current count within the period)");
	report_info("periodic: %u interrupts in %u PM ticks (%llu ns per period)", runs[TIMER_VECTOR], elapsed,
		    (unsigned long long)(pm_to_ns(elapsed) / runs[TIMER_VECTOR]));

	apic_write(APIC_TMICT, 0);
	/* An expiry that came while IF was 0 is still requested: let it in first. */
	asm volatile("sti; nop; cli" : : : "memory");
	stopped = runs[TIMER_VECTOR];
	sti();
	pm_wait(PM_TICKS_US(1000));
	cli();
	report(runs[TIMER_VECTOR] == stopped && apic_read(APIC_TMCCT) == 0, "periodic: writing 0 to the initial count stops it");

	/* One-shot <-> periodic without re-arming: the mode is read at each expiry. */
	reset_counts();
	apic_write(APIC_TMICT, period);
	apic_write(APIC_LVTT, APIC_LVT_TIMER_ONESHOT | TIMER_VECTOR);
	halt_until(TIMER_VECTOR, 1, 100000);
	sti();
	pm_wait(PM_TICKS_US(1000));
	cli();
	report(runs[TIMER_VECTOR] == 1, "periodic switched to one-shot while counting fires once");
	apic_write(APIC_TMICT, 0);
	handle_exception(TIMER_VECTOR, 0);
}

static volatile u64 tsc_in_handler;

static void deadline_handler(struct ex_regs *regs)
{
	tsc_in_handler = rdtsc();
	count_and_eoi(regs);
}

static void test_tsc_deadline(void)
{
	u64 deadline, msr;

	if (!(cpuid(1).c & CPUID_1_ECX_TSC_DEADLINE)) {
		report_skip("TSC deadline: not advertised by CPUID.1:ECX[24]");
		return;
	}
	handle_exception(TIMER_VECTOR, deadline_handler);
	reset_counts();
	cli();
	apic_write(APIC_LVTT, APIC_LVT_TIMER_TSCDEADLINE | TIMER_VECTOR);
	report((apic_read(APIC_LVTT) & APIC_LVT_TIMER_MASK) == APIC_LVT_TIMER_TSCDEADLINE, "TSC deadline: LVT mode reads back");
	apic_write(APIC_TMICT, 1000);
	report(apic_read(APIC_TMCCT) == 0, "TSC deadline: current count reads 0, initial-count writes are ignored");

	deadline = rdtsc() + 1000000;
	wrmsr(MSR_IA32_TSCDEADLINE, deadline);
	report(rdmsr(MSR_IA32_TSCDEADLINE) == deadline, "TSC deadline: the MSR reads back while armed");
	halt_until(TIMER_VECTOR, 1, 100000);
	report(runs[TIMER_VECTOR] == 1, "TSC deadline: HLT woken by the deadline interrupt");
	report(tsc_in_handler >= deadline, "TSC deadline: not before the deadline");
	report_info("TSC deadline: handler %llu TSC ticks after the deadline",
		    (unsigned long long)(tsc_in_handler - deadline));
	report(rdmsr(MSR_IA32_TSCDEADLINE) == 0, "TSC deadline: the MSR reads 0 after it fired");

	/* A deadline already passed fires at once. */
	reset_counts();
	marker_after = 0;
	asm volatile("sti\n\t"
		     "nop\n\t"
		     "wrmsr\n\t"
		     "nop\n\t"
		     "nop\n\t"
		     "cli"
		     : : "c"(MSR_IA32_TSCDEADLINE), "a"(1), "d"(0) : "memory");
	report(runs[TIMER_VECTOR] == 1, "TSC deadline: a deadline in the past fires immediately");

	/* Writing 0 disarms. */
	reset_counts();
	wrmsr(MSR_IA32_TSCDEADLINE, rdtsc() + 1000000);
	wrmsr(MSR_IA32_TSCDEADLINE, 0);
	sti();
	pm_wait(PM_TICKS_US(2000));
	cli();
	report(runs[TIMER_VECTOR] == 0 && rdmsr(MSR_IA32_TSCDEADLINE) == 0, "TSC deadline: writing 0 disarms");

	/* Leaving TSC-deadline mode disarms too; the MSR then reads 0 and ignores writes. */
	wrmsr(MSR_IA32_TSCDEADLINE, rdtsc() + 1000000);
	apic_write(APIC_LVTT, APIC_LVT_TIMER_ONESHOT | TIMER_VECTOR);
	wrmsr(MSR_IA32_TSCDEADLINE, rdtsc() + 1000);
	sti();
	pm_wait(PM_TICKS_US(2000));
	cli();
	msr = rdmsr(MSR_IA32_TSCDEADLINE);
	report(runs[TIMER_VECTOR] == 0 && msr == 0, "TSC deadline: another timer mode disarms it and ignores the MSR");
	apic_write(APIC_LVTT, APIC_LVT_MASKED | TIMER_VECTOR);
	handle_exception(TIMER_VECTOR, 0);
}

/* --- NMI, errors, software disable ------------------------------------------ */

static volatile unsigned nmis;

static void nmi_handler(struct ex_regs *regs)
{
	(void)regs;
	nmis++;
}

static void test_nmi_and_errors(void)
{
	u32 esr;

	handle_exception(NMI_VECTOR, nmi_handler);
	nmis = 0;
	cli();
	apic_icr_write(APIC_DEST_ALLINC | APIC_DM_NMI | APIC_INT_ASSERT, 0);
	asm volatile("nop; nop" : : : "memory");
	report(nmis == 1, "NMI IPI to all including self: delivered once, with IF=0");
	handle_exception(NMI_VECTOR, 0);

	apic_write(APIC_ESR, 0);
	report(apic_read(APIC_ESR) == 0, "ESR: reads 0 after a write with no error");

	/*
	 * SDM 11.5.2/11.5.3: vectors 0-15 are illegal; sending one sets ESR
	 * "send illegal vector" and nothing is delivered. QEMU TCG requests and
	 * delivers it (as vector 5, #BR), so the outcome is an INFO line.
	 */
	handle_exception(5, count_and_eoi);
	reset_counts();
	send_self_ipi(5);
	apic_write(APIC_ESR, 0);
	esr = apic_read(APIC_ESR);
	asm volatile("sti; nop; cli" : : : "memory");
	report_info("illegal vector 5 in a fixed self IPI: ESR 0x%x, delivered %u times", esr, runs[5]);
	handle_exception(5, 0);
	apic_write(APIC_ESR, 0);
}

static void test_software_disable(void)
{
	u32 lvt_disabled, lvt_rewritten, lvt_enabled;
	bool requested;

	handle_exception(IPI_VECTOR, count_and_eoi);
	reset_counts();
	cli();
	apic_write(APIC_LVTT, APIC_LVT_TIMER_ONESHOT | TIMER_VECTOR);
	apic_write(APIC_SPIV, 0xff);
	report(apic_read(APIC_SPIV) == 0xff, "software disable: SPIV bit 8 clears");
	/*
	 * SDM 11.4.7.2: while software-disabled every LVT mask bit is set and
	 * cannot be cleared; fixed interrupts are not accepted (only INIT, NMI,
	 * SMI and SIPI are). QEMU TCG keeps the masks as written and accepts
	 * the interrupt, so these are INFO lines.
	 */
	lvt_disabled = apic_read(APIC_LVTT);
	apic_write(APIC_LVTT, APIC_LVT_TIMER_ONESHOT | TIMER_VECTOR);
	lvt_rewritten = apic_read(APIC_LVTT);
	send_self_ipi(IPI_VECTOR);
	requested = apic_read_bit(APIC_IRR, IPI_VECTOR);
	enable_apic();
	lvt_enabled = apic_read(APIC_LVTT);
	report(apic_read(APIC_SPIV) == 0x1ff, "software enable: SPIV reads 0x1ff again");
	report_info("software disable: LVT timer 0x%x, 0x%x after writing it unmasked, 0x%x after enabling; "
		    "a fixed self IPI was %s", lvt_disabled, lvt_rewritten, lvt_enabled,
		    requested ? "requested" : "dropped");
	/* Whatever was accepted is delivered now. */
	asm volatile("sti; nop; cli" : : : "memory");
	apic_write(APIC_LVTT, APIC_LVT_MASKED | TIMER_VECTOR);
	handle_exception(IPI_VECTOR, 0);
}

/* --- x2APIC ------------------------------------------------------------------- */

static void test_x2apic_gating(void)
{
	u64 v;
	int vec;

	vec = rdmsr_safe(APIC_BASE_MSR + APIC_ID / 16, &v);
	report_info("x2APIC: RDMSR 0x802 in xAPIC mode: %s", vec == GP_VECTOR ? "#GP" : vec < 0 ? "no fault" : "other fault");
	if (!(cpuid(1).c & CPUID_1_ECX_TSC_DEADLINE)) {
		vec = rdmsr_safe(MSR_IA32_TSCDEADLINE, &v);
		report_info("TSC deadline: RDMSR 0x6e0 without CPUID support: %s",
			    vec == GP_VECTOR ? "#GP" : vec < 0 ? "no fault" : "other fault");
	}
}

/* x2APIC register rules (SDM 11.12.1): run only where CPUID advertises x2APIC. */
static void test_x2apic_rules(void)
{
	u64 v;

	report(*(volatile u32 *)(APIC_DEFAULT_PHYS_BASE + APIC_ID) == 0xffffffffu,
	       "x2APIC: the xAPIC page is gone (reads all ones)");
	report(rdmsr(APIC_BASE_MSR + APIC_ID / 16) == 0, "x2APIC: ID MSR reads the 32-bit x2APIC ID 0");
	report(rdmsr(APIC_BASE_MSR + APIC_LDR / 16) == 1, "x2APIC: LDR is derived: cluster 0, bit 0");
	report(rdmsr_safe(0x80e, &v) == GP_VECTOR, "x2APIC: DFR (0x80e) does not exist: #GP");
	report(rdmsr_safe(0x831, &v) == GP_VECTOR, "x2APIC: 0x831 does not exist (ICR is 64-bit): #GP");
	report(rdmsr_safe(APIC_BASE_MSR + APIC_EOI / 16, &v) == GP_VECTOR, "x2APIC: EOI is write-only: #GP on read");
	report(rdmsr_safe(APIC_BASE_MSR + APIC_SELF_IPI / 16, &v) == GP_VECTOR, "x2APIC: SELF IPI is write-only");
	report(wrmsr_safe(APIC_BASE_MSR + APIC_EOI / 16, 1) == GP_VECTOR, "x2APIC: EOI of a non-zero value: #GP");
	report(wrmsr_safe(APIC_BASE_MSR + APIC_TASKPRI / 16, 0x100) == GP_VECTOR, "x2APIC: TPR bit 8 is reserved: #GP");
	report(wrmsr_safe(APIC_BASE_MSR + APIC_TASKPRI / 16, 1ull << 32) == GP_VECTOR, "x2APIC: bits 63:32 are reserved: #GP");
	report(wrmsr_safe(APIC_BASE_MSR + APIC_ID / 16, 0) == GP_VECTOR, "x2APIC: ID is read-only: #GP on write");
	report(wrmsr_safe(MSR_IA32_APICBASE, APIC_DEFAULT_PHYS_BASE | APIC_BSP | APIC_EN) == GP_VECTOR,
	       "x2APIC: going back to xAPIC directly: #GP");

	handle_exception(IPI_VECTOR, count_and_eoi);
	reset_counts();
	cli();
	wrmsr(APIC_BASE_MSR + APIC_SELF_IPI / 16, IPI_VECTOR);
	report(apic_read_bit(APIC_IRR, IPI_VECTOR), "x2APIC: SELF IPI MSR requests the vector");
	asm volatile("sti; nop; cli" : : : "memory");
	report(runs[IPI_VECTOR] == 1, "x2APIC: SELF IPI delivered once");
	handle_exception(IPI_VECTOR, 0);
}

static void run_suite(void)
{
	test_self_ipi();
	test_priorities();
	test_tpr();
	test_timer_one_shot();
	test_timer_rate();
	test_timer_periodic();
	test_tsc_deadline();
	test_nmi_and_errors();
	test_software_disable();
}

/* --- the PM timer's rate ------------------------------------------------------ */

static void test_pm_rate(void)
{
	const u32 window = PM_TICKS_US(5000);
	u32 p0, p1, c0, c1;
	u64 t0, t1, pm_per_g_apic, pm_per_g_tsc;

	apic_write(APIC_LVTT, APIC_LVT_MASKED | TIMER_VECTOR);
	apic_write(APIC_TDCR, APIC_TDCR_DIV1);
	apic_write(APIC_TMICT, 0xffffffffu);
	p0 = pm_read();
	while (pm_read() == p0)
		;
	p0 = pm_read();
	c0 = apic_read(APIC_TMCCT);
	t0 = rdtsc();
	while (pm_since(p0) < window)
		;
	p1 = pm_read();
	c1 = apic_read(APIC_TMCCT);
	t1 = rdtsc();
	apic_write(APIC_TMICT, 0);
	pm_per_g_apic = (u64)((p1 - p0) & 0xffffff) * 1000000000ull / (c0 - c1);
	pm_per_g_tsc = (u64)((p1 - p0) & 0xffffff) * 1000000000ull / (t1 - t0);
	report(pm_per_g_apic * 100 >= (u64)PM_HZ * 99 && pm_per_g_apic * 100 <= (u64)PM_HZ * 101,
	       "PM timer: 3.579545 MHz against the 1 GHz APIC timer (1%%)");
	report_info("PM timer: %llu ticks per 10^9 APIC timer ticks", (unsigned long long)pm_per_g_apic);
	report_info("PM timer: %llu ticks per 10^9 TSC ticks", (unsigned long long)pm_per_g_tsc);
}

int main(void)
{
	struct fadt_descriptor *fadt = find_acpi_table_addr(FACP_SIGNATURE);
	struct cpuid c1 = cpuid(1);

	if (fadt)
		pm_port = (u16)fadt->pm_tmr_blk;
	report_info("cpuid.1: x2apic %u, tsc-deadline %u", (c1.c >> 21) & 1, (c1.c >> 24) & 1);

	mask_pic_interrupts();
	enable_apic();
	apic_write(APIC_LVTERR, APIC_LVT_MASKED | ERROR_VECTOR);
	report(apic_id() == 0 && apic_read(APIC_SPIV) == 0x1ff, "xAPIC: enabled, ID 0");

	report_prefix_push("xapic");
	run_suite();
	report_prefix_pop();
	test_x2apic_gating();
	test_pm_rate();

	if (enable_x2apic()) {
		report_prefix_push("x2apic");
		test_x2apic_rules();
		run_suite();
		report_prefix_pop();
		disable_apic();
		reset_apic();
		report(!(rdmsr(MSR_IA32_APICBASE) & APIC_EXTD) && apic_read(APIC_SPIV) == 0x1ff,
		       "x2APIC -> disabled -> xAPIC is allowed");
	} else {
		report_skip("x2APIC: not advertised by CPUID.1:ECX[21]");
	}
	return report_summary();
}
