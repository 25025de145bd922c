/* CPUID probes for the instructions that only exist with a feature bit. */
#include "selftest.h"
#include "x86/processor.h"

bool has_bmi1(void)
{
	return cpuid_checked(7, 0).b & (1u << 3);
}

/* Without this bit, LZCNT silently executes as BSR: never run it then. */
bool has_lzcnt(void)
{
	return cpuid_checked(0x80000001, 0).c & (1u << 5);
}

bool has_popcnt(void)
{
	return cpuid_checked(1, 0).c & (1u << 23);
}

bool has_cx16(void)
{
	return cpuid_checked(1, 0).c & (1u << 13);
}

/* LAHF/SAHF are only valid in 64-bit mode with this bit. */
bool has_lahf_lm(void)
{
	return cpuid_checked(0x80000001, 0).c & (1u << 0);
}
