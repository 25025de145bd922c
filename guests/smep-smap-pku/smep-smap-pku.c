/*
 * smep-smap-pku: supervisor-mode execution and access prevention and
 * protection keys in 4-level paging (SDM Vol. 3 4.6, 4.6.2, 4.7).
 *   - SMEP: a supervisor fetch from a user page faults (#PF with I/D set,
 *     also with EFER.NXE=0); data accesses are not affected;
 *   - SMAP: an explicit supervisor data access to a user page faults unless
 *     EFLAGS.AC=1 (STAC/CLAC, POPF); an implicit supervisor access (the CPU
 *     reading a descriptor table) to a user page faults whatever AC, also
 *     at CPL3; with CR0.WP=0 and AC=1 read-only user pages are writable;
 *     STAC/CLAC #UD at CPL > 0 or without SMAP;
 *   - PKU: CR4.PKE, RDPKRU/WRPKRU (#UD without PKE, #GP(0) with ECX or EDX
 *     nonzero), PKRU.ADi/WDi on data accesses to user pages with key i
 *     (WD applies to supervisor writes only with CR0.WP=1), not on fetches
 *     or supervisor pages, checked on every access (no TLB flush needed),
 *     and the PK error-code bit, set whenever PKRU denies the access, also
 *     when the R/W bits deny it too.
 * SMEP and SMAP need the kernel off user pages: PML4E 0 (0-512 GiB, the
 * kernel's identity map) is made supervisor-only and PML4E 1 maps the same
 * tables with U/S=1 as the user alias (user_alias_offset) that CPL3 code
 * runs from. Tests that go to CPL3 while the kernel is supervisor-only come
 * last, in their own section.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/access.h"
#include "x86/fault-check.h"
#include "x86/processor.h"
#include "x86/vm.h"

#define P	PT_PRESENT_MASK
#define RW	PT_WRITABLE_MASK
#define US	PT_USER_MASK
#define A	PT_ACCESSED_MASK
#define D	PT_DIRTY_MASK
#define PS	PT_PAGE_SIZE_MASK
#define PKEY(k)	((u64)(k) << 59)

#define ALIAS	(1ul << 39)
#define TVA	0x0000123400000000ul	/* 4 KiB test page */
#define TVA_2M	0x0000123440000000ul	/* 2 MiB user page */
#define TVA_GDT	0x0000123480000000ul	/* 2-page GDT copy */
#define PHYS_2M	0x01000000ul
#define OFF_DATA ACCESS_DATA_OFFSET

#define SEL_USER_PAGE	0x1000	/* GDT index 512: on the GDT's second page */

static u8 target[PAGE_SIZE] __aligned(PAGE_SIZE);
static u64 gdt_pages[2][512] __aligned(PAGE_SIZE);
static pteval_t *root, *pte, *pde, *pde_2m, *gdt_pte[2];
static bool have_smep, have_smap, have_pku, have_nx;
static struct descriptor_table_ptr boot_gdtr;

static void flush(void)
{
	write_cr3(read_cr3());
}

static void kernel_supervisor_only(bool on)
{
	if (on) {
		root[1] = (root[0] & PT_ADDR_MASK) | P | RW | US | A;
		root[0] &= ~US;
		user_alias_offset = ALIAS;
	} else {
		root[0] |= US;
		root[1] = 0;
		user_alias_offset = 0;
	}
	flush();
}

static void reset_target(pteval_t flags)
{
	*pte = (unsigned long)target | P | RW | flags;
	target[0] = 0xc3;
	invlpg((void *)TVA);
}

static void set_cr4_bit(unsigned long bit, bool on)
{
	unsigned long cr4 = read_cr4();

	write_cr4(on ? cr4 | bit : cr4 & ~bit);
}

static void set_wp(bool on)
{
	unsigned long cr0 = read_cr0();

	write_cr0(on ? cr0 | X86_CR0_WP : cr0 & ~X86_CR0_WP);
}

