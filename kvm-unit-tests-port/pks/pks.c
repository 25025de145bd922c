/*
 * pks: protection keys for supervisor pages, the cases of kvm-unit-tests'
 * x86/pks.c and a few more. The page holding `var` keeps its user mapping
 * and gets protection key 2; its alias 8 MiB higher becomes a supervisor
 * page with the same key. With CR4.PKS=1, IA32_PKRS (MSR 0x6e1, laid out as
 * PKRU) then denies data access (AD, 0x10) or writes (WD, 0x20) through the
 * supervisor alias: AD always, WD only with CR0.WP=1. PKRS never applies to
 * user pages, and nothing applies without CR4.PKS. The #PF handler counts the
 * fault, records the variable's value, clears PKRS and retries.
 *   write to the supervisor alias, AD, WP=0 or 1: one fault;
 *   write to the supervisor alias, WD, WP=1: one fault; WP=0: none;
 *   read from the supervisor alias, AD: one fault, error code P|PK;
 *   write to the user page, WD, WP=0 or 1; read from it, AD: no fault;
 *   the supervisor alias with AD but CR4.PKS=0: no fault;
 *   WRMSR to PKRS with a bit of 63:32 set: #GP.
 * Without PKS (KVM offers it in no mode) the test is skipped.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/safe.h"
#include "x86/vm.h"

#define CPUID_7_ECX_PKS		(1u << 31)
#define MSR_IA32_PKRS		0x6e1
#define X86_CR4_PKS_BIT		(1ul << 24)
#define ALIAS_OFFSET		(8ul << 20)
#define PTE_PKEY_SHIFT		59
#define KEY			2ul
#define PKRS_AD(k)		(1u << (2 * (k)))
#define PKRS_WD(k)		(2u << (2 * (k)))
#define PF_P			0x1ul
#define PF_PK			0x20ul

#define ALIAS(p)	((__typeof__(p))((unsigned long)(p) + ALIAS_OFFSET))

static volatile int pf_count;
static volatile unsigned long pf_code;
static volatile unsigned seen;
static volatile unsigned var __attribute__((aligned(4096)));

static void pf_handler(struct ex_regs *regs)
{
	pf_count++;
	pf_code = regs->error_code;
	seen = var;
	wrmsr(MSR_IA32_PKRS, 0);
}

static void set_wp(bool on)
{
	unsigned long cr0 = read_cr0();

	write_cr0(on ? cr0 | X86_CR0_WP : cr0 & ~X86_CR0_WP);
}

/* var's page keeps its user rights and gets KEY; its alias is supervisor-only with KEY. */
static void map_keyed_alias(void)
{
	pteval_t *user = get_pte_4k(&var);
	pteval_t *super = get_pte_4k(ALIAS(&var));

	*user |= KEY << PTE_PKEY_SHIFT;
	*super = (*user & ~PT_USER_MASK) | KEY << PTE_PKEY_SHIFT;
	write_cr3(read_cr3());
}

static void begin(unsigned pkrs, bool wp)
{
	pf_count = 0;
	pf_code = 0;
	invlpg((void *)&var);
	invlpg((void *)ALIAS(&var));
	wrmsr(MSR_IA32_PKRS, 0);
	set_wp(wp);
	wrmsr(MSR_IA32_PKRS, pkrs);
}

int main(void)
{
	if (!(cpuid_checked(7, 0).c & CPUID_7_ECX_PKS)) {
		report_skip("PKS not supported (CPUID.7.0:ECX[31])");
		return report_summary();
	}

	handle_exception(PF_VECTOR, pf_handler);
	map_keyed_alias();
	write_cr4(read_cr4() | X86_CR4_PKS_BIT);
	write_cr3(read_cr3());

	begin(PKRS_AD(KEY), true);
	*ALIAS(&var) = 21;
	report(pf_count == 1 && var == 21 && seen == 0, "write to supervisor page when pkrs is ad and wp == 1");

	begin(PKRS_AD(KEY), false);
	*ALIAS(&var) = 22;
	report(pf_count == 1 && var == 22 && seen == 21, "write to supervisor page when pkrs is ad and wp == 0");

	begin(PKRS_WD(KEY), true);
	*ALIAS(&var) = 23;
	report(pf_count == 1 && var == 23 && seen == 22, "write to supervisor page when pkrs is wd and wp == 1");

	begin(PKRS_WD(KEY), false);
	*ALIAS(&var) = 24;
	report(pf_count == 0 && var == 24, "write to supervisor page when pkrs is wd and wp == 0");

	begin(PKRS_WD(KEY), false);
	var = 25;
	report(pf_count == 0 && var == 25, "write to user page when pkrs is wd and wp == 0");

	begin(PKRS_WD(KEY), true);
	var = 26;
	report(pf_count == 0 && var == 26, "write to user page when pkrs is wd and wp == 1");

	begin(PKRS_AD(KEY), true);
	(void)var;
	report(pf_count == 0, "read from user page when pkrs is ad");

	begin(PKRS_AD(KEY), true);
	seen = 0;
	(void)*ALIAS(&var);
	report(pf_count == 1 && seen == 26 && pf_code == (PF_P | PF_PK),
	       "read from supervisor page when pkrs is ad: #PF with P and PK (0x%lx)", pf_code);

	write_cr4(read_cr4() & ~X86_CR4_PKS_BIT);
	begin(PKRS_AD(KEY), true);
	*ALIAS(&var) = 27;
	report(pf_count == 0 && var == 27, "write to supervisor page when pkrs is ad and CR4.PKS == 0");

	report(wrmsr_safe(MSR_IA32_PKRS, 1ull << 32) == GP_VECTOR, "WRMSR to PKRS with bit 32 set is #GP");
	wrmsr(MSR_IA32_PKRS, 0);

	return report_summary();
}
