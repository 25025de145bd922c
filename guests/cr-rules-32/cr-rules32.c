/*
 * cr-rules-32: the #GP(0) conditions of MOV to CR0/CR3/CR4 and WRMSR EFER
 * outside IA-32e mode (32-bit protected mode, -m32 library, paging off at
 * entry), SDM Vol. 2 MOV CR / WRMSR protected-mode exceptions, Vol. 3 2.5,
 * 4.1.1 and 4.1.2:
 *   - CR4.PCIDE can only be set in IA-32e mode (#GP);
 *   - PG=1 with PE=0, NW=1 with CD=0 (#GP); reserved bits of CR0[31:0] are
 *     ignored;
 *   - setting PG with EFER.LME=1 and CR4.PAE=0 (#GP, IA-32e not entered);
 *   - changing EFER.LME while paging is on (#GP), allowed with paging off;
 *   - CR3: any 32-bit value (no reserved bits with 32-bit paging);
 *   - CR4 reserved bits and bits of features CPUID lacks (#GP), including
 *     LA57 (settable outside IA-32e mode only if supported); EFER
 *     NXE/SCE likewise.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/cr4-bits.h"
#include "x86/safe.h"

static u32 pd[1024] __aligned(4096);

/* Identity map with 4 MiB pages, so that paging turned on by mistake still works. */
static void prepare_32bit_paging(void)
{
	for (int i = 0; i < 1024; i++)
		pd[i] = (i << 22) | 0x87;	/* 4 MiB, P RW US PS */
	write_cr3((unsigned long)pd);
	write_cr4(read_cr4() | X86_CR4_PSE);
}

static void user_mov_cr0(void *p)
{
	unsigned long v;

	asm volatile("mov %%cr0, %0" : "=r"(v));
}