/* --- SMEP ---------------------------------------------------------------- */

static void test_smep(void)
{
	struct fault_info fi;

	if (!have_smep) {
		unsigned long cr4 = read_cr4();

		asm volatile(ASM_TRY("1f") "mov %0, %%cr4\n\t1:"
			     : : "r"(cr4 | X86_CR4_SMEP) : "memory");
		report(exception_vector() == GP_VECTOR && exception_error_code() == 0,
		       "SMEP: CR4.SMEP without CPUID.7.0:EBX.SMEP: #GP(0)");
		return;
	}
	set_cr4_bit(X86_CR4_SMEP, true);
	report(read_cr4() & X86_CR4_SMEP, "SMEP: CR4.SMEP set, kernel on supervisor pages");
	reset_target(US);
	catch_fault(access_fetch, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_FETCH, TVA) && fi.ip == TVA, &fi,
		  "SMEP: CPL0 fetch from a user page #PF 0x11, CR2 = RIP = target");
	if (have_nx) {
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_NX);
		catch_fault(access_fetch, (void *)TVA, &fi);
		REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_FETCH, TVA), &fi,
			  "SMEP with EFER.NXE=0: #PF 0x11 (I/D set because of SMEP)");
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NX);
	} else {
		report_skip("SMEP with EFER.NXE=0: no NX");
	}
	catch_fault(access_read, (void *)TVA, &fi);
	report(fi.vector < 0, "SMEP: CPL0 read of a user page allowed");
	reset_target(0);
	catch_fault(access_fetch, (void *)TVA, &fi);
	report(fi.vector < 0, "SMEP: CPL0 fetch from a supervisor page allowed");
	*pde &= ~US;
	reset_target(US);
	catch_fault(access_fetch, (void *)TVA, &fi);
	report(fi.vector < 0, "SMEP: PTE.US=1 under PDE.US=0 is a supervisor page: fetch allowed");
	*pde |= US;
	*pte &= ~P;
	invlpg((void *)TVA);
	catch_fault(access_fetch, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_FETCH, TVA), &fi, "SMEP: fetch from a not-present page #PF 0x10");
	*(volatile u8 *)(PHYS_2M + 0x3000) = 0xc3;
	catch_fault(access_fetch, (void *)(TVA_2M + 0x3000), &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_FETCH, TVA_2M + 0x3000), &fi,
		  "SMEP: CPL0 fetch from a 2 MiB user page #PF 0x11");

	/* kvm-unit-tests' check_smep_andnot_wp. */
	reset_target(US);
	*pte &= ~RW;
	invlpg((void *)TVA);
	set_wp(false);
	catch_fault(access_write, (void *)TVA, &fi);
	report(fi.vector < 0 && (*pte & D), "SMEP, CR0.WP=0: CPL0 write to a read-only user page allowed");
	catch_fault(access_fetch, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_FETCH, TVA), &fi,
		  "SMEP, CR0.WP=0: then fetching it still #PF 0x11");
	set_wp(true);
	reset_target(US);
	set_cr4_bit(X86_CR4_SMEP, false);
	catch_fault(access_fetch, (void *)TVA, &fi);
	report(fi.vector < 0, "CR4.SMEP cleared: CPL0 fetch from a user page allowed");
}

/* --- SMAP ---------------------------------------------------------------- */

static void load_ds(void *sel)
{
	asm volatile("mov %0, %%ds" : : "r"((u16)(unsigned long)sel) : "memory");
}

