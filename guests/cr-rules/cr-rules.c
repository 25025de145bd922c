/*
 * cr-rules: the #GP(0)/#UD conditions of MOV to CR0/CR3/CR4/CR8 and of
 * WRMSR/RDMSR (IA32_EFER and the canonical-address MSRs) in IA-32e mode,
 * from SDM Vol. 2 "MOV—Move to/from Control Registers" (64-bit and
 * compatibility mode exceptions), "WRMSR", Vol. 3 2.5 and 4.1.1:
 *   CR0: bits 63:32 reserved (#GP); NW=1 with CD=0, PG=1 with PE=0 (#GP);
 *        clearing PG in 64-bit mode (#GP); reserved bits in 31:0 are
 *        ignored (not stored), ET reads as 1;
 *   CR4: reserved bits and bits of features CPUID does not report (#GP);
 *        changing LA57 or clearing PAE in IA-32e mode (#GP), also from
 *        compatibility mode; PCIDE 0->1 with CR3[11:0] != 0 (#GP);
 *   CR3: bits 63:MAXPHYADDR (bit 63 when CR4.PCIDE=0) (#GP);
 *   CR8: bits 63:4 (#GP);
 *   CR1, CR5-CR7, CR9-CR15: #UD; MOV CR and RDMSR/WRMSR at CPL3: #GP(0);
 *   EFER: reserved bits, NXE/SCE without their CPUID flags, changing LME
 *        while paging is on (#GP);
 *   FS_BASE, GS_BASE, KERNEL_GS_BASE, LSTAR, SYSENTER_EIP/ESP: a
 *        non-canonical value (#GP).
 * Every check that needs a CPUID feature reads CPUID, so the same image
 * is run with a full and a minimal CPU model.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/vm.h"
#include "x86/cr4-bits.h"
#include "x86/safe.h"

#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

static unsigned maxphy;

static void test_cr0(void)
{
	unsigned long cr0 = read_cr0();

	report(write_cr0_gp0(cr0, cr0 | (1ul << 32)), "CR0 bit 32 set: #GP(0)");
	report(write_cr0_gp0(cr0, cr0 | (1ul << 63)), "CR0 bit 63 set: #GP(0)");
	report(write_cr0_gp0(cr0, cr0 | X86_CR0_NW), "CR0.NW=1 with CR0.CD=0: #GP(0)");
	report(write_cr0_gp0(cr0, cr0 & ~X86_CR0_PE), "CR0.PG=1 with CR0.PE=0: #GP(0)");
	report(write_cr0_safe(cr0 | X86_CR0_CD) < 0 && write_cr0_safe(cr0 | X86_CR0_CD | X86_CR0_NW) < 0 &&
	       (read_cr0() & (X86_CR0_CD | X86_CR0_NW)) == (X86_CR0_CD | X86_CR0_NW),
	       "CR0.CD=1, NW=1 accepted");
	write_cr0(cr0 | X86_CR0_CD);
	write_cr0(cr0);
	report(write_cr0_safe(cr0 & ~X86_CR0_ET) < 0 && (read_cr0() & X86_CR0_ET),
	       "CR0.ET cleared: no #GP, still reads 1");
	write_cr0(cr0);
	report(write_cr0_safe(cr0 | (1ul << 6) | (1ul << 15) | (1ul << 17) | (1ul << 28)) < 0 &&
	       read_cr0() == cr0,
	       "CR0 reserved bits 6, 15, 17, 28 set: ignored (no #GP, not stored)");
	write_cr0(cr0);
	report(write_cr0_safe(cr0 ^ X86_CR0_WP) < 0 && read_cr0() == (cr0 ^ X86_CR0_WP),
	       "CR0.WP toggles");
	write_cr0(cr0);
	asm volatile("lmsw %w0" : : "r"(0) : "memory");
	report(read_cr0() & X86_CR0_PE, "LMSW with PE=0 does not clear CR0.PE");
	write_cr0(cr0);
}

static void test_cr4_reserved(void)
{
	unsigned long cr4 = read_cr4();

	report(write_cr4_gp0(cr4, cr4 | (1ul << 32)), "CR4 bit 32 set: #GP(0)");
	report(write_cr4_gp0(cr4, cr4 | (1ul << 63)), "CR4 bit 63 set: #GP(0)");
	report(write_cr4_gp0(cr4, cr4 | (1ul << 15)), "CR4 bit 15 (reserved) set: #GP(0)");
	report(write_cr4_gp0(cr4, cr4 | (1ul << 31)), "CR4 bit 31 (reserved) set: #GP(0)");
	report_cr4_feature_bits();
}

static void test_cr4(void)
{
	unsigned long cr4 = read_cr4(), cr3 = read_cr3();
	bool have_pcid = cpuid(1).c & (1u << 17);

	write_cr3(cr3 | 0x008);	/* PWT: CR3[11:0] != 0 */
	report(write_cr4_gp0(cr4, cr4 | X86_CR4_PCIDE), "setting CR4.PCIDE with CR3[11:0] != 0: #GP(0)");
	write_cr3(cr3);
	if (have_pcid) {
		report(write_cr4_safe(cr4 | X86_CR4_PCIDE) < 0,
		       "setting CR4.PCIDE with CR3[11:0] = 0: allowed iff CPUID.1:ECX.PCID");
		write_cr4(cr4);
	} else {
		report(write_cr4_gp0(cr4, cr4 | X86_CR4_PCIDE),
		       "setting CR4.PCIDE with CR3[11:0] = 0: allowed iff CPUID.1:ECX.PCID");
	}
	report(write_cr4_gp0(cr4, cr4 ^ X86_CR4_LA57), "changing CR4.LA57 in IA-32e mode: #GP(0)");
	report(write_cr4_gp0(cr4, cr4 & ~X86_CR4_PAE), "clearing CR4.PAE in 64-bit mode: #GP(0)");
}