int main(int argc, char **argv)
{
	unsigned long cr0, cr4;
	u64 efer = rdmsr(MSR_EFER);
	struct cpuid e = cpuid_checked(0x80000001, 0);
	bool have_lm = e.d & (1u << 29), have_nx = e.d & (1u << 20), have_sc = e.d & (1u << 11);
	bool have_la57 = cpuid_checked(7, 0).c & (1u << 16);
	struct fault_info fi;

	prepare_32bit_paging();
	cr0 = read_cr0();
	cr4 = read_cr4();
	report_prefix_push("cr-rules-32");
	report(!(cr0 & X86_CR0_PG) && (cr0 & X86_CR0_PE) && !(efer & EFER_LMA),
	       "32-bit protected mode, paging off, EFER.LMA=0");

	/* CR0 */
	report(write_cr0_gp0(cr0, cr0 | X86_CR0_NW), "CR0.NW=1 with CR0.CD=0: #GP(0)");
	report(write_cr0_gp0(cr0, (cr0 | X86_CR0_PG) & ~X86_CR0_PE), "CR0.PG=1 with CR0.PE=0: #GP(0)");
	report(write_cr0_safe(cr0 | (1ul << 6) | (1ul << 15) | (1ul << 17) | (1ul << 28)) < 0 &&
	       read_cr0() == cr0, "CR0 reserved bits 6, 15, 17, 28: ignored (no #GP, not stored)");
	write_cr0(cr0);

	/* IA-32e activation rules. */
	if (have_lm) {
		report(wrmsr_safe(MSR_EFER, efer | EFER_LME) < 0 && (rdmsr(MSR_EFER) & EFER_LME),
		       "EFER.LME set with paging off");
		write_cr3((unsigned long)pd);
		report(write_cr0_gp0(cr0, cr0 | X86_CR0_PG) && !(rdmsr(MSR_EFER) & EFER_LMA),
		       "CR0.PG=1 with EFER.LME=1 and CR4.PAE=0: #GP(0), IA-32e not entered");
		report(wrmsr_safe(MSR_EFER, efer) < 0 && !(rdmsr(MSR_EFER) & EFER_LME),
		       "EFER.LME cleared with paging off");
	} else {
		report(is_gp0(wrmsr_safe(MSR_EFER, efer | EFER_LME)), "EFER.LME without long mode: #GP(0)");
		report_skip("CR0.PG with LME and no PAE: no long mode");
		report_skip("EFER.LME cleared: no long mode");
	}

	write_cr0(read_cr0() | X86_CR0_PG);
	report(read_cr0() & X86_CR0_PG, "32-bit paging on");
	if (have_lm)
		report(is_gp0(wrmsr_safe(MSR_EFER, efer | EFER_LME)) && rdmsr(MSR_EFER) == efer,
		       "setting EFER.LME with paging on: #GP(0)");
	else
		report_skip("EFER.LME with paging on: no long mode");
	report(write_cr3_safe((unsigned long)pd | 0xfe7) < 0 && write_cr3_safe((unsigned long)pd) < 0,
	       "CR3 low bits (PWT, PCD, ignored ones) accepted with 32-bit paging");
	report(write_cr4_gp0(read_cr4(), read_cr4() | X86_CR4_PCIDE),
	       "CR4.PCIDE outside IA-32e mode (paging on): #GP(0)");
	write_cr0(read_cr0() & ~X86_CR0_PG);
	report(write_cr4_gp0(read_cr4(), read_cr4() | X86_CR4_PCIDE),
	       "CR4.PCIDE outside IA-32e mode (paging off): #GP(0)");
	report(write_cr3_safe(0xfffff000) < 0, "CR3 = 0xfffff000 accepted with paging off");
	write_cr3((unsigned long)pd);
	write_cr4(cr4);

	/* EFER feature bits. */
	efer = rdmsr(MSR_EFER);
	if (have_nx)
		report(wrmsr_safe(MSR_EFER, efer | EFER_NX) < 0 && (rdmsr(MSR_EFER) & EFER_NX),
		       "EFER.NXE settable iff CPUID reports NX");
	else
		report(is_gp0(wrmsr_safe(MSR_EFER, efer | EFER_NX)), "EFER.NXE settable iff CPUID reports NX");
	wrmsr(MSR_EFER, efer);
	if (have_sc)
		report(wrmsr_safe(MSR_EFER, efer | EFER_SCE) < 0 && (rdmsr(MSR_EFER) & EFER_SCE),
		       "EFER.SCE settable iff CPUID reports SYSCALL");
	else
		report(is_gp0(wrmsr_safe(MSR_EFER, efer | EFER_SCE)),
		       "EFER.SCE settable iff CPUID reports SYSCALL");
	wrmsr(MSR_EFER, efer);
	report(is_gp0(wrmsr_safe(MSR_EFER, efer | (1ull << 1))) && rdmsr(MSR_EFER) == efer,
	       "EFER bit 1 (reserved): #GP(0)");
	report(is_gp0(wrmsr_safe(MSR_EFER, efer | (1ull << 63))), "EFER bit 63 (reserved): #GP(0)");
	wrmsr(MSR_EFER, efer);

	run_in_user(user_mov_cr0, NULL, &fi);
	report(fi.vector == GP_VECTOR && fi.error_code == 0, "MOV from CR0 at CPL3: #GP(0)");

	/* Last: QEMU 7.2 TCG loops in its SVM #VMEXIT path on reserved CR4 bits. */
	cr4 = read_cr4();
	if (have_la57) {
		report(write_cr4_safe(cr4 | X86_CR4_LA57) < 0 && (read_cr4() & X86_CR4_LA57),
		       "CR4.LA57 outside IA-32e mode: settable iff CPUID reports LA57");
		write_cr4(cr4);
	} else {
		report(write_cr4_gp0(cr4, cr4 | X86_CR4_LA57),
		       "CR4.LA57 outside IA-32e mode: settable iff CPUID reports LA57");
	}
	report(write_cr4_gp0(cr4, cr4 | (1ul << 15)), "CR4 bit 15 (reserved) set: #GP(0)");
	report(write_cr4_gp0(cr4, cr4 | (1ul << 31)), "CR4 bit 31 (reserved) set: #GP(0)");
	report_cr4_feature_bits();
	report_prefix_pop();
	return report_summary();
}
