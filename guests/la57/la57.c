/*
 * la57: 5-level paging (SDM Vol. 3 4.5, 2.5 CR4.LA57, Vol. 2 MOV CR).
 *   - CR4.LA57 cannot change in IA-32e mode (#GP(0)), from 4-level or
 *     5-level paging; it is set the way kvm-unit-tests'
 *     setup_5level_page_table() does: far return to a 32-bit code segment
 *     (compatibility mode), clear CR0.PG (leaves IA-32e mode), set
 *     CR4.LA57, load CR3 with a PML5 table, set CR0.PG, far jump to 64-bit
 *     code;
 *   - linear addresses are canonical at 57 bits: bits 63:57 copy bit 56
 *     (#GP(0), or #SS(0) for stack references, otherwise); an address
 *     using bits 56:48 is translated through the PML5 entry it selects;
 *   - PML5E: P, U/S, R/W, A like the other levels, bit 7 reserved;
 *     CR2 holds the full 57-bit address;
 *   - MSRs holding linear addresses accept 57-bit canonical values.
 * Without CPUID.7.0:ECX.LA57 only the #GP checks are made.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/access.h"
#include "x86/processor.h"
#include "x86/safe.h"
#include "x86/vm.h"

#define P	PT_PRESENT_MASK
#define RW	PT_WRITABLE_MASK
#define US	PT_USER_MASK
#define A	PT_ACCESSED_MASK
#define PS	PT_PAGE_SIZE_MASK

/* Bits 56:48 = 1: PML5 slot 1, not canonical with 4-level paging. */
#define TVA57	0x0001234500000000ul
#define OFF_DATA ACCESS_DATA_OFFSET

static u64 pml5[512] __aligned(PAGE_SIZE);
static u8 page_a[PAGE_SIZE] __aligned(PAGE_SIZE), page_b[PAGE_SIZE] __aligned(PAGE_SIZE);
static pteval_t *pte57;

static int try_read(unsigned long va)
{
	unsigned long v;

	asm volatile(ASM_TRY("1f") "mov (%1), %0\n\t1:" : "=r"(v) : "r"(va) : "memory");
	return exception_vector();
}

/* A memory reference with RBP as base register: SS is its segment. */
static int try_read_rbp(unsigned long va)
{
	asm volatile("mov %%rbp, %%r11\n\t"
		     "mov %0, %%rbp\n\t"
		     ASM_TRY("1f")
		     "mov (%%rbp), %%rax\n"
		     "1:\tmov %%r11, %%rbp"
		     : : "r"(va) : "rax", "r11", "memory");
	return exception_vector();
}

/*
 * Leave IA-32e mode from compatibility mode, load CR4 (set/clear bits) and
 * CR3, and re-enter it. Interrupts are off; nothing may fault in between.
 */
static void switch_paging(unsigned long cr3, unsigned long cr4_set, unsigned long cr4_clear)
{
	asm volatile("lea 1f(%%rip), %%rax\n\t"
		     "pushq $0x18\n\t"
		     "push %%rax\n\t"
		     "lretq\n\t"
		     ".code32\n"
		     "1:\tmov %%cr0, %%eax\n\t"
		     "and $0x7fffffff, %%eax\n\t"
		     "mov %%eax, %%cr0\n\t"
		     "mov %%cr4, %%eax\n\t"
		     "or %%esi, %%eax\n\t"
		     "and %%edx, %%eax\n\t"
		     "mov %%eax, %%cr4\n\t"
		     "mov %%edi, %%cr3\n\t"
		     "mov %%cr0, %%eax\n\t"
		     "or $0x80000000, %%eax\n\t"
		     "mov %%eax, %%cr0\n\t"
		     "ljmp $0x08, $2f\n\t"
		     ".code64\n"
		     "2:"
		     : : "D"(cr3), "S"(cr4_set), "d"(~cr4_clear) : "rax", "memory");
}

static void checks_in_4level(void)
{
	unsigned long cr4 = read_cr4();

	report(is_gp0(write_cr4_safe(cr4 | X86_CR4_LA57)) && !(read_cr4() & X86_CR4_LA57),
	       "4-level: setting CR4.LA57 in IA-32e mode: #GP(0)");
	report(is_gp0(try_read(TVA57)), "4-level: read at 0x0001234500000000 (not canonical at 48 bits): #GP(0)");
	report(try_read_rbp(0x0001234500000000ul) == SS_VECTOR && exception_error_code() == 0,
	       "4-level: (%%rbp) reference, not canonical: #SS(0)");
	/* MSR bases are checked at the CPU's widest linear address (SDM Vol. 3 4.1.1; KVM's
	 * is_noncanonical_msr_address), so with LA57 supported this 57-bit address is accepted
	 * even under 4-level paging. */
	report(wrmsr_safe(MSR_FS_BASE, TVA57) < 0 && rdmsr(MSR_FS_BASE) == TVA57,
	       "4-level: WRMSR FS_BASE = 0x0001234500000000 accepted (canonical at the CPU's 57 bits)");
	wrmsr(MSR_FS_BASE, 0);
}

