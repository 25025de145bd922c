/*
 * paging: 4-level paging permissions, exactly as the SDM (Vol. 3 chapter
 * 4) has them: U/S and R/W accumulated over every level, CR0.WP, XD with
 * EFER.NXE (and XD as a reserved bit without it), the page-fault error
 * code (P W/R U/S RSVD I/D) and CR2, A set on every entry of a successful
 * walk and D on the leaf of a successful write (never on a faulting
 * access), 2 MiB and 1 GiB pages, accesses that span two pages, and
 * non-canonical addresses.
 *
 * Test mappings live at TVA (PML4 slot 0x24), in tables of their own
 * built with pt_entry(), so every entry on the path can be edited. The
 * target page is a page of the image, reachable through the identity map
 * for checks. A/D of non-leaf entries after a FAULTING access are not
 * checked: the SDM lets the processor set A in the entries it has used
 * (kvm-unit-tests' access.c ignores them too); only the leaf is.
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
#define NX	PT_NX_MASK

#define TVA		0x0000123400000000ul	/* 4 KiB test pages */
#define TVA_2M		0x0000123440000000ul	/* 2 MiB page */
#define TVA_1G		0x0000123500000000ul	/* 1 GiB page (own PDPTE) */
#define PHYS_2M		0x01000000ul		/* 16 MiB: free RAM, 2 MiB aligned */

/* Test pages (x86/access.h): a 'ret' at offset 0, reads and writes at OFF_DATA. */
#define OFF_DATA	ACCESS_DATA_OFFSET

static const char *const kind_name[] = { "read", "write", "fetch" };

static u8 target[2][PAGE_SIZE] __aligned(PAGE_SIZE);
static pteval_t *root;
static pteval_t *pml4e, *pdpte, *pde, *pte, *pte2;

/* --- control bits ------------------------------------------------------ */

static void set_wp(bool on)
{
	unsigned long cr0 = read_cr0();

	if (!!(cr0 & X86_CR0_WP) != on)
		write_cr0(on ? cr0 | X86_CR0_WP : cr0 & ~X86_CR0_WP);
}

static bool nx_supported;

static void set_nxe(bool on)
{
	u64 efer = rdmsr(MSR_EFER);

	if (!!(efer & EFER_NX) != on)
		wrmsr(MSR_EFER, on ? efer | EFER_NX : efer & ~EFER_NX);
}

/* --- setup --------------------------------------------------------------- */

static void init_target(void)
{
	for (int i = 0; i < 2; i++) {
		memset(target[i], 0, PAGE_SIZE);
		target[i][0] = 0xc3;	/* ret */
	}
}

static void reset_mapping(void)
{
	*pml4e = (*pml4e & PT_ADDR_MASK) | P | RW | US;
	*pdpte = (*pdpte & PT_ADDR_MASK) | P | RW | US;
	*pde = (*pde & PT_ADDR_MASK) | P | RW | US;
	*pte = (unsigned long)target[0] | P | RW | US;
	*pte2 = (unsigned long)target[1] | P | RW | US;
	invlpg((void *)TVA);
	invlpg((void *)(TVA + PAGE_SIZE));
}

static void setup(void)
{
	root = current_root();
	pte = pt_entry(root, 4, TVA, 1, P | RW | US);
	pte2 = pt_entry(root, 4, TVA + PAGE_SIZE, 1, P | RW | US);
	pde = pt_entry(root, 4, TVA, 2, 0);
	pdpte = pt_entry(root, 4, TVA, 3, 0);
	pml4e = pt_entry(root, 4, TVA, 4, 0);
	init_target();
	reset_mapping();
}

/* --- the permission matrix ---------------------------------------------- */

