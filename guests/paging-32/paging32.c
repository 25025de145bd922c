/*
 * paging-32: 32-bit paging (CR4.PAE=0), built by the guest itself from the
 * -m32 library (which boots with paging off). SDM Vol. 3 4.3 and 4.6-4.8:
 * 4 KiB pages, 4 MiB pages with CR4.PSE (A/D in the PDE, bit 21 reserved),
 * PDE.PS ignored when CR4.PSE=0, PSE-36 (PDE bits 20:13 are physical bits
 * 39:32, bits above MAXPHYADDR reserved), U/S and R/W over both levels with
 * CR0.WP, the error code (no I/D bit from EFER.NXE without PAE, I/D with
 * SMEP), SMAP with EFLAGS.AC, CR2.
 *
 * Layout: PDEs 0-3 map 0-16 MiB with 4 KiB pages, supervisor-only; PDEs
 * 0x200-0x203 map the same page tables with U/S=1 at 2 GiB, the user alias
 * run_in_user() uses (user_alias_offset), so SMEP and SMAP can be turned on
 * without the kernel running from user pages. Test mappings: PDE 0x100
 * (4 KiB pages, 0x40000000), 0x101 (4 MiB page, 0x40400000), 0x102 (PS
 * with or without PSE, 0x40800000), 0x103 (PSE-36, 0x40c00000).
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/access.h"
#include "x86/fault-check.h"
#include "x86/processor.h"
#include "x86/vm.h"

typedef u32 pte32_t;

#define P	0x001u
#define RW	0x002u
#define US	0x004u
#define A	0x020u
#define D	0x040u
#define PS	0x080u

#define ALIAS		0x80000000ul
#define TVA		0x40000000ul
#define TVA_4M		0x40400000ul
#define TVA_PS		0x40800000ul
#define TVA_PSE36	0x40c00000ul
#define PHYS_8M		0x00800000ul
#define OFF_DATA	ACCESS_DATA_OFFSET

static pte32_t pd[1024] __aligned(4096);
static pte32_t pt_low[4][1024] __aligned(4096);
static pte32_t pt_test[1024] __aligned(4096);
static u8 target[2][4096] __aligned(4096);
static unsigned maxphy;
static bool have_pse36, have_smep, have_smap, have_nx;


/* report(), plus what the fault looked like when the check fails. */
static void flush(void)
{
	write_cr3(read_cr3());
}

static void setup_paging(void)
{
	for (int t = 0; t < 4; t++) {
		for (int i = 0; i < 1024; i++)
			pt_low[t][i] = ((t * 1024 + i) << 12) | P | RW | US;
		pd[t] = (unsigned long)pt_low[t] | P | RW | US;
		pd[0x200 + t] = (unsigned long)pt_low[t] | P | RW | US;	/* user alias */
	}
	pd[0x100] = (unsigned long)pt_test | P | RW | US;
	for (int i = 0; i < 2; i++) {
		pt_test[i] = (unsigned long)target[i] | P | RW | US;
		target[i][0] = 0xc3;	/* ret */
	}
	write_cr3((unsigned long)pd);
	write_cr4(read_cr4() & ~(X86_CR4_PAE | X86_CR4_PSE | X86_CR4_PGE));
	write_cr0(read_cr0() | X86_CR0_PG | X86_CR0_WP);
}

/*
 * SMEP and SMAP need the kernel off user pages: PDEs 0-3 become
 * supervisor-only and CPL3 code runs from the user alias.
 */
static void kernel_supervisor_only(bool on)
{
	for (int t = 0; t < 4; t++)
		pd[t] = on ? pd[t] & ~US : pd[t] | US;
	user_alias_offset = on ? ALIAS : 0;
	flush();
}