static void checks_in_5level(void)
{
	struct fault_info fi;
	unsigned long cr4 = read_cr4(), cr2;

	report((cr4 & X86_CR4_LA57) && (rdmsr(MSR_EFER) & EFER_LMA) &&
	       (read_cr3() & PT_ADDR_MASK) == (unsigned long)pml5,
	       "5-level: CR4.LA57=1, EFER.LMA=1, CR3 = PML5 table");
	report(*(volatile u8 *)((unsigned long)page_a + OFF_DATA) == 0xa,
	       "5-level: the identity map (PML5 slot 0 -> the 4-level tables) works");
	pml5[1] &= ~A;
	invlpg((void *)TVA57);
	report(*(volatile u8 *)(TVA57 + OFF_DATA) == 0xa && (pml5[1] & A),
	       "5-level: 0x0001234500000000 (PML5 slot 1) maps page A, A set in the PML5E");
	*pte57 = (unsigned long)page_b | P | RW | US;
	invlpg((void *)TVA57);
	report(*(volatile u8 *)(TVA57 + OFF_DATA) == 0xb, "5-level: INVLPG of a 57-bit address");

	asm volatile(ASM_TRY("1f") "mov (%0), %%rax\n\t1:" : : "r"(0x00fffffffffff000ul) : "rax", "memory");
	cr2 = ex_last.cr2;
	report(ex_last.vector == PF_VECTOR && ex_last.error_code == 0 && cr2 == 0x00fffffffffff000ul,
	       "5-level: read at 0x00fffffffffff000 (canonical, unmapped): #PF 0x0, CR2 = full address");
	asm volatile(ASM_TRY("1f") "mov (%0), %%rax\n\t1:" : : "r"(0xff00000000000000ul) : "rax", "memory");
	report(ex_last.vector == PF_VECTOR && ex_last.cr2 == 0xff00000000000000ul,
	       "5-level: read at 0xff00000000000000 (canonical): #PF, not #GP");
	report(is_gp0(try_read(0x0100000000000000ul)),
	       "5-level: read at 0x0100000000000000 (bit 56 set, 63:57 clear): #GP(0)");
	report(is_gp0(try_read(0xfe00000000000000ul)),
	       "5-level: read at 0xfe00000000000000 (bit 56 clear, 63:57 set): #GP(0)");
	report(try_read_rbp(0x0100000000000000ul) == SS_VECTOR && exception_error_code() == 0,
	       "5-level: (%%rbp) reference, not canonical at 57 bits: #SS(0)");

	pml5[1] |= PS;
	invlpg((void *)TVA57);
	catch_fault(access_read, (void *)TVA57, &fi);
	report(fi.vector == PF_VECTOR && fi.error_code == (PFERR_PRESENT | PFERR_RSVD) &&
	       fi.cr2 == TVA57 + OFF_DATA, "5-level: PML5E bit 7 (PS) is reserved: #PF 0x9");
	pml5[1] &= ~PS;
	pml5[1] &= ~US;
	invlpg((void *)TVA57);
	run_in_user(access_read, (void *)TVA57, &fi);
	report(fi.vector == PF_VECTOR && fi.error_code == (PFERR_PRESENT | PFERR_USER) &&
	       fi.cr2 == TVA57 + OFF_DATA, "5-level: PML5E.US=0: CPL3 read #PF 0x5");
	pml5[1] |= US;
	pml5[1] &= ~P;
	invlpg((void *)TVA57);
	catch_fault(access_read, (void *)TVA57, &fi);
	report(fi.vector == PF_VECTOR && fi.error_code == 0, "5-level: PML5E.P=0: #PF 0x0");
	pml5[1] |= P;
	invlpg((void *)TVA57);
	run_in_user(access_read, (void *)TVA57, &fi);
	report(fi.vector < 0, "5-level: CPL3 read through PML5 slot 1");

	report(wrmsr_safe(MSR_FS_BASE, TVA57) < 0 && rdmsr(MSR_FS_BASE) == TVA57,
	       "5-level: WRMSR FS_BASE = 0x0001234500000000 (canonical at 57 bits) accepted");
	report(is_gp0(wrmsr_safe(MSR_FS_BASE, 0x0100000000000000ul)),
	       "5-level: WRMSR FS_BASE = 0x0100000000000000 (not canonical): #GP(0)");
	wrmsr(MSR_FS_BASE, 0);

	report(is_gp0(write_cr4_safe(cr4 & ~X86_CR4_LA57)) && (read_cr4() & X86_CR4_LA57),
	       "5-level: clearing CR4.LA57 in IA-32e mode: #GP(0)");
}

int main(int argc, char **argv)
{
	bool have_la57 = cpuid_checked(7, 0).c & (1u << 16);
	unsigned long root4 = read_cr3() & PT_ADDR_MASK;

	page_a[OFF_DATA] = 0xa;
	page_b[OFF_DATA] = 0xb;
	report_prefix_push("la57");
	checks_in_4level();
	if (!have_la57) {
		report_skip("5-level paging: CPUID.7.0:ECX.LA57 = 0");
		report_prefix_pop();
		return report_summary();
	}
	pml5[0] = root4 | P | RW | US;
	pte57 = pt_entry((pteval_t *)pml5, 5, TVA57, 1, P | RW | US);
	*pte57 = (unsigned long)page_a | P | RW | US;
	switch_paging((unsigned long)pml5, X86_CR4_LA57, 0);
	checks_in_5level();
	switch_paging(root4, 0, X86_CR4_LA57);
	report(!(read_cr4() & X86_CR4_LA57) && (rdmsr(MSR_EFER) & EFER_LMA) &&
	       is_gp0(try_read(TVA57)), "back to 4-level paging the same way");
	report_prefix_pop();
	return report_summary();
}
