/*
 * pku: protection keys for user pages, the cases of kvm-unit-tests'
 * x86/pku.c. The first 8 MiB become supervisor-only 4 KiB pages and the
 * next 8 MiB their user alias (as in smap), all of them with protection
 * key 2. PKRU then denies access (AD, 0x10) or writes (WD, 0x20) for key 2.
 * Protection keys apply to user-mode addresses only, so supervisor pages are
 * never denied by PKRU; for a supervisor write to a user page WD counts only
 * with CR0.WP=1. The #PF handler counts the fault, records the variable's
 * value, clears PKRU and retries.
 *   write to a supervisor page, AD or WD, WP=0 or 1: no fault (4 cases);
 *   write to the user alias, WD, WP=0: no fault;
 *   write to the user alias, WD, WP=1: one fault;
 *   read from the user alias, AD: one fault.
 * Without PKU (KVM offers none under shadow paging) the test is skipped.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/vm.h"

#define CPUID_7_ECX_PKU		(1u << 3)
#define USER_BASE		(8ul << 20)
#define PTE_PKEY_SHIFT		59
#define KEY			2ul
#define PKRU_AD(k)		(1u << (2 * (k)))
#define PKRU_WD(k)		(2u << (2 * (k)))

#define ALIAS(p)	((__typeof__(p))((unsigned long)(p) + USER_BASE))

static volatile int pf_count;
static volatile unsigned seen;
static volatile unsigned var;

static void wrpkru(u32 pkru)
{
	asm volatile("wrpkru" : : "a"(pkru), "c"(0), "d"(0) : "memory");
}

static void pf_handler(struct ex_regs *regs)
{
	(void)regs;
	pf_count++;
	seen = var;
	wrpkru(0);
}

static void set_wp(bool on)
{
	unsigned long cr0 = read_cr0();

	write_cr0(on ? cr0 | X86_CR0_WP : cr0 & ~X86_CR0_WP);
}

/* Supervisor-only 0-8 MiB and its user alias at 8-16 MiB, all with KEY. */
static void map_keyed_alias(void)
{
	for (unsigned long va = 0; va < USER_BASE; va += PAGE_SIZE) {
		pteval_t *low = get_pte_4k((void *)va);
		pteval_t *high = get_pte_4k((void *)(va + USER_BASE));

		*low = (*low & ~PT_USER_MASK) | KEY << PTE_PKEY_SHIFT;
		*high = (*high - USER_BASE) | KEY << PTE_PKEY_SHIFT;
	}
	write_cr3(read_cr3());
}

static void begin(void)
{
	pf_count = 0;
	invlpg(&var);
	invlpg(ALIAS(&var));
	wrpkru(0);
	set_wp(false);
}

int main(void)
{
	if (!(cpuid_checked(7, 0).c & CPUID_7_ECX_PKU)) {
		report_skip("PKU not supported (CPUID.7.0:ECX[3])");
		return report_summary();
	}

	handle_exception(PF_VECTOR, pf_handler);
	map_keyed_alias();
	write_cr4(read_cr4() | X86_CR4_PKE);
	write_cr3(read_cr3());

	begin();
	set_wp(true);
	wrpkru(PKRU_AD(KEY));
	var = 21;
	report(pf_count == 0 && var == 21, "write to supervisor page when pkru is ad and wp == 1");

	begin();
	set_wp(false);
	wrpkru(PKRU_AD(KEY));
	var = 22;
	report(pf_count == 0 && var == 22, "write to supervisor page when pkru is ad and wp == 0");

	begin();
	set_wp(true);
	wrpkru(PKRU_WD(KEY));
	var = 23;
	report(pf_count == 0 && var == 23, "write to supervisor page when pkru is wd and wp == 1");

	begin();
	set_wp(false);
	wrpkru(PKRU_WD(KEY));
	var = 24;
	report(pf_count == 0 && var == 24, "write to supervisor page when pkru is wd and wp == 0");

	begin();
	wrpkru(PKRU_WD(KEY));
	set_wp(false);
	*ALIAS(&var) = 25;
	report(pf_count == 0 && var == 25, "write to user page when pkru is wd and wp == 0");

	begin();
	wrpkru(PKRU_WD(KEY));
	set_wp(true);
	*ALIAS(&var) = 26;
	report(pf_count == 1 && var == 26 && seen == 25, "write to user page when pkru is wd and wp == 1");

	begin();
	wrpkru(PKRU_AD(KEY));
	(void)*ALIAS(&var);
	report(pf_count == 1 && seen == 26, "read from user page when pkru is ad");

	return report_summary();
}
