/*
 * la57: kvm-unit-tests' x86/la57.c, which its unittests.cfg runs in the
 * 32-bit build only (arch = i386): outside IA-32e mode, CR4.LA57 is an
 * ordinary CR4 bit, so setting it must succeed when CPUID.7.0:ECX[16]
 * advertises 5-level paging and raise #GP when it does not (a reserved
 * bit). (In IA-32e mode any change of LA57 is #GP, which is why the test
 * is not run in a 64-bit build; the feature guest guests/la57 covers that.)
 * The bit has no effect until paging is enabled in IA-32e mode, so it is
 * cleared again after the check.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/safe.h"

#define CPUID_7_ECX_LA57	(1u << 16)

int main(void)
{
	unsigned long cr4 = read_cr4();
	bool supported = cpuid_checked(7, 0).c & CPUID_7_ECX_LA57;
	int expected = supported ? -1 : GP_VECTOR;
	int vector = write_cr4_safe(cr4 | X86_CR4_LA57);

	if (vector != expected)
		report_info("MOV to CR4 with LA57: vector %d, expected %d", vector, expected);
	report(vector == expected, "%s when CR4.LA57 %ssupported",
	       supported ? "No fault" : "#GP", supported ? "" : "un");
	if (supported)
		report((read_cr4() & X86_CR4_LA57) != 0, "CR4.LA57 reads back as set");
	write_cr4(cr4);
	return report_summary();
}