static void test_cr3(void)
{
	unsigned long cr3 = read_cr3();

	if (maxphy < 52)
		report(is_gp0(write_cr3_safe(cr3 | (1ul << maxphy))) && read_cr3() == cr3,
		       "CR3 bit MAXPHYADDR set: #GP(0)");
	else
		report_skip("CR3 bit MAXPHYADDR: MAXPHYADDR is 52");
	report(is_gp0(write_cr3_safe(cr3 | (1ul << 62))), "CR3 bit 62 set: #GP(0)");
	report(is_gp0(write_cr3_safe(cr3 | (1ul << 63))), "CR3 bit 63 set with CR4.PCIDE=0: #GP(0)");
	report(write_cr3_safe(cr3 | 0x18) < 0, "CR3 bits 4:3 (PWT, PCD) accepted");
	report(write_cr3_safe(cr3 | 0xfe7) < 0, "CR3 bits 11:5 and 2:0 (ignored with PCIDE=0) accepted");
	write_cr3(cr3);
}

static void test_cr8(void)
{
	unsigned long cr8 = read_cr8();

	report(write_cr8_safe(15) < 0 && read_cr8() == 15, "CR8 = 15 accepted, reads back");
	report(is_gp0(write_cr8_safe(16)) && read_cr8() == 15, "CR8 bit 4 set: #GP(0)");
	report(is_gp0(write_cr8_safe(1ul << 63)), "CR8 bit 63 set: #GP(0)");
	write_cr8(cr8);
}

static void test_other_crs(void)
{
	unsigned long v = 0;

	asm volatile(ASM_TRY("1f") "mov %%cr1, %0\n\t1:" : "+r"(v) : : "memory");
	report(exception_vector() == UD_VECTOR, "MOV from CR1: #UD");
	asm volatile(ASM_TRY("1f") "mov %0, %%cr5\n\t1:" : : "r"(v) : "memory");
	report(exception_vector() == UD_VECTOR, "MOV to CR5: #UD");
	asm volatile(ASM_TRY("1f") ".byte 0x44, 0x0f, 0x22, 0xc8\n\t1:" : : "a"(v) : "memory");
	report(exception_vector() == UD_VECTOR, "MOV to CR9 (REX.R): #UD");
	asm volatile(ASM_TRY("1f") ".byte 0x44, 0x0f, 0x20, 0xf8\n\t1:" : "=a"(v) : : "memory");
	report(exception_vector() == UD_VECTOR, "MOV from CR15: #UD");
}