static void test_basics(void)
{
	struct fault_info fi;

	report((read_cr0() & X86_CR0_PG) && read_cr3() == (unsigned long)pd,
	       "paging on, CR3 = page directory");
	pd[0x100] &= ~A;
	pt_test[0] &= ~(A | D);
	flush();
	access_caught(ACCESS_READ, TVA, false, &fi);
	report(fi.vector < 0 && (pd[0x100] & A) && (pt_test[0] & A) && !(pt_test[0] & D),
	       "4 KiB page read: A set in PDE and PTE, D clear");
	access_caught(ACCESS_WRITE, TVA, true, &fi);
	report(fi.vector < 0 && (pt_test[0] & D) && target[0][OFF_DATA] == ACCESS_WRITE_VALUE,
	       "4 KiB page CPL3 write: D set");

	pt_test[0] &= ~(P | A | D);
	flush();
	access_caught(ACCESS_READ, TVA, false, &fi);
	REPORT_FI(fault_is_pf(&fi, 0, TVA + OFF_DATA), &fi, "PTE.P=0: read #PF 0x0, CR2");
	access_caught(ACCESS_WRITE, TVA, true, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_WRITE | PFERR_USER, TVA + OFF_DATA), &fi,
	       "PTE.P=0: CPL3 write #PF 0x6");
	pt_test[0] |= P;
	pd[0x100] &= ~P;
	flush();
	access_caught(ACCESS_READ, TVA, true, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_USER, TVA + OFF_DATA), &fi,
	       "PDE.P=0: CPL3 read #PF 0x4");
	pd[0x100] |= P;

	pt_test[0] &= ~US;
	flush();
	access_caught(ACCESS_READ, TVA, true, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_USER, TVA + OFF_DATA), &fi,
	       "PTE.US=0: CPL3 read #PF 0x5");
	pt_test[0] |= US;
	pd[0x100] &= ~US;
	flush();
	access_caught(ACCESS_READ, TVA, true, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_USER, TVA + OFF_DATA), &fi,
	       "PDE.US=0: CPL3 read #PF 0x5");
	pd[0x100] |= US;

	pt_test[0] &= ~(RW | D);
	flush();
	access_caught(ACCESS_WRITE, TVA, false, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE, TVA + OFF_DATA) &&
	       !(pt_test[0] & D), &fi, "PTE.RW=0, CR0.WP=1: CPL0 write #PF 0x3, D clear");
	write_cr0(read_cr0() & ~X86_CR0_WP);
	access_caught(ACCESS_WRITE, TVA, false, &fi);
	report(fi.vector < 0 && (pt_test[0] & D), "PTE.RW=0, CR0.WP=0: CPL0 write allowed, D set");
	access_caught(ACCESS_WRITE, TVA, true, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, TVA + OFF_DATA), &fi,
	       "PTE.RW=0, CR0.WP=0: CPL3 write #PF 0x7");
	write_cr0(read_cr0() | X86_CR0_WP);
	pt_test[0] |= RW;
	pd[0x100] &= ~RW;
	flush();
	access_caught(ACCESS_WRITE, TVA, true, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, TVA + OFF_DATA), &fi,
	       "PDE.RW=0: CPL3 write #PF 0x7");
	pd[0x100] |= RW;
	flush();
}

static void test_4m_pages(void)
{
	volatile u32 *marker = (volatile u32 *)(PHYS_8M + 0x12344);
	struct fault_info fi;

	*marker = 0x4d4d4d4d;
	write_cr4(read_cr4() | X86_CR4_PSE);
	pd[0x101] = PHYS_8M | P | RW | US | PS;
	flush();
	report(*(volatile u32 *)(TVA_4M + 0x12344) == 0x4d4d4d4d && (pd[0x101] & A) &&
	       !(pd[0x101] & D), "4 MiB page (CR4.PSE=1): read reaches physical 8 MiB + offset, A set");
	*(volatile u32 *)(TVA_4M + 0x3ffffc) = 0x600d;
	report(*(volatile u32 *)(PHYS_8M + 0x3ffffc) == 0x600d && (pd[0x101] & D),
	       "4 MiB page: write at offset 0x3ffffc lands there, D set in the PDE");
	pd[0x101] &= ~(US | A | D);
	flush();
	access_caught(ACCESS_READ, TVA_4M, true, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_USER, TVA_4M + OFF_DATA) &&
	       !(pd[0x101] & A), &fi, "4 MiB page US=0: CPL3 read #PF 0x5, A stays clear");
	pd[0x101] = PHYS_8M | P | RW | US | PS | (1u << 21);
	flush();
	access_caught(ACCESS_READ, TVA_4M, false, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, TVA_4M + OFF_DATA), &fi,
	       "4 MiB page with bit 21 set: reserved, #PF 0x9");
	pd[0x101] = PHYS_8M | P | RW | US | PS | (1u << 12);
	flush();
	access_caught(ACCESS_READ, TVA_4M, false, &fi);
	report(fi.vector < 0, "4 MiB page with bit 12 (PAT) set: no fault");
	pd[0x101] = 0;
	flush();
}