/*
 * Every combination of PDE {RW, US, XD} x PTE {P, RW, US, XD} for one
 * (CR0.WP, EFER.NXE, CPL, access kind), checked against the SDM's rules
 * (4.6 access rights, 4.7 error code, 4.8 A/D):
 *   - XD set with EFER.NXE=0 is a reserved bit: P|RSVD, at the level it
 *     is found (the PDE's is found first);
 *   - PTE.P=0: P=0 in the error code;
 *   - user access needs US at every level; a write needs RW at every
 *     level if CPL3 or CR0.WP=1; a fetch needs XD clear at every level
 *     if EFER.NXE=1 (supervisor fetches from user pages are allowed
 *     without SMEP);
 *   - the I/D bit is set for fetches only when EFER.NXE=1 (no SMEP here);
 *   - success sets A in every entry and D in the PTE for a write; a fault
 *     leaves the PTE's A and D clear.
 */
struct combo {
	bool pde_rw, pde_us, pde_nx, pte_p, pte_rw, pte_us, pte_nx;
};

static void combo_of(unsigned n, struct combo *c)
{
	c->pde_rw = n & 1;
	c->pde_us = n & 2;
	c->pde_nx = n & 4;
	c->pte_p = n & 8;
	c->pte_rw = n & 16;
	c->pte_us = n & 32;
	c->pte_nx = n & 64;
}

/* Expected error code, or -1 for no fault. */
static long expect(const struct combo *c, enum access_kind kind, bool user, bool wp, bool nxe)
{
	unsigned long ec = (kind == ACCESS_WRITE ? PFERR_WRITE : 0) | (user ? PFERR_USER : 0) |
			   (kind == ACCESS_FETCH && nxe ? PFERR_FETCH : 0);
	bool us, rw, nx, fault;

	if (c->pde_nx && !nxe)
		return ec | PFERR_PRESENT | PFERR_RSVD;
	if (!c->pte_p)
		return ec;
	if (c->pte_nx && !nxe)
		return ec | PFERR_PRESENT | PFERR_RSVD;
	us = c->pde_us && c->pte_us;
	rw = c->pde_rw && c->pte_rw;
	nx = c->pde_nx || c->pte_nx;
	fault = (user && !us) || (kind == ACCESS_WRITE && !rw && (user || wp)) ||
		(kind == ACCESS_FETCH && nxe && nx);
	return fault ? (long)(ec | PFERR_PRESENT) : -1;
}

static void matrix_row(bool wp, bool nxe, bool user, enum access_kind kind)
{
	int bad = 0, bad_rsvd = 0, n_rsvd = 0;

	set_wp(wp);
	set_nxe(nxe);
	for (unsigned n = 0; n < 128; n++) {
		struct combo c;
		struct fault_info fi;
		long want;
		pteval_t pte_after, pde_after, pdpte_after, pml4e_after;
		bool ok;

		combo_of(n, &c);
		reset_mapping();
		*pde = (*pde & PT_ADDR_MASK) | P | (c.pde_rw ? RW : 0) |
		       (c.pde_us ? US : 0) | (c.pde_nx ? NX : 0);
		*pte = (unsigned long)target[0] | (c.pte_p ? P : 0) |
		       (c.pte_rw ? RW : 0) | (c.pte_us ? US : 0) | (c.pte_nx ? NX : 0);
		invlpg((void *)TVA);
		want = expect(&c, kind, user, wp, nxe);
		access_caught(kind, TVA, user, &fi);
		pte_after = *pte;
		pde_after = *pde;
		pdpte_after = *pdpte;
		pml4e_after = *pml4e;
		if (want < 0)
			ok = fi.vector < 0 && (pte_after & A) &&
			     !!(pte_after & D) == (kind == ACCESS_WRITE) &&
			     (pde_after & A) && (pdpte_after & A) && (pml4e_after & A);
		else
			ok = fault_is_pf(&fi, want, access_addr(kind, TVA)) &&
			     !(pte_after & (A | D));
		if (want >= 0 && (want & PFERR_RSVD))
			n_rsvd++;
		if (!ok && want >= 0 && (want & PFERR_RSVD))
			bad_rsvd++;
		if (!ok && bad++ < 3) {
			report_info("  pde rw%d us%d nx%d pte p%d rw%d us%d nx%d: expected %s %#lx",
				    c.pde_rw, c.pde_us, c.pde_nx, c.pte_p, c.pte_rw,
				    c.pte_us, c.pte_nx, want < 0 ? "no fault" : "#PF",
				    want < 0 ? 0ul : (unsigned long)want);
			report_fault(&fi);
			report_info("  pte %#llx pde %#llx pdpte %#llx pml4e %#llx after",
				    (unsigned long long)pte_after, (unsigned long long)pde_after,
				    (unsigned long long)pdpte_after, (unsigned long long)pml4e_after);
		}
	}
	/* The combinations where XD is a reserved bit get a line of their own. */
	report(bad - bad_rsvd == 0, "matrix: CR0.WP=%d EFER.NXE=%d CPL%d %s: %d PDE x PTE combinations",
	       wp, nxe, user ? 3 : 0, kind_name[kind], 128 - n_rsvd);
	if (n_rsvd)
		report(bad_rsvd == 0, "matrix: CR0.WP=%d EFER.NXE=%d CPL%d %s: %d combinations with XD set (reserved: P|RSVD)",
		       wp, nxe, user ? 3 : 0, kind_name[kind], n_rsvd);
	reset_mapping();
}