static void setup_gdt_copy(void)
{
	struct descriptor_table_ptr p;

	sgdt(&boot_gdtr);
	memcpy(gdt_pages[0], (void *)boot_gdtr.base, boot_gdtr.limit + 1);
	/* Flat data segments, DPL 0 and DPL 3, on the second page; A preset. */
	gdt_pages[1][0] = gdt_code_data(0, 0xfffff, 0x93, 0xc);
	gdt_pages[1][1] = gdt_code_data(0, 0xfffff, 0xf3, 0xc);
	gdt_pte[0] = pt_entry(root, 4, TVA_GDT, 1, P | RW | US);
	gdt_pte[1] = pt_entry(root, 4, TVA_GDT + PAGE_SIZE, 1, P | RW | US);
	*gdt_pte[0] = (unsigned long)gdt_pages[0] | P | RW | A | D;		/* supervisor */
	*gdt_pte[1] = (unsigned long)gdt_pages[1] | P | RW | US | A | D;	/* user */
	p.limit = 2 * PAGE_SIZE - 1;
	p.base = TVA_GDT;
	lgdt(&p);
}

static void restore_gdt(void)
{
	lgdt(&boot_gdtr);
}

static void test_smap(void)
{
	struct fault_info fi;

	if (!have_smap) {
		unsigned long cr4 = read_cr4();

		asm volatile(ASM_TRY("1f") "mov %0, %%cr4\n\t1:"
			     : : "r"(cr4 | X86_CR4_SMAP) : "memory");
		report(exception_vector() == GP_VECTOR && exception_error_code() == 0,
		       "SMAP: CR4.SMAP without CPUID.7.0:EBX.SMAP: #GP(0)");
		asm volatile(ASM_TRY("1f") "stac\n\t1:" ::: "memory");
		report(exception_vector() == UD_VECTOR, "SMAP: STAC without SMAP support: #UD");
		asm volatile(ASM_TRY("1f") "clac\n\t1:" ::: "memory");
		report(exception_vector() == UD_VECTOR, "SMAP: CLAC without SMAP support: #UD");
		return;
	}
	set_cr4_bit(X86_CR4_SMAP, true);
	reset_target(US);
	*pte &= ~(A | D);
	invlpg((void *)TVA);
	catch_fault(access_read, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT, TVA + OFF_DATA) && !(*pte & A), &fi,
		  "SMAP: CPL0 read of a user page with AC=0 #PF 0x1, A stays clear");
	catch_fault(access_write, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE, TVA + OFF_DATA) && !(*pte & D), &fi,
		  "SMAP: CPL0 write to a user page with AC=0 #PF 0x3, D stays clear");
	catch_fault(access_fetch, (void *)TVA, &fi);
	report(fi.vector < 0, "SMAP does not apply to fetches (SMEP off): allowed");
	catch_fault(access_read, (void *)(TVA_2M + 0x3000), &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT, TVA_2M + 0x3000 + OFF_DATA), &fi,
		  "SMAP: CPL0 read of a 2 MiB user page #PF 0x1");
	write_flags(read_flags() | X86_EFLAGS_AC);
	catch_fault(access_read, (void *)TVA, &fi);
	write_flags(read_flags() & ~X86_EFLAGS_AC);
	report(fi.vector < 0, "SMAP: EFLAGS.AC set with POPF allows the access");

	/* Implicit supervisor access: the CPU reads the descriptor from a user page. */
	setup_gdt_copy();
	catch_fault(load_ds, (void *)(unsigned long)SEL_USER_PAGE, &fi);
	load_ds((void *)(unsigned long)KERNEL_DS);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT, TVA_GDT + SEL_USER_PAGE), &fi,
		  "SMAP: descriptor read from a user page (MOV DS, AC=0) #PF 0x1, CR2 = descriptor");
	write_flags(read_flags() | X86_EFLAGS_AC);
	catch_fault(load_ds, (void *)(unsigned long)SEL_USER_PAGE, &fi);
	write_flags(read_flags() & ~X86_EFLAGS_AC);
	load_ds((void *)(unsigned long)KERNEL_DS);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT, TVA_GDT + SEL_USER_PAGE), &fi,
		  "SMAP: descriptor read from a user page (MOV DS, AC=1) #PF 0x1: AC does not apply");
	set_cr4_bit(X86_CR4_SMAP, false);
	catch_fault(load_ds, (void *)(unsigned long)SEL_USER_PAGE, &fi);
	load_ds((void *)(unsigned long)KERNEL_DS);
	report(fi.vector < 0, "no SMAP: the same descriptor load works");
	restore_gdt();
}

