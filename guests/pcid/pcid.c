/*
 * pcid: process-context identifiers and INVPCID (SDM Vol. 3 4.10.1,
 * 4.10.4.1; Vol. 2 MOV CR, INVPCID).
 *   - CR4.PCIDE can be set only in IA-32e mode with CR3[11:0] = 0 (#GP(0)
 *     otherwise); CR3[11:0] is then the current PCID; bit 63 of the value
 *     written to CR3 (NOFLUSH) is not stored;
 *   - MOV CR3 without NOFLUSH invalidates the non-global translations of
 *     the new PCID; with NOFLUSH it invalidates nothing; INVLPG invalidates
 *     the current PCID's translation (and global ones); clearing PCIDE
 *     invalidates everything;
 *   - INVPCID types 0 (address in a PCID), 1 (a PCID), 2 (all, global
 *     included), 3 (all but global), and its #GP(0) cases: type > 3 (the
 *     register operand is 64 bits in 64-bit mode), descriptor bits 63:12
 *     set, a non-canonical address for type 0, a nonzero PCID for types
 *     0/1 with CR4.PCIDE=0, CPL > 0; #UD without CPUID.7.0:EBX.INVPCID.
 * As in the global guest, "(retention)" marks checks that a translation is
 * still cached where the SDM says the operation does not invalidate it
 * (NOFLUSH, other PCIDs): what hardware and mmulab's TLB do, while the SDM
 * allows any entry to be dropped at any time. QEMU 7.2 TCG has no
 * PCID-tagged TLB (every CR3 write flushes it) and fails these lines.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/safe.h"
#include "x86/vm.h"

#define P	PT_PRESENT_MASK
#define RW	PT_WRITABLE_MASK
#define US	PT_USER_MASK
#define G	PT_GLOBAL_MASK
#define NOFLUSH	(1ul << 63)

#define TVA	0x0000123400000000ul

static u8 page_a[PAGE_SIZE] __aligned(PAGE_SIZE), page_b[PAGE_SIZE] __aligned(PAGE_SIZE);
static pteval_t *pte;
static unsigned long root;
static bool have_pcid, have_invpcid;

static volatile int rd_value;

static void rd_fn(void *va)
{
	rd_value = *(volatile u8 *)va;
}

static int rd(void)
{
	struct fault_info fi;

	if (catch_fault(rd_fn, (void *)TVA, &fi)) {
		report_info("  reading TVA: vector %d error code %#lx", fi.vector, fi.error_code);
		return -1;
	}
	return rd_value;
}

static void map(void *page, pteval_t flags)
{
	*pte = (unsigned long)page | P | RW | US | flags;
}

static void invpcid(unsigned long type, unsigned long pcid, unsigned long addr)
{
	int v = invpcid_safe(type, pcid, addr);

	if (v >= 0)
		report_info("  INVPCID type %lu: vector %d", type, v);
}

static void user_invpcid(void *unused)
{
	struct invpcid_desc d = { 0, 0 };

	asm volatile("invpcid %0, %1" : : "m"(d), "r"(2ul) : "memory");
}

/* Invalidate everything for TVA in every PCID, then map page A in PCID pcid. */
static void start(unsigned pcid, pteval_t flags)
{
	map(page_a, flags);
	if (have_invpcid)
		invpcid(2, 0, 0);
	else
		write_cr4(read_cr4() ^ X86_CR4_PGE), write_cr4(read_cr4() ^ X86_CR4_PGE);
	write_cr3(root | pcid);
}