static void test_matrix(void)
{
	for (int wp = 0; wp < 2; wp++)
		for (int nxe = 0; nxe < 2; nxe++) {
			if (nxe && !nx_supported)
				continue;
			for (int user = 0; user < 2; user++)
				for (int k = ACCESS_READ; k <= ACCESS_FETCH; k++)
					matrix_row(wp, nxe, user, k);
		}
	set_wp(true);
	set_nxe(nx_supported);
}

/* --- individual cases --------------------------------------------------- */

static void test_accessed_dirty(void)
{
	struct fault_info fi;

	reset_mapping();
	access_caught(ACCESS_READ, TVA, false, &fi);
	report(fi.vector < 0 && (*pml4e & A) && (*pdpte & A) && (*pde & A) &&
	       (*pte & A) && !(*pte & D),
	       "read sets A in PML4E, PDPTE, PDE and PTE, not D");

	access_caught(ACCESS_WRITE, TVA, false, &fi);
	report(fi.vector < 0 && (*pte & D),
	       "write after a read (translation cached without D) sets D in memory");

	*pte &= ~(A | D);
	invlpg((void *)TVA);
	access_caught(ACCESS_WRITE, TVA, true, &fi);
	report(fi.vector < 0 && (*pte & (A | D)) == (A | D),
	       "CPL3 write sets A and D again after software cleared them and INVLPG");

	*pte = (*pte & ~(A | D)) & ~RW;
	invlpg((void *)TVA);
	access_caught(ACCESS_WRITE, TVA, true, &fi);
	report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, TVA + OFF_DATA) &&
	       !(*pte & (A | D)),
	       "CPL3 write to a read-only page: #PF 0x7, CR2, A and D stay clear");
	reset_mapping();
}

static void test_not_present_levels(void)
{
	static const char *const names[] = { "", "PTE", "PDE", "PDPTE", "PML4E" };
	pteval_t *entries[] = { NULL, pte, pde, pdpte, pml4e };

	for (int level = 4; level >= 1; level--) {
		struct fault_info fi;

		reset_mapping();
		*entries[level] &= ~P;
		invlpg((void *)TVA);
		access_caught(ACCESS_READ, TVA, false, &fi);
		report(fault_is_pf(&fi, 0, TVA + OFF_DATA), "%s.P=0: supervisor read #PF 0x0 with CR2",
		       names[level]);
		access_caught(ACCESS_WRITE, TVA, true, &fi);
		report(fault_is_pf(&fi, PFERR_WRITE | PFERR_USER, TVA + OFF_DATA),
		       "%s.P=0: user write #PF 0x6 with CR2", names[level]);
		if (nx_supported) {
			access_caught(ACCESS_FETCH, TVA, false, &fi);
			report(fault_is_pf(&fi, PFERR_FETCH, TVA) && fi.ip == TVA,
			       "%s.P=0: fetch #PF 0x10 (EFER.NXE=1), CR2 = RIP = target",
			       names[level]);
		}
	}
	reset_mapping();
}