static void test_ps_without_pse(void)
{
	volatile u32 *pt_at_8m = (volatile u32 *)PHYS_8M;
	u32 v;

	/*
	 * One PDE, two meanings: with PSE it maps the 4 MiB page at 8 MiB,
	 * without PSE its bits 31:12 name a page table at 8 MiB, whose first
	 * PTE maps target[1].
	 */
	pt_at_8m[0] = (unsigned long)target[1] | P | RW | US;
	*(volatile u32 *)&target[1][16] = 0x7a7a7a7a;
	pd[0x102] = PHYS_8M | P | RW | US | PS;

	write_cr4(read_cr4() & ~X86_CR4_PSE);
	flush();
	v = *(volatile u32 *)(TVA_PS + 16);
	report(v == 0x7a7a7a7a, "CR4.PSE=0: PDE.PS ignored, the PDE references a page table");
	write_cr4(read_cr4() | X86_CR4_PSE);
	flush();
	v = *(volatile u32 *)(TVA_PS + 0);
	report(v == ((unsigned long)target[1] | P | RW | US | A),
	       "CR4.PSE=1: the same PDE maps a 4 MiB page (reads the PTE as data)");
	pd[0x102] = 0;
	flush();
}

static void test_pse36(void)
{
	struct fault_info fi;
	volatile u32 *marker = (volatile u32 *)(PHYS_8M + 0x100);
	u32 v;

	if (!have_pse36) {
		report_skip("PSE-36: CPUID.1:EDX.PSE-36 = 0");
		report_skip("PSE-36: bit MAXPHYADDR");
		report_skip("PSE-36: highest address bit");
		return;
	}
	*marker = 0x36363636;
	write_cr4(read_cr4() | X86_CR4_PSE);
	/* Bit 13 is physical-address bit 32: 4 GiB + 8 MiB, not RAM here. */
	pd[0x103] = PHYS_8M | (1u << 13) | P | RW | US | PS;
	flush();
	access_caught(ACCESS_READ, TVA_PSE36, false, &fi);
	v = *(volatile u32 *)(TVA_PSE36 + 0x100);
	report(fi.vector < 0 && v != 0x36363636,
	       "PSE-36: PDE bit 13 is address bit 32 (no fault, no alias of low memory)");
	if (maxphy < 40) {
		pd[0x103] = PHYS_8M | (1u << (13 + maxphy - 32)) | P | RW | US | PS;
		flush();
		access_caught(ACCESS_READ, TVA_PSE36, false, &fi);
		REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, TVA_PSE36 + OFF_DATA), &fi,
		       "PSE-36: PDE bit for address bit MAXPHYADDR is reserved, #PF 0x9");
	} else {
		report_skip("PSE-36: bit MAXPHYADDR: MAXPHYADDR >= 40");
	}
	pd[0x103] = PHYS_8M | (1u << (13 + (maxphy < 40 ? maxphy : 40) - 1 - 32)) | P | RW | US | PS;
	flush();
	access_caught(ACCESS_READ, TVA_PSE36, false, &fi);
	report(fi.vector < 0, "PSE-36: highest address bit below MAXPHYADDR: no fault");
	pd[0x103] = 0;
	flush();
}

