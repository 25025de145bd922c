/*
 * pcid: the architectural rules of CR4.PCIDE and INVPCID that kvm-unit-tests'
 * x86/pcid.c checks, for the three CPUID combinations its unittests.cfg runs
 * (pcid-enabled: +pcid,+invpcid; pcid-disabled: -pcid,-invpcid;
 * pcid-asymmetric: -pcid,+invpcid). One verdict per half, like upstream:
 *
 * With PCID (CPUID.1:ECX[17]):
 *   - CR4.PCIDE can be set (in IA-32e mode, CR3[11:0] = 0);
 *   - with PCIDE=1, clearing CR0.PG is #GP;
 *   - setting PCIDE while CR3[11:0] != 0 is #GP.
 * Without it: setting CR4.PCIDE is #GP (a reserved bit).
 * With INVPCID (CPUID.7.0:EBX[10]):
 *   - with PCIDE=0, types 0-3 for PCID 0 run without a fault;
 *   - with PCIDE=0, types 0 and 1 for a PCID other than 0 are #GP;
 *   - with PCIDE=1 (only when PCID exists too), type 2 runs.
 * Without it: INVPCID is #UD.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/safe.h"

#define CPUID_1_ECX_PCID	(1u << 17)
#define CPUID_7_EBX_INVPCID	(1u << 10)

/* Returns NULL when every step behaved, else what did not. */
static const char *pcid_supported(void)
{
	unsigned long cr0 = read_cr0(), cr3 = read_cr3(), cr4 = read_cr4();
	const char *bad = NULL;

	if (write_cr4_safe(cr4 | X86_CR4_PCIDE) != -1)
		return "setting CR4.PCIDE faulted";
	if (write_cr0_safe(cr0 & ~X86_CR0_PG) != GP_VECTOR)
		bad = "clearing CR0.PG with CR4.PCIDE=1 was not #GP";
	write_cr4(cr4);
	if (bad)
		return bad;

	write_cr3(cr3 | 1);
	if (write_cr4_safe(cr4 | X86_CR4_PCIDE) != GP_VECTOR)
		bad = "setting CR4.PCIDE with CR3[11:0] = 1 was not #GP";
	write_cr4(cr4);
	write_cr3(cr3);
	return bad;
}

static const char *pcid_absent(void)
{
	unsigned long cr4 = read_cr4();

	if (write_cr4_safe(cr4 | X86_CR4_PCIDE) != GP_VECTOR) {
		write_cr4(cr4);
		return "setting CR4.PCIDE without PCID was not #GP";
	}
	return NULL;
}

static const char *invpcid_supported(bool have_pcid)
{
	unsigned long cr4 = read_cr4();
	const char *bad = NULL;

	for (unsigned long type = 0; type < 4; type++)
		if (invpcid_safe(type, 0, 0) != -1)
			return "INVPCID for PCID 0 with CR4.PCIDE=0 faulted";
	for (unsigned long type = 0; type < 2; type++)
		if (invpcid_safe(type, 1, 0) != GP_VECTOR)
			return "INVPCID type 0/1 for PCID 1 with CR4.PCIDE=0 was not #GP";
	if (!have_pcid)
		return NULL;

	if (write_cr4_safe(cr4 | X86_CR4_PCIDE) != -1)
		return "setting CR4.PCIDE faulted";
	if (invpcid_safe(2, 10, 0) != -1)
		bad = "INVPCID type 2 with CR4.PCIDE=1 faulted";
	write_cr4(cr4);
	return bad;
}

static const char *invpcid_absent(void)
{
	if (invpcid_safe(2, 0, 0) != UD_VECTOR)
		return "INVPCID without the feature was not #UD";
	return NULL;
}

static void verdict(const char *bad, const char *name)
{
	if (bad)
		report_info("%s", bad);
	report(bad == NULL, "%s", name);
}

int main(void)
{
	bool have_pcid = cpuid(1).c & CPUID_1_ECX_PCID;
	bool have_invpcid = cpuid_checked(7, 0).b & CPUID_7_EBX_INVPCID;

	report_info("CPUID: PCID %s, INVPCID %s", have_pcid ? "yes" : "no", have_invpcid ? "yes" : "no");
	if (have_pcid)
		verdict(pcid_supported(), "Test on PCID when enabled");
	else
		verdict(pcid_absent(), "Test on PCID when disabled");
	if (have_invpcid)
		verdict(invpcid_supported(have_pcid), "Test on INVPCID when enabled");
	else
		verdict(invpcid_absent(), "Test on INVPCID when disabled");
	return report_summary();
}