static void test_upper_level_rights(void)
{
	struct fault_info fi;

	reset_mapping();
	*pml4e &= ~US;
	invlpg((void *)TVA);
	access_caught(ACCESS_READ, TVA, true, &fi);
	report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_USER, TVA + OFF_DATA),
	       "PML4E.US=0: CPL3 read #PF 0x5");
	access_caught(ACCESS_READ, TVA, false, &fi);
	report(fi.vector < 0, "PML4E.US=0: CPL0 read allowed");

	reset_mapping();
	*pdpte &= ~RW;
	invlpg((void *)TVA);
	set_wp(true);
	access_caught(ACCESS_WRITE, TVA, false, &fi);
	report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE, TVA + OFF_DATA),
	       "PDPTE.RW=0, CR0.WP=1: CPL0 write #PF 0x3");
	set_wp(false);
	access_caught(ACCESS_WRITE, TVA, false, &fi);
	report(fi.vector < 0 && (*pte & D), "PDPTE.RW=0, CR0.WP=0: CPL0 write allowed, sets D");
	access_caught(ACCESS_WRITE, TVA, true, &fi);
	report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE | PFERR_USER, TVA + OFF_DATA),
	       "PDPTE.RW=0, CR0.WP=0: CPL3 write #PF 0x7");
	set_wp(true);

	if (nx_supported) {
		reset_mapping();
		*pml4e |= NX;
		invlpg((void *)TVA);
		access_caught(ACCESS_FETCH, TVA, false, &fi);
		report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_FETCH, TVA) && fi.ip == TVA,
		       "PML4E.XD=1, EFER.NXE=1: fetch #PF 0x11, CR2 = RIP = target");
		access_caught(ACCESS_READ, TVA, true, &fi);
		report(fi.vector < 0, "PML4E.XD=1: CPL3 read allowed");
		/* WRMSR is not a TLB invalidation (SDM 4.10.4.1): INVLPG. */
		set_nxe(false);
		invlpg((void *)TVA);
		access_caught(ACCESS_READ, TVA, false, &fi);
		if (!report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_RSVD, TVA + OFF_DATA),
			    "PML4E.XD=1, EFER.NXE=0: XD is reserved, read #PF 0x9"))
			report_fault(&fi);
		set_nxe(true);
	}
	reset_mapping();
}

static void read8_at(void *p)
{
	(void)*(volatile u64 *)p;
}

static void read4_at(void *p)
{
	(void)*(volatile u32 *)p;
}

static void write4_at(void *p)
{
	*(volatile u32 *)p = 0x11223344;
}