static void test_enable(void)
{
	unsigned long cr4 = read_cr4();

	write_cr3(root | 1);
	report(is_gp0(write_cr4_safe(cr4 | X86_CR4_PCIDE)) && !(read_cr4() & X86_CR4_PCIDE),
	       "setting CR4.PCIDE with CR3[11:0] = 1: #GP(0)");
	write_cr3(root);
	report(write_cr4_safe(cr4 | X86_CR4_PCIDE) < 0 && (read_cr4() & X86_CR4_PCIDE),
	       "setting CR4.PCIDE with CR3[11:0] = 0 in IA-32e mode");
	write_cr3(root | 0x123);
	report(read_cr3() == (root | 0x123), "CR3[11:0] holds the PCID (0x123)");
	write_cr3(root | 0x45 | NOFLUSH);
	report(read_cr3() == (root | 0x45), "MOV CR3 with bit 63 (NOFLUSH): bit 63 is not stored");
	report(write_cr3_safe(root | (1ul << 62)) == GP_VECTOR,
	       "MOV CR3 with bit 62 set (reserved, PCIDE=1): #GP");
	write_cr3(root);
}

static void test_cr3_switches(void)
{
	start(1, 0);
	report(rd() == 0xa, "PCID 1 maps page A");
	map(page_b, 0);
	write_cr3(root | 2);
	report(rd() == 0xb, "switch to PCID 2 (flushing it): page B");
	write_cr3(root | 1 | NOFLUSH);
	report(rd() == 0xa, "back to PCID 1 with NOFLUSH: PCID 1's translation is kept (retention)");
	write_cr3(root | 1);
	report(rd() == 0xb, "MOV CR3 to PCID 1 without NOFLUSH invalidates PCID 1");

	map(page_a, 0);
	write_cr3(root | 1 | NOFLUSH);
	report(rd() == 0xb, "NOFLUSH to the current PCID keeps the translation (retention)");
	invlpg((void *)TVA);
	report(rd() == 0xa, "INVLPG invalidates the current PCID's translation");

	start(1, G);
	write_cr4(read_cr4() | X86_CR4_PGE);
	(void)rd();
	map(page_b, G);
	write_cr3(root | 2);
	report(rd() == 0xa, "global translation is shared by all PCIDs (retention)");
	write_cr3(root);
	write_cr4(read_cr4() & ~X86_CR4_PCIDE);
	report(rd() == 0xb, "clearing CR4.PCIDE invalidates everything, global included");
	write_cr4(read_cr4() & ~X86_CR4_PGE);
	write_cr4(read_cr4() | X86_CR4_PCIDE);
}

static void test_invpcid_types(void)
{
	/* Type 0: one address in one PCID, from another PCID. */
	start(1, 0);
	(void)rd();
	map(page_b, 0);
	write_cr3(root | 2);
	invpcid(0, 1, TVA);
	write_cr3(root | 1 | NOFLUSH);
	report(rd() == 0xb, "INVPCID type 0 (TVA, PCID 1) from PCID 2 invalidates PCID 1's entry");

	start(1, 0);
	(void)rd();
	map(page_b, 0);
	invpcid(0, 1, TVA + PAGE_SIZE);
	report(rd() == 0xa, "INVPCID type 0 for another address keeps TVA (retention)");
	invpcid(0, 2, TVA);
	report(rd() == 0xa, "INVPCID type 0 for another PCID keeps TVA (retention)");

	/* Type 1: a whole PCID. */
	start(1, 0);
	(void)rd();
	map(page_b, 0);
	write_cr3(root | 2);
	invpcid(1, 1, 0);
	write_cr3(root | 1 | NOFLUSH);
	report(rd() == 0xb, "INVPCID type 1 (PCID 1) from PCID 2 invalidates PCID 1");

	write_cr4(read_cr4() | X86_CR4_PGE);
	start(1, G);
	(void)rd();
	map(page_b, G);
	invpcid(1, 1, 0);
	report(rd() == 0xa, "INVPCID type 1 keeps global translations (retention)");
	invpcid(0, 1, TVA);
	report(rd() == 0xa, "INVPCID type 0 keeps global translations (retention)");
	invpcid(3, 0, 0);
	report(rd() == 0xa, "INVPCID type 3 keeps global translations (retention)");
	invpcid(2, 0, 0);
	report(rd() == 0xb, "INVPCID type 2 invalidates global translations");
	write_cr4(read_cr4() & ~X86_CR4_PGE);

	/* Type 3: all PCIDs, non-global. */
	start(1, 0);
	(void)rd();
	map(page_b, 0);
	write_cr3(root | 2 | NOFLUSH);
	invpcid(3, 0, 0);
	write_cr3(root | 1 | NOFLUSH);
	report(rd() == 0xb, "INVPCID type 3 invalidates other PCIDs' translations");
	write_cr3(root);
}

