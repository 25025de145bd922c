/*
 * pae-32: PAE paging outside IA-32e mode (CR4.PAE=1, EFER.LME=0), from the
 * -m32 library. SDM Vol. 3 4.4:
 *   - the four PDPTEs are loaded into registers by MOV to CR3, by MOV to
 *     CR0 that sets PG or changes CD/NW, and by MOV to CR4 that changes
 *     PAE, PGE, PSE or SMEP, while PAE paging is (or becomes) active; after
 *     that the PDPT in memory is not consulted (4.4.1), so editing a PDPTE
 *     without reloading CR3 keeps the old translation even after INVLPG;
 *   - a loaded PDPTE with P=1 and a reserved bit set (bits 2:1, 8:5,
 *     63:MAXPHYADDR) makes that MOV #GP(0) (4.4.1, Vol. 2 MOV CR); the
 *     register keeps its old value;
 *   - MOV to CR4 that changes none of those bits (e.g. SMAP, TSD) does not
 *     load PDPTEs;
 *   - PDEs/PTEs: bits 62:MAXPHYADDR reserved (unlike 4-level paging, where
 *     62:52 are ignored), XD reserved without EFER.NXE, 20:13 of a 2 MiB PDE;
 *   - the I/D error-code bit with EFER.NXE=1.
 *
 * Layout: PDPT at a 32-byte (not 4 KiB) aligned address. PDPTE 0 -> 0-32 MiB
 * with supervisor 2 MiB pages; PDPTE 1 -> test tables (0x40000000: 4 KiB
 * pages, 0x40200000: a 2 MiB page at 16 MiB); PDPTE 2 -> the user alias of
 * 0-32 MiB at 0x80000000 for run_in_user().
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/access.h"
#include "x86/fault-check.h"
#include "x86/processor.h"
#include "x86/safe.h"
#include "x86/vm.h"

#define P	0x001ull
#define RW	0x002ull
#define US	0x004ull
#define A	0x020ull
#define D	0x040ull
#define PS	0x080ull
#define XD	(1ull << 63)
#define BIT(n)	(1ull << (n))

#define ALIAS	0x80000000ul
#define TVA	0x40000000ul
#define TVA_2M	0x40200000ul
#define PHYS_2M	0x01000000ul
#define OFF_DATA ACCESS_DATA_OFFSET

static u64 pdpt_page[512] __aligned(4096);
static u64 *const pdpt = &pdpt_page[4];		/* 32-byte aligned, not 4 KiB */
static u64 pd0[512] __aligned(4096), pd1[512] __aligned(4096);
static u64 pd1b[512] __aligned(4096), pd2[512] __aligned(4096);
static u64 pt1[512] __aligned(4096), pt1b[512] __aligned(4096);
static u8 target[2][4096] __aligned(4096);
static unsigned maxphy;
static bool have_nx, have_smep, have_smap, have_pge;

static volatile int tva_byte;

static void read_tva_fn(void *unused)
{
	tva_byte = *(volatile u8 *)(TVA + OFF_DATA);
}

/* The byte TVA maps to, or -1 if reading it faults. */
static int read_tva(void)
{
	struct fault_info fi;

	if (catch_fault(read_tva_fn, NULL, &fi)) {
		report_info("  reading TVA: vector %d error code %#lx", fi.vector, fi.error_code);
		return -1;
	}
	return tva_byte;
}

static void reset_tables(void)
{
	pdpt[0] = (unsigned long)pd0 | P;
	pdpt[1] = (unsigned long)pd1 | P;
	pdpt[2] = (unsigned long)pd2 | P;
	pdpt[3] = 0;
	pd1[0] = (unsigned long)pt1 | P | RW | US;
	pd1[1] = PHYS_2M | P | RW | US | PS;
	pt1[0] = (unsigned long)target[0] | P | RW | US;
	pt1[1] = (unsigned long)target[1] | P | RW | US;
	pd1b[0] = (unsigned long)pt1b | P | RW | US;
	pt1b[0] = (unsigned long)target[1] | P | RW | US;
	target[0][OFF_DATA] = 0x11;
	target[1][OFF_DATA] = 0x22;
	target[0][0] = 0xc3;
	target[1][0] = 0xc3;
	write_cr3((unsigned long)pdpt);
}