static void test_split_accesses(void)
{
	struct fault_info fi;

	reset_mapping();
	*pte2 &= ~P;
	invlpg((void *)(TVA + PAGE_SIZE));
	catch_fault(read8_at, (void *)(TVA + PAGE_SIZE - 4), &fi);
	report(fault_is_pf(&fi, 0, TVA + PAGE_SIZE),
	       "8-byte read across into a not-present page: #PF 0x0, CR2 = start of that page");

	catch_fault(read4_at, (void *)(TVA + PAGE_SIZE - 1), &fi);
	if (!report(fault_is_pf(&fi, 0, TVA + PAGE_SIZE),
		    "4-byte read at page end - 1 into a not-present page: CR2 = start of that page"))
		report_fault(&fi);

	reset_mapping();
	*pte &= ~P;
	invlpg((void *)TVA);
	catch_fault(read8_at, (void *)(TVA + PAGE_SIZE - 4), &fi);
	report(fault_is_pf(&fi, 0, TVA + PAGE_SIZE - 4),
	       "8-byte read from a not-present page into a present one: CR2 = the address");

	reset_mapping();
	*pte2 &= ~RW;
	invlpg((void *)(TVA + PAGE_SIZE));
	catch_fault(write4_at, (void *)(TVA + PAGE_SIZE - 2), &fi);
	if (!report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE, TVA + PAGE_SIZE) && !(*pte2 & D),
		    "4-byte write across into a read-only page (WP=1): #PF 0x3, CR2 = page start"))
		report_fault(&fi);
	reset_mapping();
}

static void test_2m_page(void)
{
	pteval_t *pde2 = pt_entry(root, 4, TVA_2M, 2, P | RW | US);
	volatile u32 *phys = (volatile u32 *)(PHYS_2M + 0x12344);
	struct fault_info fi;
	u32 v;

	*phys = 0xfeedf00d;
	*pde2 = PHYS_2M | P | RW | US | PS;
	invlpg((void *)TVA_2M);
	v = *(volatile u32 *)(TVA_2M + 0x12344);
	report(v == 0xfeedf00d && (*pde2 & A) && !(*pde2 & D),
	       "2 MiB page: read at offset 0x12344 reaches the page, sets A, not D");
	*(volatile u32 *)(TVA_2M + 0x1ffffc) = 0x12345678;
	report(*(volatile u32 *)(PHYS_2M + 0x1ffffc) == 0x12345678 && (*pde2 & D),
	       "2 MiB page: write at offset 0x1ffffc lands there and sets D in the PDE");

	*pde2 &= ~(A | D | RW);
	invlpg((void *)(TVA_2M + 0x1ff000));
	access_caught(ACCESS_WRITE, TVA_2M + 0x100000, false, &fi);
	report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_WRITE, TVA_2M + 0x100000 + OFF_DATA) &&
	       !(*pde2 & (A | D)),
	       "2 MiB page, RW=0 (INVLPG of another 4 KiB of it): write #PF 0x3, A/D clear");

	*pde2 = PHYS_2M | P | RW | PS;
	invlpg((void *)TVA_2M);
	access_caught(ACCESS_READ, TVA_2M, true, &fi);
	report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_USER, TVA_2M + OFF_DATA),
	       "2 MiB page, US=0: CPL3 read #PF 0x5");
	*pde2 = 0;
	invlpg((void *)TVA_2M);
}

static u32 marker_1g = 0xabad1dea;

static void test_1g_page(void)
{
	pteval_t *pdpte1g;
	struct fault_info fi;
	unsigned long off = (unsigned long)&marker_1g;
	u32 v;

	if (!(cpuid_checked(0x80000001, 0).d & (1u << 26))) {
		report_skip("1 GiB pages: CPUID.80000001H:EDX.Page1GB = 0");
		report_skip("1 GiB page: write");
		report_skip("1 GiB page: not user");
		return;
	}
	pdpte1g = pt_entry(root, 4, TVA_1G, 3, P | RW | US);
	*pdpte1g = 0 | P | RW | US | PS;	/* physical 0-1 GiB */
	invlpg((void *)TVA_1G);
	v = *(volatile u32 *)(TVA_1G + off);
	report(v == 0xabad1dea && (*pdpte1g & A) && !(*pdpte1g & D),
	       "1 GiB page: read reaches the identity-mapped variable, sets A, not D");
	*(volatile u32 *)(TVA_1G + off) = 0x600d600d;
	report(marker_1g == 0x600d600d && (*pdpte1g & D),
	       "1 GiB page: write lands in physical memory and sets D in the PDPTE");
	*pdpte1g = P | RW | PS;
	invlpg((void *)(TVA_1G + 0x3ffff000));
	access_caught(ACCESS_READ, TVA_1G + (unsigned long)target[0], true, &fi);
	report(fault_is_pf(&fi, PFERR_PRESENT | PFERR_USER, TVA_1G + (unsigned long)target[0] + OFF_DATA),
	       "1 GiB page, US=0 (INVLPG of its last 4 KiB): CPL3 read #PF 0x5");
	*pdpte1g = 0;
	invlpg((void *)TVA_1G);
}