/* STAC/CLAC at CPL0 (after the PKU tests: an emulator that mis-decodes them may not survive). */
static void test_smap_stac(void)
{
	struct fault_info fi;

	if (!have_smap)
		return;
	set_cr4_bit(X86_CR4_SMAP, true);
	reset_target(US);
	stac();
	report(read_flags() & X86_EFLAGS_AC, "STAC sets EFLAGS.AC");
	catch_fault(access_read, (void *)TVA, &fi);
	report(fi.vector < 0, "SMAP: CPL0 read of a user page after STAC allowed");
	catch_fault(access_write, (void *)TVA, &fi);
	report(fi.vector < 0 && (*pte & D), "SMAP: CPL0 write after STAC allowed, D set");
	clac();
	report(!(read_flags() & X86_EFLAGS_AC), "CLAC clears EFLAGS.AC");
	catch_fault(access_read, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT, TVA + OFF_DATA), &fi, "SMAP: after CLAC, #PF 0x1 again");

	*pte &= ~RW;
	invlpg((void *)TVA);
	set_wp(false);
	stac();
	catch_fault(access_write, (void *)TVA, &fi);
	clac();
	report(fi.vector < 0, "SMAP, CR0.WP=0, AC=1: write to a read-only user page allowed");
	set_wp(true);
	stac();
	catch_fault(access_write, (void *)TVA, &fi);
	clac();
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE, TVA + OFF_DATA), &fi,
		  "SMAP, CR0.WP=1, AC=1: write to a read-only user page #PF 0x3");
	reset_target(US);
	set_cr4_bit(X86_CR4_SMAP, false);
}

/* --- PKU ----------------------------------------------------------------- */

static int try_rdpkru(unsigned long ecx, u32 *val)
{
	u32 a = 0, d = 0;

	asm volatile(ASM_TRY("1f") "rdpkru\n\t1:"
		     : "+a"(a), "+d"(d) : "c"(ecx) : "memory");
	*val = a;
	return exception_vector();
}

static int try_wrpkru(u32 val, unsigned long ecx, unsigned long edx)
{
	asm volatile(ASM_TRY("1f") "wrpkru\n\t1:"
		     : : "a"(val), "c"(ecx), "d"(edx) : "memory");
	return exception_vector();
}

static void wrpkru(u32 val)
{
	if (try_wrpkru(val, 0, 0) >= 0)
		report_info("  WRPKRU faulted");
}

#define AD(k)	(1u << (2 * (k)))
#define WD(k)	(2u << (2 * (k)))

static bool ospke(void)
{
	return cpuid_checked(7, 0).c & (1u << 4);
}