static void user_mov_cr0(void *p)
{
	unsigned long v;

	asm volatile("mov %%cr0, %0" : "=r"(v));
}

static void user_mov_to_cr4(void *p)
{
	asm volatile("mov %0, %%cr4" : : "r"(0ul));
}

static void user_rdmsr(void *p)
{
	u32 a, d;

	asm volatile("rdmsr" : "=a"(a), "=d"(d) : "c"(MSR_EFER));
}

static void user_wrmsr(void *p)
{
	asm volatile("wrmsr" : : "c"(MSR_EFER), "a"(0), "d"(0));
}

static void test_cpl3(void)
{
	struct fault_info fi;

	run_in_user(user_mov_cr0, NULL, &fi);
	report(fi.vector == GP_VECTOR && fi.error_code == 0, "MOV from CR0 at CPL3: #GP(0)");
	run_in_user(user_mov_to_cr4, NULL, &fi);
	report(fi.vector == GP_VECTOR && fi.error_code == 0, "MOV to CR4 at CPL3: #GP(0)");
	run_in_user(user_rdmsr, NULL, &fi);
	report(fi.vector == GP_VECTOR && fi.error_code == 0, "RDMSR at CPL3: #GP(0)");
	run_in_user(user_wrmsr, NULL, &fi);
	report(fi.vector == GP_VECTOR && fi.error_code == 0, "WRMSR at CPL3: #GP(0)");
}

static void test_efer(void)
{
	u64 efer = rdmsr(MSR_EFER);
	struct cpuid e = cpuid_checked(0x80000001, 0);
	bool have_nx = e.d & (1u << 20), have_sc = e.d & (1u << 11);

	report((efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA), "EFER.LME and LMA set");
	report(is_gp0(wrmsr_safe(MSR_EFER, efer | (1ull << 1))) && rdmsr(MSR_EFER) == efer,
	       "EFER bit 1 (reserved): #GP(0)");
	report(is_gp0(wrmsr_safe(MSR_EFER, efer | (1ull << 9))), "EFER bit 9 (reserved): #GP(0)");
	report(is_gp0(wrmsr_safe(MSR_EFER, efer | (1ull << 32))), "EFER bit 32 (reserved): #GP(0)");
	report(is_gp0(wrmsr_safe(MSR_EFER, efer | (1ull << 63))), "EFER bit 63 (reserved): #GP(0)");
	report(is_gp0(wrmsr_safe(MSR_EFER, efer & ~EFER_LME)) && rdmsr(MSR_EFER) == efer,
	       "clearing EFER.LME with paging on: #GP(0)");
	report(wrmsr_safe(MSR_EFER, efer) < 0, "writing EFER unchanged (LME=1, paging on)");
	if (have_nx) {
		report(wrmsr_safe(MSR_EFER, efer ^ EFER_NX) < 0 &&
		       rdmsr(MSR_EFER) == (efer ^ EFER_NX), "EFER.NXE settable iff CPUID reports NX");
	} else {
		report(is_gp0(wrmsr_safe(MSR_EFER, efer | EFER_NX)),
		       "EFER.NXE settable iff CPUID reports NX");
	}
	wrmsr(MSR_EFER, efer);
	if (have_sc) {
		report(wrmsr_safe(MSR_EFER, efer ^ EFER_SCE) < 0 &&
		       rdmsr(MSR_EFER) == (efer ^ EFER_SCE),
		       "EFER.SCE settable iff CPUID reports SYSCALL");
	} else {
		report(is_gp0(wrmsr_safe(MSR_EFER, efer | EFER_SCE)),
		       "EFER.SCE settable iff CPUID reports SYSCALL");
	}
	wrmsr(MSR_EFER, efer);
}