static void setup(void)
{
	for (int i = 0; i < 16; i++) {
		pd0[i] = ((u64)i << 21) | P | RW | PS;		/* supervisor */
		pd2[i] = ((u64)i << 21) | P | RW | US | PS;	/* user alias */
	}
	reset_tables();
	write_cr4(read_cr4() | X86_CR4_PAE);
	write_cr0(read_cr0() | X86_CR0_PG | X86_CR0_WP);
	user_alias_offset = ALIAS;
}

static void test_basics(void)
{
	struct fault_info fi;

	report((read_cr0() & X86_CR0_PG) && (read_cr4() & X86_CR4_PAE),
	       "PAE paging on, PDPT 32-byte aligned");
	report(read_tva() == 0x11, "4 KiB page through PDPTE 1 reads target 0");
	pt1[0] &= ~(A | D);
	invlpg((void *)TVA);
	catch_fault(access_write, (void *)TVA, &fi);
	report(fi.vector < 0 && (pt1[0] & (A | D)) == (A | D) && (pd1[0] & A),
	       "write sets A and D in the PTE, A in the PDE");
	write_cr3((unsigned long)pdpt | 0x18);
	report(read_tva() == ACCESS_WRITE_VALUE, "CR3 bits 4:3 (PWT, PCD) do not move the PDPT");
	target[0][OFF_DATA] = 0x11;
	write_cr3((unsigned long)pdpt);

	report(*(volatile u32 *)(TVA_2M + 0x1234) == *(volatile u32 *)(PHYS_2M + 0x1234) &&
	       (pd1[1] & A), "2 MiB page maps physical 16 MiB, A set");
	pd1[1] |= BIT(13);
	invlpg((void *)TVA_2M);
	catch_fault(access_read, (void *)TVA_2M, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, TVA_2M + OFF_DATA), &fi,
		  "2 MiB PDE bit 13: reserved, #PF 0x9");
	pd1[1] &= ~BIT(13);
	invlpg((void *)TVA_2M);
}

static void test_reserved_entries(void)
{
	static const struct { int bit; const char *name; } bits[] = {
		{ 52, "bit 52" }, { 62, "bit 62" }, { 51, "bit 51" },
	};
	struct fault_info fi;
	char name[64];

	for (unsigned i = 0; i < ARRAY_SIZE(bits); i++) {
		pt1[0] |= BIT(bits[i].bit);
		invlpg((void *)TVA);
		catch_fault(access_read, (void *)TVA, &fi);
		snprintf(name, sizeof(name), "PTE %s: reserved in PAE paging, #PF 0x9", bits[i].name);
		REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, TVA + OFF_DATA), &fi, "%s", name);
		pt1[0] &= ~BIT(bits[i].bit);
		pd1[0] |= BIT(bits[i].bit);
		invlpg((void *)TVA);
		catch_fault(access_read, (void *)TVA, &fi);
		snprintf(name, sizeof(name), "PDE %s: reserved in PAE paging, #PF 0x9", bits[i].name);
		REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, TVA + OFF_DATA), &fi, "%s", name);
		pd1[0] &= ~BIT(bits[i].bit);
		invlpg((void *)TVA);
	}
	if (maxphy < 52) {
		pt1[0] |= BIT(maxphy);
		invlpg((void *)TVA);
		catch_fault(access_read, (void *)TVA, &fi);
		REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, TVA + OFF_DATA), &fi,
			  "PTE bit MAXPHYADDR: #PF 0x9");
		pt1[0] &= ~BIT(maxphy);
	} else {
		report_skip("PTE bit MAXPHYADDR: MAXPHYADDR is 52");
	}
	pt1[0] |= BIT(9) | BIT(10) | BIT(11);
	invlpg((void *)TVA);
	catch_fault(access_read, (void *)TVA, &fi);
	report(fi.vector < 0, "PTE bits 11:9 (ignored): no fault");
	pt1[0] &= ~(BIT(9) | BIT(10) | BIT(11));
	invlpg((void *)TVA);
}