static void test_fetch_error_codes(void)
{
	struct fault_info fi;

	pt_test[0] &= ~P;
	flush();
	if (have_nx) {
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NX);
		access_caught(ACCESS_FETCH, TVA, false, &fi);
		REPORT_FI(fault_is_pf(&fi, 0, TVA) && fi.ip == TVA, &fi,
		       "EFER.NXE=1 without PAE: fetch from a not-present page #PF 0x0 (no I/D)");
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_NX);
	} else {
		report_skip("EFER.NXE=1 without PAE: no NX");
	}
	access_caught(ACCESS_FETCH, TVA, false, &fi);
	REPORT_FI(fault_is_pf(&fi, 0, TVA), &fi, "EFER.NXE=0: fetch from a not-present page #PF 0x0");
	pt_test[0] |= P;
	flush();

	if (!have_smep) {
		report_skip("SMEP: not supported");
		report_skip("SMEP: fetch not present");
		return;
	}
	kernel_supervisor_only(true);
	write_cr4(read_cr4() | X86_CR4_SMEP);
	access_caught(ACCESS_FETCH, TVA, false, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_FETCH, TVA), &fi,
	       "SMEP: CPL0 fetch from a user page #PF 0x11 (I/D set by SMEP)");
	pt_test[0] &= ~P;
	flush();
	access_caught(ACCESS_FETCH, TVA, false, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_FETCH, TVA), &fi,
	       "SMEP: fetch from a not-present page #PF 0x10");
	pt_test[0] |= P;
	flush();
	write_cr4(read_cr4() & ~X86_CR4_SMEP);
	kernel_supervisor_only(false);
}

/*
 * Last, because an emulator that gets it wrong may not survive it: CPL3
 * code on user pages while the kernel (IDT, GDT, TSS, ESP0 stack) is on
 * supervisor-only pages. The CPU's accesses while delivering the event
 * from CPL3 are supervisor accesses (the stack pushes are made at the new
 * CPL), so int $0x7f back to the kernel must work (SDM Vol. 3 6.12.1).
 */
static void test_user_with_supervisor_kernel(void)
{
	struct fault_info fi;

	kernel_supervisor_only(true);
	access_caught(ACCESS_READ, TVA, true, &fi);
	report(fi.vector < 0, "supervisor-only kernel: CPL3 read of a user page, back via int $0x7f");
	pt_test[0] &= ~US;
	flush();
	access_caught(ACCESS_READ, TVA, true, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_USER, TVA + OFF_DATA), &fi,
		  "supervisor-only kernel: CPL3 read of a supervisor page #PF 0x5 onto ESP0");
	pt_test[0] |= US;
	flush();
	if (have_smep) {
		write_cr4(read_cr4() | X86_CR4_SMEP);
		access_caught(ACCESS_FETCH, TVA, true, &fi);
		report(fi.vector < 0, "SMEP: CPL3 fetch from a user page allowed");
		write_cr4(read_cr4() & ~X86_CR4_SMEP);
	} else {
		report_skip("SMEP: CPL3 fetch: not supported");
	}
	kernel_supervisor_only(false);
}

static void test_smap(void)
{
	struct fault_info fi;

	if (!have_smap) {
		report_skip("SMAP: not supported");
		report_skip("SMAP: AC=1");
		return;
	}
	kernel_supervisor_only(true);
	write_cr4(read_cr4() | X86_CR4_SMAP);
	access_caught(ACCESS_READ, TVA, false, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT, TVA + OFF_DATA), &fi,
	       "SMAP: CPL0 read of a user page with AC=0 #PF 0x1");
	asm volatile("stac" ::: "memory");
	access_caught(ACCESS_WRITE, TVA, false, &fi);
	asm volatile("clac" ::: "memory");
	report(fi.vector < 0, "SMAP: CPL0 write of a user page with AC=1 (STAC) allowed");
	write_cr4(read_cr4() & ~X86_CR4_SMAP);
	kernel_supervisor_only(false);
}

int main(int argc, char **argv)
{
	struct cpuid c1 = cpuid(1), c7 = cpuid_checked(7, 0);

	maxphy = cpuid_checked(0x80000008, 0).a & 0xff;
	if (!maxphy)
		maxphy = 36;
	have_pse36 = c1.d & (1u << 17);
	have_smep = c7.b & (1u << 7);
	have_smap = c7.b & (1u << 20);
	have_nx = cpuid_checked(0x80000001, 0).d & (1u << 20);
	report_info("MAXPHYADDR %u PSE-36 %d SMEP %d SMAP %d NX %d", maxphy, have_pse36,
		    have_smep, have_smap, have_nx);

	setup_paging();
	report_prefix_push("32-bit paging");
	test_basics();
	test_4m_pages();
	test_ps_without_pse();
	test_pse36();
	test_fetch_error_codes();
	test_smap();
	test_user_with_supervisor_kernel();
	report_prefix_pop();
	return report_summary();
}