static void test_canonical_msrs(void)
{
	static const struct { u32 msr; const char *name; } msrs[] = {
		{ MSR_FS_BASE, "FS_BASE" }, { MSR_GS_BASE, "GS_BASE" },
		{ MSR_KERNEL_GS_BASE, "KERNEL_GS_BASE" }, { MSR_LSTAR, "LSTAR" },
		{ MSR_SYSENTER_ESP, "SYSENTER_ESP" }, { MSR_SYSENTER_EIP, "SYSENTER_EIP" },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(msrs); i++) {
		u64 old = rdmsr(msrs[i].msr);

		/* Not canonical at 48 bits nor at 57: these MSRs are checked at the CPU's widest
		 * linear address (57 bits when CPUID reports LA57), whatever CR4.LA57 says. */
		report(is_gp0(wrmsr_safe(msrs[i].msr, 0x0100000000000000ull)) &&
		       rdmsr(msrs[i].msr) == old,
		       "WRMSR %s = 0x0100000000000000 (not canonical): #GP(0)", msrs[i].name);
		report(wrmsr_safe(msrs[i].msr, 0xffff800000001000ull) < 0 &&
		       rdmsr(msrs[i].msr) == 0xffff800000001000ull,
		       "WRMSR %s = 0xffff800000001000 (canonical) accepted", msrs[i].name);
		wrmsr(msrs[i].msr, old);
	}
}

/*
 * One MOV to CR4 with ECX in compatibility mode at CPL0 (the stack pointer
 * kept in RBX across the mode switches).
 */
static int compat_write_cr4(u32 value)
{
	asm volatile(
		"push %%rbx\n\t"
		"mov %%rsp, %%rbx\n\t"
		ASM_TRY_COMPAT("mov %%ecx, %%cr4")
		"mov %%rbx, %%rsp\n\t"
		"pop %%rbx\n\t"
		: : "c"(value) : "rax", "memory");
	return exception_vector();
}

static void test_compat_mode(void)
{
	unsigned long cr4 = read_cr4();

	report(is_gp0(compat_write_cr4((u32)cr4 & ~X86_CR4_PAE)) && read_cr4() == cr4,
	       "compatibility mode: clearing CR4.PAE: #GP(0)");
	report(is_gp0(compat_write_cr4((u32)cr4 ^ X86_CR4_LA57)) && read_cr4() == cr4,
	       "compatibility mode: changing CR4.LA57: #GP(0)");
	report(compat_write_cr4((u32)cr4) < 0, "compatibility mode: MOV to CR4 (unchanged) works");
}

int main(int argc, char **argv)
{
	maxphy = cpuid_checked(0x80000008, 0).a & 0xff;
	if (!maxphy)
		maxphy = 36;
	report_info("MAXPHYADDR %u; CPUID 1: ecx %#x edx %#x; 7.0: ebx %#x ecx %#x; 80000001: edx %#x",
		    maxphy, cpuid(1).c, cpuid(1).d, cpuid_checked(7, 0).b, cpuid_checked(7, 0).c,
		    cpuid_checked(0x80000001, 0).d);
	report_prefix_push("cr-rules");
	test_cr0();
	test_cr8();
	test_other_crs();
	test_efer();
	test_canonical_msrs();
	test_cpl3();
	test_cr4();
	test_compat_mode();
	/*
	 * Last, because emulators are known not to survive them: reserved CR3
	 * and CR4 bits (QEMU 7.2 TCG calls its SVM #VMEXIT path instead of
	 * raising #GP, outside any SVM guest, and loops there), then clearing
	 * CR0.PG in 64-bit mode (an emulator that allows it leaves long mode
	 * under our feet).
	 */
	test_cr3();
	test_cr4_reserved();
	report(is_gp0(write_cr0_safe(read_cr0() & ~X86_CR0_PG)) && (read_cr0() & X86_CR0_PG),
	       "clearing CR0.PG in 64-bit mode: #GP(0)");
	report_prefix_pop();
	return report_summary();
}
