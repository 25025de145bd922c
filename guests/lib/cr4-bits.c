/*
 * CR4 bits and the CPUID flags that make them settable (SDM Vol. 3 2.5,
 * Vol. 2 MOV CR: "#GP(0) if an attempt is made to write a 1 to any
 * reserved bit in CR4"; a bit whose feature CPUID does not report is
 * reserved). Used by cr-rules and cr-rules-32. `safe`: the bit can be
 * set and cleared again without changing how the guest runs (SMEP and
 * SMAP would fault on the kernel's own user-accessible pages, LA57 and
 * PCIDE have rules of their own, CET needs more setup).
 */
#include "libcflat.h"
#include "x86/cr4-bits.h"
#include "x86/processor.h"
#include "x86/safe.h"

enum cpuid_reg { EAX_, EBX_, ECX_, EDX_ };

struct cr4_bit {
	const char *name;
	int bit;
	u32 leaf;
	enum cpuid_reg reg;
	int cpuid_bit;
	bool safe;
};

static const struct cr4_bit cr4_bits[] = {
	{ "VME", 0, 1, EDX_, 1, true },
	{ "PVI", 1, 1, EDX_, 1, true },
	{ "TSD", 2, 1, EDX_, 4, true },
	{ "DE", 3, 1, EDX_, 2, true },
	{ "PSE", 4, 1, EDX_, 3, true },
	{ "MCE", 6, 1, EDX_, 7, true },
	{ "PGE", 7, 1, EDX_, 13, true },
	{ "OSFXSR", 9, 1, EDX_, 24, true },
	{ "OSXMMEXCPT", 10, 1, EDX_, 25, true },
	{ "UMIP", 11, 7, ECX_, 2, true },
	{ "VMXE", 13, 1, ECX_, 5, true },
	{ "SMXE", 14, 1, ECX_, 6, false },
	{ "FSGSBASE", 16, 7, EBX_, 0, true },
	{ "OSXSAVE", 18, 1, ECX_, 26, true },
	{ "SMEP", 20, 7, EBX_, 7, false },
	{ "SMAP", 21, 7, EBX_, 20, false },
	{ "PKE", 22, 7, ECX_, 3, true },
	{ "CET", 23, 7, ECX_, 7, false },
	{ "PKS", 24, 7, ECX_, 31, false },
};

static bool cr4_bit_supported(const struct cr4_bit *b)
{
	struct cpuid c = b->leaf == 1 ? cpuid(1) : cpuid_checked(b->leaf, 0);
	u32 r = b->reg == EAX_ ? c.a : b->reg == EBX_ ? c.b : b->reg == ECX_ ? c.c : c.d;

	return r & (1u << b->cpuid_bit);
}

void report_cr4_feature_bits(void)
{
	for (unsigned i = 0; i < ARRAY_SIZE(cr4_bits); i++) {
		const struct cr4_bit *b = &cr4_bits[i];
		unsigned long cr4 = read_cr4(), bit = 1ul << b->bit;
		bool have = cr4_bit_supported(b), ok;

		if (cr4 & bit) {
			report_skip("CR4.%s (bit %d): already set", b->name, b->bit);
			continue;
		}
		if (have && !b->safe) {
			report_skip("CR4.%s (bit %d) settable iff CPUID reports it: not set here",
				    b->name, b->bit);
			continue;
		}
		if (have) {
			ok = write_cr4_safe(cr4 | bit) < 0 && (read_cr4() & bit);
			write_cr4(cr4);
		} else {
			ok = write_cr4_gp0(cr4, cr4 | bit);
		}
		report(ok, "CR4.%s (bit %d) settable iff CPUID reports it", b->name, b->bit);
	}
}