static void test_nx(void)
{
	struct fault_info fi;

	if (!have_nx) {
		pt1[0] |= XD;
		invlpg((void *)TVA);
		catch_fault(access_read, (void *)TVA, &fi);
		REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, TVA + OFF_DATA), &fi,
			  "PTE.XD without NX support: reserved, #PF 0x9");
		pt1[0] &= ~XD;
		report_skip("EFER.NXE=1: no NX");
		report_skip("EFER.NXE=1 fetch not present: no NX");
		return;
	}
	pt1[0] |= XD;
	invlpg((void *)TVA);
	catch_fault(access_read, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, TVA + OFF_DATA), &fi,
		  "PTE.XD with EFER.NXE=0: reserved, #PF 0x9");
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NX);
	invlpg((void *)TVA);
	catch_fault(access_fetch, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_FETCH, TVA) && fi.ip == TVA, &fi,
		  "PTE.XD with EFER.NXE=1: fetch #PF 0x11, CR2 = EIP = target");
	pt1[0] &= ~(XD | P);
	invlpg((void *)TVA);
	catch_fault(access_fetch, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_FETCH, TVA), &fi,
		  "EFER.NXE=1: fetch from a not-present page #PF 0x10 (I/D with PAE)");
	pt1[0] |= P;
	invlpg((void *)TVA);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_NX);
}

static void test_pdpte_registers(void)
{
	struct fault_info fi;

	reset_tables();
	report(read_tva() == 0x11, "PDPTE 1 -> PD with target 0");
	pdpt[1] = (unsigned long)pd1b | P;
	invlpg((void *)TVA);
	report(read_tva() == 0x11,
	       "PDPTE 1 edited in memory, INVLPG, no CR3 load: the PDPTE register still maps target 0");
	write_cr3(read_cr3());
	report(read_tva() == 0x22, "after MOV CR3 the new PDPTE maps target 1");

	pdpt[1] = 0;
	invlpg((void *)TVA);
	report(read_tva() == 0x22,
	       "PDPTE 1 cleared in memory, INVLPG: the loaded PDPTE still translates");
	write_cr3(read_cr3());
	catch_fault(access_read, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, 0, TVA + OFF_DATA), &fi,
		  "after MOV CR3 with PDPTE 1 not present: #PF 0x0");
	reset_tables();
}

static void test_reserved_pdptes(void)
{
	static const struct { u64 bits; const char *name; } cases[] = {
		{ BIT(1), "bit 1 (R/W position)" }, { BIT(2), "bit 2 (U/S position)" },
		{ BIT(5), "bit 5" }, { BIT(8), "bit 8" }, { XD, "bit 63 (XD position)" },
		{ BIT(52), "bit 52" }, { BIT(62), "bit 62" },
	};
	unsigned long cr3 = read_cr3();
	char name[96];

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		pdpt[1] = (unsigned long)pd1b | P | cases[i].bits;
		snprintf(name, sizeof(name), "MOV CR3 with PDPTE 1 %s set: #GP(0), CR3 and PDPTEs kept",
			 cases[i].name);
		int v = write_cr3_safe(cr3);
		int t = read_tva();

		if (!report(is_gp0(v) && read_cr3() == cr3 && t == 0x11, "%s", name))
			report_info("  MOV CR3: vector %d, CR3 %#lx, TVA reads %d", v, read_cr3(), t);
		pdpt[1] = (unsigned long)pd1 | P;
		write_cr3(cr3);
	}
	if (maxphy < 52) {
		pdpt[1] = (unsigned long)pd1b | P | BIT(maxphy);
		report(is_gp0(write_cr3_safe(cr3)) && read_cr3() == cr3,
		       "MOV CR3 with PDPTE 1 bit MAXPHYADDR set: #GP(0)");
	} else {
		report_skip("MOV CR3 with PDPTE 1 bit MAXPHYADDR: MAXPHYADDR is 52");
	}
	pdpt[1] = (unsigned long)pd1 | P | BIT(3) | BIT(4) | BIT(9) | BIT(10) | BIT(11);
	report(write_cr3_safe(cr3) < 0, "PDPTE bits 4:3 (PWT, PCD) and 11:9: not reserved, no #GP");
	pdpt[1] = (unsigned long)pd1 | P;
	pdpt[3] = BIT(1) | BIT(5) | BIT(52) | XD;
	report(write_cr3_safe(cr3) < 0, "reserved bits in a PDPTE with P=0: not checked, no #GP");
	pdpt[3] = 0;
	write_cr3(cr3);
}

