/*
 * fep-cr0wp: supervisor writes to a read-only page right after a CR0.WP
 * change, done by the CPU and, through KVM's forced-emulation prefix
 * (kvm.force_emulation_prefix=1), by KVM's instruction emulator. CR0.WP=1
 * must fault (#PF 0x3), CR0.WP=0 must let the write through (SDM Vol. 3
 * 4.6.1), whoever performs the access.
 *
 * As kvm-unit-tests' access.c check_toggle_cr0_wp does, each case first
 * loads the opposite CR0.WP and toggles EFER.NX, so that KVM rebuilds its
 * MMU context (and the permission tables of its walker) with that value,
 * then sets CR0.WP for the access. On VMX with EPT, CR0.WP is guest-owned
 * (fb509f76acc8): that last write does not exit, and KVM's emulator must
 * refresh its copy before judging the write (cf9f4c0eb169). Without the
 * prefix (bare hardware, or KVM without the parameter) the emulated cases
 * are skipped.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/fault-check.h"
#include "x86/processor.h"
#include "x86/vm.h"

#define KVM_FEP "ud2; .byte 'k', 'v', 'm';"

/*
 * ASM_TRY for an instruction behind the prefix: a fault at the prefix (#UD
 * without forced emulation) or at the instruction resumes at fixup.
 */
#define ASM_TRY_FEP(fixup)					\
	"movl $-1, ex_last(%%rip)\n\t"				\
	".pushsection .data.ex, \"aw\"\n\t"			\
	".balign 8\n\t"						\
	".quad 1111f, " fixup "\n\t"				\
	".quad 1112f, " fixup "\n\t"				\
	".popsection\n\t"					\
	"1111:\n\t" KVM_FEP "\n\t1112:\n\t"

#define OFF	0x800
#define VALUE	0x5a

static u8 target[PAGE_SIZE] __aligned(PAGE_SIZE);
static pteval_t *pte;
static bool have_nx;

static bool fep_available(void)
{
	asm volatile(ASM_TRY_FEP("1f") "nop\n\t1:" : : : "memory");
	return ex_last.vector < 0;
}

/* One byte store to p, by the CPU or (fep) by KVM's emulator; the vector it raised or -1. */
static int store(volatile u8 *p, bool fep)
{
	u8 v = VALUE;

	if (fep)
		asm volatile(ASM_TRY_FEP("1f") "movb %[v], (%[p])\n\t1:"
			     : : [v] "q"(v), [p] "r"(p) : "memory");
	else
		asm volatile(ASM_TRY("1f") "movb %[v], (%[p])\n\t1:"
			     : : [v] "q"(v), [p] "r"(p) : "memory");
	return ex_last.vector;
}

/* One byte load from p, by the CPU or by KVM's emulator. */
static u8 load(volatile u8 *p, bool fep)
{
	u8 v = 0;

	if (fep)
		asm volatile(ASM_TRY_FEP("1f") "movb (%[p]), %[v]\n\t1:"
			     : [v] "+q"(v) : [p] "r"(p) : "memory");
	else
		asm volatile(ASM_TRY("1f") "movb (%[p]), %[v]\n\t1:"
			     : [v] "+q"(v) : [p] "r"(p) : "memory");
	return v;
}

static void writable(bool on)
{
	*pte = (unsigned long)target | PT_PRESENT_MASK | PT_ACCESSED_MASK | PT_DIRTY_MASK |
	       (on ? PT_WRITABLE_MASK : 0);
	invlpg(target);
}

static void set_wp(bool on)
{
	unsigned long cr0 = read_cr0();

	write_cr0(on ? cr0 | X86_CR0_WP : cr0 & ~X86_CR0_WP);
}

static void check(bool wp, bool fep)
{
	const char *who = fep ? "emulated" : "CPU";
	volatile u8 *p = target + OFF;
	u64 efer = rdmsr(MSR_EFER);
	int vector;

	writable(true);
	target[OFF] = 0;
	writable(false);

	/* KVM's MMU context is rebuilt with the opposite CR0.WP ... */
	set_wp(!wp);
	if (have_nx) {
		wrmsr(MSR_EFER, efer ^ EFER_NX);
		wrmsr(MSR_EFER, efer);
	}
	/* ... which goes stale here when CR0.WP does not exit. */
	set_wp(wp);
	vector = store(p, fep);
	if (wp) {
		REPORT_FI(fault_is_pf(&ex_last, PFERR_PRESENT | PFERR_WRITE, (unsigned long)p), &ex_last,
			  "%s supervisor write to a read-only page, CR0.WP=1: #PF 0x3", who);
	} else {
		REPORT_FI(vector < 0 && target[OFF] == VALUE, &ex_last,
			  "%s supervisor write to a read-only page, CR0.WP=0: allowed", who);
	}
	set_wp(true);
}

int main(void)
{
	bool fep;

	have_nx = (cpuid(0x80000001).d & (1u << 20)) != 0;
	if (!have_nx)
		report_info("no NX: KVM's context is not rebuilt between the CR0.WP writes");
	pte = get_pte_4k(target);
	fep = fep_available();
	report_info("forced emulation prefix %savailable", fep ? "" : "not ");

	check(true, false);
	check(false, false);
	if (fep) {
		writable(true);
		target[OFF] = 0x77;
		writable(false);
		report(load(target + OFF, true) == 0x77 && ex_last.vector < 0, "emulated read of a read-only page");
		check(true, true);
		check(false, true);
	} else {
		report_skip("emulated accesses: no forced emulation prefix");
	}
	writable(true);
	return report_summary();
}