static void test_pku(void)
{
	struct fault_info fi;
	u32 v;

	if (!have_pku) {
		unsigned long cr4 = read_cr4();

		asm volatile(ASM_TRY("1f") "mov %0, %%cr4\n\t1:"
			     : : "r"(cr4 | X86_CR4_PKE) : "memory");
		report(exception_vector() == GP_VECTOR && exception_error_code() == 0,
		       "PKU: CR4.PKE without CPUID.7.0:ECX.PKU: #GP(0)");
		report(try_rdpkru(0, &v) == UD_VECTOR, "PKU: RDPKRU without PKU: #UD");
		return;
	}
	report(try_rdpkru(0, &v) == UD_VECTOR, "PKU: RDPKRU with CR4.PKE=0: #UD");
	report(try_wrpkru(0, 0, 0) == UD_VECTOR, "PKU: WRPKRU with CR4.PKE=0: #UD");
	report(!ospke(), "PKU: CPUID.7.0:ECX.OSPKE = 0 while CR4.PKE=0");
	set_cr4_bit(X86_CR4_PKE, true);
	report(ospke(), "PKU: CPUID.7.0:ECX.OSPKE = 1 after setting CR4.PKE");
	wrpkru(0x12345678 & ~(AD(0) | WD(0)));
	report(try_rdpkru(0, &v) < 0 && v == (0x12345678 & ~(AD(0) | WD(0))),
	       "PKU: WRPKRU/RDPKRU round trip");
	report(try_rdpkru(1, &v) == GP_VECTOR && exception_error_code() == 0,
	       "PKU: RDPKRU with ECX=1: #GP(0)");
	report(try_wrpkru(0, 1, 0) == GP_VECTOR && exception_error_code() == 0,
	       "PKU: WRPKRU with ECX=1: #GP(0)");
	report(try_wrpkru(0, 0, 1) == GP_VECTOR && exception_error_code() == 0,
	       "PKU: WRPKRU with EDX=1: #GP(0)");
	wrpkru(0);

	/* Key 1 on the (user) test page; the kernel's pages keep key 0. */
	reset_target(US | PKEY(1));
	catch_fault(access_read, (void *)TVA, &fi);
	report(fi.vector < 0, "PKU: key 1, PKRU=0: CPL0 read allowed (translation now cached)");
	wrpkru(AD(1));
	catch_fault(access_read, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_PK, TVA + OFF_DATA), &fi,
		  "PKU: AD1 set by WRPKRU, no INVLPG: CPL0 read #PF 0x21");
	run_in_user(access_read, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_USER | PFERR_PK, TVA + OFF_DATA), &fi,
		  "PKU: AD1: CPL3 read #PF 0x25");
	run_in_user(access_write, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK, TVA + OFF_DATA), &fi,
		  "PKU: AD1: CPL3 write #PF 0x27");
	run_in_user(access_fetch, (void *)TVA, &fi);
	report(fi.vector < 0, "PKU: AD1: CPL3 fetch allowed (keys apply to data only)");
	wrpkru(AD(2) | WD(2));
	catch_fault(access_read, (void *)TVA, &fi);
	report(fi.vector < 0, "PKU: AD2/WD2 do not affect key 1");

	wrpkru(WD(1));
	run_in_user(access_read, (void *)TVA, &fi);
	report(fi.vector < 0, "PKU: WD1: CPL3 read allowed");
	run_in_user(access_write, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK, TVA + OFF_DATA), &fi,
		  "PKU: WD1: CPL3 write #PF 0x27");
	catch_fault(access_write, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE | PFERR_PK, TVA + OFF_DATA), &fi,
		  "PKU: WD1, CR0.WP=1: CPL0 write #PF 0x23");
	set_wp(false);
	catch_fault(access_write, (void *)TVA, &fi);
	report(fi.vector < 0, "PKU: WD1, CR0.WP=0: CPL0 write allowed");
	set_wp(true);

	*pte &= ~(RW | A | D);
	invlpg((void *)TVA);
	run_in_user(access_write, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE | PFERR_USER | PFERR_PK, TVA + OFF_DATA) &&
		  !(*pte & (A | D)), &fi,
		  "PKU: WD1 and R/W=0: CPL3 write #PF 0x27 (PK set as well), A/D clear");
	reset_target(US | PKEY(1));

	wrpkru(AD(1) | WD(1));
	reset_target(PKEY(1));
	catch_fault(access_write, (void *)TVA, &fi);
	report(fi.vector < 0, "PKU: key 1 on a supervisor page: PKRU ignored, CPL0 write allowed");
	reset_target(US | PKEY(1));

	set_cr4_bit(X86_CR4_PKE, false);
	invlpg((void *)TVA);
	run_in_user(access_write, (void *)TVA, &fi);
	report(fi.vector < 0, "PKU: CR4.PKE=0: keys ignored, CPL3 write with AD1 in PKRU allowed");
	set_cr4_bit(X86_CR4_PKE, true);
	report(try_rdpkru(0, &v) < 0 && v == (AD(1) | WD(1)), "PKU: PKRU kept while CR4.PKE=0");
	wrpkru(0);
	set_cr4_bit(X86_CR4_PKE, false);
}