static void test_pdpte_load_points(void)
{
	unsigned long cr0 = read_cr0(), cr4 = read_cr4(), cr3 = read_cr3();

	/* From here on PDPTE 1 holds a reserved bit in memory. */
	pdpt[1] = (unsigned long)pd1b | P | BIT(5);

	write_cr0(cr0 & ~X86_CR0_PG);
	report(is_gp0(write_cr0_safe(cr0)) && !(read_cr0() & X86_CR0_PG),
	       "MOV CR0 setting PG with a reserved PDPTE bit: #GP(0), paging stays off");
	pdpt[1] = (unsigned long)pd1 | P;
	report(write_cr0_safe(cr0) < 0 && read_tva() == 0x11, "MOV CR0 setting PG with valid PDPTEs");
	pdpt[1] = (unsigned long)pd1b | P | BIT(5);

	report(is_gp0(write_cr0_safe(cr0 | X86_CR0_CD)) && !(read_cr0() & X86_CR0_CD),
	       "MOV CR0 setting CD (PAE paging on) loads PDPTEs: #GP(0)");
	report(write_cr0_safe(cr0 ^ X86_CR0_WP) < 0 && read_tva() == 0x11,
	       "MOV CR0 toggling WP does not load PDPTEs: no #GP, old translation");
	write_cr0(cr0);

	if (have_pge)
		report(is_gp0(write_cr4_safe(cr4 | X86_CR4_PGE)) && read_cr4() == cr4,
		       "MOV CR4 setting PGE loads PDPTEs: #GP(0), CR4 kept");
	else
		report_skip("MOV CR4 setting PGE: no PGE");
	report(is_gp0(write_cr4_safe(cr4 ^ X86_CR4_PSE)) && read_cr4() == cr4,
	       "MOV CR4 toggling PSE loads PDPTEs: #GP(0), CR4 kept");
	if (have_smep)
		report(is_gp0(write_cr4_safe(cr4 | X86_CR4_SMEP)) && read_cr4() == cr4,
		       "MOV CR4 setting SMEP loads PDPTEs: #GP(0), CR4 kept");
	else
		report_skip("MOV CR4 setting SMEP: no SMEP");
	if (have_smap) {
		/* TVA is a user page: with SMAP on, a supervisor read of it faults, so read it after. */
		int gp = write_cr4_safe(cr4 | X86_CR4_SMAP);

		write_cr4(cr4);
		report(gp < 0 && read_tva() == 0x11, "MOV CR4 setting SMAP does not load PDPTEs: no #GP");
	} else {
		report_skip("MOV CR4 setting SMAP: no SMAP");
	}
	report(write_cr4_safe(cr4 | X86_CR4_TSD) < 0 && read_tva() == 0x11,
	       "MOV CR4 setting TSD does not load PDPTEs: no #GP");
	write_cr4(cr4);
	report(is_gp0(write_cr3_safe(cr3)), "MOV CR3 still #GPs with the reserved bit");
	pdpt[1] = (unsigned long)pd1 | P;
	write_cr3(cr3);
	report(read_tva() == 0x11, "valid PDPTE again after MOV CR3");
}

/* CPL3 accesses, last: the user code runs from the alias with a supervisor kernel. */
static void test_user(void)
{
	struct fault_info fi;

	run_in_user(access_write, (void *)TVA, &fi);
	report(fi.vector < 0 && target[0][OFF_DATA] == ACCESS_WRITE_VALUE, "CPL3 write to a user page");
	pt1[0] &= ~US;
	invlpg((void *)TVA);
	run_in_user(access_read, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_USER, TVA + OFF_DATA), &fi,
		  "CPL3 read of a supervisor page #PF 0x5");
	pt1[0] |= US;
	pd1[0] &= ~RW;
	invlpg((void *)TVA);
	run_in_user(access_write, (void *)TVA, &fi);
	REPORT_FI(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, TVA + OFF_DATA), &fi,
		  "CPL3 write below a read-only PDE #PF 0x7");
	pd1[0] |= RW;
	invlpg((void *)TVA);
}

int main(int argc, char **argv)
{
	struct cpuid c7 = cpuid_checked(7, 0);

	maxphy = cpuid_checked(0x80000008, 0).a & 0xff;
	if (!maxphy)
		maxphy = 36;
	have_nx = cpuid_checked(0x80000001, 0).d & (1u << 20);
	have_pge = cpuid(1).d & (1u << 13);
	have_smep = c7.b & (1u << 7);
	have_smap = c7.b & (1u << 20);
	report_info("MAXPHYADDR %u NX %d PGE %d SMEP %d SMAP %d", maxphy, have_nx, have_pge,
		    have_smep, have_smap);
	setup();
	report_prefix_push("PAE");
	test_basics();
	test_reserved_entries();
	test_nx();
	test_pdpte_registers();
	test_reserved_pdptes();
	test_pdpte_load_points();
	test_user();
	report_prefix_pop();
	return report_summary();
}