static void test_invpcid_faults(void)
{
	struct fault_info fi;
	unsigned long cr4 = read_cr4();

	report(is_gp0(invpcid_safe(4, 0, 0)), "INVPCID type 4: #GP(0)");
	report(is_gp0(invpcid_safe((1ul << 32) | 2, 0, 0)),
	       "INVPCID type 0x100000002 (register operand is 64-bit): #GP(0)");
	report(is_gp0(invpcid_safe(1, 0x1000, 0)), "INVPCID descriptor bit 12 set: #GP(0)");
	report(is_gp0(invpcid_safe(1, 1ul << 63, 0)), "INVPCID descriptor bit 63 set: #GP(0)");
	report(is_gp0(invpcid_safe(0, 1, 0x0100000000000000ul)), /* not canonical at 48 nor 57 bits */
	       "INVPCID type 0 with a non-canonical address: #GP(0)");
	report(invpcid_safe(1, 0, 0x0000800000000000ul) < 0,
	       "INVPCID type 1 ignores the address field");
	write_cr4(cr4 & ~X86_CR4_PCIDE);
	report(is_gp0(invpcid_safe(0, 1, TVA)), "CR4.PCIDE=0: INVPCID type 0 with PCID 1: #GP(0)");
	report(is_gp0(invpcid_safe(1, 1, 0)), "CR4.PCIDE=0: INVPCID type 1 with PCID 1: #GP(0)");
	report(invpcid_safe(1, 0, 0) < 0 && invpcid_safe(0, 0, TVA) < 0,
	       "CR4.PCIDE=0: INVPCID types 0 and 1 with PCID 0 are allowed");
	report(invpcid_safe(2, 0, 0) < 0 && invpcid_safe(3, 0, 0) < 0,
	       "CR4.PCIDE=0: INVPCID types 2 and 3 are allowed");
	write_cr4(cr4);
	run_in_user(user_invpcid, NULL, &fi);
	report(fi.vector == GP_VECTOR && fi.error_code == 0, "INVPCID at CPL3: #GP(0)");
}

int main(int argc, char **argv)
{
	have_pcid = cpuid(1).c & (1u << 17);
	have_invpcid = cpuid_checked(7, 0).b & (1u << 10);
	page_a[0] = 0xa;
	page_b[0] = 0xb;
	root = read_cr3() & PT_ADDR_MASK;
	pte = pt_entry(current_root(), 4, TVA, 1, P | RW | US);

	report_prefix_push("pcid");
	if (!have_invpcid) {
		int v = invpcid_safe(2, 0, 0);

		report(v == UD_VECTOR, "INVPCID without CPUID.7.0:EBX.INVPCID: #UD");
	} else {
		report_skip("INVPCID #UD: INVPCID supported");
	}
	if (!have_pcid) {
		report(is_gp0(write_cr4_safe(read_cr4() | X86_CR4_PCIDE)),
		       "CR4.PCIDE without CPUID.1:ECX.PCID: #GP(0)");
		report_prefix_pop();
		return report_summary();
	}
	test_enable();
	write_cr4(read_cr4() | X86_CR4_PCIDE);
	test_cr3_switches();
	if (have_invpcid) {
		test_invpcid_types();
		test_invpcid_faults();
	} else {
		report_skip("INVPCID: not supported");
	}
	write_cr3(root);
	write_cr4(read_cr4() & ~X86_CR4_PCIDE);
	report_prefix_pop();
	return report_summary();
}