static void test_canonical(void)
{
	unsigned long cr2_before, v;

	write_cr2(0x1234);
	cr2_before = read_cr2();
	asm volatile(ASM_TRY("1f") "mov (%[p]), %[v]\n\t1:"
		     : [v] "=r"(v) : [p] "r"(0x0000800000000000ul) : "memory");
	report(ex_last.vector == GP_VECTOR && ex_last.error_code == 0 &&
	       read_cr2() == cr2_before,
	       "read at 0x0000800000000000 (not canonical): #GP(0), CR2 untouched");
	asm volatile(ASM_TRY("1f") "mov (%[p]), %[v]\n\t1:"
		     : [v] "=r"(v) : [p] "r"(0xffff7ffffffff000ul) : "memory");
	report(ex_last.vector == GP_VECTOR && ex_last.error_code == 0,
	       "read at 0xffff7ffffffff000 (not canonical): #GP(0)");
	asm volatile(ASM_TRY("1f") "mov (%[p]), %[v]\n\t1:"
		     : [v] "=r"(v) : [p] "r"(0xffff800000000000ul) : "memory");
	report(ex_last.vector == PF_VECTOR && ex_last.error_code == 0 &&
	       ex_last.cr2 == 0xffff800000000000ul,
	       "read at 0xffff800000000000 (canonical, unmapped): #PF 0x0, CR2");
	asm volatile(ASM_TRY("1f") "invlpg (%[p])\n\t1:"
		     : : [p] "r"(0x8000000000000000ul) : "memory");
	report(ex_last.vector == -1, "INVLPG of a non-canonical address is a no-op (no #GP)");
	(void)v;
}

static void test_invlpg_takes_effect(void)
{
	struct fault_info fi;

	reset_mapping();
	target[0][OFF_DATA] = 1;
	target[1][OFF_DATA] = 2;
	report(*(volatile u8 *)(TVA + OFF_DATA) == 1, "TVA reads page 0");
	*pte = (unsigned long)target[1] | P | RW | US;
	invlpg((void *)TVA);
	report(*(volatile u8 *)(TVA + OFF_DATA) == 2, "after PTE edit and INVLPG, TVA reads page 1");
	*pte &= ~P;
	invlpg((void *)TVA);
	access_caught(ACCESS_READ, TVA, false, &fi);
	report(fault_is_pf(&fi, 0, TVA + OFF_DATA), "after P=0 and INVLPG, TVA faults");
	*pte |= P;
	write_cr3(read_cr3());
	report(*(volatile u8 *)(TVA + OFF_DATA) == 2, "after P=1 and MOV CR3, TVA reads page 1 again");
	init_target();
	reset_mapping();
}

int main(int argc, char **argv)
{
	nx_supported = cpuid_checked(0x80000001, 0).d & (1u << 20);
	report_info("EFER.NX supported: %d, MAXPHYADDR %u", nx_supported,
		    cpuid_checked(0x80000008, 0).a & 0xff);
	setup();
	set_wp(true);
	set_nxe(nx_supported);

	report_prefix_push("4-level");
	test_accessed_dirty();
	test_not_present_levels();
	test_upper_level_rights();
	test_split_accesses();
	test_2m_page();
	test_1g_page();
	test_canonical();
	test_invlpg_takes_effect();
	test_matrix();
	report_prefix_pop();
	return report_summary();
}