/* --- CPL3 with a supervisor-only kernel (last) --------------------------- */

static void user_stac(void *unused)
{
	asm volatile("stac" ::: "memory");
}

static void test_user_side(void)
{
	struct fault_info fi;

	kernel_supervisor_only(true);
	reset_target(US);
	run_in_user(access_read, (void *)TVA, &fi);
	report(fi.vector < 0, "supervisor-only kernel: CPL3 read of a user page and back (int $0x7f)");
	if (have_smep) {
		set_cr4_bit(X86_CR4_SMEP, true);
		run_in_user(access_fetch, (void *)TVA, &fi);
		report(fi.vector < 0, "SMEP: CPL3 fetch from a user page allowed");
		set_cr4_bit(X86_CR4_SMEP, false);
	} else {
		report_skip("SMEP: CPL3 fetch: no SMEP");
	}
	if (have_smap) {
		set_cr4_bit(X86_CR4_SMAP, true);
		run_in_user(user_stac, NULL, &fi);
		report(fi.vector == UD_VECTOR, "SMAP: STAC at CPL3: #UD");
		setup_gdt_copy();
		run_in_user(load_ds, (void *)(unsigned long)(SEL_USER_PAGE + 8 + 3), &fi);
		REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT, TVA_GDT + SEL_USER_PAGE + 8), &fi,
			  "SMAP: CPL3 MOV DS, descriptor on a user page: implicit supervisor access #PF 0x1");
		set_cr4_bit(X86_CR4_SMAP, false);
		restore_gdt();
	} else {
		report_skip("SMAP: STAC at CPL3: no SMAP");
		report_skip("SMAP: CPL3 implicit access: no SMAP");
	}
	setup_gdt_copy();
	*gdt_pte[1] &= ~US;
	invlpg((void *)(TVA_GDT + PAGE_SIZE));
	run_in_user(load_ds, (void *)(unsigned long)(SEL_USER_PAGE + 8 + 3), &fi);
	report(fi.vector < 0, "CPL3 MOV DS, descriptor on a supervisor page: allowed (implicit access)");
	*gdt_pte[1] &= ~P;
	invlpg((void *)(TVA_GDT + PAGE_SIZE));
	run_in_user(load_ds, (void *)(unsigned long)(SEL_USER_PAGE + 8 + 3), &fi);
	REPORT_FI(fault_is_pf(&fi, 0, TVA_GDT + SEL_USER_PAGE + 8), &fi,
		  "CPL3 MOV DS, descriptor page not present: #PF 0x0 (U/S=0: supervisor access)");
	restore_gdt();
	kernel_supervisor_only(false);
}

int main(int argc, char **argv)
{
	struct cpuid c7 = cpuid_checked(7, 0);

	have_smep = c7.b & (1u << 7);
	have_smap = c7.b & (1u << 20);
	have_pku = c7.c & (1u << 3);
	have_nx = cpuid_checked(0x80000001, 0).d & (1u << 20);
	root = current_root();
	pte = pt_entry(root, 4, TVA, 1, P | RW | US);
	pde = pt_entry(root, 4, TVA, 2, 0);
	pde_2m = pt_entry(root, 4, TVA_2M, 2, P | RW | US);
	*pde_2m = PHYS_2M | P | RW | US | PS;
	if (have_nx)
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NX);

	report_prefix_push("smep-smap-pku");
	kernel_supervisor_only(true);
	test_smep();
	test_smap();
	kernel_supervisor_only(false);
	test_pku();
	kernel_supervisor_only(true);
	test_smap_stac();
	kernel_supervisor_only(false);
	test_user_side();
	report_prefix_pop();
	return report_summary();
}
